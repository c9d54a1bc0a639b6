/* cmd_export.c: `lorascope export NAME PATH [--format peft|kohya|gguf] [--dtype T] ...`: write an adapter
 * out. Unedited, in its own format and dtypes, the output is byte-identical to what was imported. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "gguf.h"
#include "handlers.h"
#include "kohya.h"
#include "peft.h"
#include "tasks.h"

int lsc_cmd_export(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"dtype", required_argument, NULL, 'd'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"n-head", required_argument, NULL, 'H'},
                                         {"n-head-kv", required_argument, NULL, 'K'},
                                         {"no-permute", no_argument, NULL, 'P'},
                                         {NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    lsc_dtype dt = LSC_DT_INVALID;
    const char *format = NULL;
    lsc_gguf_write_opts gopt;
    memset(&gopt, 0, sizeof gopt);
    int c;
    char *end;
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
            if (strcmp(g.arg, "peft") && strcmp(g.arg, "kohya") && strcmp(g.arg, "gguf"))
                return lsc_usage_error(ctx, "export", "unknown format '%s' (peft, kohya or gguf)", g.arg);
            format = g.arg;
            break;
        case 'H':
        case 'K': {
            long v = strtol(g.arg, &end, 10);
            if (*end || v < 1 || v > 65536)
                return lsc_usage_error(ctx, "export", "'%s' is not a head count", g.arg);
            if (c == 'H')
                gopt.n_head = (int)v;
            else
                gopt.n_head_kv = (int)v;
            break;
        }
        case 'P':
            gopt.allow_unpermuted = 1;
            break;
        default:
            return LSC_EXIT_USAGE;
        }
    }
    if (argc - g.ind != 2)
        return lsc_usage_error(ctx, "export", "expected NAME and PATH");
    if (gopt.n_head_kv && !gopt.n_head)
        return lsc_usage_error(ctx, "export", "--n-head-kv needs --n-head");
    if (ctx->check_only)
        return LSC_EXIT_OK;
    if (gopt.n_head && !gopt.n_head_kv)
        gopt.n_head_kv = gopt.n_head;
    lsc_adapter *ad = NULL;
    int64_t id = 0;
    if (lsc_cmd_load(ctx, argv[g.ind], &ad, &id))
        return LSC_EXIT_ERROR;
    const char *path = argv[g.ind + 1];
    if (lsc_is_group(ad->kind)) {
        lsc_adapter_free(ad);
        if (format && strcmp(format, "peft") != 0)
            return lsc_usage_error(ctx, "export", "a multi-task adapter exports as a PEFT multi-adapter folder only");
        return lsc_tasks_export(ctx, id, path, dt);
    }
    if (!format)
        format = ad->format && (strcmp(ad->format, "kohya") == 0 || strcmp(ad->format, "gguf") == 0) ? ad->format : "peft";
    lsc_status st;
    if (strcmp(format, "kohya") == 0)
        st = lsc_kohya_write(ad, path, dt, &ctx->err);
    else if (strcmp(format, "gguf") == 0)
        st = lsc_gguf_write_ex(ad, path, dt, &gopt, &ctx->err);
    else
        st = lsc_peft_write(ad, path, dt, &ctx->err);
    if (st == LSC_OK) {
        if (strcmp(format, "peft") == 0)
            lsc_out(ctx->out, "wrote %s/adapter_model.safetensors and adapter_config.json\n", path);
        else
            lsc_out(ctx->out, "wrote %s (%s)\n", path, format);
    }
    lsc_adapter_free(ad);
    return st ? lsc_fail(ctx, &ctx->err) : LSC_EXIT_OK;
}
