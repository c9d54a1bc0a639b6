/* cmd_convert.c: `lorascope convert NAME --to static [--as NEW]`: make a plain LoRA of an adapter of
 * another kind, with the same delta. AdaLoRA: Lambda folded into A, the AdaLoRA config keys (init_r,
 * target_r, schedule, masks) replaced by a LoRA config; SoRA: gates folded into A and the ranks of closed
 * gates dropped; DyLoRA: the full-rank adapter as it is; LyCORIS LoHa / LoKr / LoCon-Tucker layers: their
 * exact plain pair (lora_down / lora_up, F64). Every other tensor and config key is kept. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "derive.h"
#include "handlers.h"
#include "lycoris_layer.h"

/* AdaLoRA keys that a LoRA config must not carry (PEFT's LoraConfig does not know them). */
static const char *const adalora_keys[] = {"init_r", "target_r", "tinit", "tfinal", "deltaT", "beta1", "beta2",
                                           "orth_reg_weight", "total_step", "rank_pattern"};

typedef struct convert_args {
    lsc_args base;
    const char *name, *as;
    int to;
} convert_args;

static const char *const convert_kinds[] = {"static", NULL};

static const lsc_opt convert_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(convert_args, name)},
    {.name = "to", .type = LSC_OPT_CHOICE, .metavar = "static", .flags = LSC_OPT_REQUIRED, .choices = convert_kinds,
     .at = offsetof(convert_args, to), .help = "the kind of the result (a plain LoRA)"},
    {.name = "as", .type = LSC_OPT_NEW, .metavar = "NEW", .at = offsetof(convert_args, as),
     .help = "the new adapter's name (default NAME-static)"},
    {0}};

/* LyCORIS layer li of dst (a copy of src's) becomes its exact plain LoRA: LoHa rank r1 r2, LoKr
 * rank(W1) rank(W2) (the factors' zero singular values dropped), a Tucker core folded into lora_down. A
 * dora_scale stays: the layer remains DoRA (its magnitude needs the base weights). */
static int convert_lycoris(lsc_cmd_ctx *ctx, lsc_adapter *src, lsc_adapter *dst, size_t li)
{
    lsc_lycoris_owned o;
    int rc = LSC_EXIT_OK;
    if (lsc_lycoris_layer_plain(src, li, &o, &ctx->err)) {
        rc = LSC_EXIT_ERROR;
    } else if (o.lr.r == 0) {
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "layer '%s' is zero: a plain LoRA needs rank >= 1", src->layers[li].name);
        rc = LSC_EXIT_ERROR;
    } else if (lsc_adapter_set_factors(dst, li, o.lr.B, o.lr.A, o.lr.r, o.lr.scale, &ctx->err)) {
        rc = LSC_EXIT_ERROR;
    }
    lsc_lycoris_owned_release(&o);
    return rc;
}

static int convert_run(lsc_cmd_ctx *ctx, void *args)
{
    const convert_args *av = args;
    const char *as = av->as;
    lsc_adapter *src, *dst;
    int64_t sid;
    char newname[512];
    int rc = lsc_derive_begin(ctx, av->name, as, "static", &src, &sid, &dst, newname, sizeof newname);
    if (rc)
        return rc;
    const char *kind = src->kind ? src->kind : "static";
    lsc_kind k = lsc_adapter_kind(src);
    size_t n_lyc = 0;
    for (size_t li = 0; li < src->n_layers; li++)
        n_lyc += (src->layers[li].flags & LSC_LAYER_LYCORIS) != 0;
    if (n_lyc == 0 && (k == LSC_KIND_MULTITASK || k == LSC_KIND_STATIC || k == LSC_KIND_LAYERWISE)) {
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, k == LSC_KIND_MULTITASK
                                                      ? "'%s' is multi-task: each of its tasks is a plain adapter already"
                                                      : "'%s' is a plain LoRA already",
                      src->name);
        lsc_adapter_free(src);
        lsc_adapter_free(dst);
        return LSC_EXIT_ERROR;
    }
    double *b = NULL, *a = NULL;
    size_t bc = 0, ac = 0;
    for (size_t li = 0; li < dst->n_layers && !rc; li++) {
        lsc_layer *l = &dst->layers[li];
        if (l->flags & LSC_LAYER_LYCORIS) {
            rc = convert_lycoris(ctx, src, dst, li);
            continue;
        }
        int tg = lsc_adapter_layer_tensor(dst, li, LSC_ROLE_GATE);
        if (l->te < 0 && tg < 0)
            continue; /* nothing to fold */
        lsc_lowrank lr;
        if (lsc_adapter_factors(src, li, &b, &bc, &a, &ac, &lr, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        /* drop the directions a closed gate (or a masked triplet) zeroed: their rows of A are 0 */
        int k = 0;
        for (int i = 0; i < lr.r; i++) {
            int zero = 1;
            for (int64_t j = 0; j < lr.cols && zero; j++)
                zero = a[(size_t)i * (size_t)lr.cols + (size_t)j] == 0.0;
            if (zero && !(k == 0 && i == lr.r - 1))
                continue;
            if (k != i) {
                memmove(a + (size_t)k * (size_t)lr.cols, a + (size_t)i * (size_t)lr.cols, (size_t)lr.cols * sizeof(double));
                for (int64_t r = 0; r < lr.rows; r++)
                    b[(size_t)r * (size_t)lr.r + (size_t)k] = b[(size_t)r * (size_t)lr.r + (size_t)i];
            }
            k++;
        }
        for (int64_t r = 0; r < lr.rows && k < lr.r; r++)
            memmove(b + (size_t)r * (size_t)k, b + (size_t)r * (size_t)lr.r, (size_t)k * sizeof(double));
        /* plain LoRA: alpha/r with the same applied scale */
        if (l->rule == LSC_SCALE_ADALORA)
            l->rule = LSC_SCALE_ALPHA_R;
        if (lsc_adapter_set_factors(dst, li, b, a, k, lr.scale, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        if (l->te >= 0)
            lsc_adapter_remove_tensor(dst, (size_t)l->te);
        l = &dst->layers[li];
        l->flags &= ~LSC_LAYER_ADALORA;
        l->init_r = 0;
        if ((tg = lsc_adapter_layer_tensor(dst, li, LSC_ROLE_GATE)) >= 0)
            lsc_adapter_remove_tensor(dst, (size_t)tg);
        int ts[3] = {src->layers[li].ta, src->layers[li].tb, src->layers[li].te};
        for (int t = 0; t < 3; t++)
            if (ts[t] >= 0)
                lsc_adapter_unload_tensor(src, (size_t)ts[t]);
    }
    free(b);
    free(a);
    if (!rc && dst->config_json) {
        json_t *cfg = json_loads(dst->config_json, JSON_PRESERVE_ORDER, NULL);
        if (json_is_object(cfg)) {
            if (json_object_get(cfg, "peft_type"))
                json_object_set_new(cfg, "peft_type", json_string("LORA"));
            for (size_t i = 0; i < sizeof adalora_keys / sizeof adalora_keys[0]; i++)
                if (k == LSC_KIND_ADAPTIVE)
                    json_object_del(cfg, adalora_keys[i]);
            if (k == LSC_KIND_ADAPTIVE)
                json_object_set_new(cfg, "rank_pattern", json_object());
            free(dst->config_json);
            dst->config_json = json_dumps(cfg, JSON_INDENT(2));
        }
        json_decref(cfg);
    }
    if (!rc && lsc_adapter_set_kind(dst, LSC_KIND_STATIC, &ctx->err))
        rc = LSC_EXIT_ERROR;
    if (!rc) {
        lsc_out(ctx->out, "%s: %s -> static, %zu layer(s)\n", newname, kind, dst->n_layers);
        return lsc_derive_finish(ctx, src, sid, dst, newname, 0);
    }
    lsc_adapter_free(src);
    lsc_adapter_free(dst);
    return rc;
}

const lsc_cmd_spec lsc_spec_convert = {
    convert_opts, sizeof(convert_args), NULL, convert_run,
    "  adaptive (AdaLoRA): Lambda folded into A, a LoRA config instead of the AdaLoRA one;\n"
    "  sparse (SoRA): gates folded into A, ranks of closed gates dropped; dynamic: the full rank as it is.\n"
    "  loha / lokr (LyCORIS): each LoHa, LoKr or LoCon-Tucker layer becomes its exact lora_down/lora_up pair\n"
    "  (LoHa rank r1*r2, LoKr rank(W1)*rank(W2)) stored as F64; a dora_scale stays (DoRA needs the base).\n"
    "  The result is a plain LoRA: recorded as layer-wise when its ranks then differ per layer\n"};
