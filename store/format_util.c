/* format_util.c: shared message and text helpers of the format readers and writers (see format_util.h).
 * Depends on libc and engine/ (status, adapter warnings, dtype narrowing) only. */
#include "format_util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lsc_status lsc_format_fail(lsc_error *err, lsc_status code, const char *file, const char *tensor, const char *fmt,
                           ...)
{
    char body[LSC_ERROR_MSG_MAX], fe[LSC_FORMAT_ESC_CAP], te[LSC_FORMAT_ESC_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    lsc_escape_name(fe, sizeof fe, file);
    if (tensor)
        return lsc_error_set(err, code, "'%s': tensor '%s': %s", fe, lsc_escape_name(te, sizeof te, tensor), body);
    return lsc_error_set(err, code, "'%s': %s", fe, body);
}

lsc_status lsc_format_io_fail(lsc_error *err, const char *verb, const char *file, int e)
{
    char fe[LSC_FORMAT_ESC_CAP], et[128];
    snprintf(et, sizeof et, "%s", strerror(e));
    /* git's style: "no such file or directory", but keep an acronym ("EOF ...") as it is */
    if (et[0] >= 'A' && et[0] <= 'Z' && !(et[1] >= 'A' && et[1] <= 'Z'))
        et[0] = (char)(et[0] - 'A' + 'a');
    return lsc_error_set(err, LSC_ERR_IO, "cannot %s '%s': %s", verb, lsc_escape_name(fe, sizeof fe, file), et);
}

const char *lsc_format_esc(const char *s)
{
    static _Thread_local char buf[4][LSC_FORMAT_ESC_CAP];
    static _Thread_local int k;
    k = (k + 1) % 4;
    return lsc_escape_name(buf[k], sizeof buf[k], s);
}

char *lsc_format_backslash(const char *s, const char *special)
{
    size_t n = strlen(s);
    char *k = malloc(2 * n + 1), *p = k;
    if (!k)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (strchr(special, s[i]))
            *p++ = '\\';
        *p++ = s[i];
    }
    *p = '\0';
    return k;
}

lsc_status lsc_format_pair_shape(lsc_layer *l, const lsc_tensor *a, const lsc_tensor *b, const char *path,
                                 lsc_error *err)
{
    char ea[LSC_FORMAT_ESC_CAP], eb[LSC_FORMAT_ESC_CAP];
    if ((a->ndim != 2 && a->ndim != 4) || b->ndim != a->ndim || (b->ndim == 4 && (b->shape[2] != 1 || b->shape[3] != 1)))
        return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL,
                               "tensors '%s' (%d dims) and '%s' (%d dims) are neither a linear nor a conv LoRA pair",
                               lsc_escape_name(ea, sizeof ea, a->key), a->ndim, lsc_escape_name(eb, sizeof eb, b->key),
                               b->ndim);
    if (a->shape[0] != b->shape[1])
        return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL,
                               "rank mismatch: '%s' has rank %" PRId64 " but '%s' has rank %" PRId64,
                               lsc_escape_name(ea, sizeof ea, a->key), a->shape[0],
                               lsc_escape_name(eb, sizeof eb, b->key), b->shape[1]);
    if (a->shape[0] <= 0 || a->shape[0] > INT32_MAX)
        return lsc_format_fail(err, LSC_ERR_FORMAT, path, a->key, "rank %" PRId64 " out of range", a->shape[0]);
    l->rank = (int)a->shape[0];
    l->rows = b->shape[0];
    l->cols = 1;
    for (int d = 1; d < a->ndim; d++)
        l->cols *= a->shape[d];
    if (a->ndim == 4)
        l->flags |= LSC_LAYER_CONV;
    return LSC_OK;
}

int lsc_format_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

void lsc_strbuf_putn(lsc_strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *p = realloc(b->s, nc);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void lsc_strbuf_puts(lsc_strbuf *b, const char *s)
{
    lsc_strbuf_putn(b, s, strlen(s));
}

void lsc_strbuf_printf(lsc_strbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        lsc_strbuf_putn(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    lsc_strbuf_putn(b, big, (size_t)n);
    free(big);
}

void lsc_format_warn_loss(lsc_adapter *ad, int *count, const char *tensor, const lsc_narrowing *loss, size_t n,
                          lsc_dtype to)
{
    char what[200];
    if (!lsc_narrowing_describe(loss, n, to, what, sizeof what))
        return;
    if ((*count)++ < LSC_FORMAT_MAX_LOSS_WARNINGS)
        lsc_adapter_warn(ad, "tensor '%s': %s", tensor, what);
}

void lsc_format_warn_loss_total(lsc_adapter *ad, int count)
{
    if (count > LSC_FORMAT_MAX_LOSS_WARNINGS)
        lsc_adapter_warn(ad, "... and %d more tensors flushed values to zero or rounded them to subnormals",
                         count - LSC_FORMAT_MAX_LOSS_WARNINGS);
}
