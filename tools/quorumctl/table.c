/*
 * table.c — aligned text output (see table.h).
 *
 * Widths are counted in code points (bytes that are not UTF-8 continuation
 * bytes), which is right for the names, addresses and comments the API
 * returns; wide CJK characters would be off by their extra column.
 */
#include "tools/quorumctl/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void quorumctl_table_init(struct quorumctl_table *t, size_t ncols,
                          const char *const *headers)
{
        memset(t, 0, sizeof(*t));
        if (ncols > QUORUMCTL_TABLE_MAX_COLS)
                ncols = QUORUMCTL_TABLE_MAX_COLS;
        t->ncols = ncols;
        for (size_t i = 0; i < ncols; i++) {
                t->right[i] = headers[i][0] == '>';
                t->headers[i] = headers[i] + (t->right[i] ? 1 : 0);
        }
}

void quorumctl_table_free(struct quorumctl_table *t)
{
        for (size_t i = 0; i < t->nrows * t->ncols; i++)
                free(t->cells[i]);
        free(t->cells);
        t->cells = NULL;
        t->nrows = t->cap = 0;
}

int quorumctl_table_add(struct quorumctl_table *t, const char *const *cells)
{
        if (t->nrows == t->cap) {
                size_t cap = t->cap != 0 ? t->cap * 2 : 16;
                char **grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));
                if (grown == NULL)
                        return -ENOMEM;
                t->cells = grown;
                t->cap = cap;
        }
        char **row = t->cells + t->nrows * t->ncols;
        for (size_t i = 0; i < t->ncols; i++) {
                row[i] = NULL;
                if (cells[i] != NULL && (row[i] = strdup(cells[i])) == NULL) {
                        for (size_t j = 0; j < i; j++)
                                free(row[j]);
                        return -ENOMEM;
                }
        }
        t->nrows++;
        return 0;
}

static size_t text_width(const char *s)
{
        size_t w = 0;
        for (; *s != '\0'; s++)
                if (((unsigned char)*s & 0xC0) != 0x80)
                        w++;
        return w;
}

static void put_text(FILE *out, const char *s)
{
        for (; *s != '\0'; s++)
                fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, out);
}

static void put_spaces(FILE *out, size_t n)
{
        while (n-- > 0)
                fputc(' ', out);
}

/* Writes one row; blanks at the end of the line (empty last cells) are cut. */
static void print_row(const struct quorumctl_table *t, FILE *out, const char *const *row,
                      const size_t *width)
{
        size_t pending = 0; /* spaces owed before the next visible text */
        for (size_t c = 0; c < t->ncols; c++) {
                const char *text = row[c] != NULL ? row[c] : "-";
                size_t pad = width[c] - text_width(text);
                if (c > 0)
                        pending += 2;
                if (t->right[c])
                        pending += pad;
                if (text[0] != '\0') {
                        put_spaces(out, pending);
                        pending = 0;
                        put_text(out, text);
                }
                if (!t->right[c])
                        pending += pad;
        }
        fputc('\n', out);
}

void quorumctl_table_print(const struct quorumctl_table *t, FILE *out)
{
        size_t width[QUORUMCTL_TABLE_MAX_COLS];
        for (size_t c = 0; c < t->ncols; c++) {
                width[c] = text_width(t->headers[c]);
                for (size_t r = 0; r < t->nrows; r++) {
                        const char *cell = t->cells[r * t->ncols + c];
                        size_t w = text_width(cell != NULL ? cell : "-");
                        if (w > width[c])
                                width[c] = w;
                }
        }
        print_row(t, out, t->headers, width);
        for (size_t r = 0; r < t->nrows; r++)
                print_row(t, out, (const char *const *)t->cells + r * t->ncols, width);
}

char *quorumctl_table_cell(const json_t *value)
{
        char *text = NULL;
        switch (json_typeof(value)) {
        case JSON_STRING:
                return strdup(json_string_value(value));
        case JSON_INTEGER:
                if (asprintf(&text, "%lld", (long long)json_integer_value(value)) < 0)
                        return NULL;
                return text;
        case JSON_REAL:
                if (asprintf(&text, "%g", json_real_value(value)) < 0)
                        return NULL;
                return text;
        case JSON_TRUE:
                return strdup("true");
        case JSON_FALSE:
                return strdup("false");
        case JSON_NULL:
                return strdup("");
        default:
                return json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        }
}

void quorumctl_table_print_object(const json_t *obj, FILE *out)
{
        const char *key;
        json_t *value;
        size_t width = 0;
        json_object_foreach((json_t *)obj, key, value)
        {
                size_t w = text_width(key);
                if (w > width)
                        width = w;
        }
        json_object_foreach((json_t *)obj, key, value)
        {
                char *text = quorumctl_table_cell(value);
                put_text(out, key);
                fputc(':', out);
                put_spaces(out, width - text_width(key) + 1);
                put_text(out, text != NULL ? text : "?");
                fputc('\n', out);
                free(text);
        }
}
