"""``make bench``: what a Docker pull pays for a credential, measured as whole processes.

Docker starts a fresh helper process for every pull and push, so the figure that matters
is the wall time of the whole process, interpreter start included. Every figure here is
the median of whole-process runs taken in this one run, interleaved round by round so
that drift in the machine's load hits every case alike, and set against a floor measured
the same way:

- a cache hit and the non-ECR "not found" answer against the interpreter's own floor,
  ``python -I -S -c pass`` on the same interpreter (the goals: at most 1.3x for a hit, 1.2x
  for not-found), and against ``python -c pass``, which runs ``site`` and every ``.pth``
  file beside it, as our executables do not; the hit with a slow ``.pth`` file installed
  beside the package (in a venv of its own), which must cost it nothing; the hit with the
  activity log on (``ECRPY_LOG``) against the same hit with it off; and a hit's peak RSS;
- three accounts' registries in one region, asked for in turn on an empty cache: the API
  calls (one token serves the region: one is the goal);
- a cold miss (empty cache: botocore, one GetAuthorizationToken, a cache write) against a
  bare botocore script making the same call;
- N parallel cold gets on one empty cache: wall time and the API calls counted at the
  stand-in (one is the goal);
- the same for ``docker-credential-ecr-login`` (the Go helper) when it is installed, and
  for ``ECRPY_BENCH_EXE`` (e.g. the PyInstaller binary) when set;
- then bad weather, where the slowest of many pulls is what a user waits for: 32 gets
  released at one instant (``crowd.py``) in a brownout (every call throttled) with a
  valid-but-due token cached and with none, and against a slow API with the due token,
  each set against the same gets in fair weather, and on an empty cache behind a proxy
  that answers every call with a 23 KB HTML page (a 403): the slowest get, the failed
  ones, the API calls (including those of the refresh behind the answers, counted once it
  ended).
  Ours run with the helper's default ECRPY_TIMEOUT (20 s), so a brownout on an empty
  cache costs about that long per helper; ``ECRPY_BENCH_TIMEOUT`` sets a shorter one, and
  ``ECRPY_BENCH_SLOW_API`` the seconds the slow API takes (default 3).

The Go helper reaches its own stand-in over TLS through a local CONNECT proxy (see
``world.py``, shared with ``fleet.py``, the fleet of hosts against one account's quota).

Nothing here asserts a time; it prints. ``ECRPY_BENCH_RUNS`` sets the rounds (default 40).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from crowd import gather, what_they_said
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

from docker_credential_ecrpy import cache, settings
from tests.support import credentials, install
from tests.support.constants import ACCOUNT, ALWAYS
from tests.support.standin import StandIn, proxy_page

OTHER_HOST = "registry.example.com"
RUNS = int(os.environ.get("ECRPY_BENCH_RUNS", "40"))
MISS_RUNS = max(5, RUNS // 4)
PARALLEL = 32
PARALLEL_RUNS = 3
# The bad-weather table: ECRPY_TIMEOUT for our gets there (empty: the helper's default, so
# that the figures are what users get), and how slow the slow API is, in seconds a call.
WEATHER_TIMEOUT = os.environ.get("ECRPY_BENCH_TIMEOUT", "")
SLOW_API = float(os.environ.get("ECRPY_BENCH_SLOW_API", "3"))
# A token issued for an hour under a two-hour refresh window is due at once yet usable for
# the hour: what a token is after six of its twelve hours, without waiting six hours.
DUE_ENV = {"ECRPY_REFRESH_WINDOW": "2h"}

# What a slow .pth file costs every normal start of its interpreter: one of another
# tool's, installed beside the package, costs our hit nothing (see slow_pth).
SLOW_PTH_SECONDS = 0.02
RSS_RUNS = 5
GNU_TIME = "/usr/bin/time"
OTHER_ACCOUNTS = ("111111111111", "222222222222")

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


# -- bad weather ---------------------------------------------------------------------------


class Weather(NamedTuple):
    name: str
    cached: str  # "fresh", "due" (valid, but due for refresh) or "" (nothing)
    throttled: bool = False  # every GetAuthorizationToken call answered ThrottlingException
    delay: float = 0.0  # seconds the stand-in takes for every call
    page: bool = False  # every call answered by a proxy's 23 KB HTML page (a 403)
    # Credentials from a credential_process that kills the process running it (our AWS
    # worker; the Go helper itself) the first time, as the OOM killer would.
    killed: bool = False
    # The gets after the weather before: its cache and credential source, nothing reset.
    after: bool = False


WEATHERS = (
    Weather("fair: fresh token cached (the floor)", "fresh"),
    Weather("brownout (every call throttled), valid-but-due token cached", "due", throttled=True),
    Weather("brownout (every call throttled), empty cache", "", throttled=True),
    Weather(f"slow API ({SLOW_API:g} s a call), valid-but-due token cached", "due", delay=SLOW_API),
    Weather("proxy HTML page (a 23 KB 403 for every call), empty cache", "", page=True),
    Weather("killed worker (SIGKILL once, mid-get), empty cache", "", killed=True),
    Weather("  the next gets, after the killed worker", "", killed=True, after=True),
)
PROXY_TITLE = "Request blocked by the firewall"


class Contender(NamedTuple):
    """A helper as the bad-weather runs need it: ``seed(directory, cached)`` makes its
    cache in ``directory`` what ``Weather.cached`` says."""

    name: str
    argv: list[str]
    env: dict[str, str]
    standin: StandIn
    seed: Callable[[Path, str], None]


class Weathered(NamedTuple):
    """What 32 gets in one weather came to."""

    slowest: float  # seconds from the release to the last exit
    failed: int
    calls: int  # GetAuthorizationToken calls, once any background refresh ended
    behind: float | None  # when the background refresh ended (None: none outlived the gets)
    said: list[str]  # how the failed gets failed, and what the others warned, with counts


def our_contender(name: str, cases: dict[str, Any], standin: StandIn) -> Contender:
    argv, env, _ = cases["parallel"]
    env = {**env, **DUE_ENV}
    if WEATHER_TIMEOUT:
        env["ECRPY_TIMEOUT"] = WEATHER_TIMEOUT

    def seed(directory: Path, cached: str) -> None:
        if not cached:
            return
        standin.config(ttl=3600 if cached == "due" else 12 * 3600)
        done = subprocess.run(
            argv, input=HOST.encode(), capture_output=True, env={**env, **cache_dir(directory)}
        )
        if done.returncode != 0:
            raise SystemExit(f"bench: seeding the cache of {name} failed: {done.stdout!r}")

    return Contender(name, argv, env, standin, seed)


def go_contender(cases: dict[str, Any], standin: StandIn) -> Contender:
    argv, env, _ = cases["parallel"]

    def seed(directory: Path, cached: str) -> None:
        if cached:
            seed_go_cache(directory, age=7 * 3600 if cached == "due" else 0)

    return Contender(GO_HELPER, argv, env, standin, seed)


def cache_dir(directory: Path) -> dict[str, str]:
    return {"AWS_ECR_CACHE_DIR": str(directory)}


def weather_timeout() -> float:
    """Our gets' ECRPY_TIMEOUT in this table, in seconds."""
    if not WEATHER_TIMEOUT:
        return settings.DEFAULT_TIMEOUT
    return settings.parse_duration("ECRPY_BENCH_TIMEOUT", WEATHER_TIMEOUT)


def in_weather(contender: Contender, weather: Weather, directory: Path) -> Weathered:
    """``PARALLEL`` gets released together in ``weather``, with the cache it calls for."""
    standin = contender.standin
    if not weather.after:
        standin.reset()
        contender.seed(directory, weather.cached)
    standin.reset()
    if weather.throttled:
        standin.fault("ThrottlingException", times=ALWAYS, message="Rate exceeded")
    if weather.delay:
        standin.config(delay=weather.delay)
    if weather.page:
        standin.fault(body=proxy_page(PROXY_TITLE), status=403, times=ALWAYS)
    env = {**contender.env, **cache_dir(directory)}
    if weather.killed:
        env = killing_credentials(env, directory)
    limit = weather_timeout() + 30
    crowd, outcomes = gather(contender.argv, [(0, env)] * PARALLEL, HOST.encode(), limit)
    behind = background_refresh(directory, crowd.released, limit)
    return Weathered(
        max(outcome.seconds for outcome in outcomes),
        sum(outcome.returncode != 0 for outcome in outcomes),
        standin.calls(),
        behind,
        what_they_said(outcomes) + failure_records(directory),
    )


def killing_credentials(env: Mapping[str, str], directory: Path) -> dict[str, str]:
    """``env`` with its keys replaced by a profile whose credential_process (beside the
    cache ``directory``, never in it) kills the process that runs it the first time, and
    answers after."""
    beside = directory.with_name(directory.name + "-credentials")
    body = credentials.killing_once(
        beside / "killed-once", env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    )
    config = credentials.credential_process(beside, body)
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    changed = {name: value for name, value in env.items() if name not in keys}
    return {**changed, "AWS_PROFILE": credentials.PROFILE, "AWS_CONFIG_FILE": str(config)}


def failure_records(directory: Path) -> list[str]:
    """The failures our helper recorded for the next gets on the host, and their backoff."""
    found = []
    for path in sorted(directory.glob("*" + cache.FAILURE_SUFFIX)):
        record = cache.decode_failure(path.read_bytes())
        if record is not None:
            backoff = record.retry_at - record.failed_at
            found.append(f"left a failure record: {record.kind}, backoff {backoff:.0f} s")
    return found


def background_refresh(directory: Path, released: float, limit: float) -> float | None:
    """Seconds from the release until no process held a refresh lock in ``directory``, if
    one was held once the gets had all exited (a refresh behind the answers); None if
    none was. Waits ``limit`` seconds from the release at most."""
    if not refresh_running(directory):
        return None
    while refresh_running(directory):
        if time.monotonic() - released > limit:
            return float("inf")
        time.sleep(0.05)
    return time.monotonic() - released


def refresh_running(directory: Path) -> bool:
    """Whether a process holds a key's refresh lock (a ``flock``) in the cache directory."""
    for path in directory.glob("*" + cache.LOCK_SUFFIX):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # and with it our lock, if we got it
    return False


def bad_weather(contenders: list[Contender], directory: Path) -> dict[str, dict[str, Weathered]]:
    """Every contender in every weather, weather by weather."""
    results: dict[str, dict[str, Weathered]] = {}
    place = 0
    for index, weather in enumerate(WEATHERS):
        place = place if weather.after else index  # the gets after share the cache
        results[weather.name] = {
            contender.name: in_weather(
                contender, weather, directory / f"{place}-{contender.name.replace(' ', '-')}"
            )
            for contender in contenders
        }
    return results


def print_weather(results: dict[str, dict[str, Weathered]], hits: dict[str, float | None]) -> None:
    timeout = f"ECRPY_TIMEOUT={WEATHER_TIMEOUT or '20s'}"
    timeout += " (set by ECRPY_BENCH_TIMEOUT)" if WEATHER_TIMEOUT else " (its default)"
    heading = (
        f"Bad weather: {PARALLEL} gets released at one instant, one run per weather and "
        f"helper; ours with {timeout}. slowest: from the release to the last exit (the max, "
        f"not the median); /fair: against the same {PARALLEL} gets with a fresh token "
        "cached; /hit: against one cache hit (median above); calls: GetAuthorizationToken "
        "calls at the stand-in, counted once any refresh behind the answers has ended (its "
        "lock free); behind: when that was, from the release."
    )
    print()
    print(textwrap.fill(heading, 96, initial_indent="  ", subsequent_indent="  "))
    print()
    print(
        f"  {'weather / helper':34} {'slowest':>9} {'/fair':>7} {'/hit':>7}"
        f" {'failed':>7} {'calls':>6} {'behind':>8}"
    )
    fair = results[WEATHERS[0].name]
    notes: list[str] = []
    for weather in WEATHERS:
        print(f"  {weather.name}")
        for name, row in results[weather.name].items():
            floors = bool(weather.cached) and weather is not WEATHERS[0]
            versus_fair = ratio(row.slowest, fair[name].slowest) if floors else ""
            hit = hits.get(name)
            versus_hit = ratio(row.slowest * 1000, hit) if floors else ""
            behind = "-" if row.behind is None else f"{row.behind:.1f} s"
            if row.behind == float("inf"):
                behind = "running"
            line = f"    {name:32} {span(row.slowest):>9} {versus_fair:>7} {versus_hit:>7}"
            line += f" {row.failed:>4}/{PARALLEL} {row.calls:>6} {behind:>8}"
            print(line)
            if row.said:
                notes.append(f"    {weather.name} / {name}:")
                notes += [f"      {said}" for said in row.said]
    print(
        "  (no floor for an empty cache: nothing can be served; ours must end "
        f"every get by {weather_timeout():g} s)"
    )
    if notes:
        print()
        print("  What the gets said (count, then the first of each kind):")
        print("\n".join(notes))


def span(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


# -- the executables -----------------------------------------------------------------------


def ours(name: str, exe: str, home: Path, standin: StandIn) -> dict[str, Any]:
    env = ours_env(home, standin)
    slug = name.replace(" ", "-")
    env["AWS_ECR_CACHE_DIR"] = str(home / f"{slug}-hit")

    def fresh_cache(index: int) -> Mapping[str, str]:
        return {"AWS_ECR_CACHE_DIR": str(home / f"{slug}-cold-{index}")}

    logged = {**env, "ECRPY_LOG": str(home / f"{slug}-log" / "activity.log")}
    return {
        "hit": Case([exe, "get"], env, HOST, 0, PASSWORD),
        "hit, log on": Case([exe, "get"], logged, HOST, 0, PASSWORD),
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


def slow_pth(directory: Path) -> Path:
    """Our helper installed in a venv of its own (``directory``) with a slow ``.pth`` file
    beside the package, as another tool's may be; the venv's bin directory."""
    bin_dir = install.venv(install.build_wheel(directory / "wheel"), directory / "venv")
    # CPU time, as an import would take (a sleep would idle the CPU, which slows the next
    # case in the round); a .pth line runs only if it starts with "import".
    burn = (
        f"end = time.process_time() + {SLOW_PTH_SECONDS:g}\\nwhile time.process_time() < end: pass"
    )
    (install.site_packages(directory / "venv") / "slow.pth").write_text(
        f'import time; exec("{burn}", {{"time": time}})\n'
    )
    return bin_dir


def one_token_per_region(exe: str, env: Mapping[str, str], standin: StandIn) -> int | str:
    """GetAuthorizationToken calls for three accounts' registries in one region, asked for
    in turn on an empty cache (or what went wrong)."""
    standin.reset()
    for account in (ACCOUNT, *OTHER_ACCOUNTS):
        host = HOST.replace(ACCOUNT, account)
        done = subprocess.run([exe, "get"], input=host.encode(), capture_output=True, env=env)
        if done.returncode != 0 or PASSWORD not in done.stdout.decode("utf-8", "replace"):
            return f"the get for {host} failed: {done.stdout.decode('utf-8', 'replace')[:160]}"
    return standin.calls()


def peak_rss(argv: list[str], env: Mapping[str, str], stdin: str) -> float | None:
    """The median peak resident set (MiB) of ``RSS_RUNS`` runs of ``argv`` (None without
    GNU time). GNU time forks it from its own small process and reads ``wait4``: a child
    forked or vforked from this benchmark would start its peak at this process's size."""
    if not Path(GNU_TIME).exists():
        return None
    peaks = []
    with tempfile.NamedTemporaryFile() as report:
        for _ in range(RSS_RUNS):
            done = subprocess.run(
                [GNU_TIME, "-f", "%M", "-o", report.name, *argv],
                input=stdin.encode(),
                capture_output=True,
                env=dict(env),
            )
            if done.returncode not in (0, 1):
                return None
            peaks.append(int(Path(report.name).read_text().split()[-1]) / 1024)  # KiB
    return statistics.median(peaks)


# -- report --------------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "ms") -> str:
    return "   n/a" if value is None else f"{value:6.1f} {unit}"


def ratio(value: float | None, floor: float | None) -> str:
    if value is None or not floor:
        return ""
    return f"{value / floor:5.2f}x" if value / floor < 100 else f"{value / floor:5.0f}x"


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
        floor = Case([sys.executable, "-I", "-S", "-c", "pass"], env)
        site_floor = Case([sys.executable, "-c", "pass"], env)
        pth_bin = slow_pth(scratch / "slow-pth")
        pth_floor = Case([str(pth_bin / "python"), "-c", "pass"], env)
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

            # The warm-up round of each hit case is the miss that fills its cache; the hit
            # beside the slow .pth reads the cache of ours.
            ours_hit = per_tool["docker-credential-ecrpy"]["hit"]
            pth_hit = Case(
                [str(pth_bin / "docker-credential-ecrpy"), "get"], ours_hit.env, HOST, 0, PASSWORD
            )
            fast = [floor, site_floor]
            for cases in [*per_tool.values(), go_cases]:
                fast += [cases[k] for k in ("hit", "hit, log on", "not-found") if k in cases]
            rounds([*fast, pth_hit], RUNS)
            # Apart: a start that burns the .pth's CPU time slows the case after it.
            rounds([pth_floor], MISS_RUNS)
            rss = {"python -I -S -c pass": peak_rss(floor.argv, env, "")}
            for name, cases in [*per_tool.items(), (GO_HELPER, go_cases)]:
                if "hit" in cases:
                    rss[name] = peak_rss(cases["hit"].argv, cases["hit"].env, HOST)
            region_calls = one_token_per_region(
                ours_hit.argv[0], {**ours_hit.env, **cache_dir(scratch / "one-region")}, standin
            )
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

            contenders = [our_contender(name, c, standin) for name, c in per_tool.items()]
            if "parallel" in go_cases and world is not None:
                contenders.append(go_contender(go_cases, world.standin))
            weather = bad_weather(contenders, scratch / "weather")
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
    print(f"  {'floor: python -I -S -c pass':44} {fmt(floor.ms)}")
    print(f"  {'python -c pass (with site)':44} {fmt(site_floor.ms)}")
    print(f"  {'bare botocore GetAuthorizationToken script':44} {fmt(bare.ms)}")
    print()
    header = f"  {'':28} {'hit':>9} {'/floor':>7} {'/site':>6} {'not-found':>10} {'/floor':>7}"
    header += f" {'cold miss':>10} {'/botocore':>9}"
    print(header)
    for name, cases in rows:
        hit, nf, miss = (
            case.ms if case else None for case in map(cases.get, ("hit", "not-found", "miss"))
        )
        line = f"  {name:28} {fmt(hit):>9} {ratio(hit, floor.ms):>7} {ratio(hit, site_floor.ms):>6}"
        line += f" {fmt(nf):>10} {ratio(nf, floor.ms):>7}"
        line += f" {fmt(miss):>10} {ratio(miss, bare.ms):>9}"
        print(line)
        if "hit, log on" in cases:
            logged = cases["hit, log on"].ms
            extra = "" if hit is None or logged is None else f" ({logged - hit:+.1f} ms)"
            print(f"  {'  the hit, activity log on':28} {fmt(logged):>9}{extra}")
        for kind, case in cases.items():
            if isinstance(case, Case) and case.broken:
                notes.append(f"{name} {kind}: not measured ({case.broken})")
    ours_ms = per_tool["docker-credential-ecrpy"]["hit"].ms
    pth = f"a slow .pth ({SLOW_PTH_SECONDS * 1000:g} ms) beside the package:"
    print()
    print(
        f"  {pth:44} hit {fmt(pth_hit.ms)} ({ratio(pth_hit.ms, ours_ms).strip()} the hit "
        f"above); python -c pass there {fmt(pth_floor.ms).strip()}"
    )
    print(f"  {'three accounts in one region, empty cache:':44} {region_calls} API call(s)")
    peaks = ", ".join(f"{name} {fmt(mib, 'MiB').strip()}" for name, mib in rss.items())
    print(f"  {'peak RSS (median of ' + str(RSS_RUNS) + '):':44} {peaks}")
    if None in rss.values():
        notes.append(f"peak RSS: n/a without GNU time ({GNU_TIME}; Debian: time)")
    if pth_hit.broken or pth_floor.broken:
        notes.append(f"slow .pth: not measured ({pth_hit.broken or pth_floor.broken})")
    print()
    print(f"  {PARALLEL} parallel cold gets on one empty cache ({PARALLEL_RUNS} runs):")
    for name, (wall, calls, problem) in parallel.items():
        extra = f"  [{problem}]" if problem else ""
        print(f"  {name:28} wall {fmt(wall)}   GetAuthorizationToken calls per run: {calls}{extra}")
    hits = {name: cases["hit"].ms for name, cases in rows}
    print_weather(weather, hits)
    if go_exe and GO_HELPER not in parallel:
        notes.append(
            f"{GO_HELPER}: cold miss, parallel gets and bad weather not measured (no TLS stand-in)"
        )
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
