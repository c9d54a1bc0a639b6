/* cmd_rename.c: `lorascope rename OLD NEW`. */
#include <string.h>

#include "common.h"
#include "handlers.h"

int lsc_cmd_rename(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    if (lsc_getopt_next(ctx, &g, argc, argv, opts) != -1)
        return LSC_EXIT_USAGE;
    if (argc - g.ind != 2)
        return lsc_usage_error(ctx, "rename", "expected OLD and NEW");
    if (ctx->check_only)
        return LSC_EXIT_OK;
    const char *old_name = argv[g.ind], *new_name = argv[g.ind + 1];
    if (lsc_name_check(new_name, &ctx->err))
        return LSC_EXIT_ERROR;
    int64_t id;
    if (lsc_catalog_find(ctx->cat, old_name, &id, &ctx->err) ||
        lsc_catalog_rename(ctx->cat, old_name, new_name, &ctx->err))
        return LSC_EXIT_ERROR;
    lsc_cmd_wrote(ctx, id);
    lsc_out(ctx->out, "renamed '%s' to '%s'\n", old_name, new_name);
    return LSC_EXIT_OK;
}
