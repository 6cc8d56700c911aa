"""The names every layer of the tests shares: where the tree is, the registry hosts and
the account they belong to, the dummy AWS keys (and the pattern that finds any key id
that leaks), the fields of an activity log line, and the instants the in-process tests
put their clocks at. Each is defined here once."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
ACCOUNT = "123456789012"
HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
HOST2 = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
# Dummy keys in the shape AWS uses, but never a real one.
ACCESS_KEY_ID = "AKIDEXAMPLETESTKEY01"
SECRET_ACCESS_KEY = "wJalrXUtnFEMIEXAMPLEsecretKEYforTESTSonly"
# Any access key id: the suites' dummies (AKID...) and AWS's own (AKIA..., ASIA...).
KEY_ID = re.compile(r"A[KS]I[AD][A-Z0-9]{12,}")
# What every line of the activity log has.
LOG_FIELDS = {
    "time",
    "level",
    "program",
    "action",
    "registry",
    "outcome",
    "identity",
    "api_calls",
    "ms",
    "pid",
}
ALWAYS = 10**6  # a stand-in fault that never runs out
# A token of one hour with a two-hour refresh window is due (and usable) from the start.
DUE = {"ECRPY_REFRESH_WINDOW": "2h", "ECRPY_MIN_VALIDITY": "10m"}
# The in-process tests' clock: a fixed "issued" instant, and ECR's token lifetime.
T0 = 1_800_000_000.0
LIFE = 12 * 3600.0
TEN_YEARS = 10 * 365 * 86400.0
# A registry alias the configuration file can name, and a role it can assume.
ALIAS = "registry.example.com"
ROLE = "arn:aws:iam::123456789012:role/ecr-pull"
ALIAS_TEXT = f'[registries."{ALIAS}"]\naccount = "123456789012"\nregion = "eu-west-1"\n'
LOG_WARNING = "warning: cannot write the activity log ("

# Every API endpoint the helper may call, pointed at the stand-in by the suites and benches.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_ECR_PUBLIC", "AWS_ENDPOINT_URL_STS")
