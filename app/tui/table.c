/* table.c: what the table views show in their cells, the breadcrumb, and the formatting and name helpers
 * render.c and the tests share. Never includes curses.
 */
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "numfmt.h"
#include "layername.h"
#include "view.h"

/* ---- formatting ----------------------------------------------------------------------------------- */

void lsc_tui_fmt_count(int64_t v, char *buf, size_t cap)
{
    static const char suf[] = "kMGTP";
    double x = (double)v;
    if (v < 1000 && v > -1000) {
        snprintf(buf, cap, "%lld", (long long)v);
        return;
    }
    int i = -1;
    while (fabs(x) >= 999.95 && i < 4) {
        x /= 1000.0;
        i++;
    }
    snprintf(buf, cap, fabs(x) < 9.995 ? "%.2f%c" : fabs(x) < 99.95 ? "%.1f%c" : "%.0f%c", x, suf[i]);
}

void lsc_tui_fmt_bytes(int64_t v, char *buf, size_t cap)
{
    static const char *const suf[] = {"KiB", "MiB", "GiB", "TiB"};
    if (v < 1024) {
        snprintf(buf, cap, "%lld B", (long long)v);
        return;
    }
    double x = (double)v;
    int i = -1;
    while (x >= 1023.95 && i < 3) {
        x /= 1024.0;
        i++;
    }
    snprintf(buf, cap, x < 9.995 ? "%.2f %s" : x < 99.95 ? "%.1f %s" : "%.0f %s", x, suf[i]);
}

void lsc_tui_fmt_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(buf, cap, "%lld", (long long)t);
}

void lsc_tui_fmt_num(double v, char *buf, size_t cap)
{
    if (isnan(v))
        snprintf(buf, cap, "NaN");
    else if (isinf(v))
        snprintf(buf, cap, v > 0 ? "Inf" : "-Inf");
    else if (v == 0)
        snprintf(buf, cap, "0");
    else if (fabs(v) >= 1e-3 && fabs(v) < 1e5)
        snprintf(buf, cap, fabs(v) >= 1000 ? "%.0f" : fabs(v) >= 100 ? "%.1f" : fabs(v) >= 10 ? "%.2f"
                                                          : fabs(v) >= 1  ? "%.3f" : "%.4f", v);
    else
        snprintf(buf, cap, "%.2e", v);
}

int lsc_tui_match(const char *pattern, const char *name)
{
    if (!pattern[0])
        return 1;
    if (strstr(pattern, "\xe2\x80\xa6")) { /* a name typed back as shown, cut in the middle: … stands for * */
        char glob[512];
        size_t o = 0;
        for (const char *p = pattern; *p && o + 1 < sizeof glob; p++) {
            if (strncmp(p, "\xe2\x80\xa6", 3) == 0) {
                glob[o++] = '*';
                p += 2;
            } else {
                glob[o++] = *p;
            }
        }
        glob[o] = '\0';
        return fnmatch(glob, name, FNM_CASEFOLD) == 0;
    }
    if (strpbrk(pattern, "*?["))
        return fnmatch(pattern, name, FNM_CASEFOLD) == 0;
    return strcasestr(name, pattern) != NULL;
}

/* One JSON string at *p (just after its opening quote) into w (at most cap - 1 bytes), *p moved past its
 * closing quote; -1 when the string does not end. \uXXXX escapes outside ASCII become '?'. */
static int json_word(const char **p, char *w, size_t cap)
{
    size_t n = 0;
    const char *s = *p;
    for (; *s && *s != '"'; s++) {
        char c = *s;
        if (c == '\\' && s[1]) {
            c = *++s;
            if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
            else if (c == 'u') {
                unsigned v = 0;
                int k = 0;
                for (; k < 4 && s[1] && strchr("0123456789abcdefABCDEF", s[1]); k++, s++)
                    v = v * 16 + (unsigned)(s[1] <= '9' ? s[1] - '0' : (s[1] | 0x20) - 'a' + 10);
                c = v >= 0x20 && v < 0x7f ? (char)v : '?';
            }
        }
        if (n + 1 < cap)
            w[n++] = c;
    }
    w[n] = '\0';
    if (*s != '"')
        return -1;
    *p = s + 1;
    return 0;
}

void lsc_tui_args_text(const char *args, char *buf, size_t cap)
{
    const char *p = args;
    while (*p == ' ')
        p++;
    if (cap == 0)
        return;
    buf[0] = '\0';
    if (*p != '[') {
        snprintf(buf, cap, "%s", args);
        return;
    }
    size_t len = 0;
    for (p++;;) {
        while (*p == ' ' || *p == ',' || *p == '\n')
            p++;
        if (*p != '"')
            break; /* the closing bracket, or not a list of strings: stop at what was read */
        p++;
        char w[LSC_TUI_TEXT_MAX];
        if (json_word(&p, w, sizeof w) != 0)
            break;
        int quote = !w[0] || strpbrk(w, " '\"\t\n") != NULL;
        int k = snprintf(buf + len, cap - len, "%s%s%s%s", len ? " " : "", quote ? "'" : "", w, quote ? "'" : "");
        if (k < 0 || (size_t)k >= cap - len) {
            buf[len] = '\0'; /* whole words only */
            break;
        }
        len += (size_t)k;
    }
}

/* ---- names ----------------------------------------------------------------------------------------- */

const char *lsc_tui_short_name(const lsc_tui_state *st, const char *name)
{
    (void)st;
    /* the display name every command prints (engine/layername.h), so what is read here can be typed */
    return lsc_layername_display(name);
}

/* ---- cell text ------------------------------------------------------------------------------------- */

static void esc(char *buf, size_t cap, const char *s)
{
    if (!s || !s[0])
        snprintf(buf, cap, "-");
    else
        lsc_escape_name(buf, cap, s);
}

/* The CLI's percentage rule (numfmt.h) at one decimal; "100%" keeps a full column within 5 cells. */
static void pct(double v, char *buf, size_t cap)
{
    lsc_fmt_pct(buf, cap, v, 1);
    if (strcmp(buf, "100.0%") == 0)
        snprintf(buf, cap, "100%%");
}

void lsc_tui_cell_text(const lsc_tui_state *st, lsc_tui_view v, size_t row, lsc_tui_col c, char *buf, size_t cap)
{
    buf[0] = '\0';
    const lsc_tui_list *l = &st->lists[v];
    if (v == LSC_VIEW_OUTPUT) {
        if (row < st->output.n)
            snprintf(buf, cap, "%s", st->output.lines[row]);
        return;
    }
    if (!l->order || row >= l->n)
        return;
    size_t i = l->order[row];
    if (v == LSC_VIEW_LAYERS && c == LSC_COL_MODULE && st->layers.group && row > 0 &&
        strcmp(st->layers.rows[l->order[row - 1]].module_type, st->layers.rows[i].module_type) == 0) {
        snprintf(buf, cap, "  \""); /* grouped: the module is named once */
        return;
    }
    lsc_tui_cell_text_data(st, v, i, c, buf, cap);
}

/* The cells of the series, tasks, audit and history views (lsc_tui_cell_text_data's second half). */
static void cell_text_more(const lsc_tui_state *st, lsc_tui_view v, size_t i, lsc_tui_col c, char *buf, size_t cap)
{
    if (v == LSC_VIEW_SERIES) {
        const lsc_tui_series *sr = &st->series.transient.data;
        int f = lsc_tui_series_col_fig(c);
        if (c == LSC_COL_NAME)
            esc(buf, cap, lsc_tui_short_name(st, sr->layers[i].name));
        if (f >= 0) {
            double x = sr->fig[f][i * sr->n_steps + st->series.step];
            if (isnan(x))
                snprintf(buf, cap, "-");
            else if (f == LSC_TUI_SERIES_K90)
                snprintf(buf, cap, "%.0f", x);
            else if (f == LSC_TUI_SERIES_ERANK)
                snprintf(buf, cap, "%.2f", x);
            else if (f == LSC_TUI_SERIES_SIM_PREV || f == LSC_TUI_SERIES_SIM_FINAL)
                snprintf(buf, cap, "%.4f", x);
            else
                lsc_tui_fmt_num(x, buf, cap);
        }
    } else if (v == LSC_VIEW_TASKS) {
        const lsc_tui_task *t = &st->tasks.rows[i];
        switch (c) {
        case LSC_COL_TASK: esc(buf, cap, t->task); break;
        case LSC_COL_ADAPTER: esc(buf, cap, t->adapter); break;
        case LSC_COL_LAYERS: snprintf(buf, cap, "%lld", (long long)t->layers); break;
        case LSC_COL_PARAMS: lsc_tui_fmt_count(t->params, buf, cap); break;
        default: break;
        }
    } else if (v == LSC_VIEW_AUDIT) {
        const lsc_tui_audit_row *a = &st->audit.rows[i];
        switch (c) {
        case LSC_COL_NAME: esc(buf, cap, a->name); break;
        case LSC_COL_LAYERS: snprintf(buf, cap, "%lld", (long long)a->layers); break;
        case LSC_COL_WASTE: snprintf(buf, cap, "%d", a->waste); break;
        case LSC_COL_SAVES: lsc_tui_fmt_bytes(a->saves, buf, cap); break;
        case LSC_COL_NAN: snprintf(buf, cap, "%d", a->nonfinite); break;
        case LSC_COL_DEAD: snprintf(buf, cap, "%d", a->dead); break;
        case LSC_COL_NOTES: esc(buf, cap, a->notes); break;
        default: break;
        }
    } else if (v == LSC_VIEW_HISTORY) {
        const lsc_tui_history *h = &st->history.rows[i];
        switch (c) {
        case LSC_COL_TIME: lsc_tui_fmt_time(h->time, buf, cap); break;
        case LSC_COL_COMMAND: esc(buf, cap, h->command); break;
        case LSC_COL_STATE: snprintf(buf, cap, "%s", h->undone ? "undone" : "done"); break;
        case LSC_COL_ARGS: {
            char t[LSC_TUI_TEXT_MAX];
            lsc_tui_args_text(h->args, t, sizeof t);
            esc(buf, cap, t);
            break;
        }
        default: break;
        }
    }
}

/* A figure against the base of layer data row i; "-" while unknown (the job has not run, or only the
 * grid's norms job: then all but |W| and |dW|/|W|). */
static void vsbase_cell(const lsc_tui_state *st, size_t i, lsc_tui_col c, char *buf, size_t cap)
{
    const lsc_tui_basefig_row *f = lsc_tui_vsbase_fig(st, i);
    if (!f || (lsc_tui_vsbase_norms_only(st) && c != LSC_COL_BASE_NORM && c != LSC_COL_REL_NORM))
        snprintf(buf, cap, "-");
    else if (c == LSC_COL_INTRUDERS)
        snprintf(buf, cap, "%d", f->intruders);
    else if (c == LSC_COL_SUBSIM)
        snprintf(buf, cap, "%.3f", f->subspace_sim);
    else if (c == LSC_COL_AMP)
        snprintf(buf, cap, "%.2f", f->amplification);
    else
        lsc_tui_fmt_num(c == LSC_COL_BASE_NORM ? f->base_norm : f->rel_norm, buf, cap);
}

void lsc_tui_cell_text_data(const lsc_tui_state *st, lsc_tui_view v, size_t i, lsc_tui_col c, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (v == LSC_VIEW_OUTPUT) {
        if (i < st->output.n)
            snprintf(buf, cap, "%s", st->output.lines[i]);
        return;
    }
    if (v == LSC_VIEW_CATALOG) {
        const lsc_tui_adapter *a = &st->catalog.rows[i];
        switch (c) {
        case LSC_COL_NAME: esc(buf, cap, a->name); break;
        case LSC_COL_KIND: esc(buf, cap, a->kind); break;
        case LSC_COL_FORMAT: esc(buf, cap, a->format); break;
        case LSC_COL_DTYPE: esc(buf, cap, a->dtype); break;
        case LSC_COL_BASE: esc(buf, cap, a->base_model); break;
        case LSC_COL_PARENTS: esc(buf, cap, a->parents); break;
        case LSC_COL_LAYERS: snprintf(buf, cap, "%lld", (long long)a->n_layers); break;
        case LSC_COL_PARAMS: lsc_tui_fmt_count(a->params, buf, cap); break;
        case LSC_COL_BYTES: lsc_tui_fmt_bytes(a->bytes, buf, cap); break;
        case LSC_COL_CREATED: lsc_tui_fmt_time(a->created, buf, cap); break;
        default: break;
        }
    } else if (v == LSC_VIEW_LAYERS) {
        const lsc_tui_layer *L = &st->layers.rows[i];
        int nf = L->nonfinite;
        switch (c) {
        case LSC_COL_INDEX:
            if (L->layer_index >= 0)
                snprintf(buf, cap, "%d", L->layer_index);
            else
                snprintf(buf, cap, "-");
            break;
        case LSC_COL_NAME: esc(buf, cap, lsc_tui_short_name(st, L->name)); break;
        case LSC_COL_MODULE: esc(buf, cap, L->module_type); break;
        case LSC_COL_SHAPE: snprintf(buf, cap, "%lldx%lld", (long long)L->rows, (long long)L->cols); break;
        case LSC_COL_RANK: snprintf(buf, cap, "%d", L->rank); break;
        case LSC_COL_ALPHA: snprintf(buf, cap, "%g", L->alpha); break;
        case LSC_COL_SCALE: snprintf(buf, cap, "%.4g", L->scale); break;
        case LSC_COL_FRO: nf ? snprintf(buf, cap, "NaN!") : (lsc_tui_fmt_num(L->fro, buf, cap), 0); break;
        case LSC_COL_SIGMA1: nf ? snprintf(buf, cap, "NaN!") : (lsc_tui_fmt_num(L->sigma1, buf, cap), 0); break;
        case LSC_COL_EFF: nf ? snprintf(buf, cap, "-") : snprintf(buf, cap, "%.2f", L->effective_rank); break;
        case LSC_COL_STABLE: nf ? snprintf(buf, cap, "-") : snprintf(buf, cap, "%.2f", L->stable_rank); break;
        case LSC_COL_K90: nf ? snprintf(buf, cap, "-") : snprintf(buf, cap, "%d", L->k90); break;
        case LSC_COL_K99: nf ? snprintf(buf, cap, "-") : snprintf(buf, cap, "%d", L->k99); break;
        case LSC_COL_ZEROS_A: pct(L->zeros_a, buf, cap); break;
        case LSC_COL_ZEROS_B: pct(L->zeros_b, buf, cap); break;
        case LSC_COL_FLAGS:
            snprintf(buf, cap, "%s%s%s%s%s%s", nf ? "!" : "", (L->flags & LSC_LAYER_DORA) ? "D" : "",
                     (L->flags & LSC_LAYER_ADALORA) ? "A" : "", (L->flags & LSC_LAYER_CONV) ? "C" : "",
                     (L->flags & LSC_LAYER_EMBEDDING) ? "E" : "", (L->flags & LSC_LAYER_FAN_IN_FAN_OUT) ? "T" : "");
            break;
        case LSC_COL_BASE_NORM:
        case LSC_COL_REL_NORM:
        case LSC_COL_AMP:
        case LSC_COL_SUBSIM:
        case LSC_COL_INTRUDERS: vsbase_cell(st, i, c, buf, cap); break;
        default: break;
        }
    } else if (v == LSC_VIEW_DIFF) {
        const lsc_tui_diff_row *r = &st->diff.cmp.rows[i];
        switch (c) {
        case LSC_COL_NAME: esc(buf, cap, lsc_tui_short_name(st, r->name)); break;
        case LSC_COL_COSINE: isnan(r->cosine) ? snprintf(buf, cap, "NaN") : snprintf(buf, cap, "%.4f", r->cosine); break;
        case LSC_COL_RELDIFF: lsc_tui_fmt_num(r->rel_diff, buf, cap); break;
        case LSC_COL_SUB_IN: isnan(r->subspace_in) ? snprintf(buf, cap, "NaN") : snprintf(buf, cap, "%.3f", r->subspace_in); break;
        case LSC_COL_SUB_OUT: isnan(r->subspace_out) ? snprintf(buf, cap, "NaN") : snprintf(buf, cap, "%.3f", r->subspace_out); break;
        case LSC_COL_FRO_A: lsc_tui_fmt_num(r->fro_a, buf, cap); break;
        case LSC_COL_FRO_B: lsc_tui_fmt_num(r->fro_b, buf, cap); break;
        default: break;
        }
    } else if (v == LSC_VIEW_PRUNE) {
        const lsc_tui_prune_row *r = &st->prune.transient.rows[i];
        switch (c) {
        case LSC_COL_NAME: esc(buf, cap, lsc_tui_short_name(st, r->name)); break;
        case LSC_COL_RANK: snprintf(buf, cap, "%d", r->rank_before); break;
        case LSC_COL_NEW_RANK:
            if (r->nonfinite)
                snprintf(buf, cap, "NaN!");
            else
                snprintf(buf, cap, "%d", r->rank_after);
            break;
        case LSC_COL_KEPT:
            if (r->chosen)
                lsc_fmt_pct(buf, cap, r->kept_energy, 2);
            else
                snprintf(buf, cap, "-");
            break;
        case LSC_COL_RELERR:
            if (r->chosen)
                lsc_tui_fmt_num(r->rel_error, buf, cap);
            else
                snprintf(buf, cap, "-");
            break;
        default: break;
        }
    } else if (v == LSC_VIEW_MERGE) {
        const lsc_tui_merge_row *r = &st->merge.transient.rows[i];
        switch (c) {
        case LSC_COL_NAME: esc(buf, cap, lsc_tui_short_name(st, r->name)); break;
        case LSC_COL_MODELS: snprintf(buf, cap, "%d", r->models); break;
        case LSC_COL_RANK: snprintf(buf, cap, "%d", r->rank); break;
        case LSC_COL_RELERR:
            if (isnan(r->rel_error))
                snprintf(buf, cap, "when run");
            else
                lsc_tui_fmt_num(r->rel_error, buf, cap);
            break;
        default: break;
        }
    } else {
        cell_text_more(st, v, i, c, buf, cap);
    }
}

void lsc_tui_diff_totals(const lsc_tui_diff *d, double *cosine, double *rel_diff)
{
    double inner = 0, s1 = 0, s2 = 0, diff = 0;
    for (size_t i = 0; i < d->n_rows; i++) {
        const lsc_tui_diff_row *r = &d->rows[i];
        double fa = r->fro_a, fb = r->fro_b;
        if (!isfinite(fa) || !isfinite(fb))
            continue;
        s1 += fa * fa;
        s2 += fb * fb;
        if (fa > 0 && fb > 0 && isfinite(r->cosine))
            inner += r->cosine * fa * fb;
        if (fa > 0 && isfinite(r->rel_diff))
            diff += (r->rel_diff * fa) * (r->rel_diff * fa);
        else if (fa == 0)
            diff += fb * fb; /* |0 - b| */
    }
    /* as the CLI's diff summary: the layers taken as one vector */
    *cosine = s1 > 0 && s2 > 0 ? inner / sqrt(s1) / sqrt(s2) : (s1 == s2 ? 1.0 : 0.0);
    *rel_diff = s1 > 0 ? sqrt(diff / s1) : (s2 > 0 ? 1.0 : 0.0);
}

void lsc_tui_layers_summary(const lsc_tui_state *st, char *buf, size_t cap)
{
    int ranks[9], counts[9], n_ranks = 0, more = 0;
    size_t strongest = (size_t)-1, nonfinite = 0;
    for (size_t i = 0; i < st->layers.n; i++) {
        const lsc_tui_layer *L = &st->layers.rows[i];
        if (L->nonfinite)
            nonfinite++;
        else if (strongest == (size_t)-1 || L->fro > st->layers.rows[strongest].fro)
            strongest = i;
        int k = 0;
        while (k < n_ranks && ranks[k] < L->rank)
            k++;
        if (k < n_ranks && ranks[k] == L->rank) {
            counts[k]++;
        } else if (n_ranks < 8) { /* insert in rank order */
            memmove(ranks + k + 1, ranks + k, (size_t)(n_ranks - k) * sizeof *ranks);
            memmove(counts + k + 1, counts + k, (size_t)(n_ranks - k) * sizeof *counts);
            ranks[k] = L->rank;
            counts[k] = 1;
            n_ranks++;
        } else {
            more++;
        }
    }
    size_t len = (size_t)snprintf(buf, cap, " %zu layers  ranks", st->layers.n);
    for (int k = 0; k < n_ranks && len < cap; k++)
        len += (size_t)snprintf(buf + len, cap - len, " r%d:%d", ranks[k], counts[k]);
    if (more && len < cap)
        len += (size_t)snprintf(buf + len, cap - len, " +%d more", more);
    if (strongest != (size_t)-1 && len < cap) {
        char e[LSC_TUI_NAME_MAX], fro[32];
        const lsc_tui_layer *L = &st->layers.rows[strongest];
        lsc_tui_fmt_num(L->fro, fro, sizeof fro);
        len += (size_t)snprintf(buf + len, cap - len, "  strongest %s (fro %s)",
                                lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, L->name)), fro);
    }
    if (nonfinite && len < cap)
        snprintf(buf + len, cap - len, "  %zu with NaN/Inf", nonfinite);
}

void lsc_tui_breadcrumb(const lsc_tui_state *st, const char *sep, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int d = 0; d < st->depth && len < cap; d++) {
        char part[LSC_TUI_NAME_MAX * 2 + 16], e1[LSC_TUI_NAME_MAX], e2[LSC_TUI_NAME_MAX];
        switch (st->stack[d]) {
        case LSC_VIEW_CATALOG: snprintf(part, sizeof part, "catalog"); break;
        case LSC_VIEW_LAYERS: snprintf(part, sizeof part, "%s", lsc_escape_name(e1, sizeof e1, st->layers.adapter)); break;
        case LSC_VIEW_GRID: /* over its adapter's table, which names the adapter */
            if (d > 0 && st->stack[d - 1] == LSC_VIEW_LAYERS)
                snprintf(part, sizeof part, "grid");
            else
                snprintf(part, sizeof part, "%s grid", lsc_escape_name(e1, sizeof e1, st->layers.adapter));
            break;
        case LSC_VIEW_SPECTRUM:
            snprintf(part, sizeof part, "%s",
                     st->spectrum.layer < st->layers.n
                         ? lsc_escape_name(e1, sizeof e1, lsc_tui_short_name(st, st->layers.rows[st->spectrum.layer].name))
                         : "spectrum");
            break;
        case LSC_VIEW_DIFF:
            snprintf(part, sizeof part, "diff %s..%s", lsc_escape_name(e1, sizeof e1, st->diff.a),
                     lsc_escape_name(e2, sizeof e2, st->diff.b));
            break;
        case LSC_VIEW_HISTORY: snprintf(part, sizeof part, "history"); break;
        case LSC_VIEW_AUDIT: snprintf(part, sizeof part, "audit (%zu adapters, by savings)", st->audit.n); break;
        case LSC_VIEW_OUTPUT: snprintf(part, sizeof part, ":%s", lsc_escape_name(e1, sizeof e1, st->output.title)); break;
        case LSC_VIEW_PRUNE: snprintf(part, sizeof part, "prune %s", lsc_escape_name(e1, sizeof e1, st->prune.adapter)); break;
        case LSC_VIEW_TASKS: snprintf(part, sizeof part, "%s (%zu tasks)", lsc_escape_name(e1, sizeof e1, st->tasks.group), st->tasks.n); break;
        case LSC_VIEW_KIND: snprintf(part, sizeof part, "%s (%s)", lsc_escape_name(e1, sizeof e1, st->kind.adapter),
                                     st->kind.kf.kind[0] ? st->kind.kf.kind : "kind"); break;
        case LSC_VIEW_RETRAIN: snprintf(part, sizeof part, "retrain %s", lsc_escape_name(e1, sizeof e1, st->retrain.adapter)); break;
        case LSC_VIEW_SERIES: snprintf(part, sizeof part, "%s (series, %zu checkpoints)", lsc_escape_name(e1, sizeof e1, st->series.adapter),
                                       st->series.transient.data.n_steps); break;
        case LSC_VIEW_MERGE: {
            size_t pl = (size_t)snprintf(part, sizeof part, "merge ");
            for (int i = 0; i < st->merge.n && pl < sizeof part; i++)
                pl += (size_t)snprintf(part + pl, sizeof part - pl, "%s%s", i ? " + " : "",
                                       lsc_escape_name(e1, sizeof e1, st->merge.names[i]));
            break;
        }
        default: part[0] = '\0'; break;
        }
        int w = snprintf(buf + len, cap - len, "%s%s", d ? sep : "", part);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}
