/* index/store_backup.c: the SQLite side of `kbox backup` and `kbox restore` (cli/cmd_backup.c):
 * a consistent copy of a live kbox.db through SQLite's online backup API, and the check of a copy.
 * It is a store*.c file because only those include sqlite3.h (index_int.h); it needs no open
 * index_store: each call opens its own connections, so a backup runs in another process while
 * `kbox serve` writes.
 *
 * Copy: source opened read-write without create (a read-only connection cannot always open a WAL
 * database whose -shm is absent) with the store's busy timeout; sqlite3_backup_step(-1) copies every
 * page inside one read transaction, so the copy is one committed snapshot, and in WAL mode writers
 * go on meanwhile. The destination is written as <dest>.tmp, switched to journal_mode=DELETE (a
 * standalone file with no -wal beside it), closed, fsynced and renamed, so a crash never leaves a
 * half-written <dest>.
 * Verify: PRAGMA integrity_check (its first complaint becomes the error), the schema version
 * (set; a newer one than this build's is refused later by index_store_open), counts of collections, documents and chunks, and the distinct
 * SHA-256 names of the originals the documents refer to (cli/ checks those files).
 * Tests: tests/cli/test_backup.c (backup while a writer ingests, restore, compare). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "index/index_int.h"

#define BACKUP_BUSY_MS 10000
#define BACKUP_MAX_RETRIES 100 /* busy or locked steps (of ~100 ms each) before giving up */

static int bk_fail(sqlite3 *db, int src, const char *what, const char *path, struct kb_error *err)
{
    int code = (src & 0xff) == SQLITE_FULL   ? KB_ENOSPC
               : (src & 0xff) == SQLITE_BUSY || (src & 0xff) == SQLITE_LOCKED ? KB_EBUSY
               : (src & 0xff) == SQLITE_CORRUPT || (src & 0xff) == SQLITE_NOTADB ? KB_ECORRUPT
               : (src & 0xff) == SQLITE_CANTOPEN ? KB_ENOENT
                                                  : KB_EIO;
    return kb_error_set(err, code, "%s '%s': %s", what, path, db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = -1;
    if (fd >= 0) {
        rc = fsync(fd);
        close(fd);
    }
    return rc;
}

/* Runs the backup from src into dst until done; busy/locked steps are retried. */
static int bk_pages(sqlite3 *src, sqlite3 *dst, const char *dest_path, struct kb_error *err)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    int rc = 0, src_rc, tries = 0;
    if (!b)
        return bk_fail(dst, sqlite3_errcode(dst), "cannot start the backup into", dest_path, err);
    for (;;) {
        src_rc = sqlite3_backup_step(b, -1);
        if (src_rc == SQLITE_DONE)
            break;
        if ((src_rc == SQLITE_BUSY || src_rc == SQLITE_LOCKED) && ++tries < BACKUP_MAX_RETRIES) {
            sqlite3_sleep(100);
            continue;
        }
        rc = bk_fail(NULL, src_rc, "cannot copy the database into", dest_path, err);
        break;
    }
    src_rc = sqlite3_backup_finish(b);
    if (rc == 0 && src_rc != SQLITE_OK)
        rc = bk_fail(dst, src_rc, "cannot finish the backup into", dest_path, err);
    return rc;
}

int index_backup_copy(const char *src_db, const char *dest_db, struct kb_error *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    char tmp[4200];
    int rc, src_rc;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", dest_db) >= sizeof tmp)
        return kb_error_set(err, KB_EINVAL, "backup path too long: '%s'", dest_db);
    if (access(src_db, F_OK) != 0) {
        rc = kb_error_set(err, KB_ENOENT, "no database at '%s'", src_db);
        goto out;
    }
    unlink(tmp);
    src_rc = sqlite3_open_v2(src_db, &src, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src_rc != SQLITE_OK) {
        rc = bk_fail(src, src_rc, "cannot open the database", src_db, err);
        goto out_close;
    }
    sqlite3_busy_timeout(src, BACKUP_BUSY_MS);
    src_rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src_rc != SQLITE_OK) {
        rc = bk_fail(dst, src_rc, "cannot create", tmp, err);
        goto out_close;
    }
    if ((rc = bk_pages(src, dst, tmp, err)))
        goto out_close;
    src_rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    if (src_rc != SQLITE_OK) {
        rc = bk_fail(dst, src_rc, "cannot finish", tmp, err);
        goto out_close;
    }
out_close:
    sqlite3_close(dst);
    sqlite3_close(src);
    if (rc == 0 && chmod(tmp, 0600) != 0) /* the database is the owner's alone, like the data directory */
        rc = kb_error_set(err, KB_EIO, "cannot chmod '%s': %s", tmp, strerror(errno));
    if (rc == 0 && fsync_path(tmp) != 0)
        rc = kb_error_set(err, KB_EIO, "cannot sync '%s': %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, dest_db) != 0)
        rc = kb_error_set(err, errno == ENOSPC ? KB_ENOSPC : KB_EIO, "cannot rename '%s': %s", tmp, strerror(errno));
    if (rc)
        unlink(tmp);
out:
    return rc;
}

static int64_t bk_count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* The first row of PRAGMA integrity_check: "ok", or the first problem. */
static int bk_integrity(sqlite3 *db, const char *path, struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int rc = 0, src = sqlite3_prepare_v2(db, "PRAGMA integrity_check(5)", -1, &s, NULL);
    if (src != SQLITE_OK) {
        rc = bk_fail(db, src, "cannot check", path, err);
        goto out;
    }
    src = sqlite3_step(s);
    if (src != SQLITE_ROW) {
        rc = bk_fail(db, src, "cannot check", path, err);
        goto out;
    }
    if (strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0)
        rc = kb_error_set(err, KB_ECORRUPT, "'%s' fails its integrity check: %s", path,
                          (const char *)sqlite3_column_text(s, 0));
out:
    sqlite3_finalize(s);
    return rc;
}

static int bk_shas(sqlite3 *db, struct kb_arena *a, struct index_backup_info *info, const char *path,
                   struct kb_error *err)
{
    sqlite3_stmt *s = NULL;
    int64_t n = bk_count(db, "SELECT count(DISTINCT sha256) FROM documents WHERE sha256 != ''");
    int rc = 0, i = 0, src;
    if (n < 0 || n > INT32_MAX / 2)
        return kb_error_set(err, KB_ECORRUPT, "'%s': cannot count the originals", path);
    info->sha256 = kb_arena_alloc(a, sizeof *info->sha256 * (size_t)(n ? n : 1));
    if (!info->sha256)
        return kb_error_set(err, KB_ENOMEM, "'%s': %lld originals do not fit in memory", path, (long long)n);
    src = sqlite3_prepare_v2(db, "SELECT DISTINCT sha256 FROM documents WHERE sha256 != '' ORDER BY sha256", -1, &s,
                             NULL);
    if (src != SQLITE_OK) {
        rc = bk_fail(db, src, "cannot list the originals of", path, err);
        goto out;
    }
    while (i < n && (src = sqlite3_step(s)) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(s, 0);
        if (!h || strlen(h) != 64 || strspn(h, "0123456789abcdef") != 64) {
            rc = kb_error_set(err, KB_ECORRUPT, "'%s': a document names an original that is not a SHA-256", path);
            goto out;
        }
        if (!(info->sha256[i++] = kb_arena_strdup(a, h))) {
            rc = kb_error_set(err, KB_ENOMEM, "'%s': out of memory listing originals", path);
            goto out;
        }
    }
    info->n_sha256 = i;
out:
    sqlite3_finalize(s);
    return rc;
}

int index_backup_verify(const char *db_path, struct kb_arena *a, struct index_backup_info *info,
                        struct kb_error *err)
{
    sqlite3 *db = NULL;
    int rc = 0, src;
    memset(info, 0, sizeof *info);
    if (access(db_path, R_OK) != 0)
        return kb_error_set(err, KB_ENOENT, "no database at '%s'", db_path);
    src = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = bk_fail(db, src, "cannot open", db_path, err);
        goto out;
    }
    sqlite3_busy_timeout(db, BACKUP_BUSY_MS);
    if ((rc = bk_integrity(db, db_path, err)))
        goto out;
    info->schema_version = (int)bk_count(db, "PRAGMA user_version");
    if (info->schema_version < 1) { /* a newer version than this build's is refused by index_store_open */
        rc = kb_error_set(err, KB_ECORRUPT, "'%s' is not a kbox database (schema version %d)", db_path,
                          info->schema_version);
        goto out;
    }
    info->n_collections = bk_count(db, "SELECT count(*) FROM collections");
    info->n_documents = bk_count(db, "SELECT count(*) FROM documents");
    info->n_chunks = bk_count(db, "SELECT count(*) FROM chunks");
    if (info->n_collections < 0 || info->n_documents < 0 || info->n_chunks < 0) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s' is not a kbox database (no documents or chunks table)", db_path);
        goto out;
    }
    rc = bk_shas(db, a, info, db_path, err);
out:
    sqlite3_close(db);
    return rc;
}
