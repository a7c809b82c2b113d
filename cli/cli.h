/* cli/cli.h: what every `kbox` subcommand shares. main.c parses the global flags, builds the config
 * (defaults < file < KBOX_* env < flags) and calls one command from its table with the rest of argv.
 * A command returns the process exit code: 0 ok, 1 usage, 2 bad input, 3 internal error
 * (kb_err_exit_code maps KB_E* codes). Results go to stdout (JSON with --json); errors go to
 * stderr as "kbox: message". Tests: tests/cli/. */
#ifndef KB_CLI_CLI_H
#define KB_CLI_CLI_H

#include <stdbool.h>

#include "base/base.h"
#include "config/config.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_USAGE = 1, CLI_EXIT_INPUT = 2, CLI_EXIT_INTERNAL = 3 };

struct cli {
    struct config cfg;       /* effective configuration; commands may apply their own flags */
    bool json;               /* --json: machine-readable output */
    const char *config_path; /* --config or KBOX_CONFIG; NULL when none; borrowed from argv/env */
    int argc;                /* arguments after the command name */
    char **argv;             /* borrowed from main */
};

struct cli_command {
    const char *name;
    int (*run)(struct cli *c);
    const char *usage; /* one line: arguments */
    const char *help;  /* one line: what it does */
    const char *details; /* `kbox help COMMAND`: every flag, one per line ("" when usage says it all) */
};

/* Prints "kbox: <message>" to stderr and returns the exit code for `code`. */
int cli_fail(int code, const struct kb_error *err);
/* Prints "kbox: <message>" plus a usage hint and returns CLI_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Applies a command flag that maps to a config key, e.g. --port 0 -> server.port. */
int cli_set(struct cli *c, const char *key, const char *value);
/* Writes a buffer to stdout; returns CLI_EXIT_INTERNAL if stdout fails. */
int cli_print(const struct kb_buf *b);

/* Commands (cmd_*.c). */
int cmd_help(struct cli *c);
int cmd_version(struct cli *c);
int cmd_config(struct cli *c);
int cmd_ingest(struct cli *c); /* cmd_ingest.c */
int cmd_docs(struct cli *c);   /* cmd_kb.c */
int cmd_search(struct cli *c); /* cmd_kb.c */
int cmd_ask(struct cli *c);    /* cmd_kb.c */
int cmd_faq(struct cli *c);    /* cmd_faq.c */
int cmd_user(struct cli *c);   /* cmd_user.c */
int cmd_audit(struct cli *c);  /* cmd_user.c */
int cmd_bot(struct cli *c);    /* cmd_bot.c */
int cmd_collection(struct cli *c); /* cmd_collection.c */
int cmd_eval(struct cli *c);   /* cmd_eval.c */
int cmd_serve(struct cli *c);  /* cmd_serve.c */
int cmd_model(struct cli *c);  /* cmd_model.c */
int cmd_backup(struct cli *c);  /* cmd_backup.c */
int cmd_restore(struct cli *c); /* cmd_backup.c */
int cmd_doctor(struct cli *c);  /* cmd_doctor.c */
int cmd_service(struct cli *c); /* cmd_service.c */
/* The systemd limits the service.* keys ask for (cmd_service.c); cmd_doctor reports them too. */
struct cli_service_limits {
    int64_t memory_max_bytes;  /* MemoryMax; -1 = infinity; 0 = auto could not measure a model */
    int64_t models_bytes;      /* sizes of the local backends' model files that could be measured */
    int64_t cpu_quota_percent; /* CPUQuota in percent of one core; 0 = none */
    int64_t open_files;        /* LimitNOFILE */
    int64_t tasks_max;         /* TasksMax; 0 = systemd's default */
    bool unmeasured;           /* a configured model file could not be stat'ed */
    char memory_source[160];   /* how memory_max_bytes was chosen, for people */
    char note[1024];           /* the models that could not be measured and why, or "" */
};
void cli_service_limits(const struct config *cfg, struct cli_service_limits *lim);
/* The backup schedule serve runs (backup.schedule; cmd_backup.c). *out stays NULL when the schedule
 * is empty. cfg is borrowed until stop. KB_ECONFIG for a bad schedule or no backup.dir. */
struct cli_backup_sched;
int cli_backup_sched_start(struct cli_backup_sched **out, const struct config *cfg, struct kb_error *err);
void cli_backup_sched_stop(struct cli_backup_sched *s); /* NULL ok */
int cmd_logs(struct cli *c);   /* cmd_logs.c */
int cmd_store(struct cli *c);  /* cmd_store.c */
/* Stores documents through rag/ (cmd_kb.c): `kbox ingest` without --dry-run. */
int cli_ingest_store(struct cli *c, const char *const *paths, int n_paths, bool prune, const char *collection);
/* `kbox model list [DIR]` (cmd_model_list.c); argv is what follows "list". */
int cli_model_list(struct cli *c, int argc, char **argv);
/* Says plainly that a command is not built yet (exit 3). */
int cli_not_built(const char *what);

const struct cli_command *cli_commands(int *n_out);

#endif
