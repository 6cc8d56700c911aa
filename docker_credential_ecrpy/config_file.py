"""Where the configuration file is, and reading it: the one part of the configuration
that every ``get`` runs.

Most users never write the file, so when it is absent the whole cost is one failed
``open``: the checker (``config_check``, with ``tomllib``) and the compiled copy
(``config_cache``) are imported only when there is a file to read.
"""

from __future__ import annotations

import os
import stat

from . import errors, settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from .config import Config

ENV_VAR = "ECRPY_CONFIG"
FILE_NAME = "config.toml"
MAX_BYTES = 1 << 20


def config_path(env: Mapping[str, str]) -> str:
    """``$ECRPY_CONFIG``, else ``config.toml`` in platformdirs' user config dir."""
    explicit = env.get(ENV_VAR, "").strip()
    if explicit:
        return os.path.expanduser(explicit)
    return os.path.join(settings.user_config_dir(env), FILE_NAME)


def load(env: Mapping[str, str], compiled_dir: str | None = None) -> Config | None:
    """The configuration, or None when there is no file (one failed open, nothing more:
    not even this package's model of a configuration is imported).

    A file named by ``ECRPY_CONFIG`` must exist: a typo there should not silently mean
    "no aliases". With ``compiled_dir`` (the token cache directory), the checked result
    is kept there in a form read without ``tomllib``, and reused while the file is
    unchanged: importing ``tomllib`` alone costs about as much as a whole cache hit.
    """
    path = config_path(env)
    try:
        # O_NONBLOCK: a FIFO in place of the file must not hang every get.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if env.get(ENV_VAR, "").strip():
            raise errors.ConfigError(
                f"{ENV_VAR} names {path}, which does not exist; create it or unset {ENV_VAR}"
            ) from None
        return None
    except OSError as err:
        raise errors.ConfigError(
            f"cannot read configuration file {path}: {err.strerror or err}"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            from .files import describe  # noqa: PLC0415 - only for the odd file

            raise errors.ConfigError(
                f"configuration file {path} is {describe(info.st_mode)}, not a regular file"
            )
        if info.st_size > MAX_BYTES:
            raise errors.ConfigError(f"configuration file {path} is larger than 1 MiB")
        stamp = f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"
        if compiled_dir is not None:
            from . import config_cache  # noqa: PLC0415 - only when a file exists

            found = config_cache.read(compiled_dir, path, stamp)
            if found is not None:
                return found
        data = _read_all(fd)
    except OSError as err:
        raise errors.ConfigError(
            f"cannot read configuration file {path}: {err.strerror or err}"
        ) from None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise errors.ConfigError(f"configuration file {path} is larger than 1 MiB")
    from . import config_check  # noqa: PLC0415 - only when a file exists

    parsed = config_check.parse(data, path)
    if compiled_dir is not None:
        config_cache.write(compiled_dir, parsed, stamp)
    return parsed


def _read_all(fd: int) -> bytes:
    chunks = []
    size = 0
    while size <= MAX_BYTES:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
