/* view_vsbase.c: the layer table against the recorded base (issue #19): the columns |W|, |dW|/|W|,
 * amplification, subspace similarity and intruders, and the "vs base" panel of the selected layer with what
 * the figures mean. Never includes curses.
 *
 * The figures read the base weights (a randomized SVD per layer: seconds on a real model), so they come
 * from a job, `show NAME --base --json` on a worker thread. It runs on a reader of the model (model.h: its
 * own catalog connection and caches), so the workbench keeps browsing meanwhile: moving, other adapters,
 * other views, search, help. Its progress shows on the status line and in the panel of its adapter; Ctrl-C
 * cancels it (Esc stays "back": leaving the table is what browsing meanwhile means). When it ends, its
 * figures land on the adapter they were asked for, whatever is selected then. One figures job at a time.
 * The rule for edits: anything that would hold the model exclusively (an edit, undo, redo, a `:` command,
 * saving the session) is refused while the figures job runs, with a message naming Ctrl-C; nothing is
 * queued or cancelled behind the user's back. An edit's reload (lsc_tui_vsbase_forget) bumps a generation,
 * and a result computed under an older one is dropped, never shown as current. A model without a reader
 * runs the job as every long command runs (state_job.c: exclusively, Esc cancels).
 * The grid's heat by |dW|/|W| (view_grid.c) shows their rel_norm, and nothing reads the base on the UI thread.
 * b in the grid, when nothing is known for the adapter, starts the same job with --norms (lsc_tui_vsbase_compute:
 * |W| and |dW|/|W| only, one read of the base without the range finder, well under the full job's time); its
 * set is marked norms-only, the other columns and the panel say "-" / not computed, b in the layer table
 * then computes the full figures, which replace it and serve the grid too.
 * The results are kept for the session, per adapter (LSC_TUI_BASEFIG_CACHE of them), until an
 * edit reloads the catalog; cells show "-" until known. Whether an adapter has a base is asked of the model
 * when its layer table loads (model->base_path, the catalog only). A job that fails (no base, a base
 * changed on disk) leaves its message, which names the command that fixes it, in the panel.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "view.h"

static void set_free(lsc_tui_basefig_set *s)
{
    free(s->rows);
    memset(s, 0, sizeof *s);
}

void lsc_tui_vsbase_forget(lsc_tui_state *st)
{
    lsc_tui_vsbase *v = &st->vsbase;
    for (int i = 0; i < v->n_cache; i++)
        set_free(&v->cache[i]);
    v->n_cache = v->next = 0;
    v->cur = -1;
    v->adapter[0] = '\0';
    v->why[0] = '\0';
    free(v->fig_of);
    v->fig_of = NULL;
    v->n_fig_of = 0;
    v->gen++; /* a figures job still running computes for a catalog that is gone */
}

/* Wait for the figures job and free it with its reader; its output and message into *out, *errmsg. */
static int job_end(lsc_tui_vsbase *v, char **out, char **errmsg)
{
    int rc = lsc_tui_job_finish(v->job, out, errmsg);
    v->job = NULL;
    v->cancelling = 0;
    lsc_tui_model_release(&v->reader);
    return rc;
}

void lsc_tui_vsbase_free(lsc_tui_state *st)
{
    lsc_tui_vsbase *v = &st->vsbase;
    if (v->job) { /* leaving while it runs: stop it at its next layer and wait */
        char *o = NULL, *e = NULL;
        lsc_tui_job_cancel(v->job);
        job_end(v, &o, &e);
        free(o);
        free(e);
    }
    lsc_tui_vsbase_forget(st);
}

/* Point every layer row at its figures in the cache entry of the layer table's adapter. */
static void map_rows(lsc_tui_state *st)
{
    lsc_tui_vsbase *v = &st->vsbase;
    free(v->fig_of);
    v->fig_of = NULL;
    v->n_fig_of = 0;
    v->cur = -1;
    for (int i = 0; i < v->n_cache; i++)
        if (strcmp(v->cache[i].adapter, st->layers.adapter) == 0)
            v->cur = i;
    if (v->cur < 0 || !st->layers.n || !(v->fig_of = malloc(st->layers.n * sizeof *v->fig_of)))
        return;
    const lsc_tui_basefig_set *s = &v->cache[v->cur];
    v->n_fig_of = st->layers.n;
    for (size_t r = 0; r < st->layers.n; r++) {
        v->fig_of[r] = -1;
        for (size_t j = 0; j < s->n; j++)
            if (strcmp(s->rows[j].key, st->layers.rows[r].name) == 0) {
                v->fig_of[r] = (long)j;
                break;
            }
    }
}

void lsc_tui_vsbase_sync(lsc_tui_state *st)
{
    lsc_tui_vsbase *v = &st->vsbase;
    if (strcmp(v->adapter, st->layers.adapter) != 0) {
        lsc_error err = {0};
        lsc_tui_copy(v->adapter, sizeof v->adapter, st->layers.adapter);
        v->path[0] = '\0';
        v->why[0] = '\0';
        if (st->model->base_path && st->layers.adapter[0] &&
            st->model->base_path(st->model->ctx, st->layers.adapter, v->path, sizeof v->path, &err) != LSC_OK)
            v->path[0] = '\0';
    }
    map_rows(st);
}

int lsc_tui_vsbase_shown(const lsc_tui_state *st)
{
    return st->vsbase.path[0] && strcmp(st->vsbase.adapter, st->layers.adapter) == 0;
}

int lsc_tui_vsbase_norms_only(const lsc_tui_state *st)
{
    return st->vsbase.cur >= 0 && st->vsbase.cache[st->vsbase.cur].norms;
}

const lsc_tui_basefig_row *lsc_tui_vsbase_fig(const lsc_tui_state *st, size_t data_row)
{
    const lsc_tui_vsbase *v = &st->vsbase;
    if (v->cur < 0 || data_row >= v->n_fig_of || v->fig_of[data_row] < 0)
        return NULL;
    return &v->cache[v->cur].rows[v->fig_of[data_row]];
}

/* The `show --base --json` output as a cache entry for adapter; -1 when it is not that JSON. */
static int parse(const char *output, const char *adapter, lsc_tui_basefig_set *out)
{
    json_t *root = json_loads(output, 0, NULL), *layers = json_object_get(root, "layers");
    size_t n = json_array_size(layers);
    memset(out, 0, sizeof *out);
    if (!json_is_array(layers) || !(out->rows = calloc(n ? n : 1, sizeof *out->rows))) {
        json_decref(root);
        return -1;
    }
    lsc_tui_copy(out->adapter, sizeof out->adapter, adapter);
    out->norms = 1; /* until a layer has the figures beyond the norms (show --base --norms gives none) */
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(layers, i);
        lsc_tui_basefig_row *r = &out->rows[out->n];
        const char *key = json_string_value(json_object_get(l, "key"));
        if (!key || !json_is_number(json_object_get(l, "rel_norm")))
            continue;
        lsc_tui_copy(r->key, sizeof r->key, key);
        r->base_norm = json_number_value(json_object_get(l, "base_norm"));
        r->rel_norm = json_number_value(json_object_get(l, "rel_norm"));
        if (json_is_number(json_object_get(l, "amplification")))
            out->norms = 0;
        r->amplification = json_number_value(json_object_get(l, "amplification"));
        r->subspace_sim = json_number_value(json_object_get(l, "subspace_sim"));
        r->subspace_sim_k = json_number_value(json_object_get(l, "subspace_sim_k"));
        r->k = (int)json_integer_value(json_object_get(l, "k"));
        r->k_ref = json_is_integer(json_object_get(l, "k_ref")) ? (int)json_integer_value(json_object_get(l, "k_ref")) : r->k;
        r->intruders = (int)json_integer_value(json_object_get(l, "intruders"));
        out->n++;
    }
    json_decref(root);
    return 0;
}

void lsc_tui_vsbase_done(lsc_tui_state *st, const char *adapter, const char *output)
{
    int here = strcmp(st->layers.adapter, adapter) == 0; /* the table still shows the adapter asked for */
    lsc_tui_vsbase *v = &st->vsbase;
    lsc_tui_basefig_set s;
    if (parse(output, adapter, &s) != 0) {
        snprintf(v->why, sizeof v->why, "the figures of '%s' could not be read", adapter);
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", v->why);
        return;
    }
    int slot = -1;
    for (int i = 0; i < v->n_cache; i++)
        if (strcmp(v->cache[i].adapter, adapter) == 0)
            slot = i;
    if (slot >= 0 && s.norms && !v->cache[slot].norms) { /* the full figures hold the norms already */
        set_free(&s);
        return;
    }
    if (slot < 0 && v->n_cache < LSC_TUI_BASEFIG_CACHE)
        slot = v->n_cache++;
    if (slot < 0) { /* full: replace the oldest */
        slot = v->next;
        v->next = (v->next + 1) % LSC_TUI_BASEFIG_CACHE;
    }
    set_free(&v->cache[slot]);
    v->cache[slot] = s;
    if (here) {
        v->why[0] = '\0';
        v->panel = !s.norms || v->panel; /* the norms are the grid's: the panel stays as it was */
    }
    map_rows(st); /* the rows of whatever the table shows now */
    lsc_tui_grid_metric_max(st); /* the grid's heat by |dW|/|W| shows them too */
    lsc_tui_layout_update(st);
    if (s.norms)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "|dW|/|W| against the base of '%s': %zu layers (b in its layer table: "
                          "all figures)", adapter, s.n);
    else if (here)
        lsc_tui_state_msg(st, LSC_MSG_INFO, "figures against the base of '%s': %zu layers (kept for this session)",
                          adapter, s.n);
    else
        lsc_tui_state_msg(st, LSC_MSG_INFO, "figures against the base of '%s' ready: %zu layers (b in its layer table)",
                          adapter, s.n);
}

void lsc_tui_vsbase_failed(lsc_tui_state *st, const char *adapter, const char *errmsg, int cancelled)
{
    lsc_tui_vsbase *v = &st->vsbase;
    if (cancelled || strcmp(v->adapter, adapter) != 0) /* cancelled: no figures, nothing to explain */
        return;
    snprintf(v->why, sizeof v->why, "%s", errmsg ? errmsg : "the figures could not be computed");
    v->panel = 1;
    lsc_tui_layout_update(st);
}

/* ---- the figures job on the model's reader ------------------------------------------------------------ */

int lsc_tui_vsbase_running(const lsc_tui_state *st) { return st->vsbase.job != NULL; }

/* The figures job is done: its figures go to the adapter it was started for, unless an edit made them
 * stale meanwhile. */
static unsigned collect(lsc_tui_state *st)
{
    lsc_tui_vsbase *v = &st->vsbase;
    char *out = NULL, *err = NULL, target[LSC_TUI_NAME_MAX];
    int cancelled = lsc_tui_job_cancelled(v->job);
    int rc = job_end(v, &out, &err);
    lsc_tui_copy(target, sizeof target, v->target);
    v->target[0] = '\0';
    if (v->job_gen != v->gen) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "the figures of '%s' were dropped: the catalog changed while they were "
                          "computed (b computes them again)", target);
    } else if (rc == 0) {
        lsc_tui_vsbase_done(st, target, out);
    } else if (cancelled) {
        lsc_tui_vsbase_failed(st, target, err, 1);
        lsc_tui_state_msg(st, LSC_MSG_WARN, "figures of '%s' vs base cancelled: b computes them again", target);
    } else {
        lsc_tui_vsbase_failed(st, target, err, 0);
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "%s", err ? err : "the figures could not be computed");
    }
    free(out);
    free(err);
    lsc_tui_layout_update(st);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE;
}

unsigned lsc_tui_vsbase_poll(lsc_tui_state *st)
{
    lsc_tui_vsbase *v = &st->vsbase;
    if (!v->job)
        return 0;
    if (!lsc_tui_job_done(v->job)) {
        lsc_tui_job_progress(v->job, v->what, sizeof v->what, &v->done, &v->total, &v->elapsed);
        return LSC_TUI_CH_REDRAW;
    }
    return collect(st);
}

unsigned lsc_tui_vsbase_cancel(lsc_tui_state *st)
{
    lsc_tui_vsbase *v = &st->vsbase;
    if (!v->job)
        return 0;
    if (!v->cancelling) {
        lsc_tui_job_cancel(v->job);
        v->cancelling = 1;
    }
    return LSC_TUI_CH_REDRAW;
}

int lsc_tui_vsbase_refuse(lsc_tui_state *st, const char *what)
{
    const lsc_tui_vsbase *v = &st->vsbase;
    if (!v->job)
        return 0;
    lsc_tui_state_msg(st, LSC_MSG_WARN, "'%s' not run: the figures of '%s' are computing (Ctrl-C cancels them, "
                      "or wait)", what, v->target);
    return 1;
}

/* Start a on a reader of the model; the figures are for the layer table's adapter. */
static unsigned start_job(lsc_tui_state *st, const lsc_tui_argv *a)
{
    lsc_tui_vsbase *v = &st->vsbase;
    lsc_error err = {0};
    if (st->model->reader(st->model->ctx, &v->reader, &err) != LSC_OK) {
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "cannot compute the figures: %s", err.msg);
        return LSC_TUI_CH_REDRAW;
    }
    char *argv[LSC_TUI_ARGS_MAX + 1];
    for (int i = 0; i < a->argc; i++)
        argv[i] = (char *)a->argv[i];
    argv[a->argc] = NULL;
    lsc_tui_copy(v->target, sizeof v->target, st->layers.adapter);
    v->job_gen = v->gen;
    v->what[0] = '\0';
    v->done = v->total = 0;
    v->elapsed = 0;
    v->cancelling = 0;
    v->job = lsc_tui_job_start(&v->reader, a->argc, argv, LSC_TUI_RUN_READONLY, st->async);
    if (!v->job) {
        lsc_tui_model_release(&v->reader);
        lsc_tui_state_msg(st, LSC_MSG_ERROR, "cannot start the figures of '%s': out of memory or no thread", v->target);
        v->target[0] = '\0';
        return LSC_TUI_CH_REDRAW;
    }
    v->why[0] = '\0';
    v->panel = v->panel || !v->job_norms; /* its progress shows there (the norms' on the status line alone) */
    lsc_tui_layout_update(st);
    st->msg[0] = '\0'; /* the status line shows the progress */
    st->msg_level = LSC_MSG_INFO;
    if (!st->async) /* no worker thread: it ran inside lsc_tui_job_start */
        return collect(st);
    return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE;
}

/* Start the figures of the layer table's adapter (its base recorded, its figures neither known nor
 * computing; norms: |W| and |dW|/|W| alone, show --base --norms): on a reader of the model, or exclusively
 * without one; one figures job at a time. */
static unsigned start_figures(lsc_tui_state *st, int norms)
{
    lsc_tui_vsbase *v = &st->vsbase;
    if (v->job) {
        lsc_tui_state_msg(st, LSC_MSG_WARN, "one figures job at a time: those of '%s' are computing (wait for them, "
                          "or Ctrl-C cancels them)", v->target);
        return LSC_TUI_CH_REDRAW;
    }
    lsc_tui_argv a = {.kind = LSC_JOB_BASEFIG};
    const char *words[] = {"show", st->layers.adapter, "--base", "--json", "--eps", LSC_TUI_VSBASE_EPS};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        lsc_tui_argv_add(&a, words[i]);
    if (norms)
        lsc_tui_argv_add(&a, "--norms");
    v->job_norms = norms;
    if (st->model->reader)
        return start_job(st, &a) | LSC_TUI_CH_RESIZE;
    lsc_tui_copy(st->job_target, sizeof st->job_target, st->layers.adapter);
    char title[LSC_TUI_NAME_MAX + 32];
    snprintf(title, sizeof title, "%s of %s vs base", norms ? "|dW|/|W|" : "figures", st->layers.adapter);
    return lsc_tui_job_run(st, &a, title) | LSC_TUI_CH_RESIZE;
}

/* The layer table's adapter has a base (synced); otherwise the message says how to record one. */
static int has_base(lsc_tui_state *st)
{
    lsc_tui_vsbase_sync(st);
    if (st->vsbase.path[0])
        return 1;
    lsc_tui_state_msg(st, LSC_MSG_WARN, "no base recorded for '%s': record one with :base %s PATH", st->layers.adapter,
                      st->layers.adapter);
    return 0;
}

/* Its figures are computing: say so (they appear when ready). */
static unsigned computing(lsc_tui_state *st)
{
    lsc_tui_state_msg(st, LSC_MSG_INFO, "the figures of '%s' are computing: they appear here when ready (Ctrl-C "
                      "cancels)", st->vsbase.target);
    return LSC_TUI_CH_REDRAW;
}

unsigned lsc_tui_vsbase_request(lsc_tui_state *st)
{
    lsc_tui_vsbase *v = &st->vsbase;
    if (!st->layers.adapter[0])
        return 0;
    if (!has_base(st))
        return LSC_TUI_CH_REDRAW;
    /* computing these (not the grid's norms alone): the panel shows how far */
    if (v->job && !v->job_norms && strcmp(v->target, st->layers.adapter) == 0) {
        if (!v->panel) {
            v->panel = 1;
            lsc_tui_layout_update(st);
            return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE;
        }
        return computing(st);
    }
    /* known (or failed): b shows and hides the panel; the grid's norms alone are not its figures */
    if ((v->cur >= 0 && !lsc_tui_vsbase_norms_only(st)) || (v->panel && v->why[0])) {
        v->panel = !v->panel;
        if (!v->panel)
            v->why[0] = '\0';
        lsc_tui_layout_update(st);
        return LSC_TUI_CH_REDRAW | LSC_TUI_CH_RESIZE;
    }
    return start_figures(st, 0);
}

unsigned lsc_tui_vsbase_compute(lsc_tui_state *st)
{
    lsc_tui_vsbase *v = &st->vsbase;
    if (!st->layers.adapter[0])
        return 0;
    if (!has_base(st))
        return LSC_TUI_CH_REDRAW;
    if (v->job && strcmp(v->target, st->layers.adapter) == 0)
        return computing(st);
    if (v->cur >= 0)
        return 0;
    return start_figures(st, 1);
}

/* Append one panel line (cap bytes each, at most max of them). */
static void line(char (*lines)[LSC_TUI_VSBASE_LINE], int *n, int max, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void line(char (*lines)[LSC_TUI_VSBASE_LINE], int *n, int max, const char *fmt, ...)
{
    if (*n >= max)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lines[*n], LSC_TUI_VSBASE_LINE, fmt, ap);
    va_end(ap);
    (*n)++;
}

/* text as lines of at most width columns, cut at spaces (or anywhere in a word longer than a line). */
static void wrap(char (*lines)[LSC_TUI_VSBASE_LINE], int *n, int max, const char *text, int width)
{
    if (width < 8)
        width = 8;
    if (width > LSC_TUI_VSBASE_LINE - 1)
        width = LSC_TUI_VSBASE_LINE - 1;
    const char *p = text;
    while (*p && *n < max) {
        int len = (int)strlen(p), cut = len;
        if (len > width) {
            cut = width;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = width;
        }
        line(lines, n, max, "%.*s", cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
}

/* The panel of the adapter whose figures are computing: how far the job is and what to do meanwhile. */
static int progress_lines(const lsc_tui_vsbase *v, char (*lines)[LSC_TUI_VSBASE_LINE], int n, int max, int width)
{
    if (v->cancelling)
        line(lines, &n, max, "cancelling the figures...");
    else if (v->total > 0)
        line(lines, &n, max, "computing the figures: layer %ld/%ld (%ld%%)", v->done, v->total, 100 * v->done / v->total);
    else
        line(lines, &n, max, "computing the figures: %.0fs", v->elapsed);
    wrap(lines, &n, max, "they appear here when ready; keep browsing meanwhile (edits wait). Ctrl-C cancels.", width);
    return n;
}

int lsc_tui_vsbase_lines(const lsc_tui_state *st, char (*lines)[LSC_TUI_VSBASE_LINE], int max, int width)
{
    const lsc_tui_vsbase *v = &st->vsbase;
    const lsc_tui_list *l = &st->lists[LSC_VIEW_LAYERS];
    int n = 0;
    line(lines, &n, max, "vs base %s", v->path[0] ? v->path : "(none recorded)");
    if (v->why[0]) {
        wrap(lines, &n, max, v->why, width);
        if (strstr(v->why, "changed")) {
            char fix[LSC_TUI_NAME_MAX + LSC_TUI_TEXT_MAX + 32]; /* record it again where it is now */
            snprintf(fix, sizeof fix, "fix: :base %s %s", st->layers.adapter, v->path);
            wrap(lines, &n, max, fix, width);
        }
        return n;
    }
    if (!l->n)
        return n;
    size_t row = l->order[l->cursor];
    const lsc_tui_basefig_row *f = lsc_tui_vsbase_fig(st, row);
    if (v->job && !v->job_norms && v->cur < 0 && strcmp(v->target, st->layers.adapter) == 0)
        return progress_lines(v, lines, n, max, width);
    line(lines, &n, max, "layer: %s", lsc_tui_short_name(st, st->layers.rows[row].name));
    if (!f && v->cur < 0 && v->job)
        line(lines, &n, max, "figures not computed yet: b computes them once those of '%s' are done", v->target);
    else if (!f)
        line(lines, &n, max, "%s", v->cur < 0 ? "figures not computed yet: b computes them" : "no figures for this layer");
    if (!f)
        return n;
    if (v->cache[v->cur].norms) { /* the grid's norms alone */
        line(lines, &n, max, "figures not computed yet (only |W| and |dW|/|W|): b computes them");
        line(lines, &n, max, "|W|_F       %-10.4g the base weight's norm", f->base_norm);
        line(lines, &n, max, "|dW|/|W|    %-10.4g the update's size beside W", f->rel_norm);
        return n;
    }
    int r = st->layers.rows[row].rank;
    line(lines, &n, max, "|W|_F       %-10.4g the base weight's norm", f->base_norm);
    line(lines, &n, max, "|dW|/|W|    %-10.4g the update's size beside W", f->rel_norm);
    line(lines, &n, max, "amplif.     %-10.4g |dW| / |U'WV'|, U V: dW's top-%d", f->amplification, r);
    line(lines, &n, max, "            >1: dW amplifies directions W has weakly");
    line(lines, &n, max, "sub.sim     %-10.4g dW's top-%d in W's top-%d", f->subspace_sim, r, r);
    line(lines, &n, max, "sub.sim k   %-10.4g dW's top-%d in W's top-%d", f->subspace_sim_k, r, f->k);
    line(lines, &n, max, "intruders   %-10d top-%d vectors of W+dW with |cos|", f->intruders, f->k);
    line(lines, &n, max, "            < %s to all of W's top-%d: new directions", LSC_TUI_VSBASE_EPS, f->k_ref);
    return n;
}
