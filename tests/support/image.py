"""The image every client pulls, made without a network: a one-layer OCI layout written
by hand, pushed to a registry with ``skopeo copy``.

No base image is fetched from anywhere, so the tests run on a machine that reaches only
package mirrors; the layer is deterministic (fixed mtimes, gzip without a timestamp), so
the image is the same on every run.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

from tests.support.commands import clean_env, run


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
            {"created": "2024-01-01T00:00:00Z", "created_by": "written by tests/support/image.py"}
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


def push(layout: Path, tag: str, destination: str, *flags: str) -> None:
    """Copy the layout's ``tag`` to a registry, in the v2s2 format every client reads."""
    copy = ["skopeo", "copy", "--quiet", "--format", "v2s2", *flags]
    run([*copy, f"oci:{layout}:{tag}", destination], env=clean_env(), timeout=120)


def _blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest, len(data)
