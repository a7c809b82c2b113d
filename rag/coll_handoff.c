/* rag/coll_handoff.c: a collection's own handoff triggers (issue #17 item 1: "each trigger is
 * configurable per collection, and can be off") and the rule that merges them with a bot's and the
 * global handoff.* keys. Stored by index/store_coll_handoff.c; web/api_handoff.c applies the rules,
 * web/api_docs.c and cli/cmd_collection.c edit them.
 *
 * Settings (JSON, as a bot's): handoff and handoff_on_thumbs_down true|false|"inherit";
 * handoff_after_fallbacks 0..100 (0 = off) or "inherit"; handoff_keywords a comma-separated list,
 * "" or "inherit" (inherit), or false / "off" (the keyword trigger is off for the collection).
 *
 * Precedence, per setting, for one question, vote or handoff request:
 *   1. the bot's own setting (when a bot is named and its setting is not "inherit");
 *   2. else the settings of the collections the conversation searches: the one collection the
 *      question names, or the bot's collections. Of those that set it (do not inherit), the most
 *      reserved wins: a trigger (handoff, on_thumbs_down, after_fallbacks, the keywords) is off if
 *      any of them turns it off; otherwise handoff / on_thumbs_down are on if any turns them on,
 *      after_fallbacks is the largest N set (the most patient), and the keyword lists set are joined
 *      (a customer who writes any collection's phrase for a person is asking for one);
 *   3. else handoff.*.
 * Why "off wins": a collection's owner who turns a trigger off means "never hand off on this
 * here" (e.g. an internal HR collection with no agents for it), and a conversation that also
 * searches another collection is still a conversation about this one; a bot that wants the trigger
 * anyway says so itself (step 1). A question over every collection (no collection and no bot, or a
 * bot of every collection) follows no collection's settings: otherwise any one collection's owner
 * could switch a trigger off for the whole site.
 * Invariants: stateless; the store has its own lock. Tests: tests/web/test_handoff.c
 * (test_coll_handoff), tests/cli/test_collection_cli.c. */
#include "rag/rag_int.h"

#include <stdio.h>
#include <string.h>

#define CH_KEYWORDS_MAX 1000 /* bytes of one collection's keyword list */

static int coll_exists(struct rag *r, int64_t id, struct kb_error *err)
{
    struct kb_arena a;
    struct index_collection *c = NULL;
    int n = 0, rc;
    bool found = false;
    kb_arena_init(&a, 0, 0);
    rc = index_collection_list(r->st, &a, &c, &n, err);
    for (int i = 0; !rc && i < n; i++)
        found = found || c[i].id == id;
    kb_arena_release(&a);
    if (!rc && !found)
        rc = kb_error_set(err, KB_ENOENT, "no collection with id %lld", (long long)id);
    return rc;
}

int rag_coll_handoff_get(struct rag *r, int64_t id, struct kb_arena *a, struct index_coll_handoff *out,
                         struct kb_error *err)
{
    int rc = coll_exists(r, id, err);
    return rc ? rc : index_coll_handoff_get(r->st, id, a, out, err);
}

/* ---- the merge ------------------------------------------------------------------------------------ */

/* Folds one collection's tri-state (-1/0/1) into the running one: 0 (off) wins, then 1. */
static int fold_tri(int acc, int v)
{
    return v < 0 ? acc : acc == 0 || v == 0 ? 0 : 1;
}

void rag_handoff_merge(const struct rag_bot *b, const struct index_coll_handoff *c, int n_c,
                       const struct config *cfg, struct rag_handoff_rules *out, char *kw, size_t kw_bytes)
{
    int on = -1, thumbs = -1, after = -1, kw_off = 0;
    size_t used = 0;
    kw[0] = '\0';
    for (int i = 0; i < n_c; i++) {
        on = fold_tri(on, c[i].handoff);
        thumbs = fold_tri(thumbs, c[i].on_thumbs_down);
        if (c[i].after_fallbacks == 0 || after == 0)
            after = c[i].after_fallbacks == 0 ? 0 : after;
        else if (c[i].after_fallbacks > after)
            after = c[i].after_fallbacks;
        kw_off = kw_off || c[i].keywords_off;
        if (c[i].keywords && c[i].keywords[0]) { /* joined; a whole list that does not fit is left out */
            size_t n = strlen(c[i].keywords);
            if (used + n + 2 <= kw_bytes)
                used += (size_t)snprintf(kw + used, kw_bytes - used, "%s%s", used ? "," : "", c[i].keywords);
        }
    }
    rag_bot_handoff(NULL, cfg, out);
    if (on >= 0)
        out->enabled = on != 0;
    if (thumbs >= 0)
        out->on_thumbs_down = thumbs != 0;
    if (after >= 0)
        out->after_fallbacks = after;
    if (kw_off)
        out->keywords = "";
    else if (used)
        out->keywords = kw;
    if (b) /* the bot's own settings beat the collections' */
        rag_bot_handoff_apply(b, out);
}

int rag_handoff_rules_for(struct rag *r, const struct rag_bot *b, int64_t collection_id, struct rag_handoff_rules *out,
                          char *kw, size_t kw_bytes, struct kb_error *err)
{
    const struct config *cfg = rag_config_get(r);
    struct kb_arena a;
    struct index_coll_handoff one[RAG_BOT_MAX_COLLECTIONS];
    int n = 0, rc = 0;
    kb_arena_init(&a, 0, 0);
    if (collection_id > 0)
        rc = index_coll_handoff_get(r->st, collection_id, &a, &one[n++], err);
    else if (b)
        for (int i = 0; !rc && i < b->n_collections && n < RAG_BOT_MAX_COLLECTIONS; i++)
            rc = index_coll_handoff_get(r->st, b->collection_ids[i], &a, &one[n++], err);
    rag_handoff_merge(b, one, rc ? 0 : n, cfg, out, kw, kw_bytes);
    /* keywords may point into the bot or cfg: copy them into kw, which outlives both (a list that
     * does not fit becomes "": callers that read keywords give room for handoff.keywords' 4096) */
    if (out->keywords != kw) {
        size_t len = strlen(out->keywords ? out->keywords : "");
        if (len < kw_bytes)
            memcpy(kw, out->keywords ? out->keywords : "", len + 1);
        else
            kw[0] = '\0';
        out->keywords = kw;
    }
    kb_arena_release(&a);
    rag_config_put(r, cfg);
    return rc;
}

/* ---- JSON ------------------------------------------------------------------------------------------- */

struct ch_body {
    char *handoff, *handoff_keywords, *handoff_after_fallbacks, *handoff_on_thumbs_down; /* KB_J_ANY */
};

static const struct kb_jfield ch_fields[] = {
    {.name = "handoff", .type = KB_J_ANY, .off = offsetof(struct ch_body, handoff)},
    {.name = "handoff_keywords", .type = KB_J_ANY, .off = offsetof(struct ch_body, handoff_keywords)},
    {.name = "handoff_after_fallbacks", .type = KB_J_ANY, .off = offsetof(struct ch_body, handoff_after_fallbacks)},
    {.name = "handoff_on_thumbs_down", .type = KB_J_ANY, .off = offsetof(struct ch_body, handoff_on_thumbs_down)},
    {0},
};

static int ch_tri(const char *name, const char *v, int *out, struct kb_error *err)
{
    if (!v)
        return 0;
    if (!strcmp(v, "inherit") || !strcmp(v, "true") || !strcmp(v, "false")) {
        *out = v[0] == 'i' ? -1 : v[0] == 't';
        return 0;
    }
    return kb_error_set(err, KB_EINVAL, "collection %s must be true, false or \"inherit\" (got %.20s)", name, v);
}

static int ch_keywords(const char *v, struct index_coll_handoff *h, struct kb_error *err)
{
    size_t n = v ? strlen(v) : 0;
    if (!v)
        return 0;
    if (!strcmp(v, "false") || !strcmp(v, "off")) {
        h->keywords_off = true;
        h->keywords = "";
        return 0;
    }
    if (n > CH_KEYWORDS_MAX || !kb_utf8_valid(v, n))
        return kb_error_set(err, KB_EINVAL, "collection handoff_keywords must be valid UTF-8 of at most %d bytes",
                            CH_KEYWORDS_MAX);
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20)
            return kb_error_set(err, KB_EINVAL, "collection handoff_keywords has a control character "
                                                "(write a comma-separated list)");
    if (!strcmp(v, "true") || v[0] == '[' || v[0] == '{')
        return kb_error_set(err, KB_EINVAL, "collection handoff_keywords must be a comma-separated list, \"inherit\" "
                                            "or false (got %.20s)", v);
    h->keywords_off = false;
    h->keywords = strcmp(v, "inherit") ? v : "";
    return 0;
}

int rag_coll_handoff_put_json(struct rag *r, int64_t id, const char *body, size_t n, struct kb_error *err)
{
    struct kb_arena a;
    struct ch_body b = {0};
    struct index_coll_handoff h;
    int64_t after = 0;
    int rc;
    kb_arena_init(&a, 0, 0);
    if ((rc = rag_coll_handoff_get(r, id, &a, &h, err)) || (rc = kb_json_decode(body, n, ch_fields, &b, &a, err)) ||
        (rc = ch_tri("handoff", b.handoff, &h.handoff, err)) ||
        (rc = ch_tri("handoff_on_thumbs_down", b.handoff_on_thumbs_down, &h.on_thumbs_down, err)) ||
        (rc = ch_keywords(b.handoff_keywords, &h, err)))
        goto out;
    if (b.handoff_after_fallbacks) {
        if (!strcmp(b.handoff_after_fallbacks, "inherit"))
            h.after_fallbacks = -1;
        else if (kb_parse_i64(b.handoff_after_fallbacks, &after) == 0 && after >= 0 && after <= 100)
            h.after_fallbacks = (int)after;
        else {
            rc = kb_error_set(err, KB_EINVAL, "collection handoff_after_fallbacks must be 0 to 100 or \"inherit\" "
                                              "(got %.20s)", b.handoff_after_fallbacks);
            goto out;
        }
    }
    rc = index_coll_handoff_put(r->st, &h, err);
out:
    kb_arena_release(&a);
    return rc;
}

static void tri_json(struct jw *w, const char *key, int v)
{
    if (v < 0)
        jw_str(w, key, "inherit");
    else
        jw_bool(w, key, v != 0);
}

void rag_coll_handoff_json(struct jw *w, const char *key, const struct index_coll_handoff *h, const struct config *cfg)
{
    struct rag_handoff_rules e;
    char kw[CH_KEYWORDS_MAX + 8];
    jw_obj(w, key);
    jw_int(w, "collection_id", h->collection_id);
    tri_json(w, "handoff", h->handoff);
    if (h->keywords_off)
        jw_bool(w, "handoff_keywords", false);
    else
        jw_str(w, "handoff_keywords", h->keywords && h->keywords[0] ? h->keywords : "inherit");
    if (h->after_fallbacks < 0)
        jw_str(w, "handoff_after_fallbacks", "inherit");
    else
        jw_int(w, "handoff_after_fallbacks", h->after_fallbacks);
    tri_json(w, "handoff_on_thumbs_down", h->on_thumbs_down);
    rag_handoff_merge(NULL, h, 1, cfg, &e, kw, sizeof kw); /* a question over this collection alone */
    jw_obj(w, "effective_handoff");
    jw_bool(w, "enabled", e.enabled);
    jw_str(w, "keywords", e.keywords ? e.keywords : "");
    jw_bool(w, "keywords_on", e.keywords && e.keywords[0]);
    jw_int(w, "after_fallbacks", e.after_fallbacks);
    jw_bool(w, "on_thumbs_down", e.on_thumbs_down);
    jw_end_obj(w);
    jw_end_obj(w);
}
