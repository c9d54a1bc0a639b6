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
#include "bench/bench_util.h"

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

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : getenv("LSC_BIN");
    if (!bin)
        bin = "./app/lorascope";
    char dir[] = "/tmp/lsc-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char ad[256], file[300], copy[300], cat[300];
    snprintf(ad, sizeof ad, "%s/llama2-7b-r16", dir);
    snprintf(file, sizeof file, "%s/adapter_model.safetensors", ad);
    snprintf(copy, sizeof copy, "%s/copy.safetensors", dir);
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    if (bench_write_llama7b_adapter(ad))
        return 1;
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
    return 0;
}
