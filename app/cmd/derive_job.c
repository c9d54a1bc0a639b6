/* derive_job.c: see derive_job.h. */
#include "derive_job.h"

#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "hash.h"
#include "lycoris_layer.h"

/* The loader of a held adapter: every tensor the compute reads was loaded before it started. */
static lsc_status refuse_load(lsc_adapter *ad, size_t i, lsc_error *err)
{
    return lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s' of '%s' was not loaded before the compute (run --jobs)",
                         ad->tensors[i].key, ad->name ? ad->name : "?");
}

size_t lsc_derive_hold_max(void)
{
    const char *e = getenv("LSC_HOLD_BYTES");
    return e && *e ? (size_t)strtoull(e, NULL, 10) : (size_t)256 << 20;
}

lsc_status lsc_derive_hold(lsc_adapter *ad, lsc_tensor_loader *saved, lsc_error *err)
{
    *saved = ad->load;
    for (size_t li = 0; li < ad->n_layers; li++) {
        int ts[LSC_LAYER_INPUTS_MAX];
        lsc_adapter_layer_inputs(ad, li, ts);
        for (int t = 0; t < LSC_LAYER_INPUTS_MAX; t++) {
            lsc_status st = ts[t] >= 0 ? lsc_adapter_load_tensor(ad, (size_t)ts[t], err) : LSC_OK;
            if (st)
                return st;
        }
    }
    lsc_derive_guard(ad, saved);
    return LSC_OK;
}

void lsc_derive_guard(lsc_adapter *ad, lsc_tensor_loader *saved)
{
    *saved = ad->load;
    if (ad->load)
        ad->load = refuse_load;
}

int lsc_derive_job_begin(lsc_cmd_ctx *ctx, const char *src_name, const char *as, const char *suffix, int hold,
                         lsc_derive_job *job)
{
    memset(job, 0, sizeof *job);
    job->cancel = ctx->cancel;
    int rc = lsc_derive_begin(ctx, src_name, as, suffix, &job->src, &job->src_id, &job->dst, job->newname,
                              sizeof job->newname);
    if (!rc && hold && (size_t)lsc_adapter_bytes(job->src) <= lsc_derive_hold_max()) {
        if (lsc_derive_hold(job->src, &job->load, &ctx->err))
            rc = LSC_EXIT_ERROR;
        job->held = 1;
    }
    if (rc)
        lsc_derive_job_release(job);
    return rc;
}

int lsc_derive_job_prepared(int rc, void **state, void (*state_free)(void *))
{
    if (rc == LSC_EXIT_OK && *state && !((lsc_derive_job *)*state)->held) {
        state_free(*state);
        *state = NULL;
    }
    return rc;
}

int lsc_derive_job_take(lsc_cmd_ctx *ctx, lsc_derive_job *job)
{
    lsc_cmd_read(ctx, job->src_id);
    if (job->held && job->src->load == refuse_load)
        job->src->load = job->load;
    job->held = 0;
    return lsc_derive_check_name(ctx, job->newname);
}

int lsc_derive_job_finish(lsc_cmd_ctx *ctx, lsc_derive_job *job, int keep_kind)
{
    if (lsc_derive_cancelled(ctx, job->newname))
        return LSC_EXIT_ERROR; /* the job's release frees the adapters */
    if (lsc_derive_put_stats(ctx, job->dst, &job->stats))
        return LSC_EXIT_ERROR; /* the job's release frees the adapters */
    int rc = lsc_derive_finish(ctx, job->src, job->src_id, job->dst, job->newname, keep_kind);
    job->src = job->dst = NULL;
    return rc;
}

void lsc_derive_job_release(lsc_derive_job *job)
{
    lsc_derive_stats_release(&job->stats);
    if (job->held && job->src && job->src->load == refuse_load)
        job->src->load = job->load;
    lsc_adapter_free(job->src);
    lsc_adapter_free(job->dst);
    job->src = job->dst = NULL;
    job->held = 0;
}

const char *lsc_derive_job_output(const void *state)
{
    return ((const lsc_derive_job *)state)->newname;
}

size_t lsc_derive_job_bytes(const void *state)
{
    const lsc_derive_job *job = state;
    return job->src ? (size_t)lsc_adapter_bytes(job->src) : 0;
}

lsc_status lsc_derive_held_stats(lsc_adapter *dst, lsc_derive_stats *out, lsc_error *err)
{
    size_t n = dst->n_layers;
    memset(out, 0, sizeof *out);
    out->st = calloc(n + 1, sizeof *out->st);
    out->have = calloc(n + 1, 1);
    out->n = n;
    if (!out->st || !out->have)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t t = 0; t < dst->n_tensors; t++)
        if (dst->tensors[t].data && !dst->tensors[t].hash[0])
            lsc_hash_tensor(&dst->tensors[t]);
    lsc_stats_runner sr;
    lsc_status st = lsc_stats_runner_init(&sr, err);
    for (size_t li = 0; !st && li < n; li++) {
        const lsc_layer *l = &dst->layers[li];
        const int ix[3] = {l->ta, l->tb, l->te};
        int fresh = 0;
        for (int k = 0; k < 3; k++)
            fresh |= ix[k] >= 0 && ix[k] < (int)dst->n_tensors && dst->tensors[ix[k]].data != NULL;
        if (!fresh || (l->flags & LSC_LAYER_LYCORIS))
            continue;
        if ((st = lsc_layer_stats_now(dst, li, &sr, NULL, &out->st[li], err)))
            lsc_error_prefix(err, "layer '%s'", l->name);
        else
            out->have[li] = 1;
    }
    if (sr.ws)
        lsc_stats_runner_release(&sr);
    return st;
}

lsc_status lsc_derive_job_computed(lsc_derive_job *job, lsc_status st, lsc_error *err)
{
    return st || !job->held ? st : lsc_derive_held_stats(job->dst, &job->stats, err);
}

int lsc_derive_put_stats(lsc_cmd_ctx *ctx, const lsc_adapter *dst, const lsc_derive_stats *s)
{
    for (size_t li = 0; s->have && li < s->n && li < dst->n_layers; li++) {
        if (!s->have[li])
            continue;
        char key[LSC_HASH_HEX];
        lsc_catalog_stats_key(dst, li, key);
        if (lsc_catalog_put_stats(ctx->cat, key, &s->st[li], &ctx->err))
            return LSC_EXIT_ERROR;
    }
    return LSC_EXIT_OK;
}

void lsc_derive_stats_release(lsc_derive_stats *s)
{
    for (size_t li = 0; s->st && li < s->n; li++)
        lsc_stats_release(&s->st[li]);
    free(s->st);
    free(s->have);
    memset(s, 0, sizeof *s);
}
