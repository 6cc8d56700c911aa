"""Many helper processes released at one instant, each timed from that instant to its exit.

Docker on a busy host starts pulls together, and the figure that matters is the slowest of
them, not the median. Starting a process is not the helper's behaviour (hundreds of
interpreters take seconds to start on a loaded 2-core machine), so every process is
started first and seen blocked on its read of stdin (one of its threads sleeping in
``pipe_read``, from ``/proc``) before any is fed. Then all are fed at once, and each exit
is taken from the process's pidfd as it happens, not when a wait in turn gets to it.
"""

from __future__ import annotations

import os
import re
import resource
import select
import subprocess
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import NamedTuple

# How long a process may take to reach its read of stdin before it is released anyway.
BLOCK_TIMEOUT = 120.0
# How long after its exit a process may keep its stdout and stderr open (a child that
# inherited them): beyond this they are not waited for, and the outcome says so.
PIPE_GRACE = 5.0
HELD_PIPES = "(stdout or stderr still held open after the exit)"


class Outcome(NamedTuple):
    """One process: its tag (e.g. the host it stands for), exit status, seconds from the
    release to its exit, and what it wrote."""

    tag: int
    returncode: int
    seconds: float
    stdout: str
    stderr: str

    @property
    def said(self) -> str:
        """Its first line of output, stdout before stderr: the reason for a failure."""
        return (self.stdout.strip() or self.stderr.strip()).split("\n")[0]


class Crowd:
    """Processes started blocked on stdin, then released together (a context manager that
    kills, by pid, whatever is still running when it is left)."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.pidfds: list[int] = []
        self.tags: list[int] = []
        self.began = time.monotonic()
        self.spawn_seconds = 0.0  # from the first start to the last process blocked
        self.not_blocked = 0  # released before they were seen blocked (see BLOCK_TIMEOUT)
        self.released = 0.0
        # CPU seconds of the processes (and the children they waited for) from the release
        # to their exits: to tell a helper that waited from one that queued for the CPU.
        self.cpu_seconds = 0.0
        self._cpu_base = 0.0
        self.load = 0.0  # the machine's 1-minute load average at the release

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], tag: int = 0) -> None:
        if not self.processes:
            self.began = time.monotonic()
            self._cpu_base = _children_cpu()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
        )
        self.processes.append(process)
        self.pidfds.append(os.pidfd_open(process.pid))
        self.tags.append(tag)

    def wait_blocked(self, timeout: float = BLOCK_TIMEOUT) -> None:
        """Until every process sleeps in its read of stdin (or has exited, or ``timeout``)."""
        waiting = list(self.processes)
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            waiting = [p for p in waiting if p.poll() is None and not _reading_a_pipe(p.pid)]
            if waiting:
                time.sleep(0.05)
        self.not_blocked = len(waiting)
        self.spawn_seconds = time.monotonic() - self.began

    def release(self, data: bytes) -> None:
        """Write every process its input, then close every stdin: the close is what
        releases it (the helper reads to the end), so the writes come first."""
        for process in self.processes:
            assert process.stdin is not None
            try:
                process.stdin.write(data)
            except BrokenPipeError:
                pass  # it exited already: its outcome says why
        self.released = time.monotonic()
        self.load = os.getloadavg()[0]
        self._cpu_base += sum(_cpu_so_far(process.pid) for process in self.processes)
        for process in self.processes:
            assert process.stdin is not None
            try:
                process.stdin.close()
            except BrokenPipeError:
                pass
            process.stdin = None  # so that communicate() does not flush it again

    def collect(self, timeout: float) -> list[Outcome]:
        """Every process's outcome; one still running ``timeout`` seconds after the
        release is killed and counted as failed."""
        poller = select.poll()
        pending = {fd: index for index, fd in enumerate(self.pidfds)}
        for fd in pending:
            poller.register(fd, select.POLLIN)
        ends = [timeout] * len(self.processes)
        deadline = self.released + timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for fd, _ in poller.poll(left * 1000):
                ends[pending.pop(fd)] = time.monotonic() - self.released
                poller.unregister(fd)
        for index in pending.values():
            self.processes[index].kill()
        outcomes = [
            self._outcome(index, seconds, killed=index in pending.values())
            for index, seconds in enumerate(ends)
        ]
        self.cpu_seconds = _children_cpu() - self._cpu_base
        return outcomes

    def _outcome(self, index: int, seconds: float, killed: bool) -> Outcome:
        process = self.processes[index]
        try:
            out, err = process.communicate(timeout=PIPE_GRACE)
        except subprocess.TimeoutExpired:
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
            process.wait()
            out, err = b"", HELD_PIPES.encode()
        if killed:
            err = f"still running {seconds:g}s after the release: killed".encode()
        return Outcome(
            self.tags[index],
            process.returncode,
            seconds,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
        )

    def __enter__(self) -> Crowd:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    try:
                        stream.close()
                    except BrokenPipeError:
                        pass
            process.wait()
        for fd in self.pidfds:
            os.close(fd)
        self.pidfds.clear()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_so_far(pid: int) -> float:
    """CPU seconds a live process has used, summed over its threads (0 if it is gone).
    From ``schedstat``, in nanoseconds: ``stat``'s clock ticks would lose up to 10 ms a
    process, seconds over a fleet."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as file:
                total += int(file.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def _reading_a_pipe(pid: int) -> bool:
    """Whether a thread of ``pid`` sleeps in a read of a pipe: for a helper that has not
    been fed, its read of stdin."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/wchan") as file:
                if "pipe_read" in file.read():
                    return True
        except OSError:
            continue
    return False


def gather(
    argv: Sequence[str],
    envs: Sequence[tuple[int, Mapping[str, str]]],
    data: bytes,
    timeout: float,
) -> tuple[Crowd, list[Outcome]]:
    """One process per ``(tag, env)``, all released together with ``data`` on stdin: the
    crowd (for its spawn figures) and the outcomes, once all have exited."""
    with Crowd() as crowd:
        for tag, env in envs:
            crowd.spawn(argv, env, tag)
        crowd.wait_blocked()
        crowd.release(data)
        return crowd, crowd.collect(timeout)


def what_they_said(outcomes: list[Outcome]) -> list[str]:
    """How the failed gets failed (their stdout, which Docker shows; the same line goes to
    stderr) and what the others warned on stderr, with counts; lines that differ only in
    their numbers count as one, shown as the first of them."""
    first: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.returncode != 0:
            line = "failed: " + outcome.said
        elif outcome.stderr.strip():
            line = "warned: " + outcome.stderr.strip().splitlines()[0]
        else:
            continue
        shape = re.sub(r"\d+(\.\d+)?", "#", line)
        first.setdefault(shape, line)
        counts[shape] += 1
    return [f"{count}x {first[shape]}" for shape, count in counts.most_common()]
