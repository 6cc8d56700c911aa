"""Docker credential helper for Amazon ECR.

The package is imported on every `docker pull`, so this file stays empty of imports:
anything placed here is paid for by the cache-hit path.
"""

__version__ = "0.2.0"
# The executable's name, which prefixes every message, and the helper name Docker's
# config.json uses for it (``credHelpers``: ``"<registry>": "ecrpy"``).
PROGRAM = "docker-credential-ecrpy"
HELPER = "ecrpy"
