"""Bookkeeping of the end-to-end environment's parts: which are ready, which cannot run
here (*skipped*) and which should have worked but did not (*broken*), and why.

Every part is set up through :meth:`Parts.step`, so none can fail silently: a part whose
prerequisite is not ready takes over the prerequisite's reason (the root cause, not a
chain of them), and :meth:`Parts.require` turns a skipped part into a pytest skip and a
broken one into a failure, so a test never passes without what it needs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable


class Unavailable(Exception):
    """A part cannot run on this machine (not root, package missing, port in use): skip."""


class Broken(Exception):
    """A part that should have worked did not: the tests that need it fail."""


class Parts:
    """The state of every part set up so far, in the order they were set up."""

    def __init__(self, log: Callable[[str], None]) -> None:
        def safe_log(message: str) -> None:
            # A closed stdout (``demo | head``) must not stop a teardown half-way.
            with contextlib.suppress(Exception):
                log(message)

        self.log = safe_log
        # part name -> None (ready) or ("skip" | "broken", reason)
        self.status: dict[str, tuple[str, str] | None] = {}
        self.timings: dict[str, float] = {}

    def need(self, *parts: str) -> None:
        """Raise :class:`Unavailable` or :class:`Broken` unless every part is ready."""
        for part in parts:
            if part not in self.status:
                raise Broken(f"{part}: unknown part or environment not set up")
            state = self.status[part]
            if state is None:
                continue
            kind, reason = state
            if kind == "skip":
                raise Unavailable(reason)
            raise Broken(reason)

    def require(self, *parts: str) -> None:
        """For pytest: skip (the part cannot run here) or fail (it broke) unless all ready."""
        import pytest

        try:
            self.need(*parts)
        except Unavailable as exc:
            pytest.skip(str(exc))
        except Broken as exc:
            pytest.fail(str(exc), pytrace=False)

    def ready(self, part: str) -> bool:
        return self.status.get(part, ("skip", "")) is None

    def step(self, part: str, requires: Iterable[str], action: Callable[[], None]) -> None:
        """Set up ``part`` with ``action`` once everything it ``requires`` is ready, and
        record the outcome: no exception escapes, each becomes the part's reason."""
        for required in requires:
            state = self.status.get(required, ("broken", "was not set up"))
            if state is not None:
                # A dependent part carries the root cause's reason, not a chain of them.
                self.status[part] = state
                self.log(f"{part}: {'skipped' if state[0] == 'skip' else 'BROKEN'} ({state[1]})")
                return
        started = time.monotonic()
        try:
            action()
        except Unavailable as exc:
            self.status[part] = ("skip", f"{exc} [e2e part: {part}]")
            self.log(f"{part}: skipped ({exc})")
        except Exception as exc:
            self.status[part] = ("broken", f"{type(exc).__name__}: {exc} [e2e part: {part}]")
            self.log(f"{part}: BROKEN ({type(exc).__name__}: {exc})")
        else:
            self.status[part] = None
            self.timings[part] = time.monotonic() - started
            self.log(f"{part}: ready ({self.timings[part]:.1f}s)")

    def summary(self) -> str:
        lines = []
        for part, state in self.status.items():
            if state is None:
                lines.append(f"  {part:16} ready")
            else:
                lines.append(
                    f"  {part:16} {'skipped' if state[0] == 'skip' else 'BROKEN'}: {state[1]}"
                )
        return "\n".join(lines)
