/* tests/cli/test_backup.c: `kbox backup` and `kbox restore` (cli/cmd_backup.c, index/store_backup.c)
 * with the real binary, a real SQLite file and real FAISS:
 *   - backups taken while `kbox serve` runs on the data directory and a second process ingests
 *     hundreds of files: each restores, and the restored database holds exactly the counts its
 *     backup reported, with every document's chunks (no half-written document);
 *   - once the writer is done, a backup restored into a new directory answers searches exactly like
 *     the original, and a backup of unchanged data copies no original (incremental);
 *   - restore refuses a non-empty data directory, a directory that is no backup, a damaged original
 *     and a damaged database, each with a message naming the problem; --dry-run writes nothing;
 *   - `kbox doctor` passes a healthy data directory's database and fails a damaged one with a fix;
 *   - backup.schedule: serve writes snapshots on its own and backup.keep prunes them; a bad schedule
 *     stops the start with a message naming the key. */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "base/json.h"
#include "../cli/serve.h"
#include "../support/run.h"

#define N_FILES 1500

static struct kbox_server *running; /* the server of the running test, stopped by teardown */

static int teardown(void **state)
{
    (void)state;
    kbox_serve_reap(&running);
    return 0;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void rm_rf(const char *p)
{
    nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs kbox with args (NULL-terminated) and returns the result; the caller frees. */
static struct run_result kbox(const char *const *args)
{
    char *argv[24] = {KBOX_BIN};
    struct run_result r;
    int n = 1;
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    assert_int_equal(run_cmd(&r, argv, NULL), 0);
    return r;
}

static struct kb_json *parse_or_fail(const char *text, const char *what)
{
    struct kb_json *j = NULL;
    struct kb_error err = {0};
    if (kb_json_parse(&j, text, strlen(text), NULL, &err) != 0)
        fail_msg("%s: not JSON: %.300s", what, text);
    return j;
}

static int64_t jint(const struct kb_json *j, const char *key)
{
    return (int64_t)kb_json_num(kb_json_get(j, key));
}

/* Writes N_FILES text files with distinct vocabulary into dir. */
static void make_corpus(const char *dir)
{
    char p[512];
    mkdir(dir, 0700);
    for (int i = 0; i < N_FILES; i++) {
        FILE *f;
        snprintf(p, sizeof p, "%s/note-%03d.txt", dir, i);
        f = fopen(p, "w");
        assert_non_null(f);
        for (int k = 0; k < 12; k++)
            fprintf(f, "Note %d paragraph %d: the zorblax%d valve needs calibration code k%dq%d before the "
                       "quarterly inspection of turbine %d in hall %d.\n\n",
                    i, k, i, i, k, i * 7 + k, i % 13);
        fclose(f);
    }
}

/* The documents and chunks a data directory holds, through `kbox docs --json`; also checks each
 * indexed document has chunks. */
static void docs_counts(const char *data_dir, int64_t *n_docs, int64_t *n_chunks)
{
    const char *args[] = {"--data-dir", data_dir, "--json", "docs", NULL};
    struct run_result r = kbox(args);
    struct kb_json *j;
    if (r.exit_code != 0)
        fail_msg("kbox docs in %s: exit %d: %s", data_dir, r.exit_code, r.err);
    j = parse_or_fail(r.out, "docs --json");
    *n_docs = 0;
    *n_chunks = 0;
    for (const struct kb_json *d = kb_json_first(kb_json_get(j, "documents")); d; d = kb_json_next(d)) {
        (*n_docs)++;
        *n_chunks += jint(d, "n_chunks");
        if (!strcmp(kb_json_str(kb_json_get(d, "status")), "indexed") && jint(d, "n_chunks") < 1)
            fail_msg("%s: document %lld is indexed without chunks", data_dir, (long long)jint(d, "id"));
    }
    kb_json_free(j);
    run_result_free(&r);
}

static char *search_json(const char *data_dir, const char *q)
{
    const char *args[] = {"--data-dir", data_dir, "--json", "search", q, "--top-k", "8", NULL};
    struct run_result r = kbox(args);
    char *out;
    if (r.exit_code != 0)
        fail_msg("search in %s: exit %d: %s", data_dir, r.exit_code, r.err);
    out = r.out;
    r.out = NULL;
    run_result_free(&r);
    return out;
}

static pid_t spawn_ingest(const char *data_dir, const char *src)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(KBOX_BIN, KBOX_BIN, "--data-dir", data_dir, "ingest", src, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void test_backup_while_writing(void **state)
{
    (void)state;
    char root[] = "/tmp/kbox-backup-XXXXXX";
    char data[256], src[256], dest[256], r1[256], r2[256], snap[512] = "";
    struct kbox_server srv;
    int64_t bk_docs = -1, bk_chunks = -1, n_docs, n_chunks;
    int n_during = 0, status = 0;
    bool reaped = false;
    pid_t writer;

    assert_non_null(mkdtemp(root));
    snprintf(data, sizeof data, "%s/data", root);
    snprintf(src, sizeof src, "%s/src", root);
    snprintf(dest, sizeof dest, "%s/backups", root);
    snprintf(r1, sizeof r1, "%s/restored1", root);
    snprintf(r2, sizeof r2, "%s/restored2", root);
    make_corpus(src);
    if (kbox_serve_start(&srv, data, NULL) != 0)
        fail_msg("serve did not start: %s", srv.printed);
    running = &srv;

    writer = spawn_ingest(data, src);
    assert_true(writer > 0);
    /* back up until the writer is done; a snapshot holding some but not all documents was taken
     * mid-ingestion (whether the writer was still running when the backup returned does not matter:
     * on a quiet machine the last originals' copy outlasts the writer) */
    for (int i = 0; i < 200 && !reaped; i++) {
        const char *args[] = {"--data-dir", data, "--json", "backup", dest, NULL};
        struct run_result r = kbox(args);
        struct kb_json *j;
        int64_t docs;
        reaped = waitpid(writer, &status, WNOHANG) == writer;
        if (r.exit_code != 0)
            fail_msg("backup during ingestion: exit %d: %s", r.exit_code, r.err);
        j = parse_or_fail(r.out, "backup --json");
        assert_true(kb_json_get(j, "verified") != NULL);
        docs = jint(j, "documents");
        if (docs > 0 && docs < N_FILES) {
            n_during++;
            bk_docs = docs;
            bk_chunks = jint(j, "chunks");
            kb_strlcpy(snap, kb_json_str(kb_json_get(j, "snapshot")), sizeof snap);
        }
        kb_json_free(j);
        run_result_free(&r);
    }
    if (!reaped)
        reaped = waitpid(writer, &status, 0) == writer;
    assert_true(reaped && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (n_during == 0)
        fail_msg("no backup overlapped the writer: the test proves nothing (make the corpus bigger)");
    assert_true(bk_docs > 0 && bk_docs <= N_FILES);

    /* a backup taken mid-ingestion restores to exactly what it reported */
    {
        const char *args[] = {"--data-dir", r1, "--json", "restore", snap, NULL};
        struct run_result r = kbox(args);
        struct kb_json *j;
        if (r.exit_code != 0)
            fail_msg("restore of %s: exit %d: %s", snap, r.exit_code, r.err);
        j = parse_or_fail(r.out, "restore --json");
        assert_int_equal(jint(j, "documents"), bk_docs);
        assert_int_equal(jint(j, "chunks"), bk_chunks);
        kb_json_free(j);
        run_result_free(&r);
        docs_counts(r1, &n_docs, &n_chunks);
        assert_int_equal(n_docs, bk_docs);
        assert_int_equal(n_chunks, bk_chunks);
    }

    /* writer done: a backup restores to search results identical to the original's */
    {
        const char *bk[] = {"--data-dir", data, "--json", "backup", dest, NULL};
        const char *rs[] = {"--data-dir", r2, "restore", dest, NULL};
        const char *queries[] = {"zorblax17 valve calibration", "turbine 2001 inspection", "k250q3", "hall 5"};
        struct run_result r = kbox(bk);
        struct kb_json *j;
        int64_t o_docs, o_chunks;
        assert_int_equal(r.exit_code, 0);
        j = parse_or_fail(r.out, "backup --json");
        assert_int_equal(jint(j, "documents"), N_FILES);
        kb_json_free(j);
        run_result_free(&r);
        r = kbox(bk); /* nothing changed: nothing new to copy */
        assert_int_equal(r.exit_code, 0);
        j = parse_or_fail(r.out, "backup --json");
        assert_int_equal(jint(j, "originals_copied"), 0);
        assert_int_equal(jint(j, "originals_reused"), N_FILES);
        kb_json_free(j);
        run_result_free(&r);
        r = kbox(rs);
        if (r.exit_code != 0)
            fail_msg("restore of %s: exit %d: %s", dest, r.exit_code, r.err);
        run_result_free(&r);
        docs_counts(data, &o_docs, &o_chunks);
        docs_counts(r2, &n_docs, &n_chunks);
        assert_int_equal(n_docs, o_docs);
        assert_int_equal(n_chunks, o_chunks);
        for (size_t q = 0; q < KB_ARRAY_LEN(queries); q++) {
            char *a = search_json(data, queries[q]), *b = search_json(r2, queries[q]);
            struct kb_json *ja = parse_or_fail(a, "search --json"), *jb = parse_or_fail(b, "search --json");
            assert_non_null(strstr(a, "\"hits\":[{"));
            kb_json_remove(ja, "took_ms"); /* timing is the one field that may differ */
            kb_json_remove(jb, "took_ms");
            if (!kb_json_equal(ja, jb))
                fail_msg("search '%s' differs after restore:\n%.500s\n%.500s", queries[q], a, b);
            kb_json_free(ja);
            kb_json_free(jb);
            free(a);
            free(b);
        }
    }
    running = NULL;
    assert_int_equal(kbox_serve_stop(&srv), 0);
    rm_rf(root);
}

static void expect_fail(const char *const *args, int code, const char *err_has)
{
    struct run_result r = kbox(args);
    if (r.exit_code != code || !strstr(r.err, err_has))
        fail_msg("%s %s: exit %d (want %d), stderr '%.300s' (want '%s')", args[2], args[3], r.exit_code, code, r.err,
                 err_has);
    run_result_free(&r);
}

static void test_restore_refuses(void **state)
{
    (void)state;
    char root[] = "/tmp/kbox-restore-XXXXXX";
    char data[256], dest[256], full[256], target[256], p[512], snap[512];
    const char *samples = KBOX_SOURCE_DIR "/samples/en";
    struct run_result r;
    DIR *d;
    struct dirent *e;

    assert_non_null(mkdtemp(root));
    snprintf(data, sizeof data, "%s/data", root);
    snprintf(dest, sizeof dest, "%s/backups", root);
    snprintf(full, sizeof full, "%s/full", root);
    snprintf(target, sizeof target, "%s/target", root);
    {
        const char *ing[] = {"--data-dir", data, "ingest", samples, NULL};
        const char *bk[] = {"--data-dir", data, "backup", dest, NULL};
        r = kbox(ing);
        assert_int_equal(r.exit_code, 0);
        run_result_free(&r);
        r = kbox(bk);
        if (r.exit_code != 0)
            fail_msg("backup: %s", r.err);
        assert_non_null(strstr(r.out, "verified"));
        run_result_free(&r);
    }
    mkdir(full, 0700);
    snprintf(p, sizeof p, "%s/something", full);
    fclose(fopen(p, "w"));
    {
        const char *a1[] = {"--data-dir", full, "restore", dest, NULL};
        const char *a2[] = {"--data-dir", target, "restore", root, NULL};
        const char *a3[] = {"--data-dir", target, "restore", NULL};
        const char *a4[] = {"--data-dir", target, "backup", NULL};
        expect_fail(a1, 2, "is not empty");
        expect_fail(a2, 2, "neither a backup directory nor a snapshot");
        expect_fail(a3, 1, "no source");
        expect_fail(a4, 1, "no destination");
    }
    /* --dry-run verifies and writes nothing */
    {
        const char *a[] = {"--data-dir", target, "restore", dest, "--dry-run", NULL};
        r = kbox(a);
        assert_int_equal(r.exit_code, 0);
        assert_non_null(strstr(r.out, "dry run"));
        run_result_free(&r);
        assert_int_not_equal(access(target, F_OK), 0);
    }
    /* a damaged original in the pool */
    snprintf(p, sizeof p, "%s/originals", dest);
    d = opendir(p);
    assert_non_null(d);
    while ((e = readdir(d)) && strlen(e->d_name) != 64)
        ;
    assert_non_null(e);
    snprintf(snap, sizeof snap, "%s/originals/%s", dest, e->d_name);
    closedir(d);
    {
        FILE *f = fopen(snap, "r+");
        const char *a[] = {"--data-dir", target, "restore", dest, "--dry-run", NULL};
        assert_non_null(f);
        fputs("tampered", f);
        fclose(f);
        expect_fail(a, 2, "is damaged");
        unlink(snap); /* and a missing one */
        expect_fail(a, 2, "is missing");
    }
    /* a damaged database: a fresh backup (the pool gets the original back), then overwrite pages */
    {
        const char *bk[] = {"--data-dir", data, "--json", "backup", dest, NULL};
        const char *a[] = {"--data-dir", target, "restore", NULL, NULL};
        struct kb_json *j;
        FILE *f;
        r = kbox(bk);
        assert_int_equal(r.exit_code, 0);
        j = parse_or_fail(r.out, "backup --json");
        assert_int_equal(jint(j, "originals_copied"), 1);
        snprintf(snap, sizeof snap, "%s", kb_json_str(kb_json_get(j, "snapshot")));
        kb_json_free(j);
        run_result_free(&r);
        snprintf(p, sizeof p, "%s/kbox.db", snap);
        f = fopen(p, "r+");
        assert_non_null(f);
        fseek(f, 4096 * 3, SEEK_SET);
        for (int i = 0; i < 8192; i++)
            fputc(0x5a, f);
        fclose(f);
        a[3] = snap;
        r = kbox(a);
        if (r.exit_code == 0 || !strstr(r.err, snap))
            fail_msg("restore of a damaged database: exit %d, stderr %s", r.exit_code, r.err);
        run_result_free(&r);
        /* kbox doctor: the healthy data directory passes its database check, the damaged copy fails it */
        {
            const char *ok[] = {"--data-dir", data, "--set", "server.port=0", "--json", "doctor", NULL};
            const char *bad[] = {"--data-dir", snap, "--set", "server.port=0", "doctor", NULL};
            r = kbox(ok);
            if (r.exit_code != 0 || !strstr(r.out, "{\"check\":\"database\",\"status\":\"ok\""))
                fail_msg("doctor on a healthy data dir: exit %d, %s", r.exit_code, r.out);
            run_result_free(&r);
            r = kbox(bad);
            if (r.exit_code != 2 || !strstr(r.out, "fail  database") || !strstr(r.out, "fix: restore the latest backup"))
                fail_msg("doctor on a damaged database: exit %d, %s", r.exit_code, r.out);
            run_result_free(&r);
        }
        assert_int_not_equal(access(target, F_OK), 0);
    }
    rm_rf(root);
}

static int count_snapshots(const char *dest)
{
    char p[512];
    DIR *d;
    struct dirent *e;
    int n = 0;
    snprintf(p, sizeof p, "%s/snapshots", dest);
    if (!(d = opendir(p)))
        return 0;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_schedule(void **state)
{
    (void)state;
    char root[] = "/tmp/kbox-bksched-XXXXXX";
    char data[256], dest[256], set_dir[300];
    struct kbox_server srv;
    int n = 0;
    assert_non_null(mkdtemp(root));
    snprintf(data, sizeof data, "%s/data", root);
    snprintf(dest, sizeof dest, "%s/backups", root);
    snprintf(set_dir, sizeof set_dir, "backup.dir=%s", dest);
    {
        const char *extra[] = {"--set", set_dir, "--set", "backup.schedule=every 1s", "--set", "backup.keep=2", NULL};
        if (kbox_serve_start(&srv, data, extra) != 0)
            fail_msg("serve did not start: %s", srv.printed);
        running = &srv;
    }
    for (int i = 0; i < 100 && (n = count_snapshots(dest)) < 2; i++)
        usleep(100 * 1000);
    usleep(3500 * 1000); /* three more runs: retention must hold the count at keep */
    n = count_snapshots(dest);
    running = NULL;
    assert_int_equal(kbox_serve_stop(&srv), 0);
    assert_int_equal(n, 2);
    {
        const char *a[] = {"--data-dir", data, "--set", "backup.schedule=weekly", "--set", set_dir, "serve", "--port",
                           "0", NULL};
        const char *b[] = {"--data-dir", data, "--set", "backup.schedule=every 5m", "serve", "--port", "0", NULL};
        struct run_result r = kbox(a);
        if (r.exit_code != 2 || !strstr(r.err, "backup.schedule: 'weekly'"))
            fail_msg("bad schedule: exit %d, stderr %s", r.exit_code, r.err);
        run_result_free(&r);
        r = kbox(b);
        if (r.exit_code != 2 || !strstr(r.err, "backup.dir is empty"))
            fail_msg("schedule without dir: exit %d, stderr %s", r.exit_code, r.err);
        run_result_free(&r);
    }
    rm_rf(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_restore_refuses, teardown),
        cmocka_unit_test_teardown(test_schedule, teardown),
        cmocka_unit_test_teardown(test_backup_while_writing, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
