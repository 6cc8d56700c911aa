"""Atomic, durable file replacement: the one way this project writes a file.

The data goes to a temporary file in the target's own directory (so the rename cannot
cross file systems), is fsynced, renamed over the target, and then the directory is
fsynced so that the rename itself survives a crash. A reader sees the old file or the
new one, never a torn one; a writer killed at any instant leaves at worst a temporary
file named ``.<name>.<pid>.<random>.tmp``, which its owner's clean-up removes later.
"""

from __future__ import annotations

import os

TEMP_SUFFIX = ".tmp"


def replace(
    target: str, data: bytes, mode: int = 0o600, owner: tuple[int, int] | None = None
) -> None:
    """Make ``target`` hold exactly ``data``, with ``mode`` (whatever the umask) and,
    when given, ``owner`` (uid, gid)."""
    directory, name = os.path.split(target)
    directory = directory or "."
    temp = os.path.join(directory, f".{name}.{os.getpid()}.{os.urandom(4).hex()}{TEMP_SUFFIX}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temp, flags, mode)
    try:
        try:
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, target)
    except BaseException:
        os.unlink(temp)
        raise
    sync_directory(directory)


def sync_directory(directory: str) -> None:
    """Make renames and unlinks in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
