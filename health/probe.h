/*
 * probe.h — HTTP, HTTPS and TCP probes on the node's libuv loop.
 *
 * A `struct health_prober` is the engine: one libcurl multi handle driven by
 * the loop (curl_multi_socket_action, one uv_poll_t per socket curl opens,
 * one uv_timer_t for curl's timeouts).  No thread, no blocking call: a probe
 * is started, and its callback runs on the loop when the verdict is known.
 * Every probe leaves from the engine's source address (the node's own), on a
 * fresh connection.
 *
 * A `struct health_probe` is one check's probe slot, owned by the caller
 * (the scheduler embeds one per check): initialised once, started once per
 * interval, closed with a callback (it owns a uv_timer_t, the deadline).
 *
 * Timeouts are Route 53's: HTTP(S) must connect within 4 s and answer with a
 * status within 2 s of connecting (for a string match, the first 5,120 body
 * bytes must also arrive by then); TCP must connect within 10 s.
 */
#ifndef HEALTH_PROBE_H
#define HEALTH_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "health/check.h"
#include "health/match.h"

#define HEALTH_CONNECT_TIMEOUT_MS     4000
#define HEALTH_RESPONSE_TIMEOUT_MS    2000 /* after connecting */
#define HEALTH_TCP_CONNECT_TIMEOUT_MS 10000

enum health_reason {
        HEALTH_REASON_NONE = 0,         /* success */
        HEALTH_REASON_CONNECT_REFUSED,  /* RST to the SYN */
        HEALTH_REASON_CONNECT_TIMEOUT,  /* no connection within the limit */
        HEALTH_REASON_CONNECT_FAILED,   /* unreachable, source address, ... */
        HEALTH_REASON_RESOLVE,          /* the fqdn did not resolve */
        HEALTH_REASON_TLS,              /* handshake or certificate */
        HEALTH_REASON_RESPONSE_TIMEOUT, /* no status (or body) in time */
        HEALTH_REASON_STATUS,           /* status outside the expected range */
        HEALTH_REASON_STRING_NOT_FOUND, /* not in the first 5,120 body bytes */
        HEALTH_REASON_CONNECTION,       /* reset, closed early, bad HTTP */
        HEALTH_REASON_INTERNAL,         /* out of memory, curl refused */
        HEALTH_REASON_COUNT
};

struct health_result {
        bool ok;
        enum health_reason reason;
        int status;            /* HTTP status, 0 if none */
        int64_t connect_us;    /* TCP connect latency, -1 if not connected */
        int64_t first_byte_us; /* from start to the first response byte, -1 */
        uint64_t started_ms;   /* loop time (uv_now) the probe started */
        int64_t elapsed_us;    /* from start to the verdict */
        char text[128];        /* human-readable reason ("status 500", ...) */
};

struct health_prober;
struct health_probe;

typedef void (*health_probe_cb)(struct health_probe *probe,
                                const struct health_result *result);
typedef void (*health_probe_close_cb)(struct health_probe *probe);
typedef void (*health_prober_close_cb)(struct health_prober *prober);

struct health_probe {
        void *data; /* the caller's */
        /* private */
        struct health_prober *prober;
        struct health_probe *prev, *next; /* the engine's active probes */
        void *easy;                       /* CURL *, created on first start */
        uv_timer_t deadline;
        health_probe_cb cb;
        health_probe_close_cb close_cb;
        uint64_t start_ns;
        bool active;
        bool closing;
        bool decided; /* the callbacks reached a verdict: curl's code is moot */
        bool ready;   /* connected, TLS done: the request is being sent */
        bool headers_done;
        uint16_t status_min, status_max;
        struct health_match *match; /* string match only */
        void *header_list;          /* struct curl_slist *: Host header */
        void *connect_to;           /* struct curl_slist *: fqdn:port -> ip:port */
        void *tcp; /* struct tcp_attempt * (probe_tcp.c) while one runs */
        struct health_result result;
        char errbuf[256]; /* CURL_ERROR_SIZE */
};

struct health_prober {
        void *data; /* the caller's */
        /* private */
        uv_loop_t *loop;
        void *multi; /* CURLM * */
        uv_timer_t timer;
        struct health_probe *active;
        unsigned active_count;
        unsigned open_handles; /* timer + uv_poll_t handles not yet closed */
        bool closing;
        health_prober_close_cb close_cb;
        void **easy_pool; /* CURL * handles kept for reuse */
        unsigned easy_pooled;
        struct sockaddr_storage source_addr;
        bool has_source;
        char source[64]; /* "host!ADDR" for CURLOPT_INTERFACE, "" for any */
};

/*
 * Starts the engine on loop.  source_ip (borrowed; NULL: the kernel picks)
 * is the address probes leave from.  0, -EINVAL (not an address) or
 * -ENOMEM.  libcurl's global initialisation is done here once.
 */
int health_prober_init(struct health_prober *prober, uv_loop_t *loop,
                       const char *source_ip);

/* Probes being run now. */
unsigned health_prober_active(const struct health_prober *prober);

/*
 * Cancels every active probe (their callbacks are not called), closes the
 * engine's handles and calls cb once all are closed.  Every probe must be
 * closed (health_probe_close) before or right after this.
 */
void health_prober_close(struct health_prober *prober, health_prober_close_cb cb);

/* Initialises probe for prober (arms nothing); 0 or a negative libuv code. */
int health_probe_init(struct health_prober *prober, struct health_probe *probe);

/*
 * Starts one probe of cfg (borrowed for the call only).  cb runs once, on
 * the loop, with the verdict.  Returns 0, -EBUSY (already active), -EINVAL
 * (cfg is not a probed type) or -ENOMEM; on error cb is never called.
 */
int health_probe_start(struct health_probe *probe, const struct health_check_config *cfg,
                       health_probe_cb cb);

bool health_probe_active(const struct health_probe *probe);

/* Stops an active probe without calling its callback (its connection is closed). */
void health_probe_cancel(struct health_probe *probe);

/* Cancels, then closes the deadline timer; cb (may be NULL) runs when done. */
void health_probe_close(struct health_probe *probe, health_probe_close_cb cb);

/* "connect_refused", "status", ...: stable names for the API and metrics. */
const char *health_reason_name(enum health_reason reason);

#endif
