"""The on-disk token cache: entry format, freshness policy, and safe storage.

One small file per (registry, identity) key, so that a hit reads one file and a refresh
locks one key: different registries refresh in parallel and concurrent ``get`` processes
for the same key make a single API call. The format is a few ``name value`` lines parsed
with string operations, because the hit path runs in a fresh process on every pull and
cannot afford ``json``. Files are 0600 in a 0700 directory that we own; a directory that
is a symlink, someone else's, or open to others is refused rather than trusted.

Writes go to a temporary file in the same directory, are fsynced, renamed over the entry
and the directory is fsynced: a reader sees the old entry or the new one, never a torn
one, whatever instant the writer is killed at. Anything that does not parse is a miss.
"""

from __future__ import annotations

import os
import stat

FORMAT = "ecrpy-token 1"
SUFFIX = ".token"
MAX_ENTRY_BYTES = 16 * 1024
# A backward clock step larger than this makes an entry's age unknowable: refresh it.
CLOCK_SKEW = 60.0
# Temporary files older than this were left by a killed writer.
STALE_TEMP_AGE = 300.0
# How often a process waiting for another's refresh looks at the lock again.
LOCK_POLL = 0.02
_FOREVER = float("inf")


class Entry:
    """A cached token: who it is for, the credentials, and when it was issued and ends."""

    __slots__ = ("expires_at", "host", "issued_at", "secret", "username")

    def __init__(
        self, host: str, username: str, secret: str, issued_at: float, expires_at: float
    ) -> None:
        self.host = host
        self.username = username
        self.secret = secret
        self.issued_at = issued_at
        self.expires_at = expires_at

    def __repr__(self) -> str:  # never the secret
        return (
            f"Entry(host={self.host!r}, issued_at={self.issued_at}, expires_at={self.expires_at})"
        )


def encode(entry: Entry) -> bytes:
    lines = (
        FORMAT,
        f"host {entry.host}",
        f"user {entry.username}",
        f"issued {entry.issued_at!r}",
        f"expires {entry.expires_at!r}",
        f"secret {entry.secret}",
    )
    return ("\n".join(lines) + "\n").encode()


def decode(data: bytes) -> Entry | None:
    """The entry in ``data``, or None for anything truncated, corrupt or foreign."""
    try:
        lines = data.decode().split("\n")
    except UnicodeDecodeError:
        return None
    if len(lines) != 7 or lines[0] != FORMAT or lines[6] != "":
        return None
    fields = {}
    for line in lines[1:6]:
        name, _, value = line.partition(" ")
        fields[name] = value
    try:
        entry = Entry(
            fields["host"],
            fields["user"],
            fields["secret"],
            float(fields["issued"]),
            float(fields["expires"]),
        )
    except (KeyError, ValueError):
        return None
    # Chained, so that NaN and infinities (which would never expire) fail too; and
    # printable, so that a file with NUL or control bytes in a field is not served.
    if not (0.0 < entry.issued_at < entry.expires_at < _FOREVER):
        return None
    if not (entry.host and entry.username and entry.secret):
        return None
    if not (entry.host + entry.username + entry.secret).isprintable():
        return None
    return entry


# -- policy: pure functions of an entry and the time --------------------------------------


def refresh_due(entry: Entry, now: float, window: float | None = None) -> bool:
    """Whether to fetch a new token before serving this one.

    Due once less than ``window`` seconds of validity remain (default: half the token's
    lifetime), so a long push never starts with a token about to expire; and due when
    the clock says the token was issued in the future, since its age is then unknown.
    """
    if now < entry.issued_at - CLOCK_SKEW:
        return True
    return now >= refresh_point(entry, window)


def refresh_point(entry: Entry, window: float | None = None) -> float:
    """The instant from which ``refresh_due`` holds (clock jumps aside)."""
    if window is None:
        window = (entry.expires_at - entry.issued_at) / 2
    return entry.expires_at - window


def usable_stale(entry: Entry, now: float, min_validity: float) -> bool:
    """Whether a token that is due for refresh may still be served when refreshing fails:
    only with at least ``min_validity`` seconds left, never expired."""
    left = entry.expires_at - now
    return now >= entry.issued_at - CLOCK_SKEW and left > 0 and left >= min_validity


# -- storage ---------------------------------------------------------------------------------


class KeyLock:
    """``with lock as held:``; ``held`` is False when the lock could not be had within
    the timeout (its holder hung), and the caller goes on without it rather than fail.
    A KeyLock without a descriptor (no cache) is always held.

    A plain ``flock`` on a lock file that is never deleted: the kernel releases it when
    its holder exits or is killed, and the standard library has it, where the
    ``filelock`` package costs every waiting process an import longer than a cache hit.
    """

    def __init__(self, fd: int | None, timeout: float) -> None:
        self._fd = fd
        self.timeout = timeout

    def __enter__(self) -> bool:
        if self._fd is None:
            return True
        import fcntl  # noqa: PLC0415 - only a refresh locks
        import time  # noqa: PLC0415

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(LOCK_POLL)
            except OSError:
                break
        self.__exit__()
        return False

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None


class UnsafeCacheDir(Exception):
    """The cache directory cannot be trusted with tokens; the message says why."""


class TokenCache:
    """Token files in one directory, checked for safety before any use."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._checked = False

    # reading: the hit path ------------------------------------------------------------
    def read(self, key: str) -> Entry | None:
        if not self._check(create=False):
            return None
        try:
            # O_NONBLOCK: a FIFO planted in place of the entry must not hang the read.
            fd = os.open(
                self._path(key), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            )
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not _private_to_us(info) or not stat.S_ISREG(info.st_mode):
                return None
            return decode(os.read(fd, MAX_ENTRY_BYTES + 1))
        finally:
            os.close(fd)

    def entries(self) -> list[Entry]:
        if not self._check(create=False):
            return []
        found = []
        for name in sorted(os.listdir(self.directory)):
            if name.endswith(SUFFIX) and not name.startswith("."):
                entry = self.read(name.removesuffix(SUFFIX))
                if entry is not None:
                    found.append(entry)
        return found

    # writing: the miss path -----------------------------------------------------------
    def lock(self, key: str, timeout: float) -> KeyLock:
        """An exclusive lock on one key, released by the kernel if its holder dies.
        The lock file is opened here, so that a directory we cannot write to is reported
        as cache trouble (and the cache dropped) rather than as a lock held by another."""
        self._check(create=True)
        path = os.path.join(self.directory, key + ".lock")
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        return KeyLock(os.open(path, flags, 0o600), timeout)

    def write(self, key: str, entry: Entry) -> None:
        """Replace the entry atomically and durably."""
        from . import atomic  # noqa: PLC0415 - only a refresh writes

        self._check(create=True)
        try:
            atomic.replace(self._path(key), encode(entry))
        except IsADirectoryError:
            # Something put a directory where the entry goes; the directory it is in is
            # ours and private, so clear it out rather than give up the cache.
            import shutil  # noqa: PLC0415

            shutil.rmtree(self._path(key), ignore_errors=True)
            atomic.replace(self._path(key), encode(entry))

    def remove_host(self, host: str) -> int:
        """Drop every entry for ``host`` (whatever identity fetched it); how many."""
        removed = 0
        if not self._check(create=False):
            return removed
        for name in os.listdir(self.directory):
            if name.endswith(SUFFIX) and not name.startswith("."):
                entry = self.read(name.removesuffix(SUFFIX))
                if entry is not None and entry.host == host:
                    os.unlink(os.path.join(self.directory, name))
                    removed += 1
        if removed:
            from .atomic import sync_directory  # noqa: PLC0415

            sync_directory(self.directory)
        return removed

    def prune(self, now: float) -> None:
        """Remove expired entries, unreadable ones and temporary files of killed writers."""
        if not self._check(create=False):
            return
        for name in os.listdir(self.directory):
            path = os.path.join(self.directory, name)
            try:
                if name.startswith(".") and name.endswith(".tmp"):
                    if now - os.lstat(path).st_mtime > STALE_TEMP_AGE:
                        os.unlink(path)
                elif name.endswith(SUFFIX):
                    entry = self.read(name.removesuffix(SUFFIX))
                    if entry is None or entry.expires_at <= now:
                        os.unlink(path)
            except OSError:
                continue  # pruned by another process first, or not ours to remove

    # safety -------------------------------------------------------------------------------
    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key + SUFFIX)

    def _check(self, create: bool) -> bool:
        """True when the directory exists and is safe; raise UnsafeCacheDir if it is not."""
        if self._checked:
            return True
        try:
            info = os.lstat(self.directory)
        except FileNotFoundError:
            if not create:
                return False
            _make_private_dir(self.directory)
            info = os.lstat(self.directory)
        except OSError as err:
            raise UnsafeCacheDir(
                f"cannot read cache directory {self.directory}: {err.strerror}"
            ) from None
        if stat.S_ISLNK(info.st_mode):
            raise UnsafeCacheDir(f"cache directory {self.directory} is a symlink")
        if not stat.S_ISDIR(info.st_mode):
            raise UnsafeCacheDir(f"cache path {self.directory} is not a directory")
        if info.st_uid != os.geteuid():
            raise UnsafeCacheDir(f"cache directory {self.directory} is owned by uid {info.st_uid}")
        if info.st_mode & 0o077:
            raise UnsafeCacheDir(
                f"cache directory {self.directory} is open to other users "
                f"(mode {stat.S_IMODE(info.st_mode):04o}; it must be 0700)"
            )
        self._checked = True
        return True


def _private_to_us(info: os.stat_result) -> bool:
    return info.st_uid == os.geteuid() and not info.st_mode & 0o077


def _make_private_dir(path: str) -> None:
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        return  # made by a concurrent process; _check inspects it next
    except OSError as err:
        raise UnsafeCacheDir(f"cannot create cache directory {path}: {err.strerror}") from None
