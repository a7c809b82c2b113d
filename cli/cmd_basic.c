/* cli/cmd_basic.c: the commands that need no knowledge base: help, version and config.
 * Tests: tests/cli/test_cli.c. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#ifndef KBOX_BUILD_TYPE
#define KBOX_BUILD_TYPE "unknown"
#endif
#ifndef KBOX_PARTS
#define KBOX_PARTS ""
#endif

int cmd_help(struct cli *c)
{
    int n;
    const struct cli_command *cmds = cli_commands(&n);
    if (c->argc > 0) {
        for (int i = 0; i < n; i++) {
            if (strcmp(cmds[i].name, c->argv[0]) == 0) {
                printf("usage: kbox %s %s\n  %s\n", cmds[i].name, cmds[i].usage, cmds[i].help);
                if (cmds[i].details && cmds[i].details[0])
                    printf("\n%s", cmds[i].details);
                return CLI_EXIT_OK;
            }
        }
        return cli_usage(NULL, "unknown command '%s'", c->argv[0]);
    }
    printf("kbox %s: a knowledge base in a box\n\nusage: kbox [global flags] COMMAND [args]\n\n"
           "commands:\n", KBOX_VERSION);
    for (int i = 0; i < n; i++)
        printf("  %-10s %-28s %s\n", cmds[i].name, cmds[i].usage, cmds[i].help);
    printf("\nglobal flags:\n"
           "  --config FILE     config file (JSON with comments; else $KBOX_CONFIG)\n"
           "  --data-dir DIR    data directory (data.dir)\n"
           "  --set KEY=VALUE   set any config key, e.g. --set answer.max_sentences=2\n"
           "  --json            machine-readable output\n\n"
           "exit codes: 0 ok, 1 usage, 2 bad input, 3 internal error\n");
    return CLI_EXIT_OK;
}

static const char *compiler_name(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}

int cmd_version(struct cli *c)
{
    struct kb_cpu cpu;
    char features[256];
    struct kb_buf out;
    int rc;
    if (c->argc > 0)
        return cli_usage("version", "version takes no arguments");
    kb_cpu_detect(&cpu);
    kb_cpu_describe(&cpu, features, sizeof features);
    kb_buf_init(&out, 0);
    if (c->json) {
        const char *comp = compiler_name();
        rc = kb_buf_printf(&out, "{\"version\":\"%s\",\"compiler\":", KBOX_VERSION);
        rc = rc ? rc : kb_buf_put_json_str(&out, comp, strlen(comp));
        rc = rc ? rc : kb_buf_printf(&out, ",\"build_type\":\"%s\",\"parts\":\"%s\",\"cpu_features\":[",
                                     KBOX_BUILD_TYPE, KBOX_PARTS);
        for (char *p = features, *sp; !rc && *p; p = sp ? sp + 1 : p + strlen(p)) {
            sp = strchr(p, ' ');
            rc = kb_buf_printf(&out, "%s\"%.*s\"", p == features ? "" : ",",
                               (int)(sp ? (size_t)(sp - p) : strlen(p)), p);
        }
        rc = rc ? rc : kb_buf_puts(&out, "]}\n");
    } else {
        rc = kb_buf_printf(&out, "kbox %s\ncompiler: %s\nbuild type: %s\nparts: %s\ncpu features: %s\n",
                           KBOX_VERSION, compiler_name(), KBOX_BUILD_TYPE, KBOX_PARTS[0] ? KBOX_PARTS : "(core only)",
                           features[0] ? features : "(none)");
    }
    rc = rc ? CLI_EXIT_INTERNAL : cli_print(&out);
    kb_buf_release(&out);
    return rc;
}

int cmd_config(struct cli *c)
{
    struct kb_buf out;
    int rc;
    if (c->argc != 1 || (strcmp(c->argv[0], "show") && strcmp(c->argv[0], "template")))
        return cli_usage("config", "usage: kbox config show | template");
    kb_buf_init(&out, 0);
    if (!strcmp(c->argv[0], "show"))
        rc = config_show(&c->cfg, c->json, &out);
    else
        rc = config_template(&out);
    rc = rc ? CLI_EXIT_INTERNAL : cli_print(&out);
    kb_buf_release(&out);
    return rc;
}
