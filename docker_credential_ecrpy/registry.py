"""Registry hostnames: which ECR registry a server URL names, if any.

A pure function over strings. It runs on every call, including for every registry that is
not ECR when the helper is Docker's ``credsStore``, so it uses plain string operations
(no ``re``: see the package docstring) and decides without any I/O. The rule is strict
on purpose: an account is exactly twelve digits and the domain must end the hostname, so
lookalikes such as ``<acct>.dkr.ecr.<region>.amazonaws.com.evil`` are not ECR and never
cause an AWS call.
"""

from __future__ import annotations


class Partition:
    """An AWS partition as registry hostnames spell it: the domain of its registries, the
    dual-stack domain (None where there is none), and the region prefixes that belong to
    it (the commercial partition has the regions no other claims)."""

    __slots__ = ("domain", "dualstack_domain", "name", "prefixes")

    def __init__(
        self, name: str, domain: str, dualstack_domain: str | None, prefixes: tuple[str, ...]
    ) -> None:
        self.name = name
        self.domain = domain
        self.dualstack_domain = dualstack_domain
        self.prefixes = prefixes


# The one table of partitions. GovCloud shares the commercial domains; a region decides.
PARTITIONS = (
    Partition("aws-cn", "amazonaws.com.cn", "on.amazonwebservices.com.cn", ("cn-",)),
    Partition("aws-us-gov", "amazonaws.com", "on.aws", ("us-gov-",)),
    Partition("aws-iso-b", "sc2s.sgov.gov", None, ("us-isob-",)),
    Partition("aws-iso-f", "csp.hci.ic.gov", None, ("us-isof-",)),
    Partition("aws-iso", "c2s.ic.gov", None, ("us-iso-",)),
    Partition("aws-iso-e", "cloud.adc-e.uk", None, ("eu-isoe-",)),
    Partition("aws-eusc", "amazonaws.eu", None, ("eusc-",)),
    Partition("aws", "amazonaws.com", "on.aws", ()),
)
_PUBLIC_HOSTS = ("public.ecr.aws", "ecr-public.aws.com")
_PUBLIC_REGION = "us-east-1"
_DIGITS = frozenset("0123456789")
_REGION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


class Registry:
    """An ECR registry and what the GetAuthorizationToken call for it needs.

    ``account`` is None for ECR Public, whose API lives in one region only.
    """

    __slots__ = ("account", "dualstack", "fips", "host", "partition", "region")

    def __init__(
        self,
        host: str,
        account: str | None,
        region: str,
        partition: str = "aws",
        fips: bool = False,
        dualstack: bool = False,
    ) -> None:
        self.host = host
        self.account = account
        self.region = region
        self.partition = partition
        self.fips = fips
        self.dualstack = dualstack

    @property
    def public(self) -> bool:
        return self.account is None

    @property
    def service(self) -> str:
        return "ecr-public" if self.account is None else "ecr"

    @property
    def scope(self) -> str:
        """What one token is good for: ECR's tokens are valid for every registry of a
        region that the identity may access (``registryIds`` is deprecated), at the
        endpoint they were asked for; so three accounts' registries in one region share
        one token, while ECR Public, FIPS and dual-stack endpoints each have their own."""
        flags = ("fips",) * self.fips + ("dualstack",) * self.dualstack
        return " ".join((self.service, self.region, self.partition, *flags))

    def _fields(self) -> tuple[object, ...]:
        return (self.host, self.account, self.region, self.partition, self.fips, self.dualstack)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Registry) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        names = ("host", "account", "region", "partition", "fips", "dualstack")
        args = ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True))
        return f"Registry({args})"


def hostname(server_url: str) -> str:
    """The bare, lower-case hostname of whatever spelling a client sent.

    Clients send ``host``, ``https://host``, ``host:443``, ``https://host:443/`` or
    ``host/repo/path``; all name the same registry.
    """
    text = server_url.strip()
    scheme, sep, rest = text.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        text = rest
    host = text.split("/", 1)[0].split("?", 1)[0]
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and port.isascii():
        host = name
    return host.lower().removesuffix(".")


def parse(server_url: str) -> Registry | None:
    """The ECR registry that ``server_url`` names, or None when it is not ECR."""
    host = hostname(server_url)
    if host in _PUBLIC_HOSTS:
        return Registry(host, None, _PUBLIC_REGION)
    labels = host.split(".")
    if len(labels) < 5:
        return None
    account, first = labels[0], labels[1]
    if not is_account(account):
        return None
    if first == "dkr":  # <acct>.dkr.ecr[-fips].<region>.<domain>
        service, region, domain = labels[2], labels[3], ".".join(labels[4:])
        dualstack = False
    else:  # <acct>.dkr-ecr[-fips].<region>.<dual-stack domain>
        service, region, domain = first, labels[2], ".".join(labels[3:])
        dualstack = True
    prefix = "dkr-ecr" if dualstack else "ecr"
    if service not in (prefix, prefix + "-fips") or not is_region(region):
        return None
    partition = partition_of(region)
    # The domain must be the region's partition's: no China region on a commercial
    # domain, no commercial region on an ISO one.
    if domain != (partition.dualstack_domain if dualstack else partition.domain):
        return None
    fips = service.endswith("-fips")
    return Registry(host, account, region, partition.name, fips=fips, dualstack=dualstack)


def is_account(label: str) -> bool:
    """An AWS account id: exactly twelve ASCII digits."""
    return len(label) == 12 and _DIGITS.issuperset(label)


def is_region(label: str) -> bool:
    """``us-east-1``, ``cn-north-1``, ``us-gov-west-1``, ``eusc-de-east-1``..."""
    parts = label.split("-")
    return (
        len(parts) >= 3
        and parts[-1].isdigit()
        and parts[-1].isascii()
        and all(part and _REGION_CHARS.issuperset(part) for part in parts)
        and parts[0].isalpha()
    )


def partition_of(region: str) -> Partition:
    """The partition a region belongs to."""
    for partition in PARTITIONS:
        if region.startswith(partition.prefixes):
            return partition
    return PARTITIONS[-1]


def registry_host(account: str, region: str) -> str:
    """The standard hostname of an account's registry in a region."""
    return f"{account}.dkr.ecr.{region}.{partition_of(region).domain}"
