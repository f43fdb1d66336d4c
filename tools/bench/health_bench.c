/*
 * health_bench.c — what probing costs: N checks at an interval against a
 * local endpoint, CPU of the probing engine as a share of one core.
 *
 * The endpoint is a child process (the HTTP server of the unit tests,
 * tests/unit/health_target.h, on its own libuv loop, listening on several
 * ports of 127.0.0.1), so its CPU is not counted against the engine.  The
 * parent runs the health scheduler (health/sched.h) on a libuv loop with N
 * HTTP (or TCP) checks spread over those ports, lets the first interval
 * spread the probes (warm-up), then measures over the given duration: the
 * engine's CPU time (getrusage, user + system, the whole process: the
 * engine is all it runs), the probes finished per second, failures and
 * skipped windows, and the endpoint's CPU for reference.
 *
 *   health_bench [--checks 10000] [--interval 10] [--warmup 12]
 *                [--duration 60] [--ports 8] [--type http|tcp]
 *                [--source 127.0.0.1]
 *   health_bench --serve-only [--ports 8]
 *
 * --serve-only runs just the endpoint, in the foreground: it prints its
 * ports (one a line) and serves until killed — the fast loopback endpoint
 * of tools/bench/probing_bench.py (10,000 checks on a 3-node cluster).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "health/sched.h"
#include "tests/unit/health_target.h"

#define PORTS_MAX 64

struct totals {
        uint64_t probes, ok, failed, skipped;
        int64_t connect_us_sum, first_byte_us_sum;
        uint64_t with_latency, with_first_byte;
};

static int add_local(const struct health_local *l, void *arg)
{
        struct totals *t = arg;
        t->probes += l->probes;
        t->skipped += l->skipped;
        if (l->has_result) {
                if (l->last.ok)
                        t->ok++;
                else
                        t->failed++;
                if (l->last.connect_us >= 0) {
                        t->connect_us_sum += l->last.connect_us;
                        t->with_latency++;
                        if (l->last.first_byte_us >= 0) {
                                t->first_byte_us_sum += l->last.first_byte_us;
                                t->with_first_byte++;
                        }
                }
        }
        return 0;
}

static double cpu_seconds(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of pid, in seconds (from /proc). */
static double proc_cpu_seconds(pid_t pid)
{
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f)
                return 0;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                        &st) == 2)
                return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        return 0;
}

static void endpoint_run(int ports, int ready_fd)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        static struct target targets[PORTS_MAX];
        for (int i = 0; i < ports; i++) {
                if (target_start(&targets[i], &loop, "127.0.0.1") != 0)
                        _exit(1);
                snprintf(targets[i].body, sizeof(targets[i].body), "ok");
                if (write(ready_fd, &targets[i].port, sizeof(int)) != sizeof(int))
                        _exit(1);
        }
        close(ready_fd);
        uv_run(&loop, UV_RUN_DEFAULT);
        _exit(0);
}

/* --serve-only: the endpoint alone, its ports on stdout; runs until killed. */
static int serve_only(int ports)
{
        uv_loop_t loop;
        uv_loop_init(&loop);
        static struct target targets[PORTS_MAX];
        for (int i = 0; i < ports; i++) {
                if (target_start(&targets[i], &loop, "127.0.0.1") != 0)
                        return 1;
                snprintf(targets[i].body, sizeof(targets[i].body), "ok");
                printf("%d\n", targets[i].port);
        }
        fflush(stdout);
        uv_run(&loop, UV_RUN_DEFAULT);
        return 0;
}

static void on_timer(uv_timer_t *t)
{
        uv_stop(t->loop);
}

/* Runs the loop for ms. */
static void run_ms(uv_loop_t *loop, uint64_t ms)
{
        uv_timer_t t;
        uv_timer_init(loop, &t);
        uv_timer_start(&t, on_timer, ms, 0);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_close((uv_handle_t *)&t, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
}

static void on_closed(struct health_sched *s)
{
}

int main(int argc, char **argv)
{
        long checks = 10000, interval = 10, warmup = 12, duration = 60, ports = 8;
        const char *type = "http", *source = NULL;
        bool serve = false;
        static const struct option opts[] = {{"checks", required_argument, NULL, 'n'},
                                             {"interval", required_argument, NULL, 'i'},
                                             {"warmup", required_argument, NULL, 'w'},
                                             {"duration", required_argument, NULL, 'd'},
                                             {"ports", required_argument, NULL, 'p'},
                                             {"type", required_argument, NULL, 't'},
                                             {"source", required_argument, NULL, 's'},
                                             {"serve-only", no_argument, NULL, 'S'},
                                             {NULL, 0, NULL, 0}};
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'n':
                        checks = atol(optarg);
                        break;
                case 'i':
                        interval = atol(optarg);
                        break;
                case 'w':
                        warmup = atol(optarg);
                        break;
                case 'd':
                        duration = atol(optarg);
                        break;
                case 'p':
                        ports = atol(optarg);
                        break;
                case 't':
                        type = optarg;
                        break;
                case 's':
                        source = optarg;
                        break;
                case 'S':
                        serve = true;
                        break;
                default:
                        fprintf(
                            stderr,
                            "usage: see the comment atop tools/bench/health_bench.c\n");
                        return 2;
                }
        }
        if (checks < 1 || ports < 1 || ports > PORTS_MAX || interval < 1 ||
            interval > 300 || duration < 1 ||
            (strcmp(type, "http") && strcmp(type, "tcp"))) {
                fprintf(stderr, "health_bench: bad arguments\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        struct rlimit rl = {65536, 65536};
        setrlimit(RLIMIT_NOFILE, &rl);
        if (serve)
                return serve_only((int)ports);

        int pipefd[2];
        if (pipe(pipefd) != 0)
                return 1;
        pid_t child = fork();
        if (child == 0) {
                close(pipefd[0]);
                endpoint_run((int)ports, pipefd[1]);
        }
        close(pipefd[1]);
        int port[PORTS_MAX];
        for (long i = 0; i < ports; i++) {
                if (read(pipefd[0], &port[i], sizeof(int)) != sizeof(int)) {
                        fprintf(stderr, "health_bench: the endpoint did not start\n");
                        kill(child, SIGKILL);
                        return 1;
                }
        }
        close(pipefd[0]);

        uv_loop_t loop;
        uv_loop_init(&loop);
        struct health_sched sched;
        struct health_sched_options o = {.source_ip = source, .node_name = "1"};
        if (health_sched_init(&sched, &loop, &o) != 0) {
                fprintf(stderr, "health_bench: bad source address\n");
                kill(child, SIGKILL);
                return 1;
        }
        struct health_check_config cfg;
        health_check_config_init(&cfg, strcmp(type, "tcp") == 0 ? HEALTH_CHECK_TCP
                                                                : HEALTH_CHECK_HTTP);
        health_check_config_set_string(&cfg.ip_address, "127.0.0.1");
        cfg.request_interval = (uint32_t)interval;
        for (long i = 0; i < checks; i++) {
                cfg.port = (uint16_t)port[i % ports];
                if (health_sched_put(&sched, (uint64_t)i + 1, &cfg) != 0) {
                        fprintf(stderr, "health_bench: put failed\n");
                        return 1;
                }
        }
        health_check_config_free(&cfg);
        printf("health_bench: %ld %s checks, interval %ld s, %ld endpoint ports; warm-up "
               "%ld s, measuring %ld s\n",
               checks, type, interval, ports, warmup, duration);
        fflush(stdout);
        run_ms(&loop, (uint64_t)warmup * 1000);

        struct totals before = {0}, after = {0};
        health_sched_foreach(&sched, add_local, &before);
        double cpu0 = cpu_seconds(), ep0 = proc_cpu_seconds(child);
        uint64_t t0 = uv_hrtime();
        run_ms(&loop, (uint64_t)duration * 1000);
        double wall = (double)(uv_hrtime() - t0) / 1e9;
        double cpu = cpu_seconds() - cpu0, ep = proc_cpu_seconds(child) - ep0;
        health_sched_foreach(&sched, add_local, &after);

        uint64_t probes = after.probes - before.probes;
        printf("probes/s          %.0f (expected %.0f)\n", probes / wall,
               (double)checks / interval);
        printf("engine CPU        %.1f %% of one core (%.2f s in %.1f s)\n",
               100 * cpu / wall, cpu, wall);
        printf("CPU per probe     %.1f us\n", probes ? 1e6 * cpu / probes : 0);
        printf("endpoint CPU      %.1f %% of one core (not counted above)\n",
               100 * ep / wall);
        printf("last results      %llu ok, %llu failed; skipped windows %llu\n",
               (unsigned long long)after.ok, (unsigned long long)after.failed,
               (unsigned long long)(after.skipped - before.skipped));
        if (after.with_latency)
                printf("mean connect      %.0f us\n",
                       (double)after.connect_us_sum / after.with_latency);
        if (after.with_first_byte)
                printf("mean first byte   %.0f us\n",
                       (double)after.first_byte_us_sum / after.with_first_byte);

        health_sched_close(&sched, on_closed);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return after.failed ? 1 : 0;
}
