"""TokenSource's decisions, in-process, fast: a real cache directory, a fixed clock, a fake
fetch and a background start that runs (or records) its work where the test can see it.

The executable's suites (tests/executable: test_caching, test_weather) show the same
behaviour through the installed executable against the stand-in; here each decision of
the policy is pinned down on its own: hit, miss, due (behind or inline), stale after a
failure, the recorded failure and its backoff, waiting for another refresher, the
deadline.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from docker_credential_ecrpy import cache, errors, keys, policy, registry
from docker_credential_ecrpy.activity import Activity
from docker_credential_ecrpy.aws import Token
from docker_credential_ecrpy.config import Identity
from docker_credential_ecrpy.settings import Settings
from docker_credential_ecrpy.tokens import NoActivity, TokenSource
from tests.support.constants import HOST, LIFE, T0

TARGET = registry.parse(HOST)


class Clock:
    """The source's wall clock; ``on_read``, when set, runs as the source reads it: a test
    can make something happen at that point of a get, with no thread and no race."""

    def __init__(self) -> None:
        self.now = T0
        self.on_read: Callable[[], None] | None = None

    def __call__(self) -> float:
        if self.on_read is not None:
            self.on_read()
        return self.now


class Fetch:
    """AWS as the test wants it: tokens that live LIFE from the clock's now, or errors."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls = 0
        self.error: errors.AwsError | None = None
        self.deadlines: list[float] = []

    def __call__(
        self,
        target: registry.Registry,
        who: Identity | None,
        deadline: float,
        debug: bool,
        activity: Activity,
    ) -> Token:
        self.calls += 1
        self.deadlines.append(deadline)
        activity.api_calls += 1
        if self.error is not None:
            raise self.error
        return Token("AWS", f"token-{self.calls}", self.clock.now + LIFE)


class Background:
    """Records each background start; ``run()`` does the work, as the refresher would.
    Like the forked refresher, it holds a copy of each descriptor it is told to keep (the
    key's lock) until its work is done."""

    def __init__(self) -> None:
        self.started: list[tuple[Callable[[], None], list[int]]] = []
        self.kept: list[tuple[int, ...]] = []

    def __call__(self, work: Callable[[], None], keep: Iterable[int]) -> None:
        kept = tuple(keep)
        self.kept.append(kept)
        self.started.append((work, [os.dup(fd) for fd in kept]))

    def run(self) -> None:
        for work, held in self.started:
            work()
            for fd in held:
                os.close(fd)
        self.started.clear()


class World:
    def __init__(self, tmp_path: Path, **settings: object) -> None:
        self.clock = Clock()
        self.fetch = Fetch(self.clock)
        self.background = Background()
        self.stderr = io.StringIO()
        self.slept: list[float] = []
        self.settings = Settings(str(tmp_path / "cache"), **settings)  # type: ignore[arg-type]
        self.env = {
            "HOME": str(tmp_path),
            "AWS_CONFIG_FILE": str(tmp_path / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLETOKENS01",
        }

    def source(
        self,
        deadline: float | None = None,
        refreshed: Callable[[Activity, errors.HelperError | None], None] | None = None,
    ) -> TokenSource:
        return TokenSource(
            self.settings,
            self.env,
            self.stderr,
            deadline=None if deadline is None else policy.Deadline(deadline, self.settings.timeout),
            activity=Activity(),
            clock=self.clock,
            fetch=self.fetch,
            detach=self.background,
            draw=lambda: 0.5,
            sleep=self.slept.append,
            refreshed=refreshed,
        )

    def get(self) -> cache.Entry:
        return self.get_with()[0]

    def get_with(self) -> tuple[cache.Entry, Activity]:
        """The entry, and the activity the source recorded for it."""
        assert TARGET is not None
        source = self.source()
        return source.get(TARGET), source.activity

    @property
    def store(self) -> cache.TokenCache:
        return cache.TokenCache(self.settings.cache_dir)

    def key(self) -> str:
        assert TARGET is not None
        return self.source().key(TARGET)

    def warnings(self) -> list[str]:
        return self.stderr.getvalue().splitlines()


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_miss_fetches_and_a_hit_does_not(world: World) -> None:
    first = world.get()
    assert (first.secret, world.fetch.calls) == ("token-1", 1)
    world.clock.now += LIFE / 2 - 1
    assert world.get().secret == "token-1"
    assert world.fetch.calls == 1
    assert not world.background.started
    assert world.warnings() == []


def test_a_due_token_is_served_and_refreshed_behind(world: World) -> None:
    world.get()
    world.clock.now += LIFE / 2 + 1
    assert world.get().secret == "token-1"  # served at once
    assert world.fetch.calls == 1
    (kept,) = world.background.kept
    assert len(kept) == 1  # the lock's descriptor, handed to the refresher
    world.background.run()
    assert world.fetch.calls == 2
    assert world.get().secret == "token-2"  # the refreshed token is a hit
    assert world.warnings() == []


def test_one_background_refresh_at_a_time(world: World) -> None:
    world.get()
    world.clock.now += LIFE / 2 + 1
    with world.store.lock(world.key()) as held:  # a refresher of another process
        assert held.acquire()
        world.get()
    assert not world.background.started
    world.get()
    assert len(world.background.started) == 1


def test_the_refresher_rechecks_before_calling(world: World) -> None:
    world.get()
    world.clock.now += LIFE / 2 + 1
    world.get()
    world.get()  # both saw the token due; the lock lets only the first one start
    assert len(world.background.started) == 1
    world.background.run()
    world.clock.now += 1
    world.get()
    world.background.run()
    assert world.fetch.calls == 2


def test_inline_refresh_when_turned_off(tmp_path: Path) -> None:
    world = World(tmp_path, background_refresh=False)
    world.get()
    world.clock.now += LIFE / 2 + 1
    assert world.get().secret == "token-2"
    assert not world.background.started


def test_a_failed_refresh_is_recorded_and_the_stale_token_served(world: World) -> None:
    world.get()
    world.clock.now += LIFE / 2 + 1
    world.fetch.error = errors.Throttled("AWS throttled ecr:GetAuthorizationToken")
    world.get()
    world.background.run()
    record = world.store.read_failure(world.key())
    assert record is not None
    assert (record.kind, record.count, record.host) == ("Throttled", 1, HOST)
    assert record.retry_at - record.failed_at == policy.backoff("Throttled", 1, 0.5)
    calls = world.fetch.calls
    world.clock.now += 5
    served = world.get()  # within the backoff: no call, no refresher, a warning
    assert served.secret == "token-1"
    assert world.fetch.calls == calls
    assert not world.background.started
    (warning,) = world.warnings()
    assert "failed 5s ago (AWS throttled ecr:GetAuthorizationToken)" in warning
    assert "using the cached token" in warning and "next attempt in" in warning


def test_without_a_usable_token_a_recorded_failure_fails_at_once(world: World) -> None:
    world.fetch.error = errors.AccessDenied("access denied: ...")
    with pytest.raises(errors.AccessDenied):
        world.get()
    world.clock.now += 1
    with pytest.raises(errors.AccessDenied, match=r"^access denied: \.\.\. \(failed 1s ago; next"):
        world.get()
    assert world.fetch.calls == 1


def test_consecutive_failures_back_off_longer(world: World) -> None:
    world.fetch.error = errors.EndpointUnreachable("cannot reach ...")
    delays = []
    for _ in range(4):
        with pytest.raises(errors.EndpointUnreachable):
            world.get()
        record = world.store.read_failure(world.key())
        assert record is not None
        delays.append(record.retry_at - record.failed_at)
        world.clock.now = record.retry_at
    assert delays == [policy.backoff("EndpointUnreachable", n, 0.5) for n in (1, 2, 3, 4)]
    world.clock.now += 2 * 3600  # long after: a new failure starts the count again
    with pytest.raises(errors.EndpointUnreachable):
        world.get()
    record = world.store.read_failure(world.key())
    assert record is not None and record.count == 1


def test_success_and_erase_clear_the_failure(world: World) -> None:
    world.fetch.error = errors.AccessDenied("access denied")
    with pytest.raises(errors.AccessDenied):
        world.get()
    assert TARGET is not None
    world.source().forget(TARGET)  # docker logout
    assert world.store.read_failure(world.key()) is None
    with pytest.raises(errors.AccessDenied):
        world.get()
    record = world.store.read_failure(world.key())
    assert record is not None
    world.clock.now = record.retry_at
    world.fetch.error = None
    assert world.get().secret == "token-3"
    assert world.store.read_failure(world.key()) is None


def test_a_timeout_names_the_budget_and_is_recorded(tmp_path: Path) -> None:
    world = World(tmp_path, timeout=7.0)
    world.fetch.error = errors.DeadlineExceeded("calling ecr:GetAuthorizationToken at https://x")
    with pytest.raises(errors.DeadlineExceeded) as raised:
        world.get()
    assert raised.value.message == (
        "timed out after 7s calling ecr:GetAuthorizationToken at https://x; "
        "ECRPY_TIMEOUT sets the limit"
    )
    record = world.store.read_failure(world.key())
    assert record is not None and record.kind == "DeadlineExceeded"


def test_waiting_for_another_refresher_ends_at_the_deadline(world: World) -> None:
    source = world.source(deadline=time.monotonic() + 0.3)
    with world.store.lock(world.key()) as held:
        assert held.acquire()
        assert TARGET is not None
        with pytest.raises(errors.DeadlineExceeded, match="waiting for another process's refresh"):
            source.get(TARGET)
    assert world.fetch.calls == 0


def test_waiting_for_another_refresher_serves_a_usable_token(tmp_path: Path) -> None:
    world = World(tmp_path, background_refresh=False)
    world.get()
    world.clock.now += LIFE / 2 + 1
    source = world.source(deadline=time.monotonic() + 0.3)
    with world.store.lock(world.key()) as held:
        assert held.acquire()
        assert TARGET is not None
        assert source.get(TARGET).secret == "token-1"
    assert world.fetch.calls == 1
    assert "timed out after 20s waiting for another process's refresh" in world.warnings()[0]


def test_a_waiter_takes_the_result_of_the_refresh_it_waited_for(world: World) -> None:
    """The holder fails while the waiter waits: the waiter reads the record, no call."""
    key = world.key()
    assert TARGET is not None
    failure = cache.Failure(
        TARGET.scope, HOST, "Throttled", "AWS throttled", T0, T0 + 60, 1, "0" * 12
    )
    world.store.lock(key)  # makes the cache directory
    world.store.record_failure(key, failure)
    with pytest.raises(errors.Throttled, match=r"^AWS throttled \(failed 0s ago"):
        world.get()
    assert world.fetch.calls == 0


def test_the_token_and_a_failure_carry_the_identity_short_form(world: World) -> None:
    world.get()
    entry = world.store.read(world.key())
    assert entry is not None
    assert entry.fingerprint == keys.fingerprint(world.env)[: keys.SHORT_DIGITS]
    world.env["AWS_ACCESS_KEY_ID"] = "AKIDEXAMPLEOTHERKEY2"  # another identity fails
    world.fetch.error = errors.AccessDenied("access denied")
    with pytest.raises(errors.AccessDenied):
        world.get()
    (failure,) = world.store.failures()
    assert failure.fingerprint == keys.fingerprint(world.env)[: keys.SHORT_DIGITS]
    assert failure.fingerprint != entry.fingerprint


def test_an_entry_of_another_scope_is_a_miss(world: World) -> None:
    world.get()
    path = Path(world.settings.cache_dir) / (world.key() + cache.SUFFIX)
    other = cache.Entry("ecr eu-west-1 aws", HOST, "AWS", "x", T0, T0 + LIFE, "0" * 12)
    path.write_bytes(cache.encode(other))
    assert world.get().secret == "token-2"


def test_an_unusable_cache_directory_is_worked_around(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("not a directory")
    world = World(tmp_path)
    assert world.get().secret == "token-1"
    assert world.get().secret == "token-2"  # no cache, so no hit
    assert all("working without the cache" in line for line in world.warnings())


def test_a_spread_delays_only_the_first_call_of_a_host(tmp_path: Path) -> None:
    world = World(tmp_path, spread=5.0)
    world.get()
    assert world.slept == [2.5]  # half the spread: the draw is 0.5
    world.clock.now += LIFE / 2 + 1
    world.get()
    world.background.run()  # a refresh is no first call: no delay
    world.clock.now += LIFE  # nor is a fetch after the token expired
    world.get()
    assert world.slept == [2.5]
    assert world.fetch.calls == 3


def test_a_spread_leaves_the_call_half_of_the_deadline(tmp_path: Path) -> None:
    world = World(tmp_path, spread=3600.0)
    assert TARGET is not None
    world.source(deadline=time.monotonic() + 8).get(TARGET)
    (delay,) = world.slept
    assert 1.75 < delay <= 2.0  # the draw (0.5) over half of the 8s left, not a cap at 4s


def test_no_spread_by_default(world: World) -> None:
    world.get()
    assert world.slept == []


def test_the_aws_work_ends_before_the_get_must(world: World) -> None:
    """A second is kept back for recording the result, which the processes waiting on
    the lock (whose deadlines are no earlier) then read instead of timing out."""
    deadline = time.monotonic() + 20
    assert TARGET is not None
    world.source(deadline=deadline).get(TARGET)
    assert world.fetch.deadlines == [deadline - 1.0]


def test_a_token_written_as_the_wait_ends_is_served_without_a_word(world: World) -> None:
    """The holder writes a fresh token while the waiter waits for the lock, and lets go
    of the lock only after the waiter's deadline: the waiter serves that token, and says
    nothing of a timeout. The holder writes as the waiter first reads the clock, which it
    does just after its look in the cache found nothing: the order is fixed, not raced."""
    key = world.key()
    lock = world.store.lock(key)
    assert lock.acquire()
    assert TARGET is not None
    fresh = cache.Entry(TARGET.scope, HOST, "AWS", "written-by-the-holder", T0, T0 + LIFE, "0" * 12)

    def holder_writes() -> None:
        world.clock.on_read = None  # once
        world.store.write(key, fresh)

    world.clock.on_read = holder_writes
    source = world.source(deadline=time.monotonic() + 0.4)
    try:
        served = source.get(TARGET)
    finally:
        lock.release()
    assert world.clock.on_read is None, "the holder never wrote"
    assert "lock_wait" in source.activity.phases, "served without waiting for the lock"
    assert served.secret == "written-by-the-holder"
    assert world.warnings() == []
    assert world.fetch.calls == 0


# -- what a get did, for the activity log ------------------------------------------------


def test_the_activity_of_a_miss_and_of_a_hit(world: World) -> None:
    _, miss = world.get_with()
    assert (miss.outcome, miss.api_calls, miss.reason) == ("fetched", 1, None)
    assert miss.fingerprint == keys.fingerprint(world.env)[: keys.SHORT_DIGITS]
    assert {"cache_read", "lock_wait"} <= set(miss.phases)
    _, hit = world.get_with()
    assert (hit.outcome, hit.api_calls, hit.refresh_started) == ("hit", 0, False)
    assert hit.fingerprint == miss.fingerprint
    assert set(hit.phases) == {"cache_read"}  # one file read, no lock


def test_a_source_given_no_activity_records_nothing(world: World) -> None:
    """Without a reader (a get without the activity log) the source records into
    NoActivity: the same answers, nothing kept, and no activity module needed."""
    world.get()  # the miss that fills the cache
    assert TARGET is not None
    source = TokenSource(world.settings, world.env, world.stderr, clock=world.clock)
    assert source.get(TARGET).secret == "token-1"
    assert isinstance(source.activity, NoActivity)
    assert (source.activity.outcome, source.activity.fingerprint) == ("", "")
    assert source.fingerprint == keys.fingerprint(world.env)[: keys.SHORT_DIGITS]


def refreshing_behind(
    world: World,
) -> tuple[TokenSource, list[tuple[Activity, errors.HelperError | None]]]:
    """A source that served a due token and started its refresh (not run yet); and what
    its ``refreshed`` hook will hear: the refresher's own activity, and how it ended."""
    world.get()
    world.clock.now += LIFE / 2 + 1
    ended: list[tuple[Activity, errors.HelperError | None]] = []
    source = world.source(refreshed=lambda done, error: ended.append((done, error)))
    assert TARGET is not None
    source.get(TARGET)
    return source, ended


def test_the_activity_of_a_refresh_behind_the_answer(world: World) -> None:
    source, ended = refreshing_behind(world)
    assert (source.activity.outcome, source.activity.refresh_started) == ("hit", True)
    world.background.run()  # the refresher, with its own activity
    ((done, error),) = ended
    assert error is None
    assert done is not source.activity
    assert (done.outcome, done.api_calls, done.refresh_started) == (
        "refreshed-in-background",
        1,
        False,
    )
    assert done.fingerprint == source.activity.fingerprint
    assert source.activity.outcome == "hit"  # the get's own is left as it answered


def test_the_activity_of_a_failed_background_refresh(world: World) -> None:
    _, ended = refreshing_behind(world)
    world.fetch.error = errors.Throttled("AWS throttled ecr:GetAuthorizationToken")
    world.background.run()
    ((done, error),) = ended
    assert isinstance(error, errors.Throttled)
    assert done.api_calls == 1
    _, stale = world.get_with()  # then, during the backoff: served stale, and why
    assert stale.outcome == "stale-served"
    assert isinstance(stale.reason, errors.Throttled)
    assert stale.reason.message == "AWS throttled ecr:GetAuthorizationToken"


def test_the_activity_of_a_failed_inline_refresh_served_stale(tmp_path: Path) -> None:
    world = World(tmp_path, background_refresh=False)
    world.get()
    world.clock.now += LIFE / 2 + 1
    world.fetch.error = errors.EndpointUnreachable("cannot reach the API")
    _, activity = world.get_with()
    assert (activity.outcome, activity.api_calls) == ("stale-served", 1)
    assert activity.reason is world.fetch.error


def test_an_old_expiry_from_aws_itself_is_the_clock(tmp_path: Path) -> None:
    stderr = io.StringIO()

    def fetch(*_: object) -> Token:
        return Token("AWS", "secret", 1420070400.0)  # 2015-01-01, from AWS's own endpoint

    source = TokenSource(
        Settings(str(tmp_path / "cache")), {"HOME": str(tmp_path)}, stderr, fetch=fetch
    )
    target = registry.parse(HOST)
    assert target is not None
    with pytest.raises(errors.BadToken) as raised:
        source.get(target)
    assert "2015-01-01 00:00:00 UTC" in raised.value.message
    assert raised.value.message.endswith("check this machine's clock")
    assert "endpoint" not in raised.value.message
