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
    char old[LSC_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* append ": <old message>", truncating quietly: messages are one line */
    size_t used = strlen(err->msg), room = sizeof err->msg - used - 1;
    const char *parts[2] = {": ", old};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(parts[i]);
        if (n > room)
            n = room;
        memcpy(err->msg + used, parts[i], n);
        used += n;
        room -= n;
    }
    err->msg[used] = '\0';
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
