"""Docker's ``config.json``: find it, read it strictly, and rewrite it without ever
leaving a broken file behind.

The file holds more than credential settings (proxies, plugins, a credsStore, old
``auths`` with real passwords), and many tools read it; so an edit keeps every key it
does not mean to change, writes the way Docker itself writes (tab indentation, non-ASCII
as UTF-8), keeps the file's mode, makes a backup of the old contents,
and replaces the file atomically: a temporary file in the same directory, fsynced,
renamed over the old one, and the directory fsynced. A kill at any instant leaves the old
file or the new one. A file that is not valid JSON is refused, never overwritten, and
so is one that only Python's lenient reader takes (NaN, Infinity, a key given twice);
numbers are written back exactly as they were read.
Concurrent edits (a provisioning script configuring registries in parallel) take a lock,
so that no writer replaces the file with an edit of contents another has since changed.

What ``configure`` and ``doctor`` both say of a Docker setup is decided here once: where
Docker finds the helper on PATH, and which ``auths`` entries shadow it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import time

from .. import PROGRAM, errors, files, registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

FILE_NAME = "config.json"
BACKUP_SUFFIX = ".bak"
MAX_BYTES = 16 << 20
# Docker's own keys nest four levels deep. The copy that configure edits and the writer
# recurse once or twice per level, so a limit far below the interpreter's recursion
# limit keeps both from failing on a file that the json module could read.
MAX_DEPTH = 100
# An edit holds the lock for milliseconds; this long means its holder is stuck.
LOCK_TIMEOUT = 10.0


def config_dir(env: Mapping[str, str]) -> str:
    """``$DOCKER_CONFIG``, else ``~/.docker``: where every Docker-compatible client looks."""
    return os.path.expanduser(env.get("DOCKER_CONFIG") or "~/.docker")


def config_path(env: Mapping[str, str]) -> str:
    return os.path.join(config_dir(env), FILE_NAME)


def on_path(env: Mapping[str, str], program: str = PROGRAM) -> str | None:
    """Where ``program`` (this helper's executable) is on ``env``'s PATH, as Docker finds
    the ``docker-credential-<name>`` a credHelpers entry names (and botocore the first word
    of a ``credential_process``); None when it is not there."""
    return shutil.which(program, path=env.get("PATH"))


def not_on_path(env: Mapping[str, str]) -> str:
    """What it means for Docker that this helper is not on PATH, and the fix."""
    return (
        f"{PROGRAM} is not on PATH ({env.get('PATH', '')}): Docker fails with `executable "
        "file not found`; add its directory to PATH"
    )


def stale_auths(document: Mapping[str, Any], hosts: list[str]) -> list[str]:
    """The ``auths`` keys for ``hosts``: stored logins (an old ``docker login``) that some
    clients use instead of the helper."""
    auths = document.get("auths")
    if not isinstance(auths, dict):
        return []
    return [key for key in auths if registry.hostname(key) in hosts]


def shadowing(key: str) -> str:
    """What the stored login ``key`` of ``auths`` does, and the two ways to remove it."""
    host = registry.hostname(key)
    return (
        f"auths has stored credentials for {key} (an old `docker login`) that some clients "
        "use instead of the helper, and that expire after 12 hours: run "
        f"`{PROGRAM} configure --remove-stale-auths {host}` or `docker logout {host}`"
    )


class DockerConfig:
    """The parsed file, and the text it was parsed from (None when there is no file)."""

    def __init__(self, path: str, document: dict[str, Any], text: str | None) -> None:
        self.path = path
        self.document = document
        self.text = text

    @property
    def exists(self) -> bool:
        return self.text is not None


class Number:
    """A JSON number exactly as the file wrote it.

    As a Python float, 1e400 would become inf and be written back as ``Infinity``,
    which no JSON reader accepts, and long fractions would be rounded; as an int, more
    than 4300 digits is an error. Numbers sit in keys of other tools that we only pass
    through, so they are kept as text and written back unchanged.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Number) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return self.text


class _Refused(ValueError):
    """What Python's json module reads but this file must not hold."""


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity: Python's extensions, refused by Docker's (Go's) reader."""
    raise _Refused(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object; a key given twice is refused, because one of its values (an ``auths``
    login, a whole ``credHelpers`` table) would silently vanish on rewrite."""
    document = dict(pairs)
    if len(document) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(
                    f"the key {json.dumps(key)} appears twice in one object, and only one "
                    "of its values would be kept"
                )
            seen.add(key)
    return document


def load(path: str) -> DockerConfig:
    """The file at ``path``; an empty document when it does not exist; a ConfigError
    when it cannot be read or is not a JSON object."""
    try:
        data = files.read_regular(path, MAX_BYTES)
    except FileNotFoundError:
        return DockerConfig(path, {}, None)
    except OSError as err:
        raise errors.ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except files.OddFile as odd:
        raise errors.ConfigError(f"{odd}; not touching it") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.ConfigError(f"{path} is not UTF-8 text; not touching it") from None
    if not text.strip():  # Docker treats an empty file as an empty configuration
        return DockerConfig(path, {}, text)
    try:
        document = json.loads(
            text,
            parse_int=Number,
            parse_float=Number,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
        deep = _too_deep(document)
    except _Refused as err:
        raise errors.ConfigError(f"{path}: {err}; fix it by hand, nothing was changed") from None
    except ValueError as err:
        raise errors.ConfigError(
            f"{path} is not valid JSON ({err}); fix or move it, nothing was changed"
        ) from None
    except RecursionError:
        deep = True
    if deep:
        raise errors.ConfigError(
            f"{path} is nested too deeply (more than {MAX_DEPTH} levels), as no Docker "
            "configuration is; fix or move it, nothing was changed"
        )
    if not isinstance(document, dict):
        raise errors.ConfigError(f"{path} is not a JSON object; nothing was changed")
    return DockerConfig(path, document, text)


def _too_deep(document: object) -> bool:
    """Whether arrays and objects nest more than MAX_DEPTH levels (found without
    recursion, which is what such a document breaks)."""
    pending: list[tuple[object, int]] = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            if depth >= MAX_DEPTH:
                return True
            pending.extend((child, depth + 1) for child in value)
    return False


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold the lock for a read-modify-write of ``path``; a ConfigError when it cannot be
    had within LOCK_TIMEOUT.

    The lock is a ``flock`` on ``config.json.lock`` beside the file, never deleted (the
    kernel releases it when its holder exits or is killed). Not on ``config.json``
    itself: the atomic write replaces that file, so a lock on it would guard an inode
    that the next reader no longer opens. Other programs that edit the file (the docker
    CLI) do not take it; ours at least never lose each other's entries.
    """
    lock_path = path + files.LOCK_SUFFIX
    directory = os.path.dirname(lock_path) or "."
    try:
        files.make_private_dirs(directory)
        fd = files.open_lock_file(lock_path)
    except OSError as err:
        raise errors.ConfigError(
            f"cannot open the lock file {lock_path}: {err.strerror or err}; nothing was changed"
        ) from None
    with contextlib.suppress(OSError):  # the lock works all the same
        info = os.stat(directory)
        if os.geteuid() == 0 and info.st_uid != 0:
            # Run with sudo in someone's directory: a root-owned 0600 lock file would
            # lock its owner out of every later run.
            os.fchown(fd, info.st_uid, info.st_gid)
    with files.KeyLock(lock_path, fd) as lock:
        if not lock.acquire(time.monotonic() + LOCK_TIMEOUT):
            raise errors.ConfigError(
                f"another process has been changing {path} for more than "
                f"{LOCK_TIMEOUT:.0f} seconds (it holds {lock_path}); nothing was changed: "
                "try again when it is done"
            )
        yield


def dumps(document: Mapping[str, Any]) -> str:
    """JSON as Docker writes it (``json.MarshalIndent(config, "", "\\t")``), with every
    Number as it was read. ``json.dumps`` cannot write a number's own text, hence the
    walk; it matches ``json.dumps(document, indent="\\t", ensure_ascii=False)``."""
    out: list[str] = []
    _write(document, "\n", out)
    return "".join(out)


def _write(value: object, newline: str, out: list[str]) -> None:
    if isinstance(value, Number):
        out.append(value.text)
    elif isinstance(value, dict | list) and value:
        if isinstance(value, dict):
            brackets = "{}"
            entries = [(json.dumps(k, ensure_ascii=False) + ": ", v) for k, v in value.items()]
        else:
            brackets, entries = "[]", [("", item) for item in value]
        inner = newline + "\t"
        out.append(brackets[0])
        for index, (key, item) in enumerate(entries):
            out.append(("," if index else "") + inner + key)
            _write(item, inner, out)
        out.append(newline + brackets[1])
    else:  # strings, true, false, null, empty containers; never NaN or Infinity
        out.append(json.dumps(value, ensure_ascii=False, allow_nan=False))


def save(path: str, document: Mapping[str, Any], old_text: str | None) -> str | None:
    """Replace the file with ``document``; the backup's path (None for a new file).

    A symlinked ``config.json`` (dotfile managers) is followed, as Docker does, so the
    link stays a link. The mode of the old file is kept; a new file is 0600, because
    ``auths`` may hold passwords. Run as root (``sudo``) on someone's file, the file
    keeps its owner, so that user can still read it.
    """
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    files.make_private_dirs(directory)
    _remove_stale_temps(directory, os.path.basename(target))
    owner: tuple[int, int] | None = None
    try:
        info = os.stat(target)
        mode = stat.S_IMODE(info.st_mode)
        if os.geteuid() == 0 and info.st_uid != 0:
            owner = (info.st_uid, info.st_gid)
    except FileNotFoundError:
        mode = 0o600
    backup = None
    if old_text is not None:
        backup = target + BACKUP_SUFFIX
        files.replace(backup, old_text.encode("utf-8"), mode, owner)
    files.replace(target, dumps(document).encode("utf-8"), mode, owner)
    return backup


def _remove_stale_temps(directory: str, name: str) -> None:
    """Temporary files of writers killed mid-write (ours, by their name)."""
    targets = (name, name + BACKUP_SUFFIX)
    now = time.time()
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for entry in names:
        if files.is_temp(entry, targets):
            with contextlib.suppress(OSError):
                files.remove_stale_temp(os.path.join(directory, entry), now)
