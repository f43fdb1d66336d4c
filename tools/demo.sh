#!/usr/bin/env bash
# demo.sh — runs a quorumdns node in the background on 127.0.0.1:5353 serving
# the demo zone tools/demo/demo.quorumdns.test.zone, and shows how to query
# it.  (A single node for now; the replicated cluster comes later.)  Runs
# tools/setup.sh first.  Everything it writes is under .run/demo/ in the repo.
#
# Usage: tools/demo.sh [start|stop|status|restart]     (default: start)
#   start     set up, build, (re)start the node, wait until it answers
#   stop      stop the node started by start (through its pid file)
#   status    say whether it runs and answers (exit 0 running, 3 not)
# Environment: QDNS_DEMO_PORT=N listens on 127.0.0.1:N instead of 5353.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/build/node/quorumdns"
CONF=tools/demo/quorumdns.conf # relative to ROOT, where the node runs
ZONE=demo.quorumdns.test
HOST=127.0.0.1
PORT="${QDNS_DEMO_PORT:-5353}"
RUNDIR="$ROOT/.run/demo"
PIDFILE="$RUNDIR/quorumdns.pid"
LOG="$RUNDIR/quorumdns.log"

usage() {
        sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

say() { printf 'demo: %s\n' "$*"; }
die() {
        printf 'demo: error: %s\n' "$*" >&2
        exit 1
}

# The pid from the pid file if that process is a live quorumdns, else "".
running_pid() {
        local pid state
        [ -f "$PIDFILE" ] || return 0
        pid="$(cat "$PIDFILE" 2>/dev/null || true)"
        case "$pid" in
        '' | *[!0-9]*) return 0 ;;
        esac
        state="$(ps -o stat= -p "$pid" 2>/dev/null || true)"
        # Gone, or a zombie waiting for its (new) parent to reap it.
        [ -n "$state" ] && [ "${state#Z}" = "$state" ] || return 0
        # A recycled pid that is not ours.
        [ "$(ps -o comm= -p "$pid" 2>/dev/null || true)" = quorumdns ] || return 0
        echo "$pid"
}

# True when the node gives the zone's SOA (a timeout prints text too).
answers() {
        dig @"$HOST" -p "$PORT" "$ZONE" SOA +noall +answer +time=1 +tries=1 2>/dev/null |
                grep -q '[[:space:]]SOA[[:space:]]'
}

stop() {
        local pid i
        pid="$(running_pid)"
        if [ -z "$pid" ]; then
                rm -f "$PIDFILE"
                say "not running"
                return 0
        fi
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do
                [ -n "$(running_pid)" ] || break
                [ "$i" = 100 ] || sleep 0.1
        done
        if [ -n "$(running_pid)" ]; then
                say "pid $pid did not stop within 10 s of SIGTERM; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                sleep 0.2
        fi
        rm -f "$PIDFILE"
        say "stopped quorumdns (pid $pid)"
}

status() {
        local pid
        pid="$(running_pid)"
        if [ -z "$pid" ]; then
                say "not running (start it with tools/demo.sh)"
                return 3
        fi
        if answers; then
                say "running (pid $pid), answering for $ZONE on $HOST:$PORT; log: ${LOG#"$ROOT"/}"
        else
                say "running (pid $pid) but not answering on $HOST:$PORT; log: ${LOG#"$ROOT"/}"
        fi
        return 0
}

start() {
        "$ROOT/tools/setup.sh"
        [ -x "$BIN" ] || die "$BIN was not built"
        command -v dig >/dev/null || die "dig not found (package bind9-dnsutils)"
        mkdir -p "$RUNDIR"
        if [ -n "$(running_pid)" ]; then
                stop
        fi
        cd "$ROOT"
        # setsid: the node outlives this script and the terminal's Ctrl-C.
        setsid "$BIN" -c "$CONF" --listen "$HOST:$PORT" </dev/null >"$LOG" 2>&1 &
        local pid=$! i
        echo "$pid" >"$PIDFILE"
        for i in $(seq 1 100); do
                if ! kill -0 "$pid" 2>/dev/null; then
                        rm -f "$PIDFILE"
                        cat "$LOG" >&2
                        die "quorumdns exited before answering (is $HOST:$PORT in use? try QDNS_DEMO_PORT=N)"
                fi
                answers && break
                if [ "$i" = 100 ]; then
                        cat "$LOG" >&2
                        stop
                        die "quorumdns did not answer on $HOST:$PORT within 10 s"
                fi
                sleep 0.1
        done
        cat <<EOF
demo: quorumdns (pid $pid) serves $ZONE on $HOST:$PORT (UDP and TCP)
demo:   command: build/node/quorumdns -c $CONF --listen $HOST:$PORT
demo:   zone:    tools/demo/$ZONE.zone
demo:   log:     .run/demo/quorumdns.log

Ask it something:
EOF
        local q d
        while IFS='|' read -r q d; do
                printf '  %-62s # %s\n' "dig @$HOST -p $PORT $q" "$d"
        done <<EOF
$ZONE SOA|the zone apex
www.$ZONE A|three addresses
$ZONE MX|mail exchangers, their addresses in ADDITIONAL
$ZONE TXT|SPF and a verification string
blog.$ZONE A|CNAME chain blog -> shop -> www
anything.apps.$ZONE A|synthesised from the wildcard *.apps
_sip._udp.$ZONE SRV|SRV, the targets' addresses in ADDITIONAL
www.eu.$ZONE A|referral to a child zone, with glue
nope.$ZONE A|NXDOMAIN, with the SOA
www.$ZONE AAAA +tcp|over TCP
example.com A|not our zone: REFUSED
EOF
        printf '\nRight now, www.%s A is:\n' "$ZONE"
        dig @"$HOST" -p "$PORT" "www.$ZONE" A +short | sed 's/^/  /'
        cat <<EOF

Status: tools/demo.sh status     Stop: tools/demo.sh stop
Reload the zone after editing it: kill -HUP \$(cat .run/demo/quorumdns.pid)
EOF
}

case "${1:-start}" in
start | restart) start ;;
stop) stop ;;
status) status ;;
-h | --help) usage ;;
*)
        usage >&2
        exit 2
        ;;
esac
