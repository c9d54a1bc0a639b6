/* cmd_sparsify.c: `lorascope sparsify NAME --density D [--layers GLOB] [--as NEW]`: magnitude-prune the
 * entries of A and B of each chosen layer to density D (the largest |x| kept), the element-wise form of a
 * sparse adapter; prints each layer's exact relative change of its delta (from the factors). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "derive.h"
#include "handlers.h"
#include "kinds.h"

typedef struct sparsify_args {
    lsc_args base;
    const char *name, *as, *glob, *darg;
    double density;
} sparsify_args;

static const lsc_opt sparsify_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(sparsify_args, name)},
    {.name = "density", .type = LSC_OPT_REAL, .metavar = "D", .flags = LSC_OPT_REQUIRED | LSC_OPT_LO_OPEN, .lo = 0,
     .hi = 1, .at = offsetof(sparsify_args, density), .text_at = offsetof(sparsify_args, darg),
     .help = "the fraction of entries of A and B kept (by magnitude)"},
    {.name = "layers", .type = LSC_OPT_GLOB, .metavar = "GLOB", .at = offsetof(sparsify_args, glob),
     .help = "only these layers (others are kept unchanged)"},
    {.name = "as", .type = LSC_OPT_NEW, .metavar = "NEW", .at = offsetof(sparsify_args, as),
     .help = "the new adapter's name (default NAME-dD)"},
    {0}};

static int sparsify_run(lsc_cmd_ctx *ctx, void *args)
{
    const sparsify_args *av = args;
    const char *as = av->as, *glob = av->glob, *darg = av->darg;
    double density = av->density;
    lsc_adapter *src, *dst;
    int64_t sid;
    char newname[512], suffix[64];
    snprintf(suffix, sizeof suffix, "d%s", darg);
    int rc = lsc_derive_begin(ctx, av->name, as, suffix, &src, &sid, &dst, newname, sizeof newname);
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
    if (!rc && lsc_adapter_set_kind(dst, LSC_KIND_SPARSE, &ctx->err))
        rc = LSC_EXIT_ERROR;
    if (rc) {
        lsc_adapter_free(src);
        lsc_adapter_free(dst);
        return rc;
    }
    lsc_out(ctx->out, "%s: A and B of %d layer(s) kept at density %g; largest relative change of a layer %.4g\n", newname,
            changed, density, worst);
    return lsc_derive_finish(ctx, src, sid, dst, newname, 1);
}

const lsc_cmd_spec lsc_spec_sparsify = {sparsify_opts, sizeof(sparsify_args), NULL, sparsify_run, ""};
