#!/bin/sh
# stop_bench.sh — a follower's stop time with a vote round in flight to a
# paused leader (tests/system/test_shutdown.py, plaintext transport), two
# quorumdns binaries alternated RUNS times in one invocation.  A binary that
# waits for the call fails the test's 1 s bound; its time is printed anyway.
#
# Usage: tools/bench/stop_bench.sh BASELINE_BIN CANDIDATE_BIN [RUNS]
#   flock /tmp/qdns-bench.lock nice -n -10 tools/bench/stop_bench.sh \
#     /work/main/build/node/quorumdns "$PWD/build/node/quorumdns" 4
set -eu
base=$1 cand=$2 runs=${3:-4}
cd "$(dirname "$0")/../../tests/system"
i=1
while [ "$i" -le "$runs" ]; do
        for bin in "$base" "$cand"; do
                out=$(QDNS_BIN=$bin timeout 120 python3 -m pytest -q -s test_shutdown.py \
                        -k "votes_in_flight and plaintext" 2>&1 || true)
                t=$(echo "$out" | grep -oE "stopped in [0-9]+ ms|took [0-9.]+ s to stop" |
                        head -1)
                echo "$(date -u +%H:%M:%S) run $i $bin: ${t:-no figure}"
        done
        i=$((i + 1))
done
uptime
