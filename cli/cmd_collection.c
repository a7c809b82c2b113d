/* cli/cmd_collection.c: `kbox collection`, collections and their own handoff triggers through rag/
 * (rag/coll_handoff.c), like /api/collections:
 *   kbox collection list                 every collection with its document count
 *   kbox collection add NAME             a new, empty collection
 *   kbox collection handoff NAME [SETTINGS]   show (no SETTINGS) or change the collection's handoff
 *        triggers; settings not named keep their value:
 *        --handoff true|false|inherit  --keywords "A,B"|off|inherit  --after-fallbacks N|inherit
 *        --on-thumbs-down true|false|inherit
 * The handoff flags become the JSON object PUT /api/collections/{id}/handoff takes, so validation
 * and messages are one. With --json: list {"collections":[{id, name, documents}]}, add {"id",
 * "name"}, handoff {"handoff":{...}} (rag_coll_handoff_json). Errors go to stderr as "kbox: ..."
 * (exit 2 for bad input, 1 for usage). Tests: tests/cli/test_collection_cli.c. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"
#include "rag/rag.h"

static const struct {
    const char *flag, *member;
    bool tri; /* true / false are JSON booleans; other values go as strings for rag to judge */
} coll_flags[] = {
    {"--handoff", "handoff", true},
    {"--keywords", "handoff_keywords", false},
    {"--after-fallbacks", "handoff_after_fallbacks", false},
    {"--on-thumbs-down", "handoff_on_thumbs_down", true},
};

/* argv[2..] (after "handoff NAME") into the JSON body; *n_set the settings named. */
static int coll_handoff_body(struct cli *c, struct kb_buf *body, int *n_set)
{
    struct jw w;
    *n_set = 0;
    jw_init(&w, body);
    jw_obj(&w, NULL);
    for (int i = 2; i < c->argc; i++) {
        const char *f = c->argv[i], *v = i + 1 < c->argc ? c->argv[i + 1] : NULL;
        size_t k = 0;
        while (k < KB_ARRAY_LEN(coll_flags) && strcmp(f, coll_flags[k].flag))
            k++;
        if (k == KB_ARRAY_LEN(coll_flags))
            return cli_usage("collection", "unknown argument '%s'", f);
        if (!v)
            return cli_usage("collection", "%s needs a value", f);
        if (coll_flags[k].tri && (!strcmp(v, "true") || !strcmp(v, "false")))
            jw_bool(&w, coll_flags[k].member, !strcmp(v, "true"));
        else if (!strcmp(coll_flags[k].member, "handoff_after_fallbacks") && strspn(v, "0123456789") == strlen(v) &&
                 v[0] && strlen(v) < 10)
            jw_int(&w, coll_flags[k].member, atoll(v));
        else
            jw_str(&w, coll_flags[k].member, v);
        (*n_set)++;
        i++;
    }
    jw_end_obj(&w);
    return w.rc ? cli_usage("collection", "the settings are too long") : 0;
}

/* The settings in force for a question over this collection alone, "(handoff.KEY)" when inherited. */
static void coll_show(const struct index_coll_handoff *h, const struct config *cfg, const char *name, struct kb_buf *out)
{
    struct rag_handoff_rules e;
    char kw[1100];
    rag_handoff_merge(NULL, h, 1, cfg, &e, kw, sizeof kw);
    kb_buf_printf(out, "collection %s\n", name);
    kb_buf_printf(out, "handoff    %s%s\n", e.enabled ? "on" : "off", h->handoff < 0 ? "  (handoff.enabled)" : "");
    kb_buf_printf(out, "keywords   %s%s\n", h->keywords_off ? "off" : e.keywords[0] ? e.keywords : "(none)",
                  h->keywords_off || h->keywords[0] ? "" : "  (handoff.keywords)");
    kb_buf_printf(out, "after      %d fallbacks in a row%s\n", e.after_fallbacks,
                  h->after_fallbacks < 0 ? "  (handoff.after_fallbacks)" : e.after_fallbacks ? "" : " (off)");
    kb_buf_printf(out, "thumbs     %s%s\n", e.on_thumbs_down ? "on" : "off",
                  h->on_thumbs_down < 0 ? "  (handoff.on_thumbs_down)" : "");
}

static int coll_handoff(struct cli *c, struct rag *r, const char *name, const struct kb_buf *body, int n_set,
                        struct kb_buf *out, struct kb_error *err)
{
    struct kb_arena a;
    struct index_coll_handoff h;
    const struct config *cfg;
    int64_t id = 0;
    int rc = rag_collection_find(r, name, &id, err);
    if (rc == KB_ENOENT)
        return kb_error_set(err, KB_ENOENT, "no collection named '%.200s'", name);
    if (rc || (n_set && (rc = rag_coll_handoff_put_json(r, id, body->data, body->len, err))))
        return rc;
    kb_arena_init(&a, 0, 0);
    cfg = rag_config_get(r);
    if ((rc = rag_coll_handoff_get(r, id, &a, &h, err)) == 0) {
        if (c->json) {
            struct jw w;
            jw_init(&w, out);
            jw_obj(&w, NULL);
            rag_coll_handoff_json(&w, "handoff", &h, cfg);
            jw_end_obj(&w);
            kb_buf_putc(out, '\n');
        } else {
            coll_show(&h, cfg, name, out);
        }
    }
    rag_config_put(r, cfg);
    kb_arena_release(&a);
    return rc;
}

static int coll_list(struct cli *c, struct rag *r, struct kb_buf *out, struct kb_error *err)
{
    struct rag_collection *cs = NULL;
    struct jw w;
    int n = 0, rc = rag_collections_list(r, &cs, &n, err);
    if (rc)
        return rc;
    jw_init(&w, out);
    if (c->json) {
        jw_obj(&w, NULL);
        jw_arr(&w, "collections");
    }
    for (int i = 0; i < n; i++) {
        if (c->json) {
            jw_obj(&w, NULL);
            jw_int(&w, "id", cs[i].id);
            jw_str(&w, "name", cs[i].name);
            jw_int(&w, "documents", cs[i].n_documents);
            jw_end_obj(&w);
        } else {
            kb_buf_printf(out, "%-6lld %-30s %lld documents\n", (long long)cs[i].id, cs[i].name,
                          (long long)cs[i].n_documents);
        }
    }
    if (c->json) {
        jw_end_arr(&w);
        jw_end_obj(&w);
        kb_buf_putc(out, '\n');
    }
    rag_collections_free(cs, n);
    return 0;
}

int cmd_collection(struct cli *c)
{
    const char *sub = c->argc >= 1 ? c->argv[0] : "", *name = c->argc >= 2 ? c->argv[1] : NULL;
    struct rag *r = NULL;
    struct kb_error err = {0};
    struct kb_buf out, body;
    int rc = 0, n_set = 0;
    if (strcmp(sub, "list") && strcmp(sub, "add") && strcmp(sub, "handoff"))
        return cli_usage("collection", "usage: kbox collection list|add|handoff ... (kbox help collection)");
    if (strcmp(sub, "list") && (!name || name[0] == '-'))
        return cli_usage("collection", "collection %s needs the collection's name", sub);
    if ((!strcmp(sub, "list") && c->argc > 1) || (!strcmp(sub, "add") && c->argc > 2))
        return cli_usage("collection", "unexpected argument '%s' for collection %s", c->argv[c->argc - 1], sub);
    kb_buf_init(&body, 0);
    if (!strcmp(sub, "handoff") && (rc = coll_handoff_body(c, &body, &n_set))) {
        kb_buf_release(&body);
        return rc;
    }
    if ((rc = rag_open(&r, &c->cfg, &err))) {
        kb_buf_release(&body);
        return cli_fail(rc, &err);
    }
    kb_buf_init(&out, 0);
    if (!strcmp(sub, "list")) {
        rc = coll_list(c, r, &out, &err);
    } else if (!strcmp(sub, "handoff")) {
        rc = coll_handoff(c, r, name, &body, n_set, &out, &err);
    } else {
        int64_t id = 0;
        if ((rc = rag_collection_create(r, name, &id, &err)) == 0) {
            if (c->json) {
                struct jw w;
                jw_init(&w, &out);
                jw_obj(&w, NULL);
                jw_int(&w, "id", id);
                jw_str(&w, "name", name);
                jw_end_obj(&w);
                kb_buf_putc(&out, '\n');
            } else
                kb_buf_printf(&out, "added collection %s (id %lld)\n", name, (long long)id);
        }
    }
    rag_close(r);
    kb_buf_release(&body);
    if (rc) {
        kb_buf_release(&out);
        return cli_fail(rc, &err);
    }
    rc = cli_print(&out);
    kb_buf_release(&out);
    return rc;
}
