"""The binary's entry point: the console script's ``main``, nothing before it but a clean
environment for child processes.

PyInstaller's bootloader restarts the executable with ``LD_LIBRARY_PATH`` pointing at the
bundle's libraries (keeping any previous value in ``LD_LIBRARY_PATH_ORIG``) and some
``_PYI_*`` variables. This process has already read them; a child inherits them, and a
child is somebody else's program: a ``credential_process`` from the AWS config, or a
helper that ``doctor`` runs. Loading our copies of libssl or libpython into those would
break them in ways no error message explains, so the user's own environment is put back
before anything else runs. (Run by such a child, this binary starts afresh: without the
``_PYI_*`` variables its bootloader sets up its own library path again.)

One binary serves both scripts the package installs: run through a link named
``ecr-credential-provider-py`` (kubelet's image credential provider), it is that script;
under any other name it is ``docker-credential-ecrpy``. Everything here is paid for by
every cache hit: ``os`` and ``sys`` are already loaded by the bootloader, and the rest is
a few dictionary operations.
"""

import os
import sys

_environ = os.environ
_original = _environ.pop("LD_LIBRARY_PATH_ORIG", None)
if _original is None:
    _environ.pop("LD_LIBRARY_PATH", None)
else:
    _environ["LD_LIBRARY_PATH"] = _original
for _name in [name for name in _environ if name.startswith("_PYI_")]:
    del _environ[_name]

if sys.argv[0].endswith("ecr-credential-provider-py"):
    from docker_credential_ecrpy.kubelet import main
else:
    from docker_credential_ecrpy.cli import main

sys.exit(main())
