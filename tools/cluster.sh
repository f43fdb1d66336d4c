#!/usr/bin/env bash
# cluster.sh — runs a local N-node quorumdns cluster on loopback: node I on
# 127.0.0.(10+I) with DNS on port 5353 (UDP+TCP), the HTTP API on 8080 and
# raft on 7000.  All nodes get the same static bootstrap list, the same
# admin token (.run/cluster/token, made once, mode 600) and the same DNS
# cookie secret (.run/cluster/cookie.secret, mode 600); data, config, log
# and pid file of node I are in .run/cluster/nI/.  Raft connections are
# authenticated: start makes a cluster CA in .run/cluster/pki/ (once; ca.key
# mode 600) and a certificate for each node naming its id (node-I.crt,
# node-I.key mode 600).  Runs tools/setup.sh first.
#
# Usage: tools/cluster.sh [--no-setup] COMMAND
#   start [N]        start N nodes (default 3, at most 9), wait for a leader,
#                    create the demo zone, print how to use the cluster
#   stop             stop every node (SIGTERM, SIGKILL after 10 s)
#   status           members, roles and leader (from the API) and live pids
#   restart-node I   stop node I gracefully and start it again
#   kill-node I      kill node I with SIGKILL (a crash, for fault tests)
#   logs I [-f]      show node I's log (-f: follow it)
#   rotate-cookie-secret  put a new DNS cookie secret in the shared file; the
#                    nodes read it within seconds and keep accepting cookies
#                    made with the old one for an hour
#   clean            stop everything and delete .run/cluster (all data)
#   --no-setup       do not run tools/setup.sh (packages and build) first
# Environment: QDNS_BIN (default build/node/quorumdns), QDNS_CLUSTER_DIR
# (default .run/cluster), QDNS_CLUSTER_DNS_PORT / _API_PORT / _RAFT_PORT
# (5353 / 8080 / 7000; remembered by start until clean), QDNS_RAFT_TRANSPORT
# (tls, the default, or plaintext: unauthenticated raft, for comparisons),
# QDNS_GEOIP_DB (an .mmdb file every node loads as its --geoip-db;
# remembered by start and restart-node until clean; empty: none).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${QDNS_BIN:-$ROOT/build/node/quorumdns}"
RUN="${QDNS_CLUSTER_DIR:-$ROOT/.run/cluster}"
case "$RUN" in /*) ;; *) RUN="$PWD/$RUN" ;; esac
STATE="$RUN/cluster.env" # N and the ports, written by start
TOKEN_FILE="$RUN/token"
PKI="$RUN/pki" # the cluster CA and the node certificates
RAFT_TRANSPORT="${QDNS_RAFT_TRANSPORT:-tls}"
COOKIE_FILE="$RUN/cookie.secret"
GEOIP_DB="" # from the state, or QDNS_GEOIP_DB (take_geoip_db)
MAX_NODES=9
ZONE=demo.quorumdns.test.
ZONE_FILE="$ROOT/tools/demo/demo.quorumdns.test.zone"
LEADER_TIMEOUT=60 # seconds start waits for a leader
READY_TIMEOUT=30  # seconds start and restart-node wait for a node to be ready
STOP_TIMEOUT=10   # seconds between SIGTERM and SIGKILL

if [ -x /usr/bin/python3 ]; then
        PY=/usr/bin/python3 # Debian's; python3 on PATH may be a pyenv
else
        PY=python3
fi

usage() {
        sed -n '2,28s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

say() { printf 'cluster: %s\n' "$*"; }
warn() { printf 'cluster: warning: %s\n' "$*" >&2; }
die() {
        printf 'cluster: error: %s\n' "$*" >&2
        exit 1
}

# A bad command line: exit 2, as the README's exit-code table says.
usage_die() {
        printf 'cluster: error: %s\n' "$*" >&2
        exit 2
}

# A path as the user should type it: relative to the repo when inside it.
rel() {
        case "$1" in
        "$ROOT"/*) printf '%s' "${1#"$ROOT"/}" ;;
        *) printf '%s' "$1" ;;
        esac
}

# ------------------------------------------------------------------ settings

N="" DNS_PORT="" API_PORT="" RAFT_PORT=""

# Loads N and the ports remembered by start; returns 1 if there are none.
load_state() {
        [ -f "$STATE" ] || return 1
        local key value
        while IFS='=' read -r key value; do
                case "$key" in
                N) N="$value" ;;
                DNS_PORT) DNS_PORT="$value" ;;
                API_PORT) API_PORT="$value" ;;
                RAFT_PORT) RAFT_PORT="$value" ;;
                GEOIP_DB) GEOIP_DB="$value" ;;
                esac
        done <"$STATE"
        is_count "$N" && is_port "$DNS_PORT" && is_port "$API_PORT" && is_port "$RAFT_PORT" ||
                die "$(rel "$STATE") is damaged; run tools/cluster.sh clean"
        return 0
}

save_state() {
        mkdir -p "$RUN"
        printf 'N=%s\nDNS_PORT=%s\nAPI_PORT=%s\nRAFT_PORT=%s\nGEOIP_DB=%s\n' \
                "$N" "$DNS_PORT" "$API_PORT" "$RAFT_PORT" "$GEOIP_DB" >"$STATE.tmp"
        mv "$STATE.tmp" "$STATE"
}

is_count() {
        case "$1" in
        [1-9]) [ "$1" -le "$MAX_NODES" ] ;;
        *) return 1 ;;
        esac
}

is_port() {
        case "$1" in
        '' | *[!0-9]*) return 1 ;;
        *) [ "$1" -ge 1 ] && [ "$1" -le 65535 ] ;;
        esac
}

# Settings of a command that needs an existing cluster (stop, status, ...).
need_state() {
        load_state || die "no cluster in $(rel "$RUN") (start one with tools/cluster.sh start)"
}

# Checks a node number argument against the cluster's size.
node_arg() {
        local i="${1:-}"
        [ -n "$i" ] || die "which node? (a number from 1 to $N)"
        case "$i" in
        n[1-9]) i="${i#n}" ;;
        esac
        case "$i" in
        [1-9]) [ "$i" -le "$N" ] || usage_die "no node $i: the cluster has $N nodes (1..$N)" ;;
        *) usage_die "'$i' is not a node number (1..$N)" ;;
        esac
        echo "$i"
}

ip_of() { echo "127.0.0.$((10 + $1))"; }
dir_of() { echo "$RUN/n$1"; }
conf_of() { echo "$RUN/n$1/quorumdns.conf"; }
pidfile_of() { echo "$RUN/n$1/quorumdns.pid"; }
log_of() { echo "$RUN/n$1/quorumdns.log"; }
api_of() { echo "http://$(ip_of "$1"):$API_PORT"; }

bootstrap_list() {
        local i list=""
        for i in $(seq 1 "$N"); do
                list="${list:+$list,}$i@$(ip_of "$i"):$RAFT_PORT"
        done
        echo "$list"
}

# ----------------------------------------------------------------- processes

# True if PID is a live (not zombie) quorumdns started with node I's config.
is_our_node() {
        local pid="$1" i="$2" state comm cmd t
        # A node on glibc's malloc (a sanitizer build, -DQDNS_JEMALLOC=OFF)
        # execs itself again at start (node/heap.c, for huge pages): while
        # that exec runs, its name reads "exe" and its command line may read
        # empty.
        for t in $(seq 1 40); do
                state="$(ps -o stat= -p "$pid" 2>/dev/null || true)"
                [ -n "$state" ] && [ "${state#Z}" = "$state" ] || return 1
                comm="$(ps -o comm= -p "$pid" 2>/dev/null || true)"
                cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
                case "$comm" in
                quorumdns) [ -n "$cmd" ] && break ;;
                exe) ;;
                *) return 1 ;;
                esac
                sleep 0.05
        done
        [ "$comm" = quorumdns ] || return 1
        case "$cmd" in
        *" $(conf_of "$i") "* | *" $(conf_of "$i")") return 0 ;;
        *) return 1 ;;
        esac
}

# The pid of node I if it runs, else "".  Uses the pid file; if that is
# missing or stale, looks for a quorumdns process running node I's config
# (a pid file lost in a crash must not leave a node nobody can stop).
running_pid() {
        local i="$1" pid f p comm
        f="$(pidfile_of "$i")"
        pid="$(cat "$f" 2>/dev/null || true)"
        case "$pid" in
        '' | *[!0-9]*) pid="" ;;
        esac
        if [ -n "$pid" ] && is_our_node "$pid" "$i"; then
                echo "$pid"
                return 0
        fi
        for p in /proc/[0-9]*; do
                p="${p#/proc/}"
                read -r comm 2>/dev/null <"/proc/$p/comm" || continue
                [ "$comm" = quorumdns ] || continue
                if is_our_node "$p" "$i"; then
                        [ -d "$(dir_of "$i")" ] && echo "$p" >"$f"
                        echo "$p"
                        return 0
                fi
        done
        return 0
}

write_conf() {
        local i="$1" conf
        conf="$(conf_of "$i")"
        (
                umask 077 # the file holds the admin token
                cat >"$conf.tmp" <<EOF
# quorumdns.conf of node $i of a local $N-node cluster, written by
# tools/cluster.sh (rewritten on every start: edit the script, not this file).
node-id $i
node-name n$i
data-dir $(dir_of "$i")/data
listen $(ip_of "$i"):$DNS_PORT
api-listen $(ip_of "$i"):$API_PORT
raft-listen $(ip_of "$i"):$RAFT_PORT
bootstrap $(bootstrap_list)
api-token admin:$(cat "$TOKEN_FILE")
cookie-secret-file $COOKIE_FILE
log-level ${QDNS_LOG_LEVEL:-info}
${GEOIP_DB:+geoip-db $GEOIP_DB}
$(raft_identity "$i")
EOF
                mv "$conf.tmp" "$conf"
        )
}

# Starts node I in the background (if it does not run); its own session, so
# it outlives this script and the terminal's Ctrl-C.
start_node() {
        local i="$1" pid dir log
        pid="$(running_pid "$i")"
        if [ -n "$pid" ]; then
                say "n$i already running (pid $pid)"
                return 0
        fi
        dir="$(dir_of "$i")"
        log="$(log_of "$i")"
        mkdir -p "$dir/data"
        chmod 700 "$dir"
        write_conf "$i"
        printf '==== %s: started by tools/cluster.sh\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
        (cd "$dir" && exec setsid "$BIN" -c "$(conf_of "$i")" </dev/null >>"$log" 2>&1) &
        local child=$! t
        echo "$child" >"$(pidfile_of "$i")"
        disown "$child" 2>/dev/null || true
        # Until the subshell has exec'd, the pid is not yet "quorumdns".
        for t in $(seq 1 40); do
                is_our_node "$child" "$i" && break
                kill -0 "$child" 2>/dev/null || break
                sleep 0.05
        done
}

# Stops the given nodes together: SIGTERM, then SIGKILL for those still up
# after STOP_TIMEOUT seconds.
stop_nodes() {
        local i pid pids=() names=() left
        for i in "$@"; do
                pid="$(running_pid "$i")"
                if [ -n "$pid" ]; then
                        kill -TERM "$pid" 2>/dev/null || true
                        pids+=("$i:$pid")
                        names+=("n$i")
                fi
        done
        if [ "${#pids[@]}" -eq 0 ]; then
                for i in "$@"; do rm -f "$(pidfile_of "$i")"; done
                return 0
        fi
        say "stopping ${names[*]}"
        local end=$((SECONDS + STOP_TIMEOUT + 1)) # SECONDS ticks: at least STOP_TIMEOUT
        while [ "$SECONDS" -lt "$end" ]; do
                left=0
                for i in "${pids[@]}"; do
                        is_our_node "${i#*:}" "${i%%:*}" && left=1
                done
                [ "$left" = 0 ] && break
                sleep 0.1
        done
        for i in "${pids[@]}"; do
                if is_our_node "${i#*:}" "${i%%:*}"; then
                        warn "n${i%%:*} (pid ${i#*:}) still running ${STOP_TIMEOUT} s after SIGTERM; sending SIGKILL"
                        kill -KILL "${i#*:}" 2>/dev/null || true
                fi
        done
        end=$((SECONDS + 3))
        while [ "$SECONDS" -lt "$end" ]; do
                left=0
                for i in "${pids[@]}"; do
                        is_our_node "${i#*:}" "${i%%:*}" && left=1
                done
                [ "$left" = 0 ] && break
                sleep 0.1
        done
        for i in "${pids[@]}"; do
                is_our_node "${i#*:}" "${i%%:*}" && die "could not stop n${i%%:*} (pid ${i#*:})"
                say "stopped n${i%%:*} (pid ${i#*:})"
        done
        for i in "$@"; do rm -f "$(pidfile_of "$i")"; done
}

# Every node directory present, whatever N is (for stop after a damaged state).
all_node_numbers() {
        local d
        for d in "$RUN"/n[1-9]; do
                [ -d "$d" ] && echo "${d##*/n}"
        done
        return 0
}

show_log_tail() {
        local i="$1"
        echo "---- last lines of $(rel "$(log_of "$i")") ----" >&2
        tail -n 25 "$(log_of "$i")" >&2 2>/dev/null || true
        echo "----" >&2
}

# --------------------------------------------------------------------- API

API_CODE="" API_BODY=""

# api I METHOD PATH [curl arguments...]: calls node I's API with the admin
# token; sets API_CODE (000 if it did not answer) and API_BODY; true on 2xx.
api() {
        local i="$1" method="$2" path="$3" out
        shift 3
        out="$(curl -sS -m "${API_TIMEOUT:-10}" -X "$method" -w '\n%{http_code}' \
                -H "Authorization: Bearer $(cat "$TOKEN_FILE")" \
                "$(api_of "$i")$path" "$@" 2>/dev/null)" || out=$'\n000'
        API_CODE="${out##*$'\n'}"
        API_BODY="${out%$'\n'*}"
        case "$API_CODE" in
        2??) return 0 ;;
        *) return 1 ;;
        esac
}

# Reads a /v1/cluster body on stdin; prints "LEADER MEMBERS" (LEADER 0 when
# there is none) or nothing if the body is not what we expect.
leader_and_members() {
        "$PY" -c '
import json, sys
try:
    c = json.load(sys.stdin)
    print(c.get("leader") or 0, len(c.get("members") or []))
except Exception:
    pass
'
}

# Waits until some node reports a leader and all N members; dies with the
# logs if a node exits or the time runs out.
wait_leader() {
        local i got leader members start=$SECONDS
        while [ $((SECONDS - start)) -lt "$LEADER_TIMEOUT" ]; do
                for i in $(seq 1 "$N"); do
                        if [ -z "$(running_pid "$i")" ]; then
                                show_log_tail "$i"
                                die "n$i exited (log: $(rel "$(log_of "$i")")); is $(ip_of "$i") port $DNS_PORT, $API_PORT or $RAFT_PORT in use?"
                        fi
                done
                for i in $(seq 1 "$N"); do
                        API_TIMEOUT=3 api "$i" GET /v1/cluster || continue
                        got="$(printf '%s' "$API_BODY" | leader_and_members)"
                        leader="${got%% *}" members="${got##* }"
                        if [ -n "$got" ] && [ "$leader" != 0 ] && [ "$members" -ge "$N" ]; then
                                say "leader elected: n$leader ($members member$([ "$members" = 1 ] || echo s)) after $((SECONDS - start)) s"
                                return 0
                        fi
                        break
                done
                sleep 0.25
        done
        for i in $(seq 1 "$N"); do show_log_tail "$i"; done
        die "no leader with $N members after $LEADER_TIMEOUT s (last answer: HTTP $API_CODE ${API_BODY:-nothing})"
}

# A small zone if tools/demo has none.
fallback_zone() {
        cat <<EOF
\$ORIGIN $ZONE
\$TTL 300
@    SOA  ns1 hostmaster 1 7200 900 1209600 300
@    NS   ns1
ns1  A    192.0.2.53
www  A    192.0.2.10
www  AAAA 2001:db8::10
EOF
}

# Prints an API error body briefly: the message and the first few problems.
brief_error() {
        "$PY" -c '
import json, sys
text = sys.stdin.read()
try:
    e = json.loads(text)["error"]
    out = "%s: %s" % (e.get("code"), e.get("message"))
    errs = e.get("errors") or []
    for x in errs[:3]:
        out += "\n    %s: %s" % (x.get("field"), x.get("message"))
    if len(errs) > 3:
        out += "\n    ... and %d more" % (len(errs) - 3)
    print(out)
except Exception:
    print(text[:500])
'
}

# Retries an API call while the cluster has no leader (503) or the node does
# not answer; true on 2xx.  Arguments as for api.
api_retry() {
        local t
        for t in $(seq 1 40); do
                api "$@" && return 0
                case "$API_CODE" in 503 | 000) sleep 0.25 ;; *) return 1 ;; esac
        done
        return 1
}

# Creates the demo zone through the API and imports its content.  A zone
# that already has records beyond SOA and NS is left alone: a restart must
# not undo the user's changes.  Sets DEMO_FAILED=1 if the zone could not be
# filled (the cluster itself is fine then).
DEMO_FAILED=0
create_demo_zone() {
        local i="$1" count
        if api_retry "$i" GET "/v1/zones/$ZONE"; then
                count="$(printf '%s' "$API_BODY" | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("record_set_count", 0))' 2>/dev/null || echo 0)"
                if [ "${count:-0}" -gt 2 ]; then
                        say "zone $ZONE exists ($count record sets); left as it is"
                        return 0
                fi
        elif [ "$API_CODE" = 404 ]; then
                if ! api_retry "$i" POST /v1/zones -H 'Content-Type: application/json' \
                        --data "{\"name\":\"$ZONE\",\"comment\":\"demo zone of tools/cluster.sh\"}" &&
                        [ "$API_CODE" != 409 ]; then
                        die "creating zone $ZONE on n$i: HTTP $API_CODE $(printf '%s' "$API_BODY" | brief_error)"
                fi
        else
                die "GET /v1/zones/$ZONE on n$i: HTTP $API_CODE $(printf '%s' "$API_BODY" | brief_error)"
        fi
        local src="$ZONE_FILE"
        if [ ! -f "$src" ]; then
                src="$RUN/demo.zone"
                fallback_zone >"$src"
        fi
        if ! api_retry "$i" POST "/v1/zones/$ZONE/import?replace=true" \
                -H 'Content-Type: text/dns' --data-binary "@$src"; then
                warn "importing $(rel "$src") into $ZONE on n$i failed: HTTP $API_CODE $(printf '%s' "$API_BODY" | brief_error)"
                DEMO_FAILED=1
                return 0
        fi
        say "zone $ZONE filled from $(rel "$src")"
}

# Waits until every node answers the zone's SOA over DNS.
wait_zone_everywhere() {
        local i end=$((SECONDS + 20))
        for i in $(seq 1 "$N"); do
                until dig @"$(ip_of "$i")" -p "$DNS_PORT" "$ZONE" SOA +noall +answer +time=1 +tries=1 2>/dev/null |
                        grep -q '[[:space:]]SOA[[:space:]]'; do
                        if [ "$SECONDS" -ge "$end" ]; then
                                show_log_tail "$i"
                                die "n$i does not answer for $ZONE on $(ip_of "$i"):$DNS_PORT after 20 s"
                        fi
                        sleep 0.25
                done
        done
}

# Waits until each of the given nodes says it is ready in GET /v1/health:
# restored, registered in the member table, a leader known, not lagging.
# After READY_TIMEOUT seconds, shows the node's reason and log tail and
# fails.
wait_ready() {
        local i state end=$((SECONDS + READY_TIMEOUT))
        for i in "$@"; do
                while :; do
                        state="$(readiness "$i")"
                        [ "$state" = ready ] && break
                        if [ -z "$(running_pid "$i")" ]; then
                                show_log_tail "$i"
                                die "n$i exited (log: $(rel "$(log_of "$i")"))"
                        fi
                        if [ "$SECONDS" -ge "$end" ]; then
                                show_log_tail "$i"
                                warn "n$i runs but is $state after $READY_TIMEOUT s"
                                return 1
                        fi
                        sleep 0.25
                done
        done
}

# ------------------------------------------------------------------ commands

run_setup() {
        [ "$no_setup" = 1 ] && return 0
        "$ROOT/tools/setup.sh"
}

check_tools() {
        [ -x "$BIN" ] || die "$(rel "$BIN") not found or not executable (run tools/setup.sh, or drop --no-setup)"
        "$BIN" --help 2>&1 | grep -q -- '--raft-listen' ||
                die "$(rel "$BIN") has no cluster mode (no --raft-listen in its --help); rebuild with tools/setup.sh"
        command -v curl >/dev/null || die "curl not found (apt-get install curl)"
        command -v dig >/dev/null || die "dig not found (apt-get install bind9-dnsutils)"
        command -v setsid >/dev/null || die "setsid not found (package util-linux)"
        "$PY" -c 'import json' 2>/dev/null || die "python3 not found"
}

# The config lines of node I's identity (or of the plaintext transport).
raft_identity() {
        if [ "$RAFT_TRANSPORT" = plaintext ]; then
                echo "raft-transport plaintext"
        else
                printf 'node-ca %s\nnode-cert %s\nnode-key %s\n' "$PKI/ca.crt" \
                        "$PKI/node-$1.crt" "$PKI/node-$1.key"
        fi
}

# The cluster CA (made once) and a certificate for each of the N nodes.
make_pki() {
        local i
        [ "$RAFT_TRANSPORT" = plaintext ] && return 0
        if [ ! -s "$PKI/ca.crt" ]; then
                "$BIN" ca init "$PKI" >/dev/null || die "cannot make the cluster CA in $(rel "$PKI")"
                say "cluster CA made in $(rel "$PKI") (ca.key mode 600)"
        fi
        for i in $(seq 1 "$N"); do
                [ -s "$PKI/node-$i.crt" ] && continue
                "$BIN" ca issue "$PKI" --node-id "$i" --ip "$(ip_of "$i")" >/dev/null ||
                        die "cannot issue node $i's certificate"
        done
}

make_token() {
        [ -s "$TOKEN_FILE" ] && return 0
        mkdir -p "$RUN"
        (
                umask 077
                od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$TOKEN_FILE.tmp"
                mv "$TOKEN_FILE.tmp" "$TOKEN_FILE"
        )
        say "admin token generated in $(rel "$TOKEN_FILE") (mode 600)"
}

# A new DNS cookie secret (16 random bytes in hex) as the file's only line.
new_cookie_secret() {
        mkdir -p "$RUN"
        (
                umask 077
                od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$COOKIE_FILE.tmp"
                echo >>"$COOKIE_FILE.tmp"
                mv "$COOKIE_FILE.tmp" "$COOKIE_FILE"
        )
}

make_cookie_secret() {
        [ -s "$COOKIE_FILE" ] && return 0
        new_cookie_secret
        say "DNS cookie secret generated in $(rel "$COOKIE_FILE") (mode 600, shared by the nodes)"
}

cmd_rotate_cookie_secret() {
        [ -s "$COOKIE_FILE" ] || die "no cookie secret in $(rel "$RUN") (start a cluster first)"
        new_cookie_secret
        say "new DNS cookie secret in $(rel "$COOKIE_FILE"); the nodes read it within a few seconds"
}

# QDNS_GEOIP_DB, when set, replaces the remembered database (absolute).
take_geoip_db() {
        [ -n "${QDNS_GEOIP_DB+x}" ] || return 0
        GEOIP_DB="$QDNS_GEOIP_DB"
        if [ -n "$GEOIP_DB" ]; then
                [ -f "$GEOIP_DB" ] || die "QDNS_GEOIP_DB: no file $GEOIP_DB"
                case "$GEOIP_DB" in /*) ;; *) GEOIP_DB="$PWD/$GEOIP_DB" ;; esac
        fi
}

cmd_start() {
        local want="${1:-}" i
        if [ -n "$want" ] && ! is_count "$want"; then
                usage_die "N must be a number from 1 to $MAX_NODES, not '$want'"
        fi
        if load_state; then
                if [ -n "$want" ] && [ "$want" != "$N" ]; then
                        die "a $N-node cluster already exists in $(rel "$RUN"); to start a $want-node cluster, remove it first with tools/cluster.sh clean (deletes its data)"
                fi
        else
                # A new cluster: nothing of an old one may remain, or its raft
                # data would disagree with the new bootstrap list.
                for i in $(all_node_numbers); do
                        [ -d "$(dir_of "$i")/data" ] &&
                                die "$(rel "$RUN") holds node data but no cluster.env; remove it with tools/cluster.sh clean"
                done
                N="${want:-3}"
                DNS_PORT="${QDNS_CLUSTER_DNS_PORT:-5353}"
                API_PORT="${QDNS_CLUSTER_API_PORT:-8080}"
                RAFT_PORT="${QDNS_CLUSTER_RAFT_PORT:-7000}"
                is_port "$DNS_PORT" && is_port "$API_PORT" && is_port "$RAFT_PORT" ||
                        die "QDNS_CLUSTER_*_PORT must be port numbers"
                [ "$DNS_PORT" != "$API_PORT" ] && [ "$API_PORT" != "$RAFT_PORT" ] ||
                        die "the API port must differ from the DNS and raft ports"
        fi
        take_geoip_db
        run_setup
        check_tools
        mkdir -p "$RUN"
        chmod 700 "$RUN"
        save_state
        make_token
        case "$RAFT_TRANSPORT" in
        tls | plaintext) ;;
        *) die "QDNS_RAFT_TRANSPORT must be tls or plaintext, not '$RAFT_TRANSPORT'" ;;
        esac
        make_pki
        make_cookie_secret
        local started=0
        for i in $(seq 1 "$N"); do
                if [ -z "$(running_pid "$i")" ]; then
                        start_node "$i"
                        started=$((started + 1))
                fi
        done
        if [ "$started" = 0 ]; then
                say "all $N nodes already running"
        else
                say "started $started node(s); waiting for a leader"
        fi
        wait_leader
        create_demo_zone 1
        wait_zone_everywhere
        wait_ready $(seq 1 "$N") || die "the cluster runs but not every node is ready; tools/cluster.sh status shows why"
        print_usage
        if [ "$DEMO_FAILED" = 1 ]; then
                die "the cluster runs, but the demo zone could not be imported (see the warning above); tools/cluster.sh stop stops it"
        fi
}

print_usage() {
        local i z="${ZONE%.}" a=2 b=3 tok
        [ "$N" -ge 2 ] || a=1
        [ "$N" -ge 3 ] || b="$N"
        tok="$(rel "$TOKEN_FILE")"
        cat <<EOF

quorumdns: a $N-node cluster is running (data, config, logs: $(rel "$RUN")/nI/)
  node  DNS (UDP+TCP)          API                       raft
EOF
        for i in $(seq 1 "$N"); do
                printf '  n%-3s  %-21s  %-24s  %s\n' "$i" "$(ip_of "$i"):$DNS_PORT" \
                        "$(api_of "$i")" "$(ip_of "$i"):$RAFT_PORT"
        done
        printf '\nAsk any node (each answers from its own replica):\n'
        for i in $(seq 1 "$N"); do
                printf '  dig @%s -p %s www.%s A +short\n' "$(ip_of "$i")" "$DNS_PORT" "$z"
        done
        cat <<EOF

Change a record on n$a ($([ "$N" -ge 2 ] && echo "a follower forwards the change to the leader" || echo "the only node: it leads")) ...
  curl -sS -X POST $(api_of "$a")/v1/zones/$ZONE/changes \\
    -H "Authorization: Bearer \$(cat $tok)" -H 'Content-Type: application/json' \\
    -d '{"comment":"demo","changes":[{"action":"UPSERT","rrset":{"name":"www.$ZONE","type":"A","ttl":60,"records":["192.0.2.99"]}}]}'
... and see it on n$b:
  dig @$(ip_of "$b") -p $DNS_PORT www.$z A +short

The cluster: curl -sS -H "Authorization: Bearer \$(cat $tok)" $(api_of 1)/v1/cluster
Status: tools/cluster.sh status    Crash a node: tools/cluster.sh kill-node 1
Restart one: tools/cluster.sh restart-node 1    Stop all: tools/cluster.sh stop
EOF
}

# Prints the /v1/cluster body on stdin as a table.
print_cluster() {
        # $1: the ids of this cluster's nodes that are not running
        DOWN="${1:-}" "$PY" -c '
import json, os, sys
c = json.load(sys.stdin)
down = {int(x) for x in os.environ.get("DOWN", "").split()}
members = c.get("members") or []
leader = c.get("leader")
names = {m.get("id"): m.get("name") or "n%s" % m.get("id") for m in members}
by_id = {m.get("id"): m for m in members}
if leader:
    lm = by_id.get(leader, {})
    gone = leader in down or lm.get("reachable") is False
    print("leader: %s (id %s), term %s, commit index %s%s" % (
        names.get(leader, "?"), leader, c.get("term"), c.get("commit_index"),
        " -- last known, now %s: an election is under way" % (
            "not running" if leader in down else "unreachable") if gone else ""))
else:
    print("leader: none (no quorum or an election in progress), term %s" % c.get("term"))
print("members: %d" % len(members))
print("  %-4s %-6s %-8s %-21s %-21s %-21s %-9s %s" % (
    "id", "name", "role", "raft", "api", "dns", "applied", "reachable"))
for m in members:
    role = m.get("role", "?")
    if m.get("id") == leader:
        role += "*"
    r = m.get("reachable")
    if m.get("id") in down:
        reach = "no (not running)"
    elif r is None:
        reach = "-"
    else:
        reach = "yes" if r else "no"
    applied = str(m.get("applied_index", ""))
    if m.get("stale"):
        ago = m.get("seen_ms_ago")
        applied += " (stale%s)" % ("" if ago is None else ", %.1f s old" % (ago / 1000))
    print("  %-4s %-6s %-8s %-21s %-21s %-21s %-9s %s" % (
        m.get("id"), m.get("name", ""), role, m.get("raft", ""), m.get("api", ""),
        m.get("dns", ""), applied, reach))
print("  (* = leader)")
'
}

# "ready", or "not ready: REASON" from the node's GET /v1/health.
readiness() {
        local body
        body="$(curl -sS -m 2 "$(api_of "$1")/v1/health" 2>/dev/null)" || true
        printf '%s' "$body" | "$PY" -c '
import json, sys
try:
    h = json.load(sys.stdin)
    print("ready" if h.get("ready") else "not ready: %s" % h.get("reason", "?"))
except Exception:
    print("API not answering")
'
}

cmd_status() {
        if ! load_state; then
                say "no cluster in $(rel "$RUN") (start one with tools/cluster.sh start)"
                return 3
        fi
        local i pid alive=0 from="" down=""
        say "$N-node cluster in $(rel "$RUN") (DNS :$DNS_PORT, API :$API_PORT, raft :$RAFT_PORT)"
        for i in $(seq 1 "$N"); do
                pid="$(running_pid "$i")"
                if [ -n "$pid" ]; then
                        alive=$((alive + 1))
                        printf '  n%-2s %-12s running (pid %s), %s\n' "$i" "$(ip_of "$i")" \
                                "$pid" "$(readiness "$i")"
                else
                        down="$down $i"
                        printf '  n%-2s %-12s not running\n' "$i" "$(ip_of "$i")"
                fi
        done
        # Extra node directories (a larger cluster's leftovers) are not ours.
        if [ "$alive" = 0 ]; then
                say "no node is running (start them with tools/cluster.sh start)"
                return 3
        fi
        for i in $(seq 1 "$N"); do
                [ -n "$(running_pid "$i")" ] || continue
                if API_TIMEOUT=3 api "$i" GET /v1/cluster; then
                        from="$i"
                        break
                fi
        done
        if [ -z "$from" ]; then
                warn "no running node answered GET /v1/cluster (last: HTTP $API_CODE ${API_BODY:-no answer})"
                return 1
        fi
        printf 'API of n%s says:\n' "$from"
        printf '%s' "$API_BODY" | print_cluster "$down" ||
                die "unexpected answer from GET /v1/cluster: $API_BODY"
        return 0
}

cmd_stop() {
        load_state || true
        local nodes
        nodes="$(all_node_numbers | tr '\n' ' ')"
        if [ -z "${nodes// /}" ]; then
                say "no cluster in $(rel "$RUN"); nothing to stop"
                return 0
        fi
        local any=0 i
        for i in $nodes; do
                [ -n "$(running_pid "$i")" ] && any=1
        done
        if [ "$any" = 0 ]; then
                for i in $nodes; do rm -f "$(pidfile_of "$i")"; done
                say "no node is running"
                return 0
        fi
        # shellcheck disable=SC2086 # one word per node
        stop_nodes $nodes
        if [ "${1:-}" = --cleaning ]; then
                say "all nodes stopped"
        else
                say "all nodes stopped (data kept in $(rel "$RUN"); tools/cluster.sh clean deletes it)"
        fi
}

cmd_restart_node() {
        need_state
        local i pid t
        i="$(node_arg "${1:-}")" || exit $?
        take_geoip_db
        save_state
        run_setup
        check_tools
        stop_nodes "$i"
        start_node "$i"
        for t in $(seq 1 80); do
                if [ -z "$(running_pid "$i")" ]; then
                        show_log_tail "$i"
                        die "n$i exited right after starting (log: $(rel "$(log_of "$i")"))"
                fi
                curl -fsS -m 2 "$(api_of "$i")/v1/health" >/dev/null 2>&1 && break
                if [ "$t" = 80 ]; then
                        show_log_tail "$i"
                        die "n$i runs (pid $(running_pid "$i")) but its API does not answer after 20 s"
                fi
                sleep 0.25
        done
        wait_ready "$i" || true
        say "n$i restarted (pid $(running_pid "$i")): $(curl -sS -m 2 "$(api_of "$i")/v1/health" 2>/dev/null || true)"
}

cmd_kill_node() {
        need_state
        local i pid t
        i="$(node_arg "${1:-}")" || exit $?
        pid="$(running_pid "$i")"
        if [ -z "$pid" ]; then
                rm -f "$(pidfile_of "$i")"
                say "n$i is not running"
                return 0
        fi
        kill -KILL "$pid" 2>/dev/null || true
        for t in $(seq 1 50); do
                is_our_node "$pid" "$i" || break
                sleep 0.1
        done
        is_our_node "$pid" "$i" && die "n$i (pid $pid) survived SIGKILL"
        rm -f "$(pidfile_of "$i")"
        say "killed n$i (pid $pid) with SIGKILL; start it again with tools/cluster.sh restart-node $i"
}

cmd_logs() {
        need_state
        local i follow=0 log
        i="$(node_arg "${1:-}")" || exit $?
        case "${2:-}" in
        '') ;;
        -f | --follow) follow=1 ;;
        *) die "logs: unknown option '$2' (only -f)" ;;
        esac
        log="$(log_of "$i")"
        [ -f "$log" ] || die "n$i has no log yet ($(rel "$log"))"
        if [ "$follow" = 1 ]; then
                exec tail -n 50 -F "$log"
        fi
        tail -n 200 "$log"
}

cmd_clean() {
        cmd_stop --cleaning
        if [ -d "$RUN" ]; then
                rm -rf "$RUN"
                say "removed $(rel "$RUN")"
        fi
}

# -------------------------------------------------------------------- main

no_setup=0
args=()
for arg in "$@"; do
        case "$arg" in
        --no-setup) no_setup=1 ;;
        -h | --help)
                usage
                exit 0
                ;;
        *) args+=("$arg") ;;
        esac
done
set -- "${args[@]+"${args[@]}"}"

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
start)
        [ $# -le 1 ] || usage_die "start takes at most one argument (N)"
        cmd_start "$@"
        ;;
stop)
        [ $# -eq 0 ] || die "stop takes no argument"
        cmd_stop
        ;;
status)
        [ $# -eq 0 ] || die "status takes no argument"
        cmd_status
        ;;
restart-node)
        [ $# -eq 1 ] || usage_die "usage: tools/cluster.sh restart-node I"
        cmd_restart_node "$1"
        ;;
kill-node)
        [ $# -eq 1 ] || usage_die "usage: tools/cluster.sh kill-node I"
        cmd_kill_node "$1"
        ;;
logs)
        [ $# -ge 1 ] && [ $# -le 2 ] || usage_die "usage: tools/cluster.sh logs I [-f]"
        cmd_logs "$@"
        ;;
rotate-cookie-secret)
        [ $# -eq 0 ] || die "rotate-cookie-secret takes no argument"
        cmd_rotate_cookie_secret
        ;;
clean)
        [ $# -eq 0 ] || die "clean takes no argument"
        cmd_clean
        ;;
'')
        usage >&2
        exit 2
        ;;
*)
        printf 'cluster: error: unknown command %s\n' "'$command'" >&2
        usage >&2
        exit 2
        ;;
esac
