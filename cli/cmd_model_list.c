/* cli/cmd_model_list.c: `kbox model list [DIR] [--json]`: the GGUF files in the models folder
 * (DIR, default <data.dir>/models) with architecture, parameters, tensor types, size and whether
 * they fit in the memory available now. A file that does not open is listed with its error, so a
 * user sees why a download is unusable before configuring it. Tests: tests/cli/test_model_list.c. */
#include "cli/cli.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/infer.h"



static int64_t list_mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb < 0 ? -1 : (int64_t)kb * 1024;
}

/* "Q8_0 x87, F32 x32": the file's tensor types, most frequent first. */
static void list_types(const struct infer_model_info *in, char *out, size_t out_bytes)
{
    size_t used = 0;
    bool done[40] = {0};
    out[0] = '\0';
    for (;;) {
        int best = -1;
        for (int t = 0; t < 40; t++)
            if (!done[t] && in->tensor_type_count[t] > 0 && (best < 0 || in->tensor_type_count[t] > in->tensor_type_count[best]))
                best = t;
        if (best < 0)
            break;
        done[best] = true;
        const char *name = infer_type_name(best);
        used += (size_t)snprintf(out + used, used < out_bytes ? out_bytes - used : 0, "%s%s x%d", used ? ", " : "",
                                 name ? name : "?", in->tensor_type_count[best]);
        if (used >= out_bytes)
            break;
    }
}

int cli_model_list(struct cli *c, int argc, char **argv)
{
    char dir[4200];
    struct dirent **names = NULL;
    int64_t avail = list_mem_available();
    struct kb_buf out;
    int n, shown = 0, rc;
    if (argc > 1)
        return cli_usage("model list", "usage: kbox model list [DIR]");
    if (argc == 1)
        snprintf(dir, sizeof dir, "%s", argv[0]);
    else
        snprintf(dir, sizeof dir, "%s/models", c->cfg.data_dir);
    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        struct kb_error err = {0};
        kb_error_set(&err, KB_ENOENT, "cannot list models folder '%s' (put GGUF files there, or name a folder)", dir);
        return cli_fail(KB_ENOENT, &err);
    }
    kb_buf_init(&out, 0);
    if (c->json)
        kb_buf_puts(&out, "{\"models\":[");
    for (int i = 0; i < n; i++) {
        char path[8400], types[256];
        struct infer_model *m = NULL;
        struct infer_model_info in;
        struct kb_error err = {0};
        if (!kb_str_has_suffix(names[i]->d_name, ".gguf"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        rc = infer_model_open(&m, path, &err);
        if (c->json) {
            kb_buf_printf(&out, "%s{\"file\":", shown ? "," : "");
            kb_buf_put_json_str(&out, names[i]->d_name, strlen(names[i]->d_name));
        }
        if (rc) {
            const char *msg = kb_error_msg(&err, rc);
            if (c->json) {
                kb_buf_puts(&out, ",\"error\":");
                kb_buf_put_json_str(&out, msg, strlen(msg));
                kb_buf_putc(&out, '}');
            } else {
                kb_buf_printf(&out, "%-40s unusable: %s\n", names[i]->d_name, msg);
            }
        } else {
            infer_model_get_info(m, &in);
            list_types(&in, types, sizeof types);
            bool fits = avail < 0 || (int64_t)in.file_bytes < avail;
            if (c->json) {
                kb_buf_printf(&out, ",\"arch\":\"%s\",\"params\":%lld,\"bytes\":%llu,\"experts\":%d,\"encoder\":%s,"
                                    "\"fits_in_ram\":%s,\"types\":",
                              in.arch, (long long)in.n_params, (unsigned long long)in.file_bytes, in.n_expert,
                              !strcmp(in.arch, "bert") ? "true" : "false", fits ? "true" : "false");
                kb_buf_put_json_str(&out, types, strlen(types));
                kb_buf_putc(&out, '}');
            } else {
                char params[32];
                if (in.n_params >= 1000000000)
                    snprintf(params, sizeof params, "%.2fB", in.n_params / 1e9);
                else
                    snprintf(params, sizeof params, "%.1fM", in.n_params / 1e6);
                kb_buf_printf(&out, "%-40s %-10s %8s params  %8.1f MB  %-7s  %s%s\n", names[i]->d_name, in.arch,
                              params, in.file_bytes / 1e6, fits ? "fits" : "TOO BIG", types,
                              in.n_expert ? " (MoE)" : "");
            }
            infer_model_close(m);
        }
        shown++;
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (c->json)
        kb_buf_printf(&out, "],\"folder\":\"%s\",\"mem_available\":%lld}\n", dir, (long long)avail);
    else if (shown == 0)
        kb_buf_printf(&out, "no .gguf files in %s\n", dir);
    rc = cli_print(&out);
    kb_buf_release(&out);
    return rc;
}
