/*
 * check.h — health-check definitions and their validation.
 *
 * A `struct health_check_config` is what an operator defines.  Its fields
 * map one to one onto Route 53's HealthCheckConfig; the JSON names (used in
 * validation problems, and meant for the API) are:
 *   type                        Type
 *   ip_address                  IPAddress
 *   port                        Port
 *   resource_path               ResourcePath
 *   fully_qualified_domain_name FullyQualifiedDomainName  (member fqdn)
 *   search_string               SearchString
 *   request_interval            RequestInterval (1-300 s here, not 10/30)
 *   failure_threshold           FailureThreshold
 *   inverted, disabled          Inverted, Disabled
 *   enable_sni                  EnableSNI (sent only when there is a name)
 *   health_threshold            HealthThreshold
 *   child_health_checks         ChildHealthChecks          (member children)
 *   regions                     Regions: node names or regions (member checkers)
 * and what quorumdns adds: verify_certificate, expected_status_min and
 * expected_status_max (status_min/max), aggregation_percent,
 * vote_freshness, heartbeat_ttl, and the MANUAL and HEARTBEAT types.  The
 * API layer (node/) turns JSON into this struct and back; this module never
 * sees JSON.
 *
 * Strings and arrays in a config are owned by it (heap): health_check_config_copy
 * makes a deep copy, health_check_config_free releases one.  Validation
 * reports every problem at once, each with the name of the field (the JSON
 * name the API uses), so a 400 answer can list them all.
 */
#ifndef HEALTH_CHECK_H
#define HEALTH_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum health_check_type {
        HEALTH_CHECK_HTTP = 0,
        HEALTH_CHECK_HTTPS,
        HEALTH_CHECK_HTTP_STR_MATCH,
        HEALTH_CHECK_HTTPS_STR_MATCH,
        HEALTH_CHECK_TCP,
        HEALTH_CHECK_CALCULATED, /* at least health_threshold children healthy */
        HEALTH_CHECK_MANUAL,     /* status set by an operator */
        HEALTH_CHECK_HEARTBEAT,  /* healthy while the endpoint calls in once per TTL */
        HEALTH_CHECK_TYPE_COUNT
};

/* Route 53's limits and defaults, and the ones quorumdns adds. */
#define HEALTH_INTERVAL_MIN          1   /* s; Route 53 allows only 10 or 30 */
#define HEALTH_INTERVAL_MAX          300 /* s */
#define HEALTH_INTERVAL_DEFAULT      30  /* s */
#define HEALTH_THRESHOLD_MIN         1
#define HEALTH_THRESHOLD_MAX         10
#define HEALTH_THRESHOLD_DEFAULT     3
#define HEALTH_SEARCH_MAX            255  /* bytes */
#define HEALTH_SEARCH_WINDOW         5120 /* the first bytes of the body searched */
#define HEALTH_PATH_MAX              255
#define HEALTH_FQDN_MAX              255
#define HEALTH_CHILDREN_MAX          256
#define HEALTH_CHECKERS_MAX          64
#define HEALTH_CHECKER_NAME_MAX      63
#define HEALTH_PERCENT_DEFAULT       18 /* Route 53: more than 18% of checkers */
#define HEALTH_PERCENT_MAX           99
#define HEALTH_FRESHNESS_DEFAULT     3 /* a vote counts for 3 intervals */
#define HEALTH_FRESHNESS_MAX         100
#define HEALTH_HEARTBEAT_TTL_DEFAULT 60    /* s */
#define HEALTH_HEARTBEAT_TTL_MAX     86400 /* s */
#define HEALTH_PROBLEMS_MAX          32

struct health_check_config {
        enum health_check_type type;
        char *ip_address;           /* IPv4 or IPv6 literal; NULL: resolve fqdn */
        uint16_t port;              /* 0: 80 for HTTP, 443 for HTTPS; TCP needs one */
        char *resource_path;        /* NULL: "/" */
        char *fqdn;                 /* Host header and SNI name; the target if no IP */
        char *search_string;        /* *_STR_MATCH only */
        uint32_t request_interval;  /* s */
        uint32_t failure_threshold; /* consecutive results to flip, and back */
        bool inverted;
        bool disabled;
        bool enable_sni;                 /* HTTPS: send fqdn as SNI */
        bool verify_certificate;         /* HTTPS: check the chain and the name */
        uint16_t status_min, status_max; /* healthy status range, default 200-399 */
        /* CALCULATED */
        uint32_t health_threshold;
        uint64_t *children; /* child check ids */
        size_t child_count;
        /* Which nodes probe: node names (decimal ids) or regions; none: all. */
        char **checkers;
        size_t checker_count;
        /* Aggregation: healthy when MORE than this % of fresh votes say so. */
        uint32_t aggregation_percent;
        uint32_t vote_freshness; /* a vote is fresh for this many intervals */
        /* HEARTBEAT */
        uint32_t heartbeat_ttl; /* s */
};

struct health_problem {
        const char *field; /* the JSON field name, static */
        char message[120];
};

struct health_problems {
        size_t count;
        bool truncated; /* more than HEALTH_PROBLEMS_MAX were found */
        struct health_problem list[HEALTH_PROBLEMS_MAX];
};

/* Sets every field to its default for type (no strings, no arrays). */
void health_check_config_init(struct health_check_config *cfg,
                              enum health_check_type type);

/* Frees what cfg owns and leaves it initialised as an HTTP check. */
void health_check_config_free(struct health_check_config *cfg);

/* Deep copy into dst (uninitialised); 0 or -ENOMEM (dst then owns nothing). */
int health_check_config_copy(struct health_check_config *dst,
                             const struct health_check_config *src);

/* Sets an owned string field from text (copied; NULL clears); 0 or -ENOMEM. */
int health_check_config_set_string(char **field, const char *text);

/*
 * Checks cfg on its own (not whether children exist: the caller knows the
 * other checks).  self is the check's own id, so that a CALCULATED check
 * cannot list itself.  Fills problems and returns how many were found
 * (0: valid).
 */
size_t health_check_validate(const struct health_check_config *cfg, uint64_t self,
                             struct health_problems *problems);

/* True for the types that nodes probe (HTTP, HTTPS, *_STR_MATCH, TCP). */
bool health_check_type_probed(enum health_check_type type);
bool health_check_type_https(enum health_check_type type);
bool health_check_type_match(enum health_check_type type);

/* "HTTP", "HTTPS_STR_MATCH", ...; NULL for an unknown value. */
const char *health_check_type_name(enum health_check_type type);

/* Parses a type name (exact, upper case); 0 or -EINVAL. */
int health_check_type_parse(const char *name, enum health_check_type *out);

/* The port probes go to: cfg->port, or the type's default. */
uint16_t health_check_port(const struct health_check_config *cfg);

/*
 * Whether the node named node_name (its decimal id) in region (may be NULL)
 * probes this check: every node when checkers is empty, else the nodes
 * whose name or region is listed.
 */
bool health_check_probed_by(const struct health_check_config *cfg, const char *node_name,
                            const char *region);

#endif
