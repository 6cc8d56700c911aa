"""Child processes of the refresh path: AWS work under a hard deadline, and refreshes
that outlive the ``get`` that started them.

``bounded`` runs a function in a forked worker, in a process group of its own, and
waits for its answer on a pipe until a wall-clock deadline; then it kills the whole
group. Socket timeouts bound each read, not a server that trickles a byte every second;
and a hung ``credential_process``, SSO helper or metadata endpoint is out of any timeout's
reach. Killing the group ends the worker and every program it started, wherever it was
stuck. The worker reports what it is doing (resolving credentials, calling the API) as it
goes, so that a timeout can say what it was waiting for; and the kind of each step, which
the supervisor times and counts as the reports arrive (``Steps``), so that even a worker
killed at the deadline leaves its count of API calls for the activity log.

``detached`` runs a function in a grandchild in a session of its own, with stdin,
stdout and stderr on ``/dev/null``: the caller answers Docker and exits at once, nothing
of the refresh holds the pipes Docker reads to their end (Go's ``exec`` waits for EOF),
nothing writes to the user's terminal, and the intermediate child is reaped at once, so
no zombie is left behind. The grandchild is re-parented to init, which reaps it.

Both fork, without exec: the refresh code and its state are already loaded, and a fork
costs well under a millisecond where a new interpreter costs tens.
"""

from __future__ import annotations

import marshal
import os
import select
import signal
import sys
import time

from . import errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import TypeVar

    Report = Callable[[str, str], None]
    _T = TypeVar("_T")

# A worker whose supervisor died (kill -9) ends itself this long after the deadline.
GRACE = 1.0
_HEADER = 4
# The step a worker is in until its first report (forking, loading the AWS SDK), and the
# step that is one API call, which Steps counts (aws.py reports it).
START = "start"
CALL = "api_call"


class Steps:
    """How long a worker spent in each kind of step, and how many API calls it started,
    as its supervisor saw the reports arrive."""

    __slots__ = ("_since", "_step", "calls", "seconds")

    def __init__(self) -> None:
        self.calls = 0
        self.seconds: dict[str, float] = {}
        self._step = START
        self._since = time.monotonic()

    def enter(self, step: str) -> None:
        """The worker began ``step`` (empty: it is done)."""
        now = time.monotonic()
        if self._step:
            self.seconds[self._step] = self.seconds.get(self._step, 0.0) + now - self._since
        self._step, self._since = step, now
        if step == CALL:
            self.calls += 1


def bounded(
    work: Callable[[Report], _T],
    deadline: float,
    start: str,
    keep_stderr: bool = False,
    steps: Steps | None = None,
) -> _T:
    """``work(report)``'s result (marshal-able data), computed in a worker process.

    ``deadline`` is a ``time.monotonic()`` instant; ``start`` describes what the worker
    does first. A HelperError raised by ``work`` is raised here again. Reaching the
    deadline raises DeadlineExceeded whose message is the last thing ``work`` reported
    doing ("calling ecr:GetAuthorizationToken at ..."), for the caller to put in words
    with the budget it set. With ``keep_stderr`` the worker may write to our stderr
    (tracebacks for ECRPY_DEBUG). ``steps``, when given, times the kinds of step that
    ``work`` reports (``report(doing, step)``), whatever the outcome.
    """
    steps = Steps() if steps is None else steps
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _work(work, write_end, deadline, keep_stderr)
    os.close(write_end)
    _own_group(pid)
    doing = start
    result: tuple[object, ...] | None = None
    try:
        for message in _messages(read_end, deadline):
            if message[0] == "phase":
                doing = str(message[1])
                steps.enter(str(message[2]))
            else:
                result = message
    finally:
        steps.enter("")
        os.close(read_end)
        # Whether the deadline ended the wait, taken before our own kill below: a worker
        # killed by us at the deadline is a timeout, one that died before it is not.
        in_time = time.monotonic() < deadline
        if result is None:
            _kill_group(pid)
        status = _reap(pid)
    if result is None:
        if in_time:
            # Killed by someone else (the OOM killer), or gone without a word: our own
            # machinery failed, which says nothing about AWS.
            raise errors.worker_ended(doing, -status if status < 0 else 0)
        raise errors.DeadlineExceeded(doing)
    if result[0] == "ok":
        return result[1]  # type: ignore[return-value] # what work returned, marshalled
    if result[0] == "error":
        raise errors.from_kind(str(result[1]), str(result[2]), str(result[3]))
    raise errors.worker_crashed(str(result[1]), doing)


def _work(work: Callable[[Report], object], out: int, deadline: float, keep_stderr: bool) -> None:
    """The worker: never returns, never lets an exception or a late answer escape."""
    try:
        _own_group(0)
        _to_devnull((0, 1) if keep_stderr else (0, 1, 2))
        # Nothing outlives the deadline by more than GRACE, even when the supervisor
        # was killed before it could end us: the alarm takes the whole group down.
        signal.signal(signal.SIGALRM, lambda *_: os.killpg(0, signal.SIGKILL))
        signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 0) + GRACE)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)

        def report(doing: str, step: str) -> None:
            _send(out, ("phase", doing, step))

        try:
            answer: tuple[object, ...] = ("ok", work(report))
        except errors.HelperError as err:
            answer = ("error", type(err).__name__, err.message, err.hint)
        except BaseException as err:  # reported, never a traceback
            if keep_stderr:
                import traceback  # noqa: PLC0415

                traceback.print_exception(err)
            answer = ("crash", type(err).__name__)
        _send(out, answer)
    finally:
        os._exit(0)


def _send(fd: int, message: tuple[object, ...]) -> None:
    data = marshal.dumps(message)  # type: ignore[arg-type]
    view = memoryview(len(data).to_bytes(_HEADER, "big") + data)
    while view:
        view = view[os.write(fd, view) :]


def _messages(fd: int, deadline: float) -> Iterable[tuple[object, ...]]:
    """The worker's messages as they arrive, until it closes the pipe or the deadline."""
    buffer = b""
    # poll, not select: select.select refuses a descriptor numbered 1024 or more, which
    # is what the pipe gets when the caller handed us a thousand open ones (Go raises
    # its limit; CI runners leak descriptors). Both come from the one module.
    watch = select.poll()
    watch.register(fd, select.POLLIN)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        # Whole milliseconds, rounded up: a wait of 0 would spin until the deadline.
        if not watch.poll(int(remaining * 1000) + 1):
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        buffer += chunk
        while len(buffer) >= _HEADER:
            size = int.from_bytes(buffer[:_HEADER], "big")
            if len(buffer) < _HEADER + size:
                break
            # Our own forked worker wrote it: trusted as much as this process.
            message = marshal.loads(buffer[_HEADER : _HEADER + size])  # noqa: S302
            buffer = buffer[_HEADER + size :]
            if isinstance(message, tuple) and message:
                yield message


def _own_group(pid: int) -> None:
    """Make ``pid`` (0: ourselves) the leader of a new process group. Both the parent and
    the child call it, so the group exists before either relies on it."""
    try:
        os.setpgid(pid, 0)
    except OSError:
        pass  # the child got there first, or has exited already


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass  # already gone


def _reap(pid: int) -> int:
    """Wait for ``pid``; its exit code as ``subprocess`` has it (-N: killed by signal N),
    0 when it was reaped already."""
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        return 0


def _to_devnull(fds: Iterable[int]) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in fds:
        os.dup2(null, fd)
    if null not in fds:
        os.close(null)


def detached(work: Callable[[], None], keep: Iterable[int] = ()) -> None:
    """Start ``work()`` in a detached grandchild and return at once.

    Every descriptor but ``keep`` is closed in the grandchild (a refresh lock is kept by
    passing its descriptor), and 0, 1 and 2 are ``/dev/null``. Raises OSError when the
    system cannot fork, for the caller to carry on without the background work.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # nothing buffered may be written twice
    pid = os.fork()
    if pid:
        _reap(pid)  # the intermediate child exits at once
        return
    try:
        os.setsid()
        _to_devnull((0, 1, 2))
        if os.fork() == 0:
            _close_all_but({0, 1, 2, *keep})
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                work()
            except BaseException:  # noqa: S110 - nobody is there to tell
                pass
    finally:
        os._exit(0)


def _close_all_but(kept: set[int]) -> None:
    """Close every open descriptor not in ``kept``.

    The open ones are listed rather than every number up to the limit tried: Go raises
    its soft RLIMIT_NOFILE to the hard limit at start-up, so a helper run by docker,
    skopeo, podman or kubelet can inherit a limit of a million or a billion, and a
    ``closerange`` up to it that falls back to one ``close`` per number runs for minutes.
    """
    for directory in ("/proc/self/fd", "/dev/fd"):
        try:
            found = [int(name) for name in os.listdir(directory)]
        except (OSError, ValueError):
            continue
        for fd in found:
            if fd not in kept:
                try:
                    os.close(fd)
                except OSError:
                    pass  # the directory's own descriptor, closed by now
        return
    for low, high in zip(sorted(kept), [*sorted(kept)[1:], 65536], strict=True):
        os.closerange(low + 1, high)  # no listing: close what a sane limit allows
