"""What the real clients and servers need installed: Debian packages through ``apt-get``
and the Python ones through this interpreter's ``pip``.

A CI run starts from a fresh machine, so the environment installs what is missing
instead of assuming it; what is already there (a newer docker CLI, say) is kept. A
package that will not install makes its parts *skipped*, with apt's or pip's words.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable

from tests.support.commands import run, tail
from tests.support.parts import Unavailable

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
# Importable module -> what pip installs for it.
PYTHON_PACKAGES = {"moto": "moto[server]>=5", "werkzeug": "werkzeug", "docker": "docker>=7"}


def install_debian_packages(log: Callable[[str], None]) -> None:
    """``apt-get install`` the packages of the programs not on PATH; one by one if all at
    once fails, so that one unavailable package does not take the others down."""
    missing = sorted({pkg for prog, pkg in APT_PROGRAMS.items() if not shutil.which(prog)})
    if not shutil.which("docker"):
        missing = sorted({*missing, CLI_PACKAGE})
    if not missing:
        return
    if not shutil.which("apt-get"):
        raise Unavailable(f"missing {', '.join(missing)} and there is no apt-get")
    log(f"installing Debian packages: {' '.join(missing)} (this may take minutes)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    update = run(["apt-get", "update", "-q"], env=env, timeout=600, check=False)
    if update.returncode != 0:
        log(f"apt-get update failed: {tail(update.stderr)}")
    result = run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        env=env,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        for pkg in missing:
            run(
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", pkg],
                env=env,
                timeout=1800,
                check=False,
            )
    still = sorted({prog for prog in APT_PROGRAMS if not shutil.which(prog)})
    if still or not shutil.which("docker"):
        raise Unavailable(
            f"could not install the programs {', '.join(still) or 'docker'}: {tail(result.stderr)}"
        )


def install_python_packages(log: Callable[[str], None]) -> None:
    """``pip install`` into this interpreter what the stand-in and the SDK test import."""
    missing = [spec for module, spec in PYTHON_PACKAGES.items() if not _importable(module)]
    if not missing:
        return
    log(f"installing into {sys.prefix}: pip install {' '.join(missing)}")
    result = run([sys.executable, "-m", "pip", "install", "-q", *missing], timeout=900, check=False)
    if result.returncode != 0:
        raise Unavailable(f"pip install {' '.join(missing)} failed: {tail(result.stderr)}")
    still = [m for m in PYTHON_PACKAGES if not _importable(m)]
    if still:
        raise Unavailable(f"still not importable after pip install: {', '.join(still)}")


def _importable(module: str) -> bool:
    # In a child: it sees what pip has just installed (no stale import caches), and moto
    # is not loaded into the test process.
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, check=False
    )
    return result.returncode == 0
