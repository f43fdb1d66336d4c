#!/bin/sh
# healthcheck.sh — the container's health check: the node's API answers
# GET /v1/health (no token needed) on the address the entrypoint recorded.
set -eu
addr=$(cat "${QDNS_RUN_DIR:-/run/quorumdns}/api-address" 2>/dev/null) || {
        echo "the node has not been configured yet" >&2
        exit 1
}
case "$addr" in
0.0.0.0:*) addr="127.0.0.1:${addr##*:}" ;;
"[::]:"*) addr="[::1]:${addr##*:}" ;;
esac
exec curl -fsS -m 3 "http://$addr/v1/health"
