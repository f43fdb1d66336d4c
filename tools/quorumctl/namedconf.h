/*
 * namedconf.h — the zones a BIND named.conf serves, for `quorumctl zone
 * import-many --from-bind`.
 *
 * Only what a migration needs is read: `options { directory "…"; }` and
 * every `zone "NAME" [CLASS] { type …; file "…"; }` at the top level or
 * inside `view` blocks.  Everything else (acl, key, logging, controls, the
 * other zone options) is skipped by its braces.  Comments (`//`, `#`,
 * C-style block comments) and quoted strings with backslash escapes are understood.
 * Keywords are read without regard to case, as BIND reads them.
 * `include` statements are reported, not followed: the caller names the
 * files it wants read.  A syntax error (an unterminated string or comment,
 * unbalanced braces, a `}` or a `type`/`file`/`directory` value without its
 * `;`, a zone without a name, a zone block without a type that is not
 * `in-view`) stops the parse with its line, so that no zone is lost to a
 * statement read wrongly.
 */
#ifndef QUORUMCTL_NAMEDCONF_H
#define QUORUMCTL_NAMEDCONF_H

#include <stddef.h>

struct quorumctl_namedconf_zone {
        char *name; /* as written, e.g. "example.com" */
        char *type; /* "master", "primary", "slave", …; "" for a reference */
        char *file; /* as written; NULL when absent */
        unsigned line;
};

struct quorumctl_namedconf {
        char *directory; /* options { directory }; NULL when absent */
        struct quorumctl_namedconf_zone *zones;
        size_t n_zones;
        size_t n_includes; /* include statements seen (not followed) */
};

/* 0, -EINVAL (err and *line say where and why) or -ENOMEM.  conf is
 * filled either way; free it with quorumctl_namedconf_free. */
int quorumctl_namedconf_parse(const char *text, size_t len,
                              struct quorumctl_namedconf *conf, char *err, size_t errlen,
                              unsigned *line);
void quorumctl_namedconf_free(struct quorumctl_namedconf *conf);

#endif
