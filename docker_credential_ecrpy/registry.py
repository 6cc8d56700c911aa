"""Registry hostnames: which ECR registry a server URL names, if any.

A pure function over strings. It runs on every call, including for every registry that is
not ECR when the helper is Docker's ``credsStore``, so it uses plain string operations
(importing ``re`` alone would cost more than the rest of a cache hit) and decides without
any I/O. The rule is strict on purpose: an account is exactly twelve digits and the domain
must end the hostname, so lookalikes such as ``<acct>.dkr.ecr.<region>.amazonaws.com.evil``
are not ECR and never cause an AWS call.
"""

from __future__ import annotations

# domain suffix -> (partition, dual-stack). Dual-stack domains spell the service
# ``dkr-ecr``; the others ``dkr.ecr``.
_DOMAINS = {
    "amazonaws.com": ("aws", False),
    "on.aws": ("aws", True),
    "amazonaws.com.cn": ("aws-cn", False),
    "on.amazonwebservices.com.cn": ("aws-cn", True),
    "c2s.ic.gov": ("aws-iso", False),
    "sc2s.sgov.gov": ("aws-iso-b", False),
    "cloud.adc-e.uk": ("aws-iso-e", False),
    "csp.hci.ic.gov": ("aws-iso-f", False),
    "amazonaws.eu": ("aws-eusc", False),
}
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
    if len(account) != 12 or not _DIGITS.issuperset(account):
        return None
    if first == "dkr":  # <acct>.dkr.ecr[-fips].<region>.<domain>
        service, region, domain = labels[2], labels[3], ".".join(labels[4:])
        dualstack_form = False
    else:  # <acct>.dkr-ecr[-fips].<region>.<dual-stack domain>
        service, region, domain = first, labels[2], ".".join(labels[3:])
        dualstack_form = True
    known = _DOMAINS.get(domain)
    if known is None:
        return None
    domain_partition, dualstack = known
    prefix = "dkr-ecr" if dualstack else "ecr"
    if dualstack != dualstack_form or service not in (prefix, prefix + "-fips"):
        return None
    partition = _region_partition(region, domain_partition) if _is_region(region) else None
    if partition is None:
        return None
    fips = service.endswith("-fips")
    return Registry(host, account, region, partition, fips=fips, dualstack=dualstack)


def _is_region(label: str) -> bool:
    """``us-east-1``, ``cn-north-1``, ``us-gov-west-1``, ``eusc-de-east-1``..."""
    parts = label.split("-")
    return (
        len(parts) >= 3
        and parts[-1].isdigit()
        and parts[-1].isascii()
        and all(part and _REGION_CHARS.issuperset(part) for part in parts)
        and parts[0].isalpha()
    )


def _region_partition(region: str, domain_partition: str) -> str | None:
    """The partition, refined by region (GovCloud shares the commercial domain); None
    when region and domain contradict each other (a China region on a commercial domain)."""
    if domain_partition == "aws":
        if region.startswith("us-gov-"):
            return "aws-us-gov"
        if region.startswith(("cn-", "us-iso", "eu-isoe", "eusc-")):
            return None
        return "aws"
    if domain_partition == "aws-cn":
        return domain_partition if region.startswith("cn-") else None
    return domain_partition
