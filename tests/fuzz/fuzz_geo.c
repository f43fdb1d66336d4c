/*
 * fuzz_geo.c — libFuzzer target: any bytes as an .mmdb file.
 *
 * libmaxminddb opens files only, so each input is written to one temporary
 * file (made once per process) and opened with geo_db_open(); when it opens,
 * addresses of both families, at the edges of the address space and taken
 * from the input itself, are looked up.  Nothing may crash or read outside
 * the mapping, and every answer must be well formed (codes of the right
 * length, a prefix within the family's bits).  When the tree compiles
 * (geo_table_build()), the table must answer every one of those addresses
 * exactly as libmaxminddb does; a tree that does not compile must say why.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "geo/geo.h"
#include "geo/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libmaxminddb 1.7.1 (Debian 12) leaks its metadata data pool when
 * MMDB_open() fails on some corrupt metadata (fixed upstream in
 * libmaxminddb pull request 356): not ours to fix, and only an open that
 * fails leaks.  Leaks anywhere else still fail the run. */
const char *__lsan_default_suppressions(void)
{
        return "leak:libmaxminddb.so\n";
}

static char path[64];

/* The table's answer for addr is libmaxminddb's. */
static void same(const struct geo_db *db, const struct geo_table *t, int family,
                 const uint8_t *addr)
{
        if (t == NULL)
                return;
        struct geo_place a, b;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        int ra = geo_db_lookup(db, family, addr, &a);
        int rb = geo_table_lookup(t, family, addr, &b);
        if (ra != rb)
                abort();
        if (ra == 0 &&
            (a.found != b.found || a.prefix != b.prefix ||
             strcmp(a.continent, b.continent) != 0 || strcmp(a.country, b.country) != 0 ||
             strcmp(a.subdivision, b.subdivision) != 0 ||
             a.has_coordinates != b.has_coordinates ||
             memcmp(&a.latitude, &b.latitude, sizeof(double)) != 0 ||
             memcmp(&a.longitude, &b.longitude, sizeof(double)) != 0))
                abort();
}

static void check(const struct geo_place *p, unsigned bits)
{
        if (p->prefix > bits || strlen(p->country) > 2 || strlen(p->continent) > 2 ||
            strlen(p->subdivision) > 3)
                abort();
        if (p->country[0] != '\0' && strlen(p->country) != 2)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (path[0] == '\0')
                snprintf(path, sizeof(path), "/tmp/qdns-fuzz-geo-%d.mmdb", (int)getpid());
        FILE *f = fopen(path, "wb");
        if (f == NULL)
                return 0;
        if (size > 0 && fwrite(data, 1, size, f) != size) {
                fclose(f);
                return 0;
        }
        fclose(f);
        static struct geo_subdivision items[] = {{"GB", "ENG", "England"},
                                                 {"US", "CA", "California"}};
        static struct geo_names names = {2, items};
        struct geo_db *db = NULL;
        char err[256];
        if (geo_db_open(path, &names, &db, err, sizeof(err)) == 0) {
                uint8_t v4[][4] = {
                    {0, 0, 0, 0}, {255, 255, 255, 255}, {81, 2, 69, 160}, {0, 0, 0, 0}};
                uint8_t v6[][16] = {{0}, {0x20, 0x01, 0x0d, 0xb8}, {0xff}, {0}};
                if (size >= 4)
                        memcpy(v4[3], data + size - 4, 4);
                if (size >= 16)
                        memcpy(v6[3], data + size - 16, 16);
                struct geo_table *t = NULL;
                if (geo_table_build(db, &t, err, sizeof(err)) != 0 && err[0] == '\0')
                        abort();
                for (size_t i = 0; i < 4; i++) {
                        same(db, t, AF_INET, v4[i]);
                        same(db, t, AF_INET6, v6[i]);
                        struct geo_place p;
                        if (geo_db_lookup(db, AF_INET, v4[i], &p) == 0)
                                check(&p, 32);
                        if (geo_db_lookup(db, AF_INET6, v6[i], &p) == 0)
                                check(&p, 128);
                }
                struct geo_info info;
                geo_db_info(db, &info);
                geo_table_free(t);
                geo_db_close(db);
        }
        unlink(path);
        return 0;
}
