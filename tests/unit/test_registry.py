"""The registry parser: every hostname form ECR has, every spelling clients send, and
lookalikes that must never be taken for ECR."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy.registry import (
    Registry,
    hostname,
    is_account,
    parse,
    partition_of,
    registry_host,
)

A = "123456789012"

FORMS = [
    # host, region, partition, fips, dualstack
    (f"{A}.dkr.ecr.us-east-1.amazonaws.com", "us-east-1", "aws", False, False),
    (f"{A}.dkr.ecr.eu-central-2.amazonaws.com", "eu-central-2", "aws", False, False),
    (f"{A}.dkr.ecr-fips.us-east-2.amazonaws.com", "us-east-2", "aws", True, False),
    (f"{A}.dkr-ecr.us-west-2.on.aws", "us-west-2", "aws", False, True),
    (f"{A}.dkr-ecr-fips.us-west-1.on.aws", "us-west-1", "aws", True, True),
    (f"{A}.dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1", "aws-cn", False, False),
    (
        f"{A}.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn",
        "cn-northwest-1",
        "aws-cn",
        False,
        True,
    ),
    (f"{A}.dkr.ecr.us-gov-west-1.amazonaws.com", "us-gov-west-1", "aws-us-gov", False, False),
    (f"{A}.dkr.ecr-fips.us-gov-east-1.amazonaws.com", "us-gov-east-1", "aws-us-gov", True, False),
    (f"{A}.dkr-ecr-fips.us-gov-west-1.on.aws", "us-gov-west-1", "aws-us-gov", True, True),
    (f"{A}.dkr.ecr.us-iso-east-1.c2s.ic.gov", "us-iso-east-1", "aws-iso", False, False),
    (f"{A}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", "us-isob-east-1", "aws-iso-b", False, False),
    (f"{A}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", "eu-isoe-west-1", "aws-iso-e", False, False),
    (f"{A}.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", "us-isof-south-1", "aws-iso-f", False, False),
    (f"{A}.dkr.ecr.eusc-de-east-1.amazonaws.eu", "eusc-de-east-1", "aws-eusc", False, False),
]


@pytest.mark.parametrize(("host", "region", "partition", "fips", "dualstack"), FORMS)
def test_every_private_hostname_form(
    host: str, region: str, partition: str, fips: bool, dualstack: bool
) -> None:
    assert parse(host) == Registry(host, A, region, partition, fips=fips, dualstack=dualstack)
    assert parse(host).service == "ecr"  # type: ignore[union-attr]


@pytest.mark.parametrize("host", ["public.ecr.aws", "ecr-public.aws.com"])
def test_ecr_public(host: str) -> None:
    registry = parse(host)
    assert registry is not None
    assert registry.public
    assert (registry.service, registry.region, registry.account) == (
        "ecr-public",
        "us-east-1",
        None,
    )


SPELLINGS = [
    "{h}",
    "{h}\n",
    "  {h}  \n",
    "https://{h}",
    "http://{h}",
    "{h}:443",
    "https://{h}:443/",
    "https://{h}/v2/",
    "{h}/some/repo",
    "{h}/some/repo:tag",
    "{H}",
    "HTTPS://{H}:443/Repo",
    "{h}.",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_client_spelling_names_the_same_registry(spelling: str) -> None:
    host = f"{A}.dkr.ecr.us-east-1.amazonaws.com"
    assert parse(spelling.format(h=host, H=host.upper())) == parse(host)


LOOKALIKES = [
    "",
    "docker.io",
    "registry-1.docker.io",
    "localhost:5000",
    "ghcr.io/owner/repo",
    f"{A}.dkr.ecr.us-east-1.amazonaws.com.evil.example",
    f"{A}.dkr.ecr.us-east-1.amazonaws.com.cn.evil",
    f"evil.{A}.dkr.ecr.us-east-1.amazonaws.com",
    f"{A}.dkr.ecr.us-east-1.amazonaws.co",
    f"{A}.dkr.ecr.us-east-1.evil.com",
    "12345678901.dkr.ecr.us-east-1.amazonaws.com",  # 11 digits
    "1234567890123.dkr.ecr.us-east-1.amazonaws.com",  # 13 digits
    "12345678901a.dkr.ecr.us-east-1.amazonaws.com",
    "\uff11" * 12 + ".dkr.ecr.us-east-1.amazonaws.com",  # full-width digits
    f"{A}.dkr.ecr..amazonaws.com",
    f"{A}.dkr.ecr.useast1.amazonaws.com",
    f"{A}.dkr.ecr.us-east-x.amazonaws.com",
    f"{A}.dkr.ecr.US_EAST-1.amazonaws.com",
    f"{A}.dkr.ecr-fip.us-east-1.amazonaws.com",
    f"{A}.dkr.ecrx.us-east-1.amazonaws.com",
    f"{A}.dkr-ecr.us-east-1.amazonaws.com",  # dual-stack spelling on a classic domain
    f"{A}.dkr.ecr.us-east-1.on.aws",  # classic spelling on a dual-stack domain
    f"{A}.dkr.ecr.cn-north-1.amazonaws.com",  # China region, commercial domain
    f"{A}.dkr.ecr.us-east-1.amazonaws.com.cn",  # commercial region, China domain
    f"{A}.ecr.dkr.us-east-1.amazonaws.com",
    f"{A}.dkr.ecr.us-east-1.amazonaws.com:notaport",
    "public.ecr.aws.evil.example",
    "evilpublic.ecr.aws",
    "ftp://public.ecr.aws.example",
    f"user@{A}.dkr.ecr.us-east-1.amazonaws.com",
    f"[{A}.dkr.ecr.us-east-1.amazonaws.com]",
]


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_are_not_ecr(text: str) -> None:
    assert parse(text) is None


def test_hostname_strips_every_decoration() -> None:
    assert hostname(" HTTPS://Example.COM:8443/a/b?c \n") == "example.com"


# -- properties ---------------------------------------------------------------------------

regions = st.builds(
    lambda area, word, n: f"{area}-{word}-{n}",
    st.sampled_from(["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"]),
    st.sampled_from(["east", "west", "north", "south", "central", "southeast", "northeast"]),
    st.integers(min_value=1, max_value=9),
)
accounts = st.from_regex(r"\A[0-9]{12}\Z")


@given(text=st.text())
def test_parse_never_raises_and_is_pure(text: str) -> None:
    assert parse(text) == parse(text)


@given(data=st.binary().map(lambda b: b.decode("utf-8", "replace")))
def test_arbitrary_decoded_bytes(data: str) -> None:
    result = parse(data)
    assert result is None or result.host == hostname(data)


@given(account=accounts, region=regions, fips=st.booleans(), dual=st.booleans())
def test_generated_registries_round_trip(account: str, region: str, fips: bool, dual: bool) -> None:
    service = ("dkr-ecr" if dual else "dkr.ecr") + ("-fips" if fips else "")
    domain = "on.aws" if dual else "amazonaws.com"
    host = f"{account}.{service}.{region}.{domain}"
    registry = parse(f"https://{host.upper()}:443/repo")
    assert registry == Registry(host, account, region, "aws", fips=fips, dualstack=dual)


@given(
    account=accounts, region=regions, suffix=st.text(min_size=1).filter(lambda s: s[0] not in "/:?")
)
def test_anything_after_the_domain_makes_a_lookalike(
    account: str, region: str, suffix: str
) -> None:
    host = f"{account}.dkr.ecr.{region}.amazonaws.com"
    spelled = host + suffix
    if hostname(spelled) != host:
        assert parse(spelled) is None


# -- the partition table ---------------------------------------------------------------------


@pytest.mark.parametrize(("host", "region", "partition", "fips", "dualstack"), FORMS)
def test_the_standard_hostname_of_each_partition_parses_back(
    host: str, region: str, partition: str, fips: bool, dualstack: bool
) -> None:
    assert partition_of(region).name == partition
    standard = registry_host(A, region)
    assert parse(standard) == Registry(standard, A, region, partition)


@pytest.mark.parametrize(
    "host",
    [
        f"{A}.dkr.ecr.us-east-1.c2s.ic.gov",  # a commercial region on an ISO domain
        f"{A}.dkr.ecr.us-iso-east-1.amazonaws.com",  # an ISO region on the commercial one
        f"{A}.dkr.ecr.cn-north-1.amazonaws.com",
        f"{A}.dkr.ecr.us-east-1.amazonaws.com.cn",
        f"{A}.dkr-ecr.us-iso-east-1.on.aws",  # no dual-stack domain in the ISO partitions
        f"{A}.dkr.ecr.eusc-de-east-1.amazonaws.com",
    ],
)
def test_region_and_domain_must_agree(host: str) -> None:
    assert parse(host) is None


@pytest.mark.parametrize(
    ("label", "account"),
    [
        ("123456789012", True),
        ("12345678901", False),
        ("1234567890123", False),
        ("12345678901a", False),
        ("١٢٣٤٥٦٧٨٩٠١٢", False),  # Arabic-Indic digits: isdigit, not ASCII
    ],
)
def test_is_account_takes_twelve_ascii_digits(label: str, account: bool) -> None:
    assert is_account(label) is account
