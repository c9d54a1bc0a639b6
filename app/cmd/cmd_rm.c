/* cmd_rm.c: `lorascope rm NAME [--force]`: remove (hide) an adapter. Hiding keeps its rows and blobs,
 * so the removal is reversible by undo and adapters derived from it keep every tensor. */
#include <stdlib.h>

#include "common.h"
#include "handlers.h"

int lsc_cmd_rm(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    int force = 0, c;
    while ((c = lsc_getopt_next(ctx, &g, argc, argv, opts)) != -1) {
        if (c != 'f')
            return LSC_EXIT_USAGE;
        force = 1;
    }
    if (argc - g.ind != 1)
        return lsc_usage_error(ctx, "rm", "expected one NAME");
    if (ctx->check_only)
        return LSC_EXIT_OK;
    const char *name = argv[g.ind];
    int64_t id;
    if (lsc_catalog_find(ctx->cat, name, &id, &ctx->err))
        return LSC_EXIT_ERROR;
    char **kids = NULL;
    size_t nk = 0;
    if (lsc_catalog_children(ctx->cat, id, &kids, &nk, &ctx->err))
        return LSC_EXIT_ERROR;
    int rc = LSC_EXIT_OK;
    if (nk > 0 && !force) {
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' has %zu derived adapter(s) or group(s) (first: '%s'); use --force to remove it anyway",
                      name, nk, kids[0]);
        rc = LSC_EXIT_ERROR;
    }
    for (size_t i = 0; i < nk; i++)
        free(kids[i]);
    free(kids);
    if (rc)
        return rc;
    if (lsc_catalog_set_hidden(ctx->cat, id, 1, &ctx->err))
        return LSC_EXIT_ERROR;
    lsc_cmd_wrote(ctx, id);
    lsc_out(ctx->out, "removed '%s'\n", name);
    return LSC_EXIT_OK;
}
