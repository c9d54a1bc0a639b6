/* cmd_undo.c: `lorascope undo` and `lorascope redo`: revert and re-apply the latest change, across runs.
 *
 * Every change is a history entry (dispatch.c) and no edit destroys data: creating commands add
 * adapters, rm hides one, rename renames. So undo of a creating command hides its outputs, undo of rm
 * shows the adapter again, undo of rename renames back, undo of base puts back the base recorded before
 * (path and tensor rows, as the entry noted them; redo the ones it recorded); redo does the change again. What a command's
 * entry means comes from its flags in commands.def (LSC_CMD_CREATES, _HIDES, _RENAMES). The redo stack
 * is the run of undone entries above the newest live one: any new change clears it. The entries a script
 * run recorded share a run id (catalog.h): undo takes back all of them, redo re-applies all of them. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "handlers.h"

/* `base NAME PATH` / `base NAME --clear`: the base its entry noted before (undo) or after (redo). */
static lsc_status apply_base(lsc_cmd_ctx *ctx, const lsc_history_entry *h, int64_t id, int redo)
{
    return lsc_catalog_base_restore(ctx->cat, h->id, id, redo, &ctx->err);
}

/* Apply (redo = 1) or revert (redo = 0) one history entry. */
static int apply(lsc_cmd_ctx *ctx, const lsc_history_entry *h, int redo)
{
    const lsc_command *c = lsc_command_find(h->command);
    int is_base = c && strcmp(c->name, "base") == 0;
    if (!c || !(is_base || (c->flags & (LSC_CMD_CREATES | LSC_CMD_HIDES | LSC_CMD_RENAMES)))) {
        lsc_error_set(&ctx->err, LSC_ERR_UNSUPPORTED, "cannot %s '%s' (#%lld)", redo ? "redo" : "undo", h->command,
                      (long long)h->id);
        return LSC_EXIT_ERROR;
    }
    for (size_t i = 0; i < h->n_outputs; i++) {
        int64_t id = h->output_ids[i];
        lsc_status st = LSC_OK;
        if (is_base)
            st = apply_base(ctx, h, id, redo);
        else if (c->flags & LSC_CMD_CREATES)
            st = lsc_catalog_set_hidden(ctx->cat, id, !redo, &ctx->err);
        else if (c->flags & LSC_CMD_HIDES)
            st = lsc_catalog_set_hidden(ctx->cat, id, redo, &ctx->err);
        else {
            /* rename: args are ["rename", OLD, NEW] */
            json_t *args = json_loads(h->args_json, 0, NULL);
            const char *old_name = json_string_value(json_array_get(args, 1));
            const char *new_name = json_string_value(json_array_get(args, 2));
            if (!old_name || !new_name)
                st = lsc_error_set(&ctx->err, LSC_ERR_INVALID, "history entry #%lld has no names", (long long)h->id);
            else
                st = lsc_catalog_rename(ctx->cat, redo ? old_name : new_name, redo ? new_name : old_name, &ctx->err);
            json_decref(args);
        }
        if (st) {
            lsc_error_prefix(&ctx->err, "cannot %s '%s' (#%lld)", redo ? "redo" : "undo", h->command, (long long)h->id);
            return LSC_EXIT_ERROR;
        }
        lsc_cmd_wrote(ctx, id);
    }
    if (lsc_catalog_set_undone(ctx->cat, h->id, !redo, &ctx->err))
        return LSC_EXIT_ERROR;
    return LSC_EXIT_OK;
}

/* The entries that make one change with h[t] (newest first, as lsc_catalog_history gives them): h[t] alone,
 * or every entry of its script run. Their indexes into idx (capacity n), in the order to apply them: undo
 * newest first, redo oldest first. */
static size_t change_of(const lsc_history_entry *h, size_t n, size_t t, int redo, size_t *idx)
{
    size_t k = 0;
    if (!h[t].run) {
        idx[k++] = t;
        return k;
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = redo ? n - 1 - i : i;
        if (h[j].run == h[t].run && h[j].undone == h[t].undone)
            idx[k++] = j;
    }
    return k;
}

/* Undo or redo one entry, or the whole run it belongs to. */
static int apply_change(lsc_cmd_ctx *ctx, const lsc_history_entry *h, size_t n, size_t t, int redo)
{
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        return LSC_EXIT_ERROR;
    }
    size_t k = change_of(h, n, t, redo, idx), lines = 0;
    int rc = LSC_EXIT_OK;
    for (size_t i = 0; i < k && rc == LSC_EXIT_OK; i++) {
        rc = apply(ctx, &h[idx[i]], redo);
        lines++;
    }
    if (rc == LSC_EXIT_OK && h[t].run)
        lsc_out(ctx->out, "%s run #%lld: %zu change(s)\n", redo ? "redid" : "undid", (long long)h[t].run, lines);
    else if (rc == LSC_EXIT_OK)
        lsc_out(ctx->out, "%s #%lld %s %s\n", redo ? "redid" : "undid", (long long)h[t].id, h[t].command,
                h[t].outputs ? h[t].outputs : "");
    free(idx);
    return rc;
}

static int undo_redo(lsc_cmd_ctx *ctx, int redo)
{
    if (lsc_catalog_run_active(ctx->cat)) { /* a script is one change: its own lines cannot be half undone */
        lsc_error_set(&ctx->err, LSC_ERR_USAGE, "%s cannot run inside a script: the whole run is one change "
                      "(%s it after the run)", redo ? "redo" : "undo", redo ? "redo" : "undo");
        return LSC_EXIT_ERROR;
    }
    lsc_history_entry *h = NULL;
    size_t n = 0;
    if (lsc_catalog_history(ctx->cat, NULL, &h, &n, &ctx->err))
        return LSC_EXIT_ERROR;
    /* newest first: undo takes the first live entry; redo the oldest undone entry above every live one */
    size_t target = n;
    for (size_t i = 0; i < n; i++) {
        if (!h[i].undone) {
            if (!redo)
                target = i;
            break;
        }
        if (redo)
            target = i;
    }
    int rc = LSC_EXIT_OK;
    if (target == n) {
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, redo ? "nothing to redo" : "nothing to undo");
        rc = LSC_EXIT_ERROR;
    } else {
        rc = apply_change(ctx, h, n, target, redo);
    }
    lsc_history_free_array(h, n);
    return rc;
}

static int undo_run(lsc_cmd_ctx *ctx, void *args)
{
    (void)args;
    return undo_redo(ctx, 0);
}

static int redo_run(lsc_cmd_ctx *ctx, void *args)
{
    (void)args;
    return undo_redo(ctx, 1);
}

static const lsc_opt no_opts[] = {{0}};

const lsc_cmd_spec lsc_spec_undo = {
    no_opts, sizeof(lsc_args), NULL, undo_run,
    "  import, prune, merge: the new adapter is removed; rm: the adapter comes back; rename: renamed back;\n"
    "  base: the base recorded before comes back (or none)\n"};
const lsc_cmd_spec lsc_spec_redo = {no_opts, sizeof(lsc_args), NULL, redo_run, ""};
