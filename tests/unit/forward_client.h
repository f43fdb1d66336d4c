/*
 * forward_client.h — the owner's side of a relayed exchange in the tests of
 * node/forward.c: a client that counts the callbacks it gets and keeps the
 * last status and body, and the request of a relayed write (a POST of a
 * change batch with its idempotency key), as node/api_relay.c sends one.
 * Include after <cmocka.h>.
 */
#ifndef TESTS_UNIT_FORWARD_CLIENT_H
#define TESTS_UNIT_FORWARD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "node/forward.h"

struct forward_client {
        int calls;
        int status;
        char body[64];
        struct node_forward_call *call; /* cleared by forward.c */
        bool call_cleared_in_cb;        /* call was NULL when the callback ran */
};

/* The callback of an exchange: ctx is its struct forward_client. */
static inline void forward_client_cb(void *ctx, int status, const char *type,
                                     const char *body, size_t len)
{
        struct forward_client *c = ctx;
        c->calls++;
        c->status = status;
        c->call_cleared_in_cb = c->call == NULL;
        snprintf(c->body, sizeof(c->body), "%.*s", (int)len, body ? body : "");
}

/* A relayed write of "{}" (5 s to answer) whose call pointer is c's;
 * key (the idempotency key) and group may be NULL. */
static inline struct node_forward_request
forward_client_write(struct forward_client *c, const char *key,
                     struct node_forward_group *group)
{
        return (struct node_forward_request){
            .method = "POST",
            .target = "/v1/zones/example.test./changes",
            .idempotency_key = key,
            .content_type = "application/json",
            .body = "{}",
            .body_len = 2,
            .timeout_ms = 5000,
            .relayed = true,
            .call = &c->call,
            .group = group,
        };
}

#endif
