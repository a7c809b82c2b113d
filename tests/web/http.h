/* tests/web/http.h: a tiny blocking HTTP/1.1 client over a TCP socket to 127.0.0.1, for driving
 * kbox's server in tests exactly as bytes on the wire (so malformed requests, traversal paths and
 * slow or vanishing clients can be tested too). Decodes chunked bodies. */
#ifndef KB_TESTS_WEB_HTTP_H
#define KB_TESTS_WEB_HTTP_H

#include <stddef.h>

struct http_resp {
    int status;       /* 0 when no status line arrived */
    char *headers;    /* raw header block, NUL-terminated; owned */
    char *body;       /* decoded body, NUL-terminated; owned */
    size_t body_len;
};

/* Sends method+path with extra header lines (each "Name: value", NULL-terminated list; may be NULL)
 * and body (may be NULL) and reads the whole response (Connection: close). Returns 0 or -1. */
int http_req(int port, const char *method, const char *path, const char *const *headers, const char *body,
             size_t body_len, struct http_resp *out);
/* Sends raw bytes and reads until the server closes; out->status parsed when present. */
int http_raw(int port, const char *raw, size_t n, struct http_resp *out);
/* The value of a response header (case-insensitive name), copied into buf; NULL when absent. */
const char *http_header(const struct http_resp *r, const char *name, char *buf, size_t n);
void http_resp_free(struct http_resp *r);
/* Connects to 127.0.0.1:port; returns the socket or -1. */
int http_connect(int port);

#endif
