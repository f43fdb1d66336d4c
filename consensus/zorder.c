/*
 * zorder.c — skip list of the zones in name order (see zorder.h).
 *
 * Level i links every zone whose link has more than i levels, in order;
 * a search goes right on the top level while the next name sorts before
 * the key, then down, and so on (O(log n) expected comparisons).  Names are
 * compared as text (cs_name_text, lowercased origins), which is the order
 * the API has always listed zones in; one of the two texts of a comparison
 * is the key, converted once per search.  Each link keeps the first
 * characters of its zone's text (CS_ZLINK_PREFIX, in what was padding), so
 * that a step of a search reads the link it goes to and, mostly, not the
 * zone's name as well: at 1,000,000 zones each of its ~20 steps is a cache
 * miss or two (zone creations applied 4.66-4.72 -> 4.42-4.44 µs,
 * tools/bench/state_apply 1000000 20000 on jemalloc).
 */
#include "consensus/zorder.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/state.h"
#include "consensus/wire.h"

#define TEXT_MAX 1024

static unsigned levels_of(uint64_t hash)
{
        /* One more level with probability 1/4, from hash bits the hash
         * tables do not use for their slots. */
        uint64_t h = hash >> 24;
        unsigned levels = 1;
        while (levels < CS_ZORDER_LEVELS && (h & 3) == 0) {
                levels++;
                h >>= 2;
        }
        return levels;
}

size_t cs_zlink_size(uint64_t hash)
{
        return sizeof(struct cs_zlink) + levels_of(hash) * sizeof(struct cs_zlink *);
}

static void prefix_of(const struct cs_zone *zone, unsigned char out[CS_ZLINK_PREFIX]);

/* The prefix fills what would be padding: a link is no larger for it. */
_Static_assert(offsetof(struct cs_zlink, next) == 2 * sizeof(void *),
               "a link's prefix fits beside its level count");

void cs_zlink_init(struct cs_zlink *link, const struct cs_zone *zone)
{
        link->zone = zone;
        link->levels = (uint8_t)levels_of(zone->hash);
        prefix_of(zone, link->prefix);
        for (unsigned i = 0; i < link->levels; i++)
                link->next[i] = NULL;
}

void cs_zorder_init(struct cs_zorder *o)
{
        memset(o, 0, sizeof(*o));
}

static const char *text_of(const struct cs_zlink *link, char *buf)
{
        return cs_name_text(link->zone->origin, link->zone->origin_len, buf, TEXT_MAX);
}

/*
 * A wire name's text (common_dname_text's: specials as \c, other bytes
 * outside 0x21-0x7e as \DDD, a dot after each label, "." for the root)
 * produced a character at a time, so that comparing a zone with a key
 * reads only up to the first difference and writes no buffer: a search
 * compares O(log n) zones, and converting each whole name to text was
 * most of the cost of a zone's insertion (creation, snapshot restore).
 */
struct text_stream {
        const uint8_t *p;
        unsigned left; /* bytes left in the current label */
        bool started, dotted;
        char pend[4]; /* the rest of an escape */
        unsigned npend, ipend;
};

static void stream_init(struct text_stream *s, const uint8_t *wire)
{
        memset(s, 0, sizeof(*s));
        s->p = wire;
}

/* The next character, or 0 at the end. */
static int stream_next(struct text_stream *s)
{
        if (s->ipend < s->npend)
                return (unsigned char)s->pend[s->ipend++];
        for (;;) {
                if (s->left > 0) {
                        uint8_t c = *s->p++;
                        s->left--;
                        if (c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' ||
                            c == ';' || c == '@' || c == '$') {
                                s->pend[0] = (char)c;
                                s->npend = 1;
                                s->ipend = 0;
                                return '\\';
                        }
                        if (c <= 0x20 || c >= 0x7f) {
                                s->pend[0] = (char)('0' + c / 100);
                                s->pend[1] = (char)('0' + c / 10 % 10);
                                s->pend[2] = (char)('0' + c % 10);
                                s->npend = 3;
                                s->ipend = 0;
                                return '\\';
                        }
                        return c;
                }
                if (!s->started && *s->p == 0) { /* the root: "." */
                        s->started = s->dotted = true;
                        return '.';
                }
                if (s->started && !s->dotted) {
                        s->dotted = true;
                        return '.';
                }
                if (*s->p == 0)
                        return 0;
                s->left = *s->p++;
                s->started = true;
                s->dotted = false;
        }
}

/* strcmp(text of link's zone, key) without writing the text. */
static int cmp_text(const struct cs_zlink *link, const char *key)
{
        struct text_stream s;
        stream_init(&s, link->zone->origin);
        for (const unsigned char *k = (const unsigned char *)key;; k++) {
                int c = stream_next(&s);
                if (c != *k)
                        return c < *k ? -1 : 1;
                if (c == 0)
                        return 0;
        }
}

/* The first CS_ZLINK_PREFIX characters of the zone's text, zero-padded. */
static void prefix_of(const struct cs_zone *zone, unsigned char out[CS_ZLINK_PREFIX])
{
        struct text_stream s;
        stream_init(&s, zone->origin);
        unsigned i = 0;
        for (int c; i < CS_ZLINK_PREFIX && (c = stream_next(&s)) != 0; i++)
                out[i] = (unsigned char)c;
        memset(out + i, 0, CS_ZLINK_PREFIX - i);
}

/* The same of a key (text), which may be shorter. */
static void key_prefix(const char *key, unsigned char out[CS_ZLINK_PREFIX])
{
        size_t n = strnlen(key, CS_ZLINK_PREFIX);
        memcpy(out, key, n);
        memset(out + n, 0, CS_ZLINK_PREFIX - n);
}

/* cmp_text, decided by the prefixes where they differ: zero-padded, they
 * compare as the texts' first characters do (a text that ends sorts
 * first, as its terminating 0 does in strcmp). */
static int cmp_prefixed(const struct cs_zlink *link, const char *key,
                        const unsigned char kp[CS_ZLINK_PREFIX])
{
        int c = memcmp(link->prefix, kp, CS_ZLINK_PREFIX);
        return c != 0 ? c : cmp_text(link, key);
}

int cs_zorder_cmp_key(const struct cs_zlink *link, const char *key)
{
        return cmp_text(link, key);
}

int cs_zorder_cmp(const struct cs_zlink *a, const struct cs_zlink *b)
{
        char tb[TEXT_MAX];
        return cmp_text(a, text_of(b, tb));
}

/* Fills prev[i] with the pointer (a head entry or a link's next[i]) after
 * which key belongs on level i: past every name that sorts before key, and
 * past an equal name too when `after`; last[i] (may be NULL) with the link
 * that pointer is in (NULL: the head). */
static void search(struct cs_zorder *o, const char *key, int after,
                   struct cs_zlink **prev[CS_ZORDER_LEVELS],
                   struct cs_zlink *last[CS_ZORDER_LEVELS])
{
        struct cs_zlink *cur = NULL; /* NULL: the head */
        unsigned char kp[CS_ZLINK_PREFIX];
        key_prefix(key, kp);
        for (int i = CS_ZORDER_LEVELS - 1; i >= 0; i--) {
                /* cur was reached on a level >= i, so it has a next[i]. */
                struct cs_zlink **at = cur ? &cur->next[i] : &o->head[i];
                while (*at != NULL) {
                        int c = cmp_prefixed(*at, key, kp);
                        if (c > 0 || (c == 0 && !after))
                                break;
                        cur = *at;
                        at = &cur->next[i];
                }
                prev[i] = at;
                if (last != NULL)
                        last[i] = cur;
        }
}

void cs_zorder_insert(struct cs_zorder *o, struct cs_zlink *link)
{
        char key[TEXT_MAX];
        struct cs_zlink **prev[CS_ZORDER_LEVELS];
        text_of(link, key);
        if (o->tail[0] != NULL && cmp_text(o->tail[0], key) < 0) {
                /* After every zone (a snapshot's restore): the tails. */
                for (unsigned i = 0; i < link->levels; i++)
                        prev[i] = o->tail[i] ? &o->tail[i]->next[i] : &o->head[i];
        } else {
                search(o, key, 0, prev, NULL);
        }
        for (unsigned i = 0; i < link->levels; i++) {
                link->next[i] = *prev[i];
                *prev[i] = link;
                if (link->next[i] == NULL)
                        o->tail[i] = link;
        }
        o->count++;
}

void cs_zorder_remove(struct cs_zorder *o, struct cs_zlink *link)
{
        char key[TEXT_MAX];
        struct cs_zlink **prev[CS_ZORDER_LEVELS], *last[CS_ZORDER_LEVELS];
        search(o, text_of(link, key), 0, prev, last);
        for (unsigned i = 0; i < link->levels; i++) {
                if (*prev[i] != link)
                        continue;
                *prev[i] = link->next[i];
                if (o->tail[i] == link)
                        o->tail[i] = last[i];
        }
        o->count--;
}

const struct cs_zlink *cs_zorder_after(const struct cs_zorder *o, const char *marker)
{
        if (marker == NULL || marker[0] == 0)
                return o->head[0];
        char key[TEXT_MAX];
        size_t n = strlen(marker);
        if (n >= sizeof(key))
                n = sizeof(key) - 1;
        for (size_t i = 0; i < n; i++)
                key[i] = (char)tolower((unsigned char)marker[i]);
        key[n] = 0;
        struct cs_zlink **prev[CS_ZORDER_LEVELS];
        search((struct cs_zorder *)o, key, 1, prev, NULL);
        return *prev[0];
}

const struct cs_zlink *cs_zorder_from(const struct cs_zorder *o, const char *key)
{
        struct cs_zlink **prev[CS_ZORDER_LEVELS];
        search((struct cs_zorder *)o, key, 0, prev, NULL);
        return *prev[0];
}
