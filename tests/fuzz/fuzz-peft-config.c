/* fuzz-peft-config.c: the PEFT reader on arbitrary adapter_config.json text.
 *
 * A per-process folder holds a small fixed valid adapter_model.safetensors (two LoRA layers of different
 * ranks and dtypes plus one extra tensor) written once; each input becomes the folder's
 * adapter_config.json. An accepted adapter has every layer's factors built, is written back out with
 * lsc_peft_write and read again. Oracles: a rejection has a message; the written folder reads back with
 * the same layers, ranks and scales (the promise that exported rank/alpha patterns reload).
 * Depends on store/ (peft, safetensors) and engine/ only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adapter.h"
#include "fuzz_util.h"
#include "peft.h"
#include "safetensors.h"

static char g_in[600], g_out[600], g_cfg[700];

static void write_fixed_adapter(void)
{
    static const int64_t a0[] = {2, 4}, b0[] = {6, 2}, a1[] = {3, 6}, b1[] = {4, 3}, x[] = {2, 4};
    const lsc_st_out t[] = {
        {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", LSC_DT_F32, 2, a0},
        {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", LSC_DT_F32, 2, b0},
        {"base_model.model.model.layers.1.mlp.down_proj.lora_A.weight", LSC_DT_F16, 2, a1},
        {"base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", LSC_DT_F16, 2, b1},
        {"base_model.model.score.weight", LSC_DT_F32, 2, x},
    };
    const size_t n = sizeof t / sizeof t[0];
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    char path[700];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", g_in);
    lsc_st_writer *w = NULL;
    lsc_error err;
    if (lsc_st_writer_begin(path, t, n, mk, mv, 1, &w, &err)) {
        fprintf(stderr, "fuzz-peft-config: %s\n", err.msg);
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        size_t numel = (size_t)(t[i].shape[0] * t[i].shape[1]), es = lsc_dtype_size(t[i].dtype);
        double v[32];
        unsigned char bytes[256];
        for (size_t k = 0; k < numel; k++)
            v[k] = sin(1.0 + 3.0 * (double)i + 0.7 * (double)k);
        lsc_dtype_from_double(t[i].dtype, v, numel, bytes, NULL);
        if (lsc_st_writer_put(w, bytes, numel * es, &err)) {
            fprintf(stderr, "fuzz-peft-config: %s\n", err.msg);
            abort();
        }
    }
    if (lsc_st_writer_finish(w, &err)) {
        fprintf(stderr, "fuzz-peft-config: %s\n", err.msg);
        abort();
    }
}

static void setup(void)
{
    if (g_in[0])
        return;
    snprintf(g_in, sizeof g_in, "%s/in", fuzz_dir());
    snprintf(g_out, sizeof g_out, "%s/out", fuzz_dir());
    snprintf(g_cfg, sizeof g_cfg, "%s/adapter_config.json", g_in);
    mkdir(g_in, 0755);
    write_fixed_adapter();
}

static int same_scale(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b)) || a == b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    fuzz_write(g_cfg, data, size);
    lsc_adapter *ad = NULL, *back = NULL;
    lsc_error err;
    lsc_error_clear(&err);
    lsc_status rst = lsc_peft_read(g_in, &ad, &err);
    if (getenv("LSC_FUZZ_VERBOSE"))
        fprintf(stderr, "peft: %s\n", rst == LSC_OK ? "ok" : err.msg);
    if (rst != LSC_OK) {
        if (!err.msg[0])
            fuzz_fail("config rejected without a message");
        return 0;
    }
    double *bb = NULL, *aa = NULL;
    size_t bc = 0, ac = 0;
    for (size_t li = 0; li < ad->n_layers; li++) {
        lsc_lowrank lr;
        if (lsc_adapter_factors(ad, li, &bb, &bc, &aa, &ac, &lr, &err) != LSC_OK)
            fuzz_fail("layer %zu of an accepted adapter has no factors: %s", li, err.msg);
    }
    free(bb);
    free(aa);
    fuzz_rmtree(g_out);
    if (lsc_peft_write(ad, g_out, LSC_DT_INVALID, &err) != LSC_OK)
        fuzz_fail("accepted adapter cannot be written back in its own dtypes: %s", err.msg);
    if (lsc_peft_read(g_out, &back, &err) != LSC_OK)
        fuzz_fail("written adapter does not read back: %s", err.msg);
    if (back->n_layers != ad->n_layers)
        fuzz_fail("%zu layers read back as %zu", ad->n_layers, back->n_layers);
    for (size_t li = 0; li < ad->n_layers; li++) {
        const lsc_layer *x = &ad->layers[li], *y = &back->layers[li];
        if (strcmp(x->name, y->name) != 0 || x->rank != y->rank || !same_scale(x->scale, y->scale))
            fuzz_fail("layer '%s' (rank %d, scale %.17g) read back as '%s' (rank %d, scale %.17g)", x->name,
                      x->rank, x->scale, y->name, y->rank, y->scale);
    }
    lsc_adapter_free(back);
    lsc_adapter_free(ad);
    return 0;
}
