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
/* One case of a CLI table test: `kbox --data-dir DIR --set log.level=warn ARGS...` must exit with
 * exit_code, and its stdout and stderr must hold out_has and err_has (each NULL: anything). */
struct run_case {
    const char *args[24]; /* NULL-terminated */
    int exit_code;
    const char *out_has;
    const char *err_has;
};
/* Runs cases[0..n) in order against the data directory dir with the binary kbox. Returns the index
 * of the first case that does not hold (why then says what it printed), or -1 when all hold. */
int run_cases(const char *kbox, const char *dir, const struct run_case *cases, size_t n, char *why, size_t why_n);
/* Writes text to a new temporary file and returns its path (static per call index; caller unlinks). */
char *run_tmpfile(const char *text, const char *suffix);

#endif
