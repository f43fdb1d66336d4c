/*
 * packet.c — query parsing and response writing (see packet.h).
 *
 * The parser reads a message once, front to back, and rejects anything that
 * is not exactly one well-formed question plus optional additional records.
 * The writer copies pre-encoded records from zone blobs; the only work per
 * record beyond a copy is compressing the names inside RDATA of the RFC 1035
 * types (RFC 3597 §4: newer types are never compressed).
 */
#include "dns/packet.h"

#include <string.h>

#include "dns/wire.h"

/* Skips a possibly compressed name; returns the position after it or 0. */
static size_t skip_name(const uint8_t *wire, size_t size, size_t pos)
{
        for (unsigned guard = 0; guard < 128; guard++) {
                if (pos >= size)
                        return 0;
                uint8_t len = wire[pos];
                if (len == 0)
                        return pos + 1;
                if ((len & 0xc0) == 0xc0)
                        return pos + 2 <= size ? pos + 2 : 0;
                if (len > DNS_LABEL_MAXLEN)
                        return 0;
                pos += 1 + (size_t)len;
        }
        return 0;
}

static enum dns_parse_status parse_opt(struct dns_query *q, const uint8_t *rr,
                                       const uint8_t *rdata, uint16_t rdlen)
{
        if (q->edns)
                return DNS_PARSE_FORMERR; /* a second OPT */
        q->edns = true;
        q->edns_payload = wire_get16(rr + 2);
        if (q->edns_payload < DNS_UDP_MAX_NOEDNS)
                q->edns_payload = DNS_UDP_MAX_NOEDNS;
        q->edns_version = rr[5];
        q->edns_flags = wire_get16(rr + 6);
        size_t pos = 0;
        while (pos < rdlen) {
                if (pos + 4 > rdlen)
                        return DNS_PARSE_FORMERR;
                uint16_t code = wire_get16(rdata + pos);
                uint16_t optlen = wire_get16(rdata + pos + 2);
                if (pos + 4 + optlen > rdlen)
                        return DNS_PARSE_FORMERR;
                if (code == DNS_EDNS_COOKIE) {
                        /* RFC 7873 §5.2.2: a client cookie alone, or with a
                         * server cookie of 8 to 32 bytes; one option. */
                        if (q->cookie != NULL ||
                            (optlen != 8 && (optlen < 16 || optlen > 40)))
                                return DNS_PARSE_FORMERR;
                        q->cookie = rdata + pos + 4;
                        q->cookie_len = (uint8_t)optlen;
                } else if (code == DNS_EDNS_ECS) {
                        /* RFC 7871 §7.1.1: malformed, or a second one. */
                        if (q->has_ecs ||
                            dns_ecs_parse(rdata + pos + 4, optlen, &q->ecs) != 0)
                                return DNS_PARSE_FORMERR;
                        q->has_ecs = true;
                }
                pos += 4 + (size_t)optlen;
        }
        return DNS_PARSE_OK;
}

enum dns_parse_status dns_query_parse(struct dns_query *q, const uint8_t *wire,
                                      size_t size)
{
        q->wire = wire;
        q->size = size;
        q->question_size = 0;
        q->zone_known = false;
        q->found = NULL;
        q->walked = NULL;
        q->zone = NULL;
        q->edns = false;
        q->edns_version = 0;
        q->edns_payload = DNS_UDP_MAX_NOEDNS;
        q->edns_flags = 0;
        q->cookie = NULL;
        q->cookie_len = 0;
        q->cookie_reply_len = 0;
        q->has_ecs = false;
        q->loc.net.family = 0;
        q->loc.from_ecs = false;
        q->ecs_scope = 0;
        q->any_hinfo = false;
        q->qtype = q->qclass = 0;
        if (size < DNS_HEADER_SIZE)
                return DNS_PARSE_DROP;
        q->id = wire_get16(wire);
        q->flags = wire_get16(wire + 2);
        if (q->flags & DNS_FLAG_QR)
                return DNS_PARSE_DROP;
        uint16_t qdcount = wire_get16(wire + 4), ancount = wire_get16(wire + 6);
        uint16_t nscount = wire_get16(wire + 8), arcount = wire_get16(wire + 10);
        unsigned opcode = (q->flags >> 11) & 0xf;
        bool none = qdcount == 0 && opcode == DNS_OPCODE_QUERY; /* cookie request? */
        if (qdcount != 1 && !none)
                return opcode != DNS_OPCODE_QUERY ? DNS_PARSE_NOTIMP : DNS_PARSE_FORMERR;
        size_t pos = DNS_HEADER_SIZE;
        if (!none) {
                int n = dns_lname_from_wire(&q->qname, wire + DNS_HEADER_SIZE,
                                            size - DNS_HEADER_SIZE);
                if (n < 0 || DNS_HEADER_SIZE + (size_t)n + 4 > size)
                        return DNS_PARSE_FORMERR;
                pos += (size_t)n;
                q->qtype = wire_get16(wire + pos);
                q->qclass = wire_get16(wire + pos + 2);
                pos += 4;
                q->question_size = (uint16_t)(pos - DNS_HEADER_SIZE);
        }
        if (opcode != DNS_OPCODE_QUERY)
                return DNS_PARSE_NOTIMP;
        if (ancount != 0 || nscount != 0)
                return DNS_PARSE_FORMERR;
        for (unsigned i = 0; i < arcount; i++) {
                size_t owner = pos;
                pos = skip_name(wire, size, pos);
                if (pos == 0 || pos + DNS_RR_HEADER > size)
                        return DNS_PARSE_FORMERR;
                const uint8_t *rr = wire + pos;
                uint16_t rdlen = wire_get16(rr + 8);
                if (pos + DNS_RR_HEADER + rdlen > size)
                        return DNS_PARSE_FORMERR;
                if (wire_get16(rr) == DNS_TYPE_OPT) {
                        if (pos != owner + 1 || wire[owner] != 0)
                                return DNS_PARSE_FORMERR; /* OPT owner must be root */
                        enum dns_parse_status st =
                            parse_opt(q, rr, rr + DNS_RR_HEADER, rdlen);
                        if (st != DNS_PARSE_OK)
                                return st;
                }
                pos += DNS_RR_HEADER + (size_t)rdlen;
        }
        if (pos != size)
                return DNS_PARSE_FORMERR; /* trailing garbage */
        if (q->edns && q->edns_version != 0)
                return DNS_PARSE_BADVERS;
        if (none)
                return q->cookie != NULL ? DNS_PARSE_NOQUESTION : DNS_PARSE_FORMERR;
        if (q->has_ecs)
                dns_location_set(&q->loc, &q->ecs, NULL, NULL);
        return DNS_PARSE_OK;
}

void dns_query_locate(struct dns_query *q, const struct dns_client_addr *peer,
                      const struct dns_ecs_config *cfg)
{
        dns_location_set(&q->loc, q->has_ecs ? &q->ecs : NULL, peer, cfg);
}

/* ---- writer ------------------------------------------------------------------ */

void dns_writer_start(struct dns_writer *w, const struct dns_query *q, uint8_t *buf,
                      size_t limit)
{
        w->buf = buf;
        w->limit = q->edns ? limit - DNS_OPT_RR_SIZE : limit;
        if (q->edns && q->cookie_reply_len != 0)
                w->limit -= 4u + q->cookie_reply_len;
        if (q->edns && q->loc.from_ecs)
                w->limit -= dns_ecs_echo_size(&q->ecs);
        w->count[0] = w->count[1] = w->count[2] = 0;
        w->truncated = false;
        w->qname = NULL;
        w->ncomp = 0;
        w->ntarget = 0;
        w->ttl_cap = -1;
        wire_put16(buf, q->id);
        wire_put16(buf + 2, (uint16_t)(DNS_FLAG_QR | (q->flags & (0x7800 | DNS_FLAG_RD |
                                                                  DNS_FLAG_CD))));
        memset(buf + 4, 0, 8);
        w->len = DNS_HEADER_SIZE;
        if (q->question_size != 0) {
                wire_copy(buf + DNS_HEADER_SIZE, q->wire + DNS_HEADER_SIZE,
                          q->question_size);
                w->len += q->question_size;
                wire_put16(buf + 4, 1);
                w->qname = &q->qname;
                w->comp[w->ncomp++] = DNS_HEADER_SIZE;
        }
}

/*
 * Does the name at packet offset `off` (compressed) equal the uncompressed
 * name `name`, case-insensitively?
 */
static bool packet_name_equals(const uint8_t *buf, size_t len, uint16_t off,
                               const uint8_t *name)
{
        for (unsigned guard = 0; guard < 128; guard++) {
                if (off >= len)
                        return false;
                uint8_t l = buf[off];
                if ((l & 0xc0) == 0xc0) {
                        off = (uint16_t)(((l & 0x3f) << 8) | buf[off + 1]);
                        continue;
                }
                if (l != *name)
                        return false;
                if (l == 0)
                        return true;
                for (unsigned i = 1; i <= l; i++)
                        if (common_dname_lower_table[buf[off + i]] !=
                            common_dname_lower_table[name[i]])
                                return false;
                off += 1 + l;
                name += 1 + l;
        }
        return false;
}

/* Collects the label offsets of the compressed name at off; returns count. */
static unsigned packet_labels(const uint8_t *buf, uint16_t off, uint16_t *out)
{
        unsigned n = 0;
        for (unsigned guard = 0; guard < 128; guard++) {
                uint8_t l = buf[off];
                if ((l & 0xc0) == 0xc0) {
                        off = (uint16_t)(((l & 0x3f) << 8) | buf[off + 1]);
                        continue;
                }
                if (l == 0)
                        break;
                out[n++] = off;
                off += 1 + l;
        }
        return n;
}

/*
 * How many trailing labels of name (nl labels starting at `labels`) equal
 * trailing labels of the question; *at receives where that suffix starts.
 * The question's labels are known from its lname, so this is the generic
 * search below for comp[0] without walking the packet.
 */
static unsigned question_suffix(const struct dns_writer *w, const uint8_t *name,
                                const uint8_t *labels, unsigned nl, uint16_t *at)
{
        const struct dns_lname *q = w->qname;
        unsigned common = 0;
        while (common < nl && common < q->nlabels) {
                const uint8_t *a = name + labels[nl - 1 - common];
                const uint8_t *b = q->wire + q->off[q->nlabels - 1 - common];
                if (a[0] != b[0] || !dns_equal_lowered(a + 1, b + 1, a[0]))
                        break;
                common++;
        }
        if (common > 0)
                *at = (uint16_t)(DNS_HEADER_SIZE + q->off[q->nlabels - common]);
        return common;
}

/*
 * Writes name compressed against the names in w->comp; returns the bytes
 * written or 0 when it does not fit before `end`.  *start receives the offset
 * where the name can be pointed at.  The longest suffix wins; among equals,
 * the earliest entry.
 */
static size_t write_name(struct dns_writer *w, size_t at, size_t end, const uint8_t *name,
                         bool compress, uint16_t *start)
{
        uint8_t name_labels[DNS_NAME_MAXLABELS];
        unsigned nl = 0, root = 0; /* root: offset of the name's root label */
        for (; name[root] != 0; root += 1u + name[root])
                name_labels[nl++] = (uint8_t)root;
        uint16_t match = 0;
        unsigned match_label = nl; /* labels written literally */
        unsigned c = 0;
        if (compress && w->qname != NULL) {
                match_label = nl - question_suffix(w, name, name_labels, nl, &match);
                c = 1; /* comp[0], the question, is done */
        }
        if (compress) {
                uint16_t labels[DNS_NAME_MAXLABELS];
                for (; c < w->ncomp && match_label > 0; c++) {
                        unsigned cl = packet_labels(w->buf, w->comp[c], labels);
                        /* Try the longest suffix of name this entry can hold. */
                        for (unsigned k = 0; k < match_label; k++) {
                                unsigned want = nl - k;
                                if (want <= cl && labels[cl - want] < 0x4000 &&
                                    packet_name_equals(w->buf, w->len, labels[cl - want],
                                                       name + name_labels[k])) {
                                        match = labels[cl - want];
                                        match_label = k;
                                        break;
                                }
                        }
                }
        }
        size_t literal = match_label < nl ? name_labels[match_label] : root;
        size_t pos = at;
        if (pos + literal > end)
                return 0;
        wire_copy(w->buf + pos, name, literal);
        pos += literal;
        if (match_label < nl) {
                if (pos + 2 > end)
                        return 0;
                w->buf[pos] = (uint8_t)(0xc0 | (match >> 8));
                w->buf[pos + 1] = (uint8_t)match;
                pos += 2;
        } else {
                if (pos + 1 > end)
                        return 0;
                w->buf[pos++] = 0;
        }
        *start = (match_label == 0 && nl > 0) ? match : (uint16_t)at;
        if (match_label > 0 && at < 0x4000 && w->ncomp < DNS_COMPRESS_MAX)
                w->comp[w->ncomp++] = (uint16_t)at;
        return pos - at;
}

/* Where an RDATA's domain names are: prefix bytes before the first name. */
static int rdata_name_layout(uint16_t type, bool *compress, bool *two_names)
{
        *two_names = false;
        *compress = true;
        switch (type) {
        case DNS_TYPE_NS:
        case DNS_TYPE_CNAME:
        case DNS_TYPE_PTR:
                return 0;
        case DNS_TYPE_MX:
                return 2;
        case DNS_TYPE_SOA:
                *two_names = true;
                return 0;
        case DNS_TYPE_SRV:
                *compress = false;
                return 6;
        default:
                return -1;
        }
}

const char *dns_rdata_check(uint16_t type, const uint8_t *rdata, uint16_t rdlen)
{
        if (type == DNS_TYPE_A && rdlen != 4)
                return "an A record's data is 4 bytes";
        if (type == DNS_TYPE_AAAA && rdlen != 16)
                return "an AAAA record's data is 16 bytes";
        bool compress, two;
        int prefix = rdata_name_layout(type, &compress, &two);
        if (prefix < 0)
                return NULL;
        static const char malformed[] = "malformed domain name in the record data";
        if (rdlen < prefix + 1)
                return malformed;
        int n = dns_name_wire_len(rdata + prefix, rdlen - (size_t)prefix);
        if (n < 0)
                return malformed;
        size_t at = (size_t)prefix + (size_t)n;
        if (two) {
                int m = at < rdlen ? dns_name_wire_len(rdata + at, rdlen - at) : -1;
                /* five 32-bit fields follow the two names */
                return m >= 0 && at + (size_t)m + 20 == rdlen ? NULL : malformed;
        }
        /* SRV needs only a well-formed target here (the state machine does
         * not check SRV data at all); the others hold one name and nothing
         * after it, as the state machine requires. */
        return type == DNS_TYPE_SRV || at == rdlen ? NULL : malformed;
}

static inline void cap_ttl(struct dns_writer *w, size_t rr)
{
        if (w->ttl_cap >= 0 && wire_get32(w->buf + rr + 4) > w->ttl_cap)
                wire_put32(w->buf + rr + 4, (uint32_t)w->ttl_cap);
}

static bool write_rr(struct dns_writer *w, uint16_t owner_off, const uint8_t *owner_wire,
                     const uint8_t *rr, uint16_t type)
{
        size_t end = w->limit;
        size_t pos = w->len;
        if (owner_off < 0x4000) {
                if (pos + 2 > end)
                        return false;
                w->buf[pos] = (uint8_t)(0xc0 | (owner_off >> 8));
                w->buf[pos + 1] = (uint8_t)owner_off;
                pos += 2;
        } else {
                uint16_t ignored;
                size_t n = write_name(w, pos, end, owner_wire, true, &ignored);
                if (n == 0)
                        return false;
                pos += n;
        }
        uint16_t rdlen = dns_rr_rdlen(rr);
        bool compress, two;
        int prefix = rdata_name_layout(type, &compress, &two);
        if (prefix < 0 || rdlen < prefix + 1) {
                if (pos + DNS_RR_HEADER + rdlen > end)
                        return false;
                wire_copy(w->buf + pos, rr, DNS_RR_HEADER + (size_t)rdlen);
                cap_ttl(w, pos);
                w->len = pos + DNS_RR_HEADER + rdlen;
                return true;
        }
        if (pos + DNS_RR_HEADER + (size_t)prefix > end)
                return false;
        wire_copy(w->buf + pos, rr, DNS_RR_HEADER + (size_t)prefix);
        cap_ttl(w, pos);
        size_t rdstart = pos + DNS_RR_HEADER;
        pos = rdstart + (size_t)prefix;
        const uint8_t *rdata = dns_rr_rdata(rr);
        const uint8_t *name = rdata + prefix;
        uint16_t start;
        size_t n = write_name(w, pos, end, name, compress, &start);
        if (n == 0)
                return false;
        pos += n;
        const uint8_t *rest = name + dns_name_wire_len(name, rdlen - (size_t)prefix);
        if (two) {
                uint16_t ignored;
                n = write_name(w, pos, end, rest, compress, &ignored);
                if (n == 0)
                        return false;
                pos += n;
                rest += dns_name_wire_len(rest, (size_t)(rdata + rdlen - rest));
        } else if (w->ntarget < DNS_TARGETS_MAX && start < 0x4000) {
                w->target[w->ntarget++] = (struct dns_target){name, start, type};
        }
        size_t tail = (size_t)(rdata + rdlen - rest);
        if (pos + tail > end)
                return false;
        wire_copy(w->buf + pos, rest, tail);
        pos += tail;
        wire_put16(w->buf + rdstart - 2, (uint16_t)(pos - rdstart));
        w->len = pos;
        return true;
}

int dns_writer_rrset(struct dns_writer *w, enum dns_section section, uint16_t owner_off,
                     const uint8_t *owner_wire, const struct dns_rrsets *sets,
                     const struct dns_rrset_info *info, unsigned start)
{
        size_t saved_len = w->len;
        unsigned saved_comp = w->ncomp, saved_target = w->ntarget;
        unsigned count = info->count;
        const uint8_t *first = dns_rrset_next(sets, info, NULL);
        start = count ? start % count : 0;
        /* Records from `start` to the end, then from the first to `start`. */
        const uint8_t *rr = first;
        for (unsigned i = 0; i < start; i++)
                rr = dns_rrset_next(sets, info, rr);
        for (unsigned i = 0; i < count; i++) {
                if (!write_rr(w, owner_off, owner_wire, rr, info->type)) {
                        w->len = saved_len;
                        w->ncomp = saved_comp;
                        w->ntarget = saved_target;
                        if (section != DNS_SECTION_ADDITIONAL)
                                w->truncated = true;
                        return -1;
                }
                rr = dns_rrset_next(sets, info, rr);
                if (rr == NULL)
                        rr = first;
        }
        w->count[section] += (uint16_t)count;
        return 0;
}

#define HINFO_TTL 3600

int dns_writer_hinfo(struct dns_writer *w, uint16_t owner_off)
{
        static const uint8_t rdata[] = {7, 'R', 'F', 'C', '8', '4', '8', '2', 0};
        size_t need = 2 + DNS_RR_HEADER + sizeof(rdata);
        if (w->len + need > w->limit || owner_off >= 0x4000) {
                w->truncated = true;
                return -1;
        }
        uint8_t *p = w->buf + w->len;
        wire_put16(p, (uint16_t)(0xc000 | owner_off));
        wire_put16(p + 2, DNS_TYPE_HINFO);
        wire_put16(p + 4, DNS_CLASS_IN);
        wire_put32(p + 6, HINFO_TTL);
        wire_put16(p + 10, sizeof(rdata));
        memcpy(p + 12, rdata, sizeof(rdata));
        w->len += need;
        w->count[DNS_SECTION_ANSWER]++;
        return 0;
}

size_t dns_writer_finish(struct dns_writer *w, const struct dns_query *q, uint16_t flags,
                         unsigned rcode)
{
        uint8_t *buf = w->buf;
        uint16_t f = wire_get16(buf + 2) | flags | (uint16_t)(rcode & 0xf);
        if (w->truncated)
                f |= DNS_FLAG_TC;
        wire_put16(buf + 2, f);
        wire_put16(buf + 6, w->count[0]);
        wire_put16(buf + 8, w->count[1]);
        wire_put16(buf + 10, w->count[2]);
        if (q->edns) {
                uint8_t *opt = buf + w->len;
                opt[0] = 0;
                wire_put16(opt + 1, DNS_TYPE_OPT);
                wire_put16(opt + 3, DNS_EDNS_OUR_PAYLOAD);
                opt[5] = (uint8_t)(rcode >> 4);
                opt[6] = 0; /* version */
                wire_put16(opt + 7, q->edns_flags & DNS_EDNS_DO);
                wire_put16(opt + 9, 0);
                w->len += DNS_OPT_RR_SIZE;
                if (q->cookie_reply_len != 0) {
                        uint8_t *o = buf + w->len;
                        wire_put16(o, DNS_EDNS_COOKIE);
                        wire_put16(o + 2, q->cookie_reply_len);
                        memcpy(o + 4, q->cookie_reply, q->cookie_reply_len);
                        wire_put16(opt + 9, (uint16_t)(4 + q->cookie_reply_len));
                        w->len += 4u + q->cookie_reply_len;
                }
                if (q->loc.from_ecs) {
                        unsigned size = dns_ecs_echo_size(&q->ecs);
                        dns_ecs_echo_write(buf + w->len, &q->ecs, q->ecs_scope);
                        wire_put16(opt + 9, (uint16_t)(wire_get16(opt + 9) + size));
                        w->len += size;
                }
                wire_put16(buf + 10, (uint16_t)(w->count[2] + 1));
        }
        return w->len;
}

unsigned dns_writer_labels(const struct dns_writer *w, uint16_t off, uint16_t *out)
{
        if (off == DNS_HEADER_SIZE && w->qname != NULL) {
                /* The question, as the client wrote it: its labels are known. */
                const struct dns_lname *q = w->qname;
                for (unsigned i = 0; i < q->nlabels; i++)
                        out[i] = (uint16_t)(DNS_HEADER_SIZE + q->off[i]);
                return q->nlabels;
        }
        return packet_labels(w->buf, off, out);
}
