/* cli/cmd_user.c: `kbox user add|list|passwd|rm|role` and `kbox audit`: accounts and the audit log
 * from the machine kbox runs on (the operator's shell is trusted: these need no login).
 *
 *   user add EMAIL --role R [--name N] [--collections 1,3]   the password is read from stdin (the
 *                                 first line; not echoed on a terminal); the first owner of a new
 *                                 data directory is made this way or through serve's setup link
 *   user list [--json]            id, email, role, name, collections
 *   user passwd EMAIL             a new password from stdin; ends the user's sessions
 *   user role EMAIL ROLE          owner, editor, agent or viewer (the last owner stays one)
 *   user rm EMAIL                 deletes the account, ends its sessions, revokes its keys
 *   audit [--limit N] [--json]    the audit log, newest first
 * Passwords are hashed here with web_password_hash (Argon2id, web/auth.c). Each change is written to
 * the audit log as actor "cli:$USER". The store is opened with rag_open, like every other command,
 * so a running server and this command share the database safely (SQLite WAL).
 * Tests: tests/cli/test_user_cli.c. */
#define _DEFAULT_SOURCE /* gmtime_r */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "index/index.h"
#include "rag/rag.h"
#include "web/web.h"

struct user_args {
    const char *email, *role, *name, *collections;
    int64_t limit;
};

/* Reads one line from stdin into out (without the newline), echo off on a terminal. */
static int read_password(const char *prompt, char *out, size_t out_bytes, struct kb_error *err)
{
    struct termios old, quiet;
    bool tty = isatty(0) && tcgetattr(0, &old) == 0;
    size_t n;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSAFLUSH, &quiet);
    }
    if (!fgets(out, (int)out_bytes, stdin))
        out[0] = '\0';
    if (tty) {
        tcsetattr(0, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    n = strcspn(out, "\r\n");
    if (out[n] == '\0' && n == out_bytes - 1)
        return kb_error_set(err, KB_EINVAL, "the password is longer than %d bytes", WEB_PW_MAX);
    out[n] = '\0';
    return web_password_check(out, err);
}

static void audit(struct rag *r, const char *action, const char *target, const char *detail)
{
    char actor[128];
    const char *u = getenv("USER");
    struct index_audit e = {.actor = actor, .action = action, .target = target, .detail = detail, .ip = ""};
    snprintf(actor, sizeof actor, "cli:%.100s", u && u[0] ? u : "?");
    index_audit_add(rag_store(r), &e, NULL);
}

static int user_list(struct cli *c, struct rag *r, struct kb_buf *out, struct kb_error *err)
{
    struct kb_arena a;
    struct index_user *v;
    int n, rc;
    kb_arena_init(&a, 64 * 1024, 64u << 20);
    rc = index_user_list(rag_store(r), &a, &v, &n, err);
    if (rc == 0 && c->json) {
        struct jw w;
        jw_init(&w, out);
        jw_obj(&w, NULL);
        jw_arr(&w, "users");
        for (int i = 0; i < n; i++) {
            jw_obj(&w, NULL);
            jw_int(&w, "id", v[i].id);
            jw_str(&w, "email", v[i].email);
            jw_str(&w, "name", v[i].name);
            jw_str(&w, "role", v[i].role);
            jw_str(&w, "collections", v[i].collections);
            jw_int(&w, "created_at", v[i].created_at);
            jw_end_obj(&w);
        }
        jw_end_arr(&w);
        jw_end_obj(&w);
        kb_buf_putc(out, '\n');
    } else if (rc == 0) {
        for (int i = 0; i < n; i++)
            kb_buf_printf(out, "%lld\t%s\t%s\t%s%s%s\n", (long long)v[i].id, v[i].email, v[i].role, v[i].name,
                          v[i].collections[0] ? "\tcollections " : "", v[i].collections);
        if (n == 0)
            kb_buf_printf(out, "no users yet: kbox user add --role owner EMAIL\n");
    }
    kb_arena_release(&a);
    return rc;
}

static int user_add(struct cli *c, struct rag *r, const struct user_args *a, struct kb_buf *out, struct kb_error *err)
{
    char pw[WEB_PW_MAX + 2], hash[WEB_PW_HASH_BYTES];
    struct index_user u = {.email = a->email, .name = a->name ? a->name : "", .role = a->role,
                           .collections = a->collections ? a->collections : ""};
    int64_t id = 0;
    int rc;
    if (!strchr(a->email, '@'))
        return kb_error_set(err, KB_EINVAL, "'%.100s' is not an email address", a->email);
    if (!web_role_valid(a->role))
        return kb_error_set(err, KB_EINVAL, "role '%.40s' is not owner, editor, agent or viewer", a->role);
    for (const char *p = u.collections; *p; p++)
        if (!(*p >= '0' && *p <= '9') && *p != ',')
            return kb_error_set(err, KB_EINVAL, "--collections takes collection ids like 1,3");
    if ((rc = read_password("password: ", pw, sizeof pw, err)) || (rc = web_password_hash(pw, hash, err)))
        return rc;
    u.pw_hash = hash;
    if ((rc = index_user_add(rag_store(r), &u, &id, err)))
        return rc;
    audit(r, "user.create", a->email, a->role);
    kb_buf_printf(out, c->json ? "{\"id\":%lld}\n" : "added user %lld\n", (long long)id);
    return 0;
}

static int user_change(struct cli *c, struct rag *r, const char *sub, const struct user_args *a, struct kb_buf *out,
                       struct kb_error *err)
{
    struct kb_arena ar;
    struct index_user cur, upd = {0};
    char pw[WEB_PW_MAX + 2], hash[WEB_PW_HASH_BYTES];
    int64_t owners = 0;
    int rc;
    kb_arena_init(&ar, 4096, 1u << 20);
    rc = index_user_get(rag_store(r), 0, a->email, &ar, &cur, err);
    if (rc == 0 && !strcmp(sub, "role") && !web_role_valid(a->role))
        rc = kb_error_set(err, KB_EINVAL, "role '%.40s' is not owner, editor, agent or viewer", a->role);
    if (rc == 0 && !strcmp(cur.role, "owner") && (!strcmp(sub, "rm") || (!strcmp(sub, "role") && strcmp(a->role, "owner"))) &&
        (rc = index_user_count(rag_store(r), "owner", &owners, err)) == 0 && owners <= 1)
        rc = kb_error_set(err, KB_ECONFLICT, "'%.200s' is the last owner; make another owner first", cur.email);
    if (rc == 0 && !strcmp(sub, "passwd")) {
        rc = read_password("new password: ", pw, sizeof pw, err);
        rc = rc ? rc : web_password_hash(pw, hash, err);
        upd.pw_hash = hash;
    }
    if (rc == 0 && !strcmp(sub, "role"))
        upd.role = a->role;
    if (rc == 0)
        rc = !strcmp(sub, "rm") ? index_user_delete(rag_store(r), cur.id, err)
                                : index_user_update(rag_store(r), cur.id, &upd, err);
    if (rc == 0) {
        char detail[64];
        snprintf(detail, sizeof detail, "%s -> %s", cur.role, a->role ? a->role : "");
        audit(r, !strcmp(sub, "rm") ? "user.delete" : !strcmp(sub, "role") ? "user.role" : "user.password", cur.email,
              !strcmp(sub, "role") ? detail : "");
        kb_buf_printf(out, c->json ? "{\"id\":%lld,\"done\":\"%s\"}\n" : "user %lld: %s done\n", (long long)cur.id, sub);
    }
    kb_arena_release(&ar);
    return rc;
}

static int user_parse(struct cli *c, int first, struct user_args *a)
{
    for (int i = first; i < c->argc; i++) {
        const char *f = c->argv[i];
        const char *v = i + 1 < c->argc ? c->argv[i + 1] : NULL;
        if (!strcmp(f, "--json"))
            c->json = true;
        else if ((!strcmp(f, "--role") || !strcmp(f, "--name") || !strcmp(f, "--collections") || !strcmp(f, "--limit")) && v) {
            if (!strcmp(f, "--role"))
                a->role = v;
            else if (!strcmp(f, "--name"))
                a->name = v;
            else if (!strcmp(f, "--collections"))
                a->collections = v;
            else if (kb_parse_i64(v, &a->limit) || a->limit < 1 || a->limit > INDEX_AUDIT_PAGE_MAX)
                return cli_usage("audit", "--limit takes 1..%d", INDEX_AUDIT_PAGE_MAX);
            i++;
        } else if (f[0] != '-' && !a->email)
            a->email = f;
        else if (f[0] != '-' && !a->role)
            a->role = f; /* user role EMAIL ROLE */
        else
            return cli_usage("user", "unknown argument '%s'", f);
    }
    return 0;
}

int cmd_user(struct cli *c)
{
    static const char usage[] = "usage: kbox user add|list|passwd|rm|role ... (kbox help user)";
    const char *sub = c->argc >= 1 ? c->argv[0] : "";
    struct user_args a = {0};
    struct rag *r = NULL;
    struct kb_error err = {0};
    struct kb_buf out;
    int rc;
    if (strcmp(sub, "add") && strcmp(sub, "list") && strcmp(sub, "passwd") && strcmp(sub, "rm") && strcmp(sub, "role"))
        return cli_usage("user", "%s", usage);
    if ((rc = user_parse(c, 1, &a)))
        return rc;
    if (strcmp(sub, "list") && !a.email)
        return cli_usage("user", "user %s needs an EMAIL", sub);
    if ((!strcmp(sub, "add") || !strcmp(sub, "role")) && !a.role)
        return cli_usage("user", "user %s needs a role (owner, editor, agent or viewer)", sub);
    if ((rc = rag_open(&r, &c->cfg, &err)))
        return cli_fail(rc, &err);
    kb_buf_init(&out, 0);
    if (!strcmp(sub, "list"))
        rc = user_list(c, r, &out, &err);
    else if (!strcmp(sub, "add"))
        rc = user_add(c, r, &a, &out, &err);
    else
        rc = user_change(c, r, sub, &a, &out, &err);
    rag_close(r);
    rc = rc ? cli_fail(rc, &err) : cli_print(&out);
    kb_buf_release(&out);
    return rc;
}

int cmd_audit(struct cli *c)
{
    struct user_args a = {.limit = 100};
    struct rag *r = NULL;
    struct kb_error err = {0};
    struct kb_arena ar;
    struct kb_buf out;
    struct index_audit *v = NULL;
    int n = 0, rc;
    if ((rc = user_parse(c, 0, &a)))
        return rc;
    if (a.email)
        return cli_usage("audit", "usage: kbox audit [--limit N] [--json]");
    if ((rc = rag_open(&r, &c->cfg, &err)))
        return cli_fail(rc, &err);
    kb_buf_init(&out, 0);
    kb_arena_init(&ar, 64 * 1024, 64u << 20);
    rc = index_audit_list(rag_store(r), 0, (int)a.limit, &ar, &v, &n, &err);
    if (rc == 0 && c->json) {
        struct jw w;
        jw_init(&w, &out);
        jw_obj(&w, NULL);
        rag_audit_json(&w, v, n);
        jw_end_obj(&w);
        kb_buf_putc(&out, '\n');
    } else if (rc == 0) {
        for (int i = 0; i < n; i++) {
            char when[32];
            time_t t = (time_t)v[i].at;
            struct tm tm;
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%SZ", gmtime_r(&t, &tm));
            kb_buf_printf(&out, "%s  %-24s %-20s %s%s%s\n", when, v[i].actor, v[i].action, v[i].target,
                          v[i].detail[0] ? "  " : "", v[i].detail);
        }
    }
    kb_arena_release(&ar);
    rag_close(r);
    rc = rc ? cli_fail(rc, &err) : cli_print(&out);
    kb_buf_release(&out);
    return rc;
}
