/* sink.h: where command output goes.
 *
 * Commands never call printf: they write to a sink, so one command serves a terminal, a pipe, a TUI pane,
 * a script run and a test buffer alike. A sink is a write function plus a context; this module provides
 * a FILE* sink, a growable memory sink and a holding sink (output kept back until its change is committed).
 *
 * A sink with `escape` set (the CLI's stdout and stderr) passes everything written through lsc_out,
 * lsc_vout and lsc_out_str through lsc_escape (status.h, TEXT mode): whatever a command forgets to escape,
 * a tensor name, a config value or a path from a file cannot move the cursor, retitle the window or ring
 * the bell. Terminal control the program means (a progress line redrawn in place) goes through
 * lsc_out_ctl. Depends on libc and status.h only.
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
    int escape;   /* escape control characters in text (see above) */
    /* memory sink (and the text a holding sink keeps back) */
    char *buf;
    size_t len, cap;
    void (*flush)(lsc_sink *s); /* NULL but for a holding sink */
};

/* A sink over an open FILE* (not closed by the sink). is_tty/color set from isatty() and NO_COLOR. */
void lsc_sink_init_file(lsc_sink *s, FILE *fp);

/* A growable memory sink; s->buf is NUL-terminated text, released with lsc_sink_release. */
void lsc_sink_init_mem(lsc_sink *s);
void lsc_sink_release(lsc_sink *s);

/* A sink that drops everything. */
void lsc_sink_init_null(lsc_sink *s);

/* A holding sink: keeps what is written (in memory) until lsc_sink_flush passes it on to `target`, which
 * must outlive it; lsc_sink_release drops what is still held. is_tty and color are the target's. The
 * dispatcher holds a mutating command's results this way, so "imported ..." appears only once the change is
 * committed (on a full disk the COMMIT is what fails). */
void lsc_sink_init_hold(lsc_sink *s, lsc_sink *target);

/* Pass what a holding sink holds on to its target (the change it reports is committed); a no-op for the
 * other sinks. */
void lsc_sink_flush(lsc_sink *s);

/* Formatted and plain output. */
void lsc_out(lsc_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lsc_vout(lsc_sink *s, const char *fmt, va_list ap);
void lsc_out_str(lsc_sink *s, const char *str);

/* Formatted output written as is, for terminal control sequences the program itself means ("\r",
 * "\033[K"); every argument that came from a file or a user must already be escaped (lsc_escape_name). */
void lsc_out_ctl(lsc_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
