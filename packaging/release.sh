#!/usr/bin/env bash
# Everything a release publishes, into dist/; `make release` runs this.
#
#   packaging/release.sh RELEASE_PYTHON BUILD_PYTHON
#
# RELEASE_PYTHON is the release venv's interpreter (packaging/requirements-release.txt:
# build, setuptools, wheel, cyclonedx-bom), BUILD_PYTHON the binary's build venv's. Results:
#   docker_credential_ecrpy-<version>-py3-none-any.whl    the wheel
#   docker_credential_ecrpy-<version>.tar.gz              the sdist
#   docker-credential-ecrpy-<version>-linux-<arch>.tar.gz the standalone binary (build.sh)
#   docker-credential-ecrpy_<version>_<debian-arch>.deb   its .deb (build.sh)
#   docker-credential-ecrpy_<version>_all.deb             the .deb on Debian's python3 (build-all.sh)
#   docker-credential-ecrpy-<version>-linux-<arch>.cdx.json  the binary's SBOM (bundle.py)
#   SHA256SUMS                                            of all of the above
# The version must have a section in CHANGELOG.md. SOURCE_DATE_EPOCH is the commit's time:
# one commit gives byte-identical wheel, sdist and _all.deb (and binary archives, from
# the same build venv).
set -euo pipefail

release_python=$(realpath -s "${1:?usage: packaging/release.sh RELEASE_PYTHON BUILD_PYTHON}")
build_python=$(realpath -s "${2:?usage: packaging/release.sh RELEASE_PYTHON BUILD_PYTHON}")
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
name=docker-credential-ecrpy
work=build/release

for tool in objdump dpkg-deb tar gzip git; do
    command -v "$tool" >/dev/null || { echo "release.sh: $tool is required" >&2; exit 1; }
done
version=$("$release_python" -c 'import sys; sys.path.insert(0, "."); import docker_credential_ecrpy as m; print(m.__version__)')
"$release_python" packaging/changelog.py check "$version"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || {
    echo "release.sh: a release is built from a git checkout" >&2
    exit 1
}
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct)}"
export SOURCE_DATE_EPOCH
export PYTHONHASHSEED=0
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "release.sh: warning: tracked files differ from HEAD; this is no release of a commit" >&2
fi

rm -rf "$work" dist
mkdir -p "$work/src" "$work/out" dist

# The sdist and the wheel (from the sdist, as an installer would), from the tracked files
# only, with fixed times; built without isolation, so the release venv's pins are the
# backend. The sdist is then re-packed the way every other archive here is (setuptools
# stamps the time into its gzip header).
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$work/src"
find "$work/src" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$work/src" && "$release_python" -m build --no-isolation --outdir "$root/$work/out" . >/dev/null)
sdist=docker_credential_ecrpy-$version.tar.gz
wheel=docker_credential_ecrpy-$version-py3-none-any.whl
mkdir "$work/sdist"
tar -xzf "$work/out/$sdist" -C "$work/sdist"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$work/sdist" -cf - "docker_credential_ecrpy-$version" | gzip -n -9 >"dist/$sdist"
cp "$work/out/$wheel" "dist/$wheel"

# The standalone binary, its archive and its .deb; the .deb on Debian's python3.
packaging/build.sh "$build_python"
packaging/build-all.sh "$build_python" "dist/$wheel"

# The SBOM of what the binary bundles.
bundle=$name-$version-linux-$(uname -m)
"$build_python" packaging/bundle.py sbom "dist/$bundle" "$(dirname "$release_python")/cyclonedx-py" \
    "$version" "dist/$bundle.cdx.json"

(cd dist && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort |
    xargs sha256sum >SHA256SUMS)
echo "release $version in dist/:"
(cd dist && ls -l --time-style=+ $(cut -d' ' -f3 SHA256SUMS) SHA256SUMS)
