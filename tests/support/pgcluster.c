/* tests/support/pgcluster.c: see pgcluster.h. Every tool runs through run_cmd (fork + exec), as the
 * postgres user through runuser when the test runs as root. */
#define _GNU_SOURCE
#include "pgcluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

#include <fcntl.h>
#include <sys/wait.h>

/* A port the kernel says is free on 127.0.0.1 now. */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Runs tool (in PGCLUSTER_BIN) with args as postgres, its output into <dir>/tool.out; 0 on exit
 * code 0, else prints that output. Not run_cmd: the server pg_ctl starts would inherit run_cmd's
 * pipes and keep them open, so reading them to the end would never end. */
static int pg_tool(struct pgcluster *c, const char *tool, const char *const *args)
{
    char path[512], out[300], *argv[32];
    int n = 0, status = 0;
    pid_t pid;
    snprintf(path, sizeof path, "%s/%s", PGCLUSTER_BIN, tool);
    snprintf(out, sizeof out, "%s/tool.out", c->dir);
    if (getuid() == 0) {
        argv[n++] = "/sbin/runuser";
        argv[n++] = "-u";
        argv[n++] = "postgres";
        argv[n++] = "--";
    }
    argv[n++] = path;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0666), in = open("/dev/null", O_RDONLY);
        if (fd < 0 || in < 0)
            _exit(126);
        fchmod(fd, 0666);
        dup2(in, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        for (int k = 3; k < 1024; k++)
            close(k);
        execv(argv[0], argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char buf[4096];
        FILE *f = fopen(out, "r");
        size_t got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        buf[got] = '\0';
        if (f)
            fclose(f);
        fprintf(stderr, "pgcluster: %s failed (status %d): %s\n", tool, status, buf);
        return -1;
    }
    return 0;
}

static int pg_ctl_start(struct pgcluster *c)
{
    char data[300], log[300], opts[512];
    snprintf(data, sizeof data, "%s/data", c->dir);
    snprintf(log, sizeof log, "%s/log", c->dir);
    snprintf(opts, sizeof opts,
             "-p %d -k %s -h 127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
             " -c max_connections=60",
             c->port, c->dir);
    {
        const char *args[] = {"-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start", NULL};
        if (pg_tool(c, "pg_ctl", args) != 0)
            return -1;
    }
    c->running = true;
    return 0;
}

int pgcluster_start(struct pgcluster *c)
{
    char data[300], port[16];
    struct passwd *pw;
    memset(c, 0, sizeof *c);
    if (access(PGCLUSTER_BIN "/initdb", X_OK) != 0) {
        fprintf(stderr, "SKIP: PostgreSQL 15 is not installed (%s/initdb); apt-get install postgresql-15\n",
                PGCLUSTER_BIN);
        return PGCLUSTER_SKIP;
    }
    snprintf(c->dir, sizeof c->dir, "/tmp/kbox-pg-XXXXXX");
    if (!mkdtemp(c->dir))
        return -1;
    if (getuid() == 0) {
        pw = getpwnam("postgres");
        if (!pw || chown(c->dir, pw->pw_uid, pw->pw_gid) != 0) {
            fprintf(stderr, "pgcluster: no postgres user to own %s\n", c->dir);
            return -1;
        }
    }
    snprintf(data, sizeof data, "%s/data", c->dir);
    {
        const char *args[] = {"-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-locale",
                              NULL};
        if (pg_tool(c, "initdb", args) != 0)
            return -1;
    }
    c->port = free_port();
    if (c->port <= 0 || pg_ctl_start(c) != 0)
        return -1;
    snprintf(port, sizeof port, "%d", c->port);
    {
        const char *args[] = {"-h", "127.0.0.1", "-p", port, "-U", "postgres", "kbox", NULL};
        if (pg_tool(c, "createdb", args) != 0)
            return -1;
    }
    snprintf(c->url, sizeof c->url, "postgresql://postgres@127.0.0.1:%d/kbox", c->port);
    return 0;
}

int pgcluster_stop(struct pgcluster *c)
{
    char data[300];
    snprintf(data, sizeof data, "%s/data", c->dir);
    const char *args[] = {"-D", data, "-m", "fast", "-w", "stop", NULL};
    if (!c->running)
        return 0;
    c->running = false;
    return pg_tool(c, "pg_ctl", args);
}

int pgcluster_resume(struct pgcluster *c)
{
    return c->running ? 0 : pg_ctl_start(c);
}

int pgcluster_sql(struct pgcluster *c, const char *sql)
{
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    const char *args[] = {"-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "kbox", "-v", "ON_ERROR_STOP=1",
                          "-q", "-c", sql, NULL};
    return pg_tool(c, "psql", args);
}

void pgcluster_destroy(struct pgcluster *c)
{
    if (!c->dir[0])
        return;
    pgcluster_stop(c);
    {
        char *argv[] = {"/bin/rm", "-rf", c->dir, NULL};
        struct run_result r;
        run_cmd(&r, argv, NULL);
        run_result_free(&r);
    }
    c->dir[0] = '\0';
}
