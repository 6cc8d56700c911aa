"""The binary's entry point: the console script's ``main``, nothing before it.

One binary serves both scripts the package installs: run through a link named
``ecr-credential-provider-py`` (kubelet's image credential provider), it is that script;
under any other name it is ``docker-credential-ecrpy``. Anything imported here is paid
for by every cache hit, so this stays two imports and a string comparison long.
"""

import sys

if sys.argv[0].endswith("ecr-credential-provider-py"):
    from docker_credential_ecrpy.kubelet import main
else:
    from docker_credential_ecrpy.cli import main

sys.exit(main())
