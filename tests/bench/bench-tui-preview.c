/* bench-tui-preview.c: what a threshold step in the prune panel costs on a 224-layer (Llama-2-7B shaped,
 * r=16) adapter, and what the merge panel's previews cost.
 *
 * Fake model: one LSC_REQ_INC on the prune panel (rule recomputed over 224 layers, table rebuilt).
 * Real model (app/workbench.c over a catalog holding two generated BF16 adapters): the first
 * prune preview (loads every layer's cached singular values), then warm previews (engine/prune.h only),
 * and merge previews (cat: shapes only; svd rank 16: the factored SVD of every layer).
 * Baseline, in the same process: one full frame of the prune panel drawn headless (what the key press
 * costs anyway). Printed as milliseconds and ratios; nothing is asserted.
 * LSC_BENCH_ADAPTER=DIR uses an existing PEFT folder instead of generating one (e.g. the one
 * bench-import keeps with LSC_BENCH_KEEP=1).
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dtype.h"
#include "tui_fake_model.h"
#include "render.h"
#include "safetensors.h"
#include "bench/bench_util.h"
#include "state.h"
#include "workbench.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return t[n / 2];
}

static int import(const char *bin, const char *cat, const char *ad, const char *name)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execl(bin, bin, "--catalog", cat, "import", ad, "--name", name, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "C.UTF-8");
    const char *bin = argc > 1 ? argv[1] : getenv("LSC_BIN");
    if (!bin)
        bin = "./app/lorascope";
    lsc_error err = {0};

    /* baseline and fake model: 80x24 headless, prune panel of the 224-layer fake adapter */
    lsc_tui_model fake;
    lsc_tui_state *st = NULL;
    lsc_tui_model_fake_init(&fake, 20240101u, &err);
    lsc_tui_state_new(&fake, NULL, 24, 80, &st, &err);
    FILE *o = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
    lsc_tui_render_opts ro = {.no_mouse = 1, .headless = 1, .lines = 24, .cols = 80};
    char why[128];
    lsc_tui_render *r = lsc_tui_render_begin(&ro, o, in, why, sizeof why);
    if (!r || !st) {
        fprintf(stderr, "bench-tui-preview: %s\n", r ? err.msg : why);
        return 1;
    }
    lsc_tui_state_request(st, LSC_REQ_ENTER);
    lsc_tui_state_request(st, LSC_REQ_PRUNE);
    enum { N = 200 };
    double t[N];
    for (int i = 0; i < N; i++) {
        double t0 = bench_now();
        lsc_tui_render_draw(r, st);
        t[i] = bench_now() - t0;
    }
    double frame = median(t, N);
    for (int i = 0; i < N; i++) {
        double t0 = bench_now();
        lsc_tui_state_request(st, i % 20 < 10 ? LSC_REQ_INC : LSC_REQ_DEC);
        t[i] = bench_now() - t0;
    }
    double fake_step = median(t, N);
    printf("frame of the prune panel (baseline): %8.3f ms\n", frame * 1e3);
    printf("fake model, one threshold step:      %8.3f ms  (%.2fx a frame; %zu layers)\n", fake_step * 1e3,
           fake_step / frame, st->prune.transient.n_rows);
    lsc_tui_render_end(r);
    lsc_tui_state_free(st);
    lsc_tui_model_release(&fake);
    fclose(o);
    fclose(in);

    /* the real model */
    char dir[] = "/tmp/lsc-bench-preview-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char ad[300], ad2[300], cat[300];
    const char *given = getenv("LSC_BENCH_ADAPTER");
    snprintf(ad, sizeof ad, "%s/llama2-7b-r16", dir);
    snprintf(ad2, sizeof ad2, "%s/llama2-7b-r16-b", dir);
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    if (given)
        snprintf(ad, sizeof ad, "%s", given);
    else if (bench_write_llama7b_adapter(ad))
        return 1;
    if (bench_write_llama7b_adapter(ad2)) /* a second one to merge with (the same file would be refused as a duplicate) */
        return 1;
    if (import(bin, cat, ad, "a") || import(bin, cat, ad2, "b")) {
        fprintf(stderr, "bench-tui-preview: import failed\n");
        return 1;
    }
    lsc_tui_model m;
    if (lsc_workbench_model_init(&m, cat, 0, &err)) {
        fprintf(stderr, "bench-tui-preview: %s\n", err.msg);
        return 1;
    }
    lsc_tui_prune_row *rows = NULL;
    size_t n = 0;
    lsc_tui_prune_totals tot;
    double t0 = bench_now();
    if (m.prune_preview(m.ctx, "a", LSC_TUI_PRUNE_ENERGY, 0.9, NULL, &rows, &n, &tot, &err)) {
        fprintf(stderr, "bench-tui-preview: %s\n", err.msg);
        return 1;
    }
    double cold = bench_now() - t0;
    free(rows);
    for (int i = 0; i < N; i++) {
        lsc_tui_prune_rule rule = (lsc_tui_prune_rule)(i % LSC_TUI_PRUNE_RULE_COUNT);
        double v = rule == LSC_TUI_PRUNE_RANK ? 1 + i % 16 : rule == LSC_TUI_PRUNE_RATIO ? 1 + i % 20
                   : rule == LSC_TUI_PRUNE_BUDGET ? 100 + 10 * i : 0.5 + 0.002 * i;
        t0 = bench_now();
        m.prune_preview(m.ctx, "a", rule, v, NULL, &rows, &n, &tot, &err);
        t[i] = bench_now() - t0;
        free(rows);
    }
    double warm = median(t, N);
    printf("real model, first prune preview:     %8.3f ms  (%.1fx a frame; loads the cached spectra of %zu layers)\n",
           cold * 1e3, cold / frame, n);
    printf("real model, prune preview:           %8.3f ms  (%.2fx a frame; every rule, median of %d)\n", warm * 1e3,
           warm / frame, N);
    const char *names[2] = {"a", "b"};
    lsc_tui_merge_opts mo = {.method = LSC_TUI_MERGE_CAT, .density = 1, .weights = {1, 1}};
    lsc_tui_merge_row *mr = NULL;
    size_t nr = 0;
    lsc_tui_merge_totals mt;
    t0 = bench_now();
    m.merge_preview(m.ctx, names, 2, &mo, &mr, &nr, &mt, &err);
    double mcat = bench_now() - t0;
    free(mr);
    mo.method = LSC_TUI_MERGE_SVD;
    mo.rank = 16;
    t0 = bench_now();
    if (m.merge_preview(m.ctx, names, 2, &mo, &mr, &nr, &mt, &err))
        fprintf(stderr, "bench-tui-preview: %s\n", err.msg);
    double msvd = bench_now() - t0;
    free(mr);
    mo.rank = 8;
    t0 = bench_now();
    m.merge_preview(m.ctx, names, 2, &mo, &mr, &nr, &mt, &err);
    double mrank = bench_now() - t0;
    free(mr);
    printf("real model, merge preview cat:       %8.3f ms  (%.1fx a frame)\n", mcat * 1e3, mcat / frame);
    printf("real model, merge preview svd r16:   %8.3f ms  (%.1fx a frame; factored SVD of %zu layers)\n", msvd * 1e3,
           msvd / frame, nr);
    printf("real model, then rank 16 -> 8:       %8.3f ms  (%.1fx a frame; the spectra of the sums are kept)\n",
           mrank * 1e3, mrank / frame);
    lsc_tui_model_release(&m);
    char rm[400];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0)
        return 1;
    return 0;
}
