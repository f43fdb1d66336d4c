/*
 * main.c — the quorumdns node: start-up, serving, reload and shut-down.
 *
 * Start-up order: settings → zone files loaded into one transaction and
 * published (node/zone_files.h) → UDP and TCP servers bound on every listen
 * address → signals.
 * In cluster mode the DNS addresses are only checked at start: the servers
 * open once the replica has applied its snapshot and log (node/ready.c), so
 * a restarting node never answers from a half-restored state.
 * SIGHUP loads each zone file again in its own transaction: a zone file
 * with errors keeps its previous contents.  SIGTERM/SIGINT stop in the reverse
 * order of start-up (stop()): listeners, then work in flight, then raft,
 * then the rest, each module closing its own handles and reporting through
 * node/closing.h; the loop stops when the last closer has reported, and
 * the HTTP servers' h2o contexts are disposed after uv_run returned (never
 * from a loop callback), before the final check of node_closing_finish.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/log.h"
#include "dns/db.h"
#include "dns/server.h"
#include "node/admin_token.h"
#include "node/api.h"
#include "node/ca.h"
#include "node/closing.h"
#include "node/cluster.h"
#include "node/config.h"
#include "node/cookies.h"
#include "node/dns_stats.h"
#include "node/forward.h"
#include "node/geoip.h"
#include "node/health.h"
#include "node/heap.h"
#include "node/http.h"
#include "node/join.h"
#include "node/latency.h"
#include "node/zone_files.h"

struct node {
        uv_loop_t *loop;
        struct node_config cfg;
        struct dns_db db;
        struct dns_udp_server udp[NODE_MAX_LISTEN];
        struct dns_tcp_server tcp[NODE_MAX_LISTEN];
        struct dns_rrl rrl; /* shared by the UDP servers */
        struct node_cookies cookies;
        unsigned servers;
        uv_signal_t sigterm, sigint, sighup;
        struct node_geoip geoip;
        bool stopping;
        bool starting;   /* in start_cluster/start_servers: a signal is kept ... */
        bool stop_asked; /* ... here, and stop() runs once the start returned */
        /* cluster mode */
        struct node_cluster cluster;
        struct node_api api;
        struct node_health *health;   /* probes and votes (node/health.h) */
        struct node_latency *latency; /* the latency map's wiring (node/latency.h) */
        struct dns_rtt_table *rtt;    /* RTTs the TCP servers measure (with --region) */
        struct node_http *http;
        struct node_http *metrics_http; /* --metrics-listen, or NULL */
        struct node_join join;          /* --join */
        struct node_closing closing;    /* what stop() waits for (node/closing.h) */
        bool stats_started;
        int exit_code;
        struct dns_qlog *qlog;     /* the query log, or NULL */
        struct dns_dnstap *dnstap; /* dnstap output, or NULL */
        uv_timer_t stats_timer;
        struct node_dns_totals logged; /* as of the last stats log line */
};

/* SIGHUP: the query log and dnstap reopened, then the node certificates
 * (cluster mode) or every zone file, each in its own transaction. */
static void reload(struct node *node)
{
        if (node->qlog != NULL) {
                dns_qlog_reopen(node->qlog); /* after a rotation (logrotate) */
                LOG_INFO("SIGHUP: query log %s reopened", node->cfg.query_log);
        }
        if (node->dnstap != NULL)
                dns_dnstap_reopen(node->dnstap); /* a moved file is created again */
        if (node_config_clustered(&node->cfg)) {
                /* Certificates rotated in place (README, Security). */
                char err[600];
                if (node->cfg.raft_plaintext) {
                        LOG_INFO("SIGHUP: nothing to reload (plaintext raft transport; "
                                 "a cluster node's zones come from the API)");
                        return;
                }
                if (!node->cluster.running) {
                        LOG_INFO("SIGHUP: the node is still starting; send it again "
                                 "to reload the node certificates");
                        return;
                }
                if (node_identity_reload(&node->cluster.identity, err, sizeof(err)) != 0)
                        LOG_ERROR("reload: %s; the node keeps its current certificates",
                                  err);
                else
                        LOG_INFO("reload: node certificate %s and CA %s loaded",
                                 node->cfg.node_cert, node->cfg.node_ca);
                return;
        }
        node_zone_files_reload(&node->db, &node->cfg);
}

/* The DNS servers, query log and dnstap, for node/dns_stats.h. */
static struct node_dns_sources dns_sources(const struct node *node)
{
        return (struct node_dns_sources){.udp = node->udp,
                                         .tcp = node->tcp,
                                         .servers = node->servers,
                                         .qlog = node->qlog,
                                         .dnstap = node->dnstap};
}

static void dns_totals(const struct node *node, struct node_dns_totals *t)
{
        struct node_dns_sources src = dns_sources(node);
        node_dns_stats_totals(&src, t);
}

/* The query log, when configured; 0 or -1 (reported). */
static int open_query_log(struct node *node)
{
        const struct node_config *cfg = &node->cfg;
        if (cfg->query_log[0] == '\0')
                return 0;
        const uint8_t *zones[NODE_MAX_QLOG_ZONES];
        for (unsigned i = 0; i < cfg->query_log_zone_count; i++)
                zones[i] = cfg->query_log_zones[i];
        const struct dns_qlog_config qc = {
            .path = cfg->query_log,
            .sample = cfg->query_log_sample,
            .queue = cfg->query_log_queue,
            .node_id = cfg->node_id,
            .zones = zones,
            .zone_count = cfg->query_log_zone_count,
        };
        char err[600];
        if (dns_qlog_open(&node->qlog, &qc, err, sizeof(err)) != 0) {
                LOG_ERROR("%s", err);
                return -1;
        }
        return 0;
}

/* dnstap, when configured; 0 or -1 (reported).  The identity is the node
 * name (standalone: the host name). */
static int open_dnstap(struct node *node)
{
        const struct node_config *cfg = &node->cfg;
        if (cfg->dnstap_file[0] == '\0' && cfg->dnstap_socket[0] == '\0')
                return 0;
        char host[256] = "quorumdns";
        if (cfg->node_name[0] == '\0')
                gethostname(host, sizeof(host) - 1);
        const struct dns_dnstap_config dc = {
            .file = cfg->dnstap_file[0] ? cfg->dnstap_file : NULL,
            .socket = cfg->dnstap_socket,
            .messages = cfg->dnstap_messages,
            .queue = cfg->dnstap_queue,
            .identity = cfg->node_name[0] ? cfg->node_name : host,
            .version = "quorumdns " QDNS_VERSION,
        };
        char err[700];
        if (dns_dnstap_open(&node->dnstap, &dc, err, sizeof(err)) != 0) {
                LOG_ERROR("%s", err);
                return -1;
        }
        return 0;
}

/* /metrics: the totals and every server's counters summed into sum. */
static void dns_collect(void *ctx, struct node_dns_totals *t, struct dns_metrics *sum)
{
        struct node *node = ctx;
        struct node_dns_sources src = dns_sources(node);
        node_dns_stats_totals(&src, t);
        if (!node->stopping)
                node_dns_stats_merge(&src, sum);
}

/* /v1/health "dns": the counters an operator watches for abuse. */
static json_t *dns_stats_json(void *ctx)
{
        struct node_dns_totals t;
        dns_totals(ctx, &t);
        return node_dns_stats_json(&t);
}

/* One line about what the limits did, when they did something: never a line
 * per packet.  `final`: the totals at shut-down. */
static void log_dns_limits(struct node *node, bool final)
{
        struct node_dns_totals t;
        dns_totals(node, &t);
        if (!final && memcmp(&t, &node->logged, sizeof(t)) == 0)
                return;
        node_dns_stats_log_limits(&t, final ? NULL : &node->logged);
        node->logged = t;
}

static void on_stats_timer(uv_timer_t *timer)
{
        struct node *node = timer->data;
        struct node_dns_totals t;
        dns_totals(node, &t);
        if (node_dns_stats_limits_changed(&t, &node->logged))
                log_dns_limits(node, false);
}

static void server_closed_tcp(struct dns_tcp_server *s)
{
        struct node *node = s->loop->data;
        node_closing_release(&node->closing);
}

static void on_cluster_closed(struct node_cluster *c)
{
        struct node *node = (struct node *)((char *)c - offsetof(struct node, cluster));
        node_closing_release(&node->closing);
}

/* Closes the DNS servers: no new queries; TCP connections end at once. */
static void close_servers(struct node *node)
{
        for (unsigned i = 0; i < node->servers; i++) {
                dns_udp_server_close(&node->udp[i]);
                node_closing_hold(&node->closing);
                dns_tcp_server_close(&node->tcp[i], server_closed_tcp);
        }
}

/* The cluster side, in the reverse order of start_cluster (also after a
 * failed start: each closer skips what never started). */
static void close_cluster_side(struct node *node)
{
        struct node_closing *g = &node->closing;
        /* No new work: API listeners and the side channels of other nodes. */
        node_cluster_serve_calls(&node->cluster, NULL);
        node_http_close(node->http, g); /* disposed by main once the loop ended */
        node_http_close(node->metrics_http, g);
        /* Work in flight ends, each owner told once: relays are answered 503,
         * a join is cancelled, probes and votes stop. */
        node_api_relays_cancel(&node->api);
        node_join_close(&node->join, g);
        node_health_close(node->health, g);
        node->health = node->api.health = NULL;
        node_latency_close(node->latency, g);
        node->latency = node->api.latency = NULL;
        node_api_metrics_stop(&node->api, g);
        /* Raft last: polls and applied-index waits are cancelled, then the
         * replica closes (proposals in flight end with a shutdown status). */
        node_closing_hold(g);
        if (node_cluster_close(&node->cluster, on_cluster_closed) != 0)
                node_closing_release(g);
}

/* Every closer has reported its end.  The loop is stopped rather than left
 * to end by itself: the HTTP servers' h2o contexts keep an active handle
 * (their cross-thread queue's) until main disposes them after uv_run. */
static void on_all_closed(struct node_closing *g)
{
        uv_stop(g->loop);
}

/* SIGTERM/SIGINT, removal or a failed start: stops in the reverse order of
 * start-up (README, "Stopping a node").  The loop ends when the last handle
 * is closed by its owner; the safety net only reports owners that forgot. */
static void stop(struct node *node)
{
        if (node->stopping)
                return;
        node->stopping = true;
        struct node_closing *g = &node->closing;
        LOG_INFO("stopping");
        node_closing_hold(g);
        log_dns_limits(node, true);
        close_servers(node);
        if (node_config_clustered(&node->cfg))
                close_cluster_side(node);
        if (node->stats_started)
                node_closing_handle(g, (uv_handle_t *)&node->stats_timer);
        node_cookies_close(&node->cookies, g);
        node_closing_handle(g, (uv_handle_t *)&node->sigterm);
        node_closing_handle(g, (uv_handle_t *)&node->sigint);
        node_closing_handle(g, (uv_handle_t *)&node->sighup);
        node_closing_watch(g, NODE_CLOSING_NET_MS);
        node_closing_release(g);
}

static void on_signal(uv_signal_t *handle, int signum)
{
        struct node *node = handle->data;
        if (signum == SIGHUP) {
                node_cookies_reload(&node->cookies);
                node_geoip_reload(&node->geoip);
                reload(node);
        } else if (node->starting) {
                node->stop_asked = true; /* the replica may be running the loop */
        } else
                stop(node);
}

/*
 * Every TCP client holds a descriptor: lift the soft limit to the hard one,
 * and say so when the caps could still run the node out of descriptors
 * (accept would then fail for everyone, not only for the newest client).
 */
static void raise_fd_limit(const struct node_config *cfg)
{
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
                return;
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
        rlim_t need = (rlim_t)cfg->tcp_max_clients * cfg->listen_count + 256;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
                LOG_WARN("open files limit %llu is below what --tcp-max-clients %u on %u "
                         "addresses may need (%llu)",
                         (unsigned long long)rl.rlim_cur, cfg->tcp_max_clients,
                         cfg->listen_count, (unsigned long long)need);
}

static int start_servers(struct node *node)
{
        char err[256];
        struct dns_cookie_secrets *cookies =
            node->cfg.cookies > 0 ? &node->cookies.secrets : NULL;
        const struct dns_tcp_limits tcp = {
            .idle_timeout_ms = node->cfg.tcp_idle_timeout_ms,
            .message_timeout_ms = node->cfg.tcp_message_timeout_ms,
            .max_clients = node->cfg.tcp_max_clients,
            .max_per_source = node->cfg.tcp_max_per_source,
            .cookies = cookies,
            .qlog = node->qlog,
            .dnstap = node->dnstap,
            .ecs = &node->cfg.ecs,
            .rtt = node->rtt,
        };
        const struct dns_udp_limits udp = {
            .rrl = node->cfg.rrl.enabled ? &node->rrl : NULL,
            .cookies = cookies,
            .cookies_required = node->cfg.cookies == 2,
            .any_hinfo = node->cfg.any_hinfo,
            .qlog = node->qlog,
            .dnstap = node->dnstap,
            .ecs = &node->cfg.ecs,
        };
        for (unsigned i = 0; i < node->cfg.listen_count; i++) {
                const struct sockaddr *addr =
                    (const struct sockaddr *)&node->cfg.listen[i];
                if (dns_udp_server_start(&node->udp[i], addr, &node->db, &udp, err,
                                         sizeof(err)) != 0) {
                        LOG_ERROR("cannot serve on %s: %s", node->cfg.listen_text[i],
                                  err);
                        return -1;
                }
                if (dns_tcp_server_start(&node->tcp[i], node->loop, addr, &node->db, &tcp,
                                         err, sizeof(err)) != 0) {
                        LOG_ERROR("cannot serve on %s: %s", node->cfg.listen_text[i],
                                  err);
                        dns_udp_server_close(&node->udp[i]);
                        return -1;
                }
                node->servers++;
        }
        return 0;
}

/* Cluster mode binds DNS late: fail at start, not later, if it cannot. */
static int check_listen(struct node *node)
{
        for (unsigned i = 0; i < node->cfg.listen_count; i++) {
                const struct sockaddr *addr =
                    (const struct sockaddr *)&node->cfg.listen[i];
                socklen_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                            : sizeof(struct sockaddr_in);
                for (int k = 0; k < 2; k++) {
                        int fd = socket(addr->sa_family, k ? SOCK_STREAM : SOCK_DGRAM, 0);
                        int one = 1;
                        if (fd < 0)
                                return -errno;
                        if (k) /* TCP: a TIME_WAIT of a previous run is fine */
                                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                                           sizeof(one));
                        int rc = bind(fd, addr, len) == 0 ? 0 : -errno;
                        close(fd);
                        if (rc != 0) {
                                LOG_ERROR("cannot serve on %s (%s): %s",
                                          node->cfg.listen_text[i], k ? "TCP" : "UDP",
                                          strerror(-rc));
                                return rc;
                        }
                }
        }
        return 0;
}

static void on_restored(struct node_cluster *c)
{
        struct node *node = (struct node *)((char *)c - offsetof(struct node, cluster));
        if (node->stopping)
                return;
        if (start_servers(node) != 0) {
                node->exit_code = 1;
                stop(node);
                return;
        }
        for (unsigned i = 0; i < node->cfg.listen_count; i++)
                LOG_INFO("serving DNS on %s (UDP, TCP)", node->cfg.listen_text[i]);
}

static void on_removed(struct node_cluster *c)
{
        struct node *node = (struct node *)((char *)c - offsetof(struct node, cluster));
        stop(node);
}

static int start_cluster(struct node *node)
{
        struct node_config *cfg = &node->cfg;
        int trc = node_admin_token_ensure(cfg);
        if (trc != 0) {
                LOG_ERROR("cannot make an admin token in %s: %s", cfg->data_dir,
                          strerror(-trc));
                return -1;
        }
        if (cfg->region[0] != '\0' && (node->rtt = dns_rtt_table_new()) == NULL) {
                LOG_ERROR("out of memory");
                return -1;
        }
        if (node_cluster_start(&node->cluster, node->loop, cfg, &node->db, on_removed,
                               on_restored) != 0) {
                if (node->cluster.removed)
                        LOG_INFO("not starting: %s", node->cluster.error);
                else
                        LOG_ERROR("cannot start the cluster replica: %s",
                                  node->cluster.error);
                return -1;
        }
        node->api = (struct node_api){.loop = node->loop,
                                      .cluster = &node->cluster,
                                      .cfg = cfg,
                                      .dns_stats = dns_stats_json,
                                      .dns_collect = dns_collect,
                                      .dns_stats_ctx = node,
                                      .geoip = &node->geoip};
        /* Nodes call each other's API, which is TLS too; an https --join is
         * TLS in any case (trusting the cluster CA without an API
         * certificate), never plain HTTP. */
        const char *trust = cfg->tls_cert[0] ? cfg->tls_cert : NULL;
        if (trust == NULL && strncmp(cfg->join, "https://", 8) == 0) {
                trust = cfg->node_ca[0] ? cfg->node_ca : NULL;
                if (trust == NULL) {
                        LOG_ERROR("--join %s: https needs --api-tls-cert or --node-ca to "
                                  "trust",
                                  cfg->join);
                        return -1; /* main stops what started */
                }
        }
        if (trust != NULL) {
                char terr[300];
                if (node_forward_use_tls(trust, terr, sizeof(terr)) != 0) {
                        LOG_ERROR("%s", terr);
                        return -1; /* main stops what started */
                }
        }
        struct node_http_token tokens[NODE_MAX_TOKENS];
        for (unsigned i = 0; i < cfg->token_count; i++) {
                tokens[i].scope = (enum node_scope)cfg->tokens[i].scope;
                snprintf(tokens[i].secret, sizeof(tokens[i].secret), "%s",
                         cfg->tokens[i].secret);
        }
        struct node_http_config hc = {
            .address = (struct sockaddr *)&cfg->api_address,
            .route_ctx = &node->api,
            .tokens = tokens,
            .token_count = cfg->token_count,
            .tls_cert = cfg->tls_cert[0] ? cfg->tls_cert : NULL,
            .tls_key = cfg->tls_key[0] ? cfg->tls_key : NULL,
            .limits = cfg->api_limits,
        };
        hc.routes = node_api_routes(&hc.route_count);
        char err[256];
        if (node_http_start(&node->http, node->loop, &hc, err, sizeof(err)) != 0) {
                LOG_ERROR("cannot serve the API on %s: %s", cfg->api_listen, err);
                return -1;
        }
        node_cluster_serve_calls(&node->cluster, node->http);
        int hrc = node_health_start(&node->health, &node->cluster, node->loop, cfg);
        if (hrc != 0) {
                LOG_ERROR("cannot start health checking: %s", strerror(-hrc));
                return -1;
        }
        node->api.health = node->health;
        if (node_latency_start(&node->latency, &node->cluster, node->loop, cfg,
                               node->rtt) != 0)
                LOG_WARN(
                    "latency: out of memory: latency records fall back to the nearest "
                    "region");
        node->api.latency = node->latency;
        node_api_metrics_start(&node->api);
        if (cfg->metrics_listen[0] != '\0') {
                hc.address = (struct sockaddr *)&cfg->metrics_address;
                hc.routes = node_api_metrics_routes(&hc.route_count);
                if (node_http_start(&node->metrics_http, node->loop, &hc, err,
                                    sizeof(err)) != 0) {
                        LOG_ERROR("cannot serve /metrics on %s: %s", cfg->metrics_listen,
                                  err);
                        return -1;
                }
                LOG_INFO("serving /metrics on %s too", cfg->metrics_listen);
        }
        node_join_start(&node->join, node->loop, cfg, &node->cluster);
        LOG_INFO("node %llu (%s): raft %s, API %s", cfg->node_id, cfg->node_name,
                 cfg->raft_listen, cfg->api_listen);
        return 0;
}

int main(int argc, char **argv)
{
        static struct node node;
        char err[1024];
        signal(SIGPIPE, SIG_IGN);
        if (argc >= 2 && strcmp(argv[1], "ca") == 0)
                return node_ca_main(argc - 2, argv + 2);
        node_heap_huge_pages(argv);
        switch (node_config_parse(&node.cfg, argc, argv, err, sizeof(err))) {
        case NODE_CONFIG_OK:
                break;
        case NODE_CONFIG_EXIT:
                return 0;
        case NODE_CONFIG_USAGE:
                fprintf(stderr, "quorumdns: %s\n", err);
                return 2;
        case NODE_CONFIG_ERROR:
                fprintf(stderr, "quorumdns: %s\n", err);
                return 1;
        }
        log_threshold = node.cfg.log_level;
        if (dns_db_init(&node.db) != 0) {
                fprintf(stderr, "quorumdns: out of memory\n");
                return 1;
        }
        node_heap_load_begin(); /* many small blocks made and freed */
        uint64_t t0 = uv_hrtime();
        size_t records = 0;
        if (node_zone_files_load(&node.db, &node.cfg, &records) != 0) {
                fprintf(stderr, "quorumdns: zone errors; nothing is served\n");
                return 1;
        }
        double secs = (double)(uv_hrtime() - t0) / 1e9;
        node_heap_load_end();
        if (node_geoip_start(&node.geoip, uv_default_loop(), &node.db,
                             node.cfg.geoip_db) != 0) {
                fprintf(stderr, "quorumdns: geoip-db: %s\n", node.geoip.error);
                dns_db_fini(&node.db);
                node_config_free(&node.cfg);
                return 1;
        }
        if (node.cfg.check_only) {
                struct dns_cookie_keys keys;
                if (node.cfg.cookies > 0 && node.cfg.cookie_secret_file[0] != '\0' &&
                    node_cookies_read(node.cfg.cookie_secret_file, &keys, err,
                                      sizeof(err)) != 0) {
                        fprintf(stderr, "quorumdns: %s\n", err);
                        dns_db_fini(&node.db);
                        node_config_free(&node.cfg);
                        return 1;
                }
                printf("ok: %u zone%s, %zu record%s\n", node.cfg.zone_count,
                       node.cfg.zone_count == 1 ? "" : "s", records,
                       records == 1 ? "" : "s");

                dns_db_fini(&node.db);
                node_config_free(&node.cfg);
                return 0;
        }
        LOG_INFO("loaded %u zone%s, %zu record%s in %.2f s", node.cfg.zone_count,
                 node.cfg.zone_count == 1 ? "" : "s", records, records == 1 ? "" : "s",
                 secs);
        LOG_INFO("heap: %s", node_heap_allocator());

        node.loop = uv_default_loop();
        node.loop->data = &node;
        node_closing_init(&node.closing, node.loop, on_all_closed);
        raise_fd_limit(&node.cfg);
        int rc = 1;
        if (dns_rrl_init(&node.rrl, &node.cfg.rrl) != 0) {
                fprintf(stderr, "quorumdns: no memory for %u RRL accounts\n",
                        node.cfg.rrl.table_size);
                return 1;
        }
        if (node.cfg.cookies > 0 &&
            node_cookies_start(&node.cookies, node.loop, node.cfg.cookie_secret_file,
                               node.cfg.cookie_secret_overlap_s, err, sizeof(err)) != 0) {
                fprintf(stderr, "quorumdns: %s\n", err);
                return 1;
        }
        if (node.cfg.cookies > 0 && node.cfg.cookie_secret_file[0] == '\0' &&
            node_config_clustered(&node.cfg))
                LOG_WARN("DNS cookies: a random secret of this node; give every node the "
                         "same --cookie-secret-file so that cookies are valid on all");
        bool clustered = node_config_clustered(&node.cfg);
        /* Before the replica starts: a SIGTERM while it restores a large
         * snapshot then stops the node cleanly once the loop runs. */
        uv_signal_init(node.loop, &node.sigterm);
        uv_signal_init(node.loop, &node.sigint);
        uv_signal_init(node.loop, &node.sighup);
        node.sigterm.data = node.sigint.data = node.sighup.data = &node;
        uv_signal_start(&node.sigterm, on_signal, SIGTERM);
        uv_signal_start(&node.sigint, on_signal, SIGINT);
        uv_signal_start(&node.sighup, on_signal, SIGHUP);
        node.starting = true;
        bool started = open_query_log(&node) == 0 && open_dnstap(&node) == 0 &&
                       (clustered ? check_listen(&node) == 0 && start_cluster(&node) == 0
                                  : start_servers(&node) == 0);
        node.starting = false;
        if (started) {
                for (unsigned i = 0; i < node.cfg.listen_count && !clustered; i++)
                        LOG_INFO("serving DNS on %s (UDP, TCP)", node.cfg.listen_text[i]);
                if (clustered)
                        LOG_INFO("DNS opens once the snapshot and log are applied");
                uv_timer_init(node.loop, &node.stats_timer);
                node.stats_timer.data = &node;
                uv_timer_start(&node.stats_timer, on_stats_timer, 10000, 10000);
                node.stats_started = true;
                rc = 0;
        } else {
                stop(&node); /* what did start closes */
        }
        if (node.stop_asked)
                stop(&node); /* a signal came while the replica started */
        uv_run(node.loop, UV_RUN_DEFAULT);
        if (rc == 0)
                rc = node.exit_code;
        /* Frees queued on libuv's pool (old zones, a cut-short publish's
         * build) end before anything else goes: the loop runs until their
         * after-work callbacks ran (not if the safety net ended it). */
        if (node.cluster.discards > 0 && !node_closing_expired(&node.closing)) {
                LOG_INFO("stopping: waiting for %u free%s on the thread pool",
                         node.cluster.discards, node.cluster.discards == 1 ? "" : "s");
                while (node.cluster.discards > 0)
                        uv_run(node.loop, UV_RUN_ONCE);
        }
        /* The loop has ended: h2o's contexts are disposed outside every
         * callback (not if the safety net ended it: they are left). */
        node_http_dispose(node.http);
        node_http_dispose(node.metrics_http);
        node.http = node.metrics_http = NULL;
        unsigned stragglers = node_closing_finish(&node.closing);
        if (node_closing_expired(&node.closing)) {
                /* Their owners may still use what the node holds: exit as is. */
                LOG_ERROR("stopped: %u handle%s still open %d s after the stop began",
                          stragglers, stragglers == 1 ? "" : "s",
                          NODE_CLOSING_NET_MS / 1000);
                return node.cluster.exit_code != 0 ? node.cluster.exit_code : 1;
        }
        node_cluster_release(&node.cluster); /* the loop has run dry */
        if (uv_loop_close(node.loop) != 0)
                LOG_WARN("shutdown: the loop still has handles");
        dns_qlog_close(node.qlog); /* every DNS server is closed */
        dns_dnstap_close(node.dnstap);
        node_api_imports_free(&node.api);
        dns_rrl_fini(&node.rrl);
        dns_db_fini(&node.db);
        dns_rtt_table_free(node.rtt); /* the TCP servers are closed */
        node_config_free(&node.cfg);
        if (node.cluster.removed)
                rc = 0; /* removed: stopping is the expected outcome */
        if (rc == 0 && node.cluster.exit_code != 0) {
                rc = node.cluster.exit_code;
                LOG_ERROR("stopped (fail-stop, exit %d): %s", rc, node.cluster.error);
        } else if (rc == 0 && stragglers == 0) {
                LOG_INFO("stopped: every handle closed by its owner");
        } else if (rc == 0) {
                LOG_WARN("stopped: %u handle%s without an owner closed at the end",
                         stragglers, stragglers == 1 ? "" : "s");
        }
        return rc;
}
