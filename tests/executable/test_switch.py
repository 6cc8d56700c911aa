"""Switching from the Go helper: ``configure`` on a Docker config.json that names
``ecr-login`` switches every such entry (``credHelpers`` values, ``credsStore``) to
``ecrpy``, whatever hosts it was asked for, keeps every other byte of a file Docker
wrote, shows the diff, says what it switched and how to switch back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.constants import HOST, HOST2
from tests.support.helper import Helper
from tests.support.standin import StandIn
from tests.support.toolkit import configure, read, with_env

SYDNEY_HOST = "987654321098.dkr.ecr.ap-southeast-2.amazonaws.com"
STORED_LOGIN = "QVdTOm9sZC1wYXNzd29yZA=="

# A Go helper user's file, as Docker writes it: ecr-login for several registries and as
# the store, beside another helper, a stored login, and numbers of another tool.
GO_USER: dict[str, Any] = {
    "auths": {"ghcr.io": {"auth": STORED_LOGIN}},
    "credHelpers": {
        HOST2: "ecr-login",
        "public.ecr.aws": "ecr-login",
        "gcr.io": "gcloud",
        SYDNEY_HOST: "ecr-login",
    },
    "credsStore": "ecr-login",
    "plugins": {"x": {"retries": 3, "ratio": 2.50}},
}


@pytest.fixture
def docker_dir(home: Path) -> Path:
    path = home / "dockercfg"
    path.mkdir()
    return path


def write_as_docker_does(docker_dir: Path, document: dict[str, Any]) -> str:
    """The file as ``docker login`` leaves it: tab-indented, no final newline; the
    number 2.50 kept as written (json.dumps would write 2.5)."""
    text = json.dumps(document, indent="\t", ensure_ascii=False).replace("2.5", "2.50")
    (docker_dir / "config.json").write_text(text, encoding="utf-8")
    return text


def test_switches_every_entry_that_names_ecr_login(helper: Helper, docker_dir: Path) -> None:
    """Asked for one host, it switches the others and the store as well; a file Docker
    wrote changes in those values alone, byte for byte."""
    document = {**GO_USER, "credHelpers": {HOST: "ecr-login", **GO_USER["credHelpers"]}}
    old_text = write_as_docker_does(docker_dir, document)
    result = configure(helper, docker_dir, HOST)
    assert result.returncode == 0, result.stdout
    new_text = (docker_dir / "config.json").read_text(encoding="utf-8")
    assert new_text == old_text.replace('"ecr-login"', '"ecrpy"')
    assert (docker_dir / "config.json.bak").read_text(encoding="utf-8") == old_text
    lines = result.stdout.splitlines()
    for entry in (HOST, HOST2, "public.ecr.aws", SYDNEY_HOST, "credsStore"):
        assert f"  + {entry}: ecrpy (was ecr-login)" in lines, result.stdout
    assert not [line for line in lines if line.startswith("  ") and "gcr.io" in line], (
        "an entry of another helper is neither changed nor listed"
    )
    assert '-\t"credsStore": "ecr-login",' in lines, "the diff is shown"
    assert '+\t"credsStore": "ecrpy",' in lines
    assert "Switched 5 entries from docker-credential-ecr-login" in result.stdout
    assert str(docker_dir / "config.json.bak") in result.stdout.splitlines()[-1]
    assert STORED_LOGIN not in result.stdout + result.stderr


def test_without_hosts_switches_them_too(helper: Helper, ecr: StandIn, docker_dir: Path) -> None:
    write_as_docker_does(docker_dir, GO_USER)
    result = configure(helper, docker_dir, AWS_REGION="eu-west-1")
    assert result.returncode == 0, result.stdout
    assert ecr.calls("sts:GetCallerIdentity") == 1
    document = read(docker_dir)
    assert document["credHelpers"] == {
        HOST2: "ecrpy",
        "public.ecr.aws": "ecrpy",
        "gcr.io": "gcloud",
        SYDNEY_HOST: "ecrpy",
    }
    assert document["credsStore"] == "ecrpy"
    assert "Switched 4 entries" in result.stdout


def test_a_store_alone_is_switched(helper: Helper, docker_dir: Path) -> None:
    write_as_docker_does(docker_dir, {"credsStore": "ecr-login"})
    result = configure(helper, docker_dir, HOST)
    assert result.returncode == 0, result.stdout
    assert read(docker_dir) == {"credsStore": "ecrpy", "credHelpers": {HOST: "ecrpy"}}
    assert "  + credsStore: ecrpy (was ecr-login)" in result.stdout.splitlines()
    assert "Switched 1 entry from" in result.stdout


def test_dry_run_shows_the_switch_and_writes_nothing(helper: Helper, docker_dir: Path) -> None:
    old_text = write_as_docker_does(docker_dir, GO_USER)
    result = configure(helper, docker_dir, "--dry-run", HOST)
    assert result.returncode == 0, result.stdout
    assert '+\t\t"public.ecr.aws": "ecrpy",' in result.stdout.splitlines()
    assert "  + credsStore: ecrpy (was ecr-login)" in result.stdout.splitlines()
    assert "Dry run: nothing was written." in result.stdout
    assert (docker_dir / "config.json").read_text(encoding="utf-8") == old_text
    assert not (docker_dir / "config.json.bak").exists()


def test_the_backup_switches_back(helper: Helper, docker_dir: Path) -> None:
    """What the last line says to do restores the Go helper's file exactly."""
    old_text = write_as_docker_does(docker_dir, GO_USER)
    assert configure(helper, docker_dir, HOST).returncode == 0
    (docker_dir / "config.json.bak").replace(docker_dir / "config.json")
    assert (docker_dir / "config.json").read_text(encoding="utf-8") == old_text
    again = configure(helper, docker_dir, HOST)
    assert "Switched 4 entries" in again.stdout, "and switching again works as the first time"


def test_the_diff_never_shows_a_stored_login(helper: Helper, docker_dir: Path) -> None:
    """A removed stale login, or one beside an edited line, is shown masked."""
    document = {"auths": {HOST: {"auth": STORED_LOGIN, "identitytoken": "opaque-token"}}}
    (docker_dir / "config.json").write_text(json.dumps(document), encoding="utf-8")
    for args in (("--dry-run",), ()):
        result = configure(helper, docker_dir, *args, "--remove-stale-auths", HOST)
        assert result.returncode == 0, result.stdout
        assert '-{"auths": {"' + HOST + '": {"auth": "***", "identitytoken": "***"}}}' in (
            result.stdout.splitlines()
        )
        assert STORED_LOGIN not in result.stdout and "opaque-token" not in result.stdout


def test_the_go_helpers_cache_dir_setting_carries_over(
    helper: Helper, ecr: StandIn, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AWS_ECR_CACHE_DIR=~/.ecr``, unexpanded as a systemd unit or an env file leaves
    it, names the directory in HOME, as it does for the Go helper: not a directory
    called ``~`` in whatever directory Docker was started from."""
    workdir = home / "project"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    env = with_env(helper, AWS_ECR_CACHE_DIR="~/.ecr")
    for _ in range(2):
        result = helper.run("get", env=env)
        assert result.returncode == 0, result.stdout
    assert ecr.calls() == 1, "the second get was a hit"
    assert list((home / ".ecr").iterdir()), "the token is cached in ~/.ecr"
    assert not (workdir / "~").exists()
