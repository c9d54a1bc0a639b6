/* cmd_sparsify.c: `lorascope sparsify NAME --density D [--layers GLOB] [--as NEW]`: magnitude-prune the
 * entries of A and B of each chosen layer to density D (the largest |x| kept), the element-wise form of a
 * sparse adapter; prints each layer's exact relative change of its delta (from the factors). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "derive_job.h"
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

/* A sparsify between its reads of the catalog and its store (derive_job.h): what `run --jobs` computes on
 * a worker thread; the run step without --jobs takes the same three steps in a row. */
typedef struct sparsify_state {
    lsc_derive_job job;
    const char *glob; /* points into the line's argv, which outlives the state */
    double density, worst;
    int changed;
} sparsify_state;

static void sparsify_state_free(void *v)
{
    sparsify_state *s = v;
    if (!s)
        return;
    lsc_derive_job_release(&s->job);
    free(s);
}

static int sparsify_begin(lsc_cmd_ctx *ctx, const sparsify_args *av, int hold, sparsify_state **out)
{
    char suffix[64];
    sparsify_state *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    s->glob = av->glob;
    s->density = av->density;
    snprintf(suffix, sizeof suffix, "d%s", av->darg);
    int rc = lsc_derive_job_begin(ctx, av->name, av->as, suffix, hold, &s->job);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return LSC_EXIT_OK;
}

static int sparsify_prepare(lsc_cmd_ctx *ctx, void *args, void **state)
{
    return lsc_derive_job_prepared(sparsify_begin(ctx, args, 1, (sparsify_state **)state), state, sparsify_state_free);
}

/* Every chosen layer's A and B cut to the density, into the new adapter: no catalog (any thread). */
static lsc_status sparsify_compute(void *state, lsc_error *err)
{
    sparsify_state *s = state;
    lsc_adapter *src = s->job.src, *dst = s->job.dst;
    lsc_workspace *ws = lsc_workspace_new();
    double *b = NULL, *a = NULL, *bo = NULL, *ao = NULL;
    size_t bc = 0, ac = 0;
    lsc_status st = LSC_OK;
    for (size_t li = 0; li < src->n_layers && !st; li++) {
        if (!lsc_name_matches(s->glob, src->layers[li].name))
            continue;
        lsc_lowrank lr;
        double rel = 0;
        if ((st = lsc_adapter_factors(src, li, &b, &bc, &a, &ac, &lr, err)))
            break;
        double *nb = realloc(bo, (size_t)(lr.rows * lr.r + 1) * sizeof *bo), *na = nb ? realloc(ao, (size_t)(lr.r * lr.cols + 1) * sizeof *ao) : NULL;
        if (nb)
            bo = nb;
        if (na)
            ao = na;
        if (!nb || !na || !ws) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            break;
        }
        if ((st = lsc_sparse_prune_layer(&lr, s->density, s->density, ws, bo, ao, &rel, err)) ||
            (st = lsc_adapter_set_factors(dst, li, bo, ao, lr.r, lr.scale, err))) {
            lsc_error_prefix(err, "layer '%s'", src->layers[li].name);
            break;
        }
        s->worst = fmax(s->worst, rel);
        s->changed++;
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
    if (!st && s->changed == 0)
        st = lsc_error_set(err, LSC_ERR_NOTFOUND, "no layer of '%s' matches '%s'", src->name, s->glob ? s->glob : "");
    if (!st)
        st = lsc_adapter_set_kind(dst, LSC_KIND_SPARSE, err);
    return lsc_derive_job_computed(&s->job, st, err);
}

static int sparsify_run(lsc_cmd_ctx *ctx, void *args)
{
    sparsify_state *s = ctx->prepared; /* from run --jobs: read and computed already; store it here */
    int computed = s != NULL;
    ctx->prepared = NULL;
    int rc = s ? lsc_derive_job_take(ctx, &s->job) : sparsify_begin(ctx, args, 0, &s);
    if (!rc && !computed && sparsify_compute(s, &ctx->err))
        rc = LSC_EXIT_ERROR;
    if (!rc) {
        lsc_out(ctx->out, "%s: A and B of %d layer(s) kept at density %g; largest relative change of a layer %.4g\n",
                s->job.newname, s->changed, s->density, s->worst);
        rc = lsc_derive_job_finish(ctx, &s->job, 1);
    }
    sparsify_state_free(s);
    return rc;
}

const lsc_cmd_spec lsc_spec_sparsify = {sparsify_opts, sizeof(sparsify_args), NULL, sparsify_run, ""};

const lsc_cmd_split lsc_split_sparsify = {sparsify_prepare, sparsify_compute, sparsify_state_free,
                                           lsc_derive_job_output, lsc_derive_job_bytes, NULL};
