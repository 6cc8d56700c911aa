"""What a get does for a key whose cached token is not fresh, as ``policy.plan`` says:
serve a usable token and refresh it behind the answer, serve it stale with the failure
that stands behind it, or refresh before answering, under the key's lock; and record
what came of a refresh, the token or the failure with its backoff.

Only such a get loads this module (a hit is ``tokens``'s). The token source hands a
``Refresh`` whatever it uses when it builds it (the settings, the get's deadline and
activity, the cache as the get uses it, the clock, how to fetch and to detach), and
nothing here calls back into ``tokens``. Every wait ends at the get's deadline, and what
it did goes into the get's activity.
"""

from __future__ import annotations

import time

from . import cache, errors, files, policy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import TextIO

    from .activity import Recorder
    from .aws import Token
    from .config import Identity
    from .registry import Registry
    from .settings import Settings

    Fetch = Callable[[Registry, Identity | None, float, bool, Recorder], Token]
    Detach = Callable[[Callable[[], None], Iterable[int]], None]


class Refresh:
    """The answer for one key whose cached token is not fresh, and the refresh it calls
    for: made by the token source for one get (or warm), with what it uses of it (see
    ``tokens.TokenSource``; ``fingerprint`` is the short form of the key's identity, for
    what is recorded). It holds that get's deadline and activity, which a background
    refresh replaces with its own: the source's stay as the answer left them."""

    def __init__(
        self,
        key: str,
        registry: Registry,
        who: Identity | None,
        *,
        settings: Settings,
        env: Mapping[str, str],
        cache: cache.Forgiving,
        fingerprint: str,
        deadline: policy.Deadline,
        activity: Recorder,
        clock: Callable[[], float],
        fetch: Fetch | None,
        detach: Detach | None,
        draw: Callable[[], float] | None,
        sleep: Callable[[float], None],
        refreshed: Callable[[Recorder, errors.HelperError | None], None] | None,
        stderr: TextIO,
        program: str,
    ) -> None:
        self.key = key
        self.registry = registry
        self.who = who
        self.settings = settings
        self.env = env
        self.cache = cache
        self.fingerprint = fingerprint
        # A background refresh restarts these; the source's stay as the answer left them.
        self.deadline = deadline
        self.activity = activity
        self.clock = clock
        self.fetch = fetch or fetch_in_worker
        self.detach = detach or detached
        self._draw = draw
        self.sleep = sleep
        self.refreshed = refreshed
        self.stderr = stderr
        self.program = program

    def answer(
        self,
        entry: cache.Entry | None,
        now: float,
        background: bool,
        renew_before: float | None = None,
    ) -> cache.Entry:
        """The answer for the key, whose cached token (``entry``) the caller found not
        fresh at ``now``: refreshed now, or served (and refreshed behind it, with
        ``background``), or its recorded failure."""
        failure = self.failure()
        action = policy.plan_unfresh(
            entry, failure, now, min_validity=self.settings.min_validity, background=background
        )
        if action == policy.REFRESH_NOW:
            return self.now(renew_before)
        if action == policy.REFRESH_BEHIND:
            self.behind()
        return self.settle(action, entry, failure, now)

    # -- decisions -------------------------------------------------------------------------
    def look_again(
        self, renew_before: float | None = None
    ) -> tuple[str, cache.Entry | None, cache.Failure | None, float]:
        """The plan for the key as a refresher sees it (it is the refresh, so never one
        behind): after waiting for the lock, another process may have refreshed the token
        or recorded its failure. (plan, entry, failure, now)."""
        entry = self.cache.read_for(self.key, self.registry.scope, self.activity)
        failure = self.failure()
        now = self.clock()
        action = policy.plan(
            entry,
            failure,
            now,
            window=self.settings.refresh_window,
            min_validity=self.settings.min_validity,
            background=False,
            renew_before=renew_before,
        )
        return action, entry, failure, now

    def settle(
        self,
        action: str,
        entry: cache.Entry | None,
        failure: cache.Failure | None,
        now: float,
    ) -> cache.Entry:
        """The answer without calling AWS, for any plan but REFRESH_NOW: the cached token
        (with a warning when a recorded failure stands behind it), or that failure."""
        host = self.registry.host
        if entry is not None and action != policy.FAIL:
            self.activity.hit()
            if action == policy.SERVE_STALE and failure is not None:
                self.activity.served_stale(errors.from_kind(failure.kind, failure.message))
                self.warn(
                    errors.serving_stale(
                        host,
                        failure.message,
                        errors.span(entry.expires_at - now),
                        ago=errors.span(now - failure.failed_at),
                        retry=errors.span(failure.retry_at - now),
                    )
                )
            return entry
        if failure is None:  # FAIL always comes with one; this only narrows the types
            raise errors.AwsError(f"no usable token for {host}")
        raise errors.from_kind(
            failure.kind,
            f"{failure.message} (failed {errors.span(now - failure.failed_at)} ago; next attempt "
            f"in {errors.span(failure.retry_at - now)})",
        )

    # -- refreshing ------------------------------------------------------------------------
    def behind(self) -> None:
        """Start a detached refresh of the key unless one is running: the lock is taken
        here, without waiting, and handed to the refresher with its descriptor."""
        with self.cache.lock(self.key) as lock:
            if not self.cache.acquire(lock, None, failing=False) or lock.fd is None:
                return  # another process is refreshing this key right now (or no cache)
            try:
                self.detach(self.in_background, (lock.fd,))
            except OSError:
                return  # cannot fork now: the next get will try again
            self.activity.refresh_started_behind()

    def in_background(self) -> None:
        """The detached refresher, holding the key's lock: the same re-check and the same
        bounded fetch as a refresh in the foreground, with a deadline and an activity of
        its own, which it hands to ``refreshed`` when it is done."""
        self.deadline = self.deadline.restarted(time.monotonic())
        self.activity = self.activity.restarted()
        action, _, failure, _ = self.look_again()
        if action != policy.REFRESH_NOW:
            return  # refreshed, or failed and backing off, since the get looked
        ended: errors.HelperError | None = None
        try:
            self.fetch_and_record(failure)
            self.activity.refreshed()
        except errors.AwsError as err:
            ended = err  # recorded for the next get to see
        if self.refreshed is not None:
            self.refreshed(self.activity, ended)

    def now(self, renew_before: float | None = None) -> cache.Entry:
        """Refresh before answering: under the key's lock, unless another process has
        refreshed (or failed to) while we waited for it (``renew_before``: see warm)."""
        with self.cache.lock(self.key) as lock:
            if not self.wait_for(lock):
                # The refresh we waited for may have ended just now: its token or its
                # failure is the answer; else say what we waited for.
                action, entry, failure, now = self.look_again(renew_before)
                if action != policy.REFRESH_NOW:
                    return self.settle(action, entry, failure, now)
                host = self.registry.host
                doing = f"waiting for another process's refresh of the token for {host}"
                return self.stale_or_fail(self.timed_out(doing), entry)
            action, entry, failure, now = self.look_again(renew_before)
            if action != policy.REFRESH_NOW:
                return self.settle(action, entry, failure, now)
            if entry is None and failure is None:
                self.spread()
            try:
                return self.fetch_and_record(failure)
            except errors.AwsError as err:
                return self.stale_or_fail(err, entry)

    def wait_for(self, lock: files.KeyLock) -> bool:
        """Take the key's lock, waiting as long as the deadline allows; False when the
        deadline passed first. An ``ECRPY_LOCK_TIMEOUT`` shorter than the deadline ends
        the wait early, and then the refresh goes ahead without the lock (True)."""
        started = time.monotonic()
        until = self.deadline.for_lock(started, self.settings.lock_timeout)
        acquired = self.cache.acquire(lock, until, failing=True)
        self.activity.add("lock_wait", time.monotonic() - started)
        if acquired:
            return True
        lock_timeout = self.settings.lock_timeout
        if lock_timeout is None or self.deadline.passed(time.monotonic()):
            return False  # without a lock timeout, only the deadline ends the wait
        self.warn(errors.lock_not_taken(lock_timeout))
        return True

    def spread(self) -> None:
        """Before the host's first call for this key (nothing cached, nothing failed):
        wait a random share of ``ECRPY_SPREAD``, so that a fleet's first calls spread out."""
        if not self.settings.spread:
            return
        left = self.deadline.left(time.monotonic())
        delay = policy.spread_delay(self.settings.spread, self.draw(), left)
        self.sleep(delay)
        self.activity.add("spread", delay)

    def timed_out(self, doing: str) -> errors.DeadlineExceeded:
        return errors.timed_out(self.settings.timeout, doing)

    def fetch_and_record(self, previous: cache.Failure | None) -> cache.Entry:
        """Call AWS (the caller holds the key's lock) and keep the token; or record the
        failure, with its backoff after ``previous``, and raise it."""
        try:
            debug = bool(self.env.get("ECRPY_DEBUG"))
            token = self.fetch(
                self.registry, self.who, self.deadline.for_worker(), debug, self.activity
            )
            now = self.clock()
            if token.expires_at <= now:
                raise errors.BadToken(
                    errors.expired_when_issued(
                        self.registry.host, token.expires_at, now, token.endpoint
                    )
                )
        except errors.AwsError as err:
            if isinstance(err, errors.DeadlineExceeded):
                err = self.timed_out(err.message)
            if not isinstance(err, errors.InternalError):  # ours, not AWS's: no backoff
                self.record(err, previous)
            raise err from None
        entry = cache.Entry(
            self.registry.scope,
            self.registry.host,
            token.username,
            token.secret,
            now,
            token.expires_at,
            self.fingerprint,
        )
        keep(self.cache, self.key, entry)
        self.activity.fetched()
        return entry

    def stale_or_fail(
        self, err: errors.HelperError, stale: cache.Entry | None = None
    ) -> cache.Entry:
        """After a failure: the cached token if it is still usable (with a warning), else
        the failure itself."""
        if stale is None:
            stale = self.cache.read_for(self.key, self.registry.scope, self.activity)
        now = self.clock()
        if stale is None or not policy.usable(stale, now, self.settings.min_validity):
            raise err
        self.activity.served_stale(err)
        self.warn(
            errors.serving_stale(
                self.registry.host, err.message, errors.span(stale.expires_at - now)
            )
        )
        return stale

    def record(self, err: errors.HelperError, previous: cache.Failure | None) -> None:
        """Record the failure of a refresh, with its backoff (``policy``)."""
        now = self.clock()
        kind = type(err).__name__
        count = policy.failure_count(previous, now)
        delay = policy.backoff(kind, count, self.draw())
        failure = cache.Failure(
            self.registry.scope,
            self.registry.host,
            kind,
            err.message,
            now,
            now + delay,
            count,
            self.fingerprint,
        )
        self.cache.record_failure(self.key, failure)

    def failure(self) -> cache.Failure | None:
        """The failure recorded for the key, if any, its times held to what the policy
        can produce (``policy.failure_times``): what every decision and message uses."""
        started = time.monotonic()
        failure = self.cache.read_failure(self.key)
        self.activity.add("cache_read", time.monotonic() - started)
        if failure is not None:
            now = self.clock()
            ahead = policy.from_the_future(failure, now)
            failure.failed_at, failure.retry_at = policy.failure_times(failure, now)
            if ahead:  # made now on disk too, or it would block until the clock caught up
                self.cache.record_failure(self.key, failure)
        return failure

    def warn(self, message: str) -> None:
        errors.warn(self.stderr, self.program, message)

    def draw(self) -> float:
        """A random number in [0, 1), for jitter."""
        if self._draw is None:
            import random  # noqa: PLC0415 - only a failure or a spread pays for it

            self._draw = random.random
        return self._draw()


def keep(held: cache.Cache, key: str, entry: cache.Entry) -> None:
    """Write the key's new token, then drop what has gone stale around it."""
    held.write(key, entry)
    held.prune(entry.issued_at)


def fetch_in_worker(
    registry: Registry,
    who: Identity | None,
    deadline: float,
    debug: bool,
    activity: Recorder,
) -> Token:
    """A token from AWS, fetched in a worker process that is killed at ``deadline``
    together with anything it started (see ``children.bounded``); the worker's API calls
    and the time of its steps are added to ``activity``, whatever the outcome."""
    from . import children  # noqa: PLC0415 - only a refresh pays for it
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
        activity.called(steps.calls)
        for phase, seconds in steps.seconds.items():
            activity.add(phase, seconds)
    return Token(*answer)


def detached(work: Callable[[], None], keep: Iterable[int]) -> None:
    """Run ``work`` in a detached process that keeps the descriptors ``keep`` (the key's
    lock) and outlives this one (``children.detached``)."""
    from . import children  # noqa: PLC0415 - only a refresh behind the answer pays for it

    children.detached(work, keep)
