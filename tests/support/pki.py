"""A throwaway certificate authority for the tests, the demo and the benchmarks.

Everything served over TLS here (the registry at the ECR hostname, the API stand-in over
HTTPS, the stand-in the Go helper is measured against) uses certificates from a CA made
by this module with the openssl command line, which every Debian machine has: one way to
make them, so a fix to the certificate profile reaches every user of it.
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


class CertificateAuthority:
    """A CA in ``directory`` (``ca.crt``, ``ca.key``) that issues server certificates."""

    def __init__(self, directory: Path, name: str = "docker-credential-ecrpy test CA") -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = directory
        self.cert = directory / "ca.crt"
        self.key = directory / "ca.key"
        _openssl(
            "req", "-x509", *EC_KEY, "-keyout", self.key, "-out", self.cert, "-days", "3",
            "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip

    def issue(self, name: str, *more_names: str) -> tuple[Path, Path]:
        """(certificate, key) for a server known as ``name`` and ``more_names``: host
        names or IP addresses. The files are ``<name>.crt`` and ``<name>.key``."""
        cert, key = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        csr, extensions = self.directory / f"{name}.csr", self.directory / f"{name}.ext"
        alt_names = ", ".join(_alt_name(each) for each in (name, *more_names))
        extensions.write_text(
            f"subjectAltName = {alt_names}\n"
            "basicConstraints = critical, CA:FALSE\n"
            "keyUsage = critical, digitalSignature\n"
            "extendedKeyUsage = serverAuth\n"
            "subjectKeyIdentifier = hash\n"
            "authorityKeyIdentifier = keyid, issuer\n"
        )
        _openssl("req", "-new", *EC_KEY, "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
        _openssl(
            "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
            "-CAcreateserial", "-CAserial", self.directory / "ca.srl",
            "-days", "3", "-out", cert, "-extfile", extensions,
        )  # fmt: skip
        return cert, key


def _alt_name(name: str) -> str:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return f"DNS:{name}"
    return f"IP:{name}"


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)
