#!/bin/sh
# prometheus-entrypoint.sh — the entrypoint of the monitoring profile's
# Prometheus image (prometheus.Dockerfile): writes the nodes' read token
# (QDNS_READ_TOKEN, or the file QDNS_READ_TOKEN_FILE names) to the
# credentials file that prometheus.yml names, mode 600 for the user
# prometheus, then runs Prometheus as that user with its TSDB in the volume
# /var/lib/prometheus, listening on port 9090.  Arguments starting with "-"
# are passed on to prometheus; any other command is run instead.
set -eu

case "${1:-}" in
'' | -*) ;;
*) exec "$@" ;;
esac

CRED_DIR=${QDNS_PROMETHEUS_RUN_DIR:-/run/quorumdns-prometheus}
DATA=${QDNS_PROMETHEUS_DATA:-/var/lib/prometheus}
RUN_USER=${QDNS_USER-prometheus} # empty: do not change user

die() {
        echo "quorumdns-prometheus: error: $*" >&2
        exit 1
}

if [ -n "${QDNS_READ_TOKEN_FILE:-}" ]; then
        QDNS_READ_TOKEN=$(cat "$QDNS_READ_TOKEN_FILE") || die "cannot read QDNS_READ_TOKEN_FILE=$QDNS_READ_TOKEN_FILE"
fi
token=${QDNS_READ_TOKEN:-}
[ -n "$token" ] || die "QDNS_READ_TOKEN is not set: the nodes' read API token, which GET /metrics needs (tools/compose.sh makes one; by hand: export QDNS_READ_TOKEN=\$(openssl rand -hex 32) before docker-compose up)"
case "$token" in
*[[:space:]]*) die "QDNS_READ_TOKEN must not contain spaces or line breaks" ;;
esac

mkdir -p "$CRED_DIR" "$DATA/metrics2"
(umask 077 && printf '%s' "$token" >"$CRED_DIR/read-token")
if [ -n "$RUN_USER" ]; then
        chown "$RUN_USER:" "$CRED_DIR" "$CRED_DIR/read-token"
        chown -R "$RUN_USER:" "$DATA"
        set -- setpriv --reuid="$RUN_USER" --regid="$(id -g "$RUN_USER")" --init-groups \
                prometheus "$@"
else
        set -- prometheus "$@"
fi
exec "$@" --config.file=/etc/prometheus/prometheus.yml \
        --storage.tsdb.path="$DATA/metrics2" \
        --web.listen-address=:9090
