"""The one place that talks to AWS: a GetAuthorizationToken call, bounded and classified.

botocore is imported inside ``fetch_token`` only: it costs more than ten cache hits, and
only a miss needs it. Every wait is bounded (connect and read timeouts, the "standard"
retry mode with a small attempt budget, a short instance-metadata timeout), so a ``get``
ends within about twenty seconds whatever the network does. Every failure is turned into
one of the error kinds in ``errors``, with the cause and the fix in one line.
"""

from __future__ import annotations

from . import __version__, errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .config import IdentitySettings
    from .registry import Registry

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 4.0
MAX_ATTEMPTS = 3
METADATA_TIMEOUT = 1.0


class Token:
    """What ECR hands out: registry credentials valid until ``expires_at`` (epoch s)."""

    __slots__ = ("expires_at", "password", "username")

    def __init__(self, username: str, password: str, expires_at: float) -> None:
        self.username = username
        self.password = password
        self.expires_at = expires_at

    def __repr__(self) -> str:  # never the password
        return f"Token(username={self.username!r}, expires_at={self.expires_at})"


def fetch_token(registry: Registry, identity_settings: IdentitySettings | None = None) -> Token:
    """A fresh token for ``registry``: from the standard AWS credential chain, or from the
    profile and/or role the configuration file names for it."""
    import botocore.session  # noqa: PLC0415 - the cache-hit path must not pay for it
    from botocore.config import Config  # noqa: PLC0415

    profile = identity_settings.profile if identity_settings is not None else None
    role_arn = identity_settings.role_arn if identity_settings is not None else None
    # An explicit session profile also makes botocore skip the AWS_ACCESS_KEY_ID
    # variables, as the AWS CLI's --profile does: the configured profile wins.
    session = botocore.session.Session(profile=profile)
    session.set_config_variable("metadata_service_timeout", METADATA_TIMEOUT)
    session.set_config_variable("metadata_service_num_attempts", 1)
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        use_fips_endpoint=registry.fips,
        use_dualstack_endpoint=registry.dualstack,
        user_agent_extra=f"docker-credential-ecrpy/{__version__}",
    )
    try:
        keys: dict[str, Any] = {}
        if role_arn is not None and identity_settings is not None:
            try:
                keys = _assume_role(session, identity_settings, role_arn, registry, config)
            except Exception as err:
                raise _RoleFailure(err) from None
        client: Any = session.create_client(
            registry.service, region_name=registry.region, config=config, **keys
        )
        if registry.account is None:
            data = client.get_authorization_token()["authorizationData"]
        else:
            answer = client.get_authorization_token(registryIds=[registry.account])
            data = (answer.get("authorizationData") or [None])[0]
    except _RoleFailure as failure:
        error = classify(failure.cause, session, registry, role_arn)
        if role_arn is not None and role_arn not in error.message:
            error = type(error)(f"assuming role {role_arn} for {registry.host}: {error.message}")
        raise error from None
    except Exception as err:
        raise classify(err, session, registry, role_arn) from None
    return decode_token(data, registry)


class _RoleFailure(Exception):
    """Marks a failure of the AssumeRole step, so its message can name the role."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _assume_role(
    session: Any,
    identity_settings: IdentitySettings,
    role_arn: str,
    registry: Registry,
    config: Any,
) -> dict[str, str]:
    """Temporary keys for the configured role, from one STS AssumeRole call made with the
    base identity (the profile, else the default chain). The ECR token they buy is
    cached, so the role is assumed once per token, not once per pull."""
    from .config import DEFAULT_SESSION_NAME  # noqa: PLC0415

    sts: Any = session.create_client("sts", region_name=registry.region, config=config)
    request = {
        "RoleArn": role_arn,
        "RoleSessionName": identity_settings.session_name or DEFAULT_SESSION_NAME,
    }
    if identity_settings.external_id:
        request["ExternalId"] = identity_settings.external_id
    credentials = sts.assume_role(**request)["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def caller_account() -> tuple[str, str | None]:
    """(account id of the current AWS identity, its configured region or None), for
    ``configure`` without hosts: one STS GetCallerIdentity call."""
    import os  # noqa: PLC0415

    import botocore.session  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    session = botocore.session.Session()
    session.set_config_variable("metadata_service_timeout", METADATA_TIMEOUT)
    session.set_config_variable("metadata_service_num_attempts", 1)
    region = (
        os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or session.get_config_variable("region")
    )
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        user_agent_extra=f"docker-credential-ecrpy/{__version__}",
    )
    from .registry import Registry  # noqa: PLC0415

    where = Registry("sts", "000000000000", region or "us-east-1")
    try:
        sts: Any = session.create_client("sts", region_name=region or "us-east-1", config=config)
        account = str(sts.get_caller_identity()["Account"])
    except Exception as err:
        raise classify(err, session, where) from None
    return account, (str(region) if region else None)


def decode_token(data: Any, registry: Registry) -> Token:
    """Check and unpack one ``authorizationData`` item; a malformed answer is an error."""
    import binascii  # noqa: PLC0415
    import datetime  # noqa: PLC0415

    what = f"{registry.service} GetAuthorizationToken for {registry.host}"
    if not isinstance(data, dict):
        raise errors.BadToken(f"{what} returned no authorization data")
    token, expires = data.get("authorizationToken"), data.get("expiresAt")
    try:
        decoded = binascii.a2b_base64(str(token), strict_mode=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.BadToken(f"{what} returned a token that is not base64 text") from None
    username, colon, password = decoded.partition(":")
    if not (colon and username and password) or not decoded.isprintable():
        raise errors.BadToken(f"{what} returned a token that is not of the form user:password")
    if not isinstance(expires, datetime.datetime):
        raise errors.BadToken(f"{what} returned no expiry time")
    return Token(username, password, expires.timestamp())


def classify(
    err: Exception, session: Any, registry: Registry, role_arn: str | None = None
) -> errors.HelperError:
    """The user-facing error for whatever botocore raised."""
    from botocore import exceptions as bx  # noqa: PLC0415

    profile = session.get_config_variable("profile") or "default"
    action = f"{registry.service}:GetAuthorizationToken"
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
    if isinstance(err, bx.ClientError) and err.operation_name == "AssumeRole":
        return _assume_role_error(err, profile, registry, role_arn)
    if isinstance(err, bx.ClientError):
        return _client_error(err, action, registry)
    endpoint = _endpoint(err, registry)
    if isinstance(err, bx.SSLError):
        return errors.EndpointUnreachable(
            f"TLS verification failed for {endpoint}: if a proxy re-signs traffic, "
            "point AWS_CA_BUNDLE at its CA certificate"
        )
    where = f"{endpoint} (region {registry.region}, partition {registry.partition})"
    if isinstance(err, bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return errors.EndpointUnreachable(
            f"timed out talking to {where} after {MAX_ATTEMPTS} attempts: check the "
            "network, proxy settings (HTTPS_PROXY), the region and AWS_ENDPOINT_URL_ECR"
        )
    if isinstance(err, bx.EndpointConnectionError):
        return errors.EndpointUnreachable(
            f"cannot reach {where}: check the network, proxy settings (HTTPS_PROXY), "
            "the region and AWS_ENDPOINT_URL_ECR"
        )
    if isinstance(err, bx.CredentialRetrievalError | bx.PartialCredentialsError):
        return errors.NoAwsCredentials(f"AWS credentials could not be loaded: {_one_line(err)}")
    if isinstance(err, bx.BotoCoreError):
        return errors.AwsError(f"{action} failed: {_one_line(err)}")
    return errors.AwsError(f"{action} failed: {type(err).__name__}: {_one_line(err)}")


def _client_error(err: Any, action: str, registry: Registry) -> errors.HelperError:
    error = err.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = _one_line(error.get("Message") or code)
    operation = err.operation_name
    if code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
        return errors.Throttled(
            f"AWS throttled {operation} in {registry.region} even after {MAX_ATTEMPTS} "
            "attempts: too many token requests for this account and region; retry shortly"
        )
    if code in ("UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException"):
        return errors.AccessDenied(
            f"AWS rejected the credentials ({code}) calling {operation}: the access key is "
            "unknown or its secret is wrong, or the region is not enabled for the account"
        )
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
        return errors.AccessDenied(
            f"the AWS session credentials have expired ({code}): refresh them "
            "(for SSO: `aws sso login`) and try again"
        )
    if code in ("AccessDenied", "AccessDeniedException"):
        needed = action if operation == "GetAuthorizationToken" else f"sts:{operation}"
        return errors.AccessDenied(
            f"access denied: the AWS identity may not call {needed} ({message}); "
            f'grant {needed} on Resource "*"'
        )
    return errors.AwsError(f"{operation} failed with {code}: {message}")


def _assume_role_error(
    err: Any, profile: str, registry: Registry, role_arn: str | None
) -> errors.HelperError:
    error = err.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = _one_line(error.get("Message") or code)
    if code in ("Throttling", "ThrottlingException"):
        return errors.Throttled(f"AWS throttled sts:AssumeRole of {role_arn}; retry shortly")
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
        return errors.AccessDenied(
            f"the AWS session credentials of profile {profile!r} have expired ({code}) "
            f"while assuming {role_arn}: refresh them and try again"
        )
    return errors.AccessDenied(
        f"cannot assume role {role_arn} for {registry.host} (base identity: profile "
        f"{profile!r}): {code}: {message}; the role's trust policy must allow the base "
        "identity, which needs sts:AssumeRole on the role (and the right external_id)"
    )


def _endpoint(err: Exception, registry: Registry) -> str:
    url = getattr(err, "kwargs", {}).get("endpoint_url")
    return str(url) if url else f"the {registry.service} API endpoint in {registry.region}"


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
