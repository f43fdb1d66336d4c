/*
 * text.c — presentation/wire conversions through ldns (see text.h).
 *
 * RDATA text is parsed by building "owner TTL CLASS TYPE RDATA" and handing
 * it to ldns's record parser, the same parser the zone-file loader uses.
 */
#include "dns/text.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/name.h"
#include "dns/packet.h"

int dns_type_from_text(const char *text, uint16_t *type)
{
        size_t len = text == NULL ? 0 : strlen(text);
        if (len == 0 || len > 16)
                return -EINVAL;
        if (len > 4 && strncasecmp(text, "TYPE", 4) == 0) {
                /* ldns reads "TYPE1xyz" as TYPE1: only digits, up to 65535 */
                if (len > 9 || strspn(text + 4, "0123456789") != len - 4 ||
                    strtoul(text + 4, NULL, 10) > 65535)
                        return -EINVAL;
        }
        ldns_rr_type t = ldns_get_rr_type_by_name(text);
        if (t == 0) {
                /* ldns knows TYPEnnn; anything else is unknown */
                return -EINVAL;
        }
        *type = (uint16_t)t;
        return 0;
}

/* The next blank-separated word of *p (length returned, 0 at the end). */
static size_t next_word(const char **p, const char **word)
{
        *p += strspn(*p, " \t");
        *word = *p;
        size_t n = strcspn(*p, " \t");
        *p += n;
        return n;
}

/* IPSECKEY text (RFC 4025) in a form ldns 1.8.3 parses without leaking:
 * five plain fields, or RFC 3597 "\# length hex" complete. */
static const char *ipseckey_text_problem(const char *text)
{
        const char *p = text, *w;
        size_t n = next_word(&p, &w);
        if (n == 2 && w[0] == '\\' && w[1] == '#') {
                n = next_word(&p, &w);
                if (n == 0 || n > 5 || strspn(w, "0123456789") < n)
                        return "\\# needs a length in bytes";
                size_t bytes = strtoul(w, NULL, 10), digits = 0;
                while ((n = next_word(&p, &w)) != 0) {
                        if (strspn(w, "0123456789abcdefABCDEF") < n)
                                return "\\# data is hexadecimal";
                        digits += n;
                }
                return digits == 2 * bytes ? NULL : "\\# data does not have its length";
        }
        unsigned fields = 0;
        const char *key = NULL;
        size_t key_len = 0;
        for (p = text; (n = next_word(&p, &w)) != 0; fields++) {
                for (size_t i = 0; i < n; i++)
                        if (w[i] <= ' ' || w[i] >= 0x7f ||
                            strchr("\\\"();", w[i]) != NULL)
                                return "IPSECKEY data is plain words (or \\# length hex)";
                if (fields == 4)
                        key = w, key_len = n;
        }
        if (fields > 5)
                return "IPSECKEY data has five fields: precedence, gateway type, "
                       "algorithm, gateway, public key";
        if (key == NULL)
                return NULL; /* ldns refuses it without leaking */
        /* ldns's parser leaks the gateway it read when the key is not base64:
         * the key goes through the same base64 parser first. */
        char *copy = strndup(key, key_len);
        ldns_rdf *rdf = NULL;
        ldns_status st =
            copy != NULL ? ldns_str2rdf_b64(&rdf, copy) : LDNS_STATUS_MEM_ERR;
        free(copy);
        ldns_rdf_deep_free(rdf);
        return st == LDNS_STATUS_OK ? NULL : "IPSECKEY public key is not base64";
}

int dns_rdata_text_check(uint16_t type, const char *text, char *err, size_t err_size)
{
        /* ldns reads record data into 65535 bytes and goes on with what
         * fits: longer text would be cut silently. */
        if (strnlen(text, DNS_RDATA_TEXT_MAX + 1) > DNS_RDATA_TEXT_MAX) {
                snprintf(err, err_size, "record data longer than %d characters",
                         DNS_RDATA_TEXT_MAX);
                return -EINVAL;
        }
        const char *why =
            type == LDNS_RR_TYPE_IPSECKEY ? ipseckey_text_problem(text) : NULL;
        if (why == NULL)
                return 0;
        snprintf(err, err_size, "%s", why);
        return -EINVAL;
}

int dns_rdata_generic_check(const char *text, size_t wire_len, char *err, size_t err_size)
{
        while (*text == ' ' || *text == '\t')
                text++;
        if (text[0] != '\\' || text[1] != '#' || (text[2] != ' ' && text[2] != '\t'))
                return 0;
        char *end;
        unsigned long declared = strtoul(text + 2, &end, 10);
        if (end == text + 2 || declared == wire_len)
                return 0; /* no length: ldns has refused it already */
        snprintf(
            err, err_size,
            "the generic data gives %lu bytes but the type's fields take %zu of them",
            declared, wire_len);
        return -EINVAL;
}

const char *dns_type_to_text(uint16_t type, char *buf, size_t size)
{
        char *s = ldns_rr_type2str((ldns_rr_type)type);
        snprintf(buf, size, "%s", s ? s : "?");
        free(s);
        return buf;
}

int dns_name_parse_text(const char *text, uint8_t *wire, char *err, size_t err_size)
{
        char buf[1100];
        size_t len = text ? strlen(text) : 0;
        if (len == 0 || len > 1024) {
                snprintf(err, err_size, "a domain name is needed");
                return -EINVAL;
        }
        snprintf(buf, sizeof(buf), "%s%s", text,
                 text[len - 1] == '.' && (len < 2 || text[len - 2] != '\\') ? "" : ".");
        ldns_rdf *rdf = NULL;
        if (ldns_str2rdf_dname(&rdf, buf) != LDNS_STATUS_OK) {
                snprintf(err, err_size, "'%s' is not a valid domain name", text);
                return -EINVAL;
        }
        size_t n = ldns_rdf_size(rdf);
        if (n > DNS_NAME_MAXLEN) {
                ldns_rdf_deep_free(rdf);
                snprintf(err, err_size, "'%s' is longer than 255 bytes", text);
                return -EINVAL;
        }
        memcpy(wire, ldns_rdf_data(rdf), n);
        ldns_rdf_deep_free(rdf);
        return 0;
}

int dns_rdata_from_text(uint16_t type, const char *text, const uint8_t *origin,
                        uint8_t *out, char *err, size_t err_size)
{
        /* Fast paths for the most common types; ldns for everything else. */
        if (type == 1 /* A */ && inet_pton(AF_INET, text, out) == 1)
                return 4;
        if (type == 28 /* AAAA */ && strchr(text, ':') != NULL &&
            inet_pton(AF_INET6, text, out) == 1)
                return 16;
        char tname[32];
        size_t tlen = strlen(text);
        if (tlen == 0) { /* the length's upper bound is dns_rdata_text_check's */
                snprintf(err, err_size, "empty record value");
                return -1;
        }
        if (strpbrk(text, "\n\r;") != NULL && strchr(text, '"') == NULL) {
                snprintf(err, err_size, "record values are one line without comments");
                return -1;
        }
        if (dns_rdata_text_check(type, text, err, err_size) != 0)
                return -1;
        dns_type_to_text(type, tname, sizeof(tname));
        size_t size = tlen + 64;
        char *line = malloc(size);
        if (line == NULL) {
                snprintf(err, err_size, "out of memory");
                return -1;
        }
        snprintf(line, size, "@ 0 IN %s %s", tname, text);
        ldns_rdf *origin_rdf =
            origin ? ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME,
                                           (size_t)dns_name_wire_len(origin, 256), origin)
                   : ldns_dname_new_frm_str(".");
        ldns_rr *rr = NULL;
        ldns_status st = ldns_rr_new_frm_str(&rr, line, 0, origin_rdf, NULL);
        free(line);
        ldns_rdf_deep_free(origin_rdf);
        if (st != LDNS_STATUS_OK) {
                snprintf(err, err_size, "'%.200s' is not valid %s data: %s", text, tname,
                         ldns_get_errorstr_by_id(st));
                return -1;
        }
        if (ldns_rr_get_type(rr) != type) {
                ldns_rr_free(rr);
                snprintf(err, err_size, "'%.200s' is not valid %s data", text, tname);
                return -1;
        }
        /* One buffer per thread, reused: the API parses many values per batch. */
        static __thread ldns_buffer *buf;
        if (buf == NULL)
                buf = ldns_buffer_new(512);
        int len = -1;
        if (buf != NULL) {
                ldns_buffer_clear(buf);
                if (ldns_rr_rdata2buffer_wire(buf, rr) == LDNS_STATUS_OK &&
                    ldns_buffer_position(buf) <= 65535) {
                        len = (int)ldns_buffer_position(buf);
                        memcpy(out, ldns_buffer_begin(buf), (size_t)len);
                }
        }
        if (len < 0)
                snprintf(err, err_size, "record value too long");
        /* ldns takes `\# length hex` for any type without holding it to the
         * type's layout (an SRV of six bytes has no target): what the served
         * DB would refuse is refused here, not stored and left unserved. */
        const char *why = len >= 0 ? dns_rdata_check(type, out, (uint16_t)len) : NULL;
        if (why != NULL) {
                snprintf(err, err_size, "'%.200s' is not valid %s data: %s", text, tname,
                         why);
                len = -1;
        } else if (len >= 0 && dns_rdata_generic_check(text, (size_t)len, err, err_size))
                len = -1;
        ldns_rr_free(rr);
        return len;
}

char *dns_rdata_to_text(uint16_t type, const uint8_t *rdata, uint16_t len)
{
        /* Build a whole record in wire form and let ldns print its RDATA. */
        size_t size = 1 + 10 + (size_t)len;
        uint8_t *wire = malloc(size);
        if (wire == NULL)
                return NULL;
        wire[0] = 0;
        wire[1] = (uint8_t)(type >> 8);
        wire[2] = (uint8_t)type;
        wire[3] = 0;
        wire[4] = 1;
        memset(wire + 5, 0, 4);
        wire[9] = (uint8_t)(len >> 8);
        wire[10] = (uint8_t)len;
        memcpy(wire + 11, rdata, len);
        ldns_rr *rr = NULL;
        size_t pos = 0;
        ldns_status st = ldns_wire2rr(&rr, wire, size, &pos, LDNS_SECTION_ANSWER);
        free(wire);
        if (st != LDNS_STATUS_OK)
                return NULL;
        ldns_buffer *buf = ldns_buffer_new(256);
        char *out = NULL;
        if (buf != NULL) {
                for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
                        if (i > 0)
                                ldns_buffer_printf(buf, " ");
                        ldns_rdf2buffer_str(buf, ldns_rr_rdf(rr, i));
                }
                out = ldns_buffer_export2str(buf);
        }
        ldns_buffer_free(buf);
        ldns_rr_free(rr);
        return out;
}

char *dns_message_section_text(const uint8_t *wire, size_t len, unsigned section)
{
        ldns_pkt *pkt = NULL;
        if (section > 2 || ldns_wire2pkt(&pkt, wire, len) != LDNS_STATUS_OK)
                return NULL;
        ldns_rr_list *list = section == 0   ? ldns_pkt_answer(pkt)
                             : section == 1 ? ldns_pkt_authority(pkt)
                                            : ldns_pkt_additional(pkt);
        ldns_buffer *buf = ldns_buffer_new(512);
        char *out = NULL;
        if (buf != NULL) {
                /* ldns_rr2buffer_str ends each record with a newline. */
                for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++)
                        ldns_rr2buffer_str(buf, ldns_rr_list_rr(list, i));
                out = ldns_buffer_export2str(buf);
                ldns_buffer_free(buf);
        }
        ldns_pkt_free(pkt);
        return out;
}
