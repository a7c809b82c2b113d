/* infer/generate.c: tokens in and out of a model (the tokenizer glue) and the generation loop.
 *
 * Generation: the prompt is evaluated as one batched infer_eval() (last-row logits only), then one
 * token at a time: sample from the logits, stop on an end-of-generation token (unless ignored),
 * decode the token through a tok_stream (UTF-8 split across tokens is held back), pass the text
 * through the stop matcher and hand on what is safe. Sampler, matcher and buffers are allocated
 * once per call, before the loop; the loop itself never allocates.
 *
 * Sampling is sampler.h's chain (penalties over the prompt and generated tokens, greedy or
 * top-k/top-p/min-p/temperature with a seeded PRNG: same seed, same text) and stop strings go
 * through its stop matcher (text that may still begin a stop string is held back). With
 * split_reasoning, a chat_think splitter sends "<think>...</think>" text to the reasoning
 * callback and the rest to the piece callback. Chat prompts are chat.h's renderings, chosen from
 * the model's template. Tests: tests/infer/test_model.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/chat.h"
#include "infer/model.h"
#include "infer/sampler.h"
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

/* ---- chat ------------------------------------------------------------------------------------- */

static void chat_format_of(const struct infer_model *m, const char *family, struct chat_format *f,
                           struct kb_error *err, int *rc)
{
    chat_format_detect(f, m->chat_template);
    *rc = 0;
    if (family && family[0]) {
        enum chat_family fam;
        *rc = chat_family_parse(family, &fam);
        if (*rc)
            kb_error_set(err, *rc, "chat: unknown template family '%s'", family);
        else
            f->family = fam;
    }
}

int infer_chat_render(const struct infer_model *m, const struct infer_chat_msg *msgs, int n,
                      const struct infer_chat_opts *o, struct kb_buf *out, struct kb_error *err)
{
    struct chat_format f;
    struct chat_opts co = {0};
    int rc;
    chat_format_of(m, o ? o->family : NULL, &f, err, &rc);
    if (rc)
        return rc;
    co.add_generation_prompt = o ? o->add_generation_prompt : true;
    co.enable_thinking = o ? o->enable_thinking : false;
    /* struct infer_chat_msg and struct chat_msg are the same two borrowed strings */
    _Static_assert(sizeof(struct infer_chat_msg) == sizeof(struct chat_msg), "chat msg layout");
    return chat_render(&f, (const struct chat_msg *)msgs, n, &co, out, err);
}

const char *infer_chat_family(const struct infer_model *m)
{
    struct chat_format f;
    chat_format_detect(&f, m->chat_template);
    return chat_family_name(f.family);
}

bool infer_chat_opens_think(const struct infer_model *m, const struct infer_chat_opts *o)
{
    struct chat_format f;
    chat_format_detect(&f, m->chat_template);
    if (f.family == CHAT_QWEN3)
        return o && o->enable_thinking && o->add_generation_prompt;
    return f.think_prefix && (!o || o->add_generation_prompt);
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

/* ---- generation -------------------------------------------------------------------------------- */

struct gen_out {
    infer_piece_fn fn;      /* answer text */
    infer_piece_fn reason;  /* reasoning text (split_reasoning) */
    void *ud;
    bool stop;              /* a callback asked to stop */
    bool split;
    struct chat_think think;
};

static void on_span(void *ud, bool reasoning, const char *s, size_t n)
{
    struct gen_out *g = ud;
    infer_piece_fn fn = reasoning ? g->reason : g->fn;
    if (n && fn && !g->stop && fn(g->ud, s, n))
        g->stop = true;
}

static void deliver(struct gen_out *g, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (g->split)
        chat_think_feed(&g->think, s, n);
    else
        on_span(g, false, s, n);
}

int infer_generate(struct infer_session *s, const int32_t *prompt, int n_prompt,
                   const struct infer_gen_params *p, infer_piece_fn piece, void *ud,
                   struct infer_gen_result *res, struct kb_error *err)
{
    const struct infer_model *m = s->m;
    struct infer_gen_result r;
    struct gen_out g;
    struct tok_stream st;
    struct sampler *smp = NULL;
    struct stop_matcher *sm = NULL;
    struct sampler_params sp;
    char *pbuf = NULL;
    size_t pbuf_bytes = 0, n_emit;
    const char *emit;
    double t0;
    int rc;
    memset(&r, 0, sizeof r);
    memset(&g, 0, sizeof g);
    g.fn = piece;
    g.reason = p->reasoning;
    g.ud = ud;
    g.split = p->split_reasoning;
    if ((rc = need_vocab(m, err)))
        goto out;
    if (p->max_tokens <= 0 || n_prompt <= 0) {
        rc = kb_error_set(err, KB_EINVAL, "generate: need a prompt and max_tokens > 0");
        goto out;
    }
    sampler_params_default(&sp);
    sp.temp = p->sample.temp;
    sp.top_k = p->sample.top_k;
    sp.top_p = p->sample.top_p;
    sp.min_p = p->sample.min_p;
    sp.repeat_penalty = p->sample.repeat_penalty;
    sp.presence_penalty = p->sample.presence_penalty;
    sp.frequency_penalty = p->sample.frequency_penalty;
    sp.repeat_last_n = p->sample.repeat_last_n;
    sp.seed = p->sample.seed;
    pbuf_bytes = tok_stream_max_bytes(m->vocab) + 8;
    if ((rc = sampler_new(&smp, m->hp.n_vocab, &sp, err)) ||
        (rc = stop_matcher_new(&sm, p->stop, p->n_stop, pbuf_bytes, err)))
        goto out;
    pbuf = kb_xmalloc(pbuf_bytes);
    tok_stream_init(&st, m->vocab, 0);
    if (g.split)
        chat_think_init(&g.think, p->starts_in_reasoning, on_span, &g);
    for (int i = 0; i < n_prompt; i++)
        sampler_accept(smp, prompt[i]);
    t0 = kb_now_s();
    if ((rc = infer_eval(s, prompt, n_prompt, s->logits, false, err)))
        goto out;
    r.n_prompt = n_prompt;
    r.prompt_s = kb_now_s() - t0;
    t0 = kb_now_s();
    r.why = INFER_STOP_MAX_TOKENS;
    for (;;) {
        int32_t tok = sampler_sample(smp, s->logits);
        sampler_accept(smp, tok);
        if (!p->ignore_eos && infer_token_is_eog(m, tok)) {
            r.why = INFER_STOP_EOG;
            break;
        }
        r.n_gen++;
        size_t nb = tok_stream_feed(&st, tok, pbuf, pbuf_bytes);
        if (nb && stop_matcher_feed(sm, pbuf, nb, &emit, &n_emit)) {
            deliver(&g, emit, n_emit);
            r.why = INFER_STOP_STRING;
            break;
        }
        if (nb)
            deliver(&g, emit, n_emit);
        if (g.stop) {
            r.why = INFER_STOP_CALLBACK;
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
    if (r.why != INFER_STOP_STRING && r.why != INFER_STOP_CALLBACK) {
        size_t nb = tok_stream_flush(&st, pbuf, pbuf_bytes);
        if (nb && stop_matcher_feed(sm, pbuf, nb, &emit, &n_emit)) {
            r.why = INFER_STOP_STRING;
            deliver(&g, emit, n_emit);
        } else {
            if (nb)
                deliver(&g, emit, n_emit);
            stop_matcher_flush(sm, &emit, &n_emit);
            deliver(&g, emit, n_emit);
        }
    }
    if (g.split)
        chat_think_flush(&g.think);
    r.gen_s = kb_now_s() - t0;
out:
    if (res)
        *res = r;
    sampler_free(smp);
    stop_matcher_free(sm);
    free(pbuf);
    return rc;
}
