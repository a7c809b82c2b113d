/* tests/rag/test_curated.c: curated answers (issue #15, rag/curated.c) on a real knowledge base: the
 * bundled English and Chinese samples plus a CSV FAQ this test writes, in a real SQLite store with
 * the built-in embedder and FAISS, so the curated entries compete with real passages.
 *
 * - paraphrases in English and Chinese (one sharing only two content words with a similar question)
 *   get the curated answer: mode "curated", cited, with the entry's id and version, and count a use;
 *   unrelated questions still get the fallback or another answer, never the entry;
 * - an edit is a new version (the old text kept in the versions), and the next answer reports it;
 * - the hidden documents stay out of the documents list, and a lost one is rewritten at the next
 *   open; a deleted entry answers no more;
 * - the imported CSV FAQ documents stay documents (mode "faq", no curated id);
 * - import is all or nothing with the row number (CSV and XLSX), export/import round trips;
 * - cells a spreadsheet would run as formulas are exported behind an apostrophe and imported back;
 * - the CSV parser's malformed inputs, table-driven. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "rag/rag.h"
#include "rag/rag_int.h"
#include "kb_fixture.h"

static const char faq_csv[] = "question,answer\n"
                              "Do you ship to Iceland?,\"Yes, we ship to Iceland by sea freight in about three "
                              "weeks.\"\n"
                              "Can I pay by bank transfer?,\"Yes, for orders over 500 GBP; the details are on the "
                              "invoice.\"\n";

static int setup(void **state)
{
    struct fixture *fx = kb_fixture_new("cur");
    char csv[128];
    const char *paths[3] = {KBOX_SOURCE_DIR "/samples/en", KBOX_SOURCE_DIR "/samples/zh", csv};
    FILE *f;
    snprintf(csv, sizeof csv, "%s/shop-faq.csv", fx->dir);
    f = fopen(csv, "w");
    assert_non_null(f);
    fputs(faq_csv, f);
    fclose(f);
    kb_fixture_open(fx, paths, 3);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    kb_fixture_free(*state);
    return 0;
}

static int64_t add(struct rag *r, const char *q, const char *const *sim, int n_sim, const char *a)
{
    struct rag_curated_input in = {.question = q, .similar = sim, .n_similar = n_sim, .answer = a};
    struct kb_error err = {0};
    int64_t id = 0;
    if (rag_curated_add(r, &in, &id, &err))
        fail_msg("rag_curated_add: %s", err.msg);
    assert_true(id > 0);
    return id;
}

/* Asks q; the answer must come from entry `want` (0: from no curated entry). */
static void ask_expect(struct rag *r, const char *q, int64_t want, int want_version, const char *want_text)
{
    struct rag_ask_opts o = {.question = q};
    struct rag_answer a;
    struct kb_error err = {0};
    if (rag_ask(r, &o, NULL, NULL, &a, NULL, &err))
        fail_msg("rag_ask(%s): %s", q, err.msg);
    if (want) {
        if (strcmp(a.mode, "curated") != 0 || a.curated_id != want)
            fail_msg("'%s': mode %s, curated %lld (want curated %lld): %s", q, a.mode, (long long)a.curated_id,
                     (long long)want, a.answer);
        assert_int_equal(a.curated_version, want_version);
        assert_non_null(strstr(a.answer, want_text));
        assert_int_equal(a.n_citations, 1);
        assert_non_null(strstr(a.answer, "[1]"));
        assert_non_null(strstr(a.citations[0].text, "Q: "));
    } else {
        if (a.curated_id != 0 || strcmp(a.mode, "curated") == 0)
            fail_msg("'%s' took curated answer %lld: %s", q, (long long)a.curated_id, a.answer);
        assert_int_equal(a.curated_version, 0);
    }
    rag_answer_release(&a);
}

static int64_t uses_of(struct rag *r, int64_t id)
{
    struct rag_curated c;
    struct kb_error err = {0};
    int64_t u;
    assert_int_equal(rag_curated_get(r, id, &c, &err), 0);
    u = c.uses;
    rag_curated_release(&c);
    return u;
}

static void test_paraphrases_en(void **state)
{
    struct fixture *fx = *state;
    static const char *const sim[] = {"Can a courier bring my parcel to my office?"};
    int64_t id = add(fx->r, "Do you deliver to business addresses?", sim, 1,
                     "Yes. Give the company name in the address; the courier hands it to your reception.");
    ask_expect(fx->r, "Can you deliver my order to a business address?", id, 1, "the courier hands it");
    /* shares only two content words (parcel, office) with the similar question */
    ask_expect(fx->r, "Will the parcel come to the office?", id, 1, "reception");
    assert_int_equal(uses_of(fx->r, id), 2);
    ask_expect(fx->r, "Do you sell a milk frother for the espresso machine?", 0, 0, NULL);
    ask_expect(fx->r, "What is the capital of Peru?", 0, 0, NULL);
    assert_int_equal(uses_of(fx->r, id), 2);
    assert_int_equal(rag_curated_delete(fx->r, id, NULL), 0);
    ask_expect(fx->r, "Can you deliver my order to a business address?", 0, 0, NULL);
}

static void test_paraphrases_zh(void **state)
{
    struct fixture *fx = *state;
    static const char *const sim[] = {"开发票要提供哪些信息"};
    int64_t id = add(fx->r, "可以开增值税专用发票吗？", sim, 1, "可以。请在下单时填写公司名称和税号，发票随货寄出。");
    ask_expect(fx->r, "能开增值税专用发票吗", id, 1, "税号");
    /* shares two content words (发票, 信息) with the similar question */
    ask_expect(fx->r, "发票需要什么信息？", id, 1, "税号");
    ask_expect(fx->r, "你们卖不卖洗碗机？", 0, 0, NULL);
    assert_int_equal(rag_curated_delete(fx->r, id, NULL), 0);
}

static void test_versions(void **state)
{
    struct fixture *fx = *state;
    struct rag_curated_input in = {.question = "Do you offer gift wrapping?", .answer = "No, not yet."};
    struct rag_curated *v = NULL;
    struct kb_error err = {0};
    int64_t id = 0;
    int n = 0;
    assert_int_equal(rag_curated_add(fx->r, &in, &id, &err), 0);
    ask_expect(fx->r, "Can you gift wrap my order?", id, 1, "not yet");
    in.answer = "Yes, gift wrapping costs 3 GBP per item.";
    assert_int_equal(rag_curated_update(fx->r, id, &in, &err), 0);
    ask_expect(fx->r, "Can you gift wrap my order?", id, 2, "3 GBP");
    assert_int_equal(rag_curated_add_similar(fx->r, id, "Is gift packaging available?", &err), 0);
    assert_int_equal(rag_curated_add_similar(fx->r, id, "Is gift packaging available?", &err), 0); /* no-op */
    assert_int_equal(rag_curated_versions(fx->r, id, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].version, 3);
    assert_int_equal(v[0].n_similar, 1);
    assert_string_equal(v[2].answer, "No, not yet.");
    assert_int_equal(v[2].version, 1);
    rag_curated_free(v, n);
    /* bad input names the field; nothing changes */
    in.answer = "  \n";
    assert_int_equal(rag_curated_update(fx->r, id, &in, &err), KB_EINVAL);
    assert_string_equal(err.msg, "answer is empty");
    in.question = "";
    in.answer = "x";
    assert_int_equal(rag_curated_add(fx->r, &in, NULL, &err), KB_EINVAL);
    assert_string_equal(err.msg, "question is empty");
    assert_int_equal(rag_curated_update(fx->r, 999999, &(struct rag_curated_input){.question = "a", .answer = "b"},
                                        &err),
                     KB_ENOENT);
    assert_int_equal(rag_curated_delete(fx->r, id, &err), 0);
    assert_int_equal(rag_curated_delete(fx->r, id, &err), KB_ENOENT);
}

static void test_hidden_and_repaired(void **state)
{
    struct fixture *fx = *state;
    struct rag_document *d = NULL;
    struct rag_curated *list = NULL;
    struct kb_error err = {0};
    int64_t id = add(fx->r, "Do you ship to the Faroe Islands?", NULL, 0, "Yes, through our Zone 4 carrier.");
    int64_t total = 0, doc = 0;
    int n = 0;
    bool csv_listed = false;
    assert_int_equal(rag_documents_list(fx->r, 0, &d, &n, &err), 0);
    for (int i = 0; i < n; i++) {
        assert_string_not_equal(d[i].mime, "application/x-kbox-curated");
        csv_listed |= strcmp(d[i].name, "shop-faq.csv") == 0;
    }
    assert_true(csv_listed);
    rag_documents_free(d, n);
    /* the imported CSV FAQ stays a document and answers with mode faq */
    {
        struct rag_ask_opts o = {.question = "Is shipping to Iceland possible?"};
        struct rag_answer a;
        assert_int_equal(rag_ask(fx->r, &o, NULL, NULL, &a, NULL, &err), 0);
        assert_string_equal(a.mode, "faq");
        assert_int_equal(a.curated_id, 0);
        assert_string_equal(a.citations[0].document, "shop-faq.csv");
        rag_answer_release(&a);
    }
    /* lose the hidden document (as a crash between the two writes would): the next open rewrites it */
    {
        struct rag_ask_opts o = {.question = "Do you ship to the Faroe Islands?"};
        struct rag_answer a;
        assert_int_equal(rag_ask(fx->r, &o, NULL, NULL, &a, NULL, &err), 0);
        assert_string_equal(a.mode, "curated");
        doc = a.citations[0].document_id;
        rag_answer_release(&a);
    }
    assert_int_equal(rag_document_delete(fx->r, doc, &err), 0);
    ask_expect(fx->r, "Do you ship to the Faroe Islands?", 0, 0, NULL);
    rag_close(fx->r);
    fx->r = NULL;
    assert_int_equal(rag_open(&fx->r, &fx->cfg, &err), 0);
    ask_expect(fx->r, "Do you ship to the Faroe Islands?", id, 1, "Zone 4");
    assert_int_equal(rag_curated_list(fx->r, 0, "Faroe", 1, 10, &list, &n, &total, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(total, 1);
    assert_int_equal(list[0].uses, 2); /* the answer before the loss and the one after */
    rag_curated_free(list, n);
    assert_int_equal(rag_curated_delete(fx->r, id, &err), 0);
}

/* An entry's cited documents follow its own passage in the answer's citations ([2], ...), with
 * their names and first passages; a cited document deleted since is left out. */
static void test_cited_documents(void **state)
{
    struct fixture *fx = *state;
    struct rag_document *d = NULL;
    struct kb_error err = {0};
    int64_t csv = 0, id = 0;
    int n = 0;
    assert_int_equal(rag_documents_list(fx->r, 0, &d, &n, &err), 0);
    for (int i = 0; i < n; i++)
        if (strcmp(d[i].name, "shop-faq.csv") == 0)
            csv = d[i].id;
    rag_documents_free(d, n);
    assert_true(csv > 0);
    {
        const int64_t cites[] = {csv, 999999};
        struct rag_curated_input in = {.question = "Which carrier brings parcels to Greenland?",
                                       .answer = "Our Zone 4 carrier, by sea freight.", .citations = cites,
                                       .n_citations = 1};
        assert_int_equal(rag_curated_add(fx->r, &in, &id, &err), 0);
        in.n_citations = 2; /* a document that does not exist is refused by name */
        assert_int_equal(rag_curated_add(fx->r, &in, NULL, &err), KB_EINVAL);
        assert_non_null(strstr(err.msg, "citations[1]"));
    }
    {
        struct rag_ask_opts o = {.question = "Which carrier brings parcels to Greenland?"};
        struct rag_answer a;
        assert_int_equal(rag_ask(fx->r, &o, NULL, NULL, &a, NULL, &err), 0);
        assert_string_equal(a.mode, "curated");
        assert_int_equal(a.n_citations, 2);
        assert_non_null(strstr(a.citations[0].text, "Q: "));
        assert_int_equal(a.citations[1].n, 2);
        assert_int_equal(a.citations[1].document_id, csv);
        assert_string_equal(a.citations[1].document, "shop-faq.csv");
        assert_true(a.citations[1].chunk_id > 0 && a.citations[1].text[0] != '\0');
        rag_answer_release(&a);
    }
    assert_int_equal(rag_curated_delete(fx->r, id, &err), 0);
}

static int64_t count_all(struct rag *r)
{
    struct rag_curated *list = NULL;
    struct kb_error err = {0};
    int64_t total = -1;
    int n = 0;
    assert_int_equal(rag_curated_list(r, 0, NULL, 1, 5, &list, &n, &total, &err), 0);
    rag_curated_free(list, n);
    return total;
}

static void test_import_export(void **state)
{
    struct fixture *fx = *state;
    static const char good[] = "\xEF\xBB\xBFsimilar_questions,question,answer,notes\r\n"
                               "\"Can I get a refund on a descaler?|Descaler money back\",Can I return descaler?,"
                               "\"Yes, unopened descaler packs within 45 days.\",x\r\n"
                               "\r\n"
                               ",Do you have a shop in Leeds?,\"No, we sell online only; \"\"click and collect\"\" "
                               "is not offered.\",\n";
    static const char bad[] = "question,similar_questions,answer\n"
                              "Is there a student discount?,,Yes: 10 percent.\n"
                              "Is there a senior discount?,,Yes: 5 percent.\n"
                              "Do you price match?,,\n";
    struct kb_error err = {0};
    struct kb_buf csv, xlsx;
    int64_t before = count_all(fx->r);
    int n = 0;
    assert_int_equal(rag_curated_import(fx->r, 0, bad, strlen(bad), NULL, &n, &err), KB_EINVAL);
    assert_string_equal(err.msg, "row 4: answer is empty");
    assert_int_equal(n, 0);
    assert_int_equal(count_all(fx->r), before); /* nothing imported */
    assert_int_equal(rag_curated_import(fx->r, 0, good, strlen(good), "csv", &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(count_all(fx->r), before + 2);
    {
        struct rag_curated *list = NULL;
        int64_t total = 0;
        int k = 0;
        assert_int_equal(rag_curated_list(fx->r, 0, "descaler", 1, 10, &list, &k, &total, &err), 0);
        assert_int_equal(k, 1);
        ask_expect(fx->r, "Can I get my money back for a descaler?", list[0].id, 1, "unopened descaler packs");
        rag_curated_free(list, k);
    }
    kb_buf_init(&csv, 0);
    kb_buf_init(&xlsx, 0);
    assert_int_equal(rag_curated_export(fx->r, 0, "csv", &csv, &err), 0);
    assert_non_null(strstr(csv.data, "\"question\",\"similar_questions\",\"answer\"\r\n"));
    assert_non_null(strstr(csv.data, "\"Can I get a refund on a descaler?\nDescaler money back\""));
    assert_non_null(strstr(csv.data, "\"\"click and collect\"\""));
    assert_int_equal(rag_curated_export(fx->r, 0, "xlsx", &xlsx, &err), 0);
    assert_memory_equal(xlsx.data, "PK\x03\x04", 4);
    /* the XLSX export imports back (told by its bytes), with the similar questions */
    assert_int_equal(rag_curated_import(fx->r, 0, xlsx.data, xlsx.len, NULL, &n, &err), 0);
    assert_int_equal(n, before + 2);
    {
        struct rag_curated *list = NULL;
        int64_t total = 0;
        int k = 0;
        assert_int_equal(rag_curated_list(fx->r, 0, "descaler", 1, 10, &list, &k, &total, &err), 0);
        assert_int_equal(total, 2);
        assert_int_equal(list[0].n_similar, 2);
        assert_string_equal(list[0].similar[1], "Descaler money back");
        rag_curated_free(list, k);
    }
    /* an XLSX with a bad row: named, nothing imported */
    {
        const char *cells[] = {"question", "similar_questions", "answer", "Ok?", "", "Fine.", "", "x", "Answer "
                                                                                                      "without a "
                                                                                                      "question."};
        struct kb_buf bx;
        int64_t mid = count_all(fx->r);
        kb_buf_init(&bx, 0);
        assert_int_equal(ingest_sheet_write(cells, 3, 3, &bx, &err), 0);
        assert_int_equal(rag_curated_import(fx->r, 0, bx.data, bx.len, "xlsx", &n, &err), KB_EINVAL);
        assert_string_equal(err.msg, "row 3: question is empty");
        assert_int_equal(count_all(fx->r), mid);
        kb_buf_release(&bx);
    }
    assert_int_equal(rag_curated_import(fx->r, 0, "a,b\n", 4, NULL, &n, &err), KB_EINVAL);
    assert_non_null(strstr(err.msg, "row 1: the header must name the columns question and answer"));
    assert_int_equal(rag_curated_import(fx->r, 0, "x", 1, "pdf", &n, &err), KB_EINVAL);
    assert_int_equal(rag_curated_import(fx->r, 0, "PK\x03\x04junk", 8, NULL, &n, &err), KB_ECORRUPT);
    kb_buf_release(&csv);
    kb_buf_release(&xlsx);
}

/* Customers' words in a curated entry (the review inbox puts them there) that a spreadsheet would
 * run as formulas go out of a CSV export behind an apostrophe and come back as they were. */
static void test_formula_guard(void **state)
{
    struct fixture *fx = *state;
    const char *sim[] = {"-1 star, why?"};
    struct rag_curated_input in = {.question = "=HYPERLINK(\"http://example.com\",\"refund\")",
                                   .similar = sim, .n_similar = 1, .answer = "@support replies within a day."};
    struct rag_curated *list = NULL;
    struct kb_error err = {0};
    struct kb_buf csv;
    int64_t id = 0, total = 0;
    int n = 0, k = 0;
    assert_int_equal(rag_curated_add(fx->r, &in, &id, &err), 0);
    kb_buf_init(&csv, 0);
    assert_int_equal(rag_curated_export(fx->r, 0, "csv", &csv, &err), 0);
    assert_non_null(strstr(csv.data, "\"'=HYPERLINK(\"\"http://example.com\"\",\"\"refund\"\")\",\"'-1 star, why?\","
                                     "\"'@support replies within a day.\"\r\n"));
    assert_non_null(strstr(csv.data, "\"question\",\"similar_questions\",\"answer\"\r\n")); /* the header as is */
    assert_int_equal(rag_curated_delete(fx->r, id, &err), 0);
    assert_int_equal(rag_curated_import(fx->r, 0, csv.data, csv.len, "csv", &n, &err), 0);
    assert_int_equal(rag_curated_list(fx->r, 0, "HYPERLINK", 1, 10, &list, &k, &total, &err), 0);
    assert_int_equal(k, 1);
    assert_string_equal(list[0].question, in.question);
    assert_string_equal(list[0].similar[0], sim[0]);
    assert_string_equal(list[0].answer, in.answer);
    assert_int_equal(rag_curated_delete(fx->r, list[0].id, &err), 0);
    rag_curated_free(list, k);
    kb_buf_release(&csv);
    (void)n;
}

struct csv_case {
    const char *in;
    int rc;
    const char *msg;  /* expected error, or NULL */
    int rows;         /* rows on success */
    const char *cell; /* on success: rows[last][0] */
};

static void test_csv_parser(void **state)
{
    static const struct csv_case cases[] = {
        {"a,b\n1,2\n", 0, NULL, 2, "1"},
        {"a,b\r\n1,2", 0, NULL, 2, "1"},
        {"a\n\"x\ny\"\n", 0, NULL, 2, "x\ny"},
        {"a\n\"say \"\"hi\"\"\"\n", 0, NULL, 2, "say \"hi\""},
        {"a\n\n\nz\n", 0, NULL, 4, "z"},
        {"a\n\"open\n", KB_EINVAL, "row 2: a quoted field is not closed", 0, NULL},
        {"a\n\"x\"y\n", KB_EINVAL, "row 2: text after a closing quote", 0, NULL},
        {"a\n\xff\xfe\n", KB_EINVAL, "the CSV file is not valid UTF-8", 0, NULL},
        {"", 0, NULL, 0, NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct rag_table t;
        struct kb_error err = {0};
        int rc = rag_curated_csv_parse(cases[i].in, strlen(cases[i].in), &t, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err.msg);
        if (cases[i].msg)
            assert_string_equal(err.msg, cases[i].msg);
        if (!rc) {
            assert_int_equal(t.n_rows, cases[i].rows);
            if (cases[i].cell)
                assert_string_equal(t.rows[t.n_rows - 1].cell[0], cases[i].cell);
        }
        rag_table_free(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_parser),
        cmocka_unit_test(test_paraphrases_en),
        cmocka_unit_test(test_paraphrases_zh),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_cited_documents),
        cmocka_unit_test(test_hidden_and_repaired),
        cmocka_unit_test(test_import_export),
        cmocka_unit_test(test_formula_guard),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
