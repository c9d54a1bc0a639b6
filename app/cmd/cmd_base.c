/* cmd_base.c: `lorascope base NAME PATH` records the base weights adapter NAME modifies: a .safetensors
 * file, a sharded folder (model.safetensors.index.json) or a GGUF model. Every layer must map to a base
 * tensor of its shape (basemap.h); the catalog keeps the path and, per layer, the tensor's name, dtype,
 * shape and content hash, never the weights. `base NAME --clear` forgets it. Both note the recorded base
 * before and after the change (lsc_catalog_base_note), so undo and redo restore either exactly. `show --base`, `bake` and
 * `expect relnorm/intruders` then read the base one tensor at a time and refuse one that changed. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "basework.h"
#include "handlers.h"

typedef struct base_args {
    lsc_args base;
    const char *name, *path;
    int clear;
} base_args;

static const lsc_opt base_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(base_args, name)},
    {.metavar = "PATH", .type = LSC_OPT_PATH, .flags = LSC_OPT_POSITIONAL | LSC_OPT_OPTIONAL, .at = offsetof(base_args, path),
     .help = "the base model: a .safetensors file, a folder with model.safetensors.index.json, or a .gguf"},
    {.name = "clear", .type = LSC_OPT_FLAG, .at = offsetof(base_args, clear), .help = "forget the recorded base"},
    {0}};

static int base_validate(lsc_cmd_ctx *ctx, void *args)
{
    const base_args *av = args;
    if (!av->path == !av->clear)
        return lsc_usage_error(ctx, "base", "give either PATH or --clear");
    return LSC_EXIT_OK;
}

static int base_run(lsc_cmd_ctx *ctx, void *args)
{
    const base_args *av = args;
    lsc_adapter *ad = NULL;
    int64_t id = 0;
    if (lsc_cmd_load(ctx, av->name, &ad, &id))
        return LSC_EXIT_ERROR;
    char esc[512], pesc[PATH_MAX + 64];
    if (av->clear) {
        /* undo and redo put back what is noted before and after the change (lsc_catalog_base_note) */
        int rc = lsc_catalog_base_note(ctx->cat, id, 0, &ctx->err) || lsc_catalog_set_base(ctx->cat, id, NULL, NULL, 0, &ctx->err) ||
                         lsc_catalog_base_note(ctx->cat, id, 1, &ctx->err)
                     ? LSC_EXIT_ERROR
                     : LSC_EXIT_OK;
        if (!rc) {
            lsc_error ignored; /* a cache: a failed prune only leaves rows behind */
            lsc_catalog_prune_sketches(ctx->cat, &ignored);
            lsc_cmd_wrote(ctx, id);
            lsc_out(ctx->out, "forgot the base of '%s'\n", lsc_escape_name(esc, sizeof esc, ad->name));
        }
        lsc_adapter_free(ad);
        return rc;
    }
    char *abs = realpath(av->path, NULL);
    lsc_basework bw;
    lsc_base_rec *recs = NULL;
    size_t n = 0;
    lsc_status st = lsc_basework_resolve(&bw, ad, abs ? abs : av->path, &ctx->err);
    if (!st)
        st = lsc_basework_records(&bw, ad, &recs, &n, &ctx->err);
    if (!st)
        st = lsc_catalog_base_note(ctx->cat, id, 0, &ctx->err);
    if (!st)
        st = lsc_catalog_set_base(ctx->cat, id, abs ? abs : av->path, recs, n, &ctx->err);
    if (!st)
        st = lsc_catalog_base_note(ctx->cat, id, 1, &ctx->err);
    if (!st) {
        lsc_error ignored; /* the sketches of a replaced base go; those of unchanged tensors stay */
        lsc_catalog_prune_sketches(ctx->cat, &ignored);
        lsc_cmd_wrote(ctx, id);
        lsc_out(ctx->out, "base of '%s': %s (%zu layers, %zu base tensors in %zu file(s))\n",
                lsc_escape_name(esc, sizeof esc, ad->name), lsc_escape_name(pesc, sizeof pesc, abs ? abs : av->path), n,
                bw.b->n_tensors, bw.b->n_files);
    }
    lsc_base_rec_free_array(recs, n);
    lsc_basework_release(&bw);
    free(abs);
    lsc_adapter_free(ad);
    return st ? LSC_EXIT_ERROR : LSC_EXIT_OK;
}

const lsc_cmd_spec lsc_spec_base = {base_opts, sizeof(base_args), base_validate, base_run,
                                    "The weights are never copied: each layer's base tensor is recorded by name,\n"
                                    "dtype, shape and content hash; a base changed on disk is refused later.\n"};
