/*
 * commands.c — what quorumctl can do, and the help that says so.
 *
 * The command table drives everything: the parser selects an entry by its
 * two words and checks its options and argument counts, the help is printed
 * from it, and its run function does the work.  quorumctl_cli_main reads the
 * global options and the environment (QUORUMDNS_SERVERS, QUORUMDNS_TOKEN)
 * into the shared context before the command runs.
 */
#include "tools/quorumctl/commands.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/quorumctl/client.h"
#include "tools/quorumctl/cmd_bulk.h"
#include "tools/quorumctl/cmd_change.h"
#include "tools/quorumctl/cmd_cidr.h"
#include "tools/quorumctl/cmd_cluster.h"
#include "tools/quorumctl/cmd_explain.h"
#include "tools/quorumctl/cmd_health.h"
#include "tools/quorumctl/cmd_import.h"
#include "tools/quorumctl/cmd_latency.h"
#include "tools/quorumctl/cmd_record.h"
#include "tools/quorumctl/cmd_stats.h"
#include "tools/quorumctl/cmd_zone.h"
#include "tools/quorumctl/errors.h"

#ifndef QDNS_VERSION
#define QDNS_VERSION "dev"
#endif

#define DEFAULT_SERVER "http://127.0.0.1:8080"

const struct quorumctl_opt quorumctl_global_opts[] = {
    {"server", 's', QUORUMCTL_OPT_MULTI, "URL",
     "API of a node; repeatable: tried in order,\n"
     "the next one on a connection failure or 503\n"
     "(default $QUORUMDNS_SERVERS, comma-separated,\n"
     "else " DEFAULT_SERVER ")"},
    {"token", 0, QUORUMCTL_OPT_VALUE, "TOKEN", "bearer token (default $QUORUMDNS_TOKEN)"},
    {"json", 0, QUORUMCTL_OPT_FLAG, NULL,
     "print the API's JSON instead of text (on\nerrors too: the API's error body)"},
    {"timeout", 0, QUORUMCTL_OPT_VALUE, "SECS",
     "give up on a request after SECS per server\n"
     "(default 30, zone import and import-many\n"
     "300); in \"change wait\" the whole wait\n(default 300)"},
    {"idempotency-key", 0, QUORUMCTL_OPT_VALUE, "KEY",
     "Idempotency-Key of the writes (default:\n"
     "random per run); a command that writes\n"
     "several times sends KEY, KEY-2, KEY-3...\n"
     "(zone import: its commit sends KEY-import,\n"
     "KEY-import-2... for a second upload)"},
    {"help", 'h', QUORUMCTL_OPT_FLAG, NULL, "show help (a command's, after it) and exit"},
    {"version", 0, QUORUMCTL_OPT_FLAG, NULL, "show the version and exit"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct quorumctl_opt zone_create_opts[] = {
    {"comment", 0, QUORUMCTL_OPT_VALUE, "TEXT", "free text kept with the zone"},
    {"ns", 0, QUORUMCTL_OPT_MULTI, "NAME", "a name server of the zone (repeatable)"},
    {"ttl", 0, QUORUMCTL_OPT_VALUE, "SECS", "TTL of the zone's SOA and NS records"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct quorumctl_opt zone_delete_opts[] = {
    {"force", 0, QUORUMCTL_OPT_FLAG, NULL,
     "delete even if record sets other than SOA\nand NS remain"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct quorumctl_opt zone_import_opts[] = {
    {"replace", 0, QUORUMCTL_OPT_FLAG, NULL,
     "also delete the zone's record sets the\nfile lacks (not the apex SOA and NS);\n"
     "asks to confirm deletions"},
    {"yes", 0, QUORUMCTL_OPT_FLAG, NULL, "confirm --replace's deletions", "replace"},
    {"dry-run", 0, QUORUMCTL_OPT_FLAG, NULL,
     "print the sets it would create, replace\nand delete, and change nothing"},
    {"chunk-records", 0, QUORUMCTL_OPT_VALUE, "N", "records per request (default 20000)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct quorumctl_opt zone_import_many_opts[] = {
    {"from-bind", 0, QUORUMCTL_OPT_VALUE, "FILE",
     "the primary zones of this BIND named.conf\n(instead of DIR)"},
    {"bind-directory", 0, QUORUMCTL_OPT_VALUE, "DIR",
     "where the named.conf's relative file names\nare (as its options { directory }; for "
     "an\n"
     "included file, which does not hold it)",
     "from-bind"},
    {"batch", 0, QUORUMCTL_OPT_VALUE, "N", "zones per request (1..1000, default 100)"},
    {"skip-existing", 0, QUORUMCTL_OPT_FLAG, NULL,
     "zones that exist already are not failures\n(to resume an interrupted run)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct quorumctl_opt zone_export_opts[] = {
    {"output", 'o', QUORUMCTL_OPT_VALUE, "FILE",
     "write to FILE instead of standard output"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct quorumctl_opt record_list_opts[] = {
    {"name", 0, QUORUMCTL_OPT_VALUE, "NAME",
     "only this owner name (relative to the zone)"},
    {"type", 0, QUORUMCTL_OPT_VALUE, "TYPE", "only this type"},
    {"set-id", 0, QUORUMCTL_OPT_VALUE, "ID", "only this set identifier"},
    {"limit", 0, QUORUMCTL_OPT_VALUE, "N", "at most N record sets (default: all)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct quorumctl_opt record_show_opts[] = {
    {"set-id", 0, QUORUMCTL_OPT_VALUE, "ID", "set identifier (default: the plain set)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct quorumctl_opt record_change_opts[] = {
    {"ttl", 0, QUORUMCTL_OPT_VALUE, "SECS", "TTL of the record set"},
    {"set-id", 0, QUORUMCTL_OPT_VALUE, "ID",
     "set identifier (default \"\": a plain set)"},
    {"weight", 0, QUORUMCTL_OPT_VALUE, "N", "weighted routing: weight 0-255"},
    {"failover", 0, QUORUMCTL_OPT_VALUE, "ROLE",
     "failover routing: PRIMARY or SECONDARY"},
    {"multivalue", 0, QUORUMCTL_OPT_FLAG, NULL, "multivalue answer routing"},
    {"geo-continent", 0, QUORUMCTL_OPT_VALUE, "CODE",
     "geolocation routing: continent (AF AN AS EU\nNA OC SA)"},
    {"geo-country", 0, QUORUMCTL_OPT_VALUE, "CODE",
     "geolocation routing: ISO 3166-1 country,\nor * for the default location"},
    {"geo-subdivision", 0, QUORUMCTL_OPT_VALUE, "CODE",
     "geolocation routing: ISO 3166-2 subdivision\nof --geo-country (CA for US-CA)"},
    {"geoprox-coordinates", 0, QUORUMCTL_OPT_VALUE, "LAT,LON",
     "geoproximity routing: the record's place in\ndegrees (51.5,-0.12)"},
    {"geoprox-region", 0, QUORUMCTL_OPT_VALUE, "NAME",
     "geoproximity routing: a region of the\nnodes' --region-coordinates instead"},
    {"geoprox-bias", 0, QUORUMCTL_OPT_VALUE, "N",
     "geoproximity routing: bias -99..99 (default\n0; positive widens the record's "
     "area)"},
    {"region", 0, QUORUMCTL_OPT_VALUE, "NAME",
     "latency routing: the record's region (one\nof the nodes' --region-coordinates)"},
    {"cidr-collection", 0, QUORUMCTL_OPT_VALUE, "ID",
     "IP-based routing: the CIDR collection's id"},
    {"cidr-location", 0, QUORUMCTL_OPT_VALUE, "NAME",
     "IP-based routing: a location of the\ncollection, or * for the default"},
    {"health-check", 0, QUORUMCTL_OPT_VALUE, "ID", "health check of the record set"},
    {"alias-target", 0, QUORUMCTL_OPT_VALUE, "NAME",
     "an alias: answer with NAME's record set\nof this type (no VALUEs)"},
    {"evaluate-target-health", 0, QUORUMCTL_OPT_FLAG, NULL,
     "alias: healthy only when its target is", "alias-target"},
    {"alias-zone-id", 0, QUORUMCTL_OPT_VALUE, "ID", "alias: the target's zone id",
     "alias-target"},
    {"comment", 0, QUORUMCTL_OPT_VALUE, "TEXT", "comment of the change batch"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct quorumctl_opt change_wait_opts[] = {
    {"timeout", 0, QUORUMCTL_OPT_VALUE, "SECS",
     "wait at most SECS (default 300), then\nexit 4"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct quorumctl_opt record_explain_opts[] = {
    {"client", 0, QUORUMCTL_OPT_VALUE, "ADDR[/LEN]",
     "the client: an address (the query's source)\nor a subnet (sent as ECS)"},
    {"resolver", 0, QUORUMCTL_OPT_VALUE, "ADDR",
     "the resolver that sends the ECS option\n(default: one the nodes trust)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct quorumctl_opt cluster_join_opts[] = {
    {"id", 0, QUORUMCTL_OPT_VALUE, "N", "member id (unique, > 0)"},
    {"name", 0, QUORUMCTL_OPT_VALUE, "NAME", "member name"},
    {"raft", 0, QUORUMCTL_OPT_VALUE, "ADDR", "its raft address (host:port)"},
    {"dns", 0, QUORUMCTL_OPT_VALUE, "ADDR", "its DNS address (host:port)"},
    {"api", 0, QUORUMCTL_OPT_VALUE, "ADDR", "its API address (host:port)"},
    {"standby", 0, QUORUMCTL_OPT_FLAG, NULL,
     "join as a standby (replicates and answers\nDNS, does not vote)"},
    {NULL, 0, 0, NULL, NULL},
};

#define U QUORUMCTL_ARGS_UNLIMITED

const struct quorumctl_cmd quorumctl_commands[] = {
    {"zone", "create", "NAME [--comment TEXT] [--ns NAME]... [--ttl SECS]",
     "create a zone",
     "The zone gets an SOA and NS records (from --ns, or the server's defaults).", 1, 1,
     zone_create_opts, quorumctl_zone_create},
    {"zone", "list", "", "list the zones", NULL, 0, 0, NULL, quorumctl_zone_list},
    {"zone", "show", "NAME", "show a zone", NULL, 1, 1, NULL, quorumctl_zone_show},
    {"zone", "delete", "NAME [--force]", "delete a zone",
     "Without --force a zone that still holds record sets other than SOA and NS\n"
     "is not deleted (409 ZoneNotEmpty, exit 1).",
     1, 1, zone_delete_opts, quorumctl_zone_delete},
    {"zone", "import", "NAME FILE [--replace [--yes]] [--dry-run] [--chunk-records N]",
     "load a master file (RFC 1035) into a zone, as one change",
     "All or nothing, whatever the file's size.  FILE (\"-\": standard input)\n"
     "is checked here first, then staged on the cluster in chunks of about N\n"
     "records; every error of the whole file is printed as FILE:LINE and\n"
     "nothing changes.  Without errors the staged file is committed as one\n"
     "change: the file's sets are created or replaced, others stay.  With\n"
     "--replace the zone's other plain sets are deleted too (the apex SOA and\n"
     "NS stay); the sets it would delete are listed and must be confirmed (a\n"
     "\"y\" on a terminal, or --yes).  --dry-run prints what would be created,\n"
     "replaced and deleted.  $INCLUDE is refused (inline the file).  A\n"
     "progress bar is drawn on stderr when it is a terminal.",
     2, 2, zone_import_opts, quorumctl_zone_import},
    {"zone", "import-many",
     "DIR | --from-bind FILE [--bind-directory DIR] [--batch N] [--skip-existing]",
     "create many zones from master files",
     "Every regular file in DIR not starting with \".\" is one zone, named\n"
     "after the file without a \".zone\" or \".db\" suffix or a \"db.\" prefix.\n"
     "With --from-bind the primary zones of a BIND named.conf are read, their\n"
     "files relative to its options { directory } or --bind-directory (include\n"
     "statements are not followed: pass an included file with --from-bind).\n"
     "A named.conf with a syntax error is refused whole.  Zones go in bulk\n"
     "requests of N; each zone is created with all its records or not at all,\n"
     "and every failure is printed with its problems (file lines).\n"
     "Progress goes to stderr.  Exits 1 if any zone failed; a request that\n"
     "fails as a whole ends the run, and its zones are counted unconfirmed\n"
     "(run again with --skip-existing).",
     0, 1, zone_import_many_opts, quorumctl_zone_import_many},
    {"zone", "export", "NAME [-o FILE]", "print a zone as a master file", NULL, 1, 1,
     zone_export_opts, quorumctl_zone_export},
    {"record", "list", "ZONE [--name NAME] [--type TYPE] [--set-id ID] [--limit N]",
     "list record sets (all pages)", NULL, 1, 1, record_list_opts, quorumctl_record_list},
    {"record", "show", "ZONE NAME TYPE [--set-id ID]", "show one record set", NULL, 3, 3,
     record_show_opts, quorumctl_record_show},
    {"record", "explain", "ZONE NAME [TYPE] [--client ADDR[/LEN]] [--resolver ADDR]",
     "what every node answers a client, and why",
     "Every member answers the query (TYPE: default A) as it would from the\n"
     "client, with its own data, health and GeoIP database, and says why:\n"
     "where it places the client, each routing group's policy and outcome\n"
     "(chosen, fail_open, nodata), every candidate set with its health and\n"
     "standing (location match, distance and bias, weight share, failover\n"
     "role), the sets chosen (*) and the ECS scope.  One row per node, and a\n"
     "line naming the nodes that disagree when they do.",
     2, 3, record_explain_opts, quorumctl_record_explain},
    {"record", "upsert", "ZONE NAME TYPE [--ttl SECS] [--set-id ID] [ROUTING] VALUE...",
     "create or replace a record set",
     "NAME may be relative to ZONE (www), @ for the apex, or absolute (with a\n"
     "final dot, or when it already ends with ZONE).  Each VALUE is one\n"
     "record in presentation format, one shell word each: '10 mail.example.com.'.\n"
     "TXT/SPF values not starting with a quote are sent as one quoted string.\n"
     "Put -- before values that start with '-'.  The change is one batch of\n"
     "one action; its id is printed.\n"
     "ROUTING: --set-id ID with one of --weight N, --failover PRIMARY|SECONDARY,\n"
     "--multivalue, --geo-continent CODE | --geo-country CODE\n"
     "[--geo-subdivision CODE] or --geoprox-coordinates LAT,LON |\n"
     "--geoprox-region NAME [--geoprox-bias N], --region NAME (latency) or\n"
     "--cidr-collection ID --cidr-location NAME|*, and optionally\n"
     "--health-check ID;\n"
     "an alias takes --alias-target NAME [--evaluate-target-health]\n"
     "[--alias-zone-id ID] instead of VALUEs.",
     3, U, record_change_opts, quorumctl_record_upsert},
    {"record", "create", "ZONE NAME TYPE [--ttl SECS] [--set-id ID] [ROUTING] VALUE...",
     "create a record set (fails if it exists)",
     "Names, values and routing options as for \"record upsert\".", 3, U,
     record_change_opts, quorumctl_record_create},
    {"record", "delete", "ZONE NAME TYPE [--ttl SECS] [--set-id ID] [VALUE...]",
     "delete a record set",
     "Names and values as for \"record upsert\".  What is not given is read\n"
     "from the set first and sent: its TTL (unless --ttl), its values (without\n"
     "VALUEs) and its routing fields.  The API deletes a set only when given\n"
     "its TTL and values.",
     3, U, record_change_opts, quorumctl_record_delete},
    {"change", "apply", "ZONE FILE", "apply a change batch from a JSON file",
     "FILE (\"-\": standard input) holds {\"comment\":...,\"changes\":[{\"action\":...,\n"
     "\"rrset\":{...}}]} as in the API.  All or nothing: every problem is listed.",
     2, 2, NULL, quorumctl_change_apply},
    {"change", "show", "ID", "show a change's status", NULL, 1, 1, NULL,
     quorumctl_change_show},
    {"change", "wait", "ID [--timeout SECS]", "wait until a change is INSYNC",
     "Polls until every member (every reachable one, by default) has applied\n"
     "the change, printing on stderr the members it waits for and the\n"
     "unreachable ones.  Exit 0 when INSYNC, 4 when --timeout passed first,\n"
     "3 when no server answered at the end, 1 at once (NoSuchChange) for an\n"
     "id that cannot exist.",
     1, 1, change_wait_opts, quorumctl_change_wait},
    {"latency-map", "load", "FILE", "load operator RTTs into the latency map",
     "FILE (\"-\": standard input) holds lines PREFIX REGION RTT_MS\n"
     "(\"198.51.100.0/24 eu-west 12.5\"; # starts a comment) or the API's JSON\n"
     "{\"entries\":[{\"prefix\",\"region\",\"rtt_ms\"}]}.  Sent in requests of at\n"
     "most 100,000 entries, each all or nothing: every invalid entry is listed\n"
     "(prefixes with no bits past their length, regions the nodes know, RTTs\n"
     "0.001..60000 ms).  An operator RTT replaces the one measured by the nodes\n"
     "for the same prefix and region, and stays until deleted.",
     1, 1, NULL, quorumctl_latency_load},
    {"latency-map", "show", "[--prefix PREFIX] [--region NAME] [--limit N]",
     "show the latency map",
     "Every entry: prefix, region, the RTT latency records use (the operator's,\n"
     "else the measured one), its source and the connections measured.",
     0, 0, quorumctl_latency_show_opts, quorumctl_latency_show},
    {"latency-map", "delete", "PREFIX... [--region NAME]",
     "delete operator RTTs from the latency map",
     "Removes the operator RTTs of each PREFIX (of --region only, when given).\n"
     "RTTs the nodes measured stay until they age out.",
     1, U, quorumctl_latency_delete_opts, quorumctl_latency_delete},
    {"cluster", "status", "", "show leader, term and members", NULL, 0, 0, NULL,
     quorumctl_cluster_status},
    {"cluster", "health", "", "show the health of the first ready server",
     "Tries the servers in order and shows the first that is ready (exit 0);\n"
     "when none is, the last answer, with the reason it is not ready (exit 3).",
     0, 0, NULL, quorumctl_cluster_health},
    {"cluster", "join",
     "--id N --name NAME --raft ADDR --dns ADDR --api ADDR [--standby]", "add a member",
     "Start the new node first (it waits to be added), then join it here.", 0, 0,
     cluster_join_opts, quorumctl_cluster_join},
    {"cluster", "remove", "ID", "remove a member (the removed node stops)", NULL, 1, 1,
     NULL, quorumctl_cluster_remove},
    {"healthcheck", "create", "TYPE [--ip ADDR] [--port N] [--path PATH] [OPTIONS]",
     "create a health check",
     "TYPE: HTTP, HTTPS, HTTP_STR_MATCH, HTTPS_STR_MATCH, TCP, CALCULATED,\n"
     "MANUAL or HEARTBEAT.  Every node probes the endpoint (or the nodes named\n"
     "by --region) and votes; the check is healthy when more than --percent of\n"
     "the fresh votes say so.  Its id is printed: give it to record sets with\n"
     "\"record upsert ... --health-check ID\".",
     1, 1, quorumctl_health_create_opts, quorumctl_health_create},
    {"cidr", "create", "NAME", "create a CIDR collection (IP-based routing)",
     "Prints the new collection's id: record sets name it in\n"
     "--cidr-collection ID.  A retried create (same Idempotency-Key) finds the\n"
     "collection it made.",
     1, 1, NULL, quorumctl_cidr_create},
    {"cidr", "list", "", "list the CIDR collections", NULL, 0, 0, NULL,
     quorumctl_cidr_list},
    {"cidr", "show", "ID", "show a collection and its locations", NULL, 1, 1, NULL,
     quorumctl_cidr_show},
    {"cidr", "blocks", "ID LOCATION", "list the CIDR blocks of a location (all pages)",
     NULL, 2, 2, NULL, quorumctl_cidr_blocks},
    {"cidr", "put", "ID LOCATION CIDR... [--collection-version N] [--chunk N]",
     "add CIDR blocks to a location (creating it)",
     "CIDR blocks are IPv4 or IPv6 networks of any prefix length\n"
     "(192.0.2.0/24, 2001:db8::/32); blocks of different locations may\n"
     "overlap (the longest prefix wins), a block belongs to one location.\n"
     "With --collection-version N the change applies only to that version\n"
     "(409 CidrCollectionVersionMismatch otherwise).  A CIDR of \"@FILE\"\n"
     "reads blocks from FILE, one per line (\"-\": standard input), sent in\n"
     "changes of --chunk N blocks (default 100000).",
     3, U, quorumctl_cidr_change_opts, quorumctl_cidr_put},
    {"cidr", "delete-blocks", "ID LOCATION CIDR... [--collection-version N] [--chunk N]",
     "remove CIDR blocks from a location",
     "Blocks that are not in the location are skipped (DELETE_IF_EXISTS); a\n"
     "location left without blocks is deleted, unless a record set names it\n"
     "(409 CidrBlockInUse).  CIDR arguments as for \"cidr put\".",
     3, U, quorumctl_cidr_change_opts, quorumctl_cidr_delete_blocks},
    {"cidr", "apply", "ID FILE", "apply a change to a collection from a JSON file",
     "FILE (\"-\": standard input) holds {\"collection_version\": N,\n"
     "\"changes\": [{\"action\": \"PUT\"|\"DELETE_IF_EXISTS\", \"location_name\":\n"
     "..., \"cidr_list\": [...]}]} as in the API.  All or nothing.",
     2, 2, NULL, quorumctl_cidr_apply},
    {"cidr", "delete", "ID", "delete a CIDR collection",
     "Refused (409 CidrCollectionInUse) while a record set names it.", 1, 1, NULL,
     quorumctl_cidr_delete},
    {"healthcheck", "list", "", "list the health checks", NULL, 0, 0, NULL,
     quorumctl_health_list},
    {"healthcheck", "show", "ID", "show a health check's definition", NULL, 1, 1, NULL,
     quorumctl_health_show},
    {"healthcheck", "delete", "ID", "delete a health check (its probes stop)",
     "Refused (409) while a record set or a CALCULATED check names it.", 1, 1, NULL,
     quorumctl_health_delete},
    {"healthcheck", "set", "ID HEALTHY|UNHEALTHY", "set a MANUAL check's status",
     "For failover drills and maintenance: record sets follow at once.", 2, 2, NULL,
     quorumctl_health_set},
    {"healthcheck", "heartbeat", "ID", "call in for a HEARTBEAT check", NULL, 1, 1, NULL,
     quorumctl_health_heartbeat},
    {"healthcheck", "status", "[ID | --watch [--every SECS] [--count N]]",
     "show checks by nodes, or one check's votes",
     "Without ID: a table of every check with each node's latest vote (stale\n"
     "votes marked); --watch redraws it until interrupted.  With ID: the\n"
     "aggregate, every node's vote (latency, reason, age) and the last\n"
     "transitions.",
     0, 1, quorumctl_health_status_opts, quorumctl_health_status},
    {"stats", "", "", "main figures of every node, as a table",
     "Asks the first server for the members, then each member's GET /metrics\n"
     "(the token needs read scope unless the nodes run --metrics-access open):\n"
     "raft role, term and applied index, zones, record sets, DNS queries,\n"
     "NXDOMAIN and REFUSED answers, responses dropped by rate limiting and\n"
     "loop stalls over 100 ms, all since each node started.  Exit 3 when a\n"
     "member did not answer (its row says unreachable).",
     0, 0, NULL, quorumctl_stats_show},
    {NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};

static const char exit_text[] =
    "Exit status:\n"
    "  0  success\n"
    "  1  refused: API error (4xx; the message names the field and every batch\n"
    "     problem), or an input file with a syntax error\n"
    "  2  usage error (command line, unreadable input file)\n"
    "  3  no server reachable, or a server error (5xx, 503 on every server)\n"
    "  4  \"change wait\": the change was not INSYNC within --timeout\n";

static void print_opts(FILE *out, const struct quorumctl_opt *opts)
{
        for (; opts != NULL && opts->name != NULL; opts++) {
                char left[64];
                snprintf(left, sizeof(left), "%c%c%s--%s%s%s",
                         opts->short_name ? '-' : ' ',
                         opts->short_name ? opts->short_name : ' ',
                         opts->short_name ? ", " : "  ", opts->name,
                         opts->metavar ? " " : "", opts->metavar ? opts->metavar : "");
                fprintf(out, "  %-28s ", left);
                /* Continuation lines of the help text line up under its start. */
                for (const char *h = opts->help; *h != '\0'; h++) {
                        fputc(*h, out);
                        if (*h == '\n')
                                fprintf(out, "  %-28s ", "");
                }
                fputc('\n', out);
        }
}

static void print_cmd_line(FILE *out, const struct quorumctl_cmd *c)
{
        fprintf(out, "  %s%s%s%s%s\n      %s\n", c->object, c->verb[0] != '\0' ? " " : "",
                c->verb, c->synopsis[0] != '\0' ? " " : "", c->synopsis, c->summary);
}

static void print_tool_help(FILE *out, const char *object)
{
        fputs(
            "Usage: quorumctl [OPTIONS] OBJECT VERB [ARGS...]\n"
            "Operator command line for a quorumdns cluster (HTTP API v1).\n\nCommands:\n",
            out);
        for (const struct quorumctl_cmd *c = quorumctl_commands; c->object != NULL; c++)
                if (object == NULL || strcmp(c->object, object) == 0)
                        print_cmd_line(out, c);
        fputs("\nGlobal options (anywhere on the line):\n", out);
        print_opts(out, quorumctl_global_opts);
        fputs(
            "\nEnvironment: QUORUMDNS_SERVERS (comma-separated URLs), QUORUMDNS_TOKEN,\n"
            "QUORUMDNS_RETRY_MS (how long to keep retrying while no server has a "
            "leader,\n"
            "default 5000).\n"
            "Output: aligned text for people; --json for scripts.\n\n",
            out);
        fputs(exit_text, out);
        fputs("\nRun \"quorumctl OBJECT VERB --help\" for a command's arguments.\n", out);
}

void quorumctl_help_print(FILE *out, const struct quorumctl_args *args)
{
        const struct quorumctl_cmd *c = args->cmd;
        if (c == NULL) {
                bool known = false;
                for (const struct quorumctl_cmd *k = quorumctl_commands;
                     k->object != NULL; k++)
                        known = known || (args->object != NULL &&
                                          strcmp(k->object, args->object) == 0);
                print_tool_help(out, known ? args->object : NULL);
                return;
        }
        fprintf(out, "Usage: quorumctl %s%s%s%s%s\n%c%s.\n", c->object,
                c->verb[0] != '\0' ? " " : "", c->verb, c->synopsis[0] != '\0' ? " " : "",
                c->synopsis, c->summary[0] - 'a' + 'A', c->summary + 1);
        if (c->details != NULL)
                fprintf(out, "\n%s\n", c->details);
        if (c->opts != NULL) {
                fputs("\nOptions:\n", out);
                print_opts(out, c->opts);
        }
        fputs("\nGlobal options: --server URL, --token TOKEN, --json, --timeout SECS,\n"
              "--idempotency-key KEY (see quorumctl --help).\n\n",
              out);
        fputs(exit_text, out);
}

/* Servers from --server, else $QUORUMDNS_SERVERS, else the default. */
static int setup_servers(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        const char *url;
        int rc = 0;
        for (size_t i = 0; rc == 0 && (url = quorumctl_args_get_nth(args, "server", i));
             i++) {
                rc = quorumctl_http_add_server(&ctx->http, url);
                if (rc != 0)
                        quorumctl_client_error(ctx, "--server: bad URL '%s'", url);
        }
        if (rc != 0 || ctx->http.nservers > 0)
                return rc;
        const char *env = getenv("QUORUMDNS_SERVERS");
        if (env != NULL && env[0] != '\0') {
                char *list = strdup(env), *save = NULL;
                for (char *item = list ? strtok_r(list, ",", &save) : NULL;
                     item != NULL && rc == 0; item = strtok_r(NULL, ",", &save)) {
                        rc = quorumctl_http_add_server(&ctx->http, item);
                        if (rc != 0)
                                quorumctl_client_error(
                                    ctx, "QUORUMDNS_SERVERS: bad URL '%s'", item);
                }
                free(list);
        }
        if (rc == 0 && ctx->http.nservers == 0)
                rc = quorumctl_http_add_server(&ctx->http, DEFAULT_SERVER);
        return rc;
}

static int setup(struct quorumctl_ctx *ctx, const struct quorumctl_args *args)
{
        char err[160];
        double timeout = 30;
        ctx->json = quorumctl_args_has(args, "json");
        if (quorumctl_http_init(&ctx->http) != 0) {
                quorumctl_client_error(ctx, "cannot initialise libcurl");
                return QUORUMCTL_EXIT_UNAVAILABLE;
        }
        if (setup_servers(ctx, args) != 0)
                return QUORUMCTL_EXIT_USAGE;
        const char *retry = getenv("QUORUMDNS_RETRY_MS");
        if (retry != NULL) {
                char *end = NULL;
                long ms = *retry >= '0' && *retry <= '9' ? strtol(retry, &end, 10) : -1;
                if (end == NULL || *end != '\0' || ms < 0 || ms > 3600000) {
                        quorumctl_client_error(ctx,
                                               "QUORUMDNS_RETRY_MS: '%s' is not a number "
                                               "of milliseconds (0..3600000)",
                                               retry);
                        return QUORUMCTL_EXIT_USAGE;
                }
                ctx->http.retry_ms = ms;
        }
        const char *token = quorumctl_args_get(args, "token");
        if (token == NULL)
                token = getenv("QUORUMDNS_TOKEN");
        if (quorumctl_http_set_token(&ctx->http, token) != 0)
                return QUORUMCTL_EXIT_UNAVAILABLE;
        /* In "change wait", --timeout is the whole wait, not one request. */
        bool wait = args->cmd->run == quorumctl_change_wait;
        if (!wait && quorumctl_args_get_seconds(args, "timeout", &timeout, err,
                                                sizeof(err)) != 0) {
                quorumctl_client_error(ctx, "%s", err);
                return QUORUMCTL_EXIT_USAGE;
        }
        ctx->http.timeout_ms = (long)(timeout * 1000);
        const char *key = quorumctl_args_get(args, "idempotency-key");
        if (key != NULL) {
                if (key[0] == '\0' || strlen(key) >= sizeof(ctx->key) ||
                    strpbrk(key, "\r\n") != NULL) {
                        quorumctl_client_error(
                            ctx, "--idempotency-key: 1 to %zu characters, one line",
                            sizeof(ctx->key) - 1);
                        return QUORUMCTL_EXIT_USAGE;
                }
                snprintf(ctx->key, sizeof(ctx->key), "%s", key);
        } else {
                quorumctl_client_random_key(ctx->key, sizeof(ctx->key));
        }
        return QUORUMCTL_EXIT_OK;
}

int quorumctl_cli_main(int argc, char **argv, FILE *out, FILE *err)
{
        struct quorumctl_args args;
        char msg[256];
        struct quorumctl_ctx ctx = {.out = out, .err = err};
        int rc = quorumctl_args_parse(&args, argc, argv, quorumctl_global_opts,
                                      quorumctl_commands, msg, sizeof(msg));
        int code;
        if (rc != 0) {
                if (rc == -EINVAL)
                        fprintf(
                            err, "quorumctl: %s\n%s", msg,
                            "Run \"quorumctl --help\" (or after a command) for usage.\n");
                else
                        fprintf(err, "quorumctl: out of memory\n");
                code = QUORUMCTL_EXIT_USAGE;
        } else if (args.help) {
                quorumctl_help_print(out, &args);
                code = QUORUMCTL_EXIT_OK;
        } else if (args.version) {
                fprintf(out, "quorumctl %s\n", QDNS_VERSION);
                code = QUORUMCTL_EXIT_OK;
        } else {
                code = setup(&ctx, &args);
                if (code == QUORUMCTL_EXIT_OK)
                        code = args.cmd->run(&ctx, &args);
                quorumctl_http_close(&ctx.http);
        }
        quorumctl_args_free(&args);
        if (fflush(out) != 0 && code == QUORUMCTL_EXIT_OK) {
                fprintf(err, "quorumctl: cannot write the output\n");
                code = QUORUMCTL_EXIT_USAGE;
        }
        return code;
}
