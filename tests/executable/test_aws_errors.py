"""Every failure is one line on stdout naming cause and fix, exit status 1, no traceback
and no secret (the ``Helper`` runner checks the last two on every run). Faults are real
HTTP answers from the stand-in, parsed by botocore."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from docker_credential_ecrpy import errors
from tests.support.constants import HOST
from tests.support.helper import Helper
from tests.support.standin import StandIn


def failure(helper: Helper, host: str = HOST, **kwargs: object) -> str:
    result = helper.get(host, **kwargs)  # type: ignore[arg-type]
    assert result.returncode == 1
    assert result.stdout.count("\n") == 1, result.stdout
    return result.stdout


def test_access_denied_names_the_action(helper: Helper, ecr: StandIn) -> None:
    ecr.fault(
        "AccessDeniedException",
        times=5,
        message="User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
        "ecr:GetAuthorizationToken on resource: *",
    )
    out = failure(helper)
    assert out.startswith("access denied: the AWS identity may not call ecr:GetAuthorizationToken")
    assert "arn:aws:iam::123456789012:user/ci" in out
    assert ecr.calls() == 1  # not retried: retrying cannot help


def test_throttling_once_is_retried(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("ThrottlingException", times=1, message="Rate exceeded")
    assert helper.answer()["Secret"] == helper.secret
    assert ecr.calls() == 2


def test_throttling_throughout_is_retried_within_the_deadline(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("ThrottlingException", times=100, message="Rate exceeded")
    started = time.monotonic()
    out = failure(helper, env={**helper.env, "ECRPY_TIMEOUT": "4s"})
    assert out.startswith("AWS throttled ecr:GetAuthorizationToken in us-east-1 (")
    assert " attempts in " in out
    assert time.monotonic() - started < 4.5
    assert ecr.calls() >= 2


def test_unknown_access_key(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("UnrecognizedClientException", times=5, message="The security token is invalid.")
    assert "AWS rejected the credentials (UnrecognizedClientException)" in failure(helper)


def test_expired_session_credentials(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("ExpiredTokenException", times=5, message="The security token has expired.")
    out = failure(helper)
    assert out.startswith("the AWS session credentials of profile 'default' have expired")
    assert ecr.calls() == 1  # not retried


def test_server_errors_are_retried_then_reported(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("ServerException", status=500, times=10, message="internal")
    out = failure(helper)
    assert "GetAuthorizationToken failed with ServerException" in out
    assert ecr.calls() == 3


def test_malformed_token(helper: Helper, ecr: StandIn) -> None:
    ecr.fault(malformed=True, times=1)
    assert "returned a token that is not of the form user:password" in failure(helper)


def test_no_credentials_anywhere(helper: Helper) -> None:
    env = {k: v for k, v in helper.env.items() if not k.startswith("AWS_ACCESS_KEY_ID")}
    env.pop("AWS_SECRET_ACCESS_KEY")
    started = time.monotonic()
    out = failure(helper, env=env)
    assert out.startswith("no AWS credentials found (looked at environment variables, profile")
    assert time.monotonic() - started < 15  # instance metadata is off: no long waits


def test_missing_profile(helper: Helper) -> None:
    out = failure(helper, env={**helper.env, "AWS_PROFILE": "nosuch"})
    assert out.startswith("AWS profile 'nosuch' is not defined")


def test_expired_sso_session(helper: Helper, home: Path) -> None:
    (home / ".aws" / "config").write_text(
        "[profile dev]\n"
        "sso_start_url = https://example.awsapps.com/start\n"
        "sso_region = us-east-1\n"
        "sso_account_id = 123456789012\n"
        "sso_role_name = Developer\n"
        "region = us-east-1\n"
    )
    env = {**helper.env, "AWS_PROFILE": "dev"}
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    out = failure(helper, env=env)
    assert "SSO session for profile 'dev' has expired" in out
    assert "aws sso login --profile dev" in out


def test_endpoint_unreachable(helper: Helper) -> None:
    out = failure(helper, env={**helper.env, "AWS_ENDPOINT_URL_ECR": "http://127.0.0.1:9"})
    assert out.startswith("cannot reach http://127.0.0.1:9/")


@pytest.mark.slow
def test_a_slow_api_is_waited_for_once_not_asked_again(helper: Helper, ecr: StandIn) -> None:
    """A read that takes long is not a reason to ask again: the server has the request,
    and a second one only adds to its load. The answer comes within the deadline."""
    ecr.fault(delay=5, times=3)
    result = helper.get(env={**helper.env, "ECRPY_TIMEOUT": "10s"}, timeout=40)
    assert result.returncode == 0, result.stdout
    assert ecr.calls() == 1


@pytest.mark.slow
def test_an_api_slower_than_the_deadline_is_one_call_and_one_line(
    helper: Helper, ecr: StandIn
) -> None:
    ecr.fault(delay=30, times=3)
    started = time.monotonic()
    out = failure(helper, env={**helper.env, "ECRPY_TIMEOUT": "4s"}, timeout=40)
    assert out.startswith("timed out after 4s calling ecr:GetAuthorizationToken at http")
    assert time.monotonic() - started < 4 + 1.5
    assert ecr.calls() == 1


def test_public_ecr_falls_back_to_anonymous(helper: Helper, ecr: StandIn) -> None:
    ecr.fault(
        "AccessDeniedException",
        action="GetAuthorizationToken",
        times=5,
        message="not authorized to perform: sts:GetServiceBearerToken",
    )
    result = helper.get("public.ecr.aws")
    assert (result.returncode, result.stdout) == (1, errors.NOT_FOUND + "\n")
    assert "no ECR Public token (access denied" in result.stderr
    assert "pulling anonymously" in result.stderr


@pytest.mark.parametrize(
    ("data", "start"),
    [
        (b"", errors.MISSING_SERVER_URL),
        (b"\x00\x01\x02", "input on stdin contains NUL bytes"),
        (bytes(range(128, 256)), "input on stdin is not UTF-8 text"),
        (b"a" * (5 * 1024 * 1024), "input on stdin is larger than 64 KiB"),
    ],
)
def test_malformed_stdin(helper: Helper, data: bytes, start: str) -> None:
    result = helper.run("get", stdin=data)
    assert result.returncode == 1
    assert result.stdout.startswith(start)


@pytest.mark.parametrize("document", ["[" * 60000, '{"ServerURL": ' + "[" * 30000])
def test_deeply_nested_store_document_is_bad_input(helper: Helper, document: str) -> None:
    """Nesting deeper than Python's JSON reader can follow is bad input, not a bug."""
    result = helper.run("store", stdin=document)
    assert result.returncode == 1
    assert result.stdout == "store expects a JSON credentials document on stdin\n"


@pytest.mark.parametrize(
    ("name", "value"), [("ECRPY_REFRESH_WINDOW", "soon"), ("ECRPY_MIN_VALIDITY", "-5m")]
)
def test_bad_settings(helper: Helper, name: str, value: str) -> None:
    out = failure(helper, env={**helper.env, name: value})
    assert out.startswith(f"{name}={value!r} is not a duration")


@pytest.mark.parametrize(
    ("host", "endpoint", "partition"),
    [
        ("123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", "api.ecr.eusc-de-east-1", "aws-eusc"),
        ("123456789012.dkr.ecr-fips.us-east-2.amazonaws.com", "ecr-fips.us-east-2", "aws"),
        (
            "123456789012.dkr-ecr-fips.us-gov-west-1.on.aws",
            "ecr-fips.us-gov-west-1.api.aws",
            "aws-us-gov",
        ),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "api.ecr.cn-north-1", "aws-cn"),
    ],
)
def test_unreachable_region_names_endpoint_and_partition(
    offline_helper: Helper, host: str, endpoint: str, partition: str
) -> None:
    """Without an endpoint override the real AWS hostname is tried (this machine has no
    route to it): the message shows the endpoint botocore chose from the registry's
    partition, FIPS and dual-stack flags."""
    env = {k: v for k, v in offline_helper.env.items() if not k.startswith("AWS_ENDPOINT_URL")}
    out = failure(offline_helper, host, env=env)
    assert endpoint in out
    assert f"partition {partition})" in out


def test_an_access_key_id_quoted_by_aws_is_masked_everywhere(helper: Helper, ecr: StandIn) -> None:
    key_id = "AK" + "IA" + "Q" * 16  # built here, so no key-id lookalike sits in the tree
    ecr.fault("AccessDeniedException", times=5, message=f"The key {key_id} is not authorized")
    result = helper.get()
    assert result.returncode == 1
    assert "The key <access key id> is not authorized" in result.stdout
    assert key_id not in result.stdout + result.stderr
    for path in helper.cache_dir.iterdir():
        assert key_id.encode() not in path.read_bytes(), path.name
