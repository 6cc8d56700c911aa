"""What the standalone binary bundles: its licenses and its SBOM.

    python packaging/bundle.py licenses BUNDLE OUTDIR
        copy every bundled component's license text into OUTDIR (the .deb ships them)
    python packaging/bundle.py sbom BUNDLE CYCLONEDX_PY VERSION OUT
        write the CycloneDX JSON SBOM of the bundle to OUT

Run by the build venv's interpreter, the one PyInstaller ran under; BUNDLE is the onedir
directory (``dist/docker-credential-ecrpy-<version>-linux-<arch>``). The components are:
this package; the CPython runtime; every distribution of the build venv that the bundle
holds a top-level module of (names, versions, licenses and package URLs from ``cyclonedx-py
environment``, i.e. from their own metadata), and PyInstaller, whose bootloader is the
executable; every shared library PyInstaller copied in, with the Debian package it came
from (``dpkg``), its version and the licenses of that package's copyright file. The SBOM
carries no serial number and its time is ``SOURCE_DATE_EPOCH``: one commit, one SBOM.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import Distribution, distributions
from pathlib import Path
from typing import Any

NAME = "docker-credential-ecrpy"
HOME = "https://github.com/docker-credential-ecrpy/docker-credential-ecrpy"
PYTHON_LICENSE = (
    Path(sys.base_prefix)
    / "lib"
    / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    / "LICENSE.txt"
)


def bundled_distributions(bundle: Path) -> dict[str, Distribution]:
    """The build venv's distributions that the bundle holds a top-level module of (this
    interpreter is the build venv's), and PyInstaller, whose bootloader is the
    executable; by lower-case name."""
    internal = bundle / "_internal"
    found = {}
    for dist in distributions():
        name = dist.metadata["Name"].lower()
        tops = {
            f.parts[0].removesuffix(".py")
            for f in dist.files or []
            if (len(f.parts) > 1 or f.suffix == ".py") and f.parts[0] != ".."
        }
        tops = {top for top in tops if not top.endswith((".dist-info", ".data"))}
        if name == "pyinstaller" or any(
            (internal / top).is_dir() or (internal / f"{top}.pyc").is_file() for top in tops
        ):
            found[name] = dist
    return found


def license_files(dist: Distribution) -> list[Path]:
    """A distribution's license files, as its metadata names them or as wheels lay them out."""
    named = set(dist.metadata.get_all("License-File") or [])
    return sorted(
        Path(str(dist.locate_file(f)))
        for f in dist.files or []
        if f.parts[0].endswith(".dist-info")
        and (
            f.name in named
            or "licenses" in f.parts
            or f.name.upper().startswith(("LICENSE", "COPYING", "NOTICE"))
        )
    )


def bundled_python(cyclonedx_py: str, bundle: Path) -> list[dict[str, Any]]:
    """cyclonedx-py's components of the build venv, those the bundle holds."""
    listed = json.loads(
        subprocess.run(
            [cyclonedx_py, "environment", "--output-format", "JSON", "--spec-version", "1.6",
             "--output-reproducible", sys.executable],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    names = bundled_distributions(bundle)
    kept = [c for c in listed.get("components", []) if c["name"].lower() in names]
    for component in kept:
        if component["name"].lower() == "pyinstaller":
            component["description"] = (
                "its bootloader, the executable, under the GPL with PyInstaller's exception "
                "for bootloaders of programs under any license"
            )
    return kept


def runtime() -> dict[str, Any]:
    version = platform.python_version()
    return {
        "type": "framework",
        "bom-ref": f"cpython@{version}",
        "name": "cpython",
        "version": version,
        "description": "The Python runtime: libpython and the standard library modules used",
        "licenses": [{"license": {"id": "PSF-2.0"}}],
        "purl": f"pkg:generic/cpython@{version}",
    }


def libraries(bundle: Path) -> list[tuple[Path, str, str]]:
    """(library, Debian package, its version) of each bundled ELF library other than
    libpython (the runtime's); empty names where dpkg does not know the file."""
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    found = []
    for path in sorted((bundle / "_internal").glob("lib*.so*")):
        if path.name.startswith("libpython"):
            continue
        package = _debian_package(path.name, cache)
        version = ""
        if package:
            version = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", package],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        found.append((path, package, version))
    return found


def _debian_package(name: str, cache: str) -> str:
    """The Debian package of the library ``name`` as the loader finds it (``ldconfig``),
    by the path dpkg recorded, which may be the merged-/usr or the /lib spelling."""
    for line in cache.splitlines():
        if not (line.strip().startswith(f"{name} ") and "=> " in line):
            continue
        found = line.rpartition("=> ")[2].strip()
        real = os.path.realpath(found)
        for path in dict.fromkeys([found, real, real.removeprefix("/usr"), f"/usr{found}"]):
            owner = subprocess.run(
                ["dpkg", "-S", path], capture_output=True, text=True, check=False
            )
            if owner.returncode == 0:
                return owner.stdout.partition(":")[0]
    return ""


def library_component(path: Path, package: str, version: str, arch: str) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": f"{path.name}@{version or 'unknown'}",
        "name": path.name,
        "version": version,
    }
    if package:
        component["purl"] = f"pkg:deb/debian/{package}@{version}?arch={arch}"
        # The licenses of the whole source package, as its copyright file lists them: the
        # library's are among them.
        component["description"] = (
            f"from the Debian package {package}; licenses of that package's copyright file"
        )
        text = _debian_copyright(package)
        names = list(
            dict.fromkeys(m.strip() for m in re.findall(r"^License: *(\S.*)$", text, re.M))
        )
        if names:
            component["licenses"] = [{"license": {"name": name}} for name in names]
    return component


def _debian_copyright(package: str) -> str:
    try:
        return (Path("/usr/share/doc") / package / "copyright").read_text(errors="replace")
    except OSError:
        return ""


def copy_licenses(bundle: Path, out: Path) -> None:
    """Every bundled component's license text, one directory or file per component."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PYTHON_LICENSE, out / "cpython.LICENSE.txt")
    for name, dist in sorted(bundled_distributions(bundle).items()):
        files = license_files(dist)
        if not files:
            raise SystemExit(f"bundle.py: {name} ships no license file")
        (out / name).mkdir(exist_ok=True)
        for path in files:
            shutil.copyfile(path, out / name / path.name)
    for _, package, _ in libraries(bundle):
        if package:
            shutil.copyfile(
                Path("/usr/share/doc") / package / "copyright", out / f"{package}.copyright"
            )


def sbom(bundle: Path, cyclonedx_py: str, version: str) -> dict[str, Any]:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    )
    us = {
        "type": "application",
        "bom-ref": f"{NAME}@{version}",
        "name": NAME,
        "version": version,
        "licenses": [{"license": {"id": "Apache-2.0"}}],
        "purl": f"pkg:pypi/{NAME}@{version}",
        "externalReferences": [{"type": "website", "url": HOME}],
    }
    components = [
        runtime(),
        *bundled_python(cyclonedx_py, bundle),
        *(library_component(*found, arch.stdout.strip()) for found in libraries(bundle)),
    ]
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "cyclonedx-py"}]},
            "component": us,
        },
        "components": components,
        "dependencies": [
            {"ref": us["bom-ref"], "dependsOn": [c["bom-ref"] for c in components]},
            *({"ref": c["bom-ref"]} for c in components),
        ],
    }


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "licenses":
        copy_licenses(Path(argv[1]), Path(argv[2]))
        return 0
    if len(argv) == 5 and argv[0] == "sbom":
        document = sbom(Path(argv[1]), argv[2], argv[3])
        Path(argv[4]).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return 0
    sys.stderr.write(
        "usage: packaging/bundle.py licenses BUNDLE OUTDIR\n"
        "       packaging/bundle.py sbom BUNDLE CYCLONEDX_PY VERSION OUT\n"
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
