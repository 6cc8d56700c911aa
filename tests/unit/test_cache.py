"""The token cache (``cache.py``): its file formats, whose token entries and failure
records round-trip exactly, with anything truncated, corrupt or foreign rejected (read as
absent), never trusted; whatever the failure writer writes, the reader reads back; and
writers killed at random instants never leave a torn entry for readers in other
processes; and ``Forgiving``, in which cache trouble (an unsafe directory, an OSError) is
said once and answered as ``NoCache`` answers. The cache as gets use it, through the
installed executable, is in ``tests/executable/test_caching.py``."""

from __future__ import annotations

import errno
import io
import math
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docker_credential_ecrpy import cache, errors, files
from docker_credential_ecrpy.activity import Activity
from docker_credential_ecrpy.cache import (
    Entry,
    Failure,
    decode,
    decode_failure,
    encode,
    encode_failure,
)
from tests.support.constants import HOST, LIFE, T0
from tests.support.toolkit import PYTHON, kill, valid_entry_at

SCOPE = "ecr us-east-1 aws"
IDENTITY = "0123456789ab"


def entry(issued: float = T0, life: float = LIFE, secret: str = "c2VjcmV0LXRva2Vu") -> Entry:  # noqa: S107
    return Entry(SCOPE, HOST, "AWS", secret, issued, issued + life, IDENTITY)


# -- encode / decode -----------------------------------------------------------------------


def test_round_trip_keeps_every_field_exactly() -> None:
    original = Entry(
        SCOPE, HOST, "AWS", "eyJwYXlsb2FkIjoi+/=", T0 + 0.123456789, T0 + LIFE + 1e-6, IDENTITY
    )
    back = decode(encode(original))
    assert back is not None
    assert (back.host, back.username, back.issued_at, back.expires_at, back.fingerprint) == (
        original.host,
        original.username,
        original.issued_at,
        original.expires_at,
        IDENTITY,
    )
    kept = back.secret == original.secret
    assert kept, "the secret changed"


@given(
    secret=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=3000),
    issued=st.floats(min_value=1.0, max_value=4e9),
    life=st.floats(min_value=1e-3, max_value=1e7),
)
def test_round_trip_of_any_printable_token(secret: str, issued: float, life: float) -> None:
    original = Entry(SCOPE, HOST, "AWS", secret, issued, issued + life, IDENTITY)
    back = decode(encode(original))
    assert back is not None
    kept = back.secret == secret
    assert kept, "the secret changed"
    assert (back.issued_at, back.expires_at) == (original.issued_at, original.expires_at)


def test_repr_never_shows_the_secret() -> None:
    assert "sekrit" not in repr(entry(secret="sekrit-token"))


def test_every_truncation_is_rejected() -> None:
    data = encode(entry())
    for size in range(len(data)):
        assert decode(data[:size]) is None, f"a {size}-byte prefix decoded"
    assert decode(data) is not None


def _valid() -> bytes:
    return encode(entry())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"\0" * 200,
        _valid().replace(b"secret c2V", b"secret \0\0V"),
        _valid().replace(b"host 1234", b"host \x001234"),
        _valid().replace(b"user AWS", b"user A\x1bS"),
        _valid().replace(b"ecrpy-token 3", b"ecrpy-token 1"),  # the format before scopes
        _valid().replace(b"ecrpy-token 3", b"ecrpy-token 2"),  # before the identity line
        _valid().replace(b"ecrpy-token 3", b"ECRPY-TOKEN 3"),
        _valid().replace(f"identity {IDENTITY}\n".encode(), b""),
        _valid().replace(f"identity {IDENTITY}".encode(), b"identity "),
        _valid().replace(f"identity {IDENTITY}".encode(), b"identity 0123456789AB"),
        _valid().replace(f"identity {IDENTITY}".encode(), b"identity 0123456789abc"),
        _valid().replace(f"identity {IDENTITY}".encode(), b"identity AKIDEXAMPLE1"),
        b"garbage\xff\xfe\x00\x01" * 50,
        b'{"host": "x", "secret": "y"}\n',
        _valid() + b"extra line\n",
        _valid() + b"\n",
        _valid().rstrip(b"\n"),
        _valid().replace(b"\n", b"\r\n"),
        _valid().replace(b"user AWS\n", b"host again\n"),
        _valid().replace(b"user AWS", b"user "),
        _valid().replace(b"secret c2VjcmV0LXRva2Vu", b"secret "),
        _valid().replace(b"expires ", b"expires x"),
        _valid().replace(f"expires {T0 + LIFE!r}".encode(), b"expires inf"),
        _valid().replace(f"expires {T0 + LIFE!r}".encode(), b"expires nan"),
        _valid().replace(f"issued {T0!r}".encode(), b"issued nan"),
        _valid().replace(f"issued {T0!r}".encode(), b"issued -inf"),
        _valid().replace(f"issued {T0!r}".encode(), b"issued -5.0"),
        _valid().replace(f"expires {T0 + LIFE!r}".encode(), f"expires {T0!r}".encode()),
        _valid().replace(f"expires {T0 + LIFE!r}".encode(), f"expires {T0 - 1!r}".encode()),
        b"\xef\xbb\xbf" + _valid(),  # a byte-order mark
        _valid()[:-1] + b"\xff\n",
        b"x" * (cache.MAX_ENTRY_BYTES + 10),
    ],
)
def test_corrupt_or_foreign_data_is_a_miss(data: bytes) -> None:
    assert decode(data) is None


@given(st.binary(max_size=400))
def test_random_bytes_never_crash_decode(data: bytes) -> None:
    decoded = decode(data)
    if decoded is not None:  # only a well-formed entry decodes, and it round-trips
        assert encode(decoded) == data


def test_decoded_times_are_finite_and_ordered() -> None:
    back = decode(_valid())
    assert back is not None
    assert math.isfinite(back.issued_at) and math.isfinite(back.expires_at)
    assert back.issued_at < back.expires_at


# -- failure records ----------------------------------------------------------------------------


def record() -> Failure:
    return Failure(
        SCOPE,
        HOST,
        "Throttled",
        "AWS throttled ecr:GetAuthorizationToken (3 attempts in 8s)",
        T0,
        T0 + 30.5,
        2,
        IDENTITY,
    )


def test_a_failure_round_trips() -> None:
    back = decode_failure(encode_failure(record()))
    assert back is not None
    original = record()
    for name in Failure.__slots__:
        assert getattr(back, name) == getattr(original, name), name


def test_a_failure_message_stays_one_line() -> None:
    multi = Failure(SCOPE, HOST, "AwsError", "first line\nsecond\tline", T0, T0 + 1, 1, IDENTITY)
    back = decode_failure(encode_failure(multi))
    assert back is not None and back.message == "first line second line"


def test_every_truncated_failure_is_rejected() -> None:
    data = encode_failure(record())
    for size in range(len(data)):
        assert decode_failure(data[:size]) is None, f"a {size}-byte prefix decoded"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"ecrpy-failure 3", b"ecrpy-failure 2"),  # before the identity line
        (b"ecrpy-failure 3", b"ecrpy-failure 4"),
        (f"identity {IDENTITY}".encode(), b"identity "),
        (f"identity {IDENTITY}".encode(), b"identity xyz"),
        (b"kind Throttled", b"kind not a name"),
        (b"kind Throttled", b"kind "),
        (b"count 2", b"count 0"),
        (b"count 2", b"count two"),
        (f"retry {T0 + 30.5!r}".encode(), f"retry {T0 - 1!r}".encode()),  # before it failed
        (f"retry {T0 + 30.5!r}".encode(), b"retry inf"),
        (f"failed {T0!r}".encode(), b"failed nan"),
        (b"message AWS", b"message \x00AWS"),
        (f"host {HOST}".encode(), b"host "),
    ],
)
def test_a_corrupt_failure_record_is_ignored(old: bytes, new: bytes) -> None:
    data = encode_failure(record())
    assert old in data
    assert decode_failure(data.replace(old, new)) is None


@given(st.binary(max_size=400))
def test_random_bytes_never_crash_decode_failure(data: bytes) -> None:
    decoded = decode_failure(data)
    if decoded is not None:
        assert encode_failure(decoded) == data


ANY_TEXT = st.text(st.characters(exclude_categories=()))  # lone surrogates too


def failure_record(
    message: str = "denied", failed: float = T0, wait: float = 60.0
) -> cache.Failure:
    return cache.Failure(
        "ecr us-east-1 aws", HOST, "AccessDenied", message, failed, failed + wait, 2, "0" * 12
    )


@given(
    message=ANY_TEXT
    | st.text(min_size=5000)
    | st.builds(lambda a, b: a * 4000 + b, ANY_TEXT, ANY_TEXT),
    failed=st.floats(min_value=1.0, max_value=4e9),
    wait=st.floats(min_value=0.0, max_value=1e9),
)
def test_what_is_written_reads_back(message: str, failed: float, wait: float) -> None:
    written = cache.encode_failure(failure_record(message, failed, wait))
    assert len(written) <= cache.MAX_ENTRY_BYTES
    back = cache.decode_failure(written)
    assert back is not None, "a record the writer wrote is refused by the reader"
    assert back.message == errors.one_line(message) or (
        not errors.one_line(message) and back.message == errors.NO_REASON
    )
    assert (back.failed_at, back.retry_at, back.count) == (failed, failed + wait, 2)
    assert cache.encode_failure(back) == written  # and reads as what was written


def test_a_hostile_message_is_recorded_readably() -> None:
    message = "\ufeffbad \x1b[31mgateway\x1b[0m" + " <p>blocked</p>" * 2000
    back = cache.decode_failure(cache.encode_failure(failure_record(message)))
    assert back is not None
    assert back.message.startswith("bad [31mgateway [0m <p>blocked</p>")
    assert len(back.message) == errors.MESSAGE_LIMIT and back.message.isprintable()


def test_the_reader_takes_exactly_what_the_writer_writes() -> None:
    """A message the writer would have changed (not one line, not printable, too long)
    was not written by it: refused, as any other file that does not parse."""
    good = cache.encode_failure(failure_record("denied"))
    for message, written in [
        ("denied by policy", True),
        ("x" * errors.MESSAGE_LIMIT, True),
        ("x" * (errors.MESSAGE_LIMIT + 1), False),
        ("denied  by policy", False),
        ("denied ", False),
        ("\ufeffdenied", False),
        ("denied \x1b[31m", False),
    ]:
        data = good.replace(b"message denied", f"message {message}".encode())
        assert (cache.decode_failure(data) is not None) is written, message


# -- crash safety --------------------------------------------------------------------------

WRITER = """
import sys
from docker_credential_ecrpy.cache import Entry, TokenCache
directory, key, generation, host = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
store = TokenCache(directory)
padding = "p" * 3000  # a larger file makes a torn write likelier to be seen
print("ready", flush=True)
while True:
    generation += 1
    secret = f"gen-{generation:012d}-{padding}"
    store.write(key, Entry("ecr us-east-1 aws", host, "AWS", secret, 1e9, 4e9, "0123456789ab"))
"""


READER = """
import os, sys
from docker_credential_ecrpy.cache import TokenCache, decode
directory, key, stop = sys.argv[1], sys.argv[2], sys.argv[3]
path = os.path.join(directory, key + ".token")
store = TokenCache(directory)
reads = bad = absent = 0
while not os.path.exists(stop):
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        absent += 1
        continue
    reads += 1
    if decode(data) is None or store.read(key) is None:
        bad += 1
print(reads, bad, absent, flush=True)
"""


def generation(entry: cache.Entry) -> int:
    return int(entry.secret.split("-")[1])


@pytest.mark.slow
def test_killing_writers_at_random_instants_leaves_a_valid_entry(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    key = "0123456789abcdef0123456789abcdef"
    path = directory / f"{key}{cache.SUFFIX}"
    readers = [
        subprocess.Popen(
            [PYTHON, "-c", READER, str(directory), key, str(tmp_path / "stop")],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    rng = random.Random(20261129)  # noqa: S311 - reproducible instants
    last = -1
    kills = 0
    try:
        for run in range(60):
            writer = subprocess.Popen(
                [PYTHON, "-c", WRITER, str(directory), key, str(run * 10**9), HOST],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0, 0.03))
            kill(writer)
            kills += writer.returncode == -signal.SIGKILL
            if not path.exists():
                assert last == -1, "a written entry disappeared"
                continue
            entry = valid_entry_at(path)  # never torn, never empty
            assert generation(entry) >= last, "an older entry came back"
            last = generation(entry)
    finally:
        (tmp_path / "stop").touch()
        outcomes = [reader.communicate(timeout=30)[0].split() for reader in readers]
    assert kills == 60
    assert last >= 0, "no writer ever finished a write"
    for reads, bad, _absent in outcomes:
        assert int(reads) > 0
        assert int(bad) == 0, f"a reader saw {bad} torn entries in {reads} reads"
    # Only the entry and the temporary files of killed writers (which a later prune
    # removes); never a second entry name.
    names = [p.name for p in directory.iterdir()]
    # Killed writers leave their temporary files: proof that kills landed inside writes
    # (about two in three do here), not only between them.
    assert any(n.endswith(".tmp") for n in names), "no kill landed inside a write"
    assert [n for n in names if not n.endswith(".tmp")] == [path.name]
    assert all(n.startswith(f".{key}.") for n in names if n.endswith(".tmp"))


# -- cache trouble never fails a get (Forgiving) --------------------------------------------

PROGRAM = "docker-credential-ecrpy"
KEY = "k" * 64
TOO_LONG = "k" * 300  # a name no file system takes: an OSError of the real cache, even for root


def forgiving(directory: Path) -> tuple[cache.Forgiving, io.StringIO]:
    stderr = io.StringIO()
    real = cache.TokenCache(str(directory))
    return cache.Forgiving(real, str(directory), stderr, PROGRAM), stderr


def test_an_unsafe_cache_directory_is_said_once_then_no_cache_answers(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    cache.TokenCache(str(directory)).write(KEY, entry())
    directory.chmod(0o777)  # open to others: not trusted with tokens
    held, stderr = forgiving(directory)
    assert held.read(KEY) is None  # the operation's fallback, not the token
    said = (
        f"{PROGRAM}: cache directory {directory} is open to other users (mode 0777; it must "
        "be 0700); working without the cache\n"
    )
    assert stderr.getvalue() == said
    assert isinstance(held.held, cache.NoCache)
    held.write(KEY, entry(secret="bmV3"))
    assert (held.read(KEY), held.entries(), held.remove_scope(SCOPE)) == (None, [], 0)
    assert stderr.getvalue() == said  # said once, however many operations follow
    kept = cache.decode((directory / (KEY + cache.SUFFIX)).read_bytes())
    assert kept is not None and kept.secret == entry().secret  # nothing written there


def test_an_oserror_of_the_cache_is_said_once_with_its_directory(tmp_path: Path) -> None:
    held, stderr = forgiving(tmp_path)
    held.write(TOO_LONG, entry())  # does not raise
    reason = os.strerror(errno.ENAMETOOLONG)
    said = f"{PROGRAM}: cache directory {tmp_path}: {reason}; working without the cache\n"
    assert stderr.getvalue() == said
    assert isinstance(held.held, cache.NoCache)
    held.record_failure(TOO_LONG, record())
    held.write(KEY, entry())
    assert stderr.getvalue() == said
    assert list(tmp_path.iterdir()) == []


def lock_of(held: cache.Forgiving) -> files.KeyLock:
    return files.KeyLock(os.path.join(held.directory, TOO_LONG + cache.LOCK_SUFFIX))


@pytest.mark.parametrize(
    ("operation", "fallback"),
    [
        (lambda held: held.lock(TOO_LONG).path, None),  # NoCache's lock, always granted
        (lambda held: held.record_failure(TOO_LONG, record()), None),
        (lambda held: held.acquire(lock_of(held), None, failing=True), True),
        (lambda held: held.acquire(lock_of(held), None, failing=False), False),
    ],
    ids=["lock", "record_failure", "acquire-going-on", "acquire-giving-up"],
)
def test_each_operation_answers_its_fallback_on_trouble(
    tmp_path: Path, operation: Callable[[cache.Forgiving], object], fallback: object
) -> None:
    held, stderr = forgiving(tmp_path)
    assert operation(held) == fallback
    assert stderr.getvalue().endswith("; working without the cache\n")
    assert isinstance(held.held, cache.NoCache)


def test_a_token_of_another_scope_does_not_answer_and_the_read_is_timed(tmp_path: Path) -> None:
    held, stderr = forgiving(tmp_path)
    held.write(KEY, entry())
    recorded = Activity()
    assert held.read_for(KEY, "ecr eu-west-1 aws", recorded) is None  # copied from another key
    found = held.read_for(KEY, SCOPE, recorded)
    assert found is not None and found.scope == SCOPE
    assert set(recorded.phases) == {"cache_read"}
    assert stderr.getvalue() == ""
