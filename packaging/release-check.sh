#!/usr/bin/env bash
# Check the release in dist/ as its users get it; `make release-check` runs this.
#
#   packaging/release-check.sh RELEASE_PYTHON TEST_PYTHON
#
# RELEASE_PYTHON is the release venv's interpreter (twine), TEST_PYTHON the test venv's
# (the ECR stand-in and pytest). Installing the .debs needs root: they go into /usr with
# apt and are purged again; the file lists of /usr, /etc and /opt before and after must
# be the same. Transcripts go to build/release-check/ and to stdout.
set -euo pipefail

release_python=$(realpath -s "${1:?usage: packaging/release-check.sh RELEASE_PYTHON TEST_PYTHON}")
test_python=$(realpath -s "${2:?usage: packaging/release-check.sh RELEASE_PYTHON TEST_PYTHON}")
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
name=docker-credential-ecrpy
work=$root/build/release-check
version=$("$release_python" -c 'import sys; sys.path.insert(0, "."); import docker_credential_ecrpy as m; print(m.__version__)')
sdist=docker_credential_ecrpy-$version.tar.gz
wheel=docker_credential_ecrpy-$version-py3-none-any.whl
debs=("${name}_${version}_$(dpkg --print-architecture).deb" "${name}_${version}_all.deb")
rm -rf "$work"
mkdir -p "$work"

step() { printf '\n== %s\n' "$*"; }
# The stand-in's get, as Docker asks it, through each executable given.
check_get() { PYTHONPATH=$root "$test_python" "$root/packaging/check_get.py" "$@"; }

step "checksums"
(cd dist && sha256sum -c SHA256SUMS)

step "twine check"
"$release_python" -m twine check --strict "dist/$wheel" "dist/$sdist"

# A fresh venv of the system's python3 (Debian's, on Debian) with the artifact installed
# from the index's dependencies; it answers --version and a get.
fresh_venv() {
    local venv=$work/$1 artifact=$2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$artifact"
    "$venv/bin/$name" --version | tee "$work/$1.version"
    grep -qx "$name $version" "$work/$1.version"
    check_get "$venv/bin/$name"
}
step "the wheel in a fresh venv"
fresh_venv wheel-venv "dist/$wheel"
step "the sdist in a fresh venv"
fresh_venv sdist-venv "dist/$sdist"

step "the sdist's contents and its own tests"
tar -xzf "dist/$sdist" -C "$work"
src=$work/docker_credential_ecrpy-$version
for file in LICENSE CHANGELOG.md README.md setup.cfg pyproject.toml MANIFEST.in \
    tests/__init__.py tests/conftest.py tests/support/__init__.py tests/support/standin.py \
    tests/support/constants.py tests/support/helper.py tests/support/toolkit.py \
    tests/unit/__init__.py tests/unit/test_policy.py tests/executable/__init__.py \
    tests/executable/test_weather.py docs/kubelet.md docs/configuration.md \
    packaging/manpage.py; do
    [ -f "$src/$file" ] || { echo "the sdist lacks $file" >&2; exit 1; }
done
grep -q "License-File: LICENSE" "$src/PKG-INFO"
echo "the sdist carries LICENSE, CHANGELOG.md, docs/, tests/ with conftest, support/, each layer"
# The tests that run in this process (tests/unit, every module's; no stand-in), and the
# release's and the man pages' (which asks the installed --help), from the unpacked sdist,
# with its [dev] tools installed beside its package.
"$work/sdist-venv/bin/pip" install --quiet --disable-pip-version-check "dist/$sdist[dev]"
(cd "$src" && "$work/sdist-venv/bin/python" -m pytest -q -p no:cacheprovider -m "not e2e" \
    tests/unit tests/executable/test_release.py tests/executable/test_manpage.py)

step "lintian"
# Each .deb on its own (both are docker-credential-ecrpy), every tag shown; no error allowed.
for deb in "${debs[@]}"; do
    echo "\$ lintian $deb"
    lintian --fail-on error --tag-display-limit 0 "dist/$deb" 2>&1 |
        grep -v '^running with root privileges' | tee -a "$work/lintian.txt" || true
    lintian --fail-on error "dist/$deb" >/dev/null 2>&1 || {
        echo "lintian reports an error in $deb (above)" >&2
        exit 1
    }
    echo "(no error)"
done

if [ "$(id -u)" != 0 ]; then
    echo "release-check.sh: installing the .debs with apt needs root" >&2
    exit 1
fi
# Each .deb: installed with apt, used as Docker uses it, its man page read, then purged
# with what it pulled in; nothing may be left in /usr, /etc or /opt.
listing() { find /usr /etc /opt -xdev 2>/dev/null | LC_ALL=C sort; }
for deb in "${debs[@]}"; do
    step "install, use and purge $deb"
    log=$work/${deb%.deb}.transcript
    listing >"$work/before"
    {
        echo "# apt-get install ./dist/$deb"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./dist/$deb" 2>&1
        echo "# dpkg -L $name: what is on PATH and in the manual, and how many files in all"
        dpkg -L "$name" | grep -E '^/usr/(bin|share/man/man1)/.' || true
        echo "$(dpkg -L "$name" | wc -l) paths, all under /usr/lib/$name, /usr/bin, /usr/share, the timer's units and /etc/default/$name"
        if dpkg -L "$name" |
            grep -vE "^/(\.|etc|etc/default|usr|usr/(bin|lib|share)|usr/lib/systemd(/system|/user)?|usr/share/(doc|man|man/man1|lintian|lintian/overrides))$" |
            grep -vE "^/usr/(bin/[^/]+|lib/$name(/.*)?|lib/systemd/(system|user)/$name-warm\.(service|timer)|share/doc/$name(/.*)?|share/man/man1/[^/]+|share/lintian/overrides/$name)$" |
            grep -vxF "/etc/default/$name"; then
            echo "the paths above are outside the package's own places" >&2
            exit 1
        fi
        echo "# command -v $name ecr-credential-provider-py ecrpy-start"
        command -v "$name" ecr-credential-provider-py ecrpy-start || true
        echo "# $name --version"
        "$name" --version
        echo "# the get Docker runs"
        check_get "$(command -v "$name")"
        echo "# man $name | head"
        MANWIDTH=80 man -P cat "$name" 2>&1 | head -12
        MANWIDTH=80 man -P cat ecr-credential-provider-py >/dev/null
        if command -v systemd-analyze >/dev/null; then
            echo "# systemd-analyze verify: the warm timer and its service as installed"
            systemd-analyze verify /usr/lib/systemd/system/"$name"-warm.{timer,service} 2>&1
            echo "verified"
        fi
        echo "# apt-get purge --autoremove $name"
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q --autoremove "$name" 2>&1
    } | tee "$log"
    grep -q "^$name $version" "$log"
    grep -q "^NAME" "$log" || { echo "man $name shows no page" >&2; exit 1; }
    if command -v ecrpy-start >/dev/null; then
        echo "ecrpy-start is on PATH" >&2
        exit 1
    fi
    listing >"$work/after"
    if ! diff "$work/before" "$work/after" >"$work/left-behind"; then
        echo "the purge of $deb left the system changed:" >&2
        cat "$work/left-behind" >&2
        exit 1
    fi
    echo "purged: /usr, /etc and /opt list the same files as before the install"
done

step "release $version checked: ${debs[*]}, $wheel, $sdist"
