/* config/jsonc.c: reads the config file, JSON with // and block comments (and trailing commas).
 *
 * A small recursive-descent reader walks nested objects, joins their names into dotted keys
 * ({"answer": {"model": ...}} is "answer.model") and records every leaf with its line. All leaves
 * are checked against a scratch config first and applied to the caller's only when every one is
 * valid, so a bad file changes nothing. Errors name file:line and the key. Arrays and null are not
 * config values. Tests: tests/config/test_config.c. */
#include "config/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSONC_MAX_FILE_BYTES (4u << 20)
#define JSONC_MAX_DEPTH 8
#define JSONC_MAX_LEAVES 1024

struct jsonc_leaf {
    int key;                 /* config key index */
    int line;
    struct config_value v;   /* v.s points into the reader's string arena */
};

struct jsonc {
    const char *p, *end;
    int line;
    const char *path;        /* file name for messages */
    struct kb_error *err;
    struct kb_arena strings; /* decoded strings */
    struct jsonc_leaf *leaves;
    int n_leaves;
};

static int jsonc_fail(struct jsonc *j, const char *what)
{
    return kb_error_set(j->err, KB_ECONFIG, "%s:%d: %s", j->path, j->line, what);
}

/* Skips white space and comments; fails on an unterminated block comment. */
static int jsonc_skip(struct jsonc *j)
{
    while (j->p < j->end) {
        char c = *j->p;
        if (c == '\n') {
            j->line++;
            j->p++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            j->p++;
        } else if (c == '/' && j->p + 1 < j->end && j->p[1] == '/') {
            while (j->p < j->end && *j->p != '\n')
                j->p++;
        } else if (c == '/' && j->p + 1 < j->end && j->p[1] == '*') {
            j->p += 2;
            while (j->p + 1 < j->end && !(j->p[0] == '*' && j->p[1] == '/')) {
                if (*j->p == '\n')
                    j->line++;
                j->p++;
            }
            if (j->p + 1 >= j->end)
                return jsonc_fail(j, "unterminated comment");
            j->p += 2;
        } else {
            break;
        }
    }
    return 0;
}

static int jsonc_hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Reads a string literal at j->p (which is '"') into the arena. */
static int jsonc_string(struct jsonc *j, const char **out)
{
    struct kb_buf b;
    int rc = 0;
    kb_buf_init(&b, JSONC_MAX_FILE_BYTES);
    j->p++;
    while (!rc) {
        char c;
        if (j->p >= j->end || *j->p == '\n') {
            rc = jsonc_fail(j, "unterminated string");
            break;
        }
        c = *j->p++;
        if (c == '"')
            break;
        if ((unsigned char)c < 0x20) {
            rc = jsonc_fail(j, "control character in string");
        } else if (c != '\\') {
            rc = kb_buf_putc(&b, c);
        } else {
            char e = j->p < j->end ? *j->p++ : '\0';
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                static const char map[] = "\"\\/\b\f\n\r\t";
                rc = kb_buf_putc(&b, map[simple - "\"\\/bfnrt"]);
            } else if (e == 'u' && j->end - j->p >= 4) {
                uint32_t cp, lo;
                char enc[4];
                if (jsonc_hex4(j->p, &cp)) {
                    rc = jsonc_fail(j, "bad \\u escape");
                    break;
                }
                j->p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && j->end - j->p >= 6 && j->p[0] == '\\' &&
                    j->p[1] == 'u' && !jsonc_hex4(j->p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    j->p += 6;
                }
                rc = kb_buf_append(&b, enc, (size_t)kb_utf8_encode(cp, enc));
            } else {
                rc = jsonc_fail(j, "bad escape in string");
            }
        }
    }
    if (!rc) {
        *out = kb_arena_strndup(&j->strings, b.data ? b.data : "", b.len);
        if (!*out)
            rc = kb_error_set(j->err, KB_ENOMEM, "%s: out of memory", j->path);
    }
    kb_buf_release(&b);
    return rc;
}

static int jsonc_number(struct jsonc *j, struct config_value *v)
{
    const char *s = j->p;
    bool integral = true;
    char tmp[64];
    size_t n;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    while (j->p < j->end && (isalnum((unsigned char)*j->p) || strchr(".+-", *j->p))) {
        if (strchr(".eE", *j->p))
            integral = false;
        j->p++;
    }
    n = (size_t)(j->p - s);
    if (n == 0 || n >= sizeof tmp)
        return jsonc_fail(j, "bad number");
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (integral) {
        v->type = CONFIG_T_INT;
        if (kb_parse_i64(tmp, &v->i))
            return jsonc_fail(j, "bad number");
    } else {
        v->type = CONFIG_T_FLOAT;
        if (kb_parse_f64(tmp, &v->f))
            return jsonc_fail(j, "bad number");
    }
    return 0;
}

static bool jsonc_word(struct jsonc *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) >= n && memcmp(j->p, w, n) == 0) {
        j->p += n;
        return true;
    }
    return false;
}

static int jsonc_object(struct jsonc *j, char *path, size_t path_len, int depth);

/* Reads the value of key `path`: a nested object, or a leaf that must be a known key. */
static int jsonc_value(struct jsonc *j, char *path, size_t path_len, int depth)
{
    struct config_value v = {0};
    int line = j->line, key, rc = 0;
    if (j->p >= j->end)
        return jsonc_fail(j, "unexpected end of file");
    if (*j->p == '{')
        return jsonc_object(j, path, path_len, depth + 1);
    if (*j->p == '[')
        return jsonc_fail(j, "arrays are not config values");
    key = config_find(path);
    if (key < 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "unknown config key '%s'", path);
        return jsonc_fail(j, msg);
    }
    if (*j->p == '"') {
        v.type = CONFIG_T_STR;
        rc = jsonc_string(j, &v.s);
    } else if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
        rc = jsonc_number(j, &v);
    } else if (jsonc_word(j, "true")) {
        v.type = CONFIG_T_BOOL;
        v.b = true;
    } else if (jsonc_word(j, "false")) {
        v.type = CONFIG_T_BOOL;
    } else if (jsonc_word(j, "null")) {
        v.type = CONFIG_T_NULL;
    } else {
        return jsonc_fail(j, "expected a value");
    }
    if (rc)
        return rc;
    if (j->n_leaves == JSONC_MAX_LEAVES)
        return jsonc_fail(j, "too many keys");
    j->leaves[j->n_leaves++] = (struct jsonc_leaf){.key = key, .line = line, .v = v};
    return 0;
}

static int jsonc_object(struct jsonc *j, char *path, size_t path_len, int depth)
{
    int rc;
    if (depth > JSONC_MAX_DEPTH)
        return jsonc_fail(j, "objects nested too deeply");
    j->p++; /* '{' */
    for (;;) {
        const char *name;
        size_t name_len;
        if ((rc = jsonc_skip(j)))
            return rc;
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return 0;
        }
        if (j->p >= j->end || *j->p != '"')
            return jsonc_fail(j, "expected a key in quotes");
        if ((rc = jsonc_string(j, &name)))
            return rc;
        name_len = strlen(name);
        if (path_len + 1 + name_len >= 256)
            return jsonc_fail(j, "key too long");
        if (path_len)
            path[path_len] = '.';
        memcpy(path + path_len + (path_len ? 1 : 0), name, name_len + 1);
        if ((rc = jsonc_skip(j)))
            return rc;
        if (j->p >= j->end || *j->p != ':')
            return jsonc_fail(j, "expected ':' after key");
        j->p++;
        if ((rc = jsonc_skip(j)))
            return rc;
        if ((rc = jsonc_value(j, path, path_len + (path_len ? 1 : 0) + name_len, depth)))
            return rc;
        path[path_len] = '\0';
        if ((rc = jsonc_skip(j)))
            return rc;
        if (j->p < j->end && *j->p == ',') {
            j->p++;
        } else if (j->p < j->end && *j->p == '}') {
            j->p++;
            return 0;
        } else {
            return jsonc_fail(j, "expected ',' or '}'");
        }
    }
}

static int jsonc_read_file(const char *path, struct kb_buf *b, struct kb_error *err)
{
    FILE *f = fopen(path, "rb");
    char chunk[8192];
    size_t n;
    int rc = 0;
    if (!f)
        return kb_error_set(err, KB_ENOENT, "cannot read config '%s': %s", path, strerror(errno));
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = kb_buf_append(b, chunk, n);
    if (!rc && ferror(f))
        rc = kb_error_set(err, KB_EIO, "cannot read config '%s'", path);
    else if (rc)
        rc = kb_error_set(err, KB_ECONFIG, "config '%s' is larger than 4 MiB", path);
    fclose(f);
    return rc;
}

int config_read_file(struct config *cfg, const char *path, enum config_source src, struct kb_error *err)
{
    struct kb_buf text;
    struct jsonc j = {.line = 1, .path = path, .err = err};
    struct config scratch;
    char keypath[256] = "";
    int rc;
    kb_buf_init(&text, JSONC_MAX_FILE_BYTES);
    kb_arena_init(&j.strings, 16384, 0);
    j.leaves = kb_xcalloc(JSONC_MAX_LEAVES, sizeof *j.leaves);
    config_init(&scratch);
    rc = jsonc_read_file(path, &text, err);
    if (rc)
        goto out;
    j.p = text.data ? text.data : "";
    j.end = j.p + text.len;
    if (!kb_utf8_valid(j.p, text.len)) {
        rc = jsonc_fail(&j, "file is not valid UTF-8");
        goto out;
    }
    if ((rc = jsonc_skip(&j)))
        goto out;
    if (j.p >= j.end || *j.p != '{') {
        rc = jsonc_fail(&j, "the file must hold one JSON object");
        goto out;
    }
    if ((rc = jsonc_object(&j, keypath, 0, 0)) || (rc = jsonc_skip(&j)))
        goto out;
    if (j.p != j.end) {
        rc = jsonc_fail(&j, "unexpected text after the object");
        goto out;
    }
    /* Check every leaf on the scratch copy, then apply them all. */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (int i = 0; i < j.n_leaves && !rc; i++) {
            char origin[300];
            snprintf(origin, sizeof origin, "%s:%d", path, j.leaves[i].line);
            rc = config_assign(pass ? cfg : &scratch, j.leaves[i].key, &j.leaves[i].v, src, origin,
                               err);
        }
    }
out:
    config_release(&scratch);
    free(j.leaves);
    kb_arena_release(&j.strings);
    kb_buf_release(&text);
    return rc;
}

int config_load_file(struct config *cfg, const char *path, struct kb_error *err)
{
    return config_read_file(cfg, path, CONFIG_SRC_FILE, err);
}

int config_load_overrides(struct config *cfg, const char *path, struct kb_error *err)
{
    return config_read_file(cfg, path, CONFIG_SRC_SETTINGS, err);
}
