/* fuzz-gguf.c: the GGUF LoRA reader on arbitrary bytes.
 *
 * Each input is a whole file, read through a memfd (lsc_gguf_read opens a path). An accepted adapter has
 * every tensor loaded (Q8_0 dequantised) and every layer's factors built, then is written back with
 * lsc_gguf_write and read again. Oracles: a rejection has a message; a write that fails says why; a
 * written file reads back with the same layers (names, ranks) and scales (to f32 precision: GGUF holds
 * one f32 alpha). Depends on store/gguf and engine/ only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "adapter.h"
#include "fuzz_util.h"
#include "gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.gguf", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    for (size_t off = 0; off < size;) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
    char path[64], out[700];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    snprintf(out, sizeof out, "%s/out.gguf", fuzz_dir());
    lsc_adapter *ad = NULL, *back = NULL;
    lsc_error err;
    lsc_error_clear(&err);
    if (lsc_gguf_read(path, &ad, &err) != LSC_OK) {
        if (!err.msg[0])
            fuzz_fail("rejected without a message");
        close(fd);
        return 0;
    }
    for (size_t i = 0; i < ad->n_tensors; i++) {
        if (lsc_adapter_load_tensor(ad, i, &err) != LSC_OK)
            fuzz_fail("tensor %zu of an accepted file cannot be loaded: %s", i, err.msg);
        lsc_adapter_unload_tensor(ad, i);
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
    lsc_error_clear(&err);
    if (lsc_gguf_write(ad, out, LSC_DT_INVALID, &err) != LSC_OK) {
        if (!err.msg[0])
            fuzz_fail("write-back failed without a message");
    } else {
        if (lsc_gguf_read(out, &back, &err) != LSC_OK)
            fuzz_fail("written adapter does not read back: %s", err.msg);
        if (back->n_layers != ad->n_layers)
            fuzz_fail("%zu layers read back as %zu", ad->n_layers, back->n_layers);
        for (size_t li = 0; li < ad->n_layers; li++) {
            const lsc_layer *x = &ad->layers[li], *y = &back->layers[li];
            int same = isnan(x->scale) ? isnan(y->scale) : fabs(x->scale - y->scale) <= 1e-6 * fabs(x->scale);
            if (strcmp(x->name, y->name) != 0 || x->rank != y->rank || !same)
                fuzz_fail("layer '%s' (rank %d, scale %.9g) read back as '%s' (rank %d, scale %.9g)", x->name,
                          x->rank, x->scale, y->name, y->rank, y->scale);
        }
        lsc_adapter_free(back);
    }
    lsc_adapter_free(ad);
    close(fd);
    return 0;
}
