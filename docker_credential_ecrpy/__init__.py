"""Docker credential helper for Amazon ECR.

What it imports is most of what a ``get`` costs, and this is the one place that says so.
Docker starts a new process for every pull and push, and nearly all of them are answered
from the token cache (a hit) or, for a registry that is not ECR, with "not found": so little
of our own work that importing ``re`` or ``tomllib`` would cost about as much again, ``os``
a sixth of the interpreter's own start, and botocore more than ten hits. So:

- The executables start Python isolated and without ``site`` (``scripts/ecrpy-start``,
  ``sitepaths``); only code that needs another distribution completes ``sys.path``.
- The modules a hit or a not-found answer runs import nothing heavy at module level: no
  ``json``, ``re``, ``typing``, ``hashlib``, ``tomllib``, ``platformdirs``, ``os`` or
  ``stat`` (``files`` says how they do without ``os``). Their formats are parsed and
  written with string operations.
- Everything else is imported inside the function that needs it, when it does: botocore
  for a refresh (``aws``), the configuration file's checker for a file to parse
  (``config_file``), the activity log when it is on, the commands people run (the
  ``commands`` subpackage, which no pull imports).
- Besides this package, a hit loads 12 of our modules (``cli``, ``protocol``, ``store``,
  ``config_file``, ``settings``, ``registry``, ``errors``, ``files``, ``policy``,
  ``tokens``, ``cache``, ``keys``) and a not-found answer the first 9 of them
  (``tests/executable/test_helper_protocol.py`` counts them, and holds the heavy ones
  out); the activity log, when on, adds ``activity``; a token that is not fresh,
  ``refresh``. Another module, or another class built at import, would be paid on every
  pull: ``make bench`` measures.

Each module's docstring says only what is particular to it; this file imports nothing.
"""

__version__ = "0.2.0"
# The executable's name, which prefixes every message, and the helper name Docker's
# config.json uses for it (``credHelpers``: ``"<registry>": "ecrpy"``).
PROGRAM = "docker-credential-ecrpy"
HELPER = "ecrpy"
