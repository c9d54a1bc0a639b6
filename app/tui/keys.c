/* keys.c: key lookup, key names, and each view's help overlay and bottom key bar, from the view's own key
 * table (view_<name>.c) followed by the global table here. Changing a key changes the behaviour, the help
 * overlay and the key bar together; a dialog's bar lists the keys that dialog takes.
 * Never depends on curses: render.c maps curses key codes to LSC_KEY_* before they reach this table.
 */
#include "keys.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "view.h"

const lsc_tui_binding lsc_tui_global_keys[] = {
    {LSC_REQ_BACK, {LSC_KEY_ESC, 'q', LSC_KEY_BACKSPACE}, "go back (q on the catalog quits)", "back", 3},
    {LSC_REQ_QUIT, {'Q', LSC_KEY_F(10)}, "quit", NULL, 0},
    {LSC_REQ_SAVE, {'W'}, "save the session's edits as a replayable script", NULL, 0},
    {LSC_REQ_HISTORY, {'H', LSC_KEY_F(7)}, "history of changes", NULL, 0},
    {LSC_REQ_PROMPT, {':', LSC_KEY_F(9)}, "command prompt (any command; :w FILE saves a session)", "cmd", 2},
    {LSC_REQ_HELP, {'?', LSC_KEY_F(1)}, "this help", "help", 1},
    {LSC_REQ_REFRESH, {LSC_KEY_CTRL('l')}, "reload data and redraw", NULL, 0},
};
const size_t lsc_tui_n_global_keys = sizeof lsc_tui_global_keys / sizeof lsc_tui_global_keys[0];

const lsc_tui_binding *lsc_tui_view_keys(lsc_tui_view v, size_t *n)
{
    const lsc_tui_view_ops *o = lsc_tui_view_ops_of(v);
    *n = o->n_keys;
    return o->keys;
}

/* The i-th binding of view v: its own table, then the global one; NULL past the end. */
static const lsc_tui_binding *binding(lsc_tui_view v, size_t i)
{
    size_t n;
    const lsc_tui_binding *own = lsc_tui_view_keys(v, &n);
    if (i < n)
        return &own[i];
    return i - n < lsc_tui_n_global_keys ? &lsc_tui_global_keys[i - n] : NULL;
}

const lsc_tui_binding *lsc_tui_key_binding(lsc_tui_view v, int key)
{
    const lsc_tui_binding *b;
    for (size_t i = 0; (b = binding(v, i)) != NULL; i++) {
        for (int k = 0; k < LSC_TUI_BIND_KEYS && b->keys[k]; k++)
            if (b->keys[k] == key)
                return b;
    }
    return NULL;
}

lsc_tui_req lsc_tui_key_lookup(lsc_tui_view v, int key)
{
    if (key == LSC_KEY_RESIZE)
        return LSC_REQ_RESIZE;
    const lsc_tui_binding *b = lsc_tui_key_binding(v, key);
    return b ? b->req : LSC_REQ_NONE;
}

void lsc_tui_key_elsewhere(lsc_tui_view v, int key, char *buf, size_t cap)
{
    char kb[16];
    size_t len = (size_t)snprintf(buf, cap, "'%s' does nothing here", lsc_tui_key_name(key, kb, sizeof kb));
    const lsc_tui_binding *first = NULL;
    for (int w = 0; w < LSC_VIEW_COUNT && len < cap; w++) {
        const lsc_tui_binding *b = w == (int)v ? NULL : lsc_tui_key_binding((lsc_tui_view)w, key);
        if (!b)
            continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", first ? ", " : " (in ",
                                lsc_tui_view_name((lsc_tui_view)w));
        if (!first)
            first = b;
    }
    if (first && len < cap)
        len += (size_t)snprintf(buf + len, cap - len, ": %s)", first->help);
    if (len < cap)
        snprintf(buf + len, cap - len, "; ? lists this view's keys");
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
    const lsc_tui_binding *b;
    for (size_t i = 0; (b = binding(v, i)) != NULL && n < cap; i++) {
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

/* ---- the bottom key bar ------------------------------------------------------------------------------ */

lsc_tui_bar_ctx lsc_tui_bar_context(const lsc_tui_state *st)
{
    if (st->job)
        return LSC_BAR_JOB;
    if (st->confirm.open)
        return LSC_BAR_CONFIRM;
    if (st->prompt.mode == LSC_INPUT_PROMPT)
        return LSC_BAR_PROMPT;
    if (st->prompt.mode != LSC_INPUT_NONE)
        return LSC_BAR_INPUT;
    return st->help.open ? LSC_BAR_HELP : LSC_BAR_VIEW;
}

/* The keys a dialog takes (view_prompt.c, state.c's confirm and job handling, view_help.c). */
typedef struct {
    int key;
    const char *text, *utf8, *label;
} dialog_key;
static const dialog_key k_help_bar[] = {
    {'j', "j k", NULL, "scroll"}, {'?', "?", NULL, "close"}, {LSC_KEY_ESC, "Esc", NULL, "close"}, {0}};
static const dialog_key k_confirm_bar[] = {
    {'y', "y", NULL, "yes"}, {'n', "n", NULL, "no"}, {LSC_KEY_ENTER, "Enter", NULL, "no"},
    {LSC_KEY_ESC, "Esc", NULL, "no"}, {0}};
static const dialog_key k_prompt_bar[] = {
    {LSC_KEY_TAB, "Tab", NULL, "complete"}, {LSC_KEY_UP, "Up/Dn", "\xe2\x86\x91\xe2\x86\x93", "history"},
    {LSC_KEY_ENTER, "Enter", NULL, "run"}, {LSC_KEY_ESC, "Esc", NULL, "cancel"},
    {LSC_KEY_CTRL('u'), "^U", NULL, "clear"}, {0}};
static const dialog_key k_input_bar[] = {
    {LSC_KEY_ENTER, "Enter", NULL, "done"}, {LSC_KEY_ESC, "Esc", NULL, "cancel"},
    {LSC_KEY_CTRL('u'), "^U", NULL, "clear"}, {0}};
static const dialog_key k_job_bar[] = {{LSC_KEY_ESC, "Esc", NULL, "cancel"}, {0}};

/* Display columns of a UTF-8 string (the bar's arrows are one column each). */
static int text_cols(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* The role of a request for its key's highlight. */
static lsc_tui_bar_role req_role(lsc_tui_req req)
{
    switch (req) {
    case LSC_REQ_PRUNE: case LSC_REQ_MERGE: case LSC_REQ_RETRAIN: case LSC_REQ_APPLY: case LSC_REQ_UNDO:
    case LSC_REQ_REDO: case LSC_REQ_DEC: case LSC_REQ_INC: case LSC_REQ_EDIT: case LSC_REQ_NEXT_RULE:
    case LSC_REQ_LAYER_GLOB: case LSC_REQ_PAUSE:
        return LSC_BAR_ROLE_EDIT;
    default: return LSC_BAR_ROLE_MOVE;
    }
}

/* The key a binding shows on the bar: its first letter ("q" of Esc/q/Bksp, "e" of =/e), else its first
 * printable key ("/"), else its first key ("Enter", "Tab"). */
static int shown_key(const lsc_tui_binding *b)
{
    for (int k = 0; k < LSC_TUI_BIND_KEYS && b->keys[k]; k++)
        if ((b->keys[k] >= 'a' && b->keys[k] <= 'z') || (b->keys[k] >= 'A' && b->keys[k] <= 'Z'))
            return b->keys[k];
    for (int k = 0; k < LSC_TUI_BIND_KEYS && b->keys[k]; k++)
        if (b->keys[k] > ' ' && b->keys[k] < 127)
            return b->keys[k];
    return b->keys[0];
}

/* An entry into *it; prio is its priority (the highest is left out first). */
static void bar_item(lsc_tui_bar_item *it, int *prio, int key, const char *text, const char *label,
                     lsc_tui_req req, lsc_tui_bar_role role, int p)
{
    memset(it, 0, sizeof *it);
    it->key = key;
    if (text)
        snprintf(it->key_text, sizeof it->key_text, "%s", text);
    else
        lsc_tui_key_name(key, it->key_text, sizeof it->key_text);
    it->label = label;
    it->req = req;
    it->role = role;
    it->key_width = text_cols(it->key_text);
    it->width = it->key_width + 1 + (int)strlen(label);
    *prio = p;
}

/* The entries of view v at rest, in bar order: the view's own by rank, then the global ones by rank. */
static int view_items(lsc_tui_view v, lsc_tui_bar_item *out, int *prio, int cap)
{
    int n = 0;
    for (int global = 0; global < 2; global++)
        for (int rank = 1; rank <= 32; rank++) {
            const lsc_tui_binding *b;
            for (size_t i = 0; (b = binding(v, i)) != NULL && n < cap; i++) {
                size_t n_own;
                lsc_tui_view_keys(v, &n_own);
                if ((i >= n_own) != global || !b->bar || b->bar_rank != rank)
                    continue;
                const char *label = v == LSC_VIEW_CATALOG && b->req == LSC_REQ_BACK ? "quit" : b->bar;
                bar_item(&out[n], &prio[n], shown_key(b), NULL, label, b->req,
                         global ? LSC_BAR_ROLE_GLOBAL : req_role(b->req), global ? rank - 100 : rank);
                n++;
            }
        }
    return n;
}

/* The entries of a dialog, in its order (the last is left out first). */
static int dialog_items(const dialog_key *d, int unicode, lsc_tui_bar_item *out, int *prio, int cap)
{
    int n = 0;
    for (; d->key && n < cap; d++, n++)
        bar_item(&out[n], &prio[n], d->key, unicode && d->utf8 ? d->utf8 : d->text, d->label, LSC_REQ_NONE,
                 LSC_BAR_ROLE_MOVE, n);
    return n;
}

/* The entries of context ctx before fitting. */
static int bar_items(lsc_tui_view v, lsc_tui_bar_ctx ctx, int unicode, lsc_tui_bar_item *out, int *prio, int cap)
{
    switch (ctx) {
    case LSC_BAR_HELP: return dialog_items(k_help_bar, unicode, out, prio, cap);
    case LSC_BAR_CONFIRM: return dialog_items(k_confirm_bar, unicode, out, prio, cap);
    case LSC_BAR_PROMPT: return dialog_items(k_prompt_bar, unicode, out, prio, cap);
    case LSC_BAR_INPUT: return dialog_items(k_input_bar, unicode, out, prio, cap);
    case LSC_BAR_JOB: {
        int n = dialog_items(k_job_bar, unicode, out, prio, cap);
        const lsc_tui_binding *b;
        for (size_t i = 0; (b = binding(v, i)) != NULL && n < cap; i++)
            if (b->req == LSC_REQ_PAUSE && b->bar) { /* a running retrain pauses */
                bar_item(&out[n], &prio[n], shown_key(b), NULL, b->bar, b->req, LSC_BAR_ROLE_EDIT, n);
                n++;
            }
        return n;
    }
    case LSC_BAR_VIEW: default: return view_items(v, out, prio, cap);
    }
}

int lsc_tui_bar(lsc_tui_view v, lsc_tui_bar_ctx ctx, int cols, int unicode, lsc_tui_bar_item *out, int cap)
{
    int prio[64];
    if (cap > 64)
        cap = 64;
    int n = bar_items(v, ctx, unicode, out, prio, cap);
    for (;;) {
        int total = 0, drop = -1;
        for (int i = 0; i < n; i++) {
            total += out[i].width + (i ? 2 : 0);
            if (drop < 0 || prio[i] > prio[drop])
                drop = i;
        }
        if (total <= cols || n == 0)
            break;
        memmove(&out[drop], &out[drop + 1], (size_t)(n - drop - 1) * sizeof *out);
        memmove(&prio[drop], &prio[drop + 1], (size_t)(n - drop - 1) * sizeof *prio);
        n--;
    }
    for (int i = 0, x = 0; i < n; i++) {
        out[i].x = x;
        x += out[i].width + 2;
    }
    return n;
}

const char *lsc_tui_key_for(lsc_tui_view v, lsc_tui_req req, char *buf, size_t cap)
{
    size_t n = 0;
    const lsc_tui_binding *t = lsc_tui_view_keys(v, &n);
    for (int pass = 0; pass < 2; pass++, t = lsc_tui_global_keys, n = lsc_tui_n_global_keys)
        for (size_t i = 0; i < n; i++)
            if (t[i].req == req && t[i].keys[0])
                return lsc_tui_key_name(t[i].keys[0], buf, cap);
    snprintf(buf, cap, "?");
    return buf;
}
