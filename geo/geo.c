/*
 * geo.c — .mmdb files through libmaxminddb (see geo.h).
 *
 * Open copies the file into an unnamed temporary file (O_TMPFILE, next to
 * it or in /tmp) and maps that copy (MMDB_MODE_MMAP through /proc/self/fd):
 * a database file rewritten in place, rather than replaced by a rename,
 * then cannot change or truncate the pages lookups read (a truncated
 * mapping is SIGBUS), and the copy disappears with the mapping.  A lookup
 * builds
 * a sockaddr on the stack, walks the tree with MMDB_lookup_sockaddr() and
 * reads the few strings it needs with MMDB_get_value(), which return
 * pointers into the mapping.  The record's network length is libmaxminddb's
 * netmask, counted from the IPv4 subtree for an IPv4 address in an IPv6
 * database.
 */
#include "geo/geo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <maxminddb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

struct geo_db {
        MMDB_s mmdb;
        const struct geo_names *names;
        uint64_t size;
};

static int compare_names(const void *a, const void *b)
{
        const struct geo_subdivision *x = a, *y = b;
        int c = strcmp(x->country, y->country);
        return c != 0 ? c : strcmp(x->name, y->name);
}

void geo_names_sort(struct geo_names *names)
{
        qsort(names->items, names->count, sizeof(names->items[0]), compare_names);
}

const struct geo_subdivision *geo_names_find(const struct geo_names *names,
                                             const char *country, const char *name,
                                             size_t len)
{
        if (names == NULL)
                return NULL;
        size_t lo = 0, hi = names->count;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const struct geo_subdivision *s = &names->items[mid];
                int c = strcmp(s->country, country);
                if (c == 0) {
                        c = strncmp(s->name, name, len);
                        if (c == 0 && s->name[len] != '\0')
                                c = 1;
                }
                if (c == 0)
                        return s;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* An unnamed copy of the open file src (size bytes) in dir; its fd or -errno. */
static int private_copy(int src, uint64_t size, const char *dir)
{
        int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        off_t off = 0;
        while ((uint64_t)off < size) {
                ssize_t n = sendfile(fd, src, &off, (size_t)(size - (uint64_t)off));
                if (n <= 0) {
                        int e = n < 0 ? errno : EIO;
                        close(fd);
                        return -e;
                }
        }
        return fd;
}

int geo_db_open(const char *path, const struct geo_names *names, struct geo_db **out,
                char *err, size_t err_size)
{
        struct geo_db *db = calloc(1, sizeof(*db));
        if (db == NULL) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        int src = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (src < 0 || fstat(src, &st) != 0) {
                int e = errno;
                snprintf(err, err_size, "%s: %s", path, strerror(e));
                if (src >= 0)
                        close(src);
                free(db);
                return -e;
        }
        db->size = (uint64_t)st.st_size;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", path);
        int copy = private_copy(src, db->size, dirname(dir));
        if (copy < 0)
                copy = private_copy(src, db->size, "/tmp");
        close(src);
        char mapped[64];
        if (copy >= 0)
                snprintf(mapped, sizeof(mapped), "/proc/self/fd/%d", copy);
        /* No temporary file possible: map the file itself. */
        int rc = MMDB_open(copy >= 0 ? mapped : path, MMDB_MODE_MMAP, &db->mmdb);
        if (copy >= 0)
                close(copy); /* the mapping keeps the copy */
        if (rc != MMDB_SUCCESS) {
                int e = rc == MMDB_IO_ERROR ? errno : 0;
                snprintf(err, err_size, "%s: %s%s%s", path, MMDB_strerror(rc),
                         e ? ": " : "", e ? strerror(e) : "");
                free(db);
                return e ? -e : -EINVAL;
        }
        if (db->mmdb.metadata.ip_version != 4 && db->mmdb.metadata.ip_version != 6) {
                snprintf(err, err_size, "%s: ip_version %u is neither 4 nor 6", path,
                         db->mmdb.metadata.ip_version);
                MMDB_close(&db->mmdb);
                free(db);
                return -EINVAL;
        }
        db->names = names;
        (void)geo_country_continent("US"); /* fills its table before any lookup */
        *out = db;
        return 0;
}

void geo_db_close(struct geo_db *db)
{
        if (db == NULL)
                return;
        MMDB_close(&db->mmdb);
        free(db);
}

void geo_db_info(const struct geo_db *db, struct geo_info *out)
{
        memset(out, 0, sizeof(*out));
        out->build_epoch = db->mmdb.metadata.build_epoch;
        snprintf(out->type, sizeof(out->type), "%s",
                 db->mmdb.metadata.database_type ? db->mmdb.metadata.database_type : "");
        out->ip_version = db->mmdb.metadata.ip_version;
        out->node_count = db->mmdb.metadata.node_count;
        out->size = db->size;
}

/* A UTF-8 string at path in the record, copied into out (NUL-terminated,
 * at most out_size - 1 bytes, only when it fits); its length or -1. */
static int get_string(MMDB_entry_s *entry, char *out, size_t out_size,
                      const char *const *path)
{
        MMDB_entry_data_s data;
        if (MMDB_aget_value(entry, &data, path) != MMDB_SUCCESS || !data.has_data ||
            data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size >= out_size)
                return -1;
        memcpy(out, data.utf8_string, data.data_size);
        out[data.data_size] = '\0';
        return (int)data.data_size;
}

/* A number (double or float) at path in the record into *out; 0 or -1. */
static int get_number(MMDB_entry_s *entry, double *out, const char *const *path)
{
        MMDB_entry_data_s data;
        if (MMDB_aget_value(entry, &data, path) != MMDB_SUCCESS || !data.has_data)
                return -1;
        if (data.type == MMDB_DATA_TYPE_DOUBLE)
                *out = data.double_value;
        else if (data.type == MMDB_DATA_TYPE_FLOAT)
                *out = (double)data.float_value;
        else
                return -1;
        return 0;
}

/* The record's coordinates, when it has both and they are in range. */
static void get_coordinates(MMDB_entry_s *entry, struct geo_place *out)
{
        static const char *const lat_geoip2[] = {"location", "latitude", NULL};
        static const char *const lon_geoip2[] = {"location", "longitude", NULL};
        static const char *const lat_flat[] = {"latitude", NULL};
        static const char *const lon_flat[] = {"longitude", NULL};
        double lat, lon;
        if ((get_number(entry, &lat, lat_geoip2) != 0 ||
             get_number(entry, &lon, lon_geoip2) != 0) &&
            (get_number(entry, &lat, lat_flat) != 0 ||
             get_number(entry, &lon, lon_flat) != 0))
                return;
        if (!(lat >= -90.0 && lat <= 90.0 && lon >= -180.0 && lon <= 180.0))
                return; /* also NaN */
        out->has_coordinates = true;
        out->latitude = lat;
        out->longitude = lon;
}

static bool upper_code(const char *s, size_t min, size_t max)
{
        size_t n = strlen(s);
        if (n < min || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
                        return false;
        return true;
}

/* The record at entry into out (found, codes, coordinates; not prefix). */
static void place_from_entry(const struct geo_db *db, MMDB_entry_s entry,
                             struct geo_place *out);

int geo_db_lookup(const struct geo_db *db, int family, const uint8_t *addr,
                  struct geo_place *out)
{
        memset(out, 0, sizeof(*out));
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        if (family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
                sin->sin_family = AF_INET;
                memcpy(&sin->sin_addr, addr, 4);
        } else if (family == AF_INET6) {
                if (db->mmdb.metadata.ip_version != 6)
                        return -EINVAL;
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
                sin6->sin6_family = AF_INET6;
                memcpy(&sin6->sin6_addr, addr, 16);
        } else {
                return -EINVAL;
        }
        int mmdb_error = MMDB_SUCCESS;
        MMDB_lookup_result_s r =
            MMDB_lookup_sockaddr(&db->mmdb, (const struct sockaddr *)&ss, &mmdb_error);
        if (mmdb_error != MMDB_SUCCESS)
                return -EINVAL;
        unsigned netmask = r.netmask;
        if (family == AF_INET && db->mmdb.metadata.ip_version == 6)
                netmask = netmask >= 96 ? netmask - 96 : 0;
        unsigned bits = family == AF_INET ? 32 : 128;
        out->prefix = (uint8_t)(netmask < bits ? netmask : bits);
        if (!r.found_entry)
                return 0;
        place_from_entry(db, r.entry, out);
        return 0;
}

static void place_from_entry(const struct geo_db *db, MMDB_entry_s entry,
                             struct geo_place *out)
{
        out->found = true;
        get_coordinates(&entry, out);
        static const char *const country_geoip2[] = {"country", "iso_code", NULL};
        static const char *const country_flat[] = {"country_code", NULL};
        static const char *const continent_geoip2[] = {"continent", "code", NULL};
        static const char *const sub_geoip2[] = {"subdivisions", "0", "iso_code", NULL};
        static const char *const sub_flat[] = {"state1", NULL};
        bool flat = false;
        if (get_string(&entry, out->country, sizeof(out->country), country_geoip2) < 0) {
                flat = get_string(&entry, out->country, sizeof(out->country),
                                  country_flat) >= 0;
        }
        if (!upper_code(out->country, 2, 2))
                out->country[0] = '\0';
        if (get_string(&entry, out->continent, sizeof(out->continent), continent_geoip2) <
                0 ||
            !geo_continent_valid(out->continent)) {
                const char *c = geo_country_continent(out->country);
                snprintf(out->continent, sizeof(out->continent), "%s", c ? c : "");
        }
        if (out->country[0] == '\0')
                return;
        if (!flat) {
                if (get_string(&entry, out->subdivision, sizeof(out->subdivision),
                               sub_geoip2) < 0 ||
                    !upper_code(out->subdivision, 1, 3))
                        out->subdivision[0] = '\0';
                return;
        }
        char name[128];
        int len = get_string(&entry, name, sizeof(name), sub_flat);
        if (len > 0) {
                const struct geo_subdivision *s =
                    geo_names_find(db->names, out->country, name, (size_t)len);
                if (s != NULL)
                        memcpy(out->subdivision, s->code, sizeof(out->subdivision));
        }
}

/* ---- walking the search tree ------------------------------------------------ */

int geo_db_record_place(const struct geo_db *db, uint64_t record, struct geo_place *out)
{
        memset(out, 0, sizeof(*out));
        uint64_t nodes = db->mmdb.metadata.node_count;
        if (record <= nodes || record - nodes - 16 >= db->mmdb.data_section_size)
                return -EINVAL;
        MMDB_entry_s entry = {.mmdb = &db->mmdb,
                              .offset = (uint32_t)(record - nodes - 16)};
        place_from_entry(db, entry, out);
        return 0;
}

/* Where the IPv4 subtree of an IPv6 tree starts: following the zero bit 96
 * times from the root, as libmaxminddb does.  *depth < 96 when a record
 * that is not a node ends the path sooner (then *record is that record). */
static int ipv4_start(const struct geo_db *db, uint64_t *record, unsigned *depth,
                      bool *is_node)
{
        uint64_t node = 0;
        for (unsigned d = 0; d < 96; d++) {
                MMDB_search_node_s n;
                if (MMDB_read_node(&db->mmdb, (uint32_t)node, &n) != MMDB_SUCCESS)
                        return -EINVAL;
                if (n.left_record_type != MMDB_RECORD_TYPE_SEARCH_NODE) {
                        *record = n.left_record;
                        *depth = d + 1;
                        *is_node = false;
                        return 0;
                }
                node = n.left_record;
        }
        *record = node;
        *depth = 96;
        *is_node = true;
        return 0;
}

struct walk {
        const struct geo_db *db;
        geo_leaf_fn fn;
        void *ctx;
        uint64_t visited, limit;
        uint64_t ipv4_node; /* UINT64_MAX: none to alias */
        struct geo_leaf leaf;
};

static void set_bit(uint8_t *addr, unsigned i, unsigned bit)
{
        if (bit)
                addr[i / 8] |= (uint8_t)(0x80u >> (i % 8));
        else
                addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

/* The record (of type) reached at depth bits with the address so far in
 * w->leaf.addr: a leaf for fn, or a node to walk.  Recursion depth is at
 * most the family's width. */
static int walk_record(struct walk *w, uint64_t record, uint8_t type, unsigned depth,
                       unsigned width)
{
        struct geo_leaf *l = &w->leaf;
        l->len = (uint8_t)depth;
        switch (type) {
        case MMDB_RECORD_TYPE_EMPTY:
                l->kind = GEO_LEAF_EMPTY;
                l->record = 0;
                return w->fn(w->ctx, l);
        case MMDB_RECORD_TYPE_DATA:
                l->kind = GEO_LEAF_DATA;
                l->record = record;
                return w->fn(w->ctx, l);
        case MMDB_RECORD_TYPE_SEARCH_NODE:
                break;
        default:
                return -EINVAL;
        }
        if (record == w->ipv4_node && width == 128) {
                l->kind = GEO_LEAF_IPV4;
                l->record = 0;
                return w->fn(w->ctx, l);
        }
        if (depth >= width || ++w->visited > w->limit)
                return -EINVAL; /* deeper than addresses, or not a tree */
        MMDB_search_node_s n;
        if (MMDB_read_node(&w->db->mmdb, (uint32_t)record, &n) != MMDB_SUCCESS)
                return -EINVAL;
        set_bit(l->addr, depth, 0);
        int rc = walk_record(w, n.left_record, n.left_record_type, depth + 1, width);
        if (rc != 0)
                return rc;
        set_bit(l->addr, depth, 1);
        rc = walk_record(w, n.right_record, n.right_record_type, depth + 1, width);
        set_bit(l->addr, depth, 0);
        return rc;
}

int geo_db_walk(const struct geo_db *db, geo_leaf_fn fn, void *ctx)
{
        struct walk w = {.db = db, .fn = fn, .ctx = ctx, .ipv4_node = UINT64_MAX};
        w.limit = db->mmdb.metadata.node_count;
        if (db->mmdb.metadata.node_count == 0)
                return -EINVAL;
        uint64_t v4 = 0;
        uint8_t v4_type = MMDB_RECORD_TYPE_SEARCH_NODE;
        if (db->mmdb.metadata.ip_version == 6) {
                unsigned depth;
                bool is_node;
                if (ipv4_start(db, &v4, &depth, &is_node) != 0)
                        return -EINVAL;
                if (is_node) {
                        w.ipv4_node = v4;
                } else {
                        /* Every IPv4 address is in the one network that
                         * ended the path: a /0 of the IPv4 table. */
                        v4_type = (v4 == db->mmdb.metadata.node_count)
                                      ? MMDB_RECORD_TYPE_EMPTY
                                      : MMDB_RECORD_TYPE_DATA;
                        if (v4 > db->mmdb.metadata.node_count + 16 +
                                     db->mmdb.data_section_size ||
                            (v4 > db->mmdb.metadata.node_count &&
                             v4 < db->mmdb.metadata.node_count + 16))
                                return -EINVAL;
                }
        }
        memset(&w.leaf, 0, sizeof(w.leaf));
        w.leaf.family = 4;
        int rc = walk_record(&w, v4, v4_type, 0, 32);
        if (rc != 0 || db->mmdb.metadata.ip_version != 6)
                return rc;
        memset(&w.leaf, 0, sizeof(w.leaf));
        w.leaf.family = 6;
        return walk_record(&w, 0, MMDB_RECORD_TYPE_SEARCH_NODE, 0, 128);
}
