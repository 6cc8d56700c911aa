"""stdout that cannot be written (a full disk, ``> /dev/full``): every action and command
exits 1 with one line on stderr that says so, never a traceback, whether Python buffers
stdout (the error then comes at the flush) or not (``PYTHONUNBUFFERED``: at the write)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.constants import HOST
from tests.support.helper import Helper

KUBELET_REQUEST = json.dumps(
    {
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": "ghcr.io/org/app:1",  # not ECR: a successful, empty answer
    }
)
STORE_OTHER = json.dumps({"ServerURL": "ghcr.io", "Username": "u", "Secret": "s3cret"})

# Each writes something on stdout: (id, arguments, stdin).
RUNS = [
    ("get answer", ["get"], HOST),  # the token, which must not reach stderr instead
    ("get not found", ["get"], "ghcr.io"),
    ("get bad input", ["get"], "\0"),
    ("store refused", ["store"], STORE_OTHER),
    ("erase not found", ["erase"], "ghcr.io"),
    ("list", ["list"], "unused"),
    ("version", ["version"], ""),
    ("help", ["--help"], ""),
    ("configure", ["configure", HOST], ""),
    ("configure help", ["configure", "--help"], ""),
    ("configure bad usage", ["configure", "--frobnicate"], ""),
    ("doctor", ["doctor"], ""),
    ("doctor json", ["doctor", "--json"], ""),
    ("doctor prometheus", ["doctor", "--tokens", "--prometheus"], ""),
    ("warm", ["warm", HOST], ""),
    ("warm json", ["warm", "--json", HOST], ""),
    ("kubelet", ["kubelet"], KUBELET_REQUEST),
    ("kubelet help", ["kubelet", "--help"], ""),
    ("kubelet version", ["kubelet", "--version"], ""),
]


def run(
    helper: Helper, command: list[str], stdin: str, env: dict[str, str], stdout: Any
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, input=stdin.encode(), stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=60
    )
    result = subprocess.CompletedProcess(done.args, done.returncode, "", done.stderr.decode())
    helper.check_no_leak(result)
    return result


def check(
    helper: Helper, command: list[str], stdin: str, env: dict[str, str], program: str
) -> None:
    """Against the same run with a working stdout: exit 1, and stderr is what that run
    printed there, then one line about stdout. (An error that the protocol repeats on
    stderr after writing it to stdout stays when the write is buffered, and is cut
    short when it is not: that failed write ends the run.)"""
    with open("/dev/full", "wb") as full:
        failed = run(helper, command, stdin, env, full)
    normal = run(helper, command, stdin, env, subprocess.DEVNULL)
    assert "Exception ignored" not in failed.stderr, failed.stderr
    assert failed.returncode == 1 and failed.stderr, failed.stderr
    *before, last = failed.stderr.splitlines(keepends=True)
    assert normal.stderr.startswith("".join(before)), failed.stderr
    assert last == f"{program}: cannot write to stdout: No space left on device\n"


@pytest.fixture(params=["buffered", "unbuffered"])
def env(request: pytest.FixtureRequest, helper: Helper, home: Path) -> dict[str, str]:
    docker_dir = home / "dockercfg"
    docker_dir.mkdir()
    path = f"{Path(helper.exe).parent}{os.pathsep}{helper.env['PATH']}"
    env = {**helper.env, "PATH": path, "DOCKER_CONFIG": str(docker_dir)}
    if request.param == "unbuffered":
        env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    ("args", "stdin"), [case[1:] for case in RUNS], ids=[case[0] for case in RUNS]
)
def test_every_action_and_command(
    helper: Helper, env: dict[str, str], args: list[str], stdin: str
) -> None:
    # kubelet mode names itself as kubelet's provider, however it was started.
    program = "ecr-credential-provider-py" if args[0] == "kubelet" else "docker-credential-ecrpy"
    check(helper, [helper.exe, *args], stdin, env, program)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.skipif(bool(os.environ.get("ECRPY_TEST_EXE")), reason="the installed script")
@pytest.mark.parametrize("args", [[], ["--help"], ["--version"]])
def test_kubelet_provider_script(helper: Helper, env: dict[str, str], args: list[str]) -> None:
    check(
        helper,
        [str(Path(sys.executable).parent / "ecr-credential-provider-py"), *args],
        KUBELET_REQUEST,
        env,
        "ecr-credential-provider-py",
    )
