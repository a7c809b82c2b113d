/* tests/ingest/test_pdf_pages.c: the page of every sentence. A PDF written by fixtures.c has
 * paragraphs broken across page breaks (one ends mid-word: "exam-" / "ple"; one is Chinese and joins
 * without a space); the blocks keep the page they start on plus page marks, chunks carry a page map
 * ("off:page,...") that index_page_at() reads, and the map survives a real SQLite store, including
 * one migrated from schema version 2 (no page_map column; old rows cite page_start). Page numbers
 * printed mid-page under short text are dropped by their numbering, not by position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../index/idx_test.h"
#include "fixtures.h"

static struct config cfg;

static int setup(void **state)
{
    (void)state;
    config_init(&cfg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    config_release(&cfg);
    return 0;
}

static struct ingest_doc *parse(const char *path)
{
    int rc;
    struct kb_error err = {0};
    struct ingest_doc *d = fx_parse_file(&cfg, path, &rc, &err);
    if (!d)
        fail_msg("%s", err.msg);
    return d;
}

/* Four pages; "Page N" footers. Page 1 ends inside sentence two, page 2 ends in "exam-", page 3 in
 * the middle of a Chinese sentence. */
static struct ingest_doc *paged_doc(void)
{
    struct fx_pdf *p = fx_pdf_new();
    char buf[32];
    for (int pg = 1; pg <= 4; pg++) {
        fx_pdf_page(p);
        snprintf(buf, sizeof buf, "Page %d", pg);
        fx_pdf_text(p, 280, 30, 9, buf);
        if (pg == 1) {
            fx_pdf_text(p, 72, 760, 18, "Care Guide");
            fx_pdf_text(p, 72, 720, 11, "Sentence one sits on the first page and ends here.");
            fx_pdf_text(p, 72, 100, 11, "Sentence two starts on the first page, crosses the break and goes");
        } else if (pg == 2) {
            fx_pdf_text(p, 72, 790, 11, "on to the second page. Sentence three sits on the second page.");
            fx_pdf_text(p, 72, 100, 11, "Sentence four ends the second page with an exam-");
        } else if (pg == 3) {
            fx_pdf_text(p, 72, 790, 11, "ple of a broken word. Sentence five is on page three.");
            fx_pdf_cjk(p, 72, 100, 11, "中文段落从第三页开始");
        } else {
            fx_pdf_cjk(p, 72, 790, 11, "一直写到第四页为止。");
        }
    }
    return parse(fx_pdf_save(p, "paged.pdf"));
}

/* The page the chunk's map gives for the first byte of needle in its text. */
static int page_of(const struct ingest_chunk *c, const char *needle)
{
    const char *at = strstr(c->text, needle);
    assert_non_null(at);
    return index_page_at(c->page_first, c->page_map, (size_t)(at - c->text));
}

static void test_block_marks(void **state)
{
    (void)state;
    struct ingest_doc *d = paged_doc();
    assert_null(strstr(d->text, "Page 2")); /* footers dropped */
    const struct ingest_block *b = fx_block_with(d, "Sentence one");
    assert_int_equal(b->n_page_marks, 0);
    assert_null(b->page_marks);
    b = fx_block_with(d, "Sentence two");
    assert_string_equal(b->text, "Sentence two starts on the first page, crosses the break and goes on to the second "
                                 "page. Sentence three sits on the second page.");
    assert_int_equal(b->loc.page, 1);
    assert_int_equal(b->n_page_marks, 1);
    assert_int_equal(b->page_marks[0].page, 2);
    assert_string_equal(b->text + b->page_marks[0].off, "on to the second page. Sentence three sits on the second page.");
    b = fx_block_with(d, "Sentence four");
    assert_string_equal(b->text, "Sentence four ends the second page with an example of a broken word. Sentence five "
                                 "is on page three."); /* de-hyphenated across the page break */
    assert_int_equal(b->loc.page, 2);
    assert_int_equal(b->n_page_marks, 1);
    assert_int_equal(b->page_marks[0].page, 3);
    assert_int_equal(strncmp(b->text + b->page_marks[0].off, "ple of a broken", 15), 0); /* inside "example" */
    b = fx_block_with(d, "中文段落");
    assert_string_equal(b->text, "中文段落从第三页开始一直写到第四页为止。"); /* no space at the join */
    assert_int_equal(b->loc.page, 3);
    assert_int_equal(b->n_page_marks, 1);
    assert_int_equal(b->page_marks[0].page, 4);
    assert_string_equal(b->text + b->page_marks[0].off, "一直写到第四页为止。");
    ingest_doc_free(d);
}

static void test_chunk_maps(void **state)
{
    (void)state;
    struct ingest_doc *d = paged_doc();
    /* One chunk for everything: one map over pages 1-4. */
    assert_int_equal(ingest_chunk_with(d, 512, 0.0, NULL), 0);
    const struct ingest_chunk *c = fx_chunk_with(d, "Sentence one");
    assert_int_equal(c->page_first, 1);
    assert_int_equal(c->page_last, 4);
    assert_int_equal(page_of(c, "Sentence one"), 1);
    assert_int_equal(page_of(c, "Sentence two"), 1);
    assert_int_equal(page_of(c, "on to the second"), 2);
    assert_int_equal(page_of(c, "Sentence three"), 2);
    assert_int_equal(page_of(c, "Sentence four"), 2);
    assert_int_equal(page_of(c, "Sentence five"), 3);
    assert_int_equal(page_of(c, "中文段落"), 3);
    assert_int_equal(page_of(c, "一直写到"), 4);
    /* Small chunks (a sentence each): each starts on the page of its own first sentence, not of its
     * block. */
    assert_int_equal(ingest_chunk_with(d, 24, 0.0, NULL), 0);
    c = fx_chunk_with(d, "Sentence three");
    assert_int_equal(c->page_first, 2);
    c = fx_chunk_with(d, "Sentence five");
    assert_int_equal(c->page_first, 3);
    assert_int_equal(c->page_last, 3);
    c = fx_chunk_with(d, "Sentence two");
    assert_int_equal(c->page_first, 1);
    assert_int_equal(c->page_last, 2);
    assert_int_equal(page_of(c, "on to the second"), 2);
    ingest_doc_free(d);
}

static void test_page_at(void **state)
{
    (void)state;
    static const struct {
        int start;
        const char *map;
        size_t off;
        int want;
    } cases[] = {
        {0, NULL, 5, 0},         {4, NULL, 5, 4},           {4, "", 5, 4},          {4, "10:5", 9, 4},
        {4, "10:5", 10, 5},      {4, "10:5,20:7", 19, 5},  {4, "10:5,20:7", 99, 7}, {4, "x", 99, 4},
        {4, "10:", 99, 4},       {4, "10:0", 99, 4},       {4, "10:5,junk", 99, 5}, {4, "10:5;20:6", 99, 5},
        {4, "99999999999999999999:5", 3, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (index_page_at(cases[i].start, cases[i].map, cases[i].off) != cases[i].want)
            fail_msg("case %zu: '%s' at %zu gave %d, want %d", i, cases[i].map ? cases[i].map : "(null)",
                     cases[i].off, index_page_at(cases[i].start, cases[i].map, cases[i].off), cases[i].want);
}

/* Stores the document's chunks as ingest hands them to the index (rag/jobs.c). */
static int64_t store_doc(struct index_store *st, const struct ingest_doc *d, const char *path)
{
    struct index_chunk *ch = kb_xcalloc(d->n_chunks, sizeof *ch);
    for (size_t i = 0; i < d->n_chunks; i++)
        ch[i] = (struct index_chunk){.text = d->chunks[i].text, .heading_path = d->chunks[i].heading_path,
                                     .page_start = d->chunks[i].page_first, .page_end = d->chunks[i].page_last,
                                     .page_map = d->chunks[i].page_map};
    struct index_doc meta = {.name = "paged.pdf", .path = path};
    int64_t id = 0;
    struct kb_error err = {0};
    if (index_doc_replace(st, &meta, ch, (int)d->n_chunks, NULL, NULL, 0, &id, &err))
        fail_msg("%s", err.msg);
    free(ch);
    return id;
}

static void test_store_roundtrip_and_migration(void **state)
{
    (void)state;
    struct ingest_doc *d = paged_doc();
    assert_int_equal(ingest_chunk_with(d, 512, 0.0, NULL), 0);
    char *dir = idx_tmpdir();
    struct index_store *st;
    struct kb_error err = {0};
    struct kb_arena a;
    struct index_chunk_row *rows;
    int n, page;
    kb_arena_init(&a, 4096, 0);
    assert_int_equal(idx_open(&st, dir, NULL, &err), 0);
    assert_int_equal(index_store_schema_version(st), 11); /* 4: conversation log, 5: curated answers, 6: users, 7: bots, 8: handoff, 9: bot handoff, 10: collection handoff, 11: chunk context */
    int64_t id = store_doc(st, d, "/a/paged.pdf");
    assert_int_equal(index_doc_chunks(st, id, &a, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].page_map, d->chunks[0].page_map);
    assert_true(rows[0].page_map[0] != '\0');
    size_t off = (size_t)(strstr(rows[0].text, "Sentence five") - rows[0].text);
    assert_int_equal(index_chunk_page_at(st, rows[0].id, off, &page, &err), 0);
    assert_int_equal(page, 3);
    assert_int_equal(index_chunk_page_at(st, rows[0].id, 0, &page, &err), 0);
    assert_int_equal(page, 1);
    assert_int_equal(index_chunk_page_at(st, 987654, 0, &page, &err), KB_ENOENT);
    /* The search hit carries the map too (what rag/ hands the answer builder). */
    struct index_search_opts o;
    index_search_opts_from_config(&o, &cfg);
    o.mode = INDEX_MODE_BM25;
    struct index_hit *hits;
    assert_int_equal(index_search(st, "broken word example", &o, &a, &hits, &n, &err), 0);
    assert_true(n >= 1);
    assert_string_equal(hits[0].page_map, d->chunks[0].page_map);
    index_store_close(st);

    /* A version 2 database: no page_map column. Opening it migrates; old rows cite page_start. */
    char db[4200];
    snprintf(db, sizeof db, "%s/kbox.db", dir);
    sqlite3 *s;
    assert_int_equal(sqlite3_open(db, &s), SQLITE_OK);
    assert_int_equal(sqlite3_exec(s, "ALTER TABLE chunks DROP COLUMN page_map;"
                                        " ALTER TABLE chunks DROP COLUMN context; PRAGMA user_version=2;", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(s);
    assert_int_equal(idx_open(&st, dir, NULL, &err), 0);
    assert_int_equal(index_store_schema_version(st), 11); /* 4: conversation log, 5: curated answers, 6: users, 7: bots, 8: handoff, 9: bot handoff, 10: collection handoff, 11: chunk context */
    assert_int_equal(index_doc_chunks(st, id, &a, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].page_map, "");
    assert_int_equal(index_chunk_page_at(st, rows[0].id, off, &page, &err), 0);
    assert_int_equal(page, 1);
    int64_t id2 = store_doc(st, d, "/b/paged.pdf"); /* new rows get their map */
    assert_int_equal(index_doc_chunks(st, id2, &a, &rows, &n, &err), 0);
    assert_string_equal(rows[0].page_map, d->chunks[0].page_map);
    index_store_close(st);
    kb_arena_release(&a);
    idx_rm_rf(dir);
    free(dir);
    ingest_doc_free(d);
}

/* Page numbers printed right under the text (mid-page), as filings converted from HTML have them:
 * dropped when they follow the page index on 3+ pages; a lone number ending a page that does not
 * ("42" on the last page) stays. */
static void test_mid_page_numbers(void **state)
{
    (void)state;
    struct fx_pdf *p = fx_pdf_new();
    char buf[64];
    for (int pg = 1; pg <= 4; pg++) {
        fx_pdf_page(p);
        snprintf(buf, sizeof buf, "Short page %d of the filing ends here.", pg);
        fx_pdf_text(p, 72, 760, 11, buf);
        snprintf(buf, sizeof buf, "%d", pg + 2); /* printed numbers start at 3 */
        fx_pdf_text(p, 290, 600, 11, buf);
    }
    fx_pdf_page(p); /* an unnumbered last page ending in a lone number */
    fx_pdf_text(p, 72, 760, 11, "The answer to the riddle is below.");
    fx_pdf_text(p, 72, 700, 11, "42");
    struct ingest_doc *d = parse(fx_pdf_save(p, "midnum.pdf"));
    for (size_t i = 0; i < d->n_blocks; i++) {
        long v = strtol(d->blocks[i].text, NULL, 10);
        if (v >= 3 && v <= 6)
            fail_msg("page number block '%s' on page %d", d->blocks[i].text, d->blocks[i].loc.page);
    }
    assert_string_equal(fx_block_with(d, "42")->text, "42");
    assert_int_equal(fx_block_with(d, "42")->loc.page, 5);
    assert_non_null(fx_block_with(d, "Short page 4"));
    ingest_doc_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_marks),
        cmocka_unit_test(test_chunk_maps),
        cmocka_unit_test(test_page_at),
        cmocka_unit_test(test_store_roundtrip_and_migration),
        cmocka_unit_test(test_mid_page_numbers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
