/*
 * config.h — the node's settings, from a file and from flags.
 *
 * The file holds one setting per line, "key value...", with '#' comments;
 * each long flag has a key of the same name (`--listen X` ≡ `listen X`).
 * Flags are read after the file: listen flags replace the file's listen
 * addresses, zone flags add zones, others override.  Every problem gets a
 * one-line reason (with file:line for the file).
 */
#ifndef NODE_CONFIG_H
#define NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/log.h"
#include "dns/ecs.h"
#include "dns/rrl.h"
#include "node/http.h"

#define NODE_MAX_LISTEN     16
#define NODE_MAX_QLOG_ZONES 64

struct node_zone_config {
        char *origin; /* presentation form; NULL: from the file's SOA */
        char *path;
};

#define NODE_MAX_BOOTSTRAP 9
#define NODE_MAX_TOKENS    16

struct node_bootstrap_member {
        unsigned long long id;
        char raft[64]; /* "ip:port" */
};

struct node_token_config {
        int scope; /* 1 read, 2 admin (enum node_scope) */
        char secret[128];
};

struct node_config {
        struct sockaddr_storage listen[NODE_MAX_LISTEN];
        char listen_text[NODE_MAX_LISTEN][64];
        unsigned listen_count;
        struct node_zone_config *zones;
        unsigned zone_count;
        unsigned tcp_idle_timeout_ms;
        unsigned tcp_message_timeout_ms;
        unsigned tcp_max_clients;
        unsigned tcp_max_per_source;
        struct dns_rrl_config rrl;
        int cookies; /* 0 off, 1 on, 2 required over UDP (BADCOOKIE) */
        char cookie_secret_file[512];
        unsigned cookie_secret_overlap_s;
        bool any_hinfo; /* ANY over UDP: HINFO "RFC8482" instead of one RRset */
        struct dns_ecs_config ecs; /* EDNS Client Subnet (config_geo.c) */
        char geoip_db[512];        /* .mmdb file; "": none */
        enum log_level log_level;
        bool check_only;

        /* Cluster mode (data_dir set). */
        unsigned long long node_id;
        char node_name[64];
        char region[64];            /* health checks naming it in their regions run here;
                                       the region this node measures latency for */
        unsigned latency_report_ms; /* measured RTTs proposed this often */
        char data_dir[512];
        char raft_listen[64];
        char api_listen[64];
        struct sockaddr_storage api_address;
        struct node_bootstrap_member bootstrap[NODE_MAX_BOOTSTRAP];
        unsigned bootstrap_count;
        char join[256]; /* API URL of a member to join through */
        bool join_standby;
        struct node_token_config tokens[NODE_MAX_TOKENS];
        unsigned token_count;
        char tls_cert[512];
        char tls_key[512];
        struct node_http_limits api_limits;
        unsigned restore_wait_s; /* serve unconfirmed data after this; 0: never */
        unsigned ready_max_lag;  /* entries behind the leader still ready */
        bool insync_reachable;   /* INSYNC without waiting for unreachable members */
        bool metrics_open;       /* GET /metrics without a token */
        char metrics_listen[64]; /* a listener for /metrics alone; "": none */
        struct sockaddr_storage metrics_address;
        /* The query log (dns/qlog.h); path empty: off. */
        char query_log[512];
        unsigned query_log_sample; /* 1 in N; 0 or 1: every query */
        unsigned query_log_queue;  /* entries per DNS server */
        uint8_t query_log_zones[NODE_MAX_QLOG_ZONES][256]; /* wire, lowercase */
        unsigned query_log_zone_count;
        /* dnstap (dns/dnstap.h): a file or a collector's socket; both empty: off. */
        char dnstap_file[512];
        char dnstap_socket[108];
        unsigned dnstap_messages; /* DNS_DNSTAP_QUERY | DNS_DNSTAP_RESPONSE */
        unsigned dnstap_queue;    /* entries per DNS server */
        /* Node identity (node/identity.h): the cluster CA and this node's
         * certificate and key; raft connections are authenticated with
         * them unless raft_plaintext. */
        char node_ca[512];
        char node_cert[512];
        char node_key[512];
        bool raft_plaintext;
};

static inline bool node_config_clustered(const struct node_config *cfg)
{
        return cfg->data_dir[0] != '\0';
}

enum node_config_result {
        NODE_CONFIG_OK = 0,
        NODE_CONFIG_EXIT = 1,  /* --help or --version printed: exit 0 */
        NODE_CONFIG_USAGE = 2, /* bad flags: exit 2 */
        NODE_CONFIG_ERROR = 3, /* bad config file: exit 1 */
};

/* Fills cfg from argv (and the file named by --config); err gets the reason. */
enum node_config_result node_config_parse(struct node_config *cfg, int argc, char **argv,
                                          char *err, size_t err_size);
void node_config_free(struct node_config *cfg);

/* Parses "1.2.3.4", "1.2.3.4:53", "[::1]:53", "::1"; default_port when absent. */
int node_parse_address(const char *text, unsigned default_port,
                       struct sockaddr_storage *out);

/* The DNS serving settings (config_dns.c): 0, -1 with err, or 1 when key
 * is not one of them. */
int node_config_apply_dns(struct node_config *cfg, const char *key, const char *value,
                          char *err, size_t n);

/* The text of --help (config_help.c). */
extern const char node_config_usage[];

/* For the config_*.c files: a decimal 0..max (0 or -EINVAL), and a string
 * setting copied into a fixed buffer (0, or -1 with err). */
int node_config_parse_uint(const char *text, unsigned long max, unsigned *out);
int node_config_copy_text(char *dst, size_t size, const char *key, const char *value,
                          char *err, size_t n);

/* The ECS and GeoIP settings (config_geo.c): 0, -1 with err, or 1 when
 * key is not one of them. */
int node_config_apply_geo(struct node_config *cfg, const char *key, const char *value,
                          char *err, size_t n);

/* The coordinates (millionths of a degree) of a region named by
 * --region-coordinates (config_geo.c; the process's one table): 0, or
 * -ENOENT. */
#define NODE_REGIONS_MAX    64
#define NODE_REGION_NAMEMAX 63
int node_region_find(const char *name, int32_t *lat, int32_t *lon);

#endif
