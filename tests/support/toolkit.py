"""What the suites share besides fixtures: many helper processes at once, the processes
they leave behind, and the cache files they write.

``spawn_gets`` starts ``n`` helpers blocked on stdin, ``feed`` releases them at the same
instant, ``collect`` waits for each and times it from that instant (the slowest process
is the figure that matters, not the average). Background refreshers and AWS workers are
found by a marker variable in their environment, which every process the helper forks
inherits: ``processes_with`` lists them, so a test can watch them end or kill them.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from docker_credential_ecrpy import cache
from tests.support.standin import StandIn

from .conftest import ACCOUNT, HOST, Helper

HOST2 = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
ALWAYS = 10**6  # a stand-in fault that never runs out
# A token of one hour with a two-hour refresh window is due (and usable) from the start.
DUE = {"ECRPY_REFRESH_WINDOW": "2h", "ECRPY_MIN_VALIDITY": "10m"}


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
