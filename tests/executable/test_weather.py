"""Bad weather: AWS throttles, is slow, trickles or hangs, and many pulls ask at once.

The installed executable runs as Docker runs it, against the stand-in, in parallel.
What must hold, whatever AWS does:

- a pull that holds a usable token never waits on AWS: it is answered from the cache at
  once, and the token is refreshed behind the answer by one detached process;
- a host never amplifies a brownout: a failed refresh is recorded with a backoff, and
  until it ends nobody on the host calls AWS for that key again;
- every ``get`` ends by its deadline (ECRPY_TIMEOUT), with the reason, and whatever it
  started (the AWS worker, a ``credential_process``) ends with it;
- nothing the helper reads can stall it.

Times asserted here are the logic's, not the machine's speed: "answered before the API
could have answered" (the stand-in is made slower than that), "ended by the deadline".
The speed figures are ``make bench``'s.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from docker_credential_ecrpy import cache, policy
from tests.support.constants import ALWAYS, HOST, HOST2
from tests.support.helper import Helper
from tests.support.standin import StandIn
from tests.support.toolkit import (
    end_backoffs,
    failure_records,
    finish,
    hold_lock,
    kill,
    refreshers,
    seed_due_token,
    spawn_gets,
    the_entry,
    token_files,
    valid_entry_at,
    wait_until,
    with_env,
)

# -- serve first, refresh behind ----------------------------------------------------------


def test_a_due_token_is_served_at_once_and_refreshed_behind(marked: Helper, ecr: StandIn) -> None:
    env = seed_due_token(marked, ecr)
    old = valid_entry_at(the_entry(marked))
    ecr.config(delay=3.0, password="rotated-" + ecr.password)  # the leak scan sees it too
    results = finish(marked, spawn_gets(marked, 1, env))
    (result,) = results
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["Secret"] == old.secret
    # Answered, pipes closed and exited before the API could answer: nothing waited for
    # it, and nothing of the refresh held the stdout and stderr pipes.
    assert result.seconds < 3.0, f"took {result.seconds:.1f}s"
    assert result.stderr == ""
    # One refresher, detached: its own session, /dev/null for 0, 1 and 2.
    (refresher, *_) = sorted(refreshers(marked))
    assert os.getsid(refresher) != os.getsid(0)
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{refresher}/fd/{fd}") == "/dev/null"
    wait_until(lambda: not refreshers(marked), 15, "the background refresh")
    assert ecr.calls() == 1
    new = valid_entry_at(the_entry(marked))
    assert new.issued_at > old.issued_at
    ecr.config(delay=0.0)
    assert marked.answer(env=env)["Secret"] == new.secret  # a hit on the new token...
    wait_until(lambda: not refreshers(marked), 15, "the next background refresh")


def test_the_foreground_never_imports_botocore(helper: Helper, ecr: StandIn) -> None:
    env = seed_due_token(helper, ecr)
    imported = helper.imports(env=env)
    assert "docker_credential_ecrpy.tokens" in imported  # the probe saw our imports
    assert not {"botocore", "boto3"} & imported
    wait_until(lambda: ecr.calls() == 1, 15, "the background refresh")


def test_background_refresh_can_be_turned_off(marked: Helper, ecr: StandIn) -> None:
    env = seed_due_token(marked, ecr, ECRPY_BACKGROUND_REFRESH="off")
    old = valid_entry_at(the_entry(marked))
    ecr.config(password="rotated-" + ecr.password)
    assert marked.answer(env=env)["Secret"] == "rotated-" + ecr.password  # refreshed first
    assert ecr.calls() == 1
    assert valid_entry_at(the_entry(marked)).issued_at > old.issued_at
    assert not refreshers(marked)


@pytest.mark.slow
@pytest.mark.parametrize("n", [16, 64])
def test_a_throttled_brownout_with_a_usable_token(marked: Helper, ecr: StandIn, n: int) -> None:
    """Every pull is answered from the cache without waiting; the host makes one refresh
    attempt (with its retries, each slower than any pull) and then backs off."""
    env = seed_due_token(marked, ecr, ECRPY_TIMEOUT="8s")
    cached = valid_entry_at(the_entry(marked)).secret
    ecr.config(delay=2.5)
    ecr.fault("ThrottlingException", times=ALWAYS, message="Rate exceeded")
    results = finish(marked, spawn_gets(marked, n, env))
    assert all(r.returncode == 0 for r in results), [r.stdout for r in results][:3]
    assert {json.loads(r.stdout)["Secret"] for r in results} == {cached}
    slowest = max(r.seconds for r in results)
    assert slowest < 2.5, f"the slowest pull waited {slowest:.1f}s: on AWS?"
    wait_until(lambda: bool(failure_records(marked.cache_dir)), 15, "the failed refresh")
    wait_until(lambda: not refreshers(marked), 15, "the refresher to end")
    attempts = ecr.calls()
    assert 1 <= attempts <= 8 // 2.5 + 1, f"{attempts} calls from one refresher?"
    (record,) = failure_records(marked.cache_dir)
    assert record.kind == "Throttled"
    assert record.retry_at - record.failed_at >= policy.LONG_BACKOFF / 2
    # During the backoff: served with a warning naming the reason, and no call at all.
    again = finish(marked, spawn_gets(marked, n, env))
    assert all(r.returncode == 0 for r in again)
    assert all("AWS throttled" in r.stderr and "using the cached token" in r.stderr for r in again)
    assert all(len(r.stderr.splitlines()) == 1 for r in again)
    assert ecr.calls() == attempts
    assert not refreshers(marked)


@pytest.mark.slow
def test_a_throttled_brownout_on_an_empty_cache(marked: Helper, ecr: StandIn) -> None:
    """16 pulls with nothing cached all fail with the throttling reason, by the deadline,
    having made together the calls of one pull: the others waited for its result."""
    ecr.config(delay=0.5)
    ecr.fault("ThrottlingException", times=ALWAYS, message="Rate exceeded")
    env = with_env(marked, ECRPY_TIMEOUT="5s")
    results = finish(marked, spawn_gets(marked, 16, env))
    assert all(r.returncode == 1 for r in results)
    assert all(r.stdout.startswith("AWS throttled ecr:GetAuthorizationToken") for r in results), [
        r.stdout for r in results
    ][:3]
    assert all(r.stdout.count("\n") == 1 for r in results)
    slowest = max(r.seconds for r in results)
    assert slowest < 5 + 1.5, f"the slowest pull took {slowest:.1f}s"
    calls = ecr.calls()
    assert calls <= 5 / 0.5, f"{calls} calls: more than one pull's"
    # And the next pull fails at once with the recorded reason, calling nobody.
    result = marked.get(env=env)
    assert result.returncode == 1
    assert "AWS throttled" in result.stdout and "next attempt in" in result.stdout
    assert ecr.calls() == calls


# -- failures are shared, and backed off ---------------------------------------------------


def test_a_failure_is_recorded_and_shared(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("AccessDeniedException", times=ALWAYS, message="not authorized")
    first = helper.get()
    assert first.returncode == 1 and first.stdout.startswith("access denied")
    (record,) = failure_records(helper.cache_dir)
    assert (record.host, record.kind, record.count) == (HOST, "AccessDenied", 1)
    assert record.message == first.stdout.strip()
    # Something the user fixes: a backoff of seconds, not minutes.
    assert 0 < record.retry_at - record.failed_at <= policy.SHORT_BACKOFF
    second = helper.get()
    assert second.returncode == 1
    assert second.stdout.startswith(first.stdout.strip() + " (failed ")
    assert ecr.calls() == 1  # the second get took the recorded failure
    path = next(helper.cache_dir.glob("*" + cache.FAILURE_SUFFIX))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_backoff_ends_and_grows(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("AccessDeniedException", times=ALWAYS, message="not authorized")
    helper.get()
    (record,) = failure_records(helper.cache_dir)
    end_backoffs(helper.cache_dir)
    helper.get()  # the backoff ended: AWS is asked again
    assert ecr.calls() == 2
    (record,) = failure_records(helper.cache_dir)
    assert record.count == 2


@pytest.mark.parametrize("how", ["success", "erase", "new identity"])
def test_a_failure_is_cleared_by(helper: Helper, ecr: StandIn, how: str) -> None:
    ecr.fault("AccessDeniedException", times=1, message="not authorized")
    assert helper.get().returncode == 1
    assert failure_records(helper.cache_dir)
    env = helper.env
    if how == "success":
        end_backoffs(helper.cache_dir)
    elif how == "erase":  # docker logout
        assert helper.run("erase", stdin=HOST).returncode == 0
        assert not failure_records(helper.cache_dir)
    else:
        env = with_env(helper, AWS_ACCESS_KEY_ID="AKIDEXAMPLEOTHERK005")
    assert helper.answer(env=env)["Secret"] == ecr.password  # at once: no backoff waited
    assert ecr.calls() == 2
    if how != "new identity":
        assert not failure_records(helper.cache_dir)


def test_a_throttling_failure_backs_off_for_long(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("ThrottlingException", times=ALWAYS, message="Rate exceeded")
    helper.get(env=with_env(helper, ECRPY_TIMEOUT="2s"))
    (record,) = failure_records(helper.cache_dir)
    assert record.kind == "Throttled"
    delay = record.retry_at - record.failed_at
    assert policy.LONG_BACKOFF / 2 <= delay <= policy.LONG_BACKOFF


def test_a_public_registry_failure_in_backoff_still_pulls_anonymously(
    helper: Helper, ecr: StandIn
) -> None:
    ecr.fault("ThrottlingException", action="GetAuthorizationToken", times=ALWAYS)
    env = with_env(helper, ECRPY_TIMEOUT="2s")
    for _ in range(2):  # the first fails for real, the second on the recorded failure
        result = helper.get("public.ecr.aws", env=env)
        assert (result.returncode, result.stdout.strip()) == (
            1,
            "credentials not found in native keychain",
        )
        assert "pulling anonymously" in result.stderr


# -- one deadline for the whole get --------------------------------------------------------


@pytest.mark.slow
def test_a_trickling_endpoint_ends_at_the_deadline(marked: Helper, ecr: StandIn) -> None:
    ecr.fault(trickle=1.0, times=ALWAYS)
    started = time.monotonic()
    result = marked.get(env=with_env(marked, ECRPY_TIMEOUT="4s"))
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stdout.startswith("timed out after 4s calling ecr:GetAuthorizationToken at ")
    assert "ECRPY_TIMEOUT" in result.stdout
    assert elapsed < 4 + 1.5, f"took {elapsed:.1f}s"
    assert not refreshers(marked), "the AWS worker outlived the get"


@pytest.mark.slow
def test_a_hanging_credential_process_is_ended(marked: Helper, home: Path) -> None:
    pid_file = home / "credential-process.pid"
    script = home / "stuck-vault"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 600\n")
    script.chmod(0o755)
    (home / ".aws" / "config").write_text(f"[profile vault]\ncredential_process = {script}\n")
    env = with_env(
        marked,
        AWS_PROFILE="vault",
        AWS_ACCESS_KEY_ID=None,
        AWS_SECRET_ACCESS_KEY=None,
        ECRPY_TIMEOUT="3s",
    )
    started = time.monotonic()
    result = marked.get(env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stdout.startswith(
        "timed out after 3s resolving AWS credentials (profile 'vault')"
    )
    assert elapsed < 3 + 1.5, f"took {elapsed:.1f}s"
    stuck = int(pid_file.read_text())
    wait_until(lambda: not Path(f"/proc/{stuck}").exists(), 5, "the credential_process to end")


def silent_server() -> tuple[socket.socket, threading.Event]:
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
        for connection in held:
            connection.close()

    threading.Thread(target=accept, daemon=True).start()
    return server, stop


@pytest.mark.slow
@pytest.mark.parametrize("source", ["instance metadata", "container endpoint"])
def test_a_silent_credential_endpoint_ends_by_the_deadline(marked: Helper, source: str) -> None:
    server, stop = silent_server()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    try:
        changes: dict[str, str | None] = {
            "AWS_ACCESS_KEY_ID": None,
            "AWS_SECRET_ACCESS_KEY": None,
            "ECRPY_TIMEOUT": "4s",
        }
        if source == "instance metadata":
            changes.update(AWS_EC2_METADATA_DISABLED=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=url)
        else:
            changes["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = url + "/credentials"
        started = time.monotonic()
        result = marked.get(env=with_env(marked, **changes))
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        server.close()
    assert result.returncode == 1
    assert result.stdout.count("\n") == 1
    if source == "instance metadata":  # botocore's own short metadata timeouts end it first
        assert result.stdout.startswith("no AWS credentials found"), result.stdout
    else:
        assert result.stdout.startswith(
            "timed out after 4s resolving AWS credentials (the default credential chain)"
        ), result.stdout
    assert elapsed < 4 + 1.5, f"took {elapsed:.1f}s"


def test_waiting_for_a_hung_refresh_ends_at_the_deadline(helper: Helper, ecr: StandIn) -> None:
    holder = hold_lock(helper)
    try:
        started = time.monotonic()
        result = helper.get(env=with_env(helper, ECRPY_TIMEOUT="2s"))
        elapsed = time.monotonic() - started
    finally:
        kill(holder)
    assert result.returncode == 1
    assert result.stdout.startswith("timed out after 2s waiting for another process's refresh")
    assert elapsed < 2 + 1.5
    assert ecr.calls() == 0  # it never added a call of its own


@pytest.mark.slow
def test_a_spread_first_call_stays_within_the_deadline(helper: Helper, ecr: StandIn) -> None:
    env = with_env(helper, ECRPY_SPREAD="2s", ECRPY_TIMEOUT="4s")  # the longest it holds
    results = finish(helper, spawn_gets(helper, 8, env))
    assert all(r.returncode == 0 for r in results), [r.stdout for r in results][:2]
    assert max(r.seconds for r in results) < 4 + 1.5
    assert ecr.calls() == 1  # the waiting host still makes one call


# -- nothing the helper reads can stall it ------------------------------------------------


@pytest.mark.parametrize(
    "which", ["aws config", "aws credentials", "ECRPY_CONFIG", "failure record", "entry"]
)
def test_a_fifo_in_place_of_a_file_does_not_hang(
    helper: Helper, ecr: StandIn, home: Path, which: str
) -> None:
    helper.answer()  # a cached token, and the cache directory
    env = with_env(helper, ECRPY_TIMEOUT="3s")
    if which == "aws config":
        fifo = home / ".aws" / "config"
    elif which == "aws credentials":
        fifo = home / ".aws" / "credentials"
    elif which == "ECRPY_CONFIG":
        fifo = home / "config.toml"
        env["ECRPY_CONFIG"] = str(fifo)
    elif which == "failure record":
        fifo = the_entry(helper).with_suffix(cache.FAILURE_SUFFIX)
    else:
        fifo = the_entry(helper)
        fifo.unlink()
    os.mkfifo(fifo, 0o600)
    started = time.monotonic()
    result = helper.get(env=env, timeout=30)
    assert time.monotonic() - started < 3 + 1.5
    if which.startswith("aws"):
        # The identity changed (the file is another thing now), so a fetch, for which
        # botocore skips the FIFO as we do; the user hears about the odd file.
        assert f"{fifo} is a FIFO, not a regular file; ignoring it" in result.stderr
        assert result.returncode == 0, result.stdout
    elif which == "ECRPY_CONFIG":
        assert result.returncode == 1
        assert result.stdout.strip() == f"configuration file {fifo} is a FIFO, not a regular file"
    else:
        assert result.returncode == 0, result.stdout


# -- kill -9 of the background refresher ---------------------------------------------------


@pytest.mark.slow
def test_killing_the_background_refresher_at_random_instants(marked: Helper, ecr: StandIn) -> None:
    env = seed_due_token(marked, ecr)
    ecr.config(delay=0.4)
    rng = random.Random(20261201)  # noqa: S311 - reproducible instants
    kills = 0
    for _ in range(20):
        result = marked.get(env=env)
        assert result.returncode == 0, result.stdout
        time.sleep(rng.uniform(0, 0.6))
        for pid in refreshers(marked):
            try:
                os.kill(pid, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
        for path in token_files(marked.cache_dir):
            valid_entry_at(path)  # never torn, never empty
        for path in marked.cache_dir.glob("*" + cache.FAILURE_SUFFIX):
            assert cache.decode_failure(path.read_bytes()) is not None
    assert kills > 0
    wait_until(lambda: not refreshers(marked), 10, "the last refresher")
    ecr.config(delay=0.0)
    answer = marked.answer(env=env)
    assert answer["Secret"] == ecr.password
    (path,) = token_files(marked.cache_dir)
    valid_entry_at(path)
    wait_until(lambda: not refreshers(marked), 10, "the refresh this get started")


# -- smaller defects -------------------------------------------------------------------------


def test_an_entry_for_another_host_is_a_miss(helper: Helper, ecr: StandIn) -> None:
    helper.answer(HOST2)
    (other,) = token_files(helper.cache_dir)
    foreign = valid_entry_at(other)
    helper.answer(HOST)
    mine = next(p for p in token_files(helper.cache_dir) if p != other)
    # HOST's key now holds HOST2's token (a copied or renamed file): not served for HOST.
    data = cache.encode(
        cache.Entry(
            foreign.scope,
            HOST2,
            "AWS",
            "not-for-this-host",
            foreign.issued_at,
            foreign.expires_at,
            foreign.fingerprint,
        )
    )
    mine.write_bytes(data)
    assert helper.answer(HOST)["Secret"] == ecr.password
    assert ecr.calls() == 3


def test_stale_lock_files_are_pruned(helper: Helper, ecr: StandIn) -> None:
    helper.answer()
    directory = helper.cache_dir
    old = time.time() - 2 * cache.STALE_RECORD_AGE
    stale = directory / ("a" * 32 + cache.LOCK_SUFFIX)
    recent = directory / ("b" * 32 + cache.LOCK_SUFFIX)
    for path in (stale, recent):
        path.touch(0o600)
    os.utime(stale, (old, old))
    mine = the_entry(helper).with_suffix(cache.LOCK_SUFFIX)
    assert mine.exists()
    os.utime(mine, (old, old))  # old, but its identity is in use: it has a token
    helper.answer(HOST2)  # a write prunes
    assert not stale.exists()
    assert recent.exists()
    assert mine.exists()


def test_a_refresh_window_as_long_as_a_token_is_refused(helper: Helper, ecr: StandIn) -> None:
    result = helper.get(env=with_env(helper, ECRPY_REFRESH_WINDOW="13h"))
    assert result.returncode == 1
    assert result.stdout.startswith("ECRPY_REFRESH_WINDOW=13h is not shorter than the 12h")
    assert ecr.calls() == 0
