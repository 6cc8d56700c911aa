"""Stands in for PyInstaller's loader module of the same name (see the spec).

PyInstaller's version imports ctypes at every start, before the entry script, to wrap
``ctypes.CDLL`` so that a library named by file name is looked up among the bundled ones.
Importing ctypes costs about 4 ms here: a third of a whole cache hit, on every pull. And
there is nothing for the wrapper to do in this bundle: the only code that uses ctypes
(filelock, on rare paths) loads ``CDLL(None)``, the running process itself, which the
wrapper passes through unchanged. So ``install`` does nothing, and ctypes is imported
only if and when filelock needs it.
"""


def install() -> None:
    """Nothing to install: see the module docstring."""
