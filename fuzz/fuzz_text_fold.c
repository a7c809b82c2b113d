/* fuzz/fuzz_text_fold.c: the Traditional -> Simplified folding (text/tokenize.c) on arbitrary bytes.
 * The input is folded in place (text_fold_han_inplace), which must never grow it and must be
 * idempotent; tokenizing the folded bytes must give exactly the tokens of the original (the
 * tokenizer folds the same way); and every token of the folded text must be found in the original
 * at its own offset by text_match_folded, never reading past the end. Any crash, sanitizer report or
 * abort is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "text/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_BYTES 4096

struct fz_toks {
    char buf[8 * FZ_MAX_BYTES];
    size_t len;
    bool full;
};

static int fz_collect(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    struct fz_toks *t = ud;
    (void)start;
    (void)end;
    (void)cjk;
    if (t->len + (size_t)n + 1 > sizeof(t->buf)) {
        t->full = true;
        return 1;
    }
    memcpy(t->buf + t->len, tok, (size_t)n);
    t->len += (size_t)n;
    t->buf[t->len++] = '|';
    return 0;
}

struct fz_match {
    const char *orig;
    size_t n;
};

/* Every CJK token of the original text, folded, matches the original at its start offset. */
static int fz_match(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    const struct fz_match *m = ud;
    if (cjk && text_match_folded(m->orig + start, m->n - (size_t)start, tok, (size_t)n) != (size_t)(end - start))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz_toks a, b;
    char *s, *f;
    size_t n = size < FZ_MAX_BYTES ? size : FZ_MAX_BYTES, k, k2;
    struct fz_match m;
    s = malloc(n + 1);
    f = malloc(n + 1);
    if (!s || !f)
        abort();
    memcpy(s, data, n);
    memcpy(f, data, n);
    k = text_fold_han_inplace(f, n);
    if (k > n)
        abort();
    k2 = text_fold_han_inplace(f, k);
    if (k2 != k)
        abort();
    a.len = b.len = 0;
    a.full = b.full = false;
    text_tokenize(s, n, false, fz_collect, &a);
    text_tokenize(f, k, false, fz_collect, &b);
    if (!a.full && !b.full && (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0))
        abort();
    m.orig = s;
    m.n = n;
    text_tokenize(s, n, true, fz_match, &m);
    free(s);
    free(f);
    return 0;
}
