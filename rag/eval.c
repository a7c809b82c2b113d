/* rag/eval.c: `kbox eval`. See rag/eval.h for what is measured. The corpus goes into a temporary
 * knowledge base through the same ingest -> chunk -> index path as any document (a row's text is
 * parsed as plain text); retrieval is scored on documents, keeping the first occurrence of each
 * document in the ranked chunks, as ../shared/eval/README.md specifies. Answers (em, f1) are the
 * extractive answerer's over the top passages, with the store's IDF as rag_ask gives it (no
 * embedder). Tests: tests/rag/. */
#define _GNU_SOURCE
#include "rag/eval.h"

#include <ctype.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rag/rag_int.h"

/* ---- answer normalisation ---------------------------------------------------------------------------- */

static bool eval_has_cjk(const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        uint32_t cp;
        int len = kb_utf8_decode(s + i, n - i, &cp);
        if (len > 0 && kb_utf8_is_cjk(cp))
            return true;
        i += (size_t)(len < 0 ? 1 : len);
    }
    return false;
}

static bool eval_is_punct(uint32_t cp)
{
    return (cp < 128 && ispunct((int)cp)) || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFF0F) ||
           (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) ||
           (cp >= 0x2010 && cp <= 0x2027) || cp == 0xB7;
}

/* Tokens: for CJK answers each non-punctuation, non-space character; else SQuAD words (lower case,
 * articles dropped: text_is_article). */
static int eval_tokens(const char *s, bool chars, char tok[][64], int cap)
{
    size_t n = strlen(s), i = 0;
    int count = 0;
    char word[64];
    size_t wl = 0;
    while (i <= n && count < cap) {
        uint32_t cp = 0;
        int len = i < n ? kb_utf8_decode(s + i, n - i, &cp) : 1;
        if (len < 0)
            len = 1;
        bool sep = i >= n || cp == ' ' || cp == '\t' || cp == '\n' || eval_is_punct(cp);
        if (chars && !sep) {
            if (i < n && len < 64) {
                memcpy(tok[count], s + i, (size_t)len);
                tok[count][len] = '\0';
                if (cp < 128)
                    tok[count][0] = (char)tolower((unsigned char)tok[count][0]);
                count++;
            }
        } else if (!chars) {
            if (sep) {
                word[wl] = '\0';
                if (wl && !text_is_article(word, wl))
                    kb_strlcpy(tok[count++], word, 64);
                wl = 0;
            } else if (wl + (size_t)len < sizeof word) {
                for (int k = 0; k < len; k++)
                    word[wl++] = (char)tolower((unsigned char)s[i + (size_t)k]);
            }
        }
        i += (size_t)len;
    }
    return count;
}

double eval_exact_match(const char *pred, const char *gold)
{
    static _Thread_local char a[512][64], b[512][64];
    bool chars = eval_has_cjk(gold);
    int na = eval_tokens(pred, chars, a, 512), nb = eval_tokens(gold, chars, b, 512);
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (strcmp(a[i], b[i]))
            return 0;
    return 1;
}

double eval_f1(const char *pred, const char *gold)
{
    static _Thread_local char a[2048][64], b[512][64];
    static _Thread_local bool used[512];
    bool chars = eval_has_cjk(gold);
    int na = eval_tokens(pred, chars, a, 2048), nb = eval_tokens(gold, chars, b, 512), common = 0;
    if (na == 0 || nb == 0)
        return na == nb;
    memset(used, 0, sizeof used);
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (!used[j] && !strcmp(a[i], b[j])) {
                used[j] = true;
                common++;
                break;
            }
    if (!common)
        return 0;
    double p = (double)common / na, r = (double)common / nb;
    return 2 * p * r / (p + r);
}

/* ---- the run ------------------------------------------------------------------------------------------- */

static int eval_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int eval_ingest_row(struct rag *r, const struct config *cfg, const struct eval_row *row, struct kb_error *err)
{
    struct ingest_doc *doc = NULL;
    struct index_chunk *chunks;
    struct index_doc meta = {0};
    int rc = ingest_parse_memory(cfg, row->text, strlen(row->text), "row.txt", INGEST_FMT_TEXT, &doc, err);
    if (rc == KB_EEMPTY)
        return 0;
    if (!rc)
        rc = ingest_chunk(cfg, doc, err);
    if (rc) {
        ingest_doc_free(doc);
        return rc;
    }
    chunks = kb_xcalloc(doc->n_chunks + 1, sizeof *chunks);
    for (size_t i = 0; i < doc->n_chunks; i++)
        chunks[i] = (struct index_chunk){doc->chunks[i].text, row->title, 0, 0, (int64_t)doc->chunks[i].off_start,
                                         (int64_t)doc->chunks[i].off_end, doc->chunks[i].n_tokens, NULL};
    meta.name = row->title[0] ? row->title : row->id;
    meta.external_id = row->id;
    meta.title = row->title;
    meta.mime = "text/plain";
    meta.status = INDEX_DOC_INDEXED;
    rc = index_doc_replace(r->st, &meta, chunks, (int)doc->n_chunks, NULL, NULL, 0, NULL, err);
    free(chunks);
    ingest_doc_free(doc);
    return rc;
}

static void eval_answer(const struct config *cfg, struct index_store *st, const struct eval_row *q,
                        const struct index_hit *h, int n, struct rag_eval_scores *s)
{
    struct index_term_stats stats; /* the knowledge base's IDF, as rag_ask weighs question terms */
    struct rag_passage p[8];
    struct rag_answer a;
    struct kb_error err = {0};
    int k = KB_MIN(n, (int)cfg->index_top_k);
    if (q->n_answers == 0)
        return;
    for (int i = 0; i < k && i < 8; i++)
        p[i] = (struct rag_passage){.chunk_id = h[i].chunk_id, .document_id = h[i].document_id,
                                    .document = h[i].doc_name, .heading_path = h[i].heading_path,
                                    .context = h[i].context, .text = h[i].text, .score = h[i].score};
    rag_store_term_stats(st, &stats);
    if (rag_answer_extractive(cfg, q->question, p, KB_MIN(k, 8), NULL, &stats, &a, &err))
        return;
    /* drop the [n] markers before scoring */
    char *t = a.answer, *w = a.answer;
    while (*t) {
        if (*t == '[' && isdigit((unsigned char)t[1])) {
            char *e = t + 1;
            while (isdigit((unsigned char)*e))
                e++;
            if (*e == ']') {
                t = e + 1;
                continue;
            }
        }
        *w++ = *t++;
    }
    *w = '\0';
    double em = 0, f1 = 0;
    for (int i = 0; i < q->n_answers; i++) {
        em = KB_MAX(em, eval_exact_match(a.answer, q->answers[i]));
        f1 = KB_MAX(f1, eval_f1(a.answer, q->answers[i]));
    }
    s->em += em;
    s->f1 += f1;
    rag_answer_release(&a);
}

int rag_eval(const struct config *cfg, const char *corpus, const char *questions, int max_questions,
             struct rag_eval_scores out[3], double *ingest_s, struct kb_error *err)
{
    struct eval_row *docs = NULL, *qs = NULL;
    int n_docs = 0, n_qs = 0, rc;
    char dir[] = "/tmp/kbox-eval-XXXXXX";
    struct config tmp;
    const struct config *rcfg; /* r's snapshot for the whole run: nothing changes its settings */
    struct rag *r = NULL;
    static const char *const names[3] = {"bm25", "vector", "hybrid"};
    static const enum index_mode modes[3] = {INDEX_MODE_BM25, INDEX_MODE_VECTOR, INDEX_MODE_HYBRID};
    double t0;

    memset(out, 0, 3 * sizeof *out);
    if ((rc = eval_read_jsonl(corpus, &docs, &n_docs, err)) || (rc = eval_read_jsonl(questions, &qs, &n_qs, err)))
        goto out;
    if (!mkdtemp(dir)) {
        rc = kb_error_set(err, KB_EIO, "cannot create a temporary directory");
        goto out;
    }
    config_copy(&tmp, cfg);
    config_set(&tmp, "data.dir", dir, CONFIG_SRC_FLAG, NULL);
    rc = rag_open(&r, &tmp, err);
    config_release(&tmp);
    if (rc)
        goto out_dir;
    rcfg = rag_config_get(r);
    t0 = kb_now_s();
    for (int i = 0; i < n_docs && !rc; i++)
        rc = eval_ingest_row(r, rcfg, &docs[i], err);
    *ingest_s = kb_now_s() - t0;
    if (max_questions > 0 && n_qs > max_questions)
        n_qs = max_questions;
    for (int m = 0; m < 3 && !rc; m++) {
        out[m].method = names[m];
        for (int qi = 0; qi < n_qs && !rc; qi++) {
            struct kb_arena a;
            struct index_hit *h;
            struct index_search_opts o;
            int n = 0, rank = 0, n_seen = 0;
            const char *seen[10];
            kb_arena_init(&a, 0, 0);
            index_search_opts_from_config(&o, rcfg);
            o.mode = modes[m];
            o.top_k = 40;
            rc = index_search(r->st, qs[qi].question, &o, &a, &h, &n, err);
            for (int i = 0; !rc && i < n && n_seen < 10; i++) {
                bool dup = false;
                for (int j = 0; j < n_seen; j++)
                    dup |= !strcmp(seen[j], h[i].external_id);
                if (dup)
                    continue;
                seen[n_seen++] = h[i].external_id;
                for (int g = 0; g < qs[qi].n_gold && !rank; g++)
                    if (!strcmp(qs[qi].gold_ids[g], h[i].external_id))
                        rank = n_seen;
            }
            if (!rc) {
                out[m].recall1 += rank == 1;
                out[m].recall5 += rank >= 1 && rank <= 5;
                out[m].recall10 += rank >= 1 && rank <= 10;
                out[m].mrr10 += rank ? 1.0 / rank : 0;
                eval_answer(rcfg, r->st, &qs[qi], h, n, &out[m]);
                out[m].n_questions++;
            }
            kb_arena_release(&a);
        }
        if (out[m].n_questions) {
            double q = out[m].n_questions;
            out[m].recall1 /= q, out[m].recall5 /= q, out[m].recall10 /= q, out[m].mrr10 /= q;
            out[m].em /= q, out[m].f1 /= q;
        }
    }
    rag_config_put(r, rcfg);
    rag_close(r);
out_dir:
    nftw(dir, eval_rm, 16, FTW_DEPTH | FTW_PHYS);
out:
    eval_rows_free(docs, n_docs);
    eval_rows_free(qs, n_qs);
    return rc;
}
