"""files.py's own tests of a file's type, which stand in for the stat module's."""

from __future__ import annotations

import stat

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
