/* rag/kb.c: opening the knowledge base and the operations on it: settings, collections, documents,
 * search, answers, embeddings and statistics. Each is a thin composition of index/ (the store and
 * retrieval) and ingest/ (parsing) with result structs whose strings the caller owns.
 *
 * Settings: the configuration is a chain of immutable, reference-counted snapshots (struct
 * rag_cfg_snap). Readers take the current one with rag_config_get() for one request or question and
 * put it back; a change copies the current snapshot, sets the key on the copy (source "settings"),
 * writes the copy's overrides to <data_dir>/settings.json (flat dotted keys, config_write_overrides,
 * applied over the config at every open) and publishes the copy; the old snapshot is freed by its
 * last reader. Changes are serialised by settings_mu, so none is lost between copy and publish.
 * Models: answer.model and embed.model name files of the models folder (<data.dir>/models; a value
 * with a '/' in a config file is a path). Each is checked (rag_model_check: exists, fits in memory,
 * supported architecture of the right kind) before it loads. The answer model is reference
 * counted, so answer.model swaps at once and a replaced model closes after its last answer. The
 * built-in embedder is always open and every GGUF embedder opened stays open until rag_close, so
 * the store can keep searching the previous embedder's vectors while jobs.c re-embeds.
 * embed.backend = openai opens a remote embedder (rag/remote_embed.c) instead of embed.model at
 * rag_open; the embed.* keys of the remote server change only with a restart, and a hybrid search
 * whose query the remote embedder cannot embed (down, timed out) falls back to BM25. The model
 * listing (rag_models_list) serves `kbox model list` and GET /api/models alike. Conversations keep the last question of up to
 * RAG_MAX_CONVERSATIONS ids in memory, so follow-ups can carry its key terms into retrieval. An
 * answer asked with a channel is written to the conversation log (rag/log.c) before rag_ask returns.
 * Threads: every function may be called from any thread; r->lock guards jobs and conversations,
 * r->cfg_lock only the snapshot pointer and the reference counts (never held while a config is
 * read), the store has its own mutex. Tests: tests/rag/ (settings under concurrent questions:
 * tests/web/test_settings_race.c). */
#include "rag/rag_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "infer/infer.h"

static int kb_mkdirs(const char *dir, struct kb_error *err)
{
    char tmp[4096];
    size_t n = kb_strlcpy(tmp, dir, sizeof tmp);
    if (n >= sizeof tmp)
        return kb_error_set(err, KB_EINVAL, "data directory path too long");
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0700) && errno != EEXIST)
                return kb_error_set(err, KB_EIO, "cannot create '%s': %s", tmp, strerror(errno));
            tmp[i] = c;
        }
    }
    return 0;
}

/* embed.model behind the index's embedder interface: documents and queries alike, L2-normalised.
 * infer_embed_texts batches the texts of one call through the encoder. */
static int kb_gguf_embed(void *ud, const char *const *texts, int n, float *out, struct kb_error *err)
{
    return infer_embed_texts(ud, texts, n, out, true, err);
}

/* The embedder an embed.model value names: the built-in one for "", else the GGUF file (in cfg's
 * models folder), opened once per run and kept (see struct rag_gguf_embedder). Caller holds
 * switch_mu (or is rag_open). */
static int kb_embedder_for(struct rag *r, const struct config *cfg, const char *value, struct index_embedder **out,
                           struct kb_error *err)
{
    char path[4200];
    struct rag_gguf_embedder *g;
    int rc;
    if (!value[0]) {
        *out = r->builtin;
        return 0;
    }
    rag_model_path(cfg, value, path, sizeof path);
    for (int i = 0; i < r->n_gguf; i++)
        if (!strcmp(r->gguf[i].path, path)) {
            *out = &r->gguf[i].iface;
            return 0;
        }
    if (r->n_gguf == RAG_MAX_GGUF_EMBEDDERS)
        return kb_error_set(err, KB_EBUSY, "embed.model: %d embedding models were opened since kbox started;"
                                           " restart it to open another", RAG_MAX_GGUF_EMBEDDERS);
    if ((rc = rag_model_check(path, "embedding", err))) {
        kb_error_prefix(err, "embed.model '%s'", value);
        return rc;
    }
    g = &r->gguf[r->n_gguf];
    rc = infer_embedder_open(&g->e, path, (int)cfg->answer_threads, err);
    if (rc) {
        kb_error_prefix(err, "embed.model '%s'", value);
        return rc;
    }
    g->path = kb_xstrdup(path);
    g->iface = (struct index_embedder){.id = infer_embedder_id(g->e),
                                       .dim = infer_embedder_dim(g->e),
                                       .embed = kb_gguf_embed,
                                       .ud = g->e};
    r->n_gguf++;
    kb_info("embedder: %s (%d dimensions)", g->iface.id, g->iface.dim);
    *out = &g->iface;
    return 0;
}

/* Every embedder of this run except e: the ones whose vectors the store may still search. */
static int kb_prev_embedders(struct rag *r, const struct index_embedder *e, const struct index_embedder **prev)
{
    int n = 0;
    if (r->builtin != e)
        prev[n++] = r->builtin;
    if (r->remote_emb && rag_remote_embedder_iface(r->remote_emb) != e)
        prev[n++] = rag_remote_embedder_iface(r->remote_emb);
    for (int i = 0; i < r->n_gguf; i++)
        if (&r->gguf[i].iface != e)
            prev[n++] = &r->gguf[i].iface;
    return n;
}

/* A loaded answer model shared by the answers using it. answer.model swaps r->gen at once; the
 * model it replaced closes when its last answer ends (users, r->gen and r->gen_ref are guarded by
 * r->lock). */
struct rag_gen_ref {
    struct rag_gen *g; /* owned */
    int users;         /* answers generating with it now */
};

static struct rag_gen_ref *kb_gen_take(struct rag *r)
{
    struct rag_gen_ref *ref;
    pthread_mutex_lock(&r->lock);
    ref = r->gen_ref;
    if (ref)
        ref->users++;
    pthread_mutex_unlock(&r->lock);
    return ref;
}

static void kb_gen_put(struct rag *r, struct rag_gen_ref *ref)
{
    bool close_it;
    pthread_mutex_lock(&r->lock);
    close_it = --ref->users == 0 && ref != r->gen_ref;
    pthread_mutex_unlock(&r->lock);
    if (close_it) {
        rag_gen_close(ref->g);
        free(ref);
    }
}

/* Makes g (NULL: none) the answer model; the old one closes now or when its last answer ends. */
static void kb_gen_swap(struct rag *r, struct rag_gen *g)
{
    struct rag_gen_ref *ref = NULL, *old;
    bool close_old;
    if (g) {
        ref = kb_xcalloc(1, sizeof *ref);
        ref->g = g;
    }
    pthread_mutex_lock(&r->lock);
    old = r->gen_ref;
    r->gen_ref = ref;
    r->gen = g;
    close_old = old && old->users == 0;
    pthread_mutex_unlock(&r->lock);
    if (close_old) {
        rag_gen_close(old->g);
        free(old);
    }
}

/* Opens the answer model a setting value names (NULL for ""), with cfg's other answer.* keys. */
static int kb_gen_for(const struct config *cfg, const char *value, struct rag_gen **out, struct kb_error *err)
{
    char path[4200];
    struct config tmp;
    int rc;
    *out = NULL;
    if (strcmp(cfg->answer_backend, "openai") == 0)
        return rag_gen_open(out, cfg, err); /* a remote server answers; answer.model is not used */
    if (!value[0])
        return 0;
    rag_model_path(cfg, value, path, sizeof path);
    if ((rc = rag_model_check(path, "generative", err))) {
        kb_error_prefix(err, "answer.model '%s'", value);
        return rc;
    }
    config_copy(&tmp, cfg);
    rc = config_set(&tmp, "answer.model", path, CONFIG_SRC_FLAG, err);
    if (!rc)
        rc = rag_gen_open(out, &tmp, err);
    config_release(&tmp);
    return rc;
}

/* ---- configuration snapshots ------------------------------------------------------------------------ */

/* One immutable configuration. r->cfg points to the current snapshot, which holds one reference
 * of its own; every rag_config_get() adds one. Whoever drops the last reference frees it, so a
 * replaced snapshot lives exactly as long as its last reader (users and r->cfg: r->cfg_lock). */
struct rag_cfg_snap {
    struct config cfg; /* never changed once published; first member, so &snap->cfg is the handle */
    int users;         /* readers holding it, plus one while it is r->cfg */
};

static struct rag_cfg_snap *kb_cfg_new(const struct config *src)
{
    struct rag_cfg_snap *s = kb_xcalloc(1, sizeof *s);
    config_copy(&s->cfg, src);
    return s;
}

static void kb_cfg_free(struct rag_cfg_snap *s)
{
    if (!s)
        return;
    config_release(&s->cfg);
    free(s);
}

/* Drops one reference; frees s when it was the last. */
static void kb_cfg_unref(struct rag *r, struct rag_cfg_snap *s)
{
    bool last;
    pthread_mutex_lock(&r->cfg_lock);
    KB_ASSERT(s->users > 0);
    last = --s->users == 0;
    pthread_mutex_unlock(&r->cfg_lock);
    if (last)
        kb_cfg_free(s);
}

/* Makes s (not yet shared) the current snapshot; the old one goes when its last reader puts it. */
static void kb_cfg_publish(struct rag *r, struct rag_cfg_snap *s)
{
    struct rag_cfg_snap *old;
    s->users = 1;
    pthread_mutex_lock(&r->cfg_lock);
    old = r->cfg;
    r->cfg = s;
    pthread_mutex_unlock(&r->cfg_lock);
    if (old)
        kb_cfg_unref(r, old);
}

const struct config *rag_config_get(struct rag *r)
{
    struct rag_cfg_snap *s;
    pthread_mutex_lock(&r->cfg_lock);
    s = r->cfg;
    s->users++;
    pthread_mutex_unlock(&r->cfg_lock);
    return &s->cfg;
}

void rag_config_put(struct rag *r, const struct config *cfg)
{
    if (cfg)
        kb_cfg_unref(r, (struct rag_cfg_snap *)(uintptr_t)cfg); /* cfg is the first member */
}

struct index_store *rag_store(struct rag *r)
{
    return r->st;
}

/* ---- open and close ---------------------------------------------------------------------------------- */

int rag_open(struct rag **out, const struct config *cfg, struct kb_error *err)
{
    struct rag *r = kb_xcalloc(1, sizeof *r);
    struct index_open_opts o;
    const struct index_embedder *prev[INDEX_MAX_PREV_EMBEDDERS];
    char spool[4200];
    struct config *c; /* the first snapshot: only rag_open writes it, before any reader exists */
    int rc;
    *out = NULL;
    pthread_mutex_init(&r->cfg_lock, NULL);
    pthread_mutex_init(&r->settings_mu, NULL);
    kb_cfg_publish(r, kb_cfg_new(cfg));
    c = &r->cfg->cfg;
    infer_set_load_copy(strcmp(c->answer_load, "copy") == 0); /* before any model is opened */
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->switch_mu, NULL);
    pthread_cond_init(&r->job_cv, NULL);
    r->jobs = kb_xcalloc(RAG_MAX_JOBS, sizeof *r->jobs);
    r->next_job_id = 1;
    snprintf(r->settings_path, sizeof r->settings_path, "%s/settings.json", cfg->data_dir);
    snprintf(spool, sizeof spool, "%s/uploads", cfg->data_dir);
    if ((rc = kb_mkdirs(cfg->data_dir, err)) || (rc = kb_mkdirs(spool, err)))
        goto fail;
    chmod(cfg->data_dir, 0700); /* uploads and originals are the owner's alone (best effort: may be shared) */
    chmod(spool, 0700);
    if (access(r->settings_path, F_OK) == 0 && (rc = config_load_overrides(c, r->settings_path, err)))
        goto fail;
    {
        bool open; /* handoff.hours and handoff.timezone are parsed at use; a bad value is refused here */
        if ((rc = rag_handoff_in_hours(c->handoff_hours, c->handoff_timezone, 0, &open, err)))
            goto fail;
    }
    if ((rc = index_embedder_builtin_new(&r->builtin, (int)c->embed_dim, err)))
        goto fail;
    if (!strcmp(c->embed_backend, "openai")) { /* a remote /v1/embeddings server; embed.model unused */
        if ((rc = rag_remote_embedder_open(&r->remote_emb, c, err)))
            goto fail;
        r->emb = rag_remote_embedder_iface(r->remote_emb);
    } else if ((rc = kb_embedder_for(r, c, c->embed_model, &r->emb, err))) {
        goto fail;
    }
    index_open_opts_from_config(&o, c);
    o.embedder = r->emb;
    o.reembed_in_background = true; /* search keeps the old vectors; rag_jobs_reembed() does the work */
    o.prev_embedders = prev;
    o.n_prev_embedders = kb_prev_embedders(r, r->emb, prev);
    if ((rc = index_store_open(&r->st, &o, err)))
        goto fail;
    {
        struct kb_error serr = {0}; /* curated answers' search documents: repaired, never fatal */
        if (!o.read_only && rag_curated_sync(r, &serr))
            kb_warn("curated answers: %s", serr.msg);
    }
    {
        struct rag_gen *g = NULL;
        if ((rc = kb_gen_for(c, c->answer_model, &g, err)))
            goto fail;
        kb_gen_swap(r, g);
    }
    if ((rc = rag_jobs_start(r, err)))
        goto fail;
    rag_jobs_reembed(r);
    if (!o.read_only)
        rag_notify_resume(r); /* handoff notifications still pending from before a restart */
    *out = r;
    return 0;
fail:
    rag_close(r);
    return rc;
}

void rag_close(struct rag *r)
{
    if (!r)
        return;
    rag_jobs_stop(r);
    kb_gen_swap(r, NULL); /* no answer runs any more */
    rag_notify_close(r);  /* handoff notifications' worker (notify.c) */
    rag_log_close(r);     /* the conversation log's last batch (log.c) */
    index_store_close(r->st);
    text_dict_free(r->dict);
    for (int i = 0; i < r->n_gguf; i++) {
        infer_embedder_close(r->gguf[i].e);
        free(r->gguf[i].path);
    }
    index_embedder_builtin_free(r->builtin);
    rag_remote_embedder_close(r->remote_emb);
    for (int i = 0; i < RAG_MAX_JOBS; i++) {
        free(r->jobs[i].spool_path);
        free(r->jobs[i].name);
    }
    free(r->jobs);
    pthread_cond_destroy(&r->job_cv);
    pthread_mutex_destroy(&r->switch_mu);
    pthread_mutex_destroy(&r->lock);
    /* every reader has put its snapshot back: only the current one's own reference is left */
    KB_ASSERT(r->cfg->users == 1);
    kb_cfg_free(r->cfg);
    pthread_mutex_destroy(&r->settings_mu);
    pthread_mutex_destroy(&r->cfg_lock);
    free(r);
}

/* The configured embedder (borrowed; every embedder lives until rag_close). */
static const struct index_embedder *kb_emb(struct rag *r)
{
    const struct index_embedder *e;
    pthread_mutex_lock(&r->lock);
    e = r->emb;
    pthread_mutex_unlock(&r->lock);
    return e;
}

/* Rewrites settings.json (through a temporary file and a rename) with cfg's run-time settings:
 * every key read from it at open or set by rag_setting_set. */
static int kb_save_settings(struct rag *r, const struct config *cfg, struct kb_error *err)
{
    struct kb_buf out;
    char tmp[4300];
    FILE *f;
    int rc;
    kb_buf_init(&out, 0);
    rc = config_write_overrides(cfg, &out);
    snprintf(tmp, sizeof tmp, "%s.tmp", r->settings_path);
    if (!rc) {
        f = fopen(tmp, "wb");
        if (!f || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0 || rename(tmp, r->settings_path)) {
            rc = kb_error_set(err, KB_EIO, "cannot write '%s': %s", r->settings_path, strerror(errno));
        }
    }
    kb_buf_release(&out);
    return rc;
}

/* Copies the current snapshot, sets key on the copy, saves the copy and publishes it. Caller holds
 * settings_mu. A rejected value changes nothing; a failed save is reported after the change took
 * effect (the model it names may be loaded already), as the in-place change used to. */
static int kb_settings_apply(struct rag *r, const char *key, const char *value, struct kb_error *err)
{
    const struct config *cur = rag_config_get(r);
    struct rag_cfg_snap *next = kb_cfg_new(cur);
    int rc;
    rag_config_put(r, cur);
    rc = config_set(&next->cfg, key, value, CONFIG_SRC_SETTINGS, err);
    if (rc)
        goto out_free;
    rc = kb_save_settings(r, &next->cfg, err);
    kb_cfg_publish(r, next);
    next = NULL;
out_free:
    kb_cfg_free(next);
    return rc;
}

/* A model setting names a file of the models folder (or ""): no paths from the API. */
static int kb_check_model_value(const char *key, const char *value, struct kb_error *err)
{
    if (!value[0])
        return 0;
    if (strchr(value, '/') || !strcmp(value, ".") || !strcmp(value, "..") || !kb_str_has_suffix(value, ".gguf"))
        return kb_error_set(err, KB_ECONFIG, "%s takes the name of a .gguf file in the models folder, or \"\"", key);
    return 0;
}

/* answer.model: the new model loads first; answers running on the old one finish with it. */
static int kb_switch_answer_model(struct rag *r, const char *value, struct kb_error *err)
{
    struct rag_gen *g = NULL;
    const struct config *cfg = rag_config_get(r);
    int rc = kb_gen_for(cfg, value, &g, err);
    rag_config_put(r, cfg);
    if (rc)
        return rc;
    kb_gen_swap(r, g);
    kb_info("answer model: %s", value[0] ? value : "none (extractive answers)");
    return 0;
}

/* embed.model: the store searches the old vectors until the re-embedding job has finished. */
static int kb_switch_embedder(struct rag *r, const char *value, struct kb_error *err)
{
    const struct index_embedder *prev[INDEX_MAX_PREV_EMBEDDERS];
    struct index_embedder *e;
    const struct config *cfg = rag_config_get(r);
    int rc = kb_embedder_for(r, cfg, value, &e, err);
    rag_config_put(r, cfg);
    if (rc)
        return rc;
    rc = index_store_set_embedder(r->st, e, prev, kb_prev_embedders(r, e, prev), err);
    if (rc)
        return rc;
    pthread_mutex_lock(&r->lock);
    r->emb = e;
    pthread_mutex_unlock(&r->lock);
    rag_jobs_reembed(r);
    return 0;
}

int rag_setting_set(struct rag *r, const char *key, const char *value, struct kb_error *err)
{
    int rc;
    bool model = !strcmp(key, "answer.model") || !strcmp(key, "embed.model");
    if (!strncmp(key, "data.", 5) || !strncmp(key, "server.", 7) || !strcmp(key, "embed.dim") ||
        (!strncmp(key, "embed.", 6) && strcmp(key, "embed.model") && strcmp(key, "embed.batch")) ||
        !strcmp(key, "answer.context") || !strcmp(key, "answer.max_concurrent") || !strcmp(key, "answer.threads"))
        if (strcmp(key, "server.cors_origins") && strcmp(key, "server.public_ask"))
            return kb_error_set(err, KB_EFORBIDDEN, "'%s' cannot be changed while kbox runs; set it in the config and restart", key);
    if (!strcmp(key, "handoff.hours") || !strcmp(key, "handoff.timezone")) { /* parsed at use: check now */
        const struct config *c = rag_config_get(r);
        bool open;
        rc = rag_handoff_in_hours(!strcmp(key, "handoff.hours") ? value : c->handoff_hours,
                                  !strcmp(key, "handoff.timezone") ? value : c->handoff_timezone, 0, &open, err);
        rag_config_put(r, c);
        if (rc)
            return rc;
    }
    if (!model) {
        pthread_mutex_lock(&r->settings_mu);
        rc = kb_settings_apply(r, key, value, err);
        pthread_mutex_unlock(&r->settings_mu);
        return rc;
    }
    if ((rc = kb_check_model_value(key, value, err)))
        return rc;
    pthread_mutex_lock(&r->switch_mu);
    rc = !strcmp(key, "answer.model") ? kb_switch_answer_model(r, value, err) : kb_switch_embedder(r, value, err);
    if (!rc) {
        pthread_mutex_lock(&r->settings_mu);
        rc = kb_settings_apply(r, key, value, err);
        pthread_mutex_unlock(&r->settings_mu);
    }
    pthread_mutex_unlock(&r->switch_mu);
    return rc;
}

/* ---- collections ----------------------------------------------------------------------------------- */

int rag_collections_list(struct rag *r, struct rag_collection **out, int *n_out, struct kb_error *err)
{
    struct kb_arena a;
    struct index_collection *c;
    int n, rc;
    kb_arena_init(&a, 0, 0);
    *out = NULL;
    *n_out = 0;
    rc = index_collection_list(r->st, &a, &c, &n, err);
    if (!rc) {
        *out = kb_xcalloc((size_t)n + 1, sizeof **out);
        for (int i = 0; i < n; i++)
            (*out)[i] = (struct rag_collection){c[i].id, kb_xstrdup(c[i].name), c[i].n_docs, c[i].created_at};
        *n_out = n;
    }
    kb_arena_release(&a);
    return rc;
}

void rag_collections_free(struct rag_collection *c, int n)
{
    for (int i = 0; c && i < n; i++)
        free(c[i].name);
    free(c);
}

int rag_collection_create(struct rag *r, const char *name, int64_t *id_out, struct kb_error *err)
{
    return index_collection_create(r->st, name, id_out, err);
}

int rag_collection_rename(struct rag *r, int64_t id, const char *name, struct kb_error *err)
{
    return index_collection_rename(r->st, id, name, err);
}

int rag_collection_delete(struct rag *r, int64_t id, struct kb_error *err)
{
    return index_collection_delete(r->st, id, err);
}

int rag_collection_find(struct rag *r, const char *name, int64_t *id_out, struct kb_error *err)
{
    return index_collection_find(r->st, name, id_out, err);
}

/* ---- documents ------------------------------------------------------------------------------------- */

static void doc_from_index(struct rag_document *d, const struct index_doc *x)
{
    memset(d, 0, sizeof *d);
    d->id = x->id;
    d->collection_id = x->collection_id;
    d->name = kb_xstrdup(x->name ? x->name : "");
    d->mime = kb_xstrdup(x->mime ? x->mime : "");
    d->bytes = x->bytes;
    memcpy(d->sha256, x->sha256, sizeof d->sha256);
    d->status = kb_xstrdup(index_doc_status_name(x->status));
    d->error = kb_xstrdup(x->error ? x->error : "");
    d->n_chunks = x->n_chunks;
    d->ingested_at = x->ingested_at;
}

int rag_documents_list(struct rag *r, int64_t collection_id, struct rag_document **out, int *n_out,
                       struct kb_error *err)
{
    struct kb_arena a;
    struct index_doc *d;
    int n, rc;
    kb_arena_init(&a, 0, 0);
    *out = NULL;
    *n_out = 0;
    rc = index_doc_list(r->st, collection_id, &a, &d, &n, err);
    if (!rc) {
        int k = 0;
        *out = kb_xcalloc((size_t)n + 1, sizeof **out);
        for (int i = 0; i < n; i++)
            if (!rag_curated_is_doc(d[i].mime)) /* curated answers are listed by the FAQ editor */
                doc_from_index(&(*out)[k++], &d[i]);
        n = k;
        *n_out = n;
        pthread_mutex_lock(&r->lock);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < RAG_MAX_JOBS; j++)
                if (r->jobs[j].id && r->jobs[j].document_id == (*out)[i].id && r->jobs[j].id > (*out)[i].job_id)
                    (*out)[i].job_id = r->jobs[j].id;
        pthread_mutex_unlock(&r->lock);
    }
    kb_arena_release(&a);
    return rc;
}

void rag_document_release(struct rag_document *d)
{
    if (!d)
        return;
    free(d->name);
    free(d->mime);
    free(d->status);
    free(d->error);
    memset(d, 0, sizeof *d);
}

void rag_documents_free(struct rag_document *d, int n)
{
    for (int i = 0; d && i < n; i++)
        rag_document_release(&d[i]);
    free(d);
}

int rag_document_get(struct rag *r, int64_t id, struct rag_document *out, struct rag_chunk **chunks,
                     int *n_chunks, struct kb_error *err)
{
    struct kb_arena a;
    struct index_doc d;
    struct index_chunk_row *c;
    int n, rc;
    kb_arena_init(&a, 0, 0);
    memset(out, 0, sizeof *out);
    rc = index_doc_get(r->st, id, &a, &d, err);
    if (!rc)
        doc_from_index(out, &d);
    if (!rc && chunks) {
        *chunks = NULL;
        *n_chunks = 0;
        rc = index_doc_chunks(r->st, id, &a, &c, &n, err);
        if (!rc) {
            *chunks = kb_xcalloc((size_t)n + 1, sizeof **chunks);
            for (int i = 0; i < n; i++)
                (*chunks)[i] = (struct rag_chunk){c[i].id, c[i].ordinal, kb_xstrdup(c[i].text),
                                                  kb_xstrdup(c[i].heading_path ? c[i].heading_path : ""),
                                                  c[i].page_start, c[i].page_end, c[i].n_tokens};
            *n_chunks = n;
        }
    }
    kb_arena_release(&a);
    return rc;
}

void rag_chunks_free(struct rag_chunk *c, int n)
{
    for (int i = 0; c && i < n; i++) {
        free(c[i].text);
        free(c[i].heading_path);
    }
    free(c);
}

int rag_document_delete(struct rag *r, int64_t id, struct kb_error *err)
{
    return index_doc_delete(r->st, id, err);
}

int rag_document_file(struct rag *r, int64_t id, char *path_out, size_t path_bytes, struct kb_error *err)
{
    struct kb_arena a;
    struct index_doc d;
    int rc;
    kb_arena_init(&a, 0, 0);
    rc = index_doc_get(r->st, id, &a, &d, err);
    if (!rc && d.has_original)
        rc = index_doc_original_path(r->st, d.sha256, path_out, path_bytes, err);
    else if (!rc && d.path && access(d.path, R_OK) == 0)
        kb_strlcpy(path_out, d.path, path_bytes); /* still queued: the spooled upload */
    else if (!rc)
        rc = kb_error_set(err, KB_ENOENT, "document %lld has no stored file", (long long)id);
    kb_arena_release(&a);
    return rc;
}

int rag_document_reingest(struct rag *r, int64_t id, int64_t *job_id, struct kb_error *err)
{
    char path[4200];
    struct rag_document d;
    int rc;
    if (index_jobs_shared(r->st)) { /* any node's worker takes it, reading the original from PostgreSQL */
        rc = index_job_requeue(r->st, id, job_id, err);
        if (rc == 0)
            rag_jobs_wake(r);
        return rc;
    }
    rc = rag_document_get(r, id, &d, NULL, NULL, err);
    if (rc)
        return rc;
    rc = rag_document_file(r, id, path, sizeof path, err);
    if (!rc)
        rc = index_doc_set_status(r->st, id, INDEX_DOC_QUEUED, NULL, err);
    if (!rc)
        *job_id = rag_jobs_queue(r, id, d.collection_id, path, d.name);
    rag_document_release(&d);
    return rc;
}

/* ---- search and answers ------------------------------------------------------------------------------ */

static int kb_search_raw(struct rag *r, const struct config *cfg, const char *query, int top_k, int64_t coll,
                         int64_t doc, enum rag_search_mode mode, struct kb_arena *a, struct index_hit **hits, int *n,
                         struct kb_error *err)
{
    struct index_search_opts o;
    index_search_opts_from_config(&o, cfg);
    if (top_k > 0)
        o.top_k = top_k;
    o.collection_id = coll;
    o.document_id = doc;
    o.mode = mode == RAG_SEARCH_BM25 ? INDEX_MODE_BM25 : mode == RAG_SEARCH_VECTOR ? INDEX_MODE_VECTOR
                                                                                  : INDEX_MODE_HYBRID;
    int rc = index_search(r->st, query, &o, a, hits, n, err);
    if ((rc == KB_EBUSY || rc == KB_ETIMEOUT || rc == KB_EIO || rc == KB_ERATE) && o.mode == INDEX_MODE_HYBRID &&
        r->remote_emb) {
        /* the remote embedder could not embed the query (down, timed out): BM25 still answers */
        kb_warn("search: %s; searching BM25 only", kb_error_msg(err, rc));
        o.mode = INDEX_MODE_BM25;
        rc = index_search(r->st, query, &o, a, hits, n, err);
    }
    return rc;
}

static int kb_hit_cmp(const void *x, const void *y)
{
    const struct index_hit *a = x, *b = y;
    return a->score < b->score ? 1 : a->score > b->score ? -1 : (a->chunk_id > b->chunk_id) - (a->chunk_id < b->chunk_id);
}

/* A bot's retrieval: every collection (none listed), its one collection, or each of its
 * collections searched alone and the hits merged by score (fused scores of one query are on one
 * scale: RRF ranks or the weighted sum), best top_k kept. */
static int kb_search_bot(struct rag *r, const struct config *cfg, const char *query, int top_k,
                         const struct rag_bot *bot, struct kb_arena *a, struct index_hit **hits, int *n,
                         struct kb_error *err)
{
    int want = top_k > 0 ? top_k : (int)cfg->index_top_k, total = 0, rc = 0;
    struct index_hit *all;
    if (bot->n_collections <= 1)
        return kb_search_raw(r, cfg, query, top_k, bot->n_collections ? bot->collection_ids[0] : 0, 0,
                             RAG_SEARCH_HYBRID, a, hits, n, err);
    all = kb_arena_alloc(a, (size_t)want * (size_t)bot->n_collections * sizeof *all);
    if (!all)
        return kb_error_set(err, KB_ENOMEM, "no memory for a bot's hits");
    for (int i = 0; i < bot->n_collections && !rc; i++) {
        struct index_hit *h = NULL;
        int k = 0;
        rc = kb_search_raw(r, cfg, query, want, bot->collection_ids[i], 0, RAG_SEARCH_HYBRID, a, &h, &k, err);
        for (int j = 0; !rc && j < k && j < want; j++)
            all[total++] = h[j];
    }
    if (rc)
        return rc;
    qsort(all, (size_t)total, sizeof *all, kb_hit_cmp);
    *hits = all;
    *n = KB_MIN(total, want);
    return 0;
}

int rag_search(struct rag *r, const struct rag_search_opts *opts, struct rag_hit **out, int *n_out,
               struct kb_error *err)
{
    struct kb_arena a;
    struct index_hit *h;
    const struct config *cfg = rag_config_get(r);
    int n, rc;
    kb_arena_init(&a, 0, 0);
    *out = NULL;
    *n_out = 0;
    rc = kb_search_raw(r, cfg, opts->query ? opts->query : "", opts->top_k, opts->collection_id,
                       opts->document_id, opts->mode, &a, &h, &n, err);
    rag_config_put(r, cfg);
    if (!rc) {
        *out = kb_xcalloc((size_t)n + 1, sizeof **out);
        for (int i = 0; i < n; i++)
            (*out)[i] = (struct rag_hit){h[i].chunk_id, h[i].document_id, kb_xstrdup(h[i].doc_name),
                                         kb_xstrdup(h[i].heading_path), h[i].page_start, h[i].page_end,
                                         kb_xstrdup(h[i].text), h[i].bm25, h[i].vector, h[i].score};
        *n_out = n;
    }
    kb_arena_release(&a);
    return rc;
}

void rag_hits_free(struct rag_hit *h, int n)
{
    for (int i = 0; h && i < n; i++) {
        free(h[i].document);
        free(h[i].heading_path);
        free(h[i].text);
    }
    free(h);
}

static int kb_embed_docs(void *ud, const char *const *texts, int n, float *out, struct kb_error *err)
{
    const struct index_embedder *e = ud;
    return e->embed(e->ud, texts, n, out, err);
}

/* Follow-ups: a short question borrows the previous question's key terms for retrieval. */
static void kb_conversation_query(struct rag *r, const char *conv, const char *question, char *query,
                                  size_t query_bytes, char *previous, size_t previous_bytes)
{
    previous[0] = '\0';
    struct rag_terms t;
    int slot = -1, oldest = 0;
    kb_strlcpy(query, question, query_bytes);
    if (!conv || !*conv)
        return;
    rag_terms_extract(question, strlen(question), &t);
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < RAG_MAX_CONVERSATIONS; i++) {
        if (!strcmp(r->turns[i].id, conv))
            slot = i;
        if (r->turns[i].used_at < r->turns[oldest].used_at)
            oldest = i;
    }
    if (slot >= 0 && t.n < 4 && r->turns[slot].terms[0])
        snprintf(query, query_bytes, "%s %s", question, r->turns[slot].terms);
    if (slot >= 0)
        kb_strlcpy(previous, r->turns[slot].question, previous_bytes);
    if (slot < 0)
        slot = oldest;
    kb_strlcpy(r->turns[slot].id, conv, sizeof r->turns[slot].id);
    kb_strlcpy(r->turns[slot].question, question, sizeof r->turns[slot].question);
    r->turns[slot].terms[0] = '\0';
    for (int i = 0; i < t.n; i++) {
        size_t used = strlen(r->turns[slot].terms);
        snprintf(r->turns[slot].terms + used, sizeof r->turns[slot].terms - used, "%s%s", used ? " " : "",
                 t.term[i]);
    }
    r->turns[slot].used_at = (int64_t)time(NULL);
    pthread_mutex_unlock(&r->lock);
}

int rag_ask(struct rag *r, const struct rag_ask_opts *opts, rag_stream_fn on_stream, void *ud,
            struct rag_answer *out, char **prompt_out, struct kb_error *err)
{
    struct kb_arena a;
    struct index_hit *h;
    struct rag_passage *p = NULL;
    const struct index_embedder *e = kb_emb(r);
    struct rag_embedder_ref emb = {kb_embed_docs, (void *)e, e->dim};
    struct index_term_stats df;
    struct rag_gen_ref *gen;
    const struct config *cfg; /* one snapshot for the whole question (a bot's: its private copy) */
    struct rag_bot bot_v, *bot = NULL;
    struct config bot_cfg;
    bool bot_extractive = false;
    char query[2048], previous[512];
    double t0 = kb_now_s(), t1 = t0;
    const char *note = NULL;
    int n = 0, rc;
    memset(out, 0, sizeof *out);
    if (prompt_out)
        *prompt_out = NULL;
    if (!opts->question || !*opts->question)
        return kb_error_set(err, KB_EINVAL, "the question is empty");
    kb_arena_init(&a, 0, 0);
    rag_store_term_stats(r->st, &df);
    cfg = rag_config_get(r);
    if (opts->bot_id) { /* the bot's settings over this question's snapshot: cfg is the copy from here */
        if ((rc = rag_bot_get(r, opts->bot_id, &a, &bot_v, err)) == 0 && bot_v.n_stored_collections > 0 &&
            bot_v.n_collections == 0)
            rc = kb_error_set(err, KB_ENOENT, "every collection of bot '%s' was deleted", bot_v.id);
        if (rc == 0)
            rc = rag_bot_config(&bot_v, cfg, &bot_cfg, &bot_extractive, &note, err);
        rag_config_put(r, cfg);
        cfg = NULL;
        if (rc) {
            kb_arena_release(&a);
            return rc;
        }
        bot = &bot_v;
        cfg = &bot_cfg;
    }
    df.dict = rag_question_dict(r, cfg); /* question words are words of its segmentation */
    kb_conversation_query(r, opts->conversation_id, opts->question, query, sizeof query, previous, sizeof previous);
    /* the reference keeps the model open even if answer.model changes meanwhile */
    gen = kb_gen_take(r);
    if (gen && bot_extractive) { /* the bot answers from the passages */
        kb_gen_put(r, gen);
        gen = NULL;
    }
    if (gen && rag_gen_backend_down(gen->g) && strcmp(cfg->answer_on_backend_down, "fail") == 0) {
        kb_gen_put(r, gen);
        rc = kb_error_set(err, KB_EBUSY, "the answer backend is unavailable (circuit breaker open)");
        goto out;
    }
    if (gen && rag_gen_backend_down(gen->g)) {
        /* answer.on_backend_down = extractive: answer from the passages, and say why */
        kb_gen_put(r, gen);
        gen = NULL;
        note = "backend_unavailable";
    }
    if (gen && previous[0] && strcmp(query, opts->question)) {
        /* A short follow-up (one that borrowed the previous question's terms above) is rewritten
         * as a standalone question by the loaded model; on any failure the carried-over terms
         * stand. Long questions skip it: they stand alone, and the rewrite costs a generation. */
        char *rewritten = NULL;
        if (!rag_gen_rewrite_followup(gen->g, previous, opts->question, &rewritten, NULL))
            kb_strlcpy(query, rewritten, sizeof query);
        free(rewritten);
    }
    rc = bot ? kb_search_bot(r, cfg, query, opts->top_k, &bot_v, &a, &h, &n, err)
             : kb_search_raw(r, cfg, query, opts->top_k, opts->collection_id, 0, RAG_SEARCH_HYBRID, &a, &h, &n, err);
    t1 = kb_now_s();
    if (rc) {
        if (gen)
            kb_gen_put(r, gen);
        goto out;
    }
    p = kb_xcalloc((size_t)n + 1, sizeof *p);
    for (int i = 0; i < n; i++)
        p[i] = (struct rag_passage){.chunk_id = h[i].chunk_id, .document_id = h[i].document_id,
                                    .document = h[i].doc_name, .heading_path = h[i].heading_path,
                                    .context = h[i].context, .text = h[i].text, .page = h[i].page_start,
                                    .page_end = h[i].page_end,
                                    .page_map = h[i].page_map, .score = h[i].score};
    if (gen && rag_answer_is_curated(cfg, opts->question, p, n, &emb, &df)) {
        /* a stored question with its curated answer matches: answered as written, not generated */
        kb_gen_put(r, gen);
        gen = NULL;
    }
    if (gen) {
        double tps = 0;
        bool failed = false;
        rc = rag_answer_generative(gen->g, cfg, opts->question, previous, p, n, &emb, on_stream, ud, out,
                                   opts->show_prompt ? prompt_out : NULL, &tps, &failed, err);
        kb_gen_put(r, gen);
        if (!rc) {
            pthread_mutex_lock(&r->lock);
            r->last_tokens_per_s = tps;
            pthread_mutex_unlock(&r->lock);
        }
        if (!rc || !failed)
            goto out;
        /* the remote backend failed (after its retries) before the client saw anything: the same
         * choice as while its breaker is open */
        char why[256];
        kb_strlcpy(why, kb_error_msg(err, rc), sizeof why);
        if (strcmp(cfg->answer_on_backend_down, "fail") == 0) {
            rc = kb_error_set(err, KB_EBUSY, "the answer backend is unavailable: %s", why);
            goto out;
        }
        kb_warn("answer backend failed (%s): answering from the passages instead", why);
        note = "backend_unavailable";
        if (prompt_out) {
            free(*prompt_out);
            *prompt_out = NULL;
        }
    }
    rc = rag_answer_extractive(cfg, opts->question, p, n, &emb, &df, out, err);
    if (rc)
        goto out;
    rag_curated_mark(r, out); /* a FAQ answer from a curated entry: mode "curated", its id and version */
    out->note = note;
    if (prompt_out && opts->show_prompt)
        *prompt_out = kb_xstrdup("(extractive mode: no prompt; set answer.model for generative answers)");
    if (on_stream) {
        /* Extractive answers exist whole at once; they stream as word pieces so every client
         * speaks one protocol. */
        const char *s = out->answer;
        while (*s) {
            size_t k = 0;
            while (s[k] && s[k] != ' ')
                k++;
            while (s[k] == ' ')
                k++;
            if (on_stream(ud, "token", s, k)) {
                rc = kb_error_set(err, KB_ECANCELED, "the client went away");
                goto out;
            }
            s += k;
        }
        for (int i = 0; i < out->n_citations; i++) {
            char num[16];
            int k = snprintf(num, sizeof num, "%d", out->citations[i].n);
            if (on_stream(ud, "citation", num, (size_t)k)) {
                rc = kb_error_set(err, KB_ECANCELED, "the client went away");
                goto out;
            }
        }
    }
out:
    if (!rc)
        out->query = kb_xstrdup(query);
    out->retrieve_ms = (t1 - t0) * 1000;
    out->total_ms = (kb_now_s() - t0) * 1000;
    out->answer_ms = out->total_ms - out->retrieve_ms;
    if (!rc)
        rag_log_answer(r, cfg, opts, out); /* the conversation log (log.c), when asked with a channel */
    if (rc)
        rag_answer_release(out);
    free(p);
    if (bot)
        config_release(&bot_cfg);
    else
        rag_config_put(r, cfg);
    kb_arena_release(&a);
    return rc;
}

/* ---- embeddings and statistics --------------------------------------------------------------------- */

int rag_embed(struct rag *r, const char *const *texts, int n, float **out, int *dim, struct kb_error *err)
{
    const struct index_embedder *e = kb_emb(r);
    int rc;
    *dim = e->dim;
    *out = kb_try_malloc((size_t)n * (size_t)e->dim, sizeof **out);
    if (!*out)
        return kb_error_set(err, KB_ENOMEM, "too many texts to embed at once");
    rc = e->embed(e->ud, texts, n, *out, err);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

const char *rag_embedder_id(const struct rag *r)
{
    return kb_emb((struct rag *)r)->id;
}

int rag_stats(struct rag *r, struct rag_stats *out, struct kb_error *err)
{
    struct kb_arena a;
    struct index_doc *d;
    struct index_collection *c;
    int n, nc, rc;
    memset(out, 0, sizeof *out);
    kb_arena_init(&a, 0, 0);
    rc = index_doc_list(r->st, 0, &a, &d, &n, err);
    if (!rc)
        rc = index_collection_list(r->st, &a, &c, &nc, err);
    if (!rc) {
        out->n_documents = n;
        out->n_collections = nc;
        for (int i = 0; i < n; i++) {
            out->n_chunks += d[i].n_chunks;
            out->jobs_failed += d[i].status == INDEX_DOC_FAILED;
        }
    }
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < RAG_MAX_JOBS; i++) {
        out->jobs_queued += r->jobs[i].id && !strcmp(r->jobs[i].state, "queued");
        out->jobs_running += r->jobs[i].id && !strcmp(r->jobs[i].state, "running");
    }
    out->tokens_per_s = r->last_tokens_per_s;
    out->answer_mode = r->gen ? "generative" : "extractive";
    rag_gen_backend_stats(r->gen, &out->answer_backend); /* r->gen stays open while r->lock is held */
    if (r->remote_emb && r->emb == rag_remote_embedder_iface(r->remote_emb)) {
        rag_remote_embedder_stats(r->remote_emb, &out->embed_backend);
    } else {
        out->embed_backend.backend = r->emb == r->builtin ? "builtin" : "local";
        out->embed_backend.state = "up";
    }
    pthread_mutex_unlock(&r->lock);
    {
        struct index_reembed_status s;
        struct index_sync_status ss;
        index_store_sync_status(r->st, &ss);
        out->sync.enabled = ss.enabled;
        out->sync.connected = ss.connected;
        out->sync.applied_seq = ss.applied_seq;
        out->sync.head_seq = ss.head_seq;
        out->sync.lag_seq = ss.lag_seq;
        out->sync.lag_s = ss.lag_s;
        out->sync.since_contact_s = ss.since_contact_s;
        out->sync.spooled = ss.spooled;
        kb_strlcpy(out->sync.error, ss.error, sizeof out->sync.error);
        index_reembed_status(r->st, &s);
        kb_strlcpy(out->embedder, s.embedder_id, sizeof out->embedder);
        kb_strlcpy(out->search_embedder, s.search_id, sizeof out->search_embedder);
        out->reembedding = s.pending;
        out->reembed_done = s.n_done;
        out->reembed_total = s.n_total;
    }
    kb_arena_release(&a);
    return rc;
}

/* ---- models ------------------------------------------------------------------------------------------- */

void rag_models_dir(const struct config *cfg, char *buf, size_t buf_bytes)
{
    snprintf(buf, buf_bytes, "%s/models", cfg->data_dir);
}

void rag_model_path(const struct config *cfg, const char *value, char *buf, size_t buf_bytes)
{
    char dir[4200];
    if (!value[0] || strchr(value, '/')) {
        kb_strlcpy(buf, value, buf_bytes);
        return;
    }
    rag_models_dir(cfg, dir, sizeof dir);
    snprintf(buf, buf_bytes, "%s/%s", dir, value);
}

/* "Q8_0 x87, F32 x32" (most frequent first) and the most frequent type's name. */
static void kb_model_types(const struct infer_model_info *in, char *out, size_t out_bytes, char *top, size_t top_bytes)
{
    size_t used = 0;
    bool done[40] = {0};
    out[0] = top[0] = '\0';
    for (;;) {
        int best = -1;
        for (int t = 0; t < 40; t++)
            if (!done[t] && in->tensor_type_count[t] > 0 &&
                (best < 0 || in->tensor_type_count[t] > in->tensor_type_count[best]))
                best = t;
        if (best < 0)
            break;
        done[best] = true;
        const char *name = infer_type_name(best);
        if (!top[0])
            kb_strlcpy(top, name ? name : "?", top_bytes);
        used += (size_t)snprintf(out + used, used < out_bytes ? out_bytes - used : 0, "%s%s x%d", used ? ", " : "",
                                 name ? name : "?", in->tensor_type_count[best]);
        if (used >= out_bytes)
            break;
    }
}

static int kb_gguf_only(const struct dirent *d)
{
    return kb_str_has_suffix(d->d_name, ".gguf");
}

int rag_models_list(const char *dir, struct rag_model **out, int *n_out, int64_t *mem_available,
                    struct kb_error *err)
{
    struct dirent **names = NULL;
    int64_t avail = kb_mem_available_bytes();
    int n = scandir(dir, &names, kb_gguf_only, alphasort);
    *out = NULL;
    *n_out = 0;
    if (mem_available)
        *mem_available = avail;
    if (n < 0)
        return kb_error_set(err, KB_ENOENT, "cannot list models folder '%s' (put GGUF files there, or name a folder)",
                            dir);
    *out = kb_xcalloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++) {
        struct rag_model *m = &(*out)[i];
        char path[8400], types[256], top[32];
        struct infer_model *im = NULL;
        struct infer_model_info in;
        struct kb_error merr = {0};
        struct stat sb;
        int rc;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        m->file = kb_xstrdup(names[i]->d_name);
        m->bytes = stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
        m->fits = avail < 0 || m->bytes < avail;
        m->kind = "";
        rc = infer_model_open(&im, path, &merr);
        if (rc) {
            m->arch = kb_xstrdup("");
            m->type = kb_xstrdup("");
            m->types = kb_xstrdup("");
            m->error = kb_xstrdup(kb_error_msg(&merr, rc));
        } else {
            infer_model_get_info(im, &in);
            kb_model_types(&in, types, sizeof types, top, sizeof top);
            m->arch = kb_xstrdup(in.arch);
            m->kind = in.encoder ? "embedding" : "generative";
            m->params = in.n_params;
            m->type = kb_xstrdup(top);
            m->types = kb_xstrdup(types);
            m->bytes = (int64_t)in.file_bytes;
            m->fits = avail < 0 || m->bytes < avail;
            m->n_expert = in.n_expert;
            infer_model_close(im);
        }
        free(names[i]);
    }
    free(names);
    *n_out = n;
    return 0;
}

void rag_models_free(struct rag_model *m, int n)
{
    for (int i = 0; m && i < n; i++) {
        free(m[i].file);
        free(m[i].arch);
        free(m[i].type);
        free(m[i].types);
        free(m[i].error);
    }
    free(m);
}

int rag_model_check(const char *path, const char *kind, struct kb_error *err)
{
    struct stat sb;
    struct infer_model *m = NULL;
    struct infer_model_info in;
    int64_t avail = kb_mem_available_bytes();
    bool want_encoder = !strcmp(kind, "embedding");
    int rc;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return kb_error_set(err, KB_ENOENT, "'%s' does not exist", path);
    if (avail > 0 && (int64_t)sb.st_size >= avail)
        return kb_error_set(err, KB_ETOOBIG, "'%s' is %.2f GB but only %.2f GB of memory is available", path,
                            sb.st_size / 1e9, avail / 1e9);
    /* opening maps the file and reads its header and tensor table; no weight is read yet */
    if ((rc = infer_model_open(&m, path, err)))
        return rc;
    infer_model_get_info(m, &in);
    if (in.encoder != want_encoder)
        rc = kb_error_set(err, KB_EINVAL, "'%s' is %s %s model (%s), not %s %s model", path,
                          in.encoder ? "an" : "a", in.encoder ? "embedding" : "generative", in.arch,
                          want_encoder ? "an" : "a", kind);
    infer_model_close(m);
    return rc;
}
