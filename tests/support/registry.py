"""The registries: Debian's ``docker-registry`` (distribution 2.8) as ECR, and a second
one that is not ECR.

The ECR one serves TLS at the ECR hostname on 127.0.0.1:443 with htpasswd auth for user
``AWS`` and the password the stand-in's tokens decode to: so a client gets in only with
the token the helper obtained, exactly as with ECR. The other one has no auth and no TLS
on ``localhost:5000`` (or a free port): what the helper must answer "not found" for.
"""

from __future__ import annotations

import base64
import secrets
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.commands import clean_env, run
from tests.support.network import free_port, port_free
from tests.support.parts import Unavailable
from tests.support.processes import Supervisor
from tests.support.world import ECR_HOST, PLAIN_PORT, REGISTRY_ADDR

USER = "AWS"  # ECR's registry user, whatever the identity


def basic_credentials(password: str) -> str:
    """The value of a Basic ``Authorization`` (and of an auth file's ``auth``)."""
    return base64.b64encode(f"{USER}:{password}".encode()).decode()


def start_ecr_registry(
    supervisor: Supervisor,
    directory: Path,
    *,
    password: str,
    tls: tuple[Path, Path],
    ca_cert: Path,
) -> None:
    """The registry at the ECR hostname; ready when it asks for credentials."""
    if not port_free(REGISTRY_ADDR, 443):
        raise Unavailable(f"{REGISTRY_ADDR}:443 is in use")
    (directory / "data").mkdir(parents=True)
    htpasswd = directory / "htpasswd"
    # -i: the password comes on stdin, never on a command line.
    run(["htpasswd", "-c", "-i", "-B", str(htpasswd), USER], input_text=password)
    config = directory / "config.yml"
    config.write_text(
        _config(addr=f"{REGISTRY_ADDR}:443", data=directory / "data", tls=tls, htpasswd=htpasswd)
    )
    log = directory / "registry.log"
    supervisor.spawn(
        "registry", ["docker-registry", "serve", str(config)], log=log, env=clean_env()
    )
    supervisor.wait(lambda: ecr_status(ca_cert, password) == 401, "registry", log)


def ecr_status(
    ca_cert: Path, password: str, path: str = "/v2/", *, authenticated: bool = False
) -> int:
    """HTTP status of a GET on the ECR registry, verifying TLS with the test CA only;
    ``authenticated`` sends the password directly (no helper, no client)."""
    context = ssl.create_default_context(cafile=str(ca_cert))
    request = urllib.request.Request(f"https://{ECR_HOST}{path}")
    request.add_header(
        "Accept",
        "application/vnd.docker.distribution.manifest.v2+json, "
        "application/vnd.oci.image.manifest.v1+json",
    )
    if authenticated:
        request.add_header("Authorization", f"Basic {basic_credentials(password)}")
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def plain_port() -> int:
    """:data:`PLAIN_PORT`, the port people expect of a local registry, unless it is taken."""
    return PLAIN_PORT if port_free("127.0.0.1", PLAIN_PORT) else free_port()


def start_plain_registry(supervisor: Supervisor, directory: Path, port: int) -> None:
    """The registry that is not ECR; ready when it answers ``/v2/`` without credentials."""
    (directory / "data").mkdir(parents=True)
    config = directory / "config.yml"
    config.write_text(_config(addr=f"127.0.0.1:{port}", data=directory / "data"))
    log = directory / "registry.log"
    supervisor.spawn(
        "plain_registry", ["docker-registry", "serve", str(config)], log=log, env=clean_env()
    )

    def up() -> bool:
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                f"http://127.0.0.1:{port}/v2/", timeout=5
            ) as response:
                return int(response.status) == 200
        except OSError:
            return False

    supervisor.wait(up, "plain_registry", log)


def _config(
    *, addr: str, data: Path, tls: tuple[Path, Path] | None = None, htpasswd: Path | None = None
) -> str:
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {data}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: {addr}",
        f"  secret: {secrets.token_hex(16)}",
    ]
    if tls:
        lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
    if htpasswd:
        lines += ["auth:", "  htpasswd:", "    realm: ecr-e2e", f"    path: {htpasswd}"]
    return "\n".join(lines) + "\n"
