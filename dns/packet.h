/*
 * packet.h — parsing queries and writing responses, zero-copy.
 *
 * dns_query_parse() validates a whole query message in one pass (header,
 * one question, no answer or authority records, at most one OPT in the
 * additional section, nothing after it) and prepares the question name for
 * lookup.  struct dns_writer appends records to a response buffer with a
 * hard size limit: a record set either fits whole or is rolled back, and
 * domain names in RDATA are compressed against names already written.
 */
#ifndef DNS_PACKET_H
#define DNS_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/ecs.h"
#include "dns/name.h"
#include "dns/rrset.h"

#define DNS_UDP_MAX_NOEDNS   512
#define DNS_EDNS_OUR_PAYLOAD 1232
#define DNS_TCP_MAX          65535
#define DNS_OPT_RR_SIZE      11
#define DNS_EDNS_COOKIE      10 /* option code */

enum dns_parse_status {
        DNS_PARSE_OK = 0,
        DNS_PARSE_DROP,    /* not worth an answer (a response, or too short) */
        DNS_PARSE_FORMERR, /* answer FORMERR (question copied when valid) */
        DNS_PARSE_NOTIMP,  /* opcode we do not implement */
        DNS_PARSE_BADVERS, /* EDNS version above 0 */
        /* No question, only a COOKIE (RFC 7873 §5.4): a client asking for a
         * server cookie; NOERROR when cookies are on, else FORMERR. */
        DNS_PARSE_NOQUESTION,
        /* Not from the parser: the cookie policy wants BADCOOKIE. */
        DNS_PARSE_BADCOOKIE,
};

struct dns_zone;

struct dns_query {
        const uint8_t *wire;
        size_t size;
        uint16_t id;
        uint16_t flags;
        uint16_t qtype;
        uint16_t qclass;
        uint16_t question_size; /* bytes from offset 12 to the question's end; 0: none */
        bool edns;
        uint8_t edns_version;
        uint16_t edns_payload;
        uint16_t edns_flags;
        /* The COOKIE option: a client cookie (8 bytes) and perhaps a server
         * cookie (8 to 32), in the query's wire; NULL: none. */
        const uint8_t *cookie;
        uint8_t cookie_len;
        /* The COOKIE the response carries (when it has an OPT); set by the
         * server's cookie handling, 0: none. */
        uint8_t cookie_reply_len;
        uint8_t cookie_reply[24];
        /* The ECS option (RFC 7871), checked; has_ecs false: none. */
        bool has_ecs;
        struct dns_ecs ecs;
        /* Where the client is (dns_query_locate); when loc.from_ecs the
         * response echoes the option with scope ecs_scope, which routing
         * sets to the prefix its decision depended on. */
        struct dns_location loc;
        uint8_t ecs_scope;
        /* ANY over UDP gets the synthesized HINFO of RFC 8482 §4.2 instead
         * of one RRset (set by the UDP server's policy). */
        bool any_hinfo;
        /* Set by dns_answer_warm(): the zone that answers, already found
         * (NULL: none) in the catalog that is then used to answer. */
        bool zone_known;
        const struct dns_zone *zone;
        /* Set by dns_answer_warm() too: the node of qname itself when its
         * walk reached it with no cut on the way (what dns_zone_lookup()
         * would find), so that answering does not walk again; or NULL. */
        const struct dns_node *found;
        /* Where that walk stopped (see dns_zone_warm_stop()), so that a
         * lookup that goes on from there (a cut, a missing name, a
         * wildcard) does not walk the levels above again; NULL: no walk. */
        const struct dns_node *walked;
        uint8_t walked_left; /* labels of qname below `walked` */
        /* And when the walk found qname's next label missing there: true,
         * with that node's wildcard child (NULL: none), the lookup's
         * answer (see dns_zone_warm_wild()). */
        bool wild_known;
        const struct dns_node *wild;
        struct dns_lname qname;
};

enum dns_parse_status dns_query_parse(struct dns_query *q, const uint8_t *wire,
                                      size_t size);

/* Sets q's client location from its ECS option and the sender's address
 * (peer may be NULL; cfg NULL: the defaults).  Called after a parse that
 * returned DNS_PARSE_OK; dns_query_parse() itself locates the client by ECS
 * alone. */
void dns_query_locate(struct dns_query *q, const struct dns_client_addr *peer,
                      const struct dns_ecs_config *cfg);

#define DNS_COMPRESS_MAX 32
#define DNS_TARGETS_MAX  32

/* A name at the end of RDATA (NS, CNAME, MX, SRV, PTR), as written. */
struct dns_target {
        const uint8_t *name; /* uncompressed wire, in the zone's blob */
        uint16_t off;        /* where the name starts in the response */
        uint16_t type;       /* of the record that holds it */
};

struct dns_writer {
        uint8_t *buf;
        size_t limit; /* bytes we may use (room for OPT already taken off) */
        size_t len;
        uint16_t count[3]; /* answer, authority, additional */
        bool truncated;
        int64_t ttl_cap;               /* when >= 0, TTLs written are capped to it */
        const struct dns_lname *qname; /* the question's name, at comp[0] */
        unsigned ncomp;
        uint16_t comp[DNS_COMPRESS_MAX]; /* names to compress against */
        unsigned ntarget;
        struct dns_target target[DNS_TARGETS_MAX];
};

enum dns_section { DNS_SECTION_ANSWER, DNS_SECTION_AUTHORITY, DNS_SECTION_ADDITIONAL };

/*
 * Starts a response to q in buf: header (id, opcode, RD and CD copied, QR
 * set), and the question copied as the client wrote it.  limit is the size
 * the response may reach.
 */
void dns_writer_start(struct dns_writer *w, const struct dns_query *q, uint8_t *buf,
                      size_t limit);

/*
 * Appends a whole record set, first record `start` (rotation), with the
 * owner written as a pointer to owner_off (or as owner_wire when owner_off
 * is out of pointer range).  When it does not fit, nothing is written, TC is
 * noted for the answer and authority sections, and -1 is returned.  RDATA
 * targets of NS, CNAME, PTR, MX and SRV records are recorded in w->target.
 */
int dns_writer_rrset(struct dns_writer *w, enum dns_section section, uint16_t owner_off,
                     const uint8_t *owner_wire, const struct dns_rrsets *sets,
                     const struct dns_rrset_info *info, unsigned start);

/* Why RDATA of this type cannot be stored, or NULL: A and AAAA must have
 * their address's length, and the domain names inside NS, CNAME, PTR, MX,
 * SOA and SRV data must be well formed (so the writer can walk them) and
 * fill it.  Other types are opaque here. */
const char *dns_rdata_check(uint16_t type, const uint8_t *rdata, uint16_t rdlen);

/* Appends the HINFO "RFC8482" "" of RFC 8482 §4.2 to the answer section,
 * owned by the name at owner_off; -1 (TC noted) when it does not fit. */
int dns_writer_hinfo(struct dns_writer *w, uint16_t owner_off);

/* Offsets of the labels of the name written at off (root excluded). */
unsigned dns_writer_labels(const struct dns_writer *w, uint16_t off, uint16_t *out);

/* Finishes the header (counts, rcode, flags) and appends OPT when q had it,
 * with q's reply COOKIE if any. */
size_t dns_writer_finish(struct dns_writer *w, const struct dns_query *q, uint16_t flags,
                         unsigned rcode);

#endif
