/* format_util.h: the message and text helpers every format reader and writer shares (safetensors, PEFT,
 * kohya, GGUF), so each has one home: a growing text buffer, and the messages: "'<file>': [tensor '<tensor>': ]<what>" for bad
 * input and "cannot <verb> '<file>': <errno text>" for a failed system call, names always escaped;
 * also the one shape check of a LoRA down/up pair the safetensors-family readers share.
 * Depends on libc and engine/ (status, adapter types) only; no SQLite, no curses. */
#ifndef LSC_FORMAT_UTIL_H
#define LSC_FORMAT_UTIL_H

#include <stddef.h>

#include "adapter.h"
#include "dtype.h"
#include "status.h"

/* Room for one escaped name inside a message. */
#define LSC_FORMAT_ESC_CAP 320

/* Fill err with "'<file>': tensor '<tensor>': <fmt...>" (or "'<file>': <fmt...>" when tensor is NULL),
 * file and tensor escaped with lsc_escape_name; returns code. err may be NULL. */
lsc_status lsc_format_fail(lsc_error *err, lsc_status code, const char *file, const char *tensor, const char *fmt,
                           ...) __attribute__((format(printf, 5, 6)));

/* Fill err with LSC_ERR_IO "cannot <verb> '<file>': <strerror(e) in git's lower case>"; returns LSC_ERR_IO. */
lsc_status lsc_format_io_fail(lsc_error *err, const char *verb, const char *file, int e);

/* s escaped with lsc_escape_name (at most LSC_FORMAT_ESC_CAP bytes) for a message, in one of four buffers
 * per thread used in turn: valid until the fourth call after this one on the same thread, so one message
 * may name up to four things. Never NULL. */
const char *lsc_format_esc(const char *s);

/* A copy of s with a backslash put before every byte that is in `special` (a new string the caller frees;
 * NULL on out of memory): a name made literal inside a regular expression. */
char *lsc_format_backslash(const char *s, const char *special);

/* Check that a (the down factor, [r, in] or [r, in, kh, kw]) and b (the up factor, [out, r] or
 * [out, r, 1, 1]) form a linear or conv LoRA pair of one rank, then set l's rank, rows (out), cols (in, or
 * in * kh * kw) and, for a conv pair, LSC_LAYER_CONV. LSC_ERR_FORMAT naming `path` and the tensors when
 * the dims do not fit, the ranks differ, or the rank is not in 1..INT32_MAX; l is left alone then. */
lsc_status lsc_format_pair_shape(lsc_layer *l, const lsc_tensor *a, const lsc_tensor *b, const char *path,
                                 lsc_error *err);

/* Non-zero when s ends with suffix (byte-wise, case-sensitive). */
int lsc_format_ends_with(const char *s, const char *suffix);

/* Tensors an export names in its precision-loss warnings; the rest are counted. */
#define LSC_FORMAT_MAX_LOSS_WARNINGS 5

/* Warn on ad (the export's caller shows it) when a conversion of `tensor` (n values to dtype `to`) flushed
 * values to zero or rounded them to subnormals: "tensor '<tensor>': <what>" for the first
 * LSC_FORMAT_MAX_LOSS_WARNINGS such tensors of an export, after that only *count grows. */
void lsc_format_warn_loss(lsc_adapter *ad, int *count, const char *tensor, const lsc_narrowing *loss, size_t n,
                          lsc_dtype to);

/* The closing line for the tensors lsc_format_warn_loss only counted ("... and N more tensors ..."). */
void lsc_format_warn_loss_total(lsc_adapter *ad, int count);

/* A growing NUL-terminated text buffer (headers, configs, patterns). Zero-initialise it; s stays NULL until
 * the first byte and the caller frees it. Out of memory sets `oom`, which sticks (later calls do nothing),
 * so a caller checks once at the end. */
typedef struct lsc_strbuf {
    char *s;
    size_t len, cap;
    int oom;
} lsc_strbuf;

/* Append n bytes of s (which need not be NUL-terminated). */
void lsc_strbuf_putn(lsc_strbuf *b, const char *s, size_t n);

/* Append the NUL-terminated s. */
void lsc_strbuf_puts(lsc_strbuf *b, const char *s);

/* Append printf-style text of any length. */
void lsc_strbuf_printf(lsc_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
