/* tests/rag/test_rag.c: the knowledge base end to end on the bundled samples, with a real SQLite
 * file and real FAISS in a temporary data directory: ingest samples/en and samples/zh, ask every
 * question of samples/QUESTIONS.md and check the answer and its citation; re-ingest is skipped by
 * sha256; uploads run as background jobs; delete removes a document; a setting change publishes a
 * new configuration snapshot while readers keep theirs unchanged, and saves only settings. */
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
#include "kb_fixture.h"

struct qa {
    char question[512], expected[256], file[128];
};

/* Reads the question tables of samples/QUESTIONS.md: rows "| id | question | expected | file | heading |". */
static int read_questions(const char *lang, struct qa *out, int cap)
{
    FILE *f = fopen(KBOX_SOURCE_DIR "/samples/QUESTIONS.md", "r");
    char line[2048];
    int n = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f) && n < cap) {
        char *cols[6] = {0};
        int k = 0;
        if (strncmp(line, "| ", 2) || strncmp(line + 2, lang, 2) || line[4] != '-')
            continue;
        for (char *p = line + 1; *p && k < 6; k++) {
            char *bar = strchr(p, '|');
            if (!bar)
                break;
            *bar = '\0';
            while (*p == ' ')
                p++;
            for (char *e = bar - 1; e >= p && *e == ' '; e--)
                *e = '\0';
            cols[k] = p;
            p = bar + 1;
        }
        if (k < 5)
            continue;
        snprintf(out[n].question, sizeof out[n].question, "%s", cols[1]);
        snprintf(out[n].expected, sizeof out[n].expected, "%s", cols[2]);
        snprintf(out[n].file, sizeof out[n].file, "%s", cols[3]);
        n++;
    }
    fclose(f);
    return n;
}

static int setup(void **state)
{
    const char *paths[] = {KBOX_SOURCE_DIR "/samples/en", KBOX_SOURCE_DIR "/samples/zh"};
    struct fixture *fx = kb_fixture_new("rag");
    kb_fixture_open(fx, paths, 2);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    kb_fixture_free(*state);
    return 0;
}

static void ask_all(struct fixture *fx, const char *lang)
{
    struct qa q[16];
    int n = read_questions(lang, q, 16), answered = 0, cited = 0;
    assert_true(n >= 8);
    for (int i = 0; i < n; i++) {
        struct rag_ask_opts o = {.question = q[i].question};
        struct rag_answer a;
        struct kb_error err = {0};
        bool right_doc = false;
        if (rag_ask(fx->r, &o, NULL, NULL, &a, NULL, &err))
            fail_msg("ask '%s': %s", q[i].question, err.msg);
        for (int c = 0; c < a.n_citations; c++)
            right_doc |= strcmp(a.citations[c].document, q[i].file) == 0;
        cited += right_doc;
        if (strstr(a.answer, q[i].expected))
            answered++;
        else
            print_message("  %s miss: %s -> %s\n", lang, q[i].question, a.answer);
        rag_answer_release(&a);
    }
    print_message("%s: %d/%d answers hold the expected text, %d/%d cite the right document\n", lang, answered, n,
                  cited, n);
    assert_true(cited * 10 >= n * 8);
    assert_true(answered * 10 >= n * 7);
}

static void test_ask_english(void **state)
{
    ask_all(*state, "en");
}

static void test_ask_chinese(void **state)
{
    ask_all(*state, "zh");
}

/* Questions the samples cannot answer get the fallback, not a made-up answer. */
static void test_unanswerable(void **state)
{
    struct fixture *fx = *state;
    static const char *const qs[] = {"Does Heronbrook sell a milk frother?", "鹭溪在上海有门店吗？"};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        struct rag_ask_opts o = {.question = qs[i]};
        struct rag_answer a;
        struct kb_error err = {0};
        assert_int_equal(rag_ask(fx->r, &o, NULL, NULL, &a, NULL, &err), 0);
        if (!a.fallback)
            fail_msg("'%s' answered '%s'", qs[i], a.answer);
        assert_string_equal(a.answer, fx->cfg.answer_fallback);
        assert_int_equal(a.n_citations, 0);
        rag_answer_release(&a);
    }
}

static void test_docs_and_reingest(void **state)
{
    struct fixture *fx = *state;
    struct rag_document *d;
    struct kb_error err = {0};
    int n, seen = 0;
    const char *paths[] = {KBOX_SOURCE_DIR "/samples/en"};
    assert_int_equal(rag_documents_list(fx->r, 0, &d, &n, &err), 0);
    assert_int_equal(n, 6);
    for (int i = 0; i < n; i++) {
        assert_string_equal(d[i].status, "indexed");
        assert_true(d[i].n_chunks >= 1);
        seen += !strcmp(d[i].name, "faq.md");
    }
    assert_int_equal(seen, 2);
    rag_documents_free(d, n);
    /* unchanged files are skipped: still six documents */
    assert_int_equal(rag_ingest_paths(fx->r, 0, paths, 1, false, NULL, NULL, &err), 0);
    assert_int_equal(rag_documents_list(fx->r, 0, &d, &n, &err), 0);
    assert_int_equal(n, 6);
    rag_documents_free(d, n);
}

static void test_upload_job(void **state)
{
    struct fixture *fx = *state;
    struct kb_error err = {0};
    char tmp[128], cmd[512];
    int64_t coll, doc, job;
    struct rag_job j;
    struct rag_document d;
    assert_int_equal(rag_collection_create(fx->r, "uploads", &coll, &err), 0);
    snprintf(tmp, sizeof tmp, "%s/upload.tmp", fx->dir);
    snprintf(cmd, sizeof cmd, "cp %s/samples/en/faq.md %s", KBOX_SOURCE_DIR, tmp);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(rag_upload(fx->r, coll, "faq-copy.md", tmp, &doc, &job, &err), 0);
    assert_true(doc > 0 && job > 0);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(rag_job_get(fx->r, job, &j, &err), 0);
        if (!strcmp(j.state, "done") || !strcmp(j.state, "failed"))
            break;
        usleep(50000);
    }
    assert_string_equal(j.state, "done");
    assert_int_equal(rag_document_get(fx->r, doc, &d, NULL, NULL, &err), 0);
    assert_string_equal(d.status, "indexed");
    assert_string_equal(d.name, "faq-copy.md");
    rag_document_release(&d);
    /* search restricted to the new collection finds only it */
    struct rag_search_opts so = {.query = "dry-boil protection", .collection_id = coll};
    struct rag_hit *h;
    int n;
    assert_int_equal(rag_search(fx->r, &so, &h, &n, &err), 0);
    assert_true(n >= 1);
    for (int i = 0; i < n; i++)
        assert_int_equal(h[i].document_id, doc);
    rag_hits_free(h, n);
    assert_int_equal(rag_document_delete(fx->r, doc, &err), 0);
    assert_int_equal(rag_document_get(fx->r, doc, &d, NULL, NULL, &err), KB_ENOENT);
}

/* rag_config_get hands out immutable snapshots: a change makes a new one, an old reader's stays as
 * it was, a rejected change publishes nothing, and settings.json holds only run-time settings. */
static void test_settings_snapshot(void **state)
{
    struct fixture *fx = *state;
    struct kb_error err = {0};
    const struct config *before = rag_config_get(fx->r), *after, *again;
    int64_t n = before->answer_max_sentences;
    char value[32], path[128], *text;
    int key = -1;
    FILE *f;
    for (int i = 0; i < config_n_keys(); i++)
        key = strcmp(config_key_name(i), "answer.max_sentences") ? key : i;
    snprintf(value, sizeof value, "%lld", (long long)n + 1);
    assert_int_equal(rag_setting_set(fx->r, "answer.max_sentences", value, &err), 0);
    after = rag_config_get(fx->r);
    assert_true(after != before);
    assert_int_equal(before->answer_max_sentences, n); /* the old reader's view never changes */
    assert_int_equal(after->answer_max_sentences, n + 1);
    assert_int_equal(config_key_source(after, key), CONFIG_SRC_SETTINGS);
    assert_int_equal(rag_setting_set(fx->r, "answer.max_sentences", "-3", &err), KB_ECONFIG);
    assert_int_equal(rag_setting_set(fx->r, "server.port", "1", &err), KB_EFORBIDDEN);
    again = rag_config_get(fx->r);
    assert_true(again == after); /* nothing published */
    rag_config_put(fx->r, again);
    rag_config_put(fx->r, before);

    snprintf(path, sizeof path, "%s/settings.json", fx->dir);
    f = fopen(path, "rb");
    assert_non_null(f);
    text = calloc(1, 4096);
    assert_true(fread(text, 1, 4095, f) > 0);
    fclose(f);
    assert_non_null(strstr(text, "\"answer.max_sentences\": "));
    assert_null(strstr(text, "data.dir")); /* a start-up flag is not a setting */
    free(text);
    snprintf(value, sizeof value, "%lld", (long long)n);
    assert_int_equal(rag_setting_set(fx->r, "answer.max_sentences", value, &err), 0);
    rag_config_put(fx->r, after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ask_english),
        cmocka_unit_test(test_ask_chinese),
        cmocka_unit_test(test_unanswerable),
        cmocka_unit_test(test_docs_and_reingest),
        cmocka_unit_test(test_upload_job),
        cmocka_unit_test(test_settings_snapshot),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
