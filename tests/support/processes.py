"""Supervision of the servers the end-to-end environment starts: by PID, never by name.

Each process is recorded, with its start time, in ``/run/ecrpy-e2e/state.json`` the
moment it is started, before anything else can go wrong; it is stopped by that PID. A
run killed before its teardown is finished by the next one, which stops a recorded PID
only if its start time still matches (a PID alone may have been reused by then). The
state file also names the work directory and the host paths the clients leave behind,
for the same reason. One environment runs at a time on a machine, under an ``flock`` on
``/run/ecrpy-e2e/lock``: its ports and hostnames are global.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from tests.support.commands import tail
from tests.support.parts import Broken, Unavailable

STATE_DIR = Path("/run/ecrpy-e2e")
STATE_FILE = STATE_DIR / "state.json"
# What the clients leave on the host whatever their flags say: dockerd 20.10 its trust key
# and /run/docker, skopeo and podman their blob-info cache. Removed at the end unless they
# were there before we started.
HOST_LEFTOVERS = (
    Path("/etc/docker/key.json"),
    Path("/run/docker"),
    Path("/var/lib/containers"),
    Path("/var/lib/containers/cache"),
)
# The only work directories a later run removes for a dead one.
WORK_PREFIX = "/tmp/ecrpy-e2e-"
LOCK_WAIT = 120  # seconds


class Supervisor:
    """The machine-wide lock, the processes of this run and the state file that records
    them (with the work directory and the host leftovers) for a later run."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.work = ""  # recorded only when a later run may remove it
        self.created: list[str] = []  # host paths our clients create, removed at the end
        self._lock_fd: int | None = None

    # -- the lock and a dead run's leftovers ----------------------------------------------
    def lock(self) -> None:
        """Wait (up to :data:`LOCK_WAIT`) for another environment on this machine to end."""
        STATE_DIR.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(STATE_DIR / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise Unavailable(
                        "another e2e environment has run on this machine for over 2 minutes"
                    ) from None
                time.sleep(1)
        self._lock_fd = fd

    def recover(self) -> None:
        """Finish the teardown of a previous run that died before it: its processes (if
        still the same ones), its work directory, what its clients left on the host."""
        if not STATE_FILE.exists():
            return
        self.log("cleaning up after a previous run that did not tear down")
        with contextlib.suppress(Exception):
            state = json.loads(STATE_FILE.read_text())
            for entry in state.get("processes", []):
                if start_time(entry["pid"]) == entry["start"]:
                    stop(entry["pid"], self.log, entry["name"])
            if state.get("work", "").startswith(WORK_PREFIX):
                shutil.rmtree(state["work"], ignore_errors=True)
            remove_leftovers(state.get("created", []))
        STATE_FILE.unlink(missing_ok=True)

    def note_leftovers(self) -> None:
        """Which of :data:`HOST_LEFTOVERS` this run will have made: those not there yet."""
        self.created = [str(path) for path in HOST_LEFTOVERS if not path.exists()]

    # -- starting and waiting ---------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], *, log: Path, env: Mapping[str, str]) -> None:
        """Start a server, its output appended to ``log``, in a session of its own: a ^C
        at the terminal reaches the test run alone, whose teardown stops it by PID."""
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
            )
        self.adopt(name, proc)

    def adopt(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        """Record a process we started, by PID, before anything else can go wrong."""
        self.processes[name] = proc
        self._save()
        argv = [str(arg) for arg in proc.args] if isinstance(proc.args, list) else [str(proc.args)]
        self.log(f"started {name} (pid {proc.pid}): {' '.join(argv[:2])} ...")

    def wait(self, probe: Callable[[], bool], name: str, log: Path, timeout: float = 60) -> None:
        """Wait until ``probe`` says the server ``name`` serves; raise :class:`Broken` with
        the end of its ``log`` if it exits first or takes longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise Broken(
                    f"{name} exited with {self.processes[name].returncode}: "
                    f"{tail(log.read_text(errors='replace'))}"
                )
            with contextlib.suppress(OSError):
                if probe():
                    return
            time.sleep(0.3)
        raise Broken(
            f"{name} not ready after {timeout:.0f} s: {tail(log.read_text(errors='replace'))}"
        )

    # -- the end ------------------------------------------------------------------------------
    def stop_all(self) -> None:
        """Stop every process, the last started first, then remove the host leftovers."""
        for name in reversed(list(self.processes)):
            proc = self.processes.pop(name)
            stop(proc.pid, self.log, name)
        remove_leftovers(self.created)
        self.created = []

    def forget(self) -> None:
        """Drop the state file: nothing is left for a later run to clean up."""
        with contextlib.suppress(FileNotFoundError):
            STATE_FILE.unlink()

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _save(self) -> None:
        state = {
            "owner": os.getpid(),
            "work": self.work,
            "created": self.created,
            "processes": [
                {"name": name, "pid": proc.pid, "start": start_time(proc.pid)}
                for name, proc in self.processes.items()
            ],
        }
        tmp = STATE_DIR / "state.json.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(STATE_FILE)


def start_time(pid: int) -> str:
    """A process's start time (field 22 of /proc/PID/stat): with the PID, its identity."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def stop(pid: int, log: Callable[[str], None], name: str) -> None:
    """SIGTERM one process by PID, SIGKILL it after 20 s; reap it if it is our child."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    log(f"stopped {name} (pid {pid})")


def remove_leftovers(paths: Iterable[str]) -> None:
    """Remove what the clients left, but only paths named in :data:`HOST_LEFTOVERS`: the
    list comes from a state file, which must not be able to name anything else."""
    for name in paths:
        path = Path(name)
        if path not in HOST_LEFTOVERS:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
