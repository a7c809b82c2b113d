/* index/store_jobs.c: the store's face of the jobs shared through PostgreSQL (store.backend =
 * postgres): rag/'s ingestion workers on every node claim jobs here instead of from their own ring.
 *
 * Design: a job row is created in the same PostgreSQL transaction as the document it ingests
 * (uploads) or its requeue (reingest), so no queued document lacks a job. A worker claims a job with
 * SELECT ... FOR UPDATE SKIP LOCKED on a connection of its own and keeps that transaction open while
 * it parses, embeds and writes (those writes go through the store's write connection, and touch no
 * job row, so they never wait for the claim). The claim therefore ends exactly when the worker ends
 * it or when its session ends: `kill -9` of a node closes its sockets, PostgreSQL rolls the claim
 * back and the job is the next node's. Writing a document twice is harmless (index_doc_replace
 * replaces), so a job that was half done when its node died is simply done again.
 * A node cut off by the network rather than killed keeps its sockets; the claiming session asks the
 * server for TCP keepalives (pg_db_claim_session), which end it, and its claim, in about 30 s.
 * The node's name in a finished job is "<host>:<pid>".
 * Tests: tests/web/test_pg_nodes.c (three serve processes, one killed mid-ingest). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/pg.h"

struct index_job_worker {
    struct index_store *st;
    struct pg_db *db;   /* the claiming connection; NULL until the first claim */
    int64_t held;       /* the job claimed, 0 none */
    char node[128];
};

bool index_jobs_shared(struct index_store *st)
{
    return st && st->pg;
}

static int jobs_need_pg(struct index_store *st, struct kb_error *err)
{
    return st->pg ? 0 : kb_error_set(err, KB_EINVAL, "shared jobs need store.backend = postgres");
}

int index_doc_create_job(struct index_store *st, const struct index_doc *doc, int64_t *doc_id, int64_t *job_id,
                         struct kb_error *err)
{
    int rc = jobs_need_pg(st, err);
    if (rc == 0 && !doc)
        rc = kb_error_set(err, KB_EINVAL, "no document given");
    if (rc == 0)
        rc = pg_doc_create(pg_sync_db(st->pg), doc, doc_id, job_id, err);
    if (rc == 0)
        pg_sync_catch_up(st->pg);
    return rc;
}

int index_job_requeue(struct index_store *st, int64_t doc_id, int64_t *job_id, struct kb_error *err)
{
    int rc = jobs_need_pg(st, err);
    if (rc == 0)
        rc = pg_job_requeue(pg_sync_db(st->pg), doc_id, job_id, err);
    if (rc == 0)
        pg_sync_catch_up(st->pg);
    return rc;
}

int index_job_worker_open(struct index_store *st, struct index_job_worker **out, struct kb_error *err)
{
    struct index_job_worker *w;
    char host[64] = "";
    int rc = jobs_need_pg(st, err);
    *out = NULL;
    if (rc)
        return rc;
    w = kb_xcalloc(1, sizeof *w);
    w->st = st;
    if (gethostname(host, sizeof host - 1) != 0)
        kb_strlcpy(host, "node", sizeof host);
    snprintf(w->node, sizeof w->node, "%s:%ld", host, (long)getpid());
    *out = w;
    return 0;
}

void index_job_worker_close(struct index_job_worker *w)
{
    if (!w)
        return;
    pg_db_close(w->db); /* a claim still held ends with the session */
    free(w);
}

int index_job_claim(struct index_job_worker *w, struct index_job *out, struct kb_error *err)
{
    int rc = 0;
    KB_ASSERT(w->held == 0);
    if (!w->db && (rc = pg_sync_connect(w->st->pg, &w->db, err)) == 0 && (rc = pg_db_claim_session(w->db, err)) != 0) {
        pg_db_close(w->db);
        w->db = NULL;
    }
    if (rc == 0)
        rc = pg_job_claim(w->db, out, err);
    if (rc == 0)
        w->held = out->id;
    if (rc == KB_EBUSY && w->db) { /* a new session next time, with its keepalive settings */
        pg_db_close(w->db);
        w->db = NULL;
    }
    return rc;
}

int index_job_end(struct index_job_worker *w, int64_t id, enum index_job_end how, const char *error,
                  struct kb_error *err)
{
    int rc;
    KB_ASSERT(w->held == id);
    rc = pg_job_end(w->db, id, how, w->node, error, err);
    w->held = 0;
    if (rc == KB_EBUSY) {
        pg_db_close(w->db);
        w->db = NULL;
    }
    return rc;
}

int index_job_get(struct index_store *st, int64_t id, struct index_job *out, struct kb_error *err)
{
    int rc = jobs_need_pg(st, err);
    return rc ? rc : pg_job_get(pg_sync_db(st->pg), id, out, err);
}

int index_job_list(struct index_store *st, int max, struct index_job *out, int *n_out, struct kb_error *err)
{
    int rc = jobs_need_pg(st, err);
    *n_out = 0;
    return rc ? rc : pg_job_list(pg_sync_db(st->pg), max, out, n_out, err);
}

int index_original_get(struct index_store *st, const char *sha, void **data, size_t *n, struct kb_error *err)
{
    int rc = jobs_need_pg(st, err);
    *data = NULL;
    *n = 0;
    return rc ? rc : pg_original_fetch(pg_sync_db(st->pg), sha, data, n, err);
}
