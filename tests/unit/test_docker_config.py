"""The Docker config file's writer, which keeps numbers' text, writes everything else as
the json module does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy.commands import docker_config

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@given(document=st.dictionaries(st.text(), JSON_VALUES))
def test_written_as_json_dumps_writes_it(
    tmp_path_factory: pytest.TempPathFactory, document: dict[str, Any]
) -> None:
    """The writer that keeps numbers' text writes everything else as the json module
    does (and so as the other tests expect): same layout, escapes and separators."""
    path = tmp_path_factory.getbasetemp() / "property-config.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    loaded = docker_config.load(str(path)).document
    assert docker_config.dumps(loaded) == json.dumps(document, indent="\t", ensure_ascii=False)
