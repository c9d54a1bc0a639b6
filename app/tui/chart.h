/* chart.h: character-cell charts for the workbench, drawn into a plain canvas.
 *
 * A canvas is a w x h grid of cells, each one Unicode code point plus a role (axis, label, series a,
 * series b, both, mark). Charts: a singular-value spectrum on a log10 y axis with ticks at powers of ten
 * (one series as bars, or two series overlaid), and the cumulative energy curve with its k90/k99 marks.
 * Three glyph sets: braille (U+2800 block, 2x4 dots per cell), eighth blocks (U+2581..U+2588) and plain
 * ASCII, so the same chart works on any terminal. render.c copies the canvas to the screen; tests dump it
 * as text. Never depends on curses or on the model.
 */
#ifndef LSC_TUI_CHART_H
#define LSC_TUI_CHART_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum { LSC_CHART_ASCII, LSC_CHART_BLOCKS, LSC_CHART_BRAILLE } lsc_chart_mode;

typedef enum {
    LSC_CROLE_NONE,   /* empty cell */
    LSC_CROLE_AXIS,   /* axis lines and ticks */
    LSC_CROLE_LABEL,  /* tick labels, legends */
    LSC_CROLE_A,      /* first series */
    LSC_CROLE_B,      /* second series */
    LSC_CROLE_BOTH,   /* a cell where both series draw */
    LSC_CROLE_MARK,   /* k90 / k99 marks */
    LSC_CROLE_DIM,    /* guide lines */
    LSC_CROLE_COUNT
} lsc_chart_role;

typedef struct lsc_canvas_cell {
    uint32_t cp;        /* code point, ' ' when empty */
    unsigned char role; /* lsc_chart_role */
    unsigned char dots_a, dots_b; /* braille dot bits per series (internal) */
} lsc_canvas_cell;

typedef struct lsc_canvas {
    int w, h;
    lsc_canvas_cell *cells; /* [h * w], row major */
} lsc_canvas;

/* Allocate a w x h canvas of blanks (w, h >= 1). LSC_ERR_NOMEM or LSC_ERR_INVALID on failure. */
lsc_status lsc_canvas_init(lsc_canvas *cv, int w, int h, lsc_error *err);
void lsc_canvas_release(lsc_canvas *cv);
void lsc_canvas_clear(lsc_canvas *cv);

/* Write ASCII/UTF-8 text at (x, y), clipped to the canvas. */
void lsc_canvas_text(lsc_canvas *cv, int x, int y, const char *s, lsc_chart_role role);

/* The canvas as UTF-8 text, one line per row ending in '\n', trailing blanks kept. malloc'ed; NULL on
 * out of memory. */
char *lsc_canvas_dump(const lsc_canvas *cv);

/* A rectangle of the canvas the chart draws in. */
typedef struct lsc_chart_rect {
    int x, y, w, h;
} lsc_chart_rect;

/* Singular values sv[n] (descending, >= 0) on a log10 y axis, ticks at every power of ten that fits, x
 * axis indices 1..n. With sv2 (n2 values) both series are overlaid (a as LSC_CROLE_A, b as LSC_CROLE_B):
 * braille lines under UTF-8 (BLOCKS falls back to braille for overlays), '*', 'o' and '@' in ASCII.
 * A single series draws as bars (BLOCKS, ASCII) or a braille line. Values <= 0 sit on the floor.
 * Needs r.w >= 12 and r.h >= 4, else draws nothing; n == 0 writes "no singular values". */
void lsc_chart_spectrum(lsc_canvas *cv, lsc_chart_rect r, lsc_chart_mode mode, const double *sv, size_t n,
                        const double *sv2, size_t n2);

/* Cumulative energy E_k = sum_{i<=k} sv_i^2 / sum sv_i^2 for k = 1..n on a linear 0..100% axis, with the
 * 90% and 99% guides and the columns of k90 and k99 marked (LSC_CROLE_MARK) and labelled. */
void lsc_chart_energy(lsc_canvas *cv, lsc_chart_rect r, lsc_chart_mode mode, const double *sv, size_t n, int k90,
                      int k99);

/* Mark a rank cut on a single-series spectrum that lsc_chart_spectrum drew in the same rectangle: the
 * values after the first k of n are redrawn dim (LSC_CROLE_DIM; ':' for '#' in ASCII) and a dashed
 * vertical line (LSC_CROLE_MARK) separates them from the kept ones. k >= n or n == 0: nothing to mark. */
void lsc_chart_cut(lsc_canvas *cv, lsc_chart_rect r, lsc_chart_mode mode, size_t n, size_t k);

/* Up to two series a[n] and b[n] (either may be NULL) over x[n] (ascending; NULL: 1..n) on a linear or
 * (logy) log10 y axis with round ticks (x from 1, or from x[0] when smaller), plus a dashed horizontal guide at hline (LSC_CROLE_MARK; NaN: none)
 * that the y range includes. x_max > 0 fixes the right end of the x axis (a run still going keeps its
 * steps so far on the left); else it ends at the last x. a draws as LSC_CROLE_A, b as LSC_CROLE_B: braille
 * lines unless ASCII ('*', 'o', '@' where both fall). Non-finite values are skipped; on a log axis values
 * <= 0 sit on the floor. Needs r.w >= 12 and r.h >= 4, else draws nothing. */
void lsc_chart_lines(lsc_canvas *cv, lsc_chart_rect r, lsc_chart_mode mode, const double *x, const double *a,
                     const double *b, size_t n, double x_max, double hline, int logy);

/* Mark x = xv on a chart lsc_chart_lines drew in the same rectangle with the same x[n] and x_max: a dashed
 * vertical line (LSC_CROLE_MARK, ':' in ASCII) on the cells no series or axis took (a series' selected
 * step). Nothing when the chart could not be drawn or xv is not finite. */
void lsc_chart_xmark(lsc_canvas *cv, lsc_chart_rect r, lsc_chart_mode mode, const double *x, size_t n, double x_max,
                     double xv);

/* Glyph for a heat level 0..4 (blank, light, medium, dark, full shade; " .:*#" in ASCII). */
uint32_t lsc_chart_shade(int level, lsc_chart_mode mode);

#endif
