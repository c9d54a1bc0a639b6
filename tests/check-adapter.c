/* check-adapter.c: the shared adapter model (engine/adapter.c): lifecycle, params/bytes, scale rules and
 * the factor view (AdaLoRA E folded into A, conv A flattened, dtype conversion, every rejection).
 * Adapters are built by hand here; expected values are worked out independently in the tests. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "dtype.h"
#include "namemap.h"

static void *f32_bytes(const float *v, size_t n)
{
    void *p = malloc(n * sizeof(float));
    memcpy(p, v, n * sizeof(float)); /* little-endian host (x86-64), as the files are */
    return p;
}

/* A adapter with one layer: A [r, cols...] and B [rows, r] given as floats. */
static lsc_adapter *one_layer(const float *a, int a_ndim, const int64_t *a_shape, const float *b, const int64_t *b_shape,
                              int b_ndim, double alpha, lsc_scale_rule rule)
{
    lsc_adapter *ad = lsc_adapter_new();
    lsc_error err;
    size_t li, ta, tb;
    ck_assert_int_eq(lsc_adapter_add_layer(ad, "base_model.model.layers.0.q_proj", &li, &err), LSC_OK);
    size_t na = 1, nb = 1;
    for (int d = 0; d < a_ndim; d++)
        na *= (size_t)a_shape[d];
    for (int d = 0; d < b_ndim; d++)
        nb *= (size_t)b_shape[d];
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "q.lora_A.weight", LSC_ROLE_A, 0, LSC_DT_F32, a_ndim, a_shape,
                                            f32_bytes(a, na), &ta, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "q.lora_B.weight", LSC_ROLE_B, 0, LSC_DT_F32, b_ndim, b_shape,
                                            f32_bytes(b, nb), &tb, &err), LSC_OK);
    lsc_layer *l = &ad->layers[li];
    l->ta = (int)ta;
    l->tb = (int)tb;
    l->rank = (int)a_shape[0];
    l->alpha = alpha;
    l->rule = rule;
    l->scale = lsc_scale_compute(rule, alpha, l->rank, 0, 0);
    return ad;
}

START_TEST(test_scale_rules)
{
    ck_assert_double_eq_tol(lsc_scale_compute(LSC_SCALE_ALPHA_R, 16, 8, 0, 0), 2.0, 1e-15);
    ck_assert_double_eq_tol(lsc_scale_compute(LSC_SCALE_RSLORA, 16, 4, 0, 0), 8.0, 1e-15);
    ck_assert_double_eq_tol(lsc_scale_compute(LSC_SCALE_RSLORA, 8, 8, 0, 0), 8.0 / 2.8284271247461903, 1e-15);
    /* PEFT's AdaLoRA divides by ranknum + 1e-5 where ranknum is init_r, whatever the kept rank */
    ck_assert_double_eq_tol(lsc_scale_compute(LSC_SCALE_ADALORA, 32, 5, 12, 0), 32.0 / 12.00001, 1e-15);
    ck_assert_double_eq(lsc_scale_compute(LSC_SCALE_FIXED, 32, 5, 12, 0.25), 0.25);
    ck_assert_double_eq(lsc_scale_compute(LSC_SCALE_ALPHA_R, 16, 0, 0, 0), 0.0);
    ck_assert_double_eq(lsc_scale_compute(LSC_SCALE_RSLORA, 16, -1, 0, 0), 0.0);
}
END_TEST

START_TEST(test_names_round_trip)
{
    for (int r = 0; r < LSC_ROLE_COUNT; r++)
        ck_assert_int_eq(lsc_role_parse(lsc_role_name((lsc_role)r)), r);
    for (int r = 0; r < LSC_SCALE_RULE_COUNT; r++)
        ck_assert_int_eq(lsc_scale_rule_parse(lsc_scale_rule_name((lsc_scale_rule)r)), r);
    ck_assert_int_eq(lsc_role_parse("nope"), -1);
    ck_assert_int_eq(lsc_scale_rule_parse("alpha/R"), -1);
    ck_assert_str_eq(lsc_role_name(LSC_ROLE_MAGNITUDE), "magnitude");
    ck_assert_str_eq(lsc_scale_rule_name(LSC_SCALE_RSLORA), "alpha/sqrt(r)");
}
END_TEST

/* lsc_adapter_warn: the one way readers and writers add a warning line. */
START_TEST(test_adapter_warn)
{
    lsc_adapter *ad = lsc_adapter_new();
    ck_assert_ptr_null(ad->warnings);
    lsc_adapter_warn(ad, "layer '%s': rank %d", "q", 4);
    ck_assert_str_eq(ad->warnings, "layer 'q': rank 4");
    lsc_adapter_warn(ad, "%s", "second");
    lsc_adapter_warn(ad, "third %zu", (size_t)3);
    ck_assert_str_eq(ad->warnings, "layer 'q': rank 4\nsecond\nthird 3");
    /* one line is at most LSC_ERROR_MSG_MAX - 1 bytes */
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lsc_adapter_warn(ad, "%s", big);
    ck_assert_uint_eq(strlen(ad->warnings), strlen("layer 'q': rank 4\nsecond\nthird 3\n") + LSC_ERROR_MSG_MAX - 1);
    lsc_adapter_free(ad);
}
END_TEST

/* Kinds: one name table, NULL or "" read as static, unknown names kept apart; the adapter's setter. */
START_TEST(test_kinds)
{
    static const char *const names[LSC_KIND_COUNT] = {"static", "dynamic", "layer-wise", "adaptive", "sparse",
                                                      "multi-task", "series", "loha", "lokr"};
    for (int k = 0; k < LSC_KIND_COUNT; k++) {
        ck_assert_str_eq(lsc_kind_name((lsc_kind)k), names[k]);
        ck_assert_int_eq(lsc_kind_parse(names[k]), k);
    }
    ck_assert_int_eq(lsc_kind_parse(NULL), LSC_KIND_STATIC);
    ck_assert_int_eq(lsc_kind_parse(""), LSC_KIND_STATIC);
    ck_assert_int_eq(lsc_kind_parse("multitask"), LSC_KIND_UNKNOWN); /* the training kind's spelling */
    ck_assert_int_eq(lsc_kind_parse("Static"), LSC_KIND_UNKNOWN);
    ck_assert_int_eq(lsc_kind_parse("dynamic "), LSC_KIND_UNKNOWN);
    ck_assert_str_eq(lsc_kind_name(LSC_KIND_UNKNOWN), "unknown");
    ck_assert_str_eq(lsc_kind_name(LSC_KIND_COUNT), "unknown");

    lsc_adapter *ad = lsc_adapter_new();
    lsc_error err = {0};
    ck_assert_int_eq(lsc_adapter_kind(ad), LSC_KIND_STATIC);
    ck_assert_int_eq(lsc_adapter_set_kind(ad, LSC_KIND_MULTITASK, &err), LSC_OK);
    ck_assert_str_eq(ad->kind, "multi-task");
    ck_assert_int_eq(lsc_adapter_kind(ad), LSC_KIND_MULTITASK);
    ck_assert_int_eq(lsc_adapter_set_kind(ad, LSC_KIND_LAYERWISE, &err), LSC_OK);
    ck_assert_str_eq(ad->kind, "layer-wise");
    free(ad->kind);
    ad->kind = strdup("a-future-kind");
    ck_assert_int_eq(lsc_adapter_kind(ad), LSC_KIND_UNKNOWN);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_plain_factors)
{
    const float a[] = {1, 2, 3, 4, 5, 6};             /* A [2, 3] */
    const float b[] = {1, 0, 0, 1, 1, 1, 2, -1};       /* B [4, 2] */
    int64_t as[] = {2, 3}, bs[] = {4, 2};
    lsc_adapter *ad = one_layer(a, 2, as, b, bs, 2, 16, LSC_SCALE_ALPHA_R);
    double *B = NULL, *A = NULL;
    size_t bc = 0, ac = 0;
    lsc_lowrank lr;
    lsc_error err;
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_OK);
    ck_assert_int_eq(lr.rows, 4);
    ck_assert_int_eq(lr.cols, 3);
    ck_assert_int_eq(lr.r, 2);
    ck_assert_double_eq(lr.scale, 8.0);
    /* dense B*A by hand: rows 2 and 3 are row sums and 2*row0 - row1 */
    const double want[4][3] = {{1, 2, 3}, {4, 5, 6}, {5, 7, 9}, {-2, -1, 0}};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int k = 0; k < 2; k++)
                s += lr.B[i * 2 + k] * lr.A[k * 3 + j];
            ck_assert_double_eq(s, want[i][j]);
        }
    ck_assert_uint_ge(bc, 8);
    ck_assert_uint_ge(ac, 6);
    free(B);
    free(A);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_adalora_e_folded)
{
    const float a[] = {1, 1, 1, 2, 2, 2}; /* Q [2, 3] */
    const float b[] = {1, 0, 0, 1};       /* P [2, 2] */
    int64_t as[] = {2, 3}, bs[] = {2, 2}, es[] = {2, 1};
    lsc_adapter *ad = one_layer(a, 2, as, b, bs, 2, 12, LSC_SCALE_ADALORA);
    const float e[] = {3, -0.5f};
    size_t te;
    lsc_error err;
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "q.lora_E", LSC_ROLE_E, 0, LSC_DT_F32, 2, es, f32_bytes(e, 2), &te,
                                            &err), LSC_OK);
    ad->layers[0].te = (int)te;
    ad->layers[0].init_r = 12;
    ad->layers[0].scale = lsc_scale_compute(LSC_SCALE_ADALORA, 12, 2, 12, 0);
    double *B = NULL, *A = NULL;
    size_t bc = 0, ac = 0;
    lsc_lowrank lr;
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_OK);
    /* A ⊙ E: row i of Q times Λ_i */
    const double want[] = {3, 3, 3, -1, -1, -1};
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq(lr.A[i], want[i]);
    ck_assert_double_eq_tol(lr.scale, 12.0 / 12.00001, 1e-15);

    /* wrong number of singular values */
    int64_t bad[] = {3, 1};
    const float e3[] = {1, 2, 3};
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "q.lora_E.bad", LSC_ROLE_E, 0, LSC_DT_F32, 2, bad, f32_bytes(e3, 3),
                                            &te, &err), LSC_OK);
    ad->layers[0].te = (int)te;
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "q.lora_E.bad"));
    free(B);
    free(A);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_conv_flattened)
{
    float a[2 * 3 * 2 * 2]; /* A [2, 3, 2, 2] -> [2, 12] in C order */
    for (int i = 0; i < 24; i++)
        a[i] = (float)(i + 1);
    const float b[] = {1, 2, 3, 4, 5, 6}; /* B [3, 2, 1, 1] */
    int64_t as[] = {2, 3, 2, 2}, bs[] = {3, 2, 1, 1};
    lsc_adapter *ad = one_layer(a, 4, as, b, bs, 4, 4, LSC_SCALE_ALPHA_R);
    double *B = NULL, *A = NULL;
    size_t bc = 0, ac = 0;
    lsc_lowrank lr;
    lsc_error err;
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_OK);
    ck_assert_int_eq(lr.rows, 3);
    ck_assert_int_eq(lr.cols, 12);
    ck_assert_int_eq(lr.r, 2);
    for (int i = 0; i < 24; i++)
        ck_assert_double_eq(lr.A[i], i + 1);
    ck_assert_double_eq(lr.B[5], 6);
    ck_assert_double_eq(lr.scale, 2.0);

    /* a B whose trailing kernel is not 1x1 is not a LoRA up-projection */
    ad->tensors[ad->layers[0].tb].shape[3] = 2;
    ad->tensors[ad->layers[0].tb].shape[0] = 1;
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "q.lora_B.weight"));
    free(B);
    free(A);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_rank_mismatch_and_missing)
{
    const float a[] = {1, 2, 3, 4, 5, 6}; /* A [3, 2] */
    const float b[] = {1, 2, 3, 4};       /* B [2, 2] */
    int64_t as[] = {3, 2}, bs[] = {2, 2};
    lsc_adapter *ad = one_layer(a, 2, as, b, bs, 2, 1, LSC_SCALE_ALPHA_R);
    double *B = NULL, *A = NULL;
    size_t bc = 0, ac = 0;
    lsc_lowrank lr;
    lsc_error err;
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "q.lora_A.weight"));
    ck_assert_ptr_nonnull(strstr(err.msg, "q.lora_B.weight"));

    ad->layers[0].tb = -1;
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing B"));
    ad->layers[0].tb = 1;
    ad->layers[0].ta = -1;
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing A"));

    ck_assert_int_eq(lsc_adapter_factors(ad, 5, &B, &bc, &A, &ac, &lr, &err), LSC_ERR_INVALID);
    free(B);
    free(A);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_half_dtypes_and_unsupported)
{
    lsc_adapter *ad = lsc_adapter_new();
    lsc_error err;
    size_t li, ta, tb;
    ck_assert_int_eq(lsc_adapter_add_layer(ad, "m", &li, &err), LSC_OK);
    int64_t as[] = {1, 2}, bs[] = {2, 1};
    uint16_t *ah = malloc(4), *bh = malloc(4);
    ah[0] = lsc_f32_to_f16(0.5f);
    ah[1] = lsc_f32_to_f16(-3.0f);
    bh[0] = lsc_f32_to_bf16(2.0f);
    bh[1] = lsc_f32_to_bf16(0.25f);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "m.lora_A.weight", LSC_ROLE_A, 0, LSC_DT_F16, 2, as, ah, &ta, &err),
                     LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "m.lora_B.weight", LSC_ROLE_B, 0, LSC_DT_BF16, 2, bs, bh, &tb, &err),
                     LSC_OK);
    ck_assert_uint_eq(ad->tensors[ta].nbytes, 4);
    ad->layers[li].ta = (int)ta;
    ad->layers[li].tb = (int)tb;
    ad->layers[li].scale = 1;
    double *B = NULL, *A = NULL;
    size_t bc = 0, ac = 0;
    lsc_lowrank lr;
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_OK);
    ck_assert_double_eq(lr.A[0], 0.5);
    ck_assert_double_eq(lr.A[1], -3.0);
    ck_assert_double_eq(lr.B[0], 2.0);
    ck_assert_double_eq(lr.B[1], 0.25);

    /* an integer factor is refused with the dtype and the tensor named */
    ad->tensors[ta].dtype = LSC_DT_I16;
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_ERR_UNSUPPORTED);
    ck_assert_str_eq(err.msg, "unsupported dtype I16 in tensor 'm.lora_A.weight'");
    free(B);
    free(A);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_params_bytes_find)
{
    lsc_adapter *ad = lsc_adapter_new();
    lsc_error err;
    size_t i;
    int64_t a[] = {4, 10}, b[] = {6, 4}, e[] = {4, 1}, m[] = {6}, x[] = {3, 5}, s[] = {1};
    ck_assert_int_eq(lsc_adapter_add_layer(ad, "l0", &i, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_layer(ad, "l1", &i, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "a", LSC_ROLE_A, 0, LSC_DT_F32, 2, a, NULL, &i, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "b", LSC_ROLE_B, 0, LSC_DT_F16, 2, b, NULL, &i, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "e", LSC_ROLE_E, 0, LSC_DT_F32, 2, e, NULL, &i, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "m", LSC_ROLE_MAGNITUDE, 0, LSC_DT_BF16, 1, m, NULL, &i, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "x", LSC_ROLE_EXTRA, -1, LSC_DT_F64, 2, x, NULL, &i, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "alpha", LSC_ROLE_ALPHA, 0, LSC_DT_I64, 0, s, NULL, &i, &err), LSC_OK);
    ck_assert_uint_eq(i, 5);
    /* params: A 40 + B 24 + E 4 + magnitude 6; extras and alpha are not LoRA parameters */
    ck_assert_int_eq(lsc_adapter_params(ad), 74);
    /* bytes: 160 + 48 + 16 + 12 + 120 + 8 (a scalar has one element) */
    ck_assert_int_eq(lsc_adapter_bytes(ad), 364);
    ck_assert_int_eq(lsc_adapter_find_layer(ad, "l1"), 1);
    ck_assert_int_eq(lsc_adapter_find_layer(ad, "l2"), -1);
    /* no data and no loader: loading says so */
    ck_assert_int_eq(lsc_adapter_load_tensor(ad, 0, &err), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "'a'"));
    ck_assert_int_eq(lsc_adapter_load_tensor(ad, 99, &err), LSC_ERR_INVALID);
    int64_t deep[LSC_MAX_NDIM + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "deep", LSC_ROLE_EXTRA, -1, LSC_DT_F32, LSC_MAX_NDIM + 1, deep, NULL,
                                            &i, &err), LSC_ERR_INVALID);
    lsc_adapter_free(ad);
    lsc_adapter_free(NULL);
}
END_TEST

/* A loader that serves tensor i as floats i+1, i+2, ... and counts its calls. */
static int loads;
static lsc_status counting_loader(lsc_adapter *ad, size_t i, lsc_error *err)
{
    (void)err;
    lsc_tensor *t = &ad->tensors[i];
    float *v = malloc(t->nbytes);
    for (size_t k = 0; k < t->nbytes / 4; k++)
        v[k] = (float)(i + 1 + k);
    t->data = (uint8_t *)v;
    loads++;
    return LSC_OK;
}

static int ctx_freed;
static void ctx_free(void *p)
{
    ctx_freed += p == (void *)&ctx_freed;
}

START_TEST(test_loader_streaming)
{
    lsc_adapter *ad = lsc_adapter_new();
    lsc_error err;
    size_t li, ta, tb;
    int64_t as[] = {1, 2}, bs[] = {3, 1};
    ck_assert_int_eq(lsc_adapter_add_layer(ad, "m", &li, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "A", LSC_ROLE_A, 0, LSC_DT_F32, 2, as, NULL, &ta, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "B", LSC_ROLE_B, 0, LSC_DT_F32, 2, bs, NULL, &tb, &err), LSC_OK);
    ad->layers[li].ta = (int)ta;
    ad->layers[li].tb = (int)tb;
    ad->layers[li].scale = 0.5;
    ad->load = counting_loader;
    ad->load_ctx = &ctx_freed;
    ad->load_ctx_free = ctx_free;
    loads = 0;
    ctx_freed = 0;
    double *B = NULL, *A = NULL;
    size_t bc = 0, ac = 0;
    lsc_lowrank lr;
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_OK);
    ck_assert_int_eq(loads, 2);
    ck_assert_double_eq(lr.A[0], 1);
    ck_assert_double_eq(lr.A[1], 2);
    ck_assert_double_eq(lr.B[2], 4);
    /* already loaded: no second call; unloaded: the loader is asked again */
    ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_OK);
    ck_assert_int_eq(loads, 2);
    lsc_adapter_unload_tensor(ad, ta);
    ck_assert_ptr_null(ad->tensors[ta].data);
    ck_assert_int_eq(lsc_adapter_load_tensor(ad, ta, &err), LSC_OK);
    ck_assert_int_eq(loads, 3);
    free(B);
    free(A);
    lsc_adapter_free(ad);
    ck_assert_int_eq(ctx_freed, 1);
}
END_TEST

/* The name map: add/has/del over many names (growth, probe chains long enough to collide in every table size
 * it passes through), deletion leaving tombstones that later adds reuse, and iteration visiting each live
 * key once. Expected contents are kept in a plain array alongside. */
START_TEST(test_namemap)
{
    enum { N = 5000 };
    lsc_namemap m;
    lsc_namemap_init(&m);
    ck_assert(!lsc_namemap_has(&m, "x"));
    ck_assert_int_eq(lsc_namemap_del(&m, "x"), 0);
    char name[64];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "layer.%d.q_proj", i);
        ck_assert_int_eq(lsc_namemap_put(&m, name, i), 0);
    }
    ck_assert_uint_eq(m.n, N);
    ck_assert_int_eq(lsc_namemap_put(&m, "layer.7.q_proj", 77), 0); /* an existing key: value replaced */
    ck_assert_uint_eq(m.n, N);
    int64_t v = -1;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "layer.%d.q_proj", i);
        ck_assert(lsc_namemap_get(&m, name, &v));
        ck_assert_int_eq(v, i == 7 ? 77 : i);
    }
    ck_assert(!lsc_namemap_has(&m, "layer.5000.q_proj"));
    ck_assert(!lsc_namemap_has(&m, "layer.1.q_pro"));
    ck_assert(!lsc_namemap_has(&m, ""));
    /* delete the even ones; the odd ones stay findable past the tombstones */
    for (int i = 0; i < N; i += 2) {
        snprintf(name, sizeof name, "layer.%d.q_proj", i);
        ck_assert_int_eq(lsc_namemap_del(&m, name), 1);
        ck_assert_int_eq(lsc_namemap_del(&m, name), 0);
    }
    ck_assert_uint_eq(m.n, N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "layer.%d.q_proj", i);
        ck_assert_int_eq(lsc_namemap_has(&m, name), i % 2);
    }
    /* iteration visits each live key once */
    char *seen = calloc(N, 1);
    size_t count = 0;
    for (size_t i = 0; i < m.cap; i++) {
        const char *k = lsc_namemap_key_at(&m, i);
        if (!k)
            continue;
        int idx = atoi(k + strlen("layer."));
        ck_assert(idx >= 0 && idx < N && idx % 2 == 1 && !seen[idx]);
        seen[idx] = 1;
        count++;
    }
    ck_assert_uint_eq(count, N / 2);
    free(seen);
    /* churn in a small map: add and delete many times, the table must not fill with tombstones */
    lsc_namemap_free(&m);
    ck_assert(!lsc_namemap_has(&m, "layer.1.q_proj"));
    for (int round = 0; round < 20000; round++) {
        snprintf(name, sizeof name, "n%d", round);
        ck_assert_int_eq(lsc_namemap_put(&m, name, round), 0);
        if (round >= 3) {
            snprintf(name, sizeof name, "n%d", round - 3);
            ck_assert_int_eq(lsc_namemap_del(&m, name), 1);
        }
    }
    ck_assert_uint_eq(m.n, 3);
    ck_assert(m.cap <= 64);
    ck_assert(lsc_namemap_has(&m, "n19999") && lsc_namemap_has(&m, "n19997") && !lsc_namemap_has(&m, "n19996"));
    lsc_namemap_free(&m);
}
END_TEST

/* The adapter's layer-name index follows adds and removals: every layer found at its index, renumbered
 * after a removal, a removed name gone; a repeated name finds the first layer, as a scan would. */
START_TEST(test_find_layer_index)
{
    enum { N = 3000 };
    lsc_adapter *ad = lsc_adapter_new();
    lsc_error err;
    size_t li, ti;
    char name[64];
    int64_t shape[] = {2, 2};
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "model.layers.%d.mlp", i);
        ck_assert_int_eq(lsc_adapter_add_layer(ad, name, &li, &err), LSC_OK);
        ck_assert_uint_eq(li, (size_t)i);
    }
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "model.layers.%d.mlp", i);
        ck_assert_int_eq(lsc_adapter_find_layer(ad, name), i);
    }
    ck_assert_int_eq(lsc_adapter_find_layer(ad, "model.layers.3000.mlp"), -1);
    lsc_adapter_remove_layer(ad, 10);
    ck_assert_int_eq(lsc_adapter_find_layer(ad, "model.layers.10.mlp"), -1);
    ck_assert_int_eq(lsc_adapter_find_layer(ad, "model.layers.9.mlp"), 9);
    ck_assert_int_eq(lsc_adapter_find_layer(ad, "model.layers.11.mlp"), 10);
    ck_assert_int_eq(lsc_adapter_find_layer(ad, "model.layers.2999.mlp"), N - 2);
    ck_assert_int_eq(lsc_adapter_add_layer(ad, "model.layers.10.mlp", &li, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_find_layer(ad, "model.layers.10.mlp"), N - 1);
    ck_assert_int_eq(lsc_adapter_add_layer(ad, "model.layers.0.mlp", &li, &err), LSC_OK); /* a repeat */
    ck_assert_int_eq(lsc_adapter_find_layer(ad, "model.layers.0.mlp"), 0);
    /* a gate tensor is found, and no longer once removed */
    ck_assert_int_eq(lsc_adapter_layer_tensor(ad, 5, LSC_ROLE_GATE), -1);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "g5", LSC_ROLE_GATE, 5, LSC_DT_F32, 2, shape, NULL, &ti, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_layer_tensor(ad, 5, LSC_ROLE_GATE), (int)ti);
    ck_assert_int_eq(lsc_adapter_layer_tensor(ad, 6, LSC_ROLE_GATE), -1);
    lsc_adapter *c = lsc_adapter_clone_meta(ad); /* the copy has its own index and gate count */
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(lsc_adapter_find_layer(c, "model.layers.2999.mlp"), N - 2);
    ck_assert_int_eq(lsc_adapter_layer_tensor(c, 5, LSC_ROLE_GATE), (int)ti);
    lsc_adapter_free(c);
    lsc_adapter_remove_tensor(ad, ti);
    ck_assert_int_eq(lsc_adapter_layer_tensor(ad, 5, LSC_ROLE_GATE), -1);
    lsc_adapter_free(ad);
}
END_TEST

static Suite *adapter_suite(void)
{
    Suite *s = suite_create("adapter");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_scale_rules);
    tcase_add_test(tc, test_names_round_trip);
    tcase_add_test(tc, test_plain_factors);
    tcase_add_test(tc, test_adapter_warn);
    tcase_add_test(tc, test_kinds);
    tcase_add_test(tc, test_adalora_e_folded);
    tcase_add_test(tc, test_conv_flattened);
    tcase_add_test(tc, test_rank_mismatch_and_missing);
    tcase_add_test(tc, test_half_dtypes_and_unsupported);
    tcase_add_test(tc, test_params_bytes_find);
    tcase_add_test(tc, test_namemap);
    tcase_add_test(tc, test_find_layer_index);
    tcase_add_test(tc, test_loader_streaming);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(adapter_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
