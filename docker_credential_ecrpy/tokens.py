"""Tokens for a registry: from the cache while fresh, else one refresh per key at a time.

This is where the cache policy meets AWS. A hit reads one file and returns; only a miss
or a due refresh takes the per-key lock, re-reads (another process may have refreshed
while we waited), and calls AWS. So however many processes ask at once, one host makes
one API call per identity and registry per refresh.
"""

from __future__ import annotations

import sys
import time

from . import cache, errors, identity

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import TextIO, TypeVar

    from .aws import Token
    from .config import IdentitySettings
    from .registry import Registry
    from .settings import Settings

    _T = TypeVar("_T")


class NoCache:
    """The cache when it is turned off or unusable: nothing read, nothing kept."""

    def read(self, key: str) -> cache.Entry | None:
        return None

    def write(self, key: str, entry: cache.Entry) -> None:
        pass

    def entries(self) -> list[cache.Entry]:
        return []

    def remove_host(self, host: str) -> int:
        return 0

    def prune(self, now: float) -> None:
        pass

    def lock(self, key: str, timeout: float) -> cache.KeyLock:
        return cache.KeyLock(None, timeout)


def _fetch(registry: Registry, identity_settings: IdentitySettings | None) -> Token:
    from .aws import fetch_token  # noqa: PLC0415 - imports botocore

    return fetch_token(registry, identity_settings)


class TokenSource:
    """Serves tokens for registries to one process, with the cache it was given."""

    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str],
        stderr: TextIO = sys.stderr,
        clock: Callable[[], float] = time.time,
        fetch: Callable[[Registry, IdentitySettings | None], Token] = _fetch,
    ) -> None:
        self.settings = settings
        self.env = env
        self.stderr = stderr
        self.clock = clock
        self.fetch = fetch
        self.cache: cache.TokenCache | NoCache = (
            NoCache() if settings.cache_disabled else cache.TokenCache(settings.cache_dir)
        )

    def key(self, registry: Registry, identity_settings: IdentitySettings | None = None) -> str:
        """The cache key: the registry, its endpoint flags, and the configured identity
        (which includes any endpoint override, and a per-registry profile or role from
        the configuration file). Resolving no credentials."""
        return identity.cache_key(
            registry.service,
            registry.host,
            registry.account or "",
            registry.region,
            f"fips={registry.fips} dualstack={registry.dualstack}",
            identity.fingerprint(
                self.env, identity_settings.parts() if identity_settings is not None else ()
            ),
        )

    def get(
        self, registry: Registry, identity_settings: IdentitySettings | None = None
    ) -> cache.Entry:
        """The token for ``registry``, fetched as ``identity_settings`` say (None: the
        default AWS credential chain)."""
        key = self.key(registry, identity_settings)
        entry = self._cached(key)
        if entry is not None and not cache.refresh_due(
            entry, self.clock(), self.settings.refresh_window
        ):
            return entry
        return self._refresh(registry, identity_settings, key)

    def forget(self, registry: Registry) -> int:
        """Drop every cached token for the registry's host."""
        return self._guard(lambda: self.cache.remove_host(registry.host), 0)

    def cached_entries(self) -> list[cache.Entry]:
        return self._guard(self.cache.entries, [])

    # -- the miss path -----------------------------------------------------------------
    def _refresh(
        self, registry: Registry, identity_settings: IdentitySettings | None, key: str
    ) -> cache.Entry:
        # A refresh normally takes well under a second and at worst about twenty (see
        # aws.py); a waiter that outlives the timeout calls AWS itself rather than fail.
        timeout = self.settings.lock_timeout
        lock = self._guard(lambda: self.cache.lock(key, timeout), cache.KeyLock(None, 0))
        with lock as held:
            if not held:
                self.stderr.write(
                    "docker-credential-ecrpy: could not take the refresh lock within "
                    f"{timeout:g}s (another process may be stuck); fetching directly\n"
                )
            entry = self._cached(key)
            if entry is not None and not cache.refresh_due(
                entry, self.clock(), self.settings.refresh_window
            ):
                return entry  # another process refreshed it while we waited
            return self._fetch_and_store(registry, identity_settings, key, entry)

    def _fetch_and_store(
        self,
        registry: Registry,
        identity_settings: IdentitySettings | None,
        key: str,
        stale: cache.Entry | None,
    ) -> cache.Entry:
        try:
            token = self.fetch(registry, identity_settings)
        except errors.AwsError as err:
            now = self.clock()
            if stale is not None and cache.usable_stale(stale, now, self.settings.min_validity):
                minutes = (stale.expires_at - now) / 60
                self.stderr.write(
                    f"docker-credential-ecrpy: warning: refreshing the token for {registry.host} "
                    f"failed ({err.message}); using the cached token, valid for "
                    f"{minutes:.0f} more minutes\n"
                )
                return stale
            raise
        now = self.clock()
        entry = cache.Entry(registry.host, token.username, token.password, now, token.expires_at)
        if token.expires_at <= now:
            raise errors.BadToken(
                f"the token for {registry.host} is already expired when issued: "
                "check this machine's clock"
            )
        self._guard(lambda: self._store(key, entry), None)
        return entry

    def _store(self, key: str, entry: cache.Entry) -> None:
        self.cache.write(key, entry)
        self.cache.prune(entry.issued_at)

    # -- cache trouble never fails a get ---------------------------------------------------
    def _cached(self, key: str) -> cache.Entry | None:
        return self._guard(lambda: self.cache.read(key), None)

    def _guard(self, action: Callable[[], _T], fallback: _T) -> _T:
        """Run a cache operation; on trouble warn once and go on without the cache."""
        try:
            return action()
        except (cache.UnsafeCacheDir, OSError) as err:
            reason = (
                str(err)
                if isinstance(err, cache.UnsafeCacheDir)
                else (f"cache directory {self.settings.cache_dir}: {err.strerror or err}")
            )
            self.stderr.write(f"docker-credential-ecrpy: {reason}; working without the cache\n")
            self.cache = NoCache()
            return fallback
