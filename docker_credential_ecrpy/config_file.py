"""Where the configuration file is, and reading it: the one part of the configuration
that every ``get`` runs.

Most users never write the file, so when it is absent the whole cost is one failed
``open``: the checker (``config_check``, with ``tomllib``) and the compiled copy
(``config_cache``) are imported only when there is a file to read.
"""

from __future__ import annotations

from . import errors, files, settings

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
        return settings.expanduser(explicit, env)
    return files.join(settings.user_config_dir(env), FILE_NAME)


def load(env: Mapping[str, str], compiled_dir: str | None = None) -> Config | None:
    """The configuration, or None when there is no file (one failed open, nothing more:
    not even this package's model of a configuration is imported).

    With ``compiled_dir`` (the token cache directory), the checked document is kept there
    in a form read without ``tomllib`` (``config_cache``), bound to the file's bytes, and
    reused while they are the same: importing ``tomllib`` alone costs about as much as a
    whole cache hit. What the copy holds goes through the same checker as the file.
    """
    path = config_path(env)
    data = read(path, env)
    if data is None:
        return None
    from . import config_check  # noqa: PLC0415 - only when a file exists

    if compiled_dir is None:
        return config_check.parse(data, path)
    from . import config_cache  # noqa: PLC0415 - only when a file exists

    kept = config_cache.read(compiled_dir, path, data)
    if kept is not None:
        try:
            return config_check.check(kept, path, data)
        except errors.ConfigError:
            pass  # no file could say that: parse the file itself (it says why, if wrong)
    document = config_check.toml_document(data, path)
    checked = config_check.check(document, path, data)
    config_cache.write(compiled_dir, path, data, document)
    return checked


def read(path: str, env: Mapping[str, str]) -> bytes | None:
    """The file's bytes, or None when there is none. A file named by ``ECRPY_CONFIG``
    must exist: a typo there should not silently mean "no aliases". A FIFO in its place
    must not hang every get, nor a huge file slow it: ``files.read_regular`` sees to it."""
    try:
        return files.read_regular(path, MAX_BYTES)
    except FileNotFoundError:
        if env.get(ENV_VAR, "").strip():
            raise errors.ConfigError(
                f"{ENV_VAR} names {path}, which does not exist; create it or unset {ENV_VAR}"
            ) from None
        return None
    except files.OddFile as odd:
        raise errors.ConfigError(f"configuration file {odd}") from None
    except OSError as err:
        raise errors.ConfigError(
            f"cannot read configuration file {path}: {err.strerror or err}"
        ) from None
