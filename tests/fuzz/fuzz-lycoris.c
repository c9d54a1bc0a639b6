/* fuzz-lycoris.c: the kohya reader's LyCORIS part (store/lycoris_io.c, engine/lycoris_layer.c) on
 * arbitrary safetensors bytes.
 *
 * Each input is a whole .safetensors file, written to a scratch file and read with lsc_kohya_read. A
 * rejection must carry a one-line message. An accepted file must keep the reader's promises: every
 * LyCORIS layer's factor view has the layer's shape and rank and finite-or-refused statistics with at
 * most min(rows, cols) singular values; the unedited export is byte-identical to the input; the export
 * reads back with the same layers, kinds, ranks and scales. Depends on store/ and engine/ only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "kohya.h"
#include "lycoris_layer.h"
#include "stats.h"
#include "workspace.h"

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = b && sz >= 0 ? fread(b, 1, (size_t)sz, f) : 0;
    fclose(f);
    return b;
}

static void check_layers(lsc_adapter *ad)
{
    lsc_workspace *ws = lsc_workspace_new();
    double *b = NULL, *a = NULL;
    size_t bc = 0, ac = 0;
    for (size_t li = 0; ws && li < ad->n_layers; li++) {
        lsc_layer *l = &ad->layers[li];
        lsc_lowrank lr;
        lsc_error e;
        lsc_error_clear(&e);
        lsc_status st = lsc_adapter_factors(ad, li, &b, &bc, &a, &ac, &lr, &e);
        if (st && !e.msg[0])
            fuzz_fail("layer %zu: factor view failed without a message", li);
        if (!st && (l->flags & LSC_LAYER_LYCORIS) && (lr.rows != l->rows || lr.cols != l->cols || lr.r != l->rank))
            fuzz_fail("layer %zu: view [%lld, %lld] r %d, layer [%lld, %lld] r %d", li, (long long)lr.rows,
                      (long long)lr.cols, lr.r, (long long)l->rows, (long long)l->cols, l->rank);
        if (!(l->flags & LSC_LAYER_LYCORIS))
            continue;
        lsc_layer_stats s;
        memset(&s, 0, sizeof s);
        lsc_error_clear(&e);
        st = lsc_lycoris_layer_stats(ad, li, ws, &s, &e);
        if (st && !e.msg[0])
            fuzz_fail("layer %zu: statistics failed without a message", li);
        if (!st && (s.n_sv < 0 || s.n_sv > (l->rows < l->cols ? l->rows : l->cols)))
            fuzz_fail("layer %zu: %d singular values for [%lld, %lld]", li, s.n_sv, (long long)l->rows,
                      (long long)l->cols);
        for (int i = 1; !st && i < s.n_sv; i++)
            if (s.sv[i] > s.sv[i - 1])
                fuzz_fail("layer %zu: singular values not descending", li);
        lsc_stats_release(&s);
    }
    free(b);
    free(a);
    lsc_workspace_free(ws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[4200], out[4200];
    snprintf(in, sizeof in, "%s/in.safetensors", fuzz_dir());
    snprintf(out, sizeof out, "%s/out.safetensors", fuzz_dir());
    fuzz_write(in, data, size);
    lsc_adapter *ad = NULL, *back = NULL;
    lsc_error err;
    lsc_error_clear(&err);
    lsc_status st = lsc_kohya_read(in, &ad, &err);
    if (st) {
        if (!err.msg[0] || strchr(err.msg, '\n'))
            fuzz_fail("rejected with status %d and message '%s'", (int)st, err.msg);
        return 0;
    }
    check_layers(ad);
    lsc_error_clear(&err);
    remove(out);
    if (lsc_kohya_write(ad, out, LSC_DT_INVALID, &err) != LSC_OK)
        fuzz_fail("unedited export failed: %s", err.msg);
    size_t n = 0;
    unsigned char *bytes = slurp(out, &n);
    if (!bytes || n != size || memcmp(bytes, data, size) != 0)
        fuzz_fail("unedited export is not the input (%zu bytes against %zu)", n, size);
    free(bytes);
    if (lsc_kohya_read(out, &back, &err) != LSC_OK)
        fuzz_fail("export does not read back: %s", err.msg);
    if (back->n_layers != ad->n_layers || strcmp(back->kind, ad->kind) != 0)
        fuzz_fail("read back: %zu layers (%s), was %zu (%s)", back->n_layers, back->kind, ad->n_layers, ad->kind);
    for (size_t li = 0; li < ad->n_layers; li++) {
        const lsc_layer *x = &ad->layers[li], *y = &back->layers[li];
        if (x->rank != y->rank || x->flags != y->flags || !(x->scale == y->scale || (isnan(x->scale) && isnan(y->scale))))
            fuzz_fail("read back: layer %zu differs", li);
    }
    lsc_adapter_free(back);
    lsc_adapter_free(ad);
    return 0;
}
