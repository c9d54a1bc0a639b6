/* cmd_export.c: `lorascope export NAME DIR [--dtype f32|f16|bf16]`: write an adapter as a PEFT folder.
 * Unedited, in its own dtypes, the output is byte-identical to what was imported. */
#include <string.h>
#include <strings.h>

#include "common.h"
#include "handlers.h"
#include "peft.h"

int lsc_cmd_export(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"dtype", required_argument, NULL, 'd'},
                                         {"format", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    lsc_dtype dt = LSC_DT_INVALID;
    int c;
    while ((c = lsc_getopt_next(ctx, &g, argc, argv, opts)) != -1) {
        switch (c) {
        case 'd':
            if (strcasecmp(g.arg, "f32") == 0)
                dt = LSC_DT_F32;
            else if (strcasecmp(g.arg, "f16") == 0)
                dt = LSC_DT_F16;
            else if (strcasecmp(g.arg, "bf16") == 0)
                dt = LSC_DT_BF16;
            else if (strcasecmp(g.arg, "f64") == 0)
                dt = LSC_DT_F64;
            else
                return lsc_usage_error(ctx, "export", "unknown dtype '%s' (f32, f16, bf16 or f64)", g.arg);
            break;
        case 'f':
            if (strcmp(g.arg, "peft") != 0)
                return lsc_usage_error(ctx, "export", "unknown format '%s' (peft)", g.arg);
            break;
        default:
            return LSC_EXIT_USAGE;
        }
    }
    if (argc - g.ind != 2)
        return lsc_usage_error(ctx, "export", "expected NAME and DIR");
    if (ctx->check_only)
        return LSC_EXIT_OK;
    lsc_adapter *ad = NULL;
    if (lsc_cmd_load(ctx, argv[g.ind], &ad, NULL))
        return LSC_EXIT_ERROR;
    int rc = LSC_EXIT_OK;
    if (lsc_peft_write(ad, argv[g.ind + 1], dt, &ctx->err))
        rc = LSC_EXIT_ERROR;
    else
        lsc_out(ctx->out, "wrote %s/adapter_model.safetensors and adapter_config.json\n", argv[g.ind + 1]);
    lsc_adapter_free(ad);
    return rc;
}
