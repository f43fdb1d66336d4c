#!/usr/bin/env bash
# compose.sh — runs docker-compose.yml (a 3-node cluster in containers) on
# this machine, with Docker when a Docker daemon answers, and otherwise with
# Debian's podman serving its Docker-compatible API to Debian's
# docker-compose 1.29 (the "podman route").  `test` also checks the running
# cluster and removes everything again.
#
# Usage: tools/compose.sh [options] up|test|down|env
#   up      builds the image once (n1 builds it, n2 and n3 reuse it), starts
#           n1..n3 and waits until every node answers with a leader
#   test    up, then: only pki and n1..n3 made; a write through n1's
#           published API port read over DNS from n2's published DNS port;
#           n3's container killed, a write made while it is down, n3
#           restarted by its restart policy and serving that write; then the
#           monitoring profile added: Prometheus (its image built) scrapes
#           the three nodes, and its HTTP API returns, for each node, the
#           counts of the DNS queries the test sent it and its health-check
#           figures, and answers every query of docs/grafana-dashboard.json;
#           then down, and a check that nothing is left
#   down    removes what up made: containers, network, volumes (unless
#           --keep-data), the podman service, the firewall chains it added,
#           and ip_forward as it was before up.  Idempotent.  The images (the
#           build cache) stay in .run/compose/storage unless --purge
#   env     prints the exports that let docker-compose/podman reach the stack
#   --monitoring  up: also the profile "monitoring" (Prometheus on port 9090
#                 of QDNS_PUBLISH_IP, scraping n1..n3 with the read token)
#   --keep-data   down: keep the nodes' data volumes (and Prometheus's)
#   --purge       down: also delete the images and the podman storage
#   -h, --help    this text
#
# The podman route keeps its state under .run/compose/ of this tree (its own
# containers.conf, storage, network definitions; the socket and run state
# under /run/quorumdns-compose/), so it neither reads nor changes the
# machine's podman setup.  podman still writes /run/containers/networks and
# /var/lib/containers/cache whatever its configuration: down removes them if
# up made them.  It needs root.
# Its base image debian:bookworm-slim is made locally with
# `debootstrap --variant=minbase` and `podman import` (no registry needed);
# apt inside the build reaches the Debian mirror through podman's NAT.
# Settings: QDNS_COMPOSE_ENGINE=docker|podman (default: docker if a daemon
# answers), QDNS_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# QDNS_ADMIN_TOKEN (default: made once, kept in .run/compose/admin-token),
# QDNS_COOKIE_SECRET (default: made once, kept in .run/compose/cookie-secret),
# QDNS_READ_TOKEN (the nodes' read token, which Prometheus scrapes with;
# default: made once, kept in .run/compose/read-token), QDNS_PUBLISH_IP
# (default 127.0.0.1), QDNS_PROMETHEUS_PORT (default 9090).
# Exit status: 0 done, 1 failed, 2 usage, 77 (test) this machine cannot run
# containers at all (the reason is printed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.run/compose"
# Run-time state (socket, podman's runroot) under /run, keyed by the tree.
RUNDIR="/run/quorumdns-compose/$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)"
SOCK="$RUNDIR/podman.sock"
BASE_IMAGE=localhost/debian:bookworm-slim
MIRROR=${QDNS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PUBLISH_IP=${QDNS_PUBLISH_IP:-127.0.0.1}
export COMPOSE_PROJECT_NAME=quorumdns
COMPOSE_FILE="$ROOT/docker-compose.yml"
NODES=(n1 n2 n3)
PROFILE=monitoring
PROM_PORT=${QDNS_PROMETHEUS_PORT:-9090}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }
say() { printf 'compose: %s\n' "$*"; }
die() {
        printf 'compose: error: %s\n' "$*" >&2
        exit 1
}
skip() {
        printf 'compose: skip: %s\n' "$*" >&2
        exit 77
}

keep_data=0 purge=0 monitoring=0 cmd=""
for arg in "$@"; do
        case "$arg" in
        -h | --help)
                usage
                exit 0
                ;;
        --keep-data) keep_data=1 ;;
        --monitoring) monitoring=1 ;;
        --purge) purge=1 ;;
        up | test | down | env | _healthloop)
                [ -z "$cmd" ] || { usage >&2; exit 2; }
                cmd=$arg
                ;;
        *)
                echo "compose.sh: unknown argument '$arg'" >&2
                usage >&2
                exit 2
                ;;
        esac
done
[ -n "$cmd" ] || { usage >&2; exit 2; }

# ------------------------------------------------------------ the engine

# `eval "$(tools/compose.sh env)"` points DOCKER_HOST at this route's podman
# socket: that is not a Docker daemon.
if [ "${DOCKER_HOST:-}" = "unix://$SOCK" ]; then unset DOCKER_HOST; fi

docker_daemon() { command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; }

ENGINE=${QDNS_COMPOSE_ENGINE:-}
if [ -z "$ENGINE" ]; then
        if docker_daemon; then ENGINE=docker; else ENGINE=podman; fi
fi
case "$ENGINE" in
docker | podman) ;;
*) die "QDNS_COMPOSE_ENGINE must be docker or podman" ;;
esac

# podman with this tree's private configuration and storage.
pm() { CONTAINERS_CONF="$STATE/containers.conf" CONTAINERS_STORAGE_CONF="$STATE/storage.conf" podman "$@"; }

# compose ARGS...: docker-compose (or `docker compose`) against the engine.
compose() {
        # The compose file refuses to load without these, for any command;
        # the read token lets the monitoring profile's Prometheus scrape.
        local tok cookie rtok
        tok=$(admin_token)
        cookie=$(cookie_secret)
        rtok=$(read_token)
        if [ "$ENGINE" = podman ]; then
                QDNS_ADMIN_TOKEN=$tok QDNS_COOKIE_SECRET=$cookie QDNS_READ_TOKEN=$rtok \
                        DOCKER_HOST="unix://$SOCK" docker-compose -f "$COMPOSE_FILE" "$@"
        elif docker compose version >/dev/null 2>&1; then
                QDNS_ADMIN_TOKEN=$tok QDNS_COOKIE_SECRET=$cookie QDNS_READ_TOKEN=$rtok \
                        docker compose -f "$COMPOSE_FILE" "$@"
        else
                QDNS_ADMIN_TOKEN=$tok QDNS_COOKIE_SECRET=$cookie QDNS_READ_TOKEN=$rtok \
                        docker-compose -f "$COMPOSE_FILE" "$@"
        fi
}

# compose_all ARGS...: compose with the monitoring profile enabled too.
compose_all() { compose --profile "$PROFILE" "$@"; }

# cli ARGS...: docker or podman (the same subcommands: ps, inspect, kill).
cli() { if [ "$ENGINE" = podman ]; then pm "$@"; else docker "$@"; fi; }

need() { # COMMAND PACKAGE
        command -v "$1" >/dev/null || die "$1 is missing (Debian package $2; tools/setup.sh installs it)"
}

# kept_secret FILE HEXBYTES VALUE: VALUE when it is set, else the secret
# kept in .run/compose/FILE (made once with openssl, mode 600).
kept_secret() {
        if [ -n "$3" ]; then
                printf '%s' "$3"
                return
        fi
        mkdir -p "$STATE"
        [ -s "$STATE/$1" ] || (umask 077 && openssl rand -hex "$2" >"$STATE/$1")
        cat "$STATE/$1"
}

# The nodes' admin token; their read token (GET /metrics for the monitoring
# profile's Prometheus); the DNS cookie secret they share.  The compose
# file refuses to start without the first and the last.
admin_token() { kept_secret admin-token 32 "${QDNS_ADMIN_TOKEN:-}"; }
read_token() { kept_secret read-token 32 "${QDNS_READ_TOKEN:-}"; }
cookie_secret() { kept_secret cookie-secret 16 "${QDNS_COOKIE_SECRET:-}"; }

# ------------------------------------------------------------ podman route

service_pid() {
        local pid
        pid=$(cat "$STATE/service.pid" 2>/dev/null) || return 1
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q 'system' "/proc/$pid/cmdline" 2>/dev/null &&
                echo "$pid"
}

write_podman_config() {
        mkdir -p "$STATE/networks" "$RUNDIR"
        local hn hu
        # podman's default rlimits (nofile and nproc 1048576) are above the
        # hard limits of some machines (here 20000 and 96365): runc then
        # fails with "error setting rlimit ... operation not permitted", for
        # RUN steps of a build as for containers.  Without CAP_SYS_RESOURCE
        # podman also lowers its own nproc limit to 32768, so no container
        # may ask for more than that.
        hn=$(ulimit -Hn) hu=$(ulimit -Hu)
        [ "$hn" != unlimited ] && [ "$hn" -lt 1048576 ] || hn=1048576
        [ "$hu" != unlimited ] && [ "$hu" -lt 32768 ] || hu=32768
        cat >"$STATE/containers.conf" <<EOF
# Written by tools/compose.sh: the podman route's own configuration
# (CONTAINERS_CONF), so that the machine's own is neither read nor changed.
[containers]
default_ulimits = ["nofile=$hn:$hn", "nproc=$hu:$hu"]
init_path = "$(command -v catatonit || echo /usr/libexec/podman/catatonit)"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$RUNDIR/libpod"

[network]
network_config_dir = "$STATE/networks"
EOF
        cat >"$STATE/storage.conf" <<EOF
# Written by tools/compose.sh (CONTAINERS_STORAGE_CONF): images, build cache,
# containers and volumes of the podman route stay inside this tree.
[storage]
driver = "overlay"
graphroot = "$STATE/storage"
runroot = "$RUNDIR/storage"
EOF
}

# The firewall and forwarding state before the first `up`, so that `down`
# removes only what podman (netavark) added and restores the rest.
snapshot_host() {
        [ -e "$STATE/host.before" ] && return 0
        {
                echo "ip_forward $(cat /proc/sys/net/ipv4/ip_forward)"
                echo "ip6_forward $(cat /proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null || echo -)"
                global_dirs
                firewall_state
        } >"$STATE/host.before.tmp"
        mv "$STATE/host.before.tmp" "$STATE/host.before"
}

# Places that podman writes whatever its configuration says: netavark's
# state and aardvark-dns's config (/run/containers/networks), the blob-info
# cache of `podman import` (/var/lib/containers/cache).
GLOBAL_DIRS=(/run/containers /var/lib/containers)
global_dirs() {
        local d
        for d in "${GLOBAL_DIRS[@]}"; do [ ! -e "$d" ] || echo "dir $d"; done
}

# remove_global_dirs STATE: those of podman's global directories that the
# state (global_dirs lines) did not have, unless a podman container runs.
remove_global_dirs() {
        local d
        pgrep -x conmon >/dev/null && return 0
        for d in "${GLOBAL_DIRS[@]}"; do
                grep -qxF "dir $d" <<<"$1" || rm -rf "$d"
        done
}

# One line per nftables table and per iptables chain.
firewall_state() {
        local ipt t
        nft list tables 2>/dev/null | sed 's/^table /nft /'
        for ipt in iptables ip6tables; do
                command -v "$ipt" >/dev/null || continue
                for t in filter nat mangle raw; do
                        "$ipt" -w -t "$t" -S 2>/dev/null | awk -v i="$ipt" -v t="$t" \
                                '$1 == "-N" || $1 == "-P" { print "chain", i, t, $2 }'
                done
        done
}

restore_host() {
        local before="$STATE/host.before" line ipt t ch fam name
        [ -e "$before" ] || return 0
        # Chains netavark made (NETAVARK*) that were not there before, with
        # the rules that jump to them.
        for ipt in iptables ip6tables; do
                command -v "$ipt" >/dev/null || continue
                for t in filter nat mangle raw; do
                        for ch in $("$ipt" -w -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ { print $2 }'); do
                                grep -qxF "chain $ipt $t $ch" "$before" && continue
                                # iptables -S quotes as a shell does ("netavark firewall
                                # plugin rules"): eval reads a rule back as its words.
                                { "$ipt" -w -t "$t" -S | grep -E -- "-j $ch( |\$)" || true; } |
                                        sed 's/^-A /-D /' | while read -r line; do
                                        eval "\"\$ipt\" -w -t \"\$t\" $line" || true
                                done
                                "$ipt" -w -t "$t" -F "$ch" 2>/dev/null || true
                        done
                        for ch in $("$ipt" -w -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ { print $2 }'); do
                                grep -qxF "chain $ipt $t $ch" "$before" || "$ipt" -w -t "$t" -X "$ch" ||
                                        say "warning: cannot delete $ipt chain $t/$ch"
                        done
                done
        done
        # nftables tables that iptables-nft created for netavark, now empty.
        { nft list tables 2>/dev/null || true; } | while read -r _ fam name; do
                grep -qxF "nft $fam $name" "$before" && continue
                if ! nft list table "$fam" "$name" |
                        grep -qvE '^[[:space:]]*(table .*|chain .*|type .*|\}|)$'; then
                        nft delete table "$fam" "$name" || true
                fi
        done
        local v
        remove_global_dirs "$(cat "$before")"
        v=$(awk '$1 == "ip_forward" { print $2 }' "$before")
        [ -z "$v" ] || echo "$v" >/proc/sys/net/ipv4/ip_forward
        v=$(awk '$1 == "ip6_forward" { print $2 }' "$before")
        [ -z "$v" ] || [ "$v" = - ] || echo "$v" >/proc/sys/net/ipv6/conf/all/forwarding
        rm -f "$before"
}

# The base image: Debian 12 minbase, trimmed like the official
# debian:bookworm-slim (no docs, man pages or locales; apt caches cleaned).
make_base_image() {
        pm image exists "$BASE_IMAGE" && return 0
        need debootstrap debootstrap
        local tmp="$STATE/base.tmp" t=$SECONDS
        rm -rf "$tmp"
        mkdir -p "$tmp"
        say "making $BASE_IMAGE with debootstrap --variant=minbase from $MIRROR (about a minute)"
        if ! debootstrap --variant=minbase bookworm "$tmp/rootfs" "$MIRROR" >"$STATE/debootstrap.log" 2>&1; then
                tail -n 20 "$STATE/debootstrap.log" >&2
                rm -rf "$tmp"
                die "debootstrap failed (log: $STATE/debootstrap.log)"
        fi
        local r="$tmp/rootfs"
        cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# As in debian:bookworm-slim: no documentation, man pages or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
        cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
        echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
        rm -f "$r/etc/apt/sources.list"
        cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        find "$r/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
        rm -rf "$r/usr/share/man/"* "$r/usr/share/info/"* "$r/var/lib/apt/lists/"* \
                "$r/var/cache/apt/"*.bin "$r/var/cache/apt/archives/"*.deb "$r/var/log/"*.log
        find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
        : >"$r/etc/hostname"
        : >"$r/etc/resolv.conf"
        if ! tar --numeric-owner -C "$r" -c . |
                pm import --change 'CMD ["bash"]' - "$BASE_IMAGE" >"$STATE/import.log" 2>&1; then
                cat "$STATE/import.log" >&2
                rm -rf "$tmp"
                die "podman import of the base image failed"
        fi
        rm -rf "$tmp"
        say "$BASE_IMAGE made in $((SECONDS - t)) s ($(pm image inspect -f "{{.Size}}" "$BASE_IMAGE" | numfmt --to=si)B)"
}

start_service() {
        if service_pid >/dev/null; then return 0; fi
        rm -f "$SOCK"
        CONTAINERS_CONF="$STATE/containers.conf" CONTAINERS_STORAGE_CONF="$STATE/storage.conf" \
                setsid podman system service --time=0 "unix://$SOCK" </dev/null >>"$STATE/service.log" 2>&1 &
        echo $! >"$STATE/service.pid"
        local i
        for i in $(seq 1 100); do
                [ "$(curl -s -m 2 --unix-socket "$SOCK" http://d/_ping 2>/dev/null)" = OK ] && return 0
                service_pid >/dev/null || break
                sleep 0.2
        done
        tail -n 20 "$STATE/service.log" >&2
        die "podman system service did not come up (log: $STATE/service.log)"
}

stop_service() {
        local pid i
        pid=$(service_pid) || { rm -f "$STATE/service.pid"; return 0; }
        kill "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
        done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$STATE/service.pid" "$SOCK"
}

# Without systemd podman never runs a container's health check by itself;
# this loop does, at the compose file's interval, while the stack is up.
healthloop() {
        local id
        while sleep 10; do
                for id in $(pm ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"); do
                        pm healthcheck run "$id" >/dev/null 2>&1 || true
                done
        done
}

healthloop_pid() {
        local pid
        pid=$(cat "$STATE/healthloop.pid" 2>/dev/null) || return 1
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q '_healthloop' "/proc/$pid/cmdline" 2>/dev/null &&
                echo "$pid"
}

start_healthloop() {
        healthloop_pid >/dev/null && return 0
        setsid "${BASH_SOURCE[0]}" _healthloop </dev/null >/dev/null 2>&1 &
        echo $! >"$STATE/healthloop.pid"
}

stop_healthloop() {
        local pid
        if pid=$(healthloop_pid); then kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; fi
        rm -f "$STATE/healthloop.pid"
}

# ------------------------------------------------------------ up / down

preflight() {
        if [ "$ENGINE" = podman ] || ! docker compose version >/dev/null 2>&1; then
                need docker-compose docker-compose
        fi
        need curl curl
        need openssl openssl
        if [ "$ENGINE" = podman ]; then
                [ "$(id -u)" = 0 ] || die "the podman route runs as root (rootful podman, netavark NAT)"
                need podman podman
                need nft nftables
        fi
}

wait_cluster() { # SECONDS: every node's /v1/health is ok and knows a leader
        local deadline=$((SECONDS + $1)) i port body ok
        while :; do
                ok=0
                for i in 1 2 3; do
                        port=$((8080 + i))
                        body=$(curl -s -m 3 "http://$PUBLISH_IP:$port/v1/health" 2>/dev/null || true)
                        case "$body" in
                        *'"status":"ok"'*'"leader":'[1-9]*) ok=$((ok + 1)) ;;
                        esac
                done
                [ "$ok" = 3 ] && return 0
                [ "$SECONDS" -lt "$deadline" ] || return 1
                sleep 1
        done
}

# build_image WHAT LOG COMMAND...: a `docker-compose build`, its steps
# shown and its whole output in .run/compose/LOG; on failure its tail, and
# the script ends.
build_image() {
        local what=$1 log="$STATE/$2" bt=$SECONDS rc
        shift 2
        set +e
        "$@" 2>&1 | tee "$log" |
                grep --line-buffered -E '^(\[[0-9]+/[0-9]+\] STEP|Step [0-9]|setup: |Successfully built)' | cut -c1-120
        rc=${PIPESTATUS[0]}
        set -e
        [ "$rc" = 0 ] || {
                tail -n 30 "$log" >&2
                die "$what: the build failed (log: $log)"
        }
        say "$what built in $((SECONDS - bt)) s"
}

up() {
        preflight
        local t=$SECONDS
        mkdir -p "$STATE"
        if [ "$ENGINE" = podman ]; then
                write_podman_config
                snapshot_host
                make_base_image
                start_service
                start_healthloop
        fi
        say "building the image and starting n1..n3 ($ENGINE)"
        build_image "the image" build.log compose build
        compose up -d || die "docker-compose up failed; see tools/compose.sh down"
        wait_cluster 120 || {
                compose logs --tail 30 >&2 || true
                die "the nodes did not all report a leader within 120 s"
        }
        if [ "$ENGINE" = podman ]; then
                local n id
                for n in "${NODES[@]}"; do
                        id=$(compose ps -q "$n")
                        pm healthcheck run "$id" >/dev/null || say "warning: health check of $n failed"
                done
        fi
        say "up in $((SECONDS - t)) s: 3 nodes, a leader elected"
        [ "$monitoring" = 0 ] || monitoring_up
        cat <<EOF
  dig @$PUBLISH_IP -p 5301 example.com SOA      # n1 (n2: 5302, n3: 5303)
  curl -H "Authorization: Bearer \$QDNS_ADMIN_TOKEN" http://$PUBLISH_IP:8081/v1/cluster
  eval "\$(tools/compose.sh env)"   # then: docker-compose ps, docker-compose logs n1, $ENGINE ps
  tools/compose.sh down
EOF
        [ "$monitoring" = 0 ] || cat <<EOF
  http://$PUBLISH_IP:$PROM_PORT/   # Prometheus (job quorumdns, instances n1..n3); docs/grafana-dashboard.json for a Grafana
EOF
}

# ------------------------------------------------------------ monitoring

# prom_query EXPR: Prometheus's answer to an instant query, one
# "INSTANCE VALUE" line per series, sorted; fails on an error answer.
prom_query() {
        curl -sS -m 10 -G --data-urlencode "query=$1" "http://$PUBLISH_IP:$PROM_PORT/api/v1/query" |
                python3 -c '
import json, sys
d = json.load(sys.stdin)
if d.get("status") != "success":
    sys.exit("prometheus: %s" % d.get("error", d))
for r in d["data"]["result"]:
    print(r["metric"].get("instance", "-"), r["value"][1])
' | sort
}

# prom_wait EXPR WANT SECS: until Prometheus answers EXPR with WANT (lines
# "INSTANCE VALUE", sorted); prints what it has on failure.
prom_wait() {
        local got deadline=$((SECONDS + $3))
        while :; do
                got=$(prom_query "$1" 2>&1 || true)
                [ "$got" = "$2" ] && return 0
                [ "$SECONDS" -lt "$deadline" ] || {
                        printf 'Prometheus: %s\n  answers: %s\n  wanted:  %s\n' "$1" \
                                "$(echo "$got" | tr '\n' ' ')" "$(echo "$2" | tr '\n' ' ')" >&2
                        return 1
                }
                sleep 1
        done
}

# every VALUE: the lines "n1 VALUE" .. "n3 VALUE" (prom_wait's WANT).
every() { printf 'n1 %s\nn2 %s\nn3 %s' "$1" "$1" "$1"; }

# The profile "monitoring": Prometheus's image built (Debian's package),
# the container started next to the running nodes, until it scrapes all three.
monitoring_up() {
        say "building the Prometheus image and starting it (profile $PROFILE)"
        build_image "the Prometheus image" build-prometheus.log compose_all build prometheus
        compose_all up -d --no-deps prometheus || die "docker-compose --profile $PROFILE up prometheus failed"
        prom_wait 'up{job="quorumdns"}' "$(every 1)" 90 || {
                compose_all logs --tail 30 prometheus >&2 || true
                die "Prometheus does not scrape n1..n3 within 90 s"
        }
        say "Prometheus on http://$PUBLISH_IP:$PROM_PORT/ scrapes n1..n3"
}

down() {
        if [ "$ENGINE" = docker ]; then
                local v=(-v)
                [ "$keep_data" = 1 ] && v=()
                compose_all down "${v[@]}" --remove-orphans
                [ "$purge" = 0 ] || docker image rm -f quorumdns:latest quorumdns-prometheus:latest 2>/dev/null || true
                say "down"
                return 0
        fi
        [ "$(id -u)" = 0 ] || die "the podman route runs as root"
        [ -e "$STATE/containers.conf" ] || { say "nothing to remove"; return 0; }
        # podman commands make its global directories; if nothing is up,
        # down removes those its own commands make.
        local dirs_before
        dirs_before=$(global_dirs)
        stop_healthloop
        if service_pid >/dev/null; then
                local v=(-v)
                [ "$keep_data" = 1 ] && v=()
                compose_all down "${v[@]}" --remove-orphans -t 5 || true
        fi
        # Whatever compose did not remove (a failed up, a dead service): the
        # storage is this tree's own, so every container in it is ours.
        local ids
        ids=$(pm ps -a -q 2>/dev/null || true)
        # shellcheck disable=SC2086 # ids are words
        [ -z "$ids" ] || pm rm -f -t 5 $ids >/dev/null || true
        ids=$(pm ps -a -q --external 2>/dev/null || true) # interrupted builds
        # shellcheck disable=SC2086
        [ -z "$ids" ] || pm rm -f $ids >/dev/null 2>&1 || true
        pm network prune -f >/dev/null 2>&1 || true
        [ "$keep_data" = 1 ] || pm volume prune -f >/dev/null 2>&1 || true
        # What is left in the storage, for `test`: no podman command may run
        # after the run state is gone (podman would "refresh" and set up
        # netavark's firewall again).
        {
                pm ps -a -q --external 2>/dev/null | sed 's/^/container /'
                pm volume ls -q 2>/dev/null | sed 's/^/volume /'
                pm network ls --format '{{.Name}}' 2>/dev/null | grep -vx podman | sed 's/^/network /'
        } >"$STATE/left" || true
        stop_service
        # conmon runs `podman container cleanup` when a container stops, in
        # the background; such a late podman would set up netavark's firewall
        # again after it is restored.  Wait for them to end.
        local i
        for i in $(seq 1 100); do
                pgrep -f -- "--root $STATE/storage|$RUNDIR" >/dev/null || break
                sleep 0.2
        done
        if [ "$purge" = 1 ]; then
                pm system reset -f >/dev/null 2>&1 || true
                rm -rf "$STATE/storage"
                say "images and build cache deleted"
        else
                say "the images (base and build cache) stay in $STATE/storage: --purge deletes them"
        fi
        [ -e "$STATE/host.before" ] || remove_global_dirs "$dirs_before"
        restore_host
        if ! findmnt -rn -o TARGET | grep -qF "$RUNDIR"; then
                rm -rf "$RUNDIR"
                rmdir /run/quorumdns-compose 2>/dev/null || true
        fi
        say "down"
}

# ------------------------------------------------------------ test

# What must be the same after `test` as before it: network namespaces,
# bridges and veths, firewall tables and chains, forwarding, podman's own
# processes (service, conmon, aardvark-dns) started from this tree.
leftovers_state() {
        # Only podman's names (netns-UUID, podmanN, vethN): other tests of
        # this machine may make namespaces and links of their own meanwhile.
        echo "netns: $(ip netns list 2>/dev/null | awk '$1 ~ /^netns-/ {print $1}' | sort | tr '\n' ' ')"
        echo "links: $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
                grep -E '^(podman|veth)' | sort | tr '\n' ' ')"
        echo "ip_forward: $(cat /proc/sys/net/ipv4/ip_forward)"
        global_dirs
        firewall_state | sort
        echo "processes: $(pgrep -f "$RUNDIR|$STATE" 2>/dev/null | grep -vx "$$" | tr '\n' ' ')"
        # netavark's DNS server keeps its state in a fixed place (/run/containers).
        echo "aardvark-dns: $(pgrep -x aardvark-dns | tr '\n' ' ')"
}

api() { # METHOD PORT PATH [BODY]: prints the body, then the status code on a line
        curl -sS -m 10 -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
                ${4:+--data-binary "$4"} -w '\n%{http_code}' "http://$PUBLISH_IP:$2$3"
}

# write PORT NAME ADDRESS: UPSERT NAME A ADDRESS through the node's API,
# retried (same Idempotency-Key) while the cluster elects a leader.
write_record() {
        local port=$1 name=$2 addr=$3 out code deadline=$((SECONDS + 60)) key
        key="compose-test-$name-$RANDOM"
        while :; do
                out=$(curl -sS -m 10 -X POST -H "Authorization: Bearer $TOKEN" -H "Idempotency-Key: $key" \
                        -H 'Content-Type: application/json' -w '\n%{http_code}' \
                        --data-binary "{\"changes\":[{\"action\":\"UPSERT\",\"rrset\":{\"name\":\"$name\",\"type\":\"A\",\"ttl\":60,\"records\":[\"$addr\"]}}]}" \
                        "http://$PUBLISH_IP:$port/v1/zones/example.com./changes" 2>&1) || true
                code=${out##*$'\n'}
                case "$code" in 2??) return 0 ;; esac
                [ "$SECONDS" -lt "$deadline" ] || {
                        echo "$out" >&2
                        return 1
                }
                sleep 1
        done
}

# dig_wait PORT NAME ADDRESS SECS: the node's published DNS port answers
# NAME A with ADDRESS (UDP) within SECS.
dig_wait() {
        local got deadline=$((SECONDS + $4))
        while :; do
                got=$(dig +short +time=2 +tries=1 @"$PUBLISH_IP" -p "$1" "$2" A 2>/dev/null || true)
                [ "$got" = "$3" ] && return 0
                [ "$SECONDS" -lt "$deadline" ] || {
                        echo "dig @$PUBLISH_IP -p $1 $2 A: '${got}', wanted $3" >&2
                        return 1
                }
                sleep 0.5
        done
}

run_test() {
        local t0=$SECONDS
        [ "$(id -u)" = 0 ] || skip "the containers test runs as root"
        if [ "$ENGINE" = podman ]; then
                command -v podman >/dev/null || skip "no Docker daemon and no podman (Debian package podman)"
                command -v debootstrap >/dev/null || skip "debootstrap is not installed"
                unshare --net true 2>/dev/null || skip "this machine cannot make network namespaces"
                curl -sfI -m 10 "$MIRROR/dists/bookworm/InRelease" >/dev/null ||
                        skip "the Debian mirror $MIRROR is unreachable (the image build installs packages)"
                service_pid >/dev/null && die "a stack of this tree is up; tools/compose.sh down first"
        fi
        need dig bind9-dnsutils
        local p
        for p in 5301 5302 5303 8081 8082 8083 "$PROM_PORT"; do
                ! ss -Hltun "sport = :$p" | grep -q . || die "port $p is in use (the stack publishes 5301-5303, 8081-8083 and $PROM_PORT)"
        done
        local before after
        before=$(leftovers_state)
        TOKEN=$(openssl rand -hex 32)
        export QDNS_ADMIN_TOKEN=$TOKEN
        trap 'say "cleaning up"; down >/dev/null 2>&1 || true' EXIT
        ( monitoring=0 && up ) || die "up failed"

        say "check: the default profile made only pki and n1..n3"
        local made cid
        made=$(for cid in $(cli ps -a -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"); do
                cli inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$cid"
        done | sort | tr '\n' ' ')
        [ "$made" = "n1 n2 n3 pki " ] || die "the default profile made the services: $made"

        say "check: a write through n1's API port, read over DNS from n2's DNS port"
        local out
        out=$(api POST 8081 /v1/zones '{"name":"example.com."}')
        [ "${out##*$'\n'}" = 201 ] || die "creating example.com. through n1: $out"
        write_record 8081 www.example.com. 192.0.2.1 || die "the write through n1 failed"
        dig_wait 5302 www.example.com. 192.0.2.1 30 || die "n2 does not answer the write made through n1"
        dig_wait 5303 www.example.com. 192.0.2.1 30 || die "n3 does not answer the write made through n1"

        say "check: n3's container killed (SIGKILL to its init), a write while it is down, n3 back"
        local id pid restarts
        id=$(compose ps -q n3)
        pid=$(cli inspect -f '{{.State.Pid}}' "$id")
        restarts=$(cli inspect -f '{{.RestartCount}}' "$id")
        [ "${pid:-0}" -gt 0 ] || die "n3 has no process"
        kill -9 "$pid"
        write_record 8082 www2.example.com. 192.0.2.2 || die "the write through n2 with n3 killed failed"
        local deadline=$((SECONDS + 60))
        until [ "$(cli inspect -f '{{.State.Running}} {{.RestartCount}}' "$id")" = "true $((restarts + 1))" ]; do
                [ "$SECONDS" -lt "$deadline" ] || die "n3 was not restarted by its restart policy within 60 s"
                sleep 0.5
        done
        dig_wait 5303 www2.example.com. 192.0.2.2 60 || die "n3 did not catch up after its restart"
        out=$(api GET 8083 /v1/cluster)
        case "$out" in
        *'"leader":'[1-9]*) ;;
        *) die "n3 knows no leader after its restart: $out" ;;
        esac
        wait_cluster 60 || die "not every node is ok with a leader after n3's restart"
        if [ "$ENGINE" = podman ]; then
                pm healthcheck run "$id" >/dev/null || die "n3's health check fails after its restart"
        fi

        monitoring_test

        say "check: down leaves nothing behind"
        trap - EXIT
        down
        after=$(leftovers_state)
        if [ "$before" != "$after" ]; then
                diff <(echo "$before") <(echo "$after") >&2 || true
                die "left behind after down (lines with > are new)"
        fi
        if [ "$ENGINE" = podman ]; then
                [ ! -s "$STATE/left" ] || die "left in $STATE/storage: $(tr '\n' ' ' <"$STATE/left")"
                say "kept: the images in $STATE/storage ($(du -sh "$STATE/storage" 2>/dev/null | cut -f1)): the base image and the build cache"
        fi
        say "test passed in $((SECONDS - t0)) s"
}

# check_id "BODY\nSTATUS": the id of the health check a 201 answer made.
check_id() {
        [ "${1##*$'\n'}" = 201 ] || die "creating a health check: $1"
        printf '%s' "${1%$'\n'*}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["healthcheck"]["id"])'
}

# The monitoring profile added to the running stack: Prometheus's series of
# each node match the DNS queries sent to it and the health checks made,
# and every query of the dashboard is answered.
monitoring_test() {
        ( monitoring_up ) || die "the monitoring profile did not come up"
        say "check: Prometheus's series match the queries sent to each node"
        local i j out good bad
        # Node i gets 2*i queries over TCP (each one answered, so counted
        # once), of a type nothing else asks: TXT of names that do not exist.
        for i in 1 2 3; do
                for j in $(seq 1 $((2 * i))); do
                        out=$(dig +tcp +tries=1 +time=5 @"$PUBLISH_IP" -p "530$i" "metrics$j.example.com." TXT 2>&1) || true
                        case "$out" in
                        *"status: NXDOMAIN"*) ;;
                        *) die "n$i: no NXDOMAIN answer to metrics$j.example.com. TXT over TCP: $out" ;;
                        esac
                done
        done
        local want
        want=$(printf 'n1 2\nn2 4\nn3 6')
        prom_wait 'quorumdns_dns_zone_queries_total{job="quorumdns",zone="example.com.",qtype="TXT"}' "$want" 60 ||
                die "Prometheus's per-zone query counts differ from the queries sent"
        prom_wait 'quorumdns_dns_zone_responses_total{job="quorumdns",zone="example.com.",protocol="tcp",rcode="NXDOMAIN"}' "$want" 30 ||
                die "Prometheus's per-zone response counts differ from the answers received"

        say "check: health-check series (a check of n1's API port, one of a closed port)"
        good=$(check_id "$(api POST 8081 /v1/healthchecks '{"type":"TCP","ip_address":"172.28.53.11","port":8080,"request_interval":1,"failure_threshold":1}')")
        bad=$(check_id "$(api POST 8081 /v1/healthchecks '{"type":"TCP","ip_address":"172.28.53.11","port":9,"request_interval":1,"failure_threshold":1}')")
        prom_wait "quorumdns_health_check_status{check=\"$good\",type=\"TCP\"}" "$(every 1)" 60 ||
                die "the check of n1's API port is not healthy on every node in Prometheus"
        prom_wait "quorumdns_health_check_status{check=\"$bad\",type=\"TCP\"}" "$(every 0)" 60 ||
                die "the check of a closed port is not unhealthy on every node in Prometheus"
        prom_wait "quorumdns_health_check_local_status{check=\"$bad\"}" "$(every 0)" 30 ||
                die "the nodes' own verdicts on the closed port are not in Prometheus"
        prom_wait 'quorumdns_health_checks{status="unhealthy"}' "$(every 1)" 30 ||
                die "the aggregate of the checks is wrong in Prometheus"
        prom_wait 'quorumdns_health_probe_failures_total{reason="connect_refused"} > bool 0' "$(every 1)" 30 ||
                die "the refused probes are not counted by reason"
        prom_wait 'quorumdns_health_probe_seconds_count == bool quorumdns_health_probes_total' "$(every 1)" 30 ||
                die "the probe latency histogram does not count every probe"
        prom_wait 'quorumdns_health_votes_proposed_total >= bool 2' "$(every 1)" 30 ||
                die "the nodes' votes are not counted"

        say "check: every query of docs/grafana-dashboard.json is answered"
        python3 - "http://$PUBLISH_IP:$PROM_PORT" "$ROOT/docs/grafana-dashboard.json" <<'PY' ||
import json, re, sys, urllib.parse, urllib.request
url, path = sys.argv[1], sys.argv[2]
def query(q):
    with urllib.request.urlopen(url + "/api/v1/query?" + urllib.parse.urlencode({"query": q}),
                                timeout=10) as r:
        d = json.load(r)
    if d["status"] != "success":
        raise SystemExit(f"{q}: {d}")
    return d["data"]["result"]
names = {s["metric"]["__name__"]
         for s in query('count by (__name__) ({__name__=~"quorumdns_.+"})')}
exprs = [t["expr"] for p in json.load(open(path))["panels"] for t in p.get("targets", [])]
missing = set()
for e in exprs:
    query(e.replace("$job", "quorumdns").replace("$instance", ".*")
           .replace("$__rate_interval", "30s").replace("$__range", "5m"))
    missing |= {n for n in re.findall(r"quorumdns_[a-z_]+", e)
                if n not in names and not n.startswith("quorumdns_query_log_")}
if missing:
    raise SystemExit(f"families the dashboard queries that Prometheus lacks: {sorted(missing)}")
print(f"compose: {len(exprs)} dashboard queries answered; {len(names)} quorumdns families stored")
PY
                die "the dashboard's queries fail against the stack's Prometheus"
}

print_env() {
        if [ "$ENGINE" = podman ]; then
                echo "export DOCKER_HOST=unix://$SOCK"
                echo "export CONTAINERS_CONF=$STATE/containers.conf"
                echo "export CONTAINERS_STORAGE_CONF=$STATE/storage.conf"
        fi
        echo "export COMPOSE_PROJECT_NAME=$COMPOSE_PROJECT_NAME"
        echo "export COMPOSE_FILE=$COMPOSE_FILE"
        echo "export QDNS_ADMIN_TOKEN=$(admin_token)"
        echo "export QDNS_COOKIE_SECRET=$(cookie_secret)"
        echo "export QDNS_READ_TOKEN=$(read_token)"
}

case "$cmd" in
up) up ;;
down) down ;;
env) print_env ;;
_healthloop) healthloop ;;
test) run_test ;;
esac
