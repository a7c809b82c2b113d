/* web/web.h: kbox's web appliance: an HTTP server (libmicrohttpd, thread pool sized to the cores)
 * serving the JSON API, the browser UI and the chat widget (static files compiled into the binary),
 * Prometheus metrics and OpenAI-compatible endpoints, all over one shared `struct rag`.
 *
 * The layer is thin (STYLE.md 17): each handler decodes JSON into a plain struct, makes one rag_*
 * call and encodes the result. Routes, auth levels and body caps live in one table (web/routes.c).
 * Only cli/cmd_serve.c uses this header. Tests: tests/web/ (C integration over 127.0.0.1, browser
 * e2e with headless Chromium, OpenAI client compatibility). */
#ifndef KB_WEB_WEB_H
#define KB_WEB_WEB_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "config/config.h"
#include "rag/rag.h"

struct web_server; /* opaque; owns the listening socket and worker threads */

struct web_opts {
    const char *host;  /* address to bind; NULL: the configured server.host. Copied. */
    int port;          /* TCP port; -1: the configured server.port; 0: any free port */
    int n_threads;     /* worker threads; 0: server.threads, and if that is 0 one per core */
    bool access_log;   /* one kb_info line per request (method, path, status, bytes, ms) */
};

/* Binds and starts serving. The break-glass admin token is auth.admin_token (or server.admin_token)
 * when set, else there is none. When no owner account exists, a one-time setup token is made (see
 * web_server_setup_token). r is borrowed and must outlive the server. Caller owns *out; stop with
 * web_server_stop(). */
int web_server_start(struct web_server **out, struct rag *r, const struct web_opts *opts,
                     struct kb_error *err);
/* Stops accepting, lets in-flight requests finish (bounded wait), cancels streams still running,
 * joins the threads and frees the server. NULL ok. */
void web_server_stop(struct web_server *s);

/* HTTPS (server.tls_cert and server.tls_key set): rereads both files for the next handshakes, after a
 * certificate renewal (serve calls it on SIGHUP). A bad file keeps the old certificate and returns
 * KB_ECONFIG naming it. 0 and nothing done for plain HTTP. */
int web_server_reload_tls(struct web_server *s, struct kb_error *err);
bool web_server_tls(const struct web_server *s); /* serving HTTPS */
/* The TCP port actually bound (useful with port 0). */
int web_server_port(const struct web_server *s);
/* The break-glass admin token, "" when none (borrowed; valid until web_server_stop). */
const char *web_server_admin_token(const struct web_server *s);
/* The one-time setup token when no owner account existed at start ("" otherwise, and once used):
 * serve prints http://HOST:PORT/#setup=TOKEN, where the UI creates the first owner (POST
 * /api/setup). Borrowed; valid until web_server_stop. */
const char *web_server_setup_token(const struct web_server *s);
/* Argon2id hashes computed by logins since start (tests: a locked account costs none). */
int64_t web_server_login_hashes(const struct web_server *s);

/* ---- accounts (web/auth.c, web/session.c), also used by `kbox user` ---------------------------- */

#define WEB_PW_MIN 8                        /* shortest password, bytes */
#define WEB_PW_MAX 1024                     /* longest password, bytes */
#define WEB_PW_OPSLIMIT 2ULL                /* Argon2id passes (libsodium's interactive level) */
#define WEB_PW_MEMLIMIT (64ULL << 20)       /* Argon2id memory, bytes: 64 MiB */
#define WEB_PW_HASH_BYTES 128               /* encoded hash string + NUL (crypto_pwhash_STRBYTES) */
/* KB_EINVAL when pw is not 8..1024 bytes. */
int web_password_check(const char *pw, struct kb_error *err);
/* Argon2id of pw as libsodium's encoded string into out. KB_EINVAL (length) or KB_ENOMEM. */
int web_password_hash(const char *pw, char out[WEB_PW_HASH_BYTES], struct kb_error *err);
/* True when pw matches the encoded hash (constant time in the hash's parameters). */
bool web_password_verify(const char *hash, const char *pw);
/* Role names: "owner", "editor", "agent", "viewer". True when name is one of them. */
bool web_role_valid(const char *name);

#endif
