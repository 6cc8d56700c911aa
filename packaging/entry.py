"""The binary's entry point: the console script's ``main``, nothing before it.

Anything imported here is paid for by every cache hit, so this stays two imports long.
"""

import sys

from docker_credential_ecrpy.cli import main

sys.exit(main())
