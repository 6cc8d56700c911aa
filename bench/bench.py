"""``make bench``: what a Docker pull pays for a credential, measured as whole processes.

Docker starts a fresh helper process for every pull and push, so the figure that matters
is the wall time of the whole process, interpreter start included. Every figure here is
the median of whole-process runs taken in this one run, interleaved round by round so
that drift in the machine's load hits every case alike, and set against a floor measured
the same way:

- a cache hit and the non-ECR "not found" answer against ``python -c pass`` on the same
  interpreter (the goal for the hit: at most 1.3x); and the hit with the activity log on
  (``ECRPY_LOG``) against the same hit with it off;
- a cold miss (empty cache: botocore, one GetAuthorizationToken, a cache write) against a
  bare botocore script making the same call;
- N parallel cold gets on one empty cache: wall time and the API calls counted at the
  stand-in (one is the goal);
- the same for ``docker-credential-ecr-login`` (the Go helper) when it is installed, and
  for ``ECRPY_BENCH_EXE`` (e.g. the PyInstaller binary) when set.

The Go helper ignores ``AWS_ENDPOINT_URL*``: it reaches ECR only at the real API hostname
over TLS. So it gets its own stand-in served over TLS with a certificate for that name
(from a throwaway CA given to it with ``SSL_CERT_FILE``), through a local CONNECT proxy
given with ``HTTPS_PROXY``: no change to ``/etc/hosts`` or the system trust store.

Nothing here asserts a time; it prints. ``ECRPY_BENCH_RUNS`` sets the rounds (default 40).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import os
import select
import shutil
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.support.pki import CertificateAuthority
from tests.support.standin import StandIn

ACCOUNT = "123456789012"
REGION = "us-east-1"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
API_HOST = f"api.ecr.{REGION}.amazonaws.com"
OTHER_HOST = "registry.example.com"
# Dummy keys in AWS's shape, never real ones.
ACCESS_KEY_ID = "AKIDEXAMPLEBENCHKEY1"
SECRET_ACCESS_KEY = "benchSECRETkeyEXAMPLEvalue00000000000000"  # noqa: S105
PASSWORD = "bench-token-password"  # noqa: S105
RUNS = int(os.environ.get("ECRPY_BENCH_RUNS", "40"))
MISS_RUNS = max(5, RUNS // 4)
PARALLEL = 32
PARALLEL_RUNS = 3
GO_HELPER = "docker-credential-ecr-login"

BOTOCORE_CALL = f"""
import botocore.session
session = botocore.session.get_session()
client = session.create_client("ecr", region_name="{REGION}")
client.get_authorization_token(registryIds=["{ACCOUNT}"])
"""


# -- a CONNECT proxy to the stand-in ------------------------------------------------------


class _Tunnel(socketserver.BaseRequestHandler):
    """``CONNECT host:443`` -> a TCP tunnel to the TLS stand-in, whatever the host."""

    target_port = 0

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        if not head.startswith(b"CONNECT "):
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        with socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            ends = [self.request, upstream]
            while True:
                ready, _, _ = select.select(ends, [], [], 30)
                if not ready:
                    return
                for end in ready:
                    data = end.recv(65536)
                    if not data:
                        return
                    (upstream if end is self.request else self.request).sendall(data)


class Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def connect_proxy(target_port: int) -> Iterator[str]:
    handler = type("Tunnel", (_Tunnel,), {"target_port": target_port})
    server = Proxy(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def make_certificates(directory: Path) -> tuple[Path, Path, Path] | None:
    """A throwaway CA and a certificate for the ECR API hostname (and 127.0.0.1, where the
    bench's control requests reach the stand-in); None without openssl."""
    if shutil.which("openssl") is None:
        return None
    ca = CertificateAuthority(directory / "pki", "ecrpy bench CA")
    leaf, key = ca.issue(API_HOST, f"ecr.{REGION}.amazonaws.com", "localhost", "127.0.0.1")
    return ca.cert, leaf, key


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
    """``n`` processes started together on an empty cache: median wall ms, API calls."""
    walls, calls, problem = [], [], ""
    for index in range(runs):
        standin.reset()
        full = {**env, **cache_env(1000 + index)}
        processes = [
            subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=full,
            )
            for _ in range(n)
        ]
        time.sleep(0.3)  # let every process reach its read of stdin
        start = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(HOST.encode())
            process.stdin.close()
        failed = 0
        for process in processes:
            process.wait(timeout=300)
            failed += process.returncode != 0
        walls.append(time.perf_counter() - start)
        for process in processes:
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        calls.append(standin.calls())
        if failed:
            problem = f"{failed} of {n} failed"
    return statistics.median(walls) * 1000, calls, problem


# -- the executables -----------------------------------------------------------------------


def base_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
    }


def ours(name: str, exe: str, home: Path, standin: StandIn) -> dict[str, Any]:
    env = base_env(home)
    for variable in ("AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_ECR_PUBLIC", "AWS_ENDPOINT_URL_STS"):
        env[variable] = standin.url
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


def go_cache_key(region: str, access_key_id: str, registry_id: str) -> str:
    """The Go helper's (0.6) cache key: region, its "checksum" of the access key id (which
    is the key id itself, base64-encoded with an MD5 of nothing appended), registry id."""
    checksum = base64.b64encode(access_key_id.encode() + hashlib.md5(b"").digest()).decode()  # noqa: S324
    return f"{region}-{checksum}-{registry_id}"


def seed_go_cache(directory: Path) -> None:
    now = datetime.datetime.now(datetime.UTC)

    def stamp(moment: datetime.datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    entry = {
        "AuthorizationToken": base64.b64encode(f"AWS:{PASSWORD}".encode()).decode(),
        "RequestedAt": stamp(now),
        "ExpiresAt": stamp(now + datetime.timedelta(hours=12)),
        "ProxyEndpoint": f"https://{HOST}",
        "Service": "ecr",
    }
    directory.mkdir(parents=True, exist_ok=True)
    document = {"Registries": {go_cache_key(REGION, ACCESS_KEY_ID, ACCOUNT): entry}}
    document["Version"] = "1.0"  # type: ignore[assignment]
    (directory / "cache.json").write_text(json.dumps(document))


def go_helper(exe: str, home: Path, proxy: str | None, ca: Path | None) -> dict[str, Any]:
    env = base_env(home)
    env["AWS_ECR_CACHE_DIR"] = str(home / "go-hit")
    seed_go_cache(home / "go-hit")

    def fresh_cache(index: int) -> Mapping[str, str]:
        return {"AWS_ECR_CACHE_DIR": str(home / f"go-cold-{index}")}

    cases: dict[str, Any] = {
        "hit": Case([exe, "get"], env, HOST, 0, PASSWORD),
        "not-found": Case([exe, "get"], env, OTHER_HOST, 1, "credentials not found"),
    }
    if proxy and ca:
        online = {**env, "HTTPS_PROXY": proxy, "SSL_CERT_FILE": str(ca)}
        cases["miss"] = Case([exe, "get"], online, HOST, 0, PASSWORD, before=fresh_cache)
        cases["parallel"] = ([exe, "get"], online, fresh_cache)
    return cases


def find_go_helper() -> tuple[str | None, str]:
    found = shutil.which(GO_HELPER)
    if found:
        return found, ""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, f"{GO_HELPER} is not installed (Debian: amazon-ecr-credential-helper)"
    print(f"bench: installing amazon-ecr-credential-helper for {GO_HELPER} ...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        ["apt-get", "install", "-y", "amazon-ecr-credential-helper"], env=env, **quiet
    )
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, **quiet)
        subprocess.run(
            ["apt-get", "install", "-y", "amazon-ecr-credential-helper"], env=env, **quiet
        )
    found = shutil.which(GO_HELPER)
    return found, "" if found else "apt-get install amazon-ecr-credential-helper failed"


# -- report --------------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "ms") -> str:
    return "   n/a" if value is None else f"{value:6.1f} {unit}"


def ratio(value: float | None, floor: float | None) -> str:
    return "" if value is None or not floor else f"{value / floor:5.2f}x"


def main() -> int:  # noqa: PLR0912, PLR0915 - a report that reads top to bottom
    ours_exe = str(Path(sys.executable).parent / "docker-credential-ecrpy")
    if not Path(ours_exe).exists():
        raise SystemExit(f"bench: {ours_exe} is missing; run `make bench`")
    tools: list[tuple[str, str]] = [("docker-credential-ecrpy", ours_exe)]
    if os.environ.get("ECRPY_BENCH_EXE"):
        tools.append(("ECRPY_BENCH_EXE", os.environ["ECRPY_BENCH_EXE"]))
    go_exe, go_note = find_go_helper()

    scratch = Path(tempfile.mkdtemp(prefix="ecrpy-bench-"))
    standin = StandIn.start(password=PASSWORD, stderr=subprocess.DEVNULL)
    tls_standin: StandIn | None = None
    notes: list[str] = []
    try:
        env = base_env(scratch)
        floor = Case([sys.executable, "-c", "pass"], env)
        botocore_env = {**env, "AWS_ENDPOINT_URL_ECR": standin.url}
        bare = Case([sys.executable, "-c", BOTOCORE_CALL], botocore_env)
        per_tool = {name: ours(name, exe, scratch, standin) for name, exe in tools}

        go_cases: dict[str, Any] = {}
        proxy_cm: contextlib.AbstractContextManager[str | None] = contextlib.nullcontext(None)
        ca: Path | None = None
        if go_exe:
            certs = make_certificates(scratch)
            if certs:
                ca, leaf, key = certs
                tls_standin = StandIn.start(
                    "--cert", str(leaf), "--key", str(key),
                    cafile=ca, password=PASSWORD, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                proxy_cm = connect_proxy(tls_standin.port)
            else:
                notes.append(f"{GO_HELPER}: no `openssl` for a TLS stand-in; hit only")
        else:
            notes.append(go_note)

        with proxy_cm as proxy:
            if go_exe:
                go_cases = go_helper(go_exe, scratch / "go", proxy, ca)
                (scratch / "go").mkdir(exist_ok=True)

            # The warm-up round of each hit case is the miss that fills its cache.
            fast = [floor]
            for cases in [*per_tool.values(), go_cases]:
                fast += [cases[k] for k in ("hit", "hit, log on", "not-found") if k in cases]
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
            if "parallel" in go_cases and tls_standin is not None:
                argv, penv, fresh = go_cases["parallel"]
                parallel[GO_HELPER] = parallel_cold(argv, penv, fresh, tls_standin)
    finally:
        standin.stop()
        if tls_standin is not None:
            tls_standin.stop()
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
        if "hit, log on" in cases:
            logged = cases["hit, log on"].ms
            extra = "" if hit is None or logged is None else f" ({logged - hit:+.1f} ms)"
            print(f"  {'  the hit, activity log on':28} {fmt(logged):>9}{extra}")
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
