/* index/pg_migrate_rows.c: `kbox store migrate` (index/migrate.c) of the shared rows: the
 * conversation log (conversations, messages, feedback), curated answers (curated,
 * curated_versions), accounts (users, sessions, api_keys, audit), bots (bots, bot_handoff) and
 * human handoff (handoffs, handoff_events, handoff_notifications, collection_handoff), either way between SQLite and PostgreSQL, under their ids.
 *
 * Both backends hold these tables with the same columns (pg.h's PG_*_COLS), so one generic copier
 * serves all fifteen: rows are read as text in pages of PAGE rows by key (the first column; small
 * tables whole), written with an upsert by key in one transaction per page (a SQLite target's
 * triggers keep its statistics rollups; a PostgreSQL target also gets one change row per row, so
 * nodes following it pick them up), then PostgreSQL's id sequences move past the copied ids.
 * Plan (before anything is written): a target table with rows (beyond the built-in bot "default")
 * that are not the source's is refused (KB_ECONFLICT naming it), one equal to the source's is
 * skipped. Resumable: migrate.c's marker says the target is being filled from this source; a rerun
 * then empties these tables in the target and copies them again (a page is all or nothing, so a
 * killed run leaves nothing half-written, and rows the source lost meanwhile go too).
 * Verification: per table, the row count and a digest equal on both sides. The digest is the sum
 * (mod 2^64, per 64-bit lane, so the order of rows does not matter) of each row's SHA-256 over its
 * values (length-prefixed; NULL marked; REAL columns as llround(value * 1e6), the only values
 * whose text differs between the two databases).
 * Only libpq-free and SQLite-free code here: pg.c (pg_query, pg_tx_*) and store_mirror.c
 * (store_mirror_read, store_mirror_steps) do the I/O. Tests: tests/index/test_pg_migrate.c
 * (test_rows_both_ways). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/pg.h"

#define PAGE 500
#define PAGE_S "500"

struct mig_table {
    const char *name, *cols;
    const char *conflict; /* the upsert's conflict target */
    bool paged;           /* the first column is an integer key to page by */
    char kind;            /* change kind on a PostgreSQL target */
    const char *change;   /* the change row's obj_id (RETURNING) */
    unsigned real_mask;   /* REAL columns (bit = column index) */
};

/* In foreign-key order (conversations before messages before feedback, curated before versions). */
static const struct mig_table g_tables[PG_MIG_TABLES] = {
    {"conversations", PG_CONV_COLS, "id", true, PG_KIND_CONVERSATION, "id", 0},
    {"messages", PG_MSG_COLS, "id", true, PG_KIND_MESSAGE, "id", (1u << 10) | (1u << 11)},
    {"feedback", PG_FB_COLS, "message_id", true, PG_KIND_MESSAGE, "message_id", 0},
    {"curated", PG_CUR_COLS, "id", true, PG_KIND_CURATED, "id", 0},
    {"curated_versions", PG_CURV_COLS, "curated_id, version", false, PG_KIND_CURATED, "curated_id", 0},
    {"users", PG_USER_COLS, "id", true, PG_KIND_USER, "id", 0},
    {"sessions", PG_SES_COLS, "id_hash", false, PG_KIND_SESSIONS, "user_id", 0},
    {"api_keys", PG_KEY_COLS, "id", true, PG_KIND_KEY, "id", 0},
    {"audit", PG_AUDIT_COLS, "id", true, PG_KIND_AUDIT, "id", 0},
    {"bots", PG_BOT_COLS, "id", false, PG_KIND_BOTS, "0", 0},
    {"bot_handoff", PG_HANDOFF_COLS, "bot_id", false, PG_KIND_BOTS, "0", 0},
    {"handoffs", PG_HO_COLS, "id", true, PG_KIND_HANDOFF, "id", 0},
    {"handoff_events", PG_HOE_COLS, "handoff_id, seq", false, PG_KIND_HANDOFF, "handoff_id", 0},
    {"handoff_notifications", PG_HON_COLS, "id", true, PG_KIND_HANDOFF, "handoff_id", 0},
    {"collection_handoff", PG_COLL_HANDOFF_COLS, "collection_id", true, PG_KIND_COLL_HANDOFF, "collection_id", 0},
};

/* sql with $N parameters (SQLite takes "$1" as a parameter too) on either side. */
static int side_read(const struct pg_mig_side *s, const char *sql, int n, const char *const *vals, struct kb_arena *a,
                     struct pg_rows *out, struct kb_error *err)
{
    return s->pg ? pg_query(s->db, sql, n, vals, a, out, "read rows", err)
                 : store_mirror_read(s->st, sql, n, vals, a, out, err);
}

/* One page of t's rows after key `after` (paged tables), or all of them; sql in a. */
static int read_page(const struct pg_mig_side *s, const struct mig_table *t, int64_t after, struct kb_arena *a,
                     struct pg_rows *out, struct kb_error *err)
{
    char sql[1024], ab[24];
    const char *v[1] = {ab};
    snprintf(ab, sizeof ab, "%lld", (long long)after);
    if (t->paged) {
        char key[64];
        size_t k = strcspn(t->cols, ",");
        snprintf(key, sizeof key, "%.*s", (int)k, t->cols);
        snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE %s > $1 ORDER BY %s LIMIT " PAGE_S, t->cols, t->name, key,
                 key);
        return side_read(s, sql, 1, v, a, out, err);
    }
    snprintf(sql, sizeof sql, "SELECT %s FROM %s", t->cols, t->name);
    return side_read(s, sql, 0, NULL, a, out, err);
}

/* Calls fn for each page of t's rows on side s. */
static int each_page(const struct pg_mig_side *s, const struct mig_table *t,
                     int (*fn)(void *ud, const struct pg_rows *r, struct kb_error *err), void *ud, struct kb_error *err)
{
    int64_t after = INT64_MIN;
    int rc = 0;
    for (;;) {
        struct kb_arena a;
        struct pg_rows r;
        kb_arena_init(&a, 0, 0);
        rc = read_page(s, t, after, &a, &r, err);
        if (rc == 0 && r.n > 0)
            rc = fn(ud, &r, err);
        if (rc == 0 && t->paged && r.n == PAGE && r.v[(size_t)(r.n - 1) * (size_t)r.cols])
            kb_parse_i64(r.v[(size_t)(r.n - 1) * (size_t)r.cols], &after);
        else
            r.n = 0; /* done */
        kb_arena_release(&a);
        if (rc || r.n == 0)
            break;
    }
    return rc;
}

/* ---- digests --------------------------------------------------------------------------------------- */

struct digest {
    const struct mig_table *t;
    int64_t n;
    uint64_t sum[4];
};

static int digest_page(void *ud, const struct pg_rows *r, struct kb_error *err)
{
    struct digest *d = ud;
    (void)err;
    for (int i = 0; i < r->n; i++) {
        struct kb_sha256 h;
        uint8_t out[32];
        kb_sha256_init(&h);
        for (int k = 0; k < r->cols; k++) {
            const char *v = r->v[(size_t)i * (size_t)r->cols + (size_t)k];
            char num[32];
            uint64_t len;
            if (v && k < 32 && (d->t->real_mask >> k) & 1u) {
                snprintf(num, sizeof num, "%lld", (long long)llround(strtod(v, NULL) * 1e6));
                v = num;
            }
            len = v ? (uint64_t)strlen(v) : UINT64_MAX;
            kb_sha256_update(&h, &len, sizeof len);
            if (v)
                kb_sha256_update(&h, v, strlen(v));
        }
        kb_sha256_final(&h, out);
        for (int l = 0; l < 4; l++) {
            uint64_t x;
            memcpy(&x, out + 8 * l, 8);
            d->sum[l] += x;
        }
        d->n++;
    }
    return 0;
}

static int table_digest(const struct pg_mig_side *s, const struct mig_table *t, struct digest *d,
                        struct kb_error *err)
{
    memset(d, 0, sizeof *d);
    d->t = t;
    return each_page(s, t, digest_page, d, err);
}

/* Rows of t on side s that count as data (the built-in bot "default" does not). */
static int table_count(const struct pg_mig_side *s, const struct mig_table *t, int64_t *n, struct kb_error *err)
{
    char sql[256];
    struct kb_arena a;
    struct pg_rows r;
    int rc;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s%s", t->name,
             !strcmp(t->name, "bots") ? " WHERE id <> 'default'" : "");
    kb_arena_init(&a, 0, 0);
    rc = side_read(s, sql, 0, NULL, &a, &r, err);
    *n = 0;
    if (rc == 0 && r.n == 1 && r.v[0])
        kb_parse_i64(r.v[0], n);
    kb_arena_release(&a);
    return rc;
}

int pg_mig_rows_plan(const struct pg_mig_side *src, const struct pg_mig_side *dst, const char *to, bool resume,
                     bool *copy, struct kb_error *err)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < PG_MIG_TABLES; i++) {
        const struct mig_table *t = &g_tables[i];
        struct digest ds, dt;
        int64_t n = 0;
        copy[i] = true;
        if (resume)
            continue;
        rc = table_count(dst, t, &n, err);
        if (rc || n == 0)
            continue;
        rc = table_digest(src, t, &ds, err);
        if (rc == 0)
            rc = table_digest(dst, t, &dt, err);
        if (rc == 0 && (ds.n != dt.n || memcmp(ds.sum, dt.sum, sizeof ds.sum) != 0))
            rc = kb_error_set(err, KB_ECONFLICT,
                              "--to %s already holds different data: its %s (%lld rows) are not the source's; "
                              "migrate into an empty store",
                              to, t->name, (long long)dt.n);
        if (rc == 0)
            copy[i] = false; /* equal already */
    }
    return rc;
}

/* ---- copying --------------------------------------------------------------------------------------- */

/* True when col is one of the comma-separated names in list. */
static bool in_list(const char *list, const char *col)
{
    size_t n = strlen(col);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && !strncmp(p, col, n))
            return true;
        p += k;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return false;
}

/* The upsert of t's rows by its conflict target ($N parameters), into buf. */
static void upsert_sql(const struct mig_table *t, bool pg, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "INSERT INTO %s(%s) VALUES(", t->name, t->cols);
    const char *sep = "";
    int n = 1;
    for (const char *c = t->cols; *c; c++)
        n += *c == ',';
    for (int i = 1; i <= n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s$%d", i > 1 ? ", " : "", i);
    len += (size_t)snprintf(buf + len, cap - len, ") ON CONFLICT(%s) DO UPDATE SET ", t->conflict);
    for (const char *p = t->cols; *p;) {
        size_t k = strcspn(p, ",");
        char col[64];
        snprintf(col, sizeof col, "%.*s", (int)k, p);
        if (!in_list(t->conflict, col)) {
            len += (size_t)snprintf(buf + len, cap - len, "%s%s = excluded.%s", sep, col, col);
            sep = ", ";
        }
        p += k;
        while (*p == ',' || *p == ' ')
            p++;
    }
    if (pg)
        snprintf(buf + len, cap - len, " RETURNING %s", t->change);
}

struct copier {
    const struct pg_mig_side *dst;
    const struct mig_table *t;
    const char *sql;
    int64_t n;
};

static int copy_page(void *ud, const struct pg_rows *r, struct kb_error *err)
{
    struct copier *c = ud;
    int rc;
    if (!c->dst->pg) {
        const struct store_mirror_step step = {c->sql, r};
        rc = store_mirror_steps(c->dst->st, &step, 1, err);
    } else {
        int64_t *ids = kb_xmalloc(((size_t)r->n + 1) * sizeof *ids);
        char *kinds = kb_xmalloc((size_t)r->n + 1);
        struct kb_arena a;
        int m = 0;
        kb_arena_init(&a, 0, 0);
        rc = pg_tx_begin(c->dst->db, err);
        if (rc == 0) {
            for (int i = 0; rc == 0 && i < r->n; i++) {
                struct pg_rows got;
                rc = pg_tx_exec(c->dst->db, c->sql, r->cols, r->v + (size_t)i * (size_t)r->cols, &a, &got,
                                "copy a row", err);
                if (rc == 0 && got.n == 1 && got.v[0]) {
                    kinds[m] = c->t->kind;
                    kb_parse_i64(got.v[0], &ids[m++]);
                }
            }
            rc = pg_tx_end(c->dst->db, rc, kinds, ids, m, err);
        }
        kb_arena_release(&a);
        free(ids);
        free(kinds);
    }
    if (rc == 0)
        c->n += r->n;
    return rc;
}

/* Empties every shared table of the target (a resumed migration copies them again). */
static int wipe_target(const struct pg_mig_side *dst, struct kb_error *err)
{
    static const char wipe[] = "DELETE FROM feedback; DELETE FROM messages; DELETE FROM conversations;"
                               " DELETE FROM curated_versions; DELETE FROM curated; DELETE FROM sessions;"
                               " DELETE FROM api_keys; DELETE FROM audit; DELETE FROM users; DELETE FROM bot_handoff;"
                               " DELETE FROM bots; DELETE FROM handoff_notifications; DELETE FROM handoff_events;"
                               " DELETE FROM handoffs";
    static const char tidy[] =
        "DELETE FROM log_days WHERE n <= 0; DELETE FROM log_latency WHERE n <= 0;"
        "DELETE FROM log_questions WHERE n <= 0; DELETE FROM log_docs WHERE n <= 0;"
        "DELETE FROM log_question_totals WHERE n <= 0; DELETE FROM log_votes WHERE up <= 0 AND down <= 0";
    int rc;
    if (!dst->pg) {
        const struct store_mirror_step steps[] = {{wipe, NULL}, {tidy, NULL}};
        return store_mirror_steps(dst->st, steps, (int)KB_ARRAY_LEN(steps), err);
    }
    if ((rc = pg_tx_begin(dst->db, err)) != 0)
        return rc;
    for (int i = PG_MIG_TABLES - 1; rc == 0 && i >= 0; i--) { /* foreign keys: dependants first */
        char sql[64];
        snprintf(sql, sizeof sql, "DELETE FROM %s", g_tables[i].name);
        rc = pg_tx_exec(dst->db, sql, 0, NULL, NULL, NULL, "empty the shared tables", err);
    }
    return pg_tx_end(dst->db, rc, NULL, NULL, 0, err);
}

int pg_mig_rows_copy(const struct pg_mig_side *src, const struct pg_mig_side *dst, bool resume, const bool *copy,
                     int64_t *n_copied, struct kb_error *err)
{
    static const char *const seqs[] = {"conversations", "curated", "users", "api_keys", "audit", "handoffs",
                                       "handoff_notifications"};
    char sql[2048];
    int rc = resume ? wipe_target(dst, err) : 0;
    *n_copied = 0;
    for (int i = 0; rc == 0 && i < PG_MIG_TABLES; i++) {
        struct copier c = {dst, &g_tables[i], sql, 0};
        if (!copy[i])
            continue;
        upsert_sql(&g_tables[i], dst->pg, sql, sizeof sql);
        rc = each_page(src, &g_tables[i], copy_page, &c, err);
        *n_copied += c.n;
    }
    for (size_t i = 0; rc == 0 && dst->pg && i < KB_ARRAY_LEN(seqs); i++) {
        struct kb_arena a;
        kb_arena_init(&a, 0, 0);
        snprintf(sql, sizeof sql, "SELECT setval(pg_get_serial_sequence('%s', 'id'), greatest((SELECT max(id) FROM %s),"
                 " 1))", seqs[i], seqs[i]);
        rc = pg_query(dst->db, sql, 0, NULL, &a, NULL, "move an id sequence", err);
        kb_arena_release(&a);
    }
    return rc;
}

int pg_mig_rows_verify(const struct pg_mig_side *src, const struct pg_mig_side *dst, int64_t *n_rows,
                       struct kb_error *err)
{
    int rc = 0;
    *n_rows = 0;
    for (int i = 0; rc == 0 && i < PG_MIG_TABLES; i++) {
        struct digest ds, dt;
        rc = table_digest(src, &g_tables[i], &ds, err);
        if (rc == 0)
            rc = table_digest(dst, &g_tables[i], &dt, err);
        if (rc == 0 && (ds.n != dt.n || memcmp(ds.sum, dt.sum, sizeof ds.sum) != 0))
            rc = kb_error_set(err, KB_ECORRUPT,
                              "verification failed: %s: the source has %lld rows, the target %lld%s (did the source "
                              "change? run again)",
                              g_tables[i].name, (long long)ds.n, (long long)dt.n,
                              ds.n == dt.n ? " with other values" : "");
        if (rc == 0)
            *n_rows += dt.n;
    }
    return rc;
}
