/* render_merge.c: the merge panel (view_merge.c): its fields and the per-layer preview — curses, like every
 * render*.c file; the protocol is in render.c's head comment. Reads the state, never changes it.
 */
#define NCURSES_WIDECHAR 1
#include "render_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void lsc_tui_draw_merge(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_merge_panel *M = &st->merge;
    const lsc_tui_merge_opts *o = &M->opts;
    const lsc_tui_layout *L = &st->lay;
    static const char *const labels[LSC_MERGE_FIELD_COUNT] = {"method", "weights", "rank", "density", "seed"};
    static const char *const method_help[LSC_TUI_MERGE_METHOD_COUNT] = {
        "exact sum, concatenated factors (rank: sum of ranks)",
        "exact sum; with a rank, recompressed to it",
        "best rank-K approximation of the exact sum",
        "trim, elect signs, disjoint mean (element-wise)",
        "DARE drop, then TIES (element-wise)",
        "DARE drop, then the weighted sum (element-wise)",
        "magnitude trim, then the weighted sum (element-wise)"};
    int ew = lsc_tui_merge_is_elementwise(o->method), dare = o->method == LSC_TUI_MERGE_DARE_TIES ||
                                                                o->method == LSC_TUI_MERGE_DARE_LINEAR;
    for (int f = 0; f < LSC_MERGE_FIELD_COUNT; f++) {
        int y = 1 + f, sel = f == M->field, unused = 0;
        char val[160], hint[200];
        switch (f) {
        case LSC_MERGE_FIELD_METHOD:
            snprintf(val, sizeof val, "%s", lsc_tui_merge_method_name(o->method));
            snprintf(hint, sizeof hint, "%s", method_help[o->method]);
            break;
        case LSC_MERGE_FIELD_WEIGHTS:
            snprintf(val, sizeof val, "%s", M->weights);
            snprintf(hint, sizeof hint, "one per adapter, in tag order (e types them)");
            break;
        case LSC_MERGE_FIELD_RANK:
            snprintf(val, sizeof val, "%d", o->rank);
            unused = o->method == LSC_TUI_MERGE_CAT;
            snprintf(hint, sizeof hint, "%s", unused ? "unused by cat" : o->method == LSC_TUI_MERGE_LINEAR ? "0: exact, else recompress to it" : "output rank");
            if (o->method == LSC_TUI_MERGE_LINEAR && o->rank == 0)
                snprintf(val, sizeof val, "0 (exact)");
            break;
        case LSC_MERGE_FIELD_DENSITY:
            snprintf(val, sizeof val, "%g", o->density);
            unused = !ew;
            snprintf(hint, sizeof hint, "%s%s", unused ? "unused by " : "fraction kept by trim / DARE",
                     unused ? lsc_tui_merge_method_name(o->method) : "");
            break;
        default:
            snprintf(val, sizeof val, "%llu", (unsigned long long)o->seed);
            unused = !ew;
            snprintf(hint, sizeof hint, "%s%s", unused ? "unused by " : dare ? "DARE masks, randomized SVD" : "randomized SVD",
                     unused ? lsc_tui_merge_method_name(o->method) : "");
            break;
        }
        attr_t a = sel ? r->attr[R_SELECTED] : unused ? r->attr[R_DIM] : r->attr[R_TAGGED];
        put_text(r, y, 0, 2, sel ? ">" : "", 0, 0, a);
        put_text(r, y, 2, 9, labels[f], 0, 0, sel ? a : r->attr[R_NORMAL]);
        put_text(r, y, 11, 18, val, 0, 0, a);
        put_text(r, y, 30, L->cols - 30, hint, 0, 0, r->attr[R_DIM]);
    }
    char t[LSC_ERROR_MSG_MAX + 64];
    int y = 1 + LSC_MERGE_FIELD_COUNT;
    if (!M->transient.ok) {
        snprintf(t, sizeof t, "error: %s", M->transient.error);
        put_text(r, y, 0, L->cols, t, 0, 0, r->attr[R_ERROR]);
    } else {
        char c1[32], me[32];
        lsc_tui_fmt_count(M->transient.tot.params, c1, sizeof c1);
        lsc_tui_fmt_num(M->transient.tot.max_rel_error, me, sizeof me);
        if (ew)
            snprintf(t, sizeof t, " %zu layers  params %s  error computed when run (one dense layer at a time)", M->transient.n_rows, c1);
        else
            snprintf(t, sizeof t, " %zu layers  params %s  largest relative error %s", M->transient.n_rows, c1, me);
        put_text(r, y, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    }
    draw_table(r, st, LSC_VIEW_MERGE, 0, L->cols, 0);
}
