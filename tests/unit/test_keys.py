"""keys in-process: what the fingerprint covers (every variable and file that configures
the AWS identity, and nothing that does not), and the digests' shape. The cache's use of
it, across processes, is in ``tests/executable/test_caching.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from docker_credential_ecrpy import keys


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose shared AWS files are under ``tmp_path`` (none yet)."""
    return {
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }


@pytest.mark.parametrize("name", keys.IDENTITY_VARIABLES)
def test_every_identity_variable_changes_the_fingerprint(name: str, home: dict[str, str]) -> None:
    env = dict(home)
    before = keys.fingerprint(env)
    env[name] = "some-value"
    assert keys.fingerprint(env) != before


def test_what_does_not_configure_the_identity_leaves_it_alone(home: dict[str, str]) -> None:
    before = keys.fingerprint(home)
    noisy = {**home, "PATH": "/usr/bin", "AWS_REGION": "eu-west-1", "ECRPY_LOG": "/x", "TERM": "x"}
    assert keys.fingerprint(noisy) == before


def test_the_shared_files_contents_and_presence_change_it(home: dict[str, str]) -> None:
    config = Path(home["AWS_CONFIG_FILE"])
    absent = keys.fingerprint(home)
    config.write_text("[default]\nregion = us-east-1\n")
    present = keys.fingerprint(home)
    config.write_text("[default]\nregion = us-east-1\nrole_arn = arn:aws:iam::1:role/x\n")
    edited = keys.fingerprint(home)
    assert len({absent, present, edited}) == 3
    config.write_text("[default]\nregion = us-east-1\n")
    assert keys.fingerprint(home) == present  # the same bytes, the same identity


def test_extra_identity_settings_change_it_in_order(home: dict[str, str]) -> None:
    plain = keys.fingerprint(home)
    profile = keys.fingerprint(home, ("profile", "prod"))
    assert profile != plain
    assert keys.fingerprint(home, ("prod", "profile")) != profile


def test_a_fifo_in_place_of_a_file_is_named_with_a_warning_never_read(
    home: dict[str, str],
) -> None:
    os.mkfifo(home["AWS_CONFIG_FILE"])  # reading it would block every get
    heard: list[str] = []
    digest = keys.fingerprint(home, warn=heard.append)
    assert len(digest) == 40
    assert len(heard) == 1
    assert "ignoring it, as the AWS SDK does" in heard[0]


def test_a_huge_file_is_fingerprinted_by_what_it_is(home: dict[str, str]) -> None:
    config = Path(home["AWS_CONFIG_FILE"])
    with config.open("wb") as out:
        out.truncate(keys.MAX_FILE_BYTES + 1)
    first = keys.fingerprint(home)
    os.utime(config, ns=(1, 1))
    assert keys.fingerprint(home) != first  # its modification time is part of it


@given(st.lists(st.binary(max_size=8), max_size=4), st.lists(st.binary(max_size=8), max_size=4))
@example([b"ab", b"c"], [b"a", b"bc"])
@example([], [b""])
def test_parts_never_run_into_each_other(one: list[bytes], other: list[bytes]) -> None:
    """Length-prefixed: ("ab", "c") and ("a", "bc") hash apart, as any two lists do."""
    same = keys.hashed(one, 16, b"t").digest() == keys.hashed(other, 16, b"t").digest()
    assert same == (one == other)


def test_each_digest_has_its_own_person() -> None:
    parts = [b"ecr us-east-1 aws", b"x"]
    assert keys.hashed(parts, 16, b"a").digest() != keys.hashed(parts, 16, b"b").digest()


def test_the_short_form_is_what_is_short_accepts(home: dict[str, str]) -> None:
    digest = keys.fingerprint(home)
    assert keys.is_short(keys.short(digest))
    for text in (digest, digest[:11], keys.short(digest).upper(), "g" * 12, ""):
        assert not keys.is_short(text)


def test_a_cache_key_is_a_file_name(home: dict[str, str]) -> None:
    key = keys.cache_key("ecr us-east-1 aws", keys.fingerprint(home))
    assert len(key) == 32
    assert set(key) <= set("0123456789abcdef")
    assert key != keys.cache_key("ecr us-east-1 aws", keys.fingerprint(home, ("profile",)))
