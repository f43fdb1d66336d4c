/*
 * check.c — health-check definitions: defaults, deep copies and validation.
 *
 * Validation walks every field once and appends a problem (field name and
 * message) for each rule broken, so that the API can answer one 400 listing
 * all of them.  Fields that do not apply to a type must be left unset: a
 * search string on a TCP check, or a resource path on a CALCULATED one, is
 * reported rather than ignored, because it means the operator expects
 * something the check will not do.  Strings that end up in an HTTP request
 * (path, host name) are restricted to printable ASCII without spaces, so a
 * definition cannot inject headers.
 */
#include "health/check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[HEALTH_CHECK_TYPE_COUNT] = {
    [HEALTH_CHECK_HTTP] = "HTTP",
    [HEALTH_CHECK_HTTPS] = "HTTPS",
    [HEALTH_CHECK_HTTP_STR_MATCH] = "HTTP_STR_MATCH",
    [HEALTH_CHECK_HTTPS_STR_MATCH] = "HTTPS_STR_MATCH",
    [HEALTH_CHECK_TCP] = "TCP",
    [HEALTH_CHECK_CALCULATED] = "CALCULATED",
    [HEALTH_CHECK_MANUAL] = "MANUAL",
    [HEALTH_CHECK_HEARTBEAT] = "HEARTBEAT",
};

const char *health_check_type_name(enum health_check_type type)
{
        if ((unsigned)type >= HEALTH_CHECK_TYPE_COUNT)
                return NULL;
        return type_names[type];
}

int health_check_type_parse(const char *name, enum health_check_type *out)
{
        for (unsigned i = 0; name && i < HEALTH_CHECK_TYPE_COUNT; i++) {
                if (strcmp(name, type_names[i]) == 0) {
                        *out = (enum health_check_type)i;
                        return 0;
                }
        }
        return -EINVAL;
}

bool health_check_type_probed(enum health_check_type type)
{
        return type <= HEALTH_CHECK_TCP;
}

bool health_check_type_https(enum health_check_type type)
{
        return type == HEALTH_CHECK_HTTPS || type == HEALTH_CHECK_HTTPS_STR_MATCH;
}

bool health_check_type_match(enum health_check_type type)
{
        return type == HEALTH_CHECK_HTTP_STR_MATCH ||
               type == HEALTH_CHECK_HTTPS_STR_MATCH;
}

static bool type_http(enum health_check_type type)
{
        return type <= HEALTH_CHECK_HTTPS_STR_MATCH;
}

uint16_t health_check_port(const struct health_check_config *cfg)
{
        if (cfg->port != 0)
                return cfg->port;
        return health_check_type_https(cfg->type) ? 443 : 80;
}

void health_check_config_init(struct health_check_config *cfg,
                              enum health_check_type type)
{
        memset(cfg, 0, sizeof(*cfg));
        cfg->type = type;
        cfg->request_interval = HEALTH_INTERVAL_DEFAULT;
        cfg->failure_threshold = HEALTH_THRESHOLD_DEFAULT;
        cfg->enable_sni = health_check_type_https(type); /* Route 53's default */
        cfg->status_min = 200;
        cfg->status_max = 399;
        cfg->aggregation_percent = HEALTH_PERCENT_DEFAULT;
        cfg->vote_freshness = HEALTH_FRESHNESS_DEFAULT;
        if (type == HEALTH_CHECK_HEARTBEAT)
                cfg->heartbeat_ttl = HEALTH_HEARTBEAT_TTL_DEFAULT;
}

void health_check_config_free(struct health_check_config *cfg)
{
        free(cfg->ip_address);
        free(cfg->resource_path);
        free(cfg->fqdn);
        free(cfg->search_string);
        free(cfg->children);
        for (size_t i = 0; i < cfg->checker_count; i++)
                free(cfg->checkers[i]);
        free(cfg->checkers);
        health_check_config_init(cfg, HEALTH_CHECK_HTTP);
}

int health_check_config_set_string(char **field, const char *text)
{
        char *copy = NULL;
        if (text && !(copy = strdup(text)))
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

int health_check_config_copy(struct health_check_config *dst,
                             const struct health_check_config *src)
{
        *dst = *src;
        dst->ip_address = dst->resource_path = dst->fqdn = dst->search_string = NULL;
        dst->children = NULL;
        dst->checkers = NULL;
        dst->child_count = dst->checker_count = 0;
        if (health_check_config_set_string(&dst->ip_address, src->ip_address) ||
            health_check_config_set_string(&dst->resource_path, src->resource_path) ||
            health_check_config_set_string(&dst->fqdn, src->fqdn) ||
            health_check_config_set_string(&dst->search_string, src->search_string))
                goto nomem;
        if (src->child_count) {
                dst->children = malloc(src->child_count * sizeof(*dst->children));
                if (!dst->children)
                        goto nomem;
                memcpy(dst->children, src->children,
                       src->child_count * sizeof(*dst->children));
                dst->child_count = src->child_count;
        }
        if (src->checker_count) {
                dst->checkers = calloc(src->checker_count, sizeof(*dst->checkers));
                if (!dst->checkers)
                        goto nomem;
                for (size_t i = 0; i < src->checker_count; i++) {
                        dst->checker_count = i + 1;
                        if (!(dst->checkers[i] = strdup(src->checkers[i])))
                                goto nomem;
                }
        }
        return 0;
nomem:
        health_check_config_free(dst);
        return -ENOMEM;
}

bool health_check_probed_by(const struct health_check_config *cfg, const char *node_name,
                            const char *region)
{
        if (cfg->checker_count == 0)
                return true;
        for (size_t i = 0; i < cfg->checker_count; i++) {
                if (node_name && strcmp(cfg->checkers[i], node_name) == 0)
                        return true;
                if (region && strcmp(cfg->checkers[i], region) == 0)
                        return true;
        }
        return false;
}

/* ------------------------------------------------------------ validation */

static void problem(struct health_problems *p, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct health_problems *p, const char *field, const char *fmt, ...)
{
        if (p->count == HEALTH_PROBLEMS_MAX) {
                p->truncated = true;
                return;
        }
        struct health_problem *pr = &p->list[p->count++];
        pr->field = field;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(pr->message, sizeof(pr->message), fmt, ap);
        va_end(ap);
}

/* Printable ASCII without spaces: safe in a request line and a header. */
static bool printable(const char *s)
{
        for (; *s; s++) {
                if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
                        return false;
        }
        return true;
}

/* A host name: labels of letters, digits, '-' and '_', 1-63 bytes each. */
static bool hostname_ok(const char *s)
{
        size_t len = strlen(s), label = 0;
        if (len == 0 || len > HEALTH_FQDN_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (c == '.') {
                        if (label == 0)
                                return false;
                        label = 0;
                        continue;
                }
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_';
                if (!ok || ++label > 63)
                        return false;
        }
        return true;
}

static void validate_target(const struct health_check_config *c,
                            struct health_problems *p)
{
        bool http = type_http(c->type);
        if (!c->ip_address && !c->fqdn)
                problem(p, "ip_address",
                        "required unless fully_qualified_domain_name is set");
        if (c->ip_address) {
                unsigned char buf[16];
                if (inet_pton(AF_INET, c->ip_address, buf) != 1 &&
                    inet_pton(AF_INET6, c->ip_address, buf) != 1)
                        problem(p, "ip_address", "not an IPv4 or IPv6 address");
        }
        if (c->type == HEALTH_CHECK_TCP && c->port == 0)
                problem(p, "port", "required for TCP checks (1-65535)");
        if (c->fqdn && !hostname_ok(c->fqdn))
                problem(
                    p, "fully_qualified_domain_name",
                    "not a host name (letters, digits, '-', '_', dots; at most %d bytes)",
                    HEALTH_FQDN_MAX);
        if (c->resource_path) {
                if (!http)
                        problem(p, "resource_path",
                                "only HTTP and HTTPS checks have one");
                else if (c->resource_path[0] != '/')
                        problem(p, "resource_path", "must start with '/'");
                else if (strlen(c->resource_path) > HEALTH_PATH_MAX)
                        problem(p, "resource_path", "longer than %d bytes",
                                HEALTH_PATH_MAX);
                else if (!printable(c->resource_path))
                        problem(p, "resource_path",
                                "only printable ASCII without spaces is allowed");
        }
        if (health_check_type_match(c->type)) {
                size_t n = c->search_string ? strlen(c->search_string) : 0;
                if (n == 0)
                        problem(p, "search_string", "required for %s checks",
                                type_names[c->type]);
                else if (n > HEALTH_SEARCH_MAX)
                        problem(p, "search_string", "longer than %d bytes",
                                HEALTH_SEARCH_MAX);
        } else if (c->search_string) {
                problem(p, "search_string",
                        "only HTTP_STR_MATCH and HTTPS_STR_MATCH use one");
        }
        if (c->enable_sni && !health_check_type_https(c->type))
                problem(p, "enable_sni", "only HTTPS checks send SNI");
        if (c->verify_certificate && !health_check_type_https(c->type))
                problem(p, "verify_certificate", "only HTTPS checks have a certificate");
        if (http) {
                if (c->status_min < 100 || c->status_min > 599)
                        problem(p, "expected_status_min", "must be 100-599");
                if (c->status_max < 100 || c->status_max > 599)
                        problem(p, "expected_status_max", "must be 100-599");
                if (c->status_min > c->status_max)
                        problem(p, "expected_status_min",
                                "greater than expected_status_max (%u > %u)",
                                c->status_min, c->status_max);
        }
}

/* Fields of probed checks must be unset on the other types. */
static void validate_unprobed(const struct health_check_config *c,
                              struct health_problems *p)
{
        if (c->ip_address)
                problem(p, "ip_address", "%s checks have no endpoint",
                        type_names[c->type]);
        if (c->port)
                problem(p, "port", "%s checks have no endpoint", type_names[c->type]);
        if (c->fqdn)
                problem(p, "fully_qualified_domain_name", "%s checks have no endpoint",
                        type_names[c->type]);
        if (c->resource_path)
                problem(p, "resource_path", "only HTTP and HTTPS checks have one");
        if (c->search_string)
                problem(p, "search_string",
                        "only HTTP_STR_MATCH and HTTPS_STR_MATCH use one");
        if (c->enable_sni)
                problem(p, "enable_sni", "only HTTPS checks send SNI");
        if (c->verify_certificate)
                problem(p, "verify_certificate", "only HTTPS checks have a certificate");
        if (c->checker_count)
                problem(p, "regions", "%s checks are not probed by nodes",
                        type_names[c->type]);
}

static void validate_children(const struct health_check_config *c, uint64_t self,
                              struct health_problems *p)
{
        if (c->type != HEALTH_CHECK_CALCULATED) {
                if (c->child_count)
                        problem(p, "child_health_checks",
                                "only CALCULATED checks have children");
                if (c->health_threshold)
                        problem(p, "health_threshold", "only CALCULATED checks have one");
                return;
        }
        if (c->child_count > HEALTH_CHILDREN_MAX)
                problem(p, "child_health_checks", "more than %d children",
                        HEALTH_CHILDREN_MAX);
        if (c->health_threshold > HEALTH_CHILDREN_MAX)
                problem(p, "health_threshold", "must be 0-%d", HEALTH_CHILDREN_MAX);
        for (size_t i = 0; i < c->child_count; i++) {
                if (c->children[i] == self) {
                        problem(p, "child_health_checks",
                                "a check cannot be its own child");
                        break;
                }
        }
        for (size_t i = 0; i < c->child_count && i < HEALTH_CHILDREN_MAX; i++) {
                for (size_t j = 0; j < i; j++) {
                        if (c->children[i] == c->children[j]) {
                                problem(p, "child_health_checks",
                                        "child %llu is listed twice",
                                        (unsigned long long)c->children[i]);
                                return;
                        }
                }
        }
}

static void validate_checkers(const struct health_check_config *c,
                              struct health_problems *p)
{
        if (c->checker_count > HEALTH_CHECKERS_MAX) {
                problem(p, "regions", "more than %d entries", HEALTH_CHECKERS_MAX);
                return;
        }
        for (size_t i = 0; i < c->checker_count; i++) {
                const char *s = c->checkers[i];
                size_t n = s ? strlen(s) : 0;
                if (n == 0 || n > HEALTH_CHECKER_NAME_MAX || !printable(s)) {
                        problem(p, "regions",
                                "entry %zu is not a node or region name (1-%d printable "
                                "bytes)",
                                i, HEALTH_CHECKER_NAME_MAX);
                        return;
                }
                for (size_t j = 0; j < i; j++) {
                        if (strcmp(s, c->checkers[j]) == 0) {
                                problem(p, "regions", "'%.63s' is listed twice", s);
                                return;
                        }
                }
        }
}

size_t health_check_validate(const struct health_check_config *c, uint64_t self,
                             struct health_problems *p)
{
        memset(p, 0, sizeof(*p));
        if ((unsigned)c->type >= HEALTH_CHECK_TYPE_COUNT) {
                problem(p, "type",
                        "must be HTTP, HTTPS, HTTP_STR_MATCH, HTTPS_STR_MATCH, TCP, "
                        "CALCULATED, MANUAL or HEARTBEAT");
                return p->count;
        }
        if (health_check_type_probed(c->type))
                validate_target(c, p);
        else
                validate_unprobed(c, p);
        validate_children(c, self, p);
        validate_checkers(c, p);
        if (c->request_interval < HEALTH_INTERVAL_MIN ||
            c->request_interval > HEALTH_INTERVAL_MAX)
                problem(p, "request_interval", "must be %d-%d seconds",
                        HEALTH_INTERVAL_MIN, HEALTH_INTERVAL_MAX);
        if (c->failure_threshold < HEALTH_THRESHOLD_MIN ||
            c->failure_threshold > HEALTH_THRESHOLD_MAX)
                problem(p, "failure_threshold", "must be %d-%d", HEALTH_THRESHOLD_MIN,
                        HEALTH_THRESHOLD_MAX);
        if (c->aggregation_percent > HEALTH_PERCENT_MAX)
                problem(p, "aggregation_percent", "must be 0-%d", HEALTH_PERCENT_MAX);
        if (c->vote_freshness < 1 || c->vote_freshness > HEALTH_FRESHNESS_MAX)
                problem(p, "vote_freshness", "must be 1-%d intervals",
                        HEALTH_FRESHNESS_MAX);
        if (c->type == HEALTH_CHECK_HEARTBEAT) {
                if (c->heartbeat_ttl < 1 || c->heartbeat_ttl > HEALTH_HEARTBEAT_TTL_MAX)
                        problem(p, "heartbeat_ttl", "must be 1-%d seconds",
                                HEALTH_HEARTBEAT_TTL_MAX);
        } else if (c->heartbeat_ttl) {
                problem(p, "heartbeat_ttl", "only HEARTBEAT checks have one");
        }
        return p->count;
}
