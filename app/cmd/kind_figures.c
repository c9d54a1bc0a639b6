/* kind_figures.c: see kind_figures.h. Everything comes from the factors (engine/kinds.h). */
#include "kind_figures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "layername.h"
#include "lycoris_layer.h"
#include "kinds.h"
#include "numfmt.h"

static void unload(lsc_adapter *ad, size_t li)
{
    const lsc_layer *l = &ad->layers[li];
    int ts[4] = {l->ta, l->tb, l->te, l->tm};
    for (int k = 0; k < 4; k++)
        if (ts[k] >= 0)
            lsc_adapter_unload_tensor(ad, (size_t)ts[k]);
}

static const char *short_name(const char *n)
{
    return lsc_layername_display(n);
}

/* DyLoRA: for each prefix rank b, the error of the prefix adapter (scale alpha/b) and of the best rank-b
 * truncation, averaged over layers. */
static int dynamic_figures(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *glob, int text, json_t *o)
{
    lsc_workspace *ws = lsc_workspace_new();
    double *b = NULL, *a = NULL, *pe = NULL, *be = NULL;
    size_t bc = 0, ac = 0;
    int maxr = 0, rc = LSC_EXIT_OK;
    for (size_t li = 0; li < ad->n_layers; li++)
        maxr = ad->layers[li].rank > maxr ? ad->layers[li].rank : maxr;
    double *sum_p = calloc((size_t)maxr + 1, sizeof *sum_p), *sum_b = calloc((size_t)maxr + 1, sizeof *sum_b);
    int *cnt = calloc((size_t)maxr + 1, sizeof *cnt);
    pe = calloc((size_t)maxr + 1, sizeof *pe);
    be = calloc((size_t)maxr + 1, sizeof *be);
    json_t *layers = json_array();
    double worst = 0;
    const char *worst_layer = "";
    if (!ws || !sum_p || !sum_b || !cnt || !pe || !be)
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    for (size_t li = 0; !rc && li < ad->n_layers; li++) {
        if (!lsc_name_matches(glob, ad->layers[li].name))
            continue;
        lsc_lowrank lr;
        lsc_status st = lsc_adapter_factors(ad, li, &b, &bc, &a, &ac, &lr, &ctx->err);
        if (!st)
            st = lsc_dylora_prefix_errors(&lr, LSC_DYLORA_ALPHA_B, ws, pe, be, &ctx->err);
        if (st == LSC_ERR_NUMERIC) { /* NaN/Inf: flagged by show, left out of the curve */
            lsc_error_clear(&ctx->err);
            unload(ad, li);
            json_array_append_new(
                layers, lsc_json_layer_name(json_pack("{s:s, s:b}", "name", ad->layers[li].name, "nonfinite", 1),
                                            ad->layers[li].name));
            continue;
        }
        if (st) {
            lsc_error_prefix(&ctx->err, "layer '%s'", ad->layers[li].name);
            rc = LSC_EXIT_ERROR;
            break;
        }
        unload(ad, li);
        json_t *jp = json_array(), *jb = json_array();
        for (int k = 0; k < lr.r; k++) {
            json_array_append_new(jp, lsc_json_num(pe[k]));
            json_array_append_new(jb, lsc_json_num(be[k]));
            if (isfinite(pe[k])) {
                sum_p[k] += pe[k];
                sum_b[k] += be[k];
                cnt[k]++;
            }
            double excess = pe[k] - be[k];
            if (excess > worst) {
                worst = excess;
                worst_layer = ad->layers[li].name;
            }
        }
        json_array_append_new(layers, lsc_json_layer_name(json_pack("{s:s, s:o, s:o}", "name", ad->layers[li].name,
                                                                    "prefix_err", jp, "best_err", jb),
                                                          ad->layers[li].name));
    }
    if (!rc) {
        json_t *mp = json_array(), *mb = json_array();
        for (int k = 0; k < maxr; k++) {
            json_array_append_new(mp, lsc_json_num(cnt[k] ? sum_p[k] / cnt[k] : 0));
            json_array_append_new(mb, lsc_json_num(cnt[k] ? sum_b[k] / cnt[k] : 0));
        }
        json_object_set_new(o, "prefix_scale", json_string("alpha/b"));
        json_object_set_new(o, "mean_prefix_err", mp);
        json_object_set_new(o, "mean_best_err", mb);
        json_object_set_new(o, "layers", json_incref(layers));
        if (text) {
            lsc_out(ctx->out, "\nDyLoRA: how nested the ranks are (error of each prefix rank b, scale alpha/b, against the best "
                              "rank-b truncation; mean over layers)\n");
            lsc_out(ctx->out, "  %4s  %12s  %12s  %s\n", "b", "prefix err", "best err", "");
            for (int k = 0; k < maxr; k++) {
                double p = cnt[k] ? sum_p[k] / cnt[k] : 0, q = cnt[k] ? sum_b[k] / cnt[k] : 0;
                int bar = (int)(40 * (p > 1 ? 1 : p)), barb = (int)(40 * (q > 1 ? 1 : q));
                lsc_out(ctx->out, "  %4d  %12.4g  %12.4g  ", k + 1, p, q);
                for (int i = 0; i < 40; i++)
                    lsc_out_str(ctx->out, i < barb ? "#" : i < bar ? "+" : " ");
                lsc_out(ctx->out, "\n");
            }
            lsc_out(ctx->out, "  (# best truncation, + what the prefix loses on top)  widest gap: %s (%.3g)\n",
                    short_name(worst_layer), worst);
        }
    }
    json_decref(layers);
    free(sum_p);
    free(sum_b);
    free(cnt);
    free(pe);
    free(be);
    free(b);
    free(a);
    lsc_workspace_free(ws);
    return rc;
}

/* AdaLoRA: kept triplets per layer against init_r and target_r, the global budget, |Lambda|, and how far
 * P and Q are from orthonormal. */
static int adaptive_figures(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *glob, int text, json_t *o)
{
    json_t *cfg = ad->config_json ? json_loads(ad->config_json, 0, NULL) : NULL;
    int init_r = (int)json_integer_value(json_object_get(cfg, "init_r"));
    int target_r = (int)json_integer_value(json_object_get(cfg, "target_r"));
    json_decref(cfg);
    lsc_workspace *ws = lsc_workspace_new();
    double *P = NULL, *E = NULL, *Q = NULL;
    size_t pc = 0, ec = 0, qc = 0, np, ne, nq;
    json_t *layers = json_array();
    int rc = ws ? LSC_EXIT_OK : lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    long kept = 0, n = 0;
    if (!rc && text) {
        lsc_out(ctx->out, "\nAdaLoRA: kept triplets per layer (init_r %d, target_r %d)\n", init_r, target_r);
        lsc_out(ctx->out, "  %-40s %5s  %-24s %10s %10s %9s %9s\n", "LAYER", "KEPT", "", "|Λ| MIN", "|Λ| MAX", "‖PᵀP-I‖",
                "‖QQᵀ-I‖");
    }
    for (size_t li = 0; !rc && li < ad->n_layers; li++) {
        lsc_layer *l = &ad->layers[li];
        if (!lsc_name_matches(glob, l->name) || l->te < 0)
            continue;
        if (lsc_adapter_tensor_doubles(ad, (size_t)l->tb, &P, &pc, &np, &ctx->err) ||
            lsc_adapter_tensor_doubles(ad, (size_t)l->te, &E, &ec, &ne, &ctx->err) ||
            lsc_adapter_tensor_doubles(ad, (size_t)l->ta, &Q, &qc, &nq, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        lsc_adalora_layer al = {l->rows, l->cols, l->rank, P, E, Q, l->scale};
        double perr = 0, qerr = 0, lo = INFINITY, hi = 0;
        lsc_status ost = lsc_adalora_orthogonality(&al, ws, &perr, &qerr, &ctx->err);
        if (ost == LSC_ERR_NUMERIC) { /* NaN/Inf: flagged by show, left out here */
            lsc_error_clear(&ctx->err);
            unload(ad, li);
            json_array_append_new(
                layers, lsc_json_layer_name(json_pack("{s:s, s:b}", "name", l->name, "nonfinite", 1), l->name));
            continue;
        }
        if (ost) {
            lsc_error_prefix(&ctx->err, "layer '%s'", l->name);
            rc = LSC_EXIT_ERROR;
            break;
        }
        unload(ad, li);
        for (int i = 0; i < l->rank; i++) {
            lo = fmin(lo, fabs(E[i]));
            hi = fmax(hi, fabs(E[i]));
        }
        kept += l->rank;
        n++;
        json_array_append_new(
            layers, lsc_json_layer_name(json_pack("{s:s, s:i, s:o, s:o, s:o, s:o}", "name", l->name, "kept", l->rank,
                                                  "lambda_min", lsc_json_num(lo), "lambda_max", lsc_json_num(hi),
                                                  "orth_p", lsc_json_num(perr), "orth_q", lsc_json_num(qerr)),
                                        l->name));
        if (text) {
            char bar[64];
            int width = init_r > 0 ? init_r : l->rank, i;
            for (i = 0; i < width && i < 24; i++)
                bar[i] = i < l->rank ? '#' : (i < target_r ? '-' : '.');
            bar[i] = '\0';
            lsc_out(ctx->out, "  %-40.40s %5d  %-24s %10.4g %10.4g %9.3g %9.3g\n", short_name(l->name), l->rank, bar, lo,
                    hi, perr, qerr);
        }
    }
    if (!rc) {
        json_object_set_new(o, "init_r", json_integer(init_r));
        json_object_set_new(o, "target_r", json_integer(target_r));
        json_object_set_new(o, "budget", json_integer(kept));
        json_object_set_new(o, "target_budget", json_integer((json_int_t)target_r * n));
        json_object_set_new(o, "layers", json_incref(layers));
        if (text)
            lsc_out(ctx->out, "  budget: %ld triplets kept over %ld layers (target %ld); # kept, - up to target_r, . "
                              "pruned of init_r\n",
                    kept, n, (long)target_r * n);
    }
    json_decref(layers);
    free(P);
    free(E);
    free(Q);
    lsc_workspace_free(ws);
    return rc;
}

/* SoRA: live gates per layer, factor sparsity, and a histogram of factor magnitudes. */
static int sparse_figures(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *glob, int text, json_t *o)
{
    enum { NB = 10 };
    int64_t hist[NB + 2] = {0};
    double *g = NULL, *x = NULL;
    size_t gc = 0, xc = 0, ng, nx;
    json_t *layers = json_array();
    int rc = LSC_EXIT_OK;
    long live_all = 0, r_all = 0;
    if (text) {
        lsc_out(ctx->out, "\nsparse (SoRA): live gates and factor sparsity\n");
        lsc_out(ctx->out, "  %-40s %9s %10s %10s\n", "LAYER", "GATES", "ZEROS A", "ZEROS B");
    }
    for (size_t li = 0; !rc && li < ad->n_layers; li++) {
        lsc_layer *l = &ad->layers[li];
        if (!lsc_name_matches(glob, l->name))
            continue;
        int tg = lsc_adapter_layer_tensor(ad, li, LSC_ROLE_GATE), live = l->rank;
        if (tg >= 0) {
            if (lsc_adapter_tensor_doubles(ad, (size_t)tg, &g, &gc, &ng, &ctx->err)) {
                rc = LSC_EXIT_ERROR;
                break;
            }
            live = 0;
            for (size_t i = 0; i < ng; i++)
                live += g[i] != 0.0;
        }
        double za = 0, zb = 0, near;
        int ts[2] = {l->ta, l->tb}, nonfinite = 0;
        for (int k = 0; k < 2 && !rc && !nonfinite; k++) {
            lsc_status st = lsc_adapter_tensor_doubles(ad, (size_t)ts[k], &x, &xc, &nx, &ctx->err);
            /* A as the adapter applies it, as show's layer table counts its zeros (from the gated
             * factors): a closed gate's row is zero, so both say the same fraction for the same factor */
            if (!st && k == 0 && tg >= 0 && ng > 0 && nx % ng == 0)
                for (size_t i = 0; i < nx; i++)
                    if (g[i / (nx / ng)] == 0.0)
                        x[i] = 0.0;
            if (!st)
                st = lsc_factor_sparsity(x, (int64_t)nx, k ? &zb : &za, &near, &ctx->err);
            if (!st)
                st = lsc_magnitude_histogram(x, (int64_t)nx, NB, -9, 1, hist, &ctx->err);
            if (st == LSC_ERR_NUMERIC)
                nonfinite = 1; /* a layer holding NaN/Inf: flagged by show, left out of these figures */
            else if (st)
                rc = LSC_EXIT_ERROR;
        }
        unload(ad, li);
        if (rc)
            break;
        if (nonfinite) {
            lsc_error_clear(&ctx->err);
            json_array_append_new(
                layers, lsc_json_layer_name(json_pack("{s:s, s:b}", "name", l->name, "nonfinite", 1), l->name));
            if (text)
                lsc_out(ctx->out, "  %-40.40s  (NaN/Inf: left out)\n", short_name(l->name));
            continue;
        }
        live_all += live;
        r_all += l->rank;
        json_array_append_new(layers, lsc_json_layer_name(json_pack("{s:s, s:i, s:i, s:o, s:o}", "name", l->name,
                                                                    "rank", l->rank, "live_gates", live, "zeros_a",
                                                                    lsc_json_num(za), "zeros_b", lsc_json_num(zb)),
                                                          l->name));
        if (text) {
            char pa[32], pb[32];
            lsc_out(ctx->out, "  %-40.40s %4d/%-4d %10s %10s\n", short_name(l->name), live, l->rank,
                    lsc_fmt_pct(pa, sizeof pa, za, 1), lsc_fmt_pct(pb, sizeof pb, zb, 1));
        }
    }
    if (!rc) {
        json_t *jh = json_array();
        int64_t total = 0, peak = 1;
        for (int i = 0; i < NB + 2; i++) {
            json_array_append_new(jh, json_integer(hist[i]));
            total += hist[i];
            peak = hist[i] > peak ? hist[i] : peak;
        }
        json_object_set_new(o, "live_gates", json_integer(live_all));
        json_object_set_new(o, "rank_total", json_integer(r_all));
        json_object_set_new(o, "magnitude_histogram", json_pack("{s:i, s:i, s:o}", "lo_exp", -9, "hi_exp", 1, "counts", jh));
        json_object_set_new(o, "layers", json_incref(layers));
        if (text) {
            char pc[32];
            lsc_out(ctx->out, "  %ld of %ld rank directions live (%s of the gates closed)\n", live_all, r_all,
                    lsc_fmt_pct(pc, sizeof pc, r_all ? (double)(r_all - live_all) / (double)r_all : 0.0, 1));
            lsc_out(ctx->out, "  |A|, |B| entries by magnitude (%lld in all):\n", (long long)total);
            for (int i = 0; i < NB + 2; i++) {
                char label[32];
                if (i == 0)
                    snprintf(label, sizeof label, "0 or < 1e-9");
                else if (i == NB + 1)
                    snprintf(label, sizeof label, ">= 1e1");
                else
                    snprintf(label, sizeof label, "1e%d .. 1e%d", -9 + (i - 1), -9 + i);
                lsc_out(ctx->out, "  %14s %9lld ", label, (long long)hist[i]);
                int w = (int)(40.0 * (double)hist[i] / (double)peak);
                for (int k = 0; k < w; k++)
                    lsc_out_str(ctx->out, "#");
                lsc_out(ctx->out, "\n");
            }
        }
    }
    json_decref(layers);
    free(g);
    free(x);
    return rc;
}

/* Layer-wise: the layers x modules grid of rank and of each layer's share of the adapter's energy. */
static int layerwise_figures(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *glob, int text, json_t *o)
{
    char mods[32][48];
    int nm = 0, maxl = -1;
    for (size_t li = 0; li < ad->n_layers; li++) {
        const lsc_layer *l = &ad->layers[li];
        if (!lsc_name_matches(glob, l->name))
            continue;
        maxl = l->layer_index > maxl ? l->layer_index : maxl;
        int k = 0;
        while (k < nm && strcmp(mods[k], l->module_type) != 0)
            k++;
        if (k == nm && nm < 32)
            snprintf(mods[nm++], sizeof mods[0], "%s", l->module_type);
    }
    if (maxl < 0 || nm == 0)
        return LSC_EXIT_OK;
    int nl = maxl + 1;
    int *rank = calloc((size_t)(nl * nm), sizeof *rank);
    double *energy = calloc((size_t)(nl * nm), sizeof *energy), total = 0;
    lsc_stats_runner sr;
    int rc = (!rank || !energy || lsc_stats_runner_init(&sr, &ctx->err)) ? LSC_EXIT_ERROR : LSC_EXIT_OK;
    for (size_t li = 0; !rc && li < ad->n_layers; li++) {
        const lsc_layer *l = &ad->layers[li];
        if (!lsc_name_matches(glob, l->name) || l->layer_index < 0)
            continue;
        int k = 0;
        while (k < nm && strcmp(mods[k], l->module_type) != 0)
            k++;
        if (k == nm)
            continue;
        lsc_layer_stats st;
        memset(&st, 0, sizeof st);
        if (lsc_layer_stats_get(&sr, ctx->cat, ad, li, 0, &st, &ctx->err))
            rc = LSC_EXIT_ERROR;
        rank[l->layer_index * nm + k] = l->rank;
        energy[l->layer_index * nm + k] = st.fro; /* squared below, relative to the largest */
        lsc_stats_release(&st);
    }
    /* shares from norms relative to the largest: norms near 1e306 (lora_alpha 1e308) overflow squared */
    double top = 0;
    for (int i = 0; i < nl * nm; i++)
        top = energy[i] > top ? energy[i] : top;
    for (int i = 0; top > 0 && i < nl * nm; i++) {
        energy[i] = (energy[i] / top) * (energy[i] / top);
        total += energy[i];
    }
    if (!rc) {
        json_t *jm = json_array(), *jr = json_array(), *je = json_array();
        for (int k = 0; k < nm; k++)
            json_array_append_new(jm, json_string(mods[k]));
        for (int L = 0; L < nl; L++) {
            json_t *rr = json_array(), *ee = json_array();
            for (int k = 0; k < nm; k++) {
                json_array_append_new(rr, json_integer(rank[L * nm + k]));
                json_array_append_new(ee, lsc_json_num(total > 0 ? energy[L * nm + k] / total : 0));
            }
            json_array_append_new(jr, rr);
            json_array_append_new(je, ee);
        }
        json_object_set_new(o, "modules", jm);
        json_object_set_new(o, "rank_grid", jr);
        json_object_set_new(o, "energy_share_grid", je);
        if (text) {
            lsc_out(ctx->out, "\nlayer-wise: rank (and share of the adapter's energy) per layer x module; . = not adapted\n  %5s",
                    "layer");
            for (int k = 0; k < nm; k++)
                lsc_out(ctx->out, " %12.12s", mods[k]);
            for (int L = 0; L < nl; L++) {
                lsc_out(ctx->out, "\n  %5d", L);
                for (int k = 0; k < nm; k++) {
                    if (!rank[L * nm + k])
                        lsc_out(ctx->out, " %12s", ".");
                    else {
                        char pc[32];
                        lsc_out(ctx->out, " %3d (%6s)", rank[L * nm + k],
                                lsc_fmt_pct(pc, sizeof pc, total > 0 ? energy[L * nm + k] / total : 0, 1));
                    }
                }
            }
            lsc_out(ctx->out, "\n");
        }
    }
    if (rank && energy)
        lsc_stats_runner_release(&sr);
    free(rank);
    free(energy);
    return rc;
}

/* ---- LyCORIS (loha, lokr) -------------------------------------------------------------------------- */

#define LYC_SV_MAX 512 /* product values kept per layer in the figures (show --json has them all) */

static json_t *sv_array(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n && i < LYC_SV_MAX; i++)
        json_array_append_new(a, lsc_json_num(v[i]));
    return a;
}

/* One LyCORIS layer's figures: its parts (LoHa pairs / LoKr factors) with their spectra and the
 * product's, all from the stored factors. */
static lsc_status lycoris_layer_figures(lsc_cmd_ctx *ctx, lsc_adapter *ad, size_t li, lsc_stats_runner *sr, int text,
                                        json_t *layers)
{
    lsc_lyc_layer d;
    lsc_layer_stats ls;
    double *sv1 = NULL, *sv2 = NULL;
    int n1 = 0, n2 = 0;
    memset(&ls, 0, sizeof ls);
    lsc_status st = lsc_lycoris_layer_describe(ad, li, &d, &ctx->err);
    if (!st)
        st = lsc_lycoris_layer_part_spectra(ad, li, sr->ws, &sv1, &n1, &sv2, &n2, &ctx->err);
    if (!st)
        st = lsc_layer_stats_get(sr, ctx->cat, ad, li, 0, &ls, &ctx->err);
    if (!st) {
        const char *part = d.family == LSC_LAYER_LOHA ? "loha" : d.family == LSC_LAYER_LOKR ? "lokr" : "tucker";
        json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:I, s:o, s:o, s:o}", "name", ad->layers[li].name, "part", part, "r1",
                              d.r1, "r2", d.r2, "n_sv", (json_int_t)ls.n_sv, "sv1", sv_array(sv1, n1), "sv2",
                              sv_array(sv2, n2), "sv", sv_array(ls.sv, ls.n_sv));
        if (d.family == LSC_LAYER_LOKR) {
            json_object_set_new(o, "w1", json_pack("[I, I]", (json_int_t)d.w1_rows, (json_int_t)d.w1_cols));
            json_object_set_new(o, "w2", json_pack("[I, I]", (json_int_t)d.w2_rows, (json_int_t)d.w2_cols));
        }
        json_array_append_new(layers, lsc_json_layer_name(o, ad->layers[li].name));
        if (text) {
            char a[32], b[32], c[32], shape[96];
            if (d.family == LSC_LAYER_LOKR)
                snprintf(shape, sizeof shape, "%lldx%lld (x) %lldx%lld", (long long)d.w1_rows, (long long)d.w1_cols,
                         (long long)d.w2_rows, (long long)d.w2_cols);
            else
                snprintf(shape, sizeof shape, d.family == LSC_LAYER_LOHA ? "r %d + %d" : "r %d (Tucker)", d.r1, d.r2);
            lsc_out(ctx->out, "  %-72.72s %-6s %-22s %10s %10s %10s\n", short_name(ad->layers[li].name), part, shape,
                    lsc_fmt_num(a, sizeof a, "%.4g", n1 ? sv1[0] : NAN), lsc_fmt_num(b, sizeof b, "%.4g", n2 ? sv2[0] : NAN),
                    lsc_fmt_num(c, sizeof c, "%.4g", ls.n_sv ? ls.sv[0] : 0.0));
        }
    } else {
        lsc_error_prefix(&ctx->err, "layer '%s'", ad->layers[li].name);
    }
    free(sv1);
    free(sv2);
    lsc_stats_release(&ls);
    return st;
}

/* LoHa / LoKr adapters: per LyCORIS layer, the two parts' spectra beside the product's. */
static int lycoris_figures(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *glob, int text, json_t *o)
{
    lsc_stats_runner sr;
    if (lsc_stats_runner_init(&sr, &ctx->err))
        return LSC_EXIT_ERROR;
    json_t *layers = json_array();
    int rc = LSC_EXIT_OK;
    if (text)
        lsc_out(ctx->out, "\nLyCORIS: each layer's parts (LoHa: the pairs B1 A1, B2 A2; LoKr: W1, W2) and the product\n"
                          "  %-72s %-6s %-22s %10s %10s %10s\n",
                "layer", "kind", "parts", "s1 part1", "s1 part2", "s1 dW");
    for (size_t li = 0; li < ad->n_layers && !rc; li++) {
        if (!(ad->layers[li].flags & LSC_LAYER_LYCORIS) || !lsc_name_matches(glob, ad->layers[li].name))
            continue;
        if (lycoris_layer_figures(ctx, ad, li, &sr, text, layers))
            rc = LSC_EXIT_ERROR;
    }
    json_object_set_new(o, "layers", layers);
    lsc_stats_runner_release(&sr);
    return rc;
}

int lsc_kind_figures(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *glob, int text, json_t **out)
{
    json_t *o = json_object();
    int rc = LSC_EXIT_OK;
    switch (lsc_adapter_kind(ad)) {
    case LSC_KIND_DYNAMIC: rc = dynamic_figures(ctx, ad, glob, text, o); break;
    case LSC_KIND_ADAPTIVE: rc = adaptive_figures(ctx, ad, glob, text, o); break;
    case LSC_KIND_SPARSE: rc = sparse_figures(ctx, ad, glob, text, o); break;
    case LSC_KIND_LAYERWISE: rc = layerwise_figures(ctx, ad, glob, text, o); break;
    case LSC_KIND_LOHA:
    case LSC_KIND_LOKR: rc = lycoris_figures(ctx, ad, glob, text, o); break;
    default: break; /* static, multi-task: no kind figures */
    }
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return LSC_EXIT_OK;
}
