"""Code the suites, the e2e tests, the demo and the benchmarks share, imported one way
from the repository root: ``from tests.support.standin import Client`` and the like.

Nothing here is a test: these are the real parts the tests run against (the ECR API
stand-in, a throwaway CA, the end-to-end environment).
"""
