/* main.c: the lorascope binary. Global options, then either one command from the command table (the
 * CLI) or, with no command on a terminal, the workbench (TUI). Decides how errors are shown: one line on
 * stderr, exit 0 ok / 1 error / 2 bad usage. */
#include <cblas.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "pool.h"
#include "sink.h"
#include "tui.h"
#include "workbench.h"

#ifndef LSC_VERSION
#define LSC_VERSION "dev"
#endif

/* Ctrl-C / SIGTERM during a long command: the first asks it to stop cleanly (nothing half-written; retrain
 * keeps its best state), the second kills as usual. */
static volatile int g_cancel;

static void on_signal(int sig)
{
    if (g_cancel)
        signal(sig, SIG_DFL), raise(sig);
    g_cancel = 1;
}

/* Worker threads for whole-adapter work: LSC_THREADS (1..64) when set and valid, else the online cores. */
static int default_threads(void)
{
    const char *env = getenv("LSC_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 64) return (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

/* The one-line error: messages carry names, paths and tensor names from files and users, escaped where
 * the message was made or, whatever a message forgot, here. */
static void print_error(lsc_sink *diag, const char *msg)
{
    char shown[LSC_ERROR_MSG_MAX * 6];
    lsc_escape(shown, sizeof shown, msg, LSC_ESCAPE_TEXT, NULL);
    lsc_out(diag, "lorascope: %s\n", shown);
}

static void print_help(lsc_sink *out)
{
    lsc_out(out, "usage: lorascope [OPTIONS] [COMMAND [ARGS...]]\n\n"
                 "A terminal workbench for LoRA adapters: browse a catalog, inspect spectra, diff, prune, merge.\n"
                 "With no command (or 'tui [NAME]') on a terminal, opens the workbench.\n\n"
                 "Options:\n"
                 "  --catalog PATH   the catalog file (default: $LORASCOPE_CATALOG, else\n"
                 "                   $XDG_DATA_HOME/lorascope/catalog.db)\n"
                 "  --json           machine-readable output where a command supports it\n"
                 "  --readonly       refuse every change to the catalog\n"
                 "  --no-color       no colours (also NO_COLOR=1)\n"
                 "  --ascii          no Unicode in the workbench\n"
                 "  --no-mouse       no mouse in the workbench\n"
                 "  --help, --version\n\nCommands:\n");
    for (size_t i = 0; i < lsc_n_commands; i++)
        lsc_out(out, "  %-10s %s\n", lsc_commands[i].name, lsc_commands[i].summary);
    lsc_out(out, "\n'lorascope COMMAND --help' shows a command's options.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"catalog", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
                                         {"readonly", no_argument, NULL, 'r'},      {"no-color", no_argument, NULL, 'C'},
                                         {"ascii", no_argument, NULL, 'a'},         {"no-mouse", no_argument, NULL, 'M'},
                                         {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    lsc_sink out, diag;
    lsc_sink_init_file(&out, stdout);
    lsc_sink_init_file(&diag, stderr);
    out.escape = diag.escape = 1; /* nothing from a file or a user reaches the terminal as a control */
    lsc_cmd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.out = &out;
    ctx.diag = &diag;
    int c, no_color = 0, ascii = 0, no_mouse = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ctx.catalog_path = optarg; break;
        case 'j': ctx.json = 1; break;
        case 'r': ctx.readonly = 1; break;
        case 'C': no_color = 1; break;
        case 'a': ascii = 1; break;
        case 'M': no_mouse = 1; break;
        case 'h': print_help(&out); return LSC_EXIT_OK;
        case 'V': lsc_out(&out, "lorascope %s\n", LSC_VERSION); return LSC_EXIT_OK;
        case ':':
            lsc_out(&diag, "lorascope: option '%s' needs a value (see 'lorascope --help')\n", argv[optind - 1]);
            return LSC_EXIT_USAGE;
        default:
            lsc_out(&diag, "lorascope: unknown option '%s' (see 'lorascope --help')\n", argv[optind - 1]);
            return LSC_EXIT_USAGE;
        }
    }
    /* rank-16 QRs are too small to share between threads: parallelism, where wanted, is over layers */
    openblas_set_num_threads(1);
    lsc_pool_set_default(default_threads());
    int rc;
    if (optind >= argc || strcmp(argv[optind], "tui") == 0) {
        if (optind < argc && optind + 2 < argc) {
            fprintf(stderr, "lorascope: usage: lorascope tui [NAME]\n");
            return LSC_EXIT_USAGE;
        }
        char why[256];
        if (lsc_tui_check_terminal(why, sizeof why) != 0) {
            lsc_out(&diag, "lorascope: cannot open the workbench: %s\n"
                            "lorascope: use the command line instead, e.g. 'lorascope ls' ('lorascope --help' lists commands)\n",
                    why);
            return LSC_EXIT_ERROR;
        }
        lsc_tui_model model;
        lsc_error err;
        lsc_error_clear(&err);
        if (lsc_workbench_model_init(&model, ctx.catalog_path, ctx.readonly, &err)) {
            print_error(&diag, err.msg);
            return LSC_EXIT_ERROR;
        }
        lsc_tui_options topts = {no_color, ascii, no_mouse, lsc_workbench_is_readonly(&model),
                                 optind + 1 < argc ? argv[optind + 1] : NULL};
        rc = lsc_tui_run(&model, &topts);
        lsc_tui_model_release(&model);
        return rc;
    }
    ctx.cancel = &g_cancel;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    rc = lsc_dispatch(&ctx, argc - optind, argv + optind);
    if (rc != LSC_EXIT_OK)
        print_error(&diag, ctx.err.msg[0] ? ctx.err.msg : "failed");
    fflush(stdout);
    return rc;
}
