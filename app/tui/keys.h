/* keys.h: the one key binding table of the workbench.
 *
 * Keys are Unicode code points or the LSC_KEY_* codes below (render.c translates curses key codes into
 * them, so this module needs no curses). Every binding carries the views it applies to, its request and a
 * help text; the help overlay and the F-key bar are generated from this table, so they can never drift
 * from what the keys do. Depends on state.h (request and view enums) only.
 */
#ifndef LSC_TUI_KEYS_H
#define LSC_TUI_KEYS_H

#include <stddef.h>

#include "state.h"

enum {
    LSC_KEY_BASE = 0x110000, /* above Unicode */
    LSC_KEY_UP,
    LSC_KEY_DOWN,
    LSC_KEY_LEFT,
    LSC_KEY_RIGHT,
    LSC_KEY_PGUP,
    LSC_KEY_PGDN,
    LSC_KEY_HOME,
    LSC_KEY_END,
    LSC_KEY_BACKSPACE,
    LSC_KEY_DELETE,
    LSC_KEY_RESIZE,
    LSC_KEY_SLEFT,  /* Shift-Left */
    LSC_KEY_SRIGHT, /* Shift-Right */
    LSC_KEY_F0 = LSC_KEY_BASE + 0x100, /* LSC_KEY_F0 + n is Fn */
};
#define LSC_KEY_F(n) (LSC_KEY_F0 + (n))
#define LSC_KEY_ENTER '\n'
#define LSC_KEY_ESC 27
#define LSC_KEY_TAB '\t'
#define LSC_KEY_CTRL(c) ((c) & 0x1f)

#define LSC_VIEWS_ALL ((1u << LSC_VIEW_COUNT) - 1u)
#define LSC_VIEW_BIT(v) (1u << (v))
#define LSC_TUI_BIND_KEYS 4

typedef struct lsc_tui_binding {
    unsigned views;                /* LSC_VIEW_BIT mask */
    lsc_tui_req req;
    int keys[LSC_TUI_BIND_KEYS];   /* 0-terminated */
    const char *help;              /* one line for the help overlay */
    const char *fkey_label;        /* label on the F-key bar for the first F-key in keys[], or NULL */
} lsc_tui_binding;

/* The table and its length. */
extern const lsc_tui_binding lsc_tui_bindings[];
extern const size_t lsc_tui_n_bindings;

/* The request bound to `key` in view v, LSC_REQ_NONE if none. */
lsc_tui_req lsc_tui_key_lookup(lsc_tui_view v, int key);

/* Printable name of a key into buf ("j", "Down", "PgDn", "F1", "Space", "^L"); ASCII only. */
const char *lsc_tui_key_name(int key, char *buf, size_t cap);

/* Help lines for view v: each "KEYS  help" entry in table order, written as separate strings into
 * lines (each line up to 80 bytes in the caller's rows [cap][80]). Returns the count. */
size_t lsc_tui_help_lines(lsc_tui_view v, char (*lines)[80], size_t cap);

/* The F-key bar of view v: entries in F-number order with their x position and width on the bar
 * ("F1Help" is 6 wide; entries are separated by one space). Returns the count. */
typedef struct lsc_tui_fkey {
    int fnum;
    const char *label;
    lsc_tui_req req;
    int x, width;
} lsc_tui_fkey;
int lsc_tui_fkeys(lsc_tui_view v, lsc_tui_fkey *out, int cap);

/* Parse a key script word for tests and the smoke driver: a single character, "Enter", "Esc", "Tab",
 * "Space", "Up", "Down", "Left", "Right", "PgUp", "PgDn", "Home", "End", "F1".."F12", "^X". -1 if unknown. */
int lsc_tui_key_parse(const char *word);

#endif
