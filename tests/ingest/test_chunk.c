/* tests/ingest/test_chunk.c: normalisation (NFC, whitespace folding, control characters, CJK line
 * joins), the token estimate, and the chunker's promises: target size, sentence boundaries (Latin and
 * CJK), overlap, sections kept apart unless tiny, tiny tails merged, tables split by rows with the
 * header repeated, one chunk per FAQ pair, determinism. Documents come from Markdown and text built
 * here, so every expectation is computed from the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static struct ingest_doc *parse(const char *name, const char *text)
{
    int rc;
    struct kb_error err = {0};
    struct ingest_doc *d = fx_parse_mem(&cfg, name, text, strlen(text), &rc, &err);
    if (!d)
        fail_msg("parse %s failed: %s", name, err.msg);
    return d;
}

static void test_normalise(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"Cafe\xCC\x81 au lait", "Caf\xC3\xA9 au lait"},           /* e + combining acute -> NFC é */
        {"  many   spaces\tand\ttabs  ", "many spaces and tabs"},  /* folding and trimming */
        {"a bell\x07 rings in this fairly long line of text, and\x01 then stops", "a bell rings in this fairly long line of text, and then stops"}, /* C0 controls dropped */
        {"中文\n换行", "中文换行"},                                    /* no space between Han across a break */
        {"中文 空格", "中文 空格"},                                    /* a real space is kept */
        {"English\nwrap", "English wrap"},                          /* Latin line break becomes a space */
        {"zero\xE2\x80\x8Bwidth", "zerowidth"},                     /* U+200B dropped */
        {"full\xE3\x80\x80width", "full width"},                    /* U+3000 is whitespace */
    };
    for (size_t i = 0; i < KB_ARRAY_LEN(cases); i++) {
        struct ingest_doc *d = parse("n.md", cases[i].in);
        assert_int_equal(d->n_blocks, 1);
        if (strcmp(d->blocks[0].text, cases[i].want) != 0)
            fail_msg("case %zu: got '%s' want '%s'", i, d->blocks[0].text, cases[i].want);
        ingest_doc_free(d);
    }
}

static void test_tokens(void **state)
{
    (void)state;
    assert_int_equal(ingest_estimate_tokens("", 0), 0);
    assert_int_equal(ingest_estimate_tokens("中文字符", strlen("中文字符")), 4);       /* one per CJK char */
    assert_int_equal(ingest_estimate_tokens("ten words", 9), 3);                    /* 2 * 1.3 rounded up */
    int mixed = ingest_estimate_tokens("退货 45 days", strlen("退货 45 days"));
    assert_true(mixed >= 4 && mixed <= 5);
    /* 100 words of prose is about 130 tokens */
    struct kb_buf b;
    kb_buf_init(&b, 0);
    for (int i = 0; i < 100; i++)
        kb_buf_puts(&b, "word ");
    assert_int_equal(ingest_estimate_tokens(b.data, b.len), 130);
    kb_buf_release(&b);
}

/* A long section of numbered sentences: chunks respect the target, end at sentence ends, overlap. */
static void test_prose_split_and_overlap(void **state)
{
    (void)state;
    struct kb_buf b;
    kb_buf_init(&b, 0);
    kb_buf_puts(&b, "# Guide\n\n## Long section\n\n");
    for (int i = 0; i < 120; i++)
        kb_buf_printf(&b, "Sentence number %d says the warehouse ships parcels every working day. ", i);
    kb_buf_puts(&b, "\n");
    struct ingest_doc *d = parse("long.md", b.data);
    assert_true(d->n_chunks >= 4);
    int target = (int)cfg.ingest_chunk_tokens;
    for (size_t i = 0; i < d->n_chunks; i++) {
        const struct ingest_chunk *c = &d->chunks[i];
        assert_string_equal(c->heading_path, "Guide > Long section");
        assert_true(c->n_tokens <= target + target / 4); /* a merged tail may pass the target a little */
        assert_true(c->n_tokens >= target / 4);
        assert_true(c->text[c->text_bytes - 1] == '.'); /* ends at a sentence end */
        assert_true(strncmp(c->text, "Sentence number ", 16) == 0);
    }
    /* Overlap: each chunk starts with a sentence the previous one already had. */
    for (size_t i = 1; i < d->n_chunks; i++) {
        char first[128];
        const char *dot = strchr(d->chunks[i].text, '.');
        size_t len = (size_t)(dot - d->chunks[i].text) + 1;
        assert_true(len < sizeof first);
        memcpy(first, d->chunks[i].text, len);
        first[len] = '\0';
        assert_non_null(strstr(d->chunks[i - 1].text, first));
        assert_true(d->chunks[i].off_start < d->chunks[i - 1].off_end);
    }
    /* Every sentence is in some chunk. */
    for (int i = 0; i < 120; i++) {
        char s[64];
        snprintf(s, sizeof s, "Sentence number %d says", i);
        assert_non_null(fx_chunk_with(d, s));
    }
    /* No overlap setting: chunks are disjoint. */
    assert_int_equal(ingest_chunk_with(d, target, 0.0, NULL), 0);
    for (size_t i = 1; i < d->n_chunks; i++)
        assert_true(d->chunks[i].off_start >= d->chunks[i - 1].off_end);
    ingest_doc_free(d);
    kb_buf_release(&b);
}

static void test_cjk_sentences(void **state)
{
    (void)state;
    struct kb_buf b;
    kb_buf_init(&b, 0);
    kb_buf_puts(&b, "# 手册\n\n## 退货\n\n");
    for (int i = 0; i < 60; i++)
        kb_buf_printf(&b, "第%d条：顾客可以在签收后四十五天内退货，我们会在七个工作日内退款！是否需要原包装？不需要；", i);
    kb_buf_puts(&b, "\n");
    struct ingest_doc *d = parse("zh.md", b.data);
    assert_true(d->n_chunks >= 3);
    for (size_t i = 0; i < d->n_chunks; i++) {
        const struct ingest_chunk *c = &d->chunks[i];
        assert_string_equal(c->heading_path, "手册 > 退货");
        assert_true(c->n_tokens <= 384 + 96);
        /* ends with one of the CJK stops */
        const char *end = c->text + c->text_bytes - 3;
        assert_true(memcmp(end, "；", 3) == 0 || memcmp(end, "！", 3) == 0 || memcmp(end, "？", 3) == 0);
        assert_null(strstr(c->text, "。 ")); /* no spaces inserted between CJK sentences */
        assert_null(strstr(c->text, "； "));
    }
    ingest_doc_free(d);
    kb_buf_release(&b);
}

static void test_sections_and_tiny(void **state)
{
    (void)state;
    const char *md = "# Handbook\n\n"
                     "## Returns\n\n"
                     "Returns are accepted within 45 days. The item must be complete. Pack it well so that it arrives "
                     "safely at our warehouse in Leeds, where we check it on the day it arrives. Our team will write "
                     "to you once the check is done and tell you what happens next with the refund or exchange.\n\n"
                     "### Refunds\n\n"
                     "Refunds are paid within 7 working days after inspection. Banks may need 3 to 5 more days before "
                     "the money shows in your account. Store credit is paid the same day and carries a bonus of five "
                     "percent on the refunded amount, valid for two years from the day it is issued.\n\n"
                     "### Tiny\n\nShort note.\n\n"
                     "### After tiny\n\n"
                     "This section follows a tiny one and talks about exchanges of kettles for grinders, which are "
                     "handled as a return plus a new order placed within the return window of forty five days.\n";
    struct ingest_doc *d = parse("h.md", md);
    const struct ingest_chunk *c = fx_chunk_with(d, "within 45 days");
    assert_non_null(c);
    assert_string_equal(c->heading_path, "Handbook > Returns");
    assert_null(strstr(c->text, "Refunds are paid")); /* sections are not mixed */
    c = fx_chunk_with(d, "7 working days");
    assert_non_null(c);
    assert_string_equal(c->heading_path, "Handbook > Returns > Refunds");
    /* The tiny section joins the next one under their common path, with the heading as a line
     * marked as a level-3 heading (never mistaken for a sentence of the text). */
    c = fx_chunk_with(d, "Short note.");
    assert_non_null(c);
    assert_string_equal(c->heading_path, "Handbook > Returns");
    assert_string_equal(c->text, "Short note.\n### After tiny\nThis section follows a tiny one and talks about "
                                 "exchanges of kettles for grinders, which are handled as a return plus a new "
                                 "order placed within the return window of forty five days.");
    assert_int_equal(c->line_first, 13);
    ingest_doc_free(d);
}

static void test_table_rows_header(void **state)
{
    (void)state;
    struct kb_buf b;
    kb_buf_init(&b, 0);
    kb_buf_puts(&b, "# Prices\n\n| Model | Name | Price |\n|---|---|---|\n");
    for (int i = 0; i < 80; i++)
        kb_buf_printf(&b, "| HK-%03d | Kettle number %d with a long descriptive name | £%d |\n", i, i, 50 + i);
    struct ingest_doc *d = parse("t.md", b.data);
    assert_true(d->n_chunks >= 3);
    int rows = 0;
    for (size_t i = 0; i < d->n_chunks; i++) {
        const struct ingest_chunk *c = &d->chunks[i];
        assert_int_equal(c->kind, INGEST_CHUNK_TABLE);
        assert_string_equal(c->heading_path, "Prices");
        assert_true(strncmp(c->text, "Model | Name | Price\n", 21) == 0); /* header repeated */
        assert_true(c->n_tokens <= 384);
        for (const char *p = c->text; (p = strstr(p, "Model: HK-")); p++)
            rows++;
    }
    assert_int_equal(rows, 80); /* every row exactly once: no overlap in tables */
    const struct ingest_chunk *c = fx_chunk_with(d, "Model: HK-042, Name: Kettle number 42");
    assert_non_null(c);
    assert_non_null(strstr(c->text, "Price: £92"));
    assert_true(c->line_first >= 3);
    ingest_doc_free(d);
    kb_buf_release(&b);

    /* A tiny lead-in of the same section is the caption of the table's first chunk; a long one
     * stays prose. */
    d = parse("cap.md", "# Rates\n\nCosts by zone:\n\n| Zone | Cost |\n|---|---|\n| 1 | £4 |\n| 2 | £9 |\n");
    assert_int_equal(d->n_chunks, 1);
    assert_string_equal(d->chunks[0].text, "Costs by zone:\nZone | Cost\nZone: 1, Cost: £4\nZone: 2, Cost: £9");
    assert_int_equal(d->chunks[0].kind, INGEST_CHUNK_TABLE);
    assert_int_equal(d->chunks[0].off_start, d->blocks[1].off_start);
    ingest_doc_free(d);
}

static void test_faq_pairs(void **state)
{
    (void)state;
    const char *md = "# FAQ\n\n## Orders\n\n"
                     "Q: How long do I have to cancel?\nA: Two hours after ordering.\n\n"
                     "Q: Is delivery free?\n\nA: Yes, over £60.\n\nIt costs £4.95 below that.\n\n"
                     "问：可以退货吗？\n答：可以，45 天内。\n";
    struct ingest_doc *d = parse("f.md", md);
    size_t faqs = 0;
    for (size_t i = 0; i < d->n_chunks; i++)
        faqs += d->chunks[i].kind == INGEST_CHUNK_FAQ;
    assert_int_equal(faqs, 3);
    const struct ingest_chunk *c = fx_chunk_with(d, "cancel");
    assert_string_equal(c->text, "Q: How long do I have to cancel?\nA: Two hours after ordering.");
    assert_string_equal(c->heading_path, "FAQ > Orders");
    c = fx_chunk_with(d, "Is delivery free");
    assert_non_null(strstr(c->text, "A: Yes, over £60.\nIt costs £4.95 below that."));
    c = fx_chunk_with(d, "可以退货吗");
    assert_string_equal(c->text, "Q: 可以退货吗？\nA: 可以，45 天内。");
    ingest_doc_free(d);
}

static void test_deterministic(void **state)
{
    (void)state;
    const char *md = "# A\n\nOne. Two. Three.\n\n## B\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\nQ: q?\nA: a.\n";
    struct ingest_doc *d1 = parse("d.md", md), *d2 = parse("d.md", md);
    assert_int_equal(d1->n_chunks, d2->n_chunks);
    for (size_t i = 0; i < d1->n_chunks; i++) {
        assert_string_equal(d1->chunks[i].text, d2->chunks[i].text);
        assert_string_equal(d1->chunks[i].heading_path, d2->chunks[i].heading_path);
        assert_int_equal(d1->chunks[i].off_start, d2->chunks[i].off_start);
    }
    /* Rechunking the same document gives the same result too. */
    char *first = kb_xstrdup(d1->chunks[0].text);
    assert_int_equal(ingest_chunk(&cfg, d1, NULL), 0);
    assert_string_equal(first, d1->chunks[0].text);
    free(first);
    ingest_doc_free(d1);
    ingest_doc_free(d2);
}

/* A sentence longer than the target is cut at word boundaries; a CJK run at characters. */
static void test_hard_split(void **state)
{
    (void)state;
    struct kb_buf b;
    kb_buf_init(&b, 0);
    for (int i = 0; i < 600; i++)
        kb_buf_puts(&b, "run-on ");
    kb_buf_puts(&b, "\n\n");
    for (int i = 0; i < 900; i++)
        kb_buf_puts(&b, "字");
    struct ingest_doc *d = parse("r.txt", b.data);
    assert_true(d->n_chunks >= 4);
    for (size_t i = 0; i < d->n_chunks; i++) {
        assert_true(d->chunks[i].n_tokens <= 384 + 96);
        assert_true(d->chunks[i].text[0] != ' ');
    }
    ingest_doc_free(d);
    kb_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),         cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_prose_split_and_overlap), cmocka_unit_test(test_cjk_sentences),
        cmocka_unit_test(test_sections_and_tiny), cmocka_unit_test(test_table_rows_header),
        cmocka_unit_test(test_faq_pairs),         cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_hard_split),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
