"""The checked configuration file, kept where the hit path can read it without tomllib.

Importing ``tomllib`` (it pulls in ``re``, ``typing`` and more) costs about as much as a
whole cache hit, and a user with a configuration file pays it on every pull. So once the
file has been parsed and checked, the result is written next to the tokens, in a few
tab-separated lines, together with the file's identity (device, inode, size, mtime and
ctime in nanoseconds); while that identity is unchanged the next process reads these
lines instead. Any edit of the file changes its ctime, so an edit takes effect at once.

The copy lives in the token cache directory, which is private to the user (0700, checked
by the cache), and is only trusted when it is a regular file of ours, closed to others;
anything odd is ignored and the TOML file is parsed again. Writing it is best effort,
and waits until the cache directory exists (the first token fetch creates it).
"""

from __future__ import annotations

import os
import stat

from .config import Config, Identity, RegistryConfig

FORMAT = "ecrpy-config 1"
MAX_BYTES = 1 << 20
_FIELDS = 12


def compiled_path(directory: str, path: str) -> str:
    from .keys import cache_key  # noqa: PLC0415

    return os.path.join(directory, f"config-{cache_key('config', path)}.compiled")


def read(directory: str, path: str, stamp: str) -> Config | None:
    """The configuration compiled from ``path`` when it had ``stamp``, or None."""
    try:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(compiled_path(directory, path), flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or info.st_mode & 0o077 or not stat.S_ISREG(info.st_mode):
            return None
        data = os.read(fd, MAX_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return decode(data, path, stamp)


def decode(data: bytes, path: str, stamp: str) -> Config | None:
    try:
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None
    header = [FORMAT, f"stamp {stamp}", f"path {path}"]
    if len(lines) < 5 or lines[:3] != header or lines[-2:] != ["end", ""]:
        return None
    exact: dict[str, RegistryConfig] = {}
    patterns: list[RegistryConfig] = []
    for line in lines[3:-2]:
        fields = line.split("\t")
        if len(fields) != _FIELDS or fields[0] != "entry":
            return None
        _, name, number, account, region, fips, dualstack, who, *identity = fields
        try:
            line_number = int(number) if number else None
        except ValueError:
            return None
        settings = Identity(*(value or None for value in identity)) if who == "1" else None
        entry = RegistryConfig(
            name,
            line_number,
            account or None,
            region or None,
            fips == "1",
            dualstack == "1",
            settings,
        )
        if entry.pattern:
            patterns.append(entry)
        else:
            exact[name] = entry
    return Config(path, exact, patterns)


def encode(config: Config, stamp: str) -> bytes:
    """Names and values are printable (the checker refuses control characters), so tabs
    and newlines cannot occur inside a field."""
    lines = [FORMAT, f"stamp {stamp}", f"path {config.path}"]
    for entry in config.entries():
        who = entry.identity
        fields = [
            "entry",
            entry.name,
            "" if entry.line is None else str(entry.line),
            entry.account or "",
            entry.region or "",
            "1" if entry.fips else "0",
            "1" if entry.dualstack else "0",
            "0" if who is None else "1",
            *(
                ("", "", "", "")
                if who is None
                else (
                    who.profile or "",
                    who.role_arn or "",
                    who.external_id or "",
                    who.session_name or "",
                )
            ),
        ]
        lines.append("\t".join(fields))
    lines.extend(("end", ""))
    return "\n".join(lines).encode("utf-8")


def write(directory: str, config: Config, stamp: str) -> None:
    """Keep the compiled form, atomically, if the cache directory exists and is ours and
    private; otherwise (or on any error) do nothing: the next call parses again."""
    from . import files  # noqa: PLC0415 - only the first call after an edit writes

    try:
        info = os.lstat(directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            return
        files.replace(compiled_path(directory, str(config.path)), encode(config, stamp))
    except OSError:
        return
