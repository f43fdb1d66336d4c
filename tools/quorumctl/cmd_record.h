/*
 * cmd_record.h — the "record" commands: list, show, and one-action change
 * batches (upsert, create, delete), plus the name and value conventions they
 * share.
 */
#ifndef QUORUMCTL_CMD_RECORD_H
#define QUORUMCTL_CMD_RECORD_H

#include <jansson.h>

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/client.h"

int quorumctl_record_list(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_record_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_record_upsert(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_record_create(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);
int quorumctl_record_delete(struct quorumctl_ctx *ctx, const struct quorumctl_args *args);

/*
 * The absolute name meant by name inside zone: "@" is the apex, a name with
 * a final dot is absolute, a name that already ends in the zone's name
 * ("www.example.com" in example.com) gets the final dot, anything else is
 * relative to the zone ("www" -> "www.example.com.").  Returns a malloc'd
 * string or NULL.
 */
char *quorumctl_record_name_resolve(const char *zone, const char *name);

/*
 * A record value as the API wants it: TXT and SPF values not already
 * starting with '"' become one quoted string (quotes and backslashes
 * escaped), so "v=spf1 -all" stays one string; other types are unchanged.
 * Returns a malloc'd string or NULL.
 */
char *quorumctl_record_value_quote(const char *type, const char *value);

/*
 * The change batch of one action on one record set (the caller's JSON), or
 * NULL (out of memory, or a bad --ttl with a message in err).
 */
json_t *quorumctl_record_batch_build(const char *action, const char *zone,
                                     const struct quorumctl_args *args, char *err,
                                     size_t errlen);

#endif
