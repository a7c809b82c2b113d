/* tests/support/run.h: runs the kbox binary (or any program) as a child process and captures its
 * exit code, stdout and stderr, for tests that check the CLI the way a person uses it. */
#ifndef KB_TESTS_RUN_H
#define KB_TESTS_RUN_H

#include <stddef.h>

struct run_result {
    int exit_code; /* -1 when the child died from a signal */
    char *out;     /* stdout, NUL-terminated; caller frees with run_result_free() */
    char *err;     /* stderr, NUL-terminated */
};

/* argv is NULL-terminated; argv[0] is the program. env_set is a NULL-terminated list of
 * "NAME=VALUE" put into the child's environment (may be NULL); stdin is /dev/null. */
int run_cmd(struct run_result *r, char *const argv[], char *const env_set[]);
void run_result_free(struct run_result *r);
/* Writes text to a new temporary file and returns its path (static per call index; caller unlinks). */
char *run_tmpfile(const char *text, const char *suffix);

#endif
