"""Fixtures for the end-to-end tests: one real environment per session (see
tests/support/environment.py)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.environment import Environment


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@pytest.fixture(scope="session")
def e2e(request: pytest.FixtureRequest) -> Iterator[Environment]:
    """The environment, set up once for the session and always torn down."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def log(message: str) -> None:
        # Shown live despite output capture, so that a slow apt-get install is visible
        # and the reason a part cannot run is printed.
        if reporter is None or capture is None:
            print(f"[e2e] {message}", file=sys.stderr)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"[e2e] {message}")

    env = Environment(log=log)
    # A CI timeout or a kill sends SIGTERM: make it an interrupt, so that pytest still runs
    # this fixture's teardown (a SIGKILL is cleaned up by the next run instead).
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        env.up()
        if any(state is not None for state in env.status.values()):
            log("parts that are not ready:\n" + env.summary())
        yield env
    finally:
        env.down()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A cache directory of the test's own that does not exist yet: the helper makes it."""
    return tmp_path / "ecr-cache"


@pytest.fixture
def world(e2e: Environment) -> Iterator[Environment]:
    """The stand-ins with zero calls and no faults, before and after the test."""
    e2e.require("standin")
    tls = e2e.ready("standin_tls")
    e2e.reset_standin()
    if tls:
        e2e.reset_standin(tls=True)
    yield e2e
    e2e.reset_standin()
    if tls:
        e2e.reset_standin(tls=True)
