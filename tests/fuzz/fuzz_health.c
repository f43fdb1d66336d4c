/*
 * fuzz_health.c — libFuzzer target for what health/ takes from outside.
 *
 * The first byte picks one of three harnesses:
 *  0  the body string match: a needle and a body (bytes from an endpoint)
 *     fed in chunks of input-chosen sizes; the verdict must equal a plain
 *     memmem over the first 5,120 bytes, however the body is split;
 *  1  a check definition built from the bytes (type, numbers, strings as an
 *     API body would give them): validation must not crash, reports at most
 *     HEALTH_PROBLEMS_MAX problems each with a field, and a valid
 *     definition deep-copies and frees cleanly;
 *  2  votes for the aggregation rule: the tally is consistent (healthy <=
 *     fresh <= votes), the result does not depend on the votes' order, no
 *     fresh vote keeps the last aggregate, and the next expiry is after now.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "health/match.h"
#include "health/rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct reader {
        const uint8_t *p;
        size_t left;
};

static uint8_t take8(struct reader *r)
{
        if (r->left == 0)
                return 0;
        r->left--;
        return *r->p++;
}

static uint32_t take32(struct reader *r)
{
        uint32_t v = 0;
        for (int i = 0; i < 4; i++)
                v = v << 8 | take8(r);
        return v;
}

/* A string of up to max bytes (length first), or NULL; caller frees. */
static char *take_string(struct reader *r, size_t max)
{
        uint8_t n = take8(r);
        if (n == 0xff)
                return NULL;
        size_t len = n % (max + 1);
        if (len > r->left)
                len = r->left;
        char *s = malloc(len + 1);
        memcpy(s, r->p, len);
        s[len] = '\0';
        r->p += len;
        r->left -= len;
        return s;
}

static void fuzz_match(struct reader *r)
{
        size_t nlen = (size_t)take8(r) % HEALTH_SEARCH_MAX + 1;
        if (nlen > r->left)
                return;
        char needle[HEALTH_SEARCH_MAX];
        memcpy(needle, r->p, nlen);
        r->p += nlen;
        r->left -= nlen;
        uint32_t seed = take32(r) | 1;
        const char *body = (const char *)r->p;
        size_t len = r->left;
        /* The body repeats to pass the window when the input is short. */
        size_t total = len ? len * (1 + seed % 4) : 0;
        char *whole = malloc(total + 1);
        for (size_t i = 0; i < total; i++)
                whole[i] = body[i % len];
        struct health_match *m = malloc(sizeof(*m));
        if (health_match_init(m, needle, nlen) != 0)
                abort();
        enum health_match_state st = HEALTH_MATCH_MORE;
        size_t pos = 0;
        while (st == HEALTH_MATCH_MORE && pos < total) {
                seed = seed * 1103515245u + 12345u;
                size_t chunk = 1 + (seed >> 8) % 700;
                if (chunk > total - pos)
                        chunk = total - pos;
                st = health_match_feed(m, whole + pos, chunk);
                pos += chunk;
        }
        size_t window = total < HEALTH_SEARCH_WINDOW ? total : HEALTH_SEARCH_WINDOW;
        bool found = memmem(whole, window, needle, nlen) != NULL;
        if (found != (st == HEALTH_MATCH_FOUND))
                abort();
        if (st == HEALTH_MATCH_NOT_FOUND && total < HEALTH_SEARCH_WINDOW)
                abort();
        free(m);
        free(whole);
}

static void fuzz_config(struct reader *r)
{
        struct health_check_config c;
        health_check_config_init(&c, (enum health_check_type)(take8(r) % 10));
        c.port = (uint16_t)take32(r);
        c.request_interval = take32(r) % 400;
        c.failure_threshold = take8(r) % 12;
        uint8_t flags = take8(r);
        c.inverted = flags & 1;
        c.disabled = flags & 2;
        c.enable_sni = flags & 4;
        c.verify_certificate = flags & 8;
        c.status_min = (uint16_t)(take32(r) % 700);
        c.status_max = (uint16_t)(take32(r) % 700);
        c.health_threshold = take32(r) % 300;
        c.aggregation_percent = take8(r);
        c.vote_freshness = take8(r);
        c.heartbeat_ttl = take32(r) % 100000;
        c.ip_address = take_string(r, 64);
        c.resource_path = take_string(r, 300);
        c.fqdn = take_string(r, 300);
        c.search_string = take_string(r, 300);
        c.child_count = take8(r) % 8;
        if (c.child_count) {
                c.children = malloc(c.child_count * sizeof(*c.children));
                for (size_t i = 0; i < c.child_count; i++)
                        c.children[i] = take8(r) % 6;
        }
        size_t checkers = take8(r) % 5;
        if (checkers) {
                c.checkers = calloc(checkers, sizeof(*c.checkers));
                for (size_t i = 0; i < checkers; i++) {
                        c.checkers[i] = take_string(r, 70);
                        if (!c.checkers[i])
                                c.checkers[i] = strdup("");
                }
                c.checker_count = checkers;
        }
        struct health_problems p;
        size_t n = health_check_validate(&c, 1, &p);
        if (n != p.count || n > HEALTH_PROBLEMS_MAX)
                abort();
        for (size_t i = 0; i < n; i++) {
                if (!p.list[i].field || !p.list[i].message[0])
                        abort();
        }
        if (n == 0) {
                struct health_check_config copy;
                if (health_check_config_copy(&copy, &c) != 0)
                        abort();
                if (health_check_validate(&copy, 1, &p) != 0)
                        abort();
                (void)health_check_probed_by(&copy, "1", "eu-west");
                (void)health_check_port(&copy);
                health_check_config_free(&copy);
        }
        health_check_config_free(&c);
}

static void fuzz_votes(struct reader *r)
{
        struct health_vote v[16], rev[16];
        size_t count = take8(r) % 17;
        uint32_t pct = take8(r) % 100;
        int64_t fresh = (int64_t)(take32(r) % 100000);
        int64_t now = (int64_t)(take32(r) % 1000000);
        bool last = take8(r) & 1;
        for (size_t i = 0; i < count; i++) {
                uint8_t f = take8(r);
                v[i].present = f & 1;
                v[i].healthy = f & 2;
                v[i].time_ms = (int64_t)(take32(r) % 1200000);
        }
        for (size_t i = 0; i < count; i++)
                rev[i] = v[count - 1 - i];
        struct health_tally a, b;
        bool x = health_rule_aggregate(v, count, pct, fresh, now, last, &a);
        bool y = health_rule_aggregate(rev, count, pct, fresh, now, last, &b);
        if (x != y || a.fresh != b.fresh || a.healthy != b.healthy)
                abort();
        if (a.healthy > a.fresh || a.fresh > count || a.decided != (a.fresh > 0))
                abort();
        if (!a.decided && x != last)
                abort();
        if (a.decided && x != ((uint64_t)a.healthy * 100 > (uint64_t)pct * a.fresh))
                abort();
        int64_t next = health_rule_next_expiry(v, count, fresh, now);
        if (next <= now)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct reader r = {data, size};
        switch (take8(&r) % 3) {
        case 0:
                fuzz_match(&r);
                break;
        case 1:
                fuzz_config(&r);
                break;
        default:
                fuzz_votes(&r);
                break;
        }
        return 0;
}
