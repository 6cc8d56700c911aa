"""Each executable answers ``get`` as Docker asks it, against the local ECR stand-in.

    PYTHONPATH=. python packaging/check_get.py EXE...

For each EXE (an installed ``docker-credential-ecrpy``: from a wheel, an sdist, a .deb):
the registry host on stdin, ``get`` as the only argument, a clean environment with dummy
AWS keys and the stand-in's endpoints; the answer must be exactly Docker's JSON with the
stand-in's token, nothing on stderr, and a second ``get`` (a cache hit) the same answer
without another API call. ``make release-check`` runs it; it prints one line per get,
never the secret. Run by the test venv's interpreter (the stand-in needs moto).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.constants import HOST
from tests.support.helper import base_env
from tests.support.standin import StandIn


def check(exe: str, standin: StandIn) -> None:
    with tempfile.TemporaryDirectory(prefix="ecrpy-release-check-") as home:
        env = base_env(Path(home), standin)
        for attempt, calls in (("miss", 1), ("hit", 1)):
            done = subprocess.run(
                [exe, "get"],
                input=HOST,
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                check=False,
            )
            answer = json.loads(done.stdout) if done.returncode == 0 else None
            expected = {"ServerURL": HOST, "Username": "AWS"}
            if (
                answer is None
                or done.stderr
                or {key: answer.get(key) for key in expected} != expected
                or answer.get("Secret") != standin.password
                or set(answer) != {"ServerURL", "Username", "Secret"}
                or standin.calls() != calls
            ):
                shown = done.stdout.replace(str(standin.password), "<secret>")
                raise SystemExit(
                    f"{exe} get ({attempt}): exit {done.returncode}, stdout {shown!r}, "
                    f"stderr {done.stderr!r}, {standin.calls()} API calls"
                )
            print(
                f"$ echo {HOST} | {exe} get    # {attempt}: exit 0, "
                f'{{"ServerURL": "{answer["ServerURL"]}", "Username": "AWS", '
                f'"Secret": <the stand-in\'s {len(answer["Secret"])}-character token>}}, '
                f"{standin.calls()} API call(s) in all"
            )


def main(exes: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="ecrpy-release-standin-") as logs:
        password = f"ecrpy-release-{secrets.token_hex(12)}"
        # Its request log in a file, out of the transcript.
        with StandIn.start(password=password, log=Path(logs) / "standin.log") as standin:
            for exe in exes:
                standin.reset()
                check(exe, standin)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
