/* bench-base.c: issue #19 on a generated Llama-3.2-1B-shaped base (hidden 2048, 8 KV heads of 64,
 * intermediate 8192, vocabulary 128256, 16 blocks; BF16, sharded at ~1 GB, ~2.5 GB) with an r=16 PEFT
 * adapter on q, k, v, o, gate, up, down: `show --base` (every figure of every layer) against reading the
 * shards from the page cache, `bake` against cp + fsync of the shards, each with its peak RSS beside the
 * size of one dense layer; then `show --base` again with the catalog's sketch cache warm (what every
 * further adapter on the same base costs), beside the same read time, with the cache's size.
 * Everything is generated in a temporary folder and removed.
 * LSC_BENCH_BASE_BLOCKS=N (1..16) scales the model down (the embedding stays full size); LSC_THREADS sets the
 * workers of show and bake as usual. On a shared machine read the CPU seconds and the load average (printed
 * beside each bake) beside the wall times; LSC_BENCH_BASE_ROUNDS=N (1..20) repeats the cp + fsync / bake
 * pair N times and prints the median ratio, LSC_BENCH_BASE_SHOW=0 skips `show --base`.
 * Usage: bench-base [LORASCOPE_BINARY]. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "basefig.h"
#include "dtype.h"
#include "rng.h"
#include "bench/bench_util.h"

enum { HID = 2048, KV = 512, FF = 8192, VOCAB = 128256, RANK = 16 };

static double g_cpu; /* CPU seconds (user + system) of the last child run() waited for */

static double run(char *const argv[], const char *out, long *maxrss_kib, int *code)
{
    bench_child c = bench_run_child(argv, 0, out);
    if (maxrss_kib)
        *maxrss_kib = c.maxrss_kib;
    g_cpu = c.cpu;
    *code = c.code;
    return c.wall;
}

typedef struct tdesc {
    char name[96];
    int64_t rows, cols;
} tdesc;

static lsc_rng g_rng = {42};

/* Fill n BF16 values: random mantissa and sign, exponent of about 0.02 (cheap, no transcendental). */
static void fill_bf16(uint16_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 4) {
        uint64_t r = lsc_rng_next(&g_rng);
        for (size_t j = 0; j < 4 && i + j < n; j++) {
            uint16_t x = (uint16_t)(r >> (16 * j));
            p[i + j] = (uint16_t)((x & 0x807f) | 0x3c00); /* |v| in [2^-7, 2^-6): random sign and mantissa */
        }
    }
}

static int write_shard(const char *path, const tdesc *t, int n, const char *dtype, size_t esize)
{
    char *hdr = malloc(65536);
    size_t o = (size_t)snprintf(hdr, 65536, "{\"__metadata__\":{\"format\":\"pt\"}"), off = 0;
    for (int i = 0; i < n; i++) {
        size_t nb = (size_t)(t[i].rows * t[i].cols) * esize;
        o += (size_t)snprintf(hdr + o, 65536 - o, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],\"data_offsets\":[%zu,%zu]}",
                              t[i].name, dtype, (long long)t[i].rows, (long long)t[i].cols, off, off + nb);
        off += nb;
    }
    o += (size_t)snprintf(hdr + o, 65536 - o, "}");
    while (o % 8)
        hdr[o++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint64_t N = o;
    fwrite(&N, 8, 1, f);
    fwrite(hdr, 1, o, f);
    size_t cap = (size_t)VOCAB * HID;
    uint16_t *buf = malloc(cap * 2);
    for (int i = 0; i < n; i++) {
        size_t cnt = (size_t)(t[i].rows * t[i].cols);
        if (esize == 2)
            fill_bf16(buf, cnt);
        else { /* F32 adapter factors, small */
            float *fb = (float *)buf;
            for (size_t j = 0; j < cnt; j++)
                fb[j] = (float)(0.01 * lsc_rng_gauss(&g_rng));
        }
        fwrite(buf, esize, cnt, f);
    }
    free(buf);
    free(hdr);
    return fclose(f);
}

static const char *const mods[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                   "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
static const int64_t mrows[] = {HID, KV, KV, HID, FF, FF, HID}, mcols[] = {HID, HID, HID, HID, HID, HID, FF};

/* Base: embeddings + blocks in shards of ~4 blocks, an index; adapter: PEFT r=16 on every module. */
static int generate(const char *dir, int blocks, double *gb)
{
    char p[512];
    snprintf(p, sizeof p, "%s/base", dir);
    mkdir(p, 0755);
    int per = 4, nshards = (blocks + per - 1) / per;
    FILE *idx = fopen((snprintf(p, sizeof p, "%s/base/model.safetensors.index.json", dir), p), "w");
    fprintf(idx, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    double bytes = 0;
    int first = 1;
    for (int s = 0; s < nshards; s++) {
        tdesc t[64];
        int n = 0;
        if (s == 0) {
            t[n++] = (tdesc){"model.embed_tokens.weight", VOCAB, HID};
        }
        for (int b = s * per; b < blocks && b < (s + 1) * per; b++)
            for (int m = 0; m < 7; m++) {
                snprintf(t[n].name, sizeof t[n].name, "model.layers.%d.%s.weight", b, mods[m]);
                t[n].rows = mrows[m];
                t[n].cols = mcols[m];
                n++;
            }
        char shard[64];
        snprintf(shard, sizeof shard, "model-%05d-of-%05d.safetensors", s + 1, nshards);
        snprintf(p, sizeof p, "%s/base/%s", dir, shard);
        if (write_shard(p, t, n, "BF16", 2))
            return -1;
        for (int i = 0; i < n; i++) {
            fprintf(idx, "%s\"%s\": \"%s\"", first ? "" : ", ", t[i].name, shard);
            first = 0;
            bytes += 2.0 * (double)(t[i].rows * t[i].cols);
        }
    }
    fprintf(idx, "}}\n");
    fclose(idx);
    snprintf(p, sizeof p, "%s/adapter", dir);
    mkdir(p, 0755);
    tdesc *t = calloc((size_t)blocks * 14, sizeof *t);
    int n = 0;
    for (int b = 0; b < blocks; b++)
        for (int m = 0; m < 7; m++) {
            snprintf(t[n].name, sizeof t[n].name, "base_model.model.model.layers.%d.%s.lora_A.weight", b, mods[m]);
            t[n].rows = RANK;
            t[n++].cols = mcols[m];
            snprintf(t[n].name, sizeof t[n].name, "base_model.model.model.layers.%d.%s.lora_B.weight", b, mods[m]);
            t[n].rows = mrows[m];
            t[n++].cols = RANK;
        }
    snprintf(p, sizeof p, "%s/adapter/adapter_model.safetensors", dir);
    int rc = write_shard(p, t, n, "F32", 4);
    free(t);
    snprintf(p, sizeof p, "%s/adapter/adapter_config.json", dir);
    FILE *c = fopen(p, "w");
    fprintf(c, "{\"peft_type\": \"LORA\", \"r\": 16, \"lora_alpha\": 32}\n");
    fclose(c);
    *gb = bytes / 1e9;
    return rc;
}

static double load1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double read_all(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cat %s/base/*.safetensors > /dev/null", dir);
    double t0 = bench_now();
    if (system(cmd) != 0)
        return -1;
    return bench_now() - t0;
}

extern void openblas_set_num_threads(int num_threads);

/* Best of 3 single-thread products C = A B of n x n (float or double), in GFLOP/s. */
static double peak_gflops(int dbl)
{
    enum { N = 1536 };
    void *a = calloc((size_t)N * N, 8), *b = calloc((size_t)N * N, 8), *c = calloc((size_t)N * N, 8);
    double best = 0;
    openblas_set_num_threads(1);
    for (size_t i = 0; a && b && i < (size_t)N * N; i++) {
        if (dbl)
            ((double *)a)[i] = ((double *)b)[i] = (double)(i % 7) * 0.1;
        else
            ((float *)a)[i] = ((float *)b)[i] = (float)(i % 7) * 0.1f;
    }
    for (int k = 0; a && b && c && k < 3; k++) {
        double t0 = bench_now();
        if (dbl)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0, a, N, b, N, 0.0, c, N);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
        double g = 2.0 * N * N * N / (bench_now() - t0) / 1e9;
        best = g > best ? g : best;
    }
    free(a), free(b), free(c);
    return best;
}

/* What `show --base` cannot beat on this machine whatever its code: the multiply-adds its algorithm needs
 * (basefig.h: a cold run makes 1 + 2*power float32 passes of l columns over every adapted W and one
 * float64 projection of l + n columns (W^T [Q, U_d]; U_c's product follows from those two); a warm run, with
 * the sketch cached, only the n columns of W^T U_d) at this machine's peak: the best single-thread large
 * sgemm / dgemm times the workers (each worker runs its BLAS on one thread). */
static void print_floor(int blocks, double t_read)
{
    double weights = 0;
    for (int m = 0; m < 7; m++)
        weights += (double)(mrows[m] * mcols[m]) * blocks;
    lsc_lowrank lr = {.rows = HID, .cols = HID, .r = RANK};
    int l, power;
    uint64_t seed;
    lsc_basefig_sketch_params(&lr, NULL, &l, &power, &seed);
    const char *th = getenv("LSC_THREADS");
    long workers = th && atoi(th) > 0 ? atoi(th) : sysconf(_SC_NPROCESSORS_ONLN);
    double sp = peak_gflops(0) * (double)workers, dp = peak_gflops(1) * (double)workers;
    double f32 = weights * (1 + 2.0 * power) * 2 * l, f64 = weights * 2.0 * (l + RANK), warm = weights * 2.0 * RANK;
    double cold_s = f32 / sp / 1e9 + f64 / dp / 1e9, warm_s = warm / dp / 1e9;
    printf("arithmetic floor (%ld workers at peak: sgemm %.0f, dgemm %.0f GFLOP/s; l=%d, %d power iterations, r=%d): "
           "cold %.2f s = %.1fx the read, warm %.2f s = %.1fx the read\n",
           workers, sp, dp, l, power, RANK, cold_s, cold_s / t_read, warm_s, warm_s / t_read);
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : getenv("LSC_BIN");
    const char *sb = getenv("LSC_BENCH_BASE_BLOCKS");
    int blocks = sb ? atoi(sb) : 16;
    if (blocks < 1 || blocks > 16)
        blocks = 16;
    char dir[] = "/tmp/lsc-bench-base-XXXXXX";
    if (!bin || !mkdtemp(dir))
        return 1;
    double gb = 0, t0 = bench_now();
    if (generate(dir, blocks, &gb)) {
        fprintf(stderr, "bench-base: cannot generate the model in %s\n", dir);
        return 1;
    }
    printf("base: %d blocks, BF16, %.2f GB, sharded; adapter r=16 on 7 modules (generated in %.1f s)\n", blocks, gb,
           bench_now() - t0);
    char cat[600], base[600], ad[600], out[600], copy[600];
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    snprintf(base, sizeof base, "%s/base", dir);
    snprintf(ad, sizeof ad, "%s/adapter", dir);
    snprintf(out, sizeof out, "%s/baked", dir);
    snprintf(copy, sizeof copy, "%s/copy", dir);
    int code;
    long rss;
    char *imp[] = {(char *)bin, "--catalog", cat, "import", ad, "--name", "A", NULL};
    char *att[] = {(char *)bin, "--catalog", cat, "base", "A", base, NULL};
    char *show[] = {(char *)bin, "--catalog", cat, "show", "A", "--base", "--json", NULL};
    char *norms[] = {(char *)bin, "--catalog", cat, "show", "A", "--base", "--norms", "--json", NULL};
    char *bake[] = {(char *)bin, "--catalog", cat, "bake", "A", "--out", out, NULL};
    run(imp, NULL, NULL, &code);
    if (code) {
        fprintf(stderr, "bench-base: import failed\n");
        return 1;
    }
    read_all(dir); /* warm the page cache */
    double t_read = read_all(dir);
    double t_att = run(att, NULL, &rss, &code);
    printf("read shards (page cache): %8.2f s\n", t_read);
    printf("base (hash every used tensor): %8.2f s (cpu %.2f s)  ratio %.2fx  peak RSS %.0f MB\n", t_att, g_cpu,
           t_att / t_read, rss / 1024.0);
    double dense = (double)FF * HID * 8 / 1e6; /* largest layer in float64 */
    const char *ss = getenv("LSC_BENCH_BASE_SHOW");
    if (!ss || atoi(ss) != 0) {
        print_floor(blocks, t_read);
        double t_norms = run(norms, NULL, &rss, &code), c_norms = g_cpu; /* the workbench grid's heat */
        printf("show --base --norms (|W| and |dW|/|W|): %8.2f s (cpu %.2f s)  ratio %.2fx  peak RSS %.0f MB%s\n",
               t_norms, c_norms, t_norms / t_read, rss / 1024.0, code ? "  FAILED" : "");
        double t_show = run(show, NULL, &rss, &code), c_show = g_cpu;
        printf("show --base (all figures): %8.2f s (cpu %.2f s)  ratio %.2fx (aim <= 2; cpu/read %.2fx)  peak RSS %.0f MB = "
               "%.1f dense f64 layers%s\n",
               t_show, c_show, t_show / t_read, c_show / t_read, rss / 1024.0, rss / 1024.0 / dense, code ? "  FAILED" : "");
        double t_warm = run(show, NULL, &rss, &code), c_warm = g_cpu;
        struct stat cs, ps;
        char pack[700];
        snprintf(pack, sizeof pack, "%s-pack", cat);
        double cache_mb = stat(cat, &cs) == 0 ? (double)cs.st_size / 1e6 : -1;
        if (stat(pack, &ps) == 0)
            cache_mb += (double)ps.st_size / 1e6;
        printf("show --base, sketch cache warm: %8.2f s (cpu %.2f s)  ratio %.2fx (cpu/read %.2fx; cold/warm cpu %.1fx)  "
               "peak RSS %.0f MB  catalog + pack %.0f MB%s\n",
               t_warm, c_warm, t_warm / t_read, c_warm / t_read, c_show / c_warm, rss / 1024.0, cache_mb,
               code ? "  FAILED" : "");
    }
    const char *sr = getenv("LSC_BENCH_BASE_ROUNDS");
    int rounds = sr ? atoi(sr) : 1;
    if (rounds < 1 || rounds > 20)
        rounds = 1;
    double ratios[20];
    char cp[2048], rmout[1400];
    snprintf(cp, sizeof cp, "cp -r %s %s && sync %s/*", base, copy, copy);
    snprintf(rmout, sizeof rmout, "rm -rf %s %s", copy, out);
    for (int k = 0; k < rounds; k++) { /* each round: a fresh copy, then a fresh bake, back to back */
        if (system(rmout) != 0)
            return 1;
        double la = load1(), tc0 = bench_now();
        if (system(cp) != 0)
            return 1;
        double t_cp = bench_now() - tc0;
        double t_bake = run(bake, NULL, &rss, &code), c_bake = g_cpu;
        ratios[k] = t_bake / t_cp;
        printf("cp + fsync of the shards: %8.2f s  (load %.1f)\n", t_cp, la);
        printf("bake: %8.2f s (cpu %.2f s)  ratio %.2fx (aim <= 2; cpu/cp %.2fx)  peak RSS %.0f MB = %.1f dense f64 layers  "
               "(load %.1f)%s\n",
               t_bake, c_bake, ratios[k], c_bake / t_cp, rss / 1024.0, rss / 1024.0 / dense, load1(),
               code ? "  FAILED" : "");
    }
    if (rounds > 1) {
        qsort(ratios, (size_t)rounds, sizeof ratios[0], cmp_dbl);
        printf("bake / (cp + fsync) over %d rounds: median %.2fx, min %.2fx, max %.2fx\n", rounds, ratios[rounds / 2],
               ratios[0], ratios[rounds - 1]);
    }
    char rm[700];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (getenv("LSC_BENCH_KEEP")) { /* for profiling by hand */
        printf("kept %s\n", dir);
        return 0;
    }
    return system(rm) != 0;
}
