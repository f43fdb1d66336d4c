/*
 * zonefile.c — master-file loading (see zonefile.h).
 *
 * Data flow: read a physical line → strip comments and track parentheses
 * and quotes → a complete logical record → directive or ldns parse → wire
 * owner, type, TTL and RDATA → dns_txn_rr_add().  ldns objects live only
 * for one record.
 */
#include "dns/zonefile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/text.h"
#include "dns/wire.h"

#define MAX_INCLUDE_DEPTH 16
#define MAX_INCLUDES      1024 /* files per load; see load_file() */
#define MAX_ERRORS        50
#define TTL_OMITTED       0xffffffffu

struct loader {
        struct dns_txn *txn;
        dns_zonefile_report_fn report;
        void *ctx;
        struct dns_zonefile_stats *stats;
        uint8_t zone[DNS_NAME_MAXLEN + 1]; /* origin of the zone being loaded */
        bool have_zone;
        bool have_ttl_directive;
        uint32_t default_ttl;
        uint32_t last_ttl;
        ldns_rdf *prev;     /* owner of the previous record */
        unsigned includes;  /* $INCLUDE files opened so far */
        bool no_include;    /* text from a client: never read local files */
        ldns_buffer *rdata; /* reused for every record's RDATA */
        /* Owner of the previous record as wire, kept by the fast path; when
         * prev_stale, ld->prev (ldns's copy) is older and must be rebuilt
         * before ldns parses a record with a blank owner. */
        uint8_t prev_wire[DNS_NAME_MAXLEN + 1];
        bool have_prev;
        bool prev_stale;
};

struct source {
        const char *path;
        unsigned line;
        ldns_rdf *origin; /* $ORIGIN in effect; owned */
};

static void report(struct loader *ld, const struct source *src, unsigned line,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void report(struct loader *ld, const struct source *src, unsigned line,
                   const char *fmt, ...)
{
        char msg[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        ld->stats->errors++;
        if (ld->stats->errors <= MAX_ERRORS)
                ld->report(ld->ctx, src ? src->path : "", line, msg);
        else if (ld->stats->errors == MAX_ERRORS + 1)
                ld->report(ld->ctx, src ? src->path : "", line,
                           "too many errors; further errors are not shown");
}

int dns_name_from_text(const char *text, uint8_t *wire)
{
        ldns_rdf *rdf = NULL;
        if (ldns_str2rdf_dname(&rdf, text) != LDNS_STATUS_OK)
                return -EINVAL;
        size_t n = ldns_rdf_size(rdf);
        if (n > DNS_NAME_MAXLEN) {
                ldns_rdf_deep_free(rdf);
                return -EINVAL;
        }
        memcpy(wire, ldns_rdf_data(rdf), n);
        ldns_rdf_deep_free(rdf);
        return 0;
}

/*
 * Appends one physical line to the logical record in rec, dropping the
 * comment and tracking quotes and parentheses across lines.  Returns the
 * parenthesis depth after the line, or -1 on unbalanced parentheses.
 */
static int join_line(const char *line, char **rec, size_t *len, size_t *cap, int depth,
                     bool *quoted)
{
        size_t need = *len + strlen(line) + 2;
        if (need > *cap) {
                size_t cap2 = need * 2;
                char *grown = realloc(*rec, cap2);
                if (grown == NULL)
                        return -2;
                *rec = grown;
                *cap = cap2;
        }
        char *out = *rec + *len;
        for (const char *p = line; *p != '\0' && *p != '\n' && *p != '\r'; p++) {
                char c = *p;
                if (*quoted) {
                        *out++ = c;
                        if (c == '\\' && p[1] != '\0') {
                                *out++ = *++p;
                        } else if (c == '"') {
                                *quoted = false;
                        }
                        continue;
                }
                if (c == '\\' && p[1] != '\0') {
                        *out++ = c;
                        *out++ = *++p;
                } else if (c == '"') {
                        *quoted = true;
                        *out++ = c;
                } else if (c == ';') {
                        break;
                } else if (c == '(') {
                        depth++;
                        *out++ = ' ';
                } else if (c == ')') {
                        if (--depth < 0)
                                return -1;
                        *out++ = ' ';
                } else {
                        *out++ = c;
                }
        }
        *out++ = ' ';
        *out = '\0';
        *len = (size_t)(out - *rec);
        return depth;
}

static bool blank(const char *s)
{
        for (; *s; s++)
                if (*s != ' ' && *s != '\t')
                        return false;
        return true;
}

static int load_file(struct loader *ld, const char *path, ldns_rdf *origin,
                     unsigned depth, const struct source *parent, unsigned parent_line);
static void load_stream(struct loader *ld, FILE *fp, const char *path, ldns_rdf *origin,
                        unsigned depth);

/*
 * Drops the blanks that joining lines leaves at the end of a record: ldns
 * rejects text after some last fields (CAA's quoted value).  A blank after
 * an odd number of backslashes is data and stays.
 */
static void trim_end(char *rec, size_t len)
{
        while (len > 0 && (rec[len - 1] == ' ' || rec[len - 1] == '\t')) {
                size_t slashes = 0;
                while (slashes < len - 1 && rec[len - 2 - slashes] == '\\')
                        slashes++;
                if (slashes % 2 == 1)
                        break;
                rec[--len] = '\0';
        }
}

/* Makes `rel` relative to the directory of `base`; returns malloc'd path. */
static char *resolve_path(const char *base, const char *rel)
{
        if (rel[0] == '/')
                return strdup(rel);
        char *copy = strdup(base);
        if (copy == NULL)
                return NULL;
        const char *dir = dirname(copy);
        size_t n = strlen(dir) + strlen(rel) + 2;
        char *out = malloc(n);
        if (out != NULL)
                snprintf(out, n, "%s/%s", dir, rel);
        free(copy);
        return out;
}

static ldns_rdf *parse_origin(const char *text, ldns_rdf *current)
{
        ldns_rdf *name = NULL;
        if (ldns_str2rdf_dname(&name, text) != LDNS_STATUS_OK)
                return NULL;
        if (!ldns_dname_str_absolute(text) && current != NULL) {
                if (ldns_dname_cat(name, current) != LDNS_STATUS_OK) {
                        ldns_rdf_deep_free(name);
                        return NULL;
                }
        } else if (!ldns_dname_str_absolute(text)) {
                ldns_rdf_deep_free(name);
                return NULL;
        }
        return name;
}

static void directive(struct loader *ld, struct source *src, unsigned line, char *rec,
                      unsigned depth)
{
        char *save = NULL;
        char *word = strtok_r(rec, " \t", &save);
        char *arg = strtok_r(NULL, " \t", &save);
        char *arg2 = strtok_r(NULL, " \t", &save);
        if (strcasecmp(word, "$ORIGIN") == 0) {
                ldns_rdf *name = arg ? parse_origin(arg, src->origin) : NULL;
                if (name == NULL) {
                        report(ld, src, line, "$ORIGIN needs an absolute domain name");
                        return;
                }
                ldns_rdf_deep_free(src->origin);
                src->origin = name;
        } else if (strcasecmp(word, "$TTL") == 0) {
                const char *end = NULL;
                uint32_t ttl = arg ? ldns_str2period(arg, &end) : 0;
                if (arg == NULL || *end != '\0' || ttl > INT32_MAX) {
                        report(ld, src, line,
                               "$TTL needs a TTL (seconds or 1h2m3s form)");
                        return;
                }
                ld->default_ttl = ttl;
                ld->have_ttl_directive = true;
        } else if (strcasecmp(word, "$INCLUDE") == 0) {
                if (ld->no_include) {
                        report(ld, src, line, "$INCLUDE is not allowed here");
                        return;
                }
                if (arg == NULL) {
                        report(ld, src, line, "$INCLUDE needs a file name");
                        return;
                }
                ldns_rdf *origin = src->origin;
                ldns_rdf *given = NULL;
                if (arg2 != NULL) {
                        given = parse_origin(arg2, src->origin);
                        if (given == NULL) {
                                report(ld, src, line, "$INCLUDE: bad origin '%s'", arg2);
                                return;
                        }
                        origin = given;
                }
                char *path = resolve_path(src->path, arg);
                /* Like $ORIGIN, a $TTL set in the included file stays there. */
                uint32_t ttl = ld->default_ttl, last = ld->last_ttl;
                bool had_ttl = ld->have_ttl_directive;
                if (path != NULL)
                        load_file(ld, path, origin, depth + 1, src, line);
                ld->default_ttl = ttl;
                ld->last_ttl = last;
                ld->have_ttl_directive = had_ttl;
                free(path);
                ldns_rdf_deep_free(given);
        } else {
                report(ld, src, line, "unknown directive %s", word);
        }
}

/* Next blank-separated token of rec from *pos; returns its length (0: none).
 * As in ldns, a blank after a backslash belongs to the token. */
static size_t token(const char *rec, size_t *pos, const char **start)
{
        size_t i = *pos;
        while (rec[i] == ' ' || rec[i] == '\t')
                i++;
        *start = rec + i;
        size_t n = 0;
        while (rec[i + n] != '\0' && rec[i + n] != ' ' && rec[i + n] != '\t')
                n += rec[i + n] == '\\' && rec[i + n + 1] != '\0' ? 2 : 1;
        *pos = i + n;
        return n;
}

/* A plain owner name (no escapes or quotes) to wire, completed with origin. */
static bool plain_owner(const char *text, size_t len, const ldns_rdf *origin,
                        uint8_t *out)
{
        const uint8_t *org = ldns_rdf_data(origin);
        size_t org_len = ldns_rdf_size(origin);
        if (org_len > DNS_NAME_MAXLEN)
                return false; /* an over-long $ORIGIN: ldns reports it */
        if (len == 1 && text[0] == '@') {
                memcpy(out, org, org_len);
                return true;
        }
        size_t o = 0, label = 0;
        for (size_t i = 0; i < len; i++) {
                char c = text[i];
                if (c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '$')
                        return false;
                if (c == '.') {
                        if (i == label || i - label > DNS_LABEL_MAXLEN)
                                return false;
                        label = i + 1;
                        continue;
                }
        }
        bool absolute = text[len - 1] == '.';
        label = 0;
        for (size_t i = 0; i <= len; i++) {
                if (i == len || text[i] == '.') {
                        size_t n = i - label;
                        if (n == 0)
                                break;
                        if (n > DNS_LABEL_MAXLEN || o + 1 + n + 1 > DNS_NAME_MAXLEN)
                                return false;
                        out[o++] = (uint8_t)n;
                        memcpy(out + o, text + label, n);
                        o += n;
                        label = i + 1;
                }
        }
        if (absolute) {
                out[o] = 0;
                return true;
        }
        if (o + org_len > DNS_NAME_MAXLEN)
                return false;
        memcpy(out + o, org, org_len);
        return true;
}

/*
 * The common case without ldns: "[owner] [ttl] [IN] A|AAAA address" with a
 * plain owner and a TTL in seconds.  Returns false to let ldns parse the
 * record (anything else, or anything odd).
 */
static bool fast_record(struct loader *ld, struct source *src, unsigned line,
                        const char *rec)
{
        if (!ld->have_zone || src->origin == NULL)
                return false;
        uint8_t owner[DNS_NAME_MAXLEN + 1];
        size_t pos = 0;
        const char *t;
        size_t n;
        if (rec[0] == ' ' || rec[0] == '\t') {
                if (!ld->have_prev)
                        return false;
                memcpy(owner, ld->prev_wire, sizeof(owner));
        } else {
                n = token(rec, &pos, &t);
                if (n == 0 || !plain_owner(t, n, src->origin, owner))
                        return false;
        }
        bool have_ttl = false, have_class = false;
        uint32_t ttl = 0;
        uint16_t type = 0;
        for (int field = 0; field < 3 && type == 0; field++) {
                n = token(rec, &pos, &t);
                if (n == 0)
                        return false;
                if (!have_ttl && t[0] >= '0' && t[0] <= '9') {
                        uint64_t v = 0;
                        for (size_t i = 0; i < n; i++) {
                                if (t[i] < '0' || t[i] > '9' || v > INT32_MAX)
                                        return false; /* units (1h) or too big */
                                v = v * 10 + (uint64_t)(t[i] - '0');
                        }
                        if (v > INT32_MAX)
                                return false;
                        ttl = (uint32_t)v;
                        have_ttl = true;
                } else if (!have_class && n == 2 && strncasecmp(t, "IN", 2) == 0) {
                        have_class = true;
                } else if (n == 1 && (t[0] == 'A' || t[0] == 'a')) {
                        type = DNS_TYPE_A;
                } else if (n == 4 && strncasecmp(t, "AAAA", 4) == 0) {
                        type = DNS_TYPE_AAAA;
                } else {
                        return false;
                }
        }
        if (type == 0)
                return false;
        n = token(rec, &pos, &t);
        char addr[64];
        if (n == 0 || n >= sizeof(addr))
                return false;
        memcpy(addr, t, n);
        addr[n] = '\0';
        const char *rest;
        if (token(rec, &pos, &rest) != 0)
                return false;
        uint8_t rdata[16];
        if (inet_pton(type == DNS_TYPE_A ? AF_INET : AF_INET6, addr, rdata) != 1)
                return false; /* let ldns word the error */
        if (have_ttl)
                ld->last_ttl = ttl;
        else
                ttl = ld->have_ttl_directive ? ld->default_ttl : ld->last_ttl;
        int rc = dns_txn_rr_add(ld->txn, ld->zone, owner, type, 0, ttl, rdata,
                                type == DNS_TYPE_A ? 4 : 16);
        if (rc < 0)
                report(ld, src, line, "%s", ld->txn->error);
        else
                ld->stats->records++;
        memcpy(ld->prev_wire, owner, sizeof(owner));
        ld->have_prev = true;
        ld->prev_stale = true;
        return true;
}

/* The type token of a record: after the owner (unless the line starts
 * blank), then TTL and class in any order, as ldns reads them (a class is
 * any word ldns takes as one).  Returns its length (0: none); *pos is left
 * after it, and *klass, *klass_len name the class word (NULL: none). */
static size_t type_token(const char *rec, size_t *pos, const char **t, const char **klass,
                         size_t *klass_len)
{
        size_t n;
        *pos = 0;
        *klass = NULL;
        *klass_len = 0;
        if (rec[0] != ' ' && rec[0] != '\t' && token(rec, pos, t) == 0)
                return 0;
        for (int field = 0; field < 3; field++) {
                n = token(rec, pos, t);
                if (n == 0)
                        return 0;
                char word[24];
                if (n < sizeof(word)) {
                        snprintf(word, sizeof(word), "%.*s", (int)n, *t);
                        if (ldns_get_rr_class_by_name(word) != 0) {
                                *klass = *t;
                                *klass_len = n;
                                continue;
                        }
                }
                if (!((*t)[0] >= '0' && (*t)[0] <= '9'))
                        return n;
        }
        return 0;
}

/* The type token of a record ldns refused, when it is not a type at all. */
static bool unknown_type(const char *rec, char *out, size_t size)
{
        size_t pos, klass_len;
        const char *t, *klass;
        size_t n = type_token(rec, &pos, &t, &klass, &klass_len);
        if (n == 0 || n >= size)
                return false;
        snprintf(out, size, "%.*s", (int)n, t);
        return ldns_get_rr_type_by_name(out) == 0;
}

/* Does the text name IPSECKEY anywhere, as ldns would read a type word
 * ("IPSECKEY", "TYPE45", "TYPE045x")? */
static bool mentions_ipseckey(const char *rec)
{
        for (const char *p = rec; *p != '\0'; p++) {
                if (strncasecmp(p, "IPSECKEY", 8) == 0)
                        return true;
                if (strncasecmp(p, "TYPE", 4) == 0 &&
                    atoi(p + 4) == LDNS_RR_TYPE_IPSECKEY)
                        return true;
        }
        return false;
}

/*
 * What ldns would let through or mishandle, refused before it parses the
 * record: a class other than IN (ldns reads "CLASS1x" as IN), a type word
 * "TYPE1xyz" (ldns reads TYPE1), and the RDATA that dns_rdata_text_check
 * refuses.  A record whose type cannot be told here goes to ldns only when
 * it cannot be an IPSECKEY record.  NULL when ldns may go on.
 */
static const char *before_ldns(const char *rec, char *why, size_t size)
{
        size_t pos, klass_len;
        const char *t, *klass;
        size_t n = type_token(rec, &pos, &t, &klass, &klass_len);
        if (klass != NULL && !(klass_len == 2 && strncasecmp(klass, "IN", 2) == 0) &&
            !(klass_len == 6 && strncasecmp(klass, "CLASS1", 6) == 0)) {
                snprintf(why, size, "class must be IN");
                return why;
        }
        char word[24];
        uint16_t type;
        if (n != 0 && n < sizeof(word)) {
                snprintf(word, sizeof(word), "%.*s", (int)n, t);
                if (dns_type_from_text(word, &type) == 0)
                        return dns_rdata_text_check(type, rec + pos, why, size) != 0
                                   ? why
                                   : NULL;
                if (n > 4 && strncasecmp(word, "TYPE", 4) == 0) {
                        snprintf(why, size,
                                 "malformed record type '%s' (TYPE and a number up to "
                                 "65535)",
                                 word);
                        return why;
                }
        }
        if (mentions_ipseckey(rec)) {
                snprintf(why, size, "the record's type cannot be read");
                return why;
        }
        return NULL; /* not a type: ldns words the error */
}

static void record(struct loader *ld, struct source *src, unsigned line, const char *rec)
{
        if (fast_record(ld, src, line, rec))
                return;
        if (ld->prev_stale && ld->have_prev) {
                /* The fast path moved on: give ldns the current previous owner. */
                ldns_rdf_deep_free(ld->prev);
                ld->prev = ldns_rdf_new_frm_data(
                    LDNS_RDF_TYPE_DNAME,
                    (size_t)dns_name_wire_len(ld->prev_wire, sizeof(ld->prev_wire)),
                    ld->prev_wire);
                ld->prev_stale = false;
        }
        char why[160];
        if (before_ldns(rec, why, sizeof(why)) != NULL) {
                report(ld, src, line, "%s", why);
                return;
        }
        ldns_rr *rr = NULL;
        /* ldns replaces (and frees) *prev with each record's owner. */
        ldns_status st =
            ldns_rr_new_frm_str(&rr, rec, TTL_OMITTED, src->origin, &ld->prev);
        if (st != LDNS_STATUS_OK) {
                char type[64];
                if (src->origin == NULL && st == LDNS_STATUS_SYNTAX_DNAME_ERR)
                        report(ld, src, line, "relative name without $ORIGIN");
                else if (unknown_type(rec, type, sizeof(type)))
                        report(ld, src, line,
                               "unknown record type '%s' (A, AAAA, CNAME, MX, TXT, …, "
                               "or TYPE123)",
                               type);
                else
                        report(ld, src, line, "%s", ldns_get_errorstr_by_id(st));
                return;
        }
        const ldns_rdf *owner = ldns_rr_owner(rr);
        uint16_t type = (uint16_t)ldns_rr_get_type(rr);
        if (ldns_rdf_size(owner) > DNS_NAME_MAXLEN) {
                report(ld, src, line, "owner name longer than 255 bytes");
                goto out;
        }
        memcpy(ld->prev_wire, ldns_rdf_data(owner), ldns_rdf_size(owner));
        ld->have_prev = true;
        if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
                report(ld, src, line, "class must be IN");
                goto out;
        }
        uint32_t ttl = ldns_rr_ttl(rr);
        if (ttl == TTL_OMITTED)
                ttl = ld->have_ttl_directive ? ld->default_ttl : ld->last_ttl;
        else if (ttl > INT32_MAX) {
                report(ld, src, line, "TTL above 2147483647");
                goto out;
        } else
                ld->last_ttl = ttl;
        if (!ld->have_zone) {
                if (type != DNS_TYPE_SOA) {
                        report(
                            ld, src, line,
                            "the zone's origin is unknown: start with an SOA record or "
                            "give the origin (ORIGIN=FILE)");
                        goto out;
                }
                memcpy(ld->zone, ldns_rdf_data(owner), ldns_rdf_size(owner));
                if (dns_txn_zone_create(ld->txn, ld->zone, true) != 0) {
                        report(ld, src, line, "%s", ld->txn->error);
                        goto out;
                }
                ld->have_zone = true;
        }
        ldns_buffer *buf = ld->rdata;
        ldns_buffer_clear(buf);
        if (ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK ||
            ldns_buffer_position(buf) > 65535) {
                report(ld, src, line, "RDATA too long");
                goto out;
        }
        size_t pos, klass_len;
        const char *t, *klass;
        if (type_token(rec, &pos, &t, &klass, &klass_len) != 0 &&
            dns_rdata_generic_check(rec + pos, ldns_buffer_position(buf), why,
                                    sizeof(why)) != 0) {
                report(ld, src, line, "%s", why);
                goto out;
        }
        int rc =
            dns_txn_rr_add(ld->txn, ld->zone, ldns_rdf_data(owner), type, 0, ttl,
                           ldns_buffer_begin(buf), (uint16_t)ldns_buffer_position(buf));
        if (rc < 0)
                report(ld, src, line, "%s", ld->txn->error);
        else
                ld->stats->records++;
out:
        ldns_rr_free(rr);
}

static int load_file(struct loader *ld, const char *path, ldns_rdf *origin,
                     unsigned depth, const struct source *parent, unsigned parent_line)
{
        if (depth > MAX_INCLUDE_DEPTH) {
                report(ld, parent, parent_line, "$INCLUDE nested too deeply");
                return -ELOOP;
        }
        /* Depth alone does not bound the work: a file that includes itself
         * twice would be read 2^16 times. */
        if (depth > 0 && ++ld->includes > MAX_INCLUDES) {
                report(ld, parent, parent_line, "more than %d $INCLUDE files",
                       MAX_INCLUDES);
                return -ELOOP;
        }
        FILE *fp = fopen(path, "r");
        if (fp == NULL) {
                int err = errno;
                if (parent != NULL)
                        report(ld, parent, parent_line, "cannot read %s: %s", path,
                               strerror(err));
                else
                        report(ld, &(struct source){path, 0, NULL}, 0, "cannot read: %s",
                               strerror(err));
                return -err;
        }
        load_stream(ld, fp, path, origin, depth);
        fclose(fp);
        return 0;
}

/* Reads the records of fp (named `path` in reports) into the zone. */
static void load_stream(struct loader *ld, FILE *fp, const char *path, ldns_rdf *origin,
                        unsigned depth)
{
        struct source src = {path, 0, origin ? ldns_rdf_clone(origin) : NULL};
        char *line = NULL, *rec = NULL;
        size_t line_cap = 0, rec_len = 0, rec_cap = 0;
        int paren = 0;
        bool quoted = false;
        unsigned rec_line = 0;
        while (getline(&line, &line_cap, fp) >= 0) {
                src.line++;
                if (rec_len == 0)
                        rec_line = src.line;
                int d = join_line(line, &rec, &rec_len, &rec_cap, paren, &quoted);
                if (d == -2) {
                        report(ld, &src, src.line, "out of memory");
                        break;
                }
                if (d < 0) {
                        report(ld, &src, src.line, "unbalanced parentheses");
                        rec_len = 0;
                        paren = 0;
                        quoted = false;
                        continue;
                }
                paren = d;
                if (paren > 0 || quoted)
                        continue;
                trim_end(rec, rec_len);
                if (!blank(rec)) {
                        if (rec[0] == '$')
                                directive(ld, &src, rec_line, rec, depth);
                        else
                                record(ld, &src, rec_line, rec);
                }
                rec_len = 0;
        }
        if (rec_len != 0 && !blank(rec))
                report(ld, &src, rec_line,
                       quoted ? "unterminated quoted string" : "unbalanced parentheses");
        free(line);
        free(rec);
        ldns_rdf_deep_free(src.origin);
}

/* Text a client sent, read from memory; `path` names it in reports. */
struct text {
        const char *data;
        size_t len;
};

static int load_text(struct loader *ld, const struct text *text, const char *path,
                     ldns_rdf *origin)
{
        if (text->len == 0)
                return 0;
        /* Failing here is this machine's (memory), not the text's: no
         * report, which would be taken for a problem of the text. */
        FILE *fp = fmemopen((void *)text->data, text->len, "r");
        if (fp == NULL)
                return -EIO;
        /* stdio's own buffer would be one more allocation per text: 1,000
         * small zones in a bulk request are 1,000 texts. */
        char buf[8192];
        setvbuf(fp, buf, _IOFBF, sizeof(buf));
        load_stream(ld, fp, path, origin, 0);
        fclose(fp);
        return 0;
}

/* Loads the file at path, or text (a part: path only names it). */
static int load(struct dns_txn *txn, const char *path, const struct text *text,
                const uint8_t *origin, uint8_t *origin_out, bool part,
                dns_zonefile_report_fn reportfn, void *ctx,
                struct dns_zonefile_stats *stats)
{
        bool need_soa = !part;
        struct dns_zonefile_stats local;
        if (stats == NULL)
                stats = &local;
        memset(stats, 0, sizeof(*stats));
        struct loader ld = {.no_include = part,
                            .txn = txn,
                            .report = reportfn,
                            .ctx = ctx,
                            .stats = stats,
                            .default_ttl = 3600,
                            .last_ttl = 3600};
        ldns_rdf *origin_rdf = NULL;
        ld.rdata = ldns_buffer_new(1024);
        if (ld.rdata == NULL)
                return -ENOMEM;
        if (origin != NULL) {
                int len = dns_name_wire_len(origin, DNS_NAME_MAXLEN + 1);
                if (len < 0)
                        return -EINVAL;
                memcpy(ld.zone, origin, (size_t)len);
                origin_rdf =
                    ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, (size_t)len, origin);
                /* A part adds to the zone the transaction already has (the
                 * chunks of a staged import); a whole file replaces it. */
                bool keep = part && dns_txn_zone(txn, ld.zone) != NULL;
                if (!keep && dns_txn_zone_create(txn, ld.zone, true) != 0) {
                        ldns_rdf_deep_free(origin_rdf);
                        ldns_buffer_free(ld.rdata);
                        return -ENOMEM;
                }
                ld.have_zone = true;
        }
        struct source top = {path, 0, NULL};
        int rc = text != NULL ? load_text(&ld, text, path, origin_rdf)
                              : load_file(&ld, path, origin_rdf, 0, NULL, 0);
        ldns_rdf_deep_free(origin_rdf);
        ldns_rdf_deep_free(ld.prev);
        ldns_buffer_free(ld.rdata);
        if (rc == 0 && stats->errors == 0 && need_soa) {
                const struct dns_zone *zone =
                    ld.have_zone ? dns_txn_zone(txn, ld.zone) : NULL;
                if (zone == NULL) {
                        report(&ld, &top, 1, "no records: a zone needs an SOA record");
                } else if (dns_zone_soa(zone, NULL) == NULL) {
                        char apex[1024];
                        report(&ld, &top, 1, "no SOA record at the zone apex %s",
                               dns_name_to_text(ld.zone, apex, sizeof(apex)));
                }
        }
        if (origin_out != NULL && ld.have_zone)
                memcpy(origin_out, ld.zone, (size_t)dns_name_wire_len(ld.zone, 256));
        if (rc < 0 && stats->errors <= 1)
                return rc;
        return stats->errors ? -EINVAL : 0;
}

int dns_zonefile_load(struct dns_txn *txn, const char *path, const uint8_t *origin,
                      uint8_t *origin_out, dns_zonefile_report_fn report_fn, void *ctx,
                      struct dns_zonefile_stats *stats)
{
        return load(txn, path, NULL, origin, origin_out, false, report_fn, ctx, stats);
}

int dns_zonefile_load_part(struct dns_txn *txn, const char *text, size_t len,
                           const char *name, const uint8_t *origin,
                           dns_zonefile_report_fn report_fn, void *ctx,
                           struct dns_zonefile_stats *stats)
{
        if (origin == NULL)
                return -EINVAL;
        return load(txn, name, &(struct text){text, len}, origin, NULL, true, report_fn,
                    ctx, stats);
}
