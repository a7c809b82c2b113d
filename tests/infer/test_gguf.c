/* tests/infer/test_gguf.c: the GGUF reader. A small valid file is built byte by byte here (every
 * metadata value type, a nested array, tensors of several types), read back and checked; then a
 * table of hostile variants (bad magic/version, huge counts and lengths, dimension overflow,
 * out-of-bounds and unaligned tensor data, unsupported types, duplicates) and every truncation of
 * the valid file must fail with a clear error and no crash (ASan/UBSan in CI). Finally every
 * GGUF in ../shared (conformance, models, vocab) must open; skipped when ../shared is absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "infer/gguf.h"

/* ---- a tiny byte-level GGUF builder ---------------------------------------------------------- */

struct gb {
    uint8_t buf[8192];
    size_t n;
};

static void put(struct gb *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof(b->buf));
    memcpy(b->buf + b->n, p, n);
    b->n += n;
}
static void put_u8(struct gb *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(struct gb *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}
static void put_u64(struct gb *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}
static void put_str(struct gb *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_f32(struct gb *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(b, u);
}

/* Knobs for building variants of the valid file. */
struct spec {
    uint32_t version;
    uint64_t n_tensors_override; /* 0 = real count */
    uint64_t n_kv_override;
    uint64_t str_len_override;   /* for general.name; 0 = real */
    uint64_t arr_n_override;     /* for the u32 array; 0 = real */
    uint32_t align;              /* general.alignment, 0 = default 32 (key absent) */
    uint32_t n_dims0;            /* n_dims of tensor 0; 0 = 2 */
    uint64_t ne1_0;              /* ne[1] of tensor 0; 0 = 2 */
    uint32_t type1;              /* type of tensor 1; 0 = Q8_0 */
    uint64_t off1_delta;         /* added to tensor 1's offset */
    int dup_key, dup_tensor, bad_vtype, deep_nest;
};

/* Tensors: "a" F32 [4 x 2] (32 bytes), "b" Q8_0 [32 x 1] (34 bytes), "c" F16 [8] (16 bytes). */
static size_t build(struct gb *b, const struct spec *s)
{
    uint32_t align = s->align ? s->align : 32;
    b->n = 0;
    put(b, "GGUF", 4);
    put_u32(b, s->version ? s->version : 3);
    put_u64(b, s->n_tensors_override ? s->n_tensors_override : 3);
    uint64_t n_kv = 9 + (s->align ? 1 : 0) + (s->dup_key ? 1 : 0) + (s->deep_nest ? 1 : 0);
    put_u64(b, s->n_kv_override ? s->n_kv_override : n_kv);
    put_str(b, "general.architecture");
    put_u32(b, GGUF_VT_STRING);
    put_str(b, "llama");
    put_str(b, "general.name");
    put_u32(b, GGUF_VT_STRING);
    put_u64(b, s->str_len_override ? s->str_len_override : 4);
    put(b, "tiny", 4);
    put_str(b, "t.u8");
    put_u32(b, s->bad_vtype ? 13 : GGUF_VT_U8);
    put_u8(b, 200);
    put_str(b, "t.i16");
    put_u32(b, GGUF_VT_I16);
    put_u8(b, 0xfe);
    put_u8(b, 0xff); /* -2 */
    put_str(b, "t.f32");
    put_u32(b, GGUF_VT_F32);
    put_f32(b, 1.5f);
    put_str(b, "t.f64");
    put_u32(b, GGUF_VT_F64);
    double d = -0.25;
    uint64_t du;
    memcpy(&du, &d, 8);
    put_u64(b, du);
    put_str(b, "t.bool");
    put_u32(b, GGUF_VT_BOOL);
    put_u8(b, 1);
    put_str(b, "t.arr");
    put_u32(b, GGUF_VT_ARRAY);
    put_u32(b, GGUF_VT_U32);
    put_u64(b, s->arr_n_override ? s->arr_n_override : 3);
    put_u32(b, 7);
    put_u32(b, 8);
    put_u32(b, 9);
    put_str(b, "t.strs"); /* an array of arrays of strings */
    put_u32(b, GGUF_VT_ARRAY);
    put_u32(b, GGUF_VT_STRING);
    put_u64(b, 3);
    put_str(b, "x");
    put_str(b, "");
    put_str(b, "hello");
    if (s->deep_nest) {
        put_str(b, "t.deep");
        put_u32(b, GGUF_VT_ARRAY);
        for (int i = 0; i < 8; i++) {
            put_u32(b, GGUF_VT_ARRAY);
            put_u64(b, 1);
        }
        put_u32(b, GGUF_VT_U8);
        put_u64(b, 0);
    }
    if (s->align) {
        put_str(b, "general.alignment");
        put_u32(b, GGUF_VT_U32);
        put_u32(b, s->align);
    }
    if (s->dup_key) {
        put_str(b, "t.f32");
        put_u32(b, GGUF_VT_F32);
        put_f32(b, 2.0f);
    }
    /* tensor infos */
    put_str(b, "a");
    put_u32(b, s->n_dims0 ? s->n_dims0 : 2);
    put_u64(b, 4);
    put_u64(b, s->ne1_0 ? s->ne1_0 : 2);
    for (uint32_t i = 2; i < (s->n_dims0 ? s->n_dims0 : 2) && i < 8; i++)
        put_u64(b, 1);
    put_u32(b, GGML_TYPE_F32);
    put_u64(b, 0);
    put_str(b, s->dup_tensor ? "a" : "b");
    put_u32(b, 1);
    put_u64(b, 32);
    put_u32(b, s->type1 ? s->type1 : GGML_TYPE_Q8_0);
    uint64_t off_b = align > 32 ? align : 32;
    put_u64(b, off_b + s->off1_delta);
    put_str(b, "c");
    put_u32(b, 1);
    put_u64(b, 8);
    put_u32(b, GGML_TYPE_F16);
    uint64_t off_c = off_b + ((34 + align - 1) / align) * align;
    put_u64(b, off_c);
    while (b->n % align)
        put_u8(b, 0);
    size_t data0 = b->n;
    for (int i = 0; i < 8; i++)
        put_f32(b, (float)i);
    while (b->n < data0 + off_b)
        put_u8(b, 0);
    put_u8(b, 0x00); /* Q8_0 block: d = 1.0 in fp16 (0x3c00) then 32 int8 */
    put_u8(b, 0x3c);
    for (int i = 0; i < 32; i++)
        put_u8(b, (uint8_t)(i - 16));
    while (b->n < data0 + off_c)
        put_u8(b, 0);
    for (int i = 0; i < 8; i++) {
        put_u8(b, 0x00);
        put_u8(b, 0x3c);
    }
    return data0;
}

static void test_valid(void **state)
{
    (void)state;
    struct gb b;
    struct spec s = {0};
    struct kb_error err = {0};
    struct gguf_file *f = NULL;
    size_t data0 = build(&b, &s);
    assert_int_equal(gguf_open_memory(&f, b.buf, b.n, &err), 0);
    assert_int_equal(gguf_version(f), 3);
    assert_int_equal(gguf_alignment(f), 32);
    assert_int_equal(gguf_data_offset(f), data0);
    assert_int_equal(gguf_n_kv(f), 9);
    const char *str;
    size_t n;
    assert_true(gguf_get_str(f, "general.architecture", &str, &n));
    assert_int_equal(n, 5);
    assert_memory_equal(str, "llama", 5);
    uint32_t u;
    int64_t i64;
    float fl;
    bool bo;
    assert_true(gguf_get_u32(f, "t.u8", &u));
    assert_int_equal(u, 200);
    assert_false(gguf_get_u32(f, "t.i16", &u)); /* negative does not fit */
    assert_true(gguf_get_i64(f, "t.i16", &i64));
    assert_int_equal(i64, -2);
    assert_true(gguf_get_f32(f, "t.f32", &fl));
    assert_true(fl == 1.5f);
    assert_true(gguf_get_f32(f, "t.f64", &fl));
    assert_true(fl == -0.25f);
    assert_false(gguf_get_f32(f, "t.u8", &fl));
    assert_true(gguf_get_bool(f, "t.bool", &bo));
    assert_true(bo);
    assert_false(gguf_get_u32(f, "missing", &u));
    enum gguf_vtype at;
    uint64_t an;
    const void *ad;
    assert_true(gguf_get_arr(f, "t.arr", &at, &an, &ad));
    assert_int_equal(at, GGUF_VT_U32);
    assert_int_equal(an, 3);
    assert_int_equal(((const uint8_t *)ad)[8], 9);
    assert_true(gguf_arr_str(f, "t.strs", 2, &str, &n));
    assert_int_equal(n, 5);
    assert_memory_equal(str, "hello", 5);
    assert_true(gguf_arr_str(f, "t.strs", 1, &str, &n));
    assert_int_equal(n, 0);
    assert_false(gguf_arr_str(f, "t.strs", 3, &str, &n));
    assert_false(gguf_arr_str(f, "t.arr", 0, &str, &n));
    assert_int_equal(gguf_n_tensors(f), 3);
    const struct gguf_tensor *t = gguf_find_tensor(f, "a");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 4);
    assert_int_equal(t->ne[1], 2);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->n_bytes, 32);
    float v;
    memcpy(&v, (const uint8_t *)t->data + 12, 4);
    assert_true(v == 3.0f);
    t = gguf_find_tensor(f, "b");
    assert_non_null(t);
    assert_int_equal(t->type, GGML_TYPE_Q8_0);
    assert_int_equal(t->n_bytes, 34);
    assert_int_equal(((const uint8_t *)t->data)[1], 0x3c);
    t = gguf_find_tensor(f, "c");
    assert_non_null(t);
    assert_int_equal(t->n_bytes, 16);
    assert_ptr_equal((const uint8_t *)t->data + 16, b.buf + b.n);
    assert_null(gguf_find_tensor(f, "d"));
    gguf_close(f);

    /* v2 and a larger alignment are fine too */
    s.version = 2;
    s.align = 64;
    data0 = build(&b, &s);
    assert_int_equal(gguf_open_memory(&f, b.buf, b.n, &err), 0);
    assert_int_equal(gguf_version(f), 2);
    assert_int_equal(gguf_alignment(f), 64);
    assert_int_equal(gguf_data_offset(f) % 64, 0);
    gguf_close(f);
    gguf_close(NULL);
}

static void test_truncations(void **state)
{
    (void)state;
    struct gb b;
    struct spec s = {0};
    build(&b, &s);
    for (size_t len = 0; len < b.n; len++) {
        /* A fresh heap copy of exactly len bytes so ASan catches any read past the end. */
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, b.buf, len);
        struct gguf_file *f = (struct gguf_file *)1;
        struct kb_error err = {0};
        int rc = gguf_open_memory(&f, copy, len, &err);
        if (rc == 0)
            fail_msg("truncation to %zu of %zu bytes was accepted", len, b.n);
        assert_null(f);
        assert_true(rc == KB_ECORRUPT || rc == KB_EFORMAT);
        assert_true(err.msg[0] != 0);
        free(copy);
    }
}

struct hostile {
    const char *what;
    struct spec s;
    int patch_at;      /* >= 0: overwrite byte at this offset with patch_val */
    uint8_t patch_val;
    int code;
    const char *needle; /* substring of the message */
};

static void test_hostile(void **state)
{
    (void)state;
    static const struct hostile cases[] = {
        {"bad magic", {0}, 0, 'X', KB_EFORMAT, "magic"},
        {"version 1", {.version = 1}, -1, 0, KB_EFORMAT, "version 1"},
        {"version 4", {.version = 4}, -1, 0, KB_EFORMAT, "version 4"},
        {"big endian", {.version = 0x03000000}, -1, 0, KB_EFORMAT, "big-endian"},
        {"huge tensor count", {.n_tensors_override = UINT64_MAX}, -1, 0, KB_ECORRUPT, "tensors"},
        {"huge kv count", {.n_kv_override = (uint64_t)1 << 40}, -1, 0, KB_ECORRUPT, "key/values"},
        {"too many kvs", {.n_kv_override = 12}, -1, 0, KB_ECORRUPT, ""},
        {"huge string", {.str_len_override = UINT64_MAX - 3}, -1, 0, KB_ECORRUPT, "general.name"},
        {"huge array", {.arr_n_override = (uint64_t)1 << 62}, -1, 0, KB_ECORRUPT, "t.arr"},
        {"bad value type", {.bad_vtype = 1}, -1, 0, KB_ECORRUPT, "invalid value type"},
        {"nesting too deep", {.deep_nest = 1}, -1, 0, KB_ECORRUPT, "nested"},
        {"duplicate key", {.dup_key = 1}, -1, 0, KB_ECORRUPT, "duplicate key"},
        {"duplicate tensor", {.dup_tensor = 1}, -1, 0, KB_ECORRUPT, "duplicate tensor"},
        {"n_dims 0", {.n_dims0 = 0xffffffffu}, -1, 0, KB_ECORRUPT, "dimensions"},
        {"n_dims 5", {.n_dims0 = 5}, -1, 0, KB_ECORRUPT, "dimensions"},
        {"dims overflow", {.ne1_0 = (uint64_t)1 << 62}, -1, 0, KB_ECORRUPT, "'a'"},
        {"dim too big", {.ne1_0 = UINT64_MAX}, -1, 0, KB_ECORRUPT, "dimensions"},
        {"data out of bounds", {.ne1_0 = 1000}, -1, 0, KB_ECORRUPT, "outside"},
        {"unaligned offset", {.off1_delta = 4}, -1, 0, KB_ECORRUPT, "alignment"},
        {"offset past end", {.off1_delta = (uint64_t)1 << 63}, -1, 0, KB_ECORRUPT, "outside"},
        {"unsupported type Q2_K", {.type1 = GGML_TYPE_Q2_K}, -1, 0, KB_EFORMAT, "Q2_K"},
        {"unknown type", {.type1 = 1000}, -1, 0, KB_EFORMAT, "unsupported type"},
        {"alignment 0x30", {.align = 48}, -1, 0, KB_ECORRUPT, "alignment"},
        {"row not a block multiple", {.type1 = GGML_TYPE_Q4_K}, -1, 0, KB_ECORRUPT, "block"},
    };
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        const struct hostile *h = &cases[i];
        struct gb b;
        struct kb_error err = {0};
        struct gguf_file *f = NULL;
        build(&b, &h->s);
        if (h->patch_at >= 0)
            b.buf[h->patch_at] = h->patch_val;
        uint8_t *copy = malloc(b.n);
        memcpy(copy, b.buf, b.n);
        int rc = gguf_open_memory(&f, copy, b.n, &err);
        if (rc != h->code || !strstr(err.msg, h->needle))
            fail_msg("case '%s': rc %d (want %d), msg '%s'", h->what, rc, h->code, err.msg);
        assert_null(f);
        free(copy);
    }
    struct kb_error err = {0};
    struct gguf_file *f = NULL;
    assert_int_equal(gguf_open(&f, "/nonexistent/x.gguf", &err), KB_ENOENT);
    /* the mmap path: a truncated file on disk, an empty file, a directory */
    {
        struct gb b;
        struct spec s0 = {0};
        build(&b, &s0);
        char path[128];
        snprintf(path, sizeof(path), "/tmp/kbox-test-gguf-%d.gguf", (int)getpid());
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(b.buf, 1, b.n - 5, fp), b.n - 5);
        fclose(fp);
        assert_int_equal(gguf_open(&f, path, &err), KB_ECORRUPT);
        assert_non_null(strstr(err.msg, path));
        assert_null(f);
        fp = fopen(path, "wb");
        fclose(fp);
        assert_int_equal(gguf_open(&f, path, &err), KB_EFORMAT);
        unlink(path);
        assert_int_equal(gguf_open(&f, "/tmp", &err), KB_EFORMAT);
    }
    assert_int_equal(gguf_open_memory(&f, NULL, 0, &err), KB_EFORMAT);
}

static void test_type_table(void **state)
{
    (void)state;
    assert_int_equal(ggml_row_bytes(GGML_TYPE_Q4_K, 512), 288);
    assert_int_equal(ggml_row_bytes(GGML_TYPE_Q4_K, 100), 0);
    assert_int_equal(ggml_row_bytes(GGML_TYPE_Q8_0, 64), 68);
    assert_int_equal(ggml_row_bytes(GGML_TYPE_Q6_K, 256), 210);
    assert_int_equal(ggml_row_bytes(GGML_TYPE_Q5_K, 256), 176);
    assert_int_equal(ggml_row_bytes(GGML_TYPE_Q8_K, 256), 292);
    assert_int_equal(ggml_row_bytes(GGML_TYPE_BF16, 3), 6);
    assert_false(ggml_type_supported(GGML_TYPE_Q2_K));
    assert_false(ggml_type_supported(-1));
    assert_false(ggml_type_supported(5000));
    assert_true(ggml_type_supported(GGML_TYPE_Q5_1));
    assert_string_equal(ggml_type_info(GGML_TYPE_Q6_K)->name, "Q6_K");
    /* MXFP4 (39): 32 values in 17 bytes (E8M0 scale + 16 nibble bytes) */
    assert_true(ggml_type_supported(GGML_TYPE_MXFP4));
    assert_string_equal(ggml_type_info(GGML_TYPE_MXFP4)->name, "MXFP4");
    assert_int_equal(ggml_row_bytes(GGML_TYPE_MXFP4, 2880), 90 * 17);
    assert_int_equal(ggml_row_bytes(GGML_TYPE_MXFP4, 48), 0);
    /* a file with an MXFP4 tensor opens, with the block geometry applied to its size */
    struct gb b;
    struct spec s = {.type1 = GGML_TYPE_MXFP4};
    build(&b, &s);
    struct gguf_file *f = NULL;
    struct kb_error err = {0};
    assert_int_equal(gguf_open_memory(&f, b.buf, b.n, &err), 0);
    const struct gguf_tensor *t = gguf_find_tensor(f, "b");
    assert_non_null(t);
    assert_int_equal(t->type, GGML_TYPE_MXFP4);
    assert_int_equal(t->n_bytes, 17);
    gguf_close(f);
}

/* Opens every *.gguf in dir; returns how many. */
static int open_dir(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!kb_str_has_suffix(e->d_name, ".gguf"))
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct gguf_file *f = NULL;
        struct kb_error err = {0};
        int rc = gguf_open(&f, path, &err);
        if (rc != 0)
            fail_msg("%s: %s", path, err.msg);
        const char *arch;
        size_t an;
        assert_true(gguf_get_str(f, "general.architecture", &arch, &an) ||
                    gguf_find_kv(f, "tokenizer.ggml.model") != NULL);
        for (int i = 0; i < gguf_n_tensors(f); i++) {
            const struct gguf_tensor *t = gguf_tensor_at(f, i);
            assert_ptr_equal(gguf_find_tensor(f, t->name), t);
        }
        gguf_close(f);
        n++;
    }
    closedir(d);
    return n;
}

static void test_shared_files(void **state)
{
    (void)state;
    struct stat st;
    if (stat(KBOX_SHARED_DIR "/conformance", &st) != 0) {
        skip();
        return;
    }
    assert_true(open_dir(KBOX_SHARED_DIR "/conformance") >= 20);
    assert_true(open_dir(KBOX_SHARED_DIR "/models") >= 2);
    assert_true(open_dir(KBOX_SHARED_DIR "/vocab") >= 5);

    /* A few facts about stories260K. */
    struct gguf_file *f = NULL;
    struct kb_error err = {0};
    assert_int_equal(gguf_open(&f, KBOX_SHARED_DIR "/models/stories260K.gguf", &err), 0);
    uint32_t v;
    assert_true(gguf_get_u32(f, "llama.embedding_length", &v));
    assert_int_equal(v, 64);
    const char *s;
    size_t n;
    assert_true(gguf_arr_str(f, "tokenizer.ggml.tokens", 1, &s, &n));
    assert_true(n == 3 && memcmp(s, "<s>", 3) == 0);
    const struct gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    gguf_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),       cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_hostile),     cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_shared_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
