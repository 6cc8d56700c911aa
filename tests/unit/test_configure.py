"""``configure --switch``'s rule: exactly the Go helper's entries are switched."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy.commands import configure as configure_module
from tests.support.constants import HOST, HOST2

# The in-process rule, over any credHelpers and store.
HELPER_NAMES = st.sampled_from(["ecr-login", "ecrpy", "gcloud", "desktop", "ecr-login-x", ""])


@given(
    helpers=st.dictionaries(
        st.sampled_from([HOST, HOST2, "public.ecr.aws", "ghcr.io"]), HELPER_NAMES
    ),
    store=st.none() | HELPER_NAMES,
    asked=st.lists(st.sampled_from([HOST, HOST2]), min_size=1, unique=True),
)
def test_rule_switches_exactly_the_go_helper_entries(
    helpers: dict[str, str], store: str | None, asked: list[str]
) -> None:
    document: dict[str, Any] = {"credHelpers": helpers, "other": {"credsStore": "ecr-login"}}
    if store is not None:
        document["credsStore"] = store
    before = json.loads(json.dumps(document))
    edit = configure_module.updated(document, asked, False, "config.json")
    assert document == before, "the old document is left untouched"
    new_helpers = edit.document["credHelpers"]
    for host, name in helpers.items():
        switched = name == "ecr-login" or host in asked
        assert new_helpers[host] == ("ecrpy" if switched else name)
    assert all(new_helpers[host] == "ecrpy" for host in asked)
    assert set(new_helpers) == set(helpers) | set(asked)
    assert edit.document.get("credsStore") == ("ecrpy" if store == "ecr-login" else store)
    assert edit.document["other"] == before["other"], "only Docker's own keys are switched"
    go_entries = [h for h, name in helpers.items() if name == "ecr-login"]
    assert edit.switched == len(go_entries) + (store == "ecr-login")
    assert set(edit.hosts) == set(asked) | set(go_entries)
    assert len([line for line in edit.changes if "(was ecr-login)" in line]) == edit.switched
