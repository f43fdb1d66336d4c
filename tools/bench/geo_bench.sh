#!/usr/bin/env bash
# tools/bench/geo_bench.sh -- location-aware names with EDNS Client Subnet:
# quorumdns geolocation names vs its plain names, and vs Knot's mod-geoip
# and gdnsd's geoip plugin on the same database, names and client subnets,
# in the same run, one core each (server on CPU 0, load on CPU 1).
#
#   tools/setup.sh --no-packages --no-build --geolite2   # the database, once
#   tools/bench/geo_bench.sh                              # ROUNDS=3, 10 s per run
#
# Data: tools/bench/geo_zone.py (N=2000 names of each kind, 2000 client
# /24s drawn from the networks the database places, 8 countries with a set
# of their own and a default).  Load: tools/bench/ecsblast.c (closed loop,
# 8 sockets, 100 queries in flight, each query with its client's subnet).
# Before measuring, every server is asked 200 sample queries and must give
# the answer geo_zone.py expects (the same database placing the same
# subnets), so the three do the same work.  Each round starts every server
# afresh and measures, in a turning order:
#   quorumdns  simple (plain names, no ECS), simple-ecs (plain names with
#              the clients' subnets), geo (geolocation names, ECS)
#   knot       simple, geo        gdnsd  simple, geo
# and prints, per server and kind, the median QPS and server CPU per query
# (µs, user + system of the server process over the run, from /proc: what
# the machine's other load disturbs least) with the spread (min-max) of
# the rounds, and the ratios: quorumdns geo / simple (target >= 0.9) and
# quorumdns geo / knot geo, / gdnsd geo (target >= 1.0).  A kind of name
# added to geo_zone.py's KINDS is measured on every server that has a way to
# write it: list it in KINDS below.  KINDS="geo cidr" adds the IP-based
# names (quorumdns then runs as a 1-node cluster, see start_quorumdns;
# gdnsd with a nets map; Knot with mod-geoip in subnet mode, every client
# /24 listed under every name: asked only when names x blocks fit in
# KNOT_NETS entries, i.e. up to 2,000 clients with N=2000).  cidr-small:
# the same IP-based names, KNOT_NETS / blocks of them (80 at 50,000
# clients), that every server answers, Knot included.
#
# Environment: ROUNDS [3], SECS [10], N [2000], CLIENTS (client /24s) [2000], MMDB [.run/geolite2/
# GeoLite2-City.mmdb], QDNS_BIN (default: a Release build in
# build-bench/), OUT [/tmp/geo-bench], NICE [-10], KINDS (routed kinds)
# [geo], SERVERS [quorumdns knot gdnsd], VERIFY_ONLY (1: start each server,
# check its sample answers, measure nothing) [0], KNOT_NETS (the most name x
# subnet entries of Knot's subnet-mode file; ~5 s and ~850 MB to load
# 2,000,000 in Knot 3.2) [2000000]
set -euo pipefail
case "${1:-}" in -h | --help) # this header
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 0
        ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ROUNDS="${ROUNDS:-3}" SECS="${SECS:-10}" N="${N:-2000}" NICE="${NICE:--10}"
KINDS="${KINDS:-geo}" SERVERS="${SERVERS:-quorumdns knot gdnsd}"
MMDB="${MMDB:-$ROOT/.run/geolite2/GeoLite2-City.mmdb}"
OUT="${OUT:-/tmp/geo-bench}"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # Debian's, with dnspython
QPORT=5393 KPORT=5394 GPORT=5395 RPORT=5396 APORT=5397 TOKEN=geo-bench-admin-0123456789
KNOT_GEOIP=/usr/lib/x86_64-linux-gnu/knot/modules-3.2/geoip.so
mkdir -p "$OUT"
[ -f "$MMDB" ] || { echo "geo_bench: no $MMDB (run tools/setup.sh --geolite2)" >&2; exit 1; }
case "$MMDB" in /*) ;; *) MMDB="$PWD/$MMDB" ;; esac

if [ -z "${QDNS_BIN:-}" ]; then
        BUILD="$ROOT/build-bench"
        cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
                "-DCMAKE_C_FLAGS_RELEASE=-O2 -g -DNDEBUG" > "$OUT/build.log" 2>&1
        cmake --build "$BUILD" --target quorumdns -j2 >> "$OUT/build.log" 2>&1
        QDNS_BIN="$BUILD/node/quorumdns"
fi
cc -O2 -o "$OUT/ecsblast" "$ROOT/tools/bench/ecsblast.c"
rm -rf "$OUT/data"
"$PY" "$ROOT/tools/bench/geo_zone.py" --out "$OUT/data" --mmdb "$MMDB" --n "$N" \
        --clients "${CLIENTS:-2000}" --kinds "$KINDS" --knot-nets "${KNOT_NETS:-2000000}"

PIDS=()
cleanup() {
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_port() { # PORT NAME
        for _ in $(seq 1 300); do
                # (dig +short prints its errors on stdout too: look for the SOA)
                if dig +short +time=1 +tries=1 @127.0.0.1 -p "$1" example.test SOA |
                        grep -q hostmaster; then
                        return 0
                fi
                sleep 0.1
        done
        echo "geo_bench: $2 did not answer on port $1" >&2
        exit 1
}

has_kind() { [[ " $KINDS " == *" $1 "* ]]; }
has_cidr() { has_kind cidr || has_kind cidr-small; }

api() { # METHOD PATH [CURL ARGS...]: the 1-node cluster's API, body on stdout
        local m="$1" p="$2"
        shift 2
        curl -sS --fail-with-body -X "$m" -H "Authorization: Bearer $TOKEN" "$@" \
                "http://127.0.0.1:$APORT$p"
}

# IP-based names need CIDR collections, which live in a cluster's
# replicated state: with `cidr` or `cidr-small` in KINDS quorumdns runs as a 1-node cluster
# (every kind then measured on it) and gets the zone and the collection
# through its API; otherwise it is a standalone node serving the zone file.
start_quorumdns() {
        local zone="$OUT/data/quorumdns/example.test.zone"
        if ! has_cidr; then
                grep -v '@CIDR@' "$zone" > "$OUT/quorumdns.zone"
                nice -n "$NICE" taskset -c 0 "$QDNS_BIN" --listen "127.0.0.1:$QPORT" \
                        --geoip-db "$MMDB" --zone "example.test=$OUT/quorumdns.zone" \
                        > "$OUT/quorumdns.log" 2>&1 &
                PIDS+=($!)
                SPID=$!
                wait_port "$QPORT" quorumdns
                return
        fi
        local run="$OUT/quorumdns-run" id
        rm -rf "$run" && mkdir -p "$run/data"
        nice -n "$NICE" taskset -c 0 "$QDNS_BIN" --data-dir "$run/data" --node-id 1 \
                --raft-listen "127.0.0.1:$RPORT" --api-listen "127.0.0.1:$APORT" \
                --raft-transport plaintext --bootstrap "1@127.0.0.1:$RPORT" \
                --api-token "admin:$TOKEN" --listen "127.0.0.1:$QPORT" \
                --geoip-db "$MMDB" > "$OUT/quorumdns.log" 2>&1 &
        PIDS+=($!)
        SPID=$!
        for _ in $(seq 1 300); do
                api POST /v1/zones -d '{"name":"example.test."}' > /dev/null 2>&1 && break
                sleep 0.1
        done
        id="$(api POST /v1/cidrcollections -d '{"name":"bench"}' | jq -r .cidr_collection.id)"
        jq -c '{changes}' "$OUT/data/quorumdns/cidr.json" |
                api POST "/v1/cidrcollections/$id/changes" --data-binary @- > /dev/null
        sed "s/@CIDR@/$id/g" "$zone" |
                api POST /v1/zones/example.test./import -H 'Content-Type: text/dns' \
                        --data-binary @- > /dev/null
        wait_port "$QPORT" quorumdns
}

start_knot() {
        local run="$OUT/knot-run"
        rm -rf "$run" && mkdir -p "$run"
        cp "$OUT/data/knot/example.test.zone" "$OUT/data/knot/geo.conf" \
                "$OUT/data/knot/nets.conf" "$run/"
        # The IP-based names: a second instance, in subnet mode, when it has
        # names (a name neither instance lists is answered from the zone).
        local modules="mod-geoip/country" nets=""
        if [ -s "$run/nets.conf" ]; then
                modules="[ mod-geoip/country, mod-geoip/nets ]"
                nets="  - id: nets
    config-file: \"$run/nets.conf\"
    ttl: 300
    mode: subnet"
        fi
        cat > "$run/knot.conf" <<EOF
server:
    rundir: "$run"
    listen: 127.0.0.1@$KPORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    edns-client-subnet: on
log:
  - target: stderr
    any: warning
database:
    storage: "$run"
mod-geoip:
  - id: country
    config-file: "$run/geo.conf"
    ttl: 300
    mode: geodb
    geodb-file: "$MMDB"
    geodb-key: [ country/iso_code ]
$nets
zone:
  - domain: example.test.
    file: "$run/example.test.zone"
    storage: "$run"
    journal-content: none
    zonefile-sync: -1
    module: $modules
EOF
        nice -n "$NICE" taskset -c 0 knotd -c "$run/knot.conf" > "$OUT/knot.log" 2>&1 &
        PIDS+=($!)
        SPID=$!
        wait_port "$KPORT" knot
}

start_gdnsd() {
        local run="$OUT/gdnsd-run"
        rm -rf "$run" && mkdir -p "$run/etc/zones" "$run/etc/geoip"
        cp "$OUT/data/gdnsd/zones/example.test" "$run/etc/zones/"
        ln -s "$MMDB" "$run/etc/geoip/bench.mmdb"
        sed -e "s|@PORT@|$GPORT|" -e "s|@RUN@|$run|g" -e "s|@MMDB@|bench.mmdb|" \
                "$OUT/data/gdnsd/config.in" > "$run/etc/config"
        nice -n "$NICE" taskset -c 0 gdnsd -c "$run/etc" start > "$OUT/gdnsd.log" 2>&1 &
        PIDS+=($!)
        SPID=$!
        wait_port "$GPORT" gdnsd
}

stop() { # PID
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
}

port_of() {
        case "$1" in quorumdns) echo "$QPORT" ;; knot) echo "$KPORT" ;; gdnsd) echo "$GPORT" ;; esac
}

# The 200 sample queries geo_zone.py wrote down, with their client subnets:
# every server must give the expected address.
verify() { # SERVER KINDS
        "$PY" - "$OUT/data/expect.txt" "$(port_of "$1")" "$1" "$2" <<'PY'
import sys
import dns.edns, dns.message, dns.query
expect, port, server, kinds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split()
bad = []
for line in open(expect):
    kind, name, subnet, want = line.split()
    if kind not in kinds:
        continue
    addr, plen = subnet.split("/")
    q = dns.message.make_query(name, "A", use_edns=0)
    q.use_edns(0, options=[dns.edns.ECSOption(addr, int(plen))])
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    got = sorted(rr.to_text() for s in r.answer for rr in s)
    if got != [want]:
        bad.append(f"{name} {subnet}: {got} (want {want})")
if bad:
    sys.exit(f"geo_bench: {server} answers differently from the database:\n  " + "\n  ".join(bad[:10]))
print(f"  {server}: the 200 sample answers of {' '.join(k for k in kinds if k in open(expect).read())} are the database's")
PY
}

cpu_ticks() { # PID: user + system clock ticks of the process (all threads)
        awk '{print $14 + $15}' "/proc/$1/stat"
}

measure() { # LABEL PORT FILE PID
        local qps done t0 t1 us
        t0="$(cpu_ticks "$4")"
        nice -n "$NICE" taskset -c 1 "$OUT/ecsblast" -s 127.0.0.1 -p "$2" -d "$OUT/data/$3.txt" \
                -l "$SECS" -c 8 -q 100 > "$OUT/$1.r$round.txt" 2>&1
        t1="$(cpu_ticks "$4")"
        qps="$(awk '/Queries per second/ {print $4}' "$OUT/$1.r$round.txt")"
        done="$(awk '/Queries completed/ {print $3}' "$OUT/$1.r$round.txt")"
        us="$(awk -v d="$((t1 - t0))" -v n="$done" -v hz="$(getconf CLK_TCK)" \
                'BEGIN { printf "%.3f", (n > 0 ? d * 1e6 / hz / n : 0) }')"
        echo "$1 $qps $us" >> "$OUT/results.txt"
        printf '  %-22s %10.0f qps %8s µs CPU/query\n' "$1" "$qps" "$us"
}

: > "$OUT/results.txt"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%H:%MZ)" | tee "$OUT/env.txt"
read -ra servers <<< "$SERVERS"
for round in $(seq 1 "$ROUNDS"); do
        echo "round $round"
        # The order of the servers turns each round, so that a slow patch of
        # the machine does not always fall on the same one.
        turn=$(((round - 1) % ${#servers[@]}))
        for server in "${servers[@]:turn}" "${servers[@]:0:turn}"; do
                case "$server" in
                quorumdns) start_quorumdns; kinds="simple simple-ecs $KINDS" ;;
                knot)
                        [ -f "$KNOT_GEOIP" ] || { echo "  knot: no mod-geoip"; continue; }
                        # The kinds geo_zone.py gave Knot (cidr only when
                        # its names x subnets fit in KNOT_NETS).
                        start_knot; kinds="simple $(cat "$OUT/data/knot/kinds")" ;;
                gdnsd) start_gdnsd; kinds="simple $KINDS" ;;
                esac
                [ "$round" = 1 ] && verify "$server" "$kinds"
                if [ "${VERIFY_ONLY:-0}" = 1 ]; then
                        stop "$SPID"
                        continue
                fi
                for kind in $kinds; do
                        measure "$server-$kind" "$(port_of "$server")" "$kind" "$SPID"
                done
                stop "$SPID"
        done
done

[ "${VERIFY_ONLY:-0}" = 1 ] && exit 0
"$PY" - "$OUT/results.txt" "$KINDS" <<'PY'
import statistics, sys
runs, cpu = {}, {}
for line in open(sys.argv[1]):
    label, qps, us = line.split()
    runs.setdefault(label, []).append(float(qps))
    cpu.setdefault(label, []).append(float(us))
med = {k: statistics.median(v) for k, v in runs.items()}
mcpu = {k: statistics.median(v) for k, v in cpu.items()}
print("\n| server / names | median qps (min-max) | median µs CPU per query (min-max) |")
print("|---|---:|---:|")
for k in runs:
    print(f"| {k} | {med[k]:,.0f} ({min(runs[k]):,.0f}-{max(runs[k]):,.0f}) | "
          f"{mcpu[k]:.2f} ({min(cpu[k]):.2f}-{max(cpu[k]):.2f}) |")
print("\nratios: qps (and by CPU per query: the other's µs / this one's)")
pairs = [("quorumdns-simple-ecs", "quorumdns-simple")]
for kind in sys.argv[2].split():
    pairs += [(f"quorumdns-{kind}", "quorumdns-simple"),
              (f"quorumdns-{kind}", "quorumdns-simple-ecs"),
              (f"quorumdns-{kind}", f"knot-{kind}"), (f"quorumdns-{kind}", f"gdnsd-{kind}")]
pairs += [("quorumdns-simple", "knot-simple"), ("quorumdns-simple", "gdnsd-simple")]
for a, b in pairs:
    if a in med and b in med:
        print(f"  {a} / {b}: {med[a] / med[b]:.3f} ({mcpu[b] / mcpu[a]:.3f} by CPU)")
PY
