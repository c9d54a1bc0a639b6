/* derive_job.c: see derive_job.h. */
#include "derive_job.h"

#include <stdlib.h>
#include <string.h>

/* The loader of a held adapter: every tensor the compute reads was loaded before it started. */
static lsc_status refuse_load(lsc_adapter *ad, size_t i, lsc_error *err)
{
    return lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s' of '%s' was not loaded before the compute (run --jobs)",
                         ad->tensors[i].key, ad->name ? ad->name : "?");
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
    if (!rc && hold) {
        if (lsc_derive_hold(job->src, &job->load, &ctx->err))
            rc = LSC_EXIT_ERROR;
        job->held = 1;
    }
    if (rc)
        lsc_derive_job_release(job);
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
    int rc = lsc_derive_finish(ctx, job->src, job->src_id, job->dst, job->newname, keep_kind);
    job->src = job->dst = NULL;
    return rc;
}

void lsc_derive_job_release(lsc_derive_job *job)
{
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
