/* cmd_convert.c: `lorascope convert NAME --to static [--as NEW]`: make a plain LoRA of an adapter of
 * another kind, with the same delta. AdaLoRA: Lambda folded into A, the AdaLoRA config keys (init_r,
 * target_r, schedule, masks) replaced by a LoRA config; SoRA: gates folded into A and the ranks of closed
 * gates dropped; DyLoRA: the full-rank adapter as it is; LyCORIS LoHa / LoKr / LoCon-Tucker layers: their
 * exact plain pair (lora_down / lora_up, F64). Every other tensor and config key is kept. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "derive_job.h"
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
static lsc_status convert_lycoris(lsc_adapter *src, lsc_adapter *dst, size_t li, lsc_error *err)
{
    lsc_lycoris_owned o;
    lsc_status st = lsc_lycoris_layer_plain(src, li, &o, err);
    if (!st && o.lr.r == 0)
        st = lsc_error_set(err, LSC_ERR_INVALID, "layer '%s' is zero: a plain LoRA needs rank >= 1", src->layers[li].name);
    else if (!st)
        st = lsc_adapter_set_factors(dst, li, o.lr.B, o.lr.A, o.lr.r, o.lr.scale, err);
    lsc_lycoris_owned_release(&o);
    return st;
}

/* A convert between its reads of the catalog and its store (derive_job.h): what `run --jobs` computes on a
 * worker thread; the run step without --jobs takes the same three steps in a row. */
typedef struct convert_state {
    lsc_derive_job job;
    char kind[64]; /* the source's kind, for the report */
} convert_state;

static void convert_state_free(void *v)
{
    convert_state *s = v;
    if (!s)
        return;
    lsc_derive_job_release(&s->job);
    free(s);
}

static int convert_begin(lsc_cmd_ctx *ctx, const convert_args *av, int hold, convert_state **out)
{
    convert_state *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    int rc = lsc_derive_job_begin(ctx, av->name, av->as, "static", hold, &s->job);
    if (rc) {
        free(s);
        return rc;
    }
    snprintf(s->kind, sizeof s->kind, "%s", s->job.src->kind ? s->job.src->kind : "static");
    *out = s;
    return LSC_EXIT_OK;
}

static int convert_prepare(lsc_cmd_ctx *ctx, void *args, void **state)
{
    return lsc_derive_job_prepared(convert_begin(ctx, args, 1, (convert_state **)state), state, convert_state_free);
}

/* A plain layer with a gate or E: fold them into A and drop the closed directions (rows of A that are 0). */
static lsc_status convert_fold(lsc_adapter *src, lsc_adapter *dst, size_t li, double **b, size_t *bc, double **a,
                               size_t *ac, lsc_error *err)
{
    lsc_layer *l = &dst->layers[li];
    int tg = lsc_adapter_layer_tensor(dst, li, LSC_ROLE_GATE);
    if (l->te < 0 && tg < 0)
        return LSC_OK; /* nothing to fold */
    lsc_lowrank lr;
    lsc_status st = lsc_adapter_factors(src, li, b, bc, a, ac, &lr, err);
    if (st)
        return st;
    double *A = *a, *B = *b;
    /* drop the directions a closed gate (or a masked triplet) zeroed: their rows of A are 0 */
    int k = 0;
    for (int i = 0; i < lr.r; i++) {
        int zero = 1;
        for (int64_t j = 0; j < lr.cols && zero; j++)
            zero = A[(size_t)i * (size_t)lr.cols + (size_t)j] == 0.0;
        if (zero && !(k == 0 && i == lr.r - 1))
            continue;
        if (k != i) {
            memmove(A + (size_t)k * (size_t)lr.cols, A + (size_t)i * (size_t)lr.cols, (size_t)lr.cols * sizeof(double));
            for (int64_t r = 0; r < lr.rows; r++)
                B[(size_t)r * (size_t)lr.r + (size_t)k] = B[(size_t)r * (size_t)lr.r + (size_t)i];
        }
        k++;
    }
    for (int64_t r = 0; r < lr.rows && k < lr.r; r++)
        memmove(B + (size_t)r * (size_t)k, B + (size_t)r * (size_t)lr.r, (size_t)k * sizeof(double));
    /* plain LoRA: alpha/r with the same applied scale */
    if (l->rule == LSC_SCALE_ADALORA)
        l->rule = LSC_SCALE_ALPHA_R;
    if ((st = lsc_adapter_set_factors(dst, li, B, A, k, lr.scale, err)))
        return st;
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
    return LSC_OK;
}

/* Every layer folded (or a LyCORIS layer made plain) and the config made a LoRA one: no catalog. */
static lsc_status convert_compute(void *state, lsc_error *err)
{
    convert_state *s = state;
    lsc_adapter *src = s->job.src, *dst = s->job.dst;
    lsc_kind k = lsc_adapter_kind(src);
    size_t n_lyc = 0;
    for (size_t li = 0; li < src->n_layers; li++)
        n_lyc += (src->layers[li].flags & LSC_LAYER_LYCORIS) != 0;
    if (n_lyc == 0 && (k == LSC_KIND_MULTITASK || k == LSC_KIND_STATIC || k == LSC_KIND_LAYERWISE))
        return lsc_error_set(err, LSC_ERR_INVALID, k == LSC_KIND_MULTITASK
                                                       ? "'%s' is multi-task: each of its tasks is a plain adapter already"
                                                       : "'%s' is a plain LoRA already",
                             src->name);
    double *b = NULL, *a = NULL;
    size_t bc = 0, ac = 0;
    lsc_status st = LSC_OK;
    for (size_t li = 0; li < dst->n_layers && !st; li++)
        st = (dst->layers[li].flags & LSC_LAYER_LYCORIS) ? convert_lycoris(src, dst, li, err)
                                                         : convert_fold(src, dst, li, &b, &bc, &a, &ac, err);
    free(b);
    free(a);
    if (!st && dst->config_json) {
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
    if (!st)
        st = lsc_adapter_set_kind(dst, LSC_KIND_STATIC, err);
    return lsc_derive_job_computed(&s->job, st, err);
}

static int convert_run(lsc_cmd_ctx *ctx, void *args)
{
    convert_state *s = ctx->prepared; /* from run --jobs: read and computed already; store it here */
    int computed = s != NULL;
    ctx->prepared = NULL;
    int rc = s ? lsc_derive_job_take(ctx, &s->job) : convert_begin(ctx, args, 0, &s);
    if (!rc && !computed && convert_compute(s, &ctx->err))
        rc = LSC_EXIT_ERROR;
    if (!rc) {
        lsc_out(ctx->out, "%s: %s -> static, %zu layer(s)\n", s->job.newname, s->kind, s->job.dst->n_layers);
        rc = lsc_derive_job_finish(ctx, &s->job, 0);
    }
    convert_state_free(s);
    return rc;
}

const lsc_cmd_spec lsc_spec_convert = {
    convert_opts, sizeof(convert_args), NULL, convert_run,
    "  adaptive (AdaLoRA): Lambda folded into A, a LoRA config instead of the AdaLoRA one;\n"
    "  sparse (SoRA): gates folded into A, ranks of closed gates dropped; dynamic: the full rank as it is.\n"
    "  loha / lokr (LyCORIS): each LoHa, LoKr or LoCon-Tucker layer becomes its exact lora_down/lora_up pair\n"
    "  (LoHa rank r1*r2, LoKr rank(W1)*rank(W2)) stored as F64; a dora_scale stays (DoRA needs the base).\n"
    "  The result is a plain LoRA: recorded as layer-wise when its ranks then differ per layer\n"};

const lsc_cmd_split lsc_split_convert = {convert_prepare, convert_compute, convert_state_free, lsc_derive_job_output,
                                          lsc_derive_job_bytes, NULL};
