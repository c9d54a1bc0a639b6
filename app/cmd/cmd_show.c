/* cmd_show.c: `lorascope show NAME [--layers GLOB] [--sort COLUMN] [--json]`: an adapter's summary and
 * its per-layer table. Statistics come from the catalog's cache (computed at import), so show on a
 * stored adapter does no linear algebra; a layer missing from the cache is computed on the fly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "figure.h"
#include "pool.h"
#include "layername.h"
#include "handlers.h"
#include "numfmt.h"
#include "table.h"
#include "series_figs.h"
#include "tasks.h"
#include "kind_figures.h"
#include "basework.h"

typedef struct row {
    size_t li;
    lsc_layer_stats st;
    lsc_basefig fig; /* with --base */
} row;

static const char *const sort_keys[] = {"layer", "name", "rank", "alpha", "scale", "norm", "sigma1",
                                        "stable", "erank", "k90", "k99", "zeros", NULL};

static const lsc_adapter *g_ad; /* qsort has no context argument */
static int g_key;
static size_t *g_rank; /* g_rank[li]: the layer's place in natural name order */

static double key_value(const row *r)
{
    const lsc_layer *l = &g_ad->layers[r->li];
    switch (g_key) {
    case 2: return l->rank;
    case 3: return l->alpha;
    case 4: return l->scale;
    case 5: return r->st.fro;
    case 6: return r->st.spectral;
    case 7: return r->st.stable_rank;
    case 8: return r->st.effective_rank;
    case 9: return r->st.energy_rank_90;
    case 10: return r->st.energy_rank_99;
    case 11: return r->st.zeros_a + r->st.zeros_b;
    default: return 0;
    }
}

static int cmp_rows(const void *pa, const void *pb)
{
    const row *a = pa, *b = pb;
    if (g_key == 0 || g_key == 1) /* "layer" and "name": natural order of the names (layers.2 before layers.10) */
        return (g_rank[a->li] > g_rank[b->li]) - (g_rank[a->li] < g_rank[b->li]);
    double va = key_value(a), vb = key_value(b);
    if (va != vb)
        return va < vb ? 1 : -1; /* numbers: largest first */
    return (a->li > b->li) - (a->li < b->li);
}

/* The name shown in text tables and JSON: one display name for every command (layername.h). */
static const char *short_name(const char *name)
{
    return lsc_layername_display(name);
}

/* "12.5%/0.0%": the exact-zero fractions of A and B, by the one percentage rule (numfmt.h). */
static const char *zeros_text(char *buf, size_t cap, const lsc_layer_stats *st)
{
    char a[32], b[32];
    snprintf(buf, cap, "%s/%s", lsc_fmt_pct(a, sizeof a, st->zeros_a, 1), lsc_fmt_pct(b, sizeof b, st->zeros_b, 1));
    return buf;
}

static void flags_text(char *buf, size_t cap, const lsc_layer *l, const lsc_layer_stats *st)
{
    buf[0] = '\0';
    struct { unsigned bit; const char *txt; } f[] = {{LSC_LAYER_FAN_IN_FAN_OUT, "T"}, {LSC_LAYER_CONV, "conv"},
                                                     {LSC_LAYER_EMBEDDING, "emb"}, {LSC_LAYER_DORA, "dora"},
                                                     {LSC_LAYER_ADALORA, "ada"}, {LSC_LAYER_LOHA, "loha"},
                                                     {LSC_LAYER_LOKR, "lokr"}, {LSC_LAYER_TUCKER, "tucker"}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (l->flags & f[i].bit) {
            strncat(buf, buf[0] ? "," : "", cap - strlen(buf) - 1);
            strncat(buf, f[i].txt, cap - strlen(buf) - 1);
        }
    if (st->flags & LSC_STATS_NONFINITE) {
        strncat(buf, buf[0] ? "," : "", cap - strlen(buf) - 1);
        strncat(buf, "NaN!", cap - strlen(buf) - 1);
    }
    if (st->flags & LSC_STATS_ZERO) {
        strncat(buf, buf[0] ? "," : "", cap - strlen(buf) - 1);
        strncat(buf, "zero", cap - strlen(buf) - 1);
    }
}

static json_t *layer_json(const lsc_adapter *ad, const row *r)
{
    const lsc_layer *l = &ad->layers[r->li];
    const lsc_layer_stats *st = &r->st;
    json_t *sv = json_array();
    for (int i = 0; i < st->n_sv; i++)
        json_array_append_new(sv, lsc_json_num(st->sv[i]));
    json_t *o = lsc_json_layer_name(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:o, s:s, s:o}", "name", l->name,
                                              "module_type", l->module_type ? l->module_type : "", "layer_index",
                                              (json_int_t)l->layer_index, "rows", (json_int_t)l->rows, "cols",
                                              (json_int_t)l->cols, "rank", (json_int_t)l->rank, "dtype",
                                              lsc_layer_dtype(ad, l), "alpha", lsc_json_num(l->alpha), "scale_rule",
                                              lsc_scale_rule_name(l->rule), "scale", lsc_json_num(l->scale)),
                                    l->name);
    json_object_set_new(o, "norm", lsc_json_num(st->fro));
    json_object_set_new(o, "sv", sv);
    json_object_set_new(o, "spectral_norm", lsc_json_num(st->spectral));
    json_object_set_new(o, "nuclear_norm", lsc_json_num(st->nuclear));
    json_object_set_new(o, "stable_rank", lsc_json_num(st->stable_rank));
    json_object_set_new(o, "effective_rank", lsc_json_num(st->effective_rank));
    json_object_set_new(o, "energy_rank_90", json_integer(st->energy_rank_90));
    json_object_set_new(o, "energy_rank_99", json_integer(st->energy_rank_99));
    json_object_set_new(o, "numerical_rank", json_integer(st->numerical_rank));
    json_object_set_new(o, "balance", lsc_json_num(st->balance));
    json_object_set_new(o, "zeros_a", lsc_json_num(st->zeros_a));
    json_object_set_new(o, "zeros_b", lsc_json_num(st->zeros_b));
    json_object_set_new(o, "near_zeros_a", lsc_json_num(st->near_zeros_a));
    json_object_set_new(o, "near_zeros_b", lsc_json_num(st->near_zeros_b));
    json_object_set_new(o, "nonfinite", json_integer(st->nonfinite_a + st->nonfinite_b));
    json_t *fl = json_array();
    const char *names[] = {"fan_in_fan_out", "conv", "embedding", "dora", "adalora"};
    for (int i = 0; i < 5; i++)
        if (l->flags & (1u << i))
            json_array_append_new(fl, json_string(names[i]));
    json_object_set_new(o, "flags", fl);
    return o;
}

static void print_summary(lsc_cmd_ctx *ctx, const lsc_adapter *ad, const row *rows, size_t n)
{
    char b1[64], b2[64], shown[512], base[512];
    lsc_out(ctx->out, "%s  (%s, %s)  base: %s\n", lsc_escape_name(shown, sizeof shown, ad->name), ad->kind,
            ad->format, ad->base_model && *ad->base_model ? lsc_escape_name(base, sizeof base, ad->base_model) : "?");
    size_t extras = 0;
    for (size_t i = 0; i < ad->n_tensors; i++)
        extras += ad->tensors[i].role == LSC_ROLE_EXTRA;
    lsc_out(ctx->out, "%zu layers, %s params, %s", ad->n_layers, lsc_human_count(b1, sizeof b1, (double)lsc_adapter_params(ad)),
            lsc_human_bytes(b2, sizeof b2, (double)lsc_adapter_bytes(ad)));
    if (extras)
        lsc_out(ctx->out, ", %zu extra tensor(s) kept", extras);
    if (ad->format && strcmp(ad->format, "cloneofsimo") == 0)
        lsc_out(ctx->out, "\nnote: a cloneofsimo file holds no module paths: layers are named <part>:<i>, the i-th "
                          "module the trainer adapted");
    lsc_out(ctx->out, "\nranks:");
    /* rank histogram over all layers, smallest rank first */
    int ranks[64], counts[64], nr = 0;
    for (size_t i = 0; i < ad->n_layers; i++) {
        int r = ad->layers[i].rank, k = 0;
        while (k < nr && ranks[k] != r)
            k++;
        if (k == nr && nr < 64) {
            ranks[nr] = r;
            counts[nr++] = 0;
        }
        if (k < nr)
            counts[k]++;
    }
    for (int a = 0; a < nr; a++)
        for (int b = a + 1; b < nr; b++)
            if (ranks[b] < ranks[a]) {
                int t = ranks[a]; ranks[a] = ranks[b]; ranks[b] = t;
                t = counts[a]; counts[a] = counts[b]; counts[b] = t;
            }
    for (int a = 0; a < nr; a++)
        lsc_out(ctx->out, " r%d×%d", ranks[a], counts[a]);
    size_t best = n;
    for (size_t i = 0; i < n; i++)
        if (best == n || rows[i].st.fro > rows[best].st.fro)
            best = i;
    if (best < n)
        lsc_out(ctx->out, "   strongest: %s (norm %.4g)", lsc_escape_name(shown, sizeof shown, short_name(ad->layers[rows[best].li].name)),
                rows[best].st.fro);
    lsc_out(ctx->out, "\n");
    if (ad->warnings && *ad->warnings) { /* one line each, escaped */
        const char *w = ad->warnings;
        lsc_out(ctx->out, "warnings:");
        while (*w) {
            size_t n = strcspn(w, "\n");
            char line[LSC_ERROR_MSG_MAX], esc[LSC_ERROR_MSG_MAX];
            snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), w);
            lsc_out(ctx->out, " %s\n", lsc_escape_name(esc, sizeof esc, line));
            w += n + (w[n] == '\n');
        }
    }
    lsc_out(ctx->out, "\n");
}

typedef struct show_args {
    lsc_args base;
    const char *name, *glob, *svg;
    int json, sort, heat, vs_base, norms;
    long long k;
    double eps;
} show_args;

/* --heat: the per-layer figure the --svg heat map colours (a key of the --json layer objects) */
static const char *const heat_keys[] = {"norm", "rank", "sigma1", "stable", "erank", "k90", "k99", NULL};
static const char *const heat_fields[] = {"norm", "rank", "spectral_norm", "stable_rank", "effective_rank",
                                          "energy_rank_90", "energy_rank_99"};
static const char *const heat_legends[] = {"Frobenius norm of \xce\x94W", "rank", "spectral norm \xcf\x83\xe2\x82\x81",
                                           "stable rank", "effective rank", "k90 (rank for 90% energy)",
                                           "k99 (rank for 99% energy)"};

static const lsc_opt show_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(show_args, name)},
    {.name = "layers", .type = LSC_OPT_GLOB, .metavar = "GLOB", .at = offsetof(show_args, glob),
     .help = "only layers whose name matches (a glob; a plain word matches as a substring)"},
    {.name = "sort", .type = LSC_OPT_CHOICE, .metavar = "COLUMN", .choices = sort_keys, .def = "layer",
     .at = offsetof(show_args, sort),
     .help = "name, rank, alpha, scale, norm, sigma1, stable, erank, k90, k99, zeros (descending for numbers)"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(show_args, json),
     .help = "one object: name, format, kind, base_model, layers[...] with every statistic"},
    {.name = "svg", .type = LSC_OPT_PATH, .metavar = "FILE", .at = offsetof(show_args, svg),
     .help = "also draw a heat map of the layers over modules x blocks as an SVG figure"},
    {.name = "heat", .type = LSC_OPT_CHOICE, .metavar = "FIGURE", .choices = heat_keys, .def = "norm",
     .at = offsetof(show_args, heat), .help = "what the --svg heat map colours"},
    {.name = "base", .type = LSC_OPT_FLAG, .at = offsetof(show_args, vs_base),
     .help = "add figures against the recorded base weights W (see `base`): |W|, |dW|/|W|, amplification,\n"
             "subspace similarity with W's top-r and top-k, intruder dimensions of W + dW (W's top vectors:\n"
             "randomized range finder, k_ref + 10 columns, 3 power iterations, in float32 on F32/F16/BF16 bases,\n"
             "then one float64 projection that also gives W + dW's; layers over LSC_THREADS workers)"},
    {.name = "norms", .type = LSC_OPT_FLAG, .at = offsetof(show_args, norms),
     .help = "with --base: only |W| and |dW|/|W| (one streaming read per base tensor, no range finder;\n"
             "the same values as without --norms); --json gives per layer base_norm and rel_norm only"},
    {.name = "k", .type = LSC_OPT_INT, .metavar = "K", .ilo = 1, .ihi = 4096, .def = "10", .at = offsetof(show_args, k),
     .help = "with --base: top-k singular vectors for subspace similarity and intruders"},
    {.name = "eps", .type = LSC_OPT_REAL, .metavar = "E", .lo = 0, .hi = 1, .flags = LSC_OPT_LO_OPEN, .def = "0.5",
     .at = offsetof(show_args, eps), .help = "with --base: an intruder's largest |cos| with W's top vectors is below E"},
    {0}};

/* Between groups of layers: a terminal (or the workbench's progress bar) sees the layers go by. */
static int show_cancelled(void *vctx, size_t done, size_t n)
{
    lsc_cmd_ctx *ctx = vctx;
    if (ctx->diag->is_tty)
        lsc_out_ctl(ctx->diag, "\rshow --base: layer %zu/%zu\033[K", done + 1, n);
    return lsc_cmd_cancelled(ctx, "show");
}

/* Figures against the base for every row (--base): over the pool, one base tensor per worker in memory. */
static int base_figures(lsc_cmd_ctx *ctx, const show_args *av, lsc_adapter *ad, int64_t id, row *rows, size_t n)
{
    lsc_basework bw;
    lsc_basefig_opts o;
    lsc_basefig_opts_default(&o);
    o.k = (int)av->k;
    o.eps = av->eps;
    o.norms_only = av->norms;
    size_t *layers = malloc((n ? n : 1) * sizeof *layers);
    lsc_basefig *figs = calloc(n ? n : 1, sizeof *figs);
    lsc_status st = layers && figs ? lsc_basework_open(&bw, ctx->cat, ad, id, &ctx->err)
                                   : lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; layers && i < n; i++)
        layers[i] = rows[i].li;
    if (!st)
        st = lsc_basework_figures_all(&bw, ad, layers, n, &o, lsc_pool_default_threads(), show_cancelled, ctx, figs,
                                      &ctx->err);
    if (ctx->diag->is_tty)
        lsc_out_ctl(ctx->diag, "\r\033[K");
    for (size_t i = 0; !st && i < n; i++)
        rows[i].fig = figs[i];
    if (layers && figs)
        lsc_basework_release(&bw);
    free(layers);
    free(figs);
    return st ? LSC_EXIT_ERROR : LSC_EXIT_OK;
}

/* The figures against the base into a layer's JSON object (with --norms: the two norms alone). */
static void fig_json(json_t *o, const lsc_basefig *f, int norms)
{
    json_object_set_new(o, "base_norm", lsc_json_num(f->base_norm));
    json_object_set_new(o, "rel_norm", lsc_json_num(f->rel_norm));
    if (norms)
        return;
    json_object_set_new(o, "amplification", lsc_json_num(f->amplification));
    json_object_set_new(o, "subspace_sim", lsc_json_num(f->subspace_sim_r));
    json_object_set_new(o, "subspace_sim_k", lsc_json_num(f->subspace_sim_k));
    json_object_set_new(o, "k", json_integer(f->k));
    json_object_set_new(o, "k_ref", json_integer(f->k_ref)); /* intruders compare with W's top k_ref */
    json_object_set_new(o, "intruders", json_integer(f->intruders));
}

/* --svg: the heat map of the rows' figure over modules x blocks, drawn from their --json objects. */
static int draw_heatmap(lsc_cmd_ctx *ctx, const show_args *av, const lsc_adapter *ad, const row *rows, size_t n)
{
    json_t *layers = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(layers, layer_json(ad, &rows[i]));
    json_t *o = json_pack("{s:s, s:o}", "name", ad->name, "layers", layers);
    lsc_sink fig;
    lsc_sink_init_mem(&fig);
    lsc_figure_heatmap(&fig, o, heat_fields[av->heat], heat_legends[av->heat]);
    int rc = lsc_figure_write(ctx, av->svg, &fig);
    lsc_sink_release(&fig);
    json_decref(o);
    return rc;
}

static int show_run(lsc_cmd_ctx *ctx, void *args)
{
    const show_args *av = args;
    int json = ctx->json || av->json;
    const char *glob = av->glob;
    g_key = av->sort;
    lsc_adapter *ad = NULL;
    int64_t id = 0;
    if (av->norms && !av->vs_base)
        return lsc_usage_error(ctx, "show", "--norms goes with --base (the norms against the base weights)");
    if (lsc_cmd_load_any(ctx, av->name, &ad, &id))
        return LSC_EXIT_ERROR;
    if (lsc_is_group(ad->kind)) {
        lsc_adapter_free(ad);
        return lsc_tasks_show(ctx, av->name, id, glob, json);
    }
    if (lsc_is_series(ad->kind)) { /* a training run: its figures by step, as `series` prints them */
        lsc_adapter_free(ad);
        return lsc_series_show(ctx, av->name, id, glob, json);
    }
    row *rows = calloc(ad->n_layers + 1, sizeof(row));
    lsc_layer_stats *all = calloc(ad->n_layers + 1, sizeof *all);
    unsigned char *want = calloc(ad->n_layers + 1, 1);
    int rc = LSC_EXIT_OK;
    size_t n = 0;
    if (!rows || !all || !want) {
        free(rows);
        free(all);
        free(want);
        lsc_adapter_free(ad);
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        return lsc_fail(ctx, &ctx->err);
    }
    for (size_t li = 0; li < ad->n_layers; li++)
        want[li] = (unsigned char)lsc_name_matches(glob, ad->layers[li].name);
    /* every matching layer's figures, the uncached ones computed over the pool (same bytes for any count) */
    if (lsc_cmd_cancelled(ctx, "show") ||
        lsc_layer_stats_all(ctx->cat, ad, want, 0, lsc_pool_default_threads(), ctx->cancel, all, &ctx->err))
        rc = LSC_EXIT_ERROR;
    for (size_t li = 0; li < ad->n_layers; li++) {
        if (rc == LSC_EXIT_OK && want[li]) {
            rows[n].li = li;
            rows[n++].st = all[li];
        } else {
            lsc_stats_release(&all[li]);
        }
    }
    free(all);
    free(want);
    if (rc == LSC_EXIT_OK && av->vs_base)
        rc = base_figures(ctx, av, ad, id, rows, n);
    size_t *order = rc == LSC_EXIT_OK ? lsc_layername_order(ad) : NULL;
    g_rank = order ? malloc((ad->n_layers ? ad->n_layers : 1) * sizeof *g_rank) : NULL;
    if (rc == LSC_EXIT_OK && !g_rank) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        rc = LSC_EXIT_ERROR;
    }
    for (size_t i = 0; g_rank && i < ad->n_layers; i++)
        g_rank[order[i]] = i;
    free(order);
    if (rc == LSC_EXIT_OK) {
        g_ad = ad;
        qsort(rows, n, sizeof(row), cmp_rows);
        if (av->svg)
            rc = draw_heatmap(ctx, av, ad, rows, n);
        if (rc != LSC_EXIT_OK) {
        } else if (json) {
            json_t *layers = json_array();
            for (size_t i = 0; i < n; i++) {
                json_t *lj = layer_json(ad, &rows[i]);
                if (av->vs_base)
                    fig_json(lj, &rows[i].fig, av->norms);
                json_array_append_new(layers, lj);
            }
            json_t *extras = json_array();
            for (size_t i = 0; i < ad->n_tensors; i++) {
                const lsc_tensor *t = &ad->tensors[i];
                if (t->role != LSC_ROLE_EXTRA)
                    continue;
                json_t *shape = json_array();
                for (int d = 0; d < t->ndim; d++)
                    json_array_append_new(shape, json_integer(t->shape[d]));
                json_array_append_new(extras, json_pack("{s:s, s:s, s:o}", "key", t->key, "dtype",
                                                        lsc_dtype_name(t->dtype), "shape", shape));
            }
            json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "name", ad->name, "format", ad->format,
                                  "kind", ad->kind, "base_model", ad->base_model ? ad->base_model : "", "n_layers",
                                  (json_int_t)ad->n_layers, "params", (json_int_t)lsc_adapter_params(ad), "bytes",
                                  (json_int_t)lsc_adapter_bytes(ad));
            json_object_set_new(o, "layers", layers);
            json_object_set_new(o, "extras", extras);
            json_object_set_new(o, "warnings", json_string(ad->warnings ? ad->warnings : ""));
            json_t *kf = NULL;
            if (lsc_kind_figures(ctx, ad, glob, 0, &kf) != LSC_EXIT_OK)
                rc = LSC_EXIT_ERROR;
            else
                json_object_set_new(o, "kind_figures", kf);
            if (rc == LSC_EXIT_OK)
                lsc_json_print(ctx->out, o);
            json_decref(o);
        } else {
            print_summary(ctx, ad, rows, n);
            const char *hdr[] = {"LAYER", "SHAPE", "R", "ALPHA", "SCALE", "NORM", "σ1", "STABLE", "ERANK", "K90", "K99",
                                 "ZEROS A/B", "DTYPE", "FLAGS", "|W|", "|dW|/|W|", "AMP", "SIM", "SIM@K", "INTR"};
            int ncol = av->vs_base ? av->norms ? 16 : 20 : 14; /* --norms: |W| and |dW|/|W| only */
            lsc_table *t = lsc_table_new(ncol, hdr, "llrrrrrrrrrrllrrrrrr");
            char c1[64], c2[64], c3[64], c4[64], c5[64], c6[64], c7[64], c8[64], c9[64], c10[64], c11[64], c12[64],
                nm[512];
            for (size_t i = 0; t && i < n; i++) {
                const lsc_layer *l = &ad->layers[rows[i].li];
                const lsc_layer_stats *st = &rows[i].st;
                char f1[64], f2[64], f3[64], f4[64], f5[64], f6[64];
                const lsc_basefig *fg = &rows[i].fig;
                const char *cells[20] = {
                    lsc_escape_name(nm, sizeof nm, short_name(l->name)),
                    lsc_fmt(c1, sizeof c1, "%lld×%lld", (long long)l->rows, (long long)l->cols),
                    lsc_fmt(c2, sizeof c2, "%d", l->rank), lsc_fmt(c3, sizeof c3, "%g", l->alpha),
                    lsc_fmt(c4, sizeof c4, "%.4g", l->scale), lsc_fmt(c5, sizeof c5, "%.4g", st->fro),
                    lsc_fmt(c6, sizeof c6, "%.4g", st->spectral), lsc_fmt(c7, sizeof c7, "%.2f", st->stable_rank),
                    lsc_fmt(c8, sizeof c8, "%.2f", st->effective_rank),
                    lsc_fmt(c9, sizeof c9, "%d", st->energy_rank_90), lsc_fmt(c10, sizeof c10, "%d", st->energy_rank_99),
                    zeros_text(c11, sizeof c11, st),
                    lsc_layer_dtype(ad, l), c12,
                    lsc_fmt(f1, sizeof f1, "%.4g", fg->base_norm), lsc_fmt(f2, sizeof f2, "%.4g", fg->rel_norm),
                    lsc_fmt(f3, sizeof f3, "%.4g", fg->amplification), lsc_fmt(f4, sizeof f4, "%.3f", fg->subspace_sim_r),
                    lsc_fmt(f5, sizeof f5, "%.3f", fg->subspace_sim_k), lsc_fmt(f6, sizeof f6, "%d", fg->intruders)};
                flags_text(c12, sizeof c12, l, st);
                lsc_table_add(t, cells);
            }
            if (t)
                lsc_table_print(t, ctx->out);
            lsc_table_free(t);
            if (n == 0)
                lsc_out(ctx->out, "(no layer matches '%s')\n", lsc_escape_name(nm, sizeof nm, glob));
            json_t *kf = NULL;
            if (n > 0 && lsc_kind_figures(ctx, ad, glob, 1, &kf) != LSC_EXIT_OK)
                rc = LSC_EXIT_ERROR;
            json_decref(kf);
        }
    }
    for (size_t i = 0; i < ad->n_layers; i++)
        lsc_stats_release(&rows[i].st);
    free(g_rank);
    g_rank = NULL;
    free(rows);
    lsc_adapter_free(ad);
    return rc;
}

const lsc_cmd_spec lsc_spec_show = {show_opts, sizeof(show_args), NULL, show_run, ""};
