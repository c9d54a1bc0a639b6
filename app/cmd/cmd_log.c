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

/* `word` for a script line where the runner reads it as an adapter: a name holding glob characters (one
 * made before names had an alphabet, see lsc_name_check) would match other adapters ('rm *' removes all),
 * so each of * ? [ becomes a bracket expression matching only itself: the glob matches just that name.
 * malloc'ed. */
static char *glob_literal(const char *word)
{
    char *o = malloc(strlen(word) * 3 + 1), *p = o;
    if (!o)
        return NULL;
    for (; *word; word++) {
        if (strchr("*?[", *word)) {
            *p++ = '[';
            *p++ = *word;
            *p++ = ']';
        } else {
            *p++ = *word;
        }
    }
    *p = '\0';
    return o;
}

/* One history entry as a script line: its arguments as typed, quoted for the script reader; adapter
 * arguments with glob characters made literal (glob_literal). Arguments that could not be recorded
 * (bytes that are not UTF-8) make a comment line instead, saying so, never a blank or partial line. */
static void print_line(lsc_cmd_ctx *ctx, const lsc_history_entry *h)
{
    json_t *args = json_loads(h->args_json, 0, NULL);
    size_t n = json_array_size(args);
    int whole = n > 0;
    for (size_t k = 0; k < n; k++)
        whole = whole && json_is_string(json_array_get(args, k));
    if (!whole) {
        lsc_out(ctx->out, "# #%lld %s: its arguments were not recorded (not UTF-8): it cannot be replayed\n",
                (long long)h->id, h->command);
        lsc_out(ctx->diag, "lorascope: warning: history entry #%lld (%s) cannot be replayed: its arguments were not "
                           "recorded\n", (long long)h->id, h->command);
        json_decref(args);
        return;
    }
    const lsc_command *c = lsc_command_find(json_string_value(json_array_get(args, 0)));
    int pos = 0, options_over = 0;
    for (size_t k = 0; k < n; k++) {
        const char *w = json_string_value(json_array_get(args, k));
        char *lit = NULL;
        if (k > 0 && !options_over && strcmp(w, "--") == 0) {
            options_over = 1;
        } else if (k > 0 && !options_over && w[0] == '-' && w[1]) {
            if (c && !strchr(w, '=') && lsc_command_option_takes_value(c, w) && k + 1 < n) {
                char *q = lsc_script_quote(w);
                lsc_out(ctx->out, " %s", q ? q : "''");
                free(q);
                w = json_string_value(json_array_get(args, ++k)); /* the option's value: never an adapter glob */
            }
        } else if (k > 0) {
            if (c && lsc_command_positional_is_adapter(c, pos) && strpbrk(w, "*?["))
                w = lit = glob_literal(w);
            pos++;
        }
        char *q = lsc_script_quote(w ? w : "");
        lsc_out(ctx->out, "%s%s", k ? " " : "", q ? q : "''");
        free(q);
        free(lit);
    }
    lsc_out(ctx->out, "\n");
    json_decref(args);
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
    for (size_t i = n; i-- > 0;)
        if (want[i])
            print_line(ctx, &h[i]);
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

typedef struct log_args {
    lsc_args base;
    const char *name;
    int json, script;
    long long since;
} log_args;

static const lsc_opt log_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_STRING, .flags = LSC_OPT_POSITIONAL | LSC_OPT_OPTIONAL, .at = offsetof(log_args, name),
     .help = "only changes that read or wrote this adapter"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(log_args, json),
     .help = "an array of {id, time, command, args, inputs, outputs, undone, run}\n(run: the id of the first entry of the script run it belongs to, or null)"},
    {.name = "script", .type = LSC_OPT_FLAG, .at = offsetof(log_args, script),
     .help = "print the live history as a script that rebuilds it ('lorascope run');\nwith NAME, only that adapter's lineage"},
    {.name = "since", .type = LSC_OPT_INT, .metavar = "ID", .ilo = 0, .ihi = LLONG_MAX, .at = offsetof(log_args, since),
     .def = "0", .help = "only changes after history entry ID (the TUI saves its session this way)"},
    {0}};

/* `log NAME` of a name neither in the catalog nor in its history is a mistake, not an empty history. */
static int check_known(lsc_cmd_ctx *ctx, const char *name)
{
    int64_t id;
    lsc_history_entry *h = NULL;
    size_t n = 0;
    if (lsc_catalog_find(ctx->cat, name, &id, &ctx->err) == LSC_OK)
        return LSC_EXIT_OK;
    if (lsc_catalog_history(ctx->cat, name, &h, &n, &ctx->err))
        return LSC_EXIT_ERROR;
    lsc_history_free_array(h, n);
    if (n > 0)
        return LSC_EXIT_OK;
    char shown[512];
    lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "log: no adapter '%s' in the catalog or its history",
                  lsc_escape_name(shown, sizeof shown, name));
    lsc_cmd_suggest_adapter(ctx, name);
    return LSC_EXIT_ERROR;
}

static int log_run(lsc_cmd_ctx *ctx, void *args)
{
    const log_args *av = args;
    int json = ctx->json || av->json, script = av->script;
    long long since = av->since;
    const char *name = av->name;
    lsc_history_entry *h = NULL;
    size_t n = 0;
    if (name && check_known(ctx, name))
        return LSC_EXIT_ERROR;
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
            json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:o, s:s, s:s, s:b, s:o}", "id", (json_int_t)h[i].id,
                                                 "time", when, "command", h[i].command,
                                                 "args", args ? args : json_array(), "inputs", h[i].inputs,
                                                 "outputs", h[i].outputs, "undone", h[i].undone,
                                                 "run", h[i].run ? json_integer(h[i].run) : json_null()));
            continue;
        }
        /* a script run's lines name their run, which is one change for undo and redo */
        char grp[64] = "";
        if (h[i].run)
            snprintf(grp, sizeof grp, "  (run #%lld)", (long long)h[i].run);
        lsc_out(ctx->out, "#%lld  %s UTC  %s%s%s\n", (long long)h[i].id, when, h[i].command, grp,
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

const lsc_cmd_spec lsc_spec_log = {log_opts, sizeof(log_args), NULL, log_run, ""};
