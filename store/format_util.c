/* format_util.c: shared message and text helpers of the format readers and writers (see format_util.h).
 * Depends on libc and engine/status only. */
#include "format_util.h"

#include <stdarg.h>
#include <stdio.h>
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

int lsc_format_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}
