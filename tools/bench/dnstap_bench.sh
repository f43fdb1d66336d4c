#!/usr/bin/env bash
# tools/bench/dnstap_bench.sh -- what dnstap of every query costs quorumdns,
# against what mod-dnstap costs Knot, measured in the same run: each server
# with and without dnstap, in alternation on one core (server on CPU 0,
# qblast on CPU 1).
#
#   tools/bench/dnstap_bench.sh            # ROUNDS=5, 8 s per run (~6 min + a build)
#
# Each round starts, in a turning order:
#   qdns         this tree, no dnstap
#   qdns-tap     this tree, --dnstap-file FILE (AUTH_QUERY and AUTH_RESPONSE)
#   knot         knotd, one UDP worker
#   knot-tap     knotd with mod-dnstap (sink FILE, log-queries, log-responses)
# and measures qblast QPS and the server's CPU time per answered query (µs,
# from /proc, all threads: the dnstap writers included).  The frames written
# are counted with dnstap-read after each dnstap run, then the file is
# removed.  Prints the medians, min-max, and each server's ratio with dnstap
# to without.
#
# Environment: ROUNDS [5], SECS [8], OUT [/tmp/dnstap-bench], NICE [-10],
# N [2000] (names in the zone, tools/bench/policy_zone.py)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="${BENCH:-/work/shared/bench}"
ROUNDS="${ROUNDS:-5}" SECS="${SECS:-8}" NICE="${NICE:--10}" N="${N:-2000}"
OUT="${OUT:-/tmp/dnstap-bench}"
PORT=5394
mkdir -p "$OUT"

cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release \
        "-DCMAKE_C_FLAGS_RELEASE=-O2 -g -DNDEBUG" > "$OUT/build.log" 2>&1
cmake --build "$ROOT/build-bench" --target quorumdns -j2 >> "$OUT/build.log" 2>&1
QDNS="$ROOT/build-bench/node/quorumdns"
. "$ROOT/tools/bench/qblast_lib.sh"
python3 "$ROOT/tools/bench/policy_zone.py" --out "$OUT/data" --n "$N" > /dev/null

# Knot: the shared bench's single-threaded configuration, with and without
# mod-dnstap as a global module.
knot_conf() { # FILE WITH_TAP
        mkdir -p "$OUT/knot" "$OUT/knot/db"
        cp "$OUT/data/example.test.zone" "$OUT/knot/example.test.zone"
        {
                cat <<CONF
server:
    rundir: "$OUT/knot"
    user: root:root
    pidfile: "$OUT/knot/knot.pid"
    listen: 127.0.0.1@$PORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$OUT/knot/knot.sock"
database:
    storage: "$OUT/knot/db"
log:
  - target: stderr
    any: warning
CONF
                if [ "$2" = 1 ]; then
                        cat <<CONF
mod-dnstap:
  - id: tap
    sink: "$OUT/tap.tap"
    identity: knot
    log-queries: on
    log-responses: on
CONF
                fi
                cat <<CONF
template:
  - id: default
    storage: "$OUT/knot"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
CONF
                [ "$2" = 1 ] && echo "    global-module: mod-dnstap/tap"
                cat <<CONF
zone:
  - domain: example.test
CONF
        } > "$1"
        knotc -c "$1" conf-check > /dev/null
}
knot_conf "$OUT/knot-plain.conf" 0
knot_conf "$OUT/knot-tap.conf" 1

cleanup() {
        bench_stop
        rm -f "$OUT/tap.tap"
}
trap cleanup EXIT

run() { # LABEL
        rm -f "$OUT/tap.tap"
        case "$1" in
        qdns) bench_start "$QDNS" --listen "127.0.0.1:$PORT" --zone "example.test=$OUT/data/example.test.zone" ;;
        qdns-tap) bench_start "$QDNS" --listen "127.0.0.1:$PORT" \
                --zone "example.test=$OUT/data/example.test.zone" --dnstap-file "$OUT/tap.tap" ;;
        knot) bench_start knotd -c "$OUT/knot-plain.conf" ;;
        knot-tap) bench_start knotd -c "$OUT/knot-tap.conf" ;;
        esac
        bench_measure "$1"
        bench_stop
        if [ -e "$OUT/tap.tap" ]; then
                printf '  %s frames' "$(dnstap-read "$OUT/tap.tap" | wc -l)"
                rm -f "$OUT/tap.tap"
        fi
        echo
}

: > "$OUT/results.txt"
kinds=(qdns qdns-tap knot knot-tap)
for round in $(seq 1 "$ROUNDS"); do
        echo "round $round ($(cut -d' ' -f1-3 /proc/loadavg) load)"
        turn=$(((round - 1) % 4))
        for k in "${kinds[@]:turn}" "${kinds[@]:0:turn}"; do
                run "$k"
        done
done

bench_summary server qdns-tap/qdns knot-tap/knot
