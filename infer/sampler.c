/* infer/sampler.c: token sampling and stop-string matching (see sampler.h for the chain).
 *
 * Data flow of sampler_sample(): logits -> candidates (logit, id) in scratch -> penalties on the
 * tokens in the history ring -> greedy argmax, or: drop candidates more than 40*max(1,temp) nats
 * below the best (they cannot carry measurable probability) -> top-k by a bounded min-heap, then
 * heap-sorted best first (total order: logit, then lower id, so results never depend on sort
 * stability) -> softmax, top-p cut, min-p cut -> temperature -> one draw.
 *
 * Memory: candidates, per-token counts and marks (n_vocab each) and the history ring
 * (repeat_last_n) are allocated in sampler_new(); sampling allocates nothing. The stop matcher
 * keeps held-back text in one buffer sized at creation (longest stop string + longest piece).
 * Tests: tests/infer/test_sampler.c. */
#include "infer/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cand {
    float logit;
    int32_t id;
};

struct sampler {
    int n_vocab;
    struct sampler_params p;
    struct cand *cand; /* n_vocab */
    int32_t *count;    /* n_vocab: occurrences in the history ring */
    uint32_t *mark;    /* n_vocab: stamp of the last penalty pass that touched the token */
    uint32_t stamp;
    int32_t *ring; /* repeat_last_n most recent accepted tokens */
    int ring_n, ring_head;
    uint64_t rng[4]; /* xoshiro256** state */
    float last_p;
};

void sampler_params_default(struct sampler_params *p)
{
    memset(p, 0, sizeof *p);
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
}

/* ---- PRNG: splitmix64 seeding, xoshiro256** ------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static double uniform01(uint64_t s[4])
{
    return (double)(xoshiro_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- lifecycle ----------------------------------------------------------------------------------- */

int sampler_new(struct sampler **out, int n_vocab, const struct sampler_params *p, struct kb_error *err)
{
    struct sampler *s;
    *out = NULL;
    if (n_vocab <= 0)
        return kb_error_set(err, KB_EINVAL, "sampler: vocabulary size %d", n_vocab);
    if (!(p->top_p >= 0) || !(p->min_p >= 0) || !(p->repeat_penalty > 0) || p->repeat_last_n < 0 ||
        isnan(p->temp) || isnan(p->presence_penalty) || isnan(p->frequency_penalty))
        return kb_error_set(err, KB_EINVAL,
                            "sampler: invalid parameters (top_p %g, min_p %g, repeat_penalty %g, "
                            "repeat_last_n %d)",
                            (double)p->top_p, (double)p->min_p, (double)p->repeat_penalty, p->repeat_last_n);
    s = kb_xcalloc(1, sizeof *s);
    s->n_vocab = n_vocab;
    s->p = *p;
    s->cand = kb_try_malloc((size_t)n_vocab, sizeof *s->cand);
    s->count = kb_try_calloc((size_t)n_vocab, sizeof *s->count);
    s->mark = kb_try_calloc((size_t)n_vocab, sizeof *s->mark);
    s->ring = kb_try_malloc((size_t)p->repeat_last_n + 1, sizeof *s->ring);
    if (!s->cand || !s->count || !s->mark || !s->ring) {
        sampler_free(s);
        return kb_error_set(err, KB_ENOMEM, "sampler: out of memory for %d tokens", n_vocab);
    }
    sampler_reset(s);
    *out = s;
    return 0;
}

void sampler_free(struct sampler *s)
{
    if (!s)
        return;
    free(s->cand);
    free(s->count);
    free(s->mark);
    free(s->ring);
    free(s);
}

void sampler_reset(struct sampler *s)
{
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    memset(s->count, 0, (size_t)s->n_vocab * sizeof *s->count);
    s->ring_n = s->ring_head = 0;
    s->last_p = 0;
}

void sampler_accept(struct sampler *s, int32_t token)
{
    int cap = s->p.repeat_last_n;
    if (cap <= 0 || token < 0 || token >= s->n_vocab)
        return;
    if (s->ring_n == cap) { /* evict the oldest */
        int32_t old = s->ring[s->ring_head];
        s->count[old]--;
        s->ring[s->ring_head] = token;
        s->ring_head = (s->ring_head + 1) % cap;
    } else {
        s->ring[(s->ring_head + s->ring_n) % cap] = token;
        s->ring_n++;
    }
    s->count[token]++;
}

/* ---- sampling ------------------------------------------------------------------------------------- */

/* a is a better candidate than b: higher logit, then lower id */
static bool better(const struct cand *a, const struct cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Min-heap on "better": the root is the worst kept candidate. */
static void sift_down(struct cand *h, size_t n, size_t i)
{
    struct cand x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && better(&h[c], &h[c + 1]))
            c++;
        if (!better(&x, &h[c]))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* Keeps the k best of c[0..n) in c[0..k), sorted best first. */
static size_t select_top(struct cand *c, size_t n, size_t k)
{
    if (k == 0 || k > n)
        k = n;
    for (size_t i = k / 2; i-- > 0;)
        sift_down(c, k, i);
    for (size_t i = k; i < n; i++) {
        if (better(&c[i], &c[0])) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    }
    for (size_t end = k; end > 1; end--) { /* heap sort: the worst goes to the back */
        struct cand t = c[0];
        c[0] = c[end - 1];
        c[end - 1] = t;
        sift_down(c, end - 1, 0);
    }
    return k;
}

static void apply_penalties(struct sampler *s)
{
    const struct sampler_params *p = &s->p;
    if (s->ring_n == 0 ||
        (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f))
        return;
    if (++s->stamp == 0) { /* wrapped: clear the marks once every 2^32 calls */
        memset(s->mark, 0, (size_t)s->n_vocab * sizeof *s->mark);
        s->stamp = 1;
    }
    for (int i = 0; i < s->ring_n; i++) {
        int32_t t = s->ring[(s->ring_head + i) % p->repeat_last_n];
        if (s->mark[t] == s->stamp)
            continue;
        s->mark[t] = s->stamp;
        float *l = &s->cand[t].logit;
        *l = *l <= 0 ? *l * p->repeat_penalty : *l / p->repeat_penalty;
        *l -= (float)s->count[t] * p->frequency_penalty + (s->count[t] > 0 ? p->presence_penalty : 0.0f);
    }
}

int32_t sampler_sample(struct sampler *s, const float *logits)
{
    const struct sampler_params *p = &s->p;
    size_t n = (size_t)s->n_vocab, best = 0;
    for (size_t i = 0; i < n; i++)
        s->cand[i] = (struct cand){isnan(logits[i]) ? -INFINITY : logits[i], (int32_t)i};
    apply_penalties(s);
    for (size_t i = 1; i < n; i++)
        if (better(&s->cand[i], &s->cand[best]))
            best = i;
    if (p->temp <= 0) {
        s->last_p = 1.0f;
        return s->cand[best].id;
    }

    /* drop what cannot matter, then top-k (or a full sort of the rest) */
    float floor_logit = s->cand[best].logit - 40.0f * (p->temp > 1 ? p->temp : 1.0f);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (s->cand[i].logit >= floor_logit)
            s->cand[m++] = s->cand[i];
    m = select_top(s->cand, m, p->top_k > 0 ? (size_t)p->top_k : 0);

    /* top-p and min-p on the untempered distribution */
    double sum = 0, l0 = s->cand[0].logit;
    for (size_t i = 0; i < m; i++)
        sum += exp((double)s->cand[i].logit - l0);
    if (p->top_p < 1.0f) {
        double cum = 0;
        for (size_t i = 0; i < m; i++) {
            cum += exp((double)s->cand[i].logit - l0) / sum;
            if (cum >= p->top_p) {
                m = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        double cut = l0 + log((double)p->min_p);
        size_t k = 1;
        while (k < m && s->cand[k].logit >= cut)
            k++;
        m = k;
    }

    /* temperature, then one draw */
    sum = 0;
    for (size_t i = 0; i < m; i++)
        sum += exp(((double)s->cand[i].logit - l0) / p->temp);
    double r = uniform01(s->rng) * sum, acc = 0;
    size_t pick = m - 1;
    for (size_t i = 0; i < m; i++) {
        acc += exp(((double)s->cand[i].logit - l0) / p->temp);
        if (r < acc) {
            pick = i;
            break;
        }
    }
    s->last_p = (float)(exp(((double)s->cand[pick].logit - l0) / p->temp) / sum);
    return s->cand[pick].id;
}

float sampler_last_prob(const struct sampler *s)
{
    return s->last_p;
}

/* ---- stop strings ---------------------------------------------------------------------------------- */

struct stop_matcher {
    char **stop; /* owned copies */
    size_t *stop_len;
    int n_stop;
    size_t max_piece;
    char *held; /* text not yet handed out */
    size_t n_held, cap_held;
    char *out; /* what the last call handed out */
};

int stop_matcher_new(struct stop_matcher **out, const char *const *stop, int n_stop, size_t max_piece_bytes,
                     struct kb_error *err)
{
    struct stop_matcher *m = kb_xcalloc(1, sizeof *m);
    size_t max_len = 0;
    (void)err;
    m->stop = kb_xcalloc((size_t)(n_stop > 0 ? n_stop : 1), sizeof *m->stop);
    m->stop_len = kb_xcalloc((size_t)(n_stop > 0 ? n_stop : 1), sizeof *m->stop_len);
    for (int i = 0; i < n_stop; i++) {
        if (!stop[i] || !stop[i][0])
            continue;
        m->stop[m->n_stop] = kb_xstrdup(stop[i]);
        m->stop_len[m->n_stop] = strlen(stop[i]);
        max_len = KB_MAX(max_len, m->stop_len[m->n_stop]);
        m->n_stop++;
    }
    m->max_piece = max_piece_bytes;
    m->cap_held = max_len + max_piece_bytes + 1;
    m->held = kb_xmalloc(m->cap_held);
    m->out = kb_xmalloc(m->cap_held);
    *out = m;
    return 0;
}

void stop_matcher_free(struct stop_matcher *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_stop; i++)
        free(m->stop[i]);
    free(m->stop);
    free(m->stop_len);
    free(m->held);
    free(m->out);
    free(m);
}

void stop_matcher_reset(struct stop_matcher *m)
{
    m->n_held = 0;
}

/* Longest suffix of s[0..n) that is a proper prefix of some stop string. */
static size_t partial_suffix(const struct stop_matcher *m, const char *s, size_t n)
{
    size_t best = 0;
    for (int i = 0; i < m->n_stop; i++) {
        size_t L = KB_MIN(m->stop_len[i] - 1, n);
        for (size_t k = L; k > best; k--) {
            if (memcmp(s + n - k, m->stop[i], k) == 0) {
                best = k;
                break;
            }
        }
    }
    return best;
}

bool stop_matcher_feed(struct stop_matcher *m, const char *piece, size_t n, const char **emit, size_t *n_emit)
{
    KB_ASSERT(n <= m->max_piece);
    memcpy(m->held + m->n_held, piece, n);
    m->n_held += n;
    /* the earliest complete stop string wins */
    size_t at = SIZE_MAX;
    for (int i = 0; i < m->n_stop; i++) {
        size_t L = m->stop_len[i];
        for (size_t j = 0; j + L <= m->n_held && j < at; j++) {
            if (memcmp(m->held + j, m->stop[i], L) == 0) {
                at = j;
                break;
            }
        }
    }
    if (at != SIZE_MAX) {
        memcpy(m->out, m->held, at);
        *emit = m->out;
        *n_emit = at;
        m->n_held = 0;
        return true;
    }
    size_t keep = partial_suffix(m, m->held, m->n_held), give = m->n_held - keep;
    memcpy(m->out, m->held, give);
    memmove(m->held, m->held + give, keep);
    m->n_held = keep;
    *emit = m->out;
    *n_emit = give;
    return false;
}

void stop_matcher_flush(struct stop_matcher *m, const char **emit, size_t *n_emit)
{
    memcpy(m->out, m->held, m->n_held);
    *emit = m->out;
    *n_emit = m->n_held;
    m->n_held = 0;
}
