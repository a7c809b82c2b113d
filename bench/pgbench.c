/* bench/pgbench.c: see pgbench.h. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgbench.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

uint64_t pgb_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

void pgb_seed(uint64_t seed)
{
    rng = seed;
}

char *pgb_text(int n_words)
{
    size_t cap = (size_t)n_words * 16 + 1, len = 0;
    char *t = malloc(cap);
    if (!t) {
        perror("malloc");
        exit(1);
    }
    t[0] = '\0';
    for (int i = 0; i < n_words; i++) {
        double u = (double)(pgb_rand() % 1000000) / 1e6;
        unsigned r = (unsigned)(1 + 19999 * u * u * u);
        len += (size_t)snprintf(t + len, cap - len, "%sw%ux%u", i ? " " : "", r, r % 7);
    }
    return t;
}

void pgb_tmpdir(char *buf, const char *tag)
{
    snprintf(buf, PGB_DIR, "/tmp/kbox-bench-%s-XXXXXX", tag);
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(1);
    }
}

void pgb_opts(struct index_open_opts *o, const char *dir, const char *url)
{
    memset(o, 0, sizeof *o);
    o->data_dir = dir;
    o->ann_threshold = 200000;
    o->pg_url = url;
    o->pg_poll_s = 2;
}

int pgb_open(struct index_store **st, const struct index_open_opts *o)
{
    struct kb_error err = {0};
    int rc = index_store_open(st, o, &err);
    if (rc)
        fprintf(stderr, "open %s: %s\n", o->data_dir, err.msg);
    return rc;
}

int pgb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
