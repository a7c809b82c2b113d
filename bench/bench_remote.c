/* bench/bench_remote.c: what kbox costs in front of a remote answer backend (issue #18).
 *
 * Parts, all real and on 127.0.0.1:
 * - a stand-in backend in this process: an OpenAI-compatible POST /v1/chat/completions that
 *   streams a role chunk, TOKENS content chunks (the first at once, then one every TOKEN_MS), a
 *   finish chunk, a usage chunk and [DONE], one thread per connection, so it is never the
 *   bottleneck and its timing is known;
 * - `kbox serve` as a child process over the samples/en knowledge base, with answer.backend =
 *   openai pointing at the stand-in, answer.max_concurrent 512, no rate limit;
 * - clients in this process speaking HTTP/1.1 over sockets.
 * Measures:
 * 1. time to first token (first content delta) calling the stand-in directly, and time to the
 *    first "event: token" of POST /api/ask {stream: true} through kbox, N_SEQ sequential requests
 *    each; kbox's added TTFT is the difference of the medians (retrieval, prompt, the second HTTP
 *    hop, the SSE relay);
 * 2. kbox's CPU per answer: utime + stime of the kbox process (/proc/PID/stat) over those N_SEQ
 *    answers, divided by N_SEQ;
 * 3. N_CONC streamed answers at once through kbox: all must end with "event: done" and no error
 *    event; the stand-in's peak of simultaneous streams shows they overlapped; kbox's peak RSS
 *    (VmHWM) and its CPU over the run.
 * Usage: bench_remote KBOX_BIN SOURCE_DIR [N_SEQ=40] [N_CONC=200] [TOKENS=64] [TOKEN_MS=10]
 * Prints a Markdown block for docs/BENCHMARKS.md. Not a test: run it on a quiet machine. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int g_tokens = 64, g_token_ms = 10;
static atomic_int g_streams, g_streams_peak;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one request (headers and Content-Length body); 0 or -1. */
static int read_request(int fd)
{
    char buf[65536];
    size_t got = 0;
    long want = -1;
    while (got < sizeof buf - 1) {
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end && want < 0) {
            char *cl = strcasestr(buf, "Content-Length:");
            want = (long)(end + 4 - buf) + (cl ? strtol(cl + 15, NULL, 10) : 0);
        }
        if (want >= 0 && (long)got >= want)
            return 0;
    }
    return -1;
}

/* ---- the stand-in backend ----------------------------------------------------------------------------- */

static void *backend_conn(void *arg)
{
    int fd = (int)(intptr_t)arg, cur;
    char ev[512];
    static const char head[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    if (read_request(fd) == 0) {
        cur = atomic_fetch_add(&g_streams, 1) + 1;
        for (int peak = atomic_load(&g_streams_peak);
             cur > peak && !atomic_compare_exchange_weak(&g_streams_peak, &peak, cur);)
            ;
        int bad = send_all(fd, head, sizeof head - 1);
        snprintf(ev, sizeof ev,
                 "data: {\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                 "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
        bad = bad || send_all(fd, ev, strlen(ev));
        for (int i = 0; i < g_tokens && !bad; i++) {
            if (i)
                usleep((useconds_t)g_token_ms * 1000);
            snprintf(ev, sizeof ev,
                     "data: {\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                     "\"delta\":{\"content\":\"word%d \"},\"finish_reason\":null}]}\n\n",
                     i);
            bad = send_all(fd, ev, strlen(ev));
        }
        snprintf(
            ev, sizeof ev,
            "data: {\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},"
            "\"finish_reason\":\"stop\"}]}\n\ndata: "
            "{\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
            "\"usage\":{\"prompt_tokens\":200,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\ndata: "
            "[DONE]\n\n",
            g_tokens, 200 + g_tokens);
        if (!bad)
            send_all(fd, ev, strlen(ev));
        atomic_fetch_sub(&g_streams, 1);
    }
    close(fd);
    return NULL;
}

static void *backend_main(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        pthread_t th;
        if (c < 0)
            return NULL;
        if (pthread_create(&th, NULL, backend_conn, (void *)(intptr_t)c) == 0)
            pthread_detach(th);
        else
            close(c);
    }
}

static int listen_any(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 1024) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- clients ----------------------------------------------------------------------------------------------
 */

struct stream_result {
    double ttft_s; /* request sent to the first token; <0 when none */
    double total_s;
    int ok; /* ended as a finished stream without an error */
};

/* POSTs body to port/path and reads the whole streamed response; the first token is the first
 * occurrence of mark in the bytes. done_mark says the stream finished normally. */
static void stream_once(int port, const char *path, const char *body, const char *mark, const char *done_mark,
                        struct stream_result *out)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[2048];
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    double t0 = now_s();
    out->ttft_s = -1;
    out->ok = 0;
    snprintf(
        req, sizeof req,
        "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
        "Connection: close\r\n\r\n%s",
        path, strlen(body), body);
    if (!buf || fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) || send_all(fd, req, strlen(req)))
        goto out;
    for (;;) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (out->ttft_s < 0 && strstr(buf, mark))
            out->ttft_s = now_s() - t0;
        if (n + 1 >= cap)
            break;
    }
    out->ok = strstr(buf, done_mark) != NULL && strstr(buf, "event: error") == NULL &&
              strstr(buf, "\"incomplete\":true") == NULL;
out:
    out->total_s = now_s() - t0;
    if (fd >= 0)
        close(fd);
    free(buf);
}

static const char ask_body[] = "{\"question\":\"How long do I have to return an item?\",\"stream\":true}";
static const char chat_body[] =
    "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static void ask_kbox(int port, struct stream_result *r)
{
    stream_once(port, "/api/ask", ask_body, "event: token", "event: done", r);
}

static void ask_direct(int port, struct stream_result *r)
{
    stream_once(port, "/v1/chat/completions", chat_body, "\"content\":\"word", "[DONE]", r);
}

struct conc_arg {
    int port;
    pthread_barrier_t *go;
    struct stream_result r;
};

static void *conc_main(void *arg)
{
    struct conc_arg *c = arg;
    pthread_barrier_wait(c->go);
    ask_kbox(c->port, &c->r);
    return NULL;
}

/* ---- the kbox process
 * --------------------------------------------------------------------------------------- */

static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[2048];
    unsigned long ut = 0, st = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* fields after the command name */
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

static long proc_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    long v = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, strlen(field)) == 0)
            v = strtol(line + strlen(field) + 1, NULL, 10);
    fclose(f);
    return v;
}

static int run_wait(char *const argv[])
{
    int status = 0;
    pid_t p = fork();
    if (p == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    waitpid(p, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static pid_t kbox_start(const char *bin, const char *dir, int backend_port, int *port)
{
    char url[64], out[4096];
    int fds[2];
    size_t n = 0;
    snprintf(url, sizeof url, "answer.url=http://127.0.0.1:%d", backend_port);
    char *argv[] = {(char *)bin,
                    "--data-dir",
                    (char *)dir,
                    "--set",
                    "log.level=warn",
                    "--set",
                    "answer.backend=openai",
                    "--set",
                    url,
                    "--set",
                    "answer.model_name=m",
                    "--set",
                    "answer.max_concurrent=512",
                    "--set",
                    "server.rate_limit_per_min=0",
                    "--set",
                    "server.max_conns_per_ip=0",
                    "--set",
                    "answer.timeout_s=120",
                    "serve",
                    "--port",
                    "0",
                    "--quiet",
                    NULL};
    if (pipe(fds))
        return -1;
    pid_t p = fork();
    if (p == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execv(bin, argv);
        _exit(127);
    }
    close(fds[1]);
    *port = 0;
    while (n < sizeof out - 1) {
        ssize_t r = read(fds[0], out + n, sizeof out - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        out[n] = '\0';
        const char *u = strstr(out, "http://127.0.0.1:");
        if (u && strstr(out, "admin token")) {
            *port = (int)strtol(u + 17, NULL, 10);
            break;
        }
    }
    return p; /* the pipe's read end stays open: kbox may print more */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n ? v[(int)(q * (n - 1) + 0.5)] : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s KBOX_BIN SOURCE_DIR [N_SEQ] [N_CONC] [TOKENS] [TOKEN_MS]\n", argv[0]);
        return 2;
    }
    const char *bin = argv[1], *src = argv[2];
    int n_seq = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 40,
        n_conc = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 200;
    g_tokens = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 64;
    g_token_ms = argc > 6 ? (int)strtol(argv[6], NULL, 10) : 10;
    if (n_seq < 1 || n_conc < 1 || g_tokens < 1 || g_token_ms < 0) {
        fprintf(stderr, "N_SEQ, N_CONC and TOKENS must be positive, TOKEN_MS not negative\n");
        return 2;
    }
    char dir[] = "/tmp/kbox-bench-remote-XXXXXX", samples[4200];
    int bport, kport, lfd;
    pthread_t bth;
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir))
        return 1;
    snprintf(samples, sizeof samples, "%s/samples/en", src);
    char *ing[] = {(char *)bin, "--data-dir", dir, "--set", "log.level=warn", "ingest", samples, NULL};
    if (run_wait(ing) != 0) {
        fprintf(stderr, "kbox ingest failed\n");
        return 1;
    }
    if ((lfd = listen_any(&bport)) < 0 || pthread_create(&bth, NULL, backend_main, (void *)(intptr_t)lfd))
        return 1;
    pid_t kp = kbox_start(bin, dir, bport, &kport);
    if (kp <= 0 || kport <= 0) {
        fprintf(stderr, "kbox serve did not start\n");
        return 1;
    }

    /* warm-up: page cache, first connections */
    for (int i = 0; i < 3; i++) {
        struct stream_result r;
        ask_kbox(kport, &r);
        ask_direct(bport, &r);
    }
    double *td = calloc((size_t)n_seq, sizeof *td), *tk = calloc((size_t)n_seq, sizeof *tk);
    int n_ok = 0;
    for (int i = 0; i < n_seq; i++) {
        struct stream_result r;
        ask_direct(bport, &r);
        td[i] = r.ttft_s;
    }
    double cpu0 = proc_cpu_s(kp), wall0 = now_s();
    for (int i = 0; i < n_seq; i++) {
        struct stream_result r;
        ask_kbox(kport, &r);
        tk[i] = r.ttft_s;
        n_ok += r.ok;
    }
    double cpu_seq = proc_cpu_s(kp) - cpu0, wall_seq = now_s() - wall0;
    double d50 = pct(td, n_seq, 0.5), d90 = pct(td, n_seq, 0.9), k50 = pct(tk, n_seq, 0.5),
           k90 = pct(tk, n_seq, 0.9);

    /* N_CONC at once */
    struct conc_arg *ca = calloc((size_t)n_conc, sizeof *ca);
    pthread_t *th = calloc((size_t)n_conc, sizeof *th);
    bool *joined = calloc((size_t)n_conc, sizeof *joined);
    pthread_barrier_t go;
    long rss_before = proc_kb(kp, "VmRSS:");
    pthread_barrier_init(&go, NULL, (unsigned)n_conc);
    atomic_store(&g_streams_peak, 0);
    double c_cpu0 = proc_cpu_s(kp), c_t0 = now_s();
    for (int i = 0; i < n_conc; i++) {
        ca[i].port = kport;
        ca[i].go = &go;
        pthread_create(&th[i], NULL, conc_main, &ca[i]);
    }
    long rss_peak = 0;
    int threads_peak = 0;
    for (int done = 0; !done;) {
        long rss = proc_kb(kp, "VmRSS:");
        int thr = (int)proc_kb(kp, "Threads:");
        rss_peak = rss > rss_peak ? rss : rss_peak;
        threads_peak = thr > threads_peak ? thr : threads_peak;
        usleep(20000);
        done = 1;
        for (int i = 0; i < n_conc; i++) {
            if (!joined[i])
                joined[i] = pthread_tryjoin_np(th[i], NULL) == 0;
            done &= joined[i];
        }
    }
    double c_wall = now_s() - c_t0, c_cpu = proc_cpu_s(kp) - c_cpu0;
    int c_ok = 0;
    double *ct = calloc((size_t)n_conc, sizeof *ct);
    for (int i = 0; i < n_conc; i++) {
        c_ok += ca[i].r.ok;
        ct[i] = ca[i].r.ttft_s;
    }
    double c50 = pct(ct, n_conc, 0.5), c90 = pct(ct, n_conc, 0.9), cmax = pct(ct, n_conc, 1.0);
    long hwm = proc_kb(kp, "VmHWM:");

    printf("### Remote answer backend: kbox's overhead (bench/bench_remote.c)\n\n");
    printf("Stand-in backend: %d content chunks per answer, the first at once, then one every %d ms "
           "(an answer streams for about %.2f s).\n\n",
           g_tokens, g_token_ms, (g_tokens - 1) * g_token_ms / 1000.0);
    printf("| measure | value |\n|---|---|\n");
    printf("| TTFT calling the backend directly, median / p90 (%d requests) | %.2f / %.2f ms |\n", n_seq,
           d50 * 1e3, d90 * 1e3);
    printf("| TTFT through kbox POST /api/ask stream, median / p90 (%d requests) | %.2f / %.2f ms |\n", n_seq,
           k50 * 1e3, k90 * 1e3);
    printf("| kbox's added TTFT (difference of medians) | %.2f ms |\n", (k50 - d50) * 1e3);
    printf("| kbox CPU per answer (user+system, %d sequential answers, %d ok, %.1f s) | %.2f ms |\n", n_seq,
           n_ok, wall_seq, cpu_seq / n_seq * 1e3);
    printf("| %d concurrent streamed answers: finished without error | %d of %d |\n", n_conc, c_ok, n_conc);
    printf("| peak streams open at the backend at once | %d |\n", atomic_load(&g_streams_peak));
    printf("| wall time for all %d | %.2f s |\n", n_conc, c_wall);
    printf("| TTFT under that load, median / p90 / max | %.0f / %.0f / %.0f ms |\n", c50 * 1e3, c90 * 1e3,
           cmax * 1e3);
    printf("| kbox RSS before / peak during (sampled every 20 ms) / VmHWM | %.1f / %.1f / %.1f MiB |\n",
           rss_before / 1024.0, rss_peak / 1024.0, hwm / 1024.0);
    printf("| kbox threads at peak | %d |\n", threads_peak);
    printf("| kbox CPU for the %d answers (user+system) | %.2f s (%.2f ms per answer) |\n", n_conc, c_cpu,
           c_cpu / n_conc * 1e3);

    kill(kp, SIGTERM);
    waitpid(kp, NULL, 0);
    char *rm[] = {"/bin/rm", "-rf", dir, NULL};
    run_wait(rm);
    free(td);
    free(tk);
    free(ca);
    free(th);
    free(joined);
    free(ct);
    return c_ok == n_conc && n_ok == n_seq ? 0 : 1;
}
