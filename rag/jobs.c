/* rag/jobs.c: ingestion. One file goes parse (ingest/) -> chunk -> embed + store in one transaction
 * (index_doc_replace), so a crash leaves a document's old or new version.
 *
 * Two ways in:
 * - rag_upload() spools the upload under <data_dir>/uploads/ (as <sha256 prefix>-<collection>-<name
 *   hash><.ext>: the display name, up to 255 bytes, lives in the database only; the spool copy is
 *   removed once the job stored the original in originals/), creates the document "queued" and
 *   queues a job for rag's worker threads (ingest.workers, default one per core). Jobs live in a
 *   ring in memory; the document rows carry the durable state, so at rag_open() every document
 *   still "queued" or "parsing" is queued again (uploads resume after a restart). With
 *   store.backend = postgres the bytes are stored in PostgreSQL (index_original_put) before the
 *   document row is created and the upload answered.
 * - rag_ingest_paths() (the CLI) walks files and folders and ingests them with a bounded pool of
 *   threads, skipping files whose sha256 is unchanged, replacing changed ones, pruning on request.
 * - rag_jobs_reembed() runs the re-embedding after an embedder change on its own thread (below).
 * Lock rules: r->lock guards the job ring and r->stopping; no lock is held while parsing or
 * embedding. r->lock may be held while calling into the store (its mutex comes second). The config
 * is a snapshot (rag_config_get/put) held for one file, or for one batch of a re-embedding.
 * With store.backend = postgres the jobs are PostgreSQL's, shared by every node (below, "jobs shared
 * through PostgreSQL"): uploads create the document and its job in one PostgreSQL transaction and
 * nothing is spooled locally; the ring then only mirrors the jobs this node runs.
 * Tests: tests/rag/test_rag.c; shared jobs: tests/web/test_pg_nodes.c. */
#include "rag/rag_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *rag_mime_of(enum ingest_format f)
{
    switch (f) {
    case INGEST_FMT_TEXT: return "text/plain";
    case INGEST_FMT_MARKDOWN: return "text/markdown";
    case INGEST_FMT_HTML: return "text/html";
    case INGEST_FMT_CSV: return "text/csv";
    case INGEST_FMT_DOCX: return "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    case INGEST_FMT_XLSX: return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    case INGEST_FMT_PPTX: return "application/vnd.openxmlformats-officedocument.presentationml.presentation";
    case INGEST_FMT_PDF: return "application/pdf";
    case INGEST_FMT_EPUB: return "application/epub+zip";
    case INGEST_FMT_IMAGE: return "image/*";
    case INGEST_FMT_UNKNOWN: break;
    }
    return "application/octet-stream";
}

/* Reads a whole file under the ingest size cap. Caller frees *data. */
static int jobs_read_file(const struct config *cfg, const char *path, char **data, size_t *n, struct kb_error *err)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    int rc = 0;
    *data = NULL;
    *n = 0;
    if (!f)
        return kb_error_set(err, KB_ENOENT, "cannot open '%s': %s", path, strerror(errno));
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        rc = kb_error_set(err, KB_EINVAL, "'%s' is not a regular file", path);
    } else if ((int64_t)sb.st_size > cfg->ingest_max_file_bytes) {
        rc = kb_error_set(err, KB_ETOOBIG, "'%s' is %lld bytes, over ingest.max_file_bytes (%lld)", path,
                          (long long)sb.st_size, (long long)cfg->ingest_max_file_bytes);
    } else if (!(*data = kb_try_malloc((size_t)sb.st_size + 1, 1))) {
        rc = kb_error_set(err, KB_ENOMEM, "'%s': out of memory", path);
    } else if (fread(*data, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        rc = kb_error_set(err, KB_EIO, "cannot read '%s'", path);
    } else {
        *n = (size_t)sb.st_size;
    }
    fclose(f);
    if (rc) {
        free(*data);
        *data = NULL;
    }
    return rc;
}

static void jobs_sha256(const void *p, size_t n, char hex[65])
{
    struct kb_sha256 s;
    uint8_t d[32];
    kb_sha256_init(&s);
    kb_sha256_update(&s, p, n);
    kb_sha256_final(&s, d);
    kb_sha256_hex(d, hex);
}

static const char *jobs_base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int rag_ingest_one(struct rag *r, int64_t doc_id, int64_t collection_id, const char *path, const char *name,
                   const char *key_path, int64_t *n_chunks, struct kb_error *err)
{
    char *data = NULL;
    size_t n = 0;
    struct ingest_doc *doc = NULL;
    struct index_chunk *chunks = NULL;
    struct index_doc meta = {0};
    const struct config *cfg = rag_config_get(r); /* one snapshot for the whole file */
    struct stat sb;
    int rc;
    rc = jobs_read_file(cfg, path, &data, &n, err);
    if (!rc)
        rc = ingest_parse_memory(cfg, data, n, name, INGEST_FMT_UNKNOWN, &doc, err);
    if (!rc)
        rc = ingest_chunk(cfg, doc, err);
    if (rc)
        goto out;
    chunks = kb_xcalloc(doc->n_chunks + 1, sizeof *chunks);
    for (size_t i = 0; i < doc->n_chunks; i++) {
        const struct ingest_chunk *c = &doc->chunks[i];
        chunks[i] = (struct index_chunk){c->text, c->heading_path, c->page_first ? c->page_first : c->slide_first,
                                         c->page_last ? c->page_last : c->slide_last, (int64_t)c->off_start,
                                         (int64_t)c->off_end, c->n_tokens, c->page_map};
    }
    meta.id = doc_id;
    meta.collection_id = collection_id;
    meta.name = name;
    meta.path = key_path;
    meta.mime = rag_mime_of(doc->format);
    meta.bytes = (int64_t)n;
    jobs_sha256(data, n, meta.sha256);
    meta.mtime = stat(path, &sb) == 0 ? (int64_t)sb.st_mtime : 0;
    meta.status = INDEX_DOC_INDEXED;
    meta.title = doc->title;
    rc = index_doc_replace(r->st, &meta, chunks, (int)doc->n_chunks, NULL, data, n, NULL, err);
    if (!rc && n_chunks)
        *n_chunks = (int64_t)doc->n_chunks;
out:
    free(chunks);
    ingest_doc_free(doc);
    free(data);
    rag_config_put(r, cfg);
    return rc;
}

/* ---- the job queue ----------------------------------------------------------------------------------- */

int64_t rag_jobs_queue(struct rag *r, int64_t doc_id, int64_t collection_id, const char *spool_path,
                       const char *name)
{
    struct rag_job_slot *s;
    int64_t id;
    pthread_mutex_lock(&r->lock);
    id = r->next_job_id++;
    s = &r->jobs[id % RAG_MAX_JOBS];
    free(s->spool_path);
    free(s->name);
    *s = (struct rag_job_slot){.id = id, .document_id = doc_id, .collection_id = collection_id};
    kb_strlcpy(s->kind, "ingest", sizeof s->kind);
    kb_strlcpy(s->state, "queued", sizeof s->state);
    s->spool_path = kb_xstrdup(spool_path);
    s->name = kb_xstrdup(name);
    pthread_cond_signal(&r->job_cv);
    pthread_mutex_unlock(&r->lock);
    return id;
}

/* True when path is a spooled upload (<data_dir>/uploads/...), not an original a reingest reads. */
static bool jobs_is_spool(struct rag *r, const char *path)
{
    const struct config *cfg = rag_config_get(r);
    size_t n = strlen(cfg->data_dir);
    bool yes = strncmp(path, cfg->data_dir, n) == 0 && strncmp(path + n, "/uploads/", 9) == 0;
    rag_config_put(r, cfg);
    return yes;
}

static void *jobs_worker(void *arg)
{
    struct rag *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        struct rag_job_slot *job = NULL;
        int64_t best = 0;
        for (int i = 0; i < RAG_MAX_JOBS; i++) {
            struct rag_job_slot *s = &r->jobs[i];
            if (s->id && !strcmp(s->kind, "ingest") && !strcmp(s->state, "queued") && (!best || s->id < best)) {
                best = s->id;
                job = s;
            }
        }
        if (!job) {
            pthread_cond_wait(&r->job_cv, &r->lock);
            continue;
        }
        kb_strlcpy(job->state, "running", sizeof job->state);
        int64_t id = job->id, doc = job->document_id, coll = job->collection_id;
        char *spool = kb_xstrdup(job->spool_path), *name = kb_xstrdup(job->name);
        pthread_mutex_unlock(&r->lock);

        struct kb_error err = {0};
        int rc = index_doc_set_status(r->st, doc, INDEX_DOC_PARSING, NULL, &err);
        if (!rc)
            rc = rag_ingest_one(r, doc, coll, spool, name, spool, NULL, &err);
        if (rc && rc != KB_ENOENT) {
            struct kb_error e2 = {0};
            index_doc_set_status(r->st, doc, INDEX_DOC_FAILED, kb_error_msg(&err, rc), &e2);
            kb_warn("ingest '%s' failed: %s", name, kb_error_msg(&err, rc));
        }
        if (!rc && jobs_is_spool(r, spool))
            unlink(spool); /* the original is in originals/ now; a failed upload keeps its spool for reingest */
        pthread_mutex_lock(&r->lock);
        job = &r->jobs[id % RAG_MAX_JOBS];
        if (job->id == id) {
            kb_strlcpy(job->state, rc ? "failed" : "done", sizeof job->state);
            if (rc)
                kb_strlcpy(job->error, kb_error_msg(&err, rc), sizeof job->error);
        }
        free(spool);
        free(name);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* ---- jobs shared through PostgreSQL (store.backend = postgres) ---------------------------------------
 * Each worker thread claims jobs from PostgreSQL (index_job_claim: a row lock held by its own
 * connection until the job ends) instead of from the ring; the ring only mirrors what this node
 * runs, for /api/jobs. Between claims a worker waits JOBS_PG_POLL_MS or until this node queues a job
 * (rag_jobs_wake); jobs queued by other nodes are found by that poll. The file's bytes come from
 * PostgreSQL (originals), so any node can ingest any upload. PostgreSQL unreachable mid-job: the job
 * is released (or its claim dies with the connection) and runs again, on some node, later. */

#define JOBS_PG_POLL_MS 500
#define JOBS_LOCAL_ID_BASE ((int64_t)1 << 40) /* ring-only ids (re-embedding) above PostgreSQL's job ids */

void rag_jobs_wake(struct rag *r)
{
    pthread_mutex_lock(&r->lock);
    pthread_cond_broadcast(&r->job_cv);
    pthread_mutex_unlock(&r->lock);
}

/* Records what this node does with a shared job in the ring (lock taken here). */
static void jobs_pg_mark(struct rag *r, const struct index_job *j, const char *state, const char *error)
{
    struct rag_job_slot *s;
    pthread_mutex_lock(&r->lock);
    s = &r->jobs[j->id % RAG_MAX_JOBS];
    if (s->id != j->id) {
        free(s->spool_path);
        free(s->name);
        *s = (struct rag_job_slot){.id = j->id, .document_id = j->document_id, .collection_id = j->collection_id};
        kb_strlcpy(s->kind, j->kind, sizeof s->kind);
        s->name = kb_xstrdup(j->name);
    }
    kb_strlcpy(s->state, state, sizeof s->state);
    kb_strlcpy(s->error, error ? error : "", sizeof s->error);
    pthread_mutex_unlock(&r->lock);
}

/* The original's bytes from PostgreSQL into a private file under uploads/ (path into buf). */
static int jobs_pg_fetch(struct rag *r, const struct index_job *j, char *buf, size_t buf_bytes, struct kb_error *err)
{
    void *data = NULL;
    size_t n = 0;
    const struct config *cfg = rag_config_get(r);
    int fd, rc = index_original_get(r->st, j->sha256, &data, &n, err);
    snprintf(buf, buf_bytes, "%s/uploads/job-%lld-%ld", cfg->data_dir, (long long)j->id, (long)getpid());
    rag_config_put(r, cfg);
    if (rc)
        return rc;
    fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n)
        rc = kb_error_set(err, errno == ENOSPC ? KB_ENOSPC : KB_EIO, "cannot write '%s': %s", buf, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && !rc)
        rc = kb_error_set(err, KB_EIO, "cannot write '%s': %s", buf, strerror(errno));
    free(data);
    return rc;
}

/* Runs one claimed job to its end (done, failed, or released when PostgreSQL went away). */
static void jobs_pg_run(struct rag *r, struct index_job_worker *w, const struct index_job *j)
{
    struct kb_error err = {0}, e2 = {0};
    char tmp[4400] = "";
    enum index_job_end how = INDEX_JOB_DONE;
    const char *msg = NULL;
    int rc = 0;
    jobs_pg_mark(r, j, "running", NULL);
    if (!j->doc_found) {
        msg = "the document was deleted";
        goto out_end;
    }
    rc = index_doc_set_status(r->st, j->document_id, INDEX_DOC_PARSING, NULL, &err);
    if (!rc)
        rc = jobs_pg_fetch(r, j, tmp, sizeof tmp, &err);
    if (!rc)
        rc = rag_ingest_one(r, j->document_id, j->collection_id, tmp, j->name, j->path, NULL, &err);
    if (tmp[0])
        unlink(tmp);
    if (rc == KB_EBUSY) {
        how = INDEX_JOB_RELEASE; /* PostgreSQL went away: the job runs again later */
        msg = kb_error_msg(&err, rc);
    } else if (rc) {
        how = INDEX_JOB_FAILED;
        msg = kb_error_msg(&err, rc);
        if (index_doc_set_status(r->st, j->document_id, INDEX_DOC_FAILED, msg, &e2) != 0)
            kb_warn("ingest '%s': cannot record the failure: %s", j->name, e2.msg);
        kb_warn("ingest '%s' failed: %s", j->name, msg);
    }
out_end:
    if (index_job_end(w, j->id, how, msg, &e2) != 0) {
        kb_warn("job %lld: %s", (long long)j->id, e2.msg);
        how = INDEX_JOB_RELEASE; /* the claim is gone: PostgreSQL gives the job to the next claimer */
    }
    jobs_pg_mark(r, j, how == INDEX_JOB_DONE ? "done" : how == INDEX_JOB_FAILED ? "failed" : "queued", msg);
}

static bool jobs_stopping(struct rag *r)
{
    bool v;
    pthread_mutex_lock(&r->lock);
    v = r->stopping;
    pthread_mutex_unlock(&r->lock);
    return v;
}

static void *jobs_pg_worker(void *arg)
{
    struct rag *r = arg;
    struct index_job_worker *w = NULL;
    struct index_job *j = kb_xmalloc(sizeof *j);
    while (!jobs_stopping(r)) {
        struct kb_error err = {0};
        struct timespec until;
        int rc = w ? 0 : index_job_worker_open(r->st, &w, &err);
        if (rc == 0)
            rc = index_job_claim(w, j, &err);
        if (rc == 0) {
            jobs_pg_run(r, w, j);
            continue;
        }
        if (rc != KB_ENOENT)
            kb_debug("ingestion worker: %s", err.msg); /* the sync thread reports the outage */
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += JOBS_PG_POLL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&r->lock);
        if (!r->stopping)
            pthread_cond_timedwait(&r->job_cv, &r->lock, &until);
        pthread_mutex_unlock(&r->lock);
    }
    index_job_worker_close(w);
    free(j);
    return NULL;
}

int rag_jobs_start(struct rag *r, struct kb_error *err)
{
    struct kb_arena a;
    struct index_doc *d;
    int n, rc;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const struct config *cfg = rag_config_get(r);
    /* the pool is sized once: a later ingest.workers change takes effect at the next start */
    r->n_workers = cfg->ingest_workers ? (int)cfg->ingest_workers : (int)(cores > 0 ? cores : 1);
    rag_config_put(r, cfg);
    if (index_jobs_shared(r->st)) { /* the queue is PostgreSQL's: nothing to resume here */
        r->next_job_id = JOBS_LOCAL_ID_BASE;
        r->workers = kb_xcalloc((size_t)r->n_workers, sizeof *r->workers);
        for (int i = 0; i < r->n_workers; i++) {
            if (pthread_create(&r->workers[i], NULL, jobs_pg_worker, r)) {
                r->n_workers = i;
                return kb_error_set(err, KB_EINTERNAL, "cannot start ingestion workers");
            }
        }
        return 0;
    }
    /* Resume what a previous run left queued. */
    kb_arena_init(&a, 0, 0);
    rc = index_doc_list(r->st, 0, &a, &d, &n, err);
    for (int i = 0; !rc && i < n; i++) {
        if ((d[i].status == INDEX_DOC_QUEUED || d[i].status == INDEX_DOC_PARSING) && d[i].path &&
            access(d[i].path, R_OK) == 0) {
            kb_info("resuming ingestion of '%s'", d[i].name);
            rag_jobs_queue(r, d[i].id, d[i].collection_id, d[i].path, d[i].name);
        }
    }
    kb_arena_release(&a);
    if (rc)
        return rc;
    r->workers = kb_xcalloc((size_t)r->n_workers, sizeof *r->workers);
    for (int i = 0; i < r->n_workers; i++) {
        if (pthread_create(&r->workers[i], NULL, jobs_worker, r)) {
            r->n_workers = i;
            return kb_error_set(err, KB_EINTERNAL, "cannot start ingestion workers");
        }
    }
    return 0;
}

void rag_jobs_stop(struct rag *r)
{
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_broadcast(&r->job_cv);
    pthread_mutex_unlock(&r->lock);
    /* the re-embedding stops after its current batch; the store resumes it at the next open */
    if (r->reembed_started)
        pthread_join(r->reembed_thread, NULL);
    r->reembed_started = false;
    if (!r->workers)
        return;
    for (int i = 0; i < r->n_workers; i++)
        pthread_join(r->workers[i], NULL);
    free(r->workers);
    r->workers = NULL;
}

/* ---- the re-embedding job -------------------------------------------------------------------------------
 * When the configured embedder differs from the one the stored vectors come from, one thread runs
 * index_reembed_step() in batches of embed.batch chunks until the store has switched; search keeps
 * the old vectors meanwhile. It shows as a job of kind "reembed" with chunk progress. Stopping
 * (rag_close) leaves the work done so far in the database; the next rag_open() starts it again.
 * With a remote embedder (embed.backend = openai) a step takes embed.batch x embed.max_concurrent
 * chunks, which rag/remote_embed.c sends as that many requests at once; a transient failure
 * (timeout, breaker open, 429, connection) waits JOBS_REEMBED_WAIT_S and tries again, up to
 * JOBS_REEMBED_TRANSIENT times in a row; any other error (a dimension mismatch) fails the job at
 * once, and search keeps the old vectors. */

static void jobs_reembed_mark(struct rag *r, int64_t id, const char *state, const struct index_reembed_status *s,
                              const char *error)
{
    struct rag_job_slot *slot = &r->jobs[id % RAG_MAX_JOBS];
    if (slot->id != id)
        return;
    if (state)
        kb_strlcpy(slot->state, state, sizeof slot->state);
    if (s) {
        slot->n_done = s->n_done;
        slot->n_total = s->n_total;
    }
    if (error)
        kb_strlcpy(slot->error, error, sizeof slot->error);
}

#define JOBS_REEMBED_TRANSIENT 20 /* transient failures in a row before the job fails */
#define JOBS_REEMBED_WAIT_S 3

/* Errors of a remote embedder that may pass: the breaker is open, a timeout, rate limited, a
 * connection that failed. Anything else (a dimension mismatch, bad responses) fails the job. */
static bool jobs_transient(int rc)
{
    return rc == KB_EBUSY || rc == KB_ETIMEOUT || rc == KB_ERATE || rc == KB_EIO;
}

static void *jobs_reembed_main(void *arg)
{
    struct rag *r = arg;
    struct index_reembed_status s;
    int n_transient = 0;
    int64_t id;
    pthread_mutex_lock(&r->lock);
    id = r->reembed_job_id;
    while (!r->stopping) {
        struct kb_error err = {0};
        bool fin = false;
        const struct config *cfg;
        int batch, rc;
        pthread_mutex_unlock(&r->lock);
        cfg = rag_config_get(r);
        batch = (int)cfg->embed_batch;
        if (r->remote_emb) /* one step feeds every request slot of the remote embedder */
            batch *= (int)cfg->embed_max_concurrent;
        rag_config_put(r, cfg);
        rc = index_reembed_step(r->st, batch, &s, &fin, &err);
        pthread_mutex_lock(&r->lock);
        if (rc && jobs_transient(rc) && ++n_transient <= JOBS_REEMBED_TRANSIENT) {
            /* a remote embedder that timed out or is held down by its breaker: wait and go on */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += JOBS_REEMBED_WAIT_S;
            kb_warn("re-embedding: %s; trying again in %d s", kb_error_msg(&err, rc), JOBS_REEMBED_WAIT_S);
            jobs_reembed_mark(r, id, NULL, &s, kb_error_msg(&err, rc));
            if (!r->stopping)
                pthread_cond_timedwait(&r->job_cv, &r->lock, &until);
            continue;
        }
        if (!rc)
            n_transient = 0;
        if (rc) {
            jobs_reembed_mark(r, id, "failed", &s, kb_error_msg(&err, rc));
            kb_warn("re-embedding failed (it restarts at the next start or embed.model change): %s",
                    kb_error_msg(&err, rc));
            break;
        }
        jobs_reembed_mark(r, id, NULL, &s, NULL);
        if (fin) {
            /* under r->lock, so an embed.model change now either sees this thread running or
             * finds it gone and starts another */
            index_reembed_status(r->st, &s);
            if (!s.pending) {
                jobs_reembed_mark(r, id, "done", &s, NULL);
                break;
            }
        }
    }
    if (r->stopping)
        jobs_reembed_mark(r, id, NULL, NULL, "interrupted by shutdown; resumes at the next start");
    r->reembed_running = false;
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

void rag_jobs_reembed(struct rag *r)
{
    struct index_reembed_status s;
    struct rag_job_slot *slot;
    int64_t id;
    pthread_mutex_lock(&r->lock);
    if (r->stopping || r->reembed_running || index_reembed_status(r->st, &s) != 0 || !s.pending)
        goto out_unlock;
    if (r->reembed_started) /* the previous job's thread has ended (reembed_running is false) */
        pthread_join(r->reembed_thread, NULL);
    r->reembed_started = false;
    id = r->next_job_id++;
    slot = &r->jobs[id % RAG_MAX_JOBS];
    free(slot->spool_path);
    free(slot->name);
    *slot = (struct rag_job_slot){.id = id, .n_done = s.n_done, .n_total = s.n_total};
    kb_strlcpy(slot->kind, "reembed", sizeof slot->kind);
    kb_strlcpy(slot->state, "running", sizeof slot->state);
    slot->name = kb_xstrdup(s.embedder_id);
    r->reembed_job_id = id;
    r->reembed_running = true;
    if (pthread_create(&r->reembed_thread, NULL, jobs_reembed_main, r)) {
        r->reembed_running = false;
        jobs_reembed_mark(r, id, "failed", NULL, "cannot start a thread");
    } else {
        r->reembed_started = true;
        kb_info("re-embedding job %lld: %lld of %lld chunks to embed with '%s'", (long long)id,
                (long long)(s.n_total - s.n_done), (long long)s.n_total, s.embedder_id);
    }
out_unlock:
    pthread_mutex_unlock(&r->lock);
}

/* name cut to fit out (at a UTF-8 boundary, "..." added), for error messages: a name may be 255 bytes. */
static const char *jobs_short_name(const char *name, char *out, size_t out_bytes)
{
    size_t n = strlen(name);
    if (n < out_bytes)
        return memcpy(out, name, n + 1);
    n = out_bytes - 4;
    while (n && ((unsigned char)name[n] & 0xc0) == 0x80)
        n--;
    memcpy(out, name, n);
    memcpy(out + n, "...", 4);
    return out;
}

/* The spool file of an upload: "<data_dir>/uploads/<sha256 prefix>-<collection>-<hash of name><.ext>".
 * Never the name itself, which may be up to 255 bytes already; the extension (when short) is kept
 * for whoever looks at the directory. The display name lives in the database. */
static void jobs_spool_name(const char *data_dir, const char *sha, int64_t collection_id, const char *base, char *out,
                            size_t out_bytes)
{
    const char *dot = strrchr(base, '.');
    bool ext_ok = dot && dot != base && strlen(dot) <= 16;
    for (const char *c = dot; ext_ok && *c; c++)
        ext_ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.';
    snprintf(out, out_bytes, "%s/uploads/%.16s-%lld-%08x%s", data_dir, sha, (long long)collection_id,
             (unsigned)kb_fnv1a32(KB_FNV1A32_INIT, base, strlen(base)), ext_ok ? dot : "");
}

/* Copies src to a new file dst (mode 0600) and removes src: rename across file systems. errno is
 * kept from the failing call. */
static int jobs_copy(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC), out = in >= 0 ? open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
                                                           : -1;
    char buf[65536];
    ssize_t k = 0;
    int rc = in >= 0 && out >= 0 ? 0 : KB_EIO;
    while (!rc && (k = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)k) != k)
            rc = errno == ENOSPC ? KB_ENOSPC : KB_EIO;
    if (!rc && k < 0)
        rc = KB_EIO;
    if (out >= 0 && close(out) != 0 && !rc)
        rc = KB_EIO;
    if (in >= 0)
        close(in);
    if (rc && out >= 0)
        unlink(dst);
    else if (!rc)
        unlink(src);
    return rc;
}

int rag_upload(struct rag *r, int64_t collection_id, const char *filename, const char *tmp_path,
               int64_t *doc_id, int64_t *job_id, struct kb_error *err)
{
    char *data = NULL, spool[4400], sha[65];
    size_t n;
    struct kb_arena a;
    struct index_doc existing, d = {0};
    const char *base = jobs_base_name(filename);
    const struct config *cfg;
    int rc = 0;
    *doc_id = *job_id = 0;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return kb_error_set(err, KB_EINVAL, "bad file name '%.100s'", filename);
    cfg = rag_config_get(r);
    rc = jobs_read_file(cfg, tmp_path, &data, &n, err);
    rag_config_put(r, cfg);
    if (rc)
        return rc;
    if (n == 0) {
        free(data);
        char shown[80];
        return kb_error_set(err, KB_EEMPTY, "'%s' is empty", jobs_short_name(base, shown, sizeof shown));
    }
    jobs_sha256(data, n, sha);
    kb_arena_init(&a, 0, 0);
    if (index_doc_find_by_sha256(r->st, collection_id, sha, &a, &existing, NULL) == 0) {
        *doc_id = existing.id;
        unlink(tmp_path);
        kb_arena_release(&a);
        free(data);
        return 0;
    }
    kb_arena_release(&a);
    /* store.backend = postgres: the bytes are in PostgreSQL before the upload is answered */
    rc = index_original_put(r->st, sha, data, n, err);
    free(data);
    if (rc)
        return rc;
    cfg = rag_config_get(r);
    jobs_spool_name(cfg->data_dir, sha, collection_id, base, spool, sizeof spool);
    rag_config_put(r, cfg);
    if (!index_jobs_shared(r->st) && rename(tmp_path, spool) != 0 && (errno != EXDEV || (rc = jobs_copy(tmp_path, spool)) != 0)) {
        char shown[80];
        rc = rc ? rc : errno == ENOSPC ? KB_ENOSPC : KB_EIO;
        return kb_error_set(err, rc, "cannot store upload '%s': %s", jobs_short_name(base, shown, sizeof shown),
                            strerror(errno));
    }
    d.collection_id = collection_id;
    d.name = base;
    d.path = spool;
    d.bytes = (int64_t)n;
    memcpy(d.sha256, sha, sizeof d.sha256);
    d.status = INDEX_DOC_QUEUED;
    if (index_jobs_shared(r->st)) {
        /* the bytes are in PostgreSQL: the document and its job are one transaction there, and
         * whichever node's worker claims the job reads the bytes back from PostgreSQL */
        unlink(tmp_path);
        rc = index_doc_create_job(r->st, &d, doc_id, job_id, err);
        if (rc == 0)
            rag_jobs_wake(r);
        return rc;
    }
    rc = index_doc_create(r->st, &d, doc_id, err);
    if (rc) {
        unlink(spool);
        return rc;
    }
    *job_id = rag_jobs_queue(r, *doc_id, collection_id, spool, base);
    return 0;
}

static void jobs_export(const struct rag_job_slot *s, struct rag_job *out)
{
    memset(out, 0, sizeof *out);
    out->id = s->id;
    out->document_id = s->document_id;
    kb_strlcpy(out->kind, s->kind, sizeof out->kind);
    kb_strlcpy(out->state, s->state, sizeof out->state);
    kb_strlcpy(out->error, s->error, sizeof out->error);
    out->n_done = s->n_done;
    out->n_total = s->n_total;
    if (!strcmp(s->state, "done"))
        out->progress = 1.0;
    else if (!strcmp(s->kind, "reembed"))
        out->progress = s->n_total > 0 ? (double)s->n_done / (double)s->n_total : 0.0;
    else
        out->progress = !strcmp(s->state, "failed") ? 1.0 : !strcmp(s->state, "running") ? 0.5 : 0.0;
}

/* A job shared through PostgreSQL as rag_job; this node's ring says whether it runs it now (r->lock
 * held). */
static void jobs_pg_export(struct rag *r, const struct index_job *j, struct rag_job *out)
{
    const struct rag_job_slot *s = &r->jobs[j->id % RAG_MAX_JOBS];
    memset(out, 0, sizeof *out);
    out->id = j->id;
    out->document_id = j->document_id;
    kb_strlcpy(out->kind, j->kind, sizeof out->kind);
    kb_strlcpy(out->state, j->state, sizeof out->state);
    kb_strlcpy(out->error, j->error, sizeof out->error);
    if (!strcmp(out->state, "queued") && s->id == j->id && !strcmp(s->state, "running"))
        kb_strlcpy(out->state, "running", sizeof out->state);
    out->progress = strcmp(out->state, "queued") == 0 ? 0.0 : strcmp(out->state, "running") == 0 ? 0.5 : 1.0;
}

static int jobs_pg_get(struct rag *r, int64_t id, struct rag_job *out, struct kb_error *err)
{
    struct index_job *j = kb_xmalloc(sizeof *j);
    int rc = index_job_get(r->st, id, j, err);
    if (rc == 0) {
        pthread_mutex_lock(&r->lock);
        jobs_pg_export(r, j, out);
        pthread_mutex_unlock(&r->lock);
    }
    free(j);
    return rc;
}

/* Appends the newest shared jobs (every node's) to out[*n..RAG_JOBS_LIST_MAX). */
static int jobs_pg_list(struct rag *r, struct rag_job *out, int *n, struct kb_error *err)
{
    int max = RAG_JOBS_LIST_MAX - *n, got = 0, rc;
    struct index_job *j = kb_xcalloc((size_t)max + 1, sizeof *j);
    rc = index_job_list(r->st, max, j, &got, err);
    pthread_mutex_lock(&r->lock);
    for (int i = 0; rc == 0 && i < got; i++)
        jobs_pg_export(r, &j[i], &out[(*n)++]);
    pthread_mutex_unlock(&r->lock);
    free(j);
    return rc;
}

int rag_job_get(struct rag *r, int64_t id, struct rag_job *out, struct kb_error *err)
{
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (index_jobs_shared(r->st) && id > 0 && id < JOBS_LOCAL_ID_BASE) {
        rc = jobs_pg_get(r, id, out, err);
        if (rc != KB_EBUSY)
            return rc;
        rc = 0; /* PostgreSQL unreachable: what this node knows */
    }
    pthread_mutex_lock(&r->lock);
    struct rag_job_slot *s = &r->jobs[((id % RAG_MAX_JOBS) + RAG_MAX_JOBS) % RAG_MAX_JOBS];
    if (id <= 0 || s->id != id)
        rc = kb_error_set(err, KB_ENOENT, "no job %lld", (long long)id);
    else
        jobs_export(s, out);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int rag_jobs_list(struct rag *r, struct rag_job **out, int *n_out, struct kb_error *err)
{
    int n = 0;
    (void)err;
    int64_t oldest;
    *out = kb_xcalloc(RAG_JOBS_LIST_MAX + 1, sizeof **out);
    pthread_mutex_lock(&r->lock);
    /* ids are consecutive and the ring holds the newest RAG_MAX_JOBS of them */
    oldest = r->next_job_id - RAG_JOBS_LIST_MAX;
    for (int64_t id = r->next_job_id - 1; id > 0 && id >= oldest; id--) {
        const struct rag_job_slot *s = &r->jobs[id % RAG_MAX_JOBS];
        if (s->id == id)
            jobs_export(s, &(*out)[n++]);
    }
    /* a long re-embedding stays listed however many uploads came after it */
    if (r->reembed_job_id > 0 && r->reembed_job_id < oldest &&
        r->jobs[r->reembed_job_id % RAG_MAX_JOBS].id == r->reembed_job_id)
        jobs_export(&r->jobs[r->reembed_job_id % RAG_MAX_JOBS], &(*out)[n++]);
    pthread_mutex_unlock(&r->lock);
    /* shared through PostgreSQL: the ring above held this node's re-embedding only; the ingestion
     * jobs are every node's (PostgreSQL unreachable: the list says so with 503) */
    if (index_jobs_shared(r->st)) {
        int rc = jobs_pg_list(r, *out, &n, err);
        if (rc) {
            free(*out);
            *out = NULL;
            return rc;
        }
    }
    *n_out = n;
    return 0;
}

int rag_reembed_wait(struct rag *r, void (*progress)(void *ud, int64_t done, int64_t total), void *ud,
                     struct kb_error *err)
{
    int rc = 0;
    rag_jobs_reembed(r); /* e.g. after a failed job: try again */
    for (;;) {
        struct rag_job_slot *s;
        bool running, have = false;
        int64_t done = 0, total = 0;
        struct timespec ts = {0, 200 * 1000 * 1000};
        pthread_mutex_lock(&r->lock);
        running = r->reembed_running;
        s = &r->jobs[r->reembed_job_id % RAG_MAX_JOBS];
        if (r->reembed_job_id > 0 && s->id == r->reembed_job_id) {
            have = true;
            done = s->n_done;
            total = s->n_total;
            if (!running && !strcmp(s->state, "failed"))
                rc = kb_error_set(err, KB_EINTERNAL, "re-embedding failed: %s", s->error);
        }
        pthread_mutex_unlock(&r->lock);
        if (progress && have)
            progress(ud, done, total);
        if (!running || rc)
            break;
        nanosleep(&ts, NULL);
    }
    return rc;
}

/* ---- synchronous ingestion of paths (the CLI) -------------------------------------------------------- */

struct walk {
    char **files;
    int n, cap;
};

static int walk_add(struct walk *w, const char *path, struct kb_error *err)
{
    struct stat sb;
    if (stat(path, &sb))
        return kb_error_set(err, KB_ENOENT, "cannot read '%s': %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        char **names = NULL;
        int nn = 0, rc = 0;
        if (!d)
            return kb_error_set(err, KB_EIO, "cannot list '%s': %s", path, strerror(errno));
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            names = kb_xrealloc(names, (size_t)(nn + 1) * sizeof *names);
            names[nn++] = kb_xstrdup(e->d_name);
        }
        closedir(d);
        /* sorted, so ingestion order (and document ids) are deterministic */
        for (int i = 1; i < nn; i++)
            for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
                char *t = names[j];
                names[j] = names[j - 1];
                names[j - 1] = t;
            }
        for (int i = 0; i < nn; i++) {
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, names[i]);
            if (!rc)
                rc = walk_add(w, sub, err);
            free(names[i]);
        }
        free(names);
        return rc;
    }
    if (!S_ISREG(sb.st_mode))
        return 0;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->files = kb_xrealloc(w->files, (size_t)w->cap * sizeof *w->files);
    }
    {
        char *abs = realpath(path, NULL);
        w->files[w->n++] = abs ? abs : kb_xstrdup(path);
    }
    return 0;
}

struct ingest_run {
    struct rag *r;
    int64_t collection_id;
    struct walk *w;
    int next;                 /* next file index; guarded by mu */
    pthread_mutex_t mu;
    rag_progress_fn progress;
    void *ud;
    struct rag_ingest_progress p;
    int n_failed;
};

static void *ingest_run_worker(void *arg)
{
    struct ingest_run *run = arg;
    for (;;) {
        struct kb_error err = {0};
        struct kb_arena a;
        struct index_doc old;
        struct stat sb;
        char *data = NULL, sha[65];
        size_t n = 0;
        int64_t n_chunks = 0;
        bool skipped = false;
        int rc, i;
        pthread_mutex_lock(&run->mu);
        i = run->next++;
        pthread_mutex_unlock(&run->mu);
        if (i >= run->w->n)
            break;
        const char *path = run->w->files[i];
        kb_arena_init(&a, 0, 0);
        {
            const struct config *cfg = rag_config_get(run->r);
            rc = jobs_read_file(cfg, path, &data, &n, &err);
            rag_config_put(run->r, cfg);
        }
        if (!rc) {
            jobs_sha256(data, n, sha);
            if (index_doc_find_by_path(run->r->st, run->collection_id, path, &a, &old, NULL) == 0 &&
                !strcmp(old.sha256, sha) && old.status == INDEX_DOC_INDEXED) {
                skipped = true;
                n_chunks = old.n_chunks;
            }
        }
        free(data);
        kb_arena_release(&a);
        if (!rc && !skipped)
            rc = rag_ingest_one(run->r, 0, run->collection_id, path, jobs_base_name(path), path, &n_chunks, &err);
        pthread_mutex_lock(&run->mu);
        run->p.path = path;
        run->p.status = rc;
        run->p.error = rc ? kb_error_msg(&err, rc) : NULL;
        run->p.skipped = skipped;
        run->p.files_done++;
        run->p.chunks_done += n_chunks;
        run->p.bytes_done += stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
        run->n_failed += rc != 0;
        if (run->progress)
            run->progress(run->ud, &run->p);
        pthread_mutex_unlock(&run->mu);
    }
    return NULL;
}

int rag_ingest_paths(struct rag *r, int64_t collection_id, const char *const *paths, int n_paths, bool prune,
                     rag_progress_fn progress, void *ud, struct kb_error *err)
{
    struct walk w = {0};
    struct ingest_run run = {.r = r, .collection_id = collection_id, .w = &w, .progress = progress, .ud = ud};
    pthread_t th[16];
    int n_threads, rc = 0;
    for (int i = 0; i < n_paths && !rc; i++)
        rc = walk_add(&w, paths[i], err);
    if (rc)
        goto out;
    for (int i = 0; i < w.n; i++) {
        struct stat sb;
        if (stat(w.files[i], &sb) == 0)
            run.p.bytes_total += (int64_t)sb.st_size;
    }
    run.p.files_total = w.n;
    pthread_mutex_init(&run.mu, NULL);
    n_threads = KB_MIN(r->n_workers, (int)KB_ARRAY_LEN(th));
    n_threads = KB_MAX(1, KB_MIN(n_threads, w.n));
    for (int i = 1; i < n_threads; i++)
        if (pthread_create(&th[i], NULL, ingest_run_worker, &run))
            n_threads = i;
    ingest_run_worker(&run);
    for (int i = 1; i < n_threads; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&run.mu);
    if (prune) {
        struct kb_arena a;
        struct index_doc *d;
        int n;
        kb_arena_init(&a, 0, 0);
        rc = index_doc_list(r->st, collection_id, &a, &d, &n, err);
        for (int i = 0; !rc && i < n; i++) {
            bool upload = d[i].path && strstr(d[i].path, "/uploads/");
            if (d[i].path && d[i].path[0] == '/' && !upload && access(d[i].path, F_OK) != 0) {
                kb_info("pruning '%s' (file is gone)", d[i].path);
                rc = index_doc_delete(r->st, d[i].id, err);
            }
        }
        kb_arena_release(&a);
    }
    if (!rc && run.n_failed)
        rc = kb_error_set(err, KB_EINVAL, "%d of %d files failed", run.n_failed, w.n);
out:
    for (int i = 0; i < w.n; i++)
        free(w.files[i]);
    free(w.files);
    return rc;
}
