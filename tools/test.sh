#!/usr/bin/env bash
# test.sh — the whole test suite: runs tools/setup.sh (packages; builds in
# build/, build-asan/ and build-fuzz/), then the unit tests (ctest) in build/
# and build-asan/, the system tests (pytest, tests/system) against the normal
# and the ASan binary, the fault suite (tests/faults) against the normal one,
# the docker-compose stack in containers (tools/compose.sh test), and every
# libFuzzer target for a fixed time.  Prints a summary and exits 1
# if anything failed.  Logs go to .run/test/.
#
# Usage: tools/test.sh [--quick] [--fuzz-time SECS]
#   --quick            only build/: no ASan build, no fuzzing
#   --fuzz-time SECS   run each fuzz target this long (default 60)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOGDIR="$ROOT/.run/test"
PYTHON=/usr/bin/python3 # Debian's, with pytest and dnspython (not pyenv's)

usage() {
        sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

quick=0 fuzz_time=60
while [ $# -gt 0 ]; do
        case "$1" in
        --quick) quick=1 ;;
        --fuzz-time)
                [ $# -ge 2 ] || { usage >&2; exit 2; }
                fuzz_time="$2"
                shift
                ;;
        --fuzz-time=*) fuzz_time="${1#*=}" ;;
        -h | --help)
                usage
                exit 0
                ;;
        *)
                echo "test.sh: unknown option '$1'" >&2
                usage >&2
                exit 2
                ;;
        esac
        shift
done
case "$fuzz_time" in
'' | *[!0-9]*)
        echo "test.sh: --fuzz-time needs a number of seconds" >&2
        exit 2
        ;;
esac

rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
ulimit -c 0 # a crashing test leaves no core file in the tree
export PYTHONDONTWRITEBYTECODE=1
SAN_ENV=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        QDNS_TIMING_SLACK=3)

TMPDIRS=() # removed on exit
trap 'rm -rf "${TMPDIRS[@]}"' EXIT

START=$SECONDS
# CI stops a run after 90 minutes: every step gets at most its own cap and
# what is left of 80 minutes, so the summary is always printed.
DEADLINE=$((START + 80 * 60))

# cap SECS: SECS, or less if the overall deadline is nearer.
cap() {
        local left=$((DEADLINE - SECONDS - 30))
        [ "$left" -lt "$1" ] || left="$1"
        [ "$left" -gt 10 ] || left=10
        echo "$left"
}
RESULTS=() # "STATUS|name|seconds|note"
failed=0 passed=0 skipped=0

banner() { printf '\n==== %s\n' "$*"; }

record() { # STATUS NAME SECONDS NOTE
        RESULTS+=("$1|$2|$3|$4")
        case "$1" in
        PASS) passed=$((passed + 1)) ;;
        FAIL) failed=$((failed + 1)) ;;
        SKIP) skipped=$((skipped + 1)) ;;
        esac
        printf -- '---- %s: %s%s\n' "$1" "$2" "${4:+ ($4)}"
}

# The last non-empty line of a log, stripped of pytest's "=" framing.
last_line() {
        grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | sed 's/^=* *//; s/ *=*$//'
}

summary() {
        local r status name secs note
        printf '\n==== test.sh summary (%d s in all; logs in .run/test/)\n' "$((SECONDS - START))"
        for r in "${RESULTS[@]}"; do
                IFS='|' read -r status name secs note <<<"$r"
                printf '  %-4s  %-44s %5s s  %s\n' "$status" "$name" "$secs" "$note"
        done
        printf 'steps: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
}

finish() {
        summary
        [ "$failed" -eq 0 ]
        exit $?
}

# ------------------------------------------------------------ set-up, builds

# run_setup SLUG NAME ARGS...: one tools/setup.sh run as a step; 0 if it passed.
run_setup() {
        local log="$LOGDIR/setup-$1.log" name="$2" t=$SECONDS
        shift 2
        banner "$name"
        if "$ROOT/tools/setup.sh" "$@" 2>&1 | tee "$log"; then
                record PASS "$name" $((SECONDS - t)) ""
                return 0
        fi
        record FAIL "$name" $((SECONDS - t)) "$(grep -m 1 "^setup: error: " "$log" | sed "s/^setup: error: //")"
        return 1
}

run_setup packages "packages" --no-build || finish
normal_ok=0 asan_ok=0 fuzz_ok=0
run_setup build "build build/" --no-packages && normal_ok=1
if [ "$quick" = 0 ]; then
        run_setup build-asan "build build-asan/ (ASan+UBSan)" --no-packages --no-normal \
                --sanitize && asan_ok=1
        run_setup build-fuzz "build build-fuzz/ (clang, libFuzzer)" --no-packages --no-normal \
                --fuzz && fuzz_ok=1
fi

# ------------------------------------------------------------ unit tests

have_unit_tests() {
        compgen -G "$ROOT/tests/unit/*.c" >/dev/null
}

# run_ctest NAME BUILD_DIR OK [ENV...]
run_ctest() {
        local name="$1" dir="$2" ok="$3" t=$SECONDS log count
        shift 3
        log="$LOGDIR/ctest-$(basename "$dir").log"
        banner "$name"
        if [ "$ok" != 1 ]; then
                record SKIP "$name" 0 "not run: the build failed"
                return
        fi
        count="$(ctest --test-dir "$dir" -N 2>/dev/null | sed -n 's/^Total Tests: //p')"
        if ! have_unit_tests && [ "${count:-0}" = 0 ]; then
                record SKIP "$name" 0 "no unit tests in tests/unit yet"
                return
        fi
        local rc=0 limit note
        limit="$(cap 900)"
        env "$@" timeout -k 30 "$limit" ctest --test-dir "$dir" --output-on-failure \
                --no-tests=error --timeout 300 -j "$(nproc)" 2>&1 | tee "$log" || rc=$?
        note="$(grep -E 'tests passed|tests failed|No tests were found' "$log" | tail -n 1)"
        [ "$rc" = 124 ] && note="killed after $limit s; $note"
        if [ "$rc" = 0 ]; then
                record PASS "$name" $((SECONDS - t)) "$note"
        else
                record FAIL "$name" $((SECONDS - t)) "${note:-ctest exited $rc}"
        fi
}

run_ctest "unit tests, build/ (ctest)" "$ROOT/build" "$normal_ok"
if [ "$quick" = 0 ]; then
        run_ctest "unit tests, build-asan/ (ctest)" "$ROOT/build-asan" "$asan_ok" "${SAN_ENV[@]}"
fi

# ------------------------------------------------------------ system tests

# run_pytest NAME BINARY OK [ENV...]: tests/system against BINARY.  pytest
# runs from tests/system so that the repo root, whose dns/ folder would hide
# dnspython's dns package, is not on sys.path.
run_pytest() {
        local name="$1" bin="$2" ok="$3" t=$SECONDS log
        shift 3
        log="$LOGDIR/pytest-$(basename "$(dirname "$(dirname "$bin")")").log"
        banner "$name"
        if [ "$ok" != 1 ]; then
                record SKIP "$name" 0 "not run: the build failed"
                return
        fi
        if ! compgen -G "$ROOT/tests/system/test_*.py" >/dev/null; then
                record SKIP "$name" 0 "no system tests in tests/system yet"
                return
        fi
        if ! (cd "$ROOT/tests/system" &&
                "$PYTHON" -c 'import dns.message, dns.query, pytest, requests' 2>&1 | tee "$log"); then
                record FAIL "$name" 0 "$PYTHON lacks pytest/dnspython/requests"
                return
        fi
        # Exit 5 (no test collected) is a failure here: test files exist.
        local rc=0 limit note
        limit="$(cap 1200)"
        (cd "$ROOT/tests/system" &&
                env QDNS_BIN="$bin" "$@" timeout -k 30 "$limit" \
                        "$PYTHON" -m pytest -q -rfEs -p no:cacheprovider . 2>&1 | tee "$log") || rc=$?
        note="$(last_line "$log")"
        [ "$rc" = 124 ] && note="killed after $limit s"
        if [ "$rc" = 0 ]; then
                record PASS "$name" $((SECONDS - t)) "$note"
        else
                record FAIL "$name" $((SECONDS - t)) "$note"
        fi
}

run_pytest "system tests, build/ (pytest)" "$ROOT/build/node/quorumdns" "$normal_ok"
if [ "$quick" = 0 ]; then
        run_pytest "system tests, build-asan/ (pytest)" "$ROOT/build-asan/node/quorumdns" \
                "$asan_ok" "${SAN_ENV[@]}"
fi

# ------------------------------------------------------------ fault suite

# tests/faults against the normal binary: nodes in network namespaces,
# partitions, crashes, a full disk, clock jumps (about 2 minutes).
run_faults() {
        local name="fault suite, build/ (pytest, tests/faults)" t=$SECONDS log="$LOGDIR/pytest-faults.log"
        banner "$name"
        if [ "$normal_ok" != 1 ]; then
                record SKIP "$name" 0 "not run: the build failed"
                return
        fi
        local rc=0 limit note
        limit="$(cap 600)"
        (cd "$ROOT/tests/faults" &&
                env QDNS_BIN="$ROOT/build/node/quorumdns" timeout -k 30 "$limit" \
                        "$PYTHON" -m pytest -q -rfEsx -p no:cacheprovider . 2>&1 | tee "$log") || rc=$?
        note="$(last_line "$log")"
        [ "$rc" = 124 ] && note="killed after $limit s"
        if [ "$rc" = 0 ]; then
                record PASS "$name" $((SECONDS - t)) "$note"
        else
                record FAIL "$name" $((SECONDS - t)) "$note"
        fi
}

run_faults

# ------------------------------------------------------------ containers

# tools/compose.sh test: the image built, docker-compose.yml's three nodes
# started (Docker if a daemon answers, else podman's Docker API), a write
# through one node's API read over DNS from another, a container killed and
# rejoining, the monitoring profile's Prometheus (its image built) queried
# for each node's series, then everything removed (the images stay in
# .run/compose/).
# Exit 77 is a skip: the machine cannot run containers (the reason printed).
run_compose() {
        local name="containers: docker-compose stack (tools/compose.sh test)" t=$SECONDS
        local log="$LOGDIR/compose.log" rc=0 limit note
        banner "$name"
        limit="$(cap 1800)"
        timeout -k 60 "$limit" "$ROOT/tools/compose.sh" test 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
                "$ROOT/tools/compose.sh" down >>"$log" 2>&1 || true
        fi
        case "$rc" in
        0) record PASS "$name" $((SECONDS - t)) "$(grep -m 1 '^compose: test passed' "$log" | sed 's/^compose: //')" ;;
        77) record SKIP "$name" $((SECONDS - t)) "$(grep -m 1 '^compose: skip: ' "$log" | sed 's/^compose: skip: //')" ;;
        124 | 137) record FAIL "$name" $((SECONDS - t)) "killed after $limit s; log: $log" ;;
        *)
                note="$(grep '^compose: error: ' "$log" | tail -n 1 | sed 's/^compose: error: //')"
                record FAIL "$name" $((SECONDS - t)) "${note:-exit $rc}; log: $log"
                ;;
        esac
}

run_compose

# ------------------------------------------------------------ fuzzing

# run_fuzz BINARY: one libFuzzer target for $fuzz_time seconds, on a copy of
# its seed corpus (tests/fuzz/corpus/<target>/) so the tree does not change.
run_fuzz() {
        local bin="$1" target t=$SECONDS log corpus art seeds dict=() stats
        target="$(basename "$bin")"
        log="$LOGDIR/$target.log"
        art="$LOGDIR/fuzz-artifacts/$target"
        mkdir -p "$art"
        corpus="$(mktemp -d "${TMPDIR:-/tmp}/qdns-$target.XXXXXX")"
        TMPDIRS+=("$corpus")
        seeds="$ROOT/tests/fuzz/corpus/$target"
        [ -d "$seeds" ] && cp -R "$seeds/." "$corpus/"
        [ -f "$ROOT/tests/fuzz/$target.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$target.dict")
        local limit run=$fuzz_time
        limit="$(cap $((fuzz_time + 300)))"
        [ "$run" -le $((limit - 60)) ] || run=$((limit > 61 ? limit - 60 : 1))
        banner "fuzz $target (${run} s, $(find "$corpus" -type f | wc -l) seeds)"
        if timeout -k 10 "$limit" "$bin" -max_total_time="$run" \
                -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
                -artifact_prefix="$art/" "${dict[@]}" "$corpus" >"$log" 2>&1; then
                stats="$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1)"
                record PASS "fuzz $target" $((SECONDS - t)) "${stats:-done}"
        else
                tail -n 60 "$log"
                local crash
                crash="$(find "$art" -type f | head -n 1)"
                record FAIL "fuzz $target" $((SECONDS - t)) \
                        "${crash:+reproduce: $bin $crash; }log: $log"
        fi
}

if [ "$quick" = 0 ]; then
        targets=()
        # Executables fuzz_* wherever tests/ puts them (tests/ or tests/fuzz/).
        if [ -d "$ROOT/build-fuzz/tests" ]; then
                while IFS= read -r f; do targets+=("$f"); done < <(
                        find "$ROOT/build-fuzz/tests" -maxdepth 2 -type f -name 'fuzz_*' \
                                -perm -u+x ! -path '*/CMakeFiles/*' | sort)
        fi
        if [ "$fuzz_time" = 0 ]; then
                banner "fuzz"
                record SKIP "fuzz" 0 "--fuzz-time 0"
        elif [ "$fuzz_ok" != 1 ]; then
                banner "fuzz"
                record SKIP "fuzz" 0 "not run: the build failed"
        elif [ "${#targets[@]}" -eq 0 ]; then
                banner "fuzz"
                if compgen -G "$ROOT/tests/fuzz/*.c" >/dev/null; then
                        record SKIP "fuzz" 0 "tests/fuzz has sources but no fuzz_* was built in build-fuzz/tests"
                else
                        record SKIP "fuzz" 0 "no fuzz targets in tests/fuzz yet"
                fi
        else
                for f in "${targets[@]}"; do run_fuzz "$f"; done
        fi
fi

finish
