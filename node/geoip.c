/*
 * geoip.c — the node's GeoIP database (see geoip.h).
 *
 * A load (struct node_geoip_load) runs load_run(): geo_db_open(), then
 * geo_table_build() into a struct handle wrapping the table as a struct
 * dns_geo, and closes the file (kept open only when the tree does not
 * compile).  load_publish() then hands the handle to dns_db_geo_publish()
 * on the loop; the query path calls handle_lookup() through the catalog,
 * one table lookup, and the catalog's grace period ends in
 * handle_release().  node_geoip_start() does both in the caller; a reload
 * runs load_run() with uv_queue_work() and load_publish() in its after-work
 * callback, then answers the API requests that waited for it.  Reloads
 * asked for meanwhile wait for one more load.  The subdivision table is
 * read once from iso-codes' JSON with jansson (node/ is where jansson
 * lives).
 */
#include "node/geoip.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/log.h"
#include "dns/route.h"

#define ISO_3166_2 "/usr/share/iso-codes/json/iso_3166-2.json"

struct handle {
        struct dns_geo base;
        struct geo_table *table; /* NULL: look up in db */
        struct geo_db *db;       /* open only without a table */
};

static int handle_lookup(const struct dns_geo *geo, const struct dns_net *net,
                         struct dns_geo_place *out)
{
        const struct handle *h = (const struct handle *)geo;
        struct geo_place p;
        int rc = h->table ? geo_table_lookup(h->table, net->family, net->bytes, &p)
                          : geo_db_lookup(h->db, net->family, net->bytes, &p);
        if (rc != 0)
                return rc;
        memcpy(out->continent, p.continent, sizeof(out->continent));
        memcpy(out->country, p.country, sizeof(out->country));
        memcpy(out->subdivision, p.subdivision, sizeof(out->subdivision));
        out->prefix = p.prefix;
        out->has_coordinates = p.has_coordinates;
        out->latitude = p.latitude;
        out->longitude = p.longitude;
        return 0;
}

static bool handle_warm(const struct dns_geo *geo, const struct dns_net *net,
                        struct dns_geo_warm *w)
{
        const struct handle *h = (const struct handle *)geo;
        struct geo_table_warm tw = {w->at, w->depth};
        bool more = w->at == NULL
                        ? geo_table_warm_begin(h->table, net->family, net->bytes, &tw)
                        : geo_table_warm_step(h->table, net->bytes, &tw);
        w->at = tw.at;
        w->depth = tw.depth;
        return more;
}

static void handle_release(void *ptr)
{
        struct handle *h = ptr;
        geo_table_free(h->table);
        geo_db_close(h->db);
        free(h);
}

/* ---- ISO 3166-2 ---------------------------------------------------------------- */

static struct geo_names names;
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_load(void)
{
        json_error_t jerr;
        json_t *root = json_load_file(ISO_3166_2, 0, &jerr);
        json_t *list = root ? json_object_get(root, "3166-2") : NULL;
        size_t n = json_array_size(list);
        names.items = n ? calloc(n, sizeof(names.items[0])) : NULL;
        if (names.items == NULL) {
                if (root == NULL)
                        LOG_WARN("%s: %s; subdivision names and codes are not checked",
                                 ISO_3166_2, jerr.text);
                json_decref(root);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                json_t *item = json_array_get(list, i);
                const char *code = json_string_value(json_object_get(item, "code"));
                const char *name = json_string_value(json_object_get(item, "name"));
                const char *dash = code ? strchr(code, '-') : NULL;
                if (name == NULL || dash == NULL || dash - code != 2 ||
                    strlen(dash + 1) < 1 || strlen(dash + 1) > 3)
                        continue;
                struct geo_subdivision *s = &names.items[names.count];
                s->name = strdup(name);
                if (s->name == NULL)
                        break;
                memcpy(s->country, code, 2);
                snprintf(s->code, sizeof(s->code), "%s", dash + 1);
                names.count++;
        }
        json_decref(root);
        geo_names_sort(&names);
}

const struct geo_names *node_geo_names(void)
{
        pthread_once(&names_once, names_load);
        return &names;
}

bool node_geo_subdivision_exists(const char *country, const char *code)
{
        const struct geo_names *t = node_geo_names();
        size_t len = strlen(code);
        if (len < 1 || len > 3)
                return false;
        if (t->count == 0) {
                for (size_t i = 0; i < len; i++)
                        if (!((code[i] >= 'A' && code[i] <= 'Z') ||
                              (code[i] >= '0' && code[i] <= '9')))
                                return false;
                return true;
        }
        for (size_t i = 0; i < t->count; i++)
                if (memcmp(t->items[i].country, country, 2) == 0 &&
                    strcmp(t->items[i].code, code) == 0)
                        return true;
        return false;
}

/* ---- the database -------------------------------------------------------------- */

struct node_geoip_waiter {
        void (*done)(void *ctx, int rc);
        void *ctx;
        struct node_geoip_waiter *next;
};

struct node_geoip_load {
        uv_work_t work;
        struct node_geoip *g;
        char path[512];
        struct handle *h; /* the result, or NULL */
        struct geo_info info;
        struct geo_table_stats table;
        double seconds;
        char error[320];
        char warning[320]; /* served from the file: why */
        struct node_geoip_waiter *waiters;
};

static double seconds_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens and compiles l->path into l->h (NULL with l->error).  Any thread. */
static void load_run(struct node_geoip_load *l)
{
        double t0 = seconds_now();
        struct handle *h = calloc(1, sizeof(*h));
        if (h == NULL) {
                snprintf(l->error, sizeof(l->error), "out of memory");
                return;
        }
        char err[300];
        if (geo_db_open(l->path, node_geo_names(), &h->db, err, sizeof(err)) != 0) {
                snprintf(l->error, sizeof(l->error), "%s", err);
                free(h);
                return;
        }
        geo_db_info(h->db, &l->info);
        int rc = geo_table_build(h->db, &h->table, err, sizeof(err));
        if (rc == -ENOMEM) {
                snprintf(l->error, sizeof(l->error), "%.150s: compiling: %.150s", l->path,
                         err);
                handle_release(h);
                return;
        }
        if (rc != 0) {
                h->table = NULL;
                snprintf(l->warning, sizeof(l->warning), "%.150s: not compiled (%.150s)",
                         l->path, err);
        } else {
                geo_table_stats(h->table, &l->table);
                geo_db_close(h->db);
                h->db = NULL;
        }
        h->base.lookup = handle_lookup;
        h->base.warm = h->table ? handle_warm : NULL;
        h->base.release = handle_release;
        l->h = h;
        l->seconds = seconds_now() - t0;
}

/* On the db's thread: l's database becomes the one queries see.  0 or -1
 * (g->error). */
static int load_publish(struct node_geoip *g, struct node_geoip_load *l)
{
        if (l->h == NULL) {
                snprintf(g->error, sizeof(g->error), "%s", l->error);
                return -1;
        }
        if (dns_db_geo_publish(g->db, &l->h->base) != 0) {
                snprintf(g->error, sizeof(g->error), "out of memory");
                handle_release(l->h);
                l->h = NULL;
                return -1;
        }
        l->h = NULL;
        if (l->warning[0] != '\0')
                LOG_WARN("GeoIP database %s; queries read the file", l->warning);
        g->info = l->info;
        g->compiled = l->table.bytes > 0;
        g->table = l->table;
        g->load_seconds = l->seconds;
        g->loaded = true;
        g->loaded_at = (uint64_t)time(NULL);
        g->error[0] = '\0';
        return 0;
}

static struct node_geoip_load *load_new(struct node_geoip *g)
{
        struct node_geoip_load *l = calloc(1, sizeof(*l));
        if (l == NULL)
                return NULL;
        l->g = g;
        snprintf(l->path, sizeof(l->path), "%s", g->path);
        return l;
}

static void log_loaded(const struct node_geoip *g, const char *what)
{
        LOG_INFO("%sGeoIP database %s: %s, built %llu, %llu bytes; %zu networks, %zu "
                 "places, %.1f MB compiled in %.2f s",
                 what, g->path, g->info.type, (unsigned long long)g->info.build_epoch,
                 (unsigned long long)g->info.size, g->table.networks, g->table.places,
                 (double)g->table.bytes / 1e6, g->load_seconds);
}

int node_geoip_start(struct node_geoip *g, uv_loop_t *loop, struct dns_db *db,
                     const char *path)
{
        memset(g, 0, sizeof(*g));
        g->db = db;
        g->loop = loop;
        snprintf(g->path, sizeof(g->path), "%s", path);
        if (path[0] == '\0')
                return 0;
        struct node_geoip_load *l = load_new(g);
        if (l == NULL) {
                snprintf(g->error, sizeof(g->error), "out of memory");
                return -1;
        }
        load_run(l);
        int rc = load_publish(g, l);
        free(l);
        if (rc != 0)
                return -1;
        log_loaded(g, "");
        return 0;
}

static void load_work(uv_work_t *req)
{
        load_run(req->data);
}

static int load_start(struct node_geoip *g);

/* After the work: publish, answer the waiters, start the next load. */
static void load_done(uv_work_t *req, int status)
{
        struct node_geoip_load *l = req->data;
        struct node_geoip *g = l->g;
        if (status != 0 && l->h == NULL && l->error[0] == '\0')
                snprintf(l->error, sizeof(l->error), "the load was cancelled");
        int rc = load_publish(g, l);
        if (rc == 0) {
                g->reloads++;
                log_loaded(g, "reload: ");
        } else {
                LOG_ERROR("reload: GeoIP database %s; the loaded one stays", g->error);
        }
        g->loading = NULL;
        struct node_geoip_waiter *w = l->waiters;
        free(l);
        while (w != NULL) {
                struct node_geoip_waiter *next = w->next;
                w->done(w->ctx, rc);
                free(w);
                w = next;
        }
        if (g->again) {
                g->again = false;
                if (load_start(g) != 0) {
                        LOG_ERROR("reload: GeoIP database: out of memory");
                        for (w = g->waiting, g->waiting = NULL; w != NULL;) {
                                struct node_geoip_waiter *next = w->next;
                                snprintf(g->error, sizeof(g->error), "out of memory");
                                w->done(w->ctx, -1);
                                free(w);
                                w = next;
                        }
                }
        }
}

/* A load of the file with the waiters so far, on the pool. */
static int load_start(struct node_geoip *g)
{
        struct node_geoip_load *l = load_new(g);
        if (l == NULL)
                return -1;
        l->waiters = g->waiting;
        g->waiting = NULL;
        g->loading = l;
        l->work.data = l;
        if (uv_queue_work(g->loop, &l->work, load_work, load_done) != 0) {
                load_run(l); /* no pool: here, then */
                load_done(&l->work, 0);
        }
        return 0;
}

int node_geoip_reload_then(struct node_geoip *g, void (*done)(void *ctx, int rc),
                           void *ctx)
{
        if (g->path[0] == '\0') {
                if (done != NULL)
                        done(ctx, 0);
                return 0;
        }
        if (g->loop == NULL) {
                struct node_geoip_load *l = load_new(g);
                if (l == NULL)
                        return -1;
                load_run(l);
                int rc = load_publish(g, l);
                free(l);
                if (rc == 0) {
                        g->reloads++;
                        log_loaded(g, "reload: ");
                } else {
                        LOG_ERROR("reload: GeoIP database %s; the loaded one stays",
                                  g->error);
                }
                if (done != NULL)
                        done(ctx, rc);
                return 0;
        }
        if (done != NULL) {
                struct node_geoip_waiter *w = calloc(1, sizeof(*w));
                if (w == NULL)
                        return -1;
                w->done = done;
                w->ctx = ctx;
                w->next = g->waiting;
                g->waiting = w;
        }
        if (g->loading != NULL) {
                /* The file may have changed since that load opened it. */
                g->again = true;
                return 0;
        }
        if (load_start(g) != 0) {
                if (done != NULL) {
                        struct node_geoip_waiter *w = g->waiting;
                        g->waiting = w->next;
                        free(w);
                }
                return -1;
        }
        return 0;
}

int node_geoip_reload(struct node_geoip *g)
{
        return node_geoip_reload_then(g, NULL, NULL);
}

json_t *node_geoip_json(const struct node_geoip *g)
{
        if (g == NULL || g->path[0] == '\0')
                return json_null();
        json_t *o =
            json_pack("{s:s, s:b, s:I, s:b}", "path", g->path, "loaded", g->loaded,
                      "reloads", (json_int_t)g->reloads, "reloading", g->loading != NULL);
        if (g->loaded) {
                char built[32];
                time_t t = (time_t)g->info.build_epoch;
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(built, sizeof(built), "%Y-%m-%dT%H:%M:%SZ", &tm);
                json_object_set_new(o, "database_type", json_string(g->info.type));
                json_object_set_new(o, "build_epoch",
                                    json_integer((json_int_t)g->info.build_epoch));
                json_object_set_new(o, "built", json_string(built));
                json_object_set_new(o, "ip_version", json_integer(g->info.ip_version));
                json_object_set_new(o, "node_count", json_integer(g->info.node_count));
                json_object_set_new(o, "size", json_integer((json_int_t)g->info.size));
                json_object_set_new(o, "loaded_at",
                                    json_integer((json_int_t)g->loaded_at));
                json_object_set_new(o, "load_ms",
                                    json_integer((json_int_t)(g->load_seconds * 1000)));
                if (g->compiled)
                        json_object_set_new(
                            o, "table",
                            json_pack("{s:I, s:I, s:I}", "networks",
                                      (json_int_t)g->table.networks, "places",
                                      (json_int_t)g->table.places, "bytes",
                                      (json_int_t)g->table.bytes));
                else
                        json_object_set_new(o, "table", json_null());
        }
        if (g->error[0] != '\0')
                json_object_set_new(o, "error", json_string(g->error));
        return o;
}
