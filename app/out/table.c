/* table.c: aligned text tables (see table.h). Widths count UTF-8 code points, not bytes. */
#include "table.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lsc_table {
    int ncols;
    char *align;
    char **cells; /* (rows + 1) * ncols, row 0 is the header */
    int rows;     /* data rows */
    int cap;      /* rows allocated including the header */
};

static size_t u8len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

lsc_table *lsc_table_new(int ncols, const char *const *headers, const char *align)
{
    lsc_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->align = strdup(align ? align : "");
    t->cap = 16;
    t->cells = calloc((size_t)t->cap * (size_t)ncols, sizeof(char *));
    if (!t->align || !t->cells) {
        lsc_table_free(t);
        return NULL;
    }
    for (int c = 0; c < ncols; c++)
        t->cells[c] = strdup(headers[c] ? headers[c] : "");
    return t;
}

int lsc_table_add(lsc_table *t, const char *const *cells)
{
    if (t->rows + 2 > t->cap) {
        int nc = t->cap * 2;
        char **p = realloc(t->cells, (size_t)nc * (size_t)t->ncols * sizeof(char *));
        if (!p)
            return -1;
        t->cells = p;
        t->cap = nc;
    }
    char **row = t->cells + (size_t)(t->rows + 1) * (size_t)t->ncols;
    for (int c = 0; c < t->ncols; c++)
        row[c] = strdup(cells[c] ? cells[c] : "");
    t->rows++;
    return 0;
}

const char *lsc_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return buf;
}

int lsc_table_rows(const lsc_table *t)
{
    return t->rows;
}

/* Append n bytes of src (or n spaces when src is NULL) to the line buffer; -1 on out of memory. */
static int line_put(char **line, size_t *len, size_t *cap, const char *src, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < *len + n + 1)
            nc *= 2;
        char *p = realloc(*line, nc);
        if (!p)
            return -1;
        *line = p;
        *cap = nc;
    }
    if (src)
        memcpy(*line + *len, src, n);
    else
        memset(*line + *len, ' ', n);
    *len += n;
    (*line)[*len] = '\0';
    return 0;
}

/* Each row is assembled in one buffer and written with one call (a sink call per cell and per pad made
 * the table most of `ls`'s time on 10,000 adapters); the bytes are those of the cells and pads in turn. */
void lsc_table_print(const lsc_table *t, lsc_sink *out)
{
    size_t *w = calloc((size_t)t->ncols, sizeof(size_t));
    if (!w)
        return;
    for (int r = 0; r <= t->rows; r++)
        for (int c = 0; c < t->ncols; c++) {
            size_t n = u8len(t->cells[(size_t)r * (size_t)t->ncols + (size_t)c]);
            if (n > w[c])
                w[c] = n;
        }
    size_t n_align = strlen(t->align), len = 0, cap = 0;
    char *line = NULL;
    int oom = 0;
    for (int r = 0; r <= t->rows && !oom; r++) {
        len = 0;
        for (int c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
            size_t pad = w[c] - u8len(cell);
            int right = n_align > (size_t)c && t->align[c] == 'r';
            int last = c == t->ncols - 1;
            if (c > 0)
                oom |= line_put(&line, &len, &cap, "  ", 2);
            if (right)
                oom |= line_put(&line, &len, &cap, NULL, pad);
            oom |= line_put(&line, &len, &cap, cell, strlen(cell));
            if (!right && !last)
                oom |= line_put(&line, &len, &cap, NULL, pad);
        }
        oom |= line_put(&line, &len, &cap, "\n", 1);
        if (!oom)
            lsc_out_str(out, line);
    }
    free(line);
    free(w);
}

void lsc_table_free(lsc_table *t)
{
    if (!t)
        return;
    if (t->cells)
        for (int r = 0; r <= t->rows; r++)
            for (int c = 0; c < t->ncols; c++)
                free(t->cells[(size_t)r * (size_t)t->ncols + (size_t)c]);
    free(t->cells);
    free(t->align);
    free(t);
}

const char *lsc_human_count(char *buf, size_t cap, double v)
{
    const char *units[] = {"", "K", "M", "G", "T"};
    int u = 0;
    while (v >= 1000.0 && u < 4) {
        v /= 1000.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v, units[u]);
    return buf;
}

const char *lsc_human_bytes(char *buf, size_t cap, double v)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%.0f B", v);
    else
        snprintf(buf, cap, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}
