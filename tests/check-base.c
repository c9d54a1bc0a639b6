/* check-base.c: issue #19 end to end through the real binary: `base`, `show --base`, `bake`, on small
 * generated bases (one .safetensors file, a sharded folder with its index, a GGUF model).
 *
 * Figures are compared with the dense float64 reference (basefig_ref.h: full SVDs of W and W + dW):
 * norms, ratios and amplification to 1e-9, subspace similarities to 1e-6, intruder counts exactly. Bakes
 * are compared bit for bit with W + s*B*A computed here in float64 and rounded once (dtype.h's
 * correctly rounded conversions), and every tensor the adapter does not touch must be byte-identical.
 * A base changed on disk after `base` is refused by show and bake; bad bases (missing shard, an index
 * naming a missing tensor, a shape that does not fit, a truncated file, a layer with no base tensor) exit 1
 * with one line naming the file and the tensor, and record nothing.
 */
#include <check.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basefig_ref.h"
#include "cli_util.h"
#include "dtype.h"
#include "safetensors.h"

enum { ROWS = 48, COLS = 64, R = 4, NB = 2, EMB = 10 };
#define SCALE 2.0 /* lora_alpha 8 / r 4 */

typedef struct model {
    double W[NB][ROWS * COLS]; /* base weights as stored (after rounding to the base dtype) */
    float emb[EMB * COLS], norm[COLS];
    double B[NB][ROWS * R], A[NB][R * COLS]; /* adapter factors (exact in F32) */
    unsigned char wbytes[NB][ROWS * COLS * 4];
} model;

static model g_m;
static char *g_dir;
static int g_fifo; /* fan_in_fan_out (GPT-2 Conv1D): the base stores each weight transposed, [COLS, ROWS] */

/* The base weights (gapped spectra), stored as `dt`; factors as floats. */
static void make_model(lsc_dtype dt)
{
    rng_state = 1234;
    for (int b = 0; b < NB; b++) {
        double *w = gapped(ROWS, COLS, 4.0, 0.75);
        ck_assert_int_eq(lsc_dtype_from_double(dt, w, ROWS * COLS, g_m.wbytes[b], NULL), LSC_OK);
        ck_assert_int_eq(lsc_dtype_to_double(dt, g_m.wbytes[b], ROWS * COLS, g_m.W[b]), LSC_OK);
        free(w);
        for (int i = 0; i < ROWS * R; i++)
            g_m.B[b][i] = (float)(0.3 * gauss());
        for (int i = 0; i < R * COLS; i++)
            g_m.A[b][i] = (float)(0.3 * gauss());
    }
    for (int i = 0; i < EMB * COLS; i++)
        g_m.emb[i] = (float)gauss();
    for (int i = 0; i < COLS; i++)
        g_m.norm[i] = 1.0f + (float)i / 64;
}

static char *path_of(const char *name)
{
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* ---- writing bases and the adapter ----------------------------------------------------------------- */

typedef struct tw {
    const char *name, *dtype;
    int ndim;
    int64_t shape[2];
    const void *data;
    size_t nbytes;
} tw;

static void write_st(const char *path, const tw *t, int n)
{
    char hdr[8192];
    size_t o = (size_t)snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t off = 0, total = 0;
    for (int i = 0; i < n; i++)
        total += t[i].nbytes;
    unsigned char *data = malloc(total ? total : 1);
    for (int i = 0; i < n; i++) {
        o += (size_t)snprintf(hdr + o, sizeof hdr - o, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld", t[i].name, t[i].dtype,
                              (long long)t[i].shape[0]);
        if (t[i].ndim == 2)
            o += (size_t)snprintf(hdr + o, sizeof hdr - o, ",%lld", (long long)t[i].shape[1]);
        o += (size_t)snprintf(hdr + o, sizeof hdr - o, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].nbytes);
        memcpy(data + off, t[i].data, t[i].nbytes);
        off += t[i].nbytes;
    }
    snprintf(hdr + o, sizeof hdr - o, "}");
    ck_assert_int_eq(cli_write_st(path, hdr, data, total), 0);
    free(data);
}

/* The base's tensors in file order: embeddings, v_proj of each block, the final norm. */
static int base_tensors(tw *t, const char *dtname, size_t wsize, char names[NB][128])
{
    int n = 0;
    t[n++] = (tw){"model.embed_tokens.weight", "F32", 2, {EMB, COLS}, g_m.emb, sizeof g_m.emb};
    static unsigned char tr[NB][ROWS * COLS * 4];
    for (int b = 0; b < NB; b++) {
        snprintf(names[b], 128, "model.layers.%d.self_attn.v_proj.weight", b);
        t[n++] = (tw){names[b], dtname, 2, {ROWS, COLS}, g_m.wbytes[b], ROWS * COLS * wsize};
        if (!g_fifo)
            continue;
        for (int i = 0; i < ROWS; i++)
            for (int j = 0; j < COLS; j++)
                memcpy(tr[b] + ((size_t)j * ROWS + i) * wsize, g_m.wbytes[b] + ((size_t)i * COLS + j) * wsize, wsize);
        t[n - 1].shape[0] = COLS;
        t[n - 1].shape[1] = ROWS;
        t[n - 1].data = tr[b];
    }
    t[n++] = (tw){"model.norm.weight", "F32", 1, {COLS, 0}, g_m.norm, sizeof g_m.norm};
    return n;
}

static void write_base_file(const char *path, lsc_dtype dt)
{
    tw t[8];
    char names[NB][128];
    int n = base_tensors(t, lsc_dtype_name(dt), lsc_dtype_size(dt), names);
    write_st(path, t, n);
}

/* Two shards: embeddings + block 0, block 1 + norm. */
static void write_base_sharded(const char *dir, lsc_dtype dt)
{
    tw t[8];
    char names[NB][128], p[4200];
    base_tensors(t, lsc_dtype_name(dt), lsc_dtype_size(dt), names);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    write_st(p, t, 2);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_st(p, t + 2, 2);
    char idx[2048];
    snprintf(idx, sizeof idx,
             "{\n  \"metadata\": {\"total_size\": %zu},\n  \"weight_map\": {\n"
             "    \"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\",\n"
             "    \"model.layers.0.self_attn.v_proj.weight\": \"model-00001-of-00002.safetensors\",\n"
             "    \"model.layers.1.self_attn.v_proj.weight\": \"model-00002-of-00002.safetensors\",\n"
             "    \"model.norm.weight\": \"model-00002-of-00002.safetensors\"\n  }\n}\n",
             t[0].nbytes + t[1].nbytes + t[2].nbytes + t[3].nbytes);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    ck_assert_int_eq(cli_write(p, idx, strlen(idx)), 0);
    snprintf(p, sizeof p, "%s/config.json", dir);
    ck_assert_int_eq(cli_write(p, "{\"model_type\": \"llama\"}\n", 24), 0);
}

static void put_u32(unsigned char **p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *(*p)++ = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char **p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *(*p)++ = (unsigned char)(v >> (8 * i));
}

static void put_str(unsigned char **p, const char *s)
{
    put_u64(p, strlen(s));
    memcpy(*p, s, strlen(s));
    *p += strlen(s);
}

/* A GGUF v3 model with F32 tensors token_embd, blk.N.attn_v (ne [COLS, ROWS]), output_norm. */
static int g_q8; /* write_base_gguf stores the attn_v weights as Q8_0 (and g_m.W becomes their dequantised values) */

/* Q8_0 of n values (n a multiple of 32): per block an f16 scale d = amax / 127 and 32 signed bytes
 * round(x / d); w is replaced by what a reader dequantises, d * q. */
static void quantise_q8(double *w, size_t n, unsigned char *out)
{
    for (size_t b = 0; b < n / 32; b++) {
        double amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmax(amax, fabs(w[b * 32 + j]));
        uint16_t h = lsc_f32_to_f16((float)(amax / 127));
        double d = lsc_f16_to_f32(h);
        out[b * 34] = (unsigned char)(h & 0xff);
        out[b * 34 + 1] = (unsigned char)(h >> 8);
        for (int j = 0; j < 32; j++) {
            int q = d > 0 ? (int)lround(w[b * 32 + j] / d) : 0;
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            out[b * 34 + 2 + j] = (unsigned char)(int8_t)q;
            w[b * 32 + j] = d * q;
        }
    }
}

static size_t write_base_gguf(const char *path, size_t *woff)
{
    static unsigned char buf[1 << 17];
    unsigned char *p = buf;
    memcpy(p, "GGUF", 4);
    p += 4;
    put_u32(&p, 3);
    put_u64(&p, NB + 2);
    put_u64(&p, 1);
    put_str(&p, "general.architecture");
    put_u32(&p, 8);
    put_str(&p, "llama");
    const char *names[NB + 2] = {"token_embd.weight", "blk.0.attn_v.weight", "blk.1.attn_v.weight", "output_norm.weight"};
    uint64_t ne0[] = {COLS, COLS, COLS, COLS}, ne1[] = {EMB, ROWS, ROWS, 0}, off = 0, offs[NB + 2];
    for (int i = 0; i < NB + 2; i++) {
        put_str(&p, names[i]);
        put_u32(&p, ne1[i] ? 2 : 1);
        put_u64(&p, ne0[i]);
        if (ne1[i])
            put_u64(&p, ne1[i]);
        int q8 = g_q8 && i >= 1 && i <= NB;
        put_u32(&p, q8 ? 8 : 0);
        offs[i] = off;
        put_u64(&p, off);
        off += ((q8 ? ne0[i] * ne1[i] / 32 * 34 : ne0[i] * (ne1[i] ? ne1[i] : 1) * 4) + 31) / 32 * 32;
    }
    size_t data = ((size_t)(p - buf) + 31) / 32 * 32;
    memset(p, 0, data - (size_t)(p - buf));
    memcpy(buf + data + offs[0], g_m.emb, sizeof g_m.emb);
    for (int b = 0; b < NB; b++) {
        if (g_q8)
            quantise_q8(g_m.W[b], ROWS * COLS, buf + data + offs[1 + b]);
        else
            memcpy(buf + data + offs[1 + b], g_m.wbytes[b], ROWS * COLS * 4);
        woff[b] = data + offs[1 + b];
    }
    memcpy(buf + data + offs[3], g_m.norm, sizeof g_m.norm);
    size_t total = data + off;
    ck_assert_int_eq(cli_write(path, buf, total), 0);
    return total;
}

static float g_mag[NB][ROWS]; /* DoRA magnitudes (with g_dora) */
static int g_dora;

/* The PEFT adapter: v_proj of every block, r = R, lora_alpha 8 (scale 2), F32 factors; with g_dora a
 * lora_magnitude_vector per layer and use_dora in the config. */
static void write_adapter(const char *dir)
{
    static float fa[NB][R * COLS], fb[NB][ROWS * R];
    char na[NB][160], nb[NB][160], nm[NB][160], p[4200];
    tw t[3 * NB];
    for (int b = 0; b < NB; b++) {
        for (int i = 0; i < R * COLS; i++)
            fa[b][i] = (float)g_m.A[b][i];
        for (int i = 0; i < ROWS * R; i++)
            fb[b][i] = (float)g_m.B[b][i];
        snprintf(na[b], sizeof na[b], "base_model.model.model.layers.%d.self_attn.v_proj.lora_A.weight", b);
        snprintf(nb[b], sizeof nb[b], "base_model.model.model.layers.%d.self_attn.v_proj.lora_B.weight", b);
        t[2 * b] = (tw){na[b], "F32", 2, {R, COLS}, fa[b], sizeof fa[b]};
        t[2 * b + 1] = (tw){nb[b], "F32", 2, {ROWS, R}, fb[b], sizeof fb[b]};
        snprintf(nm[b], sizeof nm[b], "base_model.model.model.layers.%d.self_attn.v_proj.lora_magnitude_vector", b);
        for (int i = 0; i < ROWS; i++)
            g_mag[b][i] = (float)(0.5 + uniform01());
        t[2 * NB + b] = (tw){nm[b], "F32", 1, {ROWS, 0}, g_mag[b], sizeof g_mag[b]};
    }
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    write_st(p, t, g_dora ? 3 * NB : 2 * NB);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    const char *cfg = g_fifo ? "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"fan_in_fan_out\": true, "
                               "\"target_modules\": [\"v_proj\"]}"
                      : g_dora ? "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"use_dora\": true, "
                               "\"target_modules\": [\"v_proj\"]}"
                             : "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"v_proj\"]}";
    ck_assert_int_eq(cli_write(p, cfg, strlen(cfg)), 0);
}

/* A fresh folder with a catalog holding adapter A. */
static const char *setup(void)
{
    g_dir = cli_tmpdir();
    write_adapter(path_of("adapter"));
    const char *cat = strdup(path_of("catalog.db"));
    cli_result r = cli_run(cat, "import", path_of("adapter"), "--name", "A", NULL);
    ck_assert_msg(r.code == 0, "import: %s", r.err);
    cli_result_free(&r);
    return cat;
}

static void teardown(const char *cat)
{
    cli_rmtree(g_dir);
    free(g_dir);
    free((void *)cat);
}

static void expect_ok(const char *cat, const char *a, const char *b, const char *c, const char *d, const char *e)
{
    cli_result r = cli_run(cat, a, b, c, d, e, NULL);
    ck_assert_msg(r.code == 0, "%s %s %s: exit %d: %s", a, b, c ? c : "", r.code, r.err);
    cli_result_free(&r);
}

/* A fresh folder whose catalog holds adapter A (model made in `dt`, with the current g_dora/g_fifo) and
 * records for it the base `base.safetensors`, written in `dt`. Returns the catalog (free with teardown);
 * *base gets the base file's path (caller frees) unless base is NULL. */
static const char *setup_with_base(lsc_dtype dt, char **base)
{
    make_model(dt);
    const char *cat = setup();
    char *p = strdup(path_of("base.safetensors"));
    write_base_file(p, dt);
    expect_ok(cat, "base", "A", p, NULL, NULL);
    if (base)
        *base = p;
    else
        free(p);
    return cat;
}

/* ---- figures ------------------------------------------------------------------------------------------ */

static void check_figures_of(const char *cat, const char *name, int k)
{
    char ks[16];
    snprintf(ks, sizeof ks, "%d", k);
    cli_result r = cli_run(cat, "show", name, "--base", "--json", "--k", ks, NULL);
    ck_assert_msg(r.code == 0, "show --base: %s", r.err);
    json_error_t je;
    json_t *root = json_loads(r.out, 0, &je), *layers = json_object_get(root, "layers");
    ck_assert_int_eq((int)json_array_size(layers), NB);
    for (int b = 0; b < NB; b++) {
        json_t *l = json_array_get(layers, (size_t)b);
        ck_assert_int_eq((int)json_integer_value(json_object_get(l, "layer_index")), b);
        lsc_lowrank lr = {ROWS, COLS, R, g_m.B[b], g_m.A[b], SCALE};
        int kref = 2 * k > R ? 2 * k : R;
        ref want = reference(g_m.W[b], &lr, k, kref, 0.5);
        ck_assert_msg(want.min_margin > 1e-3, "case too close to the threshold (%g)", want.min_margin);
        double bn = json_real_value(json_object_get(l, "base_norm")), rn = json_real_value(json_object_get(l, "rel_norm"));
        double am = json_real_value(json_object_get(l, "amplification"));
        double s1 = json_real_value(json_object_get(l, "subspace_sim")), sk = json_real_value(json_object_get(l, "subspace_sim_k"));
        ck_assert_msg(fabs(bn - want.base_norm) <= 1e-9 * want.base_norm, "base_norm %.17g vs %.17g", bn, want.base_norm);
        ck_assert_msg(fabs(rn - want.rel) <= 1e-9 * want.rel, "rel_norm %.17g vs %.17g", rn, want.rel);
        ck_assert_msg(fabs(am - want.amp) <= 1e-9 * want.amp, "amplification %.17g vs %.17g", am, want.amp);
        ck_assert_msg(fabs(s1 - want.sim_r) < 1e-6 && fabs(sk - want.sim_k) < 1e-6, "sim %g/%g vs %g/%g", s1, sk,
                      want.sim_r, want.sim_k);
        ck_assert_int_eq((int)json_integer_value(json_object_get(l, "intruders")), want.intruders);
        ck_assert_int_eq((int)json_integer_value(json_object_get(l, "k_ref")), kref); /* what they were compared with */
    }
    json_decref(root);
    cli_result_free(&r);
}

static void check_figures(const char *cat, int k)
{
    check_figures_of(cat, "A", k);
}

START_TEST(figures_single_file)
{
    const char *cat = setup_with_base(LSC_DT_F32, NULL);
    check_figures(cat, 6);
    check_figures(cat, 2);
    cli_result r = cli_run(cat, "show", "A", "--base", NULL); /* the text table has the columns */
    ck_assert_msg(r.code == 0 && strstr(r.out, "|dW|/|W|") && strstr(r.out, "INTR"), "%s%s", r.out, r.err);
    cli_result_free(&r);
    teardown(cat);
}
END_TEST

/* A BF16 base (the figures' float path) matches the dense reference, and the figures do not depend on
 * the worker count (layers over the pool, each item owning its output). */
START_TEST(figures_bf16_threads)
{
    const char *cat = setup_with_base(LSC_DT_BF16, NULL);
    check_figures(cat, 6);
    char *out[2] = {NULL, NULL};
    static const char *const threads[] = {"1", "3"};
    for (int i = 0; i < 2; i++) {
        setenv("LSC_THREADS", threads[i], 1);
        cli_result r = cli_run(cat, "show", "A", "--base", "--json", NULL);
        ck_assert_msg(r.code == 0 && strstr(r.out, "\"intruders\""), "%s%s", r.out, r.err);
        out[i] = strdup(r.out);
        cli_result_free(&r);
    }
    unsetenv("LSC_THREADS");
    ck_assert_str_eq(out[0], out[1]);
    free(out[0]), free(out[1]);
    teardown(cat);
}
END_TEST

START_TEST(figures_sharded)
{
    make_model(LSC_DT_F32);
    const char *cat = setup();
    write_base_sharded(path_of("sharded"), LSC_DT_F32);
    expect_ok(cat, "base", "A", path_of("sharded"), NULL, NULL);
    check_figures(cat, 6);
    teardown(cat);
}
END_TEST

START_TEST(figures_gguf)
{
    make_model(LSC_DT_F32);
    const char *cat = setup();
    size_t woff[NB];
    write_base_gguf(path_of("base.gguf"), woff);
    expect_ok(cat, "base", "A", path_of("base.gguf"), NULL, NULL);
    check_figures(cat, 6);
    teardown(cat);
}
END_TEST

/* A Q8_0 GGUF base: figures against the dequantised weights; bake refuses to requantise. */
START_TEST(figures_gguf_q8)
{
    make_model(LSC_DT_F32);
    g_q8 = 1;
    const char *cat = setup();
    size_t woff[NB];
    write_base_gguf(path_of("q8.gguf"), woff);
    expect_ok(cat, "base", "A", path_of("q8.gguf"), NULL, NULL);
    check_figures(cat, 2);
    cli_result r = cli_run(cat, "bake", "A", "--out", path_of("baked.gguf"), NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "q8.gguf") && strstr(r.err, "blk.0.attn_v.weight") && strstr(r.err, "requantised"), "%s",
                  r.err);
    ck_assert_int_ne(access(path_of("baked.gguf"), F_OK), 0);
    cli_result_free(&r);
    g_q8 = 0;
    teardown(cat);
}
END_TEST

START_TEST(no_base_recorded)
{
    make_model(LSC_DT_F32);
    const char *cat = setup();
    cli_result r = cli_run(cat, "show", "A", "--base", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "no base recorded for 'A'"), "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "base", "A", NULL); /* neither PATH nor --clear: usage */
    ck_assert_int_eq(r.code, 2);
    cli_result_free(&r);
    /* --clear forgets a recorded base */
    write_base_file(path_of("base.safetensors"), LSC_DT_F32);
    expect_ok(cat, "base", "A", path_of("base.safetensors"), NULL, NULL);
    expect_ok(cat, "show", "A", "--base", NULL, NULL);
    expect_ok(cat, "base", "A", "--clear", NULL, NULL);
    r = cli_run(cat, "show", "A", "--base", NULL);
    ck_assert_msg(r.code == 1 && strstr(r.err, "no base recorded for 'A'"), "%s", r.err);
    cli_result_free(&r);
    teardown(cat);
}
END_TEST

/* ---- expect ------------------------------------------------------------------------------------------- */

static int run_script(const char *cat, const char *text, char **err_out)
{
    ck_assert_int_eq(cli_write(path_of("s.lsc"), text, strlen(text)), 0);
    cli_result r = cli_run(cat, "run", path_of("s.lsc"), NULL);
    int code = r.code;
    *err_out = strdup(r.err);
    cli_result_free(&r);
    return code;
}

START_TEST(expect_base_figures)
{
    const char *cat = setup_with_base(LSC_DT_F32, NULL);
    double hi = 0;
    int intr = 0;
    for (int b = 0; b < NB; b++) {
        lsc_lowrank lr = {ROWS, COLS, R, g_m.B[b], g_m.A[b], SCALE};
        ref w = reference(g_m.W[b], &lr, 10, 20, 0.5);
        ck_assert_msg(w.min_margin > 1e-3, "too close to the threshold");
        hi = fmax(hi, w.rel);
        intr += w.intruders;
    }
    char text[512], *err;
    snprintf(text, sizeof text, "expect relnorm A *v_proj <= %.17g\nexpect intruders A == %d\n", hi * (1 + 1e-9), intr);
    ck_assert_msg(run_script(cat, text, &err) == 0, "%s", err);
    free(err);
    snprintf(text, sizeof text, "expect relnorm A *v_proj <= %.17g\n", hi * (1 - 1e-6));
    ck_assert_int_eq(run_script(cat, text, &err), 1);
    ck_assert_msg(strstr(err, "|dW|/|W|"), "%s", err);
    free(err);
    snprintf(text, sizeof text, "expect intruders A != %d\n", intr);
    ck_assert_int_eq(run_script(cat, text, &err), 1);
    ck_assert_msg(strstr(err, "intruder"), "%s", err);
    free(err);
    teardown(cat);
}
END_TEST

/* ---- a base changed on disk ------------------------------------------------------------------------- */

START_TEST(changed_on_disk)
{
    char *base;
    const char *cat = setup_with_base(LSC_DT_F32, &base);
    size_t n;
    unsigned char *bytes = cli_slurp(base, &n);
    bytes[n - sizeof g_m.norm - 7] ^= 0x40; /* a byte inside block 1's v_proj (it sits before the norm) */
    ck_assert_int_eq(cli_write(base, bytes, n), 0);
    free(bytes);
    cli_result r = cli_run(cat, "show", "A", "--base", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "base.safetensors") && strstr(r.err, "model.layers.1.self_attn.v_proj.weight") &&
                      strstr(r.err, "changed on disk"),
                  "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "bake", "A", "--out", path_of("baked.safetensors"), NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "changed on disk"), "%s", r.err);
    ck_assert_int_ne(access(path_of("baked.safetensors"), F_OK), 0);
    cli_result_free(&r);
    free(base);
    teardown(cat);
}
END_TEST

/* ---- bake --------------------------------------------------------------------------------------------- */

/* The merged weight of block b in float64: W + s * sum_k B_ik A_kj. */
static void merged(int b, double *out)
{
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < COLS; j++) {
            double acc = 0;
            for (int k = 0; k < R; k++)
                acc += g_m.B[b][i * R + k] * g_m.A[b][k * COLS + j];
            out[i * COLS + j] = g_m.W[b][i * COLS + j] + SCALE * acc;
        }
    for (int i = 0; g_dora && i < ROWS; i++) { /* DoRA: each output row rescaled to its magnitude */
        double ss = 0;
        for (int j = 0; j < COLS; j++)
            ss += out[i * COLS + j] * out[i * COLS + j];
        double f = (double)g_mag[b][i] / sqrt(ss);
        for (int j = 0; j < COLS; j++)
            out[i * COLS + j] = f * out[i * COLS + j];
    }
}

/* Check a baked safetensors file against the base: the v_proj tensors equal the reference rounded once to
 * `dt`, everything else is byte-identical. */
static void check_baked_st(const char *baked, const char *base, lsc_dtype dt)
{
    lsc_st_file *o = NULL, *in = NULL;
    lsc_error err;
    ck_assert_msg(lsc_st_open(baked, &o, &err) == LSC_OK, "%s", err.msg);
    ck_assert_msg(lsc_st_open(base, &in, &err) == LSC_OK, "%s", err.msg);
    ck_assert_int_eq((int)o->n_tensors, (int)in->n_tensors);
    static unsigned char a[ROWS * COLS * 8], b[ROWS * COLS * 8], want[ROWS * COLS * 8];
    static double m[ROWS * COLS];
    for (size_t i = 0; i < in->n_tensors; i++) {
        const char *name = in->tensors[i].name;
        long j = lsc_st_find(o, name);
        ck_assert_int_ge(j, 0);
        ck_assert_int_eq(lsc_st_read(o, (size_t)j, a, &err), LSC_OK);
        ck_assert_int_eq(lsc_st_read(in, i, b, &err), LSC_OK);
        int blk = -1;
        sscanf(name, "model.layers.%d.", &blk);
        if (blk < 0) {
            ck_assert_int_eq(o->tensors[j].dtype, in->tensors[i].dtype);
            ck_assert_msg(memcmp(a, b, in->tensors[i].end - in->tensors[i].begin) == 0, "%s changed", name);
            continue;
        }
        ck_assert_int_eq(o->tensors[j].dtype, dt);
        merged(blk, m);
        if (g_fifo) { /* stored [COLS, ROWS] */
            static double mt[ROWS * COLS];
            for (int r = 0; r < ROWS; r++)
                for (int c = 0; c < COLS; c++)
                    mt[c * ROWS + r] = m[r * COLS + c];
            memcpy(m, mt, sizeof mt);
        }
        ck_assert_int_eq(lsc_dtype_from_double(dt, m, ROWS * COLS, want, NULL), LSC_OK);
        ck_assert_msg(memcmp(a, want, ROWS * COLS * lsc_dtype_size(dt)) == 0, "%s differs from the reference", name);
        ck_assert_msg(memcmp(a, b, ROWS * COLS * lsc_dtype_size(dt)) != 0, "%s was not merged", name);
    }
    lsc_st_close(o);
    lsc_st_close(in);
}

START_TEST(bake_single_file)
{
    char *base;
    const char *cat = setup_with_base(LSC_DT_BF16, &base);
    char *out = strdup(path_of("baked.safetensors"));
    expect_ok(cat, "bake", "A", "--out", out, NULL);
    check_baked_st(out, base, LSC_DT_BF16);
    /* same dtypes: the header is the base's, byte for byte */
    size_t n1, n2;
    unsigned char *x = cli_slurp(out, &n1), *y = cli_slurp(base, &n2);
    ck_assert_int_eq((int)n1, (int)n2);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | y[i];
    ck_assert_int_eq(memcmp(x, y, 8 + (size_t)hl), 0);
    free(x), free(y);
    /* an existing target needs --force */
    cli_result r = cli_run(cat, "bake", "A", "--out", out, "--dtype", "f32", NULL);
    ck_assert_int_eq(r.code, 1);
    cli_result_free(&r);
    static const char *const threads[] = {"1", "3"}; /* the bytes do not depend on the worker count */
    for (int i = 0; i < 2; i++) {
        setenv("LSC_THREADS", threads[i], 1);
        r = cli_run(cat, "bake", "A", "--out", out, "--force", NULL);
        ck_assert_msg(r.code == 0, "%s", r.err);
        cli_result_free(&r);
        check_baked_st(out, base, LSC_DT_BF16);
    }
    unsetenv("LSC_THREADS");
    teardown(cat);
    free(base), free(out);
}
END_TEST

START_TEST(bake_dtype_f32)
{
    char *base;
    const char *cat = setup_with_base(LSC_DT_BF16, &base);
    char *out = strdup(path_of("baked32.safetensors"));
    cli_result r = cli_run(cat, "bake", "A", "--out", out, "--dtype", "f32", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    check_baked_st(out, base, LSC_DT_F32);
    teardown(cat);
    free(base), free(out);
}
END_TEST

START_TEST(bake_sharded)
{
    make_model(LSC_DT_BF16);
    const char *cat = setup();
    char *dir = strdup(path_of("sharded")), *out = strdup(path_of("baked"));
    write_base_sharded(dir, LSC_DT_BF16);
    expect_ok(cat, "base", "A", dir, NULL, NULL);
    expect_ok(cat, "bake", "A", "--out", out, NULL);
    static const char *const files[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    char a[4200], b[4200];
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", out, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        check_baked_st(a, b, LSC_DT_BF16);
    }
    ck_assert(cli_same_file_in(out, dir, "model.safetensors.index.json"));
    ck_assert(cli_same_file_in(out, dir, "config.json"));
    teardown(cat);
    free(dir), free(out);
}
END_TEST

START_TEST(bake_gguf)
{
    make_model(LSC_DT_F32);
    const char *cat = setup();
    char *base = strdup(path_of("base.gguf")), *out = strdup(path_of("baked.gguf"));
    size_t woff[NB];
    size_t total = write_base_gguf(base, woff);
    expect_ok(cat, "base", "A", base, NULL, NULL);
    expect_ok(cat, "bake", "A", "--out", out, NULL);
    size_t n1, n2;
    unsigned char *x = cli_slurp(out, &n1), *y = cli_slurp(base, &n2);
    ck_assert_int_eq((int)n1, (int)total);
    ck_assert_int_eq((int)n2, (int)total);
    static double m[ROWS * COLS];
    static unsigned char want[ROWS * COLS * 4];
    size_t pos = 0;
    for (int b = 0; b < NB; b++) {
        ck_assert_int_eq(memcmp(x + pos, y + pos, woff[b] - pos), 0); /* header, padding, other tensors */
        merged(b, m);
        lsc_dtype_from_double(LSC_DT_F32, m, ROWS * COLS, want, NULL);
        ck_assert_int_eq(memcmp(x + woff[b], want, sizeof want), 0);
        pos = woff[b] + sizeof want;
    }
    ck_assert_int_eq(memcmp(x + pos, y + pos, total - pos), 0);
    free(x), free(y);
    teardown(cat);
    free(base), free(out);
}
END_TEST

/* With the adapter variant *flag set (g_dora or g_fifo): an F32 base recorded, its figures at k = 6 when
 * `figures`, then `bake` checked against the reference. */
static void bake_variant(int *flag, int figures)
{
    *flag = 1;
    char *base;
    const char *cat = setup_with_base(LSC_DT_F32, &base);
    char *out = strdup(path_of("baked.safetensors"));
    if (figures) {
        check_figures(cat, 6);
        check_figures(cat, 6); /* again with the sketches cached (a transposed base: decoded to floats) */
    }
    expect_ok(cat, "bake", "A", "--out", out, NULL);
    check_baked_st(out, base, LSC_DT_F32);
    *flag = 0;
    teardown(cat);
    free(base), free(out);
}

START_TEST(bake_dora)
{
    bake_variant(&g_dora, 0);
}
END_TEST

/* fan_in_fan_out: the base holds W^T; figures are W's, the bake writes (W + s B A)^T back in place. */
START_TEST(fan_in_fan_out)
{
    bake_variant(&g_fifo, 1);
}
END_TEST

/* ---- bad bases --------------------------------------------------------------------------------------- */

/* `base A PATH` must exit 1 with one line holding every `want`, and record nothing. */
static void expect_bad(const char *cat, const char *path, const char *w1, const char *w2)
{
    cli_result r = cli_run(cat, "base", "A", path, NULL);
    ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
    ck_assert_msg(strstr(r.err, w1) && (!w2 || strstr(r.err, w2)), "expected '%s' and '%s' in: %s", w1, w2 ? w2 : "",
                  r.err);
    ck_assert_msg(cli_lines(r.err) == 1, "one line: %s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "show", "A", "--base", NULL);
    ck_assert_msg(r.code == 1 && strstr(r.err, "no base recorded"), "%s", r.err);
    cli_result_free(&r);
}

START_TEST(bad_bases)
{
    make_model(LSC_DT_F32);
    const char *cat = setup();
    char p[4200];
    /* a missing shard */
    char *dir = strdup(path_of("noshard"));
    write_base_sharded(dir, LSC_DT_F32);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    unlink(p);
    expect_bad(cat, dir, "model-00002-of-00002.safetensors", "model.layers.1.self_attn.v_proj.weight");
    /* an index naming a tensor its shard does not hold */
    char *dir2 = strdup(path_of("badindex"));
    write_base_sharded(dir2, LSC_DT_F32);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir2);
    const char *idx = "{\"weight_map\": {\"model.layers.0.self_attn.v_proj.weight\": \"model-00001-of-00002.safetensors\","
                      " \"model.layers.7.mlp.gone.weight\": \"model-00002-of-00002.safetensors\"}}";
    ck_assert_int_eq(cli_write(p, idx, strlen(idx)), 0);
    expect_bad(cat, dir2, "model.safetensors.index.json", "model.layers.7.mlp.gone.weight");
    /* a shape that does not fit the layer */
    static float wrong[ROWS * (COLS - 4)];
    tw t[3] = {{"model.layers.0.self_attn.v_proj.weight", "F32", 2, {ROWS, COLS - 4}, wrong, sizeof wrong},
               {"model.layers.1.self_attn.v_proj.weight", "F32", 2, {ROWS, COLS}, g_m.wbytes[1], ROWS * COLS * 4}};
    write_st(path_of("shape.safetensors"), t, 2);
    expect_bad(cat, path_of("shape.safetensors"), "shape.safetensors", "model.layers.0.self_attn.v_proj.weight");
    /* a layer with no base tensor */
    write_st(path_of("half.safetensors"), t + 1, 1);
    expect_bad(cat, path_of("half.safetensors"), "half.safetensors", "model.layers.0.self_attn.v_proj");
    /* a truncated file: safetensors and GGUF */
    write_base_file(path_of("trunc.safetensors"), LSC_DT_F32);
    struct stat sb;
    ck_assert_int_eq(stat(path_of("trunc.safetensors"), &sb), 0);
    ck_assert_int_eq(truncate(path_of("trunc.safetensors"), sb.st_size - (off_t)sizeof g_m.norm - 100), 0);
    expect_bad(cat, path_of("trunc.safetensors"), "trunc.safetensors", "tensor 'model.layers.1.self_attn.v_proj.weight'");
    size_t woff[NB], total = write_base_gguf(path_of("trunc.gguf"), woff);
    ck_assert_int_eq(truncate(path_of("trunc.gguf"), (off_t)(total - 100)), 0);
    expect_bad(cat, path_of("trunc.gguf"), "trunc.gguf", "output_norm.weight");
    free(dir), free(dir2);
    teardown(cat);
}
END_TEST

/* ---- the sketch cache (schema 8) ---------------------------------------------------------------------- */

/* Two outputs byte for byte (ck_assert_str_eq would overflow Check's message with whole JSON documents). */
static void same_bytes(const char *a, const char *b, const char *what)
{
    size_t i = 0;
    while (a[i] && a[i] == b[i])
        i++;
    ck_assert_msg(a[i] == b[i], "%s: outputs differ at byte %zu: ...%.60s... vs ...%.60s...", what, i,
                  a + (i > 20 ? i - 20 : 0), b + (i > 20 ? i - 20 : 0));
}

/* `show NAME --base --json [--k K]`'s output (malloc'ed); the command must succeed. */
static char *show_json(const char *cat, const char *name, const char *k, int readonly)
{
    cli_result r = readonly ? cli_run(cat, "--readonly", "show", name, "--base", "--json", "--k", k, NULL)
                            : cli_run(cat, "show", name, "--base", "--json", "--k", k, NULL);
    ck_assert_msg(r.code == 0 && strstr(r.out, "\"intruders\""), "show %s --base: %s%s", name, r.out, r.err);
    char *out = strdup(r.out);
    cli_result_free(&r);
    return out;
}

/* Run sql on the catalog with SQLite directly; the first column of the first row as an integer (0: none). */
static long long cat_sql(const char *cat, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_open(cat, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    ck_assert_msg(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
    long long v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* A second adapter "A2" on the same base: new factors into g_m (so check_figures_of(cat, "A2") holds). */
static void add_second_adapter(const char *cat, const char *base)
{
    for (int b = 0; b < NB; b++) {
        for (int i = 0; i < ROWS * R; i++)
            g_m.B[b][i] = (float)(0.3 * gauss());
        for (int i = 0; i < R * COLS; i++)
            g_m.A[b][i] = (float)(0.3 * gauss());
    }
    write_adapter(path_of("adapter2"));
    expect_ok(cat, "import", path_of("adapter2"), "--name", "A2", NULL);
    expect_ok(cat, "base", "A2", base, NULL, NULL);
}

/* One base, two adapters: the first `show --base` stores a sketch per base tensor, the second adapter's
 * figures use them (a sketch made wrong on purpose shows through, so the cache is really read) and are
 * byte-identical to its figures with the cache emptied, and equal the dense reference. */
START_TEST(sketch_cache_two_adapters)
{
    static const lsc_dtype dts[] = {LSC_DT_BF16, LSC_DT_F32, LSC_DT_F16};
    for (int d = 0; d < 3; d++) {
        char *base;
        const char *cat = setup_with_base(dts[d], &base);
        ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), 0);
        char *a_cold = show_json(cat, "A", "6", 0);
        ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), NB);
        char *a_warm = show_json(cat, "A", "6", 0);
        same_bytes(a_cold, a_warm, "A cold vs warm");
        add_second_adapter(cat, base);
        char *b_warm = show_json(cat, "A2", "6", 0);
        ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), NB); /* nothing new was needed */
        check_figures_of(cat, "A2", 6);
        cat_sql(cat, "DELETE FROM base_sketch");
        char *b_cold = show_json(cat, "A2", "6", 0);
        same_bytes(b_warm, b_cold, "A2 warm vs cold");
        /* the cache is what the warm run reads: a norm of 1 planted in it comes out as base_norm */
        cat_sql(cat, "UPDATE base_sketch SET norm_bits = 4607182418800017408"); /* the bits of 1.0 */
        char *planted = show_json(cat, "A2", "6", 0);
        ck_assert_msg(strstr(planted, "\"base_norm\": 1.0") || strstr(planted, "\"base_norm\": 1,") ||
                          strstr(planted, "\"base_norm\":1"),
                      "%s", planted);
        free(a_cold), free(a_warm), free(b_warm), free(b_cold), free(planted), free(base);
        teardown(cat);
    }
}
END_TEST

/* No stale reuse: another k (another range-finder width) and another base content (re-recorded) each
 * give the dense reference's figures with the old sketches still in the cache, made wrong on purpose so
 * that any reuse shows; a base changed on disk and not re-recorded is refused as before. */
START_TEST(sketch_cache_keys)
{
    char *base;
    const char *cat = setup_with_base(LSC_DT_F32, &base);
    free(show_json(cat, "A", "6", 0));
    cat_sql(cat, "UPDATE base_sketch SET norm_bits = 4607182418800017408");
    check_figures(cat, 2); /* k = 2: another l, so another key */
    cat_sql(cat, "UPDATE base_sketch SET norm_bits = 4607182418800017408");
    for (int b = 0; b < NB; b++) { /* a new base content, same names and shapes */
        double *w = gapped(ROWS, COLS, 3.0, 0.7);
        ck_assert_int_eq(lsc_dtype_from_double(LSC_DT_F32, w, ROWS * COLS, g_m.wbytes[b], NULL), LSC_OK);
        ck_assert_int_eq(lsc_dtype_to_double(LSC_DT_F32, g_m.wbytes[b], ROWS * COLS, g_m.W[b]), LSC_OK);
        free(w);
    }
    write_base_file(base, LSC_DT_F32);
    cli_result r = cli_run(cat, "show", "A", "--base", NULL); /* not re-recorded: refused, cache or not */
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "changed on disk"), "%s", r.err);
    cli_result_free(&r);
    expect_ok(cat, "base", "A", base, NULL, NULL);
    check_figures(cat, 6);
    check_figures(cat, 2);
    free(base);
    teardown(cat);
}
END_TEST

/* The cache never decides a result: a read-only session (nothing stored) and a catalog whose cache
 * refuses every write give the same bytes as a writable one. */
START_TEST(sketch_cache_unwritable)
{
    const char *cat = setup_with_base(LSC_DT_BF16, NULL);
    char *ro = show_json(cat, "A", "6", 1);
    ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), 0);
    cat_sql(cat, "CREATE TRIGGER no_sketch BEFORE INSERT ON base_sketch BEGIN SELECT RAISE(ABORT, 'full'); END");
    char *failing = show_json(cat, "A", "6", 0);
    ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), 0);
    cat_sql(cat, "DROP TRIGGER no_sketch");
    char *cold = show_json(cat, "A", "6", 0), *warm = show_json(cat, "A", "6", 0);
    ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), NB);
    same_bytes(ro, failing, "read-only vs refused writes");
    same_bytes(ro, cold, "read-only vs cold");
    same_bytes(ro, warm, "read-only vs warm");
    check_figures(cat, 6);
    free(ro), free(failing), free(cold), free(warm);
    teardown(cat);
}
END_TEST

/* The cache follows the records: clearing a base drops the sketches no record names any more, keeps
 * those another adapter's base still names, and re-recording an unchanged base keeps its sketches (the
 * same content hashes). Before, every cleared or replaced base's sketches stayed for ever. */
START_TEST(sketch_cache_pruned)
{
    char *base;
    const char *cat = setup_with_base(LSC_DT_BF16, &base);
    char *first = show_json(cat, "A", "6", 0);
    ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), NB);
    expect_ok(cat, "base", "A", base, NULL, NULL); /* the same file again: nothing to drop */
    ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), NB);
    add_second_adapter(cat, base); /* A2 on the same base tensors */
    expect_ok(cat, "base", "A", "--clear", NULL, NULL);
    ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), NB); /* A2 still names them */
    expect_ok(cat, "base", "A2", "--clear", NULL, NULL);
    ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), 0);
    expect_ok(cat, "base", "A", base, NULL, NULL);
    char *again = show_json(cat, "A", "6", 0);
    ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), NB);
    same_bytes(first, again, "before the clears vs after");
    free(first), free(again);
    free(base);
    teardown(cat);
}
END_TEST

/* One sketch per base tensor and width: rows left under another key (an older key version: planted here
 * by renaming the keys) are dropped when the tensor's sketch is stored again, while a sketch of another
 * width (another k) is kept beside it. Failed before: the old rows stayed for ever (2 NB rows). */
START_TEST(sketch_cache_superseded)
{
    char *base;
    const char *cat = setup_with_base(LSC_DT_BF16, &base);
    char *first = show_json(cat, "A", "6", 0);
    cat_sql(cat, "UPDATE base_sketch SET key = 'old-' || key");
    char *again = show_json(cat, "A", "6", 0); /* a miss on every key: stored anew */
    same_bytes(first, again, "old keys vs new");
    ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), NB);
    ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch WHERE key LIKE 'old-%'"), 0);
    free(show_json(cat, "A", "2", 0)); /* another width: kept beside */
    ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), 2 * NB);
    free(first), free(again), free(base);
    teardown(cat);
}
END_TEST

/* `show --base --norms`: per layer only base_norm and rel_norm, bit for bit those of the full figures
 * (cold and warm), no sketch made or stored (no range finder), the table with |W| and |dW|/|W| alone;
 * refused without --base (usage, naming both options). */
static void check_norms_match(const char *norms, const char *full)
{
    json_t *a = json_loads(norms, 0, NULL), *b = json_loads(full, 0, NULL);
    json_t *la = json_object_get(a, "layers"), *lb = json_object_get(b, "layers");
    ck_assert_int_eq((int)json_array_size(la), NB);
    ck_assert_int_eq((int)json_array_size(lb), NB);
    static const char *const absent[] = {"amplification", "subspace_sim", "subspace_sim_k", "k", "k_ref", "intruders"};
    for (size_t i = 0; i < NB; i++) {
        json_t *x = json_array_get(la, i), *y = json_array_get(lb, i);
        ck_assert_str_eq(json_string_value(json_object_get(x, "key")), json_string_value(json_object_get(y, "key")));
        for (int f = 0; f < 2; f++) {
            const char *k = f ? "rel_norm" : "base_norm";
            double u = json_real_value(json_object_get(x, k)), v = json_real_value(json_object_get(y, k));
            ck_assert_msg(json_is_real(json_object_get(x, k)) && u > 0 && memcmp(&u, &v, sizeof u) == 0,
                          "layer %zu %s: %.17g (--norms) vs %.17g", i, k, u, v);
        }
        for (size_t f = 0; f < sizeof absent / sizeof *absent; f++)
            ck_assert_msg(!json_object_get(x, absent[f]), "layer %zu has %s with --norms", i, absent[f]);
    }
    json_decref(a);
    json_decref(b);
}

static char *show_norms_json(const char *cat)
{
    cli_result r = cli_run(cat, "show", "A", "--base", "--norms", "--json", NULL);
    ck_assert_msg(r.code == 0, "show --base --norms: %s", r.err);
    char *out = strdup(r.out);
    cli_result_free(&r);
    return out;
}

START_TEST(show_norms)
{
    static const lsc_dtype dts[] = {LSC_DT_BF16, LSC_DT_F32, LSC_DT_F16, LSC_DT_BF16};
    for (int d = 0; d < 4; d++) {
        g_fifo = d == 3; /* a transposed base too */
        const char *cat = setup_with_base(dts[d], NULL);
        char *norms = show_norms_json(cat);
        ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), 0); /* no range finder ran */
        char *cold = show_json(cat, "A", "6", 0);
        ck_assert_int_eq(cat_sql(cat, "SELECT count(*) FROM base_sketch"), NB);
        char *warm = show_json(cat, "A", "6", 0), *again = show_norms_json(cat);
        check_norms_match(norms, cold);
        check_norms_match(norms, warm);
        same_bytes(norms, again, "--norms before and after the sketches");
        cli_result r = cli_run(cat, "show", "A", "--base", "--norms", NULL);
        ck_assert_msg(r.code == 0 && strstr(r.out, "|dW|/|W|") && strstr(r.out, "|W|") && !strstr(r.out, "AMP") &&
                          !strstr(r.out, "INTR"),
                      "%s%s", r.out, r.err);
        cli_result_free(&r);
        r = cli_run(cat, "show", "A", "--norms", NULL);
        ck_assert_msg(r.code == 2 && strstr(r.err, "--norms") && strstr(r.err, "--base"),
                      "exit %d: %s", r.code, r.err);
        cli_result_free(&r);
        free(norms), free(cold), free(warm), free(again);
        teardown(cat);
    }
}
END_TEST

/* `show --base --norms` reads a float base a part at a time (app/cmd/basework.c: 128 KB reads, 2048
 * entries hashed and summed at a time). On one layer of BR x BC (an odd count: a pending tail; F32 spans 5
 * reads, BF16 3) in F32, F16 and BF16: base_norm is bit for bit the four-lane sum of squares of the stored
 * values computed here (the formula the decoded path used), rel_norm bit for bit the full figures'; a
 * byte changed in the last read is reported (file, tensor, one line, exit 1, catalog unchanged), and so
 * is a file that ends inside the tensor. */
enum { BR = 301, BC = 517 };

static double layer_real(const char *json, const char *key)
{
    json_t *root = json_loads(json, 0, NULL), *l = json_array_get(json_object_get(root, "layers"), 0);
    ck_assert_msg(l && json_is_real(json_object_get(l, key)), "no %s in %s", key, json);
    double v = json_real_value(json_object_get(l, key));
    json_decref(root);
    return v;
}

static void expect_norms_refused(const char *cat, const char *w1, const char *w2, const char *w3)
{
    size_t n0, n1;
    unsigned char *before = cli_slurp(cat, &n0);
    cli_result r = cli_run(cat, "show", "A", "--base", "--norms", "--json", NULL);
    ck_assert_msg(r.code == 1 && strstr(r.err, w1) && strstr(r.err, w2) && strstr(r.err, w3) && cli_lines(r.err) == 1,
                  "exit %d: %s", r.code, r.err);
    cli_result_free(&r);
    unsigned char *after = cli_slurp(cat, &n1);
    ck_assert_msg(n0 == n1 && memcmp(before, after, n0) == 0, "the catalog changed");
    free(before), free(after);
}

START_TEST(norms_streamed)
{
    static const lsc_dtype dts[] = {LSC_DT_F32, LSC_DT_F16, LSC_DT_BF16};
    size_t n = (size_t)BR * BC;
    static float fa[R * BC], fb[BR * R];
    rng_state = 31337;
    for (int i = 0; i < R * BC; i++)
        fa[i] = (float)(0.3 * gauss());
    for (int i = 0; i < BR * R; i++)
        fb[i] = (float)(0.3 * gauss());
    for (int d = 0; d < 3; d++) {
        size_t es = lsc_dtype_size(dts[d]);
        double *w = gauss_matrix(n);
        unsigned char *wb = malloc(n * es);
        float *wf = malloc(n * sizeof(float));
        ck_assert_int_eq(lsc_dtype_from_double(dts[d], w, n, wb, NULL), LSC_OK);
        ck_assert_int_eq(lsc_dtype_to_float(dts[d], wb, n, wf), LSC_OK);
        g_dir = cli_tmpdir();
        tw ta[2] = {{"base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight", "F32", 2, {R, BC}, fa, sizeof fa},
                    {"base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", "F32", 2, {BR, R}, fb, sizeof fb}};
        char p[4200];
        mkdir(path_of("adapter"), 0755);
        snprintf(p, sizeof p, "%s/adapter_model.safetensors", path_of("adapter"));
        write_st(p, ta, 2);
        snprintf(p, sizeof p, "%s/adapter_config.json", path_of("adapter"));
        const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"v_proj\"]}";
        ck_assert_int_eq(cli_write(p, cfg, strlen(cfg)), 0);
        char *cat = strdup(path_of("catalog.db")), *base = strdup(path_of("base.safetensors"));
        tw tb[1] = {{"model.layers.0.self_attn.v_proj.weight", lsc_dtype_name(dts[d]), 2, {BR, BC}, wb, n * es}};
        write_st(base, tb, 1);
        expect_ok(cat, "import", path_of("adapter"), "--name", "A", NULL);
        expect_ok(cat, "base", "A", base, NULL, NULL);
        char *norms = show_norms_json(cat);
        cli_result r = cli_run(cat, "show", "A", "--base", "--json", NULL);
        ck_assert_msg(r.code == 0, "show --base: %s", r.err);
        double bn = layer_real(norms, "base_norm"), want = ref_four_lane_norm(wf, n);
        double rn = layer_real(norms, "rel_norm"), rn_full = layer_real(r.out, "rel_norm");
        double bn_full = layer_real(r.out, "base_norm");
        ck_assert_msg(memcmp(&bn, &want, sizeof bn) == 0 && memcmp(&bn, &bn_full, sizeof bn) == 0,
                      "%s base_norm %.17g, here %.17g, full figures %.17g", lsc_dtype_name(dts[d]), bn, want, bn_full);
        ck_assert_msg(memcmp(&rn, &rn_full, sizeof rn) == 0 && rn > 0, "%s rel_norm %.17g vs %.17g",
                      lsc_dtype_name(dts[d]), rn, rn_full);
        cli_result_free(&r);
        /* a byte in the tensor's last read (the file ends with the tensor) */
        size_t len;
        unsigned char *bytes = cli_slurp(base, &len);
        bytes[len - 3] ^= 0x10;
        ck_assert_int_eq(cli_write(base, bytes, len), 0);
        expect_norms_refused(cat, "base.safetensors", "model.layers.0.self_attn.v_proj.weight", "changed on disk");
        ck_assert_int_eq(truncate(base, (off_t)(len - 1000)), 0);
        expect_norms_refused(cat, "base.safetensors", "model.layers.0.self_attn.v_proj.weight", "");
        free(bytes), free(norms), free(base), free(w), free(wb), free(wf);
        teardown(cat);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, figures_single_file);
    tcase_add_test(tc, figures_bf16_threads);
    tcase_add_test(tc, figures_sharded);
    tcase_add_test(tc, figures_gguf);
    tcase_add_test(tc, figures_gguf_q8);
    tcase_add_test(tc, no_base_recorded);
    tcase_add_test(tc, changed_on_disk);
    tcase_add_test(tc, expect_base_figures);
    tcase_add_test(tc, bake_single_file);
    tcase_add_test(tc, bake_dtype_f32);
    tcase_add_test(tc, bake_sharded);
    tcase_add_test(tc, bake_gguf);
    tcase_add_test(tc, bake_dora);
    tcase_add_test(tc, fan_in_fan_out);
    tcase_add_test(tc, bad_bases);
    tcase_add_test(tc, sketch_cache_two_adapters);
    tcase_add_test(tc, sketch_cache_keys);
    tcase_add_test(tc, sketch_cache_unwritable);
    tcase_add_test(tc, sketch_cache_pruned);
    tcase_add_test(tc, sketch_cache_superseded);
    tcase_add_test(tc, show_norms);
    tcase_add_test(tc, norms_streamed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
