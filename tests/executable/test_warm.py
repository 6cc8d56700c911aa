"""``warm``: tokens fetched before a pull needs them, under the rules of a get.

The installed executable runs against the stand-in, as a timer would run it, beside
parallel gets and in a brownout, counting the API calls it makes. Its metrics (``doctor
--tokens --prometheus``, ``warm --prometheus-file``) are read back with the Prometheus
client library's own parser.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.constants import ALWAYS, DUE, HOST, HOST2
from tests.support.helper import Helper
from tests.support.standin import StandIn
from tests.support.toolkit import (
    age_entry,
    collect,
    failure_records,
    feed,
    spawn_gets,
    the_entry,
    token_files,
    valid_entry_at,
    wait_until,
    with_env,
)


def warm(helper: Helper, *args: str, env: dict[str, str] | None = None) -> Any:
    return helper.run("warm", *args, stdin="", env=env)


def lines_by_host(stdout: str) -> dict[str, str]:
    """The status of each registry line: ``refreshed  HOST  detail`` -> {HOST: line}."""
    found = {}
    for line in stdout.splitlines():
        host = next(word for word in line.split() if "." in word)
        found[host] = line
    return found


def entries(helper: Helper) -> dict[str, Any]:
    return {e.host: e for e in (valid_entry_at(p) for p in token_files(helper.cache_dir))}


def test_warm_named_registries_then_a_pull_is_a_hit(helper: Helper, ecr: StandIn) -> None:
    result = warm(helper, HOST, HOST2)
    assert result.returncode == 0, result.stdout
    lines = lines_by_host(result.stdout)
    assert set(lines) == {HOST, HOST2}
    assert all(line.startswith("refreshed") for line in lines.values()), result.stdout
    assert ecr.calls() == 2  # one per region
    assert set(entries(helper)) == {HOST, HOST2}
    logged = [
        (line["action"], line["registry"], line["outcome"], line["api_calls"])
        for line in helper.log_lines()
    ]
    assert logged == [("warm", HOST, "fetched", 1), ("warm", HOST2, "fetched", 1)]
    helper.answer()
    assert ecr.calls() == 2  # the pull found its token


def test_warm_without_if_due_replaces_a_fresh_token(helper: Helper, ecr: StandIn) -> None:
    assert warm(helper, HOST).returncode == 0
    age_entry(the_entry(helper), 60)  # still fresh, but issued a minute ago
    first = entries(helper)[HOST]
    result = warm(helper, HOST)
    assert result.returncode == 0 and result.stdout.startswith("refreshed"), result.stdout
    assert ecr.calls() == 2
    assert entries(helper)[HOST].issued_at > first.issued_at


def test_warm_says_what_it_did_without_the_activity_log(helper: Helper, ecr: StandIn) -> None:
    """warm's report comes from the activity it hands the store, recorded whether or not
    a log is on (a get without a log records nothing)."""
    quiet = {name: value for name, value in helper.env.items() if not name.startswith("ECRPY_LOG")}
    result = warm(helper, HOST, env=quiet)
    assert result.returncode == 0 and result.stdout.startswith("refreshed "), result.stdout
    assert ecr.calls() == 1


def test_if_due_makes_no_call_while_fresh_and_one_when_due(helper: Helper, ecr: StandIn) -> None:
    ecr.config(ttl=3600)
    assert warm(helper, "--if-due", HOST).returncode == 0  # nothing cached: due
    assert ecr.calls() == 1
    for _ in range(3):  # an hourly timer between refreshes
        result = warm(helper, "--if-due", HOST)
        assert result.returncode == 0 and result.stdout.startswith("ok "), result.stdout
    assert ecr.calls() == 1
    # The same token of one hour seen with a two-hour refresh window: due.
    due = with_env(helper, **DUE)
    result = warm(helper, "--if-due", HOST, env=due)
    assert result.returncode == 0 and result.stdout.startswith("refreshed"), result.stdout
    assert ecr.calls() == 2


def test_warm_without_a_host_reads_dockers_config(helper: Helper, ecr: StandIn, home: Path) -> None:
    docker = home / "docker"
    docker.mkdir()
    env = with_env(helper, DOCKER_CONFIG=str(docker))
    config = docker / "config.json"
    config.write_text(
        json.dumps(
            {"credHelpers": {HOST: "ecrpy", HOST2: "ecrpy", "ghcr.io": "desktop"}, "auths": {}}
        )
    )
    result = warm(helper, "--json", env=env)
    assert result.returncode == 0, result.stdout
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert [r["registry"] for r in document["registries"]] == [HOST, HOST2]
    assert ecr.calls() == 2
    # As the credsStore, the registries of the tokens it has cached.
    config.write_text(json.dumps({"credsStore": "ecrpy"}))
    result = warm(helper, "--json", env=env)
    assert sorted(r["registry"] for r in json.loads(result.stdout)["registries"]) == sorted(
        [HOST, HOST2]
    )
    # Nothing sent to this helper: said, and exit 1.
    config.write_text(json.dumps({"credsStore": "desktop"}))
    result = warm(helper, env=env)
    assert result.returncode == 1
    assert result.stdout.startswith("no registry to warm:") and result.stdout.count("\n") == 1


def test_json_says_each_registrys_status(helper: Helper, ecr: StandIn) -> None:
    result = warm(helper, "--json", HOST, "ghcr.io")
    assert result.returncode == 1  # ghcr.io is left without a usable token
    document = json.loads(result.stdout)
    assert document["ok"] is False
    ok, other = document["registries"]
    assert (ok["registry"], ok["status"], ok["reason"]) == (HOST, "refreshed", None)
    assert ok["expires_at"] == pytest.approx(entries(helper)[HOST].expires_at)
    assert ok["identity"] == entries(helper)[HOST].fingerprint
    assert (other["registry"], other["status"]) == ("ghcr.io", "failed")
    assert "not an Amazon ECR registry" in other["reason"]


@pytest.mark.parametrize(
    ("if_due", "first"), [(True, "warm"), (False, "warm"), (True, "get"), (False, "get")]
)
def test_warm_beside_32_gets_makes_one_call(
    helper: Helper, ecr: StandIn, if_due: bool, first: str
) -> None:
    """Whoever calls first, the others wait for its token: a warm without --if-due too,
    since a token issued after it began is the new one it asked for."""
    ecr.config(delay=2.0)  # longer than any of the processes takes to start
    args = ("warm", *(["--if-due"] if if_due else []), HOST)
    gets = spawn_gets(helper, 32)
    if first == "warm":  # warm reads no stdin: it runs from its start
        warmer = spawn_gets(helper, 1, args=args)
        wait_until(lambda: ecr.calls() == 1, 30, "the warm's call")
        started = feed(gets)
    else:
        started = feed(gets)
        wait_until(lambda: ecr.calls() == 1, 30, "a get's call")
        warmer = spawn_gets(helper, 1, args=args)
    results = collect(helper, warmer + gets, started)
    assert all(r.returncode == 0 for r in results), [r.stdout for r in results if r.returncode]
    expected = "refreshed" if first == "warm" else "ok"
    assert results[0].stdout.split()[0] == expected, results[0].stdout
    assert len({json.loads(r.stdout)["Secret"] for r in results[1:]}) == 1
    assert ecr.calls() == 1


@pytest.mark.slow
def test_warm_in_a_brownout_with_a_usable_token(helper: Helper, ecr: StandIn) -> None:
    ecr.config(ttl=3600)
    due = with_env(helper, **DUE, ECRPY_TIMEOUT="3s")
    assert warm(helper, HOST, env=due).returncode == 0
    ecr.reset()
    ecr.fault("ThrottlingException", times=ALWAYS, message="Rate exceeded")
    result = warm(helper, "--if-due", HOST, env=due)
    assert result.returncode == 0, result.stdout  # a usable token is left
    assert result.stdout.startswith("backing off") and "AWS throttled" in result.stdout
    assert "next attempt in" in result.stdout and "cached token valid for" in result.stdout
    attempts = ecr.calls()
    assert attempts >= 1
    (record,) = failure_records(helper.cache_dir)
    assert record.kind == "Throttled"
    # During the backoff: the same answer, without a call.
    again = warm(helper, "--if-due", HOST, env=due)
    assert again.returncode == 0 and again.stdout.startswith("backing off"), again.stdout
    assert ecr.calls() == attempts


@pytest.mark.slow
def test_warm_in_a_brownout_on_an_empty_cache(helper: Helper, ecr: StandIn) -> None:
    ecr.fault("ThrottlingException", times=ALWAYS, message="Rate exceeded")
    env = with_env(helper, ECRPY_TIMEOUT="3s")
    result = warm(helper, "--if-due", HOST, env=env)
    assert result.returncode == 1
    assert result.stdout.startswith("failed") and "AWS throttled" in result.stdout
    attempts = ecr.calls()
    again = warm(helper, "--if-due", "--json", HOST, env=env)
    assert again.returncode == 1
    (answer,) = json.loads(again.stdout)["registries"]
    assert answer["status"] == "failed" and "next attempt in" in answer["reason"]
    (record,) = failure_records(helper.cache_dir)
    assert answer["retry_at"] == record.retry_at
    assert ecr.calls() == attempts  # backed off: no call


def test_warm_with_the_cache_unusable_fails(helper: Helper, ecr: StandIn, home: Path) -> None:
    (home / "not-a-dir").write_text("")
    env = with_env(helper, AWS_ECR_CACHE_DIR=str(home / "not-a-dir"))
    result = warm(helper, HOST, env=env)
    assert result.returncode == 1
    assert result.stdout.startswith("failed") and "token cache" in result.stdout


# -- metrics -------------------------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, str], float]:
    """{(metric name, registry label): value}, by the Prometheus client's parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        for sample in family.samples:
            found[(sample.name, sample.labels.get("registry", ""))] = sample.value
    return found


def a_healthy_and_a_backing_off_token(helper: Helper, ecr: StandIn) -> None:
    assert warm(helper, HOST).returncode == 0
    ecr.fault("AccessDeniedException", times=ALWAYS, message="not authorized")
    assert warm(helper, HOST2).returncode == 1


def test_doctor_tokens_prometheus(helper: Helper, ecr: StandIn) -> None:
    a_healthy_and_a_backing_off_token(helper, ecr)
    result = helper.run("doctor", "--tokens", "--prometheus", stdin="")
    assert result.returncode == 0, result.stdout
    found = samples(result.stdout)
    token = entries(helper)[HOST]
    (record,) = failure_records(helper.cache_dir)
    assert found[("ecrpy_cache_usable", "")] == 1
    assert found[("ecrpy_token_expiry_timestamp_seconds", HOST)] == token.expires_at
    assert found[("ecrpy_token_issued_timestamp_seconds", HOST)] == token.issued_at
    refresh = token.expires_at - (token.expires_at - token.issued_at) / 2
    assert found[("ecrpy_token_next_refresh_timestamp_seconds", HOST)] == pytest.approx(refresh)
    assert found[("ecrpy_refresh_consecutive_failures", HOST2)] == 1
    assert found[("ecrpy_refresh_backoff_end_timestamp_seconds", HOST2)] == record.retry_at
    assert found[("ecrpy_refresh_last_failure_timestamp_seconds", HOST2)] == record.failed_at
    assert ("ecrpy_token_expiry_timestamp_seconds", HOST2) not in found
    labels = {
        tuple(sorted(s.labels.items()))
        for f in text_string_to_metric_families(result.stdout)
        for s in f.samples
        if f.name == "ecrpy_refresh_consecutive_failures"
    }
    assert labels == {
        (
            ("identity", record.fingerprint),
            ("kind", "AccessDenied"),
            ("region", "eu-west-1"),
            ("registry", HOST2),
        )
    }


def test_warm_writes_the_metrics_file(helper: Helper, ecr: StandIn, home: Path) -> None:
    collector = home / "textfile"
    collector.mkdir()
    path = collector / "ecrpy.prom"
    result = warm(helper, HOST, "--prometheus-file", str(path))
    assert result.returncode == 0, result.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # the collector's user reads it
    found = samples(path.read_text())
    assert found[("ecrpy_token_expiry_timestamp_seconds", HOST)] == entries(helper)[HOST].expires_at
    assert [p.name for p in collector.iterdir()] == ["ecrpy.prom"]  # no temp left behind
    # Named by the setting the systemd units use; a directory that is not there is said.
    env = with_env(helper, ECRPY_PROMETHEUS_FILE=str(home / "missing" / "ecrpy.prom"))
    result = warm(helper, "--if-due", HOST, env=env)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1].startswith("cannot write the metrics file")


def test_prometheus_without_tokens_is_a_usage_error(helper: Helper, ecr: StandIn) -> None:
    result = helper.run("doctor", "--prometheus", stdin="")
    assert result.returncode == 1 and "--prometheus goes with --tokens" in result.stdout


def test_warm_with_aws_down(offline_helper: Helper) -> None:
    env = with_env(offline_helper, ECRPY_TIMEOUT="5s")
    result = warm(offline_helper, "--if-due", HOST, env=env)
    assert result.returncode == 1
    assert result.stdout.startswith("failed") and result.stdout.count("\n") == 1, result.stdout
    (record,) = failure_records(offline_helper.cache_dir)
    again = warm(offline_helper, "--if-due", HOST, env=env)  # backed off: not even tried
    assert again.returncode == 1 and "next attempt in" in again.stdout
    assert failure_records(offline_helper.cache_dir)[0].failed_at == record.failed_at


def test_warm_beside_erases(helper: Helper, ecr: StandIn) -> None:
    """Warms and ``docker logout``s at once: each ends cleanly, and what is left is
    either nothing or a whole token a pull can use."""
    ecr.config(delay=0.3)
    warms = [spawn_gets(helper, 1, args=("warm", HOST))[0] for _ in range(8)]
    erases = spawn_gets(helper, 8, args=("erase",))
    started = feed(erases)
    results = collect(helper, warms + erases, started)
    assert all(r.returncode == 0 for r in results), [r.stdout for r in results if r.returncode]
    assert all(r.stdout.split()[0] in ("refreshed", "ok") for r in results[:8])
    calls = ecr.calls()
    assert 1 <= calls <= 8
    helper.answer()
    assert ecr.calls() <= calls + 1
