/* tests/web/test_tls.c: HTTPS without a proxy (issue #22 item 8; web/tls.c, web/server.c) against the
 * real `kbox serve` on 127.0.0.1, through libcurl verifying against test CAs the test makes with
 * `openssl req` (package openssl):
 *   - server.tls_cert/tls_key serve HTTPS (each request from a fresh process: see https_get); the certificate verifies against the test CA and every
 *     response carries Strict-Transport-Security;
 *   - SIGHUP after the files were replaced by a certificate of a second CA: new connections verify
 *     against the second CA and no longer against the first, with no restart;
 *   - a bad file on SIGHUP keeps the old certificate (HTTPS keeps working);
 *   - a missing file, a file that is no certificate, a key of another certificate and a lone
 *     tls_cert stop the start with a message naming the key and file. */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../cli/serve.h"
#include "../support/run.h"

static char dir[64];
static struct kbox_server *running;

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
}

/* A self-signed certificate for 127.0.0.1 and localhost: DIR/<name>.crt and DIR/<name>.key. */
static void make_cert(const char *name)
{
    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=kbox-test-%2$s "
       "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout %1$s/%2$s.key -out %1$s/%2$s.crt 2>/dev/null",
       dir, name);
}

struct got {
    char headers[4096];
    size_t n;
};

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct got *g = ud;
    size_t len = size * n;
    if (g->n + len < sizeof g->headers) {
        memcpy(g->headers + g->n, p, len);
        g->n += len;
        g->headers[g->n] = '\0';
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* GET https://127.0.0.1:port/api/health verifying against ca; the HTTP status, or -curl code. */
static long https_get_here(int port, const char *ca, struct got *g)
{
    CURL *c = curl_easy_init();
    char url[128], ca_path[128];
    long status = 0;
    CURLcode rc;
    snprintf(url, sizeof url, "https://127.0.0.1:%d/api/health", port);
    snprintf(ca_path, sizeof ca_path, "%s/%s.crt", dir, ca);
    memset(g, 0, sizeof *g);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca_path);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, g);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        status = -(long)rc;
    curl_easy_cleanup(c);
    return status;
}

/* https_get_here in a child process: Debian's libcurl uses NSS, which keeps every CA file it loaded
 * trusted for the rest of the process, so a second CA would be trusted for good after one use. */
static long https_get(int port, const char *ca, struct got *g)
{
    int fds[2];
    long status = -1000;
    pid_t pid;
    memset(g, 0, sizeof *g);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        long st;
        close(fds[0]);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        st = https_get_here(port, ca, g);
        if (write(fds[1], &st, sizeof st) != sizeof st || write(fds[1], g, sizeof *g) != sizeof *g)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], &status, sizeof status) != sizeof status || read(fds[0], g, sizeof *g) != sizeof *g)
        status = -1000;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return status;
}

static int teardown(void **state)
{
    (void)state;
    kbox_serve_reap(&running);
    return 0;
}

static void install(const char *name)
{
    sh("cp %1$s/%2$s.crt %1$s/live.crt", dir, name);
    sh("cp %1$s/%2$s.key %1$s/live.key", dir, name);
}

static void test_https_and_reload(void **state)
{
    (void)state;
    struct kbox_server srv;
    struct got g;
    char data[128], cert[128], key[128];
    const char *extra[] = {"--set", cert, "--set", key, NULL};
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(cert, sizeof cert, "server.tls_cert=%s/live.crt", dir);
    snprintf(key, sizeof key, "server.tls_key=%s/live.key", dir);
    install("one");
    if (kbox_serve_start(&srv, data, extra) != 0)
        fail_msg("serve did not start: %s", srv.printed);
    running = &srv;
    assert_non_null(strstr(srv.printed, "serving https://"));
    assert_int_equal(https_get(srv.port, "one", &g), 200);
    assert_non_null(strstr(g.headers, "Strict-Transport-Security: max-age="));
    assert_true(https_get(srv.port, "two", &g) < 0); /* not yet the second certificate */

    install("two");
    kill(srv.pid, SIGHUP);
    for (int i = 0; i < 50 && https_get(srv.port, "two", &g) != 200; i++)
        usleep(100 * 1000);
    assert_int_equal(https_get(srv.port, "two", &g), 200);
    assert_true(https_get(srv.port, "one", &g) < 0);

    sh("echo 'not a certificate' > %s/live.crt", dir);
    kill(srv.pid, SIGHUP);
    usleep(500 * 1000);
    assert_int_equal(https_get(srv.port, "two", &g), 200); /* the old certificate stays */
    running = NULL;
    assert_int_equal(kbox_serve_stop(&srv), 0);
}

static void test_bad_files(void **state)
{
    (void)state;
    char data[128], one_crt[160], one_key[160], two_key[160], junk[160], missing[160];
    struct {
        const char *cert, *key, *err_has;
    } cases[] = {
        {one_crt, missing, "server.tls_key '"},
        {junk, one_key, "is not a PEM certificate"},
        {one_crt, two_key, "does not belong to the certificate"},
        {one_crt, "", "needs both server.tls_cert and server.tls_key"},
        {one_crt, junk, "is not an unencrypted PEM private key"},
    };
    snprintf(data, sizeof data, "%s/data-bad", dir);
    snprintf(one_crt, sizeof one_crt, "server.tls_cert=%s/one.crt", dir);
    snprintf(one_key, sizeof one_key, "server.tls_key=%s/one.key", dir);
    snprintf(two_key, sizeof two_key, "server.tls_key=%s/two.key", dir);
    snprintf(missing, sizeof missing, "server.tls_key=%s/missing.key", dir);
    snprintf(junk, sizeof junk, "%s/junk.pem", dir);
    sh("echo junk > %s/junk.pem", dir);
    {
        static char jc[200], jk[200];
        snprintf(jc, sizeof jc, "server.tls_cert=%s", junk);
        snprintf(jk, sizeof jk, "server.tls_key=%s", junk);
        cases[1].cert = jc;
        cases[4].key = jk;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {KBOX_BIN, "--data-dir", data, "--set", (char *)cases[i].cert, "--set",
                        (char *)(cases[i].key[0] ? cases[i].key : "server.tls_key="), "serve", "--port", "0", NULL};
        struct run_result r;
        assert_int_equal(run_cmd(&r, argv, NULL), 0);
        if (r.exit_code != 2 || !strstr(r.err, cases[i].err_has))
            fail_msg("case %zu: exit %d, stderr '%.300s', want '%s'", i, r.exit_code, r.err, cases[i].err_has);
        run_result_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_https_and_reload, teardown),
        cmocka_unit_test(test_bad_files),
    };
    int rc;
    snprintf(dir, sizeof dir, "/tmp/kbox-tls-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    signal(SIGPIPE, SIG_IGN);
    make_cert("one");
    make_cert("two");
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    sh("rm -rf %s", dir);
    return rc;
}
