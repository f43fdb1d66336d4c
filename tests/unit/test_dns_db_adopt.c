/*
 * test_dns_db_adopt.c — what a private db built, adopted by the served one.
 *
 * A zone built by an uncommitted transaction of a private db (a staged
 * import) and a whole catalog built so (a restored state published in
 * slices, node/publish_all.c) move into one commit of the served db by
 * pointer: readers see the old data until that commit and only the new
 * after it, later transactions copy adopted objects before changing them,
 * and (under ASan) nothing is freed early or leaks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "dns/db.h"
#include "dns/zone.h"

#include "dns_db_fixtures.h"

/* A zone built by an uncommitted transaction of a private db that shares
 * the served db's transaction ids (a staged import, node/publish.c) moves
 * into a transaction of the served db: readers see the old zone until that
 * commit and the whole new one after it; later transactions copy the
 * adopted objects before changing them (the old version stays intact);
 * aborting the private transaction frees nothing adopted (ASan). */
static void test_zone_built_elsewhere_is_adopted_by_pointer(void **state)
{
        (void)state;
        struct dns_db db, priv;
        struct dns_txn txn, build;
        dbs_init(&db, &priv);
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_zone_create(&txn, N("example.").wire, false), 0);
        add_ok(&txn, "example.", "example.", DNS_TYPE_SOA, SOA_RDATA, sizeof(SOA_RDATA));
        add_ok(&txn, "example.", "old.example.", DNS_TYPE_A, A1, 4);
        assert_int_equal(dns_txn_commit(&txn), 0);

        assert_int_equal(dns_txn_begin(&priv, &build), 0);
        assert_int_equal(dns_txn_zone_create(&build, N("example.").wire, true), 0);
        add_ok(&build, "example.", "example.", DNS_TYPE_SOA, SOA_RDATA,
               sizeof(SOA_RDATA));
        char owner[64];
        for (int i = 0; i < 1000; i++) {
                snprintf(owner, sizeof(owner), "h%d.example.", i);
                add_ok(&build, "example.", owner, DNS_TYPE_A, A2, 4);
                if (i == 500) { /* a served-db transaction meanwhile */
                        assert_int_equal(dns_txn_begin(&db, &txn), 0);
                        add_ok(&txn, "example.", "mid.example.", DNS_TYPE_A, A1, 4);
                        assert_int_equal(dns_txn_commit(&txn), 0);
                }
        }
        const struct dns_catalog *before = dns_db_current(&db);
        assert_non_null(find(before, "example.", "old.example."));
        assert_null(find(before, "example.", "h0.example."));

        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_zone_adopt(&txn, &build, N("nothere.").wire, NULL),
                         -ENOENT);
        struct dns_zone *old = NULL;
        assert_int_equal(dns_txn_zone_adopt(&txn, &build, N("example.").wire, &old), 0);
        assert_non_null(old);
        assert_null(dns_txn_zone(&build, N("example.").wire));
        assert_int_equal(dns_txn_commit(&txn), 0);
        dns_zone_free(old); /* nothing reads it after the commit */
        dns_txn_abort(&build);
        dns_db_fini(&priv);

        const struct dns_catalog *now = dns_db_current(&db);
        assert_int_equal(now->zone_count, 1);
        assert_null(find(now, "example.", "old.example."));
        assert_null(find(now, "example.", "mid.example."));
        assert_non_null(find(now, "example.", "h0.example."));
        assert_non_null(find(now, "example.", "h999.example."));
        const struct dns_node *h7 = find(now, "example.", "h7.example.");

        /* a later change copies what it touches; the adopted version stays */
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        add_ok(&txn, "example.", "h7.example.", DNS_TYPE_A, A1, 4);
        assert_int_equal(dns_txn_rrset_put(&txn, N("example.").wire,
                                           N("h8.example.").wire, DNS_TYPE_A, 0, 60, NULL,
                                           NULL, 0),
                         0);
        assert_int_equal(dns_txn_commit(&txn), 0);
        now = dns_db_current(&db);
        assert_ptr_not_equal(find(now, "example.", "h7.example."), h7);
        assert_null(find(now, "example.", "h8.example."));
        assert_non_null(find(now, "example.", "h9.example."));
        dns_db_fini(&db);
}

/* A whole catalog built by an uncommitted transaction of a private db (a
 * restored state published over many loop turns, node/publish_all.c)
 * replaces every served zone in one commit: readers see the old catalog
 * until then and only the new one after it (a zone only the old one had is
 * gone, the label-depth range follows the new zones); the replaced zones
 * are freed by the caller after the commit, and later transactions copy
 * adopted objects before changing them (ASan: no leak, no early free). */
static void test_whole_catalog_built_elsewhere_is_adopted(void **state)
{
        (void)state;
        struct dns_db db, priv;
        struct dns_txn txn, build;
        dbs_init(&db, &priv);
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_zone_create(&txn, N("old.example.").wire, false), 0);
        add_ok(&txn, "old.example.", "old.example.", DNS_TYPE_SOA, SOA_RDATA,
               sizeof(SOA_RDATA));
        assert_int_equal(dns_txn_zone_create(&txn, N("kept.example.").wire, false), 0);
        add_ok(&txn, "kept.example.", "www.kept.example.", DNS_TYPE_A, A1, 4);
        assert_int_equal(dns_txn_commit(&txn), 0);

        assert_int_equal(dns_txn_begin(&priv, &build), 0);
        char zone[64], owner[80];
        for (int i = 0; i < 1000; i++) {
                snprintf(zone, sizeof(zone), "z%d.a.b.c.", i);
                snprintf(owner, sizeof(owner), "ns1.z%d.a.b.c.", i);
                assert_int_equal(dns_txn_zone_create(&build, N(zone).wire, false), 0);
                add_ok(&build, zone, zone, DNS_TYPE_SOA, SOA_RDATA, sizeof(SOA_RDATA));
                add_ok(&build, zone, owner, DNS_TYPE_A, A2, 4);
        }
        assert_int_equal(dns_txn_zone_create(&build, N("kept.example.").wire, false), 0);
        add_ok(&build, "kept.example.", "www.kept.example.", DNS_TYPE_A, A2, 4);
        const struct dns_catalog *before = dns_db_current(&db);
        assert_int_equal(before->zone_count, 2);
        assert_null(find(before, "z5.a.b.c.", "ns1.z5.a.b.c."));

        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        struct dns_zones *replaced = NULL;
        assert_int_equal(dns_txn_zones_adopt(&txn, &build, &replaced), 0);
        assert_non_null(replaced);
        assert_int_equal(dns_txn_commit(&txn), 0);
        dns_zones_free(replaced); /* nothing reads them after the commit */
        dns_txn_abort(&build);
        dns_db_fini(&priv);

        const struct dns_catalog *now = dns_db_current(&db);
        assert_int_equal(now->zone_count, 1001);
        assert_int_equal(now->min_labels, 2);
        assert_int_equal(now->max_labels, 4);
        assert_null(find(now, "old.example.", "old.example."));
        assert_non_null(find(now, "z0.a.b.c.", "ns1.z0.a.b.c."));
        assert_non_null(find(now, "z999.a.b.c.", "ns1.z999.a.b.c."));
        const struct dns_node *k = find(now, "kept.example.", "www.kept.example.");
        assert_non_null(k);

        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        add_ok(&txn, "kept.example.", "mail.kept.example.", DNS_TYPE_A, A1, 4);
        assert_int_equal(dns_txn_zone_delete(&txn, N("z7.a.b.c.").wire), 0);
        assert_int_equal(dns_txn_commit(&txn), 0);
        now = dns_db_current(&db);
        assert_int_equal(now->zone_count, 1000);
        assert_null(find(now, "z7.a.b.c.", "ns1.z7.a.b.c."));
        assert_non_null(find(now, "kept.example.", "mail.kept.example."));
        assert_non_null(find(now, "z8.a.b.c.", "ns1.z8.a.b.c."));

        /* into an empty served db: nothing replaced */
        struct dns_db empty, priv2;
        dbs_init(&empty, &priv2);
        assert_int_equal(dns_txn_begin(&priv2, &build), 0);
        assert_int_equal(dns_txn_zone_create(&build, N("example.").wire, false), 0);
        assert_int_equal(dns_txn_begin(&empty, &txn), 0);
        assert_int_equal(dns_txn_zones_adopt(&txn, &build, &replaced), 0);
        assert_null(replaced);
        assert_int_equal(dns_txn_commit(&txn), 0);
        dns_txn_abort(&build);
        dns_db_fini(&priv2);
        assert_int_equal(dns_db_current(&empty)->zone_count, 1);
        dns_db_fini(&empty);
        dns_db_fini(&db);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_zone_built_elsewhere_is_adopted_by_pointer),
            cmocka_unit_test(test_whole_catalog_built_elsewhere_is_adopted),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
