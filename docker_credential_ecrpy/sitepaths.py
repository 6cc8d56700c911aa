"""The rest of ``sys.path``, for code that imports other distributions.

The installed executables start Python without ``site`` (``-I -S``, see
``scripts/ecrpy-start``), with only this package's own directory added to the standard
library: a cache hit then pays for no ``.pth`` file, ``sitecustomize`` or site directory
scan of anything installed beside us. Code that needs another distribution (botocore in
the AWS worker, platformdirs off Linux) calls ``complete()`` first, which does what a
normal start would have done, so that botocore is found wherever pip put it: a venv's
site-packages, the user site of a ``--user`` install, the system's dist-packages, or a
directory that only a ``.pth`` file names. Only a miss pays for it.
"""

from __future__ import annotations

import sys

_done = False


def complete() -> None:
    """Run ``site`` as a normal start would have, once per process; nothing when the
    interpreter started with it, or in the standalone binary (which carries its own)."""
    global _done  # noqa: PLW0603 - once per process, whoever asks first
    if _done or not sys.flags.no_site or getattr(sys, "frozen", False):
        return
    _done = True
    import os  # noqa: PLC0415 - the miss path only
    import site  # noqa: PLC0415 - with -S, importing it runs nothing

    # -I turned the user site off; a normal start has it, unless the process runs with
    # another user's or group's rights (site's own rule). A venv without the system site
    # turns it off again in site.main(), as it would at a normal start.
    site.ENABLE_USER_SITE = os.geteuid() == os.getuid() and os.getegid() == os.getgid()
    site.main()
