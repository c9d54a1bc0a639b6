/* cmd_retrain.c: `lorascope retrain NAME (--target REF | --base B --tuned T) [options]`: train an
 * adapter's factors to reproduce a target's layer maps, under a kind's rule (engine/train.h).
 *
 * Per layer the loss is E_x ||(T - s B A) x||^2: the Frobenius distance for isotropic inputs, weighted by
 * a calibration second moment C (or samples X) from --calib. A target adapter is used as factors (its
 * delta is never formed); --base/--tuned gives dense targets (tuned - base, LoRA extraction). Layers train
 * in lockstep with Adam, a warm-up + cosine schedule and a fixed seed (same seed, same bytes).
 *
 * Checkpoints: every --checkpoint steps, if the loss improved, the factors are written to the catalog as
 * NEW@ckpt in their own transaction (the previous checkpoint is removed in it), so a killed run leaves its
 * last checkpoint intact. At the end, or on Ctrl-C, the best of the final state and the checkpoint becomes
 * NEW and the checkpoint is removed, in one transaction recorded in the history. Between checkpoints no
 * transaction is held, so the workbench and scripts can use the catalog while training runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "derive.h"
#include "handlers.h"
#include "numfmt.h"
#include "safetensors.h"
#include "tasks.h"
#include "train.h"

typedef struct layer_job {
    size_t li;                 /* layer index in the output adapter */
    lsc_train_problem p;
    lsc_train_target tgt;
    double *tb, *ta, *dense;   /* target factors or dense target (owned) */
    double *C, *X;             /* calibration (owned) */
    lsc_train_state *st;
    double optimum;
} layer_job;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A tensor of a safetensors file as doubles (malloc'ed), or NULL with err set. */
static double *st_doubles(lsc_st_file *f, long i, lsc_error *err)
{
    lsc_st_tensor *t = &f->tensors[i];
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    void *raw = malloc((size_t)(t->end - t->begin) + 1);
    double *v = malloc((n ? n : 1) * sizeof(double));
    if (!raw || !v || lsc_st_read(f, (size_t)i, raw, err) ||
        lsc_dtype_to_double(t->dtype, raw, n, v) != LSC_OK) {
        if (raw && v && err->code == LSC_OK)
            lsc_error_set(err, LSC_ERR_UNSUPPORTED, "tensor '%s': unsupported dtype %s", t->name, lsc_dtype_name(t->dtype));
        free(raw);
        free(v);
        return NULL;
    }
    free(raw);
    return v;
}

/* The key of a module in a plain (non-PEFT) file: the layer name without PEFT's prefix. */
static const char *module_of(const char *layer)
{
    return strncmp(layer, "base_model.model.", 17) == 0 ? layer + 17 : layer;
}

/* Find `<module>.weight` (or the module itself) in f. */
static long find_module(lsc_st_file *f, const char *layer)
{
    char key[1024];
    snprintf(key, sizeof key, "%s.weight", module_of(layer));
    long i = lsc_st_find(f, key);
    if (i < 0)
        i = lsc_st_find(f, module_of(layer));
    if (i < 0)
        i = lsc_st_find(f, layer);
    return i;
}

static void job_release(layer_job *j)
{
    free(j->tb);
    free(j->ta);
    free(j->dense);
    free(j->C);
    free(j->X);
    lsc_train_state_free(j->st);
}

/* Write the current factors of every job into a copy of `shape` named `name`, with parents; returns the
 * new id. Zero columns (masked AdaLoRA triplets, closed SoRA gates) are dropped, so the rank falls. */
static int write_adapter(lsc_cmd_ctx *ctx, const lsc_adapter *shape, layer_job *jobs, size_t n, const char *name,
                         const int64_t *parents, size_t n_parents, int64_t *id)
{
    lsc_adapter *out = lsc_adapter_clone_meta(shape);
    if (!out)
        return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    free(out->name);
    out->name = strdup(name);
    int rc = LSC_EXIT_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        layer_job *j = &jobs[i];
        int64_t rows = j->p.rows, cols = j->p.cols;
        int k = j->p.k;
        double *B = malloc((size_t)(rows * k) * sizeof(double)), *A = malloc((size_t)(k * cols) * sizeof(double));
        double s = 1;
        if (!B || !A || lsc_train_export(j->st, 0, B, A, &s, &ctx->err)) {
            free(B);
            free(A);
            rc = lsc_fail(ctx, &ctx->err);
            break;
        }
        /* drop directions whose B column is exactly zero (a masked triplet or a closed gate) */
        int kept = 0;
        for (int c = 0; c < k; c++) {
            int zero = 1;
            for (int64_t r = 0; r < rows && zero; r++)
                zero = B[r * k + c] == 0.0;
            if (zero)
                continue;
            for (int64_t r = 0; r < rows; r++)
                B[r * k + kept] = B[r * k + c];
            memmove(A + (size_t)kept * (size_t)cols, A + (size_t)c * (size_t)cols, (size_t)cols * sizeof(double));
            kept++;
        }
        if (kept == 0) { /* keep one zero direction: a layer needs rank >= 1 */
            kept = 1;
            for (int64_t r = 0; r < rows; r++)
                B[r] = 0;
        } else if (kept < k) {
            for (int64_t r = 0; r < rows; r++)
                memmove(B + r * kept, B + r * k, (size_t)kept * sizeof(double));
        }
        if (lsc_adapter_set_factors(out, j->li, B, A, kept, s, &ctx->err)) {
            lsc_error_prefix(&ctx->err, "layer '%s'", out->layers[j->li].name);
            rc = LSC_EXIT_ERROR;
        }
        free(B);
        free(A);
    }
    if (!rc) {
        lsc_derive_kind(out);
        rc = lsc_derive_store(ctx, out, parents, n_parents, id);
    }
    lsc_adapter_free(out);
    return rc;
}

/* Hide the visible adapter `name` if there is one. */
static int hide_if_present(lsc_cmd_ctx *ctx, const char *name)
{
    int64_t id;
    lsc_error e;
    if (lsc_catalog_find(ctx->cat, name, &id, &e) != LSC_OK)
        return LSC_EXIT_OK;
    return lsc_catalog_set_hidden(ctx->cat, id, 1, &ctx->err) ? LSC_EXIT_ERROR : LSC_EXIT_OK;
}

/* Transactions of their own, between which training holds none (see the head comment), when the
 * dispatcher gave the command its own transaction; a line of a script runs inside the run's one
 * transaction (ctx->own_txn 0): there every write joins that transaction and these do nothing. */
static lsc_status txn_begin(lsc_cmd_ctx *ctx, lsc_error *err)
{
    return ctx->own_txn ? lsc_catalog_begin(ctx->cat, err) : LSC_OK;
}

static lsc_status txn_commit(lsc_cmd_ctx *ctx)
{
    return ctx->own_txn ? lsc_catalog_commit(ctx->cat, &ctx->err) : LSC_OK;
}

static void txn_rollback(lsc_cmd_ctx *ctx)
{
    if (ctx->own_txn)
        lsc_catalog_rollback(ctx->cat);
}

/* Record a retrain state in the history, replacing the run's previous record (*hist, the history id of
 * its latest checkpoint, 0 if none): one run is one undoable unit whatever it wrote on the way, and
 * a killed run leaves exactly one entry, its last checkpoint's. Inside the caller's transaction. */
static int log_run(lsc_cmd_ctx *ctx, const char *args, const int64_t *parents, size_t n_parents, size_t out_before,
                   int64_t *hist)
{
    if (*hist && lsc_catalog_history_drop(ctx->cat, *hist, &ctx->err))
        return LSC_EXIT_ERROR;
    if (lsc_catalog_log(ctx->cat, "retrain", args, parents, n_parents, ctx->outputs + out_before,
                        ctx->n_outputs - out_before, hist, &ctx->err))
        return LSC_EXIT_ERROR;
    return LSC_EXIT_OK;
}

/* One transaction: write the factors as `name` (replacing `hide` if given), log it (see log_run). */
static int commit_adapter(lsc_cmd_ctx *ctx, const lsc_adapter *shape, layer_job *jobs, size_t n, const char *name,
                          const char *hide, const int64_t *parents, size_t n_parents, const char *args, int64_t *id,
                          int64_t *hist)
{
    if (txn_begin(ctx, &ctx->err))
        return LSC_EXIT_ERROR;
    size_t out_before = ctx->n_outputs;
    int rc = hide ? hide_if_present(ctx, hide) : LSC_EXIT_OK;
    if (!rc)
        rc = hide_if_present(ctx, name);
    if (!rc)
        rc = write_adapter(ctx, shape, jobs, n, name, parents, n_parents, id);
    if (!rc)
        rc = log_run(ctx, args, parents, n_parents, out_before, hist);
    if (!rc && txn_commit(ctx))
        rc = LSC_EXIT_ERROR;
    if (rc)
        txn_rollback(ctx);
    return rc;
}

/* --rank K must fit the layer: a rank-K factorisation of an out x in map needs K <= min(out, in). Saying
 * so beats failing to allocate K-wide factors ("out of memory" for --rank 100000). */
static lsc_status rank_check(long k, const char *layer, int64_t rows, int64_t cols, lsc_error *err)
{
    int64_t bound = rows < cols ? rows : cols;
    if (k <= bound)
        return LSC_OK;
    return lsc_error_set(err, LSC_ERR_INVALID, "--rank %ld is more than layer '%s' allows (%lldx%lld: at most %lld)", k,
                         layer, (long long)rows, (long long)cols, (long long)bound);
}

/* For extraction into a new adapter: a PEFT skeleton with one rank-k layer (zero F32 factors, alpha = k,
 * scale 1) for every 2-D float weight that base and tuned both hold with the same shape and that the fine-
 * tune changed. Layer names are PEFT's: base_model.model.<module>. */
static lsc_status extraction_skeleton(lsc_st_file *fb, lsc_st_file *ft, const char *name, long k, const char *glob,
                                      lsc_adapter **out, lsc_error *err)
{
    lsc_adapter *ad = lsc_adapter_new();
    if (!ad)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    ad->name = strdup(name);
    ad->format = strdup("peft");
    lsc_adapter_set_kind(ad, LSC_KIND_STATIC, NULL);
    const char *slash = strrchr(fb->path, '/');
    ad->base_model = strdup(slash ? slash + 1 : fb->path);
    lsc_status st = LSC_OK;
    for (size_t i = 0; i < ft->n_tensors && !st; i++) {
        lsc_st_tensor *tt = &ft->tensors[i];
        long ib = lsc_st_find(fb, tt->name);
        if (ib < 0 || tt->ndim != 2 || !lsc_dtype_is_float(tt->dtype))
            continue;
        lsc_st_tensor *tb = &fb->tensors[ib];
        if (tb->ndim != 2 || tb->shape[0] != tt->shape[0] || tb->shape[1] != tt->shape[1] || tb->dtype != tt->dtype)
            continue;
        size_t nb = (size_t)(tt->end - tt->begin);
        unsigned char *x = malloc(nb + 1), *y = malloc(nb + 1);
        int changed = 0;
        if (!x || !y)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        else if (!(st = lsc_st_read(ft, i, x, err)) && !(st = lsc_st_read(fb, (size_t)ib, y, err)))
            changed = memcmp(x, y, nb) != 0;
        free(x);
        free(y);
        if (st || !changed)
            continue;
        char lname[1024];
        size_t len = strlen(tt->name);
        int has_w = len > 7 && strcmp(tt->name + len - 7, ".weight") == 0;
        snprintf(lname, sizeof lname, "base_model.model.%.*s", (int)(has_w ? len - 7 : len), tt->name);
        if (!lsc_name_matches(glob, lname))
            continue;
        if ((st = rank_check(k, lname, tt->shape[0], tt->shape[1], err)))
            break;
        size_t li, ta, tb2;
        int64_t sa[2] = {k, tt->shape[1]}, sb[2] = {tt->shape[0], k};
        char ka[1100], kb[1100];
        snprintf(ka, sizeof ka, "%s.lora_A.weight", lname);
        snprintf(kb, sizeof kb, "%s.lora_B.weight", lname);
        void *da = calloc((size_t)(k * tt->shape[1]), 4), *db = calloc((size_t)(tt->shape[0] * k), 4);
        if (!da || !db) {
            free(da);
            free(db);
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            break;
        }
        if ((st = lsc_adapter_add_layer(ad, lname, &li, err)) ||
            (st = lsc_adapter_add_tensor(ad, ka, LSC_ROLE_A, (int)li, LSC_DT_F32, 2, sa, da, &ta, err)) ||
            (st = lsc_adapter_add_tensor(ad, kb, LSC_ROLE_B, (int)li, LSC_DT_F32, 2, sb, db, &tb2, err)))
            break;
        lsc_layer *l = &ad->layers[li];
        const char *dot = strrchr(lname, '.');
        free(l->module_type);
        l->module_type = strdup(dot ? dot + 1 : lname);
        for (const char *p = lname; *p; p++)
            if (*p == '.' && p[1] >= '0' && p[1] <= '9') {
                l->layer_index = atoi(p + 1);
                break;
            }
        l->rows = tt->shape[0];
        l->cols = tt->shape[1];
        l->rank = k;
        l->alpha = k;
        l->rule = LSC_SCALE_ALPHA_R;
        l->scale = 1.0;
        l->ta = (int)ta;
        l->tb = (int)tb2;
    }
    if (!st && ad->n_layers == 0)
        st = lsc_error_set(err, LSC_ERR_NOTFOUND, "'%s' and '%s' share no 2-D weight that the fine-tune changed%s%s",
                           fb->path, ft->path, glob ? " matching " : "", glob ? glob : "");
    if (st) {
        lsc_adapter_free(ad);
        return st;
    }
    *out = ad;
    return LSC_OK;
}

/* Multi-task (shared A, one B per task, HydraLoRA-style): NAME is a multi-task adapter; each task trains
 * towards the same task of --target (a multi-task adapter too; default NAME itself, which turns separate
 * task adapters into one with a shared A). Per layer present in every task: one problem with T targets,
 * started from the optimum of the stacked tasks (or random), trained in lockstep; at the end (or on
 * Ctrl-C) new task adapters NEW-<task> whose A tensors are the same bytes (stored once) and their group
 * NEW are written in one transaction. The steps: tasks_load, tasks_jobs, tasks_train, tasks_export,
 * tasks_commit, tasks_report. */

/* One layer present in every task: its index in each task, one problem with a target per task. */
typedef struct task_job {
    size_t li[64];
    lsc_train_problem p;
    lsc_train_target tg[64];
    double *tb[64], *ta[64];
    lsc_train_state *st;
} task_job;

/* What the steps of one multi-task retrain share; retrain_tasks owns and releases it. */
typedef struct tasks_run {
    const char *name, *newname;
    int64_t gid, tid;              /* the group, and its target (gid itself without --target) */
    lsc_task_entry *t, *tt;        /* the group's tasks and the target's */
    size_t T, TT;
    lsc_adapter **src, **tgt, **dst; /* per task of the group: its adapter, its target, the result */
    task_job *jobs;
    size_t nj;
    lsc_workspace *ws;
    double optimum, final_loss;
    long s; /* one past the last step run */
    int interrupted;
} tasks_run;

/* Step 1: the group's tasks and the target's, matched by task name, loaded (and a copy of each task's
 * metadata to write the result into). */
static int tasks_load(lsc_cmd_ctx *ctx, tasks_run *R, const char *target)
{
    int rc = lsc_catalog_get_tasks(ctx->cat, R->gid, &R->t, &R->T, &ctx->err) ? LSC_EXIT_ERROR : LSC_EXIT_OK;
    lsc_task_entry *t = R->t;
    size_t T = R->T;
    R->tid = R->gid;
    if (!rc && target) {
        lsc_adapter *tg = NULL;
        if (lsc_cmd_load(ctx, target, &tg, &R->tid))
            rc = LSC_EXIT_ERROR;
        else if (!lsc_is_group(tg->kind)) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' is multi-task: its --target must be multi-task too", R->name);
            rc = LSC_EXIT_ERROR;
        }
        lsc_adapter_free(tg);
    }
    if (!rc && lsc_catalog_get_tasks(ctx->cat, R->tid, &R->tt, &R->TT, &ctx->err))
        rc = LSC_EXIT_ERROR;
    if (!rc && (T < 2 || T > 64)) {
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' has %zu tasks (2 to 64 can share an A)", R->name, T);
        rc = LSC_EXIT_ERROR;
    }
    lsc_task_entry *tt = R->tt;
    size_t TT = R->TT;
    lsc_adapter **src = R->src = calloc(T + 1, sizeof *src), **tgt = R->tgt = calloc(T + 1, sizeof *tgt),
                **dst = R->dst = calloc(T + 1, sizeof *dst);
    for (size_t i = 0; !rc && i < T; i++) {
        size_t j = 0;
        while (j < TT && strcmp(tt[j].task, t[i].task) != 0)
            j++;
        if (j == TT) {
            lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "the target has no task '%s'", t[i].task);
            rc = LSC_EXIT_ERROR;
            break;
        }
        if (lsc_catalog_get_adapter_by_id(ctx->cat, t[i].member_id, &src[i], &ctx->err) ||
            lsc_catalog_get_adapter_by_id(ctx->cat, tt[j].member_id, &tgt[i], &ctx->err) ||
            !(dst[i] = lsc_adapter_clone_meta(src[i])))
            rc = lsc_fail(ctx, &ctx->err);
        lsc_cmd_read(ctx, t[i].member_id);
        lsc_cmd_read(ctx, tt[j].member_id);
    }
    return rc;
}

/* Step 2: one job per layer present in every task, started (svd by default) with its optimum summed into
 * R->optimum; R->jobs, R->nj and R->ws are set even on failure, for the caller to release. */
static int tasks_jobs(lsc_cmd_ctx *ctx, tasks_run *R, long steps, long rank, lsc_train_init_mode mode,
                      int init_given, uint64_t seed, int rc)
{
    size_t T = R->T;
    lsc_adapter **src = R->src, **tgt = R->tgt;
    size_t nl = !rc ? src[0]->n_layers : 0, nj = 0;
    task_job *jobs = R->jobs = calloc(nl + 1, sizeof *jobs);
    lsc_workspace *ws = R->ws = lsc_workspace_new();
    double optimum = 0;
    if (!rc && (!jobs || !ws))
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    lsc_train_init_mode m = init_given ? mode : LSC_TRAIN_INIT_SVD;
    for (size_t l0 = 0; !rc && l0 < nl; l0++) {
        task_job *j = &jobs[nj];
        int all = 1, maxr = 0;
        for (size_t i = 0; i < T && all; i++) {
            int a = lsc_adapter_find_layer(src[i], src[0]->layers[l0].name);
            int b = lsc_adapter_find_layer(tgt[i], src[0]->layers[l0].name);
            all = a >= 0 && b >= 0;
            if (all) {
                j->li[i] = (size_t)a;
                maxr = src[i]->layers[a].rank > maxr ? src[i]->layers[a].rank : maxr;
                size_t bc = 0, ac = 0;
                if (lsc_adapter_factors(tgt[i], (size_t)b, &j->tb[i], &bc, &j->ta[i], &ac, &j->tg[i].lr, &ctx->err)) {
                    rc = LSC_EXIT_ERROR;
                    all = 0;
                }
            }
        }
        if (!all) {
            for (size_t i = 0; i < T; i++) {
                free(j->tb[i]);
                free(j->ta[i]);
                j->tb[i] = j->ta[i] = NULL;
            }
            continue;
        }
        j->p.rows = j->tg[0].lr.rows;
        j->p.cols = j->tg[0].lr.cols;
        /* one shared A [k, in], the tasks' B stacked [T out, k] */
        if (rank > 0 && rank_check(rank, src[0]->layers[l0].name, (int64_t)T * j->p.rows, j->p.cols, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            nj++; /* released with the others */
            continue;
        }
        j->p.k = rank > 0 ? (int)rank : maxr;
        j->p.scale = 1.0;
        j->p.n_tasks = (int)T;
        j->p.targets = j->tg;
        lsc_train_rule rule = lsc_train_rule_default(LSC_TRAIN_MULTITASK, j->p.k, (int)steps);
        double opt = 0;
        if (lsc_train_problem_check(&j->p, &rule, &ctx->err) || !(j->st = lsc_train_state_new(&j->p, &rule, &ctx->err)) ||
            lsc_train_init(j->st, &j->p, m, seed + l0, NULL, ws, &ctx->err) ||
            lsc_train_optimum(&j->p, j->p.k, &opt, ws, &ctx->err)) {
            lsc_error_prefix(&ctx->err, "layer '%s'", src[0]->layers[l0].name);
            rc = LSC_EXIT_ERROR;
        }
        optimum += opt;
        nj++;
    }
    if (!rc && nj == 0) {
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "no layer is in every task of '%s' and its target", R->name);
        rc = LSC_EXIT_ERROR;
    }
    R->nj = nj;
    R->optimum = optimum;
    return rc;
}

/* Step 3: every job in lockstep with warm-up and cosine decay, reporting in JSON; cancellable (then
 * R->interrupted). rc: the state so far (nothing runs after a failure). */
static int tasks_train(lsc_cmd_ctx *ctx, tasks_run *R, long steps, double lr, int json, int rc)
{
    task_job *jobs = R->jobs;
    size_t nj = R->nj;
    lsc_train_schedule sched = {lr, lr * 0.01, (int)(steps / 20 > 0 ? steps / 20 : 1), (int)steps};
    long s = 0;
    double loss = 0;
    int interrupted = 0;
    for (s = 1; !rc && s <= steps; s++) {
        loss = 0;
        for (size_t i = 0; i < nj && !rc; i++) {
            lsc_train_report rep;
            if (lsc_train_step(jobs[i].st, &jobs[i].p, lsc_train_lr(&sched, (int)s), &rep, R->ws, &ctx->err))
                rc = LSC_EXIT_ERROR;
            loss += rep.loss;
        }
        if (json && (s == 1 || s == steps || s % (steps / 50 > 0 ? steps / 50 : 1) == 0))
            lsc_out(ctx->out, "{\"step\": %ld, \"steps\": %ld, \"loss\": %.10g, \"optimum\": %.10g}\n", s, steps, loss,
                    R->optimum);
        if (ctx->cancel && *ctx->cancel) {
            interrupted = 1;
            s++;
            break;
        }
    }
    R->s = s;
    R->interrupted = interrupted;
    return rc;
}

/* Step 4: the final state: its loss, and each task's factors (one shared A) set in R->dst. */
static int tasks_export(lsc_cmd_ctx *ctx, tasks_run *R, int rc)
{
    task_job *jobs = R->jobs;
    size_t nj = R->nj, T = R->T;
    double final_loss = 0, l1;
    for (size_t i = 0; i < nj && !rc; i++) {
        if (lsc_train_loss(jobs[i].st, &jobs[i].p, &l1, NULL, R->ws, &ctx->err))
            rc = LSC_EXIT_ERROR;
        final_loss += l1;
    }
    for (size_t i = 0; i < nj && !rc; i++) {
        task_job *j = &jobs[i];
        int k = j->p.k;
        double *A = malloc((size_t)(k * j->p.cols) * sizeof *A), *B = malloc((size_t)(j->p.rows * k) * sizeof *B), sc = 1;
        for (size_t m2 = 0; m2 < T && !rc; m2++) {
            lsc_layer *l = &R->dst[m2]->layers[j->li[m2]];
            l->rule = LSC_SCALE_ALPHA_R;
            l->init_r = 0;
            if (!A || !B || lsc_train_export(j->st, (int)m2, B, A, &sc, &ctx->err) ||
                lsc_adapter_set_factors(R->dst[m2], j->li[m2], B, A, k, sc, &ctx->err))
                rc = lsc_fail(ctx, &ctx->err);
        }
        free(A);
        free(B);
    }
    R->final_loss = final_loss;
    return rc;
}

/* Step 5: one transaction: the new task adapters, their group, the history record. */
static int tasks_commit(lsc_cmd_ctx *ctx, tasks_run *R, int rc)
{
    if (!rc && txn_begin(ctx, &ctx->err))
        rc = LSC_EXIT_ERROR;
    size_t before = ctx->n_outputs;
    if (!rc) {
        char meta[160];
        snprintf(meta, sizeof meta, "{\"retrained_from\": %lld, \"shared_a\": true}", (long long)R->gid);
        int64_t par[2] = {R->gid, R->tid};
        rc = lsc_tasks_store_group(ctx, R->t, R->dst, R->T, R->newname, R->src[0], meta, par, R->tid != R->gid ? 2 : 1);
    }
    if (!rc && (lsc_catalog_log(ctx->cat, "retrain", ctx->args_json ? ctx->args_json : "[\"retrain\"]", ctx->inputs,
                                ctx->n_inputs, ctx->outputs + before, ctx->n_outputs - before, NULL, &ctx->err) ||
                txn_commit(ctx)))
        rc = LSC_EXIT_ERROR;
    if (rc && lsc_catalog_in_transaction(ctx->cat))
        txn_rollback(ctx);
    return rc;
}

/* Step 6: the report (shown even when interrupted: the result is committed). */
static int tasks_report(lsc_cmd_ctx *ctx, const tasks_run *R, int json)
{
    const char *newname = R->newname;
    double final_loss = R->final_loss, optimum = R->optimum;
    long s = R->s;
    if (json)
        lsc_out(ctx->out, "{\"name\": \"%s\", \"tasks\": %zu, \"layers\": %zu, \"steps\": %ld, \"loss\": %.10g, \"optimum\": %.10g, \"interrupted\": %s}\n",
                newname, R->T, R->nj, s - 1, final_loss, optimum, R->interrupted ? "true" : "false");
    else {
        char xo[32];
        lsc_out(ctx->out, "%s: %zu tasks sharing one A on %zu layer(s), %ld step(s), loss %.6g, optimum %.6g (%s)\n",
                newname, R->T, R->nj, s - 1, final_loss, optimum,
                lsc_fmt_num(xo, sizeof xo, "x%.4f", lsc_ratio(final_loss, optimum)));
    }
    lsc_sink_flush(ctx->out); /* committed above, by retrain itself: shown even when interrupted */
    if (R->interrupted) {
        lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "interrupted at step %ld: the state then is kept as '%s'", s - 1,
                      newname);
        return LSC_EXIT_ERROR;
    }
    return LSC_EXIT_OK;
}

static void tasks_release(tasks_run *R)
{
    for (size_t i = 0; R->jobs && i < R->nj; i++) {
        for (size_t k = 0; k < R->T; k++) {
            free(R->jobs[i].tb[k]);
            free(R->jobs[i].ta[k]);
        }
        lsc_train_state_free(R->jobs[i].st);
    }
    free(R->jobs);
    for (size_t i = 0; i < R->T; i++) {
        if (R->src)
            lsc_adapter_free(R->src[i]);
        if (R->tgt)
            lsc_adapter_free(R->tgt[i]);
        if (R->dst)
            lsc_adapter_free(R->dst[i]);
    }
    free(R->src);
    free(R->tgt);
    free(R->dst);
    lsc_workspace_free(R->ws);
    lsc_task_entries_free(R->t, R->T);
    lsc_task_entries_free(R->tt, R->TT);
}

/* load -> jobs -> train -> export -> commit -> report (see above) */
static int retrain_tasks(lsc_cmd_ctx *ctx, const char *name, int64_t gid, const char *target, const char *newname,
                         long steps, double lr, long rank, lsc_train_init_mode mode, int init_given, uint64_t seed,
                         int json)
{
    tasks_run R = {.name = name, .newname = newname, .gid = gid};
    int rc = tasks_load(ctx, &R, target);
    rc = tasks_jobs(ctx, &R, steps, rank, mode, init_given, seed, rc);
    rc = tasks_train(ctx, &R, steps, lr, json, rc);
    rc = tasks_export(ctx, &R, rc);
    rc = tasks_commit(ctx, &R, rc);
    if (!rc)
        rc = tasks_report(ctx, &R, json);
    tasks_release(&R);
    return rc;
}

typedef struct retrain_args {
    lsc_args base;
    const char *name, *target, *base_path, *tuned, *calib, *as, *glob, *init_name;
    long long steps, rank, ckpt, final_rank;
    double lr, lambda;
    uint64_t seed;
    int kind, init, json;
} retrain_args;

/* the kinds retrain trains (a multi-task adapter is recognised by itself) */
static const char *const retrain_kinds[] = {"static", "dynamic", "adaptive", "sparse", NULL};
static const lsc_train_kind retrain_kind_of[] = {LSC_TRAIN_STATIC, LSC_TRAIN_DYNAMIC, LSC_TRAIN_ADAPTIVE, LSC_TRAIN_SPARSE};
static const char *const retrain_inits[] = {"self", "svd", "random", NULL};
static const lsc_train_init_mode retrain_init_of[] = {LSC_TRAIN_INIT_SELF, LSC_TRAIN_INIT_SVD, LSC_TRAIN_INIT_RANDOM};

#define RETRAIN_COUNT(opt, meta, field, dflt, text)                                                               \
    {.name = opt, .type = LSC_OPT_INT, .metavar = meta, .ilo = 1, .ihi = INT_MAX, .def = dflt,                 \
     .at = offsetof(retrain_args, field), .help = text}

static const lsc_opt retrain_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(retrain_args, name),
     .new_with = "base"},
    {.name = "target", .type = LSC_OPT_ADAPTER, .metavar = "REF", .at = offsetof(retrain_args, target),
     .usage = "(--target REF | --base B --tuned T)",
     .help = "a catalog adapter whose layer maps to reproduce (used as factors: never dense)"},
    {.name = "base", .type = LSC_OPT_PATH, .metavar = "B", .flags = LSC_OPT_NOUSAGE, .at = offsetof(retrain_args, base_path),
     .help = "with --tuned T: safetensors of a base model and its full fine-tune: the target of each layer\n"
             "is tuned - base (<module>.weight), i.e. LoRA extraction; when NAME is not in the\n"
             "catalog, a new adapter NAME is extracted from every 2-D weight the fine-tune changed\n"
             "(rank --rank, default 16; --init svd by default: the optimum for isotropic inputs)"},
    {.name = "tuned", .type = LSC_OPT_PATH, .metavar = "T", .flags = LSC_OPT_NOUSAGE, .at = offsetof(retrain_args, tuned),
     .help = "the fine-tuned model's safetensors (see --base)"},
    {.name = "calib", .type = LSC_OPT_PATH, .metavar = "F", .at = offsetof(retrain_args, calib),
     .help = "safetensors with, per module, input samples [N, in] or a second moment [in, in]:\n"
             "the loss weights the directions the model uses (default: isotropic, Frobenius)"},
    RETRAIN_COUNT("steps", "N", steps, "200", "Adam steps (default 200), warm-up 5% then cosine decay"),
    {.name = "lr", .type = LSC_OPT_REAL, .metavar = "X", .flags = LSC_OPT_LO_OPEN, .lo = 0, .hi = HUGE_VAL, .def = "1e-2",
     .at = offsetof(retrain_args, lr), .help = "peak learning rate (default 1e-2)"},
    RETRAIN_COUNT("rank", "K", rank, NULL, "trainable rank (default each layer's own)"),
    {.name = "kind", .type = LSC_OPT_CHOICE, .metavar = "K", .choices = retrain_kinds, .at = offsetof(retrain_args, kind),
     .help = "static, dynamic (DyLoRA: a random prefix rank per step), adaptive (AdaLoRA: importance,\n"
             "cubic budget down to --final-rank per layer, orthogonality), sparse (SoRA: gates with\n"
             "an L1 proximal step of --lambda); default from NAME's kind"},
    {.name = "init", .type = LSC_OPT_CHOICE, .metavar = "M", .choices = retrain_inits, .at = offsetof(retrain_args, init),
     .text_at = offsetof(retrain_args, init_name),
     .help = "self (NAME's factors cut or padded to K, default), svd (the exact optimum), random"},
    {.name = "as", .type = LSC_OPT_NEW, .metavar = "NEW", .at = offsetof(retrain_args, as),
     .help = "the result (default NAME-retrained); checkpoints go to NEW@ckpt every --checkpoint\n"
             "steps (default a tenth) when the loss improved; Ctrl-C keeps the best as NEW\n"
             "(adaptive and sparse rules keep the latest state: their budgets change the model)"},
    {.name = "seed", .type = LSC_OPT_U64, .metavar = "S", .def = "0", .at = offsetof(retrain_args, seed),
     .help = "same seed, same bytes"},
    RETRAIN_COUNT("checkpoint", "N", ckpt, NULL, "steps between checkpoints (default a tenth of --steps)"),
    {.name = "layers", .type = LSC_OPT_GLOB, .metavar = "GLOB", .at = offsetof(retrain_args, glob),
     .help = "only layers whose name matches"},
    RETRAIN_COUNT("final-rank", "R", final_rank, NULL, "adaptive: the rank budget per layer at the end"),
    {.name = "lambda", .type = LSC_OPT_REAL, .metavar = "L", .lo = 0, .hi = HUGE_VAL, .def = "1e-3",
     .at = offsetof(retrain_args, lambda), .help = "sparse: the L1 weight of the gates (default 1e-3)"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(retrain_args, json),
     .help = "one JSON object per report, then the result"},
    {0}};

static int retrain_validate(lsc_cmd_ctx *ctx, void *args)
{
    const retrain_args *av = args;
    if ((av->target && (av->base_path || av->tuned)) || (!av->base_path != !av->tuned))
        return lsc_usage_error(ctx, "retrain", "give either --target REF or both --base and --tuned");
    return LSC_EXIT_OK;
}

/* Step 1 of a layer's job (after its target): the source's factors as the start, the optimum, the
 * layer's tensors unloaded. */
static int job_start(lsc_cmd_ctx *ctx, layer_job *j, const lsc_lowrank *selfp, lsc_adapter *src, size_t li,
                     unsigned long long seed, lsc_train_init_mode mode, lsc_workspace *ws)
{
    const lsc_layer *l = &src->layers[li];
    const lsc_lowrank self = *selfp;
    int rc = LSC_EXIT_OK;
    /* self: the source's factors cut to k, or padded with fresh directions (B zero, A small) */
    double *B0 = calloc((size_t)(self.rows * j->p.k) + 1, sizeof(double));
    double *A0 = calloc((size_t)(j->p.k * self.cols) + 1, sizeof(double));
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + li + 1;
    for (int kk = 0; B0 && A0 && kk < j->p.k; kk++)
        for (int64_t q = 0; q < self.cols; q++) {
            if (kk < self.r) {
                A0[kk * self.cols + q] = self.A[kk * self.cols + q] * self.scale / j->p.scale;
            } else {
                z ^= z << 13;
                z ^= z >> 7;
                z ^= z << 17;
                A0[kk * self.cols + q] = ((double)(z >> 11) / 9007199254740992.0 - 0.5) * 2.0 / sqrt((double)self.cols);
            }
        }
    for (int64_t r = 0; B0 && A0 && r < self.rows; r++)
        for (int kk = 0; kk < j->p.k && kk < self.r; kk++)
            B0[r * j->p.k + kk] = self.B[r * self.r + kk];
    lsc_train_factors from = {B0, A0, NULL};
    if (!B0 || !A0 || lsc_train_init(j->st, &j->p, mode, seed + li, &from, ws, &ctx->err) ||
        lsc_train_optimum(&j->p, j->p.k, &j->optimum, ws, &ctx->err)) {
        if (!B0 || !A0)
            lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        lsc_error_prefix(&ctx->err, "layer '%s'", l->name);
        rc = LSC_EXIT_ERROR;
    }
    free(B0);
    free(A0);
    int ts[4] = {l->ta, l->tb, l->te, l->tm};
    for (int t = 0; t < 4; t++)
        if (ts[t] >= 0)
            lsc_adapter_unload_tensor(src, (size_t)ts[t]);
    return rc;
}

/* What the steps of one retrain run share; retrain_run owns and releases it. */
typedef struct retrain_state {
    lsc_adapter *src, *tgt;
    lsc_st_file *fb, *ft, *fc;
    lsc_train_kind kind;
    lsc_train_init_mode mode;
    layer_job *jobs; /* from retrain_jobs: nj of them, plus the one a failure broke off */
    size_t nj;
    lsc_workspace *ws;
    const char *newname, *ckname, *args;
    const int64_t *ids;
    size_t n_parents;
    /* from retrain_train */
    double optimum, energy, best;
    int64_t best_step;
    int64_t run_hist; /* this run's one history entry (see log_run) */
    long t;
    int interrupted, keep_best;
} retrain_state;

/* The target of a layer's job: the target adapter's factors for the layer (--target), or the dense
 * tuned - base of its module (--base/--tuned, transposed for Conv1D's [in, out]). *skip = 1 when the
 * target has no such layer (it is left as it is). */
static int job_target(lsc_cmd_ctx *ctx, layer_job *j, const lsc_layer *l, const lsc_lowrank *self,
                      const struct retrain_state *S, const char *target, double *dense_bytes, int *skip)
{
    lsc_adapter *tgt = S->tgt;
    lsc_st_file *fb = S->fb, *ft = S->ft;
    if (tgt) {
        int tl = lsc_adapter_find_layer(tgt, l->name);
        if (tl < 0)
            return *skip = 1, LSC_EXIT_OK;
        lsc_lowrank tv;
        size_t bc = 0, ac = 0;
        if (lsc_adapter_factors(tgt, (size_t)tl, &j->tb, &bc, &j->ta, &ac, &tv, &ctx->err)) {
            return LSC_EXIT_ERROR;
        }
        if (tv.rows != self->rows || tv.cols != self->cols) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID, "layer '%s': %lldx%lld here but %lldx%lld in '%s'", l->name,
                          (long long)self->rows, (long long)self->cols, (long long)tv.rows, (long long)tv.cols, target);
            return LSC_EXIT_ERROR;
        }
        tv.B = j->tb;
        tv.A = j->ta;
        j->tgt.lr = tv;
    } else {
        long ib = find_module(fb, l->name), it = find_module(ft, l->name);
        if (ib < 0 || it < 0)
            return *skip = 1, LSC_EXIT_OK;
        lsc_st_tensor *tb = &fb->tensors[ib], *tt = &ft->tensors[it];
        int64_t want = self->rows * self->cols;
        int64_t nb = tb->ndim == 2 ? tb->shape[0] * tb->shape[1] : -1, nt = tt->ndim == 2 ? tt->shape[0] * tt->shape[1] : -1;
        int transposed = (l->flags & LSC_LAYER_FAN_IN_FAN_OUT) != 0;
        if (nb != want || nt != want || tb->shape[0] != tt->shape[0] ||
            tb->shape[0] != (transposed ? self->cols : self->rows)) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID, "layer '%s': the base weight '%s' does not have the layer's shape %lldx%lld",
                          l->name, tb->name, (long long)self->rows, (long long)self->cols);
            return LSC_EXIT_ERROR;
        }
        *dense_bytes += (double)want * 8;
        if (*dense_bytes > 4e9) {
            lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "dense targets over 4 GB: extract fewer layers at a time (--layers GLOB)");
            return LSC_EXIT_ERROR;
        }
        double *vb = st_doubles(fb, ib, &ctx->err), *vt = vb ? st_doubles(ft, it, &ctx->err) : NULL;
        if (!vb || !vt) {
            free(vb);
            free(vt);
            return LSC_EXIT_ERROR;
        }
        j->dense = malloc((size_t)want * sizeof(double));
        for (int64_t r = 0; j->dense && r < self->rows; r++)
            for (int64_t q = 0; q < self->cols; q++) {
                int64_t at = transposed ? q * self->rows + r : r * self->cols + q; /* Conv1D stores [in, out] */
                j->dense[r * self->cols + q] = vt[at] - vb[at];
            }
        free(vb);
        free(vt);
        if (!j->dense) {
            return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
        }
        j->tgt.T = j->dense;
    }
    return LSC_EXIT_OK;
}

/* The calibration of a layer's job from --calib: a second moment [in, in] (j->C) or samples [N, in]
 * (j->X); a layer it has no tensor for is counted in *uncalibrated (the first one named). */
static int job_calib(lsc_cmd_ctx *ctx, layer_job *j, const char *lname, int64_t cols, lsc_st_file *fc,
                     const char *calib, size_t *uncalibrated, const char **first_uncalibrated)
{
    long ic = find_module(fc, lname);
    if (ic < 0 && !(*uncalibrated)++)
        *first_uncalibrated = lname;
    if (ic < 0)
        return LSC_EXIT_OK;
    lsc_st_tensor *tc = &fc->tensors[ic];
    double *v = tc->ndim == 2 ? st_doubles(fc, ic, &ctx->err) : NULL;
    if (tc->ndim == 2 && tc->shape[0] == cols && tc->shape[1] == cols && v) {
        j->C = v;
    } else if (tc->ndim == 2 && tc->shape[1] == cols && v) {
        j->X = v;
        j->p.n_samples = tc->shape[0];
    } else {
        free(v);
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s': tensor '%s' is neither [N, %lld] samples nor a [%lld, %lld] second moment",
                      calib, tc->name, (long long)cols, (long long)cols, (long long)cols);
        return LSC_EXIT_ERROR;
    }
    return LSC_EXIT_OK;
}

/* Step 1: one training problem per chosen layer (target factors or a dense target, calibration, rule,
 * start); S->jobs, S->nj and S->ws are set even on failure, for the caller to release. */
static int retrain_jobs(lsc_cmd_ctx *ctx, const retrain_args *av, retrain_state *S)
{
    const char *target = av->target, *calib = av->calib, *glob = av->glob, *src_name = av->name;
    long steps = (long)av->steps, rank = (long)av->rank, final_rank = (long)av->final_rank;
    double lambda = av->lambda;
    unsigned long long seed = av->seed;
    lsc_adapter *src = S->src;
    lsc_st_file *fc = S->fc;
    lsc_train_kind kind = S->kind;
    lsc_train_init_mode mode = S->mode;
    int rc = LSC_EXIT_OK;
    /* 1. one problem per chosen layer */
    layer_job *jobs = calloc(src ? src->n_layers + 1 : 1, sizeof *jobs);
    size_t uncalibrated = 0; /* layers --calib has no tensor for; the first one's name */
    const char *first_uncalibrated = NULL;
    size_t nj = 0;
    double *sb = NULL, *sa = NULL;
    size_t sbc = 0, sac = 0;
    lsc_workspace *ws = lsc_workspace_new();
    double dense_bytes = 0;
    if (!rc && (!jobs || !ws))
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    for (size_t li = 0; !rc && li < src->n_layers; li++) {
        const lsc_layer *l = &src->layers[li];
        if (!lsc_name_matches(glob, l->name))
            continue;
        layer_job *j = &jobs[nj];
        memset(j, 0, sizeof *j);
        j->li = li;
        lsc_lowrank self;
        if (lsc_adapter_factors(src, li, &sb, &sbc, &sa, &sac, &self, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        j->p.rows = self.rows;
        j->p.cols = self.cols;
        if (rank > 0 && rank_check(rank, l->name, self.rows, self.cols, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        j->p.k = rank > 0 ? (int)rank : l->rank;
        j->p.scale = lsc_scale_compute(l->rule, l->alpha, j->p.k, l->init_r, l->scale);
        if (!(j->p.scale != 0 && isfinite(j->p.scale)))
            j->p.scale = 1.0;
        j->p.n_tasks = 1;
        int skip = 0;
        if ((rc = job_target(ctx, j, l, &self, S, target, &dense_bytes, &skip)))
            break;
        if (skip)
            continue; /* not in the target: left as it is */
        if (fc && (rc = job_calib(ctx, j, l->name, self.cols, fc, calib, &uncalibrated, &first_uncalibrated)))
            break;
        j->p.C = j->C;
        j->p.X = j->X;
        j->p.targets = &j->tgt;
        lsc_train_rule rule = lsc_train_rule_default(kind, j->p.k, (int)steps);
        if (kind == LSC_TRAIN_ADAPTIVE) {
            rule.budget_final = final_rank > 0 ? (int)(final_rank < j->p.k ? final_rank : j->p.k) : (j->p.k * 2 + 2) / 3;
            rule.t_init = (int)(steps / 10);
            rule.t_final = (int)(steps / 5);
        } else if (kind == LSC_TRAIN_SPARSE) {
            rule.lambda = rule.lambda_end = lambda;
        }
        if (lsc_train_problem_check(&j->p, &rule, &ctx->err) || !(j->st = lsc_train_state_new(&j->p, &rule, &ctx->err))) {
            lsc_error_prefix(&ctx->err, "layer '%s'", l->name);
            rc = LSC_EXIT_ERROR;
            break;
        }
        rc = job_start(ctx, j, &self, src, li, seed, mode, ws);
        nj++;
    }
    free(sb);
    free(sa);
    if (!rc && nj == 0) {
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "no layer of '%s' has a target%s%s", src_name, glob ? " matching " : "",
                      glob ? glob : "");
        rc = LSC_EXIT_ERROR;
    }
    /* calibration that matches nothing would train isotropic without a word: refuse; partly: say so */
    if (!rc && fc && uncalibrated == nj) {
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "--calib '%s': no tensor for any trained layer (for layer '%s' it "
                      "looks for '%s.weight' or '%s')", calib, first_uncalibrated, module_of(first_uncalibrated),
                      module_of(first_uncalibrated));
        rc = LSC_EXIT_ERROR;
    } else if (!rc && uncalibrated > 0) {
        lsc_out(ctx->diag, "lorascope: warning: --calib '%s': no tensor for %zu of %zu layer(s) (first: '%s'): they "
                "train isotropic\n", calib, uncalibrated, nj, first_uncalibrated);
    }
    S->jobs = jobs;
    S->nj = nj;
    S->ws = ws;
    return rc;
}

/* Step 2: train every layer in lockstep with warm-up and cosine decay, reporting as it goes; checkpoints to
 * NEW@ckpt when the loss improved (the latest state for adaptive and sparse rules). Pausable and
 * cancellable (then S->interrupted). rc: the state so far (nothing runs after a failure). */
static int retrain_train(lsc_cmd_ctx *ctx, const retrain_args *av, retrain_state *S, int rc)
{
    long steps = (long)av->steps, ckpt = (long)av->ckpt;
    double lr = av->lr;
    int json = ctx->json || av->json;
    lsc_adapter *src = S->src;
    layer_job *jobs = S->jobs;
    size_t nj = S->nj, n_parents = S->n_parents;
    lsc_workspace *ws = S->ws;
    lsc_train_kind kind = S->kind;
    lsc_train_init_mode mode = S->mode;
    const char *ckname = S->ckname, *args = S->args;
    const int64_t *ids = S->ids;
    double optimum = 0, energy = 0;
    for (size_t i = 0; i < nj; i++) {
        optimum += jobs[i].optimum;
        energy += lsc_train_target_energy(jobs[i].st);
    }
    lsc_train_schedule sched = {lr, lr * 0.01, (int)(steps / 20 > 0 ? steps / 20 : 1), (int)steps};
    if (ckpt <= 0)
        ckpt = steps / 10 > 0 ? steps / 10 : steps;
    double best = INFINITY, t0 = now_s(), last_report = 0;
    int64_t ck_id = 0, best_step = 0;
    int64_t *run_hist = &S->run_hist;
    long t = 0;
    int interrupted = 0;
    /* Adaptive and sparse rules change the model on the way (budgets, closed gates): their losses are not
     * comparable across steps, so their checkpoints are the latest state and the result is the final one.
     * For the others the best state wins, the starting point included (an svd start is already the
     * isotropic optimum). */
    int keep_best = kind == LSC_TRAIN_STATIC || kind == LSC_TRAIN_DYNAMIC;
    if (!rc && keep_best) {
        double l0 = 0, l1;
        for (size_t i = 0; i < nj && !rc; i++) {
            if (lsc_train_loss(jobs[i].st, &jobs[i].p, &l1, NULL, ws, &ctx->err))
                rc = LSC_EXIT_ERROR;
            l0 += l1;
        }
        if (!rc && mode != LSC_TRAIN_INIT_RANDOM) {
            rc = commit_adapter(ctx, src, jobs, nj, ckname, NULL, ids, n_parents, args, &ck_id, run_hist);
            best = l0;
        }
    }
    for (t = 1; !rc && t <= steps; t++) {
        double loss = 0, rate = lsc_train_lr(&sched, (int)t);
        int kept = 0;
        for (size_t i = 0; i < nj && !rc; i++) {
            lsc_train_report rep;
            if (lsc_train_step(jobs[i].st, &jobs[i].p, rate, &rep, ws, &ctx->err)) {
                lsc_error_prefix(&ctx->err, "layer '%s' at step %ld", src->layers[jobs[i].li].name, t);
                rc = LSC_EXIT_ERROR;
            }
            loss += rep.loss;
            kept += rep.kept;
        }
        if (rc)
            break;
        double el = now_s() - t0;
        if (json) {
            if (t == 1 || t == steps || t % (steps / 50 > 0 ? steps / 50 : 1) == 0)
                lsc_out(ctx->out, "{\"step\": %ld, \"steps\": %ld, \"loss\": %.10g, \"relative_loss\": %.10g, \"optimum\": %.10g, \"lr\": %.6g, \"kept\": %d, \"elapsed\": %.3f}\n",
                        t, steps, loss, energy > 0 ? loss / energy : 0, optimum, rate, kept, el);
        } else if (el - last_report > 0.25 || t == steps ||
                   (ctx->pause && t % (steps / 100 > 0 ? steps / 100 : 1) == 0)) { /* a workbench: a curve to draw */
            last_report = el;
            double eta = el / (double)t * (double)(steps - t);
            char xo[32];
            if (ctx->diag->is_tty)
                lsc_out_ctl(ctx->diag, "\rstep %ld/%ld  loss %.6g  (optimum %.6g, %s)  lr %.2e  ETA %.0fs\033[K", t, steps,
                        loss, optimum, lsc_fmt_num(xo, sizeof xo, "x%.4f", lsc_ratio(loss, optimum)), rate, eta);
            else
                lsc_out(ctx->diag, "step %ld/%ld  loss %.6g  (optimum %.6g)  ETA %.0fs\n", t, steps, loss, optimum, eta);
        }
        if (ctx->pause && *ctx->pause) { /* paused (the workbench's p): wait, the clock stopped, still cancellable */
            double p0 = now_s();
            while (*ctx->pause && !(ctx->cancel && *ctx->cancel)) {
                struct timespec ts = {0, 20000000L};
                nanosleep(&ts, NULL);
            }
            t0 += now_s() - p0;
        }
        if (ctx->cancel && *ctx->cancel) {
            interrupted = 1;
            t++;
            break;
        }
        if (t % ckpt == 0 && t < steps) {
            double cur = 0, l1;
            for (size_t i = 0; i < nj && !rc; i++) {
                if (lsc_train_loss(jobs[i].st, &jobs[i].p, &l1, NULL, ws, &ctx->err))
                    rc = LSC_EXIT_ERROR;
                cur += l1;
            }
            if (!rc && (cur < best || !keep_best)) {
                rc = commit_adapter(ctx, src, jobs, nj, ckname, NULL, ids, n_parents, args, &ck_id, run_hist);
                best = cur;
                best_step = t;
            }
        }
    }
    if (ctx->diag->is_tty && !json)
        lsc_out(ctx->diag, "\n");
    S->optimum = optimum;
    S->energy = energy;
    S->best = best;
    S->best_step = best_step;
    S->t = t;
    S->interrupted = interrupted;
    S->keep_best = keep_best;
    return rc;
}

/* Step 3: the best of the final state and the checkpoint becomes NEW, then the report. */
static int retrain_finish(lsc_cmd_ctx *ctx, const retrain_args *av, retrain_state *S, int rc)
{
    int json = ctx->json || av->json, keep_best = S->keep_best, interrupted = S->interrupted;
    lsc_adapter *src = S->src;
    layer_job *jobs = S->jobs;
    size_t nj = S->nj, n_parents = S->n_parents;
    lsc_workspace *ws = S->ws;
    const char *newname = S->newname, *ckname = S->ckname, *args = S->args;
    const int64_t *ids = S->ids;
    double best = S->best, optimum = S->optimum, energy = S->energy;
    int64_t best_step = S->best_step;
    long t = S->t;
    /* 3. the best of the final state and the checkpoint becomes NEW */
    double final_loss = 0, l1;
    for (size_t i = 0; i < nj && !rc; i++) {
        if (lsc_train_loss(jobs[i].st, &jobs[i].p, &l1, NULL, ws, &ctx->err))
            rc = LSC_EXIT_ERROR;
        final_loss += l1;
    }
    int64_t new_id = 0;
    if (!rc) {
        if (final_loss <= best || !keep_best) {
            rc = commit_adapter(ctx, src, jobs, nj, newname, ckname, ids, n_parents, args, &new_id, &S->run_hist);
            best = final_loss;
            best_step = t - 1;
        } else {
            /* the checkpoint is better: it becomes NEW (its tensors are shared, nothing is copied) */
            lsc_adapter *ck = NULL;
            if (txn_begin(ctx, &ctx->err) || lsc_catalog_get_adapter(ctx->cat, ckname, &ck, &ctx->err))
                rc = LSC_EXIT_ERROR;
            lsc_adapter *copy = ck ? lsc_adapter_clone_meta(ck) : NULL;
            if (!rc && copy) {
                free(copy->name);
                copy->name = strdup(newname);
                size_t before = ctx->n_outputs;
                if (hide_if_present(ctx, ckname) || lsc_catalog_put_adapter(ctx->cat, copy, ids, n_parents, &new_id, &ctx->err))
                    rc = LSC_EXIT_ERROR;
                else
                    lsc_cmd_wrote(ctx, new_id);
                if (!rc && (log_run(ctx, args, ids, n_parents, before, &S->run_hist) ||
                            txn_commit(ctx)))
                    rc = LSC_EXIT_ERROR;
            }
            if (rc || !copy)
                txn_rollback(ctx);
            lsc_adapter_free(ck);
            lsc_adapter_free(copy);
        }
    }
    if (!rc) {
        char xo[32], xe[32];
        if (json)
            lsc_out(ctx->out, "{\"name\": \"%s\", \"steps\": %ld, \"best_step\": %lld, \"loss\": %.10g, \"optimum\": %.10g, \"target_energy\": %.10g, \"layers\": %zu, \"interrupted\": %s}\n",
                    newname, t - 1, (long long)best_step, best, optimum, energy, nj, interrupted ? "true" : "false");
        else
            lsc_out(ctx->out, "%s: %zu layer(s), %ld step(s), loss %.6g (best at step %lld), optimum %.6g (%s), %s of the target's energy left\n",
                    newname, nj, t - 1, best, (long long)best_step, optimum,
                    lsc_fmt_num(xo, sizeof xo, "x%.4f", lsc_ratio(best, optimum)),
                    lsc_fmt_num(xe, sizeof xe, "%.3g", lsc_ratio(best, energy)));
        lsc_sink_flush(ctx->out); /* committed above, by retrain itself: shown even when interrupted */
        if (interrupted) {
            lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "interrupted at step %ld: the best state (step %lld) is kept as '%s'",
                          t - 1, (long long)best_step, newname);
            rc = LSC_EXIT_ERROR;
        }
    }
    return rc;
}

/* parse -> open -> jobs -> train -> finish */
static int retrain_run(lsc_cmd_ctx *ctx, void *parsed)
{
    const retrain_args *av = parsed;
    const char *target = av->target, *base = av->base_path, *tuned = av->tuned, *calib = av->calib,
               *init_name = av->init_name, *as = av->as, *glob = av->glob;
    long steps = (long)av->steps, rank = (long)av->rank;
    double lr = av->lr;
    unsigned long long seed = av->seed;
    int json = ctx->json || av->json;
    int kind_given = lsc_opts_given(retrain_opts, av, "kind");
    lsc_train_kind kind = kind_given ? retrain_kind_of[av->kind] : LSC_TRAIN_STATIC;
    lsc_train_init_mode mode = retrain_init_of[av->init];

    /* Nothing was written yet: give back the dispatcher's transaction, take our own at each checkpoint. */
    txn_rollback(ctx);
    const char *src_name = av->name;
    char newname[512], ckname[560];
    snprintf(newname, sizeof newname, "%s", as ? as : "");
    if (!as)
        snprintf(newname, sizeof newname, "%s-retrained", src_name);
    snprintf(ckname, sizeof ckname, "%s@ckpt", newname);
    lsc_adapter *src = NULL, *tgt = NULL;
    lsc_st_file *fb = NULL, *ft = NULL, *fc = NULL;
    int64_t ids[2];
    size_t n_parents = 0;
    int rc = LSC_EXIT_OK;
    int extracting = 0;
    {
        /* a multi-task adapter trains its tasks together, with one shared A */
        lsc_adapter *probe = NULL;
        int64_t pid;
        if (!base && lsc_catalog_find(ctx->cat, src_name, &pid, &ctx->err) == LSC_OK &&
            lsc_catalog_get_adapter(ctx->cat, src_name, &probe, &ctx->err) == LSC_OK && lsc_is_group(probe->kind)) {
            lsc_adapter_free(probe);
            int r2 = calib ? lsc_usage_error(ctx, "retrain", "--calib is not supported for a multi-task adapter")
                           : lsc_derive_check_name(ctx, newname);
            if (!r2)
                r2 = retrain_tasks(ctx, src_name, pid, target, newname, steps, lr, rank, mode, init_name != NULL, seed,
                                   json);
            lsc_error e3;
            txn_begin(ctx, &e3);
            ctx->no_change = 1;
            return r2;
        }
        lsc_adapter_free(probe);
        lsc_error_clear(&ctx->err);
    }
    if (!target && !base) {
        lsc_error e3;
        txn_begin(ctx, &e3);
        ctx->no_change = 1;
        return lsc_usage_error(ctx, "retrain", "give either --target REF or both --base and --tuned");
    }
    if (base && lsc_catalog_find(ctx->cat, src_name, &ids[0], &ctx->err) == LSC_ERR_NOTFOUND) {
        /* extraction into a new adapter called NAME */
        extracting = 1;
        lsc_error_clear(&ctx->err);
        if (!as)
            snprintf(newname, sizeof newname, "%s", src_name);
        snprintf(ckname, sizeof ckname, "%s@ckpt", newname);
        if (!init_name)
            mode = LSC_TRAIN_INIT_SVD;
        if (lsc_st_open(base, &fb, &ctx->err) || lsc_st_open(tuned, &ft, &ctx->err) ||
            extraction_skeleton(fb, ft, newname, rank > 0 ? rank : 16, glob, &src, &ctx->err))
            rc = LSC_EXIT_ERROR;
    } else if (lsc_cmd_load(ctx, src_name, &src, &ids[0])) {
        rc = LSC_EXIT_ERROR;
    } else {
        n_parents = 1;
    }
    if (!rc)
        rc = lsc_derive_check_name(ctx, newname);
    if (!rc && target) {
        if (lsc_cmd_load(ctx, target, &tgt, &ids[1]))
            rc = LSC_EXIT_ERROR;
        else
            n_parents = 2;
    }
    if (!rc && base && !extracting && (lsc_st_open(base, &fb, &ctx->err) || lsc_st_open(tuned, &ft, &ctx->err)))
        rc = LSC_EXIT_ERROR;
    if (!rc && calib && lsc_st_open(calib, &fc, &ctx->err))
        rc = LSC_EXIT_ERROR;
    if (!rc && !kind_given)
        kind = lsc_train_kind_keeping(lsc_adapter_kind(src));
    retrain_state S = {.src = src, .tgt = tgt, .fb = fb, .ft = ft, .fc = fc, .kind = kind, .mode = mode,
                       .newname = newname, .ckname = ckname, .ids = ids, .n_parents = n_parents};
    if (!rc)
        rc = retrain_jobs(ctx, av, &S);
    layer_job *jobs = S.jobs;
    size_t nj = S.nj;
    lsc_workspace *ws = S.ws;
    /* 2. train in lockstep */
    char *args = strdup(ctx->args_json ? ctx->args_json : "[\"retrain\"]");
    S.args = args;
    rc = retrain_train(ctx, av, &S, rc);
    rc = retrain_finish(ctx, av, &S, rc);
    free(args);
    for (size_t i = 0; jobs && i <= nj; i++) /* jobs[nj]: the job a failure broke off (zeroed if none) */
        job_release(&jobs[i]);
    free(jobs);
    lsc_workspace_free(ws);
    lsc_st_close(fb);
    lsc_st_close(ft);
    lsc_st_close(fc);
    lsc_adapter_free(src);
    lsc_adapter_free(tgt);
    /* the dispatcher's own transaction: an empty one, so that it has something to close */
    lsc_error e2;
    txn_begin(ctx, &e2);
    ctx->no_change = 1;
    return rc;
}

const lsc_cmd_spec lsc_spec_retrain = {
    retrain_opts, sizeof(retrain_args), retrain_validate, retrain_run,
    "  A multi-task NAME trains all its tasks at once with one shared A and a B per task (HydraLoRA-style)\n"
    "  towards the same tasks of --target (default: NAME's own), from the stacked optimum; the result is\n"
    "  NEW with tasks NEW-<task> whose A tensors are stored once\n"};
