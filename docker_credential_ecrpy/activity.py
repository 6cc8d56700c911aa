"""The activity log: one JSON object a line for every invocation and every background
refresh, so that whoever runs an unattended host can read afterwards what the helper did
and why (which registry, which identity, hit or refresh, how long, which error).

It is opted into (``ECRPY_LOG``, or ``[log]`` in the configuration file). Without it this
module is never imported and a ``get`` pays nothing for it: the store makes an
``Activity`` only for a reader (the log, or ``warm``, which reports what each registry
got) and hands it to the token source when it builds it; with no reader the source
records into nothing (``tokens.NoActivity``). The line is written after the answer, from
what was recorded as it went, never from log calls spread through the code.

- One ``write`` of a whole line to a descriptor opened with ``O_APPEND``: lines of
  parallel processes never interleave, and writing one takes no lock.
- The file is created 0600, in a directory checked as the cache's is (ours and closed to
  others, made so when missing); a file there that is not a private regular file of ours
  (a symlink, a FIFO, another user's, one others may read) is refused: others could
  read it, or make us append to something else.
- Once a line would take it past its size cap, the file is renamed to ``<path>.1``
  (replacing the one before) by the one process that, holding an ``flock`` on the file,
  still finds it at its path; lines written meanwhile land in one file or the other. So
  the log never grows past about twice the cap, and only the old ``.1`` is ever lost.
- Nothing in a line is a secret: the identity is the fingerprint's short form, messages
  are the one-line errors users see (which never carry one), and no token, key id or
  external id is ever handed to this module. What an API or a ``credential_process``
  said was made safe where it entered (``errors.outside``): a message goes in as it is.
- A log that cannot be written never fails anything: one warning on stderr, and on.

The JSON is written by hand (``protocol.json_string``), without ``json``: importing it
would cost a ``get`` with the log on more than writing the line does.
"""

from __future__ import annotations

import os
import stat
import time

from . import errors, files, protocol, settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol, TextIO

    from .settings import LogSettings

    Value = str | int | float | bool | None | dict[str, float]

    class Recorder(Protocol):
        """What the token source records into: an ``Activity``, or ``tokens.NoActivity``
        when nobody will read it. A type for the checker only (see ``cache.Cache``)."""

        @property
        def fingerprint(self) -> str: ...
        @property
        def outcome(self) -> str: ...
        @property
        def reason(self) -> errors.HelperError | None: ...
        def restarted(self) -> Recorder: ...
        def identified(self, fingerprint: str) -> None: ...
        def add(self, phase: str, seconds: float) -> None: ...
        def called(self, calls: int) -> None: ...
        def hit(self) -> None: ...
        def fetched(self) -> None: ...
        def refreshed(self) -> None: ...
        def served_stale(self, reason: errors.HelperError) -> None: ...
        def refresh_started_behind(self) -> None: ...


# What an action did, by Activity.outcome. The token source's (a failure is the error it
# raised):
HIT = "hit"  # answered from the cache, with no call
FETCHED = "fetched"  # answered with a token just fetched
STALE_SERVED = "stale-served"  # answered from the cache because a refresh failed
REFRESHED = "refreshed-in-background"  # the detached refresher fetched a token
# And the others: the answer was "not found", or failed; or the action was not a get
# (store, erase, list) and succeeded.
NOT_FOUND = "not-found"
ERROR = "error"
OK = "ok"
# How long a process waits for another's rotation before writing over the cap instead.
ROTATE_WAIT = 0.5
_RANKS = {level: rank for rank, level in enumerate(settings.LOG_LEVELS)}


class Activity:
    """What one action (or one background refresh) did, for whoever reads it after the
    answer: set as it goes, in plain attributes, read once. Nothing in it is a secret:
    ``fingerprint`` is the identity fingerprint's short form (``keys.short``), ``reason``
    an error of one line (the failure behind a token served stale)."""

    __slots__ = (
        "api_calls",
        "fingerprint",
        "outcome",
        "phases",
        "reason",
        "refresh_started",
        "started",
    )

    def __init__(self, fingerprint: str = "", started: float | None = None) -> None:
        # The time.monotonic() instant the action started (by default, now).
        self.started = time.monotonic() if started is None else started
        self.outcome = ""
        self.fingerprint = fingerprint
        self.api_calls = 0
        self.phases: dict[str, float] = {}  # seconds, by phase
        self.reason: errors.HelperError | None = None
        self.refresh_started = False

    def restarted(self) -> Activity:
        """The record of the background refresh that follows the answer: the same
        identity, its own time and outcome (it is logged as a line of its own)."""
        return Activity(self.fingerprint)

    def identified(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint

    def add(self, phase: str, seconds: float) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + seconds

    def called(self, calls: int) -> None:
        self.api_calls += calls

    def hit(self) -> None:
        self.outcome = HIT

    def fetched(self) -> None:
        self.outcome = FETCHED

    def refreshed(self) -> None:
        self.outcome = REFRESHED

    def served_stale(self, reason: errors.HelperError) -> None:
        self.outcome = STALE_SERVED
        self.reason = reason

    def refresh_started_behind(self) -> None:
        self.refresh_started = True

    def answered_despite(self, reason: errors.HelperError) -> None:
        """Note the failure behind an answer that is not that failure: a token served
        stale, or (noted by the store) an anonymous pull from ECR Public."""
        self.reason = reason


class Unwritable(Exception):
    """The log cannot take the line; the message says why, naming the path."""


def record(
    log: LogSettings,
    *,
    program: str,
    action: str,
    host: str | None,
    activity: Activity,
    error: errors.HelperError | None,
    stderr: TextIO,
) -> None:
    """Append the line of one invocation (``error``: the failure it answered, if any) or
    background refresh to the log at ``log.path``, unless its level leaves it out; a
    warning on stderr when that cannot be done, and never an exception: the answer is
    already in stdout's buffer, and a failure here must not spoil it."""
    try:
        level = log.level or settings.DEFAULT_LOG_LEVEL
        text = line(level, program, action, host, activity, error)
        if text is None or log.path is None:
            return
        append(log.path, text.encode(), log.max_bytes or settings.DEFAULT_LOG_MAX_BYTES)
        return
    except Unwritable as err:
        reason = str(err)
    except OSError as err:
        reason = f"{log.path}: {err.strerror or err}"
    except Exception as err:  # a bug of ours, reported by its type alone (never its text)
        reason = f"internal error {type(err).__name__}"
    errors.warn(stderr, program, f"cannot write the activity log ({reason}); going on without it")


def line(
    level: str,
    program: str,
    action: str,
    host: str | None,
    activity: Activity,
    error: errors.HelperError | None,
) -> str | None:
    """The line (with its newline), or None when ``level`` leaves it out. A line is at
    level ``error`` when it carries one: a failure, or the failure behind a token served
    stale (or an anonymous pull); ``debug`` adds the time of each phase."""
    outcome, failure = _outcome(activity, error)
    own = "error" if failure is not None else "info"
    if _RANKS[own] > _RANKS[level]:
        return None
    now = time.time()
    fields: dict[str, Value] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        + f".{int(now % 1 * 1000):03d}Z",
        "level": own,
        "program": program,
        "action": action,
        "registry": host,
        "outcome": outcome,
        "identity": activity.fingerprint or None,  # the name people read
        "api_calls": activity.api_calls,
        "ms": round((time.monotonic() - activity.started) * 1000, 1),
    }
    if failure is not None:
        fields["error"] = type(failure).__name__
        fields["message"] = failure.message
    if activity.refresh_started:
        fields["refresh_started"] = True
    fields["pid"] = os.getpid()
    if level == "debug":
        fields["phases_ms"] = {
            phase: round(seconds * 1000, 2) for phase, seconds in sorted(activity.phases.items())
        }
    return _object(fields) + "\n"


def _outcome(
    activity: Activity, error: errors.HelperError | None
) -> tuple[str, errors.HelperError | None]:
    """The outcome, and the failure the line reports (if any)."""
    if error is None:
        return activity.outcome or OK, activity.reason
    if isinstance(error, errors.CredentialsNotFound):
        return NOT_FOUND, activity.reason  # an ECR Public failure, when it was one
    return ERROR, error


def _object(fields: dict[str, Value]) -> str:
    return "{" + ",".join(f"{protocol.json_string(k)}:{_value(v)}" for k, v in fields.items()) + "}"


def _value(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return protocol.json_string(value)
    if isinstance(value, dict):
        return _object(dict(value))
    return repr(value)  # an int, or a finite float: JSON numbers as Python writes them


# -- the file ------------------------------------------------------------------------------


def append(path: str, data: bytes, max_bytes: int) -> None:
    """Append ``data`` (one line) to the log at ``path`` in one write, rotating the log
    first if the line would take it past ``max_bytes``; Unwritable when it cannot be."""
    try:
        files.private_directory(os.path.dirname(path), "log", create=True)
    except files.UnsafeDirectory as err:
        raise Unwritable(str(err)) from None
    fd = _open(path)
    try:
        size = os.fstat(fd).st_size
        if size and size + len(data) > max_bytes and _rotated(path, fd):
            os.close(fd)
            fd = -1
            fd = _open(path)
        try:
            written = os.write(fd, data)
        except OSError as err:
            raise Unwritable(f"{path}: {err.strerror or err}") from None
        if written != len(data):
            raise Unwritable(f"{path}: only {written} of {len(data)} bytes written (disk full?)")
    finally:
        if fd >= 0:
            os.close(fd)


def _open(path: str) -> int:
    """The log, opened for appending (created 0600), if it is a private regular file of
    ours. (Its link count says nothing: a file being rotated shows two for an instant on
    some file systems, and no one else may link into the directory.)"""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)  # O_NONBLOCK: a FIFO there never blocks us
    except OSError as err:
        raise Unwritable(_why_not(path, err)) from None
    problem = refusal(path, os.fstat(fd))
    if problem:
        os.close(fd)
        raise Unwritable(problem)
    return fd


def refusal(path: str, info: os.stat_result) -> str:
    """Why the file at ``path`` whose (l)stat is ``info`` is not taken as the log, or "":
    for the writer here and for ``doctor``, which looks without opening."""
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symlink"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is {files.describe(info.st_mode)}, not a regular file"
    if not files.ours_alone(info):
        return f"{path} is not private to this user (it must be ours, mode 0600)"
    return ""


def _why_not(path: str, err: OSError) -> str:
    """Why ``path`` could not be opened, naming what is there when it is no regular file
    (a symlink, a directory, a FIFO without a reader)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        mode = 0
    if stat.S_ISLNK(mode):
        return f"{path} is a symlink"
    if mode and not stat.S_ISREG(mode):
        return f"{path} is {files.describe(mode)}, not a regular file"
    if isinstance(err, FileNotFoundError):
        return f"{path}: {err.strerror} (was its directory removed?)"
    return f"{path}: {err.strerror or err}"


def _rotated(path: str, fd: int) -> bool:
    """Whether the file at ``path`` is now another than the full one open as ``fd``:
    renamed to ``<path>.1`` here, or by another process first. False when another
    process holds the rotation for longer than ROTATE_WAIT (stopped, or very slow): the
    line then goes to the full file, a little over its cap."""
    if not files.lock(fd, time.monotonic() + ROTATE_WAIT, 0.01):
        return False
    # Held until the caller closes fd: a waiter then finds the file renamed, and
    # moves on to the new one (which _open makes if no one has yet).
    if files.still_linked(path, fd):
        try:
            os.rename(path, path + ".1")
        except OSError as err:
            raise Unwritable(f"cannot rotate {path} to {path}.1: {err.strerror or err}") from None
    return True
