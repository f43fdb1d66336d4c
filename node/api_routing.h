/*
 * api_routing.h — routed record sets in zone export and import.
 *
 * A master file (RFC 1035) cannot say that a set is weighted, a failover
 * member, a multivalue answer or an alias.  Export writes each such set as
 * one comment line instead of records:
 *
 *   ;quorumdns-rrset {"name":"www.example.com.","type":"A",
 *                     "set_identifier":"blue","weight":10,"ttl":60,
 *                     "records":["192.0.2.1"]}
 *
 * (one line; the JSON is the record set exactly as the API shows it), so
 * other servers load the file as the zone's plain data, and import reads
 * these lines back as UPSERTs of the same batch as the file's records.
 */
#ifndef NODE_API_ROUTING_H
#define NODE_API_ROUTING_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "consensus/state.h"
#include "dns/db.h"
#include "dns/rrset.h"
#include "node/api_json.h"

#define API_ROUTED_PREFIX ";quorumdns-rrset "

/* Whether a set needs the comment form (a set identifier or routing). */
bool api_rrset_is_routed(const struct cs_rrset *rrset);

/* The comment line of a routed set, with its newline; malloc'ed, or NULL. */
char *api_routed_line(const struct cs_rrset *rrset);

/*
 * The routed sets in master-file text: every line that starts with
 * API_ROUTED_PREFIX, parsed as the API parses a record set of zone
 * `origin`.  *sets (n of them, free each with api_rrset_free and the array
 * with free) is filled, and *lines (when lines is not NULL; free it) with
 * the line of each; problems are appended to `errors` as
 * {"field":"line N","message",…,"line":N}.  0, or -ENOMEM.
 */
int api_routed_parse(const char *text, size_t len, const uint8_t *origin,
                     struct api_rrset **sets, unsigned **lines, size_t *n,
                     json_t *errors);

/* A set's routing fields as the DNS engine carries them; `health` is the
 * engine's number of its check (0: none). */
void api_route_of(const struct cs_routing *routing, uint32_t health,
                  struct dns_route *route);

/*
 * Standalone mode: the routed sets of a zone file (its ;quorumdns-rrset
 * lines) put into txn after the file's records, each in the zone that
 * holds its name.  There is no replicated state to check the rules of a
 * group against, so sets load as written; health checks and IP-based sets
 * (CIDR collections are replicated) need cluster mode and are refused.
 * Problems go to report (file, line, message).  Returns the number of
 * problems (0: all loaded) or -ENOMEM / -errno.
 */
int api_routed_load(struct dns_txn *txn, const char *path,
                    void (*report)(void *ctx, const char *file, unsigned line,
                                   const char *message),
                    void *ctx, size_t *records);

#endif
