/*
 * geoip.c — the node's GeoIP database (see geoip.h).
 *
 * node_geoip_start/reload: geo_db_open() → a struct handle wrapping the
 * geo_db as a struct dns_geo → dns_db_geo_publish(); the query path calls
 * handle_lookup() through the catalog (a per-thread cache of the places of
 * recent client networks in front of the database) and the catalog's grace
 * period ends in handle_release().  The subdivision table is read once from iso-codes'
 * JSON with jansson (node/ is where jansson lives).
 */
#include "node/geoip.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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
        struct geo_db *db;
        uint64_t generation; /* unique per opened file: the cache's key */
};

static _Atomic uint64_t generations;

/*
 * The places of recently located client networks, per thread: resolvers
 * send the same subnets again and again, and reading a place out of the
 * database (the tree walk, then one map look-up per field) costs more than
 * answering the query.  Direct-mapped by the network's bytes; an entry is
 * valid for the database it was read from (its generation), so a reload
 * needs no flush.  Thread-local storage (1 MiB of address space per thread,
 * resident only in the threads that answer queries): no allocation or lock
 * per query.
 */
#define PLACE_CACHE 16384

struct place_entry {
        uint64_t generation; /* 0: empty */
        uint8_t family;
        uint8_t bytes[16];
        struct dns_geo_place place;
};

static _Thread_local struct place_entry place_cache[PLACE_CACHE];

static unsigned place_slot(const struct dns_net *net)
{
        uint64_t a, b;
        memcpy(&a, net->bytes, 8);
        memcpy(&b, net->bytes + 8, 8);
        uint64_t h =
            (a ^ (b * 0x9e3779b97f4a7c15ull) ^ net->family) * 0xff51afd7ed558ccdull;
        return (unsigned)(h >> 52) & (PLACE_CACHE - 1);
}

static int handle_lookup(const struct dns_geo *geo, const struct dns_net *net,
                         struct dns_geo_place *out)
{
        const struct handle *h = (const struct handle *)geo;
        struct place_entry *e = &place_cache[place_slot(net)];
        if (e->generation == h->generation && e->family == net->family &&
            memcmp(e->bytes, net->bytes, sizeof(e->bytes)) == 0) {
                *out = e->place;
                return 0;
        }
        struct geo_place p;
        int rc = geo_db_lookup(h->db, net->family, net->bytes, &p);
        if (rc != 0)
                return rc;
        memcpy(out->continent, p.continent, sizeof(out->continent));
        memcpy(out->country, p.country, sizeof(out->country));
        memcpy(out->subdivision, p.subdivision, sizeof(out->subdivision));
        out->prefix = p.prefix;
        out->has_coordinates = p.has_coordinates;
        out->latitude = p.latitude;
        out->longitude = p.longitude;
        e->generation = h->generation;
        e->family = net->family;
        memcpy(e->bytes, net->bytes, sizeof(e->bytes));
        e->place = *out;
        return 0;
}

static void handle_release(void *ptr)
{
        struct handle *h = ptr;
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

static int open_and_publish(struct node_geoip *g)
{
        struct handle *h = calloc(1, sizeof(*h));
        if (h == NULL) {
                snprintf(g->error, sizeof(g->error), "out of memory");
                return -1;
        }
        char err[300];
        if (geo_db_open(g->path, node_geo_names(), &h->db, err, sizeof(err)) != 0) {
                snprintf(g->error, sizeof(g->error), "%s", err);
                free(h);
                return -1;
        }
        h->base.lookup = handle_lookup;
        h->base.release = handle_release;
        h->generation = atomic_fetch_add(&generations, 1) + 1;
        if (dns_db_geo_publish(g->db, &h->base) != 0) {
                snprintf(g->error, sizeof(g->error), "out of memory");
                handle_release(h);
                return -1;
        }
        geo_db_info(h->db, &g->info);
        g->loaded = true;
        g->loaded_at = (uint64_t)time(NULL);
        g->error[0] = '\0';
        return 0;
}

int node_geoip_start(struct node_geoip *g, struct dns_db *db, const char *path)
{
        memset(g, 0, sizeof(*g));
        g->db = db;
        snprintf(g->path, sizeof(g->path), "%s", path);
        if (path[0] == '\0')
                return 0;
        if (open_and_publish(g) != 0)
                return -1;
        LOG_INFO("GeoIP database %s: %s, built %llu, %llu bytes", g->path, g->info.type,
                 (unsigned long long)g->info.build_epoch,
                 (unsigned long long)g->info.size);
        return 0;
}

int node_geoip_reload(struct node_geoip *g)
{
        if (g->path[0] == '\0')
                return 0;
        if (open_and_publish(g) != 0) {
                LOG_ERROR("reload: GeoIP database %s; the loaded one stays", g->error);
                return -1;
        }
        g->reloads++;
        LOG_INFO("reload: GeoIP database %s: %s, built %llu", g->path, g->info.type,
                 (unsigned long long)g->info.build_epoch);
        return 0;
}

json_t *node_geoip_json(const struct node_geoip *g)
{
        if (g == NULL || g->path[0] == '\0')
                return json_null();
        json_t *o = json_pack("{s:s, s:b, s:I}", "path", g->path, "loaded", g->loaded,
                              "reloads", (json_int_t)g->reloads);
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
        }
        if (g->error[0] != '\0')
                json_object_set_new(o, "error", json_string(g->error));
        return o;
}
