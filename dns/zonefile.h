/*
 * zonefile.h — loading RFC 1035 master files into a transaction.
 *
 * The reader joins physical lines into records itself (parentheses,
 * quotes, comments), handles $ORIGIN, $TTL and $INCLUDE, and hands each
 * record to ldns for the presentation format of its type (every type ldns
 * knows, and RFC 3597 `TYPEnnn \# len hex` for the rest).  Records go
 * through dns_txn_rr_add(), which enforces the zone-data rules; every
 * problem is reported as "file:line: message" and loading continues so one
 * run shows many errors.
 */
#ifndef DNS_ZONEFILE_H
#define DNS_ZONEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "dns/db.h"

typedef void (*dns_zonefile_report_fn)(void *ctx, const char *file, unsigned line,
                                       const char *message);

struct dns_zonefile_stats {
        size_t records;
        size_t errors;
        size_t warnings;
};

/*
 * Loads `path` as the zone `origin` (wire; NULL: take it from the first
 * SOA record) into txn, replacing any zone of that origin.  origin_out (256
 * bytes, may be NULL) receives the origin used.  Returns 0 when the zone
 * loaded without error, -EINVAL when errors were reported, or -errno when
 * the file could not be read.  On error the caller aborts txn.
 */
int dns_zonefile_load(struct dns_txn *txn, const char *path, const uint8_t *origin,
                      uint8_t *origin_out, dns_zonefile_report_fn report, void *ctx,
                      struct dns_zonefile_stats *stats);

/* Like dns_zonefile_load, for a part of a zone sent by a client (an import
 * chunk): text[0..len) read from memory and called `name` in reports, the
 * SOA may be missing, $INCLUDE is refused (it would read this machine's
 * files), and origin is required.  The records are added to the zone when
 * txn already has it (the chunks of one staged import).  -EIO: the text
 * could not be read (out of memory), nothing reported. */
int dns_zonefile_load_part(struct dns_txn *txn, const char *text, size_t len,
                           const char *name, const uint8_t *origin,
                           dns_zonefile_report_fn report, void *ctx,
                           struct dns_zonefile_stats *stats);

/* Parses a presentation-format name ("example.com" or "example.com.") to wire. */
int dns_name_from_text(const char *text, uint8_t *wire);

#endif
