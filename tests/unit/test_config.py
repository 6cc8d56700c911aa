"""The configuration file's identities: an exact host wins over patterns, patterns go in
order, and the glob match agrees with fnmatch."""

from __future__ import annotations

import fnmatch

from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy import config, config_check
from tests.support.constants import ALIAS, HOST, ROLE
from tests.support.constants import HOST2 as EU_HOST


def test_exact_identity_wins_over_patterns_and_patterns_go_in_order() -> None:
    parsed = config_check.parse(
        (
            '[registries."*.dkr.ecr.eu-west-1.amazonaws.com"]\nprofile = "first"\n'
            '[registries."*.amazonaws.com"]\nprofile = "second"\n'
            f'[registries."{EU_HOST}"]\nrole_arn = "{ROLE}"\n'
            f'[registries."{ALIAS}"]\naccount = "123456789012"\nregion = "cn-north-1"\n'
            "fips = true\n"
        ).encode(),
        "x.toml",
    )
    exact = parsed.identity_for(EU_HOST)
    assert exact is not None and exact.role_arn == ROLE and exact.profile is None
    other = parsed.identity_for("210987654321.dkr.ecr.eu-west-1.amazonaws.com")
    assert other is not None and other.profile == "first"
    assert (parsed.identity_for(HOST) or config.Identity()).profile == "second"
    assert parsed.identity_for(ALIAS) is None
    alias = parsed.alias(ALIAS)
    assert alias is not None
    assert (alias.host, alias.account, alias.region, alias.partition, alias.fips) == (
        ALIAS,
        "123456789012",
        "cn-north-1",
        "aws-cn",
        True,
    )
    assert parsed.alias(EU_HOST) is None


@given(
    name=st.text(alphabet="abc.-*?1", max_size=12),
    pattern=st.text(alphabet="abc.-*?1", max_size=8),
)
def test_glob_match_agrees_with_fnmatch(name: str, pattern: str) -> None:
    assert config.glob_match(name, pattern) == fnmatch.fnmatchcase(name, pattern)
