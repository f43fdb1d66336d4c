#!/usr/bin/env bash
# tools/bench/policy_bench.sh -- routing-policy names vs plain names, and vs
# gdnsd's weighted plugin, on one core each (server on CPU 0, load on CPU 1).
#
#   tools/bench/policy_bench.sh            # ROUNDS=3, 10 s per run (~5 min)
#
# Data: tools/bench/policy_zone.py (N=2000 names of each kind; the routed
# sets as ';quorumdns-rrset' lines of the zone file, which a standalone node
# loads).  Load: the shared bench's qblast (server-bound: sendmmsg/recvmmsg,
# 8 sockets, 100 queries in flight), one query file per kind of name.  Each
# round starts quorumdns and gdnsd afresh and measures, interleaved:
#   quorumdns  simple (1 A), weighted (3 sets, 1:2:3), failover (pair),
#              simple8 (8 A), multivalue (8 sets of 1 A)
#   gdnsd      simple, weighted (DYNA weighted!w<i>, the same 3 addresses
#              and weights, multi = false)
# and prints the median QPS of each and the ratios the issue asks for:
# weighted/failover vs simple, multivalue vs simple8 (same answer size), and
# quorumdns weighted vs gdnsd weighted.
#
# Environment: ROUNDS [3], SECS [10], N [2000], QDNS_BIN (default: build a
# Release binary in build-bench/), OUT [/tmp/policy-bench], NICE [-10]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="${BENCH:-/work/shared/bench}"
ROUNDS="${ROUNDS:-3}" SECS="${SECS:-10}" N="${N:-2000}" NICE="${NICE:--10}"
OUT="${OUT:-/tmp/policy-bench}"
QPORT=5391 GPORT=5392
mkdir -p "$OUT"

if [ -z "${QDNS_BIN:-}" ]; then
        BUILD="$ROOT/build-bench"
        cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
                "-DCMAKE_C_FLAGS_RELEASE=-O2 -g -DNDEBUG" > "$OUT/build.log" 2>&1
        cmake --build "$BUILD" --target quorumdns -j2 >> "$OUT/build.log" 2>&1
        QDNS_BIN="$BUILD/node/quorumdns"
fi
[ -x "$OUT/qblast" ] || cc -O2 -o "$OUT/qblast" "$BENCH/lib/qblast.c" -lm
python3 "$ROOT/tools/bench/policy_zone.py" --out "$OUT/data" --n "$N"

PIDS=()
cleanup() {
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_port() { # PORT NAME
        for _ in $(seq 1 200); do
                if dig +short +time=1 +tries=1 @127.0.0.1 -p "$1" example.test SOA | grep -q .; then
                        return 0
                fi
                sleep 0.1
        done
        echo "policy_bench: $2 did not answer on port $1" >&2
        exit 1
}

start_quorumdns() {
        nice -n "$NICE" taskset -c 0 "$QDNS_BIN" --listen "127.0.0.1:$QPORT" \
                --zone "example.test=$OUT/data/example.test.zone" > "$OUT/quorumdns.log" 2>&1 &
        PIDS+=($!)
        QPID=$!
        wait_port "$QPORT" quorumdns
}

start_gdnsd() {
        local run="$OUT/gdnsd-run"
        rm -rf "$run" && mkdir -p "$run/etc/zones"
        cp "$OUT/data/gdnsd/zones/example.test" "$run/etc/zones/"
        sed -e "s|@PORT@|$GPORT|" -e "s|@RUN@|$run|g" "$OUT/data/gdnsd/config.in" > "$run/etc/config"
        nice -n "$NICE" taskset -c 0 gdnsd -c "$run/etc" start > "$OUT/gdnsd.log" 2>&1 &
        PIDS+=($!)
        GPID=$!
        wait_port "$GPORT" gdnsd
}

stop() { # PID
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
}

measure() { # LABEL PORT FILE
        local qps
        nice -n "$NICE" taskset -c 1 "$OUT/qblast" -s 127.0.0.1 -p "$2" -d "$OUT/data/$3.txt" \
                -l "$SECS" -c 8 -q 100 > "$OUT/$1.r$round.txt" 2>&1
        qps="$(awk '/Queries per second/ {print $4}' "$OUT/$1.r$round.txt")"
        echo "$1 $qps" >> "$OUT/results.txt"
        printf '  %-22s %10s qps\n' "$1" "$qps"
}

: > "$OUT/results.txt"
for round in $(seq 1 "$ROUNDS"); do
        echo "round $round"
        start_quorumdns
        for kind in simple weighted failover simple8 multivalue; do
                measure "quorumdns-$kind" "$QPORT" "$kind"
        done
        stop "$QPID"
        start_gdnsd
        for kind in simple weighted; do
                measure "gdnsd-$kind" "$GPORT" "$kind"
        done
        stop "$GPID"
done

python3 - "$OUT/results.txt" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    label, qps = line.split()
    runs.setdefault(label, []).append(float(qps))
med = {k: statistics.median(v) for k, v in runs.items()}
print("\n| server / names | median qps | runs |\n|---|---:|---|")
for k in runs:
    print(f"| {k} | {med[k]:,.0f} | {', '.join(f'{x:,.0f}' for x in runs[k])} |")
def ratio(a, b):
    return med[a] / med[b]
print()
for a, b in (("quorumdns-weighted", "quorumdns-simple"),
             ("quorumdns-failover", "quorumdns-simple"),
             ("quorumdns-multivalue", "quorumdns-simple8"),
             ("quorumdns-weighted", "gdnsd-weighted"),
             ("quorumdns-simple", "gdnsd-simple")):
    print(f"{a} / {b}: {ratio(a, b):.3f}")
PY
