"""Code the suites, the e2e tests, the demo and the benchmarks share, imported one way
from the repository root: ``from tests.support.standin import StandIn`` and the like.

pytest finds the root by itself (``tests`` is a package); the scripts the Makefile runs
(``demo/demo.py``, ``bench/bench.py``, ``packaging/bench_binary.py``) are given it on
``PYTHONPATH``. Nothing here is a test: these are the real parts the tests run against
(the ECR API stand-in, a throwaway CA, the end-to-end environment), the names they share
(``constants``), the helper run as Docker runs it (``helper``), many of them at once and
what they leave on disk (``toolkit``), kubelet's side of the provider (``kubelet``), and
text from outside (``outside``). No test module imports another, nor ``conftest.py``,
which holds only fixtures.
"""
