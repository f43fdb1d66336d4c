/*
 * zone_text.h — a zone file given as text, loaded into a transaction of a
 * dns_db as a node loads its zone files: through dns_zonefile_load() from a
 * temporary file, removed at once.  Every problem the loader reports is
 * printed as file:line: message, and a failed load fails the test.
 * Include after <cmocka.h>.
 */
#ifndef TESTS_UNIT_ZONE_TEXT_H
#define TESTS_UNIT_ZONE_TEXT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/db.h"
#include "dns/zonefile.h"

static inline void zone_text_report(void *ctx, const char *file, unsigned line,
                                    const char *message)
{
        fprintf(stderr, "%s:%u: %s\n", file, line, message);
}

/* Loads text (a whole zone file, $ORIGIN included) into txn. */
static inline void zone_text_load(struct dns_txn *txn, const char *text)
{
        char path[] = "/tmp/qdns-zone-text-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        int rc = dns_zonefile_load(txn, path, NULL, NULL, zone_text_report, NULL, NULL);
        unlink(path);
        if (rc != 0)
                fail_msg("zone load failed: %d %s", rc, txn->error);
}

#endif
