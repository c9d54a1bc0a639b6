/* keys.h: the key bindings of the workbench: one table per view (in its view_<name>.c) and one global table.
 *
 * Keys are Unicode code points or the LSC_KEY_* codes below (render.c translates curses key codes into
 * them, so this module needs no curses). A view's keys are its own table followed by the global one; every
 * binding carries its request and a help text, and each view's help overlay and F-key bar are generated
 * from its tables, so they can never drift from what the keys do or list another view's keys. The
 * LSC_KEYS_* rows below are the bindings several views share (the list behaviour of list.c). Depends on
 * state.h (request and view enums) only.
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

#define LSC_TUI_BIND_KEYS 4

typedef struct lsc_tui_binding {
    lsc_tui_req req;
    int keys[LSC_TUI_BIND_KEYS];   /* 0-terminated */
    const char *help;              /* one line for the help overlay */
    const char *fkey_label;        /* label on the F-key bar for the first F-key in keys[], or NULL */
} lsc_tui_binding;

/* Rows several views share. */
#define LSC_KEYS_MOVE                                                  \
    {LSC_REQ_DOWN, {'j', LSC_KEY_DOWN}, "move down", NULL},            \
    {LSC_REQ_UP, {'k', LSC_KEY_UP}, "move up", NULL}
#define LSC_KEYS_PAGE                                                  \
    {LSC_REQ_PAGE_DOWN, {LSC_KEY_PGDN, LSC_KEY_CTRL('f')}, "page down", NULL}, \
    {LSC_REQ_PAGE_UP, {LSC_KEY_PGUP, LSC_KEY_CTRL('b')}, "page up", NULL},     \
    {LSC_REQ_TOP, {'g', LSC_KEY_HOME}, "first row", NULL},                     \
    {LSC_REQ_BOTTOM, {'G', LSC_KEY_END}, "last row", NULL}
#define LSC_KEYS_SORT_SEARCH                                                               \
    {LSC_REQ_SORT_NEXT, {'>', LSC_KEY_F(2)}, "sort by the next column", "Sort"},           \
    {LSC_REQ_SORT_PREV, {'<'}, "sort by the previous column", NULL},                       \
    {LSC_REQ_SORT_REVERSE, {'r'}, "reverse the sort direction", NULL},                     \
    {LSC_REQ_SEARCH, {'/', LSC_KEY_F(3)}, "search names", "Search"},                       \
    {LSC_REQ_SEARCH_NEXT, {'n'}, "next match", NULL},                                      \
    {LSC_REQ_SEARCH_PREV, {'N'}, "previous match", NULL}
#define LSC_KEYS_FILTER {LSC_REQ_FILTER, {'f', LSC_KEY_F(4)}, "filter names (glob, empty clears)", "Filter"}
#define LSC_KEYS_UNDO                                                                      \
    {LSC_REQ_UNDO, {'u'}, "undo the latest change (asks first)", NULL},                   \
    {LSC_REQ_REDO, {'U', LSC_KEY_CTRL('r')}, "redo the change undone last", NULL}

/* The keys every view has (back, quit, help, prompt, history, save, refresh). */
extern const lsc_tui_binding lsc_tui_global_keys[];
extern const size_t lsc_tui_n_global_keys;

/* The own key table of view v (without the global keys); *n gets its length. */
const lsc_tui_binding *lsc_tui_view_keys(lsc_tui_view v, size_t *n);

/* The request bound to `key` in view v, LSC_REQ_NONE if none. */
lsc_tui_req lsc_tui_key_lookup(lsc_tui_view v, int key);

/* The binding of `key` in view v (its own table, then the global one); NULL if none. */
const lsc_tui_binding *lsc_tui_key_binding(lsc_tui_view v, int key);

/* Why `key` does nothing in view v, into buf: "'K' does nothing here (in layers, grid: kind panel ...);
 * ? lists this view's keys" — the views where it does something, from their tables. */
void lsc_tui_key_elsewhere(lsc_tui_view v, int key, char *buf, size_t cap);

/* The name of the first key bound to `req` in view v (its own table, then the global one) into buf, for
 * hints written in messages ("v grid"), so a hint cannot drift from the key map; "?" if none. */
const char *lsc_tui_key_for(lsc_tui_view v, lsc_tui_req req, char *buf, size_t cap);

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
