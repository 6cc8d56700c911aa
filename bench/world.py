"""The world the benchmarked helpers run in, shared by ``bench.py`` and ``fleet.py``: the
registry they are asked for, a clean environment with dummy keys, the API stand-ins, and
what the Go helper needs to reach one.

The Go helper ignores ``AWS_ENDPOINT_URL*``: it reaches ECR only at the real API hostname
over TLS. So it gets its own stand-in served over TLS with a certificate for that name
(from a throwaway CA given to it with ``SSL_CERT_FILE``), through a local CONNECT proxy
given with ``HTTPS_PROXY``: no change to ``/etc/hosts`` or the system trust store.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import os
import selectors
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from tests.support.constants import ACCOUNT, ENDPOINT_VARIABLES, HOST
from tests.support.helper import no_real_aws
from tests.support.pki import CertificateAuthority
from tests.support.standin import StandIn

REGION = "us-east-1"  # HOST's
API_HOST = f"api.ecr.{REGION}.amazonaws.com"
# Dummy keys in AWS's shape, never real ones.
ACCESS_KEY_ID = "AKIDEXAMPLEBENCHKEY1"
SECRET_ACCESS_KEY = "benchSECRETkeyEXAMPLEvalue00000000000000"  # noqa: S105
# As long as the password of a real ECR token (some 2 KB of base64), which a hit reads,
# checks and writes out.
PASSWORD = "bench-token-password-" + "QkVOQ0g" * 300
GO_HELPER = "docker-credential-ecr-login"


def base_env(home: Path) -> dict[str, str]:
    """Nothing inherited that could reach real AWS or a real cache; the bench's own keys."""
    return no_real_aws(home, ACCESS_KEY_ID, SECRET_ACCESS_KEY)


def ours_env(home: Path, standin: StandIn) -> dict[str, str]:
    """``base_env`` with every API our helper may call pointed at ``standin``."""
    return {**base_env(home), **dict.fromkeys(ENDPOINT_VARIABLES, standin.url)}


def console_script() -> str:
    """Our helper as ``make install`` puts it next to this interpreter."""
    script = Path(sys.executable).parent / "docker-credential-ecrpy"
    if not script.exists():
        raise SystemExit(f"bench: {script} is missing; run `make install`")
    return str(script)


def favour(standin: StandIn) -> bool:
    """Raise the stand-in's scheduling priority, where we may (as root): it plays AWS,
    which does not share its CPUs with the hosts that call it, so a crowd of helpers
    should not slow its answers. Whether it was raised."""
    assert standin.process is not None
    try:
        os.setpriority(os.PRIO_PROCESS, standin.process.pid, -10)
    except OSError:
        return False
    return True


# -- the Go helper ---------------------------------------------------------------------------


def go_cache_key(region: str, access_key_id: str, registry_id: str) -> str:
    """The Go helper's (0.6) cache key: region, its "checksum" of the access key id (which
    is the key id itself, base64-encoded with an MD5 of nothing appended), registry id."""
    checksum = base64.b64encode(access_key_id.encode() + hashlib.md5(b"").digest()).decode()  # noqa: S324
    return f"{region}-{checksum}-{registry_id}"


def seed_go_cache(directory: Path, age: float = 0.0, lifetime: float = 12 * 3600.0) -> None:
    """A cached token for ``HOST`` in the Go helper's ``cache.json``, requested ``age``
    seconds ago. The Go helper takes a token as fresh until half its lifetime has passed:
    an age of 7 h of 12 h makes one it refreshes before answering, though it is valid."""
    requested = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=age)

    def stamp(moment: datetime.datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    entry = {
        "AuthorizationToken": base64.b64encode(f"AWS:{PASSWORD}".encode()).decode(),
        "RequestedAt": stamp(requested),
        "ExpiresAt": stamp(requested + datetime.timedelta(seconds=lifetime)),
        "ProxyEndpoint": f"https://{HOST}",
        "Service": "ecr",
    }
    directory.mkdir(parents=True, exist_ok=True)
    document = {"Registries": {go_cache_key(REGION, ACCESS_KEY_ID, ACCOUNT): entry}}
    document["Version"] = "1.0"  # type: ignore[assignment]
    (directory / "cache.json").write_text(json.dumps(document))


def find_go_helper() -> tuple[str | None, str]:
    """The Go helper's path (installed from Debian when we are root and it is missing), or
    None and why not."""
    found = shutil.which(GO_HELPER)
    if found:
        return found, ""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, f"{GO_HELPER} is not installed (Debian: amazon-ecr-credential-helper)"
    print(f"bench: installing amazon-ecr-credential-helper for {GO_HELPER} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> int:
        quiet = subprocess.DEVNULL
        return subprocess.run(["apt-get", *args], env=env, stdout=quiet, stderr=quiet).returncode

    if apt_get("install", "-y", "amazon-ecr-credential-helper") != 0:
        apt_get("update")
        apt_get("install", "-y", "amazon-ecr-credential-helper")
    found = shutil.which(GO_HELPER)
    return found, "" if found else "apt-get install amazon-ecr-credential-helper failed"


class TlsWorld(NamedTuple):
    """A stand-in at the real API hostname, as the Go helper sees it."""

    standin: StandIn
    proxy: str  # for HTTPS_PROXY
    ca: Path  # for SSL_CERT_FILE

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` for a helper that must reach this stand-in through the proxy."""
        return {**env, "HTTPS_PROXY": self.proxy, "SSL_CERT_FILE": str(self.ca)}


@contextlib.contextmanager
def tls_world(directory: Path) -> Iterator[TlsWorld | str]:
    """A TLS stand-in and the CONNECT proxy to it, stopped on exit; without ``openssl``,
    the reason there is none."""
    certs = make_certificates(directory)
    if certs is None:
        yield f"{GO_HELPER}: no `openssl` for a TLS stand-in"
        return
    ca, leaf, key = certs
    standin = StandIn.start(
        "--cert", str(leaf), "--key", str(key),
        cafile=ca, password=PASSWORD, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with connect_proxy(standin.port) as proxy:
            yield TlsWorld(standin, proxy, ca)
    finally:
        standin.stop()


# -- a CONNECT proxy to the stand-in ------------------------------------------------------


class _Tunnel(socketserver.BaseRequestHandler):
    """``CONNECT host:443`` -> a TCP tunnel to the TLS stand-in, whatever the host."""

    target_port = 0

    def handle(self) -> None:
        try:
            self.tunnel()
        except ConnectionError:
            pass  # one end hung up mid-exchange: the other is of no more use

    def tunnel(self) -> None:
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
            self.relay(upstream)

    def relay(self, upstream: socket.socket) -> None:
        """Bytes both ways until either end closes or both are silent for 30 s. Through
        a selector (epoll), not select(): a fleet's bench holds descriptors beyond
        select()'s limit of 1024."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.request, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, self.request)
            while True:
                ready = selector.select(30)
                if not ready:
                    return
                for key, _ in ready:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)


class Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # a fleet of Go helpers connects at once


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
