"""The on-disk token cache: entries, failure records and refresh locks, stored safely.

One small file per key, the token's scope (service, region, partition, endpoint flags:
see ``Registry.scope``) and the configured identity, so that a hit reads one file and a
refresh locks one key: different regions refresh in parallel, and concurrent ``get``
processes for the same key make a single API call. Beside a key's token (``<key>.token``) may lie
the record of its last failed refresh (``<key>.failure``), which every process on the
host reads before calling AWS, so that a failure is seen once and then backed off rather
than repeated by every pull; and its lock file (``<key>.lock``), which is what makes one
process the refresher.

The formats are a few ``name value`` lines parsed with string operations (no ``json``:
see the package docstring). Files are 0600 in a 0700 directory that we own; a directory
that is a symlink, someone else's, or open to others is refused rather than trusted, and
a file in it that is not a private regular file of ours is not read. Writes are atomic
(``files.replace``). Anything that does not parse is treated as absent.
"""

from __future__ import annotations

import posix  # not os: see files
import time

from . import errors, files, keys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol, TextIO, TypeVar, TypeVarTuple

    from .activity import Recorder

    _T = TypeVar("_T")
    _Args = TypeVarTuple("_Args")

    class Cache(Protocol):
        """What a get needs of a cache, which ``TokenCache``, ``NoCache`` and
        ``Forgiving`` all are. A type for the checker only: ``typing`` costs a hit more
        than its work."""

        def read(self, key: str) -> Entry | None: ...
        def read_failure(self, key: str) -> Failure | None: ...
        def write(self, key: str, entry: Entry) -> None: ...
        def record_failure(self, key: str, failure: Failure) -> None: ...
        def entries(self) -> list[Entry]: ...
        def failures(self) -> list[Failure]: ...
        def remove_scope(self, scope: str) -> int: ...
        def prune(self, now: float) -> None: ...
        def lock(self, key: str) -> files.KeyLock: ...


# 3: with the identity line; files of an older format read as absent (one fetch).
FORMAT = "ecrpy-token 3"
FAILURE_FORMAT = "ecrpy-failure 3"
SUFFIX = ".token"
FAILURE_SUFFIX = ".failure"
LOCK_SUFFIX = files.LOCK_SUFFIX
MAX_ENTRY_BYTES = 16 * 1024
# Failure records whose backoff ended this long ago, and lock files this old with no
# token or failure beside them, belong to identities no longer in use.
STALE_RECORD_AGE = 86400.0
_FOREVER = float("inf")


class Entry:
    """A cached token: what it is good for (``scope``), the registry host it was first
    fetched for, the credentials, when it was issued and ends, and whose it is: the
    identity's ``fingerprint``, in its short form (``keys.short``; the file's ``identity``
    line), so that people can tell the
    tokens of two identities apart without any part of the identity being kept."""

    __slots__ = ("expires_at", "fingerprint", "host", "issued_at", "scope", "secret", "username")

    def __init__(
        self,
        scope: str,
        host: str,
        username: str,
        secret: str,
        issued_at: float,
        expires_at: float,
        fingerprint: str,
    ) -> None:
        self.scope = scope
        self.host = host
        self.username = username
        self.secret = secret
        self.issued_at = issued_at
        self.expires_at = expires_at
        self.fingerprint = fingerprint

    def __repr__(self) -> str:  # never the secret
        return (
            f"Entry(scope={self.scope!r}, host={self.host!r}, fingerprint={self.fingerprint!r}, "
            f"issued_at={self.issued_at}, expires_at={self.expires_at})"
        )


class Failure:
    """The last failed refresh of a key: what went wrong (an ``errors`` class name and
    its one-line message, which never holds a secret), when, how many failures in a row,
    the earliest time anyone on the host may call AWS for the key again, and the
    ``fingerprint`` (short form) of the identity it failed for."""

    __slots__ = (
        "count",
        "failed_at",
        "fingerprint",
        "host",
        "kind",
        "message",
        "retry_at",
        "scope",
    )

    def __init__(
        self,
        scope: str,
        host: str,
        kind: str,
        message: str,
        failed_at: float,
        retry_at: float,
        count: int,
        fingerprint: str,
    ) -> None:
        self.scope = scope
        self.host = host
        self.kind = kind
        self.message = message
        self.failed_at = failed_at
        self.retry_at = retry_at
        self.count = count
        self.fingerprint = fingerprint

    def __repr__(self) -> str:
        return (
            f"Failure(scope={self.scope!r}, host={self.host!r}, fingerprint={self.fingerprint!r}, "
            f"kind={self.kind!r}, failed_at={self.failed_at}, "
            f"retry_at={self.retry_at}, count={self.count})"
        )


def encode(entry: Entry) -> bytes:
    return _lines(
        FORMAT,
        scope=entry.scope,
        host=entry.host,
        identity=entry.fingerprint,
        user=entry.username,
        issued=repr(entry.issued_at),
        expires=repr(entry.expires_at),
        secret=entry.secret,
    )


def decode(data: bytes) -> Entry | None:
    """The entry in ``data``, or None for anything truncated, corrupt or foreign."""
    names = ("scope", "host", "identity", "user", "issued", "expires", "secret")
    fields = _fields(data, FORMAT, names)
    if fields is None or not keys.is_short(fields["identity"]):
        return None
    try:
        entry = Entry(
            fields["scope"],
            fields["host"],
            fields["user"],
            fields["secret"],
            float(fields["issued"]),
            float(fields["expires"]),
            fields["identity"],
        )
    except ValueError:
        return None
    # Chained, so that NaN and infinities (which would never expire) fail too.
    if not (0.0 < entry.issued_at < entry.expires_at < _FOREVER):
        return None
    if not (entry.scope and entry.host and entry.username and entry.secret):
        return None
    return entry


def encode_failure(failure: Failure) -> bytes:
    return _lines(
        FAILURE_FORMAT,
        scope=failure.scope,
        host=failure.host,
        identity=failure.fingerprint,
        kind=failure.kind,
        failed=repr(failure.failed_at),
        retry=repr(failure.retry_at),
        count=str(failure.count),
        message=_message(failure.message),
    )


def decode_failure(data: bytes) -> Failure | None:
    names = ("scope", "host", "identity", "kind", "failed", "retry", "count", "message")
    fields = _fields(data, FAILURE_FORMAT, names)
    if fields is None or not keys.is_short(fields["identity"]):
        return None
    try:
        failure = Failure(
            fields["scope"],
            fields["host"],
            fields["kind"],
            fields["message"],
            float(fields["failed"]),
            float(fields["retry"]),
            int(fields["count"]),
            fields["identity"],
        )
    except ValueError:
        return None
    if not (0.0 < failure.failed_at <= failure.retry_at < _FOREVER and failure.count > 0):
        return None
    if not (failure.scope and failure.host and failure.kind.isidentifier()):
        return None
    if failure.message != _message(failure.message):
        return None
    return failure


def _message(text: str) -> str:
    """A failure's message as its record holds it: what the writer writes, and the only
    form the reader accepts, so that whatever is written reads back (a record refused on
    reading would count as absent, and the backoff would be off)."""
    return errors.one_line(text) or errors.NO_REASON


def _lines(header: str, **fields: str) -> bytes:
    return (
        "\n".join([header, *(f"{name} {value}" for name, value in fields.items())]) + "\n"
    ).encode()


def _fields(data: bytes, header: str, names: tuple[str, ...]) -> dict[str, str] | None:
    """``name value`` lines after ``header``, exactly ``names`` in that order, each
    printable (a file with NUL or control bytes in a field is not trusted)."""
    try:
        lines = data.decode().split("\n")
    except UnicodeDecodeError:
        return None
    if len(lines) != len(names) + 2 or lines[0] != header or lines[-1] != "":
        return None
    fields = {}
    for name, line in zip(names, lines[1:-1], strict=True):
        found, _, value = line.partition(" ")
        if found != name or not value.isprintable():
            return None
        fields[name] = value
    return fields


# -- storage -------------------------------------------------------------------------------


# The cache's directory trouble: the one check of private directories, named for the cache.
UnsafeCacheDir = files.UnsafeDirectory


class TokenCache:
    """Token files in one directory, checked for safety before any use."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._checked = False

    # reading: the hit path ------------------------------------------------------------
    def read(self, key: str) -> Entry | None:
        data = self._read(key + SUFFIX)
        return None if data is None else decode(data)

    def read_failure(self, key: str) -> Failure | None:
        data = self._read(key + FAILURE_SUFFIX)
        return None if data is None else decode_failure(data)

    def _read(self, name: str) -> bytes | None:
        """A private regular file of ours, or None: a FIFO, symlink or anything else
        planted in the directory is never opened in a way that could block or mislead."""
        if not self._check(create=False):
            return None
        try:
            return files.read_regular(
                files.join(self.directory, name),
                MAX_ENTRY_BYTES,
                follow_symlinks=False,
                private=True,
            )
        except (OSError, files.OddFile):
            return None

    def entries(self) -> list[Entry]:
        return self._all(SUFFIX, self.read)

    def failures(self) -> list[Failure]:
        return self._all(FAILURE_SUFFIX, self.read_failure)

    def _all(self, suffix: str, read: Callable[[str], _T | None]) -> list[_T]:
        found = []
        for key in self._keys(suffix):
            item = read(key)
            if item is not None:
                found.append(item)
        return found

    def _keys(self, suffix: str) -> list[str]:
        if not self._check(create=False):
            return []
        return [
            name.removesuffix(suffix)
            for name in sorted(posix.listdir(self.directory))
            if name.endswith(suffix) and not name.startswith(".")
        ]

    # writing: the miss path -----------------------------------------------------------
    def lock(self, key: str) -> files.KeyLock:
        """The refresh lock of one key, its file opened (not yet locked) here, so that a
        directory we cannot write to is reported as cache trouble (and the cache dropped)
        rather than as a lock held by another."""
        self._check(create=True)
        path = files.join(self.directory, key + LOCK_SUFFIX)
        return files.KeyLock(path, files.open_lock_file(path))

    def write(self, key: str, entry: Entry) -> None:
        """Replace the entry atomically and durably; a success ends any failure record."""
        self._replace(key + SUFFIX, encode(entry))
        self._remove(key + FAILURE_SUFFIX)

    def record_failure(self, key: str, failure: Failure) -> None:
        self._replace(key + FAILURE_SUFFIX, encode_failure(failure))

    def _replace(self, name: str, data: bytes) -> None:
        self._check(create=True)
        path = files.join(self.directory, name)
        try:
            files.replace(path, data)
        except IsADirectoryError:
            # Something put a directory where the file goes; the directory it is in is
            # ours and private, so clear it out rather than give up the cache.
            import shutil  # noqa: PLC0415

            shutil.rmtree(path, ignore_errors=True)
            files.replace(path, data)

    def _remove(self, name: str) -> bool:
        try:
            posix.unlink(files.join(self.directory, name))
        except FileNotFoundError:
            return False
        files.sync_directory(self.directory)
        return True

    def remove_scope(self, scope: str) -> int:
        """Drop every token and failure record of ``scope`` (whatever identity it was
        for); how many tokens went."""
        removed = 0
        for key in self._keys(SUFFIX):
            entry = self.read(key)
            if entry is not None and entry.scope == scope:
                removed += self._remove(key + SUFFIX)
        for key in self._keys(FAILURE_SUFFIX):
            failure = self.read_failure(key)
            if failure is not None and failure.scope == scope:
                self._remove(key + FAILURE_SUFFIX)
        return removed

    def prune(self, now: float) -> None:
        """Remove expired and unreadable entries, failure records long past their
        backoff, temporary files of killed writers, and the lock files of identities no
        longer in use."""
        if not self._check(create=False):
            return
        names = set(posix.listdir(self.directory))
        for name in sorted(names):
            path = files.join(self.directory, name)
            try:
                if files.is_temp(name):
                    files.remove_stale_temp(path, now)
                elif name.endswith(SUFFIX):
                    entry = self.read(name.removesuffix(SUFFIX))
                    if entry is None or entry.expires_at <= now:
                        posix.unlink(path)
                        names.discard(name)
                elif name.endswith(FAILURE_SUFFIX):
                    failure = self.read_failure(name.removesuffix(FAILURE_SUFFIX))
                    if failure is None or now - failure.retry_at > STALE_RECORD_AGE:
                        posix.unlink(path)
                        names.discard(name)
            except OSError:
                continue  # pruned by another process first, or not ours to remove
        for name in sorted(names):
            key = name.removesuffix(LOCK_SUFFIX)
            if name.endswith(LOCK_SUFFIX) and not {key + SUFFIX, key + FAILURE_SUFFIX} & names:
                self._prune_lock(files.join(self.directory, name), now)

    @staticmethod
    def _prune_lock(path: str, now: float) -> None:
        """Unlink an old lock file nobody holds. Holding it while unlinking, together
        with files.KeyLock's check that the locked file is still the one at the path, keeps a
        process that opened it just before from refreshing beside a newcomer."""
        try:
            if now - posix.lstat(path).st_mtime <= STALE_RECORD_AGE:
                return
            lock = files.KeyLock(path, files.open_lock_file(path))
        except OSError:
            return
        with lock:
            if lock.acquire():
                posix.unlink(path)

    # safety -------------------------------------------------------------------------------
    def _check(self, create: bool) -> bool:
        """True when the directory exists and is safe; raise UnsafeCacheDir if it is not."""
        if not self._checked:
            self._checked = files.private_directory(self.directory, "cache", create=create)
        return self._checked


class NoCache:
    """The cache when it is turned off or unusable: nothing read, nothing kept, no lock.
    The other ``Cache``, beside ``TokenCache``."""

    def read(self, key: str) -> Entry | None:
        return None

    def read_failure(self, key: str) -> Failure | None:
        return None

    def write(self, key: str, entry: Entry) -> None:
        pass

    def record_failure(self, key: str, failure: Failure) -> None:
        pass

    def entries(self) -> list[Entry]:
        return []

    def failures(self) -> list[Failure]:
        return []

    def remove_scope(self, scope: str) -> int:
        return 0

    def prune(self, now: float) -> None:
        pass

    def lock(self, key: str) -> files.KeyLock:
        return files.KeyLock(None)


class Forgiving:
    """The cache as an action uses it, in which cache trouble never fails a get: each
    operation runs on the cache it holds (``held``: a ``TokenCache``, or ``NoCache`` when
    the cache is turned off), and an unsafe directory or an OSError is said once on
    ``stderr`` (``errors.without_cache``), answered as ``NoCache`` answers, and the rest
    of the action goes on with ``NoCache``. The token source and its refresh share one,
    so that what one has given up the other does not try again. Every token source makes
    one, so a hit reads through it: the class is here, among the hit's modules, for that.
    """

    __slots__ = ("directory", "held", "program", "stderr")

    def __init__(self, held: Cache, directory: str, stderr: TextIO, program: str) -> None:
        self.held = held
        self.directory = directory  # named in the warning of an OSError
        self.stderr = stderr
        self.program = program

    def read_for(self, key: str, scope: str, activity: Recorder) -> Entry | None:
        """The entry for ``key``, if its token is good for ``scope``: a file renamed or
        copied from another key's is not trusted to answer for this registry. The read's
        time goes into ``activity``."""
        started = time.monotonic()
        entry = self.read(key)
        activity.add("cache_read", time.monotonic() - started)
        return entry if entry is not None and entry.scope == scope else None

    def read(self, key: str) -> Entry | None:
        return self._forgiven(self.held.read, None, key)

    def read_failure(self, key: str) -> Failure | None:
        return self._forgiven(self.held.read_failure, None, key)

    def write(self, key: str, entry: Entry) -> None:
        self._forgiven(self.held.write, None, key, entry)

    def record_failure(self, key: str, failure: Failure) -> None:
        self._forgiven(self.held.record_failure, None, key, failure)

    def entries(self) -> list[Entry]:
        return self._forgiven(self.held.entries, [])

    def failures(self) -> list[Failure]:
        return self._forgiven(self.held.failures, [])

    def remove_scope(self, scope: str) -> int:
        return self._forgiven(self.held.remove_scope, 0, scope)

    def prune(self, now: float) -> None:
        self._forgiven(self.held.prune, None, now)

    def lock(self, key: str) -> files.KeyLock:
        return self._forgiven(self.held.lock, files.KeyLock(None), key)

    def acquire(self, lock: files.KeyLock, deadline: float | None, *, failing: bool) -> bool:
        """Take a key's ``lock`` (``KeyLock.acquire``); ``failing`` when that is cache
        trouble: whether to go on as if it had been granted."""
        return self._forgiven(lock.acquire, failing, deadline)

    def _forgiven(self, operation: Callable[[*_Args], _T], fallback: _T, *args: *_Args) -> _T:
        try:
            return operation(*args)
        except (UnsafeCacheDir, OSError) as err:
            self.stderr.write(f"{self.program}: {errors.without_cache(self.directory, err)}\n")
            self.held = NoCache()
            return fallback
