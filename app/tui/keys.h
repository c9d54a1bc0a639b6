/* keys.h: the key bindings of the workbench: one table per view (in its view_<name>.c) and one global table.
 *
 * Keys are Unicode code points or the LSC_KEY_* codes below (render.c translates curses key codes into
 * them, so this module needs no curses). A view's keys are its own table followed by the global one; every
 * binding carries its request, a help text and maybe a short bar label, and each view's help overlay and
 * bottom key bar are generated from its tables, so they can never drift from what the keys do or list
 * another view's keys. The LSC_KEYS_* rows below are the bindings several views share (the list behaviour of list.c). Depends on
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
    const char *bar;               /* short label on the bottom key bar ("prune"), or NULL: not on the bar */
    int bar_rank;                  /* the entry's place on the bar, 1 first; the highest rank goes first when
                                    * the bar is too narrow (global entries go after a view's own ones) */
} lsc_tui_binding;

/* Rows several views share. */
#define LSC_KEYS_MOVE                                                  \
    {LSC_REQ_DOWN, {'j', LSC_KEY_DOWN}, "move down", NULL, 0},            \
    {LSC_REQ_UP, {'k', LSC_KEY_UP}, "move up", NULL, 0}
#define LSC_KEYS_PAGE                                                  \
    {LSC_REQ_PAGE_DOWN, {LSC_KEY_PGDN, LSC_KEY_CTRL('f')}, "page down", NULL, 0}, \
    {LSC_REQ_PAGE_UP, {LSC_KEY_PGUP, LSC_KEY_CTRL('b')}, "page up", NULL, 0},     \
    {LSC_REQ_TOP, {'g', LSC_KEY_HOME}, "first row", NULL, 0},                     \
    {LSC_REQ_BOTTOM, {'G', LSC_KEY_END}, "last row", NULL, 0}
#define LSC_KEYS_SORT_SEARCH                                                               \
    {LSC_REQ_SORT_NEXT, {'>', LSC_KEY_F(2)}, "sort by the next column", "sort", 13},           \
    {LSC_REQ_SORT_PREV, {'<'}, "sort by the previous column", NULL, 0},                       \
    {LSC_REQ_SORT_REVERSE, {'r'}, "reverse the sort direction", NULL, 0},                     \
    {LSC_REQ_SEARCH, {'/', LSC_KEY_F(3)}, "search names", "search", 10},                       \
    {LSC_REQ_SEARCH_NEXT, {'n'}, "next match", NULL, 0},                                      \
    {LSC_REQ_SEARCH_PREV, {'N'}, "previous match", NULL, 0}
#define LSC_KEYS_FILTER {LSC_REQ_FILTER, {'f', LSC_KEY_F(4)}, "filter names (glob, empty clears)", "filter", 11}
#define LSC_KEYS_UNDO                                                                      \
    {LSC_REQ_UNDO, {'u'}, "undo the latest change (asks first)", "undo", 12},                   \
    {LSC_REQ_REDO, {'U', LSC_KEY_CTRL('r')}, "redo the change undone last", NULL, 0}

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

/* The bottom key bar (lazygit style: "Enter spectrum  p prune  / search  ? help  : cmd  q back"). What is
 * open decides its entries: a view shows the entries of its table that have a bar label, by rank, then
 * the global ones; the help overlay, the confirm box, the `:` prompt, another input line and a running
 * job show the keys they take. */
typedef enum {
    LSC_BAR_VIEW,    /* a view (or panel) at rest */
    LSC_BAR_HELP,    /* the help overlay */
    LSC_BAR_CONFIRM, /* the confirm box */
    LSC_BAR_PROMPT,  /* the `:` command line */
    LSC_BAR_INPUT,   /* another input line (search, filter, a name, a value, a file) */
    LSC_BAR_JOB,     /* a command runs */
} lsc_tui_bar_ctx;

/* What a key on the bar does, for its highlight: moves or opens, leads to a change, or is global. */
typedef enum { LSC_BAR_ROLE_MOVE, LSC_BAR_ROLE_EDIT, LSC_BAR_ROLE_GLOBAL } lsc_tui_bar_role;

typedef struct lsc_tui_bar_item {
    int key;            /* the key shown (the first of a pair like Up/Down) */
    char key_text[16];  /* as shown: "Enter", "p", "^U"; UTF-8 arrows only when unicode was asked */
    const char *label;  /* "prune" */
    lsc_tui_req req;    /* the request the key makes in the view; LSC_REQ_NONE for a dialog's own key */
    lsc_tui_bar_role role;
    int x, key_width, width; /* columns: entry at x, key_width for the key, width for key, space, label */
} lsc_tui_bar_item;

/* The context of the bar for state st (what has the keys now). */
lsc_tui_bar_ctx lsc_tui_bar_context(const lsc_tui_state *st);

/* The bar of view v in context ctx for a line of `cols` columns, into out (up to cap entries); entries are
 * two columns apart and whole: the lowest-priority ones are left out until the rest fit in cols. unicode
 * allows arrows in key names. Returns the count. */
int lsc_tui_bar(lsc_tui_view v, lsc_tui_bar_ctx ctx, int cols, int unicode, lsc_tui_bar_item *out, int cap);

/* Parse a key script word for tests and the smoke driver: a single character, "Enter", "Esc", "Tab",
 * "Space", "Up", "Down", "Left", "Right", "PgUp", "PgDn", "Home", "End", "F1".."F12", "^X". -1 if unknown. */
int lsc_tui_key_parse(const char *word);

#endif
