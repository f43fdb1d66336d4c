/*
 * main.c — the quorumdns node: start-up, serving, reload and shut-down.
 *
 * Start-up order: settings → zone files loaded into one transaction and
 * published → UDP and TCP servers bound on every listen address → signals.
 * SIGHUP loads the zone files again in a new transaction: a zone file with
 * errors keeps its previous contents.  SIGTERM/SIGINT close the servers and
 * the loop ends when the last handle is closed.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/log.h"
#include "dns/db.h"
#include "dns/server.h"
#include "dns/zonefile.h"
#include "node/config.h"

struct node {
        uv_loop_t *loop;
        struct node_config cfg;
        struct dns_db db;
        struct dns_udp_server udp[NODE_MAX_LISTEN];
        struct dns_tcp_server tcp[NODE_MAX_LISTEN];
        unsigned servers;
        uv_signal_t sigterm, sigint, sighup;
        bool stopping;
};

static void print_zone_error(void *ctx, const char *file, unsigned line, const char *msg)
{
        if (line > 0)
                fprintf(stderr, "%s:%u: %s\n", file, line, msg);
        else
                fprintf(stderr, "%s: %s\n", file, msg);
}

/* Loads one configured zone file into txn; returns 0 or a negative error. */
static int load_zone(struct dns_txn *txn, const struct node_zone_config *z,
                     size_t *records)
{
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        uint8_t *given = NULL;
        if (z->origin != NULL) {
                if (dns_name_from_text(z->origin, origin) != 0) {
                        fprintf(stderr, "%s: '%s' is not a valid zone name\n", z->path,
                                z->origin);
                        return -EINVAL;
                }
                given = origin;
        }
        struct dns_zonefile_stats stats;
        int rc =
            dns_zonefile_load(txn, z->path, given, NULL, print_zone_error, NULL, &stats);
        *records += stats.records;
        return rc;
}

/* Loads every zone in one transaction: all published together or none. */
static int load_all(struct node *node, size_t *records)
{
        struct dns_txn txn;
        if (dns_txn_begin(&node->db, &txn) != 0)
                return -ENOMEM;
        int failed = 0;
        *records = 0;
        for (unsigned i = 0; i < node->cfg.zone_count; i++)
                if (load_zone(&txn, &node->cfg.zones[i], records) != 0)
                        failed++;
        if (failed) {
                dns_txn_abort(&txn);
                return -EINVAL;
        }
        return dns_txn_commit(&txn);
}

/* SIGHUP: each zone in its own transaction, so one bad file blocks only itself. */
static void reload(struct node *node)
{
        unsigned ok = 0;
        for (unsigned i = 0; i < node->cfg.zone_count; i++) {
                struct dns_txn txn;
                size_t records = 0;
                if (dns_txn_begin(&node->db, &txn) != 0)
                        continue;
                if (load_zone(&txn, &node->cfg.zones[i], &records) != 0) {
                        dns_txn_abort(&txn);
                        LOG_ERROR("reload: %s has errors; its previous contents stay",
                                  node->cfg.zones[i].path);
                        continue;
                }
                if (dns_txn_commit(&txn) == 0)
                        ok++;
        }
        LOG_INFO("reload: %u of %u zones reloaded", ok, node->cfg.zone_count);
}

static void server_closed_udp(struct dns_udp_server *s)
{
}

static void server_closed_tcp(struct dns_tcp_server *s)
{
}

static void stop(struct node *node)
{
        if (node->stopping)
                return;
        node->stopping = true;
        LOG_INFO("stopping");
        for (unsigned i = 0; i < node->servers; i++) {
                dns_udp_server_close(&node->udp[i], server_closed_udp);
                dns_tcp_server_close(&node->tcp[i], server_closed_tcp);
        }
        uv_close((uv_handle_t *)&node->sigterm, NULL);
        uv_close((uv_handle_t *)&node->sigint, NULL);
        uv_close((uv_handle_t *)&node->sighup, NULL);
}

static void on_signal(uv_signal_t *handle, int signum)
{
        struct node *node = handle->data;
        if (signum == SIGHUP)
                reload(node);
        else
                stop(node);
}

static int start_servers(struct node *node)
{
        char err[256];
        for (unsigned i = 0; i < node->cfg.listen_count; i++) {
                const struct sockaddr *addr =
                    (const struct sockaddr *)&node->cfg.listen[i];
                if (dns_udp_server_start(&node->udp[i], node->loop, addr, &node->db, err,
                                         sizeof(err)) != 0) {
                        LOG_ERROR("cannot serve on %s: %s", node->cfg.listen_text[i],
                                  err);
                        return -1;
                }
                if (dns_tcp_server_start(&node->tcp[i], node->loop, addr, &node->db,
                                         node->cfg.tcp_idle_timeout_ms,
                                         node->cfg.tcp_max_clients, err,
                                         sizeof(err)) != 0) {
                        LOG_ERROR("cannot serve on %s: %s", node->cfg.listen_text[i],
                                  err);
                        dns_udp_server_close(&node->udp[i], server_closed_udp);
                        return -1;
                }
                node->servers++;
        }
        return 0;
}

int main(int argc, char **argv)
{
        static struct node node;
        char err[1024];
        signal(SIGPIPE, SIG_IGN);
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
        /* Loading makes and frees many small blocks: keep glibc from giving
         * the top of the heap back to the kernel after every free. */
        mallopt(M_TRIM_THRESHOLD, 512 << 20);
        mallopt(M_TOP_PAD, 64 << 20);
        uint64_t t0 = uv_hrtime();
        size_t records = 0;
        if (load_all(&node, &records) != 0) {
                fprintf(stderr, "quorumdns: zone errors; nothing is served\n");
                return 1;
        }
        double secs = (double)(uv_hrtime() - t0) / 1e9;
        malloc_trim(0);
        if (node.cfg.check_only) {
                printf("ok: %u zones, %zu records\n", node.cfg.zone_count, records);
                dns_db_fini(&node.db);
                node_config_free(&node.cfg);
                return 0;
        }
        LOG_INFO("loaded %u zones, %zu records in %.2f s", node.cfg.zone_count, records,
                 secs);

        node.loop = uv_default_loop();
        int rc = 1;
        if (start_servers(&node) == 0) {
                uv_signal_init(node.loop, &node.sigterm);
                uv_signal_init(node.loop, &node.sigint);
                uv_signal_init(node.loop, &node.sighup);
                node.sigterm.data = node.sigint.data = node.sighup.data = &node;
                uv_signal_start(&node.sigterm, on_signal, SIGTERM);
                uv_signal_start(&node.sigint, on_signal, SIGINT);
                uv_signal_start(&node.sighup, on_signal, SIGHUP);
                for (unsigned i = 0; i < node.cfg.listen_count; i++)
                        LOG_INFO("serving DNS on %s (UDP, TCP)", node.cfg.listen_text[i]);
                rc = 0;
        } else {
                for (unsigned i = 0; i < node.servers; i++) {
                        dns_udp_server_close(&node.udp[i], server_closed_udp);
                        dns_tcp_server_close(&node.tcp[i], server_closed_tcp);
                }
        }
        uv_run(node.loop, UV_RUN_DEFAULT);
        uv_loop_close(node.loop);
        dns_db_fini(&node.db);
        node_config_free(&node.cfg);
        if (rc == 0)
                LOG_INFO("stopped");
        return rc;
}
