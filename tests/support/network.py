"""Names and ports on this machine: the ``/etc/hosts`` lines that send the ECR hostnames
to loopback, and the checks for a free port.

The real hostnames matter: clients verify the registry's certificate against them, and
the Go helper reaches ECR only at the real API hostname. Our lines carry a mark, so that
they (and those of a run that died) are found and removed, and nothing else is touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.support.parts import Broken

HOSTS_FILE = Path("/etc/hosts")
HOSTS_MARK = "# docker-credential-ecrpy e2e"


class HostsLines:
    """Our lines in ``/etc/hosts``: added once, removed at the end if they were added."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.added = False

    def add(self, mapping: Mapping[str, str]) -> None:
        """Map each hostname to its address and check that the resolver now agrees."""
        self.added = True

        def add(lines: list[str]) -> list[str]:
            kept = [line for line in lines if not line.endswith(HOSTS_MARK)]
            return kept + [f"{addr} {host} {HOSTS_MARK}" for host, addr in mapping.items()]

        _rewrite_in_place(HOSTS_FILE, add)
        for host, addr in mapping.items():
            got = socket.gethostbyname(host)
            if got != addr:
                raise Broken(f"{host} resolves to {got}, not {addr}, after editing /etc/hosts")

    def remove(self) -> None:
        """Teardown: never raises, so that the rest of the teardown still runs."""
        if self.added:
            with contextlib.suppress(Exception):
                _remove_marked()
                self.log("removed /etc/hosts lines")
            self.added = False

    def remove_stale(self) -> None:
        """The lines of a previous run that died before its teardown."""
        if _remove_marked():
            self.log("removed stale /etc/hosts lines")


def _remove_marked() -> bool:
    return _rewrite_in_place(
        HOSTS_FILE, lambda lines: [line for line in lines if not line.endswith(HOSTS_MARK)]
    )


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


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
