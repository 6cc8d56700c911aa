"""How this project reads and writes files: reads that cannot stall, writes that cannot tear.

Reading: every file the helper reads (the AWS config and credentials files, our
configuration file and its compiled copy, cache entries, Docker's ``config.json``) may be
something other than a small regular file: a FIFO that nobody writes (an ``open`` would
block forever, and the hit path with it), a device, a directory, or a file of gigabytes.
``read_regular`` opens without blocking, looks at what it opened, and reads only a
regular file of bounded size; anything else is an ``OddFile`` naming what it is, for the
caller to warn about or refuse.

Writing: the data goes to a temporary file in the target's own directory (so the rename
cannot cross file systems), is fsynced, renamed over the target, and then the directory
is fsynced so that the rename itself survives a crash. A reader sees the old file or the
new one, never a torn one; a writer killed at any instant leaves at worst a temporary
file named ``.<name>.<pid>.<random>.tmp``, which its owner's clean-up removes later.

Locks: an exclusive ``flock`` taken within a deadline, and the check that the file locked
is still the one at its path (renamed or unlinked meanwhile, it no longer stands for it):
``KeyLock`` for the cache's refresh locks and the edits of Docker's ``config.json``, the
``flock`` alone for the activity log's rotation.

Private directories: what holds tokens (the cache) or says what the helper did (the
activity log) lives in a directory that is ours and closed to others, created so whatever
the umask; one that is a symlink, someone else's, or open to others is refused, since
whoever can write to it could swap our files out.

This module, and every other one a cache hit runs, calls the ``posix`` module rather than
``os`` (which re-exports the very same functions, but costs an import: see the package
docstring), tests a file's type by its bits rather than with ``stat``, and joins paths
with ``join``.
"""

from __future__ import annotations

import posix
import time

TEMP_SUFFIX = ".tmp"
# The lock file beside what it guards: a cache key's, Docker's config.json.
LOCK_SUFFIX = ".lock"
# Temporary files older than this were left by a killed writer.
STALE_TEMP_AGE = 300.0
# How often a process waiting for a KeyLock (another's refresh, say) looks at it again:
# often enough to follow at once, seldom enough that 64 waiters cost next to no CPU.
LOCK_POLL = 0.05
# The type bits of st_mode (S_IFMT) and their values, as the stat module has them
# (tests/unit/test_files.py holds the two to the same values).
TYPE_BITS = 0o170000
REGULAR, DIRECTORY, SYMLINK = 0o100000, 0o040000, 0o120000
_KINDS = {
    REGULAR: "a regular file",
    DIRECTORY: "a directory",
    0o010000: "a FIFO",
    0o020000: "a character device",
    0o060000: "a block device",
    0o140000: "a socket",
}


class OddFile(Exception):
    """The path names something that is not a regular file of reasonable size, or (when
    privacy was asked for) one that others could have written; the message says which."""


class TooLarge(OddFile):
    """A regular file larger than the reader's limit; ``info`` is its ``fstat``, for a
    caller that can make do with the file's identity instead of its contents."""

    def __init__(self, message: str, info: posix.stat_result) -> None:
        super().__init__(message)
        self.info = info


def read_regular(
    path: str, limit: int, *, follow_symlinks: bool = True, private: bool = False
) -> bytes:
    """The whole contents of the regular file at ``path``, at most ``limit`` bytes.

    Raises FileNotFoundError when there is no file, another OSError when it cannot be
    opened or read, and OddFile when it is not a regular file, is larger than ``limit``,
    or (with ``private``) is not ours alone (owned by us, no group or other bits).
    """
    flags = posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC
    if not follow_symlinks:
        flags |= posix.O_NOFOLLOW
    fd = posix.open(path, flags)  # O_NONBLOCK: opening a FIFO returns at once
    try:
        info = posix.fstat(fd)
        if info.st_mode & TYPE_BITS != REGULAR:
            raise OddFile(f"{path} is {describe(info.st_mode)}, not a regular file")
        if private and not ours_alone(info):
            raise OddFile(f"{path} is not private to this user")
        if info.st_size > limit:
            raise TooLarge(f"{path} is larger than {_size(limit)}", info)
        chunks = []
        size = 0
        while size <= limit:
            chunk = posix.read(fd, max(limit + 1 - size, 1))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while we read
            raise TooLarge(f"{path} is larger than {_size(limit)}", posix.fstat(fd))
        return b"".join(chunks)
    finally:
        posix.close(fd)


def ours_alone(info: posix.stat_result) -> bool:
    """Whether the file whose stat is ``info`` is private: owned by us, with no group or
    other bits. The rule for every private file we read or append to."""
    return info.st_uid == posix.geteuid() and not info.st_mode & 0o077


def join(directory: str, name: str) -> str:
    """``os.path.join(directory, name)`` for a ``name`` without a slash."""
    return directory + name if not directory or directory.endswith("/") else f"{directory}/{name}"


def describe(mode: int) -> str:
    """What kind of file ``mode`` says it is, for a message."""
    return _KINDS.get(mode & TYPE_BITS, "an unusual file")


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"


def replace(
    target: str, data: bytes, mode: int = 0o600, owner: tuple[int, int] | None = None
) -> None:
    """Make ``target`` hold exactly ``data``, with ``mode`` (whatever the umask) and,
    when given, ``owner`` (uid, gid)."""
    directory, slash, name = target.rpartition("/")
    directory = directory or slash or "."
    temp = join(directory, f".{name}.{posix.getpid()}.{posix.urandom(4).hex()}{TEMP_SUFFIX}")
    flags = posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_NOFOLLOW | posix.O_CLOEXEC
    fd = posix.open(temp, flags, mode)
    try:
        try:
            if owner is not None:
                posix.fchown(fd, *owner)
            posix.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[posix.write(fd, view) :]
            posix.fsync(fd)
        finally:
            posix.close(fd)
        posix.rename(temp, target)
    except BaseException:
        posix.unlink(temp)
        raise
    sync_directory(directory)


def is_temp(name: str, targets: tuple[str, ...] | None = None) -> bool:
    """Whether ``name`` is one of ``replace``'s temporary files: for a target named one
    of ``targets``, or (None) for any."""
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return False
    return targets is None or name.startswith(tuple(f".{target}." for target in targets))


def remove_stale_temp(path: str, now: float) -> None:
    """Unlink the temporary file at ``path`` if it is older than a write could take (its
    writer was killed); an OSError when it is gone or not ours to remove."""
    if now - posix.lstat(path).st_mtime > STALE_TEMP_AGE:
        posix.unlink(path)


def lock(fd: int, deadline: float | None, poll: float) -> bool:
    """Take an exclusive ``flock`` on ``fd``, trying every ``poll`` seconds until the
    monotonic ``deadline`` (None: once); whether it was had."""
    import fcntl  # noqa: PLC0415 - only a refresh or a rotation locks

    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if deadline is None or time.monotonic() >= deadline:
                return False
            time.sleep(poll)
            continue
        return True


def still_linked(path: str, fd: int) -> bool:
    """Whether the file open as ``fd`` is still the one at ``path``."""
    try:
        now = posix.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = posix.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


class KeyLock:
    """The exclusive lock of one thing (a cache key's refresh, an edit of Docker's
    ``config.json``): a ``flock`` on a lock file beside it, released by the kernel when
    every process holding it has exited or been killed. A KeyLock without a path (no
    cache) is always granted.

    ``flock`` is in the standard library, where the ``filelock`` package costs a waiting
    process an import longer than a cache hit. The lock follows the open file, so a child
    forked by the holder (the background refresher, the AWS worker) holds it too.
    """

    def __init__(self, path: str | None, fd: int | None = None) -> None:
        self.path = path
        self.fd = fd

    def acquire(self, deadline: float | None = None) -> bool:
        """Take the lock, waiting until the monotonic ``deadline`` (None: not at all);
        False when it could not be had by then."""
        if self.path is None:
            return True
        while True:
            if self.fd is None:
                self.fd = open_lock_file(self.path)
            if not lock(self.fd, deadline, LOCK_POLL):
                return False
            if still_linked(self.path, self.fd):
                return True
            # Unlinked (a prune) between our open and our flock: the lock that counts is
            # the one on the file now at the path.
            self.release()

    def release(self) -> None:
        """Close our descriptor: the lock ends when no process holds one any more."""
        if self.fd is not None:
            posix.close(self.fd)
            self.fd = None

    def __enter__(self) -> KeyLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def open_lock_file(path: str) -> int:
    """The lock file at ``path``, made 0600 if absent, never through a symlink."""
    return posix.open(
        path, posix.O_RDWR | posix.O_CREAT | posix.O_NOFOLLOW | posix.O_CLOEXEC, 0o600
    )


def sync_directory(directory: str) -> None:
    """Make renames and unlinks in ``directory`` durable."""
    fd = posix.open(directory, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
    try:
        posix.fsync(fd)
    finally:
        posix.close(fd)


class UnsafeDirectory(Exception):
    """A directory that cannot be trusted with private files; the message says why."""


def private_directory(path: str, what: str, *, create: bool) -> bool:
    """Whether ``path`` is a directory of ours, closed to others (``create``: made so,
    with its missing parents, when absent); False when it is absent and not to be made.
    UnsafeDirectory otherwise, its message naming the directory as ``what`` ("cache")."""
    try:
        info = posix.lstat(path)
    except FileNotFoundError:
        if not create:
            return False
        try:
            make_private_dirs(path)
        except OSError as err:
            raise UnsafeDirectory(
                f"cannot create {what} directory {path}: {err.strerror}"
            ) from None
        info = posix.lstat(path)
    except OSError as err:
        raise UnsafeDirectory(f"cannot read {what} directory {path}: {err.strerror}") from None
    if info.st_mode & TYPE_BITS == SYMLINK:
        raise UnsafeDirectory(f"{what} directory {path} is a symlink")
    if info.st_mode & TYPE_BITS != DIRECTORY:
        raise UnsafeDirectory(f"{what} path {path} is not a directory")
    if info.st_uid != posix.geteuid():
        raise UnsafeDirectory(f"{what} directory {path} is owned by uid {info.st_uid}")
    if info.st_mode & 0o077:
        raise UnsafeDirectory(
            f"{what} directory {path} is open to other users "
            f"(mode {info.st_mode & 0o7777:04o}; it must be 0700)"
        )
    return True


def make_private_dirs(path: str, made: list[str] | None = None) -> None:
    """Create ``path`` and any missing parents 0700, whatever the umask: a parent such as
    ``~/.cache`` or ``~/.docker`` made world-writable (``os.makedirs`` gives parents the
    umask's mode, 0777 under umask 000) would let others swap our files out. Directories
    that exist are left as they are; each one made is appended to ``made``. The one way
    this project creates directories. OSError when one cannot be made (its ``filename``
    says which)."""
    import os  # noqa: PLC0415 - only a miss or an edit creates directories

    for directory in reversed(_missing(path)):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue  # made by a concurrent process; the caller inspects it next
        if made is not None:
            made.append(directory)
        os.chmod(directory, 0o700)  # the umask may have taken bits away


def unwritable(path: str) -> str | None:
    """Why we could not make the directory ``path`` (``make_private_dirs``) or create
    files in it, or None when we could; for ``doctor``, which must leave nothing behind.
    A missing directory is made and removed again, because only the attempt can tell (a
    parent that is a file, permissions, a read-only or virtual file system)."""
    import contextlib  # noqa: PLC0415 - doctor only
    import os  # noqa: PLC0415

    if not _missing(path):
        return None if os.access(path, os.W_OK | os.X_OK) else f"{path} is not writable by us"
    made: list[str] = []
    try:
        make_private_dirs(path, made)
    except OSError as err:
        return f"cannot create {err.filename}: {err.strerror}"
    finally:
        for directory in reversed(made):
            with contextlib.suppress(OSError):  # a get may be using it already
                os.rmdir(directory)
    return None


def _missing(path: str) -> list[str]:
    """The directories of ``path`` that do not exist, deepest first."""
    import os  # noqa: PLC0415 - see make_private_dirs

    missing = []
    here = os.path.abspath(path)
    while not os.path.lexists(here):
        missing.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    return missing
