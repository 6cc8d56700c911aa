# What every .deb of docker-credential-ecrpy carries besides the program, for build.sh
# (the standalone .deb) and build-all.sh (the _all.deb); sourced, with $name, $work and
# SOURCE_DATE_EPOCH set. See packaging/README.md.

DEB_MAINTAINER=${DEB_MAINTAINER:-"docker-credential-ecrpy maintainers <maintainers@users.noreply.github.com>"}
DEB_HOMEPAGE=https://github.com/docker-credential-ecrpy/docker-credential-ecrpy

# deb_docs ROOT PYTHON VERSION COPYRIGHT...: /usr/share/doc/$name (the copyright, made of
# the COPYRIGHT files in order; the changelog and Debian's changelog from CHANGELOG.md;
# the README and docs/, which --help points at) and the man pages, made from the help
# text by PYTHON (an interpreter that can import the package's dependencies).
deb_docs() {
    local root=$1 python=$2 version=$3
    shift 3
    local doc=$root/usr/share/doc/$name man=$root/usr/share/man/man1
    mkdir -p "$doc/docs" "$man" "$work/man"
    cat "$@" >"$doc/copyright"
    "$python" packaging/changelog.py debian "$version" "$DEB_MAINTAINER" |
        gzip -n -9 >"$doc/changelog.Debian.gz"
    gzip -n -9 <CHANGELOG.md >"$doc/changelog.gz"
    gzip -n -9 <README.md >"$doc/README.md.gz"
    local file
    for file in docs/*.md; do
        gzip -n -9 <"$file" >"$doc/docs/${file##*/}.gz"
    done
    "$python" packaging/manpage.py "$work/man"
    for file in "$work/man"/*.1; do
        gzip -n -9 <"$file" >"$man/${file##*/}.gz"
    done
}

# deb_build ROOT OUT: the package, reproducibly (fixed modes and times, root owner).
deb_build() {
    local root=$1 out=$2
    chmod -R u+rwX,go+rX,go-w "$root"
    find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
}

# deb_size ROOT: Installed-Size, in KiB.
deb_size() {
    du -sk --apparent-size --exclude=DEBIAN "$1" | cut -f1
}

# deb_units ROOT: the warm timer (packaging/systemd/), installed disabled: the system
# pair for root's Docker with its settings file (a conffile), the user pair for a user's.
deb_units() {
    local root=$1 unit
    mkdir -p "$root/usr/lib/systemd/system" "$root/usr/lib/systemd/user" "$root/etc/default"
    for unit in service timer; do
        cp "packaging/systemd/system/$name-warm.$unit" "$root/usr/lib/systemd/system/"
        cp "packaging/systemd/user/$name-warm.$unit" "$root/usr/lib/systemd/user/"
    done
    cp "packaging/systemd/$name.default" "$root/etc/default/$name"
    echo "/etc/default/$name" >"$root/DEBIAN/conffiles"
}
