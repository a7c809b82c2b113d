/* cli/main.c: the `kbox` entry point. It owns the subcommand table and the global flags:
 *   --config FILE   config file (else $KBOX_CONFIG; else built-in defaults)
 *   --data-dir DIR  data directory (data.dir)
 *   --set KEY=VALUE any config key, as a flag (highest precedence)
 *   --json          machine-readable output
 * Global flags may stand before or after the command name. Only this file and the cmd_*.c files
 * talk to people; modules below return errors. Tests: tests/cli/test_cli.c. */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cli_command commands[] = {
    {"help", cmd_help, "[COMMAND]", "show commands and global flags", ""},
    {"version", cmd_version, "", "show version, compiler, build type and CPU features", ""},
    {"config", cmd_config, "show | template", "show effective config with sources, or a full template",
     "  show        every key with its value and where it came from (default, file, env, flag)\n"
     "  template    a commented config file with every key at its default\n"},
    {"ingest", cmd_ingest, "[--dry-run] [--prune] PATH...", "parse, chunk and store documents",
     "  PATH...            files and folders (folders recursively); unchanged files are skipped\n"
     "  --collection NAME  store into this existing collection\n"
     "  --prune            remove stored documents whose files are gone\n"
     "  --dry-run          parse and chunk only, print blocks and chunks, store nothing\n"
     "  --no-blocks        with --dry-run: print the chunks only\n"
     "  --json             JSON lines: progress, then one object per file\n"},
    {"docs", cmd_docs, "[rm ID]", "list stored documents, or delete one", ""},
    {"faq", cmd_faq, "list|add|import|export|rm ...", "curated answers (the FAQ editor)",
     "  list [--search TEXT] [--page N]            entries, newest first, with versions and use counts\n"
     "  add --question Q --answer A [--similar S]...  a new curated answer (--similar repeats)\n"
     "  import FILE [--format csv|xlsx]            columns question, similar_questions, answer; similar\n"
     "      questions in one cell split by newlines or '|'; a bad row imports nothing\n"
     "  export [--format csv|xlsx] [--out FILE]    the same table (CSV to stdout without --out)\n"
     "  rm ID                                      delete an entry and its versions\n"
     "  --collection NAME                          one collection (default: all, new ones: default)\n"},
    {"user", cmd_user, "add|list|passwd|rm|role ...", "accounts: owner, editor, agent, viewer",
     "  add EMAIL --role R [--name N] [--collections 1,3]  a new account; the password is read from stdin\n"
     "  list [--json]                 every account with its role and collections\n"
     "  passwd EMAIL                  a new password from stdin (ends the user's sessions)\n"
     "  role EMAIL ROLE               owner, editor, agent or viewer (the last owner stays one)\n"
     "  rm EMAIL                      delete the account, end its sessions, revoke its API keys\n"},
    {"audit", cmd_audit, "[--limit N] [--json]", "the audit log: who changed what, newest first", ""},
    {"bot", cmd_bot, "list|show|add|set|rm ...", "bots: named public configurations over collections",
     "  list                                       every bot with its collections\n"
     "  show ID                                    one bot's settings (inherited ones say from where)\n"
     "  add ID [SETTINGS]                          a new bot (every setting not given inherits)\n"
     "  set ID SETTINGS                            change the settings given, keep the rest\n"
     "  rm ID                                      delete a bot\n"
     "  SETTINGS: --name N  --collection C (repeat; --all-collections: every one)  --greeting T\n"
     "      --persona T  --fallback T  --strict true|false|inherit  --model FILE.gguf|extractive\n"
     "      --origin https://site (repeat; --no-origins: server.cors_origins)  --color #rrggbb\n"
     "      --logo URL  --lang en|zh  --public-page on|off   (\"\" inherits the global setting)\n"
     "      --handoff true|false|inherit  --handoff-keywords \"A,B\" (\"\": handoff.keywords)\n"
     "      --handoff-after-fallbacks N|inherit  --handoff-on-thumbs-down true|false|inherit\n"},
    {"collection", cmd_collection, "list|add|handoff ...", "collections and their own handoff triggers",
     "  list                                       every collection with its document count\n"
     "  add NAME                                   a new, empty collection\n"
     "  handoff NAME [SETTINGS]                    show, or change, the collection's handoff triggers\n"
     "  SETTINGS: --handoff true|false|inherit  --keywords \"A,B\"|off|inherit\n"
     "      --after-fallbacks N|inherit (0: off)  --on-thumbs-down true|false|inherit\n"
     "      (a bot's own settings beat these; see README \"Human handoff\")\n"},
    {"search", cmd_search, "QUERY [--top-k N] [--collection C]", "hybrid search with scores",
     "  --top-k N          hits to print (1-1000; default index.top_k)\n"
     "  --collection NAME  search one collection\n"
     "  --mode M           hybrid (default), bm25 or vector\n"},
    {"ask", cmd_ask, "QUESTION [--show-prompt]", "answer a question with citations",
     "  --collection NAME  answer from one collection\n"
     "  --show-prompt      with answer.model: print the grounded prompt sent to the model\n"},
    {"eval", cmd_eval, "--corpus F --questions F", "retrieval and answer quality on a QA set",
     "  --corpus F     JSON lines {id, title, text} (format: ../shared/eval/README.md)\n"
     "  --questions F  JSON lines {id, question, gold_ids, answers}\n"
     "  --max N        use the first N questions\n"},
    {"serve", cmd_serve, "[--host H] [--port P]", "web UI, JSON API, widget and OpenAI API",
     "  --host H     address to bind (default server.host)\n"
     "  --port P     port (default server.port; 0 picks a free one)\n"
     "  --threads N  HTTP worker threads\n"
     "  --quiet      no access log\n"},
    {"backup", cmd_backup, "[DEST]", "consistent snapshot of the database, originals and settings",
     "  DEST     backup directory (default backup.dir); snapshots go to DEST/snapshots/<UTC time>,\n"
     "           originals to DEST/originals (only new ones are copied); keeps backup.keep snapshots\n"
     "  --json   the result as one JSON object\n"},
    {"restore", cmd_restore, "SRC [--dry-run]", "restore a backup into an empty data directory",
     "  SRC        a backup directory (its newest snapshot) or one snapshot directory\n"
     "  --dry-run  verify the snapshot and the target, write nothing\n"
     "  --json     the result as one JSON object\n"},
    {"doctor", cmd_doctor, "[--json]", "check the data directory, disk, database, models, backends and address",
     "  prints ok, warn or fail per check and what to fix; exit 2 when a check failed\n"},
    {"service", cmd_service, "limits [--json]", "the systemd limits the service.* keys ask for, as a unit drop-in",
     "  limits   MemoryMax (service.memory_max_mib; 0 = the local model files + service.memory_headroom_mib),\n"
     "           CPUQuota, LimitNOFILE and TasksMax; the packaged systemd generator installs this output\n"},
    {"logs", cmd_logs, "export|stats|purge [flags]", "the conversation log: export, analytics, retention purge",
     "  export --format csv|jsonl  the logged messages, oldest first (default jsonl)\n"
     "  --from D --to D            dates YYYY-MM-DD (UTC; --to includes its day) or unix seconds\n"
     "  --collection NAME          one collection\n"
     "  --channel X                export: ui, widget, api or openai\n"
     "  --out FILE                 export: write FILE instead of stdout\n"
     "  stats                      questions, shares, thumbs, latency and top lists (--json: all)\n"
     "  purge                      delete messages older than log.retention_days now\n"},
    {"store", cmd_store, "migrate --from A --to B", "copy a whole store between SQLite and PostgreSQL",
     "  migrate --from A --to B  A and B are sqlite:DATA_DIR or postgres:URL (either way); copies collections,\n"
     "      documents with originals, chunks and vectors under their ids, one transaction per document;\n"
     "      rerun after an interruption to finish; verifies counts and checksums; refuses a target that\n"
     "      holds other data. Not copied: the conversation log, curated answers, jobs\n"
     "  --json                   the result as one JSON object\n"},
    {"model", cmd_model, "info|run|logits|bench|synth|embed|list ...", "GGUF models: inspect, run, benchmark",
     "  info FILE [--json]                 metadata, tensors and memory\n"
     "  run FILE -p TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P] [--seed S]\n"
     "      [-t THREADS] [-c CTX] [--expert-stats] [--draft N] [--no-mtp] [--load mmap|copy]\n"
     "      [--chat [--system S] [--think]]\n"
     "      generate text; --draft N: speculative drafts (0 adaptive, -1 off; a glm4moe file's MTP head\n"
     "      drafts too unless --no-mtp), their counts to stderr\n"
     "  logits FILE --tokens 1,2,3 --out F  float32 logits, n_tokens x n_vocab\n"
     "  bench FILE [-t N] [-p 512] [-n 128] [-b B] [-r R] [--ctx N] [--stream-mib M] [--profile]\n"
     "      [--load mmap|copy]   prompt and generation tokens/s, the bandwidth bound, per-phase decode\n"
     "      timers; --load copy reads the weights into memory instead of mapping them (answer.load)\n"
     "  embed FILE (--text T | --tokens 1,2,3) [--normalize] [--out F] [-t N]   one embedding\n"
     "  list [DIR]                         GGUF files in <data.dir>/models\n"
     "  synth --arch A --type T --out F [shape flags]   write a synthetic GGUF (cli/cmd_model.c lists\n"
     "      the shape flags: --layers --dim --heads --kv-heads --ff --vocab --experts ...); T is a ggml\n"
     "      type, Q4_K_M (llama-quantize's mix) or MXFP4 (its MXFP4_MOE mix: expert matrices MXFP4, the\n"
     "      other matrices Q8_0; a dense arch's FFN MXFP4 too)\n"},
};

const struct cli_command *cli_commands(int *n_out)
{
    *n_out = (int)KB_ARRAY_LEN(commands);
    return commands;
}

int cli_fail(int code, const struct kb_error *err)
{
    fprintf(stderr, "kbox: %s\n", kb_error_msg(err, code));
    return kb_err_exit_code(code);
}

int cli_not_built(const char *what)
{
    fprintf(stderr, "kbox: '%s' is not built yet in this version of kbox\n", what);
    return CLI_EXIT_INTERNAL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("kbox: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nkbox: see 'kbox help%s%s'\n", cmd ? " " : "", cmd ? cmd : "");
    return CLI_EXIT_USAGE;
}

int cli_set(struct cli *c, const char *key, const char *value)
{
    struct kb_error err = {0};
    int rc = config_set(&c->cfg, key, value, CONFIG_SRC_FLAG, &err);
    return rc ? cli_fail(rc, &err) : 0;
}

int cli_print(const struct kb_buf *b)
{
    if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
        return CLI_EXIT_INTERNAL;
    return fflush(stdout) ? CLI_EXIT_INTERNAL : CLI_EXIT_OK;
}

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < KB_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Moves global flags out of argv, leaving the command and its arguments in rest[]. */
static int parse_globals(struct cli *c, int argc, char **argv, char **rest, int *n_rest,
                         const char **data_dir, const char **sets[], int *n_sets)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes = !strcmp(a, "--config") || !strcmp(a, "--data-dir") || !strcmp(a, "--set");
        if (!strcmp(a, "--")) {
            while (i < argc)
                rest[(*n_rest)++] = argv[i++];
            break;
        }
        if (takes && i + 1 >= argc)
            return cli_usage(NULL, "%s needs a value", a);
        if (!strcmp(a, "--json")) {
            c->json = true;
        } else if (!strcmp(a, "--config")) {
            c->config_path = argv[++i];
        } else if (!strcmp(a, "--data-dir")) {
            *data_dir = argv[++i];
        } else if (!strcmp(a, "--set")) {
            (*sets)[(*n_sets)++] = argv[++i];
        } else {
            rest[(*n_rest)++] = argv[i];
        }
    }
    return 0;
}

static int build_config(struct cli *c, const char *data_dir, const char **sets, int n_sets)
{
    struct kb_error err = {0};
    enum kb_log_level level;
    int rc;
    if (!c->config_path)
        c->config_path = getenv("KBOX_CONFIG");
    if (c->config_path && (rc = config_load_file(&c->cfg, c->config_path, &err)))
        return cli_fail(rc, &err);
    if ((rc = config_load_env(&c->cfg, &err)))
        return cli_fail(rc, &err);
    if (data_dir && (rc = cli_set(c, "data.dir", data_dir)))
        return rc;
    for (int i = 0; i < n_sets; i++) {
        char key[128];
        const char *eq = strchr(sets[i], '=');
        if (!eq || (size_t)(eq - sets[i]) >= sizeof key)
            return cli_usage(NULL, "--set takes KEY=VALUE, got '%s'", sets[i]);
        memcpy(key, sets[i], (size_t)(eq - sets[i]));
        key[eq - sets[i]] = '\0';
        if ((rc = cli_set(c, key, eq + 1)))
            return rc;
    }
    if (kb_log_parse_level(c->cfg.log_level, &level) == 0)
        kb_log_set_level(level);
    return 0;
}

int main(int argc, char **argv)
{
    struct cli c = {0};
    char **rest = kb_xcalloc((size_t)argc + 1, sizeof *rest);
    const char **sets = kb_xcalloc((size_t)argc + 1, sizeof *sets);
    const char *data_dir = NULL;
    const struct cli_command *cmd;
    int n_rest = 0, n_sets = 0, rc;

    config_init(&c.cfg);
    rc = parse_globals(&c, argc, argv, rest, &n_rest, &data_dir, &sets, &n_sets);
    if (rc)
        goto out;
    if (n_rest == 0) {
        c.argc = 0;
        c.argv = rest;
        cmd_help(&c);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    cmd = find_command(rest[0]);
    if (!cmd) {
        rc = cli_usage(NULL, "unknown command '%s'", rest[0]);
        goto out;
    }
    if ((rc = build_config(&c, data_dir, sets, n_sets)))
        goto out;
    c.argc = n_rest - 1;
    c.argv = rest + 1;
    rc = cmd->run(&c);
out:
    config_release(&c.cfg);
    free(sets);
    free(rest);
    return rc;
}
