/* bench-import.c: import throughput of a Llama-2-7B-shaped BF16 PEFT adapter (32 blocks x 7 modules,
 * r=16, ~80 MB), reported as a ratio to copying the same file (cp + fsync) in the same run, with the
 * importer's peak memory. The adapter is generated here (never committed), streamed one tensor at a
 * time. Usage: bench-import [LORASCOPE_BINARY] (default: $LSC_BIN, else ./app/lorascope). */
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

#include "dtype.h"
#include "safetensors.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Run argv in a child; returns seconds, peak RSS in KiB in *maxrss_kib, exit status in *code. */
static double run(char *const argv[], long *maxrss_kib, int *code)
{
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    double t = now() - t0;
    if (maxrss_kib)
        *maxrss_kib = ru.ru_maxrss;
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return t;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0 - 0.5;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : getenv("LSC_BIN");
    if (!bin)
        bin = "./app/lorascope";
    char dir[] = "/tmp/lsc-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char ad[256], file[300], cfg[300], copy[300], cat[300];
    snprintf(ad, sizeof ad, "%s/llama2-7b-r16", dir);
    mkdir(ad, 0755);
    snprintf(file, sizeof file, "%s/adapter_model.safetensors", ad);
    snprintf(cfg, sizeof cfg, "%s/adapter_config.json", ad);
    snprintf(copy, sizeof copy, "%s/copy.safetensors", dir);
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);

    const char *mods[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    const int64_t outs[7] = {4096, 4096, 4096, 4096, 11008, 11008, 4096};
    const int64_t ins[7] = {4096, 4096, 4096, 4096, 4096, 4096, 11008};
    const int r = 16, blocks = 32;
    size_t nt = (size_t)blocks * 7 * 2;
    lsc_st_out *outs_desc = calloc(nt, sizeof *outs_desc);
    int64_t(*shapes)[2] = calloc(nt, sizeof *shapes);
    char (*names)[128] = calloc(nt, 128);
    size_t k = 0;
    for (int b = 0; b < blocks; b++)
        for (int m = 0; m < 7; m++)
            for (int ab = 0; ab < 2; ab++, k++) {
                snprintf(names[k], 128, "base_model.model.model.layers.%d.%s.lora_%c.weight", b, mods[m], ab ? 'B' : 'A');
                shapes[k][0] = ab ? outs[m] : r;
                shapes[k][1] = ab ? r : ins[m];
                outs_desc[k] = (lsc_st_out){names[k], LSC_DT_BF16, 2, shapes[k]};
            }
    lsc_error err;
    lsc_st_writer *w;
    if (lsc_st_writer_begin(file, outs_desc, nt, NULL, NULL, 0, &w, &err)) {
        fprintf(stderr, "bench-import: %s\n", err.msg);
        return 1;
    }
    size_t maxn = 11008 * 16;
    double *vals = malloc(maxn * sizeof(double));
    uint16_t *bf = malloc(maxn * 2);
    for (k = 0; k < nt; k++) {
        size_t n = (size_t)(shapes[k][0] * shapes[k][1]);
        for (size_t i = 0; i < n; i++)
            vals[i] = 0.02 * uniform();
        lsc_dtype_from_double(LSC_DT_BF16, vals, n, bf, NULL);
        if (lsc_st_writer_put(w, bf, n * 2, &err)) {
            fprintf(stderr, "bench-import: %s\n", err.msg);
            return 1;
        }
    }
    if (lsc_st_writer_finish(w, &err)) {
        fprintf(stderr, "bench-import: %s\n", err.msg);
        return 1;
    }
    FILE *cf = fopen(cfg, "w");
    fprintf(cf, "{\"peft_type\": \"LORA\", \"r\": 16, \"lora_alpha\": 32, \"base_model_name_or_path\": "
                "\"meta-llama/Llama-2-7b-hf\", \"target_modules\": [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", "
                "\"gate_proj\", \"up_proj\", \"down_proj\"], \"task_type\": \"CAUSAL_LM\"}\n");
    fclose(cf);
    struct stat sb;
    stat(file, &sb);
    double mb = (double)sb.st_size / 1e6;

    int code;
    /* baseline: cp + fsync of the same file, warm page cache for both */
    char *cp_argv[] = {"/bin/cp", file, copy, NULL};
    run(cp_argv, NULL, &code);
    unlink(copy);
    double t0 = now();
    run(cp_argv, NULL, &code);
    int fd = open(copy, O_RDONLY);
    fsync(fd);
    close(fd);
    double t_cp = now() - t0;

    long rss = 0;
    char *imp_argv[] = {(char *)bin, "--catalog", cat, "import", ad, NULL};
    double t_imp = run(imp_argv, &rss, &code);
    if (code != 0) {
        fprintf(stderr, "bench-import: import failed (exit %d)\n", code);
        return 1;
    }
    printf("adapter: 32 blocks x 7 modules, r=16, BF16, %.1f MB\n", mb);
    printf("cp + fsync:  %8.3f s  (%.0f MB/s)\n", t_cp, mb / t_cp);
    printf("import:      %8.3f s  (%.0f MB/s), peak RSS %.1f MB, stats for 224 layers included\n", t_imp, mb / t_imp,
           (double)rss / 1024.0);
    printf("ratio import / copy: %.2fx (aim: under 3x; limits: import < 2 s, peak < 200 MB)\n", t_imp / t_cp);
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (getenv("LSC_BENCH_KEEP"))
        printf("kept %s\n", ad); /* for profiling the import by hand */
    else if (system(rm) != 0)
        return 1;
    free(outs_desc);
    free(shapes);
    free(names);
    free(vals);
    free(bf);
    return 0;
}
