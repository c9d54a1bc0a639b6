/* keys.c: key lookup, key names, and each view's help overlay and F-key bar, from the view's own key table
 * (view_<name>.c) followed by the global table here. Changing a key changes the behaviour, the help
 * overlay and the F-key bar together.
 * Never depends on curses: render.c maps curses key codes to LSC_KEY_* before they reach this table.
 */
#include "keys.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "view.h"

const lsc_tui_binding lsc_tui_global_keys[] = {
    {LSC_REQ_BACK, {LSC_KEY_ESC, 'q', LSC_KEY_BACKSPACE}, "go back (q on the catalog quits)", NULL},
    {LSC_REQ_QUIT, {'Q', LSC_KEY_F(10)}, "quit", "Quit"},
    {LSC_REQ_SAVE, {'W'}, "save the session's edits as a replayable script", NULL},
    {LSC_REQ_HISTORY, {'H', LSC_KEY_F(7)}, "history of changes", "History"},
    {LSC_REQ_PROMPT, {':', LSC_KEY_F(9)}, "command prompt (any command; :w FILE saves a session)", "Cmd"},
    {LSC_REQ_HELP, {'?', LSC_KEY_F(1)}, "this help", "Help"},
    {LSC_REQ_REFRESH, {LSC_KEY_CTRL('l')}, "reload data and redraw", NULL},
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

int lsc_tui_fkeys(lsc_tui_view v, lsc_tui_fkey *out, int cap)
{
    int n = 0, x = 0;
    for (int f = 1; f <= 12 && n < cap; f++) {
        const lsc_tui_binding *b;
        for (size_t i = 0; (b = binding(v, i)) != NULL; i++) {
            if (!b->fkey_label)
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
