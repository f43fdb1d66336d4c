/*
 * cmd_explain.c — "record explain ZONE NAME [TYPE] --client ADDR[/LEN]".
 *
 * One GET /v1/zones/{zone}/explain to the first server that answers; that
 * node asks every member for its own view and sends them all back.  Printed:
 * one row per node (its GeoIP database, where it places the client, its
 * decision, its answer), a line naming the nodes that disagree when they
 * do, and then, for each distinct decision, why: every group the query
 * chose in, each candidate set with its health and standing.
 */
#include "tools/quorumctl/cmd_explain.h"

#include <stdlib.h>
#include <string.h>

#include "tools/quorumctl/cmd_record.h"
#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/http.h"
#include "tools/quorumctl/table.h"

static int add_param(char **query, const char *key, const char *value)
{
        char *escaped = quorumctl_http_escape(value);
        char *next = NULL;
        int rc = escaped != NULL && asprintf(&next, "%s%s%s=%s", *query ? *query : "",
                                             *query ? "&" : "?", key, escaped) >= 0
                     ? 0
                     : -1;
        free(escaped);
        if (rc == 0) {
                free(*query);
                *query = next;
        }
        return rc;
}

static const char *str(const json_t *o, const char *key)
{
        const char *s = json_string_value(json_object_get(o, key));
        return s != NULL ? s : "";
}

static char *geoip_cell(const json_t *e)
{
        const json_t *g = json_object_get(e, "geoip");
        char *out = NULL;
        if (!json_is_object(g))
                return strdup("none");
        long long epoch =
            (long long)json_integer_value(json_object_get(g, "build_epoch"));
        if (asprintf(&out, "%s@%lld", str(g, "database_type"), epoch) < 0)
                return NULL;
        return out;
}

static char *location_cell(const json_t *e)
{
        const json_t *l = json_object_get(e, "location");
        char *out = NULL;
        if (!json_is_object(l))
                return strdup("-");
        if (!json_is_true(json_object_get(l, "found")))
                return strdup("not in database");
        const char *sub = str(l, "subdivision");
        if (asprintf(&out, "%s %s%s%s /%lld", str(l, "continent"), str(l, "country"),
                     *sub ? "-" : "", sub,
                     (long long)json_integer_value(json_object_get(l, "prefix"))) < 0)
                return NULL;
        return out;
}

/* The answer's records' data, comma-separated. */
static char *answer_cell(const json_t *e)
{
        size_t i, used = 0, cap = 1;
        json_t *rr;
        char *out = calloc(1, 1);
        json_array_foreach(json_object_get(e, "answer"), i, rr)
        {
                const char *line = json_string_value(rr);
                /* "owner ttl class type data": the data after four fields */
                const char *data = line;
                for (int f = 0; f < 4 && data != NULL; f++) {
                        data = strchr(data, ' ');
                        if (data != NULL)
                                data++;
                }
                if (data == NULL || out == NULL)
                        continue;
                size_t n = strlen(data) + 2;
                char *grown = realloc(out, cap + n);
                if (grown == NULL)
                        continue;
                out = grown;
                cap += n;
                used += (size_t)sprintf(out + used, "%s%s", used ? ", " : "", data);
        }
        if (out != NULL && used == 0) {
                free(out);
                out = strdup("(no records)");
        }
        return out;
}

static void print_candidate(FILE *f, const json_t *c)
{
        fprintf(f, "    %s %-16s %-17s",
                json_is_true(json_object_get(c, "chosen")) ? "*" : " ",
                *str(c, "set_identifier") ? str(c, "set_identifier") : "(plain)",
                str(c, "health"));
        if (json_object_get(c, "location"))
                fprintf(f, " %s (%s)", str(c, "location"), str(c, "match"));
        if (json_object_get(c, "share"))
                fprintf(f, " weight %lld share %.1f%%",
                        (long long)json_integer_value(json_object_get(c, "weight")),
                        100.0 * json_number_value(json_object_get(c, "share")));
        if (json_object_get(c, "failover"))
                fprintf(f, " %s", str(c, "failover"));
        if (json_object_get(c, "distance_km"))
                fprintf(f, " %.1f km (%.1f km, bias %lld)",
                        json_number_value(json_object_get(c, "distance_km")),
                        json_number_value(json_object_get(c, "unbiased_km")),
                        (long long)json_integer_value(json_object_get(c, "bias")));
        else if (json_object_get(c, "bias"))
                fprintf(f, " bias %lld (client without coordinates)",
                        (long long)json_integer_value(json_object_get(c, "bias")));
        if (json_object_get(c, "rtt_ms")) {
                json_t *rtt = json_object_get(c, "rtt_ms");
                if (json_is_number(rtt))
                        fprintf(f, " rtt %.3f ms", json_number_value(rtt));
                else if (json_object_get(c, "region_distance_km"))
                        fprintf(
                            f, " no rtt, region %.1f km away",
                            json_number_value(json_object_get(c, "region_distance_km")));
                else
                        fprintf(f, " no rtt");
        }
        if (json_is_true(json_object_get(c, "cidr_default")))
                fprintf(f, " cidr *");
        else if (json_object_get(c, "cidr_default")) {
                json_t *len = json_object_get(c, "matched_prefix");
                if (json_is_integer(len))
                        fprintf(f, " cidr match /%lld",
                                (long long)json_integer_value(len));
                else
                        fprintf(f, " cidr no match");
        }
        if (json_object_get(c, "alias_target"))
                fprintf(f, " -> %s", str(c, "alias_target"));
        size_t i;
        json_t *v;
        const char *sep = " = ";
        json_array_foreach(json_object_get(c, "records"), i, v)
        {
                fprintf(f, "%s%s", sep, json_string_value(v));
                sep = ", ";
        }
        if (json_object_get(c, "health_check_id"))
                fprintf(f, " [check %s]", str(c, "health_check_id"));
        fputc('\n', f);
}

static void print_why(FILE *f, const json_t *e)
{
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(e, "decisions"), i, g)
        {
                long long depth =
                    (long long)json_integer_value(json_object_get(g, "depth"));
                fprintf(f, "  %*s%s %s: %s", (int)(2 * depth), "", str(g, "type"),
                        str(g, "policy"), str(g, "outcome"));
                if (json_is_true(json_object_get(g, "depends_on_location")))
                        fprintf(
                            f, ", by the client's network (scope /%lld)",
                            (long long)json_integer_value(json_object_get(g, "scope")));
                fputc('\n', f);
                size_t k;
                json_t *c;
                json_array_foreach(json_object_get(g, "candidates"), k, c)
                    print_candidate(f, c);
        }
}

static void print_explain(struct quorumctl_ctx *ctx, const json_t *answer)
{
        static const char *const headers[] = {"NODE", "GEOIP", "CLIENT AT", "DECISION",
                                              "ANSWER"};
        struct quorumctl_table t;
        quorumctl_table_init(&t, 5, headers);
        size_t i;
        json_t *node;
        const json_t *nodes = json_object_get(answer, "nodes");
        json_array_foreach(nodes, i, node)
        {
                const json_t *e = json_object_get(node, "explain");
                char *cells[5] = {strdup(str(node, "name")), NULL, NULL, NULL, NULL};
                if (json_is_object(e) && json_object_get(e, "error") != NULL) {
                        cells[3] = strdup(str(e, "decision"));
                        cells[4] = strdup(str(json_object_get(e, "error"), "message"));
                } else if (json_is_object(e)) {
                        cells[1] = geoip_cell(e);
                        cells[2] = location_cell(e);
                        cells[3] = strdup(str(e, "decision"));
                        cells[4] = answer_cell(e);
                } else {
                        cells[3] = strdup("(unreachable)");
                }
                quorumctl_table_add(&t, (const char *const *)cells);
                for (size_t c = 0; c < 5; c++)
                        free(cells[c]);
        }
        quorumctl_table_print(&t, ctx->out);
        quorumctl_table_free(&t);
        if (!json_is_true(json_object_get(answer, "consistent"))) {
                fputs("nodes disagree:", ctx->out);
                json_t *d;
                json_array_foreach(json_object_get(answer, "decisions"), i, d)
                {
                        fprintf(ctx->out, "%s", i ? ";" : "");
                        size_t k;
                        json_t *name;
                        json_array_foreach(json_object_get(d, "nodes"), k, name) fprintf(
                            ctx->out, "%s%s", k ? ", " : " ", json_string_value(name));
                        fprintf(ctx->out, " decide \"%s\"", str(d, "decision"));
                }
                fputc('\n', ctx->out);
        }
        /* Why, once for each distinct decision. */
        json_t *seen = json_object();
        json_array_foreach(nodes, i, node)
        {
                const json_t *e = json_object_get(node, "explain");
                const char *d = str(e, "decision");
                if (!json_is_object(e) || json_object_get(e, "error") != NULL ||
                    json_object_get(seen, d) != NULL)
                        continue;
                json_object_set_new(seen, d, json_true());
                fprintf(ctx->out, "\nwhy (%s", str(node, "name"));
                size_t k;
                json_t *other;
                json_array_foreach(nodes, k, other)
                {
                        if (k > i &&
                            strcmp(str(json_object_get(other, "explain"), "decision"),
                                   d) == 0)
                                fprintf(ctx->out, ", %s", str(other, "name"));
                }
                const json_t *client = json_object_get(e, "client");
                fprintf(
                    ctx->out, "): client located by %s%s\n",
                    *str(client, "located_by") ? str(client, "located_by") : "nothing",
                    json_is_true(json_object_get(client, "ecs_used")) ? " (ECS)" : "");
                print_why(ctx->out, e);
        }
        json_decref(seen);
}

int quorumctl_record_explain(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        const char *zone = args->pos[0];
        char *name = quorumctl_record_name_resolve(zone, args->pos[1]);
        char *query = NULL, *base = NULL, *path = NULL;
        json_t *answer = NULL;
        int code = QUORUMCTL_EXIT_UNAVAILABLE;
        const char *type = args->npos > 2 ? args->pos[2] : "A";
        const char *client = quorumctl_args_get(args, "client");
        const char *resolver = quorumctl_args_get(args, "resolver");
        if (name == NULL || add_param(&query, "name", name) != 0 ||
            add_param(&query, "type", type) != 0 ||
            (client != NULL && add_param(&query, "client", client) != 0) ||
            (resolver != NULL && add_param(&query, "resolver", resolver) != 0))
                goto out;
        base = quorumctl_client_zone_path(zone, "/explain");
        if (base == NULL || asprintf(&path, "%s%s", base, query) < 0)
                goto out;
        code = quorumctl_client_call(ctx, "GET", path, NULL, &answer);
        if (code == QUORUMCTL_EXIT_OK) {
                if (ctx->json || !json_is_object(answer))
                        quorumctl_client_print_json(ctx, answer);
                else
                        print_explain(ctx, answer);
        }
out:
        json_decref(answer);
        free(name);
        free(query);
        free(base);
        free(path);
        return code;
}
