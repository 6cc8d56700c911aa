"""The container engines the clients drive: ``dockerd``, podman, the Docker SDK.

Each runs with state of its own under the work directory (dockerd its socket, data root
and exec root; podman its storage), so nothing of the machine's own engines is used or
changed, and the teardown removes it all with the work directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.commands import clean_env, run, tail
from tests.support.parts import Broken
from tests.support.processes import Supervisor


def start_dockerd(supervisor: Supervisor, directory: Path, docker_host: str) -> None:
    """dockerd without networking of its own (no iptables, no bridge) on ``docker_host``;
    ready when the docker CLI gets an answer from it."""
    directory.mkdir()
    (directory / "daemon.json").write_text("{}\n")
    argv = [
        "dockerd",
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--storage-driver=vfs",
        "--data-root",
        str(directory / "data"),
        "--exec-root",
        str(directory / "x"),
        "-H",
        docker_host,
        "--pidfile",
        str(directory / "docker.pid"),
        "--config-file",
        str(directory / "daemon.json"),
    ]
    log = directory / "dockerd.log"
    supervisor.spawn("dockerd", argv, log=log, env=clean_env())
    env = clean_env({"DOCKER_HOST": docker_host})

    def answers() -> bool:
        return run(["docker", "version"], env=env, check=False, timeout=20).returncode == 0

    supervisor.wait(answers, "dockerd", log, timeout=120)


def podman_argv(directory: Path, *args: str) -> list[str]:
    """podman, rootful, with storage of its own under ``directory``."""
    return [
        "podman",
        "--root",
        str(directory / "root"),
        "--runroot",
        str(directory / "run"),
        "--tmpdir",
        str(directory / "tmp"),
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "none",
        *args,
    ]


def check_podman(directory: Path) -> None:
    directory.mkdir(exist_ok=True)
    result = run(
        podman_argv(directory, "images", "--quiet"), env=clean_env(), check=False, timeout=120
    )
    if result.returncode != 0:
        raise Broken(f"podman does not run: {tail(result.stderr)}")


def check_docker_sdk(docker_host: str) -> None:
    """The SDK, in a child (as the test runs it), talks to our dockerd."""
    code = (
        "import docker, sys; print(docker.DockerClient(base_url=sys.argv[1]).version()['Version'])"
    )
    run([sys.executable, "-c", code, docker_host], env=clean_env(), timeout=60)
