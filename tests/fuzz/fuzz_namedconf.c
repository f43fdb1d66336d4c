/*
 * fuzz_namedconf.c — libFuzzer target: any bytes as a BIND named.conf for
 * `quorumctl zone import-many --from-bind` (tools/quorumctl/namedconf.h).
 *
 * The parse must end (success or a syntax error with a line) without a
 * crash, a leak or a read past the input; every zone it returns has a name
 * and a type.
 */
#include <stdint.h>
#include <stdlib.h>

#include "tools/quorumctl/namedconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct quorumctl_namedconf conf;
        char err[256];
        unsigned line;
        int rc = quorumctl_namedconf_parse((const char *)data, size, &conf, err,
                                           sizeof(err), &line);
        if (rc == 0)
                for (size_t i = 0; i < conf.n_zones; i++)
                        if (conf.zones[i].name == NULL || conf.zones[i].type == NULL)
                                abort();
        quorumctl_namedconf_free(&conf);
        return 0;
}
