"""A real ECR-like world on this machine, for the end-to-end tests and for ``make demo``.

What :class:`Environment` sets up (and tears down again):

- the Debian packages the real clients need (``apt-get install`` when missing) and the
  Python ones (``moto[server]`` for the API stand-in, the ``docker`` SDK);
- a CA made with ``openssl`` for this run only, and server certificates for the ECR
  registry hostname and for the ECR API hostname; the CA is added to the system trust
  store (``/usr/local/share/ca-certificates`` + ``update-ca-certificates``) so that the Go
  clients (dockerd, the docker CLI, skopeo, podman) trust it; botocore gets it through
  ``AWS_CA_BUNDLE`` in :meth:`Environment.client_env`;
- ``/etc/hosts`` lines mapping ``123456789012.dkr.ecr.us-east-1.amazonaws.com`` to
  127.0.0.1 and ``api.ecr.us-east-1.amazonaws.com`` to 127.0.0.2;
- the ECR API stand-in (``tests/support/standin.py``) twice: over plain HTTP on a free loopback
  port (for ``AWS_ENDPOINT_URL_ECR``) and over TLS on 127.0.0.2:443 at the real API
  hostname (the path a user without an endpoint override takes);
- Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1:443 with TLS and htpasswd
  auth for user ``AWS`` and the password the stand-in's token decodes to, so that the
  token really authenticates; a second one without auth on ``localhost:5000`` (not ECR);
- a tiny image, written by hand as an OCI layout and pushed to both with ``skopeo``;
- ``dockerd`` with its own socket, data root and exec root;
- podman's private storage;
- a ``DOCKER_CONFIG`` whose ``credHelpers`` names ``ecrpy`` for the ECR hostname.

Every process it starts is recorded by PID (and start time) in ``/run/ecrpy-e2e/state.json``
and stopped by that PID; host-level changes are undone in :meth:`Environment.down`, which
is idempotent, also registered with ``atexit``, and run at the next :meth:`up` if a
previous run died before it could clean up. Only one environment runs at a time on a
machine (an ``flock`` on ``/run/ecrpy-e2e/lock``): its ports and hostnames are global.

A part that cannot run here (not root, a package that will not install, a port in use) is
recorded as *skipped* with the reason; a part that should have worked but broke is
recorded as *broken*. :meth:`Environment.need` raises :class:`Unavailable` or
:class:`Broken` accordingly, and the pytest fixtures turn them into a skip or a failure:
nothing passes silently.

Secrets (the registry password, tokens) are never printed or put on a command line.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for tests/
from tests.support.pki import CertificateAuthority
from tests.support.standin import StandIn, StandInError

REPO_ROOT = Path(__file__).resolve().parents[2]

ACCOUNT = "123456789012"
REGION = "us-east-1"
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
API_HOST = f"api.ecr.{REGION}.amazonaws.com"
REGISTRY_ADDR = "127.0.0.1"  # the ECR registry, port 443
API_ADDR = "127.0.0.2"  # the API stand-in over TLS, port 443
PLAIN_PORT = 5000  # the registry that is not ECR, on localhost
REPOSITORY = "e2e/hello"
TAG = "v1"
IMAGE = f"{ECR_HOST}/{REPOSITORY}:{TAG}"

STATE_DIR = Path("/run/ecrpy-e2e")
HOSTS_FILE = Path("/etc/hosts")
HOSTS_MARK = "# docker-credential-ecrpy e2e"
CA_INSTALL_PATH = Path("/usr/local/share/ca-certificates/docker-credential-ecrpy-e2e.crt")
# Dummy credentials: botocore signs with them, the stand-in ignores them. They must not
# look like real AWS key ids, which secret scanners would flag.
DUMMY_KEY_ID = "AKIDEXAMPLEE2ETESTING"
DUMMY_SECRET = "e2e-dummy-secret-access-key-not-a-real-one"

# What the clients leave on the host whatever their flags say: dockerd 20.10 its trust key
# and /run/docker, skopeo and podman their blob-info cache. Removed at the end unless they
# were there before we started.
HOST_LEFTOVERS = (
    Path("/etc/docker/key.json"),
    Path("/run/docker"),
    Path("/var/lib/containers"),
    Path("/var/lib/containers/cache"),
)

# Which executable comes from which Debian package.
APT_PROGRAMS = {
    "openssl": "openssl",
    "update-ca-certificates": "ca-certificates",
    "htpasswd": "apache2-utils",
    "docker-registry": "docker-registry",
    "dockerd": "docker.io",
    "skopeo": "skopeo",
    "podman": "podman",
}
# The docker CLI: Debian's docker.io brings one too, but an existing (newer) one is kept.
CLI_PACKAGE = "docker.io"

# Variables that must not leak from the machine into the children: proxies would send
# loopback traffic elsewhere, and the machine-wide CA variables would hide whether our own
# settings are what makes TLS work.
SCRUBBED = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ECR",
    "AWS_ENDPOINT_URL_ECR_PUBLIC",
    "AWS_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "AWS_ECR_CACHE_DIR",
    "AWS_ECR_DISABLE_CACHE",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "REGISTRY_AUTH_FILE",
)


class Unavailable(Exception):
    """A part cannot run on this machine (not root, package missing, port in use): skip."""


class Broken(Exception):
    """A part that should have worked did not: the tests that need it fail."""


def _say(message: str) -> None:
    print(f"[e2e] {message}", file=sys.stderr, flush=True)


class Environment:
    """Set up with :meth:`up`, tear down with :meth:`down` (both idempotent)."""

    def __init__(self, log: Callable[[str], None] = _say, workdir: str | None = None) -> None:
        def safe_log(message: str) -> None:
            # A closed stdout (``demo | head``) must not stop a teardown half-way.
            with contextlib.suppress(Exception):
                log(message)

        self.log = safe_log
        self._workdir_arg = workdir
        self.work: Path | None = None
        # part name -> None (ready) or ("skip" | "broken", reason)
        self.status: dict[str, tuple[str, str] | None] = {}
        self.password = secrets.token_urlsafe(24)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.standin: StandIn | None = None
        self.standin_tls: StandIn | None = None
        self.standin_url = ""
        self.standin_tls_url = f"https://{API_HOST}"
        self.plain_host = ""
        self.helper = ""
        self._lock_fd: int | None = None
        self._up = False
        self._hosts_added = False
        self._ca_added = False
        self._created: list[str] = []  # host paths our daemons create, removed at the end
        self.timings: dict[str, float] = {}

    # -- paths --------------------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        assert self.work is not None, "environment is not up"
        return self.work.joinpath(*parts)

    @property
    def ca_cert(self) -> Path:
        return self.path("pki", "ca.crt")

    @property
    def docker_config(self) -> Path:
        return self.path("docker-config")

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path('d', 'docker.sock')}"

    # -- part bookkeeping ---------------------------------------------------------------
    def need(self, *parts: str) -> None:
        """Raise :class:`Unavailable` or :class:`Broken` unless every part is ready."""
        for part in parts:
            if part not in self.status:
                raise Broken(f"{part}: unknown part or environment not set up")
            state = self.status[part]
            if state is None:
                continue
            kind, reason = state
            if kind == "skip":
                raise Unavailable(reason)
            raise Broken(reason)

    def require(self, *parts: str) -> None:
        """For pytest: skip (the part cannot run here) or fail (it broke) unless all ready."""
        import pytest

        try:
            self.need(*parts)
        except Unavailable as exc:
            pytest.skip(str(exc))
        except Broken as exc:
            pytest.fail(str(exc), pytrace=False)

    def ready(self, part: str) -> bool:
        return self.status.get(part, ("skip", "")) is None

    def _step(self, part: str, requires: Iterable[str], action: Callable[[], None]) -> None:
        for required in requires:
            state = self.status.get(required, ("broken", "was not set up"))
            if state is not None:
                # A dependent part carries the root cause's reason, not a chain of them.
                self.status[part] = state
                self.log(f"{part}: {'skipped' if state[0] == 'skip' else 'BROKEN'} ({state[1]})")
                return
        started = time.monotonic()
        try:
            action()
        except Unavailable as exc:
            self.status[part] = ("skip", f"{exc} [e2e part: {part}]")
            self.log(f"{part}: skipped ({exc})")
        except Exception as exc:
            self.status[part] = ("broken", f"{type(exc).__name__}: {exc} [e2e part: {part}]")
            self.log(f"{part}: BROKEN ({type(exc).__name__}: {exc})")
        else:
            self.status[part] = None
            self.timings[part] = time.monotonic() - started
            self.log(f"{part}: ready ({self.timings[part]:.1f}s)")

    def summary(self) -> str:
        lines = []
        for part, state in self.status.items():
            if state is None:
                lines.append(f"  {part:16} ready")
            else:
                lines.append(
                    f"  {part:16} {'skipped' if state[0] == 'skip' else 'BROKEN'}: {state[1]}"
                )
        return "\n".join(lines)

    # -- up / down ----------------------------------------------------------------------
    def up(self) -> Environment:
        if self._up:
            return self
        self._up = True
        atexit.register(self.down)
        self._step("root", [], self._check_root)
        self._step("lock", ["root"], self._take_lock)
        self._step("workdir", ["lock"], self._make_workdir)
        self._step("packages", ["workdir"], self._install_packages)
        self._step("python", ["workdir"], self._install_python_packages)
        self._step("helper", ["workdir"], self._find_helper)
        self._step("pki", ["packages"], self._make_pki)
        self._step("trust", ["pki"], self._install_ca)
        self._step("hosts", ["lock"], self._add_hosts)
        self._step("standin", ["python", "workdir"], self._start_standin)
        self._step("standin_tls", ["standin", "pki", "hosts"], self._start_standin_tls)
        self._step("registry", ["packages", "pki", "trust", "hosts"], self._start_registry)
        self._step("plain_registry", ["packages"], self._start_plain_registry)
        self._step("image", ["registry"], self._push_image)
        self._step("plain_image", ["plain_registry", "image"], self._push_plain_image)
        self._step("docker_config", ["workdir"], self._write_docker_config)
        self._step("dockerd", ["packages", "trust", "hosts"], self._start_dockerd)
        self._step("podman", ["packages"], self._check_podman)
        self._step("docker_sdk", ["python", "dockerd"], self._check_docker_sdk)
        return self

    def down(self) -> None:
        """Stop what we started (by PID) and undo host changes. Safe to call again."""
        if not self._up:
            return
        self._up = False
        for name in reversed(list(self.processes)):
            proc = self.processes.pop(name)
            _stop(proc.pid, self.log, name)
        _remove_created(self._created)
        self._created = []
        if self._hosts_added:
            with contextlib.suppress(Exception):
                _remove_hosts_lines()
                self.log("removed /etc/hosts lines")
            self._hosts_added = False
        if self._ca_added:
            with contextlib.suppress(Exception):
                CA_INSTALL_PATH.unlink(missing_ok=True)
                _run(["update-ca-certificates"], timeout=300)
                self.log(f"removed {CA_INSTALL_PATH} and refreshed the trust store")
            self._ca_added = False
        with contextlib.suppress(FileNotFoundError):
            (STATE_DIR / "state.json").unlink()
        if self.work is not None and self._workdir_arg is None:
            # dockerd's vfs layers and podman storage may carry odd modes; remove hard.
            shutil.rmtree(self.work, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- the steps ----------------------------------------------------------------------
    def _check_root(self) -> None:
        if os.geteuid() != 0:
            raise Unavailable(
                f"not root (uid {os.geteuid()}): the e2e environment edits /etc/hosts "
                "and the trust store, and binds port 443"
            )

    def _take_lock(self) -> None:
        STATE_DIR.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(STATE_DIR / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + 120
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise Unavailable(
                        "another e2e environment has run on this machine for over 2 minutes"
                    ) from None
                time.sleep(1)
        self._lock_fd = fd
        # A previous run that died before its teardown: finish that teardown now.
        state_file = STATE_DIR / "state.json"
        if state_file.exists():
            self.log("cleaning up after a previous run that did not tear down")
            with contextlib.suppress(Exception):
                state = json.loads(state_file.read_text())
                for entry in state.get("processes", []):
                    if _start_time(entry["pid"]) == entry["start"]:
                        _stop(entry["pid"], self.log, entry["name"])
                if state.get("work", "").startswith("/tmp/ecrpy-e2e-"):
                    shutil.rmtree(state["work"], ignore_errors=True)
                _remove_created(state.get("created", []))
            state_file.unlink(missing_ok=True)
        if _remove_hosts_lines():
            self.log("removed stale /etc/hosts lines")
        if CA_INSTALL_PATH.exists():
            CA_INSTALL_PATH.unlink()
            _run(["update-ca-certificates"], timeout=300)
            self.log("removed a stale test CA from the trust store")
        self._created = [str(path) for path in HOST_LEFTOVERS if not path.exists()]

    def _save_state(self) -> None:
        state = {
            "owner": os.getpid(),
            "work": str(self.work) if self._workdir_arg is None else "",
            "created": self._created,
            "processes": [
                {"name": name, "pid": proc.pid, "start": _start_time(proc.pid)}
                for name, proc in self.processes.items()
            ],
        }
        tmp = STATE_DIR / "state.json.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(STATE_DIR / "state.json")

    def _make_workdir(self) -> None:
        if self._workdir_arg:
            self.work = Path(self._workdir_arg)
            self.work.mkdir(parents=True, exist_ok=True)
        else:
            # Short: dockerd's and containerd's unix sockets live under it (108-byte limit).
            self.work = Path(tempfile.mkdtemp(prefix="ecrpy-e2e-", dir="/tmp"))
        self.log(f"work directory {self.work}")

    def _install_packages(self) -> None:
        missing = sorted({pkg for prog, pkg in APT_PROGRAMS.items() if not shutil.which(prog)})
        if not shutil.which("docker"):
            missing = sorted({*missing, CLI_PACKAGE})
        if not missing:
            return
        if not shutil.which("apt-get"):
            raise Unavailable(f"missing {', '.join(missing)} and there is no apt-get")
        self.log(f"installing Debian packages: {' '.join(missing)} (this may take minutes)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        update = _run(["apt-get", "update", "-q"], env=env, timeout=600, check=False)
        if update.returncode != 0:
            self.log(f"apt-get update failed: {_tail(update.stderr)}")
        result = _run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            env=env,
            timeout=1800,
            check=False,
        )
        if result.returncode != 0:
            # Try them one by one so that one unavailable package does not take all down.
            for pkg in missing:
                _run(
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends", pkg],
                    env=env,
                    timeout=1800,
                    check=False,
                )
        still = sorted({prog for prog in APT_PROGRAMS if not shutil.which(prog)})
        if still or not shutil.which("docker"):
            raise Unavailable(
                f"could not install the programs {', '.join(still) or 'docker'}: "
                f"{_tail(result.stderr)}"
            )

    def _install_python_packages(self) -> None:
        wanted = {"moto": "moto[server]>=5", "werkzeug": "werkzeug", "docker": "docker>=7"}
        missing = [spec for module, spec in wanted.items() if not _importable(module)]
        if not missing:
            return
        self.log(f"installing into {sys.prefix}: pip install {' '.join(missing)}")
        result = _run(
            [sys.executable, "-m", "pip", "install", "-q", *missing], timeout=900, check=False
        )
        if result.returncode != 0:
            raise Unavailable(f"pip install {' '.join(missing)} failed: {_tail(result.stderr)}")
        still = [m for m in wanted if not _importable(m)]
        if still:
            raise Unavailable(f"still not importable after pip install: {', '.join(still)}")

    def _find_helper(self) -> None:
        """The executable under test: ECRPY_TEST_EXE (e.g. a frozen binary), else the one
        installed next to this interpreter, else the one on PATH. Clients find it by name,
        so it is linked as ``<work>/bin/docker-credential-ecrpy``, first on their PATH."""
        name = "docker-credential-ecrpy"
        chosen = os.environ.get("ECRPY_TEST_EXE")
        candidate = Path(sys.executable).parent / name
        found = chosen or (str(candidate) if candidate.exists() else shutil.which(name))
        if not found or not Path(found).exists():
            raise Unavailable(
                f"{name} is not installed next to {sys.executable} nor on PATH: "
                f"run `{sys.executable} -m pip install {REPO_ROOT}` (or `make install`) first"
            )
        bin_dir = self.path("bin")
        bin_dir.mkdir(exist_ok=True)
        link = bin_dir / name
        link.unlink(missing_ok=True)
        link.symlink_to(Path(found).resolve() if chosen else Path(found).absolute())
        self.helper = str(link)
        self.log(f"credential helper: {found}")

    def _make_pki(self) -> None:
        ca = CertificateAuthority(self.path("pki"), "docker-credential-ecrpy e2e test CA")
        for host in (ECR_HOST, API_HOST):
            ca.issue(host)

    def _install_ca(self) -> None:
        CA_INSTALL_PATH.parent.mkdir(parents=True, exist_ok=True)
        self._ca_added = True
        shutil.copyfile(self.ca_cert, CA_INSTALL_PATH)
        _run(["update-ca-certificates"], timeout=300)
        bundle = Path("/etc/ssl/certs/ca-certificates.crt").read_text()
        if self.ca_cert.read_text().strip() not in bundle:
            raise Broken(
                "update-ca-certificates did not add the test CA to "
                "/etc/ssl/certs/ca-certificates.crt"
            )

    def _add_hosts(self) -> None:
        self._hosts_added = True
        _add_hosts_lines({ECR_HOST: REGISTRY_ADDR, API_HOST: API_ADDR})
        for host, addr in ((ECR_HOST, REGISTRY_ADDR), (API_HOST, API_ADDR)):
            got = socket.gethostbyname(host)
            if got != addr:
                raise Broken(f"{host} resolves to {got}, not {addr}, after editing /etc/hosts")

    def _start_standin(self) -> None:
        self.standin = self._run_standin("standin", "127.0.0.1", 0)
        self.standin_url = self.standin.url

    def _start_standin_tls(self) -> None:
        if not _port_free(API_ADDR, 443):
            raise Unavailable(f"{API_ADDR}:443 is in use")
        pki = self.path("pki")
        self.standin_tls = self._run_standin(
            "standin_tls",
            API_ADDR,
            443,
            ["--cert", str(pki / f"{API_HOST}.crt"), "--key", str(pki / f"{API_HOST}.key")],
            url=self.standin_tls_url,  # the certificate names the hostname
        )
        # Prove the hostname, the certificate and the stand-in fit together.
        self.standin_tls.calls()

    def _run_standin(
        self,
        name: str,
        host: str,
        port: int,
        extra: list[str] | None = None,
        *,
        url: str | None = None,
    ) -> StandIn:
        client = StandIn.spawn(
            "--host", host, "--port", str(port), *(extra or []),
            cafile=self.ca_cert,
            password=self.password,
            log=self.path(f"{name}.log"),
            env=_clean_env({"PYTHONUNBUFFERED": "1"}),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        assert client.process is not None
        self._adopt(name, client.process)
        try:
            client.wait_ready(timeout=60)
        except StandInError as error:
            raise Broken(str(error)) from None
        if url:
            client.url = url
        client.config(password=self.password)
        return client

    def _start_registry(self) -> None:
        if not _port_free(REGISTRY_ADDR, 443):
            raise Unavailable(f"{REGISTRY_ADDR}:443 is in use")
        reg = self.path("registry")
        (reg / "data").mkdir(parents=True)
        htpasswd = reg / "htpasswd"
        # -i: the password comes on stdin, never on a command line.
        _run(["htpasswd", "-c", "-i", "-B", str(htpasswd), "AWS"], input_text=self.password)
        pki = self.path("pki")
        config = reg / "config.yml"
        config.write_text(
            _registry_config(
                addr=f"{REGISTRY_ADDR}:443",
                data=reg / "data",
                tls=(pki / f"{ECR_HOST}.crt", pki / f"{ECR_HOST}.key"),
                htpasswd=htpasswd,
            )
        )
        self._spawn(
            "registry",
            ["docker-registry", "serve", str(config)],
            log=reg / "registry.log",
            env=_clean_env(),
        )
        self._wait(lambda: self.registry_status() == 401, "registry", reg / "registry.log")

    def registry_status(self, path: str = "/v2/", *, authenticated: bool = False) -> int:
        """HTTP status of a GET on the ECR registry, verifying TLS with the test CA only;
        ``authenticated`` sends the password directly (no helper, no client)."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        request = urllib.request.Request(f"https://{ECR_HOST}{path}")
        request.add_header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.oci.image.manifest.v1+json",
        )
        if authenticated:
            basic = base64.b64encode(f"AWS:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {basic}")
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
        try:
            with opener.open(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def _start_plain_registry(self) -> None:
        port = PLAIN_PORT if _port_free("127.0.0.1", PLAIN_PORT) else _free_port()
        self.plain_host = f"localhost:{port}"
        reg = self.path("plain-registry")
        (reg / "data").mkdir(parents=True)
        config = reg / "config.yml"
        config.write_text(_registry_config(addr=f"127.0.0.1:{port}", data=reg / "data"))
        self._spawn(
            "plain_registry",
            ["docker-registry", "serve", str(config)],
            log=reg / "registry.log",
            env=_clean_env(),
        )

        def up() -> bool:
            try:
                with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                    f"http://127.0.0.1:{port}/v2/", timeout=5
                ) as response:
                    return int(response.status) == 200
            except OSError:
                return False

        self._wait(up, "plain_registry", reg / "registry.log")

    def _push_image(self) -> None:
        layout = self.path("image-oci")
        write_oci_image(layout, TAG)
        authfile = self.path("push-auth.json")
        basic = base64.b64encode(f"AWS:{self.password}".encode()).decode()
        authfile.write_text(json.dumps({"auths": {ECR_HOST: {"auth": basic}}}))
        authfile.chmod(0o600)
        self._push_layout(layout, f"docker://{IMAGE}", "--dest-authfile", str(authfile))

    def _push_plain_image(self) -> None:
        destination = f"docker://{self.plain_host}/{REPOSITORY}:{TAG}"
        self._push_layout(self.path("image-oci"), destination, "--dest-tls-verify=false")

    @staticmethod
    def _push_layout(layout: Path, destination: str, *flags: str) -> None:
        """Copy the hand-made OCI layout to a registry, in the v2s2 format every client reads."""
        copy = ["skopeo", "copy", "--quiet", "--format", "v2s2", *flags]
        _run([*copy, f"oci:{layout}:{TAG}", destination], env=_clean_env(), timeout=120)

    def _write_docker_config(self) -> None:
        self.write_docker_config(self.docker_config)
        # podman refuses a REGISTRY_AUTH_FILE that does not exist; an empty one makes it
        # (and skopeo) go on to $DOCKER_CONFIG/config.json and its credHelpers.
        self.path("no-auth.json").write_text("{}\n")

    def write_docker_config(
        self, directory: Path, *, helper: bool = True, creds_store: bool = False
    ) -> Path:
        """A DOCKER_CONFIG directory: ``credHelpers`` for the ECR host, maybe ``credsStore``."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        config: dict[str, Any] = {}
        if helper:
            config["credHelpers"] = {ECR_HOST: "ecrpy"}
        if creds_store:
            config["credsStore"] = "ecrpy"
        (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        return directory

    def _start_dockerd(self) -> None:
        d = self.path("d")
        d.mkdir()
        (d / "daemon.json").write_text("{}\n")
        argv = [
            "dockerd",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--storage-driver=vfs",
            "--data-root",
            str(d / "data"),
            "--exec-root",
            str(d / "x"),
            "-H",
            self.docker_host,
            "--pidfile",
            str(d / "docker.pid"),
            "--config-file",
            str(d / "daemon.json"),
        ]
        self._spawn("dockerd", argv, log=d / "dockerd.log", env=_clean_env())
        env = _clean_env({"DOCKER_HOST": self.docker_host})

        def answers() -> bool:
            return _run(["docker", "version"], env=env, check=False, timeout=20).returncode == 0

        self._wait(answers, "dockerd", d / "dockerd.log", timeout=120)

    def podman_argv(self, *args: str) -> list[str]:
        """podman, rootful, with storage of its own under the work directory."""
        p = self.path("podman")
        return [
            "podman",
            "--root",
            str(p / "root"),
            "--runroot",
            str(p / "run"),
            "--tmpdir",
            str(p / "tmp"),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
            *args,
        ]

    def _check_podman(self) -> None:
        self.path("podman").mkdir(exist_ok=True)
        result = _run(
            self.podman_argv("images", "--quiet"), env=_clean_env(), check=False, timeout=120
        )
        if result.returncode != 0:
            raise Broken(f"podman does not run: {_tail(result.stderr)}")

    def _check_docker_sdk(self) -> None:
        code = (
            "import docker, sys; "
            "print(docker.DockerClient(base_url=sys.argv[1]).version()['Version'])"
        )
        _run([sys.executable, "-c", code, self.docker_host], env=_clean_env(), timeout=60)

    # -- process handling ---------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], *, log: Path, env: Mapping[str, str]) -> None:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
            )
        self._adopt(name, proc)

    def _adopt(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        """Record a process we started, by PID, before anything else can go wrong."""
        self.processes[name] = proc
        self._save_state()
        argv = [str(arg) for arg in proc.args] if isinstance(proc.args, list) else [str(proc.args)]
        self.log(f"started {name} (pid {proc.pid}): {' '.join(argv[:2])} ...")

    def _wait(self, probe: Callable[[], bool], name: str, log: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise Broken(
                    f"{name} exited with {self.processes[name].returncode}: "
                    f"{_tail(log.read_text(errors='replace'))}"
                )
            with contextlib.suppress(OSError):
                if probe():
                    return
            time.sleep(0.3)
        raise Broken(
            f"{name} not ready after {timeout:.0f} s: {_tail(log.read_text(errors='replace'))}"
        )

    # -- what the tests use -------------------------------------------------------------
    def client_env(
        self,
        *,
        cache_dir: Path | str | None = None,
        tls_api: bool = False,
        docker_config: Path | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment for a client (docker, skopeo, podman...) and so for the helper.

        By default the helper reaches the stand-in over HTTP through AWS_ENDPOINT_URL_ECR;
        with ``tls_api`` it has no endpoint override and reaches the real API hostname,
        which /etc/hosts sends to the TLS stand-in, trusting the test CA via AWS_CA_BUNDLE.
        """
        helper_dir = str(Path(self.helper).parent) if self.helper else ""
        env = _clean_env(
            {
                "PATH": os.pathsep.join(p for p in (helper_dir, os.environ.get("PATH", "")) if p),
                "AWS_ACCESS_KEY_ID": DUMMY_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CA_BUNDLE": str(self.ca_cert),
                "DOCKER_HOST": self.docker_host,
                "DOCKER_CONFIG": str(docker_config or self.docker_config),
                # podman and skopeo would read root's auth.json first; point them at nothing.
                "REGISTRY_AUTH_FILE": str(self.path("no-auth.json")),
                "AWS_ECR_CACHE_DIR": str(cache_dir or self.path("cache-default")),
            }
        )
        if not tls_api:
            env["AWS_ENDPOINT_URL_ECR"] = self.standin_url
        env.update(extra or {})
        return env

    def _standin(self, tls: bool) -> StandIn:
        client = self.standin_tls if tls else self.standin
        if client is None:
            raise Unavailable(f"the {'TLS ' if tls else ''}stand-in is not running")
        return client

    def standin_control(
        self, verb: str, body: Mapping[str, Any] | None = None, *, tls: bool = False
    ) -> Any:
        return self._standin(tls).control(verb, body)

    def calls(self, *, tls: bool = False) -> int:
        """How many ecr:GetAuthorizationToken calls the stand-in answered since its reset."""
        return self._standin(tls).calls()

    def reset_standin(self, *, tls: bool = False) -> None:
        """Counts and faults back to zero; the password stays the registry's."""
        self._standin(tls).reset()

    def fault(self, error: str, times: int = 1, *, tls: bool = False, **more: Any) -> None:
        self._standin(tls).fault(error, times=times, **more)

    def run(
        self,
        argv: list[str],
        env: Mapping[str, str],
        timeout: float = 180,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a client and return its result (never raises on a non-zero exit)."""
        return _run(argv, env=env, timeout=timeout, check=False, input_text=input)

    def cache_files(self, cache_dir: Path) -> list[Path]:
        """The token entries in a helper cache directory (not its lock or temp files)."""
        if not cache_dir.exists():
            return []
        return sorted(p for p in cache_dir.rglob("*") if p.is_file() and p.suffix == ".token")

    def mask(self, text: str) -> str:
        """The text with the registry password (and its base64 forms) replaced."""
        for secret in (self.password, base64.b64encode(f"AWS:{self.password}".encode()).decode()):
            text = text.replace(secret, "****")
        return text


# -- helpers ------------------------------------------------------------------------------
def _run(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
    input_text: str | None = None,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input_text if input_text is not None else "",
        cwd=cwd,
    )
    if check and result.returncode != 0:
        raise Broken(
            f"`{' '.join(argv)}` exited {result.returncode}: "
            f"{_tail(result.stderr or result.stdout)}"
        )
    return result


def _tail(text: str | None, lines: int = 15) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(extra or {})
    return env


def _importable(module: str) -> bool:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, check=False
    )
    return result.returncode == 0


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_time(pid: int) -> str:
    """A process's start time (field 22 of /proc/PID/stat): with the PID, its identity."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _stop(pid: int, log: Callable[[str], None], name: str) -> None:
    """SIGTERM one process by PID, SIGKILL it after 20 s; reap it if it is our child."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    log(f"stopped {name} (pid {pid})")


def _remove_created(paths: Iterable[str]) -> None:
    for name in paths:
        path = Path(name)
        if path not in HOST_LEFTOVERS:
            continue  # only ever what we know dockerd makes
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _rewrite_in_place(path: Path, transform: Callable[[list[str]], list[str]]) -> bool:
    """Rewrite a file's lines without replacing the file: /etc/hosts may be a bind mount."""
    with path.open("r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        lines = handle.read().splitlines()
        new = transform(lines)
        if new == lines:
            return False
        handle.seek(0)
        handle.write("".join(f"{line}\n" for line in new))
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _add_hosts_lines(mapping: Mapping[str, str]) -> None:
    def add(lines: list[str]) -> list[str]:
        kept = [line for line in lines if not line.endswith(HOSTS_MARK)]
        return kept + [f"{addr} {host} {HOSTS_MARK}" for host, addr in mapping.items()]

    _rewrite_in_place(HOSTS_FILE, add)


def _remove_hosts_lines() -> bool:
    return _rewrite_in_place(
        HOSTS_FILE, lambda lines: [line for line in lines if not line.endswith(HOSTS_MARK)]
    )


def _registry_config(
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


def _blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest, len(data)


def write_oci_image(layout: Path, tag: str) -> str:
    """A one-layer image as an OCI layout, written by hand (no network). Returns its digest."""
    layout.mkdir(parents=True, exist_ok=True)
    content = b"hello from the local ECR stand-in\n"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode, info.mtime = len(content), 0o644, 0
        tar.addfile(info, io.BytesIO(content))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    layer_digest, layer_size = _blob(layout, layer)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    config = {
        "architecture": arch,
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/hello.txt"], "Labels": {"org.example.e2e": "docker-credential-ecrpy"}},
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()],
        },
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "written by tests/e2e/environment.py"}
        ],
    }
    config_digest, config_size = _blob(layout, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest,
                "size": layer_size,
            }
        ],
    }
    manifest_digest, manifest_size = _blob(layout, json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(json.dumps(index))
    return manifest_digest


def main() -> None:
    """``python tests/e2e/environment.py``: bring the environment up and keep it until ^C.

    Prints the variables a shell needs to use it by hand (docker, skopeo, the helper).
    """
    env = Environment()

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        env.up()
        print(env.summary(), file=sys.stderr)
        if env.ready("workdir") and env.ready("standin"):
            for key, value in env.client_env().items():
                if key.startswith(("AWS_", "DOCKER_", "REGISTRY_")) or key == "PATH":
                    print(f"export {key}={shlex.quote(value)}")
        print("# environment is up; ^C (or SIGTERM) tears it down", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        env.down()


@contextlib.contextmanager
def environment(log: Callable[[str], None] = _say) -> Iterator[Environment]:
    """``with environment() as env:`` -- up, and always down again."""
    env = Environment(log=log)
    try:
        yield env.up()
    finally:
        env.down()


if __name__ == "__main__":
    main()
