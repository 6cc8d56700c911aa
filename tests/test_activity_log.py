"""The activity log (``ECRPY_LOG``), through the installed executable against the stand-in:
one whole JSON line per invocation and per background refresh, even from many processes
at once; rotation at the cap losing nothing but the old rotated file; never a secret; never
a failed ``get`` because of it; and nothing at all paid for it on the hit path when it is
off.

Every other suite keeps the log too (``conftest.base_env``) and has it checked at the end
of each test (``Helper.check_log``): that is the scan for leaks under every fault they
inject. Here: what the lines say, and what happens when the log cannot be written.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from docker_credential_ecrpy import activity, keys, settings
from docker_credential_ecrpy.activity import Activity
from tests.support.standin import StandIn

from . import test_cache, test_weather
from .conftest import ACCESS_KEY_ID, HOST, Helper, base_env
from .test_cache import run_as_nobody, skip_unless_nobody_can_run
from .toolkit import (
    ALWAYS,
    collect,
    feed,
    finish,
    refreshers,
    seed_due_token,
    spawn_gets,
    wait_until,
    with_env,
)

# Fixtures of those suites, here by name: the marked helper (its forked processes found,
# none left behind) and a scratch tree for runs as ``nobody``.
marked = test_weather.marked
nobody_home = test_cache.nobody_home

HOST2 = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
WARNING = "warning: cannot write the activity log ("


def without_log(helper: Helper) -> dict[str, str]:
    return with_env(helper, ECRPY_LOG=None, ECRPY_LOG_LEVEL=None)


def identity_of(env: dict[str, str]) -> str:
    return keys.fingerprint(env)[: keys.SHORT_DIGITS]


# -- what a line says ----------------------------------------------------------------------


def test_a_fetch_then_a_hit(helper: Helper, ecr: StandIn) -> None:
    helper.answer()
    helper.answer()
    fetched, hit = helper.log_lines()
    for line in (fetched, hit):
        assert line["program"] == "docker-credential-ecrpy"
        assert (line["action"], line["registry"], line["level"]) == ("get", HOST, "info")
        assert line["identity"] == identity_of(helper.env)
        assert line["time"].endswith("Z") and line["time"][10] == "T"
        assert isinstance(line["ms"], float) and line["ms"] >= 0
        assert "error" not in line and "message" not in line
    assert (fetched["outcome"], fetched["api_calls"]) == ("fetched", 1)
    assert {"cache_read", "lock_wait", "start", "credentials", "api_call"} <= set(
        fetched["phases_ms"]
    )
    assert (hit["outcome"], hit["api_calls"]) == ("hit", 0)
    assert set(hit["phases_ms"]) == {"cache_read"}
    assert fetched["pid"] != hit["pid"]


def test_errors_carry_their_kind_and_message(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("AccessDeniedException", times=ALWAYS, message="not authorized")
    first = helper.get()
    helper.get()  # the recorded failure, without a call
    called, recorded = helper.log_lines()
    assert (called["outcome"], called["level"], called["error"]) == (
        "error",
        "error",
        "AccessDenied",
    )
    assert called["message"] == first.stdout.strip()
    assert called["api_calls"] == 1
    assert (recorded["error"], recorded["api_calls"]) == ("AccessDenied", 0)
    assert recorded["message"].startswith(first.stdout.strip() + " (failed ")


def test_api_calls_count_every_attempt(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("ThrottlingException", times=2, message="Rate exceeded")
    helper.answer()
    (line,) = helper.log_lines()
    assert line["outcome"] == "fetched"
    assert line["api_calls"] == ecr.calls() == 3
    assert "retry_wait" in line["phases_ms"]


@pytest.mark.slow
def test_a_timeout_still_counts_the_calls_of_the_killed_worker(
    helper: Helper, ecr: StandIn
) -> None:
    ecr.fault(trickle=1.0, times=ALWAYS)
    result = helper.get(env=with_env(helper, ECRPY_TIMEOUT="2s"))
    assert result.returncode == 1
    (line,) = helper.log_lines()
    assert (line["outcome"], line["error"]) == ("error", "DeadlineExceeded")
    assert line["message"] == result.stdout.strip()
    assert line["api_calls"] == 1
    # The worker is ended a quarter of the 2 s before the get must end (tokens.py's
    # WORKER_RESERVE), leaving time to record its failure for processes waiting on it.
    assert 1400 <= line["ms"] <= 2100


def test_not_found_and_the_other_actions(helper: Helper, ecr: StandIn) -> None:
    assert helper.get("docker.io").returncode == 1
    helper.answer()
    assert helper.run("erase", stdin=f"https://{HOST}/").returncode == 0
    assert helper.run("list", stdin="unused").returncode == 0
    assert helper.run("get", stdin=b"\0").returncode == 1  # bad input
    not_found, _, erase, listed, bad = helper.log_lines()
    assert (not_found["outcome"], not_found["registry"], not_found["identity"]) == (
        "not-found",
        "docker.io",
        None,
    )
    assert "error" not in not_found  # Docker's own "nothing here": not a failure
    assert (erase["action"], erase["outcome"], erase["registry"]) == ("erase", "ok", HOST)
    assert (listed["action"], listed["outcome"], listed["registry"]) == ("list", "ok", None)
    assert (bad["outcome"], bad["error"], bad["registry"]) == ("error", "BadInput", None)


def test_an_ecr_public_failure_is_not_found_with_its_reason(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("AccessDeniedException", action="GetAuthorizationToken", times=ALWAYS)
    result = helper.get("public.ecr.aws")
    assert "pulling anonymously" in result.stderr
    (line,) = helper.log_lines()
    assert (line["outcome"], line["level"], line["error"]) == ("not-found", "error", "AccessDenied")


def test_a_user_and_password_before_the_host_are_not_logged(helper: Helper) -> None:
    helper.get(f"https://someone:{helper.secret}@{HOST2}/repo")
    (line,) = helper.log_lines()
    assert line["registry"] == HOST2


def test_kubelet_writes_its_own_program_name(helper: Helper, ecr: StandIn) -> None:
    from .test_kubelet import provider_commands, request, run_provider

    for command in provider_commands(helper):
        assert run_provider(helper, request(f"{HOST}/app:1"), command=command).returncode == 0
    assert run_provider(helper, request("docker.io/library/busybox")).returncode == 0
    assert run_provider(helper, "not json").returncode == 1
    lines = helper.log_lines()
    assert {line["program"] for line in lines} == {"ecr-credential-provider-py"}
    first, *hits, other, bad = lines
    assert [first["outcome"], *(hit["outcome"] for hit in hits)] == ["fetched"] + ["hit"] * len(
        hits
    )
    assert (other["outcome"], other["registry"]) == ("not-found", "docker.io")
    assert (bad["outcome"], bad["error"]) == ("error", "BadInput")


@pytest.mark.parametrize(
    ("level", "written"),
    [("error", ["error"]), ("info", ["fetched", "hit", "error"]), ("debug", None)],
)
def test_levels(helper: Helper, ecr: StandIn, level: str, written: list[str] | None) -> None:
    env = with_env(helper, ECRPY_LOG_LEVEL=level)
    helper.answer(env=env)
    helper.answer(env=env)
    ecr.fault("AccessDeniedException", times=1)
    helper.get(HOST2, env=env)
    lines = helper.log_lines()
    if written is None:  # debug: everything, with the phases
        assert [line["outcome"] for line in lines] == ["fetched", "hit", "error"]
        assert all("phases_ms" in line for line in lines)
    else:
        assert [line["outcome"] for line in lines] == written
        assert not any("phases_ms" in line for line in lines)


# -- the background refresher ------------------------------------------------------------


def test_a_background_refresh_writes_its_own_line(marked: Helper, ecr: StandIn) -> None:
    env = seed_due_token(marked, ecr)
    result = marked.get(env=env)
    assert result.returncode == 0 and result.stderr == ""
    wait_until(lambda: not refreshers(marked), 15, "the background refresh")
    _, served, refreshed = sorted(marked.log_lines(), key=lambda line: line["action"] == "refresh")
    assert (served["action"], served["outcome"], served["refresh_started"]) == ("get", "hit", True)
    assert (refreshed["action"], refreshed["outcome"]) == ("refresh", "refreshed-in-background")
    assert refreshed["api_calls"] == ecr.calls() == 1
    assert refreshed["registry"] == HOST
    assert refreshed["identity"] == served["identity"] == identity_of(env)
    assert refreshed["pid"] != served["pid"]


def test_a_failed_background_refresh_and_the_stale_answers_after_it(
    marked: Helper, ecr: StandIn
) -> None:
    env = seed_due_token(marked, ecr)
    ecr.fault("ThrottlingException", times=ALWAYS, message="Rate exceeded")
    marked.answer(env=with_env(marked, **env, ECRPY_TIMEOUT="2s"))
    wait_until(lambda: not refreshers(marked), 15, "the background refresh")
    marked.answer(env=env)  # during the backoff: served stale
    _, served, stale = [line for line in marked.log_lines() if line["action"] == "get"]
    (failed,) = [line for line in marked.log_lines() if line["action"] == "refresh"]
    assert served["outcome"] == "hit"
    assert (failed["action"], failed["outcome"], failed["error"]) == (
        "refresh",
        "error",
        "Throttled",
    )
    assert failed["api_calls"] == ecr.calls() >= 1
    assert (stale["outcome"], stale["level"], stale["error"]) == (
        "stale-served",
        "error",
        "Throttled",
    )
    assert stale["api_calls"] == 0


# -- many processes, one file --------------------------------------------------------------


@pytest.mark.parametrize("n", [16, 64])
def test_parallel_gets_write_one_whole_line_each(helper: Helper, ecr: StandIn, n: int) -> None:
    processes = spawn_gets(helper, n)
    results = collect(helper, processes, feed(processes))
    assert all(r.returncode == 0 for r in results), [r.stdout for r in results][:3]
    lines = helper.log_lines()  # each line parses: none interleaved with another
    assert sorted(line["pid"] for line in lines) == sorted(p.pid for p in processes)
    outcomes = sorted(line["outcome"] for line in lines)
    assert outcomes == ["fetched"] + ["hit"] * (n - 1)
    assert sum(line["api_calls"] for line in lines) == ecr.calls() == 1


def test_rotation_at_the_cap_loses_nothing_but_the_old_rotated_file(
    helper: Helper, ecr: StandIn
) -> None:
    helper.answer()  # the token: every get below is a hit
    first = len(helper.log_path.read_bytes())
    helper.answer()
    size = len(helper.log_path.read_bytes()) - first  # a hit's line
    while len(helper.log_path.read_bytes()) <= 4096:  # past the cap, under no cap yet
        helper.answer()
    full = helper.log_path.read_bytes()
    env = with_env(helper, ECRPY_LOG_MAX_SIZE="4KiB")
    # All at once, every one finding the file past its cap: one of them rotates it, the
    # others write to the new file; as many lines as it holds.
    processes = spawn_gets(helper, 4096 // size - 1, env)
    assert all(r.returncode == 0 for r in finish(helper, processes))
    rotated = Path(f"{helper.log_path}.1")
    assert rotated.read_bytes() == full, "lost or rotated again"
    assert stat.S_IMODE(rotated.stat().st_mode) == 0o600
    fresh = helper.log_lines()
    assert sorted(line["pid"] for line in fresh) == sorted(p.pid for p in processes)
    # One after the other, many times the cap: what is kept is the newest lines, in
    # order, in the rotated file and the current one, with nothing missing between.
    pids = []
    for _ in range(3 * 4096 // size):
        processes = spawn_gets(helper, 1, env)
        finish(helper, processes)
        pids.append(processes[0].pid)
    kept = [line["pid"] for line in helper.log_lines(rotated) + helper.log_lines()]
    assert len(kept) >= 4096 // size
    assert kept == pids[-len(kept) :]
    assert len(helper.log_path.read_bytes()) <= 4096
    assert len(rotated.read_bytes()) <= 4096
    assert sorted(p.name for p in helper.log_path.parent.iterdir()) == [
        "activity.log",
        "activity.log.1",
    ]


def test_rotation_under_contention_renames_only_a_full_file(tmp_path: Path) -> None:
    """Writers racing, in-process, over a small cap: whoever rotates, the file renamed to
    ``.1`` is always one that was full (a process that waited for another's rotation must
    not rename the new file in turn), and no line is ever torn."""
    log = tmp_path / "log" / "activity.log"
    writers, lines, width, cap = 8, 300, 100, 4096
    children = []
    for writer in range(writers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's status is the result
            status = 0
            try:
                for number in range(lines):
                    data = f"{writer} {number} ".encode().ljust(width - 1, b"x") + b"\n"
                    activity.append(str(log), data, cap)
                    with contextlib.suppress(FileNotFoundError):
                        if os.stat(f"{log}.1").st_size <= cap - width:
                            status = 3  # a rotated file that was not full
            except BaseException:
                status = 4
            os._exit(status)
        children.append(pid)
    statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    assert statuses == [0] * writers
    for path in (Path(f"{log}.1"), log):
        data = path.read_bytes()
        assert len(data) % width == 0
        for at in range(0, len(data), width):
            writer, number, rest = data[at : at + width].split(b" ", 2)
            assert rest == b"x" * (width - 2 - len(writer) - len(number) - 1) + b"\n"


# -- never a secret ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"error": "ThrottlingException", "times": ALWAYS},
        {
            "error": "AccessDeniedException",
            "times": ALWAYS,
            "message": "denied "
            + "AK"
            + "IA"
            + "IOSFODNN7EXAMPLE",  # no key-id lookalike in the tree
        },
        {"error": "UnrecognizedClientException", "times": ALWAYS},
        {"error": "InternalServerError", "status": 500, "times": ALWAYS},
        {"malformed": True, "times": ALWAYS},
        {"trickle": 1.0, "times": ALWAYS},
    ],
)
def test_no_secret_with_an_assumed_role_under_faults(
    helper: Helper, ecr: StandIn, home: Path, fault: dict[str, Any]
) -> None:
    """A role with an external id (a shared secret of sorts), and each kind of failure:
    the external id is never logged (nor, as the teardown scan checks, any key or token);
    a key id that the denial quotes is masked in the message, which goes to the log as it
    goes to stdout."""
    external_id = "shared-external-id-b7c1"
    config = home / "ecrpy.toml"
    config.write_text(
        f'[registries."{HOST}"]\nrole_arn = "arn:aws:iam::123456789012:role/pull"\n'
        f'external_id = "{external_id}"\n'
    )
    env = with_env(helper, ECRPY_CONFIG=str(config), ECRPY_TIMEOUT="3s")
    helper.answer(env=env)
    ecr.fault(**fault)
    assert helper.run("erase", stdin=HOST, env=env).returncode == 0
    result = helper.get(env=env)
    assert result.returncode == 1
    text = helper.log_path.read_text()
    assert external_id not in text
    fetched, erased, failed = helper.log_lines()  # and the scan for keys and tokens
    assert (fetched["outcome"], erased["outcome"], failed["outcome"]) == ("fetched", "ok", "error")
    assert fetched["api_calls"] == 2  # sts:AssumeRole, then ecr:GetAuthorizationToken
    if "AKIA" in fault.get("message", ""):  # quoted by the API: never written down
        assert "AKIA" not in result.stdout
        assert "<access key id>" in result.stdout
        assert failed["message"] == result.stdout.strip()


def test_the_scan_finds_a_planted_secret(helper: Helper) -> None:
    """The teardown scan (``check_log``) is what guards every suite: it must fail on a
    token, a secret key or a key id anywhere in a line."""
    helper.answer()
    good = helper.log_path.read_text()
    for planted in (
        helper.secret,
        "wJalrXUtnFEMIEXAMPLEsecretKEYforTESTSonly",
        "AS" + "IAEXAMPLE123456789",  # built here: no key-id lookalike in the tree
    ):
        helper.log_path.write_text(good.replace("docker-credential-ecrpy", planted, 1))
        with pytest.raises(AssertionError, match="leaked into the activity log"):
            helper.check_log()
    helper.log_path.write_text(good[:-1] + ' "x"}\n')  # two writes run together
    with pytest.raises(AssertionError, match="is not JSON"):
        helper.check_log()
    helper.log_path.write_text(good)


# -- a log that cannot be written ----------------------------------------------------------


def fifo_with_a_reader(path: Path) -> threading.Thread:
    os.mkfifo(path, 0o600)

    def read() -> None:
        with open(path, "rb") as fifo:
            fifo.read()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("directory", "is a directory, not a regular file"),
        ("fifo", "is a FIFO, not a regular file"),
        ("fifo with a reader", "is a FIFO, not a regular file"),
        ("symlink", "is a symlink"),
        ("open file", "is not private to this user"),
        ("open directory", "log directory"),
        ("file for a directory", "log path"),
    ],
)
def test_an_unwritable_log_never_fails_a_get(
    helper: Helper, ecr: StandIn, home: Path, kind: str, says: str
) -> None:
    log = helper.log_path
    log.parent.mkdir(mode=0o700)
    victim = home / "victim"
    victim.write_text("untouched\n")
    victim.chmod(0o600)
    reader = None
    if kind == "directory":
        log.mkdir()
    elif kind == "fifo":
        os.mkfifo(log, 0o600)
    elif kind == "fifo with a reader":
        reader = fifo_with_a_reader(log)
    elif kind == "symlink":
        log.symlink_to(victim)
    elif kind == "open file":
        log.write_text("")
        log.chmod(0o644)
    elif kind == "open directory":
        log.parent.chmod(0o755)
    else:
        log.parent.rmdir()
        log.parent.write_text("")
    for _ in range(2):  # a fetch, then a hit
        started = time.monotonic()
        result = helper.get()
        assert time.monotonic() - started < 10
        assert result.returncode == 0, result.stdout
        assert json.loads(result.stdout)["Secret"] == ecr.password
        (warning,) = result.stderr.splitlines()  # once, and nothing else
        assert warning.startswith(f"docker-credential-ecrpy: {WARNING}")
        assert says in warning and warning.endswith("; going on without it")
    assert victim.read_text() == "untouched\n"
    if reader is not None:
        reader.join(5)  # it saw the end of our writer
    helper.env.pop("ECRPY_LOG")  # nothing to scan


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (PermissionError(13, "Permission denied"), "/x/activity.log: Permission denied"),
        (RuntimeError("a bug, with words that could be anything"), "internal error RuntimeError"),
    ],
)
def test_whatever_goes_wrong_writing_the_log_is_one_warning(
    monkeypatch: pytest.MonkeyPatch, failure: Exception, says: str
) -> None:
    """The answer is in stdout's buffer when the line is written: nothing may escape."""

    def broken(path: str, data: bytes, max_bytes: int) -> None:
        raise failure

    monkeypatch.setattr(activity, "append", broken)
    stderr = io.StringIO()
    activity.record(
        settings.LogSettings("/x/activity.log"),
        program="docker-credential-ecrpy",
        action="get",
        host=HOST,
        activity=Activity("0123456789ab"),
        error=None,
        stderr=stderr,
    )
    assert stderr.getvalue() == (
        f"docker-credential-ecrpy: {WARNING}{says}); going on without it\n"
    )


def test_a_read_only_log_directory_as_an_unprivileged_user(
    helper: Helper, ecr: StandIn, nobody_home: Path
) -> None:
    skip_unless_nobody_can_run(helper)
    env = base_env(nobody_home / "home", ecr)
    log_dir = Path(env["ECRPY_LOG"]).parent
    log_dir.mkdir(mode=0o500)
    os.chown(log_dir, 65534, 65534)
    result = run_as_nobody(helper, env)
    assert result.returncode == 0, result.stdout
    (warning,) = result.stderr.splitlines()
    assert WARNING in warning and "Permission denied" in warning
    assert list(log_dir.iterdir()) == []


def test_the_log_file_and_directory_are_made_private(helper: Helper, home: Path) -> None:
    log = home / "var" / "log" / "ecrpy" / "activity.log"
    before = os.umask(0o002)  # inherited by the helper: it must not matter
    try:
        helper.answer(env=with_env(helper, ECRPY_LOG=str(log)))
    finally:
        os.umask(before)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    for directory in (log.parent, log.parent.parent, log.parent.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert len(helper.log_lines(log)) == 1


# -- from the configuration file -----------------------------------------------------------


def test_the_configuration_file_sets_the_log_and_the_environment_wins(
    helper: Helper, home: Path
) -> None:
    from_file = home / "file-log" / "activity.log"
    config = home / "ecrpy.toml"
    config.write_text(f'[log]\npath = "{from_file}"\nlevel = "error"\n')
    env = with_env(helper, ECRPY_CONFIG=str(config), ECRPY_LOG=None, ECRPY_LOG_LEVEL=None)
    helper.answer(env=env)
    assert not from_file.exists()  # level error, and no error
    helper.get("docker.io", env={**env, "ECRPY_LOG_LEVEL": "info"})
    (line,) = helper.log_lines(from_file)
    assert line["outcome"] == "not-found"
    # The variables win, each over its key.
    helper.answer(env={**env, "ECRPY_LOG": str(helper.log_path), "ECRPY_LOG_LEVEL": "info"})
    assert [line["outcome"] for line in helper.log_lines()] == ["hit"]
    assert len(helper.log_lines(from_file)) == 1


def test_a_broken_configuration_file_is_logged_where_the_environment_says(
    helper: Helper, home: Path
) -> None:
    config = home / "ecrpy.toml"
    config.write_text('[log]\npath = "relative.log"\n')
    result = helper.get(env=with_env(helper, ECRPY_CONFIG=str(config)))
    assert result.returncode == 1
    (line,) = helper.log_lines()
    assert (line["outcome"], line["error"]) == ("error", "ConfigError")
    assert line["message"] == result.stdout.strip()


# -- off: nothing paid -----------------------------------------------------------------------


@pytest.mark.parametrize("config", [False, True])
def test_the_hit_path_pays_nothing_for_the_log_when_it_is_off(
    helper: Helper, home: Path, config: bool
) -> None:
    env = without_log(helper)
    if config:  # a configuration file without [log]: read anyway, as before
        path = home / "ecrpy.toml"
        path.write_text(f'[registries."{HOST}"]\nprofile = "default"\n')
        (home / ".aws" / "credentials").write_text(
            f"[default]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = x\n"
        )
        env["ECRPY_CONFIG"] = str(path)
    helper.answer(env=env)
    off = helper.imports(env=env)
    assert "docker_credential_ecrpy.tokens" in off  # the probe saw the hit
    assert "docker_credential_ecrpy.activity" not in off
    assert not helper.log_path.parent.exists()  # nothing opened, nothing made
    on = helper.imports(env={**env, "ECRPY_LOG": str(helper.log_path)})
    assert "docker_credential_ecrpy.activity" in on  # so the probe can tell
    assert not {"json", "re", "typing"} & on
