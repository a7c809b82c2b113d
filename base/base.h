/* base/base.h: the manual of kbox's bottom layer, used by every other module.
 *
 * - errors: the KB_ERRORS table and struct kb_error (base/err.h);
 * - memory: kb_x* allocators that abort on out-of-memory (sizes the program chooses) and kb_try_*
 *   allocators that are overflow-checked and may fail (sizes taken from input), with a test hook
 *   that injects failures;
 * - struct kb_arena: bump allocation with a byte cap, freed all at once (per request, per document);
 * - struct kb_buf: a growable byte buffer with a hard cap;
 * - logging: a leveled, process-wide sink (stderr by default);
 * - UTF-8: validation, decoding, encoding (strict, and the tokenizers' lenient form) and script classes;
 * - hashing: FNV-1a 32/64 and struct kb_idtab, an open-addressing index of ids over caller-held keys;
 * - small helpers: bounded string copy, strict integer parsing, SHA-256, CPU features, clocks,
 *   available memory;
 * - time zones by IANA name from the system's TZif files (base/tz.c);
 * - JSON: the writer (struct jw) and the reader (kb_json_*), declared in base/json.h, which is
 *   included at the end of this header so every module reaches it through base/base.h.
 *
 * Threads: everything here is thread-safe except kb_alloc_set_fail_hook() and kb_log_set_sink(),
 * which are set once before threads start. Tests: tests/base/. */
#ifndef KB_BASE_BASE_H
#define KB_BASE_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define KB_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond))                                                                     \
            kb_assert_fail(#cond, __FILE__, __LINE__);                                  \
    } while (0)
_Noreturn void kb_assert_fail(const char *expr, const char *file, int line);

#define KB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define KB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KB_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- memory ------------------------------------------------------------------------------------ */

/* Abort with a message on out-of-memory; for sizes the program chooses. Caller owns; free(). */
void *kb_xmalloc(size_t n);
void *kb_xcalloc(size_t count, size_t size);
void *kb_xrealloc(void *p, size_t n);
char *kb_xstrdup(const char *s);
char *kb_xstrndup(const char *s, size_t n);

/* Overflow-checked count*size allocation that may fail: returns NULL when the product overflows,
 * the allocator fails, or the failure hook says so. For sizes taken from input. Caller owns; free(). */
void *kb_try_malloc(size_t count, size_t size);
void *kb_try_calloc(size_t count, size_t size);
void *kb_try_realloc(void *p, size_t count, size_t size);

/* Test hook: when set, kb_try_* call it with the byte count first and fail when it returns true.
 * Process-wide; set it before any thread starts, NULL restores normal behaviour. */
typedef bool (*kb_alloc_fail_fn)(size_t bytes, void *ud);
void kb_alloc_set_fail_hook(kb_alloc_fail_fn fn, void *ud);

/* ---- arena ------------------------------------------------------------------------------------- */

/* A bump allocator over a chain of blocks. Memory lives until kb_arena_release(). */
struct kb_arena {
    struct kb_arena_block *head; /* newest block; owned */
    size_t block_bytes;          /* size of a normal block */
    size_t used_bytes;           /* bytes handed out so far, including alignment padding */
    size_t cap_bytes;            /* hard cap on used_bytes; 0 means SIZE_MAX */
};
void kb_arena_init(struct kb_arena *a, size_t block_bytes, size_t cap_bytes);
void kb_arena_release(struct kb_arena *a); /* frees every block; the arena can be reused */
/* 16-byte aligned; NULL when the cap would be passed or memory runs out. Borrowed until release. */
void *kb_arena_alloc(struct kb_arena *a, size_t n);
char *kb_arena_strndup(struct kb_arena *a, const char *s, size_t n); /* NUL-terminated copy */
char *kb_arena_strdup(struct kb_arena *a, const char *s);

/* ---- growable buffer --------------------------------------------------------------------------- */

/* Bytes with a hard cap. data is always NUL-terminated when non-NULL (the NUL is not counted). */
struct kb_buf {
    char *data;       /* owned; NULL until the first append */
    size_t len;       /* bytes used */
    size_t cap;       /* bytes allocated */
    size_t max_bytes; /* appends past this fail with KB_ETOOBIG; 0 means SIZE_MAX/2 */
};
void kb_buf_init(struct kb_buf *b, size_t max_bytes);
void kb_buf_release(struct kb_buf *b);
void kb_buf_reset(struct kb_buf *b); /* len = 0, keeps memory */
int kb_buf_append(struct kb_buf *b, const void *p, size_t n); /* 0, KB_ETOOBIG or KB_ENOMEM */
int kb_buf_puts(struct kb_buf *b, const char *s);
int kb_buf_putc(struct kb_buf *b, char c);
int kb_buf_printf(struct kb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included, escaping as RFC 8259 requires. */
int kb_buf_put_json_str(struct kb_buf *b, const char *s, size_t n);
/* Ownership of data leaves the buffer (never NULL: "" when empty); caller frees with free(). */
char *kb_buf_take(struct kb_buf *b);

/* ---- logging ----------------------------------------------------------------------------------- */

enum kb_log_level { KB_LOG_DEBUG, KB_LOG_INFO, KB_LOG_WARN, KB_LOG_ERROR, KB_LOG_OFF };
typedef void (*kb_log_sink_fn)(enum kb_log_level level, const char *msg, void *ud);
/* Process-wide; set before threads start. NULL sink restores the default (stderr). */
void kb_log_set_sink(kb_log_sink_fn fn, void *ud);
void kb_log_set_level(enum kb_log_level level);
enum kb_log_level kb_log_get_level(void);
int kb_log_parse_level(const char *name, enum kb_log_level *out); /* "debug".."off"; 0 or KB_EINVAL */
void kb_log(enum kb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define kb_debug(...) kb_log(KB_LOG_DEBUG, __VA_ARGS__)
#define kb_info(...) kb_log(KB_LOG_INFO, __VA_ARGS__)
#define kb_warn(...) kb_log(KB_LOG_WARN, __VA_ARGS__)
#define kb_log_error(...) kb_log(KB_LOG_ERROR, __VA_ARGS__)

/* ---- UTF-8 ------------------------------------------------------------------------------------- */

bool kb_utf8_valid(const char *s, size_t n); /* strict: no overlongs, surrogates or > U+10FFFF */
/* Decodes one code point at s[0..n). Returns its byte length (1..4), or -1 for an invalid sequence
 * (then *cp = U+FFFD and the caller should skip 1 byte). n must be > 0. */
int kb_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* llama.cpp's lenient decoder, for the tokenizers: overlongs and surrogates are returned as decoded,
 * > U+10FFFF gives U+FFFD over its 4 bytes, and a broken sequence gives U+FFFD over 1 byte. Returns
 * the bytes consumed (1..4, never less than 1). n must be > 0. */
int kb_utf8_decode_lenient(const char *s, size_t n, uint32_t *cp);
int kb_utf8_encode(uint32_t cp, char out[4]); /* bytes written; invalid cp encodes U+FFFD */
/* As kb_utf8_encode, but a surrogate (U+D800..U+DFFF) encodes as its own 3 bytes (ED A0 80..ED BF BF)
 * instead of U+FFFD; only cp > U+10FFFF encodes U+FFFD. This is llama.cpp's unicode_cpt_to_utf8: the
 * lenient decoder lets surrogates through, and encoding them back as they were keeps the bytes of
 * invalid input, so a byte-level BPE tokenizes the bytes it was given. */
int kb_utf8_encode_lenient(uint32_t cp, char out[4]);
bool kb_utf8_is_cjk(uint32_t cp);             /* Han, Kana, Hangul, CJK punctuation blocks excluded */
bool kb_utf8_is_han(uint32_t cp);
/* Copies s[0..n) into b replacing invalid sequences with U+FFFD. */
int kb_utf8_sanitize(struct kb_buf *b, const char *s, size_t n);

/* ---- hashing (hash.c) -------------------------------------------------------------------------- */

/* FNV-1a over p[0..n), continuing from h: pass KB_FNV1A*_INIT (the offset basis) to start, an
 * earlier result to hash a key in parts, or a seed of your own. kb_fnv1a64's values are stored on
 * disk (embedder features, FAISS sidecar checksum) and must never change. Inline, like the
 * kb_idtab probes below, because the tokenizers hash and look up once per candidate token or merge:
 * out of line they cost the tokenizer about a tenth more instructions. */
#define KB_FNV1A32_INIT 2166136261u
#define KB_FNV1A64_INIT 14695981039346656037ull
static inline uint32_t kb_fnv1a32(uint32_t h, const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}
static inline uint64_t kb_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* An open-addressing index from keys the caller keeps (names in a file, token texts) to their ids
 * 0..INT32_MAX-1. Power-of-two capacity at least 2 x n_keys, linear probing, no deletion. */
struct kb_idtab {
    int32_t *slots; /* owned: mask + 1 slots, id + 1 or 0 when empty; NULL before init */
    uint32_t mask;  /* capacity - 1 */
};
/* True when the key that id stands for equals key[0..key_len) (key_len may be unused). */
typedef bool (*kb_idtab_eq_fn)(const void *ctx, int32_t id, const void *key, size_t key_len);
/* Sized for n_keys (a count from input): 0, KB_ENOMEM, or KB_ETOOBIG past INT32_MAX/2 keys. */
int kb_idtab_init(struct kb_idtab *t, size_t n_keys);
void kb_idtab_release(struct kb_idtab *t); /* frees the slots; the struct can be initialised again */
/* The id filed under an equal key, or -1 (also for a table never initialised). Inline so that eq,
 * a constant at the call site, folds into the probe loop. */
static inline int32_t kb_idtab_find(const struct kb_idtab *t, uint32_t hash, kb_idtab_eq_fn eq,
                                    const void *ctx, const void *key, size_t key_len)
{
    int32_t found = -1;
    if (!t->slots)
        return -1;
    for (uint32_t i = hash & t->mask; t->slots[i] != 0; i = (i + 1) & t->mask) {
        if (eq(ctx, t->slots[i] - 1, key, key_len)) {
            found = t->slots[i] - 1;
            break;
        }
    }
    return found;
}
/* Files id (0 <= id < INT32_MAX) under key unless an equal key is present; returns the id now filed
 * (the first one wins). The table must be initialised. Inline for the same reason as find. */
static inline int32_t kb_idtab_add(struct kb_idtab *t, uint32_t hash, int32_t id, kb_idtab_eq_fn eq,
                                   const void *ctx, const void *key, size_t key_len)
{
    uint32_t i = hash & t->mask;
    KB_ASSERT(t->slots && id >= 0 && id < INT32_MAX);
    for (; t->slots[i] != 0; i = (i + 1) & t->mask)
        if (eq(ctx, t->slots[i] - 1, key, key_len))
            return t->slots[i] - 1;
    t->slots[i] = id + 1;
    return id;
}

/* ---- strings and numbers ----------------------------------------------------------------------- */

/* Copies at most dst_bytes-1 bytes and always terminates. Returns strlen(src). */
size_t kb_strlcpy(char *dst, const char *src, size_t dst_bytes);
/* Whole-string integer/float parsing: no trailing junk, range-checked. 0 or KB_EINVAL. */
int kb_parse_i64(const char *s, int64_t *out);
int kb_parse_f64(const char *s, double *out);
bool kb_str_has_suffix(const char *s, const char *suffix); /* ASCII case-insensitive */

/* ---- SHA-256 ----------------------------------------------------------------------------------- */

struct kb_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;
    uint8_t block[64];
    size_t block_len;
};
void kb_sha256_init(struct kb_sha256 *s);
void kb_sha256_update(struct kb_sha256 *s, const void *p, size_t n);
void kb_sha256_final(struct kb_sha256 *s, uint8_t out[32]);
void kb_sha256_hex(const uint8_t digest[32], char out[65]);

/* ---- CPU features, clocks and memory ----------------------------------------------------------- */

struct kb_cpu {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16, avx512fp16, avxvnni;
};
void kb_cpu_detect(struct kb_cpu *out);
/* Space-separated names of the features present, e.g. "avx2 fma f16c avx512f". */
void kb_cpu_describe(const struct kb_cpu *c, char *out, size_t out_bytes);

double kb_now_s(void); /* monotonic seconds */
/* MemAvailable from /proc/meminfo in bytes (what can be allocated without swapping), -1 when
 * unknown (no /proc, or an old kernel without the line). */
int64_t kb_mem_available_bytes(void);

/* Time zones by IANA name (base/tz.c): a compiled zone file (TZif, RFC 8536) read and checked by
 * our own parser, so a named zone applies without touching the process-wide TZ. */
struct kb_tz;
/* True when name may name a zone file: letters, digits, "/_+-.", no empty, "." or ".." component. */
bool kb_tz_name_ok(const char *name);
/* Reads zone name from dir (NULL: $TZDIR, else /usr/share/zoneinfo). KB_ECONFIG for a bad or unknown
 * name, KB_ECORRUPT naming what is wrong with the file. Caller owns *out; free with kb_tz_free(). */
int kb_tz_load(const char *dir, const char *name, struct kb_tz **out, struct kb_error *err);
/* The same from n bytes of a TZif file (copies what it keeps). */
int kb_tz_parse(const void *data, size_t n, struct kb_tz **out, struct kb_error *err);
/* Seconds east of UT in force at unix time t. */
int32_t kb_tz_offset(const struct kb_tz *tz, int64_t t);
void kb_tz_free(struct kb_tz *tz);

#include "base/json.h" /* JSON writer and reader; after the declarations it uses */

#endif
