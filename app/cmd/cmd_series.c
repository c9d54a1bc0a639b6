/* cmd_series.c: `lorascope series NAME [--layers GLOB] [--json] [--svg FILE [--figure FIG]]`: a training run imported as a series,
 * per layer and checkpoint step: norm, sigma_1, effective rank, k90 and the subspace similarity (phi,
 * input side) to the previous and to the final checkpoint (series_figs.h). parse -> compute -> print. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "figure.h"
#include "handlers.h"
#include "layername.h"
#include "series_figs.h"
#include "table.h"

typedef struct series_args {
    lsc_args base;
    const char *name, *glob, *svg;
    int json, figure;
} series_args;

/* --figure: the per-step figure the --svg chart draws (a key of the --json layer objects) */
static const char *const series_figures[] = {"norm", "sigma1", "erank", "k90", "sim-prev", "sim-final", NULL};
static const char *const series_fields[] = {"norm", "sigma1", "effective_rank", "k90", "sim_prev", "sim_final"};
static const char *const series_labels[] = {"Frobenius norm of \xce\x94W", "\xcf\x83\xe2\x82\x81", "effective rank",
                                            "k90 (rank for 90% energy)", "\xcf\x86 to the previous checkpoint",
                                            "\xcf\x86 to the final checkpoint"};

static const lsc_opt series_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(series_args, name),
     .help = "a series (a training run imported from checkpoint-N folders or kohya per-epoch files)"},
    {.name = "layers", .type = LSC_OPT_GLOB, .metavar = "GLOB", .at = offsetof(series_args, glob),
     .help = "only layers whose name matches"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(series_args, json),
     .help = "one object: name, steps[{step, label, adapter}], layers[{name, norm[], sigma1[],\n"
             "effective_rank[], k90[], sim_prev[], sim_final[]}] (one value per step; null where none)"},
    {.name = "svg", .type = LSC_OPT_PATH, .metavar = "FILE", .at = offsetof(series_args, svg),
     .help = "also draw one figure against the step (a line per layer) as an SVG figure"},
    {.name = "figure", .type = LSC_OPT_CHOICE, .metavar = "FIG", .choices = series_figures, .def = "norm",
     .at = offsetof(series_args, figure), .help = "what the --svg chart draws"},
    {0}};

static json_t *num_array(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t j = 0; j < n; j++)
        json_array_append_new(a, isnan(v[j]) ? json_null() : lsc_json_num(v[j]));
    return a;
}

static json_t *series_json(const char *name, const lsc_series_figs *F)
{
    size_t S = F->n_steps;
    json_t *steps = json_array(), *layers = json_array();
    for (size_t j = 0; j < S; j++)
        json_array_append_new(steps, json_pack("{s:I, s:s, s:s}", "step", (json_int_t)F->steps[j].step, "label",
                                               F->steps[j].label, "adapter", F->steps[j].member));
    for (size_t i = 0; i < F->n_layers; i++) {
        json_t *k90 = json_array();
        for (size_t j = 0; j < S; j++)
            json_array_append_new(k90, json_integer(F->k90[i * S + j]));
        json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "name", F->layers[i], "norm",
                              num_array(F->norm + i * S, S), "sigma1", num_array(F->sigma1 + i * S, S),
                              "effective_rank", num_array(F->erank + i * S, S), "k90", k90, "sim_prev",
                              num_array(F->sim_prev + i * S, S), "sim_final", num_array(F->sim_final + i * S, S));
        json_array_append_new(layers, lsc_json_layer_name(o, F->layers[i]));
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", name, "kind", "series", "layout", F->layout, "steps", steps,
                     "layers", layers);
}

static void print_json(lsc_cmd_ctx *ctx, const char *name, const lsc_series_figs *F)
{
    json_t *o = series_json(name, F);
    lsc_json_print(ctx->out, o);
    json_decref(o);
}

static const char *fig(char *buf, size_t cap, const char *fmt, double v)
{
    return isnan(v) ? "-" : lsc_fmt(buf, cap, fmt, v);
}

static void print_text(lsc_cmd_ctx *ctx, const char *name, const lsc_series_figs *F)
{
    size_t S = F->n_steps;
    char nm[512], b[7][64];
    lsc_out(ctx->out, "%s  (series, %zu checkpoints%s%s)\n\n", lsc_escape_name(nm, sizeof nm, name), S,
            *F->layout ? ", " : "", F->layout);
    lsc_out(ctx->out, "%10s  %s\n", "STEP", "CHECKPOINT");
    for (size_t j = 0; j < S; j++)
        lsc_out(ctx->out, "%10lld  %s\n", (long long)F->steps[j].step, lsc_escape_name(nm, sizeof nm, F->steps[j].member));
    lsc_out(ctx->out, "\n%-40s %10s %11s %11s %6s %4s %8s %9s\n", "LAYER", "STEP", "NORM", "SIGMA1", "ERANK", "K90",
            "SIM-PREV", "SIM-FINAL");
    for (size_t i = 0; i < F->n_layers; i++)
        for (size_t j = 0; j < S; j++) {
            size_t at = i * S + j;
            lsc_out(ctx->out, "%-40s %10lld %11s %11s %6s %4d %8s %9s\n",
                    j == 0 ? lsc_escape_name(nm, sizeof nm, lsc_layername_display(F->layers[i])) : "",
                    (long long)F->steps[j].step, fig(b[0], sizeof b[0], "%.5g", F->norm[at]),
                    fig(b[1], sizeof b[1], "%.5g", F->sigma1[at]), fig(b[2], sizeof b[2], "%.2f", F->erank[at]),
                    F->k90[at], fig(b[3], sizeof b[3], "%.4f", F->sim_prev[at]),
                    fig(b[4], sizeof b[4], "%.4f", F->sim_final[at]));
        }
}

static int series_run(lsc_cmd_ctx *ctx, void *args)
{
    const series_args *av = args;
    int json = ctx->json || av->json;
    lsc_adapter *ad = NULL;
    int64_t id = 0;
    if (lsc_cmd_load_any(ctx, av->name, &ad, &id))
        return LSC_EXIT_ERROR;
    int is_series = lsc_is_series(ad->kind);
    lsc_adapter_free(ad);
    if (!is_series) {
        char nm[512];
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' is not a series (import a training run's folder to get one)",
                      lsc_escape_name(nm, sizeof nm, av->name));
        return LSC_EXIT_ERROR;
    }
    if (!av->svg)
        return lsc_series_show(ctx, av->name, id, av->glob, json);
    lsc_series_figs F;
    int rc = lsc_series_figs_compute(ctx, id, av->glob, &F);
    if (!rc) {
        json_t *o = series_json(av->name, &F);
        lsc_sink fig;
        lsc_sink_init_mem(&fig);
        lsc_figure_series(&fig, o, series_fields[av->figure], series_labels[av->figure]);
        rc = lsc_figure_write(ctx, av->svg, &fig);
        lsc_sink_release(&fig);
        if (!rc && json)
            lsc_json_print(ctx->out, o);
        else if (!rc)
            print_text(ctx, av->name, &F);
        json_decref(o);
    }
    lsc_series_figs_release(&F);
    return rc;
}

int lsc_series_show(lsc_cmd_ctx *ctx, const char *name, int64_t id, const char *glob, int json)
{
    lsc_series_figs F;
    int rc = lsc_series_figs_compute(ctx, id, glob, &F);
    if (!rc && json)
        print_json(ctx, name, &F);
    else if (!rc)
        print_text(ctx, name, &F);
    lsc_series_figs_release(&F);
    return rc;
}

const lsc_cmd_spec lsc_spec_series = {series_opts, sizeof(series_args), NULL, series_run, ""};
