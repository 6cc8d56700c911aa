"""The systemd units of packaging/systemd/: valid for systemd, and their command runs.

``systemd-analyze verify`` checks each service and timer (with ExecStart pointed at the
executable under test, since verify insists that it exists); then the service's command
line, expanded as systemd expands it from the environment file, warms against the
stand-in and writes the metrics file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.constants import HOST, TESTS
from tests.support.helper import Helper
from tests.support.standin import StandIn
from tests.support.toolkit import with_env

UNITS = TESTS.parent / "packaging" / "systemd"
INSTALLED = "/usr/bin/docker-credential-ecrpy"


def exec_start(service: Path) -> list[str]:
    (line,) = [line for line in service.read_text().splitlines() if line.startswith("ExecStart=")]
    return line.removeprefix("ExecStart=").split()


@pytest.mark.parametrize("scope", ["system", "user"])
def test_systemd_analyze_verifies_the_units(helper: Helper, tmp_path: Path, scope: str) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in (UNITS / scope).iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, helper.exe))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    units = [str(path) for path in sorted(tmp_path.glob("docker-credential-ecrpy-warm.*"))]
    flags = ["--user"] if scope == "user" else []
    done = subprocess.run(
        [analyze, "verify", *flags, *units], capture_output=True, text=True, env=env, check=False
    )
    if "Failed to initialize manager" in done.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {done.stderr.strip()}")
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_timer_spreads_a_fleet_and_is_not_enabled_by_itself() -> None:
    for scope in ("system", "user"):
        timer = (UNITS / scope / "docker-credential-ecrpy-warm.timer").read_text()
        assert "RandomizedDelaySec=" in timer and "OnUnitActiveSec=1h" in timer
        assert "WantedBy=timers.target" in timer  # enabled by a person, into timers.target


@pytest.mark.parametrize("scope", ["system", "user"])
def test_the_services_command_warms_and_writes_metrics(
    helper: Helper, ecr: StandIn, home: Path, scope: str
) -> None:
    """As systemd runs it: ``$ECRPY_WARM_ARGS`` split on whitespace (empty when unset),
    ECRPY_PROMETHEUS_FILE from the environment file."""
    command = exec_start(UNITS / scope / "docker-credential-ecrpy-warm.service")
    assert command[0] == INSTALLED and command[1:3] == ["warm", "--if-due"]
    metrics = home / "ecrpy.prom"
    env = with_env(helper, ECRPY_WARM_ARGS=HOST, ECRPY_PROMETHEUS_FILE=str(metrics))
    argv = [helper.exe]
    for word in command[1:]:
        argv += env[word[1:]].split() if word.startswith("$") else [word]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("refreshed") and HOST in done.stdout
    assert ecr.calls() == 1
    assert "ecrpy_token_expiry_timestamp_seconds{" in metrics.read_text()
