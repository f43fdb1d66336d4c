/*
 * fuzz_limits.c — libFuzzer target for what operators hand the DNS limits:
 * the text of a cookie secrets file (dns_cookie_keys_parse) and network
 * names for RRL exemptions (dns_net_parse, each line of the input as one
 * name, then checked against a few addresses).  A parse either fails or
 * gives values inside their bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/cookie.h"
#include "dns/rrl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* A heap copy of exactly `size` bytes so ASan sees any over-read. */
        char *text = malloc(size + 1);
        if (size)
                memcpy(text, data, size);
        text[size] = '\0';
        struct dns_cookie_keys keys;
        unsigned line;
        const char *why;
        if (dns_cookie_keys_parse(text, size, &keys, &line, &why) == 0 &&
            (keys.count == 0 || keys.count >= DNS_COOKIE_KEYS_MAX))
                abort();
        static const struct dns_client_addr probes[] = {
            {.family = AF_INET, .len = 4, .bytes = {192, 0, 2, 1}},
            {.family = AF_INET6, .len = 16, .bytes = {0x20, 0x01, 0x0d, 0xb8}},
        };
        for (char *save = NULL, *item = strtok_r(text, "\n,", &save); item != NULL;
             item = strtok_r(NULL, "\n,", &save)) {
                struct dns_net net;
                if (dns_net_parse(item, &net) != 0)
                        continue;
                if (net.prefix > (net.family == AF_INET ? 32 : 128))
                        abort();
                for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
                        dns_net_contains(&net, &probes[i]);
        }
        free(text);
        return 0;
}
