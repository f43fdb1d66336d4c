/*
 * fuzz_node_config.c — libFuzzer target: any bytes as the node's config
 * file (node_config_parse with --config FILE).
 *
 * The input is written to a private temporary file and parsed as the
 * daemon does at start-up; a refused file must say why, with file:line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_file(void)
{
        unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (path[0] == '\0') {
                snprintf(path, sizeof(path), "/tmp/fuzz_node_config-XXXXXX");
                int fd = mkstemp(path);
                if (fd < 0)
                        abort();
                close(fd);
                atexit(remove_file);
        }
        FILE *fp = fopen(path, "w");
        if (fp == NULL || fwrite(data, 1, size, fp) != size)
                abort();
        fclose(fp);
        char *argv[] = {"quorumdns", "--config", path, NULL};
        struct node_config cfg;
        char err[1024] = "";
        enum node_config_result rc = node_config_parse(&cfg, 3, argv, err, sizeof(err));
        if (rc == NODE_CONFIG_ERROR && strncmp(err, path, strlen(path)) != 0)
                abort(); /* a file problem names the file */
        if (rc != NODE_CONFIG_OK && err[0] == '\0')
                abort();
        node_config_free(&cfg);
        return 0;
}
