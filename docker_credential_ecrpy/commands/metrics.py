"""The token cache in Prometheus text format, for node_exporter's textfile collector.

People who run build hosts watch them with Prometheus; from there they should see that a
host's token is about to expire, or that its refreshes keep failing, before a build
fails. ``doctor --tokens --prometheus`` prints this, and ``warm --prometheus-file``
writes it where the collector reads it. The input is what ``doctor --tokens`` gathers
(its checks' data), so both show the same cache; never a secret, only times, counts and
the labels registry host, region and identity (the fingerprint's short form).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

# name, HELP text, the field of a check's data it is read from; all gauges, in base units.
TOKEN_METRICS = (
    ("ecrpy_token_issued_timestamp_seconds", "When the cached token was issued.", "issued_at"),
    ("ecrpy_token_expiry_timestamp_seconds", "When the cached token expires.", "expires_at"),
    (
        "ecrpy_token_next_refresh_timestamp_seconds",
        "When the cached token becomes due for refresh.",
        "refresh_at",
    ),
)
FAILURE_METRICS = (
    (
        "ecrpy_refresh_consecutive_failures",
        "Refreshes of the token that failed in a row (the last recorded failure).",
        "failures",
    ),
    (
        "ecrpy_refresh_last_failure_timestamp_seconds",
        "When the last refresh of the token failed.",
        "failed_at",
    ),
    (
        "ecrpy_refresh_backoff_end_timestamp_seconds",
        "Until when no get on the host calls AWS for the token, after a failed refresh.",
        "retry_at",
    ),
)
CACHE_USABLE = "ecrpy_cache_usable"


def render(checks: Iterable[Mapping[str, Any]]) -> str:
    """The exposition text for ``doctor --tokens``'s checks (each as ``Check.as_dict``):
    a sample per token and per failure record, and whether the cache could be read."""
    checks = list(checks)
    usable = any(c["name"] == "directory" and c["status"] == "ok" for c in checks)
    lines = [
        f"# HELP {CACHE_USABLE} Whether the token cache directory could be read (1) or not (0).",
        f"# TYPE {CACHE_USABLE} gauge",
        f"{CACHE_USABLE} {int(usable)}",
    ]
    tokens = [c for c in checks if "expires_at" in c]
    failures = [c for c in checks if "retry_at" in c]
    for records, metrics in ((tokens, TOKEN_METRICS), (failures, FAILURE_METRICS)):
        for name, text, field in metrics:
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} gauge")
            for record in records:
                labels = _labels(record, failure="failure" in record)
                lines.append(f"{name}{{{labels}}} {_number(record[field])}")
    return "\n".join(lines) + "\n"


def _labels(record: Mapping[str, Any], failure: bool) -> str:
    scope = str(record.get("scope", "")).split()
    pairs = [
        ("registry", record.get("host", "")),
        ("region", scope[1] if len(scope) > 1 else ""),
        ("identity", record.get("identity", "")),
    ]
    if failure:
        pairs.append(("kind", record.get("failure", "")))
    return ",".join(f'{name}="{_escaped(str(value))}"' for name, value in pairs)


def _escaped(value: str) -> str:
    """A label value as the format quotes it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(int(value))
