/* status.h: the one error vocabulary of lorascope.
 *
 * Every fallible function below app/ returns an lsc_status and, when it fails, fills an lsc_error
 * with a one-line message in git's style (lower case, no full stop, the subject quoted:
 * "cannot open 'x.safetensors': no such file"). Only app/ decides how an error is shown.
 * This module depends on nothing but libc.
 */
#ifndef LSC_STATUS_H
#define LSC_STATUS_H

#include <stdarg.h>
#include <stddef.h>

/* X-macro list: code, short name. Keep the enum and the names parallel by construction. */
#define LSC_STATUS_LIST(X)                                        \
    X(LSC_OK, "ok")                                               \
    X(LSC_ERR_IO, "i/o error")                                    \
    X(LSC_ERR_FORMAT, "malformed input")                          \
    X(LSC_ERR_UNSUPPORTED, "unsupported")                         \
    X(LSC_ERR_NOMEM, "out of memory")                             \
    X(LSC_ERR_INVALID, "invalid argument")                        \
    X(LSC_ERR_NOTFOUND, "not found")                              \
    X(LSC_ERR_EXISTS, "already exists")                           \
    X(LSC_ERR_DB, "catalog error")                                \
    X(LSC_ERR_NUMERIC, "numerical error")                         \
    X(LSC_ERR_USAGE, "bad usage")                                 \
    X(LSC_ERR_CANCELLED, "cancelled")

typedef enum {
#define LSC_X_ENUM(code, name) code,
    LSC_STATUS_LIST(LSC_X_ENUM)
#undef LSC_X_ENUM
    LSC_STATUS_COUNT
} lsc_status;

#define LSC_ERROR_MSG_MAX 1024

typedef struct lsc_error {
    lsc_status code;
    char msg[LSC_ERROR_MSG_MAX];
} lsc_error;

/* Short constant name of a status ("malformed input"); never NULL. */
const char *lsc_status_name(lsc_status s);

/* Fill err (if non-NULL) with code and a message from a format and its arguments; returns code, so callers can
 * write `return lsc_error_set(err, LSC_ERR_FORMAT, "...", ...)`. The message is truncated to fit. */
lsc_status lsc_error_set(lsc_error *err, lsc_status code, const char *fmt, ...)
    __attribute__((format(__printf__, 3, 4)));

/* Prefix an existing message: "<prefix>: <old message>" (used to add a file name as an error rises). */
void lsc_error_prefix(lsc_error *err, const char *fmt, ...) __attribute__((format(__printf__, 2, 3)));

/* Reset to LSC_OK with an empty message. */
void lsc_error_clear(lsc_error *err);

/* How lsc_escape writes what a terminal would act on. Both modes leave printable UTF-8 alone and write
 * \r as \r, other C0 controls and bytes that are not valid UTF-8 as \xNN.
 * NAME: one quoted name: \n, \t and backslash escaped too; DEL and C1 controls (U+0080..U+009F) as \xNN
 * per byte.
 * TEXT: whole lines of output (tables, messages, JSON): newline, tab and backslash kept; DEL and C1
 * controls as \u00NN, which is also what they mean inside a JSON string, so JSON stays valid. */
typedef enum { LSC_ESCAPE_NAME, LSC_ESCAPE_TEXT } lsc_escape_mode;

/* Escape the NUL-terminated s (NULL reads as "") into dst (capacity cap, always NUL-terminated when cap >
 * 0), never splitting an escape; returns the bytes written and, if used is non-NULL, the bytes of s
 * consumed (less than strlen(s) when dst filled up). The one escaping function of lorascope: names from
 * files and users go through it before any output, so they never inject escapes into a terminal. */
size_t lsc_escape(char *dst, size_t cap, const char *s, lsc_escape_mode mode, size_t *used);

/* Index of name in names[0..n) (exact strcmp), -1 when it is absent or name is NULL: the lookup behind
 * every *_parse / *_from_name of an X-macro name table. */
int lsc_name_index(const char *const *names, int n, const char *name);

/* lsc_escape(dst, cap, s, LSC_ESCAPE_NAME, NULL); returns dst. */
char *lsc_escape_name(char *dst, size_t cap, const char *s);

#endif
