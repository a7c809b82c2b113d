/* rag/generate.c: generative answers from a GGUF chat model (answer.model), grounded in the
 * retrieved passages.
 *
 * Flow: passages (best first) -> a prompt in the model's chat template: a system instruction
 * (answer.persona first when set: a bot's persona, rag/bots.c; then: answer only from the numbered passages, cite them as [n], say plainly when they do not hold the answer,
 * answer in the question's language), the numbered passages with document and heading path, the
 * conversation's previous question, and the question -> if the prompt does not fit the context
 * (answer.context minus answer.max_tokens), the lowest-ranked passages are dropped whole, never cut
 * -> generation on one of answer.max_concurrent sessions (none free: KB_EBUSY), streaming "token"
 * and "think" pieces -> [n] markers that point to no passage are removed, the rest become
 * citations -> every sentence gets a support score against the passages it cites (lexical overlap
 * and embedding similarity); strict mode drops unsupported ones with a visible note, and an answer
 * left with none becomes the fallback text.
 * KV reuse: a session keeps its last prompt and answer cached; the next request takes the free
 * session whose cache shares the longest token prefix with its prompt (system instruction and
 * passages, all of it for a repeated question), cuts the cache to that prefix and evaluates only
 * the rest (rag_gen_stats counts it). Generation uses infer/'s prompt-lookup speculative decoding
 * at its default. Follow-ups: rag_gen_rewrite_followup() asks the model (or the remote server, with
 * the same prompt) for a standalone question and falls back to the follow-up itself.
 * answer.backend = openai: no model is loaded; the same system instruction and user message go to
 * the remote server through rag/remote.c, and its streamed text gets the same citation cleaning,
 * grounding and strict mode.
 * Threads: the model is shared; a session is taken under g->mu and used by one request at a time.
 * Tests: tests/rag/test_generate.c. */
#include "rag/rag_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "infer/infer.h"


struct rag_gen {
    struct infer_model *model;
    struct infer_session **sessions; /* n of them; each keeps its last prompt + answer cached */
    struct infer_pool *pool;         /* owned; the worker threads all n sessions share */
    bool *busy;                      /* guarded by mu */
    int n;
    int n_ctx;
    bool no_reuse;                   /* guarded by mu: evaluate every prompt from scratch */
    struct rag_gen_stats stats;      /* guarded by mu */
    pthread_mutex_t mu;
    /* answer.backend = openai: no model or sessions; answers go to a remote server (remote.c) */
    bool remote;
    struct remote_client rc;         /* the server, its options and breaker */
    int n_remote_busy;               /* guarded by mu; at most n */
    struct rag_backend_stats rstats; /* guarded by mu */
};

static int gen_open_remote(struct rag_gen *g, const struct config *cfg, struct kb_error *err);

int rag_gen_open(struct rag_gen **out, const struct config *cfg, struct kb_error *err)
{
    struct rag_gen *g = kb_xcalloc(1, sizeof *g);
    struct infer_model_info info;
    struct infer_session_params sp;
    struct stat sb;
    int64_t avail = kb_mem_available_bytes();
    int rc;
    *out = NULL;
    pthread_mutex_init(&g->mu, NULL);
    if (strcmp(cfg->answer_backend, "openai") == 0) {
        if ((rc = gen_open_remote(g, cfg, err)))
            goto fail;
        *out = g;
        return 0;
    }
    if (stat(cfg->answer_model, &sb)) {
        rc = kb_error_set(err, KB_ENOENT, "answer.model '%s' does not exist", cfg->answer_model);
        goto fail;
    }
    if (avail > 0 && (int64_t)sb.st_size > avail) {
        rc = kb_error_set(err, KB_ETOOBIG, "answer.model '%s' is %.1f GB but only %.1f GB of memory is available",
                          cfg->answer_model, sb.st_size / 1e9, avail / 1e9);
        goto fail;
    }
    if ((rc = infer_model_open(&g->model, cfg->answer_model, err))) {
        kb_error_prefix(err, "answer.model '%s'", cfg->answer_model);
        goto fail;
    }
    infer_model_get_info(g->model, &info);
    infer_session_params_default(&sp);
    sp.n_ctx = (int)KB_MIN(cfg->answer_context, info.n_ctx_train > 0 ? info.n_ctx_train : cfg->answer_context);
    if ((rc = infer_pool_new(&g->pool, (int)cfg->answer_threads, err)))
        goto fail;
    sp.pool = g->pool;
    g->n_ctx = sp.n_ctx;
    g->n = (int)cfg->answer_max_concurrent;
    g->sessions = kb_xcalloc((size_t)g->n, sizeof *g->sessions);
    g->busy = kb_xcalloc((size_t)g->n, sizeof *g->busy);
    for (int i = 0; i < g->n; i++)
        if ((rc = infer_session_new(&g->sessions[i], g->model, &sp, err)))
            goto fail;
    kb_info("answer model '%s' (%s, template %s), %d session(s) of %d tokens", cfg->answer_model, info.arch,
            infer_chat_family(g->model), g->n, g->n_ctx);
    *out = g;
    return 0;
fail:
    rag_gen_close(g);
    return rc;
}

void rag_gen_close(struct rag_gen *g)
{
    if (!g)
        return;
    for (int i = 0; g->sessions && i < g->n; i++)
        infer_session_free(g->sessions[i]);
    free(g->sessions);
    free(g->busy);
    infer_pool_free(g->pool);
    infer_model_close(g->model);
    if (g->remote) {
        remote_client_release(&g->rc);
    }
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* ---- the prompt ---------------------------------------------------------------------------------------- */

static const char gen_system[] =
    "You answer questions for a company's knowledge base. Answer only from the numbered passages "
    "the user gives you. After each statement, cite the passages it comes from as [n], using their "
    "numbers. If the passages do not contain the answer, say plainly that the documents do not "
    "contain it, and do not guess. Answer in the same language as the question, briefly.";

/* The system message: answer.persona (a bot's own, or the global one), then the grounding rules,
 * which a persona cannot replace. Caller releases out. */
static void gen_system_text(const struct config *cfg, struct kb_buf *out)
{
    kb_buf_init(out, 0);
    if (cfg->answer_persona && cfg->answer_persona[0])
        kb_buf_printf(out, "%s\n\n", cfg->answer_persona);
    kb_buf_puts(out, gen_system);
}

/* The user message: the numbered passages ("[1] file (document title) > section", then the text),
 * the previous question, the question. Local and remote answers send the same text. */
static int gen_user_message(const char *question, const char *previous, const struct rag_passage *p, int n,
                            struct kb_buf *user)
{
    int rc = kb_buf_puts(user, "Passages:\n");
    for (int i = 0; i < n && !rc; i++) {
        bool ctx = p[i].context && p[i].context[0]; /* the document's title: whose handbook, which filing */
        rc = kb_buf_printf(user, "\n[%d] %s%s%s%s%s%s\n%s\n", i + 1, p[i].document, ctx ? " (" : "",
                           ctx ? p[i].context : "", ctx ? ")" : "", p[i].heading_path[0] ? " > " : "",
                           p[i].heading_path, p[i].text);
    }
    if (!rc && previous && *previous)
        rc = kb_buf_printf(user, "\nThe previous question was: %s\n", previous);
    if (!rc)
        rc = kb_buf_printf(user, "\nQuestion: %s", question);
    return rc;
}

static int gen_render(struct rag_gen *g, const struct config *cfg, const char *question, const char *previous,
                      const struct rag_passage *p, int n, struct kb_buf *prompt, struct kb_error *err)
{
    struct kb_buf user, sys;
    struct infer_chat_msg msgs[2];
    int rc = 0;
    kb_buf_init(&user, 0);
    gen_system_text(cfg, &sys);
    rc = gen_user_message(question, previous, p, n, &user);
    msgs[0] = (struct infer_chat_msg){"system", sys.data};
    msgs[1] = (struct infer_chat_msg){"user", user.data};
    kb_buf_reset(prompt);
    if (!rc)
        rc = infer_chat_render(g->model, msgs, 2, NULL, prompt, err);
    kb_buf_release(&user);
    kb_buf_release(&sys);
    return rc;
}

/* ---- citations and grounding ------------------------------------------------------------------------- */

int rag_clean_markers(char *text, int n_passages, bool *used)
{
    char *r = text, *w = text;
    int kept = 0;
    while (*r) {
        if (*r == '[' && isdigit((unsigned char)r[1])) {
            char *e = r + 1;
            long v = 0;
            while (isdigit((unsigned char)*e) && v < 100000)
                v = v * 10 + (*e++ - '0');
            if (*e == ']') {
                if (v >= 1 && v <= n_passages) {
                    if (used)
                        used[v - 1] = true;
                    kept++;
                    memmove(w, r, (size_t)(e + 1 - r));
                    w += e + 1 - r;
                } else if (w > text && w[-1] == ' ') {
                    w--; /* "text [9]." -> "text." */
                }
                r = e + 1;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
    return kept;
}

/* Support of one sentence: the share of its words found in its cited passages (all passages when it
 * cites none), blended with the embedding similarity when an embedder is given. */
static double gen_support(const char *s, size_t n, const struct rag_passage *p, int n_p,
                          const struct rag_embedder_ref *emb)
{
    struct rag_terms t;
    bool cites[64] = {0};
    int any = 0, hit = 0;
    char *tmp = kb_xstrndup(s, n);
    rag_clean_markers(tmp, KB_MIN(n_p, 64), cites);
    for (int i = 0; i < KB_MIN(n_p, 64); i++)
        any += cites[i];
    rag_terms_extract(tmp, strlen(tmp), &t);
    for (int k = 0; k < t.n; k++)
        for (int i = 0; i < n_p; i++)
            if ((!any || (i < 64 && cites[i])) && rag_text_has_term(p[i].text, strlen(p[i].text), t.term[k])) {
                hit++;
                break;
            }
    double lex = t.n ? (double)hit / t.n : 0, vec = 0;
    if (emb && emb->embed && t.n) {
        float *v = kb_xcalloc((size_t)emb->dim * 2, sizeof *v);
        for (int i = 0; i < n_p; i++) {
            const char *texts[2] = {tmp, p[i].text};
            if ((any && !(i < 64 && cites[i])) || emb->embed(emb->ud, texts, 2, v, NULL))
                continue;
            double d = 0;
            for (int k = 0; k < emb->dim; k++)
                d += (double)v[k] * v[emb->dim + k];
            vec = KB_MAX(vec, d);
        }
        free(v);
    }
    free(tmp);
    return emb && emb->embed ? 0.7 * lex + 0.3 * vec : lex;
}

/* ---- generation ---------------------------------------------------------------------------------------- */

struct gen_run {
    rag_stream_fn on_stream;
    void *ud;
    struct kb_buf answer, reasoning;
    bool canceled;
};

static int gen_piece(void *ud, const char *piece, size_t n)
{
    struct gen_run *run = ud;
    kb_buf_append(&run->answer, piece, n);
    if (run->on_stream && run->on_stream(run->ud, "token", piece, n))
        run->canceled = true;
    return run->canceled;
}

static int gen_think(void *ud, const char *piece, size_t n)
{
    struct gen_run *run = ud;
    kb_buf_append(&run->reasoning, piece, n);
    if (run->on_stream && run->on_stream(run->ud, "think", piece, n))
        run->canceled = true;
    return run->canceled;
}

/* Tokens at the start of the session's cache that equal tokens[0..n). */
static int gen_common_prefix(const struct infer_session *s, const int32_t *tokens, int n)
{
    int n_cached, i = 0;
    const int32_t *cached = infer_session_tokens(s, &n_cached);
    while (i < n && i < n_cached && cached[i] == tokens[i])
        i++;
    return i;
}

/* Takes a free session: the one whose cache shares the longest prefix with tokens[0..n) (the
 * system instruction and passages of a repeated or related question), else the first free one.
 * *reuse gets the cached tokens to keep (0 with reuse off; never all n, since the last prompt
 * token must be evaluated again for its logits). */
static int gen_take_session(struct rag_gen *g, const int32_t *tokens, int n, int *reuse, struct kb_error *err)
{
    int slot = -1, best = -1;
    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < g->n; i++) {
        if (g->busy[i])
            continue;
        int c = g->no_reuse || !tokens ? 0 : gen_common_prefix(g->sessions[i], tokens, n);
        if (c > best) {
            best = c;
            slot = i;
        }
    }
    if (slot >= 0)
        g->busy[slot] = true;
    pthread_mutex_unlock(&g->mu);
    *reuse = KB_MAX(0, KB_MIN(best, n - 1));
    if (slot < 0)
        return kb_error_set(err, KB_EBUSY, "all %d answer sessions are busy (answer.max_concurrent); try again", g->n);
    return slot;
}

void rag_gen_set_prefix_reuse(struct rag_gen *g, bool on)
{
    pthread_mutex_lock(&g->mu);
    g->no_reuse = !on;
    pthread_mutex_unlock(&g->mu);
}

void rag_gen_get_stats(struct rag_gen *g, struct rag_gen_stats *out)
{
    pthread_mutex_lock(&g->mu);
    *out = g->stats;
    pthread_mutex_unlock(&g->mu);
}

static void gen_give_session(struct rag_gen *g, int slot)
{
    pthread_mutex_lock(&g->mu);
    g->busy[slot] = false;
    pthread_mutex_unlock(&g->mu);
}

/* Renders the prompt with as many passages (best first, at most 64) as fit the context minus
 * answer.max_tokens, dropping the lowest-ranked ones whole, and tokenizes it. *tokens: caller frees. */
static int gen_fit_prompt(struct rag_gen *g, const struct config *cfg, const char *question, const char *previous,
                          const struct rag_passage *p, int n_passages, struct kb_buf *prompt, int32_t **tokens,
                          int *n_tok, int *n_use, struct kb_error *err)
{
    int budget = g->n_ctx - (int)KB_MIN(cfg->answer_max_tokens, g->n_ctx / 2) - 8;
    int rc;
    *n_use = KB_MIN(n_passages, 64);
    for (;;) {
        if ((rc = gen_render(g, cfg, question, previous, p, *n_use, prompt, err)))
            return rc;
        rc = infer_tokenize(g->model, prompt->data, prompt->len, true, true, NULL, 0, n_tok, NULL);
        if (*n_tok <= budget)
            break;
        if (*n_use == 0)
            return kb_error_set(err, KB_ETOOBIG, "the question does not fit the model's context of %d tokens",
                                g->n_ctx);
        (*n_use)--;
    }
    *tokens = kb_xcalloc((size_t)*n_tok + 1, sizeof **tokens);
    return infer_tokenize(g->model, prompt->data, prompt->len, true, true, *tokens, *n_tok, n_tok, err);
}

/* Adds one generation to the model's statistics (rag_gen_get_stats). */
static void gen_count(struct rag_gen *g, int n_tok, int reuse, const struct infer_gen_result *res)
{
    pthread_mutex_lock(&g->mu);
    g->stats.n_answers++;
    g->stats.n_prompt_tokens += n_tok;
    g->stats.n_reused_tokens += reuse;
    g->stats.n_generated += res->n_gen;
    g->stats.n_drafted += res->n_drafted;
    g->stats.n_accepted += res->n_accepted;
    g->stats.last_reused = reuse;
    g->stats.last_prompt_tokens = n_tok;
    pthread_mutex_unlock(&g->mu);
    kb_debug("answer: %d prompt tokens, %d reused from the cache, %d generated (%d of %d drafted accepted)", n_tok,
             reuse, res->n_gen, res->n_accepted, res->n_drafted);
}

/* A model may emit bytes that are not UTF-8: they become U+FFFD before anyone sees them. Returns
 * the answer text (caller frees) and sets out->reasoning. */
static char *gen_sanitize(const struct gen_run *run, struct rag_answer *out)
{
    struct kb_buf clean;
    char *answer;
    kb_buf_init(&clean, 0);
    kb_utf8_sanitize(&clean, run->answer.data ? run->answer.data : "", run->answer.len);
    answer = kb_buf_take(&clean);
    if (run->reasoning.len) {
        kb_buf_init(&clean, 0);
        kb_utf8_sanitize(&clean, run->reasoning.data, run->reasoning.len);
        out->reasoning = kb_buf_take(&clean);
    }
    return answer;
}

/* Citations: markers to real passages stay (as out->citations), the rest leave answer. */
static void gen_cite(char *answer, const struct rag_passage *p, int n_use, struct rag_answer *out)
{
    bool used[64] = {0};
    rag_clean_markers(answer, n_use, used);
    out->citations = kb_xcalloc((size_t)n_use + 1, sizeof *out->citations);
    for (int i = 0; i < n_use; i++) {
        if (!used[i])
            continue;
        struct rag_citation *c = &out->citations[out->n_citations++];
        c->n = i + 1;
        c->chunk_id = p[i].chunk_id;
        c->document_id = p[i].document_id;
        c->document = kb_xstrdup(p[i].document);
        c->heading_path = kb_xstrdup(p[i].heading_path);
        c->page = p[i].page;
        c->page_end = p[i].page_end;
        c->text = kb_xstrdup(p[i].text);
    }
}

/* Grounding, sentence by sentence: a support score each, and in strict mode (answer.strict) the
 * unsupported ones removed with a note, or the fallback text when none is left. Takes ownership of
 * answer and returns the final text (caller frees). */
static char *gen_ground(const struct config *cfg, char *answer, const struct rag_passage *p, int n_use,
                        const struct rag_embedder_ref *emb, struct rag_answer *out)
{
    struct text_span spans[256];
    int ns = text_split_sentences(answer, strlen(answer), spans, 256), kept = 0, dropped = 0;
    struct kb_buf strict;
    double sum = 0;
    kb_buf_init(&strict, 1 << 20);
    out->sentences = kb_xcalloc((size_t)ns + 1, sizeof *out->sentences);
    for (int i = 0; i < ns; i++) {
        const char *s = answer + spans[i].start;
        size_t sn = spans[i].end - spans[i].start;
        double sup = gen_support(s, sn, p, n_use, emb);
        out->sentences[out->n_sentences++] = (struct rag_sentence){kb_xstrndup(s, sn), sup};
        sum += sup;
        if (sup >= cfg->answer_min_support) {
            if (kept++)
                kb_buf_putc(&strict, ' ');
            kb_buf_append(&strict, s, sn);
        } else {
            dropped++;
        }
    }
    out->confidence = ns ? sum / ns : 0;
    out->support_min = cfg->answer_min_support;
    out->n_weak = dropped;
    if (cfg->answer_strict && dropped) {
        out->n_dropped = dropped;
        free(answer);
        if (kept == 0) {
            answer = kb_xstrdup(cfg->answer_fallback);
            out->fallback = true;
        } else {
            kb_buf_printf(&strict, "\n\n(%d sentence%s not supported by the documents removed.)", dropped,
                          dropped == 1 ? "" : "s");
            answer = kb_buf_take(&strict);
        }
    }
    kb_buf_release(&strict);
    return answer;
}

/* ---- remote backend (answer.backend = openai) ------------------------------------------------------ */

/* Copies what the client needs from cfg (remote_client_init: the key from answer.api_key, else the
 * first line of answer.api_key_file). */
static int gen_open_remote(struct rag_gen *g, const struct config *cfg, struct kb_error *err)
{
    int rc = remote_client_init(&g->rc, cfg, "answer", cfg->answer_url, cfg->answer_model_name, cfg->answer_api_key,
                                cfg->answer_api_key_file, err);
    if (rc)
        return rc;
    g->remote = true;
    g->n = (int)cfg->answer_max_concurrent;
    g->n_ctx = (int)cfg->answer_context;
    kb_info("answer backend: openai at %s (model '%s'), %d concurrent", g->rc.url, g->rc.model_name, g->n);
    return 0;
}

bool rag_gen_is_remote(const struct rag_gen *g)
{
    return g && g->remote;
}

void rag_gen_backend_stats(struct rag_gen *g, struct rag_backend_stats *st)
{
    memset(st, 0, sizeof *st);
    st->backend = g && g->remote ? "openai" : "local";
    st->state = g ? "up" : "none"; /* in-process: a loaded model is up; none answers extractively */
    if (!g || !g->remote)
        return;
    pthread_mutex_lock(&g->mu);
    *st = g->rstats;
    pthread_mutex_unlock(&g->mu);
    st->backend = "openai";
    remote_client_state(&g->rc, st);
}

bool rag_gen_backend_down(struct rag_gen *g)
{
    return g && g->remote && remote_breaker_state(&g->rc.breaker) == REMOTE_BREAKER_OPEN;
}

/* The request body: the same system instruction and user message as the local prompt. */
static void gen_remote_body(const struct rag_gen *g, double temperature, const char *system, const char *user,
                            int max_tokens, struct kb_buf *body)
{
    struct jw w;
    jw_init(&w, body);
    jw_obj(&w, NULL);
    jw_str(&w, "model", g->rc.model_name);
    jw_bool(&w, "stream", true);
    jw_obj(&w, "stream_options");
    jw_bool(&w, "include_usage", true);
    jw_end_obj(&w);
    jw_int(&w, "max_tokens", max_tokens);
    jw_num(&w, "temperature", temperature);
    jw_arr(&w, "messages");
    jw_obj(&w, NULL);
    jw_str(&w, "role", "system");
    jw_str(&w, "content", system);
    jw_end_obj(&w);
    jw_obj(&w, NULL);
    jw_str(&w, "role", "user");
    jw_str(&w, "content", user);
    jw_end_obj(&w);
    jw_end_arr(&w);
    jw_end_obj(&w);
}

static int gen_remote_piece(void *ud, enum remote_piece kind, const char *text, size_t n, struct kb_error *err)
{
    (void)err;
    return (kind == REMOTE_PIECE_CONTENT ? gen_piece : gen_think)(ud, text, n) ? KB_ECANCELED : 0;
}

static int gen_remote_slot(struct rag_gen *g, bool take, struct kb_error *err)
{
    int rc = 0;
    pthread_mutex_lock(&g->mu);
    if (!take)
        g->n_remote_busy--;
    else if (g->n_remote_busy >= g->n)
        rc = kb_error_set(err, KB_EBUSY, "all %d answer slots are busy", g->n);
    else
        g->n_remote_busy++;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

/* rag_answer_generative through the remote server: same prompt, same citation and grounding. */
static int gen_remote_answer(struct rag_gen *g, const struct config *cfg, const char *question, const char *previous,
                             const struct rag_passage *p, int n_passages, const struct rag_embedder_ref *emb,
                             struct gen_run *run, struct rag_answer *out, char **prompt_out, double *tokens_per_s,
                             bool *backend_failed, struct kb_error *err)
{
    struct kb_buf user, body, sys;
    struct remote_result res = {0};
    int n_use = KB_MIN(n_passages, 64), rc;
    double t0 = kb_now_s();
    kb_buf_init(&user, 0);
    kb_buf_init(&body, 0);
    if ((rc = gen_remote_slot(g, true, err)))
        goto out;
    rc = gen_user_message(question, previous, p, n_use, &user);
    gen_system_text(cfg, &sys);
    gen_remote_body(g, cfg->answer_temperature, sys.data, user.data, (int)cfg->answer_max_tokens, &body);
    kb_buf_release(&sys);
    if (prompt_out)
        *prompt_out = kb_xstrndup(body.data, body.len);
    rc = rc ? rc : remote_chat(&g->rc.ro, &g->rc.breaker, body.data, gen_remote_piece, run, &res, err);
    gen_remote_slot(g, false, NULL);
    if (rc == KB_ECANCELED || (!rc && run->canceled))
        rc = kb_error_set(err, KB_ECANCELED, "the client went away");
    pthread_mutex_lock(&g->mu);
    g->rstats.requests++;
    g->rstats.errors += rc != 0 && rc != KB_ECANCELED;
    g->rstats.retries += res.n_retries;
    g->rstats.tokens_in += res.usage.prompt_tokens;
    g->rstats.tokens_out += res.usage.completion_tokens;
    g->rstats.last_ttft_ms = res.ttft_s * 1000;
    g->rstats.last_latency_ms = (kb_now_s() - t0) * 1000;
    g->stats.n_answers++;
    g->stats.n_prompt_tokens += res.usage.prompt_tokens;
    g->stats.n_generated += res.usage.completion_tokens;
    g->stats.last_prompt_tokens = (int)res.usage.prompt_tokens;
    pthread_mutex_unlock(&g->mu);
    kb_info("remote answer: %s, %lld prompt tokens, %lld generated, first token after %.0f ms, %d retries%s",
            rc ? "failed" : "done", (long long)res.usage.prompt_tokens, (long long)res.usage.completion_tokens,
            res.ttft_s * 1000, res.n_retries, res.incomplete ? ", incomplete" : "");
    if (rc && rc != KB_ECANCELED && res.incomplete) {
        /* the stream broke after the client saw text: end the answer with what came, marked */
        out->incomplete = true;
        kb_strlcpy(out->error, kb_error_msg(err, rc), sizeof out->error);
        rc = 0;
    } else if (rc && rc != KB_ECANCELED && backend_failed) {
        *backend_failed = true; /* nothing reached the client: the caller may answer otherwise */
    }
    if (rc)
        goto out;
    out->n_tokens = (int)(res.have_usage ? res.usage.completion_tokens : res.n_pieces);
    *tokens_per_s = out->n_tokens / KB_MAX(kb_now_s() - t0, 1e-6);
    {
        char *answer = gen_sanitize(run, out);
        gen_cite(answer, p, n_use, out);
        out->answer = gen_ground(cfg, answer, p, n_use, emb, out);
    }
out:
    kb_buf_release(&user);
    kb_buf_release(&body);
    return rc;
}

int rag_answer_generative(struct rag_gen *g, const struct config *cfg, const char *question, const char *previous,
                          const struct rag_passage *p, int n_passages, const struct rag_embedder_ref *emb,
                          rag_stream_fn on_stream, void *ud, struct rag_answer *out, char **prompt_out,
                          double *tokens_per_s, bool *backend_failed, struct kb_error *err)
{
    struct kb_buf prompt;
    struct gen_run run = {.on_stream = on_stream, .ud = ud};
    struct infer_gen_params gp;
    struct infer_gen_result res = {0};
    struct infer_chat_opts co = {.add_generation_prompt = true};
    int32_t *tokens = NULL;
    int n_tok = 0, n_use = 0, slot = -1, reuse = 0, rc;

    memset(out, 0, sizeof *out);
    out->mode = "generative";
    if (backend_failed)
        *backend_failed = false;
    kb_buf_init(&prompt, 0);
    kb_buf_init(&run.answer, 1 << 20);
    kb_buf_init(&run.reasoning, 1 << 20);
    if (g->remote) {
        rc = gen_remote_answer(g, cfg, question, previous, p, n_passages, emb, &run, out, prompt_out, tokens_per_s,
                               backend_failed, err);
        goto out;
    }
    if ((rc = gen_fit_prompt(g, cfg, question, previous, p, n_passages, &prompt, &tokens, &n_tok, &n_use, err)))
        goto out;
    if (prompt_out)
        *prompt_out = kb_xstrndup(prompt.data, prompt.len);
    if ((slot = gen_take_session(g, tokens, n_tok, &reuse, err)) < 0) {
        rc = slot;
        slot = -1;
        goto out;
    }
    /* Prefix reuse: the session still holds its last prompt and answer; keep what this prompt
     * shares with it (system instruction, passages) and evaluate only the rest. The cache rows
     * of a position depend only on the tokens up to it, so the answer is the same. */
    infer_session_truncate(g->sessions[slot], reuse);
    infer_gen_params_default(&gp);
    gp.sample.temp = (float)cfg->answer_temperature;
    gp.max_tokens = (int)cfg->answer_max_tokens;
    gp.draft_max = cfg->answer_speculative ? 0 : -1; /* 0: adaptive prompt-lookup drafts */
    gp.split_reasoning = true;
    gp.starts_in_reasoning = infer_chat_opens_think(g->model, &co);
    gp.reasoning = gen_think;
    rc = infer_generate(g->sessions[slot], tokens + reuse, n_tok - reuse, &gp, gen_piece, &run, &res, err);
    if (rc) /* a half-evaluated prompt must not be taken for a cached one */
        infer_session_reset(g->sessions[slot]);
    if (!rc && run.canceled)
        rc = kb_error_set(err, KB_ECANCELED, "the client went away");
    gen_count(g, n_tok, reuse, &res);
    if (rc)
        goto out;
    out->n_tokens = res.n_gen;
    *tokens_per_s = res.gen_s > 0 ? res.n_gen / res.gen_s : 0;
    {
        char *answer = gen_sanitize(&run, out);
        gen_cite(answer, p, n_use, out);
        out->answer = gen_ground(cfg, answer, p, n_use, emb, out);
    }
out:
    if (slot >= 0)
        gen_give_session(g, slot);
    free(tokens);
    kb_buf_release(&prompt);
    kb_buf_release(&run.answer);
    kb_buf_release(&run.reasoning);
    if (rc)
        rag_answer_release(out);
    return rc;
}

/* ---- follow-up rewriting ------------------------------------------------------------------------------- */

#define GEN_REWRITE_MAX_TOKENS 48

static const char gen_rewrite_system[] =
    "Rewrite the user's follow-up question so that it can be understood without the previous question. "
    "Keep its language and meaning, replace pronouns with what they refer to, and reply with the "
    "rewritten question only, on one line.";

static int gen_collect(void *ud, const char *piece, size_t n)
{
    struct kb_buf *b = ud;
    kb_buf_append(b, piece, n);
    return b->len > 2048; /* far past anything usable */
}

/* The rewrite as one clean line: surrounding space and quotes and a "Question:" label dropped. */
static char *gen_rewrite_clean(const char *s, size_t n)
{
    static const char *const labels[] = {"Rewritten question:", "Standalone question:", "Question:"};
    struct kb_buf b;
    size_t i = 0;
#define GEN_JUNK(c) (isspace((unsigned char)(c)) || (c) == '"' || (c) == '\'')
    while (i < n && GEN_JUNK(s[i]))
        i++;
    for (size_t k = 0; k < KB_ARRAY_LEN(labels); k++) {
        size_t l = strlen(labels[k]);
        if (n - i >= l && strncasecmp(s + i, labels[k], l) == 0) {
            i += l;
            break;
        }
    }
    while (i < n && GEN_JUNK(s[i]))
        i++;
    size_t e = i;
    while (e < n && s[e] != '\n')
        e++;
    while (e > i && GEN_JUNK(s[e - 1]))
        e--;
#undef GEN_JUNK
    kb_buf_init(&b, 0);
    kb_utf8_sanitize(&b, s + i, e - i);
    return kb_buf_take(&b);
}

static int gen_rewrite_local(struct rag_gen *g, const char *previous, const char *followup, char **out,
                             struct kb_error *err);
static int gen_rewrite_remote(struct rag_gen *g, const char *previous, const char *followup, char **out,
                              struct kb_error *err);

int rag_gen_rewrite_followup(struct rag_gen *g, const char *previous, const char *followup, char **out,
                             struct kb_error *err)
{
    if (!g || !g->remote) /* gen_rewrite_local handles a NULL model */
        return gen_rewrite_local(g, previous, followup, out, err);
    return gen_rewrite_remote(g, previous, followup, out, err);
}

/* The checks both paths apply to the model's text: *out takes the cleaned rewrite (0), or stays
 * NULL with the reason (cut: the model hit the token cap). */
static int gen_rewrite_accept(const char *gen, size_t n, bool cut, const char *previous, const char *followup,
                              char **out, struct kb_error *err)
{
    char *text = gen_rewrite_clean(gen ? gen : "", n);
    int rc = 0;
    if (cut)
        rc = kb_error_set(err, KB_ETOOBIG, "rewrite: the model did not finish within %d tokens", GEN_REWRITE_MAX_TOKENS);
    else if (strlen(text) < 2)
        rc = kb_error_set(err, KB_EFORMAT, "rewrite: the model wrote no question");
    else if (strlen(text) > 2 * (strlen(previous) + strlen(followup)) + 32)
        rc = kb_error_set(err, KB_ETOOBIG, "rewrite: the model's question is longer than both questions together");
    if (rc == 0)
        *out = text;
    else
        free(text);
    return rc;
}

/* Only the answer text of the rewrite counts; reasoning deltas are dropped. */
static int gen_rewrite_piece(void *ud, enum remote_piece kind, const char *text, size_t n, struct kb_error *err)
{
    (void)err;
    if (kind != REMOTE_PIECE_CONTENT)
        return 0;
    return gen_collect(ud, text, n) ? KB_ECANCELED : 0;
}

/* The same system instruction and user message as the local rewrite, streamed from the remote
 * server with temperature 0 and at most GEN_REWRITE_MAX_TOKENS tokens; it takes one of the
 * answer.max_concurrent slots and counts in the breaker like an answer. */
static int gen_rewrite_remote(struct rag_gen *g, const char *previous, const char *followup, char **out,
                              struct kb_error *err)
{
    struct kb_buf user, body, gen;
    struct remote_result res = {0};
    int rc;
    *out = NULL;
    kb_buf_init(&user, 0);
    kb_buf_init(&body, 0);
    kb_buf_init(&gen, 0);
    if (!followup)
        followup = "";
    if (!previous || !*previous || !*followup) {
        rc = kb_error_set(err, KB_EINVAL, "rewrite: need a previous question and a follow-up");
        goto out;
    }
    if ((rc = gen_remote_slot(g, true, err)))
        goto out;
    kb_buf_printf(&user, "Previous question: %s\nFollow-up question: %s", previous, followup);
    gen_remote_body(g, 0, gen_rewrite_system, user.data, GEN_REWRITE_MAX_TOKENS, &body);
    rc = remote_chat(&g->rc.ro, &g->rc.breaker, body.data, gen_rewrite_piece, &gen, &res, err);
    gen_remote_slot(g, false, NULL);
    if (rc == KB_ECANCELED)
        rc = kb_error_set(err, KB_ETOOBIG, "rewrite: the model wrote far more than a question");
    if (rc == 0)
        rc = gen_rewrite_accept(gen.data, gen.len, strcmp(res.finish_reason, "length") == 0, previous, followup,
                                out, err);
    kb_info("remote rewrite: %s, %lld prompt tokens, %lld generated", rc ? "fallback" : "done",
            (long long)res.usage.prompt_tokens, (long long)res.usage.completion_tokens);
out:
    if (!*out)
        *out = kb_xstrdup(followup);
    kb_buf_release(&user);
    kb_buf_release(&body);
    kb_buf_release(&gen);
    return rc;
}

static int gen_rewrite_local(struct rag_gen *g, const char *previous, const char *followup, char **out,
                             struct kb_error *err)
{
    struct kb_buf user, prompt, gen;
    struct infer_chat_msg msgs[2];
    struct infer_chat_opts co = {.add_generation_prompt = true};
    struct infer_gen_params gp;
    struct infer_gen_result res = {0};
    static const char *const stop[] = {"\n"};
    int32_t *tokens = NULL;
    int n_tok = 0, slot = -1, reuse, rc;
    *out = NULL;
    kb_buf_init(&user, 0);
    kb_buf_init(&prompt, 0);
    kb_buf_init(&gen, 0);
    if (!followup)
        followup = "";
    if (!g || !previous || !*previous || !*followup) {
        rc = kb_error_set(err, KB_EINVAL, "rewrite: need an answer model, a previous question and a follow-up");
        goto out;
    }
    kb_buf_printf(&user, "Previous question: %s\nFollow-up question: %s", previous, followup);
    msgs[0] = (struct infer_chat_msg){"system", gen_rewrite_system};
    msgs[1] = (struct infer_chat_msg){"user", user.data};
    if ((rc = infer_chat_render(g->model, msgs, 2, &co, &prompt, err)))
        goto out;
    if ((rc = infer_tokenize(g->model, prompt.data, prompt.len, true, true, NULL, 0, &n_tok, NULL)) &&
        rc != KB_ETOOBIG)
        goto out_tok;
    if (n_tok <= 0 || n_tok > g->n_ctx - GEN_REWRITE_MAX_TOKENS - 1) {
        rc = kb_error_set(err, KB_ETOOBIG, "rewrite: the question does not fit the model's context");
        goto out;
    }
    tokens = kb_xcalloc((size_t)n_tok + 1, sizeof *tokens);
    if ((rc = infer_tokenize(g->model, prompt.data, prompt.len, true, true, tokens, n_tok, &n_tok, err)))
        goto out;
    /* the free session sharing most of this prompt: with several sessions, usually the one that
     * rewrote last rather than one holding a long answer prompt worth reusing */
    if ((slot = gen_take_session(g, tokens, n_tok, &reuse, err)) < 0) {
        rc = slot;
        slot = -1;
        goto out;
    }
    infer_session_truncate(g->sessions[slot], reuse);
    infer_gen_params_default(&gp);
    gp.sample.temp = 0;
    gp.max_tokens = GEN_REWRITE_MAX_TOKENS;
    gp.stop = stop;
    gp.n_stop = 1;
    gp.split_reasoning = true; /* reasoning models think first; only the answer text counts */
    gp.starts_in_reasoning = infer_chat_opens_think(g->model, &co);
    rc = infer_generate(g->sessions[slot], tokens + reuse, n_tok - reuse, &gp, gen_collect, &gen, &res, err);
    if (rc) {
        infer_session_reset(g->sessions[slot]);
        goto out;
    }
    rc = gen_rewrite_accept(gen.data, gen.len, res.why == INFER_STOP_MAX_TOKENS || res.why == INFER_STOP_CALLBACK,
                            previous, followup, out, err);
    goto out;
out_tok:
    kb_error_set(err, rc, "rewrite: cannot tokenize the prompt");
out:
    if (slot >= 0)
        gen_give_session(g, slot);
    if (!*out)
        *out = kb_xstrdup(followup);
    free(tokens);
    kb_buf_release(&user);
    kb_buf_release(&prompt);
    kb_buf_release(&gen);
    return rc;
}
