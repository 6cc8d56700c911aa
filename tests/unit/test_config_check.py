"""The configuration file's checker: every error names the file, line and key path; the
log table; anything marshal can carry is taken or refused in one line; a good file costs
no line search; control characters are refused."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy import config, config_check, errors
from tests.support.constants import ALIAS, ALIAS_TEXT, HOST, ROLE

# Whatever marshal can carry, shaped now and then like a configuration.
NAMES = st.sampled_from(["registries", ALIAS, HOST, "*.example.com", "account", "region"])
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.binary(max_size=8)
    | st.text(max_size=12)
    | NAMES
    | st.sampled_from(["123456789012", "eu-west-1", ROLE, " ", "a\nb"])
)
DOCUMENTS = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(
            NAMES | st.sampled_from(config_check.KNOWN_KEYS) | st.text(max_size=6) | st.integers(),
            inner,
            max_size=4,
        )
    ),
    max_leaves=24,
)


def test_bad_config_errors_name_the_key_path() -> None:
    text = f'[registries."{ALIAS}"]\naccount = "123456789012"\nregoin = "x"\n'
    with pytest.raises(errors.ConfigError) as caught:
        config_check.parse(text.encode(), "/etc/x.toml")
    assert caught.value.message.startswith(
        f'/etc/x.toml:3: registries."{ALIAS}".regoin: unknown setting'
    )


def test_the_log_table() -> None:
    text = '[log]\npath = "~/ecrpy.log"\nlevel = "Error"\nmax_size = 65536\n' + ALIAS_TEXT
    checked = config_check.parse(text.encode(), "/etc/x.toml")
    assert checked.log is not None
    assert (checked.log.path, checked.log.level, checked.log.max_bytes) == (
        os.path.expanduser("~/ecrpy.log"),
        "error",
        65536,
    )
    assert checked.alias(ALIAS) is not None
    assert config_check.parse(ALIAS_TEXT.encode(), "/etc/x.toml").log is None


@given(document=DOCUMENTS)
def test_the_checker_takes_anything_marshal_can_carry(document: object) -> None:
    """A copy's document is checked as a file's is: whatever it holds, the answer is a
    configuration or one line naming the file, never an exception of another kind."""
    data = b"# the file\n"
    try:
        checked = config_check.check(document, "/x/y.toml", data)
    except errors.ConfigError as err:
        assert err.message.startswith("/x/y.toml")
        assert len(err.message.splitlines()) == 1, err.message
    else:
        assert isinstance(checked, config.Config)


def test_a_good_file_costs_no_line_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines are for messages (and doctor): a good file, as every hit reads, is checked
    without looking for one."""

    def no_search(text: str, where: list[str]) -> None:
        raise AssertionError(f"looked for the line of {where}")

    monkeypatch.setattr(config_check, "_locate", no_search)
    text = ALIAS_TEXT + f'[registries."*.amazonaws.com"]\nrole_arn = "{ROLE}"\n'
    parsed = config_check.parse(text.encode(), "x.toml")
    assert parsed.alias(ALIAS) is not None


def test_control_characters_are_refused() -> None:
    with pytest.raises(errors.ConfigError) as caught:
        config_check.parse(f'[registries."{HOST}"]\nprofile = "a\\tb"\n'.encode(), "x.toml")
    assert "control characters" in caught.value.message
