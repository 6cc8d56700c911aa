"""``configure``: edits of a realistic Docker config.json that keep every other key, in
Docker's own format, atomically (a kill at any instant leaves the old or the new file)."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from docker_credential_ecrpy.commands import docker_config
from tests.support.constants import ALIAS, HOST
from tests.support.constants import HOST2 as EU_HOST
from tests.support.helper import Helper
from tests.support.standin import StandIn
from tests.support.toolkit import configure, env_for, read

# What real config.json files carry: logins, another store, proxies, plugins, settings of
# newer Docker versions we know nothing about, and non-ASCII text.
REALISTIC: dict[str, Any] = {
    "auths": {
        "https://index.docker.io/v1/": {"auth": "dXNlcjpodW50ZXIy"},
        HOST: {"auth": "QVdTOm9sZC10b2tlbg=="},
        "ghcr.io": {"auth": "Z2g6dG9rZW4=", "identitytoken": "opaque"},
    },
    "credsStore": "desktop",
    "credHelpers": {"gcr.io": "gcloud", EU_HOST: "ecr-login"},
    "proxies": {
        "default": {"httpProxy": "http://proxy.corp:3128", "noProxy": "localhost,127.0.0.1"}
    },
    "plugins": {"buildx": {"default": "true"}, "compose": {"hooks": "up,down"}},
    "cliPluginsExtraDirs": ["/opt/docker/cli-plugins"],
    "currentContext": "rootless",
    "detachKeys": "ctrl-e,e",
    "psFormat": "table {{.ID}}\\t{{.Names}} <&>",
    "HttpHeaders": {"User-Agent": "Dockér ünïcode ☃ 🐳 日本語"},
    "features": {"hooks": "true"},
    "aliases": {"builder": "buildx"},
    "experimental": "enabled",
    "unknownFutureKey": {"nested": [1, 2.5, None, True, {"deep": "ß", "empty": {}}]},
}


@pytest.fixture
def docker_dir(home: Path) -> Path:
    path = home / "dockercfg"
    path.mkdir()
    return path


def write_realistic(docker_dir: Path, mode: int = 0o640) -> str:
    text = json.dumps(REALISTIC, indent=2, ensure_ascii=False) + "\n"
    path = docker_dir / "config.json"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return text


def test_adds_entries_and_keeps_every_other_key(helper: Helper, docker_dir: Path) -> None:
    old_text = write_realistic(docker_dir)
    result = configure(helper, docker_dir, HOST, f"https://{EU_HOST}/")
    assert result.returncode == 0, result.stdout
    expected = copy.deepcopy(REALISTIC)
    expected["credHelpers"][HOST] = "ecrpy"
    expected["credHelpers"][EU_HOST] = "ecrpy"
    assert read(docker_dir) == expected
    text = (docker_dir / "config.json").read_text(encoding="utf-8")
    assert text == json.dumps(expected, indent="\t", ensure_ascii=False), "Docker's format"
    assert "☃ 🐳 日本語" in text, "non-ASCII is written as UTF-8, as Docker does"
    assert all(not line.startswith(" ") for line in text.splitlines()), "tabs, not spaces"
    assert (docker_dir / "config.json").stat().st_mode & 0o777 == 0o640
    backup = docker_dir / "config.json.bak"
    assert backup.read_text(encoding="utf-8") == old_text
    assert backup.stat().st_mode & 0o777 == 0o640
    assert f"{EU_HOST}: ecrpy (was ecr-login)" in result.stdout
    # The stale login for HOST is reported, with the fix, and left alone.
    assert "auths" in result.stderr and HOST in result.stderr
    assert "--remove-stale-auths" in result.stderr
    assert not list(docker_dir.glob(".*.tmp")), "no temporary file left behind"


def test_is_idempotent(helper: Helper, docker_dir: Path) -> None:
    write_realistic(docker_dir)
    assert configure(helper, docker_dir, HOST).returncode == 0
    path = docker_dir / "config.json"
    before = path.read_bytes(), path.stat().st_mtime_ns
    backup = (docker_dir / "config.json.bak").read_bytes()
    again = configure(helper, docker_dir, HOST)
    assert again.returncode == 0
    assert "Nothing to change" in again.stdout
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before, "file not rewritten"
    assert (docker_dir / "config.json.bak").read_bytes() == backup


def test_dry_run_shows_a_diff_and_writes_nothing(helper: Helper, docker_dir: Path) -> None:
    old_text = write_realistic(docker_dir)
    result = configure(helper, docker_dir, "--dry-run", HOST)
    assert result.returncode == 0
    assert f'+\t\t"{HOST}": "ecrpy"' in result.stdout
    assert "Dry run" in result.stdout
    assert (docker_dir / "config.json").read_text(encoding="utf-8") == old_text
    assert not (docker_dir / "config.json.bak").exists()


def test_remove_stale_auths(helper: Helper, docker_dir: Path) -> None:
    write_realistic(docker_dir)
    result = configure(helper, docker_dir, "--remove-stale-auths", HOST)
    assert result.returncode == 0
    document = read(docker_dir)
    assert HOST not in document["auths"]
    assert document["auths"]["ghcr.io"] == REALISTIC["auths"]["ghcr.io"]
    assert document["credHelpers"][HOST] == "ecrpy"
    assert "warning" not in result.stderr


@pytest.mark.parametrize(
    "text", ['{"auths": {', "[1, 2]", '{"credHelpers": ["x"]}', "\ufeff{}", "{} {}"]
)
def test_refuses_a_file_that_is_not_a_json_object(
    helper: Helper, docker_dir: Path, text: str
) -> None:
    path = docker_dir / "config.json"
    path.write_text(text, encoding="utf-8")
    result = configure(helper, docker_dir, HOST)
    assert result.returncode == 1
    assert str(path) in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1
    assert path.read_text(encoding="utf-8") == text
    assert not (docker_dir / "config.json.bak").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_sudo_keeps_the_owner(helper: Helper, docker_dir: Path) -> None:
    write_realistic(docker_dir, mode=0o600)
    path = docker_dir / "config.json"
    os.chown(path, 4242, 4343)
    os.chown(docker_dir, 4242, 4343)
    assert configure(helper, docker_dir, HOST).returncode == 0
    for written in (path, docker_dir / "config.json.bak", docker_dir / "config.json.lock"):
        info = written.stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (4242, 4343, 0o600)


def test_new_file_is_private(helper: Helper, home: Path) -> None:
    docker_dir = home / "fresh" / "docker"
    result = configure(helper, docker_dir, HOST)
    assert result.returncode == 0
    assert read(docker_dir) == {"credHelpers": {HOST: "ecrpy"}}
    assert (docker_dir / "config.json").stat().st_mode & 0o777 == 0o600
    assert not (docker_dir / "config.json.bak").exists()


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_missing_parents_are_made_private_whatever_the_umask(
    helper: Helper, home: Path, umask: int
) -> None:
    """A DOCKER_CONFIG whose parents do not exist: under umask 000, directories made as
    ``os.makedirs`` makes its parents would be 0777, and anyone could swap the file
    that tells Docker which program to run for a registry."""
    docker_dir = home / "a" / "b" / "docker"
    done = subprocess.run(
        [helper.exe, "configure", HOST],
        input=b"",
        capture_output=True,
        env=env_for(helper, docker_dir),
        preexec_fn=lambda: os.umask(umask),  # the one way to set a child's umask
        timeout=60,
    )
    assert done.returncode == 0, done.stdout
    assert read(docker_dir) == {"credHelpers": {HOST: "ecrpy"}}
    for made in (home / "a", home / "a" / "b", docker_dir):
        mode = made.lstat().st_mode & 0o7777
        assert mode == 0o700, f"{made} has mode {mode:04o}"


def test_default_location_is_home_dot_docker(helper: Helper, home: Path) -> None:
    env = {k: v for k, v in env_for(helper, home).items() if k != "DOCKER_CONFIG"}
    result = helper.run("configure", HOST, stdin="", env=env)
    assert result.returncode == 0
    assert json.loads((home / ".docker" / "config.json").read_text()) == {
        "credHelpers": {HOST: "ecrpy"}
    }


def test_symlinked_config_stays_a_link(helper: Helper, docker_dir: Path, home: Path) -> None:
    real = home / "dotfiles" / "docker.json"
    real.parent.mkdir()
    real.write_text('{"auths": {}}')
    (docker_dir / "config.json").symlink_to(real)
    assert configure(helper, docker_dir, HOST).returncode == 0
    assert (docker_dir / "config.json").is_symlink()
    assert json.loads(real.read_text()) == {"auths": {}, "credHelpers": {HOST: "ecrpy"}}


def test_rejects_hosts_that_are_not_ecr(helper: Helper, docker_dir: Path) -> None:
    write_realistic(docker_dir)
    before = (docker_dir / "config.json").read_bytes()
    for host in ("ghcr.io", f"{HOST}.evil.com", ALIAS):
        result = configure(helper, docker_dir, HOST, host)
        assert result.returncode == 1
        assert host in result.stdout and "not an Amazon ECR registry" in result.stdout
    assert (docker_dir / "config.json").read_bytes() == before


def test_accepts_configured_aliases(helper: Helper, docker_dir: Path, home: Path) -> None:
    path = home / "ecrpy.toml"
    path.write_text(f'[registries."{ALIAS}"]\naccount = "123456789012"\nregion = "eu-west-1"\n')
    result = configure(helper, docker_dir, ALIAS, ECRPY_CONFIG=str(path))
    assert result.returncode == 0, result.stdout
    assert read(docker_dir) == {"credHelpers": {ALIAS: "ecrpy"}}


def test_without_hosts_asks_sts_for_the_account(
    helper: Helper, ecr: StandIn, docker_dir: Path, home: Path
) -> None:
    path = home / "ecrpy.toml"
    path.write_text(f'[registries."{ALIAS}"]\naccount = "123456789012"\nregion = "eu-west-1"\n')
    result = configure(helper, docker_dir, AWS_REGION="eu-west-1", ECRPY_CONFIG=str(path))
    assert result.returncode == 0, result.stdout
    assert read(docker_dir) == {"credHelpers": {EU_HOST: "ecrpy", ALIAS: "ecrpy"}}
    assert ecr.calls("sts:GetCallerIdentity") == 1
    assert ecr.calls() == 0


def test_without_hosts_an_unreachable_sts_is_named(
    helper: Helper, ecr: StandIn, docker_dir: Path
) -> None:
    """The failure names STS and the variable that points at it, not ECR's."""
    result = configure(
        helper, docker_dir, AWS_REGION="eu-west-1", AWS_ENDPOINT_URL_STS="http://127.0.0.1:9"
    )
    assert result.returncode == 1
    out = result.stdout.strip()
    assert out.startswith("cannot reach http://127.0.0.1:9"), out
    assert "AWS_ENDPOINT_URL_STS" in out and "AWS_ENDPOINT_URL_ECR" not in out
    assert not (docker_dir / "config.json").exists()


@pytest.mark.slow
def test_without_hosts_a_hung_credential_source_ends_at_the_deadline(
    helper: Helper, docker_dir: Path, home: Path
) -> None:
    script = home / "stuck"
    script.write_text("#!/bin/sh\nexec sleep 600\n")
    script.chmod(0o755)
    (home / ".aws" / "config").write_text(f"[profile stuck]\ncredential_process = {script}\n")
    env = env_for(
        helper, docker_dir, AWS_PROFILE="stuck", AWS_REGION="eu-west-1", ECRPY_TIMEOUT="3s"
    )
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    started = time.monotonic()
    result = helper.run("configure", stdin="", env=env)
    assert time.monotonic() - started < 3 + 1.5
    assert result.returncode == 1
    assert result.stdout.startswith(
        "timed out after 3s resolving AWS credentials (profile 'stuck')"
    )


def test_without_hosts_region_from_the_aws_config_file(
    helper: Helper, ecr: StandIn, docker_dir: Path, home: Path
) -> None:
    (home / ".aws" / "config").write_text("[default]\nregion = cn-north-1\n")
    result = configure(helper, docker_dir)
    assert result.returncode == 0, result.stdout
    assert read(docker_dir) == {
        "credHelpers": {"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn": "ecrpy"}
    }


def test_without_hosts_and_region_is_a_clear_error(
    helper: Helper, ecr: StandIn, docker_dir: Path
) -> None:
    result = configure(helper, docker_dir)
    assert result.returncode == 1
    assert "no AWS region" in result.stdout and "AWS_REGION" in result.stdout
    assert not (docker_dir / "config.json").exists()


def test_without_hosts_and_credentials_is_a_clear_error(
    offline_helper: Helper, docker_dir: Path
) -> None:
    env = {
        k: v
        for k, v in env_for(offline_helper, docker_dir, AWS_REGION="us-east-1").items()
        if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    result = offline_helper.run("configure", stdin="", env=env)
    assert result.returncode == 1
    assert "no AWS credentials" in result.stdout


def test_warns_when_not_on_path(helper: Helper, docker_dir: Path) -> None:
    result = configure(helper, docker_dir, HOST, PATH="/nonexistent")
    assert result.returncode == 0
    assert "not on PATH" in result.stderr
    assert "not on PATH" not in configure(helper, docker_dir, HOST).stderr


def test_bad_arguments_are_one_line(helper: Helper, docker_dir: Path) -> None:
    result = configure(helper, docker_dir, "--frobnicate")
    assert result.returncode == 1
    assert "--frobnicate" in result.stdout
    help_text = configure(helper, docker_dir, "--help")
    assert help_text.returncode == 0 and "--dry-run" in help_text.stdout


@pytest.mark.slow
def test_a_kill_at_any_instant_leaves_the_old_or_the_new_file(
    helper: Helper, docker_dir: Path
) -> None:
    old = copy.deepcopy(REALISTIC)
    # A large file, so that writing it takes long enough to be hit by some kills.
    old["auths"].update({f"registry-{i}.example.com": {"auth": "eDp5" * 8} for i in range(4000)})
    old_text = json.dumps(old, indent="\t", ensure_ascii=False)
    new = copy.deepcopy(old)
    new["credHelpers"][HOST] = "ecrpy"
    new["credHelpers"][EU_HOST] = "ecrpy"  # switched from ecr-login as well
    path = docker_dir / "config.json"
    env = env_for(helper, docker_dir)

    runs = []
    for _ in range(3):
        path.write_text(old_text, encoding="utf-8")
        started = time.monotonic()
        assert configure(helper, docker_dir, HOST).returncode == 0
        runs.append(time.monotonic() - started)
        assert read(docker_dir) == new
    full_run = sorted(runs)[1]

    # A staircase on the kill instant: later after a kill that left the old file, earlier
    # after one that left the new file. It homes in on the write and rename, whatever
    # this machine's speed, so most kills land where a torn file could appear.
    rng = random.Random(20261129)  # noqa: S311 - kill instants, not secrets
    scale = 0.8
    outcomes = {"old": 0, "new": 0}
    for _ in range(40):
        path.write_text(old_text, encoding="utf-8")
        process = subprocess.Popen(
            [helper.exe, "configure", HOST],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(scale * full_run * rng.uniform(0.85, 1.15))
        process.send_signal(signal.SIGKILL)
        process.wait()
        document = read(docker_dir)  # must parse: never a torn file
        assert document in (old, new)
        outcome = "old" if document == old else "new"
        outcomes[outcome] += 1
        scale *= 1.08 if outcome == "old" else 0.92
        backup = docker_dir / "config.json.bak"
        if backup.exists():
            assert json.loads(backup.read_text(encoding="utf-8")) == old
    # Kills landed both before and after the rename, so the write was really under fire.
    assert outcomes["old"] and outcomes["new"], outcomes
    # Killed writers may leave temporary files; a later run removes those older than
    # five minutes (younger ones may belong to a writer still running).
    path.write_text(old_text, encoding="utf-8")
    stale = docker_dir / ".config.json.1.deadbeef.tmp"
    stale.write_text("{")
    young = docker_dir / ".config.json.2.deadbeef.tmp"
    young.write_text("{")
    os.utime(stale, (time.time() - 600, time.time() - 600))
    assert configure(helper, docker_dir, HOST).returncode == 0
    assert read(docker_dir) == new
    assert not stale.exists() and young.exists()


def test_concurrent_runs_lose_no_host(helper: Helper, docker_dir: Path) -> None:
    """Twenty runs at once, each adding its own host: the read-modify-write is locked, so
    every host is in the final file, whichever order the runs took."""
    write_realistic(docker_dir)
    hosts = [f"1234567890{i:02d}.dkr.ecr.us-east-1.amazonaws.com" for i in range(20)]
    env = env_for(helper, docker_dir)
    processes = [
        subprocess.Popen(
            [helper.exe, "configure", host],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for host in hosts
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, (out, err)
        assert b"Wrote " in out and b"Traceback" not in out + err
    document = read(docker_dir)  # valid JSON
    assert set(hosts) <= set(document["credHelpers"]), "a concurrent run lost a host"
    assert document["auths"] == REALISTIC["auths"], "every other key is kept"
    # The last writer read a file that already held the other 19 hosts, and kept it.
    backup = json.loads((docker_dir / "config.json.bak").read_text(encoding="utf-8"))
    assert len(set(hosts) & set(backup["credHelpers"])) == 19
    lock = docker_dir / "config.json.lock"
    assert lock.stat().st_mode & 0o777 == 0o600
    assert not list(docker_dir.glob(".*.tmp")), "no temporary file left behind"


@pytest.mark.slow
def test_a_lock_held_too_long_is_one_line_and_changes_nothing(
    helper: Helper, docker_dir: Path
) -> None:
    old_text = write_realistic(docker_dir)
    lock = docker_dir / "config.json.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        result = configure(helper, docker_dir, HOST)
        waited = time.monotonic() - started
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "another process" in lines[0], result.stdout
    assert str(docker_dir / "config.json") in lines[0]
    assert 5 <= waited < 30, "a bounded wait, not an immediate failure nor a hang"
    assert (docker_dir / "config.json").read_text(encoding="utf-8") == old_text
    assert not (docker_dir / "config.json.bak").exists()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"x": NaN}', "NaN"),
        ('{"auths": {}, "x": [1, Infinity]}', "Infinity"),
        ('{"x": -Infinity}', "-Infinity"),
        ('{"credHelpers": {}, "auths": {}, "credHelpers": {"gcr.io": "gcloud"}}', "credHelpers"),
        ('{"auths": {"ghcr.io": {"auth": "eDp5"}, "ghcr.io": {}}}', "ghcr.io"),
        ("[" * 60000, "nested too deeply"),
        ('{"a": ' * 20000, "nested too deeply"),
        # Read by the json module, but deep enough to break a recursive copy or writer.
        ('{"x": ' + "[" * 600 + "]" * 600 + "}", "nested too deeply"),
    ],
)
def test_refuses_what_it_could_not_write_back(
    helper: Helper, docker_dir: Path, text: str, named: str
) -> None:
    """NaN and Infinity are not JSON (Docker's own reader refuses them), a key given
    twice would lose one of its values on rewrite, and nesting too deep for the parser
    is no Docker configuration: each is refused in one line, the file untouched."""
    path = docker_dir / "config.json"
    path.write_text(text, encoding="utf-8")
    result = configure(helper, docker_dir, HOST)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    assert str(path) in lines[0] and named in lines[0]
    assert path.read_text(encoding="utf-8") == text
    assert not (docker_dir / "config.json.bak").exists()


def test_nesting_up_to_the_limit_is_kept(helper: Helper, docker_dir: Path) -> None:
    deep = "[" * (docker_config.MAX_DEPTH - 1) + "]" * (docker_config.MAX_DEPTH - 1)
    (docker_dir / "config.json").write_text('{"x": ' + deep + "}", encoding="utf-8")
    result = configure(helper, docker_dir, HOST)
    assert result.returncode == 0, result.stdout
    assert read(docker_dir) == {"x": json.loads(deep), "credHelpers": {HOST: "ecrpy"}}


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} written: not JSON")

    return json.loads(text, parse_constant=refuse, parse_int=str, parse_float=str)


def test_numbers_are_written_back_as_they_were(helper: Helper, docker_dir: Path) -> None:
    """1e400 is valid JSON that a Python float turns into Infinity, 0.1000000000000000055
    one it rounds, a 5000-digit integer one Python's int parser refuses by default: each
    is written back exactly as it was."""
    numbers = [
        "1e400",
        "-1E-400",
        "0.1000000000000000055511151231257827",
        "123456789012345678901234567890",
        "1" * 5000,
        "-0.0",
        "2.50",
        "1E+2",
        "0",
    ]
    text = '{"n": [' + ", ".join(numbers) + '], "e": 1e400}\n'
    (docker_dir / "config.json").write_text(text, encoding="utf-8")
    result = configure(helper, docker_dir, HOST)
    assert result.returncode == 0, result.stdout
    written = (docker_dir / "config.json").read_text(encoding="utf-8")
    strict_json(written)
    assert '"e": 1e400' in written
    assert re.findall(r"^\t\t(\S+?),?$", written, re.MULTILINE) == numbers
    assert (docker_dir / "config.json.bak").read_text(encoding="utf-8") == text
