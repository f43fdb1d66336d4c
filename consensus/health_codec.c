/*
 * health_codec.c — msgpack forms of health-check definitions and votes
 * (see health_codec.h).
 */
#include "consensus/health_codec.h"

#include <errno.h>
#include <string.h>

#include "consensus/codec.h"

enum { F_INVERTED = 1, F_DISABLED = 2, F_SNI = 4, F_VERIFY = 8 };

static void pack_opt_str(msgpack_packer *pk, const char *s)
{
        if (s)
                cs_mp_pack_str(pk, s);
        else
                msgpack_pack_nil(pk);
}

void cs_mp_pack_health_config(msgpack_packer *pk, const struct health_check_config *c)
{
        msgpack_pack_array(pk, CS_HEALTH_CONFIG_FIELDS);
        msgpack_pack_uint32(pk, (uint32_t)c->type);
        pack_opt_str(pk, c->ip_address);
        msgpack_pack_uint16(pk, c->port);
        pack_opt_str(pk, c->resource_path);
        pack_opt_str(pk, c->fqdn);
        pack_opt_str(pk, c->search_string);
        msgpack_pack_uint32(pk, c->request_interval);
        msgpack_pack_uint32(pk, c->failure_threshold);
        msgpack_pack_uint32(
            pk, (c->inverted ? F_INVERTED : 0) | (c->disabled ? F_DISABLED : 0) |
                    (c->enable_sni ? F_SNI : 0) | (c->verify_certificate ? F_VERIFY : 0));
        msgpack_pack_uint16(pk, c->status_min);
        msgpack_pack_uint16(pk, c->status_max);
        msgpack_pack_uint32(pk, c->health_threshold);
        msgpack_pack_array(pk, c->child_count);
        for (size_t i = 0; i < c->child_count; i++)
                msgpack_pack_uint64(pk, c->children[i]);
        msgpack_pack_array(pk, c->checker_count);
        for (size_t i = 0; i < c->checker_count; i++)
                cs_mp_pack_str(pk, c->checkers[i]);
        msgpack_pack_uint32(pk, c->aggregation_percent);
        msgpack_pack_uint32(pk, c->vote_freshness);
        msgpack_pack_uint32(pk, c->heartbeat_ttl);
}

/* A packer's sink that remembers a failed write. */
struct config_sink {
        msgpack_sbuffer sb;
        bool failed;
};

static int config_sink_write(void *data, const char *buf, size_t len)
{
        struct config_sink *sink = data;
        if (msgpack_sbuffer_write(&sink->sb, buf, len) != 0)
                sink->failed = true;
        return 0;
}

static void config_pack(struct config_sink *sink, const struct health_check_config *c)
{
        msgpack_packer pk;
        msgpack_sbuffer_init(&sink->sb);
        sink->failed = false;
        msgpack_packer_init(&pk, sink, config_sink_write);
        cs_mp_pack_health_config(&pk, c);
}

int cs_health_config_same(const struct health_check_config *a,
                          const struct health_check_config *b)
{
        struct config_sink sa, sb;
        config_pack(&sa, a);
        config_pack(&sb, b);
        int same = sa.failed || sb.failed
                       ? -ENOMEM
                       : sa.sb.size == sb.sb.size &&
                             memcmp(sa.sb.data, sb.sb.data, sa.sb.size) == 0;
        msgpack_sbuffer_destroy(&sa.sb);
        msgpack_sbuffer_destroy(&sb.sb);
        return same;
}

int cs_mp_health_config(const msgpack_object *o, msgpack_zone *zone,
                        struct health_check_config *c)
{
        const msgpack_object *f, *items;
        size_t n;
        uint32_t type, flags;
        memset(c, 0, sizeof(*c));
        if (cs_mp_array(o, CS_HEALTH_CONFIG_FIELDS, false, &f, NULL) != 0 ||
            cs_mp_u32(&f[0], &type) != 0 || type >= HEALTH_CHECK_TYPE_COUNT)
                return -EBADMSG;
        c->type = (enum health_check_type)type;
        int rv = 0;
        const char *s[4];
        for (int i = 0; i < 4 && rv == 0; i++)
                rv = cs_mp_str(&f[i == 0 ? 1 : i + 2], zone, 255, true, &s[i]);
        if (rv != 0)
                return rv;
        c->ip_address = (char *)s[0];
        c->resource_path = (char *)s[1];
        c->fqdn = (char *)s[2];
        c->search_string = (char *)s[3];
        if (cs_mp_u16(&f[2], &c->port) != 0 || cs_mp_u32(&f[6], &c->request_interval) ||
            cs_mp_u32(&f[7], &c->failure_threshold) || cs_mp_u32(&f[8], &flags) ||
            cs_mp_u16(&f[9], &c->status_min) || cs_mp_u16(&f[10], &c->status_max) ||
            cs_mp_u32(&f[11], &c->health_threshold))
                return -EBADMSG;
        c->inverted = flags & F_INVERTED;
        c->disabled = flags & F_DISABLED;
        c->enable_sni = flags & F_SNI;
        c->verify_certificate = flags & F_VERIFY;
        if (cs_mp_array(&f[12], 0, true, &items, &n) != 0 || n > HEALTH_CHILDREN_MAX)
                return -EBADMSG;
        if (n) {
                c->children = msgpack_zone_malloc(zone, n * sizeof(*c->children));
                if (c->children == NULL)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        if (cs_mp_u64(&items[i], &c->children[i]) != 0)
                                return -EBADMSG;
        }
        c->child_count = n;
        if (cs_mp_array(&f[13], 0, true, &items, &n) != 0 || n > HEALTH_CHECKERS_MAX)
                return -EBADMSG;
        if (n) {
                c->checkers = msgpack_zone_malloc(zone, n * sizeof(*c->checkers));
                if (c->checkers == NULL)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        const char *name;
                        rv = cs_mp_str(&items[i], zone, HEALTH_CHECKER_NAME_MAX, false,
                                       &name);
                        if (rv != 0)
                                return rv;
                        c->checkers[i] = (char *)name;
                }
        }
        c->checker_count = n;
        if (cs_mp_u32(&f[14], &c->aggregation_percent) ||
            cs_mp_u32(&f[15], &c->vote_freshness) || cs_mp_u32(&f[16], &c->heartbeat_ttl))
                return -EBADMSG;
        return 0;
}

void cs_mp_pack_health_vote(msgpack_packer *pk, const struct cs_health_vote_spec *v)
{
        msgpack_pack_array(pk, CS_HEALTH_VOTE_FIELDS);
        msgpack_pack_uint64(pk, v->check);
        if (v->healthy)
                msgpack_pack_true(pk);
        else
                msgpack_pack_false(pk);
        msgpack_pack_uint16(pk, v->status);
        msgpack_pack_uint32(pk, v->connect_us);
        msgpack_pack_uint32(pk, v->first_byte_us);
        pack_opt_str(pk, v->reason && v->reason[0] ? v->reason : NULL);
}

int cs_mp_health_vote(const msgpack_object *o, msgpack_zone *zone,
                      struct cs_health_vote_spec *v)
{
        const msgpack_object *f;
        memset(v, 0, sizeof(*v));
        if (cs_mp_array(o, CS_HEALTH_VOTE_FIELDS, false, &f, NULL) != 0 ||
            cs_mp_u64(&f[0], &v->check) || cs_mp_bool(&f[1], &v->healthy) ||
            cs_mp_u16(&f[2], &v->status) || cs_mp_u32(&f[3], &v->connect_us) ||
            cs_mp_u32(&f[4], &v->first_byte_us))
                return -EBADMSG;
        return cs_mp_str(&f[5], zone, CS_HEALTH_REASON_MAX, true, &v->reason);
}
