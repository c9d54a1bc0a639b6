/* check-peft.c: the PEFT reader and writer (store/peft.c).
 *
 * Every input is built here under a mkdtemp() folder: safetensors files through lsc_st_writer (or raw
 * bytes where the exact header text matters) and config text written as is. Expected ranks, shapes and
 * scales are worked out by hand from PEFT's rules; round trips compare bytes. The last test runs the
 * sample generator and reads back every sample. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapter.h"
#include "dtype.h"
#include "fileio.h"
#include "peft.h"
#include "safetensors.h"

/* ---- temporary folders ---------------------------------------------------------------------------- */

static char tmp_root[256];

static void rm_rf(const char *p)
{
    struct stat st;
    if (lstat(p, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(p);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", p, e->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(p);
    } else {
        unlink(p);
    }
}

static void setup(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/check-peft-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_root));
}

static void teardown(void)
{
    rm_rf(tmp_root);
}

/* "<tmp>/<name>" in a static rotating buffer */
static const char *tpath(const char *fmt, const char *name)
{
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ & 7];
    char rel[512];
    snprintf(rel, sizeof rel, fmt, name);
    snprintf(b, 1024, "%s/%s", tmp_root, rel);
    return b;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return b;
}

static int same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = read_all(a, &la), *y = read_all(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static void make_dir(const char *p)
{
    ck_assert(mkdir(p, 0777) == 0);
}

/* ---- building safetensors files ------------------------------------------------------------------- */

#define MAXT 32

typedef struct spec {
    size_t n;
    const char *name[MAXT];
    lsc_dtype dt[MAXT];
    int ndim[MAXT];
    int64_t shape[MAXT][4];
    double *vals[MAXT]; /* owned */
} spec;

/* Values exactly representable in F16, BF16, F32, F64: multiples of 1/8 in [-1, 1]. */
static double exact_value(size_t t, size_t i)
{
    return (double)((int)((i * 7 + t * 3) % 17) - 8) / 8.0;
}

static size_t spec_add(spec *s, const char *name, lsc_dtype dt, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    size_t t = s->n++;
    ck_assert_uint_lt(t, MAXT);
    s->name[t] = name;
    s->dt[t] = dt;
    s->ndim[t] = ndim;
    int64_t d[4] = {d0, d1, d2, d3};
    size_t n = 1;
    for (int k = 0; k < ndim; k++) {
        s->shape[t][k] = d[k];
        n *= (size_t)d[k];
    }
    s->vals[t] = calloc(n ? n : 1, sizeof(double));
    for (size_t i = 0; i < n; i++)
        s->vals[t][i] = exact_value(t, i);
    return t;
}

static size_t numel_of(const spec *s, size_t t)
{
    size_t n = 1;
    for (int k = 0; k < s->ndim[t]; k++)
        n *= (size_t)s->shape[t][k];
    return n;
}

static void spec_write(spec *s, const char *path)
{
    lsc_st_out outs[MAXT];
    for (size_t t = 0; t < s->n; t++) {
        outs[t].name = s->name[t];
        outs[t].dtype = s->dt[t];
        outs[t].ndim = s->ndim[t];
        outs[t].shape = s->shape[t];
    }
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    lsc_st_writer *w;
    lsc_error err;
    ck_assert_msg(lsc_st_writer_begin(path, outs, s->n, mk, mv, 1, &w, &err) == LSC_OK, "%s", err.msg);
    for (size_t t = 0; t < s->n; t++) {
        size_t n = numel_of(s, t), nb = n * lsc_dtype_size(s->dt[t]);
        void *buf = calloc(nb ? nb : 1, 1);
        if (lsc_dtype_is_float(s->dt[t]))
            ck_assert_int_eq(lsc_dtype_from_double(s->dt[t], s->vals[t], n, buf, NULL), LSC_OK);
        ck_assert_msg(lsc_st_writer_put(w, buf, nb, &err) == LSC_OK, "%s", err.msg);
        free(buf);
    }
    ck_assert_msg(lsc_st_writer_finish(w, &err) == LSC_OK, "%s", err.msg);
}

static void spec_free(spec *s)
{
    for (size_t t = 0; t < s->n; t++)
        free(s->vals[t]);
    s->n = 0;
}

/* A PEFT folder <tmp>/<name>/ with the spec's tensors and a config text (NULL: none). */
static const char *make_adapter(const char *name, spec *s, const char *config)
{
    const char *dir = tpath("%s", name);
    make_dir(dir);
    spec_write(s, tpath("%s/adapter_model.safetensors", name));
    if (config)
        write_text(tpath("%s/adapter_config.json", name), config);
    return dir;
}

static const lsc_layer *layer_named(const lsc_adapter *ad, const char *name)
{
    int i = lsc_adapter_find_layer(ad, name);
    ck_assert_msg(i >= 0, "no layer '%s'", name);
    return &ad->layers[i];
}

#define PFX "base_model.model.model.layers."
#define CFG_R4 "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"base_model_name_or_path\": \"tiny/llama\"}"

/* ---- naming variants and dtypes ------------------------------------------------------------------- */

START_TEST(test_naming_variants)
{
    spec s = {0};
    spec_add(&s, PFX "0.self_attn.q_proj.lora_A.weight", LSC_DT_F32, 2, 4, 16, 0, 0);
    spec_add(&s, PFX "0.self_attn.q_proj.lora_B.weight", LSC_DT_F32, 2, 24, 4, 0, 0);
    spec_add(&s, PFX "0.self_attn.q_proj.lora_B.bias", LSC_DT_F32, 1, 24, 0, 0, 0);
    spec_add(&s, PFX "0.self_attn.q_proj.lora_magnitude_vector", LSC_DT_F32, 1, 24, 0, 0, 0);
    spec_add(&s, PFX "1.self_attn.k_proj.lora_A.default.weight", LSC_DT_F16, 2, 4, 16, 0, 0);
    spec_add(&s, PFX "1.self_attn.k_proj.lora_B.default.weight", LSC_DT_F16, 2, 16, 4, 0, 0);
    spec_add(&s, PFX "1.self_attn.k_proj.lora_magnitude_vector.default.weight", LSC_DT_F16, 1, 16, 0, 0, 0);
    spec_add(&s, PFX "2.self_attn.v_proj.lora_A", LSC_DT_BF16, 2, 4, 16, 0, 0);
    spec_add(&s, PFX "2.self_attn.v_proj.lora_B", LSC_DT_BF16, 2, 16, 4, 0, 0);
    spec_add(&s, PFX "2.self_attn.v_proj.lora_magnitude_vector.weight", LSC_DT_BF16, 1, 16, 0, 0, 0);
    spec_add(&s, "base_model.model.model.embed_tokens.lora_embedding_A", LSC_DT_F64, 2, 4, 100, 0, 0);
    spec_add(&s, "base_model.model.model.embed_tokens.lora_embedding_B", LSC_DT_F64, 2, 16, 4, 0, 0);
    spec_add(&s, "base_model.model.unet.down_blocks.3.conv1.lora_A.weight", LSC_DT_F32, 4, 4, 3, 3, 3);
    spec_add(&s, "base_model.model.unet.down_blocks.3.conv1.lora_B.weight", LSC_DT_F32, 4, 8, 4, 1, 1);
    spec_add(&s, "base_model.model.score.weight", LSC_DT_F32, 2, 2, 16, 0, 0);
    spec_add(&s, "base_model.model.model.layers.0.step", LSC_DT_I64, 0, 0, 0, 0, 0);
    const char *dir = make_adapter("variants", &s, CFG_R4);

    lsc_adapter *ad = NULL;
    lsc_error err;
    ck_assert_msg(lsc_peft_read(dir, &ad, &err) == LSC_OK, "%s", err.msg);
    ck_assert_str_eq(ad->format, "peft");
    ck_assert_str_eq(ad->base_model, "tiny/llama");
    ck_assert_str_eq(ad->kind, "static");
    ck_assert_ptr_null(ad->name);
    ck_assert_str_eq(ad->config_json, CFG_R4);
    ck_assert_str_eq(ad->metadata_json, "{\"format\":\"pt\"}");
    ck_assert_uint_eq(ad->n_layers, 5);
    ck_assert_uint_eq(ad->n_tensors, s.n);
    /* tensors in file data order, with their original spelling */
    for (size_t i = 0; i < s.n; i++)
        ck_assert_str_eq(ad->tensors[i].key, s.name[i]);

    const lsc_layer *q = layer_named(ad, PFX "0.self_attn.q_proj");
    ck_assert_str_eq(q->module_type, "q_proj");
    ck_assert_int_eq(q->layer_index, 0);
    ck_assert_int_eq(q->rank, 4);
    ck_assert_int_eq(q->rows, 24);
    ck_assert_int_eq(q->cols, 16);
    ck_assert_double_eq(q->scale, 2.0);
    ck_assert_uint_eq(q->flags, LSC_LAYER_DORA);
    ck_assert_int_eq(q->ta, 0);
    ck_assert_int_eq(q->tb, 1);
    ck_assert_int_eq(q->tm, 3);
    ck_assert_int_eq(ad->tensors[3].role, LSC_ROLE_MAGNITUDE);
    /* a LoRA bias (lora_bias=True) is not the B factor: it is kept as an extra */
    ck_assert_int_eq(ad->tensors[2].role, LSC_ROLE_EXTRA);
    ck_assert_int_eq(ad->tensors[2].layer, -1);

    const lsc_layer *k = layer_named(ad, PFX "1.self_attn.k_proj");
    ck_assert_int_eq(k->layer_index, 1);
    ck_assert_int_eq(k->tm, 6);
    ck_assert_uint_eq(k->flags, LSC_LAYER_DORA);
    const lsc_layer *v = layer_named(ad, PFX "2.self_attn.v_proj");
    ck_assert_int_eq(v->layer_index, 2);
    ck_assert_int_eq(v->ta, 7);
    ck_assert_int_eq(v->tb, 8);

    const lsc_layer *e = layer_named(ad, "base_model.model.model.embed_tokens");
    ck_assert_uint_eq(e->flags, LSC_LAYER_EMBEDDING);
    ck_assert_int_eq(e->layer_index, -1);
    ck_assert_int_eq(e->rows, 100); /* the applied delta (B A)^T is [vocab, dim] */
    ck_assert_int_eq(e->cols, 16);
    ck_assert_int_eq(ad->tensors[e->ta].role, LSC_ROLE_A);
    ck_assert_int_eq(ad->tensors[e->tb].role, LSC_ROLE_B);

    const lsc_layer *c = layer_named(ad, "base_model.model.unet.down_blocks.3.conv1");
    ck_assert_uint_eq(c->flags, LSC_LAYER_CONV);
    ck_assert_int_eq(c->layer_index, 3);
    ck_assert_str_eq(c->module_type, "conv1");
    ck_assert_int_eq(c->rows, 8);
    ck_assert_int_eq(c->cols, 27);

    ck_assert_int_eq(ad->tensors[14].role, LSC_ROLE_EXTRA);
    ck_assert_int_eq(ad->tensors[15].role, LSC_ROLE_EXTRA);
    ck_assert_int_eq(ad->tensors[15].dtype, LSC_DT_I64);

    /* the header is kept verbatim: the first 8 + N bytes of the file */
    size_t flen;
    char *file = read_all(tpath("%s/adapter_model.safetensors", "variants"), &flen);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n |= (uint64_t)(uint8_t)file[i] << (8 * i);
    ck_assert_uint_eq(strlen(ad->header_json), n);
    ck_assert(memcmp(ad->header_json, file + 8, n) == 0);
    free(file);

    /* data is streamed from the file on demand, in every dtype */
    for (size_t li = 0; li < ad->n_layers; li++) {
        double *B = NULL, *A = NULL;
        size_t bc = 0, ac = 0;
        lsc_lowrank lr;
        ck_assert_msg(lsc_adapter_factors(ad, li, &B, &bc, &A, &ac, &lr, &err) == LSC_OK, "%s", err.msg);
        const lsc_layer *l = &ad->layers[li];
        ck_assert_int_eq(lr.rows, l->rows);
        ck_assert_int_eq(lr.cols, l->cols);
        if (l->flags & LSC_LAYER_EMBEDDING) {
            /* the view is the applied delta (B A)^T: B' = A^T [vocab, r], A' = B^T [r, dim] */
            int64_t r = lr.r, vocab = lr.rows, dim = lr.cols;
            for (int64_t i = 0; i < r; i++)
                for (int64_t j = 0; j < vocab; j++)
                    ck_assert_double_eq(lr.B[j * r + i], s.vals[l->ta][i * vocab + j]);
            for (int64_t i = 0; i < dim; i++)
                for (int64_t k = 0; k < r; k++)
                    ck_assert_double_eq(lr.A[k * dim + i], s.vals[l->tb][i * r + k]);
        } else {
            for (size_t i = 0; i < numel_of(&s, (size_t)l->ta); i++)
                ck_assert_double_eq(lr.A[i], s.vals[l->ta][i]);
            for (size_t i = 0; i < numel_of(&s, (size_t)l->tb); i++)
                ck_assert_double_eq(lr.B[i], s.vals[l->tb][i]);
        }
        free(A);
        free(B);
    }
    ck_assert_ptr_nonnull(ad->tensors[0].data);
    lsc_adapter_unload_tensor(ad, 0);
    ck_assert_ptr_null(ad->tensors[0].data);
    lsc_adapter_free(ad);
    spec_free(&s);
}
END_TEST

/* One layer in each float dtype: values come back exactly. */
START_TEST(test_each_dtype)
{
    const lsc_dtype dts[] = {LSC_DT_F64, LSC_DT_F32, LSC_DT_F16, LSC_DT_BF16};
    for (int d = 0; d < 4; d++) {
        spec s = {0};
        spec_add(&s, PFX "3.mlp.down_proj.lora_A.weight", dts[d], 2, 2, 40, 0, 0);
        spec_add(&s, PFX "3.mlp.down_proj.lora_B.weight", dts[d], 2, 12, 2, 0, 0);
        char name[32];
        snprintf(name, sizeof name, "dtype-%s", lsc_dtype_name(dts[d]));
        const char *dir = make_adapter(name, &s, "{\"r\": 2, \"lora_alpha\": 3}");
        lsc_adapter *ad;
        lsc_error err;
        ck_assert_msg(lsc_peft_read(dir, &ad, &err) == LSC_OK, "%s", err.msg);
        ck_assert_int_eq(ad->tensors[0].dtype, dts[d]);
        ck_assert_double_eq(ad->layers[0].scale, 1.5);
        ck_assert_int_eq(ad->layers[0].layer_index, 3);
        ck_assert_str_eq(ad->layers[0].module_type, "down_proj");
        double *B = NULL, *A = NULL;
        size_t bc = 0, ac = 0;
        lsc_lowrank lr;
        ck_assert_int_eq(lsc_adapter_factors(ad, 0, &B, &bc, &A, &ac, &lr, &err), LSC_OK);
        for (int i = 0; i < 80; i++)
            ck_assert_double_eq(lr.A[i], s.vals[0][i]);
        for (int i = 0; i < 24; i++)
            ck_assert_double_eq(lr.B[i], s.vals[1][i]);
        free(A);
        free(B);
        lsc_adapter_free(ad);
        spec_free(&s);
    }
}
END_TEST

/* ---- scales -------------------------------------------------------------------------------------------- */

static void add_pair(spec *s, const char *prefix, int r, int64_t out, int64_t in, char names[][160], size_t *k)
{
    snprintf(names[*k], 160, "%s.lora_A.weight", prefix);
    spec_add(s, names[*k], LSC_DT_F32, 2, r, in, 0, 0);
    (*k)++;
    snprintf(names[*k], 160, "%s.lora_B.weight", prefix);
    spec_add(s, names[*k], LSC_DT_F32, 2, out, r, 0, 0);
    (*k)++;
}

START_TEST(test_plain_and_rslora)
{
    char names[8][160];
    size_t k = 0;
    spec s = {0};
    add_pair(&s, PFX "0.self_attn.q_proj", 8, 16, 16, names, &k);
    add_pair(&s, PFX "1.self_attn.q_proj", 8, 16, 16, names, &k);
    const char *dir = make_adapter("plain", &s, "{\"r\": 8, \"lora_alpha\": 16, \"use_rslora\": false}");
    lsc_adapter *ad;
    lsc_error err;
    ck_assert_int_eq(lsc_peft_read(dir, &ad, &err), LSC_OK);
    ck_assert_double_eq(ad->layers[1].scale, 2.0);
    ck_assert_int_eq(ad->layers[1].rule, LSC_SCALE_ALPHA_R);
    ck_assert_ptr_null(ad->warnings);
    ck_assert_str_eq(ad->kind, "static");
    lsc_adapter_free(ad);

    dir = make_adapter("rslora", &s, "{\"r\": 8, \"lora_alpha\": 16, \"use_rslora\": true, \"fan_in_fan_out\": true}");
    ck_assert_int_eq(lsc_peft_read(dir, &ad, &err), LSC_OK);
    ck_assert_double_eq_tol(ad->layers[0].scale, 16.0 / 2.8284271247461903, 1e-14);
    ck_assert_int_eq(ad->layers[0].rule, LSC_SCALE_RSLORA);
    ck_assert_uint_eq(ad->layers[0].flags, LSC_LAYER_FAN_IN_FAN_OUT);
    lsc_adapter_free(ad);

    /* a config r that disagrees with the tensors: a warning, the tensors win */
    dir = make_adapter("wrong-r", &s, "{\"r\": 4, \"lora_alpha\": 16}");
    ck_assert_int_eq(lsc_peft_read(dir, &ad, &err), LSC_OK);
    ck_assert_int_eq(ad->layers[0].rank, 8);
    ck_assert_double_eq(ad->layers[0].scale, 2.0);
    ck_assert_ptr_nonnull(ad->warnings);
    ck_assert_ptr_nonnull(strstr(ad->warnings, "config r 4 disagrees with the tensor rank 8"));
    lsc_adapter_free(ad);

    /* no config: lora_alpha = r assumed and said; the file path form of the argument */
    make_dir(tpath("%s", "bare"));
    spec_write(&s, tpath("%s/weights.safetensors", "bare"));
    ck_assert_int_eq(lsc_peft_read(tpath("%s/weights.safetensors", "bare"), &ad, &err), LSC_OK);
    ck_assert_double_eq(ad->layers[0].scale, 1.0);
    ck_assert_ptr_null(ad->config_json);
    ck_assert_ptr_nonnull(strstr(ad->warnings, "assuming lora_alpha = r"));
    lsc_adapter_free(ad);

    /* a file path next to a config uses that config */
    ck_assert_int_eq(lsc_peft_read(tpath("%s/adapter_model.safetensors", "plain"), &ad, &err), LSC_OK);
    ck_assert_double_eq(ad->layers[0].scale, 2.0);
    ck_assert_ptr_nonnull(ad->config_json);
    lsc_adapter_free(ad);
    spec_free(&s);
}
END_TEST

START_TEST(test_patterns)
{
    char names[16][160];
    size_t k = 0;
    spec s = {0};
    add_pair(&s, PFX "0.self_attn.q_proj", 4, 16, 16, names, &k);   /* rank_pattern q_proj */
    add_pair(&s, PFX "0.self_attn.q_proj_x", 8, 16, 16, names, &k); /* q_proj must not match */
    add_pair(&s, PFX "0.self_attn.v_proj", 8, 16, 16, names, &k);
    add_pair(&s, PFX "1.self_attn.v_proj", 2, 16, 16, names, &k);   /* exact module name key */
    add_pair(&s, PFX "0.mlp.up_proj", 6, 24, 16, names, &k);        /* \d key */
    add_pair(&s, PFX "12.mlp.up_proj", 8, 24, 16, names, &k);       /* \d matches one digit only */
    const char *cfg = "{\n"
                      "  \"r\": 8,\n"
                      "  \"lora_alpha\": 16,\n"
                      "  \"rank_pattern\": {\n"
                      "    \"q_proj\": 4,\n"
                      "    \"model.layers.0.self_attn.q_proj\": 5,\n"
                      "    \"model.layers.1.self_attn.v_proj\": 2,\n"
                      "    \"layers\\\\.\\\\d\\\\.mlp\\\\.up_proj\": 6\n"
                      "  },\n"
                      "  \"alpha_pattern\": {\n"
                      "    \"q_proj\": 8,\n"
                      "    \"v_proj\": 32,\n"
                      "    \"self_attn\\\\.v_proj\": 1\n"
                      "  }\n"
                      "}\n";
    const char *dir = make_adapter("patterns", &s, cfg);
    lsc_adapter *ad;
    lsc_error err;
    ck_assert_msg(lsc_peft_read(dir, &ad, &err) == LSC_OK, "%s", err.msg);
    /* first key in JSON order wins: q_proj -> r 4 (not 5), alpha 8 -> scale 2 */
    const lsc_layer *l = layer_named(ad, PFX "0.self_attn.q_proj");
    ck_assert_int_eq(l->rank, 4);
    ck_assert_double_eq(l->alpha, 8);
    ck_assert_double_eq(l->scale, 2.0);
    l = layer_named(ad, PFX "0.self_attn.q_proj_x");
    ck_assert_double_eq(l->alpha, 16);
    ck_assert_double_eq(l->scale, 2.0);
    l = layer_named(ad, PFX "0.self_attn.v_proj");
    ck_assert_double_eq(l->alpha, 32);
    ck_assert_double_eq(l->scale, 4.0);
    l = layer_named(ad, PFX "1.self_attn.v_proj");
    ck_assert_int_eq(l->rank, 2);
    ck_assert_double_eq(l->scale, 16.0);
    l = layer_named(ad, PFX "0.mlp.up_proj");
    ck_assert_double_eq_tol(l->scale, 16.0 / 6.0, 1e-15);
    l = layer_named(ad, PFX "12.mlp.up_proj");
    ck_assert_int_eq(l->layer_index, 12);
    ck_assert_double_eq(l->scale, 2.0);
    /* every resolved r agreed with the tensors: no warning (q_proj resolving to 5 would have warned) */
    ck_assert_msg(ad->warnings == NULL, "%s", ad->warnings);
    ck_assert_str_eq(ad->kind, "layer-wise");
    lsc_adapter_free(ad);
    spec_free(&s);

    ck_assert_int_eq(lsc_peft_pattern_match("q_proj", "model.layers.0.self_attn.q_proj", NULL), 1);
    ck_assert_int_eq(lsc_peft_pattern_match("q_proj", "model.layers.0.self_attn.q_proj_x", NULL), 0);
    ck_assert_int_eq(lsc_peft_pattern_match("q_proj", "model.layers.0.self_attn.xq_proj", NULL), 0);
    ck_assert_int_eq(lsc_peft_pattern_match("q_proj", "q_proj", NULL), 1);
    ck_assert_int_eq(lsc_peft_pattern_match("layers\\.\\d+\\.mlp\\..*", "model.layers.17.mlp.up", NULL), 1);
    ck_assert_int_eq(lsc_peft_pattern_match("(?:q|k)_proj", "a.k_proj", NULL), 1);
    ck_assert_int_eq(lsc_peft_pattern_match("[qk]_proj", "a.v_proj", NULL), 0);
    ck_assert_int_eq(lsc_peft_pattern_match("layers.*?q_proj", "model.layers.0.q_proj", NULL), 1);
    lsc_error e;
    ck_assert_int_eq(lsc_peft_pattern_match("(?=q)q_proj", "a.q_proj", &e), -1);
    ck_assert_int_eq(e.code, LSC_ERR_UNSUPPORTED);
    ck_assert_str_eq(lsc_peft_module_name("base_model.model.model.x"), "model.x");
    ck_assert_str_eq(lsc_peft_module_name("model.x"), "model.x");
}
END_TEST

START_TEST(test_adalora)
{
    spec s = {0};
    spec_add(&s, PFX "0.self_attn.q_proj.lora_A", LSC_DT_F32, 2, 5, 16, 0, 0);
    spec_add(&s, PFX "0.self_attn.q_proj.lora_B", LSC_DT_F32, 2, 16, 5, 0, 0);
    spec_add(&s, PFX "0.self_attn.q_proj.lora_E", LSC_DT_F32, 2, 5, 1, 0, 0);
    spec_add(&s, PFX "1.self_attn.q_proj.lora_A", LSC_DT_F32, 2, 5, 16, 0, 0);
    spec_add(&s, PFX "1.self_attn.q_proj.lora_B", LSC_DT_F32, 2, 16, 5, 0, 0);
    spec_add(&s, PFX "1.self_attn.q_proj.lora_E", LSC_DT_F32, 2, 5, 1, 0, 0);
    const char *cfg = "{\"peft_type\": \"ADALORA\", \"r\": 8, \"init_r\": 12, \"target_r\": 8, \"lora_alpha\": 32,"
                      " \"rank_pattern\": {"
                      "\"model.layers.0.self_attn.q_proj.lora_E\": [true, true, false, true, true, false, false,"
                      " true, false, false, false, false],"
                      "\"model.layers.1.self_attn.q_proj.lora_E\": [true, true, true, true, true, true, false,"
                      " false, false, false, false, false]}}";
    const char *dir = make_adapter("adalora", &s, cfg);
    lsc_adapter *ad;
    lsc_error err;
    ck_assert_msg(lsc_peft_read(dir, &ad, &err) == LSC_OK, "%s", err.msg);
    ck_assert_str_eq(ad->kind, "adaptive");
    const lsc_layer *l = &ad->layers[0];
    ck_assert_int_eq(l->rank, 5);
    ck_assert_int_eq(l->init_r, 12);
    ck_assert_int_eq(l->rule, LSC_SCALE_ADALORA);
    ck_assert_uint_eq(l->flags, LSC_LAYER_ADALORA);
    ck_assert_int_eq(l->te, 2);
    ck_assert_int_eq(ad->tensors[2].role, LSC_ROLE_E);
    ck_assert_double_eq_tol(l->scale, 32.0 / 12.00001, 1e-15);
    /* layer 1's mask keeps 6 triplets but its tensors hold 5: said, not fatal */
    ck_assert_ptr_nonnull(ad->warnings);
    ck_assert_ptr_nonnull(strstr(ad->warnings, "layers.1.self_attn.q_proj"));
    ck_assert_ptr_null(strstr(ad->warnings, "layers.0.self_attn.q_proj"));
    lsc_adapter_free(ad);
    spec_free(&s);
}
END_TEST

/* ---- rejections ----------------------------------------------------------------------------------------- */

static void expect_config_error(const char *name, const char *config, lsc_status want, const char *needle)
{
    spec s = {0};
    spec_add(&s, PFX "0.self_attn.q_proj.lora_A.weight", LSC_DT_F32, 2, 4, 8, 0, 0);
    spec_add(&s, PFX "0.self_attn.q_proj.lora_B.weight", LSC_DT_F32, 2, 8, 4, 0, 0);
    const char *dir = make_adapter(name, &s, config);
    lsc_adapter *ad = NULL;
    lsc_error err;
    lsc_status st = lsc_peft_read(dir, &ad, &err);
    ck_assert_msg(st == want, "%s: status %d, want %d (%s)", name, st, want, err.msg);
    ck_assert_ptr_null(ad);
    ck_assert_msg(strstr(err.msg, "adapter_config.json") != NULL, "%s: no file in '%s'", name, err.msg);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "%s: '%s' not in '%s'", name, needle, err.msg);
    spec_free(&s);
}

START_TEST(test_config_rejections)
{
    expect_config_error("cfg-json", "{\"r\": 8, ", LSC_ERR_FORMAT, "invalid JSON");
    expect_config_error("cfg-dup", "{\"r\": 8, \"lora_alpha\": 16, \"r\": 4}", LSC_ERR_FORMAT, "duplicate");
    expect_config_error("cfg-nan", "{\"r\": 8, \"lora_alpha\": NaN}", LSC_ERR_FORMAT, "invalid JSON");
    expect_config_error("cfg-inf", "{\"r\": 8, \"lora_alpha\": Infinity}", LSC_ERR_FORMAT, "invalid JSON");
    expect_config_error("cfg-big", "{\"r\": 8, \"lora_alpha\": 1e999}", LSC_ERR_FORMAT, "invalid JSON");
    expect_config_error("cfg-r0", "{\"r\": 0, \"lora_alpha\": 16}", LSC_ERR_FORMAT, "key 'r'");
    expect_config_error("cfg-rneg", "{\"r\": -4, \"lora_alpha\": 16}", LSC_ERR_FORMAT, "key 'r'");
    expect_config_error("cfg-rstr", "{\"r\": \"8\", \"lora_alpha\": 16}", LSC_ERR_FORMAT, "key 'r'");
    expect_config_error("cfg-rreal", "{\"r\": 8.5, \"lora_alpha\": 16}", LSC_ERR_FORMAT, "key 'r'");
    expect_config_error("cfg-astr", "{\"r\": 8, \"lora_alpha\": \"16\"}", LSC_ERR_FORMAT, "key 'lora_alpha'");
    expect_config_error("cfg-abool", "{\"r\": 8, \"lora_alpha\": true}", LSC_ERR_FORMAT, "key 'lora_alpha'");
    expect_config_error("cfg-rp", "{\"r\": 8, \"rank_pattern\": [4]}", LSC_ERR_FORMAT, "key 'rank_pattern'");
    expect_config_error("cfg-rpv", "{\"r\": 8, \"rank_pattern\": {\"q_proj\": \"4\"}}", LSC_ERR_FORMAT,
                        "key 'rank_pattern.q_proj'");
    expect_config_error("cfg-rp0", "{\"r\": 8, \"rank_pattern\": {\"q_proj\": 0}}", LSC_ERR_FORMAT,
                        "key 'rank_pattern.q_proj'");
    expect_config_error("cfg-ap", "{\"r\": 8, \"alpha_pattern\": \"x\"}", LSC_ERR_FORMAT, "key 'alpha_pattern'");
    expect_config_error("cfg-apv", "{\"r\": 8, \"alpha_pattern\": {\"v_proj\": null}}", LSC_ERR_FORMAT,
                        "key 'alpha_pattern.v_proj'");
    expect_config_error("cfg-ada", "{\"peft_type\": \"ADALORA\", \"rank_pattern\": {\"x.lora_E\": [1, 0]}}",
                        LSC_ERR_FORMAT, "key 'rank_pattern.x.lora_E'");
    expect_config_error("cfg-bool", "{\"r\": 8, \"use_rslora\": \"yes\"}", LSC_ERR_FORMAT, "key 'use_rslora'");
    expect_config_error("cfg-type", "{\"peft_type\": \"IA3\"}", LSC_ERR_UNSUPPORTED, "'IA3'");
    expect_config_error("cfg-regex", "{\"r\": 4, \"rank_pattern\": {\"(?!k)q_proj\": 4}}", LSC_ERR_UNSUPPORTED,
                        "rank_pattern.(?!k)q_proj");
    expect_config_error("cfg-array", "[1, 2]", LSC_ERR_FORMAT, "JSON object");
}
END_TEST

static void expect_tensor_error(const char *name, spec *s, lsc_status want, const char *n1, const char *n2)
{
    const char *dir = make_adapter(name, s, "{\"r\": 4, \"lora_alpha\": 8}");
    lsc_adapter *ad = NULL;
    lsc_error err;
    lsc_status st = lsc_peft_read(dir, &ad, &err);
    ck_assert_msg(st == want, "%s: status %d, want %d (%s)", name, st, want, err.msg);
    ck_assert_ptr_null(ad);
    ck_assert_msg(strstr(err.msg, "adapter_model.safetensors") != NULL, "%s: no file in '%s'", name, err.msg);
    ck_assert_msg(strstr(err.msg, n1) != NULL, "%s: '%s' not in '%s'", name, n1, err.msg);
    if (n2)
        ck_assert_msg(strstr(err.msg, n2) != NULL, "%s: '%s' not in '%s'", name, n2, err.msg);
    spec_free(s);
}

START_TEST(test_tensor_rejections)
{
    spec s = {0};
    spec_add(&s, PFX "0.q.lora_A.weight", LSC_DT_F32, 2, 4, 8, 0, 0);
    spec_add(&s, PFX "0.q.lora_B.weight", LSC_DT_F32, 2, 8, 3, 0, 0);
    expect_tensor_error("t-rank", &s, LSC_ERR_FORMAT, "'" PFX "0.q.lora_A.weight' has rank 4",
                        "'" PFX "0.q.lora_B.weight' has rank 3");

    spec_add(&s, PFX "0.q.lora_A.weight", LSC_DT_F32, 2, 4, 8, 0, 0);
    spec_add(&s, PFX "0.k.lora_A.default.weight", LSC_DT_F32, 2, 4, 8, 0, 0);
    spec_add(&s, PFX "0.k.lora_B.default.weight", LSC_DT_F32, 2, 8, 4, 0, 0);
    expect_tensor_error("t-noB", &s, LSC_ERR_FORMAT, "missing tensor '" PFX "0.q.lora_B.weight'", NULL);

    spec_add(&s, PFX "0.q.lora_B", LSC_DT_F32, 2, 8, 4, 0, 0);
    expect_tensor_error("t-noA", &s, LSC_ERR_FORMAT, "missing tensor '" PFX "0.q.lora_A'", NULL);

    spec_add(&s, "base_model.model.emb.lora_embedding_B", LSC_DT_F32, 2, 8, 4, 0, 0);
    expect_tensor_error("t-noEA", &s, LSC_ERR_FORMAT, "missing tensor 'base_model.model.emb.lora_embedding_A'", NULL);

    spec_add(&s, PFX "0.q.lora_A.weight", LSC_DT_F32, 2, 0, 8, 0, 0);
    spec_add(&s, PFX "0.q.lora_B.weight", LSC_DT_F32, 2, 8, 0, 0, 0);
    expect_tensor_error("t-empty", &s, LSC_ERR_FORMAT, "empty factor", PFX "0.q.lora_A.weight");

    spec_add(&s, PFX "0.q.lora_A.weight", LSC_DT_I32, 2, 4, 8, 0, 0);
    spec_add(&s, PFX "0.q.lora_B.weight", LSC_DT_F32, 2, 8, 4, 0, 0);
    expect_tensor_error("t-int", &s, LSC_ERR_UNSUPPORTED, "unsupported dtype I32 in tensor '" PFX "0.q.lora_A.weight'",
                        NULL);

    spec_add(&s, PFX "0.q.lora_A.weight", LSC_DT_F32, 2, 4, 8, 0, 0);
    spec_add(&s, PFX "0.q.lora_B.weight", LSC_DT_U8, 2, 8, 4, 0, 0);
    expect_tensor_error("t-u8", &s, LSC_ERR_UNSUPPORTED, "unsupported dtype U8 in tensor '" PFX "0.q.lora_B.weight'",
                        NULL);

    spec_add(&s, PFX "0.q.lora_A.weight", LSC_DT_F32, 2, 4, 8, 0, 0);
    spec_add(&s, PFX "0.q.lora_A.default.weight", LSC_DT_F32, 2, 4, 8, 0, 0);
    spec_add(&s, PFX "0.q.lora_B.weight", LSC_DT_F32, 2, 8, 4, 0, 0);
    expect_tensor_error("t-dup", &s, LSC_ERR_FORMAT, PFX "0.q.lora_A.default.weight", "same factor");

    spec_add(&s, PFX "0.q.lora_A.weight", LSC_DT_F32, 2, 4, 8, 0, 0);
    spec_add(&s, PFX "0.q.lora_B.weight", LSC_DT_F32, 2, 8, 4, 0, 0);
    spec_add(&s, PFX "0.q.lora_E", LSC_DT_F32, 2, 3, 1, 0, 0);
    expect_tensor_error("t-E", &s, LSC_ERR_FORMAT, PFX "0.q.lora_E", "[4, 1]");

    spec_add(&s, PFX "0.q.lora_A.weight", LSC_DT_F32, 1, 4, 0, 0, 0);
    spec_add(&s, PFX "0.q.lora_B.weight", LSC_DT_F32, 2, 8, 4, 0, 0);
    expect_tensor_error("t-1d", &s, LSC_ERR_FORMAT, PFX "0.q.lora_A.weight", "[r, in]");

    spec_add(&s, PFX "0.q.lora_A.weight", LSC_DT_F32, 4, 4, 3, 3, 3);
    spec_add(&s, PFX "0.q.lora_B.weight", LSC_DT_F32, 4, 8, 4, 3, 3);
    expect_tensor_error("t-convB", &s, LSC_ERR_FORMAT, PFX "0.q.lora_B.weight", "[out, r]");

    lsc_adapter *ad = NULL;
    lsc_error err;
    ck_assert_int_eq(lsc_peft_read(tpath("%s", "nowhere"), &ad, &err), LSC_ERR_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "nowhere'"));
    make_dir(tpath("%s", "empty"));
    ck_assert_int_eq(lsc_peft_read(tpath("%s", "empty"), &ad, &err), LSC_ERR_NOTFOUND);
    /* a corrupt safetensors file is refused by the safetensors reader, naming the file */
    make_dir(tpath("%s", "corrupt"));
    write_text(tpath("%s/adapter_model.safetensors", "corrupt"), "\x10\0\0\0\0\0\0\0{\"a\":1}");
    ck_assert_int_ne(lsc_peft_read(tpath("%s", "corrupt"), &ad, &err), LSC_OK);
    ck_assert_ptr_null(ad);
    ck_assert_ptr_nonnull(strstr(err.msg, "corrupt/adapter_model.safetensors"));
}
END_TEST

/* ---- listing -------------------------------------------------------------------------------------------- */

START_TEST(test_list)
{
    spec s = {0};
    spec_add(&s, PFX "0.q.lora_A.weight", LSC_DT_F32, 2, 2, 4, 0, 0);
    spec_add(&s, PFX "0.q.lora_B.weight", LSC_DT_F32, 2, 4, 2, 0, 0);
    make_adapter("multi", &s, "{\"r\": 2}");
    make_adapter("multi/translate", &s, "{\"r\": 2}");
    make_adapter("multi/summarize", &s, "{\"r\": 2}");
    make_dir(tpath("%s", "multi/not-an-adapter"));
    char **names;
    size_t n;
    lsc_error err;
    ck_assert_int_eq(lsc_peft_list(tpath("%s", "multi"), &names, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(names[0], "default");
    ck_assert_str_eq(names[1], "summarize");
    ck_assert_str_eq(names[2], "translate");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);

    make_dir(tpath("%s", "tasks"));
    make_adapter("tasks/a", &s, "{\"r\": 2}");
    ck_assert_int_eq(lsc_peft_list(tpath("%s", "tasks"), &names, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(names[0], "a");
    free(names[0]);
    free(names);

    ck_assert_int_eq(lsc_peft_list(tpath("%s", "multi/not-an-adapter"), &names, &n, &err), LSC_ERR_NOTFOUND);
    ck_assert_int_eq(lsc_peft_list(tpath("%s", "absent"), &names, &n, &err), LSC_ERR_NOTFOUND);
    spec_free(&s);
}
END_TEST

/* ---- writing -------------------------------------------------------------------------------------------- */

/* A safetensors file written byte by byte with a header in a style no canonical writer produces:
 * metadata last, spaces, keys in another order, padding. Returns the data values (f32). */
static void write_odd_file(const char *path)
{
    const char *hdr = "{ \"" PFX "0.mlp.up_proj.lora_A.weight\" : {\"shape\": [2, 3], \"dtype\": \"F32\", "
                      "\"data_offsets\": [0, 24]},\n \"" PFX "0.mlp.up_proj.lora_B.weight\": {\"data_offsets\": [24, 40],"
                      " \"dtype\": \"F16\", \"shape\": [4, 2]}, \"base_model.model.lm_head.weight\": {\"dtype\": \"BF16\","
                      " \"shape\": [3], \"data_offsets\": [40, 46]}, \"__metadata__\": {\"format\": \"pt\", "
                      "\"note\": \"hand made\"}}     ";
    size_t n = strlen(hdr);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)n >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(hdr, 1, n, f);
    float a[6] = {0.5f, -1.25f, 2.0f, 3.5f, -0.125f, 1.0f};
    fwrite(a, 4, 6, f);
    for (int i = 0; i < 8; i++) {
        uint16_t h = lsc_f32_to_f16((float)(i - 3) / 4.0f);
        fwrite(&h, 2, 1, f);
    }
    for (int i = 0; i < 3; i++) {
        uint16_t b = lsc_f32_to_bf16((float)i + 0.5f);
        fwrite(&b, 2, 1, f);
    }
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_write_verbatim)
{
    make_dir(tpath("%s", "odd"));
    write_odd_file(tpath("%s/adapter_model.safetensors", "odd"));
    const char *cfg = "{\"zeta_unknown\": {\"keep\": [1, 2.50, null]},\n\t\"r\":2, \"lora_alpha\": 4.0,"
                      "\"peft_type\":\"LORA\" ,\"target_modules\":[\"up_proj\"]}\n\n";
    write_text(tpath("%s/adapter_config.json", "odd"), cfg);
    lsc_adapter *ad;
    lsc_error err;
    ck_assert_msg(lsc_peft_read(tpath("%s", "odd"), &ad, &err) == LSC_OK, "%s", err.msg);
    ck_assert_uint_eq(ad->n_layers, 1);
    ck_assert_uint_eq(ad->n_tensors, 3);
    ck_assert_int_eq(ad->tensors[2].role, LSC_ROLE_EXTRA);
    ck_assert_str_eq(ad->metadata_json, "{\"format\":\"pt\",\"note\":\"hand made\"}");

    make_dir(tpath("%s", "out")); /* the parent folder must exist (lsc_peft_write creates only the last) */
    make_dir(tpath("%s", "out/nested"));
    ck_assert_msg(lsc_peft_write(ad, tpath("%s", "out/nested/odd"), LSC_DT_INVALID, &err) == LSC_OK, "%s", err.msg);
    ck_assert(same_file(tpath("%s/adapter_model.safetensors", "odd"),
                        tpath("%s/adapter_model.safetensors", "out/nested/odd")));
    ck_assert(same_file(tpath("%s/adapter_config.json", "odd"), tpath("%s/adapter_config.json", "out/nested/odd")));

    /* over an existing export: replaced atomically, no temporary files left */
    ck_assert_int_eq(lsc_peft_write(ad, tpath("%s", "out/nested/odd"), LSC_DT_INVALID, &err), LSC_OK);
    DIR *d = opendir(tpath("%s", "out/nested/odd"));
    int entries = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        entries += e->d_name[0] != '.' || strlen(e->d_name) > 2;
    closedir(d);
    ck_assert_int_eq(entries, 2);

    /* a changed tensor list (a dropped extra) cannot reuse the header: a canonical file that reads back */
    ad->n_tensors = 2;
    ck_assert_int_eq(lsc_peft_write(ad, tpath("%s", "out/canon"), LSC_DT_INVALID, &err), LSC_OK);
    ad->n_tensors = 3;
    ck_assert(!same_file(tpath("%s/adapter_model.safetensors", "odd"),
                         tpath("%s/adapter_model.safetensors", "out/canon")));
    ck_assert(same_file(tpath("%s/adapter_config.json", "odd"), tpath("%s/adapter_config.json", "out/canon")));
    lsc_adapter *back;
    ck_assert_int_eq(lsc_peft_read(tpath("%s", "out/canon"), &back, &err), LSC_OK);
    ck_assert_uint_eq(back->n_tensors, 2);
    ck_assert_str_eq(back->metadata_json, ad->metadata_json);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(lsc_adapter_load_tensor(back, i, &err), LSC_OK);
        ck_assert_int_eq(lsc_adapter_load_tensor(ad, i, &err), LSC_OK);
        ck_assert_int_eq(back->tensors[i].dtype, ad->tensors[i].dtype);
        ck_assert(memcmp(back->tensors[i].data, ad->tensors[i].data, ad->tensors[i].nbytes) == 0);
    }
    lsc_adapter_free(back);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_write_f16)
{
    spec s = {0};
    spec_add(&s, PFX "0.self_attn.q_proj.lora_A.weight", LSC_DT_F32, 2, 4, 32, 0, 0);
    spec_add(&s, PFX "0.self_attn.q_proj.lora_B.weight", LSC_DT_F32, 2, 16, 4, 0, 0);
    spec_add(&s, "base_model.model.classifier.weight", LSC_DT_F32, 2, 3, 16, 0, 0);
    spec_add(&s, "base_model.model.classifier.steps", LSC_DT_I64, 1, 2, 0, 0, 0);
    for (size_t i = 0; i < 128; i++) /* values that f16 must round */
        s.vals[0][i] = 0.1 * (double)(i + 1) / 3.0;
    const char *cfg = "{\"r\": 4, \"lora_alpha\": 8, \"modules_to_save\": [\"classifier\"]}";
    const char *dir = make_adapter("f32", &s, cfg);
    lsc_adapter *ad, *back;
    lsc_error err;
    ck_assert_int_eq(lsc_peft_read(dir, &ad, &err), LSC_OK);
    ck_assert_msg(lsc_peft_write(ad, tpath("%s", "as-f16"), LSC_DT_F16, &err) == LSC_OK, "%s", err.msg);
    ck_assert(same_file(tpath("%s/adapter_config.json", "f32"), tpath("%s/adapter_config.json", "as-f16")));
    ck_assert_int_eq(lsc_peft_read(tpath("%s", "as-f16"), &back, &err), LSC_OK);
    ck_assert_uint_eq(back->n_tensors, 4);
    for (size_t t = 0; t < 3; t++) {
        ck_assert_int_eq(back->tensors[t].dtype, LSC_DT_F16);
        ck_assert_str_eq(back->tensors[t].key, s.name[t]);
        ck_assert_int_eq(lsc_adapter_load_tensor(back, t, &err), LSC_OK);
        const uint8_t *p = back->tensors[t].data;
        for (size_t i = 0; i < numel_of(&s, t); i++) {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            float src = (float)s.vals[t][i];
            ck_assert_uint_eq(h, lsc_f32_to_f16(src));
            ck_assert(fabs(lsc_f16_to_f32(h) - src) <= fabs(src) * 0x1p-11);
        }
    }
    /* integer extras keep their dtype and bytes */
    ck_assert_int_eq(back->tensors[3].dtype, LSC_DT_I64);
    ck_assert_int_eq(back->tensors[3].role, LSC_ROLE_EXTRA);
    ck_assert_double_eq(back->layers[0].scale, 2.0);
    lsc_adapter_free(back);

    /* an f32 value beyond f16's range: refused, naming the tensor, and no file is left behind */
    ck_assert_int_eq(lsc_adapter_load_tensor(ad, 1, &err), LSC_OK);
    float big = 70000.0f;
    memcpy(ad->tensors[1].data + 4 * 5, &big, 4);
    ck_assert_int_eq(lsc_peft_write(ad, tpath("%s", "overflow"), LSC_DT_F16, &err), LSC_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(err.msg, PFX "0.self_attn.q_proj.lora_B.weight"));
    ck_assert_ptr_nonnull(strstr(err.msg, "F16"));
    ck_assert(access(tpath("%s/adapter_model.safetensors", "overflow"), F_OK) != 0);
    ck_assert(access(tpath("%s/adapter_config.json", "overflow"), F_OK) != 0);
    DIR *d = opendir(tpath("%s", "overflow"));
    int entries = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    ck_assert_int_eq(entries, 0);
    /* the same value fits bf16 */
    ck_assert_int_eq(lsc_peft_write(ad, tpath("%s", "as-bf16"), LSC_DT_BF16, &err), LSC_OK);
    ck_assert_int_eq(lsc_peft_write(ad, tpath("%s", "bad"), LSC_DT_I8, &err), LSC_ERR_INVALID);
    lsc_adapter_free(ad);
    spec_free(&s);
}
END_TEST

/* Build an adapter in memory (no source config, no header): layers with their own ranks and alphas. */
static lsc_adapter *memory_adapter(const char *const *prefixes, const int *ranks, const double *alphas, size_t n,
                                   lsc_scale_rule rule)
{
    lsc_adapter *ad = lsc_adapter_new();
    ad->format = strdup("peft");
    ad->base_model = strdup("tiny/base");
    lsc_error err;
    for (size_t i = 0; i < n; i++) {
        size_t li, ta, tb;
        ck_assert_int_eq(lsc_adapter_add_layer(ad, prefixes[i], &li, &err), LSC_OK);
        char key[256];
        int64_t as[] = {ranks[i], 12}, bs[] = {10, ranks[i]};
        float *a = malloc(sizeof(float) * 12 * (size_t)ranks[i]), *b = malloc(sizeof(float) * 10 * (size_t)ranks[i]);
        for (int k = 0; k < 12 * ranks[i]; k++)
            a[k] = (float)exact_value(i, (size_t)k);
        for (int k = 0; k < 10 * ranks[i]; k++)
            b[k] = (float)exact_value(i + 1, (size_t)k);
        snprintf(key, sizeof key, "%s.lora_A.weight", prefixes[i]);
        ck_assert_int_eq(lsc_adapter_add_tensor(ad, key, LSC_ROLE_A, (int)li, LSC_DT_F32, 2, as, a, &ta, &err), LSC_OK);
        snprintf(key, sizeof key, "%s.lora_B.weight", prefixes[i]);
        ck_assert_int_eq(lsc_adapter_add_tensor(ad, key, LSC_ROLE_B, (int)li, LSC_DT_F32, 2, bs, b, &tb, &err), LSC_OK);
        lsc_layer *l = &ad->layers[li];
        const char *dot = strrchr(prefixes[i], '.');
        free(l->module_type);
        l->module_type = strdup(dot + 1);
        l->ta = (int)ta;
        l->tb = (int)tb;
        l->rank = ranks[i];
        l->rows = 10;
        l->cols = 12;
        l->alpha = alphas[i];
        l->rule = rule;
        l->scale = lsc_scale_compute(rule, alphas[i], ranks[i], 0, 0);
    }
    return ad;
}

static void check_same_layers(const lsc_adapter *a, const lsc_adapter *b)
{
    ck_assert_uint_eq(a->n_layers, b->n_layers);
    for (size_t i = 0; i < a->n_layers; i++) {
        const lsc_layer *x = &a->layers[i], *y = layer_named(b, a->layers[i].name);
        ck_assert_int_eq(x->rank, y->rank);
        ck_assert_msg(fabs(x->scale - y->scale) <= 1e-12 * fabs(x->scale), "layer '%s': scale %.17g vs %.17g", x->name,
                      x->scale, y->scale);
    }
}

START_TEST(test_write_rank_patterns)
{
    /* names chosen so literal keys are suffixes of other names: the writer must order them */
    const char *prefixes[] = {
        "base_model.model.model.layers.0.self_attn.q_proj", "base_model.model.vision.model.layers.0.self_attn.q_proj",
        "base_model.model.model.layers.0.self_attn.v_proj", "base_model.model.model.layers.1.self_attn.q_proj",
        "base_model.model.model.layers.1.self_attn.v_proj", "base_model.model.model.layers.1.mlp.up_proj"};
    const int ranks[] = {4, 8, 8, 2, 8, 6};
    const double alphas[] = {8, 16, 16, 16, 16, 3};
    lsc_adapter *ad = memory_adapter(prefixes, ranks, alphas, 6, LSC_SCALE_ALPHA_R);
    lsc_error err;
    ck_assert_msg(lsc_peft_write(ad, tpath("%s", "ranks"), LSC_DT_INVALID, &err) == LSC_OK, "%s", err.msg);
    lsc_adapter *back;
    ck_assert_msg(lsc_peft_read(tpath("%s", "ranks"), &back, &err) == LSC_OK, "%s", err.msg);
    check_same_layers(ad, back);
    ck_assert_msg(back->warnings == NULL, "%s", back->warnings);
    ck_assert_str_eq(back->kind, "layer-wise");
    /* the written config is a real PEFT LoraConfig */
    json_error_t je;
    json_t *root = json_loads(back->config_json, JSON_REJECT_DUPLICATES, &je);
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(json_string_value(json_object_get(root, "peft_type")), "LORA");
    ck_assert_int_eq(json_integer_value(json_object_get(root, "r")), 8);
    ck_assert_int_eq(json_integer_value(json_object_get(root, "lora_alpha")), 16);
    ck_assert_str_eq(json_string_value(json_object_get(root, "base_model_name_or_path")), "tiny/base");
    json_t *rp = json_object_get(root, "rank_pattern");
    ck_assert_int_eq(json_integer_value(json_object_get(rp, "model.layers.0.self_attn.q_proj")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(rp, "model.layers.1.self_attn.q_proj")), 2);
    /* q0, q1, up, and the vision q_proj: the literal key of q0 also selects it (a suffix), so it needs
     * its own key, written before the shorter one; the rest take r */
    ck_assert_uint_eq(json_object_size(rp), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(rp, "vision.model.layers.0.self_attn.q_proj")), 8);
    ck_assert_str_eq(json_object_iter_key(json_object_iter(rp)), "vision.model.layers.0.self_attn.q_proj");
    json_t *tm = json_object_get(root, "target_modules");
    ck_assert_uint_eq(json_array_size(tm), 3);
    ck_assert_str_eq(json_string_value(json_array_get(tm, 0)), "q_proj");
    json_decref(root);
    lsc_adapter_free(back);

    /* the same layers, now over a source config with unknown keys and an existing pattern */
    const char *cfg = "{\n  \"zz_custom\": [1, 2],\n  \"r\": 8,\n  \"lora_alpha\": 16,\n  \"lora_dropout\": 0.05,\n"
                      "  \"rank_pattern\": {\"q_proj\": 8},\n  \"alpha_pattern\": {},\n  \"a_last\": \"x\"\n}";
    ad->config_json = strdup(cfg);
    ck_assert_msg(lsc_peft_write(ad, tpath("%s", "ranks2"), LSC_DT_INVALID, &err) == LSC_OK, "%s", err.msg);
    ck_assert_msg(lsc_peft_read(tpath("%s", "ranks2"), &back, &err) == LSC_OK, "%s", err.msg);
    check_same_layers(ad, back);
    ck_assert_msg(back->warnings == NULL, "%s", back->warnings);
    /* every key kept, in the source order; reals written as Python writes them */
    const char *t = back->config_json;
    const char *p1 = strstr(t, "\"zz_custom\""), *p2 = strstr(t, "\"r\": 8"), *p3 = strstr(t, "\"lora_dropout\": 0.05,"),
               *p4 = strstr(t, "\"rank_pattern\""), *p5 = strstr(t, "\"a_last\": \"x\"");
    ck_assert(p1 && p2 && p3 && p4 && p5);
    ck_assert(p1 < p2 && p2 < p3 && p3 < p4 && p4 < p5);
    lsc_adapter_free(back);

    /* rsLoRA layers without a source config: use_rslora with alphas that give the same scales */
    free(ad->config_json);
    ad->config_json = NULL;
    for (size_t i = 0; i < ad->n_layers; i++) {
        ad->layers[i].rule = LSC_SCALE_RSLORA;
        ad->layers[i].scale = lsc_scale_compute(LSC_SCALE_RSLORA, ad->layers[i].alpha, ad->layers[i].rank, 0, 0);
    }
    ck_assert_int_eq(lsc_peft_write(ad, tpath("%s", "ranks3"), LSC_DT_INVALID, &err), LSC_OK);
    ck_assert_int_eq(lsc_peft_read(tpath("%s", "ranks3"), &back, &err), LSC_OK);
    check_same_layers(ad, back);
    ck_assert_int_eq(back->layers[0].rule, LSC_SCALE_RSLORA);
    lsc_adapter_free(back);

    /* a layer with a fixed scale (an edit): alpha is derived so PEFT applies that scale */
    ad->layers[2].rule = LSC_SCALE_FIXED;
    ad->layers[2].scale = 0.375;
    ck_assert_int_eq(lsc_peft_write(ad, tpath("%s", "ranks4"), LSC_DT_INVALID, &err), LSC_OK);
    ck_assert_int_eq(lsc_peft_read(tpath("%s", "ranks4"), &back, &err), LSC_OK);
    check_same_layers(ad, back);
    lsc_adapter_free(back);
    lsc_adapter_free(ad);
}
END_TEST

/* Read a source, change one layer's rank as a resize would, export, re-read. */
START_TEST(test_write_after_resize)
{
    char names[8][160];
    size_t k = 0;
    spec s = {0};
    add_pair(&s, PFX "0.self_attn.q_proj", 8, 16, 16, names, &k);
    add_pair(&s, PFX "1.self_attn.q_proj", 8, 16, 16, names, &k);
    spec_add(&s, "base_model.model.score.weight", LSC_DT_F32, 2, 2, 16, 0, 0);
    const char *cfg = "{\"r\": 8, \"lora_alpha\": 16, \"target_modules\": [\"q_proj\"]}";
    const char *dir = make_adapter("src", &s, cfg);
    lsc_adapter *ad, *back;
    lsc_error err;
    ck_assert_int_eq(lsc_peft_read(dir, &ad, &err), LSC_OK);
    /* truncate layer 1 to rank 3: keep the first 3 rows of A and columns of B */
    lsc_layer *l = &ad->layers[1];
    for (int t = 0; t < 2; t++) {
        int ti = t ? l->tb : l->ta;
        ck_assert_int_eq(lsc_adapter_load_tensor(ad, (size_t)ti, &err), LSC_OK);
    }
    lsc_tensor *A = &ad->tensors[l->ta], *B = &ad->tensors[l->tb];
    float nb[16 * 3];
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 3; j++)
            memcpy(&nb[i * 3 + j], B->data + 4 * (i * 8 + j), 4);
    memcpy(B->data, nb, sizeof nb);
    A->shape[0] = 3;
    A->nbytes = 3 * 16 * 4;
    B->shape[1] = 3;
    B->nbytes = 16 * 3 * 4;
    l->rank = 3;
    l->scale = lsc_scale_compute(l->rule, l->alpha, 3, 0, 0);
    ck_assert_msg(lsc_peft_write(ad, tpath("%s", "resized"), LSC_DT_INVALID, &err) == LSC_OK, "%s", err.msg);
    ck_assert_int_eq(lsc_peft_read(tpath("%s", "resized"), &back, &err), LSC_OK);
    check_same_layers(ad, back);
    ck_assert_ptr_null(back->warnings);
    ck_assert_ptr_nonnull(strstr(back->config_json, "\"model.layers.1.self_attn.q_proj\": 3"));
    ck_assert_ptr_nonnull(strstr(back->config_json, "\"target_modules\": [\n    \"q_proj\"\n  ]"));
    /* the extra survives with its bytes */
    ck_assert_uint_eq(back->n_tensors, 5);
    ck_assert_int_eq(back->tensors[4].role, LSC_ROLE_EXTRA);
    ck_assert_int_eq(lsc_adapter_load_tensor(back, 4, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_load_tensor(ad, 4, &err), LSC_OK);
    ck_assert(memcmp(back->tensors[4].data, ad->tensors[4].data, 2 * 16 * 4) == 0);
    /* and the truncated factors are what was written */
    double *Bd = NULL, *Ad = NULL;
    size_t bc = 0, ac = 0;
    lsc_lowrank lr;
    ck_assert_int_eq(lsc_adapter_factors(back, 1, &Bd, &bc, &Ad, &ac, &lr, &err), LSC_OK);
    ck_assert_int_eq(lr.r, 3);
    for (int i = 0; i < 16 * 3; i++)
        ck_assert_double_eq(lr.B[i], (double)nb[i]);
    for (int i = 0; i < 3 * 16; i++)
        ck_assert_double_eq(lr.A[i], s.vals[2][i]);
    free(Bd);
    free(Ad);
    lsc_adapter_free(back);
    lsc_adapter_free(ad);
    spec_free(&s);
}
END_TEST

/* Issue #13 item 3: replacing a PEFT folder. Until the one swap the target holds the old pair untouched
 * (the new pair is complete in the hidden sibling: a kill at any moment leaves old or new, never a mix);
 * an abort leaves no trace; after the commit it holds the new pair and the user's other files. */
START_TEST(test_write_folder_swap)
{
    make_dir(tpath("%s", "odd"));
    write_odd_file(tpath("%s/adapter_model.safetensors", "odd"));
    write_text(tpath("%s/adapter_config.json", "odd"), "{\"r\": 2, \"lora_alpha\": 4.0, \"peft_type\": \"LORA\"}\n");
    lsc_adapter *ad;
    lsc_error err;
    ck_assert_msg(lsc_peft_read(tpath("%s", "odd"), &ad, &err) == LSC_OK, "%s", err.msg);
    make_dir(tpath("%s", "new"));
    ck_assert_int_eq(lsc_peft_write(ad, tpath("%s", "new"), LSC_DT_F64, &err), LSC_OK); /* the "new" pair */
    char dst[1100];
    snprintf(dst, sizeof dst, "%s", tpath("%s", "dst")); /* tpath's buffers rotate */
    ck_assert_int_eq(lsc_peft_write(ad, dst, LSC_DT_INVALID, &err), LSC_OK);       /* the "old" pair */
    write_text(tpath("%s/README.md", "dst"), "notes\n");
    ck_assert_int_eq(chmod(dst, 0750), 0); /* a replaced folder keeps its mode */
    ck_assert(!same_file(tpath("%s/adapter_model.safetensors", "new"), tpath("%s/adapter_model.safetensors", "dst")));
    for (int commit = 0; commit < 3; commit++) {
        lsc_fileio_test_no_exchange = commit == 2; /* the last round: the fallback without RENAME_EXCHANGE */
        lsc_atomic_folder tx;
        ck_assert_int_eq(lsc_atomic_folder_begin(&tx, dst, &err), LSC_OK);
        ck_assert_int_eq(lsc_peft_write_into(ad, tx.tmp, LSC_DT_F64, &err), LSC_OK);
        /* both new files are complete, and the target still holds exactly the old pair */
        char nw[1200];
        snprintf(nw, sizeof nw, "%s/adapter_model.safetensors", tx.tmp);
        ck_assert(same_file(nw, tpath("%s/adapter_model.safetensors", "new")));
        const char *old = commit == 2 ? "new" : "odd"; /* round 2 replaces the pair round 1 wrote */
        ck_assert(same_file(tpath("%s/adapter_model.safetensors", old), tpath("%s/adapter_model.safetensors", "dst")));
        ck_assert(same_file(tpath("%s/adapter_config.json", old), tpath("%s/adapter_config.json", "dst")));
        if (commit)
            ck_assert_msg(lsc_atomic_folder_commit(&tx, &err) == LSC_OK, "%s", err.msg);
        else
            lsc_atomic_folder_abort(&tx);
        ck_assert_ptr_null(tx.tmp);
        /* no hidden sibling left either way */
        DIR *d = opendir(tmp_root);
        struct dirent *e;
        while ((e = readdir(d)))
            ck_assert_msg(e->d_name[0] != '.' || strlen(e->d_name) <= 2, "left behind: %s", e->d_name);
        closedir(d);
    }
    lsc_fileio_test_no_exchange = 0;
    struct stat sb;
    ck_assert(stat(dst, &sb) == 0 && (sb.st_mode & 07777) == 0750);
    ck_assert(same_file(tpath("%s/adapter_model.safetensors", "new"), tpath("%s/adapter_model.safetensors", "dst")));
    ck_assert(same_file(tpath("%s/adapter_config.json", "new"), tpath("%s/adapter_config.json", "dst")));
    size_t rl = 0;
    char *readme = read_all(tpath("%s/README.md", "dst"), &rl);
    ck_assert(readme && rl == 6 && memcmp(readme, "notes\n", 6) == 0);
    free(readme);
    /* a regular file where the folder would go is refused and left alone */
    write_text(tpath("%s", "plain"), "x");
    ck_assert_int_eq(lsc_peft_write(ad, tpath("%s", "plain"), LSC_DT_INVALID, &err), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a folder"));
    lsc_adapter_free(ad);
}
END_TEST

/* ---- the bundled samples ---------------------------------------------------------------------------------- */

START_TEST(test_samples)
{
    const char *build = getenv("LSC_BUILD");
    ck_assert_msg(build != NULL, "LSC_BUILD not set");
    char gen[1024], cmd[4096];
    snprintf(gen, sizeof gen, "%s/samples/gen-samples", build);
    ck_assert_msg(access(gen, X_OK) == 0, "'%s' not built", gen);
    snprintf(cmd, sizeof cmd, "'%s' '%s/s1' && '%s' '%s/s2' && diff -r '%s/s1' '%s/s2' >/dev/null", gen, tmp_root, gen,
             tmp_root, tmp_root, tmp_root);
    int rc = system(cmd);
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "generator failed or is not deterministic");

    static const struct {
        const char *name, *kind;
        size_t layers, tensors;
        int rank0;
        double scale0;
        unsigned flags0;
    } want[] = {
        {"llama-tiny-f32", "static", 28, 56, 8, 2.0, 0},
        {"llama-tiny-f16", "static", 28, 56, 8, 2.0, 0},
        {"llama-tiny-bf16", "static", 28, 56, 16, 2.0, 0},
        {"llama-tiny-rslora", "static", 28, 56, 16, 4.0, 0},
        {"llama-tiny-patterns", "layer-wise", 28, 56, 8, 1.0, 0}, /* layers.0.mlp.down_proj: alpha 8 / r 8 */
        {"gpt2-tiny-conv1d", "static", 16, 33, 8, 4.0, LSC_LAYER_FAN_IN_FAN_OUT},
        {"tasks/summarize", "static", 8, 16, 8, 2.0, 0},
        {"tasks/translate", "static", 8, 16, 8, 2.0, 0},
        {"llama-tiny-adalora", "adaptive", 16, 48, -1, 32.0 / 12.00001, LSC_LAYER_ADALORA},
        {"llama-tiny-dora", "static", 8, 24, 8, 2.0, LSC_LAYER_DORA},
    };
    int64_t total = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char dir[1024], out[1100];
        snprintf(dir, sizeof dir, "%s/s1/%s", tmp_root, want[i].name);
        lsc_adapter *ad;
        lsc_error err;
        ck_assert_msg(lsc_peft_read(dir, &ad, &err) == LSC_OK, "%s: %s", want[i].name, err.msg);
        ck_assert_msg(ad->warnings == NULL, "%s: %s", want[i].name, ad->warnings);
        ck_assert_str_eq(ad->kind, want[i].kind);
        ck_assert_uint_eq(ad->n_layers, want[i].layers);
        ck_assert_uint_eq(ad->n_tensors, want[i].tensors);
        if (want[i].rank0 > 0)
            ck_assert_int_eq(ad->layers[0].rank, want[i].rank0);
        ck_assert_double_eq_tol(ad->layers[0].scale, want[i].scale0, 1e-12);
        ck_assert_uint_eq(ad->layers[0].flags, want[i].flags0);
        total += lsc_adapter_bytes(ad);
        /* every layer's factor view loads */
        double *B = NULL, *A = NULL;
        size_t bc = 0, ac = 0;
        lsc_lowrank lr;
        for (size_t li = 0; li < ad->n_layers; li++)
            ck_assert_msg(lsc_adapter_factors(ad, li, &B, &bc, &A, &ac, &lr, &err) == LSC_OK, "%s", err.msg);
        free(B);
        free(A);
        /* unedited export: byte-identical */
        snprintf(out, sizeof out, "%s/export", tmp_root);
        mkdir(out, 0777);
        if (strchr(want[i].name, '/')) {
            snprintf(out, sizeof out, "%s/export/%.*s", tmp_root, (int)(strchr(want[i].name, '/') - want[i].name),
                     want[i].name);
            mkdir(out, 0777);
        }
        snprintf(out, sizeof out, "%s/export/%s", tmp_root, want[i].name);
        ck_assert_msg(lsc_peft_write(ad, out, LSC_DT_INVALID, &err) == LSC_OK, "%s", err.msg);
        char a[1200], b[1200];
        snprintf(a, sizeof a, "%s/adapter_model.safetensors", dir);
        snprintf(b, sizeof b, "%s/adapter_model.safetensors", out);
        ck_assert_msg(same_file(a, b), "%s: model differs", want[i].name);
        snprintf(a, sizeof a, "%s/adapter_config.json", dir);
        snprintf(b, sizeof b, "%s/adapter_config.json", out);
        ck_assert_msg(same_file(a, b), "%s: config differs", want[i].name);
        if (strcmp(want[i].name, "llama-tiny-patterns") == 0) {
            ck_assert_int_eq(layer_named(ad, PFX "0.mlp.gate_proj")->rank, 4);
            ck_assert_int_eq(layer_named(ad, PFX "2.mlp.gate_proj")->rank, 8);
            ck_assert_int_eq(layer_named(ad, PFX "3.self_attn.v_proj")->rank, 12);
            ck_assert_double_eq(layer_named(ad, PFX "3.self_attn.v_proj")->scale, 2.0);
            ck_assert_double_eq(layer_named(ad, PFX "1.mlp.gate_proj")->scale, 4.0);
        }
        if (strcmp(want[i].name, "gpt2-tiny-conv1d") == 0) {
            /* sorted by name, the head comes first */
            ck_assert_str_eq(ad->tensors[0].key, "base_model.model.score.weight");
            ck_assert_int_eq(ad->tensors[0].role, LSC_ROLE_EXTRA);
            ck_assert_int_eq(layer_named(ad, "base_model.model.transformer.h.2.attn.c_attn")->rows, 768);
        }
        lsc_adapter_free(ad);
    }
    ck_assert_int_lt(total, 5 * 1000 * 1000);
    char **names;
    size_t n;
    lsc_error err;
    char tasks[1024];
    snprintf(tasks, sizeof tasks, "%s/s1/tasks", tmp_root);
    ck_assert_int_eq(lsc_peft_list(tasks, &names, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(names[0], "summarize");
    ck_assert_str_eq(names[1], "translate");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
END_TEST

/* The temporaries of lsc_atomic_begin and lsc_atomic_folder_begin are ".BASE.tmp-PID-XXXXXX" with this
 * process's PID and are locked while the write lasts (another open of them cannot take the lock). A
 * writer killed with SIGKILL mid-write (a child here, so no timing is involved) leaves its temporary;
 * the next write to the same target removes it and succeeds; a file write does not touch a folder
 * write's stray of the same target, nor the reverse. */
static void check_owned(const char *tmp, const char *base, int folder)
{
    char want[512];
    snprintf(want, sizeof want, ".%s.tmp-%ld-", base, (long)getpid());
    const char *name = strrchr(tmp, '/') + 1;
    ck_assert_msg(strncmp(name, want, strlen(want)) == 0 && strlen(name) == strlen(want) + 6, "temporary %s", name);
    int fd = open(tmp, O_RDONLY | O_CLOEXEC | (folder ? O_DIRECTORY : 0));
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK, "%s is not locked", name);
    close(fd);
}

static int hidden_count(void)
{
    int n = 0;
    DIR *d = opendir(tmp_root);
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] == '.' && strlen(e->d_name) > 2;
    closedir(d);
    return n;
}

START_TEST(test_atomic_temporaries_owned)
{
    lsc_error err;
    lsc_atomic_file f;
    lsc_atomic_folder tx;
    ck_assert_int_eq(lsc_atomic_begin(&f, tpath("%s", "x.bin"), &err), LSC_OK);
    check_owned(f.tmp, "x.bin", 0);
    lsc_atomic_abort(&f);
    ck_assert_int_eq(lsc_atomic_folder_begin(&tx, tpath("%s", "x.bin"), &err), LSC_OK);
    check_owned(tx.tmp, "x.bin", 1);
    lsc_atomic_folder_abort(&tx);
    ck_assert_int_eq(hidden_count(), 0);
    for (int folder = 0; folder < 2; folder++) {
        pid_t c = fork();
        ck_assert_int_ge(c, 0);
        if (c == 0) { /* a writer killed halfway */
            if (folder ? lsc_atomic_folder_begin(&tx, tpath("%s", "x.bin"), &err) == LSC_OK
                       : lsc_atomic_begin(&f, tpath("%s", "x.bin"), &err) == LSC_OK &&
                             write(f.fd, "half", 4) == 4)
                raise(SIGKILL);
            _exit(1);
        }
        int status;
        ck_assert_int_eq(waitpid(c, &status, 0), c);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the writer was not killed");
        ck_assert_int_eq(hidden_count(), 1);
        if (folder) { /* a file write leaves the folder's stray alone; a folder write removes it */
            ck_assert_int_eq(lsc_atomic_begin(&f, tpath("%s", "x.bin"), &err), LSC_OK);
            lsc_atomic_abort(&f);
            ck_assert_int_eq(hidden_count(), 1);
            ck_assert_int_eq(lsc_atomic_folder_begin(&tx, tpath("%s", "x.bin"), &err), LSC_OK);
            ck_assert_int_eq(hidden_count(), 1); /* ours alone */
            ck_assert_msg(lsc_atomic_folder_commit(&tx, &err) == LSC_OK, "%s", err.msg);
        } else {
            ck_assert_int_eq(lsc_atomic_folder_begin(&tx, tpath("%s", "x.bin"), &err), LSC_OK);
            lsc_atomic_folder_abort(&tx);
            ck_assert_int_eq(hidden_count(), 1);
            ck_assert_int_eq(lsc_atomic_begin(&f, tpath("%s", "x.bin"), &err), LSC_OK);
            ck_assert_int_eq(hidden_count(), 1); /* ours alone */
            ck_assert_int_eq(write(f.fd, "whole", 5), 5);
            ck_assert_msg(lsc_atomic_commit(&f, &err) == LSC_OK, "%s", err.msg);
            ck_assert_int_eq(unlink(tpath("%s", "x.bin")), 0);
        }
        ck_assert_int_eq(hidden_count(), 0);
    }
}
END_TEST

static Suite *peft_suite(void)
{
    Suite *s = suite_create("peft");
    TCase *tc = tcase_create("read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_naming_variants);
    tcase_add_test(tc, test_each_dtype);
    tcase_add_test(tc, test_plain_and_rslora);
    tcase_add_test(tc, test_patterns);
    tcase_add_test(tc, test_adalora);
    tcase_add_test(tc, test_config_rejections);
    tcase_add_test(tc, test_tensor_rejections);
    tcase_add_test(tc, test_list);
    suite_add_tcase(s, tc);
    TCase *tw = tcase_create("write");
    tcase_add_checked_fixture(tw, setup, teardown);
    tcase_add_test(tw, test_write_verbatim);
    tcase_add_test(tw, test_write_f16);
    tcase_add_test(tw, test_write_rank_patterns);
    tcase_add_test(tw, test_write_after_resize);
    tcase_add_test(tw, test_samples);
    tcase_add_test(tw, test_write_folder_swap);
    tcase_add_test(tw, test_atomic_temporaries_owned);
    tcase_set_timeout(tw, 120);
    suite_add_tcase(s, tw);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(peft_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
