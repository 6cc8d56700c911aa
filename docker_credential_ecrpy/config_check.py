"""The configuration file's text, checked: TOML in, a ``Config`` out, or one line naming
the file, the line and the key of the first thing wrong. The file is TOML::

    # a custom hostname (proxy, internal DNS name) in front of an ECR registry
    [registries."registry.example.com"]
    account = "123456789012"
    region = "eu-west-1"
    profile = "prod"                 # optional: AWS profile for this registry

    # an identity for every registry matching a pattern (fnmatch-style)
    [registries."*.dkr.ecr.eu-west-1.amazonaws.com"]
    role_arn = "arn:aws:iam::123456789012:role/ecr-pull"
    external_id = "..."              # optional
    session_name = "ci-pulls"        # optional

    # the activity log (each key optional but path; ECRPY_LOG* variables win)
    [log]
    path = "/var/log/ecrpy/activity.log"
    level = "info"                   # error, info or debug
    max_size = "4MiB"                # or a number of bytes

Everything the file gets wrong is an error, never ignored, because a silently ignored
typo would send a pull to the wrong account. The same checks apply to the document kept
in the compiled copy (``config_cache``), which a cache hit reads instead of the text:
``tomllib`` (which pulls in ``re``) is imported only when a text must be parsed, and a
line number is looked for only when there is an error to report.
"""

from __future__ import annotations

from . import errors, registry, settings
from .config import Config, Identity, RegistryConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

ALIAS_KEYS = ("account", "region", "fips", "dualstack")
IDENTITY_KEYS = ("profile", "role_arn", "external_id", "session_name")
KNOWN_KEYS = ALIAS_KEYS + IDENTITY_KEYS
LOG_KEYS = ("path", "level", "max_size")
_SESSION_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-"
)


def parse(data: bytes, path: str) -> Config:
    """The checked configuration in a file's bytes; a ConfigError names the file, the line
    and the key of the first problem."""
    return check(toml_document(data, path), path, data)


def toml_document(data: bytes, path: str) -> dict[str, object]:
    """The TOML document in ``data``, not yet checked; a ConfigError for what is not TOML."""
    import tomllib  # noqa: PLC0415 - only when a text must be parsed

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.ConfigError(f"{path}: not UTF-8 text (TOML files must be UTF-8)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise errors.ConfigError(_syntax_error(path, str(err), text)) from None
    except RecursionError:  # tomllib recurses once per level of arrays and inline tables
        raise errors.ConfigError(f"{path}: invalid TOML: values nested too deeply") from None


def check(document: object, path: str, data: bytes) -> Config:
    """The configuration that ``document`` (parsed from ``data``, or kept in the compiled
    copy: the same checks either way) describes, or a ConfigError for the first thing the
    file may not say. ``data`` is searched only for the line of an error, so a good file
    costs no line search."""
    return _Checker(path, data).check(document)


def _syntax_error(path: str, message: str, text: str) -> str:
    """tomllib says "... (at line 3, column 7)"; lead with the place, as compilers do."""
    if message.endswith(" (at end of document)"):
        last = len(text.splitlines()) or 1
        return f"{path}:{last}: invalid TOML: {message.removesuffix(' (at end of document)')}"
    head, sep, tail = message.rpartition(" (at line ")
    if sep and tail.endswith(")"):
        line, _, column = tail[:-1].partition(", column ")
        return f"{path}:{line}: invalid TOML: {head} (column {column})"
    return f"{path}: invalid TOML: {message}"


class _Checker:
    """Validates a document, finding the line in the file's text only for a message.

    A document kept in the compiled copy may hold anything ``marshal`` can (other types,
    keys that are not strings): everything that is not what a TOML file could say is an
    error here too, never an exception of another kind."""

    def __init__(self, path: str, data: bytes) -> None:
        self.path = path
        self.data = data

    def fail(self, where: list[str], message: str) -> errors.ConfigError:
        line = _locate(self.data.decode("utf-8", "replace"), where)
        place = f"{self.path}:{line}" if line else self.path
        key = ".".join(_toml_key(part) for part in where)
        return errors.ConfigError(f"{place}: {key}: {message}")

    def check(self, document: object) -> Config:
        if not isinstance(document, dict):
            raise errors.ConfigError(f"{self.path}: not a TOML document")
        for name in document:
            if name not in ("registries", "log"):
                raise self.fail(
                    [str(name)],
                    'unknown setting; the file has [registries."HOST"] tables and a [log] table',
                )
        tables = document.get("registries", {})
        if not isinstance(tables, dict):
            raise self.fail(["registries"], 'must be tables: [registries."HOST"]')
        exact: dict[str, RegistryConfig] = {}
        patterns: list[RegistryConfig] = []
        for name, table in tables.items():
            if not isinstance(name, str):
                raise self.fail(["registries", str(name)], "must be a hostname in quotes")
            entry = self.entry(name, table)
            if entry.pattern:
                patterns.append(entry)
            elif entry.name in exact:
                raise self.fail(["registries", name], f"{entry.name} is configured twice")
            else:
                exact[entry.name] = entry
        log = self.log(document["log"]) if "log" in document else None
        return Config(self.path, exact, patterns, log)

    def log(self, table: object) -> settings.LogSettings:
        """The ``[log]`` table: a path is required, since a table without one would log
        nothing while looking as if it did."""
        where = ["log"]
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table of settings: [log]")
        for key in table:
            if key not in LOG_KEYS:
                raise self.fail(
                    [*where, str(key)], f"unknown setting; known: {', '.join(LOG_KEYS)}"
                )
        text, level = self.string(where, "path", table), self.string(where, "level", table)
        if text is None:
            raise self.fail(where, "needs path, the log file's absolute path")
        path = settings.absolute_path(text)
        if path is None:
            raise self.fail([*where, "path"], f"{text!r} is not an absolute path")
        size = table.get("max_size")

        def bad(key: str, what: str) -> errors.ConfigError:
            value = level if key == "level" else size
            return self.fail([*where, key], f"{value!r} {what}")

        chosen, max_bytes = settings.log_values(level, size, bad)
        return settings.LogSettings(path, chosen, max_bytes)

    def entry(self, name: str, table: object) -> RegistryConfig:
        where = ["registries", name]
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table of settings")
        host = _host(name)
        if not host or registry.hostname(host) != host or " " in host or not host.isprintable():
            raise self.fail(
                where, "must be a bare hostname or pattern (no scheme, port, path or spaces)"
            )
        for key in table:
            if key not in KNOWN_KEYS:
                raise self.fail(
                    [*where, str(key)], f"unknown setting; known: {', '.join(KNOWN_KEYS)}"
                )
        values = {key: self.string(where, key, table) for key in ("account", "region")}
        flags = {key: self.flag(where, key, table) for key in ("fips", "dualstack")}
        entry = RegistryConfig(host, identity=self.identity(where, table))
        alias_keys = [key for key in ALIAS_KEYS if key in table]
        if entry.pattern:
            if alias_keys:
                raise self.fail(
                    [*where, alias_keys[0]],
                    "a pattern cannot be an alias; give account and region to exact hostnames",
                )
            if entry.identity is None:
                raise self.fail(where, "a pattern needs profile or role_arn")
            return entry
        if alias_keys and registry.parse(host) is not None:
            raise self.fail(
                [*where, alias_keys[0]],
                "this is an ECR hostname already; account, region, fips and dualstack are "
                "for aliases of other hostnames",
            )
        if alias_keys:
            self.alias(entry, where, values, flags)
        elif registry.parse(host) is None:
            raise self.fail(
                where,
                "is not an Amazon ECR hostname; add account and region to make it an alias",
            )
        elif entry.identity is None:
            raise self.fail(where, "sets nothing; give profile or role_arn")
        return entry

    def alias(
        self,
        entry: RegistryConfig,
        where: list[str],
        values: dict[str, str | None],
        flags: dict[str, bool],
    ) -> None:
        account, region = values["account"], values["region"]
        if account is None or region is None:
            missing = "account" if account is None else "region"
            raise self.fail(where, f"an alias needs both account and region; {missing} is missing")
        if not registry.is_account(account):
            raise self.fail([*where, "account"], f"{account!r} is not a 12-digit AWS account id")
        if not registry.is_region(region):
            raise self.fail([*where, "region"], f"{region!r} is not an AWS region name")
        entry.account, entry.region = account, region
        entry.fips, entry.dualstack = flags["fips"], flags["dualstack"]

    def identity(self, where: list[str], table: dict[str, object]) -> Identity | None:
        values = {key: self.string(where, key, table) for key in IDENTITY_KEYS}
        if not any(values.values()):
            return None
        role_arn = values["role_arn"]
        if role_arn is None:
            for key in ("external_id", "session_name"):
                if values[key] is not None:
                    raise self.fail([*where, key], "only means something with role_arn")
        elif not (role_arn.startswith("arn:") and ":role/" in role_arn):
            raise self.fail(
                [*where, "role_arn"],
                f"{role_arn!r} is not an IAM role ARN (arn:aws:iam::...:role/...)",
            )
        session_name = values["session_name"]
        if session_name is not None and not (
            2 <= len(session_name) <= 64 and _SESSION_NAME_CHARS.issuperset(session_name)
        ):
            raise self.fail(
                [*where, "session_name"],
                "must be 2 to 64 characters of letters, digits and _+=,.@-",
            )
        external_id = values["external_id"]
        if external_id is not None and not 2 <= len(external_id) <= 1224:
            raise self.fail([*where, "external_id"], "must be 2 to 1224 characters")
        return Identity(values["profile"], role_arn, external_id, session_name)

    def string(self, where: list[str], key: str, table: dict[str, object]) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail([*where, key], 'must be a non-empty string in quotes ("...")')
        if not value.isprintable():
            raise self.fail([*where, key], "must not contain control characters")
        return value.strip()

    def flag(self, where: list[str], key: str, table: dict[str, object]) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            raise self.fail([*where, key], "must be true or false")
        return value


def _toml_key(part: str) -> str:
    bare = part and all(char.isascii() and (char.isalnum() or char in "_-") for char in part)
    return part if bare else '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _host(name: str) -> str:
    """The hostname a table's name stands for: names are matched without case or a final dot."""
    return name.strip().lower().removesuffix(".")


def entry_lines(data: bytes) -> dict[str, int]:
    """The line where each registry's table begins, by its checked name: for doctor's
    listing, the one place that shows lines of a good file."""
    lines: dict[str, int] = {}
    for number, path in _key_lines(data.decode("utf-8", "replace")):
        if len(path) > 1 and path[0] == "registries":
            lines.setdefault(_host(path[1]), number)
    return lines


def _locate(text: str, where: list[str]) -> int | None:
    """The first line (1-based) that defines ``where`` or something under it. Good enough
    for messages; None if not found."""
    for number, path in _key_lines(text):
        if path[: len(where)] == where:
            return number
    return None


def _key_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each line that defines something, with the full key path it defines: a table
    header, or a ``key = value`` line under the table above it."""
    table: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            parsed = _key_path(line[2 if line.startswith("[[") else 1 :])
            if parsed is not None:
                table = parsed
                yield number, table
        else:
            parsed = _key_path(line)
            if parsed is not None:
                yield number, table + parsed


def _key_path(text: str) -> list[str] | None:
    """The dotted key at the start of ``text`` (``a."b.c".d``), or None."""
    parts: list[str] = []
    index, size = 0, len(text)
    while True:
        while index < size and text[index] in " \t":
            index += 1
        if index < size and text[index] in "\"'":
            end = text.find(text[index], index + 1)
            if end < 0:
                return None
            parts.append(text[index + 1 : end])
            index = end + 1
        else:
            start = index
            while index < size and (text[index].isalnum() or text[index] in "_-"):
                index += 1
            if index == start:
                return None
            parts.append(text[start:index])
        while index < size and text[index] in " \t":
            index += 1
        if index < size and text[index] == ".":
            index += 1
            continue
        return parts
