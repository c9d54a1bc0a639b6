/* cmd_drop.c: `lorascope drop NAME --layers GLOB [--as NEW]`: a copy without the matching layers (whole
 * blocks, or a module type: --layers '*layers.3.*', --layers k_proj). The PEFT config is kept loadable:
 * dropped module paths go to exclude_modules, so PEFT does not create fresh LoRA layers for them. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "derive.h"
#include "handlers.h"
#include "peft.h"

int lsc_cmd_drop(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"layers", required_argument, NULL, 'l'}, {"as", required_argument, NULL, 'a'}, {NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    const char *as = NULL, *glob = NULL;
    int c;
    while ((c = lsc_getopt_next(ctx, &g, argc, argv, opts)) != -1) {
        if (c == 'l')
            glob = g.arg;
        else if (c == 'a')
            as = g.arg;
        else
            return LSC_EXIT_USAGE;
    }
    if (argc - g.ind != 1 || !glob || !*glob)
        return lsc_usage_error(ctx, "drop", "expected NAME --layers GLOB");
    if (ctx->check_only)
        return LSC_EXIT_OK;
    lsc_adapter *src, *dst;
    int64_t sid;
    char newname[512];
    int rc = lsc_derive_begin(ctx, argv[g.ind], as, "dropped", &src, &sid, &dst, newname, sizeof newname);
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
