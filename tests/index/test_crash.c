/* tests/index/test_crash.c: kill -9 during ingestion. A forked child replaces documents in a loop
 * (every version of a document carries one marker word in every chunk, and a version's chunk count
 * varies); the parent SIGKILLs it at random moments, reopens the store and checks that chunks, FTS
 * rows, embeddings and the FAISS cache agree, and that each document is exactly one whole version:
 * all its chunks carry the same marker, their number matches that version, and no other version's
 * marker is found by full-text search. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <time.h>

#include "idx_test.h"

#define N_DOCS 6

static int n_chunks_of(int version)
{
    return 1 + version % 5;
}

static void child_loop(const char *dir)
{
    struct index_embedder *emb = NULL;
    struct index_store *st = NULL;
    struct kb_error err = {0};
    if (index_embedder_builtin_new(&emb, 512, &err) != 0 || idx_open(&st, dir, emb, &err) != 0)
        _exit(2);
    for (int v = 1;; v++) {
        struct index_doc d = {0};
        struct index_chunk ch[8];
        char path[32], texts[8][160];
        int n = n_chunks_of(v);
        memset(ch, 0, sizeof(ch));
        snprintf(path, sizeof(path), "/crash/%d.txt", v % N_DOCS);
        for (int i = 0; i < n; i++) {
            snprintf(texts[i], sizeof(texts[i]), "marker v%dz chunk %d of %d for document %d with filler words", v, i,
                     n, v % N_DOCS);
            ch[i].text = texts[i];
        }
        d.path = path;
        if (index_doc_replace(st, &d, ch, n, NULL, NULL, 0, NULL, &err) != 0)
            _exit(3);
    }
}

static void check_store(const char *dir, int round)
{
    struct index_embedder *emb = NULL;
    struct index_store *st = NULL;
    struct kb_error err = {0};
    struct index_check c;
    struct kb_arena a;
    struct index_doc *docs;
    int n_docs;
    kb_arena_init(&a, 1 << 16, 0);
    assert_int_equal(index_embedder_builtin_new(&emb, 512, &err), 0);
    if (idx_open(&st, dir, emb, &err) != 0)
        fail_msg("round %d: reopen: %s", round, err.msg);
    assert_int_equal(index_store_check(st, &c, &err), 0);
    if (!c.ok)
        fail_msg("round %d: inconsistent store: chunks %lld emb %lld vec %lld fts %d vec %d", round,
                 (long long)c.n_chunks, (long long)c.n_embeddings, (long long)c.n_vectors, c.fts_ok, c.vectors_ok);
    assert_int_equal(index_doc_list(st, 0, &a, &docs, &n_docs, &err), 0);
    assert_true(n_docs <= N_DOCS);
    for (int i = 0; i < n_docs; i++) {
        struct index_chunk_row *rows;
        struct index_hit *hits;
        struct index_search_opts o;
        int n_rows, n_hits, version = -1;
        char marker[32];
        assert_int_equal(index_doc_chunks(st, docs[i].id, &a, &rows, &n_rows, &err), 0);
        assert_true(n_rows > 0);
        assert_int_equal(sscanf(rows[0].text, "marker v%dz", &version), 1);
        assert_int_equal(n_rows, n_chunks_of(version));
        for (int j = 0; j < n_rows; j++) {
            int vj = -2;
            assert_int_equal(sscanf(rows[j].text, "marker v%dz", &vj), 1);
            assert_int_equal(vj, version);
        }
        /* FTS finds exactly this version's chunks by its marker */
        snprintf(marker, sizeof(marker), "v%dz", version);
        memset(&o, 0, sizeof(o));
        o.top_k = 50;
        o.mode = INDEX_MODE_BM25;
        assert_int_equal(index_search(st, marker, &o, &a, &hits, &n_hits, &err), 0);
        assert_int_equal(n_hits, n_rows);
        for (int j = 0; j < n_hits; j++)
            assert_int_equal(hits[j].document_id, docs[i].id);
        /* and the previous version of this document left nothing behind */
        snprintf(marker, sizeof(marker), "v%dz", version - N_DOCS);
        assert_int_equal(index_search(st, marker, &o, &a, &hits, &n_hits, &err), 0);
        assert_int_equal(n_hits, 0);
    }
    index_store_close(st);
    index_embedder_builtin_free(emb);
    kb_arena_release(&a);
}

static void test_kill9_mid_ingest(void **state)
{
    char *dir = idx_tmpdir();
    unsigned seed = (unsigned)time(NULL);
    (void)state;
    kb_log_set_level(KB_LOG_ERROR);
    for (int round = 0; round < 6; round++) {
        int status = 0;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_loop(dir);
        /* let it run 150..600 ms so kills land at arbitrary points of a replace */
        usleep(150000 + (useconds_t)(rand_r(&seed) % 450000));
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            fail_msg("round %d: child exited by itself (status %d)", round, status);
        check_store(dir, round);
    }
    idx_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_mid_ingest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
