#!/usr/bin/env bash
# setup.sh — installs the Debian 12 packages quorumdns needs (only the missing
# ones) and builds the tree with CMake: build/ always, build-asan/ with
# --sanitize (ASan+UBSan), build-fuzz/ with --fuzz (clang, libFuzzer).
# Idempotent and quiet; safe to run from any directory, as root or with sudo.
#
# Usage: tools/setup.sh [--sanitize] [--fuzz] [--no-build] [--no-packages]
#                       [--no-normal]    (skip build/; for tools/test.sh)
#                       [--image]        (only the build packages, without
#                                         recommends; for the Dockerfile)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOGDIR="$ROOT/.run/setup"

# The one list of packages.  build: compiling and linking the daemon (all
# that the container image's build stage installs, --image).  dev: the
# sanitizer and fuzz builds (clang) and the unit tests (cmocka).
# test/bench: system tests, differential and benchmark reference servers,
# DNS clients, fault injection, the cluster tooling and the containers test
# (podman, debootstrap, catatonit: tools/compose.sh).
BUILD_PACKAGES=(
        build-essential cmake pkg-config
        libuv1-dev libraft-dev libcurl4-openssl-dev libmsgpack-dev libldns-dev
        libh2o-dev libjansson-dev libmaxminddb-dev
        libfstrm-dev libprotobuf-c-dev protobuf-c-compiler
)
DEV_PACKAGES=(clang libclang-rt-14-dev libcmocka-dev)
TEST_PACKAGES=(
        python3 python3-pytest python3-dnspython python3-requests
        ldnsutils knot knot-dnsutils bind9-dnsutils dnsperf nsd gdnsd
        libmaxmind-db-writer-perl iso-codes knot-module-geoip
        docker-compose iproute2 procps curl openssl nftables faketime
        podman debootstrap catatonit
        prometheus
        fstrm-bin python3-yaml knot-module-dnstap
)

usage() {
        sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

sanitize=0 fuzz=0 build=1 packages=1 normal=1 image=0
for arg in "$@"; do
        case "$arg" in
        --sanitize) sanitize=1 ;;
        --fuzz) fuzz=1 ;;
        --no-build) build=0 ;;
        --no-packages) packages=0 ;;
        --no-normal) normal=0 ;;
        --image) image=1 ;;
        -h | --help)
                usage
                exit 0
                ;;
        *)
                echo "setup.sh: unknown option '$arg'" >&2
                usage >&2
                exit 2
                ;;
        esac
done

say() { printf 'setup: %s\n' "$*"; }
die() {
        printf 'setup: error: %s\n' "$*" >&2
        exit 1
}

# Prints the last lines of a log file after a failure.
show_log() {
        echo "---- last lines of $1 ----" >&2
        tail -n 40 "$1" >&2 || true
        echo "----" >&2
}

is_installed() {
        case "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" in
        ii*) return 0 ;;
        *) return 1 ;;
        esac
}

POLICY=/usr/sbin/policy-rc.d
policy_created=0
remove_policy() {
        if [ "$policy_created" = 1 ]; then
                rm -f "$POLICY"
                policy_created=0
        fi
}

install_packages() {
        local missing=() p wanted=("${BUILD_PACKAGES[@]}") apt_opts=()
        if [ "$image" = 1 ]; then
                apt_opts=(--no-install-recommends)
        else
                wanted+=("${DEV_PACKAGES[@]}" "${TEST_PACKAGES[@]}")
        fi
        for p in "${wanted[@]}"; do
                is_installed "$p" || missing+=("$p")
        done
        if [ "${#missing[@]}" -eq 0 ]; then
                say "packages: all ${#wanted[@]} present"
                return 0
        fi
        [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root to install them"
        command -v apt-get >/dev/null || die "apt-get not found: this script expects Debian 12"
        say "packages: installing ${missing[*]}"
        mkdir -p "$LOGDIR"
        local log="$LOGDIR/apt.log"
        export DEBIAN_FRONTEND=noninteractive
        # knot, nsd and gdnsd would start system daemons on port 53 when
        # installed; a temporary policy-rc.d keeps every service stopped.
        if [ ! -e "$POLICY" ]; then
                printf '#!/bin/sh\n# temporary, from quorumdns tools/setup.sh\nexit 101\n' >"$POLICY"
                chmod 755 "$POLICY"
                policy_created=1
                trap remove_policy EXIT
        fi
        if ! apt-get update -qq -o DPkg::Lock::Timeout=300 >"$log" 2>&1; then
                show_log "$log"
                die "apt-get update failed (full log: $log)"
        fi
        if ! apt-get install -y -qq -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef \
                -o Dpkg::Options::=--force-confold "${apt_opts[@]}" "${missing[@]}" >>"$log" 2>&1; then
                show_log "$log"
                die "apt-get install failed (full log: $log)"
        fi
        remove_policy
        for p in "${missing[@]}"; do
                is_installed "$p" || die "package $p is still not installed (see $log)"
        done
        # The reference servers are started by the tests and benchmarks
        # themselves; keep the distribution's services off after a reboot too.
        if [ -d /run/systemd/system ]; then
                for p in knot nsd gdnsd; do
                        case " ${missing[*]} " in
                        *" $p "*) systemctl disable --now "$p" >>"$log" 2>&1 || true ;;
                        esac
                done
        fi
        say "packages: installed ${#missing[@]}"
}

# build_tree DIR [cmake arguments...]: configure (if needed) and build.
build_tree() {
        local dir="$1" name log start
        shift
        name="$(basename "$dir")"
        mkdir -p "$LOGDIR"
        log="$LOGDIR/$name.log"
        start=$SECONDS
        if ! cmake -S "$ROOT" -B "$dir" -Wno-dev "$@" >"$log" 2>&1; then
                show_log "$log"
                die "cmake configure of $name/ failed (full log: $log)"
        fi
        if ! cmake --build "$dir" --parallel "$(nproc)" >>"$log" 2>&1; then
                # The compiler's and linker's complaints, or else the log's end.
                if grep -qE 'error:|undefined reference' "$log"; then
                        grep -E -A3 'error:|undefined reference' "$log" | head -n 40 >&2
                else
                        show_log "$log"
                fi
                die "build of $name/ failed (full log: $log)"
        fi
        local warnings
        warnings="$(grep -c 'warning:' "$log" || true)"
        if [ "${warnings:-0}" = 0 ]; then
                say "$name/: built in $((SECONDS - start)) s"
        else
                say "$name/: built in $((SECONDS - start)) s, $warnings compiler warnings (full log: $log):"
                grep 'warning:' "$log" | sort -u | head -n 20
        fi
}

if [ "$packages" = 1 ]; then
        install_packages
fi
if [ "$build" = 1 ]; then
        if [ "$normal" = 1 ]; then
                build_tree "$ROOT/build"
        fi
        if [ "$sanitize" = 1 ]; then
                build_tree "$ROOT/build-asan" -DQDNS_SANITIZE=ON
        fi
        if [ "$fuzz" = 1 ]; then
                CC=clang build_tree "$ROOT/build-fuzz" -DCMAKE_C_COMPILER=clang -DQDNS_FUZZ=ON
        fi
fi
exit 0
