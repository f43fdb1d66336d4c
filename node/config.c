/*
 * config.c — settings from the command line and the config file.
 */
#include "node/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dnstap.h"
#include "dns/name.h"
#include "dns/text.h"

#define DEFAULT_PORT 53

static const char usage_text[] =
    "Usage: quorumdns [OPTIONS]\n"
    "Authoritative DNS server node of a quorumdns cluster.\n"
    "\n"
    "  -c, --config FILE            read settings from FILE (lines \"key value\";\n"
    "                               keys are the long options below)\n"
    "  -l, --listen ADDR[:PORT]     serve DNS over UDP and TCP on ADDR (repeatable;\n"
    "                               IPv6 as [::1]:5353; default 127.0.0.1:53)\n"
    "  -z, --zone [ORIGIN=]FILE     serve the master file FILE (repeatable); the\n"
    "                               origin comes from the file's SOA if omitted\n"
    "      --tcp-idle-timeout SECS  close TCP connections this long after their last\n"
    "                               complete message (default 10)\n"
    "      --tcp-message-timeout SECS  a TCP message must arrive whole within SECS\n"
    "                               of its first byte (default 5)\n"
    "      --tcp-max-clients N      open TCP connections at most (default 1024); at\n"
    "                               the cap the longest idle one is closed\n"
    "      --tcp-max-per-source N   open TCP connections per client address at most\n"
    "                               (default 64)\n"
    "      --rrl-rate N             Response Rate Limiting over UDP: responses a\n"
    "                               second per client network, kind and name\n"
    "                               (default 20; 0: off)\n"
    "      --rrl-window SECS        how long a flooding network stays limited after\n"
    "                               it stops (debt cap, default 15)\n"
    "      --rrl-slip N             every Nth limited response is sent truncated\n"
    "                               (TC=1) instead of dropped (default 2; 0: never)\n"
    "      --rrl-ipv4-prefix N      client network size for IPv4 (default 24)\n"
    "      --rrl-ipv6-prefix N      client network size for IPv6 (default 56)\n"
    "      --rrl-table-size N       accounts kept (default 65536)\n"
    "      --rrl-exempt NET[,NET..] networks never limited, replacing the default\n"
    "                               127.0.0.0/8,::1/128 (\"none\": no exemption)\n"
    "      --cookies off|on|require DNS cookies (RFC 7873, RFC 9018 server cookies;\n"
    "                               default on); require: a UDP query with a client\n"
    "                               cookie but no valid server cookie gets BADCOOKIE\n"
    "      --cookie-secret-file FILE  cookie secrets, one per line (32 hex digits);\n"
    "                               the first makes cookies, all are accepted; give\n"
    "                               every node of a cluster the same file (default:\n"
    "                               a random secret per start).  Re-read on change\n"
    "      --cookie-secret-overlap SECS  a replaced first secret stays accepted this\n"
    "                               long (default 3600)\n"
    "      --any-udp rrset|hinfo    ANY over UDP (RFC 8482): one RRset of the name\n"
    "                               (default, as Knot) or HINFO \"RFC8482\"; over\n"
    "                               TCP, ANY gets every RRset\n"
    "      --query-log FILE         one line per DNS query appended to FILE\n"
    "                               (README \"Query log\"); reopened on SIGHUP\n"
    "      --query-log-sample N     log 1 query in N per listener (default 1)\n"
    "      --query-log-zones ZONE[,ZONE..]  only queries answered from these zones\n"
    "                               (default: every query)\n"
    "      --query-log-queue N      entries queued per listener before queries\n"
    "                               are dropped from the log (default 8192)\n"
    "      --dnstap-file FILE       dnstap (AUTH_QUERY/AUTH_RESPONSE frames) written\n"
    "                               to FILE, created afresh; reopened on SIGHUP\n"
    "                               when moved (README \"dnstap\")\n"
    "      --dnstap-socket PATH     dnstap to a collector's Unix socket (fstrm);\n"
    "                               reconnected each second while it is away\n"
    "      --dnstap-messages LIST   query,response (default), query or response\n"
    "      --dnstap-queue N         queries queued per listener before they are\n"
    "                               dropped from dnstap (default 4096)\n"
    "      --ecs on|off             EDNS Client Subnet (RFC 7871): locate clients\n"
    "                               by the option's subnet (default on)\n"
    "      --ecs-max-ipv4-prefix N  longest ECS source prefix used (default 24;\n"
    "                               longer ones are cut)\n"
    "      --ecs-max-ipv6-prefix N  the same for IPv6 (default 56)\n"
    "      --ecs-trusted NET[,NET..] use ECS only from these resolver networks;\n"
    "                               others are located by their own address\n"
    "                               (default any)\n"
    "      --geoip-db FILE          GeoIP2/GeoLite2 or ip-location-db .mmdb file\n"
    "                               for geolocation; re-read on SIGHUP\n"
    "      --region-coordinates NAME=LAT,LON[;NAME=LAT,LON..]  regions that\n"
    "                               geoproximity record sets may name\n"
    "      --log-level LEVEL        error, warn, info (default) or debug\n"
    "\n"
    "Cluster mode (enabled by --data-dir; zones then come from the API):\n"
    "      --data-dir DIR           raft log, snapshots and state of this node\n"
    "      --node-id N              this node's id (1..2^63), unique in the cluster\n"
    "      --node-name NAME         a name for people (default nN)\n"
    "      --region NAME            this node's region: health checks whose regions\n"
    "                               list it (or this node's id) are probed here\n"
    "      --raft-listen IP:PORT    address of this node's raft replica\n"
    "      --api-listen IP:PORT     HTTP API address (default 127.0.0.1:8080)\n"
    "      --bootstrap ID@IP:PORT[,ID@IP:PORT...]\n"
    "                               initial voters (the same list on every node);\n"
    "                               a node whose data directory has state ignores it\n"
    "      --join URL               join the cluster through the API of a member\n"
    "      --join-role voter|standby  role asked for when joining (default voter)\n"
    "      --api-token SCOPE:SECRET API token, SCOPE read or admin (repeatable).\n"
    "                               Nodes call each other with the admin token: give\n"
    "                               every node the same one.  Without one, a node\n"
    "                               makes DATA-DIR/admin.token (fine for one node)\n"
    "      --metrics-access token|open  GET /metrics (Prometheus) needs a read or\n"
    "                               admin token (default), or is open to anyone\n"
    "                               reaching the API port\n"
    "      --metrics-listen IP:PORT also serve GET /metrics (alone) on this\n"
    "                               address, with the API's TLS and tokens\n"
    "      --api-tls-cert FILE      serve the API over TLS with this certificate\n"
    "      --api-tls-key FILE       and this private key\n"
    "      --node-ca FILE           the cluster CA's certificate (PEM): the only\n"
    "                               issuer whose node certificates are trusted\n"
    "      --node-cert FILE         this node's certificate, naming\n"
    "                               quorumdns://node/ID (make it with `quorumdns ca`)\n"
    "      --node-key FILE          its private key (keep it mode 600)\n"
    "      --raft-transport tls|plaintext\n"
    "                               tls (default): raft connections authenticated\n"
    "                               with the node certificates; plaintext: anyone\n"
    "                               reaching the raft port can commit (tests only)\n"
    "      --restore-wait SECS      DNS opens once the snapshot and log are\n"
    "                               applied, which needs a leader to confirm the\n"
    "                               log; with SECS, serve what is applied when no\n"
    "                               leader did for SECS (default 0: wait)\n"
    "      --insync-rule all|reachable\n"
    "                               a change is INSYNC once every member has\n"
    "                               applied it (all), or every member the leader\n"
    "                               reaches (reachable: the others are named in\n"
    "                               the change; the default)\n"
    "      --ready-max-lag N        GET /v1/health says not ready when this node\n"
    "                               is more than N entries behind the leader\n"
    "                               (default 1000)\n"
    "  API limits (see README \"Security\"):\n"
    "      --api-max-connections N  open API connections at most (default 128)\n"
    "      --api-max-connections-per-address N\n"
    "                               from one source address (default 32)\n"
    "      --api-body-limit BYTES   body of an import or change batch (default 64M;\n"
    "                               K, M and G suffixes are 1024-based)\n"
    "      --api-small-body-limit BYTES  body of any other request (default 1M)\n"
    "      --api-anon-body-limit BYTES   body of a request without a valid token;\n"
    "                               a larger one is refused before it is read (4K)\n"
    "      --api-head-timeout SECS  a connection's first request head must arrive\n"
    "                               within this time (default 10)\n"
    "      --api-request-timeout SECS  a request, body included, and the idle time\n"
    "                               between requests (default 30)\n"
    "      --api-write-rate N       writes per second per token, 0: unlimited\n"
    "                               (default 200); beyond it: 429 with Retry-After\n"
    "      --api-write-burst N      writes a token may make at once (default 400)\n"
    "  -t, --check                  load the configuration and zones, report\n"
    "                               problems, and exit (0: all good, 1: errors)\n"
    "  -h, --help                   show this help and exit\n"
    "  -V, --version                show the version and exit\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop the node; SIGHUP reloads the zone files of a\n"
    "standalone node (a zone with errors keeps serving its previous contents),\n"
    "or the node CA, certificate and key of a cluster node (for new connections),\n"
    "and reopens the query log in both modes.\n"
    "Exit status: 0 success, 1 runtime or zone error, 2 usage error.\n";

int node_parse_address(const char *text, unsigned default_port,
                       struct sockaddr_storage *out)
{
        char host[INET6_ADDRSTRLEN + 8];
        unsigned long port = default_port;
        const char *port_text = NULL;
        memset(out, 0, sizeof(*out));
        if (text[0] == '[') {
                const char *end = strchr(text, ']');
                if (end == NULL || (size_t)(end - text - 1) >= sizeof(host))
                        return -EINVAL;
                memcpy(host, text + 1, (size_t)(end - text - 1));
                host[end - text - 1] = '\0';
                if (end[1] == ':')
                        port_text = end + 2;
                else if (end[1] != '\0')
                        return -EINVAL;
        } else {
                const char *colon = strchr(text, ':');
                if (colon != NULL && strchr(colon + 1, ':') == NULL) {
                        if ((size_t)(colon - text) >= sizeof(host))
                                return -EINVAL;
                        memcpy(host, text, (size_t)(colon - text));
                        host[colon - text] = '\0';
                        port_text = colon + 1;
                } else {
                        if (strlen(text) >= sizeof(host))
                                return -EINVAL;
                        strcpy(host, text);
                }
        }
        if (port_text != NULL) {
                char *end;
                errno = 0;
                port = strtoul(port_text, &end, 10);
                if (errno || *port_text == '\0' || *end != '\0' || port == 0 ||
                    port > 65535)
                        return -EINVAL;
        }
        struct sockaddr_in *a4 = (struct sockaddr_in *)out;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
        if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
                a4->sin_family = AF_INET;
                a4->sin_port = htons((uint16_t)port);
                return 0;
        }
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons((uint16_t)port);
                return 0;
        }
        return -EINVAL;
}

static int parse_uint(const char *text, unsigned long max, unsigned *out)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(text, &end, 10);
        if (errno || *text == '\0' || *end != '\0' || v > max || text[0] == '-')
                return -EINVAL;
        *out = (unsigned)v;
        return 0;
}

static int add_listen(struct node_config *cfg, const char *text, char *err, size_t n)
{
        if (cfg->listen_count == NODE_MAX_LISTEN) {
                snprintf(err, n, "listen: at most %d addresses", NODE_MAX_LISTEN);
                return -1;
        }
        if (node_parse_address(text, DEFAULT_PORT, &cfg->listen[cfg->listen_count]) !=
            0) {
                snprintf(err, n,
                         "listen: '%s' is not an address (1.2.3.4:53 or [::1]:53)", text);
                return -1;
        }
        snprintf(cfg->listen_text[cfg->listen_count], sizeof(cfg->listen_text[0]), "%s",
                 text);
        cfg->listen_count++;
        return 0;
}

static int add_zone(struct node_config *cfg, const char *origin, const char *path,
                    char *err, size_t n)
{
        if (path == NULL || *path == '\0') {
                snprintf(err, n, "zone: a file name is needed");
                return -1;
        }
        struct node_zone_config *grown =
            realloc(cfg->zones, (cfg->zone_count + 1) * sizeof(*grown));
        if (grown == NULL) {
                snprintf(err, n, "out of memory");
                return -1;
        }
        cfg->zones = grown;
        cfg->zones[cfg->zone_count].origin = origin ? strdup(origin) : NULL;
        cfg->zones[cfg->zone_count].path = strdup(path);
        cfg->zone_count++;
        return 0;
}

static int copy_text(char *dst, size_t size, const char *key, const char *value,
                     char *err, size_t n)
{
        if (strlen(value) >= size || *value == '\0') {
                snprintf(err, n, "%s: value must be 1..%zu characters", key, size - 1);
                return -1;
        }
        strcpy(dst, value);
        return 0;
}

static int parse_bootstrap(struct node_config *cfg, const char *value, char *err,
                           size_t n)
{
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s", value);
        cfg->bootstrap_count = 0;
        char *save = NULL;
        for (char *item = strtok_r(copy, ",", &save); item;
             item = strtok_r(NULL, ",", &save)) {
                char *at = strchr(item, '@');
                struct sockaddr_storage ss;
                char *end;
                unsigned long long id = at ? strtoull(item, &end, 10) : 0;
                if (at == NULL || end != at || id == 0 ||
                    cfg->bootstrap_count == NODE_MAX_BOOTSTRAP ||
                    node_parse_address(at + 1, 0, &ss) != 0 || strlen(at + 1) >= 64 ||
                    strchr(at + 1, ':') == NULL) {
                        snprintf(err, n,
                                 "bootstrap: '%s' is not ID@IP:PORT (at most %d members)",
                                 item, NODE_MAX_BOOTSTRAP);
                        return -1;
                }
                for (unsigned i = 0; i < cfg->bootstrap_count; i++)
                        if (cfg->bootstrap[i].id == id) {
                                snprintf(err, n, "bootstrap: id %llu appears twice", id);
                                return -1;
                        }
                cfg->bootstrap[cfg->bootstrap_count].id = id;
                strcpy(cfg->bootstrap[cfg->bootstrap_count].raft, at + 1);
                cfg->bootstrap_count++;
        }
        return 0;
}

/* "4096", "64K", "64M", "1G" (1024-based) up to 1 GiB; -EINVAL otherwise. */
static int parse_size(const char *text, size_t *out)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || end == text || text[0] == '-')
                return -EINVAL;
        unsigned shift = 0;
        if (*end == 'K' || *end == 'k')
                shift = 10;
        else if (*end == 'M' || *end == 'm')
                shift = 20;
        else if (*end == 'G' || *end == 'g')
                shift = 30;
        if (shift != 0)
                end++;
        if (*end != '\0' || v > (1ull << 30) >> shift)
                return -EINVAL;
        *out = (size_t)(v << shift);
        return 0;
}

/* The API's limits (struct node_http_limits), each with its range. */
static int apply_api_limit(struct node_config *cfg, const char *key, const char *value,
                           char *err, size_t n)
{
        struct node_http_limits *l = &cfg->api_limits;
        static const struct {
                const char *key;
                size_t offset;
                unsigned long min, max, scale; /* scale: seconds to ms */
        } counts[] = {
            {"api-max-connections", offsetof(struct node_http_limits, max_connections), 1,
             1000000, 1},
            {"api-max-connections-per-address",
             offsetof(struct node_http_limits, max_connections_per_address), 1, 1000000,
             1},
            {"api-head-timeout", offsetof(struct node_http_limits, head_timeout_ms), 1,
             3600, 1000},
            {"api-request-timeout", offsetof(struct node_http_limits, request_timeout_ms),
             1, 86400, 1000},
            {"api-write-rate", offsetof(struct node_http_limits, write_rate), 0, 1000000,
             1},
            {"api-write-burst", offsetof(struct node_http_limits, write_burst), 1,
             1000000, 1},
        };
        static const struct {
                const char *key;
                size_t offset;
        } sizes[] = {
            {"api-body-limit", offsetof(struct node_http_limits, body_max)},
            {"api-small-body-limit", offsetof(struct node_http_limits, small_body_max)},
            {"api-anon-body-limit", offsetof(struct node_http_limits, anon_body_max)},
        };
        for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
                if (strcmp(key, counts[i].key) != 0)
                        continue;
                unsigned v;
                if (parse_uint(value, counts[i].max, &v) != 0 || v < counts[i].min) {
                        snprintf(err, n, "%s: '%s' is not %lu..%lu", key, value,
                                 counts[i].min, counts[i].max);
                        return -1;
                }
                *(unsigned *)((char *)l + counts[i].offset) =
                    v * (unsigned)counts[i].scale;
                return 0;
        }
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                if (strcmp(key, sizes[i].key) != 0)
                        continue;
                size_t v;
                if (parse_size(value, &v) != 0) {
                        snprintf(err, n,
                                 "%s: '%s' is not a size of at most 1G (4096, 64K, 64M)",
                                 key, value);
                        return -1;
                }
                *(size_t *)((char *)l + sizes[i].offset) = v;
                return 0;
        }
        snprintf(err, n, "unknown setting '%s'", key);
        return -1;
}

static int apply_cluster(struct node_config *cfg, const char *key, const char *value,
                         char *err, size_t n)
{
        struct sockaddr_storage ss;
        if (strcmp(key, "node-id") == 0) {
                char *end;
                errno = 0;
                cfg->node_id = strtoull(value, &end, 10);
                if (errno || *end != '\0' || cfg->node_id == 0 || value[0] == '-' ||
                    cfg->node_id > (1ULL << 63)) {
                        snprintf(err, n, "node-id: '%s' is not 1..2^63", value);
                        return -1;
                }
                return 0;
        }
        if (strcmp(key, "node-name") == 0)
                return copy_text(cfg->node_name, sizeof(cfg->node_name), key, value, err,
                                 n);
        if (strcmp(key, "region") == 0)
                return copy_text(cfg->region, sizeof(cfg->region), key, value, err, n);
        if (strcmp(key, "data-dir") == 0)
                return copy_text(cfg->data_dir, sizeof(cfg->data_dir), key, value, err,
                                 n);
        if (strcmp(key, "raft-listen") == 0 || strcmp(key, "api-listen") == 0) {
                bool raft = key[0] == 'r';
                if (node_parse_address(value, 0, &ss) != 0 ||
                    strchr(value, ':') == NULL || ss.ss_family != AF_INET) {
                        snprintf(err, n, "%s: '%s' is not IPv4:PORT", key, value);
                        return -1;
                }
                if (!raft)
                        cfg->api_address = ss;
                return copy_text(raft ? cfg->raft_listen : cfg->api_listen, 64, key,
                                 value, err, n);
        }
        if (strcmp(key, "bootstrap") == 0)
                return parse_bootstrap(cfg, value, err, n);
        if (strcmp(key, "join") == 0)
                return copy_text(cfg->join, sizeof(cfg->join), key, value, err, n);
        if (strcmp(key, "join-role") == 0) {
                if (strcmp(value, "voter") != 0 && strcmp(value, "standby") != 0) {
                        snprintf(err, n, "join-role: '%s' is not voter or standby",
                                 value);
                        return -1;
                }
                cfg->join_standby = value[0] == 's';
                return 0;
        }
        if (strcmp(key, "api-token") == 0) {
                const char *colon = strchr(value, ':');
                int scope = 0;
                if (colon && (size_t)(colon - value) == 4 &&
                    strncmp(value, "read", 4) == 0)
                        scope = 1;
                if (colon && (size_t)(colon - value) == 5 &&
                    strncmp(value, "admin", 5) == 0)
                        scope = 2;
                if (scope == 0 || strlen(colon + 1) < 8 || strlen(colon + 1) > 127 ||
                    cfg->token_count == NODE_MAX_TOKENS) {
                        snprintf(err, n,
                                 "api-token: expected read:SECRET or admin:SECRET with a "
                                 "secret of 8..127 characters");
                        return -1;
                }
                cfg->tokens[cfg->token_count].scope = scope;
                strcpy(cfg->tokens[cfg->token_count].secret, colon + 1);
                cfg->token_count++;
                return 0;
        }
        if (strcmp(key, "metrics-listen") == 0) {
                if (strchr(value, ':') == NULL ||
                    node_parse_address(value, 0, &cfg->metrics_address) != 0) {
                        snprintf(err, n, "metrics-listen: '%s' is not IP:PORT", value);
                        return -1;
                }
                return copy_text(cfg->metrics_listen, sizeof(cfg->metrics_listen), key,
                                 value, err, n);
        }
        if (strcmp(key, "metrics-access") == 0) {
                if (strcmp(value, "token") != 0 && strcmp(value, "open") != 0) {
                        snprintf(err, n, "metrics-access: '%s' is not token or open",
                                 value);
                        return -1;
                }
                cfg->metrics_open = value[0] == 'o';
                return 0;
        }
        if (strcmp(key, "api-tls-cert") == 0)
                return copy_text(cfg->tls_cert, sizeof(cfg->tls_cert), key, value, err,
                                 n);
        if (strcmp(key, "api-tls-key") == 0)
                return copy_text(cfg->tls_key, sizeof(cfg->tls_key), key, value, err, n);
        if (strcmp(key, "node-ca") == 0)
                return copy_text(cfg->node_ca, sizeof(cfg->node_ca), key, value, err, n);
        if (strcmp(key, "node-cert") == 0)
                return copy_text(cfg->node_cert, sizeof(cfg->node_cert), key, value, err,
                                 n);
        if (strcmp(key, "node-key") == 0)
                return copy_text(cfg->node_key, sizeof(cfg->node_key), key, value, err,
                                 n);
        if (strcmp(key, "raft-transport") == 0) {
                if (strcmp(value, "tls") != 0 && strcmp(value, "plaintext") != 0) {
                        snprintf(err, n, "raft-transport: '%s' is not tls or plaintext",
                                 value);
                        return -1;
                }
                cfg->raft_plaintext = value[0] == 'p';
                return 0;
        }
        if (strcmp(key, "restore-wait") == 0) {
                if (parse_uint(value, 86400, &cfg->restore_wait_s) != 0) {
                        snprintf(err, n, "restore-wait: '%s' is not 0..86400 seconds",
                                 value);
                        return -1;
                }
                return 0;
        }
        if (strcmp(key, "insync-rule") == 0) {
                if (strcmp(value, "all") != 0 && strcmp(value, "reachable") != 0) {
                        snprintf(err, n, "insync-rule: '%s' is not all or reachable",
                                 value);
                        return -1;
                }
                cfg->insync_reachable = value[0] == 'r';
                return 0;
        }
        if (strcmp(key, "ready-max-lag") == 0) {
                if (parse_uint(value, 1000000000, &cfg->ready_max_lag) != 0) {
                        snprintf(err, n,
                                 "ready-max-lag: '%s' is not 0..1000000000 entries",
                                 value);
                        return -1;
                }
                return 0;
        }
        return apply_api_limit(cfg, key, value, err, n);
}

/* "example.com,example.org": the zones whose queries are logged. */
static int parse_qlog_zones(struct node_config *cfg, const char *value, char *err,
                            size_t n)
{
        cfg->query_log_zone_count = 0;
        char *copy = strdup(value), *save = NULL;
        if (copy == NULL) {
                snprintf(err, n, "out of memory");
                return -1;
        }
        int rc = 0;
        for (char *z = strtok_r(copy, ",", &save); z != NULL && rc == 0;
             z = strtok_r(NULL, ",", &save)) {
                char why[200];
                uint8_t *wire = cfg->query_log_zones[cfg->query_log_zone_count];
                if (cfg->query_log_zone_count == NODE_MAX_QLOG_ZONES) {
                        snprintf(err, n, "query-log-zones: more than %d zones",
                                 NODE_MAX_QLOG_ZONES);
                        rc = -1;
                } else if (dns_name_parse_text(z, wire, why, sizeof(why)) != 0) {
                        snprintf(err, n, "query-log-zones: '%s': %s", z, why);
                        rc = -1;
                } else {
                        dns_name_lower(wire);
                        cfg->query_log_zone_count++;
                }
        }
        free(copy);
        return rc;
}

static int parse_exempt(struct dns_rrl_config *rrl, const char *value, char *err,
                        size_t n)
{
        rrl->exempt_count = 0;
        if (strcmp(value, "none") == 0)
                return 0;
        char copy[1024], *save = NULL;
        snprintf(copy, sizeof(copy), "%s", value);
        for (char *item = strtok_r(copy, ",", &save); item != NULL;
             item = strtok_r(NULL, ",", &save)) {
                if (rrl->exempt_count == DNS_RRL_EXEMPT_MAX ||
                    dns_net_parse(item, &rrl->exempt[rrl->exempt_count]) != 0) {
                        snprintf(err, n,
                                 "rrl-exempt: '%s' is not a network (192.0.2.0/24, "
                                 "2001:db8::/32; at most %d)",
                                 item, DNS_RRL_EXEMPT_MAX);
                        return -1;
                }
                rrl->exempt_count++;
        }
        return 0;
}

/* The rrl-* settings: name, field, smallest and largest value. */
static int apply_rrl(struct node_config *cfg, const char *key, const char *value,
                     char *err, size_t n)
{
        struct dns_rrl_config *rrl = &cfg->rrl;
        if (strcmp(key, "rrl-exempt") == 0)
                return parse_exempt(rrl, value, err, n);
        const struct {
                const char *key;
                unsigned *field;
                unsigned min, max;
        } numbers[] = {
            {"rrl-rate", &rrl->rate, 0, 100000},
            {"rrl-window", &rrl->window, 1, 3600},
            {"rrl-slip", &rrl->slip, 0, 10},
            {"rrl-ipv4-prefix", &rrl->ipv4_prefix, 8, 32},
            {"rrl-ipv6-prefix", &rrl->ipv6_prefix, 16, 128},
            {"rrl-table-size", &rrl->table_size, 1024, 1u << 26},
        };
        for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
                if (strcmp(key, numbers[i].key) != 0)
                        continue;
                unsigned v;
                if (parse_uint(value, numbers[i].max, &v) != 0 || v < numbers[i].min) {
                        snprintf(err, n, "%s: '%s' is not %u..%u", key, value,
                                 numbers[i].min, numbers[i].max);
                        return -1;
                }
                *numbers[i].field = v;
                if (numbers[i].field == &rrl->rate)
                        rrl->enabled = v > 0;
                return 0;
        }
        return 1; /* not an rrl setting */
}

/* Applies one setting; the same code serves flags and file lines. */
static int apply(struct node_config *cfg, const char *key, const char *value, char *err,
                 size_t n)
{
        if (strcmp(key, "listen") == 0)
                return add_listen(cfg, value, err, n);
        if (strcmp(key, "zone") == 0) {
                const char *eq = strchr(value, '=');
                if (eq == NULL)
                        return add_zone(cfg, NULL, value, err, n);
                char origin[512];
                snprintf(origin, sizeof(origin), "%.*s", (int)(eq - value), value);
                return add_zone(cfg, origin, eq + 1, err, n);
        }
        if (strcmp(key, "tcp-idle-timeout") == 0 ||
            strcmp(key, "tcp-message-timeout") == 0) {
                unsigned secs;
                if (parse_uint(value, 86400, &secs) != 0 || secs == 0) {
                        snprintf(err, n, "%s: '%s' is not 1..86400 seconds", key, value);
                        return -1;
                }
                if (key[4] == 'i')
                        cfg->tcp_idle_timeout_ms = secs * 1000;
                else
                        cfg->tcp_message_timeout_ms = secs * 1000;
                return 0;
        }
        if (strcmp(key, "tcp-max-clients") == 0 ||
            strcmp(key, "tcp-max-per-source") == 0) {
                unsigned *out =
                    key[8] == 'c' ? &cfg->tcp_max_clients : &cfg->tcp_max_per_source;
                if (parse_uint(value, 1000000, out) != 0 || *out == 0) {
                        snprintf(err, n, "%s: '%s' is not 1..1000000", key, value);
                        return -1;
                }
                return 0;
        }
        if (strcmp(key, "cookies") == 0) {
                static const char *const modes[] = {"off", "on", "require"};
                for (int i = 0; i < 3; i++)
                        if (strcmp(value, modes[i]) == 0) {
                                cfg->cookies = i;
                                return 0;
                        }
                snprintf(err, n, "cookies: '%s' is not off, on or require", value);
                return -1;
        }
        if (strcmp(key, "any-udp") == 0) {
                if (strcmp(value, "rrset") != 0 && strcmp(value, "hinfo") != 0) {
                        snprintf(err, n, "any-udp: '%s' is not rrset or hinfo", value);
                        return -1;
                }
                cfg->any_hinfo = value[0] == 'h';
                return 0;
        }
        if (strcmp(key, "query-log") == 0)
                return copy_text(cfg->query_log, sizeof(cfg->query_log), key, value, err,
                                 n);
        if (strcmp(key, "query-log-sample") == 0) {
                if (parse_uint(value, 1000000000, &cfg->query_log_sample) != 0 ||
                    cfg->query_log_sample == 0) {
                        snprintf(err, n, "query-log-sample: '%s' is not 1..1000000000",
                                 value);
                        return -1;
                }
                return 0;
        }
        if (strcmp(key, "query-log-queue") == 0) {
                if (parse_uint(value, 1u << 24, &cfg->query_log_queue) != 0 ||
                    cfg->query_log_queue < 64) {
                        snprintf(err, n,
                                 "query-log-queue: '%s' is not 64..16777216 entries",
                                 value);
                        return -1;
                }
                return 0;
        }
        if (strcmp(key, "query-log-zones") == 0)
                return parse_qlog_zones(cfg, value, err, n);
        if (strcmp(key, "dnstap-file") == 0)
                return copy_text(cfg->dnstap_file, sizeof(cfg->dnstap_file), key, value,
                                 err, n);
        if (strcmp(key, "dnstap-socket") == 0)
                return copy_text(cfg->dnstap_socket, sizeof(cfg->dnstap_socket), key,
                                 value, err, n);
        if (strcmp(key, "dnstap-messages") == 0) {
                char why[200];
                if (dns_dnstap_messages_parse(value, &cfg->dnstap_messages, why,
                                              sizeof(why)) != 0) {
                        snprintf(err, n, "dnstap-messages: %s", why);
                        return -1;
                }
                return 0;
        }
        if (strcmp(key, "dnstap-queue") == 0) {
                if (parse_uint(value, 1u << 24, &cfg->dnstap_queue) != 0 ||
                    cfg->dnstap_queue < 64) {
                        snprintf(err, n, "dnstap-queue: '%s' is not 64..16777216 entries",
                                 value);
                        return -1;
                }
                return 0;
        }
        if (strcmp(key, "cookie-secret-file") == 0)
                return copy_text(cfg->cookie_secret_file, sizeof(cfg->cookie_secret_file),
                                 key, value, err, n);
        if (strcmp(key, "cookie-secret-overlap") == 0) {
                if (parse_uint(value, 30 * 86400, &cfg->cookie_secret_overlap_s) != 0) {
                        snprintf(err, n,
                                 "cookie-secret-overlap: '%s' is not 0..2592000 seconds",
                                 value);
                        return -1;
                }
                return 0;
        }
        if (strncmp(key, "ecs", 3) == 0 || strncmp(key, "geoip", 5) == 0 ||
            strcmp(key, "region-coordinates") == 0) {
                int rc = node_config_apply_geo(cfg, key, value, err, n);
                if (rc <= 0)
                        return rc;
        }
        if (strncmp(key, "rrl-", 4) == 0) {
                int rc = apply_rrl(cfg, key, value, err, n);
                if (rc <= 0)
                        return rc;
        }
        if (strcmp(key, "log-level") == 0) {
                if (log_level_parse(value, &cfg->log_level) != 0) {
                        snprintf(err, n,
                                 "log-level: '%s' is not error, warn, info or debug",
                                 value);
                        return -1;
                }
                return 0;
        }
        return apply_cluster(cfg, key, value, err, n);
}

static int load_file(struct node_config *cfg, const char *path, char *err, size_t n)
{
        FILE *fp = fopen(path, "r");
        if (fp == NULL) {
                snprintf(err, n, "%s: %s", path, strerror(errno));
                return -1;
        }
        char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;
        int rc = 0;
        while (rc == 0 && getline(&line, &cap, fp) >= 0) {
                lineno++;
                char *hash = strchr(line, '#');
                if (hash)
                        *hash = '\0';
                char *save = NULL;
                char *key = strtok_r(line, " \t\r\n", &save);
                if (key == NULL)
                        continue;
                char *value = strtok_r(NULL, " \t\r\n", &save);
                char *extra = strtok_r(NULL, " \t\r\n", &save);
                char joined[1024];
                if (strcmp(key, "zone") == 0 && value && extra) {
                        snprintf(joined, sizeof(joined), "%s=%s", value, extra);
                        value = joined;
                        extra = strtok_r(NULL, " \t\r\n", &save);
                }
                char reason[512];
                if (value == NULL) {
                        snprintf(err, n, "%s:%u: '%s' needs a value", path, lineno, key);
                        rc = -1;
                } else if (extra != NULL) {
                        snprintf(err, n, "%s:%u: unexpected '%s' after the value", path,
                                 lineno, extra);
                        rc = -1;
                } else if (apply(cfg, key, value, reason, sizeof(reason)) != 0) {
                        snprintf(err, n, "%s:%u: %s", path, lineno, reason);
                        rc = -1;
                }
        }
        free(line);
        fclose(fp);
        return rc;
}

static enum node_config_result check_cluster(struct node_config *cfg, char *err, size_t n)
{
        if (cfg->dnstap_file[0] != '\0' && cfg->dnstap_socket[0] != '\0') {
                snprintf(err, n,
                         "give either --dnstap-file or --dnstap-socket, not both");
                return NODE_CONFIG_USAGE;
        }
        if (!node_config_clustered(cfg)) {
                if (cfg->node_id || cfg->raft_listen[0] || cfg->bootstrap_count ||
                    cfg->join[0]) {
                        snprintf(err, n, "cluster settings need --data-dir");
                        return NODE_CONFIG_USAGE;
                }
                return NODE_CONFIG_OK;
        }
        if (cfg->node_id == 0 || cfg->raft_listen[0] == '\0') {
                snprintf(err, n, "cluster mode needs --node-id and --raft-listen");
                return NODE_CONFIG_USAGE;
        }
        if (cfg->zone_count > 0) {
                snprintf(
                    err, n,
                    "zone files are for standalone mode; in cluster mode import them "
                    "through the API (quorumctl zone import)");
                return NODE_CONFIG_USAGE;
        }
        if (cfg->bootstrap_count > 0 && cfg->join[0] != '\0') {
                snprintf(err, n, "give either --bootstrap or --join, not both");
                return NODE_CONFIG_USAGE;
        }
        if ((cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0')) {
                snprintf(err, n, "--api-tls-cert and --api-tls-key go together");
                return NODE_CONFIG_USAGE;
        }
        if (!cfg->raft_plaintext &&
            (!cfg->node_ca[0] || !cfg->node_cert[0] || !cfg->node_key[0])) {
                snprintf(err, n,
                         "cluster mode needs --node-ca, --node-cert and --node-key (make "
                         "them with `quorumdns ca init` and `quorumdns ca issue`), or "
                         "--raft-transport plaintext");
                return NODE_CONFIG_USAGE;
        }
        if (cfg->api_listen[0] == '\0') {
                strcpy(cfg->api_listen, "127.0.0.1:8080");
                node_parse_address(cfg->api_listen, 0, &cfg->api_address);
        }
        if (cfg->node_name[0] == '\0')
                snprintf(cfg->node_name, sizeof(cfg->node_name), "n%llu", cfg->node_id);
        return NODE_CONFIG_OK;
}

enum node_config_result node_config_parse(struct node_config *cfg, int argc, char **argv,
                                          char *err, size_t err_size)
{
        enum { OPT_IDLE = 256, OPT_MAXCLIENTS, OPT_LOGLEVEL, OPT_CLUSTER, OPT_DNS };
        static const struct option options[] = {
            {"config", required_argument, NULL, 'c'},
            {"listen", required_argument, NULL, 'l'},
            {"zone", required_argument, NULL, 'z'},
            {"tcp-idle-timeout", required_argument, NULL, OPT_IDLE},
            {"tcp-max-clients", required_argument, NULL, OPT_MAXCLIENTS},
            {"tcp-message-timeout", required_argument, NULL, OPT_DNS},
            {"tcp-max-per-source", required_argument, NULL, OPT_DNS},
            {"cookies", required_argument, NULL, OPT_DNS},
            {"any-udp", required_argument, NULL, OPT_DNS},
            {"cookie-secret-file", required_argument, NULL, OPT_DNS},
            {"query-log", required_argument, NULL, OPT_DNS},
            {"query-log-sample", required_argument, NULL, OPT_DNS},
            {"query-log-zones", required_argument, NULL, OPT_DNS},
            {"query-log-queue", required_argument, NULL, OPT_DNS},
            {"dnstap-file", required_argument, NULL, OPT_DNS},
            {"dnstap-socket", required_argument, NULL, OPT_DNS},
            {"dnstap-messages", required_argument, NULL, OPT_DNS},
            {"dnstap-queue", required_argument, NULL, OPT_DNS},
            {"cookie-secret-overlap", required_argument, NULL, OPT_DNS},
            {"rrl-rate", required_argument, NULL, OPT_DNS},
            {"rrl-window", required_argument, NULL, OPT_DNS},
            {"rrl-slip", required_argument, NULL, OPT_DNS},
            {"rrl-ipv4-prefix", required_argument, NULL, OPT_DNS},
            {"rrl-ipv6-prefix", required_argument, NULL, OPT_DNS},
            {"rrl-table-size", required_argument, NULL, OPT_DNS},
            {"rrl-exempt", required_argument, NULL, OPT_DNS},
            {"ecs", required_argument, NULL, OPT_DNS},
            {"ecs-max-ipv4-prefix", required_argument, NULL, OPT_DNS},
            {"ecs-max-ipv6-prefix", required_argument, NULL, OPT_DNS},
            {"ecs-trusted", required_argument, NULL, OPT_DNS},
            {"geoip-db", required_argument, NULL, OPT_DNS},
            {"region-coordinates", required_argument, NULL, OPT_DNS},
            {"log-level", required_argument, NULL, OPT_LOGLEVEL},
            {"data-dir", required_argument, NULL, OPT_CLUSTER},
            {"node-id", required_argument, NULL, OPT_CLUSTER},
            {"node-name", required_argument, NULL, OPT_CLUSTER},
            {"region", required_argument, NULL, OPT_CLUSTER},
            {"raft-listen", required_argument, NULL, OPT_CLUSTER},
            {"api-listen", required_argument, NULL, OPT_CLUSTER},
            {"bootstrap", required_argument, NULL, OPT_CLUSTER},
            {"join", required_argument, NULL, OPT_CLUSTER},
            {"join-role", required_argument, NULL, OPT_CLUSTER},
            {"api-token", required_argument, NULL, OPT_CLUSTER},
            {"metrics-access", required_argument, NULL, OPT_CLUSTER},
            {"metrics-listen", required_argument, NULL, OPT_CLUSTER},
            {"api-tls-cert", required_argument, NULL, OPT_CLUSTER},
            {"api-tls-key", required_argument, NULL, OPT_CLUSTER},
            {"api-max-connections", required_argument, NULL, OPT_CLUSTER},
            {"api-max-connections-per-address", required_argument, NULL, OPT_CLUSTER},
            {"api-body-limit", required_argument, NULL, OPT_CLUSTER},
            {"api-small-body-limit", required_argument, NULL, OPT_CLUSTER},
            {"api-anon-body-limit", required_argument, NULL, OPT_CLUSTER},
            {"api-head-timeout", required_argument, NULL, OPT_CLUSTER},
            {"api-request-timeout", required_argument, NULL, OPT_CLUSTER},
            {"api-write-rate", required_argument, NULL, OPT_CLUSTER},
            {"api-write-burst", required_argument, NULL, OPT_CLUSTER},
            {"restore-wait", required_argument, NULL, OPT_CLUSTER},
            {"ready-max-lag", required_argument, NULL, OPT_CLUSTER},
            {"insync-rule", required_argument, NULL, OPT_CLUSTER},
            {"node-ca", required_argument, NULL, OPT_CLUSTER},
            {"node-cert", required_argument, NULL, OPT_CLUSTER},
            {"node-key", required_argument, NULL, OPT_CLUSTER},
            {"raft-transport", required_argument, NULL, OPT_CLUSTER},
            {"check", no_argument, NULL, 't'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {NULL, 0, NULL, 0},
        };
        memset(cfg, 0, sizeof(*cfg));
        cfg->tcp_idle_timeout_ms = 10000;
        cfg->tcp_max_clients = 1024;
        cfg->tcp_message_timeout_ms = 5000;
        cfg->tcp_max_per_source = 64;
        dns_rrl_config_default(&cfg->rrl);
        dns_ecs_config_default(&cfg->ecs);
        cfg->cookies = 1;
        cfg->cookie_secret_overlap_s = 3600;
        cfg->log_level = LOG_LEVEL_INFO;
        node_http_limits_default(&cfg->api_limits);
        cfg->restore_wait_s = 0;
        cfg->ready_max_lag = 1000;
        cfg->insync_reachable = true;
        cfg->query_log_sample = 1;
        cfg->query_log_queue = 8192;
        cfg->dnstap_messages = DNS_DNSTAP_QUERY | DNS_DNSTAP_RESPONSE;
        cfg->dnstap_queue = 4096;

        /* First pass: only --config, --help and --version. */
        const char *config_path = NULL;
        int c;
        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":c:l:z:thV", options, NULL)) != -1) {
                if (c == 'c')
                        config_path = optarg;
                if (c == 'h') {
                        fputs(usage_text, stdout);
                        return NODE_CONFIG_EXIT;
                }
                if (c == 'V') {
                        printf("quorumdns %s\n", QDNS_VERSION);
                        return NODE_CONFIG_EXIT;
                }
                if (c == '?') {
                        snprintf(err, err_size, "unknown option '%s' (see --help)",
                                 argv[optind - 1]);
                        return NODE_CONFIG_USAGE;
                }
                if (c == ':') {
                        snprintf(err, err_size, "option '%s' needs a value (see --help)",
                                 argv[optind - 1]);
                        return NODE_CONFIG_USAGE;
                }
        }
        if (optind < argc) {
                snprintf(err, err_size, "unexpected argument '%s' (see --help)",
                         argv[optind]);
                return NODE_CONFIG_USAGE;
        }
        if (config_path != NULL && load_file(cfg, config_path, err, err_size) != 0)
                return NODE_CONFIG_ERROR;

        bool listen_flag_seen = false;
        optind = 1;
        int index = 0;
        while ((c = getopt_long(argc, argv, ":c:l:z:thV", options, &index)) != -1) {
                const char *key = NULL;
                switch (c) {
                case OPT_CLUSTER:
                case OPT_DNS:
                        key = options[index].name;
                        break;
                case 'l':
                        if (!listen_flag_seen) {
                                cfg->listen_count = 0;
                                listen_flag_seen = true;
                        }
                        key = "listen";
                        break;
                case 'z':
                        key = "zone";
                        break;
                case OPT_IDLE:
                        key = "tcp-idle-timeout";
                        break;
                case OPT_MAXCLIENTS:
                        key = "tcp-max-clients";
                        break;
                case OPT_LOGLEVEL:
                        key = "log-level";
                        break;
                case 't':
                        cfg->check_only = true;
                        break;
                }
                if (key != NULL && apply(cfg, key, optarg, err, err_size) != 0)
                        return NODE_CONFIG_USAGE;
        }
        if (cfg->listen_count == 0)
                add_listen(cfg, "127.0.0.1:53", err, err_size);
        return check_cluster(cfg, err, err_size);
}

void node_config_free(struct node_config *cfg)
{
        for (unsigned i = 0; i < cfg->zone_count; i++) {
                free(cfg->zones[i].origin);
                free(cfg->zones[i].path);
        }
        free(cfg->zones);
        cfg->zones = NULL;
        cfg->zone_count = 0;
}
