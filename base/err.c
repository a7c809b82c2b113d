/* base/err.c: the functions generated from KB_ERRORS and the kb_error helpers.
 * Every message is written with vsnprintf into the caller's fixed buffer, so nothing here allocates
 * or shares state between threads. Tests: tests/base/test_err.c. */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

struct err_row {
    const char *name;
    int http;
    int exitc;
    const char *msg;
};

static const struct err_row err_rows[KB_N_ERRORS] = {
#define KB_ERR_ROW_(name, http, exitc, msg) {#name, http, exitc, msg},
    KB_ERRORS(KB_ERR_ROW_)
#undef KB_ERR_ROW_
};

static const struct err_row *err_row(int code)
{
    if (code > 0 || -code >= KB_N_ERRORS)
        return NULL;
    return &err_rows[-code];
}

const char *kb_strerror(int code)
{
    const struct err_row *r = err_row(code);
    return r ? r->msg : "unknown error";
}

const char *kb_err_name(int code)
{
    const struct err_row *r = err_row(code);
    return r ? r->name : "EUNKNOWN";
}

int kb_err_http_status(int code)
{
    const struct err_row *r = err_row(code);
    return r ? r->http : 500;
}

int kb_err_exit_code(int code)
{
    const struct err_row *r = err_row(code);
    return r ? r->exitc : 3;
}

int kb_error_vset(struct kb_error *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

int kb_error_set(struct kb_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kb_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void kb_error_prefix(struct kb_error *err, const char *fmt, ...)
{
    char head[KB_ERROR_MSG_BYTES], old[KB_ERROR_MSG_BYTES];
    va_list ap;
    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    snprintf(err->msg, sizeof err->msg, "%s: %s", head, old[0] ? old : kb_strerror(err->code));
}

void kb_error_clear(struct kb_error *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

const char *kb_error_msg(const struct kb_error *err, int code)
{
    if (err && err->msg[0])
        return err->msg;
    return kb_strerror(code);
}
