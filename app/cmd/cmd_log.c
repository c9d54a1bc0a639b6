/* cmd_log.c: `lorascope log [NAME] [--json]`: what was done to the catalog, newest first. */
#include <time.h>

#include "common.h"
#include "handlers.h"

int lsc_cmd_log(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    int json = ctx->json, c;
    while ((c = lsc_getopt_next(ctx, &g, argc, argv, opts)) != -1) {
        if (c != 'j')
            return LSC_EXIT_USAGE;
        json = 1;
    }
    if (argc - g.ind > 1)
        return lsc_usage_error(ctx, "log", "expected at most one NAME");
    if (ctx->check_only)
        return LSC_EXIT_OK;
    const char *name = argc - g.ind == 1 ? argv[g.ind] : NULL;
    lsc_history_entry *h = NULL;
    size_t n = 0;
    if (lsc_catalog_history(ctx->cat, name, &h, &n, &ctx->err))
        return LSC_EXIT_ERROR;
    char when[64];
    json_t *arr = json ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        time_t tt = (time_t)h[i].time;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        if (arr) {
            json_t *args = json_loads(h[i].args_json, 0, NULL);
            json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:o, s:s, s:s, s:b}", "id", (json_int_t)h[i].id,
                                                 "time", when, "command", h[i].command,
                                                 "args", args ? args : json_array(), "inputs", h[i].inputs,
                                                 "outputs", h[i].outputs, "undone", h[i].undone));
            continue;
        }
        lsc_out(ctx->out, "#%lld  %s UTC  %s%s\n", (long long)h[i].id, when, h[i].command,
                h[i].undone ? "  (undone)" : "");
        lsc_out(ctx->out, "      args: %s\n", h[i].args_json);
        if (h[i].inputs && *h[i].inputs)
            lsc_out(ctx->out, "      read: %s\n", h[i].inputs);
        if (h[i].outputs && *h[i].outputs)
            lsc_out(ctx->out, "     wrote: %s\n", h[i].outputs);
    }
    if (arr) {
        lsc_json_print(ctx->out, arr);
        json_decref(arr);
    } else if (n == 0) {
        lsc_out(ctx->out, "no history yet\n");
    }
    lsc_history_free_array(h, n);
    return LSC_EXIT_OK;
}
