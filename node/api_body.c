/*
 * api_body.c — zone creations and change batches from JSON (see api_body.h).
 *
 * Zone creation (POST /v1/zones, and each item of POST /v1/zones/bulk, whose
 * field names carry a prefix such as "create[3]."): name → comment → ttl →
 * nameservers (default ns1.<zone>, which must itself be a valid name) → soa
 * fields over defaults → the SOA and NS record data.  Change batch: comment → every
 * action and its record set through api_rrset_parse.
 */
#include "node/api_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/name.h"
#include "dns/text.h"
#include "dns/wire.h"

static int name_field(json_t *v, const char *field, uint8_t *out, struct api_errors *errs,
                      long index)
{
        char err[256];
        if (!json_is_string(v)) {
                api_errors_add(errs, index, field, "must be a domain name string");
                return -1;
        }
        if (dns_name_parse_text(json_string_value(v), out, err, sizeof(err)) != 0) {
                api_errors_add(errs, index, field, "%s", err);
                return -1;
        }
        return 0;
}

static uint32_t u32_field(json_t *obj, const char *key, uint32_t dflt, const char *field,
                          struct api_errors *errs, long index)
{
        json_t *v = json_object_get(obj, key);
        if (v == NULL)
                return dflt;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > CS_TTL_MAX) {
                api_errors_add(errs, index, field, "must be 0..2147483647");
                return dflt;
        }
        return (uint32_t)json_integer_value(v);
}

static size_t put_name(uint8_t *out, const uint8_t *name)
{
        size_t n = (size_t)dns_name_wire_len(name, 256);
        memcpy(out, name, n);
        return n;
}

/* "<label>.<zone>" as a wire name; -1 when it does not fit in 255 bytes. */
static int name_under(const uint8_t *origin, const char *label, uint8_t *out)
{
        char text[1100], err[256], full[1200];
        dns_name_to_text(origin, text, sizeof(text));
        snprintf(full, sizeof(full), "%s.%s", label, text);
        return dns_name_parse_text(full, out, err, sizeof(err)) == 0 ? 0 : -1;
}

int node_api_zone_spec_parse(json_t *body, const char *prefix, long index,
                             struct node_api_zone_spec *z, struct api_errors *errs)
{
        size_t before = api_errors_count(errs);
        char field[96];
        uint8_t mname[256], rname[256];
        memset(z, 0, sizeof(*z));
#define FIELD(name) (snprintf(field, sizeof(field), "%s%s", prefix, name), field)
        if (!json_is_object(body)) {
                api_errors_add(errs, index, prefix[0] ? FIELD("") : "body",
                               "must be an object");
                return -1;
        }
        bool named = name_field(json_object_get(body, "name"), FIELD("name"), z->origin,
                                errs, index) == 0;
        json_t *comment = json_object_get(body, "comment");
        if (comment != NULL &&
            (!json_is_string(comment) || json_string_length(comment) > CS_COMMENT_MAXLEN))
                api_errors_add(errs, index, FIELD("comment"),
                               "must be a string of at most %d bytes", CS_COMMENT_MAXLEN);
        else if (comment != NULL)
                snprintf(z->comment, sizeof(z->comment), "%s",
                         json_string_value(comment));
        z->ttl = u32_field(body, "ttl", 3600, FIELD("ttl"), errs, index);
        json_t *servers = json_object_get(body, "nameservers");
        if (servers != NULL &&
            (!json_is_array(servers) || json_array_size(servers) == 0 ||
             json_array_size(servers) > API_ZONE_NS_MAX)) {
                api_errors_add(errs, index, FIELD("nameservers"),
                               "must be an array of 1..%d names", API_ZONE_NS_MAX);
        } else if (servers != NULL) {
                for (size_t i = 0; i < json_array_size(servers); i++) {
                        snprintf(field, sizeof(field), "%snameservers[%zu]", prefix, i);
                        if (name_field(json_array_get(servers, i), field,
                                       z->ns[z->ns_count], errs, index) == 0)
                                z->ns_count++;
                }
        }
        json_t *soa = json_object_get(body, "soa");
        if (soa != NULL && !json_is_object(soa)) {
                api_errors_add(errs, index, FIELD("soa"), "must be an object");
                soa = NULL;
        }
        if (!named || api_errors_count(errs) > before)
                return -1;
        z->origin_len = (size_t)dns_name_wire_len(z->origin, 256);
        /* Without name servers the zone gets ns1.<zone>: a zone name of 252
         * bytes and more leaves no room for it. */
        if (z->ns_count == 0) {
                if (name_under(z->origin, "ns1", z->ns[0]) != 0) {
                        api_errors_add(errs, index, FIELD("nameservers"),
                                       "the zone name is too long for the default name "
                                       "server ns1.<zone>: give nameservers");
                        return -1;
                }
                z->ns_count = 1;
        }
        memcpy(mname, z->ns[0], (size_t)dns_name_wire_len(z->ns[0], 256));
        if (name_under(z->origin, "hostmaster", rname) != 0)
                memcpy(rname, z->origin, z->origin_len);
        if (soa != NULL) {
                json_t *m = json_object_get(soa, "mname"),
                       *rn = json_object_get(soa, "rname");
                if (m != NULL)
                        name_field(m, FIELD("soa.mname"), mname, errs, index);
                if (rn != NULL)
                        name_field(rn, FIELD("soa.rname"), rname, errs, index);
        }
        uint32_t fields[5] = {1, 7200, 3600, 1209600, 300};
        static const char *const keys[5] = {NULL, "refresh", "retry", "expire",
                                            "minimum"};
        for (int i = 1; i < 5 && soa != NULL; i++) {
                snprintf(field, sizeof(field), "%ssoa.%s", prefix, keys[i]);
                fields[i] = u32_field(soa, keys[i], fields[i], field, errs, index);
        }
#undef FIELD
        if (api_errors_count(errs) > before)
                return -1;
        size_t n = put_name(z->soa_rdata, mname);
        n += put_name(z->soa_rdata + n, rname);
        for (int i = 0; i < 5; i++, n += 4)
                wire_put32(z->soa_rdata + n, fields[i]);
        z->soa_value = (struct cs_rdata){z->soa_rdata, (uint16_t)n};
        for (size_t i = 0; i < z->ns_count; i++)
                z->ns_values[i] = (struct cs_rdata){
                    z->ns[i], (uint16_t)dns_name_wire_len(z->ns[i], 256)};
        return 0;
}

struct cs_zone_spec node_api_zone_spec_view(const struct node_api_zone_spec *z,
                                            const char *zone_id)
{
        return (struct cs_zone_spec){
            .origin = z->origin,
            .origin_len = z->origin_len,
            .zone_id = zone_id,
            .comment = z->comment,
            .soa = {z->origin,
                    z->origin_len,
                    DNS_TYPE_SOA,
                    "",
                    z->ttl,
                    &z->soa_value,
                    1,
                    {0}},
            .ns = {z->origin,
                   z->origin_len,
                   DNS_TYPE_NS,
                   "",
                   z->ttl,
                   z->ns_values,
                   z->ns_count,
                   {0}},
        };
}

static const char *const action_names[] = {"", "CREATE", "DELETE", "UPSERT"};

int api_batch_parse(json_t *body, const uint8_t *origin, struct api_batch *b,
                    struct api_errors *errs)
{
        size_t before = api_errors_count(errs);
        memset(b, 0, sizeof(*b));
        json_t *changes = json_object_get(body, "changes");
        json_t *comment = json_object_get(body, "comment");
        if (comment != NULL &&
            (!json_is_string(comment) || json_string_length(comment) > CS_COMMENT_MAXLEN))
                api_errors_add(errs, -1, "comment",
                               "must be a string of at most %d bytes", CS_COMMENT_MAXLEN);
        else if (comment != NULL)
                snprintf(b->comment, sizeof(b->comment), "%s",
                         json_string_value(comment));
        size_t n = json_is_array(changes) ? json_array_size(changes) : 0;
        if (n == 0) {
                api_errors_add(errs, -1, "changes", "must be a non-empty array");
                return -1;
        }
        b->sets = calloc(n, sizeof(*b->sets));
        b->actions = calloc(n, sizeof(*b->actions));
        if (b->sets == NULL || b->actions == NULL) {
                api_errors_add(errs, -1, "changes", "out of memory");
                return -1;
        }
        b->n = n;
        for (size_t i = 0; i < n; i++) {
                json_t *item = json_array_get(changes, i);
                char field[64];
                json_t *action = json_object_get(item, "action");
                const char *a = json_is_string(action) ? json_string_value(action) : "";
                for (int k = 1; k <= 3; k++)
                        if (strcmp(a, action_names[k]) == 0)
                                b->actions[i].kind = (enum cs_action_kind)k;
                if (b->actions[i].kind == 0) {
                        snprintf(field, sizeof(field), "changes[%zu].action", i);
                        api_errors_add(errs, (long)i, field,
                                       "must be \"CREATE\", \"DELETE\" or \"UPSERT\"");
                }
                snprintf(field, sizeof(field), "changes[%zu].rrset", i);
                /* A set identifier needs a routing policy when written
                 * (a DELETE may name an older set without one). */
                if (api_rrset_parse(json_object_get(item, "rrset"), origin, field,
                                    (long)i, 1, &b->sets[i], errs) == 0 &&
                    b->actions[i].kind != CS_ACTION_DELETE)
                        api_rrset_check_write(&b->sets[i], field, (long)i, errs);
                b->actions[i].rrset = api_rrset_spec(&b->sets[i]);
        }
        return api_errors_count(errs) > before ? -1 : 0;
}

void api_batch_free(struct api_batch *b)
{
        for (size_t i = 0; i < b->n; i++)
                api_rrset_free(&b->sets[i]);
        free(b->sets);
        free(b->actions);
        memset(b, 0, sizeof(*b));
}
