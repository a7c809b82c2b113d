/* fuzz/fuzz_remote_sse.c: the remote chat stream parser (rag/remote_sse.c) on arbitrary bytes, as a
 * remote server or a proxy could send them. The first byte picks a piece size; the rest is fed
 * whole and in those pieces. Each run must return 0 or a KB_E* code the header names (never crash,
 * never leak), and both runs must agree on the code and the text passed on. */
#include <stdlib.h>
#include <string.h>

#include "rag/rag_int.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static int fuzz_piece(void *ud, enum remote_piece kind, const char *text, size_t n, struct kb_error *err)
{
    (void)err;
    (void)kind;
    return kb_buf_append(ud, text, n);
}

static int fuzz_run(const char *text, size_t n, size_t step, struct kb_buf *out)
{
    struct remote_sse p;
    struct kb_error err = {0};
    int rc = 0;
    remote_sse_init(&p, fuzz_piece, out);
    for (size_t off = 0; off < n && !rc; off += step) {
        size_t take = n - off > step ? step : n - off;
        rc = remote_sse_feed(&p, text + off, take, &err);
    }
    rc = rc ? rc : remote_sse_finish(&p, &err);
    remote_sse_release(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct kb_buf whole, pieces;
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    kb_buf_init(&whole, 0);
    kb_buf_init(&pieces, 0);
    int a = fuzz_run((const char *)data + 1, size - 1, size, &whole);
    int b = fuzz_run((const char *)data + 1, size - 1, step, &pieces);
    if (a != b || whole.len != pieces.len || (whole.len && memcmp(whole.data, pieces.data, whole.len)))
        abort();
    if (a != 0 && a != KB_EIO && a != KB_EJSON && a != KB_ECORRUPT && a != KB_ETOOBIG && a != KB_ENOMEM)
        abort();
    kb_buf_release(&whole);
    kb_buf_release(&pieces);
    return 0;
}
