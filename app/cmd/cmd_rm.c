/* cmd_rm.c: `lorascope rm NAME [--force]`: remove (hide) an adapter. Hiding keeps its rows and blobs,
 * so the removal is reversible by undo and adapters derived from it keep every tensor. */
#include <stddef.h>
#include <stdlib.h>

#include "common.h"
#include "handlers.h"

typedef struct rm_args {
    lsc_args base;
    const char *name;
    int force;
} rm_args;

static const lsc_opt rm_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(rm_args, name)},
    {.name = "force", .type = LSC_OPT_FLAG, .at = offsetof(rm_args, force),
     .help = "remove even if other adapters were derived from it (their tensors stay intact)"},
    {0}};

static int rm_run(lsc_cmd_ctx *ctx, void *args)
{
    const rm_args *a = args;
    int force = a->force;
    const char *name = a->name;
    int64_t id;
    if (lsc_catalog_find(ctx->cat, name, &id, &ctx->err)) {
        lsc_cmd_suggest_adapter(ctx, name);
        return LSC_EXIT_ERROR;
    }
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

const lsc_cmd_spec lsc_spec_rm = {rm_opts, sizeof(rm_args), NULL, rm_run, ""};
