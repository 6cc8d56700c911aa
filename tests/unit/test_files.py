"""files.py's own tests of a file's type, which stand in for the stat module's."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from docker_credential_ecrpy import files


def test_the_type_bits_are_the_stat_modules() -> None:
    assert stat.S_IFMT(0o777777) == files.TYPE_BITS
    assert (files.REGULAR, files.DIRECTORY, files.SYMLINK) == (
        stat.S_IFREG,
        stat.S_IFDIR,
        stat.S_IFLNK,
    )


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        (stat.S_IFREG, "a regular file"),
        (stat.S_IFDIR, "a directory"),
        (stat.S_IFIFO, "a FIFO"),
        (stat.S_IFCHR, "a character device"),
        (stat.S_IFBLK, "a block device"),
        (stat.S_IFSOCK, "a socket"),
        (stat.S_IFLNK, "an unusual file"),  # nothing read through a link is one
    ],
)
def test_describe_names_each_type(kind: int, says: str) -> None:
    assert files.describe(kind | 0o640) == says


@pytest.mark.parametrize(
    ("name", "targets", "temp"),
    [
        (".abc.token.123.9f8e7d6c.tmp", None, True),
        (".config.json.123.9f8e7d6c.tmp", ("config.json", "config.json.bak"), True),
        (".config.json.bak.123.9f8e7d6c.tmp", ("config.json.bak",), True),
        (".other.json.123.9f8e7d6c.tmp", ("config.json",), False),
        (".config.jsonx.123.tmp", ("config.json",), False),
        ("abc.tmp", None, False),  # not one of replace's: those are hidden
        (".abc.token", None, False),
    ],
)
def test_is_temp_knows_replaces_temporary_files(
    name: str, targets: tuple[str, ...] | None, temp: bool
) -> None:
    assert files.is_temp(name, targets) is temp


def test_a_temporary_file_replace_makes_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule that finds them is the one that names them: a replace killed after its
    write leaves a file that is_temp recognises, for its target only."""
    made: list[str] = []

    def fail_rename(temp: str, target: str) -> None:
        made.append(temp.rsplit("/", 1)[1])
        raise OSError("killed")

    monkeypatch.setattr(files.posix, "rename", fail_rename)
    with pytest.raises(OSError, match="killed"):
        files.replace(str(tmp_path / "config.json"), b"{}")
    assert files.is_temp(made[0], ("config.json",))
    assert not files.is_temp(made[0], ("other.json",))


def test_remove_stale_temp_keeps_a_young_file(tmp_path: Path) -> None:
    temp = tmp_path / ".x.1.ab.tmp"
    temp.write_bytes(b"")
    mtime = temp.stat().st_mtime
    files.remove_stale_temp(str(temp), mtime + files.STALE_TEMP_AGE)
    assert temp.exists()
    files.remove_stale_temp(str(temp), mtime + files.STALE_TEMP_AGE + 1)
    assert not temp.exists()
