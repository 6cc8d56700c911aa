"""The configuration file: aliases and per-registry identities, through real ``get`` runs
against the API stand-in, and every kind of bad file as one line naming file, line, key."""

from __future__ import annotations

import marshal
import os
import tomllib
from pathlib import Path

import pytest

from docker_credential_ecrpy import config_cache, errors
from tests.support.constants import ACCESS_KEY_ID, ALIAS, ALIAS_TEXT, HOST, ROLE, SECRET_ACCESS_KEY
from tests.support.constants import HOST2 as EU_HOST
from tests.support.helper import Helper
from tests.support.standin import StandIn


def write_config(home: Path, text: str) -> Path:
    path = home / "ecrpy.toml"
    path.write_text(text)
    return path


def with_config(helper: Helper, path: Path, **extra: str) -> dict[str, str]:
    return {**helper.env, "ECRPY_CONFIG": str(path), **extra}


def profile_keys(*names: str) -> str:
    """A shared credentials file with the dummy keys under each profile name."""
    return "".join(
        f"[{name}]\naws_access_key_id = {ACCESS_KEY_ID}\n"
        f"aws_secret_access_key = {SECRET_ACCESS_KEY}\n"
        for name in names
    )


def without_env_keys(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


# -- aliases ---------------------------------------------------------------------------------


def test_alias_answers_for_the_alias_with_a_token_for_the_configured_registry(
    helper: Helper, ecr: StandIn, home: Path
) -> None:
    path = write_config(home, ALIAS_TEXT)
    env = with_config(helper, path)
    for spelling in (ALIAS, f"https://{ALIAS}", f"{ALIAS.upper()}:443/some/repo"):
        answer = helper.answer(spelling, env=env)
        assert answer["ServerURL"] == spelling
        assert answer["Username"] == "AWS"
        assert answer["Secret"] == ecr.password
    assert ecr.calls() == 1, "all spellings of the alias share one cache entry"
    # The cache entry is for the alias: `list` names it, `erase` drops it.
    listed = helper.run("list", stdin="unused", env=env)
    assert ALIAS in listed.stdout
    assert helper.run("erase", stdin=ALIAS, env=env).returncode == 0
    helper.answer(ALIAS, env=env)
    assert ecr.calls() == 2


def test_without_the_alias_the_host_is_not_ecr(helper: Helper, ecr: StandIn) -> None:
    result = helper.get(ALIAS)
    assert result.returncode == 1
    assert result.stdout.strip() == errors.NOT_FOUND
    assert ecr.calls() == 0


def test_an_alias_shares_the_token_of_its_region(helper: Helper, ecr: StandIn, home: Path) -> None:
    path = write_config(home, ALIAS_TEXT)
    env = with_config(helper, path)
    assert helper.answer(ALIAS, env=env)["Secret"] == helper.answer(EU_HOST, env=env)["Secret"]
    assert ecr.calls() == 1
    listed = helper.run("list", stdin="unused", env=env).stdout
    assert ALIAS in listed  # the token is listed under the host it was fetched for


def test_default_config_location_is_used(helper: Helper, ecr: StandIn, home: Path) -> None:
    directory = home / "xdg" / "docker-credential-ecrpy"
    directory.mkdir(parents=True)
    (directory / "config.toml").write_text(
        f'[registries."{ALIAS}"]\naccount = "123456789012"\nregion = "us-east-1"\n'
    )
    env = {**helper.env, "XDG_CONFIG_HOME": str(home / "xdg")}
    assert helper.answer(ALIAS, env=env)["Secret"] == ecr.password


# -- per-registry profiles ---------------------------------------------------------------


def test_per_registry_profile_supplies_the_credentials(
    helper: Helper, ecr: StandIn, home: Path
) -> None:
    (home / ".aws" / "config").write_text("[profile eu]\nregion = eu-west-1\n")
    (home / ".aws" / "credentials").write_text(profile_keys("eu"))
    path = write_config(home, f'[registries."{EU_HOST}"]\nprofile = "eu"\n')
    env = without_env_keys(with_config(helper, path))
    # The default chain has no credentials at all here...
    failed = helper.get(HOST, env=env)
    assert failed.returncode == 1
    assert "no AWS credentials" in failed.stdout
    # ...so only the configured profile can have made this work.
    assert helper.answer(EU_HOST, env=env)["Secret"] == ecr.password
    assert ecr.calls() == 1


def test_configured_profile_wins_over_environment_keys(helper: Helper, home: Path) -> None:
    path = write_config(home, f'[registries."{EU_HOST}"]\nprofile = "ghost"\n')
    result = helper.get(EU_HOST, env=with_config(helper, path))
    assert result.returncode == 1
    assert "'ghost'" in result.stdout and "not defined" in result.stdout


def test_pattern_profile_applies_to_matching_hosts_only(
    helper: Helper, ecr: StandIn, home: Path
) -> None:
    path = write_config(
        home,
        '[registries."*.dkr.ecr.eu-west-1.amazonaws.com"]\nprofile = "ghost"\n',
    )
    env = with_config(helper, path)
    assert "'ghost'" in helper.get(EU_HOST, env=env).stdout
    assert helper.answer(HOST, env=env)["Secret"] == ecr.password


def test_profile_is_part_of_the_cache_key(helper: Helper, ecr: StandIn, home: Path) -> None:
    (home / ".aws" / "credentials").write_text(profile_keys("one", "two"))
    path = home / "ecrpy.toml"
    env = with_config(helper, path)
    for profile, calls in (("one", 1), ("one", 1), ("two", 2), ("one", 2)):
        path.write_text(f'[registries."{HOST}"]\nprofile = "{profile}"\n')
        helper.answer(HOST, env=env)
        assert ecr.calls() == calls
    path.unlink()
    helper.answer(HOST, env={**helper.env})
    assert ecr.calls() == 3, "the default identity has its own entry"


# -- roles -----------------------------------------------------------------------------


def test_role_is_assumed_through_sts_once_per_token(
    helper: Helper, ecr: StandIn, home: Path
) -> None:
    path = write_config(
        home,
        f'[registries."{HOST}"]\nrole_arn = "{ROLE}"\nexternal_id = "ext-1"\n'
        'session_name = "ci-pulls"\n',
    )
    env = with_config(helper, path)
    assert helper.answer(HOST, env=env)["Secret"] == ecr.password
    assert ecr.calls("sts:AssumeRole") == 1
    assert ecr.calls() == 1
    helper.answer(HOST, env=env)
    assert ecr.calls("sts:AssumeRole") == 1, "a cache hit assumes no role"
    path.write_text(f'[registries."{HOST}"]\nrole_arn = "{ROLE}"\nexternal_id = "ext-2"\n')
    helper.answer(HOST, env=env)
    assert ecr.calls("sts:AssumeRole") == 2, "another external id is another identity"
    assert ecr.calls() == 2


def test_role_for_an_alias_from_a_profile(helper: Helper, ecr: StandIn, home: Path) -> None:
    (home / ".aws" / "credentials").write_text(profile_keys("base"))
    path = write_config(
        home,
        f'[registries."{ALIAS}"]\naccount = "123456789012"\nregion = "eu-west-1"\n'
        f'profile = "base"\nrole_arn = "{ROLE}"\n',
    )
    env = without_env_keys(with_config(helper, path))
    assert helper.answer(ALIAS, env=env)["Secret"] == ecr.password
    assert ecr.calls("sts:AssumeRole") == 1


def test_assume_role_failure_names_the_role(helper: Helper, ecr: StandIn, home: Path) -> None:
    path = write_config(home, f'[registries."{HOST}"]\nrole_arn = "{ROLE}"\n')
    ecr.fault("AccessDenied", action="AssumeRole", status=403, times=5)
    result = helper.get(HOST, env=with_config(helper, path))
    assert result.returncode == 1
    assert ROLE in result.stdout
    assert "assume role" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1
    assert ecr.calls() == 0


# -- bad configuration -------------------------------------------------------------------

BAD_FILES = [
    # (file text, line, what the message must name)
    (f'[registries."{ALIAS}"]\naccount = "123456789012"\nregion = \n', 3, "invalid TOML"),
    (f'[registries."{ALIAS}"]\naccount = "123456789012"\nregoin = "eu-west-1"\n', 3, "regoin"),
    (f'[registries."{ALIAS}"]\naccount = "12345"\nregion = "eu-west-1"\n', 2, "account"),
    (f'[registries."{ALIAS}"]\naccount = 123456789012\nregion = "eu-west-1"\n', 2, "account"),
    (f'[registries."{ALIAS}"]\naccount = "123456789012"\nregion = "moon"\n', 3, "region"),
    (f'[registries."{ALIAS}"]\naccount = "123456789012"\n', 1, "region is missing"),
    (f'\n[registries."{HOST}"]\nregion = "eu-west-1"\n', 3, "ECR hostname already"),
    ('[registries."*.example.com"]\naccount = "123456789012"\n', 2, "pattern"),
    (f'[registries."{HOST}"]\n\nexternal_id = "x1"\n', 3, "external_id"),
    (f'[registries."{HOST}"]\nrole_arn = "ecr-pull"\n', 2, "role_arn"),
    (f'[registries."{HOST}"]\nprofile = "a"\nfips = "yes"\n', 3, "fips"),
    (f'[registries."{ALIAS}"]\nprofile = "a"\n', 1, "not an Amazon ECR hostname"),
    ('[registries."https://x.example.com/"]\nprofile = "a"\n', 1, "bare hostname"),
    ('# comment\nprofile = "a"\n', 2, "unknown setting"),
    (f'[registries."{HOST}"]\nprofile = ""\n', 2, "non-empty string"),
    # The activity log's table.
    ('[log]\nlevel = "info"\n', 1, "needs path"),
    ('[log]\npath = "activity.log"\n', 2, "not an absolute path"),
    ('[log]\npath = "/x.log"\nlevel = "loud"\n', 3, "not a log level"),
    ('[log]\npath = "/x.log"\nmax_size = "huge"\n', 3, "max_size: 'huge' is not a size"),
    ('[log]\npath = "/x.log"\nmax_size = 10\n', 3, "at least 4KiB"),
    ('[log]\npath = "/x.log"\nmax_size = true\n', 3, "max_size"),
    ('[log]\npath = "/x.log"\nrotate = 2\n', 3, "log.rotate: unknown setting"),
    ('log = "/x.log"\n', 1, "must be a table"),
    ('[logs]\npath = "/x.log"\n', 1, "unknown setting"),
    # Deeper than tomllib can follow: a bad file, not a bug (no line to name).
    ("a = " + "[" * 60000, None, "nested too deeply"),
    ("a = " + "{b = " * 15000, None, "nested too deeply"),
    (f'[registries."{HOST}"]\nprofile = ' + "[" * 60000, None, "nested too deeply"),
]


@pytest.mark.parametrize(("text", "line", "named"), BAD_FILES)
def test_bad_config_is_one_line_naming_file_line_and_key(
    helper: Helper, ecr: StandIn, home: Path, text: str, line: int | None, named: str
) -> None:
    path = write_config(home, text)
    result = helper.get(HOST, env=with_config(helper, path))
    assert result.returncode == 1
    message = result.stdout.strip()
    assert len(message.splitlines()) == 1
    assert message.startswith(f"{path}:{line}: " if line else f"{path}: "), message
    assert named in message
    assert ecr.calls() == 0


def test_missing_explicit_config_file_is_an_error(helper: Helper, home: Path) -> None:
    result = helper.get(HOST, env=with_config(helper, home / "nope.toml"))
    assert result.returncode == 1
    assert "ECRPY_CONFIG" in result.stdout and "nope.toml" in result.stdout


def test_unreadable_config_is_an_error(helper: Helper, home: Path) -> None:
    result = helper.get(HOST, env=with_config(helper, home))  # a directory
    assert result.returncode == 1
    assert str(home) in result.stdout


def test_not_utf8_config_is_an_error(helper: Helper, home: Path) -> None:
    path = home / "ecrpy.toml"
    path.write_bytes(b'[registries."\xff"]\n')
    result = helper.get(HOST, env=with_config(helper, path))
    assert result.returncode == 1
    assert "UTF-8" in result.stdout


# -- the compiled copy that keeps tomllib off the hit path ---------------------------------


def test_hit_path_with_config_file_reads_the_compiled_copy(
    helper: Helper, ecr: StandIn, home: Path
) -> None:
    path = write_config(
        home,
        ALIAS_TEXT + '[registries."*.dkr.ecr.us-east-1.amazonaws.com"]\nsession_name = "x1"\n'
        f'role_arn = "{ROLE}"\n',
    )
    env = with_config(helper, path)
    helper.answer(ALIAS, env=env)  # a miss: parses the TOML, fills cache and compiled copy
    helper.answer(HOST, env=env)
    assert len(list(helper.cache_dir.glob("config-*.compiled"))) == 1
    quiet = {name: value for name, value in env.items() if not name.startswith("ECRPY_LOG")}
    for host in (ALIAS, HOST):
        modules = helper.imports(host, env=quiet)  # the log, when on, needs os
        for heavy in ("tomllib", "fnmatch", "re", "json", "typing", "botocore", "os", "site"):
            assert heavy not in modules, f"{heavy} imported on a cache hit with a config file"
    assert ecr.calls() == 2


def test_an_edit_takes_effect_at_once(helper: Helper, ecr: StandIn, home: Path) -> None:
    path = home / "ecrpy.toml"
    env = with_config(helper, path)
    for region, calls in (("eu-west-1", 1), ("eu-west-2", 2), ("eu-west-1", 2)):
        # Same size each time: only the file's times and contents tell the versions apart.
        path.write_text(f'[registries."{ALIAS}"]\naccount = "123456789012"\nregion = "{region}"\n')
        helper.answer(ALIAS, env=env)
        assert ecr.calls() == calls
    path.write_text(f'[registries."{ALIAS}"]\naccount = "123456789012"\nregoin = "eu-west-1"\n')
    assert "regoin" in helper.get(ALIAS, env=env).stdout


def compiled_copy(helper: Helper, env: dict[str, str]) -> Path:
    """The copy the helper keeps of the configuration file (an alias of 123456789012)."""
    helper.answer(ALIAS, env=env)  # creates the cache directory
    helper.answer(ALIAS, env=env)  # keeps the compiled copy there
    (compiled,) = helper.cache_dir.glob("config-*.compiled")
    return compiled


def plant(compiled: Path, data: bytes) -> None:
    """Put ``data`` where the copy is, as a private file of ours like the real one."""
    compiled.unlink(missing_ok=True)
    compiled.write_bytes(data)
    compiled.chmod(0o600)


def assert_ignored_and_rewritten(
    helper: Helper, ecr: StandIn, env: dict[str, str], compiled: Path, damaged: bytes
) -> None:
    """The get after the damage answered from the file itself (the alias's cached token:
    a copy that had been trusted would have sent it to another region, or nowhere), put
    a good copy in place of the damaged one, and the next hit reads that copy."""
    assert helper.answer(ALIAS, env=env)["Secret"] == ecr.password
    assert ecr.calls() == 1, "the damaged copy was used"
    assert compiled.is_file() and not compiled.is_symlink()
    assert compiled.stat().st_mode & 0o777 == 0o600
    assert compiled.read_bytes() != damaged
    assert "tomllib" not in helper.imports(ALIAS, env=env), "the new copy was not used"


@pytest.mark.parametrize("damage", ["content", "garbage"])
def test_a_tampered_compiled_copy_is_ignored_and_rewritten(
    helper: Helper, ecr: StandIn, home: Path, damage: str
) -> None:
    env = with_config(helper, write_config(home, ALIAS_TEXT))
    compiled = compiled_copy(helper, env)
    good = compiled.read_bytes()
    if damage == "content":
        # The alias pointed at another region (so another token), all else (whatever binds
        # the copy to the file included) kept as it was.
        damaged = good.replace(b"eu-west-1", b"eu-west-3")
        assert damaged != good
    else:
        damaged = os.urandom(len(good))
    plant(compiled, damaged)
    assert_ignored_and_rewritten(helper, ecr, env, compiled, damaged)


def acceptable_copy(path: Path) -> bytes:
    """A copy bound to the file's bytes that says what a file could: the alias pointed at
    another region. Only who can compute the digest makes one (and can write the file)."""
    other = tomllib.loads(ALIAS_TEXT.replace("eu-west-1", "eu-west-3"))
    return config_cache.encode(path.read_bytes(), marshal.dumps(other))


def test_a_bound_copy_that_the_checker_accepts_is_used(
    helper: Helper, ecr: StandIn, home: Path
) -> None:
    """The control for the tests below: a copy is read, and what it says counts, when it
    is bound to the file's bytes and says what a file could; so a copy trusted where it
    should not be would show there."""
    path = write_config(home, ALIAS_TEXT)
    env = with_config(helper, path)
    plant(compiled_copy(helper, env), acceptable_copy(path))
    helper.answer(ALIAS, env=env)
    assert ecr.calls() == 2


@pytest.mark.parametrize("oddity", ["other version", "loose mode", "symlink", "fifo"])
def test_an_odd_copy_is_ignored_and_rewritten(
    helper: Helper, ecr: StandIn, home: Path, oddity: str
) -> None:
    path = write_config(home, ALIAS_TEXT)
    env = with_config(helper, path)
    compiled = compiled_copy(helper, env)
    damaged = acceptable_copy(path)
    if oddity == "other version":
        damaged = damaged.replace(config_cache.MAGIC, b"ecrpy-config 1\n", 1)
    plant(compiled, damaged)
    if oddity == "loose mode":  # others could have written it
        compiled.chmod(0o644)
    elif oddity == "symlink":  # to a private file of ours: still not where the copy is
        target = home / "elsewhere.compiled"
        plant(target, damaged)
        compiled.unlink()
        compiled.symlink_to(target)
    elif oddity == "fifo":  # that nobody writes: reading it must not hang the get
        compiled.unlink()
        os.mkfifo(compiled, 0o600)
    assert_ignored_and_rewritten(helper, ecr, env, compiled, damaged)


FORGED: dict[str, object] = {
    "account of 3 digits": {"registries": {ALIAS: {"account": "999", "region": "eu-west-3"}}},
    "account a number": {"registries": {ALIAS: {"account": 999999999999, "region": "eu-west-3"}}},
    "account bytes": {"registries": {ALIAS: {"account": b"999999999999", "region": "eu-west-3"}}},
    "account code": {
        "registries": {ALIAS: {"account": compile("0", "x", "eval"), "region": "eu-west-3"}}
    },
    "unknown key": {
        "registries": {
            ALIAS: {"account": "999999999999", "region": "eu-west-3", "endpoint": "http://x"}
        }
    },
    "key not a string": {
        "registries": {ALIAS: {"account": "999999999999", "region": "eu-west-3", 1: "x"}}
    },
    "name not a string": {
        "registries": {(ALIAS,): {"account": "999999999999", "region": "eu-west-3"}}
    },
    "pattern alias": {
        "registries": {"*.example.com": {"account": "999999999999", "region": "eu-west-3"}}
    },
    "not a table": ["registries", ALIAS, "999999999999"],
    "not marshal data": None,
}


@pytest.mark.parametrize("forged", list(FORGED))
def test_a_forged_copy_is_checked_as_the_file_is(
    helper: Helper, ecr: StandIn, home: Path, forged: str
) -> None:
    """A copy bound to the file's bytes that says what no file could: the checker refuses
    it as it would refuse the file, and the file itself is read."""
    path = write_config(home, ALIAS_TEXT)
    env = with_config(helper, path)
    compiled = compiled_copy(helper, env)
    document = FORGED[forged]
    payload = b"\xff not marshal data" if document is None else marshal.dumps(document)
    damaged = config_cache.encode(path.read_bytes(), payload)
    plant(compiled, damaged)
    assert_ignored_and_rewritten(helper, ecr, env, compiled, damaged)
    kept = config_cache.read(str(helper.cache_dir), str(path), path.read_bytes())
    assert kept == tomllib.loads(ALIAS_TEXT)


def test_a_copy_made_for_other_contents_is_never_used(
    helper: Helper, ecr: StandIn, home: Path
) -> None:
    path = write_config(home, ALIAS_TEXT)
    env = with_config(helper, path)
    compiled = compiled_copy(helper, env)
    # Another version of the file, of the same size, pointing the alias elsewhere: a get
    # for an ECR hostname reads it (for its identities) and keeps a copy of it.
    path.write_text(ALIAS_TEXT.replace("eu-west-1", "eu-west-3"))
    helper.answer(HOST, env=env)
    assert ecr.calls() == 2
    other = compiled.read_bytes()
    path.write_text(ALIAS_TEXT)
    for _ in range(2):  # with the other version's copy, and with the one made anew
        helper.answer(ALIAS, env=env)
        assert ecr.calls() == 2, "the other version's copy was used"
        plant(compiled, other)
    helper.answer(ALIAS, env=env)
    assert ecr.calls() == 2


def test_no_compiled_copy_without_a_cache(helper: Helper, ecr: StandIn, home: Path) -> None:
    path = write_config(home, ALIAS_TEXT)
    env = with_config(helper, path, AWS_ECR_DISABLE_CACHE="1")
    helper.answer(ALIAS, env=env)
    assert not helper.cache_dir.exists() or not list(helper.cache_dir.iterdir())
