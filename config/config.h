/* config/config.h: kbox's configuration: a plain struct generated from config/keys.h, filled from
 * defaults < config file < KBOX_* environment variables < command-line flags.
 *
 * The file is JSON with // and block comments; dotted keys are written as nested objects
 * ({"answer": {"model": "m.gguf"}}). Unknown keys, wrong types and out-of-range values are errors
 * that name the key (and file:line, for the file) and what is allowed. The struct is filled once by
 * cli/ and passed down as `const struct config *`; nothing else mutates it. Settings changed at run
 * time never touch a struct in use: rag/ copies its current snapshot (config_copy), changes the copy
 * (config_set with CONFIG_SRC_SETTINGS), writes the copy's overrides (config_write_overrides) and
 * publishes it as the next immutable snapshot. Tests: tests/config/. */
#ifndef KB_CONFIG_CONFIG_H
#define KB_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "config/keys.h"

#define CONFIG_CTYPE_INT int64_t
#define CONFIG_CTYPE_FLOAT double
#define CONFIG_CTYPE_BOOL bool
#define CONFIG_CTYPE_STR char *

/* Field `section_name` for each key, e.g. cfg->answer_model. STR fields are owned by the struct
 * and never NULL after config_init(). */
struct config {
#define CONFIG_FIELD_(sect, name, type, def, lo, hi, help) CONFIG_CTYPE_##type sect##_##name;
    KB_CONFIG_KEYS(CONFIG_FIELD_)
#undef CONFIG_FIELD_
    struct config_origin *origins; /* owned; where each key's value came from */
};

/* Where a key's value came from. SETTINGS: the run-time settings (rag's settings.json, or a change
 * made through rag_setting_set), applied over everything else. */
enum config_source { CONFIG_SRC_DEFAULT, CONFIG_SRC_FILE, CONFIG_SRC_ENV, CONFIG_SRC_FLAG, CONFIG_SRC_SETTINGS };

void config_init(struct config *cfg);    /* every key at its default */
void config_release(struct config *cfg); /* frees strings; NULL-safe fields */
/* Deep copy of src (values and origins) into dst, which must not be initialised. */
void config_copy(struct config *dst, const struct config *src);

/* Reads a JSON-with-comments file. On error nothing is half-applied: cfg keeps its earlier values.
 * Errors: KB_ENOENT (cannot read), KB_ECONFIG (syntax, unknown key, bad type or range). */
int config_load_file(struct config *cfg, const char *path, struct kb_error *err);
/* config_load_file for the run-time settings file: the same format and errors, but every key read
 * takes the source CONFIG_SRC_SETTINGS (so config_write_overrides writes it back). */
int config_load_overrides(struct config *cfg, const char *path, struct kb_error *err);
/* Applies every KBOX_SECTION_NAME variable present in the environment. */
int config_load_env(struct config *cfg, struct kb_error *err);
/* Sets one key from text ("8080", "true", "0.5", any string), as a flag or env var would.
 * Errors: KB_ECONFIG naming the key and what is allowed. */
int config_set(struct config *cfg, const char *dotted_key, const char *value, enum config_source src,
               struct kb_error *err);

/* Number of keys, and a key's dotted name, env name, type name and help, by index. */
int config_n_keys(void);
const char *config_key_name(int i);
/* True for keys listed in KB_CONFIG_SECRET_KEYS: config_show prints "***" for them when set. */
bool config_key_secret(int i);
/* Where key i's current value came from; CONFIG_SRC_DEFAULT for an index out of range. */
enum config_source config_key_source(const struct config *cfg, int i);
/* Renders the run-time settings file: one JSON object with the flat dotted key and value of every
 * key whose source is CONFIG_SRC_SETTINGS, in key-table order ("{\n  \"answer.max_sentences\": 2\n}\n";
 * "{\n\n}\n" when there are none). config_load_overrides reads it back. */
int config_write_overrides(const struct config *cfg, struct kb_buf *out);
/* Renders every key with its effective value (secret keys as "***") and origin: text lines, or one JSON object
 * {"key": {"value": v, "source": "default|file:PATH:LINE|env:NAME|flag|settings[:PATH:LINE]"}}. */
int config_show(const struct config *cfg, bool json, struct kb_buf *out);
/* Renders a complete config file: every key, nested by section, at its default, with its help as a
 * comment. config/kbox.json is this output (a test keeps them equal). */
int config_template(struct kb_buf *out);

#endif
