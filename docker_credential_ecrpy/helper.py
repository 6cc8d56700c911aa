"""The ECR store behind Docker's protocol: what ``get``, ``store``, ``erase`` and ``list``
mean for registries whose credentials are short-lived tokens fetched on demand."""

from __future__ import annotations

from . import config, errors, registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TextIO

    from .cache import Entry
    from .config import Config, IdentitySettings
    from .registry import Registry
    from .settings import Settings
    from .tokens import TokenSource


class EcrStore:
    """Answers for ECR hosts; "not found" for every other host, so that as Docker's
    ``credsStore`` we never stand between the user and another registry.

    ``env`` locates the configuration file (aliases, per-registry identities); without it
    (or without the file) only ECR's own hostnames are served, with the default identity.
    """

    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        stderr: TextIO,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.stderr = stderr
        self.env = env
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        """The configuration file, read on first use (a failed open when there is none)."""
        if self._config is None:
            if self.env is None:
                self._config = config.EMPTY
            else:
                compiled = None if self.settings.cache_disabled else self.settings.cache_dir
                self._config = config.load(self.env, compiled)
        return self._config

    def resolve(self, server_url: str) -> Registry | None:
        """The registry behind a server URL: an ECR hostname, or a configured alias."""
        found = registry.parse(server_url)
        if found is not None or self.config.empty:
            return found
        return self.config.alias(registry.hostname(server_url))

    def identity(self, target: Registry) -> IdentitySettings | None:
        """The configured identity for the registry (None: the default chain)."""
        return None if self.config.empty else self.config.identity_for(target.host)

    def get(self, server_url: str) -> tuple[str, str]:
        entry = self.entry(server_url)
        return entry.username, entry.secret

    def entry(self, server_url: str) -> Entry:
        """The cache entry (token and its times) that answers for ``server_url``."""
        target = self.resolve(server_url)
        if target is None:
            raise errors.CredentialsNotFound()
        try:
            return self.tokens.get(target, self.identity(target))
        except errors.AwsError as err:
            if not target.public:
                raise
            # Anonymous pulls from ECR Public work (with lower rate limits): better a
            # slower pull than a failed one.
            raise errors.CredentialsNotFound(
                f"docker-credential-ecrpy: no ECR Public token ({err.message}); pulling anonymously"
            ) from None

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
