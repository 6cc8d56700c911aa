"""``docker-credential-ecrpy warm [HOST ...] [--if-due] [--json]``: fetch tokens before a
pull needs them, so that no pull waits on AWS.

A build host idle overnight finds its tokens expired, and its first pull pays for the
AWS SDK and a round trip, or fails if ECR throttles just then. Run from a timer (see
packaging/systemd/), ``warm --if-due`` refreshes what a get would find due, ahead of it,
and costs nothing in between. Without ``--if-due`` every token is replaced by a new one
(a person about to start a long job wants its full lifetime).

Each registry is warmed as a get refreshes it (``TokenSource.warm``): the same cache,
the same key lock, the same recorded failures and backoff, the same deadline per
registry. So a warm beside 32 pulls still makes one call per identity and region, and a
warm in a brownout does not call AWS until the backoff ends.
"""

from __future__ import annotations

import os
import sys
import time

from .. import HELPER, PROGRAM, errors, policy, registry
from ..activity import FETCHED, STALE_SERVED, Activity
from ..cache import NoCache
from ..errors import span
from . import docker_config
from .arguments import ArgumentParser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TextIO

    from ..registry import Registry
    from ..tokens import TokenSource

# The statuses of a registry, as printed and in --json:
OK = "ok"  # a fresh token was cached already: no call
REFRESHED = "refreshed"  # a new token was fetched
BACKING_OFF = "backing off"  # the refresh failed, or is backed off; a usable token remains
FAILED = "failed"  # no usable token
# The setting that names the metrics file when --prometheus-file does not (systemd units).
PROMETHEUS_FILE = "ECRPY_PROMETHEUS_FILE"


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=f"{PROGRAM} warm",
        description="Make sure a usable token is cached for each registry, so that no pull "
        "waits on AWS. Without HOST: every registry Docker's config.json sends to this "
        f'helper ("credHelpers" entries "{HELPER}", and with "credsStore": "{HELPER}" the '
        "registries of the tokens already cached). Exit status 1 when a registry is left "
        "without a usable token.",
    )
    parser.add_argument("hosts", nargs="*", metavar="HOST", help="ECR registry hostname or alias")
    parser.add_argument(
        "--if-due",
        action="store_true",
        help="refresh only tokens that are missing or due for refresh (for timers); "
        "without it, every token is replaced by a new one",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--prometheus-file",
        metavar="PATH",
        default=None,
        help="then write `doctor --tokens --prometheus` to PATH atomically, for "
        f"node_exporter's textfile collector (default: ${PROMETHEUS_FILE}, if set)",
    )
    return parser


def main(argv: list[str]) -> int:
    started = time.time()
    args = build_parser().parse_args(argv)
    env = os.environ
    hosts = args.hosts or configured_hosts(env)  # a HelperError is for errors.guarded
    results = [warm(host, env, None if args.if_due else started) for host in hosts]
    if args.json:
        import json  # noqa: PLC0415

        document = {"ok": _ok(results), "registries": results}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        render(results, sys.stdout)
    status = 0 if _ok(results) else 1
    path = args.prometheus_file or env.get(PROMETHEUS_FILE)
    if path:
        status = max(status, write_metrics(path, env))
    return status


def _ok(results: list[dict[str, Any]]) -> bool:
    return all(result["status"] != FAILED for result in results)


def configured_hosts(env: Mapping[str, str]) -> list[str]:
    """The registries Docker asks this helper about: ``credHelpers`` entries naming it,
    then, when it is the ``credsStore``, the hosts of the tokens it has cached (Docker
    asks the store about any registry, so the cache is the only list of ECR ones)."""
    path = docker_config.config_path(env)
    document = docker_config.load(path).document
    helpers = document.get("credHelpers")
    hosts = []
    if isinstance(helpers, dict):
        hosts = [registry.hostname(str(host)) for host, name in helpers.items() if name == HELPER]
    if document.get("credsStore") == HELPER:
        from ..store import EcrStore  # noqa: PLC0415

        hosts.extend(EcrStore.from_env(env, sys.stderr).list())
    hosts = list(dict.fromkeys(hosts))
    if not hosts:
        raise errors.ConfigError(
            f"no registry to warm: {path} sends none to {PROGRAM} (no credHelpers "
            f'entry "{HELPER}", nor a cached token with credsStore "{HELPER}"); name them '
            f"(warm HOST ...) or run `{PROGRAM} configure`"
        )
    return hosts


def warm(host: str, env: Mapping[str, str], renew_before: float | None) -> dict[str, Any]:
    """Warm one registry as a get would refresh it, with a store (and a deadline) of its
    own; what came of it, as printed and in --json. ``renew_before``: replace a token
    issued before then even when it is fresh (None: only a due one)."""
    from ..store import EcrStore  # noqa: PLC0415

    result: dict[str, Any] = {
        "registry": host,
        "status": FAILED,
        "reason": None,
        "identity": None,
        "expires_at": None,
        "retry_at": None,
    }
    activity = Activity()  # what the refresh did: read below, and by the log
    store = EcrStore.from_env(env, sys.stderr, activity=activity)
    store.asked = host
    failed: errors.HelperError | None = None
    target = None
    try:
        target = store.resolve(host)
        if target is None:
            raise errors.BadInput(
                f"{host!r} is not an Amazon ECR registry hostname nor an alias in the "
                "configuration file"
            )
        tokens = store.tokens
        entry = tokens.warm(target, store.identity_for(target), renew_before)
        if isinstance(tokens.cache.held, NoCache):
            raise errors.ConfigError(
                "the token is not kept: the token cache is turned off (AWS_ECR_DISABLE_CACHE) "
                f"or unusable; `{PROGRAM} doctor --tokens` says why"
            )
    except errors.HelperError as err:
        failed = err
        result["reason"] = err.message
    else:
        result["status"] = {FETCHED: REFRESHED, STALE_SERVED: BACKING_OFF}.get(activity.outcome, OK)
        if activity.reason is not None:
            result["reason"] = activity.reason.message
        result.update(identity=entry.fingerprint, expires_at=entry.expires_at)
    if target is not None and result["status"] in (FAILED, BACKING_OFF):
        result["retry_at"] = retry_at(store.tokens, target)
    store.log_activity("warm", failed)
    return result


def retry_at(tokens: TokenSource, target: Registry) -> float | None:
    """When the host calls AWS for the registry's token again, if a recorded failure's
    backoff keeps it from doing so now (the identity is the one just warmed)."""
    now = time.time()
    for failure in tokens.recorded_failures():
        same = failure.scope == target.scope and failure.fingerprint == tokens.fingerprint
        if same and policy.backing_off(failure, now):
            return policy.failure_times(failure, now)[1]
    return None


def render(results: list[dict[str, Any]], out: TextIO) -> None:
    """One line per registry: its status, its host, and what a person needs to know."""
    now = time.time()
    width = max(len(result["registry"]) for result in results)
    for result in results:
        status = result["status"]
        # A failure answered from its record already says when the next attempt is.
        retry = ""
        if result["retry_at"] is not None and "next attempt in" not in str(result["reason"]):
            retry = f"; next attempt in {span(result['retry_at'] - now)}"
        if status == FAILED:
            detail = f"no usable token: {result['reason']}{retry}"
        else:
            detail = f"token valid for {span(result['expires_at'] - now)}"
            if status == BACKING_OFF:
                detail = f"{result['reason']}{retry}; cached {detail} more"
        out.write(f"{status:<11}  {result['registry']:<{width}}  {detail}\n")


def write_metrics(path: str, env: Mapping[str, str]) -> int:
    """Write the cache's metrics to ``path`` (temp, fsync, rename: the collector never
    reads half a file), readable by the collector's user; the exit status."""
    from .. import files  # noqa: PLC0415
    from . import doctor, metrics  # noqa: PLC0415

    text = metrics.render(check.as_dict() for check in doctor.examine_cache(env))
    try:
        files.replace(path, text.encode(), mode=0o644)
    except OSError as err:
        sys.stdout.write(
            f"cannot write the metrics file {path}: {err.strerror or err}; check that its "
            f"directory exists and is writable (--prometheus-file, {PROMETHEUS_FILE})\n"
        )
        return 1
    return 0
