/* tests/ingest/test_samples.c: the bundled samples in every format against samples/QUESTIONS.md.
 *
 * For each question row (id | question | expected | file | heading) the expected snippet must come
 * out of ingestion in some chunk of that file, after collapsing whitespace as QUESTIONS.md says:
 * in the original Markdown/HTML/text (with exactly the expected heading path), and in the generated
 * samples/formats/<lang>/<name>.{docx,pdf} (same heading path; PDF chunks also carry a page) and
 * .{pptx,xlsx} (the snippet must be there; slides and sheets have their own headings). Also: the
 * same files parsed on four threads at once give the single-thread chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"

#define SAMPLES KBOX_SOURCE_DIR "/samples"

struct question {
    char id[16], expected[256], file[64], heading[256];
};

static struct question qs[64];
static size_t n_qs;
static struct config cfg;

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '`'))
        s[--n] = '\0';
    size_t k = 0;
    while (s[k] == ' ' || s[k] == '`')
        k++;
    memmove(s, s + k, strlen(s + k) + 1);
}

static int setup(void **state)
{
    (void)state;
    config_init(&cfg);
    size_t n;
    char *md = fx_read(SAMPLES "/QUESTIONS.md", &n);
    if (!md)
        return -1;
    for (char *line = md; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if ((strncmp(line, "| en-", 5) == 0 || strncmp(line, "| zh-", 5) == 0) && n_qs < 64) {
            char *cols[6] = {0};
            int k = 0;
            for (char *p = line + 1; k < 6 && p;) {
                char *bar = strchr(p, '|');
                if (bar)
                    *bar = '\0';
                cols[k++] = p;
                p = bar ? bar + 1 : NULL;
            }
            if (k >= 5) {
                struct question *q = &qs[n_qs++];
                snprintf(q->id, sizeof q->id, "%s", cols[0]);
                snprintf(q->expected, sizeof q->expected, "%s", cols[2]);
                snprintf(q->file, sizeof q->file, "%s", cols[3]);
                snprintf(q->heading, sizeof q->heading, "%s", cols[4]);
                trim(q->id), trim(q->expected), trim(q->file), trim(q->heading);
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(md);
    return n_qs >= 10 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    config_release(&cfg);
    return 0;
}

/* Collapses whitespace runs to one space, in place. */
static void collapse(char *s)
{
    size_t o = 0;
    bool sp = false;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == ' ' || s[i] == '\n' || s[i] == '\t') {
            sp = o > 0;
            continue;
        }
        if (sp)
            s[o++] = ' ';
        sp = false;
        s[o++] = s[i];
    }
    s[o] = '\0';
}

/* Checks every question about `base` (file name without extension) in the document at path. */
static void check_doc(const char *lang, const char *path, const char *base, bool check_heading, bool check_page)
{
    int rc;
    struct kb_error err = {0};
    struct ingest_doc *d = fx_parse_file(&cfg, path, &rc, &err);
    if (!d)
        fail_msg("%s: %s", path, err.msg);
    size_t checked = 0;
    for (size_t i = 0; i < n_qs; i++) {
        const struct question *q = &qs[i];
        if (strncmp(q->id, lang, 2) != 0 || strncmp(q->file, base, strlen(base)) != 0 || q->file[strlen(base)] != '.')
            continue;
        bool found = false, heading_ok = false, page_ok = false;
        for (size_t c = 0; c < d->n_chunks && !(found && heading_ok && page_ok); c++) {
            char *t = kb_xstrdup(d->chunks[c].text);
            collapse(t);
            if (strstr(t, q->expected)) {
                found = true;
                heading_ok |= strcmp(d->chunks[c].heading_path, q->heading) == 0;
                page_ok |= d->chunks[c].page_first > 0 && d->chunks[c].page_first <= d->chunks[c].page_last;
            }
            free(t);
        }
        if (!found)
            fail_msg("%s: %s: snippet '%s' is in no chunk", path, q->id, q->expected);
        if (check_heading && !heading_ok)
            fail_msg("%s: %s: no chunk with '%s' has heading path '%s'", path, q->id, q->expected, q->heading);
        if (check_page && !page_ok)
            fail_msg("%s: %s: chunk with '%s' has no page", path, q->id, q->expected);
        checked++;
    }
    assert_true(checked >= 3);
    ingest_doc_free(d);
}

static void run_lang(const char *lang)
{
    static const char *const files[] = {"employee-handbook.txt", "faq.md", "returns-shipping.html"};
    for (size_t f = 0; f < 3; f++) {
        char base[64], path[1024];
        snprintf(base, sizeof base, "%.*s", (int)(strrchr(files[f], '.') - files[f]), files[f]);
        snprintf(path, sizeof path, SAMPLES "/%s/%s", lang, files[f]);
        check_doc(lang, path, base, true, false);
        static const struct {
            const char *ext;
            bool heading, page;
        } gen[] = {{"docx", true, false}, {"pdf", true, true}, {"pptx", false, false}, {"xlsx", false, false}};
        for (size_t g = 0; g < KB_ARRAY_LEN(gen); g++) {
            snprintf(path, sizeof path, SAMPLES "/formats/%s/%s.%s", lang, base, gen[g].ext);
            check_doc(lang, path, base, gen[g].heading, gen[g].page);
        }
    }
}

static void test_samples_en(void **state)
{
    (void)state;
    run_lang("en");
}

static void test_samples_zh(void **state)
{
    (void)state;
    run_lang("zh");
}

/* Parses run on several threads at once (rag/ ingests with workers): four threads parse every
 * sample format and must get exactly the single-thread chunks. */
#define N_THREAD_FILES 8
static const char *const thread_files[N_THREAD_FILES] = {
    "en/returns-shipping.html", "zh/faq.md", "formats/en/faq.docx", "formats/zh/returns-shipping.pdf",
    "formats/en/returns-shipping.xlsx", "formats/zh/employee-handbook.pptx", "formats/en/employee-handbook.pdf",
    "zh/employee-handbook.txt"};

struct thread_job {
    size_t n_chunks[N_THREAD_FILES];
    char *last_chunk[N_THREAD_FILES];
    int failures;
};

static void *thread_main(void *arg)
{
    struct thread_job *j = arg;
    for (int round = 0; round < 3; round++) {
        for (int f = 0; f < N_THREAD_FILES; f++) {
            char path[1024];
            snprintf(path, sizeof path, SAMPLES "/%s", thread_files[f]);
            int rc;
            struct kb_error err = {0};
            struct ingest_doc *d = fx_parse_file(&cfg, path, &rc, &err);
            if (!d) {
                j->failures++;
                continue;
            }
            j->n_chunks[f] = d->n_chunks;
            free(j->last_chunk[f]);
            j->last_chunk[f] = kb_xstrdup(d->chunks[d->n_chunks - 1].text);
            ingest_doc_free(d);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct thread_job serial = {0}, jobs[4];
    memset(jobs, 0, sizeof jobs);
    thread_main(&serial);
    assert_int_equal(serial.failures, 0);
    pthread_t th[4];
    for (int t = 0; t < 4; t++)
        assert_int_equal(pthread_create(&th[t], NULL, thread_main, &jobs[t]), 0);
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < 4; t++) {
        assert_int_equal(jobs[t].failures, 0);
        for (int f = 0; f < N_THREAD_FILES; f++) {
            assert_int_equal(jobs[t].n_chunks[f], serial.n_chunks[f]);
            assert_string_equal(jobs[t].last_chunk[f], serial.last_chunk[f]);
            free(jobs[t].last_chunk[f]);
        }
    }
    for (int f = 0; f < N_THREAD_FILES; f++)
        free(serial.last_chunk[f]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_en),
        cmocka_unit_test(test_samples_zh),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
