"""Text from outside is data: what an API, a proxy in front of it or a
``credential_process`` says is made one bounded printable line without secrets where it
enters the helper (``errors.outside``), and nothing of it reaches the terminal, the
failure record or the activity log raw.

Here the installed executable against the stand-in answering with a proxy's page,
escapes and secrets, alone and 16 at once; the sanitizer itself is tested in-process in
``tests/unit/test_errors.py``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from docker_credential_ecrpy import errors
from tests.support.constants import ALWAYS, HOST
from tests.support.helper import Helper
from tests.support.outside import HOSTILE, PROXY_PAGE, TITLE, random_blob
from tests.support.standin import StandIn
from tests.support.toolkit import failure_records, finish, spawn_gets, with_env

UNSAFE = ("\x1b", "\ufeff", "\u202e", "\u200b", "\r", "\x07")


# -- an old expiry names the endpoint that gave it ------------------------------------------


def test_an_old_expiry_from_a_configured_endpoint_names_it(helper: Helper, ecr: StandIn) -> None:
    """A plain moto server answers with tokens that expired in 2015: the endpoint the
    user configured (AWS_ENDPOINT_URL_ECR here) is named, with what it returned."""
    ecr.config(ttl=-11 * 365 * 86400.0)
    result = helper.get()
    assert result.returncode == 1
    out = result.stdout
    assert out.startswith(f"the configured endpoint {ecr.url} returned a token for {HOST}"), out
    assert "that expired at 20" in out and "AWS_ENDPOINT_URL_ECR" in out
    assert "clock" in out  # and if the endpoint is genuine, the clock is wrong


# -- the executable, against the stand-in --------------------------------------------------


def check_line(out: str) -> str:
    """The one line of a failed get: bounded, printable, nothing raw from outside."""
    assert out.endswith("\n") and out.count("\n") == 1, out[:500]
    line = out[:-1]
    assert len(line) <= errors.MESSAGE_LIMIT and line.isprintable(), line[:500]
    return line


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["proxy page", "hostile message"])
def test_16_gets_against_an_unsafe_answer_make_one_call(
    helper: Helper, ecr: StandIn, answer: str
) -> None:
    """The failure is recorded in a form that reads back, so the 15 others take it rather
    than ask again; each says one bounded printable line, and doctor shows the failure."""
    if answer == "proxy page":
        ecr.fault(body=PROXY_PAGE, status=403, times=ALWAYS)
        expected = f"ecr:GetAuthorizationToken failed with HTTP 403: an HTML page titled {TITLE!r}"
    else:
        ecr.fault("InvalidParameterException", message=HOSTILE, times=ALWAYS)
        expected = (
            "ecr:GetAuthorizationToken failed with InvalidParameterException: "
            "request refused by policy gateway see logs"
        )
    results = finish(helper, spawn_gets(helper, 16))
    assert ecr.calls() == 1
    for result in results:
        assert result.returncode == 1
        assert check_line(result.stdout).startswith(expected), result.stdout
        assert all(c not in result.stdout + result.stderr for c in UNSAFE)
        assert "<html" not in result.stdout + result.stderr
    (record,) = failure_records(helper.cache_dir)
    assert record.message == expected
    doctor = helper.run("doctor", "--tokens", stdin="")
    assert f"last refresh failed 0s ago (AwsError): {expected}" in doctor.stdout
    assert all(c not in doctor.stdout + doctor.stderr for c in UNSAFE)
    logged = [line for line in helper.log_lines() if line["outcome"] == "error"]
    assert len(logged) == 16 and all(line["message"].startswith(expected) for line in logged)


def test_a_failing_credential_process_keeps_its_secrets(helper: Helper, home: Path) -> None:
    """It fails printing secrets on stderr: none reaches stdout, stderr, the failure
    record or the activity log; what it said besides is kept, the user needs it."""
    values = {
        "pair": secrets.token_urlsafe(30),
        "variable": random_blob(300),
        "json": secrets.token_urlsafe(30),
        "blob": random_blob(),
    }
    script = home / "vault-login"
    script.write_text(
        "#!/bin/sh\n"
        "echo 'vault: login failed for role ci' >&2\n"
        f"echo 'aws_secret_access_key = {values['pair']}' >&2\n"
        f"echo 'AWS_SESSION_TOKEN={values['variable']}' >&2\n"
        f'echo \'{{"SecretAccessKey": "{values["json"]}"}}\' >&2\n'
        f"echo 'last response {values['blob']}' >&2\n"
        "exit 1\n"
    )
    script.chmod(0o755)
    (home / ".aws" / "config").write_text(f"[profile vault]\ncredential_process = {script}\n")
    env = with_env(helper, AWS_PROFILE="vault", AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
    result = helper.get(env=env)
    assert result.returncode == 1
    line = check_line(result.stdout)
    assert "vault: login failed for role ci" in line
    assert "aws_secret_access_key = <secret>" in line
    everything = [result.stdout, result.stderr, helper.log_path.read_text()]
    everything += [path.read_text() for path in helper.cache_dir.iterdir()]
    for name, value in values.items():
        assert all(value not in text for text in everything), f"the {name} secret leaked"
    (record,) = failure_records(helper.cache_dir)
    assert record.message == line
