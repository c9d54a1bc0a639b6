/* cmd_drop.c: `lorascope drop NAME --layers GLOB [--as NEW]`: a copy without the matching layers (whole
 * blocks, or a module type: --layers '*layers.3.*', --layers k_proj). The PEFT config is kept loadable:
 * dropped module paths go to exclude_modules, so PEFT does not create fresh LoRA layers for them. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "derive.h"
#include "handlers.h"
#include "peft.h"

typedef struct drop_args {
    lsc_args base;
    const char *name, *glob, *as;
} drop_args;

static const lsc_opt drop_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(drop_args, name)},
    {.name = "layers", .type = LSC_OPT_GLOB, .metavar = "GLOB", .flags = LSC_OPT_REQUIRED, .at = offsetof(drop_args, glob),
     .help = "the layers to drop (a glob; a plain word matches as a substring)"},
    {.name = "as", .type = LSC_OPT_NEW, .metavar = "NEW", .at = offsetof(drop_args, as),
     .help = "the new adapter's name (default NAME-dropped)"},
    {0}};

static int drop_validate(lsc_cmd_ctx *ctx, void *args)
{
    const drop_args *av = args;
    if (!*av->glob)
        return lsc_usage_error(ctx, "drop", "--layers: give a non-empty GLOB");
    return LSC_EXIT_OK;
}

static int drop_run(lsc_cmd_ctx *ctx, void *args)
{
    const drop_args *av = args;
    const char *as = av->as, *glob = av->glob;
    lsc_adapter *src, *dst;
    int64_t sid;
    char newname[512];
    int rc = lsc_derive_begin(ctx, av->name, as, "dropped", &src, &sid, &dst, newname, sizeof newname);
    if (rc)
        return rc;
    json_t *cfg = dst->config_json ? json_loads(dst->config_json, JSON_PRESERVE_ORDER, NULL) : NULL;
    json_t *excl = json_is_object(cfg) ? json_object_get(cfg, "exclude_modules") : NULL;
    if (json_is_object(cfg) && !json_is_array(excl)) {
        excl = json_array();
        json_object_set_new(cfg, "exclude_modules", excl);
    }
    size_t dropped = 0;
    for (size_t li = dst->n_layers; li-- > 0;) {
        if (!lsc_name_matches(glob, dst->layers[li].name))
            continue;
        if (excl)
            json_array_append_new(excl, json_string(lsc_peft_module_name(dst->layers[li].name)));
        lsc_adapter_remove_layer(dst, li);
        dropped++;
    }
    if (dropped == 0 || dst->n_layers == 0) {
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, dropped ? "'%s' would have no layer left" : "no layer of '%s' matches '%s'",
                      src->name, glob);
        rc = LSC_EXIT_ERROR;
    }
    if (!rc && json_is_object(cfg)) {
        free(dst->config_json);
        dst->config_json = json_dumps(cfg, JSON_INDENT(2));
    }
    json_decref(cfg);
    if (rc) {
        lsc_adapter_free(src);
        lsc_adapter_free(dst);
        return rc;
    }
    lsc_out(ctx->out, "%s: %zu layer(s) dropped, %zu kept\n", newname, dropped, dst->n_layers);
    return lsc_derive_finish(ctx, src, sid, dst, newname, 0);
}

const lsc_cmd_spec lsc_spec_drop = {drop_opts, sizeof(drop_args), drop_validate, drop_run, ""};
