/* render.c: the workbench on screen — with the render_<view>.c files, the only code of lorascope that
 * includes curses (through render_int.h).
 *
 * Draws what state.c holds (never changes it) and translates curses input into LSC_KEY_* codes. Geometry
 * comes from the state's layout (st->lay), so drawing, paging and mouse hits agree. Every visible mark has
 * a non-colour form: '>' and reverse for the selection, '*' and bold for tags, shade glyphs for heat,
 * text prefixes for warnings and errors. Never depends on the catalog or the engine.
 *
 * The drawing protocol: this file owns the renderer's lifecycle, the theme, the frame (title bar with the
 * breadcrumb, status line, bottom key bar, the help overlay and the confirmation box over any view) and the
 * primitives every view draws with (text, glyphs, the list table, the chart canvas; render_int.h). Each
 * view's body is drawn by the `draw` entry of its ops table (view.h): a function of render_<view>.c
 * (render_layers.c, render_grid.c, render_spectrum.c, render_diff.c, render_prune.c, render_merge.c,
 * render_kind.c, render_retrain.c) declared in view.h with the renderer as an incomplete type, so the view
 * modules name it without including curses. A view whose draw is NULL (catalog, tasks, history, output) is
 * its list drawn as a full-width table. A new view's drawing goes in a new render_<view>.c.
 */
#define NCURSES_WIDECHAR 1
#include "render_int.h"

#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <wchar.h>

#include "keys.h"

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
            [R_DIM] = {COLOR_BLUE, -1},              [R_KEY_MOVE] = {COLOR_CYAN, -1},
            [R_KEY_EDIT] = {COLOR_YELLOW, -1},       [R_KEY_GLOBAL] = {COLOR_GREEN, -1},
            [R_INFO] = {COLOR_GREEN, -1},
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
        a[R_KEY_MOVE] |= A_BOLD;
        a[R_KEY_EDIT] |= A_BOLD;
        a[R_KEY_GLOBAL] |= A_BOLD;
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
        a[R_KEY_MOVE] = A_BOLD; /* without colour: keys bold, a key that leads to a change underlined */
        a[R_KEY_EDIT] = A_UNDERLINE;
        a[R_KEY_GLOBAL] = A_BOLD;
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


/* Decode UTF-8 into wide characters (ASCII mode: one '?' per non-ASCII sequence). Returns the count. */
int decode(const lsc_tui_render *r, const char *s, wchar_t *w, int *wid, int cap)
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

/* Keep the first (w-1)/2 columns and the last w-1-(w-1)/2 of the n characters in wb/wid (total columns
 * `total` > w) with an ellipsis between them; returns the new count (the tail keeps the odd column). */
static int cut_middle(wchar_t *wb, int *wid, int n, int w, wchar_t ell)
{
    int head_w = (w - 1) / 2, tail_w = w - 1 - head_w, head = 0, used = 0, tail = n;
    /* keep the head through the first number and the character after it ("model.layers.12."): what tells
     * the blocks apart, so the name typed back with the ellipsis as '*' still picks its own row; unless
     * that would leave the tail fewer than 8 columns */
    int ds = 0;
    while (ds < n && !(wb[ds] >= L'0' && wb[ds] <= L'9'))
        ds++;
    int de = ds;
    while (de < n && wb[de] >= L'0' && wb[de] <= L'9')
        de++;
    if (ds < n && de < n)
        de++;
    if (ds < n && de > head_w && de <= w - 1 - 8) {
        head_w = de;
        tail_w = w - 1 - de;
    }
    while (head < n && used + wid[head] <= head_w)
        used += wid[head++];
    used = 0;
    while (tail > head && used + wid[tail - 1] <= tail_w)
        used += wid[--tail];
    memmove(wb + head + 1, wb + tail, (size_t)(n - tail) * sizeof *wb);
    memmove(wid + head + 1, wid + tail, (size_t)(n - tail) * sizeof *wid);
    wb[head] = ell;
    wid[head] = 1;
    return head + 1 + (n - tail);
}

/* Draw s in [x, x+w) of row y: right-aligned or left, truncated with an ellipsis where `trunc` says
 * (TRUNC_END, TRUNC_START: an input line keeps its end, TRUNC_MIDDLE: names keep both ends), padded with
 * blanks in attribute a. */
void put_text(lsc_tui_render *r, int y, int x, int w, const char *s, int right, int trunc, attr_t a)
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
    if (total > w && trunc == TRUNC_MIDDLE && w >= 3) {
        end = cut_middle(wb, wid, n, w, ell);
        total = 0;
        for (int i = 0; i < end; i++)
            total += wid[i];
    } else if (total > w) {
        if (trunc == TRUNC_START) {
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

void put_glyph(lsc_tui_render *r, int y, int x, uint32_t cp, attr_t a)
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

const char *G(const lsc_tui_render *r, const char *uni, const char *ascii) { return r->unicode ? uni : ascii; }

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

/* Blank the screen before leaving it: a terminal that does not restore the screen the workbench was
 * started from (or, like tmux after a resize, restores it with the workbench's rows in it) must not
 * leave the last frame printed in the shell. */
static void leave_blank(const lsc_tui_render *r)
{
    if (r->headless)
        return;
    erase();
    clearok(stdscr, TRUE);
    refresh();
}

void lsc_tui_render_end(lsc_tui_render *r)
{
    if (!r)
        return;
    set_term(r->scr);
    if (!isendwin()) {
        leave_blank(r);
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
    if (v == LSC_VIEW_GRID) { /* the heat's name gives way to the figures job's progress while it runs */
        snprintf(buf, cap, "layer %d, %s%s%s", st->grid.n_rows ? st->grid.rows[st->grid.r] : 0,
                 st->grid.n_mods ? st->grid.mods[st->grid.c] : "-", lsc_tui_vsbase_running(st) ? "" : "  heat: ",
                 lsc_tui_vsbase_running(st) ? "" : lsc_tui_grid_metric_name(st, 0));
        return;
    }
    if (v == LSC_VIEW_SPECTRUM) {
        const lsc_tui_list *ll = &st->lists[LSC_VIEW_LAYERS];
        snprintf(buf, cap, "layer %zu/%zu  %zu singular values", ll->n ? ll->cursor + 1 : 0, ll->n, st->spectrum.transient.n_sv);
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
    if (v == LSC_VIEW_LAYERS && st->layers.group && len < cap)
        snprintf(buf + len, cap - len, "  grouped");
}

/* "⌛ WHAT [bar] N% M:SS left - TAIL" when the layers are counted (total > 0; a bar of width cells, at most
 * 20; no ETA once cancelling),
 * "⌛ WHAT Ns - TAIL" otherwise. */
static void progress_text(lsc_tui_render *r, char *t, size_t cap, const char *what, int width, long done, long total,
                          double elapsed, int cancelling, const char *tail)
{
    char bar[64] = "", eta[32] = "";
    if (total > 0) {
        int fill = (int)(width * done / total);
        size_t bl = 0;
        for (int i = 0; i < width; i++)
            bl += (size_t)snprintf(bar + bl, sizeof bar - bl, "%s", i < fill ? G(r, "\u2588", "#") : G(r, "\u2591", "."));
        if (done > 0 && !cancelling) {
            double left = elapsed / (double)done * (double)(total - done);
            snprintf(eta, sizeof eta, "  %d:%02d left", (int)left / 60, (int)left % 60);
        }
        snprintf(t, cap, "%s %s [%s] %ld%%%s - %s", G(r, "\u231b", "..."), what, bar, 100 * done / total, eta, tail);
    } else {
        snprintf(t, cap, "%s %s  %.0fs - %s", G(r, "\u231b", "..."), what, elapsed, tail);
    }
}

/* The columns s takes on the screen. */
static int text_width(lsc_tui_render *r, const char *s)
{
    wchar_t wb[MAXW + 2];
    int wid[MAXW + 2], n = decode(r, s, wb, wid, MAXW), tw = 0;
    for (int i = 0; i < n; i++)
        tw += wid[i];
    return tw;
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
        char t[700];
        progress_text(r, t, sizeof t, st->job_what[0] ? st->job_what : st->job_title, 20, st->job_done, st->job_total,
                      st->job_elapsed, st->job_cancelling, st->job_cancelling ? "cancelling, rolling back" : "Esc cancels");
        curs_set(0);
        put_text(r, y, 0, w, t, 0, 0, r->attr[R_WARN]);
        return;
    }
    if (st->prompt.mode != LSC_INPUT_NONE) {
        const char *lead = st->prompt.mode == LSC_INPUT_PROMPT ? ":" : st->prompt.mode == LSC_INPUT_SEARCH ? "/"
                           : st->prompt.mode == LSC_INPUT_FILTER ? "filter (glob): " : st->prompt.label;
        char line[400];
        snprintf(line, sizeof line, "%s%s", lead, st->prompt.buf);
        if (st->prompt.mode == LSC_INPUT_NAME || st->prompt.mode == LSC_INPUT_FILE || st->prompt.mode == LSC_INPUT_VALUE ||
            st->prompt.mode == LSC_INPUT_GLOB) { /* these lines are a question: mark them as such without colour */
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
    const lsc_tui_vsbase *vb = &st->vsbase;
    if (lsc_tui_vsbase_running(st) && st->msg_level == LSC_MSG_INFO) {
        /* the figures job beside the browsing: its progress, unless a warning or an error has to be read */
        char what[LSC_TUI_NAME_MAX + 16]; /* short: the row position stays on the right */
        snprintf(what, sizeof what, "%s of %s", vb->job_norms ? "|dW|/|W|" : "vs base", vb->target);
        progress_text(r, msg, sizeof msg, what, 10, vb->done, vb->total, vb->elapsed, vb->cancelling,
                      vb->cancelling ? "cancelling" : "^C cancels");
        if (text_width(r, msg) > w - pw) /* the cancel key before the ETA */
            progress_text(r, msg, sizeof msg, what, 10, vb->done, vb->total, vb->elapsed, 1,
                          vb->cancelling ? "cancelling" : "^C cancels");
        a = r->attr[R_WARN];
    } else if (!st->msg[0] && v == LSC_VIEW_GRID && lsc_tui_grid_rel_pending(st, msg, sizeof msg)) {
        /* the heat by |dW|/|W| without its figures: how to compute them, until something else is said */
    } else if (st->msg_level == LSC_MSG_ERROR) {
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

/* The bottom key bar: each entry's key in the colour of its role, its label plain. */
static void draw_keybar(lsc_tui_render *r, const lsc_tui_state *st)
{
    lsc_tui_bar_item it[32];
    int n = lsc_tui_bar(lsc_tui_state_view(st), lsc_tui_bar_context(st), st->lay.cols, r->unicode, it, 32);
    int y = st->lay.keys_y;
    if (st->prompt.mode == LSC_INPUT_PROMPT && st->prompt.said && st->msg[0]) {
        /* the status line holds the line being typed: Tab's candidates take the bar's place until the
         * next key */
        int a = st->msg_level == LSC_MSG_ERROR ? R_ERROR : st->msg_level == LSC_MSG_WARN ? R_WARN : R_INFO;
        put_text(r, y, 0, st->lay.cols, st->msg, 0, 0, r->attr[a]);
        return;
    }
    static const int role_attr[] = {[LSC_BAR_ROLE_MOVE] = R_KEY_MOVE, [LSC_BAR_ROLE_EDIT] = R_KEY_EDIT,
                                    [LSC_BAR_ROLE_GLOBAL] = R_KEY_GLOBAL};
    put_text(r, y, 0, st->lay.cols, "", 0, 0, r->attr[R_NORMAL]);
    for (int i = 0; i < n; i++) {
        put_text(r, y, it[i].x, it[i].key_width, it[i].key_text, 0, 0, r->attr[role_attr[it[i].role]]);
        put_text(r, y, it[i].x + it[i].key_width + 1, it[i].width - it[i].key_width - 1, it[i].label, 0, 0,
                 r->attr[R_NORMAL]);
    }
}

/* Column header and rows of a table view in [x0, x0 + width). */
void draw_table(lsc_tui_render *r, const lsc_tui_state *st, lsc_tui_view v, int x0, int width, int focused)
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
        int bad = (v == LSC_VIEW_LAYERS && st->layers.rows[di].nonfinite) || (v == LSC_VIEW_PRUNE && st->prune.transient.rows[di].nonfinite);
        int undone = (v == LSC_VIEW_HISTORY && st->history.rows[di].undone) ||
                     (v == LSC_VIEW_PRUNE && !st->prune.transient.rows[di].chosen && !bad);
        attr_t a = sel ? r->attr[focused ? R_SELECTED : R_SELECTED_DIM]
                       : tag ? r->attr[R_TAGGED] : bad ? r->attr[R_WARN] : undone ? r->attr[R_DIM] : r->attr[R_NORMAL];
        put_text(r, y, x0, width, "", 0, 0, a);
        put_text(r, y, x0, 1, sel ? ">" : "", 0, 0, a);
        put_text(r, y, x0 + 1, 1, tag ? "*" : "", 0, 0, a);
        for (int i = 0; i < L->n_colpos; i++) {
            const lsc_tui_colpos *cp = &L->colpos[i];
            char cell[1024];
            lsc_tui_cell_text(st, v, row, cp->col, cell, sizeof cell);
            int trunc = cp->col == LSC_COL_NAME || cp->col == LSC_COL_ADAPTER || cp->col == LSC_COL_TASK
                            ? TRUNC_MIDDLE : TRUNC_END;
            put_text(r, y, x0 + cp->x, cp->width, cell, lsc_tui_col_info(cp->col)->right, trunc, a);
        }
    }
}

int heat_level(double x, double mx)
{
    if (!(mx > 0) || !(x > 0))
        return 0;
    int lv = (int)ceil(x / mx * 4.0);
    return lv < 1 ? 1 : lv > 4 ? 4 : lv;
}


static const int k_role_map[LSC_CROLE_COUNT] = {
    [LSC_CROLE_NONE] = R_NORMAL, [LSC_CROLE_AXIS] = R_AXIS, [LSC_CROLE_LABEL] = R_NORMAL,
    [LSC_CROLE_A] = R_SERIES_A,  [LSC_CROLE_B] = R_SERIES_B, [LSC_CROLE_BOTH] = R_BOTH,
    [LSC_CROLE_MARK] = R_MARK,   [LSC_CROLE_DIM] = R_DIM,
};

/* Copy the canvas rectangle to the screen at (y, x). */
void blit(lsc_tui_render *r, int y, int x)
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

int canvas(lsc_tui_render *r, int w, int h)
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
    size_t top = st->help.top;
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
    const lsc_tui_view_ops *o = lsc_tui_view_ops_of(v);
    if (o->draw)
        o->draw(r, st);
    else
        draw_table(r, st, v, 0, st->lay.cols, 1);
    if (st->confirm.open)
        draw_confirm(r, st);
    if (st->help.open)
        draw_help(r, st);
    draw_keybar(r, st);
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
