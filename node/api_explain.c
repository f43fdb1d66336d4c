/*
 * api_explain.c — GET /v1/zones/{zone}/explain?name=&type=&client=
 * [&resolver=][&node=self]: what the nodes answer a client, and why.
 *
 * The query is built as a resolver sends it: a client address is the
 * query's source, without ECS; a client subnet is an ECS option, sent from
 * `resolver` (default: a resolver the node trusts).  It is located with the
 * node's own ECS settings (dns_query_locate) and answered by
 * dns_answer_explain() from the catalog the DNS listeners read, on the
 * loop that publishes it (so nothing changes under it): the query path's
 * own code, with routing writing down each decision in a struct
 * dns_route_why (dns/route.h).  That is rendered here: the client's place
 * in this node's GeoIP database, each group's policy and outcome, every
 * candidate set's health and standing (match, distance and bias, share,
 * role), the sets chosen, the ECS scope and the answer itself.
 *
 * Without node=self the node asks every member for its node=self view
 * (node/api_fanout.h) and says whether their decisions agree: the
 * "decision" string leaves out what is random by design (which weighted or
 * multivalue set this one query drew), so only real differences count.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/answer.h"
#include "dns/route.h"
#include "dns/rrl.h"
#include "dns/text.h"
#include "node/api.h"
#include "node/api_fanout.h"
#include "node/config.h"
#include "node/geoip.h"

#define DEGREES (180.0 / 3.14159265358979323846)

static const char *const policy_names[DNS_WHY_POLICY_COUNT] = {
    [DNS_WHY_SIMPLE] = "simple",           [DNS_WHY_WEIGHTED] = "weighted",
    [DNS_WHY_FAILOVER] = "failover",       [DNS_WHY_MULTIVALUE] = "multivalue",
    [DNS_WHY_GEOLOCATION] = "geolocation", [DNS_WHY_GEOPROXIMITY] = "geoproximity",
    [DNS_WHY_LATENCY] = "latency",         [DNS_WHY_CIDR] = "ip-based",
};

static const char *const outcome_names[] = {
    [DNS_WHY_CHOSEN] = "chosen",     [DNS_WHY_FAIL_OPEN] = "fail_open",
    [DNS_WHY_NODATA] = "nodata",     [DNS_WHY_DEAD_END] = "alias_dead_end",
    [DNS_WHY_TOO_DEEP] = "too_deep",
};

static const char *const health_names[] = {
    [DNS_WHY_NO_CHECK] = "no_check",
    [DNS_WHY_HEALTHY] = "healthy",
    [DNS_WHY_UNHEALTHY] = "unhealthy",
    [DNS_WHY_TARGET_UNHEALTHY] = "target_unhealthy",
};

static const char *const match_names[] = {"none", "default", "continent", "country",
                                          "subdivision"};

static const char *const rcode_names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                          "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                          "NXRRSET", "NOTAUTH", "NOTZONE"};

/* A parsed request. */
struct explain_req {
        uint8_t origin[DNS_NAME_MAXLEN + 1];
        uint8_t qname[DNS_NAME_MAXLEN + 1];
        uint16_t qtype;
        bool has_client, ecs, has_resolver;
        struct dns_net client;
        struct dns_client_addr resolver;
};

static bool random_policy(unsigned policy)
{
        return policy == DNS_WHY_WEIGHTED || policy == DNS_WHY_MULTIVALUE;
}

static void net_text(const struct dns_net *net, char *out, size_t size)
{
        char addr[INET6_ADDRSTRLEN] = "";
        inet_ntop(net->family, net->bytes, addr, sizeof(addr));
        snprintf(out, size, "%s/%u", addr, net->prefix);
}

/* 0, or -1 after answering 400 naming the field. */
static int parse_request(struct node_api *api, struct node_http_request *r,
                         struct explain_req *q)
{
        memset(q, 0, sizeof(*q));
        if (node_api_zone_or_404(api, r, q->origin) == NULL)
                return -1;
        const char *name = node_http_query(r, "name");
        const char *type = node_http_query(r, "type");
        const char *client = node_http_query(r, "client");
        const char *resolver = node_http_query(r, "resolver");
        char err[256];
        if (name == NULL || *name == '\0') {
                node_http_reply_error(r, 400, "InvalidInput", "name",
                                      "name: the name to explain is missing");
                return -1;
        }
        if (dns_name_parse_text(name, q->qname, err, sizeof(err)) != 0) {
                node_http_reply_error(r, 400, "InvalidInput", "name", "name: %s", err);
                return -1;
        }
        dns_name_lower(q->qname);
        if (!dns_name_in_zone(q->qname, q->origin)) {
                node_http_reply_error(r, 400, "InvalidInput", "name",
                                      "name: %s is not in zone %s", name, r->param[0]);
                return -1;
        }
        q->qtype = 1; /* A */
        if (type != NULL && dns_type_from_text(type, &q->qtype) != 0) {
                node_http_reply_error(r, 400, "InvalidInput", "type",
                                      "type: '%.40s' is not a record type", type);
                return -1;
        }
        if (client != NULL && *client != '\0') {
                if (dns_net_parse(client, &q->client) != 0) {
                        node_http_reply_error(
                            r, 400, "InvalidInput", "client",
                            "client: '%.80s' is not an address or a subnet (ADDR/LEN)",
                            client);
                        return -1;
                }
                q->has_client = true;
                q->ecs = strchr(client, '/') != NULL;
        }
        if (resolver != NULL && *resolver != '\0') {
                struct dns_net net;
                if (dns_net_parse(resolver, &net) != 0 || strchr(resolver, '/') != NULL) {
                        node_http_reply_error(r, 400, "InvalidInput", "resolver",
                                              "resolver: '%.80s' is not an address",
                                              resolver);
                        return -1;
                }
                q->has_resolver = true;
                q->resolver.family = net.family;
                q->resolver.len = net.family == AF_INET ? 4 : 16;
                memcpy(q->resolver.bytes, net.bytes, q->resolver.len);
        }
        return 0;
}

/* The query a resolver would send: no RD, EDNS, and ECS for a subnet. */
static size_t build_query(const struct explain_req *q, uint8_t *buf)
{
        static const uint8_t header[12] = {0x51, 0x44, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
        size_t n = 0;
        memcpy(buf, header, sizeof(header));
        n += sizeof(header);
        int len = dns_name_wire_len(q->qname, DNS_NAME_MAXLEN + 1);
        memcpy(buf + n, q->qname, (size_t)len);
        n += (size_t)len;
        const uint8_t tail[4] = {(uint8_t)(q->qtype >> 8), (uint8_t)q->qtype, 0, 1};
        memcpy(buf + n, tail, 4);
        n += 4;
        unsigned addr_len = q->ecs ? (q->client.prefix + 7u) / 8u : 0;
        unsigned rdlen = q->ecs ? 8 + addr_len : 0;
        const uint8_t opt[11] = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, (uint8_t)rdlen};
        memcpy(buf + n, opt, sizeof(opt));
        n += sizeof(opt);
        if (q->ecs) {
                const uint8_t ecs[8] = {0,
                                        DNS_EDNS_ECS,
                                        0,
                                        (uint8_t)(4 + addr_len),
                                        0,
                                        q->client.family == AF_INET ? DNS_ECS_FAMILY_IPV4
                                                                    : DNS_ECS_FAMILY_IPV6,
                                        q->client.prefix,
                                        0};
                memcpy(buf + n, ecs, sizeof(ecs));
                n += sizeof(ecs);
                memcpy(buf + n, q->client.bytes, addr_len);
                n += addr_len;
        }
        return n;
}

/* The records of a set (or an alias's target) as text. */
static void put_records(json_t *o, const struct dns_rrsets *sets,
                        const struct dns_rrset_info *info)
{
        if (dns_rrset_route_flags(info) & DNS_ROUTE_ALIAS) {
                const uint8_t *rr = dns_rrset_next(sets, info, NULL);
                char name[DNS_NAME_MAXLEN * 4 + 2] = "";
                if (rr != NULL &&
                    dns_name_wire_len(dns_rr_rdata(rr), dns_rr_rdlen(rr)) > 0)
                        dns_name_to_text(dns_rr_rdata(rr), name, sizeof(name));
                json_object_set_new(o, "alias_target", json_string(name));
                return;
        }
        json_t *records = json_array();
        for (const uint8_t *rr = dns_rrset_next(sets, info, NULL); rr != NULL;
             rr = dns_rrset_next(sets, info, rr)) {
                char *text =
                    dns_rdata_to_text(info->type, dns_rr_rdata(rr), dns_rr_rdlen(rr));
                json_array_append_new(records, json_string(text ? text : "?"));
                free(text);
        }
        json_object_set_new(o, "records", records);
}

/* v rounded to `digits` decimals, as the nearest double to that decimal. */
static json_t *rounded(double v, int digits)
{
        double scale = digits == 1 ? 10.0 : 10000.0;
        return json_real(round(v * scale) / scale);
}

/* A candidate's standing by its policy's measure. */
static void put_measure(json_t *o, const struct dns_rrsets *sets,
                        const struct dns_why_candidate *c, unsigned policy)
{
        if (policy == DNS_WHY_GEOPROXIMITY) {
                /* The set's place and bias, back from what the blob keeps. */
                struct dns_prox p = dns_rrset_prox(sets, c->info);
                double lat = asin(p.z > 1 ? 1 : p.z < -1 ? -1 : p.z) * DEGREES;
                double lon = atan2(p.y, p.x) * DEGREES;
                /* bias b > 0: factor 1 - b/100; b < 0: factor 1 / (1 + b/100) */
                double bias = p.factor <= 1.0 ? 100.0 * (1.0 - p.factor)
                                              : 100.0 * (1.0 / p.factor - 1.0);
                json_object_set_new(o, "coordinates",
                                    json_pack("{s:o, s:o}", "latitude", rounded(lat, 4),
                                              "longitude", rounded(lon, 4)));
                json_object_set_new(
                    o, "bias",
                    json_integer((json_int_t)(bias + (bias >= 0 ? 0.5 : -0.5))));
        }
        switch (c->measure) {
        case DNS_WHY_SHARE:
                json_object_set_new(o, "weight", json_integer((json_int_t)c->raw));
                json_object_set_new(o, "share", rounded(c->value, 4));
                break;
        case DNS_WHY_ROLE:
                json_object_set_new(o, "failover",
                                    json_string(c->value == 1   ? "PRIMARY"
                                                : c->value == 2 ? "SECONDARY"
                                                                : "NONE"));
                break;
        case DNS_WHY_MATCH: {
                char key[8];
                dns_geo_key_text(c->info->location, key);
                unsigned rank = (unsigned)c->value;
                json_object_set_new(o, "location", json_string(key));
                json_object_set_new(o, "match",
                                    json_string(match_names[rank < 5 ? rank : 0]));
                break;
        }
        case DNS_WHY_DISTANCE:
                json_object_set_new(o, "distance_km", rounded(c->value, 1));
                json_object_set_new(o, "unbiased_km", rounded(c->raw, 1));
                break;
        case DNS_WHY_RTT:
                json_object_set_new(o, "rtt_ms",
                                    c->value > 0 ? rounded(c->value, 4) : json_null());
                if (c->raw > 0)
                        json_object_set_new(o, "region_distance_km", rounded(c->raw, 1));
                break;
        case DNS_WHY_PREFIX:
                json_object_set_new(o, "cidr_default", json_boolean(c->raw != 0));
                json_object_set_new(o, "matched_prefix",
                                    c->value >= 0 ? json_integer((json_int_t)c->value)
                                                  : json_null());
                break;
        default:
                break;
        }
}

static const char *set_name(struct node_api *api, const struct dns_rrset_info *info)
{
        const struct node_cluster *c = api->cluster;
        if (info->set_id >= 1 && info->set_id <= c->set_id_count)
                return c->set_ids[info->set_id - 1];
        return "";
}

/* One group's decision as JSON, and its line in the node's decision. */
static json_t *group_json(struct node_api *api, const struct dns_route_why *why,
                          const struct dns_why_group *g, char *line, size_t size)
{
        char type[16];
        dns_type_to_text(g->type, type, sizeof(type));
        json_t *o =
            json_pack("{s:s, s:i, s:s, s:s, s:b}", "type", type, "depth", g->depth,
                      "policy", policy_names[g->policy], "outcome",
                      outcome_names[g->outcome], "depends_on_location", g->by_location);
        if (g->by_location)
                json_object_set_new(o, "scope", json_integer(g->scope));
        if (g->budget_spent)
                json_object_set_new(o, "alias_budget_spent", json_true());
        json_t *cands = json_array();
        size_t used =
            (size_t)snprintf(line, size, "%s%s %s", g->depth ? "-> " : "",
                             policy_names[g->policy], outcome_names[g->outcome]);
        const char *sep = ": ";
        for (unsigned k = 0; k < g->count; k++) {
                const struct dns_why_candidate *c = &why->cand[g->first + k];
                const char *sid = set_name(api, c->info);
                json_t *item =
                    json_pack("{s:s, s:b, s:s}", "set_identifier", sid, "chosen",
                              c->chosen, "health", health_names[c->health]);
                uint32_t check = dns_rrset_health(c->info);
                const char *check_id = node_cluster_health_id(api->cluster, check);
                if (check_id != NULL)
                        json_object_set_new(item, "health_check_id",
                                            json_string(check_id));
                put_measure(item, g->sets, c, g->policy);
                put_records(item, g->sets, c->info);
                json_array_append_new(cands, item);
                /* Random policies: the sets that could be drawn, with their
                 * chances; the others: the sets chosen. */
                bool listed =
                    random_policy(g->policy)
                        ? (c->measure == DNS_WHY_SHARE
                               ? c->value > 0
                               : c->health < 2 || g->outcome == DNS_WHY_FAIL_OPEN)
                        : c->chosen;
                if (!listed || used >= size)
                        continue;
                if (c->measure == DNS_WHY_SHARE)
                        used += (size_t)snprintf(line + used, size - used, "%s%s %.0f%%",
                                                 sep, sid, c->value * 100.0);
                else
                        used +=
                            (size_t)snprintf(line + used, size - used, "%s%s", sep, sid);
                sep = ", ";
        }
        if (g->by_location && used < size)
                snprintf(line + used, size - used, " /%u", g->scope);
        json_object_set_new(o, "candidates", cands);
        if (g->dropped)
                json_object_set_new(o, "candidates_not_shown", json_integer(g->dropped));
        return o;
}

static json_t *place_json(const struct explain_req *q, const struct dns_route_why *why)
{
        if (!why->has_geo)
                return json_null();
        if (!why->placed)
                return json_pack("{s:b}", "found", 0);
        const struct dns_geo_place *p = &why->place;
        json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:i}", "found", 1, "continent",
                              p->continent, "country", p->country, "subdivision",
                              p->subdivision, "prefix", p->prefix);
        if (q->has_client) {
                struct dns_net net = q->client;
                unsigned bits = net.family == AF_INET ? 32 : 128;
                net.prefix = p->prefix < bits ? p->prefix : (uint8_t)bits;
                for (unsigned i = 0; i < bits / 8; i++) {
                        unsigned keep = net.prefix > 8 * i ? net.prefix - 8 * i : 0;
                        if (keep < 8)
                                net.bytes[i] &= (uint8_t)(0xff00u >> keep);
                }
                char text[64];
                net_text(&net, text, sizeof(text));
                json_object_set_new(o, "network", json_string(text));
        }
        if (p->has_coordinates) {
                json_object_set_new(o, "latitude", rounded(p->latitude, 4));
                json_object_set_new(o, "longitude", rounded(p->longitude, 4));
        }
        return o;
}

/* This node's answer and its reasons (a new object; NULL without memory). */
static json_t *explain_self(struct node_api *api, const struct explain_req *q)
{
        uint8_t wire[DNS_NAME_MAXLEN + 64];
        size_t len = build_query(q, wire);
        struct dns_query query;
        enum dns_parse_status st = dns_query_parse(&query, wire, len);
        struct dns_ecs_config ecs = api->cfg->ecs;
        if (q->ecs && !q->has_resolver)
                ecs.trusted_count = 0; /* from a resolver it trusts */
        const struct dns_client_addr *peer = NULL;
        struct dns_client_addr source = {0};
        if (q->has_client && !q->ecs) {
                source.family = q->client.family;
                source.len = q->client.family == AF_INET ? 4 : 16;
                memcpy(source.bytes, q->client.bytes, source.len);
                peer = &source;
        } else if (q->has_resolver) {
                peer = &q->resolver;
        }
        if (st == DNS_PARSE_OK)
                dns_query_locate(&query, peer, &ecs);
        struct dns_route_why *why = calloc(1, sizeof(*why));
        uint8_t *out = malloc(DNS_TCP_MAX);
        if (why == NULL || out == NULL) {
                free(why);
                free(out);
                return NULL;
        }
        const struct dns_catalog *cat = dns_db_current(api->cluster->db);
        size_t n = dns_answer_explain(cat, &query, st, out, why);

        json_t *o = json_object();
        json_object_set_new(o, "catalog_version", json_integer((json_int_t)cat->version));
        if (cat->health != NULL)
                json_object_set_new(o, "health_version",
                                    json_integer((json_int_t)cat->health->version));
        json_t *geoip = node_geoip_json(api->geoip);
        json_t *db = json_object();
        json_object_set(db, "database_type", json_object_get(geoip, "database_type"));
        json_object_set(db, "build_epoch", json_object_get(geoip, "build_epoch"));
        json_object_set_new(o, "geoip", json_is_object(geoip) ? db : json_null());
        if (!json_is_object(geoip))
                json_decref(db);
        json_decref(geoip);

        json_t *client = json_object();
        if (q->has_client) {
                char text[64];
                net_text(&q->client, text, sizeof(text));
                json_object_set_new(client, q->ecs ? "ecs" : "address",
                                    json_string(text));
        }
        json_object_set_new(client, "ecs_used", json_boolean(query.loc.from_ecs));
        if (query.loc.net.family != 0) {
                char text[64];
                net_text(&query.loc.net, text, sizeof(text));
                json_object_set_new(client, "located_by", json_string(text));
        }
        json_object_set_new(o, "client", client);
        json_object_set_new(o, "location", place_json(q, why));

        json_t *groups = json_array();
        char decision[1024] = "";
        size_t used = 0;
        for (unsigned i = 0; i < why->ngroups; i++) {
                char line[512];
                json_array_append_new(
                    groups, group_json(api, why, &why->group[i], line, sizeof(line)));
                if (used < sizeof(decision))
                        used += (size_t)snprintf(decision + used, sizeof(decision) - used,
                                                 "%s%s", i ? " " : "", line);
        }
        json_object_set_new(o, "decisions", groups);

        unsigned rcode = n >= 4 ? out[3] & 0xf : 2;
        json_object_set_new(o, "rcode",
                            json_string(rcode < 11 ? rcode_names[rcode] : "?"));
        json_object_set_new(o, "ecs_scope",
                            query.loc.from_ecs ? json_integer(query.ecs_scope)
                                               : json_null());
        json_t *answer = json_array();
        char *text = n > 0 ? dns_message_section_text(out, n, 0) : NULL;
        for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
                next = strchr(line, '\n');
                if (next != NULL)
                        *next++ = '\0';
                for (char *t = line; *t; t++)
                        if (*t == '\t')
                                *t = ' ';
                json_array_append_new(answer, json_string(line));
        }
        free(text);
        json_object_set_new(o, "answer", answer);
        if (decision[0] == '\0')
                snprintf(decision, sizeof(decision), "no routing (%s)",
                         rcode < 11 ? rcode_names[rcode] : "?");
        char scope[24] = "";
        if (query.loc.from_ecs)
                snprintf(scope, sizeof(scope), " scope /%u", query.ecs_scope);
        char full[1200];
        snprintf(full, sizeof(full), "%s%s %s", decision, scope,
                 rcode < 11 ? rcode_names[rcode] : "?");
        json_object_set_new(o, "decision", json_string(full));
        free(why);
        free(out);
        return o;
}

/* ---- every member's ------------------------------------------------------------ */

struct cluster_ctx {
        struct explain_req q;
};

static json_t *fan_self(struct node_api *api, void *ctx)
{
        struct cluster_ctx *x = ctx;
        return explain_self(api, &x->q);
}

/* A member's view; one that refused (a zone it does not have yet, say)
 * answered all the same: its error is its decision. */
static json_t *fan_member(int status, json_t *body, void *ctx)
{
        (void)ctx;
        if (!json_is_object(body))
                return NULL;
        json_t *node = json_object_get(body, "explain");
        if (status == 200 && json_is_object(node))
                return json_incref(node);
        json_t *error = json_object_get(body, "error");
        if (!json_is_object(error))
                return NULL;
        const char *code = json_string_value(json_object_get(error, "code"));
        char decision[96];
        snprintf(decision, sizeof(decision), "error: %s", code ? code : "?");
        return json_pack("{s:O, s:s}", "error", error, "decision", decision);
}

/* Groups the reachable nodes by decision; consistent when there is one. */
static void fan_finish(struct node_http_request *r, json_t *nodes, void *ctx)
{
        free(ctx);
        json_t *groups = json_object(); /* decision -> [node names] */
        size_t i;
        json_t *item;
        json_array_foreach(nodes, i, item)
        {
                json_t *e = json_object_get(item, "explain");
                const char *d = json_string_value(json_object_get(e, "decision"));
                if (d == NULL)
                        continue;
                json_t *names = json_object_get(groups, d);
                if (names == NULL) {
                        names = json_array();
                        json_object_set_new(groups, d, names);
                }
                json_array_append(names, json_object_get(item, "name"));
        }
        json_t *differences = json_array();
        const char *d;
        json_t *names;
        json_object_foreach(groups, d, names)
        {
                json_array_append_new(
                    differences, json_pack("{s:s, s:O}", "decision", d, "nodes", names));
        }
        bool consistent = json_object_size(groups) <= 1;
        json_decref(groups);
        json_t *body = json_pack("{s:O, s:b}", "nodes", nodes, "consistent", consistent);
        if (!consistent)
                json_object_set_new(body, "decisions", differences);
        else
                json_decref(differences);
        node_http_reply_json(r, 200, body);
}

void node_api_zone_explain(struct node_http_request *r, void *ctx)
{
        struct node_api *api = ctx;
        struct explain_req q;
        if (parse_request(api, r, &q) != 0)
                return;
        const char *only = node_http_query(r, "node");
        if (only != NULL && strcmp(only, "self") != 0) {
                node_http_reply_error(r, 400, "InvalidInput", "node",
                                      "node: 'self' or nothing (every member)");
                return;
        }
        if (only != NULL) {
                json_t *e = explain_self(api, &q);
                if (e == NULL) {
                        node_http_reply_error(r, 500, "InternalError", NULL,
                                              "out of memory");
                        return;
                }
                node_http_reply_json(r, 200,
                                     json_pack("{s:I, s:s, s:o}", "id",
                                               (json_int_t)api->cfg->node_id, "name",
                                               api->cfg->node_name, "explain", e));
                return;
        }
        struct cluster_ctx *x = malloc(sizeof(*x));
        char *target = NULL;
        if (x == NULL || asprintf(&target, "%s&node=self", r->target) < 0) {
                free(x);
                node_http_reply_error(r, 500, "InternalError", NULL, "out of memory");
                return;
        }
        x->q = q;
        struct node_api_fanout spec = {.target = target,
                                       .key = "explain",
                                       .timeout_ms = 3000,
                                       .relay = true,
                                       .self = fan_self,
                                       .member = fan_member,
                                       .finish = fan_finish,
                                       .ctx = x};
        node_api_fanout(api, r, &spec);
        free(target);
}
