/* tests/check-kohya.c: kohya LoRA files (store/kohya.c) and format detection (store/detect.c).
 *
 * Files are generated here with the safetensors writer: linear and conv pairs, alpha scalars in F16,
 * F32, BF16 and I64, missing and zero alphas, extras and ss_* metadata; LyCORIS names, rank mismatches
 * and lone factors must be refused with messages naming the tensors. Round trips: an unedited file is
 * rewritten byte for byte; an edited one gets kohya's metadata updates; a PEFT-shaped adapter (rsLoRA,
 * AdaLoRA) exported to kohya reads back with the same dense delta s*B*A per layer. Detection is checked
 * on every format and on files that are none.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapter.h"
#include "cli_util.h"
#include "detect.h"
#include "dtype.h"
#include "kohya.h"
#include "peft.h"
#include "safetensors.h"
#include "test_tmp.h"

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(p, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return p;
}

/* ---- building files ---------------------------------------------------------------------------------- */

typedef struct spec {
    const char *name;
    lsc_dtype dt;
    int ndim;
    int64_t shape[4];
    double scalar; /* value of a 0-dim tensor */
} spec;

static double fval(int t, size_t i)
{
    return sin(t * 1.3 + (double)i * 0.77) * 0.75;
}

/* Write the tensors of `s` (data: fval for arrays, `scalar` for 0-dim) with metadata pairs kv (NULL-ended). */
static void write_st(const char *file, const spec *s, size_t n, const char *const *kv)
{
    lsc_st_out outs[32];
    const char *mk[16], *mv[16];
    size_t nm = 0;
    for (; kv && kv[2 * nm]; nm++) {
        mk[nm] = kv[2 * nm];
        mv[nm] = kv[2 * nm + 1];
    }
    for (size_t i = 0; i < n; i++) {
        outs[i].name = s[i].name;
        outs[i].dtype = s[i].dt;
        outs[i].ndim = s[i].ndim;
        outs[i].shape = s[i].shape;
    }
    lsc_st_writer *w = NULL;
    lsc_error e;
    ck_assert_msg(lsc_st_writer_begin(tpath(file), outs, n, mk, mv, nm, &w, &e) == LSC_OK, "%s", e.msg);
    for (size_t i = 0; i < n; i++) {
        size_t cnt = 1;
        for (int d = 0; d < s[i].ndim; d++)
            cnt *= (size_t)s[i].shape[d];
        size_t sz = lsc_dtype_size(s[i].dt);
        unsigned char *buf = calloc(cnt ? cnt : 1, sz);
        if (s[i].ndim == 0 && s[i].dt == LSC_DT_I64) {
            int64_t v = (int64_t)s[i].scalar;
            for (int b = 0; b < 8; b++)
                buf[b] = (unsigned char)((uint64_t)v >> (8 * b));
        } else {
            double *d = malloc(cnt * sizeof *d);
            for (size_t k = 0; k < cnt; k++)
                d[k] = s[i].ndim == 0 ? s[i].scalar : fval((int)i, k);
            ck_assert_int_eq(lsc_dtype_from_double(s[i].dt, d, cnt, buf, NULL), LSC_OK);
            free(d);
        }
        ck_assert_msg(lsc_st_writer_put(w, buf, cnt * sz, &e) == LSC_OK, "%s", e.msg);
        free(buf);
    }
    ck_assert_msg(lsc_st_writer_finish(w, &e) == LSC_OK, "%s", e.msg);
}

#define M_UNET "lora_unet_down_blocks_0_attentions_0_proj_in"
#define M_CONV "lora_unet_mid_block_resnets_0_conv1"
#define M_TE "lora_te_text_model_encoder_layers_11_self_attn_q_proj"
#define M_TE2 "lora_te2_text_model_encoder_layers_3_mlp_fc1"
#define M_TE1 "lora_te1_text_model_encoder_layers_0_self_attn_out_proj"

static const spec mixed[] = {
    {M_UNET ".alpha", LSC_DT_F16, 0, {0}, 2.0},
    {M_UNET ".lora_down.weight", LSC_DT_F32, 2, {4, 8}, 0},
    {M_UNET ".lora_up.weight", LSC_DT_F32, 2, {6, 4}, 0},
    {M_CONV ".alpha", LSC_DT_BF16, 0, {0}, 1.0},
    {M_CONV ".lora_down.weight", LSC_DT_F32, 4, {2, 3, 3, 3}, 0},
    {M_CONV ".lora_up.weight", LSC_DT_F32, 4, {5, 2, 1, 1}, 0},
    {M_TE ".alpha", LSC_DT_I64, 0, {0}, 8},
    {M_TE ".lora_down.weight", LSC_DT_BF16, 2, {4, 8}, 0},
    {M_TE ".lora_up.weight", LSC_DT_BF16, 2, {8, 4}, 0},
    {M_TE2 ".lora_down.weight", LSC_DT_F16, 2, {4, 6}, 0},
    {M_TE2 ".lora_up.weight", LSC_DT_F16, 2, {10, 4}, 0},
    {M_TE1 ".alpha", LSC_DT_F32, 0, {0}, 0.0},
    {M_TE1 ".lora_down.weight", LSC_DT_F32, 2, {3, 6}, 0},
    {M_TE1 ".lora_up.weight", LSC_DT_F32, 2, {6, 3}, 0},
    {"some_extra.weight", LSC_DT_F32, 1, {3}, 0},
};
static const char *const mixed_meta[] = {
    "ss_network_module", "networks.lora", "ss_network_dim", "4", "ss_network_alpha", "2.0",
    "ss_sd_model_name", "sd_xl_base_1.0.safetensors", "sshs_model_hash", "abc123", "ss_tag_frequency",
    "{\"cat\": 3}", NULL,
};

static lsc_adapter *read_ok(const char *file)
{
    lsc_adapter *ad = NULL;
    lsc_error e;
    ck_assert_msg(lsc_kohya_read(tpath(file), &ad, &e) == LSC_OK, "%s", e.msg);
    return ad;
}

static const lsc_layer *layer(const lsc_adapter *ad, const char *name)
{
    int i = lsc_adapter_find_layer(ad, name);
    ck_assert_msg(i >= 0, "no layer %s", name);
    return &ad->layers[i];
}

START_TEST(test_read_mixed)
{
    write_st("m.safetensors", mixed, sizeof mixed / sizeof mixed[0], mixed_meta);
    lsc_adapter *ad = read_ok("m.safetensors");
    ck_assert_str_eq(ad->format, "kohya");
    ck_assert_str_eq(ad->kind, "layer-wise");
    ck_assert_str_eq(ad->base_model, "sd_xl_base_1.0.safetensors");
    ck_assert_uint_eq(ad->n_layers, 5);
    ck_assert_uint_eq(ad->n_tensors, 15);

    const lsc_layer *l = layer(ad, M_UNET);
    ck_assert_int_eq(l->rank, 4);
    ck_assert_int_eq(l->rows, 6);
    ck_assert_int_eq(l->cols, 8);
    ck_assert_double_eq(l->alpha, 2.0);
    ck_assert_double_eq(l->scale, 0.5);
    ck_assert_str_eq(l->module_type, "proj_in");
    ck_assert_int_eq(l->layer_index, 0);
    ck_assert_int_eq(ad->tensors[l->ta].role, LSC_ROLE_A);
    ck_assert_int_eq(ad->tensors[l->tb].role, LSC_ROLE_B);

    l = layer(ad, M_CONV);
    ck_assert(l->flags & LSC_LAYER_CONV);
    ck_assert_int_eq(l->rank, 2);
    ck_assert_int_eq(l->rows, 5);
    ck_assert_int_eq(l->cols, 27);
    ck_assert_double_eq(l->scale, 0.5);
    ck_assert_str_eq(l->module_type, "conv1");
    ck_assert_int_eq(l->layer_index, -1);

    l = layer(ad, M_TE);
    ck_assert_double_eq(l->alpha, 8.0);
    ck_assert_double_eq(l->scale, 2.0);
    ck_assert_str_eq(l->module_type, "q_proj");
    ck_assert_int_eq(l->layer_index, 11);

    l = layer(ad, M_TE2); /* no alpha: alpha = r */
    ck_assert_double_eq(l->alpha, 4.0);
    ck_assert_double_eq(l->scale, 1.0);
    ck_assert_str_eq(l->module_type, "fc1");
    ck_assert_int_eq(l->layer_index, 3);

    l = layer(ad, M_TE1); /* zero alpha: alpha = r */
    ck_assert_double_eq(l->alpha, 3.0);
    ck_assert_double_eq(l->scale, 1.0);
    ck_assert_str_eq(l->module_type, "out_proj");

    int alphas = 0, extras = 0;
    for (size_t i = 0; i < ad->n_tensors; i++) {
        alphas += ad->tensors[i].role == LSC_ROLE_ALPHA;
        if (ad->tensors[i].role == LSC_ROLE_EXTRA) {
            extras++;
            ck_assert_str_eq(ad->tensors[i].key, "some_extra.weight");
        }
        if (ad->tensors[i].role == LSC_ROLE_ALPHA)
            ck_assert_int_ge(ad->tensors[i].layer, 0);
    }
    ck_assert_int_eq(alphas, 4);
    ck_assert_int_eq(extras, 1);
    ck_assert_ptr_nonnull(strstr(ad->metadata_json, "\"ss_tag_frequency\":\"{\\\"cat\\\": 3}\""));
    ck_assert_ptr_nonnull(strstr(ad->metadata_json, "\"sshs_model_hash\":\"abc123\""));

    /* data streams from the file */
    lsc_error e;
    const lsc_layer *u = layer(ad, M_UNET);
    ck_assert_ptr_null(ad->tensors[u->ta].data);
    ck_assert_int_eq(lsc_adapter_load_tensor(ad, (size_t)u->ta, &e), LSC_OK);
    double d;
    ck_assert_int_eq(lsc_dtype_to_double(LSC_DT_F32, ad->tensors[u->ta].data + 4 * 5, 1, &d), LSC_OK);
    ck_assert_double_eq_tol(d, fval(1, 5), 1e-7);
    lsc_adapter_free(ad);

    char fmt[16];
    ck_assert_int_eq(lsc_detect_format(tpath("m.safetensors"), fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "kohya");
}
END_TEST

START_TEST(test_lycoris_refused)
{
    /* LyCORIS files are read now (tests/check-lycoris-io.c has the formats): a full-full LoKr imports with
     * scale 1 whatever alpha says, a LoHa missing its second pair is refused naming the tensor */
    static const spec lokr[] = {
        {"lora_unet_x_to_q.alpha", LSC_DT_F32, 0, {0}, 4},
        {"lora_unet_x_to_q.lokr_w1", LSC_DT_F32, 2, {4, 4}, 0},
        {"lora_unet_x_to_q.lokr_w2", LSC_DT_F32, 2, {4, 4}, 0},
    };
    static const spec loha[] = {
        {"lora_unet_x_to_q.hada_w1_a", LSC_DT_F32, 2, {4, 2}, 0},
        {"lora_unet_x_to_q.hada_w1_b", LSC_DT_F32, 2, {2, 4}, 0},
        {"lora_unet_y.lora_down.weight", LSC_DT_F32, 2, {2, 4}, 0},
        {"lora_unet_y.lora_up.weight", LSC_DT_F32, 2, {4, 2}, 0},
    };
    write_st("lokr.safetensors", lokr, 3, NULL);
    write_st("loha.safetensors", loha, 4, NULL);
    lsc_adapter *ad = NULL;
    lsc_error e;
    char fmt[16];
    ck_assert_int_eq(lsc_kohya_read(tpath("lokr.safetensors"), &ad, &e), LSC_OK);
    ck_assert_str_eq(ad->kind, "lokr");
    ck_assert_int_eq(ad->n_layers, 1);
    ck_assert(ad->layers[0].scale == 1.0);
    ck_assert_int_eq(ad->layers[0].rows, 16);
    lsc_adapter_free(ad);
    ad = NULL;
    ck_assert_int_eq(lsc_kohya_read(tpath("loha.safetensors"), &ad, &e), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "LoHa tensor 'lora_unet_x_to_q.hada_w2_a' is missing"));
    ck_assert_ptr_null(ad);
    ck_assert_int_eq(lsc_detect_format(tpath("loha.safetensors"), fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "kohya");
}
END_TEST

START_TEST(test_malformed_pairs)
{
    static const spec mismatch[] = {
        {"lora_unet_a.lora_down.weight", LSC_DT_F32, 2, {4, 8}, 0},
        {"lora_unet_a.lora_up.weight", LSC_DT_F32, 2, {6, 3}, 0},
    };
    static const spec lone[] = {
        {"lora_unet_a.alpha", LSC_DT_F32, 0, {0}, 1},
        {"lora_unet_a.lora_down.weight", LSC_DT_F32, 2, {4, 8}, 0},
    };
    static const spec lone_up[] = {
        {"lora_unet_b.lora_up.weight", LSC_DT_F32, 2, {4, 2}, 0},
    };
    static const spec vec_alpha[] = {
        {"lora_unet_a.alpha", LSC_DT_F32, 1, {2}, 0},
        {"lora_unet_a.lora_down.weight", LSC_DT_F32, 2, {4, 8}, 0},
        {"lora_unet_a.lora_up.weight", LSC_DT_F32, 2, {6, 4}, 0},
    };
    static const spec conv_mix[] = {
        {"lora_unet_a.lora_down.weight", LSC_DT_F32, 2, {4, 8}, 0},
        {"lora_unet_a.lora_up.weight", LSC_DT_F32, 4, {6, 4, 1, 1}, 0},
    };
    static const spec nolora[] = {
        {"model.weight", LSC_DT_F32, 2, {4, 8}, 0},
    };
    write_st("mm.safetensors", mismatch, 2, NULL);
    write_st("lone.safetensors", lone, 2, NULL);
    write_st("loneup.safetensors", lone_up, 1, NULL);
    write_st("va.safetensors", vec_alpha, 3, NULL);
    write_st("cm.safetensors", conv_mix, 2, NULL);
    write_st("none.safetensors", nolora, 1, NULL);
    lsc_adapter *ad = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_kohya_read(tpath("mm.safetensors"), &ad, &e), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "rank mismatch: 'lora_unet_a.lora_down.weight' has rank 4 but "
                                        "'lora_unet_a.lora_up.weight' has rank 3"));
    ck_assert_int_eq(lsc_kohya_read(tpath("lone.safetensors"), &ad, &e), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "'lora_unet_a.lora_down.weight' has no matching 'lora_unet_a.lora_up.weight'"));
    ck_assert_int_eq(lsc_kohya_read(tpath("loneup.safetensors"), &ad, &e), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "no matching 'lora_unet_b.lora_down.weight'"));
    ck_assert_int_eq(lsc_kohya_read(tpath("va.safetensors"), &ad, &e), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "alpha must be a scalar"));
    ck_assert_int_eq(lsc_kohya_read(tpath("cm.safetensors"), &ad, &e), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "neither a linear nor a conv"));
    ck_assert_int_eq(lsc_kohya_read(tpath("none.safetensors"), &ad, &e), LSC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(e.msg, "no LoRA layers in '"));
    ck_assert_ptr_nonnull(strstr(e.msg, "none.safetensors' (no lora_down/lora_up pair; 1 other tensor)"));
    ck_assert_ptr_null(ad);
    char fmt[16];
    ck_assert_int_eq(lsc_detect_format(tpath("none.safetensors"), fmt, sizeof fmt, &e), LSC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(e.msg, "none.safetensors' (no lora_A/lora_B or lora_down/lora_up pair; 1 other tensor)"));
}
END_TEST

/* Issue #13.12: a PEFT folder whose adapter_model.safetensors holds no LoRA factor imported as an empty
 * adapter with a warning. It is refused like a folder without an adapter file: exit 1, "no LoRA layers
 * in FILE", nothing in the catalog. The same message for kohya and GGUF files (their suites check them). */
START_TEST(test_no_lora_layers_refused)
{
    static const spec head[] = {
        {"score.weight", LSC_DT_F32, 2, {2, 4}, 0},
        {"classifier.bias", LSC_DT_F32, 1, {2}, 0},
    };
    ck_assert_int_eq(mkdir(tpath("nolora"), 0755), 0);
    write_st("nolora/adapter_model.safetensors", head, 2, NULL);
    FILE *fp = fopen(tpath("nolora/adapter_config.json"), "w");
    fputs("{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8}", fp);
    fclose(fp);
    lsc_adapter *ad = (lsc_adapter *)0x1;
    lsc_error e;
    ck_assert_int_eq(lsc_peft_read(tpath("nolora"), &ad, &e), LSC_ERR_UNSUPPORTED);
    ck_assert_ptr_null(ad);
    ck_assert_msg(strstr(e.msg, "no LoRA layers in '") && strstr(e.msg, "nolora/adapter_model.safetensors' "
                                                                       "(no lora_A/lora_B pair; 2 other tensors)"),
                  "%s", e.msg);

    /* through the command line: exit 1, one line, nothing imported */
    char cat[300];
    snprintf(cat, sizeof cat, "%s", tpath("cat.db"));
    cli_result r = cli_run(cat, "import", tpath("nolora"), NULL);
    ck_assert_msg(r.code == 1 && strstr(r.err, "no LoRA layers in '") && cli_lines(r.err) == 1, "exit %d: %s",
                  r.code, r.err);
    cli_result_free(&r);
    r = cli_run(cat, "ls", "--json", NULL);
    ck_assert_msg(r.code == 0 && !strstr(r.out, "nolora"), "%s", r.out);
    cli_result_free(&r);
}
END_TEST


static void same_delta(lsc_adapter *a, size_t la, lsc_adapter *b, const char *name_b, double rtol)
{
    int lb = lsc_adapter_find_layer(b, name_b);
    ck_assert_msg(lb >= 0, "layer %s missing", name_b);
    int64_t r1, c1, r2, c2;
    double *d1 = tmp_dense_delta(a, la, &r1, &c1), *d2 = tmp_dense_delta(b, (size_t)lb, &r2, &c2);
    ck_assert_int_eq(r1, r2);
    ck_assert_int_eq(c1, c2);
    double mx = 0;
    for (int64_t i = 0; i < r1 * c1; i++)
        mx = fmax(mx, fabs(d1[i]));
    ck_assert(mx > 0);
    for (int64_t i = 0; i < r1 * c1; i++)
        ck_assert_msg(fabs(d1[i] - d2[i]) <= rtol * mx, "%s[%ld]: %.17g vs %.17g", name_b, (long)i, d1[i], d2[i]);
    free(d1);
    free(d2);
}

static const char *meta_value(const lsc_adapter *ad, const char *key, char *buf, size_t cap)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = ad->metadata_json ? strstr(ad->metadata_json, pat) : NULL;
    if (!p)
        return NULL;
    p += strlen(pat);
    size_t n = 0;
    while (p[n] && p[n] != '"' && n + 1 < cap) {
        buf[n] = p[n];
        n++;
    }
    buf[n] = '\0';
    return buf;
}

START_TEST(test_roundtrip)
{
    write_st("m.safetensors", mixed, sizeof mixed / sizeof mixed[0], mixed_meta);
    lsc_adapter *ad = read_ok("m.safetensors"), *bd;
    lsc_error e;
    ck_assert_int_eq(lsc_kohya_write(ad, tpath("same.safetensors"), LSC_DT_INVALID, &e), LSC_OK);
    size_t n1, n2;
    unsigned char *a = read_all(tpath("m.safetensors"), &n1), *b = read_all(tpath("same.safetensors"), &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_int_eq(memcmp(a, b, n1), 0);
    free(a);
    free(b);

    /* edit one scale: canonical file, alpha rewritten as F32 = scale * r, metadata updated */
    int li = lsc_adapter_find_layer(ad, M_TE);
    ad->layers[li].scale = 0.75;
    ck_assert_int_eq(lsc_kohya_write(ad, tpath("ed.safetensors"), LSC_DT_INVALID, &e), LSC_OK);
    bd = read_ok("ed.safetensors");
    ck_assert_double_eq(layer(bd, M_TE)->scale, 0.75);
    ck_assert_double_eq(layer(bd, M_TE)->alpha, 3.0);
    ck_assert_double_eq(layer(bd, M_UNET)->scale, 0.5);
    ck_assert_double_eq(layer(bd, M_TE2)->scale, 1.0);
    for (size_t i = 0; i < bd->n_tensors; i++) {
        if (strcmp(bd->tensors[i].key, M_TE ".alpha") == 0)
            ck_assert_int_eq(bd->tensors[i].dtype, LSC_DT_F32);
        if (strcmp(bd->tensors[i].key, M_UNET ".alpha") == 0)
            ck_assert_int_eq(bd->tensors[i].dtype, LSC_DT_F16); /* unchanged alpha keeps its dtype */
    }
    ck_assert_int_eq(lsc_adapter_find_layer(bd, M_TE2) >= 0, 1);
    for (size_t l = 0; l < ad->n_layers; l++)
        same_delta(ad, l, bd, ad->layers[l].name, 1e-12);
    char v[64];
    ck_assert_str_eq(meta_value(bd, "ss_network_dim", v, sizeof v), "Dynamic");
    ck_assert_str_eq(meta_value(bd, "ss_network_alpha", v, sizeof v), "Dynamic");
    ck_assert_str_eq(meta_value(bd, "ss_tag_frequency", v, sizeof v), "{\\");
    ck_assert_ptr_null(meta_value(bd, "sshs_model_hash", v, sizeof v));
    int extra = 0;
    for (size_t i = 0; i < bd->n_tensors; i++)
        extra += bd->tensors[i].role == LSC_ROLE_EXTRA;
    ck_assert_int_eq(extra, 1);
    lsc_adapter_free(bd);

    /* F16 export: factors converted, values within f16 precision */
    ck_assert_int_eq(lsc_kohya_write(ad, tpath("h.safetensors"), LSC_DT_F16, &e), LSC_OK);
    bd = read_ok("h.safetensors");
    for (size_t l = 0; l < bd->n_layers; l++) {
        ck_assert_int_eq(bd->tensors[bd->layers[l].ta].dtype, LSC_DT_F16);
        ck_assert_int_eq(bd->tensors[bd->layers[l].tb].dtype, LSC_DT_F16);
    }
    for (size_t l = 0; l < ad->n_layers; l++)
        same_delta(ad, l, bd, ad->layers[l].name, 2e-3);
    lsc_adapter_free(bd);
    ck_assert_int_eq(lsc_kohya_write(ad, tpath("i.safetensors"), LSC_DT_I32, &e), LSC_ERR_INVALID);
    lsc_adapter_free(ad);
}
END_TEST

/* Alphas stored apart from their pairs (all at the end of the file): export still finds each layer's alpha
 * (looked for beside the pair first, then anywhere), so the unchanged adapter is written back byte for
 * byte and an edited one keeps the other layers' alphas. */
START_TEST(test_alphas_apart)
{
    static const spec apart[] = {
        {"lora_unet_a.lora_down.weight", LSC_DT_F32, 2, {2, 4}, 0}, {"lora_unet_a.lora_up.weight", LSC_DT_F32, 2, {3, 2}, 0},
        {"lora_unet_b.lora_down.weight", LSC_DT_F32, 2, {2, 4}, 0}, {"lora_unet_b.lora_up.weight", LSC_DT_F32, 2, {3, 2}, 0},
        {"lora_unet_c.lora_down.weight", LSC_DT_F32, 2, {2, 4}, 0}, {"lora_unet_c.lora_up.weight", LSC_DT_F32, 2, {3, 2}, 0},
        {"lora_unet_d.lora_down.weight", LSC_DT_F32, 2, {2, 4}, 0}, {"lora_unet_d.lora_up.weight", LSC_DT_F32, 2, {3, 2}, 0},
        {"lora_unet_a.alpha", LSC_DT_F32, 0, {0}, 1.0},           {"lora_unet_b.alpha", LSC_DT_F32, 0, {0}, 3.0},
        {"lora_unet_c.alpha", LSC_DT_F32, 0, {0}, 5.0},           {"lora_unet_d.alpha", LSC_DT_F32, 0, {0}, 7.0},
    };
    write_st("apart.safetensors", apart, sizeof apart / sizeof apart[0], NULL);
    lsc_adapter *ad = read_ok("apart.safetensors");
    lsc_error e;
    const char *mods[] = {"lora_unet_a", "lora_unet_b", "lora_unet_c", "lora_unet_d"};
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq_tol(layer(ad, mods[i])->scale, (1.0 + 2 * i) / 2, 1e-12);
    ck_assert_int_eq(lsc_kohya_write(ad, tpath("apart2.safetensors"), LSC_DT_INVALID, &e), LSC_OK);
    size_t n1, n2;
    unsigned char *a = read_all(tpath("apart.safetensors"), &n1), *b = read_all(tpath("apart2.safetensors"), &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_int_eq(memcmp(a, b, n1), 0);
    free(a);
    free(b);
    ad->layers[lsc_adapter_find_layer(ad, "lora_unet_d")].scale = 0.25;
    ck_assert_int_eq(lsc_kohya_write(ad, tpath("apart3.safetensors"), LSC_DT_INVALID, &e), LSC_OK);
    lsc_adapter *bd = read_ok("apart3.safetensors");
    const double want[] = {0.5, 1.5, 2.5, 0.25};
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq_tol(layer(bd, mods[i])->scale, want[i], 1e-6);
    lsc_adapter_free(bd);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_uniform_metadata_and_dylora)
{
    static const spec uni[] = {
        {"lora_unet_a_to_q.alpha", LSC_DT_F32, 0, {0}, 4},
        {"lora_unet_a_to_q.lora_down.weight", LSC_DT_F32, 2, {4, 8}, 0},
        {"lora_unet_a_to_q.lora_up.weight", LSC_DT_F32, 2, {6, 4}, 0},
        {"lora_unet_b_to_k.alpha", LSC_DT_F32, 0, {0}, 4},
        {"lora_unet_b_to_k.lora_down.weight", LSC_DT_F32, 2, {4, 8}, 0},
        {"lora_unet_b_to_k.lora_up.weight", LSC_DT_F32, 2, {6, 4}, 0},
    };
    static const char *const meta[] = {"ss_network_dim", "4", "ss_network_alpha", "4.0", NULL};
    write_st("u.safetensors", uni, 6, meta);
    lsc_adapter *ad = read_ok("u.safetensors"), *bd;
    lsc_error e;
    ck_assert_str_eq(ad->kind, "static");
    ck_assert_str_eq(ad->layers[0].module_type, "to_q");
    for (size_t l = 0; l < 2; l++)
        ad->layers[l].scale = 2.0; /* both: alpha 8 */
    ck_assert_int_eq(lsc_kohya_write(ad, tpath("u2.safetensors"), LSC_DT_INVALID, &e), LSC_OK);
    bd = read_ok("u2.safetensors");
    char v[64];
    ck_assert_str_eq(meta_value(bd, "ss_network_dim", v, sizeof v), "4");
    ck_assert_str_eq(meta_value(bd, "ss_network_alpha", v, sizeof v), "8.0");
    ck_assert_double_eq(bd->layers[1].scale, 2.0);
    lsc_adapter_free(bd);
    lsc_adapter_free(ad);

    static const char *const dmeta[] = {"ss_network_module", "networks.dylora", NULL};
    write_st("d.safetensors", uni, 6, dmeta);
    ad = read_ok("d.safetensors");
    ck_assert_str_eq(ad->kind, "dynamic");
    lsc_adapter_free(ad);
    static const char *const dmeta2[] = {"ss_network_module", "networks.lora", "ss_network_args",
                                         "{\"unit\": \"4\"}", NULL};
    write_st("d2.safetensors", uni, 6, dmeta2);
    ad = read_ok("d2.safetensors");
    ck_assert_str_eq(ad->kind, "dynamic");
    lsc_adapter_free(ad);
}
END_TEST

/* ---- from PEFT ------------------------------------------------------------------------------------- */

static int add_factor(lsc_adapter *ad, const char *key, lsc_role role, int layer, int64_t r0, int64_t r1, int seed)
{
    size_t n = (size_t)(r0 * r1), ti;
    float *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = (float)(cos(seed * 0.7 + (double)i * 1.31) * 0.4);
    int64_t shape[2] = {r0, r1};
    lsc_error e;
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, key, role, layer, LSC_DT_F32, 2, shape, d, &ti, &e), LSC_OK);
    return (int)ti;
}

static size_t add_layer(lsc_adapter *ad, const char *name, int64_t out, int64_t in, int r, double alpha,
                        lsc_scale_rule rule, int seed)
{
    size_t li;
    lsc_error e;
    char key[300];
    ck_assert_int_eq(lsc_adapter_add_layer(ad, name, &li, &e), LSC_OK);
    snprintf(key, sizeof key, "%s.lora_A.weight", name);
    int ta = add_factor(ad, key, LSC_ROLE_A, (int)li, r, in, seed);
    snprintf(key, sizeof key, "%s.lora_B.weight", name);
    int tb = add_factor(ad, key, LSC_ROLE_B, (int)li, out, r, seed + 50);
    lsc_layer *l = &ad->layers[li];
    l->ta = ta;
    l->tb = tb;
    l->rows = out;
    l->cols = in;
    l->rank = r;
    l->alpha = alpha;
    l->rule = rule;
    l->init_r = rule == LSC_SCALE_ADALORA ? 6 : 0;
    l->scale = lsc_scale_compute(rule, alpha, r, l->init_r, 0);
    return li;
}

START_TEST(test_peft_to_kohya)
{
    lsc_adapter *ad = lsc_adapter_new(), *bd;
    ad->format = strdup("peft");
    ad->metadata_json = strdup("{\"format\":\"pt\"}");
    add_layer(ad, "base_model.model.model.layers.0.self_attn.q_proj", 8, 6, 2, 16.0, LSC_SCALE_ALPHA_R, 1);
    add_layer(ad, "base_model.model.model.layers.1.self_attn.v_proj", 8, 6, 3, 8.0, LSC_SCALE_RSLORA, 2);
    size_t ada = add_layer(ad, "base_model.model.model.layers.1.mlp.down_proj", 6, 10, 4, 32.0, LSC_SCALE_ADALORA, 3);
    int64_t eshape[2] = {4, 1};
    float *ev = malloc(4 * sizeof *ev);
    for (int i = 0; i < 4; i++)
        ev[i] = 0.5f + (float)i;
    size_t te;
    lsc_error e;
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "base_model.model.model.layers.1.mlp.down_proj.lora_E", LSC_ROLE_E,
                                            (int)ada, LSC_DT_F32, 2, eshape, ev, &te, &e), LSC_OK);
    ad->layers[ada].te = (int)te;
    ad->layers[ada].flags |= LSC_LAYER_ADALORA;
    int64_t xshape[1] = {2};
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "base_model.model.score.weight", LSC_ROLE_EXTRA, -1, LSC_DT_F32, 1,
                                            xshape, calloc(2, 4), NULL, &e), LSC_OK);

    ck_assert_int_eq(lsc_kohya_write(ad, tpath("p.safetensors"), LSC_DT_INVALID, &e), LSC_OK);
    char fmt[16];
    ck_assert_int_eq(lsc_detect_format(tpath("p.safetensors"), fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "kohya");
    bd = read_ok("p.safetensors");
    ck_assert_uint_eq(bd->n_layers, 3);
    same_delta(ad, 0, bd, "lora_te_model_layers_0_self_attn_q_proj", 1e-7);
    same_delta(ad, 1, bd, "lora_te_model_layers_1_self_attn_v_proj", 1e-7);
    same_delta(ad, 2, bd, "lora_te_model_layers_1_mlp_down_proj", 1e-7);
    const lsc_layer *l = layer(bd, "lora_te_model_layers_1_mlp_down_proj");
    ck_assert_str_eq(l->module_type, "down_proj");
    ck_assert_int_eq(l->layer_index, 1);
    ck_assert_double_eq(layer(bd, "lora_te_model_layers_0_self_attn_q_proj")->scale, 8.0);
    ck_assert_str_eq(bd->kind, "layer-wise");
    int found = 0;
    for (size_t i = 0; i < bd->n_tensors; i++)
        found |= strcmp(bd->tensors[i].key, "base_model.model.score.weight") == 0 &&
                 bd->tensors[i].role == LSC_ROLE_EXTRA;
    ck_assert(found);
    char v[64];
    ck_assert_str_eq(meta_value(bd, "ss_network_dim", v, sizeof v), "Dynamic");
    ck_assert_str_eq(meta_value(bd, "ss_network_module", v, sizeof v), "networks.lora");
    ck_assert_str_eq(meta_value(bd, "format", v, sizeof v), "pt");
    lsc_adapter_free(bd);

    /* DoRA has no kohya form */
    ad->layers[0].flags |= LSC_LAYER_DORA;
    ck_assert_int_eq(lsc_kohya_write(ad, tpath("x.safetensors"), LSC_DT_INVALID, &e), LSC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(e.msg, "q_proj': DoRA"));
    ck_assert_int_eq(access(tpath("x.safetensors"), F_OK), -1);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_map_names)
{
    char out[256];
    ck_assert_int_eq(lsc_kohya_map_name("base_model.model.unet.down_blocks.0.attentions.0.proj_in", "peft", 0, out,
                                        sizeof out), 0);
    ck_assert_str_eq(out, "lora_unet_down_blocks_0_attentions_0_proj_in");
    ck_assert_int_eq(lsc_kohya_map_name("base_model.model.text_encoder.text_model.encoder.layers.0.mlp.fc1", "peft",
                                        1, out, sizeof out), 0);
    ck_assert_str_eq(out, "lora_te1_text_model_encoder_layers_0_mlp_fc1");
    ck_assert_int_eq(lsc_kohya_map_name("text_encoder_2.x.q_proj", "peft", 1, out, sizeof out), 0);
    ck_assert_str_eq(out, "lora_te2_x_q_proj");
    ck_assert_int_eq(lsc_kohya_map_name("blk.3.attn_q.weight", "gguf", 0, out, sizeof out), 0);
    ck_assert_str_eq(out, "lora_te_blk_3_attn_q");
    ck_assert_int_eq(lsc_kohya_map_name("lora_unet_a", "kohya", 0, out, sizeof out), 0);
    ck_assert_str_eq(out, "lora_unet_a");
    ck_assert_int_eq(lsc_kohya_map_name("base_model.model.model.layers.0.q_proj", "peft", 0, out, 8), -1);
}
END_TEST

START_TEST(test_detect)
{
    char fmt[16];
    lsc_error e;
    ck_assert_int_eq(lsc_detect_format(tmpdir, fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "peft");
    static const spec peft[] = {
        {"base_model.model.q_proj.lora_A.weight", LSC_DT_F32, 2, {2, 4}, 0},
        {"base_model.model.q_proj.lora_B.weight", LSC_DT_F32, 2, {4, 2}, 0},
    };
    write_st("adapter_model.safetensors", peft, 2, NULL);
    ck_assert_int_eq(lsc_detect_format(tpath("adapter_model.safetensors"), fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "peft");
    FILE *fp = fopen(tpath("a.gguf"), "wb");
    fwrite("GGUF\3\0\0\0", 1, 8, fp);
    fclose(fp);
    ck_assert_int_eq(lsc_detect_format(tpath("a.gguf"), fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "gguf");
    fp = fopen(tpath("junk.bin"), "wb");
    fwrite("hello world, not an adapter", 1, 27, fp);
    fclose(fp);
    ck_assert_int_eq(lsc_detect_format(tpath("junk.bin"), fmt, sizeof fmt, &e), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "junk.bin': not a safetensors, GGUF or PEFT adapter"));
    ck_assert_int_eq(lsc_detect_format(tpath("missing"), fmt, sizeof fmt, &e), LSC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, "no such file"));
    ck_assert_int_eq(lsc_detect_format(tpath("a.gguf"), fmt, 3, &e), LSC_ERR_INVALID);
}
END_TEST

/* Write `text` (n bytes) to tpath(name). */
static void write_bytes(const char *name, const void *text, size_t n)
{
    FILE *fp = fopen(tpath(name), "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(text, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

static void expect_detect(const char *name, const char *needle)
{
    char fmt[16];
    lsc_error e;
    lsc_status st = lsc_detect_format(tpath(name), fmt, sizeof fmt, &e);
    ck_assert_msg(st == LSC_ERR_FORMAT && strstr(e.msg, needle), "%s: %d '%s', expected '%s'", name, st, e.msg, needle);
}

/* Issue #13.17: a JSON file or a GGUF with a bad magic was read as safetensors and reported as "header
 * length 7308332182695578235 exceeds ...". Detection now says what the file is. */
START_TEST(test_detect_names_the_format)
{
    const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 8}";
    write_bytes("x.json", cfg, strlen(cfg));
    expect_detect("x.json", "x.json' is a JSON file, not an adapter");
    write_bytes("adapter_config.json", cfg, strlen(cfg));
    expect_detect("adapter_config.json", "adapter_config.json' is a JSON file, not an adapter (give the folder");
    write_bytes("list.txt", "\xef\xbb\xbf  \n[1, 2]", 13);
    expect_detect("list.txt", "list.txt' is a JSON file");
    write_bytes("x.gguf", "GGUG\3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24);
    expect_detect("x.gguf", "x.gguf': not a GGUF file (bad magic)");
    write_bytes("short.GGUF", "GG", 2);
    expect_detect("short.GGUF", "short.GGUF': not a GGUF file (bad magic)");
    write_bytes("x", "\x01\x02\x03 binary", 10);
    expect_detect("x", "x': not a safetensors, GGUF or PEFT adapter");
    write_bytes("empty.safetensors", "", 0);
    expect_detect("empty.safetensors", "empty file, not an adapter");
    /* a file named .safetensors that is not plausibly one keeps the strict reader's reason */
    write_bytes("bad.safetensors", "\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10);
    expect_detect("bad.safetensors", "header length");
    /* a plausible safetensors file with a broken rule gets the reader's message whatever its name */
    write_bytes("st.json", "\x02\0\0\0\0\0\0\0{}xyz", 13);
    expect_detect("st.json", "trailing bytes");
    /* content decides, not the name: a PEFT safetensors file called .gguf is PEFT */
    static const spec peft[] = {
        {"base_model.model.q_proj.lora_A.weight", LSC_DT_F32, 2, {2, 4}, 0},
        {"base_model.model.q_proj.lora_B.weight", LSC_DT_F32, 2, {4, 2}, 0},
    };
    write_st("peft.gguf", peft, 2, NULL);
    char fmt[16];
    lsc_error e;
    ck_assert_int_eq(lsc_detect_format(tpath("peft.gguf"), fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "peft");

    /* the whole message through the command line */
    char cat[300];
    snprintf(cat, sizeof cat, "%s", tpath("cat.db"));
    cli_result r = cli_run(cat, "import", tpath("x.json"), NULL);
    ck_assert_msg(r.code == 1 && strstr(r.err, "x.json' is a JSON file, not an adapter") && cli_lines(r.err) == 1,
                  "exit %d: %s", r.code, r.err);
    cli_result_free(&r);
}
END_TEST

/* Issue #13.17: a conversion to F16 that flushes values to zero is reported on the adapter, by tensor. */
START_TEST(test_f16_flush_warned)
{
    static const spec pair[] = {
        {"lora_unet_a.lora_down.weight", LSC_DT_F32, 2, {2, 4}, 0},
        {"lora_unet_a.lora_up.weight", LSC_DT_F32, 2, {4, 2}, 0},
    };
    write_st("sub.safetensors", pair, 2, NULL);
    lsc_adapter *ad = read_ok("sub.safetensors");
    lsc_error e;
    int ta = ad->layers[0].ta;
    ck_assert_int_eq(lsc_adapter_load_tensor(ad, (size_t)ta, &e), LSC_OK);
    float tiny = 1e-40f; /* an f32 subnormal: nothing of it survives in f16 */
    for (int i = 0; i < 8; i++)
        memcpy(ad->tensors[ta].data + 4 * i, &tiny, 4);
    ck_assert_msg(lsc_kohya_write(ad, tpath("sub16.safetensors"), LSC_DT_F16, &e) == LSC_OK, "%s", e.msg);
    ck_assert_ptr_nonnull(ad->warnings);
    ck_assert_str_eq(ad->warnings, "tensor 'lora_unet_a.lora_down.weight': 8 of 8 values flushed to zero in F16");
    lsc_adapter_free(ad);
}
END_TEST

static Suite *kohya_suite(void)
{
    Suite *s = suite_create("kohya");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_read_mixed);
    tcase_add_test(tc, test_lycoris_refused);
    tcase_add_test(tc, test_malformed_pairs);
    tcase_add_test(tc, test_no_lora_layers_refused);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_alphas_apart);
    tcase_add_test(tc, test_uniform_metadata_and_dylora);
    tcase_add_test(tc, test_peft_to_kohya);
    tcase_add_test(tc, test_map_names);
    tcase_add_test(tc, test_detect);
    tcase_add_test(tc, test_detect_names_the_format);
    tcase_add_test(tc, test_f16_flush_warned);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(kohya_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
