/*
 * zorder.c — skip list of the zones in name order (see zorder.h).
 *
 * Level i links every zone whose link has more than i levels, in order;
 * a search goes right on the top level while the next name sorts before
 * the key, then down, and so on (O(log n) expected comparisons).  Names are
 * compared as text (cs_name_text, lowercased origins), which is the order
 * the API has always listed zones in; one of the two texts of a comparison
 * is the key, converted once per search.
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

void cs_zlink_init(struct cs_zlink *link, const struct cs_zone *zone)
{
        link->zone = zone;
        link->levels = (uint8_t)levels_of(zone->hash);
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

int cs_zorder_cmp(const struct cs_zlink *a, const struct cs_zlink *b)
{
        char ta[TEXT_MAX], tb[TEXT_MAX];
        return strcmp(text_of(a, ta), text_of(b, tb));
}

/* Fills prev[i] with the pointer (a head entry or a link's next[i]) after
 * which key belongs on level i: past every name that sorts before key, and
 * past an equal name too when `after`. */
static void search(struct cs_zorder *o, const char *key, int after,
                   struct cs_zlink **prev[CS_ZORDER_LEVELS])
{
        char buf[TEXT_MAX];
        struct cs_zlink *cur = NULL; /* NULL: the head */
        for (int i = CS_ZORDER_LEVELS - 1; i >= 0; i--) {
                /* cur was reached on a level >= i, so it has a next[i]. */
                struct cs_zlink **at = cur ? &cur->next[i] : &o->head[i];
                while (*at != NULL) {
                        int c = strcmp(text_of(*at, buf), key);
                        if (c > 0 || (c == 0 && !after))
                                break;
                        cur = *at;
                        at = &cur->next[i];
                }
                prev[i] = at;
        }
}

void cs_zorder_insert(struct cs_zorder *o, struct cs_zlink *link)
{
        char key[TEXT_MAX];
        struct cs_zlink **prev[CS_ZORDER_LEVELS];
        search(o, text_of(link, key), 0, prev);
        for (unsigned i = 0; i < link->levels; i++) {
                link->next[i] = *prev[i];
                *prev[i] = link;
        }
        o->count++;
}

void cs_zorder_remove(struct cs_zorder *o, struct cs_zlink *link)
{
        char key[TEXT_MAX];
        struct cs_zlink **prev[CS_ZORDER_LEVELS];
        search(o, text_of(link, key), 0, prev);
        for (unsigned i = 0; i < link->levels; i++)
                if (*prev[i] == link)
                        *prev[i] = link->next[i];
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
        search((struct cs_zorder *)o, key, 1, prev);
        return *prev[0];
}
