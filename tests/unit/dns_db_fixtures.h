/*
 * dns_db_fixtures.h — what the dns_db unit tests share: an SOA and two A
 * rdatas, N() (a name in wire form from text), add()/add_ok() (a record
 * into a transaction), find() and first_a() (a node and its first A in a
 * published catalog), and dbs_init() (a served db and a private one whose
 * transactions draw ids from it, as node/publish.c builds staged zones).
 * Include after <cmocka.h>.
 */
#ifndef TESTS_UNIT_DNS_DB_FIXTURES_H
#define TESTS_UNIT_DNS_DB_FIXTURES_H

#include <stdint.h>

#include "dns/db.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "dns/zonefile.h"

static const uint8_t SOA_RDATA[] = {3,  'n', 's', '1', 0,  4, 'h', 'o', 's', 't', 0,
                                    0,  0,   0,   1,   0,  0, 0,   60,  0,   0,   0,
                                    60, 0,   0,   0,   60, 0, 0,   0,   60};
static const uint8_t A1[] = {192, 0, 2, 1}, A2[] = {192, 0, 2, 2};

struct name {
        uint8_t wire[256];
};

static inline struct name N(const char *text) {
        struct name n;
        assert_int_equal(dns_name_from_text(text, n.wire), 0);
        return n;
}

static inline int
add(struct dns_txn *txn, const char *zone, const char *owner, uint16_t type,
    const uint8_t *rdata, uint16_t rdlen)
{
        return dns_txn_rr_add(txn, N(zone).wire, N(owner).wire, type, 0, 3600, rdata,
                              rdlen);
}

static inline void add_ok(struct dns_txn *txn, const char *zone, const char *owner,
                          uint16_t type, const uint8_t *rdata, uint16_t rdlen)
{
        int rc = add(txn, zone, owner, type, rdata, rdlen);
        if (rc < 0)
                fail_msg("%s", txn->error);
}

static inline const struct dns_node *find(const struct dns_catalog *cat, const char *zone,
                                          const char *name)
{
        struct dns_lname z, n;
        assert_true(dns_lname_from_wire(&z, N(zone).wire, 256) > 0);
        assert_true(dns_lname_from_wire(&n, N(name).wire, 256) > 0);
        const struct dns_zone *zp = dns_catalog_get(cat, &z);
        return zp ? dns_zone_find(zp, &n) : NULL;
}

static inline const uint8_t *first_a(const struct dns_catalog *cat, const char *zone,
                                     const char *name)
{
        const struct dns_node *node = find(cat, zone, name);
        if (node == NULL)
                return NULL;
        const struct dns_rrset_info *info = dns_rrsets_find(node->rrsets, DNS_TYPE_A);
        return info ? dns_rr_rdata(dns_rrset_next(node->rrsets, info, NULL)) : NULL;
}

/* A served db and a private one whose transactions take their ids from it. */
static inline void dbs_init(struct dns_db *served, struct dns_db *priv)
{
        assert_int_equal(dns_db_init(served), 0);
        assert_int_equal(dns_db_init(priv), 0);
        dns_db_share_txn_ids(priv, served);
}

#endif
