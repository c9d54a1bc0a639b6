/* cmd_spectrum.c: `lorascope spectrum NAME [LAYER-GLOB] [--json]`: every layer's singular values of
 * s·B·A (from the factors, or the catalog's cache) with cumulative energy. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "handlers.h"

int lsc_cmd_spectrum(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    int json = ctx->json, c;
    while ((c = lsc_getopt_next(ctx, &g, argc, argv, opts)) != -1) {
        if (c != 'j')
            return LSC_EXIT_USAGE;
        json = 1;
    }
    int npos = argc - g.ind;
    if (npos < 1 || npos > 2)
        return lsc_usage_error(ctx, "spectrum", "expected NAME [LAYER-GLOB]");
    if (ctx->check_only)
        return LSC_EXIT_OK;
    const char *glob = npos == 2 ? argv[g.ind + 1] : NULL;
    lsc_adapter *ad = NULL;
    if (lsc_cmd_load(ctx, argv[g.ind], &ad, NULL))
        return LSC_EXIT_ERROR;
    lsc_stats_runner sr;
    if (lsc_stats_runner_init(&sr, &ctx->err)) {
        lsc_adapter_free(ad);
        return LSC_EXIT_ERROR;
    }
    int rc = LSC_EXIT_OK, matched = 0;
    json_t *arr = json ? json_array() : NULL;
    char nm[512];
    for (size_t li = 0; li < ad->n_layers && rc == LSC_EXIT_OK; li++) {
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
            json_array_append_new(arr, json_pack("{s:s, s:I, s:o, s:o}", "name", l->name, "rank", (json_int_t)l->rank,
                                                 "sv", sv, "energy", en));
        } else {
            lsc_out(ctx->out, "%s  (%lld×%lld, r=%d, k90=%d, k99=%d)\n", lsc_escape_name(nm, sizeof nm, l->name),
                    (long long)l->rows, (long long)l->cols, l->rank, st.energy_rank_90, st.energy_rank_99);
            lsc_out(ctx->out, "  %4s  %14s  %8s\n", "i", "sigma", "energy");
            for (int i = 0; i < st.n_sv; i++) {
                cum += (st.sv[i] / s1) * (st.sv[i] / s1);
                lsc_out(ctx->out, "  %4d  %14.8g  %7.3f%%\n", i + 1, st.sv[i], total > 0 ? 100.0 * cum / total : 0.0);
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
    if (rc == LSC_EXIT_OK && arr)
        lsc_json_print(ctx->out, arr);
    json_decref(arr);
    lsc_stats_runner_release(&sr);
    lsc_adapter_free(ad);
    return rc;
}
