/* config/config.c: the key table generated from config/keys.h, and the operations on struct config:
 * defaults, typed assignment with validation, environment variables and `config show`.
 *
 * Every assignment goes through config_assign(), which converts and checks a value against its key
 * before anything is changed, so a rejected value never leaves cfg half-written. Where each value
 * came from is kept in cfg->origins (one entry per key) for `kbox config show`, config_key_source
 * and config_write_overrides, which renders the keys whose source is CONFIG_SRC_SETTINGS as the
 * run-time settings file (flat dotted keys; rag/ saves it as settings.json). The file reader is
 * config/jsonc.c. Tests: tests/config/test_config.c. */
#include "config/config_int.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_DEF_INT(d) .def_num = (d)
#define CONFIG_DEF_FLOAT(d) .def_num = (d)
#define CONFIG_DEF_BOOL(d) .def_num = (d)
#define CONFIG_DEF_STR(d) .def_str = (d)

static const struct config_meta config_metas[] = {
#define CONFIG_META_(sect, name, type_, def, lo_, hi_, help_)                                        \
    {.key = #sect "." #name, .type = CONFIG_T_##type_, CONFIG_DEF_##type_(def), .lo = (lo_),         \
     .hi = (hi_), .help = help_, .offset = offsetof(struct config, sect##_##name)},
    KB_CONFIG_KEYS(CONFIG_META_)
#undef CONFIG_META_
};

#define CONFIG_N_KEYS ((int)KB_ARRAY_LEN(config_metas))

/* Keys whose strings must be one of a fixed set. */
static const struct {
    const char *key;
    const char *choices[6];
} config_choices[] = {
    {"log.level", {"debug", "info", "warn", "error", "off", NULL}},
    {"index.fusion", {"rrf", "weighted", NULL}},
    {"index.ann", {"ivf", "hnsw", NULL}},
    {"store.backend", {"sqlite", "postgres", NULL}},
    {"widget.lang", {"en", "zh", NULL}},
    {"embed.backend", {"builtin", "local", "openai", NULL}},
    {"answer.backend", {"local", "openai", NULL}},
    {"answer.load", {"mmap", "copy", NULL}},
    {"answer.on_backend_down", {"extractive", "fail", NULL}},
    {"handoff.webhook_format", {"generic", "wecom", "dingtalk", "feishu", "slack", NULL}},
};

/* Secret keys (KB_CONFIG_SECRET_KEYS): shown as "***" when set. */
static const char *const config_secrets[] = {
#define CONFIG_SECRET_(sect, name) #sect "." #name,
    KB_CONFIG_SECRET_KEYS(CONFIG_SECRET_)
#undef CONFIG_SECRET_
};

static const char *const config_type_names[] = {"integer", "number", "boolean", "string"};

int config_n_keys(void)
{
    return CONFIG_N_KEYS;
}

const char *config_key_name(int i)
{
    return i >= 0 && i < CONFIG_N_KEYS ? config_metas[i].key : NULL;
}

bool config_key_secret(int i)
{
    bool secret = false;
    for (size_t k = 0; k < KB_ARRAY_LEN(config_secrets) && i >= 0 && i < CONFIG_N_KEYS; k++)
        secret = secret || strcmp(config_secrets[k], config_metas[i].key) == 0;
    return secret;
}

const struct config_meta *config_meta_at(int i)
{
    return &config_metas[i];
}

int config_find(const char *key)
{
    for (int i = 0; i < CONFIG_N_KEYS; i++)
        if (strcmp(config_metas[i].key, key) == 0)
            return i;
    return -1;
}

void config_env_name(int i, char *out, size_t out_bytes)
{
    const char *k = config_metas[i].key;
    size_t n = kb_strlcpy(out, "KBOX_", out_bytes);
    for (; *k && n + 1 < out_bytes; k++, n++)
        out[n] = *k == '.' ? '_' : (char)toupper((unsigned char)*k);
    out[n < out_bytes ? n : out_bytes - 1] = '\0';
}

static void *config_field(struct config *cfg, int i)
{
    return (char *)cfg + config_metas[i].offset;
}

static const void *config_cfield(const struct config *cfg, int i)
{
    return (const char *)cfg + config_metas[i].offset;
}

static void config_set_origin(struct config *cfg, int i, enum config_source src, const char *detail)
{
    cfg->origins[i].src = src;
    kb_strlcpy(cfg->origins[i].detail, detail ? detail : "", sizeof cfg->origins[i].detail);
}

void config_init(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->origins = kb_xcalloc((size_t)CONFIG_N_KEYS, sizeof *cfg->origins);
    for (int i = 0; i < CONFIG_N_KEYS; i++) {
        const struct config_meta *m = &config_metas[i];
        void *f = config_field(cfg, i);
        switch (m->type) {
        case CONFIG_T_INT: *(int64_t *)f = (int64_t)m->def_num; break;
        case CONFIG_T_FLOAT: *(double *)f = m->def_num; break;
        case CONFIG_T_BOOL: *(bool *)f = m->def_num != 0; break;
        case CONFIG_T_STR: *(char **)f = kb_xstrdup(m->def_str); break;
        case CONFIG_T_NULL: KB_ASSERT(!"key of type null"); break;
        }
        config_set_origin(cfg, i, CONFIG_SRC_DEFAULT, NULL);
    }
}

void config_release(struct config *cfg)
{
    if (!cfg->origins)
        return;
    for (int i = 0; i < CONFIG_N_KEYS; i++) {
        if (config_metas[i].type == CONFIG_T_STR) {
            char **s = config_field(cfg, i);
            free(*s);
            *s = NULL;
        }
    }
    free(cfg->origins);
    cfg->origins = NULL;
}

void config_copy(struct config *dst, const struct config *src)
{
    *dst = *src;
    dst->origins = kb_xcalloc((size_t)CONFIG_N_KEYS, sizeof *dst->origins);
    memcpy(dst->origins, src->origins, (size_t)CONFIG_N_KEYS * sizeof *dst->origins);
    for (int i = 0; i < CONFIG_N_KEYS; i++) {
        if (config_metas[i].type == CONFIG_T_STR) {
            char **d = config_field(dst, i);
            *d = kb_xstrdup(*d);
        }
    }
}

/* Describes what key i allows, e.g. "an integer from 0 to 65535". */
static void config_allowed(int i, char *out, size_t out_bytes)
{
    const struct config_meta *m = &config_metas[i];
    for (size_t c = 0; c < KB_ARRAY_LEN(config_choices); c++) {
        if (strcmp(config_choices[c].key, m->key) == 0) {
            size_t n = kb_strlcpy(out, "one of", out_bytes);
            for (int j = 0; config_choices[c].choices[j] && n < out_bytes; j++)
                n += (size_t)snprintf(out + n, out_bytes - n, " %s", config_choices[c].choices[j]);
            return;
        }
    }
    switch (m->type) {
    case CONFIG_T_INT: snprintf(out, out_bytes, "an integer from %.0f to %.0f", m->lo, m->hi); break;
    case CONFIG_T_FLOAT: snprintf(out, out_bytes, "a number from %g to %g", m->lo, m->hi); break;
    case CONFIG_T_BOOL: snprintf(out, out_bytes, "true or false"); break;
    case CONFIG_T_STR:
        snprintf(out, out_bytes, "a string of %.0f to %.0f bytes", m->lo, m->hi);
        break;
    case CONFIG_T_NULL: break;
    }
}

static int config_bad(int i, const char *where, const char *got, struct kb_error *err)
{
    char allowed[160];
    config_allowed(i, allowed, sizeof allowed);
    return kb_error_set(err, KB_ECONFIG, "%s%s'%s': got %s; allowed: %s", where ? where : "",
                        where ? ": " : "", config_metas[i].key, got, allowed);
}

static bool config_in_choices(int i, const char *s)
{
    for (size_t c = 0; c < KB_ARRAY_LEN(config_choices); c++) {
        if (strcmp(config_choices[c].key, config_metas[i].key) != 0)
            continue;
        for (int j = 0; config_choices[c].choices[j]; j++)
            if (strcmp(config_choices[c].choices[j], s) == 0)
                return true;
        return false;
    }
    return true;
}

int config_assign(struct config *cfg, int i, const struct config_value *v, enum config_source src,
                  const char *origin, struct kb_error *err)
{
    const struct config_meta *m = &config_metas[i];
    void *f = config_field(cfg, i);
    char got[96];
    if (v->type != m->type && !(m->type == CONFIG_T_FLOAT && v->type == CONFIG_T_INT)) {
        snprintf(got, sizeof got, "a %s", v->type <= CONFIG_T_STR ? config_type_names[v->type] : "null");
        return config_bad(i, origin, got, err);
    }
    switch (m->type) {
    case CONFIG_T_INT:
        if ((double)v->i < m->lo || (double)v->i > m->hi) {
            snprintf(got, sizeof got, "%lld", (long long)v->i);
            return config_bad(i, origin, got, err);
        }
        *(int64_t *)f = v->i;
        break;
    case CONFIG_T_FLOAT: {
        double d = v->type == CONFIG_T_INT ? (double)v->i : v->f;
        if (d < m->lo || d > m->hi) {
            snprintf(got, sizeof got, "%g", d);
            return config_bad(i, origin, got, err);
        }
        *(double *)f = d;
        break;
    }
    case CONFIG_T_BOOL: *(bool *)f = v->b; break;
    case CONFIG_T_STR: {
        size_t n = strlen(v->s);
        if ((double)n < m->lo || (double)n > m->hi || !kb_utf8_valid(v->s, n) ||
            !config_in_choices(i, v->s)) {
            snprintf(got, sizeof got, "\"%.60s\"%s", v->s, n > 60 ? "..." : "");
            return config_bad(i, origin, got, err);
        }
        free(*(char **)f);
        *(char **)f = kb_xstrdup(v->s);
        break;
    }
    case CONFIG_T_NULL: KB_ASSERT(!"key of type null"); break;
    }
    config_set_origin(cfg, i, src, origin);
    return 0;
}

/* Converts text (flag or env var) to a value of key i's type. */
static int config_from_text(int i, const char *text, struct config_value *v, const char *origin,
                            struct kb_error *err)
{
    char got[96];
    snprintf(got, sizeof got, "\"%.60s\"", text);
    v->type = config_metas[i].type;
    switch (v->type) {
    case CONFIG_T_INT:
        if (kb_parse_i64(text, &v->i))
            return config_bad(i, origin, got, err);
        break;
    case CONFIG_T_FLOAT:
        if (kb_parse_f64(text, &v->f))
            return config_bad(i, origin, got, err);
        break;
    case CONFIG_T_BOOL:
        if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes") ||
            !strcasecmp(text, "on"))
            v->b = true;
        else if (!strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no") ||
                 !strcasecmp(text, "off"))
            v->b = false;
        else
            return config_bad(i, origin, got, err);
        break;
    case CONFIG_T_STR: v->s = text; break;
    case CONFIG_T_NULL: break;
    }
    return 0;
}

int config_set(struct config *cfg, const char *key, const char *value, enum config_source src,
               struct kb_error *err)
{
    struct config_value v;
    int i = config_find(key);
    const char *origin = src == CONFIG_SRC_FLAG ? "flag" : NULL;
    char env[96];
    int rc;
    if (i < 0)
        return kb_error_set(err, KB_ECONFIG, "unknown config key '%s'", key);
    if (src == CONFIG_SRC_ENV) {
        config_env_name(i, env, sizeof env);
        origin = env;
    }
    rc = config_from_text(i, value, &v, origin, err);
    return rc ? rc : config_assign(cfg, i, &v, src, origin, err);
}

int config_load_env(struct config *cfg, struct kb_error *err)
{
    for (int i = 0; i < CONFIG_N_KEYS; i++) {
        char env[96];
        const char *val;
        int rc;
        config_env_name(i, env, sizeof env);
        val = getenv(env);
        if (!val)
            continue;
        rc = config_set(cfg, config_metas[i].key, val, CONFIG_SRC_ENV, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int config_put_value(const struct config *cfg, int i, bool json, struct kb_buf *out);

/* A secret key's value as shown: "***" when set, "" when not. */
static int config_put_shown(const struct config *cfg, int i, bool json, struct kb_buf *out)
{
    if (!config_key_secret(i) || config_metas[i].type != CONFIG_T_STR)
        return config_put_value(cfg, i, json, out);
    /* only a string field holds a pointer: reading one from another type's field is misaligned */
    const char *s = *(char *const *)config_cfield(cfg, i);
    return kb_buf_puts(out, s[0] ? "\"***\"" : "\"\"");
}

static int config_put_value(const struct config *cfg, int i, bool json, struct kb_buf *out)
{
    const void *f = config_cfield(cfg, i);
    switch (config_metas[i].type) {
    case CONFIG_T_INT: return kb_buf_printf(out, "%lld", (long long)*(const int64_t *)f);
    case CONFIG_T_FLOAT: return kb_buf_printf(out, "%g", *(const double *)f);
    case CONFIG_T_BOOL: return kb_buf_puts(out, *(const bool *)f ? "true" : "false");
    case CONFIG_T_STR: {
        const char *s = *(char *const *)f;
        if (json)
            return kb_buf_put_json_str(out, s, strlen(s));
        return kb_buf_printf(out, "\"%s\"", s);
    }
    case CONFIG_T_NULL: break;
    }
    return 0;
}

static void config_origin_text(const struct config *cfg, int i, char *out, size_t out_bytes)
{
    static const char *const names[] = {"default", "file", "env", "flag", "settings"};
    const struct config_origin *o = &cfg->origins[i];
    if (o->src == CONFIG_SRC_DEFAULT || o->src == CONFIG_SRC_FLAG || !o->detail[0])
        kb_strlcpy(out, names[o->src], out_bytes);
    else
        snprintf(out, out_bytes, "%s:%s", names[o->src], o->detail);
}

enum config_source config_key_source(const struct config *cfg, int i)
{
    return i >= 0 && i < CONFIG_N_KEYS ? cfg->origins[i].src : CONFIG_SRC_DEFAULT;
}

int config_write_overrides(const struct config *cfg, struct kb_buf *out)
{
    bool first = true;
    int rc = kb_buf_puts(out, "{\n");
    for (int i = 0; i < CONFIG_N_KEYS && !rc; i++) {
        if (cfg->origins[i].src != CONFIG_SRC_SETTINGS)
            continue;
        rc = kb_buf_printf(out, "%s  \"%s\": ", first ? "" : ",\n", config_metas[i].key);
        rc = rc ? rc : config_put_value(cfg, i, true, out);
        first = false;
    }
    return rc ? rc : kb_buf_puts(out, "\n}\n");
}

int config_show(const struct config *cfg, bool json, struct kb_buf *out)
{
    int rc = json ? kb_buf_putc(out, '{') : 0;
    for (int i = 0; i < CONFIG_N_KEYS && !rc; i++) {
        char origin[sizeof cfg->origins[i].detail + 16];
        config_origin_text(cfg, i, origin, sizeof origin);
        if (json) {
            rc = kb_buf_printf(out, "%s\"%s\":{\"value\":", i ? "," : "", config_metas[i].key);
            rc = rc ? rc : config_put_shown(cfg, i, true, out);
            rc = rc ? rc : kb_buf_puts(out, ",\"source\":");
            rc = rc ? rc : kb_buf_put_json_str(out, origin, strlen(origin));
            rc = rc ? rc : kb_buf_putc(out, '}');
        } else {
            rc = kb_buf_printf(out, "%-26s = ", config_metas[i].key);
            rc = rc ? rc : config_put_shown(cfg, i, false, out);
            rc = rc ? rc : kb_buf_printf(out, "    # %s\n", origin);
        }
    }
    if (!rc && json)
        rc = kb_buf_puts(out, "}\n");
    return rc;
}

int config_template(struct kb_buf *out)
{
    struct config defaults;
    char allowed[160];
    int rc;
    config_init(&defaults);
    rc = kb_buf_puts(out, "// kbox configuration: JSON with comments. Every key is listed at its default.\n"
                          "// Precedence: defaults < this file < KBOX_SECTION_KEY environment variables"
                          " < flags.\n// Generated by `kbox config template`.\n{\n");
    for (int i = 0; i < CONFIG_N_KEYS && !rc; i++) {
        const struct config_meta *m = &config_metas[i];
        const char *dot = strchr(m->key, '.');
        int sect_len = (int)(dot - m->key);
        bool first = i == 0 || strncmp(config_metas[i - 1].key, m->key, (size_t)sect_len + 1) != 0;
        bool last = i + 1 == CONFIG_N_KEYS ||
                    strncmp(config_metas[i + 1].key, m->key, (size_t)sect_len + 1) != 0;
        char env[96];
        if (first)
            rc = kb_buf_printf(out, "%s  \"%.*s\": {\n", i ? "\n" : "", sect_len, m->key);
        config_allowed(i, allowed, sizeof allowed);
        config_env_name(i, env, sizeof env);
        rc = rc ? rc : kb_buf_printf(out, "    // %s (%s; env %s)\n    \"%s\": ", m->help, allowed, env,
                                     dot + 1);
        rc = rc ? rc : config_put_value(&defaults, i, true, out);
        rc = rc ? rc : kb_buf_puts(out, last ? "\n" : ",\n");
        if (!rc && last)
            rc = kb_buf_printf(out, "  }%s\n", i + 1 == CONFIG_N_KEYS ? "" : ",");
    }
    rc = rc ? rc : kb_buf_puts(out, "}\n");
    config_release(&defaults);
    return rc;
}
