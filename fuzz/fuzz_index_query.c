/* fuzz/fuzz_index_query.c: any bytes as a user query: the tokenizer (both modes; token sizes and
 * offsets stay in bounds), the built-in embedder (finite, norm <= 1) and a hybrid search on a real
 * store with a few chunks (never an error: FTS5 syntax is never interpreted). The store lives in a
 * temp dir for the whole run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct index_store *fz_store;
static struct index_embedder *fz_emb;

struct fz_ctx {
    size_t n;
};

static int fz_tok(void *ud, const char *tok, int n, int start, int end, bool cjk)
{
    const struct fz_ctx *c = ud;
    (void)tok;
    (void)cjk;
    if (n <= 0 || n > INDEX_TOKEN_MAX_BYTES + 8 || start < 0 || end > (int)c->n || start >= end)
        abort();
    return 0;
}

static void fz_init(void)
{
    char dir[] = "/tmp/kbox-fuzz-index-XXXXXX";
    struct index_open_opts o;
    struct kb_error err = {0};
    struct index_doc d = {0};
    struct index_chunk ch[3] = {{.text = "Reset the router's Wi-Fi password from the admin page."},
                                {.text = "重置路由器的无线密码：按住复位按钮十秒钟。"},
                                {.text = "NEAR AND OR NOT \"quoted\" (parens) col:value ^caret * star"}};
    if (!mkdtemp(dir) || index_embedder_builtin_new(&fz_emb, 64, &err) != 0)
        abort();
    kb_log_set_level(KB_LOG_ERROR);
    memset(&o, 0, sizeof(o));
    o.data_dir = dir;
    o.embedder = fz_emb;
    if (index_store_open(&fz_store, &o, &err) != 0)
        abort();
    d.path = "/fuzz.txt";
    if (index_doc_replace(fz_store, &d, ch, 3, NULL, NULL, 0, NULL, &err) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_ctx c = {size};
    char *q = malloc(size + 1);
    float v[64];
    double norm = 0;
    struct kb_error err = {0};
    struct index_search_opts o;
    struct kb_arena a;
    struct index_hit *hits;
    int n_hits;
    if (!fz_store)
        fz_init();
    memcpy(q, data, size);
    q[size] = '\0';
    index_tokenize(q, size, false, fz_tok, &c);
    index_tokenize(q, size, true, fz_tok, &c);
    if (fz_emb->embed(fz_emb->ud, (const char *const *)&q, 1, v, &err) != 0)
        abort();
    for (int i = 0; i < 64; i++) {
        if (!isfinite(v[i]))
            abort();
        norm += (double)v[i] * v[i];
    }
    if (norm > 1.0001)
        abort();
    memset(&o, 0, sizeof(o));
    o.top_k = 3;
    o.rrf_k = 60;
    o.mode = (enum index_mode)(size % 3);
    o.evidence = true;
    kb_arena_init(&a, 4096, 0);
    if (index_search(fz_store, q, &o, &a, &hits, &n_hits, &err) != 0)
        abort();
    kb_arena_release(&a);
    free(q);
    return 0;
}
