"""The token cache, through the installed executable and the ECR API stand-in.

Every claim of the cache is checked where it matters: API calls are counted at the
stand-in's HTTP server, files are inspected on disk, processes are really concurrent and
really killed. Secrets are compared, never printed: assertion messages carry counts and
names only.
"""

from __future__ import annotations

import json
import os
import random
import socket
import stat
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from docker_credential_ecrpy import cache
from tests.support.constants import ACCESS_KEY_ID, ACCOUNT, HOST, HOST2, SECRET_ACCESS_KEY
from tests.support.helper import Helper, base_env
from tests.support.standin import StandIn
from tests.support.toolkit import (
    age_entry,
    collect,
    feed,
    finish,
    hold_lock,
    kill,
    run_as_nobody,
    skip_unless_nobody_can_run,
    spawn_gets,
    the_entry,
    token_files,
    valid_entry_at,
    with_env,
)

HOST3 = "210987654321.dkr.ecr.ap-southeast-2.amazonaws.com"
GAT = "ecr:GetAuthorizationToken"
WITHOUT_CACHE = "working without the cache"
LOCK_WARNING = "could not take the refresh lock"


# -- helpers -------------------------------------------------------------------------------


def _masked_repr(self: subprocess.CompletedProcess[Any]) -> str:
    out = self.stdout or ""
    return (
        f"CompletedProcess(args={self.args!r}, returncode={self.returncode}, "
        f"stdout=<{len(out)} characters, not shown>, stderr={self.stderr!r})"
    )


@pytest.fixture(autouse=True)
def _no_secrets_in_assertion_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest shows the objects in a failing assertion; a get's stdout holds the token."""
    monkeypatch.setattr(subprocess.CompletedProcess, "__repr__", _masked_repr)


def secret_of(answer: Mapping[str, str]) -> str:
    return answer["Secret"]


def warnings_in(stderr: str, marker: str) -> int:
    return sum(marker in line for line in stderr.splitlines())


# -- hits, misses, files -------------------------------------------------------------------


def test_a_hit_after_a_miss_makes_one_api_call(helper: Helper, ecr: StandIn) -> None:
    first = helper.answer()
    assert ecr.calls() == 1
    for _ in range(3):
        again = helper.answer()
        same = secret_of(again) == secret_of(first) == ecr.password
        assert same, "a hit served a different token"
    assert ecr.calls() == 1
    assert ecr.calls("sts:GetCallerIdentity") == 0  # a hit never resolves the identity


def test_files_are_private(helper: Helper) -> None:
    helper.answer()
    helper.answer(HOST2)
    info = helper.cache_dir.lstat()
    assert stat.S_ISDIR(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o700
    names = sorted(p.name for p in helper.cache_dir.iterdir())
    assert len(token_files(helper.cache_dir)) == 2, names
    for path in helper.cache_dir.iterdir():
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == 0o600, f"{path.name} has mode {mode:o}"
        assert path.lstat().st_uid == os.geteuid()


def test_no_cache_file_holds_the_aws_keys(helper: Helper, home: Path) -> None:
    credentials = home / ".aws" / "credentials"
    credentials.write_text(
        "[dev]\naws_access_key_id = AKIDEXAMPLEPROFILE02\n"
        "aws_secret_access_key = profileSECRETkeyEXAMPLEvalue0000000000\n"
    )
    helper.answer()
    helper.answer(
        env=with_env(helper, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_PROFILE="dev")
    )
    helper.answer(HOST2)
    assert len(token_files(helper.cache_dir)) == 3
    forbidden = [
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        "AKIDEXAMPLEPROFILE02",
        "profileSECRETkeyEXAMPLEvalue0000000000",
    ]
    for path in helper.cache_dir.iterdir():
        data = path.read_bytes()
        for value in forbidden:
            for form in (value, value.lower(), value[:12]):
                assert form.encode() not in data, f"{path.name} holds an AWS key"
                assert form.lower() not in path.name.lower(), "a file name holds an AWS key"


def test_disable_cache_calls_the_api_every_time(helper: Helper, ecr: StandIn) -> None:
    env = with_env(helper, AWS_ECR_DISABLE_CACHE="1")
    for expected in (1, 2, 3):
        helper.answer(env=env)
        assert ecr.calls() == expected
    assert not helper.cache_dir.exists()
    result = helper.run("list", stdin="unused", env=env)
    assert (result.returncode, json.loads(result.stdout)) == (0, {})


# -- corrupt entries -----------------------------------------------------------------------


def _corrupt(kind: str, path: Path, valid: bytes) -> None:  # noqa: PLR0912 - one per kind
    path.unlink()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(random.Random(7).randbytes(300))  # noqa: S311
    elif kind == "wrong-format-tag":
        path.write_bytes(valid.replace(cache.FORMAT.encode(), b"ecrpy-token 0"))
    elif kind == "json":
        path.write_bytes(b'{"host": "x", "user": "AWS", "secret": "y"}\n')
    elif kind == "huge":
        with path.open("wb") as file:
            file.write(valid)
            file.truncate(256 * 1024 * 1024)  # sparse: 256 MiB that must not be read
    elif kind == "nul-bytes":
        path.write_bytes(b"\0" * len(valid))
    elif kind == "nul-in-secret":
        at = valid.index(b"\nsecret ") + 12
        path.write_bytes(valid[:at] + b"\0" + valid[at + 1 :])
    elif kind == "directory":
        path.mkdir()
    elif kind == "directory-with-files":
        path.mkdir()
        (path / "inner").write_bytes(valid)
    elif kind == "symlink":
        # to a valid entry elsewhere: a planted link must not be followed
        target = path.parent.parent / "planted.token"
        target.write_bytes(valid)
        target.chmod(0o600)
        path.symlink_to(target)
    elif kind == "dangling-symlink":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "mode-0644":
        path.write_bytes(valid)
        path.chmod(0o644)
    elif kind == "owned-by-nobody":
        path.write_bytes(valid)
        path.chmod(0o600)
        os.chown(path, 65534, 65534)
    else:  # pragma: no cover
        raise AssertionError(kind)
    if path.is_file() and not path.is_symlink() and kind not in ("mode-0644", "owned-by-nobody"):
        path.chmod(0o600)


CORRUPTIONS = [
    "empty",
    "garbage",
    "wrong-format-tag",
    "json",
    "huge",
    "nul-bytes",
    "nul-in-secret",
    "directory",
    "directory-with-files",
    "symlink",
    "dangling-symlink",
    "fifo",
    "mode-0644",
    "owned-by-nobody",
]


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_a_corrupt_entry_is_a_miss_and_is_replaced(helper: Helper, ecr: StandIn, kind: str) -> None:
    helper.answer()
    path = the_entry(helper)
    valid = path.read_bytes()
    _corrupt(kind, path, valid)
    result = helper.get(timeout=30)  # a FIFO that blocked the reader would time out here
    assert result.returncode == 0, result.stdout
    assert WITHOUT_CACHE not in result.stderr, result.stderr
    assert ecr.calls() == 2  # the corrupt entry was a miss
    entry = valid_entry_at(path)
    assert entry.host == HOST
    helper.answer()
    assert ecr.calls() == 2  # and what replaced it is a hit
    if kind == "symlink":
        assert (path.parent.parent / "planted.token").read_bytes() == valid


@pytest.mark.slow
def test_every_truncation_is_a_miss(helper: Helper, ecr: StandIn) -> None:
    """Each prefix of a valid entry, in place of the entry, through the real executable;
    four cache directories at a time, since each miss costs a whole botocore start."""
    helper.answer()
    valid = the_entry(helper).read_bytes()
    name = the_entry(helper).name
    assert len(valid) > 100
    dirs = []
    for size in range(len(valid)):
        directory = helper.cache_dir.parent / f"cache-{size}"
        directory.mkdir(mode=0o700)
        (directory / name).write_bytes(valid[:size])
        (directory / name).chmod(0o600)
        dirs.append(directory)
    failures = []
    for start in range(0, len(dirs), 4):
        batch = dirs[start : start + 4]
        processes = [
            spawn_gets(helper, 1, env=with_env(helper, AWS_ECR_CACHE_DIR=str(d)))[0] for d in batch
        ]
        for directory, result in zip(batch, finish(helper, processes), strict=True):
            replaced = cache.decode((directory / name).read_bytes()) is not None
            if result.returncode != 0 or result.stderr or not replaced:
                failures.append(directory.name)
    assert not failures, f"truncated entries not replaced: {failures}"
    assert ecr.calls() == 1 + len(valid)


# -- hostile and unusable directories ------------------------------------------------------


def rotate_password(helper: Helper, ecr: StandIn) -> None:
    """From now on the API hands out a new token, so a cached one can be told apart."""
    helper.secret = "rotated-" + ecr.password
    ecr.control("config", {"password": helper.secret})


def assert_works_without_cache(helper: Helper, ecr: StandIn, env: Mapping[str, str]) -> None:
    """Two gets succeed with a token from the API (not a cached one: the test rotated the
    API's token), each calls the API, and each says once that it has no cache."""
    before = ecr.calls()
    for n in (1, 2):
        result = helper.get(env=env)
        assert result.returncode == 0, result.stdout
        fresh = json.loads(result.stdout)["Secret"] == helper.secret
        assert fresh, "served a token that did not come from the API"
        assert warnings_in(result.stderr, WITHOUT_CACHE) == 1, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert ecr.calls() == before + n


def snapshot(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    return {
        p.name: (p.lstat().st_mode, p.lstat().st_mtime_ns, p.read_bytes() if p.is_file() else b"")
        for p in directory.iterdir()
    }


def test_a_symlinked_cache_dir_is_refused(helper: Helper, ecr: StandIn, home: Path) -> None:
    real = home / "real-cache"
    env = with_env(helper, AWS_ECR_CACHE_DIR=str(real))
    helper.answer(env=env)  # a valid, private directory with a valid entry
    rotate_password(helper, ecr)
    before = snapshot(real)
    link = home / "link-cache"
    link.symlink_to(real)
    assert_works_without_cache(helper, ecr, with_env(helper, AWS_ECR_CACHE_DIR=str(link)))
    assert snapshot(real) == before


@pytest.mark.parametrize("mode", [0o755, 0o777, 0o770, 0o701, 0o1777])
def test_a_cache_dir_open_to_others_is_refused(helper: Helper, ecr: StandIn, mode: int) -> None:
    helper.answer()  # seed a valid entry; then someone could have replaced it
    rotate_password(helper, ecr)
    helper.cache_dir.chmod(mode)
    before = snapshot(helper.cache_dir)
    assert_works_without_cache(helper, ecr, helper.env)
    assert snapshot(helper.cache_dir) == before
    assert stat.S_IMODE(helper.cache_dir.lstat().st_mode) == mode  # not "fixed" behind our back


def test_a_cache_dir_owned_by_someone_else_is_refused(helper: Helper, ecr: StandIn) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    helper.answer()
    rotate_password(helper, ecr)
    os.chown(helper.cache_dir, 65534, 65534)
    before = snapshot(helper.cache_dir)
    assert_works_without_cache(helper, ecr, helper.env)
    assert snapshot(helper.cache_dir) == before


def test_a_file_in_place_of_the_cache_dir(helper: Helper, ecr: StandIn) -> None:
    helper.cache_dir.write_bytes(b"not a directory\n")
    assert_works_without_cache(helper, ecr, helper.env)
    assert helper.cache_dir.read_bytes() == b"not a directory\n"


def test_a_cache_dir_under_a_file(helper: Helper, ecr: StandIn, home: Path) -> None:
    (home / "plain").write_bytes(b"x")
    assert_works_without_cache(
        helper, ecr, with_env(helper, AWS_ECR_CACHE_DIR=str(home / "plain" / "cache"))
    )


def test_an_unwritable_parent_as_an_unprivileged_user(
    helper: Helper, ecr: StandIn, nobody_home: Path
) -> None:
    skip_unless_nobody_can_run(helper)
    locked = nobody_home / "root-owned"  # 0755 root: nobody may not create in it
    locked.mkdir(mode=0o755)
    env = base_env(nobody_home / "home", ecr)
    env["AWS_ECR_CACHE_DIR"] = str(locked / "cache")
    assert_works_as_nobody = []
    for _ in range(2):
        result = run_as_nobody(helper, env)
        assert result.returncode == 0, result.stdout
        fresh = json.loads(result.stdout)["Secret"] == ecr.password
        assert fresh, "not the API's token"
        assert warnings_in(result.stderr, WITHOUT_CACHE) == 1, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert_works_as_nobody.append(result)
    assert ecr.calls() == 2
    assert list(locked.iterdir()) == []
    # The default location (HOME's ~/.cache) works for the same user.
    env.pop("AWS_ECR_CACHE_DIR")
    for _ in range(2):
        result = run_as_nobody(helper, env)
        assert result.returncode == 0, result.stdout
        assert result.stderr == ""
    assert ecr.calls() == 3
    made = nobody_home / "home" / ".cache" / "docker-credential-ecrpy"
    assert made.lstat().st_uid == 65534
    assert stat.S_IMODE(made.lstat().st_mode) == 0o700


def test_a_read_only_cache_dir_as_an_unprivileged_user(
    helper: Helper, ecr: StandIn, nobody_home: Path
) -> None:
    """Private and ours, but not writable: no lock, no entry; one line says so (and not
    that another process holds the lock)."""
    skip_unless_nobody_can_run(helper)
    cache_dir = nobody_home / "home" / "cache"
    cache_dir.mkdir(mode=0o500)
    os.chown(cache_dir, 65534, 65534)
    env = base_env(nobody_home / "home", ecr)
    env["AWS_ECR_CACHE_DIR"] = str(cache_dir)
    for n in (1, 2):
        result = run_as_nobody(helper, env)
        assert result.returncode == 0, result.stdout
        assert warnings_in(result.stderr, WITHOUT_CACHE) == 1, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert LOCK_WARNING not in result.stderr
        assert ecr.calls() == n
    assert list(cache_dir.iterdir()) == []


# -- identity ------------------------------------------------------------------------------

PROFILES = """\
[dev]
aws_access_key_id = AKIDEXAMPLEDEVKEY003
aws_secret_access_key = devSECRETkeyEXAMPLEvalue00000000000000

[prod]
aws_access_key_id = AKIDEXAMPLEPRODKEY04
aws_secret_access_key = prodSECRETkeyEXAMPLEvalue0000000000000
"""


def test_new_access_keys_mean_a_new_token(helper: Helper, ecr: StandIn) -> None:
    helper.answer()
    helper.answer()
    assert ecr.calls() == 1  # unchanged identity: no call
    other = with_env(helper, AWS_ACCESS_KEY_ID="AKIDEXAMPLEOTHERK005")
    helper.answer(env=other)
    assert ecr.calls() == 2
    helper.answer(env=other)
    assert ecr.calls() == 2
    helper.answer(env=with_env(helper, AWS_SECRET_ACCESS_KEY="another" + SECRET_ACCESS_KEY))
    assert ecr.calls() == 3
    helper.answer(env=with_env(helper, AWS_SESSION_TOKEN="session-token-value"))
    assert ecr.calls() == 4
    helper.answer()  # the first identity's token is still cached
    assert ecr.calls() == 4


def test_profiles_and_edited_credentials(helper: Helper, ecr: StandIn, home: Path) -> None:
    credentials = home / ".aws" / "credentials"
    credentials.write_text(PROFILES)
    dev = with_env(helper, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_PROFILE="dev")
    prod = dict(dev, AWS_PROFILE="prod")
    helper.answer(env=dev)
    helper.answer(env=dev)
    assert ecr.calls() == 1
    helper.answer(env=prod)
    assert ecr.calls() == 2
    helper.answer(env=dev)
    helper.answer(env=prod)
    assert ecr.calls() == 2
    # Touched but unchanged: the same identity.
    os.utime(credentials, (time.time() + 5, time.time() + 5))
    helper.answer(env=dev)
    assert ecr.calls() == 2
    # Edited: a rotated key for dev is a new identity, for every profile in the file.
    credentials.write_text(PROFILES.replace("devSECRETkey", "devROTATEDkey"))
    helper.answer(env=dev)
    assert ecr.calls() == 3
    helper.answer(env=dev)
    assert ecr.calls() == 3
    # The config file counts too: a role added to the profile.
    config = home / ".aws" / "config"
    config.write_text("[profile dev]\nregion = us-east-1\n")
    helper.answer(env=dev)
    assert ecr.calls() == 4
    # AWS_DEFAULT_PROFILE and a different credentials file path are identities too.
    helper.answer(env=dict(dev, AWS_DEFAULT_PROFILE="prod"))
    assert ecr.calls() == 5
    moved = home / "elsewhere-credentials"
    moved.write_text(credentials.read_text())
    helper.answer(env=dict(dev, AWS_SHARED_CREDENTIALS_FILE=str(moved)))
    assert ecr.calls() == 6


# -- freshness and failures ----------------------------------------------------------------


def test_the_default_window_keeps_a_fresh_token(helper: Helper, ecr: StandIn) -> None:
    ecr.control("config", {"ttl": 3600})
    helper.answer()
    helper.answer()
    assert ecr.calls() == 1
    entry = valid_entry_at(the_entry(helper))
    assert 3500 < entry.expires_at - entry.issued_at <= 3600


def test_a_token_inside_the_refresh_window_is_refreshed(helper: Helper, ecr: StandIn) -> None:
    """Refreshed before answering, as ECRPY_BACKGROUND_REFRESH=off asks (see
    test_weather.py for the default, a refresh behind the answer)."""
    ecr.control("config", {"ttl": 3600})
    env = with_env(helper, ECRPY_REFRESH_WINDOW="2h", ECRPY_BACKGROUND_REFRESH="off")
    helper.answer(env=env)
    assert ecr.calls() == 1
    first = valid_entry_at(the_entry(helper))
    helper.answer(env=env)
    assert ecr.calls() == 2
    second = valid_entry_at(the_entry(helper))
    assert second.issued_at > first.issued_at
    helper.answer(env=with_env(helper, ECRPY_REFRESH_WINDOW="30m", ECRPY_BACKGROUND_REFRESH="off"))
    assert ecr.calls() == 2


def test_a_due_but_valid_token_is_served_when_the_refresh_fails(
    helper: Helper, ecr: StandIn
) -> None:
    ecr.control("config", {"ttl": 3600})
    env = with_env(
        helper,
        ECRPY_REFRESH_WINDOW="2h",
        ECRPY_MIN_VALIDITY="10m",
        ECRPY_BACKGROUND_REFRESH="off",
        ECRPY_TIMEOUT="3s",
    )
    cached = helper.answer(env=env)
    ecr.control("config", {"password": "rotated-" + ecr.password})
    ecr.fault("ThrottlingException", times=100, message="Rate exceeded")
    result = helper.get(env=env)
    assert result.returncode == 0, result.stdout
    same = secret_of(json.loads(result.stdout)) == secret_of(cached)
    assert same, "not the cached token"
    assert ecr.calls() >= 3  # the refresh was tried, with retries
    assert warnings_in(result.stderr, "warning: refreshing the token") == 1, result.stderr
    assert "using the cached token" in result.stderr


def test_a_stale_token_below_the_minimum_validity_is_not_served(
    helper: Helper, ecr: StandIn
) -> None:
    ecr.control("config", {"ttl": 3600})
    env = with_env(helper, ECRPY_REFRESH_WINDOW="2h", ECRPY_MIN_VALIDITY="2h", ECRPY_TIMEOUT="3s")
    helper.answer(env=env)
    ecr.fault("ThrottlingException", times=100, message="Rate exceeded")
    result = helper.get(env=env)
    assert result.returncode == 1
    assert "throttled" in result.stdout.lower()
    assert len(result.stdout.splitlines()) == 1


def test_an_expired_token_is_never_served(helper: Helper, ecr: StandIn) -> None:
    ecr.control("config", {"ttl": 2})
    env = with_env(helper, ECRPY_MIN_VALIDITY="1s", ECRPY_TIMEOUT="3s")
    helper.answer(env=env)
    expires = valid_entry_at(the_entry(helper)).expires_at
    age_entry(the_entry(helper), expires - time.time() + 1)  # expired a second ago
    ecr.fault("ThrottlingException", times=100, message="Rate exceeded")
    result = helper.get(env=env)
    assert result.returncode == 1
    assert "throttled" in result.stdout.lower()
    assert "warning" not in result.stderr


def test_a_token_expired_when_issued_is_an_error(helper: Helper, ecr: StandIn) -> None:
    ecr.control("config", {"ttl": -60})
    result = helper.get()
    assert result.returncode == 1
    assert "that expired at " in result.stdout and "clock" in result.stdout
    assert not helper.cache_dir.exists() or not token_files(helper.cache_dir)


# -- single flight -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("n", "delay"), [(32, 0.0), (64, 0.0), (32, 2.0), (64, 2.0)])
def test_concurrent_gets_make_one_api_call(
    helper: Helper, ecr: StandIn, n: int, delay: float
) -> None:
    ecr.control("config", {"delay": delay})
    results = finish(helper, spawn_gets(helper, n))
    failed = [r.stdout.strip() for r in results if r.returncode != 0]
    assert not failed, failed[:3]
    secrets_seen = {json.loads(r.stdout)["Secret"] for r in results}
    all_fresh = secrets_seen == {ecr.password}
    assert all_fresh, f"{len(secrets_seen)} different secrets"
    assert ecr.calls() == 1
    assert not any(LOCK_WARNING in r.stderr for r in results)
    assert len(token_files(helper.cache_dir)) == 1


@pytest.mark.slow
def test_different_registries_refresh_in_parallel(helper: Helper, ecr: StandIn) -> None:
    ecr.control("config", {"delay": 1.0})
    first = spawn_gets(helper, 16)
    second = spawn_gets(helper, 16)
    feed(first, HOST)
    feed(second, HOST2)
    results = collect(helper, first) + collect(helper, second)
    assert all(r.returncode == 0 for r in results)
    assert ecr.calls() == 2  # one per registry
    assert {valid_entry_at(p).host for p in token_files(helper.cache_dir)} == {HOST, HOST2}


def test_one_registrys_lock_does_not_hold_up_another(helper: Helper, ecr: StandIn) -> None:
    holder = hold_lock(helper, HOST)
    try:
        result = helper.get(HOST2, env=with_env(helper, ECRPY_LOCK_TIMEOUT="10m"), timeout=60)
        assert result.returncode == 0, result.stdout
        assert LOCK_WARNING not in result.stderr
    finally:
        kill(holder)


def test_the_lock_of_a_killed_holder_is_released(helper: Helper, ecr: StandIn) -> None:
    holder = hold_lock(helper)
    kill(holder)
    # A waiter that did not get the lock would wait ten minutes, then warn; it does neither.
    result = helper.get(env=with_env(helper, ECRPY_LOCK_TIMEOUT="10m"), timeout=60)
    assert result.returncode == 0, result.stdout
    assert LOCK_WARNING not in result.stderr
    assert ecr.calls() == 1


def test_a_hung_holder_is_waited_for_a_bounded_time(helper: Helper, ecr: StandIn) -> None:
    holder = hold_lock(helper)
    try:
        result = helper.get(env=with_env(helper, ECRPY_LOCK_TIMEOUT="2s"), timeout=60)
        assert result.returncode == 0, result.stdout
        assert warnings_in(result.stderr, LOCK_WARNING) == 1, result.stderr
        assert "2s" in result.stderr
        assert ecr.calls() == 1  # it fetched the token itself
        valid_entry_at(the_entry(helper))  # and kept it
        assert holder.poll() is None  # the holder was never disturbed
    finally:
        kill(holder)


def test_a_hit_needs_no_lock(helper: Helper, ecr: StandIn) -> None:
    helper.answer()
    holder = hold_lock(helper)
    try:
        result = helper.get(env=with_env(helper, ECRPY_LOCK_TIMEOUT="10m"), timeout=60)
        assert result.returncode == 0
        assert result.stderr == ""
        assert ecr.calls() == 1
    finally:
        kill(holder)


# -- erase, list, prune --------------------------------------------------------------------


def offline_env(helper: Helper) -> dict[str, str]:
    env = with_env(
        helper,
        AWS_ENDPOINT_URL_ECR=None,
        AWS_ENDPOINT_URL_ECR_PUBLIC=None,
        AWS_ENDPOINT_URL_STS=None,
        AWS_ACCESS_KEY_ID=None,
        AWS_SECRET_ACCESS_KEY=None,
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"  # closed: any call would fail
    return env


def test_one_token_per_identity_and_region(helper: Helper, ecr: StandIn) -> None:
    """ECR's token is good for every registry of the region the identity may access: a
    host pulling from three accounts' registries in one region makes one call."""
    hosts = [
        f"{account}.dkr.ecr.us-east-1.amazonaws.com"
        for account in (ACCOUNT, "210987654321", "111122223333")
    ]
    secrets = {helper.answer(host)["Secret"] for host in hosts}
    assert secrets == {ecr.password}
    assert ecr.calls() == 1
    assert len(token_files(helper.cache_dir)) == 1
    # Another region, a FIPS endpoint and ECR Public each need a token of their own.
    helper.answer(f"{ACCOUNT}.dkr.ecr-fips.us-east-1.amazonaws.com")
    helper.answer(HOST2)
    helper.answer("public.ecr.aws")
    assert ecr.calls() == 3
    assert ecr.calls("ecr-public:GetAuthorizationToken") == 1
    assert len(token_files(helper.cache_dir)) == 4
    # Logging out of one registry of the region drops the token they share.
    assert helper.run("erase", stdin=hosts[1]).returncode == 0
    assert len(token_files(helper.cache_dir)) == 3
    helper.answer(hosts[2])
    assert ecr.calls() == 4


def test_erase_and_list(helper: Helper, ecr: StandIn) -> None:
    helper.answer()
    helper.answer(env=with_env(helper, AWS_ACCESS_KEY_ID="AKIDEXAMPLEOTHERK005"))
    helper.answer(HOST2)
    helper.answer(HOST3)
    assert ecr.calls() == 4
    assert len(token_files(helper.cache_dir)) == 4
    offline = offline_env(helper)
    listed = helper.run("list", stdin="unused", env=offline)
    assert listed.returncode == 0
    assert json.loads(listed.stdout) == {HOST: "AWS", HOST2: "AWS", HOST3: "AWS"}
    erased = helper.run("erase", stdin=f"https://{HOST}", env=offline)
    assert (erased.returncode, erased.stdout) == (0, "")
    assert {valid_entry_at(p).host for p in token_files(helper.cache_dir)} == {HOST2, HOST3}
    listed = helper.run("list", stdin="unused", env=offline)
    assert json.loads(listed.stdout) == {HOST2: "AWS", HOST3: "AWS"}
    assert ecr.calls() == 4  # list and erase never call the API
    helper.answer()
    assert ecr.calls() == 5  # erased means the next get fetches a new token
    helper.answer(HOST2)
    assert ecr.calls() == 5


def test_list_skips_what_does_not_decode(helper: Helper) -> None:
    helper.answer()
    (helper.cache_dir / ("f" * 32 + cache.SUFFIX)).write_bytes(b"junk")
    os.mkfifo(helper.cache_dir / ("e" * 32 + cache.SUFFIX), 0o600)
    listed = helper.run("list", stdin="unused", env=offline_env(helper), timeout=30)
    assert json.loads(listed.stdout) == {HOST: "AWS"}


def test_expired_entries_are_pruned_on_the_next_write(helper: Helper, ecr: StandIn) -> None:
    helper.answer()
    kept = the_entry(helper)
    directory = helper.cache_dir
    now = time.time()

    def plant(name: str, data: bytes) -> Path:
        path = directory / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    expired = plant(
        "a" * 32 + cache.SUFFIX,
        cache.encode(
            cache.Entry(
                "ecr eu-west-1 aws", HOST2, "AWS", "old-token", now - 7200, now - 3600, "a" * 12
            )
        ),
    )
    junk = plant("b" * 32 + cache.SUFFIX, b"junk")
    old_temp = plant(".cccc.1.0000.tmp", b"half")
    os.utime(old_temp, (now - 3600, now - 3600))
    new_temp = plant(".dddd.2.0000.tmp", b"being written right now")
    lock = plant("a" * 32 + ".lock", b"")
    strange_dir = directory / ("9" * 32 + cache.SUFFIX)
    strange_dir.mkdir()
    valid_until_later = plant(
        "e" * 32 + cache.SUFFIX,
        cache.encode(
            cache.Entry(
                "ecr ap-southeast-2 aws",
                HOST3,
                "AWS",
                "other-token",
                now - 60,
                now + 3600,
                "e" * 12,
            )
        ),
    )
    helper.answer()  # a hit writes nothing, prunes nothing
    assert expired.exists() and junk.exists() and old_temp.exists()
    result = helper.get(HOST2)  # a miss writes, then prunes
    assert result.returncode == 0
    assert result.stderr == ""
    assert not expired.exists()
    assert not junk.exists()
    assert not old_temp.exists()
    assert new_temp.exists()  # may belong to a live writer
    assert lock.exists()  # locks are never removed: a waiter may hold one
    assert kept.exists() and valid_until_later.exists()
    hosts = sorted(valid_entry_at(p).host for p in token_files(directory) if p.is_file())
    assert hosts == sorted([HOST, HOST2, HOST3])


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
def test_missing_parents_are_made_private_whatever_the_umask(
    helper: Helper, home: Path, umask: int
) -> None:
    """``~/.cache`` made world-writable (umask 000) would let another user swap our
    directory out from under us; made 0500 (umask 277), we could not use it at all."""
    env = with_env(helper, AWS_ECR_CACHE_DIR=None, XDG_CACHE_HOME=None)
    done = subprocess.run(
        [helper.exe, "get"],
        input=HOST.encode(),
        capture_output=True,
        env=env,
        preexec_fn=lambda: os.umask(umask),  # the one way to set a child's umask
        timeout=60,
    )
    assert done.returncode == 0, done.stdout
    assert done.stderr == b""
    for made in (home / ".cache", home / ".cache" / "docker-credential-ecrpy"):
        mode = stat.S_IMODE(made.lstat().st_mode)
        assert mode == 0o700, f"{made} has mode {mode:04o}"


def test_the_go_helpers_cache_dir_example_is_under_home(
    helper: Helper, home: Path, ecr: StandIn
) -> None:
    """``AWS_ECR_CACHE_DIR=~/.ecr``, as the Go helper documents it: the home's ``.ecr``,
    not a directory named ``~`` in whatever directory the client runs the helper in."""
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    env = with_env(helper, AWS_ECR_CACHE_DIR="~/.ecr")
    for _ in range(2):
        done = subprocess.run(
            [helper.exe, "get"], input=HOST.encode(), capture_output=True, env=env, cwd=elsewhere
        )
        assert done.returncode == 0, done.stdout
    assert ecr.calls() == 1, "the second get was a hit"
    assert list(elsewhere.iterdir()) == []
    assert len(token_files(home / ".ecr")) == 1


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("AWS_ECR_CACHE_DIR", "tokens", "is not an absolute path"),
        ("ECRPY_BACKGROUND_REFRESH", "maybe", "is neither on nor off"),
    ],
)
def test_a_setting_that_would_surprise_is_one_line(
    helper: Helper, home: Path, ecr: StandIn, name: str, value: str, says: str
) -> None:
    result = helper.run("get", env=with_env(helper, **{name: value}), stdin=HOST)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{name}={value!r} {says}")
    assert result.stdout.count("\n") == 1
    assert ecr.calls() == 0 and not (home / value).exists()
