"""The refresh policy, with fixed clocks and fixed random draws: when a token is served,
refreshed in the foreground or behind the answer, served stale, or refused.

Getting it wrong means either a baffling 401 mid-push, an API call on every pull, or a
host that hammers AWS through a brownout. Time is a parameter here, so clock jumps are
ordinary test cases.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy import policy
from docker_credential_ecrpy.cache import Entry, Failure
from docker_credential_ecrpy.policy import refresh_due, usable
from tests.support.constants import HOST, LIFE, T0, TEN_YEARS


def entry(issued: float = T0, life: float = LIFE, secret: str = "c2VjcmV0LXRva2Vu") -> Entry:  # noqa: S107
    return Entry("ecr us-east-1 aws", HOST, "AWS", secret, issued, issued + life, "0" * 12)


# -- refresh_due ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "due"),
    [
        (0.0, False),
        (1.0, False),
        (LIFE / 2 - 1, False),
        (LIFE / 2, True),  # default window: half the lifetime, boundary included
        (LIFE / 2 + 1, True),
        (LIFE - 1, True),
        (LIFE, True),
        (LIFE + 3600, True),  # clock jumped far forward: expired
        (10 * 365 * 86400.0, True),
    ],
)
def test_default_window_is_half_the_lifetime(elapsed: float, due: bool) -> None:
    assert refresh_due(entry(), T0 + elapsed) is due


@pytest.mark.parametrize("life", [60.0, 3600.0, LIFE, 7 * 86400.0])
def test_default_window_scales_with_the_lifetime(life: float) -> None:
    token = entry(life=life)
    assert not refresh_due(token, T0 + life / 2 - 0.5)
    assert refresh_due(token, T0 + life / 2 + 0.5)


@pytest.mark.parametrize(
    ("window", "elapsed", "due"),
    [
        (3600.0, LIFE - 3601, False),
        (3600.0, LIFE - 3600, True),
        (3600.0, LIFE / 2 + 1, False),  # an explicit window replaces the default half
        (11 * 3600.0, 3599.0, False),
        (11 * 3600.0, 3600.0, True),
        (2 * LIFE, 0.0, True),  # a window longer than the lifetime: always due
        (1.0, LIFE - 2, False),
        (1.0, LIFE - 1, True),
    ],
)
def test_explicit_window(window: float, elapsed: float, due: bool) -> None:
    assert refresh_due(entry(), T0 + elapsed, window) is due


@pytest.mark.parametrize(
    ("jump", "due"),
    [
        (-1.0, False),  # a small step back (NTP slew, other host) is harmless
        (-policy.CLOCK_SKEW, False),
        (-policy.CLOCK_SKEW - 1, True),  # issued "in the future": age unknown, refresh
        (-3600.0, True),
        (-365 * 86400.0, True),
        (-T0, True),  # the clock reset to the epoch
    ],
)
def test_clock_jumps_backwards(jump: float, due: bool) -> None:
    assert refresh_due(entry(), T0 + jump) is due
    assert refresh_due(entry(), T0 + jump, 60.0) is due


@given(
    issued=st.floats(min_value=1.0, max_value=4e9),
    life=st.floats(min_value=1.0, max_value=1e6),
    offset=st.floats(min_value=-1e9, max_value=1e9),
    window=st.none() | st.floats(min_value=0.0, max_value=1e7),
)
def test_never_fresh_once_expired_or_from_the_future(
    issued: float, life: float, offset: float, window: float | None
) -> None:
    token = entry(issued, life)
    now = issued + offset
    if now >= token.expires_at or now < issued - policy.CLOCK_SKEW:
        assert refresh_due(token, now, window)


# -- usable --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "min_validity", "expected"),
    [
        (LIFE / 2, 900.0, True),
        (LIFE - 901, 900.0, True),
        (LIFE - 900, 900.0, True),  # exactly the minimum left
        (LIFE - 899, 900.0, False),
        (LIFE - 1, 900.0, False),
        (LIFE, 900.0, False),  # expired: never
        (LIFE + 1, 0.0, False),  # not even with no minimum
        (LIFE + 86400, 0.0, False),  # clock jumped forward past expiry
        (-policy.CLOCK_SKEW - 1, 900.0, False),  # clock jumped back: age unknown
        (-86400.0, 0.0, False),
        (-1.0, 900.0, True),
    ],
)
def test_usable(elapsed: float, min_validity: float, expected: bool) -> None:
    assert usable(entry(), T0 + elapsed, min_validity) is expected


@given(
    life=st.floats(min_value=1.0, max_value=1e6),
    offset=st.floats(min_value=-1e9, max_value=1e9),
    min_validity=st.floats(min_value=0.0, max_value=1e6),
)
def test_an_expired_token_is_never_usable(life: float, offset: float, min_validity: float) -> None:
    token = entry(T0, life)
    now = T0 + offset
    if now >= token.expires_at:
        assert not usable(token, now, min_validity)


# -- backoff --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(policy.USER_FIXABLE))
@pytest.mark.parametrize("failures", [1, 2, 10])
def test_what_the_user_fixes_backs_off_for_seconds(kind: str, failures: int) -> None:
    for draw in (0.0, 0.5, 0.999):
        delay = policy.backoff(kind, failures, draw)
        assert policy.SHORT_BACKOFF / 2 <= delay <= policy.SHORT_BACKOFF


@pytest.mark.parametrize(
    "kind", ["Throttled", "EndpointUnreachable", "DeadlineExceeded", "AwsError"]
)
def test_outages_back_off_from_tens_of_seconds_to_fifteen_minutes(kind: str) -> None:
    uppers = [policy.backoff(kind, n, 0.9999999) for n in range(1, 12)]
    lowers = [policy.backoff(kind, n, 0.0) for n in range(1, 12)]
    assert lowers[0] >= 15 and uppers[0] <= 30.001
    assert uppers == sorted(uppers), "it never shrinks as failures go on"
    assert max(uppers) <= policy.MAX_BACKOFF
    assert uppers[-1] == pytest.approx(policy.MAX_BACKOFF, rel=1e-6)
    assert all(
        low == pytest.approx(high / 2, rel=1e-6) for low, high in zip(lowers, uppers, strict=True)
    )


@given(
    kind=st.sampled_from(["Throttled", "AccessDenied", "NoAwsCredentials", "Unknown"]),
    failures=st.integers(min_value=-5, max_value=10**6),
    draw=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_backoff_is_always_positive_and_bounded(kind: str, failures: int, draw: float) -> None:
    assert 0 < policy.backoff(kind, failures, draw) <= policy.MAX_BACKOFF


def failure(failed: float = T0, wait: float = 60.0) -> Failure:
    return Failure(
        "ecr us-east-1 aws",
        HOST,
        "Throttled",
        "AWS throttled ...",
        failed,
        failed + wait,
        1,
        "0" * 12,
    )


def test_a_deadline_is_one_instant_and_a_background_refresh_gets_the_same_budget() -> None:
    deadline = policy.Deadline(100.0, 20.0)
    assert (deadline.left(95.0), deadline.passed(99.9), deadline.passed(100.0)) == (5, False, True)
    later = deadline.restarted(500.0)
    assert (later.at, later.timeout, deadline.at) == (520.0, 20.0, 100.0)


def test_a_deadline_starts_with_its_budget_and_bounds_the_lock_and_the_worker() -> None:
    deadline = policy.Deadline.starting(80.0, 20.0)
    assert (deadline.at, deadline.timeout, deadline.started) == (100.0, 20.0, 80.0)
    assert deadline.for_lock(90.0, None) == 100.0  # as long as the deadline allows
    assert deadline.for_lock(90.0, 2.0) == 92.0  # ECRPY_LOCK_TIMEOUT ends it sooner
    assert deadline.for_lock(90.0, 30.0) == 100.0  # but never later
    assert deadline.for_worker() == 100.0 - policy.WORKER_RESERVE
    assert policy.Deadline.starting(0.0, 2.0).for_worker() == 1.5  # a quarter of 2s


def test_failures_count_on_while_the_last_is_recent() -> None:
    last = failure(wait=60.0)  # count 1, its backoff over at T0 + 60
    assert policy.failure_count(None, T0) == 1
    assert policy.failure_count(last, T0 + 60 + policy.FAILURE_MEMORY - 1) == 2
    assert policy.failure_count(last, T0 + 60 + policy.FAILURE_MEMORY) == 1  # forgotten


def test_the_worker_keeps_back_a_second_or_a_quarter_of_a_short_budget() -> None:
    assert policy.worker_reserve(30.0) == policy.WORKER_RESERVE
    assert policy.worker_reserve(2.0) == 0.5


@pytest.mark.parametrize("kind", ["throttle", "transient"])
def test_retries_wait_with_full_jitter_up_to_a_cap(kind: str) -> None:
    base, cap = policy.RETRY_BACKOFF[kind]
    assert policy.retry_delay(kind, 1, 0.0, None, 0.0) == 0.0
    assert policy.retry_delay(kind, 1, 0.5, None, 0.0) == pytest.approx(base)
    assert policy.retry_delay(kind, 2, 0.5, None, 0.0) == pytest.approx(min(cap, base * 4) / 2)
    assert policy.retry_delay("throttle", 50, 0.5, None, 0.0) == pytest.approx(16.0 / 2)


def test_what_no_retry_helps_and_spent_transient_attempts_end_the_call() -> None:
    assert policy.retry_delay(None, 1, 0.5, None, 0.0) is None
    assert policy.retry_delay("transient", policy.TRANSIENT_ATTEMPTS, 0.5, None, 0.0) is None
    assert policy.retry_delay("throttle", 40, 0.5, None, 0.0) is not None  # as time allows


def test_a_retry_waits_only_as_long_as_leaves_time_for_one_more_attempt() -> None:
    headroom = policy.RETRY_HEADROOM
    # 10s left, the slowest attempt took 4s: at most 10 - 6 = 4s of waiting.
    assert policy.retry_delay("throttle", 3, 0.99, 10.0, 4.0) == pytest.approx(10 - 4 * headroom)
    # An attempt counts as taking at least MIN_CALL_TIME.
    least = policy.MIN_CALL_TIME * headroom
    assert policy.retry_delay("throttle", 3, 0.99, 5.0, 0.01) == pytest.approx(5 - least)
    # Less left than one more attempt needs: no retry.
    assert policy.retry_delay("throttle", 1, 0.0, least - 0.01, 0.0) is None


@pytest.mark.parametrize(
    ("offset", "backing"),
    [
        (0.0, True),
        (59.9, True),
        (60.0, False),  # the backoff is over
        (3600.0, False),
        (-policy.CLOCK_SKEW, True),
        (-policy.CLOCK_SKEW - 1, True),  # recorded "in the future": counts as made now
        (-3600.0, True),  # (tokens makes it so on disk: its backoff then ends)
    ],
)
def test_backing_off(offset: float, backing: bool) -> None:
    assert policy.backing_off(failure(), T0 + offset) is backing
    assert not policy.backing_off(None, T0 + offset)


# -- plan: the decision of a get ---------------------------------------------------------------

MIN = 900.0
FRESH = T0 + 60  # a token issued at T0 is fresh here...
DUE = T0 + LIFE / 2 + 60  # due, but hours from expiry: usable
NEARLY_OUT = T0 + LIFE - 60  # due, and below the minimum validity
EXPIRED = T0 + LIFE + 60


@pytest.mark.parametrize(
    ("now", "failed", "background", "expected"),
    [
        (FRESH, False, True, policy.SERVE),
        (FRESH, True, True, policy.SERVE),  # a fresh token needs nothing from AWS
        (DUE, False, True, policy.REFRESH_BEHIND),
        (DUE, False, False, policy.REFRESH_NOW),  # background refreshes turned off
        (DUE, True, True, policy.SERVE_STALE),
        (DUE, True, False, policy.SERVE_STALE),
        (NEARLY_OUT, False, True, policy.REFRESH_NOW),
        (NEARLY_OUT, True, True, policy.FAIL),
        (EXPIRED, False, True, policy.REFRESH_NOW),
        (EXPIRED, True, True, policy.FAIL),
    ],
)
def test_plan_with_a_cached_token(
    now: float, failed: bool, background: bool, expected: str
) -> None:
    record = failure(now - 1) if failed else None
    decided = policy.plan(
        entry(), record, now, window=None, min_validity=MIN, background=background
    )
    assert decided == expected


@pytest.mark.parametrize(("failed", "expected"), [(False, policy.REFRESH_NOW), (True, policy.FAIL)])
def test_plan_without_a_token(failed: bool, expected: str) -> None:
    record = failure(T0 - 1) if failed else None
    assert policy.plan(None, record, T0, window=None, min_validity=MIN, background=True) == expected


def test_a_failure_whose_backoff_ended_is_no_obstacle() -> None:
    over = failure(DUE - 120, wait=60.0)
    decided = policy.plan(entry(), over, DUE, window=None, min_validity=MIN, background=True)
    assert decided == policy.REFRESH_BEHIND
    assert policy.plan(None, over, DUE, window=None, min_validity=MIN, background=True) == (
        policy.REFRESH_NOW
    )


@pytest.mark.parametrize(
    ("renew_before", "failed", "expected"),
    [
        (T0 + 1, False, policy.REFRESH_NOW),  # issued before the warm began: renewed
        (T0 + 1, True, policy.SERVE_STALE),  # ... unless a failure's backoff runs
        (T0, False, policy.SERVE),  # issued since: the token the warm asked for
        (T0 - 1, False, policy.SERVE),
    ],
)
def test_plan_renews_a_fresh_token_issued_before_a_warm(
    renew_before: float, failed: bool, expected: str
) -> None:
    record = failure(FRESH - 1) if failed else None
    decided = policy.plan(
        entry(),
        record,
        FRESH,
        window=None,
        min_validity=MIN,
        background=False,
        renew_before=renew_before,
    )
    assert decided == expected


@pytest.mark.parametrize(
    ("now", "renew_before", "expected"),
    [(FRESH, None, True), (DUE, None, False), (FRESH, T0 + 1, False), (FRESH, T0, True)],
)
def test_fresh_is_the_plan_to_serve(now: float, renew_before: float | None, expected: bool) -> None:
    assert policy.fresh(entry(), now, None, renew_before) is expected
    assert policy.fresh(None, now, None, renew_before) is False
    decided = policy.plan(
        entry(),
        None,
        now,
        window=None,
        min_validity=MIN,
        background=True,
        renew_before=renew_before,
    )
    assert (decided == policy.SERVE) is expected


@given(
    now=st.floats(min_value=T0 - LIFE, max_value=T0 + 2 * LIFE),
    failed=st.booleans(),
    cached=st.booleans(),
    background=st.booleans(),
)
def test_the_plan_of_a_token_not_fresh_is_the_plan(
    now: float, failed: bool, cached: bool, background: bool
) -> None:
    """A get that found its token not fresh asks plan_unfresh, and gets what plan says."""
    token = entry() if cached else None
    if policy.fresh(token, now, None):
        return
    record = failure(now - 1) if failed else None
    unfresh = policy.plan_unfresh(token, record, now, min_validity=MIN, background=background)
    assert unfresh != policy.SERVE
    assert unfresh == policy.plan(
        token, record, now, window=None, min_validity=MIN, background=background
    )


@given(
    offset=st.floats(min_value=-1e6, max_value=1e6),
    failed=st.booleans(),
    background=st.booleans(),
    min_validity=st.floats(min_value=0.0, max_value=LIFE),
)
def test_an_expired_token_is_never_served(
    offset: float, failed: bool, background: bool, min_validity: float
) -> None:
    now = T0 + LIFE + abs(offset)
    record = failure(now - 1) if failed else None
    decided = policy.plan(
        entry(), record, now, window=None, min_validity=min_validity, background=background
    )
    assert decided in (policy.REFRESH_NOW, policy.FAIL)


@pytest.mark.parametrize(
    ("spread", "draw", "left", "expected"),
    [
        (0.0, 0.9, 20.0, 0.0),
        (10.0, 0.0, 20.0, 0.0),
        (10.0, 0.5, 20.0, 5.0),
        (10.0, 0.999, 20.0, 9.99),
        (60.0, 0.9, 20.0, 9.0),  # over half the time left, never more
        (60.0, 0.5, 20.0, 5.0),
        (60.0, 0.9, -1.0, 0.0),
    ],
)
def test_spread_delay(spread: float, draw: float, left: float, expected: float) -> None:
    assert policy.spread_delay(spread, draw, left) == pytest.approx(expected)


@given(
    spread=st.floats(0.0, 10**6),
    left=st.floats(-10.0, 10**4),
    draws=st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=2, max_size=2, unique=True),
)
def test_a_spread_wider_than_the_deadline_still_spreads(
    spread: float, left: float, draws: list[float]
) -> None:
    """Within what is left, and uniform over it: hosts that drew apart wait apart, however
    wide the spread (a cap on the delay made every draw above it the same wait)."""
    window = min(spread, left * policy.SPREAD_SHARE)
    delays = [policy.spread_delay(spread, draw, left) for draw in draws]
    for draw, delay in zip(draws, delays, strict=True):
        assert 0.0 <= delay <= max(window, 0.0)
        assert delay == pytest.approx(max(window, 0.0) * draw)  # the draw, scaled


def test_the_longest_spread_is_half_the_deadline() -> None:
    assert policy.longest_spread(20.0) == 10.0
    assert policy.spread_delay(policy.longest_spread(20.0), 0.999, 20.0) < 10.0


def test_a_record_asking_for_ten_years_gets_the_longest_backoff() -> None:
    far = failure(wait=TEN_YEARS)
    assert policy.failure_times(far, T0 + 5) == (T0, T0 + policy.LONGEST_BACKOFF)
    assert policy.backing_off(far, T0 + policy.LONGEST_BACKOFF - 1)
    assert not policy.backing_off(far, T0 + policy.LONGEST_BACKOFF)


def test_a_record_from_the_future_counts_as_made_now() -> None:
    ahead = failure(failed=T0 + TEN_YEARS, wait=30.0)
    assert policy.failure_times(ahead, T0) == (T0, T0 + 30.0)
    assert policy.backing_off(ahead, T0 + 29)
    assert policy.from_the_future(ahead, T0)
    assert not policy.from_the_future(failure(failed=T0 + policy.CLOCK_SKEW), T0)


def test_times_the_policy_produced_are_kept() -> None:
    for wait in (policy.SHORT_BACKOFF, policy.LONG_BACKOFF, policy.MAX_BACKOFF * 0.99):
        assert policy.failure_times(failure(wait=wait), T0 + 1) == (T0, T0 + wait)


@given(
    failed=st.floats(min_value=1.0, max_value=1e12),
    wait=st.floats(min_value=0.0, max_value=1e12),
    now=st.floats(min_value=1.0, max_value=1e12),
)
def test_no_record_blocks_longer_than_the_policy_would(
    failed: float, wait: float, now: float
) -> None:
    failed_at, retry_at = policy.failure_times(failure(failed=failed, wait=wait), now)
    assert failed_at <= now
    assert retry_at - now <= policy.LONGEST_BACKOFF
