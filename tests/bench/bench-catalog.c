/* bench-catalog.c: how fast the catalog stores and reads a Llama-2-7B-shaped adapter (r = 16 on q, k, v,
 * o, gate, up, down of 32 blocks: 224 layers, 448 F16 tensors, ~80 MB).
 *
 * Timings are printed as ratios against a baseline measured in the same run: writing the same bytes to a
 * plain file with one fsync (what the disk can do). Nothing is asserted. Depends on the store and engine
 * libraries only; works in a mkdtemp() folder that it removes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "hash.h"
#include "bench/bench_util.h"

static int fail(const char *what, const lsc_error *err)
{
    fprintf(stderr, "bench-catalog: %s: %s\n", what, err ? err->msg : "failed");
    return 1;
}

/* The adapter: data filled with a cheap xorshift so every tensor's bytes differ. With `bytes` 0 the
 * tensors carry only the hashes of `like` (a derived adapter whose bytes are already stored). */
static lsc_adapter *make_7b(const char *name, const lsc_adapter *like, lsc_error *err)
{
    static const char *const mods[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    static const int64_t outs[7] = {4096, 4096, 4096, 4096, 11008, 11008, 4096};
    static const int64_t ins[7] = {4096, 4096, 4096, 4096, 4096, 4096, 11008};
    const int r = 16;
    uint64_t x = 88172645463325252ull;
    lsc_adapter *ad = bench_peft_adapter_new(name, "meta-llama/Llama-2-7b-hf");
    if (!ad)
        return NULL;
    for (int b = 0; b < 32; b++)
        for (int m = 0; m < 7; m++) {
            char lname[128], key[160];
            size_t li, ti;
            snprintf(lname, sizeof lname, "base_model.model.model.layers.%d.%s.%s", b,
                     m < 4 ? "self_attn" : "mlp", mods[m]);
            if (lsc_adapter_add_layer(ad, lname, &li, err))
                goto fail;
            lsc_layer *l = &ad->layers[li];
            l->rows = outs[m];
            l->cols = ins[m];
            l->rank = r;
            l->alpha = 32;
            l->scale = 2;
            l->layer_index = b;
            for (int k = 0; k < 2; k++) {
                int64_t shape[2] = {k == 0 ? r : outs[m], k == 0 ? ins[m] : r};
                size_t n = (size_t)(shape[0] * shape[1]) * 2;
                uint16_t *data = NULL;
                if (!like) {
                    data = malloc(n);
                    if (!data)
                        goto fail;
                    for (size_t i = 0; i < n / 2; i++) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        data[i] = (uint16_t)(0x2000 | (x & 0x13ff)); /* small finite f16 values */
                    }
                }
                snprintf(key, sizeof key, "%s.lora_%c.weight", lname, k == 0 ? 'A' : 'B');
                if (lsc_adapter_add_tensor(ad, key, k == 0 ? LSC_ROLE_A : LSC_ROLE_B, (int)li, LSC_DT_F16, 2, shape,
                                           data, &ti, err))
                    goto fail;
                if (like)
                    memcpy(ad->tensors[ti].hash, like->tensors[ti].hash, LSC_HASH_HEX);
                if (k == 0)
                    ad->layers[li].ta = (int)ti;
                else
                    ad->layers[li].tb = (int)ti;
            }
        }
    return ad;
fail:
    lsc_adapter_free(ad);
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/lsc-bench-cat-XXXXXX", path[128], raw[128], cmd[160];
    lsc_error err = {0};
    lsc_catalog *cat = NULL;
    if (!mkdtemp(dir))
        return fail("mkdtemp", NULL);
    snprintf(path, sizeof path, "%s/catalog.db", dir);
    snprintf(raw, sizeof raw, "%s/raw.bin", dir);
    lsc_adapter *ad = make_7b("llama-7b-r16", NULL, &err);
    if (!ad)
        return fail("building the adapter", &err);
    double mb = (double)lsc_adapter_bytes(ad) / 1e6;

    /* baseline: the bytes to a plain file, one fsync */
    double t0 = bench_now();
    FILE *f = fopen(raw, "wb");
    if (!f)
        return fail("raw file", NULL);
    for (size_t i = 0; i < ad->n_tensors; i++)
        fwrite(ad->tensors[i].data, 1, ad->tensors[i].nbytes, f);
    fflush(f);
    fsync(fileno(f));
    fclose(f);
    double base = bench_now() - t0;

    t0 = bench_now();
    for (size_t i = 0; i < ad->n_tensors; i++)
        lsc_hash_tensor(&ad->tensors[i]);
    double hashing = bench_now() - t0;
    for (size_t i = 0; i < ad->n_tensors; i++)
        ad->tensors[i].hash[0] = '\0';

    if (lsc_catalog_open(path, LSC_CATALOG_CREATE, &cat, &err))
        return fail("open", &err);
    t0 = bench_now();
    if (lsc_catalog_begin(cat, &err) || lsc_catalog_put_adapter(cat, ad, NULL, 0, NULL, &err) ||
        lsc_catalog_commit(cat, &err))
        return fail("put", &err);
    double put_all = bench_now() - t0;

    lsc_adapter *d = make_7b("derived", ad, &err);
    if (!d)
        return fail("building the derived adapter", &err);
    t0 = bench_now();
    if (lsc_catalog_begin(cat, &err) || lsc_catalog_put_adapter(cat, d, NULL, 0, NULL, &err) ||
        lsc_catalog_commit(cat, &err))
        return fail("put rows", &err);
    double put_rows = bench_now() - t0;

    lsc_adapter *got = NULL;
    t0 = bench_now();
    if (lsc_catalog_get_adapter(cat, "derived", &got, &err))
        return fail("get", &err);
    double get_rows = bench_now() - t0;
    t0 = bench_now();
    for (size_t i = 0; i < got->n_tensors; i++) {
        if (lsc_adapter_load_tensor(got, i, &err))
            return fail("load", &err);
        lsc_adapter_unload_tensor(got, i);
    }
    double load = bench_now() - t0;

    printf("7B-shaped adapter: %zu layers, %zu tensors, %.1f MB F16\n", ad->n_layers, ad->n_tensors, mb);
    printf("%-44s %9.1f ms  1.00 (baseline, %.0f MB/s)\n", "raw write + fsync", base * 1e3, mb / base);
    printf("%-44s %9.1f ms  %5.2f\n", "hash every tensor (xxh3-128)", hashing * 1e3, hashing / base);
    printf("%-44s %9.1f ms  %5.2f (%.0f MB/s)\n", "put adapter with its bytes (one transaction)", put_all * 1e3,
           put_all / base, mb / put_all);
    printf("%-44s %9.1f ms  %5.2f\n", "put 448 tensor rows, bytes already stored", put_rows * 1e3, put_rows / base);
    printf("%-44s %9.1f ms  %5.2f\n", "get adapter rows", get_rows * 1e3, get_rows / base);
    printf("%-44s %9.1f ms  %5.2f (%.0f MB/s)\n", "load every tensor from the catalog", load * 1e3, load / base,
           mb / load);
    lsc_adapter_free(got);
    lsc_adapter_free(d);
    lsc_adapter_free(ad);
    lsc_catalog_close(cat);
    struct stat sb;
    if (stat(path, &sb) == 0)
        printf("%-44s %9.1f MB  %5.2f of the tensor bytes\n", "catalog file size", (double)sb.st_size / 1e6,
               (double)sb.st_size / 1e6 / mb);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) != 0;
}
