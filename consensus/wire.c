/*
 * wire.c — wire-name and RDATA helpers of the state machine (see wire.h).
 *
 * Every function is bounded by the length it is given: names and RDATA come
 * from decoded commands and snapshots, i.e. from the network.
 */
#include "consensus/wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Offset of the 20 fixed bytes after MNAME and RNAME, or -1. */
static int soa_fixed_off(const uint8_t *rdata, size_t len)
{
        int a = cs_name_len(rdata, len);
        if (a < 0)
                return -1;
        int b = cs_name_len(rdata + a, len - (size_t)a);
        if (b < 0 || (size_t)(a + b) + 20 != len)
                return -1;
        return a + b;
}

int cs_soa_serial(const uint8_t *rdata, size_t len, uint32_t *serial)
{
        int off = soa_fixed_off(rdata, len);
        if (off < 0)
                return -EINVAL;
        const uint8_t *p = rdata + off;
        *serial =
            (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        return 0;
}

void cs_soa_set_serial(uint8_t *rdata, size_t len, uint32_t serial)
{
        int off = soa_fixed_off(rdata, len);
        if (off < 0)
                return;
        uint8_t *p = rdata + off;
        p[0] = (uint8_t)(serial >> 24);
        p[1] = (uint8_t)(serial >> 16);
        p[2] = (uint8_t)(serial >> 8);
        p[3] = (uint8_t)serial;
}

const char *cs_type_check(uint16_t type)
{
        if (type == 0)
                return "type 0 is reserved";
        if (type == CS_TYPE_OPT)
                return "OPT is not a record type";
        if (type == CS_TYPE_DNAME)
                return "DNAME is not supported";
        if (type >= 128 && type <= 255)
                return "meta and query types cannot be stored";
        return NULL;
}

static bool is_exact_name(const uint8_t *rdata, size_t len)
{
        int n = cs_name_len(rdata, len);
        return n >= 0 && (size_t)n == len;
}

const char *cs_rdata_check(uint16_t type, const uint8_t *rdata, size_t len)
{
        switch (type) {
        case CS_TYPE_A:
                return len == 4 ? NULL : "an A value is 4 bytes";
        case CS_TYPE_AAAA:
                return len == 16 ? NULL : "an AAAA value is 16 bytes";
        case CS_TYPE_NS:
        case CS_TYPE_CNAME:
        case CS_TYPE_PTR:
                return is_exact_name(rdata, len) ? NULL : "value is not a domain name";
        case CS_TYPE_MX:
                return len > 2 && is_exact_name(rdata + 2, len - 2)
                           ? NULL
                           : "MX value is not preference + exchange name";
        case CS_TYPE_SOA:
                return soa_fixed_off(rdata, len) >= 0 ? NULL : "SOA value is malformed";
        default:
                return NULL;
        }
}

const char *cs_type_name(uint16_t type, char *buf, size_t size)
{
        static const struct {
                uint16_t type;
                const char *name;
        } names[] = {{1, "A"},     {2, "NS"},     {5, "CNAME"},  {6, "SOA"},
                     {12, "PTR"},  {15, "MX"},    {16, "TXT"},   {28, "AAAA"},
                     {33, "SRV"},  {35, "NAPTR"}, {43, "DS"},    {44, "SSHFP"},
                     {52, "TLSA"}, {64, "SVCB"},  {65, "HTTPS"}, {99, "SPF"},
                     {257, "CAA"}};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (names[i].type == type) {
                        snprintf(buf, size, "%s", names[i].name);
                        return buf;
                }
        snprintf(buf, size, "TYPE%u", type);
        return buf;
}
