/* text/segment.c: a dictionary word segmenter for CJK runs: the maximum-probability segmentation
 * under a unigram language model over a word list, the way jieba cuts without its HMM.
 *
 * Dictionary (text_dict_open): a UTF-8 text file, one entry a line, "word frequency [tag]" separated
 * by spaces or tabs (Debian's python3-jieba ships /usr/lib/python3/dist-packages/jieba/dict.txt in
 * this form, 349k words); the tag is ignored; empty lines are skipped. A word is at most
 * TEXT_DICT_WORD_MAX_CHARS characters; a frequency is a whole number >= 0. The file is read whole
 * (at most TEXT_DICT_MAX_BYTES) and kept: entries point into it, filed in a kb_idtab by word.
 * A malformed line fails the open with its line number.
 * Segmentation (text_dict_cut): for a run of n characters, route[i] = the best log-probability of
 * cutting characters i..n, max over words w starting at i of log(freq(w) / total) + route[i + |w|];
 * a single character that is not in the dictionary (or has frequency 0) counts as frequency 1, so
 * every run has a segmentation. Ties go to the longer word. O(n x TEXT_DICT_WORD_MAX_CHARS) lookups.
 * Invariants: a dictionary is immutable after open and may be shared by threads; cutting allocates
 * nothing. Users: index/search.c (query pairs inside a word weigh more than pairs across words; the
 * query's words) and index/fts_tok.c (text_dict_has: the words in the full-text index).
 * Tests: tests/text/test_segment.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

struct dict_entry {
    uint32_t off;  /* byte offset of the word in text */
    uint16_t len;  /* bytes */
    double logp;   /* log(freq / total); computed once every frequency is known */
};

struct text_dict {
    char *text;                 /* the file, NUL-terminated; words are byte ranges of it */
    struct dict_entry *entries; /* n */
    int32_t n;
    double log_total;           /* log of the sum of frequencies (at least 1) */
    struct kb_idtab tab;        /* word -> entry */
};

static bool dict_eq(const void *ctx, int32_t id, const void *key, size_t key_len)
{
    const struct text_dict *d = ctx;
    return d->entries[id].len == key_len && memcmp(d->text + d->entries[id].off, key, key_len) == 0;
}

static int32_t dict_find(const struct text_dict *d, const char *w, size_t n)
{
    return kb_idtab_find(&d->tab, kb_fnv1a32(KB_FNV1A32_INIT, w, n), dict_eq, d, w, n);
}

/* Parses the line text[*pos..) into *e (word range, frequency in e->logp); advances *pos past it.
 * Returns 1 for an entry, 0 for an empty line, -1 for a malformed one. */
static int dict_parse_line(const char *text, size_t size, size_t *pos, struct dict_entry *e)
{
    size_t i = *pos, w0, w1, f0;
    size_t end = i;
    int64_t freq = 0;
    int chars = 0, rc = 1;
    while (end < size && text[end] != '\n')
        end++;
    *pos = end < size ? end + 1 : end;
    while (i < end && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
        i++;
    if (i == end)
        return 0;
    w0 = i;
    while (i < end && text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
        i++;
    w1 = i;
    while (i < end && (text[i] == ' ' || text[i] == '\t'))
        i++;
    f0 = i;
    while (i < end && text[i] >= '0' && text[i] <= '9' && freq < INT64_MAX / 10)
        freq = freq * 10 + (text[i++] - '0');
    if (i == f0 || (i < end && text[i] != ' ' && text[i] != '\t' && text[i] != '\r'))
        rc = -1; /* no frequency, or one that is not a whole number */
    for (size_t k = w0; rc == 1 && k < w1;) {
        uint32_t cp;
        int len = kb_utf8_decode(text + k, w1 - k, &cp);
        if (len <= 0 || ++chars > TEXT_DICT_WORD_MAX_CHARS)
            rc = -1;
        k += len > 0 ? (size_t)len : 1;
    }
    e->off = (uint32_t)w0;
    e->len = (uint16_t)(w1 - w0);
    e->logp = (double)freq;
    return rc;
}

int text_dict_open(struct text_dict **out, const char *path, struct kb_error *err)
{
    struct text_dict *d = kb_xcalloc(1, sizeof(*d));
    FILE *f = fopen(path, "rb");
    long size = -1;
    size_t pos = 0, line = 0, cap = 0;
    double total = 0;
    int rc = 0;
    *out = NULL;
    if (!f) {
        rc = kb_error_set(err, KB_ENOENT, "cannot open dictionary '%s'", path);
        goto out_free;
    }
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = kb_error_set(err, KB_EIO, "cannot read dictionary '%s'", path);
        goto out_free;
    }
    if (size > TEXT_DICT_MAX_BYTES) {
        rc = kb_error_set(err, KB_ETOOBIG, "dictionary '%s' is %ld bytes, more than %d", path, size,
                          TEXT_DICT_MAX_BYTES);
        goto out_free;
    }
    d->text = kb_xmalloc((size_t)size + 1);
    if (fread(d->text, 1, (size_t)size, f) != (size_t)size) {
        rc = kb_error_set(err, KB_EIO, "cannot read dictionary '%s'", path);
        goto out_free;
    }
    d->text[size] = '\0';
    for (size_t i = 0; i < (size_t)size; i++)
        cap += d->text[i] == '\n';
    d->entries = kb_xmalloc((cap + 1) * sizeof(*d->entries));
    if ((rc = kb_idtab_init(&d->tab, cap + 1)) != 0) {
        rc = kb_error_set(err, rc, "dictionary '%s' has too many lines", path);
        goto out_free;
    }
    while (pos < (size_t)size && rc == 0) {
        struct dict_entry e;
        int k = dict_parse_line(d->text, (size_t)size, &pos, &e);
        line++;
        if (k < 0) {
            rc = kb_error_set(err, KB_EINVAL, "dictionary '%s' line %zu: want 'word frequency [tag]' with a word "
                              "of at most %d characters", path, line, TEXT_DICT_WORD_MAX_CHARS);
        } else if (k > 0 && d->n <= (int32_t)cap) {
            uint32_t h = kb_fnv1a32(KB_FNV1A32_INIT, d->text + e.off, e.len);
            if (kb_idtab_add(&d->tab, h, d->n, dict_eq, d, d->text + e.off, e.len) == d->n) {
                d->entries[d->n++] = e;
                total += e.logp;
            }
        }
    }
    if (rc)
        goto out_free;
    d->log_total = log(total >= 1 ? total : 1);
    for (int32_t i = 0; i < d->n; i++)
        d->entries[i].logp = d->entries[i].logp > 0 ? log(d->entries[i].logp) - d->log_total : -INFINITY;
    *out = d;
    d = NULL;
out_free:
    if (f)
        fclose(f);
    text_dict_free(d);
    return rc;
}

void text_dict_free(struct text_dict *d)
{
    if (d) {
        kb_idtab_release(&d->tab);
        free(d->entries);
        free(d->text);
        free(d);
    }
}

int32_t text_dict_size(const struct text_dict *d)
{
    return d ? d->n : 0;
}

bool text_dict_has(const struct text_dict *d, const char *w, size_t n)
{
    int32_t id = d ? dict_find(d, w, n) : -1;
    return id >= 0 && d->entries[id].logp > -INFINITY;
}

int text_dict_cut(const struct text_dict *d, const char *run, size_t n, int *word_end, bool *known, int cap)
{
    int off[TEXT_DICT_RUN_MAX + 1], nc = 0, best_len[TEXT_DICT_RUN_MAX], n_words = 0;
    bool best_known[TEXT_DICT_RUN_MAX];
    double route[TEXT_DICT_RUN_MAX + 1];
    size_t i = 0;
    while (i < n && nc < TEXT_DICT_RUN_MAX) {
        uint32_t cp;
        int len = kb_utf8_decode(run + i, n - i, &cp);
        off[nc++] = (int)i;
        i += len > 0 ? (size_t)len : 1;
    }
    off[nc] = (int)i;
    route[nc] = 0;
    for (int s = nc - 1; s >= 0; s--) {
        route[s] = -INFINITY;
        best_len[s] = 1;
        best_known[s] = false;
        for (int l = 1; l <= TEXT_DICT_WORD_MAX_CHARS && s + l <= nc; l++) {
            int32_t id = dict_find(d, run + off[s], (size_t)(off[s + l] - off[s]));
            double lp = id >= 0 ? d->entries[id].logp : -INFINITY;
            bool is_known = lp > -INFINITY;
            if (l == 1 && !is_known)
                lp = -d->log_total; /* an unknown character: frequency 1 */
            if (lp > -INFINITY && lp + route[s + l] >= route[s]) {
                route[s] = lp + route[s + l];
                best_len[s] = l;
                best_known[s] = is_known;
            }
        }
    }
    for (int s = 0; s < nc && n_words < cap; s += best_len[s]) {
        if (known)
            known[n_words] = best_known[s];
        word_end[n_words++] = off[s + best_len[s]];
    }
    return n_words;
}

void text_cjk_runs(const char *s, size_t n, text_run_fn fn, void *ud)
{
    size_t i = 0, run = 0;
    bool in_run = false;
    while (i <= n) {
        uint32_t cp = 0;
        int len = i < n ? kb_utf8_decode(s + i, n - i, &cp) : 1;
        bool cjk = i < n && len > 0 && kb_utf8_is_cjk(cp);
        if (cjk && !in_run) {
            run = i;
            in_run = true;
        } else if (!cjk && in_run) {
            fn(ud, s + run, i - run);
            in_run = false;
        }
        i += (size_t)(len > 0 ? len : 1);
    }
}
