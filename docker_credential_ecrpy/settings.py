"""Settings from the environment, read once per process.

Variables shared with the Go helper (``AWS_ECR_*``) mean what they mean there, so a user
can switch helpers without rewriting their environment; our own use the ``ECRPY_`` prefix.

- ``AWS_ECR_CACHE_DIR``: the token cache directory (default: the platformdirs user cache
  directory, ``$XDG_CACHE_HOME/docker-credential-ecrpy`` or ``~/.cache/...`` on Linux);
  ``~`` is expanded (the Go helper's example is ``~/.ecr``, which no shell expands in a
  systemd unit or an env file), and a relative path refused, as for ``ECRPY_LOG``.
- ``AWS_ECR_DISABLE_CACHE``: any non-empty value turns the cache off.
- ``AWS_ECR_IGNORE_CREDS_STORAGE=true``: ``store``/``erase`` for other hosts succeed silently.
- ``ECRPY_TIMEOUT``: the wall-clock budget of one ``get`` (default 20s): reading stdin,
  credential resolution, the API call with its retries, and waiting for another process's
  refresh.
- ``ECRPY_REFRESH_WINDOW``: refresh a cached token once less than this remains
  (default: half the token's lifetime); shorter than the 12-hour lifetime of ECR tokens.
- ``ECRPY_MIN_VALIDITY``: a token due for refresh is still served while at least this
  much validity remains (default 15m); an expired token is never served.
- ``ECRPY_BACKGROUND_REFRESH``: ``off`` (or ``0``, ``false``, ``no``) refreshes a due token
  before answering, instead of answering from the cache and refreshing behind; ``on`` (or
  ``1``, ``true``, ``yes``), the default, refreshes behind. Anything else is refused.
- ``ECRPY_LOCK_TIMEOUT``: how long a process waits for another one's refresh of the same
  token before calling AWS itself (default: as long as its own deadline allows, so a
  host never multiplies its calls while AWS is slow).
- ``ECRPY_SPREAD``: before a host's first token call for a key (nothing cached, nothing
  failed), wait a random time up to this long (default: not at all), so that a fleet
  booted from one image at once spreads its calls over the account's quota. At most half
  of ``ECRPY_TIMEOUT``: a longer one is refused.
- ``ECRPY_LOG``, ``ECRPY_LOG_LEVEL``, ``ECRPY_LOG_MAX_SIZE``: the activity log (see
  ``activity``): its absolute path (default: none, no log), how much it says (``error``,
  ``info``, ``debug``) and the size at which it is rotated. Each wins over the same
  setting in the configuration file's ``[log]`` table.
- ``ECRPY_CONFIG``: the configuration file (default: ``config.toml`` in the platformdirs
  user config directory, ``$XDG_CONFIG_HOME/docker-credential-ecrpy`` or ``~/.config/...``
  on Linux); see ``config_file``.
- ``ECRPY_DEBUG``: any non-empty value prints a traceback on stderr for internal errors.
- ``ECRPY_PROMETHEUS_FILE``: where ``warm`` writes the token cache's metrics (Prometheus
  text format, for node_exporter's textfile collector) after warming; read by ``warm``.

Durations are seconds or forms like ``90s``, ``30m``, ``6h``, ``1h30m``; sizes are bytes
or forms like ``512KiB``, ``4MiB``.
"""

from __future__ import annotations

import posix
import sys

from . import PROGRAM, errors, files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

DEFAULT_MIN_VALIDITY = 15 * 60.0
DEFAULT_TIMEOUT = 20.0
# ECR tokens live 12 hours; a refresh window as long would make every get a refresh.
TOKEN_LIFETIME = 12 * 3600.0
_OFF = ("0", "false", "no", "off")
_ON = ("1", "true", "yes", "on")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TOO_LONG = 100 * 365 * 86400.0
LOG_LEVELS = ("error", "info", "debug")
DEFAULT_LOG_LEVEL = "info"
DEFAULT_LOG_MAX_BYTES = 4 << 20
# Below this a log would rotate every few lines and keep almost nothing.
MIN_LOG_MAX_BYTES = 4 << 10
SIZE_FORMS = "bytes, or a form like 512KiB or 4MiB, of at least 4KiB"
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class LogSettings:
    """Where the activity log goes, how much it says and when it is rotated; None for
    what was not set. The environment's and the configuration file's are separate until
    ``over`` merges them."""

    __slots__ = ("level", "max_bytes", "path")

    def __init__(
        self, path: str | None = None, level: str | None = None, max_bytes: int | None = None
    ) -> None:
        self.path = path
        self.level = level
        self.max_bytes = max_bytes

    def over(self, other: LogSettings | None) -> LogSettings:
        """These settings where they are set, ``other``'s where not: one variable of the
        environment overrides one key of the file."""
        if other is None:
            return self
        return LogSettings(
            self.path or other.path,
            self.level or other.level,
            self.max_bytes or other.max_bytes,
        )


class Settings:
    """What the environment asks of us. Built by ``from_env``; plain attributes."""

    __slots__ = (
        "background_refresh",
        "cache_dir",
        "cache_disabled",
        "ignore_creds_storage",
        "lock_timeout",
        "log",
        "min_validity",
        "refresh_window",
        "spread",
        "timeout",
    )

    def __init__(
        self,
        cache_dir: str,
        cache_disabled: bool = False,
        ignore_creds_storage: bool = False,
        refresh_window: float | None = None,
        min_validity: float = DEFAULT_MIN_VALIDITY,
        lock_timeout: float | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        background_refresh: bool = True,
        spread: float = 0.0,
        log: LogSettings | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.cache_disabled = cache_disabled
        self.ignore_creds_storage = ignore_creds_storage
        self.refresh_window = refresh_window
        self.min_validity = min_validity
        self.lock_timeout = lock_timeout
        self.timeout = timeout
        self.background_refresh = background_refresh
        self.spread = spread
        self.log = LogSettings() if log is None else log

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def duration(name: str) -> float | None:
            text = env.get(name, "")
            return parse_duration(name, text) if text else None

        window = duration("ECRPY_REFRESH_WINDOW")
        if window is not None and window >= TOKEN_LIFETIME:
            raise errors.ConfigError(
                f"ECRPY_REFRESH_WINDOW={env['ECRPY_REFRESH_WINDOW']} is not shorter than the "
                "12h lifetime of an ECR token, so every get would call AWS; use less, "
                "such as 6h (the default is half the lifetime)"
            )
        min_validity = duration("ECRPY_MIN_VALIDITY")
        timeout = duration("ECRPY_TIMEOUT")
        cache_dir = _path_setting(env, "AWS_ECR_CACHE_DIR", "the cache")
        spread = duration("ECRPY_SPREAD")
        if spread is not None:
            _check_spread(env, spread, DEFAULT_TIMEOUT if timeout is None else timeout)
        return cls(
            cache_dir=cache_dir or user_cache_dir(env),
            cache_disabled=bool(env.get("AWS_ECR_DISABLE_CACHE")),
            ignore_creds_storage=env.get("AWS_ECR_IGNORE_CREDS_STORAGE", "").lower() == "true",
            refresh_window=window,
            min_validity=DEFAULT_MIN_VALIDITY if min_validity is None else min_validity,
            lock_timeout=duration("ECRPY_LOCK_TIMEOUT"),
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            background_refresh=_switch(env, "ECRPY_BACKGROUND_REFRESH", default=True),
            spread=spread or 0.0,
            log=_log_settings(env),
        )


def _check_spread(env: Mapping[str, str], spread: float, timeout: float) -> None:
    """Refuse a spread the deadline cannot hold: the wait would take the whole budget's
    share (policy.SPREAD_SHARE) whatever the draw, and a fleet would call at one instant."""
    from . import policy  # noqa: PLC0415 - only with a spread

    longest = policy.longest_spread(timeout)
    if spread > longest:
        timeout_text = env.get("ECRPY_TIMEOUT", "").strip() or f"{DEFAULT_TIMEOUT:g}s (the default)"
        raise errors.ConfigError(
            f"ECRPY_SPREAD={env['ECRPY_SPREAD'].strip()} is longer than the {longest:g}s that "
            f"ECRPY_TIMEOUT={timeout_text} leaves for it (half the deadline; the token call "
            f"needs the rest): use at most {longest:g}s, or raise ECRPY_TIMEOUT to "
            f"{spread / policy.SPREAD_SHARE:g}s"
        )


def _log_settings(env: Mapping[str, str]) -> LogSettings:
    """The ``ECRPY_LOG*`` variables, checked: a few string operations when they are unset."""
    level, size = (env.get(name, "").strip() for name in ("ECRPY_LOG_LEVEL", "ECRPY_LOG_MAX_SIZE"))
    path = _path_setting(env, "ECRPY_LOG", "the log")

    def bad(key: str, what: str) -> errors.ConfigError:
        name, value = ("ECRPY_LOG_LEVEL", level) if key == "level" else ("ECRPY_LOG_MAX_SIZE", size)
        return errors.ConfigError(f"{name}={value!r} {what}")

    chosen, max_bytes = log_values(level or None, size or None, bad)
    return LogSettings(path, chosen, max_bytes)


def log_values(
    level: str | None, size: object, bad: Callable[[str, str], Exception]
) -> tuple[str | None, int | None]:
    """The log's level and size (None: not set) from the ``ECRPY_LOG*`` variables or the
    file's ``[log]`` table alike; for a value that is not one, ``bad(key, what is wrong)``
    (key ``level`` or ``max_size``) makes the error to raise, which names its own source."""
    chosen = None if level is None else log_level(level)
    if level is not None and chosen is None:
        raise bad("level", f"is not a log level; use {', '.join(LOG_LEVELS)}")
    if size is None:
        return chosen, None
    text = str(size) if isinstance(size, int) and not isinstance(size, bool) else size
    max_bytes = size_bytes(text) if isinstance(text, str) else None
    if max_bytes is None:
        raise bad("max_size", f"is not a size; use {SIZE_FORMS}")
    return chosen, max_bytes


def _path_setting(env: Mapping[str, str], name: str, what: str) -> str | None:
    """The absolute path the variable ``name`` gives (None when unset or blank); a
    ConfigError for a relative one, which would name another place from every directory
    a client runs the helper in (``~/.ecr`` taken literally made a ``./~`` there)."""
    text = env.get(name, "").strip()
    if not text:
        return None
    path = absolute_path(text, env)
    if path is None:
        raise errors.ConfigError(
            f"{name}={env[name]!r} is not an absolute path; {what} must not depend on the "
            "directory a client runs the helper in: use a path from / or ~/"
        )
    return path


def absolute_path(text: str, env: Mapping[str, str] | None = None) -> str | None:
    """The absolute path ``text`` names, ``~`` expanded with ``env``'s HOME (None: the
    process's), or None: the one rule for paths in settings, environment and file alike.
    Without ``~`` it costs two string tests (the cache directory's is read on every hit)."""
    path = text.strip()
    if path.startswith("~"):
        path = expanduser(path, environ() if env is None else env)
    return path if path.startswith("/") and path.isprintable() else None


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    """An on/off variable: unset or blank is ``default``; a value that is neither is
    refused rather than read as one of them."""
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in _ON or text in _OFF:
        return text in _ON
    raise errors.ConfigError(
        f"{name}={env[name]!r} is neither on nor off; use {', '.join(_ON)} or {', '.join(_OFF)}"
    )


def log_level(text: str) -> str | None:
    """The log level ``text`` names (any case), or None."""
    level = text.strip().lower()
    return level if level in LOG_LEVELS else None


def size_bytes(text: str) -> int | None:
    """Bytes from ``1048576``, ``512KiB``, ``512K``, ``4MiB``, ``4M`` or ``1GiB``, at least
    MIN_LOG_MAX_BYTES; None for anything else."""
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    digits = text.rstrip("kmg")
    unit = text[len(digits) :]
    if not digits.isdigit() or not digits.isascii() or unit not in _SIZE_UNITS:
        return None
    size = int(digits) * _SIZE_UNITS[unit]
    return size if size >= MIN_LOG_MAX_BYTES else None


def user_cache_dir(env: Mapping[str, str]) -> str:
    """platformdirs' user cache directory for the app: where the tokens live by default."""
    return _user_dir(env, "XDG_CACHE_HOME", ".cache")


def user_config_dir(env: Mapping[str, str]) -> str:
    """platformdirs' user config directory for the app: where the configuration file is."""
    return _user_dir(env, "XDG_CONFIG_HOME", ".config")


def _user_dir(env: Mapping[str, str], variable: str, fallback: str) -> str:
    """On Linux the XDG rule, computed here because importing platformdirs costs more than
    a whole cache hit (``tests/unit/test_settings.py`` holds the two to the same answers);
    other platforms ask platformdirs.

    As the XDG spec and platformdirs have it, only an absolute path counts, for the
    variable and for ``HOME`` alike: a relative one would name a different directory
    from every working directory, so it is ignored rather than followed.
    """
    if not sys.platform.startswith("linux"):
        from . import sitepaths  # noqa: PLC0415

        sitepaths.complete()  # platformdirs is another distribution: see sitepaths
        import platformdirs  # noqa: PLC0415 - see above

        if variable == "XDG_CACHE_HOME":
            return platformdirs.user_cache_dir(PROGRAM, appauthor=False)
        return platformdirs.user_config_dir(PROGRAM, appauthor=False)
    base = env.get(variable, "")
    if not base.startswith("/"):
        home = env.get("HOME", "")
        if not home.startswith("/"):
            home = _account_home()
        base = f"{home.rstrip('/')}/{fallback}"
    return files.join(base, PROGRAM)


def environ() -> dict[str, str]:
    """The process's environment as ``os.environ`` has it, without importing ``os`` (see
    ``files``): the variables decoded as file names are."""
    encoding, handler = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    return {
        name.decode(encoding, handler): value.decode(encoding, handler)
        for name, value in posix.environ.items()
    }


def expanduser(path: str, env: Mapping[str, str]) -> str:
    """``os.path.expanduser(path)``, with ``HOME`` from ``env``, without importing ``os``
    for the common forms (``~`` and ``~/...``)."""
    if path != "~" and not path.startswith("~/"):
        if not path.startswith("~"):
            return path
        import os  # noqa: PLC0415 - ``~user``: rare enough to pay for os

        return os.path.expanduser(path)
    home = env["HOME"] if "HOME" in env else _account_home()
    return (home.rstrip("/") + path[1:]) or "/"


def _account_home() -> str:
    """The home directory of this process's user, from the password database."""
    import pwd  # noqa: PLC0415 - only without a usable HOME

    return pwd.getpwuid(posix.getuid()).pw_dir


def parse_duration(name: str, text: str) -> float:
    """Seconds from ``3600``, ``90s``, ``45m``, ``6h``, ``1h30m`` or ``1d``."""
    text = text.strip().lower()
    total, number = 0.0, ""
    try:
        for char in text:
            if char.isdigit() or char == ".":
                number += char
            else:
                total += float(number) * _UNITS[char]
                number = ""
        if number:
            total += float(number)
    except (KeyError, ValueError):
        total = -1
    if not text or not 0 < total < _TOO_LONG:  # NaN and overflows to infinity fail too
        raise errors.ConfigError(
            f"{name}={text!r} is not a duration; use seconds or a form like 90s, 30m, 6h, 1h30m"
        )
    return total
