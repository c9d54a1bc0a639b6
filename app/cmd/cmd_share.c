/* cmd_share.c: `lorascope share NAME --rank K [--as NEW]`: factor out the input subspace the tasks of a
 * multi-task adapter share: one A [K, in] per layer for every task (the top-K right singular directions of
 * the stacked task deltas, from the factors) and one B per task, HydraLoRA-style. The tasks' A tensors
 * are then the same bytes, so the catalog stores each once. Prints each task's exact relative error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "derive.h"
#include "handlers.h"
#include "kinds.h"
#include "tasks.h"

typedef struct share_args {
    lsc_args base;
    const char *name, *as;
    long long k;
} share_args;

static const lsc_opt share_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(share_args, name)},
    {.name = "rank", .type = LSC_OPT_INT, .metavar = "K", .flags = LSC_OPT_REQUIRED, .ilo = 1, .ihi = INT_MAX,
     .at = offsetof(share_args, k), .help = "the rank of the shared A"},
    {.name = "as", .type = LSC_OPT_NEW, .metavar = "NEW", .at = offsetof(share_args, as),
     .help = "the new adapter's name (default NAME-sharedK)"},
    {0}};

static int share_run(lsc_cmd_ctx *ctx, void *args)
{
    const share_args *av = args;
    const char *as = av->as;
    long k = (long)av->k;
    const char *name = av->name;
    char newname[512], suffix[32];
    snprintf(suffix, sizeof suffix, "shared%ld", k);
    snprintf(newname, sizeof newname, "%s", as ? as : "");
    if (!as)
        snprintf(newname, sizeof newname, "%s-%s", name, suffix);
    int64_t gid;
    lsc_adapter *grp = NULL;
    if (lsc_cmd_load(ctx, name, &grp, &gid))
        return LSC_EXIT_ERROR;
    int rc = LSC_EXIT_OK;
    if (!lsc_is_group(grp->kind)) {
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' is not a multi-task adapter (see 'lorascope group')", name);
        rc = LSC_EXIT_ERROR;
    }
    lsc_adapter_free(grp);
    if (!rc)
        rc = lsc_derive_check_name(ctx, newname);
    lsc_task_entry *t = NULL;
    size_t T = 0;
    if (!rc && lsc_catalog_get_tasks(ctx->cat, gid, &t, &T, &ctx->err))
        rc = LSC_EXIT_ERROR;
    lsc_adapter **src = calloc(T + 1, sizeof *src), **dst = calloc(T + 1, sizeof *dst);
    int64_t *sid = calloc(T + 1, sizeof *sid);
    for (size_t i = 0; i < T && !rc; i++) {
        if (lsc_catalog_get_adapter_by_id(ctx->cat, t[i].member_id, &src[i], &ctx->err) ||
            !(dst[i] = lsc_adapter_clone_meta(src[i])))
            rc = lsc_fail(ctx, &ctx->err);
        sid[i] = t[i].member_id;
        lsc_cmd_read(ctx, sid[i]);
    }
    lsc_workspace *ws = lsc_workspace_new();
    lsc_lowrank *v = calloc(T + 1, sizeof *v);
    double **fb = calloc(T + 1, sizeof *fb), **fa = calloc(T + 1, sizeof *fa), **bt = calloc(T + 1, sizeof *bt);
    size_t *fbc = calloc(T + 1, sizeof *fbc), *fac = calloc(T + 1, sizeof *fac);
    double *As = NULL, *err = calloc(T + 1, sizeof *err), worst = 0;
    int shared_layers = 0;
    for (size_t li = 0; !rc && T > 0 && li < src[0]->n_layers; li++) {
        const char *lname = src[0]->layers[li].name;
        int idx[64], all = T <= 64;
        for (size_t i = 0; i < T && all; i++)
            all = (idx[i] = lsc_adapter_find_layer(src[i], lname)) >= 0;
        if (!all)
            continue;
        for (size_t i = 0; i < T && !rc; i++)
            if (lsc_adapter_factors(src[i], (size_t)idx[i], &fb[i], &fbc[i], &fa[i], &fac[i], &v[i], &ctx->err))
                rc = LSC_EXIT_ERROR;
        if (rc)
            break;
        int kk = (int)k, kmax = lsc_tasks_shared_max_k(v, (int)T);
        if (kk > kmax)
            kk = kmax;
        As = realloc(As, (size_t)(kk * v[0].cols + 1) * sizeof *As);
        for (size_t i = 0; i < T; i++)
            bt[i] = realloc(bt[i], (size_t)(v[0].rows * kk + 1) * sizeof **bt);
        if (lsc_tasks_factor_shared(v, (int)T, kk, ws, As, bt, err, &ctx->err)) {
            lsc_error_prefix(&ctx->err, "layer '%s'", lname);
            rc = LSC_EXIT_ERROR;
            break;
        }
        for (size_t i = 0; i < T && !rc; i++) {
            lsc_layer *l = &dst[i]->layers[idx[i]];
            l->rule = LSC_SCALE_ALPHA_R;
            l->init_r = 0;
            if (lsc_adapter_set_factors(dst[i], (size_t)idx[i], bt[i], As, kk, 1.0, &ctx->err))
                rc = LSC_EXIT_ERROR;
            worst = fmax(worst, err[i]);
        }
        shared_layers++;
    }
    /* store the new tasks and their group, in this one transaction */
    if (!rc) {
        char meta[128];
        snprintf(meta, sizeof meta, "{\"shared_rank\": %ld, \"from\": %lld}", k, (long long)gid);
        rc = lsc_tasks_store_group(ctx, t, dst, T, newname, src[0], meta, &gid, 1);
    }
    if (!rc)
        lsc_out(ctx->out, "%s: %zu tasks share one A of rank %ld on %d layer(s); largest relative error of a task %.4g\n",
                newname, T, k, shared_layers, worst);
    for (size_t i = 0; i < T; i++) {
        lsc_adapter_free(src[i]);
        lsc_adapter_free(dst[i]);
        free(fb[i]);
        free(fa[i]);
        free(bt[i]);
    }
    free(src);
    free(dst);
    free(sid);
    free(v);
    free(fb);
    free(fa);
    free(bt);
    free(fbc);
    free(fac);
    free(As);
    free(err);
    lsc_workspace_free(ws);
    lsc_task_entries_free(t, T);
    return rc;
}

const lsc_cmd_spec lsc_spec_share = {share_opts, sizeof(share_args), NULL, share_run,
                                     "  the new tasks are NEW-<task>; their A tensors are the same bytes, stored once\n"};
