"""Docker's protocol in isolation: ``protocol.serve`` with a plain in-memory store.

The protocol module knows nothing of AWS, so it is tested without it; the same behaviour
through the installed executable and the ECR store is in ``test_helper_protocol.py``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy import errors, policy, protocol


class MemoryStore:
    def __init__(self) -> None:
        self.saved: dict[str, tuple[str, str]] = {}

    def get(self, server_url: str) -> tuple[str, str]:
        if server_url not in self.saved:
            raise errors.CredentialsNotFound()
        return self.saved[server_url]

    def add(self, server_url: str, username: str, secret: str) -> None:
        self.saved[server_url] = (username, secret)

    def delete(self, server_url: str) -> None:
        if self.saved.pop(server_url, None) is None:
            raise errors.CredentialsNotFound()

    def list(self) -> dict[str, str]:
        return {url: user for url, (user, _) in self.saved.items()}


def serve(action: str, data: bytes, store: MemoryStore) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = protocol.serve(action, io.BytesIO(data), stdout, stderr, store)
    return status, stdout.getvalue(), stderr.getvalue()


def test_store_get_list_erase_round_trip() -> None:
    store = MemoryStore()
    document = {"ServerURL": "https://r.example", "Username": "u", "Secret": "s"}
    assert serve("store", json.dumps(document).encode() + b"\n", store) == (0, "", "")
    status, out, _ = serve("get", b"https://r.example", store)
    assert status == 0
    assert json.loads(out) == document
    assert json.loads(serve("list", b"unused", store)[1]) == {"https://r.example": "u"}
    assert serve("erase", b"https://r.example\n", store)[0] == 0
    assert serve("get", b"https://r.example", store)[:2] == (1, errors.NOT_FOUND + "\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", errors.MISSING_SERVER_URL),
        (b"  \n", errors.MISSING_SERVER_URL),
        (b"host\x00name", "input on stdin contains NUL bytes"),
        (b"\xff\xfe\x00junk", "input on stdin contains NUL bytes"),
        (b"\xff\xfejunk", "input on stdin is not UTF-8 text"),
        (b"x" * (protocol.MAX_INPUT + 1), "input on stdin is larger than 64 KiB"),
        (b"host\x1bname", "server URL on stdin contains control characters"),
    ],
)
def test_bad_input_is_one_clear_line(data: bytes, message: str) -> None:
    status, out, _ = serve("get", data, MemoryStore())
    assert status == 1
    assert out.startswith(message)
    assert out.count("\n") == 1


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"not json", "store expects a JSON credentials document"),
        (b"[1, 2]", "store expects a JSON credentials document"),
        (b'{"ServerURL": 5, "Username": "u"}', "store: ServerURL, Username and Secret"),
        (b'{"Username": "u", "Secret": "s"}', errors.MISSING_SERVER_URL),
        (b'{"ServerURL": "r.example", "Secret": "s"}', errors.MISSING_USERNAME),
    ],
)
def test_store_rejects_bad_documents(document: bytes, message: str) -> None:
    status, out, _ = serve("store", document, MemoryStore())
    assert (status, out.startswith(message)) == (1, True)


def test_hint_goes_to_stderr_and_the_answer_to_stdout() -> None:
    class Hinting(MemoryStore):
        def get(self, server_url: str) -> tuple[str, str]:
            raise errors.CredentialsNotFound("why: explained at length")

    status, out, err = serve("get", b"r.example", Hinting())
    assert (status, out, err) == (1, errors.NOT_FOUND + "\n", "why: explained at length\n")


def test_unknown_action() -> None:
    assert serve("fetch", b"", MemoryStore())[:2] == (1, "unknown credential action `fetch`\n")


@given(st.text())
def test_json_string_matches_the_json_module(value: str) -> None:
    encoded = protocol.json_string(value)
    assert json.loads(encoded) == value
    assert encoded == json.dumps(value)


@given(url=st.text(min_size=1).filter(lambda s: s.strip() and s.isprintable() and "\0" not in s))
def test_any_printable_server_url_round_trips(url: str) -> None:
    store = MemoryStore()
    store.add(url.strip(), "AWS", "s")
    status, out, _ = serve("get", url.encode(), store)
    assert status == 0
    assert json.loads(out)["ServerURL"] == url.strip()


# -- reading the input is part of the deadline ----------------------------------------------


def serve_from_open_pipe(action: str, data: bytes, seconds: float) -> tuple[int, str]:
    """``serve`` reading from a real pipe whose writer wrote ``data`` and stays open, as a
    client that never closes stdin."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)
        with os.fdopen(read_end, "rb") as stdin:
            stdout = io.StringIO()
            store = MemoryStore()
            store.add("r.example", "u", "s")
            deadline = policy.Deadline.starting(time.monotonic(), seconds)
            status = protocol.serve(action, stdin, stdout, io.StringIO(), store, None, deadline)
    finally:
        os.close(write_end)
    return status, stdout.getvalue()


def test_a_server_url_line_is_answered_without_waiting_for_the_end_of_input() -> None:
    status, out = serve_from_open_pipe("get", b"r.example\n", 60.0)
    assert status == 0
    assert json.loads(out)["Secret"] == "s"


@pytest.mark.parametrize(
    ("action", "data", "expected"),
    [("get", b"r.example", "a registry server URL"), ("store", b"{\n", protocol.CREDENTIALS)],
)
def test_input_that_never_ends_ends_at_the_deadline(
    action: str, data: bytes, expected: str
) -> None:
    status, out = serve_from_open_pipe(action, data, 0.3)
    assert status == 1
    end = "a newline or by closing stdin" if action == "get" else "closing stdin"
    assert out == (
        f"timed out after 0.3s reading stdin: expected {expected}, ended by {end}; "
        "ECRPY_TIMEOUT sets the limit\n"
    )
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL  # handler and timer undone
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_two_lines_written_at_once_are_still_refused() -> None:
    status, out = serve_from_open_pipe("get", b"r.example\nother.example\n", 60.0)
    assert status == 1
    assert out.startswith("server URL on stdin contains control characters")
