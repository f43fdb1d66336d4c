#!/bin/sh
# pki.sh — the compose file's one-shot "pki" service (installed as
# quorumdns-pki): makes the cluster CA once, and for each node ID@IP given a
# certificate naming that node id (and its IP, for the API), each into the
# node's own volume.
#
#   quorumdns-pki [ID@IP ...]
#
# /pki/ca (volume pki-ca) holds the CA: ca.key (mode 600) never leaves it.
# /pki/nID (volume nID-pki, mounted read-only at /etc/quorumdns/pki in node
# ID's container) receives ca.crt, node.crt and node.key (mode 600, owned by
# the user the node runs as).  Existing files are kept: running it again
# changes nothing; delete a node's volume to issue it a new certificate.
set -eu

BIN=${QDNS_BIN:-/usr/local/bin/quorumdns}
CA=${QDNS_PKI_CA_DIR:-/pki/ca}
RUN_USER=${QDNS_USER-quorumdns}

die() {
        echo "quorumdns-pki: error: $*" >&2
        exit 1
}

[ -s "$CA/ca.crt" ] || "$BIN" ca init "$CA" >/dev/null || die "cannot make the CA in $CA"
for spec in "$@"; do
        id=${spec%@*}
        ip=${spec#*@}
        case "$id" in '' | *[!0-9]*) die "'$spec' is not ID@IP" ;; esac
        out=${QDNS_PKI_ROOT:-/pki}/n$id
        mkdir -p "$out"
        if [ ! -s "$out/node.crt" ]; then
                "$BIN" ca issue "$CA" --node-id "$id" --ip "$ip" --out "$out/node" --force >/dev/null ||
                        die "cannot issue node $id's certificate"
                cp "$CA/ca.crt" "$out/ca.crt"
                chmod 644 "$out/ca.crt" "$out/node.crt"
                chmod 600 "$out/node.key"
                if [ "$(id -u)" = 0 ] && [ -n "$RUN_USER" ]; then
                        chown "$RUN_USER:" "$out/node.key" "$out/node.crt" "$out/ca.crt"
                fi
                echo "quorumdns-pki: node $id ($ip): certificate issued"
        fi
done
