/*
 * test_dns_route.c — routing policies on the query path, end to end in
 * process.
 *
 * A zone is loaded from text, routed sets are put through
 * dns_txn_rrset_put_route() (as the node does for replicated sets), health
 * versions are published with dns_db_health_publish(), and queries go to
 * dns_answer(); responses are decoded with ldns.  Checked: weighted shares
 * by a chi-square test over 20,000 answers with a seed drawn from the
 * kernel (printed, so a failure can be replayed), weight 0 semantics,
 * weighted fail-open, failover in its four states, multivalue's 8 and its
 * fail-open, aliases to weighted and failover targets with and without
 * evaluate_target_health, an alias at the apex, alias loops and long chains
 * (bounded), weighted CNAMEs, routed additional-section targets, and the
 * UDP batch path giving the same bytes as dns_answer(); what
 * dns_answer_explain() writes down through aliases (target health, fail
 * open, depth) and geolocation keys read back as text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dns/answer.h"
#include "dns/db.h"
#include "dns/route.h"
#include "dns/wire.h"
#include "dns/zonefile.h"

#include "zone_text.h"

static const char ZONE[] = "$ORIGIN example.com.\n"
                           "$TTL 3600\n"
                           "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                           "@ NS ns1\n"
                           "ns1 A 192.0.2.53\n"
                           "plain A 192.0.2.250\n"
                           "mx MX 10 wpool\n";

static struct dns_db db;
static uint32_t next_set_id = 1;

static void name_wire(const char *text, uint8_t *wire)
{
        assert_int_equal(dns_name_from_text(text, wire), 0);
}

/* One routed A set holding 192.0.2.<last>. */
static void put_a(struct dns_txn *txn, const char *owner, uint8_t last, uint32_t ttl,
                  uint8_t policy, uint8_t flags, uint8_t weight, uint32_t health)
{
        uint8_t origin[256], name[256], ip[4] = {192, 0, 2, last};
        name_wire("example.com.", origin);
        name_wire(owner, name);
        const uint8_t *rdata = ip;
        uint16_t rdlen = 4;
        struct dns_route route = {
            .policy = policy, .flags = flags, .weight = weight, .health = health};
        int rc = dns_txn_rrset_put_route(txn, origin, name, DNS_TYPE_A, next_set_id++,
                                         ttl, &rdata, &rdlen, 1, &route);
        if (rc != 0)
                fail_msg("put %s: %s", owner, txn->error);
}

/* An alias of `type` at owner to target. */
static void put_alias(struct dns_txn *txn, const char *owner, uint16_t type,
                      const char *target, uint8_t policy, uint8_t flags, uint8_t weight,
                      uint32_t health)
{
        uint8_t origin[256], name[256], to[256];
        name_wire("example.com.", origin);
        name_wire(owner, name);
        name_wire(target, to);
        const uint8_t *rdata = to;
        uint16_t rdlen = (uint16_t)dns_name_wire_len(to, sizeof(to));
        struct dns_route route = {.policy = policy,
                                  .flags = (uint8_t)(flags | DNS_ROUTE_ALIAS),
                                  .weight = weight,
                                  .health = health};
        int rc = dns_txn_rrset_put_route(txn, origin, name, type, next_set_id++, 300,
                                         &rdata, &rdlen, 1, &route);
        if (rc != 0)
                fail_msg("alias %s: %s", owner, txn->error);
}

static void put_cname(struct dns_txn *txn, const char *owner, const char *target,
                      uint8_t weight)
{
        uint8_t origin[256], name[256], to[256];
        name_wire("example.com.", origin);
        name_wire(owner, name);
        name_wire(target, to);
        const uint8_t *rdata = to;
        uint16_t rdlen = (uint16_t)dns_name_wire_len(to, sizeof(to));
        struct dns_route route = {.policy = DNS_POLICY_WEIGHTED, .weight = weight};
        assert_int_equal(dns_txn_rrset_put_route(txn, origin, name, DNS_TYPE_CNAME,
                                                 next_set_id++, 120, &rdata, &rdlen, 1,
                                                 &route),
                         0);
}

/* Health checks used below (numbers as sets carry them). */
enum {
        HC_W1 = 1,
        HC_W2,
        HC_W3,
        HC_W4,
        HC_W0,
        HC_P,
        HC_S,
        HC_POOL1,
        HC_POOL2,
        HC_MV = 20
};

static int setup(void **state)
{
        assert_int_equal(dns_db_init(&db), 0);
        struct dns_txn txn;
        assert_int_equal(dns_txn_begin(&db, &txn), 0);
        zone_text_load(&txn, ZONE);
        /* weighted: 1, 2, 3, 4 and a 0 */
        put_a(&txn, "w.example.com.", 1, 60, DNS_POLICY_WEIGHTED, 0, 1, HC_W1);
        put_a(&txn, "w.example.com.", 2, 60, DNS_POLICY_WEIGHTED, 0, 2, HC_W2);
        put_a(&txn, "w.example.com.", 3, 60, DNS_POLICY_WEIGHTED, 0, 3, HC_W3);
        put_a(&txn, "w.example.com.", 4, 60, DNS_POLICY_WEIGHTED, 0, 4, HC_W4);
        put_a(&txn, "w.example.com.", 10, 60, DNS_POLICY_WEIGHTED, 0, 0, HC_W0);
        /* all weights 0 */
        for (uint8_t i = 0; i < 3; i++)
                put_a(&txn, "zero.example.com.", (uint8_t)(30 + i), 60,
                      DNS_POLICY_WEIGHTED, 0, 0, 0);
        /* failover */
        put_a(&txn, "fo.example.com.", 41, 60, DNS_POLICY_FAILOVER, DNS_ROUTE_PRIMARY, 0,
              HC_P);
        put_a(&txn, "fo.example.com.", 42, 60, DNS_POLICY_FAILOVER, DNS_ROUTE_SECONDARY,
              0, HC_S);
        /* failover whose secondary has no check */
        put_a(&txn, "fo2.example.com.", 43, 60, DNS_POLICY_FAILOVER, DNS_ROUTE_PRIMARY, 0,
              HC_P);
        put_a(&txn, "fo2.example.com.", 44, 60, DNS_POLICY_FAILOVER, DNS_ROUTE_SECONDARY,
              0, 0);
        /* multivalue: 12 sets, checks HC_MV.. */
        for (uint8_t i = 0; i < 12; i++)
                put_a(&txn, "mv.example.com.", (uint8_t)(100 + i), 60,
                      DNS_POLICY_MULTIVALUE, 0, 0, HC_MV + i);
        for (uint8_t i = 0; i < 5; i++)
                put_a(&txn, "mv5.example.com.", (uint8_t)(120 + i), 60,
                      DNS_POLICY_MULTIVALUE, 0, 0, 0);
        /* a weighted pool, aliased from several names */
        put_a(&txn, "wpool.example.com.", 51, 30, DNS_POLICY_WEIGHTED, 0, 1, HC_POOL1);
        put_a(&txn, "wpool.example.com.", 52, 30, DNS_POLICY_WEIGHTED, 0, 1, HC_POOL2);
        put_alias(&txn, "app.example.com.", DNS_TYPE_A, "wpool.example.com.",
                  DNS_POLICY_NONE, 0, 0, 0);
        put_alias(&txn, "example.com.", DNS_TYPE_A, "wpool.example.com.", DNS_POLICY_NONE,
                  0, 0, 0);
        /* failover: alias to the pool (primary) or a plain address */
        put_alias(&txn, "efo.example.com.", DNS_TYPE_A, "wpool.example.com.",
                  DNS_POLICY_FAILOVER, DNS_ROUTE_PRIMARY | DNS_ROUTE_EVALUATE, 0, 0);
        put_a(&txn, "efo.example.com.", 200, 60, DNS_POLICY_FAILOVER, DNS_ROUTE_SECONDARY,
              0, 0);
        put_alias(&txn, "nfo.example.com.", DNS_TYPE_A, "wpool.example.com.",
                  DNS_POLICY_FAILOVER, DNS_ROUTE_PRIMARY, 0, 0);
        put_a(&txn, "nfo.example.com.", 201, 60, DNS_POLICY_FAILOVER, DNS_ROUTE_SECONDARY,
              0, 0);
        /* alias to a failover target */
        put_alias(&txn, "tofo.example.com.", DNS_TYPE_A, "fo.example.com.",
                  DNS_POLICY_NONE, 0, 0, 0);
        /* loops and chains */
        put_alias(&txn, "loopa.example.com.", DNS_TYPE_A, "loopb.example.com.",
                  DNS_POLICY_WEIGHTED, DNS_ROUTE_EVALUATE, 1, 0);
        put_alias(&txn, "loopb.example.com.", DNS_TYPE_A, "loopa.example.com.",
                  DNS_POLICY_WEIGHTED, DNS_ROUTE_EVALUATE, 1, 0);
        char owner[64], target[64];
        for (int i = 0; i < 12; i++) {
                snprintf(owner, sizeof(owner), "chain%d.example.com.", i);
                snprintf(target, sizeof(target), "chain%d.example.com.", i + 1);
                put_alias(&txn, owner, DNS_TYPE_A, target, DNS_POLICY_NONE, 0, 0, 0);
        }
        put_a(&txn, "chain12.example.com.", 212, 60, DNS_POLICY_NONE, 0, 0, 0);
        /* weighted CNAMEs */
        put_cname(&txn, "wc.example.com.", "plain.example.com.", 1);
        put_cname(&txn, "wc.example.com.", "ns1.example.com.", 1);
        assert_int_equal(dns_txn_commit(&txn), 0);
        return 0;
}

static int teardown(void **state)
{
        dns_db_fini(&db);
        return 0;
}

/* Publishes a health version where the listed checks are down. */
static void health(const uint32_t *down, size_t n)
{
        struct dns_health *h = dns_health_new(1, 64);
        assert_non_null(h);
        for (size_t i = 0; i < n; i++)
                h->status[down[i] - 1] = DNS_HEALTH_UNHEALTHY;
        assert_int_equal(dns_db_health_publish(&db, h), 0);
}

static size_t make_query(uint8_t *q, const char *name, uint16_t type)
{
        uint8_t wire[256];
        name_wire(name, wire);
        int nlen = dns_name_wire_len(wire, sizeof(wire));
        memset(q, 0, 12);
        wire_put16(q, 0x1234);
        wire_put16(q + 4, 1);
        memcpy(q + 12, wire, (size_t)nlen);
        wire_put16(q + 12 + nlen, type);
        wire_put16(q + 14 + nlen, DNS_CLASS_IN);
        return 16 + (size_t)nlen;
}

static ldns_pkt *ask(const char *name, uint16_t type)
{
        uint8_t q[512], out[DNS_TCP_MAX];
        size_t n = make_query(q, name, type);
        size_t len =
            dns_answer(dns_db_current(&db), q, n, DNS_TRANSPORT_UDP, out, 0, NULL);
        ldns_pkt *pkt = NULL;
        if (len == 0 || ldns_wire2pkt(&pkt, out, len) != LDNS_STATUS_OK)
                fail_msg("no parsable response for %s", name);
        return pkt;
}

/* The last octets of the A records in the answer, and their count. */
static size_t answer_a(const char *name, uint8_t *last, size_t max, uint32_t *ttl)
{
        ldns_pkt *pkt = ask(name, DNS_TYPE_A);
        assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
        ldns_rr_list *ans = ldns_pkt_answer(pkt);
        size_t n = 0;
        for (size_t i = 0; i < ldns_rr_list_rr_count(ans); i++) {
                ldns_rr *rr = ldns_rr_list_rr(ans, i);
                if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_A)
                        continue;
                /* Every record is under the name asked (aliases too). */
                ldns_rdf *owner = ldns_dname_new_frm_str(name);
                assert_int_equal(ldns_dname_compare(ldns_rr_owner(rr), owner), 0);
                ldns_rdf_deep_free(owner);
                assert_true(n < max);
                last[n++] = ldns_rdf_data(ldns_rr_rdf(rr, 0))[3];
                if (ttl)
                        *ttl = ldns_rr_ttl(rr);
        }
        ldns_pkt_free(pkt);
        return n;
}

static uint8_t one_a(const char *name)
{
        uint8_t last[16];
        size_t n = answer_a(name, last, 16, NULL);
        if (n != 1)
                fail_msg("%s: %zu A records, expected 1", name, n);
        return last[0];
}

static uint64_t fresh_seed(void)
{
        uint64_t seed;
        assert_int_equal(getrandom(&seed, sizeof(seed), 0), (ssize_t)sizeof(seed));
        dns_route_seed(seed);
        return seed;
}

/*
 * Pearson's chi-square of observed counts against expected shares; fails
 * above the 0.1% critical value for k - 1 degrees of freedom (k <= 5).
 */
static void chi_square(const char *what, const uint64_t *observed, const double *share,
                       size_t k, uint64_t seed)
{
        static const double critical[] = {0, 10.83, 13.82, 16.27, 18.47};
        uint64_t total = 0;
        for (size_t i = 0; i < k; i++)
                total += observed[i];
        double x2 = 0;
        for (size_t i = 0; i < k; i++) {
                double e = share[i] * (double)total;
                x2 += ((double)observed[i] - e) * ((double)observed[i] - e) / e;
        }
        printf("%s: chi-square %.2f (df %zu, critical %.2f), seed %llu\n", what, x2,
               k - 1, critical[k - 1], (unsigned long long)seed);
        if (x2 > critical[k - 1])
                fail_msg("%s: shares off (chi-square %.2f > %.2f, seed %llu)", what, x2,
                         critical[k - 1], (unsigned long long)seed);
}

#define ROUNDS 20000

static void weighted_shares_follow_the_weights(void **state)
{
        uint64_t seed = fresh_seed();
        health(NULL, 0);
        uint64_t count[256] = {0};
        for (int i = 0; i < ROUNDS; i++)
                count[one_a("w.example.com.")]++;
        assert_int_equal(count[10], 0); /* weight 0 while others are healthy */
        uint64_t obs[4] = {count[1], count[2], count[3], count[4]};
        double share[4] = {0.1, 0.2, 0.3, 0.4};
        chi_square("weights 1:2:3:4", obs, share, 4, seed);
}

static void weighted_shares_count_only_healthy_sets(void **state)
{
        uint64_t seed = fresh_seed();
        const uint32_t down[] = {HC_W4};
        health(down, 1);
        uint64_t count[256] = {0};
        for (int i = 0; i < ROUNDS; i++)
                count[one_a("w.example.com.")]++;
        assert_int_equal(count[4], 0);
        assert_int_equal(count[10], 0);
        uint64_t obs[3] = {count[1], count[2], count[3]};
        double share[3] = {1.0 / 6, 2.0 / 6, 3.0 / 6};
        chi_square("weights 1:2:3 (4 down)", obs, share, 3, seed);
}

static void weight_zero_answers_only_when_the_others_are_down(void **state)
{
        fresh_seed();
        const uint32_t down[] = {HC_W1, HC_W2, HC_W3, HC_W4};
        health(down, 4);
        for (int i = 0; i < 200; i++)
                assert_int_equal(one_a("w.example.com."), 10);
        /* All weights 0: uniform. */
        uint64_t seed = fresh_seed();
        uint64_t count[256] = {0};
        for (int i = 0; i < ROUNDS / 2; i++)
                count[one_a("zero.example.com.")]++;
        uint64_t obs[3] = {count[30], count[31], count[32]};
        double share[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
        chi_square("all weights 0", obs, share, 3, seed);
}

static void weighted_fails_open_when_nothing_is_healthy(void **state)
{
        uint64_t seed = fresh_seed();
        const uint32_t down[] = {HC_W1, HC_W2, HC_W3, HC_W4, HC_W0};
        health(down, 5);
        uint64_t count[256] = {0};
        for (int i = 0; i < ROUNDS / 2; i++)
                count[one_a("w.example.com.")]++;
        assert_int_equal(count[10], 0); /* every set counts: weights as usual */
        uint64_t obs[4] = {count[1], count[2], count[3], count[4]};
        double share[4] = {0.1, 0.2, 0.3, 0.4};
        chi_square("fail open 1:2:3:4", obs, share, 4, seed);
        health(NULL, 0);
}

static void failover_follows_primary_then_secondary(void **state)
{
        health(NULL, 0);
        assert_int_equal(one_a("fo.example.com."), 41);
        const uint32_t p_down[] = {HC_P};
        health(p_down, 1);
        assert_int_equal(one_a("fo.example.com."), 42);
        assert_int_equal(one_a("fo2.example.com."), 44); /* unchecked secondary */
        const uint32_t both[] = {HC_P, HC_S};
        health(both, 2);
        assert_int_equal(one_a("fo.example.com."), 41); /* both down: primary */
        const uint32_t s_down[] = {HC_S};
        health(s_down, 1);
        assert_int_equal(one_a("fo.example.com."), 41);
        health(NULL, 0);
}

static void multivalue_answers_up_to_eight_healthy(void **state)
{
        fresh_seed();
        health(NULL, 0);
        unsigned seen[12] = {0};
        for (int r = 0; r < 2000; r++) {
                uint8_t last[16];
                size_t n = answer_a("mv.example.com.", last, 16, NULL);
                assert_int_equal(n, 8);
                for (size_t i = 0; i < n; i++) {
                        for (size_t j = 0; j < i; j++)
                                assert_int_not_equal(last[i], last[j]);
                        assert_true(last[i] >= 100 && last[i] < 112);
                        seen[last[i] - 100]++;
                }
        }
        for (int i = 0; i < 12; i++) /* a random subset: every one appears */
                assert_true(seen[i] > 2000 * 8 / 12 / 2);
        uint8_t last[16];
        assert_int_equal(answer_a("mv5.example.com.", last, 16, NULL), 5);
        /* Three healthy: exactly those. */
        uint32_t down[12];
        for (uint32_t i = 0; i < 12; i++)
                down[i] = HC_MV + i;
        health(down, 9); /* 100..108 down; 109, 110, 111 up */
        for (int r = 0; r < 50; r++) {
                size_t n = answer_a("mv.example.com.", last, 16, NULL);
                assert_int_equal(n, 3);
                for (size_t i = 0; i < n; i++)
                        assert_true(last[i] >= 109);
        }
        /* None healthy: up to 8 of the unhealthy ones. */
        health(down, 12);
        assert_int_equal(answer_a("mv.example.com.", last, 16, NULL), 8);
        health(NULL, 0);
}

static void alias_answers_with_the_target_under_its_own_name(void **state)
{
        health(NULL, 0);
        uint8_t last[16];
        uint32_t ttl = 0;
        for (int i = 0; i < 20; i++) {
                assert_int_equal(answer_a("app.example.com.", last, 16, &ttl), 1);
                assert_true(last[0] == 51 || last[0] == 52);
                assert_int_equal(ttl, 30); /* the target's TTL, not the alias's */
        }
        const uint32_t down[] = {HC_POOL1};
        health(down, 1); /* the target's own policy chooses */
        for (int i = 0; i < 20; i++)
                assert_int_equal(one_a("app.example.com."), 52);
        /* An alias to a failover group. */
        health(NULL, 0);
        assert_int_equal(one_a("tofo.example.com."), 41);
        const uint32_t p_down[] = {HC_P};
        health(p_down, 1);
        assert_int_equal(one_a("tofo.example.com."), 42);
        health(NULL, 0);
}

static void alias_at_the_apex(void **state)
{
        health(NULL, 0);
        uint8_t v = one_a("example.com.");
        assert_true(v == 51 || v == 52);
        /* The apex keeps its SOA and NS. */
        ldns_pkt *pkt = ask("example.com.", DNS_TYPE_SOA);
        assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(pkt)), 1);
        ldns_pkt_free(pkt);
        pkt = ask("example.com.", DNS_TYPE_NS);
        assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(pkt)), 1);
        ldns_pkt_free(pkt);
}

static void evaluate_target_health_moves_failover(void **state)
{
        health(NULL, 0);
        uint8_t v = one_a("efo.example.com.");
        assert_true(v == 51 || v == 52);
        const uint32_t pool_down[] = {HC_POOL1, HC_POOL2};
        health(pool_down, 2);
        /* The alias's target has no healthy record: the secondary answers. */
        assert_int_equal(one_a("efo.example.com."), 200);
        /* Without evaluate_target_health the alias stays primary and its
         * target fails open. */
        v = one_a("nfo.example.com.");
        assert_true(v == 51 || v == 52);
        health(NULL, 0);
}

static void alias_loops_and_long_chains_are_bounded(void **state)
{
        health(NULL, 0);
        ldns_pkt *pkt = ask("loopa.example.com.", DNS_TYPE_A);
        assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
        assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_answer(pkt)), 0);
        assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_authority(pkt)), 1); /* SOA */
        ldns_pkt_free(pkt);
        /* chain5 -> ... -> chain12: 7 hops, within DNS_ALIAS_DEPTH. */
        assert_int_equal(one_a("chain5.example.com."), 212);
        /* chain0 needs 12 hops: cut, an empty answer. */
        uint8_t last[4];
        assert_int_equal(answer_a("chain0.example.com.", last, 4, NULL), 0);
}

static void weighted_cname_and_routed_additional(void **state)
{
        fresh_seed();
        health(NULL, 0);
        unsigned to_plain = 0, to_ns = 0;
        for (int i = 0; i < 200; i++) {
                ldns_pkt *pkt = ask("wc.example.com.", DNS_TYPE_A);
                ldns_rr_list *ans = ldns_pkt_answer(pkt);
                assert_int_equal(ldns_rr_list_rr_count(ans), 2); /* one CNAME + A */
                assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ans, 0)),
                                 LDNS_RR_TYPE_CNAME);
                uint8_t v = ldns_rdf_data(ldns_rr_rdf(ldns_rr_list_rr(ans, 1), 0))[3];
                to_plain += v == 250;
                to_ns += v == 53;
                ldns_pkt_free(pkt);
        }
        assert_true(to_plain > 50 && to_ns > 50);
        /* MX target is a weighted name: one address in the additional section. */
        ldns_pkt *pkt = ask("mx.example.com.", DNS_TYPE_MX);
        assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_additional(pkt)), 1);
        ldns_pkt_free(pkt);
}

static void batch_path_gives_the_same_bytes(void **state)
{
        static const char *const names[] = {"w.example.com.",   "mv.example.com.",
                                            "app.example.com.", "efo.example.com.",
                                            "wc.example.com.",  "example.com."};
        const struct dns_catalog *cat = dns_db_current(&db);
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                uint8_t q[512], a1[DNS_TCP_MAX], a2[DNS_TCP_MAX];
                size_t n = make_query(q, names[i], DNS_TYPE_A);
                uint64_t seed = 42 + i;
                dns_route_seed(seed);
                size_t l1 = dns_answer(cat, q, n, DNS_TRANSPORT_UDP, a1, 3, NULL);
                dns_route_seed(seed);
                struct dns_query parsed;
                enum dns_parse_status st = dns_query_parse(&parsed, q, n);
                dns_answer_warm(cat, &parsed, &st, 1);
                size_t l2 =
                    dns_answer_parsed(cat, &parsed, st, DNS_TRANSPORT_UDP, a2, 3, NULL);
                assert_int_equal(l1, l2);
                assert_memory_equal(a1, a2, l1);
        }
}

static void health_versions_replace_each_other(void **state)
{
        /* Each publish frees the version before it after the grace period
         * (the sanitizer build catches a leak or a use after free). */
        for (int i = 0; i < 100; i++) {
                struct dns_health *h = dns_health_new((uint64_t)i, 32);
                assert_non_null(h);
                assert_int_equal(dns_db_health_publish(&db, h), 0);
                assert_ptr_equal(dns_db_current(&db)->health, h);
        }
        assert_true(dns_health_ok(NULL, 5));
        assert_true(dns_health_ok(dns_db_current(&db)->health, 0));
        assert_true(dns_health_ok(dns_db_current(&db)->health, 1000)); /* unknown */
}

/* dns_answer_explain() with a fresh why for name/A. */
static size_t explain(const char *name, struct dns_route_why *why, uint8_t *out)
{
        uint8_t q[512];
        size_t len = make_query(q, name, DNS_TYPE_A);
        struct dns_query parsed;
        enum dns_parse_status st = dns_query_parse(&parsed, q, len);
        memset(why, 0, sizeof(*why));
        return dns_answer_explain(dns_db_current(&db), &parsed, st, out, why);
}

static void why_follows_aliases_and_names_health_and_fail_open(void **state)
{
        static uint8_t out[DNS_TCP_MAX];
        static struct dns_route_why why;
        const uint32_t pool_down[] = {HC_POOL1, HC_POOL2};
        health(pool_down, 2);
        /* efo: the primary alias's target has nothing healthy, the secondary
         * answers; the target group is not chosen in, so not written down. */
        assert_true(explain("efo.example.com.", &why, out) > 0);
        assert_int_equal(why.ngroups, 1);
        const struct dns_why_group *g = &why.group[0];
        assert_int_equal(g->policy, DNS_WHY_FAILOVER);
        assert_int_equal(g->outcome, DNS_WHY_CHOSEN);
        assert_int_equal(g->count, 2);
        assert_int_equal(why.cand[g->first].health, DNS_WHY_TARGET_UNHEALTHY);
        assert_false(why.cand[g->first].chosen);
        assert_int_equal(why.cand[g->first].value, 1); /* PRIMARY */
        assert_int_equal(why.cand[g->first + 1].health, DNS_WHY_NO_CHECK);
        assert_true(why.cand[g->first + 1].chosen);
        /* nfo: no evaluation, the alias is followed into a pool that fails
         * open: two groups, the second one level down. */
        assert_true(explain("nfo.example.com.", &why, out) > 0);
        assert_int_equal(why.ngroups, 2);
        assert_int_equal(why.group[0].outcome, DNS_WHY_CHOSEN);
        assert_int_equal(why.group[1].depth, 1);
        assert_int_equal(why.group[1].policy, DNS_WHY_WEIGHTED);
        assert_int_equal(why.group[1].outcome, DNS_WHY_FAIL_OPEN);
        assert_int_equal(why.cand[why.group[1].first].health, DNS_WHY_UNHEALTHY);
        assert_true(why.cand[why.group[1].first].value == 0.5);
        /* chain0 needs 12 hops: groups at depths 0..8, then the hop past
         * DNS_ALIAS_DEPTH written down as too deep. */
        health(NULL, 0);
        assert_true(explain("chain0.example.com.", &why, out) > 0);
        assert_int_equal(why.ngroups, DNS_ALIAS_DEPTH + 2);
        assert_int_equal(why.group[DNS_ALIAS_DEPTH].depth, DNS_ALIAS_DEPTH);
        assert_int_equal(why.group[DNS_ALIAS_DEPTH + 1].outcome, DNS_WHY_TOO_DEEP);
        /* A plain name is not routed: nothing written down. */
        assert_true(explain("plain.example.com.", &why, out) > 0);
        assert_int_equal(why.ngroups, 0);
}

static void geo_keys_read_back_as_text(void **state)
{
        static const struct {
                enum dns_geo_level level;
                const char *two, *sub, *text;
        } cases[] = {{DNS_GEO_DEFAULT, "", "", "*"},
                     {DNS_GEO_CONTINENT, "EU", "", "EU"},
                     {DNS_GEO_COUNTRY, "GB", "", "GB"},
                     {DNS_GEO_SUBDIVISION, "GB", "ENG", "GB-ENG"},
                     {DNS_GEO_SUBDIVISION, "FR", "75", "FR-75"},
                     {DNS_GEO_SUBDIVISION, "US", "CA", "US-CA"}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char text[8];
                dns_geo_key_text(dns_geo_key(cases[i].level, cases[i].two, cases[i].sub),
                                 text);
                assert_string_equal(text, cases[i].text);
        }
        char text[8];
        dns_geo_key_text(0, text);
        assert_string_equal(text, "");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(weighted_shares_follow_the_weights),
            cmocka_unit_test(weighted_shares_count_only_healthy_sets),
            cmocka_unit_test(weight_zero_answers_only_when_the_others_are_down),
            cmocka_unit_test(weighted_fails_open_when_nothing_is_healthy),
            cmocka_unit_test(failover_follows_primary_then_secondary),
            cmocka_unit_test(multivalue_answers_up_to_eight_healthy),
            cmocka_unit_test(alias_answers_with_the_target_under_its_own_name),
            cmocka_unit_test(alias_at_the_apex),
            cmocka_unit_test(evaluate_target_health_moves_failover),
            cmocka_unit_test(alias_loops_and_long_chains_are_bounded),
            cmocka_unit_test(weighted_cname_and_routed_additional),
            cmocka_unit_test(batch_path_gives_the_same_bytes),
            cmocka_unit_test(health_versions_replace_each_other),
            cmocka_unit_test(why_follows_aliases_and_names_health_and_fail_open),
            cmocka_unit_test(geo_keys_read_back_as_text),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
