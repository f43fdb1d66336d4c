/*
 * answer.h — the authoritative answer to one query.
 *
 * dns_answer() turns a parsed query into a response, reading only the
 * published catalog it is given: zone by longest suffix, then the lookup of
 * RFC 1034 §4.3.2 with wildcards (RFC 4592), CNAME chains inside the zone,
 * referrals at zone cuts, negative answers with the SOA (RFC 2308), the
 * additional section for NS, MX and SRV targets, minimal ANY (RFC 8482),
 * EDNS (RFC 6891) and truncation.  It allocates nothing.
 */
#ifndef DNS_ANSWER_H
#define DNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/db.h"
#include "dns/packet.h"

#define DNS_CNAME_CHAIN_MAX 12

enum dns_transport { DNS_TRANSPORT_UDP, DNS_TRANSPORT_TCP };

struct dns_answer_stats {
        uint64_t queries;
        uint64_t rcode[16];
        uint64_t dropped;
        uint64_t truncated;
};

/*
 * Answers the query in wire[0..size) into out (at least DNS_TCP_MAX bytes
 * for TCP, DNS_EDNS_OUR_PAYLOAD for UDP).  Returns the response size, or 0
 * when the message gets no response.  `rotation` varies the order of
 * records in answers between queries.
 */
size_t dns_answer(const struct dns_catalog *catalog, const uint8_t *wire, size_t size,
                  enum dns_transport transport, uint8_t *out, unsigned rotation,
                  struct dns_answer_stats *stats);

/*
 * The same for a query already parsed by dns_query_parse() into q / status
 * (q->edns is cleared when the OPT record could not be trusted).
 */
size_t dns_answer_parsed(const struct dns_catalog *catalog, struct dns_query *q,
                         enum dns_parse_status status, enum dns_transport transport,
                         uint8_t *out, unsigned rotation, struct dns_answer_stats *stats);

struct dns_route_why;

/*
 * The answer dns_answer_parsed() gives over TCP (out: DNS_TCP_MAX bytes),
 * with routing writing down in `why` (zeroed by the caller) what it chose
 * and why (dns/route.h): the query path's own decisions, for the API's
 * explain.
 */
size_t dns_answer_explain(const struct dns_catalog *catalog, struct dns_query *q,
                          enum dns_parse_status status, uint8_t *out,
                          struct dns_route_why *why);

/*
 * Brings into the cache what answering the n parsed queries will read (see
 * dns_zone_warm_begin), advancing their lookups side by side.  Only a hint:
 * the answers are the same with or without it, just sooner.  It notes each
 * query's zone in the query, so the queries must then be answered from the
 * same catalog.
 */
void dns_answer_warm(const struct dns_catalog *catalog, struct dns_query *queries,
                     const enum dns_parse_status *status, unsigned n);

#endif
