/* sink.h: where command output goes.
 *
 * Commands never call printf: they write to a sink, so one command serves a terminal, a pipe, a TUI pane,
 * a script run and a test buffer alike. A sink is a write function plus a context; this module provides
 * a FILE* sink and a growable memory sink. Depends on libc only.
 */
#ifndef LSC_SINK_H
#define LSC_SINK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

typedef struct lsc_sink lsc_sink;

struct lsc_sink {
    void (*write)(lsc_sink *s, const char *data, size_t n);
    void *ctx;
    int is_tty;   /* the sink is a terminal (progress bars may redraw in place) */
    int color;    /* colour allowed */
    /* memory sink */
    char *buf;
    size_t len, cap;
};

/* A sink over an open FILE* (not closed by the sink). is_tty/color set from isatty() and NO_COLOR. */
void lsc_sink_init_file(lsc_sink *s, FILE *fp);

/* A growable memory sink; s->buf is NUL-terminated text, released with lsc_sink_release. */
void lsc_sink_init_mem(lsc_sink *s);
void lsc_sink_release(lsc_sink *s);

/* A sink that drops everything. */
void lsc_sink_init_null(lsc_sink *s);

/* Formatted and plain output. */
void lsc_out(lsc_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lsc_vout(lsc_sink *s, const char *fmt, va_list ap);
void lsc_out_str(lsc_sink *s, const char *str);

#endif
