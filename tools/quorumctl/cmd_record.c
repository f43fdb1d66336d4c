/*
 * cmd_record.c — record sets: listing (all pages), showing one, and
 * single-action change batches.
 *
 * Names on the command line may be relative to the zone, which is what an
 * operator types ("www"); the API only takes absolute names, so they are
 * resolved here (quorumctl_record_name_resolve).  The change commands print
 * the change id to wait on with "change wait".  The API deletes a record set
 * only given its values, so "record delete" without values reads them first.
 */
#include "tools/quorumctl/cmd_record.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/table.h"

char *quorumctl_record_name_resolve(const char *zone, const char *name)
{
        char *apex = quorumctl_client_absolute(zone);
        char *out = NULL;
        if (apex == NULL)
                return NULL;
        size_t nlen = strlen(name), alen = strlen(apex);
        size_t zlen = alen - 1; /* zone without its final dot */
        if (strcmp(name, "@") == 0 || nlen == 0) {
                out = strdup(apex);
        } else if (name[nlen - 1] == '.') {
                out = strdup(name);
        } else if (strcmp(apex, ".") != 0 &&
                   ((nlen == zlen && strncasecmp(name, apex, zlen) == 0) ||
                    (nlen > zlen && name[nlen - zlen - 1] == '.' &&
                     strncasecmp(name + nlen - zlen, apex, zlen) == 0))) {
                if (asprintf(&out, "%s.", name) < 0)
                        out = NULL;
        } else if (asprintf(&out, "%s.%s", name, strcmp(apex, ".") == 0 ? "" : apex) <
                   0) {
                out = NULL;
        }
        free(apex);
        return out;
}

char *quorumctl_record_value_quote(const char *type, const char *value)
{
        bool text = strcasecmp(type, "TXT") == 0 || strcasecmp(type, "SPF") == 0;
        if (!text || value[0] == '"')
                return strdup(value);
        char *out = malloc(strlen(value) * 2 + 3);
        if (out == NULL)
                return NULL;
        char *p = out;
        *p++ = '"';
        for (const char *s = value; *s != '\0'; s++) {
                if (*s == '"' || *s == '\\')
                        *p++ = '\\';
                *p++ = *s;
        }
        *p++ = '"';
        *p = '\0';
        return out;
}

static char *upper(const char *s)
{
        char *out = strdup(s);
        for (char *p = out; p != NULL && *p != '\0'; p++)
                *p = (char)toupper((unsigned char)*p);
        return out;
}

/* --geoprox-coordinates LAT,LON or --geoprox-region NAME, with
 * --geoprox-bias N, into the set's geoproximity_location (the API checks
 * the ranges and the region, and names the field). */
static int geoprox_option(const struct quorumctl_args *args, json_t *rrset, char *err,
                          size_t errlen)
{
        const char *coord = quorumctl_args_get(args, "geoprox-coordinates");
        const char *region = quorumctl_args_get(args, "geoprox-region");
        const char *bias = quorumctl_args_get(args, "geoprox-bias");
        if (coord == NULL && region == NULL && bias == NULL)
                return 0;
        json_t *prox;
        if (region != NULL && coord == NULL) {
                prox = json_pack("{s:s}", "region", region);
        } else {
                const char *comma = coord ? strchr(coord, ',') : NULL;
                if (region != NULL || comma == NULL || comma == coord ||
                    comma[1] == '\0') {
                        snprintf(err, errlen,
                                 "give --geoprox-coordinates LAT,LON (degrees: "
                                 "51.5,-0.12) or --geoprox-region NAME");
                        return -1;
                }
                json_t *c = json_pack("{s:s%, s:s}", "latitude", coord,
                                      (size_t)(comma - coord), "longitude", comma + 1);
                prox = json_pack("{s:o}", "coordinates", c);
        }
        if (bias != NULL) {
                char *end;
                long b = strtol(bias, &end, 10);
                if (*bias == '\0' || *end != '\0' || b < -99 || b > 99) {
                        json_decref(prox);
                        snprintf(err, errlen, "--geoprox-bias takes an integer -99..99");
                        return -1;
                }
                json_object_set_new(prox, "bias", json_integer(b));
        }
        json_object_set_new(rrset, "geoproximity_location", prox);
        return 0;
}

/* The routing options (--weight, --failover, ...) into rrset: 0, or -1 with
 * a usage message in err. */
static int routing_build(const char *zone, const struct quorumctl_args *args,
                         json_t *rrset, char *err, size_t errlen)
{
        unsigned long weight = 0;
        if (quorumctl_args_has(args, "weight")) {
                if (quorumctl_args_get_uint(args, "weight", 0, 255, &weight, err,
                                            errlen) != 0)
                        return -1;
                json_object_set_new(rrset, "weight", json_integer((json_int_t)weight));
        }
        const char *failover = quorumctl_args_get(args, "failover");
        if (failover != NULL) {
                char *role = upper(failover);
                if (role == NULL ||
                    (strcmp(role, "PRIMARY") != 0 && strcmp(role, "SECONDARY") != 0)) {
                        snprintf(err, errlen, "--failover takes PRIMARY or SECONDARY");
                        free(role);
                        return -1;
                }
                json_object_set_new(rrset, "failover", json_string(role));
                free(role);
        }
        if (quorumctl_args_has(args, "multivalue"))
                json_object_set_new(rrset, "multi_value_answer", json_true());
        static const char *const geo_opts[][2] = {
            {"geo-continent", "continent_code"},
            {"geo-country", "country_code"},
            {"geo-subdivision", "subdivision_code"}};
        json_t *geo = NULL;
        for (int i = 0; i < 3; i++) {
                const char *code = quorumctl_args_get(args, geo_opts[i][0]);
                if (code == NULL)
                        continue;
                if (geo == NULL)
                        geo = json_object();
                char *up = upper(code);
                json_object_set_new(geo, geo_opts[i][1], json_string(up ? up : code));
                free(up);
        }
        if (geo != NULL)
                json_object_set_new(rrset, "geo_location", geo);
        if (geoprox_option(args, rrset, err, errlen) != 0)
                return -1;
        const char *region = quorumctl_args_get(args, "region");
        if (region != NULL)
                json_object_set_new(rrset, "region", json_string(region));
        const char *coll = quorumctl_args_get(args, "cidr-collection");
        const char *loc = quorumctl_args_get(args, "cidr-location");
        if ((coll == NULL) != (loc == NULL)) {
                snprintf(
                    err, errlen,
                    "IP-based routing takes --cidr-collection ID and --cidr-location "
                    "NAME (or *) together");
                return -1;
        }
        if (coll != NULL)
                json_object_set_new(
                    rrset, "cidr_routing_config",
                    json_pack("{s:s, s:s}", "collection_id", coll, "location_name", loc));
        const char *check = quorumctl_args_get(args, "health-check");
        if (check != NULL)
                json_object_set_new(rrset, "health_check_id", json_string(check));
        const char *target = quorumctl_args_get(args, "alias-target");
        if (target == NULL)
                return 0;
        char *absolute = quorumctl_record_name_resolve(zone, target);
        if (absolute == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
        }
        json_t *alias =
            json_pack("{s:s, s:b}", "dns_name", absolute, "evaluate_target_health",
                      quorumctl_args_has(args, "evaluate-target-health"));
        free(absolute);
        const char *zone_id = quorumctl_args_get(args, "alias-zone-id");
        if (zone_id != NULL)
                json_object_set_new(alias, "hosted_zone_id", json_string(zone_id));
        json_object_set_new(rrset, "alias_target", alias);
        return 0;
}

json_t *quorumctl_record_batch_build(const char *action, const char *zone,
                                     const struct quorumctl_args *args, char *err,
                                     size_t errlen)
{
        unsigned long ttl = 0;
        if (quorumctl_args_get_uint(args, "ttl", 0, 2147483647UL, &ttl, err, errlen) != 0)
                return NULL;
        err[0] = '\0';
        char *name = quorumctl_record_name_resolve(zone, args->pos[1]);
        char *type = upper(args->pos[2]);
        const char *set_id = quorumctl_args_get(args, "set-id");
        json_t *rrset = json_object(), *records = json_array(), *batch = NULL;
        if (name == NULL || type == NULL || rrset == NULL || records == NULL)
                goto out;
        json_object_set_new(rrset, "name", json_string(name));
        json_object_set_new(rrset, "type", json_string(type));
        json_object_set_new(rrset, "set_identifier",
                            json_string(set_id != NULL ? set_id : ""));
        if (quorumctl_args_has(args, "ttl"))
                json_object_set_new(rrset, "ttl", json_integer((json_int_t)ttl));
        if (routing_build(zone, args, rrset, err, errlen) != 0)
                goto out;
        bool alias = quorumctl_args_has(args, "alias-target");
        if (args->npos == 3 && !alias && strcmp(action, "DELETE") != 0) {
                snprintf(err, errlen, "give at least one VALUE (or --alias-target NAME)");
                goto out;
        }
        for (size_t i = 3; i < args->npos; i++) {
                char *value = quorumctl_record_value_quote(type, args->pos[i]);
                if (value == NULL)
                        goto out;
                json_array_append_new(records, json_string(value));
                free(value);
        }
        /* A delete without values names the set by its key alone. */
        if (json_array_size(records) > 0 || (strcmp(action, "DELETE") != 0 && !alias))
                json_object_set(rrset, "records", records);
        batch = json_pack("{s:[{s:s,s:O}]}", "changes", "action", action, "rrset", rrset);
        const char *comment = quorumctl_args_get(args, "comment");
        if (batch != NULL && comment != NULL)
                json_object_set_new(batch, "comment", json_string(comment));
out:
        json_decref(rrset);
        json_decref(records);
        free(name);
        free(type);
        return batch;
}

/* "/v1/zones/Z/rrsets/NAME/TYPE[?set_identifier=ID]" for an absolute name. */
static char *rrset_path(const char *zone, const char *name, const char *type,
                        const char *set_id)
{
        char *ename = quorumctl_http_escape(name);
        char *etype = quorumctl_http_escape(type);
        char *eset = set_id != NULL ? quorumctl_http_escape(set_id) : NULL;
        char *suffix = NULL, *path = NULL;
        if (ename != NULL && etype != NULL && (set_id == NULL || eset != NULL) &&
            asprintf(&suffix, "/rrsets/%s/%s%s%s", ename, etype,
                     eset != NULL ? "?set_identifier=" : "",
                     eset != NULL ? eset : "") >= 0)
                path = quorumctl_client_zone_path(zone, suffix);
        free(suffix);
        free(eset);
        free(etype);
        free(ename);
        return path;
}

/*
 * The API deletes a record set only when given its exact values and TTL:
 * what the command line leaves out (VALUEs, --ttl) is read from the set.
 */
static int fill_delete(struct quorumctl_ctx *ctx, const char *zone, json_t *batch)
{
        json_t *rrset = json_object_get(
            json_array_get(json_object_get(batch, "changes"), 0), "rrset");
        json_t *sid = json_object_get(rrset, "set_identifier");
        const char *set_id = json_is_string(sid) && json_string_value(sid)[0] != '\0'
                                 ? json_string_value(sid)
                                 : NULL;
        char *path =
            rrset_path(zone, json_string_value(json_object_get(rrset, "name")),
                       json_string_value(json_object_get(rrset, "type")), set_id);
        json_t *current = NULL;
        int code = path != NULL ? quorumctl_client_call(ctx, "GET", path, NULL, &current)
                                : QUORUMCTL_EXIT_UNAVAILABLE;
        if (code == QUORUMCTL_EXIT_OK) {
                json_t *given = json_object_get(rrset, "records");
                if (!json_is_array(given) || json_array_size(given) == 0)
                        json_object_set(rrset, "records",
                                        json_object_get(current, "records"));
                if (json_object_get(rrset, "ttl") == NULL)
                        json_object_set(rrset, "ttl", json_object_get(current, "ttl"));
                /* A delete names the routing fields too: those not given
                 * are the set's. */
                static const char *const routing[] = {"weight",
                                                      "failover",
                                                      "multi_value_answer",
                                                      "health_check_id",
                                                      "alias_target",
                                                      "geo_location",
                                                      "geoproximity_location",
                                                      "region",
                                                      "cidr_routing_config"};
                for (size_t i = 0; i < sizeof(routing) / sizeof(routing[0]); i++)
                        if (json_object_get(rrset, routing[i]) == NULL &&
                            json_object_get(current, routing[i]) != NULL)
                                json_object_set(rrset, routing[i],
                                                json_object_get(current, routing[i]));
        }
        json_decref(current);
        free(path);
        return code;
}

static int change_one(struct quorumctl_ctx *ctx, const struct quorumctl_args *args,
                      const char *action)
{
        char err[160];
        const char *zone = args->pos[0];
        json_t *batch =
            quorumctl_record_batch_build(action, zone, args, err, sizeof(err));
        if (batch == NULL) {
                quorumctl_client_error(ctx, "%s", err[0] != '\0' ? err : "out of memory");
                return err[0] != '\0' ? QUORUMCTL_EXIT_USAGE : QUORUMCTL_EXIT_UNAVAILABLE;
        }
        char *path = quorumctl_client_zone_path(zone, "/changes");
        json_t *answer = NULL;
        int code = path != NULL ? QUORUMCTL_EXIT_OK : QUORUMCTL_EXIT_UNAVAILABLE;
        /* Always: with VALUEs and --ttl given, a routed set's fields are
         * still the set's. */
        if (code == QUORUMCTL_EXIT_OK && strcmp(action, "DELETE") == 0)
                code = fill_delete(ctx, zone, batch);
        if (code == QUORUMCTL_EXIT_OK)
                code = quorumctl_client_call(ctx, "POST", path, batch, &answer);
        if (code == QUORUMCTL_EXIT_OK) {
                if (ctx->json) {
                        quorumctl_client_print_json(ctx, answer);
                } else {
                        json_t *change = json_object_get(answer, "change");
                        json_t *id = json_object_get(change, "id");
                        json_t *status = json_object_get(change, "status");
                        fprintf(ctx->out, "change %s %s\n",
                                json_is_string(id) ? json_string_value(id) : "?",
                                json_is_string(status) ? json_string_value(status) : "");
                }
        }
        json_decref(answer);
        json_decref(batch);
        free(path);
        return code;
}

int quorumctl_record_upsert(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        return change_one(ctx, args, "UPSERT");
}

int quorumctl_record_create(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        return change_one(ctx, args, "CREATE");
}

int quorumctl_record_delete(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        return change_one(ctx, args, "DELETE");
}

/* Appends "&key=escaped(value)" to *query. */
static int add_query(char **query, const char *key, const char *value)
{
        char *escaped = quorumctl_http_escape(value);
        char *grown = NULL;
        if (escaped == NULL ||
            asprintf(&grown, "%s&%s=%s", *query != NULL ? *query : "", key, escaped) < 0)
                grown = NULL;
        free(escaped);
        free(*query);
        *query = grown;
        return grown != NULL ? 0 : -1;
}

/* "weight 10", "failover PRIMARY", "multivalue", "alias NAME", with
 * " evaluate" and " check ID" as they apply; NULL for a plain set. */
static char *routing_cell(json_t *rrset)
{
        char buf[600] = "";
        size_t n = 0;
        json_t *v;
#define ADD(...)                                                                         \
        do {                                                                             \
                if (n < sizeof(buf))                                                     \
                        n += (size_t)snprintf(buf + n, sizeof(buf) - n, __VA_ARGS__);    \
        } while (0)
        if (json_is_integer(v = json_object_get(rrset, "weight")))
                ADD("weight %lld", (long long)json_integer_value(v));
        if (json_is_string(v = json_object_get(rrset, "failover")))
                ADD("failover %s", json_string_value(v));
        if (json_is_true(json_object_get(rrset, "multi_value_answer")))
                ADD("multivalue");
        json_t *geo = json_object_get(rrset, "geo_location");
        if (json_is_object(geo)) {
                const char *keys[] = {"continent_code", "country_code",
                                      "subdivision_code"};
                ADD("geo");
                for (int i = 0; i < 3; i++)
                        if (json_is_string(v = json_object_get(geo, keys[i])))
                                ADD("%s%s", i == 2 ? "-" : " ", json_string_value(v));
        }
        json_t *prox = json_object_get(rrset, "geoproximity_location");
        if (json_is_object(prox)) {
                json_t *c = json_object_get(prox, "coordinates");
                const char *lat = json_string_value(json_object_get(c, "latitude"));
                const char *lon = json_string_value(json_object_get(c, "longitude"));
                const char *reg = json_string_value(json_object_get(prox, "region"));
                if (reg != NULL)
                        ADD("geoprox region %s bias %lld", reg,
                            (long long)json_integer_value(json_object_get(prox, "bias")));
                else
                        ADD("geoprox %s,%s bias %lld", lat ? lat : "?", lon ? lon : "?",
                            (long long)json_integer_value(json_object_get(prox, "bias")));
        }
        if (json_is_string(v = json_object_get(rrset, "region")))
                ADD("%slatency %s", n ? " " : "", json_string_value(v));
        json_t *cidr = json_object_get(rrset, "cidr_routing_config");
        if (json_is_object(cidr)) {
                const char *loc =
                    json_string_value(json_object_get(cidr, "location_name"));
                ADD("cidr %s", loc ? loc : "?");
        }
        json_t *alias = json_object_get(rrset, "alias_target");
        if (json_is_object(alias)) {
                v = json_object_get(alias, "dns_name");
                ADD("%salias %s", n ? " " : "",
                    json_is_string(v) ? json_string_value(v) : "?");
                if (json_is_true(json_object_get(alias, "evaluate_target_health")))
                        ADD(" evaluate");
        }
        if (json_is_string(v = json_object_get(rrset, "health_check_id")))
                ADD("%scheck %s", n ? " " : "", json_string_value(v));
#undef ADD
        return n ? strdup(buf) : NULL;
}

static void print_rrsets(struct quorumctl_ctx *ctx, json_t *rrsets)
{
        size_t i;
        json_t *rrset;
        bool set_ids = false, routed = false;
        json_array_foreach(rrsets, i, rrset)
        {
                json_t *sid = json_object_get(rrset, "set_identifier");
                if (json_is_string(sid) && json_string_value(sid)[0] != '\0')
                        set_ids = true;
                char *cell = routing_cell(rrset);
                routed |= cell != NULL;
                free(cell);
        }
        /* NAME TYPE [SET ID] [ROUTING] >TTL RECORDS */
        const char *headers[6];
        size_t cols = 0;
        headers[cols++] = "NAME";
        headers[cols++] = "TYPE";
        if (set_ids)
                headers[cols++] = "SET ID";
        if (routed)
                headers[cols++] = "ROUTING";
        headers[cols++] = ">TTL";
        headers[cols++] = "RECORDS";
        struct quorumctl_table t;
        quorumctl_table_init(&t, cols, headers);
        json_array_foreach(rrsets, i, rrset)
        {
                char *cells[6] = {0};
                size_t n = 0;
                json_t *v = json_object_get(rrset, "name");
                cells[n++] = v != NULL ? quorumctl_table_cell(v) : NULL;
                v = json_object_get(rrset, "type");
                cells[n++] = v != NULL ? quorumctl_table_cell(v) : NULL;
                if (set_ids) {
                        v = json_object_get(rrset, "set_identifier");
                        cells[n++] = v != NULL ? quorumctl_table_cell(v) : NULL;
                }
                if (routed)
                        cells[n++] = routing_cell(rrset);
                v = json_object_get(rrset, "ttl");
                cells[n++] = v != NULL ? quorumctl_table_cell(v) : NULL;
                json_t *records = json_object_get(rrset, "records");
                size_t r;
                json_t *value;
                /* One line per value; the key columns only on the first. */
                json_array_foreach(records, r, value)
                {
                        cells[n] = quorumctl_table_cell(value);
                        quorumctl_table_add(&t, (const char *const *)cells);
                        free(cells[n]);
                        for (size_t k = 0; k < n && r == 0; k++) {
                                free(cells[k]);
                                cells[k] = strdup("");
                        }
                }
                if (json_array_size(records) == 0) {
                        cells[n] = NULL;
                        quorumctl_table_add(&t, (const char *const *)cells);
                }
                for (size_t k = 0; k < n; k++)
                        free(cells[k]);
        }
        quorumctl_table_print(&t, ctx->out);
        quorumctl_table_free(&t);
}

int quorumctl_record_list(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char err[160];
        unsigned long limit = (unsigned long)-1;
        if (quorumctl_args_get_uint(args, "limit", 1, (unsigned long)-1, &limit, err,
                                    sizeof(err)) != 0) {
                quorumctl_client_error(ctx, "%s", err);
                return QUORUMCTL_EXIT_USAGE;
        }
        const char *zone = args->pos[0];
        char *query = NULL, *name = NULL, *type = NULL, *base = NULL;
        json_t *all = NULL;
        int code = QUORUMCTL_EXIT_UNAVAILABLE;
        if (quorumctl_args_has(args, "name")) {
                name =
                    quorumctl_record_name_resolve(zone, quorumctl_args_get(args, "name"));
                if (name == NULL || add_query(&query, "name", name) != 0)
                        goto out;
        }
        if (quorumctl_args_has(args, "type")) {
                type = upper(quorumctl_args_get(args, "type"));
                if (type == NULL || add_query(&query, "type", type) != 0)
                        goto out;
        }
        if (quorumctl_args_has(args, "set-id") &&
            add_query(&query, "set_identifier", quorumctl_args_get(args, "set-id")) != 0)
                goto out;
        base = quorumctl_client_zone_path(zone, "/rrsets");
        if (base == NULL)
                goto out;
        if (query != NULL) {
                char *full = NULL;
                if (asprintf(&full, "%s?%s", base, query + 1) < 0)
                        goto out;
                free(base);
                base = full;
        }
        code = quorumctl_client_fetch_all(ctx, base, "rrsets", limit, &all);
        if (code != QUORUMCTL_EXIT_OK)
                goto out;
        if (ctx->json) {
                json_t *out = json_pack("{s:O,s:n}", "rrsets", all, "next_marker");
                quorumctl_client_print_json(ctx, out);
                json_decref(out);
        } else {
                print_rrsets(ctx, all);
        }
out:
        json_decref(all);
        free(base);
        free(query);
        free(name);
        free(type);
        return code;
}

int quorumctl_record_show(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        const char *zone = args->pos[0];
        char *name = quorumctl_record_name_resolve(zone, args->pos[1]);
        char *type = upper(args->pos[2]);
        char *path =
            name != NULL && type != NULL
                ? rrset_path(zone, name, type, quorumctl_args_get(args, "set-id"))
                : NULL;
        json_t *answer = NULL;
        int code = path != NULL ? quorumctl_client_call(ctx, "GET", path, NULL, &answer)
                                : QUORUMCTL_EXIT_UNAVAILABLE;
        if (code == QUORUMCTL_EXIT_OK) {
                if (ctx->json || !json_is_object(answer)) {
                        quorumctl_client_print_json(ctx, answer);
                } else {
                        json_t *one = json_array();
                        json_array_append(one, answer);
                        print_rrsets(ctx, one);
                        json_decref(one);
                }
        }
        json_decref(answer);
        free(path);
        free(type);
        free(name);
        return code;
}
