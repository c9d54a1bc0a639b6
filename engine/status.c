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

/* Length of the valid UTF-8 sequence at s that is not a C1 control (U+0080..U+009F), else 0. */
static size_t utf8_printable(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0; /* overlong or surrogate */
    if (cp >= 0x80 && cp <= 0x9F)
        return 0; /* C1 controls act as escape sequences on some terminals */
    return n;
}

char *lsc_escape_name(char *dst, size_t cap, const char *s)
{
    size_t o = 0;
    if (cap == 0)
        return dst;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p && o + 1 < cap) {
        unsigned char c = *p;
        char tmp[8];
        const char *piece = tmp;
        size_t adv = 1, n;
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
        else if (c < 0x80) {
            tmp[0] = (char)c;
            tmp[1] = '\0';
        } else if ((n = utf8_printable(p)) > 0) {
            memcpy(tmp, p, n);
            tmp[n] = '\0';
            adv = n;
        } else {
            snprintf(tmp, sizeof tmp, "\\x%02x", c); /* a byte that is not printable UTF-8 */
        }
        size_t len = strlen(piece);
        if (o + len >= cap)
            break;
        memcpy(dst + o, piece, len);
        o += len;
        p += adv;
    }
    dst[o] = '\0';
    return dst;
}
