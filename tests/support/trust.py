"""The test CA in the system trust store, for the clients that read only that.

dockerd, the docker CLI, skopeo and podman are Go programs: they trust what
``/etc/ssl/certs/ca-certificates.crt`` holds, read once when they start, so the CA goes
in before dockerd starts and comes out at the end. (botocore does not read the store: it
gets the CA through ``AWS_CA_BUNDLE``.) The bundle is rebuilt by
``update-ca-certificates``, never edited by hand.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.support.commands import run
from tests.support.parts import Broken

CA_INSTALL_PATH = Path("/usr/local/share/ca-certificates/docker-credential-ecrpy-e2e.crt")
BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class SystemTrust:
    """Our CA in the store: added once, removed at the end if it was added."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.added = False

    def add(self, ca_cert: Path) -> None:
        CA_INSTALL_PATH.parent.mkdir(parents=True, exist_ok=True)
        self.added = True
        shutil.copyfile(ca_cert, CA_INSTALL_PATH)
        run(["update-ca-certificates"], timeout=300)
        if ca_cert.read_text().strip() not in BUNDLE.read_text():
            raise Broken(f"update-ca-certificates did not add the test CA to {BUNDLE}")

    def remove(self) -> None:
        """Teardown: never raises, so that the rest of the teardown still runs."""
        if self.added:
            with contextlib.suppress(Exception):
                CA_INSTALL_PATH.unlink(missing_ok=True)
                run(["update-ca-certificates"], timeout=300)
                self.log(f"removed {CA_INSTALL_PATH} and refreshed the trust store")
            self.added = False

    def remove_stale(self) -> None:
        """The CA of a previous run that died before its teardown."""
        if CA_INSTALL_PATH.exists():
            CA_INSTALL_PATH.unlink()
            run(["update-ca-certificates"], timeout=300)
            self.log("removed a stale test CA from the trust store")
