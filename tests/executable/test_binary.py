"""What only the standalone (PyInstaller) binary can get wrong: its bundled data.

The other suites run against the binary too (``make test-binary`` sets ECRPY_TEST_EXE), so
protocol, cache and fault behaviour are covered there. These tests check what freezing
can break: TLS with a custom CA (``AWS_CA_BUNDLE``) and with the CA bundle the binary
carries (certifi's), the version and git revision baked in at build time, running
through a symlink on PATH, and the two downloads (.tar.gz and .deb).

They build nothing: without ECRPY_TEST_EXE pointing at a PyInstaller build they skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import docker_credential_ecrpy
from tests.support.constants import ENDPOINT_VARIABLES, HOST, TESTS
from tests.support.helper import Helper, base_env
from tests.support.pki import CertificateAuthority
from tests.support.standin import StandIn

NAME = "docker-credential-ecrpy"


def pyinstaller_build() -> Path | None:
    """The binary under test, if ECRPY_TEST_EXE names a PyInstaller onedir build."""
    chosen = os.environ.get("ECRPY_TEST_EXE")
    if not chosen:
        return None
    exe = Path(chosen).resolve()
    return exe if (exe.parent / "_internal").is_dir() else None


EXE = pyinstaller_build()
pytestmark = pytest.mark.skipif(
    EXE is None,
    reason="only meaningful for the PyInstaller binary: run `make test-binary`, or set "
    "ECRPY_TEST_EXE=dist/docker-credential-ecrpy-<version>-linux-<arch>/docker-credential-ecrpy",
)


@pytest.fixture(scope="module")
def tls_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """The API stand-in served over HTTPS with a certificate from a throwaway CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificates")
    ca = CertificateAuthority(tmp_path_factory.mktemp("tls"))
    cert, key = ca.issue("127.0.0.1", "localhost")
    password = "ecrpy-tls-test-secret-0d5e"
    server_args = ("--cert", str(cert), "--key", str(key))
    with StandIn.start(*server_args, cafile=ca.cert, password=password) as server:
        assert server.url.startswith("https://127.0.0.1:")
        yield server


@pytest.fixture
def tls_helper(home: Path, tls_standin: StandIn) -> Helper:
    """The binary wired to the HTTPS stand-in, with no CA bundle configured yet."""
    tls_standin.reset()
    assert tls_standin.password is not None
    env = base_env(home, None)
    for name in ENDPOINT_VARIABLES:
        env[name] = tls_standin.url
    helper = Helper(env, tls_standin.password)
    assert EXE is not None
    helper.exe = str(EXE)
    return helper


def test_miss_over_tls_with_custom_ca_bundle(tls_helper: Helper, tls_standin: StandIn) -> None:
    env = {**tls_helper.env, "AWS_CA_BUNDLE": str(tls_standin.cafile)}
    answer = tls_helper.answer(env=env)
    assert answer["ServerURL"] == HOST
    assert answer["Username"] == "AWS"
    assert answer["Secret"] == tls_standin.password, "the token is not the stand-in's"
    assert tls_standin.calls() == 1


def test_bundled_ca_is_used_and_rejects_unknown_ca(
    tls_helper: Helper, tls_standin: StandIn
) -> None:
    """Without AWS_CA_BUNDLE botocore verifies against the bundled certifi CAs, which do
    not include the test CA: the TLS error line, not a missing-bundle crash."""
    assert EXE is not None
    assert (EXE.parent / "_internal" / "certifi" / "cacert.pem").is_file()
    assert "AWS_CA_BUNDLE" not in tls_helper.env
    assert "REQUESTS_CA_BUNDLE" not in tls_helper.env
    result = tls_helper.get()
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"expected one line on stdout, got {result.stdout!r}"
    assert "TLS" in lines[0]
    assert "AWS_CA_BUNDLE" in lines[0]
    assert tls_standin.url in lines[0]
    assert tls_standin.calls() == 0, "a request got through without a trusted certificate"


def test_version_reports_package_version_and_git_revision() -> None:
    assert EXE is not None
    result = subprocess.run([str(EXE), "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout.startswith(f"{NAME} {docker_credential_ecrpy.__version__}")
    checkout = TESTS.parent
    inside = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
    )
    if inside.returncode != 0:
        pytest.skip("not a git checkout: the binary was built without a revision to report")
    match = re.fullmatch(rf"{NAME} (\S+) \(git ([0-9a-f]{{12}})(-dirty)?\)\n", result.stdout)
    assert match, f"no git revision in the version line: {result.stdout!r}"
    assert match[1] == docker_credential_ecrpy.__version__
    known = subprocess.run(
        ["git", "-C", str(checkout), "cat-file", "-e", f"{match[2]}^{{commit}}"],
        capture_output=True,
    )
    assert known.returncode == 0, f"revision {match[2]} is not a commit of this checkout"


def test_runs_through_a_symlink_on_path(tmp_path: Path) -> None:
    """As INSTALL says and the .deb does: the directory elsewhere, a link on PATH."""
    assert EXE is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / NAME).symlink_to(EXE)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    result = subprocess.run(
        [NAME, "version"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{NAME} {docker_credential_ecrpy.__version__}")


@pytest.mark.parametrize("users_path", [None, "/opt/users-own-libs"])
def test_child_processes_get_the_users_environment(
    home: Path, helper: Helper, users_path: str | None
) -> None:
    """The bootloader points LD_LIBRARY_PATH at the bundle; a credential_process (somebody
    else's program) must see the user's value, or none, and no PyInstaller variables."""
    dump = home / "child-environment"
    script = home / "credentials.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"env > '{dump}'\n"
        'echo \'{"Version": 1, "AccessKeyId": "AKIDEXAMPLEPROCKEY01", '
        '"SecretAccessKey": "process-secret-not-real"}\'\n'
    )
    script.chmod(0o755)
    (home / ".aws" / "config").write_text(f"[profile proc]\ncredential_process = {script}\n")
    env = {k: v for k, v in helper.env.items() if not k.startswith("AWS_ACCESS_KEY_ID")}
    env.pop("AWS_SECRET_ACCESS_KEY")
    env["AWS_PROFILE"] = "proc"
    if users_path:
        env["LD_LIBRARY_PATH"] = users_path
    answer = helper.answer(env=env)
    assert answer["Secret"] == helper.secret
    child = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert child.get("LD_LIBRARY_PATH") == users_path
    leaked = sorted(name for name in child if name.startswith("_PYI_") or name.endswith("_ORIG"))
    assert not leaked, f"PyInstaller's variables reached a child process: {leaked}"


def test_link_named_kubelet_provider_answers_kubelet(tmp_path: Path, helper: Helper) -> None:
    """Run as ``ecr-credential-provider-py`` (as the .deb links it), the binary is kubelet's
    credential provider, like the script of that name the package installs."""
    assert EXE is not None
    link = tmp_path / "ecr-credential-provider-py"
    link.symlink_to(EXE)
    document = {
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": f"{HOST}/app:1",
    }
    result = subprocess.run(
        [str(link)], input=json.dumps(document), capture_output=True, text=True,
        env=helper.env, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr
    assert helper.secret not in result.stderr, "the token leaked to stderr"
    assert result.returncode == 0, result.stdout
    answer = json.loads(result.stdout)
    assert answer["kind"] == "CredentialProviderResponse"
    assert answer["auth"][HOST]["password"] == helper.secret, "not the stand-in's token"


def test_archive_unpacks_to_directory_with_executable_and_install_note() -> None:
    assert EXE is not None
    archive = EXE.parent.with_name(EXE.parent.name + ".tar.gz")
    if not archive.is_file():
        pytest.skip(f"no archive next to the binary ({archive.name})")
    with tarfile.open(archive) as tar:
        members = {member.name: member for member in tar.getmembers()}
    top = EXE.parent.name
    assert {name.split("/")[0] for name in members} == {top}
    executable = members[f"{top}/{NAME}"]
    assert executable.isfile() and executable.mode & 0o111
    assert members[f"{top}/INSTALL"].isfile()
    assert f"{top}/_internal/certifi/cacert.pem" in members
    assert f"{top}/_internal/botocore/data/endpoints.json" in members
    assert all(member.uid == 0 and member.gid == 0 for member in members.values())


def test_deb_installs_under_usr_lib_with_links_docs_and_man_pages() -> None:
    assert EXE is not None
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    version = docker_credential_ecrpy.__version__
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    deb = EXE.parent.parent / f"{NAME}_{version}_{arch}.deb"
    if not deb.is_file():
        pytest.skip(f"no .deb next to the binary ({deb.name})")

    def field(name: str) -> str:
        return subprocess.run(
            ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, check=True
        ).stdout.strip()

    assert field("Package") == NAME
    assert field("Version") == version
    assert field("Architecture") == arch
    assert re.fullmatch(r"libc6 \(>= 2\.\d+\)", field("Depends"))
    assert field("Description")
    assert ".invalid" not in field("Maintainer")
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    # Debian keeps /opt for the local administrator: the bundle lives in /usr/lib.
    assert re.search(rf"^-rwxr-xr-x root/root .* \./usr/lib/{NAME}/{NAME}$", listing, re.M)
    for link in (NAME, "ecr-credential-provider-py"):
        assert re.search(
            rf"^lrwxrwxrwx root/root .* \./usr/bin/{link} -> \.\./lib/{NAME}/{NAME}$",
            listing,
            re.M,
        ), f"no /usr/bin/{link} link"
    assert f"./usr/lib/{NAME}/_internal/certifi/cacert.pem" in listing
    assert "./opt/" not in listing
    # What lintian asks of every package, and the man pages made from --help.
    for path in (
        f"./usr/share/doc/{NAME}/copyright",
        f"./usr/share/doc/{NAME}/changelog.Debian.gz",
        f"./usr/share/man/man1/{NAME}.1.gz",
        "./usr/share/man/man1/ecr-credential-provider-py.1.gz",
        # The warm timer, installed disabled, and its settings.
        f"./usr/lib/systemd/system/{NAME}-warm.service",
        f"./usr/lib/systemd/system/{NAME}-warm.timer",
        f"./usr/lib/systemd/user/{NAME}-warm.service",
        f"./usr/lib/systemd/user/{NAME}-warm.timer",
        f"./etc/default/{NAME}",
    ):
        assert re.search(rf"^-rw-r--r-- root/root .* {re.escape(path)}$", listing, re.M), path
    # Libraries are loaded, never run.
    assert not re.search(r"^-rwx.* \./usr/lib/.*\.so[.0-9]*$", listing, re.M)
