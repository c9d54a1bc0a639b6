/* cmd_share.c: `lorascope share NAME --rank K [--as NEW]`: factor out the input subspace the tasks of a
 * multi-task adapter share: one A [K, in] per layer for every task (the top-K right singular directions of
 * the stacked task deltas, from the factors) and one B per task, HydraLoRA-style. The tasks' A tensors
 * are then the same bytes, so the catalog stores each once. Prints each task's exact relative error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "derive_job.h"
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

/* A share between its reads of the catalog and its store (command.h lsc_cmd_split): what `run --jobs`
 * computes on a worker thread; the run step without --jobs takes the same three steps in a row. */
typedef struct share_state {
    long k;
    int64_t gid;
    lsc_task_entry *t;
    size_t T, held;           /* held: how many task adapters are preloaded, their loaders refusing */
    lsc_adapter **src, **dst;
    int64_t *sid;
    lsc_tensor_loader *loads;
    char newname[512];
    char **made;              /* [T]: the names the tasks will get, NEW-<task> (for run --jobs) */
    double worst;
    int shared_layers;
} share_state;

static void share_state_free(void *v)
{
    share_state *s = v;
    if (!s)
        return;
    for (size_t i = 0; i < s->held; i++)
        s->src[i]->load = s->loads[i];
    for (size_t i = 0; i < s->T; i++) {
        if (s->src)
            lsc_adapter_free(s->src[i]);
        if (s->dst)
            lsc_adapter_free(s->dst[i]);
        if (s->made)
            free(s->made[i]);
    }
    free(s->src);
    free(s->dst);
    free(s->sid);
    free(s->loads);
    free(s->made);
    lsc_task_entries_free(s->t, s->T);
    free(s);
}

/* Every read of the catalog: the group, the name, its tasks' adapters; `hold` preloads them (and makes
 * their loaders refuse) unless they are too big to hold, when *out is NULL (run it in turn). */
static int share_begin(lsc_cmd_ctx *ctx, const share_args *av, int hold, share_state **out)
{
    share_state *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    s->k = (long)av->k;
    if (av->as)
        snprintf(s->newname, sizeof s->newname, "%s", av->as);
    else
        snprintf(s->newname, sizeof s->newname, "%s-shared%ld", av->name, s->k);
    lsc_adapter *grp = NULL;
    if (lsc_cmd_load(ctx, av->name, &grp, &s->gid)) {
        free(s);
        return LSC_EXIT_ERROR;
    }
    int rc = LSC_EXIT_OK;
    if (!lsc_is_group(grp->kind)) {
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' is not a multi-task adapter (see 'lorascope group')", av->name);
        rc = LSC_EXIT_ERROR;
    }
    lsc_adapter_free(grp);
    if (!rc)
        rc = lsc_derive_check_name(ctx, s->newname);
    if (!rc && lsc_catalog_get_tasks(ctx->cat, s->gid, &s->t, &s->T, &ctx->err))
        rc = LSC_EXIT_ERROR;
    size_t T = s->T;
    s->src = calloc(T + 1, sizeof *s->src);
    s->dst = calloc(T + 1, sizeof *s->dst);
    s->sid = calloc(T + 1, sizeof *s->sid);
    s->loads = calloc(T + 1, sizeof *s->loads);
    s->made = calloc(T + 1, sizeof *s->made);
    if (!rc && (!s->src || !s->dst || !s->sid || !s->loads || !s->made))
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    size_t bytes = 0;
    for (size_t i = 0; i < T && !rc; i++) {
        if (lsc_catalog_get_adapter_by_id(ctx->cat, s->t[i].member_id, &s->src[i], &ctx->err) ||
            !(s->dst[i] = lsc_adapter_clone_meta(s->src[i])))
            rc = lsc_fail(ctx, &ctx->err);
        s->sid[i] = s->t[i].member_id;
        lsc_cmd_read(ctx, s->sid[i]);
        bytes += s->src[i] ? (size_t)lsc_adapter_bytes(s->src[i]) : 0;
        char mname[600];
        snprintf(mname, sizeof mname, "%s-%s", s->newname, s->t[i].task);
        if (!rc && !(s->made[i] = strdup(mname)))
            rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    }
    for (size_t i = 0; !rc && hold && bytes <= lsc_derive_hold_max() && i < T; i++) {
        if (lsc_derive_hold(s->src[i], &s->loads[i], &ctx->err))
            rc = lsc_fail(ctx, &ctx->err);
        s->held = i + 1;
    }
    if (rc || (hold && T > 0 && s->held == 0)) { /* failed, or too big to hold: run it in turn */
        share_state_free(s);
        return rc;
    }
    *out = s;
    return LSC_EXIT_OK;
}

static int share_prepare(lsc_cmd_ctx *ctx, void *args, void **state)
{
    return share_begin(ctx, args, 1, (share_state **)state);
}

/* Every layer the tasks have in common factored into one shared A and one B per task: no catalog. */
static lsc_status share_compute(void *state, lsc_error *e)
{
    share_state *s = state;
    size_t T = s->T;
    lsc_adapter **src = s->src, **dst = s->dst;
    lsc_workspace *ws = lsc_workspace_new();
    lsc_lowrank *v = calloc(T + 1, sizeof *v);
    double **fb = calloc(T + 1, sizeof *fb), **fa = calloc(T + 1, sizeof *fa), **bt = calloc(T + 1, sizeof *bt);
    size_t *fbc = calloc(T + 1, sizeof *fbc), *fac = calloc(T + 1, sizeof *fac);
    double *As = NULL, *err = calloc(T + 1, sizeof *err);
    lsc_status st = LSC_OK;
    if (!ws || !v || !fb || !fa || !bt || !fbc || !fac || !err)
        st = lsc_error_set(e, LSC_ERR_NOMEM, "out of memory");
    for (size_t li = 0; !st && T > 0 && li < src[0]->n_layers; li++) {
        const char *lname = src[0]->layers[li].name;
        int idx[64], all = T <= 64;
        for (size_t i = 0; i < T && all; i++)
            all = (idx[i] = lsc_adapter_find_layer(src[i], lname)) >= 0;
        if (!all)
            continue;
        for (size_t i = 0; i < T && !st; i++)
            st = lsc_adapter_factors(src[i], (size_t)idx[i], &fb[i], &fbc[i], &fa[i], &fac[i], &v[i], e);
        if (st)
            break;
        int kk = (int)s->k, kmax = lsc_tasks_shared_max_k(v, (int)T);
        if (kk > kmax)
            kk = kmax;
        As = realloc(As, (size_t)(kk * v[0].cols + 1) * sizeof *As);
        for (size_t i = 0; i < T; i++)
            bt[i] = realloc(bt[i], (size_t)(v[0].rows * kk + 1) * sizeof **bt);
        if ((st = lsc_tasks_factor_shared(v, (int)T, kk, ws, As, bt, err, e))) {
            lsc_error_prefix(e, "layer '%s'", lname);
            break;
        }
        for (size_t i = 0; i < T && !st; i++) {
            lsc_layer *l = &dst[i]->layers[idx[i]];
            l->rule = LSC_SCALE_ALPHA_R;
            l->init_r = 0;
            st = lsc_adapter_set_factors(dst[i], (size_t)idx[i], bt[i], As, kk, 1.0, e);
            s->worst = fmax(s->worst, err[i]);
        }
        s->shared_layers++;
    }
    for (size_t i = 0; i < T; i++) {
        if (fb)
            free(fb[i]);
        if (fa)
            free(fa[i]);
        if (bt)
            free(bt[i]);
    }
    free(v);
    free(fb);
    free(fa);
    free(bt);
    free(fbc);
    free(fac);
    free(As);
    free(err);
    lsc_workspace_free(ws);
    return st;
}

static int share_run(lsc_cmd_ctx *ctx, void *args)
{
    share_state *s = ctx->prepared; /* from run --jobs: read and computed already; store it here */
    int computed = s != NULL, rc = LSC_EXIT_OK;
    ctx->prepared = NULL;
    if (s) {
        for (size_t i = 0; i < s->T; i++)
            lsc_cmd_read(ctx, s->sid[i]);
        rc = lsc_derive_check_name(ctx, s->newname); /* an earlier line of the run may have taken it */
    } else if ((rc = share_begin(ctx, args, 0, &s)) != LSC_EXIT_OK) {
        return rc;
    }
    if (!rc && !computed && share_compute(s, &ctx->err))
        rc = LSC_EXIT_ERROR;
    /* store the new tasks and their group, in this one transaction */
    if (!rc) {
        char meta[128];
        snprintf(meta, sizeof meta, "{\"shared_rank\": %ld, \"from\": %lld}", s->k, (long long)s->gid);
        rc = lsc_tasks_store_group(ctx, s->t, s->dst, s->T, s->newname, s->src[0], meta, &s->gid, 1);
    }
    if (!rc)
        lsc_out(ctx->out,
                "%s: %zu tasks share one A of rank %ld on %d layer(s); largest relative error of a task %.4g\n",
                s->newname, s->T, s->k, s->shared_layers, s->worst);
    share_state_free(s);
    return rc;
}

static const char *share_output(const void *state)
{
    return ((const share_state *)state)->newname;
}

static const char *share_output_at(const void *state, size_t i)
{
    const share_state *s = state;
    return i == 0 ? s->newname : i <= s->T ? s->made[i - 1] : NULL;
}

static size_t share_held_bytes(const void *state)
{
    const share_state *s = state;
    size_t b = 0;
    for (size_t i = 0; i < s->T; i++)
        b += (size_t)lsc_adapter_bytes(s->src[i]);
    return b;
}

const lsc_cmd_spec lsc_spec_share = {share_opts, sizeof(share_args), NULL, share_run,
                                     "  the new tasks are NEW-<task>; their A tensors are the same bytes, stored once\n"};

const lsc_cmd_split lsc_split_share = {share_prepare,      share_compute,    share_state_free,
                                        share_output,       share_held_bytes, share_output_at};
