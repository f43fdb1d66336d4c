/*
 * test_dns_db.c — published catalogs and write transactions.
 *
 * Checks that a commit publishes all of a transaction at once and that a
 * catalog obtained before the commit keeps its content until the commit's
 * reclaim list runs (observed from the synchronize hook); that changing one
 * name in a 100k-name zone copies only the path to it (every other node is
 * pointer-identical between versions); that a commit into a catalog of
 * 100,000 zones (an upsert, a zone of a new label depth, its deletion) visits
 * as few hash-map nodes as in a catalog of 10, walks none, and leaves every
 * other zone pointer-identical; the zone-data rules (CNAME and other
 * data, SOA off the apex, out-of-zone owners, DNAME) with their messages;
 * that empty non-terminals are created and pruned; that abort leaves the
 * published version as it was; that the UDP server's thread answers
 * correctly while the writer commits thousands of versions and frees the
 * old ones (grace periods; under ASan a premature free would be caught);
 * and (under ASan) that nothing leaks.  Adoption of what a private db built:
 * test_dns_db_adopt.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns/db.h"
#include "dns/server.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "dns/zonefile.h"

#include "dns_db_fixtures.h"

/* A db holding example. with SOA and www A 192.0.2.1. */
static void setup_db(struct dns_db *db)
{
        assert_int_equal(dns_db_init(db), 0);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(db, &txn), 0);
        assert_int_equal(dns_txn_zone_create(&txn, N("example.").wire, false), 0);
        add_ok(&txn, "example.", "example.", DNS_TYPE_SOA, SOA_RDATA, sizeof(SOA_RDATA));
        add_ok(&txn, "example.", "www.example.", DNS_TYPE_A, A1, 4);
        assert_int_equal(dns_txn_commit(&txn), 0);
}

static void test_commit_publishes_all_changes_at_once(void **state)
{
        struct dns_db db;
        assert_int_equal(dns_db_init(&db), 0);
        const struct dns_catalog *before = dns_db_current(&db);
        assert_int_equal(before->zone_count, 0);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_zone_create(&txn, N("example.").wire, false), 0);
        add_ok(&txn, "example.", "example.", DNS_TYPE_SOA, SOA_RDATA, sizeof(SOA_RDATA));
        add_ok(&txn, "example.", "a.example.", DNS_TYPE_A, A1, 4);
        assert_int_equal(dns_txn_zone_create(&txn, N("example.org.").wire, false), 0);
        /* Nothing is visible before the commit. */
        assert_ptr_equal(dns_db_current(&db), before);
        assert_int_equal(dns_db_current(&db)->zone_count, 0);
        assert_int_equal(dns_txn_commit(&txn), 0);
        const struct dns_catalog *cat = dns_db_current(&db);
        assert_ptr_not_equal(cat, before);
        assert_int_equal(cat->zone_count, 2);
        assert_memory_equal(first_a(cat, "example.", "a.example."), A1, 4);
        assert_non_null(find(cat, "example.org.", "example.org."));
        dns_db_fini(&db);
}

struct sync_check {
        const struct dns_catalog *old;
        struct dns_db *db;
        int calls;
};

static void sync_cb(void *ctx)
{
        struct sync_check *c = ctx;
        c->calls++;
        /* Published, but the old catalog is still whole: reclaim has not run. */
        assert_ptr_not_equal(dns_db_current(c->db), c->old);
        assert_memory_equal(first_a(c->old, "example.", "www.example."), A1, 4);
        assert_memory_equal(first_a(dns_db_current(c->db), "example.", "www.example."),
                            A2, 4);
}

static void test_old_catalog_keeps_content_until_reclaim(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct sync_check check = {dns_db_current(&db), &db, 0};
        db.synchronize = sync_cb;
        db.synchronize_ctx = &check;
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        const uint8_t *rdata[] = {A2};
        const uint16_t rdlen[] = {4};
        assert_int_equal(dns_txn_rrset_put(&txn, N("example.").wire,
                                           N("www.example.").wire, DNS_TYPE_A, 0, 60,
                                           rdata, rdlen, 1),
                         0);
        /* The transaction sees its change; readers do not. */
        assert_memory_equal(first_a(dns_db_current(&db), "example.", "www.example."), A1,
                            4);
        assert_int_equal(dns_txn_commit(&txn), 0);
        assert_int_equal(check.calls, 1);
        dns_db_fini(&db);
}

#define BIG 100000

struct path_check {
        struct dns_txn *txn;
        size_t retired;
};

static void count_retired(void *ctx)
{
        struct path_check *c = ctx;
        c->retired = c->txn->retired.count;
}

static void test_update_in_100k_zone_copies_only_the_path(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        char name[64];
        for (int i = 0; i < BIG; i++) {
                snprintf(name, sizeof(name), "h%d.example.", i);
                uint8_t a[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
                add_ok(&txn, "example.", name, DNS_TYPE_A, a, 4);
        }
        assert_int_equal(dns_txn_commit(&txn), 0);
        const struct dns_catalog *v1 = dns_db_current(&db);
        const struct dns_node **before = calloc(BIG, sizeof(*before));
        const struct dns_rrsets **sets = calloc(BIG, sizeof(*sets));
        for (int i = 0; i < BIG; i++) {
                snprintf(name, sizeof(name), "h%d.example.", i);
                before[i] = find(v1, "example.", name);
                assert_non_null(before[i]);
                sets[i] = before[i]->rrsets;
        }
        const struct dns_node *apex1 = find(v1, "example.", "example.");

        struct path_check pc = {&txn, 0};
        db.synchronize = count_retired;
        db.synchronize_ctx = &pc;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        add_ok(&txn, "example.", "h4242.example.", DNS_TYPE_A, A2, 4);
        assert_int_equal(dns_txn_commit(&txn), 0);
        /* Old catalog, zone, apex, node, blob and a few hash-map nodes. */
        assert_true(pc.retired > 4 && pc.retired < 20);

        const struct dns_catalog *v2 = dns_db_current(&db);
        assert_ptr_not_equal(find(v2, "example.", "example."), apex1);
        size_t changed = 0;
        for (int i = 0; i < BIG; i++) {
                snprintf(name, sizeof(name), "h%d.example.", i);
                const struct dns_node *node = find(v2, "example.", name);
                if (i == 4242) {
                        assert_ptr_not_equal(node, before[i]);
                        assert_int_equal(node->rrsets->set[0].count, 2);
                        changed++;
                        continue;
                }
                assert_ptr_equal(node, before[i]);
                assert_ptr_equal(node->rrsets, sets[i]);
        }
        assert_int_equal(changed, 1);
        free(before);
        free(sets);
        dns_db_fini(&db);
}

/* ---- commits cost what they change, whatever the catalog holds ---------- */

/* What one commit visited: catalog and zone hash-map nodes its writes went
 * through, nodes walked (must be none), objects it retired. */
struct commit_cost {
        uint64_t visited, walked;
        size_t retired;
};

static void catalog_zone_name(char *buf, size_t len, int i)
{
        /* Origins of 2, 3 and 4 labels, so the depth range has work to do. */
        if (i % 3 == 0)
                snprintf(buf, len, "c%d.test.", i);
        else if (i % 3 == 1)
                snprintf(buf, len, "c%d.b%d.test.", i, i % 11);
        else
                snprintf(buf, len, "c%d.x.b%d.test.", i, i % 13);
}

static const struct dns_zone *zone_get(const struct dns_catalog *cat, const char *origin)
{
        struct dns_lname n;
        assert_true(dns_lname_from_wire(&n, N(origin).wire, 256) > 0);
        return dns_catalog_get(cat, &n);
}

/* Commits (kind 0) an upsert into one zone, (1) a zone of a new depth, (2)
 * that zone's deletion; checks that no other zone changed and measures. */
static struct commit_cost commit_one(struct dns_db *db, int zones, int kind)
{
        struct dns_txn txn;
        struct path_check pc = {&txn, 0};
        db->synchronize = count_retired;
        db->synchronize_ctx = &pc;
        const struct dns_catalog *v1 = dns_db_current(db);
        const struct dns_zone **before = calloc((size_t)zones, sizeof(*before));
        char name[64];
        for (int i = 0; i < zones; i++) {
                catalog_zone_name(name, sizeof(name), i);
                before[i] = zone_get(v1, name);
                assert_non_null(before[i]);
        }
        const char *deep = "a.b.c.d.e.f.g.deep.test.";
        assert_int_equal(dns_txn_begin(db, &txn), 0);
        uint64_t walked = pmap_stats_walked();
        if (kind == 0) {
                const uint8_t *rdata[] = {A2};
                const uint16_t rdlen[] = {4};
                assert_int_equal(dns_txn_rrset_put(&txn, N("c1.b1.test.").wire,
                                                   N("www.c1.b1.test.").wire, DNS_TYPE_A,
                                                   0, 60, rdata, rdlen, 1),
                                 0);
        } else if (kind == 1) {
                assert_int_equal(dns_txn_zone_create(&txn, N(deep).wire, false), 0);
        } else {
                assert_int_equal(dns_txn_zone_delete(&txn, N(deep).wire), 0);
        }
        struct commit_cost cost = {.visited = txn.ptxn.visited};
        assert_int_equal(dns_txn_commit(&txn), 0);
        cost.walked = pmap_stats_walked() - walked;
        cost.retired = pc.retired;
        db->synchronize = NULL;

        const struct dns_catalog *v2 = dns_db_current(db);
        for (int i = 0; i < zones; i++) {
                catalog_zone_name(name, sizeof(name), i);
                if (kind != 0 || i != 1)
                        assert_ptr_equal(zone_get(v2, name), before[i]);
        }
        assert_int_equal(v2->min_labels, 2);
        assert_int_equal(v2->max_labels, kind == 1 ? 9 : 4);
        struct dns_lname q;
        dns_lname_from_wire(&q, N("x.a.b.c.d.e.f.g.deep.test.").wire, 256);
        const struct dns_zone *found = dns_catalog_find(v2, &q);
        assert_true(kind == 1 ? found != NULL && found->origin_labels == 9
                              : found == NULL);
        free(before);
        return cost;
}

static void catalog_costs(int zones, struct commit_cost cost[3])
{
        struct dns_db db;
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_txn txn;
        char name[64];
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        for (int i = 0; i < zones; i++) {
                catalog_zone_name(name, sizeof(name), i);
                assert_int_equal(dns_txn_zone_create(&txn, N(name).wire, false), 0);
                add_ok(&txn, name, name, DNS_TYPE_SOA, SOA_RDATA, sizeof(SOA_RDATA));
        }
        assert_int_equal(dns_txn_commit(&txn), 0);
        assert_int_equal(dns_db_current(&db)->zone_count, zones);
        for (int kind = 0; kind < 3; kind++)
                cost[kind] = commit_one(&db, zones, kind);
        dns_db_fini(&db);
}

static void test_commit_cost_does_not_grow_with_the_catalog(void **state)
{
        struct commit_cost small[3], big[3];
        catalog_costs(10, small);
        catalog_costs(BIG, big);
        for (int kind = 0; kind < 3; kind++) {
                print_message("commit %d: visited %llu / %llu nodes, retired %zu / %zu "
                              "(10 / %d zones)\n",
                              kind, (unsigned long long)small[kind].visited,
                              (unsigned long long)big[kind].visited, small[kind].retired,
                              big[kind].retired, BIG);
                /* Nothing is walked, and the catalog's hash trie is a few
                 * levels deeper at 100k zones (log32): a handful of nodes. */
                assert_int_equal(small[kind].walked, 0);
                assert_int_equal(big[kind].walked, 0);
                assert_true(big[kind].visited <= small[kind].visited + 4);
                assert_true(big[kind].visited < 16);
                assert_true(big[kind].retired <= small[kind].retired + 4);
                assert_true(big[kind].retired < 16);
        }
}

static void expect_reject(struct dns_txn *txn, const char *owner, uint16_t type,
                          const uint8_t *rdata, uint16_t rdlen, const char *message)
{
        int rc = add(txn, "example.", owner, type, rdata, rdlen);
        assert_true(rc < 0);
        if (strstr(txn->error, message) == NULL)
                fail_msg("error '%s' lacks '%s'", txn->error, message);
}

static const uint8_t CNAME_RDATA[] = {3,   'w', 'w', 'w', 7,   'e', 'x',
                                      'a', 'm', 'p', 'l', 'e', 0};

static void test_cname_and_other_data_rejected(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        expect_reject(&txn, "www.example.", DNS_TYPE_CNAME, CNAME_RDATA,
                      sizeof(CNAME_RDATA), "CNAME and other data at www.example.");
        dns_txn_abort(&txn);
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        add_ok(&txn, "example.", "alias.example.", DNS_TYPE_CNAME, CNAME_RDATA,
               sizeof(CNAME_RDATA));
        expect_reject(&txn, "alias.example.", DNS_TYPE_A, A1, 4,
                      "CNAME and other data at alias.example.");
        dns_txn_abort(&txn);
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        add_ok(&txn, "example.", "alias.example.", DNS_TYPE_CNAME, CNAME_RDATA,
               sizeof(CNAME_RDATA));
        /* The same CNAME again is fine; a second one is not. */
        add_ok(&txn, "example.", "alias.example.", DNS_TYPE_CNAME, CNAME_RDATA,
               sizeof(CNAME_RDATA));
        const uint8_t other[] = {1, 'x', 0};
        expect_reject(&txn, "alias.example.", DNS_TYPE_CNAME, other, sizeof(other),
                      "more than one CNAME record at alias.example.");
        dns_txn_abort(&txn);
        dns_db_fini(&db);
}

static void test_soa_outside_apex_rejected(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        expect_reject(&txn, "sub.example.", DNS_TYPE_SOA, SOA_RDATA, sizeof(SOA_RDATA),
                      "SOA record at sub.example., which is not the zone apex");
        dns_txn_abort(&txn);
        dns_db_fini(&db);
}

static void test_out_of_zone_owner_rejected(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        expect_reject(&txn, "www.example.net.", DNS_TYPE_A, A1, 4,
                      "www.example.net. is outside the zone example.");
        dns_txn_abort(&txn);
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_true(add(&txn, "nosuch.", "a.nosuch.", DNS_TYPE_A, A1, 4) < 0);
        assert_non_null(strstr(txn.error, "no zone nosuch."));
        dns_txn_abort(&txn);
        dns_db_fini(&db);
}

static void test_dname_rejected(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        expect_reject(&txn, "d.example.", DNS_TYPE_DNAME, CNAME_RDATA,
                      sizeof(CNAME_RDATA), "DNAME is not supported");
        dns_txn_abort(&txn);
        dns_db_fini(&db);
}

static void test_rejected_record_leaves_no_node_behind(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        expect_reject(&txn, "x.y.example.", DNS_TYPE_SOA, SOA_RDATA, sizeof(SOA_RDATA),
                      "not the zone apex");
        struct dns_lname n;
        dns_lname_from_wire(&n, N("y.example.").wire, 256);
        assert_null(dns_zone_find(dns_txn_zone(&txn, N("example.").wire), &n));
        dns_txn_abort(&txn);
        dns_db_fini(&db);
}

static void test_empty_non_terminals_created_and_pruned(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        add_ok(&txn, "example.", "a.b.c.example.", DNS_TYPE_A, A1, 4);
        add_ok(&txn, "example.", "d.c.example.", DNS_TYPE_A, A1, 4);
        assert_int_equal(dns_txn_commit(&txn), 0);
        const struct dns_catalog *cat = dns_db_current(&db);
        const struct dns_node *ent = find(cat, "example.", "b.c.example.");
        assert_non_null(ent);
        assert_null(ent->rrsets);
        assert_non_null(find(cat, "example.", "c.example."));
        assert_null(find(cat, "example.", "c.example.")->rrsets);

        /* Deleting the leaf prunes b.c but keeps c (it still has d). */
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_rrset_put(&txn, N("example.").wire,
                                           N("a.b.c.example.").wire, DNS_TYPE_A, 0, 0,
                                           NULL, NULL, 0),
                         0);
        assert_int_equal(dns_txn_commit(&txn), 0);
        cat = dns_db_current(&db);
        assert_null(find(cat, "example.", "a.b.c.example."));
        assert_null(find(cat, "example.", "b.c.example."));
        assert_non_null(find(cat, "example.", "c.example."));

        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_rrset_put(&txn, N("example.").wire,
                                           N("d.c.example.").wire, DNS_TYPE_A, 0, 0, NULL,
                                           NULL, 0),
                         0);
        assert_int_equal(dns_txn_commit(&txn), 0);
        cat = dns_db_current(&db);
        assert_null(find(cat, "example.", "c.example."));
        assert_non_null(find(cat, "example.", "example.")); /* the apex stays */
        dns_db_fini(&db);
}

static void test_abort_leaves_published_version_unchanged(void **state)
{
        struct dns_db db;
        setup_db(&db);
        const struct dns_catalog *before = dns_db_current(&db);
        const struct dns_node *www = find(before, "example.", "www.example.");
        const struct dns_rrsets *sets = www->rrsets;
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        char name[64];
        for (int i = 0; i < 2000; i++) {
                snprintf(name, sizeof(name), "n%d.www.example.", i);
                add_ok(&txn, "example.", name, DNS_TYPE_A, A1, 4);
        }
        add_ok(&txn, "example.", "www.example.", DNS_TYPE_A, A2, 4);
        const uint8_t *rdata[] = {A2};
        const uint16_t rdlen[] = {4};
        assert_int_equal(dns_txn_rrset_put(&txn, N("example.").wire,
                                           N("www.example.").wire, DNS_TYPE_A, 0, 5,
                                           rdata, rdlen, 1),
                         0);
        assert_int_equal(dns_txn_zone_create(&txn, N("new.").wire, false), 0);
        add_ok(&txn, "new.", "x.new.", DNS_TYPE_A, A1, 4);
        assert_int_equal(dns_txn_zone_create(&txn, N("gone.").wire, false), 0);
        assert_int_equal(dns_txn_zone_delete(&txn, N("gone.").wire), 0);
        dns_txn_abort(&txn);
        assert_ptr_equal(dns_db_current(&db), before);
        assert_int_equal(before->zone_count, 1);
        assert_ptr_equal(find(before, "example.", "www.example."), www);
        assert_ptr_equal(www->rrsets, sets);
        assert_int_equal(sets->set[0].count, 1);
        assert_null(find(before, "example.", "n1.www.example."));
        dns_db_fini(&db); /* ASan: the aborted version leaked nothing */
}

static void test_zone_replace_and_delete_are_published_on_commit(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_zone_create(&txn, N("example.").wire, false), -EEXIST);
        assert_non_null(strstr(txn.error, "already exists"));
        dns_txn_abort(&txn);
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_zone_create(&txn, N("example.").wire, true), 0);
        assert_int_equal(dns_txn_commit(&txn), 0);
        assert_null(first_a(dns_db_current(&db), "example.", "www.example."));
        assert_int_equal(dns_db_current(&db)->zone_count, 1);
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_zone_delete(&txn, N("example.").wire), 0);
        assert_int_equal(dns_txn_zone_delete(&txn, N("example.").wire), -ENOENT);
        assert_int_equal(dns_txn_commit(&txn), 0);
        assert_int_equal(dns_db_current(&db)->zone_count, 0);
        dns_db_fini(&db);
}

/* A zone created twice in one transaction: the second replaces the first
 * (freed at once, being the transaction's own), and the sets added after it
 * land in the second, found through the transaction's cached zone. */
static void test_zone_created_twice_in_one_transaction(void **state)
{
        struct dns_db db;
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_zone_create(&txn, N("example.").wire, false), 0);
        add_ok(&txn, "example.", "www.example.", DNS_TYPE_A, A1, 4);
        assert_int_equal(dns_txn_zone_create(&txn, N("example.").wire, true), 0);
        struct dns_lname origin;
        assert_true(dns_lname_from_wire(&origin, N("example.").wire, 256) > 0);
        assert_ptr_equal(dns_txn_zone(&txn, N("example.").wire),
                         dns_catalog_get(txn.catalog, &origin));
        add_ok(&txn, "example.", "www.example.", DNS_TYPE_A, A2, 4);
        assert_int_equal(dns_txn_commit(&txn), 0);
        const uint8_t *a = first_a(dns_db_current(&db), "example.", "www.example.");
        assert_non_null(a);
        assert_memory_equal(a, A2, 4);
        assert_int_equal(dns_db_current(&db)->zone_count, 1);
        dns_db_fini(&db);
}

/* Two writers whose transactions overlap: the second commit would publish
 * a catalog without the first one's zone.  It is refused, and the first
 * writer's zone stays served. */
static void test_overlapping_writers_second_commit_refused(void **state)
{
        struct dns_db db;
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_txn first, second;
        assert_int_equal(dns_txn_begin(&db, &first), 0);
        assert_int_equal(dns_txn_begin(&db, &second), 0);
        assert_int_equal(dns_txn_zone_create(&first, N("one.example.").wire, false), 0);
        assert_int_equal(dns_txn_zone_create(&second, N("two.example.").wire, false), 0);
        assert_int_equal(dns_txn_commit(&first), 0);
        assert_int_equal(dns_txn_commit(&second), -EBUSY);
        assert_non_null(strstr(second.error, "committed since"));
        assert_non_null(zone_get(dns_db_current(&db), "one.example."));
        assert_null(zone_get(dns_db_current(&db), "two.example."));
        dns_db_fini(&db);
}

static void test_catalog_find_picks_longest_suffix(void **state)
{
        struct dns_db db;
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_zone_create(&txn, N("example.").wire, false), 0);
        assert_int_equal(dns_txn_zone_create(&txn, N("sub.example.").wire, false), 0);
        assert_int_equal(dns_txn_commit(&txn), 0);
        const struct dns_catalog *cat = dns_db_current(&db);
        struct dns_lname n;
        dns_lname_from_wire(&n, N("A.Sub.Example.").wire, 256);
        assert_int_equal(dns_catalog_find(cat, &n)->origin_labels, 2);
        dns_lname_from_wire(&n, N("b.example.").wire, 256);
        assert_int_equal(dns_catalog_find(cat, &n)->origin_labels, 1);
        dns_lname_from_wire(&n, N("example.com.").wire, 256);
        assert_null(dns_catalog_find(cat, &n));
        dns_lname_from_wire(&n, N(".").wire, 256);
        assert_null(dns_catalog_find(cat, &n));
        dns_db_fini(&db);
}

/* A hint is taken only when no longer suffix can exist: whatever the hint,
 * the answer is dns_catalog_find()'s. */
static void test_catalog_find_hinted_agrees_with_find(void **state)
{
        (void)state;
        struct dns_db db;
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        static const char *const origins[] = {"example.", "sub.example.",
                                              "other.",   "deep.sub.example.",
                                              "b.other.", "c.b.other."};
        for (unsigned i = 0; i < 6; i++)
                assert_int_equal(dns_txn_zone_create(&txn, N(origins[i]).wire, false), 0);
        assert_int_equal(dns_txn_commit(&txn), 0);
        const struct dns_catalog *cat = dns_db_current(&db);
        static const char *const names[] = {"example.",
                                            "A.example.",
                                            "sub.example.",
                                            "x.SUB.example.",
                                            "deep.sub.example.",
                                            "x.deep.sub.example.",
                                            "other.",
                                            "a.other.",
                                            "b.other.",
                                            "x.b.other.",
                                            "b.other.x.",
                                            "com.",
                                            ".",
                                            "x.deep.other.",
                                            "deep.sub.example.com.",
                                            "c.b.other.",
                                            "X.C.b.other."};
        const struct dns_zone *hints[7] = {NULL};
        for (unsigned i = 0; i < 6; i++) {
                struct dns_lname o;
                dns_lname_from_wire(&o, N(origins[i]).wire, 256);
                hints[i + 1] = dns_catalog_get(cat, &o);
                assert_non_null(hints[i + 1]);
        }
        for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                struct dns_lname n;
                dns_lname_from_wire(&n, N(names[i]).wire, 256);
                for (unsigned h = 0; h < 7; h++)
                        assert_ptr_equal(dns_catalog_find_hinted(cat, &n, hints[h]),
                                         dns_catalog_find(cat, &n));
        }
        dns_db_fini(&db);
}

static void test_rr_add_with_other_ttl_returns_1(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        assert_int_equal(dns_txn_rr_add(&txn, N("example.").wire, N("www.example.").wire,
                                        DNS_TYPE_A, 0, 5, A2, 4),
                         1);
        assert_int_equal(dns_txn_commit(&txn), 0);
        const struct dns_node *www =
            find(dns_db_current(&db), "example.", "www.example.");
        assert_int_equal(dns_rrsets_find(www->rrsets, DNS_TYPE_A)->ttl, 3600);
        dns_db_fini(&db);
}

static void test_ns_below_apex_marks_a_cut(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        add_ok(&txn, "example.", "example.", DNS_TYPE_NS, CNAME_RDATA,
               sizeof(CNAME_RDATA));
        add_ok(&txn, "example.", "sub.example.", DNS_TYPE_NS, CNAME_RDATA,
               sizeof(CNAME_RDATA));
        assert_int_equal(dns_txn_commit(&txn), 0);
        const struct dns_catalog *cat = dns_db_current(&db);
        assert_false(find(cat, "example.", "example.")->flags & DNS_NODE_CUT);
        assert_true(find(cat, "example.", "sub.example.")->flags & DNS_NODE_CUT);
        dns_db_fini(&db);
}

struct client {
        uint16_t port;
        atomic_bool done;
        atomic_uint answered;
        unsigned wrong, timeouts;
};

/* Asks www.example./A over and over; each answer must carry A1 or A2. */
static void *client_run(void *arg)
{
        struct client *c = arg;
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(c->port)};
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        struct timeval tv = {.tv_sec = 1};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        static const uint8_t query[] = {0x12, 0x34, 0,   0,   0,   1,   0, 0,   0,   0,
                                        0,    0,    3,   'w', 'w', 'w', 7, 'e', 'x', 'a',
                                        'm',  'p',  'l', 'e', 0,   0,   1, 0,   1};
        while (!atomic_load(&c->done)) {
                uint8_t resp[512];
                sendto(fd, query, sizeof(query), 0, (struct sockaddr *)&to, sizeof(to));
                ssize_t n = recv(fd, resp, sizeof(resp), 0);
                if (n < 0) {
                        c->timeouts++;
                        continue;
                }
                /* header, question, then one A record: owner pointer (2),
                 * type, class, ttl, rdlength (10), address (4) */
                size_t rdata = sizeof(query) + 12;
                if (n != (ssize_t)(rdata + 4) || (resp[3] & 0xf) != 0 ||
                    (memcmp(resp + rdata, A1, 4) != 0 &&
                     memcmp(resp + rdata, A2, 4) != 0))
                        c->wrong++;
                else
                        atomic_fetch_add(&c->answered, 1);
        }
        close(fd);
        return NULL;
}

static void test_udp_thread_answers_while_versions_are_freed(void **state)
{
        struct dns_db db;
        setup_db(&db);
        struct dns_udp_server server;
        struct sockaddr_in addr = {.sin_family = AF_INET};
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        char err[256];
        assert_int_equal(dns_udp_server_start(&server, (struct sockaddr *)&addr, &db,
                                              NULL, err, sizeof(err)),
                         0);
        socklen_t len = sizeof(addr);
        getsockname(server.fd, (struct sockaddr *)&addr, &len);
        struct client c = {.port = ntohs(addr.sin_port)};
        atomic_init(&c.done, false);
        atomic_init(&c.answered, 0);
        pthread_t client;
        assert_int_equal(pthread_create(&client, NULL, client_run, &c), 0);
        /* Every commit replaces www's records and adds and removes a name,
         * so each one frees nodes and a catalog the server may have read. */
        /* At least 3,000 commits, and on until the client has had 500
         * answers (it may start late on a loaded machine); 30 s at most. */
        time_t deadline = time(NULL) + 30;
        for (unsigned i = 0;
             (i < 3000 || atomic_load(&c.answered) < 500) && time(NULL) < deadline; i++) {
                struct dns_txn txn;
                assert_int_equal(dns_txn_begin(&db, &txn), 0);
                const uint8_t *a = i % 2 ? A1 : A2;
                const uint16_t four = 4;
                assert_int_equal(dns_txn_rrset_put(&txn, N("example.").wire,
                                                   N("www.example.").wire, DNS_TYPE_A, 0,
                                                   3600, &a, &four, 1),
                                 0);
                if (i % 2)
                        add_ok(&txn, "example.", "tmp.example.", DNS_TYPE_A, a, 4);
                else
                        assert_int_equal(dns_txn_rrset_put(&txn, N("example.").wire,
                                                           N("tmp.example.").wire,
                                                           DNS_TYPE_A, 0, 0, NULL, NULL,
                                                           0),
                                         0);
                assert_int_equal(dns_txn_commit(&txn), 0);
        }
        atomic_store(&c.done, true);
        pthread_join(client, NULL);
        dns_udp_server_close(&server);
        assert_int_equal(c.wrong, 0);
        assert_true(c.answered >= 500);
        dns_db_fini(&db);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_commit_publishes_all_changes_at_once),
            cmocka_unit_test(test_old_catalog_keeps_content_until_reclaim),
            cmocka_unit_test(test_update_in_100k_zone_copies_only_the_path),
            cmocka_unit_test(test_commit_cost_does_not_grow_with_the_catalog),
            cmocka_unit_test(test_cname_and_other_data_rejected),
            cmocka_unit_test(test_soa_outside_apex_rejected),
            cmocka_unit_test(test_out_of_zone_owner_rejected),
            cmocka_unit_test(test_dname_rejected),
            cmocka_unit_test(test_rejected_record_leaves_no_node_behind),
            cmocka_unit_test(test_empty_non_terminals_created_and_pruned),
            cmocka_unit_test(test_abort_leaves_published_version_unchanged),
            cmocka_unit_test(test_zone_replace_and_delete_are_published_on_commit),
            cmocka_unit_test(test_zone_created_twice_in_one_transaction),
            cmocka_unit_test(test_overlapping_writers_second_commit_refused),
            cmocka_unit_test(test_catalog_find_picks_longest_suffix),
            cmocka_unit_test(test_catalog_find_hinted_agrees_with_find),
            cmocka_unit_test(test_rr_add_with_other_ttl_returns_1),
            cmocka_unit_test(test_ns_below_apex_marks_a_cut),
            cmocka_unit_test(test_udp_thread_answers_while_versions_are_freed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
