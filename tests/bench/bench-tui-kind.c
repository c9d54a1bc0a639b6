/* bench-tui-kind.c: what opening the kind panel (K) costs: the model's kind_figures() for the sample
 * adapters of every kind, and for a 224-layer (Llama-2-7B shaped, r=16, BF16) static adapter and a
 * multi-task group of it and its rank-8 prune (224 layers in both tasks). (Derived adapters keep the
 * static kind - retrain --kind changes the training rule, not the stored format - so the other kinds
 * at this size need generated DyLoRA/AdaLoRA/SoRA files; not done here.)
 * Baseline, in the same process: loading the same adapter's layer table (model->layers, what Enter on
 * the catalog costs anyway). Printed as milliseconds and ratios; nothing is asserted.
 * The samples come from <build>/samples/catalog.db next to the lorascope binary (skipped if absent).
 * LSC_BENCH_QUICK=1: the samples only. LSC_BENCH_ADAPTER=DIR uses an existing PEFT folder.
 */
#include <libgen.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dtype.h"
#include "model.h"
#include "safetensors.h"
#include "bench/bench_util.h"
#include "workbench.h"

/* Run `lorascope --catalog CAT ARGS...` quietly; its exit code. */
static int lsc(const char *bin, const char *cat, ...)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)bin;
    argv[n++] = "--catalog";
    argv[n++] = (char *)cat;
    va_list ap;
    va_start(ap, cat);
    for (char *w; n < 31 && (w = va_arg(ap, char *)) != NULL;)
        argv[n++] = w;
    va_end(ap);
    argv[n] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execv(bin, argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* Time kind_figures (first, then warm) against layers() for one adapter. */
static void measure(lsc_tui_model *m, const char *name)
{
    lsc_error err = {0};
    lsc_tui_adapter *as = NULL;
    size_t na = 0;
    m->list_adapters(m->ctx, &as, &na, &err); /* drops the model's cached adapter: a cold start */
    const char *kind = "?";
    for (size_t i = 0; i < na; i++)
        if (strcmp(as[i].name, name) == 0)
            kind = as[i].kind;
    double t0 = bench_now();
    lsc_tui_layer *ls = NULL;
    size_t nl = 0;
    int multi = strcmp(kind, "multi-task") == 0;
    if (!multi && m->layers(m->ctx, name, &ls, &nl, &err) != LSC_OK) {
        printf("  %-28s layers: %s\n", name, err.msg);
        free(as);
        return;
    }
    double t_layers = bench_now() - t0;
    free(ls);
    lsc_tui_kind_figures k;
    t0 = bench_now();
    lsc_status s = m->kind_figures(m->ctx, name, &k, &err);
    double t_kind = bench_now() - t0;
    if (s != LSC_OK) {
        printf("  %-28s kind figures: %s\n", name, err.msg);
        free(as);
        return;
    }
    size_t n = k.n_layers;
    lsc_tui_kind_release(&k);
    t0 = bench_now();
    m->kind_figures(m->ctx, name, &k, &err);
    double t_warm = bench_now() - t0;
    lsc_tui_kind_release(&k);
    if (multi)
        printf("  %-28s %-10s %4zu rows  kind figures %9.2f ms (again %9.2f ms)\n", name, kind, n, 1e3 * t_kind,
               1e3 * t_warm);
    else
        printf("  %-28s %-10s %4zu rows  kind figures %9.2f ms (again %9.2f ms)  layer table %8.2f ms  ratio %7.1fx\n",
               name, kind, n, 1e3 * t_kind, 1e3 * t_warm, 1e3 * t_layers, t_layers > 0 ? t_kind / t_layers : 0);
    free(as);
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "C.UTF-8");
    const char *bin = argc > 1 ? argv[1] : getenv("LSC_BIN");
    if (!bin)
        bin = "./app/lorascope";
    lsc_error err = {0};
    /* the sample catalog next to the binary: <build>/app/lorascope -> <build>/samples/catalog.db */
    char samples[1200], tmp[1100];
    snprintf(tmp, sizeof tmp, "%s", bin);
    snprintf(samples, sizeof samples, "%s/../samples/catalog.db", dirname(tmp));
    struct stat sb;
    if (stat(samples, &sb) == 0) {
        lsc_tui_model m;
        if (lsc_workbench_model_init(&m, samples, 1, &err) == LSC_OK) {
            printf("kind panel data, the sample adapters (%s):\n", samples);
            static const char *const names[] = {"llama-tiny-f32", "sd-tiny-dylora", "llama-tiny-patterns",
                                                "llama-tiny-adalora", "llama-tiny-sora", "tasks"};
            for (size_t i = 0; i < sizeof names / sizeof *names; i++)
                measure(&m, names[i]);
            lsc_tui_model_release(&m);
        }
    } else {
        printf("no sample catalog at %s (bash samples/make-catalog.sh build): samples skipped\n", samples);
    }
    if (getenv("LSC_BENCH_QUICK"))
        return 0;
    char dir[] = "/tmp/lsc-bench-kind-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char cat[600], ad[500];
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    const char *given = getenv("LSC_BENCH_ADAPTER");
    snprintf(ad, sizeof ad, "%s", given ? given : "");
    if (!given) {
        snprintf(ad, sizeof ad, "%s/a", dir);
        if (bench_write_llama7b_adapter(ad)) {
            fprintf(stderr, "bench-tui-kind: cannot write the adapter\n");
            return 1;
        }
    }
    double t0 = bench_now();
    if (lsc(bin, cat, "import", ad, "--name", "a7b", NULL) || lsc(bin, cat, "prune", "a7b", "--rank", "8", "--as", "b7b", NULL) ||
        lsc(bin, cat, "group", "a7b-tasks", "a7b", "b7b", NULL)) {
        fprintf(stderr, "bench-tui-kind: building the 7B catalog failed\n");
        return 1;
    }
    printf("224-layer adapter, its prune and their group built in %.1f s\n", bench_now() - t0);
    lsc_tui_model m;
    if (lsc_workbench_model_init(&m, cat, 1, &err) != LSC_OK) {
        fprintf(stderr, "bench-tui-kind: %s\n", err.msg);
        return 1;
    }
    printf("kind panel data, 224 layers (Llama-2-7B shape, r=16, BF16):\n");
    static const char *const names7[] = {"a7b", "b7b", "a7b-tasks"};
    for (size_t i = 0; i < sizeof names7 / sizeof *names7; i++)
        measure(&m, names7[i]);
    lsc_tui_model_release(&m);
    if (getenv("LSC_BENCH_KEEP")) {
        printf("kept %s\n", dir);
    } else {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench-tui-kind: cannot remove %s\n", dir);
    }
    return 0;
}
