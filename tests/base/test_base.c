/* tests/base/test_base.c: the error table, allocation with failure injection, the arena's cap, the
 * capped buffer, the log sink, UTF-8 (both encoders), small helpers, SHA-256 (FIPS 180-4 vectors),
 * FNV-1a (published test vectors) and the id table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static void test_err_table(void **state)
{
    (void)state;
    struct kb_error err = {0};
    assert_int_equal(KB_OK, 0);
    assert_true(KB_EINVAL < 0 && KB_EINTERNAL < 0);
    assert_int_equal(kb_err_http_status(KB_ENOENT), 404);
    assert_int_equal(kb_err_http_status(KB_ETOOBIG), 413);
    assert_int_equal(kb_err_http_status(KB_EMETHOD), 405);
    assert_int_equal(kb_err_exit_code(KB_EUSAGE), 1);
    assert_int_equal(kb_err_exit_code(KB_ECONFIG), 2);
    assert_int_equal(kb_err_exit_code(KB_EIO), 3);
    assert_int_equal(kb_err_exit_code(-9999), 3);
    assert_string_equal(kb_err_name(KB_ENOMEM), "ENOMEM");
    assert_string_equal(kb_strerror(1), "unknown error");
    assert_int_equal(kb_error_set(&err, KB_EFORMAT, "cannot open '%s': not a PDF file", "a.pdf"), KB_EFORMAT);
    assert_int_equal(err.code, KB_EFORMAT);
    assert_string_equal(err.msg, "cannot open 'a.pdf': not a PDF file");
    kb_error_prefix(&err, "ingest");
    assert_string_equal(err.msg, "ingest: cannot open 'a.pdf': not a PDF file");
    assert_int_equal(kb_error_set(NULL, KB_EIO, "x"), KB_EIO); /* NULL err is allowed */
    kb_error_clear(&err);
    assert_string_equal(kb_error_msg(&err, KB_ENOENT), "not found");
}

static bool fail_big(size_t bytes, void *ud)
{
    return bytes >= *(size_t *)ud;
}

static void test_alloc(void **state)
{
    (void)state;
    size_t limit = 1000;
    void *p;
    assert_null(kb_try_malloc(SIZE_MAX / 2, 4)); /* overflow */
    p = kb_try_malloc(10, 10);
    assert_non_null(p);
    free(p);
    kb_alloc_set_fail_hook(fail_big, &limit);
    assert_null(kb_try_malloc(10, 100));
    p = kb_try_calloc(10, 99);
    assert_non_null(p);
    free(p);
    kb_alloc_set_fail_hook(NULL, NULL);
    p = kb_try_malloc(10, 100);
    assert_non_null(p);
    free(p);
    char *s = kb_xstrndup("hello world", 5);
    assert_string_equal(s, "hello");
    free(s);
}

static void test_arena(void **state)
{
    (void)state;
    struct kb_arena a;
    kb_arena_init(&a, 128, 1024);
    char *s = kb_arena_strdup(&a, "abc");
    assert_string_equal(s, "abc");
    assert_true(((uintptr_t)kb_arena_alloc(&a, 3) & 15) == 0);
    assert_non_null(kb_arena_alloc(&a, 500)); /* bigger than a block: its own block */
    assert_null(kb_arena_alloc(&a, 600));     /* would pass the 1024-byte cap */
    assert_non_null(kb_arena_alloc(&a, 100));
    kb_arena_release(&a);
    assert_int_equal(a.used_bytes, 0);
    assert_non_null(kb_arena_alloc(&a, 900)); /* reusable after release */
    kb_arena_release(&a);
}

static void test_buf(void **state)
{
    (void)state;
    struct kb_buf b;
    kb_buf_init(&b, 16);
    assert_int_equal(kb_buf_puts(&b, "hello"), 0);
    assert_int_equal(kb_buf_printf(&b, " %d", 42), 0);
    assert_string_equal(b.data, "hello 42");
    assert_int_equal(kb_buf_puts(&b, "0123456789"), KB_ETOOBIG); /* 18 > 16 */
    assert_string_equal(b.data, "hello 42");                    /* unchanged */
    assert_int_equal(kb_buf_printf(&b, "%s", "0123456789"), KB_ETOOBIG);
    kb_buf_reset(&b);
    assert_int_equal(b.len, 0);
    kb_buf_release(&b);
    kb_buf_init(&b, 0);
    assert_int_equal(kb_buf_put_json_str(&b, "a\"b\\c\n\x01", 7), 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    char *t = kb_buf_take(&b);
    assert_null(b.data);
    free(t);
    t = kb_buf_take(&b); /* empty buffer gives "" */
    assert_string_equal(t, "");
    free(t);
}

struct log_capture {
    int n;
    enum kb_log_level last_level;
    char last[256];
};

static void capture_sink(enum kb_log_level level, const char *msg, void *ud)
{
    struct log_capture *c = ud;
    c->n++;
    c->last_level = level;
    kb_strlcpy(c->last, msg, sizeof c->last);
}

static void test_log(void **state)
{
    (void)state;
    struct log_capture cap = {0};
    enum kb_log_level lv;
    kb_log_set_sink(capture_sink, &cap);
    kb_log_set_level(KB_LOG_WARN);
    kb_info("hidden %d", 1);
    kb_warn("shown %d", 2);
    assert_int_equal(cap.n, 1);
    assert_int_equal(cap.last_level, KB_LOG_WARN);
    assert_string_equal(cap.last, "shown 2");
    assert_int_equal(kb_log_parse_level("debug", &lv), 0);
    assert_int_equal(lv, KB_LOG_DEBUG);
    assert_int_equal(kb_log_parse_level("loud", &lv), KB_EINVAL);
    kb_log_set_sink(NULL, NULL);
    kb_log_set_level(KB_LOG_INFO);
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool valid;
    } cases[] = {
        {"plain ascii", true},
        {"退货政策", true},
        {"caf\xc3\xa9", true},
        {"\xf0\x9f\x98\x80", true},          /* emoji */
        {"\xc0\xaf", false},                 /* overlong '/' */
        {"\xed\xa0\x80", false},             /* surrogate */
        {"\xf4\x90\x80\x80", false},         /* > U+10FFFF */
        {"\xe4\xb8", false},                 /* truncated */
        {"\xff", false},
    };
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++)
        assert_int_equal(kb_utf8_valid(cases[i].s, strlen(cases[i].s)), cases[i].valid);
    uint32_t cp;
    assert_int_equal(kb_utf8_decode("退", 3, &cp), 3);
    assert_int_equal(cp, 0x9000);
    assert_true(kb_utf8_is_han(cp) && kb_utf8_is_cjk(cp));
    assert_false(kb_utf8_is_cjk('a'));
    assert_true(kb_utf8_is_cjk(0x30A2)); /* katakana */
    /* both decoders over the same bytes: strict length (-1 = invalid), lenient length and value */
    static const struct {
        const char *s;
        size_t n;
        int strict_len;
        int lenient_len;
        uint32_t lenient_cp;
    } dec[] = {
        {"A", 1, 1, 1, 'A'},
        {"\xc3\xa9", 2, 2, 2, 0xE9},
        {"\xf0\x9f\x98\x80", 4, 4, 4, 0x1F600},
        {"\xc0\xaf", 2, -1, 2, '/'},              /* overlong: lenient takes it */
        {"\xe0\x80\xaf", 3, -1, 3, '/'},
        {"\xed\xa0\x80", 3, -1, 3, 0xD800},       /* surrogate: lenient takes it */
        {"\xf4\x90\x80\x80", 4, -1, 4, 0xFFFD},  /* > U+10FFFF: U+FFFD over 4 bytes */
        {"\xf7\xbf\xbf\xbf", 4, -1, 4, 0xFFFD},
        {"\xe4\xb8", 2, -1, 1, 0xFFFD},            /* truncated: one byte */
        {"\xe4\x41\x41", 3, -1, 1, 0xFFFD},       /* bad continuation */
        {"\x80", 1, -1, 1, 0xFFFD},                /* stray continuation */
        {"\xf8\x88\x80\x80\x80", 5, -1, 1, 0xFFFD}, /* 5-byte form */
        {"\xff", 1, -1, 1, 0xFFFD},
    };
    for (size_t i = 0; i < KB_ARRAY_LEN(dec); i++) {
        uint32_t c1, c2;
        assert_int_equal(kb_utf8_decode(dec[i].s, dec[i].n, &c1), dec[i].strict_len);
        if (dec[i].strict_len < 0)
            assert_int_equal(c1, 0xFFFD);
        assert_int_equal(kb_utf8_decode_lenient(dec[i].s, dec[i].n, &c2), dec[i].lenient_len);
        assert_int_equal(c2, dec[i].lenient_cp);
    }
    char out[4];
    assert_int_equal(kb_utf8_encode(0x1F600, out), 4);
    assert_memory_equal(out, "\xf0\x9f\x98\x80", 4);
    assert_int_equal(kb_utf8_encode(0xD800, out), 3); /* U+FFFD */
    assert_memory_equal(out, "\xef\xbf\xbd", 3);
    assert_int_equal(kb_utf8_encode(0x110000, out), 3);
    assert_memory_equal(out, "\xef\xbf\xbd", 3);
    /* the tokenizers' form keeps a surrogate's own bytes, and agrees everywhere else */
    assert_int_equal(kb_utf8_encode_lenient(0xD800, out), 3);
    assert_memory_equal(out, "\xed\xa0\x80", 3);
    assert_int_equal(kb_utf8_encode_lenient(0xDFFF, out), 3);
    assert_memory_equal(out, "\xed\xbf\xbf", 3);
    assert_int_equal(kb_utf8_encode_lenient(0x110000, out), 3);
    assert_memory_equal(out, "\xef\xbf\xbd", 3);
    static const uint32_t same[] = {0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF};
    for (size_t i = 0; i < KB_ARRAY_LEN(same); i++) {
        char a[4], b4[4];
        int na = kb_utf8_encode(same[i], a);
        assert_int_equal(kb_utf8_encode_lenient(same[i], b4), na);
        assert_memory_equal(a, b4, (size_t)na);
    }
    struct kb_buf b;
    kb_buf_init(&b, 0);
    assert_int_equal(kb_utf8_sanitize(&b, "a\xffz", 3), 0);
    assert_string_equal(b.data, "a\xef\xbf\xbdz");
    kb_buf_release(&b);
}

static void test_util(void **state)
{
    (void)state;
    char small[4];
    int64_t v;
    double d;
    assert_int_equal(kb_strlcpy(small, "abcdef", sizeof small), 6);
    assert_string_equal(small, "abc");
    assert_int_equal(kb_parse_i64("-42", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(kb_parse_i64("42x", &v), KB_EINVAL);
    assert_int_equal(kb_parse_i64("", &v), KB_EINVAL);
    assert_int_equal(kb_parse_i64("99999999999999999999", &v), KB_EINVAL);
    assert_int_equal(kb_parse_f64("0.25", &d), 0);
    assert_true(d == 0.25);
    assert_int_equal(kb_parse_f64("nan", &d), KB_EINVAL);
    assert_true(kb_str_has_suffix("a.PDF", ".pdf"));
    assert_false(kb_str_has_suffix("pdf", ".pdf"));
    struct kb_cpu cpu;
    char desc[256];
    kb_cpu_detect(&cpu);
    kb_cpu_describe(&cpu, desc, sizeof desc);
    if (cpu.avx2)
        assert_non_null(strstr(desc, "avx2"));
    assert_true(kb_now_s() > 0);
    int64_t avail = kb_mem_available_bytes(); /* -1 only without /proc/meminfo's MemAvailable */
    assert_true(avail == -1 || avail > 0);
}

/* FNV-1a test vectors (the reference's published values) and the table of ids over outside keys. */
static bool name_eq(const void *ctx, int32_t id, const void *key, size_t n)
{
    const char *const *names = ctx;
    return strlen(names[id]) == n && memcmp(names[id], key, n) == 0;
}

static void test_hash(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint32_t h32;
        uint64_t h64;
    } cases[] = {
        {"", 0x811c9dc5u, 0xcbf29ce484222325ull},
        {"a", 0xe40c292cu, 0xaf63dc4c8601ec8cull},
        {"b", 0xe70c2de5u, 0xaf63df4c8601f1a5ull},
        {"foobar", 0xbf9cf968u, 0x85944171f73967e8ull},
    };
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        size_t n = strlen(cases[i].s);
        assert_int_equal(kb_fnv1a32(KB_FNV1A32_INIT, cases[i].s, n), cases[i].h32);
        assert_true(kb_fnv1a64(KB_FNV1A64_INIT, cases[i].s, n) == cases[i].h64);
    }
    /* continuation: hashing in parts equals hashing the whole */
    assert_int_equal(kb_fnv1a32(kb_fnv1a32(KB_FNV1A32_INIT, "foo", 3), "bar", 3), 0xbf9cf968u);
    assert_true(kb_fnv1a64(kb_fnv1a64(KB_FNV1A64_INIT, "foo", 3), "bar", 3) == 0x85944171f73967e8ull);

    static const char *const names[] = {"alpha", "beta", "gamma", "alpha", "delta"};
    struct kb_idtab t = {0};
    assert_int_equal(kb_idtab_find(&t, 0, name_eq, names, "alpha", 5), -1); /* never initialised */
    assert_int_equal(kb_idtab_init(&t, KB_ARRAY_LEN(names)), 0);
    assert_int_equal(t.mask + 1, 16);
    for (int32_t i = 0; i < (int32_t)KB_ARRAY_LEN(names); i++) {
        size_t n = strlen(names[i]);
        uint32_t h = kb_fnv1a32(KB_FNV1A32_INIT, names[i], n) & 3; /* few buckets: collisions probe */
        assert_int_equal(kb_idtab_add(&t, h, i, name_eq, names, names[i], n), i == 3 ? 0 : i);
    }
    for (int32_t i = 0; i < (int32_t)KB_ARRAY_LEN(names); i++) {
        size_t n = strlen(names[i]);
        uint32_t h = kb_fnv1a32(KB_FNV1A32_INIT, names[i], n) & 3;
        assert_int_equal(kb_idtab_find(&t, h, name_eq, names, names[i], n), i == 3 ? 0 : i);
    }
    assert_int_equal(kb_idtab_find(&t, 1, name_eq, names, "omega", 5), -1);
    kb_idtab_release(&t);
    assert_null(t.slots);
    assert_int_equal(kb_idtab_init(&t, 100), 0);
    assert_int_equal(t.mask + 1, 256);
    kb_idtab_release(&t);
    assert_int_equal(kb_idtab_init(&t, (size_t)INT32_MAX), KB_ETOOBIG);
}

static void test_sha256(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        const char *hex;
    } cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        struct kb_sha256 s;
        uint8_t d[32];
        char hex[65];
        kb_sha256_init(&s);
        /* feed one byte at a time to exercise block boundaries */
        for (const char *p = cases[i].msg; *p; p++)
            kb_sha256_update(&s, p, 1);
        kb_sha256_final(&s, d);
        kb_sha256_hex(d, hex);
        assert_string_equal(hex, cases[i].hex);
    }
    /* one million 'a' */
    struct kb_sha256 s;
    uint8_t d[32];
    char hex[65], chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    kb_sha256_init(&s);
    for (int i = 0; i < 1000; i++)
        kb_sha256_update(&s, chunk, sizeof chunk);
    kb_sha256_final(&s, d);
    kb_sha256_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Integers taken from untrusted JSON are clamped, never cast out of range (a fuzzer found
 * usage.prompt_tokens = 1e35 in a remote stream). */
static void test_json_i64(void **state)
{
    (void)state;
    struct kb_json *v = NULL;
    const char *t = "{\"a\":12.9,\"big\":1e35,\"neg\":-1e35,\"s\":\"7\",\"m\":-3}";
    assert_int_equal(kb_json_parse(&v, t, strlen(t), NULL, NULL), 0);
    assert_int_equal(kb_json_i64(kb_json_get(v, "a"), 0, 100), 12);
    assert_int_equal(kb_json_i64(kb_json_get(v, "big"), 0, INT32_MAX), INT32_MAX);
    assert_true(kb_json_i64(kb_json_get(v, "big"), 0, INT64_MAX) == INT64_MAX);
    assert_int_equal(kb_json_i64(kb_json_get(v, "neg"), -5, 5), -5);
    assert_int_equal(kb_json_i64(kb_json_get(v, "s"), 0, 100), 0);       /* not a number */
    assert_int_equal(kb_json_i64(kb_json_get(v, "missing"), 0, 100), 0);
    assert_int_equal(kb_json_i64(kb_json_get(v, "m"), -10, 10), -3);
    kb_json_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table), cmocka_unit_test(test_alloc),  cmocka_unit_test(test_arena),
        cmocka_unit_test(test_buf),       cmocka_unit_test(test_log),    cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_util),      cmocka_unit_test(test_sha256), cmocka_unit_test(test_hash),
        cmocka_unit_test(test_json_i64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
