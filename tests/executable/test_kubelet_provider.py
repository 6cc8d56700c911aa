"""kubelet mode: CredentialProviderRequest in, CredentialProviderResponse out, both checked
against the ``credentialprovider.kubelet.k8s.io/v1`` schema, through the installed
``ecr-credential-provider-py`` (and ``docker-credential-ecrpy kubelet``) against the stand-in."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.support.constants import HOST
from tests.support.helper import Helper
from tests.support.kubelet import V1, provider_commands, request, response, run_provider, seconds
from tests.support.standin import StandIn
from tests.support.toolkit import run_with_stdin_open, wait_until, with_env


def test_answers_for_an_ecr_image_within_the_refresh_point(helper: Helper, ecr: StandIn) -> None:
    for command in provider_commands(helper):
        document = response(run_provider(helper, request(f"{HOST}/app:1.2"), command=command))
        assert document["cacheKeyType"] == "Registry"
        assert document["auth"] == {HOST: {"username": "AWS", "password": ecr.password}}
        # The token lives 12 h and our cache refreshes it at half-life: kubelet must
        # drop it before then, and should keep it almost that long.
        assert 6 * 3600 - 180 <= seconds(document["cacheDuration"]) < 6 * 3600
        assert document["cacheDuration"].endswith("m0s")
    assert ecr.calls() == 1, "the second run was a cache hit"


def test_shares_the_cache_with_docker_get(helper: Helper, ecr: StandIn) -> None:
    response(run_provider(helper, request(f"{HOST}/team/app@sha256:{'a' * 64}")))
    assert helper.answer(HOST)["Secret"] == ecr.password
    assert ecr.calls() == 1


def test_cache_duration_follows_the_refresh_window(helper: Helper, ecr: StandIn) -> None:
    env = {**helper.env, "ECRPY_REFRESH_WINDOW": "1h"}
    document = response(run_provider(helper, request(f"{HOST}/app"), env=env))
    assert 11 * 3600 - 180 <= seconds(document["cacheDuration"]) < 11 * 3600


def test_short_lived_token_gets_a_short_duration(helper: Helper, ecr: StandIn) -> None:
    ecr.control("config", {"ttl": 600})
    document = response(run_provider(helper, request(f"{HOST}/app")))
    assert document["cacheDuration"] == "4m0s"


def test_alias_image(helper: Helper, ecr: StandIn, home: Path) -> None:
    path = home / "ecrpy.toml"
    path.write_text(
        '[registries."registry.example.com"]\naccount = "123456789012"\nregion = "eu-west-1"\n'
    )
    env = {**helper.env, "ECRPY_CONFIG": str(path)}
    document = response(run_provider(helper, request("registry.example.com/app:1"), env=env))
    assert list(document["auth"]) == ["registry.example.com"]


@pytest.mark.parametrize(
    "image", ["nginx:1.27", "library/nginx", "ghcr.io/org/app:1", "localhost:5000/app"]
)
def test_other_registries_get_an_empty_answer(helper: Helper, ecr: StandIn, image: str) -> None:
    document = response(run_provider(helper, request(image)))
    assert document["auth"] == {}
    assert document["cacheDuration"] == "0s"
    assert ecr.calls() == 0


def test_ecr_public(helper: Helper, ecr: StandIn) -> None:
    document = response(run_provider(helper, request("public.ecr.aws/nginx/nginx:latest")))
    assert document["auth"]["public.ecr.aws"]["password"] == ecr.password
    assert ecr.calls("ecr-public:GetAuthorizationToken") == 1


def test_ecr_public_failure_falls_back_to_anonymous(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("AccessDeniedException", times=5)
    result = run_provider(helper, request("public.ecr.aws/nginx/nginx:latest"))
    document = response(result)
    assert document["auth"] == {} and document["cacheDuration"] == "0s"
    assert "anonymously" in result.stderr


def test_older_api_versions_are_answered_in_kind(helper: Helper, ecr: StandIn) -> None:
    version = "credentialprovider.kubelet.k8s.io/v1beta1"
    result = run_provider(helper, request(f"{HOST}/app", api_version=version))
    assert result.returncode == 0
    assert json.loads(result.stdout)["apiVersion"] == version


def test_aws_failure_is_one_line_on_stderr(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("ThrottlingException", times=10)
    result = run_provider(helper, request(f"{HOST}/app"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "throttled" in result.stderr


@pytest.mark.parametrize(
    ("stdin", "named"),
    [
        (request(f"{HOST}/app", "credentialprovider.kubelet.k8s.io/v2"), "unsupported apiVersion"),
        (json.dumps({"kind": "CredentialProviderRequest", "image": "x"}), "apiVersion"),
        (json.dumps({"apiVersion": V1, "kind": "CredentialProviderRequest"}), "no image"),
        (json.dumps({"apiVersion": V1, "kind": "Pod", "image": HOST}), "kind"),
        (json.dumps([V1]), "not a JSON object"),
        (HOST, "not a JSON CredentialProviderRequest"),
        (b"\xff\xfe", "not UTF-8 text; expected a JSON CredentialProviderRequest"),
        ("", "not a JSON CredentialProviderRequest"),
        ("x" * 70_000, "larger than"),
        ("[" * 60_000, "not a JSON CredentialProviderRequest"),
        ('{"image": ' + "[" * 30_000, "not a JSON CredentialProviderRequest"),
    ],
)
def test_bad_requests_are_one_line_on_stderr(
    helper: Helper, ecr: StandIn, stdin: str | bytes, named: str
) -> None:
    result = run_provider(helper, stdin)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert named in result.stderr
    assert ecr.calls() == 0


def test_bad_config_file_is_reported(helper: Helper, ecr: StandIn, home: Path) -> None:
    path = home / "ecrpy.toml"
    path.write_text("[registries\n")
    env = {**helper.env, "ECRPY_CONFIG": str(path)}
    result = run_provider(helper, request(f"{HOST}/app"), env=env)
    assert result.returncode == 1
    assert f"{path}:1:" in result.stderr


def test_arguments(helper: Helper) -> None:
    command = provider_commands(helper)[0]
    assert run_provider(helper, "", command=[*command, "--help"]).returncode == 0
    unexpected = run_provider(helper, "", command=[*command, "--frobnicate"])
    assert unexpected.returncode == 1 and "--frobnicate" in unexpected.stderr


# -- pure parts --------------------------------------------------------------------------


def test_a_due_token_is_answered_at_once_and_refreshed_behind(helper: Helper, ecr: StandIn) -> None:
    """As for Docker (see test_weather.py): kubelet never waits on AWS while a usable
    token exists, and is told not to keep a token that is due."""
    ecr.config(ttl=3600)
    env = with_env(helper, ECRPY_REFRESH_WINDOW="2h")
    response(run_provider(helper, request(f"{HOST}/app:1"), env))
    ecr.reset()
    ecr.config(delay=3.0)
    started = time.monotonic()
    document = response(run_provider(helper, request(f"{HOST}/app:1"), env))
    assert time.monotonic() - started < 3.0, "waited for the API"
    assert document["auth"][HOST]["password"] == ecr.password
    assert document["cacheDuration"] == "0s"
    wait_until(lambda: ecr.calls() == 1, 15, "the background refresh")


def test_its_warnings_carry_its_own_name(helper: Helper, ecr: StandIn, home: Path) -> None:
    fifo = home / ".aws" / "config"
    os.mkfifo(fifo, 0o600)
    for command in provider_commands(helper):
        result = run_provider(helper, request(f"{HOST}/app:1"), command=command)
        response(result)
        (line,) = result.stderr.splitlines()
        assert line.startswith("ecr-credential-provider-py: warning: "), line
        assert f"{fifo} is a FIFO" in line


def test_a_request_that_never_ends_ends_at_the_deadline(helper: Helper, ecr: StandIn) -> None:
    """A request whose stdin is never closed: one line at the deadline, not a provider
    that hangs until kubelet kills it."""
    env = {**helper.env, "ECRPY_TIMEOUT": "2s"}
    done = run_with_stdin_open(provider_commands(helper)[0], request(f"{HOST}/app:1").encode(), env)
    status, err = done.returncode, done.stderr
    assert status == 1
    assert err == (
        "ecr-credential-provider-py: timed out after 2s reading stdin: expected a JSON "
        "CredentialProviderRequest, ended by closing stdin; ECRPY_TIMEOUT sets the limit\n"
    )
    assert ecr.calls() == 0
