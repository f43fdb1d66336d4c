/*
 * client.h — what every command shares: the HTTP client, the output mode,
 * the idempotency key, and JSON requests that end in an exit code.
 *
 * A command calls quorumctl_client_call with a JSON body (or none) and gets
 * either QUORUMCTL_EXIT_OK and the parsed answer, or another exit code with
 * the error already printed on stderr ("quorumctl: CODE: message ..."),
 * and with --json the API's error body also on stdout.
 * Writes (every method but GET) carry an Idempotency-Key: the invocation's
 * key for the first write, the key with "-2", "-3"... for later ones, so a
 * command that sends several writes (import chunks) never has one taken for
 * another, and running the same command again with the same
 * --idempotency-key replays every write.
 */
#ifndef QUORUMCTL_CLIENT_H
#define QUORUMCTL_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "tools/quorumctl/http.h"

struct quorumctl_ctx {
        struct quorumctl_http http;
        bool json;       /* --json: print the API's JSON */
        char key[129];   /* idempotency key of this invocation */
        unsigned writes; /* writes sent so far */
        FILE *out;       /* borrowed: stdout */
        FILE *err;       /* borrowed: stderr */
};

/* Fills key with 32 random hex digits. */
void quorumctl_client_random_key(char *key, size_t size);

/*
 * method path with body (borrowed, may be NULL).  On QUORUMCTL_EXIT_OK,
 * *answer is the parsed JSON (the caller's; NULL for an empty body); on
 * anything else *answer is NULL and the error has been printed.
 */
int quorumctl_client_call(struct quorumctl_ctx *ctx, const char *method, const char *path,
                          json_t *body, json_t **answer);

/*
 * Same with a raw body and the raw answer: resp is filled (free it with
 * quorumctl_http_response_free) and must be freed even on error.
 * context, when not NULL, is printed before an error ("chunk 3/7: ...").
 */
int quorumctl_client_call_raw(struct quorumctl_ctx *ctx, const char *method,
                              const char *path, const char *content_type,
                              const char *body, size_t len, const char *context,
                              struct quorumctl_http_response *resp);

/*
 * GETs base (a path, possibly with a query) page after page, following
 * next_marker, and collects the members of array member of every page into
 * *all (the caller's), at most limit of them.  Returns an exit code.
 */
int quorumctl_client_fetch_all(struct quorumctl_ctx *ctx, const char *base,
                               const char *member, size_t limit, json_t **all);

/* Prints JSON indented (with --json, or when a command has no table form). */
void quorumctl_client_print_json(struct quorumctl_ctx *ctx, const json_t *value);

/* An object as "key: value" lines for people, or JSON with --json. */
void quorumctl_client_print_object(struct quorumctl_ctx *ctx, const json_t *value);

/* GET path and print the answer as above; returns the exit code. */
int quorumctl_client_show(struct quorumctl_ctx *ctx, const char *path);

/* Prints "quorumctl: <message>" on stderr. */
void quorumctl_client_error(struct quorumctl_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * "/v1/zones/<escaped zone>" + suffix; the zone gets a final dot.  Returns a
 * malloc'd string or NULL.
 */
char *quorumctl_client_zone_path(const char *zone, const char *suffix);

/* The name with a final dot added when missing (malloc'd, or NULL). */
char *quorumctl_client_absolute(const char *name);

/* A whole input file: mapped when it is a regular file, else read. */
struct quorumctl_file {
        char *data;
        size_t len;
        bool mapped;
};

/*
 * Reads path ("-": standard input).  Returns 0, or -errno after printing
 * "quorumctl: PATH: reason".
 */
int quorumctl_client_read_file(struct quorumctl_ctx *ctx, const char *path,
                               struct quorumctl_file *file);
void quorumctl_client_file_free(struct quorumctl_file *file);

#endif
