/* tests/cli/serve.c: `kbox serve` as a child process; see serve.h. */
#define _GNU_SOURCE /* memrchr */
#include "serve.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVE_MAX_ARGS 32

int kbox_serve_start(struct kbox_server *s, const char *dir, const char *const *extra)
{
    char *argv[SERVE_MAX_ARGS];
    int out[2], k = 0;
    size_t n = 0;
    memset(s, 0, sizeof *s);
    s->out_fd = -1;
    argv[k++] = KBOX_BIN;
    argv[k++] = "--data-dir";
    argv[k++] = (char *)dir;
    for (int i = 0; extra && extra[i] && k < SERVE_MAX_ARGS - 6; i++)
        argv[k++] = (char *)extra[i];
    argv[k++] = "serve";
    argv[k++] = "--port";
    argv[k++] = "0";
    argv[k++] = "--quiet";
    argv[k] = NULL;
    if (pipe(out))
        return -1;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execv(KBOX_BIN, argv);
        _exit(127);
    }
    close(out[1]);
    s->out_fd = out[0];
    while (n < sizeof s->printed - 1) {
        ssize_t got = read(out[0], s->printed + n, sizeof s->printed - 1 - n);
        const char *url, *token;
        if (got <= 0)
            break;
        n += (size_t)got;
        s->printed[n] = '\0';
        url = strstr(s->printed, "kbox: serving "); /* "http(s)://HOST:PORT/" (https with server.tls_cert) */
        token = strstr(s->printed, "kbox: log in");
        if (url && token && strchr(token, '\n')) {
            const char *host = strstr(url, "://"), *slash = host ? strchr(host + 3, '/') : NULL;
            const char *colon = slash ? memrchr(host + 3, ':', (size_t)(slash - host - 3)) : NULL;
            s->port = colon ? (int)strtol(colon + 1, NULL, 10) : 0;
            break;
        }
    }
    if (s->port <= 0) {
        kbox_serve_stop(s);
        return -1;
    }
    return 0;
}

int kbox_serve_stop(struct kbox_server *s)
{
    int status, rc = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        if (waitpid(s->pid, &status, 0) == s->pid && WIFEXITED(status))
            rc = WEXITSTATUS(status);
        s->pid = 0;
    }
    if (s->out_fd >= 0)
        close(s->out_fd);
    s->out_fd = -1;
    return rc;
}

void kbox_serve_reap(struct kbox_server **running)
{
    if (*running && (*running)->pid > 0)
        kbox_serve_stop(*running);
    *running = NULL;
}
