/* tests/cli/test_service.c: `kbox service limits [--json]` (cli/cmd_service.c), the systemd limits
 * the service.* keys ask for, run as the real binary:
 *   - defaults: auto MemoryMax is the 2048 MiB headroom when no local model is configured, no CPU
 *     quota (an empty CPUQuota= resets it), LimitNOFILE 65536;
 *   - auto adds the size of a real GGUF written by `kbox model synth` (answer.model, by name in
 *     <data.dir>/models), in the drop-in and in --json;
 *   - a configured model that cannot be measured leaves MemoryMax out (the unit's fallback) and says why;
 *   - explicit values, -1 = infinity, bad values (exit 2 naming the key), bad arguments (exit 1);
 *   - `kbox doctor` fails an explicit limit below the models + 256 MiB and passes a sufficient one.
 * The generator that installs this output is tested in packaging/test_deb.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/run.h"

struct svc_case {
    const char *args[10]; /* after argv[0]; "@DATA" is the data directory */
    int exit_code;
    const char *out_has[3]; /* substrings of stdout */
    const char *out_lacks;  /* must not be in stdout, or NULL */
    const char *err_has;    /* substring of stderr, or NULL */
};

static void run_svc(const struct svc_case *c, size_t idx, const char *data)
{
    char *argv[16] = {KBOX_BIN};
    struct run_result r;
    int n = 1;
    for (int i = 0; c->args[i]; i++)
        argv[n++] = strcmp(c->args[i], "@DATA") ? (char *)c->args[i] : (char *)data;
    argv[n] = NULL;
    assert_int_equal(run_cmd(&r, argv, NULL), 0);
    bool ok = r.exit_code == c->exit_code && (!c->err_has || strstr(r.err, c->err_has)) &&
              (!c->out_lacks || !strstr(r.out, c->out_lacks));
    for (int i = 0; i < 3 && c->out_has[i]; i++)
        ok = ok && strstr(r.out, c->out_has[i]);
    if (!ok)
        fail_msg("case %zu (%s %s): exit %d, stdout '%.600s', stderr '%.300s'", idx, c->args[0], c->args[1],
                 r.exit_code, r.out, r.err);
    run_result_free(&r);
}

static void test_service_limits(void **state)
{
    (void)state;
    char data[] = "/tmp/kbox-service-XXXXXX", models[96], model[128], cmd[160], want[160], want_json[160];
    struct run_result r;
    struct stat st;
    assert_non_null(mkdtemp(data));
    snprintf(models, sizeof models, "%s/models", data);
    assert_int_equal(mkdir(models, 0700), 0);
    snprintf(model, sizeof model, "%s/tiny.gguf", models);
    char *synth[] = {KBOX_BIN, "model", "synth", "--arch", "qwen2", "--type", "Q8_0", "--out", model, NULL};
    assert_int_equal(run_cmd(&r, synth, NULL), 0);
    assert_int_equal(r.exit_code, 0);
    run_result_free(&r);
    assert_int_equal(stat(model, &st), 0);
    assert_true(st.st_size > 0);
    /* auto with the model: its size + 2048 MiB, rounded up to whole MiB in the drop-in */
    int64_t auto_bytes = (int64_t)st.st_size + 2048ll * 1048576;
    snprintf(want, sizeof want, "\nMemoryMax=%lldM\n", (long long)((auto_bytes + 1048575) / 1048576));
    snprintf(want_json, sizeof want_json, "\"memory_max_bytes\":%lld,", (long long)auto_bytes);

    const struct svc_case cases[] = {
        {{"--data-dir", "@DATA", "service", "limits"}, 0,
         {"\n[Service]\nMemoryMax=2048M\nCPUQuota=\nLimitNOFILE=65536\n", "# memory: auto: models 0 MiB + headroom 2048 MiB"},
         "TasksMax", NULL},
        {{"--data-dir", "@DATA", "--set", "answer.model=tiny.gguf", "service", "limits"}, 0, {want}, NULL, NULL},
        {{"--data-dir", "@DATA", "--set", "answer.model=tiny.gguf", "service", "limits", "--json"}, 0,
         {want_json, "\"note\":null"}, NULL, NULL},
        {{"--data-dir", "@DATA", "--set", "answer.model=tiny.gguf", "--set", "service.memory_headroom_mib=256", "--json",
          "service", "limits"},
         0, {"MiB + headroom 256 MiB\""}, NULL, NULL},
        {{"--data-dir", "@DATA", "--set", "answer.model=gone.gguf", "service", "limits"}, 0,
         {"cannot measure answer.model", "gone.gguf", "LimitNOFILE=65536"}, "MemoryMax", NULL},
        {{"--data-dir", "@DATA", "--set", "answer.model=gone.gguf", "--json", "service", "limits"}, 0,
         {"\"memory_max_bytes\":null"}, NULL, NULL},
        {{"--data-dir", "@DATA", "--set", "answer.backend=openai", "--set", "answer.model=gone.gguf", "service", "limits"},
         0, {"MemoryMax=2048M"}, NULL, NULL},
        {{"--set", "service.memory_max_mib=-1", "service", "limits"}, 0, {"MemoryMax=infinity\n"}, NULL, NULL},
        {{"--set", "service.memory_max_mib=3000", "--set", "service.cpu_quota_percent=150", "--set",
          "service.tasks_max=512", "service", "limits"},
         0, {"MemoryMax=3000M\nCPUQuota=150%\nLimitNOFILE=65536\nTasksMax=512\n", "service.memory_max_mib = 3000"},
         NULL, NULL},
        {{"--set", "service.open_files=4096", "--json", "service", "limits"}, 0, {"\"open_files\":4096"}, NULL, NULL},
        {{"--set", "service.memory_max_mib=-2", "service", "limits"}, 2, {NULL}, NULL, "'service.memory_max_mib': got -2"},
        {{"--set", "service.open_files=10", "service", "limits"}, 2, {NULL}, NULL, "'service.open_files': got 10"},
        {{"service"}, 1, {NULL}, NULL, "kbox service limits"},
        {{"service", "limits", "extra"}, 1, {NULL}, NULL, "unknown argument 'extra'"},
        /* doctor: 200 MiB is below the model + 256 MiB; 400 MiB is enough */
        {{"--data-dir", "@DATA", "--set", "server.port=0", "--set", "answer.model=tiny.gguf", "--set",
          "service.memory_max_mib=200", "doctor"},
         2, {"fail  service", "raise service.memory_max_mib"}, NULL, NULL},
        {{"--data-dir", "@DATA", "--set", "server.port=0", "--set", "answer.model=tiny.gguf", "--set",
          "service.memory_max_mib=400", "doctor"},
         0, {"ok    service   MemoryMax 400 MiB"}, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_svc(&cases[i], i, data);
    snprintf(cmd, sizeof cmd, "rm -rf %s", data);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_service_limits)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
