/* workbench.c: the TUI's model over the real catalog (see workbench.h). Statistics come from the
 * catalog's cache (computed at import) or from the factors; diffs from the factored comparison; the `:`
 * prompt goes through lsc_dispatch, the same command layer as the CLI and scripts. */
#include "workbench.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog.h"
#include "command.h"
#include "common.h"
#include "compare.h"

typedef struct wb {
    lsc_catalog *cat;
    char *path;
    int readonly;
    lsc_stats_runner sr;
    /* the last adapter loaded, kept for repeated layer/spectrum calls */
    lsc_adapter *ad;
} wb;

static lsc_status load(wb *w, const char *name, lsc_error *err)
{
    if (w->ad && strcmp(w->ad->name, name) == 0)
        return LSC_OK;
    lsc_adapter_free(w->ad);
    w->ad = NULL;
    return lsc_catalog_get_adapter(w->cat, name, &w->ad, err);
}

static lsc_status wb_list(void *ctx, lsc_tui_adapter **out, size_t *n, lsc_error *err)
{
    wb *w = ctx;
    lsc_adapter_info *infos = NULL;
    size_t k = 0;
    *out = NULL;
    *n = 0;
    /* another process may have changed an adapter we hold: start afresh on every listing */
    lsc_adapter_free(w->ad);
    w->ad = NULL;
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
        lsc_tui_copy(a[i].base_model, sizeof a[i].base_model, infos[i].base_model ? infos[i].base_model : "");
        a[i].n_layers = infos[i].n_layers;
        a[i].params = infos[i].params;
        a[i].bytes = infos[i].bytes;
        a[i].created = infos[i].created;
        lsc_tui_copy(a[i].parents, sizeof a[i].parents, infos[i].parents ? infos[i].parents : "");
    }
    lsc_adapter_info_free_array(infos, k);
    *out = a;
    *n = k;
    return LSC_OK;
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
    if (!ls)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ad->n_layers; i++) {
        const lsc_layer *l = &ad->layers[i];
        lsc_layer_stats s;
        memset(&s, 0, sizeof s);
        if ((st = lsc_layer_stats_get(&w->sr, w->cat, ad, i, 0, &s, err))) {
            free(ls);
            return st;
        }
        lsc_tui_layer *t = &ls[i];
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
    if (!st) {
        out->rows = calloc(x->n_layers + 1, sizeof *out->rows);
        out->only_a = calloc(x->n_layers + 1, sizeof *out->only_a);
        out->only_b = calloc(y->n_layers + 1, sizeof *out->only_b);
        if (!out->rows || !out->only_a || !out->only_b)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; !st && i < x->n_layers; i++) {
        const lsc_layer *l = &x->layers[i];
        int j = lsc_adapter_find_layer(y, l->name);
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
        if (lsc_adapter_find_layer(x, y->layers[j].name) < 0)
            lsc_tui_copy(out->only_b[out->n_only_b++].name, LSC_TUI_NAME_MAX, y->layers[j].name);
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

static int wb_run(void *ctx, int argc, char **argv, unsigned flags, char **output, char **errmsg)
{
    wb *w = ctx;
    lsc_sink out, diag;
    lsc_sink_init_mem(&out);
    lsc_sink_init_mem(&diag);
    lsc_cmd_ctx c;
    memset(&c, 0, sizeof c);
    c.catalog_path = w->path;
    c.cat = w->cat;
    c.out = &out;
    c.diag = &diag;
    c.readonly = w->readonly || (flags & LSC_TUI_RUN_READONLY);
    int rc = lsc_dispatch(&c, argc, argv);
    /* warnings first, then the results */
    size_t n = diag.len + out.len;
    char *text = malloc(n + 1);
    if (text) {
        memcpy(text, diag.buf ? diag.buf : "", diag.len);
        memcpy(text + diag.len, out.buf ? out.buf : "", out.len);
        text[n] = '\0';
    }
    *output = text ? text : strdup("");
    *errmsg = rc == LSC_EXIT_OK ? NULL : strdup(c.err.msg[0] ? c.err.msg : "failed");
    lsc_sink_release(&out);
    lsc_sink_release(&diag);
    /* the command may have changed what we cached */
    lsc_adapter_free(w->ad);
    w->ad = NULL;
    return rc;
}

static void wb_destroy(void *ctx)
{
    wb *w = ctx;
    if (!w)
        return;
    lsc_adapter_free(w->ad);
    lsc_stats_runner_release(&w->sr);
    lsc_catalog_close(w->cat);
    free(w->path);
    free(w);
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
    unsigned flags = readonly ? LSC_CATALOG_READONLY : LSC_CATALOG_CREATE;
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
    m->ctx = w;
    m->list_adapters = wb_list;
    m->layers = wb_layers;
    m->layer_sv = wb_layer_sv;
    m->diff = wb_diff;
    m->history = wb_history;
    m->run = wb_run;
    m->destroy = wb_destroy;
    return LSC_OK;
}
