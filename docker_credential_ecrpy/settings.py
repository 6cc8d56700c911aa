"""Settings from the environment, read once per process.

Variables shared with the Go helper (``AWS_ECR_*``) mean what they mean there, so a user
can switch helpers without rewriting their environment; our own use the ``ECRPY_`` prefix.

- ``AWS_ECR_CACHE_DIR``: the token cache directory (default: the platformdirs user cache
  directory, ``$XDG_CACHE_HOME/docker-credential-ecrpy`` or ``~/.cache/...`` on Linux).
- ``AWS_ECR_DISABLE_CACHE``: any non-empty value turns the cache off.
- ``AWS_ECR_IGNORE_CREDS_STORAGE=true``: ``store``/``erase`` for other hosts succeed silently.
- ``ECRPY_REFRESH_WINDOW``: refresh a cached token once less than this remains
  (default: half the token's lifetime).
- ``ECRPY_MIN_VALIDITY``: when a refresh fails, serve the cached token only if at least
  this much validity remains (default 15m); an expired token is never served.
- ``ECRPY_LOCK_TIMEOUT``: how long a process waits for another one's refresh of the same
  token before calling AWS itself (default 30s: a refresh takes at most about twenty).
- ``ECRPY_DEBUG``: any non-empty value shows tracebacks of internal errors.

Durations are seconds or forms like ``90s``, ``30m``, ``6h``, ``1h30m``.
"""

from __future__ import annotations

import os
import sys

from . import errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

APP_NAME = "docker-credential-ecrpy"
DEFAULT_MIN_VALIDITY = 15 * 60.0
DEFAULT_LOCK_TIMEOUT = 30.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TOO_LONG = 100 * 365 * 86400.0


class Settings:
    """What the environment asks of us. Built by ``from_env``; plain attributes."""

    __slots__ = (
        "cache_dir",
        "cache_disabled",
        "debug",
        "ignore_creds_storage",
        "lock_timeout",
        "min_validity",
        "refresh_window",
    )

    def __init__(
        self,
        cache_dir: str,
        cache_disabled: bool = False,
        ignore_creds_storage: bool = False,
        refresh_window: float | None = None,
        min_validity: float = DEFAULT_MIN_VALIDITY,
        debug: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        self.cache_dir = cache_dir
        self.cache_disabled = cache_disabled
        self.ignore_creds_storage = ignore_creds_storage
        self.refresh_window = refresh_window
        self.min_validity = min_validity
        self.debug = debug
        self.lock_timeout = lock_timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        window = env.get("ECRPY_REFRESH_WINDOW", "")
        min_validity = env.get("ECRPY_MIN_VALIDITY", "")
        lock_timeout = env.get("ECRPY_LOCK_TIMEOUT", "")
        return cls(
            cache_dir=env.get("AWS_ECR_CACHE_DIR") or default_cache_dir(env),
            cache_disabled=bool(env.get("AWS_ECR_DISABLE_CACHE")),
            ignore_creds_storage=env.get("AWS_ECR_IGNORE_CREDS_STORAGE", "").lower() == "true",
            refresh_window=parse_duration("ECRPY_REFRESH_WINDOW", window) if window else None,
            min_validity=(
                parse_duration("ECRPY_MIN_VALIDITY", min_validity)
                if min_validity
                else DEFAULT_MIN_VALIDITY
            ),
            debug=bool(env.get("ECRPY_DEBUG")),
            lock_timeout=(
                parse_duration("ECRPY_LOCK_TIMEOUT", lock_timeout)
                if lock_timeout
                else DEFAULT_LOCK_TIMEOUT
            ),
        )


def default_cache_dir(env: Mapping[str, str]) -> str:
    """platformdirs' user cache directory for the app.

    On Linux that is the XDG rule, computed here because importing platformdirs costs
    more than a whole cache hit (``tests/test_cache_policy.py`` holds the two to the same
    answer); other platforms ask platformdirs.
    """
    if sys.platform.startswith("linux"):
        # As the XDG spec and platformdirs have it: only an absolute path counts.
        base = env.get("XDG_CACHE_HOME", "")
        if not base.startswith("/"):
            base = os.path.expanduser("~/.cache")
        return os.path.join(base, APP_NAME)
    import platformdirs  # noqa: PLC0415 - see above

    return platformdirs.user_cache_dir(APP_NAME, appauthor=False)


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
