#!/bin/sh
# packaging/release-tools.sh COMMAND:DEBIAN_PACKAGE...: install, as root, the Debian
# package of each command that is missing (CI starts on a fresh machine); otherwise say
# which are missing.
set -eu
missing=
for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
[ -n "$missing" ] || exit 0
if [ "$(id -u)" != 0 ]; then
    echo "release-tools.sh: install$missing (as root: apt-get install$missing)" >&2
    exit 1
fi
apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
