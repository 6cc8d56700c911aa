#!/usr/bin/env bash
# The architecture-independent .deb: the package on Debian's own python3, for any Debian
# or Ubuntu architecture (amd64, arm64, ...); `make release` runs this.
#
#   packaging/build-all.sh PYTHON WHEEL
#
# PYTHON is the build venv's interpreter (for pip and the man pages), WHEEL the release's
# wheel of this package. Result: dist/docker-credential-ecrpy_<version>_all.deb with
#   /usr/lib/docker-credential-ecrpy/               the package, and botocore and
#                                                   platformdirs where Debian 12's are too old
#   /usr/lib/docker-credential-ecrpy/bin/           the executables and ecrpy-start (off PATH)
#   /usr/bin/docker-credential-ecrpy, /usr/bin/ecr-credential-provider-py   links to them
# The executables start /usr/bin/python3 -I -S with /usr/lib/docker-credential-ecrpy on
# sys.path (scripts/docker-credential-ecrpy's --target layout); a miss's AWS worker runs
# site, which adds Debian's dist-packages for the rest of botocore's dependencies.
# Reproducible: the same wheel and pins give a byte-identical package.
set -euo pipefail

python=${1:?usage: packaging/build-all.sh PYTHON WHEEL}
wheel=$(realpath "${2:?usage: packaging/build-all.sh PYTHON WHEEL}")
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
name=docker-credential-ecrpy
work=build/all-deb
: "${SOURCE_DATE_EPOCH:?build-all.sh: SOURCE_DATE_EPOCH must be set}"
export SOURCE_DATE_EPOCH

version=$("$python" -c 'import sys; sys.path.insert(0, "."); import docker_credential_ecrpy as m; print(m.__version__)')
rm -rf "$work"
deb=$work/root
lib=$deb/usr/lib/$name
mkdir -p "$deb/DEBIAN" "$lib/bin" "$deb/usr/bin" "$work/wheel"

# The package from the wheel, its scripts in bin/ on Debian's python3. Nothing compiled:
# the postinst compiles for whichever python3 the system has, and the prerm removes it.
"$python" -m zipfile -e "$wheel" "$work/wheel"
cp -r "$work/wheel/docker_credential_ecrpy" "$lib/"
for script in "$work/wheel/docker_credential_ecrpy-$version.data/scripts"/*; do
    sed '1s|^#!python$|#!/usr/bin/python3|' "$script" >"$lib/bin/${script##*/}"
    chmod 0755 "$lib/bin/${script##*/}"
done
grep -q '^#!/usr/bin/python3$' "$lib/bin/ecrpy-start" || {
    echo "build-all.sh: ecrpy-start in the wheel does not start with #!python" >&2
    exit 1
}

# Carried, pure Python as they are: Debian 12 has botocore 1.29 and platformdirs 2.6, the
# package needs botocore >= 1.34 and platformdirs >= 3. The versions are the binary's
# (requirements-build.txt), so both builds run the same code.
grep -E '^(botocore|platformdirs)==' packaging/requirements-build.txt >"$work/carried.txt"
"$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$work/carried" \
    -r "$work/carried.txt"
for carried in "$work/carried"/*.whl; do
    "$python" -m zipfile -e "$carried" "$lib"
done
find "$lib" -name '__pycache__' -prune -exec rm -rf {} +

ln -s "../lib/$name/bin/$name" "$deb/usr/bin/$name"
ln -s "../lib/$name/bin/ecr-credential-provider-py" "$deb/usr/bin/ecr-credential-provider-py"

# shellcheck source=packaging/debian.sh
. packaging/debian.sh
deb_docs "$deb" "$python" "$version" packaging/debian/copyright
deb_units "$deb"
cp packaging/debian/postinst packaging/debian/prerm "$deb/DEBIAN/"
chmod 0755 "$deb/DEBIAN/postinst" "$deb/DEBIAN/prerm"
cat >"$deb/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: all
Maintainer: $DEB_MAINTAINER
Installed-Size: $(deb_size "$deb")
Depends: python3 (>= 3.11), python3-certifi, python3-dateutil, python3-jmespath, python3-urllib3
Section: admin
Priority: optional
Homepage: $DEB_HOMEPAGE
Description: Docker credential helper for Amazon ECR
 Gives Docker, podman, skopeo and buildah registry credentials for Amazon ECR
 and ECR Public from the standard AWS credential chain, with fast cache hits.
 It runs on the system's python3 and carries botocore and platformdirs in
 /usr/lib/$name.
CONTROL
deb_build "$deb" "dist/${name}_${version}_all.deb"
ls -l "dist/${name}_${version}_all.deb"
