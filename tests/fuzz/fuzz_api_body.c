/*
 * fuzz_api_body.c — libFuzzer target: any bytes as the JSON body of a zone
 * creation or a change batch (node/api_body.c), the way the API parses it.
 *
 * The first byte picks the request (even: POST /v1/zones, odd: POST
 * /v1/zones/example.com./changes); the rest is loaded with jansson as the
 * API does (duplicate keys refused).  A valid zone creation must give
 * record data the state machine accepts; a valid batch is then checked
 * against a state holding example.com. (cs_state_batch_check).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/state.h"
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
        struct api_zone_spec z;
        if (api_zone_spec_parse(body, &z, &errs) != 0)
                abort();
        struct cs_zone_spec spec = api_zone_spec(&z, "ZFUZZ");
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!ready)
                setup();
        if (size < 1)
                return 0;
        json_error_t error;
        json_t *body =
            json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &error);
        if (!json_is_object(body)) {
                json_decref(body);
                return 0;
        }
        struct api_errors errs;
        api_errors_init(&errs);
        if (data[0] % 2 == 0) {
                struct api_zone_spec z;
                if (api_zone_spec_parse(body, &z, &errs) == 0) {
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
