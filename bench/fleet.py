"""A fleet of hosts that all need a token at once, against one account's quota.

ECR limits GetAuthorizationToken per account and region with a token bucket (a rate per
second, bursts beyond it), and answers ThrottlingException past it. A fleet that needs
tokens at the same moment (build hosts starting their jobs on the hour, nodes coming back
after an outage) meets that quota together. The helper's promises there: one refresh per
host however many pulls ask, and throttling retried with jitter within the deadline, so
the hosts spread themselves over the quota instead of failing after three quick tries.

This simulates it on one machine: ``--hosts`` N "hosts" are N HOME and cache directories
(``AWS_ECR_CACHE_DIR``), each with ``--pulls`` K gets for the same registry, all N x K
processes released at one instant (see ``crowd.py``) against ONE stand-in whose quota is
``--rate`` R per second with bursts of ``--burst`` B (``StandIn.config(quota_rate,
quota_burst)``). It prints the hosts fully served, the failed pulls, the API calls and how
many the quota refused, the calls per host and the slowest pull; with ``--go`` (the
default when ``docker-credential-ecr-login`` is installed) the Go helper runs the same
simulation through the TLS stand-in and proxy of ``world.py``. With ``--timer`` S, ours
runs once more as hosts with the timer of packaging/systemd/ do: each host first runs
``warm --if-due`` after a random delay within S seconds (the timer's RandomizedDelaySec,
compressed), then its pulls are released; its calls and throttled calls count the warms'.

The hosts share this machine's cores, which a real fleet does not: spawning is timed apart
(and not counted), and the CPU the pulls used after the release is printed, so a slow pull
can be told from one that queued for the CPU.

    make bench-fleet FLEET_ARGS='--hosts 192'
    PYTHONPATH=. .venv/bin/python bench/fleet.py --hosts 96 --pulls 4 --rate 4 --burst 12

Nothing here asserts a time; it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from crowd import Crowd, Outcome, gather, what_they_said
from world import (
    GO_HELPER,
    HOST,
    PASSWORD,
    TlsWorld,
    base_env,
    console_script,
    favour,
    find_go_helper,
    ours_env,
    tls_world,
)

from tests.support.standin import StandIn

THROTTLED = "ecr:GetAuthorizationToken:throttled"
# How long past the helpers' own deadline the last pull may take before it is killed.
GRACE = 60.0


class Contender(NamedTuple):
    """A helper and how a host's environment is made for it (from the host's HOME)."""

    name: str
    exe: str
    standin: StandIn
    env: Callable[[Path], dict[str, str]]
    timer: bool = False  # each host warms (warm --if-due, after a random delay) first


class Result(NamedTuple):
    crowd: Crowd
    outcomes: list[Outcome]
    calls: int
    throttled: int
    overflows: int  # listen-queue overflows on this machine during the run
    warms: list[subprocess.CompletedProcess[str]] | None = None  # the timer's runs, if any
    warm_seconds: float = 0.0  # from the first warm's start to the last one's end


def simulate(contender: Contender, args: argparse.Namespace, scratch: Path, quota: bool) -> Result:
    """Every host's pulls released together, against a fresh quota (or none, for the
    floor: what this machine makes of so many pulls at once); the outcomes and the calls
    counted at the stand-in."""
    envs = []
    for host in range(args.hosts):
        home = scratch / f"{contender.name}-{'quota' if quota else 'floor'}" / f"host-{host}"
        home.mkdir(parents=True)
        env = {**contender.env(home), "AWS_ECR_CACHE_DIR": str(home / "cache")}
        envs += [(host, env)] * args.pulls
    standin = contender.standin
    standin.reset()
    if quota:
        standin.config(quota_rate=args.rate, quota_burst=args.burst)  # a full bucket to start
    warms, warm_seconds = None, 0.0
    if contender.timer:
        started = time.monotonic()
        warms = warm_hosts(contender.exe, [env for env in envs[:: args.pulls]], args.timer)
        warm_seconds = time.monotonic() - started
    before = listen_overflows()
    crowd, outcomes = gather(
        [contender.exe, "get"], envs, HOST.encode(), timeout=args.timeout + GRACE
    )
    calls = standin.control("calls")
    return Result(
        crowd,
        outcomes,
        int(calls.get("ecr:GetAuthorizationToken", 0)),
        int(calls.get(THROTTLED, 0)),
        listen_overflows() - before,
        warms,
        warm_seconds,
    )


def warm_hosts(
    exe: str, envs: list[tuple[int, dict[str, str]]], spread: float
) -> list[subprocess.CompletedProcess[str]]:
    """Each host's timer: ``warm --if-due`` after a random delay within ``spread`` seconds,
    all hosts at once; their results, when all are done."""
    results: list[subprocess.CompletedProcess[str]] = []

    def timer(env: dict[str, str], delay: float) -> None:
        time.sleep(delay)
        done = subprocess.run(
            [exe, "warm", "--if-due", HOST], env=env, capture_output=True, text=True, timeout=300
        )
        results.append(done)

    delays = [random.uniform(0, spread) for _ in envs]  # noqa: S311 - jitter, no secret
    threads = [
        threading.Thread(target=timer, args=(env, delay))
        for (_, env), delay in zip(envs, delays, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def listen_overflows() -> int:
    """TCP connections this machine refused for a full listen queue so far: each costs
    its client a SYN retransmit (a second or more), which is the machine's doing, not the
    helper's."""
    try:
        with open("/proc/net/netstat") as file:
            lines = [line.split() for line in file if line.startswith("TcpExt:")]
    except OSError:
        return 0
    names, values = lines[0], lines[1]
    return int(values[names.index("ListenOverflows")]) if "ListenOverflows" in names else 0


def report(args: argparse.Namespace, results: dict[tuple[str, bool], Result]) -> None:
    timeout = f"ECRPY_TIMEOUT={args.timeout:g}s" + ("" if args.timeout_given else " (default)")
    if args.spread:
        timeout += f" and ECRPY_SPREAD={args.spread:g}s"
    heading = (
        f"Fleet: {args.hosts} hosts x {args.pulls} pulls of {HOST}, all "
        f"{args.hosts * args.pulls} gets released at one instant against one stand-in whose "
        f"GetAuthorizationToken quota is a token bucket of {args.rate:g}/s with bursts of "
        f"{args.burst:g}; ours with {timeout}. A host is a HOME and cache directory of its "
        "own; served: all its pulls succeeded; calls: GetAuthorizationToken calls at the "
        "stand-in, throttled: those the quota refused; slowest and median: from the release "
        "to a pull's exit; /floor: against the same fleet without a quota, which is what "
        "this machine's cores make of so many pulls at once."
    )
    print()
    print(textwrap.fill(heading, 96, initial_indent="  ", subsequent_indent="  "))
    print()
    print(
        f"  {'helper / quota':28} {'served':>9} {'failed':>9} {'calls':>6} {'throttled':>9}"
        f" {'calls/host':>10} {'slowest':>8} {'/floor':>7} {'median':>7}"
    )
    names = dict.fromkeys(name for name, _ in results)
    for name in names:
        print(f"  {name}")
        floor = results.get((name, False))
        for quota in (False, True):
            if (name, quota) not in results:
                continue
            result = results[name, quota]
            label = f"{args.rate:g}/s, bursts of {args.burst:g}" if quota else "none (the floor)"
            print(f"    {label:26} {row(args, result, floor if quota else None)}")
    for (name, quota), result in results.items():
        failed = sum(outcome.returncode != 0 for outcome in result.outcomes)
        if not quota and failed:
            print(
                f"  note: {name} failed {failed} of {len(result.outcomes)} pulls without any "
                f"quota: so many at once are more than this machine's {os.cpu_count()} cores "
                "can serve in time, so the figures with the quota are the machine's as much as the "
                "helper's (--timeout gives ours room; fewer --hosts fit the machine)"
            )
    for (name, quota), result in results.items():
        print()
        print(f"  {name}, {'with the quota' if quota else 'without a quota'}:")
        for line in details(args, result):
            print(f"    {line}")


def row(args: argparse.Namespace, result: Result, floor: Result | None) -> str:
    outcomes = result.outcomes
    failed_hosts = {outcome.tag for outcome in outcomes if outcome.returncode != 0}
    failed = sum(outcome.returncode != 0 for outcome in outcomes)
    seconds = [outcome.seconds for outcome in outcomes]
    versus = ""
    if floor is not None:
        versus = f"{max(seconds) / max(outcome.seconds for outcome in floor.outcomes):.2f}x"
    line = f"{args.hosts - len(failed_hosts):>5}/{args.hosts:<4} {failed:>4}/{len(outcomes):<4}"
    line += f" {result.calls:>6} {result.throttled:>9} {result.calls / args.hosts:>10.2f}"
    line += f" {max(seconds):>6.1f} s {versus:>7} {statistics.median(seconds):>5.1f} s"
    return line


def details(args: argparse.Namespace, result: Result) -> list[str]:
    """How long the spawning took, the CPU the pulls used, the tokens issued, what the
    machine's listen queues dropped, and what the pulls said."""
    crowd = result.crowd
    spawned = f"spawning the {len(result.outcomes)} processes and seeing each blocked on stdin"
    spawned += f" took {crowd.spawn_seconds:.1f} s (before the release: not counted)"
    if crowd.not_blocked:
        spawned += f"; {crowd.not_blocked} were released before they were seen blocked"
    slowest = max(outcome.seconds for outcome in result.outcomes)
    cores = os.cpu_count() or 1
    lines = [
        spawned,
        f"CPU used by the pulls after the release: {crowd.cpu_seconds:.1f} s in {slowest:.1f} s "
        f"of wall time, {crowd.cpu_seconds / slowest / cores:.0%} of this machine's {cores} "
        f"cores (1-minute load average {crowd.load:.1f} at the release: other work's and "
        "this bench's own earlier runs)",
        f"calls answered with a token: {result.calls - result.throttled} for {args.hosts} "
        "hosts (a call answered after its caller gave up counts too)",
    ]
    failed = [outcome.seconds for outcome in result.outcomes if outcome.returncode != 0]
    if failed:
        lines.append(
            f"the failed pulls ended {min(failed):.1f} to {max(failed):.1f} s after the release"
        )
    if result.overflows:
        lines.append(
            f"{result.overflows} connections overflowed a listen queue on this machine during "
            "the run (each waits for a SYN retransmit: 1 s or more)"
        )
    if result.warms is not None:
        failed_warms = [done for done in result.warms if done.returncode != 0]
        lines.append(
            f"the timer: {len(result.warms)} hosts ran warm --if-due within {args.timer:g} s "
            f"(all done {result.warm_seconds:.1f} s after the first delay began), "
            f"{len(failed_warms)} left without a token"
            + (f" ({failed_warms[0].stdout.strip()[:200]})" if failed_warms else "")
        )
    return lines + what_they_said(result.outcomes)


def contenders(
    args: argparse.Namespace, standin: StandIn, world: TlsWorld | None
) -> list[Contender]:
    def ours(home: Path) -> dict[str, str]:
        env = ours_env(home, standin)
        if args.timeout_given:
            env["ECRPY_TIMEOUT"] = f"{args.timeout:g}s"
        if args.spread:
            env["ECRPY_SPREAD"] = f"{args.spread:g}s"
        return env

    chosen = [Contender(Path(args.exe).name, args.exe, standin, ours)]
    if args.timer:
        name = f"{Path(args.exe).name} + timer"
        chosen.append(Contender(name, args.exe, standin, ours, timer=True))
    if world is not None and args.go_exe:
        go = Contender(GO_HELPER, args.go_exe, world.standin, lambda h: world.env(base_env(h)))
        chosen.append(go)
    return chosen


@contextlib.contextmanager
def go_world(args: argparse.Namespace, scratch: Path) -> Iterator[TlsWorld | None]:
    """The TLS stand-in for the Go helper, when it is asked for and can be had."""
    if not args.go:
        yield None
        return
    args.go_exe, problem = find_go_helper()
    if args.go_exe is None:
        print(f"fleet: {problem}; the Go helper is not run")
        yield None
        return
    with tls_world(scratch) as world:
        if isinstance(world, str):
            print(f"fleet: {world}; the Go helper is not run")
            yield None
        else:
            yield world


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=48, help="hosts (default 48)")
    parser.add_argument("--pulls", type=int, default=4, help="parallel gets per host (4)")
    parser.add_argument("--rate", type=float, default=4.0, help="quota: calls a second (4)")
    parser.add_argument("--burst", type=float, default=12.0, help="quota: burst (12)")
    parser.add_argument(
        "--timeout", type=float, help="ECRPY_TIMEOUT in seconds (default: the helper's, 20)"
    )
    parser.add_argument(
        "--spread",
        type=float,
        default=0.0,
        help="ECRPY_SPREAD in seconds for ours: a planned storm (default: off, as shipped)",
    )
    parser.add_argument(
        "--timer",
        type=float,
        default=0.0,
        help="also ours with the timer: each host runs warm --if-due after a random delay "
        "within this many seconds, then pulls (default: off)",
    )
    parser.add_argument("--exe", help="our helper (default: the console script of this venv)")
    parser.add_argument(
        "--go",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"also run {GO_HELPER} (default: when installed)",
    )
    parser.add_argument(
        "--floor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first run the same fleet without a quota, as the floor (default: yes)",
    )
    args = parser.parse_args(argv)
    args.timeout_given = args.timeout is not None
    if args.timeout is None:
        args.timeout = 20.0
    args.exe = args.exe or console_script()
    args.go_exe = None
    return args


def main() -> int:
    began = time.monotonic()
    args = parse()
    scratch = Path(tempfile.mkdtemp(prefix="ecrpy-fleet-"))
    try:
        standin = StandIn.start(password=PASSWORD, stderr=subprocess.DEVNULL)
        try:
            with go_world(args, scratch) as world:
                stand_ins = [standin] + ([world.standin] if world is not None else [])
                favoured = all([favour(each) for each in stand_ins])
                results = {
                    (contender.name, quota): simulate(contender, args, scratch, quota)
                    for contender in contenders(args, standin, world)
                    for quota in ((False, True) if args.floor else (True,))
                }
        finally:
            standin.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(args, results)
    print()
    if favoured:
        print("  note: the stand-ins ran at nice -10: they play AWS, whose CPUs no host shares")
    else:
        print("  note: the stand-ins ran at the hosts' priority (raising it needs root)")
    print(f"  note: fleet.py took {time.monotonic() - began:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
