/* bench/bench_index_eval.c: retrieval quality of the index on an eval set in ../shared/eval format
 * (corpus.jsonl + questions.dev.jsonl), for tuning the tokenizer, the built-in embedder and fusion.
 * Not the product's `kbox eval` (rag/ owns that); chunking here is a plain ~1200-byte split.
 *
 * Each corpus row becomes one document (external_id = id, title = title, heading_path = title);
 * each question is searched with top_k 50 chunks, chunks map to documents (first occurrence), and
 * R@1/5/10 and MRR@10 against gold_ids are printed per method: bm25, vector, hybrid-rrf,
 * hybrid-weighted. Usage: bench_index_eval DIR [MAX_QUESTIONS]. The JSON reader below handles the
 * flat objects of that format only (strings, string arrays; other values are skipped). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/index.h"

#define CHUNK_BYTES 1200

/* ---- minimal JSON ------------------------------------------------------------------------------- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Parses a JSON string at p (at the quote) into b; returns the position after it or NULL. */
static const char *parse_str(const char *p, struct kb_buf *b)
{
    if (*p != '"')
        return NULL;
    p++;
    while (*p && *p != '"') {
        if (*p != '\\') {
            kb_buf_putc(b, *p++);
            continue;
        }
        p++;
        switch (*p) {
        case 'n': kb_buf_putc(b, '\n'); p++; break;
        case 't': kb_buf_putc(b, '\t'); p++; break;
        case 'r': kb_buf_putc(b, '\r'); p++; break;
        case 'b': case 'f': kb_buf_putc(b, ' '); p++; break;
        case 'u': {
            uint32_t cp = 0;
            char enc[4];
            for (int i = 1; i <= 4; i++) {
                int h = hexval(p[i]);
                if (h < 0)
                    return NULL;
                cp = cp * 16 + (uint32_t)h;
            }
            p += 5;
            if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo = 0;
                for (int i = 2; i <= 5; i++) {
                    int h = hexval(p[i]);
                    if (h < 0)
                        return NULL;
                    lo = lo * 16 + (uint32_t)h;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            kb_buf_append(b, enc, (size_t)kb_utf8_encode(cp, enc));
            break;
        }
        default:
            if (!*p)
                return NULL;
            kb_buf_putc(b, *p++);
        }
    }
    if (*p != '"')
        return NULL;
    kb_buf_puts(b, "");
    return p + 1;
}

static const char *skip_value(const char *p)
{
    struct kb_buf tmp;
    p = skip_ws(p);
    if (*p == '"') {
        kb_buf_init(&tmp, 0);
        p = parse_str(p, &tmp);
        kb_buf_release(&tmp);
        return p;
    }
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = skip_ws(p + 1);
        while (p && *p && *p != close) {
            if (close == '}') {
                p = skip_value(p);
                p = p ? skip_ws(p) : NULL;
                if (!p || *p != ':')
                    return NULL;
                p++;
            }
            p = skip_value(p);
            p = p ? skip_ws(p) : NULL;
            if (p && *p == ',')
                p = skip_ws(p + 1);
        }
        return p && *p == close ? p + 1 : NULL;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']')
        p++;
    return p;
}

/* Finds key in a flat object line; string value into b (or array of strings joined by '\n'). */
static bool json_get(const char *line, const char *key, struct kb_buf *b)
{
    const char *p = skip_ws(line);
    struct kb_buf k;
    bool found = false;
    if (*p != '{')
        return false;
    p = skip_ws(p + 1);
    kb_buf_init(&k, 0);
    while (p && *p == '"' && !found) {
        kb_buf_reset(&k);
        p = parse_str(p, &k);
        p = p ? skip_ws(p) : NULL;
        if (!p || *p != ':')
            break;
        p = skip_ws(p + 1);
        if (k.data && strcmp(k.data, key) == 0) {
            found = true;
            kb_buf_reset(b);
            if (*p == '"') {
                p = parse_str(p, b);
            } else if (*p == '[') {
                p = skip_ws(p + 1);
                while (p && *p == '"') {
                    p = parse_str(p, b);
                    kb_buf_putc(b, '\n');
                    p = p ? skip_ws(p) : NULL;
                    if (p && *p == ',')
                        p = skip_ws(p + 1);
                }
            } else {
                p = skip_value(p);
            }
            kb_buf_puts(b, "");
        } else {
            p = skip_value(p);
        }
        p = p ? skip_ws(p) : NULL;
        if (p && *p == ',')
            p = skip_ws(p + 1);
    }
    kb_buf_release(&k);
    return found;
}

/* ---- eval --------------------------------------------------------------------------------------- */

static int ingest(struct index_store *st, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    struct kb_buf id, title, text;
    struct kb_error err = {0};
    int n = 0;
    if (!f)
        return -1;
    kb_buf_init(&id, 0);
    kb_buf_init(&title, 0);
    kb_buf_init(&text, 0);
    while (getline(&line, &cap, f) > 0) {
        struct index_doc d = {0};
        struct index_chunk *ch;
        int n_ch = 0;
        size_t off = 0, len;
        if (!json_get(line, "id", &id) || !json_get(line, "text", &text))
            continue;
        if (!json_get(line, "title", &title))
            kb_buf_reset(&title), kb_buf_puts(&title, "");
        len = text.len;
        ch = kb_xcalloc(len / (CHUNK_BYTES / 2) + 2, sizeof(*ch));
        while (off < len) {
            size_t end = off + CHUNK_BYTES;
            if (end >= len) {
                end = len;
            } else {
                size_t e = end;
                while (e > off + CHUNK_BYTES / 2 && text.data[e] != ' ' && text.data[e] != '\n' &&
                       strncmp(text.data + e, "\xe3\x80\x82", 3) != 0)
                    e--;
                if (e > off + CHUNK_BYTES / 2)
                    end = e;
                while (end < len && ((unsigned char)text.data[end] & 0xC0) == 0x80)
                    end++;
            }
            ch[n_ch].text = kb_xstrndup(text.data + off, end - off);
            ch[n_ch].heading_path = title.data;
            ch[n_ch].off_start = (int64_t)off;
            ch[n_ch].off_end = (int64_t)end;
            n_ch++;
            off = end;
        }
        d.external_id = id.data;
        d.title = title.data;
        d.name = id.data;
        if (index_doc_replace(st, &d, ch, n_ch, NULL, NULL, 0, NULL, &err) != 0)
            fprintf(stderr, "replace %s: %s\n", id.data, err.msg);
        for (int i = 0; i < n_ch; i++)
            free((void *)ch[i].text);
        free(ch);
        n++;
    }
    free(line);
    fclose(f);
    kb_buf_release(&id);
    kb_buf_release(&title);
    kb_buf_release(&text);
    return n;
}

struct method {
    const char *name;
    enum index_mode mode;
    enum index_fusion fusion;
    double w;
    double r1, r5, r10, mrr;
};

int main(int argc, char **argv)
{
    char path[4200], dir[64] = "/tmp/kbox-eval-XXXXXX", cmd[200];
    struct index_embedder *emb = NULL;
    struct index_store *st = NULL;
    struct index_open_opts o;
    struct kb_error err = {0};
    struct method m[] = {
        {"bm25", INDEX_MODE_BM25, INDEX_FUSION_RRF, 0, 0, 0, 0, 0},
        {"vector", INDEX_MODE_VECTOR, INDEX_FUSION_RRF, 0, 0, 0, 0, 0},
        {"hybrid-rrf", INDEX_MODE_HYBRID, INDEX_FUSION_RRF, 0, 0, 0, 0, 0},
        {"hybrid-w0.3", INDEX_MODE_HYBRID, INDEX_FUSION_WEIGHTED, 0.3, 0, 0, 0, 0},
        {"hybrid-w0.5", INDEX_MODE_HYBRID, INDEX_FUSION_WEIGHTED, 0.5, 0, 0, 0, 0},
        {"hybrid-w0.2", INDEX_MODE_HYBRID, INDEX_FUSION_WEIGHTED, 0.2, 0, 0, 0, 0},
        {"hybrid-w0.1", INDEX_MODE_HYBRID, INDEX_FUSION_WEIGHTED, 0.1, 0, 0, 0, 0},
    };
    int64_t max_q = 1000000;
    int n_docs, n_q = 0;
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    double t0;
    struct kb_buf q, gold, qid;
    if (argc < 2 || (argc > 2 && kb_parse_i64(argv[2], &max_q) != 0)) {
        fprintf(stderr, "usage: bench_index_eval EVAL_DIR [MAX_QUESTIONS]\n");
        return 1;
    }
    if (!mkdtemp(dir))
        return 1;
    kb_log_set_level(KB_LOG_ERROR);
    memset(&o, 0, sizeof(o));
    o.data_dir = dir;
    o.ann_threshold = 200000;
    if (index_embedder_builtin_new(&emb, getenv("KBOX_EVAL_DIM") ? (int)strtol(getenv("KBOX_EVAL_DIM"), NULL, 10) : 512,
                                   &err) != 0)
        return 1;
    o.embedder = emb;
    if (index_store_open(&st, &o, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/corpus.jsonl", argv[1]);
    t0 = kb_now_s();
    n_docs = ingest(st, path);
    fprintf(stderr, "ingested %d documents in %.1f s\n", n_docs, kb_now_s() - t0);
    snprintf(path, sizeof(path), "%s/questions.dev.jsonl", argv[1]);
    f = fopen(path, "r");
    if (!f || n_docs <= 0)
        return 1;
    kb_buf_init(&q, 0);
    kb_buf_init(&gold, 0);
    kb_buf_init(&qid, 0);
    while (n_q < max_q && getline(&line, &cap, f) > 0) {
        if (!json_get(line, "question", &q) || !json_get(line, "gold_ids", &gold))
            continue;
        n_q++;
        for (size_t k = 0; k < KB_ARRAY_LEN(m); k++) {
            struct index_search_opts so;
            struct kb_arena a;
            struct index_hit *hits;
            int n_hits = 0, rank = 0, n_seen = 0;
            const char *seen[10];
            memset(&so, 0, sizeof(so));
            so.top_k = 50;
            so.mode = m[k].mode;
            so.fusion = m[k].fusion;
            so.vector_weight = m[k].w;
            so.rrf_k = 60;
            kb_arena_init(&a, 1 << 16, 0);
            if (index_search(st, q.data, &so, &a, &hits, &n_hits, &err) != 0)
                fprintf(stderr, "search: %s\n", err.msg);
            for (int i = 0; i < n_hits && n_seen < 10 && rank == 0; i++) {
                bool dup = false;
                char needle[512];
                for (int j = 0; j < n_seen; j++)
                    dup |= strcmp(seen[j], hits[i].external_id) == 0;
                if (dup)
                    continue;
                seen[n_seen++] = hits[i].external_id;
                snprintf(needle, sizeof(needle), "\n%s\n", hits[i].external_id);
                {
                    /* gold is "id1\nid2\n"; prefix a newline for whole-line matching */
                    struct kb_buf g;
                    kb_buf_init(&g, 0);
                    kb_buf_putc(&g, '\n');
                    kb_buf_puts(&g, gold.data);
                    if (strstr(g.data, needle))
                        rank = n_seen;
                    kb_buf_release(&g);
                }
            }
            if (rank == 1)
                m[k].r1++;
            if (rank >= 1 && rank <= 5)
                m[k].r5++;
            if (rank >= 1 && rank <= 10) {
                m[k].r10++;
                m[k].mrr += 1.0 / rank;
            }
            kb_arena_release(&a);
        }
    }
    fclose(f);
    free(line);
    printf("%s: %d docs, %d questions\n", argv[1], n_docs, n_q);
    printf("%-12s %6s %6s %6s %7s\n", "method", "R@1", "R@5", "R@10", "MRR@10");
    for (size_t k = 0; k < KB_ARRAY_LEN(m); k++)
        printf("%-12s %6.3f %6.3f %6.3f %7.3f\n", m[k].name, m[k].r1 / n_q, m[k].r5 / n_q, m[k].r10 / n_q,
               m[k].mrr / n_q);
    index_store_close(st);
    index_embedder_builtin_free(emb);
    kb_buf_release(&q);
    kb_buf_release(&gold);
    kb_buf_release(&qid);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
