/* cmd_spectrum.c: `lorascope spectrum NAME [LAYER-GLOB] [--json] [--svg FILE]`: every layer's singular values of
 * s·B·A (from the factors, or the catalog's cache) with cumulative energy. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "figure.h"
#include "layername.h"
#include "handlers.h"
#include "numfmt.h"

typedef struct spectrum_args {
    lsc_args base;
    const char *name, *glob, *svg;
    int json;
} spectrum_args;

static const lsc_opt spectrum_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(spectrum_args, name)},
    {.metavar = "LAYER-GLOB", .type = LSC_OPT_GLOB, .flags = LSC_OPT_POSITIONAL | LSC_OPT_OPTIONAL,
     .at = offsetof(spectrum_args, glob), .help = "only layers whose name matches"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(spectrum_args, json), .help = "an array of {name, sv[], energy[]}"},
    {.name = "svg", .type = LSC_OPT_PATH, .metavar = "FILE", .at = offsetof(spectrum_args, svg),
     .help = "also draw the singular values (log scale, one line per layer) as an SVG figure"},
    {0}};

static int spectrum_run(lsc_cmd_ctx *ctx, void *args)
{
    const spectrum_args *av = args;
    int json = ctx->json || av->json;
    const char *glob = av->glob;
    lsc_adapter *ad = NULL;
    if (lsc_cmd_load(ctx, av->name, &ad, NULL))
        return LSC_EXIT_ERROR;
    lsc_stats_runner sr;
    if (lsc_stats_runner_init(&sr, &ctx->err)) {
        lsc_adapter_free(ad);
        return LSC_EXIT_ERROR;
    }
    int rc = LSC_EXIT_OK, matched = 0;
    json_t *arr = json || av->svg ? json_array() : NULL;
    char nm[512];
    size_t *order = lsc_layername_order(ad); /* natural order: layers.2 before layers.10 */
    if (!order) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        rc = LSC_EXIT_ERROR;
    }
    for (size_t oi = 0; order && oi < ad->n_layers && rc == LSC_EXIT_OK; oi++) {
        size_t li = order[oi];
        const lsc_layer *l = &ad->layers[li];
        if (!lsc_name_matches(glob, l->name))
            continue;
        if (lsc_cmd_cancelled(ctx, "spectrum")) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        matched++;
        lsc_layer_stats st;
        memset(&st, 0, sizeof st);
        if (lsc_layer_stats_get(&sr, ctx->cat, ad, li, 0, &st, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        /* energies relative to sigma_1, so that sigmas near 1e306 (lora_alpha 1e308) do not overflow squared */
        double total = 0, cum = 0, s1 = st.n_sv > 0 && st.sv[0] > 0 ? st.sv[0] : 1.0;
        for (int i = 0; i < st.n_sv; i++)
            total += (st.sv[i] / s1) * (st.sv[i] / s1);
        if (arr) {
            json_t *sv = json_array(), *en = json_array();
            for (int i = 0; i < st.n_sv; i++) {
                cum += (st.sv[i] / s1) * (st.sv[i] / s1);
                json_array_append_new(sv, lsc_json_num(st.sv[i]));
                json_array_append_new(en, lsc_json_num(total > 0 ? cum / total : 0.0));
            }
            json_array_append_new(arr, lsc_json_layer_name(json_pack("{s:s, s:I, s:o, s:o}", "name", l->name, "rank",
                                                                     (json_int_t)l->rank, "sv", sv, "energy", en),
                                                           l->name));
            cum = 0;
        }
        if (!json) {
            lsc_out(ctx->out, "%s  (%lld×%lld, r=%d, k90=%d, k99=%d)\n",
                    lsc_escape_name(nm, sizeof nm, lsc_layername_display(l->name)), (long long)l->rows,
                    (long long)l->cols, l->rank, st.energy_rank_90, st.energy_rank_99);
            lsc_out(ctx->out, "  %4s  %14s  %8s\n", "i", "sigma", "energy");
            for (int i = 0; i < st.n_sv; i++) {
                cum += (st.sv[i] / s1) * (st.sv[i] / s1);
                char pc[32];
                lsc_out(ctx->out, "  %4d  %14.8g  %8s\n", i + 1, st.sv[i], lsc_fmt_pct(pc, sizeof pc, lsc_ratio(cum, total), 3));
            }
        }
        lsc_stats_release(&st);
    }
    if (rc == LSC_EXIT_OK && matched == 0 && glob) {
        char g2[512];
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "no layer of '%s' matches '%s'", lsc_escape_name(nm, sizeof nm, ad->name),
                      lsc_escape_name(g2, sizeof g2, glob));
        rc = LSC_EXIT_ERROR;
    }
    if (rc == LSC_EXIT_OK && av->svg) {
        lsc_sink fig;
        lsc_sink_init_mem(&fig);
        lsc_figure_spectrum(&fig, ad->name, arr);
        rc = lsc_figure_write(ctx, av->svg, &fig);
        lsc_sink_release(&fig);
    }
    if (rc == LSC_EXIT_OK && json)
        lsc_json_print(ctx->out, arr);
    json_decref(arr);
    free(order);
    lsc_stats_runner_release(&sr);
    lsc_adapter_free(ad);
    return rc;
}

const lsc_cmd_spec lsc_spec_spectrum = {spectrum_opts, sizeof(spectrum_args), NULL, spectrum_run, ""};
