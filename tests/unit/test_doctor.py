"""doctor's pure parts: where the credentials come from, and colour only when asked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docker_credential_ecrpy.commands import doctor


@pytest.mark.parametrize(
    ("config", "credentials", "env", "status", "source"),
    [
        ("", "", {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}, "ok", "env"),
        ("", "", {"AWS_ACCESS_KEY_ID": "k"}, "fail", "env"),
        ("", "[default]\naws_access_key_id = k\n", {}, "ok", "shared-credentials-file"),
        (
            "[profile dev]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\n",
            "",
            {"AWS_PROFILE": "dev"},
            "ok",
            "assume-role",
        ),
        ("[profile sso]\nsso_session = corp\n", "", {"AWS_PROFILE": "sso"}, "ok", "sso"),
        ("[default]\ncredential_process = /bin/true --x 'a b'\n", "", {}, "ok", "process"),
        ("[default]\ncredential_process = /nonexistent/creds\n", "", {}, "fail", "process"),
        ("[default]\ncredential_process = creds 'a\n", "", {}, "fail", "process"),
        ("", "", {"AWS_PROFILE": "ghost"}, "fail", "profile"),
        ("", "", {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/x"}, "ok", "container"),
        ("", "", {}, "warn", "instance-metadata"),
        ("", "", {"AWS_EC2_METADATA_DISABLED": "true"}, "fail", "none"),
    ],
)
def test_credential_source(
    tmp_path: Path,
    config: str,
    credentials: str,
    env: dict[str, str],
    status: str,
    source: str,
) -> None:
    (tmp_path / "config").write_text(config)
    (tmp_path / "credentials").write_text(credentials)
    full = {
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        **env,
    }
    found_status, detail, found_source = doctor.credential_source(full)
    assert (found_status, found_source) == (status, source), detail
    assert "k" not in detail.split() and "s" not in detail.split()


def test_colour_only_when_asked() -> None:
    import io

    checks = [
        doctor.Check("docker", "config file", "ok", "/x/config.json"),
        doctor.Check("executable", "on PATH", "fail", "not found"),
    ]
    plain, coloured = io.StringIO(), io.StringIO()
    doctor.render(checks, plain, colour=False)
    doctor.render(checks, coloured, colour=True)
    assert "\033[" not in plain.getvalue()
    assert "\033[31;1mfail\033[0m" in coloured.getvalue()
    assert re.sub(r"\033\[[0-9;]*m", "", coloured.getvalue()) == plain.getvalue()
    assert "1 problem(s) to fix" in plain.getvalue()
