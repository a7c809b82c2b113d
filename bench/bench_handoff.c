/* bench/bench_handoff.c: human handoff (issue #17) under load: N customers waiting in the queue, each
 * with its SSE stream (GET /api/handoff/stream) held open on a real `kbox serve` child process, one
 * agent's Inbox stream open; then the agent takes conversations one after another and replies, and
 * each reply's delivery time is measured from the start of its POST until its text arrives on that
 * customer's stream (the other streams stay open and waiting, and are woken by every change).
 * A second phase times replies to 50 conversations already held while the others keep waiting.
 * Reports the server's RSS before and after the streams opened (VmRSS of the child), per connection,
 * its thread count, and delivery p50/p90/p99/max of both phases.
 *
 * usage: bench_handoff KBOX [n_streams (500)] [n_messages (500)]
 * Client side: one thread, raw sockets, poll; requests with tests/web/http.c. Not a test: results go
 * to docs/BENCHMARKS.md with the machine and the command. */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"

#include "../tests/web/http.h"

#define TOKEN "bench-admin-token-0123456789abcdef0123"
#define BUF_BYTES 8192

struct stream {
    int fd;
    char token[33];
    int64_t id;
    char buf[BUF_BYTES];
    size_t n;
};

static pid_t child;
static int port;

static int64_t proc_status(pid_t pid, const char *key)
{
    char path[64], line[256];
    int64_t v = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key)))
            v = strtoll(line + strlen(key) + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Starts `kbox serve --port 0` in a fresh directory; reads the port from its first lines. */
static int start_server(const char *kbox, const char *dir)
{
    int out[2];
    char buf[4096];
    size_t n = 0;
    if (pipe(out))
        return -1;
    child = fork();
    if (child == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(kbox, kbox, "--data-dir", dir, "--set", "auth.admin_token=" TOKEN, "--set", "server.max_conns_per_ip=0",
              "--set", "server.rate_limit_per_min=0", "--set", "handoff.wait_seconds=86400", "--set", "log.level=warn",
              "serve", "--port", "0", "--threads", "2", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    while (n + 1 < sizeof buf) {
        ssize_t got = read(out[0], buf + n, sizeof buf - 1 - n);
        const char *p;
        if (got <= 0)
            return -1;
        n += (size_t)got;
        buf[n] = '\0';
        if ((p = strstr(buf, "serving http://")) && (p = strchr(p + 15, ':')) && strchr(p, '/')) {
            port = (int)strtol(p + 1, NULL, 10);
            break;
        }
    }
    /* keep reading the child's stdout so it never blocks on a full pipe */
    if (fork() == 0) {
        while (read(out[0], buf, sizeof buf) > 0)
            ;
        _exit(0);
    }
    close(out[0]);
    return port > 0 ? 0 : -1;
}

static int json_str(const char *body, const char *key, char *out, size_t n)
{
    char pat[64];
    const char *p, *e;
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    if (!(p = strstr(body, pat)))
        return -1;
    p += strlen(pat);
    if (!(e = strchr(p, '"')) || (size_t)(e - p) >= n)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

static int open_stream(const char *path, const char *extra)
{
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", path, extra ? extra : ""), fd;
    fd = http_connect(port);
    if (fd < 0 || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Reads what is there on s (keeps the tail); true when needle is in the buffer. */
static bool drain(struct stream *s, const char *needle)
{
    for (;;) {
        ssize_t got;
        if (s->n > BUF_BYTES / 2) { /* keep the last 1 KiB: a needle may straddle reads */
            memmove(s->buf, s->buf + s->n - 1024, 1024);
            s->n = 1024;
        }
        got = recv(s->fd, s->buf + s->n, BUF_BYTES - 1 - s->n, 0);
        if (got <= 0)
            break;
        s->n += (size_t)got;
    }
    s->buf[s->n] = '\0';
    return needle && strstr(s->buf, needle);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static const char *const admin[] = {"Authorization: Bearer " TOKEN, "Content-Type: application/json", NULL};
    char dir[] = "/tmp/kbox-bench-handoff-XXXXXX", path[256], body[256];
    int64_t n_streams = 500, n_msgs = 500, rss0, rss1, thr0, thr1;
    struct stream *st, inbox = {0};
    double *lat, t0;
    int rc = 1, n_lat = 0;
    if (argc < 2 || (argc > 2 && kb_parse_i64(argv[2], &n_streams)) || (argc > 3 && kb_parse_i64(argv[3], &n_msgs)) ||
        n_streams < 1 || n_msgs < 1) {
        fprintf(stderr, "usage: bench_handoff KBOX [n_streams] [n_messages]\n");
        return 2;
    }
    if (n_msgs > n_streams)
        n_msgs = n_streams;
    if (!mkdtemp(dir) || start_server(argv[1], dir)) {
        fprintf(stderr, "bench_handoff: cannot start %s\n", argv[1]);
        return 1;
    }
    st = calloc((size_t)n_streams, sizeof *st);
    lat = calloc((size_t)n_msgs, sizeof *lat);
    inbox.fd = open_stream("/api/inbox/stream", "Authorization: Bearer " TOKEN "\r\n");
    usleep(300 * 1000);
    for (int64_t i = 0; i < n_streams; i++) { /* N customers ask for a person */
        struct http_resp r;
        if (http_req(port, "POST", "/api/handoff", admin + 1, "{}", 2, &r) || r.status != 200 ||
            json_str(r.body, "token", st[i].token, sizeof st[i].token)) {
            fprintf(stderr, "request %lld: %d %s\n", (long long)i, r.status, r.body ? r.body : "");
            goto out;
        }
        st[i].id = strtoll(strstr(r.body, "\"id\":") + 5, NULL, 10);
        http_resp_free(&r);
        drain(&inbox, NULL);
    }
    usleep(500 * 1000);
    rss0 = proc_status(child, "VmRSS:");
    thr0 = proc_status(child, "Threads:");
    t0 = kb_now_s();
    for (int64_t i = 0; i < n_streams; i++) {
        snprintf(path, sizeof path, "/api/handoff/stream?token=%s", st[i].token);
        if ((st[i].fd = open_stream(path, NULL)) < 0) {
            fprintf(stderr, "stream %lld: cannot connect\n", (long long)i);
            goto out;
        }
    }
    for (int64_t i = 0; i < n_streams; i++) { /* every stream is up: its queued state arrived */
        double end = kb_now_s() + 30;
        while (!drain(&st[i], "event: position") && kb_now_s() < end)
            usleep(2000);
        if (!strstr(st[i].buf, "event: position")) {
            fprintf(stderr, "stream %lld: no position event: %s\n", (long long)i, st[i].buf);
            goto out;
        }
    }
    printf("opened %lld streams in %.2f s\n", (long long)n_streams, kb_now_s() - t0);
    usleep(500 * 1000);
    rss1 = proc_status(child, "VmRSS:");
    thr1 = proc_status(child, "Threads:");
    for (int64_t i = 0; i < n_msgs; i++) { /* take, then a reply whose delivery is timed */
        struct http_resp r;
        char marker[32];
        double start, end;
        snprintf(path, sizeof path, "/api/inbox/%lld/take", (long long)st[i].id);
        if (http_req(port, "POST", path, admin, "{}", 2, &r) || r.status != 200) {
            fprintf(stderr, "take %lld: %d\n", (long long)i, r.status);
            goto out;
        }
        http_resp_free(&r);
        drain(&st[i], NULL);
        st[i].n = 0;
        snprintf(marker, sizeof marker, "reply-%lld-x", (long long)i);
        snprintf(body, sizeof body, "{\"text\":\"%s\"}", marker);
        snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)st[i].id);
        start = kb_now_s();
        if (http_req(port, "POST", path, admin, body, strlen(body), &r) || r.status != 200) {
            fprintf(stderr, "reply %lld: %d\n", (long long)i, r.status);
            goto out;
        }
        http_resp_free(&r);
        end = start + 10;
        for (;;) {
            struct pollfd p = {.fd = st[i].fd, .events = POLLIN};
            if (drain(&st[i], marker))
                break;
            if (kb_now_s() > end) {
                fprintf(stderr, "reply %lld never arrived\n", (long long)i);
                goto out;
            }
            poll(&p, 1, 5);
        }
        lat[n_lat++] = (kb_now_s() - start) * 1000.0;
        if (i % 50 == 0) /* the waiting streams get position events: keep their buffers empty */
            for (int64_t k = 0; k < n_streams; k++)
                drain(&st[k], NULL);
    }
    qsort(lat, (size_t)n_lat, sizeof *lat, cmp_d);
    printf("streams %lld  messages %d\n", (long long)n_streams, n_lat);
    printf("take + reply, ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", lat[n_lat / 2], lat[n_lat * 9 / 10],
           lat[n_lat * 99 / 100 < n_lat ? n_lat * 99 / 100 : n_lat - 1], lat[n_lat - 1]);
    /* steady state: replies to conversations already held while the rest keep waiting */
    for (int64_t k = 0; k < n_streams; k++)
        drain(&st[k], NULL);
    usleep(500 * 1000);
    n_lat = 0;
    for (int64_t i = 0; i < n_msgs; i++) {
        struct http_resp r;
        char marker[32];
        int64_t c = i % (n_msgs < 50 ? n_msgs : 50); /* 50 held conversations, the rest waiting */
        double start, end;
        drain(&st[c], NULL);
        st[c].n = 0;
        snprintf(marker, sizeof marker, "again-%lld-x", (long long)i);
        snprintf(body, sizeof body, "{\"text\":\"%s\"}", marker);
        snprintf(path, sizeof path, "/api/inbox/%lld/messages", (long long)st[c].id);
        start = kb_now_s();
        if (http_req(port, "POST", path, admin, body, strlen(body), &r) || r.status != 200) {
            fprintf(stderr, "reply %lld: %d\n", (long long)i, r.status);
            goto out;
        }
        http_resp_free(&r);
        end = start + 10;
        for (;;) {
            struct pollfd p = {.fd = st[c].fd, .events = POLLIN};
            if (drain(&st[c], marker))
                break;
            if (kb_now_s() > end) {
                fprintf(stderr, "reply %lld never arrived\n", (long long)i);
                goto out;
            }
            poll(&p, 1, 5);
        }
        lat[n_lat++] = (kb_now_s() - start) * 1000.0;
    }
    qsort(lat, (size_t)n_lat, sizeof *lat, cmp_d);
    printf("server RSS %lld KiB before the streams, %lld KiB with them: %.1f KiB per connection\n", (long long)rss0,
           (long long)rss1, (double)(rss1 - rss0) / (double)n_streams);
    printf("server threads %lld -> %lld\n", (long long)thr0, (long long)thr1);
    printf("reply to a held conversation, ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", lat[n_lat / 2], lat[n_lat * 9 / 10],
           lat[n_lat * 99 / 100 < n_lat ? n_lat * 99 / 100 : n_lat - 1], lat[n_lat - 1]);
    rc = 0;
out:
    for (int64_t i = 0; i < n_streams; i++)
        if (st[i].fd > 0)
            close(st[i].fd);
    if (inbox.fd > 0)
        close(inbox.fd);
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    free(st);
    free(lat);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
