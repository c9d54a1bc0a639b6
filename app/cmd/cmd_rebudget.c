/* cmd_rebudget.c: `lorascope rebudget NAME N [--as NEW]`: an AdaLoRA adapter keeps exactly N triplets in
 * all, the N of largest importance |s Lambda_i| ||P_i|| ||Q_i|| over every layer (engine/kinds.h), and
 * its saved masks (rank_pattern, one boolean per init_r slot) are rewritten so PEFT reloads it as cut.
 * A layer left with no triplet keeps one masked triplet (Lambda = 0), as PEFT's own masking does. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "derive_job.h"
#include "handlers.h"
#include "kinds.h"
#include "peft.h"

typedef struct rebudget_args {
    lsc_args base;
    const char *name, *as;
    long long budget;
} rebudget_args;

static const lsc_opt rebudget_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(rebudget_args, name)},
    {.metavar = "N", .type = LSC_OPT_INT, .flags = LSC_OPT_POSITIONAL, .ilo = 1, .ihi = LLONG_MAX,
     .at = offsetof(rebudget_args, budget), .help = "the number of triplets kept over the whole adapter"},
    {.name = "as", .type = LSC_OPT_NEW, .metavar = "NEW", .at = offsetof(rebudget_args, as),
     .help = "the new adapter's name (default NAME-budgetN)"},
    {0}};

/* A rebudget between its reads of the catalog and its store (derive_job.h): what `run --jobs` computes on
 * a worker thread; the run step without --jobs takes the same three steps in a row. */
typedef struct rebudget_state {
    lsc_derive_job job;
    long long budget;
    size_t total;
} rebudget_state;

static void rebudget_state_free(void *v)
{
    rebudget_state *s = v;
    if (!s)
        return;
    lsc_derive_job_release(&s->job);
    free(s);
}

static int rebudget_begin(lsc_cmd_ctx *ctx, const rebudget_args *av, int hold, rebudget_state **out)
{
    char suffix[64];
    rebudget_state *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    s->budget = av->budget;
    snprintf(suffix, sizeof suffix, "budget%lld", av->budget);
    int rc = lsc_derive_job_begin(ctx, av->name, av->as, suffix, hold, &s->job);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return LSC_EXIT_OK;
}

static int rebudget_prepare(lsc_cmd_ctx *ctx, void *args, void **state)
{
    return lsc_derive_job_prepared(rebudget_begin(ctx, args, 1, (rebudget_state **)state), state, rebudget_state_free);
}

/* The N most important triplets over every layer, the masks rewritten: no catalog (any thread). */
static lsc_status rebudget_compute(void *state, lsc_error *err)
{
    rebudget_state *s = state;
    lsc_adapter *src = s->job.src, *dst = s->job.dst;
    size_t n = src->n_layers;
    lsc_adalora_layer *L = calloc(n + 1, sizeof *L);
    double **P = calloc(n + 1, sizeof *P), **E = calloc(n + 1, sizeof *E), **Q = calloc(n + 1, sizeof *Q);
    size_t total = 0;
    lsc_status rc = LSC_OK;
    if (!L || !P || !E || !Q)
        rc = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t li = 0; li < n && !rc; li++) {
        lsc_layer *l = &src->layers[li];
        if (l->te < 0) {
            rc = lsc_error_set(err, LSC_ERR_INVALID, "'%s' is not an AdaLoRA adapter (layer '%s' has no lora_E)", src->name,
                               l->name);
            break;
        }
        size_t cp = 0, ce = 0, cq = 0, np, ne, nq;
        if (lsc_adapter_tensor_doubles(src, (size_t)l->tb, &P[li], &cp, &np, err) ||
            lsc_adapter_tensor_doubles(src, (size_t)l->te, &E[li], &ce, &ne, err) ||
            lsc_adapter_tensor_doubles(src, (size_t)l->ta, &Q[li], &cq, &nq, err)) {
            rc = err->code ? err->code : LSC_ERR_INVALID;
            break;
        }
        L[li] = (lsc_adalora_layer){l->rows, l->cols, l->rank, P[li], E[li], Q[li], l->scale};
        total += (size_t)l->rank;
    }
    if (!rc && (size_t)s->budget > total) {
        rc = lsc_error_set(err, LSC_ERR_INVALID, "'%s' has %zu triplets: a budget of %lld cannot grow it", src->name, total,
                           s->budget);
    }
    uint8_t *keep = calloc(total + 1, 1);
    int *kept = calloc(n + 1, sizeof *kept);
    if (!rc && (!keep || !kept || lsc_adalora_rebudget(L, (int)n, s->budget, keep, kept, err)))
        rc = err->code ? err->code : lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    json_t *cfg = !rc && dst->config_json ? json_loads(dst->config_json, JSON_PRESERVE_ORDER, NULL) : NULL;
    json_t *rp = json_object_get(cfg, "rank_pattern");
    size_t off = 0;
    for (size_t li = 0; li < n && !rc; li++) {
        lsc_layer *l = &dst->layers[li];
        int r = L[li].r, k = kept[li] > 0 ? kept[li] : 1;
        double *p2 = calloc((size_t)(l->rows * k) + 1, sizeof *p2), *e2 = calloc((size_t)k + 1, sizeof *e2),
               *q2 = calloc((size_t)(k * l->cols) + 1, sizeof *q2);
        int k_out = 0;
        if (!p2 || !e2 || !q2)
            rc = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        else if (kept[li] > 0 && lsc_adalora_apply_mask(&L[li], keep + off, p2, e2, q2, &k_out, err))
            rc = err->code ? err->code : LSC_ERR_INVALID;
        else if (kept[li] == 0) { /* one masked triplet: its first, with Lambda 0 */
            for (int64_t i = 0; i < l->rows; i++)
                p2[i] = P[li][i * r];
            memcpy(q2, Q[li], (size_t)l->cols * sizeof(double));
            e2[0] = 0.0;
        }
        int64_t sp[2] = {l->rows, k}, se[2] = {k, 1}, sq[2] = {k, l->cols};
        int ne = dst->tensors[l->te].ndim;
        if (!rc && (lsc_adapter_set_tensor(dst, (size_t)l->tb, p2, 2, sp, err) ||
                    lsc_adapter_set_tensor(dst, (size_t)l->te, e2, ne == 1 ? 1 : 2, se, err) ||
                    lsc_adapter_set_tensor(dst, (size_t)l->ta, q2, 2, sq, err)))
            rc = err->code ? err->code : LSC_ERR_INVALID;
        l->rank = k;
        /* the saved mask: of its slots that were kept, keep those the budget kept */
        if (!rc && json_is_object(rp)) {
            char key[600];
            snprintf(key, sizeof key, "%s.lora_E", lsc_peft_module_name(l->name));
            json_t *mask = json_object_get(rp, key);
            size_t j = 0, i;
            json_t *v;
            json_array_foreach(mask, i, v) {
                if (!json_is_true(v))
                    continue;
                json_array_set_new(mask, i, json_boolean(j < (size_t)r && kept[li] > 0 && keep[off + j]));
                j++;
            }
        }
        off += (size_t)r;
        free(p2);
        free(e2);
        free(q2);
    }
    if (!rc && cfg) {
        free(dst->config_json);
        dst->config_json = json_dumps(cfg, JSON_INDENT(2));
    }
    json_decref(cfg);
    for (size_t li = 0; li < n; li++) {
        if (P)
            free(P[li]);
        if (E)
            free(E[li]);
        if (Q)
            free(Q[li]);
    }
    free(P);
    free(E);
    free(Q);
    free(L);
    free(keep);
    free(kept);
    s->total = total;
    return lsc_derive_job_computed(&s->job, rc, err);
}

static int rebudget_run(lsc_cmd_ctx *ctx, void *args)
{
    rebudget_state *s = ctx->prepared; /* from run --jobs: read and computed already; store it here */
    int computed = s != NULL;
    ctx->prepared = NULL;
    int rc = s ? lsc_derive_job_take(ctx, &s->job) : rebudget_begin(ctx, args, 0, &s);
    if (!rc && !computed && rebudget_compute(s, &ctx->err))
        rc = LSC_EXIT_ERROR;
    if (!rc) {
        lsc_out(ctx->out, "%s: %lld of %zu triplets kept\n", s->job.newname, s->budget, s->total);
        rc = lsc_derive_job_finish(ctx, &s->job, 1);
    }
    rebudget_state_free(s);
    return rc;
}

const lsc_cmd_spec lsc_spec_rebudget = {rebudget_opts, sizeof(rebudget_args), NULL, rebudget_run,
                                        "  importance of triplet i: |s Lambda_i| ||P_i|| ||Q_i||; the saved masks (rank_pattern) are rewritten\n"};

const lsc_cmd_split lsc_split_rebudget = {rebudget_prepare, rebudget_compute, rebudget_state_free,
                                           lsc_derive_job_output, lsc_derive_job_bytes, NULL};
