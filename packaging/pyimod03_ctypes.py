"""Stands in for PyInstaller's loader module of the same name (see the spec).

PyInstaller's version imports ctypes at every start, before the entry script, to wrap
``ctypes.CDLL`` so that a library named by file name is looked up among the bundled ones.
Importing ctypes costs about 4 ms here: a third of a whole cache hit, on every pull. And
there is nothing for the wrapper to do in this bundle: on Linux nothing in it loads a
library through ctypes (the modules that import ctypes are the Windows branches of
platformdirs and dateutil). So ``install`` does nothing, and ctypes is imported only if
and when something needs it; a library it loads by name is then looked up the usual way
(LD_LIBRARY_PATH, which the bootloader points at the bundle, still applies).
"""


def install() -> None:
    """Nothing to install: see the module docstring."""
