/*
 * namedconf.c — reads the zone list out of a BIND named.conf (see
 * namedconf.h).
 *
 * A tokenizer turns the text into words, quoted strings and the three
 * punctuation marks `{ } ;`, dropping comments; a small recursive parser
 * then walks statements.  Statements it does not know are skipped up to
 * their `;`, their braces included, so any BIND option is tolerated.
 */
#include "tools/quorumctl/namedconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 8

enum tok { T_END, T_WORD, T_STRING, T_LBRACE, T_RBRACE, T_SEMI };

struct parser {
        const char *p, *end;
        unsigned line;
        enum tok tok;
        char *text; /* of the last word or string */
        size_t text_len, text_cap;
        struct quorumctl_namedconf *conf;
        char *err;
        size_t errlen;
        int rc;
};

static int fail(struct parser *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct parser *ps, const char *fmt, ...)
{
        if (ps->rc == 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(ps->err, ps->errlen, fmt, ap);
                va_end(ap);
                ps->rc = -EINVAL;
        }
        return ps->rc;
}

static int text_push(struct parser *ps, char c)
{
        if (ps->text_len + 1 >= ps->text_cap) {
                size_t cap = ps->text_cap ? ps->text_cap * 2 : 64;
                char *grown = realloc(ps->text, cap);
                if (grown == NULL)
                        return ps->rc = -ENOMEM;
                ps->text = grown;
                ps->text_cap = cap;
        }
        ps->text[ps->text_len++] = c;
        ps->text[ps->text_len] = 0;
        return 0;
}

/* Skips blanks and comments; 0 or an error (an unterminated comment). */
static int skip_space(struct parser *ps)
{
        while (ps->p < ps->end) {
                char c = *ps->p;
                if (c == '\n') {
                        ps->line++;
                        ps->p++;
                } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
                        ps->p++;
                } else if (c == '#' ||
                           (c == '/' && ps->p + 1 < ps->end && ps->p[1] == '/')) {
                        while (ps->p < ps->end && *ps->p != '\n')
                                ps->p++;
                } else if (c == '/' && ps->p + 1 < ps->end && ps->p[1] == '*') {
                        unsigned start = ps->line;
                        ps->p += 2;
                        while (ps->p + 1 < ps->end &&
                               !(ps->p[0] == '*' && ps->p[1] == '/')) {
                                if (*ps->p == '\n')
                                        ps->line++;
                                ps->p++;
                        }
                        if (ps->p + 1 >= ps->end) {
                                ps->line = start;
                                return fail(ps, "comment not closed");
                        }
                        ps->p += 2;
                } else {
                        break;
                }
        }
        return 0;
}

static enum tok next(struct parser *ps)
{
        ps->text_len = 0;
        if (ps->text)
                ps->text[0] = 0;
        if (ps->rc != 0 || skip_space(ps) != 0 || ps->p >= ps->end)
                return ps->tok = T_END;
        char c = *ps->p;
        if (c == '{' || c == '}' || c == ';') {
                ps->p++;
                return ps->tok = c == '{' ? T_LBRACE : c == '}' ? T_RBRACE : T_SEMI;
        }
        if (c == '"') {
                unsigned start = ps->line;
                ps->p++;
                if (text_push(ps, 0) != 0)
                        return ps->tok = T_END;
                ps->text_len = 0;
                while (ps->p < ps->end && *ps->p != '"') {
                        if (*ps->p == '\\' && ps->p + 1 < ps->end)
                                ps->p++;
                        if (*ps->p == '\n')
                                ps->line++;
                        if (text_push(ps, *ps->p++) != 0)
                                return ps->tok = T_END;
                }
                if (ps->p >= ps->end) {
                        ps->line = start;
                        fail(ps, "string not closed");
                        return ps->tok = T_END;
                }
                ps->p++;
                return ps->tok = T_STRING;
        }
        while (ps->p < ps->end) {
                c = *ps->p;
                if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '{' ||
                    c == '}' || c == ';' || c == '"' || c == '#' ||
                    (c == '/' && ps->p + 1 < ps->end &&
                     (ps->p[1] == '/' || ps->p[1] == '*')))
                        break;
                if (text_push(ps, c) != 0)
                        return ps->tok = T_END;
                ps->p++;
        }
        return ps->tok = T_WORD;
}

/* Keywords are compared as BIND does, without regard to case. */
static bool is_word(const struct parser *ps, const char *w)
{
        return ps->tok == T_WORD && strcasecmp(ps->text, w) == 0;
}

/* At a `}`: BIND ends every block with `};`. */
static int close_brace(struct parser *ps)
{
        next(ps);
        if (ps->tok != T_SEMI)
                return fail(ps, "';' expected after '}'");
        next(ps);
        return ps->rc;
}

/* Skips the rest of a statement (the current token included): up to its
 * `;` on this level, braces and all.  Stops before a `}` closing the level. */
static int skip_statement(struct parser *ps)
{
        unsigned depth = 0;
        while (ps->rc == 0) {
                switch (ps->tok) {
                case T_END:
                        return depth ? fail(ps, "'{' without its '}'") : 0;
                case T_LBRACE:
                        depth++;
                        break;
                case T_RBRACE:
                        if (depth == 0)
                                return 0;
                        if (--depth == 0)
                                return close_brace(ps);
                        next(ps);
                        if (ps->tok != T_SEMI)
                                return fail(ps, "';' expected after '}'");
                        break;
                case T_SEMI:
                        if (depth == 0) {
                                next(ps);
                                return 0;
                        }
                        break;
                default:
                        break;
                }
                next(ps);
        }
        return ps->rc;
}

static char *dup_text(struct parser *ps)
{
        char *s = strdup(ps->text ? ps->text : "");
        if (s == NULL)
                ps->rc = -ENOMEM;
        return s;
}

/* The statements of a block: `KEY value;` for each of the n keys (the
 * value kept in vals[i]), every other statement skipped. */
static int block_statements(struct parser *ps, const char *const *keys, char ***vals,
                            size_t n)
{
        if (ps->tok != T_LBRACE)
                return fail(ps, "'{' expected");
        next(ps);
        while (ps->rc == 0 && ps->tok != T_RBRACE) {
                if (ps->tok == T_END)
                        return fail(ps, "'{' without its '}'");
                size_t i = 0;
                while (i < n && !is_word(ps, keys[i]))
                        i++;
                if (i == n) {
                        skip_statement(ps);
                        continue;
                }
                next(ps);
                if (ps->tok != T_WORD && ps->tok != T_STRING)
                        return fail(ps, "%s without a value", keys[i]);
                free(*vals[i]);
                *vals[i] = dup_text(ps);
                next(ps);
                if (ps->rc == 0 && ps->tok != T_SEMI)
                        return fail(ps, "';' expected after %s %s", keys[i], *vals[i]);
                next(ps);
        }
        return ps->rc ? ps->rc : close_brace(ps);
}

static int parse_zone(struct parser *ps)
{
        unsigned line = ps->line;
        next(ps);
        if (ps->tok != T_STRING && ps->tok != T_WORD)
                return fail(ps, "zone without a name");
        struct quorumctl_namedconf *conf = ps->conf;
        struct quorumctl_namedconf_zone *grown =
            realloc(conf->zones, (conf->n_zones + 1) * sizeof(*grown));
        if (grown == NULL)
                return ps->rc = -ENOMEM;
        conf->zones = grown;
        struct quorumctl_namedconf_zone *z = &conf->zones[conf->n_zones++];
        memset(z, 0, sizeof(*z));
        z->line = line;
        z->name = dup_text(ps);
        next(ps);
        if (ps->tok == T_WORD) /* class */
                next(ps);
        if (ps->tok == T_SEMI) { /* `zone "x";` (a reference in a view) */
                next(ps);
        } else {
                /* in-view: the zone is another view's, and has no type */
                char *in_view = NULL;
                static const char *const keys[] = {"type", "file", "in-view"};
                char **vals[] = {&z->type, &z->file, &in_view};
                block_statements(ps, keys, vals, 3);
                if (ps->rc == 0 && z->type == NULL && in_view == NULL) {
                        ps->line = line;
                        fail(ps, "zone %s has no type", z->name ? z->name : "?");
                }
                free(in_view);
        }
        if (ps->rc == 0 && z->type == NULL && (z->type = strdup("")) == NULL)
                ps->rc = -ENOMEM;
        return ps->rc;
}

static int parse_block(struct parser *ps, unsigned depth)
{
        if (depth > MAX_DEPTH)
                return fail(ps, "blocks nested too deep");
        while (ps->rc == 0) {
                if (ps->tok == T_END)
                        return depth ? fail(ps, "'{' without its '}'") : 0;
                if (ps->tok == T_RBRACE) {
                        if (depth == 0)
                                return fail(ps, "'}' without its '{'");
                        return close_brace(ps);
                }
                if (ps->tok == T_SEMI) {
                        next(ps);
                } else if (is_word(ps, "zone")) {
                        parse_zone(ps);
                } else if (is_word(ps, "options") && depth == 0) {
                        static const char *const keys[] = {"directory"};
                        char **vals[] = {&ps->conf->directory};
                        next(ps);
                        block_statements(ps, keys, vals, 1);
                } else if (is_word(ps, "view")) {
                        while (ps->rc == 0 && ps->tok != T_LBRACE && ps->tok != T_END)
                                next(ps);
                        if (ps->tok != T_LBRACE)
                                return fail(ps, "view without '{'");
                        next(ps);
                        parse_block(ps, depth + 1);
                } else {
                        if (is_word(ps, "include"))
                                ps->conf->n_includes++;
                        skip_statement(ps);
                }
        }
        return ps->rc;
}

int quorumctl_namedconf_parse(const char *text, size_t len,
                              struct quorumctl_namedconf *conf, char *err, size_t errlen,
                              unsigned *line)
{
        memset(conf, 0, sizeof(*conf));
        struct parser ps = {.p = text,
                            .end = text + len,
                            .line = 1,
                            .conf = conf,
                            .err = err,
                            .errlen = errlen};
        if (errlen > 0)
                err[0] = 0;
        next(&ps);
        parse_block(&ps, 0);
        free(ps.text);
        if (line != NULL)
                *line = ps.line;
        if (ps.rc == -ENOMEM && errlen > 0)
                snprintf(err, errlen, "out of memory");
        return ps.rc;
}

void quorumctl_namedconf_free(struct quorumctl_namedconf *conf)
{
        for (size_t i = 0; i < conf->n_zones; i++) {
                free(conf->zones[i].name);
                free(conf->zones[i].type);
                free(conf->zones[i].file);
        }
        free(conf->zones);
        free(conf->directory);
        memset(conf, 0, sizeof(*conf));
}
