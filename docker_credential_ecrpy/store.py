"""The ECR store behind Docker's protocol: what ``get``, ``store``, ``erase`` and ``list``
mean for registries whose credentials are short-lived tokens fetched on demand.

``EcrStore.from_env`` is the one place the objects are wired together (settings, the
token source with its cache, the configuration file, the program name that prefixes
every message), for the Docker helper, the kubelet provider and ``doctor`` alike; and
``EcrStore.log_activity`` the one place that writes the activity log, for all of them.
It makes the action's deadline when it is made, and hands it down to whatever waits.
"""

from __future__ import annotations

import time

from . import PROGRAM, config_file, errors, registry
from .policy import Deadline
from .settings import Settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TextIO

    from .activity import Activity, Recorder
    from .cache import Entry
    from .config import Config, Identity
    from .registry import Registry
    from .settings import LogSettings
    from .tokens import TokenSource


class EcrStore:
    """Answers for ECR hosts; "not found" for every other host, so that as Docker's
    ``credsStore`` we never stand between the user and another registry.

    ``env`` locates the configuration file (aliases, per-registry identities); without it
    (or without the file) only ECR's own hostnames are served, with the default identity.
    The token source is made from ``settings`` and ``env`` when first needed (a
    not-found answer never loads it), and given the store's deadline and ``activity``.
    ``activity`` is what the action did, for whoever reads it after the answer: given by a
    caller that reads it (``warm``), or made for the activity log when there is one;
    otherwise there is none, and the token source records into nothing.
    """

    def __init__(
        self,
        settings: Settings,
        stderr: TextIO,
        env: Mapping[str, str] | None = None,
        program: str = PROGRAM,
        *,
        activity: Activity | None = None,
    ) -> None:
        self.settings = settings
        self.stderr = stderr
        self.env = env
        self.program = program
        self._config: Config | None = None
        self._config_read = False
        # The server URL the action was about, for the activity log.
        self.asked: str | None = None
        # Every wait of the action ends by it: the input's, the lock's, the AWS worker's.
        self.deadline = Deadline.starting(time.monotonic(), settings.timeout)
        self.activity = activity
        self._tokens: TokenSource | None = None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        stderr: TextIO,
        program: str = PROGRAM,
        *,
        activity: Activity | None = None,
    ) -> EcrStore:
        """The store as the environment configures it; ConfigError for a bad setting."""
        return cls(Settings.from_env(env), stderr, env, program, activity=activity)

    @property
    def tokens(self) -> TokenSource:
        if self._tokens is None:
            from .tokens import TokenSource  # noqa: PLC0415 - see the class docstring

            env = {} if self.env is None else self.env
            activity = self._recorded()
            self._tokens = TokenSource(
                self.settings,
                env,
                self.stderr,
                program=self.program,
                deadline=self.deadline,
                activity=activity,
                refreshed=None if activity is None else self._log_refresh,
            )
        return self._tokens

    @property
    def config(self) -> Config | None:
        """The configuration file, read on first use; None when there is none (then the
        whole cost was one failed open)."""
        if not self._config_read:
            if self.env is not None:
                compiled = None if self.settings.cache_disabled else self.settings.cache_dir
                self._config = config_file.load(self.env, compiled)
            self._config_read = True
        return self._config

    def resolve(self, server_url: str) -> Registry | None:
        """The registry behind a server URL: an ECR hostname, or a configured alias."""
        found = registry.parse(server_url)
        if found is not None or self.config is None:
            return found
        return self.config.alias(registry.hostname(server_url))

    def identity_for(self, target: Registry) -> Identity | None:
        """The configured identity for the registry (None: the default chain)."""
        return None if self.config is None else self.config.identity_for(target.host)

    def get(self, server_url: str) -> tuple[str, str]:
        entry = self.entry(server_url)
        return entry.username, entry.secret

    def entry(self, server_url: str) -> Entry:
        """The cache entry (token and its times) that answers for ``server_url``."""
        self.asked = server_url
        target = self.resolve(server_url)
        if target is None:
            raise errors.CredentialsNotFound()
        try:
            return self.tokens.get(target, self.identity_for(target))
        except errors.AwsError as err:
            if not target.public:
                raise
            activity = self._recorded()
            if activity is not None:
                activity.answered_despite(err)
            # Anonymous pulls from ECR Public work (with lower rate limits): better a
            # slower pull than a failed one.
            raise errors.CredentialsNotFound(
                f"{self.program}: no ECR Public token ({err.message}); pulling anonymously"
            ) from None

    def add(self, server_url: str, username: str, secret: str) -> None:
        """``docker login``: ECR tokens are fetched on demand, so there is nothing to keep."""
        self.asked = server_url
        if self.resolve(server_url) is None and not self.settings.ignore_creds_storage:
            raise errors.HelperError(
                f"{registry.hostname(server_url)} is not an Amazon ECR registry; "
                f"{self.program} stores no credentials for other registries"
            )

    def delete(self, server_url: str) -> None:
        """``docker logout``: forget the cached token (and any recorded failure), so the
        next pull fetches a new one at once."""
        self.asked = server_url
        target = self.resolve(server_url)
        if target is None:
            if self.settings.ignore_creds_storage:
                return
            raise errors.CredentialsNotFound()
        self.tokens.forget(target)

    def list(self) -> dict[str, str]:
        """The registries with a cached token; never a network call."""
        return {entry.host: entry.username for entry in self.tokens.cached_entries()}

    # -- the activity log -------------------------------------------------------------------
    def log_settings(self) -> LogSettings | None:
        """The activity log's settings (the environment's over the configuration file's,
        setting by setting), or None when there is no log. The file has been read for
        every action but ``list`` by now; a broken one is left out, so that the log the
        environment names can still tell of the failure."""
        try:
            config = self.config
        except errors.HelperError:
            config = None
        log = self.settings.log.over(None if config is None else config.log)
        return log if log.path else None

    def log_activity(self, action: str, error: errors.HelperError | None = None) -> None:
        """Write the activity log's line for this action (``error``: the failure it
        answered), if there is a log; without one, this is all it costs (the log's module
        is not even imported)."""
        self._log(action, error)

    def _log_refresh(self, activity: Recorder, error: errors.HelperError | None) -> None:
        """The line of the background refresh, told by the detached refresher when done."""
        self._log("refresh", error, activity)

    def _recorded(self) -> Activity | None:
        """The action's activity: the one given, or one made for the log on first need
        (the log's settings are known once the configuration file has been read), timed
        from the action's start, as its deadline is."""
        if self.activity is None and self.log_settings() is not None:
            from .activity import Activity  # noqa: PLC0415 - only with a log

            self.activity = Activity(started=self.deadline.started)
        return self.activity

    def _log(
        self, action: str, error: errors.HelperError | None, done: Recorder | None = None
    ) -> None:
        """The line of ``done`` (by default, what the action recorded), if there is a log."""
        log = self.log_settings()
        if log is None:
            return
        from .activity import Activity, record  # noqa: PLC0415 - only with a log

        if done is None:
            done = self._recorded()
        if not isinstance(done, Activity):  # never, with a log: it is recorded for it
            return
        host = None
        if self.asked:  # the host alone: no user:password@ a client may have put before it
            host = registry.hostname(self.asked).rpartition("@")[2][:255]
        record(
            log,
            program=self.program,
            action=action,
            host=host,
            activity=done,
            error=error,
            stderr=self.stderr,
        )
