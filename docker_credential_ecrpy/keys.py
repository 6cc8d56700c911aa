"""A fingerprint of the configured AWS identity, taken without resolving credentials.

The cache key must change whenever the identity that would call AWS could change, yet a
cache hit must not resolve credentials: for assume-role, SSO, container and instance-role
users that means network calls, and their access key id changes every session anyway
(which is why the Go helper, keyed on it, never hits for them). So the fingerprint covers
what *configures* the identity: the environment variables the AWS SDK reads and the
contents of the shared config and credentials files. It is an unkeyed BLAKE2b digest of
all of it, so neither key ids nor secrets can be read back from a cache file name.

The files are read the way every file of ours is (``files.read_regular``): a FIFO or a
device in their place must not hang every ``get``, cache hits included. Such a file is
fingerprinted by what it is, with a warning; botocore skips anything but a regular file.
"""

from __future__ import annotations

from . import files, settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

try:  # the C module behind hashlib.blake2b; hashlib itself would load OpenSSL
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - interpreters without the builtin module
    from hashlib import blake2b

# Environment variables that choose or carry credentials, or change where tokens come
# from. A web-identity token file is named, not read: its contents rotate hourly while
# the identity it stands for does not.
IDENTITY_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ECR",
    "AWS_ENDPOINT_URL_ECR_PUBLIC",
    "AWS_ENDPOINT_URL_STS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_STS_REGIONAL_ENDPOINTS",
)


def aws_files(env: Mapping[str, str]) -> tuple[str, str]:
    """The shared config and credentials files the AWS SDK would read."""
    return (
        settings.expanduser(env.get("AWS_CONFIG_FILE") or "~/.aws/config", env),
        settings.expanduser(env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials", env),
    )


# Far larger than any real shared config file; a larger one is fingerprinted by its
# identity (inode, size, modification time) instead of its contents.
MAX_FILE_BYTES = 1 << 20


def fingerprint(
    env: Mapping[str, str],
    extra: Iterable[str] = (),
    warn: Callable[[str], None] | None = None,
) -> str:
    """A hex digest that changes when anything configuring the AWS identity changes.

    ``extra`` carries identity settings from elsewhere (a per-registry profile or role);
    ``warn`` hears about a config or credentials file that is not a regular file.
    """
    return hashed(_identity(env, extra, warn), 20, b"ecrpy-identity").hexdigest()


def _identity(
    env: Mapping[str, str], extra: Iterable[str], warn: Callable[[str], None] | None
) -> Iterator[bytes]:
    for name in IDENTITY_VARIABLES:
        value = env.get(name)
        if value is not None:
            yield f"{name}={value}".encode()
    for path in aws_files(env):
        yield path.encode()
        yield _contents(path, warn)
    for item in extra:
        yield item.encode()


# The short form of a fingerprint that people see (doctor, the activity log, the cache
# files): enough to tell a host's identities apart. Like the whole digest, it is taken
# over all of the configuration at once, so it says nothing of any key id or secret in it.
SHORT_DIGITS = 12
_HEX = frozenset("0123456789abcdef")


def short(fingerprint: str) -> str:
    return fingerprint[:SHORT_DIGITS]


def is_short(text: str) -> bool:
    """Whether ``text`` is a short form as ``short`` writes it."""
    return len(text) == SHORT_DIGITS and _HEX.issuperset(text)


def cache_key(*parts: str) -> str:
    """A short file-name-safe digest of registry and identity."""
    return hashed((part.encode() for part in parts), 16, b"ecrpy-cachekey").hexdigest()


def hashed(parts: Iterable[bytes], size: int, person: bytes) -> blake2b:
    """The BLAKE2b digest of ``parts``, each length-prefixed so that ("ab", "c") and
    ("a", "bc") never hash alike: every digest of ours (``person`` tells them apart)."""
    digest = blake2b(digest_size=size, person=person)
    for data in parts:
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest


def _contents(path: str, warn: Callable[[str], None] | None) -> bytes:
    try:
        return b"present\0" + files.read_regular(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        return b"absent"
    except files.TooLarge as large:
        info = large.info
        return f"large\0{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}".encode()
    except files.OddFile as odd:
        if warn is not None:
            warn(f"{odd}; ignoring it, as the AWS SDK does")
        return b"odd\0" + str(odd).encode()
    except OSError as err:
        return f"unreadable\0{err.errno}".encode()
