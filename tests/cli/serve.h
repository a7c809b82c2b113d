/* tests/cli/serve.h: runs `kbox serve --port 0` as a child process for end-to-end tests (the
 * kbox binary as a person starts it), reads the port from what it prints, and stops it with
 * SIGTERM. Used by tests/cli/test_json_same.c and tests/web/test_web.c. */
#ifndef KB_TESTS_CLI_SERVE_H
#define KB_TESTS_CLI_SERVE_H

#include <sys/types.h>

struct kbox_server {
    pid_t pid;           /* the child */
    int port;            /* on server.host (127.0.0.1 unless set); 0 when it never said */
    int out_fd;          /* read end of its stdout */
    char printed[2048];  /* its stdout up to the admin token line, NUL-terminated */
};

/* Starts `KBOX_BIN --data-dir dir [extra...] serve --port 0 --quiet` and waits until it printed
 * its URL and the admin token line. extra is NULL-terminated (may be NULL). Returns 0, or -1
 * when it did not (then s->printed says what it printed; the child is stopped). */
int kbox_serve_start(struct kbox_server *s, const char *dir, const char *const *extra);
/* For a cmocka teardown after a failed assertion: stops *running when it still runs, sets it NULL. */
void kbox_serve_reap(struct kbox_server **running);
/* SIGTERM, then waits: the exit code, or -1 when it died from a signal. */
int kbox_serve_stop(struct kbox_server *s);

#endif
