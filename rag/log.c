/* rag/log.c: the conversation log as the product sees it: logging each answer asked with a
 * channel (the hook at the end of rag_ask), feedback, the review inbox, analytics, exports,
 * deletion and retention. The SQL is index/store_log.c's; this file chooses what is kept, checks
 * input and writes the JSON, CSV and JSONL shapes the HTTP API (web/api_log.c) and `kbox logs`
 * (cli/cmd_logs.c) print.
 *
 * Data flow: rag_ask -> rag_log_answer, which only queues (the answer does not wait for SQLite):
 * the message id is handed out from a counter read once from the store (index_log_next_id), the
 * conversation's secret is the client's (a well-formed one it sent back) or a fresh one, and a
 * writer thread takes everything queued and writes it in one transaction (index_log_append),
 * which costs a page write per table per batch instead of per answer (docs/BENCHMARKS.md: the
 * cost on /api/ask throughput). Reads of the log (feedback, review, stats, export, delete) wait
 * until what was queued before them is written. One server per data directory logs (the ids are
 * its own). Queued: the question normalised for clustering (rag_log_normalise:
 * lower case, punctuation and spaces folded, so "Return policy?" and "return  policy" count as one
 * top question), the citations as compact JSON [{n, document_id, chunk_id, document, page}] (no
 * passage text: the documents hold it), the model, a fresh 32-hex secret from getrandom for a new
 * conversation; index_log_append also runs the daily retention purge.
 * Privacy: the client's address is kept only with log.store_ip; a conversation's secret is known
 * only to the client it was returned to, and feedback needs it. With log.enabled false nothing is
 * logged, feedback is refused and the review inbox says that logging is off.
 * Human handoff (issue #17): rag_log_handoff queues the customer's and the agent's messages of a
 * handoff that came from a logged bot conversation into that conversation (modes "handoff" and
 * "agent", channel "widget"), so its history and export hold the whole exchange; the statistics
 * leave them out (index/store_log.c).
 * Tests: tests/web/test_log.c (over HTTP), tests/index/test_store_log.c; fuzz/fuzz_log.c;
 * tests/web/test_handoff.c (test_handoff_log). */
#include "rag/rag_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define LOG_QNORM_BYTES 512      /* normalised questions are cut here (clustering key) */
#define LOG_REVIEW_MAX_LIMIT 200
#define LOG_QUEUE_MAX 1024       /* answers waiting for the writer; more wait for room */
#define LOG_LINGER_MS 25         /* the writer waits this long for more answers to batch... */
#define LOG_BATCH_MIN 64         /* ...unless this many are queued, or a reader waits */

/* ---- logging an answer ------------------------------------------------------------------------------- */

static bool log_is_punct(uint32_t cp)
{
    return (cp < 0x80 && !((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))) ||
           (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
           (cp >= 0x2000 && cp <= 0x206F) || cp == 0xA0;
}

void rag_log_normalise(const char *q, char *out, size_t out_bytes)
{
    size_t n = strlen(q), i = 0, o = 0;
    bool space = false;
    while (i < n) {
        uint32_t cp;
        int k = kb_utf8_decode(q + i, n - i, &cp);
        if (k <= 0) {
            i++;
            continue;
        }
        if (log_is_punct(cp)) {
            space = o > 0;
        } else {
            if (o + (space ? 1 : 0) + (size_t)k + 1 > out_bytes)
                break; /* whole characters only */
            if (space)
                out[o++] = ' ';
            space = false;
            if (cp >= 'A' && cp <= 'Z')
                out[o++] = (char)(cp + 32);
            else
                for (int j = 0; j < k; j++)
                    out[o++] = q[i + j];
        }
        i += (size_t)k;
    }
    out[o] = '\0';
}

static int log_secret_new(char out[33])
{
    unsigned char raw[16];
    size_t got = 0;
    static const char hex[] = "0123456789abcdef";
    while (got < sizeof raw) {
        ssize_t k = getrandom(raw + got, sizeof raw - got, 0);
        if (k <= 0)
            return KB_EIO;
        got += (size_t)k;
    }
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

static const char *log_model(const struct config *cfg, const struct rag_answer *a)
{
    if (!a->mode || strcmp(a->mode, "generative") != 0)
        return "";
    return strcmp(cfg->answer_backend, "openai") == 0 ? cfg->answer_model_name : cfg->answer_model;
}

/* ---- the writer: answers are queued and written in batches by one thread ----------------------------- */

/* A queued exchange owns copies of its strings (the answer is released right after rag_ask). */
struct log_item {
    struct index_log_exchange x;
    char *strings[8];               /* owned copies the fields of x point at */
};

struct rag_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;              /* signalled on a new item, a written batch and at stop */
    pthread_t thread;
    struct log_item *q[LOG_QUEUE_MAX]; /* pending items, oldest first */
    int n;
    int64_t next_id;                /* the next message id to hand out */
    int64_t queued, written;        /* items ever queued / written (or dropped after an error) */
    int64_t flush_wanted;           /* a reader waits for the items queued up to this count */
    int64_t purge_before;           /* from the latest item's config: log.retention_days */
    bool stopping;
};

static char *log_dup(struct log_item *it, int i, const char *s)
{
    it->strings[i] = s ? kb_xstrdup(s) : NULL;
    return it->strings[i];
}

static void log_item_free(struct log_item *it)
{
    for (size_t i = 0; i < KB_ARRAY_LEN(it->strings); i++)
        free(it->strings[i]);
    free(it);
}

static void *log_writer(void *ud)
{
    struct rag *r = ud;
    struct rag_log *l = r->log;
    struct log_item *batch[LOG_QUEUE_MAX];
    struct index_log_exchange *x = kb_xcalloc(LOG_QUEUE_MAX, sizeof *x);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        struct kb_error err = {0};
        int n, rc;
        while (l->n == 0 && !l->stopping)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->n == 0)
            break;
        /* linger a moment so a busy server writes many answers per transaction: the WAL page
         * writes of a commit, not the SQL, are most of a lone exchange's cost (bench_log) */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += LOG_LINGER_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (l->n < LOG_BATCH_MIN && !l->stopping && l->flush_wanted <= l->written &&
               pthread_cond_timedwait(&l->cv, &l->mu, &until) == 0) {
        }
        n = l->n;
        memcpy(batch, l->q, (size_t)n * sizeof batch[0]);
        l->n = 0;
        pthread_cond_broadcast(&l->cv); /* room in the queue */
        int64_t purge = l->purge_before;
        pthread_mutex_unlock(&l->mu);
        for (int i = 0; i < n; i++)
            x[i] = batch[i]->x;
        rc = index_log_append(r->st, x, n, purge, &err);
        if (rc)
            kb_warn("conversation log: %d answers not logged: %s", n, kb_error_msg(&err, rc));
        for (int i = 0; i < n; i++)
            log_item_free(batch[i]);
        pthread_mutex_lock(&l->mu);
        l->written += n;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    free(x);
    return NULL;
}

/* The writer, started at the first logged answer. NULL when it cannot start (then nothing is logged). */
static struct rag_log *log_writer_get(struct rag *r)
{
    struct rag_log *l;
    pthread_mutex_lock(&r->lock);
    l = r->log;
    if (!l) {
        struct kb_error err = {0};
        l = kb_xcalloc(1, sizeof *l);
        pthread_mutex_init(&l->mu, NULL);
        pthread_cond_init(&l->cv, NULL);
        r->log = l;
        if (index_log_next_id(r->st, &l->next_id, &err) != 0 || pthread_create(&l->thread, NULL, log_writer, r) != 0) {
            kb_warn("conversation log: cannot start its writer (%s); answers are not logged", err.msg);
            pthread_cond_destroy(&l->cv);
            pthread_mutex_destroy(&l->mu);
            free(l);
            r->log = l = NULL;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return l;
}

/* Waits until everything queued before the call is in the database (reads of the log call this, so
 * feedback right after an answer finds its message). */
static void log_flush(struct rag *r)
{
    struct rag_log *l;
    pthread_mutex_lock(&r->lock);
    l = r->log;
    pthread_mutex_unlock(&r->lock);
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    int64_t target = l->queued;
    if (l->flush_wanted < target)
        l->flush_wanted = target;
    pthread_cond_broadcast(&l->cv); /* the writer stops lingering */
    while (l->written < target)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

void rag_log_close(struct rag *r)
{
    struct rag_log *l = r->log;
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL); /* it writes what is queued first */
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
    r->log = NULL;
}

/* The citations as compact JSON [{n, document_id, chunk_id, document, page}] (caller frees). */
static char *log_citations(const struct rag_answer *a)
{
    struct kb_buf cit;
    struct jw w;
    kb_buf_init(&cit, 0);
    jw_init(&w, &cit);
    jw_arr(&w, NULL);
    for (int i = 0; i < a->n_citations; i++) {
        jw_obj(&w, NULL);
        jw_int(&w, "n", a->citations[i].n);
        jw_int(&w, "document_id", a->citations[i].document_id);
        jw_int(&w, "chunk_id", a->citations[i].chunk_id);
        jw_str(&w, "document", a->citations[i].document);
        jw_int(&w, "page", a->citations[i].page);
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    if (w.rc) {
        kb_buf_release(&cit);
        return kb_xstrdup("[]");
    }
    return kb_buf_take(&cit);
}

/* The conversation's secret: the client's when it sent a well-formed one (its conversation, or a new
 * one under that secret when none has it), else a fresh one. */
static int log_secret_for(const char *given, char out[33])
{
    size_t n = given ? strlen(given) : 0;
    bool ok = n == 32;
    for (size_t i = 0; ok && i < n; i++)
        ok = (given[i] >= '0' && given[i] <= '9') || (given[i] >= 'a' && given[i] <= 'f');
    if (ok) {
        memcpy(out, given, 33);
        return 0;
    }
    return log_secret_new(out);
}

/* Hands it to the writer (waiting for room when the writer is behind) under the next message id,
 * which it returns; it belongs to the writer from then on. */
static int64_t log_enqueue(struct rag_log *l, const struct config *cfg, struct log_item *it)
{
    int64_t id;
    pthread_mutex_lock(&l->mu);
    while (l->n == LOG_QUEUE_MAX && !l->stopping)
        pthread_cond_wait(&l->cv, &l->mu);
    id = it->x.message_id = l->next_id++;
    l->purge_before = cfg->log_retention_days > 0 ? it->x.created_at - cfg->log_retention_days * 86400 : 0;
    l->q[l->n++] = it;
    l->queued++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return id;
}

void rag_log_answer(struct rag *r, const struct config *cfg, const struct rag_ask_opts *opts, struct rag_answer *a)
{
    struct rag_log *l;
    struct log_item *it;
    char qnorm[LOG_QNORM_BYTES], secret[33];
    if (!opts->channel || !cfg->log_enabled || !(l = log_writer_get(r)))
        return;
    if (log_secret_for(opts->log_secret, secret) != 0) {
        kb_warn("conversation log: no random bytes for a secret; answer not logged");
        return;
    }
    rag_log_normalise(opts->question, qnorm, sizeof qnorm);
    it = kb_xcalloc(1, sizeof *it);
    it->x.secret = log_dup(it, 0, secret);
    it->x.client_key = log_dup(it, 1, opts->conversation_id);
    it->x.channel = opts->channel; /* static */
    it->x.collection_id = opts->collection_id;
    it->x.client_ip = cfg->log_store_ip && opts->client_ip ? log_dup(it, 2, opts->client_ip) : NULL;
    it->x.question = log_dup(it, 3, opts->question);
    it->x.qnorm = log_dup(it, 4, qnorm);
    it->x.answer = log_dup(it, 5, a->answer);
    it->x.mode = a->fallback ? "fallback" : a->mode ? a->mode : "extractive"; /* static */
    it->x.model = log_dup(it, 6, log_model(cfg, a));
    it->strings[7] = log_citations(a);
    it->x.citations = it->strings[7];
    it->x.fallback = a->fallback;
    it->x.confidence = a->confidence;
    it->x.latency_ms = a->total_ms;
    it->x.created_at = (int64_t)time(NULL);
    it->x.curated_id = a->curated_id; /* mode curated: the entry and version that answered */
    it->x.curated_version = a->curated_version;
    a->message_id = log_enqueue(l, cfg, it);
    kb_strlcpy(a->log_secret, secret, sizeof a->log_secret);
}

void rag_log_handoff(struct rag *r, const char *log_secret, bool agent, const char *agent_name, const char *text)
{
    const struct config *cfg = rag_config_get(r);
    struct rag_log *l;
    struct log_item *it;
    char secret[33];
    bool ok = log_secret && strlen(log_secret) == 32 && cfg->log_enabled;
    if (ok && log_secret_for(log_secret, secret) == 0 && !strcmp(secret, log_secret) && (l = log_writer_get(r))) {
        it = kb_xcalloc(1, sizeof *it);
        it->x.secret = log_dup(it, 0, secret);
        it->x.channel = "widget"; /* where the exchange happens (the channel filter then shows all of it) */
        it->x.question = agent ? "" : log_dup(it, 1, text);
        it->x.qnorm = ""; /* never a top question: the statistics are the bot's */
        it->x.answer = agent ? log_dup(it, 2, text) : "";
        it->x.mode = agent ? "agent" : "handoff";
        it->x.model = agent ? log_dup(it, 3, agent_name ? agent_name : "") : "";
        it->x.citations = "[]";
        it->x.created_at = (int64_t)time(NULL);
        log_enqueue(l, cfg, it);
    }
    rag_config_put(r, cfg);
}

int rag_log_parse_date(const char *key, const char *v, bool end_of_day, int64_t *out, struct kb_error *err)
{
    int y, m, d, n = 0;
    *out = 0;
    if (!v || !v[0])
        return 0;
    if (kb_parse_i64(v, out) == 0 && *out >= 0)
        return 0;
    if (sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && v[n] == '\0' && y >= 1970 && y < 10000 && m >= 1 &&
        m <= 12 && d >= 1 && d <= 31) {
        struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
        *out = (int64_t)timegm(&tm) + (end_of_day ? 86400 : 0);
        return 0;
    }
    return kb_error_set(err, KB_EINVAL, "%s must be a date YYYY-MM-DD or unix seconds, not '%.40s'", key, v);
}

/* ---- feedback and review ----------------------------------------------------------------------------- */

int rag_feedback(struct rag *r, int64_t message_id, const char *secret, int vote, const char *comment,
                 struct kb_error *err)
{
    const struct config *cfg = rag_config_get(r);
    size_t n = comment ? strlen(comment) : 0, chars = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)comment[i] & 0xC0) != 0x80;
    if (!cfg->log_enabled)
        rc = kb_error_set(err, KB_EFORBIDDEN, "feedback is off: conversation logging is disabled (log.enabled)");
    else if (vote != 1 && vote != -1)
        rc = kb_error_set(err, KB_EINVAL, "vote must be 1 (thumbs up) or -1 (thumbs down)");
    else if (n && !kb_utf8_valid(comment, n))
        rc = kb_error_set(err, KB_EINVAL, "comment is not valid UTF-8");
    else if (chars > RAG_FEEDBACK_MAX_CHARS)
        rc = kb_error_set(err, KB_EINVAL, "comment has %zu characters; at most %d are allowed", chars,
                          RAG_FEEDBACK_MAX_CHARS);
    else if (message_id <= 0 || !secret || strlen(secret) != 32)
        rc = kb_error_set(err, KB_ENOENT, "no message %lld in this conversation", (long long)message_id);
    else {
        log_flush(r); /* the answer may still be on its way to the database */
        rc = index_log_feedback(r->st, message_id, secret, vote, comment, err);
    }
    rag_config_put(r, cfg);
    return rc;
}

int rag_log_query_check(const struct rag_log_query *q, struct kb_error *err)
{
    static const char *const channels[] = {"ui", "widget", "api", "openai"};
    static const char *const kinds[] = {"fallback", "low_confidence", "thumbs_down"};
    bool ok = !q->channel || !q->channel[0];
    for (size_t i = 0; !ok && i < KB_ARRAY_LEN(channels); i++)
        ok = strcmp(q->channel, channels[i]) == 0;
    if (!ok)
        return kb_error_set(err, KB_EINVAL, "channel must be ui, widget, api or openai");
    ok = !q->kind || !q->kind[0];
    for (size_t i = 0; !ok && i < KB_ARRAY_LEN(kinds); i++)
        ok = strcmp(q->kind, kinds[i]) == 0;
    if (!ok)
        return kb_error_set(err, KB_EINVAL, "kind must be fallback, low_confidence or thumbs_down");
    if (q->limit < 0 || q->limit > LOG_REVIEW_MAX_LIMIT)
        return kb_error_set(err, KB_EINVAL, "limit must be between 1 and %d", LOG_REVIEW_MAX_LIMIT);
    if (q->offset < 0)
        return kb_error_set(err, KB_EINVAL, "offset must not be negative");
    if (q->from < 0 || q->to < 0 || (q->to > 0 && q->from > q->to))
        return kb_error_set(err, KB_EINVAL, "from and to must be dates with from before to");
    return 0;
}

static void log_filter(struct index_log_filter *f, const struct rag_log_query *q, const struct config *cfg)
{
    memset(f, 0, sizeof *f);
    f->from = q->from;
    f->to = q->to;
    f->collection_id = q->collection_id;
    f->channel = q->channel;
    f->kind = q->kind;
    f->offset = q->offset;
    f->limit = q->limit > 0 ? q->limit : 50;
    f->low_confidence = cfg->log_review_below;
}

struct review_ctx {
    struct jw *w;
    double low;
};

static int review_row(void *ud, const struct index_log_row *m)
{
    struct review_ctx *c = ud;
    struct jw *w = c->w;
    jw_obj(w, NULL);
    jw_int(w, "message_id", m->id);
    jw_int(w, "conversation_id", m->conversation_id);
    jw_int(w, "created_at", m->created_at);
    jw_str(w, "channel", m->channel);
    jw_int(w, "collection_id", m->collection_id);
    jw_str(w, "question", m->question);
    jw_str(w, "answer", m->answer);
    jw_str(w, "mode", m->mode);
    jw_num(w, "confidence", m->confidence);
    jw_bool(w, "fallback", m->fallback);
    if (m->vote)
        jw_int(w, "vote", m->vote);
    else
        jw_null(w, "vote");
    jw_str(w, "comment", m->comment);
    jw_arr(w, "kinds");
    if (m->fallback)
        jw_str(w, NULL, "fallback");
    if (!m->fallback && m->confidence < c->low)
        jw_str(w, NULL, "low_confidence");
    if (m->vote < 0)
        jw_str(w, NULL, "thumbs_down");
    jw_end_arr(w);
    jw_raw(w, "citations", m->citations[0] ? m->citations : "[]");
    jw_end_obj(w);
    return w->rc;
}

int rag_review_json(struct rag *r, const struct rag_log_query *q, struct jw *w, struct kb_error *err)
{
    const struct config *cfg = rag_config_get(r);
    struct index_log_filter f;
    struct review_ctx c = {w, cfg->log_review_below};
    int64_t total = 0;
    int rc = rag_log_query_check(q, err);
    log_filter(&f, q, cfg);
    jw_bool(w, "enabled", cfg->log_enabled);
    if (!cfg->log_enabled)
        jw_str(w, "message", "conversation logging is off (log.enabled = false): nothing new is logged or reviewed");
    jw_num(w, "low_confidence_below", cfg->log_review_below);
    jw_arr(w, "items");
    log_flush(r);
    if (rc == 0)
        rc = index_log_review(r->st, &f, review_row, &c, &total, err);
    jw_end_arr(w);
    jw_int(w, "total", total > INDEX_LOG_REVIEW_COUNT_CAP ? INDEX_LOG_REVIEW_COUNT_CAP : total);
    jw_bool(w, "total_capped", total > INDEX_LOG_REVIEW_COUNT_CAP); /* more items than total */
    jw_int(w, "offset", f.offset);
    jw_int(w, "limit", f.limit);
    if (rc == 0 && w->rc)
        rc = kb_error_set(err, w->rc, "review list too large");
    rag_config_put(r, cfg);
    return rc;
}

int rag_review_set(struct rag *r, int64_t message_id, const char *action, struct kb_error *err)
{
    log_flush(r);
    if (action && strcmp(action, "dismiss") == 0)
        return index_log_review_set(r->st, message_id, "dismissed", err);
    if (action && strcmp(action, "resolved") == 0)
        return index_log_review_set(r->st, message_id, "resolved", err);
    return kb_error_set(err, KB_EINVAL, "action must be \"dismiss\" or \"resolved\"");
}

/* ---- analytics ----------------------------------------------------------------------------------------- */

static void stats_counts(struct jw *w, const char *key, const char *name, const struct index_log_count *v, int n,
                         bool with_id)
{
    jw_arr(w, key);
    for (int i = 0; i < n; i++) {
        jw_obj(w, NULL);
        if (with_id)
            jw_int(w, "document_id", v[i].id);
        jw_str(w, name, v[i].key);
        jw_int(w, "n", v[i].n);
        jw_end_obj(w);
    }
    jw_end_arr(w);
}

int rag_log_stats_json(struct rag *r, const struct rag_log_query *q, struct jw *w, struct kb_error *err)
{
    const struct config *cfg = rag_config_get(r);
    struct index_log_stats s;
    struct kb_arena a;
    int64_t answered, handed = 0;
    int rc = rag_log_query_check(q, err);
    kb_arena_init(&a, 0, 0);
    log_flush(r);
    if (rc == 0)
        rc = index_log_stats(r->st, q->from, q->to, q->collection_id, &a, &s, err);
    if (rc)
        goto out;
    /* handed off: handoffs to a person created in the range (index/store_handoff.c), every collection
     * (a handoff names no collection); as a share of the questions they take from the fallback
     * share first, then from the answered one, so the three shares still add up to the questions */
    if (q->collection_id <= 0 && (rc = index_handoff_count(r->st, q->from, q->to, &handed, err)))
        goto out;
    handed = handed < s.n_questions ? handed : s.n_questions;
    answered = s.n_questions - s.n_fallback;
    jw_bool(w, "enabled", cfg->log_enabled);
    jw_int(w, "questions", s.n_questions);
    jw_int(w, "answered", answered);
    jw_int(w, "fallback", s.n_fallback);
    jw_int(w, "handed_off", handed);
    jw_obj(w, "shares");
    {
        int64_t from_fb = handed < s.n_fallback ? handed : s.n_fallback, from_ans = handed - from_fb;
        jw_num(w, "answered", s.n_questions ? (double)(answered - from_ans) / (double)s.n_questions : 0);
        jw_num(w, "fallback", s.n_questions ? (double)(s.n_fallback - from_fb) / (double)s.n_questions : 0);
        jw_num(w, "handed_off", s.n_questions ? (double)handed / (double)s.n_questions : 0);
    }
    jw_end_obj(w);
    jw_obj(w, "thumbs");
    jw_int(w, "up", s.n_up);
    jw_int(w, "down", s.n_down);
    if (s.n_up + s.n_down)
        jw_num(w, "up_rate", (double)s.n_up / (double)(s.n_up + s.n_down));
    else
        jw_null(w, "up_rate");
    jw_end_obj(w);
    jw_obj(w, "latency_ms");
    jw_num(w, "p50", s.p50_ms);
    jw_num(w, "p95", s.p95_ms);
    jw_end_obj(w);
    jw_obj(w, "modes");
    for (int i = 0; i < s.n_modes; i++)
        jw_int(w, s.modes[i].key, s.modes[i].n);
    jw_end_obj(w);
    stats_counts(w, "per_day", "day", s.days, s.n_days, false);
    stats_counts(w, "top_questions", "question", s.top, s.n_top, false);
    stats_counts(w, "top_unanswered", "question", s.unanswered, s.n_unanswered, false);
    stats_counts(w, "top_documents", "document", s.docs, s.n_docs, true);
    if (w->rc)
        rc = kb_error_set(err, w->rc, "statistics too large");
out:
    kb_arena_release(&a);
    rag_config_put(r, cfg);
    return rc;
}

/* ---- export ----------------------------------------------------------------------------------------------- */

struct export_ctx {
    rag_write_fn write;
    void *ud;
    bool csv;
    struct kb_buf line;
};

/* One CSV field, quoted when it holds a separator, quote or line break. A text that a spreadsheet
 * would run as a formula (=, +, -, @ first) gets a leading apostrophe. */
static void csv_field(struct kb_buf *b, const char *s, bool text, bool last)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote)
        kb_buf_putc(b, '"');
    if (text && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@'))
        kb_buf_putc(b, '\'');
    for (; *s; s++) {
        if (*s == '"')
            kb_buf_putc(b, '"');
        kb_buf_putc(b, *s);
    }
    if (quote)
        kb_buf_putc(b, '"');
    kb_buf_puts(b, last ? "\r\n" : ",");
}

static int export_row(void *ud, const struct index_log_row *m)
{
    struct export_ctx *c = ud;
    char num[64], when[32];
    time_t t = (time_t)m->created_at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    kb_buf_reset(&c->line);
    if (c->csv) {
        snprintf(num, sizeof num, "%lld", (long long)m->id);
        csv_field(&c->line, num, false, false);
        snprintf(num, sizeof num, "%lld", (long long)m->conversation_id);
        csv_field(&c->line, num, false, false);
        csv_field(&c->line, when, false, false);
        csv_field(&c->line, m->channel, false, false);
        snprintf(num, sizeof num, "%lld", (long long)m->collection_id);
        csv_field(&c->line, num, false, false);
        csv_field(&c->line, m->question, true, false);
        csv_field(&c->line, m->answer, true, false);
        csv_field(&c->line, m->mode, false, false);
        snprintf(num, sizeof num, "%.3f", m->confidence);
        csv_field(&c->line, num, false, false);
        snprintf(num, sizeof num, "%.1f", m->latency_ms);
        csv_field(&c->line, num, false, false);
        csv_field(&c->line, m->model, false, false);
        csv_field(&c->line, m->client_ip ? m->client_ip : "", false, false);
        snprintf(num, sizeof num, "%d", m->vote);
        csv_field(&c->line, m->vote ? num : "", false, false);
        csv_field(&c->line, m->comment, true, false);
        csv_field(&c->line, m->review, false, false);
        csv_field(&c->line, m->citations, false, true);
    } else {
        struct jw w;
        jw_init(&w, &c->line);
        jw_obj(&w, NULL);
        jw_int(&w, "id", m->id);
        jw_int(&w, "conversation_id", m->conversation_id);
        jw_str(&w, "created_at", when);
        jw_str(&w, "channel", m->channel);
        jw_int(&w, "collection_id", m->collection_id);
        jw_str(&w, "question", m->question);
        jw_str(&w, "answer", m->answer);
        jw_str(&w, "mode", m->mode);
        jw_num(&w, "confidence", m->confidence);
        jw_num(&w, "latency_ms", m->latency_ms);
        jw_str(&w, "model", m->model);
        jw_str(&w, "client_ip", m->client_ip);
        if (m->vote)
            jw_int(&w, "vote", m->vote);
        else
            jw_null(&w, "vote");
        jw_str(&w, "comment", m->comment);
        jw_str(&w, "review", m->review);
        if (m->curated_id > 0) {
            jw_int(&w, "curated_id", m->curated_id);
            jw_int(&w, "curated_version", m->curated_version);
        }
        jw_raw(&w, "citations", m->citations[0] ? m->citations : "[]");
        jw_end_obj(&w);
        kb_buf_putc(&c->line, '\n');
    }
    return c->write(c->ud, c->line.data, c->line.len);
}

int rag_log_export(struct rag *r, const struct rag_log_query *q, const char *format, rag_write_fn write, void *ud,
                   struct kb_error *err)
{
    static const char header[] = "id,conversation_id,created_at,channel,collection_id,question,answer,mode,"
                                 "confidence,latency_ms,model,client_ip,vote,comment,review,citations\r\n";
    struct export_ctx c = {write, ud, false, {0}};
    struct index_log_filter f;
    const struct config *cfg;
    int rc;
    if (!format || (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0))
        return kb_error_set(err, KB_EINVAL, "format must be csv or jsonl");
    if ((rc = rag_log_query_check(q, err)))
        return rc;
    cfg = rag_config_get(r);
    log_filter(&f, q, cfg);
    rag_config_put(r, cfg);
    f.kind = NULL;
    f.offset = 0;
    f.limit = 0;
    c.csv = strcmp(format, "csv") == 0;
    kb_buf_init(&c.line, 0);
    log_flush(r);
    rc = c.csv ? write(ud, header, sizeof header - 1) : 0;
    if (rc == 0)
        rc = index_log_each(r->st, &f, export_row, &c, err);
    kb_buf_release(&c.line);
    return rc;
}

/* ---- deletion and retention ------------------------------------------------------------------------------- */

int rag_log_collection_of(struct rag *r, bool conversation, int64_t id, int64_t *collection_id,
                          struct kb_error *err)
{
    log_flush(r);
    return index_log_collection_of(r->st, conversation, id, collection_id, err);
}

int rag_conversation_delete(struct rag *r, int64_t id, struct kb_error *err)
{
    log_flush(r);
    return index_log_conversation_delete(r->st, id, err);
}

int rag_log_purge(struct rag *r, int64_t *n_deleted, struct kb_error *err)
{
    const struct config *cfg = rag_config_get(r);
    int64_t days = cfg->log_retention_days;
    int rc = 0;
    rag_config_put(r, cfg);
    if (n_deleted)
        *n_deleted = 0;
    log_flush(r);
    if (days > 0)
        rc = index_log_purge(r->st, (int64_t)time(NULL) - days * 86400, n_deleted, err);
    return rc;
}
