/*
 * cookies.h — the node's DNS cookie secrets: where they come from, and
 * their rotation.
 *
 * With --cookie-secret-file, the secrets are the file's lines (32
 * hexadecimal digits each; '#' comments): the first makes new server
 * cookies, the others are accepted too.  Every node of a cluster is given
 * the same file, so a cookie made by one node is valid on all.  The file
 * is read again on SIGHUP and whenever it changes (polled every few
 * seconds); when its first secret changes, the one it replaces stays
 * accepted for --cookie-secret-overlap seconds (an hour by default: the
 * life of a cookie), so a rotation needs nothing but a new file.  Without
 * a file, the node makes a random secret at start (fine for one node).
 * A file that cannot be read or has errors at reload keeps the secrets in
 * use, and says why in the log.
 */
#ifndef NODE_COOKIES_H
#define NODE_COOKIES_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "dns/cookie.h"
#include "node/closing.h"

struct node_cookies {
        uv_loop_t *loop;
        struct dns_cookie_secrets secrets; /* read by the DNS servers */
        char path[512];                    /* "" when random */
        unsigned overlap_ms;
        struct dns_cookie_keys file; /* as last read */
        bool retired;                /* an old first secret still accepted */
        uint8_t retired_key[DNS_SIPHASH_KEY_SIZE];
        uv_fs_poll_t poll;
        uv_timer_t expiry; /* when the retired secret stops being accepted */
        bool started;
};

/* Reads the file (path NULL or "": a random secret) and starts watching
 * it.  err receives a reason (file:line) on failure. */
int node_cookies_start(struct node_cookies *c, uv_loop_t *loop, const char *path,
                       unsigned overlap_s, char *err, size_t err_size);
/* Reads the file again now (SIGHUP). */
void node_cookies_reload(struct node_cookies *c);
/* Closes the timer and the file watch through g. */
void node_cookies_close(struct node_cookies *c, struct node_closing *g);

/* Parses a secrets file into keys; 0, or -1 with a reason in err. */
int node_cookies_read(const char *path, struct dns_cookie_keys *keys, char *err,
                      size_t err_size);

#endif
