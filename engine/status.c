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

int lsc_name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

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

/* Length of the valid UTF-8 sequence at s (NUL-terminated), its code point in *cp; 0 if not valid. */
static size_t utf8_sequence(const unsigned char *s, unsigned *cp)
{
    unsigned char c = s[0];
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        *cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        *cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        *cp = c & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && *cp < 0x800) || (n == 4 && (*cp < 0x10000 || *cp > 0x10FFFF)) || (*cp >= 0xD800 && *cp <= 0xDFFF))
        return 0; /* overlong or surrogate */
    return n;
}

/* The text standing for the character at p (NUL-terminated) in `mode` into tmp (or a constant); *adv the
 * bytes it covers. */
static const char *escape_piece(const unsigned char *p, lsc_escape_mode mode, char tmp[16], size_t *adv)
{
    const unsigned char c = *p;
    const int text = mode == LSC_ESCAPE_TEXT;
    unsigned cp = 0;
    size_t n;
    *adv = 1;
    if (c == '\n')
        return text ? "\n" : "\\n";
    if (c == '\t')
        return text ? "\t" : "\\t";
    if (c == '\r')
        return "\\r";
    if (c == '\\')
        return text ? "\\" : "\\\\";
    if (c < 0x20 || (c == 0x7f && !text)) {
        snprintf(tmp, 16, "\\x%02x", c);
        return tmp;
    }
    if (c == 0x7f) {
        snprintf(tmp, 16, "\\u%04x", c);
        return tmp;
    }
    if (c < 0x80) {
        tmp[0] = (char)c;
        tmp[1] = '\0';
        return tmp;
    }
    if ((n = utf8_sequence(p, &cp)) == 0 || (cp <= 0x9F && !text)) {
        snprintf(tmp, 16, "\\x%02x", c); /* not printable UTF-8, or a C1 control in a name */
        return tmp;
    }
    *adv = n;
    if (cp <= 0x9F) { /* C1 controls act as escape sequences on some terminals */
        snprintf(tmp, 16, "\\u%04x", cp);
        return tmp;
    }
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return tmp;
}

size_t lsc_escape(char *dst, size_t cap, const char *s, lsc_escape_mode mode, size_t *used)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(s ? s : ""), *p0 = p;
    if (cap == 0) {
        if (used)
            *used = 0;
        return 0;
    }
    while (*p && o + 1 < cap) {
        char tmp[16];
        size_t adv;
        const char *piece = escape_piece(p, mode, tmp, &adv);
        size_t len = strlen(piece);
        if (o + len >= cap)
            break;
        memcpy(dst + o, piece, len);
        o += len;
        p += adv;
    }
    dst[o] = '\0';
    if (used)
        *used = (size_t)(p - p0);
    return o;
}

char *lsc_escape_name(char *dst, size_t cap, const char *s)
{
    lsc_escape(dst, cap, s, LSC_ESCAPE_NAME, NULL);
    return dst;
}
