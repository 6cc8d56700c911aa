"""``docker-credential-ecrpy doctor [HOST] [--tokens] [--json]``: explain the setup, find
what breaks; or, with ``--tokens``, show the state of every cached token at a glance.

"no basic auth credentials" is all Docker says when a helper is not used, not found, or
fails; the cause can sit in any of half a dozen places (Docker's config.json, PATH, the
AWS credential chain, our configuration file, the cache directory, the network). The
doctor looks at each of them without changing anything and without showing a secret,
and, given a HOST, runs a real ``get`` the way Docker does, timed, with the helper's own
one-line diagnosis when it fails. The exit status is 1 when anything is broken, so it can
gate a CI job or a node bootstrap.

``--tokens`` is the token cache's section alone, for an operator or a monitoring system
(``--json``): each token's registry, scope, identity (the fingerprint's short form),
when it was issued, expires and is next refreshed, and each recorded failure with its
backoff. Never a secret: a token's secret is not even read into what is shown.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from .. import (
    HELPER,
    PROGRAM,
    cache,
    config,
    config_check,
    config_file,
    errors,
    files,
    policy,
    registry,
)
from ..errors import span
from . import docker_config
from .arguments import ArgumentParser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, TextIO

OK, INFO, WARN, FAIL = "ok", "info", "warn", "fail"
_COLOURS = {OK: "32", INFO: "2", WARN: "33", FAIL: "31;1"}
GET_TIMEOUT = 60.0


class Check:
    """One finding: a section, a short name, a status and a one-line detail."""

    __slots__ = ("data", "detail", "name", "section", "status")

    def __init__(self, section: str, name: str, status: str, detail: str, **data: Any) -> None:
        self.section = section
        self.name = name
        self.status = status
        self.detail = detail
        self.data = data

    def as_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            **self.data,
        }


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=f"{PROGRAM} doctor",
        description="Explain how Docker, AWS and this helper are set up, without secrets; "
        "with HOST, run a live `get` for it. Exit status 1 when something is broken.",
    )
    parser.add_argument("host", nargs="?", metavar="HOST", help="a registry to test live")
    parser.add_argument(
        "--tokens",
        action="store_true",
        help="only the token cache: every cached token and recorded failure",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="with --tokens: Prometheus text format (for node_exporter's textfile collector)",
    )
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.tokens and args.host:
        parser.error("--tokens takes no HOST")
    if args.prometheus and not args.tokens:
        parser.error("--prometheus goes with --tokens")
    checks = examine_cache(os.environ) if args.tokens else examine(os.environ, args.host)
    if args.prometheus:
        from . import metrics  # noqa: PLC0415

        sys.stdout.write(metrics.render(check.as_dict() for check in checks))
    elif args.json:
        import json  # noqa: PLC0415

        failed = any(check.status == FAIL for check in checks)
        document = {"ok": not failed, "checks": [check.as_dict() for check in checks]}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        render(checks, sys.stdout, colour=_use_colour(sys.stdout, os.environ))
    return 1 if any(check.status == FAIL for check in checks) else 0


def examine(env: Mapping[str, str], host: str | None) -> list[Check]:
    checks: list[Check] = []
    configured, config_checks = examine_config(env)
    checks.extend(examine_docker(env, configured, host))
    checks.extend(examine_executable(env))
    checks.extend(examine_aws(env))
    checks.extend(config_checks)
    checks.extend(examine_cache(env))
    checks.extend(examine_log(env))
    if host is not None:
        checks.extend(examine_host(env, host))
    return checks


# -- Docker's config.json -----------------------------------------------------------------


def examine_docker(
    env: Mapping[str, str], configured: config.Config, host: str | None
) -> list[Check]:
    section = "docker"
    path = docker_config.config_path(env)
    try:
        current = docker_config.load(path)
    except errors.HelperError as err:
        return [Check(section, "config file", FAIL, err.message, path=path)]
    checks = []
    if current.exists:
        checks.append(Check(section, "config file", OK, path, path=path))
    else:
        checks.append(
            Check(
                section,
                "config file",
                WARN,
                f"{path} does not exist: run `{PROGRAM} configure`",
                path=path,
            )
        )
    document = current.document
    helpers = _object(document, "credHelpers")
    auths = _object(document, "auths")
    creds_store = document.get("credsStore")
    creds_store = creds_store if isinstance(creds_store, str) else None
    if creds_store:
        detail = f"{creds_store}: used for every registry without a credHelpers entry"
        if creds_store == HELPER:
            detail += " (we answer 'not found' for non-ECR hosts, so they pull anonymously)"
        checks.append(Check(section, "credsStore", INFO, detail, credsStore=creds_store))
    wanted = registry.hostname(host) if host else None
    hosts: list[str] = []
    for name in [*helpers, *auths, *([host] if host else [])]:
        bare = registry.hostname(str(name))
        if bare not in hosts and (
            helpers.get(name) == HELPER
            or registry.parse(bare) is not None
            or configured.alias(bare) is not None
        ):
            hosts.append(bare)
    for bare in hosts:
        stale = docker_config.stale_auths(document, [bare])
        checks.append(_host_helper(bare, helpers, stale, creds_store, required=bare == wanted))
    uses_us = creds_store == HELPER or any(check.data.get("helper") == HELPER for check in checks)
    if not uses_us:
        checks.append(
            Check(
                section,
                "helper in use",
                WARN,
                f"no registry uses docker-credential-{HELPER}: run `{PROGRAM} configure`",
            )
        )
    return checks


def _object(document: dict[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def _host_helper(
    bare: str,
    helpers: dict[str, Any],
    stale: list[str],
    creds_store: str | None,
    required: bool,
) -> Check:
    """Which helper Docker uses for one registry, and whether ``stale`` auths (the
    registry's stored logins) interfere."""
    helper = helpers.get(bare)
    via = "credHelpers"
    if helper is None and creds_store:
        helper, via = creds_store, "credsStore"
    if helper == HELPER:
        status, detail = OK, f"{via} -> docker-credential-{HELPER}"
    elif helper:
        status, detail = WARN, f"{via} -> docker-credential-{helper}, not {HELPER}"
    else:
        status = FAIL if required else WARN
        detail = f"no credential helper: run `{PROGRAM} configure {bare}`"
    if stale:
        status = WARN if status == OK else status
        detail += f"; {docker_config.shadowing(stale[0])}"
    return Check("docker", bare, status, detail, host=bare, helper=helper, stale_auths=stale)


# -- PATH ---------------------------------------------------------------------------------


def examine_executable(env: Mapping[str, str]) -> list[Check]:
    found = docker_config.on_path(env)
    if found is None:
        return [Check("executable", "on PATH", FAIL, docker_config.not_on_path(env))]
    checks = [Check("executable", "on PATH", OK, found, path=found)]
    me = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if me and os.path.basename(me) == PROGRAM and os.path.realpath(found) != me:
        checks.append(
            Check(
                "executable",
                "other copy",
                WARN,
                f"Docker runs {found}, not this {me}: they may differ in version or settings",
            )
        )
    return checks


# -- AWS credential chain (inspected, never resolved) ------------------------------------


def examine_aws(env: Mapping[str, str]) -> list[Check]:
    from .. import keys  # noqa: PLC0415
    from ..aws import ca_bundle_trouble, configured_region  # noqa: PLC0415 - botocore stays unloaded

    section = "aws"
    status, detail, source = credential_source(env)
    checks = [Check(section, "credentials", status, detail, source=source)]
    odd: list[str] = []
    keys.fingerprint(env, (), odd.append)  # what a get reads, and warns about, every time
    for warning in odd:
        detail = (
            f"{warning} (every get warns so): make it a regular file, or point "
            "AWS_CONFIG_FILE or AWS_SHARED_CREDENTIALS_FILE elsewhere"
        )
        checks.append(Check(section, "shared files", WARN, detail))
    aws_config, _ = keys.aws_files(env)
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    conf = _profile_section(aws_config, profile, config=True)
    region = configured_region(env, conf.get("region"))
    checks.append(
        Check(
            section,
            "region",
            INFO,
            region or "none configured (registries name their own region)",
            region=region,
        )
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_STS"):
        if env.get(name):
            checks.append(Check(section, name, INFO, env[name], variable=name))
    bundle = env.get("AWS_CA_BUNDLE") or conf.get("ca_bundle")
    if bundle:
        trouble = ca_bundle_trouble(bundle, bool(env.get("AWS_CA_BUNDLE")), profile)
        status, detail = (FAIL, trouble) if trouble else (INFO, bundle)
        checks.append(Check(section, "CA bundle", status, detail, path=bundle))
    checks.extend(examine_sso(env, aws_config, profile))
    return checks


# Where botocore (and the AWS CLI) keep SSO access tokens, each in a file named for the
# SHA-1 of its sso_session's name (or, for a legacy profile, of its start URL).
SSO_CACHE = "~/.aws/sso/cache"
# How many source_profile links are followed to the profile that holds the SSO settings.
MAX_SOURCE_PROFILES = 10


def examine_sso(
    env: Mapping[str, str],
    aws_config: str,
    profile: str,
    section: str = "aws",
    check: str = "SSO session",
    explicit: bool = False,
) -> list[Check]:
    """The SSO session behind ``profile`` (itself, or the source profile it assumes a
    role from), looked at in the SSO token cache without any network: an expired one
    makes every get fail, HOST or not. Nothing when credentials come from the
    environment (which an ``explicit`` profile, one of the configuration file, overrides)
    or no SSO is configured."""
    if not explicit and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return []
    holder: str | None = profile
    seen: list[str] = []
    conf: dict[str, str] = {}
    while holder and holder not in seen and len(seen) < MAX_SOURCE_PROFILES:
        seen.append(holder)
        conf = _profile_section(aws_config, holder, config=True)
        if conf.get("sso_session") or conf.get("sso_start_url"):
            break
        holder = conf.get("source_profile")
    else:
        return []
    import datetime  # noqa: PLC0415
    import hashlib  # noqa: PLC0415
    import json  # noqa: PLC0415

    from ..files import OddFile, read_regular  # noqa: PLC0415
    from ..settings import expanduser  # noqa: PLC0415

    session = conf.get("sso_session")
    key = session or conf["sso_start_url"]
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
    path = os.path.join(expanduser(SSO_CACHE, env), f"{digest}.json")
    fix = f"run `aws sso login --profile {holder}`"
    what = f"profile {holder}: SSO session {key}"
    try:
        token = json.loads(read_regular(path, 1 << 20))
        expires = datetime.datetime.fromisoformat(token["expiresAt"]).timestamp()
        registration = token.get("registrationExpiresAt")
        renewable = bool(
            session
            and token.get("refreshToken")
            and token.get("clientSecret")
            and registration
            and datetime.datetime.fromisoformat(registration).timestamp() > time.time()
        )
    except FileNotFoundError:
        return [Check(section, check, FAIL, f"{what}: no login on this machine: {fix}")]
    except (OSError, OddFile, ValueError, KeyError, TypeError, AttributeError):
        detail = f"{what}: its token in {path} is unreadable: {fix}"
        return [Check(section, check, FAIL, detail, path=path)]
    now = time.time()
    if expires > now:
        status, detail = OK, f"{what}: valid until {_at(expires)}, {span(expires - now)} more"
    elif renewable:
        status = OK
        detail = f"{what}: expired at {_at(expires)}; the AWS SDK renews it (refresh token)"
    else:
        status = FAIL
        detail = f"{what}: expired at {_at(expires)}; every get fails until you {fix}"
    return [Check(section, check, status, detail, path=path, expires_at=expires)]


def credential_source(env: Mapping[str, str]) -> tuple[str, str, str]:
    """(status, description, source kind) of what botocore's default chain would use,
    from environment variables and the shared files alone: no network, no secrets."""
    from .. import keys  # noqa: PLC0415

    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        session = " with AWS_SESSION_TOKEN" if env.get("AWS_SESSION_TOKEN") else ""
        return OK, f"environment variables (AWS_ACCESS_KEY_ID{session})", "env"
    if env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_SECRET_ACCESS_KEY"):
        return FAIL, "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set", "env"
    aws_config, aws_credentials = keys.aws_files(env)
    explicit = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE")
    profile = explicit or "default"
    conf = _profile_section(aws_config, profile, config=True)
    creds = _profile_section(aws_credentials, profile, config=False)
    if conf.get("role_arn"):
        base = conf.get("source_profile") or conf.get("credential_source") or "web identity"
        return OK, f"profile {profile}: assume role {conf['role_arn']} from {base}", "assume-role"
    if env.get("AWS_ROLE_ARN") and env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        token_file = env["AWS_WEB_IDENTITY_TOKEN_FILE"]
        if not os.path.exists(token_file):
            return FAIL, f"web identity token file {token_file} does not exist", "web-identity"
        return OK, f"web identity: role {env['AWS_ROLE_ARN']} ({token_file})", "web-identity"
    if conf.get("sso_session") or conf.get("sso_start_url"):
        name = conf.get("sso_session") or conf.get("sso_start_url")
        return (
            OK,
            f"profile {profile}: SSO ({name}); needs a current `aws sso login --profile {profile}`",
            "sso",
        )
    if creds.get("aws_access_key_id"):
        return OK, f"profile {profile}: keys in {aws_credentials}", "shared-credentials-file"
    if conf.get("credential_process"):
        return _process_source(env, profile, conf["credential_process"], aws_config)
    if conf.get("aws_access_key_id"):
        return OK, f"profile {profile}: keys in {aws_config}", "config-file"
    if explicit and not conf and not creds:
        return (
            FAIL,
            f"AWS_PROFILE={explicit} is not defined in {aws_config} or {aws_credentials}",
            "profile",
        )
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    ):
        return OK, "container credentials endpoint (ECS/EKS pod identity)", "container"
    if env.get("AWS_EC2_METADATA_DISABLED", "").lower() != "true":
        return (
            WARN,
            "none in environment or files: the EC2 instance role (IMDS), which only exists "
            "on EC2; elsewhere run `aws configure` or set AWS_PROFILE",
            "instance-metadata",
        )
    return (
        FAIL,
        "no AWS credentials in environment or files, and instance metadata is disabled: "
        "run `aws configure` or `aws sso login`, or set AWS_PROFILE",
        "none",
    )


def _process_source(
    env: Mapping[str, str], profile: str, command: str, aws_config: str
) -> tuple[str, str, str]:
    """A ``credential_process``, and whether botocore can start it: it splits the
    command as a shell would and runs the first word from PATH, without a shell."""
    import shlex  # noqa: PLC0415

    what = f"profile {profile}: credential_process"
    try:
        words = shlex.split(command)
    except ValueError as err:
        return FAIL, f"{what} cannot be split into words ({err}): every get fails", "process"
    if not words or docker_config.on_path(env, words[0]) is None:
        program = words[0] if words else "nothing"
        detail = (
            f"{what} runs {program}, which is not an executable file (looked on PATH): "
            "every get fails; install it or give its full path"
        )
        return FAIL, detail, "process"
    return OK, f"{what} in {aws_config}", "process"


def _profile_section(path: str, profile: str, config: bool) -> dict[str, str]:
    """One profile's settings (an empty dict when the file or profile is missing, or is
    not a regular file: botocore skips those too)."""
    import configparser  # noqa: PLC0415

    from ..files import OddFile, read_regular  # noqa: PLC0415

    parser = configparser.RawConfigParser()
    try:
        parser.read_string(read_regular(path, 1 << 20).decode("utf-8"), source=path)
    except (OSError, OddFile, configparser.Error, UnicodeDecodeError):
        return {}
    name = f"profile {profile}" if config and profile != "default" else profile
    if not parser.has_section(name):
        return {}
    return dict(parser.items(name))


# -- our configuration file -------------------------------------------------------------


def examine_config(env: Mapping[str, str]) -> tuple[config.Config, list[Check]]:
    section = "config"
    path = config_file.config_path(env)
    try:
        data = config_file.read(path, env)
        if data is None:
            return config.EMPTY, [
                Check(section, "config file", INFO, f"{path} (absent; optional)", path=path)
            ]
        configured = config_check.parse(data, path)
    except errors.HelperError as err:
        return config.EMPTY, [Check(section, "config file", FAIL, err.message, path=path)]
    entries = configured.entries()
    checks = [Check(section, "config file", OK, f"{path}: {len(entries)} registries", path=path)]
    lines = config_check.entry_lines(data)
    for entry in entries:
        words = []
        if entry.alias:
            words.append(f"alias of account {entry.account} in {entry.region}")
            if entry.fips or entry.dualstack:
                flags = [name for name in ("fips", "dualstack") if getattr(entry, name)]
                words.append(" and ".join(flags))
        if entry.identity is not None:
            words.append(entry.identity.describe())
        checks.append(
            Check(section, entry.name, INFO, "; ".join(words), line=lines.get(entry.name))
        )
        if entry.identity is not None and entry.identity.profile:
            checks.extend(_entry_profile(env, entry.name, entry.identity.profile))
    return configured, checks


def _entry_profile(env: Mapping[str, str], name: str, profile: str) -> list[Check]:
    """The profile an entry of the configuration file names: defined (or every get for
    the registry fails), and its SSO session current."""
    from .. import keys  # noqa: PLC0415

    aws_config, aws_credentials = keys.aws_files(env)
    check = f"{name} profile"
    if not (
        _profile_section(aws_config, profile, config=True)
        or _profile_section(aws_credentials, profile, config=False)
    ):
        detail = (
            f"profile {profile} is not defined in {aws_config} or {aws_credentials}: "
            f"every get for {name} fails"
        )
        return [Check("config", check, FAIL, detail, profile=profile)]
    return examine_sso(env, aws_config, profile, "config", check, explicit=True)


# -- the token cache --------------------------------------------------------------------


def examine_cache(env: Mapping[str, str]) -> list[Check]:
    from ..settings import Settings  # noqa: PLC0415

    section = "cache"
    try:
        settings = Settings.from_env(env)
    except errors.HelperError as err:
        return [Check(section, "settings", FAIL, err.message)]
    if settings.cache_disabled:
        return [Check(section, "directory", INFO, "disabled (AWS_ECR_DISABLE_CACHE)")]
    directory = settings.cache_dir
    token_cache = cache.TokenCache(directory)
    try:
        entries = token_cache.entries()
    except (cache.UnsafeCacheDir, OSError) as err:
        reason = str(err) if isinstance(err, cache.UnsafeCacheDir) else f"{directory}: {err}"
        return [
            Check(
                section,
                "directory",
                WARN,
                f"{reason}; every get calls AWS until this is fixed",
                path=directory,
            )
        ]
    unwritable = files.unwritable(directory)
    if unwritable is not None:
        # What every get then says ("...; working without the cache"), with the fix.
        return [
            Check(
                section,
                "directory",
                WARN,
                f"cache directory {directory}: {unwritable}; every get warns "
                "'working without the cache' and calls AWS: make it a directory of yours, "
                "or set AWS_ECR_CACHE_DIR to one",
                path=directory,
            )
        ]
    checks = [
        Check(section, "directory", OK, f"{directory} ({len(entries)} tokens)", path=directory)
    ]
    now = time.time()
    current = _current_fingerprint(env)
    for entry in entries:
        checks.append(
            _token_check(section, entry, now, settings.refresh_window, current(entry.host))
        )
    for failure in token_cache.failures():
        checks.append(_failure_check(section, failure, now, current(failure.host)))
    checks.extend(_ignored_files(section, directory))
    return checks


def _ignored_files(section: str, directory: str) -> list[Check]:
    """Token and failure files that a get reads as absent (not private, not a regular
    file, damaged, of another version): listed, so that "0 tokens" beside a full
    directory (copied with the wrong mode, say) says why. A get fetches anew over them."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []  # not made yet
    found = []
    for name in names:
        if name.startswith(".") or not name.endswith((cache.SUFFIX, cache.FAILURE_SUFFIX)):
            continue
        decode = cache.decode if name.endswith(cache.SUFFIX) else cache.decode_failure
        path = os.path.join(directory, name)
        try:
            data = files.read_regular(
                path, cache.MAX_ENTRY_BYTES, follow_symlinks=False, private=True
            )
            reason = "" if decode(data) is not None else f"{path} does not parse"
        except (OSError, files.OddFile) as err:
            reason = str(err) if isinstance(err, files.OddFile) else f"{path}: {err.strerror}"
        if reason:
            detail = f"{reason}: ignored; the next get for its registry fetches a new token"
            found.append(Check(section, "ignored file", INFO, detail, path=path))
    return found


def _current_fingerprint(env: Mapping[str, str]) -> Callable[[str], str | None]:
    """For a registry host, the fingerprint (short form) of the identity that a get for it
    would use now: the store resolves the host and its configured identity, and ``keys``
    fingerprints it, as for a get; no network. None when there is no telling (the
    configuration file is broken, the host is no longer an alias). A token or failure of
    another identity (an edit of ~/.aws/config changes the fingerprint) is one no get
    reads any more."""
    import io  # noqa: PLC0415

    from .. import keys  # noqa: PLC0415
    from ..store import EcrStore  # noqa: PLC0415

    try:
        store = EcrStore.from_env(env, io.StringIO())
        store.config  # noqa: B018 - read here: a broken file is examine_config's to report
    except errors.HelperError:
        return lambda host: None
    known: dict[tuple[str, ...], str] = {}

    def fingerprint(host: str) -> str | None:
        target = store.resolve(host)
        if target is None:
            return None
        who = store.identity_for(target)
        parts = who.parts() if who is not None else ()
        if parts not in known:
            known[parts] = keys.short(keys.fingerprint(env, parts))
        return known[parts]

    return fingerprint


def _whose(fingerprint: str, current: str | None) -> str:
    """Whether a token or failure is the current identity's, for people."""
    if current is None:
        return ""
    if fingerprint == current:
        return "; the current identity's"
    return f"; not the current identity ({current}): no get uses it"


def _token_check(
    section: str, entry: cache.Entry, now: float, window: float | None, current: str | None
) -> Check:
    """A cached token: whose (and whether a get would use it now: ``current`` is the
    identity a get uses for its host), for what, and when it was issued, expires and is
    refreshed."""
    refresh_at = policy.refresh_point(entry, window)
    whose = f"identity {entry.fingerprint}, {entry.scope}: issued {_at(entry.issued_at)}"
    if entry.expires_at <= now:
        status, when = INFO, f"expired at {_at(entry.expires_at)} (pruned at the next refresh)"
    else:
        status = OK
        when = f"expires {_at(entry.expires_at)}, in {span(entry.expires_at - now)}"
        if policy.refresh_due(entry, now, window):
            when += "; refresh due (at the next get)"
        else:
            when += f"; next refresh {_at(refresh_at)}, in {span(refresh_at - now)}"
    return Check(
        section,
        entry.host,
        status,
        f"{whose}; {when}{_whose(entry.fingerprint, current)}",
        host=entry.host,
        scope=entry.scope,
        identity=entry.fingerprint,
        current=None if current is None else entry.fingerprint == current,
        issued_at=entry.issued_at,
        expires_at=entry.expires_at,
        refresh_at=refresh_at,
    )


def _failure_check(section: str, failure: cache.Failure, now: float, current: str | None) -> Check:
    """A recorded failed refresh: what it was, and whether its backoff still keeps every
    get on the host from calling AWS for that token (none, when it is another identity's
    than the ``current`` one)."""
    failed_at, retry_at = policy.failure_times(failure, now)
    ago = span(now - failed_at)
    detail = (
        f"identity {failure.fingerprint}, {failure.scope}: last refresh failed {ago} ago "
        f"({failure.kind}): {failure.message}"
    )
    if policy.backing_off(failure, now):
        status = WARN
        detail += f"; no get calls AWS for it for {span(retry_at - now)} more"
        if failure.count > 1:
            detail += f" ({failure.count} failures in a row)"
    else:
        status = INFO
        detail += "; the backoff is over: the next get tries again"
    mine = None if current is None else failure.fingerprint == current
    if mine is False:
        status = INFO  # no get reads it
    return Check(
        section,
        failure.host,
        status,
        detail + _whose(failure.fingerprint, current),
        host=failure.host,
        scope=failure.scope,
        identity=failure.fingerprint,
        current=mine,
        failure=failure.kind,
        failed_at=failed_at,
        retry_at=retry_at,
        failures=failure.count,
    )


# -- the activity log -------------------------------------------------------------------


def examine_log(env: Mapping[str, str]) -> list[Check]:
    """Where the activity log goes (the settings a get uses), and whether a get can write
    it: one it cannot is a warning on every get's stderr."""
    import io  # noqa: PLC0415

    from .. import activity, settings  # noqa: PLC0415
    from ..store import EcrStore  # noqa: PLC0415

    section = "log"
    try:
        log = EcrStore.from_env(env, io.StringIO()).log_settings()
    except errors.HelperError:
        return []  # a bad setting: examine_cache and examine_config report it
    if log is None:
        return [Check(section, "activity log", INFO, "off (ECRPY_LOG, or [log] in the file)")]
    path = log.path or ""
    directory = os.path.dirname(path)
    try:
        if files.private_directory(directory, "log", create=False):
            info = os.lstat(path)
            problem = activity.refusal(path, info) or (
                "" if os.access(path, os.W_OK) else f"{path} is not writable by us"
            )
        else:
            problem = files.unwritable(directory) or ""
    except FileNotFoundError:
        problem = files.unwritable(directory) or ""
    except files.UnsafeDirectory as err:
        problem = str(err)
    except OSError as err:
        problem = f"{path}: {err.strerror or err}"
    if problem:
        detail = (
            f"{problem}: every get warns 'cannot write the activity log'; fix it, or point "
            "ECRPY_LOG elsewhere"
        )
        return [Check(section, "activity log", WARN, detail, path=path)]
    return [
        Check(
            section,
            "activity log",
            OK,
            f"{path} ({log.level or settings.DEFAULT_LOG_LEVEL})",
            path=path,
        )
    ]


# -- a live get ------------------------------------------------------------------------


def examine_host(env: Mapping[str, str], host: str) -> list[Check]:
    """How the store resolves ``host`` (asked, not re-derived), then two live gets."""
    import io  # noqa: PLC0415

    from ..store import EcrStore  # noqa: PLC0415

    section = "get"
    bare = registry.hostname(host)
    try:
        store = EcrStore.from_env(env, io.StringIO())
        target = store.resolve(bare)
    except errors.HelperError as err:
        return [Check(section, bare, FAIL, err.message)]
    if target is None:
        return [
            Check(
                section,
                bare,
                FAIL,
                "not an Amazon ECR hostname, and no alias for it in the configuration file "
                f"{config_file.config_path(env)}: Docker gets 'credentials not found' and pulls "
                "anonymously",
            )
        ]
    what = "ECR Public" if target.public else f"account {target.account}, region {target.region}"
    if registry.parse(bare) is None:
        what = f"alias of {what}"
    flags = [name for name in ("fips", "dualstack") if getattr(target, name)]
    if flags:
        what += f" ({', '.join(flags)})"
    checks = [
        Check(section, "registry", OK, what, account=target.account, region=target.region),
    ]
    who = store.identity_for(target)
    described = who.describe() if who else "the default AWS credential chain (see aws above)"
    checks.append(Check(section, "identity", INFO, described))
    command = _helper_command(env)
    for attempt in ("first get", "second get"):
        started = time.monotonic()
        try:
            done = subprocess.run(
                [*command, "get"],
                input=host.encode(),
                capture_output=True,
                check=False,
                env=dict(env),
                timeout=GET_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            checks.append(Check(section, attempt, FAIL, f"no answer within {GET_TIMEOUT:.0f}s"))
            break
        except OSError as err:
            checks.append(Check(section, attempt, FAIL, f"cannot run {command[0]}: {err}"))
            break
        elapsed = (time.monotonic() - started) * 1000
        checks.append(_judge_get(section, attempt, done, elapsed, target.public))
        if done.returncode != 0:
            break
    return checks


def _judge_get(
    section: str,
    attempt: str,
    done: subprocess.CompletedProcess[bytes],
    elapsed_ms: float,
    public: bool,
) -> Check:
    import json  # noqa: PLC0415

    out = done.stdout.decode("utf-8", "replace").strip()
    err = " ".join(done.stderr.decode("utf-8", "replace").split())
    timing = f"{elapsed_ms:.0f} ms"
    if done.returncode == 0:
        try:
            answer = json.loads(out)
            username = str(answer["Username"])
            valid = bool(answer["Secret"])
        except (ValueError, KeyError, TypeError):
            return Check(section, attempt, FAIL, f"exit 0 but not a credentials answer ({timing})")
        if not valid:
            return Check(section, attempt, FAIL, f"answered an empty secret ({timing})")
        return Check(
            section,
            attempt,
            OK,
            f"credentials for user {username} in {timing}",
            elapsed_ms=round(elapsed_ms, 1),
        )
    line = out.splitlines()[0] if out else "(no output)"
    diagnosis = line
    if line == errors.NOT_FOUND:
        diagnosis = (
            f"{line}: ECR Public token unavailable, Docker pulls anonymously"
            if public
            else f"{line}: the helper does not consider this host an ECR registry"
        )
    if err:
        diagnosis += f" [stderr: {err}]"
    status = WARN if public and line == errors.NOT_FOUND else FAIL
    return Check(
        section, attempt, status, f"{diagnosis} ({timing})", elapsed_ms=round(elapsed_ms, 1)
    )


def _helper_command(env: Mapping[str, str]) -> list[str]:
    """What Docker would run; this copy when none is on PATH."""
    found = docker_config.on_path(env)
    if found:
        return [found]
    if getattr(sys, "frozen", False):  # a PyInstaller build: the executable itself
        return [sys.executable]
    return [sys.executable, "-m", "docker_credential_ecrpy"]


# -- output ------------------------------------------------------------------------------


def render(checks: list[Check], out: TextIO, colour: bool) -> None:
    width = max((len(check.name) for check in checks), default=0)
    section = None
    for check in checks:
        if check.section != section:
            if section is not None:
                out.write("\n")
            section = check.section
            out.write(f"{_TITLES.get(section, section)}\n")
        label = f"{check.status:<4}"
        if colour:
            label = f"\033[{_COLOURS[check.status]}m{label}\033[0m"
        out.write(f"  {label}  {check.name:<{width}}  {check.detail}\n")
    broken = sum(check.status == FAIL for check in checks)
    warnings = sum(check.status == WARN for check in checks)
    if broken:
        out.write(f"\n{broken} problem(s) to fix, {warnings} warning(s).\n")
    else:
        out.write(f"\nNothing broken; {warnings} warning(s).\n")


_TITLES = {
    "docker": "Docker",
    "executable": "Executable",
    "aws": "AWS credentials",
    "config": "Configuration file",
    "cache": "Token cache",
    "log": "Activity log",
    "get": "Live get",
}


def _use_colour(stream: TextIO, env: Mapping[str, str]) -> bool:
    return stream.isatty() and not env.get("NO_COLOR") and env.get("TERM") != "dumb"


def _at(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))
