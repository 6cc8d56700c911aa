"""The suites' fixtures: the ECR API stand-in, the helper wired to it (or to nothing), the
helper whose forked processes are found, and a scratch tree for runs as ``nobody``. What
they run and check (``Helper``) and the names they share are in ``tests/support``."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.helper import Helper, base_env, require_proc
from tests.support.standin import StandIn
from tests.support.toolkit import processes_with


@pytest.fixture(scope="session")
def standin() -> Iterator[StandIn]:
    with StandIn.start(password=f"ecrpy-test-secret-{secrets.token_hex(12)}") as server:
        yield server


@pytest.fixture
def ecr(standin: StandIn) -> StandIn:
    """The stand-in with counts, faults and settings reset for this test."""
    standin.reset()
    return standin


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".aws").mkdir()
    return tmp_path


@pytest.fixture
def helper(home: Path, ecr: StandIn) -> Iterator[Helper]:
    """The helper wired to the stand-in, with its own empty cache and AWS config; its
    activity log checked when the test is done."""
    helper = Helper(base_env(home, ecr), ecr.password)
    yield helper
    helper.check_log()


@pytest.fixture
def offline_helper(home: Path) -> Iterator[Helper]:
    """The helper with no stand-in: any AWS call would fail (endpoint on a closed port)."""
    env = base_env(home, None)
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    helper = Helper(env, "no-secret-in-this-test")
    yield helper
    helper.check_log()


@pytest.fixture
def nobody_home(standin: StandIn) -> Iterator[Path]:
    """A world-readable scratch tree for a run as ``nobody`` (pytest's own tmp is 0700)."""
    if os.geteuid() != 0:
        pytest.skip("running as another user needs root")
    root = Path(tempfile.mkdtemp(prefix="ecrpy-nobody-"))
    try:
        root.chmod(0o755)
        (root / "home" / ".aws").mkdir(parents=True)
        os.chown(root / "home", 65534, 65534)
        yield root
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False)


@pytest.fixture
def marked(helper: Helper) -> Iterator[Helper]:
    """The helper with a marker in its environment, so that every process it forks can
    be found; none may be left when the test ends."""
    require_proc()
    marker = f"ECRPY_TEST_MARK={uuid.uuid4().hex}"
    name, _, value = marker.partition("=")
    helper.env[name] = value
    helper.marker = marker  # type: ignore[attr-defined]
    yield helper
    left = processes_with(marker)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} processes of the helper outlived the test"
