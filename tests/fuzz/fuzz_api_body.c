/*
 * fuzz_api_body.c — libFuzzer target: any bytes as the JSON body of a zone
 * creation or a change batch (node/api_body.c), the way the API parses it.
 *
 * The first byte picks the request (modulo 3: POST /v1/zones, POST
 * /v1/zones/example.com./changes, POST /v1/zones/example.com./import).  A
 * JSON body is loaded with jansson as the API does (duplicate keys
 * refused).  A valid zone creation must give record data the state machine
 * accepts; a valid batch is then checked against a state holding
 * example.com. (cs_state_batch_check).  An import body is master-file
 * text, loaded the way the import handler loads it (dns_zonefile_load_part
 * from memory: no SOA needed, $INCLUDE refused) and walked owner by
 * owner, every record set read as the batch it becomes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/state.h"
#include "dns/db.h"
#include "dns/rrset.h"
#include "dns/zone.h"
#include "dns/zonefile.h"
#include "node/api_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t ORIGIN[] = "\7example\3com";

static struct cs_state state;
static int ready;

static void setup(void)
{
        cs_state_init(&state);
        json_t *body = json_loads("{\"name\":\"example.com.\"}", 0, NULL);
        struct api_errors errs;
        api_errors_init(&errs);
        struct node_api_zone_spec z;
        if (node_api_zone_spec_parse(body, "", -1, &z, &errs) != 0)
                abort();
        struct cs_zone_spec spec = node_api_zone_spec_view(&z, "ZFUZZ");
        struct cs_ctx ctx = {.index = 1, .timestamp_ms = 1};
        struct cs_result res;
        cs_result_init(&res);
        cs_state_zone_create(&state, &ctx, &spec, &res);
        if (res.status != 0)
                abort();
        cs_result_fini(&res);
        json_decref(errs.list);
        json_decref(body);
        ready = 1;
}

static void quiet(void *ctx, const char *file, unsigned line, const char *message)
{
}

static int read_owner(const uint8_t *owner, const struct dns_rrsets *sets, void *arg)
{
        size_t *records = arg;
        for (unsigned s = 0; s < sets->count; s++) {
                const struct dns_rrset_info *info = &sets->set[s];
                size_t k = 0;
                for (const uint8_t *rr = dns_rrset_next(sets, info, NULL); rr != NULL;
                     rr = dns_rrset_next(sets, info, rr))
                        if (++k > info->count ||
                            (dns_rr_rdlen(rr) == 0 && info->type == 1))
                                abort();
                if (k != info->count)
                        abort();
                *records += k;
        }
        return 0;
}

static void import(const uint8_t *text, size_t len)
{
        struct dns_db db;
        struct dns_txn txn;
        struct dns_zonefile_stats stats;
        dns_db_init(&db);
        dns_txn_begin(&db, &txn);
        dns_txn_zone_create(&txn, ORIGIN, true);
        if (dns_zonefile_load_part(&txn, (const char *)text, len, "fuzz", ORIGIN, quiet,
                                   NULL, &stats) == 0) {
                const struct dns_zone *zone = dns_txn_zone(&txn, ORIGIN);
                size_t records = 0;
                if (zone != NULL)
                        dns_zone_walk(zone, read_owner, &records);
        }
        dns_txn_abort(&txn);
        dns_db_fini(&db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!ready)
                setup();
        if (size < 1)
                return 0;
        if (data[0] % 3 == 2) {
                import(data + 1, size - 1);
                return 0;
        }
        json_error_t error;
        json_t *body =
            json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &error);
        if (!json_is_object(body)) {
                json_decref(body);
                return 0;
        }
        struct api_errors errs;
        api_errors_init(&errs);
        if (data[0] % 3 == 0) {
                struct node_api_zone_spec z;
                if (node_api_zone_spec_parse(body, "", -1, &z, &errs) == 0) {
                        if (api_errors_count(&errs) != 0 || z.ns_count == 0 ||
                            z.origin_len == 0 || z.origin_len > 255)
                                abort();
                } else if (api_errors_count(&errs) == 0) {
                        abort(); /* refused without saying why */
                }
        } else {
                struct api_batch b;
                if (api_batch_parse(body, ORIGIN, &b, &errs) == 0) {
                        struct cs_batch batch = {ORIGIN, sizeof(ORIGIN), b.comment,
                                                 b.actions, b.n};
                        struct cs_result res;
                        cs_result_init(&res);
                        cs_state_batch_check(&state, &batch, &res);
                        cs_result_fini(&res);
                } else if (api_errors_count(&errs) == 0) {
                        abort();
                }
                api_batch_free(&b);
        }
        json_decref(errs.list);
        json_decref(body);
        return 0;
}
