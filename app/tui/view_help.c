/* view_help.c: the help overlay. While it is open it takes the requests: j/k scroll it, ? or Esc close it,
 * anything else is ignored (lsc_tui_state_key closes it on an unbound key). Its lines come from the key
 * table of the view underneath (keys.c: lsc_tui_help_lines). Never includes curses.
 */
#include "view.h"

unsigned lsc_tui_help_open(lsc_tui_state *st)
{
    st->help.open = 1;
    st->help.top = 0;
    return LSC_TUI_CH_REDRAW;
}

unsigned lsc_tui_help_request(lsc_tui_state *st, lsc_tui_req req)
{
    switch (req) {
    case LSC_REQ_DOWN: st->help.top++; return LSC_TUI_CH_REDRAW;
    case LSC_REQ_UP: st->help.top -= st->help.top > 0; return LSC_TUI_CH_REDRAW;
    case LSC_REQ_HELP:
    case LSC_REQ_BACK: st->help.open = 0; return LSC_TUI_CH_REDRAW;
    default: return 0;
    }
}
