"""Entry point: the command line to a protocol action or a command, each run under
``errors.guarded`` (whatever escapes is one clear line).

Docker runs ``docker-credential-ecrpy <action>`` for every pull and push, so each
action's and each command's modules are imported only when it runs: a cache hit loads 12
of ours besides the package, a not-found answer 9 (the package docstring lists them, and
says why that matters).
"""

from __future__ import annotations

import sys

from . import PROGRAM, __version__
from .errors import guarded

USAGE = """\
Usage: docker-credential-ecrpy <action>
       docker-credential-ecrpy configure|doctor|warm|kubelet [options]

Docker credential helper for Amazon ECR. Docker, podman, skopeo and buildah run it with
one of these actions and the input on stdin:

  get      registry server URL on stdin -> {"ServerURL","Username","Secret"} on stdout
  store    succeeds for ECR registries (tokens are fetched on demand, nothing is stored)
  erase    drops the cached token for an ECR registry
  list     registries with a cached token (no network)
  version  print the version (also -v, --version)

Commands for people (each has --help):

  configure  add credHelpers entries for ECR registries to Docker's config.json
  doctor     explain the setup, find what is broken, time a live get;
             doctor --tokens: every cached token and recorded failure at a glance
             (--prometheus: as metrics for node_exporter's textfile collector)
  warm       fetch tokens before a pull needs them (warm --if-due: from a timer)
  kubelet    answer a kubelet CredentialProviderRequest (as ecr-credential-provider-py)

Wire it up in ~/.docker/config.json:
  {"credHelpers": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": "ecrpy"}}
"""


COMMANDS = ("configure", "doctor", "warm", "kubelet")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in COMMANDS:
        return guarded(lambda: _command(args[0], args[1:]))
    if len(args) != 1:
        sys.stderr.write(USAGE)
        return 1
    action = args[0]
    if action in ("version", "-v", "--version"):
        return guarded(lambda: _print(f"{PROGRAM} {_version()}\n"))
    if action in ("help", "-h", "--help"):
        return guarded(lambda: _print(USAGE))
    return guarded(lambda: _serve(action))


def _print(text: str) -> int:
    sys.stdout.write(text)
    return 0


def _version() -> str:
    """The package version, and the git revision for a binary built from a checkout.

    packaging/build.sh generates ``_build_info`` into the build tree and the PyInstaller
    spec bundles it; the source tree and the pip-installed package never contain it.
    Looked up only here, so no other action pays for it.
    """
    import importlib  # noqa: PLC0415 - already loaded by the interpreter; costs nothing

    try:
        info = importlib.import_module(f"{__package__}._build_info")
    except ImportError:
        return __version__
    revision = getattr(info, "REVISION", "")
    return f"{__version__} (git {revision})" if revision else __version__


def _command(name: str, args: list[str]) -> int:
    """A command for people or for kubelet: its own module, imported only when asked."""
    if name == "configure":
        from .commands import configure  # noqa: PLC0415

        return configure.main(args)
    if name == "doctor":
        from .commands import doctor  # noqa: PLC0415

        return doctor.main(args)
    if name == "warm":
        from .commands import warm  # noqa: PLC0415

        return warm.main(args)
    from . import kubelet  # noqa: PLC0415

    return kubelet.main(args)


def _serve(action: str) -> int:
    from . import errors, protocol  # noqa: PLC0415

    if action not in protocol.ACTIONS:
        sys.stdout.write(f"unknown credential action `{action}`\n")
        sys.stderr.write(USAGE)
        return 1
    from .settings import environ  # noqa: PLC0415
    from .store import EcrStore  # noqa: PLC0415

    try:
        store = EcrStore.from_env(environ(), sys.stderr)
    except errors.HelperError as err:
        sys.stdout.write(err.message + "\n")
        return 1
    failed: list[errors.HelperError] = []
    # Reading the input is part of the action's deadline, made with the store.
    status = protocol.serve(
        action, sys.stdin.buffer, sys.stdout, sys.stderr, store, failed.append, store.deadline
    )
    store.log_activity(action, failed[0] if failed else None)  # after the answer
    return status
