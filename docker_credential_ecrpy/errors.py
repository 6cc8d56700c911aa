"""The few kinds of failure a user can see, each as one line that names cause and fix.

That line (on stdout for the client, repeated on stderr for the docker CLI, which drops
stdout on pull and push) is all most users will ever read: it must say what went wrong
and what to do, and it must never carry a secret. Longer explanations go to stderr as a
``hint``. The Go helper folds every failure into "credentials not found"; keeping the
kinds apart here is what lets us do better.
"""

from __future__ import annotations

import sys

from . import PROGRAM

NOT_FOUND = "credentials not found in native keychain"
# How AWS access key ids begin (long-term, temporary, bearer, context keys), what follows,
# and what stands for one in a message.
KEY_ID_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA")
_KEY_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
KEY_ID_MASK = "<access key id>"
MISSING_SERVER_URL = "no credentials server URL"
MISSING_USERNAME = "no credentials username"


class HelperError(Exception):
    """A failure reported to the client as one line on stdout with exit status 1."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = " ".join(message.split())
        self.hint = hint


class CredentialsNotFound(HelperError):
    """Docker's own "nothing for this registry" answer: the client goes on anonymously."""

    def __init__(self, hint: str = "") -> None:
        super().__init__(NOT_FOUND, hint)


class BadInput(HelperError):
    """What the client wrote on stdin is not something any client sends."""


class ConfigError(HelperError):
    """A setting of ours (environment variable or configuration file) is invalid."""


class AwsError(HelperError):
    """Getting a token from AWS failed. Subclasses say why, so callers can choose
    (ECR Public falls back to anonymous pulls; a refresh may serve a still-valid token)."""


class NoAwsCredentials(AwsError):
    pass


class SsoLoginRequired(AwsError):
    pass


class AccessDenied(AwsError):
    pass


class Throttled(AwsError):
    pass


class EndpointUnreachable(AwsError):
    pass


class BadToken(AwsError):
    """The API answered, but not with a token we can use."""


class DeadlineExceeded(AwsError):
    """The ``get`` ran out of its time budget (``ECRPY_TIMEOUT``) while waiting on AWS or
    on another process's refresh: a hung ``credential_process``, a silent metadata
    service, an endpoint that trickles its answer."""


class InternalError(AwsError):
    """Getting a token failed in our own machinery: the AWS worker was killed (the OOM
    killer picks the process that loaded botocore) or hit a bug. It says nothing about
    AWS, so it is never recorded nor backed off: the next get tries again. An AwsError
    still, so that a usable cached token is served and ECR Public pulls anonymously."""


def worker_ended(doing: str, signal_number: int) -> InternalError:
    """The AWS worker died before the deadline without an answer (by ``signal_number``;
    0: it exited)."""
    how = f"was killed by signal {signal_number}" if signal_number else "ended unexpectedly"
    cause = " (out of memory?)" if signal_number == 9 else ""  # SIGKILL: the OOM killer's
    return InternalError(
        f"the AWS worker process {how}{cause} while {doing}; this is not an AWS failure, "
        "the next get tries again"
    )


def worker_crashed(kind: str, doing: str) -> InternalError:
    """The AWS worker raised ``kind``, an exception that is not a classified AWS error:
    a bug of ours (or the SDK's), named by type only (its text could carry a secret)."""
    return InternalError(
        f"getting a token failed with an internal error ({kind}) while {doing}; "
        "run with ECRPY_DEBUG=1 for details and please report it"
    )


def masked(message: str) -> str:
    """``message`` with every access key id in it replaced by KEY_ID_MASK: AWS quotes
    them in some of its error messages, and ours repeat those to the user, the failure
    record and the log. String operations, not ``re``: this module is on every path."""
    for prefix in KEY_ID_PREFIXES:
        start = message.find(prefix)
        while start >= 0:
            end = start + len(prefix)
            while end < len(message) and message[end] in _KEY_ID_CHARS:
                end += 1
            if end - start >= 16:
                message = message[:start] + KEY_ID_MASK + message[end:]
                end = start + len(KEY_ID_MASK)
            start = message.find(prefix, end)
    return message


def input_timed_out(seconds: float, expected: str, line: bool) -> BadInput:
    """The client did not end its input (by closing stdin or, for a ``line``, with a
    newline) within the action's budget."""
    end = "a newline or by closing stdin" if line else "closing stdin"
    return BadInput(
        f"timed out after {seconds:g}s reading stdin: expected {expected}, ended by {end}; "
        "ECRPY_TIMEOUT sets the limit"
    )


def from_kind(kind: str, message: str, hint: str = "") -> HelperError:
    """The error of kind ``kind`` (a class name of this module), for a failure reported by
    another process: a refresh worker, or a failure recorded in the cache. An unknown
    kind (a record written by another version) is a plain AwsError."""
    found = globals().get(kind)
    if not (isinstance(found, type) and issubclass(found, AwsError)):
        found = AwsError
    return found(message, hint)


def internal_error(err: BaseException, program: str = PROGRAM) -> str:
    """The one line for a bug of ours: the exception's type, never its text (which could
    carry a secret). The traceback goes to stderr only when ECRPY_DEBUG asks for it."""
    import os  # noqa: PLC0415 - only a failure pays for it (see files)
    import traceback  # noqa: PLC0415

    if os.environ.get("ECRPY_DEBUG"):
        traceback.print_exception(err)
    return (
        f"{program}: internal error ({type(err).__name__}); "
        "run with ECRPY_DEBUG=1 for details and please report it"
    )


def unwritable_stdout(err: OSError, program: str = PROGRAM) -> int:
    """Report that stdout cannot take the output (a full disk, a reader gone); the exit
    status. stderr is the one place left to say so. fd 1 then points at /dev/null, as
    the Python docs advise for SIGPIPE: the interpreter flushes stdout once more at exit,
    and that flush would fail again with "Exception ignored ..." and exit status 120."""
    import contextlib  # noqa: PLC0415 - only a failure pays for it
    import os  # noqa: PLC0415

    with contextlib.suppress(OSError, ValueError):  # no real fd 1 (embedded): nothing to do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    with contextlib.suppress(OSError):  # stderr is gone too: nothing more can be said
        sys.stderr.write(f"{program}: cannot write to stdout: {err.strerror or err}\n")
    return 1
