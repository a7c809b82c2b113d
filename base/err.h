/* base/err.h: kbox's one error table and the caller-owned error detail struct.
 *
 * KB_ERRORS is the single source of error codes: each row is (name, http_status, exit_code, message).
 * The enum below, kb_strerror(), kb_err_http_status() (used by web/) and kb_err_exit_code() (used by
 * cli/) are all generated from it. Functions return 0 or a negative KB_E* code; detail goes into a
 * nullable `struct kb_error *err` owned by the caller, so errors are thread-safe without globals.
 * Exit codes: 0 ok, 1 usage, 2 bad input, 3 internal error. Tests: tests/base/test_err.c. */
#ifndef KB_BASE_ERR_H
#define KB_BASE_ERR_H

#include <stdarg.h>

/* X(name, http_status, exit_code, default message) */
#define KB_ERRORS(X)                                                               \
    X(OK,          200, 0, "ok")                                                  \
    X(EUSAGE,      400, 1, "bad usage")                                           \
    X(EINVAL,      400, 2, "invalid argument")                                    \
    X(ECONFIG,     400, 2, "bad configuration")                                   \
    X(EJSON,       400, 2, "malformed JSON")                                      \
    X(ENOENT,      404, 2, "not found")                                           \
    X(EFORMAT,     415, 2, "unsupported or unrecognised format")                  \
    X(ECORRUPT,    422, 2, "corrupt input")                                       \
    X(EEMPTY,      422, 2, "no text found")                                       \
    X(ETOOBIG,     413, 2, "input too large")                                     \
    X(EAUTH,       401, 2, "authentication required")                             \
    X(EFORBIDDEN,  403, 2, "forbidden")                                           \
    X(EMETHOD,     405, 1, "method not allowed")                                  \
    X(EHOST,       421, 2, "misdirected request (unknown Host)")                  \
    X(ECONFLICT,   409, 2, "conflict")                                            \
    X(ERATE,       429, 3, "rate limit exceeded")                                 \
    X(EBUSY,       503, 3, "busy; try again later")                               \
    X(ETIMEOUT,    504, 3, "timed out")                                           \
    X(ECANCELED,   499, 3, "canceled")                                            \
    X(ENOMEM,      507, 3, "out of memory")                                       \
    X(EIO,         500, 3, "input/output error")                                  \
    X(ENOSPC,      507, 3, "no space left on device")                             \
    X(ENOTIMPL,    501, 3, "not built yet")                                       \
    X(EINTERNAL,   500, 3, "internal error")                                      \
    X(ELOGIN,      401, 2, "wrong email or password")                             \
    X(ESESSION,    401, 2, "the session expired or ended; log in again")          \
    X(EKEYREVOKED, 401, 2, "the API key was revoked")                             \
    X(EKEYEXPIRED, 401, 2, "the API key expired")                                 \
    X(ESCOPE,      403, 2, "the API key lacks the scope this needs")

enum kb_err {
#define KB_ERR_ENUM_(name, http, exitc, msg) KB_##name##_INDEX_,
    KB_ERRORS(KB_ERR_ENUM_)
#undef KB_ERR_ENUM_
    KB_N_ERRORS
};

/* Codes are the negated table index, so KB_OK == 0 and every error is < 0. */
#define KB_ERR_CODE_(name, http, exitc, msg) KB_##name = -(int)KB_##name##_INDEX_,
enum { KB_ERRORS(KB_ERR_CODE_) };
#undef KB_ERR_CODE_

#define KB_ERROR_MSG_BYTES 512

/* Detail for one failed call. Caller-owned; code is 0 until a failure is recorded. */
struct kb_error {
    int code;                      /* KB_E* (negative) or 0 */
    char msg[KB_ERROR_MSG_BYTES];  /* lower-case sentence naming the thing, NUL-terminated */
};

const char *kb_strerror(int code);  /* static string; unknown codes give "unknown error" */
const char *kb_err_name(int code);  /* "EINVAL", ...; static */
int kb_err_http_status(int code);   /* 200 for 0, 500 for unknown codes */
int kb_err_exit_code(int code);     /* 0 ok, 1 usage, 2 bad input, 3 internal */

/* Records code and a printf-style message into err (nullable) and returns code, so callers write
 * `return kb_error_set(err, KB_EINVAL, "cannot open '%s': not a PDF file", path);`. */
int kb_error_set(struct kb_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int kb_error_vset(struct kb_error *err, int code, const char *fmt, va_list ap);
/* Prefixes an existing message: "ingest 'a.pdf': <old message>". err may be NULL. */
void kb_error_prefix(struct kb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kb_error_clear(struct kb_error *err); /* NULL ok */
/* The message if one was set, else kb_strerror(code). Borrowed from err or static. */
const char *kb_error_msg(const struct kb_error *err, int code);

#endif
