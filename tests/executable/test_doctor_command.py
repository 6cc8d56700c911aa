"""``doctor``: a working setup passes, each kind of broken setup is named with its fix and
fails the exit status, ``--json`` parses, and no secret is ever shown."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docker_credential_ecrpy import keys
from tests.support.constants import HOST
from tests.support.helper import Helper
from tests.support.standin import StandIn


@pytest.fixture
def setup(helper: Helper, home: Path) -> dict[str, str]:
    """A working installation: the helper on PATH and configured for HOST."""
    docker_dir = home / "dockercfg"
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text(
        json.dumps({"credHelpers": {HOST: "ecrpy"}, "auths": {}}, indent="\t")
    )
    path = f"{Path(helper.exe).parent}{os.pathsep}{helper.env['PATH']}"
    return {**helper.env, "PATH": path, "DOCKER_CONFIG": str(docker_dir)}


def run_json(helper: Helper, env: dict[str, str], *args: str) -> tuple[int, Any]:
    result = helper.run("doctor", "--json", *args, stdin="", env=env)
    return result.returncode, json.loads(result.stdout)


def find(document: Any, section: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        check
        for check in document["checks"]
        if check["section"] == section and (name is None or check["name"] == name)
    ]


def failures(document: Any) -> list[dict[str, Any]]:
    return [check for check in document["checks"] if check["status"] == "fail"]


def test_working_setup(helper: Helper, ecr: StandIn, setup: dict[str, str]) -> None:
    code, document = run_json(helper, setup, HOST)
    assert code == 0, failures(document)
    assert document["ok"] is True
    assert find(document, "docker", HOST)[0]["status"] == "ok"
    assert find(document, "executable", "on PATH")[0]["status"] == "ok"
    assert find(document, "aws", "credentials")[0]["source"] == "env"
    first, second = find(document, "get", "first get")[0], find(document, "get", "second get")[0]
    assert first["status"] == second["status"] == "ok"
    assert first["elapsed_ms"] > 0 and second["elapsed_ms"] > 0
    assert ecr.calls() == 1, "the second live get was a cache hit"
    # The cache now lists the token, with its expiry and without its secret.
    code, document = run_json(helper, setup)
    entry = find(document, "cache", HOST)[0]
    assert entry["status"] == "ok" and entry["expires_at"] > 0
    assert ecr.password not in json.dumps(document)


def test_human_output_is_aligned_and_plain_off_a_terminal(
    helper: Helper, ecr: StandIn, setup: dict[str, str]
) -> None:
    result = helper.run("doctor", HOST, stdin="", env=setup)
    assert result.returncode == 0
    assert "\033[" not in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("  ")]
    assert len(lines) >= 8
    pattern = re.compile(r"^  (ok  |info|warn|fail)  (.*?)  +(\S.*)$")
    columns = set()
    for line in lines:
        match = pattern.match(line)
        assert match, line
        columns.add(match.start(3))
    assert len(columns) == 1, "details start in one column"
    for title in ("Docker", "Executable", "AWS credentials", "Token cache", "Live get"):
        assert title + "\n" in result.stdout
    assert "Nothing broken" in result.stdout


def test_not_on_path(helper: Helper, ecr: StandIn, setup: dict[str, str]) -> None:
    env = {**setup, "PATH": "/usr/bin:/bin"}
    code, document = run_json(helper, env)
    assert code == 1
    assert find(document, "executable", "on PATH")[0]["status"] == "fail"


def test_host_without_a_helper(helper: Helper, ecr: StandIn, setup: dict[str, str]) -> None:
    other = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    code, document = run_json(helper, setup, other)
    assert code == 1
    check = find(document, "docker", other)[0]
    assert check["status"] == "fail" and "configure" in check["detail"]


def test_stale_auths_and_other_helpers_are_warnings(
    helper: Helper, ecr: StandIn, setup: dict[str, str]
) -> None:
    other = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    config = Path(setup["DOCKER_CONFIG"]) / "config.json"
    config.write_text(
        json.dumps(
            {
                "credHelpers": {HOST: "ecrpy", other: "ecr-login"},
                "auths": {f"https://{HOST}": {"auth": "QVdTOm9sZA=="}},
            }
        )
    )
    code, document = run_json(helper, setup)
    assert code == 0
    mine = find(document, "docker", HOST)[0]
    assert mine["status"] == "warn" and mine["stale_auths"] == [f"https://{HOST}"]
    assert "--remove-stale-auths" in mine["detail"]
    assert "QVdTOm9sZA==" not in json.dumps(document)
    assert find(document, "docker", other)[0]["helper"] == "ecr-login"


def test_invalid_docker_config(helper: Helper, ecr: StandIn, setup: dict[str, str]) -> None:
    (Path(setup["DOCKER_CONFIG"]) / "config.json").write_text('{"credHelpers": ')
    code, document = run_json(helper, setup)
    assert code == 1
    assert "not valid JSON" in find(document, "docker", "config file")[0]["detail"]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"credHelpers": {}, "x": NaN}', "NaN"),
        ('{"auths": {}, "auths": {}}', "auths"),
        ("[" * 60000, "nested too deeply"),
    ],
)
def test_docker_config_that_configure_refuses(
    helper: Helper, ecr: StandIn, setup: dict[str, str], text: str, named: str
) -> None:
    """What configure refuses, doctor reports as the broken file it is."""
    path = Path(setup["DOCKER_CONFIG"]) / "config.json"
    path.write_text(text)
    code, document = run_json(helper, setup)
    assert code == 1
    check = find(document, "docker", "config file")[0]
    assert check["status"] == "fail"
    assert str(path) in check["detail"] and named in check["detail"]


def test_bad_config_file(helper: Helper, ecr: StandIn, setup: dict[str, str], home: Path) -> None:
    path = home / "ecrpy.toml"
    path.write_text(f'[registries."{HOST}"]\nprofil = "x"\n')
    code, document = run_json(helper, {**setup, "ECRPY_CONFIG": str(path)})
    assert code == 1
    detail = find(document, "config", "config file")[0]["detail"]
    assert f"{path}:2:" in detail and "profil" in detail


def test_config_file_entries_are_listed(
    helper: Helper, ecr: StandIn, setup: dict[str, str], home: Path
) -> None:
    path = home / "ecrpy.toml"
    path.write_text(
        '[registries."registry.example.com"]\naccount = "123456789012"\nregion = "eu-west-1"\n'
        'role_arn = "arn:aws:iam::123456789012:role/pull"\nexternal_id = "secret-ish"\n'
        '\n# found by the name the checker gives it\n[registries."*.Example.ORG."]\nprofile = "p"\n'
    )
    env = {**setup, "ECRPY_CONFIG": str(path)}
    code, document = run_json(helper, env, "registry.example.com")
    assert code == 1, "the alias has no credHelpers entry yet"
    entry = find(document, "config", "registry.example.com")[0]
    assert entry["line"] == 1
    assert find(document, "config", "*.example.org")[0]["line"] == 8
    assert "alias of account 123456789012 in eu-west-1" in entry["detail"]
    assert "role arn:aws:iam::123456789012:role/pull" in entry["detail"]
    assert "secret-ish" not in json.dumps(document)
    assert find(document, "get", "registry")[0]["detail"].startswith("alias of account")
    assert find(document, "get", "first get")[0]["status"] == "ok"
    assert ecr.calls("sts:AssumeRole") == 1


def test_live_get_failure_is_diagnosed(helper: Helper, ecr: StandIn, setup: dict[str, str]) -> None:
    ecr.fault("AccessDeniedException", times=10)
    code, document = run_json(helper, setup, HOST)
    assert code == 1
    check = find(document, "get", "first get")[0]
    assert check["status"] == "fail"
    assert "ecr:GetAuthorizationToken" in check["detail"]
    assert not find(document, "get", "second get")


def test_no_credentials_anywhere(helper: Helper, ecr: StandIn, setup: dict[str, str]) -> None:
    env = {
        k: v for k, v in setup.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    code, document = run_json(helper, env, HOST)
    assert code == 1
    assert find(document, "aws", "credentials")[0]["status"] == "fail"
    assert "no AWS credentials" in find(document, "get", "first get")[0]["detail"]


def test_not_an_ecr_host(helper: Helper, ecr: StandIn, setup: dict[str, str]) -> None:
    code, document = run_json(helper, setup, "ghcr.io")
    assert code == 1
    assert "not an Amazon ECR hostname" in find(document, "get", "ghcr.io")[0]["detail"]
    assert ecr.calls() == 0


def test_unsafe_cache_directory(helper: Helper, ecr: StandIn, setup: dict[str, str]) -> None:
    cache = Path(setup["AWS_ECR_CACHE_DIR"])
    cache.mkdir(mode=0o700)
    cache.chmod(0o777)
    code, document = run_json(helper, setup)
    assert code == 0
    check = find(document, "cache", "directory")[0]
    assert check["status"] == "warn" and "open to other users" in check["detail"]


@pytest.mark.parametrize("directory", ["/proc/ecrpy-test-cache", "/proc/ecrpy-test/cache"])
def test_a_cache_directory_that_cannot_be_made_is_a_warning(
    helper: Helper, ecr: StandIn, setup: dict[str, str], directory: str
) -> None:
    """Every get warns and works without the cache; doctor said "ok (0 tokens)"."""
    env = {**setup, "AWS_ECR_CACHE_DIR": directory}
    result = helper.get(env=env)
    assert result.returncode == 0 and "working without the cache" in result.stderr
    code, document = run_json(helper, env)
    assert code == 0
    check = find(document, "cache", "directory")[0]
    assert check["status"] == "warn"
    made = directory.rpartition("/")[0] if directory.count("/") > 2 else directory
    assert f"cache directory {directory}: cannot create {made}: " in check["detail"]
    assert "working without the cache" in check["detail"]
    assert "AWS_ECR_CACHE_DIR" in check["detail"]
    text = helper.run("doctor", stdin="", env=env).stdout
    assert "Nothing broken; " in text and " 0 warning" not in text


def test_doctor_leaves_no_cache_directory_behind(
    helper: Helper, ecr: StandIn, setup: dict[str, str], home: Path
) -> None:
    """It finds out whether the cache can be made by making it, and removes it again."""
    env = {**setup, "AWS_ECR_CACHE_DIR": str(home / "new" / "cache")}
    code, document = run_json(helper, env)
    assert code == 0
    assert find(document, "cache", "directory")[0]["status"] == "ok"
    assert not (home / "new").exists()


@pytest.fixture
def https_port() -> Iterator[int]:
    """A port that takes connections and says nothing: far enough for a client to set up
    TLS, which is where a CA bundle is opened."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("where", ["env", "profile"])
def test_a_missing_ca_bundle_is_named_by_get_and_by_doctor(
    helper: Helper, ecr: StandIn, setup: dict[str, str], home: Path, https_port: int, where: str
) -> None:
    """get said "TLS verification failed ... point AWS_CA_BUNDLE at its CA certificate"
    (it was), and doctor showed the setting as info."""
    missing = home / "corp-ca.pem"
    env = {**setup, "AWS_ENDPOINT_URL_ECR": f"https://127.0.0.1:{https_port}"}
    if where == "env":
        env["AWS_CA_BUNDLE"], source = str(missing), "AWS_CA_BUNDLE"
    else:
        (home / ".aws" / "config").write_text(f"[default]\nca_bundle = {missing}\n")
        source = "ca_bundle of profile 'default'"
    result = helper.get(env=env)
    assert result.returncode == 1
    assert result.stdout.startswith(
        f"the CA bundle {missing} named by {source} is missing (no such file)"
    ), result.stdout
    code, document = run_json(helper, env)
    assert code == 1
    check = find(document, "aws", "CA bundle")[0]
    assert check["status"] == "fail"
    assert check["detail"] == result.stdout.strip()
    missing.write_text("")  # there: doctor shows it, no longer as a problem
    assert find(run_json(helper, env)[1], "aws", "CA bundle")[0]["status"] == "info"


SSO_CONFIG = """[profile dev]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Pull
region = us-east-1

[profile pull]
role_arn = arn:aws:iam::123456789012:role/pull
source_profile = dev

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1
"""


@pytest.mark.parametrize("profile", ["dev", "pull"])
def test_an_expired_sso_session_fails_without_a_host(
    helper: Helper, ecr: StandIn, setup: dict[str, str], home: Path, profile: str
) -> None:
    """It showed as ok unless a HOST made doctor run a get, which fails."""
    (home / ".aws" / "config").write_text(SSO_CONFIG)
    tokens = home / ".aws" / "sso" / "cache"
    tokens.mkdir(parents=True)
    token = tokens / (hashlib.sha1(b"corp", usedforsecurity=False).hexdigest() + ".json")
    token.write_text(json.dumps({"accessToken": "opaque", "expiresAt": "2020-01-02T03:04:05Z"}))
    secrets = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    env = {k: v for k, v in setup.items() if k not in secrets} | {"AWS_PROFILE": profile}
    result = helper.get(env=env)
    assert result.returncode == 1 and ecr.calls() == 0
    code, document = run_json(helper, env)
    assert code == 1
    check = find(document, "aws", "SSO session")[0]
    assert check["status"] == "fail"
    assert "expired at 2020-01-02 03:04:05 UTC" in check["detail"]
    assert "`aws sso login --profile dev`" in check["detail"]
    assert "opaque" not in json.dumps(document)
    token.write_text(json.dumps({"accessToken": "opaque", "expiresAt": "2999-01-01T00:00:00Z"}))
    assert find(run_json(helper, env)[1], "aws", "SSO session")[0]["status"] == "ok"
    token.unlink()
    check = find(run_json(helper, env)[1], "aws", "SSO session")[0]
    assert check["status"] == "fail" and "no login on this machine" in check["detail"]


# -- the credential-source inspection, in-process ------------------------------------------


def test_a_recorded_failure_and_its_backoff_are_shown(
    helper: Helper, ecr: StandIn, setup: dict[str, str]
) -> None:
    ecr.fault("ThrottlingException", times=10**6, message="Rate exceeded")
    env = {**setup, "ECRPY_TIMEOUT": "2s"}
    assert helper.get(env=env).returncode == 1
    _, document = run_json(helper, env)
    (check,) = [c for c in find(document, "cache", HOST) if "failure" in c]
    assert check["status"] == "warn"
    assert check["failure"] == "Throttled" and check["failures"] == 1
    identity = keys.fingerprint(env)[: keys.SHORT_DIGITS]
    assert (check["identity"], check["scope"]) == (identity, "ecr us-east-1 aws")
    assert check["detail"].startswith(
        f"identity {identity}, ecr us-east-1 aws: last refresh failed "
    )
    assert "AWS throttled ecr:GetAuthorizationToken" in check["detail"]
    assert "no get calls AWS for it for " in check["detail"]
    assert 15 <= check["retry_at"] - check["failed_at"] <= 30
    result = helper.run("doctor", stdin="", env=env)  # and in words, for people
    assert "last refresh failed" in result.stdout


def test_tokens_shows_every_token_and_failure_at_a_glance(
    helper: Helper, ecr: StandIn, setup: dict[str, str]
) -> None:
    """``doctor --tokens``: the cache section alone, whatever else is broken, with whose
    each token is, when it was issued, when it expires and is refreshed; and the failures."""
    eu = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    helper.answer(env=setup)
    ecr.config(ttl=3600)
    due = {**setup, "ECRPY_REFRESH_WINDOW": "2h"}  # an hour's token: due at once
    helper.answer(eu, env=due)
    other = {**setup, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLEOTHERKEY3"}
    ecr.fault("AccessDeniedException", times=1, message="not authorized")
    assert helper.get(env=other).returncode == 1
    broken = {**due, "DOCKER_CONFIG": "/nonexistent", "PATH": "/nonexistent"}
    result = helper.run("doctor", "--tokens", "--json", stdin="", env=broken)
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert {check["section"] for check in document["checks"]} == {"cache"}
    (us,) = [c for c in find(document, "cache", HOST) if "failure" not in c]
    (failed,) = [c for c in find(document, "cache", HOST) if "failure" in c]
    (europe,) = find(document, "cache", eu)
    mine = keys.fingerprint(setup)[: keys.SHORT_DIGITS]
    assert (us["identity"], us["scope"], us["status"]) == (mine, "ecr us-east-1 aws", "ok")
    assert us["expires_at"] == pytest.approx(us["issued_at"] + 12 * 3600, abs=5)
    assert us["refresh_at"] == us["expires_at"] - 2 * 3600  # ECRPY_REFRESH_WINDOW
    assert "next refresh " in us["detail"] and f"identity {mine}" in us["detail"]
    assert (europe["identity"], europe["scope"]) == (mine, "ecr eu-west-1 aws")
    assert "refresh due" in europe["detail"]
    assert failed["identity"] == keys.fingerprint(other)[: keys.SHORT_DIGITS] != mine
    assert failed["failure"] == "AccessDenied" and failed["retry_at"] > failed["failed_at"]
    assert ecr.password not in result.stdout
    text = helper.run("doctor", "--tokens", stdin="", env=broken)
    assert text.returncode == 0 and "Token cache" in text.stdout and "Docker" not in text.stdout
    assert f"identity {mine}, ecr us-east-1 aws: issued " in text.stdout
    usage = helper.run("doctor", "--tokens", HOST, stdin="", env=setup)
    assert usage.returncode == 1 and "--tokens takes no HOST" in usage.stdout


def test_tokens_marks_what_the_current_identity_uses(
    helper: Helper, ecr: StandIn, setup: dict[str, str], home: Path
) -> None:
    """An unrelated edit of ~/.aws/config changes the identity's fingerprint: the next get
    fetches a second token for the host, and doctor listed both with nothing saying which
    one gets use."""
    aws_config = home / ".aws" / "config"
    aws_config.write_text("[default]\nregion = us-east-1\n")
    helper.answer(env=setup)
    old = keys.short(keys.fingerprint(setup))
    aws_config.write_text("[default]\nregion = us-east-1\n\n[profile unrelated]\nregion = x\n")
    helper.answer(env=setup)
    new = keys.short(keys.fingerprint(setup))
    assert ecr.calls() == 2 and old != new
    _, document = run_json(helper, setup, "--tokens")
    marks = {check["identity"]: check["current"] for check in find(document, "cache", HOST)}
    assert marks == {old: False, new: True}
    text = helper.run("doctor", "--tokens", stdin="", env=setup).stdout
    (mine,) = [line for line in text.splitlines() if f"identity {new}" in line]
    (other,) = [line for line in text.splitlines() if f"identity {old}" in line]
    assert mine.endswith("; the current identity's")
    assert other.endswith(f"; not the current identity ({new}): no get uses it")
    # A profile for the registry in the configuration file is part of the identity, as
    # it is of the cache key: now neither token is the one a get would use.
    (home / ".aws" / "credentials").write_text(
        "[pull]\naws_access_key_id = AKIDEXAMPLEPULLKEY01\naws_secret_access_key = x\n"
    )
    toml = home / "ecrpy.toml"
    toml.write_text(f'[registries."{HOST}"]\nprofile = "pull"\n')
    env = {**setup, "ECRPY_CONFIG": str(toml)}
    _, document = run_json(helper, env, "--tokens")
    assert {check["current"] for check in find(document, "cache", HOST)} == {False}
    helper.answer(env=env)
    _, document = run_json(helper, env, "--tokens")
    assert sorted(check["current"] for check in find(document, "cache", HOST)) == [
        False,
        False,
        True,
    ]


@pytest.mark.parametrize("trouble", ["open to others", "a directory", "parent is a file"])
def test_an_activity_log_that_gets_cannot_write_is_a_warning(
    helper: Helper, ecr: StandIn, setup: dict[str, str], home: Path, trouble: str
) -> None:
    """Every get warns "cannot write the activity log"; doctor did not look at the log."""
    log = home / "logs" / "activity.log"
    log.parent.mkdir(mode=0o700)
    if trouble == "open to others":
        log.write_text("")
        log.chmod(0o644)
        says = f"{log} is not private to this user"
    elif trouble == "a directory":
        log.mkdir()
        says = f"{log} is a directory, not a regular file"
    else:
        (home / "logs" / "file").write_text("")
        log = home / "logs" / "file" / "activity.log"
        says = f"log path {log.parent} is not a directory"
    env = {**setup, "ECRPY_LOG": str(log)}
    result = helper.get(env=env)
    assert result.returncode == 0 and "cannot write the activity log" in result.stderr
    code, document = run_json(helper, env)
    assert code == 0
    (check,) = find(document, "log", "activity log")
    assert check["status"] == "warn", check
    assert says in check["detail"] and "ECRPY_LOG" in check["detail"]


def test_a_working_activity_log_is_ok(helper: Helper, ecr: StandIn, setup: dict[str, str]) -> None:
    helper.answer(env=setup)
    (check,) = find(run_json(helper, setup)[1], "log", "activity log")
    assert (check["status"], check["path"]) == ("ok", setup["ECRPY_LOG"])
    off = {k: v for k, v in setup.items() if k != "ECRPY_LOG"}
    (check,) = find(run_json(helper, off)[1], "log", "activity log")
    assert check["status"] == "info" and check["detail"].startswith("off")


def test_a_shared_file_that_every_get_warns_about_is_a_warning(
    helper: Helper, ecr: StandIn, setup: dict[str, str], home: Path
) -> None:
    """A FIFO as ~/.aws/config: every get warns (and goes on, as the AWS SDK does)."""
    fifo = home / ".aws" / "config"
    os.mkfifo(fifo)
    result = helper.get(env=setup)
    assert result.returncode == 0 and f"{fifo} is a FIFO" in result.stderr
    code, document = run_json(helper, setup)
    assert code == 0
    (check,) = find(document, "aws", "shared files")
    assert check["status"] == "warn"
    assert check["detail"].startswith(f"{fifo} is a FIFO, not a regular file")


def test_what_makes_every_get_for_a_registry_fail_is_a_problem(
    helper: Helper, ecr: StandIn, setup: dict[str, str], home: Path
) -> None:
    """A credential_process that cannot be started, a profile the configuration file
    names that does not exist, or whose SSO session has expired: every get fails, and
    doctor said ok (or, for the file's profile, said nothing)."""
    secrets = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    bare = {k: v for k, v in setup.items() if k not in secrets}
    (home / ".aws" / "config").write_text("[default]\ncredential_process = ecrpy-no-such-tool\n")
    assert helper.get(env=bare).returncode == 1
    code, document = run_json(helper, bare)
    assert code == 1
    check = find(document, "aws", "credentials")[0]
    assert check["status"] == "fail" and "runs ecrpy-no-such-tool, which is not" in check["detail"]
    (home / ".aws" / "config").write_text(SSO_CONFIG)
    toml = home / "ecrpy.toml"
    toml.write_text(f'[registries."{HOST}"]\nprofile = "ghost"\n')
    env = {**setup, "ECRPY_CONFIG": str(toml)}
    assert helper.get(env=env).returncode == 1
    code, document = run_json(helper, env)
    assert code == 1
    (check,) = find(document, "config", f"{HOST} profile")
    assert check["status"] == "fail" and "profile ghost is not defined" in check["detail"]
    toml.write_text(f'[registries."{HOST}"]\nprofile = "pull"\n')  # SSO, never logged in
    assert helper.get(env=env).returncode == 1
    code, document = run_json(helper, env)
    assert code == 1
    (check,) = find(document, "config", f"{HOST} profile")
    assert check["status"] == "fail"
    assert "profile dev: SSO session corp: no login on this machine" in check["detail"]
    assert ecr.calls() == 0


def test_cache_files_a_get_ignores_are_listed(
    helper: Helper, ecr: StandIn, setup: dict[str, str]
) -> None:
    """A token file others may read (a copy made with the wrong mode) is read as absent:
    doctor said "ok (0 tokens)" beside it, with no word of why."""
    helper.answer(env=setup)
    token = next(helper.cache_dir.glob("*.token"))
    token.chmod(0o644)
    (helper.cache_dir / "damaged.failure").write_bytes(b"ecrpy-failure 3\n")
    (helper.cache_dir / "damaged.failure").chmod(0o600)
    code, document = run_json(helper, setup)
    assert code == 0
    assert find(document, "cache", "directory")[0]["detail"].endswith("(0 tokens)")
    ignored = {check["path"]: check for check in find(document, "cache", "ignored file")}
    assert set(ignored) == {str(token), str(helper.cache_dir / "damaged.failure")}
    assert f"{token} is not private to this user" in ignored[str(token)]["detail"]
    assert "does not parse" in ignored[str(helper.cache_dir / "damaged.failure")]["detail"]
    assert {check["status"] for check in ignored.values()} == {"info"}
    helper.answer(env=setup)  # fetched anew, over it
    assert ecr.calls() == 2
    assert find(run_json(helper, setup)[1], "cache", "ignored file") == []  # healed, pruned
