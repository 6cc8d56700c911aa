"""Real clients through the real helper against a real registry at an ECR hostname.

docker (CLI 28 + Debian dockerd), skopeo, podman and the Docker SDK for Python each pull
from Debian's ``docker-registry`` served at ``123456789012.dkr.ecr.us-east-1.amazonaws.com``
with htpasswd auth; the only way they can get in is the password that the helper obtains
from the ECR API stand-in. tests/support/environment.py builds the world; every test here
starts with zero API calls counted and its own empty token cache.

Secrets never appear in assertion messages: outputs are masked with ``Environment.mask``
and comparisons with the password are made into plain booleans first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.environment import Environment
from tests.support.world import ECR_HOST, IMAGE, REPOSITORY, TAG

pytestmark = pytest.mark.e2e

HELPER_PARTS = ("helper", "standin", "registry", "image", "docker_config")
DENIED_WORDS = ("accessdenied", "not authorized", "access denied")


def ok(
    env: Environment, result: subprocess.CompletedProcess[str], what: str, *, answer: bool = False
) -> str:
    """Assert a client succeeded and printed no secret (only the helper's own ``get``
    ``answer`` may carry it); on failure show its masked output. Returns stdout."""
    leaked = env.mask(result.stdout) != result.stdout and not answer
    leaked = leaked or env.mask(result.stderr) != result.stderr
    assert not leaked, f"{what} printed the registry password"
    if result.returncode != 0:
        pytest.fail(
            f"{what} exited {result.returncode}\n--- stdout\n{env.mask(result.stdout[-3000:])}"
            f"\n--- stderr\n{env.mask(result.stderr[-3000:])}",
            pytrace=False,
        )
    return result.stdout


def docker_rmi(env: Environment, client: dict[str, str], *refs: str) -> None:
    env.run(["docker", "image", "rm", "--force", *refs], client)


def unique_tag() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


# -- docker ----------------------------------------------------------------------------
def test_docker_pull(world: Environment, cache_dir: Path) -> None:
    env = world
    env.require(*HELPER_PARTS, "dockerd")
    client = env.client_env(cache_dir=cache_dir)
    docker_rmi(env, client, IMAGE)
    ok(env, env.run(["docker", "pull", IMAGE], client), "docker pull")
    ok(env, env.run(["docker", "image", "inspect", IMAGE], client), "docker image inspect")
    assert env.calls() == 1
    assert env.cache_files(cache_dir), "the helper cached no token"
    # A second pull is a cache hit: no new API call.
    ok(env, env.run(["docker", "pull", IMAGE], client), "second docker pull")
    assert env.calls() == 1


def test_docker_push(world: Environment, cache_dir: Path) -> None:
    env = world
    env.require(*HELPER_PARTS, "dockerd")
    client = env.client_env(cache_dir=cache_dir)
    ok(env, env.run(["docker", "pull", IMAGE], client), "docker pull")
    tag = unique_tag()
    target = f"{ECR_HOST}/e2e/pushed:{tag}"
    ok(env, env.run(["docker", "tag", IMAGE, target], client), "docker tag")
    ok(env, env.run(["docker", "push", target], client), "docker push")
    # The registry itself (with the password, not through any client) has the new tag.
    assert env.registry_status(f"/v2/e2e/pushed/manifests/{tag}", authenticated=True) == 200
    docker_rmi(env, client, target)


def test_docker_manifest_inspect(world: Environment, cache_dir: Path) -> None:
    env = world
    env.require(*HELPER_PARTS, "dockerd")  # the CLI talks to the registry itself here
    client = env.client_env(cache_dir=cache_dir)
    out = ok(
        env, env.run(["docker", "manifest", "inspect", IMAGE], client), "docker manifest inspect"
    )
    manifest = json.loads(out)
    assert manifest["schemaVersion"] == 2
    assert len(manifest["layers"]) == 1
    assert env.calls() == 1


def test_docker_login_and_logout(world: Environment, cache_dir: Path, tmp_path: Path) -> None:
    env = world
    env.require(*HELPER_PARTS, "dockerd")
    config = env.write_docker_config(tmp_path / "docker-config")  # login edits config.json
    client = env.client_env(cache_dir=cache_dir, docker_config=config)
    # Fill the cache the way docker does, then log in with the same password.
    got = env.run([env.helper, "get"], client, input=ECR_HOST)
    ok(env, got, "docker-credential-ecrpy get", answer=True)
    answer = json.loads(got.stdout)
    assert answer["Username"] == "AWS"
    assert env.cache_files(cache_dir), "get cached no token"
    calls = env.calls()
    login = env.run(
        ["docker", "login", "--username", "AWS", "--password-stdin", ECR_HOST],
        client,
        input=answer["Secret"],
    )
    ok(env, login, "docker login")
    assert "Login Succeeded" in login.stdout
    stored = (config / "config.json").read_text()
    leaked = env.password in stored
    assert not leaked, "docker login stored the password in config.json instead of using the helper"

    logout = env.run(["docker", "logout", ECR_HOST], client)
    ok(env, logout, "docker logout")
    assert env.cache_files(cache_dir) == [], "docker logout left the cached token"
    # The next get has to ask the API again.
    ok(env, env.run(["docker", "pull", IMAGE], client), "docker pull after logout")
    assert env.calls() == calls + 1


def test_non_ecr_registry_pulls_anonymously(
    world: Environment, cache_dir: Path, tmp_path: Path
) -> None:
    """With ``credsStore: ecrpy`` the helper is asked about every registry: for one that is
    not ECR it must answer "credentials not found" so docker goes on anonymously."""
    env = world
    env.require("helper", "standin", "plain_image", "dockerd")
    config = env.write_docker_config(tmp_path / "docker-config", creds_store=True)
    client = env.client_env(cache_dir=cache_dir, docker_config=config)
    ref = f"{env.plain_host}/{REPOSITORY}:{TAG}"
    docker_rmi(env, client, ref)
    ok(env, env.run(["docker", "pull", ref], client), "docker pull from the non-ECR registry")
    assert env.calls() == 0
    # And the helper's own answer for that host is exactly the not-found message.
    result = env.run([env.helper, "get"], client, input=env.plain_host)
    assert result.returncode == 1
    assert result.stdout.strip() == "credentials not found in native keychain"
    docker_rmi(env, client, ref)


def test_throttled_once_still_pulls(world: Environment, cache_dir: Path) -> None:
    env = world
    env.require(*HELPER_PARTS, "dockerd")
    env.fault("ThrottlingException", times=1, message="Rate exceeded")
    client = env.client_env(cache_dir=cache_dir)
    docker_rmi(env, client, IMAGE)
    ok(env, env.run(["docker", "pull", IMAGE], client), "docker pull with one throttled API call")
    assert env.calls() == 2  # the throttled one and its retry


def test_access_denied_is_explained(world: Environment, cache_dir: Path) -> None:
    """docker CLI 28 drops a helper's stdout error on pull (it goes on without credentials),
    so the explanation reaches the user only through the helper's stderr, which docker
    passes through. (dockerd then also falls back to plain HTTP on port 80, since a
    registry on 127.0.0.0/8 counts as insecure, and reports *that* failure.)"""
    env = world
    env.require(*HELPER_PARTS, "dockerd")
    env.fault(
        "AccessDeniedException",
        times=1000,
        message="User: arn:aws:iam::123456789012:user/e2e is not authorized to perform: "
        "ecr:GetAuthorizationToken on resource: * because no identity-based policy allows it",
    )
    client = env.client_env(cache_dir=cache_dir)
    docker_rmi(env, client, IMAGE)
    result = env.run(["docker", "pull", IMAGE], client)
    assert result.returncode != 0, "docker pull succeeded although the API denied access"
    seen = (result.stdout + result.stderr).lower()
    explained = any(word in seen for word in DENIED_WORDS)
    if not explained:
        direct = env.run([env.helper, "get"], client, input=ECR_HOST)
        pytest.fail(
            "docker pull's output does not explain the denial. docker CLI 28 discards the "
            "error a helper prints on stdout when it pulls (it goes on without credentials "
            "and reports the registry's answer instead), so only the helper's stderr reaches "
            "the user: the helper must write its explanation to stderr as well.\n"
            f"--- docker pull stderr\n{env.mask(result.stderr[-1500:])}"
            f"\n--- helper get, stdout (exit {direct.returncode})\n"
            f"{env.mask(direct.stdout[-1500:])}"
            f"\n--- helper get, stderr\n{env.mask(direct.stderr[-1500:])}",
            pytrace=False,
        )
    assert not env.cache_files(cache_dir)


def test_access_denied_is_explained_by_skopeo(world: Environment, cache_dir: Path) -> None:
    """skopeo (like podman) shows the helper's stdout in its error: the explanation itself."""
    env = world
    env.require(*HELPER_PARTS)
    env.fault(
        "AccessDeniedException",
        times=1000,
        message="User: arn:aws:iam::123456789012:user/e2e is not authorized to perform: "
        "ecr:GetAuthorizationToken",
    )
    client = env.client_env(cache_dir=cache_dir)
    result = env.run(["skopeo", "inspect", f"docker://{IMAGE}"], client)
    assert result.returncode != 0
    seen = result.stderr.lower()
    assert "error getting credentials" in seen
    explained = any(word in seen for word in DENIED_WORDS)
    assert explained, (
        f"skopeo's output does not explain the denial:\n{env.mask(result.stderr[-2000:])}"
    )


def test_anonymous_request_is_refused(world: Environment, tmp_path: Path) -> None:
    """Without the helper nobody gets in: the other tests pass because of it."""
    env = world
    env.require("registry", "image", "helper")
    path = f"/v2/{REPOSITORY}/manifests/{TAG}"
    assert env.registry_status(path) == 401
    assert env.registry_status(path, authenticated=True) == 200
    config = env.write_docker_config(tmp_path / "no-helper", helper=False)
    client = env.client_env(docker_config=config)
    if shutil.which("skopeo"):
        result = env.run(["skopeo", "inspect", f"docker://{IMAGE}"], client)
        assert result.returncode != 0
        assert (
            "unauthorized" in result.stderr.lower()
            or "authentication required" in result.stderr.lower()
        )
    if env.ready("dockerd"):
        docker_rmi(env, client, IMAGE)
        result = env.run(["docker", "pull", IMAGE], client)
        assert result.returncode != 0
    assert env.calls() == 0


# -- skopeo ----------------------------------------------------------------------------
def test_skopeo_inspect(world: Environment, cache_dir: Path) -> None:
    env = world
    env.require(*HELPER_PARTS)
    client = env.client_env(cache_dir=cache_dir)
    out = ok(env, env.run(["skopeo", "inspect", f"docker://{IMAGE}"], client), "skopeo inspect")
    info = json.loads(out)
    assert info["Labels"] == {"org.example.e2e": "docker-credential-ecrpy"}
    assert env.calls() == 1


def test_skopeo_copy(world: Environment, cache_dir: Path, tmp_path: Path) -> None:
    """ECR to ECR: the helper answers for the source and the destination."""
    env = world
    env.require(*HELPER_PARTS)
    client = env.client_env(cache_dir=cache_dir)
    tag = unique_tag()
    ok(
        env,
        env.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                f"docker://{IMAGE}",
                f"docker://{ECR_HOST}/e2e/copied:{tag}",
            ],
            client,
        ),
        "skopeo copy",
    )
    assert env.registry_status(f"/v2/e2e/copied/manifests/{tag}", authenticated=True) == 200
    ok(
        env,
        env.run(
            ["skopeo", "copy", "--quiet", f"docker://{IMAGE}", f"dir:{tmp_path / 'out'}"], client
        ),
        "skopeo copy to a directory",
    )
    assert (tmp_path / "out" / "manifest.json").exists()
    assert env.calls() == 1


def test_parallel_skopeo_make_one_api_call(world: Environment, cache_dir: Path) -> None:
    env = world
    env.require(*HELPER_PARTS)
    client = env.client_env(cache_dir=cache_dir)
    procs = [
        subprocess.Popen(
            ["skopeo", "inspect", "--raw", f"docker://{IMAGE}"],
            env=client,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    for result in results:
        ok(env, result, "parallel skopeo inspect")
    assert env.calls() == 1


# -- podman, Docker SDK ---------------------------------------------------------------
def test_podman_pull(world: Environment, cache_dir: Path) -> None:
    env = world
    env.require(*HELPER_PARTS, "podman")
    client = env.client_env(cache_dir=cache_dir)
    env.run(env.podman_argv("rmi", "--force", IMAGE), client)
    ok(env, env.run(env.podman_argv("pull", IMAGE), client), "podman pull")
    out = ok(
        env,
        env.run(env.podman_argv("images", "--format", "{{.Repository}}:{{.Tag}}"), client),
        "podman images",
    )
    assert IMAGE in out.split()
    assert env.calls() == 1


SDK_PULL = """
import docker
client = docker.from_env()
image = client.images.pull("{repo}", tag="{tag}")
print(image.id)
"""


def test_docker_sdk_pull(world: Environment, cache_dir: Path) -> None:
    """The SDK reads DOCKER_CONFIG and runs the helper itself; a child process keeps
    DOCKER_CONFIG and PATH out of the test process."""
    env = world
    env.require(*HELPER_PARTS, "dockerd", "docker_sdk")
    client = env.client_env(cache_dir=cache_dir)
    docker_rmi(env, client, IMAGE)
    code = SDK_PULL.format(repo=f"{ECR_HOST}/{REPOSITORY}", tag=TAG)
    out = ok(env, env.run([sys.executable, "-c", code], client), "Docker SDK pull")
    assert out.strip().startswith("sha256:")
    assert env.calls() == 1


# -- the no-override path: TLS to the real API hostname ------------------------------------
def test_pull_through_real_api_hostname_over_tls(world: Environment, cache_dir: Path) -> None:
    """No AWS_ENDPOINT_URL_ECR: botocore goes to https://api.ecr.us-east-1.amazonaws.com,
    which /etc/hosts sends to the TLS stand-in; AWS_CA_BUNDLE is the test CA."""
    env = world
    env.require(*HELPER_PARTS, "standin_tls", "dockerd")
    client = env.client_env(cache_dir=cache_dir, tls_api=True)
    assert "AWS_ENDPOINT_URL_ECR" not in client
    docker_rmi(env, client, IMAGE)
    started = time.monotonic()
    ok(env, env.run(["docker", "pull", IMAGE], client), "docker pull via the real API hostname")
    assert env.calls(tls=True) == 1
    assert env.calls() == 0
    assert time.monotonic() - started < 60
