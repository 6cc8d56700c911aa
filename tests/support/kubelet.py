"""kubelet's side of the image credential provider: its request and response as JSON
Schema (from k8s.io/kubelet's types), and the provider run as kubelet runs it, every
output checked for leaks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema

from tests.support.constants import SECRET_ACCESS_KEY
from tests.support.helper import Helper

V1 = "credentialprovider.kubelet.k8s.io/v1"


# Go's time.ParseDuration syntax.
GO_DURATION = r"^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$"


# k8s.io/kubelet/pkg/apis/credentialprovider/v1 types.go, as JSON Schema.
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "image"],
    "properties": {
        "apiVersion": {"const": V1},
        "kind": {"const": "CredentialProviderRequest"},
        "image": {"type": "string", "minLength": 1},
        "serviceAccountToken": {"type": "string"},
        "serviceAccountAnnotations": {
            "type": "object",
            "additionalProperties": {"type": "string"},
        },
    },
    "additionalProperties": False,
}


RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "cacheKeyType"],
    "properties": {
        "apiVersion": {"const": V1},
        "kind": {"const": "CredentialProviderResponse"},
        "cacheKeyType": {"enum": ["Image", "Registry", "Global"]},
        "cacheDuration": {"type": "string", "pattern": GO_DURATION},
        "auth": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def provider_commands(helper: Helper) -> list[list[str]]:
    """Both ways to run kubelet mode: the console script kubelet is configured with,
    and the subcommand (the only one for a single-file build under ECRPY_TEST_EXE)."""
    commands = [[helper.exe, "kubelet"]]
    script = Path(sys.executable).parent / "ecr-credential-provider-py"
    if not os.environ.get("ECRPY_TEST_EXE") and script.exists():
        commands.insert(0, [str(script)])
    return commands


def run_provider(
    helper: Helper,
    stdin: str | bytes,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """One provider run, checked for leaks: the token may appear only as a password in a
    successful response, AWS keys nowhere; never a traceback."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run(
        command or provider_commands(helper)[0],
        input=data,
        capture_output=True,
        env=env or helper.env,
        timeout=60,
    )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert "Traceback" not in out + err
    assert SECRET_ACCESS_KEY not in out + err
    assert helper.secret not in err, "the token leaked to stderr"
    if helper.secret in out:
        assert done.returncode == 0
        response = json.loads(out)
        passwords = [auth["password"] for auth in response["auth"].values()]
        assert helper.secret in passwords
        assert helper.secret not in json.dumps({k: v for k, v in response.items() if k != "auth"})
    return subprocess.CompletedProcess(done.args, done.returncode, out, err)


def request(image: str, api_version: str = V1) -> str:
    document = {"apiVersion": api_version, "kind": "CredentialProviderRequest", "image": image}
    if api_version == V1:
        jsonschema.validate(document, REQUEST_SCHEMA)
    return json.dumps(document)


def response(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, RESPONSE_SCHEMA)
    return document


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)([hms])", duration))
