/*
 * mmdb_written.h — small exact .mmdb files for the GeoIP unit tests.
 *
 * mmdb_write() pipes a JSON description into tests/data/make_mmdb.pl
 * (Debian's libmaxmind-db-writer-perl), which writes the database to a
 * file of this process named after `tag`; the path is returned in `path`.
 * The caller opens it and unlinks it.  Include after <cmocka.h>.
 */
#ifndef TESTS_UNIT_MMDB_WRITTEN_H
#define TESTS_UNIT_MMDB_WRITTEN_H

#include <stdio.h>
#include <unistd.h>

#ifndef QDNS_SOURCE_DIR
#define QDNS_SOURCE_DIR "."
#endif

static inline void mmdb_write(char *path, size_t size, const char *tag, const char *json)
{
        char cmd[512];
        snprintf(path, size, "/tmp/qdns-%s-%d.mmdb", tag, (int)getpid());
        snprintf(cmd, sizeof(cmd), "perl %s/tests/data/make_mmdb.pl %s", QDNS_SOURCE_DIR,
                 path);
        FILE *p = popen(cmd, "w");
        assert_non_null(p);
        fputs(json, p);
        assert_int_equal(pclose(p), 0);
}

#endif
