/* keys.c: the one key binding table (keys → requests, with help text and F-key labels per view).
 * Changing a key here changes the behaviour, the help overlay and the F-key bar together.
 * Never depends on curses: render.c maps curses key codes to LSC_KEY_* before they reach this table.
 */
#include "keys.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define V(x) LSC_VIEW_BIT(LSC_VIEW_##x)
#define TABLES (V(CATALOG) | V(LAYERS) | V(DIFF) | V(HISTORY) | V(OUTPUT) | V(TASKS))
#define MOVING (TABLES | V(GRID) | V(SPECTRUM) | V(KIND))
#define PANELS (V(PRUNE) | V(MERGE))

const lsc_tui_binding lsc_tui_bindings[] = {
    {V(RETRAIN), LSC_REQ_DOWN, {'j', LSC_KEY_DOWN, LSC_KEY_TAB}, "next field", NULL},
    {V(RETRAIN), LSC_REQ_UP, {'k', LSC_KEY_UP}, "previous field", NULL},
    {V(RETRAIN), LSC_REQ_DEC, {LSC_KEY_LEFT, 'h', '-'}, "previous target, kind or init; lower number", NULL},
    {V(RETRAIN), LSC_REQ_INC, {LSC_KEY_RIGHT, 'l', '+'}, "next target, kind or init; higher number", NULL},
    {V(RETRAIN), LSC_REQ_DEC_BIG, {LSC_KEY_SLEFT, LSC_KEY_PGDN, '['}, "lower by more (rank -4, steps -500, lr /10)", NULL},
    {V(RETRAIN), LSC_REQ_INC_BIG, {LSC_KEY_SRIGHT, LSC_KEY_PGUP, ']'}, "raise by more (rank +4, steps +500, lr x10)", NULL},
    {V(RETRAIN), LSC_REQ_EDIT, {'=', 'e'}, "type the field's value (target: any adapter's name)", NULL},
    {V(RETRAIN), LSC_REQ_APPLY, {LSC_KEY_ENTER, '\r', LSC_KEY_F(5)}, "run: name the new adapter, confirm (No by default)", "Run"},
    {V(RETRAIN), LSC_REQ_PAUSE, {'p'}, "pause / resume the running retrain", NULL},
    {V(KIND), LSC_REQ_TOGGLE, {'m'}, "toggle: log/linear y, rank/energy share", NULL},
    {MOVING | PANELS, LSC_REQ_DOWN, {'j', LSC_KEY_DOWN}, "move down (spectrum: next layer; merge: next field)", NULL},
    {MOVING | PANELS, LSC_REQ_UP, {'k', LSC_KEY_UP}, "move up (spectrum: previous layer; merge: field)", NULL},
    {V(MERGE), LSC_REQ_DOWN, {LSC_KEY_TAB}, "next field", NULL},
    {V(GRID) | V(DIFF), LSC_REQ_LEFT, {'h', LSC_KEY_LEFT}, "move left (diff: focus table)", NULL},
    {V(GRID) | V(DIFF), LSC_REQ_RIGHT, {'l', LSC_KEY_RIGHT}, "move right (diff: focus pane)", NULL},
    {PANELS, LSC_REQ_DEC, {LSC_KEY_LEFT, 'h', '-'}, "lower: rank/budget -1, fractions -0.01, ratio -0.5", NULL},
    {PANELS, LSC_REQ_INC, {LSC_KEY_RIGHT, 'l', '+'}, "raise: rank/budget +1, fractions +0.01, ratio +0.5", NULL},
    {PANELS, LSC_REQ_DEC_BIG, {LSC_KEY_SLEFT, LSC_KEY_PGDN, '['}, "more: rank -4, budget -10, fractions -0.1, ratio -5", NULL},
    {PANELS, LSC_REQ_INC_BIG, {LSC_KEY_SRIGHT, LSC_KEY_PGUP, ']'}, "more: rank +4, budget +10, fractions +0.1, ratio +5", NULL},
    {V(PRUNE), LSC_REQ_NEXT_RULE, {LSC_KEY_TAB, 'r', LSC_KEY_F(2)}, "next rule: rank energy fro cumulative ratio budget", "Rule"},
    {PANELS, LSC_REQ_EDIT, {'=', 'e'}, "type the value (merge: the field under the cursor)", NULL},
    {V(PRUNE), LSC_REQ_LAYER_GLOB, {'f', LSC_KEY_F(4)}, "only layers matching a glob (--layers; empty: all)", "Layers"},
    {PANELS, LSC_REQ_APPLY, {LSC_KEY_ENTER, '\r', LSC_KEY_F(5)}, "apply: name the new adapter, confirm, run", "Apply"},
    {MOVING, LSC_REQ_PAGE_DOWN, {LSC_KEY_PGDN, LSC_KEY_CTRL('f')}, "page down", NULL},
    {MOVING, LSC_REQ_PAGE_UP, {LSC_KEY_PGUP, LSC_KEY_CTRL('b')}, "page up", NULL},
    {PANELS, LSC_REQ_PAGE_DOWN, {LSC_KEY_CTRL('f')}, "page the layer list down", NULL},
    {PANELS, LSC_REQ_PAGE_UP, {LSC_KEY_CTRL('b')}, "page the layer list up", NULL},
    {MOVING | PANELS, LSC_REQ_TOP, {'g', LSC_KEY_HOME}, "first row", NULL},
    {MOVING | PANELS, LSC_REQ_BOTTOM, {'G', LSC_KEY_END}, "last row", NULL},
    {V(CATALOG) | V(LAYERS) | V(GRID) | V(DIFF) | V(HISTORY) | V(TASKS), LSC_REQ_ENTER, {LSC_KEY_ENTER, '\r'},
     "open: adapter or its tasks, task, spectrum, history", NULL},
    {LSC_VIEWS_ALL, LSC_REQ_BACK, {LSC_KEY_ESC, 'q', LSC_KEY_BACKSPACE}, "go back (q on the catalog quits)", NULL},
    {LSC_VIEWS_ALL, LSC_REQ_QUIT, {'Q', LSC_KEY_F(10)}, "quit", "Quit"},
    {TABLES, LSC_REQ_SORT_NEXT, {'>', LSC_KEY_F(2)}, "sort by the next column", "Sort"},
    {TABLES, LSC_REQ_SORT_PREV, {'<'}, "sort by the previous column", NULL},
    {TABLES, LSC_REQ_SORT_REVERSE, {'r'}, "reverse the sort direction", NULL},
    {TABLES, LSC_REQ_SEARCH, {'/', LSC_KEY_F(3)}, "search names", "Search"},
    {TABLES, LSC_REQ_SEARCH_NEXT, {'n'}, "next match", NULL},
    {TABLES, LSC_REQ_SEARCH_PREV, {'N'}, "previous match", NULL},
    {V(CATALOG) | V(LAYERS) | V(DIFF), LSC_REQ_FILTER, {'f', LSC_KEY_F(4)}, "filter names (glob, empty clears)",
     "Filter"},
    {V(LAYERS) | V(GRID), LSC_REQ_GRID, {'v', LSC_KEY_F(5)}, "switch table / layers x modules grid", "Grid"},
    {V(CATALOG), LSC_REQ_DIFF, {'d', LSC_KEY_F(6)}, "diff the two tagged adapters (or tagged vs selected)", "Diff"},
    {V(CATALOG) | V(LAYERS) | V(GRID) | V(SPECTRUM), LSC_REQ_PRUNE, {'p'},
     "prune panel: cut ranks by a rule with a live preview", NULL},
    {V(CATALOG), LSC_REQ_MERGE, {'m'}, "merge panel over the tagged adapters", NULL},
    {LSC_VIEWS_ALL & ~PANELS, LSC_REQ_UNDO, {'u'}, "undo the latest change (asks first)", NULL},
    {LSC_VIEWS_ALL & ~PANELS, LSC_REQ_REDO, {'U', LSC_KEY_CTRL('r')}, "redo the change undone last", NULL},
    {LSC_VIEWS_ALL, LSC_REQ_SAVE, {'W'}, "save the session's edits as a replayable script", NULL},
    {LSC_VIEWS_ALL, LSC_REQ_HISTORY, {'H', LSC_KEY_F(7)}, "history of changes", "History"},
    {V(CATALOG), LSC_REQ_TAG, {' ', 't', LSC_KEY_F(8)}, "tag / untag the row", "Tag"},
    {V(LAYERS), LSC_REQ_TAG, {' ', LSC_KEY_F(8)}, "tag / untag the row", "Tag"},
    {V(LAYERS) | V(GRID) | V(TASKS) | V(SPECTRUM), LSC_REQ_KIND, {'K'},
     "kind panel: figures particular to the adapter's kind", NULL},
    {V(LAYERS) | V(GRID), LSC_REQ_RETRAIN, {'t'}, "retrain panel: train towards a target, live loss chart",
     NULL},
    {LSC_VIEWS_ALL, LSC_REQ_PROMPT, {':', LSC_KEY_F(9)}, "command prompt (any command; :w FILE saves a session)", "Cmd"},
    {LSC_VIEWS_ALL, LSC_REQ_HELP, {'?', LSC_KEY_F(1)}, "this help", "Help"},
    {V(LAYERS) | V(GRID) | V(DIFF), LSC_REQ_TAB, {LSC_KEY_TAB}, "next pane (diff: chart / only-in lists)", NULL},
    {V(GRID), LSC_REQ_METRIC, {'m'}, "heat by norm or by rank", NULL},
    {V(LAYERS), LSC_REQ_GROUP, {'m'}, "group rows by module type", NULL},
    {LSC_VIEWS_ALL, LSC_REQ_REFRESH, {LSC_KEY_CTRL('l'), 'R'}, "reload data and redraw", NULL},
};
const size_t lsc_tui_n_bindings = sizeof lsc_tui_bindings / sizeof lsc_tui_bindings[0];

lsc_tui_req lsc_tui_key_lookup(lsc_tui_view v, int key)
{
    if (key == LSC_KEY_RESIZE)
        return LSC_REQ_RESIZE;
    for (size_t i = 0; i < lsc_tui_n_bindings; i++) {
        const lsc_tui_binding *b = &lsc_tui_bindings[i];
        if (!(b->views & LSC_VIEW_BIT(v)))
            continue;
        for (int k = 0; k < LSC_TUI_BIND_KEYS && b->keys[k]; k++)
            if (b->keys[k] == key)
                return b->req;
    }
    return LSC_REQ_NONE;
}

static const struct {
    int key;
    const char *name;
} k_names[] = {
    {LSC_KEY_UP, "Up"},       {LSC_KEY_DOWN, "Down"},  {LSC_KEY_LEFT, "Left"}, {LSC_KEY_RIGHT, "Right"},
    {LSC_KEY_PGUP, "PgUp"},   {LSC_KEY_PGDN, "PgDn"},  {LSC_KEY_HOME, "Home"}, {LSC_KEY_END, "End"},
    {LSC_KEY_BACKSPACE, "Bksp"}, {LSC_KEY_DELETE, "Del"}, {LSC_KEY_ENTER, "Enter"}, {LSC_KEY_ESC, "Esc"},
    {LSC_KEY_TAB, "Tab"},     {' ', "Space"},          {LSC_KEY_RESIZE, "Resize"},
    {LSC_KEY_SLEFT, "S-Left"}, {LSC_KEY_SRIGHT, "S-Right"},
};

const char *lsc_tui_key_name(int key, char *buf, size_t cap)
{
    for (size_t i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
        if (k_names[i].key == key) {
            snprintf(buf, cap, "%s", k_names[i].name);
            return buf;
        }
    if (key > LSC_KEY_F0 && key <= LSC_KEY_F(24))
        snprintf(buf, cap, "F%d", key - LSC_KEY_F0);
    else if (key > 0 && key < 32)
        snprintf(buf, cap, "^%c", key + '@');
    else if (key > 32 && key < 127)
        snprintf(buf, cap, "%c", key);
    else
        snprintf(buf, cap, "U+%04X", (unsigned)key);
    return buf;
}

int lsc_tui_key_parse(const char *w)
{
    if (!w || !*w)
        return -1;
    if (w[1] == '\0')
        return (unsigned char)w[0];
    if (w[0] == '^' && w[2] == '\0')
        return LSC_KEY_CTRL(w[1]);
    for (size_t i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
        if (strcasecmp(k_names[i].name, w) == 0)
            return k_names[i].key;
    if ((w[0] == 'F' || w[0] == 'f') && w[1] >= '1' && w[1] <= '9') {
        int n = 0;
        for (const char *p = w + 1; *p; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            n = n * 10 + (*p - '0');
        }
        return n >= 1 && n <= 24 ? LSC_KEY_F(n) : -1;
    }
    return -1;
}

size_t lsc_tui_help_lines(lsc_tui_view v, char (*lines)[80], size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < lsc_tui_n_bindings && n < cap; i++) {
        const lsc_tui_binding *b = &lsc_tui_bindings[i];
        if (!(b->views & LSC_VIEW_BIT(v)))
            continue;
        char keys[40] = "", kb[16];
        size_t len = 0;
        for (int k = 0; k < LSC_TUI_BIND_KEYS && b->keys[k]; k++) {
            if (b->keys[k] == '\r')
                continue; /* a second spelling of Enter */
            int w = snprintf(keys + len, sizeof keys - len, "%s%s", len ? " " : "",
                             lsc_tui_key_name(b->keys[k], kb, sizeof kb));
            if (w < 0 || (size_t)w >= sizeof keys - len)
                break;
            len += (size_t)w;
        }
        snprintf(lines[n++], 80, "%-16s %s", keys, b->help);
    }
    return n;
}

int lsc_tui_fkeys(lsc_tui_view v, lsc_tui_fkey *out, int cap)
{
    int n = 0, x = 0;
    for (int f = 1; f <= 12 && n < cap; f++) {
        for (size_t i = 0; i < lsc_tui_n_bindings; i++) {
            const lsc_tui_binding *b = &lsc_tui_bindings[i];
            if (!b->fkey_label || !(b->views & LSC_VIEW_BIT(v)))
                continue;
            int has = 0;
            for (int k = 0; k < LSC_TUI_BIND_KEYS && b->keys[k]; k++)
                has |= b->keys[k] == LSC_KEY_F(f);
            if (!has)
                continue;
            out[n].fnum = f;
            out[n].label = b->fkey_label;
            out[n].req = b->req;
            out[n].x = x;
            out[n].width = (f >= 10 ? 3 : 2) + (int)strlen(b->fkey_label);
            x += out[n].width + 1;
            n++;
            break;
        }
    }
    return n;
}
