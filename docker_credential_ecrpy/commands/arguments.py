"""Argument parsing for the commands (``configure``, ``doctor``, ``warm``).

argparse, adjusted to this program's contract: a usage error is one line on stdout and
exit status 1, like every other failure, and help that cannot be written (a full disk)
is reported rather than swallowed.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from _typeshed import SupportsWrite


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stdout and exit 1."""

    def error(self, message: str) -> Any:
        sys.stdout.write(f"{self.prog}: {message} (see --help)\n")
        sys.exit(1)

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        """argparse's own drops a failed write (a full disk) and exits 0; this lets it
        reach the caller, which reports it."""
        (file or sys.stdout).write(self.format_help())
