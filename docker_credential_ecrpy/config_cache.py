"""The configuration file's checked document, kept where a cache hit reads it without tomllib.

Importing ``tomllib`` (it pulls in ``re``, ``typing`` and more) costs about as much as a
whole cache hit, and a user with a configuration file would pay it on every pull. So once
the file has been parsed and checked, its TOML document (which, checked, holds nothing but
tables, strings and booleans) is kept next to the tokens, serialised with ``marshal``
(built into the interpreter: loading it imports nothing), behind a BLAKE2b digest of the
file's exact bytes and of the serialised document.

A copy is a cache, never a source: the next process reads the file anyway (to digest it),
uses the copy only when the digest matches those bytes and that document, and then puts
the document through the same checker as a freshly parsed file (``config_check``). So a
copy can only ever stand for the exact bytes of the file, and can carry nothing that the
checker would refuse. Anything odd about it (not a regular file, not private to us,
another format version, a digest that does not match, data ``marshal`` cannot load)
means: ignore it, parse the file, and write a new copy.

The copy lives in the token cache directory, which is private to the user (0700, checked
by the cache). Writing it is best effort, and waits until the cache directory exists (the
first token fetch creates it).
"""

from __future__ import annotations

import marshal

from . import files
from .keys import cache_key, hashed

MAGIC = b"ecrpy-config 3\n"  # the format version: any other is ignored
MARSHAL_VERSION = 4
DIGEST_SIZE = 32
# A document serialises to about the size of its text; far more means not ours.
MAX_BYTES = 4 << 20


def compiled_path(directory: str, path: str) -> str:
    return files.join(directory, f"config-{cache_key('config', path)}.compiled")


def read(directory: str, path: str, data: bytes) -> object | None:
    """The document kept for the file at ``path`` whose bytes are ``data``, or None. Not
    yet checked: the caller checks it as it checks a parsed file."""
    try:
        copy = files.read_regular(
            compiled_path(directory, path), MAX_BYTES, follow_symlinks=False, private=True
        )
    except (OSError, files.OddFile):
        return None
    payload = decode(copy, data)
    if payload is None:
        return None
    try:
        # Only bytes that we wrote for this file get here (the digest matched), and what
        # they load is data to check, never code to run.
        document: object = marshal.loads(payload)  # noqa: S302
    except (EOFError, ValueError, TypeError):
        return None
    return document


def write(directory: str, path: str, data: bytes, document: dict[str, object]) -> None:
    """Keep ``document``, checked and parsed from ``data``, atomically, if the cache
    directory exists and is ours and private; otherwise (or on any error) do nothing:
    the next call parses again."""
    try:
        if not files.private_directory(directory, "cache", create=False):
            return
        payload = marshal.dumps(document, MARSHAL_VERSION)
        files.replace(compiled_path(directory, path), encode(data, payload))
    except (OSError, ValueError, files.UnsafeDirectory):
        return


def encode(data: bytes, payload: bytes) -> bytes:
    """A copy of ``payload`` bound to the file bytes ``data``."""
    return MAGIC + _digest(data, payload) + payload


def decode(copy: bytes, data: bytes) -> bytes | None:
    """The payload of ``copy`` if it is of this format and was made for exactly ``data``
    and this payload; otherwise None."""
    if not copy.startswith(MAGIC):
        return None
    start = len(MAGIC) + DIGEST_SIZE
    payload = copy[start:]
    return payload if copy[len(MAGIC) : start] == _digest(data, payload) else None


def _digest(data: bytes, payload: bytes) -> bytes:
    return hashed((data, payload), DIGEST_SIZE, b"ecrpy-config").digest()
