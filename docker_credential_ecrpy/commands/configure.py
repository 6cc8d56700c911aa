"""``docker-credential-ecrpy configure [HOST ...]``: point Docker at this helper.

Docker's ``credHelpers`` has no wildcards, so every ECR registry needs its own entry, and
a hand edit of ``config.json`` is where setups break (a stray comma, a lost ``auths``
entry, an old ``docker login`` that shadows the helper). This command adds the entries,
changes nothing else, and says what it found on the way. With no HOST it asks STS who the
current AWS identity is and configures that account's registry in the configured region,
plus every alias of the configuration file.

Our users come from the Go helper, ``docker-credential-ecr-login``: a file that names it
(``credHelpers`` values, ``credsStore``) has every such entry switched to this helper,
whichever hosts were asked for. Half a switch is worse than none: a ``public.ecr.aws``
or a ``credsStore`` left behind keeps the Go helper's cache, log and failures for some
pulls, and nothing says which.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
from typing import NamedTuple

from .. import HELPER, PROGRAM, config, config_file, errors, registry
from . import docker_config
from .arguments import ArgumentParser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TextIO

# The Go helper's name in Docker's config.json (the executable docker-credential-ecr-login).
GO_HELPER = "ecr-login"
# Keys under which Docker's config.json keeps a login's secret (``auths`` entries): a diff
# shows their values masked.
SECRET_KEYS = ("auth", "identitytoken", "registrytoken", "password")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=f"{PROGRAM} configure",
        description="Add credHelpers entries for Amazon ECR registries to Docker's "
        "config.json ($DOCKER_CONFIG/config.json, default ~/.docker/config.json). "
        "Without HOST: the registry of the current AWS identity (one STS call) in the "
        "configured region, and every alias of the configuration file. Either way, "
        f"every entry that names {GO_HELPER} (credHelpers, credsStore) is switched to "
        f"{HELPER}; the old file is kept as config.json.bak.",
    )
    parser.add_argument("hosts", nargs="*", metavar="HOST", help="ECR registry hostname or alias")
    parser.add_argument(
        "--dry-run", action="store_true", help="show the change as a diff; write nothing"
    )
    parser.add_argument(
        "--remove-stale-auths",
        action="store_true",
        help="also remove `auths` entries (old `docker login`s) for these hosts",
    )
    return parser


def main(argv: list[str]) -> int:
    """The command; a HelperError is for ``errors.guarded``, which ``cli`` runs it under."""
    args = build_parser().parse_args(argv)
    return run(
        args.hosts,
        dry_run=args.dry_run,
        remove_stale_auths=args.remove_stale_auths,
        env=os.environ,
        out=sys.stdout,
        err=sys.stderr,
    )


def run(
    hosts: list[str],
    dry_run: bool,
    remove_stale_auths: bool,
    env: Mapping[str, str],
    out: TextIO,
    err: TextIO,
) -> int:
    configured = config_file.load(env) or config.EMPTY
    targets = checked_hosts(hosts, configured) if hosts else discovered_hosts(configured, env)
    path = docker_config.config_path(env)
    # Locked from read to write, or parallel runs would each write their own edit of the
    # same old contents and all but the last edit would be lost.
    with contextlib.nullcontext() if dry_run else docker_config.locked(path):
        current = docker_config.load(path)
        edit = updated(current.document, targets, remove_stale_auths, path)
        if current.exists:
            out.write(f"Docker config: {path}\n")
        else:
            out.write(f"Docker config: {path} (new file)\n")
        for line in edit.changes:
            out.write(f"  {line}\n")
        warn_shadowing(edit.document, edit.hosts, err)
        if edit.document == current.document and current.exists:
            out.write("Nothing to change.\n")
        else:
            write_diff(current.text or "", docker_config.dumps(edit.document), path, out)
            write(path, current, edit, dry_run, out)
    if docker_config.on_path(env) is None:
        err.write(f"warning: {docker_config.not_on_path(env)}\n")
    return 0


def write(
    path: str, current: docker_config.DockerConfig, edit: Edit, dry_run: bool, out: TextIO
) -> None:
    """Save the edit (unless a dry run), and say where the old file went: after a switch
    from the Go helper, that copy is the way back."""
    if dry_run:
        out.write("Dry run: nothing was written.\n")
        return
    try:
        backup = docker_config.save(path, edit.document, current.text)
    except OSError as error:
        raise errors.ConfigError(
            f"cannot write {path}: {error.strerror or error}; nothing was changed"
        ) from None
    kept = f" (old file kept as {backup})" if backup else ""
    out.write(f"Wrote {path}{kept}\n")
    if edit.switched:
        out.write(
            f"Switched {edit.switched} entr{'y' if edit.switched == 1 else 'ies'} from "
            f"docker-credential-{GO_HELPER} to {PROGRAM}. To switch back, copy {backup} "
            f"over {path}, or set those entries to {GO_HELPER} again.\n"
        )


def checked_hosts(hosts: list[str], configured: config.Config) -> list[str]:
    """Bare hostnames of the given ECR registries or aliases; an error for anything else
    (a credHelpers entry for another registry would break its pulls)."""
    found: list[str] = []
    for given in hosts:
        host = registry.hostname(given)
        if registry.parse(host) is None and configured.alias(host) is None:
            where = f" or {configured.path}" if configured.path else ""
            raise errors.BadInput(
                f"{given!r} is not an Amazon ECR registry hostname (such as "
                "123456789012.dkr.ecr.us-east-1.amazonaws.com or public.ecr.aws) nor an "
                f"alias in the configuration file{where}"
            )
        if host not in found:
            found.append(host)
    return found


def discovered_hosts(configured: config.Config, env: Mapping[str, str]) -> list[str]:
    """The current identity's registry in the configured region, then every alias.

    The STS call runs as a refresh's AWS work does, in a worker ended at ECRPY_TIMEOUT:
    a stuck credential source must not hang a person's command either."""
    import time  # noqa: PLC0415

    from .. import aws, children  # noqa: PLC0415 - aws imports botocore, in the worker
    from ..settings import Settings  # noqa: PLC0415

    timeout = Settings.from_env(env).timeout
    deadline = time.monotonic() + timeout
    try:
        account, region = children.bounded(
            lambda report: aws.caller_account(deadline, report), deadline, "starting the AWS SDK"
        )
    except errors.DeadlineExceeded as err:
        raise errors.timed_out(timeout, err.message) from None
    if region is None:
        raise errors.ConfigError(
            "no AWS region configured: set AWS_REGION, or `region` in ~/.aws/config, "
            "or name the registries: configure HOST ..."
        )
    hosts = [registry.registry_host(account, region)]
    hosts.extend(entry.name for entry in configured.aliases() if entry.name not in hosts)
    return hosts


class Edit(NamedTuple):
    """What ``configure`` does to the file."""

    document: dict[str, Any]  # the new document
    changes: list[str]  # a line per changed entry
    hosts: list[str]  # the hosts this helper now answers for: asked for, or switched
    switched: int  # how many entries named the Go helper


def updated(
    document: dict[str, Any], hosts: list[str], remove_stale_auths: bool, path: str
) -> Edit:
    """The edit of ``document`` (which stays untouched): ``hosts`` set to this helper,
    then every other entry that names the Go helper."""
    new = copy.deepcopy(document)
    helpers = new.setdefault("credHelpers", {})
    if not isinstance(helpers, dict):
        raise errors.ConfigError(
            f"credHelpers in {path} is not a JSON object; fix it by hand, nothing was changed"
        )
    served = list(hosts)
    served.extend(
        host for host, name in helpers.items() if name == GO_HELPER and host not in served
    )
    changes: list[str] = []
    switched = 0
    for host in served:
        before = helpers.get(host)
        if before == HELPER:
            changes.append(f"= {host}: already uses {HELPER}")
            continue
        helpers[host] = HELPER
        switched += before == GO_HELPER
        was = f" (was {before})" if before is not None else ""
        changes.append(f"+ {host}: {HELPER}{was}")
    if new.get("credsStore") == GO_HELPER:
        # Docker asks the store for every registry without a credHelpers entry; ours
        # answers "not found" for those that are not ECR, as the Go helper does.
        new["credsStore"] = HELPER
        switched += 1
        changes.append(f"+ credsStore: {HELPER} (was {GO_HELPER})")
    if remove_stale_auths:
        for key in docker_config.stale_auths(new, served):
            del new["auths"][key]
            changes.append(f"- auths[{key}] (stored credentials of an old docker login)")
    return Edit(new, changes, served, switched)


def warn_shadowing(document: Mapping[str, Any], hosts: list[str], err: TextIO) -> None:
    for key in docker_config.stale_auths(document, hosts):
        err.write(f"warning: {docker_config.shadowing(key)}\n")


def write_diff(old: str, new: str, path: str, out: TextIO) -> None:
    """The change as a unified diff, with the secrets of ``auths`` entries masked: the
    context of an edit, or a removed stale login, may be a line that holds a password."""
    import difflib  # noqa: PLC0415
    import re  # noqa: PLC0415

    names = "|".join(SECRET_KEYS)
    secret = re.compile(rf'("(?:{names})"\s*:\s*)"(?:[^"\\]|\\.)*"')

    if old and not old.endswith("\n"):
        old += "\n"  # Docker writes no final newline; do not show that as a change
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        (new + "\n").splitlines(keepends=True),
        fromfile=path,
        tofile=path + " (new)",
    )
    for line in lines:
        shown = secret.sub(r'\1"***"', line)
        out.write(shown if shown.endswith("\n") else shown + "\n")
