/* bench/bench_ingest.c: parse + chunk throughput of ingest/ on a generated corpus, one thread.
 *
 * Corpus: pseudo-English paragraphs (words from a 5000-word generated vocabulary) mixed with 20%
 * Chinese paragraphs (common Han characters), under a heading hierarchy, with a table and a few Q/A
 * pairs per section. The same content is rendered as plain text, Markdown, HTML and CSV (each
 * TOTAL_MB/4 of input, so the text formats together pass TOTAL_MB), as a DOCX of 1/8 of that, and as
 * a PDF of PDF_PAGES pages (fixtures.c's writer). For each format: input MB/s, extracted-text MB/s
 * (doc->text_bytes) and chunks/s; for the PDF also pages/s. Timings are best of REPEAT runs.
 * Usage: bench_ingest [TOTAL_MB=64] [PDF_PAGES=200] [REPEAT=3] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static char vocab[5000][12];

static void make_vocab(void)
{
    for (int i = 0; i < 5000; i++) {
        int len = 2 + (int)(rnd() % 9);
        for (int k = 0; k < len; k++)
            vocab[i][k] = (char)('a' + rnd() % 26);
        vocab[i][len] = '\0';
    }
}

static void sentence(struct kb_buf *b, bool zh)
{
    if (zh) {
        int n = 12 + (int)(rnd() % 30);
        for (int i = 0; i < n; i++) {
            char enc[4];
            int l = kb_utf8_encode(0x4E00 + (uint32_t)(rnd() % 3000), enc);
            kb_buf_append(b, enc, (size_t)l);
        }
        kb_buf_puts(b, rnd() % 4 ? "。" : "，并且");
        return;
    }
    int n = 6 + (int)(rnd() % 18);
    for (int i = 0; i < n; i++) {
        const char *w = vocab[(rnd() % 5000) * (rnd() % 5000) / 5000]; /* skewed towards common words */
        kb_buf_printf(b, "%s%s", i ? " " : "", w);
        if (i == 0)
            b->data[b->len - strlen(w)] = (char)(b->data[b->len - strlen(w)] - 32);
    }
    kb_buf_puts(b, ". ");
}

static void paragraph(struct kb_buf *b)
{
    bool zh = rnd() % 5 == 0;
    int n = 3 + (int)(rnd() % 6);
    for (int i = 0; i < n; i++)
        sentence(b, zh);
}

enum fmt { F_TEXT, F_MD, F_HTML, F_CSV };

/* Appends sections until b holds `bytes`. */
static void corpus(struct kb_buf *b, enum fmt f, size_t bytes)
{
    int sec = 0;
    if (f == F_HTML)
        kb_buf_puts(b, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Corpus</title></head><body>");
    if (f == F_CSV)
        kb_buf_puts(b, "id,section,text\n");
    while (b->len < bytes) {
        sec++;
        for (int p = 0; p < 6; p++) {
            struct kb_buf t;
            kb_buf_init(&t, 0);
            paragraph(&t);
            switch (f) {
            case F_TEXT:
                if (p == 0)
                    kb_buf_printf(b, "%d. Section %d\n\n", sec, sec);
                kb_buf_printf(b, "%s\n\n", t.data);
                break;
            case F_MD:
                if (p == 0)
                    kb_buf_printf(b, "%s Section %d\n\n", sec % 5 ? "###" : "##", sec);
                kb_buf_printf(b, "%s\n\n", t.data);
                if (p == 3)
                    kb_buf_printf(b, "| Model | Price | Notes |\n|---|---|---|\n| HK-%d | %d | %s |\n| CG-%d | %d | %s |\n\n",
                                  sec, 80 + sec % 50, vocab[sec % 5000], sec, 120 + sec % 70, vocab[(sec * 7) % 5000]);
                if (p == 5)
                    kb_buf_printf(b, "Q: What is %s?\nA: It is %s.\n\n", vocab[sec % 5000], vocab[(sec * 3) % 5000]);
                break;
            case F_HTML:
                if (p == 0)
                    kb_buf_printf(b, "<h%d>Section %d</h%d>\n", sec % 5 ? 3 : 2, sec, sec % 5 ? 3 : 2);
                kb_buf_printf(b, "<p>%s</p>\n", t.data);
                if (p == 3)
                    kb_buf_printf(b, "<table><tr><th>Model</th><th>Price</th></tr><tr><td>HK-%d</td><td>%d</td></tr>"
                                     "</table>\n<ul><li>%s</li><li>%s</li></ul>\n",
                                  sec, 80 + sec % 50, vocab[sec % 5000], vocab[(sec * 7) % 5000]);
                break;
            case F_CSV:
                kb_buf_printf(b, "%d,Section %d,\"%s\"\n", sec * 10 + p, sec, t.data);
                break;
            }
            kb_buf_release(&t);
        }
    }
    if (f == F_HTML)
        kb_buf_puts(b, "</body></html>\n");
}

static char *docx_corpus(size_t bytes, size_t *n_out)
{
    struct kb_buf d;
    kb_buf_init(&d, 0);
    kb_buf_puts(&d, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document "
                    "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>");
    for (int sec = 1; d.len < bytes; sec++) {
        kb_buf_printf(&d, "<w:p><w:pPr><w:outlineLvl w:val=\"1\"/></w:pPr><w:r><w:t>Section %d</w:t></w:r></w:p>", sec);
        for (int p = 0; p < 6; p++) {
            struct kb_buf t;
            kb_buf_init(&t, 0);
            paragraph(&t);
            kb_buf_printf(&d, "<w:p><w:r><w:t xml:space=\"preserve\">%s</w:t></w:r></w:p>", t.data);
            kb_buf_release(&t);
        }
    }
    kb_buf_puts(&d, "</w:body></w:document>");
    const char *names[] = {"word/document.xml"};
    const char *parts[] = {d.data};
    const char *path = fx_zip(fx_path("bench.docx"), names, parts, 1);
    kb_buf_release(&d);
    return fx_read(path, n_out);
}

static char *pdf_corpus(int pages, size_t *n_out)
{
    struct fx_pdf *p = fx_pdf_new();
    for (int pg = 1; pg <= pages; pg++) {
        fx_pdf_page(p);
        char num[16];
        snprintf(num, sizeof num, "%d", pg);
        fx_pdf_text(p, 292, 30, 9, num);
        fx_pdf_text(p, 72, 780, 16, "Chapter heading");
        double y = 750;
        while (y > 70) {
            struct kb_buf t;
            kb_buf_init(&t, 0);
            sentence(&t, false);
            sentence(&t, false);
            t.data[KB_MIN(t.len, (size_t)85)] = '\0';
            fx_pdf_text(p, 72, y, 11, t.data);
            kb_buf_release(&t);
            y -= 15;
        }
    }
    char *data = fx_pdf_finish(p, false, n_out);
    fx_pdf_free(p);
    return data;
}

struct result {
    double secs;
    size_t text_bytes, chunks;
    int pages;
};

static struct result run(const struct config *cfg, const char *data, size_t n, const char *name, int repeat)
{
    struct result best = {1e30, 0, 0, 0};
    for (int r = 0; r < repeat; r++) {
        struct kb_error err = {0};
        struct ingest_doc *d = NULL;
        double t0 = kb_now_s();
        int rc = ingest_parse_memory(cfg, data, n, name, INGEST_FMT_UNKNOWN, &d, &err);
        rc = rc ? rc : ingest_chunk(cfg, d, &err);
        double dt = kb_now_s() - t0;
        if (rc) {
            fprintf(stderr, "bench_ingest: %s: %s\n", name, err.msg);
            exit(1);
        }
        if (dt < best.secs)
            best = (struct result){dt, d->text_bytes, d->n_chunks, d->n_pages};
        ingest_doc_free(d);
    }
    return best;
}

static void report(const char *what, size_t in_bytes, struct result r)
{
    printf("%-9s input %7.1f MB  text %7.1f MB  %6.2f s  input %7.1f MB/s  text %7.1f MB/s  %8.0f chunks/s",
           what, in_bytes / 1e6, r.text_bytes / 1e6, r.secs, in_bytes / 1e6 / r.secs, r.text_bytes / 1e6 / r.secs,
           r.chunks / r.secs);
    if (r.pages)
        printf("  %6.1f pages/s", r.pages / r.secs);
    printf("\n");
}

int main(int argc, char **argv)
{
    int64_t total_mb = 64, pages = 200, repeat = 3;
    if ((argc > 1 && kb_parse_i64(argv[1], &total_mb)) || (argc > 2 && kb_parse_i64(argv[2], &pages)) ||
        (argc > 3 && kb_parse_i64(argv[3], &repeat)) || total_mb < 1 || pages < 1 || repeat < 1) {
        fprintf(stderr, "usage: bench_ingest [TOTAL_MB=64] [PDF_PAGES=200] [REPEAT=3]\n");
        return 1;
    }
    struct config cfg;
    config_init(&cfg);
    cfg.ingest_max_file_bytes = (int64_t)1 << 34;
    make_vocab();
    size_t each = (size_t)total_mb * 1000000 / 4;
    static const char *const names[] = {"c.txt", "c.md", "c.html", "c.csv"};
    static const char *const labels[] = {"text", "markdown", "html", "csv"};
    size_t all_in = 0, all_text = 0;
    double all_secs = 0;
    printf("bench_ingest: %lld MB of text formats, one thread, best of %lld\n", (long long)total_mb, (long long)repeat);
    for (int f = 0; f < 4; f++) {
        struct kb_buf b;
        kb_buf_init(&b, 0);
        corpus(&b, (enum fmt)f, each);
        struct result r = run(&cfg, b.data, b.len, names[f], (int)repeat);
        report(labels[f], b.len, r);
        all_in += b.len;
        all_text += r.text_bytes;
        all_secs += r.secs;
        kb_buf_release(&b);
    }
    printf("%-9s input %7.1f MB  text %7.1f MB  %6.2f s  input %7.1f MB/s  text %7.1f MB/s\n", "all text", all_in / 1e6,
           all_text / 1e6, all_secs, all_in / 1e6 / all_secs, all_text / 1e6 / all_secs);
    size_t n;
    char *docx = docx_corpus(each / 2, &n);
    report("docx", n, run(&cfg, docx, n, "c.docx", (int)repeat));
    free(docx);
    char *pdf = pdf_corpus((int)pages, &n);
    report("pdf", n, run(&cfg, pdf, n, "c.pdf", (int)repeat));
    free(pdf);
    config_release(&cfg);
    return 0;
}
