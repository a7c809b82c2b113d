/* bench/bench_index_eval.c: dumps the retrieval candidates of an eval set in ../shared/eval format
 * (corpus.jsonl + questions.dev.jsonl), for tuning the tokenizer, the built-in embedder and fusion
 * offline (a few lines of Python replay a fusion rule over the dump).
 *
 * Ingestion matches `kbox eval` (rag/eval.c): the config comes from defaults plus KBOX_* environment
 * overrides (so KBOX_EMBED_DIM=1024 works), each corpus row is parsed as plain text and cut by
 * ingest_chunk(), heading path = title, external_id = id. Each question is then searched once in
 * hybrid mode at the deepest candidate depth (1000 per method); every candidate is written with its
 * BM25 score and rank and its vector score and rank, so any depth <= 1000 and any fusion rule can be
 * replayed without re-running the index.
 * Output lines: "Q<TAB>qi<TAB>gold1 gold2 ..." then "H<TAB>external_id<TAB>bm25<TAB>bm25_rank<TAB>
 * vector<TAB>vector_rank" per candidate. Usage: bench_index_eval DIR OUT [MAX_QUESTIONS].
 * The JSON reader below handles the flat objects of that format only (strings, string arrays; other
 * values are skipped). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "index/index.h"
#include "ingest/ingest.h"

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

static int ingest(const struct config *cfg, struct index_store *st, const char *path)
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
        struct ingest_doc *doc = NULL;
        if (!json_get(line, "id", &id) || !json_get(line, "text", &text))
            continue;
        if (!json_get(line, "title", &title))
            kb_buf_reset(&title), kb_buf_puts(&title, "");
        if (ingest_parse_memory(cfg, text.data, text.len, "row.txt", INGEST_FMT_TEXT, &doc, &err) != 0 ||
            ingest_chunk(cfg, doc, &err) != 0) {
            ingest_doc_free(doc);
            continue;
        }
        ch = kb_xcalloc(doc->n_chunks + 1, sizeof(*ch));
        for (size_t i = 0; i < doc->n_chunks; i++) {
            ch[i].text = doc->chunks[i].text;
            ch[i].heading_path = title.data;
            ch[i].off_start = (int64_t)doc->chunks[i].off_start;
            ch[i].off_end = (int64_t)doc->chunks[i].off_end;
            ch[i].n_tokens = doc->chunks[i].n_tokens;
        }
        d.external_id = id.data;
        d.title = title.data;
        d.name = title.data[0] ? title.data : id.data;
        d.mime = "text/plain";
        d.status = INDEX_DOC_INDEXED;
        if (index_doc_replace(st, &d, ch, (int)doc->n_chunks, NULL, NULL, 0, NULL, &err) != 0)
            fprintf(stderr, "replace %s: %s\n", id.data, err.msg);
        free(ch);
        ingest_doc_free(doc);
        n++;
    }
    free(line);
    fclose(f);
    kb_buf_release(&id);
    kb_buf_release(&title);
    kb_buf_release(&text);
    return n;
}

int main(int argc, char **argv)
{
    char path[4200], dir[64] = "/tmp/kbox-eval-XXXXXX", cmd[200];
    struct index_embedder *emb = NULL;
    struct index_store *st = NULL;
    struct index_open_opts o;
    struct kb_error err = {0};
    struct config cfg;
    int64_t max_q = 1000000;
    int n_docs, n_q = 0;
    FILE *f, *out;
    char *line = NULL;
    size_t cap = 0;
    double t0;
    struct kb_buf q, gold;
    if (argc < 3 || (argc > 3 && kb_parse_i64(argv[3], &max_q) != 0)) {
        fprintf(stderr, "usage: bench_index_eval EVAL_DIR OUT [MAX_QUESTIONS]\n");
        return 1;
    }
    config_init(&cfg);
    if (config_load_env(&cfg, &err) != 0) {
        fprintf(stderr, "config: %s\n", err.msg);
        return 1;
    }
    if (!mkdtemp(dir))
        return 1;
    kb_log_set_level(KB_LOG_ERROR);
    index_open_opts_from_config(&o, &cfg);
    o.data_dir = dir;
    if (index_embedder_builtin_new(&emb, (int)cfg.embed_dim, &err) != 0)
        return 1;
    o.embedder = emb;
    if (index_store_open(&st, &o, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/corpus.jsonl", argv[1]);
    t0 = kb_now_s();
    n_docs = ingest(&cfg, st, path);
    fprintf(stderr, "ingested %d documents in %.1f s\n", n_docs, kb_now_s() - t0);
    snprintf(path, sizeof(path), "%s/questions.dev.jsonl", argv[1]);
    f = fopen(path, "r");
    out = fopen(argv[2], "w");
    if (!f || !out || n_docs <= 0)
        return 1;
    kb_buf_init(&q, 0);
    kb_buf_init(&gold, 0);
    while (n_q < max_q && getline(&line, &cap, f) > 0) {
        struct index_search_opts so;
        struct kb_arena a;
        struct index_hit *hits;
        int n_hits = 0;
        if (!json_get(line, "question", &q) || !json_get(line, "gold_ids", &gold))
            continue;
        fprintf(out, "Q\t%d\t", n_q);
        for (const char *p = gold.data; *p; p++)
            fputc(*p == '\n' ? ' ' : *p == '\t' ? ' ' : *p, out);
        fputc('\n', out);
        n_q++;
        index_search_opts_from_config(&so, &cfg);
        so.mode = INDEX_MODE_HYBRID;
        so.mmr = false;
        so.top_k = 250; /* candidate depth 4 x 250 = 1000 per method: the whole union comes back */
        kb_arena_init(&a, 1 << 20, 0);
        if (index_search(st, q.data, &so, &a, &hits, &n_hits, &err) != 0)
            fprintf(stderr, "search: %s\n", err.msg);
        for (int i = 0; i < n_hits; i++)
            fprintf(out, "H\t%s\t%.6g\t%d\t%.6g\t%d\n", hits[i].external_id, hits[i].bm25, hits[i].bm25_rank,
                    hits[i].vector, hits[i].vector_rank);
        kb_arena_release(&a);
    }
    fclose(f);
    fclose(out);
    free(line);
    fprintf(stderr, "%s: %d docs, %d questions\n", argv[1], n_docs, n_q);
    index_store_close(st);
    index_embedder_builtin_free(emb);
    config_release(&cfg);
    kb_buf_release(&q);
    kb_buf_release(&gold);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
