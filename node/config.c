/*
 * config.c — settings from the command line and the config file.
 *
 * Each flag and each config-file line becomes one (key, value) pair given
 * to apply(): the DNS serving settings are config_dns.c's, the location
 * settings config_geo.c's, the rest (listeners, zones, API, cluster) are
 * here; then the combination is checked (check_cluster).  The --help text
 * is config_help.c's.
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

#define DEFAULT_PORT 53

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

int node_config_parse_uint(const char *text, unsigned long max, unsigned *out)
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

int node_config_copy_text(char *dst, size_t size, const char *key, const char *value,
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
                if (node_config_parse_uint(value, counts[i].max, &v) != 0 ||
                    v < counts[i].min) {
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
                return node_config_copy_text(cfg->node_name, sizeof(cfg->node_name), key,
                                             value, err, n);
        if (strcmp(key, "region") == 0)
                return node_config_copy_text(cfg->region, sizeof(cfg->region), key, value,
                                             err, n);
        if (strcmp(key, "data-dir") == 0)
                return node_config_copy_text(cfg->data_dir, sizeof(cfg->data_dir), key,
                                             value, err, n);
        if (strcmp(key, "raft-listen") == 0 || strcmp(key, "api-listen") == 0) {
                bool raft = key[0] == 'r';
                if (node_parse_address(value, 0, &ss) != 0 ||
                    strchr(value, ':') == NULL || ss.ss_family != AF_INET) {
                        snprintf(err, n, "%s: '%s' is not IPv4:PORT", key, value);
                        return -1;
                }
                if (!raft)
                        cfg->api_address = ss;
                return node_config_copy_text(raft ? cfg->raft_listen : cfg->api_listen,
                                             64, key, value, err, n);
        }
        if (strcmp(key, "bootstrap") == 0)
                return parse_bootstrap(cfg, value, err, n);
        if (strcmp(key, "join") == 0)
                return node_config_copy_text(cfg->join, sizeof(cfg->join), key, value,
                                             err, n);
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
                return node_config_copy_text(
                    cfg->metrics_listen, sizeof(cfg->metrics_listen), key, value, err, n);
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
                return node_config_copy_text(cfg->tls_cert, sizeof(cfg->tls_cert), key,
                                             value, err, n);
        if (strcmp(key, "api-tls-key") == 0)
                return node_config_copy_text(cfg->tls_key, sizeof(cfg->tls_key), key,
                                             value, err, n);
        if (strcmp(key, "node-ca") == 0)
                return node_config_copy_text(cfg->node_ca, sizeof(cfg->node_ca), key,
                                             value, err, n);
        if (strcmp(key, "node-cert") == 0)
                return node_config_copy_text(cfg->node_cert, sizeof(cfg->node_cert), key,
                                             value, err, n);
        if (strcmp(key, "node-key") == 0)
                return node_config_copy_text(cfg->node_key, sizeof(cfg->node_key), key,
                                             value, err, n);
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
                if (node_config_parse_uint(value, 86400, &cfg->restore_wait_s) != 0) {
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
                if (node_config_parse_uint(value, 1000000000, &cfg->ready_max_lag) != 0) {
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
        int dns = node_config_apply_dns(cfg, key, value, err, n);
        if (dns <= 0)
                return dns;
        if (strncmp(key, "ecs", 3) == 0 || strncmp(key, "geoip", 5) == 0 ||
            strcmp(key, "region-coordinates") == 0 ||
            strcmp(key, "latency-report-interval") == 0) {
                int rc = node_config_apply_geo(cfg, key, value, err, n);
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
            {"latency-report-interval", required_argument, NULL, OPT_DNS},
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
        cfg->latency_report_ms = 30000;
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
                        fputs(node_config_usage, stdout);
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
