"""The one place that talks to AWS: GetAuthorizationToken (and the STS calls around it),
retried within a deadline and classified into the error kinds users see.

botocore is imported inside these functions only, since only a refresh needs it. They
run in a worker process (``children.bounded``) that is killed at the ``get``'s deadline,
whatever botocore is stuck in; within the deadline they retry on their own terms rather
than botocore's:

- throttling is retried with exponential backoff and full jitter for as long as the
  deadline allows, waiting up to 6, 12, then 16 seconds: a throttled account is in a
  storm, and hosts that share its quota must spread themselves over it rather than ask
  again at once (``bench/fleet.py`` measures the choice);
- other transient failures (5xx answers, refused or dropped connections) get three
  attempts, a second or so apart;
- a read that times out is not asked again: the server has the request, and a second
  one only adds to its load; so reads may take as long as the deadline allows;
- anything else (access denied, bad credentials, a malformed answer) is final at once:
  retrying cannot help.

Each step is reported (``report``) before it starts, with what it is doing in words and
the kind of step (``CREDENTIALS``, ``CALL``, ``WAIT``), so that a timeout names what it
was waiting for, and the supervisor can time the steps and count the API calls (one
``CALL`` report per attempt) for the activity log. Every failure becomes one of the
kinds in ``errors``, naming the service, the cause and the fix in one line.
"""

from __future__ import annotations

import binascii
import datetime
import os
import random
import time

from . import PROGRAM, __version__, errors, policy, sitepaths
from .children import CALL
from .registry import Registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from .config import Identity

    Report = Callable[[str, str], None]

CONNECT_TIMEOUT = 2.0
# Reads wait as long as the deadline allows; this long without one.
READ_TIMEOUT = 30.0
METADATA_TIMEOUT = 1.0
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
# The longest error code we repeat (AWS's are under 50 characters).
CODE_LIMIT = 80
DEFAULT_SESSION_NAME = PROGRAM
# The kinds of step reported: resolving credentials, building a client, the wait before
# a retry; and (children.CALL, which counts them) one attempt of an API call.
CREDENTIALS = "credentials"
CLIENT = "client"
WAIT = "retry_wait"


class Token:
    """What ECR hands out: registry credentials valid until ``expires_at`` (epoch s)."""

    __slots__ = ("endpoint", "expires_at", "secret", "username")

    def __init__(self, username: str, secret: str, expires_at: float, endpoint: str = "") -> None:
        self.username = username
        self.secret = secret
        self.expires_at = expires_at
        # The endpoint it came from when the user configured one (not AWS's own), so
        # that an answer no real ECR gives (a token expired in 2015) can name it.
        self.endpoint = endpoint

    def __repr__(self) -> str:  # never the secret
        return f"Token(username={self.username!r}, expires_at={self.expires_at})"


def _ignore(doing: str, step: str) -> None:
    pass


def fetch_token(
    registry: Registry,
    who: Identity | None = None,
    deadline: float | None = None,
    report: Report = _ignore,
) -> Token:
    """A fresh token for ``registry``: from the standard AWS credential chain, or from the
    profile and/or role the configuration file names for it (``who``). ``deadline`` is a
    ``time.monotonic()`` instant that no retry is started beyond."""
    profile = who.profile if who is not None else None
    role_arn = who.role_arn if who is not None else None
    client = _Client(profile, deadline, report)
    assumed: dict[str, str] = {}  # the role's session credentials, as client arguments
    if who is not None and role_arn is not None:
        assumed = client.assume_role(who, role_arn, registry)
    ecr = client.create(registry.service, registry.region, registry, **assumed)
    what = f"{registry.service}:GetAuthorizationToken"
    # No registryIds (deprecated): the token is good for every registry of the region
    # that the identity may access, which is what the cache keys it on.
    doing = f"calling {what} at {_endpoint_of(ecr)}"
    answer = client.call(ecr.get_authorization_token, registry, what, doing)
    data = answer.get("authorizationData")
    if registry.account is not None:  # ECR's is a list (of one); ECR Public's an object
        data = (data or [None])[0]
    token = decode_token(data, registry)
    token.endpoint = _configured_endpoint(client.session, registry.service)
    return token


def caller_account(
    deadline: float | None = None, report: Report = _ignore
) -> tuple[str, str | None]:
    """(account id of the current AWS identity, its configured region or None), for
    ``configure`` without hosts: one STS GetCallerIdentity call."""
    client = _Client(None, deadline, report)
    region = configured_region(os.environ, client.session.get_config_variable("region"))
    where = Registry("sts", "000000000000", region or "us-east-1")
    sts = client.create("sts", where.region, where)
    doing = f"calling sts:GetCallerIdentity at {_endpoint_of(sts)}"
    answer = client.call(sts.get_caller_identity, where, "sts:GetCallerIdentity", doing)
    return str(answer["Account"]), (str(region) if region else None)


def configured_region(env: Mapping[str, str], profile_region: str | None) -> str | None:
    """The region the AWS SDK would use: ``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then
    the profile's ``region``; for ``configure`` and ``doctor`` alike."""
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or profile_region or None


class _Client:
    """One botocore session, the clients made from it, and the retry loop around every
    call: the single builder for ECR, ECR Public and STS alike."""

    def __init__(self, profile: str | None, deadline: float | None, report: Report) -> None:
        sitepaths.complete()  # botocore may be wherever pip put it: see sitepaths
        import botocore.session  # noqa: PLC0415 - the cache-hit path must not pay for it

        # An explicit session profile also makes botocore skip the AWS_ACCESS_KEY_ID
        # variables, as the AWS CLI's --profile does: the configured profile wins.
        self.session: Any = botocore.session.Session(profile=profile)
        self.session.set_config_variable("metadata_service_timeout", METADATA_TIMEOUT)
        self.session.set_config_variable("metadata_service_num_attempts", 1)
        self.deadline = deadline
        self.report = report
        self._resolved = False

    def create(self, service: str, region: str, registry: Registry, **keys: str) -> Any:
        """A client for ``service``, once the credentials are resolved (which is where
        SSO, ``credential_process``, web identity and instance roles can hang)."""
        from botocore.config import Config  # noqa: PLC0415

        if not keys:
            self.resolve_credentials(registry)
        self.report(f"creating the {service} client", CLIENT)
        left = READ_TIMEOUT if self.deadline is None else self.deadline - time.monotonic()
        left = max(left, 0.1)
        config = Config(
            connect_timeout=min(CONNECT_TIMEOUT, left),
            read_timeout=left,
            retries={"mode": "standard", "total_max_attempts": 1},  # ours: see call()
            use_fips_endpoint=registry.fips,
            use_dualstack_endpoint=registry.dualstack,
            user_agent_extra=f"{PROGRAM}/{__version__}",
        )
        try:
            return self.session.create_client(service, region_name=region, config=config, **keys)
        except Exception as err:
            raise classify(err, self.session, registry, service, settings_only=True) from None

    def resolve_credentials(self, registry: Registry) -> None:
        if self._resolved:
            return
        profile = self.session.get_config_variable("profile")
        source = f"profile {profile!r}" if profile else "the default credential chain"
        self.report(f"resolving AWS credentials ({source})", CREDENTIALS)
        try:
            credentials = self.session.get_credentials()
            if credentials is not None:
                credentials.get_frozen_credentials()  # deferred sources resolve here
        except Exception as err:
            raise classify(err, self.session, registry, "credentials") from None
        if credentials is None:
            from botocore.exceptions import NoCredentialsError  # noqa: PLC0415

            raise classify(NoCredentialsError(), self.session, registry, "credentials")
        self._resolved = True

    def assume_role(self, who: Identity, role_arn: str, registry: Registry) -> dict[str, str]:
        """Temporary keys for the configured role, from one STS AssumeRole call made with
        the base identity (the profile, else the default chain). The ECR token they buy
        is cached, so the role is assumed once per token, not once per pull."""
        sts = self.create("sts", registry.region, registry)
        request = {
            "RoleArn": role_arn,
            "RoleSessionName": who.session_name or DEFAULT_SESSION_NAME,
        }
        if who.external_id:
            request["ExternalId"] = who.external_id
        doing = f"assuming role {role_arn} with sts:AssumeRole at {_endpoint_of(sts)}"
        try:
            answer = self.call(
                lambda: sts.assume_role(**request), registry, "sts:AssumeRole", doing, role_arn
            )
        except errors.HelperError as error:
            if role_arn in error.message:
                raise
            raise type(error)(
                f"assuming role {role_arn} for {registry.host}: {error.message}"
            ) from None
        credentials = answer["Credentials"]
        return {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }

    def call(
        self,
        request: Callable[[], Any],
        registry: Registry,
        what: str,
        doing: str,
        role_arn: str = "",
    ) -> Any:
        """``request()``, retried as the module docstring says; a classified error when
        it fails for good. Every attempt is reported as a ``CALL``, the first as ``doing``."""
        started = time.monotonic()
        slowest = 0.0
        attempt = 0
        while True:
            attempt += 1
            self.report(doing, CALL)
            began = time.monotonic()
            try:
                return request()
            except Exception as err:
                now = time.monotonic()
                slowest = max(slowest, now - began)
                kind = retry_kind(err)
                left = None if self.deadline is None else self.deadline - now
                delay = policy.retry_delay(kind, attempt, random.random(), left, slowest)  # noqa: S311
                if delay is None:
                    tries = Tries(attempt, now - started)
                    raise classify(err, self.session, registry, what, tries, role_arn) from None
            reason = "throttling" if kind == "throttle" else "a transient failure"
            self.report(
                f"waiting {delay:.1f}s to retry {what} after {reason} (attempt {attempt})", WAIT
            )
            time.sleep(delay)
            doing = f"calling {what} again after {reason} (attempt {attempt + 1})"


class Tries:
    """How hard a call was tried, for the message of its final failure."""

    __slots__ = ("attempts", "seconds")

    def __init__(self, attempts: int, seconds: float) -> None:
        self.attempts = attempts
        self.seconds = seconds

    def __str__(self) -> str:
        if self.attempts == 1:
            return "1 attempt"
        return f"{self.attempts} attempts in {self.seconds:.0f}s"


def retry_kind(err: Exception) -> str | None:
    """ "throttle", "transient" or None (final) for what botocore raised."""
    from botocore import exceptions as bx  # noqa: PLC0415

    if isinstance(err, bx.ClientError):
        if err.response.get("Error", {}).get("Code") in THROTTLING_CODES:
            return "throttle"
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return "transient" if isinstance(status, int) and status >= 500 else None
    if isinstance(err, bx.SSLError):
        return None  # a certificate problem does not go away by asking again
    if isinstance(err, bx.ReadTimeoutError):
        return None  # the server has the request: asking again only adds to its load
    if isinstance(err, bx.ConnectionError | bx.HTTPClientError):
        return "transient"
    return None


def decode_token(data: Any, registry: Registry) -> Token:
    """Check and unpack one ``authorizationData`` item; a malformed answer is an error."""
    what = f"{registry.service} GetAuthorizationToken for {registry.host}"
    if not isinstance(data, dict):
        raise errors.BadToken(f"{what} returned no authorization data")
    token, expires = data.get("authorizationToken"), data.get("expiresAt")
    try:
        decoded = binascii.a2b_base64(str(token), strict_mode=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.BadToken(f"{what} returned a token that is not base64 text") from None
    username, colon, secret = decoded.partition(":")
    if not (colon and username and secret) or not decoded.isprintable():
        raise errors.BadToken(f"{what} returned a token that is not of the form user:password")
    if not isinstance(expires, datetime.datetime):
        raise errors.BadToken(f"{what} returned no expiry time")
    return Token(username, secret, expires.timestamp())


def classify(
    err: Exception,
    session: Any,
    registry: Registry,
    what: str,
    tries: Tries | None = None,
    role_arn: str = "",
    *,
    settings_only: bool = False,
) -> errors.HelperError:
    """The user-facing error for whatever botocore raised while doing ``what`` (a
    ``service:Action``, a service name, or "credentials"). Anything but botocore's own
    errors and the system's is raised again, a bug for the worker to report as one,
    unless ``settings_only`` says that only settings were at work (creating a client:
    botocore says ValueError of an endpoint URL it cannot use)."""
    from botocore import exceptions as bx  # noqa: PLC0415

    profile = session.get_config_variable("profile") or "default"
    if isinstance(err, bx.NoCredentialsError):
        return errors.NoAwsCredentials(
            "no AWS credentials found (looked at environment variables, "
            f"profile {profile!r} in the shared config and credentials files, SSO, "
            "web identity, container and instance metadata): run `aws configure` or "
            "`aws sso login`, or set AWS_PROFILE"
        )
    if isinstance(err, bx.ProfileNotFound):
        return errors.NoAwsCredentials(
            f"AWS profile {profile!r} is not defined in the shared config or credentials "
            "file: check AWS_PROFILE and ~/.aws/config"
        )
    if isinstance(err, bx.SSOError | bx.UnauthorizedSSOTokenError | bx.TokenRetrievalError):
        return errors.SsoLoginRequired(
            f"the AWS SSO session for profile {profile!r} has expired or was never started: "
            f"run `aws sso login --profile {profile}`"
        )
    if isinstance(err, bx.ClientError):
        return _client_error(err, profile, registry, tries, role_arn)
    service = what.partition(":")[0]
    endpoint = _endpoint(err, registry, service)
    if isinstance(err, bx.SSLError) and (missing := _missing_ca_bundle(session, profile)):
        return missing
    if service == "credentials" and isinstance(err, bx.ConnectionError | bx.HTTPClientError):
        return errors.NoAwsCredentials(
            f"AWS credentials could not be loaded for profile {profile!r}: {_one_line(err)}"
        )
    if isinstance(err, bx.SSLError):
        return errors.EndpointUnreachable(
            f"TLS verification failed for {endpoint}: if a proxy re-signs traffic, "
            "point AWS_CA_BUNDLE at its CA certificate"
        )
    where = f"{endpoint} (region {registry.region}, partition {registry.partition})"
    check = (
        "check the network, proxy settings (HTTPS_PROXY), the region and "
        f"{_endpoint_variable(service)}"
    )
    if isinstance(err, bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return errors.EndpointUnreachable(f"timed out talking to {where} ({tries}): {check}")
    if isinstance(err, bx.EndpointConnectionError | bx.ConnectionClosedError):
        return errors.EndpointUnreachable(f"cannot reach {where} ({tries}): {check}")
    if isinstance(err, bx.CredentialRetrievalError | bx.PartialCredentialsError):
        return errors.NoAwsCredentials(f"AWS credentials could not be loaded: {_one_line(err)}")
    if not settings_only and not isinstance(err, bx.BotoCoreError | OSError):
        # Not an answer of AWS's nor a failure to reach it: a bug (ours, or the SDK's on
        # input such as a malformed credential_process answer). The worker reports it as
        # an internal error, with its traceback under ECRPY_DEBUG, and nothing backs off.
        raise err
    if isinstance(err, bx.BotoCoreError):
        return errors.AwsError(f"{what} failed: {_one_line(err)}")
    return errors.AwsError(f"{what} failed: {type(err).__name__}: {_one_line(err)}")


def _missing_ca_bundle(session: Any, profile: str) -> errors.HelperError | None:
    """A CA bundle that is not there fails every TLS handshake as if it had not verified:
    the error names the missing file, not a proxy that may be re-signing."""
    bundle = session.get_config_variable("ca_bundle")
    if not bundle:
        return None
    trouble = ca_bundle_trouble(str(bundle), "AWS_CA_BUNDLE" in os.environ, profile)
    return None if trouble is None else errors.EndpointUnreachable(trouble)


def ca_bundle_trouble(path: str, from_env: bool, profile: str) -> str | None:
    """Why the CA bundle at ``path`` cannot verify anything (it is missing, or not a
    file), naming the setting it came from (``AWS_CA_BUNDLE``, else the profile's
    ``ca_bundle``); None when it is a file. For a get's TLS failure and for doctor."""
    if os.path.isfile(path):
        return None
    source = "AWS_CA_BUNDLE" if from_env else f"ca_bundle of profile {profile!r}"
    what = "is not a file" if os.path.exists(path) else "is missing (no such file)"
    return (
        f"the CA bundle {path} named by {source} {what}: TLS cannot be verified; point "
        f"{source} at the CA certificate (PEM) that signs the endpoint's certificate, "
        "or unset it"
    )


def _client_error(
    err: Any, profile: str, registry: Registry, tries: Tries | None, role_arn: str
) -> errors.HelperError:
    error = err.response.get("Error", {})
    code = _one_line(error.get("Code") or "Unknown", CODE_LIMIT)
    if code.isdigit():  # botocore's code for an answer that is not AWS's (a proxy's page)
        code = f"HTTP {code}"
    message = _one_line(error.get("Message") or code)
    operation = err.operation_name
    service = "sts" if operation in ("AssumeRole", "GetCallerIdentity") else registry.service
    action = f"{service}:{operation}"
    if code in THROTTLING_CODES:
        return errors.Throttled(
            f"AWS throttled {action} in {registry.region} ({tries}): too many requests "
            "for this account and region; retry shortly"
        )
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
        return errors.AccessDenied(
            f"the AWS session credentials of profile {profile!r} have expired ({code}) "
            f"calling {action}: refresh them (for SSO: `aws sso login`) and try again"
        )
    if operation == "AssumeRole" and code not in ("UnrecognizedClientException",):
        return errors.AccessDenied(
            f"cannot assume role {role_arn} for {registry.host} (base identity: profile "
            f"{profile!r}): {code}: {message}; the role's trust policy must allow the base "
            "identity, which needs sts:AssumeRole on the role (and the right external_id)"
        )
    if code in ("UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException"):
        return errors.AccessDenied(
            f"AWS rejected the credentials ({code}) calling {action}: the access key is "
            "unknown or its secret is wrong, or the region is not enabled for the account"
        )
    if code in ("AccessDenied", "AccessDeniedException"):
        return errors.AccessDenied(
            f"access denied: the AWS identity may not call {action} ({message}); "
            f'grant {action} on Resource "*"'
        )
    attempts = f" ({tries})" if tries is not None and tries.attempts > 1 else ""
    return errors.AwsError(f"{action} failed with {code}{attempts}: {message}")


def _endpoint_of(client: Any) -> str:
    return str(getattr(getattr(client, "meta", None), "endpoint_url", "")) or "its endpoint"


def _endpoint(err: Exception, registry: Registry, service: str) -> str:
    url = getattr(err, "kwargs", {}).get("endpoint_url")
    return str(url) if url else f"the {service} API endpoint in {registry.region}"


def _configured_endpoint(session: Any, service: str) -> str:
    """The endpoint the user configured for ``service`` (AWS_ENDPOINT_URL,
    AWS_ENDPOINT_URL_<SERVICE>, or ``endpoint_url`` in the profile or its services
    section), as botocore finds it; "" for AWS's own."""
    from botocore.configprovider import ConfiguredEndpointProvider  # noqa: PLC0415

    try:
        if session.get_config_variable("ignore_configured_endpoint_urls"):
            return ""
        provider = ConfiguredEndpointProvider(
            full_config=session.full_config,
            scoped_config=session.get_scoped_config(),
            client_name=service,
        )
        return str(provider.provide() or "")
    except Exception:  # only a message depends on it: never fail a token for it
        return ""


def _endpoint_variable(service: str) -> str:
    return "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")


def _one_line(value: object, limit: int = errors.OUTSIDE_LIMIT) -> str:
    """What AWS, a proxy, botocore or a ``credential_process`` said, fit to be part of
    our message (``errors.outside``): every text from outside enters here."""
    return errors.outside(str(value), limit)
