"""Tokens for registries: from the cache first, refreshed by one process per key at a time,
and never at the cost of a pull that already holds a usable token.

A hit reads one file and returns. Everything else follows ``policy.plan``:

- a token that is due but usable is served at once, and one detached process refreshes
  it behind the answer (whoever takes the key's lock first; the others skip);
- without a usable token, a ``get`` takes the key's lock (waiting for another process's
  refresh if one runs), re-reads, and calls AWS only if nobody has just refreshed the
  token or just failed to;
- a failed refresh is recorded beside the token with a backoff; until it ends, nobody on
  the host calls AWS for that key: a usable token is served with a warning naming the
  reason, and without one the ``get`` fails at once with it.

So however many processes ask at once, and however badly AWS is doing, one host makes at
most one refresh attempt per key per backoff interval. Every wait (the lock, the AWS
worker) ends at the ``get``'s deadline.

This module holds the hit; whatever a token that is not fresh calls for is ``refresh``'s,
which only such a get loads. What a source did (hit, fetched, served stale and why, API
calls, time per phase) it records, as it goes, into the ``activity`` it was given, for
whoever reads it after the answer; a get nobody reads it for records into nothing.
"""

from __future__ import annotations

import sys
import time

from . import PROGRAM, cache, errors, keys, policy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import TextIO

    from .activity import Recorder
    from .config import Identity
    from .refresh import Detach, Fetch, Refresh
    from .registry import Registry
    from .settings import Settings


class NoActivity:
    """What a source records into when nobody will read it (a get without the activity
    log): nothing. It stands in for ``activity.Activity`` here, not beside it, because a
    hit must not import that module (the log's writer, which needs ``os``)."""

    __slots__ = ()
    fingerprint = ""
    outcome = ""
    reason: errors.HelperError | None = None

    def restarted(self) -> NoActivity:
        return self

    def identified(self, fingerprint: str) -> None:
        pass

    def add(self, phase: str, seconds: float) -> None:
        pass

    def called(self, calls: int) -> None:
        pass

    def hit(self) -> None:
        pass

    def fetched(self) -> None:
        pass

    def refreshed(self) -> None:
        pass

    def served_stale(self, reason: errors.HelperError) -> None:
        pass

    def refresh_started_behind(self) -> None:
        pass


class TokenSource:
    """Serves tokens for registries to one process, from the cache the settings name,
    which it uses as ``cache.Forgiving`` (cache trouble is said once, never fails a get).
    A token that is not fresh is a ``refresh.Refresh``'s, handed all it uses of this when
    it is made.

    ``deadline`` is the get's (by default, one starting now); ``activity`` is what it
    records into (by default nothing: ``NoActivity``). ``refreshed``, when given, hears
    in the detached refresher, once it is done, how its refresh ended (None: a token was
    fetched) and what it recorded: that is where its owner logs it. ``clock`` (wall time,
    for token lifetimes), ``fetch``, ``detach`` (how a background refresh is started),
    ``draw`` (random numbers for jitter) and ``sleep`` are there for tests of the policy.
    """

    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str],
        stderr: TextIO = sys.stderr,
        *,
        program: str = PROGRAM,
        deadline: policy.Deadline | None = None,
        activity: Recorder | None = None,
        clock: Callable[[], float] = time.time,
        fetch: Fetch | None = None,
        detach: Detach | None = None,
        draw: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        refreshed: Callable[[Recorder, errors.HelperError | None], None] | None = None,
    ) -> None:
        self.settings = settings
        self.env = env
        self.stderr = stderr
        self.program = program
        if deadline is None:
            deadline = policy.Deadline.starting(time.monotonic(), settings.timeout)
        self.deadline = deadline
        self.activity: Recorder = NoActivity() if activity is None else activity
        self.clock = clock
        self.fetch = fetch
        self.detach = detach
        self.draw = draw
        self.sleep = sleep
        self.refreshed = refreshed
        held: cache.Cache = (
            cache.NoCache() if settings.cache_disabled else cache.TokenCache(settings.cache_dir)
        )
        self.cache = cache.Forgiving(held, settings.cache_dir, stderr, program)
        self.fingerprint = ""  # the short form of the identity last keyed, for records

    def key(self, registry: Registry, who: Identity | None = None) -> str:
        """The cache key: the token's scope (one token serves every registry of a region:
        see ``Registry.scope``) and the configured identity (which includes any endpoint
        override, and a per-registry profile or role from the configuration file).
        Resolving no credentials. The identity's short form goes with the token and any
        failure record, for people to tell identities apart."""
        fingerprint = keys.fingerprint(self.env, who.parts() if who is not None else (), self.warn)
        self.fingerprint = keys.short(fingerprint)
        self.activity.identified(self.fingerprint)
        return keys.cache_key(registry.scope, fingerprint)

    def get(self, registry: Registry, who: Identity | None = None) -> cache.Entry:
        """The token for ``registry``, fetched as ``who`` says (None: the default AWS
        credential chain)."""
        return self._answer(registry, who, background=self.settings.background_refresh)

    def warm(
        self, registry: Registry, who: Identity | None = None, renew_before: float | None = None
    ) -> cache.Entry:
        """A get that refreshes in the foreground, never behind (``warm``): a due token
        (with ``renew_before``, one issued before that instant too: ``warm`` without
        --if-due) is replaced before answering, under the same lock, backoff and deadline
        as a get's refresh; a fresh one is the answer."""
        return self._answer(registry, who, background=False, renew_before=renew_before)

    def _answer(
        self,
        registry: Registry,
        who: Identity | None,
        *,
        background: bool,
        renew_before: float | None = None,
    ) -> cache.Entry:
        key = self.key(registry, who)
        entry = self.cache.read_for(key, registry.scope, self.activity)
        now = self.clock()
        if entry is not None and policy.fresh(
            entry, now, self.settings.refresh_window, renew_before
        ):
            self.activity.hit()
            return entry  # the hit: one file read
        return self._refresh(key, registry, who).answer(entry, now, background, renew_before)

    def _refresh(self, key: str, registry: Registry, who: Identity | None) -> Refresh:
        from .refresh import Refresh  # noqa: PLC0415 - only a token that is not fresh

        return Refresh(
            key,
            registry,
            who,
            settings=self.settings,
            env=self.env,
            cache=self.cache,
            fingerprint=self.fingerprint,
            deadline=self.deadline,
            activity=self.activity,
            clock=self.clock,
            fetch=self.fetch,
            detach=self.detach,
            draw=self.draw,
            sleep=self.sleep,
            refreshed=self.refreshed,
            stderr=self.stderr,
            program=self.program,
        )

    def forget(self, registry: Registry) -> int:
        """Drop every cached token and failure record that would answer for the registry
        (the token of its region, shared with the region's other registries)."""
        return self.cache.remove_scope(registry.scope)

    def cached_entries(self) -> list[cache.Entry]:
        return self.cache.entries()

    def recorded_failures(self) -> list[cache.Failure]:
        return self.cache.failures()

    def warn(self, message: str) -> None:
        errors.warn(self.stderr, self.program, message)
