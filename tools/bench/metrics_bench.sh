#!/usr/bin/env bash
# tools/bench/metrics_bench.sh -- what /metrics counting and the query log
# cost on the UDP query path: the same standalone node built from a commit
# before the counters (BASE, default 7e269c2) and from this tree, measured
# in alternation on one core (server on CPU 0, qblast on CPU 1).
#
#   tools/bench/metrics_bench.sh           # ROUNDS=5, 8 s per run (~4 min + builds)
#
# Each round starts, in a turning order:
#   before      BASE (no counters)
#   metrics     this tree, metrics counted, no query log
#   querylog    this tree, --query-log FILE of every query (tmpfs under OUT)
# and measures qblast QPS and the server's CPU time per answered query (µs,
# from /proc: less sensitive than QPS to other load on the machine).  Prints
# the medians, min-max, and the ratios metrics/before and querylog/before.
#
# Environment: ROUNDS [5], SECS [8], BASE [7e269c2], OUT [/tmp/metrics-bench],
# NICE [-10], N [2000] (names in the zone, tools/bench/policy_zone.py)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="${BENCH:-/work/shared/bench}"
ROUNDS="${ROUNDS:-5}" SECS="${SECS:-8}" NICE="${NICE:--10}" N="${N:-2000}"
BASE="${BASE:-7e269c2}" OUT="${OUT:-/tmp/metrics-bench}"
PORT=5393
mkdir -p "$OUT"

build() { # SRC BUILD (its log in $OUT, never in the source tree)
        local log="$OUT/$(basename "$2").log"
        cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release \
                "-DCMAKE_C_FLAGS_RELEASE=-O2 -g -DNDEBUG" > "$log" 2>&1
        cmake --build "$2" --target quorumdns -j2 >> "$log" 2>&1
}
rm -rf "$OUT/base-src" && mkdir -p "$OUT/base-src"
git -C "$ROOT" archive "$BASE" | tar -x -C "$OUT/base-src"
build "$OUT/base-src" "$OUT/base-build"
build "$ROOT" "$ROOT/build-bench"
BEFORE="$OUT/base-build/node/quorumdns" AFTER="$ROOT/build-bench/node/quorumdns"
. "$ROOT/tools/bench/qblast_lib.sh"
python3 "$ROOT/tools/bench/policy_zone.py" --out "$OUT/data" --n "$N" > /dev/null

cleanup() {
        bench_stop
        rm -f "$OUT/query.log"
}
trap cleanup EXIT

start() { # BINARY EXTRA...
        local bin="$1"
        shift
        bench_start "$bin" --listen "127.0.0.1:$PORT" \
                --zone "example.test=$OUT/data/example.test.zone" "$@"
}

run() { # LABEL
        case "$1" in
        before) start "$BEFORE" ;;
        metrics) start "$AFTER" ;;
        querylog) rm -f "$OUT/query.log"; start "$AFTER" --query-log "$OUT/query.log" ;;
        esac
        bench_measure "$1"
        echo
        if [ "$1" = querylog ]; then
                lines="$(wc -l < "$OUT/query.log")"
                echo "             $lines lines logged"
        fi
        bench_stop
}

: > "$OUT/results.txt"
kinds=(before metrics querylog)
for round in $(seq 1 "$ROUNDS"); do
        echo "round $round ($(cut -d' ' -f1-3 /proc/loadavg) load)"
        turn=$(((round - 1) % 3))
        for k in "${kinds[@]:turn}" "${kinds[@]:0:turn}"; do
                run "$k"
        done
done

bench_summary build metrics/before querylog/before
