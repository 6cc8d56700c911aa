"""The activity log's writer in-process: rotation under writers racing over a small cap,
and whatever goes wrong writing a line is one warning, never a failed get."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest

from docker_credential_ecrpy import activity, settings
from docker_credential_ecrpy.activity import Activity
from tests.support.constants import HOST, LOG_WARNING


def test_rotation_under_contention_renames_only_a_full_file(tmp_path: Path) -> None:
    """Writers racing, in-process, over a small cap: whoever rotates, the file renamed to
    ``.1`` is always one that was full (a process that waited for another's rotation must
    not rename the new file in turn), and no line is ever torn."""
    log = tmp_path / "log" / "activity.log"
    writers, lines, width, cap = 8, 300, 100, 4096
    children = []
    for writer in range(writers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's status is the result
            status = 0
            try:
                for number in range(lines):
                    data = f"{writer} {number} ".encode().ljust(width - 1, b"x") + b"\n"
                    activity.append(str(log), data, cap)
                    with contextlib.suppress(FileNotFoundError):
                        if os.stat(f"{log}.1").st_size <= cap - width:
                            status = 3  # a rotated file that was not full
            except BaseException:
                status = 4
            os._exit(status)
        children.append(pid)
    statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    assert statuses == [0] * writers
    for path in (Path(f"{log}.1"), log):
        data = path.read_bytes()
        assert len(data) % width == 0
        for at in range(0, len(data), width):
            writer, number, rest = data[at : at + width].split(b" ", 2)
            assert rest == b"x" * (width - 2 - len(writer) - len(number) - 1) + b"\n"


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (PermissionError(13, "Permission denied"), "/x/activity.log: Permission denied"),
        (RuntimeError("a bug, with words that could be anything"), "internal error RuntimeError"),
    ],
)
def test_whatever_goes_wrong_writing_the_log_is_one_warning(
    monkeypatch: pytest.MonkeyPatch, failure: Exception, says: str
) -> None:
    """The answer is in stdout's buffer when the line is written: nothing may escape."""

    def broken(path: str, data: bytes, max_bytes: int) -> None:
        raise failure

    monkeypatch.setattr(activity, "append", broken)
    stderr = io.StringIO()
    activity.record(
        settings.LogSettings("/x/activity.log"),
        program="docker-credential-ecrpy",
        action="get",
        host=HOST,
        activity=Activity("0123456789ab"),
        error=None,
        stderr=stderr,
    )
    assert stderr.getvalue() == (
        f"docker-credential-ecrpy: {LOG_WARNING}{says}); going on without it\n"
    )
