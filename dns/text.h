/*
 * text.h — presentation format ↔ wire format for names, types and RDATA.
 *
 * The API speaks presentation format ("www.example.com.", "MX",
 * "10 mail.example.com."); the replicated state and the zone data hold wire
 * format.  These conversions go through ldns, so every type the zone-file
 * loader accepts is accepted here too, RFC 3597 "\# len hex" included.
 */
#ifndef DNS_TEXT_H
#define DNS_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* "A", "TYPE65280" → number; returns 0 or -EINVAL ("TYPE1x" included). */
int dns_type_from_text(const char *text, uint16_t *type);
/* number → "A" / "TYPE65280" into buf. */
const char *dns_type_to_text(uint16_t type, char *buf, size_t size);

/*
 * Parses RDATA of `type` in presentation form; relative names are completed
 * with `origin` (wire; may be NULL: names must then be absolute).  Writes at
 * most 65535 bytes to out; returns the length, or -1 with a reason in err.
 */
int dns_rdata_from_text(uint16_t type, const char *text, const uint8_t *origin,
                        uint8_t *out, char *err, size_t err_size);

/* The longest RDATA text taken: ldns keeps 65535 bytes of it, silently. */
#define DNS_RDATA_TEXT_MAX 65000

/*
 * Refuses, before ldns sees it, RDATA text that ldns 1.8.3 mishandles: its
 * IPSECKEY parser leaks what it copied when given more than the type's five
 * fields or a key that is not base64, and takes a malformed "\# ..." as
 * such fields; IPSECKEY text must be five plain words with a base64 key, or
 * a complete "\# length hex".  Text longer than DNS_RDATA_TEXT_MAX, which
 * ldns would cut silently (it reads data into 65535 bytes), is refused for
 * every type.  0, or -EINVAL with a reason in err.
 */
int dns_rdata_text_check(uint16_t type, const char *text, char *err, size_t err_size);

/*
 * After ldns: RDATA text in the generic form ("\# length hex") whose type
 * layout ldns read in fewer bytes than the length given (it drops the rest:
 * "\# 8 00010002000300ff" is a 7-byte SRV) is refused rather than stored
 * cut.  wire_len is what ldns made of it.  0, or -EINVAL with a reason.
 */
int dns_rdata_generic_check(const char *text, size_t wire_len, char *err,
                            size_t err_size);

/* RDATA of `type` → presentation form (malloc'd); NULL on failure. */
char *dns_rdata_to_text(uint16_t type, const uint8_t *rdata, uint16_t len);

/* Absolute name text (a final dot is added when missing) → wire; 0 or -EINVAL. */
int dns_name_parse_text(const char *text, uint8_t *wire, char *err, size_t err_size);

/* The records of a DNS message's section (0 answer, 1 authority, 2
 * additional) in presentation form, one per line (malloc'd); NULL when the
 * message does not parse. */
char *dns_message_section_text(const uint8_t *wire, size_t len, unsigned section);

#endif
