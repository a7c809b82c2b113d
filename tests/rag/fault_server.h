/* tests/rag/fault_server.h: a fault server for the remote backend tests (test_remote.c, and the
 * served test tests/web/test_remote_served.c): a thread with a listening socket on 127.0.0.1
 * (port 0) that answers its connections one at a time, connection i by script[min(i, n-1)]:
 * "replay:FILE" (a transcript of tests/rag/remote/ as a 200 event stream), "drop:FILE:BYTES" (its
 * first BYTES, then the connection closes), "status:CODE" (a JSON error body),
 * "retry-after:CODE:SECONDS", "hang" (reads the request, answers nothing for 5 s). The last
 * request's bytes are kept. Include after cmocka.h, rag/rag_int.h and remote_util.h. */
#ifndef KB_TESTS_RAG_FAULT_SERVER_H
#define KB_TESTS_RAG_FAULT_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Fault server: connection i follows script[min(i, n_script - 1)]. */
struct fault_server {
    int fd, port;
    pthread_t thread;
    const char *script[8];
    int n_script;
    int n_conn;             /* connections served */
    char last_request[8192];
    volatile int stop;
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void read_request(struct fault_server *s, int fd)
{
    size_t got = 0;
    long want = -1;
    while (got < sizeof s->last_request - 1) {
        ssize_t r = recv(fd, s->last_request + got, sizeof s->last_request - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        s->last_request[got] = '\0';
        char *end = strstr(s->last_request, "\r\n\r\n");
        if (end && want < 0) {
            char *cl = strstr(s->last_request, "Content-Length:");
            want = (long)(end + 4 - s->last_request) + (cl ? strtol(cl + 15, NULL, 10) : 0);
        }
        if (want >= 0 && (long)got >= want)
            break;
    }
}

/* Actions: "replay:FILE", "drop:FILE:BYTES", "status:CODE", "retry-after:CODE:SECONDS", "hang". */
static void serve_one(struct fault_server *s, int fd, const char *act)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    char head[256], file[64];
    int code = 0, secs = 0;
    long bytes = 0;
    read_request(s, fd);
    if (sscanf(act, "replay:%63s", file) == 1 || sscanf(act, "drop:%63[^:]:%ld", file, &bytes) == 2) {
        size_t n;
        char *t = read_transcript(file, &n);
        send_all(fd, ok, strlen(ok));
        send_all(fd, t, bytes > 0 && (size_t)bytes < n ? (size_t)bytes : n);
        free(t);
    } else if (sscanf(act, "retry-after:%d:%d", &code, &secs) == 2) {
        snprintf(head, sizeof head, "HTTP/1.1 %d Busy\r\nRetry-After: %d\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy",
                 code, secs);
        send_all(fd, head, strlen(head));
    } else if (sscanf(act, "status:%d", &code) == 1) {
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d Err\r\nContent-Type: application/json\r\nContent-Length: 25\r\nConnection: close\r\n\r\n"
                 "{\"error\":{\"message\":\"x\"}}",
                 code);
        send_all(fd, head, strlen(head));
    } else if (strcmp(act, "hang") == 0) {
        for (int i = 0; i < 100 && !s->stop; i++)
            usleep(50000);
    }
}

static void *fault_main(void *ud)
{
    struct fault_server *s = ud;
    while (!s->stop) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        if (s->stop) {
            close(c);
            break;
        }
        int i = s->n_conn < s->n_script ? s->n_conn : s->n_script - 1;
        serve_one(s, c, s->script[i]);
        s->n_conn++;
        close(c);
    }
    return NULL;
}

static void fault_start(struct fault_server *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, fault_main, s), 0);
}

static void fault_stop(struct fault_server *s)
{
    s->stop = 1;
    shutdown(s->fd, SHUT_RDWR); /* wakes accept() */
    pthread_join(s->thread, NULL);
    close(s->fd);
}

#endif
