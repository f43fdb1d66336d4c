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
# and prints the median QPS and server CPU per query (µs, from /proc: less
# sensitive than QPS to other load on the machine) of each, the ratios the
# issue asks for:
# weighted/failover vs simple, multivalue vs simple8 (same answer size), and
# quorumdns weighted vs gdnsd weighted; then tools/bench/route_micro.c, the
# DNS work alone in process.
#
# Environment: ROUNDS [3], SECS [10], N [2000], QDNS_BIN (default: build a
# Release binary in build-bench/), OUT [/tmp/policy-bench], NICE [-10],
# KINDS (quorumdns query files) [simple weighted failover simple8 multivalue],
# GDNSD (0: skip gdnsd) [1]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="${BENCH:-/work/shared/bench}"
ROUNDS="${ROUNDS:-3}" SECS="${SECS:-10}" N="${N:-2000}" NICE="${NICE:--10}"
KINDS="${KINDS:-simple weighted failover simple8 multivalue}" GDNSD="${GDNSD:-1}"
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

cpu_ticks() { # PID: user + system clock ticks of the process (all threads)
        awk '{print $14 + $15}' "/proc/$1/stat"
}

measure() { # LABEL PORT FILE PID
        local qps done t0 t1 us
        t0="$(cpu_ticks "$4")"
        nice -n "$NICE" taskset -c 1 "$OUT/qblast" -s 127.0.0.1 -p "$2" -d "$OUT/data/$3.txt" \
                -l "$SECS" -c 8 -q 100 > "$OUT/$1.r$round.txt" 2>&1
        t1="$(cpu_ticks "$4")"
        qps="$(awk '/Queries per second/ {print $4}' "$OUT/$1.r$round.txt")"
        done="$(awk '/Queries completed/ {print $3}' "$OUT/$1.r$round.txt")"
        # server CPU per answered query, in µs (robust to other load on the box)
        us="$(awk -v d="$((t1 - t0))" -v n="$done" -v hz="$(getconf CLK_TCK)" \
                'BEGIN { printf "%.3f", (n > 0 ? d * 1e6 / hz / n : 0) }')"
        echo "$1 $qps $us" >> "$OUT/results.txt"
        printf '  %-22s %10.0f qps %8s µs CPU/query\n' "$1" "$qps" "$us"
}

: > "$OUT/results.txt"
for round in $(seq 1 "$ROUNDS"); do
        echo "round $round"
        start_quorumdns
        # The order of the kinds turns each round, so that a slow patch of
        # the machine does not always fall on the same kind.
        read -ra kinds <<< "$KINDS"
        turn=$(((round - 1) % ${#kinds[@]}))
        for kind in "${kinds[@]:turn}" "${kinds[@]:0:turn}"; do
                measure "quorumdns-$kind" "$QPORT" "$kind" "$QPID"
        done
        stop "$QPID"
        if [ "$GDNSD" = 1 ]; then
                start_gdnsd
                for kind in simple weighted; do
                        measure "gdnsd-$kind" "$GPORT" "$kind" "$GPID"
                done
                stop "$GPID"
        fi
done

python3 - "$OUT/results.txt" <<'PY'
import statistics, sys
runs, cpu = {}, {}
for line in open(sys.argv[1]):
    label, qps, us = line.split()
    runs.setdefault(label, []).append(float(qps))
    cpu.setdefault(label, []).append(float(us))
med = {k: statistics.median(v) for k, v in runs.items()}
mcpu = {k: statistics.median(v) for k, v in cpu.items()}
print("\n| server / names | median qps | median µs CPU per query | qps of the runs |")
print("|---|---:|---:|---|")
for k in runs:
    print(f"| {k} | {med[k]:,.0f} | {mcpu[k]:.2f} | {', '.join(f'{x:,.0f}' for x in runs[k])} |")
print("\nratios: qps (and by CPU per query: the other's µs / this one's)")
for a, b in (("quorumdns-weighted", "quorumdns-simple"),
             ("quorumdns-failover", "quorumdns-simple"),
             ("quorumdns-multivalue", "quorumdns-simple8"),
             ("quorumdns-weighted", "gdnsd-weighted"),
             ("quorumdns-simple", "gdnsd-simple")):
    if a in med and b in med:
        print(f"  {a} / {b}: {med[a] / med[b]:.3f} ({mcpu[b] / mcpu[a]:.3f} by CPU)")
PY

# The DNS work alone, in process (no sockets, thread CPU clock).
echo
echo "in process (tools/bench/route_micro.c):"
BUILD_DIR="$(dirname "$(dirname "$QDNS_BIN")")"
if cc -O2 -D_GNU_SOURCE -I"$ROOT" -I"$BUILD_DIR" -o "$OUT/route_micro" \
        "$ROOT/tools/bench/route_micro.c" "$BUILD_DIR/dns/libqdns_dns.a" \
        "$BUILD_DIR/common/libqdns_common.a" -lldns -lpthread -lm 2> "$OUT/route_micro.log"; then
        taskset -c 0 "$OUT/route_micro" "$N" 9
else
        echo "  (not built: $OUT/route_micro.log)"
fi
