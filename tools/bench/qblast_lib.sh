# tools/bench/qblast_lib.sh -- sourced by metrics_bench.sh and
# dnstap_bench.sh: the pieces of an alternating one-core UDP benchmark.
#
#   bench_start CMD...   starts a server on CPU 0 (nice NICE), output in
#                        OUT/server.log, and waits until it answers
#                        example.test SOA on 127.0.0.1:PORT (SPID: its pid)
#   bench_stop           stops it
#   bench_measure LABEL  qblast on CPU 1 for SECS s with OUT/data/simple.txt;
#                        appends "LABEL qps µs-CPU-per-query" to
#                        OUT/results.txt and prints it (no newline); the
#                        server's CPU is user+system of all its threads,
#                        from /proc, over the run
#   bench_summary HEAD A/B...  the medians table of OUT/results.txt (first
#                        column titled HEAD) and the ratios A to B
#
# The caller sets BENCH, OUT, PORT, SECS, NICE and `round`.

[ -x "$OUT/qblast" ] || cc -O2 -o "$OUT/qblast" "$BENCH/lib/qblast.c" -lm

SPID=
bench_start() {
        nice -n "$NICE" taskset -c 0 "$@" > "$OUT/server.log" 2>&1 &
        SPID=$!
        for _ in $(seq 1 200); do
                dig +short +time=1 +tries=1 @127.0.0.1 -p "$PORT" example.test SOA | grep -q . && return 0
                sleep 0.1
        done
        echo "$(basename "$0"): $1 did not answer" >&2
        exit 1
}

bench_stop() {
        [ -n "$SPID" ] || return 0
        kill "$SPID" 2>/dev/null || true
        wait "$SPID" 2>/dev/null || true
        SPID=
}

bench_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

bench_measure() {
        local t0 t1 qps done us
        t0="$(bench_cpu_ticks "$SPID")"
        nice -n "$NICE" taskset -c 1 "$OUT/qblast" -s 127.0.0.1 -p "$PORT" \
                -d "$OUT/data/simple.txt" -l "$SECS" -c 8 -q 100 > "$OUT/$1.r$round.txt" 2>&1
        t1="$(bench_cpu_ticks "$SPID")"
        qps="$(awk '/Queries per second/ {print $4}' "$OUT/$1.r$round.txt")"
        done="$(awk '/Queries completed/ {print $3}' "$OUT/$1.r$round.txt")"
        us="$(awk -v d="$((t1 - t0))" -v n="$done" -v hz="$(getconf CLK_TCK)" \
                'BEGIN { printf "%.3f", (n > 0 ? d * 1e6 / hz / n : 0) }')"
        echo "$1 $qps $us" >> "$OUT/results.txt"
        printf '  %-10s %10.0f qps %8s µs CPU/query' "$1" "$qps" "$us"
}

bench_summary() {
        python3 - "$OUT/results.txt" "$@" <<'PY'
import statistics, sys
qps, cpu = {}, {}
for line in open(sys.argv[1]):
    label, q, us = line.split()
    qps.setdefault(label, []).append(float(q))
    cpu.setdefault(label, []).append(float(us))
print(f"\n| {sys.argv[2]} | median qps (min-max) | median µs CPU per query (min-max) |")
print("|---|---:|---:|")
for k in qps:
    print(f"| {k} | {statistics.median(qps[k]):,.0f} ({min(qps[k]):,.0f}-{max(qps[k]):,.0f}) "
          f"| {statistics.median(cpu[k]):.3f} ({min(cpu[k]):.3f}-{max(cpu[k]):.3f}) |")
for pair in sys.argv[3:]:
    a, b = pair.split("/")
    if a in qps and b in qps:
        print(f"{a} / {b}: qps {statistics.median(qps[a]) / statistics.median(qps[b]):.3f}, "
              f"by CPU per query {statistics.median(cpu[b]) / statistics.median(cpu[a]):.3f}")
PY
}
