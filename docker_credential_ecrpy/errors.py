"""The few kinds of failure a user can see, each as one line that names cause and fix.

That line (on stdout for the client, repeated on stderr for the docker CLI, which drops
stdout on pull and push) is all most users will ever read: it must say what went wrong
and what to do, and it must never carry a secret. Longer explanations go to stderr as a
``hint``. The Go helper folds every failure into "credentials not found"; keeping the
kinds apart here is what lets us do better. Every entry point runs under ``guarded``, so
that nothing else, not even a bug of ours, reaches the user as a traceback.
"""

from __future__ import annotations

import sys

from . import PROGRAM

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

NOT_FOUND = "credentials not found in native keychain"
# How AWS access key ids begin (long-term, temporary, bearer, context keys), what follows,
# and what stands for one in a message.
KEY_ID_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA")
KEY_ID_MASK = "<access key id>"
# What stands for any other secret, and the words that make a ``key = value`` pair's
# value one (``aws_secret_access_key``, ``SessionToken``, ``password``, ``private_key``).
SECRET_MASK = "<secret>"  # noqa: S105 - what stands for one, not one
SECRET_NAMES = (
    "secret",
    "passw",
    "token",
    "session",
    "credential",
    "private.?key",
    "api.?key",
    "auth",
    "signature",
)
# The longest text from outside that goes into a message of ours (a few hundred
# characters: a proxy's 23 KB page is cut to its title long before), the longest message
# of ours, and what marks a line cut short.
OUTSIDE_LIMIT = 300
MESSAGE_LIMIT = 1000
CUT = "..."
# A failure without a message of its own (so that its record still reads back).
NO_REASON = "failed without a reason given"
MISSING_SERVER_URL = "no credentials server URL"
MISSING_USERNAME = "no credentials username"


class HelperError(Exception):
    """A failure reported to the client as one line on stdout with exit status 1."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = one_line(message)
        super().__init__(self.message)
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


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` as one line of at most ``limit`` printable characters: every character
    that is not printable (controls, escapes, BOM, bidi and zero-width marks, unpaired
    surrogates) becomes a space, runs of space one, and a longer line is cut short.

    Idempotent, and what a failure record's reader accepts (``cache``): a message that
    went through it is written and read back unchanged. String operations only: every
    HelperError, the not-found answer's too, passes through it."""
    if not text.isprintable():
        text = "".join(char if char.isprintable() else " " for char in text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: max(limit - len(CUT), 0)].rstrip() + CUT
    return text


def outside(text: str, limit: int = OUTSIDE_LIMIT) -> str:
    """What someone else said (an API's error message or body, botocore's words, a
    ``credential_process``'s stderr), made fit to go into one of our messages: where it
    enters the helper, and nowhere else, since everything downstream (stdout, stderr,
    the failure record, the activity log) repeats our message as it is.

    An HTML page (a proxy's or a WAF's answer) becomes its title; terminal escape
    sequences go; secrets are masked (access key ids, anything that looks like a secret
    key or a token, the value of a ``key = value``, ``key: value`` or ``"key": "value"``
    whose key names a secret); the rest is ``one_line``, at most ``limit`` characters.
    Only a failure pays for ``re``."""
    import re  # noqa: PLC0415 - only a failure pays for it

    text = text[: limit * 64]  # whatever lies beyond is never shown: no work on it
    if re.search(r"<html[\s>]|<!doctype\s+html", text[:2048], re.IGNORECASE):
        found = re.search(r"<title[^>]*>(.*?)</title", text, re.IGNORECASE | re.DOTALL)
        title = found.group(1) if found else ""
        if title.strip():
            import html  # noqa: PLC0415

            text = f"an HTML page titled {one_line(html.unescape(title), limit // 2)!r}"
        else:
            text = "an HTML page without a title"
    text = re.sub(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?", " ", text)
    text = one_line(text, len(text))
    # The value of a pair whose key names a secret (quoted or not; the key a whole word,
    # looked at once, so that no text makes this slow); an access key id; then a long run
    # of base64 with upper case, lower case and digits in it (a secret key is 40, a
    # session token hundreds).
    names = "|".join(SECRET_NAMES)
    text = re.sub(
        rf"""(?i)(?<![\w.-])((["']?)(?=[\w.-]*(?:{names}))[\w.-]+\2\s*[:=]\s*)"""
        r"""(?:"[^"]*"|'[^']*'|[^\s,;}]+)""",
        rf"\1{SECRET_MASK}",
        text,
    )
    text = re.sub(rf"(?:{'|'.join(KEY_ID_PREFIXES)})[A-Z0-9]{{12,}}", KEY_ID_MASK, text)
    text = re.sub(
        r"(?<![\w+/=-])(?=[\w+/-]*[A-Z])(?=[\w+/-]*[a-z])(?=[\w+/-]*[0-9])[\w+/-]{40,}=*"
        r"(?![\w+/=-])",
        SECRET_MASK,
        text,
    )
    return one_line(text, limit)


def expired_when_issued(host: str, expires_at: float, now: float, endpoint: str) -> str:
    """The message for a token that expired before it was issued: this machine's clock is
    wrong, or (when the user configured an endpoint) the endpoint is not a real ECR (a
    plain moto server answers with tokens that expired in 2015)."""
    import time  # noqa: PLC0415 - only this failure pays for it

    def at(instant: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(instant))

    if not endpoint:
        return (
            f"the token for {host} expired at {at(expires_at)}, before it was issued (this "
            f"machine's clock says {at(now)}): check this machine's clock"
        )
    return (
        f"the configured endpoint {endpoint} returned a token for {host} that expired at "
        f"{at(expires_at)}, before this machine's time ({at(now)}): check that the endpoint "
        "(AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC or the "
        "profile's endpoint_url) is a real ECR API, and if it is, this machine's clock"
    )


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


# The end of every message for a bug of ours.
_REPORT_IT = "run with ECRPY_DEBUG=1 for details and please report it"


def worker_crashed(kind: str, doing: str) -> InternalError:
    """The AWS worker raised ``kind``, an exception that is not a classified AWS error:
    a bug of ours (or the SDK's), named by type only (its text could carry a secret)."""
    return InternalError(
        f"getting a token failed with an internal error ({kind}) while {doing}; {_REPORT_IT}"
    )


def timed_out(seconds: float, doing: str) -> DeadlineExceeded:
    """The action ran out of its ``seconds`` (``ECRPY_TIMEOUT``) while ``doing``."""
    return DeadlineExceeded(_timed_out(seconds, doing))


def span(seconds: float) -> str:
    """``45s``, ``12m``, ``5h03m``: how long, for a person (a warning, doctor, warm)."""
    seconds = max(seconds, 0)
    if seconds < 90:
        return f"{seconds:.0f}s"
    minutes = int(seconds // 60)
    if minutes < 90:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def serving_stale(host: str, reason: str, left: str, ago: str = "", retry: str = "") -> str:
    """The warning for a due token served because its refresh failed (``reason``), which
    failed ``ago`` (a recorded failure) or just now, with ``left`` of its validity and
    the next attempt in ``retry``, when a backoff says so."""
    when = f" {ago} ago" if ago else ""
    text = (
        f"refreshing the token for {host} failed{when} ({reason}); using the cached token, "
        f"valid for {left} more"
    )
    return f"{text}; next attempt in {retry}" if retry else text


def without_cache(directory: str, err: Exception) -> str:
    """What is said, once, when cache trouble makes an action give up the token cache
    (``cache.Forgiving``) and go on without it: an unsafe directory's own message, which
    names it, or an OSError's reason with the ``directory`` it came from."""
    reason = (
        f"cache directory {directory}: {err.strerror or err}"
        if isinstance(err, OSError)
        else str(err)
    )
    return f"{reason}; working without the cache"


def warn(stderr: TextIO, program: str, message: str) -> None:
    """A warning of ``program``'s on ``stderr``: something the user may want to fix, on
    an action that goes on."""
    stderr.write(f"{program}: warning: {message}\n")


def lock_not_taken(lock_timeout: float) -> str:
    """The warning of a get that stops waiting for another process's refresh and calls
    AWS itself: a refresher that holds its key's lock this long is likely stuck."""
    return (
        f"could not take the refresh lock within ECRPY_LOCK_TIMEOUT={lock_timeout:g}s "
        "(another process may be stuck); fetching directly"
    )


def input_timed_out(seconds: float, expected: str, line: bool) -> BadInput:
    """The client did not end its input (by closing stdin or, for a ``line``, with a
    newline) within the action's budget."""
    end = "a newline or by closing stdin" if line else "closing stdin"
    return BadInput(_timed_out(seconds, f"reading stdin: expected {expected}, ended by {end}"))


def _timed_out(seconds: float, doing: str) -> str:
    return f"timed out after {seconds:g}s {doing}; ECRPY_TIMEOUT sets the limit"


def from_kind(kind: str, message: str, hint: str = "") -> HelperError:
    """The error of kind ``kind`` (a class name of this module), for a failure reported by
    another process: a refresh worker, or a failure recorded in the cache. An unknown
    kind (a record written by another version) is a plain AwsError."""
    found = globals().get(kind)
    if not (isinstance(found, type) and issubclass(found, AwsError)):
        found = AwsError
    return found(message, hint)


def guarded(run: Callable[[], int], program: str = PROGRAM) -> int:
    """Run an action or a command for ``program``; the exit status. Whatever escapes it
    ends as one line, never a traceback: a HelperError as its message on stdout (its hint
    on stderr), a bug as ``internal_error``, an interrupt as 130, argparse's exit (``--help``,
    a usage error) as its status. Every entry point runs under it: ``cli`` and ``kubelet``.

    stdout is flushed here rather than by the interpreter at exit, where a failure
    (``> /dev/full``, a full disk) would print "Exception ignored" and a traceback and
    exit 120: any failed write to stdout, now or earlier, ends as one line on stderr.
    """
    try:
        try:
            status = run()
        except KeyboardInterrupt:
            status = 130
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
        except HelperError as err:
            sys.stdout.write(err.message + "\n")
            if err.hint:
                sys.stderr.write(err.hint.rstrip("\n") + "\n")
            status = 1
        except Exception as err:  # the last line of defence
            # When err came from writing stdout, this write fails too and says so below.
            sys.stdout.write(internal_error(err, program) + "\n")
            status = 1
        sys.stdout.flush()
    except OSError as err:  # BrokenPipeError included: the reader is gone
        return unwritable_stdout(err, program)
    return status


def internal_error(err: BaseException, program: str = PROGRAM) -> str:
    """The one line for a bug of ours: the exception's type, never its text (which could
    carry a secret). The traceback goes to stderr only when ECRPY_DEBUG asks for it."""
    import os  # noqa: PLC0415 - only a failure pays for it (see files)
    import traceback  # noqa: PLC0415

    if os.environ.get("ECRPY_DEBUG"):
        traceback.print_exception(err)
    return f"{program}: internal error ({type(err).__name__}); {_REPORT_IT}"


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
