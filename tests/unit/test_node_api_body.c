/*
 * test_node_api_body.c — validation of the API's write bodies (zone
 * creation, change batches) from JSON.
 *
 * A zone file parsed for a bulk item: its actions outlive the parsed zone.
 *
 * CIDR collection changes (POST /v1/cidrcollections/{id}/changes): blocks
 * of both families parsed into the command's form, every bad field named
 * with its JSON path.
 *
 * Includes the input that once read uninitialised memory: a zone name of
 * 252 bytes and more without name servers, for which the default
 * ns1.<zone> does not fit in a name (run under ASan in build-asan/).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dns/wire.h"
#include "node/api.h"
#include "node/api_body.h"
#include "node/api_cidr.h"

/* A name of wire length `wire_len` (193..255) made of 63-byte labels. */
static void long_name(size_t wire_len, char *out)
{
        size_t last = wire_len - 1 - 3 * 64 - 1; /* length of the 4th label */
        char l63[64];
        memset(l63, 'a', 63);
        l63[63] = '\0';
        sprintf(out, "%s.%s.%s.%.*s.", l63, l63, l63, (int)last,
                "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
}

static json_t *load(const char *text)
{
        json_error_t e;
        json_t *v = json_loads(text, 0, &e);
        assert_non_null(v);
        return v;
}

static const char *first_field(struct api_errors *errs)
{
        return json_string_value(json_object_get(json_array_get(errs->list, 0), "field"));
}

static void test_zone_name_too_long_for_default_ns_is_refused(void **state)
{
        for (size_t len = 252; len <= 255; len++) {
                char name[300], body[400];
                long_name(len, name);
                snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
                json_t *v = load(body);
                struct api_errors errs;
                api_errors_init(&errs);
                struct node_api_zone_spec z;
                assert_int_equal(node_api_zone_spec_parse(v, "", -1, &z, &errs), -1);
                assert_int_equal(api_errors_count(&errs), 1);
                assert_string_equal(first_field(&errs), "nameservers");
                json_decref(errs.list);
                json_decref(v);
        }
}

/* The same parser reads each item of POST /v1/zones/bulk: field names carry
 * the item's prefix and the error its index. */
static void test_bulk_item_too_long_for_default_ns_names_its_field(void **state)
{
        char name[300], body[400];
        long_name(252, name);
        snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
        json_t *v = load(body);
        struct api_errors errs;
        api_errors_init(&errs);
        struct node_api_zone_spec z;
        assert_int_equal(node_api_zone_spec_parse(v, "create[7].", 7, &z, &errs), -1);
        assert_int_equal(api_errors_count(&errs), 1);
        assert_string_equal(first_field(&errs), "create[7].nameservers");
        assert_int_equal(
            json_integer_value(json_object_get(json_array_get(errs.list, 0), "index")),
            7);
        json_decref(errs.list);
        json_decref(v);
}

static void test_long_zone_name_with_nameservers_is_accepted(void **state)
{
        char name[300], body[500];
        long_name(252, name);
        snprintf(body, sizeof(body),
                 "{\"name\":\"%s\",\"nameservers\":[\"ns.example.\"]}", name);
        json_t *v = load(body);
        struct api_errors errs;
        api_errors_init(&errs);
        struct node_api_zone_spec z;
        assert_int_equal(node_api_zone_spec_parse(v, "", -1, &z, &errs), 0);
        assert_int_equal(z.origin_len, 252);
        assert_int_equal(z.ns_count, 1);
        /* rname falls back to the origin: hostmaster.<zone> does not fit. */
        assert_memory_equal(z.soa_rdata, "\2ns\7example\0", 12);
        assert_memory_equal(z.soa_rdata + 12, z.origin, 252);
        json_decref(errs.list);
        json_decref(v);
}

static void test_zone_spec_defaults(void **state)
{
        json_t *v = load("{\"name\":\"Example.COM\",\"comment\":\"hi\"}");
        struct api_errors errs;
        api_errors_init(&errs);
        struct node_api_zone_spec z;
        assert_int_equal(node_api_zone_spec_parse(v, "", -1, &z, &errs), 0);
        assert_int_equal(z.ttl, 3600);
        assert_string_equal(z.comment, "hi");
        assert_int_equal(z.ns_count, 1);
        assert_memory_equal(z.ns[0], "\3ns1\7Example\3COM\0", 17);
        /* mname ns1, rname hostmaster, serial 1, refresh..minimum */
        size_t at = 17 + 24;
        assert_int_equal(z.soa_value.len, at + 20);
        assert_int_equal(wire_get32(z.soa_rdata + at), 1);
        assert_int_equal(wire_get32(z.soa_rdata + at + 16), 300);
        json_decref(errs.list);
        json_decref(v);
}

static void test_zone_spec_lists_every_problem(void **state)
{
        json_t *v =
            load("{\"name\":5,\"comment\":[],\"ttl\":-1,\"nameservers\":[\"ok.\",7],"
                 "\"soa\":\"x\"}");
        struct api_errors errs;
        api_errors_init(&errs);
        struct node_api_zone_spec z;
        assert_int_equal(node_api_zone_spec_parse(v, "", -1, &z, &errs), -1);
        assert_int_equal(api_errors_count(&errs), 5);
        const char *want[] = {"name", "comment", "ttl", "nameservers[1]", "soa"};
        for (size_t i = 0; i < 5; i++)
                assert_string_equal(json_string_value(json_object_get(
                                        json_array_get(errs.list, i), "field")),
                                    want[i]);
        json_decref(errs.list);
        json_decref(v);
}

static void test_batch_parses_actions_and_reports_each_bad_one(void **state)
{
        uint8_t origin[] = "\7example\3com";
        json_t *v = load(
            "{\"comment\":\"c\",\"changes\":["
            "{\"action\":\"UPSERT\",\"rrset\":{\"name\":\"www.example.com.\",\"type\":"
            "\"A\","
            "\"ttl\":60,\"records\":[\"192.0.2.1\"]}},"
            "{\"action\":\"MOVE\",\"rrset\":{\"name\":\"x.example.com.\",\"type\":\"A\","
            "\"records\":[\"192.0.2.1\"]}},"
            "{\"action\":\"DELETE\",\"rrset\":{\"name\":\"y.example.com.\",\"type\":"
            "\"A\","
            "\"records\":[\"not an address\"]}}]}");
        struct api_errors errs;
        api_errors_init(&errs);
        struct api_batch b;
        assert_int_equal(api_batch_parse(v, origin, &b, &errs), -1);
        assert_int_equal(b.n, 3);
        assert_int_equal(b.actions[0].kind, CS_ACTION_UPSERT);
        assert_int_equal(b.actions[0].rrset.ttl, 60);
        assert_int_equal(api_errors_count(&errs), 2);
        assert_string_equal(first_field(&errs), "changes[1].action");
        assert_string_equal(b.comment, "c");
        api_batch_free(&b);
        json_decref(errs.list);
        json_decref(v);
}

static void test_batch_without_changes_is_refused(void **state)
{
        uint8_t origin[] = "\7example\3com";
        const char *bodies[] = {"{}", "{\"changes\":[]}", "{\"changes\":{}}"};
        for (size_t i = 0; i < 3; i++) {
                json_t *v = load(bodies[i]);
                struct api_errors errs;
                api_errors_init(&errs);
                struct api_batch b;
                assert_int_equal(api_batch_parse(v, origin, &b, &errs), -1);
                assert_string_equal(first_field(&errs), "changes");
                api_batch_free(&b);
                json_decref(errs.list);
                json_decref(v);
        }
}

static bool has_field(struct api_errors *errs, const char *field)
{
        size_t i;
        json_t *e;
        json_array_foreach(errs->list, i, e)
        {
                if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
                        return true;
        }
        return false;
}

static void test_cidr_change_parses_blocks_of_both_families(void **state)
{
        json_t *body =
            load("{\"collection_version\": 4, \"changes\": ["
                 "{\"action\": \"PUT\", \"location_name\": \"lon\", "
                 "\"cidr_list\": [\"10.0.0.0/8\", \"2001:db8::/32\"]},"
                 "{\"action\": \"DELETE_IF_EXISTS\", \"location_name\": \"par\","
                 " \"cidr_list\": [\"0.0.0.0/0\"]}]}");
        struct api_errors errs;
        struct node_cidr_change c;
        api_errors_init(&errs);
        assert_int_equal(node_cidr_change_parse(body, &c, &errs), 0);
        assert_true(c.change.has_version);
        assert_int_equal(c.change.version, 4);
        assert_int_equal(c.change.n_actions, 2);
        assert_int_equal(c.actions[0].kind, CS_CIDR_PUT);
        assert_string_equal(c.actions[0].location, "lon");
        assert_int_equal(c.actions[0].count, 2);
        assert_int_equal(c.actions[0].blocks[1].family, 6);
        assert_int_equal(c.actions[0].blocks[1].len, 32);
        assert_int_equal(c.actions[1].kind, CS_CIDR_DELETE_IF_EXISTS);
        assert_int_equal(c.actions[1].blocks[0].len, 0);
        node_cidr_change_free(&c);
        json_decref(errs.list);
        json_decref(body);
}

static void test_cidr_change_names_every_bad_field(void **state)
{
        json_t *body = load("{\"collection_version\": 0, \"extra\": 1, \"changes\": ["
                            "{\"action\": \"UPSERT\", \"location_name\": \"a b\", "
                            "\"cidr_list\": [\"10.0.0.1/8\", 7, \"10.0.0.0/33\"]},"
                            "{\"action\": \"PUT\", \"location_name\": \"*\", "
                            "\"cidr_list\": [], \"x\": 1}]}");
        struct api_errors errs;
        struct node_cidr_change c;
        api_errors_init(&errs);
        assert_int_not_equal(node_cidr_change_parse(body, &c, &errs), 0);
        static const char *const fields[] = {
            "collection_version",      "extra",
            "changes[0].action",       "changes[0].location_name",
            "changes[0].cidr_list[0]", "changes[0].cidr_list[1]",
            "changes[0].cidr_list[2]", "changes[1].location_name",
            "changes[1].cidr_list",    "changes[1].x"};
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                if (!has_field(&errs, fields[i]))
                        fail_msg("no error for %s", fields[i]);
        node_cidr_change_free(&c);
        json_decref(errs.list);
        json_decref(body);
        body = load("{\"changes\": []}");
        api_errors_init(&errs);
        assert_int_not_equal(node_cidr_change_parse(body, &c, &errs), 0);
        assert_true(has_field(&errs, "changes"));
        node_cidr_change_free(&c);
        json_decref(errs.list);
        json_decref(body);
}

/* A bulk item keeps only the actions of its zone file: once the parsed
 * zone is freed, they still hold every record's data, in chunks the import
 * owns (the values array, then the bytes), none of it in the zone. */
static bool owns_values(const struct node_api_import *im, const struct cs_rrset_spec *set)
{
        bool owned = false;
        for (size_t c = 0; c < im->nchunks; c++)
                owned |= im->chunks[c] == (const void *)set->values;
        const uint8_t *data = (const uint8_t *)(set->values + set->count);
        for (size_t k = 0; k < set->count; k++) {
                owned &= set->values[k].data == data;
                data += set->values[k].len;
        }
        return owned;
}

static void test_import_actions_outlive_the_parsed_zone(void **state)
{
        (void)state;
        static const uint8_t origin[] = "\7example\3com";
        const char *text = "a 300 A 192.0.2.1\na 300 A 192.0.2.2\nb 60 TXT \"hello\"\n";
        struct node_api_import im;
        assert_int_equal(node_api_import_parse(&im, origin, text, strlen(text), ""), 0);
        node_api_import_drop_zone(&im);
        assert_null(im.zone);
        assert_int_equal(im.n, 2);
        assert_int_equal(im.records, 3);
        size_t seen = 0;
        for (size_t i = 0; i < im.n; i++) {
                const struct cs_rrset_spec *set = &im.actions[i].rrset;
                assert_true(owns_values(&im, set));
                if (set->type == DNS_TYPE_A) {
                        assert_int_equal(set->count, 2);
                        assert_int_equal(set->ttl, 300);
                        assert_memory_equal(set->values[0].data, "\xc0\x00\x02\x01", 4);
                        assert_memory_equal(set->values[1].data, "\xc0\x00\x02\x02", 4);
                        seen++;
                } else {
                        assert_int_equal(set->type, DNS_TYPE_TXT);
                        assert_int_equal(set->values[0].len, 6);
                        assert_memory_equal(set->values[0].data, "\5hello", 6);
                        seen++;
                }
        }
        assert_int_equal(seen, 2);
        node_api_import_drop_zone(&im); /* twice: nothing more to free */
        node_api_import_free(&im);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_zone_name_too_long_for_default_ns_is_refused),
            cmocka_unit_test(test_long_zone_name_with_nameservers_is_accepted),
            cmocka_unit_test(test_bulk_item_too_long_for_default_ns_names_its_field),
            cmocka_unit_test(test_zone_spec_defaults),
            cmocka_unit_test(test_import_actions_outlive_the_parsed_zone),
            cmocka_unit_test(test_zone_spec_lists_every_problem),
            cmocka_unit_test(test_batch_parses_actions_and_reports_each_bad_one),
            cmocka_unit_test(test_batch_without_changes_is_refused),
            cmocka_unit_test(test_cidr_change_parses_blocks_of_both_families),
            cmocka_unit_test(test_cidr_change_names_every_bad_field),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
