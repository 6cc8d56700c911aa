"""Credential sources that misbehave the way the field does, for the suites and the
benchmarks: a ``credential_process`` profile in a config file of its own."""

from __future__ import annotations

import json
from pathlib import Path

PROFILE = "vault"


def credential_process(directory: Path, body: str) -> Path:
    """An AWS config file in ``directory`` whose profile PROFILE runs the shell ``body``
    as its credential_process (rewritten in place when called again); the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "vault"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o700)
    config = directory / "config"
    config.write_text(f"[profile {PROFILE}]\ncredential_process = {script}\n")
    return config


def answering(key_id: str, secret: str) -> str:
    """A credential_process body that answers with these keys, as botocore expects."""
    document = {"Version": 1, "AccessKeyId": key_id, "SecretAccessKey": secret}
    return f"echo '{json.dumps(document)}'"


def killing_once(flag: Path, key_id: str, secret: str) -> str:
    """A credential_process body that kills its parent (our AWS worker; the Go helper
    itself) with SIGKILL the first time any process runs it, as the OOM killer would, and
    answers with the keys after that. ``mkdir`` of ``flag`` is the atomic test-and-set
    across parallel gets."""
    return f"if mkdir {flag} 2>/dev/null; then kill -KILL $PPID; sleep 5; exit 1; fi\n" + answering(
        key_id, secret
    )
