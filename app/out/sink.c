/* sink.c: FILE*, memory, null and holding output sinks (see sink.h). Depends on libc and status.h only. */
#include "sink.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "status.h"

/* Write the NUL-terminated str, escaped when the sink asks for it. */
static void emit(lsc_sink *s, const char *str, size_t n)
{
    if (!s->escape) {
        s->write(s, str, n);
        return;
    }
    char buf[1024];
    while (*str) {
        size_t used = 0, len = lsc_escape(buf, sizeof buf, str, LSC_ESCAPE_TEXT, &used);
        s->write(s, buf, len);
        if (used == 0)
            break; /* cannot happen with a 1024-byte buffer: every escape is shorter */
        str += used;
    }
}

static void file_write(lsc_sink *s, const char *data, size_t n)
{
    fwrite(data, 1, n, (FILE *)s->ctx);
}

static void mem_write(lsc_sink *s, const char *data, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 256;
        while (nc < s->len + n + 1)
            nc *= 2;
        char *p = realloc(s->buf, nc);
        if (!p)
            return; /* output is best effort; the command's status reports real failures */
        s->buf = p;
        s->cap = nc;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

static void null_write(lsc_sink *s, const char *data, size_t n)
{
    (void)s;
    (void)data;
    (void)n;
}

void lsc_sink_init_file(lsc_sink *s, FILE *fp)
{
    memset(s, 0, sizeof *s);
    s->write = file_write;
    s->ctx = fp;
    s->is_tty = isatty(fileno(fp));
    const char *nc = getenv("NO_COLOR");
    s->color = s->is_tty && !(nc && *nc);
}

void lsc_sink_init_mem(lsc_sink *s)
{
    memset(s, 0, sizeof *s);
    s->write = mem_write;
}

void lsc_sink_init_null(lsc_sink *s)
{
    memset(s, 0, sizeof *s);
    s->write = null_write;
}

static void hold_flush(lsc_sink *s)
{
    lsc_sink *target = s->ctx;
    if (s->len)
        target->write(target, s->buf, s->len);
    s->len = 0;
    if (s->buf)
        s->buf[0] = '\0';
}

void lsc_sink_init_hold(lsc_sink *s, lsc_sink *target)
{
    memset(s, 0, sizeof *s);
    s->write = mem_write;
    s->flush = hold_flush;
    s->ctx = target;
    s->is_tty = target->is_tty;
    s->color = target->color;
}

void lsc_sink_flush(lsc_sink *s)
{
    if (s->flush)
        s->flush(s);
}

void lsc_sink_release(lsc_sink *s)
{
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
}

static void format_out(lsc_sink *s, int raw, const char *fmt, va_list ap)
{
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof small) {
        if (raw)
            s->write(s, small, (size_t)n);
        else
            emit(s, small, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, ap2);
            if (raw)
                s->write(s, big, (size_t)n);
            else
                emit(s, big, (size_t)n);
            free(big);
        }
    }
    va_end(ap2);
}

void lsc_vout(lsc_sink *s, const char *fmt, va_list ap)
{
    format_out(s, 0, fmt, ap);
}

void lsc_out_ctl(lsc_sink *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format_out(s, 1, fmt, ap);
    va_end(ap);
}

void lsc_out(lsc_sink *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lsc_vout(s, fmt, ap);
    va_end(ap);
}

void lsc_out_str(lsc_sink *s, const char *str)
{
    emit(s, str, strlen(str));
}
