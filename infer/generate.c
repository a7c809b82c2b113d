/* infer/generate.c: tokens in and out of a model (the tokenizer glue) and the generation loop.
 *
 * Generation: the prompt is evaluated as one batched infer_eval() (last-row logits only), then one
 * token at a time: sample from the logits, stop on an end-of-generation token (unless ignored),
 * decode the token through a tok_stream (UTF-8 split across tokens is held back), append the text
 * to a window that is searched for stop strings, and pass on every byte that can no longer be the
 * start of a stop string. Buffers are allocated once per call, before the loop; the loop itself
 * only calls the forward pass, which never allocates.
 *
 * Sampling (sample_token): penalties over the session's recent tokens, then greedy (temp <= 0,
 * ties to the lowest id) or temperature, top-k, top-p, min-p and a seeded xorshift draw, in
 * llama.cpp's usual chain order. Deterministic for a given seed. Tests: tests/infer/test_model.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/model.h"
#include "infer/tok.h"

int model_vocab_open(struct infer_model *m, struct kb_error *err)
{
    int rc = tok_vocab_new(&m->vocab, m->gf, err);
    if (rc == KB_ENOENT) {
        m->vocab = NULL;
        return 0;
    }
    if (rc)
        return rc;
    if (tok_n_tokens(m->vocab) > m->hp.n_vocab)
        return kb_error_set(err, KB_ECORRUPT, "model: %d tokens but only %d logits",
                            (int)tok_n_tokens(m->vocab), m->hp.n_vocab);
    m->bos = tok_bos(m->vocab);
    m->eos = tok_eos(m->vocab);
    m->eot = tok_eot(m->vocab);
    return 0;
}

void model_vocab_close(struct infer_model *m)
{
    tok_vocab_free(m->vocab);
    m->vocab = NULL;
}

static int need_vocab(const struct infer_model *m, struct kb_error *err)
{
    if (m->vocab)
        return 0;
    return kb_error_set(err, KB_EFORMAT, "model '%s' has no tokenizer", m->name);
}

int infer_tokenize(const struct infer_model *m, const char *text, size_t n, bool add_special,
                   bool parse_special, int32_t *out, int max_out, int *n_out, struct kb_error *err)
{
    size_t got = 0;
    unsigned fl = (add_special ? TOK_ADD_SPECIAL : 0) | (parse_special ? TOK_PARSE_SPECIAL : 0);
    int rc = need_vocab(m, err);
    *n_out = 0;
    if (rc)
        return rc;
    rc = tok_encode(m->vocab, text, n, fl, out, max_out < 0 ? 0 : (size_t)max_out, &got, err);
    *n_out = got > INT32_MAX ? INT32_MAX : (int)got;
    return rc;
}

int infer_detokenize(const struct infer_model *m, const int32_t *tokens, int n, bool render_special,
                     struct kb_buf *out, struct kb_error *err)
{
    int rc = need_vocab(m, err);
    if (rc)
        return rc;
    rc = tok_decode(m->vocab, tokens, n < 0 ? 0 : (size_t)n,
                    render_special ? TOK_RENDER_SPECIAL : 0, out);
    if (rc)
        kb_error_set(err, rc, "detokenize: output too large");
    return rc;
}

bool infer_token_is_eog(const struct infer_model *m, int32_t token)
{
    if (m->vocab)
        return tok_is_eog(m->vocab, token);
    return token >= 0 && (token == m->eos || token == m->eot);
}

void infer_gen_params_default(struct infer_gen_params *p)
{
    memset(p, 0, sizeof *p);
    p->sample.temp = 0.8f;
    p->sample.top_k = 40;
    p->sample.top_p = 0.95f;
    p->sample.min_p = 0.05f;
    p->sample.repeat_penalty = 1.0f;
    p->sample.repeat_last_n = 64;
    p->sample.seed = 42;
    p->max_tokens = 256;
}

/* ---- sampling ---------------------------------------------------------------------------------- */

struct cand {
    float logit;
    int32_t id;
};

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Picks the next token from logits (modified in place by the penalties). cands: n_vocab scratch. */
static int32_t sample_token(const struct infer_sample_params *sp, float *logits, int n_vocab,
                            const int32_t *recent, int n_recent, struct cand *cands, uint64_t *rng)
{
    if (sp->repeat_penalty != 1.0f || sp->presence_penalty != 0.0f) {
        for (int i = 0; i < n_recent; i++) {
            int32_t id = recent[i];
            bool seen = false;
            for (int j = 0; j < i && !seen; j++)
                seen = recent[j] == id;
            if (seen || id < 0 || id >= n_vocab)
                continue;
            float *l = &logits[id];
            if (sp->repeat_penalty > 0.0f && sp->repeat_penalty != 1.0f)
                *l = *l > 0 ? *l / sp->repeat_penalty : *l * sp->repeat_penalty;
            *l -= sp->presence_penalty;
        }
    }
    if (sp->temp <= 0.0f) {
        int32_t best = 0;
        for (int i = 1; i < n_vocab; i++)
            if (logits[i] > logits[best])
                best = i;
        return best;
    }
    for (int i = 0; i < n_vocab; i++) {
        cands[i].logit = logits[i];
        cands[i].id = i;
    }
    qsort(cands, (size_t)n_vocab, sizeof *cands, cand_cmp);
    int n = n_vocab;
    if (sp->top_k > 0 && sp->top_k < n)
        n = sp->top_k;
    /* softmax with temperature over the kept candidates */
    double sum = 0.0;
    float mx = cands[0].logit;
    for (int i = 0; i < n; i++) {
        cands[i].logit = expf((cands[i].logit - mx) / sp->temp);
        sum += cands[i].logit;
    }
    if (sp->top_p > 0.0f && sp->top_p < 1.0f) {
        double acc = 0.0;
        for (int i = 0; i < n; i++) {
            acc += cands[i].logit / sum;
            if (acc >= sp->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (sp->min_p > 0.0f) {
        float lim = sp->min_p * cands[0].logit;
        int keep = 1;
        while (keep < n && cands[keep].logit >= lim)
            keep++;
        n = keep;
    }
    sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += cands[i].logit;
    double r = (double)(rng_next(rng) >> 11) / (double)(1ull << 53) * sum, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += cands[i].logit;
        if (r < acc)
            return cands[i].id;
    }
    return cands[n - 1].id;
}

/* ---- generation -------------------------------------------------------------------------------- */

struct gen_out {
    struct kb_buf text;  /* generated text not yet known to be free of stop strings, and before */
    size_t emitted;      /* bytes of text already passed to the callback */
    size_t max_stop;     /* longest stop string */
    const struct infer_gen_params *p;
    infer_piece_fn fn;
    void *ud;
};

/* Emits text[emitted..upto). Returns nonzero when the callback asks to stop. */
static int emit(struct gen_out *g, size_t upto)
{
    int stop = 0;
    if (upto > g->emitted && g->fn)
        stop = g->fn(g->ud, g->text.data + g->emitted, upto - g->emitted);
    if (upto > g->emitted)
        g->emitted = upto;
    return stop;
}

/* After new text arrived: 1 stop string hit, 2 callback stop, 0 go on. */
static int after_text(struct gen_out *g)
{
    const struct infer_gen_params *p = g->p;
    size_t len = g->text.len;
    for (int i = 0; i < p->n_stop; i++) {
        size_t sl = strlen(p->stop[i]);
        if (sl == 0 || sl > len)
            continue;
        size_t from = g->emitted >= sl ? g->emitted - sl + 1 : 0;
        for (size_t at = from; at + sl <= len; at++)
            if (memcmp(g->text.data + at, p->stop[i], sl) == 0) {
                emit(g, at);
                return 1;
            }
    }
    size_t hold = g->max_stop > 0 ? g->max_stop - 1 : 0;
    if (len > hold && emit(g, len - hold))
        return 2;
    return 0;
}

int infer_generate(struct infer_session *s, const int32_t *prompt, int n_prompt,
                   const struct infer_gen_params *p, infer_piece_fn piece, void *ud,
                   struct infer_gen_result *res, struct kb_error *err)
{
    const struct infer_model *m = s->m;
    int n_vocab = m->hp.n_vocab, rc;
    struct infer_gen_result r;
    struct gen_out g;
    struct tok_stream st;
    struct cand *cands = NULL;
    char *pbuf = NULL;
    size_t pbuf_bytes = 0;
    uint64_t rng;
    double t0;
    memset(&r, 0, sizeof r);
    memset(&g, 0, sizeof g);
    kb_buf_init(&g.text, 64u << 20);
    g.p = p;
    g.fn = piece;
    g.ud = ud;
    for (int i = 0; i < p->n_stop; i++)
        g.max_stop = KB_MAX(g.max_stop, strlen(p->stop[i]));
    if ((rc = need_vocab(m, err)))
        goto out;
    if (p->max_tokens <= 0 || n_prompt <= 0) {
        rc = kb_error_set(err, KB_EINVAL, "generate: need a prompt and max_tokens > 0");
        goto out;
    }
    cands = kb_xmalloc((size_t)n_vocab * sizeof *cands);
    pbuf_bytes = tok_stream_max_bytes(m->vocab) + 8;
    pbuf = kb_xmalloc(pbuf_bytes);
    tok_stream_init(&st, m->vocab, 0);
    rng = p->sample.seed ^ 0x9e3779b97f4a7c15ull;
    if (rng == 0)
        rng = 1;
    t0 = kb_now_s();
    if ((rc = infer_eval(s, prompt, n_prompt, s->logits, false, err)))
        goto out;
    r.n_prompt = n_prompt;
    r.prompt_s = kb_now_s() - t0;
    t0 = kb_now_s();
    r.why = INFER_STOP_MAX_TOKENS;
    while (r.n_gen < p->max_tokens) {
        int n_recent = KB_MIN(s->n_past, KB_MAX(p->sample.repeat_last_n, 0));
        int32_t tok = sample_token(&p->sample, s->logits, n_vocab, s->hist + s->n_past - n_recent,
                                   n_recent, cands, &rng);
        if (!p->ignore_eos && infer_token_is_eog(m, tok)) {
            r.why = INFER_STOP_EOG;
            break;
        }
        r.n_gen++;
        size_t nb = tok_stream_feed(&st, tok, pbuf, pbuf_bytes);
        if (nb && (rc = kb_buf_append(&g.text, pbuf, nb))) {
            kb_error_set(err, rc, "generate: output too large");
            goto out;
        }
        int a = after_text(&g);
        if (a) {
            r.why = a == 1 ? INFER_STOP_STRING : INFER_STOP_CALLBACK;
            break;
        }
        if (r.n_gen == p->max_tokens)
            break;
        if (s->n_past >= s->n_ctx) {
            r.why = INFER_STOP_CONTEXT;
            break;
        }
        if ((rc = infer_eval(s, &tok, 1, s->logits, false, err)))
            goto out;
    }
    if (r.why == INFER_STOP_MAX_TOKENS || r.why == INFER_STOP_EOG || r.why == INFER_STOP_CONTEXT) {
        size_t nb = tok_stream_flush(&st, pbuf, pbuf_bytes);
        if (nb)
            (void)kb_buf_append(&g.text, pbuf, nb);
        g.max_stop = 0;
        if (after_text(&g) == 1)
            r.why = INFER_STOP_STRING;
    }
    r.gen_s = kb_now_s() - t0;
out:
    if (res)
        *res = r;
    free(cands);
    free(pbuf);
    kb_buf_release(&g.text);
    return rc;
}
