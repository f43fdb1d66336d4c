#!/usr/bin/env bash
# tools/bench/run.sh -- quorumdns vs. the peer servers, side by side, one run.
#
#   tools/bench/run.sh               # quick: REPS=1, null/knot/gdnsd/quorumdns, BIG=0  (~5 min)
#   MODE=full tools/bench/run.sh     # full: REPS=3, all peers, BIG=1 (1M-host zone)  (~35 min)
#   tools/bench/run.sh --report DIR  # re-print ratios + Markdown table for a results dir
#
# What it does
#   1. builds quorumdns with -O2 (Release, -g kept for perf, NDEBUG) into
#      build-bench/ (not build/, so it never changes the developers' build type)
#   2. pre-flight: starts quorumdns on the bench zone and checks EVERY
#      expectation in expect.jsonl with the bench's verify.py (the bench itself
#      samples 5 per category); any failure aborts before the long run
#   3. drives the shared bench's run_all.sh with quorumdns added as the
#      "custom" server (CUSTOM_CMD/CUSTOM_NAME=quorumdns) in SERVERS and
#      BIG_SERVERS, so that quorumdns is started, verified (verify.py), measured
#      and summarised exactly like the peers, interleaved round by round, in
#      one results directory
#   4. prints the bench's summary, then tools/bench/report.py: ratios vs gdnsd
#      and Knot, lost queries, 1M-zone RSS/load time, and a ready-to-paste
#      Markdown table for BENCHMARKS.md
#   Exit status: 0 ok; 1 quorumdns failed verification, crashed, lost queries
#   or produced no results; 2 build/usage error.
#
# Environment (defaults: quick / full)
#   MODE          quick | full                                        [quick]
#   BENCH         the shared bench folder                 [/work/shared/bench]
#   BENCH_OUT     data/run/results root; qblast ends up in $BENCH_OUT/run/bin [/tmp/dns-bench]
#   SERVERS       peers + custom  ["null knot gdnsd custom" / "null nsd knot pdns bind gdnsd custom"]
#   BIG_SERVERS   1M-zone load test ["knot gdnsd custom" / "nsd knot bind pdns gdnsd custom"]
#   REPS [1 / 3]  BIG [0 / 1]     everything else run_all.sh / run_peer.sh read
#                 (DURATION, SAT_SECS, NICE, NOISE_MAX, RETRIES, ...) passes through
#   QDNS_BIN      use this binary instead of building
#   QDNS_EXTRA    extra quorumdns flags  (its port is run_peer.sh's custom default, 5310)
#   PREFLIGHT     0 = skip the full pre-flight verification [1]
#   ALLOW_LOST    1 = lost queries are a warning, not a failure [0]
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tools/bench"
BENCH="${BENCH:-/work/shared/bench}"

die() { echo "run.sh: $*" >&2; exit 2; }
[ -x "$BENCH/run_all.sh" ] || die "no run_all.sh in BENCH=$BENCH"

if [ "${1:-}" = --report ]; then
    exec python3 "$HERE/report.py" "${2:?--report RESULTS_DIR}"
fi

MODE="${MODE:-quick}"
case "$MODE" in
quick)
    : "${SERVERS:=null knot gdnsd custom}" "${BIG_SERVERS:=knot gdnsd custom}"
    : "${REPS:=1}" "${BIG:=0}" ;;
full)
    : "${SERVERS:=null nsd knot pdns bind gdnsd custom}"
    : "${BIG_SERVERS:=nsd knot bind pdns gdnsd custom}"
    : "${REPS:=3}" "${BIG:=1}" ;;
*) die "MODE must be quick or full" ;;
esac
export SERVERS BIG_SERVERS REPS BIG

# The bench folder is shared and meant to be read-only, but root passes run_all.sh's
# "[ -w ]" test and would write data/, run/ and results/ into it: default to /tmp.
export BENCH_OUT="${BENCH_OUT:-${TMPDIR:-/tmp}/dns-bench}"; OUT="$BENCH_OUT"; mkdir -p "$OUT"

# ------------------------------------------------------------------ build
BUILD="$ROOT/build-bench"
if [ -n "${QDNS_BIN:-}" ]; then
    BIN="$(readlink -f "$QDNS_BIN")"
else
    echo "### building quorumdns (Release, -O2) in $BUILD"
    mkdir -p "$BUILD"
    flags=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS_RELEASE=-O2 -g -DNDEBUG")
    if ! cmake -S "$ROOT" -B "$BUILD" "${flags[@]}" > "$BUILD/configure.log" 2>&1; then
        # The bench does not need the tests; a half-edited tests/CMakeLists.txt
        # must not stop it.  Build a snapshot of the engine sources instead.
        echo "WARNING: configuring the tree failed (see $BUILD/configure.log):" >&2
        grep -m3 -A2 'CMake Error' "$BUILD/configure.log" >&2
        echo "WARNING: building a snapshot of the source tree without tests/" >&2
        SNAP="$BUILD/src-snapshot"
        rm -rf "$SNAP"; mkdir -p "$SNAP"
        tar -C "$ROOT" --exclude=./.git --exclude='./build*' --exclude=./tests --exclude=./.run \
            -cf - . | tar -C "$SNAP" -xf -
        mkdir -p "$SNAP/tests"
        echo "# tests left out of the benchmark build" > "$SNAP/tests/CMakeLists.txt"
        BUILD="$BUILD/snapshot-build"; mkdir -p "$BUILD"
        cmake -S "$SNAP" -B "$BUILD" "${flags[@]}" > "$BUILD/configure.log" 2>&1 \
            || { cat "$BUILD/configure.log" >&2; die "cmake configure failed"; }
    fi
    cmake --build "$BUILD" --target quorumdns -j"$(nproc)" > "$BUILD/build.log" 2>&1 \
        || { tail -40 "$BUILD/build.log" >&2; die "build failed (log: $BUILD/build.log)"; }
    BIN="$BUILD/node/quorumdns"
fi
[ -x "$BIN" ] || die "no binary at $BIN"
VERSION="quorumdns $("$BIN" --version 2>&1 | head -1 | grep -o '[0-9][0-9.]*[^ ]*' | head -1) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- common dns node CMakeLists.txt 2>/dev/null || echo '+dirty'))"
echo "binary: $BIN  version: $VERSION"

export CUSTOM_NAME=quorumdns CUSTOM_VERSION="$VERSION"
export CUSTOM_CMD="exec $BIN --listen 127.0.0.1:{port} --zone example.test={zone} ${QDNS_EXTRA:-}"

# ------------------------------------------------------------------ pre-flight
if [ "${PREFLIGHT:-1}" = 1 ]; then
    echo "### pre-flight: full verify.py on the n${HOSTS:-10000} zone"
    pdir="$(mktemp -d)"
    # run_all.sh regenerates the data when its parameters changed; do the same
    # through gen_zone.py only if the zone is missing altogether
    data="$OUT/data/n${HOSTS:-10000}"
    if [ ! -f "$data/expect.jsonl" ]; then
        python3 "$BENCH/gen_zone.py" --hosts "${HOSTS:-10000}" --queries "${QUERIES:-100000}" \
            --seed "${SEED:-42}" --outdir "$data" > /dev/null || die "gen_zone.py failed"
    fi
    pport=5319
    "$BIN" --listen 127.0.0.1:$pport --zone "example.test=$data/example.test.zone" > "$pdir/server.log" 2>&1 &
    ppid=$!
    for _ in $(seq 100); do
        dig @127.0.0.1 -p $pport +tries=1 +time=1 example.test SOA 2>/dev/null | grep -q 'status: NOERROR' && break
        kill -0 $ppid 2>/dev/null || break
        sleep 0.2
    done
    prc=0
    python3 "$BENCH/verify.py" --port $pport --data "$data" --per-cat 100000 --json "$pdir/verify.json" || prc=$?
    alive=1; kill -0 $ppid 2>/dev/null || alive=0
    kill -TERM $ppid 2>/dev/null; wait $ppid 2>/dev/null
    if [ "$prc" != 0 ] || [ "$alive" = 0 ]; then
        [ "$alive" = 1 ] || { echo "quorumdns died during pre-flight; log:" >&2; tail -20 "$pdir/server.log" >&2; }
        python3 - "$pdir/verify.json" "$pport" <<'PY' >&2 || true
import json, sys
v = json.load(open(sys.argv[1]))
print("\n!!! PRE-FLIGHT VERIFICATION FAILED: %d of %d checks" % (v["failed"], v["checked"]))
for f in v["failures"]:
    q = f.split(" [")[0]
    print("  dig @127.0.0.1 -p 5319 +noedns +nocookie %s\n      %s" % (q, f))
PY
        echo "!!! quorumdns gives wrong answers; not benchmarking (PREFLIGHT=0 to run anyway)" >&2
        rm -rf "$pdir"; exit 1
    fi
    rm -rf "$pdir"
fi

# ------------------------------------------------------------------ the run
echo "### run_all.sh MODE=$MODE SERVERS='$SERVERS' REPS=$REPS BIG=$BIG BIG_SERVERS='$BIG_SERVERS'"
log="$(mktemp)"
"$BENCH/run_all.sh" 2>&1 | tee "$log"
RESULTS="$(sed -n 's/^results: //p' "$log" | tail -1)"
[ -n "$RESULTS" ] || RESULTS="$(readlink -f "$OUT/results/latest")"
cp "$log" "$RESULTS/tools_bench_run.log" 2>/dev/null
echo "$MODE" > "$RESULTS/mode.txt"
rm -f "$log"

echo
echo "################ quorumdns vs peers ($MODE mode) ################"
python3 "$HERE/report.py" "$RESULTS"
