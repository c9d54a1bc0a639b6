/* bench-70b.c: prune, svd merge and diff of Llama-3-70B-shaped r=64 adapters (issue #18), through the real
 * binary, each beside two baselines measured in the same run:
 *   - cp + fsync of the adapter file (what moving its bytes costs), and
 *   - the factored SVDs alone (the compute floor): lsc_spectrum with vectors on every layer, one thread,
 *     rank 64 for prune and diff, rank 128 (the concatenation of two) for merge.
 * Each command runs with LSC_THREADS=1 and LSC_THREADS=2; the two outputs must have the same content hash
 * (diff: the same JSON), else the benchmark fails. Peak RSS is the child's own (wait4).
 *
 * Adapters: 80 blocks x q, k, v, o, gate, up, down (hidden 8192, intermediate 28672, kv 1024), BF16,
 * 1.66 GB each, generated here into a temporary folder (TMPDIR, else /tmp) and deleted at the end; disk
 * use stays under 10 GB (the two adapters until imported, then the catalog: both, one prune and one merge
 * output, the 2-thread outputs sharing the 1-thread ones' blobs).
 * LSC_BENCH_BLOCKS=N generates N blocks instead of 80 (8 for a quick run; the targets scale with N).
 * LSC_BENCH_SETUP_ONLY=1 stops after the imports and keeps the folder (catalog.db holds A and B), for a
 * profiler. Usage: bench-70b [LORASCOPE_BINARY] (default: $LSC_BIN, else ./app/lorascope). */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "rng.h"
#include "spectrum.h"
#include "workspace.h"
#include "bench/bench_util.h"

void openblas_set_num_threads(int);

static double cpu_now(void) /* this thread's CPU seconds: the floor stays honest on a loaded machine */
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Run argv in a child with LSC_THREADS=threads (0: inherit); stdout to `out` (NULL: /dev/null). Returns
 * seconds; the child's peak RSS in KiB in *rss; exits the benchmark when the child fails. */
static double last_cpu; /* user + system seconds of the last child */

static double run(char *const argv[], int threads, const char *out, long *rss)
{
    bench_child c = bench_run_child(argv, threads, out);
    if (rss)
        *rss = c.maxrss_kib;
    last_cpu = c.cpu;
    if (c.code != 0) {
        fprintf(stderr, "bench-70b: %s %s failed (exit %d)\n", argv[0], argv[3], c.code);
        exit(1);
    }
    return c.wall;
}

static double cp_fsync(const char *from, const char *to)
{
    char *argv[] = {"/bin/cp", (char *)from, (char *)to, NULL};
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    int fd = open(to, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    double t = bench_now() - t0;
    unlink(to);
    return t;
}

/* The compute floor: one thread, lsc_spectrum with both vector sets on one layer of each module shape at
 * rank r, times the number of blocks. */
static double svd_floor(int blocks, int r)
{
    const int rows[7] = {8192, 1024, 1024, 8192, 28672, 28672, 8192};
    const int cols[7] = {8192, 8192, 8192, 8192, 8192, 8192, 28672};
    lsc_rng g = {7};
    lsc_workspace *ws = lsc_workspace_new();
    double total = 0;
    for (int pass = 0; pass < 2; pass++) /* the first pass grows the workspace */
        for (int m = 0; m < 7; m++) {
            size_t nb = (size_t)rows[m] * r, na = (size_t)r * cols[m];
            double *B = malloc(nb * sizeof *B), *A = malloc(na * sizeof *A);
            double *U = malloc(nb * sizeof *U), *V = malloc(na * sizeof *V), sv[128];
            for (size_t i = 0; i < nb; i++)
                B[i] = lsc_rng_uniform(&g) - 0.5;
            for (size_t i = 0; i < na; i++)
                A[i] = lsc_rng_uniform(&g) - 0.5;
            lsc_lowrank lr = {rows[m], cols[m], r, B, A, 2.0};
            lsc_error err = {0};
            double t0 = cpu_now();
            if (lsc_spectrum(&lr, ws, sv, U, V, &err) != LSC_OK) {
                fprintf(stderr, "bench-70b: floor: %s\n", err.msg);
                exit(1);
            }
            if (pass == 1)
                total += cpu_now() - t0;
            free(B);
            free(A);
            free(U);
            free(V);
        }
    lsc_workspace_free(ws);
    return total * blocks;
}

static void content_hash(const char *catalog, const char *name, char out[LSC_HASH_HEX])
{
    lsc_catalog *cat = NULL;
    lsc_adapter_info *list = NULL;
    size_t n = 0;
    lsc_error err = {0};
    out[0] = '\0';
    if (lsc_catalog_open(catalog, LSC_CATALOG_READONLY, &cat, &err) || lsc_catalog_list(cat, &list, &n, &err)) {
        fprintf(stderr, "bench-70b: %s: %s\n", catalog, err.msg);
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            snprintf(out, LSC_HASH_HEX, "%s", list[i].content_hash);
    lsc_adapter_info_free_array(list, n);
    lsc_catalog_close(cat);
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

typedef struct figure {
    const char *what;
    double t[2], cpu[2];
    long rss[2];
    double floor, target_s;
} figure;

static void report(const figure *f, double t_cp, double scale)
{
    printf("%-28s 1 thread %6.2f s (cpu %6.2f) %4.0f MB | 2 threads %6.2f s (cpu %6.2f) %4.0f MB | /cp %6.2f | "
           "cpu/floor %5.2f | target %.1f s, 300 MB: %s\n",
           f->what, f->t[0], f->cpu[0], f->rss[0] / 1024.0, f->t[1], f->cpu[1], f->rss[1] / 1024.0, f->t[1] / t_cp,
           f->cpu[0] / f->floor, f->target_s * scale,
           f->t[1] <= f->target_s * scale && f->rss[1] / 1024.0 <= 300 ? "met" : "MISSED");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *bin = argc > 1 ? argv[1] : getenv("LSC_BIN");
    if (!bin)
        bin = "./app/lorascope";
    const char *eb = getenv("LSC_BENCH_BLOCKS");
    int blocks = eb ? atoi(eb) : 80;
    if (blocks < 1 || blocks > 80) {
        fprintf(stderr, "bench-70b: LSC_BENCH_BLOCKS must be 1..80\n");
        return 2;
    }
    const double scale = blocks / 80.0;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[512], a[600], b[600], fa[700], copy[600], cat[600], o1[600], o2[600];
    snprintf(dir, sizeof dir, "%s/lsc-bench70b-XXXXXX", tmp);
    if (!mkdtemp(dir))
        return 1;
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(fa, sizeof fa, "%s/adapter_model.safetensors", a);
    snprintf(copy, sizeof copy, "%s/copy.safetensors", dir);
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    snprintf(o1, sizeof o1, "%s/diff1.json", dir);
    snprintf(o2, sizeof o2, "%s/diff2.json", dir);

    double t0 = bench_now();
    if (bench_write_llama70b_adapter(a, blocks) || bench_write_llama70b_adapter(b, blocks))
        return 1;
    struct stat sb;
    stat(fa, &sb);
    printf("two adapters of %d blocks x 7 modules, r=64, BF16, %.0f MB each, written in %.1f s\n", blocks,
           sb.st_size / 1e6, bench_now() - t0);

    cp_fsync(fa, copy); /* warm the page cache for both */
    const double t_cp = cp_fsync(fa, copy);

    long rss;
    char *imp_a[] = {(char *)bin, "--catalog", cat, "import", a, "--name", "A", NULL};
    char *imp_b[] = {(char *)bin, "--catalog", cat, "import", b, "--name", "B", NULL};
    double t_ia = run(imp_a, 0, NULL, &rss);
    run(imp_b, 0, NULL, NULL);
    printf("import A: %.2f s (%.2f x cp), %.0f MB peak\n", t_ia, t_ia / t_cp, rss / 1024.0);
    if (!getenv("LSC_BENCH_SETUP_ONLY")) { /* the catalog holds them now: free the disk */
        char rm_src[1300];
        snprintf(rm_src, sizeof rm_src, "rm -rf '%s' '%s'", a, b);
        if (system(rm_src) != 0)
            return 1;
    }
    if (getenv("LSC_BENCH_SETUP_ONLY")) {
        printf("kept %s (catalog.db holds A and B)\n", dir);
        return 0;
    }
    openblas_set_num_threads(1);
    const double fl64 = svd_floor(blocks, 64), fl128 = svd_floor(blocks, 128);
    /* the floor is whatever lsc_spectrum does on these factors: since the Gram (Cholesky-QR) path, about
     * 2.5x below the Householder-QR floor of earlier runs */
    const char *path = lsc_spectrum_last_path() == LSC_SPECTRUM_PATH_GRAM ? "gram" : "householder";
    printf("baselines: cp + fsync %.2f s; factored SVDs of every layer, one thread, cpu time: r=64 %.2f s, "
           "r=128 %.2f s (%s path)\n", t_cp, fl64, fl128, path);

    figure f[3] = {{.what = "prune --energy 0.9", .floor = fl64, .target_s = 15},
                   {.what = "merge A B --method svd -r 64", .floor = fl128, .target_s = 30},
                   {.what = "diff A B", .floor = 2 * fl64, .target_s = 15}};
    int ok = 1;
    for (int th = 0; th < 2; th++) {
        char pn[8], mn[8];
        snprintf(pn, sizeof pn, "P%d", th + 1);
        snprintf(mn, sizeof mn, "M%d", th + 1);
        char *pr[] = {(char *)bin, "--catalog", cat, "prune", "A", "--energy", "0.9", "--as", pn, NULL};
        char *mg[] = {(char *)bin, "--catalog", cat, "merge", "A", "B", "--method", "svd", "--rank", "64", "--as", mn, NULL};
        char *df[] = {(char *)bin, "--catalog", cat, "diff", "A", "B", "--json", NULL};
        f[0].t[th] = run(pr, th + 1, NULL, &f[0].rss[th]);
        f[0].cpu[th] = last_cpu;
        f[1].t[th] = run(mg, th + 1, NULL, &f[1].rss[th]);
        f[1].cpu[th] = last_cpu;
        f[2].t[th] = run(df, th + 1, th ? o2 : o1, &f[2].rss[th]);
        f[2].cpu[th] = last_cpu;
    }
    const char *pairs[2][2] = {{"P1", "P2"}, {"M1", "M2"}};
    for (int i = 0; i < 2; i++) {
        char h1[LSC_HASH_HEX], h2[LSC_HASH_HEX];
        content_hash(cat, pairs[i][0], h1);
        content_hash(cat, pairs[i][1], h2);
        if (!h1[0] || strcmp(h1, h2) != 0) {
            fprintf(stderr, "bench-70b: %s with 1 and 2 threads differ (%s / %s)\n", f[i].what, h1, h2);
            ok = 0;
        }
    }
    if (!same_file(o1, o2)) {
        fprintf(stderr, "bench-70b: diff output with 1 and 2 threads differs\n");
        ok = 0;
    }
    for (int i = 0; i < 3; i++)
        report(&f[i], t_cp, scale);
    printf("1-thread and 2-thread outputs: %s\n", ok ? "identical content hashes" : "DIFFER");

    char rm[700];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (getenv("LSC_BENCH_KEEP"))
        printf("kept %s\n", dir);
    else if (system(rm) != 0)
        return 1;
    return ok ? 0 : 1;
}
