/* tests/web/http.c: the test HTTP client (see http.h). Reads until EOF with a 30 s receive timeout
 * so a hung server fails the test instead of hanging it. */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int http_connect(int port)
{
    struct sockaddr_in a;
    struct timeval tv = {30, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static char *read_all(int fd, size_t *n_out)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        ssize_t k;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        k = recv(fd, buf + n, cap - n, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    *n_out = n;
    return buf;
}

static void dechunk(const char *p, size_t n, struct http_resp *out)
{
    const char *end = p + n;
    char *body = malloc(n + 1);
    size_t len = 0;
    while (p < end) {
        char *nl;
        unsigned long sz = strtoul(p, &nl, 16);
        const char *crlf = strstr(p, "\r\n");
        if (!crlf || sz == 0)
            break;
        p = crlf + 2;
        if ((size_t)(end - p) < sz)
            sz = (unsigned long)(end - p);
        memcpy(body + len, p, sz);
        len += sz;
        p += sz + 2;
    }
    body[len] = '\0';
    out->body = body;
    out->body_len = len;
}

static void parse(char *raw, size_t n, struct http_resp *out)
{
    char *hend = strstr(raw, "\r\n\r\n");
    char te[64];
    memset(out, 0, sizeof *out);
    if (strncmp(raw, "HTTP/1.", 7) == 0)
        out->status = (int)strtol(raw + 9, NULL, 10);
    if (!hend) {
        out->headers = strdup(raw);
        out->body = strdup("");
        return;
    }
    out->headers = strndup(raw, (size_t)(hend - raw) + 2);
    hend += 4;
    if (http_header(out, "Transfer-Encoding", te, sizeof te) && strcasecmp(te, "chunked") == 0) {
        dechunk(hend, n - (size_t)(hend - raw), out);
    } else {
        out->body_len = n - (size_t)(hend - raw);
        out->body = malloc(out->body_len + 1);
        memcpy(out->body, hend, out->body_len);
        out->body[out->body_len] = '\0';
    }
}

int http_raw(int port, const char *raw, size_t n, struct http_resp *out)
{
    size_t got;
    char *buf;
    int fd = http_connect(port);
    memset(out, 0, sizeof *out);
    if (fd < 0)
        return -1;
    send_all(fd, raw, n); /* the server may answer and close before reading everything */
    buf = read_all(fd, &got);
    close(fd);
    parse(buf, got, out);
    free(buf);
    return 0;
}

int http_req(int port, const char *method, const char *path, const char *const *headers, const char *body,
             size_t body_len, struct http_resp *out)
{
    size_t cap = 4096 + body_len, n;
    char *req = malloc(cap);
    int rc;
    n = (size_t)snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n", method, path, port);
    for (int i = 0; headers && headers[i]; i++)
        n += (size_t)snprintf(req + n, cap - n, "%s\r\n", headers[i]);
    if (body)
        n += (size_t)snprintf(req + n, cap - n, "Content-Length: %zu\r\n", body_len);
    n += (size_t)snprintf(req + n, cap - n, "\r\n");
    if (body) {
        memcpy(req + n, body, body_len);
        n += body_len;
    }
    rc = http_raw(port, req, n, out);
    free(req);
    return rc;
}

const char *http_header(const struct http_resp *r, const char *name, char *buf, size_t n)
{
    size_t k = strlen(name);
    const char *p = r->headers;
    while (p && (p = strstr(p, "\r\n"))) {
        p += 2;
        if (strncasecmp(p, name, k) == 0 && p[k] == ':') {
            const char *v = p + k + 1, *e;
            while (*v == ' ')
                v++;
            e = strstr(v, "\r\n");
            if (!e)
                e = v + strlen(v);
            snprintf(buf, n, "%.*s", (int)(e - v), v);
            return buf;
        }
    }
    return NULL;
}

void http_resp_free(struct http_resp *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}
