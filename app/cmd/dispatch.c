/* dispatch.c: the common work around every command, done once (see command.h).
 *
 * Protocol: find the command; answer --help; refuse a mutating command on a read-only session; open the
 * catalog when needed (creating it only for a mutating command); run a mutating command inside one
 * BEGIN IMMEDIATE transaction and record it in the history in that same transaction, so the change and
 * its record land together or not at all; roll back on any failure, on --dry-run, or when the handler
 * found nothing to change. The arguments are parsed and validated from the command's option table once,
 * before the catalog is opened; a script check (ctx->check_only) stops there and never runs the command.
 * A command run inside that transaction writes its results to a holding sink, passed on only once the
 * COMMIT succeeded (or the command succeeded without committing: --dry-run, no change): a failed COMMIT
 * (a full disk) must not follow "imported ..." on stdout. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog.h"
#include "command.h"
#include "suggest.h"

void lsc_cmd_read(lsc_cmd_ctx *ctx, int64_t id)
{
    for (size_t i = 0; i < ctx->n_inputs; i++)
        if (ctx->inputs[i] == id)
            return;
    if (ctx->n_inputs < LSC_CMD_MAX_IO)
        ctx->inputs[ctx->n_inputs++] = id;
}

void lsc_cmd_wrote(lsc_cmd_ctx *ctx, int64_t id)
{
    for (size_t i = 0; i < ctx->n_outputs; i++)
        if (ctx->outputs[i] == id)
            return;
    if (ctx->n_outputs < LSC_CMD_MAX_IO)
        ctx->outputs[ctx->n_outputs++] = id;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

static char *args_json(int argc, char **argv)
{
    json_t *arr = json_array();
    for (int i = 0; i < argc; i++) {
        json_t *v = json_string(argv[i]); /* NULL for bytes that are not UTF-8: keep them unchecked */
        json_array_append_new(arr, v ? v : json_stringn_nocheck(argv[i], strlen(argv[i])));
    }
    char *s = json_dumps(arr, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(arr);
    return s;
}

static int open_catalog(lsc_cmd_ctx *ctx, const lsc_command *c)
{
    char buf[4096];
    const char *path = ctx->catalog_path;
    if (!path) {
        path = lsc_catalog_default_path(buf, sizeof buf);
        if (!path) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID,
                          "no catalog path: set LORASCOPE_CATALOG or HOME, or pass --catalog PATH");
            return LSC_EXIT_ERROR;
        }
    }
    /* a command that only reads opens a catalog it may not write read-only, instead of failing */
    unsigned flags = LSC_CATALOG_FALLBACK_RO;
    if (ctx->readonly)
        flags = LSC_CATALOG_READONLY;
    else if (c->flags & LSC_CMD_MUTATES)
        flags = LSC_CATALOG_CREATE;
    struct stat sb;
    if (!(flags & LSC_CATALOG_CREATE) && stat(path, &sb) != 0) {
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "no catalog at '%s' (import an adapter first, or pass --catalog PATH)",
                      path);
        return LSC_EXIT_ERROR;
    }
    if (lsc_catalog_open(path, flags, &ctx->cat, &ctx->err))
        return LSC_EXIT_ERROR;
    return LSC_EXIT_OK;
}

static int dispatch_body(lsc_cmd_ctx *ctx, const lsc_command *c, void *parsed, char *args);

int lsc_dispatch(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    lsc_error_clear(&ctx->err);
    ctx->n_inputs = ctx->n_outputs = 0;
    ctx->no_change = 0;
    ctx->logged = 0;
    if (argc < 1 || !argv[0]) {
        lsc_error_set(&ctx->err, LSC_ERR_USAGE, "no command given (see 'lorascope --help')");
        return LSC_EXIT_USAGE;
    }
    const lsc_command *c = lsc_command_find(argv[0]);
    if (!c) {
        char name[256], hint[512];
        lsc_suggest sg;
        lsc_suggest_init(&sg, argv[0]);
        for (size_t i = 0; i < lsc_n_commands; i++)
            lsc_suggest_add(&sg, lsc_commands[i].name);
        lsc_error_set(&ctx->err, LSC_ERR_USAGE, "unknown command '%s'%s (see 'lorascope --help')",
                      lsc_escape_name(name, sizeof name, argv[0]), lsc_suggest_text(&sg, hint, sizeof hint));
        return LSC_EXIT_USAGE;
    }
    if (wants_help(argc, argv)) {
        lsc_command_print_help(ctx->out, c);
        return LSC_EXIT_OK;
    }
    /* bad usage is reported as such before any catalog is touched; a script check stops here */
    void *parsed = NULL;
    int urc = lsc_command_parse(ctx, c, argc, argv, &parsed);
    if (urc != LSC_EXIT_OK || ctx->check_only) {
        lsc_command_args_free(parsed);
        return urc;
    }
    /* the arguments as given, for the history */
    char *args = (c->flags & LSC_CMD_MUTATES) ? args_json(argc, argv) : NULL;
    ctx->args_json = args;
    return dispatch_body(ctx, c, parsed, args);
}

/* Open, run inside one transaction, record, commit or roll back (see the head of the file). */
static int dispatch_body(lsc_cmd_ctx *ctx, const lsc_command *c, void *parsed, char *args)
{
    int opened_here = 0, rc, txn = 0;
    if ((c->flags & LSC_CMD_MUTATES) && ctx->readonly) {
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "%s: the catalog is open read-only", c->name);
        rc = LSC_EXIT_ERROR;
        goto done;
    }
    if ((c->flags & LSC_CMD_CATALOG) && !ctx->cat) {
        if ((rc = open_catalog(ctx, c)))
            goto done;
        opened_here = 1;
    }
    txn = (c->flags & LSC_CMD_MUTATES) && !lsc_catalog_in_transaction(ctx->cat);
    if (txn && lsc_catalog_begin(ctx->cat, &ctx->err)) {
        rc = LSC_EXIT_ERROR;
        goto done;
    }
    ctx->own_txn = txn;
    lsc_sink held, *shown = ctx->out;
    if (txn) {
        lsc_sink_init_hold(&held, shown);
        ctx->out = &held;
    }
    rc = c->spec->run(ctx, parsed);
    if (rc == LSC_EXIT_OK && (c->flags & LSC_CMD_MUTATES) && !ctx->no_change && !ctx->logged &&
        !(c->flags & LSC_CMD_NOHIST)) {
        if (lsc_catalog_log(ctx->cat, c->name, args ? args : "[]", ctx->inputs, ctx->n_inputs, ctx->outputs,
                            ctx->n_outputs, NULL, &ctx->err))
            rc = LSC_EXIT_ERROR;
    }
    if (txn) {
        if (rc == LSC_EXIT_OK && !ctx->no_change && !ctx->dry_run) {
            if (lsc_catalog_commit(ctx->cat, &ctx->err)) {
                /* A failed COMMIT (a WAL fsync on a full disk) may still have the whole edit in the WAL,
                 * which the next open recovers: all or nothing, but say so rather than "not saved". */
                lsc_error_prefix(&ctx->err, "%s: the change may or may not have been saved (check 'lorascope log')",
                                 c->name);
                lsc_catalog_rollback(ctx->cat);
                rc = LSC_EXIT_ERROR;
            }
        } else {
            lsc_catalog_rollback(ctx->cat);
        }
        ctx->out = shown;
        if (rc == LSC_EXIT_OK)
            lsc_sink_flush(&held);
        lsc_sink_release(&held);
    }
done:
    ctx->args_json = NULL;
    free(args);
    lsc_command_args_free(parsed);
    if (rc != LSC_EXIT_OK && ctx->err.code == LSC_OK)
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "%s failed", c->name);
    if (opened_here) {
        lsc_catalog_close(ctx->cat);
        ctx->cat = NULL;
    }
    return rc;
}
