"""The release's rules that a plain checkout can check: the version has its CHANGELOG.md
section (``make release`` refuses one that has not), and Debian's changelog made from it
is what dpkg and lintian expect. ``make release-check`` tries the artifacts themselves.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from docker_credential_ecrpy import __version__
from tests.support.constants import ROOT

CHANGELOG = ROOT / "packaging" / "changelog.py"
MAINTAINER = "docker-credential-ecrpy maintainers <maintainers@users.noreply.github.com>"

pytestmark = pytest.mark.skipif(not CHANGELOG.is_file(), reason="packaging/ is not here")


def changelog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHANGELOG), *args], capture_output=True, text=True, check=False
    )


def test_the_version_has_its_changelog_section() -> None:
    done = changelog("check", __version__)
    assert (done.returncode, done.stderr) == (0, "")


def test_a_version_without_a_section_is_refused() -> None:
    done = changelog("check", "99.0.0")
    assert done.returncode == 1
    assert done.stderr == (
        "CHANGELOG.md has no section `## [99.0.0] - YYYY-MM-DD`: describe the release there "
        "before building it\n"
    )


def test_debians_changelog_has_every_release_in_debians_format() -> None:
    done = changelog("debian", __version__, MAINTAINER)
    assert done.returncode == 0
    text = done.stdout
    headers = re.findall(
        r"^docker-credential-ecrpy \((\S+)\) unstable; urgency=medium$", text, re.M
    )
    assert headers[0] == __version__
    assert "0.1.0" in headers
    trailers = re.findall(
        rf"^ -- {re.escape(MAINTAINER)}  \w{{3}}, \d\d \w{{3}} \d{{4}} 00:00:00 \+0000$", text, re.M
    )
    assert len(trailers) == len(headers)
    entries = [line for line in text.splitlines() if line.startswith("  * ")]
    assert len(entries) > len(headers)
    # lintian's limit for the text; the sign-off line is as long as the maintainer's name.
    assert all(len(line) <= 80 for line in text.splitlines() if not line.startswith(" -- "))
    assert ".invalid" not in text
