/* figure.c: the --svg figures (figure.h) built from the commands' JSON values and written atomically. */
#include "figure.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "layername.h"
#include "svg.h"

static double num(const json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN; /* null (n/a) stays a gap */
}

void lsc_figure_spectrum(lsc_sink *out, const char *adapter, const json_t *layers)
{
    size_t n = json_array_size(layers);
    lsc_svg_series *s = calloc(n ? n : 1, sizeof *s);
    double **ys = calloc(n ? n : 1, sizeof *ys);
    for (size_t i = 0; s && ys && i < n; i++) {
        const json_t *l = json_array_get(layers, i), *sv = json_object_get(l, "sv");
        size_t k = json_array_size(sv);
        ys[i] = calloc(k ? k : 1, sizeof **ys);
        for (size_t j = 0; ys[i] && j < k; j++)
            ys[i][j] = num(json_array_get(sv, j));
        s[i].label = json_string_value(json_object_get(l, "name"));
        s[i].y = ys[i];
        s[i].n = ys[i] ? k : 0;
    }
    char title[512];
    snprintf(title, sizeof title, "Singular values of %s", adapter);
    lsc_svg_chart c = {.title = title, .xlabel = "index i", .ylabel = "singular value \xcf\x83\xe1\xb5\xa2 (log)",
                       .log_y = 1, .series = s, .n_series = s ? n : 0};
    lsc_svg_line_chart(out, &c);
    for (size_t i = 0; ys && i < n; i++)
        free(ys[i]);
    free(ys);
    free(s);
}

void lsc_figure_diff(lsc_sink *out, const json_t *diff)
{
    const json_t *layers = json_object_get(diff, "layers");
    size_t n = json_array_size(layers);
    static const char *const fields[] = {"cosine", "subspace_in", "subspace_out"};
    static const char *const labels[] = {"cosine of \xce\x94W", "\xcf\x86 inputs (subspace)",
                                         "\xcf\x86 outputs (subspace)"};
    const char **names = calloc(n ? n : 1, sizeof *names);
    double *y = calloc(3 * (n ? n : 1), sizeof *y);
    lsc_svg_series s[3];
    double lo = 0;
    for (size_t i = 0; names && y && i < n; i++) {
        const json_t *l = json_array_get(layers, i);
        names[i] = json_string_value(json_object_get(l, "name"));
        for (int f = 0; f < 3; f++) {
            y[f * n + i] = num(json_object_get(l, fields[f]));
            if (y[f * n + i] < lo)
                lo = -1;
        }
    }
    for (int f = 0; f < 3; f++)
        s[f] = (lsc_svg_series){labels[f], NULL, y ? y + f * n : NULL, y ? n : 0};
    char title[512];
    snprintf(title, sizeof title, "%s vs %s", json_string_value(json_object_get(diff, "a")),
             json_string_value(json_object_get(diff, "b")));
    lsc_svg_chart c = {.title = title, .xlabel = "layer", .ylabel = "similarity", .x_names = names,
                       .n_x_names = names ? n : 0, .series = s, .n_series = y ? 3 : 0, .y_lo = lo, .y_hi = 1};
    lsc_svg_line_chart(out, &c);
    free(names);
    free(y);
}

void lsc_figure_series(lsc_sink *out, const json_t *series, const char *field, const char *label)
{
    const json_t *steps = json_object_get(series, "steps"), *layers = json_object_get(series, "layers");
    size_t S = json_array_size(steps), n = json_array_size(layers);
    double *x = calloc(S ? S : 1, sizeof *x), *y = calloc((S ? S : 1) * (n ? n : 1), sizeof *y);
    lsc_svg_series *s = calloc(n ? n : 1, sizeof *s);
    for (size_t j = 0; x && j < S; j++)
        x[j] = num(json_object_get(json_array_get(steps, j), "step"));
    for (size_t i = 0; x && y && s && i < n; i++) {
        const json_t *l = json_array_get(layers, i), *v = json_object_get(l, field);
        for (size_t j = 0; j < S; j++)
            y[i * S + j] = num(json_array_get(v, j));
        s[i] = (lsc_svg_series){json_string_value(json_object_get(l, "name")), x, y + i * S, S};
    }
    char title[512];
    snprintf(title, sizeof title, "%s of %s by step", label, json_string_value(json_object_get(series, "name")));
    lsc_svg_chart c = {.title = title, .xlabel = "training step", .ylabel = label, .series = s,
                       .n_series = x && y && s ? n : 0};
    lsc_svg_line_chart(out, &c);
    free(s);
    free(y);
    free(x);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* Distinct values: strings sorted, block numbers ascending. Returns the count. */
static size_t distinct_modules(const json_t *layers, const char **mods)
{
    size_t n = json_array_size(layers), k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *m = json_string_value(json_object_get(json_array_get(layers, i), "module_type"));
        m = m && *m ? m : "(other)";
        size_t j = 0;
        while (j < k && strcmp(mods[j], m) != 0)
            j++;
        if (j == k)
            mods[k++] = m;
    }
    qsort(mods, k, sizeof *mods, cmp_str);
    return k;
}

static size_t distinct_blocks(const json_t *layers, long long *blocks)
{
    size_t n = json_array_size(layers), k = 0;
    for (size_t i = 0; i < n; i++) {
        long long b = json_integer_value(json_object_get(json_array_get(layers, i), "layer_index"));
        size_t j = 0;
        while (j < k && blocks[j] != b)
            j++;
        if (j == k)
            blocks[k++] = b;
    }
    qsort(blocks, k, sizeof *blocks, cmp_ll);
    return k;
}

void lsc_figure_heatmap(lsc_sink *out, const json_t *show, const char *field, const char *legend)
{
    const json_t *layers = json_object_get(show, "layers");
    size_t n = json_array_size(layers), cap = n ? n : 1;
    const char **mods = calloc(cap, sizeof *mods);
    long long *blocks = calloc(cap, sizeof *blocks);
    size_t nm = mods ? distinct_modules(layers, mods) : 0, nb = blocks ? distinct_blocks(layers, blocks) : 0;
    double *v = malloc((nm ? nm : 1) * (nb ? nb : 1) * sizeof *v);
    char **cols = calloc(nb ? nb : 1, sizeof *cols);
    for (size_t i = 0; v && i < nm * nb; i++)
        v[i] = NAN;
    for (size_t i = 0; v && i < n; i++) {
        const json_t *l = json_array_get(layers, i);
        const char *m = json_string_value(json_object_get(l, "module_type"));
        m = m && *m ? m : "(other)";
        long long b = json_integer_value(json_object_get(l, "layer_index"));
        size_t r = 0, c = 0;
        while (r < nm && strcmp(mods[r], m) != 0)
            r++;
        while (c < nb && blocks[c] != b)
            c++;
        if (r < nm && c < nb) {
            double x = num(json_object_get(l, field));
            /* two layers of one module and block (conv and linear parts): the cell shows their sum */
            v[r * nb + c] = isnan(v[r * nb + c]) ? x : v[r * nb + c] + x;
        }
    }
    for (size_t c = 0; cols && c < nb; c++) {
        cols[c] = malloc(24);
        if (cols[c])
            snprintf(cols[c], 24, blocks[c] < 0 ? "-" : "%lld", blocks[c]);
    }
    char title[512];
    snprintf(title, sizeof title, "%s of %s by module and block", legend, json_string_value(json_object_get(show, "name")));
    lsc_svg_heatmap h = {title, "block", "module", legend, mods, (const char *const *)cols, v && cols ? nm : 0, nb, v};
    lsc_svg_heatmap_write(out, &h);
    for (size_t c = 0; cols && c < nb; c++)
        free(cols[c]);
    free(cols);
    free(v);
    free(blocks);
    free(mods);
}

int lsc_figure_write(lsc_cmd_ctx *ctx, const char *path, const lsc_sink *svg)
{
    char *resolved = NULL;
    if (lsc_target_check(path, LSC_TARGET_FILE, 1, ctx->cat ? lsc_catalog_file(ctx->cat) : NULL, &resolved,
                         &ctx->err))
        return LSC_EXIT_ERROR;
    lsc_atomic_file f;
    lsc_status st = lsc_atomic_begin(&f, resolved, &ctx->err);
    if (st == LSC_OK) {
        if (lsc_write_full(f.fd, svg->buf ? svg->buf : "", svg->len) != 0) {
            lsc_atomic_abort(&f);
            st = lsc_error_set(&ctx->err, LSC_ERR_IO, "cannot write '%s'", path);
        } else
            st = lsc_atomic_commit(&f, &ctx->err);
    }
    free(resolved);
    return st == LSC_OK ? LSC_EXIT_OK : LSC_EXIT_ERROR;
}
