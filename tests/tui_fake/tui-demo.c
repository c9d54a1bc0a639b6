/* tui-demo.c: the workbench over the fake model, for trying the TUI and for the tmux smoke test before
 * the real catalog binding exists. Not installed. Usage: lsc-tui-demo [--no-color] [--ascii] [--no-mouse]
 * [--readonly] [ADAPTER]. Depends on the TUI library only.
 */
#include <stdio.h>
#include <string.h>

#include "tui_fake_model.h"
#include "tui.h"

int main(int argc, char **argv)
{
    lsc_tui_options o = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-color") == 0)
            o.no_color = 1;
        else if (strcmp(argv[i], "--ascii") == 0)
            o.ascii = 1;
        else if (strcmp(argv[i], "--no-mouse") == 0)
            o.no_mouse = 1;
        else if (strcmp(argv[i], "--readonly") == 0)
            o.readonly = 1;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: lsc-tui-demo [--no-color] [--ascii] [--no-mouse] [--readonly] [ADAPTER]\n");
            return 2;
        } else
            o.adapter = argv[i];
    }
    char why[256];
    if (lsc_tui_check_terminal(why, sizeof why) != 0) {
        fprintf(stderr, "lsc-tui-demo: %s: cannot start the workbench (use the lorascope CLI instead)\n", why);
        return 1;
    }
    lsc_tui_model m;
    lsc_error err = {0};
    if (lsc_tui_model_fake_init(&m, 20240101u, &err) != LSC_OK) {
        fprintf(stderr, "lsc-tui-demo: %s\n", err.msg);
        return 1;
    }
    int rc = lsc_tui_run(&m, &o);
    lsc_tui_model_release(&m);
    return rc;
}
