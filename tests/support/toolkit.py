"""What the suites share besides fixtures: many helper processes at once, the processes
they leave behind, the cache files they write, a process holding a key's lock, and runs
as ``nobody``.

``spawn_gets`` starts ``n`` helpers blocked on stdin, ``feed`` releases them at the same
instant, ``collect`` waits for each and times it from that instant (the slowest process
is the figure that matters, not the average). Background refreshers and AWS workers are
found by a marker variable in their environment, which every process the helper forks
inherits: ``processes_with`` lists them, so a test can watch them end or kill them.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from docker_credential_ecrpy import cache
from tests.support.constants import DUE, HOST
from tests.support.helper import Helper
from tests.support.standin import StandIn

PYTHON = sys.executable  # the venv's interpreter, with the package installed


class Run(subprocess.CompletedProcess[str]):
    """A finished helper process, with its wall time from the moment it was fed."""

    seconds: float = 0.0


def spawn_gets(
    helper: Helper, n: int, env: Mapping[str, str] | None = None, args: tuple[str, ...] = ("get",)
) -> list[subprocess.Popen[bytes]]:
    """``n`` helper processes started and blocked on stdin, so they run their ``get`` at
    the same instant once fed."""
    return [
        subprocess.Popen(
            [helper.exe, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env if env is not None else helper.env),
        )
        for _ in range(n)
    ]


def feed(processes: list[subprocess.Popen[bytes]], host: str = HOST) -> float:
    """Write every process its input; the instant they were all released."""
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(host.encode())
    started = time.monotonic()
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
        process.stdin = None  # so that communicate() does not flush it again
    return started


def collect(
    helper: Helper, processes: list[subprocess.Popen[bytes]], started: float | None = None
) -> list[Run]:
    """Wait for each process (its pipes closed and its exit), check its output for
    leaks, and note how long after ``started`` it was done."""
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        result = Run(process.args, process.returncode, out.decode("utf-8", "replace"), err.decode())
        result.seconds = time.monotonic() - started if started is not None else 0.0
        helper.check_no_leak(result)
        results.append(result)
    return results


def finish(helper: Helper, processes: list[subprocess.Popen[bytes]], host: str = HOST) -> list[Run]:
    started = feed(processes, host)
    return collect(helper, processes, started)


def run_with_stdin_open(
    argv: list[str], data: bytes, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """``argv`` run by a client that writes ``data`` and never closes stdin. A process
    still waiting after 30s fails the test (it would wait for ever)."""
    with subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env)
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        assert process.stderr is not None
        process.stdin.write(data)
        process.stdin.flush()
        try:
            status = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError(f"{argv[-1]} still waits for the end of its input") from None
        out, err = process.stdout.read().decode(), process.stderr.read().decode()
        process.stdin.close()
    return subprocess.CompletedProcess(argv, status, out, err)


def processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment holds ``marker``."""
    found = []
    needle = marker.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as file:
                if needle not in file.read():
                    continue
            with open(f"/proc/{name}/stat", "rb") as file:
                state = file.read().rpartition(b")")[2].split()[0]
        except OSError:
            continue
        if state not in (b"Z", b"X"):
            found.append(int(name))
    return found


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:g}s for {what}"
        time.sleep(0.05)


def with_env(helper: Helper, **changes: str | None) -> dict[str, str]:
    """The helper's environment with variables set (or, for None, removed)."""
    env = dict(helper.env)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def token_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(cache.SUFFIX))


def the_entry(helper: Helper) -> Path:
    """The one cache entry the test has made so far."""
    found = token_files(helper.cache_dir)
    assert len(found) == 1, f"expected one cache entry, found {len(found)}"
    return found[0]


def valid_entry_at(path: Path) -> cache.Entry:
    """The entry in ``path``, checked to be a private regular file that decodes."""
    info = path.lstat()
    assert stat.S_ISREG(info.st_mode), f"{path.name} is not a regular file"
    assert stat.S_IMODE(info.st_mode) == 0o600, f"{path.name} has mode {info.st_mode:o}"
    assert info.st_uid == os.geteuid()
    entry = cache.decode(path.read_bytes())
    assert entry is not None, f"{path.name} does not decode"
    return entry


def failure_records(directory: Path) -> list[cache.Failure]:
    found = []
    for path in sorted(directory.glob("*" + cache.FAILURE_SUFFIX)):
        record = cache.decode_failure(path.read_bytes())
        assert record is not None, f"{path.name} does not decode"
        found.append(record)
    return found


# The executable's clock is the wall clock. A test that is not about waiting moves the
# times in a cache file back instead of sleeping until they pass: the same as the clock
# moving on, in no time.


def age_entry(path: Path, seconds: float) -> cache.Entry:
    """The entry in ``path`` made ``seconds`` older (issued and expiring that much
    earlier), as if that much time had gone by."""
    entry = valid_entry_at(path)
    entry.issued_at -= seconds
    entry.expires_at -= seconds
    path.write_bytes(cache.encode(entry))
    return entry


def end_backoffs(directory: Path) -> None:
    """Every failure record in ``directory`` made as much older as it takes for its
    backoff to have ended a second ago: as if that time had gone by."""
    for path in directory.glob("*" + cache.FAILURE_SUFFIX):
        record = cache.decode_failure(path.read_bytes())
        assert record is not None, f"{path.name} does not decode"
        seconds = max(record.retry_at - time.time(), 0) + 1
        record.failed_at -= seconds
        record.retry_at -= seconds
        path.write_bytes(cache.encode_failure(record))


# -- shared by the suites -------------------------------------------------------------


def seed_due_token(helper: Helper, ecr: StandIn, **env: str) -> dict[str, str]:
    """A cached token that is due for refresh but valid for an hour; the environment
    that sees it so."""
    ecr.config(ttl=3600)
    due = with_env(helper, **DUE, **env)
    helper.answer(env=due)
    assert ecr.calls() == 1
    ecr.reset()
    ecr.config(ttl=3600)
    return due


def refreshers(helper: Helper) -> list[int]:
    return processes_with(helper.marker)  # type: ignore[attr-defined]


def env_for(helper: Helper, docker_dir: Path, **extra: str) -> dict[str, str]:
    """The helper's environment, with its executable on PATH as an installation has it."""
    path = f"{Path(helper.exe).parent}{os.pathsep}{helper.env['PATH']}"
    return {**helper.env, "PATH": path, "DOCKER_CONFIG": str(docker_dir), **extra}


def configure(helper: Helper, docker_dir: Path, *args: str, **extra: str) -> Any:
    return helper.run("configure", *args, stdin="", env=env_for(helper, docker_dir, **extra))


def read(docker_dir: Path) -> Any:
    return json.loads((docker_dir / "config.json").read_text(encoding="utf-8"))


PYTHON_KEY = """
import os
from docker_credential_ecrpy import registry
from docker_credential_ecrpy.settings import Settings
from docker_credential_ecrpy.tokens import TokenSource
source = TokenSource(Settings.from_env(os.environ), os.environ)
key = source.key(registry.parse({host!r}))
"""


HOLD_LOCK = (
    PYTHON_KEY
    + """
import sys, time
from docker_credential_ecrpy.cache import TokenCache
with TokenCache(source.settings.cache_dir).lock(key) as lock:
    print("locked" if lock.acquire(time.monotonic() + 5) else "not locked", flush=True)
    time.sleep(600)
"""
)


def hold_lock(helper: Helper, host: str = HOST) -> subprocess.Popen[str]:
    """A live process holding the refresh lock of ``host``'s key."""
    process = subprocess.Popen(
        [PYTHON, "-c", HOLD_LOCK.format(host=host)],
        stdout=subprocess.PIPE,
        text=True,
        env=helper.env,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "locked"
    return process


def kill(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def run_as_nobody(helper: Helper, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*AS_NOBODY, helper.exe, "get"],
        input=HOST.encode(),
        capture_output=True,
        env=dict(env),
        timeout=60,
    )
    result = subprocess.CompletedProcess(
        done.args[len(AS_NOBODY) :], done.returncode, done.stdout.decode(), done.stderr.decode()
    )
    helper.check_no_leak(result)
    return result


def skip_unless_nobody_can_run(helper: Helper) -> None:
    """The venv lives under the worktree: ``nobody`` needs to read and run it."""
    probe = subprocess.run([*AS_NOBODY, helper.exe, "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        reason = f"cannot run {helper.exe} as nobody: {probe.stderr.decode().strip()[:200]}"
        print(reason)
        pytest.skip(reason)
