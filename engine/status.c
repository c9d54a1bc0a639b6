/* status.c: error values and messages (see status.h). Depends on libc only. */
#include "status.h"

#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
#define LSC_X_NAME(code, name) name,
    LSC_STATUS_LIST(LSC_X_NAME)
#undef LSC_X_NAME
};
_Static_assert(sizeof status_names / sizeof status_names[0] == LSC_STATUS_COUNT, "status table out of sync");

const char *lsc_status_name(lsc_status s)
{
    if ((unsigned)s >= LSC_STATUS_COUNT)
        return "unknown error";
    return status_names[s];
}

lsc_status lsc_error_set(lsc_error *err, lsc_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void lsc_error_prefix(lsc_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char head[LSC_ERROR_MSG_MAX], old[LSC_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    int n = snprintf(err->msg, sizeof err->msg, "%s: %s", head, old);
    (void)n; /* truncation is acceptable: messages are one line */
}

void lsc_error_clear(lsc_error *err)
{
    if (err) {
        err->code = LSC_OK;
        err->msg[0] = '\0';
    }
}

char *lsc_escape_name(char *dst, size_t cap, const char *s)
{
    size_t o = 0;
    if (cap == 0)
        return dst;
    for (; s && *s && o + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        const char *piece = tmp;
        if (c == '\n')
            piece = "\\n";
        else if (c == '\t')
            piece = "\\t";
        else if (c == '\r')
            piece = "\\r";
        else if (c == '\\')
            piece = "\\\\";
        else if (c < 0x20 || c == 0x7f)
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
        else {
            tmp[0] = (char)c;
            tmp[1] = '\0';
        }
        size_t n = strlen(piece);
        if (o + n >= cap)
            break;
        memcpy(dst + o, piece, n);
        o += n;
    }
    dst[o] = '\0';
    return dst;
}
