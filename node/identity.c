/*
 * identity.c — node certificates and the TLS channel between nodes (see
 * identity.h).
 *
 * Contexts: TLS 1.3 only, the cluster CA as the only trust anchor, a peer
 * certificate always required and verified (chain, validity, purpose), no
 * session tickets (each connection is authenticated in full; raft keeps its
 * connections open, so resumption would buy little).  A session is an SSL
 * object between two memory BIOs: the transport feeds received bytes into
 * one and sends what appears in the other; nothing here touches a socket.
 * After the handshake the peer's node id is read from its verified
 * certificate; the connecting side also requires it to be the node it
 * asked for.
 */
#include "node/identity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct consensus_channel {
        SSL *ssl;
        BIO *in, *out;
        bool accepting;
        raft_id expect;
};

static void ssl_reason(char *err, size_t n)
{
        unsigned long e = ERR_get_error();
        char text[200] = "";
        if (e != 0)
                ERR_error_string_n(e, text, sizeof(text));
        ERR_clear_error();
        if (text[0] != '\0')
                snprintf(err, n, "%s", text);
}

/* The node id of a certificate: its one "quorumdns://node/<id>" URI. */
static int cert_node_id(X509 *cert, unsigned long long *id)
{
        GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
        if (names == NULL)
                return -ENOENT;
        int found = 0;
        size_t prefix = strlen(NODE_IDENTITY_URI_PREFIX);
        for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
                const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
                if (gn->type != GEN_URI)
                        continue;
                const unsigned char *data =
                    ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
                int len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
                if (len <= (int)prefix || len > (int)prefix + 20 ||
                    memcmp(data, NODE_IDENTITY_URI_PREFIX, prefix) != 0)
                        continue;
                unsigned long long v = 0;
                bool ok = true;
                for (int k = (int)prefix; k < len && ok; k++) {
                        ok = data[k] >= '0' && data[k] <= '9' && v <= (1ULL << 63) / 10;
                        v = v * 10 + (unsigned)(data[k] - '0');
                }
                if (!ok || v == 0 || v > (1ULL << 63) || data[prefix] == '0') {
                        found = -1;
                        break;
                }
                if (found++ == 0)
                        *id = v;
        }
        GENERAL_NAMES_free(names);
        return found == 1 ? 0 : (found == 0 ? -ENOENT : -EPROTO);
}

int node_identity_file_id(const char *cert_file, unsigned long long *id)
{
        FILE *fp = fopen(cert_file, "r");
        if (fp == NULL)
                return -errno;
        X509 *cert = PEM_read_X509(fp, NULL, NULL, NULL);
        fclose(fp);
        if (cert == NULL)
                return -EINVAL;
        int rc = cert_node_id(cert, id);
        X509_free(cert);
        return rc;
}

static SSL_CTX *make_ctx(const struct node_identity *ident, bool server, char *err,
                         size_t n)
{
        SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
        if (ctx == NULL) {
                snprintf(err, n, "TLS: out of memory");
                return NULL;
        }
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        SSL_CTX_set_verify_depth(ctx, 4);
        if (SSL_CTX_load_verify_locations(ctx, ident->ca_file, NULL) != 1) {
                snprintf(err, n, "%s: not a readable PEM CA certificate", ident->ca_file);
                goto fail;
        }
        if (SSL_CTX_use_certificate_chain_file(ctx, ident->cert_file) != 1) {
                snprintf(err, n, "%s: not a readable PEM certificate", ident->cert_file);
                goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, ident->key_file, SSL_FILETYPE_PEM) != 1) {
                snprintf(err, n,
                         "%s: not a readable PEM private key, or not the key of %s",
                         ident->key_file, ident->cert_file);
                goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
                snprintf(err, n, "%s is not the key of %s", ident->key_file,
                         ident->cert_file);
                goto fail;
        }
        return ctx;
fail:
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
}

/* The own certificate must be valid under the CA, or no peer will accept it. */
static int check_own(const struct node_identity *ident, SSL_CTX *ctx, char *err, size_t n)
{
        X509 *cert = SSL_CTX_get0_certificate(ctx);
        unsigned long long id = 0;
        int rc = cert_node_id(cert, &id);
        if (rc != 0) {
                snprintf(err, n, "%s names no node id (a URI %s<id>, exactly one)",
                         ident->cert_file, NODE_IDENTITY_URI_PREFIX);
                return -EINVAL;
        }
        if (id != ident->id) {
                snprintf(err, n, "%s is node %llu's certificate, this is node %llu",
                         ident->cert_file, id, ident->id);
                return -EINVAL;
        }
        X509_STORE_CTX *vctx = X509_STORE_CTX_new();
        if (vctx == NULL ||
            X509_STORE_CTX_init(vctx, SSL_CTX_get_cert_store(ctx), cert, NULL) != 1) {
                X509_STORE_CTX_free(vctx);
                snprintf(err, n, "TLS: out of memory");
                return -ENOMEM;
        }
        int ok = X509_verify_cert(vctx);
        int code = X509_STORE_CTX_get_error(vctx);
        X509_STORE_CTX_free(vctx);
        ERR_clear_error();
        if (ok != 1) {
                snprintf(err, n, "%s does not verify against %s: %s", ident->cert_file,
                         ident->ca_file, X509_verify_cert_error_string(code));
                return -EINVAL;
        }
        return 0;
}

/* ---- channel ------------------------------------------------------------ */
/* expect 0 (side channels only; raft ids start at 1): any node of the CA. */

static struct consensus_channel *ch_open(void *ctx, bool accepting, raft_id expect)
{
        struct node_identity *ident = ctx;
        struct consensus_channel *ch = calloc(1, sizeof(*ch));
        if (ch == NULL)
                return NULL;
        ch->accepting = accepting;
        ch->expect = expect;
        ch->ssl = SSL_new(accepting ? ident->server : ident->client);
        ch->in = BIO_new(BIO_s_mem());
        ch->out = BIO_new(BIO_s_mem());
        if (ch->ssl == NULL || ch->in == NULL || ch->out == NULL) {
                SSL_free(ch->ssl);
                BIO_free(ch->in);
                BIO_free(ch->out);
                free(ch);
                ERR_clear_error();
                return NULL;
        }
        BIO_set_mem_eof_return(ch->in, -1); /* empty: "retry", not end of file */
        SSL_set_bio(ch->ssl, ch->in, ch->out);
        if (accepting)
                SSL_set_accept_state(ch->ssl);
        else
                SSL_set_connect_state(ch->ssl);
        return ch;
}

static int ch_input(struct consensus_channel *ch, const void *buf, size_t len)
{
        while (len > 0) {
                int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
                int n = BIO_write(ch->in, buf, chunk);
                if (n <= 0)
                        return -ENOMEM;
                buf = (const char *)buf + n;
                len -= (size_t)n;
        }
        return 0;
}

static int ch_handshake(struct consensus_channel *ch, raft_id *peer_id, char *why,
                        size_t n)
{
        int rc = SSL_do_handshake(ch->ssl);
        if (rc != 1) {
                int e = SSL_get_error(ch->ssl, rc);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                        return -EAGAIN;
                long v = SSL_get_verify_result(ch->ssl);
                if (v != X509_V_OK)
                        snprintf(why, n, "TLS: certificate refused: %s",
                                 X509_verify_cert_error_string(v));
                else {
                        snprintf(why, n, "TLS handshake failed");
                        char reason[200] = "";
                        ssl_reason(reason, sizeof(reason));
                        if (reason[0])
                                snprintf(why, n, "TLS handshake failed: %s", reason);
                }
                ERR_clear_error();
                return -EPROTO;
        }
        X509 *cert = SSL_get0_peer_certificate(ch->ssl);
        if (cert == NULL || SSL_get_verify_result(ch->ssl) != X509_V_OK) {
                snprintf(why, n, "TLS: the peer has no verified certificate");
                return -EPROTO;
        }
        unsigned long long id = 0;
        if (cert_node_id(cert, &id) != 0) {
                snprintf(why, n, "TLS: the certificate names no node id (one URI %s<id>)",
                         NODE_IDENTITY_URI_PREFIX);
                return -EPROTO;
        }
        if (!ch->accepting && ch->expect != 0 && id != ch->expect) {
                snprintf(why, n,
                         "TLS: the server's certificate is node %llu's, not %llu's", id,
                         (unsigned long long)ch->expect);
                return -EPROTO;
        }
        *peer_id = id;
        return 0;
}

static ssize_t ch_read(struct consensus_channel *ch, void *buf, size_t cap)
{
        int n = SSL_read(ch->ssl, buf, cap > (1u << 30) ? (1 << 30) : (int)cap);
        if (n > 0)
                return n;
        int e = SSL_get_error(ch->ssl, n);
        ERR_clear_error();
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return -EAGAIN;
        if (e == SSL_ERROR_ZERO_RETURN)
                return 0;
        return -EPROTO;
}

static int ch_write(struct consensus_channel *ch, const void *buf, size_t len)
{
        while (len > 0) {
                int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
                int n = SSL_write(ch->ssl, buf, chunk);
                if (n <= 0) {
                        ERR_clear_error();
                        return -EPROTO;
                }
                buf = (const char *)buf + n;
                len -= (size_t)n;
        }
        return 0;
}

static size_t ch_output(struct consensus_channel *ch, void *buf, size_t cap)
{
        int n = BIO_read(ch->out, buf, cap > (1u << 30) ? (1 << 30) : (int)cap);
        return n > 0 ? (size_t)n : 0;
}

static void ch_close(struct consensus_channel *ch)
{
        SSL_free(ch->ssl); /* frees both BIOs */
        free(ch);
}

int node_identity_reload(struct node_identity *ident, char *err, size_t n)
{
        SSL_CTX *server = make_ctx(ident, true, err, n);
        SSL_CTX *client = server ? make_ctx(ident, false, err, n) : NULL;
        if (client == NULL || check_own(ident, server, err, n) != 0) {
                SSL_CTX_free(server);
                SSL_CTX_free(client);
                return -EINVAL;
        }
        /* Sessions already open hold their own reference to the old ones. */
        SSL_CTX_free(ident->server);
        SSL_CTX_free(ident->client);
        ident->server = server;
        ident->client = client;
        return 0;
}

int node_identity_load(struct node_identity *ident, unsigned long long id,
                       const char *ca_file, const char *cert_file, const char *key_file,
                       char *err, size_t n)
{
        memset(ident, 0, sizeof(*ident));
        ident->id = id;
        snprintf(ident->ca_file, sizeof(ident->ca_file), "%s", ca_file);
        snprintf(ident->cert_file, sizeof(ident->cert_file), "%s", cert_file);
        snprintf(ident->key_file, sizeof(ident->key_file), "%s", key_file);
        int rc = node_identity_reload(ident, err, n);
        if (rc != 0)
                return rc;
        ident->channel = (struct consensus_channel_ops){
            .ctx = ident,
            .open = ch_open,
            .input = ch_input,
            .handshake = ch_handshake,
            .read = ch_read,
            .write = ch_write,
            .output = ch_output,
            .close = ch_close,
        };
        return 0;
}

void node_identity_free(struct node_identity *ident)
{
        SSL_CTX_free(ident->server);
        SSL_CTX_free(ident->client);
        ident->server = ident->client = NULL;
}
