/*
 * ca.c — `quorumdns ca`: the cluster's certificate authority and node
 * certificates (see identity.h for what a node certificate names).
 *
 *   quorumdns ca init DIR [--days N]
 *       DIR/ca.key (the CA's private key, mode 600) and DIR/ca.crt (its
 *       self-signed certificate, 10 years by default).
 *   quorumdns ca issue DIR --node-id N [--ip IP]... [--dns NAME]...
 *                          [--days N] [--out PREFIX] [--force]
 *       PREFIX.key (mode 600) and PREFIX.crt (default PREFIX DIR/node-N):
 *       a P-256 key and a certificate signed by DIR's CA naming
 *       quorumdns://node/N, plus the IP and DNS names given (for the API).
 *
 * Keys are EC P-256, made here and written only to a new file created with
 * mode 600 (a file is replaced only with --force, through a new file and a
 * rename, so no key is ever readable by others, even briefly).  The CA key
 * is needed only to issue certificates; keep DIR offline and copy to each
 * node only ca.crt and that node's own PREFIX.crt and PREFIX.key.
 */
#include "node/ca.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "node/identity.h"

#define MAX_NAMES 16

static const char usage[] =
    "Usage: quorumdns ca init DIR [--days N]\n"
    "       quorumdns ca issue DIR --node-id N [--ip IP]... [--dns NAME]...\n"
    "                          [--days N] [--out PREFIX] [--force]\n"
    "Makes the cluster CA (DIR/ca.key, mode 600, and DIR/ca.crt), and node\n"
    "certificates naming quorumdns://node/N (PREFIX.key, mode 600, and\n"
    "PREFIX.crt; PREFIX defaults to DIR/node-N).  Give a node ca.crt and its\n"
    "own PREFIX.crt and PREFIX.key only; keep ca.key offline.\n";

/* Writes through a new file (mode `mode`) renamed over `path`. */
static int write_pem(const char *path, mode_t mode, bool force, EVP_PKEY *key, X509 *cert)
{
        char tmp[1100];
        if (!force && access(path, F_OK) == 0) {
                fprintf(stderr, "quorumdns ca: %s exists (--force replaces it)\n", path);
                return -EEXIST;
        }
        snprintf(tmp, sizeof(tmp), "%s.new.%ld", path, (long)getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
        if (fd < 0) {
                fprintf(stderr, "quorumdns ca: %s: %s\n", tmp, strerror(errno));
                return -errno;
        }
        fchmod(fd, mode); /* whatever the umask */
        FILE *fp = fdopen(fd, "w");
        int ok =
            fp != NULL && (key ? PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL)
                               : PEM_write_X509(fp, cert)) == 1;
        if (fp != NULL)
                ok = (fclose(fp) == 0) && ok;
        else
                close(fd);
        if (!ok || rename(tmp, path) != 0) {
                fprintf(stderr, "quorumdns ca: cannot write %s\n", path);
                unlink(tmp);
                return -EIO;
        }
        return 0;
}

static EVP_PKEY *read_key(const char *path)
{
        FILE *fp = fopen(path, "r");
        if (fp == NULL)
                return NULL;
        EVP_PKEY *key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
        fclose(fp);
        return key;
}

static X509 *read_cert(const char *path)
{
        FILE *fp = fopen(path, "r");
        if (fp == NULL)
                return NULL;
        X509 *cert = PEM_read_X509(fp, NULL, NULL, NULL);
        fclose(fp);
        return cert;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
        X509V3_CTX v3;
        X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
        if (ext == NULL)
                return -EINVAL;
        int ok = X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
        return ok == 1 ? 0 : -ENOMEM;
}

/* A certificate for `key` named `cn`, valid `days`, to be signed by issuer
 * (NULL: itself). */
static X509 *new_cert(EVP_PKEY *key, const char *cn, unsigned days, X509 *issuer)
{
        X509 *cert = X509_new();
        unsigned char serial[16];
        if (cert == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
                goto fail;
        serial[0] &= 0x7f; /* positive */
        serial[0] |= 0x01; /* and of full length */
        BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
        int ok =
            bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
        BN_free(bn);
        X509_NAME *name = X509_get_subject_name(cert);
        ok = ok && X509_set_version(cert, 2) == 1 &&
             X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != NULL &&
             X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400) != NULL &&
             X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                        (const unsigned char *)"quorumdns", -1, -1,
                                        0) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        (const unsigned char *)cn, -1, -1, 0) == 1 &&
             X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) ==
                 1 &&
             X509_set_pubkey(cert, key) == 1;
        if (ok)
                return cert;
fail:
        X509_free(cert);
        return NULL;
}

static int parse_days(const char *text, unsigned *days)
{
        char *end;
        unsigned long v = strtoul(text, &end, 10);
        if (*text == '\0' || *end != '\0' || v == 0 || v > 36500) {
                fprintf(stderr, "quorumdns ca: --days: '%s' is not 1..36500\n", text);
                return -EINVAL;
        }
        *days = (unsigned)v;
        return 0;
}

static int ca_init(int argc, char **argv)
{
        const char *dir = NULL;
        unsigned days = 3650;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
                        if (parse_days(argv[++i], &days) != 0)
                                return 2;
                } else if (argv[i][0] != '-' && dir == NULL) {
                        dir = argv[i];
                } else {
                        fputs(usage, stderr);
                        return 2;
                }
        }
        if (dir == NULL) {
                fputs(usage, stderr);
                return 2;
        }
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                fprintf(stderr, "quorumdns ca: %s: %s\n", dir, strerror(errno));
                return 1;
        }
        char key_path[1024], cert_path[1024];
        snprintf(key_path, sizeof(key_path), "%s/ca.key", dir);
        snprintf(cert_path, sizeof(cert_path), "%s/ca.crt", dir);
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509 *cert = key ? new_cert(key, "quorumdns cluster CA", days, NULL) : NULL;
        int rc = 1;
        if (cert == NULL ||
            add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") !=
                0 ||
            add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
            add_ext(cert, cert, NID_subject_key_identifier, "hash") != 0 ||
            X509_sign(cert, key, EVP_sha256()) == 0) {
                fprintf(stderr, "quorumdns ca: cannot make the CA certificate\n");
        } else if (write_pem(key_path, 0600, false, key, NULL) == 0 &&
                   write_pem(cert_path, 0644, false, NULL, cert) == 0) {
                printf("%s\n%s\n", key_path, cert_path);
                rc = 0;
        }
        X509_free(cert);
        EVP_PKEY_free(key);
        ERR_clear_error();
        return rc;
}

struct issue_args {
        const char *dir;
        const char *out;
        unsigned long long id;
        unsigned days;
        bool force;
        const char *ips[MAX_NAMES];
        const char *dns[MAX_NAMES];
        unsigned ip_count, dns_count;
};

static int parse_issue(int argc, char **argv, struct issue_args *a)
{
        a->days = 825;
        for (int i = 0; i < argc; i++) {
                const char *arg = argv[i];
                const char *val = i + 1 < argc ? argv[i + 1] : NULL;
                if (strcmp(arg, "--force") == 0) {
                        a->force = true;
                } else if (arg[0] != '-' && a->dir == NULL) {
                        a->dir = arg;
                } else if (val == NULL) {
                        fputs(usage, stderr);
                        return -EINVAL;
                } else if (i++, strcmp(arg, "--node-id") == 0) {
                        char *end;
                        a->id = strtoull(val, &end, 10);
                        if (*end != '\0' || a->id == 0 || a->id > (1ULL << 63) ||
                            val[0] == '-') {
                                fprintf(stderr,
                                        "quorumdns ca: --node-id: '%s' is not 1..2^63\n",
                                        val);
                                return -EINVAL;
                        }
                } else if (strcmp(arg, "--days") == 0) {
                        if (parse_days(val, &a->days) != 0)
                                return -EINVAL;
                } else if (strcmp(arg, "--out") == 0) {
                        a->out = val;
                } else if (strcmp(arg, "--ip") == 0 && a->ip_count < MAX_NAMES) {
                        a->ips[a->ip_count++] = val;
                } else if (strcmp(arg, "--dns") == 0 && a->dns_count < MAX_NAMES) {
                        a->dns[a->dns_count++] = val;
                } else {
                        fputs(usage, stderr);
                        return -EINVAL;
                }
        }
        if (a->dir == NULL || a->id == 0) {
                fputs(usage, stderr);
                return -EINVAL;
        }
        return 0;
}

static int san_text(const struct issue_args *a, char *out, size_t n)
{
        size_t len =
            (size_t)snprintf(out, n, "URI:%s%llu", NODE_IDENTITY_URI_PREFIX, a->id);
        for (unsigned i = 0; i < a->ip_count && len < n; i++) {
                unsigned char bin[16];
                if (inet_pton(AF_INET, a->ips[i], bin) != 1 &&
                    inet_pton(AF_INET6, a->ips[i], bin) != 1) {
                        fprintf(stderr, "quorumdns ca: --ip: '%s' is not an address\n",
                                a->ips[i]);
                        return -EINVAL;
                }
                len += (size_t)snprintf(out + len, n - len, ",IP:%s", a->ips[i]);
        }
        for (unsigned i = 0; i < a->dns_count && len < n; i++) {
                if (strspn(a->dns[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
                                      "YZ0123456789-.") != strlen(a->dns[i]) ||
                    a->dns[i][0] == '\0') {
                        fprintf(stderr, "quorumdns ca: --dns: '%s' is not a host name\n",
                                a->dns[i]);
                        return -EINVAL;
                }
                len += (size_t)snprintf(out + len, n - len, ",DNS:%s", a->dns[i]);
        }
        return len < n ? 0 : -ENAMETOOLONG;
}

static int ca_issue(int argc, char **argv)
{
        struct issue_args a = {0};
        if (parse_issue(argc, argv, &a) != 0)
                return 2;
        char san[2048];
        if (san_text(&a, san, sizeof(san)) != 0)
                return 2;
        char path[1024], key_path[1100], cert_path[1100], cn[64];
        snprintf(path, sizeof(path), "%s/ca.key", a.dir);
        EVP_PKEY *ca_key = read_key(path);
        snprintf(path, sizeof(path), "%s/ca.crt", a.dir);
        X509 *ca = read_cert(path);
        if (ca_key == NULL || ca == NULL || X509_check_private_key(ca, ca_key) != 1) {
                fprintf(stderr,
                        "quorumdns ca: %s/ca.key and %s/ca.crt are not a CA made by "
                        "`quorumdns ca init`\n",
                        a.dir, a.dir);
                EVP_PKEY_free(ca_key);
                X509_free(ca);
                ERR_clear_error();
                return 1;
        }
        if (a.out == NULL) {
                snprintf(path, sizeof(path), "%s/node-%llu", a.dir, a.id);
                a.out = path;
        }
        snprintf(key_path, sizeof(key_path), "%s.key", a.out);
        snprintf(cert_path, sizeof(cert_path), "%s.crt", a.out);
        snprintf(cn, sizeof(cn), "quorumdns node %llu", a.id);
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509 *cert = key ? new_cert(key, cn, a.days, ca) : NULL;
        int rc = 1;
        if (cert == NULL ||
            add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
            add_ext(cert, ca, NID_key_usage, "critical,digitalSignature") != 0 ||
            add_ext(cert, ca, NID_ext_key_usage, "serverAuth,clientAuth") != 0 ||
            add_ext(cert, ca, NID_subject_alt_name, san) != 0 ||
            add_ext(cert, ca, NID_authority_key_identifier, "keyid:always") != 0 ||
            X509_sign(cert, ca_key, EVP_sha256()) == 0) {
                fprintf(stderr, "quorumdns ca: cannot make the node certificate\n");
        } else if (write_pem(key_path, 0600, a.force, key, NULL) == 0 &&
                   write_pem(cert_path, 0644, a.force, NULL, cert) == 0) {
                printf("%s\n%s\n", key_path, cert_path);
                rc = 0;
        }
        X509_free(cert);
        EVP_PKEY_free(key);
        X509_free(ca);
        EVP_PKEY_free(ca_key);
        ERR_clear_error();
        return rc;
}

int node_ca_main(int argc, char **argv)
{
        if (argc >= 1 && strcmp(argv[0], "init") == 0)
                return ca_init(argc - 1, argv + 1);
        if (argc >= 1 && strcmp(argv[0], "issue") == 0)
                return ca_issue(argc - 1, argv + 1);
        fputs(usage,
              argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)
                  ? stdout
                  : stderr);
        return argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)
                   ? 0
                   : 2;
}
