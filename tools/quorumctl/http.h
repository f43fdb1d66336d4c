/*
 * http.h — the HTTP client of quorumctl: one request, several servers.
 *
 * Every node serves the whole API, so a request goes to the servers in the
 * order given and moves on to the next one when a server cannot be reached
 * (connection refused, DNS failure, timeout, broken connection) or answers
 * 503 (no quorum on its side).  Any other answer, a 4xx above all, is final:
 * another node would refuse it the same way.  The server that answered is
 * tried first by the next request, so paging, polling and import chunks stay
 * on one node while it works.  Writes carry an Idempotency-Key so that a
 * retry on the next server cannot apply a change twice.  libcurl is used
 * here only; its status codes do not leave this file.
 */
#ifndef QUORUMCTL_HTTP_H
#define QUORUMCTL_HTTP_H

#include <stddef.h>

struct quorumctl_http {
        char **servers; /* owned: base URLs without a final '/' */
        size_t nservers;
        size_t current;  /* index tried first */
        char *token;     /* owned, may be NULL */
        long timeout_ms; /* whole request, per server */
        long connect_timeout_ms;
        long retry_ms;    /* keep trying while no server has a leader (election) */
        void *curl;       /* CURL *, reused for keep-alive */
        char error[1024]; /* why the last request failed on every server */
};

struct quorumctl_http_response {
        long status; /* 0 when no server answered */
        char *body;  /* owned, NUL-terminated (the NUL not counted in len) */
        size_t len;
        const char *server; /* borrowed from the client: who answered */
};

/* Returns 0 or -ENOMEM.  Call quorumctl_http_close even after a failure. */
int quorumctl_http_init(struct quorumctl_http *http);
void quorumctl_http_close(struct quorumctl_http *http);

/*
 * Adds a server; "host:port" gets "http://", a final '/' is dropped.  url is
 * borrowed.  Returns 0, -EINVAL (empty or not http/https) or -ENOMEM.
 */
int quorumctl_http_add_server(struct quorumctl_http *http, const char *url);

/* Sets the bearer token (copied); NULL removes it.  Returns 0 or -ENOMEM. */
int quorumctl_http_set_token(struct quorumctl_http *http, const char *token);

/*
 * Sends METHOD path (starting with '/', query included) with an optional
 * body (borrowed; content_type must be set when body is) and an optional
 * Idempotency-Key.  Returns 0 when a server answered, whatever the status
 * (after 503 from every server, the last 503); -EHOSTUNREACH when none did,
 * with the reasons in http->error; -ENOMEM.  resp must be freed in every case.
 */
int quorumctl_http_request(struct quorumctl_http *http, const char *method,
                           const char *path, const char *content_type, const char *body,
                           size_t body_len, const char *idempotency_key,
                           struct quorumctl_http_response *resp);

void quorumctl_http_response_free(struct quorumctl_http_response *resp);

/* Percent-encodes a path segment or query value; returns a malloc'd string. */
char *quorumctl_http_escape(const char *text);

#endif
