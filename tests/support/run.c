/* tests/support/run.c: fork + exec with both output pipes drained through poll(), so a child that
 * writes a lot to stderr cannot deadlock against a full stdout pipe. */
#define _GNU_SOURCE
#include "run.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void append(char **buf, size_t *len, const char *p, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

int run_cmd(struct run_result *r, char *const argv[], char *const env_set[])
{
    int po[2], pe[2], status;
    size_t lo = 0, le = 0;
    pid_t pid;
    memset(r, 0, sizeof *r);
    r->out = calloc(1, 1);
    r->err = calloc(1, 1);
    if (pipe(po) || pipe(pe))
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        for (int i = 0; env_set && env_set[i]; i++)
            putenv(env_set[i]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        char chunk[8192];
        if (poll(fds, 2, -1) < 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else if (i == 0) {
                append(&r->out, &lo, chunk, (size_t)n);
            } else {
                append(&r->err, &le, chunk, (size_t)n);
            }
        }
    }
    waitpid(pid, &status, 0);
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return 0;
}

void run_result_free(struct run_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

char *run_tmpfile(const char *text, const char *suffix)
{
    char *path = malloc(256);
    snprintf(path, 256, "/tmp/kbox-test-XXXXXX%s", suffix ? suffix : "");
    int fd = mkstemps(path, suffix ? (int)strlen(suffix) : 0);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) {
        close(fd);
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

int run_cases(const char *kbox, const char *dir, const struct run_case *cases, size_t n, char *why, size_t why_n)
{
    for (size_t i = 0; i < n; i++) {
        char *argv[32] = {(char *)kbox, "--data-dir", (char *)dir, "--set", "log.level=warn"};
        const struct run_case *c = &cases[i];
        struct run_result r;
        int k = 5;
        for (int j = 0; c->args[j] && k < 31; j++)
            argv[k++] = (char *)c->args[j];
        argv[k] = NULL;
        if (run_cmd(&r, argv, NULL) != 0) {
            snprintf(why, why_n, "case %zu (%s): could not run %s", i, c->args[0], kbox);
            return (int)i;
        }
        if (r.exit_code != c->exit_code || (c->out_has && !strstr(r.out, c->out_has)) ||
            (c->err_has && !strstr(r.err, c->err_has))) {
            snprintf(why, why_n, "case %zu (%s %s): exit %d, stdout '%.600s', stderr '%.300s'", i, c->args[0],
                     c->args[1] ? c->args[1] : "", r.exit_code, r.out, r.err);
            run_result_free(&r);
            return (int)i;
        }
        run_result_free(&r);
    }
    return -1;
}
