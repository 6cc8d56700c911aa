"""kubelet mode's pure parts: durations in Go's syntax, and the registry of an image."""

from __future__ import annotations

import re

import pytest

from docker_credential_ecrpy.kubelet import go_duration, image_registry
from tests.support.constants import HOST
from tests.support.kubelet import GO_DURATION, seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (21599.9, "5h59m0s"),
        (21600, "6h0m0s"),
        (3600 * 11 + 59, "11h0m0s"),
        (3599, "59m0s"),
        (61, "1m0s"),
        (59.9, "59s"),
        (0.5, "0s"),
        (0, "0s"),
        (-100, "0s"),
    ],
)
def test_go_duration(value: float, expected: str) -> None:
    assert go_duration(value) == expected
    assert re.match(GO_DURATION, expected)
    assert seconds(expected) <= max(value, 0)


@pytest.mark.parametrize(
    ("image", "host"),
    [
        (f"{HOST}/app:1", HOST),
        (f"{HOST.upper()}/app", HOST),
        (f"{HOST}/a/b/c@sha256:{'0' * 64}", HOST),
        (f"{HOST}:443/app", f"{HOST}:443"),
        ("public.ecr.aws/nginx/nginx", "public.ecr.aws"),
        ("nginx", "docker.io"),
        ("nginx:1.27", "docker.io"),
        ("library/nginx@sha256:abc", "docker.io"),
        ("localhost/app", "localhost"),
        ("registry.example.com/app", "registry.example.com"),
    ],
)
def test_image_registry(image: str, host: str) -> None:
    assert image_registry(image) == host
