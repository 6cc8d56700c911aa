"""Real installs of this checkout, for the suites and the benchmarks: a wheel built from a
copy of the tree (setuptools writes into the tree it builds), installed by the running
venv's pip for any interpreter and layout (a venv, ``--user``, ``--prefix``, ``--target``,
``--root``), offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
VERSION = f"python{sys.version_info[0]}.{sys.version_info[1]}"
# The interpreter this venv was made from (the venv's own, outside a venv).
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))


def build_wheel(directory: Path) -> Path:
    """A wheel of the checkout, built in ``directory``."""
    source = directory / "source"
    source.mkdir(parents=True)
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("scripts", "docker_credential_ecrpy"):
        shutil.copytree(ROOT / name, source / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    pip(sys.executable, "wheel", "--no-build-isolation", "-w", str(directory), str(source))
    (built,) = directory.glob("*.whl")
    return built


def pip(python: str | Path, *args: str, home: Path | None = None) -> None:
    """This venv's pip, acting for ``python``: nothing is fetched, nothing but the named
    wheel installed; a ``--user`` install goes to ``home``."""
    command = [sys.executable, "-m", "pip", "--python", str(python), *args[:1], "--no-deps"]
    command += ["--no-index", "--quiet", *args[1:]]
    if args[0] == "install":
        command += ["--no-warn-script-location", "--root-user-action", "ignore"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    if home is not None:
        env["HOME"] = str(home)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}:\n{done.stderr[-2000:]}")


def venv(wheel: Path, directory: Path) -> Path:
    """A venv at ``directory`` (without pip) with ``wheel`` installed; its bin directory."""
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", directory], check=True)
    pip(directory / "bin" / "python", "install", str(wheel))
    return directory / "bin"


def site_packages(venv_directory: Path) -> Path:
    return venv_directory / "lib" / VERSION / "site-packages"
