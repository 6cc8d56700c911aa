"""The compiled copy of the configuration file stands for exactly the bytes it was made
for."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy import config_cache


@given(
    data=st.binary(max_size=64),
    payload=st.binary(max_size=64),
    index=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
)
def test_a_copy_stands_for_exactly_the_bytes_it_was_made_for(
    data: bytes, payload: bytes, index: int, flip: int
) -> None:
    def changed(blob: bytes) -> bytes:
        at = index % len(blob)
        return blob[:at] + bytes([blob[at] ^ flip]) + blob[at + 1 :]

    copy = config_cache.encode(data, payload)
    assert config_cache.decode(copy, data) == payload
    assert config_cache.decode(changed(copy), data) is None
    assert config_cache.decode(copy, data + b"\n") is None
    if data:
        assert config_cache.decode(copy, changed(data)) is None
