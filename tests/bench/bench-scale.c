/* bench-scale.c: batch edits at catalog scale (issue #17), linear or not.
 *
 *   (a) a catalog of N small PEFT adapters (8 layers, 64 x 64 at r = 4, F32) and one script line
 *       `prune 'a0*' --energy 0.9 --as '{}-e90'` run through lsc_dispatch, for N and 2N: the ratio
 *       t(2N)/t(N) is ~2 when the run is linear in the catalog (4 when quadratic).
 *   (b) one adapter with L tiny layers (2 x 2 at r = 2): import and `prune --rank 1` (every layer cut) for a small and a
 *       ten times larger L; the ratio of the times per layer is ~1 when linear (10 when quadratic).
 * The baseline of each ratio is the smaller size measured in the same run. Nothing is asserted.
 * LSC_BENCH_QUICK=1: N = 250, 500 and L = 2000, 20000. LSC_BENCH_SCALE_N=N: (a) at N only (0: none);
 * LSC_BENCH_SCALE_L=L: (b) at L only. Works in a mkdtemp() folder that it removes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "rng.h"
#include "bench/bench_util.h"

static char g_dir[256];

static int write_file(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int bad = fwrite(a, 1, na, f) != na || (nb && fwrite(b, 1, nb, f) != nb);
    return fclose(f) || bad ? -1 : 0;
}

/* A PEFT folder: `layers` q_proj layers, A [rank, dim] and B [dim, rank] F32 from `seed`. */
static int write_adapter(const char *dir, uint32_t seed, int layers, int rank, int dim)
{
    size_t per = (size_t)rank * (size_t)dim, total = 2 * per * (size_t)layers, hcap = 256 + (size_t)layers * 300;
    float *v = malloc(total * sizeof *v);
    char *h = malloc(hcap), path[512];
    if (!v || !h) {
        free(v);
        free(h);
        return -1;
    }
    lsc_rng g = {seed};
    for (size_t i = 0; i < total; i++)
        v[i] = (float)(lsc_rng_uniform(&g) - 0.5);
    size_t o = (size_t)snprintf(h, hcap, "{\"__metadata__\":{\"format\":\"pt\"}"), off = 0, nb = per * sizeof(float);
    for (int l = 0; l < layers; l++) {
        o += (size_t)snprintf(h + o, hcap - o, ",\"base_model.model.model.layers.%d.q_proj.lora_A.weight\":{\"dtype\":"
                              "\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}", l, rank, dim, off, off + nb);
        off += nb;
        o += (size_t)snprintf(h + o, hcap - o, ",\"base_model.model.model.layers.%d.q_proj.lora_B.weight\":{\"dtype\":"
                              "\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}", l, dim, rank, off, off + nb);
        off += nb;
    }
    o += (size_t)snprintf(h + o, hcap - o, "}");
    while (o % 8)
        h[o++] = ' ';
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)o >> (8 * i));
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    int rc = !f || fwrite(len8, 1, 8, f) != 8 || fwrite(h, 1, o, f) != o || fwrite(v, sizeof *v, total, f) != total;
    if (f && fclose(f))
        rc = 1;
    char cfg[256];
    int n = snprintf(cfg, sizeof cfg, "{\"peft_type\":\"LORA\",\"r\":%d,\"lora_alpha\":%d,\"target_modules\":[\"q_proj\"]}",
                     rank, 2 * rank);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if (!rc)
        rc = write_file(path, cfg, (size_t)n, NULL, 0);
    free(v);
    free(h);
    return rc ? -1 : 0;
}

/* lorascope -c CAT ARGS... in this process; output to a null sink. */
static int dispatch(const char *cat, int argc, char **argv)
{
    lsc_sink null;
    lsc_sink_init_null(&null);
    lsc_cmd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.out = ctx.diag = &null;
    ctx.catalog_path = cat;
    int rc = lsc_dispatch(&ctx, argc, argv);
    if (rc)
        fprintf(stderr, "bench-scale: %s: %s\n", argv[0], ctx.err.msg);
    return rc;
}

/* (a): N adapters a00000.. imported by one script, then the timed glob prune script. */
static double glob_prune(int n)
{
    char cat[400], script[400], dir[400];
    snprintf(cat, sizeof cat, "%s/cat-%d.db", g_dir, n);
    snprintf(script, sizeof script, "%s/import-%d.lsc", g_dir, n);
    FILE *f = fopen(script, "w");
    if (!f)
        return -1;
    for (int i = 0; i < n; i++) {
        snprintf(dir, sizeof dir, "%s/src-%d", g_dir, i);
        if (write_adapter(dir, 1000u + (uint32_t)i, 8, 4, 64)) {
            fclose(f);
            return -1;
        }
        fprintf(f, "import '%s' --name a%05d\n", dir, i);
    }
    fclose(f);
    char *imp[] = {"run", script, NULL};
    if (dispatch(cat, 2, imp))
        return -1;
    snprintf(script, sizeof script, "%s/prune-%d.lsc", g_dir, n);
    f = fopen(script, "w");
    if (!f)
        return -1;
    fprintf(f, "prune 'a0*' --energy 0.9 --as '{}-e90'\n");
    fclose(f);
    char *run[] = {"run", script, NULL};
    double t0 = bench_now();
    if (dispatch(cat, 2, run))
        return -1;
    double t = bench_now() - t0;
    remove(cat);
    return t;
}

/* (b): one adapter of `layers` tiny layers: import and prune seconds. */
static int many_layers(int layers, double *t_import, double *t_prune)
{
    char cat[400], dir[400];
    snprintf(cat, sizeof cat, "%s/big-%d.db", g_dir, layers);
    snprintf(dir, sizeof dir, "%s/big-%d", g_dir, layers);
    if (write_adapter(dir, 7u, layers, 2, 2))
        return -1;
    char *imp[] = {"import", dir, "--name", "big", NULL};
    double t0 = bench_now();
    if (dispatch(cat, 4, imp))
        return -1;
    *t_import = bench_now() - t0;
    char *pr[] = {"prune", "big", "--rank", "1", "--as", "big-r1", NULL}; /* every layer is cut */
    t0 = bench_now();
    if (dispatch(cat, 6, pr))
        return -1;
    *t_prune = bench_now() - t0;
    remove(cat);
    return 0;
}

int main(void)
{
    int quick = getenv("LSC_BENCH_QUICK") && *getenv("LSC_BENCH_QUICK") == '1';
    snprintf(g_dir, sizeof g_dir, "/tmp/lsc-bench-scale-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("bench-scale: mkdtemp");
        return 1;
    }
    int ns[3] = {500, 1000, 2000}, nn = quick ? 2 : 3;
    if (quick)
        ns[0] = 250, ns[1] = 500;
    if (getenv("LSC_BENCH_SCALE_N")) { /* one size of (a) only, for a profiler */
        ns[0] = atoi(getenv("LSC_BENCH_SCALE_N"));
        nn = 1;
    }
    double t[3];
    printf("(a) run of `prune 'a0*' --energy 0.9 --as '{}-e90'` over N adapters (8 layers 64x64 r=4)\n");
    for (int i = 0; i < nn && ns[i] > 0; i++) {
        if ((t[i] = glob_prune(ns[i])) < 0)
            return 1;
        printf("  N = %5d: %8.2f s  (%.2f ms per adapter)", ns[i], t[i], 1e3 * t[i] / ns[i]);
        if (i > 0)
            printf("  t(%d)/t(%d) = %.2f (linear ~2, quadratic ~4)", ns[i], ns[i - 1], t[i] / t[i - 1]);
        printf("\n");
        fflush(stdout);
    }
    int ls[2] = {quick ? 2000 : 5000, quick ? 20000 : 50000};
    double ti[2], tp[2];
    int nl = 2;
    if (getenv("LSC_BENCH_SCALE_L")) { /* one size of (b) only, for a profiler */
        ls[0] = atoi(getenv("LSC_BENCH_SCALE_L"));
        nl = 1;
    }
    printf("(b) one adapter of L tiny layers (2x2 r=2): import, prune --rank 1 (every layer cut and written)\n");
    for (int i = 0; i < nl; i++) {
        if (many_layers(ls[i], &ti[i], &tp[i]))
            return 1;
        printf("  L = %6d: import %7.2f s (%.1f us/layer), prune %7.2f s (%.1f us/layer)\n", ls[i], ti[i],
               1e6 * ti[i] / ls[i], tp[i], 1e6 * tp[i] / ls[i]);
        fflush(stdout);
    }
    if (nl == 2)
        printf("  per-layer time ratio L=%d vs L=%d: import %.2f, prune %.2f (linear ~1, quadratic ~10)\n", ls[1], ls[0],
           (ti[1] / ls[1]) / (ti[0] / ls[0]), (tp[1] / ls[1]) / (tp[0] / ls[0]));
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) ? 1 : 0;
}
