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
 * split_reasoning, a chat_think splitter sends "<think>...</think>" text (harmony templates: the
 * analysis channel, read from the rendered control tokens) to the reasoning
 * callback and the rest to the piece callback. Chat prompts are chat.h's renderings, chosen from
 * the model's template.
 *
 * Speculative decoding by prompt lookup (draft_max): grounded answers copy phrases from their
 * passages, so the tokens that followed an earlier occurrence of the last 1..3 tokens (in
 * the session's cache: prompt, earlier turns, generated text) are a cheap draft. The pending token
 * and k drafted ones go through one batched infer_eval with logits for every row; row i is sampled
 * exactly as plain decoding would sample it after draft i-1, drafts are kept while they equal the
 * sample, and the cache is cut back (infer_session_truncate) past the first one that does not.
 * Every token, drafted or not, then goes through the same gen_take() steps, so text, stops and
 * the final cache equal plain decoding's as long as a batch's logits equal the single steps' bit
 * for bit: matmul.c keeps batches under 16 tokens on the matrix-vector kernel or on tiles that
 * sum like it, and attention and the MoE/MLA paths compute each row as a single step would
 * (tests/infer/test_spec.c checks both). The default adapts the draft length (spec_choose) to
 * the acceptance so far and the measured cost of a batch, so a model that copies little, or a
 * compute-bound one, decodes at its plain speed.
 * MTP drafts: a model with a NextN block (glm4moe) can draft the next token with it (the block's
 * prediction from the hidden state at the last cached position and the pending token), prompt
 * lookup continuing after that prediction; gen_draft picks between that and the plain lookup by
 * their acceptance so far. The same verification keeps the text equal to plain decoding's. The
 * policy counts MTP drafts under match length 0.
 * Tests: tests/infer/test_model.c, test_spec.c; benchmark: bench/bench_spec.c. */
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

/* Everything one infer_generate() call carries between tokens. */
struct gen_state {
    const struct infer_model *m;
    const struct infer_gen_params *p;
    struct infer_session *s;
    struct sampler *smp;
    struct stop_matcher *sm;
    struct tok_stream st;
    struct gen_out g;
    struct infer_gen_result r;
    char *pbuf;        /* one decoded piece, pbuf_bytes */
    size_t pbuf_bytes;
};

/* Takes one sampled token that would sit at cache position pos: penalties history, end of
 * generation, text out, stop strings, callback, limits. Returns true when generation ends here
 * (r.why says why); the token is then not part of the cache. The same steps run for every
 * token, speculative or not, which is what keeps both paths' output identical. */
static bool gen_take(struct gen_state *gs, int32_t tok, int pos)
{
    const char *emit;
    size_t n_emit;
    sampler_accept(gs->smp, tok);
    if (!gs->p->ignore_eos && infer_token_is_eog(gs->m, tok)) {
        gs->r.why = INFER_STOP_EOG;
        return true;
    }
    gs->r.n_gen++;
    size_t nb = tok_stream_feed(&gs->st, tok, gs->pbuf, gs->pbuf_bytes);
    if (nb && stop_matcher_feed(gs->sm, gs->pbuf, nb, &emit, &n_emit)) {
        deliver(&gs->g, emit, n_emit);
        gs->r.why = INFER_STOP_STRING;
        return true;
    }
    if (nb)
        deliver(&gs->g, emit, n_emit);
    if (gs->g.stop) {
        gs->r.why = INFER_STOP_CALLBACK;
        return true;
    }
    if (gs->r.n_gen == gs->p->max_tokens) {
        gs->r.why = INFER_STOP_MAX_TOKENS;
        return true;
    }
    if (pos >= gs->s->n_ctx) {
        gs->r.why = INFER_STOP_CONTEXT;
        return true;
    }
    return false;
}

/* Prompt lookup: seq = hist[0..n_hist) + last. For n = 3, 2, 1, finds the latest earlier
 * occurrence of seq's last n tokens that is followed by at least max tokens (else the earliest
 * one, which is followed by the most: in a repetition loop the latest match overlaps the suffix
 * and offers one token) and copies up to max of those tokens into draft; *n_match gets n. Returns
 * the count (0: no match). A linear scan of the context per step: microseconds next to a forward
 * pass. */
static int gen_lookup(const int32_t *hist, int n_hist, int32_t last, int32_t *draft, int max, int *n_match)
{
    int len = n_hist + 1;
#define SEQ(i) ((i) == n_hist ? last : hist[i])
    for (int n = KB_MIN(3, n_hist); n >= 1; n--) {
        int found = -1;
        /* candidate starts j: the match [j, j+n) ends before the suffix's last token */
        for (int j = len - n - 1; j >= 0; j--) {
            int k = 0;
            while (k < n && SEQ(j + k) == SEQ(len - n + k))
                k++;
            if (k < n)
                continue;
            found = j;
            if (len - (j + n) >= max)
                break;
        }
        if (found >= 0) {
            int c = 0;
            for (int i = found + n; i < len && c < max; i++)
                draft[c++] = SEQ(i);
            *n_match = n;
            return c;
        }
    }
#undef SEQ
    return 0;
}

/* How many of the looked-up tokens to verify. Fixed (draft_max > 0): all of them. Adaptive (the
 * default): a batch of b tokens costs c(b) single steps, measured as generation goes (a small
 * batch is nearly free when decoding is memory-bound, but not on a compute-bound model or a busy
 * machine); a drafted token is accepted with probability a[n] for a match of n tokens, counted
 * from the verifications so far plus, on plain steps, whether the lookup's first token would
 * have been right (free to check). k maximises the expected tokens per step's cost,
 * (1 + a + ... + a^k) / c(k + 1); k = 0 is a plain step. */
#define SPEC_MAX 64
struct spec_policy {
    bool adaptive;
    double t_eval[SPEC_MAX + 2]; /* moving average of the seconds an eval of b tokens takes; 0: none yet */
    int trials[4], hits[4];      /* per match length 1..3 (0: MTP drafts): drafted positions checked, and accepted */
    int n_steps;                 /* draft lookups so far */
};

static void spec_time(struct spec_policy *sp, int b, double dt)
{
    if (b < 1 || b > SPEC_MAX + 1)
        return;
    sp->t_eval[b] = sp->t_eval[b] > 0 ? 0.7 * sp->t_eval[b] + 0.3 * dt : dt;
}

/* Estimated cost of a batch of b tokens in single steps: measured, else interpolated between the
 * measured sizes around it, else extrapolated along the chord from one step to the largest
 * measured batch (1/10 of a step per token before any), 20 % optimistic so that a longer draft
 * gets tried and timed once (batch costs grow less than linearly). */
static double spec_cost(const struct spec_policy *sp, int b)
{
    int lo = 1, hi = 0;
    if (sp->t_eval[b] > 0)
        return sp->t_eval[b] / sp->t_eval[1];
    for (int i = 2; i < b; i++)
        if (sp->t_eval[i] > 0)
            lo = i;
    for (int i = b + 1; i <= SPEC_MAX + 1 && !hi; i++)
        if (sp->t_eval[i] > 0)
            hi = i;
    double c_lo = sp->t_eval[lo] / sp->t_eval[1];
    if (hi) {
        double c_hi = sp->t_eval[hi] / sp->t_eval[1];
        return c_lo + (c_hi - c_lo) * (b - lo) / (hi - lo);
    }
    double slope = lo > 1 ? KB_MAX(0.0, (c_lo - 1) / (lo - 1)) : 0.1;
    return KB_MAX(c_lo, 0.8 * (c_lo + slope * (b - lo)));
}

/* Estimated acceptance of a drafted token for match length n (0: MTP drafts). */
static double spec_rate(const struct spec_policy *sp, int n)
{
    return (sp->hits[n] + 1.0) / (sp->trials[n] + 2.0);
}

static int spec_choose(const struct spec_policy *sp, int k_avail, int n_match)
{
    if (!sp->adaptive || k_avail == 0)
        return k_avail;
    if (sp->t_eval[1] <= 0)
        return 0; /* learn what a plain step costs first */
    double a = spec_rate(sp, n_match);
    double best = 1.0, e = 1.0, ak = 1.0;
    int best_k = 0;
    for (int k = 1; k <= k_avail; k++) {
        ak *= a;
        e += ak;
        double c = spec_cost(sp, k + 1);
        if (e / c > best * 1.02) {
            best = e / c;
            best_k = k;
        }
    }
    return best_k;
}

static void spec_count(struct spec_policy *sp, int n_match, int trials, int hits)
{
    sp->trials[n_match] += trials;
    sp->hits[n_match] += hits;
}

/* The draft after the pending token `next` (at position n_past), from prompt lookup and, with an
 * MTP head (NextN block, arch_glm4moe.c), its prediction d. Both apply: when the lookup's first
 * token is d, or the lookup's acceptance so far (for its match length) beats the MTP head's, the
 * lookup's draft; else d followed by what prompt lookup finds after it (hist + next + d), counted
 * under match length 0 (the policy's slot for MTP drafts). The NextN row skipped here is computed
 * by the next forward step (arch_glm4moe.c), so the head's cache stays whole. Returns the count; *n_match as
 * gen_lookup's, 0 for an MTP draft, -1 for none. */
static int gen_draft(struct infer_session *s, struct spec_policy *pol, int32_t next, int32_t *draft,
                     int max, int *n_match)
{
    /* an MTP draft costs a NextN row and an output head: the adaptive policy asks the head only
     * when it would verify a draft of its acceptance so far at the measured batch cost, and, once
     * it has failed 8 times, when it has been accepted 15 % of the time; every 8th step anyway,
     * to notice if that changes */
    bool ask = !pol->adaptive || pol->n_steps % 8 == 0 ||
               (spec_choose(pol, 1, 0) > 0 && (pol->trials[0] < 8 || spec_rate(pol, 0) >= 0.15));
    int32_t d = ask ? model_mtp_draft(s, next) : -1;
    pol->n_steps++;
    int nm = -1, k = gen_lookup(s->hist, s->n_past, next, draft, max, &nm);
    *n_match = k > 0 ? nm : -1;
    if (d < 0 || (k > 0 && (draft[0] == d || spec_rate(pol, nm) > spec_rate(pol, 0))))
        return k;
    draft[0] = d;
    *n_match = 0;
    if (max < 2)
        return 1;
    s->hist[s->n_past] = next; /* room > 0: n_past < n_ctx; the eval writes it there anyway */
    return 1 + gen_lookup(s->hist, s->n_past + 1, d, draft + 1, max - 1, &nm);
}

static int gen_draft_max(const struct infer_gen_params *p)
{
    if (p->draft_max < 0)
        return 0;
    if (p->draft_max == 0)
        return p->sample.temp <= 0 ? INFER_DRAFT_MAX : 0;
    return KB_MIN(p->draft_max, SPEC_MAX);
}

int infer_generate(struct infer_session *s, const int32_t *prompt, int n_prompt,
                   const struct infer_gen_params *p, infer_piece_fn piece, void *ud,
                   struct infer_gen_result *res, struct kb_error *err)
{
    const struct infer_model *m = s->m;
    struct gen_state gs;
    struct sampler_params sp;
    float *vlog = NULL;     /* (1 + draft_max, n_vocab) verification logits */
    int32_t *batch = NULL;  /* (1 + draft_max) the pending token and its draft */
    const char *emit;
    size_t n_emit;
    double t0;
    struct spec_policy pol;
    int rc, draft_max = gen_draft_max(p), pos;
    int32_t tok;
    memset(&gs, 0, sizeof gs);
    memset(&pol, 0, sizeof pol);
    pol.adaptive = p->draft_max == 0;
    gs.m = m;
    gs.p = p;
    gs.s = s;
    gs.g.fn = piece;
    gs.g.reason = p->reasoning;
    gs.g.ud = ud;
    gs.g.split = p->split_reasoning;
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
    gs.pbuf_bytes = tok_stream_max_bytes(m->vocab) + 8;
    if ((rc = sampler_new(&gs.smp, m->hp.n_vocab, &sp, err)) ||
        (rc = stop_matcher_new(&gs.sm, p->stop, p->n_stop, gs.pbuf_bytes, err)))
        goto out;
    gs.pbuf = kb_xmalloc(gs.pbuf_bytes);
    if (draft_max > 0) {
        /* sized by the vocabulary (from the file): without the memory, decode plainly */
        vlog = kb_try_malloc((size_t)(draft_max + 1) * (size_t)m->hp.n_vocab, sizeof *vlog);
        batch = kb_xmalloc((size_t)(draft_max + 1) * sizeof *batch);
        if (!vlog)
            draft_max = 0;
    }
    {
        /* harmony (gpt-oss) marks its channels with control tokens: the splitter reads them, so
         * they are rendered; it drops them from both sides */
        bool harmony = gs.g.split && chat_template_is_harmony(m->chat_template);
        tok_stream_init(&gs.st, m->vocab, harmony ? TOK_RENDER_SPECIAL : 0);
        if (harmony)
            chat_think_init_harmony(&gs.g.think, on_span, &gs.g);
        else if (gs.g.split)
            chat_think_init(&gs.g.think, p->starts_in_reasoning, on_span, &gs.g);
    }
    for (int i = 0; i < n_prompt; i++)
        sampler_accept(gs.smp, prompt[i]);
    t0 = kb_now_s();
    if ((rc = infer_eval(s, prompt, n_prompt, s->logits, false, err)))
        goto out;
    gs.r.n_prompt = n_prompt;
    gs.r.prompt_s = kb_now_s() - t0;
    t0 = kb_now_s();
    tok = sampler_sample(gs.smp, s->logits);
    pos = s->n_past;
    /* Invariant at the top: tok was sampled for position pos == n_past and not yet taken. */
    for (;;) {
        if (gen_take(&gs, tok, pos))
            break;
        int k_avail = 0, k = 0, n_match = -1;
        if (draft_max > 0) {
            int room = KB_MIN(draft_max, KB_MIN(s->n_ctx - pos - 1, p->max_tokens - gs.r.n_gen - 1));
            if (room > 0)
                k_avail = gen_draft(s, &pol, tok, batch + 1, room, &n_match);
            k = spec_choose(&pol, k_avail, n_match);
        }
        double te = kb_now_s();
        if (k == 0) {
            if ((rc = infer_eval(s, &tok, 1, s->logits, false, err)))
                goto out;
            spec_time(&pol, 1, kb_now_s() - te);
            tok = sampler_sample(gs.smp, s->logits);
            pos = s->n_past;
            if (k_avail > 0) /* the draft not taken: would its first token have been right? */
                spec_count(&pol, n_match, 1, tok == batch[1]);
            continue;
        }
        /* Verify: row i of [tok, d0..d(k-1)] is what decoding sees after d(i-1). Sample each row
         * in turn; while the sample equals the draft, the draft is kept (it is already in the
         * cache); the first difference, or row k, gives the next pending token. */
        batch[0] = tok;
        if ((rc = infer_eval(s, batch, k + 1, vlog, true, err)))
            goto out;
        spec_time(&pol, k + 1, kb_now_s() - te);
        gs.r.n_verify++;
        gs.r.n_drafted += k;
        gs.r.n_mtp_drafted += n_match == 0;
        bool done = false;
        int i = 0;
        for (;; i++) {
            tok = sampler_sample(gs.smp, vlog + (size_t)i * m->hp.n_vocab);
            pos = s->n_past - k + i;
            if (i == k || tok != batch[1 + i])
                break;
            gs.r.n_accepted++;
            gs.r.n_mtp_accepted += i == 0 && n_match == 0;
            if ((done = gen_take(&gs, tok, pos)))
                break;
        }
        spec_count(&pol, n_match, done || i < k ? i + 1 : k, done ? i + 1 : i);
        infer_session_truncate(s, pos); /* drop the rejected drafts' rows */
        if (done)
            break;
    }
    infer_session_truncate(s, pos); /* the last sampled token is never in the cache */
    if (gs.r.why != INFER_STOP_STRING && gs.r.why != INFER_STOP_CALLBACK) {
        size_t nb = tok_stream_flush(&gs.st, gs.pbuf, gs.pbuf_bytes);
        if (nb && stop_matcher_feed(gs.sm, gs.pbuf, nb, &emit, &n_emit)) {
            gs.r.why = INFER_STOP_STRING;
            deliver(&gs.g, emit, n_emit);
        } else {
            if (nb)
                deliver(&gs.g, emit, n_emit);
            stop_matcher_flush(gs.sm, &emit, &n_emit);
            deliver(&gs.g, emit, n_emit);
        }
    }
    if (gs.g.split)
        chat_think_flush(&gs.g.think);
    gs.r.gen_s = kb_now_s() - t0;
out:
    if (res)
        *res = gs.r;
    sampler_free(gs.smp);
    stop_matcher_free(gs.sm);
    free(gs.pbuf);
    free(vlog);
    free(batch);
    return rc;
}
