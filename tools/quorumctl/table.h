/*
 * table.h — aligned text tables and key/value listings for people.
 *
 * A table collects rows of strings (copied), then prints them with every
 * column as wide as its widest cell (counted in UTF-8 characters), two spaces
 * between columns, numeric columns right-aligned, no trailing blanks, and
 * control characters shown as spaces so that a comment cannot break the
 * layout.  A missing cell prints as "-".  quorumctl_table_print_object lists
 * the members of a JSON object as "key: value" lines with aligned values.
 */
#ifndef QUORUMCTL_TABLE_H
#define QUORUMCTL_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#define QUORUMCTL_TABLE_MAX_COLS 12

struct quorumctl_table {
        size_t ncols;
        const char *headers[QUORUMCTL_TABLE_MAX_COLS]; /* borrowed */
        bool right[QUORUMCTL_TABLE_MAX_COLS];          /* right-align this column */
        char **cells; /* owned: nrows * ncols strings (NULL: "-") */
        size_t nrows, cap;
};

/*
 * headers: ncols borrowed strings; a header starting with '>' (not printed)
 * right-aligns its column.  ncols <= QUORUMCTL_TABLE_MAX_COLS.
 */
void quorumctl_table_init(struct quorumctl_table *t, size_t ncols,
                          const char *const *headers);
void quorumctl_table_free(struct quorumctl_table *t);

/* Adds a row of ncols cells (copied; NULL allowed).  Returns 0 or -ENOMEM. */
int quorumctl_table_add(struct quorumctl_table *t, const char *const *cells);

/* Prints header and rows; with no rows, only the header. */
void quorumctl_table_print(const struct quorumctl_table *t, FILE *out);

/* Text of a JSON scalar for a cell ("" for null, compact JSON for containers);
 * returns a malloc'd string or NULL when out of memory. */
char *quorumctl_table_cell(const json_t *value);

/* Prints "key: value" for each member of obj, values aligned. */
void quorumctl_table_print_object(const json_t *obj, FILE *out);

#endif
