"""Failure records through the installed executable: a record's times are held to what
the policy can produce, whoever wrote them, in a get and in ``doctor --tokens``. The
writer and reader (``tests/unit/test_cache.py``) and the policy's rule for the times
(``tests/unit/test_policy.py``) are tested in-process."""

from __future__ import annotations

import re
import time

from docker_credential_ecrpy import cache
from tests.support.constants import TEN_YEARS
from tests.support.helper import Helper
from tests.support.standin import StandIn
from tests.support.toolkit import end_backoffs, failure_records

# -- times held to the policy's -------------------------------------------------------------


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
    end_backoffs(helper.cache_dir)
    assert helper.answer()["Secret"] == helper.secret
    assert ecr.calls() == 2
