/*
 * config_dns.c — the settings of DNS serving: TCP deadlines and caps,
 * cookies, ANY over UDP, Response Rate Limiting, the query log and dnstap
 * (README "Configuration").
 *
 * config.c hands every key it reads (file line or flag) to
 * node_config_apply_dns(); a key that is not one of these comes back as 1
 * and config.c goes on with the others.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dnstap.h"
#include "dns/name.h"
#include "dns/text.h"
#include "node/config.h"

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
        /* The whole value, however long: a copy cut short could end in a
         * shorter, wider network (".../12" read as ".../1"). */
        char *copy = strdup(value), *save = NULL;
        if (copy == NULL) {
                snprintf(err, n, "out of memory");
                return -1;
        }
        int rc = 0;
        for (char *item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
             item = strtok_r(NULL, ",", &save)) {
                if (rrl->exempt_count == DNS_RRL_EXEMPT_MAX ||
                    dns_net_parse(item, &rrl->exempt[rrl->exempt_count]) != 0) {
                        snprintf(err, n,
                                 "rrl-exempt: '%s' is not a network (192.0.2.0/24, "
                                 "2001:db8::/32; at most %d)",
                                 item, DNS_RRL_EXEMPT_MAX);
                        rc = -1;
                } else {
                        rrl->exempt_count++;
                }
        }
        free(copy);
        return rc;
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
                if (node_config_parse_uint(value, numbers[i].max, &v) != 0 ||
                    v < numbers[i].min) {
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

int node_config_apply_dns(struct node_config *cfg, const char *key, const char *value,
                          char *err, size_t n)
{
        if (strcmp(key, "tcp-idle-timeout") == 0 ||
            strcmp(key, "tcp-message-timeout") == 0) {
                unsigned secs;
                if (node_config_parse_uint(value, 86400, &secs) != 0 || secs == 0) {
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
                if (node_config_parse_uint(value, 1000000, out) != 0 || *out == 0) {
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
                return node_config_copy_text(cfg->query_log, sizeof(cfg->query_log), key,
                                             value, err, n);
        if (strcmp(key, "query-log-sample") == 0) {
                if (node_config_parse_uint(value, 1000000000, &cfg->query_log_sample) !=
                        0 ||
                    cfg->query_log_sample == 0) {
                        snprintf(err, n, "query-log-sample: '%s' is not 1..1000000000",
                                 value);
                        return -1;
                }
                return 0;
        }
        if (strcmp(key, "query-log-queue") == 0) {
                if (node_config_parse_uint(value, 1u << 24, &cfg->query_log_queue) != 0 ||
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
                return node_config_copy_text(cfg->dnstap_file, sizeof(cfg->dnstap_file),
                                             key, value, err, n);
        if (strcmp(key, "dnstap-socket") == 0)
                return node_config_copy_text(
                    cfg->dnstap_socket, sizeof(cfg->dnstap_socket), key, value, err, n);
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
                if (node_config_parse_uint(value, 1u << 24, &cfg->dnstap_queue) != 0 ||
                    cfg->dnstap_queue < 64) {
                        snprintf(err, n, "dnstap-queue: '%s' is not 64..16777216 entries",
                                 value);
                        return -1;
                }
                return 0;
        }
        if (strcmp(key, "cookie-secret-file") == 0)
                return node_config_copy_text(cfg->cookie_secret_file,
                                             sizeof(cfg->cookie_secret_file), key, value,
                                             err, n);
        if (strcmp(key, "cookie-secret-overlap") == 0) {
                if (node_config_parse_uint(value, 30 * 86400,
                                           &cfg->cookie_secret_overlap_s) != 0) {
                        snprintf(err, n,
                                 "cookie-secret-overlap: '%s' is not 0..2592000 seconds",
                                 value);
                        return -1;
                }
                return 0;
        }
        if (strncmp(key, "rrl-", 4) == 0) {
                int rc = apply_rrl(cfg, key, value, err, n);
                if (rc <= 0)
                        return rc;
        }
        return 1; /* not a DNS serving setting */
}
