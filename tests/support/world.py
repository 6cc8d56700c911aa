"""The fixed names of the end-to-end world: the ECR account and hostnames, the loopback
addresses they resolve to, and the image every client pulls.

Fixed, not chosen per run, because they are global on the machine (``/etc/hosts`` lines,
port 443) and because a client checks the registry's certificate against the hostname:
the tests, the demo and every part of the environment must agree on them.
"""

from __future__ import annotations

from tests.support.constants import HOST as ECR_HOST

REGION = "us-east-1"  # ECR_HOST's
API_HOST = f"api.ecr.{REGION}.amazonaws.com"
REGISTRY_ADDR = "127.0.0.1"  # the ECR registry, port 443
API_ADDR = "127.0.0.2"  # the API stand-in over TLS, port 443
PLAIN_PORT = 5000  # the registry that is not ECR, on localhost
REPOSITORY = "e2e/hello"
TAG = "v1"
IMAGE = f"{ECR_HOST}/{REPOSITORY}:{TAG}"
