/* tasks.c: see tasks.h. The figures come from the factors (engine/compare.h): cosines from factored inner
 * products, the shared input dimension from principal angles between the tasks' input-side singular
 * subspaces (cosine >= 0.99 counts as shared; for more than two tasks, the smallest pairwise count). */
#include "tasks.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "layername.h"
#include "compare.h"
#include "derive.h"
#include "fileio.h"
#include "peft.h"
#include "table.h"

#define SHARED_COS 0.99

int lsc_is_group(const char *kind)
{
    return lsc_kind_parse(kind) == LSC_KIND_MULTITASK;
}

/* Load every task adapter of group id. */
static lsc_status load_members(lsc_cmd_ctx *ctx, int64_t id, lsc_task_entry **t, size_t *n, lsc_adapter ***ads)
{
    lsc_status st = lsc_catalog_get_tasks(ctx->cat, id, t, n, &ctx->err);
    if (st)
        return st;
    *ads = calloc(*n + 1, sizeof **ads);
    if (!*ads)
        return lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < *n && !st; i++) {
        st = lsc_catalog_get_adapter_by_id(ctx->cat, (*t)[i].member_id, &(*ads)[i], &ctx->err);
        if (!st)
            lsc_cmd_read(ctx, (*t)[i].member_id);
    }
    return st;
}

static void free_members(lsc_task_entry *t, size_t n, lsc_adapter **ads)
{
    for (size_t i = 0; ads && i < n; i++)
        lsc_adapter_free(ads[i]);
    free(ads);
    lsc_task_entries_free(t, n);
}

int lsc_tasks_totals(lsc_cmd_ctx *ctx, int64_t id, int64_t *layers, int64_t *params, int64_t *bytes, json_t **names)
{
    lsc_task_entry *t = NULL;
    lsc_adapter **ads = NULL;
    size_t n = 0;
    *layers = *params = *bytes = 0;
    *names = json_array();
    if (load_members(ctx, id, &t, &n, &ads)) {
        free_members(t, n, ads);
        return LSC_EXIT_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        *layers += (int64_t)ads[i]->n_layers;
        *params += lsc_adapter_params(ads[i]);
        *bytes += lsc_adapter_bytes(ads[i]);
        json_array_append_new(*names, json_string(t[i].task));
    }
    free_members(t, n, ads);
    return LSC_EXIT_OK;
}

int lsc_tasks_store_group(lsc_cmd_ctx *ctx, const lsc_task_entry *t, lsc_adapter **dst, size_t T, const char *newname,
                          const lsc_adapter *like, const char *meta, const int64_t *parents, size_t n_parents)
{
    int64_t *nid = calloc(T + 1, sizeof *nid);
    char **tn = calloc(T + 1, sizeof *tn);
    int rc = nid && tn ? LSC_EXIT_OK : lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    for (size_t i = 0; i < T && !rc; i++) {
        char mname[600];
        snprintf(mname, sizeof mname, "%s-%s", newname, t[i].task);
        free(dst[i]->name);
        dst[i]->name = strdup(mname);
        if (lsc_derive_check_name(ctx, mname) || lsc_derive_store(ctx, dst[i], &t[i].member_id, 1, &nid[i]))
            rc = LSC_EXIT_ERROR;
        tn[i] = t[i].task;
    }
    if (!rc) {
        lsc_adapter *ng = lsc_adapter_new();
        ng->name = strdup(newname);
        lsc_adapter_set_kind(ng, LSC_KIND_MULTITASK, NULL);
        ng->format = strdup(like->format ? like->format : "peft");
        ng->base_model = strdup(like->base_model ? like->base_model : "");
        ng->metadata_json = strdup(meta);
        int64_t id;
        if (lsc_catalog_put_adapter(ctx->cat, ng, parents, n_parents, &id, &ctx->err) ||
            lsc_catalog_set_tasks(ctx->cat, id, (const char *const *)tn, nid, T, &ctx->err))
            rc = LSC_EXIT_ERROR;
        else
            lsc_cmd_wrote(ctx, id);
        lsc_adapter_free(ng);
    }
    free(nid);
    free(tn);
    return rc;
}

int lsc_tasks_export(lsc_cmd_ctx *ctx, int64_t id, const char *dir, lsc_dtype dt)
{
    lsc_task_entry *t = NULL;
    lsc_adapter **ads = NULL;
    size_t n = 0;
    lsc_atomic_folder tx = {NULL, NULL, -1};
    /* the whole tree goes into a fresh sibling folder swapped in whole: old tasks or new, never a mix */
    if (load_members(ctx, id, &t, &n, &ads) || lsc_atomic_folder_begin(&tx, dir, &ctx->err)) {
        free_members(t, n, ads);
        return lsc_fail(ctx, &ctx->err);
    }
    lsc_status st = LSC_OK;
    for (size_t i = 0; i < n && !st; i++) {
        char sub[4096];
        int is_default = strcmp(t[i].task, "default") == 0;
        if (!t[i].task[0] || t[i].task[0] == '.' || strchr(t[i].task, '/')) {
            st = lsc_error_set(&ctx->err, LSC_ERR_INVALID, "task '%s': not usable as a folder name", t[i].task);
            break;
        }
        snprintf(sub, sizeof sub, "%s/%s", tx.tmp, is_default ? "" : t[i].task);
        if (!is_default && mkdir(sub, 0755) != 0)
            st = lsc_error_set(&ctx->err, LSC_ERR_IO, "cannot create '%s/%s': %s", dir, t[i].task, strerror(errno));
        else if ((st = lsc_peft_write_into(ads[i], sub, dt, &ctx->err)))
            lsc_error_prefix(&ctx->err, "task '%s'", t[i].task);
    }
    if (st)
        lsc_atomic_folder_abort(&tx);
    else
        st = lsc_atomic_folder_commit(&tx, &ctx->err);
    for (size_t i = 0; i < n && !st; i++)
        lsc_out(ctx->out, "wrote task '%s' to %s%s%s\n", t[i].task, dir, strcmp(t[i].task, "default") ? "/" : "",
                strcmp(t[i].task, "default") ? t[i].task : "");
    free_members(t, n, ads);
    return st ? lsc_fail(ctx, &ctx->err) : LSC_EXIT_OK;
}

/* What the steps of one `show` of a group share; lsc_tasks_show owns and releases it. */
typedef struct show_state {
    const lsc_task_entry *t;
    lsc_adapter **ads;
    size_t T;
    int json;
    lsc_workspace *ws;
    double **fb, **fa;   /* one layer's factors per task */
    size_t *fbc, *fac;
    lsc_lowrank *v;
    double *G;           /* overall inner products, accumulated over the layers */
    double *C;           /* one layer's cosines */
    json_t *jlayers;
    int shared_a_layers, layers_all, min_dim;
} show_state;

/* The text header: the group, its base model and a table of its tasks, then the per-layer heading. */
static void show_header(lsc_cmd_ctx *ctx, const char *name, const show_state *S)
{
    char nm[512];
    const lsc_task_entry *t = S->t;
    lsc_adapter **ads = S->ads;
    size_t T = S->T;
    lsc_out(ctx->out, "%s  (multi-task, %zu tasks)  base: %s\n\n", lsc_escape_name(nm, sizeof nm, name), T,
            ads[0] && ads[0]->base_model && *ads[0]->base_model ? ads[0]->base_model : "?");
    const char *hdr[] = {"TASK", "ADAPTER", "LAYERS", "PARAMS"};
    lsc_table *tb = lsc_table_new(4, hdr, "llrr");
    for (size_t i = 0; tb && i < T; i++) {
        char c1[32], c2[32];
        const char *cells[4] = {t[i].task, t[i].member, lsc_fmt(c1, sizeof c1, "%zu", ads[i]->n_layers),
                                lsc_human_count(c2, sizeof c2, (double)lsc_adapter_params(ads[i]))};
        lsc_table_add(tb, cells);
    }
    if (tb)
        lsc_table_print(tb, ctx->out);
    lsc_table_free(tb);
    lsc_out(ctx->out, "\n%-44s %-9s %-10s %s\n", "LAYER (in every task)", "SHARED A", "SHARED IN", "COSINES (task pairs)");
}

/* One layer of the first task, if every task has it (and the glob matches): whether the tasks share its
 * A, the input dimension they share, their cosines (printed or added to S->jlayers); its inner products
 * are added to S->G. */
static int show_layer(lsc_cmd_ctx *ctx, show_state *S, size_t li, const char *glob)
{
    char nm[512], buf[64];
    const lsc_task_entry *t = S->t;
    lsc_adapter **ads = S->ads;
    size_t T = S->T;
    int json = S->json, rc = LSC_EXIT_OK;
    double *G = S->G, *C = S->C;
    lsc_lowrank *v = S->v;
    const char *lname = ads[0]->layers[li].name;
    if (!lsc_name_matches(glob, lname))
        return LSC_EXIT_OK;
    int idx[64], all = 1;
    for (size_t i = 0; i < T && i < 64; i++) {
        idx[i] = lsc_adapter_find_layer(ads[i], lname);
        all &= idx[i] >= 0;
    }
    if (!all || T > 64)
        return LSC_EXIT_OK;
    S->layers_all++;
    /* a shared A: the same bytes in every task (content-addressed, so stored once) */
    int shared_a = 1;
    for (size_t i = 1; i < T; i++) {
        const lsc_layer *l0 = &ads[0]->layers[idx[0]], *li2 = &ads[i]->layers[idx[i]];
        shared_a &= l0->ta >= 0 && li2->ta >= 0 &&
                    strcmp(ads[0]->tensors[l0->ta].hash, ads[i]->tensors[li2->ta].hash) == 0;
    }
    S->shared_a_layers += shared_a;
    for (size_t i = 0; i < T && !rc; i++)
        if (lsc_adapter_factors(ads[i], (size_t)idx[i], &S->fb[i], &S->fbc[i], &S->fa[i], &S->fac[i], &v[i], &ctx->err)) {
            lsc_error_prefix(&ctx->err, "task '%s' layer '%s'", t[i].task, lname);
            rc = LSC_EXIT_ERROR;
        }
    /* a layer holding NaN/Inf in any task is flagged by show and left out of these figures */
    int nonfinite = 0;
    for (size_t i = 0; i < T && !rc && !nonfinite; i++) {
        size_t nb = (size_t)(v[i].rows * v[i].r), na = (size_t)(v[i].r * v[i].cols);
        for (size_t k = 0; k < nb && !nonfinite; k++)
            nonfinite = !isfinite(v[i].B[k]);
        for (size_t k = 0; k < na && !nonfinite; k++)
            nonfinite = !isfinite(v[i].A[k]);
        nonfinite |= !isfinite(v[i].scale);
    }
    if (nonfinite) {
        S->layers_all--;
        if (json)
            json_array_append_new(S->jlayers, lsc_json_layer_name(json_pack("{s:s, s:b}", "name", lname, "nonfinite", 1), lname));
        else
            lsc_out(ctx->out, "%-44s (NaN/Inf in a task: left out)\n", lname);
        return LSC_EXIT_OK;
    }
    int dim = -1;
    for (size_t i = 0; i < T && !rc; i++) {
        C[i * T + i] = 1.0;
        for (size_t j = i + 1; j < T && !rc; j++) {
            lsc_compare_result r;
            if (lsc_compare(&v[i], &v[j], S->ws, &r, &ctx->err)) {
                lsc_error_prefix(&ctx->err, "layer '%s'", lname);
                rc = LSC_EXIT_ERROR;
                break;
            }
            C[i * T + j] = C[j * T + i] = r.cosine;
            G[i * T + j] += r.inner;
            G[j * T + i] += r.inner;
            /* each task's squared norm, once per layer: task 0 from the pair (0, 1), task j from (0, j) */
            if (i == 0 && j == 1)
                G[0] += r.norm1 * r.norm1;
            if (i == 0)
                G[j * T + j] += r.norm2 * r.norm2;
            int d = 0;
            for (int k = 0; k < r.n_angles; k++)
                d += cos(r.angles_in[k]) >= SHARED_COS;
            dim = dim < 0 || d < dim ? d : dim;
        }
    }
    if (rc)
        return rc;
    if (T == 1)
        dim = 0;
    S->min_dim = S->min_dim < 0 || dim < S->min_dim ? dim : S->min_dim;
    if (json) {
        json_t *cm = json_array();
        for (size_t i = 0; i < T; i++) {
            json_t *row = json_array();
            for (size_t j = 0; j < T; j++)
                json_array_append_new(row, lsc_json_num(C[i * T + j]));
            json_array_append_new(cm, row);
        }
        json_array_append_new(S->jlayers, lsc_json_layer_name(json_pack("{s:s, s:b, s:i, s:o}", "name", lname, "shared_a", shared_a,
                                                    "shared_dim", dim, "cosine", cm), lname));
    } else {
        const char *sn = lsc_layername_display(lname);
        lsc_out(ctx->out, "%-44s %-9s %-10d", lsc_escape_name(nm, sizeof nm, sn), shared_a ? "yes" : "no", dim);
        for (size_t i = 0; i < T; i++)
            for (size_t j = i + 1; j < T; j++)
                lsc_out(ctx->out, " %s", lsc_fmt(buf, sizeof buf, "%+.4f", C[i * T + j]));
        lsc_out(ctx->out, "\n");
    }
    for (size_t i = 0; i < T; i++) {
        const lsc_layer *l = &ads[i]->layers[idx[i]];
        int ts[4] = {l->ta, l->tb, l->te, l->tm};
        for (int k = 0; k < 4; k++)
            if (ts[k] >= 0)
                lsc_adapter_unload_tensor(ads[i], (size_t)ts[k]);
    }
    return LSC_EXIT_OK;
}

/* Overall: cosines of the whole task deltas (all shared layers stacked), then the summary or, in JSON,
 * the whole object (S->jlayers moves into it). */
static void show_overall(lsc_cmd_ctx *ctx, const char *name, show_state *S)
{
    const lsc_task_entry *t = S->t;
    lsc_adapter **ads = S->ads;
    size_t T = S->T;
    int json = S->json, min_dim = S->min_dim;
    double *G = S->G;
    if (T == 1 && G[0] == 0)
        G[0] = 1;
    json_t *cm = json_array(), *jt = json_array(), *norms = json_array();
    if (!json)
        lsc_out(ctx->out, "\ntask x task cosine over all shared layers:\n%12s", "");
    for (size_t j = 0; !json && j < T; j++)
        lsc_out(ctx->out, " %12.12s", t[j].task);
    for (size_t i = 0; i < T; i++) {
        json_t *row = json_array();
        if (!json)
            lsc_out(ctx->out, "\n%12.12s", t[i].task);
        for (size_t j = 0; j < T; j++) {
            double c = i == j ? 1.0 : (G[i * T + i] > 0 && G[j * T + j] > 0 ? G[i * T + j] / sqrt(G[i * T + i] * G[j * T + j]) : 0.0);
            json_array_append_new(row, lsc_json_num(c));
            if (!json)
                lsc_out(ctx->out, " %+12.6f", c);
        }
        json_array_append_new(cm, row);
        json_array_append_new(jt, json_pack("{s:s, s:s, s:I, s:I}", "task", t[i].task, "adapter", t[i].member,
                                            "layers", (json_int_t)ads[i]->n_layers, "params",
                                            (json_int_t)lsc_adapter_params(ads[i])));
        json_array_append_new(norms, lsc_json_num(sqrt(G[i * T + i])));
    }
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:i, s:i, s:o}", "name", name, "kind", lsc_kind_name(LSC_KIND_MULTITASK),
                              "base_model", ads[0] && ads[0]->base_model ? ads[0]->base_model : "", "tasks", jt,
                              "task_cosine", cm, "task_norms", norms, "shared_a_layers", S->shared_a_layers,
                              "shared_dim_min", min_dim < 0 ? 0 : min_dim, "layers", S->jlayers);
        S->jlayers = NULL;
        lsc_json_print(ctx->out, o);
        json_decref(o);
    } else {
        lsc_out(ctx->out, "\n\n%d layer(s) in every task; A shared (stored once) in %d; shared input directions "
                          "(cos >= %.2f): at least %d per layer\n",
                S->layers_all, S->shared_a_layers, SHARED_COS, min_dim < 0 ? 0 : min_dim);
        json_decref(cm);
        json_decref(jt);
        json_decref(norms);
    }
}

/* header -> each layer -> overall */
int lsc_tasks_show(lsc_cmd_ctx *ctx, const char *name, int64_t id, const char *glob, int json)
{
    lsc_task_entry *t = NULL;
    lsc_adapter **ads = NULL;
    size_t T = 0;
    int rc = LSC_EXIT_OK;
    if (load_members(ctx, id, &t, &T, &ads)) {
        free_members(t, T, ads);
        return LSC_EXIT_ERROR;
    }
    show_state S = {.t = t, .ads = ads, .T = T, .json = json, .min_dim = -1};
    S.ws = lsc_workspace_new();
    S.fb = calloc(T + 1, sizeof *S.fb);
    S.fa = calloc(T + 1, sizeof *S.fa);
    S.fbc = calloc(T + 1, sizeof *S.fbc);
    S.fac = calloc(T + 1, sizeof *S.fac);
    S.G = calloc(T * T + 1, sizeof *S.G);
    S.C = calloc(T * T + 1, sizeof *S.C);
    S.v = calloc(T + 1, sizeof *S.v);
    S.jlayers = json_array();
    if (!S.ws || !S.fb || !S.fa || !S.fbc || !S.fac || !S.G || !S.C || !S.v)
        rc = lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    if (!rc && !json)
        show_header(ctx, name, &S);
    /* layers present in every task, in the first task's order */
    for (size_t li = 0; !rc && T > 0 && li < ads[0]->n_layers; li++)
        rc = show_layer(ctx, &S, li, glob);
    if (!rc)
        show_overall(ctx, name, &S);
    json_decref(S.jlayers);
    for (size_t i = 0; i < T; i++) {
        if (S.fb)
            free(S.fb[i]);
        if (S.fa)
            free(S.fa[i]);
    }
    free(S.fb);
    free(S.fa);
    free(S.fbc);
    free(S.fac);
    free(S.G);
    free(S.C);
    free(S.v);
    lsc_workspace_free(S.ws);
    free_members(t, T, ads);
    return rc;
}
