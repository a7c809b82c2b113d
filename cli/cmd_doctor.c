/* cli/cmd_doctor.c: `kbox doctor [--json]`: checks what an operator gets wrong when installing or
 * moving kbox, and prints what to fix. Nothing is changed.
 *
 * Checks, in order, each ok, warn or fail with a detail and (unless ok) a fix:
 *   data_dir     exists (or its parent can create it), is a directory, writable, 0700, owned by us
 *   files        kbox.db and admin_token are 0600 (group/other bits are a warning)
 *   disk         free space of the data directory's file system (warn < 1 GiB, fail < 100 MiB)
 *   database     PRAGMA integrity_check and counts of the database (index_backup_verify)
 *   models       embed.model / answer.model for the local backends: present, readable, GGUF magic
 *   backends     the openai backends have a URL (no request is sent)
 *   listen       server.host:server.port can be bound now (in use: another kbox?), and a wildcard
 *                bind without server.allowed_hosts
 *   tls          server.tls_cert / tls_key both set and readable
 *   backup       backup.schedule has a writable backup.dir
 *   service      the systemd limits of the service.* keys (cmd_service.c); an explicit
 *                service.memory_max_mib below the model files plus 256 MiB fails (the unit would be
 *                killed loading them); auto that cannot measure a model warns
 * Exit code: 0 when nothing failed, 2 otherwise. Tests: tests/cli/test_backup.c (doctor case). */
#define _DEFAULT_SOURCE
#include "cli/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>


#ifdef KBOX_HAVE_RAG
#include "index/index.h"

enum dr_level { DR_OK, DR_WARN, DR_FAIL };
static const char *const dr_names[] = {"ok", "warn", "fail"};

struct dr {
    struct cli *c;
    struct kb_buf out;
    struct jw w;
    int n_fail, n_warn;
};

static void dr_report(struct dr *d, const char *check, enum dr_level lv, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void dr_report(struct dr *d, const char *check, enum dr_level lv, const char *fix, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    d->n_fail += lv == DR_FAIL;
    d->n_warn += lv == DR_WARN;
    if (d->c->json) {
        jw_obj(&d->w, NULL);
        jw_str(&d->w, "check", check);
        jw_str(&d->w, "status", dr_names[lv]);
        jw_str(&d->w, "detail", detail);
        jw_str(&d->w, "fix", lv == DR_OK ? NULL : fix);
        jw_end_obj(&d->w);
    } else {
        kb_buf_printf(&d->out, "%-4s  %-9s %s\n", dr_names[lv], check, detail);
        if (lv != DR_OK && fix)
            kb_buf_printf(&d->out, "                fix: %s\n", fix);
    }
}

static void dr_data_dir(struct dr *d, const char *dir)
{
    struct stat st;
    char path[4200];
    if (stat(dir, &st) != 0) {
        dr_report(d, "data_dir", DR_WARN, "run `kbox serve` or `kbox ingest` once, or create it with mode 0700",
                  "'%s' does not exist yet: %s", dir, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        dr_report(d, "data_dir", DR_FAIL, "point data.dir (or --data-dir) at a directory", "'%s' is not a directory", dir);
        return;
    }
    if (access(dir, W_OK | X_OK) != 0)
        dr_report(d, "data_dir", DR_FAIL, "chown the directory to the user kbox runs as (packaged: kbox)",
                  "'%s' is not writable by uid %d", dir, (int)getuid());
    else if (st.st_uid != getuid())
        dr_report(d, "data_dir", DR_WARN, "chown -R the data directory to the user kbox runs as",
                  "'%s' belongs to uid %d, kbox runs as uid %d", dir, (int)st.st_uid, (int)getuid());
    else if (st.st_mode & 077)
        dr_report(d, "data_dir", DR_WARN, "chmod 700 the data directory (it holds the admin token and originals)",
                  "'%s' has mode %03o: others can read the knowledge base", dir, (unsigned)(st.st_mode & 0777));
    else
        dr_report(d, "data_dir", DR_OK, NULL, "'%s' is a private, writable directory", dir);
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "admin_token" : "kbox.db";
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (stat(path, &st) == 0 && (st.st_mode & 077))
            dr_report(d, "files", DR_WARN, "chmod 600 it", "'%s' has mode %03o", path, (unsigned)(st.st_mode & 0777));
    }
}

static void dr_disk(struct dr *d, const char *dir)
{
    struct statvfs vs;
    char parent[4200];
    int64_t free_b;
    const char *p = dir;
    kb_strlcpy(parent, dir, sizeof parent);
    if (statvfs(p, &vs) != 0) { /* not created yet: its parent's file system */
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent)
            *slash = '\0';
        else
            kb_strlcpy(parent, slash ? "/" : ".", sizeof parent);
        p = parent;
        if (statvfs(p, &vs) != 0) {
            dr_report(d, "disk", DR_WARN, "create the data directory's parent", "cannot stat '%s': %s", p, strerror(errno));
            return;
        }
    }
    free_b = (int64_t)vs.f_bavail * (int64_t)vs.f_frsize;
    dr_report(d, "disk", free_b < (100ll << 20) ? DR_FAIL : free_b < (1ll << 30) ? DR_WARN : DR_OK,
              "free space on that file system or move data.dir: ingestion and backups need room",
              "%.1f GiB free for '%s'", (double)free_b / (1 << 30), p);
}

static void dr_database(struct dr *d, const char *dir)
{
    char path[4200];
    struct kb_arena a;
    struct kb_error err = {0};
    struct index_backup_info info;
    int rc;
    snprintf(path, sizeof path, "%s/kbox.db", dir);
    if (access(path, F_OK) != 0) {
        dr_report(d, "database", DR_OK, NULL, "no database yet (created at the first start)");
        return;
    }
    kb_arena_init(&a, 1 << 16, (size_t)1 << 30);
    rc = index_backup_verify(path, &a, &info, &err);
    if (rc)
        dr_report(d, "database", DR_FAIL, "restore the latest backup (`kbox restore BACKUP --data-dir NEW`)", "%s",
                  kb_error_msg(&err, rc));
    else
        dr_report(d, "database", DR_OK, NULL, "integrity ok; schema %d; %lld documents, %lld chunks",
                  info.schema_version, (long long)info.n_documents, (long long)info.n_chunks);
    kb_arena_release(&a);
}

static void dr_model(struct dr *d, const char *key, const char *name, const char *data_dir)
{
    char path[8400], magic[4];
    int fd;
    if (!name[0])
        return;
    if (name[0] == '/')
        kb_strlcpy(path, name, sizeof path);
    else
        snprintf(path, sizeof path, "%s/models/%s", data_dir, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dr_report(d, "models", DR_FAIL, "copy the GGUF file there (kbox model list shows what is found) or clear the key",
                  "%s: cannot open '%s': %s", key, path, strerror(errno));
        return;
    }
    if (read(fd, magic, 4) != 4 || memcmp(magic, "GGUF", 4) != 0)
        dr_report(d, "models", DR_FAIL, "download the model again: the file is not GGUF", "%s: '%s' is not a GGUF file",
                  key, path);
    else
        dr_report(d, "models", DR_OK, NULL, "%s: '%s' is a GGUF file", key, path);
    close(fd);
}

static void dr_backends(struct dr *d, const struct config *cfg)
{
    int n_fail0 = d->n_fail;
    if (!strcmp(cfg->embed_backend, "local") && !cfg->embed_model[0])
        dr_report(d, "backends", DR_FAIL, "set embed.model to a GGUF embedding model, or embed.backend=builtin",
                  "embed.backend is local but embed.model is empty");
    if (!strcmp(cfg->embed_backend, "openai") && !cfg->embed_url[0])
        dr_report(d, "backends", DR_FAIL, "set embed.url (e.g. http://gpu:8000)", "embed.backend is openai but embed.url is empty");
    if (!strcmp(cfg->answer_backend, "openai") && !cfg->answer_url[0])
        dr_report(d, "backends", DR_FAIL, "set answer.url (e.g. http://gpu:8000)",
                  "answer.backend is openai but answer.url is empty");
    if (cfg->answer_insecure)
        dr_report(d, "backends", DR_WARN, "give answer.ca_file instead", "answer.insecure skips TLS verification");
    if (d->n_fail == n_fail0)
        dr_report(d, "backends", DR_OK, NULL, "embed: %s; answer: %s%s", cfg->embed_backend, cfg->answer_backend,
                  !strcmp(cfg->answer_backend, "local") && !cfg->answer_model[0] ? " (extractive: no answer.model)" : "");
}

static void dr_listen(struct dr *d, const struct config *cfg)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    int fd, one = 1, e;
    snprintf(port, sizeof port, "%lld", (long long)cfg->server_port);
    if ((e = getaddrinfo(cfg->server_host, port, &hints, &ai)) != 0) {
        dr_report(d, "listen", DR_FAIL, "set server.host to an address of this machine", "cannot resolve server.host '%s': %s",
                  cfg->server_host, gai_strerror(e));
        return;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        e = errno;
        dr_report(d, "listen", DR_FAIL,
                  e == EADDRINUSE ? "stop what holds the port (another kbox serve?) or set server.port"
                  : e == EACCES   ? "use a port above 1023, or give the service CAP_NET_BIND_SERVICE"
                                  : "set server.host to an address of this machine",
                  "cannot bind %s:%s: %s", cfg->server_host, port, strerror(e));
    } else if ((!strcmp(cfg->server_host, "0.0.0.0") || !strcmp(cfg->server_host, "::")) && !cfg->server_allowed_hosts[0]) {
        dr_report(d, "listen", DR_WARN, "set server.allowed_hosts to the name clients use (e.g. kb.example.com)",
                  "%s:%s binds every address; requests naming other hosts get 421", cfg->server_host, port);
    } else {
        dr_report(d, "listen", DR_OK, NULL, "%s:%s is free to bind (%s)", cfg->server_host, port,
                  cfg->server_tls_cert[0] ? "https" : "http");
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
}

static void dr_tls_backup(struct dr *d, const struct config *cfg)
{
    if (cfg->server_tls_cert[0] || cfg->server_tls_key[0]) {
        const char *missing = !cfg->server_tls_cert[0] ? "server.tls_cert" : !cfg->server_tls_key[0] ? "server.tls_key" : NULL;
        if (missing)
            dr_report(d, "tls", DR_FAIL, "set both keys, or neither for plain HTTP", "%s is empty", missing);
        else if (access(cfg->server_tls_cert, R_OK) || access(cfg->server_tls_key, R_OK))
            dr_report(d, "tls", DR_FAIL, "make both files readable by the kbox user",
                      "cannot read '%s' or '%s'", cfg->server_tls_cert, cfg->server_tls_key);
        else
            dr_report(d, "tls", DR_OK, NULL, "certificate and key are readable");
    }
    if (cfg->backup_schedule[0]) {
        if (!cfg->backup_dir[0])
            dr_report(d, "backup", DR_FAIL, "set backup.dir", "backup.schedule is '%s' but backup.dir is empty",
                      cfg->backup_schedule);
        else if (access(cfg->backup_dir, W_OK | X_OK) != 0 && errno != ENOENT)
            dr_report(d, "backup", DR_FAIL, "make backup.dir writable by the kbox user", "'%s': %s", cfg->backup_dir,
                      strerror(errno));
        else
            dr_report(d, "backup", DR_OK, NULL, "%s into '%s', keeping %lld", cfg->backup_schedule, cfg->backup_dir,
                      (long long)cfg->backup_keep);
    } else {
        dr_report(d, "backup", DR_WARN, "set backup.schedule (e.g. \"daily 03:00\") and backup.dir",
                  "no scheduled backups");
    }
}

static void dr_service(struct dr *d, const struct config *cfg)
{
    struct cli_service_limits lim;
    const int64_t mib = (int64_t)1 << 20;
    cli_service_limits(cfg, &lim);
    if (lim.memory_max_bytes > 0 && lim.memory_max_bytes < lim.models_bytes + 256 * mib)
        dr_report(d, "service", DR_FAIL, "raise service.memory_max_mib, or set it to 0 (auto: models + headroom)",
                  "MemoryMax %lld MiB (%s) is below the models' %lld MiB + 256 MiB", (long long)(lim.memory_max_bytes / mib),
                  lim.memory_source, (long long)(lim.models_bytes / mib));
    else if (lim.memory_max_bytes == 0)
        dr_report(d, "service", DR_WARN, "fix the models check, or set service.memory_max_mib", "%s; %s",
                  lim.memory_source, lim.note);
    else if (lim.memory_max_bytes < 0)
        dr_report(d, "service", DR_OK, NULL, "no memory limit; LimitNOFILE %lld", (long long)lim.open_files);
    else
        dr_report(d, "service", DR_OK, NULL, "MemoryMax %lld MiB (%s); LimitNOFILE %lld",
                  (long long)((lim.memory_max_bytes + mib - 1) / mib), lim.memory_source, (long long)lim.open_files);
}

int cmd_doctor(struct cli *c)
{
    struct dr d = {.c = c};
    int rc;
    if (c->argc > 0)
        return cli_usage("doctor", "unknown argument '%s'", c->argv[0]);
    kb_buf_init(&d.out, 1 << 20);
    jw_init(&d.w, &d.out);
    if (c->json) {
        jw_obj(&d.w, NULL);
        jw_arr(&d.w, "checks");
    }
    dr_data_dir(&d, c->cfg.data_dir);
    dr_disk(&d, c->cfg.data_dir);
    dr_database(&d, c->cfg.data_dir);
    if (!strcmp(c->cfg.embed_backend, "local"))
        dr_model(&d, "embed.model", c->cfg.embed_model, c->cfg.data_dir);
    if (!strcmp(c->cfg.answer_backend, "local"))
        dr_model(&d, "answer.model", c->cfg.answer_model, c->cfg.data_dir);
    dr_backends(&d, &c->cfg);
    dr_listen(&d, &c->cfg);
    dr_tls_backup(&d, &c->cfg);
    dr_service(&d, &c->cfg);
    if (c->json) {
        jw_end_arr(&d.w);
        jw_int(&d.w, "failed", d.n_fail);
        jw_int(&d.w, "warnings", d.n_warn);
        jw_end_obj(&d.w);
        kb_buf_putc(&d.out, '\n');
    } else {
        kb_buf_printf(&d.out, "%d failed, %d warnings\n", d.n_fail, d.n_warn);
    }
    rc = cli_print(&d.out);
    kb_buf_release(&d.out);
    return rc ? rc : d.n_fail ? CLI_EXIT_INPUT : CLI_EXIT_OK;
}

#else

int cmd_doctor(struct cli *c)
{
    (void)c;
    return cli_not_built("doctor");
}

#endif
