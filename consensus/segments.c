/*
 * segments.c — the table of a snapshot's compressed zone segments (see
 * segments.h): the search by name, the marks, and the hand-over from the
 * table a view read to the one it built.
 */
#include "consensus/segments.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t cs_segments_find(const struct cs_segments *t, const struct cs_zlink *link)
{
        /* The last segment whose key sorts at or before the name; the
         * first one's key is NULL (from the first name on). */
        size_t lo = 1, hi = t->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (cs_zorder_cmp_key(link, t->v[mid].key) >= 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo - 1;
}

size_t cs_segments_mark(struct cs_segments *t, const struct cs_zlink *link, uint32_t gen)
{
        if (t == NULL || t->n == 0)
                return 0;
        size_t i = cs_segments_find(t, link);
        struct cs_segment *s = &t->v[i];
        if (s->since == 0 || s->since > gen)
                s->since = gen;
        if (gen > s->last)
                s->last = gen;
        return i;
}

struct cs_segments *cs_segments_unpacked(void)
{
        struct cs_segments *t = calloc(1, sizeof(*t));
        struct cs_segment all = {0};
        if (t != NULL && cs_segments_push(t, &all) != 0) {
                free(t);
                return NULL;
        }
        return t;
}

int cs_segments_push(struct cs_segments *t, const struct cs_segment *s)
{
        if (t->n == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 64;
                struct cs_segment *v = realloc(t->v, cap * sizeof(*v));
                if (v == NULL)
                        return -ENOMEM;
                t->v = v;
                t->cap = cap;
        }
        struct cs_segment *d = &t->v[t->n];
        *d = *s;
        if (s->key != NULL && (d->key = strdup(s->key)) == NULL)
                return -ENOMEM;
        t->n++;
        return 0;
}

void cs_segments_install(struct cs_segments **old, struct cs_segments *fresh)
{
        struct cs_segments *o = *old;
        fresh->bytes = sizeof(*fresh) + fresh->cap * sizeof(*fresh->v);
        for (size_t i = 0; i < fresh->n; i++) {
                struct cs_segment *s = &fresh->v[i];
                fresh->bytes += s->len + (s->key != NULL ? strlen(s->key) + 1 : 0);
                uint32_t last = 0;
                for (size_t k = s->from_lo; o != NULL && k <= s->from_hi && k < o->n;
                     k++) {
                        if (o->v[k].last > last)
                                last = o->v[k].last;
                }
                if (s->reused && o != NULL && s->from_lo < o->n)
                        o->v[s->from_lo].blocks = NULL; /* now the new one's */
                /* Changed after the freeze of the view that built it: not
                 * in its blocks, so changed for the next view. */
                s->since = last >= fresh->gen ? fresh->gen : 0;
                s->last = last;
                s->reused = false;
                s->from_lo = s->from_hi = 0;
        }
        cs_segments_free(o);
        *old = fresh;
}

void cs_segments_free(struct cs_segments *t)
{
        if (t == NULL)
                return;
        for (size_t i = 0; i < t->n; i++) {
                free(t->v[i].key);
                if (!t->v[i].reused)
                        free(t->v[i].blocks);
        }
        free(t->v);
        free(t);
}
