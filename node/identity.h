/*
 * identity.h — this node's identity: a certificate from the cluster's CA
 * that names its node id, and the TLS it takes to prove it.
 *
 * A node certificate names its node id as the URI subject alternative name
 * "quorumdns://node/<id>" (exactly one such name; the subject's CN is for
 * people and is not read).  It is signed by the cluster CA, has the
 * extended key usages serverAuth and clientAuth, and may carry IP and DNS
 * names too (for the API).  Peers are verified against the CA file only
 * (no system roots).
 *
 * node_identity_load reads the CA, certificate and key, checks that the
 * certificate is the CA's, matches the key and names this node, and builds
 * the TLS 1.3 contexts.  node_identity_channel gives consensus/transport.c
 * its channel: TLS sessions on memory buffers, mutual authentication,
 * peer id taken from the verified certificate.  OpenSSL stays in node/.
 */
#ifndef NODE_IDENTITY_H
#define NODE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "consensus/transport.h"

#define NODE_IDENTITY_URI_PREFIX "quorumdns://node/"

struct node_identity {
        unsigned long long id;
        void *server; /* SSL_CTX: accepting side, a peer certificate required */
        void *client; /* SSL_CTX: connecting side */
        struct consensus_channel_ops channel;
        char ca_file[512];
        char cert_file[512];
        char key_file[512];
};

/* Loads the identity of node `id`.  Returns 0, or a negative error with a
 * one-line reason in err. */
int node_identity_load(struct node_identity *ident, unsigned long long id,
                       const char *ca_file, const char *cert_file, const char *key_file,
                       char *err, size_t err_size);

/* Reads the same three files again (a rotated certificate or CA): new
 * connections use them, open ones keep what they were authenticated with.
 * On error (reason in err) the identity in use stays. */
int node_identity_reload(struct node_identity *ident, char *err, size_t err_size);

void node_identity_free(struct node_identity *ident);

/* Reads the node id a PEM certificate file names: 0 or a negative error. */
int node_identity_file_id(const char *cert_file, unsigned long long *id);

#endif
