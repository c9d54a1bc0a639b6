/* workbench.c: the TUI's model over the real catalog (see workbench.h). Statistics come from the
 * catalog's cache (computed at import) or from the factors; diffs from the factored comparison; the `:`
 * prompt, and every edit of the panels, goes through lsc_dispatch, the same command layer as the CLI and
 * scripts. Previews compute what a command would do from the same numbers the command uses (prune:
 * engine/prune.h's rules over the cached singular values; svd/linear merges: the singular values of the
 * exact weighted sum from the factored SVD of the concatenated factors, as engine/merge.h's SVD does,
 * kept per inputs and weights so that a rank change costs nothing), and never write: no transaction is
 * opened, nothing is stored. */
#include "audit.h"
#include "workbench.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog.h"
#include "command.h"
#include "common.h"
#include "compare.h"
#include "modkey.h"
#include "kind_figures.h"
#include "layername.h"
#include "series_figs.h"
#include "tasks.h"
#include "prune.h"
#include "spectrum.h"

typedef struct wb {
    lsc_catalog *cat;
    char *path;
    int readonly;
    lsc_stats_runner sr;
    /* the last adapter loaded, kept for repeated layer/spectrum calls */
    lsc_adapter *ad;
    /* its layers' singular values and factor sizes, loaded on the first prune preview */
    double **pv_sv;
    int *pv_n, *pv_nonfinite;
    int64_t *pv_params, *pv_bytes; /* numel and bytes of A, B (and E) of each layer */
    size_t pv_layers;
    /* singular values of each merged layer's exact weighted sum, for the inputs and weights in mc_key:
     * svd and linear previews at any rank come from them without reading a factor again */
    char *mc_key;
    double **mc_sv;
    int *mc_n;
    size_t mc_rows;
} wb;

static void drop_merge_cache(wb *w)
{
    for (size_t i = 0; w->mc_sv && i < w->mc_rows; i++)
        free(w->mc_sv[i]);
    free(w->mc_sv);
    free(w->mc_n);
    free(w->mc_key);
    w->mc_sv = NULL;
    w->mc_n = NULL;
    w->mc_key = NULL;
    w->mc_rows = 0;
}

static void drop_adapter(wb *w)
{
    for (size_t i = 0; w->pv_sv && i < w->pv_layers; i++)
        free(w->pv_sv[i]);
    free(w->pv_sv);
    free(w->pv_n);
    free(w->pv_nonfinite);
    free(w->pv_params);
    free(w->pv_bytes);
    w->pv_sv = NULL;
    w->pv_n = w->pv_nonfinite = NULL;
    w->pv_params = w->pv_bytes = NULL;
    w->pv_layers = 0;
    lsc_adapter_free(w->ad);
    w->ad = NULL;
    drop_merge_cache(w);
}

static lsc_status load(wb *w, const char *name, lsc_error *err)
{
    if (w->ad && strcmp(w->ad->name, name) == 0)
        return LSC_OK;
    drop_adapter(w);
    return lsc_catalog_get_adapter(w->cat, name, &w->ad, err);
}

/* The layer, parameter and byte totals of the group or series adapter `id` into a, as `ls` shows them:
 * computed by totals (lsc_tasks_totals or lsc_series_totals) into a null sink; all three 0 if it fails. */
typedef int (*totals_fn)(lsc_cmd_ctx *ctx, int64_t id, int64_t *layers, int64_t *params, int64_t *bytes,
                         json_t **names);
static void list_totals(wb *w, totals_fn totals, int64_t id, lsc_tui_adapter *a)
{
    lsc_sink null;
    lsc_sink_init_null(&null);
    lsc_cmd_ctx c;
    memset(&c, 0, sizeof c);
    c.cat = w->cat;
    c.out = c.diag = &null;
    json_t *names = NULL;
    if (totals(&c, id, &a->n_layers, &a->params, &a->bytes, &names) != LSC_EXIT_OK)
        a->n_layers = a->params = a->bytes = 0;
    json_decref(names);
}

static lsc_status wb_list(void *ctx, lsc_tui_adapter **out, size_t *n, lsc_error *err)
{
    wb *w = ctx;
    lsc_adapter_info *infos = NULL;
    size_t k = 0;
    *out = NULL;
    *n = 0;
    /* another process may have changed an adapter we hold: start afresh on every listing */
    drop_adapter(w);
    lsc_status st = lsc_catalog_list(w->cat, &infos, &k, err);
    if (st)
        return st;
    lsc_tui_adapter *a = calloc(k ? k : 1, sizeof *a);
    if (!a) {
        lsc_adapter_info_free_array(infos, k);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        a[i].id = infos[i].id;
        lsc_tui_copy(a[i].name, sizeof a[i].name, infos[i].name);
        lsc_tui_copy(a[i].kind, sizeof a[i].kind, infos[i].kind ? infos[i].kind : "");
        lsc_tui_copy(a[i].format, sizeof a[i].format, infos[i].format ? infos[i].format : "");
        lsc_tui_copy(a[i].dtype, sizeof a[i].dtype, infos[i].dtypes ? infos[i].dtypes : "");
        lsc_tui_copy(a[i].base_model, sizeof a[i].base_model, infos[i].base_model ? infos[i].base_model : "");
        a[i].n_layers = infos[i].n_layers;
        a[i].params = infos[i].params;
        a[i].bytes = infos[i].bytes;
        if (lsc_is_group(infos[i].kind)) /* a multi-task adapter: the totals of its tasks, as `ls` shows */
            list_totals(w, lsc_tasks_totals, infos[i].id, &a[i]);
        if (lsc_is_series(infos[i].kind)) /* a series: as `ls` shows it */
            list_totals(w, lsc_series_totals, infos[i].id, &a[i]);
        a[i].created = infos[i].created;
        lsc_tui_copy(a[i].parents, sizeof a[i].parents, infos[i].parents ? infos[i].parents : "");
    }
    lsc_adapter_info_free_array(infos, k);
    *out = a;
    *n = k;
    return LSC_OK;
}

/* The path `base` recorded for the adapter ("" none): the catalog's row, no base file is opened. */
static lsc_status wb_base_path(void *ctx, const char *adapter, char *path, size_t cap, lsc_error *err)
{
    wb *w = ctx;
    int64_t id;
    char *p = NULL;
    lsc_base_rec *recs = NULL;
    size_t n = 0;
    lsc_status st = lsc_catalog_find(w->cat, adapter, &id, err);
    if (!st)
        st = lsc_catalog_get_base(w->cat, id, &p, &recs, &n, err);
    lsc_tui_copy(path, cap, !st && p ? p : "");
    free(p);
    lsc_base_rec_free_array(recs, n);
    return st;
}

static lsc_status wb_layers(void *ctx, const char *adapter, lsc_tui_layer **out, size_t *n, lsc_error *err)
{
    wb *w = ctx;
    *out = NULL;
    *n = 0;
    lsc_status st = load(w, adapter, err);
    if (st)
        return st;
    lsc_adapter *ad = w->ad;
    lsc_tui_layer *ls = calloc(ad->n_layers ? ad->n_layers : 1, sizeof *ls);
    size_t *order = lsc_layername_order(ad); /* natural order of names: layers.2 before layers.10 */
    if (!ls || !order) {
        free(ls);
        free(order);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    for (size_t oi = 0; oi < ad->n_layers; oi++) {
        size_t i = order[oi];
        const lsc_layer *l = &ad->layers[i];
        lsc_layer_stats s;
        memset(&s, 0, sizeof s);
        if ((st = lsc_layer_stats_get(&w->sr, w->cat, ad, i, 0, &s, err))) {
            free(ls);
            free(order);
            return st;
        }
        lsc_tui_layer *t = &ls[oi];
        lsc_tui_copy(t->name, sizeof t->name, l->name);
        lsc_tui_copy(t->module_type, sizeof t->module_type, l->module_type ? l->module_type : "");
        t->layer_index = l->layer_index;
        t->rows = l->rows;
        t->cols = l->cols;
        t->rank = l->rank;
        t->alpha = l->alpha;
        t->scale = l->scale;
        t->fro = s.fro;
        t->sigma1 = s.spectral;
        t->effective_rank = s.effective_rank;
        t->stable_rank = s.stable_rank;
        t->k90 = s.energy_rank_90;
        t->k99 = s.energy_rank_99;
        t->zeros_a = s.zeros_a;
        t->zeros_b = s.zeros_b;
        t->nonfinite = (s.flags & LSC_STATS_NONFINITE) != 0;
        t->flags = l->flags;
        lsc_stats_release(&s);
    }
    free(order);
    *out = ls;
    *n = ad->n_layers;
    return LSC_OK;
}

static lsc_status wb_layer_sv(void *ctx, const char *adapter, const char *layer, double **sv, size_t *n,
                              lsc_error *err)
{
    wb *w = ctx;
    *sv = NULL;
    *n = 0;
    lsc_status st = load(w, adapter, err);
    if (st)
        return st;
    int li = lsc_adapter_find_layer(w->ad, layer);
    if (li < 0)
        return lsc_error_set(err, LSC_ERR_NOTFOUND, "no layer '%s' in '%s'", layer, adapter);
    lsc_layer_stats s;
    memset(&s, 0, sizeof s);
    if ((st = lsc_layer_stats_get(&w->sr, w->cat, w->ad, (size_t)li, 0, &s, err)))
        return st;
    *sv = s.sv; /* hand the array over */
    *n = (size_t)s.n_sv;
    s.sv = NULL;
    lsc_stats_release(&s);
    return LSC_OK;
}

static lsc_status wb_diff(void *ctx, const char *a, const char *b, lsc_tui_diff *out, lsc_error *err)
{
    wb *w = ctx;
    memset(out, 0, sizeof *out);
    lsc_adapter *x = NULL, *y = NULL;
    lsc_status st = lsc_catalog_get_adapter(w->cat, a, &x, err);
    if (!st)
        st = lsc_catalog_get_adapter(w->cat, b, &y, err);
    if (!st && x->base_model && y->base_model && *x->base_model && *y->base_model &&
        strcmp(x->base_model, y->base_model) != 0)
        st = lsc_error_set(err, LSC_ERR_INVALID, "'%s' and '%s' adapt different base models ('%s' and '%s')", a, b,
                           x->base_model, y->base_model);
    double *bx = NULL, *ax = NULL, *by = NULL, *ay = NULL;
    size_t bxc = 0, axc = 0, byc = 0, ayc = 0;
    int *jof = NULL; /* partners as the diff command pairs them: same key, else same module in another format */
    char *taken = NULL;
    if (!st && !(jof = lsc_modkey_match(x, y, &taken)))
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (!st) {
        out->rows = calloc(x->n_layers + 1, sizeof *out->rows);
        out->only_a = calloc(x->n_layers + 1, sizeof *out->only_a);
        out->only_b = calloc(y->n_layers + 1, sizeof *out->only_b);
        if (!out->rows || !out->only_a || !out->only_b)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; !st && i < x->n_layers; i++) {
        const lsc_layer *l = &x->layers[i];
        int j = jof[i];
        if (j < 0) {
            lsc_tui_copy(out->only_a[out->n_only_a++].name, LSC_TUI_NAME_MAX, l->name);
            continue;
        }
        lsc_lowrank l1, l2;
        lsc_compare_result r;
        st = lsc_adapter_factors(x, i, &bx, &bxc, &ax, &axc, &l1, err);
        if (!st)
            st = lsc_adapter_factors(y, (size_t)j, &by, &byc, &ay, &ayc, &l2, err);
        if (!st)
            st = lsc_compare(&l1, &l2, w->sr.ws, &r, err);
        if (st) {
            lsc_error_prefix(err, "layer '%s'", l->name);
            break;
        }
        lsc_tui_diff_row *row = &out->rows[out->n_rows++];
        lsc_tui_copy(row->name, sizeof row->name, l->name);
        lsc_tui_copy(row->module_type, sizeof row->module_type, l->module_type ? l->module_type : "");
        row->layer_index = l->layer_index;
        row->cosine = r.cosine;
        row->rel_diff = r.rel_diff;
        row->subspace_in = r.subspace_in;
        row->subspace_out = r.subspace_out;
        row->fro_a = r.norm1;
        row->fro_b = r.norm2;
        for (int k = 0; k < 4; k++) {
            int ti = k == 0 ? l->ta : k == 1 ? l->tb : k == 2 ? l->te : l->tm;
            if (ti >= 0)
                lsc_adapter_unload_tensor(x, (size_t)ti);
        }
    }
    for (size_t j = 0; !st && j < y->n_layers; j++)
        if (!taken[j])
            lsc_tui_copy(out->only_b[out->n_only_b++].name, LSC_TUI_NAME_MAX, y->layers[j].name);
    free(jof);
    free(taken);
    free(bx);
    free(ax);
    free(by);
    free(ay);
    lsc_adapter_free(x);
    lsc_adapter_free(y);
    if (st)
        lsc_tui_diff_release(out);
    return st;
}

/* The audit (app/cmd/audit.h) as the view's rows; the notes join its lists into one line. */
static lsc_status wb_audit(void *ctx, lsc_tui_audit_row **out, size_t *n, lsc_error *err)
{
    wb *w = ctx;
    lsc_audit_entry *e = NULL;
    size_t k = 0;
    *out = NULL;
    *n = 0;
    lsc_status st = lsc_audit_collect(w->cat, NULL, NULL, NULL, NULL, &e, &k, err);
    if (st)
        return st;
    lsc_tui_audit_row *t = calloc(k ? k : 1, sizeof *t);
    if (!t) {
        lsc_audit_free(e, k);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        lsc_tui_copy(t[i].name, sizeof t[i].name, e[i].name);
        t[i].layers = e[i].n_layers;
        t[i].bytes = e[i].bytes;
        t[i].saves = e[i].saves;
        t[i].waste = e[i].waste;
        t[i].nonfinite = e[i].nonfinite;
        t[i].dead = e[i].dead;
        const char *label[3] = {"same content as ", "same layers as ", "parent gone: "};
        const char *csv[3] = {e[i].duplicates, e[i].same_layers, e[i].gone_parents};
        size_t len = 0;
        for (int j = 0; j < 3; j++)
            if (csv[j] && *csv[j] && len < sizeof t[i].notes)
                len += (size_t)snprintf(t[i].notes + len, sizeof t[i].notes - len, "%s%s%s", len ? "; " : "", label[j],
                                        csv[j]);
    }
    lsc_audit_free(e, k);
    *out = t;
    *n = k;
    return LSC_OK;
}

static lsc_status wb_history(void *ctx, lsc_tui_history **out, size_t *n, lsc_error *err)
{
    wb *w = ctx;
    lsc_history_entry *h = NULL;
    size_t k = 0;
    *out = NULL;
    *n = 0;
    lsc_status st = lsc_catalog_history(w->cat, NULL, &h, &k, err);
    if (st)
        return st;
    lsc_tui_history *t = calloc(k ? k : 1, sizeof *t);
    if (!t) {
        lsc_history_free_array(h, k);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        t[i].id = h[i].id;
        t[i].time = h[i].time;
        lsc_tui_copy(t[i].command, sizeof t[i].command, h[i].command);
        lsc_tui_copy(t[i].args, sizeof t[i].args, h[i].args_json ? h[i].args_json : "");
        lsc_tui_copy(t[i].inputs, sizeof t[i].inputs, h[i].inputs ? h[i].inputs : "");
        lsc_tui_copy(t[i].outputs, sizeof t[i].outputs, h[i].outputs ? h[i].outputs : "");
        t[i].undone = h[i].undone;
    }
    lsc_history_free_array(h, k);
    *out = t;
    *n = k;
    return LSC_OK;
}

/* The diagnostics sink of a command run from the TUI: warnings are kept as text; progress lines (a
 * terminal redraws them in place: "\rmerge ties: layer 3/224\033[K") go to the progress callback. */
typedef struct diag_sink {
    lsc_sink sink; /* first: the command layer sees an lsc_sink */
    lsc_sink text;
    const lsc_tui_progress *prog;
    char line[256];
    size_t len;
    int in_line, in_esc;
} diag_sink;

static void progress_line(diag_sink *d)
{
    d->line[d->len] = '\0';
    lsc_tui_train_point p = {0, 0, NAN, NAN, NAN, NAN};
    /* retrain: "step 40/200  loss 0.0123  (optimum 0.01, x1.23)  lr 1.00e-02  ETA 3s"; the ratio may be
     * "n/a" (a zero optimum), so lr and ETA are found by their labels */
    int nf = d->len ? sscanf(d->line, "step %ld/%ld loss %lg (optimum %lg", &p.step, &p.steps, &p.loss, &p.optimum) : 0;
    const char *lr = nf == 4 ? strstr(d->line, ") lr ") : NULL;
    int more = lr ? sscanf(lr, ") lr %lg ETA %lgs", &p.lr, &p.eta) : 0;
    if (more > 0)
        nf += more;
    if (nf >= 3 && d->prog && d->prog->train)
        d->prog->train(d->prog->ctx, &p);
    if (nf >= 2 && d->prog && d->prog->report) {
        d->prog->report(d->prog->ctx, d->line, p.step, p.steps);
    } else if (d->len && d->prog && d->prog->report) {
        long done = 0, total = 0;
        const char *q = strstr(d->line, "layer ");
        if (!(q && sscanf(q, "layer %ld/%ld", &done, &total) == 2)) {
            q = strstr(d->line, "] ");
            if (!(q && sscanf(q, "] %ld/%ld", &done, &total) == 2))
                done = total = 0;
        }
        d->prog->report(d->prog->ctx, d->line, done, total);
    }
    d->len = 0;
}

static void diag_write(lsc_sink *s, const char *data, size_t n)
{
    diag_sink *d = (diag_sink *)s;
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (d->in_esc) { /* CSI: ESC [ params letter */
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
                d->in_esc = 0;
            continue;
        }
        if (c == '\033') {
            d->in_esc = 1;
            if (d->in_line)
                progress_line(d);
            continue;
        }
        if (c == '\r') {
            d->in_line = 1;
            d->len = 0;
            continue;
        }
        if (d->in_line) {
            if (c == '\n') {
                progress_line(d);
                d->in_line = 0;
            } else if (d->len < sizeof d->line - 1) {
                d->line[d->len++] = c;
            }
            continue;
        }
        d->text.write(&d->text, &c, 1);
    }
}

static int wb_run(void *ctx, int argc, char **argv, unsigned flags, const lsc_tui_progress *prog, char **output,
                  char **errmsg)
{
    wb *w = ctx;
    lsc_sink out;
    diag_sink diag;
    memset(&diag, 0, sizeof diag);
    lsc_sink_init_mem(&out);
    lsc_sink_init_mem(&diag.text);
    diag.sink.write = diag_write;
    diag.sink.is_tty = prog && (prog->report || prog->train); /* ask for progress lines: they arrive as reports */
    diag.prog = prog;
    lsc_cmd_ctx c;
    memset(&c, 0, sizeof c);
    c.catalog_path = w->path;
    c.cat = w->cat;
    c.out = &out;
    c.diag = &diag.sink;
    c.readonly = w->readonly || (flags & LSC_TUI_RUN_READONLY);
    c.cancel = prog ? prog->cancel : NULL;
    c.pause = prog ? prog->pause : NULL;
    int rc = lsc_dispatch(&c, argc, argv);
    /* warnings first, then the results */
    size_t n = diag.text.len + out.len;
    char *text = malloc(n + 1);
    if (text) {
        memcpy(text, diag.text.buf ? diag.text.buf : "", diag.text.len);
        memcpy(text + diag.text.len, out.buf ? out.buf : "", out.len);
        text[n] = '\0';
    }
    *output = text ? text : strdup("");
    *errmsg = rc == LSC_EXIT_OK ? NULL : strdup(c.err.msg[0] ? c.err.msg : "failed");
    lsc_sink_release(&out);
    lsc_sink_release(&diag.text);
    /* the command may have changed what we cached */
    drop_adapter(w);
    return rc;
}

/* ---- previews ----------------------------------------------------------------------------------------- */

static int64_t tensor_numel(const lsc_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

/* Parameters and bytes of a layer's rank-carrying tensors (A, B and AdaLoRA's E): what a rank cut scales. */
static void factor_size(const lsc_adapter *ad, const lsc_layer *l, int64_t *params, int64_t *bytes)
{
    int ts[3] = {l->ta, l->tb, l->te};
    *params = *bytes = 0;
    for (int k = 0; k < 3; k++)
        if (ts[k] >= 0) {
            *params += tensor_numel(&ad->tensors[ts[k]]);
            *bytes += (int64_t)ad->tensors[ts[k]].nbytes;
        }
}

/* The singular values of every layer of w->ad (from the statistics cache; computed from the factors for a
 * layer the cache lacks, as `prune` does), kept until the adapter is dropped. */
static lsc_status ensure_sv(wb *w, lsc_error *err)
{
    lsc_adapter *ad = w->ad;
    if (w->pv_sv)
        return LSC_OK;
    size_t n = ad->n_layers;
    w->pv_sv = calloc(n + 1, sizeof *w->pv_sv);
    w->pv_n = calloc(n + 1, sizeof *w->pv_n);
    w->pv_nonfinite = calloc(n + 1, sizeof *w->pv_nonfinite);
    w->pv_params = calloc(n + 1, sizeof *w->pv_params);
    w->pv_bytes = calloc(n + 1, sizeof *w->pv_bytes);
    w->pv_layers = n;
    lsc_status st = LSC_OK;
    if (!w->pv_sv || !w->pv_n || !w->pv_nonfinite || !w->pv_params || !w->pv_bytes)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        lsc_layer_stats s;
        memset(&s, 0, sizeof s);
        if ((st = lsc_layer_stats_get(&w->sr, w->cat, ad, i, 0, &s, err)))
            break;
        w->pv_nonfinite[i] = (s.flags & LSC_STATS_NONFINITE) != 0;
        w->pv_sv[i] = s.sv; /* hand the array over */
        w->pv_n[i] = s.n_sv;
        s.sv = NULL;
        lsc_stats_release(&s);
        factor_size(ad, &ad->layers[i], &w->pv_params[i], &w->pv_bytes[i]);
    }
    if (st) {
        for (size_t i = 0; w->pv_sv && i < n; i++)
            free(w->pv_sv[i]);
        free(w->pv_sv);
        free(w->pv_n);
        free(w->pv_nonfinite);
        free(w->pv_params);
        free(w->pv_bytes);
        w->pv_sv = NULL;
        w->pv_n = w->pv_nonfinite = NULL;
        w->pv_params = w->pv_bytes = NULL;
        w->pv_layers = 0;
    }
    return st;
}

static const lsc_rank_rule k_engine_rule[LSC_TUI_PRUNE_BUDGET] = {LSC_RANK_FIXED, LSC_RANK_ENERGY, LSC_RANK_FRO,
                                                                  LSC_RANK_CUMULATIVE, LSC_RANK_RATIO};

static lsc_status wb_prune_preview(void *ctx, const char *adapter, lsc_tui_prune_rule rule, double value,
                                   const char *glob, lsc_tui_prune_row **rows_out, size_t *n_out,
                                   lsc_tui_prune_totals *tot, lsc_error *err)
{
    wb *w = ctx;
    *rows_out = NULL;
    *n_out = 0;
    memset(tot, 0, sizeof *tot);
    lsc_status st = lsc_tui_prune_check(rule, value, err);
    if (!st)
        st = load(w, adapter, err);
    if (!st)
        st = ensure_sv(w, err);
    if (st)
        return st;
    const lsc_adapter *ad = w->ad;
    size_t n = ad->n_layers, matched = 0;
    lsc_tui_prune_row *rows = calloc(n + 1, sizeof *rows);
    if (!rows)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const lsc_layer *l = &ad->layers[i];
        lsc_tui_prune_row *r = &rows[i];
        lsc_tui_copy(r->name, sizeof r->name, l->name);
        r->rank_before = r->rank_after = l->rank;
        r->kept_energy = 1;
        r->n_sv = w->pv_n[i];
        if (!lsc_name_matches(glob, l->name))
            continue;
        matched++;
        if (w->pv_nonfinite[i]) {
            r->nonfinite = 1;
            tot->n_nonfinite++;
            continue;
        }
        r->chosen = 1;
        tot->n_chosen++;
        tot->total_sv += r->n_sv;
        if (l->rank > tot->max_rank)
            tot->max_rank = l->rank;
    }
    if (!matched)
        st = lsc_error_set(err, LSC_ERR_NOTFOUND, "no layer of '%s' matches '%s'", adapter, glob ? glob : "");
    if (!st && rule == LSC_TUI_PRUNE_BUDGET) {
        const double **svs = calloc(n + 1, sizeof *svs);
        int *ns = calloc(n + 1, sizeof *ns), *ks = calloc(n + 1, sizeof *ks), m = 0;
        if (!svs || !ns || !ks)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !st && i < n; i++)
            if (rows[i].chosen) {
                svs[m] = w->pv_sv[i];
                ns[m++] = w->pv_n[i];
            }
        if (!st)
            st = lsc_prune_budget(svs, ns, m, (int64_t)value, ks, err);
        for (size_t i = 0, j = 0; !st && i < n; i++)
            if (rows[i].chosen)
                rows[i].rank_after = ks[j++];
        free(svs);
        free(ns);
        free(ks);
    }
    tot->params_before = tot->params_after = lsc_adapter_params(ad);
    tot->bytes_before = tot->bytes_after = lsc_adapter_bytes(ad);
    for (size_t i = 0; !st && i < n; i++) {
        lsc_tui_prune_row *r = &rows[i];
        const lsc_layer *l = &ad->layers[i];
        if (!r->chosen)
            continue;
        int k = r->rank_after;
        if (rule != LSC_TUI_PRUNE_BUDGET &&
            (st = lsc_prune_select(w->pv_sv[i], w->pv_n[i], k_engine_rule[rule], value, &k, err)) != LSC_OK) {
            lsc_error_prefix(err, "layer '%s'", l->name);
            break;
        }
        lsc_prune_figures(w->pv_sv[i], w->pv_n[i], k, &r->kept_energy, &r->rel_error);
        r->rank_after = k >= 1 && k < l->rank ? k : l->rank;
        if (r->rank_after < l->rank) { /* A, B (and E) shrink from rank r to k along their rank axis */
            tot->n_cut++;
            tot->params_after -= w->pv_params[i] / l->rank * (l->rank - r->rank_after);
            tot->bytes_after -= w->pv_bytes[i] / l->rank * (l->rank - r->rank_after);
        }
        if (r->rel_error > tot->max_rel_error)
            tot->max_rel_error = r->rel_error;
    }
    if (st) {
        free(rows);
        memset(tot, 0, sizeof *tot);
        return st;
    }
    *rows_out = rows;
    *n_out = n;
    return LSC_OK;
}

/* Merge preview step 1: load the inputs; refuse different base models and DoRA layers as merge does.
 * *cap: the inputs' layers together (a bound on the union's). */
static lsc_status wb_merge_load(wb *w, const char *const *names, int n, lsc_adapter **in, size_t *cap, lsc_error *err)
{
    lsc_status st = LSC_OK;
    *cap = 0;
    for (int i = 0; !st && i < n; i++)
        st = lsc_catalog_get_adapter(w->cat, names[i], &in[i], err);
    for (int i = 1; !st && i < n; i++)
        if (in[0]->base_model && in[i]->base_model && *in[0]->base_model && *in[i]->base_model &&
            strcmp(in[0]->base_model, in[i]->base_model) != 0)
            st = lsc_error_set(err, LSC_ERR_INVALID, "'%s' and '%s' adapt different base models ('%s' and '%s')",
                               in[0]->name, in[i]->name, in[0]->base_model, in[i]->base_model);
    for (int i = 0; !st && i < n; i++) {
        *cap += in[i]->n_layers;
        for (size_t li = 0; !st && li < in[i]->n_layers; li++)
            if (in[i]->layers[li].tm >= 0)
                st = lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                                   "layer '%s' of '%s' is DoRA: its magnitude vector needs the base weights, so merge refuses it",
                                   in[i]->layers[li].name, in[i]->name);
    }
    return st;
}

/* Scratch of the factored merge preview: each input's factors, the concatenation's, a workspace. */
typedef struct wb_merge_scratch {
    double *fb[LSC_TUI_MERGE_MAX], *fa[LSC_TUI_MERGE_MAX], *cb, *ca;
    size_t fbc[LSC_TUI_MERGE_MAX], fac[LSC_TUI_MERGE_MAX];
    lsc_workspace *ws;
} wb_merge_scratch;

/* Merge preview step 2 (svd / linear with a rank, not cached yet): the singular values of the exact sum
 * of layer l into w->mc_sv[row], from the factored SVD of the concatenation [w_1 s_1 B_1, ...] [A_1; ...]
 * (merge.h's SVD, the values-only path) of the m views weighted by ww. Then the tensors of the layer in
 * in[i..n-1] are unloaded: they are not needed again. */
static lsc_status wb_merge_row_spectrum(wb *w, lsc_adapter **in, int i, int n, const lsc_layer *l, size_t row,
                                        const lsc_lowrank *views, const double *ww, int m, wb_merge_scratch *sc,
                                        lsc_error *err)
{
    int64_t mn = l->rows < l->cols ? l->rows : l->cols;
    int sr = 0;
    for (int k = 0; k < m; k++)
        sr += views[k].r;
    int64_t mnr = sr < mn ? sr : mn;
    double *nb = sr > 0 ? realloc(sc->cb, (size_t)(l->rows * sr) * sizeof(double)) : NULL;
    if (nb)
        sc->cb = nb;
    double *na = nb ? realloc(sc->ca, (size_t)(sr * l->cols) * sizeof(double)) : NULL;
    if (na)
        sc->ca = na;
    w->mc_sv[row] = malloc(((size_t)mnr + 1) * sizeof(double));
    if (!w->mc_sv[row] || (sr > 0 && (!nb || !na)))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    int off = 0;
    for (int k = 0; k < m; k++) {
        const lsc_lowrank *v = &views[k];
        double c = ww[k] * v->scale;
        for (int64_t a = 0; a < v->rows; a++)
            for (int b = 0; b < v->r; b++)
                sc->cb[(size_t)a * (size_t)sr + (size_t)(off + b)] = c * v->B[(size_t)a * (size_t)v->r + (size_t)b];
        if (v->r > 0)
            memcpy(sc->ca + (size_t)off * (size_t)v->cols, v->A, (size_t)v->r * (size_t)v->cols * sizeof(double));
        off += v->r;
    }
    const lsc_lowrank cat = {.rows = l->rows, .cols = l->cols, .r = sr, .B = sc->cb, .A = sc->ca, .scale = 1.0};
    lsc_status st = sr > 0 ? lsc_spectrum(&cat, sc->ws, w->mc_sv[row], NULL, NULL, err) : LSC_OK;
    if (st) {
        lsc_error_prefix(err, "layer '%s'", l->name);
        return st;
    }
    w->mc_n[row] = (int)mnr;
    w->mc_rows = row + 1;
    for (int j = i; j < n; j++) {
        int lj = lsc_adapter_find_layer(in[j], l->name);
        if (lj < 0)
            continue;
        const lsc_layer *sl = &in[j]->layers[lj];
        int ts[3] = {sl->ta, sl->tb, sl->te};
        for (int t = 0; t < 3; t++)
            if (ts[t] >= 0)
                lsc_adapter_unload_tensor(in[j], (size_t)ts[t]);
    }
    return LSC_OK;
}

/* Merge preview step 3: row `row` of the union, layer l of in[i] (the first input having it) over every
 * input from i on. Its rank and error: cat and exact linear sum the ranks (error 0), element-wise
 * methods keep the rank (error known when run: NaN), svd / linear with a rank keep the best rank R of
 * the exact sum (Eckart-Young: the error from the discarded singular values, lsc_prune_figures, as
 * lsc_merge_layer reports it). Shapes must agree, as merge requires. */
static lsc_status wb_merge_row(wb *w, lsc_adapter **in, int i, int n, const lsc_layer *l, const lsc_tui_merge_opts *o,
                               int factored, int cached, size_t row, lsc_tui_merge_row *r, wb_merge_scratch *sc,
                               lsc_error *err)
{
    lsc_status st = LSC_OK;
    int sum_r = 0, m = 0;
    double ww[LSC_TUI_MERGE_MAX];
    lsc_lowrank views[LSC_TUI_MERGE_MAX];
    for (int j = i; !st && j < n; j++) {
        int lj = lsc_adapter_find_layer(in[j], l->name);
        if (lj < 0)
            continue;
        const lsc_layer *o2 = &in[j]->layers[lj];
        if (o2->rows != l->rows || o2->cols != l->cols)
            return lsc_error_set(err, LSC_ERR_INVALID, "layer '%s': [%lld, %lld] in '%s' but [%lld, %lld] in '%s'",
                                 l->name, (long long)l->rows, (long long)l->cols, in[i]->name, (long long)o2->rows,
                                 (long long)o2->cols, in[j]->name);
        sum_r += o2->rank;
        if (factored && !cached) {
            if ((st = lsc_adapter_factors(in[j], (size_t)lj, &sc->fb[j], &sc->fbc[j], &sc->fa[j], &sc->fac[j],
                                          &views[m], err))) {
                lsc_error_prefix(err, "'%s' layer '%s'", in[j]->name, l->name);
                return st;
            }
            ww[m] = o->weights[j];
        }
        m++;
    }
    r->models = m;
    int64_t mn = l->rows < l->cols ? l->rows : l->cols;
    if (!factored) {
        r->rank = o->method == LSC_TUI_MERGE_CAT || o->method == LSC_TUI_MERGE_LINEAR ? sum_r
                                                                                      : (int)(o->rank < mn ? o->rank : mn);
        r->rel_error = lsc_tui_merge_is_elementwise(o->method) ? NAN : 0.0;
        return LSC_OK;
    }
    if (!cached && (st = wb_merge_row_spectrum(w, in, i, n, l, row, views, ww, m, sc, err)))
        return st;
    if (row >= w->mc_rows)
        return lsc_error_set(err, LSC_ERR_INVALID, "the merge preview lost its place at layer '%s'", l->name);
    int R = o->rank < sum_r ? o->rank : sum_r;
    if (R > mn)
        R = (int)mn;
    if (R < 1)
        R = 1;
    double kept;
    r->rank = R;
    r->rel_error = 0;
    if (sum_r > 0)
        lsc_prune_figures(w->mc_sv[row], w->mc_n[row], R < w->mc_n[row] ? R : w->mc_n[row], &kept, &r->rel_error);
    return LSC_OK;
}

/* check (merge's own parser) -> load -> per row of the union: rank and error -> totals. The spectra of the
 * exact sums depend on the inputs and weights only, not on the rank: kept between calls (w->mc_*). */
static lsc_status wb_merge_preview(void *ctx, const char *const *names, int n, const lsc_tui_merge_opts *o,
                                   lsc_tui_merge_row **rows_out, size_t *n_rows, lsc_tui_merge_totals *tot,
                                   lsc_error *err)
{
    wb *w = ctx;
    *rows_out = NULL;
    *n_rows = 0;
    memset(tot, 0, sizeof *tot);
    lsc_status st = lsc_tui_merge_check(o, n, err);
    if (st)
        return st;
    lsc_adapter *in[LSC_TUI_MERGE_MAX] = {0};
    size_t cap = 0;
    st = wb_merge_load(w, names, n, in, &cap, err);
    lsc_tui_merge_row *rows = st ? NULL : calloc(cap + 1, sizeof *rows);
    if (!st && !rows)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    int factored = o->method == LSC_TUI_MERGE_SVD || (o->method == LSC_TUI_MERGE_LINEAR && o->rank > 0);
    char key[LSC_TUI_MERGE_MAX * (LSC_TUI_NAME_MAX + 32)];
    size_t kl = 0;
    for (int i = 0; i < n && kl < sizeof key; i++)
        kl += (size_t)snprintf(key + kl, sizeof key - kl, "%s\n%.17g\n", names[i], o->weights[i]);
    int cached = factored && w->mc_key && strcmp(w->mc_key, key) == 0;
    if (factored && !cached) {
        drop_merge_cache(w);
        w->mc_sv = calloc(cap + 1, sizeof *w->mc_sv);
        w->mc_n = calloc(cap + 1, sizeof *w->mc_n);
        if (!st && (!w->mc_sv || !w->mc_n))
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    wb_merge_scratch sc = {.ws = factored && !cached ? lsc_workspace_new() : NULL};
    if (!st && factored && !cached && !sc.ws)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    size_t nr = 0;
    /* the union of the layers, described by the first input that has each (as the command does) */
    for (int i = 0; !st && i < n; i++)
        for (size_t li = 0; !st && li < in[i]->n_layers; li++) {
            const lsc_layer *l = &in[i]->layers[li];
            int seen = 0;
            for (int j = 0; j < i && !seen; j++)
                seen = lsc_adapter_find_layer(in[j], l->name) >= 0;
            if (seen)
                continue;
            lsc_tui_merge_row *r = &rows[nr++];
            lsc_tui_copy(r->name, sizeof r->name, l->name);
            if ((st = wb_merge_row(w, in, i, n, l, o, factored, cached, nr - 1, r, &sc, err)))
                break;
            int64_t fp, fbytes;
            factor_size(in[i], l, &fp, &fbytes);
            tot->params += l->rank > 0 ? fp / l->rank * r->rank : 0;
            if (isnan(r->rel_error) || r->rel_error > tot->max_rel_error)
                tot->max_rel_error = isnan(tot->max_rel_error) ? tot->max_rel_error : r->rel_error;
        }
    for (int i = 0; i < n; i++) {
        free(sc.fb[i]);
        free(sc.fa[i]);
        lsc_adapter_free(in[i]);
    }
    free(sc.cb);
    free(sc.ca);
    lsc_workspace_free(sc.ws);
    if (factored && !cached) {
        if (st)
            drop_merge_cache(w);
        else if (!(w->mc_key = strdup(key)))
            drop_merge_cache(w);
    }
    if (st) {
        free(rows);
        memset(tot, 0, sizeof *tot);
        return st;
    }
    *rows_out = rows;
    *n_rows = nr;
    return LSC_OK;
}

/* ---- kind figures ------------------------------------------------------------------------------------- */

static double jnum(json_t *j) { return json_is_number(j) ? json_number_value(j) : NAN; }
static int64_t jint(json_t *j) { return json_is_integer(j) ? (int64_t)json_integer_value(j) : (int64_t)llround(jnum(j)); }

/* LoHa / LoKr layers of the kind figures: part, ranks, shapes and the three spectra of each (into
 * out->part_sv); -1 out of memory. Layers without "part" are left alone. */
static int kind_lycoris_from_json(json_t *layers, lsc_tui_kind_figures *out)
{
    static const char *const keys[3] = {"sv1", "sv2", "sv"};
    size_t total = 0;
    for (size_t i = 0; i < out->n_layers; i++)
        for (int k = 0; k < 3; k++)
            total += json_array_size(json_object_get(json_array_get(layers, i), keys[k]));
    if (!total)
        return 0;
    if (!(out->part_sv = calloc(total, sizeof(double))))
        return -1;
    size_t at = 0;
    for (size_t i = 0; i < out->n_layers; i++) {
        json_t *l = json_array_get(layers, i);
        lsc_tui_kind_layer *L = &out->layers[i];
        lsc_tui_copy(L->part, sizeof L->part, json_string_value(json_object_get(l, "part")));
        L->r1 = (int)jint(json_object_get(l, "r1"));
        L->r2 = (int)jint(json_object_get(l, "r2"));
        L->rank = (int)jint(json_object_get(l, "n_sv"));
        json_t *w1 = json_object_get(l, "w1"), *w2 = json_object_get(l, "w2");
        L->w1_rows = jint(json_array_get(w1, 0));
        L->w1_cols = jint(json_array_get(w1, 1));
        L->w2_rows = jint(json_array_get(w2, 0));
        L->w2_cols = jint(json_array_get(w2, 1));
        int *n[3] = {&L->n_sv1, &L->n_sv2, &L->n_svp};
        size_t *off[3] = {&L->off1, &L->off2, &L->offp};
        for (int k = 0; k < 3; k++) {
            json_t *a = json_object_get(l, keys[k]);
            *off[k] = at;
            *n[k] = (int)json_array_size(a);
            for (size_t j = 0; j < json_array_size(a); j++)
                out->part_sv[at++] = jnum(json_array_get(a, j));
        }
    }
    out->n_part_sv = at;
    return 0;
}

/* Fill *out from `show --json`'s kind_figures (or a multi-task adapter's whole object); LSC_ERR_NOMEM. */
static lsc_status kind_from_json(json_t *o, lsc_tui_kind_figures *out, lsc_error *err)
{
    json_t *layers = json_object_get(o, "layers"), *tasks = json_object_get(o, "tasks");
    size_t nl = json_array_size(layers), total = 0;
    int nt = (int)json_array_size(tasks);
    if (nt > LSC_TUI_TASKS_MAX)
        nt = LSC_TUI_TASKS_MAX;
    size_t nn = (size_t)nt * (size_t)nt;
    int ok = 1;
    if (nl && !(out->layers = calloc(nl, sizeof *out->layers)))
        ok = 0;
    out->n_layers = ok ? nl : 0;
    for (size_t i = 0; ok && i < nl; i++) {
        json_t *l = json_array_get(layers, i);
        lsc_tui_kind_layer *L = &out->layers[i];
        lsc_tui_copy(L->name, sizeof L->name, json_string_value(json_object_get(l, "name")));
        json_t *pe = json_object_get(l, "prefix_err");
        L->rank = pe ? (int)json_array_size(pe) : (int)jint(json_object_get(l, "rank"));
        if (json_object_get(l, "kept"))
            L->kept = (int)jint(json_object_get(l, "kept"));
        if (json_object_get(l, "live_gates"))
            L->kept = (int)jint(json_object_get(l, "live_gates"));
        L->lambda_min = jnum(json_object_get(l, "lambda_min"));
        L->lambda_max = jnum(json_object_get(l, "lambda_max"));
        L->orth_p = jnum(json_object_get(l, "orth_p"));
        L->orth_q = jnum(json_object_get(l, "orth_q"));
        L->zeros_a = jnum(json_object_get(l, "zeros_a"));
        L->zeros_b = jnum(json_object_get(l, "zeros_b"));
        L->shared_a = json_is_true(json_object_get(l, "shared_a"));
        L->shared_dim = (int)jint(json_object_get(l, "shared_dim"));
        L->off = pe ? total : i * nn;
        total += pe ? (size_t)L->rank : 0;
    }
    if (ok)
        ok = kind_lycoris_from_json(layers, out) == 0;
    /* dynamic */
    json_t *mp = json_object_get(o, "mean_prefix_err"), *mb = json_object_get(o, "mean_best_err");
    if (ok && mp) {
        out->n_b = (int)json_array_size(mp);
        out->mean_prefix_err = calloc((size_t)out->n_b + 1, sizeof(double));
        out->mean_best_err = calloc((size_t)out->n_b + 1, sizeof(double));
        out->prefix_err = calloc(total + 1, sizeof(double));
        out->best_err = calloc(total + 1, sizeof(double));
        ok = out->mean_prefix_err && out->mean_best_err && out->prefix_err && out->best_err;
        for (int k = 0; ok && k < out->n_b; k++) {
            out->mean_prefix_err[k] = jnum(json_array_get(mp, (size_t)k));
            out->mean_best_err[k] = jnum(json_array_get(mb, (size_t)k));
        }
        for (size_t i = 0; ok && i < nl; i++) {
            json_t *l = json_array_get(layers, i);
            for (int k = 0; k < out->layers[i].rank; k++) {
                out->prefix_err[out->layers[i].off + (size_t)k] = jnum(json_array_get(json_object_get(l, "prefix_err"), (size_t)k));
                out->best_err[out->layers[i].off + (size_t)k] = jnum(json_array_get(json_object_get(l, "best_err"), (size_t)k));
            }
        }
    }
    /* adaptive */
    out->init_r = (int)jint(json_object_get(o, "init_r"));
    out->target_r = (int)jint(json_object_get(o, "target_r"));
    out->budget = jint(json_object_get(o, "budget"));
    out->target_budget = jint(json_object_get(o, "target_budget"));
    /* sparse */
    out->live_gates = jint(json_object_get(o, "live_gates"));
    out->rank_total = jint(json_object_get(o, "rank_total"));
    json_t *h = json_object_get(o, "magnitude_histogram");
    if (ok && h) {
        json_t *c = json_object_get(h, "counts");
        out->hist_lo_exp = (int)jint(json_object_get(h, "lo_exp"));
        out->n_hist = json_array_size(c);
        ok = (out->hist = calloc(out->n_hist + 1, sizeof *out->hist)) != NULL;
        for (size_t k = 0; ok && k < out->n_hist; k++)
            out->hist[k] = jint(json_array_get(c, k));
    }
    /* layer-wise */
    json_t *mods = json_object_get(o, "modules"), *rg = json_object_get(o, "rank_grid"),
           *eg = json_object_get(o, "energy_share_grid");
    if (ok && mods) {
        out->n_modules = (int)json_array_size(mods);
        out->n_blocks = (int)json_array_size(rg);
        size_t cells = (size_t)out->n_modules * (size_t)out->n_blocks;
        out->modules = calloc((size_t)out->n_modules + 1, sizeof *out->modules);
        out->rank_grid = calloc(cells + 1, sizeof *out->rank_grid);
        out->share_grid = calloc(cells + 1, sizeof *out->share_grid);
        ok = out->modules && out->rank_grid && out->share_grid;
        for (int k = 0; ok && k < out->n_modules; k++)
            lsc_tui_copy(out->modules[k], LSC_TUI_WORD_MAX, json_string_value(json_array_get(mods, (size_t)k)));
        for (int b = 0; ok && b < out->n_blocks; b++)
            for (int k = 0; k < out->n_modules; k++) {
                out->rank_grid[b * out->n_modules + k] = (int)jint(json_array_get(json_array_get(rg, (size_t)b), (size_t)k));
                out->share_grid[b * out->n_modules + k] = jnum(json_array_get(json_array_get(eg, (size_t)b), (size_t)k));
            }
    }
    /* multi-task */
    if (ok && tasks) {
        out->n_tasks = nt;
        out->tasks = calloc((size_t)nt + 1, sizeof *out->tasks);
        out->task_norms = calloc((size_t)nt + 1, sizeof(double));
        out->task_cosine = calloc(nn + 1, sizeof(double));
        out->cosine = calloc(nl * nn + 1, sizeof(double));
        ok = out->tasks && out->task_norms && out->task_cosine && out->cosine;
        json_t *tc = json_object_get(o, "task_cosine"), *tn = json_object_get(o, "task_norms");
        for (int a = 0; ok && a < nt; a++) {
            json_t *t = json_array_get(tasks, (size_t)a);
            lsc_tui_copy(out->tasks[a].task, sizeof out->tasks[a].task, json_string_value(json_object_get(t, "task")));
            lsc_tui_copy(out->tasks[a].adapter, sizeof out->tasks[a].adapter, json_string_value(json_object_get(t, "adapter")));
            out->tasks[a].layers = jint(json_object_get(t, "layers"));
            out->tasks[a].params = jint(json_object_get(t, "params"));
            out->task_norms[a] = jnum(json_array_get(tn, (size_t)a));
            for (int b = 0; b < nt; b++) {
                out->task_cosine[a * nt + b] = jnum(json_array_get(json_array_get(tc, (size_t)a), (size_t)b));
                for (size_t i = 0; i < nl; i++)
                    out->cosine[i * nn + (size_t)(a * nt + b)] = jnum(json_array_get(
                        json_array_get(json_object_get(json_array_get(layers, i), "cosine"), (size_t)a), (size_t)b));
            }
        }
        out->shared_a_layers = (int)jint(json_object_get(o, "shared_a_layers"));
        out->shared_dim_min = (int)jint(json_object_get(o, "shared_dim_min"));
    }
    if (!ok) {
        lsc_tui_kind_release(out);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    return LSC_OK;
}

/* A read-only command context on w's catalog for computing figures through the command layer, its output
 * and diagnostics into the memory sinks mem and diag (initialised here; the caller releases them). */
static void figures_ctx(wb *w, lsc_cmd_ctx *c, lsc_sink *mem, lsc_sink *diag)
{
    lsc_sink_init_mem(mem);
    lsc_sink_init_mem(diag);
    memset(c, 0, sizeof *c);
    c->catalog_path = w->path;
    c->cat = w->cat;
    c->out = mem;
    c->diag = diag;
    c->readonly = 1;
}

static lsc_status wb_kind_figures(void *ctx, const char *adapter, lsc_tui_kind_figures *out, lsc_error *err)
{
    wb *w = ctx;
    memset(out, 0, sizeof *out);
    lsc_status st = load(w, adapter, err);
    if (st)
        return st;
    lsc_sink mem, diag;
    lsc_cmd_ctx c;
    figures_ctx(w, &c, &mem, &diag);
    json_t *kf = NULL;
    int rc;
    lsc_tui_copy(out->kind, sizeof out->kind, w->ad->kind ? w->ad->kind : "static");
    if (lsc_is_group(w->ad->kind)) {
        int64_t id = 0;
        rc = lsc_catalog_find(w->cat, adapter, &id, &c.err) != LSC_OK ? LSC_EXIT_ERROR
                                                                      : lsc_tasks_show(&c, adapter, id, NULL, 1);
        if (rc == LSC_EXIT_OK) {
            json_error_t je;
            char *text = malloc(mem.len + 1);
            if (text) {
                memcpy(text, mem.buf ? mem.buf : "", mem.len);
                text[mem.len] = '\0';
                kf = json_loads(text, 0, &je);
                free(text);
            }
            if (!kf) {
                lsc_error_set(&c.err, LSC_ERR_FORMAT, "cannot read the task figures of '%s'", adapter);
                rc = LSC_EXIT_ERROR;
            }
        }
    } else {
        rc = lsc_kind_figures(&c, w->ad, NULL, 0, &kf);
    }
    lsc_sink_release(&mem);
    lsc_sink_release(&diag);
    if (rc != LSC_EXIT_OK) {
        json_decref(kf);
        *err = c.err;
        return err->code != LSC_OK ? err->code : LSC_ERR_INVALID;
    }
    st = kind_from_json(kf, out, err);
    json_decref(kf);
    return st;
}

/* The series' figures straight from the command layer's computation (what `series NAME --json` prints). */
static lsc_status series_copy(const lsc_series_figs *F, lsc_tui_series *out, lsc_error *err)
{
    size_t S = F->n_steps, n = F->n_layers;
    lsc_status st = lsc_tui_series_alloc(out, S, n, err);
    if (st)
        return st;
    for (size_t j = 0; j < S; j++) {
        out->steps[j].step = F->steps[j].step;
        lsc_tui_copy(out->steps[j].label, sizeof out->steps[j].label, F->steps[j].label);
        lsc_tui_copy(out->steps[j].adapter, sizeof out->steps[j].adapter, F->steps[j].member);
    }
    for (size_t i = 0; i < n; i++)
        lsc_tui_copy(out->layers[i].name, sizeof out->layers[i].name, F->layers[i]);
    for (size_t k = 0; k < n * S; k++) {
        out->fig[LSC_TUI_SERIES_NORM][k] = F->norm[k];
        out->fig[LSC_TUI_SERIES_SIGMA1][k] = F->sigma1[k];
        out->fig[LSC_TUI_SERIES_ERANK][k] = F->erank[k];
        out->fig[LSC_TUI_SERIES_K90][k] = F->k90[k];
        out->fig[LSC_TUI_SERIES_SIM_PREV][k] = F->sim_prev[k];
        out->fig[LSC_TUI_SERIES_SIM_FINAL][k] = F->sim_final[k];
    }
    return LSC_OK;
}

static lsc_status wb_series(void *ctx, const char *adapter, lsc_tui_series *out, lsc_error *err)
{
    wb *w = ctx;
    memset(out, 0, sizeof *out);
    lsc_status st = load(w, adapter, err);
    if (st)
        return st;
    if (!lsc_is_series(w->ad->kind))
        return lsc_error_set(err, LSC_ERR_INVALID, "'%s' is not a series (import a training run's folder to get one)", adapter);
    lsc_sink mem, diag;
    lsc_cmd_ctx c;
    figures_ctx(w, &c, &mem, &diag);
    lsc_series_figs F;
    memset(&F, 0, sizeof F);
    int64_t id = 0;
    int rc = lsc_catalog_find(w->cat, adapter, &id, &c.err) != LSC_OK ? LSC_EXIT_ERROR
                                                                      : lsc_series_figs_compute(&c, id, NULL, &F);
    if (rc == LSC_EXIT_OK)
        st = series_copy(&F, out, err);
    else {
        *err = c.err;
        st = err->code != LSC_OK ? err->code : LSC_ERR_INVALID;
    }
    lsc_series_figs_release(&F);
    lsc_sink_release(&mem);
    lsc_sink_release(&diag);
    return st;
}

static void wb_destroy(void *ctx)
{
    wb *w = ctx;
    if (!w)
        return;
    drop_adapter(w);
    lsc_stats_runner_release(&w->sr);
    lsc_catalog_close(w->cat);
    free(w->path);
    free(w);
}

/* The reader of model.h: a model of its own over the same catalog file, opened read-only (a second SQLite
 * connection; in WAL mode it reads the last committed state while this one's connection stays free for the
 * UI thread). */
static lsc_status wb_reader(void *ctx, lsc_tui_model *out, lsc_error *err)
{
    const wb *w = ctx;
    return lsc_workbench_model_init(out, w->path, 1, err);
}

int lsc_workbench_is_readonly(const lsc_tui_model *m)
{
    const wb *w = m->ctx;
    return w && w->readonly;
}

lsc_status lsc_workbench_model_init(lsc_tui_model *m, const char *catalog_path, int readonly, lsc_error *err)
{
    memset(m, 0, sizeof *m);
    char buf[4096];
    const char *path = catalog_path ? catalog_path : lsc_catalog_default_path(buf, sizeof buf);
    if (!path)
        return lsc_error_set(err, LSC_ERR_INVALID, "no catalog path: set LORASCOPE_CATALOG or HOME, or pass --catalog PATH");
    wb *w = calloc(1, sizeof *w);
    if (!w)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    w->readonly = readonly;
    w->path = strdup(path);
    struct stat sb;
    /* a catalog this process may not write (a read-only mount, another user's file) is browsed read-only */
    unsigned flags = readonly ? LSC_CATALOG_READONLY : LSC_CATALOG_CREATE | LSC_CATALOG_FALLBACK_RO;
    if (readonly && stat(path, &sb) != 0) {
        free(w->path);
        free(w);
        return lsc_error_set(err, LSC_ERR_NOTFOUND, "no catalog at '%s'", path);
    }
    lsc_status st = lsc_stats_runner_init(&w->sr, err);
    if (!st)
        st = lsc_catalog_open(path, flags, &w->cat, err);
    if (st) {
        wb_destroy(w);
        return st;
    }
    w->readonly = readonly || lsc_catalog_is_readonly(w->cat);
    m->ctx = w;
    m->list_adapters = wb_list;
    m->layers = wb_layers;
    m->layer_sv = wb_layer_sv;
    m->diff = wb_diff;
    m->history = wb_history;
    m->audit = wb_audit;
    m->run = wb_run;
    m->prune_preview = wb_prune_preview;
    m->merge_preview = wb_merge_preview;
    m->kind_figures = wb_kind_figures;
    m->series = wb_series;
    m->base_path = wb_base_path;
    m->reader = wb_reader;
    m->destroy = wb_destroy;
    return LSC_OK;
}
