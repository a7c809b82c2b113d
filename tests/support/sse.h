/* tests/support/sse.h: a raw Server-Sent Events reader for the tests that watch kbox's live streams
 * (tests/web/test_handoff.c, tests/web/test_pg_nodes.c): one GET with Accept: text/event-stream on
 * its own socket to 127.0.0.1 (tests/web/http.c's http_connect, so a test that uses it links http.c
 * too), then reads into a fixed buffer and searches it for what should arrive. The buffer is the
 * bound: a stream that fills it makes sse_wait return false. A failed connect or send fails the
 * running cmocka test. */
#ifndef KB_TESTS_SSE_H
#define KB_TESTS_SSE_H

#include <stdbool.h>
#include <stddef.h>

struct sse {
    int fd;            /* the stream's socket; -1 after sse_close() */
    char buf[1 << 17]; /* every byte read so far, NUL-terminated at n */
    size_t n, pos;     /* bytes read; where the next search starts */
};

/* Connects to 127.0.0.1:port and sends GET path; extra (nullable) is one more header line. */
void sse_open(struct sse *s, int port, const char *path, const char *extra);
/* Reads until needle appears after the last match (within ms); true when found. */
bool sse_wait(struct sse *s, const char *needle, int ms);
void sse_close(struct sse *s);

#endif
