"""A real ECR-like world on this machine, for the end-to-end tests and for ``make demo``.

What :class:`Environment` sets up (and tears down again), each part in a module of its own:

- the Debian packages the real clients need (``apt-get install`` when missing) and the
  Python ones (``moto[server]`` for the API stand-in, the ``docker`` SDK): ``packages``;
- a CA made with ``openssl`` for this run only (``pki``), and server certificates for the
  ECR registry hostname and for the ECR API hostname; the CA is added to the system trust
  store so that the Go clients (dockerd, the docker CLI, skopeo, podman) trust it
  (``trust``); botocore gets it through ``AWS_CA_BUNDLE`` in :meth:`Environment.client_env`;
- ``/etc/hosts`` lines mapping ``123456789012.dkr.ecr.us-east-1.amazonaws.com`` to
  127.0.0.1 and ``api.ecr.us-east-1.amazonaws.com`` to 127.0.0.2 (``network``; the names
  are in ``world``);
- the ECR API stand-in (``standin``) twice: over plain HTTP on a free loopback port (for
  ``AWS_ENDPOINT_URL_ECR``) and over TLS on 127.0.0.2:443 at the real API hostname (the
  path a user without an endpoint override takes);
- Debian's ``docker-registry`` on 127.0.0.1:443 with TLS and htpasswd auth for user
  ``AWS`` and the password the stand-in's token decodes to, so that the token really
  authenticates; a second one without auth on ``localhost:5000``, not ECR (``registry``);
- a tiny image, written by hand as an OCI layout and pushed to both with skopeo (``image``);
- ``dockerd`` with its own socket, data root and exec root; podman's private storage
  (``engines``);
- a ``DOCKER_CONFIG`` whose ``credHelpers`` names ``ecrpy`` for the ECR hostname.

Every process it starts is recorded by PID (and start time) and stopped by that PID
(``processes``); host-level changes are undone in :meth:`Environment.down`, which is
idempotent, also registered with ``atexit``, and run at the next :meth:`Environment.up`
if a previous run died before it could clean up. Only one environment runs at a time on
a machine: its ports and hostnames are global.

A part that cannot run here (not root, a package that will not install, a port in use) is
recorded as *skipped* with the reason; a part that should have worked but broke is
recorded as *broken* (``parts``). :meth:`Environment.need` raises :class:`Unavailable` or
:class:`Broken` accordingly, and the pytest fixtures turn them into a skip or a failure:
nothing passes silently.

Secrets (the registry password, tokens) are never printed or put on a command line.

``python -m tests.support.environment`` (from the repository root) brings it up by hand.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.support import engines, image, packages, registry
from tests.support.commands import clean_env, run
from tests.support.network import HostsLines, port_free
from tests.support.parts import Broken, Parts, Unavailable
from tests.support.pki import CertificateAuthority
from tests.support.processes import Supervisor
from tests.support.standin import StandIn, StandInError
from tests.support.trust import SystemTrust
from tests.support.world import (
    API_ADDR,
    API_HOST,
    ECR_HOST,
    IMAGE,
    REGISTRY_ADDR,
    REPOSITORY,
    TAG,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

# Dummy credentials: botocore signs with them, the stand-in ignores them. They must not
# look like real AWS key ids, which secret scanners would flag.
DUMMY_KEY_ID = "AKIDEXAMPLEE2ETESTING"
DUMMY_SECRET = "e2e-dummy-secret-access-key-not-a-real-one"


def _say(message: str) -> None:
    print(f"[e2e] {message}", file=sys.stderr, flush=True)


class Environment(Parts):
    """Set up with :meth:`up`, tear down with :meth:`down` (both idempotent)."""

    def __init__(self, log: Callable[[str], None] = _say, workdir: str | None = None) -> None:
        super().__init__(log)
        self._workdir_arg = workdir
        self.work: Path | None = None
        self.password = secrets.token_urlsafe(24)
        self.supervisor = Supervisor(self.log)
        self.hosts = HostsLines(self.log)
        self.trust = SystemTrust(self.log)
        self.standin: StandIn | None = None
        self.standin_tls: StandIn | None = None
        self.standin_url = ""
        self.standin_tls_url = f"https://{API_HOST}"
        self.plain_host = ""
        self.helper = ""
        self._up = False

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

    # -- up / down ----------------------------------------------------------------------
    def up(self) -> Environment:
        if self._up:
            return self
        self._up = True
        atexit.register(self.down)
        self.step("root", [], self._check_root)
        self.step("lock", ["root"], self._take_lock)
        self.step("workdir", ["lock"], self._make_workdir)
        self.step("packages", ["workdir"], lambda: packages.install_debian_packages(self.log))
        self.step("python", ["workdir"], lambda: packages.install_python_packages(self.log))
        self.step("helper", ["workdir"], self._find_helper)
        self.step("pki", ["packages"], self._make_pki)
        self.step("trust", ["pki"], lambda: self.trust.add(self.ca_cert))
        self.step("hosts", ["lock"], self._add_hosts)
        self.step("standin", ["python", "workdir"], self._start_standin)
        self.step("standin_tls", ["standin", "pki", "hosts"], self._start_standin_tls)
        self.step("registry", ["packages", "pki", "trust", "hosts"], self._start_registry)
        self.step("plain_registry", ["packages"], self._start_plain_registry)
        self.step("image", ["registry"], self._push_image)
        self.step("plain_image", ["plain_registry", "image"], self._push_plain_image)
        self.step("docker_config", ["workdir"], self._write_docker_config)
        self.step("dockerd", ["packages", "trust", "hosts"], self._start_dockerd)
        self.step("podman", ["packages"], lambda: engines.check_podman(self.path("podman")))
        self.step("docker_sdk", ["python", "dockerd"], self._check_docker_sdk)
        return self

    def down(self) -> None:
        """Stop what we started (by PID) and undo host changes. Safe to call again."""
        if not self._up:
            return
        self._up = False
        self.supervisor.stop_all()
        self.hosts.remove()
        self.trust.remove()
        self.supervisor.forget()
        if self.work is not None and self._workdir_arg is None:
            # dockerd's vfs layers and podman storage may carry odd modes; remove hard.
            shutil.rmtree(self.work, ignore_errors=True)
        self.supervisor.unlock()

    # -- the steps ----------------------------------------------------------------------
    def _check_root(self) -> None:
        if os.geteuid() != 0:
            raise Unavailable(
                f"not root (uid {os.geteuid()}): the e2e environment edits /etc/hosts "
                "and the trust store, and binds port 443"
            )

    def _take_lock(self) -> None:
        self.supervisor.lock()
        # A previous run that died before its teardown: finish that teardown now.
        self.supervisor.recover()
        self.hosts.remove_stale()
        self.trust.remove_stale()
        self.supervisor.note_leftovers()

    def _make_workdir(self) -> None:
        if self._workdir_arg:
            self.work = Path(self._workdir_arg)
            self.work.mkdir(parents=True, exist_ok=True)
        else:
            # Short: dockerd's and containerd's unix sockets live under it (108-byte limit).
            self.work = Path(tempfile.mkdtemp(prefix="ecrpy-e2e-", dir="/tmp"))
            self.supervisor.work = str(self.work)
        self.log(f"work directory {self.work}")

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

    def _issued(self, host: str) -> tuple[Path, Path]:
        """The certificate and key :meth:`_make_pki` issued for ``host``."""
        return self.path("pki", f"{host}.crt"), self.path("pki", f"{host}.key")

    def _add_hosts(self) -> None:
        self.hosts.add({ECR_HOST: REGISTRY_ADDR, API_HOST: API_ADDR})

    def _start_standin(self) -> None:
        self.standin = self._run_standin("standin", "127.0.0.1", 0)
        self.standin_url = self.standin.url

    def _start_standin_tls(self) -> None:
        if not port_free(API_ADDR, 443):
            raise Unavailable(f"{API_ADDR}:443 is in use")
        cert, key = self._issued(API_HOST)
        self.standin_tls = self._run_standin(
            "standin_tls",
            API_ADDR,
            443,
            ["--cert", str(cert), "--key", str(key)],
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
        standin = StandIn.spawn(
            "--host", host, "--port", str(port), *(extra or []),
            cafile=self.ca_cert,
            password=self.password,
            log=self.path(f"{name}.log"),
            env=clean_env({"PYTHONUNBUFFERED": "1"}),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        assert standin.process is not None
        self.supervisor.adopt(name, standin.process)
        try:
            standin.wait_ready(timeout=60)
        except StandInError as error:
            raise Broken(str(error)) from None
        if url:
            standin.url = url
        standin.config(password=self.password)
        return standin

    def _start_registry(self) -> None:
        registry.start_ecr_registry(
            self.supervisor,
            self.path("registry"),
            password=self.password,
            tls=self._issued(ECR_HOST),
            ca_cert=self.ca_cert,
        )

    def registry_status(self, path: str = "/v2/", *, authenticated: bool = False) -> int:
        """HTTP status of a GET on the ECR registry, verifying TLS with the test CA only;
        ``authenticated`` sends the password directly (no helper, no client)."""
        return registry.ecr_status(self.ca_cert, self.password, path, authenticated=authenticated)

    def _start_plain_registry(self) -> None:
        port = registry.plain_port()
        self.plain_host = f"localhost:{port}"
        registry.start_plain_registry(self.supervisor, self.path("plain-registry"), port)

    def _push_image(self) -> None:
        layout = self.path("image-oci")
        image.write_oci_image(layout, TAG)
        authfile = self.path("push-auth.json")
        auth = {"auths": {ECR_HOST: {"auth": registry.basic_credentials(self.password)}}}
        authfile.write_text(json.dumps(auth))
        authfile.chmod(0o600)
        image.push(layout, TAG, f"docker://{IMAGE}", "--dest-authfile", str(authfile))

    def _push_plain_image(self) -> None:
        destination = f"docker://{self.plain_host}/{REPOSITORY}:{TAG}"
        image.push(self.path("image-oci"), TAG, destination, "--dest-tls-verify=false")

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
        engines.start_dockerd(self.supervisor, self.path("d"), self.docker_host)

    def podman_argv(self, *args: str) -> list[str]:
        """podman, rootful, with storage of its own under the work directory."""
        return engines.podman_argv(self.path("podman"), *args)

    def _check_docker_sdk(self) -> None:
        engines.check_docker_sdk(self.docker_host)

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
        env = clean_env(
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
        standin = self.standin_tls if tls else self.standin
        if standin is None:
            raise Unavailable(f"the {'TLS ' if tls else ''}stand-in is not running")
        return standin

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
        return run(argv, env=env, timeout=timeout, check=False, input_text=input)

    def cache_files(self, cache_dir: Path) -> list[Path]:
        """The token entries in a helper cache directory (not its lock or temp files)."""
        if not cache_dir.exists():
            return []
        return sorted(p for p in cache_dir.rglob("*") if p.is_file() and p.suffix == ".token")

    def mask(self, text: str) -> str:
        """The text with the registry password (and its base64 forms) replaced."""
        for secret in (self.password, registry.basic_credentials(self.password)):
            text = text.replace(secret, "****")
        return text


def main() -> None:
    """``python -m tests.support.environment``: bring the environment up and keep it
    until ^C. Prints the variables a shell needs to use it by hand (docker, skopeo, the
    helper)."""
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
