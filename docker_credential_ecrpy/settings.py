"""Settings from the environment, read once per process.

Variables shared with the Go helper (``AWS_ECR_*``) mean what they mean there, so a user
can switch helpers without rewriting their environment; our own use the ``ECRPY_`` prefix.
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
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Settings:
    """What the environment asks of us. Built by ``from_env``; plain attributes."""

    __slots__ = (
        "cache_dir",
        "cache_disabled",
        "debug",
        "ignore_creds_storage",
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
    ) -> None:
        self.cache_dir = cache_dir
        self.cache_disabled = cache_disabled
        self.ignore_creds_storage = ignore_creds_storage
        self.refresh_window = refresh_window
        self.min_validity = min_validity
        self.debug = debug

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        window = env.get("ECRPY_REFRESH_WINDOW", "")
        min_validity = env.get("ECRPY_MIN_VALIDITY", "")
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
        )


def default_cache_dir(env: Mapping[str, str]) -> str:
    """platformdirs' user cache directory for the app.

    On Linux that is the XDG rule, computed here because importing platformdirs costs
    more than a whole cache hit (``tests/test_settings.py`` holds the two to the same
    answer); other platforms ask platformdirs.
    """
    if sys.platform.startswith("linux"):
        base = env.get("XDG_CACHE_HOME", "").strip() or os.path.expanduser("~/.cache")
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
    if not text or total <= 0:
        raise errors.ConfigError(
            f"{name}={text!r} is not a duration; use seconds or a form like 90s, 30m, 6h, 1h30m"
        )
    return total
