#!/bin/sh
# runtime-packages.sh — prints the Debian packages that hold the shared
# libraries the given binaries link (one a line, sorted), so that the
# Dockerfile's runtime stage installs exactly those.  Fails if ldd cannot
# resolve a library or no package holds one (e.g. a library built by hand),
# rather than letting the build ship an image that cannot start.
#
# Usage: tools/docker/runtime-packages.sh BINARY...
set -eu

[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
libs=""
for bin in "$@"; do
        [ -x "$bin" ] || { echo "runtime-packages: $bin is not an executable" >&2; exit 1; }
        out=$(ldd "$bin") || { echo "runtime-packages: ldd $bin failed" >&2; exit 1; }
        if echo "$out" | grep -q 'not found'; then
                echo "$out" | grep 'not found' >&2
                echo "runtime-packages: $bin links libraries that are not installed" >&2
                exit 1
        fi
        libs="$libs $(echo "$out" | awk '$3 ~ /^\// { print $3 }')"
done
packages=""
for lib in $libs; do
        # With merged /usr, ldd's /lib/... path and dpkg's record can differ.
        real=$(realpath "$lib")
        owner=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null ||
                dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || true)
        if [ -z "$owner" ]; then
                echo "runtime-packages: no Debian package holds $lib" >&2
                exit 1
        fi
        # "pkg1:amd64, pkg2: /path" -> "pkg1 pkg2"
        packages="$packages $(echo "${owner%%: /*}" | tr ',' ' ' | sed 's/:[^ ]*//g')"
done
# shellcheck disable=SC2086 # one word per package
printf '%s\n' $packages | sort -u
