/* cmd_gates.c: `lorascope gates NAME --threshold L [--as NEW]`: the SoRA proximal step on every gate,
 * g <- sign(g) max(|g| - L, 0); gates that reach 0 close their rank direction (convert --to static then
 * drops them). Prints the live gates per layer before and after. */
#include <stdlib.h>
#include <string.h>

#include "derive.h"
#include "handlers.h"
#include "kinds.h"

int lsc_cmd_gates(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"threshold", required_argument, NULL, 't'}, {"as", required_argument, NULL, 'a'}, {NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    const char *as = NULL, *targ = NULL;
    int c;
    while ((c = lsc_getopt_next(ctx, &g, argc, argv, opts)) != -1) {
        if (c == 't')
            targ = g.arg;
        else if (c == 'a')
            as = g.arg;
        else
            return LSC_EXIT_USAGE;
    }
    char *end = NULL;
    double lambda = targ ? strtod(targ, &end) : -1;
    if (argc - g.ind != 1 || !targ || *end || !(lambda >= 0))
        return lsc_usage_error(ctx, "gates", "expected NAME --threshold L (L >= 0)");
    if (ctx->check_only)
        return LSC_EXIT_OK;
    lsc_adapter *src, *dst;
    int64_t sid;
    char newname[512], suffix[64];
    snprintf(suffix, sizeof suffix, "gates%s", targ);
    int rc = lsc_derive_begin(ctx, argv[g.ind], as, suffix, &src, &sid, &dst, newname, sizeof newname);
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
