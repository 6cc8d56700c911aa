"""Figures for the standalone binary: cache hit against the interpreter's floor, miss, size.

    PYTHONPATH=. python packaging/bench_binary.py dist/docker-credential-ecrpy-<v>-linux-<a>/<exe>

The goal (issue 11) is a cache hit at most 1.3 times as long as the interpreter's own
floor, this venv's ``python -I -S -c pass`` (no ``site``, no environment: what the
installed script starts, and what the binary's bootloader sets up), measured in the same
run on the same machine. ``python3 -c pass``, ``python3 -S -c pass`` and the venv's
``python -c pass`` are measured too: ``site`` runs every ``.pth`` file of the
interpreter's site-packages, which on some machines costs more than the whole hit (here
a sandbox's CA-injecting ``.pth`` makes ``python3 -c pass`` take 40 ms and more). Runs of
the binary, the interpreter and (when installed next to this interpreter) the console
script are interleaved so that machine noise falls on all of them alike; each is started with
posix_spawn and waited for, which adds the same small constant to all. The miss talks to
the API stand-in (tests/support/standin.py), so this needs the test venv and the repository
root on PYTHONPATH (``make bench-binary``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.constants import HOST
from tests.support.standin import StandIn

GOAL = 1.3
FLOOR = "venv python -I -S -c pass"
# The stand-in's, not a real one, but as long as a real ECR token's password (some 2 KB).
PASSWORD = "bench-password-" + "QkVOQ0g" * 300


def spawn_time(argv: list[str], env: dict[str, str], stdin_path: str) -> tuple[float, float]:
    """Wall time of one run from spawn to exit, and the CPU time (user + system) it used,
    in seconds; fails on a non-zero exit. CPU time suffers less than wall time when other
    work shares the machine, so both are reported."""
    stdin = os.open(stdin_path, os.O_RDONLY)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, null, 1)]
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - start
    finally:
        os.close(stdin)
        os.close(null)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed (status {status})")
    return elapsed, usage.ru_utime + usage.ru_stime


def real_python3() -> str:
    """What `python3` on PATH really runs (pyenv's shim is a shell script: not the point)."""
    return subprocess.run(
        ["python3", "-c", "import sys; print(sys.executable)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def disk_usage(path: Path) -> tuple[int, int, int]:
    """Bytes allocated on disk, apparent bytes, and number of files under ``path``."""
    allocated = apparent = files = 0
    for item in [path, *path.rglob("*")]:
        info = item.lstat()
        allocated += info.st_blocks * 512
        apparent += info.st_size if item.is_file() else 0
        files += item.is_file()
    return allocated, apparent, files


def summary(label: str, samples: list[tuple[float, float]]) -> str:
    wall = sorted(sample[0] for sample in samples)
    cpu = statistics.median(sample[1] for sample in samples)
    p90 = wall[int(len(wall) * 0.9) - 1]
    return (
        f"{label:<28} wall median {statistics.median(wall) * 1000:7.2f} ms  "
        f"min {wall[0] * 1000:7.2f}  p90 {p90 * 1000:7.2f}   "
        f"cpu median {cpu * 1000:6.2f} ms   (n={len(samples)})"
    )


def median_wall(samples: list[tuple[float, float]]) -> float:
    return statistics.median(sample[0] for sample in samples)


Samples = list[tuple[float, float]]


def bench_env(home: Path, url: str) -> dict[str, str]:
    """A clean environment pointing at the stand-in: nothing that could reach real AWS."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLEBENCHKEY1",
        "AWS_SECRET_ACCESS_KEY": "bench-secret-access-key-not-real",
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_ECR_CACHE_DIR": str(home / "cache"),
        "AWS_ENDPOINT_URL_ECR": url,
    }


def measure_misses(
    exe: Path, env: dict[str, str], stdin_path: str, standin: StandIn, n: int
) -> Samples:
    """``n`` misses, each with an empty cache directory of its own."""
    home = Path(env["HOME"])
    samples = [
        spawn_time(
            [str(exe), "get"], {**env, "AWS_ECR_CACHE_DIR": str(home / f"miss-{i}")}, stdin_path
        )
        for i in range(n)
    ]
    calls = standin.calls()
    if calls != n:
        raise SystemExit(f"expected {n} token calls for the misses, saw {calls}")
    return samples


def measure_hits(
    contenders: dict[str, list[str]], env: dict[str, str], stdin_path: str, runs: int
) -> dict[str, Samples]:
    """Interleaved runs of every contender, after a few to warm the page cache."""
    samples: dict[str, Samples] = {label: [] for label in contenders}
    for argv in contenders.values():
        for _ in range(5):
            spawn_time(argv, env, stdin_path)
    for _ in range(runs):
        for label, argv in contenders.items():
            samples[label].append(spawn_time(argv, env, stdin_path))
    return samples


def report(exe: Path, python3: str, samples: dict[str, Samples], misses: Samples) -> None:
    for label, values in samples.items():
        print(summary(label, values))
    print(summary("binary miss (stand-in)", misses))
    hit = median_wall(samples["binary cache hit"])
    print(f"python3 is {python3}")
    for baseline in (FLOOR, "python3 -c pass", "venv python -c pass", "python3 -S -c pass"):
        ratio = hit / median_wall(samples[baseline])
        verdict = ""
        if baseline == FLOOR:
            verdict = f"; {'goal met' if ratio <= GOAL else 'GOAL MISSED'}: <= {GOAL}x"
        print(f"binary hit / {baseline}: {ratio:.2f}x (median wall{verdict})")
    allocated, apparent, files = disk_usage(exe.parent)
    print(
        f"binary directory {exe.parent.name}: {allocated / 2**20:.1f} MiB on disk "
        f"({apparent / 2**20:.1f} MiB in {files} files)"
    )
    downloads = [*exe.parent.parent.glob("*.tar.gz"), *exe.parent.parent.glob("*.deb")]
    for download in sorted(downloads):
        print(f"download {download.name}: {download.stat().st_size / 2**20:.1f} MiB")


def main() -> int:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    exe = Path(sys.argv[1]).resolve()
    runs = int(os.environ.get("BENCH_RUNS", "200"))
    python3 = real_python3()
    contenders = {
        "binary cache hit": [str(exe), "get"],
        "python3 -c pass": [python3, "-c", "pass"],
        "python3 -S -c pass": [python3, "-S", "-c", "pass"],
        "venv python -c pass": [sys.executable, "-c", "pass"],
        FLOOR: [sys.executable, "-I", "-S", "-c", "pass"],
    }
    script = Path(sys.executable).parent / "docker-credential-ecrpy"
    if script.exists():
        contenders["console script cache hit"] = [str(script), "get"]
    quiet = {"stderr": subprocess.DEVNULL}  # its request log would bury the figures
    with (
        StandIn.start(password=PASSWORD, **quiet) as standin,
        tempfile.TemporaryDirectory() as scratch,
    ):
        home = Path(scratch)
        (home / ".aws").mkdir()
        stdin_path = str(home / "stdin")
        Path(stdin_path).write_text(HOST)
        env = bench_env(home, standin.url)
        misses = measure_misses(
            exe, env, stdin_path, standin, int(os.environ.get("BENCH_MISSES", "10"))
        )
        spawn_time([str(exe), "get"], env, stdin_path)  # fills the cache for the hits
        before = standin.control("calls")
        samples = measure_hits(contenders, env, stdin_path, runs)
        if standin.control("calls") != before:
            raise SystemExit("a cache hit called the API: the figures are not of hits")
    report(exe, python3, samples, misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
