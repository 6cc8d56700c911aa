"""``make demo``: a real ``docker pull`` from a local "ECR" through docker-credential-ecrpy.

No AWS account needed: the ECR API is a local stand-in, the registry is Debian's
docker-registry at the ECR hostname (via /etc/hosts), trusted through a CA made for this
run. Everything is set up here and torn down at the end (see tests/support/environment.py).
Run as root from the repository root with the Python where the package is installed:

    PYTHONPATH=. python demo/demo.py
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.support.environment import Environment
from tests.support.world import API_HOST, ECR_HOST, IMAGE

WIDTH = 78
BOLD, DIM, GREEN, RED, RESET = (
    ("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m") if sys.stdout.isatty() else ("",) * 5
)


def heading(number: int, title: str) -> None:
    print(f"\n{BOLD}== {number}. {title} {'=' * max(0, WIDTH - len(title) - 8)}{RESET}", flush=True)


def shell(line: str) -> None:
    print(f"{BOLD}$ {line}{RESET}", flush=True)


def note(text: str) -> None:
    print(f"{DIM}{text}{RESET}", flush=True)


def log(message: str) -> None:
    # The per-part "ready" lines are summed up in a table afterwards; show the rest.
    if not message.endswith("s)") or ": ready (" not in message:
        note(f"   {message}")


def describe(env: Environment) -> None:
    """What runs where, one line per part, with the reason for any part that cannot run."""
    rows = [
        (
            "packages",
            "Debian packages",
            "docker.io, docker-registry, skopeo, podman, apache2-utils",
        ),
        ("helper", "credential helper", env.helper),
        ("trust", "test CA in the trust store", "for dockerd, docker, skopeo, podman"),
        ("hosts", "/etc/hosts", f"{ECR_HOST} -> 127.0.0.1, {API_HOST} -> 127.0.0.2"),
        ("standin", "ECR API stand-in (HTTP)", env.standin_url),
        ("standin_tls", "ECR API stand-in (TLS)", f"{env.standin_tls_url} on 127.0.0.2:443"),
        ("registry", "registry (htpasswd: AWS)", f"https://{ECR_HOST} on 127.0.0.1:443"),
        ("image", "test image (built offline)", IMAGE),
        ("plain_registry", "registry that is not ECR", f"http://{env.plain_host}"),
        ("dockerd", "dockerd (own data root)", env.docker_host if env.work else ""),
        ("podman", "podman (private storage)", ""),
        ("docker_sdk", "Docker SDK for Python", ""),
    ]
    for part, title, where in rows:
        state = env.status.get(part, ("skip", "not set up"))
        if state is None:
            print(f"  {GREEN}ok{RESET}    {title:28} {where}")
        else:
            print(
                f"  {RED}{'skip' if state[0] == 'skip' else 'BROKEN'}{RESET}  {title:28} {state[1]}"
            )


def mask_secret(answer: dict[str, str]) -> dict[str, str]:
    secret = answer.get("Secret", "")
    return {**answer, "Secret": f"**** ({len(secret)} characters, masked)"} if secret else answer


def mask_entry(env: Environment, text: str) -> str:
    lines = []
    for raw in text.splitlines():
        key, _, value = raw.partition(" ")
        shown = raw
        if key.lower().startswith("secret"):
            shown = f"{key} **** ({len(value)} characters, masked)"
        elif key in ("issued", "expires"):
            with contextlib.suppress(ValueError):
                when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(value)))
                shown = f"{raw}    {DIM}# {when}{RESET}"
        lines.append(env.mask(shown))
    return "\n".join(lines)


def demo(env: Environment) -> int:
    heading(1, "Setting up a local ECR: API stand-in, registry, dockerd")
    note("   (first run on a fresh machine installs Debian packages: this can take minutes)")
    started = time.monotonic()
    env.up()
    describe(env)
    print(f"set up in {time.monotonic() - started:.1f} s")
    missing = [
        p for p in ("helper", "standin", "registry", "image", "docker_config") if not env.ready(p)
    ]
    if missing:
        print(
            f"{RED}cannot run the demo: {', '.join(missing)} not available (reasons above){RESET}"
        )
        return 1
    env.reset_standin()
    cache = env.path("demo-cache")
    client = env.client_env(cache_dir=cache)

    heading(2, "The Docker configuration: credHelpers names ecrpy")
    shell("cat $DOCKER_CONFIG/config.json")
    print((env.docker_config / "config.json").read_text().rstrip())
    note(f"   helper on PATH: {env.helper} -> {Path(env.helper).resolve()}")
    note(f"   AWS_ENDPOINT_URL_ECR={client['AWS_ENDPOINT_URL_ECR']} (the local ECR API stand-in)")

    heading(3, "The helper, invoked exactly as docker invokes it")
    shell(f"echo -n {ECR_HOST} | docker-credential-ecrpy get")
    result = env.run([env.helper, "get"], client, input=ECR_HOST)
    if result.returncode != 0:
        print(
            f"{RED}helper failed (exit {result.returncode}): "
            f"{env.mask(result.stdout + result.stderr)}{RESET}"
        )
        return 1
    print(json.dumps(mask_secret(json.loads(result.stdout)), indent=2))
    print(f"API calls so far: ecr:GetAuthorizationToken x {env.calls()}")

    heading(4, "A real docker pull through the helper")
    if not env.ready("dockerd"):
        print(f"{RED}skipped: {env.status['dockerd'][1]}{RESET}")  # type: ignore[index]
        pulled = False
    else:
        env.run(["docker", "image", "rm", "--force", IMAGE], client)
        shell(f"docker pull {IMAGE}")
        # Not captured: the user sees docker's own progress output.
        pulled = subprocess.run(["docker", "pull", IMAGE], env=client, check=False).returncode == 0
        repository = IMAGE.rsplit(":", 1)[0]
        shell(f"docker images {repository}")
        subprocess.run(["docker", "images", repository], env=client, check=False)
        print(f"{GREEN}pull succeeded{RESET}" if pulled else f"{RED}pull FAILED{RESET}")

    heading(5, "API calls made: one token, then cache hits")
    shell("curl $STANDIN/_standin/calls")
    print(json.dumps(env.standin_control("calls")))
    if env.calls() == 1:
        note(
            "   one GetAuthorizationToken for the helper call and the pull: the pull hit the cache"
        )

    heading(6, "The cache entry (AWS_ECR_CACHE_DIR)")
    shell(f"ls -la {cache}")
    subprocess.run(["ls", "-la", str(cache)], check=False)
    for path in env.cache_files(cache):
        mode = stat.filemode(path.stat().st_mode)
        print(
            f"\n{path.name}: mode {mode} ({oct(path.stat().st_mode & 0o777)}), "
            f"owner uid {path.stat().st_uid}"
        )
        print(mask_entry(env, path.read_text(errors="replace")))
    dir_mode = oct(cache.stat().st_mode & 0o777) if cache.exists() else "missing"
    print(f"\ndirectory mode: {dir_mode}")
    weathered = bad_weather(env, client, cache) if pulled else False
    return 0 if pulled and weathered else 1


def bad_weather(env: Environment, client: dict[str, str], cache: Path) -> bool:
    """AWS throttles every call just as the token falls due: the pull goes on with the
    cached token at once, one process on the host tries AWS behind it, and the failure is
    recorded and backed off rather than repeated by every pull."""
    heading(7, "Bad weather: AWS throttles every call, and the token is due for refresh")
    env.fault("ThrottlingException", times=10**6, message="Rate exceeded")
    before = env.calls()
    # Due one second after it was issued, valid for 12 hours: the case of every host six
    # hours after its last refresh, without the wait (all but the second).
    due = {**client, "ECRPY_REFRESH_WINDOW": "11h59m59s", "ECRPY_TIMEOUT": "5s"}
    note("   ECRPY_REFRESH_WINDOW=11h59m59s makes the cached token due; the stand-in throttles")
    time.sleep(1.5)
    pulled = True
    if env.ready("dockerd"):
        env.run(["docker", "image", "rm", "--force", IMAGE], due)
        shell(f"time docker pull {IMAGE}")
        started = time.monotonic()
        pulled = subprocess.run(["docker", "pull", IMAGE], env=due, check=False).returncode == 0
        took = time.monotonic() - started
        print(
            f"{GREEN}pull succeeded in {took:.1f} s{RESET}"
            if pulled
            else f"{RED}pull FAILED{RESET}"
        )
    deadline = time.monotonic() + 15
    while not list(cache.glob("*.failure")) and time.monotonic() < deadline:
        time.sleep(0.2)  # the background refresher, retrying within its deadline
    shell(f"cat {cache}/*.failure")
    for path in sorted(cache.glob("*.failure")):
        print(path.read_text().rstrip())
    print(f"GetAuthorizationToken calls while throttled: {env.calls() - before} (one refresher)")
    shell(f"echo -n {ECR_HOST} | docker-credential-ecrpy get >/dev/null")
    result = env.run([env.helper, "get"], due, input=ECR_HOST)
    print(env.mask(result.stderr.rstrip()))
    note("   answered from the cache, with the reason, and no call while the backoff runs:")
    print(f"GetAuthorizationToken calls since: {env.calls() - before}")
    return pulled and result.returncode == 0


def main() -> int:
    if os.geteuid() != 0:
        print("the demo edits /etc/hosts and the trust store and runs dockerd: run it as root")
    env = Environment(log=log)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    code = 1
    try:
        code = demo(env)
    except KeyboardInterrupt:
        print("\ninterrupted")
    finally:
        with contextlib.suppress(Exception):  # e.g. stdout closed by `| head`
            heading(8, "Tearing down")
        env.down()
        with contextlib.suppress(Exception):
            print("everything stopped; /etc/hosts and the trust store restored")
    return code


if __name__ == "__main__":
    sys.exit(main())
