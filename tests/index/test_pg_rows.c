/* tests/index/test_pg_rows.c: the conversation log and curated answers shared through PostgreSQL
 * (index/pg_rows.c, schema 4) by two stores with their own data dirs (two nodes) on one private
 * PostgreSQL 15 cluster (tests/support/pgcluster.c): exchanges logged on either node (one
 * conversation continued across them) give both nodes the same messages, ids and statistics (the
 * rollups /api/stats reads); feedback, review states, a conversation's deletion and a purge made on
 * one node show on the other; message ids handed out by the two nodes never meet; a third node
 * started later rebuilds all of it. Curated answers written on A are read on B, B's edit is a new
 * version A sees with its history, a use counted on B reaches A, a deletion on B removes it on A.
 * PostgreSQL stopped: these writes fail with KB_EBUSY and nothing changes, reads keep answering.
 * Handoffs (pg_handoff.c, schema 6): a take raced from two nodes is decided in PostgreSQL, event
 * seqs stay unique across nodes, the change hook fires on the other node, a due notification is
 * leased to the node that listed it, a third node rebuilds them. Collections' handoff settings
 * (schema 7) follow the same way (test_coll_handoff_two_nodes); heartbeats, presence and the
 * pruning of vectors no node needs (pg_nodes.c: test_nodes_presence_prune).
 * Skipped with a message when PostgreSQL 15 is not installed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "idx_test.h"
#include "index/pg.h"
#include "../support/pgcluster.h"
#include "../support/pgfixture.h"


struct node {
    char *dir;
    struct index_store *st;
};

static void node_open(struct node *n)
{
    struct index_open_opts o;
    struct kb_error err = {0};
    memset(&o, 0, sizeof o);
    if (!n->dir)
        n->dir = idx_tmpdir();
    o.data_dir = n->dir;
    o.embedder = g_emb;
    o.ann_threshold = 200000;
    o.pg_url = g_pg.url;
    o.pg_poll_s = 1;
    if (index_store_open(&n->st, &o, &err) != 0)
        fail_msg("node_open: %s", err.msg);
}

static void node_close(struct node *n)
{
    index_store_close(n->st);
    n->st = NULL;
    idx_rm_rf(n->dir);
    free(n->dir);
    n->dir = NULL;
}

/* Waits (up to 10 s) until n's cache has applied every change in the database. */
static void wait_caught_up(struct node *n)
{
    pg_wait_applied(n->st);
}

/* The first value of sql (a count) read from PostgreSQL directly. */
static int64_t pg_count(const char *sql)
{
    struct pg_db *db = NULL;
    struct kb_error err = {0};
    struct kb_arena a;
    struct pg_rows r = {0};
    int64_t v = -1;
    kb_arena_init(&a, 0, 0);
    assert_int_equal(pg_db_open(&db, g_pg.url, NULL, false, &err), 0);
    assert_int_equal(pg_query(db, sql, 0, NULL, &a, &r, "count", &err), 0);
    assert_int_equal(r.n, 1);
    kb_parse_i64(r.v[0], &v);
    pg_db_close(db);
    kb_arena_release(&a);
    return v;
}

#define SECRET1 "0123456789abcdef0123456789abcdef"
#define SECRET2 "fedcba9876543210fedcba9876543210"

static struct index_log_exchange exchange(int64_t id, const char *secret, const char *q, bool fallback,
                                          int64_t created_at)
{
    struct index_log_exchange x = {
        .message_id = id, .secret = secret, .client_key = "", .channel = "ui", .question = q, .qnorm = q,
        .answer = fallback ? "I do not know." : "Press the button.", .mode = fallback ? "fallback" : "extractive",
        .model = "", .fallback = fallback, .confidence = fallback ? 0.1 : 0.9, .latency_ms = 42,
        .citations = "[{\"n\":1,\"document_id\":7,\"chunk_id\":9,\"document\":\"manual.pdf\",\"page\":2}]",
        .created_at = created_at};
    return x;
}

/* What a node's log looks like: every message (id, conversation, vote, review) in one string. */
struct log_dump {
    char buf[4096];
    size_t len;
    int n;
};

static int dump_row(void *ud, const struct index_log_row *r)
{
    struct log_dump *d = ud;
    d->len += (size_t)snprintf(d->buf + d->len, sizeof d->buf - d->len, "%lld/%lld/%d/%s/%s;", (long long)r->id,
                               (long long)r->conversation_id, r->vote, r->review, r->question);
    d->n++;
    return 0;
}

static void dump_log(struct node *n, struct log_dump *d)
{
    struct index_log_filter f = {0};
    struct kb_error err = {0};
    memset(d, 0, sizeof *d);
    assert_int_equal(index_log_each(n->st, &f, dump_row, d, &err), 0);
}

static void stats(struct node *n, struct index_log_stats *s, struct kb_arena *a)
{
    struct kb_error err = {0};
    assert_int_equal(index_log_stats(n->st, 0, 0, 0, a, s, &err), 0);
}

static int64_t inbox(struct node *n)
{
    struct index_log_filter f = {.low_confidence = 0.5, .limit = 50};
    struct log_dump d = {0};
    int64_t total = 0;
    struct kb_error err = {0};
    assert_int_equal(index_log_review(n->st, &f, dump_row, &d, &total, &err), 0);
    return total;
}

static void test_log_two_nodes(void **state)
{
    struct node a = {0}, b = {0}, c = {0};
    struct kb_error err = {0};
    struct kb_arena ar;
    struct index_log_stats sa, sb;
    struct log_dump da, db;
    int64_t ida = 0, idb = 0, now = (int64_t)time(NULL), n_del = 0;
    (void)state;
    NEED_PG();
    kb_arena_init(&ar, 0, 0);
    node_open(&a);
    node_open(&b);
    /* each node hands out message ids from its own block */
    assert_int_equal(index_log_next_id(a.st, &ida, &err), 0);
    assert_int_equal(index_log_next_id(b.st, &idb, &err), 0);
    assert_true(ida > 0 && idb > 0);
    assert_true(idb - ida >= (INT64_C(1) << 32) || ida - idb >= (INT64_C(1) << 32));
    {
        struct index_log_exchange xa[3] = {exchange(ida, SECRET1, "how do i reset", false, 0),
                                           exchange(ida + 1, SECRET1, "where is the fuse", true, 0),
                                           exchange(ida + 2, SECRET2, "how do i reset", false, now - 10 * 86400)};
        struct index_log_exchange xb[2] = {exchange(idb, SECRET1, "how do i reset", false, 0),
                                           exchange(idb + 1, SECRET2, "warranty", false, 0)};
        assert_int_equal(index_log_append(a.st, xa, 3, 0, &err), 0);
        assert_int_equal(index_log_append(b.st, xb, 2, 0, &err), 0);
    }
    wait_caught_up(&a);
    wait_caught_up(&b);
    dump_log(&a, &da);
    dump_log(&b, &db);
    assert_int_equal(da.n, 5);
    assert_string_equal(da.buf, db.buf); /* same ids, same conversations (SECRET1 continued on B) */
    stats(&a, &sa, &ar);
    stats(&b, &sb, &ar);
    assert_int_equal(sa.n_questions, 5);
    assert_int_equal(sb.n_questions, 5);
    assert_int_equal(sb.n_fallback, 1);
    assert_true(sb.n_top > 0);
    assert_string_equal(sb.top[0].key, "how do i reset");
    assert_int_equal(sb.top[0].n, 3);
    assert_true(sb.n_docs > 0);
    assert_int_equal(sb.docs[0].n, 5);
    /* feedback on B (the secret must match), seen on A with the inbox */
    assert_int_equal(index_log_feedback(b.st, ida, SECRET2, -1, "wrong", &err), KB_ENOENT);
    assert_int_equal(index_log_feedback(b.st, ida, SECRET1, -1, "not helpful", &err), 0);
    wait_caught_up(&a);
    stats(&a, &sa, &ar);
    assert_int_equal(sa.n_down, 1);
    assert_int_equal(inbox(&a), 2); /* the thumbs-down and the fallback */
    assert_int_equal(index_log_review_set(a.st, ida + 1, "dismissed", &err), 0);
    assert_int_equal(index_log_review_set(a.st, 999, "dismissed", &err), KB_ENOENT);
    wait_caught_up(&b);
    assert_int_equal(inbox(&b), 1);
    /* a vote changed on A replaces the one given on B everywhere */
    assert_int_equal(index_log_feedback(a.st, ida, SECRET1, 1, "", &err), 0);
    wait_caught_up(&b);
    stats(&b, &sb, &ar);
    assert_int_equal(sb.n_down, 0);
    assert_int_equal(sb.n_up, 1);
    /* the purge on A of what is older than 5 days: one message; its conversation keeps the other */
    assert_int_equal(index_log_purge(a.st, now - 5 * 86400, &n_del, &err), 0);
    assert_int_equal(n_del, 1);
    wait_caught_up(&b);
    stats(&b, &sb, &ar);
    assert_int_equal(sb.n_questions, 4);
    /* deleting SECRET2's conversation on B takes its message on A too */
    {
        int64_t conv = 0;
        struct index_log_filter f = {0};
        struct log_dump d = {0};
        assert_int_equal(index_log_each(b.st, &f, dump_row, &d, &err), 0);
        assert_non_null(strstr(d.buf, "warranty"));
        assert_int_equal(index_log_collection_of(b.st, false, idb + 1, &conv, &err), 0);
        conv = 0;
        {
            /* the conversation id is the second field of the warranty row */
            const char *p = strstr(d.buf, "warranty");
            while (p > d.buf && p[-1] != ';')
                p--;
            long long skip_id = 0, cid = 0;
            assert_int_equal(sscanf(p, "%lld/%lld/", &skip_id, &cid), 2);
            conv = cid;
        }
        assert_int_equal(index_log_conversation_delete(b.st, conv, &err), 0);
        assert_int_equal(index_log_conversation_delete(b.st, conv, &err), KB_ENOENT);
    }
    wait_caught_up(&a);
    stats(&a, &sa, &ar);
    assert_int_equal(sa.n_questions, 3);
    dump_log(&a, &da);
    dump_log(&b, &db);
    assert_string_equal(da.buf, db.buf);
    /* a node started now rebuilds the same log from the database */
    node_open(&c);
    wait_caught_up(&c);
    {
        struct log_dump dc;
        struct index_log_stats sc;
        dump_log(&c, &dc);
        assert_string_equal(dc.buf, da.buf);
        stats(&c, &sc, &ar);
        assert_int_equal(sc.n_questions, 3);
        assert_int_equal(sc.n_up, 1);
    }
    /* PostgreSQL down: writes fail with KB_EBUSY, nothing changes, reads answer from the cache;
     * logged answers are spooled on the node (pg_rows.c), in order */
    assert_int_equal(pgcluster_stop(&g_pg), 0);
    assert_int_equal(index_log_feedback(b.st, ida, SECRET1, -1, "", &err), KB_EBUSY);
    {
        struct index_log_exchange x[2] = {exchange(idb + 2, SECRET1, "offline", false, 0),
                                          exchange(idb + 3, SECRET2, "offline too", true, 0)};
        assert_int_equal(index_log_append(b.st, &x[0], 1, 0, &err), 0);
        assert_int_equal(index_log_append(b.st, &x[1], 1, 0, &err), 0);
        assert_int_equal(pg_rows_spool_count(b.st), 2);
    }
    stats(&b, &sb, &ar);
    assert_int_equal(sb.n_questions, 3);
    assert_int_equal(sb.n_up, 1);
    assert_int_equal(pgcluster_resume(&g_pg), 0);
    assert_int_equal(index_log_feedback(b.st, ida, SECRET1, -1, "", &err), 0);
    {   /* B's sync thread sends the spool (poll_s 1); each row reaches PostgreSQL and A once */
        double t0 = now_s();
        while (pg_rows_spool_count(b.st) != 0 && now_s() - t0 < 10)
            usleep(50000);
        assert_int_equal(pg_rows_spool_count(b.st), 0);
    }
    wait_caught_up(&a);
    stats(&a, &sa, &ar);
    assert_int_equal(sa.n_down, 1);
    assert_int_equal(sa.n_up, 0);
    assert_int_equal(sa.n_questions, 5);
    assert_int_equal(pg_count("SELECT count(*) FROM messages WHERE question LIKE 'offline%'"), 2);
    {   /* a flush cut short after its commit (the row still spooled) sends nothing twice */
        struct index_log_exchange x = exchange(idb + 2, SECRET1, "offline", false, 0);
        int64_t sent = -1;
        assert_int_equal(pg_rows_spool_open(b.st, &err), 0);
        assert_int_equal(pgcluster_stop(&g_pg), 0);
        assert_int_equal(index_log_append(b.st, &x, 1, 0, &err), 0);
        assert_int_equal(pgcluster_resume(&g_pg), 0);
        /* the thread or this call sends it; either way PostgreSQL keeps one row */
        (void)pg_rows_spool_flush(b.st, &sent);
        assert_int_equal(pg_rows_spool_count(b.st), 0);
        assert_int_equal(pg_count("SELECT count(*) FROM messages WHERE question LIKE 'offline%'"), 2);
    }
    {   /* B restarted while PostgreSQL is down: message ids come from its spare block (once) */
        int64_t id1 = 0, id2 = 0;
        struct index_log_exchange x;
        assert_int_equal(index_log_next_id(b.st, &id1, &err), 0);
        index_store_close(b.st);
        assert_int_equal(pgcluster_stop(&g_pg), 0);
        node_open(&b); /* offline: serves the cache it has */
        assert_int_equal(index_log_next_id(b.st, &id2, &err), 0);
        assert_true(id2 > 0 && (id2 >> 32) != (id1 >> 32) && (id2 >> 32) != (ida >> 32));
        assert_int_equal(index_log_next_id(b.st, &id1, &err), KB_EBUSY); /* the spare is used once */
        x = exchange(id2, SECRET2, "offline restart", false, 0);
        assert_int_equal(index_log_append(b.st, &x, 1, 0, &err), 0);
        assert_int_equal(pgcluster_resume(&g_pg), 0);
        {
            double t0 = now_s();
            while (pg_rows_spool_count(b.st) != 0 && now_s() - t0 < 15)
                usleep(50000);
        }
        assert_int_equal(pg_count("SELECT count(*) FROM messages WHERE question = 'offline restart'"), 1);
        wait_caught_up(&a);
        stats(&a, &sa, &ar);
        assert_int_equal(sa.n_questions, 6);
    }
    node_close(&c);
    node_close(&b);
    node_close(&a);
    kb_arena_release(&ar);
}

static void test_curated_two_nodes(void **state)
{
    struct node a = {0}, b = {0};
    struct kb_error err = {0};
    struct kb_arena ar;
    struct index_curated in = {.question = "How do I reset the router?", .similar = "reset router",
                               .answer = "Hold the button for ten seconds.", .citations = ""};
    struct index_curated got, *vers = NULL;
    int64_t id = 0, doc = 0, used_id = 0;
    int ver = 0, n_vers = 0, used_ver = 0;
    (void)state;
    NEED_PG();
    kb_arena_init(&ar, 0, 0);
    node_open(&a);
    node_open(&b);
    assert_int_equal(index_curated_put(a.st, &in, 1, &id, &ver, &err), 0);
    assert_int_equal(ver, 1);
    wait_caught_up(&b);
    assert_int_equal(index_curated_get(b.st, id, &ar, &got, &err), 0);
    assert_string_equal(got.answer, "Hold the button for ten seconds.");
    assert_int_equal(got.version, 1);
    /* B edits it: version 2 on A, with both versions */
    in.id = id;
    in.answer = "Hold the reset button for ten seconds.";
    assert_int_equal(index_curated_put(b.st, &in, 1, &id, &ver, &err), 0);
    assert_int_equal(ver, 2);
    wait_caught_up(&a);
    assert_int_equal(index_curated_get(a.st, id, &ar, &got, &err), 0);
    assert_int_equal(got.version, 2);
    assert_string_equal(got.answer, "Hold the reset button for ten seconds.");
    assert_int_equal(index_curated_versions(a.st, id, &ar, &vers, &n_vers, &err), 0);
    assert_int_equal(n_vers, 2);
    assert_string_equal(vers[1].answer, "Hold the button for ten seconds.");
    /* an unknown id is refused with nothing written */
    in.id = 424242;
    assert_int_equal(index_curated_put(a.st, &in, 1, &id, &ver, &err), KB_ENOENT);
    in.id = 0;
    /* its hidden document recorded on A; an answer given with it on B counts on A */
    doc = 77;
    assert_int_equal(index_curated_put(a.st, &in, 1, &(int64_t){0}, &ver, &err), 0); /* a second entry */
    {
        int64_t first = 0;
        struct index_curated *list = NULL;
        int n_list = 0;
        int64_t total = 0;
        assert_int_equal(index_curated_list(a.st, 0, NULL, 0, 10, &ar, &list, &n_list, &total, &err), 0);
        assert_int_equal(total, 2);
        first = list[1].id; /* newest first: the edited entry is the older */
        assert_int_equal(first, got.id);
    }
    assert_int_equal(index_curated_set_document(a.st, got.id, 2, doc, &err), 0);
    wait_caught_up(&b);
    assert_int_equal(index_curated_used(b.st, doc, &used_id, &used_ver, &err), 0);
    assert_int_equal(used_id, got.id);
    assert_int_equal(used_ver, 2);
    wait_caught_up(&a);
    assert_int_equal(index_curated_get(a.st, got.id, &ar, &got, &err), 0);
    assert_int_equal(got.uses, 1);
    assert_int_equal(got.document_id, doc);
    assert_int_equal(index_curated_get(b.st, got.id, &ar, &got, &err), 0);
    assert_int_equal(got.uses, 1); /* counted once: the cache took PostgreSQL's figure */
    /* deleted on B: gone on A with its versions, and its document named to the caller */
    id = got.id;
    assert_int_equal(index_curated_delete(b.st, id, &doc, &err), 0);
    assert_int_equal(doc, 77);
    wait_caught_up(&a);
    assert_int_equal(index_curated_get(a.st, id, &ar, &got, &err), KB_ENOENT);
    assert_int_equal(index_curated_versions(a.st, id, &ar, &vers, &n_vers, &err), KB_ENOENT);
    assert_int_equal(index_curated_versions(b.st, id, &ar, &vers, &n_vers, &err), KB_ENOENT);
    /* a collection deleted with a curated answer in it: every node's cache follows (not stuck) */
    {
        int64_t coll = 0, cid = 0;
        struct index_curated cin = {.question = "Opening hours?", .answer = "Nine to five.", .similar = "",
                                    .citations = ""};
        assert_int_equal(index_collection_create(a.st, "faq2", &coll, &err), 0);
        cin.collection_id = coll;
        assert_int_equal(index_curated_put(a.st, &cin, 1, &cid, &ver, &err), 0);
        wait_caught_up(&b);
        assert_int_equal(index_curated_get(b.st, cid, &ar, &got, &err), 0);
        assert_int_equal(index_collection_delete(a.st, coll, &err), 0);
        wait_caught_up(&b);
        assert_int_equal(index_curated_get(b.st, cid, &ar, &got, &err), KB_ENOENT);
        assert_int_equal(index_curated_get(a.st, cid, &ar, &got, &err), KB_ENOENT);
        assert_int_equal(index_collection_find(b.st, "faq2", &coll, &err), KB_ENOENT);
    }
    node_close(&b);
    node_close(&a);
    kb_arena_release(&ar);
}

/* Accounts, sessions, keys, audit and bots: written on either node, valid on both. */
static void test_accounts_two_nodes(void **state)
{
    struct node a = {0}, b = {0}, c = {0};
    struct kb_error err = {0};
    struct kb_arena ar;
    struct index_user u = {.email = "Ann@Example.com", .name = "Ann", .role = "owner", .pw_hash = "$argon2id$x",
                           .collections = ""};
    struct index_user got;
    struct index_session ses;
    struct index_api_key key = {.prefix = "kbx_0123abcd", .hash = "ab12", .name = "ci", .scopes = "documents:write"},
                         kgot;
    struct index_bot bot = {.id = "support", .name = "Support", .collections = "", .greeting = "Hi!", .persona = "",
                            .fallback = "", .strict = 1, .model = "", .origins = "https://shop.example",
                            .color = "#112233", .logo = "", .lang = "en", .public_page = true, .handoff = 1,
                            .handoff_keywords = "human,agent", .handoff_after_fallbacks = 2,
                            .handoff_on_thumbs_down = 0};
    struct index_bot bgot, *bots = NULL;
    struct index_audit ev = {.actor = "user:ann", .action = "user.add", .target = "ann", .detail = "", .ip = "1.2.3.4"};
    struct index_audit *la = NULL, *lb = NULL;
    int64_t uid = 0, kid = 0, now = (int64_t)time(NULL);
    int n_a = 0, n_b = 0, n_bots = 0;
    (void)state;
    NEED_PG();
    kb_arena_init(&ar, 0, 0);
    node_open(&a);
    node_open(&b);
    assert_int_equal(index_user_add(a.st, &u, &uid, &err), 0);
    u.email = "ann@example.COM";
    assert_int_equal(index_user_add(b.st, &u, NULL, &err), KB_ECONFLICT); /* case-insensitive, across nodes */
    assert_non_null(strstr(err.msg, "exists already"));
    wait_caught_up(&b);
    assert_int_equal(index_user_get(b.st, 0, "ann@example.com", &ar, &got, &err), 0);
    assert_int_equal(got.id, uid);
    assert_string_equal(got.role, "owner");
    /* a login on A is valid on B; B's touch reaches A; a new password on B ends it on A */
    assert_int_equal(index_session_add(a.st, "hash1", uid, "csrf1", now, &err), 0);
    wait_caught_up(&b);
    assert_int_equal(index_session_get(b.st, "hash1", &ar, &ses, &err), 0);
    assert_int_equal(ses.user_id, uid);
    assert_string_equal(ses.csrf, "csrf1");
    assert_int_equal(index_session_touch(b.st, "hash1", now + 100, &err), 0);
    wait_caught_up(&a);
    assert_int_equal(index_session_get(a.st, "hash1", &ar, &ses, &err), 0);
    assert_int_equal(ses.last_seen, now + 100);
    {
        struct index_user pw = {.pw_hash = "$argon2id$y"};
        assert_int_equal(index_user_update(b.st, uid, &pw, &err), 0);
        assert_int_equal(index_user_update(b.st, 9999, &pw, &err), KB_ENOENT);
    }
    wait_caught_up(&a);
    assert_int_equal(index_session_get(a.st, "hash1", &ar, &ses, &err), KB_ENOENT);
    assert_int_equal(index_user_get(a.st, uid, NULL, &ar, &got, &err), 0);
    assert_string_equal(got.pw_hash, "$argon2id$y");
    /* a key made on A works on B; revoked on B, A refuses it */
    key.user_id = uid;
    assert_int_equal(index_key_add(a.st, &key, &kid, &err), 0);
    wait_caught_up(&b);
    assert_int_equal(index_key_get(b.st, 0, "kbx_0123abcd", &ar, &kgot, &err), 0);
    assert_int_equal(kgot.id, kid);
    assert_int_equal(kgot.revoked_at, 0);
    assert_int_equal(index_key_mark(b.st, kid, true, now, &err), 0);
    assert_int_equal(index_key_mark(b.st, kid, true, now, &err), KB_ENOENT);
    wait_caught_up(&a);
    assert_int_equal(index_key_get(a.st, kid, NULL, &ar, &kgot, &err), 0);
    assert_int_equal(kgot.revoked_at, now);
    /* the audit log has both nodes' entries, under the same ids */
    assert_int_equal(index_audit_add(a.st, &ev, &err), 0);
    ev.action = "key.revoke";
    assert_int_equal(index_audit_add(b.st, &ev, &err), 0);
    wait_caught_up(&a);
    wait_caught_up(&b);
    assert_int_equal(index_audit_list(a.st, 0, 10, &ar, &la, &n_a, &err), 0);
    assert_int_equal(index_audit_list(b.st, 0, 10, &ar, &lb, &n_b, &err), 0);
    assert_int_equal(n_a, 2);
    assert_int_equal(n_b, 2);
    assert_int_equal(la[0].id, lb[0].id);
    assert_string_equal(la[0].action, "key.revoke");
    assert_string_equal(lb[1].action, "user.add");
    /* a bot created on A serves on B with its handoff settings; B's edit reaches A */
    assert_int_equal(index_bot_put(a.st, &bot, true, &err), 0);
    assert_int_equal(index_bot_put(b.st, &bot, true, &err), KB_ECONFLICT);
    wait_caught_up(&b);
    assert_int_equal(index_bot_get(b.st, "support", &ar, &bgot, &err), 0);
    assert_string_equal(bgot.origins, "https://shop.example");
    assert_string_equal(bgot.handoff_keywords, "human,agent");
    assert_int_equal(bgot.handoff_after_fallbacks, 2);
    bot.greeting = "Hello!";
    assert_int_equal(index_bot_put(b.st, &bot, false, &err), 0);
    wait_caught_up(&a);
    assert_int_equal(index_bot_get(a.st, "support", &ar, &bgot, &err), 0);
    assert_string_equal(bgot.greeting, "Hello!");
    assert_int_equal(index_bot_list(a.st, false, &ar, &bots, &n_bots, &err), 0);
    assert_int_equal(n_bots, 2); /* "default" and "support" */
    /* a third node rebuilds all of it */
    node_open(&c);
    wait_caught_up(&c);
    assert_int_equal(index_user_get(c.st, uid, NULL, &ar, &got, &err), 0);
    assert_int_equal(index_key_get(c.st, kid, NULL, &ar, &kgot, &err), 0);
    assert_int_equal(kgot.revoked_at, now);
    assert_int_equal(index_audit_list(c.st, 0, 10, &ar, &la, &n_a, &err), 0);
    assert_int_equal(n_a, 2);
    assert_int_equal(index_bot_get(c.st, "support", &ar, &bgot, &err), 0);
    assert_string_equal(bgot.greeting, "Hello!");
    /* deleting the bot and the user on A: gone on B and C, the user's sessions too */
    assert_int_equal(index_session_add(a.st, "hash2", uid, "csrf2", now, &err), 0);
    assert_int_equal(index_bot_delete(a.st, "support", &err), 0);
    assert_int_equal(index_bot_delete(a.st, "support", &err), KB_ENOENT);
    assert_int_equal(index_user_delete(a.st, uid, &err), 0);
    wait_caught_up(&b);
    wait_caught_up(&c);
    assert_int_equal(index_bot_get(b.st, "support", &ar, &bgot, &err), KB_ENOENT);
    assert_int_equal(index_user_get(b.st, uid, NULL, &ar, &got, &err), KB_ENOENT);
    assert_int_equal(index_session_get(c.st, "hash2", &ar, &ses, &err), KB_ENOENT);
    assert_int_equal(index_bot_get(c.st, "default", &ar, &bgot, &err), 0);
    /* PostgreSQL down: a login cannot be recorded (KB_EBUSY), the cache still answers */
    assert_int_equal(pgcluster_stop(&g_pg), 0);
    assert_int_equal(index_session_add(b.st, "hash3", uid, "csrf3", now, &err), KB_EBUSY);
    assert_int_equal(index_bot_get(b.st, "default", &ar, &bgot, &err), 0);
    assert_int_equal(pgcluster_resume(&g_pg), 0);
    node_close(&c);
    node_close(&b);
    node_close(&a);
    kb_arena_release(&ar);
}

/* Waits (up to 10 s) until pg_count(sql) == want. */
static void wait_count(const char *sql, int64_t want)
{
    double t0 = now_s();
    int64_t got;
    while ((got = pg_count(sql)) != want && now_s() - t0 < 10)
        usleep(50000);
    assert_int_equal(got, want);
}

/* Waits (up to 10 s) until n's view of the other nodes' agents counts want (actor of the first: first). */
static void wait_remote(struct node *n, int want, const char *first)
{
    struct index_presence *p = calloc(INDEX_PRESENCE_MAX, sizeof *p);
    double t0 = now_s();
    int got;
    while ((got = index_presence_remote(n->st, p, INDEX_PRESENCE_MAX)) != want && now_s() - t0 < 10)
        usleep(50000);
    assert_int_equal(got, want);
    if (first)
        assert_string_equal(p[0].actor, first);
    free(p);
}

/* pg_nodes.c (schema 7): each node's heartbeat names its embedder; presence handed to A is seen by
 * B and not by A itself, cleared on A it is gone on B, and a closed node's rows go; vectors of an
 * embedder no live node names and no queued re-embedding job needs are pruned, the others kept. */
static void test_nodes_presence_prune(void **state)
{
    struct node a = {0}, b = {0};
    struct kb_error err = {0};
    struct index_presence ann = {.actor = "user:ann", .collections = ""};
    struct pg_db *db = NULL;
    char sql[1024];
    int64_t n_del = -1;
    (void)state;
    NEED_PG();
    node_open(&a);
    node_open(&b);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM kbox_nodes WHERE embedders = '%s'", g_emb->id);
    wait_count(sql, 2); /* both nodes beat, naming the embedder they serve */
    /* presence */
    index_presence_set(a.st, &ann, 1);
    wait_remote(&b, 1, "user:ann");
    wait_count("SELECT count(*) FROM kbox_presence WHERE actor = 'user:ann'", 1);
    assert_int_equal(index_presence_remote(a.st, &ann, 1), 0); /* its own agents are not "remote" */
    index_presence_set(a.st, NULL, 0);
    wait_remote(&b, 0, NULL);
    index_presence_set(b.st, &ann, 1);
    wait_remote(&a, 1, "user:ann");
    node_close(&b); /* a clean stop takes its presence rows along */
    wait_remote(&a, 0, NULL);
    assert_int_equal(pg_count("SELECT count(*) FROM kbox_presence"), 0);
    /* pruning: one chunk with vectors of five embedders */
    assert_int_equal(pgcluster_sql(&g_pg,
                                   "INSERT INTO documents(id, collection_id, created_at) VALUES(900, 1, 0);"
                                   "INSERT INTO chunks(id, document_id, ordinal, text) VALUES(9000, 900, 0, 'x');"
                                   "INSERT INTO kbox_nodes VALUES('other:1', 'emb-other', 0,"
                                   " extract(epoch from clock_timestamp()));"
                                   "INSERT INTO kbox_nodes VALUES('dead:1', 'emb-dead', 0,"
                                   " extract(epoch from clock_timestamp()) - 100000);"
                                   "INSERT INTO jobs(kind, document_id, created_at, embedder_id)"
                                   " VALUES('reembed', 900, 0, 'emb-target');"
                                   "INSERT INTO embeddings VALUES(9000, 'emb-other', '\\x00'), (9000, 'emb-dead', '\\x00'),"
                                   " (9000, 'emb-target', '\\x00'), (9000, 'emb-old', '\\x00')"),
                     0);
    snprintf(sql, sizeof sql, "INSERT INTO embeddings VALUES(9000, '%s', '\\x00')", g_emb->id);
    assert_int_equal(pgcluster_sql(&g_pg, sql), 0);
    assert_int_equal(pg_db_open(&db, g_pg.url, NULL, false, &err), 0);
    assert_int_equal(pg_nodes_prune(db, PG_NODE_LIVE_S, &n_del, &err), 0);
    assert_int_equal(n_del, 2); /* emb-dead and emb-old */
    assert_int_equal(pg_count("SELECT count(*) FROM embeddings WHERE embedder_id IN ('emb-dead', 'emb-old')"), 0);
    assert_int_equal(pg_count("SELECT count(*) FROM embeddings WHERE chunk_id = 9000"), 3);
    /* the job done: its embedder is no longer needed */
    assert_int_equal(pgcluster_sql(&g_pg, "UPDATE jobs SET state = 'done' WHERE kind = 'reembed'"), 0);
    assert_int_equal(pg_nodes_prune(db, PG_NODE_LIVE_S, &n_del, &err), 0);
    assert_int_equal(n_del, 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM embeddings WHERE embedder_id IN ('emb-other', '%s')", g_emb->id);
    assert_int_equal(pg_count(sql), 2);
    /* no live node at all: nothing is pruned */
    node_close(&a);
    assert_int_equal(pgcluster_sql(&g_pg, "UPDATE kbox_nodes SET last_seen = 0"), 0);
    assert_int_equal(pg_nodes_prune(db, 60, &n_del, &err), 0);
    assert_int_equal(n_del, 0);
    assert_int_equal(pg_count("SELECT count(*) FROM embeddings WHERE chunk_id = 9000"), 2);
    pg_db_close(db);
}

/* Collections' handoff settings (pg_accounts.c, schema 7): set on A, read on B; B's reset to
 * "inherit" removes the row on A; a third node rebuilds them; deleting the collection on A drops
 * its settings in PostgreSQL and on B; PostgreSQL down: the write is KB_EBUSY, the cache answers. */
static void test_coll_handoff_two_nodes(void **state)
{
    struct node a = {0}, b = {0}, c = {0};
    struct kb_error err = {0};
    struct kb_arena ar;
    struct index_coll_handoff h = {.handoff = 1, .keywords = "human,refund", .keywords_off = false,
                                   .after_fallbacks = 3, .on_thumbs_down = 0};
    struct index_coll_handoff got;
    int64_t cid = 0;
    (void)state;
    NEED_PG();
    kb_arena_init(&ar, 0, 0);
    node_open(&a);
    node_open(&b);
    assert_int_equal(index_collection_create(a.st, "hr", &cid, &err), 0);
    h.collection_id = cid;
    assert_int_equal(index_coll_handoff_put(a.st, &h, &err), 0);
    wait_caught_up(&b);
    assert_int_equal(index_coll_handoff_get(b.st, cid, &ar, &got, &err), 0);
    assert_int_equal(got.handoff, 1);
    assert_string_equal(got.keywords, "human,refund");
    assert_int_equal(got.after_fallbacks, 3);
    assert_int_equal(got.on_thumbs_down, 0);
    assert_false(got.keywords_off);
    /* B switches the keyword trigger off alone; A sees it */
    h.keywords = "";
    h.keywords_off = true;
    assert_int_equal(index_coll_handoff_put(b.st, &h, &err), 0);
    wait_caught_up(&a);
    assert_int_equal(index_coll_handoff_get(a.st, cid, &ar, &got, &err), 0);
    assert_true(got.keywords_off);
    assert_string_equal(got.keywords, "");
    /* a third node rebuilds it */
    node_open(&c);
    wait_caught_up(&c);
    assert_int_equal(index_coll_handoff_get(c.st, cid, &ar, &got, &err), 0);
    assert_true(got.keywords_off);
    assert_int_equal(got.after_fallbacks, 3);
    /* every setting inherits again (on B): the row is gone on A, in PostgreSQL too */
    h = (struct index_coll_handoff){.collection_id = cid, .handoff = -1, .keywords = "", .after_fallbacks = -1,
                                    .on_thumbs_down = -1};
    assert_int_equal(index_coll_handoff_put(b.st, &h, &err), 0);
    wait_caught_up(&a);
    assert_int_equal(index_coll_handoff_get(a.st, cid, &ar, &got, &err), 0);
    assert_int_equal(got.handoff, -1);
    assert_int_equal(got.after_fallbacks, -1);
    assert_int_equal(pg_count("SELECT count(*) FROM collection_handoff"), 0);
    /* set again, then the collection deleted on A: gone everywhere */
    h.on_thumbs_down = 1;
    assert_int_equal(index_coll_handoff_put(a.st, &h, &err), 0);
    wait_caught_up(&c);
    assert_int_equal(index_coll_handoff_get(c.st, cid, &ar, &got, &err), 0);
    assert_int_equal(got.on_thumbs_down, 1);
    assert_int_equal(index_collection_delete(a.st, cid, &err), 0);
    wait_caught_up(&b);
    wait_caught_up(&c);
    assert_int_equal(pg_count("SELECT count(*) FROM collection_handoff"), 0);
    assert_int_equal(index_coll_handoff_get(c.st, cid, &ar, &got, &err), 0);
    assert_int_equal(got.on_thumbs_down, -1);
    /* PostgreSQL down: KB_EBUSY, nothing written; reads answer from the cache */
    assert_int_equal(index_collection_create(a.st, "sales", &cid, &err), 0);
    h.collection_id = cid;
    assert_int_equal(index_coll_handoff_put(a.st, &h, &err), 0);
    wait_caught_up(&b);
    assert_int_equal(pgcluster_stop(&g_pg), 0);
    h.on_thumbs_down = 0;
    assert_int_equal(index_coll_handoff_put(b.st, &h, &err), KB_EBUSY);
    assert_int_equal(index_coll_handoff_get(b.st, cid, &ar, &got, &err), 0);
    assert_int_equal(got.on_thumbs_down, 1);
    assert_int_equal(pgcluster_resume(&g_pg), 0);
    node_close(&c);
    node_close(&b);
    node_close(&a);
    kb_arena_release(&ar);
}

/* index_store_on_handoff's hook: the handoffs a node's cache took (from the sync thread). */
struct ho_seen {
    pthread_mutex_t mu;
    int n;
    int64_t last;
};

static void ho_hook(void *ctx, int64_t id)
{
    struct ho_seen *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->n++;
    s->last = id;
    pthread_mutex_unlock(&s->mu);
}

static void ho_events(struct node *n, int64_t id, struct kb_arena *a, char *buf, size_t cap, int *count)
{
    struct index_handoff_event *ev = NULL;
    struct kb_error err = {0};
    size_t len = 0;
    buf[0] = '\0';
    assert_int_equal(index_handoff_events(n->st, id, 0, 0, a, &ev, count, &err), 0);
    for (int i = 0; i < *count; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%lld:%s:%s:%s;", (long long)ev[i].seq, ev[i].kind,
                                ev[i].author, ev[i].text);
}

/* Handoffs through PostgreSQL (pg_handoff.c): created on A, taken on A while B's cache still says
 * queued (B's take loses in PostgreSQL, 409), messages written on both nodes at once get distinct,
 * increasing seqs, B's hook hears of A's changes, a third node rebuilds it all. */
static void test_handoff_two_nodes(void **state)
{
    struct node a = {0}, b = {0}, c = {0};
    struct kb_error err = {0};
    struct kb_arena ar;
    struct ho_seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct index_handoff h = {.kind = "chat", .trigger = "button", .bot_id = "default"}, got, *list = NULL;
    struct index_notify *nl = NULL, *nl2 = NULL;
    int64_t id = 0, id2 = 0, id3 = -1, pos = 0, s1 = 0, s2 = 0, s3 = 0;
    int n = 0, n2 = -1, n_ev_a = 0, n_ev_b = 0;
    char ea[2048], eb[2048];
    (void)state;
    NEED_PG();
    kb_arena_init(&ar, 0, 0);
    node_open(&a);
    node_open(&b);
    index_store_on_handoff(b.st, ho_hook, &seen);
    assert_int_equal(index_handoff_create(a.st, &h, "hash-one", &id, &err), 0);
    assert_int_equal(index_handoff_create(b.st, &h, "hash-two", &id2, &err), 0);
    assert_true(id > 0 && id2 > id);
    assert_int_equal(index_handoff_create(b.st, &h, "hash-one", &id3, &err), KB_ECONFLICT); /* token taken */
    assert_int_equal(id3, 0);
    wait_caught_up(&b);
    pthread_mutex_lock(&seen.mu);
    assert_true(seen.n >= 2); /* B heard of A's handoff and of its own */
    pthread_mutex_unlock(&seen.mu);
    assert_int_equal(index_handoff_position(b.st, id2, &pos, &err), 0);
    assert_int_equal(pos, 2);
    /* A takes it; B, whose cache may still say queued, loses in PostgreSQL */
    assert_int_equal(index_handoff_take(a.st, id, "user:ann", "Ann", &err), 0);
    assert_int_equal(index_handoff_take(b.st, id, "user:bob", "Bob", &err), KB_ECONFLICT);
    assert_non_null(strstr(err.msg, "taken by Ann"));
    assert_int_equal(index_handoff_take(b.st, 999999, "user:bob", "Bob", &err), KB_ENOENT);
    /* messages on both nodes, no waiting in between: PostgreSQL numbers them */
    assert_int_equal(index_handoff_message(a.st, id, "user:ann", "Ann", "Hello, Ann here.", &s1, &err), 0);
    assert_int_equal(index_handoff_message(b.st, id, NULL, NULL, "My fridge is warm.", &s2, &err), 0);
    assert_int_equal(index_handoff_message(b.st, id, "user:bob", "Bob", "Me too", &s3, &err), KB_EFORBIDDEN);
    assert_int_equal(index_handoff_message(a.st, id, "user:ann", "Ann", "Check the fuse.", &s3, &err), 0);
    assert_int_equal(s1, 3); /* 1 queued, 2 taken */
    assert_int_equal(s2, 4);
    assert_int_equal(s3, 5);
    assert_int_equal(index_handoff_rate(b.st, id, 5, &err), 0);
    assert_int_equal(index_handoff_rate(a.st, id, 4, &err), KB_ECONFLICT); /* once */
    assert_int_equal(index_handoff_close(b.st, id, "user:bob", "Bob", &err), KB_ECONFLICT); /* not Bob's */
    assert_int_equal(index_handoff_close(a.st, id, "user:ann", "Ann", &err), 0);
    assert_int_equal(index_handoff_to_ticket(a.st, id2, "Cy", "cy@example.com", "call me", &err), 0);
    assert_int_equal(index_notify_add(b.st, id2, "email", &err), 0);
    wait_caught_up(&a);
    wait_caught_up(&b);
    ho_events(&a, id, &ar, ea, sizeof ea, &n_ev_a);
    ho_events(&b, id, &ar, eb, sizeof eb, &n_ev_b);
    assert_int_equal(n_ev_a, 7);
    assert_string_equal(ea, eb);
    assert_non_null(strstr(ea, "4:customer::My fridge is warm.;5:agent:Ann:Check the fuse.;6:state::rated:5;"));
    assert_int_equal(index_handoff_get(b.st, id, NULL, &ar, &got, &err), 0);
    assert_string_equal(got.state, "closed");
    assert_string_equal(got.agent_name, "Ann");
    assert_int_equal(got.rating, 5);
    assert_int_equal(got.last_event, 7);
    assert_int_equal(index_handoff_get(a.st, 0, "hash-two", &ar, &got, &err), 0);
    assert_string_equal(got.kind, "ticket");
    assert_string_equal(got.contact, "cy@example.com");
    /* the notification queued on B, failed on A, is failed on both */
    assert_int_equal(index_notify_list(a.st, false, time(NULL) + 1, 10, &ar, &nl, &n, &err), 0);
    assert_int_equal(n, 1);
    /* A's list leased it in PostgreSQL: B's sender, due or not in B's cache, does not get it */
    assert_int_equal(index_notify_list(b.st, false, time(NULL) + 1, 10, &ar, &nl2, &n2, &err), 0);
    assert_int_equal(n2, 0);
    assert_int_equal(index_notify_update(a.st, nl[0].id, "failed", 3, 0, "smtp: refused", &err), 0);
    wait_caught_up(&b);
    assert_int_equal(index_notify_list(b.st, true, 0, 10, &ar, &nl, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(nl[0].last_error, "smtp: refused");
    pthread_mutex_lock(&seen.mu);
    assert_true(seen.n >= 8);
    pthread_mutex_unlock(&seen.mu);
    /* a third node rebuilds the handoffs with their events */
    node_open(&c);
    wait_caught_up(&c);
    ho_events(&c, id, &ar, eb, sizeof eb, &n_ev_b);
    assert_string_equal(ea, eb);
    assert_int_equal(index_handoff_list(c.st, true, 10, &ar, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(index_handoff_list(c.st, false, 10, &ar, &list, &n, &err), 0);
    assert_int_equal(n, 1); /* the ticket */
    /* PostgreSQL down: a new handoff fails with KB_EBUSY and nothing is stored; reads answer */
    assert_int_equal(pgcluster_stop(&g_pg), 0);
    assert_int_equal(index_handoff_create(b.st, &h, "hash-three", &id3, &err), KB_EBUSY);
    assert_int_equal(id3, 0);
    assert_int_equal(index_handoff_get(b.st, id, NULL, &ar, &got, &err), 0);
    assert_int_equal(pgcluster_resume(&g_pg), 0);
    index_store_on_handoff(b.st, NULL, NULL);
    node_close(&c);
    node_close(&b);
    node_close(&a);
    kb_arena_release(&ar);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_two_nodes),
        cmocka_unit_test(test_curated_two_nodes),
        cmocka_unit_test(test_accounts_two_nodes),
        cmocka_unit_test(test_coll_handoff_two_nodes),
        cmocka_unit_test(test_nodes_presence_prune),
        cmocka_unit_test(test_handoff_two_nodes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
