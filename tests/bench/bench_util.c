/* bench_util.c: see bench_util.h. */
#include "rng.h"
#include "bench_util.h"

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

#include "adapter.h"
#include "dtype.h"
#include "safetensors.h"

static lsc_rng rng = {1};

static double uniform(void) /* in [-0.5, 0.5) */
{
    return lsc_rng_uniform(&rng) - 0.5;
}

/* One Llama-shaped PEFT folder: `blocks` blocks of q, k, v, o [hidden x hidden] (k, v: [kv x hidden]),
 * gate, up [inter x hidden], down [hidden x inter] at rank r in BF16, streamed one tensor at a time. */
typedef struct llama_shape {
    int64_t hidden, inter, kv;
    int r, blocks, alpha;
    const char *base;
} llama_shape;

static int write_llama_adapter(const char *ad, const llama_shape *sh)
{
    char file[600], cfg[600];
    mkdir(ad, 0755);
    snprintf(file, sizeof file, "%s/adapter_model.safetensors", ad);
    snprintf(cfg, sizeof cfg, "%s/adapter_config.json", ad);
    const char *mods[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    const int64_t outs[7] = {sh->hidden, sh->kv, sh->kv, sh->hidden, sh->inter, sh->inter, sh->hidden};
    const int64_t ins[7] = {sh->hidden, sh->hidden, sh->hidden, sh->hidden, sh->hidden, sh->hidden, sh->inter};
    const int r = sh->r, blocks = sh->blocks;
    const size_t biggest = (size_t)(sh->inter > sh->hidden ? sh->inter : sh->hidden) * (size_t)r;
    size_t nt = (size_t)blocks * 7 * 2, k = 0;
    lsc_st_out *desc = calloc(nt, sizeof *desc);
    int64_t(*shapes)[2] = calloc(nt, sizeof *shapes);
    char(*names)[128] = calloc(nt, 128);
    double *vals = malloc(biggest * sizeof(double));
    uint16_t *bf = malloc(biggest * 2);
    lsc_error err = {LSC_ERR_NOMEM, "out of memory"};
    lsc_st_writer *w = NULL;
    int rc = !desc || !shapes || !names || !vals || !bf;
    for (int b = 0; !rc && b < blocks; b++)
        for (int m = 0; m < 7; m++)
            for (int ab = 0; ab < 2; ab++, k++) {
                snprintf(names[k], 128, "base_model.model.model.layers.%d.%s.lora_%c.weight", b, mods[m], ab ? 'B' : 'A');
                shapes[k][0] = ab ? outs[m] : r;
                shapes[k][1] = ab ? r : ins[m];
                desc[k] = (lsc_st_out){names[k], LSC_DT_BF16, 2, shapes[k]};
            }
    if (!rc && lsc_st_writer_begin(file, desc, nt, NULL, NULL, 0, &w, &err))
        rc = 1;
    for (k = 0; !rc && k < nt; k++) {
        size_t n = (size_t)(shapes[k][0] * shapes[k][1]);
        for (size_t i = 0; i < n; i++) /* rank directions of unequal strength: spectra with structure */
            vals[i] = 0.02 * uniform() * (1.0 + (double)(i % 16) / 4.0);
        lsc_dtype_from_double(LSC_DT_BF16, vals, n, bf, NULL);
        rc = lsc_st_writer_put(w, bf, n * 2, &err) != LSC_OK;
    }
    if (!rc)
        rc = lsc_st_writer_finish(w, &err) != LSC_OK;
    else
        lsc_st_writer_abort(w);
    FILE *cf = rc ? NULL : fopen(cfg, "w");
    if (cf) {
        fprintf(cf, "{\"peft_type\": \"LORA\", \"r\": %d, \"lora_alpha\": %d, \"base_model_name_or_path\": "
                    "\"%s\", \"target_modules\": [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", "
                    "\"gate_proj\", \"up_proj\", \"down_proj\"], \"task_type\": \"CAUSAL_LM\"}\n", r, sh->alpha, sh->base);
        rc = fclose(cf) != 0;
    } else if (!rc) {
        rc = 1;
        err = (lsc_error){LSC_ERR_IO, "cannot write the adapter config"};
    }
    if (rc)
        fprintf(stderr, "bench: %s: %s\n", ad, err.msg);
    free(vals);
    free(bf);
    free(desc);
    free(shapes);
    free(names);
    return rc;
}

int bench_write_llama7b_adapter(const char *ad)
{
    const llama_shape sh = {4096, 11008, 4096, 16, 32, 32, "meta-llama/Llama-2-7b-hf"};
    return write_llama_adapter(ad, &sh);
}

int bench_write_llama70b_adapter(const char *ad, int blocks)
{
    const llama_shape sh = {8192, 28672, 1024, 64, blocks, 128, "meta-llama/Meta-Llama-3-70B"};
    return write_llama_adapter(ad, &sh);
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bench_child bench_run_child(char *const argv[], int threads, const char *out)
{
    bench_child c = {0, 0, 0, -1};
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        if (threads > 0) {
            char v[16];
            snprintf(v, sizeof v, "%d", threads);
            setenv("LSC_THREADS", v, 1);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru = {0};
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
        return c;
    c.wall = bench_now() - t0;
    c.maxrss_kib = ru.ru_maxrss;
    c.cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
            1e-6 * (double)ru.ru_stime.tv_usec;
    c.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return c;
}

lsc_adapter *bench_peft_adapter_new(const char *name, const char *base_model)
{
    lsc_adapter *ad = lsc_adapter_new();
    if (!ad)
        return NULL;
    ad->name = strdup(name);
    ad->format = strdup("peft");
    ad->kind = strdup("static");
    ad->base_model = strdup(base_model);
    if (!ad->name || !ad->format || !ad->kind || !ad->base_model) {
        lsc_adapter_free(ad);
        return NULL;
    }
    return ad;
}
