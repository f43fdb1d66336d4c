#!/bin/sh
# entrypoint.sh — the container's entrypoint: writes the node's config file
# from QDNS_* environment variables and starts quorumdns in cluster mode as
# the unprivileged user quorumdns (keeping only CAP_NET_BIND_SERVICE, for
# port 53).  Arguments starting with "-" are passed on to quorumdns; any other
# command (`docker run IMAGE bash`) is run instead of the node.
#
#   QDNS_NODE_ID         this node's id, 1, 2, ... (required)
#   QDNS_NODE_NAME       its name (default nID)
#   QDNS_BOOTSTRAP       initial voters ID@IP:PORT,... (the same on every node)
#   QDNS_JOIN            or: the API URL of a member to join through, and
#   QDNS_JOIN_ROLE       voter or standby
#   QDNS_ADMIN_TOKEN     admin API token (or QDNS_ADMIN_TOKEN_FILE, a secret)
#   QDNS_READ_TOKEN      read-only API token (or QDNS_READ_TOKEN_FILE)
#   QDNS_IP              this container's address (default: the address its
#                        host name resolves to); the defaults below use it
#   QDNS_DNS_LISTEN      DNS addresses, space-separated (default QDNS_IP:53)
#   QDNS_API_LISTEN      API address (default QDNS_IP:8080)
#   QDNS_RAFT_LISTEN     raft address (default QDNS_IP:7000; must be the one
#                        in QDNS_BOOTSTRAP)
#   QDNS_COOKIE_SECRET   DNS cookie secrets shared by every node: 32 hex
#                        digits each, comma-separated; the first makes
#                        cookies, the others are still accepted (rotation)
#   QDNS_COOKIE_SECRET_FILE  or: a file of them, one per line (a mounted
#                        secret), read again by the node whenever it changes
#   QDNS_LOG_LEVEL       error, warn, info (default) or debug
#   QDNS_CONFIG_FILE     more "key value" lines appended to the config
#   QDNS_DATA_DIR        data directory (default /var/lib/quorumdns, a volume)
#   QDNS_NODE_CA         the cluster CA certificate, this node's certificate and
#   QDNS_NODE_CERT       key (default /etc/quorumdns/pki/ca.crt, node.crt and
#   QDNS_NODE_KEY        node.key, as the compose file's pki service makes them)
#   QDNS_RAFT_TRANSPORT  tls (default) or plaintext (unauthenticated raft: any
#                        host that reaches port 7000 can change every zone)
set -eu

case "${1:-}" in
'' | -*) ;;
*) exec "$@" ;;
esac

BIN=${QDNS_BIN:-/usr/local/bin/quorumdns}
DATA=${QDNS_DATA_DIR:-/var/lib/quorumdns}
RUNDIR=${QDNS_RUN_DIR:-/run/quorumdns}
RUN_USER=${QDNS_USER-quorumdns} # empty: do not change user

die() {
        echo "quorumdns-entrypoint: error: $*" >&2
        exit 1
}

# One config value: no line breaks, no blanks (the file is "key value" lines).
check_word() { # NAME VALUE
        case "$2" in
        *[[:space:]]*) die "$1 must not contain spaces or line breaks" ;;
        esac
}

if [ -n "${QDNS_ADMIN_TOKEN_FILE:-}" ]; then
        QDNS_ADMIN_TOKEN=$(cat "$QDNS_ADMIN_TOKEN_FILE") || die "cannot read QDNS_ADMIN_TOKEN_FILE=$QDNS_ADMIN_TOKEN_FILE"
fi
if [ -n "${QDNS_READ_TOKEN_FILE:-}" ]; then
        QDNS_READ_TOKEN=$(cat "$QDNS_READ_TOKEN_FILE") || die "cannot read QDNS_READ_TOKEN_FILE=$QDNS_READ_TOKEN_FILE"
fi
COOKIE_SECRET=${QDNS_COOKIE_SECRET:-}
COOKIE_SECRET_FILE=${QDNS_COOKIE_SECRET_FILE:-}
check_word QDNS_COOKIE_SECRET "$COOKIE_SECRET"
check_word QDNS_COOKIE_SECRET_FILE "$COOKIE_SECRET_FILE"
ADMIN_TOKEN=${QDNS_ADMIN_TOKEN:-}
READ_TOKEN=${QDNS_READ_TOKEN:-}
CONFIG_FILE=${QDNS_CONFIG_FILE:-}
if [ -n "$CONFIG_FILE" ] && [ ! -r "$CONFIG_FILE" ]; then
        die "QDNS_CONFIG_FILE=$CONFIG_FILE is not readable"
fi

NODE_ID=${QDNS_NODE_ID:-}
case "$NODE_ID" in
'' | *[!0-9]* | 0) die "set QDNS_NODE_ID to this node's id (1, 2, ...)" ;;
esac
if [ -z "${QDNS_BOOTSTRAP:-}${QDNS_JOIN:-}$CONFIG_FILE" ]; then
        die "set QDNS_BOOTSTRAP (the initial voters ID@IP:PORT,..., the same on every node) or QDNS_JOIN (the API URL of a member)"
fi
if [ -z "$ADMIN_TOKEN$CONFIG_FILE" ]; then
        die "set QDNS_ADMIN_TOKEN (or QDNS_ADMIN_TOKEN_FILE) to the admin API token shared by the nodes"
fi
check_word QDNS_ADMIN_TOKEN "$ADMIN_TOKEN"
check_word QDNS_READ_TOKEN "$READ_TOKEN"
for t in "$ADMIN_TOKEN" "$READ_TOKEN"; do
        if [ -n "$t" ] && { [ "${#t}" -lt 8 ] || [ "${#t}" -gt 127 ]; }; then
                die "API tokens must have 8 to 127 characters"
        fi
done
check_word QDNS_BOOTSTRAP "${QDNS_BOOTSTRAP:-}"
check_word QDNS_JOIN "${QDNS_JOIN:-}"

IP=${QDNS_IP:-}
if [ -z "$IP" ]; then
        IP=$(getent ahostsv4 "$(cat /proc/sys/kernel/hostname)" | {
                read -r first _ || true
                echo "${first:-}"
        })
        [ -n "$IP" ] || die "cannot find this container's address; set QDNS_IP"
fi
API_LISTEN=${QDNS_API_LISTEN:-$IP:8080}

RAFT_TRANSPORT=${QDNS_RAFT_TRANSPORT:-tls}
PKI=/etc/quorumdns/pki
NODE_CA=${QDNS_NODE_CA:-$PKI/ca.crt}
NODE_CERT=${QDNS_NODE_CERT:-$PKI/node.crt}
NODE_KEY=${QDNS_NODE_KEY:-$PKI/node.key}
case "$RAFT_TRANSPORT" in
tls)
        for f in "$NODE_CA" "$NODE_CERT" "$NODE_KEY"; do
                check_word "the node identity file" "$f"
                [ -e "$f" ] || die "$f does not exist: give the node its CA certificate, certificate and key (quorumdns ca init/issue; docker-compose's pki service makes them), or set QDNS_RAFT_TRANSPORT=plaintext"
        done
        ;;
plaintext) ;;
*) die "QDNS_RAFT_TRANSPORT must be tls or plaintext" ;;
esac

mkdir -p "$RUNDIR" "$DATA"
conf="$RUNDIR/quorumdns.conf"
if [ -z "$COOKIE_SECRET_FILE" ] && [ -n "$COOKIE_SECRET" ]; then
        COOKIE_SECRET_FILE="$RUNDIR/cookie.secret"
        (
                umask 077
                echo "$COOKIE_SECRET" | tr ',' '\n' >"$COOKIE_SECRET_FILE"
        )
        [ "$(id -u)" != 0 ] || [ -z "$RUN_USER" ] || chown "$RUN_USER:" "$COOKIE_SECRET_FILE"
fi
(
        umask 077 # the file holds the tokens
        {
                echo "# written by the container entrypoint from QDNS_* variables"
                echo "node-id $NODE_ID"
                echo "node-name ${QDNS_NODE_NAME:-n$NODE_ID}"
                echo "data-dir $DATA"
                for a in ${QDNS_DNS_LISTEN:-$IP:53}; do
                        echo "listen $a"
                done
                echo "api-listen $API_LISTEN"
                echo "raft-listen ${QDNS_RAFT_LISTEN:-$IP:7000}"
                [ -z "${QDNS_BOOTSTRAP:-}" ] || echo "bootstrap $QDNS_BOOTSTRAP"
                [ -z "${QDNS_JOIN:-}" ] || echo "join $QDNS_JOIN"
                [ -z "${QDNS_JOIN_ROLE:-}" ] || echo "join-role $QDNS_JOIN_ROLE"
                [ -z "$ADMIN_TOKEN" ] || echo "api-token admin:$ADMIN_TOKEN"
                [ -z "$READ_TOKEN" ] || echo "api-token read:$READ_TOKEN"
                [ -z "$COOKIE_SECRET_FILE" ] || echo "cookie-secret-file $COOKIE_SECRET_FILE"
                echo "log-level ${QDNS_LOG_LEVEL:-info}"
                if [ "$RAFT_TRANSPORT" = plaintext ]; then
                        echo "raft-transport plaintext"
                else
                        echo "node-ca $NODE_CA"
                        echo "node-cert $NODE_CERT"
                        echo "node-key $NODE_KEY"
                fi
                if [ -n "$CONFIG_FILE" ]; then
                        echo "# from $CONFIG_FILE"
                        cat "$CONFIG_FILE"
                fi
        } >"$conf.tmp"
        mv "$conf.tmp" "$conf"
)
# For the health check (no secret in it).
echo "$API_LISTEN" >"$RUNDIR/api-address"
chmod 644 "$RUNDIR/api-address"

if [ "$(id -u)" = 0 ] && [ -n "$RUN_USER" ]; then
        id "$RUN_USER" >/dev/null 2>&1 || die "user $RUN_USER does not exist (QDNS_USER)"
        chown "$RUN_USER:" "$RUNDIR" "$conf"
        # A bind-mounted data directory may belong to someone else.
        [ "$(stat -c %U "$DATA")" = "$RUN_USER" ] || chown -R "$RUN_USER:" "$DATA"
        exec setpriv --reuid="$RUN_USER" --regid="$(id -g "$RUN_USER")" --init-groups \
                --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
                --bounding-set=-all,+net_bind_service -- "$BIN" -c "$conf" "$@"
fi
exec "$BIN" -c "$conf" "$@"
