"""Failure records: whatever the writer writes, the reader reads back (a record refused on
reading counts as absent, and the backoff with it); and a record's times are held to what
the policy can produce, whoever wrote them, in a get and in ``doctor --tokens``."""

from __future__ import annotations

import re
import time

from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy import cache, errors, policy
from tests.support.standin import StandIn

from .conftest import HOST, Helper
from .toolkit import failure_records

T0 = 1_800_000_000.0
TEN_YEARS = 10 * 365 * 86400.0
ANY_TEXT = st.text(st.characters(exclude_categories=()))  # lone surrogates too


def record(message: str = "denied", failed: float = T0, wait: float = 60.0) -> cache.Failure:
    return cache.Failure(
        "ecr us-east-1 aws", HOST, "AccessDenied", message, failed, failed + wait, 2, "0" * 12
    )


# -- the writer and the reader agree --------------------------------------------------------


@given(
    message=ANY_TEXT
    | st.text(min_size=5000)
    | st.builds(lambda a, b: a * 4000 + b, ANY_TEXT, ANY_TEXT),
    failed=st.floats(min_value=1.0, max_value=4e9),
    wait=st.floats(min_value=0.0, max_value=1e9),
)
def test_what_is_written_reads_back(message: str, failed: float, wait: float) -> None:
    written = cache.encode_failure(record(message, failed, wait))
    assert len(written) <= cache.MAX_ENTRY_BYTES
    back = cache.decode_failure(written)
    assert back is not None, "a record the writer wrote is refused by the reader"
    assert back.message == errors.one_line(message) or (
        not errors.one_line(message) and back.message == errors.NO_REASON
    )
    assert (back.failed_at, back.retry_at, back.count) == (failed, failed + wait, 2)
    assert cache.encode_failure(back) == written  # and reads as what was written


def test_a_hostile_message_is_recorded_readably() -> None:
    message = "\ufeffbad \x1b[31mgateway\x1b[0m" + " <p>blocked</p>" * 2000
    back = cache.decode_failure(cache.encode_failure(record(message)))
    assert back is not None
    assert back.message.startswith("bad [31mgateway [0m <p>blocked</p>")
    assert len(back.message) == errors.MESSAGE_LIMIT and back.message.isprintable()


def test_the_reader_takes_exactly_what_the_writer_writes() -> None:
    """A message the writer would have changed (not one line, not printable, too long)
    was not written by it: refused, as any other file that does not parse."""
    good = cache.encode_failure(record("denied"))
    for message, written in [
        ("denied by policy", True),
        ("x" * errors.MESSAGE_LIMIT, True),
        ("x" * (errors.MESSAGE_LIMIT + 1), False),
        ("denied  by policy", False),
        ("denied ", False),
        ("\ufeffdenied", False),
        ("denied \x1b[31m", False),
    ]:
        data = good.replace(b"message denied", f"message {message}".encode())
        assert (cache.decode_failure(data) is not None) is written, message


# -- times held to the policy's -------------------------------------------------------------


def test_a_record_asking_for_ten_years_gets_the_longest_backoff() -> None:
    far = record(wait=TEN_YEARS)
    assert policy.failure_times(far, T0 + 5) == (T0, T0 + policy.LONGEST_BACKOFF)
    assert policy.backing_off(far, T0 + policy.LONGEST_BACKOFF - 1)
    assert not policy.backing_off(far, T0 + policy.LONGEST_BACKOFF)


def test_a_record_from_the_future_counts_as_made_now() -> None:
    ahead = record(failed=T0 + TEN_YEARS, wait=30.0)
    assert policy.failure_times(ahead, T0) == (T0, T0 + 30.0)
    assert policy.backing_off(ahead, T0 + 29)
    assert policy.from_the_future(ahead, T0)
    assert not policy.from_the_future(record(failed=T0 + policy.CLOCK_SKEW), T0)


def test_times_the_policy_produced_are_kept() -> None:
    for wait in (policy.SHORT_BACKOFF, policy.LONG_BACKOFF, policy.MAX_BACKOFF * 0.99):
        assert policy.failure_times(record(wait=wait), T0 + 1) == (T0, T0 + wait)


@given(
    failed=st.floats(min_value=1.0, max_value=1e12),
    wait=st.floats(min_value=0.0, max_value=1e12),
    now=st.floats(min_value=1.0, max_value=1e12),
)
def test_no_record_blocks_longer_than_the_policy_would(
    failed: float, wait: float, now: float
) -> None:
    failed_at, retry_at = policy.failure_times(record(failed=failed, wait=wait), now)
    assert failed_at <= now
    assert retry_at - now <= policy.LONGEST_BACKOFF


def plant(helper: Helper, failed: float, retry: float) -> None:
    """Rewrite the one failure record with these times."""
    (path,) = helper.cache_dir.glob("*" + cache.FAILURE_SUFFIX)
    (found,) = failure_records(helper.cache_dir)
    found.failed_at, found.retry_at = failed, retry
    path.write_bytes(cache.encode_failure(found))


def next_attempt(text: str) -> str:
    found = re.search(r"next attempt in (\S+?)\)", text)
    assert found, text
    return found[1]


def test_a_record_ten_years_ahead_in_a_get_and_in_doctor(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("InvalidParameterException", message="broken", times=1)
    assert helper.get().returncode == 1
    now = time.time()
    plant(helper, now, now + TEN_YEARS)
    result = helper.get()
    assert result.returncode == 1
    wait = next_attempt(result.stdout)
    assert wait in ("14m", "15m"), result.stdout  # not "87599h59m"
    doctor = helper.run("doctor", "--tokens", stdin="")
    assert re.search(r"no get calls AWS for it for 1[45]m more", doctor.stdout), doctor.stdout
    assert "h" not in re.findall(r"for it for (\S+) more", doctor.stdout)[0]
    assert ecr.calls() == 1


def test_a_record_from_the_future_counts_as_now_in_a_get(helper: Helper, ecr: StandIn) -> None:
    """A clock stepped back ten years: the record counts as made now, for its own
    backoff, and then AWS is asked again (it is made now on disk, so the backoff ends)."""
    ecr.fault("InvalidParameterException", message="broken", times=1)
    assert helper.get().returncode == 1
    ahead = time.time() + TEN_YEARS
    plant(helper, ahead, ahead + 3)
    result = helper.get()
    assert result.returncode == 1
    assert "(failed 0s ago; next attempt in " in result.stdout, result.stdout
    assert ecr.calls() == 1
    (found,) = failure_records(helper.cache_dir)
    assert found.failed_at <= time.time() and found.retry_at - found.failed_at == 3
    time.sleep(max(found.retry_at - time.time(), 0) + 0.1)
    assert helper.answer()["Secret"] == helper.secret
    assert ecr.calls() == 2
