/* cmd_undo.c: `lorascope undo` and `lorascope redo`: revert and re-apply the latest change, across runs.
 *
 * Every change is a history entry (dispatch.c) and no edit destroys data: creating commands add
 * adapters, rm hides one, rename renames. So undo of a creating command hides its outputs, undo of rm
 * shows the adapter again, undo of rename renames back; redo does the change again. What a command's
 * entry means comes from its flags in commands.def (LSC_CMD_CREATES, _HIDES, _RENAMES). The redo stack
 * is the run of undone entries above the newest live one: any new change clears it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "handlers.h"

/* Apply (redo = 1) or revert (redo = 0) one history entry. */
static int apply(lsc_cmd_ctx *ctx, const lsc_history_entry *h, int redo)
{
    const lsc_command *c = lsc_command_find(h->command);
    if (!c || !(c->flags & (LSC_CMD_CREATES | LSC_CMD_HIDES | LSC_CMD_RENAMES))) {
        lsc_error_set(&ctx->err, LSC_ERR_UNSUPPORTED, "cannot %s '%s' (#%lld)", redo ? "redo" : "undo", h->command,
                      (long long)h->id);
        return LSC_EXIT_ERROR;
    }
    for (size_t i = 0; i < h->n_outputs; i++) {
        int64_t id = h->output_ids[i];
        lsc_status st = LSC_OK;
        if (c->flags & LSC_CMD_CREATES)
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

static int undo_redo(lsc_cmd_ctx *ctx, int redo)
{
    lsc_history_entry *h = NULL;
    size_t n = 0;
    if (lsc_catalog_history(ctx->cat, NULL, &h, &n, &ctx->err))
        return LSC_EXIT_ERROR;
    /* newest first: undo takes the first live entry; redo the oldest undone entry above every live one */
    const lsc_history_entry *target = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!h[i].undone) {
            if (!redo)
                target = &h[i];
            break;
        }
        if (redo)
            target = &h[i];
    }
    int rc = LSC_EXIT_OK;
    if (!target) {
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, redo ? "nothing to redo" : "nothing to undo");
        rc = LSC_EXIT_ERROR;
    } else {
        rc = apply(ctx, target, redo);
        if (!rc)
            lsc_out(ctx->out, "%s #%lld %s %s\n", redo ? "redid" : "undid", (long long)target->id, target->command,
                    target->outputs ? target->outputs : "");
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
    "  import, prune, merge: the new adapter is removed; rm: the adapter comes back; rename: renamed back\n"};
const lsc_cmd_spec lsc_spec_redo = {no_opts, sizeof(lsc_args), NULL, redo_run, ""};
