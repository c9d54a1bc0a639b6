/* cmd_rename.c: `lorascope rename OLD NEW`. */
#include <string.h>

#include "common.h"
#include "handlers.h"

typedef struct rename_args {
    lsc_args base;
    const char *old_name, *new_name;
} rename_args;

static const lsc_opt rename_opts[] = {
    {.metavar = "OLD", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(rename_args, old_name)},
    {.metavar = "NEW", .type = LSC_OPT_NEW, .flags = LSC_OPT_POSITIONAL, .at = offsetof(rename_args, new_name)},
    {0}};

static int rename_run(lsc_cmd_ctx *ctx, void *args)
{
    const rename_args *av = args;
    const char *old_name = av->old_name, *new_name = av->new_name;
    if (lsc_name_check(new_name, &ctx->err))
        return LSC_EXIT_ERROR;
    int64_t id;
    if (lsc_catalog_find(ctx->cat, old_name, &id, &ctx->err)) {
        lsc_cmd_suggest_adapter(ctx, old_name);
        return LSC_EXIT_ERROR;
    }
    if (lsc_catalog_rename(ctx->cat, old_name, new_name, &ctx->err))
        return LSC_EXIT_ERROR;
    lsc_cmd_wrote(ctx, id);
    lsc_out(ctx->out, "renamed '%s' to '%s'\n", old_name, new_name);
    return LSC_EXIT_OK;
}

const lsc_cmd_spec lsc_spec_rename = {rename_opts, sizeof(rename_args), NULL, rename_run, ""};
