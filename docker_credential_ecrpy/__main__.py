"""``python -m docker_credential_ecrpy``: the same as the console script."""

import sys

from .cli import main

sys.exit(main())
