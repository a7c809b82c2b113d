/* base/json.h: kbox's one JSON writer and one JSON reader, shared by every module that speaks JSON
 * (rag renders answers and reads evaluation files, web decodes request bodies and writes responses,
 * cli prints --json output).
 *
 * Writer (json_write.c): struct jw writes an object or array incrementally into a capped kb_buf,
 * tracking commas per nesting level. Every string goes through kb_buf_put_json_str (quotes,
 * backslashes and control characters escaped); invalid UTF-8 is first replaced by U+FFFD, so
 * document text can never make invalid JSON. The first kb_buf failure (the cap) is sticky in
 * w->rc; callers check it once at the end. The short `jw_` prefix instead of `kb_` is deliberate:
 * the writer is called on nearly every line of every renderer, and `jw_str(&w, "key", v)` reads as
 * the JSON it writes.
 *
 * Reader (json.c, the only file of kbox that includes cJSON): a parsed value is an opaque struct
 * kb_json tree with borrowed accessors, plus a table-driven decoder that fills a plain C struct
 * from one JSON object (struct kb_jfield), copying strings into an arena. Parse errors name the
 * byte position. Both are thread-safe (cJSON_ParseWithOpts, no global error pointer).
 *
 * Tests: tests/web/test_web_units.c (writer escaping), tests/web/test_web.c (the decoder's 400
 * cases), tests/cli/test_json_same.c (the reader's tree comparison). */
#ifndef KB_BASE_JSON_H
#define KB_BASE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ---- writer (json_write.c) ------------------------------------------------------------------------ */

#define JW_MAX_DEPTH 16

struct jw {
    struct kb_buf *b;            /* borrowed; the output */
    int depth;                   /* open objects and arrays */
    bool first[JW_MAX_DEPTH];    /* per nesting level: no comma before the next member */
    int rc;                      /* first error from kb_buf; sticky */
};
void jw_init(struct jw *w, struct kb_buf *b);
void jw_obj(struct jw *w, const char *key);      /* key NULL inside arrays / at top */
void jw_arr(struct jw *w, const char *key);
void jw_end_obj(struct jw *w);
void jw_end_arr(struct jw *w);
void jw_str(struct jw *w, const char *key, const char *v);   /* NULL v writes null */
void jw_strn(struct jw *w, const char *key, const char *v, size_t n);
void jw_int(struct jw *w, const char *key, int64_t v);
void jw_num(struct jw *w, const char *key, double v);        /* %.9g; NaN and inf write null */
void jw_bool(struct jw *w, const char *key, bool v);
void jw_null(struct jw *w, const char *key);
void jw_raw(struct jw *w, const char *key, const char *json); /* pre-encoded JSON value */

/* ---- reader: a parsed tree (json.c) ----------------------------------------------------------------- */

struct kb_json; /* opaque; one value of a parsed tree */

enum kb_json_kind {
    KB_JSON_INVALID,  /* a NULL value (absent member) */
    KB_JSON_NULL,
    KB_JSON_BOOL,
    KB_JSON_NUMBER,
    KB_JSON_STRING,
    KB_JSON_ARRAY,
    KB_JSON_OBJECT,
};

/* Parses text (n bytes, NUL-terminated at n). With end NULL the whole text must be one value
 * (surrounding whitespace allowed); otherwise *end gets the offset just past the value and
 * trailing bytes are allowed. KB_EJSON names the byte where parsing stopped. *out is NULL on
 * failure; caller owns; free with kb_json_free(). */
int kb_json_parse(struct kb_json **out, const char *text, size_t n, size_t *end, struct kb_error *err);
void kb_json_free(struct kb_json *v); /* NULL ok */

enum kb_json_kind kb_json_kind(const struct kb_json *v);
/* Member key of an object (borrowed; valid until the tree is freed); NULL for NULL v. */
const struct kb_json *kb_json_get(const struct kb_json *obj, const char *key);
const char *kb_json_str(const struct kb_json *v);   /* borrowed; NULL unless a string */
double kb_json_num(const struct kb_json *v);        /* 0 unless a number */
/* A number truncated to an integer and clamped to [lo, hi] (NaN counts as lo): safe to
 * take from untrusted JSON, where a plain cast of 1e35 is undefined behaviour. */
int64_t kb_json_i64(const struct kb_json *v, int64_t lo, int64_t hi);
/* Children of an array or object in order: first, then next until NULL. Borrowed. */
const struct kb_json *kb_json_first(const struct kb_json *v);
const struct kb_json *kb_json_next(const struct kb_json *v);
const char *kb_json_key(const struct kb_json *member); /* an object member's name; borrowed */
int kb_json_count(const struct kb_json *v);          /* children of an array or object, else 0 */
/* Deletes member key of obj (every occurrence). True when there was one. */
bool kb_json_remove(struct kb_json *obj, const char *key);
/* Deep equality: same kinds, numbers, strings, members (in any order) and elements (in order). */
bool kb_json_equal(const struct kb_json *a, const struct kb_json *b);
/* Compact text of v. Caller owns; free with free(). NULL when v is NULL. */
char *kb_json_print(const struct kb_json *v);

/* ---- reader: decoding an object into a C struct (json.c) -------------------------------------------- */

enum kb_jtype {
    KB_J_STR,      /* char * (arena copy) */
    KB_J_INT,      /* int64_t */
    KB_J_DOUBLE,   /* double */
    KB_J_BOOL,     /* bool */
    KB_J_IDNAME,   /* char *: a string, or an integer rendered as text (collections by name or id) */
    KB_J_TEXT,     /* char *: a string, or an array of {"type":"text","text":..} parts joined */
    KB_J_STRS,     /* char **: a string or an array of strings; count at count_off */
    KB_J_OBJS,     /* array of objects decoded with sub (elements of elem_bytes) into a pointer at
                      off; count at count_off */
    KB_J_ANY,      /* char *: any JSON value re-encoded as text ("1", "true", "\"s\"" -> "s") */
};

struct kb_jfield {
    const char *name;                  /* member name; NULL ends a table */
    enum kb_jtype type;
    size_t off;                        /* offsetof in the target struct */
    bool required;
    size_t count_off;                  /* KB_J_STRS, KB_J_OBJS: offsetof an int count */
    const struct kb_jfield *sub;       /* KB_J_OBJS: fields of one element, NULL-name terminated */
    size_t elem_bytes;                 /* KB_J_OBJS */
    int64_t max_items;                 /* KB_J_STRS, KB_J_OBJS: cap on elements */
};

/* Parses body (n bytes, NUL-terminated) as one JSON object and fills out by fields. Unknown
 * members are ignored; absent or null members keep the caller's value. KB_EJSON with the reason
 * and position for malformed JSON, a missing required member or a wrong type (naming the member);
 * KB_ETOOBIG when the arena or a max_items cap is exceeded. Strings are copied into arena.
 * err must not be NULL. */
int kb_json_decode(const char *body, size_t n, const struct kb_jfield *fields, void *out,
                   struct kb_arena *arena, struct kb_error *err);
/* Calls fn(ud, key, value-as-text) for each member of the object in body, in order; value text
 * as for KB_J_ANY (copied into arena). KB_EJSON when body is not an object; fn's nonzero return
 * stops the walk and is returned. err must not be NULL. */
typedef int (*kb_json_member_fn)(void *ud, const char *key, const char *value, struct kb_error *err);
int kb_json_members(const char *body, size_t n, kb_json_member_fn fn, void *ud, struct kb_arena *arena,
                    struct kb_error *err);

#endif
