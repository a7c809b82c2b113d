/* cli/cmd_model.c: `kbox model`: inspect, run, dump logits, benchmark and synthesize GGUF models
 * through infer/infer.h.
 *
 *   kbox model info FILE [--json]
 *   kbox model run FILE -p TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P] [--seed S]
 *                  [-t THREADS] [-c CTX] [--expert-stats] [--draft N] [--no-mtp] [--load mmap|copy]
 *                  [--chat [--system S] [--think]]
 *                  prints the prompt, then the generation streamed; --chat wraps the prompt in the
 *                  model's chat template and prints only the answer (reasoning to stderr);
 *                  --expert-stats then prints per-layer expert selection counts; --draft N:
 *                  speculative drafts (infer_gen_params.draft_max: 0 adaptive, -1 off), counts to
 *                  stderr; --no-mtp: a glm4moe file's NextN block is not run (no MTP drafts)
 *   kbox model logits FILE --tokens 1,2,3 --out F  float32 n_tokens x n_vocab, little-endian
 *   kbox model bench FILE [-t N] [-p 512] [-n 128] [-b B] [-r R] [--ctx N] [--stream-mib M]
 *                  [--load mmap|copy] (how the weights are held, as answer.load; default mmap)
 *                  prompt and generation tokens/s (a NextN/MTP block is not run: the main model
 *                  alone, as llama-bench measures it)
 *                  (-b: tokens per forward step, 1 = per-token prompt evaluation; llama-bench's
 *                  pp512 / tg128: random ids, the prompt in one batch, then one token at a time
 *                  from an empty cache; best of the repetitions after a warm-up; --ctx N: the
 *                  generation starts after N untimed cached tokens; then a read-only STREAM pass
 *                  of M MiB (default 256, 0 skips) on as many threads gives stream_gb_s and
 *                  tg_bw_fraction = bytes read per token x tg tok/s / stream_gb_s;
 *                  tg_cpu_per_wall: the process's CPU seconds over the wall seconds of the best
 *                  generation run (about -t when every thread had a core throughout; less when
 *                  other processes took the cores: read tg on a shared machine with it);
 *                  --profile: one more untimed-in-the-table generation run of -n tokens with
 *                  per-phase timers per decode step and the pool's per-thread busy time and
 *                  barrier waits, printed after the table, or as "profile" in --json)
 *   kbox model embed FILE ...   the text's embedding: cmd_model_embed.c (cli_model_embed)
 *   kbox model list [DIR]       GGUF files in <data.dir>/models: cmd_model_list.c (cli_model_list)
 *   kbox model synth --arch A --type T (a ggml type, or Q4_K_M: llama-quantize's mix; MXFP4 is its MXFP4_MOE
 *                  mix: 3-D expert matrices MXFP4, other matrices Q8_0, and a dense arch's FFN MXFP4)
 *                  [--layers N --dim N --heads N --kv-heads N --head-dim N
 *                  --ff N --vocab N --experts N --experts-used N --ff-exp N --ff-shexp N --tied
 *                  --seed N; deepseek2: --q-lora N --kv-lora N --rope-dim N --nope-dim N --v-dim N
 *                  --shared-experts N --dense-lead N --gating 1|2 --expert-scale F --expert-norm
 *                  --groups N --groups-used N --yarn-factor F --yarn-orig-ctx N; gpt-oss: --swa N
 *                  and the yarn flags; qwen3next: DeltaNet widths follow --heads/--head-dim;
 *                  glm4moe: the expert flags above, --nextn N (NextN/MTP blocks, default 1),
 *                  --nextn-agree (NextN blocks copying the main ones: see infer/synth.h)
 *                  deepseek32: the deepseek2 flags and --idx-heads N --idx-dim N --idx-top-k N] --out F
 * Exit codes: 0 ok, 1 usage, 2 bad input, 3 internal. Tests: tests/cli/test_cmd_model.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "infer/infer.h"

#define MODEL_MAX_PROMPT 65536

static int parse_int(const char *cmd, const char *flag, const char *v, int lo, int hi, int *out)
{
    int64_t x;
    if (!v || kb_parse_i64(v, &x) != 0 || x < lo || x > hi)
        return cli_usage(cmd, "%s needs an integer in [%d, %d]", flag, lo, hi);
    *out = (int)x;
    return 0;
}

/* --load mmap|copy: how the weights are held (answer.load). */
static int parse_load(const char *cmd, const char *v)
{
    if (!v || (strcmp(v, "mmap") != 0 && strcmp(v, "copy") != 0))
        return cli_usage(cmd, "--load needs mmap or copy");
    infer_set_load_copy(strcmp(v, "copy") == 0);
    return 0;
}

static int parse_float(const char *cmd, const char *flag, const char *v, float *out)
{
    double x;
    if (!v || kb_parse_f64(v, &x) != 0)
        return cli_usage(cmd, "%s needs a number", flag);
    *out = (float)x;
    return 0;
}

static int open_model(const char *path, struct infer_model **m)
{
    struct kb_error err = {0};
    int rc = infer_model_open(m, path, &err);
    return rc ? cli_fail(rc, &err) : 0;
}

/* ---- info ----------------------------------------------------------------------------------------- */

static int model_info(struct cli *c, const char *path)
{
    struct infer_model *m = NULL;
    struct infer_model_info in;
    struct kb_buf b;
    int rc = open_model(path, &m);
    if (rc)
        return rc;
    infer_model_get_info(m, &in);
    uint64_t sess = infer_session_bytes(m, KB_MIN(in.n_ctx_train, 4096), 512, false);
    kb_buf_init(&b, 0);
    if (c->json) {
        kb_buf_puts(&b, "{\"arch\":");
        kb_buf_put_json_str(&b, in.arch, strlen(in.arch));
        kb_buf_puts(&b, ",\"name\":");
        kb_buf_put_json_str(&b, in.name, strlen(in.name));
        kb_buf_printf(&b,
                      ",\"n_vocab\":%d,\"n_ctx_train\":%d,\"n_embd\":%d,\"n_layer\":%d,\"n_head\":%d,"
                      "\"n_head_kv\":%d,\"head_dim\":%d,\"head_dim_v\":%d,\"n_ff\":%d,\"n_rot\":%d,"
                      "\"rope\":\"%s\",\"rope_freq_base\":%g,\"rope_freq_scale\":%g,\"rms_eps\":%g,"
                      "\"tied_output\":%s,\"n_expert\":%d,\"n_expert_used\":%d,\"n_ff_exp\":%d,"
                      "\"n_ff_shexp\":%d,\"n_layer_dense_lead\":%d,\"kv_lora_rank\":%d,"
                      "\"q_lora_rank\":%d,\"n_swa\":%d,\"n_swa_layers\":%d,\"n_recurrent_layers\":%d,"
                      "\"recurrent_state_bytes\":%llu,\"kv_bytes_per_token\":%llu,"
                      "\"kv_bytes_per_token_full\":%llu,\"n_params\":%lld,"
                      "\"weight_bytes\":%llu,\"file_bytes\":%llu,\"session_bytes\":%llu,"
                      "\"n_tensors\":%d,\"tensor_types\":{",
                      in.n_vocab, in.n_ctx_train, in.n_embd, in.n_layer, in.n_head, in.n_head_kv,
                      in.head_dim, in.head_dim_v, in.n_ff, in.n_rot, in.rope_neox ? "neox" : "norm",
                      in.rope_freq_base, in.rope_freq_scale, in.rms_eps,
                      in.tied_output ? "true" : "false", in.n_expert, in.n_expert_used,
                      in.n_ff_exp, in.n_ff_shexp, in.n_layer_dense_lead, in.kv_lora_rank,
                      in.q_lora_rank, in.n_swa, in.n_swa_layers, in.n_recurrent_layers,
                      (unsigned long long)in.recurrent_state_bytes, (unsigned long long)in.kv_bytes_per_token,
                      (unsigned long long)in.kv_bytes_per_token_full, (long long)in.n_params, (unsigned long long)in.weight_bytes,
                      (unsigned long long)in.file_bytes, (unsigned long long)sess, in.n_tensors);
        bool first = true;
        for (int t = 0; t < (int)KB_ARRAY_LEN(in.tensor_type_count); t++) {
            const char *tn = infer_type_name(t);
            if (!in.tensor_type_count[t] || !tn)
                continue;
            kb_buf_printf(&b, "%s\"%s\":%d", first ? "" : ",", tn, in.tensor_type_count[t]);
            first = false;
        }
        kb_buf_printf(&b, "},\"n_nextn\":%d,\"tokenizer\":", in.n_nextn);
        kb_buf_put_json_str(&b, in.tok_model, strlen(in.tok_model));
        kb_buf_printf(&b, ",\"bos\":%d,\"eos\":%d,\"eot\":%d,\"chat_template\":", (int)in.bos,
                      (int)in.eos, (int)in.eot);
        kb_buf_put_json_str(&b, in.chat_template, strlen(in.chat_template));
        if (in.idx_top_k) /* deepseek32's DeepSeek Sparse Attention */
            kb_buf_printf(&b, ",\"indexer\":{\"n_head\":%d,\"head_dim\":%d,\"top_k\":%d}", in.idx_n_head,
                          in.idx_head_dim, in.idx_top_k);
        kb_buf_puts(&b, "}\n");
    } else {
        kb_buf_printf(&b, "file          %s (%.1f MB)\n", path, in.file_bytes / 1e6);
        kb_buf_printf(&b, "arch          %s%s%s\n", in.arch, in.name[0] ? "  name " : "", in.name);
        kb_buf_printf(&b, "params        %lld (%.1f MB of weights, mmap'd)\n", (long long)in.n_params,
                      in.weight_bytes / 1e6);
        kb_buf_printf(&b, "layers        %d, n_embd %d, n_ff %d\n", in.n_layer, in.n_embd, in.n_ff);
        kb_buf_printf(&b, "attention     %d heads, %d kv heads, head_dim %d/%d\n", in.n_head,
                      in.n_head_kv, in.head_dim, in.head_dim_v);
        kb_buf_printf(&b, "rope          %s, %d dims, base %g, scale %g\n",
                      in.rope_neox ? "neox" : "norm", in.n_rot, in.rope_freq_base,
                      in.rope_freq_scale);
        kb_buf_printf(&b, "rms eps       %g\n", in.rms_eps);
        kb_buf_printf(&b, "context       %d (trained)\n", in.n_ctx_train);
        if (in.n_expert)
            kb_buf_printf(&b, "experts       %d, %d used per token, ffn %d, shared ffn %d, %d leading "
                          "dense layers\n", in.n_expert, in.n_expert_used, in.n_ff_exp,
                          in.n_ff_shexp, in.n_layer_dense_lead);
        if (in.kv_lora_rank)
            kb_buf_printf(&b, "MLA           kv_lora_rank %d, q_lora_rank %d\n", in.kv_lora_rank,
                          in.q_lora_rank);
        if (in.n_nextn)
            kb_buf_printf(&b, "nextn (MTP)   %d block(s) after the %d main layers (used for speculative drafts)\n",
                          in.n_nextn, in.n_layer);
        if (in.idx_top_k)
            kb_buf_printf(&b, "sparse attn   lightning indexer: %d heads of %d, each query attends to its top %d "
                          "positions\n", in.idx_n_head, in.idx_head_dim, in.idx_top_k);
        if (in.n_swa)
            kb_buf_printf(&b, "sliding       window of %d tokens in %d of %d layers (their KV cache keeps only the "
                          "window; not in the bytes/token below)\n", in.n_swa, in.n_swa_layers, in.n_layer);
        if (in.n_recurrent_layers)
            kb_buf_printf(&b, "recurrent     %d of %d layers (Gated DeltaNet: a %.1f KB state per session instead "
                          "of a KV cache; not in the bytes/token below)\n", in.n_recurrent_layers, in.n_layer,
                          in.recurrent_state_bytes / 1e3);
        kb_buf_printf(&b, "KV cache      %llu bytes/token (F16)%s", (unsigned long long)in.kv_bytes_per_token,
                      in.kv_bytes_per_token != in.kv_bytes_per_token_full ? "" : "\n");
        if (in.kv_bytes_per_token != in.kv_bytes_per_token_full)
            kb_buf_printf(&b, "; full K/V would take %llu (%.1fx)\n",
                          (unsigned long long)in.kv_bytes_per_token_full,
                          (double)in.kv_bytes_per_token_full / (double)in.kv_bytes_per_token);
        kb_buf_printf(&b, "output        %s\n", in.tied_output ? "tied to token_embd" : "separate");
        kb_buf_printf(&b, "tensors       %d:", in.n_tensors);
        for (int t = 0; t < (int)KB_ARRAY_LEN(in.tensor_type_count); t++)
            if (in.tensor_type_count[t] && infer_type_name(t))
                kb_buf_printf(&b, " %s x%d", infer_type_name(t), in.tensor_type_count[t]);
        kb_buf_printf(&b, "\nvocab         %d tokens, tokenizer %s, bos %d, eos %d, eot %d\n",
                      in.n_vocab, in.tok_model[0] ? in.tok_model : "(none)", (int)in.bos,
                      (int)in.eos, (int)in.eot);
        kb_buf_printf(&b, "chat template %s\n", in.chat_template[0] ? "yes" : "none");
        kb_buf_printf(&b, "memory        %.1f MB weights + %.1f MB session (%d ctx, F16 KV)\n",
                      in.weight_bytes / 1e6, sess / 1e6, KB_MIN(in.n_ctx_train, 4096));
    }
    rc = cli_print(&b);
    kb_buf_release(&b);
    infer_model_close(m);
    return rc;
}

/* ---- run ------------------------------------------------------------------------------------------ */

static int print_piece(void *ud, const char *piece, size_t n)
{
    (void)ud;
    if (fwrite(piece, 1, n, stdout) != n)
        return 1;
    fflush(stdout);
    return 0;
}

/* Per-layer expert selection counts and a load-balance summary: max/mean load (1.0 is perfectly
 * balanced) and the experts never chosen. */
static int print_expert_stats(const struct infer_model *m, const struct infer_session *s)
{
    struct infer_model_info in;
    struct kb_error err = {0};
    struct kb_buf b;
    infer_model_get_info(m, &in);
    size_t n = (size_t)in.n_layer * in.n_expert;
    uint64_t *cnt = kb_xcalloc(n ? n : 1, sizeof *cnt);
    int rc = infer_session_expert_stats(s, cnt, n, &err);
    if (rc) {
        free(cnt);
        return cli_fail(rc, &err);
    }
    kb_buf_init(&b, 0);
    kb_buf_printf(&b, "expert stats (%d experts, %d per token)\n", in.n_expert, in.n_expert_used);
    double worst = 0;
    for (int il = 0; il < in.n_layer; il++) {
        const uint64_t *c = cnt + (size_t)il * in.n_expert;
        uint64_t tot = 0, mx = 0;
        int unused = 0;
        for (int e = 0; e < in.n_expert; e++) {
            tot += c[e];
            mx = c[e] > mx ? c[e] : mx;
            unused += c[e] == 0;
        }
        if (tot == 0)
            continue; /* dense layer */
        double imb = (double)mx / ((double)tot / in.n_expert);
        worst = imb > worst ? imb : worst;
        kb_buf_printf(&b, "layer %2d:", il);
        for (int e = 0; e < in.n_expert; e++)
            kb_buf_printf(&b, " %llu", (unsigned long long)c[e]);
        kb_buf_printf(&b, "  | max/mean %.2f, unused %d\n", imb, unused);
    }
    kb_buf_printf(&b, "load balance: worst layer max/mean %.2f (1.00 = even)\n", worst);
    rc = cli_print(&b);
    kb_buf_release(&b);
    free(cnt);
    return rc;
}

static int print_reasoning(void *ud, const char *piece, size_t n)
{
    (void)ud;
    if (fwrite(piece, 1, n, stderr) != n)
        return 1;
    fflush(stderr);
    return 0;
}

static int model_run(struct cli *c, const char *path, int argc, char **argv)
{
    bool expert_stats = false, chat = false, think = false;
    const char *system = NULL;
    struct infer_gen_params gp;
    struct infer_session_params sp;
    struct infer_model *m = NULL;
    struct infer_session *s = NULL;
    struct infer_gen_result res;
    struct kb_error err = {0};
    const char *prompt = NULL;
    int32_t *ids = NULL;
    int n_ids = 0, rc = 0;
    (void)c;
    infer_gen_params_default(&gp);
    infer_session_params_default(&sp);
    gp.max_tokens = 128;
    for (int i = 0; i < argc && rc == 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-p") == 0 && v)
            prompt = v, i++;
        else if (strcmp(a, "-n") == 0)
            rc = parse_int("model run", a, v, 1, 1 << 20, &gp.max_tokens), i++;
        else if (strcmp(a, "--temp") == 0)
            rc = parse_float("model run", a, v, &gp.sample.temp), i++;
        else if (strcmp(a, "--top-k") == 0)
            rc = parse_int("model run", a, v, 0, 1 << 30, &gp.sample.top_k), i++;
        else if (strcmp(a, "--top-p") == 0)
            rc = parse_float("model run", a, v, &gp.sample.top_p), i++;
        else if (strcmp(a, "--min-p") == 0)
            rc = parse_float("model run", a, v, &gp.sample.min_p), i++;
        else if (strcmp(a, "--seed") == 0) {
            int64_t x = 0;
            if (!v || kb_parse_i64(v, &x) != 0 || x < 0)
                rc = cli_usage("model run", "--seed needs a non-negative integer");
            gp.sample.seed = (uint64_t)x;
            i++;
        } else if (strcmp(a, "-t") == 0)
            rc = parse_int("model run", a, v, 0, 256, &sp.n_threads), i++;
        else if (strcmp(a, "-c") == 0)
            rc = parse_int("model run", a, v, 8, 1 << 20, &sp.n_ctx), i++;
        else if (strcmp(a, "--draft") == 0)
            rc = parse_int("model run", a, v, -1, 64, &gp.draft_max), i++;
        else if (strcmp(a, "--no-mtp") == 0)
            sp.no_mtp = true;
        else if (strcmp(a, "--load") == 0)
            rc = parse_load("model run", v), i++;
        else if (strcmp(a, "--expert-stats") == 0)
            expert_stats = true;
        else if (strcmp(a, "--chat") == 0)
            chat = true;
        else if (strcmp(a, "--think") == 0)
            think = true;
        else if (strcmp(a, "--system") == 0 && v)
            system = v, chat = true, i++;
        else
            rc = cli_usage("model run", "unknown argument '%s'", a);
    }
    if (rc)
        return rc;
    if (!prompt)
        return cli_usage("model run", "missing -p TEXT");
    if ((rc = open_model(path, &m)))
        return rc;
    ids = kb_xmalloc(MODEL_MAX_PROMPT * sizeof *ids);
    struct kb_buf text;
    kb_buf_init(&text, 0);
    if (chat) { /* the model's chat template; reasoning goes to stderr, the answer to stdout */
        struct infer_chat_msg msgs[2] = {{"system", system}, {"user", prompt}};
        struct infer_chat_opts co = {true, think, NULL};
        int nm = system ? 2 : 1;
        rc = infer_chat_render(m, system ? msgs : msgs + 1, nm, &co, &text, &err);
        gp.split_reasoning = true;
        gp.starts_in_reasoning = infer_chat_opens_think(m, &co);
        gp.reasoning = print_reasoning;
    } else {
        rc = kb_buf_puts(&text, prompt);
    }
    if (rc || (rc = infer_tokenize(m, text.data, text.len, true, chat, ids, MODEL_MAX_PROMPT,
                                   &n_ids, &err)) ||
        (rc = infer_session_new(&s, m, &sp, &err))) {
        kb_buf_release(&text);
        rc = cli_fail(rc, &err);
        goto out;
    }
    kb_buf_release(&text);
    if (!chat) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    rc = infer_generate(s, ids, n_ids, &gp, print_piece, NULL, &res, &err);
    fputc('\n', stdout);
    fflush(stdout);
    if (rc) {
        rc = cli_fail(rc, &err);
        goto out;
    }
    fprintf(stderr, "kbox: prompt %d tokens in %.3f s (%.1f tok/s), generated %d tokens in %.3f s "
            "(%.1f tok/s)\n", res.n_prompt, res.prompt_s,
            res.prompt_s > 0 ? res.n_prompt / res.prompt_s : 0.0, res.n_gen, res.gen_s,
            res.gen_s > 0 ? res.n_gen / res.gen_s : 0.0);
    if (res.n_drafted)
        fprintf(stderr, "kbox: drafts: %d of %d accepted in %d verify steps (MTP head: %d of %d)\n", res.n_accepted,
                res.n_drafted, res.n_verify, res.n_mtp_accepted, res.n_mtp_drafted);
    if (expert_stats)
        rc = print_expert_stats(m, s);
out:
    free(ids);
    infer_session_free(s);
    infer_model_close(m);
    return rc;
}

/* ---- logits --------------------------------------------------------------------------------------- */

static int model_logits(const char *path, int argc, char **argv)
{
    const char *toks = NULL, *outp = NULL;
    struct infer_model *m = NULL;
    struct infer_session *s = NULL;
    struct infer_session_params sp;
    struct infer_model_info in;
    struct kb_error err = {0};
    int32_t *ids = NULL;
    float *lg = NULL;
    int n = 0, rc = 0;
    bool kv_f32 = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc)
            toks = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            outp = argv[++i];
        else if (strcmp(argv[i], "--kv-f32") == 0)
            kv_f32 = true;
        else
            return cli_usage("model logits", "unknown argument '%s'", argv[i]);
    }
    if (!toks || !outp)
        return cli_usage("model logits", "needs --tokens 1,2,3 and --out FILE");
    ids = kb_xmalloc((strlen(toks) / 2 + 1) * sizeof *ids);
    for (const char *p = toks; *p;) {
        char num[24];
        size_t len = strcspn(p, ",");
        int64_t v;
        if (len == 0 || len >= sizeof num) {
            free(ids);
            return cli_usage("model logits", "bad --tokens list");
        }
        memcpy(num, p, len);
        num[len] = 0;
        if (kb_parse_i64(num, &v) != 0 || v < 0 || v > INT32_MAX) {
            free(ids);
            return cli_usage("model logits", "bad token id '%s'", num);
        }
        ids[n++] = (int32_t)v;
        p += len;
        if (*p == ',')
            p++;
    }
    if ((rc = open_model(path, &m))) {
        free(ids);
        return rc;
    }
    infer_model_get_info(m, &in);
    infer_session_params_default(&sp);
    sp.n_ctx = n;
    sp.kv_f32 = kv_f32;
    lg = kb_try_malloc((size_t)n * in.n_vocab, sizeof *lg);
    if (!lg) {
        rc = cli_fail(KB_ENOMEM, NULL);
        goto out;
    }
    if ((rc = infer_session_new(&s, m, &sp, &err)) || (rc = infer_eval(s, ids, n, lg, true, &err))) {
        rc = cli_fail(rc, &err);
        goto out;
    }
    FILE *f = fopen(outp, "wb");
    size_t cnt = (size_t)n * in.n_vocab;
    if (!f || fwrite(lg, sizeof *lg, cnt, f) != cnt || fclose(f) != 0) {
        kb_error_set(&err, KB_EIO, "cannot write '%s'", outp);
        rc = cli_fail(KB_EIO, &err);
    }
out:
    free(lg);
    free(ids);
    infer_session_free(s);
    infer_model_close(m);
    return rc;
}

/* ---- bench ---------------------------------------------------------------------------------------- */

/* The --profile counters, per generated token (ms) and as shares of the step, as JSON or text. */
static void bench_profile_json(struct jw *w, const struct infer_profile *p)
{
    double n = p->n_steps ? (double)p->n_steps : 1.0, ms = 1e3 / n;
    jw_obj(w, "profile");
    jw_int(w, "steps", (int64_t)p->n_steps);
    jw_num(w, "step_ms", p->step_s * ms);
    jw_obj(w, "phase_ms");
    for (int i = 0; i < INFER_PROF_N; i++)
        jw_num(w, infer_prof_phase_name(i), p->phase_s[i] * ms);
    jw_end_obj(w);
    jw_num(w, "routed_expert_thread_ms", p->routed_thr_s * ms);
    jw_num(w, "shared_expert_thread_ms", p->shared_thr_s * ms);
    jw_num(w, "handoffs_per_step", (double)p->n_jobs / n);
    jw_num(w, "barrier_wait_ms", p->barrier_wait_s * ms);
    jw_arr(w, "threads");
    for (int t = 0; t < p->n_threads && t < INFER_PROF_MAX_THREADS; t++) {
        jw_obj(w, NULL);
        jw_int(w, "ith", t);
        jw_num(w, "busy_ms", p->busy_s[t] * ms);
        jw_num(w, "idle_ms", (p->step_s - p->busy_s[t]) * ms);
        jw_num(w, "items_per_step", p->items[t] / n);
        jw_end_obj(w);
    }
    jw_end_arr(w);
    jw_end_obj(w);
}

static void bench_profile_text(struct kb_buf *b, const struct infer_profile *p)
{
    double n = p->n_steps ? (double)p->n_steps : 1.0, ms = 1e3 / n, st = p->step_s > 0 ? p->step_s : 1;
    kb_buf_printf(b, "profile: %llu decode steps, %.3f ms per step\n", (unsigned long long)p->n_steps,
                  p->step_s * ms);
    for (int i = 0; i < INFER_PROF_N; i++)
        kb_buf_printf(b, "  %-10s %8.3f ms  %5.1f%%\n", infer_prof_phase_name(i), p->phase_s[i] * ms,
                      100.0 * p->phase_s[i] / st);
    kb_buf_printf(b, "  experts, thread time: routed %.3f ms, shared %.3f ms\n", p->routed_thr_s * ms,
                  p->shared_thr_s * ms);
    kb_buf_printf(b, "  pool: %.1f hand-offs per step, caller waits %.3f ms per step at their ends\n",
                  (double)p->n_jobs / n, p->barrier_wait_s * ms);
    for (int t = 0; t < p->n_threads && t < INFER_PROF_MAX_THREADS; t++)
        kb_buf_printf(b, "  thread %d: busy in pool items %.3f ms (%.1f%% of the step), %.1f items\n", t,
                      p->busy_s[t] * ms, 100.0 * p->busy_s[t] / st, p->items[t] / n);
}

/* The process's resident and peak resident set in KiB from /proc/self/status (-1 when unknown). */
static void bench_rss(long *rss_kb, long *hwm_kb)
{
    FILE *st = fopen("/proc/self/status", "r");
    char line[256];
    while (st && fgets(line, sizeof line, st)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kb = strtol(line + 6, NULL, 10);
    }
    if (st)
        fclose(st);
}

/* CPU seconds (user + system) of the whole process so far, every thread included. */
static double bench_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int model_bench(struct cli *c, const char *path, int argc, char **argv)
{
    struct infer_model *m = NULL;
    struct infer_session *s = NULL;
    struct infer_session_params sp;
    struct infer_model_info in;
    struct kb_error err = {0};
    int n_pp = 512, n_tg = 128, reps = 3, rc = 0, n_batch = 0, n_kv = 0, stream_mib = 256;
    bool profile = false;
    struct infer_profile prof;
    int32_t *ids = NULL;
    float *lg = NULL;
    infer_session_params_default(&sp);
    for (int i = 0; i < argc && rc == 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-t") == 0)
            rc = parse_int("model bench", a, v, 0, 256, &sp.n_threads), i++;
        else if (strcmp(a, "-p") == 0)
            rc = parse_int("model bench", a, v, 1, 1 << 16, &n_pp), i++;
        else if (strcmp(a, "-n") == 0)
            rc = parse_int("model bench", a, v, 1, 1 << 16, &n_tg), i++;
        else if (strcmp(a, "-r") == 0)
            rc = parse_int("model bench", a, v, 1, 100, &reps), i++;
        else if (strcmp(a, "-b") == 0)
            rc = parse_int("model bench", a, v, 1, 1 << 16, &n_batch), i++;
        else if (strcmp(a, "--ctx") == 0)
            rc = parse_int("model bench", a, v, 0, 1 << 20, &n_kv), i++;
        else if (strcmp(a, "--stream-mib") == 0)
            rc = parse_int("model bench", a, v, 0, 1 << 16, &stream_mib), i++;
        else if (strcmp(a, "--profile") == 0)
            profile = true;
        else if (strcmp(a, "--load") == 0)
            rc = parse_load("model bench", v), i++;
        else
            rc = cli_usage("model bench", "unknown argument '%s'", a);
    }
    if (rc || (rc = open_model(path, &m)))
        return rc;
    infer_model_get_info(m, &in);
    int n_ids = KB_MAX(n_pp, n_kv + n_tg); /* --ctx: generation starts after n_kv cached tokens */
    sp.n_ctx = n_ids + 1;
    sp.n_batch = n_batch > 0 ? n_batch : n_pp; /* -b 1: the prompt token by token */
    sp.no_mtp = true; /* the main model alone, as llama-bench runs it (MTP drafting: model run --draft) */
    if ((rc = infer_session_new(&s, m, &sp, &err))) {
        rc = cli_fail(rc, &err);
        goto out;
    }
    ids = kb_xmalloc((size_t)n_ids * sizeof *ids);
    lg = kb_xmalloc((size_t)in.n_vocab * sizeof *lg);
    uint64_t r = 0x2545f4914f6cdd1dull;
    for (int i = 0; i < n_ids; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        ids[i] = (int32_t)(r % (uint64_t)in.n_vocab);
    }
    double best_pp = 0, best_tg = 0, tg_cpu = 0;
    for (int rep = 0; rep <= reps; rep++) { /* rep 0 warms up */
        infer_session_reset(s);
        double t0 = kb_now_s();
        if ((rc = infer_eval(s, ids, n_pp, lg, false, &err))) /* last row's logits, as llama-bench */
            break;
        double pp = n_pp / (kb_now_s() - t0);
        infer_session_reset(s);
        if (n_kv > 0 && (rc = infer_eval(s, ids, n_kv, lg, false, &err))) /* untimed: the context */
            break;
        t0 = kb_now_s();
        double c0 = bench_cpu_s();
        for (int i = 0; i < n_tg && rc == 0; i++)
            rc = infer_eval(s, &ids[n_kv + i], 1, lg, false, &err); /* every token gets its logits */
        double wall = kb_now_s() - t0, tg = n_tg / wall;
        if (rep > 0) {
            best_pp = KB_MAX(best_pp, pp);
            if (tg > best_tg)
                tg_cpu = wall > 0 ? (bench_cpu_s() - c0) / wall : 0;
            best_tg = KB_MAX(best_tg, tg);
        }
    }
    /* --profile: the same generation once more with the timers on (not in the table) */
    if (rc == 0 && profile) {
        infer_session_reset(s);
        if (n_kv > 0)
            rc = infer_eval(s, ids, n_kv, lg, false, &err);
        infer_session_profile(s, true);
        for (int i = 0; i < n_tg && rc == 0; i++)
            rc = infer_eval(s, &ids[n_kv + i], 1, lg, false, &err);
        infer_session_profile_get(s, &prof);
        infer_session_profile(s, false);
    }
    if (rc) {
        rc = cli_fail(rc, &err);
        goto out;
    }
    /* The bound, in the same run with the same thread count: read GB/s of a STREAM-style pass. */
    double stream_gbs = 0, frac = 0;
    if (stream_mib > 0) {
        if ((rc = infer_stream_read_gbs(sp.n_threads, (size_t)stream_mib << 20, 5, &stream_gbs, NULL, &err))) {
            rc = cli_fail(rc, &err);
            goto out;
        }
        frac = stream_gbs > 0 ? best_tg * (double)in.active_bytes / 1e9 / stream_gbs : 0;
    }
    struct kb_buf b;
    long rss_kb = -1, hwm_kb = -1;
    bench_rss(&rss_kb, &hwm_kb);
    kb_buf_init(&b, 0);
    if (c->json) {
        struct jw w;
        jw_init(&w, &b);
        jw_obj(&w, NULL);
        jw_str(&w, "file", path);
        jw_int(&w, "threads", sp.n_threads);
        jw_str(&w, "load", infer_load_copy() ? "copy" : "mmap");
        jw_int(&w, "pp", n_pp);
        jw_num(&w, "pp_tok_s", best_pp);
        jw_int(&w, "tg", n_tg);
        jw_int(&w, "ctx", n_kv);
        jw_num(&w, "tg_tok_s", best_tg);
        jw_int(&w, "weight_bytes", (int64_t)in.weight_bytes);
        jw_int(&w, "active_bytes", (int64_t)in.active_bytes);
        jw_num(&w, "tg_gb_s", best_tg * in.active_bytes / 1e9);
        jw_num(&w, "stream_gb_s", stream_gbs);
        jw_num(&w, "tg_bw_fraction", frac);
        jw_num(&w, "tg_cpu_per_wall", tg_cpu);
        jw_int(&w, "rss_kb", rss_kb);
        jw_int(&w, "rss_peak_kb", hwm_kb);
        if (profile)
            bench_profile_json(&w, &prof);
        jw_end_obj(&w);
        kb_buf_puts(&b, "\n");
        if (w.rc)
            rc = cli_fail(w.rc, NULL);
    } else {
        kb_buf_printf(&b, "model %s (%s, %.1f MB weights %s, %.1f MB read per token), threads %d, "
                      "batch %d\npp%d  %8.2f tok/s\ntg%d  %8.2f tok/s  (%.2f GB/s of weights, after %d "
                      "cached tokens, %.2f CPU s per wall s)\nstream read %.2f GB/s, tg at %.1f%% of the "
                      "bandwidth bound\nrss %.1f MB (peak %.1f MB)\n", path, in.arch, in.weight_bytes / 1e6,
                      infer_load_copy() ? "copied" : "mmap'd", in.active_bytes / 1e6, sp.n_threads, sp.n_batch,
                      n_pp, best_pp, n_tg, best_tg, best_tg * in.active_bytes / 1e9, n_kv, tg_cpu, stream_gbs,
                      100.0 * frac, rss_kb / 1024.0, hwm_kb / 1024.0);
        if (profile)
            bench_profile_text(&b, &prof);
    }
    if (rc == 0)
        rc = cli_print(&b);
    kb_buf_release(&b);
out:
    free(ids);
    free(lg);
    infer_session_free(s);
    infer_model_close(m);
    return rc;
}

/* ---- embed --------------------------------------------------------------------------------------- */

/* cmd_model_embed.c: `kbox model embed FILE ...` through the embedder API (argv after "embed"). */
int cli_model_embed(struct cli *c, int argc, char **argv);
/* cmd_model_list.c: `kbox model list [DIR]` (argv after "list"). */
int cli_model_list(struct cli *c, int argc, char **argv);

/* ---- synth ---------------------------------------------------------------------------------------- */

static int model_synth(int argc, char **argv)
{
    struct infer_synth_params p;
    struct kb_error err = {0};
    const char *arch = NULL, *type = "F32", *out = NULL;
    int rc = 0;
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], "--arch") == 0)
            arch = argv[i + 1];
    if (!arch)
        return cli_usage("model synth", "missing --arch A");
    infer_synth_params_default(&p, arch);
    for (int i = 0; i < argc && rc == 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *dst = NULL;
        if (strcmp(a, "--arch") == 0) {
            i++;
            continue;
        }
        if (strcmp(a, "--type") == 0 && v) {
            type = v, i++;
            continue;
        }
        if (strcmp(a, "--out") == 0 && v) {
            out = v, i++;
            continue;
        }
        if (strcmp(a, "--tied") == 0) {
            p.tied_output = true;
            continue;
        }
        if (strcmp(a, "--expert-norm") == 0) {
            p.expert_weights_norm = true;
            continue;
        }
        if (strcmp(a, "--nextn-agree") == 0) {
            p.nextn_agree = true;
            continue;
        }
        if (strcmp(a, "--expert-scale") == 0 || strcmp(a, "--yarn-factor") == 0) {
            rc = parse_float("model synth", a, v,
                             a[2] == 'e' ? &p.expert_weights_scale : &p.yarn_factor);
            i++;
            continue;
        }
        if (strcmp(a, "--seed") == 0) {
            int64_t x;
            if (!v || kb_parse_i64(v, &x) != 0 || x < 0)
                return cli_usage("model synth", "--seed needs a non-negative integer");
            p.seed = (uint64_t)x;
            i++;
            continue;
        }
        if (strcmp(a, "--layers") == 0) dst = &p.n_layer;
        else if (strcmp(a, "--dim") == 0) dst = &p.n_embd;
        else if (strcmp(a, "--heads") == 0) dst = &p.n_head;
        else if (strcmp(a, "--kv-heads") == 0) dst = &p.n_head_kv;
        else if (strcmp(a, "--head-dim") == 0) dst = &p.head_dim;
        else if (strcmp(a, "--ff") == 0) dst = &p.n_ff;
        else if (strcmp(a, "--vocab") == 0) dst = &p.n_vocab;
        else if (strcmp(a, "--ctx") == 0) dst = &p.n_ctx;
        else if (strcmp(a, "--experts") == 0) dst = &p.n_expert;
        else if (strcmp(a, "--experts-used") == 0) dst = &p.n_expert_used;
        else if (strcmp(a, "--ff-exp") == 0) dst = &p.n_ff_exp;
        else if (strcmp(a, "--ff-shexp") == 0) dst = &p.n_ff_shexp;
        else if (strcmp(a, "--q-lora") == 0) dst = &p.q_lora_rank;
        else if (strcmp(a, "--kv-lora") == 0) dst = &p.kv_lora_rank;
        else if (strcmp(a, "--rope-dim") == 0) dst = &p.qk_rope_dim;
        else if (strcmp(a, "--nope-dim") == 0) dst = &p.qk_nope_dim;
        else if (strcmp(a, "--v-dim") == 0) dst = &p.v_head_dim;
        else if (strcmp(a, "--shared-experts") == 0) dst = &p.n_expert_shared;
        else if (strcmp(a, "--dense-lead") == 0) dst = &p.n_dense_lead;
        else if (strcmp(a, "--gating") == 0) dst = &p.gating_func;
        else if (strcmp(a, "--groups") == 0) dst = &p.n_expert_group;
        else if (strcmp(a, "--groups-used") == 0) dst = &p.n_expert_group_used;
        else if (strcmp(a, "--yarn-orig-ctx") == 0) dst = &p.yarn_orig_ctx;
        else if (strcmp(a, "--swa") == 0) dst = &p.n_swa;
        else if (strcmp(a, "--nextn") == 0) dst = &p.n_nextn;
        else if (strcmp(a, "--idx-heads") == 0) dst = &p.idx_n_head;
        else if (strcmp(a, "--idx-dim") == 0) dst = &p.idx_head_dim;
        else if (strcmp(a, "--idx-top-k") == 0) dst = &p.idx_top_k;
        if (!dst)
            return cli_usage("model synth", "unknown argument '%s'", a);
        rc = parse_int("model synth", a, v, 0, 1 << 24, dst);
        i++;
    }
    if (rc)
        return rc;
    if (!out)
        return cli_usage("model synth", "missing --out FILE");
    /* Q4_K_M: Q4_K matrices with llama-quantize's per-tensor Q6_K/Q8_0/Q5_K choices */
    p.mix_q4_k_m = strcasecmp(type, "Q4_K_M") == 0;
    p.type = p.mix_q4_k_m ? infer_type_from_name("Q4_K") : infer_type_from_name(type);
    if (p.type < 0)
        return cli_usage("model synth", "unknown type '%s'", type);
    if ((rc = infer_synth_write(out, &p, &err)))
        return cli_fail(rc, &err);
    return 0;
}

int cmd_model(struct cli *c)
{
    const char *sub = c->argc > 0 ? c->argv[0] : NULL;
    if (!sub)
        return cli_usage("model", "missing subcommand (info|run|logits|bench|embed|synth)");
    if (strcmp(sub, "synth") == 0)
        return model_synth(c->argc - 1, c->argv + 1);
    if (strcmp(sub, "embed") == 0)
        return cli_model_embed(c, c->argc - 1, c->argv + 1);
    if (strcmp(sub, "list") == 0)
        return cli_model_list(c, c->argc - 1, c->argv + 1);
    if (strcmp(sub, "info") != 0 && strcmp(sub, "run") != 0 && strcmp(sub, "logits") != 0 &&
        strcmp(sub, "bench") != 0)
        return cli_usage("model", "unknown subcommand '%s'", sub);
    if (c->argc < 2 || c->argv[1][0] == '-')
        return cli_usage("model", "missing model FILE");
    const char *path = c->argv[1];
    int argc = c->argc - 2;
    char **argv = c->argv + 2;
    if (strcmp(sub, "info") == 0) {
        for (int i = 0; i < argc; i++) {
            if (strcmp(argv[i], "--json") == 0)
                c->json = true;
            else
                return cli_usage("model info", "unknown argument '%s'", argv[i]);
        }
        return model_info(c, path);
    }
    if (strcmp(sub, "run") == 0)
        return model_run(c, path, argc, argv);
    if (strcmp(sub, "logits") == 0)
        return model_logits(path, argc, argv);

    return model_bench(c, path, argc, argv);
}
