"""The rest of ``sys.path``, for code that imports other distributions.

The installed executables start Python without ``site`` (``-I -S``, see
``scripts/ecrpy-start``), with only this package's own directory added to the standard
library: a cache hit then pays for no ``.pth`` file, ``sitecustomize`` or site directory
scan of anything installed beside us. Code that needs another distribution (botocore in
the AWS worker, platformdirs off Linux) calls ``complete()`` first, which does what an
isolated start (``python -I``) would have done, so that botocore is found where pip put
it beside us: a venv's site-packages, the system's dist-packages, or a directory that
only a ``.pth`` file there names; and the install's own directory (``--user``,
``--prefix``, ``--target``) with its ``.pth`` files. Only a miss pays for it.

Isolated, as the hit is: no ``PYTHON*`` variable and no user site takes part, so neither a
``usercustomize`` nor a ``.pth`` file under ``PYTHONUSERBASE`` or ``~/.local`` runs on a miss,
unless it is the directory we are installed in.
"""

from __future__ import annotations

import sys

_done = False


def complete() -> None:
    """Run ``site`` as an isolated start would have, once per process, and process the
    install's own directory; nothing when the interpreter started with ``site`` (its own
    start decided), or in the standalone binary (which carries its own)."""
    global _done  # noqa: PLW0603 - once per process, whoever asks first
    if _done or not sys.flags.no_site or getattr(sys, "frozen", False):
        return
    _done = True
    import os  # noqa: PLC0415 - the miss path only
    import site  # noqa: PLC0415 - with -S, importing it runs nothing

    # -I turned the user site off and keeps it off: the user site and PYTHONUSERBASE
    # (which site reads from the environment whatever -I says) run no code of theirs.
    site.ENABLE_USER_SITE = False
    site.main()
    # Where this package is: a site directory site.main() processed already, or one it
    # does not know (a --user, --prefix or --target install), whose .pth files a
    # normal start would have run and which may be all that names our dependencies.
    own = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    processed = {os.path.realpath(path) for path in site.getsitepackages()}
    if os.path.realpath(own) not in processed:
        site.addsitedir(own)
