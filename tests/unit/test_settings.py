"""Settings from the environment: the cache directory, the durations, the switches."""

from __future__ import annotations

import os
import subprocess
import sys

import platformdirs
import pytest

from docker_credential_ecrpy import PROGRAM, errors, files, settings

# -- settings: the user directories and durations -------------------------------------------


# Each value as a user may leave it: unset, empty, blank, absolute, with spaces, relative,
# with a leading space. platformdirs (and the XDG spec) count only absolute paths.
PATH_VALUES = [None, "", "   ", "/tmp/xdg-dir", "/tmp/a dir/", "relative/dir", " /tmp/lead"]


@pytest.mark.parametrize("kind", ["cache", "config"])
@pytest.mark.parametrize("xdg", PATH_VALUES)
@pytest.mark.parametrize("home", PATH_VALUES)
def test_user_dirs_are_platformdirs_answers(
    monkeypatch: pytest.MonkeyPatch, kind: str, xdg: str | None, home: str | None
) -> None:
    """The cache and config dirs follow one rule, computed without importing platformdirs
    (it costs more than a cache hit), and it must give platformdirs' very answers."""
    for name, value in (("HOME", home), (f"XDG_{kind.upper()}_HOME", xdg)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    if kind == "cache":
        ours, theirs = settings.user_cache_dir, platformdirs.user_cache_dir
    else:
        ours, theirs = settings.user_config_dir, platformdirs.user_config_dir
    assert ours(os.environ) == theirs(PROGRAM, appauthor=False)


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
            "ECRPY_TIMEOUT": "1m",
        }
    )
    assert (chosen.refresh_window, chosen.min_validity, chosen.lock_timeout) == (7200, 90, 2)
    assert chosen.timeout == 60
    assert settings.Settings.from_env({"ECRPY_SPREAD": "10s"}).spread == 10
    default = settings.Settings.from_env({})
    assert default.spread == 0.0
    assert default.refresh_window is None  # half of each token's own lifetime
    assert default.min_validity == settings.DEFAULT_MIN_VALIDITY
    assert default.lock_timeout is None  # as long as the deadline allows
    assert default.timeout == settings.DEFAULT_TIMEOUT


@pytest.mark.parametrize(
    ("spread", "timeout", "fits"),
    [("10s", None, True), ("11s", None, False), ("30s", "60s", True), ("30s", None, False)],
)
def test_a_spread_must_fit_in_half_the_deadline(
    spread: str, timeout: str | None, fits: bool
) -> None:
    env = {"ECRPY_SPREAD": spread, **({"ECRPY_TIMEOUT": timeout} if timeout else {})}
    if fits:
        assert settings.Settings.from_env(env).spread == settings.parse_duration("", spread)
        return
    with pytest.raises(errors.ConfigError) as raised:
        settings.Settings.from_env(env)
    assert raised.value.message == (
        f"ECRPY_SPREAD={spread} is longer than the 10s that ECRPY_TIMEOUT=20s (the default) "
        "leaves for it (half the deadline; the token call needs the rest): use at most 10s, "
        f"or raise ECRPY_TIMEOUT to {2 * settings.parse_duration('', spread):g}s"
    )


@pytest.mark.parametrize(
    ("value", "background"),
    [
        (None, True),
        ("", True),
        ("  ", True),
        ("on", True),
        ("1", True),
        ("TRUE", True),
        ("yes", True),
        ("off", False),
        ("0", False),
        ("false", False),
        ("No", False),
        (" OFF ", False),
    ],
)
def test_background_refresh_switch(value: str | None, background: bool) -> None:
    env = {} if value is None else {"ECRPY_BACKGROUND_REFRESH": value}
    assert settings.Settings.from_env(env).background_refresh is background


@pytest.mark.parametrize("value", ["maybe", "of", "2", "enabled", "on off"])
def test_background_refresh_is_on_or_off_and_nothing_else(value: str) -> None:
    """Strict like every other setting: "maybe" was silently "on"."""
    with pytest.raises(errors.ConfigError) as raised:
        settings.Settings.from_env({"ECRPY_BACKGROUND_REFRESH": value})
    assert raised.value.message == (
        f"ECRPY_BACKGROUND_REFRESH={value!r} is neither on nor off; "
        "use 1, true, yes, on or 0, false, no, off"
    )


@pytest.mark.parametrize(
    ("value", "directory"),
    [
        ("~/.ecr", "/home/u/.ecr"),  # the Go helper's documented example
        ("~", "/home/u"),
        ("/srv/~/x", "/srv/~/x"),  # only a leading ~ names the home
        (" /srv/tokens ", "/srv/tokens"),
        ("", "/home/u/.cache/docker-credential-ecrpy"),
        ("  ", "/home/u/.cache/docker-credential-ecrpy"),
    ],
)
def test_cache_dir_expands_the_home(value: str, directory: str) -> None:
    env = {"HOME": "/home/u", "AWS_ECR_CACHE_DIR": value}
    assert settings.Settings.from_env(env).cache_dir == directory


@pytest.mark.parametrize("value", [".ecr", "cache/tokens", "./x", "a~/b", "/tmp/a\nb"])
def test_a_relative_cache_dir_is_refused(value: str) -> None:
    """Taken as it is, it names another directory in every directory a client runs in."""
    with pytest.raises(errors.ConfigError) as raised:
        settings.Settings.from_env({"HOME": "/home/u", "AWS_ECR_CACHE_DIR": value})
    assert raised.value.message.startswith(
        f"AWS_ECR_CACHE_DIR={value!r} is not an absolute path; the cache must not depend"
    )


@pytest.mark.parametrize("window", ["12h", "13h", "1d"])
def test_a_refresh_window_as_long_as_a_token_is_refused(window: str) -> None:
    with pytest.raises(errors.ConfigError, match="not shorter than the 12h lifetime"):
        settings.Settings.from_env({"ECRPY_REFRESH_WINDOW": window})
    assert settings.Settings.from_env({"ECRPY_REFRESH_WINDOW": "11h59m"}).refresh_window


@pytest.mark.parametrize(
    "name",
    [
        "ECRPY_REFRESH_WINDOW",
        "ECRPY_MIN_VALIDITY",
        "ECRPY_LOCK_TIMEOUT",
        "ECRPY_TIMEOUT",
        "ECRPY_SPREAD",
    ],
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


# -- the activity log's settings ------------------------------------------------------------


def test_log_settings_from_the_environment() -> None:
    chosen = settings.Settings.from_env(
        {
            "ECRPY_LOG": " /var/log/ecrpy/a.log ",
            "ECRPY_LOG_LEVEL": "DEBUG",
            "ECRPY_LOG_MAX_SIZE": "1MiB",
        }
    ).log
    assert (chosen.path, chosen.level, chosen.max_bytes) == (
        "/var/log/ecrpy/a.log",
        "debug",
        1 << 20,
    )
    home = settings.Settings.from_env({"HOME": "/home/u", "ECRPY_LOG": "~/ecrpy.log"}).log
    assert home.path == "/home/u/ecrpy.log"  # the HOME of the environment given
    unset = settings.Settings.from_env({}).log
    assert (unset.path, unset.level, unset.max_bytes) == (None, None, None)


def test_the_environment_wins_over_the_file_setting_by_setting() -> None:
    file = settings.LogSettings("/srv/file.log", "error", 8192)
    env = settings.LogSettings(None, "debug", None)
    merged = env.over(file)
    assert (merged.path, merged.level, merged.max_bytes) == ("/srv/file.log", "debug", 8192)
    assert env.over(None) is env


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("ECRPY_LOG", "activity.log", "is not an absolute path"),
        ("ECRPY_LOG", "logs/activity.log", "is not an absolute path"),
        ("ECRPY_LOG_LEVEL", "verbose", "is not a log level; use error, info, debug"),
        ("ECRPY_LOG_LEVEL", "warn", "is not a log level"),
        ("ECRPY_LOG_MAX_SIZE", "lots", "is not a size"),
        ("ECRPY_LOG_MAX_SIZE", "100", "at least 4KiB"),
    ],
)
def test_a_bad_log_setting_is_a_config_error(name: str, value: str, says: str) -> None:
    with pytest.raises(errors.ConfigError) as raised:
        settings.Settings.from_env({name: value})
    assert raised.value.message.startswith(f"{name}={value!r} ")
    assert says in raised.value.message


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4096", 4096),
        ("8KiB", 8 << 10),
        ("8k", 8 << 10),
        ("8KB", 8 << 10),
        ("4MiB", 4 << 20),
        ("4m", 4 << 20),
        (" 4MiB ", 4 << 20),
        ("1GiB", 1 << 30),
        ("5000B", 5000),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert settings.size_bytes(text) == size


@pytest.mark.parametrize(
    "text", ["", "KiB", "4 MiB", "-4MiB", "4.5MiB", "4TiB", "1024", "4KiBB", "MiB4", "\u0664MiB"]
)
def test_sizes_rejected(text: str) -> None:
    assert settings.size_bytes(text) is None


# -- without os: the hit path's own environ, expanduser and join ---------------------------


def test_environ_is_os_environ() -> None:
    """The process environment as os.environ has it, bytes that are not UTF-8 included
    (a new process: both are read from the environment at start)."""
    env = {**os.environb, b"ECRPY_TEST_TEXT": "caf\u00e9 = x=y".encode(), b"ECRPY_\xff": b"\xfe"}
    probe = "import os; from docker_credential_ecrpy import settings as s; "
    probe += "print(s.environ() == dict(os.environ), 'ECRPY_TEST_TEXT' in s.environ())"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout == "True True\n"


@pytest.mark.parametrize(
    "path",
    ["~", "~/", "~/.aws/config", "~//x", "/etc/x", "relative/~", "", "~root/x", "~nobody"],
)
@pytest.mark.parametrize("home", [None, "", "/home/u", "/home/u/", "/", "relative"])
def test_expanduser_is_os_path_expanduser(
    monkeypatch: pytest.MonkeyPatch, path: str, home: str | None
) -> None:
    if home is None:
        monkeypatch.delenv("HOME", raising=False)
    else:
        monkeypatch.setenv("HOME", home)
    assert settings.expanduser(path, dict(os.environ)) == os.path.expanduser(path)


@pytest.mark.parametrize("directory", ["", "/", "/a", "/a/", "a", "a//", "/a b/c"])
def test_join_is_os_path_join(directory: str) -> None:
    assert files.join(directory, "name.token") == os.path.join(directory, "name.token")
