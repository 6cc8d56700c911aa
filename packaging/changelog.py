"""CHANGELOG.md for the release build: the version's section, and Debian's changelog.

    python packaging/changelog.py check VERSION
        exit 1, saying so, when CHANGELOG.md has no dated section for VERSION
    python packaging/changelog.py debian VERSION MAINTAINER
        print a Debian changelog (debian/changelog format) of every release up to VERSION

CHANGELOG.md is the one place a release is described (Keep a Changelog: ``## [X.Y.Z] -
YYYY-MM-DD`` sections of ``### Added``/``Changed``/``Fixed`` lists); the Debian changelog
in each .deb is made from it, so the two never disagree.
"""

from __future__ import annotations

import re
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

CHANGELOG = Path(__file__).resolve().parent.parent / "CHANGELOG.md"
PACKAGE = "docker-credential-ecrpy"
_SECTION = re.compile(r"^## \[(?P<version>[^\]]+)\] - (?P<date>\d{4}-\d{2}-\d{2})\s*$", re.M)


class Release:
    def __init__(self, version: str, date: str, body: str) -> None:
        self.version = version
        self.date = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC)
        self.body = body

    def entries(self) -> list[str]:
        """The section's list items, each prefixed with its kind ("Added: ...")."""
        found, kind = [], ""
        for line in self.body.split("\n"):
            if line.startswith("### "):
                kind = line[4:].strip()
            elif line.startswith("- "):
                found.append(f"{kind}: {line[2:].strip()}" if kind else line[2:].strip())
            elif line.startswith("  ") and found:
                found[-1] += " " + line.strip()
        return [re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", entry) for entry in found]


def releases(text: str) -> list[Release]:
    """Every dated section, newest first, as the file lists them."""
    marks = list(_SECTION.finditer(text))
    ends = [mark.start() for mark in marks[1:]] + [len(text)]
    return [
        Release(mark["version"], mark["date"], text[mark.end() : end])
        for mark, end in zip(marks, ends, strict=True)
    ]


def find(version: str, text: str) -> list[Release]:
    """The release ``version`` and the ones before it; SystemExit when it has no section."""
    listed = releases(text)
    for index, release in enumerate(listed):
        if release.version == version:
            if not release.entries():
                raise SystemExit(f"CHANGELOG.md: the section of {version} lists no change")
            return listed[index:]
    raise SystemExit(
        f"CHANGELOG.md has no section `## [{version}] - YYYY-MM-DD`: describe the release "
        "there before building it"
    )


def debian(listed: list[Release], maintainer: str) -> str:
    out = []
    for release in listed:
        out.append(f"{PACKAGE} ({release.version}) unstable; urgency=medium\n")
        for entry in release.entries():
            out.append(
                textwrap.fill(
                    entry,
                    78,
                    initial_indent="  * ",
                    subsequent_indent="    ",
                    break_on_hyphens=False,
                )
            )
        stamp = release.date.strftime("%a, %d %b %Y %H:%M:%S +0000")
        out.append(f"\n -- {maintainer}  {stamp}\n")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "check":
        find(argv[1], CHANGELOG.read_text())
        return 0
    if len(argv) == 3 and argv[0] == "debian":
        sys.stdout.write(debian(find(argv[1], CHANGELOG.read_text()), argv[2]))
        return 0
    sys.stderr.write("usage: packaging/changelog.py check VERSION | debian VERSION MAINTAINER\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
