/* index/reembed_pg.c: re-embedding as shared work when the store follows PostgreSQL
 * (store.backend = postgres): the nodes configured with the new embedder split the work through
 * 'reembed' jobs, one per document, claimed with SELECT ... FOR UPDATE SKIP LOCKED like ingestion,
 * so each document is embedded by exactly one node and the vectors land in PostgreSQL for all.
 *
 * Data flow of one step (index_reembed_step calls it; steps run from one thread at a time):
 *   1. once per pass: queue a job for every document with chunks lacking the new embedder's
 *      vectors (pg_reembed_queue; nodes queueing together queue once);
 *   2. claim one job on this step's own connection (the claim is its transaction's row lock),
 *      embed the document's chunks that lack vectors (the slow part, no store lock held), then in
 *      the same transaction store the vectors, mark the job done and append the document's change
 *      row (pg_reembed_finish). A node killed mid-job ends its session and the job goes back to the
 *      queue; an embedding error releases it;
 *   3. nothing left to claim: queue again (documents that arrived meanwhile); while other nodes
 *      still hold claims, wait a little and return (the caller steps again);
 *   4. the database holds every vector: pull them into the local cache (pg_vectors_get ->
 *      store_put_vectors) in batches; when the cache holds them all, reembed.c switches the cache
 *      to the new embedder (reembed_switch) exactly as on a single box.
 * Until the switch, search uses the previous vectors (the sync keeps applying documents with them).
 * Old embedders' vectors stay in PostgreSQL (nodes not yet switched still read them).
 * Tests: tests/index/test_pg_reembed.c (two nodes; a claim held by a third process is skipped,
 * then finished by a node once that process is killed with SIGKILL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index/pg.h"

#define REEMBED_PG_WAIT_MS 200 /* pause while other nodes hold the remaining claims */

struct reembed_pg {
    struct pg_db *db;    /* the claiming connection; NULL until the first step or after it broke */
    bool queued;         /* this pass queued its jobs */
    char node[128];      /* "host:pid", recorded in the jobs this node ends */
};

void reembed_pg_close(struct index_store *st)
{
    if (!st->reembed_pg)
        return;
    pg_db_close(st->reembed_pg->db); /* a claim still held ends with the session */
    free(st->reembed_pg);
    st->reembed_pg = NULL;
}

static int rpg_connect(struct index_store *st, struct reembed_pg **out, struct kb_error *err)
{
    struct reembed_pg *rp = st->reembed_pg;
    int rc = 0;
    if (!rp) {
        char host[64] = "";
        rp = kb_xcalloc(1, sizeof *rp);
        if (gethostname(host, sizeof host - 1) != 0)
            kb_strlcpy(host, "node", sizeof host);
        snprintf(rp->node, sizeof rp->node, "%s:%ld", host, (long)getpid());
        st->reembed_pg = rp;
    }
    if (!rp->db && (rc = pg_sync_connect(st->pg, &rp->db, err)) == 0 && (rc = pg_db_claim_session(rp->db, err)) != 0) {
        pg_db_close(rp->db);
        rp->db = NULL;
    }
    *out = rp;
    return rc;
}

/* Claims one job and does it. KB_ENOENT: nothing to claim. */
static int rpg_work(struct reembed_pg *rp, const struct index_embedder *tgt, struct kb_error *err)
{
    struct kb_arena a;
    struct pg_reembed_work w;
    char **texts = NULL;
    float *x = NULL;
    int rc;
    kb_arena_init(&a, 0, 0);
    rc = pg_reembed_claim(rp->db, tgt->id, &a, &w, err);
    if (rc)
        goto out_release;
    if (w.n_chunks > 0) {
        texts = kb_xcalloc((size_t)w.n_chunks, sizeof *texts);
        for (int i = 0; i < w.n_chunks; i++)
            texts[i] = index_chunk_embed_text(&w.chunks[i], index_chunk_context(w.doc_context, w.chunks[i].heading_path));
        x = kb_try_malloc((size_t)w.n_chunks * (size_t)tgt->dim, sizeof(float));
        rc = x ? tgt->embed(tgt->ud, (const char *const *)texts, w.n_chunks, x, err)
               : kb_error_set(err, KB_ENOMEM, "no memory for %d vectors", w.n_chunks);
    }
    if (rc == 0) {
        rc = pg_reembed_finish(rp->db, &w, tgt, x, rp->node, err);
    } else {
        struct kb_error e = {0};
        pg_job_end(rp->db, w.job_id, INDEX_JOB_RELEASE, rp->node, NULL, &e); /* another try, maybe elsewhere */
    }
    for (int i = 0; texts && i < w.n_chunks; i++)
        free(texts[i]);
    free(texts);
    free(x);
out_release:
    kb_arena_release(&a);
    return rc;
}

/* Copies up to batch of tgt's vectors the cache lacks from PostgreSQL. *all_there: none lacked. */
static int rpg_pull(struct index_store *st, struct reembed_pg *rp, const struct index_embedder *tgt, int batch,
                    bool *all_there, struct kb_error *err)
{
    int64_t *ids = kb_xmalloc((size_t)batch * sizeof *ids), put = 0;
    char **texts = kb_xcalloc((size_t)batch, sizeof *texts);
    bool *found = NULL;
    float *x = NULL;
    int n = 0, m = 0, rc;
    *all_there = false;
    store_lock(st);
    rc = store_missing_batch(st, tgt->id, st->reembed_cursor, batch, ids, texts, &n, err);
    store_unlock(st);
    if (rc == 0 && n == 0)
        *all_there = true;
    if (rc || n == 0)
        goto out_free;
    found = kb_xcalloc((size_t)n, sizeof *found);
    x = kb_try_malloc((size_t)n * (size_t)tgt->dim, sizeof(float));
    rc = x ? pg_vectors_get(rp->db, tgt->id, tgt->dim, ids, n, x, found, err)
           : kb_error_set(err, KB_ENOMEM, "no memory for %d vectors", n);
    for (int i = 0; rc == 0 && i < n; i++)
        if (found[i]) { /* compact in place: m <= i */
            ids[m] = ids[i];
            memmove(x + (size_t)m * (size_t)tgt->dim, x + (size_t)i * (size_t)tgt->dim, (size_t)tgt->dim * sizeof(float));
            m++;
        }
    if (rc == 0 && m < n)
        rp->queued = false; /* chunks that arrived without them: queue their documents again */
    store_lock(st);
    if (rc == 0 && st->emb == tgt) {
        int64_t last = ids[m > 0 ? m - 1 : 0];
        if (m > 0)
            rc = store_put_vectors(st, tgt, ids, m, x, &put, err);
        if (rc == 0) {
            st->reembed_cursor = KB_MAX(last, st->reembed_cursor);
            st->reembed_done += put;
        }
    }
    store_unlock(st);
out_free:
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(ids);
    free(found);
    free(x);
    return rc;
}

int reembed_pg_step(struct index_store *st, const struct index_embedder *tgt, int batch, bool *switch_now,
                    struct kb_error *err)
{
    struct reembed_pg *rp = NULL;
    int64_t n_queued = 0, n_missing = 0;
    int rc;
    *switch_now = false;
    if ((rc = rpg_connect(st, &rp, err)) != 0)
        return rc;
    if (!rp->queued) {
        rc = pg_reembed_queue(rp->db, tgt->id, &n_queued, &n_missing, err);
        if (rc == 0)
            rp->queued = true;
    }
    if (rc == 0)
        rc = rpg_work(rp, tgt, err);
    if (rc != KB_ENOENT)
        goto out;
    rc = pg_reembed_queue(rp->db, tgt->id, &n_queued, &n_missing, err);
    if (rc || n_queued > 0)
        goto out;
    if (n_missing > 0) { /* other nodes hold the last claims */
        struct timespec ts = {0, REEMBED_PG_WAIT_MS * 1000000L};
        nanosleep(&ts, NULL);
        goto out;
    }
    rc = rpg_pull(st, rp, tgt, batch, switch_now, err);
out:
    if (rc == KB_EBUSY) { /* the connection broke: the next step reconnects (a held claim is gone) */
        pg_db_close(rp->db);
        rp->db = NULL;
    }
    return rc;
}
