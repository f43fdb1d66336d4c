/*
 * admin_token.c — the admin token a cluster node keeps in its data folder
 * when no --api-token admin:… is given (node/admin_token.h).
 *
 * The token is read from DATA_DIR/admin.token; a missing or too short one
 * is replaced by 24 random bytes in hex, written with mode 600.  The token
 * joins the configured ones with the admin scope.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/log.h"
#include "node/admin_token.h"

int node_admin_token_ensure(struct node_config *cfg)
{
        for (unsigned i = 0; i < cfg->token_count; i++)
                if (cfg->tokens[i].scope == 2)
                        return 0;
        if (cfg->token_count == NODE_MAX_TOKENS)
                return -ENOSPC;
        char path[600], secret[128] = "";
        snprintf(path, sizeof(path), "%s/admin.token", cfg->data_dir);
        FILE *fp = fopen(path, "r");
        if (fp != NULL) {
                if (fgets(secret, sizeof(secret), fp) == NULL)
                        secret[0] = '\0';
                fclose(fp);
                secret[strcspn(secret, "\r\n")] = '\0';
        }
        if (strlen(secret) < 8) {
                unsigned char bytes[24];
                if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
                        return -EIO;
                for (size_t i = 0; i < sizeof(bytes); i++)
                        snprintf(secret + 2 * i, 3, "%02x", bytes[i]);
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                if (fd < 0)
                        return -errno;
                dprintf(fd, "%s\n", secret);
                close(fd);
                LOG_INFO("no --api-token given: made an admin token in %s", path);
        } else {
                LOG_INFO("no --api-token given: using the admin token in %s", path);
        }
        cfg->tokens[cfg->token_count].scope = 2;
        snprintf(cfg->tokens[cfg->token_count].secret, sizeof(cfg->tokens[0].secret),
                 "%s", secret);
        cfg->token_count++;
        return 0;
}
