/* check-edit.c: prune, merge, undo/redo and scripts end to end, against dense computations made here.
 *
 * The real binary (LSC_BIN) edits a catalog in a temporary folder; results are exported to PEFT and read
 * back, and their dense delta s*B*A (formed here with loops) is compared with the dense SVD (LAPACKE
 * dgesdd, here) of the source's delta: ranks chosen by each rule, the best rank-k truncation, exact sums
 * for cat/linear, the best rank-K of the sum for svd merges. Undo must give back the same adapters
 * (names and content hashes), scripts must equal the same commands typed one by one. */
#include <check.h>
#include <jansson.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "derive.h"
#include "peft.h"
#include "script.h"

static char *g_tmp;
static char g_samples[4200];

static int setup(void)
{
    if (cli_setup_samples(&g_tmp, g_samples, sizeof g_samples) != 0)
        return -1;
    return 0;
}

static void catalog(char *buf, size_t cap, const char *tag, const char *const *samples)
{
    snprintf(buf, cap, "%s/%s.db", g_tmp, tag);
    remove(buf);
    for (; samples && *samples; samples++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", g_samples, *samples);
        cli_result r = cli_run(buf, "import", p, NULL);
        ck_assert_msg(r.code == 0, "import %s: %s", *samples, r.err);
        cli_result_free(&r);
    }
}

static json_t *jrun(const char *cat, const char *const *args)
{
    const char *a[16] = {0};
    int n = 0;
    for (; args[n]; n++)
        a[n] = args[n];
    a[n] = "--json";
    ck_assert_int_lt(n, 15);
    cli_result r = cli_run(cat, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14],
                           NULL);
    ck_assert_msg(r.code == 0, "%s failed: %s", args[0], r.err);
    json_t *v = json_loads(r.out, 0, NULL);
    ck_assert_msg(v != NULL, "%s: no JSON: %s", args[0], r.out);
    cli_result_free(&r);
    return v;
}

/* Dense delta of every layer of a PEFT folder: name -> rows x cols doubles. */
typedef struct dense {
    size_t n;
    char **names;
    int64_t *rows, *cols;
    int *rank;
    double **d;
} dense;

static void dense_free(dense *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->names[i]);
        free(x->d[i]);
    }
    free(x->names);
    free(x->rows);
    free(x->cols);
    free(x->rank);
    free(x->d);
}

static dense load_dense(const char *dir)
{
    lsc_adapter *ad = NULL;
    lsc_error err;
    ck_assert_msg(lsc_peft_read(dir, &ad, &err) == LSC_OK, "%s", err.msg);
    dense x = {ad->n_layers, calloc(ad->n_layers, sizeof(char *)), calloc(ad->n_layers, 8), calloc(ad->n_layers, 8),
               calloc(ad->n_layers, sizeof(int)), calloc(ad->n_layers, sizeof(double *))};
    double *B = NULL, *A = NULL;
    size_t bc = 0, ac = 0;
    for (size_t i = 0; i < ad->n_layers; i++) {
        lsc_lowrank lr;
        ck_assert_msg(lsc_adapter_factors(ad, i, &B, &bc, &A, &ac, &lr, &err) == LSC_OK, "%s", err.msg);
        x.names[i] = strdup(ad->layers[i].name);
        x.rows[i] = lr.rows;
        x.cols[i] = lr.cols;
        x.rank[i] = lr.r;
        x.d[i] = calloc((size_t)(lr.rows * lr.cols), sizeof(double));
        for (int64_t p = 0; p < lr.rows; p++)
            for (int k = 0; k < lr.r; k++) {
                double b = lr.scale * lr.B[p * lr.r + k];
                for (int64_t q = 0; q < lr.cols; q++)
                    x.d[i][p * lr.cols + q] += b * lr.A[k * lr.cols + q];
            }
    }
    free(B);
    free(A);
    lsc_adapter_free(ad);
    return x;
}

static void export_to(const char *cat, const char *name, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/exp-%s", g_tmp, name);
    cli_result r = cli_run(cat, "export", name, dir, "--force", NULL);
    ck_assert_msg(r.code == 0, "export %s: %s", name, r.err);
    cli_result_free(&r);
}

/* Dense SVD of M [m, n] (not modified): u [m, m], s [min], vt [n, n]. */
static void dense_svd(const double *M, int64_t m, int64_t n, double *u, double *s, double *vt)
{
    double *c = malloc((size_t)(m * n) * sizeof(double));
    memcpy(c, M, (size_t)(m * n) * sizeof(double));
    ck_assert_int_eq(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'A', (lapack_int)m, (lapack_int)n, c, (lapack_int)n, s, u,
                                    (lapack_int)m, vt, (lapack_int)n), 0);
    free(c);
}

/* ||X - Y||_F / ||Y||_F */
static double rel(const double *x, const double *y, size_t n)
{
    double d = 0, t = 0;
    for (size_t i = 0; i < n; i++) {
        d += (x[i] - y[i]) * (x[i] - y[i]);
        t += y[i] * y[i];
    }
    return t > 0 ? sqrt(d / t) : sqrt(d);
}

/* Best rank-k approximation of M from its dense SVD. */
static double *truncate_dense(const double *M, int64_t m, int64_t n, int k, double *sv_out)
{
    int64_t mn = m < n ? m : n;
    double *u = malloc((size_t)(m * m) * 8), *s = malloc((size_t)mn * 8), *vt = malloc((size_t)(n * n) * 8);
    dense_svd(M, m, n, u, s, vt);
    double *T = calloc((size_t)(m * n), 8);
    for (int i = 0; i < k; i++)
        for (int64_t p = 0; p < m; p++)
            for (int64_t q = 0; q < n; q++)
                T[p * n + q] += u[p * m + i] * s[i] * vt[i * n + q];
    if (sv_out)
        memcpy(sv_out, s, (size_t)mn * 8);
    free(u);
    free(s);
    free(vt);
    return T;
}

/* The rule's rank from dense singular values, computed here from its definition. */
static int rule_rank(const char *rule, double v, const double *s, int n)
{
    double tot2 = 0, tot1 = 0, c2 = 0, c1 = 0;
    for (int i = 0; i < n; i++) {
        tot2 += s[i] * s[i];
        tot1 += s[i];
    }
    int k = n;
    for (int i = 0; i < n; i++) {
        c2 += s[i] * s[i];
        c1 += s[i];
        int ok = strcmp(rule, "energy") == 0   ? c2 >= v * tot2 * (1 - 1e-12)
                 : strcmp(rule, "fro") == 0    ? c2 >= v * v * tot2 * (1 - 1e-12)
                 : strcmp(rule, "cumulative") == 0 ? c1 >= v * tot1 * (1 - 1e-12)
                 : strcmp(rule, "ratio") == 0  ? (i + 1 == n || s[i + 1] < s[0] / v)
                                               : i + 1 >= (int)v;
        if (ok) {
            k = i + 1;
            break;
        }
    }
    return k < 1 ? 1 : k;
}

START_TEST(test_prune_rules_match_dense)
{
    const char *samples[] = {"llama-tiny-f32", NULL};
    char cat[4400], dir[4600], src[4600];
    catalog(cat, sizeof cat, "prune", samples);
    snprintf(src, sizeof src, "%s/llama-tiny-f32", g_samples);
    dense orig = load_dense(src);
    struct {
        const char *opt, *rule, *val;
    } rules[] = {{"--energy", "energy", "0.9"}, {"--fro", "fro", "0.95"}, {"--cumulative", "cumulative", "0.8"},
                 {"--ratio", "ratio", "3"},     {"--rank", "rank", "3"}};
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        char as[64];
        snprintf(as, sizeof as, "p-%s", rules[r].rule);
        const char *args[] = {"prune", "llama-tiny-f32", rules[r].opt, rules[r].val, "--as", as, NULL};
        json_t *res = jrun(cat, args);
        export_to(cat, as, dir, sizeof dir);
        dense pr = load_dense(dir);
        ck_assert_uint_eq(pr.n, orig.n);
        json_t *layers = json_object_get(res, "layers");
        for (size_t i = 0; i < orig.n; i++) {
            int64_t m = orig.rows[i], n = orig.cols[i];
            int mn = (int)(m < n ? m : n);
            double *s = malloc((size_t)mn * 8);
            double *T = truncate_dense(orig.d[i], m, n, orig.rank[i], s);
            free(T);
            int want = rule_rank(rules[r].rule, atof(rules[r].val), s, orig.rank[i]);
            ck_assert_msg(pr.rank[i] == want, "%s %s layer %s: rank %d, dense rule says %d", rules[r].rule, rules[r].val,
                          orig.names[i], pr.rank[i], want);
            double *best = truncate_dense(orig.d[i], m, n, want, NULL);
            double e = rel(pr.d[i], best, (size_t)(m * n));
            ck_assert_msg(e < 1e-6, "%s layer %s: pruned delta is %.3g from the best rank-%d", rules[r].rule,
                          orig.names[i], e, want);
            /* the reported error is the exact truncation error */
            double tail = 0, tot = 0;
            for (int k = 0; k < orig.rank[i]; k++) {
                tot += s[k] * s[k];
                if (k >= want)
                    tail += s[k] * s[k];
            }
            json_t *jl = json_array_get(layers, i);
            ck_assert_str_eq(json_string_value(json_object_get(jl, "key")), orig.names[i]);
            double reported = json_number_value(json_object_get(jl, "rel_error"));
            ck_assert_msg(fabs(reported - sqrt(tail / tot)) < 1e-6, "reported error %.9g vs dense %.9g", reported,
                          sqrt(tail / tot));
            free(best);
            free(s);
        }
        /* show of the result matches what prune printed */
        const char *sargs[] = {"show", as, NULL};
        json_t *sh = jrun(cat, sargs);
        json_t *sl = json_object_get(sh, "layers");
        for (size_t i = 0; i < json_array_size(sl); i++)
            ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(sl, i), "rank")),
                             json_integer_value(json_object_get(json_array_get(layers, i), "rank_after")));
        json_decref(sh);
        dense_free(&pr);
        json_decref(res);
    }
    /* budget: exactly N directions kept in total when N >= number of layers */
    const char *bargs[] = {"prune", "llama-tiny-f32", "--budget", "100", "--as", "p-budget", NULL};
    json_t *res = jrun(cat, bargs);
    int total = 0;
    json_t *layers = json_object_get(res, "layers");
    for (size_t i = 0; i < json_array_size(layers); i++)
        total += (int)json_integer_value(json_object_get(json_array_get(layers, i), "rank_after"));
    ck_assert_int_eq(total, 100);
    json_decref(res);
    /* a pruned adapter's exported config reloads with the right per-layer ranks and scales (rank_pattern) */
    export_to(cat, "p-energy", dir, sizeof dir);
    cli_ok(cat, "import", dir, "--name", "p-energy-again", NULL);
    const char *s1[] = {"show", "p-energy", NULL}, *s2[] = {"show", "p-energy-again", NULL};
    json_t *j1 = jrun(cat, s1), *j2 = jrun(cat, s2);
    json_t *l1 = json_object_get(j1, "layers"), *l2 = json_object_get(j2, "layers");
    ck_assert_uint_eq(json_array_size(l1), json_array_size(l2));
    for (size_t i = 0; i < json_array_size(l1); i++) {
        json_t *x1 = json_array_get(l1, i), *x2 = json_array_get(l2, i);
        ck_assert_int_eq(json_integer_value(json_object_get(x1, "rank")), json_integer_value(json_object_get(x2, "rank")));
        ck_assert_double_eq_tol(json_number_value(json_object_get(x1, "scale")),
                                json_number_value(json_object_get(x2, "scale")), 1e-12);
        ck_assert_double_eq_tol(json_number_value(json_object_get(x1, "norm")),
                                json_number_value(json_object_get(x2, "norm")), 1e-12);
    }
    json_decref(j1);
    json_decref(j2);
    /* bad usage */
    cli_result r = cli_run(cat, "prune", "llama-tiny-f32", NULL);
    ck_assert_int_eq(r.code, 2);
    cli_result_free(&r);
    r = cli_run(cat, "prune", "llama-tiny-f32", "--energy", "1.5", NULL);
    ck_assert_int_eq(r.code, 2);
    cli_result_free(&r);
    r = cli_run(cat, "prune", "llama-tiny-f32", "--rank", "2", "--as", "p-energy", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "already exists"));
    cli_result_free(&r);
    dense_free(&orig);
}
END_TEST

START_TEST(test_merge_matches_dense)
{
    /* two F32 adapters over one base, so that storage rounding (2^-24) stays far below the tolerance */
    const char *samples[] = {"llama-tiny-f32", "llama-tiny-patterns", NULL};
    char cat[4400], dir[4600], a[4600], b[4600];
    catalog(cat, sizeof cat, "merge", samples);
    snprintf(a, sizeof a, "%s/llama-tiny-f32", g_samples);
    snprintf(b, sizeof b, "%s/llama-tiny-patterns", g_samples);
    dense x = load_dense(a), y = load_dense(b);
    const char *cargs[] = {"merge", "llama-tiny-f32", "llama-tiny-patterns", "--method", "cat", "--weights", "0.7,-1.3",
                           "--as", "m-cat", NULL};
    json_decref(jrun(cat, cargs));
    export_to(cat, "m-cat", dir, sizeof dir);
    dense mc = load_dense(dir);
    for (size_t i = 0; i < x.n; i++) {
        size_t nn = (size_t)(x.rows[i] * x.cols[i]);
        double *sum = malloc(nn * 8);
        for (size_t k = 0; k < nn; k++)
            sum[k] = 0.7 * x.d[i][k] - 1.3 * y.d[i][k];
        ck_assert_int_eq(mc.rank[i], x.rank[i] + y.rank[i]);
        ck_assert_msg(rel(mc.d[i], sum, nn) < 1e-6, "cat layer %s: %.3g from the exact sum", x.names[i],
                      rel(mc.d[i], sum, nn));
        free(sum);
    }
    const char *sargs[] = {"merge", "llama-tiny-f32", "llama-tiny-patterns", "--method", "svd", "--rank", "5", "--as",
                           "m-svd", NULL};
    json_t *res = jrun(cat, sargs);
    export_to(cat, "m-svd", dir, sizeof dir);
    dense ms = load_dense(dir);
    for (size_t i = 0; i < x.n; i++) {
        size_t nn = (size_t)(x.rows[i] * x.cols[i]);
        double *sum = malloc(nn * 8);
        for (size_t k = 0; k < nn; k++)
            sum[k] = x.d[i][k] + y.d[i][k];
        double *best = truncate_dense(sum, x.rows[i], x.cols[i], 5, NULL);
        ck_assert_int_eq(ms.rank[i], 5);
        ck_assert_msg(rel(ms.d[i], best, nn) < 1e-6, "svd layer %s: %.3g from the best rank-5 of the sum", x.names[i],
                      rel(ms.d[i], best, nn));
        double e = rel(best, sum, nn);
        double rep = json_number_value(json_object_get(json_array_get(json_object_get(res, "layers"), i), "rel_error"));
        ck_assert_msg(fabs(rep - e) < 1e-6, "reported %.9g, dense %.9g", rep, e);
        free(best);
        free(sum);
    }
    json_decref(res);
    /* DARE is seeded: same seed, same bytes; another seed, other bytes */
    const char *d1[] = {"merge", "llama-tiny-f32", "llama-tiny-patterns", "--method", "dare_ties", "--rank", "4", "--density",
                        "0.5", "--seed", "7", "--as", "m-d1", NULL};
    const char *d2[] = {"merge", "llama-tiny-f32", "llama-tiny-patterns", "--method", "dare_ties", "--rank", "4", "--density",
                        "0.5", "--seed", "7", "--as", "m-d2", NULL};
    const char *d3[] = {"merge", "llama-tiny-f32", "llama-tiny-patterns", "--method", "dare_ties", "--rank", "4", "--density",
                        "0.5", "--seed", "8", "--as", "m-d3", NULL};
    json_decref(jrun(cat, d1));
    json_decref(jrun(cat, d2));
    json_decref(jrun(cat, d3));
    char e1[4600], e2[4600], e3[4600], f1[4700], f2[4700], f3[4700];
    export_to(cat, "m-d1", e1, sizeof e1);
    export_to(cat, "m-d2", e2, sizeof e2);
    export_to(cat, "m-d3", e3, sizeof e3);
    snprintf(f1, sizeof f1, "%s/adapter_model.safetensors", e1);
    snprintf(f2, sizeof f2, "%s/adapter_model.safetensors", e2);
    snprintf(f3, sizeof f3, "%s/adapter_model.safetensors", e3);
    ck_assert(cli_same_file(f1, f2));
    ck_assert(!cli_same_file(f1, f3));
    dense_free(&x);
    dense_free(&y);
    dense_free(&mc);
    dense_free(&ms);
}
END_TEST

START_TEST(test_merge_errors)
{
    const char *samples[] = {"llama-tiny-f32", "gpt2-tiny-conv1d", "llama-tiny-dora", NULL};
    char cat[4400];
    catalog(cat, sizeof cat, "merge-err", samples);
    cli_result r = cli_run(cat, "merge", "llama-tiny-f32", "gpt2-tiny-conv1d", "--method", "cat", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "different base models"));
    cli_result_free(&r);
    r = cli_run(cat, "merge", "llama-tiny-f32", "llama-tiny-dora", "--method", "cat", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "DoRA"));
    cli_result_free(&r);
    r = cli_run(cat, "merge", "llama-tiny-f32", "llama-tiny-f32", "--method", "blend", NULL);
    ck_assert_int_eq(r.code, 2);
    cli_result_free(&r);
    r = cli_run(cat, "merge", "llama-tiny-f32", "llama-tiny-f32", "--method", "svd", NULL);
    ck_assert_int_eq(r.code, 2); /* svd needs --rank */
    cli_result_free(&r);
}
END_TEST

/* Visible adapters with their content hashes, as one comparable string. */
static char *catalog_state(const char *cat)
{
    const char *args[] = {"ls", NULL};
    json_t *ls = jrun(cat, args);
    json_t *slim = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(ls, i, a) json_array_append_new(
        slim, json_pack("{s:O, s:O}", "name", json_object_get(a, "name"), "hash", json_object_get(a, "content_hash")));
    char *s = json_dumps(slim, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(slim);
    json_decref(ls);
    return s;
}

START_TEST(test_undo_redo_each_edit)
{
    const char *samples[] = {"llama-tiny-f32", "llama-tiny-bf16", NULL};
    char cat[4400], p[4600];
    catalog(cat, sizeof cat, "undo", samples);
    snprintf(p, sizeof p, "%s/llama-tiny-rslora", g_samples);
    const char *edits[][10] = {
        {"import", p, NULL},
        {"prune", "llama-tiny-f32", "--energy", "0.8", NULL},
        {"merge", "llama-tiny-f32", "llama-tiny-bf16", "--method", "svd", "--rank", "4", NULL},
        {"rename", "llama-tiny-bf16", "renamed", NULL},
        {"rm", "llama-tiny-f32", "--force", NULL},
    };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        char *before = catalog_state(cat);
        const char *const *ed = edits[e];
        cli_result r = cli_run(cat, ed[0], ed[1], ed[2], ed[3], ed[4], ed[5], ed[6], ed[7], NULL);
        ck_assert_msg(r.code == 0, "%s: %s", ed[0], r.err);
        cli_result_free(&r);
        char *after = catalog_state(cat);
        ck_assert_str_ne(before, after);
        r = cli_run(cat, "undo", NULL);
        ck_assert_msg(r.code == 0, "undo %s: %s", ed[0], r.err);
        cli_result_free(&r);
        char *undone = catalog_state(cat);
        ck_assert_msg(strcmp(before, undone) == 0, "undo of %s did not restore the catalog:\n%s\n%s", ed[0], before,
                      undone);
        r = cli_run(cat, "redo", NULL);
        ck_assert_msg(r.code == 0, "redo %s: %s", ed[0], r.err);
        cli_result_free(&r);
        char *redone = catalog_state(cat);
        ck_assert_msg(strcmp(after, redone) == 0, "redo of %s differs", ed[0]);
        free(before);
        free(after);
        free(undone);
        free(redone);
    }
    cli_result r = cli_run(cat, "redo", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "nothing to redo"));
    cli_result_free(&r);
    /* rm of an adapter others derive from needs --force */
    r = cli_run(cat, "rm", "renamed", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "--force"));
    cli_result_free(&r);
}
END_TEST

static void write_script(const char *path, const char *text)
{
    ck_assert_int_eq(cli_write(path, text, strlen(text)), 0);
}

START_TEST(test_scripts)
{
    const char *samples[] = {"llama-tiny-f32", "llama-tiny-bf16", "llama-tiny-f16", NULL};
    char cat[4400], cat2[4400], sc[4600], copy[4600];
    catalog(cat, sizeof cat, "script", samples);
    catalog(cat2, sizeof cat2, "script-typed", samples);
    snprintf(sc, sizeof sc, "%s/edit.lsc", g_tmp);
    write_script(sc, "# prune every tiny llama, then merge two of the results\n"
                     "set T 0.9\n"
                     "prune 'llama-tiny-*' --energy ${T} \\\n"
                     "      --as '{}-p'\n"
                     "merge llama-tiny-f32-p llama-tiny-bf16-p --method svd --rank 4 --as \"both p\"\n"
                     "expect exists 'both p'\n"
                     "expect rank 'llama-tiny-*-p' '*' <= 8\n"
                     "expect energy llama-tiny-f32-p >= 0.9\n"
                     "expect finite 'llama-tiny-*'\n");
    cli_ok(cat, "run", sc, NULL);
    /* the same commands typed one by one give the same adapters */
    const char *names[] = {"llama-tiny-bf16", "llama-tiny-f16", "llama-tiny-f32"};
    for (int i = 0; i < 3; i++) {
        char as[128];
        snprintf(as, sizeof as, "%s-p", names[i]);
        cli_ok(cat2, "prune", names[i], "--energy", "0.9", "--as", as, NULL);
    }
    cli_result r = cli_run(cat2, "merge", "llama-tiny-f32-p", "llama-tiny-bf16-p", "--method", "svd", "--rank", "4", "--as", "both p",
                NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    char *s1 = catalog_state(cat), *s2 = catalog_state(cat2);
    ck_assert_str_eq(s1, s2);
    free(s2);
    /* a failing expect rolls the whole script back and names its line */
    snprintf(copy, sizeof copy, "%s.before", cat);
    ck_assert_int_eq(cli_copy(cat, copy), 0);
    write_script(sc, "prune llama-tiny-f32 --rank 2 --as r2\n\nexpect rank r2 '*' <= 1\n");
    r = cli_run(cat, "run", sc, NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "edit.lsc:3:") != NULL, "%s", r.err);
    cli_result_free(&r);
    ck_assert(cli_same_file(cat, copy));
    /* parse-time errors: nothing runs, FILE:LINE */
    const char *bad[][2] = {{"ls\nfrobnicate x\n", ":2:"},
                            {"prune llama-tiny-f32 --energy\n", ":1:"},
                            {"prune nosuch --rank 2\n", "nosuch"},
                            {"prune 'zz-*' --rank 2\n", "zz-*"},
                            {"show 'unterminated\n", ":1:"},
                            {"show ${NOPE}\n", "NOPE"},
                            {"expect rank x\n", ":1:"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_script(sc, bad[i][0]);
        r = cli_run(cat, "run", sc, NULL);
        ck_assert_msg(r.code != 0, "script %zu ran", i);
        ck_assert_msg(strstr(r.err, bad[i][1]) != NULL, "script %zu: '%s' lacks '%s'", i, r.err, bad[i][1]);
        cli_result_free(&r);
        ck_assert(cli_same_file(cat, copy));
    }
    /* --dry-run writes nothing and says what would change */
    write_script(sc, "prune llama-tiny-f16 --rank 2 --as dry\n");
    r = cli_run(cat, "run", sc, "--dry-run", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "add     dry"));
    cli_result_free(&r);
    ck_assert(cli_same_file(cat, copy));
    /* --continue applies exactly the lines that succeed */
    write_script(sc, "prune llama-tiny-f16 --rank 2 --as c1\nprune llama-tiny-f16 --rank 2 --as c1\nprune llama-tiny-f16 --rank 3 --as c3\n");
    r = cli_run(cat, "run", sc, "--continue", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.out, "2 line(s) applied, 1 failed"));
    cli_result_free(&r);
    char *s3 = catalog_state(cat);
    ck_assert_ptr_nonnull(strstr(s3, "\"c1\""));
    ck_assert_ptr_nonnull(strstr(s3, "\"c3\""));
    free(s3);
    /* --var overrides set */
    write_script(sc, "set K 2\nprune llama-tiny-f16 --rank ${K} --as v${K}\n");
    cli_ok(cat, "run", sc, "--var", "K=3", NULL);
    cli_ok(cat, "show", "v3", NULL);
    free(s1);
}
END_TEST

/* A glob line's {} outputs never feed its own glob (nor its check): 'llama-tiny-*' over three adapters
 * makes exactly three '-e90' adapters, not '-e90-e90' ones, and a later line's glob sees them. The catalog
 * afterwards holds exactly the expected names. */
START_TEST(test_glob_outputs_not_refed)
{
    const char *samples[] = {"llama-tiny-f32", "llama-tiny-bf16", "llama-tiny-f16", NULL};
    char cat[4400], sc[4600];
    catalog(cat, sizeof cat, "glob-once", samples);
    snprintf(sc, sizeof sc, "%s/glob-once.lsc", g_tmp);
    write_script(sc, "prune 'llama-tiny-*' --energy 0.9 --as '{}-e90'\n"
                     "prune 'llama-tiny-*-e90' --rank 2 --as '{}-r2'\n"
                     "expect absent 'llama-tiny-*-e90-e90'\n");
    cli_ok(cat, "run", sc, NULL);
    const char *args[] = {"ls", NULL};
    json_t *ls = jrun(cat, args);
    const char *want[] = {"llama-tiny-bf16", "llama-tiny-bf16-e90", "llama-tiny-bf16-e90-r2",
                          "llama-tiny-f16", "llama-tiny-f16-e90", "llama-tiny-f16-e90-r2",
                          "llama-tiny-f32", "llama-tiny-f32-e90", "llama-tiny-f32-e90-r2"};
    size_t n = sizeof want / sizeof *want;
    ck_assert_uint_eq(json_array_size(ls), n);
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        size_t k;
        json_t *a;
        json_array_foreach(ls, k, a) found += strcmp(json_string_value(json_object_get(a, "name")), want[i]) == 0;
        ck_assert_msg(found == 1, "'%s' found %d times", want[i], found);
    }
    json_decref(ls);
    /* the checker knows the names the first line makes, and only those: a name from a second pass is unknown */
    write_script(sc, "prune 'llama-tiny-f3*' --rank 2 --as '{}-x'\n"
                     "show llama-tiny-f32-x-x\n");
    cli_result r = cli_run(cat, "run", sc, NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "glob-once.lsc:2:") && strstr(r.err, "llama-tiny-f32-x-x"), "%s", r.err);
    cli_result_free(&r);
}
END_TEST

/* A script run is one change (issue #17): one undo takes back every line of it (creations, removals,
 * renames), leaving the catalog's names and content hashes exactly as before the run; redo brings the
 * whole run back; `log` still shows each line, naming its run; `log --script` replays it; and a line
 * that undoes inside a script is refused before anything runs. */
START_TEST(test_run_is_one_change)
{
    const char *samples[] = {"llama-tiny-f32", "llama-tiny-bf16", "llama-tiny-f16", NULL};
    char cat[4400], sc[4600];
    catalog(cat, sizeof cat, "run-group", samples);
    snprintf(sc, sizeof sc, "%s/run-group.lsc", g_tmp);
    write_script(sc, "prune 'llama-tiny-*' --energy 0.9 --as '{}-e90'\n"
                     "rm llama-tiny-f16 --force\n"
                     "rename llama-tiny-bf16-e90 renamed\n");
    char *before = cli_names_hashes(cat);
    cli_ok(cat, "run", sc, NULL);
    char *after = cli_names_hashes(cat);
    ck_assert_msg(strstr(after, "renamed") && !strstr(after, "llama-tiny-f16\n"), "%s", after);
    cli_result r = cli_run(cat, "undo", NULL);
    ck_assert_msg(r.code == 0, "undo: %s", r.err);
    ck_assert_msg(strstr(r.out, "undid run #") && strstr(r.out, "5 change(s)"), "%s", r.out);
    cli_result_free(&r);
    char *undone = cli_names_hashes(cat);
    ck_assert_msg(strcmp(before, undone) == 0, "undo of the run gives\n%s\ninstead of\n%s", undone, before);
    cli_ok(cat, "redo", NULL);
    char *redone = cli_names_hashes(cat);
    ck_assert_msg(strcmp(after, redone) == 0, "redo of the run gives\n%s\ninstead of\n%s", redone, after);
    /* log: the five lines, each naming its run */
    r = cli_run(cat, "log", NULL);
    ck_assert_int_eq(r.code, 0);
    int lines = 0;
    for (const char *p = strstr(r.out, "(run #"); p; p = strstr(p + 1, "(run #"))
        lines++;
    ck_assert_msg(lines == 5, "%d lines name their run:\n%s", lines, r.out);
    cli_result_free(&r);
    assert_log_script_rebuilds(cat);
    /* the next undo after the run's undo is the import before it: one import only */
    cli_ok(cat, "undo", NULL);
    r = cli_run(cat, "undo", NULL);
    ck_assert_msg(r.code == 0 && strstr(r.out, "import"), "%s %s", r.out, r.err);
    cli_result_free(&r);
    /* undo inside a script: refused by the check, the catalog untouched */
    char *mid = cli_names_hashes(cat);
    write_script(sc, "prune llama-tiny-f32 --rank 2 --as r2\nundo\n");
    r = cli_run(cat, "run", sc, NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "run-group.lsc:2:") && strstr(r.err, "one change"), "%s", r.err);
    cli_result_free(&r);
    char *still = cli_names_hashes(cat);
    ck_assert_str_eq(mid, still);
    free(before), free(after), free(undone), free(redone), free(mid), free(still);
}
END_TEST

/* With --continue each line commits on its own, and the lines that applied are still one run: one undo
 * takes them all back; a run in which no line applied leaves no entry to undo. */
START_TEST(test_run_continue_is_one_change)
{
    const char *samples[] = {"llama-tiny-f32", NULL};
    char cat[4400], sc[4600];
    catalog(cat, sizeof cat, "run-cont", samples);
    snprintf(sc, sizeof sc, "%s/run-cont.lsc", g_tmp);
    char *before = cli_names_hashes(cat);
    /* line 2 fails when it runs (the name is taken by line 1), lines 1 and 3 apply */
    write_script(sc, "prune llama-tiny-f32 --rank 2 --as x\n"
                     "prune llama-tiny-f32 --rank 1 --as x\n"
                     "prune llama-tiny-f32 --rank 1 --as y\n");
    cli_result r = cli_run(cat, "run", sc, "--continue", NULL);
    ck_assert_int_eq(r.code, 1);
    cli_result_free(&r);
    char *mid = cli_names_hashes(cat);
    ck_assert_msg(strstr(mid, "\"x\"") || (strstr(mid, "x") && strstr(mid, "y")), "%s", mid);
    r = cli_run(cat, "undo", NULL);
    ck_assert_msg(r.code == 0 && strstr(r.out, "2 change(s)"), "%s %s", r.out, r.err);
    cli_result_free(&r);
    char *undone = cli_names_hashes(cat);
    ck_assert_str_eq(before, undone);
    /* a run where nothing applies: the undo after it is the import's */
    write_script(sc, "prune llama-tiny-f32 --rank 1 --as llama-tiny-f32\n");
    r = cli_run(cat, "run", sc, "--continue", NULL);
    ck_assert_int_eq(r.code, 1);
    cli_result_free(&r);
    r = cli_run(cat, "undo", NULL);
    ck_assert_msg(r.code == 0 && strstr(r.out, "import"), "%s %s", r.out, r.err);
    cli_result_free(&r);
    free(before), free(mid), free(undone);
}
END_TEST

/* run --jobs: a glob line's matches computed on two threads and stored in order give the same adapters
 * with the same content hashes, the same history lines and the same one-change undo as --jobs 1; and a
 * failing match fails the run with the same message (the first failure in order), leaving nothing. */
START_TEST(test_run_jobs_same_result)
{
    const char *samples[] = {"llama-tiny-f32", "llama-tiny-bf16", "llama-tiny-f16", "llama-tiny-rslora",
                             "llama-tiny-patterns", NULL};
    char cat[4400], c1[4500], c2[4500], sc[4600];
    catalog(cat, sizeof cat, "jobs", samples);
    snprintf(c1, sizeof c1, "%s.j1", cat);
    snprintf(c2, sizeof c2, "%s.j2", cat);
    ck_assert_int_eq(cli_copy(cat, c1), 0);
    ck_assert_int_eq(cli_copy(cat, c2), 0);
    snprintf(sc, sizeof sc, "%s/jobs.lsc", g_tmp);
    write_script(sc, "prune 'llama-tiny-*' --energy 0.9 --as '{}-e90'\n"
                     "prune 'llama-tiny-*-e90' --rank 2 --as '{}-r2'\n");
    char *before = cli_names_hashes(cat);
    cli_result r1 = cli_run(c1, "run", sc, "--jobs", "1", NULL), r2 = cli_run(c2, "run", sc, "--jobs", "2", NULL);
    ck_assert_msg(r1.code == 0 && r2.code == 0, "%s / %s", r1.err, r2.err);
    ck_assert_str_eq(r1.out, r2.out); /* the per-adapter reports, in the same order */
    cli_result_free(&r1);
    cli_result_free(&r2);
    char *h1 = cli_names_hashes(c1), *h2 = cli_names_hashes(c2);
    ck_assert_msg(strstr(h1, "llama-tiny-patterns-e90-r2"), "%s", h1);
    ck_assert_str_eq(h1, h2);
    r1 = cli_run(c1, "log", "--script", NULL);
    r2 = cli_run(c2, "log", "--script", NULL);
    ck_assert_str_eq(r1.out, r2.out);
    cli_result_free(&r1);
    cli_result_free(&r2);
    r2 = cli_run(c2, "undo", NULL);
    ck_assert_msg(r2.code == 0 && strstr(r2.out, "10 change(s)"), "%s %s", r2.out, r2.err);
    cli_result_free(&r2);
    char *u2 = cli_names_hashes(c2);
    ck_assert_str_eq(before, u2);
    /* a failure: every match made 'same', the second one finds it taken */
    write_script(sc, "prune 'llama-tiny-*' --rank 1 --as same\n");
    r1 = cli_run(c1, "run", sc, "--jobs", "1", NULL);
    r2 = cli_run(c2, "run", sc, "--jobs", "2", NULL);
    ck_assert_int_eq(r1.code, 1);
    ck_assert_int_eq(r2.code, 1);
    ck_assert_msg(strstr(r1.err, "jobs.lsc:1:"), "%s", r1.err);
    ck_assert_str_eq(r1.err, r2.err);
    cli_result_free(&r1);
    cli_result_free(&r2);
    char *u2b = cli_names_hashes(c2);
    ck_assert_str_eq(before, u2b);
    free(before), free(h1), free(h2), free(u2), free(u2b);
}
END_TEST

/* The script checker parses and validates each line with the command's own table and validate step, and
 * learns from the table which arguments name adapters and which name new ones (group's NEW). */
START_TEST(test_script_checker_from_tables)
{
    const char *samples[] = {"llama-tiny-f32", "llama-tiny-bf16", NULL};
    char cat[4400], sc[4600], copy[4600];
    catalog(cat, sizeof cat, "checker", samples);
    snprintf(sc, sizeof sc, "%s/checker.lsc", g_tmp);
    write_script(sc, "group pair llama-tiny-f32 llama-tiny-bf16\nshow pair\n");
    cli_ok(cat, "run", sc, NULL);
    snprintf(copy, sizeof copy, "%s.before", cat);
    ck_assert_int_eq(cli_copy(cat, copy), 0);
    const char *bad[][2] = {
        {"prune llama-tiny-f32 --rank 2 --as ok\nmerge ok llama-tiny-bf16 --method linear --density 0.5\n",
         "checker.lsc:2: merge: --density goes with"},
        {"prune llama-tiny-f32 --rank 2 --energy 0.5\n", "checker.lsc:1: prune: give one rule"},
        {"prune llama-tiny-f32 --budget 1e20\n", "checker.lsc:1: prune: --budget takes a whole number >= 1"},
        {"retrain llama-tiny-f32 --target nosuch\n", "checker.lsc:1: no adapter 'nosuch'"},
        {"export llama-tiny-f32 out --format onnx\n", "--format: 'onnx' is not one of peft, kohya, gguf"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_script(sc, bad[i][0]);
        cli_result r = cli_run(cat, "run", sc, NULL);
        ck_assert_msg(r.code != 0, "script %zu ran", i);
        ck_assert_msg(strstr(r.err, bad[i][1]) != NULL, "script %zu: '%s' lacks '%s'", i, r.err, bad[i][1]);
        cli_result_free(&r);
        ck_assert(cli_same_file(cat, copy));
    }
}
END_TEST

START_TEST(test_log_script_replays)
{
    const char *samples[] = {"llama-tiny-f32", "llama-tiny-bf16", NULL};
    char cat[4400], cat2[4400], sc[4600];
    catalog(cat, sizeof cat, "replay", samples);
    cli_ok(cat, "prune", "llama-tiny-f32", "--fro", "0.9", "--as", "pf", NULL);
    cli_ok(cat, "merge", "pf", "llama-tiny-bf16", "--method", "ties", "--rank", "4", "--density", "0.5", "--as",
                "tm", NULL);
    cli_result r = cli_run(cat, "log", "--script", NULL);
    ck_assert_int_eq(r.code, 0);
    snprintf(sc, sizeof sc, "%s/replay.lsc", g_tmp);
    write_script(sc, r.out);
    cli_result_free(&r);
    snprintf(cat2, sizeof cat2, "%s/replay2.db", g_tmp);
    remove(cat2);
    cli_ok(cat2, "run", sc, NULL);
    char *a = catalog_state(cat), *b = catalog_state(cat2);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
}
END_TEST

/* The example scripts in samples/scripts run on the sample catalog and check their own outcomes. */
START_TEST(test_sample_scripts)
{
    const char *samples[] = {"llama-tiny-f32", "llama-tiny-f16", "llama-tiny-bf16", "tasks", "llama-tiny-patterns", NULL};
    char cat[4400], sc[4600];
    catalog(cat, sizeof cat, "samples", samples);
    const char *scripts[] = {"prune-family.lsc", "merge-tasks.lsc", "audit.lsc"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(sc, sizeof sc, "%s/scripts/%s", getenv("LSC_SAMPLES"), scripts[i]);
        cli_result r = cli_run(cat, "run", sc, NULL);
        ck_assert_msg(r.code == 0, "%s: %s", scripts[i], r.err);
        cli_result_free(&r);
    }
    const char *names[] = {"llama-tiny-f32-e0.9", "llama-tiny-f16-e0.9", "tasks-sum", "tasks-svd8", "tasks-ties8"};
    for (size_t i = 0; i < 5; i++) {
        cli_result r = cli_run(cat, "show", names[i], NULL);
        ck_assert_msg(r.code == 0, "%s missing", names[i]);
        cli_result_free(&r);
    }
    /* the audit fails on a rank above its limit, naming the line */
    snprintf(sc, sizeof sc, "%s/scripts/audit.lsc", getenv("LSC_SAMPLES"));
    cli_result r = cli_run(cat, "run", sc, "--var", "MAXRANK=8", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "audit.lsc:7:"));
    cli_result_free(&r);
}
END_TEST

/* log --script of every catalog the tests above left rebuilds it in a fresh catalog (issue #13, item 6). */
START_TEST(test_log_script_rebuilds_each_catalog)
{
    const char *tags[] = {"prune", "merge", "undo", "script", "script-typed", "replay", "samples"};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        char cat[4400];
        snprintf(cat, sizeof cat, "%s/%s.db", g_tmp, tags[i]);
        assert_log_script_rebuilds(cat);
    }
}
END_TEST

/* Parse `text` as script "lim.lsc"; returns the status, err filled. */
static lsc_status parse_text(const char *text, lsc_error *err)
{
    lsc_script_vars vars = {0};
    lsc_script *sc = NULL;
    lsc_error_clear(err);
    lsc_status st = lsc_script_parse("lim.lsc", text, &vars, &sc, err);
    lsc_script_free(sc);
    lsc_script_vars_release(&vars);
    return st;
}

/* A growable text for building scripts. */
static void cat_str(char **t, size_t *len, const char *s)
{
    size_t n = strlen(s);
    *t = realloc(*t, *len + n + 1);
    memcpy(*t + *len, s, n + 1);
    *len += n;
}

/* Expansion is capped: a command's words at 1 MiB, a script's at 64 MiB, FILE:LINE naming where. */
START_TEST(test_script_size_limits)
{
    lsc_error err;
    char *t = NULL, want[64];
    size_t len = 0;
    /* doubling: line 1 sets 1 byte, line k+1 sets 2^k bytes; line 21's words are 3 + 1 + 2^20 > 1 MiB */
    cat_str(&t, &len, "set A x\n");
    for (int i = 0; i < 29; i++)
        cat_str(&t, &len, "set A ${A}${A}\n");
    ck_assert_int_eq(parse_text(t, &err), LSC_ERR_FORMAT);
    ck_assert_msg(strncmp(err.msg, "lim.lsc:21: ", 12) == 0 && strstr(err.msg, "1 MiB"), "%s", err.msg);
    free(t);
    t = NULL;
    len = 0;
    /* a line joined by continuations: 1100 pieces of 1000 bytes */
    char piece[1004];
    memset(piece, 'a', 1000);
    memcpy(piece + 1000, " \\\n", 4);
    cat_str(&t, &len, "show ");
    for (int i = 0; i < 1100; i++)
        cat_str(&t, &len, piece);
    cat_str(&t, &len, "\n");
    ck_assert_int_eq(parse_text(t, &err), LSC_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "lim.lsc:") == err.msg && strstr(err.msg, "1 MiB"), "%s", err.msg);
    free(t);
    t = NULL;
    len = 0;
    /* many lines under 1 MiB each: the script's total of word bytes passes 64 MiB at a line found here */
    cat_str(&t, &len, "set A x\n");
    double total = 3 + 1 + 1, a = 1;
    int over = 0, line = 1;
    for (int i = 0; i < 19; i++) {
        cat_str(&t, &len, "set A ${A}${A}\n");
        a *= 2;
        total += 3 + 1 + a;
        line++;
    }
    for (int i = 0; i < 140; i++) {
        cat_str(&t, &len, "show ${A}\n");
        total += 4 + a;
        line++;
        if (!over && total > 64.0 * 1024 * 1024)
            over = line;
    }
    ck_assert_int_gt(over, 20);
    ck_assert_int_eq(parse_text(t, &err), LSC_ERR_FORMAT);
    snprintf(want, sizeof want, "lim.lsc:%d: ", over);
    ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0 && strstr(err.msg, "64 MiB"), "%s (want %s)", err.msg, want);
    /* reading a long script stops once cancelled (within 4096 commands), naming where it was */
    free(t);
    t = NULL;
    len = 0;
    for (int i = 0; i < 5000; i++)
        cat_str(&t, &len, "ls\n");
    lsc_script_vars vars = {0};
    lsc_script *sc = NULL;
    volatile int cancel = 1;
    ck_assert_int_eq(lsc_script_parse_cancel("lim.lsc", t, &vars, &cancel, &sc, &err), LSC_ERR_CANCELLED);
    ck_assert_msg(strncmp(err.msg, "lim.lsc:", 8) == 0 && strstr(err.msg, "cancelled"), "%s", err.msg);
    lsc_script_vars_release(&vars);
    free(t);
}
END_TEST

/* The real binary: thirty doublings stop at line 21 with exit 1; a `{}` word that grows past 1 MiB when
 * the matched name is put in is refused with FILE:LINE; the catalog is unchanged either way. */
START_TEST(test_script_size_limits_cli)
{
    const char *samples[] = {"llama-tiny-f32", NULL};
    char cat[4400], sc[4600], copy[4600];
    catalog(cat, sizeof cat, "limits", samples);
    snprintf(copy, sizeof copy, "%s.before", cat);
    ck_assert_int_eq(cli_copy(cat, copy), 0);
    snprintf(sc, sizeof sc, "%s/limits.lsc", g_tmp);
    char *t = NULL;
    size_t len = 0;
    cat_str(&t, &len, "set A x\n");
    for (int i = 0; i < 29; i++)
        cat_str(&t, &len, "set A ${A}${A}\n");
    cat_str(&t, &len, "show ${A}\n");
    write_script(sc, t);
    free(t);
    cli_result r = cli_run(cat, "run", sc, NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "limits.lsc:21: ") && strstr(r.err, "1 MiB"), "%s", r.err);
    cli_result_free(&r);
    ck_assert(cli_same_file(cat, copy));
    /* 80000 `{}` (160 kB) become 80000 x 14 bytes for llama-tiny-f32 */
    t = NULL;
    len = 0;
    cat_str(&t, &len, "\nprune 'llama-tiny-*' --rank 2 --as '");
    for (int i = 0; i < 80000; i++)
        cat_str(&t, &len, "{}");
    cat_str(&t, &len, "'\n");
    write_script(sc, t);
    free(t);
    r = cli_run(cat, "run", sc, NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "limits.lsc:2: ") && strstr(r.err, "1 MiB"), "%s", r.err);
    cli_result_free(&r);
    ck_assert(cli_same_file(cat, copy));
}
END_TEST

/* Edits and diff run their layers over the worker pool (LSC_THREADS): one and two workers must store the
 * same bytes (same content hash) and print the same figures, for prune, svd and cat merge, and diff;
 * the outputs must also still be new adapters (not the source's hash). */
static char *hash_of(const char *cat, const char *name)
{
    const char *args[] = {"ls", NULL};
    json_t *v = jrun(cat, args);
    char *h = NULL;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *o = json_array_get(v, i);
        if (strcmp(json_string_value(json_object_get(o, "name")), name) == 0)
            h = strdup(json_string_value(json_object_get(o, "content_hash")));
    }
    json_decref(v);
    ck_assert_msg(h != NULL, "no adapter '%s'", name);
    return h;
}

START_TEST(test_threads_same_bytes)
{
    const char *samples[] = {"llama-tiny-f32", "llama-tiny-bf16", NULL};
    char cat[4400];
    catalog(cat, sizeof cat, "threads", samples);
    const char *edits[][9] = {
        {"prune", "llama-tiny-bf16", "--energy", "0.8", "--as", NULL},
        {"prune", "llama-tiny-f32", "--rank", "2", "--as", NULL},
        {"merge", "llama-tiny-f32", "llama-tiny-bf16", "--method", "svd", "--rank", "3", "--as", NULL},
        {"merge", "llama-tiny-f32", "llama-tiny-bf16", "--method", "cat", "--as", NULL},
    };
    char *diff_out[2] = {NULL, NULL};
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        char *h[2];
        for (int t = 0; t < 2; t++) {
            char name[32];
            const char *a[9];
            memcpy(a, edits[e], sizeof a);
            snprintf(name, sizeof name, "out%zu-%d", e, t + 1);
            for (int i = 0; i < 9; i++)
                if (!a[i]) {
                    a[i] = name;
                    break;
                }
            setenv("LSC_THREADS", t ? "2" : "1", 1);
            cli_result r = cli_run(cat, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], NULL);
            ck_assert_msg(r.code == 0, "%s with %d thread(s): %s", a[0], t + 1, r.err);
            cli_result_free(&r);
            h[t] = hash_of(cat, name);
            if (e == 0) {
                r = cli_run(cat, "diff", "llama-tiny-f32", "llama-tiny-bf16", "--json", NULL);
                ck_assert_int_eq(r.code, 0);
                diff_out[t] = strdup(r.out);
                cli_result_free(&r);
            }
        }
        unsetenv("LSC_THREADS");
        ck_assert_msg(strcmp(h[0], h[1]) == 0, "%s: 1 and 2 threads stored different bytes", edits[e][0]);
        char *src = hash_of(cat, edits[e][1]);
        ck_assert_str_ne(h[0], src);
        free(src);
        free(h[0]);
        free(h[1]);
    }
    ck_assert_str_eq(diff_out[0], diff_out[1]);
    free(diff_out[0]);
    free(diff_out[1]);
}
END_TEST

/* lsc_derive_factors decodes a plain layer into one packed buffer sized by that layer's rows + cols, and
 * gives the same view as lsc_adapter_factors, over layers of alternating shapes (gate-like tall B, down-like
 * wide A) and an embedding layer (general path). Two buffers grown separately would end at the largest
 * rows * r plus the largest cols * r; the packed one ends at the largest (rows + cols) * r. */
START_TEST(test_derive_factors_packed)
{
    lsc_adapter *ad = lsc_adapter_new();
    ck_assert_ptr_nonnull(ad);
    const int shapes[4][3] = {{40, 6, 4}, {6, 40, 4}, {40, 6, 4}, {5, 7, 3}}; /* rows, cols, r */
    for (int L = 0; L < 4; L++) {
        char name[32], ka[48], kb[48];
        snprintf(name, sizeof name, "layer%d", L);
        snprintf(ka, sizeof ka, "%s.A", name);
        snprintf(kb, sizeof kb, "%s.B", name);
        size_t li, ta, tb;
        ck_assert_int_eq(lsc_adapter_add_layer(ad, name, &li, NULL), LSC_OK);
        const int rows = shapes[L][0], cols = shapes[L][1], r = shapes[L][2];
        float *a = malloc(sizeof(float) * r * cols), *b = malloc(sizeof(float) * rows * r);
        for (int i = 0; i < r * cols; i++)
            a[i] = (float)(L + 1) * 0.25f + (float)i;
        for (int i = 0; i < rows * r; i++)
            b[i] = -(float)(L + 1) * 0.5f + (float)i;
        const int64_t sa[2] = {r, cols}, sb[2] = {rows, r};
        ck_assert_int_eq(lsc_adapter_add_tensor(ad, ka, LSC_ROLE_A, (int)li, LSC_DT_F32, 2, sa, a, &ta, NULL), LSC_OK);
        ck_assert_int_eq(lsc_adapter_add_tensor(ad, kb, LSC_ROLE_B, (int)li, LSC_DT_F32, 2, sb, b, &tb, NULL), LSC_OK);
        ad->layers[li].ta = (int)ta;
        ad->layers[li].tb = (int)tb;
        ad->layers[li].rank = r;
        ad->layers[li].scale = 1.0;
        if (L == 3)
            ad->layers[li].flags |= LSC_LAYER_EMBEDDING;
    }
    double *pk = NULL, *xb = NULL, *xa = NULL, *rb = NULL, *ra = NULL;
    size_t pkc = 0, xbc = 0, xac = 0, rbc = 0, rac = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t li = 0; li < 4; li++) {
            lsc_lowrank got, want;
            lsc_error err = {0};
            ck_assert_int_eq(lsc_derive_factors(ad, li, &pk, &pkc, &xb, &xbc, &xa, &xac, &got, &err), LSC_OK);
            double *wb = NULL, *wa = NULL;
            size_t wbc = 0, wac = 0;
            ck_assert_int_eq(lsc_adapter_factors(ad, li, &wb, &wbc, &wa, &wac, &want, &err), LSC_OK);
            ck_assert(got.rows == want.rows && got.cols == want.cols && got.r == want.r);
            ck_assert(memcmp(got.B, want.B, sizeof(double) * (size_t)(want.rows * want.r)) == 0);
            ck_assert(memcmp(got.A, want.A, sizeof(double) * (size_t)(want.r * want.cols)) == 0);
            if (li < 3) /* plain: B then A in the packed buffer */
                ck_assert(got.B == pk && got.A == pk + want.rows * want.r);
            else
                ck_assert(got.B == xb && got.A == xa);
            free(wb);
            free(wa);
            /* what two separately grown buffers would hold by now */
            lsc_lowrank v;
            ck_assert_int_eq(lsc_adapter_factors(ad, li, &rb, &rbc, &ra, &rac, &v, &err), LSC_OK);
        }
    ck_assert_uint_eq(pkc, (40 + 6) * 4);
    ck_assert_uint_eq(rbc + rac, 40 * 4 + 40 * 4);
    free(pk), free(xb), free(xa), free(rb), free(ra);
    lsc_adapter_free(ad);
}
END_TEST

int main(void)
{
    if (setup() != 0)
        return 1;
    const TTest *const tests[] = {test_derive_factors_packed,
                                          test_prune_rules_match_dense,
                                          test_merge_matches_dense,
                                          test_merge_errors,
                                          test_undo_redo_each_edit,
                                          test_scripts,
                                          test_glob_outputs_not_refed,
                                          test_run_is_one_change,
                                          test_run_continue_is_one_change,
                                          test_run_jobs_same_result,
                                          test_script_checker_from_tables,
                                          test_log_script_replays,
                                          test_sample_scripts,
                                          test_log_script_rebuilds_each_catalog,
                                          test_script_size_limits,
                                          test_script_size_limits_cli,
                                          test_threads_same_bytes, NULL};
    return cli_run_suite("edit", tests, 0, g_tmp);
}
