"""Running the programs of the end-to-end environment: bounded, captured, and in an
environment scrubbed of what would make a result depend on the machine.

A command that must work and does not raises :class:`~tests.support.parts.Broken` with
the end of its output, so the part it belonged to is reported with the cause. Secrets go
to programs on stdin (``input_text``), never on a command line.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.support.parts import Broken

# Variables that must not leak from the machine into the children: proxies would send
# loopback traffic elsewhere, the machine-wide CA variables would hide whether our own
# settings are what makes TLS work, and a PYTHONPATH (``make demo`` sets one) would make
# the helper import another copy of the package than the installed one under test.
SCRUBBED = (
    "PYTHONPATH",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ECR",
    "AWS_ENDPOINT_URL_ECR_PUBLIC",
    "AWS_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "AWS_ECR_CACHE_DIR",
    "AWS_ECR_DISABLE_CACHE",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "REGISTRY_AUTH_FILE",
)


def run(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
    input_text: str | None = None,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a program to its end; with ``check``, a non-zero exit raises :class:`Broken`."""
    result = subprocess.run(
        argv,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input_text if input_text is not None else "",
        cwd=cwd,
    )
    if check and result.returncode != 0:
        raise Broken(
            f"`{' '.join(argv)}` exited {result.returncode}: {tail(result.stderr or result.stdout)}"
        )
    return result


def tail(text: str | None, lines: int = 15) -> str:
    """The end of a program's output: enough to see why it failed, short enough to read."""
    return "\n".join((text or "").strip().splitlines()[-lines:])


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without :data:`SCRUBBED`, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(extra or {})
    return env
