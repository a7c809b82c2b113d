/* config/config_int.h: shared between config.c (the key table and assignment) and jsonc.c (the file
 * reader). Not for other modules. */
#ifndef KB_CONFIG_CONFIG_INT_H
#define KB_CONFIG_CONFIG_INT_H

#include "config/config.h"

enum config_type { CONFIG_T_INT, CONFIG_T_FLOAT, CONFIG_T_BOOL, CONFIG_T_STR, CONFIG_T_NULL };

struct config_meta {
    const char *key;       /* dotted name, "answer.model" */
    enum config_type type;
    double def_num;        /* default for INT, FLOAT, BOOL */
    const char *def_str;   /* default for STR */
    double lo, hi;         /* inclusive bounds; byte-length bounds for STR */
    const char *help;
    size_t offset;         /* of the field in struct config */
};

/* Where a key's current value came from. */
struct config_origin {
    enum config_source src;
    char detail[320]; /* "PATH:LINE" for files, the variable name for env, "" otherwise */
};

/* A typed value on its way into a key. s is borrowed. */
struct config_value {
    enum config_type type;
    int64_t i;
    double f;
    bool b;
    const char *s;
};

const struct config_meta *config_meta_at(int i);
/* Reads a JSON-with-comments file into cfg, every key with source src (jsonc.c). */
int config_read_file(struct config *cfg, const char *path, enum config_source src, struct kb_error *err);
int config_find(const char *dotted_key); /* index or -1 */
void config_env_name(int i, char *out, size_t out_bytes);
/* Validates v against key i and stores it; origin (nullable) is used in messages and `show`. */
int config_assign(struct config *cfg, int i, const struct config_value *v, enum config_source src,
                  const char *origin, struct kb_error *err);

#endif
