/* cli/cmd_model_embed.c: `kbox model embed`, one embedding from a GGUF encoder (bert: BGE, MiniLM,
 * E5) through the embedder API (infer_embedder_*, declared in infer/infer.h).
 *
 *   kbox model embed FILE (--text T | -p T | --tokens 1,2,3) [--out F] [--json] [--normalize]
 *                   [-t THREADS]
 *
 * --text is tokenized with the model's specials ([CLS] ... [SEP]) and truncated to its context;
 * --tokens are used exactly as given. The vector is pooled as the model says (mean or CLS) and NOT
 * L2-normalised unless --normalize, so that it compares directly with the conformance files.
 * Output: --out F writes dim float32 values, little-endian, nothing else (the layout of one row
 * of the conformance set's NAME.embd.f32 files); --json prints
 * {"dim":N,"n_tokens":N,"embedding":[...]}; with neither, the numbers go to stdout, space-separated.
 * Called by cmd_model.c's dispatcher with argv = the arguments after "embed" (argv[0] = FILE).
 * Tests: tests/infer/test_bert.c (test_cli). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "infer/infer.h"

/* The dispatcher in cmd_model.c calls it with argv = the arguments after "embed". */
int cli_model_embed(struct cli *c, int argc, char **argv);

#define EMBED_MAX_IDS 8192

/* "1,2,3" into ids; KB_EINVAL with a usage message for anything else. */
static int parse_ids(const char *s, int32_t *ids, int max, int *n_out)
{
    int n = 0;
    while (*s) {
        char num[32];
        size_t len = strcspn(s, ",");
        int64_t v;
        if (len == 0 || len >= sizeof num || n == max)
            return KB_EINVAL;
        memcpy(num, s, len);
        num[len] = '\0';
        if (kb_parse_i64(num, &v) != 0 || v < 0 || v > INT32_MAX)
            return KB_EINVAL;
        ids[n++] = (int32_t)v;
        s += len;
        if (*s == ',' && *++s == '\0')
            return KB_EINVAL;
    }
    *n_out = n;
    return n > 0 ? 0 : KB_EINVAL;
}

static int write_f32(const char *path, const float *v, int n, struct kb_error *err)
{
    FILE *f = fopen(path, "wb");
    int rc = 0;
    if (!f)
        return kb_error_set(err, KB_EIO, "cannot create '%s'", path);
    for (int i = 0; i < n && !rc; i++) {
        uint32_t u;
        unsigned char b[4];
        memcpy(&u, &v[i], sizeof u);
        for (int k = 0; k < 4; k++)
            b[k] = (unsigned char)(u >> (8 * k));
        if (fwrite(b, 1, 4, f) != 4)
            rc = KB_EIO;
    }
    if (fclose(f) != 0)
        rc = KB_EIO;
    if (rc)
        kb_error_set(err, rc, "cannot write '%s'", path);
    return rc;
}

int cli_model_embed(struct cli *c, int argc, char **argv)
{
    const char *path = argc > 0 ? argv[0] : NULL, *text = NULL, *tokens = NULL, *out_path = NULL;
    bool normalize = false;
    int64_t n_threads = 0;
    struct infer_embedder *e = NULL;
    struct kb_error err = {0};
    int32_t *ids = NULL;
    float *v = NULL;
    int n = 0, rc = 0;
    if (!path || path[0] == '-')
        return cli_usage("model embed", "missing model FILE");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strcmp(a, "--text") == 0 || strcmp(a, "-p") == 0) && val)
            text = val, i++;
        else if (strcmp(a, "--tokens") == 0 && val)
            tokens = val, i++;
        else if (strcmp(a, "--out") == 0 && val)
            out_path = val, i++;
        else if (strcmp(a, "-t") == 0 && val) {
            if (kb_parse_i64(val, &n_threads) != 0 || n_threads < 0 || n_threads > 256)
                return cli_usage("model embed", "-t wants 0..256 threads, not '%s'", val);
            i++;
        } else if (strcmp(a, "--json") == 0)
            c->json = true;
        else if (strcmp(a, "--normalize") == 0)
            normalize = true;
        else
            return cli_usage("model embed", "unknown argument '%s'", a);
    }
    if (!text == !tokens)
        return cli_usage("model embed", "give exactly one of --text T or --tokens 1,2,3");
    ids = kb_xmalloc(EMBED_MAX_IDS * sizeof *ids);
    if (tokens && parse_ids(tokens, ids, EMBED_MAX_IDS, &n) != 0) {
        rc = cli_usage("model embed", "--tokens wants comma-separated ids, not '%s'", tokens);
        goto out_free;
    }
    if ((rc = infer_embedder_open(&e, path, (int)n_threads, &err)))
        goto out_fail;
    v = kb_xmalloc((size_t)infer_embedder_dim(e) * sizeof *v);
    if (text)
        rc = infer_embedder_tokenize(e, text, ids, EMBED_MAX_IDS, &n, &err);
    if (rc || (rc = infer_embed_tokens(e, ids, n, v, normalize, &err)) ||
        (out_path && (rc = write_f32(out_path, v, infer_embedder_dim(e), &err))))
        goto out_fail;
    if (c->json || !out_path) {
        struct kb_buf b;
        int dim = infer_embedder_dim(e);
        kb_buf_init(&b, 0);
        if (c->json)
            kb_buf_printf(&b, "{\"dim\":%d,\"n_tokens\":%d,\"embedding\":[", dim, n);
        for (int i = 0; i < dim; i++)
            kb_buf_printf(&b, "%s%.9g", i ? (c->json ? "," : " ") : "", (double)v[i]);
        kb_buf_puts(&b, c->json ? "]}\n" : "\n");
        rc = cli_print(&b);
        kb_buf_release(&b);
    }
    goto out_free;
out_fail:
    rc = cli_fail(rc, &err);
out_free:
    free(v);
    free(ids);
    infer_embedder_close(e);
    return rc;
}
