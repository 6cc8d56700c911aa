"""Docker's ``config.json``: find it, read it strictly, and rewrite it without ever
leaving a broken file behind.

The file holds more than credential settings (proxies, plugins, a credsStore, old
``auths`` with real passwords), and many tools read it; so an edit keeps every key it
does not mean to change, writes the way Docker itself writes (tab indentation, non-ASCII
as UTF-8), keeps the file's mode, makes a backup of the old contents,
and replaces the file atomically: a temporary file in the same directory, fsynced,
renamed over the old one, and the directory fsynced. A kill at any instant leaves the old
file or the new one. A file that is not valid JSON is refused, never overwritten.
Concurrent edits (a provisioning script configuring registries in parallel) take a lock,
so that no writer replaces the file with an edit of contents another has since changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time

from . import atomic, cache, errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

FILE_NAME = "config.json"
BACKUP_SUFFIX = ".bak"
# Temporary files older than this were left by a killed writer.
STALE_TEMP_AGE = 300.0
MAX_BYTES = 16 << 20
LOCK_SUFFIX = ".lock"
# An edit holds the lock for milliseconds; this long means its holder is stuck.
LOCK_TIMEOUT = 10.0


def config_dir(env: Mapping[str, str]) -> str:
    """``$DOCKER_CONFIG``, else ``~/.docker``: where every Docker-compatible client looks."""
    return os.path.expanduser(env.get("DOCKER_CONFIG") or "~/.docker")


def config_path(env: Mapping[str, str]) -> str:
    return os.path.join(config_dir(env), FILE_NAME)


class DockerConfig:
    """The parsed file, and the text it was parsed from (None when there is no file)."""

    def __init__(self, path: str, document: dict[str, Any], text: str | None) -> None:
        self.path = path
        self.document = document
        self.text = text

    @property
    def exists(self) -> bool:
        return self.text is not None


def load(path: str) -> DockerConfig:
    """The file at ``path``; an empty document when it does not exist; a ConfigError
    when it cannot be read or is not a JSON object."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return DockerConfig(path, {}, None)
    except OSError as err:
        raise errors.ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    if len(data) > MAX_BYTES:
        raise errors.ConfigError(f"{path} is larger than {MAX_BYTES >> 20} MiB; not touching it")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.ConfigError(f"{path} is not UTF-8 text; not touching it") from None
    if not text.strip():  # Docker treats an empty file as an empty configuration
        return DockerConfig(path, {}, text)
    try:
        document = json.loads(text)
    except ValueError as err:
        raise errors.ConfigError(
            f"{path} is not valid JSON ({err}); fix or move it, nothing was changed"
        ) from None
    if not isinstance(document, dict):
        raise errors.ConfigError(f"{path} is not a JSON object; nothing was changed")
    return DockerConfig(path, document, text)


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
    lock_path = path + LOCK_SUFFIX
    directory = os.path.dirname(lock_path) or "."
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(lock_path, flags, 0o600)
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
    with cache.KeyLock(fd, LOCK_TIMEOUT) as held:
        if not held:
            raise errors.ConfigError(
                f"another process has been changing {path} for more than "
                f"{LOCK_TIMEOUT:.0f} seconds (it holds {lock_path}); nothing was changed: "
                "try again when it is done"
            )
        yield


def dumps(document: Mapping[str, Any]) -> str:
    """JSON as Docker writes it (``json.MarshalIndent(config, "", "\\t")``)."""
    return json.dumps(document, indent="\t", ensure_ascii=False)


def save(path: str, document: Mapping[str, Any], old_text: str | None) -> str | None:
    """Replace the file with ``document``; the backup's path (None for a new file).

    A symlinked ``config.json`` (dotfile managers) is followed, as Docker does, so the
    link stays a link. The mode of the old file is kept; a new file is 0600, because
    ``auths`` may hold passwords. Run as root (``sudo``) on someone's file, the file
    keeps its owner, so that user can still read it.
    """
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    os.makedirs(directory, mode=0o700, exist_ok=True)
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
        atomic.replace(backup, old_text.encode("utf-8"), mode, owner)
    atomic.replace(target, dumps(document).encode("utf-8"), mode, owner)
    return backup


def _remove_stale_temps(directory: str, name: str) -> None:
    """Temporary files of writers killed mid-write (ours, by their name)."""
    prefixes = (f".{name}.", f".{name}{BACKUP_SUFFIX}.")
    now = time.time()
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for entry in names:
        if entry.startswith(prefixes) and entry.endswith(".tmp"):
            path = os.path.join(directory, entry)
            try:
                if now - os.lstat(path).st_mtime > STALE_TEMP_AGE:
                    os.unlink(path)
            except OSError:
                continue
