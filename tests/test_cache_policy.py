"""The cache's pure parts, with fixed clocks: freshness policy, entry format, settings.

The policy decides whether a token is served, refreshed, or (when the refresh fails)
served stale; getting it wrong means either a baffling 401 mid-push or an API call on
every pull. Time is a parameter here, so clock jumps are ordinary test cases.
"""

from __future__ import annotations

import math
import os

import platformdirs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy import cache, errors, settings
from docker_credential_ecrpy.cache import Entry, decode, encode, refresh_due, usable_stale

T0 = 1_800_000_000.0  # a fixed "issued" instant
LIFE = 12 * 3600.0  # ECR's token lifetime
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def entry(issued: float = T0, life: float = LIFE, secret: str = "c2VjcmV0LXRva2Vu") -> Entry:  # noqa: S107
    return Entry(HOST, "AWS", secret, issued, issued + life)


# -- refresh_due ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "due"),
    [
        (0.0, False),
        (1.0, False),
        (LIFE / 2 - 1, False),
        (LIFE / 2, True),  # default window: half the lifetime, boundary included
        (LIFE / 2 + 1, True),
        (LIFE - 1, True),
        (LIFE, True),
        (LIFE + 3600, True),  # clock jumped far forward: expired
        (10 * 365 * 86400.0, True),
    ],
)
def test_default_window_is_half_the_lifetime(elapsed: float, due: bool) -> None:
    assert refresh_due(entry(), T0 + elapsed) is due


@pytest.mark.parametrize("life", [60.0, 3600.0, LIFE, 7 * 86400.0])
def test_default_window_scales_with_the_lifetime(life: float) -> None:
    token = entry(life=life)
    assert not refresh_due(token, T0 + life / 2 - 0.5)
    assert refresh_due(token, T0 + life / 2 + 0.5)


@pytest.mark.parametrize(
    ("window", "elapsed", "due"),
    [
        (3600.0, LIFE - 3601, False),
        (3600.0, LIFE - 3600, True),
        (3600.0, LIFE / 2 + 1, False),  # an explicit window replaces the default half
        (11 * 3600.0, 3599.0, False),
        (11 * 3600.0, 3600.0, True),
        (2 * LIFE, 0.0, True),  # a window longer than the lifetime: always due
        (1.0, LIFE - 2, False),
        (1.0, LIFE - 1, True),
    ],
)
def test_explicit_window(window: float, elapsed: float, due: bool) -> None:
    assert refresh_due(entry(), T0 + elapsed, window) is due


@pytest.mark.parametrize(
    ("jump", "due"),
    [
        (-1.0, False),  # a small step back (NTP slew, other host) is harmless
        (-cache.CLOCK_SKEW, False),
        (-cache.CLOCK_SKEW - 1, True),  # issued "in the future": age unknown, refresh
        (-3600.0, True),
        (-365 * 86400.0, True),
        (-T0, True),  # the clock reset to the epoch
    ],
)
def test_clock_jumps_backwards(jump: float, due: bool) -> None:
    assert refresh_due(entry(), T0 + jump) is due
    assert refresh_due(entry(), T0 + jump, 60.0) is due


@given(
    issued=st.floats(min_value=1.0, max_value=4e9),
    life=st.floats(min_value=1.0, max_value=1e6),
    offset=st.floats(min_value=-1e9, max_value=1e9),
    window=st.none() | st.floats(min_value=0.0, max_value=1e7),
)
def test_never_fresh_once_expired_or_from_the_future(
    issued: float, life: float, offset: float, window: float | None
) -> None:
    token = entry(issued, life)
    now = issued + offset
    if now >= token.expires_at or now < issued - cache.CLOCK_SKEW:
        assert refresh_due(token, now, window)


# -- usable_stale --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "min_validity", "usable"),
    [
        (LIFE / 2, 900.0, True),
        (LIFE - 901, 900.0, True),
        (LIFE - 900, 900.0, True),  # exactly the minimum left
        (LIFE - 899, 900.0, False),
        (LIFE - 1, 900.0, False),
        (LIFE, 900.0, False),  # expired: never
        (LIFE + 1, 0.0, False),  # not even with no minimum
        (LIFE + 86400, 0.0, False),  # clock jumped forward past expiry
        (-cache.CLOCK_SKEW - 1, 900.0, False),  # clock jumped back: age unknown
        (-86400.0, 0.0, False),
        (-1.0, 900.0, True),
    ],
)
def test_usable_stale(elapsed: float, min_validity: float, usable: bool) -> None:
    assert usable_stale(entry(), T0 + elapsed, min_validity) is usable


@given(
    life=st.floats(min_value=1.0, max_value=1e6),
    offset=st.floats(min_value=-1e9, max_value=1e9),
    min_validity=st.floats(min_value=0.0, max_value=1e6),
)
def test_an_expired_token_is_never_usable(life: float, offset: float, min_validity: float) -> None:
    token = entry(T0, life)
    now = T0 + offset
    if now >= token.expires_at:
        assert not usable_stale(token, now, min_validity)


# -- encode / decode -----------------------------------------------------------------------


def test_round_trip_keeps_every_field_exactly() -> None:
    original = Entry(HOST, "AWS", "eyJwYXlsb2FkIjoi+/=", T0 + 0.123456789, T0 + LIFE + 1e-6)
    back = decode(encode(original))
    assert back is not None
    assert (back.host, back.username, back.issued_at, back.expires_at) == (
        original.host,
        original.username,
        original.issued_at,
        original.expires_at,
    )
    kept = back.secret == original.secret
    assert kept, "the secret changed"


@given(
    secret=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=3000),
    issued=st.floats(min_value=1.0, max_value=4e9),
    life=st.floats(min_value=1e-3, max_value=1e7),
)
def test_round_trip_of_any_printable_token(secret: str, issued: float, life: float) -> None:
    original = Entry(HOST, "AWS", secret, issued, issued + life)
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
        _valid().replace(b"ecrpy-token 1", b"ecrpy-token 2"),
        _valid().replace(b"ecrpy-token 1", b"ECRPY-TOKEN 1"),
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


# -- settings: the cache directory and durations -------------------------------------------


@pytest.mark.parametrize(
    "xdg",
    [None, "", " ", "\t\n", "/tmp/xdg-cache", "/tmp/xdg cache/", "relative/cache", " /tmp/lead"],
)
@pytest.mark.parametrize("home", ["/home/someone", "/root/", "/tmp/a b"])
def test_default_cache_dir_is_platformdirs_answer(
    monkeypatch: pytest.MonkeyPatch, xdg: str | None, home: str
) -> None:
    monkeypatch.setenv("HOME", home)
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    expected = platformdirs.user_cache_dir(settings.APP_NAME, appauthor=False)
    assert settings.default_cache_dir(os.environ) == expected


def test_cache_dir_override_and_disable() -> None:
    env = {"HOME": "/home/u", "AWS_ECR_CACHE_DIR": "/srv/tokens", "AWS_ECR_DISABLE_CACHE": "1"}
    chosen = settings.Settings.from_env(env)
    assert chosen.cache_dir == "/srv/tokens"
    assert chosen.cache_disabled
    plain = settings.Settings.from_env({"HOME": "/home/u", "AWS_ECR_DISABLE_CACHE": ""})
    assert not plain.cache_disabled


def test_durations_from_the_environment() -> None:
    chosen = settings.Settings.from_env(
        {
            "ECRPY_REFRESH_WINDOW": "2h",
            "ECRPY_MIN_VALIDITY": "90s",
            "ECRPY_LOCK_TIMEOUT": "2",
        }
    )
    assert (chosen.refresh_window, chosen.min_validity, chosen.lock_timeout) == (7200, 90, 2)
    default = settings.Settings.from_env({})
    assert default.refresh_window is None  # half of each token's own lifetime
    assert default.min_validity == settings.DEFAULT_MIN_VALIDITY
    assert default.lock_timeout == settings.DEFAULT_LOCK_TIMEOUT


@pytest.mark.parametrize(
    "name", ["ECRPY_REFRESH_WINDOW", "ECRPY_MIN_VALIDITY", "ECRPY_LOCK_TIMEOUT"]
)
def test_a_bad_duration_is_a_config_error(name: str) -> None:
    with pytest.raises(errors.ConfigError, match=name):
        settings.Settings.from_env({name: "soon"})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600),
        ("90s", 90),
        ("45m", 2700),
        ("6h", 21600),
        ("1h30m", 5400),
        ("1d", 86400),
        ("1d2h3m4s", 86400 + 7200 + 180 + 4),
        ("0.5h", 1800),
        ("1.5", 1.5),
        (" 2H ", 7200),
        ("1h30", 3630),
        ("0s1", 1),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert settings.parse_duration("X", text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "0",
        "0s",
        "-5",
        "-5m",
        "abc",
        "h",
        "1x",
        "1.2.3",
        "1e3",
        "nan",
        "inf",
        "9" * 400,  # overflows to infinity
        "1h 30m",
        "+5",
        "1w",
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(errors.ConfigError, match="X="):
        settings.parse_duration("X", text)
