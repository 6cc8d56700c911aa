"""Failures of our own machinery are not evidence about AWS.

The AWS worker is the process that loaded botocore, the largest of a get: the one the
OOM killer picks. A worker killed that way, or one that hit a bug (botocore's
``AttributeError`` on a malformed ``credential_process`` answer), must not be recorded
as an AWS failure with the throttling backoff: every pull on the host would be refused
for minutes while AWS is healthy. The next get simply tries again. A genuine timeout (the
worker killed by us at the deadline) keeps its classification and backoff
(``test_weather``).

And the worker's pipe is watched with ``poll``: a caller that hands over more than a
thousand open descriptors (Go raises its limit, CI runners leak them) gets a pipe
numbered beyond what ``select`` takes.

The installed executable runs as Docker runs it, against the stand-in, counting its API
calls; a ``credential_process`` of the test's own kills its parent (the worker) or
answers with a malformed document.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import credentials
from tests.support.constants import HOST, SECRET_ACCESS_KEY
from tests.support.helper import Helper
from tests.support.standin import StandIn
from tests.support.toolkit import (
    failure_records,
    finish,
    seed_due_token,
    spawn_gets,
    the_entry,
    valid_entry_at,
    wait_until,
    with_env,
)


def vault(home: Path, body: str) -> dict[str, str | None]:
    """The changes to the environment that take credentials from a credential_process
    running the shell ``body`` (see tests.support.credentials)."""
    config = credentials.credential_process(home / "aws-vault", body)
    return {
        "AWS_PROFILE": credentials.PROFILE,
        "AWS_CONFIG_FILE": str(config),
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
    }


def answering() -> str:
    return credentials.answering("AKIDEXAMPLEPROCESS01", SECRET_ACCESS_KEY)


def killing_once(home: Path) -> str:
    return credentials.killing_once(home / "killed-once", "AKIDEXAMPLEPROCESS01", SECRET_ACCESS_KEY)


def test_a_worker_killed_mid_call_is_not_an_aws_failure(helper: Helper, home: Path) -> None:
    env = with_env(helper, **vault(home, killing_once(home)))
    first = helper.get(env=env)
    assert first.returncode == 1
    assert first.stdout.startswith("the AWS worker process was killed by signal 9"), first.stdout
    assert "not an AWS failure" in first.stdout
    assert first.stdout.count("\n") == 1
    assert not failure_records(helper.cache_dir)  # nothing backs off
    assert helper.answer(env=env)["Secret"] == helper.secret  # the next get, at once


@pytest.mark.parametrize(
    "shape",
    [
        "[]",
        '"a string"',
        "null",
        '{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": "b", "Expiration": 5}',
    ],
)
def test_a_malformed_credential_process_answer_is_an_internal_error(
    helper: Helper, ecr: StandIn, home: Path, shape: str
) -> None:
    changes = vault(home, f"cat <<'EOF'\n{shape}\nEOF")
    env = with_env(helper, **changes)
    first = helper.get(env=env)
    assert first.returncode == 1
    assert first.stdout.startswith("getting a token failed with an internal error ("), first.stdout
    assert "run with ECRPY_DEBUG=1" in first.stdout
    assert first.stdout.count("\n") == 1
    assert not failure_records(helper.cache_dir)
    # ECRPY_DEBUG shows where it happened, on stderr (the check for tracebacks that every
    # other run of the suite makes would refuse it: hence a plain run).
    debug = subprocess.run(
        [helper.exe, "get"],
        input=HOST,
        capture_output=True,
        text=True,
        env={**env, "ECRPY_DEBUG": "1"},
        timeout=60,
    )
    assert debug.stdout == first.stdout
    assert "Traceback" in debug.stderr and "credential" in debug.stderr
    # Fixed: the very next get asks AWS and succeeds.
    vault(home, answering())
    assert helper.answer(env=env)["Secret"] == helper.secret
    assert ecr.calls() == 1


def test_a_setting_botocore_refuses_is_still_named_not_an_internal_error(helper: Helper) -> None:
    """Botocore refuses an endpoint URL it cannot use with a plain ValueError: that is the
    user's setting at fault, named as before, not a bug of ours."""
    result = helper.get(env=with_env(helper, AWS_ENDPOINT_URL_ECR="http://bad host:99"))
    assert result.returncode == 1
    assert "Invalid endpoint: http://bad host:99" in result.stdout
    assert "internal error" not in result.stdout


@pytest.mark.slow
def test_sixteen_gets_while_the_worker_is_killed(helper: Helper, ecr: StandIn, home: Path) -> None:
    """One get's worker is killed: that get fails (and says why), the one after it calls
    AWS at once, every other get is answered by that call's token; then all are hits."""
    env = with_env(helper, **vault(home, killing_once(home)), ECRPY_TIMEOUT="8s")
    results = finish(helper, spawn_gets(helper, 16, env))
    failed = [r for r in results if r.returncode != 0]
    assert len(failed) <= 1, [r.stdout for r in failed]
    assert all("killed by signal 9" in r.stdout for r in failed)
    assert (home / "killed-once").is_dir()  # the worker was killed, once
    assert ecr.calls() == 1
    assert not failure_records(helper.cache_dir)
    again = finish(helper, spawn_gets(helper, 16, env))
    assert all(r.returncode == 0 for r in again), [r.stdout for r in again][:3]
    assert {json.loads(r.stdout)["Secret"] for r in again} == {helper.secret}
    assert ecr.calls() == 1


# -- more than a thousand descriptors ------------------------------------------------------


# A caller that leaks descriptors: it fills 3..N with open ones (its soft limit raised to
# hold them, as Go does) and execs the helper, which inherits them all; its pipes then
# get numbers above N.
LEAKY_CALLER = """
import os, resource, sys
count = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < count + 64:
    sys.exit(f"the hard limit of descriptors ({hard}) is too low")
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, count + 64), hard))
null = os.open(os.devnull, os.O_RDONLY)
for fd in range(3, count + 3):
    os.dup2(null, fd, inheritable=True)
os.execv(sys.argv[2], sys.argv[2:])
"""


def get_holding(
    helper: Helper, count: int, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A get run with ``count`` inherited descriptors, numbered from 3 on."""
    done = subprocess.run(
        [sys.executable, "-c", LEAKY_CALLER, str(count), helper.exe, "get"],
        input=HOST.encode(),
        capture_output=True,
        env=env if env is not None else helper.env,
        timeout=60,
    )
    result = subprocess.CompletedProcess(
        [helper.exe, "get"], done.returncode, done.stdout.decode(), done.stderr.decode()
    )
    helper.check_no_leak(result)
    return result


def test_a_miss_with_over_a_thousand_inherited_descriptors(helper: Helper, ecr: StandIn) -> None:
    result = get_holding(helper, 1100)
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["Secret"] == helper.secret
    assert ecr.calls() == 1


def test_16_misses_with_over_a_thousand_descriptors_share_one_call(
    helper: Helper, ecr: StandIn
) -> None:
    """In parallel, as a Go client's pulls arrive: the one refresh (its worker's pipe
    numbered above 1023) serves every waiter; before poll, every get failed."""
    ecr.config(delay=1.0)  # the others wait on the lock while the one refresh runs
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: get_holding(helper, 1100), range(16)))
    assert all(r.returncode == 0 for r in results), [r.stdout for r in results][:3]
    assert {json.loads(r.stdout)["Secret"] for r in results} == {helper.secret}
    assert ecr.calls() == 1


def test_a_refresh_behind_with_over_a_thousand_inherited_descriptors(
    helper: Helper, ecr: StandIn
) -> None:
    env = seed_due_token(helper, ecr)
    old = valid_entry_at(the_entry(helper))
    result = get_holding(helper, 1100, env)
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["Secret"] == old.secret
    wait_until(lambda: ecr.calls() == 1, 15, "the background refresh")
    wait_until(
        lambda: valid_entry_at(the_entry(helper)).issued_at > old.issued_at, 15, "the new token"
    )
