"""The ECR store behind Docker's protocol: what ``get``, ``store``, ``erase`` and ``list``
mean for registries whose credentials are short-lived tokens fetched on demand."""

from __future__ import annotations

from . import errors, registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from .registry import Registry
    from .settings import Settings
    from .tokens import TokenSource


class EcrStore:
    """Answers for ECR hosts; "not found" for every other host, so that as Docker's
    ``credsStore`` we never stand between the user and another registry."""

    def __init__(self, settings: Settings, tokens: TokenSource, stderr: TextIO) -> None:
        self.settings = settings
        self.tokens = tokens
        self.stderr = stderr

    def resolve(self, server_url: str) -> Registry | None:
        return registry.parse(server_url)

    def get(self, server_url: str) -> tuple[str, str]:
        target = self.resolve(server_url)
        if target is None:
            raise errors.CredentialsNotFound()
        try:
            entry = self.tokens.get(target)
        except errors.AwsError as err:
            if not target.public:
                raise
            # Anonymous pulls from ECR Public work (with lower rate limits): better a
            # slower pull than a failed one.
            raise errors.CredentialsNotFound(
                f"docker-credential-ecrpy: no ECR Public token ({err.message}); pulling anonymously"
            ) from None
        return entry.username, entry.secret

    def add(self, server_url: str, username: str, secret: str) -> None:
        """``docker login``: ECR tokens are fetched on demand, so there is nothing to keep."""
        if self.resolve(server_url) is None and not self.settings.ignore_creds_storage:
            raise errors.HelperError(
                f"{registry.hostname(server_url)} is not an Amazon ECR registry; "
                "docker-credential-ecrpy stores no credentials for other registries"
            )

    def delete(self, server_url: str) -> None:
        """``docker logout``: forget the cached token, so the next pull fetches a new one."""
        target = self.resolve(server_url)
        if target is None:
            if self.settings.ignore_creds_storage:
                return
            raise errors.CredentialsNotFound()
        self.tokens.forget(target)

    def list(self) -> dict[str, str]:
        """The registries with a cached token; never a network call."""
        return {entry.host: entry.username for entry in self.tokens.cached_entries()}
