"""When to serve the cached token, when to refresh it, and when to leave AWS alone: pure
functions of the cached entry, the recorded failure and the time.

A token is *fresh* until its refresh point (by default half its lifetime), then *due*.
A due token that still has at least the minimum validity is *usable*: it is served at
once and refreshed behind the answer, so no pull waits on AWS while a good token exists.
When a refresh fails, the failure is recorded with the key, and until its backoff ends
nobody on the host calls AWS for that key again: a usable token is served with a warning
naming the reason, and without one the ``get`` fails at once with it. Throttling and
outages back off from tens of seconds to fifteen minutes (a host never adds to a
brownout); failures only the user can fix (access denied, no credentials, an expired SSO
login) back off for seconds, so the fix takes effect at once.

Every function takes ``now`` (and the random draw, for jitter) as an argument, so the
decisions are tested with fixed clocks and no processes.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .cache import Entry, Failure

# A backward clock step larger than this makes an entry's age unknowable: refresh it.
CLOCK_SKEW = 60.0
# Backoff after a failure that only the user can fix: short, so that a fixed IAM policy
# or a fresh `aws sso login` is used within seconds.
USER_FIXABLE = frozenset({"AccessDenied", "NoAwsCredentials", "SsoLoginRequired"})
SHORT_BACKOFF = 5.0
# Backoff after throttling, an outage or a timeout: doubling from LONG_BACKOFF up to
# MAX_BACKOFF, so a host asks less the longer AWS is unwell.
LONG_BACKOFF = 30.0
MAX_BACKOFF = 15 * 60.0
# The longest backoff that backoff() can give: a record asking for more was not written
# by this policy (a hand-edited or foreign file, a clock that jumped), and gets no more.
LONGEST_BACKOFF = max(SHORT_BACKOFF, MAX_BACKOFF)

# Consecutive failures count towards a longer backoff while each comes within this long
# after the previous one's backoff ended; an older record starts the count again.
FAILURE_MEMORY = 3600.0

# The share of a get's budget (what is left of it) that ECRPY_SPREAD's wait may take; the
# token call needs the rest.
SPREAD_SHARE = 0.5
# Seconds of a get's budget (at most a quarter of it) kept back from the AWS worker: time
# to record its result, so that the processes waiting for it (whose deadlines are no
# earlier) see it.
WORKER_RESERVE = 1.0

# Retries of one AWS call within a get. Attempts for transient failures other than
# throttling:
TRANSIENT_ATTEMPTS = 3
# Full-jitter backoff between attempts, by kind: a random wait of up to
# min(cap, base * 2^attempt) seconds.
RETRY_BACKOFF = {"throttle": (3.0, 16.0), "transient": (0.5, 8.0)}
# No retry is started with less time left before the deadline than this, or than the
# slowest attempt so far took, times RETRY_HEADROOM (an attempt varies; one that ends just
# at the deadline is killed there): one that the deadline would cut short tells nobody
# why, and records a timeout where AWS had said what was wrong.
MIN_CALL_TIME = 1.0
RETRY_HEADROOM = 1.5

# What a get does, by plan():
SERVE = "serve"  # the token is fresh
REFRESH_BEHIND = "refresh-behind"  # serve it, refresh in the background
SERVE_STALE = "serve-stale"  # serve it with a warning: a refresh failed, backoff runs
REFRESH_NOW = "refresh-now"  # fetch before answering
FAIL = "fail"  # nothing usable and a refresh just failed: fail with its reason


class Deadline:
    """The ``time.monotonic()`` instant ``at`` by which every wait of one get ends (the
    input, the lock, a spread, the AWS worker): made once, by the store, when the get
    starts (``timeout`` seconds before ``at``), and handed down to whatever waits, which
    asks it what is left."""

    __slots__ = ("at", "timeout")

    def __init__(self, at: float, timeout: float) -> None:
        self.at = at
        self.timeout = timeout

    @classmethod
    def starting(cls, now: float, timeout: float) -> Deadline:
        """The deadline of a get of ``timeout`` seconds that starts at ``now``."""
        return cls(now + timeout, timeout)

    @property
    def started(self) -> float:
        """When the get started: the activity log's time of an action counts from here."""
        return self.at - self.timeout

    def left(self, now: float) -> float:
        """Seconds from ``now`` to the deadline (negative once it has passed)."""
        return self.at - now

    def passed(self, now: float) -> bool:
        return now >= self.at

    def restarted(self, now: float) -> Deadline:
        """The same budget from ``now``: for a background refresh, which starts after the
        get it serves has answered."""
        return Deadline.starting(now, self.timeout)

    def for_lock(self, started: float, lock_timeout: float | None) -> float:
        """When a wait for a key's lock that began at ``started`` ends: at the deadline,
        or sooner by ``ECRPY_LOCK_TIMEOUT`` (None: as long as the deadline allows)."""
        if lock_timeout is None:
            return self.at
        return min(self.at, started + lock_timeout)

    def for_worker(self) -> float:
        """When the AWS worker must be done: ``worker_reserve`` before the deadline."""
        return self.at - worker_reserve(self.timeout)


def refresh_due(entry: Entry, now: float, window: float | None = None) -> bool:
    """Whether to fetch a new token before serving this one.

    Due once less than ``window`` seconds of validity remain (default: half the token's
    lifetime), so a long push never starts with a token about to expire; and due when
    the clock says the token was issued in the future, since its age is then unknown.
    """
    if now < entry.issued_at - CLOCK_SKEW:
        return True
    return now >= refresh_point(entry, window)


def refresh_point(entry: Entry, window: float | None = None) -> float:
    """The instant from which ``refresh_due`` holds (clock jumps aside)."""
    if window is None:
        window = (entry.expires_at - entry.issued_at) / 2
    return entry.expires_at - window


def usable(entry: Entry, now: float, min_validity: float) -> bool:
    """Whether a token that is due for refresh may still be served: only with at least
    ``min_validity`` seconds left, never expired, never from the future."""
    left = entry.expires_at - now
    return now >= entry.issued_at - CLOCK_SKEW and left > 0 and left >= min_validity


def backoff(kind: str, failures: int, draw: float) -> float:
    """Seconds from a failure to the next attempt: ``failures`` is how many refreshes of
    the key have failed in a row (1 for the first), ``draw`` a random number in [0, 1).

    The delay is jittered over its upper half, so hosts that failed together (a fleet in
    one brownout) come back spread out rather than all at once.
    """
    if kind in USER_FIXABLE:
        delay = SHORT_BACKOFF
    else:
        delay = min(MAX_BACKOFF, LONG_BACKOFF * 2.0 ** min(max(failures, 1) - 1, 16))
    return delay * (0.5 + draw / 2)


def failure_count(previous: Failure | None, now: float) -> int:
    """How many refreshes of a key have failed in a row with one failing at ``now``, after
    the ``previous`` record (if any): its count goes on while it is recent (FAILURE_MEMORY
    after its backoff ended), so a key that keeps failing backs off longer and longer."""
    if previous is not None and now - previous.retry_at < FAILURE_MEMORY:
        return previous.count + 1
    return 1


def worker_reserve(timeout: float) -> float:
    """Seconds before a get's deadline at which its AWS worker must be done."""
    return min(WORKER_RESERVE, timeout / 4)


def retry_delay(
    kind: str | None, attempt: int, draw: float, left: float | None, slowest: float
) -> float | None:
    """Seconds to wait before attempting an AWS call again, or None to give up: after
    attempt number ``attempt`` failed as ``kind`` ("throttle", "transient" or None: a
    failure no retry helps), with ``left`` seconds before the deadline (None: none) and
    the slowest attempt so far having taken ``slowest``; ``draw`` in [0, 1). The wait
    ends in time for one more attempt, or there is none."""
    if kind is None or (kind == "transient" and attempt >= TRANSIENT_ATTEMPTS):
        return None
    base, cap = RETRY_BACKOFF.get(kind, (0.0, 0.0))
    delay = min(cap, base * 2**attempt) * draw
    if left is not None:
        delay = min(delay, left - max(slowest, MIN_CALL_TIME) * RETRY_HEADROOM)
    return None if delay < 0 else delay


def longest_spread(timeout: float) -> float:
    """The longest ``ECRPY_SPREAD`` a get of ``timeout`` seconds can hold: the share of
    the budget a wait may take, leaving the rest to the call (settings refuse more)."""
    return timeout * SPREAD_SHARE


def spread_delay(spread: float, draw: float, left: float) -> float:
    """How long a host waits before its first token call, with ``ECRPY_SPREAD`` set to
    ``spread`` seconds, ``left`` seconds of the get's budget remaining and ``draw`` in
    [0, 1): uniform over the spread, or over the share of what is left when that is
    shorter. Never a cap on the draw, which would make every host whose draw passes it
    wait exactly as long and then call at the same instant."""
    return max(0.0, min(spread, left * SPREAD_SHARE)) * draw


def failure_times(failure: Failure, now: float) -> tuple[float, float]:
    """(failed_at, retry_at) of a recorded failure, held to what this policy can produce:
    a record from the future (a clock stepped back) counts as made now, and its backoff
    is no longer than LONGEST_BACKOFF. So no record, whatever its times, blocks a key or
    is shown as blocking it for longer than the policy ever would."""
    failed_at = min(failure.failed_at, now)
    wait = min(max(failure.retry_at - failure.failed_at, 0.0), LONGEST_BACKOFF)
    return failed_at, failed_at + wait


def from_the_future(failure: Failure, now: float) -> bool:
    """Whether a record says it was made later than ``now`` by more than a clock's skew:
    a clock stepped back since. Counted as made now (failure_times), it must be made now
    on disk too, or each get would count it as made now again until the clock caught up."""
    return failure.failed_at - now > CLOCK_SKEW


def backing_off(failure: Failure | None, now: float) -> bool:
    """Whether a recorded failure still forbids calling AWS (its times held to the
    policy's: see failure_times)."""
    if failure is None:
        return False
    return now < failure_times(failure, now)[1]


def fresh(
    entry: Entry | None, now: float, window: float | None, renew_before: float | None = None
) -> bool:
    """Whether the cached token is the answer as it is: there is one, it is not due, and
    (``renew_before``: see plan) it was issued since that instant. The hit's one check."""
    if entry is None or (renew_before is not None and entry.issued_at < renew_before):
        return False
    return not refresh_due(entry, now, window)


def plan(
    entry: Entry | None,
    failure: Failure | None,
    now: float,
    *,
    window: float | None,
    min_validity: float,
    background: bool,
    renew_before: float | None = None,
) -> str:
    """What to do for a get: one of SERVE, REFRESH_BEHIND, SERVE_STALE, REFRESH_NOW, FAIL.

    ``background`` says whether a usable token may be refreshed behind the answer; a
    process that holds the refresh lock asks with ``background=False`` (it is the
    refresh), and so does a user who turned background refreshes off.

    ``renew_before`` (``warm`` without ``--if-due``) makes a token issued before that
    instant due too: a person asked for a new one. A token issued since, by whichever
    process, is the one asked for, so a warm beside parallel gets still makes one call.
    """
    if fresh(entry, now, window, renew_before):
        return SERVE
    return plan_unfresh(entry, failure, now, min_validity=min_validity, background=background)


def plan_unfresh(
    entry: Entry | None,
    failure: Failure | None,
    now: float,
    *,
    min_validity: float,
    background: bool,
) -> str:
    """``plan`` for a get that has found its cached token not ``fresh`` (or none), and so
    need not ask again: one of REFRESH_BEHIND, SERVE_STALE, REFRESH_NOW, FAIL."""
    can_serve = entry is not None and usable(entry, now, min_validity)
    if backing_off(failure, now):
        return SERVE_STALE if can_serve else FAIL
    if can_serve and background:
        return REFRESH_BEHIND
    return REFRESH_NOW
