"""Docker's credential-helper protocol, and nothing about AWS.

The client runs ``docker-credential-<name> <action>``, writes the input on stdin and reads
stdout; stderr goes straight to the user's terminal. Success is exit 0 with the answer on
stdout; failure is exit 1 with one line on stdout, which skopeo and podman show inside
their own error (``credentials not found in native keychain`` alone means "go on
anonymously"). The docker CLI drops that line on pull and push, so failures other than
"not found" are repeated on stderr.
This module owns that contract, as ``credentials/`` does in docker-credential-helpers;
what a store does for each action is the ``Store`` given to ``serve``.

The ``get`` answer, three short strings, is written without ``json`` (see the package
docstring).

Reading the input is part of the get's deadline: Docker writes the server URL and closes
stdin, but some clients write ``host\n`` and keep stdin open. A server URL is one line,
so an input that arrives ending in a newline is answered at once; any other wait for the
end of the input ends at the deadline with one line that says so.
"""

from __future__ import annotations

import time

from . import PROGRAM, errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO, Protocol, TextIO

    class Store(Protocol):
        """What a credential store does for each action."""

        def get(self, server_url: str) -> tuple[str, str]:
            """(username, secret) for the server, or raise CredentialsNotFound."""

        def add(self, server_url: str, username: str, secret: str) -> None: ...

        def delete(self, server_url: str) -> None: ...

        def list(self) -> dict[str, str]:
            """Server URL -> username, from local state only."""

    from .policy import Deadline


ACTIONS = ("get", "store", "erase", "list")
# Larger than any server URL, store document or kubelet request a client sends, small
# enough that a runaway writer cannot make us buffer megabytes.
MAX_INPUT = 64 * 1024
CREDENTIALS = "a JSON credentials document"


def serve(
    action: str,
    stdin: BinaryIO,
    stdout: TextIO,
    stderr: TextIO,
    store: Store,
    failed: Callable[[errors.HelperError], None] | None = None,
    deadline: Deadline | None = None,
) -> int:
    """Run one protocol action; the exit status for the process. ``failed`` hears of the
    failure answered, if any (the activity log says what it was). ``deadline``, when
    given, is the action's: the input must have come by then."""
    try:
        if action == "get":
            server_url = _read_server_url(stdin, deadline)
            username, secret = store.get(server_url)
            stdout.write(
                f'{{"ServerURL":{json_string(server_url)},'
                f'"Username":{json_string(username)},'
                f'"Secret":{json_string(secret)}}}\n'
            )
        elif action == "store":
            server_url, username, secret = _read_credentials(stdin, deadline)
            store.add(server_url, username, secret)
        elif action == "erase":
            store.delete(_read_server_url(stdin, deadline))
        elif action == "list":
            import json  # noqa: PLC0415 - off the get path

            # Clients send "unused"; drain it so they never block.
            read_input(stdin, deadline=deadline)
            stdout.write(json.dumps(store.list()) + "\n")
        else:
            raise errors.HelperError(f"unknown credential action `{action}`")
    except errors.HelperError as err:
        if failed is not None:
            failed(err)
        stdout.write(err.message + "\n")
        if not isinstance(err, errors.CredentialsNotFound):
            # `docker pull` and `push` drop the helper's stdout on failure and go on
            # without credentials; stderr is all their user will see of the cause.
            stderr.write(f"{PROGRAM}: {err.message}\n")
        if err.hint:
            stderr.write(err.hint.rstrip("\n") + "\n")
        return 1
    return 0


def read_input(
    stdin: BinaryIO,
    expected: str = "a registry server URL",
    *,
    line: bool = False,
    deadline: Deadline | None = None,
) -> str:
    """The whole input as text: bounded, UTF-8, without NUL bytes; BadInput naming what
    was ``expected`` otherwise. The kubelet provider reads its request the same way.

    With ``line``, input that arrives ending in a newline is whole: nothing more is
    waited for. With ``deadline``, a wait for more input ends then, with BadInput.
    """
    data = _read(stdin, line) if deadline is None else _read_by(stdin, line, deadline, expected)
    if len(data) > MAX_INPUT:
        raise errors.BadInput(
            f"input on stdin is larger than {MAX_INPUT // 1024} KiB; expected {expected}"
        )
    if b"\0" in data:
        raise errors.BadInput(f"input on stdin contains NUL bytes; expected {expected}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.BadInput(f"input on stdin is not UTF-8 text; expected {expected}") from None


class _Expired(Exception):
    """The deadline for the input passed (raised by the SIGALRM handler)."""


def _read_by(stdin: BinaryIO, line: bool, deadline: Deadline, expected: str) -> bytes:
    """``_read`` ending at ``deadline``: an interval timer interrupts a read that blocks
    past it. ``_signal``, not ``select`` or ``signal``: the interpreter loaded it at
    start-up, so the hit path imports nothing more for it."""
    import _signal  # type: ignore[import-not-found] # noqa: PLC0415 - loaded at start-up

    def expired(number: int, frame: object) -> None:
        raise _Expired

    previous = _signal.signal(_signal.SIGALRM, expired)
    try:
        _signal.setitimer(_signal.ITIMER_REAL, max(deadline.left(time.monotonic()), 0.001))
        try:
            return _read(stdin, line)
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
    except _Expired:
        raise errors.input_timed_out(deadline.timeout, expected, line) from None
    finally:
        _signal.signal(_signal.SIGALRM, previous)


def _read(stdin: BinaryIO, line: bool) -> bytes:
    """Up to MAX_INPUT + 1 bytes: to the end of the input or, with ``line``, to a chunk
    that ends in a newline (a client that wrote one line and waits for the answer)."""
    read = getattr(stdin, "read1", stdin.read)  # at most one read(2) per call
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_INPUT:
        chunk: bytes = read(MAX_INPUT + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if line and chunk.endswith(b"\n"):
            break
    return b"".join(chunks)


def _read_server_url(stdin: BinaryIO, deadline: Deadline | None = None) -> str:
    server_url = read_input(stdin, line=True, deadline=deadline).strip()
    if not server_url:
        raise errors.HelperError(errors.MISSING_SERVER_URL)
    if not server_url.isprintable():
        raise errors.BadInput("server URL on stdin contains control characters")
    return server_url


def _read_credentials(stdin: BinaryIO, deadline: Deadline | None) -> tuple[str, str, str]:
    """The JSON document ``docker login`` sends to ``store``."""
    import json  # noqa: PLC0415 - off the get path

    try:
        document = json.loads(read_input(stdin, CREDENTIALS, deadline=deadline))
    except (ValueError, RecursionError):  # nesting deeper than the parser follows
        raise errors.BadInput(f"store expects {CREDENTIALS} on stdin") from None
    if not isinstance(document, dict):
        raise errors.BadInput(f"store expects {CREDENTIALS} on stdin")
    fields = [document.get(name) or "" for name in ("ServerURL", "Username", "Secret")]
    if not all(isinstance(value, str) for value in fields):
        raise errors.BadInput("store: ServerURL, Username and Secret must be strings")
    server_url, username, secret = (str(value) for value in fields)
    if not server_url.strip():
        raise errors.HelperError(errors.MISSING_SERVER_URL)
    if not username:
        raise errors.HelperError(errors.MISSING_USERNAME)
    return server_url.strip(), username, secret


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def json_string(value: str) -> str:
    """A JSON string literal, as ``json.dumps`` would write it (without its import): for
    the answer, and for the activity log's lines."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # a token (some 2 KB of base64), a hostname: nothing to escape
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif not " " <= char <= "~":
            code = ord(char)
            if code > 0xFFFF:  # JSON escapes astral characters as a surrogate pair
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
