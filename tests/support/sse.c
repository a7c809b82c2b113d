/* tests/support/sse.c: see sse.h. The deadline is on CLOCK_MONOTONIC, read here rather than through
 * kb_now_s() because test_pg_nodes links no kbox library. */
#define _GNU_SOURCE
#include "sse.h"

#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "../web/http.h"

static double sse_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sse_open(struct sse *s, int port, const char *path, const char *extra)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s%s\r\n",
                     path, extra ? extra : "", extra ? "\r\n" : "");
    s->n = s->pos = 0;
    s->fd = http_connect(port);
    assert_true(s->fd >= 0);
    assert_int_equal(send(s->fd, req, (size_t)n, MSG_NOSIGNAL), n);
}

bool sse_wait(struct sse *s, const char *needle, int ms)
{
    double end = sse_now_s() + ms / 1000.0;
    for (;;) {
        const char *hit;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        ssize_t got;
        s->buf[s->n] = '\0';
        if ((hit = strstr(s->buf + s->pos, needle))) {
            s->pos = (size_t)(hit - s->buf) + strlen(needle);
            return true;
        }
        if (sse_now_s() > end || s->n + 1 >= sizeof s->buf)
            return false;
        if (poll(&p, 1, 100) <= 0)
            continue;
        got = recv(s->fd, s->buf + s->n, sizeof s->buf - 1 - s->n, 0);
        if (got <= 0)
            return false;
        s->n += (size_t)got;
    }
}

void sse_close(struct sse *s)
{
    close(s->fd);
    s->fd = -1;
}
