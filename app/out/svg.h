/* svg.h: figures for reports, as self-contained SVG text written by hand (no dependency): line charts
 * (linear or log y, numeric or named x), and heat maps.
 *
 * Every figure has a title, labelled axes with ticks, and a legend; colours come from the Okabe-Ito
 * palette (lines) and a viridis-like ramp (heat maps), both readable with the common colour-vision
 * deficiencies. The plot box and the data range are written as attributes of the <g class="plot">
 * element (data-px0/px1/py0/py1, data-x0/x1/y0/y1, data-log-y) so a reader (and the tests) can map every
 * point back to its value; each series is one <polyline class="series" data-label="..."> whose points
 * are the data in order (log y: values <= 0 are left out), each heat-map cell one <rect class="cell"
 * data-row data-col data-value>.
 */
#ifndef LSC_OUT_SVG_H
#define LSC_OUT_SVG_H

#include <stddef.h>

#include "sink.h"

typedef struct lsc_svg_series {
    const char *label;
    const double *x, *y; /* n points; x NULL: 1, 2, ..., n (or the names' positions) */
    size_t n;
} lsc_svg_series;

typedef struct lsc_svg_chart {
    const char *title, *xlabel, *ylabel;
    int log_y;                     /* log10 y axis */
    const char *const *x_names;    /* non-NULL: a named x axis, x = 1..n_x_names, labels rotated */
    size_t n_x_names;
    const lsc_svg_series *series;
    size_t n_series;
    double y_lo, y_hi;             /* y_lo < y_hi: a fixed y range (e.g. [0, 1] for similarities) */
} lsc_svg_chart;

/* Write a line chart as a complete SVG document to out. */
void lsc_svg_line_chart(lsc_sink *out, const lsc_svg_chart *c);

typedef struct lsc_svg_heatmap {
    const char *title, *xlabel, *ylabel, *legend;
    const char *const *row_names, *const *col_names;
    size_t n_rows, n_cols;
    const double *v; /* n_rows x n_cols, row-major; NAN: no cell */
} lsc_svg_heatmap;

/* Write a heat map (rows top to bottom, columns left to right, a colour bar with its range) to out. */
void lsc_svg_heatmap_write(lsc_sink *out, const lsc_svg_heatmap *h);

/* Write text escaped for XML (&, <, >, ", ') to out; bytes that are not valid in XML 1.0 (C0 controls
 * but tab and newline) become U+FFFD. */
void lsc_svg_text(lsc_sink *out, const char *s);

#endif
