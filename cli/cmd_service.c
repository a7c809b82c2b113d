/* cli/cmd_service.c: the systemd resource limits the configuration asks for (service.* keys), and
 * `kbox service limits [--json]`, which prints them as a unit drop-in.
 *
 * Data flow: the packaged systemd generator (packaging/kbox-generator, run by systemd at boot and at
 * every `systemctl daemon-reload`) calls `kbox --config /etc/kbox/kbox.json --data-dir /var/lib/kbox
 * service limits` and writes its stdout to <generator dir>/kbox.service.d/50-kbox-limits.conf. That
 * drop-in overrides the fallbacks in packaging/kbox.service (MemoryMax=4G, LimitNOFILE=65536); an
 * administrator's `systemctl edit kbox` (in /etc/systemd/system) still wins over both.
 *
 * MemoryMax: service.memory_max_mib > 0 is taken as it is; -1 is "infinity"; 0 (auto) is the size
 * of the model files the local backends map (embed.model, answer.model: mmap'd pages count against
 * the unit's memory) plus service.memory_headroom_mib. When auto cannot measure a configured model
 * (missing file, or /var not mounted yet at boot), no MemoryMax line is written and the unit's
 * fallback applies; the drop-in says why in a comment. `kbox doctor` reports the same limits
 * (cli_service_limits) and fails an explicit limit smaller than the models.
 *
 * Output: a systemd drop-in, comment lines first, then [Service] with MemoryMax=, CPUQuota=
 * (empty = no quota), LimitNOFILE=, TasksMax= (only when set). Nothing is changed on disk here.
 * Tests: tests/cli/test_service.c, packaging/test_deb.sh (the generator), packaging/test_deb_install.sh. */
#define _DEFAULT_SOURCE
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MIB ((int64_t)1 << 20)

/* Adds the size of one model file to lim->models_bytes; a model that cannot be measured makes auto
 * unknown (memory_max_bytes 0) and is named in lim->note. */
static void service_add_model(const struct config *cfg, const char *key, const char *name, struct cli_service_limits *lim)
{
    char path[8400];
    struct stat st;
    size_t n = strlen(lim->note);
    if (!name[0])
        return;
    if (strchr(name, '/'))
        kb_strlcpy(path, name, sizeof path);
    else
        snprintf(path, sizeof path, "%s/models/%s", cfg->data_dir, name);
    if (stat(path, &st) != 0) {
        lim->unmeasured = true;
        snprintf(lim->note + n, sizeof lim->note - n, "%scannot measure %s '%s': %s", n ? "; " : "", key, path,
                 strerror(errno));
        return;
    }
    lim->models_bytes += (int64_t)st.st_size;
}

void cli_service_limits(const struct config *cfg, struct cli_service_limits *lim)
{
    memset(lim, 0, sizeof *lim);
    if (!strcmp(cfg->embed_backend, "local"))
        service_add_model(cfg, "embed.model", cfg->embed_model, lim);
    if (!strcmp(cfg->answer_backend, "local"))
        service_add_model(cfg, "answer.model", cfg->answer_model, lim);
    lim->cpu_quota_percent = cfg->service_cpu_quota_percent;
    lim->open_files = cfg->service_open_files;
    lim->tasks_max = cfg->service_tasks_max;
    if (cfg->service_memory_max_mib == -1) {
        lim->memory_max_bytes = -1;
        kb_strlcpy(lim->memory_source, "no limit (service.memory_max_mib = -1)", sizeof lim->memory_source);
    } else if (cfg->service_memory_max_mib > 0) {
        lim->memory_max_bytes = cfg->service_memory_max_mib * MIB;
        snprintf(lim->memory_source, sizeof lim->memory_source, "service.memory_max_mib = %lld",
                 (long long)cfg->service_memory_max_mib);
    } else if (lim->unmeasured) {
        kb_strlcpy(lim->memory_source, "auto, but a model could not be measured: the unit's fallback applies",
                   sizeof lim->memory_source);
    } else {
        lim->memory_max_bytes = lim->models_bytes + cfg->service_memory_headroom_mib * MIB;
        snprintf(lim->memory_source, sizeof lim->memory_source, "auto: models %lld MiB + headroom %lld MiB",
                 (long long)((lim->models_bytes + MIB - 1) / MIB), (long long)cfg->service_memory_headroom_mib);
    }
}

static void service_dropin(const struct cli_service_limits *lim, const char *config_path, struct kb_buf *out)
{
    kb_buf_printf(out, "# kbox service limits from %s (service.* keys); change them there, then\n",
                  config_path ? config_path : "the built-in defaults");
    kb_buf_printf(out, "# systemctl daemon-reload && systemctl restart kbox. Written by `kbox service limits`.\n");
    kb_buf_printf(out, "# memory: %s\n", lim->memory_source);
    if (lim->note[0])
        kb_buf_printf(out, "# %s\n", lim->note);
    kb_buf_printf(out, "[Service]\n");
    if (lim->memory_max_bytes == -1)
        kb_buf_printf(out, "MemoryMax=infinity\n");
    else if (lim->memory_max_bytes > 0)
        kb_buf_printf(out, "MemoryMax=%lldM\n", (long long)((lim->memory_max_bytes + MIB - 1) / MIB));
    if (lim->cpu_quota_percent > 0)
        kb_buf_printf(out, "CPUQuota=%lld%%\n", (long long)lim->cpu_quota_percent);
    else
        kb_buf_printf(out, "CPUQuota=\n");
    kb_buf_printf(out, "LimitNOFILE=%lld\n", (long long)lim->open_files);
    if (lim->tasks_max > 0)
        kb_buf_printf(out, "TasksMax=%lld\n", (long long)lim->tasks_max);
}

static void service_json(const struct cli_service_limits *lim, struct kb_buf *out)
{
    struct jw w;
    jw_init(&w, out);
    jw_obj(&w, NULL);
    if (lim->memory_max_bytes == 0)
        jw_null(&w, "memory_max_bytes"); /* auto could not measure: the unit's fallback */
    else
        jw_int(&w, "memory_max_bytes", lim->memory_max_bytes); /* -1: no limit */
    jw_str(&w, "memory_source", lim->memory_source);
    jw_int(&w, "models_bytes", lim->models_bytes);
    jw_int(&w, "cpu_quota_percent", lim->cpu_quota_percent);
    jw_int(&w, "open_files", lim->open_files);
    jw_int(&w, "tasks_max", lim->tasks_max);
    jw_str(&w, "note", lim->note[0] ? lim->note : NULL);
    jw_end_obj(&w);
    kb_buf_putc(out, '\n');
}

int cmd_service(struct cli *c)
{
    struct cli_service_limits lim;
    struct kb_buf out;
    int rc;
    if (c->argc < 1 || strcmp(c->argv[0], "limits") != 0)
        return cli_usage("service", "usage: kbox service limits [--json]");
    if (c->argc > 1)
        return cli_usage("service", "unknown argument '%s'", c->argv[1]);
    cli_service_limits(&c->cfg, &lim);
    kb_buf_init(&out, 1 << 16);
    if (c->json)
        service_json(&lim, &out);
    else
        service_dropin(&lim, c->config_path, &out);
    rc = cli_print(&out);
    kb_buf_release(&out);
    return rc;
}
