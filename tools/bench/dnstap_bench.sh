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
[ -x "$OUT/qblast" ] || cc -O2 -o "$OUT/qblast" "$BENCH/lib/qblast.c" -lm
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

SPID=
cleanup() {
        [ -n "$SPID" ] && { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }
        rm -f "$OUT/tap.tap"
}
trap cleanup EXIT

start() { # COMMAND...
        nice -n "$NICE" taskset -c 0 "$@" > "$OUT/server.log" 2>&1 &
        SPID=$!
        for _ in $(seq 1 200); do
                dig +short +time=1 +tries=1 @127.0.0.1 -p "$PORT" example.test SOA | grep -q . && return 0
                sleep 0.1
        done
        echo "dnstap_bench: $1 did not answer" >&2
        exit 1
}

stop() {
        kill "$SPID" 2>/dev/null || true
        wait "$SPID" 2>/dev/null || true
        SPID=
}

cpu_ticks() { # PID: user + system of every thread
        awk '{print $14 + $15}' "/proc/$1/stat"
}

measure() { # LABEL
        local t0 t1 qps done us
        t0="$(cpu_ticks "$SPID")"
        nice -n "$NICE" taskset -c 1 "$OUT/qblast" -s 127.0.0.1 -p "$PORT" \
                -d "$OUT/data/simple.txt" -l "$SECS" -c 8 -q 100 > "$OUT/$1.r$round.txt" 2>&1
        t1="$(cpu_ticks "$SPID")"
        qps="$(awk '/Queries per second/ {print $4}' "$OUT/$1.r$round.txt")"
        done="$(awk '/Queries completed/ {print $3}' "$OUT/$1.r$round.txt")"
        us="$(awk -v d="$((t1 - t0))" -v n="$done" -v hz="$(getconf CLK_TCK)" \
                'BEGIN { printf "%.3f", (n > 0 ? d * 1e6 / hz / n : 0) }')"
        echo "$1 $qps $us" >> "$OUT/results.txt"
        printf '  %-10s %10.0f qps %8s µs CPU/query' "$1" "$qps" "$us"
}

run() { # LABEL
        rm -f "$OUT/tap.tap"
        case "$1" in
        qdns) start "$QDNS" --listen "127.0.0.1:$PORT" --zone "example.test=$OUT/data/example.test.zone" ;;
        qdns-tap) start "$QDNS" --listen "127.0.0.1:$PORT" \
                --zone "example.test=$OUT/data/example.test.zone" --dnstap-file "$OUT/tap.tap" ;;
        knot) start knotd -c "$OUT/knot-plain.conf" ;;
        knot-tap) start knotd -c "$OUT/knot-tap.conf" ;;
        esac
        measure "$1"
        stop
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

python3 - "$OUT/results.txt" <<'PY'
import statistics, sys
qps, cpu = {}, {}
for line in open(sys.argv[1]):
    label, q, us = line.split()
    qps.setdefault(label, []).append(float(q))
    cpu.setdefault(label, []).append(float(us))
print("\n| server | median qps (min-max) | median µs CPU per query (min-max) |")
print("|---|---:|---:|")
for k in qps:
    print(f"| {k} | {statistics.median(qps[k]):,.0f} ({min(qps[k]):,.0f}-{max(qps[k]):,.0f}) "
          f"| {statistics.median(cpu[k]):.3f} ({min(cpu[k]):.3f}-{max(cpu[k]):.3f}) |")
for base in ("qdns", "knot"):
    tap = base + "-tap"
    if base in qps and tap in qps:
        print(f"{tap} / {base}: qps {statistics.median(qps[tap]) / statistics.median(qps[base]):.3f}, "
              f"by CPU per query {statistics.median(cpu[base]) / statistics.median(cpu[tap]):.3f}")
PY
