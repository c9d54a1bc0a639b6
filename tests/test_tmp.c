/* test_tmp.c: see test_tmp.h. */
#include "test_tmp.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char tmpdir[256];

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[768];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            rm_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

void tmp_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lsc-test-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

void tmp_teardown(void)
{
    rm_tree(tmpdir);
}

const char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

double *tmp_dense_delta(lsc_adapter *ad, size_t li, int64_t *rows, int64_t *cols)
{
    double *B = NULL, *A = NULL;
    size_t bc = 0, ac = 0;
    lsc_lowrank lr;
    lsc_error e;
    ck_assert_msg(lsc_adapter_factors(ad, li, &B, &bc, &A, &ac, &lr, &e) == LSC_OK, "%s", e.msg);
    double *d = calloc((size_t)(lr.rows * lr.cols), sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (int64_t i = 0; i < lr.rows; i++)
        for (int64_t j = 0; j < lr.cols; j++) {
            double s = 0;
            for (int k = 0; k < lr.r; k++)
                s += B[i * lr.r + k] * A[k * lr.cols + j];
            d[i * lr.cols + j] = lr.scale * s;
        }
    *rows = lr.rows;
    *cols = lr.cols;
    free(B);
    free(A);
    return d;
}
