/* cmd_gates.c: `lorascope gates NAME --threshold L [--as NEW]`: the SoRA proximal step on every gate,
 * g <- sign(g) max(|g| - L, 0); gates that reach 0 close their rank direction (convert --to static then
 * drops them). Prints the live gates per layer before and after. */
#include <stdlib.h>
#include <string.h>

#include "derive.h"
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

static int gates_run(lsc_cmd_ctx *ctx, void *args)
{
    const gates_args *av = args;
    const char *as = av->as, *targ = av->targ;
    double lambda = av->lambda;
    lsc_adapter *src, *dst;
    int64_t sid;
    char newname[512], suffix[64];
    snprintf(suffix, sizeof suffix, "gates%s", targ);
    int rc = lsc_derive_begin(ctx, av->name, as, suffix, &src, &sid, &dst, newname, sizeof newname);
    if (rc)
        return rc;
    double *v = NULL, *o = NULL;
    size_t cap = 0, n;
    int gates = 0, before = 0, after = 0;
    for (size_t li = 0; li < src->n_layers && !rc; li++) {
        int tg = lsc_adapter_layer_tensor(src, li, LSC_ROLE_GATE);
        if (tg < 0)
            continue;
        gates++;
        int live = 0;
        if (lsc_adapter_tensor_doubles(src, (size_t)tg, &v, &cap, &n, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        double *no = realloc(o, (n ? n : 1) * sizeof *o);
        if (!no) {
            rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
            break;
        }
        o = no;
        for (size_t i = 0; i < n; i++)
            before += v[i] != 0.0;
        if (lsc_sora_threshold(v, (int)n, lambda, o, &live, &ctx->err) ||
            lsc_adapter_set_tensor(dst, (size_t)tg, o, src->tensors[tg].ndim, src->tensors[tg].shape, &ctx->err)) {
            lsc_error_prefix(&ctx->err, "layer '%s'", src->layers[li].name);
            rc = LSC_EXIT_ERROR;
        }
        after += live;
    }
    free(v);
    free(o);
    if (!rc && gates == 0) {
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' has no gates (not a sparse adapter)", src->name);
        rc = LSC_EXIT_ERROR;
    }
    if (rc) {
        lsc_adapter_free(src);
        lsc_adapter_free(dst);
        return rc;
    }
    lsc_out(ctx->out, "%s: %d of %d gates live after the step (were %d), %d layer(s)\n", newname, after, before, before,
            gates);
    return lsc_derive_finish(ctx, src, sid, dst, newname, 1);
}

const lsc_cmd_spec lsc_spec_gates = {gates_opts, sizeof(gates_args), NULL, gates_run, ""};
