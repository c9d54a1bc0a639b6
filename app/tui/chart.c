/* chart.c: spectra and energy curves as character cells (braille, eighth blocks or ASCII).
 *
 * Pure drawing into lsc_canvas: no curses, no model. Geometry of a chart rectangle: a y-axis label gutter
 * of LABEL_W columns, an axis column, the plot, then an x axis line and a row of x tick labels.
 */
#include "chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_W 5

lsc_status lsc_canvas_init(lsc_canvas *cv, int w, int h, lsc_error *err)
{
    memset(cv, 0, sizeof *cv);
    if (w < 1 || h < 1)
        return lsc_error_set(err, LSC_ERR_INVALID, "canvas of %dx%d cells", w, h);
    cv->cells = malloc((size_t)w * (size_t)h * sizeof *cv->cells);
    if (!cv->cells)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    cv->w = w;
    cv->h = h;
    lsc_canvas_clear(cv);
    return LSC_OK;
}

void lsc_canvas_release(lsc_canvas *cv)
{
    if (!cv)
        return;
    free(cv->cells);
    memset(cv, 0, sizeof *cv);
}

void lsc_canvas_clear(lsc_canvas *cv)
{
    for (int i = 0; i < cv->w * cv->h; i++) {
        cv->cells[i].cp = ' ';
        cv->cells[i].role = LSC_CROLE_NONE;
        cv->cells[i].dots_a = cv->cells[i].dots_b = 0;
    }
}

static lsc_canvas_cell *cell(lsc_canvas *cv, int x, int y)
{
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h)
        return NULL;
    return &cv->cells[(size_t)y * (size_t)cv->w + (size_t)x];
}

static void put(lsc_canvas *cv, int x, int y, uint32_t cp, lsc_chart_role role)
{
    lsc_canvas_cell *c = cell(cv, x, y);
    if (c) {
        c->cp = cp;
        c->role = (unsigned char)role;
    }
}

void lsc_canvas_text(lsc_canvas *cv, int x, int y, const char *s, lsc_chart_role role)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp = *p++;
        int extra = cp >= 0xF0 ? 3 : cp >= 0xE0 ? 2 : cp >= 0xC0 ? 1 : 0;
        if (extra)
            cp &= 0x3Fu >> extra;
        while (extra-- > 0 && (*p & 0xC0) == 0x80)
            cp = (cp << 6) | (*p++ & 0x3Fu);
        put(cv, x++, y, cp, role);
    }
}

char *lsc_canvas_dump(const lsc_canvas *cv)
{
    size_t cap = (size_t)cv->h * ((size_t)cv->w * 4 + 1) + 1, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (int y = 0; y < cv->h; y++) {
        for (int x = 0; x < cv->w; x++) {
            uint32_t c = cv->cells[(size_t)y * (size_t)cv->w + (size_t)x].cp;
            if (c < 0x80)
                out[len++] = (char)c;
            else if (c < 0x800)
                out[len++] = (char)(0xC0 | (c >> 6)), out[len++] = (char)(0x80 | (c & 0x3F));
            else
                out[len++] = (char)(0xE0 | (c >> 12)), out[len++] = (char)(0x80 | ((c >> 6) & 0x3F)),
                out[len++] = (char)(0x80 | (c & 0x3F));
        }
        out[len++] = '\n';
    }
    out[len] = '\0';
    return out;
}

uint32_t lsc_chart_shade(int level, lsc_chart_mode mode)
{
    static const uint32_t uni[5] = {' ', 0x2591, 0x2592, 0x2593, 0x2588};
    static const char asc[5] = {' ', '.', ':', '*', '#'};
    if (level < 0)
        level = 0;
    if (level > 4)
        level = 4;
    return mode == LSC_CHART_ASCII ? (uint32_t)asc[level] : uni[level];
}

/* ---- shared geometry ------------------------------------------------------------------------------- */

typedef struct plot {
    int x0, y0, w, h; /* plot area in cells */
    double lo, hi;    /* y range (log10 decades or 0..1) */
    int log;
} plot;

static double yfrac(const plot *p, double v)
{
    double t;
    if (p->log) {
        if (!(v > 0))
            return 0;
        t = (log10(v) - p->lo) / (p->hi - p->lo);
    } else {
        t = (v - p->lo) / (p->hi - p->lo);
    }
    return t < 0 ? 0 : t > 1 ? 1 : t;
}

/* Row of a value in the plot, 0 at the top. */
static int yrow(const plot *p, double v) { return p->y0 + (p->h - 1) - (int)lround(yfrac(p, v) * (p->h - 1)); }

static void axes(lsc_canvas *cv, const plot *p, lsc_chart_mode mode, size_t n)
{
    int uni = mode != LSC_CHART_ASCII;
    for (int y = p->y0; y < p->y0 + p->h; y++)
        put(cv, p->x0 - 1, y, uni ? 0x2502 : '|', LSC_CROLE_AXIS);
    int ya = p->y0 + p->h;
    put(cv, p->x0 - 1, ya, uni ? 0x2514 : '+', LSC_CROLE_AXIS);
    for (int x = p->x0; x < p->x0 + p->w; x++)
        put(cv, x, ya, uni ? 0x2500 : '-', LSC_CROLE_AXIS);
    /* x tick labels: 1, n and a few round steps between, where they fit */
    if (n == 0)
        return;
    int last_end = p->x0 - 2;
    size_t step = 1;
    while ((double)n / (double)step > (double)p->w / 4.0)
        step = step == 1 ? 2 : step == 2 ? 4 : step == 4 ? 8 : step * 2;
    for (size_t i = 1; i <= n; i = (i == 1 && step > 1) ? step : i + step) {
        int x = p->x0 + (int)(((double)i - 0.5) * p->w / (double)n);
        char lab[16];
        int len = snprintf(lab, sizeof lab, "%zu", i);
        int lx = x - (len - 1) / 2;
        if (lx <= last_end + 1 || lx + len > p->x0 + p->w + 1)
            continue;
        put(cv, x, ya, uni ? 0x252C : '+', LSC_CROLE_AXIS);
        lsc_canvas_text(cv, lx, ya + 1, lab, LSC_CROLE_LABEL);
        last_end = lx + len - 1;
    }
}

static void ytick(lsc_canvas *cv, const plot *p, int row, const char *lab, lsc_chart_mode mode)
{
    lsc_canvas_cell *c = cell(cv, p->x0 - 2, row);
    if (c && c->role == LSC_CROLE_LABEL)
        return; /* the row already carries a label */
    int len = (int)strlen(lab);
    lsc_canvas_text(cv, p->x0 - 1 - len, row, lab, LSC_CROLE_LABEL);
    put(cv, p->x0 - 1, row, mode != LSC_CHART_ASCII ? 0x2524 : '+', LSC_CROLE_AXIS);
}

/* ---- series drawing -------------------------------------------------------------------------------- */

static const unsigned char k_braille_bit[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};

static void braille_dot(lsc_canvas *cv, const plot *p, int px, int py, int series)
{
    /* px in [0, 2w), py in [0, 4h) from the top */
    if (px < 0 || py < 0 || px >= p->w * 2 || py >= p->h * 4)
        return;
    lsc_canvas_cell *c = cell(cv, p->x0 + px / 2, p->y0 + py / 4);
    if (!c)
        return;
    unsigned char bit = k_braille_bit[px % 2][py % 4];
    if (series == 0)
        c->dots_a |= bit;
    else
        c->dots_b |= bit;
    c->cp = 0x2800u + (uint32_t)(c->dots_a | c->dots_b);
    c->role = (unsigned char)(c->dots_a && c->dots_b ? LSC_CROLE_BOTH : c->dots_a ? LSC_CROLE_A : LSC_CROLE_B);
}

static void braille_line(lsc_canvas *cv, const plot *p, int x0, int y0, int x1, int y1, int series)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (;;) {
        braille_dot(cv, p, x0, y0, series);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy)
            e += dy, x0 += sx;
        if (e2 <= dx)
            e += dx, y0 += sy;
    }
}

/* Centre x of value i (0-based) in braille pixels and in cells. */
static int px_of(const plot *p, size_t i, size_t n) { return (int)(((double)i + 0.5) * p->w * 2 / (double)n); }
static int cx_of(const plot *p, size_t i, size_t n) { return p->x0 + (int)(((double)i + 0.5) * p->w / (double)n); }

static void series_braille(lsc_canvas *cv, const plot *p, const double *v, size_t n, int series)
{
    int ph = p->h * 4;
    int lx = 0, ly = 0;
    for (size_t i = 0; i < n; i++) {
        int x = px_of(p, i, n);
        int y = (ph - 1) - (int)lround(yfrac(p, v[i]) * (ph - 1));
        if (i == 0)
            braille_dot(cv, p, x, y, series);
        else
            braille_line(cv, p, lx, ly, x, y, series);
        lx = x;
        ly = y;
    }
}

/* Whether bars of n values leave a blank column after each bar: when every bar is at least 3 columns
 * wide. Decided once for the chart (by the narrowest bar), so the gaps are all alike even where the
 * columns do not divide evenly among the values. */
static int bar_gap(const plot *p, size_t n) { return n > 0 && p->w / (int)(n < 100000 ? n : 100000) >= 3; }

static void series_bars(lsc_canvas *cv, const plot *p, const double *v, size_t n, lsc_chart_mode mode,
                        lsc_chart_role role, int mark_a, int mark_b)
{
    int gap = bar_gap(p, n);
    static const uint32_t eighths[9] = {' ', 0x2581, 0x2582, 0x2583, 0x2584, 0x2585, 0x2586, 0x2587, 0x2588};
    for (size_t i = 0; i < n; i++) {
        int xa = p->x0 + (int)((double)i * p->w / (double)n);
        int xb = p->x0 + (int)((double)(i + 1) * p->w / (double)n);
        if (gap)
            xb--; /* a gap between wide bars */
        if (xb <= xa)
            xb = xa + 1;
        lsc_chart_role rl = ((int)i + 1 == mark_a || (int)i + 1 == mark_b) ? LSC_CROLE_MARK : role;
        double f = yfrac(p, v[i]);
        for (int x = xa; x < xb && x < p->x0 + p->w; x++) {
            if (mode == LSC_CHART_ASCII) {
                int hcells = (int)lround(f * p->h);
                if (hcells == 0 && v[i] > 0)
                    hcells = 1;
                for (int k = 0; k < hcells; k++)
                    put(cv, x, p->y0 + p->h - 1 - k, rl == LSC_CROLE_MARK ? '=' : '#', rl);
            } else {
                int e = (int)lround(f * p->h * 8);
                if (e == 0 && v[i] > 0)
                    e = 1;
                for (int k = 0; e > 0; k++, e -= 8)
                    put(cv, x, p->y0 + p->h - 1 - k, eighths[e >= 8 ? 8 : e], rl);
            }
        }
    }
}

/* ---- charts ---------------------------------------------------------------------------------------- */

static int make_plot(lsc_chart_rect r, plot *p)
{
    if (r.w < 12 || r.h < 4)
        return -1;
    p->x0 = r.x + LABEL_W + 1;
    p->y0 = r.y;
    p->w = r.w - LABEL_W - 1;
    p->h = r.h - 2;
    return 0;
}

void lsc_chart_spectrum(lsc_canvas *cv, lsc_chart_rect r, lsc_chart_mode mode, const double *sv, size_t n,
                        const double *sv2, size_t n2)
{
    plot p = {0};
    if (make_plot(r, &p) != 0)
        return;
    if (n == 0 && n2 == 0) {
        lsc_canvas_text(cv, p.x0, p.y0 + p.h / 2, "no singular values", LSC_CROLE_LABEL);
        return;
    }
    double mx = 0, mn = INFINITY;
    for (int s = 0; s < 2; s++) {
        const double *v = s ? sv2 : sv;
        size_t k = s ? n2 : n;
        for (size_t i = 0; v && i < k; i++) {
            if (v[i] > mx)
                mx = v[i];
            if (v[i] > 0 && v[i] < mn)
                mn = v[i];
        }
    }
    if (!(mx > 0)) {
        lsc_canvas_text(cv, p.x0, p.y0 + p.h / 2, "all singular values are zero", LSC_CROLE_LABEL);
        return;
    }
    p.log = 1;
    p.hi = ceil(log10(mx) - 1e-12);
    p.lo = floor(log10(mn) + 1e-12);
    if (p.hi <= p.lo)
        p.lo = p.hi - 1;
    size_t nx = n > n2 ? n : n2;
    axes(cv, &p, mode, nx);
    /* ticks at powers of ten, skipping any that would touch the previous label */
    int decades = (int)(p.hi - p.lo);
    int every = 1;
    while (decades / every + 1 > (p.h + 1) / 2 + 1)
        every++;
    for (int d = (int)p.hi; d >= (int)p.lo; d -= every) {
        char lab[16];
        snprintf(lab, sizeof lab, "1e%d", d);
        ytick(cv, &p, yrow(&p, pow(10.0, d)), lab, mode);
    }
    if (sv2) {
        if (mode == LSC_CHART_ASCII) {
            for (int s = 0; s < 2; s++) {
                const double *v = s ? sv2 : sv;
                size_t k = s ? n2 : n;
                for (size_t i = 0; i < k; i++) {
                    lsc_canvas_cell *c = cell(cv, cx_of(&p, i, nx), yrow(&p, v[i]));
                    if (!c)
                        continue;
                    if (s == 1 && c->role == LSC_CROLE_A)
                        c->cp = '@', c->role = LSC_CROLE_BOTH;
                    else
                        c->cp = s ? 'o' : '*', c->role = (unsigned char)(s ? LSC_CROLE_B : LSC_CROLE_A);
                }
            }
        } else {
            series_braille(cv, &p, sv, n, 0);
            series_braille(cv, &p, sv2, n2, 1);
        }
    } else if (mode == LSC_CHART_BRAILLE) {
        series_braille(cv, &p, sv, n, 0);
    } else {
        series_bars(cv, &p, sv, n, mode, LSC_CROLE_A, 0, 0);
    }
}

void lsc_chart_energy(lsc_canvas *cv, lsc_chart_rect r, lsc_chart_mode mode, const double *sv, size_t n, int k90,
                      int k99)
{
    plot p = {0};
    if (make_plot(r, &p) != 0)
        return;
    if (n == 0) {
        lsc_canvas_text(cv, p.x0, p.y0 + p.h / 2, "no singular values", LSC_CROLE_LABEL);
        return;
    }
    double *e = malloc(n * sizeof *e), tot = 0;
    if (!e)
        return;
    /* relative to sigma_1 (the largest): squares of sigmas near 1e306 (lora_alpha 1e308) would overflow */
    const double s1 = sv[0] > 0 ? sv[0] : 1.0;
    for (size_t i = 0; i < n; i++)
        tot += (sv[i] / s1) * (sv[i] / s1);
    double c = 0;
    for (size_t i = 0; i < n; i++) {
        c += (sv[i] / s1) * (sv[i] / s1);
        e[i] = tot > 0 ? c / tot : 0;
    }
    p.log = 0;
    p.lo = 0;
    p.hi = 1;
    p.y0 += 1; /* the top row carries the k labels */
    p.h -= 1;
    if (p.h < 2) {
        free(e);
        return;
    }
    axes(cv, &p, mode, n);
    /* guides at 90% and 99% (only where the rows differ from 100%) */
    int uni = mode != LSC_CHART_ASCII;
    int r100 = yrow(&p, 1.0), r90 = yrow(&p, 0.9), r99 = yrow(&p, 0.99), r0 = yrow(&p, 0), r50 = yrow(&p, 0.5);
    for (int x = p.x0; x < p.x0 + p.w; x++) {
        put(cv, x, r90, uni ? 0x2508 : '.', LSC_CROLE_DIM);
        if (r99 != r100 && r99 != r90)
            put(cv, x, r99, uni ? 0x2508 : '.', LSC_CROLE_DIM);
    }
    ytick(cv, &p, r100, "100%", mode);
    ytick(cv, &p, r0, "0%", mode);
    ytick(cv, &p, r90, "90%", mode);
    ytick(cv, &p, r99, "99%", mode);
    ytick(cv, &p, r50, "50%", mode);
    if (mode == LSC_CHART_BRAILLE) {
        series_braille(cv, &p, e, n, 0);
        for (int s = 0; s < 2; s++) { /* marks: a vertical dotted line at the k column */
            int k = s ? k99 : k90;
            if (k < 1 || (size_t)k > n)
                continue;
            int x = cx_of(&p, (size_t)k - 1, n);
            for (int y = yrow(&p, e[k - 1]) + 1; y < p.y0 + p.h; y++) {
                lsc_canvas_cell *cc = cell(cv, x, y);
                if (cc && cc->role != LSC_CROLE_A)
                    put(cv, x, y, 0x250A, LSC_CROLE_MARK);
            }
        }
    } else {
        series_bars(cv, &p, e, n, mode, LSC_CROLE_A, k90, k99);
    }
    /* labels at the top of the k columns */
    char lab[32];
    int lx = p.x0;
    if (k90 >= 1 && (size_t)k90 <= n) {
        snprintf(lab, sizeof lab, "k90=%d", k90);
        lsc_canvas_text(cv, lx, r.y, lab, LSC_CROLE_MARK);
        lx += (int)strlen(lab) + 2;
    }
    if (k99 >= 1 && (size_t)k99 <= n) {
        snprintf(lab, sizeof lab, "k99=%d", k99);
        lsc_canvas_text(cv, lx, r.y, lab, LSC_CROLE_MARK);
    }
    free(e);
}

void lsc_chart_cut(lsc_canvas *cv, lsc_chart_rect r, lsc_chart_mode mode, size_t n, size_t k)
{
    plot p = {0};
    if (make_plot(r, &p) != 0 || n == 0 || k >= n)
        return;
    int xcut = p.x0 + (int)((double)k * p.w / (double)n); /* first column of value k (0-based) */
    for (int y = p.y0; y < p.y0 + p.h; y++)
        for (int x = xcut; x < p.x0 + p.w; x++) {
            lsc_canvas_cell *c = cell(cv, x, y);
            if (!c || c->role != LSC_CROLE_A)
                continue;
            c->role = LSC_CROLE_DIM;
            if (mode == LSC_CHART_ASCII && c->cp == '#')
                c->cp = ':';
        }
    /* the line sits in the gap column of the last kept bar when it has one (as series_bars draws them),
     * else on value k's column wherever that is empty */
    int xl = k >= 1 && bar_gap(&p, n) ? xcut - 1 : xcut;
    for (int y = p.y0; y < p.y0 + p.h; y++) {
        lsc_canvas_cell *c = cell(cv, xl, y);
        if (c && c->role == LSC_CROLE_NONE)
            put(cv, xl, y, mode == LSC_CHART_ASCII ? '|' : 0x250A, LSC_CROLE_MARK);
    }
}

/* ---- line charts over x (kind curves, training loss) ------------------------------------------------ */

static double nice_step(double span, int max_ticks)
{
    if (!(span > 0) || max_ticks < 1)
        return 1;
    double raw = span / max_ticks, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

void lsc_chart_lines(lsc_canvas *cv, lsc_chart_rect r, lsc_chart_mode mode, const double *x, const double *a,
                     const double *b, size_t n, double x_max, double hline, int logy)
{
    plot p = {0};
    if (make_plot(r, &p) != 0)
        return;
    if (n == 0 && !isfinite(hline)) {
        lsc_canvas_text(cv, p.x0, p.y0 + p.h / 2, "no values yet", LSC_CROLE_LABEL);
        return;
    }
    double xlo = x && n && x[0] < 1 ? x[0] : 1, xhi = x_max > 0 ? x_max : x && n ? x[n - 1] : (double)n;
    if (!(xhi > xlo))
        xhi = xlo + 1;
    double mx = -INFINITY, mn = INFINITY, mnpos = INFINITY;
    for (int s = 0; s < 3; s++)
        for (size_t i = 0; i < (s == 2 ? 1 : n); i++) {
            double v = s == 0 ? (a ? a[i] : NAN) : s == 1 ? (b ? b[i] : NAN) : hline;
            if (!isfinite(v))
                continue;
            mx = v > mx ? v : mx;
            mn = v < mn ? v : mn;
            if (v > 0 && v < mnpos)
                mnpos = v;
        }
    int uni = mode != LSC_CHART_ASCII;
    p.log = logy;
    if (logy) {
        if (!(mx > 0)) {
            lsc_canvas_text(cv, p.x0, p.y0 + p.h / 2, "no positive values", LSC_CROLE_LABEL);
            return;
        }
        p.hi = ceil(log10(mx) - 1e-12);
        p.lo = floor(log10(mnpos) + 1e-12);
        if (p.hi <= p.lo)
            p.lo = p.hi - 1;
    } else {
        p.lo = mn < 0 ? mn : 0;
        p.hi = mx > p.lo ? p.lo + (mx - p.lo) * 1.05 : p.lo + 1;
    }
    /* axes, x ticks at round values */
    for (int y = p.y0; y < p.y0 + p.h; y++)
        put(cv, p.x0 - 1, y, uni ? 0x2502 : '|', LSC_CROLE_AXIS);
    int ya = p.y0 + p.h;
    put(cv, p.x0 - 1, ya, uni ? 0x2514 : '+', LSC_CROLE_AXIS);
    for (int xx = p.x0; xx < p.x0 + p.w; xx++)
        put(cv, xx, ya, uni ? 0x2500 : '-', LSC_CROLE_AXIS);
    double step = nice_step(xhi - xlo, p.w / 8 > 1 ? p.w / 8 : 1);
    int last_end = p.x0 - 2;
    for (double v = ceil(xlo / step) * step; v <= xhi + 1e-9 * step; v += step) {
        double tv = v < xlo ? xlo : v;
        int cx = p.x0 + (int)lround((tv - xlo) / (xhi - xlo) * (p.w - 1));
        char lab[24];
        int len = snprintf(lab, sizeof lab, "%g", tv);
        int lx = cx - (len - 1) / 2;
        if (lx < p.x0 - 1)
            lx = p.x0 - 1;
        if (lx + len > r.x + r.w) /* the last label ends at the edge */
            lx = r.x + r.w - len;
        if (lx <= last_end + 1)
            continue;
        put(cv, cx, ya, uni ? 0x252C : '+', LSC_CROLE_AXIS);
        lsc_canvas_text(cv, lx, ya + 1, lab, LSC_CROLE_LABEL);
        last_end = lx + len - 1;
    }
    /* y ticks */
    if (logy) {
        int decades = (int)(p.hi - p.lo), every = 1;
        while (decades / every + 1 > (p.h + 1) / 2 + 1)
            every++;
        for (int d = (int)p.hi; d >= (int)p.lo; d -= every) {
            char lab[16];
            snprintf(lab, sizeof lab, "1e%d", d);
            ytick(cv, &p, yrow(&p, pow(10.0, d)), lab, mode);
        }
    } else {
        double ys = nice_step(p.hi - p.lo, p.h / 2 > 1 ? p.h / 2 : 1);
        for (double v = ceil(p.lo / ys) * ys; v <= p.hi + 1e-9 * ys; v += ys) {
            char lab[16];
            snprintf(lab, sizeof lab, "%.3g", fabs(v) < 1e-12 * ys ? 0.0 : v);
            if ((int)strlen(lab) <= LABEL_W)
                ytick(cv, &p, yrow(&p, v), lab, mode);
        }
    }
    /* the guide, under the series */
    if (isfinite(hline) && (!logy || hline > 0)) {
        int hy = yrow(&p, hline);
        for (int xx = p.x0; xx < p.x0 + p.w; xx += 1)
            if ((xx - p.x0) % 2 == 0)
                put(cv, xx, hy, uni ? 0x2504 : '-', LSC_CROLE_MARK);
    }
    for (int s = 0; s < 2; s++) {
        const double *v = s ? b : a;
        if (!v)
            continue;
        int lx = 0, ly = 0, have = 0;
        for (size_t i = 0; i < n; i++) {
            double xv = x ? x[i] : (double)(i + 1);
            if (!isfinite(v[i]))
                continue;
            double fx = (xv - xlo) / (xhi - xlo);
            fx = fx < 0 ? 0 : fx > 1 ? 1 : fx;
            if (uni) {
                int px = (int)lround(fx * (p.w * 2 - 1)), ph = p.h * 4;
                int py = (ph - 1) - (int)lround(yfrac(&p, v[i]) * (ph - 1));
                if (have)
                    braille_line(cv, &p, lx, ly, px, py, s);
                else
                    braille_dot(cv, &p, px, py, s);
                lx = px, ly = py, have = 1;
            } else {
                lsc_canvas_cell *c = cell(cv, p.x0 + (int)lround(fx * (p.w - 1)), yrow(&p, v[i]));
                if (!c)
                    continue;
                if (s == 1 && c->role == LSC_CROLE_A)
                    c->cp = '@', c->role = LSC_CROLE_BOTH;
                else
                    c->cp = s ? 'o' : '*', c->role = (unsigned char)(s ? LSC_CROLE_B : LSC_CROLE_A);
            }
        }
    }
}

void lsc_chart_xmark(lsc_canvas *cv, lsc_chart_rect r, lsc_chart_mode mode, const double *x, size_t n, double x_max,
                     double xv)
{
    plot p = {0};
    if (make_plot(r, &p) != 0 || n == 0 || !isfinite(xv))
        return;
    /* the x range lsc_chart_lines uses */
    double xlo = x && x[0] < 1 ? x[0] : 1, xhi = x_max > 0 ? x_max : x ? x[n - 1] : (double)n;
    if (!(xhi > xlo))
        xhi = xlo + 1;
    double fx = (xv - xlo) / (xhi - xlo);
    fx = fx < 0 ? 0 : fx > 1 ? 1 : fx;
    int cx = p.x0 + (int)lround(fx * (p.w - 1));
    for (int y = p.y0; y < p.y0 + p.h; y += 2) {
        lsc_canvas_cell *c = cell(cv, cx, y);
        if (c && c->role == LSC_CROLE_NONE)
            c->cp = mode != LSC_CHART_ASCII ? 0x2506 : ':', c->role = LSC_CROLE_MARK;
    }
}
