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

What a source did (hit, fetched, served stale and why, API calls, time per phase) is kept
in its ``activity`` as it goes, in plain attributes that cost the hit path next to
nothing; the activity log, when there is one, writes it out after the answer.
"""

from __future__ import annotations

import sys
import time

from . import PROGRAM, cache, errors, files, keys, policy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import TextIO, TypeVar

    from .aws import Token
    from .config import Identity
    from .registry import Registry
    from .settings import Settings

    _T = TypeVar("_T")
    Fetch = Callable[[Registry, Identity | None, float, bool, "Activity"], Token]
    Detach = Callable[[Callable[[], None], Iterable[int]], None]

# What a source did, by Activity.outcome (a failure is the error it raised):
HIT = "hit"  # answered from the cache, with no call
FETCHED = "fetched"  # answered with a token just fetched
STALE_SERVED = "stale-served"  # answered from the cache because a refresh failed
REFRESHED = "refreshed-in-background"  # the detached refresher fetched a token


class Activity:
    """What one get (or one background refresh) did, for the activity log: set as it
    goes, read once after the answer. Nothing in it is a secret: the identity is the
    fingerprint's short form, ``reason`` an error of one line (the failure behind a token
    served stale)."""

    __slots__ = (
        "api_calls",
        "identity",
        "outcome",
        "phases",
        "reason",
        "refresh_started",
        "started",
    )

    def __init__(self, identity: str = "") -> None:
        self.started = time.monotonic()
        self.outcome = ""
        self.identity = identity
        self.api_calls = 0
        self.phases: dict[str, float] = {}  # seconds, by phase
        self.reason: errors.HelperError | None = None
        self.refresh_started = False

    def add(self, phase: str, seconds: float) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + seconds

    def answered_despite(self, reason: errors.HelperError) -> None:
        """Note the failure behind an answer that is not that failure: a token served
        stale, or (noted by the store) an anonymous pull from ECR Public."""
        self.reason = reason


def fetch_in_worker(
    registry: Registry,
    who: Identity | None,
    deadline: float,
    debug: bool,
    activity: Activity,
) -> Token:
    """A token from AWS, fetched in a worker process that is killed at ``deadline``
    together with anything it started (see ``children.bounded``); the worker's API calls
    and the time of its steps are added to ``activity``, whatever the outcome."""
    from . import children  # noqa: PLC0415 - the refresh path only
    from .aws import Token  # noqa: PLC0415

    def work(report: Callable[[str, str], None]) -> tuple[str, str, float, str]:
        from .aws import fetch_token  # noqa: PLC0415 - imports botocore, in the worker

        token = fetch_token(registry, who, deadline, report)
        return token.username, token.secret, token.expires_at, token.endpoint

    steps = children.Steps()
    try:
        answer = children.bounded(
            work, deadline, "starting the AWS SDK", keep_stderr=debug, steps=steps
        )
    finally:
        activity.api_calls += steps.calls
        for phase, seconds in steps.seconds.items():
            activity.add(phase, seconds)
    return Token(*answer)


def detach(work: Callable[[], None], keep: Iterable[int]) -> None:
    from . import children  # noqa: PLC0415 - the refresh path only

    children.detached(work, keep)


class TokenSource:
    """Serves tokens for registries to one process, with the cache it was given.

    ``clock`` (wall time, for token lifetimes), ``fetch``, ``detach`` (how a background
    refresh is started), ``draw`` (random numbers for jitter) and ``sleep`` are there for
    tests of the policy; ``deadline`` is the get's (by default, one starting now).
    ``refreshed``, when given, hears in the detached refresher how its refresh ended
    (None: a token was fetched), after it is done: that is where its owner logs its
    activity.
    """

    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str],
        stderr: TextIO = sys.stderr,
        *,
        program: str = PROGRAM,
        deadline: policy.Deadline | None = None,
        clock: Callable[[], float] = time.time,
        fetch: Fetch = fetch_in_worker,
        detach: Detach = detach,
        draw: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        refreshed: Callable[[errors.HelperError | None], None] | None = None,
    ) -> None:
        self.settings = settings
        self.env = env
        self.stderr = stderr
        self.program = program
        if deadline is None:
            deadline = policy.Deadline(time.monotonic() + settings.timeout, settings.timeout)
        self.deadline = deadline
        self.clock = clock
        self.fetch = fetch
        self.detach = detach
        self._draw = draw
        self.sleep = sleep
        self.cache: cache.Cache = (
            cache.NoCache() if settings.cache_disabled else cache.TokenCache(settings.cache_dir)
        )
        self.activity = Activity()
        self._refreshed = refreshed

    def key(self, registry: Registry, who: Identity | None = None) -> str:
        """The cache key: the token's scope (one token serves every registry of a region:
        see ``Registry.scope``) and the configured identity (which includes any endpoint
        override, and a per-registry profile or role from the configuration file).
        Resolving no credentials. The identity's short form is noted in the activity: it
        goes with the token and any failure record, for people to tell identities apart."""
        fingerprint = keys.fingerprint(self.env, who.parts() if who is not None else (), self._warn)
        self.activity.identity = keys.short(fingerprint)
        return keys.cache_key(registry.scope, fingerprint)

    def get(self, registry: Registry, who: Identity | None = None) -> cache.Entry:
        """The token for ``registry``, fetched as ``who`` says (None: the default AWS
        credential chain)."""
        key = self.key(registry, who)
        entry = self._cached(key, registry)
        now = self.clock()
        if entry is not None and not policy.refresh_due(entry, now, self.settings.refresh_window):
            self.activity.outcome = HIT
            return entry  # the hit: one file read
        failure = self._failure(key)
        action = self._plan(entry, failure, now, background=self.settings.background_refresh)
        if action == policy.REFRESH_NOW:
            return self._refresh_now(registry, who, key)
        if action == policy.REFRESH_BEHIND:
            self._refresh_behind(registry, who, key)
        return self._settle(action, registry, entry, failure, now)

    def warm(
        self, registry: Registry, who: Identity | None = None, renew_before: float | None = None
    ) -> cache.Entry:
        """A get that refreshes in the foreground, never behind (``warm``): a due token
        (with ``renew_before``, one issued before that instant too: ``warm`` without
        --if-due) is replaced before answering, under the same lock, backoff and deadline
        as a get's refresh; a fresh one is the answer."""
        key = self.key(registry, who)
        entry = self._cached(key, registry)
        failure = self._failure(key)
        now = self.clock()
        action = self._plan(entry, failure, now, background=False, renew_before=renew_before)
        if action == policy.REFRESH_NOW:
            return self._refresh_now(registry, who, key, renew_before)
        return self._settle(action, registry, entry, failure, now)

    def forget(self, registry: Registry) -> int:
        """Drop every cached token and failure record that would answer for the registry
        (the token of its region, shared with the region's other registries)."""
        return self._guard(lambda: self.cache.remove_scope(registry.scope), 0)

    def cached_entries(self) -> list[cache.Entry]:
        return self._guard(self.cache.entries, [])

    def recorded_failures(self) -> list[cache.Failure]:
        return self._guard(self.cache.failures, [])

    # -- decisions -------------------------------------------------------------------------
    def _plan(
        self,
        entry: cache.Entry | None,
        failure: cache.Failure | None,
        now: float,
        background: bool,
        renew_before: float | None = None,
    ) -> str:
        return policy.plan(
            entry,
            failure,
            now,
            window=self.settings.refresh_window,
            min_validity=self.settings.min_validity,
            background=background,
            renew_before=renew_before,
        )

    def _look_again(
        self, key: str, registry: Registry, renew_before: float | None = None
    ) -> tuple[str, cache.Entry | None, cache.Failure | None, float]:
        """The plan for ``key`` as a refresher sees it (it is the refresh, so never one
        behind): after waiting for the lock, another process may have refreshed the token
        or recorded its failure. (plan, entry, failure, now)."""
        entry = self._cached(key, registry)
        failure = self._failure(key)
        now = self.clock()
        action = self._plan(entry, failure, now, background=False, renew_before=renew_before)
        return action, entry, failure, now

    def _settle(
        self,
        action: str,
        registry: Registry,
        entry: cache.Entry | None,
        failure: cache.Failure | None,
        now: float,
    ) -> cache.Entry:
        """The answer without calling AWS, for any plan but REFRESH_NOW: the cached token
        (with a warning when a recorded failure stands behind it), or that failure."""
        if entry is not None and action != policy.FAIL:
            self.activity.outcome = HIT
            if action == policy.SERVE_STALE and failure is not None:
                self.activity.outcome = STALE_SERVED
                self.activity.answered_despite(errors.from_kind(failure.kind, failure.message))
                self._warn(
                    errors.serving_stale(
                        registry.host,
                        failure.message,
                        errors.span(entry.expires_at - now),
                        ago=errors.span(now - failure.failed_at),
                        retry=errors.span(failure.retry_at - now),
                    )
                )
            return entry
        if failure is None:  # FAIL always comes with one; this only narrows the types
            raise errors.AwsError(f"no usable token for {registry.host}")
        raise errors.from_kind(
            failure.kind,
            f"{failure.message} (failed {errors.span(now - failure.failed_at)} ago; next attempt "
            f"in {errors.span(failure.retry_at - now)})",
        )

    # -- refreshing ------------------------------------------------------------------------
    def _refresh_behind(self, registry: Registry, who: Identity | None, key: str) -> None:
        """Start a detached refresh of ``key`` unless one is running: the lock is taken
        here, without waiting, and handed to the refresher with its descriptor."""
        lock = self._guard(lambda: self.cache.lock(key), None)
        if lock is None:
            return
        with lock:
            if not self._guard(lock.acquire, False) or lock.fd is None:
                return  # another process is refreshing this key right now
            try:
                self.detach(lambda: self._refresh_in_background(registry, who, key), (lock.fd,))
            except OSError:
                return  # cannot fork now: the next get will try again
            self.activity.refresh_started = True

    def _refresh_in_background(self, registry: Registry, who: Identity | None, key: str) -> None:
        """The detached refresher, holding the key's lock: the same re-check and the same
        bounded fetch as a refresh in the foreground, with a deadline and an activity of
        its own."""
        self.deadline = self.deadline.restarted(time.monotonic())
        self.activity = Activity(self.activity.identity)
        action, _, failure, _ = self._look_again(key, registry)
        if action != policy.REFRESH_NOW:
            return  # refreshed, or failed and backing off, since the get looked
        ended: errors.HelperError | None = None
        try:
            self._fetch_and_record(registry, who, key, failure)
            self.activity.outcome = REFRESHED
        except errors.AwsError as err:
            ended = err  # recorded for the next get to see
        if self._refreshed is not None:
            self._refreshed(ended)

    def _refresh_now(
        self,
        registry: Registry,
        who: Identity | None,
        key: str,
        renew_before: float | None = None,
    ) -> cache.Entry:
        """Refresh before answering: under the key's lock, unless another process has
        refreshed (or failed to) while we waited for it (``renew_before``: see warm)."""
        lock = self._guard(lambda: self.cache.lock(key), files.KeyLock(None))
        with lock:
            started = time.monotonic()
            acquired = self._guard(lambda: lock.acquire(self._lock_deadline(started)), True)
            self.activity.add("lock_wait", time.monotonic() - started)
            if not acquired:
                if self.deadline.passed(time.monotonic()):
                    # The refresh we waited for may have ended just now: its token or
                    # its failure is the answer; else say what we waited for.
                    action, entry, failure, now = self._look_again(key, registry, renew_before)
                    if action != policy.REFRESH_NOW:
                        return self._settle(action, registry, entry, failure, now)
                    doing = (
                        f"waiting for another process's refresh of the token for {registry.host}"
                    )
                    return self._stale_or_fail(registry, key, self._timed_out(doing), entry)
                # Only an ECRPY_LOCK_TIMEOUT shorter than the deadline ends a wait early.
                self._warn(
                    f"could not take the refresh lock within ECRPY_LOCK_TIMEOUT="
                    f"{self.settings.lock_timeout:g}s (another process may be stuck); "
                    "fetching directly"
                )
            action, entry, failure, now = self._look_again(key, registry, renew_before)
            if action != policy.REFRESH_NOW:
                return self._settle(action, registry, entry, failure, now)
            if entry is None and failure is None and self.settings.spread:
                # The host's first call for this key: spread a fleet's first calls out.
                left = self.deadline.left(time.monotonic())
                delay = policy.spread_delay(self.settings.spread, self.draw(), left)
                self.sleep(delay)
                self.activity.add("spread", delay)
            try:
                return self._fetch_and_record(registry, who, key, failure)
            except errors.AwsError as err:
                return self._stale_or_fail(registry, key, err, entry)

    def _timed_out(self, doing: str) -> errors.DeadlineExceeded:
        return errors.timed_out(self.settings.timeout, doing)

    def _lock_deadline(self, started: float) -> float:
        if self.settings.lock_timeout is None:
            return self.deadline.at
        return min(self.deadline.at, started + self.settings.lock_timeout)

    def _fetch_and_record(
        self,
        registry: Registry,
        who: Identity | None,
        key: str,
        previous: cache.Failure | None,
    ) -> cache.Entry:
        """Call AWS (the caller holds the key's lock) and keep the token; or record the
        failure, with its backoff after ``previous``, and raise it."""
        reserve = policy.worker_reserve(self.settings.timeout)  # to record what came of it
        try:
            debug = bool(self.env.get("ECRPY_DEBUG"))
            token = self.fetch(registry, who, self.deadline.at - reserve, debug, self.activity)
            now = self.clock()
            if token.expires_at <= now:
                raise errors.BadToken(
                    errors.expired_when_issued(registry.host, token.expires_at, now, token.endpoint)
                )
        except errors.AwsError as err:
            if isinstance(err, errors.DeadlineExceeded):
                err = self._timed_out(err.message)
            if not isinstance(err, errors.InternalError):  # ours, not AWS's: no backoff
                self._record(key, registry, err, previous)
            raise err from None
        entry = cache.Entry(
            registry.scope,
            registry.host,
            token.username,
            token.secret,
            now,
            token.expires_at,
            self.activity.identity,
        )
        self._guard(lambda: self._store(key, entry), None)
        self.activity.outcome = FETCHED
        return entry

    def _stale_or_fail(
        self,
        registry: Registry,
        key: str,
        err: errors.HelperError,
        stale: cache.Entry | None = None,
    ) -> cache.Entry:
        """After a failure: the cached token if it is still usable (with a warning), else
        the failure itself."""
        if stale is None:
            stale = self._cached(key, registry)
        now = self.clock()
        if stale is None or not policy.usable(stale, now, self.settings.min_validity):
            raise err
        self.activity.outcome = STALE_SERVED
        self.activity.answered_despite(err)
        self._warn(
            errors.serving_stale(registry.host, err.message, errors.span(stale.expires_at - now))
        )
        return stale

    def _record(
        self,
        key: str,
        registry: Registry,
        err: errors.HelperError,
        previous: cache.Failure | None,
    ) -> None:
        now = self.clock()
        kind = type(err).__name__
        count = policy.failure_count(previous, now)
        delay = policy.backoff(kind, count, self.draw())
        failure = cache.Failure(
            registry.scope,
            registry.host,
            kind,
            err.message,
            now,
            now + delay,
            count,
            self.activity.identity,
        )
        self._guard(lambda: self.cache.record_failure(key, failure), None)

    def draw(self) -> float:
        """A random number in [0, 1), for jitter."""
        if self._draw is None:
            import random  # noqa: PLC0415 - only a failure or a spread pays for it

            self._draw = random.random
        return self._draw()

    def _store(self, key: str, entry: cache.Entry) -> None:
        self.cache.write(key, entry)
        self.cache.prune(entry.issued_at)

    # -- cache trouble never fails a get ---------------------------------------------------
    def _cached(self, key: str, registry: Registry) -> cache.Entry | None:
        """The entry for ``key``, if its token is good for this registry: a file renamed
        or copied from another key's is not trusted to answer for this host."""
        started = time.monotonic()
        entry = self._guard(lambda: self.cache.read(key), None)
        self.activity.add("cache_read", time.monotonic() - started)
        return entry if entry is not None and entry.scope == registry.scope else None

    def _failure(self, key: str) -> cache.Failure | None:
        """The failure recorded for ``key``, if any, its times held to what the policy
        can produce (``policy.failure_times``): what every decision and message uses."""
        started = time.monotonic()
        failure = self._guard(lambda: self.cache.read_failure(key), None)
        self.activity.add("cache_read", time.monotonic() - started)
        if failure is not None:
            now = self.clock()
            ahead = policy.from_the_future(failure, now)
            failure.failed_at, failure.retry_at = policy.failure_times(failure, now)
            if ahead:  # made now on disk too, or it would block until the clock caught up
                self._guard(lambda: self.cache.record_failure(key, failure), None)
        return failure

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
            self.stderr.write(f"{self.program}: {reason}; working without the cache\n")
            self.cache = cache.NoCache()
            return fallback

    def _warn(self, message: str) -> None:
        self.stderr.write(f"{self.program}: warning: {message}\n")
