/* fuzz-diffusers.c: the diffusers and cloneofsimo readers and writers on arbitrary bytes.
 *
 * Each input is a whole file, written to the scratch folder and read by lsc_diffusers_read and by
 * lsc_cloneofsimo_read. Oracles beyond "no crash, no leak, no undefined behaviour": a rejection carries
 * a message; an accepted adapter has both factors for every layer, a positive rank matching them and a
 * finite scale, and every layer's factor view builds; written back unedited it is byte-identical to the
 * input; written with every scale tripled it reads back with the same layers, each with three times
 * its delta's norm (1e-5 relative where B is F32 or F64; a scale folded into F16/BF16 factors rounds them).
 * Depends on store/diffusers, store/cloneofsimo and engine/adapter only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "cloneofsimo.h"
#include "diffusers.h"
#include "fuzz_util.h"

typedef lsc_status (*reader)(const char *, lsc_adapter **, lsc_error *);
typedef lsc_status (*writer)(lsc_adapter *, const char *, lsc_dtype, lsc_error *);

/* ‖s B A‖_F of layer li from its factor view (r x r Gram products: no dense delta). */
static double layer_norm(lsc_adapter *ad, size_t li)
{
    double *b = NULL, *a = NULL;
    size_t cb = 0, ca = 0;
    lsc_lowrank lr;
    lsc_error e;
    if (lsc_adapter_factors(ad, li, &b, &cb, &a, &ca, &lr, &e) != LSC_OK)
        fuzz_fail("layer %zu: factor view failed after an accepted read: %s", li, e.msg);
    double s = 0;
    for (int p = 0; p < lr.r; p++)
        for (int q = 0; q < lr.r; q++) {
            double bb = 0, aa = 0;
            for (int64_t i = 0; i < lr.rows; i++)
                bb += b[i * lr.r + p] * b[i * lr.r + q];
            for (int64_t j = 0; j < lr.cols; j++)
                aa += a[p * lr.cols + j] * a[q * lr.cols + j];
            s += bb * aa;
        }
    free(b);
    free(a);
    return fabs(lr.scale) * sqrt(fabs(s));
}

static int same_bytes(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int same = 1;
    for (size_t i = 0; same && i < size; i++)
        same = fgetc(f) == data[i];
    same &= fgetc(f) == EOF;
    fclose(f);
    return same;
}

static void check_accepted(lsc_adapter *ad)
{
    for (size_t li = 0; li < ad->n_layers; li++) {
        const lsc_layer *l = &ad->layers[li];
        if (l->ta < 0 || l->tb < 0 || l->rank <= 0 || ad->tensors[l->ta].shape[0] != l->rank ||
            ad->tensors[l->tb].shape[1] != l->rank || !isfinite(l->scale))
            fuzz_fail("layer '%s': accepted with ta %d tb %d rank %d scale %g", l->name, l->ta, l->tb, l->rank, l->scale);
    }
}

static void run(reader rd, writer wr, const char *in, const uint8_t *data, size_t size)
{
    lsc_adapter *ad = NULL, *back = NULL;
    lsc_error e;
    lsc_error_clear(&e);
    if (rd(in, &ad, &e) != LSC_OK) {
        if (!e.msg[0])
            fuzz_fail("rejected without a message");
        return;
    }
    check_accepted(ad);
    double *norm = calloc(ad->n_layers + 1, sizeof *norm);
    for (size_t li = 0; li < ad->n_layers; li++)
        norm[li] = layer_norm(ad, li);
    char out[4200];
    snprintf(out, sizeof out, "%s/out.safetensors", fuzz_dir());
    if (wr(ad, out, LSC_DT_INVALID, &e) != LSC_OK)
        fuzz_fail("unedited write refused: %s", e.msg);
    if (!same_bytes(out, data, size))
        fuzz_fail("unedited write is not byte-identical to the input");
    for (size_t li = 0; li < ad->n_layers; li++) {
        ad->layers[li].scale *= 3;
        ad->layers[li].alpha *= 3;
    }
    lsc_status st = wr(ad, out, LSC_DT_INVALID, &e);
    if (st == LSC_OK) {
        if (rd(out, &back, &e) != LSC_OK)
            fuzz_fail("an edited write does not read back: %s", e.msg);
        if (back->n_layers != ad->n_layers)
            fuzz_fail("%zu layers written, %zu read back", ad->n_layers, back->n_layers);
        for (size_t li = 0; li < ad->n_layers; li++) {
            if (strcmp(back->layers[li].name, ad->layers[li].name) != 0)
                fuzz_fail("layer %zu: '%s' read back as '%s'", li, ad->layers[li].name, back->layers[li].name);
            lsc_dtype bt = back->tensors[back->layers[li].tb].dtype;
            if (bt != LSC_DT_F32 && bt != LSC_DT_F64)
                continue; /* a scale folded into F16/BF16 factors is rounded once: not checked to the digit */
            double got = layer_norm(back, li), want = 3 * norm[li];
            if (isfinite(want) && want < 1e30 && fabs(got - want) > 1e-5 * want)
                fuzz_fail("layer '%s': norm %.17g read back, want %.17g", ad->layers[li].name, got, want);
        }
    } else if (!e.msg[0]) {
        fuzz_fail("an edited write failed without a message");
    }
    free(norm);
    lsc_adapter_free(back);
    lsc_adapter_free(ad);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[4200];
    snprintf(in, sizeof in, "%s/in.safetensors", fuzz_dir());
    fuzz_write(in, data, size);
    run(lsc_diffusers_read, lsc_diffusers_write, in, data, size);
    run(lsc_cloneofsimo_read, lsc_cloneofsimo_write, in, data, size);
    return 0;
}
