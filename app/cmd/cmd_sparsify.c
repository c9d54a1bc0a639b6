/* cmd_sparsify.c: `lorascope sparsify NAME --density D [--layers GLOB] [--as NEW]`: magnitude-prune the
 * entries of A and B of each chosen layer to density D (the largest |x| kept), the element-wise form of a
 * sparse adapter; prints each layer's exact relative change of its delta (from the factors). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "derive.h"
#include "handlers.h"
#include "kinds.h"

int lsc_cmd_sparsify(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"density", required_argument, NULL, 'd'},
                                         {"layers", required_argument, NULL, 'l'},
                                         {"as", required_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    const char *as = NULL, *glob = NULL, *darg = NULL;
    int c;
    while ((c = lsc_getopt_next(ctx, &g, argc, argv, opts)) != -1) {
        if (c == 'd')
            darg = g.arg;
        else if (c == 'l')
            glob = g.arg;
        else if (c == 'a')
            as = g.arg;
        else
            return LSC_EXIT_USAGE;
    }
    char *end = NULL;
    double density = darg ? strtod(darg, &end) : 0;
    if (argc - g.ind != 1 || !darg || *end || !(density > 0 && density <= 1))
        return lsc_usage_error(ctx, "sparsify", "expected NAME --density D (0 < D <= 1)");
    if (ctx->check_only)
        return LSC_EXIT_OK;
    lsc_adapter *src, *dst;
    int64_t sid;
    char newname[512], suffix[64];
    snprintf(suffix, sizeof suffix, "d%s", darg);
    int rc = lsc_derive_begin(ctx, argv[g.ind], as, suffix, &src, &sid, &dst, newname, sizeof newname);
    if (rc)
        return rc;
    lsc_workspace *ws = lsc_workspace_new();
    double *b = NULL, *a = NULL, *bo = NULL, *ao = NULL, worst = 0;
    size_t bc = 0, ac = 0;
    int changed = 0;
    for (size_t li = 0; li < src->n_layers && !rc; li++) {
        if (!lsc_name_matches(glob, src->layers[li].name))
            continue;
        lsc_lowrank lr;
        double rel = 0;
        if (lsc_adapter_factors(src, li, &b, &bc, &a, &ac, &lr, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        double *nb = realloc(bo, (size_t)(lr.rows * lr.r + 1) * sizeof *bo), *na = nb ? realloc(ao, (size_t)(lr.r * lr.cols + 1) * sizeof *ao) : NULL;
        if (nb)
            bo = nb;
        if (na)
            ao = na;
        if (!nb || !na || !ws) {
            rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
            break;
        }
        if (lsc_sparse_prune_layer(&lr, density, density, ws, bo, ao, &rel, &ctx->err) ||
            lsc_adapter_set_factors(dst, li, bo, ao, lr.r, lr.scale, &ctx->err)) {
            lsc_error_prefix(&ctx->err, "layer '%s'", src->layers[li].name);
            rc = LSC_EXIT_ERROR;
            break;
        }
        worst = fmax(worst, rel);
        changed++;
        const lsc_layer *l = &src->layers[li];
        int ts[3] = {l->ta, l->tb, l->te};
        for (int t = 0; t < 3; t++)
            if (ts[t] >= 0)
                lsc_adapter_unload_tensor(src, (size_t)ts[t]);
    }
    free(b);
    free(a);
    free(bo);
    free(ao);
    lsc_workspace_free(ws);
    if (!rc && changed == 0) {
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "no layer of '%s' matches '%s'", src->name, glob ? glob : "");
        rc = LSC_EXIT_ERROR;
    }
    if (rc) {
        lsc_adapter_free(src);
        lsc_adapter_free(dst);
        return rc;
    }
    free(dst->kind);
    dst->kind = strdup("sparse");
    lsc_out(ctx->out, "%s: A and B of %d layer(s) kept at density %g; largest relative change of a layer %.4g\n", newname,
            changed, density, worst);
    return lsc_derive_finish(ctx, src, sid, dst, newname, 1);
}
