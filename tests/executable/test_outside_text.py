"""Text from outside is data: what an API, a proxy in front of it or a
``credential_process`` says is made one bounded printable line without secrets where it
enters the helper (``errors.outside``), and nothing of it reaches the terminal, the
failure record or the activity log raw.

The functions first, then the installed executable against the stand-in answering with
a proxy's page, escapes and secrets, alone and 16 at once.
"""

from __future__ import annotations

import base64
import io
import secrets
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy import errors, registry
from docker_credential_ecrpy.aws import Token
from docker_credential_ecrpy.settings import Settings
from docker_credential_ecrpy.tokens import TokenSource
from tests.support.standin import StandIn, proxy_page

from .conftest import HOST, Helper
from .toolkit import failure_records, finish, spawn_gets, with_env

ALWAYS = 10**6
TITLE = "Request blocked by the firewall"
# What a WAF answers the token call with: 23 KB of HTML, the reason in its title.
PROXY_PAGE = proxy_page(TITLE)
# An API message with a BOM, terminal escapes (colour, a window title, a clear screen),
# a bidi override and a zero-width space in it.
HOSTILE = (
    "\ufeffrequest \x1b[31mrefused\x1b[0m\x1b]0;owned\x07 by \u202epolicy\u200b "
    "gateway\x1b[2J\r\nsee\tlogs"
)
UNSAFE = ("\x1b", "\ufeff", "\u202e", "\u200b", "\r", "\x07")


def random_blob(size: int = 48) -> str:
    """A token-like run of base64 with upper case, lower case and digits in it."""
    while True:
        blob = base64.b64encode(secrets.token_bytes(size)).decode()
        if all(any(test(c) for c in blob) for test in (str.isupper, str.islower, str.isdigit)):
            return blob


# -- the sanitizer -------------------------------------------------------------------------


def test_a_proxy_page_becomes_its_title() -> None:
    assert len(PROXY_PAGE) > 23_000
    assert errors.outside(PROXY_PAGE) == f"an HTML page titled {TITLE!r}"
    untitled = "<html><body>" + "blocked " * 3000 + "</body></html>"
    assert errors.outside(untitled) == "an HTML page without a title"


def test_escapes_and_invisible_characters_go() -> None:
    assert errors.outside(HOSTILE) == "request refused by policy gateway see logs"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("aws_secret_access_key = {s}", "aws_secret_access_key = <secret>"),
        ("AWS_SESSION_TOKEN={s} was rejected", "AWS_SESSION_TOKEN=<secret> was rejected"),
        ('{{"SecretAccessKey": "{s}", "Expiration": "x"}}', '"SecretAccessKey": <secret>'),
        ("vault: password: {s}; try again", "password: <secret>; try again"),
        ("private_key='{s}'", "private_key=<secret>"),
        ("the token {b} is invalid", "the token <secret> is invalid"),
        ("key {k} is not authorized", "key <access key id> is not authorized"),
    ],
)
def test_secrets_are_masked(text: str, kept: str) -> None:
    secret = "hunter2-" + secrets.token_hex(8)
    blob = random_blob()
    key_id = "AS" + "IA" + secrets.token_hex(8).upper()  # built: no key id in the tree
    made = errors.outside(text.format(s=secret, b=blob, k=key_id))
    assert kept in made
    for value in (secret, blob, key_id):
        assert value not in made


def test_words_that_are_no_secret_stay() -> None:
    """An AWS denial, a path and an ARN are what the user needs to read."""
    text = (
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
        "ecr:GetAuthorizationToken on resource: * (/opt/vault/bin/credential-helper)"
    )
    assert errors.outside(text) == text


def test_long_text_is_cut() -> None:
    made = errors.outside("token " * 100_000 + "end")
    assert len(made) == errors.OUTSIDE_LIMIT and made.endswith(errors.CUT)
    # Texts on which a backtracking pattern would take minutes, not milliseconds.
    for text in ("token" * 200_000, "a=" * 200_000, "aB1" * 200_000, "password:" * 100_000):
        assert len(errors.outside(text)) <= errors.OUTSIDE_LIMIT


ANY_TEXT = st.text(st.characters(exclude_categories=()))  # lone surrogates too


@given(ANY_TEXT | st.text(min_size=2000) | st.builds(lambda a, b: a * 5000 + b, ANY_TEXT, ANY_TEXT))
def test_whatever_comes_in_one_bounded_printable_line_goes_out(text: str) -> None:
    made = errors.outside(text)
    assert len(made) <= errors.OUTSIDE_LIMIT
    assert made.isprintable() and made == made.strip()
    assert errors.one_line(made) == made
    made.encode()  # no lone surrogate


# -- an old expiry names the endpoint that gave it ------------------------------------------


def test_an_old_expiry_from_aws_itself_is_the_clock(tmp_path: Path) -> None:
    stderr = io.StringIO()

    def fetch(*_: object) -> Token:
        return Token("AWS", "secret", 1420070400.0)  # 2015-01-01, from AWS's own endpoint

    source = TokenSource(
        Settings(str(tmp_path / "cache")), {"HOME": str(tmp_path)}, stderr, fetch=fetch
    )
    target = registry.parse(HOST)
    assert target is not None
    with pytest.raises(errors.BadToken) as raised:
        source.get(target)
    assert "2015-01-01 00:00:00 UTC" in raised.value.message
    assert raised.value.message.endswith("check this machine's clock")
    assert "endpoint" not in raised.value.message


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
