"""The start without ``site`` in every install layout pip makes, for real.

The installed ``docker-credential-ecrpy`` starts Python as ``-I -S`` and puts its own
install location on ``sys.path`` (``scripts/ecrpy-start``); the AWS worker of a miss runs
``site`` before it imports botocore (``docker_credential_ecrpy.sitepaths``). Each layout
here is a real ``pip install`` of a wheel of this checkout: a venv, pipx's venv with links
in another bin directory, ``--user`` into a throwaway HOME, ``--prefix``, ``--target``, and
Debian's own Python (``--root``: its ``dist-packages`` under ``/usr/local``, and the
``/usr/lib/python3/dist-packages`` layout of its packages, rearranged from that).

Two ``.pth`` files tell what ran. ``marker.pth`` beside the package records that ``site``
ran (or that the worker processed the install's own directory, where ``site`` does not
look); ``deps.pth`` is the only way the interpreter can find botocore (the test venv's),
so a miss that answers proves the worker ran ``site``. A hit and a not-found answer must
leave no record: they never ran ``site``, so they found the package by its own location,
not by a fallback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import botocore
import pytest

from docker_credential_ecrpy import __version__
from tests.support import install
from tests.support.constants import HOST
from tests.support.helper import Helper, base_env
from tests.support.install import BASE_PYTHON, VERSION, build_wheel, pip
from tests.support.standin import StandIn

pytestmark = pytest.mark.slow

PROGRAM = "docker-credential-ecrpy"
DEBIAN_PYTHON = Path("/usr/bin/python3")
# botocore and what it imports, as the test venv has them (not this package: a layout
# must find its own copy).
DEPENDENCIES = ("botocore", "dateutil", "jmespath", "six.py", "urllib3")


@pytest.fixture(scope="module")
def dependencies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the helper's dependencies and nothing else."""
    found = tmp_path_factory.mktemp("dependencies")
    packages = Path(botocore.__file__).resolve().parent.parent
    for name in DEPENDENCIES:
        (found / name).symlink_to(packages / name)
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


class Install:
    """One installation: where its executables are, and the site directory the
    interpreter processes at a normal start (where the two .pth files go)."""

    def __init__(self, bin_dir: Path, site_dir: Path, home: Path) -> None:
        self.bin_dir = bin_dir
        self.site_dir = site_dir
        self.marker = home / "site-ran"
        site_dir.mkdir(parents=True, exist_ok=True)
        record = f"import os; open({str(self.marker)!r}, 'a').close()\n"
        (site_dir / "marker.pth").write_text(record)

    def find_dependencies(self, directory: Path) -> None:
        """Make the helper's dependencies visible to ``site``, and only to it."""
        (self.site_dir / "deps.pth").write_text(f"{directory}\n")

    @property
    def exe(self) -> str:
        return str(self.bin_dir / PROGRAM)

    def site_ran(self) -> bool:
        """Whether ``site`` ran since the last look."""
        ran = self.marker.exists()
        self.marker.unlink(missing_ok=True)
        return ran


def user_site(home: Path, version: str = VERSION) -> Path:
    return home / ".local" / "lib" / version / "site-packages"


def venv(wheel: Path, home: Path) -> Install:
    bin_dir = install.venv(wheel, home / "venv")
    return Install(bin_dir, install.site_packages(home / "venv"), home)


def pipx(wheel: Path, home: Path) -> Install:
    """pipx's layout: a venv of its own, and links to its executables in ~/.local/bin."""
    installed = venv(wheel, home)
    links = home / ".local" / "bin"
    links.mkdir(parents=True)
    for name in (PROGRAM, "ecr-credential-provider-py", "ecrpy-start"):
        (links / name).symlink_to(installed.bin_dir / name)
    installed.bin_dir = links
    return installed


def link_alone(wheel: Path, home: Path) -> Install:
    """A link to the executable alone, in a directory without ecrpy-start."""
    installed = venv(wheel, home)
    links = home / "bin"
    links.mkdir()
    (links / PROGRAM).symlink_to(installed.bin_dir / PROGRAM)
    installed.bin_dir = links
    return installed


def user(wheel: Path, home: Path) -> Install:
    pip(BASE_PYTHON, "install", "--user", str(wheel), home=home)
    return Install(home / ".local" / "bin", user_site(home), home)


def prefix(wheel: Path, home: Path) -> Install:
    pip(BASE_PYTHON, "install", "--prefix", str(home / "prefix"), str(wheel))
    packages = home / "prefix" / "lib" / VERSION / "site-packages"
    return Install(home / "prefix" / "bin", packages, home)


def target(wheel: Path, home: Path) -> Install:
    pip(BASE_PYTHON, "install", "--target", str(home / "target"), str(wheel))
    return Install(home / "target" / "bin", home / "target", home)


def debian_version() -> str:
    if not DEBIAN_PYTHON.exists():
        pytest.skip(f"no {DEBIAN_PYTHON}")
    done = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import sys, sysconfig; print(sys.version_info[0], "
         "sys.version_info[1], sysconfig.get_default_scheme())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    major, minor, scheme = done.stdout.split()
    if scheme != "posix_local":
        pytest.skip(f"{DEBIAN_PYTHON} is not Debian's (default scheme {scheme})")
    return f"python{major}.{minor}"


def debian_local(wheel: Path, home: Path) -> Install:
    """Debian's pip as root: /usr/local/bin and /usr/local/lib/pythonX.Y/dist-packages."""
    version = debian_version()
    pip(DEBIAN_PYTHON, "install", "--root", str(home / "root"), str(wheel))
    local = home / "root" / "usr" / "local"
    return Install(local / "bin", local / "lib" / version / "dist-packages", home)


def debian_package(wheel: Path, home: Path) -> Install:
    """A Debian package's layout (/usr/bin, /usr/lib/python3/dist-packages), which pip does
    not make: the /usr/local install moved there."""
    installed = debian_local(wheel, home)
    usr = home / "root" / "usr"
    packages = usr / "lib" / "python3" / "dist-packages"
    packages.parent.mkdir(parents=True)
    (usr / "local" / "lib" / debian_version() / "dist-packages").rename(packages)
    (usr / "local" / "bin").rename(usr / "bin")
    installed.bin_dir = usr / "bin"
    installed.site_dir = packages
    return installed


LAYOUTS: dict[str, Callable[[Path, Path], Install]] = {
    "venv": venv,
    "pipx": pipx,
    "link-to-the-executable-alone": link_alone,
    "user": user,
    "prefix": prefix,
    "target": target,
    "debian-local": debian_local,
    "debian-package": debian_package,
}


@pytest.fixture(params=sorted(LAYOUTS))
def installed(request: pytest.FixtureRequest, wheel: Path, home: Path) -> Iterator[Install]:
    yield LAYOUTS[request.param](wheel, home)


def test_every_layout_answers_without_site_and_misses_with_it(
    installed: Install, home: Path, ecr: StandIn, dependencies: Path
) -> None:
    installed.find_dependencies(dependencies)
    helper = Helper(base_env(home, ecr), ecr.password)
    helper.exe = installed.exe
    assert helper.answer()["Secret"] == ecr.password  # a miss: botocore through deps.pth
    assert ecr.calls() == 1
    assert installed.site_ran(), "the AWS worker did not run site"
    assert helper.answer()["Secret"] == ecr.password  # a hit
    not_found = helper.get("registry.example.com")
    assert not_found.returncode == 1 and "credentials not found" in not_found.stdout
    assert ecr.calls() == 1
    assert not installed.site_ran(), "a hit or not-found answer ran site"


def test_the_kubelet_provider_starts_the_same_way(
    wheel: Path, home: Path, ecr: StandIn, dependencies: Path
) -> None:
    installed = pipx(wheel, home)
    installed.find_dependencies(dependencies)
    request = {
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": f"{HOST}/app:1",
    }
    for site_expected in (True, False):  # a miss, then a hit
        done = subprocess.run(
            [str(installed.bin_dir / "ecr-credential-provider-py")],
            input=json.dumps(request), capture_output=True, text=True,
            env=base_env(home, ecr), timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["auth"][HOST]["password"] == ecr.password
        assert installed.site_ran() == site_expected
    assert ecr.calls() == 1


def test_an_unknown_layout_falls_back_to_the_normal_start(
    wheel: Path, home: Path, ecr: StandIn, dependencies: Path
) -> None:
    """The executables moved away from the package: ecrpy-start cannot find it from its
    own place, and the interpreter's normal start (site) finds it through a .pth file."""
    installed = prefix(wheel, home)
    moved = home / "elsewhere" / "tools" / "bin"
    moved.parent.mkdir(parents=True)
    installed.bin_dir.rename(moved)
    installed.bin_dir = moved
    packages = installed.site_dir
    # Only the interpreter's normal start can find the package now: through its user site.
    installed.site_dir = user_site(home)
    installed.site_dir.mkdir(parents=True)
    (packages / "marker.pth").rename(installed.site_dir / "marker.pth")
    installed.find_dependencies(dependencies)
    (installed.site_dir / "package.pth").write_text(f"{packages}\n")
    helper = Helper(base_env(home, ecr), ecr.password)
    helper.exe = installed.exe
    assert helper.answer()["Secret"] == ecr.password
    assert helper.answer()["Secret"] == ecr.password
    assert ecr.calls() == 1
    assert installed.site_ran(), "the fallback did not start normally"


def test_no_package_anywhere_is_one_line(wheel: Path, home: Path) -> None:
    installed = prefix(wheel, home)
    shutil.rmtree(home / "prefix" / "lib")
    result = subprocess.run(
        [installed.exe, "get"], input=HOST, capture_output=True, text=True,
        env=base_env(home, None), timeout=60,
    )  # fmt: skip
    python = (installed.bin_dir / "ecrpy-start").read_text().split("\n", 1)[0].removeprefix("#!")
    message = f"{PROGRAM}: {python} cannot find docker_credential_ecrpy; reinstall {PROGRAM}\n"
    assert (result.returncode, result.stdout, result.stderr) == (1, message, message)


def test_a_missing_ecrpy_start_is_one_line(wheel: Path, home: Path) -> None:
    installed = venv(wheel, home)
    (installed.bin_dir / "ecrpy-start").unlink()
    result = subprocess.run(
        [installed.exe, "get"], input=HOST, capture_output=True, text=True,
        env=base_env(home, None), timeout=60,
    )  # fmt: skip
    message = f"{PROGRAM}: ecrpy-start is missing beside {installed.exe}; reinstall {PROGRAM}\n"
    assert (result.returncode, result.stdout, result.stderr) == (1, message, message)


def test_a_missing_interpreter_is_one_line(wheel: Path, home: Path) -> None:
    """The venv's interpreter is gone (the venv's python deleted, or the Python it linked
    to upgraded away): one line that names it and the fix, not the shell's exit 127."""
    installed = venv(wheel, home)
    python = (installed.bin_dir / "ecrpy-start").read_text().split("\n", 1)[0].removeprefix("#!")
    for name in ("python", "python3", VERSION):
        (installed.bin_dir / name).unlink(missing_ok=True)
    for exe in (installed.exe, str(installed.bin_dir / "ecr-credential-provider-py")):
        result = subprocess.run(
            [exe, "get"], input=HOST, capture_output=True, text=True,
            env=base_env(home, None), timeout=60,
        )  # fmt: skip
        name = Path(exe).name
        message = (
            f"{name}: cannot run {python}, the Python interpreter named in {installed.bin_dir}"
            "/ecrpy-start: it is gone (its venv deleted or Python upgraded?) or out of this "
            f"user's reach; reinstall {PROGRAM}\n"
        )
        assert (result.returncode, result.stdout, result.stderr) == (1, message, message)


def test_the_users_python_variables_change_nothing(
    helper: Helper, ecr: StandIn, tmp_path: Path
) -> None:
    """Docker passes its environment on to the helper: a PYTHONPATH with modules that
    shadow ours or botocore, a PYTHONHOME without a standard library, PYTHONINSPECT and
    PYTHONSTARTUP (which would make a normal start read stdin as a console) must not
    change what runs, on a miss or a hit."""
    marker = tmp_path / "shadow-ran"
    shadow = tmp_path / "shadow"
    for name in ("docker_credential_ecrpy", "botocore"):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text(
            f"open({str(marker)!r}, 'a').close()\nraise SystemExit('shadowed')\n"
        )
    startup = tmp_path / "startup.py"
    startup.write_text(f"open({str(marker)!r}, 'a').close()\n")
    env = {
        **helper.env,
        "PYTHONPATH": str(shadow),
        "PYTHONHOME": str(tmp_path / "no-python-here"),
        "PYTHONINSPECT": "1",
        "PYTHONSTARTUP": str(startup),
    }
    for _ in range(2):  # a miss, then a hit
        assert helper.answer(env=env)["Secret"] == ecr.password
    assert ecr.calls() == 1
    assert not marker.exists()


@pytest.mark.parametrize("where", ["PYTHONUSERBASE", "the default user site"])
def test_no_user_site_code_runs_on_a_miss(
    wheel: Path, home: Path, ecr: StandIn, dependencies: Path, where: str
) -> None:
    """The worker's ``site`` runs as an isolated start would: a ``usercustomize`` or a
    ``.pth`` file in a user site (which ``site`` finds through PYTHONUSERBASE, or in
    ~/.local) runs nothing, while the install's own directory still finds botocore."""
    installed = prefix(wheel, home)
    installed.find_dependencies(dependencies)
    env = base_env(home, ecr)
    if where == "PYTHONUSERBASE":
        env["PYTHONUSERBASE"] = str(home / "userbase")
        sitedir = home / "userbase" / "lib" / VERSION / "site-packages"
    else:
        sitedir = user_site(home)
    sitedir.mkdir(parents=True)
    marker = home / "user-code-ran"
    code = f"open({str(marker)!r}, 'a').close()"
    (sitedir / "user.pth").write_text(f"import os; {code}\n")
    (sitedir / "usercustomize.py").write_text(f"{code}\n")
    helper = Helper(env, ecr.password)
    helper.exe = installed.exe
    assert helper.answer()["Secret"] == ecr.password  # a miss: site ran, botocore found
    assert not marker.exists(), f"code in {where} ran"
    assert ecr.calls() == 1
    assert installed.site_ran()


def test_ecrpy_start_answers_help_and_version_as_what_it_is(wheel: Path, home: Path) -> None:
    """ecrpy-start lands beside the commands pip installs; run by a person it says what
    it is rather than a usage error of the helper's."""
    installed = venv(wheel, home)
    start = str(installed.bin_dir / "ecrpy-start")
    env = base_env(home, None)
    version = subprocess.run([start, "--version"], capture_output=True, text=True, env=env)
    assert (version.returncode, version.stdout) == (
        0,
        f"ecrpy-start ({PROGRAM} {__version__})\n",
    )
    shown = subprocess.run([start, "--help"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0
    assert shown.stdout.startswith("Usage: ecrpy-start PROGRAM [ARGS...]\n")
    assert "Run those commands, not this one." in shown.stdout
    bare = subprocess.run([start], capture_output=True, text=True, env=env)
    assert (bare.returncode, bare.stdout) == (1, shown.stdout)
