/* svg.c: the hand-written SVG figures of svg.h: axes with "nice" ticks (1-2-5 steps, or decades on a
 * log axis), polylines per series with a legend, heat-map cells with a colour bar. */
#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Okabe & Ito's eight colours, black last (used for the ninth series on, cycling). */
static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                      "#E69F00", "#56B4E9", "#F0E442", "#000000"};

/* Figure geometry (user units = px). */
enum { W = 880, H = 560, LEFT = 84, RIGHT = 200, TOP = 46, BOTTOM = 64 };

void lsc_svg_text(lsc_sink *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '&': lsc_out_str(out, "&amp;"); break;
        case '<': lsc_out_str(out, "&lt;"); break;
        case '>': lsc_out_str(out, "&gt;"); break;
        case '"': lsc_out_str(out, "&quot;"); break;
        case '\'': lsc_out_str(out, "&apos;"); break;
        default:
            if (*p < 0x20 && *p != '\t' && *p != '\n')
                lsc_out_str(out, "\xEF\xBF\xBD");
            else
                lsc_out(out, "%c", *p);
        }
    }
}

static void doc_begin(lsc_sink *out, const char *title)
{
    lsc_out(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    lsc_out_str(out, "<title>");
    lsc_svg_text(out, title);
    lsc_out_str(out, "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    lsc_out(out, "<text x=\"%d\" y=\"26\" font-size=\"16\" font-weight=\"bold\">", LEFT);
    lsc_svg_text(out, title);
    lsc_out_str(out, "</text>\n");
}

/* A tick step of 1, 2 or 5 times a power of ten giving about `want` ticks over span. */
static double nice_step(double span, int want)
{
    double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

typedef struct axis {
    double lo, hi; /* data range (log axis: log10 of it) */
    int log;
    double p0, p1; /* pixel positions of lo and hi */
} axis;

static double axis_px(const axis *a, double v)
{
    double t = a->log ? log10(v) : v;
    return a->p0 + (t - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

/* Range of finite values (positive only on a log axis), widened when empty or flat. */
static void y_range(const lsc_svg_chart *c, axis *a)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t s = 0; s < c->n_series; s++)
        for (size_t i = 0; i < c->series[s].n; i++) {
            double v = c->series[s].y[i];
            if (!isfinite(v) || (c->log_y && v <= 0))
                continue;
            double t = c->log_y ? log10(v) : v;
            lo = t < lo ? t : lo;
            hi = t > hi ? t : hi;
        }
    if (c->y_lo < c->y_hi && !c->log_y)
        lo = c->y_lo < lo ? c->y_lo : lo, hi = c->y_hi > hi ? c->y_hi : hi;
    if (!(lo <= hi))
        lo = 0, hi = 1;
    if (hi - lo < 1e-12 * (fabs(hi) + 1))
        lo -= c->log_y ? 1 : 0.5, hi += c->log_y ? 1 : 0.5;
    if (c->log_y)
        lo = floor(lo), hi = ceil(hi);
    else if (!(c->y_lo < c->y_hi)) { /* a margin, so that no line runs along the frame */
        double pad = (hi - lo) * 0.05;
        lo -= pad, hi += pad;
    }
    a->lo = lo, a->hi = hi, a->log = c->log_y;
}

static void y_ticks(lsc_sink *out, const axis *a)
{
    double step = a->log ? (a->hi - a->lo > 12 ? ceil((a->hi - a->lo) / 8) : 1) : nice_step(a->hi - a->lo, 6);
    double first = ceil(a->lo / step - 1e-9) * step;
    for (double t = first; t <= a->hi + step * 1e-9; t += step) {
        double py = a->p0 + (t - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
        char lab[32];
        if (a->log)
            snprintf(lab, sizeof lab, "1e%g", t);
        else
            snprintf(lab, sizeof lab, "%g", fabs(t) < step * 1e-9 ? 0.0 : t);
        lsc_out(out, "<line x1=\"%d\" y1=\"%.3f\" x2=\"%d\" y2=\"%.3f\" stroke=\"#e0e0e0\"/>\n", LEFT, py, W - RIGHT, py);
        lsc_out(out, "<text x=\"%d\" y=\"%.3f\" text-anchor=\"end\" dominant-baseline=\"middle\">%s</text>\n",
                LEFT - 6, py, lab);
    }
}

static void x_ticks(lsc_sink *out, const lsc_svg_chart *c, const axis *a, int y)
{
    if (c->x_names) {
        size_t every = c->n_x_names > 40 ? (c->n_x_names + 39) / 40 : 1;
        for (size_t i = 0; i < c->n_x_names; i += every) {
            double px = axis_px(a, (double)(i + 1));
            lsc_out(out, "<text transform=\"translate(%.3f,%d) rotate(-45)\" text-anchor=\"end\" font-size=\"9\">",
                    px, y + 12);
            const char *nm = c->x_names[i] ? c->x_names[i] : "";
            size_t len = strlen(nm);
            if (len > 24) /* the end of a layer name says most: keep it */
                lsc_out_str(out, "…");
            lsc_svg_text(out, len > 24 ? nm + len - 23 : nm);
            lsc_out_str(out, "</text>\n");
        }
        return;
    }
    double step = nice_step(a->hi - a->lo, 8);
    if (step < 1)
        step = 1;
    for (double t = ceil(a->lo / step) * step; t <= a->hi + 1e-9; t += step) {
        double px = axis_px(a, t);
        lsc_out(out, "<line x1=\"%.3f\" y1=\"%d\" x2=\"%.3f\" y2=\"%d\" stroke=\"#333333\"/>\n", px, y, px, y + 5);
        lsc_out(out, "<text x=\"%.3f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", px, y + 18, t);
    }
}

static void axis_labels(lsc_sink *out, const char *xl, const char *yl, int bottom)
{
    lsc_out(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (LEFT + W - RIGHT) / 2, H - bottom + 40);
    lsc_svg_text(out, xl);
    lsc_out(out, "</text>\n<text transform=\"translate(18,%d) rotate(-90)\" text-anchor=\"middle\">", (TOP + H - bottom) / 2);
    lsc_svg_text(out, yl);
    lsc_out_str(out, "</text>\n");
}

void lsc_svg_line_chart(lsc_sink *out, const lsc_svg_chart *c)
{
    doc_begin(out, c->title);
    int bottom = c->x_names ? 190 : BOTTOM; /* room for the rotated names */
    axis ax = {0}, ay = {0};
    double xmin = INFINITY, xmax = -INFINITY; /* the x range of the data (1..n for index axes) */
    for (size_t s = 0; s < c->n_series; s++)
        for (size_t i = 0; i < c->series[s].n; i++) {
            double x = c->series[s].x ? c->series[s].x[i] : (double)(i + 1);
            if (isfinite(x))
                xmin = x < xmin ? x : xmin, xmax = x > xmax ? x : xmax;
        }
    if (!(xmin <= xmax))
        xmin = xmax = 1;
    if (c->x_names && (double)c->n_x_names > xmax)
        xmax = (double)c->n_x_names;
    if (c->x_names)
        ax.lo = 0.5, ax.hi = xmax + 0.5;
    else
        ax.lo = xmin, ax.hi = xmax > xmin ? xmax : xmin + 1;
    ax.p0 = LEFT, ax.p1 = W - RIGHT;
    y_range(c, &ay);
    ay.p0 = H - bottom, ay.p1 = TOP;
    lsc_out(out, "<g class=\"plot\" data-px0=\"%g\" data-px1=\"%g\" data-py0=\"%g\" data-py1=\"%g\" "
                 "data-x0=\"%.17g\" data-x1=\"%.17g\" data-y0=\"%.17g\" data-y1=\"%.17g\" data-log-y=\"%d\">\n",
            ax.p0, ax.p1, ay.p0, ay.p1, ax.lo, ax.hi, ay.lo, ay.hi, c->log_y);
    y_ticks(out, &ay);
    x_ticks(out, c, &ax, H - bottom);
    lsc_out(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333333\"/>\n", LEFT, TOP,
            W - RIGHT - LEFT, H - bottom - TOP);
    for (size_t s = 0; s < c->n_series; s++) {
        const lsc_svg_series *sr = &c->series[s];
        const char *col = palette[s % 8];
        lsc_out_str(out, "<polyline class=\"series\" data-label=\"");
        lsc_svg_text(out, sr->label);
        lsc_out(out, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", col);
        for (size_t i = 0; i < sr->n; i++) {
            double x = sr->x ? sr->x[i] : (double)(i + 1), y = sr->y[i];
            if (!isfinite(y) || (c->log_y && y <= 0))
                continue;
            lsc_out(out, "%s%.4f,%.4f", i ? " " : "", axis_px(&ax, x), axis_px(&ay, y));
        }
        lsc_out_str(out, "\"/>\n");
    }
    lsc_out_str(out, "</g>\n");
    /* legend: the first 16 series, then a count */
    size_t shown = c->n_series < 16 ? c->n_series : 16;
    for (size_t s = 0; s < shown; s++) {
        int y = TOP + 8 + (int)s * 18;
        lsc_out(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>\n",
                W - RIGHT + 12, y, W - RIGHT + 32, y, palette[s % 8]);
        lsc_out(out, "<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\" font-size=\"10\">", W - RIGHT + 38, y);
        char cut[40];
        snprintf(cut, sizeof cut, "%s", c->series[s].label ? c->series[s].label : "");
        if (c->series[s].label && strlen(c->series[s].label) > 26)
            snprintf(cut, sizeof cut, "…%s", c->series[s].label + strlen(c->series[s].label) - 25);
        lsc_svg_text(out, cut);
        lsc_out_str(out, "</text>\n");
    }
    if (c->n_series > shown)
        lsc_out(out, "<text x=\"%d\" y=\"%d\" font-size=\"10\">and %zu more</text>\n", W - RIGHT + 12,
                TOP + 8 + (int)shown * 18, c->n_series - shown);
    axis_labels(out, c->xlabel, c->ylabel, c->x_names ? 40 : BOTTOM);
    lsc_out_str(out, "</svg>\n");
}

/* A viridis-like ramp from five anchors (dark blue to yellow), t in [0, 1]. */
static void ramp(double t, char *hex, size_t cap)
{
    static const double a[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double f = t * 4;
    int i = f >= 4 ? 3 : (int)f;
    double u = f - i;
    int rgb[3];
    for (int k = 0; k < 3; k++)
        rgb[k] = (int)lround(a[i][k] + (a[i + 1][k] - a[i][k]) * u);
    snprintf(hex, cap, "#%02X%02X%02X", rgb[0], rgb[1], rgb[2]);
}

void lsc_svg_heatmap_write(lsc_sink *out, const lsc_svg_heatmap *h)
{
    doc_begin(out, h->title);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < h->n_rows * h->n_cols; i++)
        if (isfinite(h->v[i]))
            lo = h->v[i] < lo ? h->v[i] : lo, hi = h->v[i] > hi ? h->v[i] : hi;
    if (!(lo <= hi))
        lo = 0, hi = 1;
    int left = 150, pw = W - RIGHT - left, ph = H - BOTTOM - TOP;
    double cw = h->n_cols ? (double)pw / (double)h->n_cols : pw, chh = h->n_rows ? (double)ph / (double)h->n_rows : ph;
    lsc_out(out, "<g class=\"plot\" data-rows=\"%zu\" data-cols=\"%zu\" data-v0=\"%.17g\" data-v1=\"%.17g\">\n",
            h->n_rows, h->n_cols, lo, hi);
    for (size_t r = 0; r < h->n_rows; r++)
        for (size_t c = 0; c < h->n_cols; c++) {
            double v = h->v[r * h->n_cols + c];
            if (!isfinite(v))
                continue;
            char col[8];
            ramp(hi > lo ? (v - lo) / (hi - lo) : 0.5, col, sizeof col);
            lsc_out(out, "<rect class=\"cell\" data-row=\"%zu\" data-col=\"%zu\" data-value=\"%.17g\" x=\"%.3f\" "
                         "y=\"%.3f\" width=\"%.3f\" height=\"%.3f\" fill=\"%s\"><title>",
                    r, c, v, left + c * cw, TOP + r * chh, cw, chh, col);
            lsc_svg_text(out, h->row_names[r]);
            lsc_out_str(out, " / ");
            lsc_svg_text(out, h->col_names[c]);
            lsc_out(out, ": %.6g</title></rect>\n", v);
        }
    lsc_out(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333333\"/>\n", left, TOP,
            pw, ph);
    for (size_t r = 0; r < h->n_rows; r++) {
        lsc_out(out, "<text x=\"%d\" y=\"%.3f\" text-anchor=\"end\" dominant-baseline=\"middle\" font-size=\"10\">",
                left - 6, TOP + (r + 0.5) * chh);
        lsc_svg_text(out, h->row_names[r]);
        lsc_out_str(out, "</text>\n");
    }
    size_t every = h->n_cols > 40 ? (h->n_cols + 39) / 40 : 1;
    for (size_t c = 0; c < h->n_cols; c += every) {
        lsc_out(out, "<text x=\"%.3f\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">", left + (c + 0.5) * cw,
                H - BOTTOM + 16);
        lsc_svg_text(out, h->col_names[c]);
        lsc_out_str(out, "</text>\n");
    }
    lsc_out_str(out, "</g>\n");
    /* colour bar */
    int bx = W - RIGHT + 30, bh = ph;
    lsc_out_str(out, "<defs><linearGradient id=\"ramp\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n");
    for (int k = 0; k <= 8; k++) {
        char col[8];
        ramp(k / 8.0, col, sizeof col);
        lsc_out(out, "<stop offset=\"%g\" stop-color=\"%s\"/>\n", k / 8.0, col);
    }
    lsc_out(out, "</linearGradient></defs>\n<rect x=\"%d\" y=\"%d\" width=\"18\" height=\"%d\" fill=\"url(#ramp)\" "
                 "stroke=\"#333333\"/>\n",
            bx, TOP, bh);
    lsc_out(out, "<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\" font-size=\"10\">%.4g</text>\n", bx + 24, TOP, hi);
    lsc_out(out, "<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\" font-size=\"10\">%.4g</text>\n", bx + 24,
            TOP + bh, lo);
    lsc_out(out, "<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"middle\" font-size=\"11\">", bx + 80,
            TOP + bh / 2);
    lsc_svg_text(out, h->legend);
    lsc_out_str(out, "</text>\n");
    axis_labels(out, h->xlabel, h->ylabel, BOTTOM);
    lsc_out_str(out, "</svg>\n");
}
