/* cmd_export.c: `lorascope export NAME PATH [--format peft|kohya|gguf] [--dtype T] ...`: write an adapter
 * out. Unedited, in its own format and dtypes, the output is byte-identical to what was imported. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common.h"
#include "gguf.h"
#include "handlers.h"
#include "kohya.h"
#include "peft.h"
#include "tasks.h"

/* A typed GGUF key-value kept in the adapter's metadata ({"key": {"type": .., "value": ..}}). */
static json_t *gguf_kv(json_t *meta, const char *key)
{
    return json_object_get(json_object_get(meta, key), "value");
}

/* A GGUF-origin adapter in PEFT's shape: llama.cpp names mapped back to module paths, and q/k rows put
 * back in the model's order when the file says lorascope permuted them (and with how many heads), so
 * PEFT -> GGUF -> PEFT gives back the same delta. */
static lsc_status gguf_as_peft(lsc_adapter *ad, lsc_adapter **out, lsc_error *err)
{
    lsc_adapter *p = lsc_adapter_clone_meta(ad);
    if (!p)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    json_t *meta = ad->metadata_json ? json_loads(ad->metadata_json, 0, NULL) : NULL;
    int permuted = json_is_true(gguf_kv(meta, "lorascope.qk_permuted"));
    int n_head = (int)json_integer_value(gguf_kv(meta, "lorascope.n_head"));
    int n_head_kv = (int)json_integer_value(gguf_kv(meta, "lorascope.n_head_kv"));
    json_decref(meta);
    free(p->format);
    p->format = strdup("peft");
    free(p->config_json);
    free(p->metadata_json);
    p->config_json = p->metadata_json = NULL;
    lsc_status st = LSC_OK;
    double *tmp = NULL, *dbl = NULL;
    for (size_t li = 0; li < p->n_layers && !st; li++) {
        lsc_layer *l = &p->layers[li];
        char name[512];
        if (lsc_gguf_unmap_name(ad->layers[li].name, name, sizeof name) != 0) {
            st = lsc_error_set(err, LSC_ERR_UNSUPPORTED, "layer '%s' has no PEFT module path (llama-family names only)",
                               lsc_escape_name(name, sizeof name, ad->layers[li].name));
            break;
        }
        free(l->name);
        l->name = strdup(name);
        const char *dot = strrchr(name, '.');
        free(l->module_type);
        l->module_type = strdup(dot + 1);
        int qk = strstr(ad->layers[li].name, ".attn_q.") || strstr(ad->layers[li].name, ".attn_k.");
        int ts[2] = {l->ta, l->tb};
        for (int k = 0; k < 2 && !st; k++) {
            lsc_tensor *t = &p->tensors[ts[k]];
            char key[600];
            snprintf(key, sizeof key, "%s.lora_%c.weight", name, k ? 'B' : 'A');
            free(t->key);
            t->key = strdup(key);
            if ((st = lsc_adapter_load_tensor(ad, (size_t)ts[k], err)))
                break;
            t->data = malloc(t->nbytes + 1);
            if (!t->data) {
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                break;
            }
            memcpy(t->data, ad->tensors[ts[k]].data, t->nbytes);
            lsc_adapter_unload_tensor(ad, (size_t)ts[k]);
            if (k == 1 && qk && permuted) {
                int groups = strstr(ad->layers[li].name, ".attn_q.") ? n_head : n_head_kv;
                int64_t rows = t->shape[0], r = t->shape[1];
                if (groups < 1 || rows % (2 * groups) != 0) {
                    st = lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                                       "layer '%s': q/k rows are permuted but the file does not say for how many heads",
                                       ad->layers[li].name);
                    break;
                }
                size_t n = (size_t)(rows * r);
                double *nt = realloc(tmp, n * sizeof *tmp), *nd = realloc(dbl, n * sizeof *dbl);
                if (nt)
                    tmp = nt;
                if (nd)
                    dbl = nd;
                if (!nt || !nd || lsc_dtype_to_double(t->dtype, t->data, n, dbl)) {
                    st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                    break;
                }
                lsc_gguf_unpermute_rows(dbl, rows, (int)r, groups, tmp);
                lsc_dtype_from_double(t->dtype, dbl, n, t->data, NULL); /* a permutation: exact */
            }
            t->hash[0] = '\0';
        }
    }
    free(tmp);
    free(dbl);
    if (st) {
        lsc_adapter_free(p);
        return st;
    }
    *out = p;
    return LSC_OK;
}

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
    char shown[4200];
    if (strcmp(format, "kohya") == 0)
        st = lsc_kohya_write(ad, path, dt, &ctx->err);
    else if (strcmp(format, "gguf") == 0)
        st = lsc_gguf_write_ex(ad, path, dt, &gopt, &ctx->err);
    else if (ad->format && strcmp(ad->format, "gguf") == 0) {
        lsc_adapter *p = NULL;
        st = gguf_as_peft(ad, &p, &ctx->err);
        if (!st)
            st = lsc_peft_write(p, path, dt, &ctx->err);
        lsc_adapter_free(p);
    } else if (ad->format && strcmp(ad->format, "kohya") == 0) {
        st = lsc_error_set(&ctx->err, LSC_ERR_UNSUPPORTED,
                           "'%s' is a kohya adapter: its layer names do not give PEFT module paths; export it as kohya "
                           "or gguf", lsc_escape_name(shown, sizeof shown, ad->name));
    } else
        st = lsc_peft_write(ad, path, dt, &ctx->err);
    if (st == LSC_OK) {
        if (strcmp(format, "peft") == 0)
            lsc_out(ctx->out, "wrote %s/adapter_model.safetensors and adapter_config.json\n",
                    lsc_escape_name(shown, sizeof shown, path));
        else
            lsc_out(ctx->out, "wrote %s (%s)\n", lsc_escape_name(shown, sizeof shown, path), format);
    }
    lsc_adapter_free(ad);
    return st ? lsc_fail(ctx, &ctx->err) : LSC_EXIT_OK;
}
