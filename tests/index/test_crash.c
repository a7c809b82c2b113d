/* tests/index/test_crash.c: kill -9 during ingestion. A forked child replaces documents in a loop
 * (every version of a document carries one marker word in every chunk, and a version's chunk count
 * varies); the parent SIGKILLs it at random moments, reopens the store and checks that chunks, FTS
 * rows, embeddings and the FAISS cache agree, and that each document is exactly one whole version:
 * all its chunks carry the same marker, their number matches that version, and no other version's
 * marker is found by full-text search. Also a disk filling up mid-replace (RLIMIT_FSIZE). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

static off_t file_size(const char *dir, const char *name)
{
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &sb) == 0 ? sb.st_size : 0;
}

/* A disk that fills mid-transaction (RLIMIT_FSIZE in a child): the replace fails with a clear error,
 * rolls back, and the old version stays whole and searchable. */
static void test_disk_full_rolls_back(void **state)
{
    char *dir = idx_tmpdir();
    int status = 0;
    pid_t pid;
    (void)state;
    kb_log_set_level(KB_LOG_ERROR);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct index_embedder *emb = NULL;
        struct index_store *st = NULL;
        struct kb_error err = {0};
        struct index_doc d = {0};
        struct index_chunk c = {.text = "the original version mentions a narwhal"};
        struct index_chunk *big = calloc(400, sizeof(*big));
        char *text = malloc(8000);
        struct rlimit rl;
        off_t lim;
        int rc;
        memset(text, 0, 8000);
        for (int i = 0; i < 7990; i += 10)
            memcpy(text + i, "filler abc", 10);
        signal(SIGXFSZ, SIG_IGN);
        if (index_embedder_builtin_new(&emb, 512, &err) != 0 || idx_open(&st, dir, emb, &err) != 0)
            _exit(10);
        d.path = "/full.txt";
        if (index_doc_replace(st, &d, &c, 1, NULL, NULL, 0, NULL, &err) != 0)
            _exit(11);
        lim = KB_MAX(file_size(dir, "kbox.db"), file_size(dir, "kbox.db-wal")) + 64 * 1024;
        rl.rlim_cur = rl.rlim_max = (rlim_t)lim;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(12);
        for (int i = 0; i < 400; i++)
            big[i].text = text; /* ~3 MB of chunks + vectors: far past the limit */
        rc = index_doc_replace(st, &d, big, 400, NULL, NULL, 0, NULL, &err);
        if (rc != KB_ENOSPC && rc != KB_EIO)
            _exit(13);
        if (strstr(err.msg, "database") == NULL)
            _exit(14);
        {
            struct index_search_opts o;
            struct kb_arena a;
            struct index_hit *hits;
            int n = 0;
            memset(&o, 0, sizeof(o));
            o.top_k = 5;
            o.mode = INDEX_MODE_HYBRID;
            kb_arena_init(&a, 4096, 0);
            if (index_search(st, "narwhal", &o, &a, &hits, &n, &err) != 0 || n != 1)
                _exit(15);
        }
        _exit(0); /* no close: the vector file is not saved, the next open rebuilds it */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    {
        struct index_embedder *emb = NULL;
        struct index_store *st = NULL;
        struct kb_error err = {0};
        struct index_check c;
        struct kb_arena a;
        struct index_doc *docs;
        int n;
        kb_arena_init(&a, 4096, 0);
        assert_int_equal(index_embedder_builtin_new(&emb, 512, &err), 0);
        assert_int_equal(idx_open(&st, dir, emb, &err), 0);
        assert_int_equal(index_store_check(st, &c, &err), 0);
        assert_true(c.ok);
        assert_int_equal(c.n_chunks, 1);
        assert_int_equal(index_doc_list(st, 0, &a, &docs, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_int_equal(docs[0].n_chunks, 1);
        index_store_close(st);
        index_embedder_builtin_free(emb);
        kb_arena_release(&a);
    }
    idx_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_mid_ingest),
        cmocka_unit_test(test_disk_full_rolls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
