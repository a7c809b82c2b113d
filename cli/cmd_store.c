/* cli/cmd_store.c: `kbox store migrate --from A --to B [--json]`: moves a whole store between the
 * SQLite backend (sqlite:DATA_DIR) and PostgreSQL (postgres:URL), either way, through
 * index_store_migrate() (index/migrate.c: one transaction per document, resumable, verified by
 * counts and per-document digests). The password of a postgres side comes from store.password_file
 * or libpq's usual sources. Output: one line, or with --json one object {from, to, collections,
 * documents, chunks, vectors, originals, copied, already_present, rows, rows_copied, checksum, verified,
 * seconds}; rows: the log, curated answers, accounts, audit and bots.
 * Tests: tests/index/test_pg_migrate.c (test_cli). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#ifdef KBOX_HAVE_RAG
#include "index/index.h"

static void store_print(const struct cli *c, const struct index_migrate_opts *o, const struct index_migrate_report *r,
                        double seconds)
{
    struct kb_buf b;
    struct jw w;
    if (!c->json) {
        printf("kbox: migrated %s -> %s: %lld collections, %lld documents (%lld copied now, %lld already there), "
               "%lld chunks, %lld vectors, %lld originals, %lld log/curated/account/bot rows; verified, checksum %s\n",
               o->from, o->to, (long long)r->n_collections, (long long)r->n_documents, (long long)r->n_copied,
               (long long)r->n_present, (long long)r->n_chunks, (long long)r->n_vectors, (long long)r->n_originals,
               (long long)r->n_rows, r->checksum);
        return;
    }
    kb_buf_init(&b, 1 << 16);
    jw_init(&w, &b);
    jw_obj(&w, NULL);
    jw_str(&w, "from", o->from);
    jw_str(&w, "to", o->to);
    jw_int(&w, "collections", r->n_collections);
    jw_int(&w, "documents", r->n_documents);
    jw_int(&w, "chunks", r->n_chunks);
    jw_int(&w, "vectors", r->n_vectors);
    jw_int(&w, "originals", r->n_originals);
    jw_int(&w, "copied", r->n_copied);
    jw_int(&w, "already_present", r->n_present);
    jw_int(&w, "rows", r->n_rows);
    jw_int(&w, "rows_copied", r->n_rows_copied);
    jw_str(&w, "checksum", r->checksum);
    jw_bool(&w, "verified", r->verified);
    jw_num(&w, "seconds", seconds);
    jw_end_obj(&w);
    kb_buf_putc(&b, '\n');
    cli_print(&b);
    kb_buf_release(&b);
}

static int store_migrate(struct cli *c, int argc, char **argv)
{
    struct index_migrate_opts o;
    struct index_migrate_report r;
    struct kb_error err = {0};
    double t0 = kb_now_s();
    int rc;
    memset(&o, 0, sizeof o);
    for (int i = 0; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--from") ? &o.from : !strcmp(argv[i], "--to") ? &o.to : NULL;
        if (!slot)
            return cli_usage("store", "unknown argument '%s'", argv[i]);
        if (i + 1 >= argc)
            return cli_usage("store", "%s needs a value: sqlite:DATA_DIR or postgres:URL", argv[i]);
        *slot = argv[++i];
    }
    if (!o.from || !o.to)
        return cli_usage("store", "migrate needs --from and --to (sqlite:DATA_DIR or postgres:URL)");
    o.password_file = c->cfg.store_password_file;
    rc = index_store_migrate(&o, &r, &err);
    if (rc)
        return cli_fail(rc, &err);
    store_print(c, &o, &r, kb_now_s() - t0);
    return CLI_EXIT_OK;
}

int cmd_store(struct cli *c)
{
    if (c->argc < 1)
        return cli_usage("store", "expected a subcommand: migrate");
    if (!strcmp(c->argv[0], "migrate"))
        return store_migrate(c, c->argc - 1, c->argv + 1);
    return cli_usage("store", "unknown subcommand '%s' (expected migrate)", c->argv[0]);
}

#else

int cmd_store(struct cli *c)
{
    (void)c;
    return cli_not_built("store");
}

#endif
