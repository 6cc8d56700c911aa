"""The cache's file formats: token entries and failure records round-trip exactly, and
anything truncated, corrupt or foreign is rejected (read as absent), never trusted."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy import cache
from docker_credential_ecrpy.cache import (
    Entry,
    Failure,
    decode,
    decode_failure,
    encode,
    encode_failure,
)

T0 = 1_800_000_000.0
LIFE = 12 * 3600.0
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
SCOPE = "ecr us-east-1 aws"
IDENTITY = "0123456789ab"


def entry(issued: float = T0, life: float = LIFE, secret: str = "c2VjcmV0LXRva2Vu") -> Entry:  # noqa: S107
    return Entry(SCOPE, HOST, "AWS", secret, issued, issued + life, IDENTITY)


# -- encode / decode -----------------------------------------------------------------------


def test_round_trip_keeps_every_field_exactly() -> None:
    original = Entry(
        SCOPE, HOST, "AWS", "eyJwYXlsb2FkIjoi+/=", T0 + 0.123456789, T0 + LIFE + 1e-6, IDENTITY
    )
    back = decode(encode(original))
    assert back is not None
    assert (back.host, back.username, back.issued_at, back.expires_at, back.identity) == (
        original.host,
        original.username,
        original.issued_at,
        original.expires_at,
        IDENTITY,
    )
    kept = back.secret == original.secret
    assert kept, "the secret changed"


@given(
    secret=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=3000),
    issued=st.floats(min_value=1.0, max_value=4e9),
    life=st.floats(min_value=1e-3, max_value=1e7),
)
def test_round_trip_of_any_printable_token(secret: str, issued: float, life: float) -> None:
    original = Entry(SCOPE, HOST, "AWS", secret, issued, issued + life, IDENTITY)
    back = decode(encode(original))
    assert back is not None
    kept = back.secret == secret
    assert kept, "the secret changed"
    assert (back.issued_at, back.expires_at) == (original.issued_at, original.expires_at)


def test_repr_never_shows_the_secret() -> None:
    assert "sekrit" not in repr(entry(secret="sekrit-token"))


def test_every_truncation_is_rejected() -> None:
    data = encode(entry())
    for size in range(len(data)):
        assert decode(data[:size]) is None, f"a {size}-byte prefix decoded"
    assert decode(data) is not None


def _valid() -> bytes:
    return encode(entry())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"\0" * 200,
        _valid().replace(b"secret c2V", b"secret \0\0V"),
        _valid().replace(b"host 1234", b"host \x001234"),
        _valid().replace(b"user AWS", b"user A\x1bS"),
        _valid().replace(b"ecrpy-token 3", b"ecrpy-token 1"),  # the format before scopes
        _valid().replace(b"ecrpy-token 3", b"ecrpy-token 2"),  # before the identity line
        _valid().replace(b"ecrpy-token 3", b"ECRPY-TOKEN 3"),
        _valid().replace(f"identity {IDENTITY}\n".encode(), b""),
        _valid().replace(f"identity {IDENTITY}".encode(), b"identity "),
        _valid().replace(f"identity {IDENTITY}".encode(), b"identity 0123456789AB"),
        _valid().replace(f"identity {IDENTITY}".encode(), b"identity 0123456789abc"),
        _valid().replace(f"identity {IDENTITY}".encode(), b"identity AKIDEXAMPLE1"),
        b"garbage\xff\xfe\x00\x01" * 50,
        b'{"host": "x", "secret": "y"}\n',
        _valid() + b"extra line\n",
        _valid() + b"\n",
        _valid().rstrip(b"\n"),
        _valid().replace(b"\n", b"\r\n"),
        _valid().replace(b"user AWS\n", b"host again\n"),
        _valid().replace(b"user AWS", b"user "),
        _valid().replace(b"secret c2VjcmV0LXRva2Vu", b"secret "),
        _valid().replace(b"expires ", b"expires x"),
        _valid().replace(f"expires {T0 + LIFE!r}".encode(), b"expires inf"),
        _valid().replace(f"expires {T0 + LIFE!r}".encode(), b"expires nan"),
        _valid().replace(f"issued {T0!r}".encode(), b"issued nan"),
        _valid().replace(f"issued {T0!r}".encode(), b"issued -inf"),
        _valid().replace(f"issued {T0!r}".encode(), b"issued -5.0"),
        _valid().replace(f"expires {T0 + LIFE!r}".encode(), f"expires {T0!r}".encode()),
        _valid().replace(f"expires {T0 + LIFE!r}".encode(), f"expires {T0 - 1!r}".encode()),
        b"\xef\xbb\xbf" + _valid(),  # a byte-order mark
        _valid()[:-1] + b"\xff\n",
        b"x" * (cache.MAX_ENTRY_BYTES + 10),
    ],
)
def test_corrupt_or_foreign_data_is_a_miss(data: bytes) -> None:
    assert decode(data) is None


@given(st.binary(max_size=400))
def test_random_bytes_never_crash_decode(data: bytes) -> None:
    decoded = decode(data)
    if decoded is not None:  # only a well-formed entry decodes, and it round-trips
        assert encode(decoded) == data


def test_decoded_times_are_finite_and_ordered() -> None:
    back = decode(_valid())
    assert back is not None
    assert math.isfinite(back.issued_at) and math.isfinite(back.expires_at)
    assert back.issued_at < back.expires_at


# -- failure records ----------------------------------------------------------------------------


def record() -> Failure:
    return Failure(
        SCOPE,
        HOST,
        "Throttled",
        "AWS throttled ecr:GetAuthorizationToken (3 attempts in 8s)",
        T0,
        T0 + 30.5,
        2,
        IDENTITY,
    )


def test_a_failure_round_trips() -> None:
    back = decode_failure(encode_failure(record()))
    assert back is not None
    original = record()
    for name in Failure.__slots__:
        assert getattr(back, name) == getattr(original, name), name


def test_a_failure_message_stays_one_line() -> None:
    multi = Failure(SCOPE, HOST, "AwsError", "first line\nsecond\tline", T0, T0 + 1, 1, IDENTITY)
    back = decode_failure(encode_failure(multi))
    assert back is not None and back.message == "first line second line"


def test_every_truncated_failure_is_rejected() -> None:
    data = encode_failure(record())
    for size in range(len(data)):
        assert decode_failure(data[:size]) is None, f"a {size}-byte prefix decoded"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"ecrpy-failure 3", b"ecrpy-failure 2"),  # before the identity line
        (b"ecrpy-failure 3", b"ecrpy-failure 4"),
        (f"identity {IDENTITY}".encode(), b"identity "),
        (f"identity {IDENTITY}".encode(), b"identity xyz"),
        (b"kind Throttled", b"kind not a name"),
        (b"kind Throttled", b"kind "),
        (b"count 2", b"count 0"),
        (b"count 2", b"count two"),
        (f"retry {T0 + 30.5!r}".encode(), f"retry {T0 - 1!r}".encode()),  # before it failed
        (f"retry {T0 + 30.5!r}".encode(), b"retry inf"),
        (f"failed {T0!r}".encode(), b"failed nan"),
        (b"message AWS", b"message \x00AWS"),
        (f"host {HOST}".encode(), b"host "),
    ],
)
def test_a_corrupt_failure_record_is_ignored(old: bytes, new: bytes) -> None:
    data = encode_failure(record())
    assert old in data
    assert decode_failure(data.replace(old, new)) is None


@given(st.binary(max_size=400))
def test_random_bytes_never_crash_decode_failure(data: bytes) -> None:
    decoded = decode_failure(data)
    if decoded is not None:
        assert encode_failure(decoded) == data
