/* tests/index/test_store.c: the store on a real SQLite file in a temp dir with real FAISS: schema and
 * migration version, collections, document lifecycle, replace in one transaction, delete consistency,
 * originals, the vector sidecar (corrupt, missing, mismatched embedder -> rebuild), FTS5 syntax never
 * erroring, empty and huge queries, hybrid search in English and Chinese, zh-Hans questions over zh-Hant
 * text and back, the full-text rebuild after a tokenizer change, filters, searching while
 * another connection writes, and the approximate index above the threshold: IVF, and HNSW chosen by
 * index.ann (search, deletion through tombstones, rebuilt as IVF when the config changes), and the
 * document title as a chunk's context (a question naming the document, the v10 -> v11 migration). */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "idx_test.h"

struct fx {
    char *dir;
    struct index_embedder *emb;
    struct index_store *st;
};

static int fx_setup(void **state)
{
    struct fx *f = kb_xcalloc(1, sizeof(*f));
    struct kb_error err = {0};
    f->dir = idx_tmpdir();
    if (index_embedder_builtin_new(&f->emb, 512, &err) != 0 || idx_open(&f->st, f->dir, f->emb, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    index_store_close(f->st);
    index_embedder_builtin_free(f->emb);
    idx_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void check_ok(struct index_store *st)
{
    struct index_check c;
    struct kb_error err = {0};
    assert_int_equal(index_store_check(st, &c, &err), 0);
    if (!c.ok)
        fail_msg("inconsistent: docs %lld chunks %lld emb %lld vec %lld fts %d vec_ok %d orphans %lld missing %lld",
                 (long long)c.n_documents, (long long)c.n_chunks, (long long)c.n_embeddings, (long long)c.n_vectors,
                 c.fts_ok, c.vectors_ok, (long long)c.n_orphan_chunks, (long long)c.n_chunks_without_embedding);
    assert_int_equal(c.n_embeddings, c.n_chunks);
    assert_int_equal(c.n_vectors, c.n_chunks);
}

static int64_t put_doc(struct index_store *st, const char *path, const char *const *texts, int n)
{
    struct index_doc d;
    struct index_chunk ch[16];
    struct kb_error err = {0};
    int64_t id = 0;
    memset(&d, 0, sizeof(d));
    memset(ch, 0, sizeof(ch));
    d.name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    d.path = path;
    d.mime = "text/plain";
    for (int i = 0; i < n; i++) {
        ch[i].text = texts[i];
        ch[i].heading_path = "Doc > Section";
        ch[i].page_start = ch[i].page_end = i + 1;
    }
    if (index_doc_replace(st, &d, ch, n, NULL, texts[0], strlen(texts[0]), &id, &err) != 0)
        fail_msg("replace %s: %s", path, err.msg);
    return id;
}

static int search(struct index_store *st, const char *q, enum index_mode mode, struct kb_arena *a,
                  struct index_hit **hits)
{
    struct index_search_opts o;
    struct kb_error err = {0};
    int n = -1;
    memset(&o, 0, sizeof(o));
    o.top_k = 5;
    o.mode = mode;
    o.rrf_k = 60;
    if (index_search(st, q, &o, a, hits, &n, &err) != 0)
        fail_msg("search '%s': %s", q, err.msg);
    return n;
}

static void test_schema_and_collections(void **state)
{
    struct fx *f = *state;
    struct kb_error err = {0};
    struct kb_arena a;
    struct index_collection *cs;
    int n;
    int64_t id, def;
    kb_arena_init(&a, 4096, 0);
    assert_int_equal(index_store_schema_version(f->st), 11); /* 4: conversation log, 5: curated answers, 6: users, 7: bots, 8: handoff, 9: bot handoff, 10: collection handoff, 11: chunk context */
    assert_int_equal(index_collection_find(f->st, "default", &def, &err), 0);
    assert_int_equal(index_collection_delete(f->st, def, &err), KB_EFORBIDDEN);
    assert_int_equal(index_collection_create(f->st, "manuals", &id, &err), 0);
    assert_int_equal(index_collection_create(f->st, "manuals", NULL, &err), KB_ECONFLICT);
    assert_int_equal(index_collection_create(f->st, "", NULL, &err), KB_EINVAL);
    assert_int_equal(index_collection_rename(f->st, id, "handbooks", &err), 0);
    assert_int_equal(index_collection_rename(f->st, 9999, "x", &err), KB_ENOENT);
    assert_int_equal(index_collection_list(f->st, &a, &cs, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(cs[0].name, "default");
    assert_string_equal(cs[1].name, "handbooks");
    {
        struct index_doc d = {0};
        struct index_chunk c = {.text = "collection scoped text about zebras"};
        struct index_doc *docs;
        int64_t did;
        d.collection_id = id;
        d.path = "/z.txt";
        assert_int_equal(index_doc_replace(f->st, &d, &c, 1, NULL, NULL, 0, &did, &err), 0);
        /* a replace by id without a collection keeps the document where it is */
        memset(&d, 0, sizeof(d));
        d.id = did;
        d.path = "/z.txt";
        assert_int_equal(index_doc_replace(f->st, &d, &c, 1, NULL, NULL, 0, NULL, &err), 0);
        assert_int_equal(index_doc_get(f->st, did, &a, &d, &err), 0);
        assert_int_equal(d.collection_id, id);
        assert_int_equal(index_doc_list(f->st, id, &a, &docs, &n, &err), 0);
        assert_int_equal(n, 1);
        {
            /* a curated answer (two versions) living in it goes with it: its row named the collection */
            struct index_curated cu = {.collection_id = id, .question = "Do zebras bite?", .answer = "Rarely."};
            struct index_curated got;
            int64_t cid;
            int ver;
            assert_int_equal(index_curated_put(f->st, &cu, 1, &cid, &ver, &err), 0);
            cu.id = cid;
            cu.answer = "Rarely, and only when cornered.";
            assert_int_equal(index_curated_put(f->st, &cu, 1, &cid, &ver, &err), 0);
            assert_int_equal(ver, 2);
            struct index_coll_handoff h = {.collection_id = id, .handoff = 0, .keywords = "", .after_fallbacks = -1,
                                           .on_thumbs_down = -1};
            assert_int_equal(index_coll_handoff_put(f->st, &h, &err), 0);
            assert_int_equal(index_collection_delete(f->st, id, &err), 0);
            assert_int_equal(index_curated_get(f->st, cid, &a, &got, &err), KB_ENOENT);
            /* and its handoff settings (read back as all-inherit) */
            assert_int_equal(index_coll_handoff_get(f->st, id, &a, &h, &err), 0);
            assert_int_equal(h.handoff, -1);
        }
        assert_int_equal(index_collection_delete(f->st, id, &err), KB_ENOENT);
        assert_int_equal(index_doc_get(f->st, did, &a, &d, &err), KB_ENOENT);
    }
    assert_int_equal(index_collection_delete(f->st, id, &err), KB_ENOENT);
    check_ok(f->st);
    /* reopening keeps the version and does not migrate again */
    index_store_close(f->st);
    assert_int_equal(idx_open(&f->st, f->dir, f->emb, &err), 0);
    assert_int_equal(index_store_schema_version(f->st), 11); /* 4: conversation log, 5: curated answers, 6: users, 7: bots, 8: handoff, 9: bot handoff, 10: collection handoff, 11: chunk context */
    kb_arena_release(&a);
}

static void test_doc_lifecycle(void **state)
{
    struct fx *f = *state;
    struct kb_error err = {0};
    struct kb_arena a;
    struct index_doc d = {0}, got, *list;
    struct index_chunk_row *rows;
    struct index_hit *hits;
    int n;
    int64_t id, id2;
    const char *v1[] = {"The quick brown fox jumps over the lazy dog.", "Foxes are omnivorous mammals."};
    const char *v2[] = {"Completely new content about penguins in Antarctica."};
    char path[4200];
    kb_arena_init(&a, 4096, 0);

    d.name = "queued.pdf";
    d.path = "/in/queued.pdf";
    assert_int_equal(index_doc_create(f->st, &d, &id, &err), 0);
    assert_int_equal(index_doc_set_status(f->st, id, INDEX_DOC_FAILED, "cannot open 'queued.pdf': not a PDF", &err), 0);
    assert_int_equal(index_doc_get(f->st, id, &a, &got, &err), 0);
    assert_int_equal(got.status, INDEX_DOC_FAILED);
    assert_string_equal(got.error, "cannot open 'queued.pdf': not a PDF");
    assert_int_equal(index_doc_set_status(f->st, 424242, INDEX_DOC_FAILED, NULL, &err), KB_ENOENT);

    id = put_doc(f->st, "/in/fox.txt", v1, 2);
    assert_int_equal(index_doc_find_by_path(f->st, 0, "/in/fox.txt", &a, &got, &err), 0);
    assert_int_equal(got.id, id);
    assert_int_equal(got.n_chunks, 2);
    assert_int_equal(got.status, INDEX_DOC_INDEXED);
    assert_true(got.has_original);
    assert_int_equal(strlen(got.sha256), 64);
    assert_int_equal(index_doc_find_by_sha256(f->st, 0, got.sha256, &a, &got, &err), 0);
    assert_int_equal(got.id, id);
    assert_int_equal(index_doc_original_path(f->st, got.sha256, path, sizeof(path), &err), 0);
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(index_doc_find_by_path(f->st, 0, "/nope", &a, &got, &err), KB_ENOENT);
    assert_int_equal(search(f->st, "omnivorous", INDEX_MODE_BM25, &a, &hits), 1);
    /* IDF: a word found nowhere weighs more than a word in one of the two chunks */
    assert_true(index_idf(f->st, "omnivorous", 10) > 0);
    assert_true(index_idf(f->st, "zzzunknown", 10) > index_idf(f->st, "omnivorous", 10));
    check_ok(f->st);

    /* replace by path: same row, new chunks, old ones gone everywhere */
    id2 = put_doc(f->st, "/in/fox.txt", v2, 1);
    assert_int_equal(id2, id);
    assert_int_equal(search(f->st, "omnivorous", INDEX_MODE_BM25, &a, &hits), 0);
    assert_int_equal(search(f->st, "penguins", INDEX_MODE_BM25, &a, &hits), 1);
    assert_int_equal(index_doc_chunks(f->st, id, &a, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].text, v2[0]);
    assert_int_equal(access(path, R_OK), -1); /* the old original is no longer referenced */
    check_ok(f->st);

    assert_int_equal(index_doc_list(f->st, 0, &a, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(index_doc_delete(f->st, id, &err), 0);
    assert_int_equal(index_doc_delete(f->st, id, &err), KB_ENOENT);
    assert_int_equal(search(f->st, "penguins", INDEX_MODE_HYBRID, &a, &hits), 0);
    assert_int_equal(index_doc_list(f->st, 0, &a, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    check_ok(f->st);
    kb_arena_release(&a);
}

static void test_replace_is_atomic(void **state)
{
    struct fx *f = *state;
    struct kb_error err = {0};
    struct kb_arena a;
    struct index_hit *hits;
    struct index_doc d = {0};
    struct index_chunk ch[2] = {{.text = "replacement alpha"}, {.text = NULL}};
    const char *v1[] = {"original walrus text"};
    int64_t id = put_doc(f->st, "/atomic.txt", v1, 1);
    kb_arena_init(&a, 4096, 0);
    d.path = "/atomic.txt";
    /* invalid input: nothing changes */
    assert_int_equal(index_doc_replace(f->st, &d, ch, 2, NULL, NULL, 0, NULL, &err), KB_EINVAL);
    /* a failure inside the transaction (a duplicate chunk id forced through a bad sha) rolls back */
    memcpy(d.sha256, "not-hex", 8);
    assert_int_equal(index_doc_replace(f->st, &d, ch, 1, NULL, NULL, 0, NULL, &err), KB_EINVAL);
    assert_int_equal(search(f->st, "walrus", INDEX_MODE_BM25, &a, &hits), 1);
    assert_int_equal(hits[0].document_id, id);
    assert_int_equal(search(f->st, "replacement", INDEX_MODE_BM25, &a, &hits), 0);
    check_ok(f->st);
    kb_arena_release(&a);
}

static void test_query_syntax_never_errors(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *hits;
    const char *v1[] = {"NEAR AND OR NOT are FTS5 keywords; C++ and C# and e-mail (with parens) \"quoted\" text."};
    static const char *queries[] = {
        "\"", "\"\"\"", "*", "a*", "(", ")", "()", ":", "col:foo", "^start", "-x", "+", "AND", "OR", "NOT",
        "NEAR(a b)", "text:", "heading_path:quoted", "{a b}", "C++", "e-mail", "\"unbalanced", "'", "\\", "%_",
        "\x01\x02", "\xff\xfe", "      ", "", "NEAR", "a OR", "OR b", "中文\"*", "🙂🙂",
    };
    kb_arena_init(&a, 4096, 0);
    put_doc(f->st, "/syntax.txt", v1, 1);
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
        for (int m = 0; m < 3; m++)
            search(f->st, queries[i], (enum index_mode)m, &a, &hits);
    assert_int_equal(search(f->st, "", INDEX_MODE_HYBRID, &a, &hits), 0);
    assert_int_equal(search(f->st, "!!! ??? ...", INDEX_MODE_HYBRID, &a, &hits), 0);
    assert_true(search(f->st, "NEAR(", INDEX_MODE_BM25, &a, &hits) >= 1);
    assert_true(search(f->st, "\"quoted\"", INDEX_MODE_BM25, &a, &hits) >= 1);
    {
        /* a huge query is capped, not an error */
        size_t n = 1 << 20;
        char *big = kb_xmalloc(n + 1);
        for (size_t i = 0; i < n; i++)
            big[i] = "keywords (\"*^:-) "[i % 17];
        big[n] = '\0';
        assert_true(search(f->st, big, INDEX_MODE_HYBRID, &a, &hits) >= 1);
        free(big);
    }
    kb_arena_release(&a);
}

static void test_hybrid_en_zh(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *hits;
    struct kb_error err = {0};
    struct index_search_opts o;
    int n;
    const char *docs[][3] = {
        {"/router.txt", "To reset the router's Wi-Fi password, hold the reset button for ten seconds.",
         "The admin page lives at 192.168.1.1 and shows connected devices."},
        {"/cake.txt", "Chocolate cake needs flour, sugar, cocoa powder and eggs.", "Bake at 180 degrees for 35 minutes."},
        {"/refund.txt", "Refunds are issued within 14 days of the return being received.",
         "Shipping costs are not refundable."},
        {"/zh_router.txt", "重置路由器的无线密码：按住复位按钮十秒钟。", "管理页面地址是192.168.1.1。"},
        {"/zh_refund.txt", "退款将在收到退货后十四天内发放。", "运费不予退还。"},
        {"/zh_cake.txt", "巧克力蛋糕需要面粉、糖、可可粉和鸡蛋。", "在一百八十度下烘烤三十五分钟。"},
    };
    static const struct {
        const char *q;
        const char *want_path;
        int want_ordinal;
    } cases[] = {
        {"how do I reset my wifi password", "/router.txt", 0},
        {"refund policy days", "/refund.txt", 0},
        {"how many minutes to bake", "/cake.txt", 1},
        {"如何重置无线密码", "/zh_router.txt", 0},
        {"退款多久发放", "/zh_refund.txt", 0},
        {"蛋糕", "/zh_cake.txt", 0},
        {"糖", "/zh_cake.txt", 0},
        {"chocolat cak recipe", "/cake.txt", 0}, /* typos: vectors still find it */
    };
    kb_arena_init(&a, 4096, 0);
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        put_doc(f->st, docs[i][0], &docs[i][1], 2);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int m = 0; m < 2; m++) {
            struct index_doc d;
            memset(&o, 0, sizeof(o));
            o.top_k = 3;
            o.rrf_k = 60;
            o.mode = INDEX_MODE_HYBRID;
            o.fusion = m ? INDEX_FUSION_WEIGHTED : INDEX_FUSION_RRF;
            o.vector_weight = 0.5;
            assert_int_equal(index_search(f->st, cases[i].q, &o, &a, &hits, &n, &err), 0);
            if (n < 1 || strcmp(hits[0].doc_path, cases[i].want_path) != 0 || hits[0].ordinal != cases[i].want_ordinal)
                fail_msg("'%s' (fusion %d): top hit %s#%d, want %s#%d", cases[i].q, m, n ? hits[0].doc_path : "-",
                         n ? hits[0].ordinal : -1, cases[i].want_path, cases[i].want_ordinal);
            assert_true(hits[0].score > 0);
            assert_true(hits[0].vector > 0);
            assert_string_equal(hits[0].heading_path, "Doc > Section");
            assert_int_equal(hits[0].page_start, hits[0].ordinal + 1);
            assert_int_equal(index_doc_get(f->st, hits[0].document_id, &a, &d, &err), 0);
            assert_string_equal(d.path, cases[i].want_path);
        }
    }
    /* the typo query has no BM25 match for "chocolat" but the vector list carries it */
    assert_true(search(f->st, "chocolat cak", INDEX_MODE_BM25, &a, &hits) == 0);
    assert_true(search(f->st, "chocolat cak", INDEX_MODE_VECTOR, &a, &hits) >= 1);
    assert_string_equal(hits[0].doc_path, "/cake.txt");
    /* document filter and MMR */
    {
        struct index_doc d;
        assert_int_equal(index_doc_find_by_path(f->st, 0, "/refund.txt", &a, &d, &err), 0);
        memset(&o, 0, sizeof(o));
        o.top_k = 5;
        o.document_id = d.id;
        o.mmr = true;
        o.mmr_lambda = 0.7;
        assert_int_equal(index_search(f->st, "password refund shipping", &o, &a, &hits, &n, &err), 0);
        assert_int_equal(n, 2);
        for (int i = 0; i < n; i++)
            assert_int_equal(hits[i].document_id, d.id);
    }
    kb_arena_release(&a);
}

/* CJK query unigrams: a query pair absent from the text still finds it by BM25 through its characters,
 * while a query made only of function characters plus an absent pair finds nothing. */
static void test_cjk_query_unigrams(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *hits;
    static const char *const wall[] = {"长城的城墙很高。"};
    static const char *const tea[] = {"绿茶产于杭州。"};
    kb_arena_init(&a, 4096, 0);
    int64_t id = put_doc(f->st, "/docs/wall.txt", wall, 1);
    put_doc(f->st, "/docs/tea.txt", tea, 1);
    /* the pair 城砖 is in no text; its character 城 is only in the wall text */
    int n = search(f->st, "城砖", INDEX_MODE_BM25, &a, &hits);
    assert_int_equal(n, 1);
    assert_int_equal(hits[0].document_id, id);
    /* 的 is a function character: a query pair built from it alone matches no unigram */
    n = search(f->st, "的吗", INDEX_MODE_BM25, &a, &hits);
    assert_int_equal(n, 0);
    kb_arena_release(&a);
}

/* Mixed scripts: a zh-Hans question finds zh-Hant text and the other way round (the tokenizer folds
 * Traditional to Simplified at index and query time), and a store whose full-text index was written
 * by an older tokenizer (meta 'tokenizer' absent or different) is re-indexed at the next writable
 * open: here the chunks table is changed behind FTS5's back, so only a rebuild finds the new word. */
static void test_mixed_script(void **state)
{
    struct fx *f = *state;
    struct kb_arena a;
    struct index_hit *hits;
    struct kb_error err = {0};
    static const char *const hant[] = {"臺灣的高速鐵路從臺北到高雄只要九十分鐘。"};
    static const char *const hans[] = {"长城是中国古代的军事防御工程，绵延数千公里。"};
    static const char *const other[] = {"绿茶产于杭州，龙井最有名。"};
    char db[4096];
    sqlite3 *s;
    int64_t id_hant, id_hans;
    int n;
    kb_arena_init(&a, 4096, 0);
    id_hant = put_doc(f->st, "/docs/hsr.txt", hant, 1);
    id_hans = put_doc(f->st, "/docs/wall.txt", hans, 1);
    put_doc(f->st, "/docs/tea.txt", other, 1);
    for (int m = 0; m < 2; m++) {
        enum index_mode mode = m ? INDEX_MODE_HYBRID : INDEX_MODE_BM25;
        n = search(f->st, "台湾高速铁路多久", mode, &a, &hits); /* Simplified question, Traditional text */
        assert_true(n >= 1);
        assert_int_equal(hits[0].document_id, id_hant);
        n = search(f->st, "長城綿延多少公裡", mode, &a, &hits); /* Traditional question, Simplified text */
        assert_true(n >= 1);
        assert_int_equal(hits[0].document_id, id_hans);
    }
    /* the pair 铁路 occurs only in its Traditional spelling: BM25 alone must find it */
    n = search(f->st, "铁路", INDEX_MODE_BM25, &a, &hits);
    assert_int_equal(n, 1);
    assert_int_equal(hits[0].document_id, id_hant);
    index_store_close(f->st);
    f->st = NULL;

    /* an index from an older tokenizer: the stored text changes, FTS5 still holds the old tokens */
    snprintf(db, sizeof(db), "%s/kbox.db", f->dir);
    assert_int_equal(sqlite3_open(db, &s), SQLITE_OK);
    assert_int_equal(sqlite3_exec(s,
                                  "UPDATE chunks SET text='緑茶和烏龍茶' WHERE text LIKE '绿茶%';"
                                  "DELETE FROM meta WHERE key='tokenizer';",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(s);
    assert_int_equal(idx_open(&f->st, f->dir, f->emb, &err), 0);
    n = search(f->st, "乌龙", INDEX_MODE_BM25, &a, &hits); /* 烏龍 folded, found only after the rebuild */
    assert_int_equal(n, 1);
    n = search(f->st, "杭州", INDEX_MODE_BM25, &a, &hits); /* the old text's tokens are gone */
    assert_int_equal(n, 0);
    check_ok(f->st);
    kb_arena_release(&a);
}

static void test_vector_file_rebuilds(void **state)
{
    struct fx *f = *state;
    struct kb_error err = {0};
    struct kb_arena a;
    struct index_hit *hits;
    char vpath[4200];
    const char *v1[] = {"Sidecar files hold vectors of lighthouse keepers.", "A second chunk about foghorns."};
    struct index_embedder *other = NULL;
    kb_arena_init(&a, 4096, 0);
    snprintf(vpath, sizeof(vpath), "%s/vectors.faiss", f->dir);
    put_doc(f->st, "/lh.txt", v1, 2);
    index_store_close(f->st);
    assert_int_equal(access(vpath, R_OK), 0);

    /* 1. clean reopen: loaded, consistent */
    assert_int_equal(idx_open(&f->st, f->dir, f->emb, &err), 0);
    check_ok(f->st);
    index_store_close(f->st);
    /* 2. corrupt byte in the payload */
    {
        int fd = open(vpath, O_RDWR);
        off_t end = lseek(fd, 0, SEEK_END);
        char c = 0x5a;
        assert_true(pwrite(fd, &c, 1, end - 9) == 1);
        close(fd);
    }
    assert_int_equal(idx_open(&f->st, f->dir, f->emb, &err), 0);
    check_ok(f->st);
    assert_true(search(f->st, "lighthouse keepers", INDEX_MODE_VECTOR, &a, &hits) >= 1);
    index_store_close(f->st);
    /* 3. truncated file, 4. missing file, 5. garbage file */
    assert_int_equal(truncate(vpath, 100), 0);
    assert_int_equal(idx_open(&f->st, f->dir, f->emb, &err), 0);
    check_ok(f->st);
    index_store_close(f->st);
    unlink(vpath);
    assert_int_equal(idx_open(&f->st, f->dir, f->emb, &err), 0);
    check_ok(f->st);
    assert_true(search(f->st, "foghorns", INDEX_MODE_VECTOR, &a, &hits) >= 1);
    index_store_close(f->st);
    {
        FILE *fp = fopen(vpath, "wb");
        fputs("garbage", fp);
        fclose(fp);
    }
    assert_int_equal(idx_open(&f->st, f->dir, f->emb, &err), 0);
    check_ok(f->st);
    index_store_close(f->st);
    /* 6. a changed embedder re-embeds every chunk and rebuilds */
    assert_int_equal(index_embedder_builtin_new(&other, 256, &err), 0);
    assert_int_equal(idx_open(&f->st, f->dir, other, &err), 0);
    check_ok(f->st);
    assert_true(search(f->st, "foghorns", INDEX_MODE_VECTOR, &a, &hits) >= 1);
    index_store_close(f->st);
    index_embedder_builtin_free(other);
    /* 7. a stale file (the db changed behind it: another writer without saving) */
    assert_int_equal(idx_open(&f->st, f->dir, f->emb, &err), 0);
    check_ok(f->st);
    kb_arena_release(&a);
}

static void test_ivf_above_threshold(void **state)
{
    struct fx *f = *state;
    struct index_open_opts o;
    struct kb_error err = {0};
    struct kb_arena a;
    struct index_hit *hits;
    int64_t first = 0;
    char vpath[4200];
    static char texts[50][8][96];
    kb_arena_init(&a, 4096, 0);
    snprintf(vpath, sizeof(vpath), "%s/vectors.faiss", f->dir);
    for (int d = 0; d < 50; d++) {
        const char *t[8];
        char path[32];
        for (int c = 0; c < 8; c++) {
            snprintf(texts[d][c], sizeof(texts[d][c]), "document %d chunk %d token%dx%d shared filler words here", d, c,
                     d, c);
            t[c] = texts[d][c];
        }
        snprintf(path, sizeof(path), "/ivf/%d.txt", d);
        if (d == 0)
            first = put_doc(f->st, path, t, 8);
        else
            put_doc(f->st, path, t, 8);
    }
    index_store_close(f->st);
    unlink(vpath);
    /* 400 vectors over a threshold of 100: rebuilt as IVF, saved, reloaded */
    memset(&o, 0, sizeof(o));
    o.data_dir = f->dir;
    o.embedder = f->emb;
    o.ann_threshold = 100;
    assert_int_equal(index_store_open(&f->st, &o, &err), 0);
    check_ok(f->st);
    assert_true(search(f->st, "token7x3", INDEX_MODE_VECTOR, &a, &hits) >= 1);
    assert_string_equal(hits[0].doc_path, "/ivf/7.txt");
    assert_int_equal(hits[0].ordinal, 3);
    assert_int_equal(index_doc_delete(f->st, first, &err), 0);
    check_ok(f->st);
    index_store_close(f->st);
    assert_int_equal(index_store_open(&f->st, &o, &err), 0);
    check_ok(f->st);
    assert_true(search(f->st, "token9x1", INDEX_MODE_HYBRID, &a, &hits) >= 1);
    assert_string_equal(hits[0].doc_path, "/ivf/9.txt");
    kb_arena_release(&a);
}

/* Chunk (d, c) of the index.ann test: 12 pseudo-words of its own, so that the chunk's text as a
 * query has that chunk as its clear nearest neighbour even at 64 dimensions. */
static void ann_text(int d, int c, char *out, size_t cap)
{
    static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi",
                                "ze", "po", "qu", "da", "fe", "gi", "ho", "ju"};
    uint64_t x = 0x9E3779B97F4A7C15ull ^ ((uint64_t)d << 20 | (uint64_t)c);
    size_t n = 0;
    for (int w = 0; w < 12 && n + 16 < cap; w++) {
        for (int k = 0; k < 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            n += (size_t)snprintf(out + n, cap - n, "%s", syl[x % 16]);
        }
        out[n++] = ' ';
    }
    out[n] = '\0';
}

/* Opens dir with the 64-d embedder from a config that sets index.ann and the lowest threshold. */
static int ann_open(struct index_store **st, const char *dir, const struct index_embedder *emb, const char *ann)
{
    struct config cfg;
    struct index_open_opts o;
    struct kb_error err = {0};
    int rc;
    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "data.dir", dir, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "index.ann", ann, CONFIG_SRC_FLAG, &err), 0);
    assert_int_equal(config_set(&cfg, "index.ann_threshold", "1000", CONFIG_SRC_FLAG, &err), 0);
    index_open_opts_from_config(&o, &cfg);
    o.embedder = emb;
    rc = index_store_open(st, &o, &err);
    if (rc)
        fail_msg("open (ann %s): %s", ann, err.msg);
    config_release(&cfg);
    return rc;
}

static const char *vector_kind(struct index_store *st)
{
    struct index_check c;
    struct kb_error err = {0};
    assert_int_equal(index_store_check(st, &c, &err), 0);
    return c.vector_kind;
}

/* The top vector hit for chunk (d, c)'s own text; checks that it is that chunk. */
static void ann_expect_top(struct index_store *st, int d, int c, struct kb_arena *a)
{
    char q[256], path[32];
    struct index_hit *hits;
    ann_text(d, c, q, sizeof(q));
    snprintf(path, sizeof(path), "/ann/%d.txt", d);
    assert_true(search(st, q, INDEX_MODE_VECTOR, a, &hits) >= 1);
    if (strcmp(hits[0].doc_path, path) != 0 || hits[0].ordinal != c)
        fail_msg("top hit for chunk %d/%d is %s#%d", d, c, hits[0].doc_path, hits[0].ordinal);
}

/* index.ann=hnsw above index.ann_threshold: the store saves and reloads an HNSW index, finds
 * chunks, forgets a deleted document (tombstones), and a reopen with index.ann=ivf rebuilds as IVF. */
static void test_ann_hnsw_then_ivf(void **state)
{
    enum { N_DOC = 70, N_CH = 16 }; /* 1120 vectors over the lowest threshold, 1000 */
    static const int targets[][2] = {{0, 0}, {7, 3}, {33, 15}, {69, 8}};
    struct index_embedder *emb = NULL;
    struct index_store *st = NULL;
    struct kb_error err = {0};
    struct kb_arena a;
    struct index_hit *hits;
    struct index_check c;
    char *dir = idx_tmpdir();
    static char texts[N_DOC][N_CH][256];
    int64_t doc7 = 0;
    int n;
    (void)state;
    kb_arena_init(&a, 4096, 0);
    assert_int_equal(index_embedder_builtin_new(&emb, 64, &err), 0);
    ann_open(&st, dir, emb, "hnsw");
    assert_string_equal(vector_kind(st), "flat"); /* empty: exact */
    for (int d = 0; d < N_DOC; d++) {
        const char *t[N_CH];
        char path[32];
        int64_t id;
        for (int k = 0; k < N_CH; k++) {
            ann_text(d, k, texts[d][k], sizeof(texts[d][k]));
            t[k] = texts[d][k];
        }
        snprintf(path, sizeof(path), "/ann/%d.txt", d);
        id = put_doc(st, path, t, N_CH);
        if (d == 7)
            doc7 = id;
    }
    /* still the flat index it started with; the save at close sees 1120 > 1000 and builds HNSW */
    assert_string_equal(vector_kind(st), "flat");
    index_store_close(st);
    ann_open(&st, dir, emb, "hnsw");
    assert_string_equal(vector_kind(st), "hnsw");
    check_ok(st);
    for (size_t i = 0; i < KB_ARRAY_LEN(targets); i++)
        ann_expect_top(st, targets[i][0], targets[i][1], &a);

    /* deleting document 7 tombstones its 16 vectors: none of them comes back */
    assert_int_equal(index_doc_delete(st, doc7, &err), 0);
    check_ok(st);
    assert_int_equal(index_store_check(st, &c, &err), 0);
    assert_int_equal(c.n_vectors, (N_DOC - 1) * N_CH);
    assert_string_equal(c.vector_kind, "hnsw");
    n = search(st, texts[7][3], INDEX_MODE_VECTOR, &a, &hits);
    assert_int_equal(n, 5); /* the search skips tombstones and fetches past them: still a full top 5 */
    for (int i = 0; i < n; i++)
        if (strcmp(hits[i].doc_path, "/ann/7.txt") == 0)
            fail_msg("deleted document 7 still found (hit %d, chunk %d)", i, hits[i].ordinal);
    ann_expect_top(st, 33, 15, &a);
    index_store_close(st); /* tombstones: rebuilt before the save */

    ann_open(&st, dir, emb, "hnsw");
    assert_string_equal(vector_kind(st), "hnsw");
    check_ok(st);
    assert_true(search(st, texts[7][3], INDEX_MODE_VECTOR, &a, &hits) >= 1);
    assert_string_not_equal(hits[0].doc_path, "/ann/7.txt");
    index_store_close(st);

    /* the config now asks for IVF: the HNSW file is rebuilt as IVF, and stays IVF after a save */
    ann_open(&st, dir, emb, "ivf");
    assert_string_equal(vector_kind(st), "ivf");
    check_ok(st);
    ann_expect_top(st, 69, 8, &a);
    index_store_close(st);
    ann_open(&st, dir, emb, "ivf");
    assert_string_equal(vector_kind(st), "ivf");
    ann_expect_top(st, 0, 0, &a);
    index_store_close(st);

    index_embedder_builtin_free(emb);
    idx_rm_rf(dir);
    free(dir);
    kb_arena_release(&a);
}

struct writer_arg {
    const char *dir;
    const struct index_embedder *emb;
    int n_done;
    int rc;
};

static void *writer_main(void *p)
{
    struct writer_arg *w = p;
    struct index_store *st = NULL;
    struct kb_error err = {0};
    w->rc = idx_open(&st, w->dir, w->emb, &err);
    for (int i = 0; w->rc == 0 && i < 40; i++) {
        char path[64], text[128];
        struct index_doc d = {0};
        struct index_chunk c = {0};
        snprintf(path, sizeof(path), "/w/%d.txt", i % 10);
        snprintf(text, sizeof(text), "concurrent writer document %d about albatross number %d", i, i);
        d.path = path;
        c.text = text;
        w->rc = index_doc_replace(st, &d, &c, 1, NULL, NULL, 0, NULL, &err);
        w->n_done++;
    }
    index_store_close(st);
    return NULL;
}

static void test_search_while_writing(void **state)
{
    struct fx *f = *state;
    struct writer_arg w = {f->dir, f->emb, 0, 0};
    pthread_t th;
    struct kb_arena a;
    struct index_hit *hits;
    int n_search = 0;
    kb_arena_init(&a, 4096, 0);
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
    while (__atomic_load_n(&w.n_done, __ATOMIC_RELAXED) < 40 && w.rc == 0) {
        search(f->st, "albatross document", INDEX_MODE_HYBRID, &a, &hits);
        n_search++;
        kb_arena_release(&a);
    }
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    assert_true(n_search > 0);
    /* the other connection's commits are visible, vectors included */
    assert_int_equal(search(f->st, "albatross", INDEX_MODE_BM25, &a, &hits), 5);
    assert_int_equal(search(f->st, "albatross", INDEX_MODE_VECTOR, &a, &hits), 5);
    check_ok(f->st);
    kb_arena_release(&a);
}

/* Document context: two handbooks whose return sections differ only in a number are told apart
 * by a question naming the company, which only the document titles hold (English and Chinese);
 * a heading path that starts with the title adds nothing, nor does a title that is one section
 * heading beside others; a version-10 store gets the column filled by the same rule, its
 * full-text index made anew and those chunks embedded again with the title at open. */
static int64_t put_titled(struct index_store *st, const char *path, const char *title, const char *heading,
                          const char *text)
{
    int64_t id = idx_put_chunk(st, path, title, heading, text);
    assert_true(id > 0);
    return id;
}

static void check_context_hits(struct index_store *st, int64_t globex, int64_t mingda)
{
    struct kb_arena a;
    struct index_hit *hits;
    kb_arena_init(&a, 4096, 0);
    for (int m = 0; m < 2; m++) {
        enum index_mode mode = m ? INDEX_MODE_HYBRID : INDEX_MODE_BM25;
        assert_true(search(st, "What is the Globex return window?", mode, &a, &hits) >= 2);
        assert_int_equal(hits[0].document_id, globex);
        assert_string_equal(hits[0].heading_path, "Returns"); /* the context is not shown as a heading */
        assert_true(search(st, "明达公司的年假有几天", mode, &a, &hits) >= 2);
        assert_int_equal(hits[0].document_id, mingda);
    }
    kb_arena_release(&a);
}

/* The stored contexts, in chunk order, of test_document_context's documents. */
static void check_contexts(const char *db_path)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(context, '|') FROM (SELECT context FROM chunks"
                                            " ORDER BY id)", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0),
                        "Acme Customer Handbook|Globex Customer Handbook|华源公司员工手册|明达公司员工手册||||");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* The stored vectors of the chunks that have a context, as hex, in chunk order. */
static char *context_vectors(const char *db_path)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    char *out;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(v, '|') FROM (SELECT hex(e.vector) AS v FROM"
                                            " embeddings e JOIN chunks c ON c.id=e.chunk_id WHERE c.context<>''"
                                            " ORDER BY c.id)", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    out = kb_xstrdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

static void test_document_context(void **state)
{
    struct fx *f = *state;
    char path[4200];
    sqlite3 *db;
    assert_string_equal(index_chunk_context("Manual", "Manual > Setup"), "");
    assert_string_equal(index_chunk_context("Manual", "Manual"), "");
    assert_string_equal(index_chunk_context("Manual", "Manuals > Setup"), "Manual");
    assert_string_equal(index_chunk_context("Manual", NULL), "Manual");
    assert_string_equal(index_chunk_context("", "Setup"), "");
    assert_string_equal(index_chunk_context(NULL, "Setup"), "");
    struct index_chunk manual[3] = {{.text = "Read this first.", .heading_path = ""},
                                    {.text = "Unpack the bike.", .heading_path = "1. Introduction"},
                                    {.text = "Check the pads.", .heading_path = "2. Brakes > 2.1 Pads"}};
    /* a first heading taken as title beside other sections names a section, not the document */
    assert_string_equal(index_doc_context("1. Introduction", manual, 3), "");
    assert_string_equal(index_doc_context("1. Introduction", manual, 2), "1. Introduction"); /* the root */
    assert_string_equal(index_doc_context("Bike Manual", manual, 3), "Bike Manual");
    assert_string_equal(index_doc_context("", manual, 3), "");
    /* inserted first, so a tie would rank the other company's chunk first */
    put_titled(f->st, "/hb/acme.txt", "Acme Customer Handbook", "Returns",
               "Items can be returned within 30 days of delivery for a full refund.");
    int64_t globex = put_titled(f->st, "/hb/globex.txt", "Globex Customer Handbook", "Returns",
                                "Items can be returned within 60 days of delivery for a full refund.");
    put_titled(f->st, "/hb/huayuan.txt", "华源公司员工手册", "年假", "员工每年有十五天带薪年假。");
    int64_t mingda = put_titled(f->st, "/hb/mingda.txt", "明达公司员工手册", "年假", "员工每年有二十天带薪年假。");
    put_titled(f->st, "/hb/setup.md", "Setup Guide", "Setup Guide > Wi-Fi", "Hold the button for ten seconds.");
    struct index_doc md = {.name = "bike.pdf", .path = "/hb/bike.pdf", .mime = "application/pdf",
                           .title = "1. Introduction"};
    struct kb_error err = {0};
    assert_int_equal(index_doc_replace(f->st, &md, manual, 3, NULL, NULL, 0, NULL, &err), 0);
    check_context_hits(f->st, globex, mingda);
    check_ok(f->st);

    /* what the rows hold, then the same store as a version-10 one (no context column) */
    index_store_close(f->st);
    f->st = NULL;
    snprintf(path, sizeof path, "%s/kbox.db", f->dir);
    check_contexts(path);
    char *want = context_vectors(path);
    /* a version-10 store's vectors were embedded without the title: stand in another chunk's */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE embeddings SET vector=(SELECT vector FROM embeddings"
                                      " WHERE chunk_id=(SELECT max(id) FROM chunks)) WHERE chunk_id IN"
                                      " (SELECT id FROM chunks WHERE context<>'');"
                                      "ALTER TABLE chunks DROP COLUMN context; PRAGMA user_version=10;",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(idx_open(&f->st, f->dir, f->emb, &err), 0);
    assert_int_equal(index_store_schema_version(f->st), 11);
    check_context_hits(f->st, globex, mingda);
    check_ok(f->st);
    index_store_close(f->st);
    f->st = NULL;
    check_contexts(path); /* the migration's SQL gives what index_doc_context gave */
    char *got = context_vectors(path); /* and the open embedded those chunks again, with the title */
    assert_string_equal(got, want);
    free(got);
    free(want);
    assert_int_equal(idx_open(&f->st, f->dir, f->emb, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_and_collections, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_doc_lifecycle, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_replace_is_atomic, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_query_syntax_never_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_hybrid_en_zh, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cjk_query_unigrams, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_mixed_script, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_vector_file_rebuilds, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_search_while_writing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ivf_above_threshold, fx_setup, fx_teardown),
        cmocka_unit_test(test_ann_hnsw_then_ivf),
        cmocka_unit_test_setup_teardown(test_document_context, fx_setup, fx_teardown),
    };
    kb_log_set_level(KB_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
