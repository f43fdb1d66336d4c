/*
 * geo.h — where an address is, from a MaxMind DB (.mmdb) file.
 *
 * The one module that touches libmaxminddb.  geo_db_open() maps a file and
 * reads its metadata; geo_db_lookup() walks the search tree for an address
 * and reads the record's continent, country and subdivision in either of
 * the two schemas in use: MaxMind's GeoIP2/GeoLite2 (continent.code,
 * country.iso_code, subdivisions.0.iso_code) and the flat one of the
 * ip-location-db packages (country_code, state1 as a name such as
 * "California", no continent).  A missing continent is derived from the
 * country; a subdivision given by name is turned into its ISO 3166-2 code
 * with a table the caller supplies (node/ reads it from iso-codes).  The
 * record's coordinates come along when it has them (GeoIP2's
 * location.latitude/longitude, the flat schema's latitude/longitude).
 * Lookups read only the mapped file: no allocation, lock or system call.
 */
#ifndef GEO_GEO_H
#define GEO_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One ISO 3166-2 subdivision: "GB", "England", "ENG". */
struct geo_subdivision {
        char country[3];
        char code[4]; /* after the dash, 1..3 characters */
        const char *name;
};

/* Subdivisions sorted by (country, name) with geo_names_sort(); borrowed by
 * every database opened with it, so it must outlive them. */
struct geo_names {
        size_t count;
        struct geo_subdivision *items;
};

void geo_names_sort(struct geo_names *names);
/* The subdivision of country named name (len bytes), or NULL. */
const struct geo_subdivision *geo_names_find(const struct geo_names *names,
                                             const char *country, const char *name,
                                             size_t len);

/* What a database says about an address. */
struct geo_place {
        bool found;           /* the address is in a network with data */
        char continent[3];    /* "EU"; "" unknown */
        char country[3];      /* "GB"; "" unknown */
        char subdivision[4];  /* "ENG"; "" unknown */
        uint8_t prefix;       /* length of the network the record covers */
        bool has_coordinates; /* latitude/longitude below are the record's */
        double latitude;      /* degrees, -90..90 */
        double longitude;     /* degrees, -180..180 */
};

/* The database's metadata, for the API. */
struct geo_info {
        uint64_t build_epoch; /* seconds since 1970 */
        char type[64];        /* database_type, e.g. "GeoLite2-City" */
        unsigned ip_version;  /* 4 or 6 */
        uint32_t node_count;
        uint64_t size; /* bytes of the file */
};

struct geo_db;

/* Opens path; names (may be NULL) is borrowed.  0, or a negative code with
 * a one-line reason in err. */
int geo_db_open(const char *path, const struct geo_names *names, struct geo_db **out,
                char *err, size_t err_size);
void geo_db_close(struct geo_db *db);
void geo_db_info(const struct geo_db *db, struct geo_info *out);

/* Looks up the address (4 or 16 bytes, family AF_INET or AF_INET6).  0, or
 * -EINVAL when the database cannot hold that family or its tree is corrupt. */
int geo_db_lookup(const struct geo_db *db, int family, const uint8_t *addr,
                  struct geo_place *out);

/*
 * The networks of the database's search tree, for compiling it into a
 * table (geo_table.h): every leaf of the tree, in address order, IPv4 first
 * (the IPv4 subtree of an IPv6 database, as IPv4 lookups see it), then the
 * IPv6 tree, where a network that leads into the IPv4 subtree (::/96, and
 * the aliases writers add such as ::ffff:0:0/96 and 2002::/16) is one leaf
 * of kind GEO_LEAF_IPV4.  Together the leaves of a family cover its whole
 * space once.  Identical records share their record number, so a caller
 * reads each record once with geo_db_record_place().
 */
enum { GEO_LEAF_EMPTY, GEO_LEAF_DATA, GEO_LEAF_IPV4 };

struct geo_leaf {
        uint8_t family; /* 4 or 6 */
        uint8_t len;    /* prefix length */
        uint8_t addr[16];
        int kind;
        uint64_t record; /* GEO_LEAF_DATA: for geo_db_record_place() */
};

/* fn's non-zero return stops the walk and is returned. */
typedef int (*geo_leaf_fn)(void *ctx, const struct geo_leaf *leaf);

/* 0, fn's non-zero return, or -EINVAL for a tree that is corrupt, deeper
 * than the addresses or not a tree (a node reached twice, except the IPv4
 * subtree through its aliases). */
int geo_db_walk(const struct geo_db *db, geo_leaf_fn fn, void *ctx);
/* The place a data record holds (as geo_db_lookup() reads it; prefix 0). */
int geo_db_record_place(const struct geo_db *db, uint64_t record, struct geo_place *out);

/* The continent of an ISO 3166-1 alpha-2 country ("GB" → "EU"), or NULL when
 * the code is not a country. */
const char *geo_country_continent(const char *country);
/* Whether code is one of AF AN AS EU NA OC SA. */
bool geo_continent_valid(const char *code);

#endif
