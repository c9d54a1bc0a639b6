/* cmd_gates.c: `lorascope gates NAME --threshold L [--as NEW]`: the SoRA proximal step on every gate,
 * g <- sign(g) max(|g| - L, 0); gates that reach 0 close their rank direction (convert --to static then
 * drops them). Prints the live gates per layer before and after. */
#include <stdlib.h>
#include <string.h>

#include "derive_job.h"
#include "handlers.h"
#include "kinds.h"

typedef struct gates_args {
    lsc_args base;
    const char *name, *as, *targ;
    double lambda;
} gates_args;

static const lsc_opt gates_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(gates_args, name)},
    {.name = "threshold", .type = LSC_OPT_REAL, .metavar = "L", .flags = LSC_OPT_REQUIRED, .lo = 0, .hi = HUGE_VAL,
     .at = offsetof(gates_args, lambda), .text_at = offsetof(gates_args, targ),
     .help = "soft-threshold each gate g to sign(g) max(|g| - L, 0)"},
    {.name = "as", .type = LSC_OPT_NEW, .metavar = "NEW", .at = offsetof(gates_args, as),
     .help = "the new adapter's name (default NAME-gatesL)"},
    {0}};

/* A gates step between its reads of the catalog and its store (derive_job.h): what `run --jobs` computes
 * on a worker thread; the run step without --jobs takes the same three steps in a row. */
typedef struct gates_state {
    lsc_derive_job job;
    double lambda;
    int gates, before, after;
} gates_state;

static void gates_state_free(void *v)
{
    gates_state *s = v;
    if (!s)
        return;
    lsc_derive_job_release(&s->job);
    free(s);
}

static int gates_begin(lsc_cmd_ctx *ctx, const gates_args *av, int hold, gates_state **out)
{
    char suffix[64];
    gates_state *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    s->lambda = av->lambda;
    snprintf(suffix, sizeof suffix, "gates%s", av->targ);
    int rc = lsc_derive_job_begin(ctx, av->name, av->as, suffix, hold, &s->job);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return LSC_EXIT_OK;
}

static int gates_prepare(lsc_cmd_ctx *ctx, void *args, void **state)
{
    return lsc_derive_job_prepared(gates_begin(ctx, args, 1, (gates_state **)state), state, gates_state_free);
}

/* The proximal step on every gate of the source into the new adapter: no catalog (any thread). */
static lsc_status gates_compute(void *state, lsc_error *err)
{
    gates_state *s = state;
    lsc_adapter *src = s->job.src, *dst = s->job.dst;
    double *v = NULL, *o = NULL;
    size_t cap = 0, n;
    lsc_status st = LSC_OK;
    for (size_t li = 0; li < src->n_layers && !st; li++) {
        int tg = lsc_adapter_layer_tensor(src, li, LSC_ROLE_GATE);
        if (tg < 0)
            continue;
        s->gates++;
        int live = 0;
        if ((st = lsc_adapter_tensor_doubles(src, (size_t)tg, &v, &cap, &n, err)))
            break;
        double *no = realloc(o, (n ? n : 1) * sizeof *o);
        if (!no) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            break;
        }
        o = no;
        for (size_t i = 0; i < n; i++)
            s->before += v[i] != 0.0;
        if ((st = lsc_sora_threshold(v, (int)n, s->lambda, o, &live, err)) ||
            (st = lsc_adapter_set_tensor(dst, (size_t)tg, o, src->tensors[tg].ndim, src->tensors[tg].shape, err)))
            lsc_error_prefix(err, "layer '%s'", src->layers[li].name);
        s->after += live;
    }
    free(v);
    free(o);
    if (!st && s->gates == 0)
        st = lsc_error_set(err, LSC_ERR_INVALID, "'%s' has no gates (not a sparse adapter)", src->name);
    return lsc_derive_job_computed(&s->job, st, err);
}

static int gates_run(lsc_cmd_ctx *ctx, void *args)
{
    gates_state *s = ctx->prepared; /* from run --jobs: read and computed already; store it here */
    int computed = s != NULL;
    ctx->prepared = NULL;
    int rc = s ? lsc_derive_job_take(ctx, &s->job) : gates_begin(ctx, args, 0, &s);
    if (!rc && !computed && gates_compute(s, &ctx->err))
        rc = LSC_EXIT_ERROR;
    if (!rc) {
        lsc_out(ctx->out, "%s: %d of %d gates live after the step (were %d), %d layer(s)\n", s->job.newname, s->after,
                s->before, s->before, s->gates);
        rc = lsc_derive_job_finish(ctx, &s->job, 1);
    }
    gates_state_free(s);
    return rc;
}

const lsc_cmd_spec lsc_spec_gates = {gates_opts, sizeof(gates_args), NULL, gates_run, ""};

const lsc_cmd_split lsc_split_gates = {gates_prepare, gates_compute, gates_state_free, lsc_derive_job_output,
                                        lsc_derive_job_bytes, NULL};
