/* bench/pgbench.h: what the PostgreSQL benchmarks (bench_pg, bench_pg_migrate, bench_pg_rows,
 * bench_pg_handoff) share: a seeded xorshift generator and Zipf-like pseudo-text, temporary data
 * directories, the store options they all start from, and sorting latencies. */
#ifndef KBOX_BENCH_PGBENCH_H
#define KBOX_BENCH_PGBENCH_H

#include <stddef.h>
#include <stdint.h>

#include "index/index.h"

#define PGB_DIR 64 /* room for a pgb_tmpdir path */

/* The next number of one process-wide xorshift64 sequence (fixed seed: runs repeat). */
uint64_t pgb_rand(void);
/* Restarts that sequence from seed (not 0), so two phases can see the same text. */
void pgb_seed(uint64_t seed);
/* n_words pseudo-words "w<r>x<r mod 7>" with ranks r about Zipf over 20000 (r = 20000^u^3); malloc'd. */
char *pgb_text(int n_words);
/* Makes /tmp/kbox-bench-TAG-XXXXXX into buf (PGB_DIR bytes); exits when it cannot. */
void pgb_tmpdir(char *buf, const char *tag);
/* Options with data_dir dir, the PostgreSQL url (NULL: SQLite alone), a 2 s poll and no ANN index. */
void pgb_opts(struct index_open_opts *o, const char *dir, const char *url);
/* index_store_open(o); on failure prints "open DIR: reason" to stderr and returns the error code. */
int pgb_open(struct index_store **st, const struct index_open_opts *o);
/* qsort comparator of doubles, ascending. */
int pgb_cmp_double(const void *a, const void *b);

#endif
