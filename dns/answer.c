/*
 * answer.c — building authoritative answers (see answer.h).
 *
 * The stages follow the RFC's algorithm, as NSD's query.c and Knot's
 * internet.c do: find the zone; walk the name (answer_found,
 * answer_delegation, answer_nxdomain), following CNAMEs that stay inside the
 * zone; then fill the authority section (SOA for negative answers, NS for
 * referrals) and the additional section (addresses of in-zone targets).
 * Every owner name in the response is a compression pointer to a name
 * already in the message, so the question's case is preserved.  Names
 * flagged DNS_NODE_POLICY hold routed sets or aliases: their sets are
 * chosen by dns/route.h (put_routed); every other name takes the plain path,
 * which that one flag test leaves as it was.
 */
#include "dns/answer.h"

#include <string.h>

#include "dns/route.h"
#include "dns/wire.h"

struct answer {
        const struct dns_catalog *cat;
        const struct dns_query *q;
        const struct dns_zone *zone;
        struct dns_writer w;
        enum dns_transport transport;
        unsigned rotation;
        uint16_t flags; /* AA */
        unsigned rcode;
        uint8_t scope;             /* ECS scope the routing decisions depended on */
        struct dns_route_why *why; /* dns_answer_explain's; NULL on the query path */
};

/* Offset in the response of label `label` of the name written at `off`. */
static uint16_t label_off(struct answer *a, uint16_t off, const struct dns_lname *name,
                          unsigned label)
{
        uint16_t labels[DNS_NAME_MAXLABELS];
        unsigned n = dns_writer_labels(&a->w, off, labels);
        if (label < n && n == name->nlabels)
                return labels[label];
        return 0xffff; /* root, or beyond pointer range: write it literally */
}

static void put_soa(struct answer *a, uint16_t name_off, const struct dns_lname *name)
{
        const struct dns_zone *zone = a->zone;
        const struct dns_rrset_info *soa =
            dns_rrsets_find(zone->apex->rrsets, DNS_TYPE_SOA);
        if (soa == NULL)
                return;
        const uint8_t *rr = dns_rrset_next(zone->apex->rrsets, soa, NULL);
        const uint8_t *rdata = dns_rr_rdata(rr);
        uint16_t rdlen = dns_rr_rdlen(rr);
        uint32_t minimum = rdlen >= 4 ? wire_get32(rdata + rdlen - 4) : 0;
        a->w.ttl_cap = soa->ttl < minimum ? soa->ttl : minimum; /* RFC 2308 §3 */
        uint16_t owner = label_off(a, name_off, name, dns_zone_apex_label(zone, name));
        dns_writer_rrset(&a->w, DNS_SECTION_AUTHORITY, owner, zone->origin,
                         zone->apex->rrsets, soa, 0);
        a->w.ttl_cap = -1;
}

/* The sets routing chooses for `type` at a routed name, written under the
 * name at `owner`; returns how many sets were chosen. */
static unsigned put_routed(struct answer *a, enum dns_section section, uint16_t owner,
                           const uint8_t *owner_wire, const struct dns_rrsets *sets,
                           uint16_t type)
{
        struct dns_pick picks[DNS_PICK_MAX];
        unsigned n = dns_route_select_why(a->cat, sets, type, &a->q->loc, &a->scope,
                                          picks, a->why);
        for (unsigned i = 0; i < n; i++) {
                unsigned start =
                    picks[i].start == DNS_PICK_ROTATE ? a->rotation : picks[i].start;
                if (dns_writer_rrset(&a->w, section, owner, owner_wire, picks[i].sets,
                                     picks[i].info, start) != 0)
                        break;
        }
        return n;
}

static bool additional_target(const struct dns_target *target)
{
        return target->type == DNS_TYPE_NS || target->type == DNS_TYPE_MX ||
               target->type == DNS_TYPE_SRV;
}

/* Was the target's name one of the earlier targets' (whose addresses are
 * then in already)?  Two SRV records for two ports of one host are common. */
static bool additional_seen(const struct answer *a, unsigned t)
{
        const uint8_t *name = a->w.target[t].name;
        for (unsigned u = 0; u < t; u++)
                if (additional_target(&a->w.target[u]) &&
                    dns_name_equal(a->w.target[u].name, name))
                        return true;
        return false;
}

/*
 * The additional section: A and AAAA of the in-zone targets of the NS, MX
 * and SRV records written in the answer and authority sections, once per
 * name (RFC 2181 §5: no record twice).  It runs once, after both, so every
 * section stays in its place in the message.
 */
static void put_additional(struct answer *a)
{
        unsigned last = a->w.ntarget;
        for (unsigned t = 0; t < last; t++) {
                const struct dns_target *target = &a->w.target[t];
                if (!additional_target(target))
                        continue;
                if (!dns_name_in_zone(target->name, a->zone->origin) ||
                    additional_seen(a, t))
                        continue;
                const struct dns_node *node = dns_zone_find_wire(a->zone, target->name);
                if (node == NULL || node->rrsets == NULL)
                        continue;
                static const uint16_t types[] = {DNS_TYPE_A, DNS_TYPE_AAAA};
                if (node->flags & DNS_NODE_POLICY) {
                        for (unsigned k = 0; k < 2; k++)
                                put_routed(a, DNS_SECTION_ADDITIONAL, target->off,
                                           target->name, node->rrsets, types[k]);
                        continue;
                }
                for (unsigned k = 0; k < 2; k++) {
                        const struct dns_rrset_info *info =
                            dns_rrsets_find(node->rrsets, types[k]);
                        if (info != NULL)
                                dns_writer_rrset(&a->w, DNS_SECTION_ADDITIONAL,
                                                 target->off, target->name, node->rrsets,
                                                 info, a->rotation);
                }
        }
}

static void put_answer_set(struct answer *a, uint16_t owner, const struct dns_node *node,
                           const struct dns_rrset_info *info)
{
        dns_writer_rrset(&a->w, DNS_SECTION_ANSWER, owner, NULL, node->rrsets, info,
                         a->rotation);
}

static void put_referral(struct answer *a, const struct dns_node *cut, uint16_t owner,
                         const uint8_t *owner_wire)
{
        const struct dns_rrset_info *ns = dns_rrsets_find(cut->rrsets, DNS_TYPE_NS);
        dns_writer_rrset(&a->w, DNS_SECTION_AUTHORITY, owner, owner_wire, cut->rrsets, ns,
                         a->rotation);
}

/* Data at a routed name: each type's sets as its policy chooses. */
static void answer_routed(struct answer *a, const struct dns_node *node, uint16_t owner,
                          uint16_t name_off, const struct dns_lname *name)
{
        uint16_t qtype = a->q->qtype;
        const struct dns_rrsets *sets = node->rrsets;
        if (qtype == DNS_TYPE_ANY) {
                for (unsigned i = 0; i < sets->count; i++) {
                        if (i > 0 && sets->set[i].type == sets->set[i - 1].type)
                                continue;
                        unsigned n = put_routed(a, DNS_SECTION_ANSWER, owner, NULL, sets,
                                                sets->set[i].type);
                        if (n > 0 && a->transport != DNS_TRANSPORT_TCP)
                                return; /* RFC 8482, as below */
                }
                return;
        }
        if (put_routed(a, DNS_SECTION_ANSWER, owner, NULL, sets, qtype) == 0)
                put_soa(a, name_off, name); /* NODATA, or an alias leading nowhere */
}

/* Data at a name that exists (or a wildcard standing for it). */
static void answer_node(struct answer *a, const struct dns_node *node, uint16_t owner,
                        uint16_t name_off, const struct dns_lname *name)
{
        uint16_t qtype = a->q->qtype;
        const struct dns_rrsets *sets = node->rrsets;
        if (node->flags & DNS_NODE_POLICY) {
                answer_routed(a, node, owner, name_off, name);
                return;
        }
        if (qtype == DNS_TYPE_ANY && sets != NULL) {
                /* RFC 8482: over UDP one record set (or HINFO) is enough;
                 * TCP gets all. */
                if (a->transport == DNS_TRANSPORT_UDP && a->q->any_hinfo) {
                        dns_writer_hinfo(&a->w, owner);
                        return;
                }
                unsigned n = a->transport == DNS_TRANSPORT_TCP ? sets->count : 1;
                for (unsigned i = 0; i < n; i++)
                        put_answer_set(a, owner, node, &sets->set[i]);
                return;
        }
        const struct dns_rrset_info *info = dns_rrsets_find(sets, qtype);
        if (info != NULL) {
                put_answer_set(a, owner, node, info);
                return;
        }
        put_soa(a, name_off, name); /* NODATA */
}

static void answer_query(struct answer *a)
{
        const struct dns_query *q = a->q;
        struct dns_lname chased[2];
        uint64_t visited[DNS_CNAME_CHAIN_MAX];
        const struct dns_lname *name = &q->qname;
        uint16_t name_off = DNS_HEADER_SIZE;
        bool is_ds = q->qtype == DNS_TYPE_DS;
        a->flags = DNS_FLAG_AA;
        for (unsigned hop = 0;; hop++) {
                struct dns_lookup l;
                if (hop == 0 && q->found != NULL)
                        l = (struct dns_lookup){.result = DNS_LOOKUP_FOUND,
                                                .node = q->found}; /* warmed */
                else if (hop == 0 && q->walked != NULL && q->wild_known)
                        l = (struct dns_lookup){
                            .result = q->wild ? DNS_LOOKUP_WILDCARD : DNS_LOOKUP_NXDOMAIN,
                            .node = q->wild ? q->wild : q->walked,
                            .label = q->walked_left};   /* missing, warmed too */
                else if (hop == 0 && q->walked != NULL) /* from where it stopped */
                        dns_zone_lookup_from(a->zone, name, is_ds, q->walked,
                                             q->walked_left, &l);
                else
                        dns_zone_lookup(a->zone, name, is_ds, &l);
                switch (l.result) {
                case DNS_LOOKUP_DELEGATION: {
                        if (hop == 0)
                                a->flags = 0;
                        put_referral(a, l.node, label_off(a, name_off, name, l.label),
                                     &name->wire[name->off[l.label]]);
                        return;
                }
                case DNS_LOOKUP_NXDOMAIN:
                        a->rcode = DNS_RCODE_NXDOMAIN;
                        put_soa(a, name_off, name);
                        return;
                case DNS_LOOKUP_FOUND:
                case DNS_LOOKUP_WILDCARD:
                        break;
                }
                const struct dns_node *node = l.node;
                if (!(node->flags & DNS_NODE_CNAME) || q->qtype == DNS_TYPE_CNAME ||
                    q->qtype == DNS_TYPE_ANY) {
                        answer_node(a, node, name_off, name_off, name);
                        return;
                }
                const struct dns_rrsets *csets = node->rrsets;
                const struct dns_rrset_info *cname =
                    dns_rrsets_find(csets, DNS_TYPE_CNAME);
                struct dns_pick pick[DNS_PICK_MAX]; /* cname may point into it */
                if (node->flags & DNS_NODE_POLICY) {
                        if (dns_route_select_why(a->cat, csets, DNS_TYPE_CNAME,
                                                 &a->q->loc, &a->scope, pick,
                                                 a->why) == 0) {
                                put_soa(a, name_off, name);
                                return;
                        }
                        csets = pick[0].sets;
                        cname = pick[0].info;
                }
                unsigned first = a->w.ntarget;
                if (dns_writer_rrset(&a->w, DNS_SECTION_ANSWER, name_off, NULL, csets,
                                     cname, 0) != 0 ||
                    a->w.ntarget == first)
                        return;
                const struct dns_target *target = &a->w.target[first];
                a->w.ntarget = first; /* not an additional-section target */
                if (hop + 1 >= DNS_CNAME_CHAIN_MAX ||
                    !dns_name_in_zone(target->name, a->zone->origin))
                        return;
                struct dns_lname *next = &chased[hop & 1];
                if (dns_lname_from_wire(next, target->name, DNS_NAME_MAXLEN + 1) < 0)
                        return;
                visited[hop] = name->hash[0];
                for (unsigned i = 0; i <= hop; i++)
                        if (visited[i] == next->hash[0])
                                return; /* a loop: every link is in the answer */
                name = next;
                name_off = target->off;
        }
}

static bool zone_apex_is(const struct dns_zone *zone, const struct dns_lname *name)
{
        return zone->origin_labels == name->nlabels;
}

/* Parent side of a cut answers DS at the child's apex (RFC 4035 §3.1.4.1).
 * `hint`: see dns_catalog_find_hinted(). */
static const struct dns_zone *zone_for(const struct dns_catalog *cat,
                                       const struct dns_query *q,
                                       const struct dns_zone *hint)
{
        const struct dns_zone *zone = dns_catalog_find_hinted(cat, &q->qname, hint);
        if (zone != NULL && q->qtype == DNS_TYPE_DS && zone_apex_is(zone, &q->qname) &&
            q->qname.nlabels > 0) {
                struct dns_lname parent;
                const uint8_t *wire = &q->qname.wire[q->qname.off[1]];
                if (dns_lname_from_wire(&parent, wire, DNS_NAME_MAXLEN + 1) >= 0) {
                        const struct dns_zone *up = dns_catalog_find(cat, &parent);
                        if (up != NULL)
                                return up;
                }
        }
        return zone;
}

static unsigned udp_limit(const struct dns_query *q)
{
        if (!q->edns)
                return DNS_UDP_MAX_NOEDNS;
        return q->edns_payload < DNS_EDNS_OUR_PAYLOAD ? q->edns_payload
                                                      : DNS_EDNS_OUR_PAYLOAD;
}

#define WARM_GROUP 64 /* lookups advanced side by side */

/* The routed names among queries [from, to) (their lookups done): what
 * routing will read about each client, prefetched side by side. */
static void warm_routes(const struct dns_catalog *catalog, struct dns_query *queries,
                        const enum dns_parse_status *status, unsigned from, unsigned to)
{
        struct dns_route_warm warm[WARM_GROUP];
        const struct dns_query *routed[WARM_GROUP];
        unsigned nrouted = 0, active = 0;
        for (unsigned i = from; i < to; i++) {
                const struct dns_query *q = &queries[i];
                if (status[i] != DNS_PARSE_OK || q->found == NULL ||
                    !(q->found->flags & DNS_NODE_POLICY))
                        continue;
                dns_route_warm_sets(q->found->rrsets); /* the sets routing reads */
                routed[nrouted++] = q;
        }
        for (unsigned i = 0; i < nrouted; i++) {
                const struct dns_query *q = routed[i];
                if (dns_route_warm_begin(&warm[active], catalog, q->found->rrsets,
                                         q->qtype, &q->loc))
                        active++;
        }
        while (active > 0) {
                unsigned kept = 0;
                for (unsigned i = 0; i < active; i++)
                        if (dns_route_warm_step(&warm[i]))
                                warm[kept++] = warm[i];
                active = kept;
        }
}

/* What a query's warm-up walk found, and where it stopped. */
static inline void walk_end(struct dns_query *q, const struct dns_zone_warm *warm)
{
        unsigned left;
        q->found = dns_zone_warm_found(warm);
        q->walked = dns_zone_warm_stop(warm, &left);
        q->walked_left = (uint8_t)left;
        q->wild_known = dns_zone_warm_wild(warm, &q->wild);
}

void dns_answer_warm(const struct dns_catalog *catalog, struct dns_query *queries,
                     const enum dns_parse_status *status, unsigned n)
{
        struct dns_zone_warm warm[WARM_GROUP];
        struct dns_query *owner[WARM_GROUP]; /* the query of each walk */
        /* The walks still going, by slot: a walk stays in its slot, since
         * moving one would load the fields its step has just stored (a load
         * spanning stores still in flight waits for them). */
        uint8_t live[WARM_GROUP];
        const struct dns_zone *last = NULL; /* the zone of the query before */
        for (unsigned base = 0; base < n; base += WARM_GROUP) {
                unsigned active = 0;
                for (unsigned i = base; i < n && i < base + WARM_GROUP; i++) {
                        struct dns_query *q = &queries[i];
                        if (status[i] != DNS_PARSE_OK || q->qclass != DNS_CLASS_IN)
                                continue;
                        const struct dns_zone *zone = zone_for(catalog, q, last);
                        q->zone = zone;
                        q->zone_known = true;
                        if (zone == NULL)
                                continue;
                        last = zone;
                        if (dns_zone_warm_begin(&warm[active], zone, &q->qname)) {
                                owner[active] = q;
                                live[active] = (uint8_t)active;
                                active++;
                        } else {
                                walk_end(q, &warm[active]);
                        }
                }
                /* Each round takes one hop of every lookup still going. */
                while (active > 0) {
                        unsigned kept = 0;
                        for (unsigned k = 0; k < active; k++) {
                                unsigned s = live[k];
                                if (dns_zone_warm_step(&warm[s]))
                                        live[kept++] = (uint8_t)s;
                                else
                                        walk_end(owner[s], &warm[s]);
                        }
                        active = kept;
                }
                warm_routes(catalog, queries, status, base,
                            n < base + WARM_GROUP ? n : base + WARM_GROUP);
        }
}

size_t dns_answer(const struct dns_catalog *catalog, const uint8_t *wire, size_t size,
                  enum dns_transport transport, uint8_t *out, unsigned rotation,
                  struct dns_answer_stats *stats)
{
        struct dns_query q;
        enum dns_parse_status st = dns_query_parse(&q, wire, size);
        return dns_answer_parsed(catalog, &q, st, transport, out, rotation, stats);
}

static size_t answer_run(const struct dns_catalog *catalog, struct dns_query *q,
                         enum dns_parse_status st, enum dns_transport transport,
                         uint8_t *out, unsigned rotation, struct dns_answer_stats *stats,
                         struct dns_route_why *why)
{
        /* Field by field: an initializer would clear the writer's tables
         * too (hundreds of bytes per query); dns_writer_start() sets what
         * the writer reads. */
        struct answer a;
        a.cat = catalog;
        a.q = q;
        a.zone = NULL;
        a.transport = transport;
        a.rotation = rotation;
        a.flags = 0;
        a.rcode = DNS_RCODE_NOERROR;
        a.scope = 0;
        a.why = why;
        if (stats != NULL)
                stats->queries++;
        if (st == DNS_PARSE_DROP) {
                if (stats != NULL)
                        stats->dropped++;
                return 0;
        }
        size_t limit = transport == DNS_TRANSPORT_TCP ? DNS_TCP_MAX : udp_limit(q);
        if (st == DNS_PARSE_FORMERR || st == DNS_PARSE_NOTIMP)
                q->edns = false; /* do not trust an OPT we could not parse */
        dns_writer_start(&a.w, q, out, limit);
        switch (st) {
        case DNS_PARSE_FORMERR:
                a.rcode = DNS_RCODE_FORMERR;
                break;
        case DNS_PARSE_NOTIMP:
                a.rcode = DNS_RCODE_NOTIMP;
                break;
        case DNS_PARSE_BADVERS:
                a.rcode = DNS_RCODE_BADVERS;
                break;
        case DNS_PARSE_NOQUESTION: /* RFC 7873 §5.4 */
                a.rcode = q->cookie_reply_len ? DNS_RCODE_NOERROR : DNS_RCODE_FORMERR;
                break;
        case DNS_PARSE_BADCOOKIE:
                a.rcode = DNS_RCODE_BADCOOKIE;
                break;
        default:
                if (q->qclass != DNS_CLASS_IN) {
                        a.rcode = DNS_RCODE_REFUSED;
                        break;
                }
                switch (q->qtype) {
                case DNS_TYPE_OPT:
                case DNS_TYPE_TSIG:
                case DNS_TYPE_TKEY:
                        a.rcode = DNS_RCODE_FORMERR;
                        goto done;
                case DNS_TYPE_MAILA:
                case DNS_TYPE_MAILB:
                        a.rcode = DNS_RCODE_NOTIMP;
                        goto done;
                case DNS_TYPE_AXFR:
                case DNS_TYPE_IXFR:
                        a.rcode = DNS_RCODE_REFUSED; /* transfers are not allowed */
                        goto done;
                }
                a.zone = q->zone_known ? q->zone : zone_for(catalog, q, NULL);
                q->zone = a.zone; /* for the server's per-zone counts */
                q->zone_known = true;
                if (a.zone == NULL) {
                        a.rcode = DNS_RCODE_REFUSED;
                        break;
                }
                answer_query(&a);
                put_additional(&a);
        }
done:
        if (stats != NULL) {
                stats->rcode[a.rcode & 0xf]++;
                if (a.w.truncated)
                        stats->truncated++;
        }
        q->ecs_scope = a.scope;
        return dns_writer_finish(&a.w, q, a.flags, a.rcode);
}

size_t dns_answer_parsed(const struct dns_catalog *catalog, struct dns_query *q,
                         enum dns_parse_status st, enum dns_transport transport,
                         uint8_t *out, unsigned rotation, struct dns_answer_stats *stats)
{
        return answer_run(catalog, q, st, transport, out, rotation, stats, NULL);
}

size_t dns_answer_explain(const struct dns_catalog *catalog, struct dns_query *q,
                          enum dns_parse_status status, uint8_t *out,
                          struct dns_route_why *why)
{
        return answer_run(catalog, q, status, DNS_TRANSPORT_TCP, out, 0, NULL, why);
}
