/* check-lycoris-io.c: LyCORIS files (LoHa, LoKr, LoCon with a Tucker core, DoRA) end to end with the real
 * binary: import of the generated samples, `show --json` figures against a dense float64 dW built here from
 * the raw tensors of the source file (with LyCORIS's formulas and scale rules written out again, not through
 * engine/lycoris), unedited export byte for byte, `convert --to static` against the dense dW, prune through
 * the automatic conversion, and every malformed or unsupported variant refused with one line and the
 * catalog unchanged. */
#include <check.h>
#include <jansson.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "cli_util.h"
#include "dtype.h"
#include "kohya.h"
#include "peft.h"
#include "safetensors.h"

static char *g_tmp;
static char g_samples[4200], g_cat[4400];

static const char *const samples[] = {"sd-tiny-loha.safetensors", "sd-tiny-lokr.safetensors",
                                      "sd-tiny-locon-tucker.safetensors", "sd-tiny-dora.safetensors"};
static const char *const sample_names[] = {"sd-tiny-loha", "sd-tiny-lokr", "sd-tiny-locon-tucker", "sd-tiny-dora"};
static const char *const sample_kinds[] = {"loha", "lokr", "static", "loha"};

static void sample_path(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "%s/%s", g_samples, samples[i]);
}

static int setup(void)
{
    if (cli_setup_samples(&g_tmp, g_samples, sizeof g_samples) != 0)
        return -1;
    snprintf(g_cat, sizeof g_cat, "%s/lyc.db", g_tmp);
    for (int i = 0; i < 4; i++) {
        char p[4400];
        sample_path(p, sizeof p, i);
        cli_result r = cli_run(g_cat, "import", p, NULL);
        int ok = r.code == 0 && r.err[0] == '\0';
        if (!ok)
            fprintf(stderr, "import %s: %s\n", p, r.err);
        cli_result_free(&r);
        if (!ok)
            return -1;
    }
    return 0;
}

/* ---- the raw tensors of a file, and dW from them ------------------------------------------------------ */

typedef struct raw {
    double *v;
    int ndim;
    int64_t shape[8];
} raw;

/* Tensor mod + suffix of f as doubles; v NULL when absent. */
static raw get(lsc_st_file *f, const char *mod, const char *suffix)
{
    raw r = {0};
    char key[512];
    snprintf(key, sizeof key, "%s%s", mod, suffix);
    long i = lsc_st_find(f, key);
    if (i < 0)
        return r;
    const lsc_st_tensor *t = &f->tensors[i];
    size_t n = 1;
    r.ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++) {
        r.shape[d] = t->shape[d];
        n *= (size_t)t->shape[d];
    }
    size_t nb = (size_t)(t->end - t->begin);
    void *bytes = malloc(nb ? nb : 1);
    lsc_error e;
    ck_assert_int_eq(lsc_st_read(f, (size_t)i, bytes, &e), LSC_OK);
    r.v = calloc(n ? n : 1, sizeof *r.v);
    ck_assert_int_eq(lsc_dtype_to_double(t->dtype, bytes, n, r.v), LSC_OK);
    free(bytes);
    return r;
}

static int64_t tail(const raw *r, int from)
{
    int64_t n = 1;
    for (int d = from; d < r->ndim; d++)
        n *= r->shape[d];
    return n;
}

/* P [m, n] = X [m, k] Y [k, n] */
static double *matmul(const double *X, const double *Y, int64_t m, int64_t k, int64_t n)
{
    double *P = calloc((size_t)(m * n), sizeof *P);
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++)
            for (int64_t j = 0; j < n; j++)
                P[i * n + j] += X[i * k + p] * Y[p * n + j];
    return P;
}

/* A Tucker rebuild: W [m, n K] with W[o, c K + kk] = sum_ij t[i, j, kk] wa[i, o] wb[j, c] (t [r, r, K],
 * wa [r, m], wb [r, n]). */
static double *tucker(const raw *t, const raw *wa, const raw *wb, int64_t *m, int64_t *ncols)
{
    int64_t r = t->shape[0], K = t->shape[2] * t->shape[3], M = wa->shape[1], N = wb->shape[1];
    double *W = calloc((size_t)(M * N * K), sizeof *W);
    for (int64_t o = 0; o < M; o++)
        for (int64_t c = 0; c < N; c++)
            for (int64_t kk = 0; kk < K; kk++) {
                double s = 0;
                for (int64_t i = 0; i < r; i++)
                    for (int64_t j = 0; j < r; j++)
                        s += t->v[(i * r + j) * K + kk] * wa->v[i * M + o] * wb->v[j * N + c];
                W[o * N * K + c * K + kk] = s;
            }
    *m = M;
    *ncols = N * K;
    return W;
}

/* The factors MOD+na [rows, rank] and MOD+nb [rank, cols...] multiplied out, or with a Tucker core MOD+nt
 * (nt NULL: none) its Tucker form, as a dense [rows, cols]; *rank their r (the core's first dimension). */
static double *factor_product(lsc_st_file *f, const char *mod, const char *na, const char *nb, const char *nt,
                              int64_t *rows, int64_t *cols, int64_t *rank)
{
    raw a = get(f, mod, na), b = get(f, mod, nb);
    raw t = nt ? get(f, mod, nt) : (raw){0};
    double *W;
    if (t.v) {
        W = tucker(&t, &a, &b, rows, cols);
        *rank = t.shape[0];
    } else {
        *rows = a.shape[0];
        *rank = a.shape[1];
        *cols = tail(&b, 1);
        W = matmul(a.v, b.v, *rows, *rank, *cols);
    }
    free(a.v);
    free(b.v);
    free(t.v);
    return W;
}

/* LoHa factor pair p (1 or 2) as a dense [rows, cols]; *rank its r. */
static double *hada_pair(lsc_st_file *f, const char *mod, int p, int64_t *rows, int64_t *cols, int64_t *rank)
{
    return p == 1 ? factor_product(f, mod, ".hada_w1_a", ".hada_w1_b", ".hada_t1", rows, cols, rank)
                  : factor_product(f, mod, ".hada_w2_a", ".hada_w2_b", ".hada_t2", rows, cols, rank);
}

/* LoKr factor p as a dense [rows, cols] (W2 of a conv flattened [c, d K]); *rank 0 for a full matrix. */
static double *kron_factor(lsc_st_file *f, const char *mod, int p, int64_t *rows, int64_t *cols, int64_t *rank)
{
    raw w = get(f, mod, p == 1 ? ".lokr_w1" : ".lokr_w2");
    if (w.v) {
        *rows = w.shape[0];
        *cols = tail(&w, 1);
        *rank = 0;
        return w.v;
    }
    return p == 1 ? factor_product(f, mod, ".lokr_w1_a", ".lokr_w1_b", NULL, rows, cols, rank)
                  : factor_product(f, mod, ".lokr_w2_a", ".lokr_w2_b", ".lokr_t2", rows, cols, rank);
}

/* LyCORIS's scale: alpha / dim, dim the first decomposed factor's rank (LoKr) or r1 (LoHa) or r (LoCon);
 * 1 without alpha (or alpha 0) and for a LoKr with both factors full. */
static double scale_of(double alpha, int64_t dim)
{
    if (dim <= 0 || isnan(alpha) || alpha == 0)
        return 1.0;
    return alpha / (double)dim;
}

/* dW of module mod (the low-rank part of a DoRA layer), malloc'ed [rows, cols]. */
static double *dense_delta(lsc_st_file *f, const char *mod, int64_t *rows, int64_t *cols)
{
    raw al = get(f, mod, ".alpha");
    double alpha = al.v ? al.v[0] : NAN;
    free(al.v);
    raw probe = get(f, mod, ".hada_w1_a");
    double *D = NULL;
    if (probe.v) {
        int64_t r1, r2, m2, n2;
        double *W1 = hada_pair(f, mod, 1, rows, cols, &r1), *W2 = hada_pair(f, mod, 2, &m2, &n2, &r2);
        ck_assert(m2 == *rows && n2 == *cols);
        double s = scale_of(alpha, r1);
        for (int64_t i = 0; i < *rows * *cols; i++)
            W1[i] *= W2[i] * s;
        free(W2);
        D = W1;
    } else if ((probe = get(f, mod, ".lokr_w1")).v || (probe = get(f, mod, ".lokr_w1_a")).v) {
        int64_t a, b, c, d, ra, rb;
        double *W1 = kron_factor(f, mod, 1, &a, &b, &ra), *W2 = kron_factor(f, mod, 2, &c, &d, &rb);
        double s = scale_of(alpha, ra > 0 ? ra : rb);
        *rows = a * c;
        *cols = b * d;
        D = calloc((size_t)(*rows * *cols), sizeof *D);
        for (int64_t i = 0; i < a; i++) /* torch.kron */
            for (int64_t j = 0; j < b; j++)
                for (int64_t k = 0; k < c; k++)
                    for (int64_t l = 0; l < d; l++)
                        D[(i * c + k) * *cols + j * d + l] = s * W1[i * b + j] * W2[k * d + l];
        free(W1);
        free(W2);
    } else {
        raw down = get(f, mod, ".lora_down.weight"), up = get(f, mod, ".lora_up.weight"), mid = get(f, mod, ".lora_mid.weight");
        ck_assert_ptr_nonnull(down.v);
        int64_t r = down.shape[0];
        double s = scale_of(alpha, r);
        *rows = up.shape[0];
        if (mid.v) { /* dW = up . (mid x down): the core contracted with down first */
            int64_t K = mid.shape[2] * mid.shape[3], in = down.shape[1];
            double *A = calloc((size_t)(r * in * K), sizeof *A);
            for (int64_t i = 0; i < r; i++)
                for (int64_t c = 0; c < in; c++)
                    for (int64_t kk = 0; kk < K; kk++)
                        for (int64_t j = 0; j < r; j++)
                            A[i * in * K + c * K + kk] += mid.v[(i * r + j) * K + kk] * down.v[j * in + c];
            *cols = in * K;
            D = matmul(up.v, A, *rows, r, *cols);
            free(A);
        } else {
            *cols = tail(&down, 1);
            D = matmul(up.v, down.v, *rows, r, *cols);
        }
        for (int64_t i = 0; i < *rows * *cols; i++)
            D[i] *= s;
        free(down.v);
        free(up.v);
        free(mid.v);
    }
    free(probe.v);
    return D;
}

/* Singular values of D [m, n] (all min(m, n) of them), descending. */
static double *dense_sv(const double *D, int64_t m, int64_t n)
{
    double *c = malloc((size_t)(m * n) * sizeof *c), *s = malloc((size_t)(m < n ? m : n) * sizeof *s);
    memcpy(c, D, (size_t)(m * n) * sizeof *c);
    ck_assert_int_eq(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', (lapack_int)m, (lapack_int)n, c, (lapack_int)n, s, NULL, (lapack_int)m,
                                    NULL, (lapack_int)n),
                     0);
    free(c);
    return s;
}

static json_t *show_json(const char *name)
{
    cli_result r = cli_run(g_cat, "show", name, "--json", NULL);
    ck_assert_msg(r.code == 0, "show %s: %s", name, r.err);
    json_error_t je;
    json_t *o = json_loads(r.out, 0, &je);
    cli_result_free(&r);
    ck_assert_ptr_nonnull(o);
    return o;
}

/* Every layer of `name` (imported from file `path`): show's singular values and norm against the dense dW
 * of the file to 1e-9 relative; the count of values the shape allows beyond show's list must be ~0. */
static void check_figures(const char *name, const char *path, double tol)
{
    lsc_st_file *f = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_st_open(path, &f, &e), LSC_OK);
    json_t *o = show_json(name);
    json_t *layers = json_object_get(o, "layers");
    ck_assert(json_array_size(layers) > 0);
    size_t i;
    json_t *L;
    json_array_foreach(layers, i, L) {
        const char *mod = json_string_value(json_object_get(L, "key"));
        int64_t m, n;
        double *D = dense_delta(f, mod, &m, &n);
        ck_assert_int_eq(m, json_integer_value(json_object_get(L, "rows")));
        ck_assert_int_eq(n, json_integer_value(json_object_get(L, "cols")));
        double *s = dense_sv(D, m, n);
        json_t *sv = json_object_get(L, "sv");
        size_t k = json_array_size(sv), all = (size_t)(m < n ? m : n);
        double num = 0, den = 0;
        for (size_t j = 0; j < all; j++) {
            double got = j < k ? json_real_value(json_array_get(sv, j)) : 0.0;
            num += (got - s[j]) * (got - s[j]);
            den += s[j] * s[j];
        }
        ck_assert_msg(sqrt(num / den) <= tol, "%s %s: sv rel err %g", name, mod, sqrt(num / den));
        double norm = json_real_value(json_object_get(L, "norm"));
        ck_assert_msg(fabs(norm - sqrt(den)) <= tol * sqrt(den), "%s %s: norm %.17g vs %.17g", name, mod, norm, sqrt(den));
        free(D);
        free(s);
    }
    json_decref(o);
    lsc_st_close(f);
}

START_TEST(test_show_matches_dense)
{
    for (int i = 0; i < 4; i++) {
        char p[4400];
        sample_path(p, sizeof p, i);
        json_t *o = show_json(sample_names[i]);
        ck_assert_str_eq(json_string_value(json_object_get(o, "kind")), sample_kinds[i]);
        json_decref(o);
        check_figures(sample_names[i], p, 1e-9);
    }
}
END_TEST

START_TEST(test_export_byte_identical)
{
    for (int i = 0; i < 4; i++) {
        char src[4400], out[4500];
        sample_path(src, sizeof src, i);
        snprintf(out, sizeof out, "%s/out-%d.safetensors", g_tmp, i);
        cli_ok(g_cat, "export", sample_names[i], out, NULL);
        ck_assert_msg(cli_same_file(src, out), "export of %s differs from its source", sample_names[i]);
    }
    /* a dtype change writes the factors again: they read back to the same figures (to f16 -> f32 exactness) */
    char out[4500], name[64];
    snprintf(out, sizeof out, "%s/lokr-f32.safetensors", g_tmp);
    cli_ok(g_cat, "export", "sd-tiny-lokr", out, "--dtype", "f32", NULL);
    cli_ok(g_cat, "import", out, NULL);
    snprintf(name, sizeof name, "lokr-f32");
    char src[4400];
    sample_path(src, sizeof src, 1);
    check_figures(name, src, 1e-9);
}
END_TEST

/* convert --to static: the plain pairs (F64) give the dense dW of the LyCORIS source to 1e-12. */
START_TEST(test_convert_exact)
{
    static const int expect_rank[4] = {16, -1, 4, -1};
    for (int i = 0; i < 4; i++) {
        char src[4400], out[4500], newname[80];
        sample_path(src, sizeof src, i);
        snprintf(newname, sizeof newname, "%s-plain", sample_names[i]);
        cli_ok(g_cat, "convert", sample_names[i], "--to", "static", "--as", newname, NULL);
        snprintf(out, sizeof out, "%s/plain-%d.safetensors", g_tmp, i);
        cli_ok(g_cat, "export", newname, out, NULL);
        lsc_st_file *fs = NULL, *fo = NULL;
        lsc_error e;
        ck_assert_int_eq(lsc_st_open(src, &fs, &e), LSC_OK);
        ck_assert_int_eq(lsc_st_open(out, &fo, &e), LSC_OK);
        json_t *o = show_json(newname);
        size_t li;
        json_t *L;
        json_array_foreach(json_object_get(o, "layers"), li, L) {
            const char *mod = json_string_value(json_object_get(L, "key"));
            int64_t m1, n1, m2, n2;
            double *D1 = dense_delta(fs, mod, &m1, &n1), *D2 = dense_delta(fo, mod, &m2, &n2);
            raw hd = get(fo, mod, ".hada_w1_a"), kd = get(fo, mod, ".lokr_w1");
            ck_assert_msg(!hd.v && !kd.v, "%s is still LyCORIS after convert", mod);
            ck_assert(m1 == m2 && n1 == n2);
            double num = 0, den = 0;
            for (int64_t k = 0; k < m1 * n1; k++) {
                num += (D1[k] - D2[k]) * (D1[k] - D2[k]);
                den += D1[k] * D1[k];
            }
            ck_assert_msg(sqrt(num / den) <= 1e-12, "%s: convert rel err %g", mod, sqrt(num / den));
            if (expect_rank[i] > 0)
                ck_assert_int_eq(json_integer_value(json_object_get(L, "rank")), expect_rank[i]);
            free(D1);
            free(D2);
        }
        json_decref(o);
        lsc_st_close(fs);
        lsc_st_close(fo);
    }
    /* LoKr: rank(W1) rank(W2): 8 * 4 for the projections, 8 * 16 with W2 full, 4 * 4 for the Tucker conv */
    json_t *o = show_json("sd-tiny-lokr-plain");
    size_t li;
    json_t *L;
    json_array_foreach(json_object_get(o, "layers"), li, L) {
        const char *mod = json_string_value(json_object_get(L, "key"));
        int rank = (int)json_integer_value(json_object_get(L, "rank"));
        int want = strstr(mod, "to_out_0") ? 128 : strstr(mod, "conv1") ? 16 : 32;
        ck_assert_msg(rank == want, "%s: rank %d, want %d", mod, rank, want);
    }
    json_decref(o);
}
END_TEST

/* prune works on a LoHa adapter (each layer converted on the way) and keeps the best rank-4 part. */
START_TEST(test_prune_converts)
{
    cli_ok(g_cat, "prune", "sd-tiny-loha", "--rank", "4", "--as", "loha-r4", NULL);
    json_t *a = show_json("sd-tiny-loha"), *b = show_json("loha-r4");
    json_t *la = json_object_get(a, "layers"), *lb = json_object_get(b, "layers");
    ck_assert_int_eq(json_array_size(la), json_array_size(lb));
    for (size_t i = 0; i < json_array_size(la); i++) {
        json_t *x = json_array_get(la, i), *y = json_array_get(lb, i);
        ck_assert_int_eq(json_integer_value(json_object_get(y, "rank")), 4);
        for (size_t j = 0; j < 4; j++) {
            double s1 = json_real_value(json_array_get(json_object_get(x, "sv"), j));
            double s2 = json_real_value(json_array_get(json_object_get(y, "sv"), j));
            ck_assert_msg(fabs(s1 - s2) <= 1e-9 * s1, "sv %zu: %g vs %g", j, s1, s2);
        }
    }
    json_decref(a);
    json_decref(b);
}
END_TEST

/* The kind figures (the kind panel's data): LoHa pairs' spectra against dense SVDs of B1 A1 and B2 A2;
 * LoKr factors' spectra against dense SVDs of W1 and W2, and the product's s1 = scale s1(W1) s1(W2). */
START_TEST(test_kind_figures)
{
    for (int i = 0; i < 2; i++) {
        char p[4400];
        sample_path(p, sizeof p, i);
        lsc_st_file *f = NULL;
        lsc_error e;
        ck_assert_int_eq(lsc_st_open(p, &f, &e), LSC_OK);
        json_t *o = show_json(sample_names[i]);
        json_t *layers = json_object_get(json_object_get(o, "kind_figures"), "layers"), *L;
        ck_assert_int_eq(json_array_size(layers), json_array_size(json_object_get(o, "layers")));
        size_t li;
        json_array_foreach(layers, li, L) {
            const char *mod = json_string_value(json_object_get(L, "key"));
            ck_assert_str_eq(json_string_value(json_object_get(L, "part")), i ? "lokr" : "loha");
            for (int part = 1; part <= 2; part++) {
                int64_t m, n, r;
                double *W = i ? kron_factor(f, mod, part, &m, &n, &r) : hada_pair(f, mod, part, &m, &n, &r);
                double *s = dense_sv(W, m, n);
                json_t *sv = json_object_get(L, part == 1 ? "sv1" : "sv2");
                size_t k = json_array_size(sv), all = (size_t)(m < n ? m : n);
                ck_assert(k <= all && k > 0);
                for (size_t j = 0; j < all; j++) {
                    double got = j < k ? json_real_value(json_array_get(sv, j)) : 0.0;
                    ck_assert_msg(fabs(got - s[j]) <= 1e-9 * s[0], "%s part %d sv %zu: %g vs %g", mod, part, j, got, s[j]);
                }
                if (i) {
                    json_t *w = json_object_get(L, part == 1 ? "w1" : "w2");
                    ck_assert_int_eq(json_integer_value(json_array_get(w, 0)), m);
                    ck_assert_int_eq(json_integer_value(json_array_get(w, 1)), n);
                }
                free(W);
                free(s);
            }
            if (i) {
                json_t *pl = json_array_get(json_object_get(o, "layers"), li);
                double scale = json_real_value(json_object_get(pl, "scale"));
                double p1 = json_real_value(json_array_get(json_object_get(L, "sv1"), 0));
                double p2 = json_real_value(json_array_get(json_object_get(L, "sv2"), 0));
                double s1 = json_real_value(json_array_get(json_object_get(L, "sv"), 0));
                ck_assert_msg(fabs(s1 - fabs(scale) * p1 * p2) <= 1e-12 * s1, "%s: %g vs %g", mod, s1, scale * p1 * p2);
            }
        }
        json_decref(o);
        lsc_st_close(f);
    }
}
END_TEST

/* A PEFT writer given LyCORIS layers refuses them by name instead of writing hada_/lokr_ tensors into a
 * folder that PEFT would read as something else; GGUF (which writes the factor view) is not affected. */
START_TEST(test_peft_write_refuses_lycoris)
{
    char p[4400], dir[4500];
    sample_path(p, sizeof p, 0);
    snprintf(dir, sizeof dir, "%s/peft-of-loha", g_tmp);
    lsc_adapter *ad = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_kohya_read(p, &ad, &e), LSC_OK);
    ck_assert_int_eq(lsc_peft_write(ad, dir, LSC_DT_INVALID, &e), LSC_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(e.msg, "is a LyCORIS LoHa layer: a PEFT LoRA holds plain pairs (convert --to static first)"),
                  "%s", e.msg);
    lsc_adapter_free(ad);
}
END_TEST

/* merge builds its output from a skeleton of the inputs' layers: LyCORIS layers become plain pairs there.
 * An exact cat merge of a LoHa adapter with itself is twice its delta, layer by layer. */
START_TEST(test_merge_lycoris)
{
    cli_ok(g_cat, "merge", "sd-tiny-loha", "sd-tiny-loha", "--method", "cat", "--as", "loha-x2", NULL);
    json_t *a = show_json("sd-tiny-loha"), *b = show_json("loha-x2");
    json_t *la = json_object_get(a, "layers"), *lb = json_object_get(b, "layers");
    ck_assert_int_eq(json_array_size(la), json_array_size(lb));
    for (size_t i = 0; i < json_array_size(la); i++) {
        double na = json_real_value(json_object_get(json_array_get(la, i), "norm"));
        double nb = json_real_value(json_object_get(json_array_get(lb, i), "norm"));
        ck_assert_msg(fabs(nb - 2 * na) <= 1e-9 * na, "layer %zu: %g vs 2 x %g", i, nb, na);
    }
    json_decref(a);
    json_decref(b);
}
END_TEST

/* ---- malformed and unsupported files ------------------------------------------------------------------ */

typedef struct tspec {
    const char *key;
    int ndim;
    int64_t shape[4];
} tspec;

/* Write a safetensors file of F32 tensors with small deterministic values (alpha tensors 2), sorted keys
 * as given, with optional metadata. */
static void write_spec(const char *path, const tspec *t, size_t n, const char *const *mk, const char *const *mv,
                       size_t nm)
{
    lsc_st_out *outs = calloc(n, sizeof *outs);
    for (size_t i = 0; i < n; i++)
        outs[i] = (lsc_st_out){t[i].key, LSC_DT_F32, t[i].ndim, t[i].shape};
    lsc_st_writer *w = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_st_writer_begin(path, outs, n, mk, mv, nm, &w, &e), LSC_OK);
    for (size_t i = 0; i < n; i++) {
        size_t cnt = 1;
        for (int d = 0; d < t[i].ndim; d++)
            cnt *= (size_t)t[i].shape[d];
        float *v = malloc((cnt ? cnt : 1) * sizeof *v);
        for (size_t k = 0; k < cnt; k++)
            v[k] = strstr(t[i].key, ".alpha") ? 2.0f : (float)(((i * 31 + k * 17) % 13) - 6) / 16.0f;
        ck_assert_int_eq(lsc_st_writer_put(w, v, cnt * sizeof *v, &e), LSC_OK);
        free(v);
    }
    ck_assert_int_eq(lsc_st_writer_finish(w, &e), LSC_OK);
    free(outs);
}

#define M "lora_unet_x_to_q"

typedef struct bad_case {
    const char *what;
    tspec t[8];
    size_t n;
    int meta; /* 1: LyCORIS metadata with ss_network_dim 8 */
    const char *msg;
} bad_case;

static const bad_case bad_cases[] = {
    {"missing partner (LoHa)",
     {{M ".hada_w1_a", 2, {8, 4}}, {M ".hada_w1_b", 2, {4, 8}}, {M ".hada_w2_a", 2, {8, 4}}},
     3, 0, "LoHa tensor 'lora_unet_x_to_q.hada_w2_b' is missing"},
    {"shape mismatch (LoHa pairs)",
     {{M ".hada_w1_a", 2, {8, 4}}, {M ".hada_w1_b", 2, {4, 8}}, {M ".hada_w2_a", 2, {6, 4}}, {M ".hada_w2_b", 2, {4, 8}}},
     4, 0, "LoHa shape mismatch"},
    {"rank mismatch (LoHa)",
     {{M ".hada_w1_a", 2, {8, 4}}, {M ".hada_w1_b", 2, {3, 8}}, {M ".hada_w2_a", 2, {8, 4}}, {M ".hada_w2_b", 2, {4, 8}}},
     4, 0, "LoHa rank mismatch"},
    {"one Tucker core (LoHa)",
     {{M ".hada_t1", 4, {4, 4, 3, 3}}, {M ".hada_w1_a", 2, {4, 8}}, {M ".hada_w1_b", 2, {4, 8}},
      {M ".hada_w2_a", 2, {4, 8}}, {M ".hada_w2_b", 2, {4, 8}}},
     5, 0, "has no partner"},
    {"missing partner (LoKr)", {{M ".lokr_w1", 2, {2, 2}}, {M ".lokr_w2_a", 2, {4, 2}}}, 2, 0, "has no partner"},
    {"missing factor (LoKr)", {{M ".lokr_w2", 2, {4, 4}}}, 1, 0, "LoKr tensor 'lora_unet_x_to_q.lokr_w1' is missing"},
    {"rank mismatch (LoKr)", {{M ".lokr_w1", 2, {2, 2}}, {M ".lokr_w2_a", 2, {4, 2}}, {M ".lokr_w2_b", 2, {3, 4}}}, 3, 0,
     "LoKr rank mismatch"},
    {"Tucker core not matching (LoKr)",
     {{M ".lokr_t2", 4, {2, 2, 3, 3}}, {M ".lokr_w1", 2, {2, 2}}, {M ".lokr_w2_a", 2, {3, 4}}, {M ".lokr_w2_b", 2, {3, 4}}},
     4, 0, "Tucker"},
    {"Kronecker shapes not the layer's (dora_scale)",
     {{M ".dora_scale", 2, {1, 5}}, {M ".lokr_w1", 2, {2, 2}}, {M ".lokr_w2", 2, {4, 4}}}, 3, 0,
     "fit neither the 8 inputs nor the 8 outputs of layer [8, 8]"},
    {"rank metadata disagreeing",
     {{M ".alpha", 0, {0}}, {M ".hada_w1_a", 2, {8, 4}}, {M ".hada_w1_b", 2, {4, 8}}, {M ".hada_w2_a", 2, {8, 4}},
      {M ".hada_w2_b", 2, {4, 8}}},
     5, 1, "rank 4 disagrees with the metadata (ss_network_dim 8)"},
    {"Tucker LoCon rank mismatch",
     {{M ".lora_down.weight", 4, {3, 8, 1, 1}}, {M ".lora_mid.weight", 4, {4, 4, 3, 3}}, {M ".lora_up.weight", 4, {8, 4, 1, 1}}},
     3, 0, "LoCon Tucker"},
    {"Tucker LoCon missing lora_up",
     {{M ".lora_down.weight", 4, {4, 8, 1, 1}}, {M ".lora_mid.weight", 4, {4, 4, 3, 3}}}, 2, 0,
     "LoCon Tucker tensor 'lora_unet_x_to_q.lora_up.weight' is missing"},
    {"two kinds in one module",
     {{M ".hada_w1_a", 2, {8, 4}}, {M ".lokr_w1", 2, {2, 2}}}, 2, 0, "mixes tensors of two LyCORIS kinds"},
    {"dora_scale alone", {{M ".dora_scale", 2, {1, 8}}}, 1, 0, "no LoRA, LoHa or LoKr factors of layer"},
    {"(IA)3", {{M ".on_input", 0, {0}}, {M ".weight", 1, {8}}}, 2, 0,
     "LyCORIS (IA)\xc2\xb3 layer 'lora_unet_x_to_q' (tensor 'lora_unet_x_to_q.on_input'): not supported"},
    {"GLoRA",
     {{M ".a1.weight", 2, {4, 8}}, {M ".a2.weight", 2, {8, 4}}, {M ".b1.weight", 2, {4, 8}}, {M ".b2.weight", 2, {8, 4}}},
     4, 0, "LyCORIS GLoRA layer"},
    {"OFT", {{M ".oft_blocks", 3, {4, 2, 2}}}, 1, 0, "LyCORIS OFT/BOFT layer"},
    {"full diff", {{M ".diff", 2, {8, 8}}, {M ".diff_b", 1, {8}}}, 2, 0, "LyCORIS full (diff) layer"},
    {"norm", {{M ".b_norm", 1, {8}}, {M ".w_norm", 1, {8}}}, 2, 0, "LyCORIS norm layer"},
    {"unknown LoKr tensor", {{M ".lokr_w3", 2, {2, 2}}}, 1, 0, "unknown LyCORIS LoHa/LoKr tensor"},
};

START_TEST(test_malformed_refused)
{
    static const char *const mk[] = {"ss_network_dim", "ss_network_module"}, *const mv[] = {"8", "lycoris.kohya"};
    char *before = cli_names_hashes(g_cat);
    for (size_t c = 0; c < sizeof bad_cases / sizeof bad_cases[0]; c++) {
        const bad_case *b = &bad_cases[c];
        char path[4500];
        snprintf(path, sizeof path, "%s/bad-%zu.safetensors", g_tmp, c);
        write_spec(path, b->t, b->n, b->meta ? mk : NULL, b->meta ? mv : NULL, b->meta ? 2 : 0);
        cli_result r = cli_run(g_cat, "import", path, NULL);
        ck_assert_msg(r.code == 1 && cli_lines(r.err) == 1 && strstr(r.err, b->msg) && strstr(r.err, "bad-"),
                      "%s: exit %d: %s", b->what, r.code, r.err);
        cli_result_free(&r);
    }
    cli_assert_unchanged(g_cat, before);
}
END_TEST

/* One file mixing LoHa, LoKr (every storage), a plain pair, a Tucker LoCon and a DoRA LoRA: each layer is its own kind;
 * the adapter's kind is the more numerous LyCORIS kind, with a warning; figures match the dense dW. */
START_TEST(test_mixed_file)
{
    static const tspec t[] = {
        {"lora_te_a.alpha", 0, {0}},
        {"lora_te_a.hada_w1_a", 2, {8, 2}},
        {"lora_te_a.hada_w1_b", 2, {2, 6}},
        {"lora_te_a.hada_w2_a", 2, {8, 3}},
        {"lora_te_a.hada_w2_b", 2, {3, 6}},
        {"lora_te_b.lokr_w1", 2, {2, 3}},
        {"lora_te_b.lokr_w2_a", 2, {4, 2}},
        {"lora_te_b.lokr_w2_b", 2, {2, 2}},
        {"lora_te_c.alpha", 0, {0}},
        {"lora_te_c.lora_down.weight", 2, {2, 6}},
        {"lora_te_c.lora_up.weight", 2, {8, 2}},
        {"lora_te_d.alpha", 0, {0}},
        {"lora_te_d.lora_down.weight", 4, {2, 3, 1, 1}},
        {"lora_te_d.lora_mid.weight", 4, {2, 2, 3, 1}},
        {"lora_te_d.lora_up.weight", 4, {5, 2, 1, 1}},
        {"lora_te_e.alpha", 0, {0}},
        {"lora_te_e.dora_scale", 2, {1, 6}},
        {"lora_te_e.lora_down.weight", 2, {2, 6}},
        {"lora_te_e.lora_up.weight", 2, {8, 2}},
        {"lora_te_f.hada_w1_a", 2, {3, 1}},
        {"lora_te_f.hada_w1_b", 2, {1, 4}},
        {"lora_te_f.hada_w2_a", 2, {3, 1}},
        {"lora_te_f.hada_w2_b", 2, {1, 4}},
        {"lora_te_g.alpha", 0, {0}}, /* both LoKr factors decomposed: alpha / rank of W1 */
        {"lora_te_g.lokr_w1_a", 2, {2, 1}},
        {"lora_te_g.lokr_w1_b", 2, {1, 2}},
        {"lora_te_g.lokr_w2_a", 2, {3, 2}},
        {"lora_te_g.lokr_w2_b", 2, {2, 3}},
        {"lora_te_h.alpha", 0, {0}}, /* both full: scale 1 whatever alpha says */
        {"lora_te_h.lokr_w1", 2, {2, 2}},
        {"lora_te_h.lokr_w2", 2, {2, 2}},
    };
    char path[4500];
    snprintf(path, sizeof path, "%s/mixed.safetensors", g_tmp);
    write_spec(path, t, sizeof t / sizeof t[0], NULL, NULL, 0);
    cli_result r = cli_run(g_cat, "import", path, NULL);
    ck_assert_msg(r.code == 0 && strstr(r.err, "mixes 2 LoHa and 3 LoKr layers (kind lokr)"), "exit %d: %s", r.code, r.err);
    cli_result_free(&r);
    json_t *o = show_json("mixed");
    ck_assert_str_eq(json_string_value(json_object_get(o, "kind")), "lokr");
    json_decref(o);
    check_figures("mixed", path, 1e-9);
    char out[4600];
    snprintf(out, sizeof out, "%s/mixed-out.safetensors", g_tmp);
    cli_ok(g_cat, "export", "mixed", out, NULL);
    ck_assert(cli_same_file(path, out));
}
END_TEST

/* The statistics an import caches equal the ones `show` computes with the cache gone, for every kind: one
 * kernel for every path (a batch import's workers used the Kronecker factor view for LoKr, which differs
 * from the exact per-factor spectra in the last digits). */
START_TEST(test_cached_stats_equal_fresh)
{
    char cat[4600];
    snprintf(cat, sizeof cat, "%s/fresh.db", g_tmp);
    for (int i = 0; i < 4; i++) {
        char p[4400];
        sample_path(p, sizeof p, i);
        cli_result r = cli_run(cat, "import", p, NULL);
        ck_assert_msg(r.code == 0, "%s", r.err);
        cli_result_free(&r);
        cli_result a = cli_run(cat, "--json", "show", sample_names[i], NULL);
        ck_assert_int_eq(a.code, 0);
        sqlite3 *db = NULL;
        ck_assert_int_eq(sqlite3_open(cat, &db), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(db, "DELETE FROM layer_stats", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        cli_result b = cli_run(cat, "--json", "show", sample_names[i], NULL);
        ck_assert_int_eq(b.code, 0);
        ck_assert_msg(strcmp(a.out, b.out) == 0, "%s: cached and fresh statistics differ", sample_names[i]);
        cli_result_free(&a);
        cli_result_free(&b);
    }
}
END_TEST

/* run --jobs 2 over LyCORIS adapters: their factors are preloaded before the workers cut them (lazy loads
 * on the workers raced on the catalog statement), and the result equals --jobs 1. */
START_TEST(test_run_jobs_lycoris)
{
    char cat[4600], script[4600];
    snprintf(script, sizeof script, "%s/jobs.lsc", g_tmp);
    ck_assert_int_eq(cli_write(script, "prune \"sd-tiny-lo*\" --rank 2 --as \"{}-j\"\n", 41), 0);
    char *listing[2] = {NULL, NULL};
    for (int jobs = 1; jobs <= 2; jobs++) {
        snprintf(cat, sizeof cat, "%s/jobs%d.db", g_tmp, jobs);
        for (int i = 0; i < 2; i++) { /* loha, lokr */
            char p[4400];
            sample_path(p, sizeof p, i);
            cli_ok(cat, "import", p, NULL);
        }
        cli_ok(cat, "run", script, "--jobs", jobs == 1 ? "1" : "2", NULL);
        listing[jobs - 1] = cli_names_hashes(cat);
    }
    ck_assert_str_eq(listing[0], listing[1]);
    ck_assert_ptr_nonnull(strstr(listing[1], "sd-tiny-lokr-j"));
    free(listing[0]);
    free(listing[1]);
}
END_TEST

int main(void)
{
    /* two workers whatever the machine: LyCORIS factors must be loaded before the pool (a race otherwise) */
    setenv("LSC_THREADS", "2", 1);
    if (setup() != 0) {
        fprintf(stderr, "cannot build the LyCORIS sample catalog\n");
        return 1;
    }
    /* the tests share one catalog and run in order */
    const TTest *const tests[] = {test_show_matches_dense, test_export_byte_identical, test_convert_exact,
                                  test_prune_converts,     test_kind_figures,          test_malformed_refused,
                                  test_mixed_file,         test_peft_write_refuses_lycoris, test_merge_lycoris,
                                  test_cached_stats_equal_fresh, test_run_jobs_lycoris, NULL};
    return cli_run_suite("lycoris-io", tests, 1, g_tmp);
}
