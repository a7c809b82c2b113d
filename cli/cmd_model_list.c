/* cli/cmd_model_list.c: `kbox model list [DIR] [--json]`: the GGUF files in the models folder
 * (DIR, default <data.dir>/models) with architecture, parameters, tensor types, size and whether
 * they fit in the memory available now. A file that does not open is listed with its error, so a
 * user sees why a download is unusable before configuring it. The listing itself is rag_models_list(),
 * shared with the settings page (GET /api/models). Tests: tests/cli/test_model_list.c. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag/rag.h"

int cli_model_list(struct cli *c, int argc, char **argv)
{
    char dir[4200];
    struct rag_model *m = NULL;
    struct kb_error err = {0};
    int64_t avail = -1;
    struct kb_buf out;
    int n = 0, rc;
    if (argc > 1)
        return cli_usage("model list", "usage: kbox model list [DIR]");
    if (argc == 1)
        snprintf(dir, sizeof dir, "%s", argv[0]);
    else
        rag_models_dir(&c->cfg, dir, sizeof dir);
    /* one implementation for the CLI and the settings page (GET /api/models) */
    if ((rc = rag_models_list(dir, &m, &n, &avail, &err)) != 0)
        return cli_fail(rc, &err);
    kb_buf_init(&out, 0);
    if (c->json)
        kb_buf_puts(&out, "{\"models\":[");
    for (int i = 0; i < n; i++) {
        const struct rag_model *x = &m[i];
        if (c->json) {
            kb_buf_printf(&out, "%s{\"file\":", i ? "," : "");
            kb_buf_put_json_str(&out, x->file, strlen(x->file));
        }
        if (x->error) {
            if (c->json) {
                kb_buf_puts(&out, ",\"error\":");
                kb_buf_put_json_str(&out, x->error, strlen(x->error));
                kb_buf_putc(&out, '}');
            } else {
                kb_buf_printf(&out, "%-40s unusable: %s\n", x->file, x->error);
            }
        } else if (c->json) {
            kb_buf_printf(&out, ",\"arch\":\"%s\",\"kind\":\"%s\",\"params\":%lld,\"bytes\":%lld,\"experts\":%d,"
                                "\"encoder\":%s,\"fits_in_ram\":%s,\"type\":\"%s\",\"types\":",
                          x->arch, x->kind, (long long)x->params, (long long)x->bytes, x->n_expert,
                          !strcmp(x->kind, "embedding") ? "true" : "false", x->fits ? "true" : "false", x->type);
            kb_buf_put_json_str(&out, x->types, strlen(x->types));
            kb_buf_putc(&out, '}');
        } else {
            char params[32];
            if (x->params >= 1000000000)
                snprintf(params, sizeof params, "%.2fB", x->params / 1e9);
            else
                snprintf(params, sizeof params, "%.1fM", x->params / 1e6);
            kb_buf_printf(&out, "%-40s %-10s %8s params  %8.1f MB  %-7s  %s%s\n", x->file, x->arch, params,
                          x->bytes / 1e6, x->fits ? "fits" : "TOO BIG", x->types, x->n_expert ? " (MoE)" : "");
        }
    }
    if (c->json) {
        kb_buf_puts(&out, "],\"folder\":");
        kb_buf_put_json_str(&out, dir, strlen(dir));
        kb_buf_printf(&out, ",\"mem_available\":%lld}\n", (long long)avail);
    } else if (n == 0) {
        kb_buf_printf(&out, "no .gguf files in %s\n", dir);
    }
    rc = cli_print(&out);
    kb_buf_release(&out);
    rag_models_free(m, n);
    return rc;
}
