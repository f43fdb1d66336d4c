/*
 * test_tools_quorumctl.c — the pure parts of quorumctl, and its HTTP fallback
 * (the master-file chunker is in test_tools_quorumctl_chunker.c).
 *
 * Command-line parsing (global options anywhere, "--", values, counts); table
 * layout; API error text and exit codes; record names and values; and the
 * HTTP client against a small in-process server: fall back on a refused
 * connection and on 503, never on 4xx, and the Idempotency-Key sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/quorumctl/args.h"
#include "tools/quorumctl/chunker.h"
#include "tools/quorumctl/cmd_record.h"
#include "tools/quorumctl/commands.h"
#include "tools/quorumctl/errors.h"
#include "tools/quorumctl/http.h"
#include "tools/quorumctl/progress.h"
#include "tools/quorumctl/table.h"

/* ---- argument parsing ------------------------------------------------- */

static int parse(struct quorumctl_args *a, char *err, size_t errlen, ...)
{
        char *argv[32] = {"quorumctl"};
        int argc = 1;
        va_list ap;
        va_start(ap, errlen);
        for (char *w; (w = va_arg(ap, char *)) != NULL;)
                argv[argc++] = w;
        va_end(ap);
        return quorumctl_args_parse(a, argc, argv, quorumctl_global_opts,
                                    quorumctl_commands, err, errlen);
}

static void args_accept_global_options_anywhere(void **state)
{
        struct quorumctl_args a;
        char err[256];
        assert_int_equal(parse(&a, err, sizeof(err), "--server", "http://a:1", "zone",
                               "create", "example.com", "--ns=ns1.example.com.", "--ns",
                               "ns2", "--json", "-s", "b:2", "--ttl", "300", NULL),
                         0);
        assert_non_null(a.cmd);
        assert_string_equal(a.cmd->verb, "create");
        assert_int_equal(a.npos, 1);
        assert_string_equal(a.pos[0], "example.com");
        assert_string_equal(quorumctl_args_get_nth(&a, "server", 0), "http://a:1");
        assert_string_equal(quorumctl_args_get_nth(&a, "server", 1), "b:2");
        assert_null(quorumctl_args_get_nth(&a, "server", 2));
        assert_string_equal(quorumctl_args_get_nth(&a, "ns", 0), "ns1.example.com.");
        assert_string_equal(quorumctl_args_get_nth(&a, "ns", 1), "ns2");
        assert_true(quorumctl_args_has(&a, "json"));
        unsigned long ttl = 0;
        assert_int_equal(
            quorumctl_args_get_uint(&a, "ttl", 0, 100000, &ttl, err, sizeof(err)), 0);
        assert_int_equal(ttl, 300);
        quorumctl_args_free(&a);
}

static void args_take_values_after_double_dash(void **state)
{
        struct quorumctl_args a;
        char err[256];
        assert_int_equal(parse(&a, err, sizeof(err), "record", "upsert", "example.com",
                               "t", "TXT", "--ttl", "60", "--", "-all", "--json", NULL),
                         0);
        assert_int_equal(a.npos, 5);
        assert_string_equal(a.pos[3], "-all");
        assert_string_equal(a.pos[4], "--json");
        assert_false(quorumctl_args_has(&a, "json"));
        quorumctl_args_free(&a);

        assert_int_equal(
            parse(&a, err, sizeof(err), "zone", "export", "x", "-oout.zone", NULL), 0);
        assert_string_equal(quorumctl_args_get(&a, "output"), "out.zone");
        quorumctl_args_free(&a);
}

static void args_report_usage_errors(void **state)
{
        struct quorumctl_args a;
        char err[256];
        assert_int_equal(parse(&a, err, sizeof(err), NULL), -EINVAL);
        assert_non_null(strstr(err, "no command"));
        quorumctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "zonk", "list", NULL), -EINVAL);
        assert_non_null(strstr(err, "unknown command 'zonk'"));
        quorumctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "zone", "frob", NULL), -EINVAL);
        assert_non_null(strstr(err, "zone frob"));
        quorumctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "zone", NULL), -EINVAL);
        assert_non_null(strstr(err, "subcommand"));
        quorumctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "zone", "show", NULL), -EINVAL);
        assert_non_null(strstr(err, "more arguments"));
        quorumctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "zone", "show", "a", "b", NULL),
                         -EINVAL);
        assert_non_null(strstr(err, "unexpected argument 'b'"));
        quorumctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "zone", "list", "--bogus", NULL),
                         -EINVAL);
        assert_non_null(strstr(err, "--bogus"));
        quorumctl_args_free(&a);
        /* A command's option before the command is not known yet. */
        assert_int_equal(
            parse(&a, err, sizeof(err), "--force", "zone", "delete", "x", NULL), -EINVAL);
        assert_non_null(strstr(err, "after the command"));
        quorumctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "zone", "list", "--token", NULL),
                         -EINVAL);
        assert_non_null(strstr(err, "needs a value"));
        quorumctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "zone", "list", "--json=yes", NULL),
                         -EINVAL);
        quorumctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "zone", "list", "--token", "a",
                               "--token", "b", NULL),
                         -EINVAL);
        assert_non_null(strstr(err, "more than once"));
        quorumctl_args_free(&a);
}

/* An option that means nothing without another is a usage error, not
 * silently ignored. */
static void args_refuse_an_option_without_the_one_it_needs(void **state)
{
        struct quorumctl_args a;
        char err[256];
        static const char *const lines[][8] = {
            {"healthcheck", "status", "--every", "2"},
            {"healthcheck", "status", "--count", "3"},
            {"zone", "import", "z.test", "z.zone", "--yes"},
            {"record", "upsert", "z.test", "www", "A", "192.0.2.1",
             "--evaluate-target-health"},
            {"record", "upsert", "z.test", "www", "A", "--alias-zone-id", "Z1"},
        };
        static const char *const needed[] = {"--watch", "--watch", "--replace",
                                             "--alias-target", "--alias-target"};
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
                char *argv[10] = {"quorumctl"};
                int argc = 1;
                for (size_t w = 0; w < 8 && lines[i][w] != NULL; w++)
                        argv[argc++] = (char *)lines[i][w];
                assert_int_equal(
                    quorumctl_args_parse(&a, argc, argv, quorumctl_global_opts,
                                         quorumctl_commands, err, sizeof(err)),
                    -EINVAL);
                assert_non_null(strstr(err, "goes with"));
                assert_non_null(strstr(err, needed[i]));
                quorumctl_args_free(&a);
        }
        assert_int_equal(parse(&a, err, sizeof(err), "healthcheck", "status", "--watch",
                               "--every", "2", "--count", "3", NULL),
                         0);
        quorumctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "zone", "import", "z.test", "z.zone",
                               "--replace", "--yes", NULL),
                         0);
        quorumctl_args_free(&a);
}

static void args_help_needs_no_complete_command(void **state)
{
        struct quorumctl_args a;
        char err[256];
        assert_int_equal(parse(&a, err, sizeof(err), "zone", "--help", NULL), 0);
        assert_true(a.help);
        assert_null(a.cmd);
        assert_string_equal(a.object, "zone");
        quorumctl_args_free(&a);
        assert_int_equal(parse(&a, err, sizeof(err), "change", "wait", "-h", NULL), 0);
        assert_true(a.help);
        assert_non_null(a.cmd);
        quorumctl_args_free(&a);
}

static void args_share_a_name_between_global_and_command(void **state)
{
        struct quorumctl_args a;
        char err[256];
        /* --timeout before "change wait" is the same option as after it. */
        assert_int_equal(
            parse(&a, err, sizeof(err), "--timeout", "2.5", "change", "wait", "C1", NULL),
            0);
        double secs = 0;
        assert_int_equal(
            quorumctl_args_get_seconds(&a, "timeout", &secs, err, sizeof(err)), 0);
        assert_true(secs > 2.49 && secs < 2.51);
        quorumctl_args_free(&a);
}

static void args_check_numbers(void **state)
{
        struct quorumctl_args a;
        char err[256];
        unsigned long v = 7;
        double s = 1;
        assert_int_equal(parse(&a, err, sizeof(err), "record", "list", "z", "--limit",
                               "-3", "--timeout", "0", NULL),
                         0);
        assert_int_equal(
            quorumctl_args_get_uint(&a, "limit", 1, 100, &v, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "--limit"));
        assert_int_equal(v, 7);
        assert_int_equal(quorumctl_args_get_seconds(&a, "timeout", &s, err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(
            quorumctl_args_get_uint(&a, "absent", 1, 100, &v, err, sizeof(err)), 0);
        assert_int_equal(v, 7);
        quorumctl_args_free(&a);
}

/* ---- table output ----------------------------------------------------- */

static char *render(const struct quorumctl_table *t)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        quorumctl_table_print(t, f);
        fclose(f);
        return text;
}

static void table_aligns_columns(void **state)
{
        static const char *const headers[] = {"NAME", ">TTL", "RECORDS"};
        struct quorumctl_table t;
        quorumctl_table_init(&t, 3, headers);
        const char *r1[] = {"www.example.com.", "300", "192.0.2.1"};
        const char *r2[] = {"a.", "86400", NULL};
        const char *r3[] = {"caf\xc3\xa9.", "5", "tab\there"};
        assert_int_equal(quorumctl_table_add(&t, r1), 0);
        assert_int_equal(quorumctl_table_add(&t, r2), 0);
        assert_int_equal(quorumctl_table_add(&t, r3), 0);
        char *text = render(&t);
        assert_string_equal(text, "NAME                TTL  RECORDS\n"
                                  "www.example.com.    300  192.0.2.1\n"
                                  "a.                86400  -\n"
                                  "caf\xc3\xa9.                 5  tab here\n");
        free(text);
        quorumctl_table_free(&t);
}

static void table_prints_header_alone_when_empty(void **state)
{
        static const char *const headers[] = {"A", "B"};
        struct quorumctl_table t;
        quorumctl_table_init(&t, 2, headers);
        char *text = render(&t);
        assert_string_equal(text, "A  B\n");
        free(text);
        quorumctl_table_free(&t);
}

static void table_lists_object_members(void **state)
{
        json_t *obj = json_pack("{s:s,s:i,s:n,s:b,s:[s,s]}", "name", "example.com.",
                                "serial", 42, "next", "dnssec", 0, "ns", "a.", "b.");
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        quorumctl_table_print_object(obj, f);
        fclose(f);
        assert_string_equal(text, "name:   example.com.\n"
                                  "serial: 42\n"
                                  "next:   \n"
                                  "dnssec: false\n"
                                  "ns:     [\"a.\",\"b.\"]\n");
        free(text);
        json_decref(obj);
}

/* ---- errors and exit codes -------------------------------------------- */

static void exit_codes_follow_the_status(void **state)
{
        assert_int_equal(quorumctl_exit_from_status(200), QUORUMCTL_EXIT_OK);
        assert_int_equal(quorumctl_exit_from_status(201), QUORUMCTL_EXIT_OK);
        assert_int_equal(quorumctl_exit_from_status(400), QUORUMCTL_EXIT_API);
        assert_int_equal(quorumctl_exit_from_status(401), QUORUMCTL_EXIT_API);
        assert_int_equal(quorumctl_exit_from_status(404), QUORUMCTL_EXIT_API);
        assert_int_equal(quorumctl_exit_from_status(409), QUORUMCTL_EXIT_API);
        assert_int_equal(quorumctl_exit_from_status(413), QUORUMCTL_EXIT_API);
        assert_int_equal(quorumctl_exit_from_status(500), QUORUMCTL_EXIT_UNAVAILABLE);
        assert_int_equal(quorumctl_exit_from_status(503), QUORUMCTL_EXIT_UNAVAILABLE);
        assert_int_equal(quorumctl_exit_from_status(0), QUORUMCTL_EXIT_UNAVAILABLE);
        assert_int_equal(quorumctl_exit_from_status(302), QUORUMCTL_EXIT_UNAVAILABLE);
}

static void error_text_names_field_and_every_problem(void **state)
{
        const char *one =
            "{\"error\":{\"code\":\"InvalidInput\",\"message\":\"ttl must be "
            "0..2147483647\",\"field\":\"changes[2].rrset.ttl\"}}";
        char *text = quorumctl_error_format(400, one, strlen(one));
        assert_string_equal(text, "InvalidInput: ttl must be 0..2147483647 (field "
                                  "changes[2].rrset.ttl)");
        free(text);

        const char *batch =
            "{\"error\":{\"code\":\"InvalidChangeBatch\",\"message\":\"2 problems in the "
            "change "
            "batch\",\"errors\":[{\"index\":0,\"field\":\"changes[0].rrset.records[1]\","
            "\"message\":\"bad address\"},{\"index\":3,\"message\":\"the record set does "
            "not "
            "exist\"}]}}";
        text = quorumctl_error_format(400, batch, strlen(batch));
        assert_string_equal(text, "InvalidChangeBatch: 2 problems in the change batch\n"
                                  "  changes[0].rrset.records[1]: bad address\n"
                                  "  changes[3]: the record set does not exist");
        free(text);

        /* A long list is cut after QUORUMCTL_ERROR_MAX_PROBLEMS lines. */
        json_t *many = json_pack("{s:{s:s,s:s,s:[]}}", "error", "code",
                                 "InvalidChangeBatch", "message", "m", "errors");
        json_t *list = json_object_get(json_object_get(many, "error"), "errors");
        for (int i = 0; i < 25; i++)
                json_array_append_new(
                    list, json_pack("{s:i,s:s}", "index", i, "message", "bad"));
        char *body = json_dumps(many, 0);
        text = quorumctl_error_format(400, body, strlen(body));
        assert_non_null(strstr(text, "changes[19]: bad\n  ... and 5 more"));
        assert_null(strstr(text, "changes[20]"));
        free(text);
        free(body);
        json_decref(many);

        const char *html = "<html>Bad Gateway</html>\nmore";
        text = quorumctl_error_format(502, html, strlen(html));
        assert_string_equal(text, "HTTP 502: <html>Bad Gateway</html>");
        free(text);
        text = quorumctl_error_format(500, "", 0);
        assert_string_equal(text, "HTTP 500");
        free(text);
}

/* ---- record names and values ------------------------------------------ */

static void record_names_resolve_against_the_zone(void **state)
{
        static const char *const cases[][3] = {
            {"example.com", "www", "www.example.com."},
            {"example.com.", "@", "example.com."},
            {"example.com", "www.example.com", "www.example.com."},
            {"example.com", "WWW.Example.COM", "WWW.Example.COM."},
            {"example.com", "example.com", "example.com."},
            {"example.com", "other.org.", "other.org."},
            {"example.com", "notexample.com", "notexample.com.example.com."},
            {".", "www", "www."},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *name = quorumctl_record_name_resolve(cases[i][0], cases[i][1]);
                assert_string_equal(name, cases[i][2]);
                free(name);
        }
}

static void record_txt_values_become_one_string(void **state)
{
        char *v = quorumctl_record_value_quote("txt", "v=spf1 -all");
        assert_string_equal(v, "\"v=spf1 -all\"");
        free(v);
        v = quorumctl_record_value_quote("TXT", "say \"hi\"\\");
        assert_string_equal(v, "\"say \\\"hi\\\"\\\\\"");
        free(v);
        v = quorumctl_record_value_quote("TXT", "\"a\" \"b\"");
        assert_string_equal(v, "\"a\" \"b\"");
        free(v);
        v = quorumctl_record_value_quote("MX", "10 mail");
        assert_string_equal(v, "10 mail");
        free(v);
}

static void record_batch_has_one_action(void **state)
{
        struct quorumctl_args a;
        char err[256];
        assert_int_equal(parse(&a, err, sizeof(err), "record", "upsert", "example.com",
                               "www", "a", "--ttl", "60", "--set-id", "eu", "192.0.2.1",
                               "192.0.2.2", NULL),
                         0);
        json_t *batch =
            quorumctl_record_batch_build("UPSERT", "example.com", &a, err, sizeof(err));
        json_t *want = json_loads("{\"changes\":[{\"action\":\"UPSERT\",\"rrset\":{"
                                  "\"name\":\"www.example.com.\","
                                  "\"type\":\"A\",\"set_identifier\":\"eu\",\"ttl\":60,"
                                  "\"records\":[\"192.0.2.1\","
                                  "\"192.0.2.2\"]}}]}",
                                  0, NULL);
        assert_true(json_equal(batch, want));
        json_decref(batch);
        json_decref(want);
        quorumctl_args_free(&a);

        assert_int_equal(parse(&a, err, sizeof(err), "record", "delete", "example.com",
                               "old", "CNAME", NULL),
                         0);
        batch =
            quorumctl_record_batch_build("DELETE", "example.com", &a, err, sizeof(err));
        json_t *rrset = json_object_get(
            json_array_get(json_object_get(batch, "changes"), 0), "rrset");
        assert_null(json_object_get(rrset, "records"));
        assert_null(json_object_get(rrset, "ttl"));
        json_decref(batch);
        quorumctl_args_free(&a);

        assert_int_equal(parse(&a, err, sizeof(err), "record", "create", "example.com",
                               "x", "A", "--ttl", "soon", "192.0.2.1", NULL),
                         0);
        assert_null(
            quorumctl_record_batch_build("CREATE", "example.com", &a, err, sizeof(err)));
        assert_non_null(strstr(err, "--ttl"));
        quorumctl_args_free(&a);
}

static void http_escape_keeps_unreserved(void **state)
{
        char *e = quorumctl_http_escape("www.example.com.");
        assert_string_equal(e, "www.example.com.");
        free(e);
        e = quorumctl_http_escape("a b/c?d&e=\xc3\xa9");
        assert_string_equal(e, "a%20b%2Fc%3Fd%26e%3D%C3%A9");
        free(e);
}

static void progress_line_shows_rate_and_eta(void **state)
{
        char line[160];
        quorumctl_progress_format(line, sizeof(line), 50000, 100000, 10.0);
        assert_string_equal(line,
                            "[############............] 50000/100000 records  50%  5000 "
                            "rec/s  ETA 0:10");
        quorumctl_progress_format(line, sizeof(line), 0, 10, 0);
        assert_string_equal(
            line, "[........................] 0/10 records   0%  - rec/s  ETA -");
}

/* ---- HTTP fallback against an in-process server ------------------------ */

struct fake_server {
        int fd;
        int port;
        int status; /* answered to every request */
        const char *body;
        pthread_t thread;
        int requests;
        char last_request[4096];
};

static void *fake_server_run(void *arg)
{
        struct fake_server *s = arg;
        for (;;) {
                int c = accept(s->fd, NULL, NULL);
                if (c < 0)
                        return NULL;
                char buf[4096];
                size_t len = 0;
                ssize_t n;
                while (len < sizeof(buf) - 1 &&
                       (n = read(c, buf + len, sizeof(buf) - 1 - len)) > 0) {
                        len += (size_t)n;
                        buf[len] = '\0';
                        char *end = strstr(buf, "\r\n\r\n");
                        char *cl = strcasestr(buf, "Content-Length: ");
                        if (end != NULL &&
                            (cl == NULL ||
                             len >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10)))
                                break;
                }
                buf[len] = '\0';
                memcpy(s->last_request, buf, len + 1);
                s->requests++;
                char reply[1024];
                int m = snprintf(reply, sizeof(reply),
                                 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                 s->status, strlen(s->body), s->body);
                if (write(c, reply, (size_t)m) < 0)
                        perror("write");
                close(c);
        }
}

static void fake_server_start(struct fake_server *s, int status, const char *body)
{
        memset(s, 0, sizeof(*s));
        s->status = status;
        s->body = body;
        s->fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(a);
        assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(s->fd, 8), 0);
        getsockname(s->fd, (struct sockaddr *)&a, &alen);
        s->port = ntohs(a.sin_port);
        pthread_create(&s->thread, NULL, fake_server_run, s);
}

static void fake_server_stop(struct fake_server *s)
{
        shutdown(s->fd, SHUT_RDWR);
        close(s->fd);
        pthread_join(s->thread, NULL);
}

/* A port on which nothing listens (bound, then closed). */
static int dead_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof(a);
        bind(fd, (struct sockaddr *)&a, sizeof(a));
        getsockname(fd, (struct sockaddr *)&a, &alen);
        close(fd);
        return ntohs(a.sin_port);
}

static void add_port(struct quorumctl_http *h, int port)
{
        char url[64];
        snprintf(url, sizeof(url), "127.0.0.1:%d/", port);
        assert_int_equal(quorumctl_http_add_server(h, url), 0);
}

/* A client of the fake servers: no election wait between rounds (a whole
 * command reads QUORUMDNS_RETRY_MS, set in main). */
static void http_init(struct quorumctl_http *h)
{
        assert_int_equal(quorumctl_http_init(h), 0);
        h->retry_ms = 0;
}

static void http_falls_back_on_refused_and_503_only(void **state)
{
        struct fake_server busy, ok, refusing;
        fake_server_start(&busy, 503,
                          "{\"error\":{\"code\":\"NoQuorum\",\"message\":\"no\"}}");
        fake_server_start(&ok, 200, "{\"zones\":[]}");
        fake_server_start(&refusing, 404,
                          "{\"error\":{\"code\":\"NoSuchZone\",\"message\":\"x\"}}");

        struct quorumctl_http h;
        http_init(&h);
        add_port(&h, dead_port());
        add_port(&h, busy.port);
        add_port(&h, ok.port);
        assert_int_equal(quorumctl_http_set_token(&h, "s3cret"), 0);
        struct quorumctl_http_response r;
        assert_int_equal(quorumctl_http_request(&h, "POST", "/v1/zones",
                                                "application/json", "{}", 2, "key-1", &r),
                         0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "{\"zones\":[]}");
        assert_int_equal(busy.requests, 1);
        assert_int_equal(ok.requests, 1);
        assert_non_null(strstr(ok.last_request, "POST /v1/zones HTTP/1.1"));
        assert_non_null(strstr(ok.last_request, "Idempotency-Key: key-1"));
        assert_non_null(strstr(ok.last_request, "Authorization: Bearer s3cret"));
        /* The same key went to the 503 server: a retry cannot apply twice. */
        assert_non_null(strstr(busy.last_request, "Idempotency-Key: key-1"));
        quorumctl_http_response_free(&r);

        /* The next request starts at the server that answered. */
        assert_int_equal(
            quorumctl_http_request(&h, "GET", "/v1/zones", NULL, NULL, 0, NULL, &r), 0);
        assert_int_equal(busy.requests, 1);
        assert_int_equal(ok.requests, 2);
        assert_null(strstr(ok.last_request, "Idempotency-Key"));
        quorumctl_http_response_free(&r);
        quorumctl_http_close(&h);

        /* A 4xx is final: the next server is not asked. */
        http_init(&h);
        add_port(&h, refusing.port);
        add_port(&h, ok.port);
        assert_int_equal(
            quorumctl_http_request(&h, "GET", "/v1/zones/x.", NULL, NULL, 0, NULL, &r),
            0);
        assert_int_equal(r.status, 404);
        assert_int_equal(ok.requests, 2);
        quorumctl_http_response_free(&r);
        quorumctl_http_close(&h);

        /* 503 everywhere: the last 503 comes back (exit 3). */
        http_init(&h);
        add_port(&h, busy.port);
        add_port(&h, dead_port());
        assert_int_equal(
            quorumctl_http_request(&h, "GET", "/v1/zones", NULL, NULL, 0, NULL, &r), 0);
        assert_int_equal(r.status, 503);
        quorumctl_http_response_free(&r);
        quorumctl_http_close(&h);

        /* Nobody at all. */
        http_init(&h);
        add_port(&h, dead_port());
        assert_int_equal(
            quorumctl_http_request(&h, "GET", "/v1/zones", NULL, NULL, 0, NULL, &r),
            -EHOSTUNREACH);
        assert_non_null(strstr(h.error, "127.0.0.1"));
        quorumctl_http_response_free(&r);
        quorumctl_http_close(&h);

        fake_server_stop(&busy);
        fake_server_stop(&ok);
        fake_server_stop(&refusing);
}

static void http_rejects_bad_server_urls(void **state)
{
        struct quorumctl_http h;
        http_init(&h);
        assert_int_equal(quorumctl_http_add_server(&h, ""), -EINVAL);
        assert_int_equal(quorumctl_http_add_server(&h, "ftp://x"), -EINVAL);
        assert_int_equal(quorumctl_http_add_server(&h, "https://n1:8443//"), 0);
        assert_string_equal(h.servers[0], "https://n1:8443");
        quorumctl_http_close(&h);
}

/* ---- the whole tool ---------------------------------------------------- */

static int run_cli(char **out_text, ...)
{
        char *argv[32] = {"quorumctl"};
        int argc = 1;
        va_list ap;
        va_start(ap, out_text);
        for (char *w; (w = va_arg(ap, char *)) != NULL;)
                argv[argc++] = w;
        va_end(ap);
        size_t olen = 0, elen = 0;
        char *err_text = NULL;
        FILE *out = open_memstream(out_text, &olen);
        FILE *err = open_memstream(&err_text, &elen);
        int code = quorumctl_cli_main(argc, argv, out, err);
        fclose(out);
        fclose(err);
        free(err_text);
        return code;
}

static void cli_exit_codes(void **state)
{
        char *out = NULL;
        assert_int_equal(run_cli(&out, "--help", NULL), QUORUMCTL_EXIT_OK);
        assert_non_null(strstr(out, "Exit status"));
        assert_non_null(strstr(out, "change wait ID"));
        free(out);
        assert_int_equal(run_cli(&out, "zone", "import", "--help", NULL),
                         QUORUMCTL_EXIT_OK);
        assert_non_null(strstr(out, "--chunk-records"));
        free(out);
        assert_int_equal(run_cli(&out, "--version", NULL), QUORUMCTL_EXIT_OK);
        free(out);
        assert_int_equal(run_cli(&out, "zone", NULL), QUORUMCTL_EXIT_USAGE);
        free(out);
        assert_int_equal(run_cli(&out, "zone", "list", "--timeout", "x", NULL),
                         QUORUMCTL_EXIT_USAGE);
        free(out);
        /* --watch redraws the table of all checks: one ID with it is refused
         * before any request is made (the server here is dead). */
        assert_int_equal(run_cli(&out, "--server", "http://127.0.0.1:9", "healthcheck",
                                 "status", "HC1", "--watch", NULL),
                         QUORUMCTL_EXIT_USAGE);
        free(out);

        char server[64];
        snprintf(server, sizeof(server), "http://127.0.0.1:%d", dead_port());
        assert_int_equal(run_cli(&out, "--server", server, "zone", "list", NULL),
                         QUORUMCTL_EXIT_UNAVAILABLE);
        free(out);

        struct fake_server s;
        fake_server_start(&s, 409,
                          "{\"error\":{\"code\":\"ZoneNotEmpty\",\"message\":\"m\"}}");
        snprintf(server, sizeof(server), "http://127.0.0.1:%d", s.port);
        assert_int_equal(run_cli(&out, "--server", server, "zone", "delete",
                                 "example.com", "--idempotency-key", "k1", NULL),
                         QUORUMCTL_EXIT_API);
        assert_non_null(strstr(s.last_request, "DELETE /v1/zones/example.com. HTTP/1.1"));
        assert_non_null(strstr(s.last_request, "Idempotency-Key: k1"));
        free(out);
        fake_server_stop(&s);
}

int main(void)
{
        setenv("QUORUMDNS_RETRY_MS", "0", 1); /* fallback tests need no election wait */
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(args_accept_global_options_anywhere),
            cmocka_unit_test(args_take_values_after_double_dash),
            cmocka_unit_test(args_report_usage_errors),
            cmocka_unit_test(args_refuse_an_option_without_the_one_it_needs),
            cmocka_unit_test(args_help_needs_no_complete_command),
            cmocka_unit_test(args_share_a_name_between_global_and_command),
            cmocka_unit_test(args_check_numbers),
            cmocka_unit_test(table_aligns_columns),
            cmocka_unit_test(table_prints_header_alone_when_empty),
            cmocka_unit_test(table_lists_object_members),
            cmocka_unit_test(exit_codes_follow_the_status),
            cmocka_unit_test(error_text_names_field_and_every_problem),
            cmocka_unit_test(record_names_resolve_against_the_zone),
            cmocka_unit_test(record_txt_values_become_one_string),
            cmocka_unit_test(record_batch_has_one_action),
            cmocka_unit_test(http_escape_keeps_unreserved),
            cmocka_unit_test(progress_line_shows_rate_and_eta),
            cmocka_unit_test(http_falls_back_on_refused_and_503_only),
            cmocka_unit_test(http_rejects_bad_server_urls),
            cmocka_unit_test(cli_exit_codes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
