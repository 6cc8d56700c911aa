"""The man pages, made from the help text the programs print, so the two cannot drift.

    python packaging/manpage.py OUTDIR

writes ``docker-credential-ecrpy.1`` and ``ecr-credential-provider-py.1`` into OUTDIR.
Everything a user reads in ``--help`` comes from the package itself: the helper's usage
(``cli.USAGE``), the parsers of ``configure``, ``doctor`` and ``warm`` (their
``build_parser``),
kubelet's usage (``kubelet.USAGE``) and the environment variables (the list in
``settings``' docstring, the one place they are described). Only what ``--help`` has no
room for (files, exit status) is written here. ``tests/executable/test_manpage.py`` holds
every line of every ``--help`` to the rendered page. The package is imported from this checkout.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docker_credential_ecrpy import PROGRAM, __version__, cli, config_file, kubelet, settings  # noqa: E402
from docker_credential_ecrpy.commands import configure, doctor, warm  # noqa: E402

MANUAL = "User Commands"
HOME = "https://github.com/docker-credential-ecrpy/docker-credential-ecrpy"
# A line of a help text that names an item: two spaces, the name, two or more spaces.
_ITEM = re.compile(r"^  (\S+)\s{2,}(\S.*)$")
_HEADING = re.compile(r"^(\S.*):$")


def roff(text: str) -> str:
    """Text as roff reads it literally: backslashes, dashes, and a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        f"\\&{line}" if line.startswith((".", "'")) else line for line in text.split("\n")
    )


def _bold(text: str) -> str:
    return f"\\fB{roff(text)}\\fR"


def synopsis_and_blocks(usage: str) -> tuple[str, list[tuple[str, list[tuple[str, str]] | str]]]:
    """The usage line(s) of a help text, and its other blocks."""
    (_, first), *blocks = help_blocks(usage)
    if not isinstance(first, str):
        raise SystemExit("manpage.py: a help text must start with its usage line")
    return first, blocks


def help_blocks(usage: str) -> list[tuple[str, list[tuple[str, str]] | str]]:
    """A usage text as (heading, items or paragraph) blocks: items are the indented
    "name  text" lines (text continued on deeper-indented lines), anything else a
    paragraph. The first block is the usage line itself."""
    blocks: list[tuple[str, list[tuple[str, str]] | str]] = []
    for chunk in usage.strip("\n").split("\n\n"):
        lines = chunk.split("\n")
        heading = ""
        if _HEADING.match(lines[0]) and len(lines) > 1:
            heading = lines.pop(0)
        items: list[tuple[str, str]] = []
        for line in lines:
            found = _ITEM.match(line)
            if found:
                items.append((found[1], found[2]))
            elif items and line.startswith("    "):
                items[-1] = (items[-1][0], f"{items[-1][1]} {line.strip()}")
            else:
                items = []
                break
        blocks.append((heading, items or "\n".join(line.strip() for line in lines)))
    return blocks


def _blocks_roff(blocks: list[tuple[str, list[tuple[str, str]] | str]]) -> list[str]:
    out = []
    for heading, body in blocks:
        if heading:
            out += [".SS", roff(heading)]
        if isinstance(body, str):
            out += [".PP", ".nf", roff(body), ".fi"] if "{" in body else [".PP", roff(body)]
        else:
            for name, text in body:
                out += [".TP", _bold(name), roff(text)]
    return out


def parser_roff(parser: argparse.ArgumentParser) -> list[str]:
    """A command's section: its usage, description and every argument with its help."""
    usage = " ".join(parser.format_usage().removeprefix("usage: ").split())
    out = [".SS", roff(parser.prog), ".PP", _bold(usage), ".PP", roff(parser.description or "")]
    for action in parser._actions:
        name = ", ".join(action.option_strings) or (action.metavar or action.dest)
        out += [".TP", _bold(str(name)), roff(action.help or "")]
    return out


def environment() -> list[tuple[str, str]]:
    """Every variable, as ``settings``' docstring lists them: (names, what it does), and
    the note on their forms that follows the list as a last item without a name."""
    doc = (settings.__doc__ or "").replace("``", "")
    paragraphs = doc.split("\n\n")
    listed = next(i for i, text in enumerate(paragraphs) if text.startswith("- "))
    items: list[tuple[str, str]] = []
    for line in paragraphs[listed].split("\n"):
        if line.startswith("- "):
            names, _, text = line[2:].partition(": ")
            items.append((names, text))
        else:
            items[-1] = (items[-1][0], f"{items[-1][1]} {line.strip()}")
    return [*items, ("", " ".join(paragraphs[listed + 1].split()))]


def _date() -> str:
    """The build's date (``SOURCE_DATE_EPOCH``, as a release sets it), or none."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch))) if epoch else ""


def _header(name: str, summary: str) -> list[str]:
    return [
        f'.TH {roff(name.upper())} 1 "{_date()}" "{PROGRAM} {__version__}" "{MANUAL}"',
        ".nh",  # the text is compared with --help: no hyphenated words
        ".ad l",
        ".SH NAME",
        f"{roff(name)} \\- {roff(summary)}",
    ]


FILES = [
    (
        "$DOCKER_CONFIG/config.json",
        "Docker's configuration (default ~/.docker/config.json), whose credHelpers or "
        'credsStore name this helper ("ecrpy"); configure edits it.',
    ),
    (
        f"$XDG_CONFIG_HOME/{PROGRAM}/{config_file.FILE_NAME}",
        f"The configuration file (default ~/.config/{PROGRAM}/{config_file.FILE_NAME} on "
        f"Linux; ${config_file.ENV_VAR} names another): aliases, per-registry profiles and "
        "roles, the [log] table. See docs/configuration.md.",
    ),
    (
        f"$XDG_CACHE_HOME/{PROGRAM}/",
        f"The token cache (default ~/.cache/{PROGRAM}/ on Linux, $AWS_ECR_CACHE_DIR when "
        "set): one 0600 file per token and per recorded failure, in a 0700 directory the "
        "helper owns, and the compiled copy of the configuration file.",
    ),
    (
        "/usr/lib/systemd/system/docker-credential-ecrpy-warm.timer",
        "With its .service, runs warm --if-due a minute after boot and hourly, after a random "
        "delay of up to 15 minutes, for root's Docker; disabled until enabled. Its settings: "
        "/etc/default/docker-credential-ecrpy. /usr/lib/systemd/user/ has the same pair for a "
        "user's Docker (settings: ~/.config/docker-credential-ecrpy/warm.env).",
    ),
]
EXIT_STATUS = [
    ("0", "The action or command succeeded."),
    (
        "1",
        "It failed: one line saying why is written on standard output (where Docker reads "
        "it) and repeated on standard error; a usage error too. doctor exits 1 when "
        "something is broken.",
    ),
    ("130", "Interrupted."),
]
KUBELET_EXIT_STATUS = [
    ("0", "The response is on standard output."),
    ("1", "It failed: one line saying why is written on standard error, for kubelet's log."),
]


def helper_page() -> str:
    synopsis, (description, *rest) = synopsis_and_blocks(cli.USAGE)
    out = _header(PROGRAM, "Docker credential helper for Amazon ECR")
    out += [".SH SYNOPSIS", ".nf"]
    out += [_bold(line.removeprefix("Usage: ").strip()) for line in synopsis.split("\n")]
    out += [".fi", ".SH DESCRIPTION", *_blocks_roff([description])]
    out += [".SH ACTIONS AND COMMANDS", *_blocks_roff(rest)]
    out += [".SH COMMANDS FOR PEOPLE"]
    for parser in (configure.build_parser(), doctor.build_parser(), warm.build_parser()):
        out += parser_roff(parser)
    out += [
        ".SS",
        roff(f"{PROGRAM} kubelet"),
        ".PP",
        roff(f"The same as {kubelet.PROGRAM}(1)."),
        ".SH ENVIRONMENT",
    ]
    for names, text in environment():
        out += [".TP", _bold(names), roff(text)] if names else [".PP", roff(text)]
    out += [".SH FILES"]
    for name, text in FILES:
        out += [".TP", _bold(name), roff(text)]
    out += [".SH EXIT STATUS"]
    for name, text in EXIT_STATUS:
        out += [".TP", _bold(name), roff(text)]
    out += _see_also(kubelet.PROGRAM)
    return "\n".join(out) + "\n"


def kubelet_page() -> str:
    synopsis, blocks = synopsis_and_blocks(kubelet.USAGE)
    out = _header(kubelet.PROGRAM, "kubelet image credential provider for Amazon ECR")
    out += [".SH SYNOPSIS", _bold(synopsis.removeprefix("Usage: ").strip())]
    out += [".SH DESCRIPTION", *_blocks_roff(blocks)]
    out += [
        ".PP",
        roff(f"It reads the environment and the files that {PROGRAM}(1) does."),
        ".SH EXIT STATUS",
    ]
    for name, text in KUBELET_EXIT_STATUS:
        out += [".TP", _bold(name), roff(text)]
    out += _see_also(PROGRAM)
    return "\n".join(out) + "\n"


def _see_also(other: str) -> list[str]:
    return [
        ".SH SEE ALSO",
        f"{_bold(other)}(1), docker(1); README.md and docs/ in /usr/share/doc/{PROGRAM}/ "
        f"or at {roff(HOME)}",
    ]


def main() -> int:
    if len(sys.argv) != 2:
        sys.stderr.write("usage: packaging/manpage.py OUTDIR\n")
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{PROGRAM}.1").write_text(helper_page())
    (out / f"{kubelet.PROGRAM}.1").write_text(kubelet_page())
    return 0


if __name__ == "__main__":
    sys.exit(main())
