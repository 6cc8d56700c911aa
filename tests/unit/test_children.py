"""children.py in-process: the AWS worker's answer, errors and deadline (with everything
it started killed), and the detached refresher's clean break from its caller.

The executable's suites (tests/executable/test_weather.py) show the same through the
installed executable; these pin the mechanism down with plain functions as the work.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from docker_credential_ecrpy import children, errors
from tests.support.helper import require_proc


def soon(seconds: float) -> float:
    return time.monotonic() + seconds


def test_the_worker_answers_with_marshalled_data() -> None:
    def work(report: Callable[[str, str], None]) -> tuple[str, int, float]:
        report("working", children.START)
        return ("a", os.getpid(), 1.5)

    name, pid, number = children.bounded(work, soon(10), "starting")
    assert (name, number) == ("a", 1.5)
    assert pid != os.getpid()  # it ran in another process


def test_a_helper_error_of_the_worker_is_raised_here() -> None:
    def work(report: Callable[[str, str], None]) -> None:
        raise errors.Throttled("AWS throttled ecr:GetAuthorizationToken")

    with pytest.raises(errors.Throttled, match=r"^AWS throttled"):
        children.bounded(work, soon(10), "starting")


def test_a_crash_of_the_worker_is_one_line_without_its_text() -> None:
    def work(report: Callable[[str, str], None]) -> None:
        raise KeyError("a-secret-value")

    with pytest.raises(errors.InternalError) as raised:
        children.bounded(work, soon(10), "starting")
    assert "internal error (KeyError)" in raised.value.message
    assert "a-secret-value" not in raised.value.message


def test_a_worker_killed_before_the_deadline_is_ours_not_a_timeout() -> None:
    def work(report: Callable[[str, str], None]) -> None:
        report("calling the API", children.CALL)
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would

    with pytest.raises(errors.InternalError) as raised:
        children.bounded(work, soon(10), "starting")
    assert not isinstance(raised.value, errors.DeadlineExceeded)
    assert raised.value.message.startswith(
        "the AWS worker process was killed by signal 9 (out of memory?) while calling the API"
    )


def test_the_deadline_kills_the_worker_and_what_it_started(tmp_path: Path) -> None:
    require_proc()
    pid_file = tmp_path / "grandchild.pid"

    def work(report: Callable[[str, str], None]) -> None:
        report("running a stuck credential_process", children.START)
        stuck = subprocess.Popen(["sleep", "600"])
        pid_file.write_text(str(stuck.pid))
        stuck.wait()

    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceeded) as raised:
        children.bounded(work, soon(1.0), "starting")
    assert time.monotonic() - started < 2.0
    assert raised.value.message == "running a stuck credential_process"  # what it waited for
    stuck = int(pid_file.read_text())
    deadline = soon(5)
    while Path(f"/proc/{stuck}").exists() and _state(stuck) != "Z":
        assert time.monotonic() < deadline, "the worker's child outlived the deadline"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "gone"


DETACHED = """
import os, sys, time
from docker_credential_ecrpy import children

keep = os.open({lock!r}, os.O_RDWR | os.O_CREAT, 0o600)
extra = os.open({lock!r}, os.O_RDONLY)  # open, not kept: the refresher must not hold it

def work():
    links = {{}}
    for name in os.listdir("/proc/self/fd"):
        try:
            links[int(name)] = os.readlink(f"/proc/self/fd/{{name}}")
        except OSError:
            pass  # the listing's own descriptor, closed by now
    with open({report!r} + ".part", "w") as out:
        out.write(repr((os.getsid(0), links, keep)))
    os.replace({report!r} + ".part", {report!r})  # whole when it appears

children.detached(work, (keep,))
print(os.getsid(0), flush=True)
"""


def test_a_detached_refresher_keeps_only_what_it_is_given(tmp_path: Path) -> None:
    require_proc()
    report = tmp_path / "report"
    script = DETACHED.format(lock=str(tmp_path / "k.lock"), report=str(report))
    # Soft limit raised to the hard one, as Go does for its children: closing by number
    # up to it is what must not happen (it can be a billion on some hosts).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    done = subprocess.run(
        ["prlimit", f"--nofile={hard}:{hard}", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    caller_session = int(done.stdout)
    deadline = soon(10)
    while not report.exists():
        assert time.monotonic() < deadline, "the detached work never ran"
        time.sleep(0.05)
    session, links, keep = eval(report.read_text())  # noqa: S307 - our own repr
    assert session != caller_session
    assert {fd: links[fd] for fd in (0, 1, 2)} == dict.fromkeys((0, 1, 2), "/dev/null")
    assert links[keep] == str(tmp_path / "k.lock")
    assert set(links) == {0, 1, 2, keep}, links  # the other descriptor on the lock: closed


def test_a_worker_outliving_its_killed_supervisor_ends_itself(tmp_path: Path) -> None:
    """kill -9 of the process waiting for the worker: the worker's own alarm ends it (and
    its group) shortly after the deadline."""
    require_proc()
    pid_file = tmp_path / "worker.pid"
    script = f"""
import os, time
from docker_credential_ecrpy import children
def work(report):
    open({str(pid_file)!r}, "w").write(str(os.getpid()))
    time.sleep(600)
children.bounded(work, time.monotonic() + 1.0, "starting")
"""
    supervisor = subprocess.Popen([sys.executable, "-c", script])
    deadline = soon(10)
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker = int(pid_file.read_text())
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait()
    deadline = soon(1.0 + children.GRACE + 3)
    while _state(worker) not in ("gone", "Z"):
        assert time.monotonic() < deadline, "the orphaned worker did not end itself"
        time.sleep(0.05)
