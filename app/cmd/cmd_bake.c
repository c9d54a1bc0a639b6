/* cmd_bake.c: `lorascope bake NAME --out PATH [--dtype D] [--force]`: the base recorded for NAME (`base`)
 * with the adapter merged in: every adapted tensor becomes W + s·B·A (DoRA: rescaled per output row by the
 * magnitude vector), each element computed in float64 (engine/bakemath.h fixes the order) and rounded once,
 * to nearest even, to the output dtype: the tensor's own, or --dtype (safetensors bases only; a GGUF base
 * keeps each tensor's type, and a Q8_0 tensor that an adapter modifies is refused rather than requantised).
 * Every other tensor is copied byte for byte, in the base's layout (store/bake.h), written to a temporary
 * name and renamed at the end. A progress line goes to stderr when it is a terminal. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bake.h"
#include "bakemath.h"
#include "fileio.h"
#include "basework.h"
#include "format_util.h"
#include "handlers.h"
#include "pool.h"

static const char *const bake_dtypes[] = {"f32", "f16", "bf16", NULL};
static const lsc_dtype bake_dtype_codes[] = {LSC_DT_F32, LSC_DT_F16, LSC_DT_BF16};

typedef struct bake_args {
    lsc_args base;
    const char *name, *out;
    int dtype, force;
} bake_args;

static const lsc_opt bake_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(bake_args, name)},
    {.name = "out", .type = LSC_OPT_PATH, .metavar = "PATH", .flags = LSC_OPT_REQUIRED, .at = offsetof(bake_args, out),
     .help = "where to write the merged model (a file, or a folder for a sharded base)"},
    {.name = "dtype", .type = LSC_OPT_CHOICE, .metavar = "D", .flags = LSC_OPT_ICASE, .choices = bake_dtypes,
     .at = offsetof(bake_args, dtype), .text_at = 0,
     .help = "f32, f16 or bf16 for the merged tensors (default: each tensor's own; safetensors bases only)"},
    {.name = "force", .type = LSC_OPT_FLAG, .at = offsetof(bake_args, force), .help = "replace an existing PATH"},
    {0}};

typedef struct bake_ctx {
    lsc_cmd_ctx *ctx;
    lsc_adapter *ad;
    lsc_basework bw;
    int *layer_of;          /* per base tensor: the adapter layer that modifies it, -1 none */
    lsc_dtype want;         /* --dtype, LSC_DT_INVALID: keep */
    double *bbuf, *abuf, *mbuf, *tbuf; /* factors, DoRA magnitudes, transposed factors */
    size_t bcap, acap, mcap, tcap;
    time_t last;
} bake_ctx;

static lsc_dtype plan(void *p, size_t ti)
{
    bake_ctx *c = p;
    if (c->layer_of[ti] < 0)
        return LSC_DT_INVALID;
    return c->want != LSC_DT_INVALID ? c->want : c->bw.b->tensors[ti].dtype;
}

/* The factors in the stored orientation (bakemath.h): P = B, Q = A as they are; for a tensor stored
 * transposed P = A^T [cols, r] and Q = B^T [r, rows], copied into the context's buffers. */
static lsc_status stored_factors(bake_ctx *c, size_t li, const lsc_lowrank *lr, lsc_bake_job *j, lsc_error *err)
{
    const lsc_layer *l = &c->ad->layers[li];
    j->r = lr->r;
    j->scale = lr->scale;
    if (!c->bw.transposed[li]) {
        j->rows = l->rows, j->cols = l->cols, j->P = lr->B, j->Q = lr->A;
        return LSC_OK;
    }
    size_t n = (size_t)(l->rows + l->cols) * (size_t)(lr->r > 0 ? lr->r : 1);
    if (n > c->tcap) {
        free(c->tbuf);
        if (!(c->tbuf = malloc(n * sizeof(double))))
            return c->tcap = 0, lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        c->tcap = n;
    }
    double *P = c->tbuf, *Q = c->tbuf + (size_t)l->cols * (size_t)lr->r;
    for (int64_t i = 0; i < l->cols; i++)
        for (int k = 0; k < lr->r; k++)
            P[i * lr->r + k] = lr->A[(int64_t)k * l->cols + i];
    for (int k = 0; k < lr->r; k++)
        for (int64_t i = 0; i < l->rows; i++)
            Q[(int64_t)k * l->rows + i] = lr->B[i * lr->r + k];
    j->rows = l->cols, j->cols = l->rows, j->P = P, j->Q = Q;
    return LSC_OK;
}

/* Tensor ti merged from its stored bytes in the planned dtype (lsc_bakemath_convert: decoded, merged and
 * rounded once per row block over the pool, no dense float64 copy); each finished block is written in
 * place by the worker that computed it (lsc_bake_out_write), so writing runs on every worker too. */
static lsc_status compute_at(void *p, size_t ti, const void *raw, lsc_bake_out *out, lsc_error *err)
{
    bake_ctx *c = p;
    size_t li = (size_t)c->layer_of[ti];
    const lsc_layer *l = &c->ad->layers[li];
    const lsc_base_tensor *t = &c->bw.b->tensors[ti];
    lsc_lowrank lr;
    size_t n = 0, overflows = 0;
    if (lsc_cmd_cancelled(c->ctx, "bake"))
        return LSC_ERR_CANCELLED;
    lsc_status st = lsc_adapter_factors(c->ad, li, &c->bbuf, &c->bcap, &c->abuf, &c->acap, &lr, err);
    if (!st && (l->flags & LSC_LAYER_DORA))
        st = lsc_adapter_tensor_doubles(c->ad, (size_t)l->tm, &c->mbuf, &c->mcap, &n, err);
    if (!st && (l->flags & LSC_LAYER_DORA) && n != (size_t)l->rows)
        st = lsc_error_set(err, LSC_ERR_FORMAT, "layer '%s': magnitude vector has %zu values, not %lld", l->name, n,
                           (long long)l->rows);
    lsc_bake_job j = {.src = raw, .src_dt = t->dtype, .dst_dt = plan(c, ti),
                      .mag = (l->flags & LSC_LAYER_DORA) ? c->mbuf : NULL, .emit = lsc_bake_out_write, .emit_ctx = out};
    if (!st)
        st = stored_factors(c, li, &lr, &j, err);
    if (!st)
        st = lsc_bakemath_convert(&j, lsc_pool_default_threads(), &overflows, err);
    if (st == LSC_ERR_UNSUPPORTED)
        return lsc_format_fail(err, st, c->bw.b->files[t->file].path, t->name, "cannot convert %s to %s",
                               lsc_dtype_name(t->dtype), lsc_dtype_name(j.dst_dt));
    if (!st && overflows)
        return lsc_format_fail(err, LSC_ERR_NUMERIC, c->bw.b->files[t->file].path, t->name,
                               "%zu merged values overflow %s", overflows, lsc_dtype_name(j.dst_dt));
    return st;
}

/* The base tensor's bytes against the hash `base` recorded (run on the bake's reader thread, read-only). */
static lsc_status check(void *p, size_t ti, const void *raw, lsc_error *err)
{
    bake_ctx *c = p;
    return lsc_basework_verify_raw(&c->bw, (size_t)c->layer_of[ti], raw, err);
}

static void progress(void *p, uint64_t done, uint64_t total)
{
    bake_ctx *c = p;
    time_t now = time(NULL);
    if (!c->ctx->diag || !c->ctx->diag->is_tty || (now == c->last && done < total))
        return;
    c->last = now;
    int pct = total ? (int)(done * 100 / total) : 100, bar = pct * 30 / 100;
    char b[31];
    memset(b, '#', (size_t)bar);
    memset(b + bar, '.', (size_t)(30 - bar));
    b[30] = '\0';
    lsc_out_ctl(c->ctx->diag, "\rbake [%s] %3d%%%s", b, pct, done >= total ? "\n" : "");
}

/* What this bake cannot do, said before anything is written. */
static lsc_status refusals(bake_ctx *c, lsc_error *err)
{
    lsc_base *b = c->bw.b;
    char esc[LSC_FORMAT_ESC_CAP];
    if (b->kind == LSC_BASE_GGUF && c->want != LSC_DT_INVALID)
        return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, b->path, NULL,
                               "--dtype: a GGUF bake keeps each tensor's type (the header is copied as is)");
    for (size_t li = 0; li < c->ad->n_layers; li++) {
        const lsc_layer *l = &c->ad->layers[li];
        const lsc_base_tensor *t = &b->tensors[c->bw.tensor_of[li]];
        if (c->layer_of[c->bw.tensor_of[li]] != (int)li)
            return lsc_format_fail(err, LSC_ERR_INVALID, b->files[t->file].path, t->name,
                                   "modified by two layers ('%s' and another)", lsc_escape_name(esc, sizeof esc, l->name));
        if (t->dtype == LSC_DT_INVALID || !lsc_dtype_is_float(plan(c, (size_t)c->bw.tensor_of[li])))
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, b->files[t->file].path, t->name,
                                   "a quantised tensor is not requantised by bake (attach an F32/F16/BF16 base)");
        if ((l->flags & LSC_LAYER_DORA) && (l->flags & (LSC_LAYER_FAN_IN_FAN_OUT | LSC_LAYER_CONV | LSC_LAYER_EMBEDDING)))
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, b->files[t->file].path, t->name,
                                   "DoRA on a transposed, conv or embedding layer is not baked");
    }
    return LSC_OK;
}

static int bake_run(lsc_cmd_ctx *ctx, void *args)
{
    const bake_args *av = args;
    bake_ctx c = {.ctx = ctx};
    int64_t id = 0;
    char *target = NULL;
    c.want = lsc_opts_given(bake_opts, av, "dtype") ? bake_dtype_codes[av->dtype] : LSC_DT_INVALID;
    if (lsc_cmd_load(ctx, av->name, &c.ad, &id))
        return LSC_EXIT_ERROR;
    lsc_status st = lsc_basework_open(&c.bw, ctx->cat, c.ad, id, &ctx->err);
    if (!st && !(c.layer_of = malloc(sizeof(int) * (c.bw.b->n_tensors + 1))))
        st = lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < c.bw.b->n_tensors; i++)
        c.layer_of[i] = -1;
    for (size_t li = 0; !st && li < c.ad->n_layers; li++)
        if (c.layer_of[c.bw.tensor_of[li]] < 0)
            c.layer_of[c.bw.tensor_of[li]] = (int)li;
    if (!st)
        st = refusals(&c, &ctx->err);
    if (!st)
        st = lsc_target_check(av->out, c.bw.b->kind == LSC_BASE_SHARDED ? LSC_TARGET_FOLDER : LSC_TARGET_FILE, av->force,
                              lsc_catalog_file(ctx->cat), &target, &ctx->err);
    if (!st) {
        lsc_bake_ops ops = {plan, NULL, compute_at, progress, &c, check};
        st = lsc_base_bake(c.bw.b, target, &ops, &ctx->err);
    }
    if (!st) {
        char e1[512], e2[512];
        lsc_out(ctx->out, "baked '%s' into %s (%zu tensors merged, %zu copied)\n", lsc_escape_name(e1, sizeof e1, c.ad->name),
                lsc_escape_name(e2, sizeof e2, target), c.ad->n_layers, c.bw.b->n_tensors - c.ad->n_layers);
    }
    free(target);
    free(c.layer_of);
    free(c.bbuf), free(c.abuf), free(c.mbuf), free(c.tbuf);
    lsc_basework_release(&c.bw);
    lsc_adapter_free(c.ad);
    return st ? LSC_EXIT_ERROR : LSC_EXIT_OK;
}

const lsc_cmd_spec lsc_spec_bake = {bake_opts, sizeof(bake_args), NULL, bake_run,
                                    "Each merged element is computed in float64 and rounded once (nearest even).\n"
                                    "GGUF bases bake to GGUF with every tensor's type kept; Q8_0 tensors an adapter\n"
                                    "modifies are refused, not requantised.\n"};
