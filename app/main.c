/* main.c: the lorascope binary. Global options, then either one command from the command table (the
 * CLI) or, with no command on a terminal, the workbench (TUI). Decides how errors are shown: one line on
 * stderr, exit 0 ok / 1 error / 2 bad usage. */
#include <cblas.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "command.h"
#include "completion.h"
#include "docs.h"
#include "pool.h"
#include "sink.h"
#include "tui.h"
#include "workbench.h"

/* OpenBLAS's pthread build starts its worker threads when it loads; told to use one thread they still
 * spin (sched_yield) for a while before sleeping, taking a core from the layer pool at the start of
 * every command. Weak: a BLAS without this entry point simply keeps its threads. */
extern void blas_thread_shutdown_(void) __attribute__((weak));

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
                 "Options:\n");
    lsc_global_opts_help(out);
    lsc_out(out, "\nCommands:\n");
    for (size_t i = 0; i < lsc_n_commands; i++)
        lsc_out(out, "  %-10s %s\n", lsc_commands[i].name, lsc_commands[i].summary);
    lsc_out(out, "\n'lorascope COMMAND --help' shows a command's options; 'lorascope help COMMAND' its manual page.\n");
}

/* Show a page with `man -l` (the page is generated, so it works installed or not); 0 if man showed it. */
static int show_with_man(const lsc_sink *page)
{
    char path[] = "/tmp/lorascope-help-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    int ok = write(fd, page->buf, page->len) == (ssize_t)page->len;
    close(fd);
    int rc = -1;
    if (ok) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            execlp("man", "man", "-l", path, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) != 127)
            rc = 0;
    }
    unlink(path);
    return rc;
}

/* `lorascope help [COMMAND|script]`: the manual page through man on a terminal, else as plain text. */
static int run_help(lsc_sink *out, lsc_sink *diag, int argc, char **argv)
{
    char page[160] = "lorascope";
    if (argc > 2) {
        lsc_out(diag, "lorascope: usage: lorascope help [COMMAND|script]\n");
        return LSC_EXIT_USAGE;
    }
    if (argc == 2)
        snprintf(page, sizeof page, "lorascope-%s", argv[1]);
    lsc_sink m;
    lsc_sink_init_mem(&m);
    if (lsc_man_page(&m, page) != 0) {
        char shown[256];
        lsc_out(diag, "lorascope: help: no page for '%s' (a command name, or 'script')\n",
                lsc_escape_name(shown, sizeof shown, argv[1]));
        lsc_sink_release(&m);
        return LSC_EXIT_USAGE;
    }
    if (!(isatty(STDOUT_FILENO) && show_with_man(&m) == 0))
        lsc_man_to_text(out, m.buf);
    lsc_sink_release(&m);
    return LSC_EXIT_OK;
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
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
    lsc_pool_set_default(default_threads());
    int rc;
    if (optind < argc && strcmp(argv[optind], "help") == 0)
        return run_help(&out, &diag, argc - optind, argv + optind);
    if (optind < argc && strcmp(argv[optind], "__complete") == 0) {
        rc = lsc_complete_words(&ctx, argc - optind - 1, argv + optind + 1);
        if (rc != LSC_EXIT_OK)
            print_error(&diag, ctx.err.msg);
        return rc;
    }
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
