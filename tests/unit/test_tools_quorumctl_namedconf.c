/*
 * test_tools_quorumctl_namedconf.c — the zone list of a BIND named.conf as
 * `quorumctl zone import-many --from-bind` reads it: options { directory },
 * zones at the top level and in views with their type and file, the other
 * statements skipped by their braces, every comment style, quoted strings
 * holding braces and semicolons, keywords in any case, and syntax errors
 * (a lost ';' among them) reported with the line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "tools/quorumctl/namedconf.h"

static int parse(const char *text, struct quorumctl_namedconf *conf, char *err,
                 unsigned *line)
{
        return quorumctl_namedconf_parse(text, strlen(text), conf, err, 256, line);
}

static void test_zones_options_and_views(void **state)
{
        const char *text =
            "// BIND 9 configuration\n"
            "options {\n"
            "        directory \"/var/cache/bind\";\n"
            "        listen-on { 127.0.0.1; ::1; };   # trailing comment\n"
            "        allow-query { any; };\n"
            "};\n"
            "acl \"trusted\" { 10.0.0.0/8; 192.168.0.0/16; };\n"
            "key \"k\" { algorithm hmac-sha256; secret \"c2VjcmV0;}{\"; };\n"
            "/* a block\n comment { zone \"no.test\" { }; } */\n"
            "include \"/etc/bind/named.conf.local\";\n"
            "zone \"example.com\" IN {\n"
            "        type master;\n"
            "        file \"db.example.com\";\n"
            "        allow-transfer { 192.0.2.1; key \"k\"; };\n"
            "        also-notify { 192.0.2.2 port 53; };\n"
            "};\n"
            "zone \"second.test\" { type slave; masters { 192.0.2.9; }; file \"s.db\"; "
            "};\n"
            "view \"internal\" {\n"
            "        match-clients { trusted; };\n"
            "        zone \"internal.test\" { type primary; file \"/abs/internal.zone\"; "
            "};\n"
            "        zone \"example.com\";\n"
            "};\n"
            "zone \".\" { type hint; file \"root.hints\"; };\n";
        struct quorumctl_namedconf conf;
        char err[256];
        unsigned line = 0;
        assert_int_equal(parse(text, &conf, err, &line), 0);
        assert_string_equal(conf.directory, "/var/cache/bind");
        assert_int_equal(conf.n_includes, 1);
        assert_int_equal(conf.n_zones, 5);
        assert_string_equal(conf.zones[0].name, "example.com");
        assert_string_equal(conf.zones[0].type, "master");
        assert_string_equal(conf.zones[0].file, "db.example.com");
        assert_int_equal(conf.zones[0].line, 12);
        assert_string_equal(conf.zones[1].type, "slave");
        assert_string_equal(conf.zones[2].name, "internal.test");
        assert_string_equal(conf.zones[2].type, "primary");
        assert_string_equal(conf.zones[2].file, "/abs/internal.zone");
        assert_string_equal(conf.zones[3].name, "example.com"); /* in-view reference */
        assert_string_equal(conf.zones[3].type, "");
        assert_null(conf.zones[3].file);
        assert_string_equal(conf.zones[4].name, ".");
        assert_string_equal(conf.zones[4].type, "hint");
        quorumctl_namedconf_free(&conf);
}

static void expect_error(const char *text, unsigned want_line, const char *message)
{
        struct quorumctl_namedconf conf;
        char err[256];
        unsigned line = 0;
        assert_int_equal(parse(text, &conf, err, &line), -EINVAL);
        if (strstr(err, message) == NULL)
                fail_msg("error '%s' lacks '%s'", err, message);
        assert_int_equal(line, want_line);
        quorumctl_namedconf_free(&conf);
}

static void test_syntax_errors_name_their_line(void **state)
{
        expect_error("zone \"a\" { type master;\nfile \"a.db\";\n", 3, "without its '}'");
        expect_error("options { };\n};\n", 2, "without its '{'");
        expect_error("\n\nzone \"a\" { file \"unterminated; };\n", 3,
                     "string not closed");
        expect_error("zone \"a\" { };\n/* open\ncomment\n", 2, "comment not closed");
        expect_error("zone { type master; };\n", 1, "zone without a name");
        /* A lost ';' would swallow what follows it: a syntax error, never a
         * zone skipped or lost in silence. */
        expect_error("zone \"e1.test\" { type master file \"x\"; };\n", 1,
                     "';' expected after type master");
        expect_error("zone \"a\" { type master; file \"a\"; }\nzone \"b\" { type "
                     "master; file \"b\"; };\n",
                     2, "';' expected after '}'");
        expect_error("logging { channel c { file \"l\"; } };\nzone \"a\" { type master; "
                     "file \"a\"; };\n",
                     1, "';' expected after '}'");
        expect_error("\nzone \"a\" { file \"a.db\"; };\n", 2, "zone a has no type");
        expect_error("zone \"a\" { type; };\n", 1, "type without a value");
}

static void test_keywords_in_any_case_and_in_view(void **state)
{
        struct quorumctl_namedconf conf;
        char err[256];
        assert_int_equal(parse("OPTIONS { Directory \"/d\"; };\n"
                               "Zone \"x.test\" IN { TYPE MASTER; File \"x.db\"; };\n"
                               "view \"b\" { zone \"x.test\" { in-view \"a\"; }; };\n",
                               &conf, err, NULL),
                         0);
        assert_string_equal(conf.directory, "/d");
        assert_int_equal(conf.n_zones, 2);
        assert_string_equal(conf.zones[0].type, "MASTER");
        assert_string_equal(conf.zones[0].file, "x.db");
        assert_string_equal(conf.zones[1].type, ""); /* another view's zone */
        quorumctl_namedconf_free(&conf);
}

static void test_empty_and_odd_inputs(void **state)
{
        struct quorumctl_namedconf conf;
        char err[256];
        assert_int_equal(parse("", &conf, err, NULL), 0);
        assert_int_equal(conf.n_zones, 0);
        quorumctl_namedconf_free(&conf);
        /* A string with an escaped quote; a zone name as a bare word. */
        assert_int_equal(
            parse("zone a.test { file \"x\\\"y.db\"; type master; };", &conf, err, NULL),
            0);
        assert_string_equal(conf.zones[0].name, "a.test");
        assert_string_equal(conf.zones[0].file, "x\"y.db");
        quorumctl_namedconf_free(&conf);
        /* Views nested beyond reason are refused, not recursed into. */
        char deep[256] = "";
        for (int i = 0; i < 12; i++)
                strcat(deep, "view v { ");
        assert_int_equal(parse(deep, &conf, err, NULL), -EINVAL);
        quorumctl_namedconf_free(&conf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_zones_options_and_views),
            cmocka_unit_test(test_syntax_errors_name_their_line),
            cmocka_unit_test(test_empty_and_odd_inputs),
            cmocka_unit_test(test_keywords_in_any_case_and_in_view),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
