"""``make bench``: what a Docker pull pays for a credential, measured as whole processes.

Docker starts a fresh helper process for every pull and push, so the figure that matters
is the wall time of the whole process, interpreter start included. Every figure here is
the median of whole-process runs taken in this one run, interleaved round by round so
that drift in the machine's load hits every case alike, and set against a floor measured
the same way:

- a cache hit and the non-ECR "not found" answer against ``python -c pass`` on the same
  interpreter (the goal for the hit: at most 1.3x);
- a cold miss (empty cache: botocore, one GetAuthorizationToken, a cache write) against a
  bare botocore script making the same call;
- N parallel cold gets on one empty cache: wall time and the API calls counted at the
  stand-in (one is the goal);
- the same for ``docker-credential-ecr-login`` (the Go helper) when it is installed, and
  for ``ECRPY_BENCH_EXE`` (e.g. the PyInstaller binary) when set.

The Go helper reaches its own stand-in over TLS through a local CONNECT proxy (see
``world.py``, shared with ``fleet.py``).

Nothing here asserts a time; it prints. ``ECRPY_BENCH_RUNS`` sets the rounds (default 40).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from crowd import gather
from world import (
    GO_HELPER,
    HOST,
    PASSWORD,
    REGION,
    TlsWorld,
    base_env,
    console_script,
    find_go_helper,
    ours_env,
    seed_go_cache,
    tls_world,
)

from tests.support.standin import StandIn

ACCOUNT = HOST.split(".")[0]
OTHER_HOST = "registry.example.com"
RUNS = int(os.environ.get("ECRPY_BENCH_RUNS", "40"))
MISS_RUNS = max(5, RUNS // 4)
PARALLEL = 32
PARALLEL_RUNS = 3

BOTOCORE_CALL = f"""
import botocore.session
session = botocore.session.get_session()
client = session.create_client("ecr", region_name="{REGION}")
client.get_authorization_token(registryIds=["{ACCOUNT}"])
"""


# -- measuring -----------------------------------------------------------------------------


class Case:
    """One whole-process command, checked on every run so a broken case cannot pass as
    fast."""

    def __init__(
        self,
        argv: list[str],
        env: Mapping[str, str],
        stdin: str = "",
        expect_rc: int = 0,
        expect_out: str = "",
        before: Callable[[int], Mapping[str, str]] | None = None,
    ) -> None:
        self.argv = argv
        self.env = dict(env)
        self.stdin = stdin.encode()
        self.expect_rc = expect_rc
        self.expect_out = expect_out
        self.before = before
        self.samples: list[float] = []
        self.broken = ""

    def run(self, index: int) -> None:
        if self.broken:
            return
        env = self.env if self.before is None else {**self.env, **self.before(index)}
        start = time.perf_counter()
        done = subprocess.run(self.argv, input=self.stdin, capture_output=True, env=env)
        elapsed = time.perf_counter() - start
        out = done.stdout.decode("utf-8", "replace")
        if done.returncode != self.expect_rc or self.expect_out not in out:
            first = (out.strip() or done.stderr.decode("utf-8", "replace").strip()).split("\n")
            self.broken = f"exit {done.returncode}: {first[0][:160]}"
            return
        self.samples.append(elapsed)

    @property
    def ms(self) -> float | None:
        return statistics.median(self.samples) * 1000 if self.samples else None


def rounds(cases: list[Case], runs: int) -> None:
    """Each case once per round, ``runs`` rounds (plus one warm-up round, not kept)."""
    for case in cases:
        case.run(-1)
        case.samples.clear()
    for index in range(runs):
        for case in cases:
            case.run(index)


def parallel_cold(
    argv: list[str],
    env: Mapping[str, str],
    cache_env: Callable[[int], Mapping[str, str]],
    standin: StandIn,
    runs: int = PARALLEL_RUNS,
    n: int = PARALLEL,
) -> tuple[float | None, list[int], str]:
    """``n`` processes released together on an empty cache: the median over the runs of
    the slowest one's wall time (ms), the API calls of each run."""
    walls, calls, problem = [], [], ""
    for index in range(runs):
        standin.reset()
        full = {**env, **cache_env(1000 + index)}
        _, outcomes = gather(argv, [(0, full)] * n, HOST.encode(), timeout=300)
        walls.append(max(outcome.seconds for outcome in outcomes))
        calls.append(standin.calls())
        failed = sum(outcome.returncode != 0 for outcome in outcomes)
        if failed:
            problem = f"{failed} of {n} failed"
    return statistics.median(walls) * 1000, calls, problem


# -- the executables -----------------------------------------------------------------------


def ours(name: str, exe: str, home: Path, standin: StandIn) -> dict[str, Any]:
    env = ours_env(home, standin)
    slug = name.replace(" ", "-")
    env["AWS_ECR_CACHE_DIR"] = str(home / f"{slug}-hit")

    def fresh_cache(index: int) -> Mapping[str, str]:
        return {"AWS_ECR_CACHE_DIR": str(home / f"{slug}-cold-{index}")}

    return {
        "hit": Case([exe, "get"], env, HOST, 0, PASSWORD),
        "not-found": Case([exe, "get"], env, OTHER_HOST, 1, "credentials not found"),
        "miss": Case([exe, "get"], env, HOST, 0, PASSWORD, before=fresh_cache),
        "parallel": ([exe, "get"], env, fresh_cache),
    }


def go_helper(exe: str, home: Path, world: TlsWorld | None) -> dict[str, Any]:
    env = base_env(home)
    env["AWS_ECR_CACHE_DIR"] = str(home / "go-hit")
    seed_go_cache(home / "go-hit")

    def fresh_cache(index: int) -> Mapping[str, str]:
        return {"AWS_ECR_CACHE_DIR": str(home / f"go-cold-{index}")}

    cases: dict[str, Any] = {
        "hit": Case([exe, "get"], env, HOST, 0, PASSWORD),
        "not-found": Case([exe, "get"], env, OTHER_HOST, 1, "credentials not found"),
    }
    if world is not None:
        online = world.env(env)
        cases["miss"] = Case([exe, "get"], online, HOST, 0, PASSWORD, before=fresh_cache)
        cases["parallel"] = ([exe, "get"], online, fresh_cache)
    return cases


# -- report --------------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "ms") -> str:
    return "   n/a" if value is None else f"{value:6.1f} {unit}"


def ratio(value: float | None, floor: float | None) -> str:
    return "" if value is None or not floor else f"{value / floor:5.2f}x"


def main() -> int:  # noqa: PLR0912, PLR0915 - a report that reads top to bottom
    tools: list[tuple[str, str]] = [("docker-credential-ecrpy", console_script())]
    if os.environ.get("ECRPY_BENCH_EXE"):
        tools.append(("ECRPY_BENCH_EXE", os.environ["ECRPY_BENCH_EXE"]))
    go_exe, go_note = find_go_helper()

    scratch = Path(tempfile.mkdtemp(prefix="ecrpy-bench-"))
    standin = StandIn.start(password=PASSWORD, stderr=subprocess.DEVNULL)
    notes: list[str] = []
    world_cm: contextlib.AbstractContextManager[TlsWorld | str | None]
    world_cm = tls_world(scratch) if go_exe else contextlib.nullcontext(go_note)
    try:
        env = base_env(scratch)
        floor = Case([sys.executable, "-c", "pass"], env)
        botocore_env = {**env, "AWS_ENDPOINT_URL_ECR": standin.url}
        bare = Case([sys.executable, "-c", BOTOCORE_CALL], botocore_env)
        per_tool = {name: ours(name, exe, scratch, standin) for name, exe in tools}

        with world_cm as reached:
            go_cases: dict[str, Any] = {}
            world = reached if isinstance(reached, TlsWorld) else None
            if isinstance(reached, str):
                notes.append(reached + ("; hit only" if go_exe else ""))
            if go_exe:
                go_cases = go_helper(go_exe, scratch / "go", world)
                (scratch / "go").mkdir(exist_ok=True)

            # The warm-up round of each hit case is the miss that fills its cache.
            fast = [floor]
            for cases in [*per_tool.values(), go_cases]:
                fast += [cases[k] for k in ("hit", "not-found") if k in cases]
            rounds(fast, RUNS)
            slow = [bare]
            for cases in [*per_tool.values(), go_cases]:
                if "miss" in cases:
                    slow.append(cases["miss"])
            rounds(slow, MISS_RUNS)

            parallel: dict[str, tuple[float | None, list[int], str]] = {}
            for name, cases in per_tool.items():
                argv, penv, fresh = cases["parallel"]
                parallel[name] = parallel_cold(argv, penv, fresh, standin)
            if "parallel" in go_cases and world is not None:
                argv, penv, fresh = go_cases["parallel"]
                parallel[GO_HELPER] = parallel_cold(argv, penv, fresh, world.standin)
    finally:
        standin.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    rows = [(name, per_tool[name]) for name, _ in tools]
    if go_cases:
        rows.append((GO_HELPER, go_cases))
    print()
    print(
        f"Medians of whole-process runs ({RUNS} rounds; cold misses {MISS_RUNS} rounds), "
        f"Python {sys.version.split()[0]} at {sys.executable}"
    )
    print()
    print(f"  {'floor: python -c pass':44} {fmt(floor.ms)}")
    print(f"  {'bare botocore GetAuthorizationToken script':44} {fmt(bare.ms)}")
    print()
    header = f"  {'':28} {'hit':>9} {'/floor':>7} {'not-found':>10} {'/floor':>7}"
    header += f" {'cold miss':>10} {'/botocore':>9}"
    print(header)
    for name, cases in rows:
        hit, nf, miss = (
            case.ms if case else None for case in map(cases.get, ("hit", "not-found", "miss"))
        )
        line = f"  {name:28} {fmt(hit):>9} {ratio(hit, floor.ms):>7}"
        line += f" {fmt(nf):>10} {ratio(nf, floor.ms):>7}"
        line += f" {fmt(miss):>10} {ratio(miss, bare.ms):>9}"
        print(line)
        for kind, case in cases.items():
            if isinstance(case, Case) and case.broken:
                notes.append(f"{name} {kind}: not measured ({case.broken})")
    print()
    print(f"  {PARALLEL} parallel cold gets on one empty cache ({PARALLEL_RUNS} runs):")
    for name, (wall, calls, problem) in parallel.items():
        extra = f"  [{problem}]" if problem else ""
        print(f"  {name:28} wall {fmt(wall)}   GetAuthorizationToken calls per run: {calls}{extra}")
    if go_exe and GO_HELPER not in parallel:
        notes.append(f"{GO_HELPER}: cold miss and parallel gets not measured (no TLS stand-in)")
    if go_exe:
        notes.append(
            f"{GO_HELPER} reached its own stand-in over TLS through a local CONNECT proxy "
            "(it ignores AWS_ENDPOINT_URL*); its hit reads a seeded ~/.ecr/cache.json"
        )
    if os.environ.get("ECRPY_BENCH_EXE"):
        notes.append(f"ECRPY_BENCH_EXE = {os.environ['ECRPY_BENCH_EXE']}")
    if bare.broken:
        notes.append(f"bare botocore script: not measured ({bare.broken})")
    if notes:
        print()
        for note in notes:
            print(f"  note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
