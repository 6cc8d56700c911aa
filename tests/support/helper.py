"""The helper executable run exactly as Docker runs it, every output checked for leaks.

Every helper run goes through ``Helper.run``, which checks each output for the stand-in's
secret: it may appear only in the ``Secret`` field of a successful ``get``. So every test
of the suite doubles as a scan for leaked tokens. Every helper also keeps the activity
log, at its most detailed, and at the end of each test ``Helper.check_log`` reads it: one
well-formed line after another, and no token, key id or secret anywhere, whatever fault
the test injected.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.constants import (
    ACCESS_KEY_ID,
    ENDPOINT_VARIABLES,
    HOST,
    KEY_ID,
    LOG_FIELDS,
    SECRET_ACCESS_KEY,
)
from tests.support.standin import StandIn


def require_proc() -> None:
    """Skip the calling test where there is no /proc (macOS): it watches a process's
    state, descriptors, command line or environment there, as only Linux lets it."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("watches processes through /proc, which only Linux has")


def helper_executable() -> str:
    """The executable under test: ECRPY_TEST_EXE (e.g. the PyInstaller binary), else the
    console script installed next to this interpreter."""
    chosen = os.environ.get("ECRPY_TEST_EXE")
    if chosen:
        return chosen
    script = Path(sys.executable).parent / "docker-credential-ecrpy"
    if script.exists():
        return str(script)
    found = shutil.which("docker-credential-ecrpy")
    if not found:
        pytest.exit("docker-credential-ecrpy is not installed; run `make test`", 2)
    return found


def no_real_aws(
    home: Path, key_id: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY
) -> dict[str, str]:
    """An environment that inherits nothing that could reach real AWS: dummy keys, no
    instance metadata, the shared files under ``home`` (the benchmarks' too)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
    }


def base_env(home: Path, standin: StandIn | None) -> dict[str, str]:
    """A test's environment: no real AWS, a cache of its own, and the activity log at its
    most detailed (which every test then reads back)."""
    env = {
        **no_real_aws(home),
        "AWS_ECR_CACHE_DIR": str(home / "cache"),
        "ECRPY_LOG": str(home / "log" / "activity.log"),
        "ECRPY_LOG_LEVEL": "debug",
    }
    if standin is not None:
        for name in ENDPOINT_VARIABLES:
            env[name] = standin.url
    return env


class Helper:
    """Runs the helper executable exactly as Docker does: one action argument, the input
    on stdin, stdout captured; and checks every output for leaked secrets."""

    def __init__(self, env: dict[str, str], secret: str) -> None:
        self.exe = helper_executable()
        self.env = env
        self.secret = secret

    @property
    def cache_dir(self) -> Path:
        return Path(self.env["AWS_ECR_CACHE_DIR"])

    @property
    def log_path(self) -> Path:
        return Path(self.env["ECRPY_LOG"])

    def log_lines(self, path: Path | None = None) -> list[dict[str, Any]]:
        """The lines of the activity log (or of ``path``), parsed, each checked for every
        field, and the whole file for leaks (``check_log``)."""
        path = path or self.log_path
        if not path.exists():
            return []
        text = path.read_text()
        self.check_no_leak_in(text, f"the activity log {path.name}")
        assert text.endswith("\n"), "the log ends in the middle of a line"
        lines = []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                parsed = json.loads(line)
            except ValueError:
                raise AssertionError(
                    f"line {number} of {path.name} is not JSON: {line!r}"
                ) from None
            assert isinstance(parsed, dict), f"line {number} is not an object"
            missing = LOG_FIELDS - set(parsed)
            assert not missing, f"line {number} lacks {missing}: {line}"
            lines.append(parsed)
        return lines

    def check_log(self) -> None:
        """Both files of the activity log (the current one and the rotated ``.1``)."""
        if "ECRPY_LOG" in self.env:
            for path in (Path(f"{self.log_path}.1"), self.log_path):
                self.log_lines(path)

    def check_no_leak_in(self, text: str, where: str) -> None:
        token = base64.b64encode(f"AWS:{self.secret}".encode()).decode()
        for value in (self.secret, SECRET_ACCESS_KEY, token[:16]):
            assert value not in text, f"a secret leaked into {where}"
        found = KEY_ID.search(text)
        assert found is None, f"an access key id leaked into {where}: {found and found[0]}"

    def run(
        self,
        *args: str,
        stdin: str | bytes = HOST,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        done = subprocess.run(
            [self.exe, *args],
            input=data,
            capture_output=True,
            env=dict(env if env is not None else self.env),
            timeout=timeout,
        )
        result = subprocess.CompletedProcess(
            done.args,
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )
        self.check_no_leak(result)
        return result

    def check_no_leak(self, result: subprocess.CompletedProcess[str]) -> None:
        assert "Traceback" not in result.stderr + result.stdout, "a traceback reached the user"
        for value in (self.secret, SECRET_ACCESS_KEY):
            assert value not in result.stderr, "a secret leaked to stderr"
            if value in result.stdout:
                answer = json.loads(result.stdout)
                assert result.args[1:] == ["get"], "a secret leaked outside a get answer"
                assert value == self.secret, "an AWS secret key reached stdout"
                assert set(answer) == {"ServerURL", "Username", "Secret"}
                assert value not in (answer["ServerURL"], answer["Username"])

    def python_command(self) -> list[str]:
        """The command line of the Python process behind the executable: what the
        installed script execs (see scripts/docker-credential-ecrpy), read from /proc
        while that process waits for its input. For an executable that is no such script
        (the binary, whose bootloader starts its Python without site too), the script
        installed beside this interpreter: the package's imports are the same."""
        require_proc()
        exe = self.exe
        if not (Path(exe).parent / "ecrpy-start").is_file():
            exe = str(Path(sys.executable).parent / "docker-credential-ecrpy")
        with subprocess.Popen(
            [exe, "get"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=self.env
        ) as process:
            deadline = time.monotonic() + 30
            try:
                while time.monotonic() < deadline and process.poll() is None:
                    with open(f"/proc/{process.pid}/cmdline", "rb") as file:
                        argv = [arg.decode() for arg in file.read().split(b"\0")[:-1]]
                    if "-I" in argv:  # the shell has exec'd the interpreter
                        return argv[:-1]  # without "get"
                    time.sleep(0.001)
            finally:
                process.kill()
        raise AssertionError(f"{exe} never started Python with -I")

    def imports(
        self, server: str = HOST, env: Mapping[str, str] | None = None, *, status: int = 0
    ) -> set[str]:
        """The modules a ``get`` loads, from ``python -X importtime`` running the Python
        process behind the executable (``python_command``).

        The probe must have run the package and ended as that ``get`` should (exit
        ``status``, no traceback): a probe that died before it imported anything would
        otherwise prove that a path imports nothing heavy."""
        python, *args = self.python_command()
        done = subprocess.run(
            [python, "-X", "importtime", *args, "get"],
            input=server.encode(),
            capture_output=True,
            env=dict(env if env is not None else self.env),
            check=False,
        )
        stderr = done.stderr.decode("utf-8", "replace")
        leaked = any(value in stderr for value in (self.secret, SECRET_ACCESS_KEY))
        assert not leaked, "a secret leaked to stderr"  # before any of it is shown below
        lines = stderr.splitlines()
        timings = [line for line in lines if line.startswith("import time:")]
        # What the probe said besides its import timings: the reason it failed, if it did.
        said = "\n".join(line for line in lines if not line.startswith("import time:"))[-2000:]
        crashed = "Traceback" in stderr
        assert not crashed, f"the import probe crashed:\n{said}"
        assert done.returncode == status, (
            f"the import probe exited {done.returncode}, not {status}:\n{said}"
        )
        modules = {line.split("|")[-1].strip() for line in timings}
        ran = "docker_credential_ecrpy.protocol" in modules
        assert ran, f"the probe never ran the get:\n{said}"
        return modules

    def get(self, server: str = HOST, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run("get", stdin=server, **kwargs)

    def answer(self, server: str = HOST, **kwargs: Any) -> dict[str, str]:
        """A successful get's JSON answer."""
        result = self.get(server, **kwargs)
        assert result.returncode == 0, (
            f"get failed: {result.stdout.strip()} {result.stderr.strip()}"
        )
        answer: dict[str, str] = json.loads(result.stdout)
        return answer
