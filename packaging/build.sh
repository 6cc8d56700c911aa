#!/usr/bin/env bash
# Build the standalone binary and its two downloads; `make binary` runs this.
#
#   packaging/build.sh PYTHON
#
# PYTHON is the build venv's interpreter (the Makefile makes .venv-build from
# packaging/requirements-build.txt). Results, all under dist/:
#   docker-credential-ecrpy-<version>-linux-<arch>/          the unpacked download
#   docker-credential-ecrpy-<version>-linux-<arch>.tar.gz    the same directory, archived
#   docker-credential-ecrpy_<version>_<debian-arch>.deb      /usr/lib/docker-credential-ecrpy
#                                                             + /usr/bin/docker-credential-ecrpy
#                                                             + /usr/bin/ecr-credential-provider-py
#                                                             + man pages, docs, licenses
# Reproducible: the same checkout and build venv give byte-identical archives (fixed
# PYTHONHASHSEED, SOURCE_DATE_EPOCH from the last commit, sorted archives with fixed owners
# and times, gzip without a name or time stamp).
set -euo pipefail

python=${1:?usage: packaging/build.sh PYTHON}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
name=docker-credential-ecrpy
work=build/binary

for tool in objdump dpkg-deb tar gzip; do
    command -v "$tool" >/dev/null || { echo "build.sh: $tool is required" >&2; exit 1; }
done

version=$("$python" -c 'import sys; sys.path.insert(0, "."); import docker_credential_ecrpy as m; print(m.__version__)')
arch=$(uname -m)
deb_arch=$(dpkg --print-architecture)

# The git revision, when building from a checkout; "-dirty" if tracked files differ from it.
revision=""
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    revision=$(git rev-parse --short=12 HEAD)
    if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
        revision="$revision-dirty"
    fi
    : "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct)}"
fi
: "${SOURCE_DATE_EPOCH:=$(stat -c %Y docker_credential_ecrpy/__init__.py)}"
export SOURCE_DATE_EPOCH
export PYTHONHASHSEED=0

rm -rf "$work"
mkdir -p "$work" dist
cat >"$work/_build_info.py" <<EOF
"""What this binary was built from; written by packaging/build.sh, never committed."""

REVISION = "$revision"
EOF

ECRPY_BUILD_INFO="$root/$work/_build_info.py" "$python" -m PyInstaller \
    --noconfirm --log-level WARN \
    --distpath "$work/dist" --workpath "$work/pyinstaller" \
    packaging/$name.spec

# The download directory: the onedir bundle plus the install note.
release=$name-$version-linux-$arch
out=dist/$release
rm -rf "$out" "$out.tar.gz" "dist/${name}_${version}_${deb_arch}.deb"
cp -a "$work/dist/$name" "$out"
sed -e "s/@RELEASE@/$release/g" -e "s/@NAME@/$name/g" packaging/INSTALL.in >"$out/INSTALL"
chmod -R u+rwX,go+rX,go-w "$out"

# A smoke test before anything is archived: the binary starts and knows its version.
"$out/$name" --version | grep -q "^$name $version" || {
    echo "build.sh: $out/$name --version does not report $version" >&2
    exit 1
}

normalise_times() {
    find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

normalise_times "$out"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --format=gnu -C dist -cf - "$release" | gzip -n -9 >"$out.tar.gz"

# The .deb: the bundle in /usr/lib/$name, links on PATH. The only system library the
# bundle does not carry is glibc (PyInstaller copies the others), so that is the one
# dependency, at the newest symbol version any bundled ELF file asks for.
glibc=$(find "$out" -type f \( -name "$name" -o -name '*.so*' \) -exec objdump -T {} + 2>/dev/null |
    grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
deb=$work/deb
lib=$deb/usr/lib/$name
mkdir -p "$deb/DEBIAN" "$deb/usr/lib" "$deb/usr/bin" "$deb/usr/share/lintian/overrides"
cp -a "$out" "$lib"
rm "$lib/INSTALL"
# Libraries are loaded, never run: not executable (the bundle's own copy keeps its modes).
find "$lib/_internal" -type f -name '*.so*' -exec chmod 0644 {} +
ln -s "../lib/$name/$name" "$deb/usr/bin/$name"
# Run under this name, the binary is kubelet's image credential provider (see entry.py).
ln -s "../lib/$name/$name" "$deb/usr/bin/ecr-credential-provider-py"
cp packaging/debian/lintian-overrides-standalone "$deb/usr/share/lintian/overrides/$name"
# shellcheck source=packaging/debian.sh
. packaging/debian.sh
deb_docs "$deb" "$python" "$version" packaging/debian/copyright packaging/debian/copyright-standalone
deb_units "$deb"
"$python" packaging/bundle.py licenses "$out" "$deb/usr/share/doc/$name/bundled"
cat >"$deb/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: $deb_arch
Maintainer: $DEB_MAINTAINER
Installed-Size: $(deb_size "$deb")
Depends: libc6 (>= $glibc)
Section: admin
Priority: optional
Homepage: $DEB_HOMEPAGE
Description: Docker credential helper for Amazon ECR (standalone build)
 Gives Docker, podman, skopeo and buildah registry credentials for Amazon ECR
 and ECR Public from the standard AWS credential chain, with fast cache hits.
 This package carries its own Python runtime, in /usr/lib.
EOF
deb_build "$deb" "dist/${name}_${version}_${deb_arch}.deb"

echo "built $name $version${revision:+ (git $revision)} for linux-$arch:"
ls -l "$out.tar.gz" "dist/${name}_${version}_${deb_arch}.deb"
echo "executable: $out/$name ($(du -sh "$out" | cut -f1) on disk)"
