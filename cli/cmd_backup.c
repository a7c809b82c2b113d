/* cli/cmd_backup.c: `kbox backup [DEST]`, `kbox restore SRC [--dry-run]` and the backup schedule
 * that `kbox serve` runs (backup.schedule, backup.dir, backup.keep).
 *
 * Layout of a backup directory (DEST, 0700):
 *   DEST/originals/<sha256>                   the originals, shared by every snapshot (content addressed,
 *                                              so a second backup copies only originals it lacks)
 *   DEST/snapshots/<YYYYmmddTHHMMSSZ>/         one snapshot (names sort by time):
 *       kbox.db        the database, copied through SQLite's online backup API (index_backup_copy):
 *                      one consistent snapshot while `kbox serve` keeps writing
 *       settings.json  run-time settings, admin_token: copied when present
 *       manifest.json  {"format":1,"created_at":unix s,"kbox_version","schema_version","collections",
 *                       "documents","chunks","originals":[sha256...],"missing_originals":n}
 * vectors.faiss is not copied: it is a cache of the embeddings in kbox.db, rebuilt at first open.
 *
 * Backup: the snapshot is built in snapshots/.tmp-<stamp> and renamed into place only after it
 * verified: PRAGMA integrity_check, counts read back from the copy, and every original copied into
 * the pool re-read and hashed (one already in the pool is checked by size; `restore` rehashes all).
 * An original the database names but the data directory lacks (a document deleted between the
 * snapshot and the copy, or ingested without keeping one) is counted in missing_originals, not fatal.
 * Then retention: snapshots beyond backup.keep (oldest first) are removed, and pool files no kept
 * manifest names are removed with them.
 * Restore: SRC is a snapshot directory or a backup directory (its newest snapshot). The target
 * data.dir must be absent or empty (a clear refusal otherwise: nothing is merged or overwritten).
 * Everything is verified before the first byte is written (--dry-run stops there): the copy's
 * integrity and counts against the manifest, and the SHA-256 of every original.
 * Schedule: serve starts one thread (cli_backup_sched_start) that sleeps until the next due time
 * ("daily HH:MM" local time, or "every N[s|m|h|d]") and runs the same backup; failures are logged and
 * retried at the next due time. Tests: tests/cli/test_backup.c. */
#define _DEFAULT_SOURCE /* dirent d_type */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#ifdef KBOX_HAVE_RAG
#include "index/index.h"

#define BK_PATH 4200
#define BK_MANIFEST_MAX (64u << 20) /* bytes of one manifest.json */
#define BK_COPY_BUF 65536

struct bk_result {
    char snapshot[BK_PATH];   /* the snapshot directory written or read */
    struct index_backup_info info;
    int n_copied;             /* originals copied into the pool (backup) or the data dir (restore) */
    int n_reused;             /* originals already in the pool */
    int n_missing;            /* originals the database names but the data directory lacks */
    int64_t bytes_copied;     /* original bytes copied */
    int n_pruned;             /* snapshots removed by retention */
    int n_pool_removed;       /* pool files removed by retention */
    double seconds;
};

/* ---- files --------------------------------------------------------------------------------------- */

static int bk_mkdir(const char *dir, struct kb_error *err)
{
    char p[BK_PATH];
    size_t n = kb_strlcpy(p, dir, sizeof p);
    if (n >= sizeof p)
        return kb_error_set(err, KB_EINVAL, "path too long: '%s'", dir);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return kb_error_set(err, errno == ENOSPC ? KB_ENOSPC : KB_EIO, "cannot create '%s': %s", p,
                                strerror(errno));
        p[i] = c;
    }
    return 0;
}

static void bk_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Copies src to dst (through dst.tmp, fsync, rename), mode 0600. With want_hex non-NULL the source
 * bytes must hash to it and the written file is read back and hashed again. *bytes gets the size. */
static int bk_copy_file(const char *src, const char *dst, const char *want_hex, int64_t *bytes, struct kb_error *err)
{
    char tmp[BK_PATH], hex[65];
    uint8_t dig[32];
    struct kb_sha256 h;
    char *buf = kb_xmalloc(BK_COPY_BUF);
    int in = -1, out = -1, rc = 0;
    int64_t total = 0;
    ssize_t n;

    kb_sha256_init(&h);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", dst) >= sizeof tmp) {
        rc = kb_error_set(err, KB_EINVAL, "path too long: '%s'", dst);
        goto out;
    }
    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = kb_error_set(err, errno == ENOENT ? KB_ENOENT : KB_EIO, "cannot open '%s': %s", src, strerror(errno));
        goto out;
    }
    if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        rc = kb_error_set(err, errno == ENOSPC ? KB_ENOSPC : KB_EIO, "cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    while ((n = read(in, buf, BK_COPY_BUF)) > 0) {
        kb_sha256_update(&h, buf, (size_t)n);
        for (ssize_t off = 0, w; off < n; off += w)
            if ((w = write(out, buf + off, (size_t)(n - off))) < 0) {
                rc = kb_error_set(err, errno == ENOSPC ? KB_ENOSPC : KB_EIO, "cannot write '%s': %s", tmp,
                                  strerror(errno));
                goto out;
            }
        total += n;
    }
    if (n < 0 || fsync(out) != 0) {
        rc = kb_error_set(err, KB_EIO, "cannot copy '%s': %s", src, strerror(errno));
        goto out;
    }
    kb_sha256_final(&h, dig);
    kb_sha256_hex(dig, hex);
    if (want_hex && strcmp(hex, want_hex) != 0) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s' does not match its SHA-256 name (it hashes to %.12s...)", src, hex);
        goto out;
    }
    close(out);
    out = -1;
    if (want_hex) { /* read back what was written */
        close(in);
        if ((in = open(tmp, O_RDONLY | O_CLOEXEC)) < 0) {
            rc = kb_error_set(err, KB_EIO, "cannot reread '%s': %s", tmp, strerror(errno));
            goto out;
        }
        kb_sha256_init(&h);
        while ((n = read(in, buf, BK_COPY_BUF)) > 0)
            kb_sha256_update(&h, buf, (size_t)n);
        kb_sha256_final(&h, dig);
        kb_sha256_hex(dig, hex);
        if (n < 0 || strcmp(hex, want_hex) != 0) {
            rc = kb_error_set(err, KB_EIO, "'%s' reads back differently from what was written", tmp);
            goto out;
        }
    }
    if (rename(tmp, dst) != 0)
        rc = kb_error_set(err, KB_EIO, "cannot rename '%s': %s", tmp, strerror(errno));
    *bytes = total;
out:
    if (out >= 0)
        close(out);
    if (in >= 0)
        close(in);
    if (rc)
        unlink(tmp);
    free(buf);
    return rc;
}

/* SHA-256 of a whole file as hex. */
static int bk_hash_file(const char *path, char hex[65], struct kb_error *err)
{
    char *buf = kb_xmalloc(BK_COPY_BUF);
    struct kb_sha256 h;
    uint8_t dig[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    ssize_t n = 0;
    kb_sha256_init(&h);
    if (fd < 0) {
        rc = kb_error_set(err, errno == ENOENT ? KB_ENOENT : KB_EIO, "cannot open '%s': %s", path, strerror(errno));
        goto out;
    }
    while ((n = read(fd, buf, BK_COPY_BUF)) > 0)
        kb_sha256_update(&h, buf, (size_t)n);
    if (n < 0)
        rc = kb_error_set(err, KB_EIO, "cannot read '%s': %s", path, strerror(errno));
    kb_sha256_final(&h, dig);
    kb_sha256_hex(dig, hex);
    close(fd);
out:
    free(buf);
    return rc;
}

static int bk_rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[BK_PATH];
    if (!d)
        return unlink(dir);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (e->d_type == DT_DIR)
                bk_rm_tree(p);
            else
                unlink(p);
        }
    closedir(d);
    return rmdir(dir);
}

/* Snapshot names in DEST/snapshots, sorted oldest first (names are UTC stamps). Caller frees. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **bk_list_snapshots(const char *dest, int *n_out)
{
    char p[BK_PATH];
    DIR *d;
    struct dirent *e;
    char **v = NULL;
    int n = 0, cap = 0;
    snprintf(p, sizeof p, "%s/snapshots", dest);
    if ((d = opendir(p))) {
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' && strlen(e->d_name) == 16 && e->d_name[8] == 'T' && e->d_name[15] == 'Z') {
                if (n == cap)
                    v = kb_xrealloc(v, sizeof *v * (size_t)(cap = cap ? cap * 2 : 16));
                v[n++] = kb_xstrdup(e->d_name);
            }
        closedir(d);
    }
    if (n)
        qsort(v, (size_t)n, sizeof *v, cmp_str);
    *n_out = n;
    return v;
}

static void bk_free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- manifest ------------------------------------------------------------------------------------ */

static int bk_write_manifest(const char *dir, const struct bk_result *r, const bool *present, struct kb_error *err)
{
    struct kb_buf b;
    struct jw w;
    char p[BK_PATH];
    FILE *f;
    int rc = 0;
    kb_buf_init(&b, BK_MANIFEST_MAX);
    jw_init(&w, &b);
    jw_obj(&w, NULL);
    jw_int(&w, "format", 1);
    jw_int(&w, "created_at", (int64_t)time(NULL));
    jw_str(&w, "kbox_version", KBOX_VERSION);
    jw_int(&w, "schema_version", r->info.schema_version);
    jw_int(&w, "collections", r->info.n_collections);
    jw_int(&w, "documents", r->info.n_documents);
    jw_int(&w, "chunks", r->info.n_chunks);
    jw_arr(&w, "originals");
    for (int i = 0; i < r->info.n_sha256; i++)
        if (present[i])
            jw_str(&w, NULL, r->info.sha256[i]);
    jw_end_arr(&w);
    jw_int(&w, "missing_originals", r->n_missing);
    jw_end_obj(&w);
    kb_buf_putc(&b, '\n');
    snprintf(p, sizeof p, "%s/manifest.json", dir);
    if (w.rc || !(f = fopen(p, "w"))) {
        rc = kb_error_set(err, KB_EIO, "cannot write '%s'", p);
        goto out;
    }
    if (fwrite(b.data, 1, b.len, f) != b.len || fflush(f) || fsync(fileno(f)))
        rc = kb_error_set(err, KB_EIO, "cannot write '%s': %s", p, strerror(errno));
    fclose(f);
out:
    kb_buf_release(&b);
    return rc;
}

/* Reads DIR/manifest.json. Caller frees *out with kb_json_free(). */
static int bk_read_manifest(const char *dir, struct kb_json **out, struct kb_error *err)
{
    char p[BK_PATH];
    struct kb_buf b;
    char chunk[8192];
    size_t n;
    int rc = 0;
    FILE *f;
    *out = NULL;
    kb_buf_init(&b, BK_MANIFEST_MAX);
    snprintf(p, sizeof p, "%s/manifest.json", dir);
    if (!(f = fopen(p, "r"))) {
        rc = kb_error_set(err, KB_ENOENT, "'%s' is not a kbox backup snapshot (no manifest.json)", dir);
        goto out;
    }
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (kb_buf_append(&b, chunk, n))
            rc = kb_error_set(err, KB_ETOOBIG, "'%s' is larger than %u bytes", p, BK_MANIFEST_MAX);
    fclose(f);
    if (rc == 0 && kb_buf_putc(&b, '\0') == 0)
        rc = kb_json_parse(out, b.data, b.len - 1, NULL, err);
    if (rc == 0 && (kb_json_kind(*out) != KB_JSON_OBJECT || kb_json_num(kb_json_get(*out, "format")) != 1)) {
        rc = kb_error_set(err, KB_ECORRUPT, "'%s': not a kbox manifest of format 1", p);
        kb_json_free(*out);
        *out = NULL;
    }
out:
    kb_buf_release(&b);
    return rc;
}

/* ---- backup -------------------------------------------------------------------------------------- */

/* Copies the originals the snapshot names into DEST/originals (only the new ones). */
static int bk_originals(const char *data_dir, const char *dest, struct bk_result *r, bool *present,
                        struct kb_error *err)
{
    char src[BK_PATH], dst[BK_PATH];
    struct stat ss, ds;
    int rc = 0;
    for (int i = 0; i < r->info.n_sha256 && rc == 0; i++) {
        const char *h = r->info.sha256[i];
        int64_t bytes = 0;
        snprintf(src, sizeof src, "%s/originals/%s", data_dir, h);
        snprintf(dst, sizeof dst, "%s/originals/%s", dest, h);
        if (stat(src, &ss) != 0) {
            r->n_missing++;
            continue;
        }
        present[i] = true;
        if (stat(dst, &ds) == 0 && ds.st_size == ss.st_size) {
            r->n_reused++;
            continue;
        }
        rc = bk_copy_file(src, dst, h, &bytes, err);
        if (rc == KB_ENOENT) { /* deleted since the snapshot */
            present[i] = false;
            r->n_missing++;
            rc = 0;
            continue;
        }
        r->n_copied += rc == 0;
        r->bytes_copied += bytes;
    }
    return rc;
}

/* Removes snapshots beyond keep and pool files no remaining manifest names. */
static void bk_retain(const char *dest, int64_t keep, struct bk_result *r)
{
    int n = 0;
    char **snaps = bk_list_snapshots(dest, &n);
    char p[BK_PATH];
    struct kb_error err = {0};
    struct kb_json *m = NULL;
    for (int i = 0; keep > 0 && i < n - keep; i++) {
        snprintf(p, sizeof p, "%s/snapshots/%s", dest, snaps[i]);
        if (bk_rm_tree(p) == 0)
            r->n_pruned++;
    }
    if (r->n_pruned) { /* collect what the kept manifests name; any unreadable one keeps the whole pool */
        struct kb_buf names;
        bool ok = true;
        DIR *d;
        struct dirent *e;
        kb_buf_init(&names, (size_t)1 << 30);
        for (int i = n - (int)keep; i < n && ok; i++) {
            snprintf(p, sizeof p, "%s/snapshots/%s", dest, snaps[i]);
            ok = bk_read_manifest(p, &m, &err) == 0;
            for (const struct kb_json *o = ok ? kb_json_first(kb_json_get(m, "originals")) : NULL; o; o = kb_json_next(o))
                ok = ok && kb_json_str(o) && kb_buf_puts(&names, kb_json_str(o)) == 0 && kb_buf_putc(&names, '\n') == 0;
            kb_json_free(m);
            m = NULL;
        }
        snprintf(p, sizeof p, "%s/originals", dest);
        if (ok && kb_buf_putc(&names, '\0') == 0 && (d = opendir(p))) {
            while ((e = readdir(d)))
                if (strlen(e->d_name) == 64 && !strstr(names.data, e->d_name)) {
                    char f[BK_PATH];
                    snprintf(f, sizeof f, "%s/%s", p, e->d_name);
                    r->n_pool_removed += unlink(f) == 0;
                }
            closedir(d);
        }
        if (!ok)
            kb_warn("backup: kept the whole originals pool: %s", kb_error_msg(&err, KB_ECORRUPT));
        kb_buf_release(&names);
    }
    bk_free_list(snaps, n);
}

/* Copies DATA/name into DIR/name when present. */
static int bk_copy_optional(const char *from_dir, const char *to_dir, const char *name, struct kb_error *err)
{
    char src[BK_PATH], dst[BK_PATH];
    int64_t bytes;
    int rc;
    snprintf(src, sizeof src, "%s/%s", from_dir, name);
    snprintf(dst, sizeof dst, "%s/%s", to_dir, name);
    rc = bk_copy_file(src, dst, NULL, &bytes, err);
    return rc == KB_ENOENT ? 0 : rc;
}

/* One backup of cfg's data directory into dest. */
static int bk_run(const struct config *cfg, const char *dest, struct kb_arena *a, struct bk_result *r,
                  struct kb_error *err)
{
    char p[BK_PATH], tmp[BK_PATH], db[BK_PATH], stamp[32];
    double t0 = kb_now_s();
    time_t now = time(NULL);
    struct tm tm;
    bool *present = NULL;
    int rc;

    memset(r, 0, sizeof *r);
    snprintf(p, sizeof p, "%s/originals", dest);
    if ((rc = bk_mkdir(p, err)))
        goto out;
    snprintf(p, sizeof p, "%s/snapshots", dest);
    if ((rc = bk_mkdir(p, err)))
        goto out;
    for (int tries = 0;; tries++) { /* names have one-second resolution: a second backup waits for the next */
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        snprintf(r->snapshot, sizeof r->snapshot, "%s/snapshots/%s", dest, stamp);
        if (access(r->snapshot, F_OK) != 0)
            break;
        if (tries == 3) {
            rc = kb_error_set(err, KB_ECONFLICT, "snapshot '%s' exists already", r->snapshot);
            goto out;
        }
        usleep(1100 * 1000);
        now = time(NULL);
    }
    snprintf(tmp, sizeof tmp, "%s/snapshots/.tmp-%s", dest, stamp);
    bk_rm_tree(tmp);
    if ((rc = bk_mkdir(tmp, err)))
        goto out;
    snprintf(p, sizeof p, "%s/kbox.db", cfg->data_dir);
    snprintf(db, sizeof db, "%s/kbox.db", tmp);
    if ((rc = index_backup_copy(p, db, err)) || (rc = index_backup_verify(db, a, &r->info, err)))
        goto out_rm;
    present = kb_xcalloc((size_t)r->info.n_sha256 + 1, sizeof *present);
    if ((rc = bk_originals(cfg->data_dir, dest, r, present, err)))
        goto out_rm;
    if ((rc = bk_copy_optional(cfg->data_dir, tmp, "settings.json", err)) ||
        (rc = bk_copy_optional(cfg->data_dir, tmp, "admin_token", err)) ||
        (rc = bk_write_manifest(tmp, r, present, err)))
        goto out_rm;
    bk_fsync_dir(tmp);
    if (rename(tmp, r->snapshot) != 0) {
        rc = kb_error_set(err, KB_EIO, "cannot rename '%s': %s", tmp, strerror(errno));
        goto out_rm;
    }
    snprintf(p, sizeof p, "%s/snapshots", dest);
    bk_fsync_dir(p);
    bk_retain(dest, cfg->backup_keep, r);
    r->seconds = kb_now_s() - t0;
    goto out;
out_rm:
    bk_rm_tree(tmp);
out:
    free(present);
    return rc;
}

static void bk_print_result(const struct cli *c, const char *verb, const struct bk_result *r, bool dry_run)
{
    struct kb_buf b;
    struct jw w;
    if (!c->json) {
        printf("kbox: %s %s%s: %lld documents, %lld chunks, %lld collections; originals: %d copied (%lld bytes), "
               "%d already there, %d missing%s\n",
               verb, r->snapshot, dry_run ? " (dry run: nothing written)" : "", (long long)r->info.n_documents,
               (long long)r->info.n_chunks, (long long)r->info.n_collections, r->n_copied,
               (long long)r->bytes_copied, r->n_reused, r->n_missing, dry_run ? "" : "; verified");
        if (r->n_pruned)
            printf("kbox: retention removed %d old snapshots and %d originals no snapshot names\n", r->n_pruned,
                   r->n_pool_removed);
        return;
    }
    kb_buf_init(&b, 1 << 20);
    jw_init(&w, &b);
    jw_obj(&w, NULL);
    jw_str(&w, "snapshot", r->snapshot);
    jw_bool(&w, "dry_run", dry_run);
    jw_bool(&w, "verified", true);
    jw_int(&w, "schema_version", r->info.schema_version);
    jw_int(&w, "collections", r->info.n_collections);
    jw_int(&w, "documents", r->info.n_documents);
    jw_int(&w, "chunks", r->info.n_chunks);
    jw_int(&w, "originals", r->info.n_sha256 - r->n_missing);
    jw_int(&w, "originals_copied", r->n_copied);
    jw_int(&w, "originals_reused", r->n_reused);
    jw_int(&w, "originals_missing", r->n_missing);
    jw_int(&w, "bytes_copied", r->bytes_copied);
    jw_int(&w, "snapshots_pruned", r->n_pruned);
    jw_int(&w, "originals_pruned", r->n_pool_removed);
    jw_num(&w, "seconds", r->seconds);
    jw_end_obj(&w);
    kb_buf_putc(&b, '\n');
    cli_print(&b);
    kb_buf_release(&b);
}

int cmd_backup(struct cli *c)
{
    struct kb_error err = {0};
    struct kb_arena a;
    struct bk_result r;
    const char *dest = c->cfg.backup_dir;
    int rc;
    for (int i = 0; i < c->argc; i++) {
        if (c->argv[i][0] == '-')
            return cli_usage("backup", "unknown argument '%s'", c->argv[i]);
        if (i > 0)
            return cli_usage("backup", "one destination only, got '%s' too", c->argv[i]);
        dest = c->argv[i];
    }
    if (!dest[0])
        return cli_usage("backup", "no destination: give DEST or set backup.dir");
    kb_arena_init(&a, 1 << 16, (size_t)1 << 30);
    rc = bk_run(&c->cfg, dest, &a, &r, &err);
    if (rc)
        rc = cli_fail(rc, &err);
    else
        bk_print_result(c, "backup", &r, false);
    kb_arena_release(&a);
    return rc;
}

/* ---- restore ------------------------------------------------------------------------------------- */

/* SRC as a snapshot directory: itself when it has a manifest, else its newest snapshot. *pool gets
 * the originals pool (two levels up from the snapshot). */
static int rs_find(const char *src, char *snap, char *pool, struct kb_error *err)
{
    char p[BK_PATH];
    int n = 0, rc = 0;
    char **v;
    snprintf(p, sizeof p, "%s/manifest.json", src);
    if (access(p, F_OK) == 0) {
        kb_strlcpy(snap, src, BK_PATH);
        snprintf(pool, BK_PATH, "%s/../../originals", src);
        return 0;
    }
    v = bk_list_snapshots(src, &n);
    if (n == 0)
        rc = kb_error_set(err, KB_ENOENT, "'%s' is neither a backup directory nor a snapshot (no snapshots/, no manifest.json)",
                          src);
    else {
        snprintf(snap, BK_PATH, "%s/snapshots/%s", src, v[n - 1]);
        snprintf(pool, BK_PATH, "%s/originals", src);
    }
    bk_free_list(v, n);
    return rc;
}

static int rs_check_empty(const char *dir, struct kb_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return errno == ENOENT ? 0 : kb_error_set(err, KB_EIO, "cannot read data directory '%s': %s", dir, strerror(errno));
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n ? kb_error_set(err, KB_ECONFLICT,
                            "data directory '%s' is not empty (%d entries): restore only into a new or empty "
                            "directory (--data-dir DIR)", dir, n)
             : 0;
}

/* Verifies the snapshot against its manifest and the pool's originals by SHA-256. */
static int rs_verify(const char *snap, const char *pool, struct kb_arena *a, struct bk_result *r,
                     struct kb_json **manifest, struct kb_error *err)
{
    char p[BK_PATH], hex[65];
    int rc;
    snprintf(p, sizeof p, "%s/kbox.db", snap);
    if ((rc = bk_read_manifest(snap, manifest, err)) || (rc = index_backup_verify(p, a, &r->info, err)))
        return rc;
    if (kb_json_i64(kb_json_get(*manifest, "documents"), -1, INT64_MAX / 2) != r->info.n_documents ||
        kb_json_i64(kb_json_get(*manifest, "chunks"), -1, INT64_MAX / 2) != r->info.n_chunks)
        return kb_error_set(err, KB_ECORRUPT, "'%s': the database holds %lld documents and %lld chunks, the manifest says %lld and %lld",
                            snap, (long long)r->info.n_documents, (long long)r->info.n_chunks,
                            (long long)kb_json_i64(kb_json_get(*manifest, "documents"), -1, INT64_MAX / 2),
                            (long long)kb_json_i64(kb_json_get(*manifest, "chunks"), -1, INT64_MAX / 2));
    for (const struct kb_json *o = kb_json_first(kb_json_get(*manifest, "originals")); o; o = kb_json_next(o)) {
        const char *h = kb_json_str(o);
        if (!h || strlen(h) != 64 || strspn(h, "0123456789abcdef") != 64)
            return kb_error_set(err, KB_ECORRUPT, "'%s': manifest names an original that is not a SHA-256", snap);
        snprintf(p, sizeof p, "%s/%s", pool, h);
        if ((rc = bk_hash_file(p, hex, err)))
            return rc == KB_ENOENT ? kb_error_set(err, KB_ECORRUPT, "original %s is missing from '%s'", h, pool) : rc;
        if (strcmp(hex, h) != 0)
            return kb_error_set(err, KB_ECORRUPT, "original '%s' is damaged (its SHA-256 differs)", p);
        r->n_reused++;
    }
    r->n_missing = (int)kb_json_i64(kb_json_get(*manifest, "missing_originals"), 0, INT32_MAX);
    return 0;
}

static int rs_write(const char *snap, const char *pool, const char *data_dir, const struct kb_json *manifest,
                    struct bk_result *r, struct kb_error *err)
{
    char src[BK_PATH], dst[BK_PATH];
    int rc;
    snprintf(dst, sizeof dst, "%s/originals", data_dir);
    if ((rc = bk_mkdir(dst, err)))
        return rc;
    chmod(data_dir, 0700);
    for (const struct kb_json *o = kb_json_first(kb_json_get(manifest, "originals")); o && rc == 0; o = kb_json_next(o)) {
        int64_t bytes = 0;
        snprintf(src, sizeof src, "%s/%s", pool, kb_json_str(o));
        snprintf(dst, sizeof dst, "%s/originals/%s", data_dir, kb_json_str(o));
        rc = bk_copy_file(src, dst, kb_json_str(o), &bytes, err);
        r->n_copied += rc == 0;
        r->bytes_copied += bytes;
    }
    r->n_reused = 0;
    snprintf(src, sizeof src, "%s/kbox.db", snap);
    snprintf(dst, sizeof dst, "%s/kbox.db", data_dir);
    if (rc == 0)
        rc = index_backup_copy(src, dst, err);
    if (rc == 0 && (rc = bk_copy_optional(snap, data_dir, "settings.json", err)) == 0)
        rc = bk_copy_optional(snap, data_dir, "admin_token", err);
    if (rc == 0)
        bk_fsync_dir(data_dir);
    return rc;
}

int cmd_restore(struct cli *c)
{
    struct kb_error err = {0};
    struct kb_arena a;
    struct bk_result r;
    struct kb_json *manifest = NULL;
    char pool[BK_PATH];
    const char *src = NULL;
    bool dry_run = false;
    double t0 = kb_now_s();
    int rc;
    for (int i = 0; i < c->argc; i++) {
        if (!strcmp(c->argv[i], "--dry-run"))
            dry_run = true;
        else if (c->argv[i][0] == '-')
            return cli_usage("restore", "unknown argument '%s'", c->argv[i]);
        else if (src)
            return cli_usage("restore", "one source only, got '%s' too", c->argv[i]);
        else
            src = c->argv[i];
    }
    if (!src)
        return cli_usage("restore", "no source: give a backup directory or one of its snapshots");
    memset(&r, 0, sizeof r);
    kb_arena_init(&a, 1 << 16, (size_t)1 << 30);
    if ((rc = rs_find(src, r.snapshot, pool, &err)) || (rc = rs_check_empty(c->cfg.data_dir, &err)) ||
        (rc = rs_verify(r.snapshot, pool, &a, &r, &manifest, &err)))
        goto out;
    if (!dry_run && (rc = rs_write(r.snapshot, pool, c->cfg.data_dir, manifest, &r, &err)))
        goto out;
    r.seconds = kb_now_s() - t0;
    bk_print_result(c, dry_run ? "restore would read" : "restored from", &r, dry_run);
    if (!c->json && !dry_run)
        printf("kbox: into %s; the vector index is rebuilt from the database at the first start\n", c->cfg.data_dir);
out:
    if (rc)
        rc = cli_fail(rc, &err);
    kb_json_free(manifest);
    kb_arena_release(&a);
    return rc;
}

/* ---- schedule (run by serve) --------------------------------------------------------------------- */

struct cli_backup_sched {
    const struct config *cfg;      /* borrowed; valid until stop */
    int kind;                      /* 1 daily at hh:mm, 2 every interval_s */
    int hh, mm;
    int64_t interval_s;
    pthread_t th;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    int n_runs;                    /* backups attempted */
};

/* Parses backup.schedule: "daily HH:MM" or "every N[s|m|h|d]" (seconds are for tests). */
static int sched_parse(struct cli_backup_sched *s, const char *spec, struct kb_error *err)
{
    int hh = -1, mm = -1, used = 0;
    long long n = 0;
    char unit = 0;
    if (sscanf(spec, "daily %d:%d%n", &hh, &mm, &used) == 2 && !spec[used] && hh >= 0 && hh < 24 && mm >= 0 &&
        mm < 60) {
        s->kind = 1;
        s->hh = hh;
        s->mm = mm;
        return 0;
    }
    if (sscanf(spec, "every %lld%c%n", &n, &unit, &used) == 2 && !spec[used] && n > 0 && n <= 100000 &&
        (unit == 's' || unit == 'm' || unit == 'h' || unit == 'd')) {
        s->kind = 2;
        s->interval_s = n * (unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 86400);
        return 0;
    }
    return kb_error_set(err, KB_ECONFIG, "backup.schedule: '%s' is neither \"daily HH:MM\" nor \"every N\" with "
                                         "N like 90m, 6h or 1d", spec);
}

/* Seconds from now until the next run. */
static int64_t sched_wait_s(const struct cli_backup_sched *s)
{
    time_t now = time(NULL), next;
    struct tm tm;
    if (s->kind == 2)
        return s->interval_s;
    localtime_r(&now, &tm);
    tm.tm_hour = s->hh;
    tm.tm_min = s->mm;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    next = mktime(&tm);
    if (next <= now) {
        tm.tm_mday += 1;
        tm.tm_isdst = -1;
        next = mktime(&tm);
    }
    return (int64_t)(next - now);
}

static void *sched_main(void *ud)
{
    struct cli_backup_sched *s = ud;
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)sched_wait_s(s);
        while (!s->stop && pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
            ;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->lock);
        {
            struct kb_error err = {0};
            struct kb_arena a;
            struct bk_result r;
            int rc;
            kb_arena_init(&a, 1 << 16, (size_t)1 << 30);
            rc = bk_run(s->cfg, s->cfg->backup_dir, &a, &r, &err);
            if (rc)
                kb_log_error("scheduled backup into %s failed: %s", s->cfg->backup_dir, kb_error_msg(&err, rc));
            else
                kb_info("scheduled backup: %s (%lld documents, %lld chunks, %d new originals, %.1f s)", r.snapshot,
                        (long long)r.info.n_documents, (long long)r.info.n_chunks, r.n_copied, r.seconds);
            kb_arena_release(&a);
        }
        pthread_mutex_lock(&s->lock);
        s->n_runs++;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int cli_backup_sched_start(struct cli_backup_sched **out, const struct config *cfg, struct kb_error *err)
{
    struct cli_backup_sched *s;
    int rc;
    *out = NULL;
    if (!cfg->backup_schedule[0])
        return 0;
    if (!cfg->backup_dir[0])
        return kb_error_set(err, KB_ECONFIG, "backup.schedule is set but backup.dir is empty: say where backups go");
    s = kb_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    if ((rc = sched_parse(s, cfg->backup_schedule, err))) {
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (pthread_create(&s->th, NULL, sched_main, s) != 0) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return kb_error_set(err, KB_EINTERNAL, "cannot start the backup scheduler thread");
    }
    kb_info("backups: %s into %s, keeping %lld", cfg->backup_schedule, cfg->backup_dir, (long long)cfg->backup_keep);
    *out = s;
    return 0;
}

void cli_backup_sched_stop(struct cli_backup_sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->th, NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

#else

int cmd_backup(struct cli *c)
{
    (void)c;
    return cli_not_built("backup");
}

int cmd_restore(struct cli *c)
{
    (void)c;
    return cli_not_built("restore");
}

#endif
