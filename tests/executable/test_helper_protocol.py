"""The protocol as Docker drives it: the installed executable as a subprocess, talking to
the ECR API stand-in over HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from docker_credential_ecrpy import __version__, errors
from tests.support.constants import HOST
from tests.support.helper import Helper
from tests.support.standin import StandIn
from tests.support.toolkit import run_with_stdin_open

SPELLINGS = [
    HOST,
    HOST + "\n",
    f"  https://{HOST}:443/  \n",
    f"https://{HOST}",
    f"{HOST}:443",
    f"{HOST}/team/app",
    HOST.upper(),
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_get_answers_every_spelling(helper: Helper, spelling: str) -> None:
    answer = helper.answer(spelling)
    assert answer == {"ServerURL": spelling.strip(), "Username": "AWS", "Secret": helper.secret}


def test_get_output_is_exactly_one_json_object(helper: Helper) -> None:
    result = helper.get()
    assert result.returncode == 0
    assert result.stdout.endswith("}\n")
    assert result.stdout.count("\n") == 1
    assert result.stderr == ""


def test_get_for_public_ecr(helper: Helper, ecr: StandIn) -> None:
    for host in ("public.ecr.aws", "ecr-public.aws.com"):
        assert helper.answer(host)["Username"] == "AWS"
    assert ecr.calls("ecr-public:GetAuthorizationToken") == 1  # one token serves both
    assert ecr.calls() == 0


@pytest.mark.parametrize(
    "host",
    [
        "docker.io",
        "localhost:5000",
        "ghcr.io/owner/repo",
        f"{HOST}.evil.example",
        "12345678901.dkr.ecr.us-east-1.amazonaws.com",
        "nonsense with spaces",
    ],
)
def test_non_ecr_hosts_are_not_found_without_any_call(
    offline_helper: Helper, standin: StandIn, host: str
) -> None:
    before = standin.control("calls")
    result = offline_helper.get(host)
    assert (result.returncode, result.stdout) == (1, errors.NOT_FOUND + "\n")
    assert standin.control("calls") == before


# What a cache hit or a not-found answer must not load: the AWS SDK and the modules that
# cost more than a hit's own work, including os and site, which the interpreter started
# without (scripts/docker-credential-ecrpy). The activity log, when it is on, needs os.
HEAVY = {"botocore", "boto3", "platformdirs", "json", "re", "typing", "hashlib", "tomllib"}
HEAVY |= {"site", "os", "stat"}
NEEDED_BY_THE_LOG = {"os", "stat"}


def without_log(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the activity log off, as it is unless asked for."""
    return {name: value for name, value in env.items() if not name.startswith("ECRPY_LOG")}


@pytest.mark.parametrize("log", ["off", "on"])
@pytest.mark.parametrize("scenario", ["not-found", "hit"])
def test_cheap_paths_never_import_anything_heavy(helper: Helper, scenario: str, log: str) -> None:
    """A not-found answer and a cache hit load nothing heavy; a miss does, in its AWS
    worker, whose stderr (where -X importtime writes) ECRPY_DEBUG keeps: so the check can
    see an import when there is one."""
    host, status = ("docker.io", 1) if scenario == "not-found" else (HOST, 0)
    env = helper.env if log == "on" else without_log(helper.env)
    heavy = HEAVY - NEEDED_BY_THE_LOG if log == "on" else HEAVY
    debug = {**env, "ECRPY_DEBUG": "1"}
    assert "botocore" in helper.imports(HOST, env=debug)  # the miss, which fills the cache
    imported = helper.imports(host, env=env, status=status)
    assert not heavy & imported, f"heavy imports on the {scenario} path: {heavy & imported}"
    ours = {name.split(".", 1)[1] for name in imported if name.startswith(PACKAGE + ".")}
    expected = OURS_ON_A_HIT if scenario == "hit" else OURS_ON_NOT_FOUND
    if log == "on":
        expected = expected | {"activity"}
    assert ours == expected  # a module more is paid on every pull; the package says which


PACKAGE = "docker_credential_ecrpy"
# Our modules a not-found answer loads (no token is looked up for a non-ECR host), and a
# hit, as the package docstring lists them; the activity log, when on, adds "activity".
OURS_ON_NOT_FOUND = {"cli", "protocol", "store", "config_file", "settings", "registry"}
OURS_ON_NOT_FOUND |= {"errors", "files", "policy"}
OURS_ON_A_HIT = OURS_ON_NOT_FOUND | {"tokens", "cache", "keys"}


def test_the_import_probe_fails_unless_the_get_ran(helper: Helper, tmp_path: Path) -> None:
    """The test above passes only on a probe that really ran the get: one that crashed
    before importing anything heavy, never ran the get, or ended otherwise fails it."""
    installed = Path(helper.exe).parent
    if not (installed / "ecrpy-start").is_file():
        pytest.skip("a binary is probed through the script beside this interpreter: tested there")
    fake = Helper(helper.env, helper.secret)
    fake.exe = str(tmp_path / "bin" / "docker-credential-ecrpy")
    (tmp_path / "bin").mkdir()
    for name in ("docker-credential-ecrpy", "ecrpy-start"):
        shutil.copy2(installed / name, tmp_path / "bin" / name)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    package = tmp_path / "lib" / version / "site-packages" / "docker_credential_ecrpy"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    # Each reads its input first, as the real one does: the probe finds the command line
    # of the Python process while it waits for it.
    crash = "import sys\ndef main():\n    sys.stdin.read()\n    raise RuntimeError('a bug')\n"
    (package / "cli.py").write_text(crash)
    with pytest.raises(AssertionError, match="the import probe crashed"):
        fake.imports("docker.io", status=1)
    never = "import sys\ndef main():\n    sys.stdin.read()\n    return 1\n"  # no get
    (package / "cli.py").write_text(never)
    with pytest.raises(AssertionError, match="the probe never ran the get"):
        fake.imports("docker.io", status=1)
    with pytest.raises(AssertionError, match="the import probe exited 1, not 0"):
        helper.imports("docker.io")  # not found, where an answer was expected


def test_store_is_a_no_op_for_ecr_hosts(helper: Helper, ecr: StandIn) -> None:
    document = json.dumps({"ServerURL": HOST, "Username": "AWS", "Secret": "typed-by-user"})
    result = helper.run("store", stdin=document + "\n")
    assert (result.returncode, result.stdout) == (0, "")
    assert helper.answer()["Secret"] == helper.secret  # what was typed is not served
    assert ecr.calls() == 1


def test_store_refuses_other_registries(helper: Helper) -> None:
    document = json.dumps({"ServerURL": "registry.example.com", "Username": "u", "Secret": "p"})
    result = helper.run("store", stdin=document)
    assert result.returncode == 1
    assert "registry.example.com is not an Amazon ECR registry" in result.stdout
    relaxed = {**helper.env, "AWS_ECR_IGNORE_CREDS_STORAGE": "true"}
    assert helper.run("store", stdin=document, env=relaxed).returncode == 0
    assert helper.run("erase", stdin="registry.example.com", env=relaxed).returncode == 0


@pytest.mark.parametrize("spelling", [HOST, f"https://{HOST}", f"http://{HOST}"])
def test_erase_drops_the_cached_token(helper: Helper, ecr: StandIn, spelling: str) -> None:
    helper.answer()
    helper.answer()
    assert ecr.calls() == 1
    result = helper.run("erase", stdin=spelling)
    assert (result.returncode, result.stdout) == (0, "")
    helper.answer()
    assert ecr.calls() == 2


def test_erase_of_other_registries_is_not_found(helper: Helper) -> None:
    result = helper.run("erase", stdin="docker.io")
    assert (result.returncode, result.stdout) == (1, errors.NOT_FOUND + "\n")


def test_list_answers_from_the_cache_only(helper: Helper) -> None:
    assert json.loads(helper.run("list", stdin="unused").stdout) == {}
    helper.answer()
    helper.answer("public.ecr.aws")
    offline = {**helper.env, "AWS_ENDPOINT_URL_ECR": "http://127.0.0.1:9"}
    result = helper.run("list", stdin="unused", env=offline)
    assert result.returncode == 0
    assert json.loads(result.stdout) == {HOST: "AWS", "public.ecr.aws": "AWS"}


@pytest.mark.parametrize("flag", ["version", "-v", "--version"])
def test_version(offline_helper: Helper, flag: str) -> None:
    result = offline_helper.run(flag, stdin="")
    assert result.returncode == 0
    assert result.stdout.startswith(f"docker-credential-ecrpy {__version__}")


@pytest.mark.parametrize("flag", ["-h", "--help", "help"])
def test_help(offline_helper: Helper, flag: str) -> None:
    result = offline_helper.run(flag, stdin="")
    assert result.returncode == 0
    assert "Usage: docker-credential-ecrpy" in result.stdout


@pytest.mark.parametrize("args", [(), ("get", "extra")])
def test_usage_without_exactly_one_action(offline_helper: Helper, args: tuple[str, ...]) -> None:
    result = offline_helper.run(*args, stdin="")
    assert result.returncode == 1
    assert "Usage: docker-credential-ecrpy" in result.stderr
    assert result.stdout == ""


def test_unknown_action(offline_helper: Helper) -> None:
    result = offline_helper.run("frobnicate", stdin="")
    assert (result.returncode, result.stdout) == (1, "unknown credential action `frobnicate`\n")


def test_module_entry_point_matches_console_script(helper: Helper) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "docker_credential_ecrpy", "get"],
        input=HOST.encode(),
        capture_output=True,
        env=helper.env,
        check=False,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["Secret"] == helper.secret


@pytest.mark.parametrize("spread", ["1d", "30s"])
def test_a_spread_the_deadline_cannot_hold_is_refused(
    helper: Helper, ecr: StandIn, spread: str
) -> None:
    """Wider than half of ECRPY_TIMEOUT, a spread would only ever wait the longest it can
    and then call with every other host: one line that says so and what to set."""
    result = helper.get(env={**helper.env, "ECRPY_SPREAD": spread})
    assert result.returncode == 1
    assert result.stdout.startswith(f"ECRPY_SPREAD={spread} is longer than the 10s that ")
    assert "use at most 10s" in result.stdout
    assert result.stdout.count("\n") == 1
    assert ecr.calls() == 0


def get_with_stdin_open(helper: Helper, data: bytes, env: Mapping[str, str]) -> tuple[int, str]:
    """``get`` from a client that writes ``data`` and never closes stdin; (status, stdout)."""
    result = run_with_stdin_open([helper.exe, "get"], data, env)
    helper.check_no_leak(result)
    return result.returncode, result.stdout


def test_a_host_line_is_answered_while_stdin_stays_open(helper: Helper, ecr: StandIn) -> None:
    status, out = get_with_stdin_open(helper, f"{HOST}\n".encode(), helper.env)
    assert status == 0, out
    assert json.loads(out)["Secret"] == ecr.password
    status, out = get_with_stdin_open(helper, f"{HOST}\n".encode(), helper.env)  # a hit
    assert (status, json.loads(out)["Secret"]) == (0, ecr.password)
    assert ecr.calls() == 1


def test_input_without_an_end_ends_at_the_deadline(helper: Helper, ecr: StandIn) -> None:
    env = {**helper.env, "ECRPY_TIMEOUT": "2s"}
    status, out = get_with_stdin_open(helper, HOST.encode(), env)
    assert status == 1
    assert out == (
        "timed out after 2s reading stdin: expected a registry server URL, ended by a newline "
        "or by closing stdin; ECRPY_TIMEOUT sets the limit\n"
    )
    assert ecr.calls() == 0
