"""The configuration's data model: hostname aliases, per-registry AWS identities, and the
activity log's settings.

Plain objects and the lookups a ``get`` makes on them, nothing else: where the file is
and how it is read live in ``config_file``, how its text becomes these objects (and what
it may not say) in ``config_check``. So this module does no I/O and imports nothing
heavy, and every module that only needs the types can import it without the others.

An exact hostname wins over patterns; patterns are tried in file order.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .registry import Registry
    from .settings import LogSettings

_PATTERN_CHARS = frozenset("*?[")


class Identity:
    """Which AWS identity asks for a registry's token, when it is not the default chain:
    a profile of the shared config files, and/or a role assumed from it."""

    __slots__ = ("external_id", "profile", "role_arn", "session_name")

    def __init__(
        self,
        profile: str | None = None,
        role_arn: str | None = None,
        external_id: str | None = None,
        session_name: str | None = None,
    ) -> None:
        self.profile = profile
        self.role_arn = role_arn
        self.external_id = external_id
        self.session_name = session_name

    def parts(self) -> tuple[str, ...]:
        """What the cache key must include: a different role is a different token."""
        return (
            f"profile={self.profile or ''}",
            f"role_arn={self.role_arn or ''}",
            f"external_id={self.external_id or ''}",
            f"session_name={self.session_name or ''}",
        )

    def describe(self) -> str:
        """For people (doctor, errors); the external id is a shared secret of sorts."""
        words = []
        if self.profile:
            words.append(f"profile {self.profile}")
        if self.role_arn:
            words.append(f"role {self.role_arn}")
        return ", ".join(words) or "the default AWS credential chain"

    def __repr__(self) -> str:
        return f"Identity({self.describe()})"


class RegistryConfig:
    """One ``[registries."NAME"]`` table, checked. Its line in the file is not kept: only
    a message or doctor's listing needs it, and those find it in the text."""

    __slots__ = ("account", "dualstack", "fips", "identity", "name", "region")

    def __init__(
        self,
        name: str,
        account: str | None = None,
        region: str | None = None,
        fips: bool = False,
        dualstack: bool = False,
        identity: Identity | None = None,
    ) -> None:
        self.name = name
        self.account = account
        self.region = region
        self.fips = fips
        self.dualstack = dualstack
        self.identity = identity

    @property
    def pattern(self) -> bool:
        return not _PATTERN_CHARS.isdisjoint(self.name)

    @property
    def alias(self) -> bool:
        return self.account is not None


class Config:
    """The parsed file; ``EMPTY`` when there is none. ``log`` is its ``[log]`` table (None
    without one), which the environment's ``ECRPY_LOG*`` variables override."""

    def __init__(
        self,
        path: str | None,
        exact: dict[str, RegistryConfig],
        patterns: list[RegistryConfig],
        log: LogSettings | None = None,
    ) -> None:
        self.path = path
        self.exact = exact
        self.patterns = patterns
        self.log = log

    def entries(self) -> list[RegistryConfig]:
        return [*self.exact.values(), *self.patterns]

    def aliases(self) -> list[RegistryConfig]:
        return [entry for entry in self.exact.values() if entry.alias]

    def alias(self, host: str) -> Registry | None:
        """The ECR registry a configured alias stands for. The Registry keeps the alias as
        its host, so the answer and the cache entry are for the name the client used,
        while the API call goes to the configured account and region."""
        entry = self.exact.get(host)
        if entry is None or entry.account is None or entry.region is None:
            return None
        from .registry import Registry, partition_of  # noqa: PLC0415

        return Registry(
            host,
            entry.account,
            entry.region,
            partition_of(entry.region).name,
            fips=entry.fips,
            dualstack=entry.dualstack,
        )

    def identity_for(self, host: str) -> Identity | None:
        """The exact entry's identity, else the first matching pattern's, else None
        (the default credential chain)."""
        entry = self.exact.get(host)
        if entry is not None and entry.identity is not None:
            return entry.identity
        for pattern in self.patterns:
            if glob_match(host, pattern.name):
                return pattern.identity
        return None


EMPTY = Config(None, {}, [])


def glob_match(name: str, pattern: str) -> bool:
    """fnmatch's ``fnmatchcase`` for ``*`` and ``?`` by hand (``fnmatch`` imports ``re``,
    which the hit path avoids); patterns with ``[...]`` classes go to fnmatch."""
    if "[" in pattern:
        from fnmatch import fnmatchcase  # noqa: PLC0415

        return fnmatchcase(name, pattern)
    n = p = 0
    star, mark = -1, 0
    while n < len(name):
        if p < len(pattern) and pattern[p] == "*":
            star, mark, p = p, n, p + 1
        elif p < len(pattern) and pattern[p] in ("?", name[n]):
            n, p = n + 1, p + 1
        elif star >= 0:
            mark += 1
            n, p = mark, star + 1
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)
