/* render.c: the workbench on screen — the only file of lorascope that includes curses.
 *
 * Draws what state.c holds (never changes it) and translates curses input into LSC_KEY_* codes. Geometry
 * comes from the state's layout (st->lay), so drawing, paging and mouse hits agree. Every visible mark has
 * a non-colour form: '>' and reverse for the selection, '*' and bold for tags, shade glyphs for heat,
 * text prefixes for warnings and errors. Never depends on the catalog or the engine.
 */
#define NCURSES_WIDECHAR 1
#include "render.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <wchar.h>

#include "chart.h"
#include "keys.h"

enum {
    R_NORMAL,
    R_TITLE,
    R_HEADER,
    R_HEADER_SORTED,
    R_SELECTED,
    R_SELECTED_DIM, /* selection of an unfocused pane */
    R_TAGGED,
    R_WARN,
    R_ERROR,
    R_DIM,
    R_FKEY_NUM,
    R_FKEY_LABEL,
    R_INFO,
    R_HEAT1,
    R_HEAT2,
    R_HEAT3,
    R_HEAT4,
    R_SERIES_A,
    R_SERIES_B,
    R_BOTH,
    R_MARK,
    R_AXIS,
    R_BOX,
    R_COUNT
};

struct lsc_tui_render {
    SCREEN *scr;
    FILE *out, *in;
    int own_out, own_in;
    int color, unicode, mouse, headless;
    attr_t attr[R_COUNT];
    lsc_canvas cv;
    const lsc_tui_state *last; /* for busy() */
};

static lsc_tui_render *g_active; /* the renderer to restore on atexit/signals */

/* ---- themes ---------------------------------------------------------------------------------------- */

static void theme(lsc_tui_render *r)
{
    attr_t *a = r->attr;
    if (r->color) {
        start_color();
        use_default_colors();
        static const short pairs[][2] = {
            [R_TITLE] = {COLOR_WHITE, COLOR_BLUE},   [R_HEADER] = {COLOR_BLACK, COLOR_GREEN},
            [R_HEADER_SORTED] = {COLOR_BLACK, COLOR_CYAN}, [R_SELECTED] = {COLOR_BLACK, COLOR_CYAN},
            [R_SELECTED_DIM] = {COLOR_BLACK, COLOR_WHITE}, [R_TAGGED] = {COLOR_YELLOW, -1},
            [R_WARN] = {COLOR_YELLOW, -1},           [R_ERROR] = {COLOR_WHITE, COLOR_RED},
            [R_DIM] = {COLOR_BLUE, -1},              [R_FKEY_NUM] = {-1, -1},
            [R_FKEY_LABEL] = {COLOR_BLACK, COLOR_CYAN}, [R_INFO] = {COLOR_GREEN, -1},
            [R_HEAT1] = {COLOR_BLUE, -1},            [R_HEAT2] = {COLOR_CYAN, -1},
            [R_HEAT3] = {COLOR_YELLOW, -1},          [R_HEAT4] = {COLOR_RED, -1},
            [R_SERIES_A] = {COLOR_CYAN, -1},         [R_SERIES_B] = {COLOR_MAGENTA, -1},
            [R_BOTH] = {COLOR_WHITE, -1},            [R_MARK] = {COLOR_YELLOW, -1},
            [R_AXIS] = {-1, -1},                     [R_BOX] = {COLOR_CYAN, -1},
        };
        for (int i = 1; i < R_COUNT; i++) {
            init_pair((short)i, pairs[i][0], pairs[i][1]);
            a[i] = COLOR_PAIR(i);
        }
        a[R_NORMAL] = A_NORMAL;
        a[R_TITLE] |= A_BOLD;
        a[R_HEADER_SORTED] |= A_BOLD;
        a[R_TAGGED] |= A_BOLD;
        a[R_WARN] |= A_BOLD;
        a[R_ERROR] |= A_BOLD;
        a[R_HEAT4] |= A_BOLD;
        a[R_BOTH] |= A_BOLD;
        a[R_MARK] |= A_BOLD;
        a[R_SERIES_B] |= A_BOLD; /* the second series differs by weight too, not by colour alone */
    } else {
        a[R_NORMAL] = A_NORMAL;
        a[R_TITLE] = A_REVERSE | A_BOLD;
        a[R_HEADER] = A_UNDERLINE;
        a[R_HEADER_SORTED] = A_UNDERLINE | A_BOLD;
        a[R_SELECTED] = A_REVERSE;
        a[R_SELECTED_DIM] = A_UNDERLINE;
        a[R_TAGGED] = A_BOLD;
        a[R_WARN] = A_BOLD;
        a[R_ERROR] = A_BOLD | A_REVERSE;
        a[R_DIM] = A_DIM;
        a[R_FKEY_NUM] = A_NORMAL;
        a[R_FKEY_LABEL] = A_REVERSE;
        a[R_INFO] = A_NORMAL;
        a[R_HEAT1] = a[R_HEAT2] = a[R_HEAT3] = A_NORMAL;
        a[R_HEAT4] = A_BOLD;
        a[R_SERIES_A] = A_NORMAL;
        a[R_SERIES_B] = A_BOLD;
        a[R_BOTH] = A_BOLD | A_UNDERLINE;
        a[R_MARK] = A_BOLD | A_UNDERLINE;
        a[R_AXIS] = A_NORMAL;
        a[R_BOX] = A_NORMAL;
    }
}

/* ---- text primitives ------------------------------------------------------------------------------- */

#define MAXW 1024

/* Decode UTF-8 into wide characters (ASCII mode: one '?' per non-ASCII sequence). Returns the count. */
static int decode(const lsc_tui_render *r, const char *s, wchar_t *w, int *wid, int cap)
{
    int n = 0;
    mbstate_t mb;
    memset(&mb, 0, sizeof mb);
    const char *p = s;
    size_t left = strlen(s);
    while (left && n < cap) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x80) {
            w[n] = (c < 0x20 || c == 0x7f) ? L'?' : (wchar_t)c;
            wid[n++] = 1;
            p++, left--;
            continue;
        }
        wchar_t wc = L'?';
        size_t k = 1;
        if (r->unicode) {
            k = mbrtowc(&wc, p, left, &mb);
            if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
                memset(&mb, 0, sizeof mb);
                wc = L'?';
                k = 1;
            }
        } else {
            while (k < left && ((unsigned char)p[k] & 0xC0) == 0x80)
                k++;
        }
        int cw = r->unicode ? wcwidth(wc) : 1;
        if (cw < 0) {
            wc = L'?';
            cw = 1;
        }
        if (cw > 0) {
            w[n] = wc;
            wid[n++] = cw;
        }
        p += k;
        left -= k;
    }
    return n;
}

/* Draw s in [x, x+w) of row y: right-aligned or left, truncated with an ellipsis on the right (or on the
 * left when trunc_left: layer names keep their module end), padded with blanks in attribute a. */
static void put_text(lsc_tui_render *r, int y, int x, int w, const char *s, int right, int trunc_left, attr_t a)
{
    if (w <= 0)
        return;
    wchar_t wb[MAXW + 2];
    int wid[MAXW + 2];
    int n = decode(r, s, wb, wid, MAXW), total = 0;
    for (int i = 0; i < n; i++)
        total += wid[i];
    wchar_t ell = r->unicode ? 0x2026 : L'~';
    int start = 0, end = n;
    if (total > w) {
        if (trunc_left) {
            while (start < n && total > w - 1)
                total -= wid[start++];
            memmove(wb + 1, wb + start, (size_t)(n - start) * sizeof *wb);
            memmove(wid + 1, wid + start, (size_t)(n - start) * sizeof *wid);
            wb[0] = ell;
            wid[0] = 1;
            end = n - start + 1;
            start = 0;
            total += 1;
        } else {
            while (end > 0 && total > w - 1)
                total -= wid[--end];
            wb[end] = ell;
            wid[end++] = 1;
            total += 1;
        }
    }
    attrset(a);
    mvhline(y, x, ' ' | a, w);
    int px = x + (right ? w - total : 0);
    if (end > start)
        mvaddnwstr(y, px, wb + start, end - start);
    attrset(A_NORMAL);
}

static void put_glyph(lsc_tui_render *r, int y, int x, uint32_t cp, attr_t a)
{
    attrset(a);
    if (cp < 0x80 || !r->unicode) {
        mvaddch(y, x, (chtype)(cp < 0x80 ? cp : '?') | a);
    } else {
        wchar_t wc[2] = {(wchar_t)cp, 0};
        mvaddnwstr(y, x, wc, 1);
    }
    attrset(A_NORMAL);
}

static const char *G(const lsc_tui_render *r, const char *uni, const char *ascii) { return r->unicode ? uni : ascii; }

/* ---- lifecycle ------------------------------------------------------------------------------------- */

void lsc_tui_render_emergency(void)
{
    if (g_active && g_active->scr && !isendwin()) {
        set_term(g_active->scr);
        if (g_active->mouse)
            mousemask(0, NULL);
        curs_set(1);
        endwin();
    }
}

lsc_tui_render *lsc_tui_render_begin(const lsc_tui_render_opts *o, FILE *out, FILE *in, char *why, size_t cap)
{
    lsc_tui_render *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    r->headless = o->headless;
    r->out = out ? out : stdout;
    r->in = in ? in : stdin;
    const char *term = o->headless ? (o->term ? o->term : "xterm-256color") : NULL;
    r->scr = newterm(term, r->out, r->in);
    if (!r->scr) {
        snprintf(why, cap, "cannot start curses on terminal '%s'", term ? term : (getenv("TERM") ? getenv("TERM") : ""));
        free(r);
        return NULL;
    }
    set_term(r->scr);
    g_active = r;
    const char *cs = nl_langinfo(CODESET);
    r->unicode = !o->ascii && cs && strcmp(cs, "UTF-8") == 0;
    r->color = !o->no_color && has_colors();
    r->mouse = !o->no_mouse && !o->headless;
    cbreak(); /* ^C stays a signal: the handler in tui.c leaves the loop and restores the terminal */
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    intrflush(stdscr, FALSE);
    set_escdelay(25);
    curs_set(0);
    if (o->headless && o->lines > 0 && o->cols > 0)
        resize_term(o->lines, o->cols);
    if (r->mouse) {
        mousemask(BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
        mouseinterval(0);
    }
    theme(r);
    return r;
}

void lsc_tui_render_end(lsc_tui_render *r)
{
    if (!r)
        return;
    set_term(r->scr);
    if (!isendwin()) {
        if (r->mouse)
            mousemask(0, NULL);
        curs_set(1);
        endwin();
    }
    delscreen(r->scr);
    if (g_active == r)
        g_active = NULL;
    lsc_canvas_release(&r->cv);
    free(r);
}

void lsc_tui_render_size(lsc_tui_render *r, int *lines, int *cols)
{
    set_term(r->scr);
    *lines = LINES;
    *cols = COLS;
}

int lsc_tui_render_resize(lsc_tui_render *r, int lines, int cols)
{
    set_term(r->scr);
    return resize_term(lines, cols) == OK ? 0 : -1;
}

int lsc_tui_render_unicode(const lsc_tui_render *r) { return r->unicode; }

/* ---- pieces of a frame ----------------------------------------------------------------------------- */

static void draw_title(lsc_tui_render *r, const lsc_tui_state *st)
{
    char crumb[1024], line[1200];
    lsc_tui_breadcrumb(st, G(r, " \u203a ", " > "), crumb, sizeof crumb);
    snprintf(line, sizeof line, " lorascope  %s", crumb);
    const char *right = st->readonly ? "[read-only] " : "";
    int rw = (int)strlen(right);
    put_text(r, 0, 0, st->lay.cols - rw, line, 0, 0, r->attr[R_TITLE]);
    if (rw)
        put_text(r, 0, st->lay.cols - rw, rw, right, 1, 0, r->attr[R_TITLE]);
}

static void list_position(const lsc_tui_state *st, lsc_tui_view v, char *buf, size_t cap)
{
    const lsc_tui_list *l = &st->lists[v];
    size_t len = 0;
    buf[0] = '\0';
    if (v == LSC_VIEW_GRID) {
        snprintf(buf, cap, "layer %d, %s  heat: %s", st->n_grid_rows ? st->grid_rows[st->grid_r] : 0,
                 st->n_grid_mods ? st->grid_mods[st->grid_c] : "-",
                 st->metric == LSC_METRIC_NORM ? "fro norm" : "rank");
        return;
    }
    if (v == LSC_VIEW_SPECTRUM) {
        const lsc_tui_list *ll = &st->lists[LSC_VIEW_LAYERS];
        snprintf(buf, cap, "layer %zu/%zu  %zu singular values", ll->n ? ll->cursor + 1 : 0, ll->n, st->n_sv);
        return;
    }
    if (v == LSC_VIEW_KIND) {
        size_t n = lsc_tui_kind_rows(st, NULL);
        snprintf(buf, cap, "%s row %zu/%zu", st->kind.kf.kind, n ? st->kind.cursor + 1 : 0, n);
        return;
    }
    if (v == LSC_VIEW_RETRAIN) {
        snprintf(buf, cap, "field %d/%d", st->retrain.field + 1, LSC_RT_FIELD_COUNT);
        return;
    }
    len += (size_t)snprintf(buf + len, cap - len, "row %zu/%zu", l->n ? l->cursor + 1 : 0, l->n);
    if (l->filter[0] && len < cap)
        len += (size_t)snprintf(buf + len, cap - len, "  filter: %s (%zu of %zu)", l->filter, l->n, l->n_data);
    if (l->n_tagged && len < cap)
        len += (size_t)snprintf(buf + len, cap - len, "  %zu tagged", l->n_tagged);
    if (v == LSC_VIEW_LAYERS && st->group && len < cap)
        snprintf(buf + len, cap - len, "  grouped");
}

static void draw_status(lsc_tui_render *r, const lsc_tui_state *st)
{
    int y = st->lay.status_y, w = st->lay.cols;
    lsc_tui_view v = lsc_tui_state_view(st);
    if (st->job && st->job_kind == LSC_JOB_RETRAIN) { /* training: step, loss, ETA as retrain reports them */
        const lsc_tui_retrain_panel *R = &st->retrain;
        const lsc_tui_train_point *p = R->n_pts ? &R->pts[R->n_pts - 1] : NULL;
        char t[700], eta[32] = "";
        if (p && isfinite(p->eta))
            snprintf(eta, sizeof eta, "  ETA %d:%02d", (int)p->eta / 60, (int)p->eta % 60);
        if (p)
            snprintf(t, sizeof t, "%s %s: step %ld/%ld  loss %.4g%s - %s", G(r, "\u231b", "..."), st->job_title, p->step,
                     p->steps, p->loss, eta,
                     st->job_cancelling ? "stopping: the best state is kept"
                     : R->paused        ? "PAUSED: p resumes, Esc stops"
                                        : "p pauses, Esc stops (keeps the best state)");
        else
            snprintf(t, sizeof t, "%s %s: starting - %s", G(r, "\u231b", "..."), st->job_title,
                     st->job_cancelling ? "stopping" : "p pauses, Esc stops (keeps the best state)");
        curs_set(0);
        put_text(r, y, 0, w, t, 0, 0, r->attr[R_WARN]);
        return;
    }
    if (st->job) { /* a command runs: its progress, with a bar and an ETA when the layers are counted */
        char t[700], bar[64] = "", eta[32] = "";
        if (st->job_total > 0) {
            int width = 20, fill = (int)(width * st->job_done / st->job_total);
            size_t bl = 0;
            for (int i = 0; i < width; i++)
                bl += (size_t)snprintf(bar + bl, sizeof bar - bl, "%s", i < fill ? G(r, "\u2588", "#") : G(r, "\u2591", "."));
            if (st->job_done > 0 && !st->job_cancelling) {
                double left = st->job_elapsed / (double)st->job_done * (double)(st->job_total - st->job_done);
                snprintf(eta, sizeof eta, "  %d:%02d left", (int)left / 60, (int)left % 60);
            }
        }
        if (st->job_total > 0)
            snprintf(t, sizeof t, "%s %s [%s] %ld%%%s - %s", G(r, "\u231b", "..."),
                     st->job_what[0] ? st->job_what : st->job_title, bar, 100 * st->job_done / st->job_total, eta,
                     st->job_cancelling ? "cancelling, rolling back" : "Esc cancels");
        else
            snprintf(t, sizeof t, "%s %s  %.0fs - %s", G(r, "\u231b", "..."), st->job_what[0] ? st->job_what : st->job_title,
                     st->job_elapsed, st->job_cancelling ? "cancelling, rolling back" : "Esc cancels");
        curs_set(0);
        put_text(r, y, 0, w, t, 0, 0, r->attr[R_WARN]);
        return;
    }
    if (st->input != LSC_INPUT_NONE) {
        const char *lead = st->input == LSC_INPUT_PROMPT ? ":" : st->input == LSC_INPUT_SEARCH ? "/"
                           : st->input == LSC_INPUT_FILTER ? "filter (glob): " : st->input_label;
        char line[400];
        snprintf(line, sizeof line, "%s%s", lead, st->inbuf);
        if (st->input == LSC_INPUT_NAME || st->input == LSC_INPUT_FILE || st->input == LSC_INPUT_VALUE ||
            st->input == LSC_INPUT_GLOB) { /* these lines are a question: mark them as such without colour */
            put_text(r, y, 0, w - 1, line, 0, 1, r->attr[R_TAGGED]);
            wchar_t wb[MAXW + 2];
            int wid[MAXW + 2], n = decode(r, line, wb, wid, MAXW), tw = 0;
            for (int i = 0; i < n; i++)
                tw += wid[i];
            curs_set(1);
            move(y, tw < w - 1 ? tw : w - 1);
            return;
        }
        /* keep the end of a long line visible */
        put_text(r, y, 0, w - 1, line, 0, 1, r->attr[R_NORMAL]);
        wchar_t wb[MAXW + 2];
        int wid[MAXW + 2], n = decode(r, line, wb, wid, MAXW), tw = 0;
        for (int i = 0; i < n; i++)
            tw += wid[i];
        curs_set(1);
        move(y, tw < w - 1 ? tw : w - 1);
        return;
    }
    curs_set(0);
    char pos[256];
    list_position(st, v, pos, sizeof pos);
    int pw = (int)strlen(pos) + 1;
    if (pw > w / 2)
        pw = w / 2;
    char msg[sizeof st->msg + 16];
    attr_t a = r->attr[R_NORMAL];
    if (st->msg_level == LSC_MSG_ERROR) {
        snprintf(msg, sizeof msg, "error: %s", st->msg);
        a = r->attr[R_ERROR];
    } else if (st->msg_level == LSC_MSG_WARN) {
        snprintf(msg, sizeof msg, "warning: %s", st->msg);
        a = r->attr[R_WARN];
    } else {
        snprintf(msg, sizeof msg, "%s", st->msg);
    }
    put_text(r, y, 0, w - pw, msg, 0, 0, a);
    put_text(r, y, w - pw, pw, pos, 1, 0, r->attr[R_INFO]);
}

static void draw_fkeys(lsc_tui_render *r, const lsc_tui_state *st)
{
    lsc_tui_fkey fk[12];
    int n = lsc_tui_fkeys(lsc_tui_state_view(st), fk, 12), y = st->lay.keys_y;
    put_text(r, y, 0, st->lay.cols, "", 0, 0, r->attr[R_NORMAL]);
    for (int i = 0; i < n; i++) {
        char num[8];
        int nl = snprintf(num, sizeof num, "F%d", fk[i].fnum);
        if (fk[i].x + fk[i].width > st->lay.cols)
            break;
        put_text(r, y, fk[i].x, nl, num, 0, 0, r->attr[R_FKEY_NUM]);
        put_text(r, y, fk[i].x + nl, fk[i].width - nl, fk[i].label, 0, 0, r->attr[R_FKEY_LABEL]);
    }
}

/* Column header and rows of a table view in [x0, x0 + width). */
static void draw_table(lsc_tui_render *r, const lsc_tui_state *st, lsc_tui_view v, int x0, int width, int focused)
{
    const lsc_tui_layout *L = &st->lay;
    const lsc_tui_list *l = &st->lists[v];
    lsc_tui_col cols[LSC_TUI_MAX_COLS];
    int nc = lsc_tui_view_columns(st, v, cols, LSC_TUI_MAX_COLS);
    lsc_tui_col sorted = (l->sort >= 0 && l->sort < nc) ? cols[l->sort] : LSC_COL_COUNT;
    put_text(r, L->header_y, x0, width, "", 0, 0, r->attr[R_HEADER]);
    for (int i = 0; i < L->n_colpos; i++) {
        const lsc_tui_colpos *cp = &L->colpos[i];
        const lsc_tui_colinfo *ci = lsc_tui_col_info(cp->col);
        char t[64];
        int is_sorted = cp->col == sorted;
        snprintf(t, sizeof t, "%s%s", ci->title,
                 is_sorted ? (l->desc ? G(r, "\u25bc", "v") : G(r, "\u25b2", "^")) : "");
        put_text(r, L->header_y, x0 + cp->x, cp->width, t, ci->right, 0,
                 r->attr[is_sorted ? R_HEADER_SORTED : R_HEADER]);
    }
    if (l->n == 0) {
        char msg[300];
        if (l->filter[0])
            snprintf(msg, sizeof msg, "no rows match the filter '%s' (f to change it)", l->filter);
        else if (v == LSC_VIEW_CATALOG)
            snprintf(msg, sizeof msg, "the catalog is empty: import an adapter with :import PATH");
        else
            snprintf(msg, sizeof msg, "nothing to show");
        put_text(r, L->body_y + 1, x0 + 2, width - 2, msg, 0, 0, r->attr[R_DIM]);
        return;
    }
    for (int k = 0; k < L->body_h; k++) {
        size_t row = l->top + (size_t)k;
        int y = L->body_y + k;
        if (row >= l->n)
            break;
        size_t di = l->order ? l->order[row] : row;
        int sel = row == l->cursor && v != LSC_VIEW_MERGE, tag = l->tagged && l->tagged[di]; /* merge: fields have the cursor */
        int bad = (v == LSC_VIEW_LAYERS && st->layers[di].nonfinite) || (v == LSC_VIEW_PRUNE && st->prune.rows[di].nonfinite);
        int undone = (v == LSC_VIEW_HISTORY && st->history[di].undone) ||
                     (v == LSC_VIEW_PRUNE && !st->prune.rows[di].chosen && !bad);
        attr_t a = sel ? r->attr[focused ? R_SELECTED : R_SELECTED_DIM]
                       : tag ? r->attr[R_TAGGED] : bad ? r->attr[R_WARN] : undone ? r->attr[R_DIM] : r->attr[R_NORMAL];
        put_text(r, y, x0, width, "", 0, 0, a);
        put_text(r, y, x0, 1, sel ? ">" : "", 0, 0, a);
        put_text(r, y, x0 + 1, 1, tag ? "*" : "", 0, 0, a);
        for (int i = 0; i < L->n_colpos; i++) {
            const lsc_tui_colpos *cp = &L->colpos[i];
            char cell[1024];
            lsc_tui_cell_text(st, v, row, cp->col, cell, sizeof cell);
            int left_trunc = cp->col == LSC_COL_NAME && v != LSC_VIEW_CATALOG;
            put_text(r, y, x0 + cp->x, cp->width, cell, lsc_tui_col_info(cp->col)->right, left_trunc, a);
        }
    }
}

static int heat_level(double x, double mx)
{
    if (!(mx > 0) || !(x > 0))
        return 0;
    int lv = (int)ceil(x / mx * 4.0);
    return lv < 1 ? 1 : lv > 4 ? 4 : lv;
}

static void draw_grid(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_layout *L = &st->lay;
    int cw = lsc_tui_grid_cell_width(st);
    lsc_chart_mode gm = r->unicode ? LSC_CHART_BLOCKS : LSC_CHART_ASCII;
    put_text(r, L->header_y, 0, L->cols, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 0, 7, "layer", 1, 0, r->attr[R_HEADER]);
    for (int c = 0; c < st->n_grid_mods; c++)
        put_text(r, L->header_y, 8 + c * cw, cw - 1, st->grid_mods[c], 1, 0,
                 r->attr[c == st->grid_c ? R_HEADER_SORTED : R_HEADER]);
    for (int k = 0; k < L->body_h; k++) {
        int gr = st->grid_top + k, y = L->body_y + k;
        if (gr >= st->n_grid_rows)
            break;
        char lab[16];
        snprintf(lab, sizeof lab, "%d", st->grid_rows[gr]);
        int selrow = gr == st->grid_r;
        put_text(r, y, 0, 1, selrow ? ">" : "", 0, 0, r->attr[R_NORMAL]);
        put_text(r, y, 1, 6, lab, 1, 0, r->attr[selrow ? R_HEADER_SORTED : R_NORMAL]);
        for (int c = 0; c < st->n_grid_mods; c++) {
            long li = st->grid_cell[(size_t)gr * (size_t)st->n_grid_mods + (size_t)c];
            int x = 8 + c * cw, sel = selrow && c == st->grid_c;
            attr_t a = sel ? r->attr[R_SELECTED] : r->attr[R_NORMAL];
            if (li < 0) {
                put_text(r, y, x, cw - 1, G(r, "\u00b7", "."), 1, 0, sel ? a : r->attr[R_DIM]);
                continue;
            }
            const lsc_tui_layer *ly = &st->layers[li];
            char val[32];
            if (ly->nonfinite) {
                put_text(r, y, x, cw - 1, "NaN!", 1, 0, sel ? a : r->attr[R_ERROR]);
                continue;
            }
            double m = st->metric == LSC_METRIC_NORM ? ly->fro : ly->rank;
            if (st->metric == LSC_METRIC_NORM)
                lsc_tui_fmt_num(m, val, sizeof val);
            else
                snprintf(val, sizeof val, "%d", ly->rank);
            int lv = heat_level(m, st->grid_max);
            put_text(r, y, x, cw - 1, val, 1, 0, a);
            if (cw >= 7) { /* two shade glyphs carry the level without colour */
                uint32_t g = lsc_chart_shade(lv, gm);
                attr_t ha = sel ? a : r->attr[R_HEAT1 + (lv > 0 ? lv - 1 : 0)];
                put_glyph(r, y, x, g, ha);
                put_glyph(r, y, x + 1, g, ha);
            }
        }
    }
    /* legend in the header's free space */
    char leg[128];
    int lx = 8 + st->n_grid_mods * cw + 1;
    if (L->cols - lx >= 20) {
        snprintf(leg, sizeof leg, "%s max %.3g", st->metric == LSC_METRIC_NORM ? "fro" : "rank", st->grid_max);
        put_text(r, L->header_y, lx, L->cols - lx, leg, 0, 0, r->attr[R_HEADER]);
        for (int lv = 1; lv <= 4 && L->body_y + lv < L->status_y; lv++) {
            char t[48];
            snprintf(t, sizeof t, " <= %.3g", st->grid_max * lv / 4.0);
            put_glyph(r, L->body_y + lv - 1, lx, lsc_chart_shade(lv, gm), r->attr[R_HEAT1 + lv - 1]);
            put_glyph(r, L->body_y + lv - 1, lx + 1, lsc_chart_shade(lv, gm), r->attr[R_HEAT1 + lv - 1]);
            put_text(r, L->body_y + lv - 1, lx + 2, L->cols - lx - 2, t, 0, 0, r->attr[R_DIM]);
        }
    }
}

static const int k_role_map[LSC_CROLE_COUNT] = {
    [LSC_CROLE_NONE] = R_NORMAL, [LSC_CROLE_AXIS] = R_AXIS, [LSC_CROLE_LABEL] = R_NORMAL,
    [LSC_CROLE_A] = R_SERIES_A,  [LSC_CROLE_B] = R_SERIES_B, [LSC_CROLE_BOTH] = R_BOTH,
    [LSC_CROLE_MARK] = R_MARK,   [LSC_CROLE_DIM] = R_DIM,
};

/* Copy the canvas rectangle to the screen at (y, x). */
static void blit(lsc_tui_render *r, int y, int x)
{
    for (int cy = 0; cy < r->cv.h; cy++) {
        for (int cx = 0; cx < r->cv.w; cx++) {
            const lsc_canvas_cell *c = &r->cv.cells[(size_t)cy * (size_t)r->cv.w + (size_t)cx];
            if (c->cp == ' ' && c->role == LSC_CROLE_NONE)
                continue;
            put_glyph(r, y + cy, x + cx, c->cp, r->attr[k_role_map[c->role]]);
        }
    }
}

static int canvas(lsc_tui_render *r, int w, int h)
{
    if (r->cv.w != w || r->cv.h != h) {
        lsc_canvas_release(&r->cv);
        lsc_error err;
        if (lsc_canvas_init(&r->cv, w, h, &err) != LSC_OK)
            return -1;
    } else {
        lsc_canvas_clear(&r->cv);
    }
    return 0;
}

static void draw_spectrum(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_layout *L = &st->lay;
    if (st->sv_layer >= st->n_layers)
        return;
    const lsc_tui_layer *ly = &st->layers[st->sv_layer];
    char line[512], e[LSC_TUI_NAME_MAX], fro[32], s1[32];
    lsc_tui_fmt_num(ly->fro, fro, sizeof fro);
    lsc_tui_fmt_num(ly->sigma1, s1, sizeof s1);
    snprintf(line, sizeof line, " %s  %lldx%lld  r=%d  alpha=%g  scale=%.4g%s%s", lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)),
             (long long)ly->rows, (long long)ly->cols, ly->rank, ly->alpha, ly->scale,
             (ly->flags & LSC_LAYER_DORA) ? "  DoRA (low-rank part only)" : "",
             ly->nonfinite ? "  NON-FINITE VALUES" : "");
    put_text(r, L->pane_y, 0, L->cols, line, 0, 1, r->attr[ly->nonfinite ? R_ERROR : R_NORMAL]);
    if (ly->nonfinite)
        snprintf(line, sizeof line, " A or B holds NaN/Inf: no spectrum; fix or drop this layer");
    else
        snprintf(line, sizeof line, " fro=%s  sigma1=%s  eff.rank=%.2f  stable.rank=%.2f  k90=%d  k99=%d", fro, s1,
                 ly->effective_rank, ly->stable_rank, ly->k90, ly->k99);
    put_text(r, L->pane_y + 1, 0, L->cols, line, 0, 0, r->attr[R_DIM]);
    int top = L->pane_y + 2, avail = L->pane_h - 2;
    if (avail < 8 || ly->nonfinite)
        return;
    int h1 = avail * 11 / 20, h2 = avail - h1;
    lsc_chart_mode m = r->unicode ? LSC_CHART_BLOCKS : LSC_CHART_ASCII;
    put_text(r, top, 0, L->cols, " singular values (log scale)", 0, 0, r->attr[R_HEADER]);
    if (canvas(r, L->cols - 2, h1 - 1) == 0) {
        lsc_chart_spectrum(&r->cv, (lsc_chart_rect){0, 0, L->cols - 2, h1 - 1}, m, st->sv, st->n_sv, NULL, 0);
        blit(r, top + 1, 1);
    }
    put_text(r, top + h1, 0, L->cols, " cumulative energy", 0, 0, r->attr[R_HEADER]);
    if (canvas(r, L->cols - 2, h2 - 1) == 0) {
        lsc_chart_energy(&r->cv, (lsc_chart_rect){0, 0, L->cols - 2, h2 - 1}, m, st->sv, st->n_sv, ly->k90, ly->k99);
        blit(r, top + h1 + 1, 1);
    }
}

static void draw_diff_pane(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_layout *L = &st->lay;
    int x = L->pane_x, y = L->pane_y, w = L->pane_w, h = L->pane_h;
    if (h < 3 || w < 20)
        return;
    attr_t ha = r->attr[st->diff_focus ? R_HEADER_SORTED : R_HEADER];
    char e1[LSC_TUI_NAME_MAX], e2[LSC_TUI_NAME_MAX], t[600];
    lsc_escape_name(e1, sizeof e1, st->diff_a);
    lsc_escape_name(e2, sizeof e2, st->diff_b);
    if (st->diff_pane == 1) {
        snprintf(t, sizeof t, " only in one side (Tab: chart)");
        put_text(r, y, x, w, t, 0, 0, ha);
        int row = y + 1;
        for (int s = 0; s < 2 && row < y + h; s++) {
            size_t n = s ? st->diff.n_only_b : st->diff.n_only_a;
            const lsc_tui_layer_name *names = s ? st->diff.only_b : st->diff.only_a;
            snprintf(t, sizeof t, "only in %s: %zu", s ? e2 : e1, n);
            put_text(r, row++, x + 1, w - 1, t, 0, 0, r->attr[R_TAGGED]);
            size_t shown = 0;
            int room = (y + h - row) / (s ? 1 : 2);
            for (size_t i = 0; i < n && (int)shown < room - (n > (size_t)room ? 1 : 0) && row < y + h; i++, shown++) {
                char nm[LSC_TUI_NAME_MAX];
                put_text(r, row++, x + 3, w - 3,
                         lsc_escape_name(nm, sizeof nm, lsc_tui_short_name(st, names[i].name)), 0, 1,
                         r->attr[R_NORMAL]);
            }
            if (shown < n && row < y + h) {
                snprintf(t, sizeof t, "... %zu more", n - shown);
                put_text(r, row++, x + 3, w - 3, t, 0, 0, r->attr[R_DIM]);
            }
        }
        return;
    }
    const lsc_tui_list *l = &st->lists[LSC_VIEW_DIFF];
    const char *lname = l->n ? lsc_tui_short_name(st, st->diff.rows[l->order[l->cursor]].name) : "-";
    snprintf(t, sizeof t, " spectra of %s (Tab: only-in lists)", lname);
    put_text(r, y, x, w, t, 0, 1, ha);
    int uni = r->unicode;
    snprintf(t, sizeof t, "%s = %s", uni ? "\u28ff" : "*", e1);
    put_text(r, y + 1, x + 2, w / 2 - 2, t, 0, 0, r->attr[R_SERIES_A]);
    snprintf(t, sizeof t, "%s = %s%s", uni ? "\u28ff" : "o", e2, uni ? " (bold)" : "");
    put_text(r, y + 1, x + w / 2, w - w / 2, t, 0, 0, r->attr[R_SERIES_B]);
    static const double none[1] = {0}; /* a non-NULL second series selects the overlay even when b is empty */
    if (h - 2 >= 4 && canvas(r, w - 1, h - 2) == 0) {
        lsc_chart_spectrum(&r->cv, (lsc_chart_rect){0, 0, w - 1, h - 2}, uni ? LSC_CHART_BRAILLE : LSC_CHART_ASCII,
                           st->sv, st->n_sv, st->sv_b ? st->sv_b : none, st->n_sv_b);
        blit(r, y + 2, x);
    }
}

static void draw_box(lsc_tui_render *r, int y, int x, int h, int w)
{
    attr_t a = r->attr[R_BOX];
    for (int i = 0; i < h; i++)
        put_text(r, y + i, x, w, "", 0, 0, r->attr[R_NORMAL]);
    uint32_t hz = r->unicode ? 0x2500 : '-', vt = r->unicode ? 0x2502 : '|';
    for (int i = 1; i < w - 1; i++) {
        put_glyph(r, y, x + i, hz, a);
        put_glyph(r, y + h - 1, x + i, hz, a);
    }
    for (int i = 1; i < h - 1; i++) {
        put_glyph(r, y + i, x, vt, a);
        put_glyph(r, y + i, x + w - 1, vt, a);
    }
    put_glyph(r, y, x, r->unicode ? 0x250C : '+', a);
    put_glyph(r, y, x + w - 1, r->unicode ? 0x2510 : '+', a);
    put_glyph(r, y + h - 1, x, r->unicode ? 0x2514 : '+', a);
    put_glyph(r, y + h - 1, x + w - 1, r->unicode ? 0x2518 : '+', a);
}

static void draw_help(lsc_tui_render *r, const lsc_tui_state *st)
{
    char lines[64][80];
    lsc_tui_view v = lsc_tui_state_view(st);
    size_t n = lsc_tui_help_lines(v, lines, 64);
    int w = st->lay.cols - 4 < 76 ? st->lay.cols - 4 : 76;
    int h = (int)n + 4 < st->lay.lines - 3 ? (int)n + 4 : st->lay.lines - 3;
    int x = (st->lay.cols - w) / 2, y = 1 + (st->lay.lines - 3 - h) / 2;
    draw_box(r, y, x, h, w);
    char t[96];
    snprintf(t, sizeof t, " keys: %s view ", lsc_tui_view_name(v));
    put_text(r, y, x + 2, (int)strlen(t), t, 0, 0, r->attr[R_HEADER]);
    int room = h - 3;
    size_t top = st->help_top;
    if (n > (size_t)room && top > n - (size_t)room)
        top = n - (size_t)room;
    if (n <= (size_t)room)
        top = 0;
    for (int i = 0; i < room && top + (size_t)i < n; i++)
        put_text(r, y + 1 + i, x + 2, w - 4, lines[top + (size_t)i], 0, 0, r->attr[R_NORMAL]);
    snprintf(t, sizeof t, "%s  ? or Esc closes%s", n > (size_t)room ? "j/k scroll" : "",
             n > (size_t)room ? "" : "  (F-keys work too)");
    put_text(r, y + h - 2, x + 2, w - 4, t, 1, 0, r->attr[R_DIM]);
}

/* Draw segments of text left to right on row y from x, each in its own attribute; returns the end x. */
static int put_seg(lsc_tui_render *r, int y, int x, int xmax, const char *s, attr_t a)
{
    wchar_t wb[MAXW + 2];
    int wid[MAXW + 2], n = decode(r, s, wb, wid, MAXW), tw = 0;
    for (int i = 0; i < n; i++)
        tw += wid[i];
    if (x >= xmax)
        return x;
    int w = tw < xmax - x ? tw : xmax - x;
    put_text(r, y, x, w, s, 0, 0, a);
    return x + w;
}

static void draw_prune(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_prune_panel *P = &st->prune;
    const lsc_tui_layout *L = &st->lay;
    static const char *const small[LSC_TUI_PRUNE_RULE_COUNT] = {"1", "0.01", "0.01", "0.01", "0.5", "1"};
    static const char *const big[LSC_TUI_PRUNE_RULE_COUNT] = {"4", "0.1", "0.1", "0.1", "5", "10"};
    char vt[64], t[LSC_ERROR_MSG_MAX + 64], e[LSC_TUI_NAME_MAX * 4];
    lsc_tui_prune_value_text(st, vt, sizeof vt);
    int x = 0, W = L->cols;
    attr_t val = r->attr[R_TAGGED], lab = r->attr[R_NORMAL];
    x = put_seg(r, 1, x, W, " rule ", lab);
    x = put_seg(r, 1, x, W, lsc_tui_prune_rule_name(P->rule), val);
    x = put_seg(r, 1, x, W, "  threshold ", lab);
    snprintf(t, sizeof t, "--%s %s", lsc_tui_prune_rule_name(P->rule), vt);
    x = put_seg(r, 1, x, W, t, val);
    x = put_seg(r, 1, x, W, "  layers ", lab);
    x = put_seg(r, 1, x, W, P->glob[0] ? lsc_escape_name(e, sizeof e, P->glob) : "all", val);
    snprintf(t, sizeof t, "   %s%s  PgUp/PgDn %s%s", G(r, "\u2190/\u2192 \u00b1", "Left/Right +-"), small[P->rule],
             G(r, "\u00b1", "+-"), big[P->rule]);
    put_seg(r, 1, x, W, t, r->attr[R_DIM]);
    if (!P->ok) {
        snprintf(t, sizeof t, "error: %s", P->error);
        put_text(r, 2, 0, W, t, 0, 0, r->attr[R_ERROR]);
    } else {
        char c1[32], c2[32], b1[32], b2[32], nf[64] = "";
        const char *arrow = G(r, "\u2192", "->");
        lsc_tui_fmt_count(P->tot.params_before, c1, sizeof c1);
        lsc_tui_fmt_count(P->tot.params_after, c2, sizeof c2);
        lsc_tui_fmt_bytes(P->tot.bytes_before, b1, sizeof b1);
        lsc_tui_fmt_bytes(P->tot.bytes_after, b2, sizeof b2);
        if (P->tot.n_nonfinite)
            snprintf(nf, sizeof nf, "  %zu NaN/Inf kept", P->tot.n_nonfinite);
        snprintf(t, sizeof t, " %zu/%zu cut  params %s %s %s  size %s %s %s  max err ", P->tot.n_cut, P->tot.n_chosen,
                 c1, arrow, c2, b1, arrow, b2);
        x = put_seg(r, 2, 0, W, t, r->attr[R_NORMAL]);
        char me[32];
        lsc_tui_fmt_num(P->tot.max_rel_error, me, sizeof me);
        x = put_seg(r, 2, x, W, me, val);
        put_seg(r, 2, x, W, nf, r->attr[R_WARN]);
    }
    int tw = L->pane_x ? L->pane_x - 1 : L->cols;
    draw_table(r, st, LSC_VIEW_PRUNE, 0, tw, 1);
    if (L->pane_h <= 0)
        return;
    if (L->pane_x)
        for (int y = L->pane_y; y < L->pane_y + L->pane_h; y++)
            put_glyph(r, y, L->pane_x - 1, r->unicode ? 0x2502 : '|', r->attr[R_DIM]);
    const lsc_tui_list *l = &st->lists[LSC_VIEW_PRUNE];
    if (!l->n || P->sv_row < 0 || (size_t)P->sv_row >= P->n_rows) {
        put_text(r, L->pane_y, L->pane_x, L->pane_w, " spectrum", 0, 0, r->attr[R_HEADER]);
        return;
    }
    const lsc_tui_prune_row *row = &P->rows[P->sv_row];
    size_t k = row->chosen ? (size_t)row->rank_after : P->n_sv;
    if (row->nonfinite)
        snprintf(t, sizeof t, " %s: NaN/Inf, left unchanged", lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, row->name)));
    else if (!row->chosen)
        snprintf(t, sizeof t, " %s: not chosen (--layers), kept", lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, row->name)));
    else
        snprintf(t, sizeof t, " %s: keep %zu of %zu", lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, row->name)), k,
                 P->n_sv);
    put_text(r, L->pane_y, L->pane_x, L->pane_w, t, 0, 1, r->attr[R_HEADER]);
    int ch = L->pane_h - 1, cw = L->pane_w - (L->pane_x ? 1 : 2);
    if (ch >= 4 && cw >= 12 && canvas(r, cw, ch) == 0) {
        lsc_chart_rect rc = {0, 0, cw, ch};
        lsc_chart_mode m = r->unicode ? LSC_CHART_BLOCKS : LSC_CHART_ASCII;
        lsc_chart_spectrum(&r->cv, rc, m, P->sv, P->n_sv, NULL, 0);
        lsc_chart_cut(&r->cv, rc, m, P->n_sv, k);
        blit(r, L->pane_y + 1, L->pane_x + (L->pane_x ? 0 : 1));
    }
}

static void draw_merge(lsc_tui_render *r, const lsc_tui_state *st)
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
    if (!M->ok) {
        snprintf(t, sizeof t, "error: %s", M->error);
        put_text(r, y, 0, L->cols, t, 0, 0, r->attr[R_ERROR]);
    } else {
        char c1[32], me[32];
        lsc_tui_fmt_count(M->tot.params, c1, sizeof c1);
        lsc_tui_fmt_num(M->tot.max_rel_error, me, sizeof me);
        if (ew)
            snprintf(t, sizeof t, " %zu layers  params %s  error computed when run (one dense layer at a time)", M->n_rows, c1);
        else
            snprintf(t, sizeof t, " %zu layers  params %s  largest relative error %s", M->n_rows, c1, me);
        put_text(r, y, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    }
    draw_table(r, st, LSC_VIEW_MERGE, 0, L->cols, 0);
}

/* ---- the kind panel ----------------------------------------------------------------------------------- */

/* A horizontal bar of w cells: frac of it filled, a mark (target) at mark_frac when >= 0. */
static void put_bar(lsc_tui_render *r, int y, int x, int w, double frac, double mark_frac, attr_t a)
{
    if (w <= 0)
        return;
    int fill = (int)lround((frac > 1 ? 1 : frac < 0 ? 0 : frac) * w);
    int mark = mark_frac >= 0 ? (int)lround((mark_frac > 1 ? 1 : mark_frac) * w) - 1 : -1;
    for (int i = 0; i < w; i++) {
        if (i == mark)
            put_glyph(r, y, x + i, r->unicode ? 0x2503 : '|', r->attr[R_MARK]);
        else if (i < fill)
            put_glyph(r, y, x + i, r->unicode ? 0x2588 : '#', a);
        else
            put_glyph(r, y, x + i, r->unicode ? 0x2591 : '.', r->attr[R_DIM]);
    }
}

static void kind_row_attr(lsc_tui_render *r, const lsc_tui_state *st, size_t row, int y, int x, int w, attr_t *a)
{
    int sel = row == st->kind.cursor;
    *a = sel ? r->attr[R_SELECTED] : r->attr[R_NORMAL];
    put_text(r, y, x, w, "", 0, 0, *a);
    put_text(r, y, x, 1, sel ? ">" : "", 0, 0, *a);
}

static void draw_kind_dynamic(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_kind_figures *k = &K->kf;
    const lsc_tui_layout *L = &st->lay;
    char t[600], e[LSC_TUI_NAME_MAX * 4], n1[32];
    snprintf(t, sizeof t, " DyLoRA: error of each prefix rank b (scale alpha/b) against the best rank-b truncation; %zu layers, b up to %d",
             k->n_layers, k->n_b);
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    if (K->widest_layer < k->n_layers) {
        lsc_tui_fmt_num(K->widest_gap, n1, sizeof n1);
        snprintf(t, sizeof t, " widest gap: %s at b=%d (%s)",
                 lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, k->layers[K->widest_layer].name)), K->widest_b, n1);
    } else {
        snprintf(t, sizeof t, " no gap: every prefix is as good as the best truncation");
    }
    put_text(r, 2, 0, L->cols, t, 0, 1, r->attr[R_TAGGED]);
    /* the chart of the row under the cursor */
    const double *pe = k->mean_prefix_err, *be = k->mean_best_err;
    size_t n = (size_t)k->n_b;
    const char *what = "mean over the layers";
    if (K->cursor > 0 && K->cursor - 1 < k->n_layers) {
        const lsc_tui_kind_layer *ly = &k->layers[K->cursor - 1];
        pe = k->prefix_err + ly->off;
        be = k->best_err + ly->off;
        n = (size_t)ly->rank;
        what = lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name));
    }
    int uni = r->unicode;
    snprintf(t, sizeof t, " %s  %s prefix  %s best  y %s (m)", what, uni ? "\u28ff" : "*", uni ? "\u28ff" : "o",
             K->alt ? "linear" : "log");
    put_text(r, L->pane_y, L->pane_x, L->pane_w, t, 0, 1, r->attr[R_HEADER]);
    int ch = L->pane_h - 1, cw = L->pane_w - 1;
    if (ch >= 4 && cw >= 12 && canvas(r, cw, ch) == 0) {
        lsc_chart_lines(&r->cv, (lsc_chart_rect){0, 0, cw, ch}, uni ? LSC_CHART_BRAILLE : LSC_CHART_ASCII, NULL, pe, be, n,
                        0, NAN, !K->alt);
        blit(r, L->pane_y + 1, L->pane_x);
    }
    if (L->pane_x)
        for (int y = L->pane_y; y < L->pane_y + L->pane_h; y++)
            put_glyph(r, y, L->pane_x - 1, uni ? 0x2502 : '|', r->attr[R_DIM]);
    /* the layers */
    int tw = L->pane_x ? L->pane_x - 1 : L->cols, nw = tw - 2 - 20;
    put_text(r, L->header_y, 0, tw, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2, nw, "layer", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw, 4, "r", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 4, 16, "widest gap at b", 1, 0, r->attr[R_HEADER]);
    size_t rows = k->n_layers + 1;
    for (int i = 0; i < L->body_h && K->top + (size_t)i < rows; i++) {
        size_t row = K->top + (size_t)i;
        int y = L->body_y + i;
        attr_t a;
        kind_row_attr(r, st, row, y, 0, tw, &a);
        if (row == 0) {
            put_text(r, y, 2, nw, "all layers (mean)", 0, 0, a);
            snprintf(t, sizeof t, "%d", k->n_b);
            put_text(r, y, 2 + nw, 4, t, 1, 0, a);
            continue;
        }
        const lsc_tui_kind_layer *ly = &k->layers[row - 1];
        double g = 0;
        int gb = 0;
        for (int j = 0; j < ly->rank; j++) {
            double d = k->prefix_err[ly->off + (size_t)j] - k->best_err[ly->off + (size_t)j];
            if (d > g)
                g = d, gb = j + 1;
        }
        put_text(r, y, 2, nw, lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)), 0, 1, a);
        snprintf(t, sizeof t, "%d", ly->rank);
        put_text(r, y, 2 + nw, 4, t, 1, 0, a);
        lsc_tui_fmt_num(g, n1, sizeof n1);
        snprintf(t, sizeof t, gb ? "%s at %d" : "-", n1, gb);
        put_text(r, y, 2 + nw + 4, 16, t, 1, 0, a);
    }
}

static void draw_kind_adaptive(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_kind_figures *k = &K->kf;
    const lsc_tui_layout *L = &st->lay;
    char t[600], e[LSC_TUI_NAME_MAX * 4], n1[32], n2[32];
    double lmin = INFINITY, lmax = 0;
    for (size_t i = 0; i < k->n_layers; i++) {
        if (isfinite(k->layers[i].lambda_min) && k->layers[i].lambda_min < lmin)
            lmin = k->layers[i].lambda_min;
        if (isfinite(k->layers[i].lambda_max) && k->layers[i].lambda_max > lmax)
            lmax = k->layers[i].lambda_max;
    }
    snprintf(t, sizeof t, " AdaLoRA: budget %lld of %lld triplets kept (target_r %d per layer, from init_r %d)",
             (long long)k->budget, (long long)k->target_budget, k->target_r, k->init_r);
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_TAGGED]);
    lsc_tui_fmt_num(isfinite(lmin) ? lmin : NAN, n1, sizeof n1);
    lsc_tui_fmt_num(lmax, n2, sizeof n2);
    snprintf(t, sizeof t, " |%s| over all layers %s .. %s   bars: kept of init_r, %s = target_r%s", r->unicode ? "\u039b" : "L",
             n1, n2, r->unicode ? "\u2503" : "|",
             k->budget > k->target_budget ? "   over the global budget" : "");
    put_text(r, 2, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    int bw = L->cols >= 120 ? 36 : 16, nw = L->cols - 2 - 8 - bw - 2 - 20;
    put_text(r, L->header_y, 0, L->cols, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2, nw, "layer", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw, 8, "kept", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 9, bw, "budget", 0, 0, r->attr[R_HEADER]);
    snprintf(t, sizeof t, "|%s| min", r->unicode ? "\u039b" : "L");
    put_text(r, L->header_y, 2 + nw + 10 + bw, 9, t, 1, 0, r->attr[R_HEADER]);
    snprintf(t, sizeof t, "max");
    put_text(r, L->header_y, 2 + nw + 10 + bw + 10, 9, t, 1, 0, r->attr[R_HEADER]);
    int init = k->init_r > 0 ? k->init_r : 1;
    for (int i = 0; i < L->body_h && K->top + (size_t)i < k->n_layers; i++) {
        size_t row = K->top + (size_t)i;
        const lsc_tui_kind_layer *ly = &k->layers[row];
        int y = L->body_y + i;
        attr_t a;
        kind_row_attr(r, st, row, y, 0, L->cols, &a);
        put_text(r, y, 2, nw, lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)), 0, 1, a);
        snprintf(t, sizeof t, "%d/%d", ly->kept, k->init_r);
        put_text(r, y, 2 + nw, 8, t, 1, 0, a);
        put_bar(r, y, 2 + nw + 9, bw, (double)ly->kept / init, k->target_r > 0 ? (double)k->target_r / init : -1,
                row == K->cursor ? a : r->attr[R_SERIES_A]);
        lsc_tui_fmt_num(ly->lambda_min, n1, sizeof n1);
        lsc_tui_fmt_num(ly->lambda_max, n2, sizeof n2);
        put_text(r, y, 2 + nw + 10 + bw, 9, n1, 1, 0, a);
        put_text(r, y, 2 + nw + 10 + bw + 10, 9, n2, 1, 0, a);
    }
}

static void draw_kind_sparse(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_kind_figures *k = &K->kf;
    const lsc_tui_layout *L = &st->lay;
    char t[600], e[LSC_TUI_NAME_MAX * 4];
    snprintf(t, sizeof t, " SoRA: %lld of %lld rank directions live (%.1f%% of the gates closed)", (long long)k->live_gates,
             (long long)k->rank_total,
             k->rank_total ? 100.0 * (double)(k->rank_total - k->live_gates) / (double)k->rank_total : 0.0);
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_TAGGED]);
    put_text(r, 2, 0, L->cols, " bars: live gates of the layer's rank; zeros: exact zeros in A and B", 0, 0, r->attr[R_NORMAL]);
    int tw = L->pane_x ? L->pane_x - 1 : L->cols, bw = tw >= 70 ? 16 : 8, nw = tw - 2 - 6 - bw - 2 - 14;
    put_text(r, L->header_y, 0, tw, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2, nw, "layer", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw, 6, "gates", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 7, bw, "live", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 8 + bw, 6, "0s A", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 15 + bw, 6, "0s B", 1, 0, r->attr[R_HEADER]);
    for (int i = 0; i < L->body_h && K->top + (size_t)i < k->n_layers; i++) {
        size_t row = K->top + (size_t)i;
        const lsc_tui_kind_layer *ly = &k->layers[row];
        int y = L->body_y + i;
        attr_t a;
        kind_row_attr(r, st, row, y, 0, tw, &a);
        put_text(r, y, 2, nw, lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)), 0, 1, a);
        snprintf(t, sizeof t, "%d/%d", ly->kept, ly->rank);
        put_text(r, y, 2 + nw, 6, t, 1, 0, a);
        put_bar(r, y, 2 + nw + 7, bw, ly->rank ? (double)ly->kept / ly->rank : 0, -1,
                row == K->cursor ? a : r->attr[R_SERIES_A]);
        snprintf(t, sizeof t, "%.1f%%", 100 * ly->zeros_a);
        put_text(r, y, 2 + nw + 8 + bw, 6, t, 1, 0, a);
        snprintf(t, sizeof t, "%.1f%%", 100 * ly->zeros_b);
        put_text(r, y, 2 + nw + 15 + bw, 6, t, 1, 0, a);
    }
    /* the magnitude histogram */
    if (L->pane_x)
        for (int y = L->pane_y; y < L->pane_y + L->pane_h; y++)
            put_glyph(r, y, L->pane_x - 1, r->unicode ? 0x2502 : '|', r->attr[R_DIM]);
    int64_t total = 0, peak = 1;
    size_t a0 = 0, a1 = 0;
    for (size_t i = 0; i < k->n_hist; i++) {
        total += k->hist[i];
        peak = k->hist[i] > peak ? k->hist[i] : peak;
    }
    for (a0 = 0; a0 < k->n_hist && !k->hist[a0]; a0++)
        ;
    for (a1 = k->n_hist; a1 > a0 && !k->hist[a1 - 1]; a1--)
        ;
    snprintf(t, sizeof t, " |A|, |B| entries by magnitude (%lld)", (long long)total);
    put_text(r, L->pane_y, L->pane_x, L->pane_w, t, 0, 0, r->attr[R_HEADER]);
    int hb = L->pane_w - 16 - 10 - 1;
    for (size_t i = a0, y = (size_t)L->pane_y + 1; i < a1 && y < (size_t)(L->pane_y + L->pane_h); i++, y++) {
        char lab[32], cnt[32];
        int last = (int)k->n_hist - 1;
        if (i == 0)
            snprintf(lab, sizeof lab, "0 or < 1e%d", k->hist_lo_exp);
        else if ((int)i == last)
            snprintf(lab, sizeof lab, ">= 1e%d", k->hist_lo_exp + last - 1);
        else
            snprintf(lab, sizeof lab, "1e%d..1e%d", k->hist_lo_exp + (int)i - 1, k->hist_lo_exp + (int)i);
        snprintf(cnt, sizeof cnt, "%lld", (long long)k->hist[i]);
        put_text(r, (int)y, L->pane_x + 1, 15, lab, 1, 0, r->attr[R_NORMAL]);
        put_text(r, (int)y, L->pane_x + 17, 9, cnt, 1, 0, r->attr[R_NORMAL]);
        int w = (int)lround((double)hb * (double)k->hist[i] / (double)peak);
        for (int x = 0; x < w; x++)
            put_glyph(r, (int)y, L->pane_x + 27 + x, r->unicode ? 0x2588 : '#', r->attr[R_SERIES_B]);
    }
}

static int heat_level(double x, double mx);

static void draw_kind_layerwise(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_kind_figures *k = &K->kf;
    const lsc_tui_layout *L = &st->lay;
    lsc_chart_mode gm = r->unicode ? LSC_CHART_BLOCKS : LSC_CHART_ASCII;
    size_t cells = (size_t)k->n_blocks * (size_t)k->n_modules;
    double mx = 0;
    for (size_t c = 0; c < cells; c++) {
        double v = K->alt ? k->share_grid[c] : k->rank_grid[c];
        mx = v > mx ? v : mx;
    }
    char t[400];
    snprintf(t, sizeof t, " layer-wise: %s per layer x module (m: %s); . = not adapted", K->alt ? "share of the adapter's energy" : "rank",
             K->alt ? "rank" : "energy share");
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_TAGGED]);
    snprintf(t, sizeof t, " %d blocks x %d modules, heat up to %s%.3g%s", k->n_blocks, k->n_modules, K->alt ? "" : "r=",
             K->alt ? 100 * mx : mx, K->alt ? "%" : "");
    put_text(r, 2, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    int n = k->n_modules ? k->n_modules : 1, cw = (L->cols - 8) / n;
    cw = cw > 12 ? 12 : cw < 4 ? 4 : cw;
    put_text(r, L->header_y, 0, L->cols, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 0, 7, "layer", 1, 0, r->attr[R_HEADER]);
    for (int c = 0; c < k->n_modules; c++)
        put_text(r, L->header_y, 8 + c * cw, cw - 1, k->modules[c], 1, 0, r->attr[R_HEADER]);
    for (int i = 0; i < L->body_h && K->top + (size_t)i < (size_t)k->n_blocks; i++) {
        size_t b = K->top + (size_t)i;
        int y = L->body_y + i, sel = b == K->cursor;
        snprintf(t, sizeof t, "%zu", b);
        put_text(r, y, 0, 1, sel ? ">" : "", 0, 0, r->attr[R_NORMAL]);
        put_text(r, y, 1, 6, t, 1, 0, r->attr[sel ? R_SELECTED : R_NORMAL]);
        for (int c = 0; c < k->n_modules; c++) {
            size_t ci = b * (size_t)k->n_modules + (size_t)c;
            int x = 8 + c * cw;
            if (!k->rank_grid[ci]) {
                put_text(r, y, x, cw - 1, ".", 1, 0, r->attr[R_DIM]);
                continue;
            }
            double v = K->alt ? k->share_grid[ci] : k->rank_grid[ci];
            if (K->alt)
                snprintf(t, sizeof t, "%.1f%%", 100 * v);
            else
                snprintf(t, sizeof t, "%d", k->rank_grid[ci]);
            int lv = heat_level(v, mx);
            put_text(r, y, x, cw - 1, t, 1, 0, r->attr[sel ? R_SELECTED : R_NORMAL]);
            if (cw >= 8) {
                uint32_t g = lsc_chart_shade(lv, gm);
                put_glyph(r, y, x, g, r->attr[R_HEAT1 + (lv > 0 ? lv - 1 : 0)]);
                put_glyph(r, y, x + 1, g, r->attr[R_HEAT1 + (lv > 0 ? lv - 1 : 0)]);
            }
        }
    }
}

/* One task x task matrix at (y, x): a header of task names, then a row per task; cells carry a shade of
 * |cosine| and the value. Returns the width used. */
static int draw_matrix(lsc_tui_render *r, const lsc_tui_kind_figures *k, const double *m, int y, int x, int w,
                       const char *title)
{
    lsc_chart_mode gm = r->unicode ? LSC_CHART_BLOCKS : LSC_CHART_ASCII;
    int nt = k->n_tasks, cw = 9, lw = 11;
    int need = lw + nt * cw;
    if (need > w)
        cw = nt ? (w - lw) / nt : cw;
    if (cw < 6)
        return 0;
    put_text(r, y, x, lw + nt * cw, title, 0, 1, r->attr[R_TAGGED]);
    y++;
    put_text(r, y, x, lw + nt * cw, "", 0, 0, r->attr[R_HEADER]);
    for (int b = 0; b < nt; b++)
        put_text(r, y, x + lw + b * cw, cw - 1, k->tasks[b].task, 1, 0, r->attr[R_HEADER]);
    for (int a = 0; a < nt; a++) {
        put_text(r, y + 1 + a, x, lw - 1, k->tasks[a].task, 1, 0, r->attr[R_NORMAL]);
        for (int b = 0; b < nt; b++) {
            double c = m[a * nt + b];
            char t[32];
            snprintf(t, sizeof t, "%+.3f", c);
            int lv = heat_level(fabs(c), 1.0);
            put_text(r, y + 1 + a, x + lw + b * cw, cw - 1, t, 1, 0, r->attr[a == b ? R_DIM : R_NORMAL]);
            put_glyph(r, y + 1 + a, x + lw + b * cw, lsc_chart_shade(lv, gm), r->attr[R_HEAT1 + (lv > 0 ? lv - 1 : 0)]);
        }
    }
    return lw + nt * cw;
}

static void draw_kind_multitask(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_kind_figures *k = &K->kf;
    const lsc_tui_layout *L = &st->lay;
    char t[800], e[LSC_TUI_NAME_MAX * 4];
    snprintf(t, sizeof t, " multi-task: %d tasks, %zu layers in every task; task x task cosines; A stored once in %d; shared input directions >= %d per layer",
             k->n_tasks, k->n_layers, k->shared_a_layers, k->shared_dim_min);
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_TAGGED]);
    size_t len = (size_t)snprintf(t, sizeof t, " norms:");
    for (int a = 0; a < k->n_tasks && len < sizeof t; a++) {
        char n1[32];
        lsc_tui_fmt_num(k->task_norms[a], n1, sizeof n1);
        len += (size_t)snprintf(t + len, sizeof t - len, "  %s %s", k->tasks[a].task, n1);
    }
    put_text(r, 2, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    int used = draw_matrix(r, k, k->task_cosine, L->pane_y, 1, L->cols / 2 - 2, "all layers");
    if (K->cursor > 0 && K->cursor - 1 < k->n_layers) {
        const lsc_tui_kind_layer *ly = &k->layers[K->cursor - 1];
        char title[LSC_TUI_NAME_MAX * 4 + 16];
        snprintf(title, sizeof title, "%s", lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)));
        int x = used ? used + 4 : 1;
        draw_matrix(r, k, k->cosine + ly->off, L->pane_y, x, L->cols - x - 1, title);
    } else if (used && L->cols - used - 4 > 20) {
        put_text(r, L->pane_y + 1, used + 4, L->cols - used - 5, "j/k: a layer's own matrix", 0, 0, r->attr[R_DIM]);
    }
    int nw = L->cols - 2 - 30;
    put_text(r, L->header_y, 0, L->cols, "", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2, nw, "layer (in every task)", 0, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw, 9, "shared A", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 10, 9, "shared in", 1, 0, r->attr[R_HEADER]);
    put_text(r, L->header_y, 2 + nw + 20, 9, "max |cos|", 1, 0, r->attr[R_HEADER]);
    size_t nn = (size_t)k->n_tasks * (size_t)k->n_tasks;
    for (int i = 0; i < L->body_h && K->top + (size_t)i < k->n_layers + 1; i++) {
        size_t row = K->top + (size_t)i;
        int y = L->body_y + i;
        attr_t a;
        kind_row_attr(r, st, row, y, 0, L->cols, &a);
        const double *m = row ? k->cosine + k->layers[row - 1].off : k->task_cosine;
        double mc = 0;
        for (size_t q = 0; q < nn; q++)
            if (q / (size_t)k->n_tasks != q % (size_t)k->n_tasks && fabs(m[q]) > mc)
                mc = fabs(m[q]);
        snprintf(t, sizeof t, "%.4f", mc);
        put_text(r, y, 2 + nw + 20, 9, t, 1, 0, a);
        if (!row) {
            put_text(r, y, 2, nw, "all layers", 0, 0, a);
            snprintf(t, sizeof t, "%d", k->shared_a_layers);
            put_text(r, y, 2 + nw, 9, t, 1, 0, a);
            snprintf(t, sizeof t, ">= %d", k->shared_dim_min);
            put_text(r, y, 2 + nw + 10, 9, t, 1, 0, a);
            continue;
        }
        const lsc_tui_kind_layer *ly = &k->layers[row - 1];
        put_text(r, y, 2, nw, lsc_escape_name(e, sizeof e, lsc_tui_short_name(st, ly->name)), 0, 1, a);
        put_text(r, y, 2 + nw, 9, ly->shared_a ? "yes" : "no", 1, 0, a);
        snprintf(t, sizeof t, "%d", ly->shared_dim);
        put_text(r, y, 2 + nw + 10, 9, t, 1, 0, a);
    }
}

static void draw_kind_static(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    const lsc_tui_layout *L = &st->lay;
    char t[300];
    snprintf(t, sizeof t, " %s adapter: nothing particular to its kind - every layer is a plain B A at its rank",
             K->kf.kind[0] ? K->kf.kind : "static");
    put_text(r, 1, 0, L->cols, t, 0, 0, r->attr[R_TAGGED]);
    put_text(r, 2, 0, L->cols, " layers by rank:", 0, 0, r->attr[R_NORMAL]);
    int peak = 1;
    for (int i = 0; i < K->n_ranks; i++)
        peak = K->rank_count[i] > peak ? K->rank_count[i] : peak;
    int bw = L->cols - 20;
    for (int i = 0; i < K->n_ranks && 3 + i < L->status_y; i++) {
        snprintf(t, sizeof t, "r=%d", K->ranks[i]);
        put_text(r, 3 + i, 2, 7, t, 1, 0, r->attr[R_NORMAL]);
        snprintf(t, sizeof t, "%d", K->rank_count[i]);
        put_text(r, 3 + i, 10, 6, t, 1, 0, r->attr[R_NORMAL]);
        int w = (int)lround((double)bw * K->rank_count[i] / peak);
        for (int x = 0; x < w; x++)
            put_glyph(r, 3 + i, 17 + x, r->unicode ? 0x2588 : '#', r->attr[R_SERIES_A]);
    }
}

static void draw_kind(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_kind_panel *K = &st->kind;
    if (!K->ok) {
        char t[LSC_ERROR_MSG_MAX + 16];
        snprintf(t, sizeof t, "error: %s", K->error);
        put_text(r, 1, 0, st->lay.cols, t, 0, 0, r->attr[R_ERROR]);
        return;
    }
    const char *k = K->kf.kind;
    if (strcmp(k, "dynamic") == 0)
        draw_kind_dynamic(r, st);
    else if (strcmp(k, "adaptive") == 0)
        draw_kind_adaptive(r, st);
    else if (strcmp(k, "sparse") == 0)
        draw_kind_sparse(r, st);
    else if (strcmp(k, "layer-wise") == 0)
        draw_kind_layerwise(r, st);
    else if (strcmp(k, "multi-task") == 0)
        draw_kind_multitask(r, st);
    else
        draw_kind_static(r, st);
}

/* ---- the retrain panel -------------------------------------------------------------------------------- */

static void draw_retrain(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_retrain_panel *R = &st->retrain;
    const lsc_tui_layout *L = &st->lay;
    static const char *const labels[LSC_RT_FIELD_COUNT] = {"target", "kind", "rank", "steps", "lr", "init", "seed",
                                                           "final-rank", "lambda"};
    const char *own_kind = "static";
    for (size_t i = 0; i < st->n_adapters; i++)
        if (strcmp(st->adapters[i].name, R->adapter) == 0)
            own_kind = st->adapters[i].kind;
    for (int f = 0; f < LSC_RT_FIELD_COUNT; f++) {
        int y = 1 + f, sel = f == R->field, unused = 0;
        char val[LSC_TUI_NAME_MAX + 32], hint[300];
        lsc_tui_retrain_field_text(st, f, val, sizeof val);
        switch (f) {
        case LSC_RT_TARGET: snprintf(hint, sizeof hint, "the adapter to reproduce: Left/Right the tagged, then all; e types"); break;
        case LSC_RT_KIND: snprintf(hint, sizeof hint, "the training rule (default from '%s': %s)", R->adapter, own_kind); break;
        case LSC_RT_RANK: snprintf(hint, sizeof hint, "trainable rank (own: each layer's)"); break;
        case LSC_RT_STEPS: snprintf(hint, sizeof hint, "Adam steps, warm-up 5%% then cosine decay"); break;
        case LSC_RT_LR: snprintf(hint, sizeof hint, "peak learning rate"); break;
        case LSC_RT_INIT: snprintf(hint, sizeof hint, "self: the factors cut or padded; svd: the exact optimum; random"); break;
        case LSC_RT_SEED: snprintf(hint, sizeof hint, "same seed, same bytes"); break;
        case LSC_RT_FINAL_RANK:
            unused = R->kind != 2;
            snprintf(hint, sizeof hint, "%s", unused ? "adaptive only" : "the per-layer budget it ends at");
            break;
        default:
            unused = R->kind != 3;
            snprintf(hint, sizeof hint, "%s", unused ? "sparse only" : "L1 step on the gates");
            break;
        }
        attr_t a = sel ? r->attr[R_SELECTED] : unused ? r->attr[R_DIM] : r->attr[R_TAGGED];
        put_text(r, y, 0, 2, sel ? ">" : "", 0, 0, a);
        put_text(r, y, 2, 11, labels[f], 0, 0, sel ? a : r->attr[R_NORMAL]);
        put_text(r, y, 13, 26, val, 0, 1, a);
        put_text(r, y, 40, L->cols - 40, hint, 0, 0, r->attr[R_DIM]);
    }
    int y = 1 + LSC_RT_FIELD_COUNT;
    char t[900], e[LSC_TUI_NAME_MAX * 4];
    const lsc_tui_train_point *last = R->n_pts ? &R->pts[R->n_pts - 1] : NULL;
    if (st->job && st->job_kind == LSC_JOB_RETRAIN) {
        if (last) {
            char eta[32] = "";
            if (isfinite(last->eta))
                snprintf(eta, sizeof eta, "  ETA %d:%02d", (int)last->eta / 60, (int)last->eta % 60);
            snprintf(t, sizeof t, " %s step %ld/%ld  loss %.4g  x%.3f of the optimum  lr %.2e%s%s",
                     R->paused ? "PAUSED" : "running", last->step, last->steps, last->loss,
                     last->optimum > 0 ? last->loss / last->optimum : NAN, last->lr, eta,
                     R->paused ? "  (p resumes)" : "");
        } else {
            snprintf(t, sizeof t, " %s: starting (reading the factors, the target's optimum)", R->paused ? "PAUSED" : "running");
        }
        put_text(r, y, 0, L->cols, t, 0, 0, r->attr[R->paused ? R_WARN : R_INFO]);
    } else if (R->ran && last) {
        snprintf(t, sizeof t, " last run into '%s': step %ld/%ld, loss %.4g (x%.3f of the optimum %.4g)",
                 lsc_escape_name(e, sizeof e, R->new_name), last->step, last->steps, last->loss,
                 last->optimum > 0 ? last->loss / last->optimum : NAN, last->optimum);
        put_text(r, y, 0, L->cols, t, 0, 0, r->attr[R_NORMAL]);
    } else {
        lsc_tui_argv a;
        char nm[LSC_TUI_NAME_MAX + 16];
        snprintf(nm, sizeof nm, "%s-retrained", R->adapter);
        lsc_tui_retrain_argv(st, nm, &a);
        size_t len = (size_t)snprintf(t, sizeof t, " Enter runs:");
        for (int i = 0; i < a.argc && len < sizeof t; i++)
            len += (size_t)snprintf(t + len, sizeof t - len, " %s", lsc_escape_name(e, sizeof e, a.argv[i]));
        put_text(r, y, 0, L->cols, t, 0, 0, r->attr[R_DIM]);
    }
    if (L->pane_h < 5)
        return;
    snprintf(t, sizeof t, " loss against step (log y; dashed: the optimum the rank allows)");
    put_text(r, L->pane_y, 0, L->cols, t, 0, 0, r->attr[R_HEADER]);
    int ch = L->pane_h - 1, cw = L->cols - 2;
    if (canvas(r, cw, ch) != 0)
        return;
    if (!R->n_pts) {
        lsc_canvas_text(&r->cv, 8, ch / 2, R->ran || st->job ? "waiting for the first report" : "no run yet: Enter starts one",
                        LSC_CROLE_LABEL);
        blit(r, L->pane_y + 1, 1);
        return;
    }
    double xs[LSC_TUI_TRAIN_POINTS], ys[LSC_TUI_TRAIN_POINTS];
    for (size_t i = 0; i < R->n_pts; i++) {
        xs[i] = (double)R->pts[i].step;
        ys[i] = R->pts[i].loss;
    }
    lsc_chart_lines(&r->cv, (lsc_chart_rect){0, 0, cw, ch}, r->unicode ? LSC_CHART_BRAILLE : LSC_CHART_ASCII, xs, ys,
                    NULL, R->n_pts, (double)last->steps, last->optimum, 1);
    blit(r, L->pane_y + 1, 1);
}

/* Split text into lines of at most w columns at spaces (bytes ~ columns: the texts are ASCII-ish). */
static int wrap(const char *s, int w, char (*out)[200], int cap)
{
    int n = 0;
    while (*s && n < cap) {
        while (*s == ' ')
            s++;
        int len = (int)strlen(s);
        if (len <= w) {
            snprintf(out[n++], 200, "%s", s);
            break;
        }
        int cut = w;
        while (cut > 0 && s[cut] != ' ')
            cut--;
        if (cut == 0)
            cut = w;
        snprintf(out[n++], 200, "%.*s", cut, s);
        s += cut;
    }
    return n;
}

static void draw_confirm(lsc_tui_render *r, const lsc_tui_state *st)
{
    const lsc_tui_confirm *c = &st->confirm;
    int w = st->lay.cols - 4 < 76 ? st->lay.cols - 4 : 76;
    char q[6][200], d[6][200];
    int nq = wrap(c->question, w - 4, q, 3), nd = wrap(c->detail, w - 4, d, 4);
    int h = nq + nd + 4;
    int x = (st->lay.cols - w) / 2, y = 1 + (st->lay.lines - 3 - h) / 2;
    draw_box(r, y, x, h, w);
    put_text(r, y, x + 2, 9, " confirm ", 0, 0, r->attr[R_HEADER]);
    for (int i = 0; i < nq; i++)
        put_text(r, y + 1 + i, x + 2, w - 4, q[i], 0, 0, r->attr[R_TAGGED]);
    for (int i = 0; i < nd; i++)
        put_text(r, y + 1 + nq + i, x + 2, w - 4, d[i], 0, 0, r->attr[R_NORMAL]);
    put_text(r, y + h - 2, x + 2, w - 4, "y yes     n, Enter or Esc: no (the default)", 0, 0, r->attr[R_DIM]);
    put_text(r, y + h - 2, x + 2, 1, "y", 0, 0, r->attr[R_SELECTED]);
}

static void draw_too_small(lsc_tui_render *r, const lsc_tui_state *st)
{
    char t[3][64];
    snprintf(t[0], sizeof t[0], "terminal too small");
    snprintf(t[1], sizeof t[1], "need %dx%d", LSC_TUI_MIN_COLS, LSC_TUI_MIN_LINES);
    snprintf(t[2], sizeof t[2], "have %dx%d", st->lay.cols, st->lay.lines);
    int y0 = st->lay.lines / 2 - 1;
    if (y0 < 0)
        y0 = 0;
    for (int i = 0; i < 3 && y0 + i < st->lay.lines; i++) {
        int len = (int)strlen(t[i]), x = (st->lay.cols - len) / 2;
        if (x < 0)
            x = 0;
        put_text(r, y0 + i, x, st->lay.cols - x, t[i], 0, 0, r->attr[i == 0 ? R_WARN : R_NORMAL]);
    }
}

void lsc_tui_render_draw(lsc_tui_render *r, const lsc_tui_state *st)
{
    set_term(r->scr);
    r->last = st;
    erase();
    if (st->lay.too_small || st->lay.lines != LINES || st->lay.cols != COLS) {
        if (st->lay.too_small)
            draw_too_small(r, st);
        curs_set(0);
        refresh();
        return;
    }
    lsc_tui_view v = lsc_tui_state_view(st);
    draw_title(r, st);
    switch (v) {
    case LSC_VIEW_GRID: draw_grid(r, st); break;
    case LSC_VIEW_SPECTRUM: draw_spectrum(r, st); break;
    case LSC_VIEW_PRUNE: draw_prune(r, st); break;
    case LSC_VIEW_MERGE: draw_merge(r, st); break;
    case LSC_VIEW_KIND: draw_kind(r, st); break;
    case LSC_VIEW_RETRAIN: draw_retrain(r, st); break;
    case LSC_VIEW_DIFF: {
        int tw = st->lay.pane_x ? st->lay.pane_x - 1 : st->lay.cols;
        draw_table(r, st, v, 0, tw, !st->diff_focus);
        if (st->lay.pane_x) /* a vertical rule between the panes */
            for (int y = st->lay.pane_y; y < st->lay.pane_y + st->lay.pane_h; y++)
                put_glyph(r, y, st->lay.pane_x - 1, r->unicode ? 0x2502 : '|', r->attr[R_DIM]);
        draw_diff_pane(r, st);
        break;
    }
    default: draw_table(r, st, v, 0, st->lay.cols, 1); break;
    }
    if (st->confirm.open)
        draw_confirm(r, st);
    if (st->help)
        draw_help(r, st);
    draw_fkeys(r, st);
    draw_status(r, st);
    refresh();
}

void lsc_tui_render_busy(void *ctx, const char *what)
{
    lsc_tui_render *r = ctx;
    if (!r || !r->last || r->last->lay.too_small)
        return;
    set_term(r->scr);
    char t[300];
    snprintf(t, sizeof t, "%s %s (Ctrl-C cancels)", G(r, "\u231b", "..."), what);
    put_text(r, r->last->lay.status_y, 0, r->last->lay.cols, t, 0, 0, r->attr[R_WARN]);
    refresh();
}

/* ---- input ----------------------------------------------------------------------------------------- */

int lsc_tui_render_getkey(lsc_tui_render *r, int timeout_ms, int *my, int *mx, int *button)
{
    set_term(r->scr);
    timeout(timeout_ms);
    wint_t wc;
    int rc = get_wch(&wc);
    if (rc == ERR)
        return 0;
    if (rc == OK)
        return (int)wc == 127 || (int)wc == 8 ? LSC_KEY_BACKSPACE : (int)wc;
    switch (wc) {
    case KEY_UP: return LSC_KEY_UP;
    case KEY_DOWN: return LSC_KEY_DOWN;
    case KEY_LEFT: return LSC_KEY_LEFT;
    case KEY_RIGHT: return LSC_KEY_RIGHT;
    case KEY_PPAGE: return LSC_KEY_PGUP;
    case KEY_NPAGE: return LSC_KEY_PGDN;
    case KEY_HOME: return LSC_KEY_HOME;
    case KEY_END: return LSC_KEY_END;
    case KEY_BACKSPACE: return LSC_KEY_BACKSPACE;
    case KEY_DC: return LSC_KEY_DELETE;
    case KEY_ENTER: return LSC_KEY_ENTER;
    case KEY_RESIZE: return LSC_KEY_RESIZE;
    case KEY_BTAB: return LSC_KEY_TAB;
    case KEY_SLEFT: return LSC_KEY_SLEFT;
    case KEY_SRIGHT: return LSC_KEY_SRIGHT;
    case KEY_MOUSE: {
        MEVENT ev;
        if (getmouse(&ev) != OK)
            return 0;
        *my = ev.y;
        *mx = ev.x;
        *button = (ev.bstate & BUTTON4_PRESSED) ? 4 : (ev.bstate & BUTTON5_PRESSED) ? 5
                  : (ev.bstate & BUTTON1_PRESSED) ? 1 : 0;
        return *button ? -1 : 0;
    }
    default:
        if (wc >= KEY_F(1) && wc <= KEY_F(24))
            return LSC_KEY_F((int)(wc - KEY_F0));
        return 0;
    }
}

/* ---- dump ------------------------------------------------------------------------------------------ */

char *lsc_tui_render_dump(lsc_tui_render *r, int attrs)
{
    set_term(r->scr);
    size_t cap = (size_t)LINES * ((size_t)COLS * 8 + 4) + 1, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (int y = 0; y < LINES; y++) {
        size_t line_start = len, last = len;
        char al[1024];
        int alen = 0, alast = 0;
        for (int x = 0; x < COLS; x++) {
            cchar_t cc;
            wchar_t wch[CCHARW_MAX + 1];
            attr_t a;
            short pair;
            if (mvin_wch(y, x, &cc) == ERR || getcchar(&cc, wch, &a, &pair, NULL) == ERR) {
                wch[0] = L' ';
                a = 0;
            }
            if (wch[0] == 0)
                continue;
            char mb[MB_LEN_MAX];
            mbstate_t st;
            memset(&st, 0, sizeof st);
            size_t k = wcrtomb(mb, wch[0], &st);
            if (k == (size_t)-1) {
                mb[0] = '?';
                k = 1;
            }
            memcpy(out + len, mb, k);
            len += k;
            if (wch[0] != L' ')
                last = len;
            if (x < (int)sizeof al - 1) {
                char c = (a & A_REVERSE) ? ((a & A_BOLD) ? 'R' : 'r') : (a & A_BOLD) ? 'b' : (a & A_UNDERLINE) ? 'u' : '.';
                al[alen++] = c;
                if (c != '.')
                    alast = alen;
            }
        }
        (void)line_start;
        len = last;
        out[len++] = '\n';
        if (attrs) {
            out[len++] = '|';
            memcpy(out + len, al, (size_t)alast);
            len += (size_t)alast;
            out[len++] = '\n';
        }
    }
    out[len] = '\0';
    return out;
}
