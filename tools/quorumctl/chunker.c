/*
 * chunker.c — master-file chunks for import (see chunker.h).
 *
 * The file is read as a sequence of entries: an entry starts at the
 * beginning of a line and ends at the first newline outside parentheses and
 * quotes.  Scanning an entry finds its extent and, for a record, its owner
 * (resolved to an absolute name), TTL and type, without changing the
 * chunker; consuming it then updates the state ($ORIGIN, $TTL, previous
 * owner, last TTL).  A chunk is full when it holds max_records records; the
 * record that would go over is scanned, left for the next chunk, and the
 * state it would have changed is still the state before it — which is what
 * the next chunk's header must restore.
 */
#include "tools/quorumctl/chunker.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum entry_kind { ENTRY_BLANK, ENTRY_DIRECTIVE, ENTRY_RECORD };

struct token {
        const char *text; /* borrowed from the file */
        size_t len;
};

struct entry {
        size_t start, end; /* [start, end), end just past the final newline */
        unsigned start_line, end_line;
        enum entry_kind kind;
        bool blank_owner;       /* record whose owner is the previous one */
        bool generate;          /* $GENERATE: a record for counting, no owner */
        size_t owner_len;       /* bytes of the owner token at start */
        char *owner;            /* owned: absolute owner, NULL if unknown */
        struct token ttl;       /* len 0: no TTL written */
        char type[24];          /* upper case, "" if none found */
        struct token word, arg; /* directive keyword and first argument */
};

struct buf {
        char *data;
        size_t len, cap;
};

static int buf_add(struct buf *b, const char *data, size_t n)
{
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap != 0 ? b->cap : 1 << 16;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *grown = realloc(b->data, cap);
                if (grown == NULL)
                        return -ENOMEM;
                b->data = grown;
                b->cap = cap;
        }
        memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

static int buf_str(struct buf *b, const char *s)
{
        return buf_add(b, s, strlen(s));
}

__attribute__((format(printf, 3, 4))) static int fail(struct quorumctl_chunker *ch,
                                                      unsigned line, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ch->error, sizeof(ch->error), fmt, ap);
        va_end(ap);
        ch->error_line = line;
        return -EINVAL;
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Reads the next token in [*p, end), skipping blanks, parentheses and comments. */
static bool next_token(const char *text, size_t *p, size_t end, struct token *tok)
{
        size_t i = *p;
        for (;;) {
                while (i < end && (is_space(text[i]) || text[i] == '(' || text[i] == ')'))
                        i++;
                if (i < end && text[i] == ';') {
                        while (i < end && text[i] != '\n')
                                i++;
                        continue;
                }
                break;
        }
        if (i >= end) {
                *p = i;
                return false;
        }
        size_t start = i;
        if (text[i] == '"') {
                for (i++; i < end && text[i] != '"'; i++)
                        if (text[i] == '\\')
                                i++;
                if (i < end)
                        i++;
        } else {
                for (; i < end && !is_space(text[i]) && text[i] != '(' &&
                       text[i] != ')' && text[i] != ';' && text[i] != '"';
                     i++)
                        if (text[i] == '\\')
                                i++;
        }
        if (i > end)
                i = end;
        tok->text = text + start;
        tok->len = i - start;
        *p = i;
        return true;
}

/* A TTL: digits, or BIND's "1h30m" form. */
static bool is_ttl(const struct token *t)
{
        if (t->len == 0 || !isdigit((unsigned char)t->text[0]))
                return false;
        for (size_t i = 0; i < t->len; i++) {
                char c = (char)tolower((unsigned char)t->text[i]);
                if (!isdigit((unsigned char)c) && strchr("smhdw", c) == NULL)
                        return false;
        }
        return true;
}

static bool is_class(const struct token *t)
{
        static const char *const classes[] = {"IN", "CH", "CS", "HS", "NONE", "ANY"};
        for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
                if (t->len == strlen(classes[i]) &&
                    strncasecmp(t->text, classes[i], t->len) == 0)
                        return true;
        if (t->len > 5 && strncasecmp(t->text, "CLASS", 5) == 0) {
                for (size_t i = 5; i < t->len; i++)
                        if (!isdigit((unsigned char)t->text[i]))
                                return false;
                return true;
        }
        return false;
}

static bool ends_with_unescaped_dot(const char *s, size_t len)
{
        if (len == 0 || s[len - 1] != '.')
                return false;
        size_t backslashes = 0;
        while (backslashes + 1 < len && s[len - 2 - backslashes] == '\\')
                backslashes++;
        return backslashes % 2 == 0;
}

/* The absolute form of a name as written, relative to origin. */
static char *absolute_name(const char *name, size_t len, const char *origin)
{
        char *out = NULL;
        if (len == 1 && name[0] == '@')
                return strdup(origin);
        if (ends_with_unescaped_dot(name, len))
                return strndup(name, len);
        if (strcmp(origin, ".") == 0) {
                if (asprintf(&out, "%.*s.", (int)len, name) < 0)
                        return NULL;
        } else if (asprintf(&out, "%.*s.%s", (int)len, name, origin) < 0) {
                return NULL;
        }
        return out;
}

/* Finds the extent of the entry at ch->pos: parentheses, quotes, comments. */
static int scan_extent(struct quorumctl_chunker *ch, struct entry *e)
{
        const char *t = ch->text;
        size_t p = ch->pos, len = ch->len;
        unsigned line = ch->line, paren_line = 0;
        int depth = 0;

        e->start = p;
        e->start_line = line;
        while (p < len) {
                char c = t[p];
                if (c == '"') {
                        unsigned quote_line = line;
                        for (p++;; p++) {
                                if (p >= len)
                                        return fail(
                                            ch, quote_line,
                                            "quoted string without closing quote");
                                if (t[p] == '\\' && p + 1 < len) {
                                        if (t[++p] == '\n')
                                                line++;
                                } else if (t[p] == '\n') {
                                        return fail(
                                            ch, quote_line,
                                            "quoted string without closing quote");
                                } else if (t[p] == '"') {
                                        p++;
                                        break;
                                }
                        }
                        continue;
                }
                if (c == ';') {
                        while (p < len && t[p] != '\n')
                                p++;
                        continue;
                }
                if (c == '\\' && p + 1 < len) {
                        if (t[p + 1] == '\n')
                                line++;
                        p += 2;
                        continue;
                }
                p++;
                if (c == '(') {
                        if (depth++ == 0)
                                paren_line = line;
                } else if (c == ')') {
                        if (depth-- == 0)
                                return fail(ch, line, "')' without '('");
                } else if (c == '\n') {
                        line++;
                        if (depth == 0)
                                break;
                }
        }
        if (depth > 0)
                return fail(ch, paren_line, "'(' without ')'");
        e->end = p;
        e->end_line = line;
        return 0;
}

static int classify_directive(struct quorumctl_chunker *ch, struct entry *e)
{
        size_t p = e->start;
        next_token(ch->text, &p, e->end, &e->word);
        if (!next_token(ch->text, &p, e->end, &e->arg))
                e->arg.len = 0;
        e->kind = ENTRY_DIRECTIVE;
        if (e->word.len == 8 && strncasecmp(e->word.text, "$INCLUDE", 8) == 0)
                return fail(ch, e->start_line,
                            "$INCLUDE is not supported: the server cannot read this "
                            "machine's files; inline the included file");
        if (e->word.len == 9 && strncasecmp(e->word.text, "$GENERATE", 9) == 0) {
                e->kind = ENTRY_RECORD;
                e->generate = true;
                strcpy(e->type, "$GENERATE");
                return 0;
        }
        bool origin = e->word.len == 7 && strncasecmp(e->word.text, "$ORIGIN", 7) == 0;
        bool ttl = e->word.len == 4 && strncasecmp(e->word.text, "$TTL", 4) == 0;
        if ((origin || ttl) && e->arg.len == 0)
                return fail(ch, e->start_line, "%.*s needs a value", (int)e->word.len,
                            e->word.text);
        return 0;
}

/* Owner, TTL and type of a record entry. */
static int classify_record(struct quorumctl_chunker *ch, struct entry *e)
{
        const char *t = ch->text;
        size_t p = e->start;
        struct token tok;

        e->kind = ENTRY_RECORD;
        if (e->blank_owner) {
                if (ch->owner != NULL && (e->owner = strdup(ch->owner)) == NULL)
                        return -ENOMEM;
        } else {
                next_token(t, &p, e->end, &tok);
                e->owner_len = (size_t)(tok.text + tok.len - (t + e->start));
                if ((e->owner = absolute_name(tok.text, tok.len, ch->origin)) == NULL)
                        return -ENOMEM;
        }
        bool have_class = false;
        for (int i = 0; i < 3 && next_token(t, &p, e->end, &tok); i++) {
                if (e->ttl.len == 0 && is_ttl(&tok)) {
                        e->ttl = tok;
                } else if (!have_class && is_class(&tok)) {
                        have_class = true;
                } else {
                        size_t n =
                            tok.len < sizeof(e->type) - 1 ? tok.len : sizeof(e->type) - 1;
                        for (size_t j = 0; j < n; j++)
                                e->type[j] = (char)toupper((unsigned char)tok.text[j]);
                        e->type[n] = '\0';
                        break;
                }
        }
        return 0;
}

/* Scans the entry at ch->pos into *e without changing the chunker's state. */
static int scan_entry(struct quorumctl_chunker *ch, struct entry *e)
{
        memset(e, 0, sizeof(*e));
        int rc = scan_extent(ch, e);
        if (rc != 0)
                return rc;
        size_t p = e->start;
        struct token tok;
        if (!next_token(ch->text, &p, e->end, &tok)) {
                e->kind = ENTRY_BLANK;
                return 0;
        }
        char c0 = ch->text[e->start];
        if (c0 == '$')
                return classify_directive(ch, e);
        e->blank_owner = c0 == ' ' || c0 == '\t' || c0 == '\r' || c0 == '(';
        return classify_record(ch, e);
}

static void entry_free(struct entry *e)
{
        free(e->owner);
        e->owner = NULL;
}

static int replace(char **slot, const char *text, size_t len)
{
        char *copy = strndup(text, len);
        if (copy == NULL)
                return -ENOMEM;
        free(*slot);
        *slot = copy;
        return 0;
}

/* Applies the entry's effect on the state and moves past it. */
static int consume(struct quorumctl_chunker *ch, struct entry *e)
{
        int rc = 0;
        if (e->kind == ENTRY_DIRECTIVE) {
                if (e->word.len == 7 && strncasecmp(e->word.text, "$ORIGIN", 7) == 0) {
                        char *origin = absolute_name(e->arg.text, e->arg.len, ch->origin);
                        if (origin == NULL)
                                return -ENOMEM;
                        free(ch->origin);
                        ch->origin = origin;
                } else if (e->word.len == 4 &&
                           strncasecmp(e->word.text, "$TTL", 4) == 0) {
                        rc = replace(&ch->ttl, e->arg.text, e->arg.len);
                }
        } else if (e->kind == ENTRY_RECORD && !e->generate) {
                free(ch->owner);
                ch->owner = e->owner;
                e->owner = NULL;
                rc = replace(&ch->type, e->type, strlen(e->type));
                if (rc == 0 && e->ttl.len > 0)
                        rc = replace(&ch->last_ttl, e->ttl.text, e->ttl.len);
        }
        ch->pos = e->end;
        ch->line = e->end_line;
        return rc;
}

int quorumctl_chunker_init(struct quorumctl_chunker *ch, const char *text, size_t len,
                           const char *zone, size_t max_records, size_t max_bytes)
{
        memset(ch, 0, sizeof(*ch));
        ch->text = text;
        ch->len = len;
        ch->line = 1;
        ch->max_records = max_records != 0 ? max_records : QUORUMCTL_CHUNK_RECORDS;
        ch->max_bytes = max_bytes != 0 ? max_bytes : QUORUMCTL_CHUNK_MAX_BYTES;
        size_t zlen = strlen(zone);
        bool dotted = zlen > 0 && ends_with_unescaped_dot(zone, zlen);
        if (asprintf(&ch->origin, "%s%s", zone, dotted ? "" : ".") < 0) {
                ch->origin = NULL;
                return -ENOMEM;
        }
        return 0;
}

void quorumctl_chunker_free(struct quorumctl_chunker *ch)
{
        free(ch->origin);
        free(ch->ttl);
        free(ch->last_ttl);
        free(ch->owner);
        free(ch->type);
        ch->origin = ch->ttl = ch->last_ttl = ch->owner = ch->type = NULL;
}

void quorumctl_chunk_free(struct quorumctl_chunk *chunk)
{
        free(chunk->text);
        memset(chunk, 0, sizeof(*chunk));
}

/* Appends the first record of a chunk, restoring its owner and TTL. */
static int add_first_record(struct quorumctl_chunker *ch, struct buf *b,
                            const struct entry *e)
{
        const char *t = ch->text;
        bool owner = e->blank_owner && ch->owner != NULL;
        bool ttl = e->ttl.len == 0 && ch->ttl == NULL && ch->last_ttl != NULL &&
                   !e->generate && e->type[0] != '\0';
        if (!owner && !ttl)
                return buf_add(b, t + e->start, e->end - e->start);
        size_t rest = e->start + (e->blank_owner ? 0 : e->owner_len);
        int rc =
            owner ? buf_str(b, ch->owner) : buf_add(b, t + e->start, rest - e->start);
        if (rc == 0 && ttl) {
                rc = buf_str(b, " ");
                rc = rc != 0 ? rc : buf_str(b, ch->last_ttl);
                if (rc == 0 && rest < e->end && t[rest] != ' ' && t[rest] != '\t')
                        rc = buf_str(b, " ");
        }
        return rc != 0 ? rc : buf_add(b, t + rest, e->end - rest);
}

static int add_header(struct quorumctl_chunker *ch, struct buf *b, unsigned *lines)
{
        int rc = buf_str(b, "$ORIGIN ");
        rc = rc != 0 ? rc : buf_str(b, ch->origin);
        rc = rc != 0 ? rc : buf_str(b, "\n");
        *lines = 1;
        if (rc == 0 && ch->ttl != NULL) {
                rc = buf_str(b, "$TTL ");
                rc = rc != 0 ? rc : buf_str(b, ch->ttl);
                rc = rc != 0 ? rc : buf_str(b, "\n");
                *lines = 2;
        }
        return rc;
}

/* Whether a full chunk may still take e: it continues the last RRset. */
static bool continues_rrset(const struct quorumctl_chunker *ch, const struct entry *e,
                            size_t body)
{
        return !e->generate && e->owner != NULL && ch->owner != NULL &&
               ch->type != NULL && strcasecmp(e->owner, ch->owner) == 0 &&
               strcmp(e->type, ch->type) == 0 &&
               body + (e->end - e->start) <= ch->max_bytes;
}

int quorumctl_chunker_next(struct quorumctl_chunker *ch, struct quorumctl_chunk *chunk)
{
        memset(chunk, 0, sizeof(*chunk));
        if (ch->pos >= ch->len && ch->chunks > 0)
                return 0;
        struct buf b = {0};
        size_t records = 0, body = 0;
        int rc = ch->chunks > 0 ? add_header(ch, &b, &chunk->header_lines) : 0;
        chunk->first_line = ch->line;

        while (rc == 0 && ch->pos < ch->len) {
                struct entry e;
                rc = scan_entry(ch, &e);
                if (rc != 0)
                        break;
                size_t elen = e.end - e.start;
                if (e.kind == ENTRY_RECORD) {
                        bool full = records >= ch->max_records ||
                                    (records > 0 && body + elen > ch->max_bytes);
                        if (full && !continues_rrset(ch, &e, body)) {
                                entry_free(&e);
                                break;
                        }
                        rc = records == 0 && ch->chunks > 0
                                 ? add_first_record(ch, &b, &e)
                                 : buf_add(&b, ch->text + e.start, elen);
                        records++;
                } else {
                        rc = buf_add(&b, ch->text + e.start, elen);
                }
                body += elen;
                if (rc == 0)
                        rc = consume(ch, &e);
                entry_free(&e);
        }
        if (rc != 0) {
                free(b.data);
                return rc;
        }
        if (records == 0 && ch->chunks > 0) { /* only comments and directives left */
                free(b.data);
                return 0;
        }
        if (b.data == NULL && buf_add(&b, "", 0) != 0)
                return -ENOMEM;
        chunk->text = b.data;
        chunk->len = b.len;
        chunk->records = records;
        bool newline_end = ch->pos > 0 && ch->text[ch->pos - 1] == '\n';
        chunk->last_line = ch->line - (newline_end ? 1 : 0);
        if (chunk->last_line < chunk->first_line)
                chunk->last_line = chunk->first_line;
        ch->chunks++;
        return 1;
}

int quorumctl_chunker_count(const char *text, size_t len, const char *zone,
                            size_t *records, unsigned *error_line, char *err,
                            size_t errlen)
{
        struct quorumctl_chunker ch;
        int rc = quorumctl_chunker_init(&ch, text, len, zone, 0, 0);
        *records = 0;
        while (rc == 0 && ch.pos < ch.len) {
                struct entry e;
                rc = scan_entry(&ch, &e);
                if (rc == 0) {
                        if (e.kind == ENTRY_RECORD)
                                (*records)++;
                        rc = consume(&ch, &e);
                }
                entry_free(&e);
        }
        if (rc == -EINVAL) {
                *error_line = ch.error_line;
                snprintf(err, errlen, "%s", ch.error);
        }
        quorumctl_chunker_free(&ch);
        return rc;
}
