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

build() { # SRC BUILD
        cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release \
                "-DCMAKE_C_FLAGS_RELEASE=-O2 -g -DNDEBUG" > "$2.log" 2>&1
        cmake --build "$2" --target quorumdns -j2 >> "$2.log" 2>&1
}
rm -rf "$OUT/base-src" && mkdir -p "$OUT/base-src"
git -C "$ROOT" archive "$BASE" | tar -x -C "$OUT/base-src"
build "$OUT/base-src" "$OUT/base-build"
build "$ROOT" "$ROOT/build-bench"
BEFORE="$OUT/base-build/node/quorumdns" AFTER="$ROOT/build-bench/node/quorumdns"
[ -x "$OUT/qblast" ] || cc -O2 -o "$OUT/qblast" "$BENCH/lib/qblast.c" -lm
python3 "$ROOT/tools/bench/policy_zone.py" --out "$OUT/data" --n "$N" > /dev/null

QPID=
cleanup() {
        [ -n "$QPID" ] && { kill "$QPID" 2>/dev/null || true; wait "$QPID" 2>/dev/null || true; }
        rm -f "$OUT/query.log"
}
trap cleanup EXIT

start() { # BINARY EXTRA...
        local bin="$1"
        shift
        nice -n "$NICE" taskset -c 0 "$bin" --listen "127.0.0.1:$PORT" \
                --zone "example.test=$OUT/data/example.test.zone" "$@" > "$OUT/node.log" 2>&1 &
        QPID=$!
        for _ in $(seq 1 200); do
                dig +short +time=1 +tries=1 @127.0.0.1 -p "$PORT" example.test SOA | grep -q . && return 0
                sleep 0.1
        done
        echo "metrics_bench: the node did not answer" >&2
        exit 1
}

stop() {
        kill "$QPID" 2>/dev/null || true
        wait "$QPID" 2>/dev/null || true
        QPID=
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # LABEL
        local t0 t1 qps done us
        t0="$(cpu_ticks "$QPID")"
        nice -n "$NICE" taskset -c 1 "$OUT/qblast" -s 127.0.0.1 -p "$PORT" \
                -d "$OUT/data/simple.txt" -l "$SECS" -c 8 -q 100 > "$OUT/$1.r$round.txt" 2>&1
        t1="$(cpu_ticks "$QPID")"
        qps="$(awk '/Queries per second/ {print $4}' "$OUT/$1.r$round.txt")"
        done="$(awk '/Queries completed/ {print $3}' "$OUT/$1.r$round.txt")"
        us="$(awk -v d="$((t1 - t0))" -v n="$done" -v hz="$(getconf CLK_TCK)" \
                'BEGIN { printf "%.3f", (n > 0 ? d * 1e6 / hz / n : 0) }')"
        echo "$1 $qps $us" >> "$OUT/results.txt"
        printf '  %-10s %10.0f qps %8s µs CPU/query\n' "$1" "$qps" "$us"
}

run() { # LABEL
        case "$1" in
        before) start "$BEFORE" ;;
        metrics) start "$AFTER" ;;
        querylog) rm -f "$OUT/query.log"; start "$AFTER" --query-log "$OUT/query.log" ;;
        esac
        measure "$1"
        if [ "$1" = querylog ]; then
                lines="$(wc -l < "$OUT/query.log")"
                echo "             $lines lines logged"
        fi
        stop
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

python3 - "$OUT/results.txt" <<'PY'
import statistics, sys
qps, cpu = {}, {}
for line in open(sys.argv[1]):
    label, q, us = line.split()
    qps.setdefault(label, []).append(float(q))
    cpu.setdefault(label, []).append(float(us))
print("\n| build | median qps (min-max) | median µs CPU per query (min-max) |")
print("|---|---:|---:|")
for k in qps:
    print(f"| {k} | {statistics.median(qps[k]):,.0f} ({min(qps[k]):,.0f}-{max(qps[k]):,.0f}) "
          f"| {statistics.median(cpu[k]):.3f} ({min(cpu[k]):.3f}-{max(cpu[k]):.3f}) |")
for k in ("metrics", "querylog"):
    if k in qps and "before" in qps:
        print(f"{k} / before: qps {statistics.median(qps[k]) / statistics.median(qps['before']):.3f}, "
              f"by CPU per query {statistics.median(cpu['before']) / statistics.median(cpu[k]):.3f}")
PY
