/* cli/cmd_bot.c: `kbox bot`, bots from the command line through rag/ (rag/bots.c), like /api/bots:
 *   kbox bot list
 *   kbox bot show ID
 *   kbox bot add ID [SETTINGS]
 *   kbox bot set ID SETTINGS        (settings not named keep their value)
 *   kbox bot rm ID
 * SETTINGS: --name N, --collection C (repeat; --all-collections clears the list: every collection),
 * --greeting T, --persona T, --fallback T, --strict true|false|inherit, --model FILE|extractive|"",
 * --origin O (repeat; --no-origins clears: server.cors_origins), --color #rrggbb, --logo URL,
 * --lang en|zh|"", --public-page on|off, --handoff true|false|inherit, --handoff-keywords "A,B",
 * --handoff-after-fallbacks N|inherit, --handoff-on-thumbs-down true|false|inherit.
 * An empty value ("") inherits the global setting.
 * The flags become the JSON object POST/PUT /api/bots take, so validation and messages are one.
 * With --json: list {"bots":[bot...]}, show/add/set {"bot":bot} (rag_bot_json's full object), rm
 * {"deleted":ID}. Errors go to stderr as "kbox: ..." (exit 2 for bad input, 1 for usage).
 * Tests: tests/cli/test_bot_cli.c. */
#include "cli/cli.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag/rag.h"

/* The flags whose value is one JSON string member. */
static const struct {
    const char *flag, *member;
} bot_str_flags[] = {
    {"--name", "name"},   {"--greeting", "greeting"}, {"--persona", "persona"}, {"--fallback", "fallback"},
    {"--model", "model"}, {"--color", "color"},       {"--logo", "logo"},       {"--lang", "lang"},
    {"--handoff-keywords", "handoff_keywords"},
};

/* The flags whose value is true, false, or another value sent as a string for rag to judge. */
static const struct {
    const char *flag, *member;
} bot_tri_flags[] = {
    {"--strict", "strict"},
    {"--handoff", "handoff"},
    {"--handoff-on-thumbs-down", "handoff_on_thumbs_down"},
};

/* Builds the JSON body from argv[2..] (after "add|set ID"); id is set only for add. */
static int bot_body(struct cli *c, const char *id, struct kb_buf *body)
{
    struct jw w;
    const char *colls[RAG_BOT_MAX_COLLECTIONS], *origins[RAG_BOT_MAX_ORIGINS];
    int n_colls = 0, n_origins = 0;
    bool set_colls = false, set_origins = false;
    jw_init(&w, body);
    jw_obj(&w, NULL);
    if (id)
        jw_str(&w, "id", id);
    for (int i = 2; i < c->argc; i++) {
        const char *f = c->argv[i], *v = i + 1 < c->argc ? c->argv[i + 1] : NULL;
        bool done = false;
        for (size_t k = 0; k < KB_ARRAY_LEN(bot_str_flags) && !done; k++)
            if (!strcmp(f, bot_str_flags[k].flag)) {
                if (!v)
                    return cli_usage("bot", "%s needs a value", f);
                jw_str(&w, bot_str_flags[k].member, v);
                done = true;
            }
        for (size_t k = 0; k < KB_ARRAY_LEN(bot_tri_flags) && !done; k++)
            if (!strcmp(f, bot_tri_flags[k].flag)) {
                if (!v)
                    return cli_usage("bot", "%s needs a value", f);
                if (!strcmp(v, "true") || !strcmp(v, "false"))
                    jw_bool(&w, bot_tri_flags[k].member, !strcmp(v, "true"));
                else
                    jw_str(&w, bot_tri_flags[k].member, v); /* "inherit", or a bad value rag names */
                done = true;
            }
        if (!done && !strcmp(f, "--handoff-after-fallbacks")) {
            int64_t n = 0;
            if (!v)
                return cli_usage("bot", "%s needs a value", f);
            if (kb_parse_i64(v, &n) == 0)
                jw_int(&w, "handoff_after_fallbacks", n);
            else
                jw_str(&w, "handoff_after_fallbacks", v); /* "inherit", or a bad value rag names */
            done = true;
        }
        if (done) {
            i++;
        } else if (!strcmp(f, "--all-collections")) {
            set_colls = true;
            n_colls = 0;
        } else if (!strcmp(f, "--no-origins")) {
            set_origins = true;
            n_origins = 0;
        } else if (!v && (!strcmp(f, "--collection") || !strcmp(f, "--origin") || !strcmp(f, "--public-page"))) {
            return cli_usage("bot", "%s needs a value", f);
        } else if (!strcmp(f, "--collection")) {
            if (n_colls >= RAG_BOT_MAX_COLLECTIONS)
                return cli_usage("bot", "at most %d --collection", RAG_BOT_MAX_COLLECTIONS);
            colls[n_colls++] = v;
            set_colls = true;
            i++;
        } else if (!strcmp(f, "--origin")) {
            if (n_origins >= RAG_BOT_MAX_ORIGINS)
                return cli_usage("bot", "at most %d --origin", RAG_BOT_MAX_ORIGINS);
            origins[n_origins++] = v;
            set_origins = true;
            i++;
        } else if (!strcmp(f, "--public-page")) {
            if (strcmp(v, "on") && strcmp(v, "off"))
                return cli_usage("bot", "--public-page takes on or off");
            jw_bool(&w, "public_page", !strcmp(v, "on"));
            i++;
        } else {
            return cli_usage("bot", "unknown argument '%s'", f);
        }
    }
    if (set_colls) {
        jw_arr(&w, "collections");
        for (int i = 0; i < n_colls; i++)
            jw_str(&w, NULL, colls[i]);
        jw_end_arr(&w);
    }
    if (set_origins) {
        jw_arr(&w, "origins");
        for (int i = 0; i < n_origins; i++)
            jw_str(&w, NULL, origins[i]);
        jw_end_arr(&w);
    }
    jw_end_obj(&w);
    return w.rc ? cli_usage("bot", "the settings are too long") : 0;
}

/* The handoff lines of `kbox bot show`: each setting in force, "(handoff.KEY)" when inherited. */
static void bot_show_handoff(const struct rag_bot *b, const struct config *cfg, struct kb_buf *out)
{
    struct rag_handoff_rules h;
    rag_bot_handoff(b, cfg, &h);
    kb_buf_printf(out, "handoff      %s%s\n", h.enabled ? "on" : "off", b->handoff < 0 ? "  (handoff.enabled)" : "");
    kb_buf_printf(out, "  keywords   %s%s\n", h.keywords[0] ? h.keywords : "(none)",
                  b->handoff_keywords[0] ? "" : "  (handoff.keywords)");
    kb_buf_printf(out, "  after      %d fallbacks in a row%s\n", h.after_fallbacks,
                  b->handoff_after_fallbacks < 0 ? "  (handoff.after_fallbacks)" : h.after_fallbacks ? "" : " (off)");
    kb_buf_printf(out, "  thumbs     %s%s\n", h.on_thumbs_down ? "on" : "off",
                  b->handoff_on_thumbs_down < 0 ? "  (handoff.on_thumbs_down)" : "");
}

/* One bot: JSON {"bot":...}, or its settings as lines. */
static int bot_show(struct cli *c, struct rag *r, const char *id, struct kb_buf *out, struct kb_error *err)
{
    struct kb_arena a;
    struct rag_bot b;
    const struct config *cfg = rag_config_get(r);
    struct jw w;
    int rc;
    kb_arena_init(&a, 0, 0);
    rc = rag_bot_get(r, id, &a, &b, err);
    if (!rc && c->json) {
        jw_init(&w, out);
        jw_obj(&w, NULL);
        rag_bot_json(&w, "bot", &b, cfg, true);
        jw_end_obj(&w);
        kb_buf_putc(out, '\n');
    } else if (!rc) {
        kb_buf_printf(out, "id           %s\nname         %s\ncollections  ", b.id, b.name);
        for (int i = 0; i < b.n_collections; i++)
            kb_buf_printf(out, "%s%s", i ? ", " : "", b.collection_names[i]);
        kb_buf_printf(out, "%s\ngreeting     %s%s\n", b.n_collections ? "" : "(all)", b.greeting[0] ? b.greeting : cfg->widget_greeting,
                      b.greeting[0] ? "" : "  (widget.greeting)");
        kb_buf_printf(out, "persona      %s\nfallback     %s%s\n", b.persona[0] ? b.persona : "(none)",
                      b.fallback[0] ? b.fallback : cfg->answer_fallback, b.fallback[0] ? "" : "  (answer.fallback)");
        kb_buf_printf(out, "strict       %s\nmodel        %s\norigins      %s\n",
                      b.strict < 0 ? "inherit (answer.strict)" : b.strict ? "true" : "false",
                      b.model[0] ? b.model : "(answer.model)", b.origins[0] ? b.origins : "(server.cors_origins)");
        kb_buf_printf(out, "color        %s\nlogo         %s\nlang         %s\npublic page  %s\n",
                      b.color[0] ? b.color : cfg->widget_color, b.logo[0] ? (strlen(b.logo) > 80 ? "(image)" : b.logo) : "(none)",
                      b.lang[0] ? b.lang : cfg->widget_lang, b.public_page ? "on (/b/ID)" : "off");
        bot_show_handoff(&b, cfg, out);
    }
    kb_arena_release(&a);
    rag_config_put(r, cfg);
    return rc;
}

static int bot_list(struct cli *c, struct rag *r, struct kb_buf *out, struct kb_error *err)
{
    struct kb_arena a;
    const char **ids = NULL;
    int n = 0, rc;
    if (c->json) {
        struct jw w;
        jw_init(&w, out);
        jw_obj(&w, NULL);
        rc = rag_bots_json(r, &w, "bots", err);
        jw_end_obj(&w);
        kb_buf_putc(out, '\n');
        return rc;
    }
    kb_arena_init(&a, 0, 0);
    rc = rag_bot_ids(r, &a, &ids, &n, err);
    for (int i = 0; !rc && i < n; i++) {
        struct rag_bot b;
        if ((rc = rag_bot_get(r, ids[i], &a, &b, err)) == 0) {
            kb_buf_printf(out, "%-20s %-30s %s", b.id, b.name, b.n_collections ? "" : "(all collections)");
            for (int k = 0; k < b.n_collections; k++)
                kb_buf_printf(out, "%s%s", k ? ", " : "", b.collection_names[k]);
            kb_buf_printf(out, "%s\n", b.public_page ? "" : "  [page off]");
        }
    }
    if (!rc && n == 0)
        kb_buf_puts(out, "no bots; add one with `kbox bot add ID --collection NAME`\n");
    kb_arena_release(&a);
    return rc;
}

int cmd_bot(struct cli *c)
{
    static const char usage[] = "usage: kbox bot list|show|add|set|rm ... (kbox help bot)";
    const char *sub = c->argc >= 1 ? c->argv[0] : "", *id = c->argc >= 2 ? c->argv[1] : NULL;
    struct rag *r = NULL;
    struct kb_error err = {0};
    struct kb_buf out, body;
    int rc = 0;
    bool add = !strcmp(sub, "add"), set = !strcmp(sub, "set");
    if (strcmp(sub, "list") && strcmp(sub, "show") && !add && !set && strcmp(sub, "rm"))
        return cli_usage("bot", "%s", usage);
    if (strcmp(sub, "list") && (!id || id[0] == '-'))
        return cli_usage("bot", "bot %s needs the bot's ID", sub);
    if ((!strcmp(sub, "list") && c->argc > 1) || ((!strcmp(sub, "show") || !strcmp(sub, "rm")) && c->argc > 2))
        return cli_usage("bot", "unexpected argument '%s' for bot %s", c->argv[c->argc - 1], sub);
    kb_buf_init(&body, 1 << 20);
    if ((add || set) && (rc = bot_body(c, add ? id : NULL, &body))) {
        kb_buf_release(&body);
        return rc;
    }
    if ((rc = rag_open(&r, &c->cfg, &err))) {
        kb_buf_release(&body);
        return cli_fail(rc, &err);
    }
    kb_buf_init(&out, 0);
    if (!strcmp(sub, "list"))
        rc = bot_list(c, r, &out, &err);
    else if (!strcmp(sub, "show"))
        rc = bot_show(c, r, id, &out, &err);
    else if (add || set)
        rc = rag_bot_put_json(r, add ? NULL : id, body.data, body.len, NULL, 0, &err);
    if (!rc && (add || set)) {
        if (!c->json)
            kb_buf_printf(&out, "%s bot %s\n", add ? "added" : "updated", id);
        rc = c->json ? bot_show(c, r, id, &out, &err) : 0;
    }
    if (!strcmp(sub, "rm") && !(rc = rag_bot_delete(r, id, &err))) {
        struct jw w;
        if (c->json) {
            jw_init(&w, &out);
            jw_obj(&w, NULL);
            jw_str(&w, "deleted", id);
            jw_end_obj(&w);
            kb_buf_putc(&out, '\n');
        } else {
            kb_buf_printf(&out, "deleted bot %s\n", id);
        }
    }
    rag_close(r);
    rc = rc ? cli_fail(rc, &err) : cli_print(&out);
    kb_buf_release(&out);
    kb_buf_release(&body);
    return rc;
}
