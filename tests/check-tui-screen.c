/* check-tui-screen.c: the workbench drawn headless (curses on files at a fixed size) against golden
 * screen dumps in tests/tui/, plus the ASCII-only and monochrome guarantees.
 *
 * Each case feeds a key script through the same routing the main loop uses (lsc_tui_state_key) and dumps
 * stdscr. LSC_TUI_UPDATE_GOLDEN=1 rewrites the goldens instead of comparing. The fake model has a fixed
 * seed and fixed times, the locale is C.UTF-8 and TZ=UTC, so dumps are byte-identical run to run.
 */
#include <check.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chart.h"
#include "keys.h"
#include "layername.h"
#include "tui_fake_model.h"
#include "render.h"
#include "state.h"
#include "view.h"

#define SEED 20240101u

typedef struct screen {
    lsc_tui_model model;
    lsc_tui_state *st;
    lsc_tui_render *r;
    FILE *out, *in;
} screen;

/* setkind: NULL or "ADAPTER=KIND" (the fake model's test hook), applied before the state opens. */
static void screen_open_kind(screen *s, int lines, int cols, int no_color, int ascii, const char *setkind)
{
    lsc_error err = {0};
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(lsc_tui_model_fake_init(&s->model, SEED, &err), LSC_OK);
    if (setkind) {
        char name[128];
        const char *eq = strchr(setkind, '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq - setkind), setkind);
        ck_assert_int_eq(lsc_tui_model_fake_set_kind(&s->model, name, eq + 1, &err), LSC_OK);
    }
    s->out = fopen("/dev/null", "w");
    s->in = fopen("/dev/null", "r");
    ck_assert_ptr_nonnull(s->out);
    ck_assert_ptr_nonnull(s->in);
    lsc_tui_render_opts ro = {.no_color = no_color, .ascii = ascii, .no_mouse = 1, .headless = 1,
                              .lines = lines, .cols = cols};
    char why[256];
    s->r = lsc_tui_render_begin(&ro, s->out, s->in, why, sizeof why);
    ck_assert_msg(s->r != NULL, "%s", why);
    int l, c;
    lsc_tui_render_size(s->r, &l, &c);
    ck_assert_int_eq(l, lines);
    ck_assert_int_eq(c, cols);
    ck_assert_int_eq(lsc_tui_state_new(&s->model, NULL, lines, cols, &s->st, &err), LSC_OK);
}

static void screen_open(screen *s, int lines, int cols, int no_color, int ascii)
{
    screen_open_kind(s, lines, cols, no_color, ascii, NULL);
}

static void screen_close(screen *s)
{
    lsc_tui_render_end(s->r);
    lsc_tui_state_free(s->st);
    lsc_tui_model_release(&s->model);
    fclose(s->out);
    fclose(s->in);
}

/* Poll (5 s at most) until the fake's job reached the layer it is held at. */
static void wait_until_held(screen *s, long at)
{
    for (int i = 0; i < 5000 && s->st->vsbase.done < at; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        lsc_tui_state_poll(s->st);
    }
    ck_assert_int_eq(s->st->vsbase.done, at);
}

/* Let the fake's held job run to its end (polling as the loop does, 5 s at most) and draw the screen. */
static void release_and_draw(screen *s)
{
    lsc_tui_model_fake_hold(&s->model, -1);
    for (int i = 0; i < 5000 && lsc_tui_state_working(s->st); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        lsc_tui_state_poll(s->st);
    }
    lsc_tui_render_draw(s->r, s->st);
}

/* Feed a script of key words ("j", "Enter", "Space", "F1" ...); "resize:LxC" resizes. */
static void feed(screen *s, const char *script)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", script);
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        int l, c;
        if (sscanf(w, "resize:%dx%d", &l, &c) == 2) {
            ck_assert_int_eq(lsc_tui_render_resize(s->r, l, c), 0);
            lsc_tui_state_resize(s->st, l, c);
            continue;
        }
        if (strncmp(w, "text:", 5) == 0) { /* type into the input line */
            for (const char *p = w + 5; *p; p++)
                lsc_tui_state_key(s->st, *p == '_' ? ' ' : (unsigned char)*p);
            continue;
        }
        int k = lsc_tui_key_parse(w);
        ck_assert_msg(k >= 0, "bad key word '%s'", w);
        lsc_tui_state_key(s->st, k);
    }
    lsc_tui_render_draw(s->r, s->st);
}

static char *golden_path(const char *name, char *buf, size_t cap)
{
    /* LSC_TEST_DATA is <source>/tests/data: the goldens live beside it in <source>/tests/tui */
    const char *data = getenv("LSC_TEST_DATA");
    char dir[900];
    snprintf(dir, sizeof dir, "%s", data ? data : "tests/data");
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    snprintf(buf, cap, "%s/tui/%s.txt", dir, name);
    return buf;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n] = '\0';
    fclose(f);
    return b;
}

/* Compare the dump with tests/tui/<name>.txt (or rewrite it under LSC_TUI_UPDATE_GOLDEN=1). */
static void check_golden(screen *s, const char *name)
{
    char path[1024];
    golden_path(name, path, sizeof path);
    char *dump = lsc_tui_render_dump(s->r, 0);
    ck_assert_ptr_nonnull(dump);
    const char *upd = getenv("LSC_TUI_UPDATE_GOLDEN");
    if (upd && strcmp(upd, "1") == 0) {
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot write '%s'", path);
        fputs(dump, f);
        fclose(f);
        free(dump);
        return;
    }
    char *want = slurp(path);
    ck_assert_msg(want != NULL, "missing golden '%s' (run with LSC_TUI_UPDATE_GOLDEN=1)", path);
    if (strcmp(want, dump) != 0) {
        /* locate the first differing line for the message, keep the actual screen for inspection */
        int line = 1;
        const char *a = want, *b = dump;
        while (*a && *a == *b) {
            if (*a == '\n')
                line++;
            a++, b++;
        }
        const char *bd = getenv("LSC_BUILD");
        char apath[1024];
        snprintf(apath, sizeof apath, "%s/tui-%s.actual", bd ? bd : ".", name);
        FILE *f = fopen(apath, "wb");
        if (f) {
            fputs(dump, f);
            fclose(f);
        }
        free(want);
        free(dump);
        ck_abort_msg("screen '%s' differs from its golden at line %d (actual in %s)", name, line, apath);
    }
    free(want);
    free(dump);
}

typedef struct golden_case {
    const char *name;
    const char *script;
    const char *setkind; /* "ADAPTER=KIND" or NULL */
    int hold;            /* > 0: run the script's command on the worker thread, held after this many steps */
} golden_case;

static const golden_case k_cases[] = {
    {"catalog", "", NULL, 0},
    {"layers", "Enter j j", NULL, 0},
    {"layers-sorted", "Enter > > > > > > > r", NULL, 0},            /* by fro, ascending */
    {"grid", "Enter v j j l", NULL, 0},
    {"spectrum", "Enter j Enter", NULL, 0},
    {"diff", "Space j d j", NULL, 0},
    {"diff-only", "Space j j d Tab", NULL, 0},
    {"help", "Enter ?", NULL, 0},
    {"history", "H", NULL, 0},
    {"filter", "Enter f text:down Enter", NULL, 0},
    {"prompt", "Enter : text:echo_hello", NULL, 0},
    {"prune", "Enter p Right", NULL, 0},                                 /* energy 0.91, table (and chart when wide) */
    {"prune-spectrum", "Enter j Enter p Tab", NULL, 0},                  /* opened on a spectrum: the cut on the chart */
    {"prune-confirm", "Enter p Enter Enter", NULL, 0},                   /* the question, No by default */
    {"merge", "Space Space m Right Right", NULL, 0},                     /* svd at rank 16 with exact errors */
    {"merge-ties", "Space Space m = ^U text:ties Enter j j", NULL, 0},   /* element-wise: errors when run */
    {"kind-static", "Enter K", NULL, 0},                                 /* the note and the rank histogram */
    {"kind-dynamic", "j Enter K j", "llama2-7b-code=dynamic", 0},  /* a layer's prefix curve against the best */
    {"kind-adaptive", "G Enter K j", NULL, 0},                           /* budget bars, target_r marked */
    {"kind-sparse", "j Enter K", "llama2-7b-code=sparse", 0},      /* gates and the magnitude histogram */
    {"kind-layerwise", "j Enter K o", "llama2-7b-code=layer-wise", 0}, /* the grid by energy share */
    {"kind-multitask", "Enter K j", "llama2-7b-chat=multi-task", 0},   /* overall and one layer's cosines */
    {"kind-loha", "j Enter K j", "llama2-7b-code=loha", 0},        /* the two pairs' spectra and the product's */
    {"kind-lokr", "j Enter K", "llama2-7b-code=lokr", 0},          /* Kronecker shapes, both factors' spectra */
    {"tasks", "Enter", "llama2-7b-chat=multi-task", 0},            /* Enter on a multi-task adapter: its tasks */
    {"retrain", "j Space g Enter R j", NULL, 0},                         /* the panel, idle */
    {"retrain-running", "j Space g Enter R Enter Enter y", NULL, 5}, /* five steps reported */
    {"series", "Enter", "llama2-7b-chat=series", 0},               /* norm of the first layer, final step */
    {"series-step", "Enter j o o o o h h", "llama2-7b-chat=series", 0}, /* sim. to previous, step 600 */
    {"series-mean", "Enter f text:*.v* Enter a o h", "llama2-7b-chat=series", 0}, /* mean sigma1 of v_proj */
    {"audit", "a", NULL, 0},                                             /* sorted by savings */
    {"grid-base", "Enter v o o b", NULL, 0},                           /* heat by |dW|/|W|: b computed it */
    {"grid-base-pending", "Enter v o o j", NULL, 0},                   /* not computed yet: how to */
    {"vsbase", "Enter j j b", NULL, 0},                                  /* the figures job ran: columns, panel */
    {"vsbase-changed", "j Enter b", NULL, 0},                            /* the base changed on disk: the fix */
};

static const int k_sizes[2][2] = {{24, 80}, {43, 132}};

START_TEST(test_goldens)
{
    const golden_case *gc = &k_cases[_i / 2];
    const int *sz = k_sizes[_i % 2];
    screen s;
    screen_open_kind(&s, sz[0], sz[1], 0, 0, gc->setkind);
    if (gc->hold > 0) {
        s.st->async = 1;
        lsc_tui_model_fake_hold(&s.model, gc->hold);
    }
    feed(&s, gc->script);
    for (int i = 0; gc->hold > 0 && i < 5000 && s.st->retrain.n_pts < (size_t)gc->hold; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        lsc_tui_state_poll(s.st);
    }
    if (gc->hold > 0) {
        ck_assert_uint_eq(s.st->retrain.n_pts, (size_t)gc->hold);
        lsc_tui_render_draw(s.r, s.st);
    }
    char name[128];
    snprintf(name, sizeof name, "%s-%dx%d", gc->name, sz[1], sz[0]);
    check_golden(&s, name);
    screen_close(&s);
}
END_TEST

START_TEST(test_too_small)
{
    screen s;
    screen_open(&s, 24, 80, 0, 0);
    feed(&s, "Enter resize:5x20");
    check_golden(&s, "too-small-20x5");
    char *d = lsc_tui_render_dump(s.r, 0);
    ck_assert_ptr_nonnull(strstr(d, "too small"));
    ck_assert_ptr_nonnull(strstr(d, "need 60x15"));
    free(d);
    /* and back: the layer table returns, cursor kept */
    feed(&s, "resize:24x80");
    d = lsc_tui_render_dump(s.r, 0);
    ck_assert_ptr_null(strstr(d, "too small"));
    ck_assert_ptr_nonnull(strstr(d, "model.layers.0")); /* cut in the middle at 80 columns */
    ck_assert_ptr_nonnull(strstr(d, "q_proj"));
    free(d);
    screen_close(&s);
}
END_TEST

static const char *const k_ascii_scripts[] = {
    "", "Enter", "Enter v", "Enter Enter", "Space j d", "Space j d Tab", "Enter ?", "H", "Enter > > > > > > > r",
    "Enter p Right", "Enter Enter p", "Enter p Enter Enter", "Space Space m Right Right", "Enter p ?",
};

START_TEST(test_ascii_only)
{
    screen s;
    screen_open(&s, _i % 2 ? 43 : 24, _i % 2 ? 132 : 80, 0, 1);
    ck_assert_int_eq(lsc_tui_render_unicode(s.r), 0);
    feed(&s, k_ascii_scripts[_i / 2]);
    char *d = lsc_tui_render_dump(s.r, 0);
    ck_assert_ptr_nonnull(d);
    for (const unsigned char *p = (const unsigned char *)d; *p; p++)
        ck_assert_msg(*p < 0x80, "non-ASCII byte 0x%02x in ASCII mode (script '%s') at offset %ld", *p,
                      k_ascii_scripts[_i / 2], (long)(p - (const unsigned char *)d));
    free(d);
    screen_close(&s);
}
END_TEST

START_TEST(test_ascii_spectrum_golden)
{
    screen s;
    screen_open(&s, 24, 80, 1, 1);
    feed(&s, "Enter Enter");
    check_golden(&s, "spectrum-ascii-80x24");
    screen_close(&s);
}
END_TEST

/* The series chart in ASCII, monochrome: '*' the curve, 'o' the selected step, ':' its mark; only ASCII. */
START_TEST(test_ascii_series_golden)
{
    screen s;
    screen_open_kind(&s, 24, 80, 1, 1, "llama2-7b-chat=series");
    feed(&s, "Enter o h h");
    check_golden(&s, "series-ascii-80x24");
    char *d = lsc_tui_render_dump(s.r, 0);
    for (const unsigned char *p = (const unsigned char *)d; *p; p++)
        ck_assert_msg(*p < 0x80, "non-ASCII byte 0x%02x in the ASCII series view", *p);
    free(d);
    screen_close(&s);
}
END_TEST

/* The row under the cursor must be visible without colour: '>' in column 0 and reverse video. */
START_TEST(test_mono_selection)
{
    screen s;
    screen_open(&s, 24, 80, 1, 0);
    feed(&s, "Enter j j");
    char *d = lsc_tui_render_dump(s.r, 1);
    ck_assert_ptr_nonnull(d);
    /* find the row starting with '>' and check its attribute line */
    char *p = strstr(d, "\n>");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(strstr(p + 1, "attn.v_proj")); /* the name is cut in the middle at 80 columns */
    char *attr = strchr(p + 1, '\n');
    ck_assert_ptr_nonnull(attr);
    ck_assert_int_eq(attr[1], '|');
    for (int x = 0; x < 40; x++)
        ck_assert_msg(attr[2 + x] == 'r' || attr[2 + x] == 'R', "column %d of the selection is not reverse", x);
    /* exactly one selected row */
    ck_assert_ptr_null(strstr(p + 2, "\n>"));
    free(d);
    /* tags without colour: '*' in column 1 and bold */
    feed(&s, "Space");
    d = lsc_tui_render_dump(s.r, 1);
    char *t = strstr(d, "\n *");
    ck_assert_ptr_nonnull(t);
    char *ta = strchr(t + 1, '\n');
    ck_assert_int_eq(ta[2 + 5], 'b');
    free(d);
    screen_close(&s);
}
END_TEST

/* The key bar and the help overlay come from the one binding table. */
START_TEST(test_help_from_table)
{
    screen s;
    screen_open(&s, 43, 132, 0, 0);
    feed(&s, "Enter ?");
    char *d = lsc_tui_render_dump(s.r, 0);
    char lines[64][80];
    size_t n = lsc_tui_help_lines(LSC_VIEW_LAYERS, lines, 64);
    ck_assert_uint_gt(n, 10);
    for (size_t i = 0; i < n; i++) {
        char *e = lines[i] + strlen(lines[i]);
        while (e > lines[i] && e[-1] == ' ')
            *--e = '\0';
        ck_assert_msg(strstr(d, lines[i]) != NULL, "help line '%s' not on screen", lines[i]);
    }
    ck_assert_ptr_nonnull(strstr(d, "j k scroll  ? close  Esc close")); /* the overlay's own keys */
    free(d);
    feed(&s, "Esc");
    d = lsc_tui_render_dump(s.r, 0);
    ck_assert_ptr_null(strstr(d, "keys: layers view"));
    ck_assert_ptr_nonnull(strstr(d, "Enter spectrum  v grid  p prune"));
    free(d);
    screen_close(&s);
}
END_TEST

/* The last line of a dump, without its trailing blanks. */
static void bottom_line(const char *dump, char *out, size_t cap)
{
    size_t len = strlen(dump);
    while (len && dump[len - 1] == '\n')
        len--;
    const char *start = dump + len;
    while (start > dump && start[-1] != '\n')
        start--;
    size_t n = (size_t)(dump + len - start);
    while (n && start[n - 1] == ' ')
        n--;
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), start);
}

/* The bottom line is the key bar of what has the keys, whole entries only, at 60, 80, 132 and 200
 * columns, the same with --no-color and ASCII; the prompt and the confirm box show their own keys. */
START_TEST(test_keybar_screen)
{
    static const int widths[] = {60, 80, 132, 200};
    for (int w = 0; w < 4; w++)
        for (int plain = 0; plain < 2; plain++) {
            screen s;
            screen_open(&s, 24, widths[w], plain, plain);
            static const struct {
                const char *script;
                lsc_tui_view v;
                lsc_tui_bar_ctx ctx;
            } steps[] = {
                {"", LSC_VIEW_CATALOG, LSC_BAR_VIEW},   {"Enter", LSC_VIEW_LAYERS, LSC_BAR_VIEW},
                {"v", LSC_VIEW_GRID, LSC_BAR_VIEW},     {"Enter", LSC_VIEW_SPECTRUM, LSC_BAR_VIEW},
                {"p", LSC_VIEW_PRUNE, LSC_BAR_VIEW},    {":", LSC_VIEW_PRUNE, LSC_BAR_PROMPT},
                {"Esc /", LSC_VIEW_PRUNE, LSC_BAR_VIEW}, {"Esc Esc Esc", LSC_VIEW_LAYERS, LSC_BAR_VIEW},
            };
            for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
                feed(&s, steps[i].script);
                ck_assert_int_eq(lsc_tui_state_view(s.st), steps[i].v);
                ck_assert_int_eq(lsc_tui_bar_context(s.st), steps[i].ctx);
                lsc_tui_bar_item it[32];
                int n = lsc_tui_bar(steps[i].v, steps[i].ctx, widths[w], !plain, it, 32);
                char want[512] = "", got[512];
                size_t len = 0;
                for (int k = 0; k < n; k++)
                    len += (size_t)snprintf(want + len, sizeof want - len, "%s%s %s", k ? "  " : "", it[k].key_text,
                                            it[k].label);
                ck_assert_int_le(n ? it[n - 1].x + it[n - 1].width : 0, widths[w]);
                char *d = lsc_tui_render_dump(s.r, 0);
                bottom_line(d, got, sizeof got);
                free(d);
                ck_assert_msg(strcmp(got, want) == 0, "%d cols, step %zu: bottom line '%s', bar '%s'", widths[w], i,
                              got, want);
                ck_assert_ptr_nonnull(strstr(got, steps[i].ctx == LSC_BAR_PROMPT ? "Esc cancel" : "? help"));
            }
            screen_close(&s);
        }
}
END_TEST

/* Without colour the bar's keys stay apart from their labels: a key that moves or opens and a global key
 * bold, a key that leads to a change underlined, labels plain; the text is the same as with colour. */
START_TEST(test_keybar_no_color)
{
    screen s;
    screen_open(&s, 24, 80, 1, 1);
    feed(&s, "");
    char *d = lsc_tui_render_dump(s.r, 1);
    size_t len = strlen(d);
    while (len && d[len - 1] == '\n')
        len--;
    d[len] = '\0';
    char *attrs = strrchr(d, '\n');
    ck_assert_ptr_nonnull(attrs);
    *attrs++ = '\0';
    ck_assert_int_eq(attrs[0], '|');
    attrs++;
    char *text = strrchr(d, '\n');
    ck_assert_ptr_nonnull(text);
    text++;
    const char *want = "Enter open  p prune  m merge  d diff  t tag  / search  ? help  : cmd  q quit";
    ck_assert_str_eq(text, want);
    /* hand-worked: Enter (0-4) bold; p (12) and m (21) underlined; d (30), t (38), / (45), ? (55), : (63),
     * q (70) bold; everything else plain */
    char expect[81];
    memset(expect, '.', 80);
    expect[80] = '\0';
    memset(expect, 'b', 5);
    expect[12] = expect[21] = 'u';
    expect[30] = expect[38] = expect[45] = expect[55] = expect[63] = expect[70] = 'b';
    size_t n = strlen(expect);
    while (n && expect[n - 1] == '.')
        expect[--n] = '\0';
    ck_assert_str_eq(attrs, expect);
    free(d);
    screen_close(&s);
}
END_TEST

/* A mouse click on a header sorts by that column; a click on a row selects it. */
START_TEST(test_mouse)
{
    screen s;
    screen_open(&s, 24, 80, 0, 0);
    feed(&s, "Enter");
    const lsc_tui_layout *L = &s.st->lay;
    int fro_x = -1;
    for (int i = 0; i < L->n_colpos; i++)
        if (L->colpos[i].col == LSC_COL_FRO)
            fro_x = L->colpos[i].x + 1;
    ck_assert_int_ge(fro_x, 0);
    lsc_tui_state_click(s.st, L->header_y, fro_x, 1);
    lsc_tui_render_draw(s.r, s.st);
    char *d = lsc_tui_render_dump(s.r, 0);
    ck_assert_ptr_nonnull(strstr(d, "fro\u25bc"));
    free(d);
    size_t top = s.st->lists[LSC_VIEW_LAYERS].top;
    lsc_tui_state_click(s.st, L->body_y + 3, 10, 1);
    ck_assert_uint_eq(s.st->lists[LSC_VIEW_LAYERS].cursor, top + 3);
    /* a second click on the selected row opens it */
    lsc_tui_state_click(s.st, L->body_y + 3, 10, 1);
    ck_assert_int_eq(lsc_tui_state_view(s.st), LSC_VIEW_SPECTRUM);
    screen_close(&s);
}
END_TEST

/* A command on the worker thread: the status line shows its progress with a bar and how to cancel. */
START_TEST(test_progress_line)
{
    screen s;
    screen_open(&s, 24, 80, 1, 0);
    s.st->async = 1;
    lsc_tui_model_fake_hold(&s.model, 5);
    feed(&s, "Space Space m = ^U text:ties Enter Enter ^U text:slow Enter y");
    ck_assert(lsc_tui_state_busy(s.st));
    for (int i = 0; i < 5000 && s.st->job_done < 5; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        lsc_tui_state_poll(s.st);
    }
    lsc_tui_render_draw(s.r, s.st);
    char *d = lsc_tui_render_dump(s.r, 1);
    char *line = strstr(d, "merge ties: layer 5/224 [");
    ck_assert_msg(line != NULL, "no progress line in:\n%s", d);
    ck_assert_ptr_nonnull(strstr(line, "] 2%"));
    ck_assert_ptr_nonnull(strstr(line, "Esc cancels"));
    char *attr = strchr(line, '\n');
    ck_assert_int_eq(attr[1], '|');
    ck_assert_int_eq(attr[2], 'b'); /* bold without colour */
    free(d);
    feed(&s, "Esc");
    d = lsc_tui_render_dump(s.r, 0);
    ck_assert_ptr_nonnull(strstr(d, "cancelling"));
    free(d);
    lsc_tui_state_wait(s.st);
    lsc_tui_render_draw(s.r, s.st);
    d = lsc_tui_render_dump(s.r, 0);
    ck_assert_ptr_nonnull(strstr(d, "warning: 'merge into slow' cancelled: nothing written"));
    free(d);
    screen_close(&s);
}
END_TEST

/* The vs base figures compute beside the browsing: the status line shows their progress with a bar and
 * the cancel key, the panel of their adapter how far they are, and the table still moves; then they land. */
START_TEST(test_figures_progress_line)
{
    screen s;
    screen_open(&s, 24, 80, 1, 0);
    s.st->async = 1;
    lsc_tui_model_fake_hold(&s.model, 5);
    feed(&s, "Enter b");
    wait_until_held(&s, 5);
    feed(&s, "j");
    ck_assert_uint_eq(s.st->lists[LSC_VIEW_LAYERS].cursor, 1);
    lsc_tui_render_draw(s.r, s.st);
    char *d = lsc_tui_render_dump(s.r, 0);
    char *line = strstr(d, "vs base of llama2-7b-chat [");
    ck_assert_msg(line != NULL, "no progress line in:\n%s", d);
    ck_assert_msg(strstr(line, "] 2%") && strstr(line, "^C cancels") && strstr(line, "row 2/224"), "%s", line);
    ck_assert_msg(strstr(d, "computing the figures: layer 5/224 (2%)"), "no progress in the panel:\n%s", d);
    free(d);
    release_and_draw(&s);
    d = lsc_tui_render_dump(s.r, 0);
    ck_assert_msg(strstr(d, "figures against the base of 'llama2-7b-chat': 224 layers") && strstr(d, "amplif."),
                  "the figures did not land:\n%s", d);
    free(d);
    screen_close(&s);
}
END_TEST

static void dump_line(const char *d, int y, char *buf, size_t cap);

/* The grid's heat by |dW|/|W| before its figures: "-" cells and, on the status line even after another key,
 * how to compute them; b computes them beside the browsing (the progress line while the grid still moves),
 * and the heat then shows the figures. */
START_TEST(test_grid_rel_pending_screen)
{
    screen s;
    screen_open(&s, 24, 80, 1, 0);
    s.st->async = 1;
    lsc_tui_model_fake_hold(&s.model, 5);
    feed(&s, "Enter v o o j");
    char *d = lsc_tui_render_dump(s.r, 0), line[512];
    dump_line(d, 3, line, sizeof line);
    ck_assert_msg(strstr(line, "1         -         -") && !strchr(line, '.'), "row 1: %s", line);
    dump_line(d, 22, line, sizeof line);
    ck_assert_msg(strstr(line, "|dW|/|W| not computed yet: b computes them") && strstr(line, "heat: |dW|/|W|"), "%s",
                  line);
    free(d);
    feed(&s, "b");
    wait_until_held(&s, 5);
    feed(&s, "j");
    lsc_tui_render_draw(s.r, s.st);
    d = lsc_tui_render_dump(s.r, 0);
    dump_line(d, 22, line, sizeof line);
    ck_assert_msg(strstr(line, "|dW|/|W| of llama2-7b-chat [") && strstr(line, "^C cancels") && strstr(line, "layer 2,"),
                  "%s", line);
    free(d);
    release_and_draw(&s);
    d = lsc_tui_render_dump(s.r, 0);
    dump_line(d, 2, line, sizeof line);
    ck_assert_msg(strstr(line, "0 ") && strchr(line, '.') && !strstr(line, " -"), "row 0 after the figures: %s", line);
    free(d);
    screen_close(&s);
}
END_TEST

/* The prune chart marks the cut: kept bars, a dashed line, dropped bars in ':' (ASCII) after it. */
START_TEST(test_prune_cut_marker)
{
    screen s;
    screen_open(&s, 24, 80, 1, 1);
    feed(&s, "Enter Enter p");
    const lsc_tui_prune_panel *P = &s.st->prune;
    ck_assert_int_gt(s.st->lay.pane_h, 0);
    int k = P->transient.rows[P->transient.sv_row].rank_after;
    ck_assert_int_lt(k, 16);
    char *d = lsc_tui_render_dump(s.r, 0);
    char want[64];
    snprintf(want, sizeof want, "keep %d of 16", k);
    ck_assert_ptr_nonnull(strstr(d, want));
    /* on the bottom row of the chart: '#' bars, then '|', then only ':' bars */
    char *axis = strstr(d, "\n      +--"); /* the x axis line of the chart */
    ck_assert_ptr_nonnull(axis);
    char *row_end = axis + 1;
    while (row_end > d && row_end[-1] != '\n')
        row_end--;
    char *row = row_end - 1;
    while (row > d && row[-1] != '\n')
        row--;
    char *bar = NULL; /* the last '|' of the row: the cut (the y axis is further left) */
    for (char *p = row; p < row_end - 1; p++)
        if (*p == '|')
            bar = p;
    ck_assert_ptr_nonnull(bar);
    ck_assert_ptr_nonnull(strchr(row, '#'));
    ck_assert(strchr(row, '#') < bar);
    for (char *p = row; p < bar; p++)
        ck_assert_msg(*p != ':', "a dropped bar before the cut");
    int dropped = 0;
    for (char *p = bar + 1; p < row_end - 1; p++) {
        ck_assert_msg(*p != '#', "a kept bar after the cut: %.*s", (int)(row_end - row), row);
        dropped |= *p == ':';
    }
    ck_assert_int_eq(dropped, 1);
    free(d);
    screen_close(&s);
}
END_TEST

/* A message carrying a name from a file (ESC, CSI, OSC with BEL, C1 controls) reaches the screen with
 * every control replaced: the render decodes text itself and draws '?' for what it cannot show. */
START_TEST(test_status_controls_replaced)
{
    screen s;
    screen_open(&s, 24, 80, 1, 0);
    lsc_tui_state_msg(s.st, LSC_MSG_ERROR, "no layer 'l\x1b[31m\x1b]0;owned\x07\xc2\x9b" "2J\xc2\x85x'");
    lsc_tui_render_draw(s.r, s.st);
    char *d = lsc_tui_render_dump(s.r, 0);
    ck_assert_ptr_nonnull(d);
    for (const unsigned char *p = (const unsigned char *)d; *p; p++)
        ck_assert_msg((*p >= 0x20 || *p == '\n') && *p != 0x7f && !(p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F),
                      "control 0x%02x on the screen:\n%s", *p, d);
    ck_assert_msg(strstr(d, "no layer 'l?[31m?]0;owned??2J?x'") != NULL, "status line:\n%s", d);
    free(d);
    screen_close(&s);
}
END_TEST


/* The text of row `y` of a dump (NUL-terminated copy in buf). */
static void dump_line(const char *d, int y, char *buf, size_t cap)
{
    for (int i = 0; i < y && d; i++)
        d = strchr(d, '\n') ? strchr(d, '\n') + 1 : NULL;
    ck_assert_ptr_nonnull(d);
    const char *e = strchr(d, '\n');
    size_t n = e ? (size_t)(e - d) : strlen(d);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, d, n);
    buf[n] = '\0';
}

/* The screen cell of the name column on screen row y: the bytes of its `width` columns, trailing blanks
 * cut (the names are ASCII but for the ellipsis). */
static void name_cell(const char *line, int x, int width, char *buf, size_t cap)
{
    const char *p = line;
    for (int c = 0; c < x && *p; c++) /* columns to bytes */
        for (p++; ((unsigned char)*p & 0xC0) == 0x80; p++)
            ;
    const char *q = p;
    for (int c = 0; c < width && *q; c++)
        for (q++; ((unsigned char)*q & 0xC0) == 0x80; q++)
            ;
    size_t n = (size_t)(q - p) < cap - 1 ? (size_t)(q - p) : cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    while (n && buf[n - 1] == ' ')
        buf[--n] = '\0';
}

/* Issue #15 finding 9: two long names that differ at their start and agree at their end (Stable
 * Diffusion's down_blocks / up_blocks) must not read alike when cut: the cut goes in the middle, so both
 * the leading component and the module end stay visible. At both golden sizes. */
START_TEST(test_names_cut_in_middle)
{
    screen s;
    screen_open(&s, _i ? 43 : 24, _i ? 132 : 80, 1, 0);
    feed(&s, "Enter");
    const char *mid = "attentions_0_transformer_blocks_0_attentions_0_transformer_blocks_0_attentions_0_transformer_"
                      "blocks_0_";
    snprintf(s.st->layers.rows[0].name, sizeof s.st->layers.rows[0].name, "down_blocks_0_%sattn1_to_k", mid);
    snprintf(s.st->layers.rows[1].name, sizeof s.st->layers.rows[1].name, "up_blocks_0_%sattn1_to_k", mid);
    lsc_tui_list_rebuild(s.st, LSC_VIEW_LAYERS);
    lsc_tui_render_draw(s.r, s.st);
    const lsc_tui_layout *L = &s.st->lay;
    int nx = -1, nw = 0;
    for (int i = 0; i < L->n_colpos; i++)
        if (L->colpos[i].col == LSC_COL_NAME)
            nx = L->colpos[i].x, nw = L->colpos[i].width;
    ck_assert_int_ge(nx, 0);
    ck_assert_int_lt(nw, 120); /* the names are cut */
    char *d = lsc_tui_render_dump(s.r, 0);
    char line[2048], c0[512], c1[512];
    dump_line(d, L->body_y, line, sizeof line);
    name_cell(line, nx, nw, c0, sizeof c0);
    dump_line(d, L->body_y + 1, line, sizeof line);
    name_cell(line, nx, nw, c1, sizeof c1);
    ck_assert_msg(strcmp(c0, c1) != 0, "two different names read alike: '%s'", c0);
    ck_assert_msg(strncmp(c0, "down_blocks_0", 13) == 0 && strncmp(c1, "up_blocks_0", 11) == 0,
                  "the leading component is cut: '%s' / '%s'", c0, c1);
    size_t n0 = strlen(c0), n1 = strlen(c1);
    ck_assert_msg(n0 > 10 && strcmp(c0 + n0 - 10, "attn1_to_k") == 0, "the module end is cut: '%s'", c0);
    ck_assert_msg(n1 > 10 && strcmp(c1 + n1 - 10, "attn1_to_k") == 0, "the module end is cut: '%s'", c1);
    ck_assert_ptr_nonnull(strstr(c0, "\u2026"));
    free(d);
    screen_close(&s);
}
END_TEST

/* Issue #15 finding 9, the class: at 132 and 200 columns, when every column's widest cell fits the table
 * side by side, no cell of any table view is cut (the spare width goes to the columns that need it, not
 * all to the name): catalog, layers, history, diff, prune preview. The catalog gets a parents list longer
 * than the parents column's table width. */
START_TEST(test_columns_share_width)
{
    static const char *const scripts[] = {"", "Enter", "H", "Space j d", "Enter p"};
    for (int k = 0; k < 5; k++) {
        screen s;
        screen_open(&s, _i ? 60 : 43, _i ? 200 : 132, 1, 0);
        snprintf(s.st->catalog.rows[1].parents, sizeof s.st->catalog.rows[1].parents, "%s",
                 "llama2-7b-chat,llama2-7b-code");
        lsc_tui_list_rebuild(s.st, LSC_VIEW_CATALOG);
        feed(&s, scripts[k]);
        lsc_tui_view v = lsc_tui_state_view(s.st);
        const lsc_tui_layout *L = &s.st->lay;
        const lsc_tui_list *l = &s.st->lists[v];
        int sum = 2;
        for (int i = 0; i < L->n_colpos; i++) {
            int need = (int)strlen(lsc_tui_col_info(L->colpos[i].col)->title) + 1; /* and its sort arrow */
            for (size_t row = 0; row < l->n; row++) {
                char cell[1024];
                lsc_tui_cell_text(s.st, v, row, L->colpos[i].col, cell, sizeof cell);
                int w = 0;
                for (const char *p = cell; *p; p++)
                    w += ((unsigned char)*p & 0xC0) != 0x80;
                need = w > need ? w : need;
            }
            /* a number column keeps its own width even when its cells are narrower (list.c) */
            const lsc_tui_colinfo *ci = lsc_tui_col_info(L->colpos[i].col);
            if (ci->right && ci->width > need)
                need = ci->width;
            sum += need + 1;
        }
        if (sum <= L->cols)
            for (int i = 0; i < L->n_colpos; i++)
                for (size_t row = 0; row < l->n; row++) {
                    char cell[1024];
                    lsc_tui_cell_text(s.st, v, row, L->colpos[i].col, cell, sizeof cell);
                    int w = 0;
                    for (const char *p = cell; *p; p++)
                        w += ((unsigned char)*p & 0xC0) != 0x80;
                    ck_assert_msg(w <= L->colpos[i].width, "view %s at %d columns: '%s' cut to %d columns in '%s'",
                                  lsc_tui_view_name(v), L->cols, cell, L->colpos[i].width,
                                  lsc_tui_col_info(L->colpos[i].col)->title);
                }
        if (k == 0 && _i == 1) {
            ck_assert_int_le(sum, L->cols); /* at 200 the catalog's cells fit side by side */
            char *d = lsc_tui_render_dump(s.r, 0);
            ck_assert_msg(strstr(d, "llama2-7b-chat,llama2-7b-code") != NULL, "parents cut:\n%s", d);
            free(d);
        }
        if (k == 0) /* at 132 they do not: the parents still get more than their table width */
            for (int i = 0; i < L->n_colpos; i++)
                if (L->colpos[i].col == LSC_COL_PARENTS)
                    ck_assert_int_gt(L->colpos[i].width, lsc_tui_col_info(LSC_COL_PARENTS)->width);
        screen_close(&s);
    }
}
END_TEST


/* Issue #15 finding 8: the bars of a spectrum chart are spaced alike. For 16 values over plots whose
 * width does not divide by 16, the bottom row of the plot holds either one run of bars (no gaps: too
 * narrow) or 16 runs with equal gaps, never some bars split and others merged. */
START_TEST(test_bar_gaps_even)
{
    static const int plot_w[] = {36, 42, 50, 58, 70, 90};
    double sv[16];
    for (int i = 0; i < 16; i++)
        sv[i] = 16.0 - i;
    for (size_t t = 0; t < sizeof plot_w / sizeof plot_w[0]; t++) {
        int w = plot_w[t] + 6, h = 10; /* 5 label columns and the axis column */
        lsc_canvas cv;
        lsc_error err = {0};
        ck_assert_int_eq(lsc_canvas_init(&cv, w, h, &err), LSC_OK);
        lsc_chart_spectrum(&cv, (lsc_chart_rect){0, 0, w, h}, LSC_CHART_ASCII, sv, 16, NULL, 0);
        int y = h - 3, runs = 0, gap = -1, in_bar = 0, cur_gap = 0;
        for (int x = 6; x < w; x++) {
            int bar = cv.cells[(size_t)y * (size_t)w + (size_t)x].cp == '#';
            if (bar && !in_bar) {
                if (runs > 0) {
                    ck_assert_msg(gap < 0 || gap == cur_gap, "plot width %d: gaps of %d and %d columns", plot_w[t],
                                  gap, cur_gap);
                    gap = cur_gap;
                }
                runs++;
            }
            cur_gap = bar ? 0 : cur_gap + 1;
            in_bar = bar;
        }
        ck_assert_msg(runs == 1 || runs == 16, "plot width %d: %d runs of bars for 16 values", plot_w[t], runs);
        ck_assert_int_eq(runs == 16, plot_w[t] / 16 >= 3);
        lsc_canvas_release(&cv);
    }
}
END_TEST


/* The series chart's step mark (issue 16): in ASCII, the ':' column of lsc_chart_xmark is the column of the
 * point lsc_chart_lines drew for that x, for every x of an uneven set of steps, and it takes no cell a
 * series or an axis took. */
START_TEST(test_series_step_mark)
{
    static const double x[5] = {50, 100, 150, 200, 1000}, a[5] = {1, 2, 3, 4, 5};
    int w = 70, h = 12;
    for (size_t k = 0; k < 5; k++) {
        lsc_canvas cv;
        lsc_error err = {0};
        ck_assert_int_eq(lsc_canvas_init(&cv, w, h, &err), LSC_OK);
        double b[5] = {NAN, NAN, NAN, NAN, NAN};
        b[k] = a[k];
        lsc_chart_lines(&cv, (lsc_chart_rect){0, 0, w, h}, LSC_CHART_ASCII, x, a, b, 5, 0, NAN, 0);
        int point = -1, mark = -1, marks = 0;
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                const lsc_canvas_cell *c = &cv.cells[(size_t)y * (size_t)w + (size_t)xx];
                if (c->role == LSC_CROLE_B || c->role == LSC_CROLE_BOTH)
                    point = xx;
            }
        lsc_chart_xmark(&cv, (lsc_chart_rect){0, 0, w, h}, LSC_CHART_ASCII, x, 5, 0, x[k]);
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                const lsc_canvas_cell *c = &cv.cells[(size_t)y * (size_t)w + (size_t)xx];
                if (c->role == LSC_CROLE_MARK) {
                    ck_assert_int_eq(c->cp, ':');
                    ck_assert(mark < 0 || mark == xx);
                    mark = xx;
                    marks++;
                }
                if (c->role == LSC_CROLE_B || c->role == LSC_CROLE_BOTH)
                    ck_assert_int_eq(xx, point); /* the point is still there */
            }
        ck_assert_int_ge(point, 0);
        ck_assert_int_eq(mark, point);
        ck_assert_int_gt(marks, 1);
        lsc_canvas_release(&cv);
    }
}
END_TEST


/* Issue #15 finding 8: at the smallest size the workbench draws (60x15) the spectrum view shows no
 * heading over an empty chart: every chart heading on screen has bars or a curve under it. */
START_TEST(test_spectrum_small)
{
    screen s;
    screen_open(&s, 15 + _i, 60, 1, 1);
    feed(&s, "Enter Enter");
    char *d = lsc_tui_render_dump(s.r, 0);
    if (getenv("LSC_SHOW"))
        fprintf(stderr, "%s", d);
    static const char *const heads[] = {" singular values", " cumulative energy"};
    for (int h = 0; h < 2; h++) {
        const char *p = strstr(d, heads[h]);
        if (!p)
            continue; /* a chart left out for want of room says nothing */
        p = strchr(p, '\n');
        ck_assert_ptr_nonnull(p);
        const char *end = strstr(p + 1, h == 0 ? " cumulative energy" : "F1Help");
        if (!end)
            end = p + strlen(p);
        int marks = 0;
        for (const char *q = p; q < end; q++)
            marks += *q == '#' || *q == '*' || *q == '=';
        ck_assert_msg(marks > 0, "'%s' over an empty chart at 60x%d:\n%s", heads[h], 15 + _i, d);
    }
    ck_assert_ptr_nonnull(strstr(d, heads[0])); /* the spectrum itself is always there */
    free(d);
    screen_close(&s);
}
END_TEST


/* Issue #15 finding 12: the AdaLoRA panel shows the orthogonality figure the README promises: per layer
 * the larger of its P and Q errors, and the worst over the adapter on the summary line. */
START_TEST(test_adalora_orthogonality)
{
    screen s;
    screen_open(&s, 43, 132, 1, 0);
    feed(&s, "G Enter K");
    const lsc_tui_kind_figures *k = &s.st->kind.kf;
    ck_assert_str_eq(k->kind, "adaptive");
    ck_assert_uint_gt(k->n_layers, 0);
    double worst = 0;
    for (size_t i = 0; i < k->n_layers; i++)
        worst = fmax(worst, fmax(k->layers[i].orth_p, k->layers[i].orth_q));
    char want[64], num[32];
    lsc_tui_fmt_num(worst, num, sizeof num);
    snprintf(want, sizeof want, "orthogonality error at most %s", num);
    char *d = lsc_tui_render_dump(s.r, 0);
    ck_assert_msg(strstr(d, want) != NULL, "no '%s' in:\n%s", want, d);
    ck_assert_ptr_nonnull(strstr(d, "orth.err"));
    /* the first layer's row ends with its own figure */
    lsc_tui_fmt_num(fmax(k->layers[0].orth_p, k->layers[0].orth_q), num, sizeof num);
    char line[2048];
    dump_line(d, s.st->lay.body_y, line, sizeof line);
    size_t n = strlen(line);
    while (n && line[n - 1] == ' ')
        line[--n] = '\0';
    ck_assert_msg(n >= strlen(num) && strcmp(line + n - strlen(num), num) == 0, "row '%s' does not end with %s", line, num);
    free(d);
    screen_close(&s);
}
END_TEST

/* Tab's candidates on the `:` line are visible while the line is typed (the status line holds the line,
 * so they take the key bar's place), and go at the next key. Before, they showed only after the prompt was
 * closed. */
START_TEST(test_prompt_candidates_shown)
{
    screen s;
    screen_open(&s, 24, 80, 0, 0);
    feed(&s, ": text:merge_a_b_--method_da Tab");
    char got[512];
    char *d = lsc_tui_render_dump(s.r, 0);
    bottom_line(d, got, sizeof got);
    free(d);
    ck_assert_msg(strstr(got, "dare_linear") && strstr(got, "dare_ties"), "bottom line '%s'", got);
    feed(&s, "text:t");
    d = lsc_tui_render_dump(s.r, 0);
    bottom_line(d, got, sizeof got);
    free(d);
    ck_assert_msg(!strstr(got, "dare_linear") && strstr(got, "Tab complete"), "bottom line '%s'", got);
    screen_close(&s);
}
END_TEST

/* Every layer name the table shows at 80 columns, cut in the middle or not, typed back (the ellipsis as
 * '*') picks exactly its own layer: the cut keeps the block number and the character after it. Before, the
 * cut dropped the number ("model.layers.…f_attn.q_proj" stood for every block). */
START_TEST(test_cut_names_type_back)
{
    screen s;
    screen_open(&s, 24, 80, 0, 0);
    feed(&s, "Enter");
    int checked = 0, cut = 0;
    for (int page = 0; page < 14; page++) {
        char *d = lsc_tui_render_dump(s.r, 0);
        for (char *line = d; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            int block = -1;
            char name[256];
            if ((line[0] == '>' || line[0] == ' ') && sscanf(line + 1, "%d %255s", &block, name) == 2 &&
                strncmp(name, "model.", 6) == 0) {
                int hits = 0;
                for (size_t i = 0; i < s.st->layers.n; i++)
                    hits += lsc_tui_match(name, lsc_layername_display(s.st->layers.rows[i].name));
                ck_assert_msg(hits == 1, "'%s' typed back matches %d layers", name, hits);
                checked++;
                cut += strstr(name, "\xe2\x80\xa6") != NULL;
            }
            line = nl ? nl + 1 : NULL;
        }
        free(d);
        feed(&s, "PgDn");
    }
    ck_assert_int_ge(checked, 200);
    ck_assert_int_gt(cut, 100);
    screen_close(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tui-screen");
    TCase *tc = tcase_create("screens");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_goldens, 0, (int)(sizeof k_cases / sizeof k_cases[0]) * 2);
    tcase_add_test(tc, test_too_small);
    tcase_add_loop_test(tc, test_ascii_only, 0, (int)(sizeof k_ascii_scripts / sizeof k_ascii_scripts[0]) * 2);
    tcase_add_test(tc, test_ascii_spectrum_golden);
    tcase_add_test(tc, test_mono_selection);
    tcase_add_test(tc, test_help_from_table);
    tcase_add_test(tc, test_keybar_screen);
    tcase_add_test(tc, test_prompt_candidates_shown);
    tcase_add_test(tc, test_cut_names_type_back);
    tcase_add_test(tc, test_keybar_no_color);
    tcase_add_test(tc, test_mouse);
    tcase_add_test(tc, test_progress_line);
    tcase_add_test(tc, test_figures_progress_line);
    tcase_add_test(tc, test_grid_rel_pending_screen);
    tcase_add_test(tc, test_prune_cut_marker);
    tcase_add_test(tc, test_status_controls_replaced);
    tcase_add_loop_test(tc, test_names_cut_in_middle, 0, 2);
    tcase_add_test(tc, test_bar_gaps_even);
    tcase_add_test(tc, test_series_step_mark);
    tcase_add_test(tc, test_ascii_series_golden);
    tcase_add_test(tc, test_adalora_orthogonality);
    tcase_add_loop_test(tc, test_spectrum_small, 0, 6);
    tcase_add_loop_test(tc, test_columns_share_width, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    if (!setlocale(LC_ALL, "C.UTF-8")) {
        fprintf(stderr, "C.UTF-8 locale missing\n");
        return 77;
    }
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
