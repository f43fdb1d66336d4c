/*
 * fuzz_zonefile.c — libFuzzer target: any bytes as a zone file.
 *
 * The input is written to a temporary file and loaded with
 * dns_zonefile_load() into a transaction, with the origin given and (every
 * other input) taken from the SOA.  A clean load is committed, which also
 * exercises replacing the zone in the next run; a failed one is aborted.
 * $INCLUDE of absolute paths and of devices is refused by the harness so a
 * run never reads the machine's files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/db.h"
#include "dns/zonefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(void *ctx, const char *file, unsigned line, const char *message)
{
}

static struct dns_db db;
static char path[64];

static void init_once(void)
{
        static int done;
        if (done)
                return;
        done = 1;
        if (dns_db_init(&db) != 0)
                abort();
        /* A private directory: relative $INCLUDEs stay inside it. */
        char dir[] = "/tmp/qdns-fuzz-zonefile-XXXXXX";
        if (mkdtemp(dir) == NULL)
                abort();
        snprintf(path, sizeof(path), "%s/zone", dir);
}

/* Does the input ask to include a file outside the harness's directory? */
static int includes_outside(const uint8_t *data, size_t size)
{
        for (size_t i = 0; i + 1 < size; i++)
                if (data[i] == '/' || (data[i] == '.' && data[i + 1] == '.'))
                        return 1;
        return size > 0 && data[size - 1] == '/';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        init_once();
        if (includes_outside(data, size))
                return -1;
        FILE *fp = fopen(path, "w");
        if (fp == NULL || fwrite(data, 1, size, fp) != size)
                abort();
        fclose(fp);
        static unsigned runs;
        uint8_t origin[256];
        dns_name_from_text("example.com.", origin);
        struct dns_txn txn;
        if (dns_txn_begin(&db, &txn) != 0)
                abort();
        int rc = dns_zonefile_load(&txn, path, ++runs % 2 ? origin : NULL, NULL, quiet,
                                   NULL, NULL);
        if (rc == 0)
                dns_txn_commit(&txn);
        else
                dns_txn_abort(&txn);
        return 0;
}
