/* fuzz/fuzz_gguf.c: the GGUF reader on arbitrary bytes. gguf_open_memory must either fail with
 * KB_ECORRUPT / KB_EFORMAT / KB_ENOMEM and a message, or succeed; on success every key, value,
 * string-array element and tensor byte it hands out must lie inside the input (ASan checks the
 * reads: the input is copied into an exactly-sized heap buffer). */
#include <stdlib.h>
#include <string.h>

#include "infer/gguf.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    struct gguf_file *f = NULL;
    struct kb_error err = {0};
    int rc = gguf_open_memory(&f, copy, size, &err);
    if (rc != 0) {
        if ((rc != KB_ECORRUPT && rc != KB_EFORMAT && rc != KB_ENOMEM) || f != NULL || err.msg[0] == 0)
            abort();
        free(copy);
        return 0;
    }
    volatile unsigned sink = 0;
    for (int i = 0; i < gguf_n_kv(f); i++) {
        const struct gguf_kv *kv = gguf_kv_at(f, i);
        uint32_t u;
        int64_t i64;
        float fl;
        bool b;
        const char *s;
        size_t n;
        sink += gguf_get_u32(f, kv->key, &u) + gguf_get_i64(f, kv->key, &i64) + gguf_get_f32(f, kv->key, &fl) +
                gguf_get_bool(f, kv->key, &b);
        if (gguf_get_str(f, kv->key, &s, &n) && n)
            sink += (unsigned char)s[n - 1];
        for (uint64_t j = 0; j < kv->n && j < 64; j++)
            if (gguf_arr_str(f, kv->key, j, &s, &n) && n)
                sink += (unsigned char)s[0] + (unsigned char)s[n - 1];
        if (gguf_find_kv(f, kv->key) != kv)
            abort();
    }
    for (int i = 0; i < gguf_n_tensors(f); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(f, i);
        if (gguf_find_tensor(f, t->name) != t)
            abort();
        const unsigned char *p = t->data;
        if (t->n_bytes)
            sink += p[0] + p[t->n_bytes - 1];
    }
    (void)sink;
    gguf_close(f);
    free(copy);
    return 0;
}
