/* cmd_log.c: `lorascope log [NAME] [--json]`: what was done to the catalog, newest first. */
#include <time.h>

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "handlers.h"
#include "script.h"

/* 1 if the comma-separated list `csv` holds `name`. */
static int csv_has(const char *csv, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = csv; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* The history as a script that rebuilds it on another catalog: live entries, oldest first; with a name,
 * only the entries in that adapter's lineage (what wrote it, and what wrote what those read). */
static int print_script(lsc_cmd_ctx *ctx, lsc_history_entry *h, size_t n, const char *name, int64_t since)
{
    char *want = calloc(n + 1, 1);
    size_t cap = 16, nn = 0;
    char **names = malloc(cap * sizeof(char *));
    if (!want || !names) {
        free(want);
        free(names);
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        return LSC_EXIT_ERROR;
    }
    if (name)
        names[nn++] = strdup(name);
    for (size_t i = 0; i < n; i++) { /* newest first */
        if (h[i].undone || h[i].id <= since)
            continue;
        int hit = !name;
        for (size_t k = 0; k < nn && !hit; k++)
            hit = csv_has(h[i].outputs, names[k]);
        if (!hit)
            continue;
        want[i] = 1;
        if (!name || !h[i].inputs)
            continue;
        char *in = strdup(h[i].inputs), *save = NULL;
        for (char *t = strtok_r(in, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (nn == cap) {
                cap *= 2;
                names = realloc(names, cap * sizeof(char *));
            }
            names[nn++] = strdup(t);
        }
        free(in);
    }
    lsc_out(ctx->out, "# lorascope script: %s, replay with 'lorascope run FILE'\n", name ? name : "the whole catalog");
    lsc_out(ctx->out, "# import paths are as they were typed: run it from the same folder\n");
    for (size_t i = n; i-- > 0;) {
        if (!want[i])
            continue;
        json_t *args = json_loads(h[i].args_json, 0, NULL);
        size_t k;
        json_t *a;
        json_array_foreach(args, k, a) {
            char *q = lsc_script_quote(json_string_value(a) ? json_string_value(a) : "");
            lsc_out(ctx->out, "%s%s", k ? " " : "", q ? q : "''");
            free(q);
        }
        lsc_out(ctx->out, "\n");
        json_decref(args);
    }
    for (size_t k = 0; k < nn; k++)
        free(names[k]);
    free(names);
    free(want);
    return LSC_EXIT_OK;
}

/* One line: label, then text from the catalog (names, arguments as typed) escaped in `mode`. */
static void print_escaped(lsc_cmd_ctx *ctx, const char *label, const char *text, lsc_escape_mode mode)
{
    size_t cap = strlen(text) * 8 + 1; /* the longest escape, \u00NN for one byte of two, fits */
    char *e = malloc(cap);
    if (e)
        lsc_escape(e, cap, text, mode, NULL);
    lsc_out(ctx->out, "%s%s\n", label, e ? e : "?");
    free(e);
}

int lsc_cmd_log(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"script", no_argument, NULL, 's'}, {"since", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    int json = ctx->json, script = 0, c;
    long long since = 0;
    char *end;
    while ((c = lsc_getopt_next(ctx, &g, argc, argv, opts)) != -1) {
        if (c == 'j')
            json = 1;
        else if (c == 's')
            script = 1;
        else if (c == 'S') {
            since = strtoll(g.arg, &end, 10);
            if (*end || since < 0)
                return lsc_usage_error(ctx, "log", "--since takes a history number");
        } else
            return LSC_EXIT_USAGE;
    }
    if (argc - g.ind > 1)
        return lsc_usage_error(ctx, "log", "expected at most one NAME");
    if (ctx->check_only)
        return LSC_EXIT_OK;
    const char *name = argc - g.ind == 1 ? argv[g.ind] : NULL;
    lsc_history_entry *h = NULL;
    size_t n = 0;
    if (lsc_catalog_history(ctx->cat, script ? NULL : name, &h, &n, &ctx->err))
        return LSC_EXIT_ERROR;
    if (script) {
        int rc = print_script(ctx, h, n, name, since);
        lsc_history_free_array(h, n);
        return rc;
    }
    char when[64];
    json_t *arr = json ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        if (h[i].id <= since)
            continue;
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
        print_escaped(ctx, "      args: ", h[i].args_json, LSC_ESCAPE_TEXT); /* JSON: its backslashes stay */
        if (h[i].inputs && *h[i].inputs)
            print_escaped(ctx, "      read: ", h[i].inputs, LSC_ESCAPE_NAME);
        if (h[i].outputs && *h[i].outputs)
            print_escaped(ctx, "     wrote: ", h[i].outputs, LSC_ESCAPE_NAME);
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
