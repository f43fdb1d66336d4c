/*
 * wire.h — the little DNS wire knowledge the state machine needs.
 *
 * The replicated state treats RDATA as opaque bytes, except for checks that
 * keep it consistent with what the DNS engine accepts (lengths of A/AAAA,
 * names inside NS/CNAME/PTR/MX) and the SOA serial, which every change batch
 * bumps.  Names are uncompressed wire names ending with the root label;
 * owners and origins are kept lowercased.  consensus/ does not include dns/
 * headers (the modules stay independent); names go through common/dname.h,
 * as dns/'s do.
 */
#ifndef CONSENSUS_WIRE_H
#define CONSENSUS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/dname.h"

#define CS_NAME_MAXLEN 255

#define CS_TYPE_A     1
#define CS_TYPE_NS    2
#define CS_TYPE_CNAME 5
#define CS_TYPE_SOA   6
#define CS_TYPE_PTR   12
#define CS_TYPE_MX    15
#define CS_TYPE_AAAA  28
#define CS_TYPE_DNAME 39
#define CS_TYPE_OPT   41
#define CS_TYPE_DS    43

/* The wire-name functions of common/dname.h, under this module's names. */
static inline int cs_name_len(const uint8_t *buf, size_t max)
{
        return common_dname_len(buf, max);
}

/* Copies a valid wire name of `len` bytes, lowercased. */
static inline void cs_name_lower(uint8_t *dst, const uint8_t *src, size_t len)
{
        if (dst != src)
                memcpy(dst, src, len);
        common_dname_lower(dst);
}

/* Is name equal to or below origin?  (valid wire names of those lengths) */
static inline bool cs_name_in_zone(const uint8_t *name, size_t len, const uint8_t *origin,
                                   size_t origin_len)
{
        return len >= origin_len && common_dname_in_zone(name, origin);
}

/* Presentation form for messages ("www.example.com."); returns buf. */
static inline char *cs_name_text(const uint8_t *name, size_t len, char *buf, size_t size)
{
        (void)len;
        return common_dname_text(name, buf, size);
}

/* Reads the serial of an SOA RDATA; 0 or -EINVAL when malformed. */
int cs_soa_serial(const uint8_t *rdata, size_t len, uint32_t *serial);

/* Writes the serial into a well-formed SOA RDATA (checked by cs_soa_serial). */
void cs_soa_set_serial(uint8_t *rdata, size_t len, uint32_t serial);

/* Mnemonic of common types, "TYPEn" otherwise; returns buf. */
const char *cs_type_name(uint16_t type, char *buf, size_t size);

/* NULL when the type may be stored, otherwise why not. */
const char *cs_type_check(uint16_t type);

/* NULL when the RDATA is acceptable for its type, otherwise why not. */
const char *cs_rdata_check(uint16_t type, const uint8_t *rdata, size_t len);

#endif
