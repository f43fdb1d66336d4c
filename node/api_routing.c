/*
 * api_routing.c — routed record sets as master-file comment lines (see
 * api_routing.h): api_rrset_json() writes a line's JSON, api_rrset_parse()
 * reads it back, so export and import use the API's own record-set form.
 */
#include "node/api_routing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool api_rrset_is_routed(const struct cs_rrset *rrset)
{
        return rrset->set_id[0] != '\0' || cs_routing_present(&rrset->routing);
}

char *api_routed_line(const struct cs_rrset *rrset)
{
        json_t *obj = api_rrset_json(rrset);
        char *json = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        json_decref(obj);
        if (json == NULL)
                return NULL;
        size_t n = strlen(API_ROUTED_PREFIX) + strlen(json) + 2;
        char *line = malloc(n);
        if (line != NULL)
                snprintf(line, n, "%s%s\n", API_ROUTED_PREFIX, json);
        free(json);
        return line;
}

static void line_error(json_t *errors, unsigned line, const char *message)
{
        char field[32];
        snprintf(field, sizeof(field), "line %u", line);
        if (json_array_size(errors) < 100)
                json_array_append_new(errors,
                                      json_pack("{s:s, s:s, s:i}", "field", field,
                                                "message", message, "line", line));
}

int api_routed_parse(const char *text, size_t len, const uint8_t *origin,
                     struct api_rrset **sets, size_t *n, json_t *errors)
{
        size_t prefix = strlen(API_ROUTED_PREFIX), cap = 0;
        unsigned lineno = 0;
        *sets = NULL;
        *n = 0;
        for (size_t pos = 0; pos < len;) {
                const char *start = text + pos;
                const char *nl = memchr(start, '\n', len - pos);
                size_t line_len = nl ? (size_t)(nl - start) : len - pos;
                pos += line_len + (nl ? 1 : 0);
                lineno++;
                if (line_len < prefix || memcmp(start, API_ROUTED_PREFIX, prefix) != 0)
                        continue;
                json_error_t jerr;
                json_t *obj = json_loadb(start + prefix, line_len - prefix, 0, &jerr);
                if (obj == NULL) {
                        char msg[256];
                        snprintf(msg, sizeof(msg), "routed record set: invalid JSON: %s",
                                 jerr.text);
                        line_error(errors, lineno, msg);
                        continue;
                }
                if (*n == cap) {
                        cap = cap ? cap * 2 : 16;
                        struct api_rrset *grown = realloc(*sets, cap * sizeof(*grown));
                        if (grown == NULL) {
                                json_decref(obj);
                                return -ENOMEM;
                        }
                        *sets = grown;
                }
                struct api_errors errs;
                api_errors_init(&errs);
                if (api_rrset_parse(obj, origin, "rrset", -1, 1, &(*sets)[*n], &errs) ==
                    0) {
                        (*n)++;
                } else {
                        api_rrset_free(&(*sets)[*n]);
                        for (size_t i = 0; i < json_array_size(errs.list); i++) {
                                json_t *e = json_array_get(errs.list, i);
                                char msg[600];
                                snprintf(
                                    msg, sizeof(msg), "%s: %s",
                                    json_string_value(json_object_get(e, "field")),
                                    json_string_value(json_object_get(e, "message")));
                                line_error(errors, lineno, msg);
                        }
                }
                json_decref(errs.list);
                json_decref(obj);
        }
        return 0;
}
