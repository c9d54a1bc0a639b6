/* tests/check-diffusers.c: diffusers and cloneofsimo/lora files (store/diffusers.c, store/cloneofsimo.c,
 * their detection, import, show and export), through the real binary on the generated samples.
 *
 * Independent figures: each sample's layers are rebuilt here from the file's own tensors (read with the
 * safetensors reader) under a hand-written key map and hand-worked scales (the metadata's rank_pattern /
 * alpha_pattern, the network alphas), the dense float64 delta s*B*A is formed and its SVD taken
 * (LAPACKE), and `show --json` must give the same norm and singular values to 1e-9 relative. Unedited
 * exports are byte-identical; the diffusers samples exported to PEFT re-import with the same dense delta
 * to 1e-12; edited adapters (prune) export back in their own format and re-import unchanged. Malformed
 * variants exit 1 with one line and leave the catalog as it was.
 */
#include <check.h>
#include <jansson.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "cli_util.h"
#include "cloneofsimo.h"
#include "diffusers.h"
#include "detect.h"
#include "dtype.h"
#include "modkey.h"
#include "safetensors.h"

static char *g_tmp;
static char g_samples[4096];

static void spath(char *out, size_t cap, const char *file)
{
    snprintf(out, cap, "%s/%s", g_samples, file);
}

/* A tensor of file f as doubles (malloc'ed), with its shape. */
static double *tensor_doubles(lsc_st_file *f, const char *key, int64_t *rows, int64_t *cols)
{
    long i = lsc_st_find(f, key);
    ck_assert_msg(i >= 0, "no tensor '%s'", key);
    const lsc_st_tensor *t = &f->tensors[i];
    size_t n = (size_t)(t->end - t->begin), cnt = n / lsc_dtype_size(t->dtype);
    void *raw = malloc(n + 1);
    double *d = malloc((cnt + 1) * sizeof *d);
    lsc_error e;
    ck_assert_int_eq(lsc_st_read(f, (size_t)i, raw, &e), LSC_OK);
    ck_assert_int_eq(lsc_dtype_to_double(t->dtype, raw, cnt, d), LSC_OK);
    free(raw);
    *rows = t->shape[0];
    *cols = (int64_t)cnt / t->shape[0];
    return d;
}

/* Dense s * B * A [rows, cols] from the file's keys. */
static double *dense_delta(lsc_st_file *f, const char *down, const char *up, double s, int64_t *rows, int64_t *cols)
{
    int64_t r1, c1, r2, c2;
    double *A = tensor_doubles(f, down, &r1, &c1), *B = tensor_doubles(f, up, &r2, &c2);
    ck_assert_int_eq(c2, r1);
    double *D = calloc((size_t)(r2 * c1), sizeof *D);
    for (int64_t i = 0; i < r2; i++)
        for (int64_t k = 0; k < r1; k++)
            for (int64_t j = 0; j < c1; j++)
                D[i * c1 + j] += s * B[i * r1 + k] * A[k * c1 + j];
    free(A);
    free(B);
    *rows = r2;
    *cols = c1;
    return D;
}

/* Singular values of D [m, n] (all min(m, n) of them, descending) into sv (malloc'ed). */
static double *dense_sv(const double *D, int64_t m, int64_t n)
{
    double *copy = malloc((size_t)(m * n) * sizeof *copy);
    memcpy(copy, D, (size_t)(m * n) * sizeof *copy);
    int64_t k = m < n ? m : n;
    double *sv = malloc((size_t)k * sizeof *sv);
    /* row-major [m, n] read as column-major [n, m]: the transpose, same singular values */
    ck_assert_int_eq(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)n, (lapack_int)m, copy, (lapack_int)n, sv, NULL,
                                    1, NULL, 1),
                     0);
    free(copy);
    return sv;
}

static json_t *show_json(const char *cat, const char *name)
{
    cli_result r = cli_run(cat, "show", name, "--json", NULL);
    ck_assert_msg(r.code == 0, "show %s: %s", name, r.err);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    ck_assert_msg(j != NULL, "show --json: %s", je.text);
    cli_result_free(&r);
    return j;
}

static void import_ok(const char *cat, const char *path, const char *name)
{
    cli_result r = cli_run(cat, "import", path, "--name", name, NULL);
    ck_assert_msg(r.code == 0, "import %s: %s", path, r.err);
    cli_result_free(&r);
}

/* The file keys and the hand-worked scale of a sample's layer `name` (see samples/gen-samples.c). */
typedef void (*keymap)(const char *name, char *down, char *up, size_t cap, double *s);

static void map_attnprocs(const char *name, char *down, char *up, size_t cap, double *s)
{
    /* unet.<block>.to_q -> <block>.processor.to_q_lora; to_out.0 -> to_out_lora */
    char blk[512], proj[64];
    const char *p = strstr(name, ".to_");
    snprintf(blk, sizeof blk, "%.*s", (int)(p - name - 5), name + 5);
    snprintf(proj, sizeof proj, "%s", p + 1);
    if (strcmp(proj, "to_out.0") == 0)
        snprintf(proj, sizeof proj, "to_out");
    snprintf(down, cap, "%s.processor.%s_lora.down.weight", blk, proj);
    snprintf(up, cap, "%s.processor.%s_lora.up.weight", blk, proj);
    *s = 1.0;
}

static void map_loracompat(const char *name, char *down, char *up, size_t cap, double *s)
{
    const char *sp = strncmp(name, "unet.", 5) == 0 ? "lora" : "lora_linear_layer";
    snprintf(down, cap, "%s.%s.down.weight", name, sp);
    snprintf(up, cap, "%s.%s.up.weight", name, sp);
    *s = 4.0 / 8.0; /* network alpha 4 at rank 8 */
}

static void map_diffusers(const char *name, char *down, char *up, size_t cap, double *s)
{
    snprintf(down, cap, "%s.lora_A.weight", name);
    snprintf(up, cap, "%s.lora_B.weight", name);
    if (strncmp(name, "text_encoder.", 13) == 0)
        *s = 4.0 / 4.0; /* r 4, lora_alpha 4 */
    else if (strstr(name, "to_out.0"))
        *s = 4.0 / 8.0; /* rank_pattern 8, alpha_pattern 4 */
    else
        *s = 8.0 / 4.0; /* r 4, lora_alpha 8 */
}

static void map_clone(const char *name, char *down, char *up, size_t cap, double *s)
{
    snprintf(down, cap, "%s:down", name);
    snprintf(up, cap, "%s:up", name);
    *s = 1.0;
}

typedef struct sample {
    const char *file, *name;
    keymap map;
    int layers;
} sample;

static const sample samples[] = {
    {"sd-tiny-attnprocs.safetensors", "attnprocs", map_attnprocs, 16},
    {"sd-tiny-loracompat.safetensors", "loracompat", map_loracompat, 10},
    {"sd-tiny-diffusers.safetensors", "diffusers", map_diffusers, 12},
    {"sd-tiny-cloneofsimo.safetensors", "cloneofsimo", map_clone, 16},
};

/* Import sample k into cat under its own name; its file's path into file[cap]. */
static void import_sample(const char *cat, size_t k, char *file, size_t cap)
{
    spath(file, cap, samples[k].file);
    import_ok(cat, file, samples[k].name);
}

#define N_SAMPLES (sizeof samples / sizeof samples[0])

/* Every layer of `j` (show --json) against the dense delta of `file` under `map`. */
static void check_against_dense(json_t *j, const char *file, keymap map, double tol)
{
    lsc_st_file *f = NULL;
    lsc_error e;
    ck_assert_msg(lsc_st_open(file, &f, &e) == LSC_OK, "%s", e.msg);
    json_t *layers = json_object_get(j, "layers");
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) {
        const char *name = json_string_value(json_object_get(l, "name"));
        char down[1024], up[1024];
        double s;
        map(name, down, up, sizeof down, &s);
        int64_t m, n;
        double *D = dense_delta(f, down, up, s, &m, &n);
        double *sv = dense_sv(D, m, n);
        double fro = 0;
        for (int64_t k = 0; k < m * n; k++)
            fro += D[k] * D[k];
        fro = sqrt(fro);
        ck_assert_msg(fabs(json_real_value(json_object_get(l, "scale")) - s) <= 1e-15 * s, "%s: scale %g, want %g",
                      name, json_real_value(json_object_get(l, "scale")), s);
        double got = json_number_value(json_object_get(l, "norm"));
        ck_assert_msg(fabs(got - fro) <= tol * fro, "%s: norm %.17g, dense %.17g", name, got, fro);
        json_t *jsv = json_object_get(l, "sv");
        ck_assert_int_ge(json_array_size(jsv), 1);
        for (size_t k = 0; k < json_array_size(jsv); k++) {
            double v = json_number_value(json_array_get(jsv, k));
            ck_assert_msg(fabs(v - sv[k]) <= tol * sv[0], "%s: sigma_%zu %.17g, dense %.17g", name, k + 1, v, sv[k]);
        }
        free(D);
        free(sv);
    }
    lsc_st_close(f);
}

START_TEST(test_show_matches_dense)
{
    char *dir = cli_tmpdir(), cat[4200], file[4200];
    snprintf(cat, sizeof cat, "%s/c.db", dir);
    for (size_t k = 0; k < N_SAMPLES; k++) {
        import_sample(cat, k, file, sizeof file);
        json_t *j = show_json(cat, samples[k].name);
        ck_assert_int_eq((int)json_array_size(json_object_get(j, "layers")), samples[k].layers);
        ck_assert_str_eq(json_string_value(json_object_get(j, "format")),
                         k == 3 ? "cloneofsimo" : "diffusers");
        check_against_dense(j, file, samples[k].map, 1e-9);
        json_decref(j);
    }
    /* the cloneofsimo token embedding is kept, and show says the names are positions */
    cli_result r = cli_run(cat, "show", "cloneofsimo", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "1 extra tensor(s) kept"));
    ck_assert_ptr_nonnull(strstr(r.out, "no module paths"));
    cli_result_free(&r);
    cli_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_unedited_export_identical)
{
    char *dir = cli_tmpdir(), cat[4200], file[4200], out[4200];
    snprintf(cat, sizeof cat, "%s/c.db", dir);
    for (size_t k = 0; k < N_SAMPLES; k++) {
        import_sample(cat, k, file, sizeof file);
        snprintf(out, sizeof out, "%s/%s.safetensors", dir, samples[k].name);
        cli_result r = cli_run(cat, "export", samples[k].name, out, NULL); /* default: its own format */
        ck_assert_msg(r.code == 0, "%s", r.err);
        cli_result_free(&r);
        ck_assert_msg(cli_same_file(file, out), "%s: export differs from the source", samples[k].name);
    }
    cli_rmtree(dir);
    free(dir);
}
END_TEST

/* Import sample k into cat, export it with --format fmt to DIR/<name>-<fmt><ext> (its path into out[cap])
 * and import that back as <name>-<fmt> (into back[bcap]); each step must succeed. */
static void export_roundtrip(const char *cat, const char *dir, size_t k, const char *fmt, const char *ext, char *out,
                             size_t cap, char *back, size_t bcap)
{
    char file[4200];
    import_sample(cat, k, file, sizeof file);
    snprintf(out, cap, "%s/%s-%s%s", dir, samples[k].name, fmt, ext);
    cli_ok(cat, "export", samples[k].name, out, "--format", fmt, NULL);
    snprintf(back, bcap, "%s-%s", samples[k].name, fmt);
    import_ok(cat, out, back);
}

/* A PEFT layer name's keys and the scale its re-import reports. */
static const char *g_peft_dir;
static double g_peft_scale;
static void map_peft(const char *name, char *down, char *up, size_t cap, double *s)
{
    snprintf(down, cap, "%s.lora_A.weight", name);
    snprintf(up, cap, "%s.lora_B.weight", name);
    *s = g_peft_scale;
}

START_TEST(test_to_peft_same_delta)
{
    char *dir = cli_tmpdir(), cat[4200], file[4200], out[4200], st_file[4300];
    snprintf(cat, sizeof cat, "%s/c.db", dir);
    for (size_t k = 0; k < 3; k++) {
        char name[64];
        export_roundtrip(cat, dir, k, "peft", "", out, sizeof out, name, sizeof name);
        spath(file, sizeof file, samples[k].file);
        json_t *orig = show_json(cat, samples[k].name), *back = show_json(cat, name);
        json_t *lo = json_object_get(orig, "layers"), *lb = json_object_get(back, "layers");
        ck_assert_int_eq((int)json_array_size(lb), samples[k].layers);
        ck_assert_str_eq(json_string_value(json_object_get(back, "format")), "peft");
        snprintf(st_file, sizeof st_file, "%s/adapter_model.safetensors", out);
        lsc_st_file *fo = NULL, *fb = NULL;
        lsc_error e;
        ck_assert(lsc_st_open(file, &fo, &e) == LSC_OK && lsc_st_open(st_file, &fb, &e) == LSC_OK);
        g_peft_dir = out;
        for (size_t i = 0; i < json_array_size(lb); i++) {
            json_t *b = json_array_get(lb, i);
            const char *ln = json_string_value(json_object_get(b, "name"));
            int found = 0;
            for (size_t q = 0; q < json_array_size(lo); q++)
                found |= strcmp(json_string_value(json_object_get(json_array_get(lo, q), "name")), ln) == 0;
            ck_assert_msg(found, "layer %s is new after the round trip", ln);
            char d1[1024], u1[1024], d2[1024], u2[1024];
            double s1, s2;
            samples[k].map(ln, d1, u1, sizeof d1, &s1);
            g_peft_scale = json_number_value(json_object_get(b, "scale"));
            map_peft(ln, d2, u2, sizeof d2, &s2);
            int64_t m1, n1, m2, n2;
            double *D1 = dense_delta(fo, d1, u1, s1, &m1, &n1), *D2 = dense_delta(fb, d2, u2, s2, &m2, &n2);
            ck_assert(m1 == m2 && n1 == n2);
            double num = 0, den = 0;
            for (int64_t t = 0; t < m1 * n1; t++) {
                num += (D1[t] - D2[t]) * (D1[t] - D2[t]);
                den += D1[t] * D1[t];
            }
            ck_assert_msg(sqrt(num) <= 1e-12 * sqrt(den), "%s: relative difference %g", ln, sqrt(num / den));
            free(D1);
            free(D2);
        }
        lsc_st_close(fo);
        lsc_st_close(fb);
        json_decref(orig);
        json_decref(back);
    }
    /* a PEFT adapter has no diffusers or cloneofsimo key spellings: both are refused with one line, no file */
    spath(file, sizeof file, "llama-tiny-f32");
    import_ok(cat, file, "llama");
    static const char *const fmts[] = {"diffusers", "cloneofsimo"};
    for (int f = 0; f < 2; f++) {
        snprintf(out, sizeof out, "%s/llama-%s.safetensors", dir, fmts[f]);
        cli_result rr = cli_run(cat, "export", "llama", out, "--format", fmts[f], NULL);
        ck_assert_int_eq(rr.code, 1);
        ck_assert_int_eq(cli_lines(rr.err), 1);
        ck_assert_ptr_nonnull(strstr(rr.err, "is a peft adapter"));
        ck_assert_int_ne(access(out, F_OK), 0);
        cli_result_free(&rr);
    }
    /* cloneofsimo has no module paths: export to PEFT is refused with one line */
    spath(file, sizeof file, samples[3].file);
    import_ok(cat, file, "clone");
    snprintf(out, sizeof out, "%s/clone-peft", dir);
    cli_result r = cli_run(cat, "export", "clone", out, "--format", "peft", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_int_eq(cli_lines(r.err), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "by position"));
    cli_result_free(&r);
    cli_rmtree(dir);
    free(dir);
}
END_TEST

/* The largest relative Frobenius difference over the layers of `diff A B --json`. */
static void assert_same_delta(const char *cat, const char *a, const char *b, int layers)
{
    cli_result r = cli_run(cat, "diff", a, b, "--json", NULL);
    ck_assert_msg(r.code == 0, "diff: %s", r.err);
    json_t *j = json_loads(r.out, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *ls = json_object_get(j, "layers");
    ck_assert_int_eq((int)json_array_size(ls), layers);
    size_t i;
    json_t *l;
    json_array_foreach(ls, i, l) {
        json_t *rd = json_object_get(l, "rel_diff");
        ck_assert_msg(rd && json_number_value(rd) <= 1e-12, "layer %zu: rel_diff %g", i, json_number_value(rd));
    }
    json_decref(j);
    cli_result_free(&r);
}

START_TEST(test_edited_export_reimports)
{
    char *dir = cli_tmpdir(), cat[4200], file[4200], out[4200];
    snprintf(cat, sizeof cat, "%s/c.db", dir);
    for (size_t k = 0; k < N_SAMPLES; k++) {
        import_sample(cat, k, file, sizeof file);
        char pruned[64], back[64];
        snprintf(pruned, sizeof pruned, "%s-r2", samples[k].name);
        snprintf(back, sizeof back, "%s-back", samples[k].name);
        cli_ok(cat, "prune", samples[k].name, "--rank", "2", "--as", pruned, NULL);
        snprintf(out, sizeof out, "%s/%s.safetensors", dir, pruned);
        cli_ok(cat, "export", pruned, out, NULL);
        import_ok(cat, out, back);
        json_t *j = show_json(cat, back);
        ck_assert_str_eq(json_string_value(json_object_get(j, "format")), k == 3 ? "cloneofsimo" : "diffusers");
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(j, "layers"), i, l) ck_assert_int_eq(json_integer_value(json_object_get(l, "rank")), 2);
        json_decref(j);
        assert_same_delta(cat, pruned, back, samples[k].layers);
    }
    cli_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- malformed files --------------------------------------------------------------------------------- */

/* Write a safetensors file from a header body (tensors, F32, listed in data order) and zeros. */
static void write_file(const char *path, const char *header, size_t data_bytes)
{
    unsigned char *z = calloc(data_bytes + 1, 1);
    for (size_t i = 0; i < data_bytes; i += 4) { /* 0.5f: finite, non-zero */
        z[i + 2] = 0x00;
        z[i + 3] = 0x3f;
    }
    ck_assert_int_eq(cli_write_st(path, header, z, data_bytes), 0);
    free(z);
}

/* Importing `path` must fail with exit 1, one line containing `want`, and the catalog unchanged. */
static void assert_refused(const char *cat, const char *path, const char *want)
{
    char *before = cli_names_hashes(cat);
    cli_result r = cli_run(cat, "import", path, NULL);
    ck_assert_msg(r.code == 1, "%s: exit %d (%s)", path, r.code, r.out);
    ck_assert_msg(cli_lines(r.err) == 1, "%s: %d lines: %s", path, cli_lines(r.err), r.err);
    ck_assert_msg(strstr(r.err, want) != NULL, "%s: '%s' lacks '%s'", path, r.err, want);
    cli_assert_unchanged(cat, before);
    cli_result_free(&r);
}

#define T(name, shape, a, b) "\"" name "\":{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" #a "," #b "]}"

START_TEST(test_malformed_refused)
{
    char *dir = cli_tmpdir(), cat[4200], p[4200], file[4200];
    snprintf(cat, sizeof cat, "%s/c.db", dir);
    spath(file, sizeof file, samples[0].file);
    import_ok(cat, file, "keep"); /* a catalog with something in it */
    static const struct {
        const char *header;
        size_t bytes;
        const char *want;
    } bad[] = {
        /* missing partner, each spelling */
        {"{" T("unet.a.lora.down.weight", "[2,4]", 0, 32) "}", 32, "no matching 'unet.a.lora.up.weight'"},
        {"{" T("x.processor.to_q_lora.up.weight", "[4,2]", 0, 32) "}", 32, "to_q_lora.down.weight"},
        {"{" T("unet.a.lora_A.weight", "[2,4]", 0, 32) "}", 32, "no matching 'unet.a.lora_B.weight'"},
        {"{" T("unet:0:down", "[2,4]", 0, 32) "}", 32, "no matching 'unet:0:up'"},
        /* shape mismatch */
        {"{" T("unet.a.lora.down.weight", "[2,4]", 0, 32) "," T("unet.a.lora.up.weight", "[4,3]", 32, 80) "}", 80,
         "rank mismatch"},
        {"{" T("unet:0:down", "[2,4]", 0, 32) "," T("unet:0:up", "[4,3]", 32, 80) "}", 80, "rank mismatch"},
        {"{" T("unet.a.lora.down.weight", "[2,4]", 0, 32) "," T("unet.a.lora.up.weight", "[4]", 32, 48) "}", 48,
         "neither a linear nor a conv"},
        /* rank 0: out of range in every spelling (cloneofsimo called it a rank mismatch of 0 against 0) */
        {"{" T("unet.a.lora.down.weight", "[0,4]", 0, 0) "," T("unet.a.lora.up.weight", "[4,0]", 0, 0) "}", 0,
         "tensor 'unet.a.lora.down.weight': rank 0 out of range"},
        {"{" T("unet:0:down", "[0,4]", 0, 0) "," T("unet:0:up", "[4,0]", 0, 0) "}", 0,
         "tensor 'unet:0:down': rank 0 out of range"},
        /* rank metadata disagreeing with the tensors */
        {"{\"__metadata__\":{\"unet:0:rank\":\"3\"}," T("unet:0:down", "[2,4]", 0, 32) "," T("unet:0:up", "[4,2]", 32, 64) "}",
         64, "metadata 'unet:0:rank' is '3' but the tensors have rank 2"},
        {"{\"__metadata__\":{\"lora_adapter_metadata\":\"{\\\"unet.r\\\": 3, \\\"unet.lora_alpha\\\": 3}\"},"
         T("unet.a.lora_A.weight", "[2,4]", 0, 32) "," T("unet.a.lora_B.weight", "[4,2]", 32, 64) "}",
         64, "gives r 3 but the tensors have rank 2"},
        /* bad metadata JSON */
        {"{\"__metadata__\":{\"lora_adapter_metadata\":\"{not json\"}," T("unet.a.lora_A.weight", "[2,4]", 0, 32) ","
         T("unet.a.lora_B.weight", "[4,2]", 32, 64) "}", 64, "metadata 'lora_adapter_metadata' is not valid JSON"},
        {"{\"__metadata__\":{\"lora_adapter_metadata\":\"[1]\"}," T("unet.a.lora_A.weight", "[2,4]", 0, 32) ","
         T("unet.a.lora_B.weight", "[4,2]", 32, 64) "}", 64, "is not a JSON object"},
        {"{\"__metadata__\":{\"unet\":\"CrossAttention\"}," T("unet:0:down", "[2,4]", 0, 32) "," T("unet:0:up", "[4,2]", 32, 64) "}",
         64, "metadata 'unet' is not a JSON list"},
        /* an alpha beside the metadata config (diffusers refuses it too) */
        {"{\"__metadata__\":{\"lora_adapter_metadata\":\"{\\\"unet.r\\\": 2}\"}," T("unet.a.alpha", "[]", 0, 4) ","
         T("unet.a.lora_A.weight", "[2,4]", 4, 36) "," T("unet.a.lora_B.weight", "[4,2]", 36, 68) "}",
         68, "network alpha beside metadata"},
        /* the same cloneofsimo position written two ways */
        {"{" T("unet:07:down", "[2,4]", 0, 32) "," T("unet:7:down", "[2,4]", 32, 64) "," T("unet:7:up", "[4,2]", 64, 96) "}",
         96, "are the same factor of layer 'unet:7'"},
        /* the same factor twice under two spellings */
        {"{" T("unet.a.lora.down.weight", "[2,4]", 0, 32) "," T("unet.a.lora.up.weight", "[4,2]", 32, 64) ","
         T("unet.a.lora_linear_layer.down.weight", "[2,4]", 64, 96) "}", 96, "are the same factor of layer 'unet.a'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(p, sizeof p, "%s/bad%zu.safetensors", dir, i);
        write_file(p, bad[i].header, bad[i].bytes);
        assert_refused(cat, p, bad[i].want);
    }
    /* a pickle (.bin) is refused by name */
    snprintf(p, sizeof p, "%s/pytorch_lora_weights.bin", dir);
    static const char zip[20] = "PK\003\004"; /* a zip local header, as torch.save writes */
    ck_assert_int_eq(cli_write(p, zip, sizeof zip), 0);
    assert_refused(cat, p, "PyTorch pickle");
    snprintf(p, sizeof p, "%s/lora.bin", dir);
    static const char pickle[] = "\x80\x02}q\x00(X\x01\x00\x00\x00" "a"; /* protocol 2: {"a": ... */
    ck_assert_int_eq(cli_write(p, pickle, sizeof pickle - 1), 0);
    assert_refused(cat, p, "PyTorch pickle");
    cli_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_detect_formats)
{
    char file[4200], fmt[16];
    lsc_error e;
    static const char *const want[] = {"diffusers", "diffusers", "diffusers", "cloneofsimo"};
    for (size_t k = 0; k < N_SAMPLES; k++) {
        spath(file, sizeof file, samples[k].file);
        ck_assert_msg(lsc_detect_format(file, fmt, sizeof fmt, &e) == LSC_OK, "%s", e.msg);
        ck_assert_str_eq(fmt, want[k]);
    }
    /* a unet.-prefixed lora_A/lora_B file with an adapter_config.json beside it stays PEFT */
    char *dir = cli_tmpdir(), p[4200], cfg[4200];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    write_file(p, "{" T("unet.a.lora_A.weight", "[2,4]", 0, 32) "," T("unet.a.lora_B.weight", "[4,2]", 32, 64) "}", 64);
    ck_assert_int_eq(lsc_detect_format(p, fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "diffusers");
    /* PEFT's other spellings under a component prefix (an adapter segment, DoRA) stay PEFT: the diffusers
     * reader does not take them */
    char q[4200];
    snprintf(q, sizeof q, "%s/named.safetensors", dir);
    write_file(q, "{" T("unet.a.lora_A.default.weight", "[2,4]", 0, 32) "," T("unet.a.lora_B.default.weight", "[4,2]", 32, 64) "}",
               64);
    ck_assert_int_eq(lsc_detect_format(q, fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "peft");
    snprintf(q, sizeof q, "%s/dora.safetensors", dir);
    write_file(q, "{" T("unet.a.lora_A.weight", "[2,4]", 0, 32) "," T("unet.a.lora_B.weight", "[4,2]", 32, 64) ","
               T("unet.a.lora_magnitude_vector", "[4]", 64, 80) "}", 80);
    ck_assert_int_eq(lsc_detect_format(q, fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "peft");
    /* mixed: one key without a component and no metadata: PEFT (scale 1 with a warning, as before) */
    snprintf(q, sizeof q, "%s/mixed.safetensors", dir);
    write_file(q, "{" T("a.lora_A.weight", "[2,4]", 0, 32) "," T("a.lora_B.weight", "[4,2]", 32, 64) ","
               T("unet.b.lora_A.weight", "[2,4]", 64, 96) "," T("unet.b.lora_B.weight", "[4,2]", 96, 128) "}", 128);
    ck_assert_int_eq(lsc_detect_format(q, fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "peft");
    snprintf(cfg, sizeof cfg, "%s/adapter_config.json", dir);
    ck_assert_int_eq(cli_write(cfg, "{\"r\": 2, \"lora_alpha\": 2}", 25), 0);
    ck_assert_int_eq(lsc_detect_format(p, fmt, sizeof fmt, &e), LSC_OK);
    ck_assert_str_eq(fmt, "peft");
    cli_rmtree(dir);
    free(dir);
}
END_TEST

/* diff pairs a diffusers module with its kohya twin (the modkey identity) */
START_TEST(test_diff_with_kohya_twin)
{
    char *dir = cli_tmpdir(), cat[4200], out[4200];
    snprintf(cat, sizeof cat, "%s/c.db", dir);
    for (size_t k = 0; k < 2; k++) {
        char name[64];
        export_roundtrip(cat, dir, k, "kohya", ".safetensors", out, sizeof out, name, sizeof name);
        assert_same_delta(cat, samples[k].name, name, samples[k].layers);
    }
    cli_rmtree(dir);
    free(dir);
}
END_TEST

/* ‖s1 B1 A1 − s2 B2 A2‖_F / ‖s1 B1 A1‖_F of layer li of two adapters, densely. */
static double layer_rel_diff(lsc_adapter *x, lsc_adapter *y, size_t li)
{
    double *b1 = NULL, *a1 = NULL, *b2 = NULL, *a2 = NULL;
    size_t c1 = 0, c2 = 0, c3 = 0, c4 = 0;
    lsc_lowrank l1, l2;
    lsc_error e;
    ck_assert_msg(lsc_adapter_factors(x, li, &b1, &c1, &a1, &c2, &l1, &e) == LSC_OK, "%s", e.msg);
    ck_assert_msg(lsc_adapter_factors(y, li, &b2, &c3, &a2, &c4, &l2, &e) == LSC_OK, "%s", e.msg);
    ck_assert(l1.rows == l2.rows && l1.cols == l2.cols);
    double num = 0, den = 0;
    for (int64_t i = 0; i < l1.rows; i++)
        for (int64_t j = 0; j < l1.cols; j++) {
            double u = 0, v = 0;
            for (int k = 0; k < l1.r; k++)
                u += b1[i * l1.r + k] * a1[k * l1.cols + j];
            for (int k = 0; k < l2.r; k++)
                v += b2[i * l2.r + k] * a2[k * l2.cols + j];
            u *= l1.scale;
            v *= l2.scale;
            num += (u - v) * (u - v);
            den += u * u;
        }
    free(b1);
    free(a1);
    free(b2);
    free(a2);
    return sqrt(num / den);
}

/* A changed scale survives a write in the file's own way: the network alpha (loracompat), literal
 * metadata patterns (diffusers), or folded into B (attention processors and cloneofsimo: no alpha). */
START_TEST(test_scale_carried)
{
    char *dir = cli_tmpdir(), file[4200], out[4300];
    static const double tol[] = {1e-6, 1e-12, 1e-12, 1e-6}; /* folding rounds B to F32 once */
    for (size_t k = 0; k < N_SAMPLES; k++) {
        spath(file, sizeof file, samples[k].file);
        snprintf(out, sizeof out, "%s/%s", dir, samples[k].file);
        lsc_adapter *ad = NULL, *back = NULL, *orig = NULL;
        lsc_error e;
        int clone = k == 3;
        lsc_status (*rd)(const char *, lsc_adapter **, lsc_error *) = clone ? lsc_cloneofsimo_read : lsc_diffusers_read;
        ck_assert_msg(rd(file, &ad, &e) == LSC_OK, "%s", e.msg);
        ck_assert_msg(rd(file, &orig, &e) == LSC_OK, "%s", e.msg);
        for (size_t li = 0; li < ad->n_layers; li++) {
            ad->layers[li].scale *= 3;
            ad->layers[li].alpha *= 3;
        }
        lsc_status st = clone ? lsc_cloneofsimo_write(ad, out, LSC_DT_INVALID, &e)
                              : lsc_diffusers_write(ad, out, LSC_DT_INVALID, &e);
        ck_assert_msg(st == LSC_OK, "%s", e.msg);
        ck_assert_msg(!cli_same_file(file, out), "%s: a changed scale wrote the source bytes", samples[k].name);
        ck_assert_msg(rd(out, &back, &e) == LSC_OK, "%s: %s", samples[k].name, e.msg);
        ck_assert_int_eq((int)back->n_layers, (int)ad->n_layers);
        for (size_t li = 0; li < ad->n_layers; li++) {
            ck_assert_str_eq(back->layers[li].name, ad->layers[li].name);
            double d = layer_rel_diff(ad, back, li);
            ck_assert_msg(d <= tol[k], "%s: layer %s differs by %g", samples[k].name, ad->layers[li].name, d);
            ck_assert_msg(layer_rel_diff(orig, back, li) > 0.5, "%s: layer %s kept its old delta", samples[k].name,
                          ad->layers[li].name);
        }
        lsc_adapter_free(ad);
        lsc_adapter_free(back);
        lsc_adapter_free(orig);
    }
    cli_rmtree(dir);
    free(dir);
}
END_TEST

/* One UNet module as PEFT (no component), diffusers (unet.) and kohya store it: one identity */
START_TEST(test_modkey_unet_twins)
{
    static const char *const names[] = {
        "base_model.model.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0",
        "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0",
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0",
    };
    char k[LSC_MODKEY_MAX];
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(lsc_modkey_canonical(names[i], k, sizeof k), 0);
        ck_assert_str_eq(k, names[3]);
    }
    /* a text encoder's path keeps kohya's lora_te_ on both sides */
    ck_assert_int_eq(lsc_modkey_canonical("base_model.model.text_model.encoder.layers.0.self_attn.q_proj", k, sizeof k), 0);
    ck_assert_str_eq(k, "lora_te_text_model_encoder_layers_0_self_attn_q_proj");
    ck_assert_int_eq(lsc_modkey_canonical("text_encoder.text_model.encoder.layers.0.self_attn.q_proj", k, sizeof k), 0);
    ck_assert_str_eq(k, "lora_te_text_model_encoder_layers_0_self_attn_q_proj");
}
END_TEST

int main(void)
{
    if (cli_setup_samples(&g_tmp, g_samples, sizeof g_samples) != 0)
        return 1;
    const TTest *const tests[] = {test_show_matches_dense, test_unedited_export_identical, test_to_peft_same_delta,
                                  test_edited_export_reimports, test_malformed_refused, test_detect_formats,
                                  test_diff_with_kohya_twin, test_scale_carried, test_modkey_unet_twins, NULL};
    return cli_run_suite("diffusers", tests, 0, g_tmp);
}
