"""errors in-process: the sanitizer of text from outside (``errors.outside``), by which
what an API, a proxy in front of it or a ``credential_process`` says is made one bounded
printable line without secrets where it enters the helper (the installed executable
against such answers is in ``tests/executable/test_outside_text.py``); and ``guarded``,
the one wrapper under which every entry point ends in one line and an exit status."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy import errors
from tests.support.outside import HOSTILE, PROXY_PAGE, TITLE, random_blob

ANY_TEXT = st.text(st.characters(exclude_categories=()))  # lone surrogates too


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


@given(ANY_TEXT | st.text(min_size=2000) | st.builds(lambda a, b: a * 5000 + b, ANY_TEXT, ANY_TEXT))
def test_whatever_comes_in_one_bounded_printable_line_goes_out(text: str) -> None:
    made = errors.outside(text)
    assert len(made) <= errors.OUTSIDE_LIMIT
    assert made.isprintable() and made == made.strip()
    assert errors.one_line(made) == made
    made.encode()  # no lone surrogate


def test_guarded_gives_a_helper_error_as_its_line_and_its_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def run() -> int:
        raise errors.ConfigError("ECRPY_TIMEOUT is not a duration", hint="try 20s\n")

    assert errors.guarded(run, "prog") == 1
    out, err = capsys.readouterr()
    assert out == "ECRPY_TIMEOUT is not a duration\n"
    assert err == "try 20s\n"


def test_guarded_names_a_bug_by_its_type_never_its_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECRPY_DEBUG", raising=False)
    secret = secrets.token_urlsafe(30)

    def run() -> int:
        raise KeyError(secret)

    assert errors.guarded(run, "prog") == 1
    out, err = capsys.readouterr()
    assert out.startswith("prog: internal error (KeyError); ")
    assert out.count("\n") == 1
    assert secret not in out + err


@pytest.mark.parametrize(
    ("escape", "status"),
    [
        (KeyboardInterrupt(), 130),
        (SystemExit(2), 2),  # argparse's usage error
        (SystemExit(None), 0),  # --help
        (SystemExit("stopped"), 1),
    ],
)
def test_guarded_turns_an_exit_or_an_interrupt_into_a_status(
    escape: BaseException, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    def run() -> int:
        raise escape

    assert errors.guarded(run, "prog") == status
    assert capsys.readouterr() == ("", "")


def test_guarded_returns_what_the_action_returns(capsys: pytest.CaptureFixture[str]) -> None:
    def run() -> int:
        print("answer")
        return 0

    assert errors.guarded(run, "prog") == 0
    assert capsys.readouterr().out == "answer\n"
