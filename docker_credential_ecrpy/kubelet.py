"""kubelet's credential-provider protocol (``credentialprovider.kubelet.k8s.io/v1``).

kubelet runs the provider for every image that matches ``matchImages`` in its
``CredentialProviderConfig`` and it has no cached answer for: a JSON
``CredentialProviderRequest`` on stdin, a ``CredentialProviderResponse`` on stdout. This
module speaks that protocol on top of the same core as the Docker helper (hostname
parsing, aliases and identities of the configuration file, the token cache, the error
kinds), so one installation serves Docker, podman and Kubernetes nodes alike.

Decisions, and why:

- Answers use ``cacheKeyType: Registry`` (one token serves every image of a registry) and
  a ``cacheDuration`` that ends, rounded down to the minute, before the point at which
  our own cache would refresh the token; so kubelet never holds a token we would already
  have replaced, and never one about to expire. A token served from the cache after a
  failed refresh gets ``0s``: kubelet asks again next time.
- Failures (AWS errors, a bad configuration file, a bad request) are one line on stderr
  and exit status 1, with nothing on stdout: kubelet treats a non-zero exit as failure,
  ignores stdout then, and logs stderr (at ``-v=2``); the pull then goes on without
  credentials from this provider.
- An image whose registry is not ECR (a ``matchImages`` glob wider than ECR), and ECR
  Public when no token can be had, get a successful answer with an empty ``auth`` and
  ``cacheDuration: 0s``: the pull goes on anonymously, as with Docker's "credentials not
  found", without an error in kubelet's log for every pull.
- The request's apiVersion is echoed: v1 (Kubernetes 1.26+) and the older v1beta1 and
  v1alpha1 have the same fields. Any other apiVersion is an error that says which ones
  are spoken, since kubelet would ignore an answer in the wrong version.
"""

from __future__ import annotations

import json
import os
import sys
import time

from . import __version__, errors, protocol
from .policy import refresh_point
from .store import EcrStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO, TextIO

    from .cache import Entry
    from .policy import Deadline
    from .settings import Settings

GROUP = "credentialprovider.kubelet.k8s.io"
API_VERSION = f"{GROUP}/v1"
API_VERSIONS = (API_VERSION, f"{GROUP}/v1beta1", f"{GROUP}/v1alpha1")
PROGRAM = "ecr-credential-provider-py"
USAGE = f"""\
Usage: {PROGRAM}

A kubelet image credential provider for Amazon ECR: reads a CredentialProviderRequest on
stdin and writes a CredentialProviderResponse on stdout. See docs/kubelet.md.
"""
NO_CACHE = "0s"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ecr-credential-provider-py`` and ``docker-credential-ecrpy kubelet``."""
    args = sys.argv[1:] if argv is None else argv
    return errors.guarded(lambda: _main(args), PROGRAM)


def _main(args: list[str]) -> int:
    if args and args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    if args and args[0] in ("-v", "--version", "version"):
        sys.stdout.write(f"{PROGRAM} {__version__}\n")
        return 0
    if args:
        sys.stderr.write(f"{PROGRAM}: unexpected arguments {args!r}; it takes none\n")
        return 1
    store, status = None, 0
    answered: list[errors.HelperError] = []  # the failure answered, for the activity log
    try:
        store = EcrStore.from_env(os.environ, sys.stderr, PROGRAM)
        response = serve(sys.stdin.buffer, store, sys.stderr, answered.append)
    except errors.HelperError as err:
        answered.append(err)
        sys.stderr.write(f"{PROGRAM}: {err.message}\n")
        status = 1
    except Exception as err:  # a bug too is for kubelet's log, with nothing on stdout
        sys.stderr.write(errors.internal_error(err, PROGRAM) + "\n")
        return 1
    else:
        sys.stdout.write(response)
    if store is not None:
        store.log_activity("get", answered[0] if answered else None)  # after the answer
    return status


def serve(
    stdin: BinaryIO,
    store: EcrStore,
    stderr: TextIO,
    failed: Callable[[errors.HelperError], None] | None = None,
) -> str:
    """The response document (JSON text) for the request on stdin. ``failed`` hears of a
    registry answered with no credentials (not ECR, or no ECR Public token), as Docker's
    protocol tells of a "not found"."""
    api_version, image = read_request(stdin, store.deadline)
    host = image_registry(image)
    auth: dict[str, dict[str, str]] = {}
    duration = NO_CACHE
    try:
        entry = store.entry(host)
    except errors.CredentialsNotFound as err:
        if failed is not None:
            failed(err)
        if err.hint:
            stderr.write(err.hint.rstrip("\n") + "\n")
    else:
        auth[host] = {"username": entry.username, "password": entry.secret}
        duration = go_duration(cache_seconds(entry, store.settings, time.time()))
    response: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": "CredentialProviderResponse",
        "cacheKeyType": "Registry",
        "cacheDuration": duration,
        "auth": auth,
    }
    return json.dumps(response) + "\n"


def read_request(stdin: BinaryIO, deadline: Deadline | None = None) -> tuple[str, str]:
    """(apiVersion, image) of the request, read by ``deadline`` when one is given (see
    ``protocol.read_input``); BadInput for anything else."""
    text = protocol.read_input(stdin, "a JSON CredentialProviderRequest", deadline=deadline)
    try:
        request = json.loads(text)
    except (ValueError, RecursionError):  # nesting deeper than the parser follows
        raise errors.BadInput(
            "stdin is not a JSON CredentialProviderRequest (this mode is for kubelet; "
            "Docker runs `docker-credential-ecrpy get`)"
        ) from None
    if not isinstance(request, dict):
        raise errors.BadInput("the CredentialProviderRequest on stdin is not a JSON object")
    api_version = request.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise errors.BadInput(
            f"unsupported apiVersion {api_version!r} in the CredentialProviderRequest; "
            f"this provider speaks {', '.join(API_VERSIONS)}: set apiVersion "
            f"{API_VERSION} for it in kubelet's CredentialProviderConfig"
        )
    kind = request.get("kind", "CredentialProviderRequest")
    if kind != "CredentialProviderRequest":
        raise errors.BadInput(f"expected kind CredentialProviderRequest on stdin, not {kind!r}")
    image = request.get("image")
    if not isinstance(image, str) or not image.strip() or not image.isprintable():
        raise errors.BadInput("the CredentialProviderRequest has no image")
    return str(api_version), image.strip()


def image_registry(image: str) -> str:
    """The registry host of an image reference, as the auth key kubelet matches on:
    the first path component when it looks like a host (has a dot or a port, or is
    localhost), else Docker Hub."""
    name = image.split("@", 1)[0]
    first, slash, _ = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


def cache_seconds(entry: Entry, settings: Settings, now: float) -> float:
    """How long kubelet may keep the token: until our own refresh point."""
    return refresh_point(entry, settings.refresh_window) - now


def go_duration(seconds: float) -> str:
    """A Go ``time.Duration`` string, rounded down to the minute (to the second under
    one minute): ``5h59m0s``, ``42m0s``, ``30s``, ``0s``."""
    total = int(seconds)
    if total <= 0:
        return NO_CACHE
    if total >= 60:
        total -= total % 60
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
