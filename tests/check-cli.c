/* check-cli.c: the lorascope binary end to end on the generated samples and on malformed input.
 *
 * Runs the real binary (LSC_BIN) against a catalog in a temporary folder. Checks exit codes (0 ok,
 * 1 error, 2 usage), one-line errors naming the file/tensor/key, that a rejected input leaves the
 * catalog file byte-identical, that `show --json` norms match a dense float64 computation made here from
 * the source files, and that an unedited export is byte-identical to the imported files. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "command.h"
#include "cli_util.h"
#include "dtype.h"
#include "safetensors.h"
#include "table.h"

static char *g_tmp;      /* per-process temporary folder */
static char g_samples[4200];

/* Generate the samples once, in the parent process, before the (forked) tests run. */
static int setup_samples(void)
{
    if (cli_setup_samples(&g_tmp, g_samples, sizeof g_samples) != 0)
        return -1;
    return 0;
}

static void make_samples(void)
{
    ck_assert_ptr_nonnull(g_tmp);
}

/* A fresh catalog path inside the temporary folder. */
static void fresh_catalog(char *buf, size_t cap, const char *tag)
{
    make_samples();
    snprintf(buf, cap, "%s/%s.db", g_tmp, tag);
    remove(buf);
}

static void sample_path(char *buf, size_t cap, const char *name)
{
    make_samples();
    snprintf(buf, cap, "%s/%s", g_samples, name);
}

static json_t *run_json(const char *cat, const char *a1, const char *a2, const char *a3)
{
    cli_result r = a3 ? cli_run(cat, a1, a2, a3, "--json", NULL)
                   : a2 ? cli_run(cat, a1, a2, "--json", NULL) : cli_run(cat, a1, "--json", NULL);
    ck_assert_msg(r.code == 0, "%s %s failed: %s", a1, a2 ? a2 : "", r.err);
    json_error_t je;
    json_t *v = json_loads(r.out, 0, &je);
    ck_assert_msg(v != NULL, "bad JSON from %s: %s", a1, je.text);
    cli_result_free(&r);
    return v;
}

static void import_ok(const char *cat, const char *sample)
{
    char p[4400];
    sample_path(p, sizeof p, sample);
    cli_result r = cli_run(cat, "import", p, NULL);
    ck_assert_msg(r.code == 0, "import %s: %s", sample, r.err);
    cli_result_free(&r);
}

START_TEST(test_usage_and_help)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "usage");
    cli_result r = cli_run(NULL, "--version", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert(strncmp(r.out, "lorascope ", 10) == 0);
    cli_result_free(&r);
    r = cli_run(NULL, "--help", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "import"));
    ck_assert_ptr_nonnull(strstr(r.out, "diff"));
    cli_result_free(&r);
    const char *cmds[] = {"import", "ls", "show", "spectrum", "diff", "export", "rm", "rename", "log"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        r = cli_run(cat, cmds[i], "--help", NULL);
        ck_assert_msg(r.code == 0, "%s --help", cmds[i]);
        ck_assert_ptr_nonnull(strstr(r.out, "usage: lorascope "));
        cli_result_free(&r);
    }
    r = cli_run(cat, "frobnicate", NULL);
    ck_assert_int_eq(r.code, 2);
    ck_assert_int_eq(cli_lines(r.err), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "unknown command 'frobnicate'"));
    cli_result_free(&r);
    r = cli_run(cat, "ls", "--bogus", NULL);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--bogus"));
    cli_result_free(&r);
    r = cli_run(cat, "import", NULL);
    ck_assert_int_eq(r.code, 2);
    cli_result_free(&r);
    /* a read command on a catalog that does not exist: an error, and no file created */
    r = cli_run(cat, "ls", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no catalog"));
    struct stat sb;
    ck_assert_int_ne(stat(cat, &sb), 0);
    cli_result_free(&r);
}
END_TEST

/* Every sample imports; identical content is recognised, not duplicated. */
START_TEST(test_import_samples)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "import");
    DIR *d = opendir(g_samples);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int n_dirs = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "dense-pair") == 0) /* a base/tuned pair, not an adapter */
            continue;
        import_ok(cat, e->d_name);
        n_dirs++;
    }
    closedir(d);
    ck_assert_int_ge(n_dirs, 6);
    json_t *ls = run_json(cat, "ls", NULL, NULL);
    size_t before = json_array_size(ls);
    ck_assert_uint_ge(before, (size_t)n_dirs);
    json_t *hist = run_json(cat, "log", NULL, NULL);
    size_t hist_before = json_array_size(hist);
    json_decref(hist);
    char p[4400];
    sample_path(p, sizeof p, "llama-tiny-f32");
    cli_result r = cli_run(cat, "import", p, NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.err, "already in the catalog as 'llama-tiny-f32'"));
    cli_result_free(&r);
    json_t *ls2 = run_json(cat, "ls", NULL, NULL);
    ck_assert_uint_eq(json_array_size(ls2), before);
    hist = run_json(cat, "log", NULL, NULL);
    ck_assert_uint_eq(json_array_size(hist), hist_before);
    json_decref(hist);
    /* asking for the same name again is not a change either */
    r = cli_run(cat, "import", p, "--name", "llama-tiny-f32", NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    hist = run_json(cat, "log", NULL, NULL);
    ck_assert_uint_eq(json_array_size(hist), hist_before);
    json_decref(hist);
    /* every entry carries name, layers and params, and params is the factor count */
    json_t *a;
    size_t i;
    json_array_foreach(ls2, i, a) {
        ck_assert(json_is_string(json_object_get(a, "name")));
        ck_assert_int_gt(json_integer_value(json_object_get(a, "layers")), 0);
        ck_assert_int_gt(json_integer_value(json_object_get(a, "params")), 0);
    }
    json_decref(ls);
    json_decref(ls2);
}
END_TEST

/* Dense float64 reference for one layer read straight from the source file. */
static double *tensor_doubles(lsc_st_file *f, const char *name, int64_t *numel, int64_t shape[2])
{
    long i = lsc_st_find(f, name);
    ck_assert_msg(i >= 0, "tensor %s not in source", name);
    lsc_st_tensor *t = &f->tensors[i];
    size_t nb = (size_t)(t->end - t->begin);
    void *raw = malloc(nb ? nb : 1);
    lsc_error err;
    ck_assert_int_eq(lsc_st_read(f, (size_t)i, raw, &err), LSC_OK);
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    double *v = malloc((size_t)n * sizeof(double));
    ck_assert_int_eq(lsc_dtype_to_double(t->dtype, raw, (size_t)n, v), LSC_OK);
    free(raw);
    *numel = n;
    shape[0] = t->shape[0];
    shape[1] = t->ndim > 1 ? n / t->shape[0] : 1;
    return v;
}

static void check_norms(const char *cat, const char *sample)
{
    char dir[4400], file[4500], cfgp[4500];
    sample_path(dir, sizeof dir, sample);
    snprintf(file, sizeof file, "%s/adapter_model.safetensors", dir);
    snprintf(cfgp, sizeof cfgp, "%s/adapter_config.json", dir);
    json_t *cfg = json_load_file(cfgp, 0, NULL);
    ck_assert_ptr_nonnull(cfg);
    double alpha = json_number_value(json_object_get(cfg, "lora_alpha"));
    int rslora = json_is_true(json_object_get(cfg, "use_rslora"));
    lsc_st_file *f = NULL;
    lsc_error err;
    ck_assert_int_eq(lsc_st_open(file, &f, &err), LSC_OK);
    json_t *show = run_json(cat, "show", sample, NULL);
    json_t *layers = json_object_get(show, "layers");
    ck_assert_uint_gt(json_array_size(layers), 0);
    json_t *l;
    size_t i;
    json_array_foreach(layers, i, l) {
        const char *name = json_string_value(json_object_get(l, "key"));
        char ka[1024], kb[1024];
        snprintf(ka, sizeof ka, "%s.lora_A.weight", name);
        snprintf(kb, sizeof kb, "%s.lora_B.weight", name);
        int64_t na, nb, sa[2], sb[2];
        double *A = tensor_doubles(f, ka, &na, sa), *B = tensor_doubles(f, kb, &nb, sb);
        int64_t r = sa[0], in = sa[1], out = sb[0];
        ck_assert_int_eq(json_integer_value(json_object_get(l, "rank")), r);
        ck_assert_int_eq(json_integer_value(json_object_get(l, "rows")), out);
        ck_assert_int_eq(json_integer_value(json_object_get(l, "cols")), in);
        double la = json_number_value(json_object_get(l, "alpha"));
        /* without patterns the config's alpha applies to every layer */
        if (!json_object_size(json_object_get(cfg, "alpha_pattern")))
            ck_assert_double_eq(la, alpha);
        double s = rslora ? la / sqrt((double)r) : la / (double)r;
        ck_assert(fabs(json_number_value(json_object_get(l, "scale")) - s) <= 1e-15 * fabs(s));
        double fro2 = 0;
        for (int64_t p = 0; p < out; p++)
            for (int64_t q = 0; q < in; q++) {
                double acc = 0;
                for (int64_t k = 0; k < r; k++)
                    acc += B[p * r + k] * A[k * in + q];
                fro2 += (s * acc) * (s * acc);
            }
        double norm = json_number_value(json_object_get(l, "norm"));
        ck_assert_msg(fabs(norm - sqrt(fro2)) <= 1e-9 * sqrt(fro2), "%s: norm %.17g vs dense %.17g", name, norm,
                      sqrt(fro2));
        json_t *sv = json_object_get(l, "sv");
        double ss = 0;
        for (size_t k = 0; k < json_array_size(sv); k++) {
            double v = json_number_value(json_array_get(sv, k));
            if (k > 0)
                ck_assert(v <= json_number_value(json_array_get(sv, k - 1)) * (1 + 1e-12));
            ss += v * v;
        }
        ck_assert(fabs(sqrt(ss) - sqrt(fro2)) <= 1e-9 * sqrt(fro2));
        free(A);
        free(B);
    }
    json_decref(show);
    json_decref(cfg);
    lsc_st_close(f);
}

START_TEST(test_show_matches_dense)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "show");
    const char *names[] = {"llama-tiny-f32", "llama-tiny-f16", "llama-tiny-bf16", "llama-tiny-rslora",
                           "llama-tiny-patterns"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        import_ok(cat, names[i]);
        check_norms(cat, names[i]);
    }
    /* filters and sorting */
    cli_result r = cli_run(cat, "show", "llama-tiny-f32", "--layers", "*q_proj", "--json", NULL);
    ck_assert_int_eq(r.code, 0);
    json_t *v = json_loads(r.out, 0, NULL);
    json_t *layers = json_object_get(v, "layers");
    ck_assert_uint_gt(json_array_size(layers), 0);
    json_t *l;
    size_t i;
    json_array_foreach(layers, i, l) {
        const char *n = json_string_value(json_object_get(l, "key"));
        ck_assert(strlen(n) > 6 && strcmp(n + strlen(n) - 6, "q_proj") == 0);
    }
    json_decref(v);
    cli_result_free(&r);
    r = cli_run(cat, "show", "llama-tiny-f32", "--sort", "norm", "--json", NULL);
    v = json_loads(r.out, 0, NULL);
    layers = json_object_get(v, "layers");
    for (i = 1; i < json_array_size(layers); i++)
        ck_assert(json_number_value(json_object_get(json_array_get(layers, i), "norm")) <=
                  json_number_value(json_object_get(json_array_get(layers, i - 1), "norm")));
    json_decref(v);
    cli_result_free(&r);
    r = cli_run(cat, "show", "llama-tiny-f32", "--sort", "nonsense", NULL);
    ck_assert_int_eq(r.code, 2);
    cli_result_free(&r);
    r = cli_run(cat, "show", "llama-tiny-f32", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "LAYER"));
    ck_assert_ptr_nonnull(strstr(r.out, "model.layers.0.self_attn.q_proj"));
    cli_result_free(&r);
    r = cli_run(cat, "show", "nope", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "'nope'"));
    cli_result_free(&r);
}
END_TEST

START_TEST(test_export_byte_identical)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "export");
    const char *names[] = {"llama-tiny-f32", "llama-tiny-f16", "llama-tiny-bf16", "llama-tiny-patterns",
                           "llama-tiny-rslora", "gpt2-tiny-conv1d"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        import_ok(cat, names[i]);
        char out[4400], src[4400], a[4500], b[4500];
        snprintf(out, sizeof out, "%s/exp-%s", g_tmp, names[i]);
        cli_result r = cli_run(cat, "export", names[i], out, NULL);
        ck_assert_msg(r.code == 0, "export %s: %s", names[i], r.err);
        cli_result_free(&r);
        sample_path(src, sizeof src, names[i]);
        const char *files[] = {"adapter_model.safetensors", "adapter_config.json"};
        for (int k = 0; k < 2; k++) {
            snprintf(a, sizeof a, "%s/%s", src, files[k]);
            snprintf(b, sizeof b, "%s/%s", out, files[k]);
            ck_assert_msg(cli_same_file(a, b), "%s/%s differs after export", names[i], files[k]);
        }
    }
    /* f32 -> f16 export re-imports with the same layers and norms to f16 precision */
    char out[4400];
    snprintf(out, sizeof out, "%s/exp-f16", g_tmp);
    cli_result r = cli_run(cat, "export", "llama-tiny-f32", out, "--dtype", "f16", NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    r = cli_run(cat, "import", out, "--name", "as-f16", NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    json_t *x = run_json(cat, "show", "llama-tiny-f32", NULL), *y = run_json(cat, "show", "as-f16", NULL);
    json_t *lx = json_object_get(x, "layers"), *ly = json_object_get(y, "layers");
    ck_assert_uint_eq(json_array_size(lx), json_array_size(ly));
    for (size_t i = 0; i < json_array_size(lx); i++) {
        double n1 = json_number_value(json_object_get(json_array_get(lx, i), "norm"));
        double n2 = json_number_value(json_object_get(json_array_get(ly, i), "norm"));
        ck_assert(fabs(n1 - n2) <= 2e-3 * n1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ly, i), "dtype")), "F16");
    }
    json_decref(x);
    json_decref(y);
    r = cli_run(cat, "export", "llama-tiny-f32", out, "--dtype", "f8", NULL);
    ck_assert_int_eq(r.code, 2);
    cli_result_free(&r);
}
END_TEST

/* A malformed input: import fails with exit 1, one line on stderr containing `needle`, and the catalog
 * file stays byte-identical. */
static void expect_rejected(const char *cat, const char *path, const char *needle)
{
    char copy[4400];
    snprintf(copy, sizeof copy, "%s.before", cat);
    ck_assert_int_eq(cli_copy(cat, copy), 0);
    cli_result r = cli_run(cat, "import", path, NULL);
    ck_assert_msg(r.code == 1, "%s: exit %d, stderr %s", path, r.code, r.err);
    ck_assert_msg(cli_lines(r.err) == 1, "%s: error is not one line: %s", path, r.err);
    ck_assert_msg(strstr(r.err, needle) != NULL, "%s: error '%s' lacks '%s'", path, r.err, needle);
    ck_assert_msg(cli_same_file(cat, copy), "%s: catalog changed", path);
    cli_result_free(&r);
}

/* Write a PEFT folder `name` with the given safetensors header/data and config text. */
static void bad_peft(char *dir, size_t cap, const char *name, const char *header, const void *data, size_t n,
                     const char *config)
{
    snprintf(dir, cap, "%s/bad-%s", g_tmp, name);
    mkdir(dir, 0755);
    char p[4600];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    if (header)
        ck_assert_int_eq(cli_write_st(p, header, data, n), 0);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    const char *cfg = config ? config
                             : "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"base_model_name_or_path\": \"x\","
                               " \"target_modules\": [\"q\"]}";
    ck_assert_int_eq(cli_write(p, cfg, strlen(cfg)), 0);
}

#define KA "\"base_model.model.l.0.q.lora_A.weight\""
#define KB "\"base_model.model.l.0.q.lora_B.weight\""

START_TEST(test_malformed_inputs)
{
    char cat[4300], dir[4400], p[4600];
    fresh_catalog(cat, sizeof cat, "bad");
    import_ok(cat, "llama-tiny-f32");
    float data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (float)(i + 1) * 0.01f;
    /* A [2, 3], B [4, 2]: 6 + 8 floats = 56 bytes */
    const char *good = "{" KA ":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," KB
                       ":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[24,56]}}";
    bad_peft(dir, sizeof dir, "control", good, data, 56, NULL);
    cli_result r = cli_run(cat, "import", dir, NULL);
    ck_assert_msg(r.code == 0, "the well-formed control case must import: %s", r.err);
    cli_result_free(&r);

    struct {
        const char *tag, *header;
        size_t n;
        const char *config, *needle;
    } cases[] = {
        {"trailing", good, 60, NULL, "adapter_model.safetensors"},
        {"gap", "{" KA ":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," KB
                ":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[28,60]}}", 60, NULL, "lora_B"},
        {"overlap", "{" KA ":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," KB
                    ":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[20,52]}}", 52, NULL, "adapter_model.safetensors"},
        {"mismatch", "{" KA ":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,24]}," KB
                     ":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[24,56]}}", 56, NULL, "lora_A"},
        {"overflow", "{" KA ":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,24]}," KB
                     ":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[24,56]}}", 56, NULL, "lora_A"},
        {"dtype", "{" KA ":{\"dtype\":\"F33\",\"shape\":[2,3],\"data_offsets\":[0,24]}," KB
                  ":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[24,56]}}", 56, NULL, "F33"},
        {"dup", "{" KA ":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," KA
                ":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[24,56]}}", 56, NULL, "adapter_model.safetensors"},
        {"notjson", "{this is not json", 0, NULL, "adapter_model.safetensors"},
        {"rank", "{" KA ":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," KB
                 ":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[24,56]}}", 56, NULL, "rank"},
        {"missingb", "{" KA ":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24, NULL, "lora_B"},
        {"empty", "{" KA ":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}," KB
                  ":{\"dtype\":\"F32\",\"shape\":[4,0],\"data_offsets\":[0,0]}}", 0, NULL, "lora_"},
        {"badconfig", good, 56, "{\"r\": 2, \"lora_alpha\": ", "adapter_config.json"},
        {"nanconfig", good, 56, "{\"r\": 2, \"lora_alpha\": NaN}", "adapter_config.json"},
        {"dupconfig", good, 56, "{\"r\": 2, \"r\": 3, \"lora_alpha\": 4}", "adapter_config.json"},
        {"zeror", good, 56, "{\"r\": 0, \"lora_alpha\": 4}", "adapter_config.json"},
        {"escape", "{\"base_model.model.l.0.q\\u001b[31m.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}",
         24, NULL, "\\x1b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad_peft(dir, sizeof dir, cases[i].tag, cases[i].header, data, cases[i].n, cases[i].config);
        expect_rejected(cat, dir, cases[i].needle);
    }
    /* truncated: a valid file cut short */
    bad_peft(dir, sizeof dir, "truncated", good, data, 40, NULL);
    expect_rejected(cat, dir, "adapter_model.safetensors");
    /* header length past the end, and over 100 MB */
    unsigned char raw[16] = {0};
    raw[0] = 200;
    bad_peft(dir, sizeof dir, "hdrlen", NULL, NULL, 0, NULL);
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    cli_write(p, raw, 16);
    expect_rejected(cat, dir, "adapter_model.safetensors");
    memset(raw, 0, sizeof raw);
    raw[0] = 0x01;
    raw[3] = 0x10; /* 0x10000001 > 100,000,000 */
    bad_peft(dir, sizeof dir, "hdrbig", NULL, NULL, 0, NULL);
    cli_write(p, raw, 16);
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    cli_write(p, raw, 16);
    expect_rejected(cat, dir, "adapter_model.safetensors");
    /* not there at all */
    snprintf(dir, sizeof dir, "%s/does-not-exist", g_tmp);
    expect_rejected(cat, dir, "does-not-exist");
}
END_TEST

START_TEST(test_rm_rename_log)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "edit");
    import_ok(cat, "llama-tiny-f32");
    import_ok(cat, "llama-tiny-bf16");
    cli_result r = cli_run(cat, "rename", "llama-tiny-f32", "llama-tiny-bf16", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "llama-tiny-bf16"));
    cli_result_free(&r);
    r = cli_run(cat, "rename", "llama-tiny-f32", "base-f32", NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    r = cli_run(cat, "rm", "llama-tiny-bf16", NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    json_t *ls = run_json(cat, "ls", NULL, NULL);
    ck_assert_uint_eq(json_array_size(ls), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ls, 0), "name")), "base-f32");
    json_decref(ls);
    json_t *log = run_json(cat, "log", NULL, NULL);
    ck_assert_uint_eq(json_array_size(log), 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(log, 0), "command")), "rm");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(log, 1), "command")), "rename");
    json_decref(log);
    log = run_json(cat, "log", "base-f32", NULL);
    ck_assert_uint_eq(json_array_size(log), 2); /* its import and its rename */
    json_decref(log);
    r = cli_run(cat, "show", "llama-tiny-bf16", NULL);
    ck_assert_int_eq(r.code, 1);
    cli_result_free(&r);
    r = cli_run(cat, "--readonly", "rm", "base-f32", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "read-only"));
    cli_result_free(&r);
}
END_TEST

START_TEST(test_diff_and_spectrum)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "diff");
    import_ok(cat, "llama-tiny-f32");
    import_ok(cat, "llama-tiny-bf16");
    import_ok(cat, "gpt2-tiny-conv1d");
    json_t *d = run_json(cat, "diff", "llama-tiny-f32", "llama-tiny-f32");
    json_t *layers = json_object_get(d, "layers"), *l;
    size_t i;
    ck_assert_uint_gt(json_array_size(layers), 0);
    json_array_foreach(layers, i, l) {
        ck_assert(fabs(json_number_value(json_object_get(l, "cosine")) - 1.0) < 1e-12);
        ck_assert(json_number_value(json_object_get(l, "rel_diff")) < 1e-12);
        ck_assert(fabs(json_number_value(json_object_get(l, "subspace_in")) - 1.0) < 1e-9);
    }
    ck_assert_uint_eq(json_array_size(json_object_get(d, "only_in_a")), 0);
    json_decref(d);
    d = run_json(cat, "diff", "llama-tiny-f32", "llama-tiny-bf16");
    json_array_foreach(json_object_get(d, "layers"), i, l) {
        double c = json_number_value(json_object_get(l, "cosine"));
        ck_assert(c >= -1.0 - 1e-12 && c <= 1.0 + 1e-12);
    }
    json_decref(d);
    cli_result r = cli_run(cat, "diff", "llama-tiny-f32", "gpt2-tiny-conv1d", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "different base models"));
    cli_result_free(&r);
    json_t *s = run_json(cat, "spectrum", "llama-tiny-f32", "layers.0.self_attn.q_proj");
    ck_assert_uint_eq(json_array_size(s), 1);
    json_t *en = json_object_get(json_array_get(s, 0), "energy");
    ck_assert(fabs(json_number_value(json_array_get(en, json_array_size(en) - 1)) - 1.0) < 1e-12);
    json_decref(s);
    r = cli_run(cat, "spectrum", "llama-tiny-f32", "no-such-layer", NULL);
    ck_assert_int_eq(r.code, 1);
    cli_result_free(&r);
}
END_TEST

/* `import PATH --name NEW` of content already stored as OLD makes NEW over the same tensors (issue #15,
 * item 4): the command says so, NEW is listed with OLD's content hash, one history entry records it, undo
 * hides it; the next line of a script that uses NEW runs; a multi-task folder gets NEW and its tasks. */
START_TEST(test_import_name_of_stored_content)
{
    char cat[4300], p[4400], script[4400];
    fresh_catalog(cat, sizeof cat, "import-name");
    import_ok(cat, "llama-tiny-f32");
    sample_path(p, sizeof p, "llama-tiny-f32");
    cli_result r = cli_run(cat, "import", p, "--name", "twin", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    ck_assert_str_eq(r.out, "twin\n");
    ck_assert_ptr_nonnull(strstr(r.err, "'twin' shares its content with 'llama-tiny-f32'"));
    cli_result_free(&r);
    char *nh = cli_names_hashes(cat);
    const char *h1 = strstr(nh, "llama-tiny-f32 "), *h2 = strstr(nh, "twin ");
    ck_assert_ptr_nonnull(h1);
    ck_assert_ptr_nonnull(h2);
    ck_assert(strncmp(h1 + strlen("llama-tiny-f32 "), h2 + strlen("twin "), 32) == 0);
    free(nh);
    json_t *log = run_json(cat, "log", "twin", NULL);
    ck_assert_uint_eq(json_array_size(log), 1);
    json_decref(log);
    r = cli_run(cat, "show", "twin", NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    /* the same import again: twin already names this content, nothing changes */
    r = cli_run(cat, "import", p, "--name", "twin", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "already in the catalog as 'twin'"));
    cli_result_free(&r);
    log = run_json(cat, "log", NULL, NULL);
    ck_assert_uint_eq(json_array_size(log), 2);
    json_decref(log);
    r = cli_run(cat, "undo", NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    r = cli_run(cat, "show", "twin", NULL);
    ck_assert_int_eq(r.code, 1);
    cli_result_free(&r);
    /* a script's next line finds the new name */
    snprintf(script, sizeof script, "%s/import-name.lsc", g_tmp);
    FILE *f = fopen(script, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "import %s --name copy\nshow copy\nprune copy --rank 1 --as copy-r1\n", p);
    fclose(f);
    r = cli_run(cat, "run", script, NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "show", "copy-r1", NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    /* a multi-task folder imported again under a new name: the group and its tasks */
    sample_path(p, sizeof p, "tasks");
    r = cli_run(cat, "import", p, NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "import", p, "--name", "mt2", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "import", p, "--name", "mt2", NULL); /* again: nothing new, not an error */
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    json_t *ls = run_json(cat, "ls", NULL, NULL);
    int groups = 0, tasks = 0;
    json_t *a;
    size_t i;
    json_array_foreach(ls, i, a) {
        const char *nm = json_string_value(json_object_get(a, "name"));
        groups += strcmp(nm, "mt2") == 0;
        tasks += strncmp(nm, "mt2-", 4) == 0;
    }
    json_decref(ls);
    ck_assert_int_eq(groups, 1);
    ck_assert_int_ge(tasks, 2);
    assert_log_script_rebuilds(cat);
}
END_TEST

/* "Did you mean" for adapter names (issue #15, item 11), and `log NAME` of a name never seen is an
 * error, not an empty history (item 4). */
START_TEST(test_suggest_names)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "suggest");
    import_ok(cat, "llama-tiny-f32");
    import_ok(cat, "llama-tiny-bf16");
    const char *cmds[][3] = {{"show", "llama-tiny-f3", NULL}, {"spectrum", "llama-tiny-f23", NULL},
                             {"rm", "lama-tiny-f32", NULL}, {"rename", "llama-tiny-f33", "x"},
                             {"diff", "llama-tiny-bf16", "llama-tiny-f3"}, {"log", "llama-tiny-f3", NULL},
                             {"export", "llama-tiny-f3", "/nonexistent/out"}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        cli_result r = cli_run(cat, cmds[i][0], cmds[i][1], cmds[i][2], NULL);
        ck_assert_msg(r.code == 1, "%s: exit %d", cmds[i][0], r.code);
        ck_assert_int_eq(cli_lines(r.err), 1);
        ck_assert_msg(strstr(r.err, "did you mean 'llama-tiny-f32'?") != NULL, "%s: %s", cmds[i][0], r.err);
        cli_result_free(&r);
    }
    cli_result r = cli_run(cat, "log", "nosuch", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no adapter 'nosuch'"));
    ck_assert_ptr_null(strstr(r.err, "did you mean"));
    ck_assert_ptr_null(strstr(r.out, "no history yet"));
    cli_result_free(&r);
    r = cli_run(cat, "log", "nosuch", "--script", NULL);
    ck_assert_int_eq(r.code, 1);
    cli_result_free(&r);
    /* a removed adapter still has its history */
    r = cli_run(cat, "rm", "llama-tiny-bf16", NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    json_t *log = run_json(cat, "log", "llama-tiny-bf16", NULL);
    ck_assert_uint_eq(json_array_size(log), 2);
    json_decref(log);
    /* commands and choices */
    r = cli_run(cat, "shwo", "llama-tiny-f32", NULL);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "did you mean 'show'?"));
    cli_result_free(&r);
    r = cli_run(cat, "show", "llama-tiny-f32", "--sort", "nosuch", NULL);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "'nosuch' is not one of layer, name, rank"));
    cli_result_free(&r);
}
END_TEST

/* Nothing to compare is said so, never as a perfect score or x0 (issue #15, item 5): a diff with no layer
 * in common, a retrain towards a zero target; the SoRA panel and the layer table give the same zero
 * fraction for the same factor, by the same percentage rule. */
START_TEST(test_nothing_to_compare)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "nothing");
    import_ok(cat, "llama-tiny-f32");
    import_ok(cat, "llama-tiny-sora");
    cli_result r = cli_run(cat, "diff", "llama-tiny-f32", "llama-tiny-f32", "--layers", "no-such-layer", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_msg(strstr(r.out, "0 layer(s) compared: whole-adapter cosine n/a, relative difference n/a"), "%s", r.out);
    cli_result_free(&r);
    r = cli_run(cat, "diff", "llama-tiny-f32", "llama-tiny-f32", "--layers", "no-such-layer", "--json", NULL);
    json_t *d = json_loads(r.out, 0, NULL);
    ck_assert_ptr_nonnull(d);
    json_t *sum = json_object_get(d, "summary");
    ck_assert(json_is_null(json_object_get(sum, "cosine")) && json_is_null(json_object_get(sum, "rel_diff")));
    json_decref(d);
    cli_result_free(&r);
    /* every gate closed: a zero target; its optimum is 0 and the ratio to it does not exist */
    r = cli_run(cat, "gates", "llama-tiny-sora", "--threshold", "1e9", "--as", "closed", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "retrain", "closed", "--target", "closed", "--steps", "3", "--as", "rt", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    ck_assert_msg(strstr(r.out, "optimum 0 (n/a), n/a of the target's energy left"), "%s", r.out);
    ck_assert_ptr_null(strstr(r.out, "nan"));
    ck_assert_ptr_null(strstr(r.out, "x0.0000"));
    cli_result_free(&r);
    /* the SoRA sample: a closed gate is a zero row of A, in the layer table and in the SoRA panel alike */
    json_t *s = run_json(cat, "show", "llama-tiny-sora", NULL);
    json_t *layers = json_object_get(s, "layers"), *kl = json_object_get(json_object_get(s, "kind_figures"), "layers");
    ck_assert_uint_eq(json_array_size(layers), json_array_size(kl));
    double closed_sum = 0;
    for (size_t i = 0; i < json_array_size(layers); i++) {
        json_t *a = json_array_get(layers, i), *b = json_array_get(kl, i);
        ck_assert_str_eq(json_string_value(json_object_get(a, "name")), json_string_value(json_object_get(b, "name")));
        double za = json_number_value(json_object_get(a, "zeros_a")), zk = json_number_value(json_object_get(b, "zeros_a"));
        ck_assert_msg(za == zk, "layer %zu: %g in the table, %g in the SoRA panel", i, za, zk);
        /* the sample's A has no zero entry of its own: its zeros are the closed gates' rows */
        long rank = json_integer_value(json_object_get(b, "rank")), live = json_integer_value(json_object_get(b, "live_gates"));
        ck_assert_msg(fabs(zk - (double)(rank - live) / (double)rank) < 1e-12, "layer %zu", i);
        closed_sum += zk;
    }
    ck_assert(closed_sum > 0);
    json_decref(s);
    r = cli_run(cat, "show", "llama-tiny-sora", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_msg(strstr(r.out, " 12.5%/0.0% ") && strstr(r.out, " 37.5%/0.0% "), "%s", r.out);
    ck_assert_ptr_null(strstr(r.out, " 12%/"));
    ck_assert_ptr_nonnull(strstr(r.out, "(37.5% of the gates closed)"));
    cli_result_free(&r);
}
END_TEST

/* The sample catalog, built as samples/make-catalog.sh builds it (every sample imported, then a LoRA
 * extracted from the dense pair into a new adapter): its log --script rebuilds it (issue #13, item 6:
 * the extraction line was refused by the script checker). */
START_TEST(test_sample_catalog_rebuilds)
{
    char cat[4300], p[4600], b[4500], t[4500];
    fresh_catalog(cat, sizeof cat, "sample-catalog");
    struct dirent **ents = NULL;
    int n = scandir(g_samples, &ents, NULL, alphasort);
    ck_assert_int_gt(n, 0);
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.' && strcmp(ents[i]->d_name, "dense-pair") != 0) {
            snprintf(p, sizeof p, "%s/%s", g_samples, ents[i]->d_name);
            cli_result r = cli_run(cat, "import", p, NULL);
            ck_assert_msg(r.code == 0, "import %s: %s", p, r.err);
            cli_result_free(&r);
        }
        free(ents[i]);
    }
    free(ents);
    snprintf(b, sizeof b, "%s/dense-pair/base.safetensors", g_samples);
    snprintf(t, sizeof t, "%s/dense-pair/tuned.safetensors", g_samples);
    cli_result r = cli_run(cat, "retrain", "dense-pair-extracted", "--base", b, "--tuned", t, "--rank", "6", "--steps",
                           "100", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    assert_log_script_rebuilds(cat);
}
END_TEST

/* Every command that names a new adapter refuses a name outside the alphabet (lsc_name_check), with one
 * message, and leaves the catalog as it was (issue #13, item 6). */
START_TEST(test_name_alphabet)
{
    char cat[4300], f16[4400], b[4500], t[4500], odd[4500], cmd[9200];
    fresh_catalog(cat, sizeof cat, "alphabet");
    import_ok(cat, "llama-tiny-f32");
    import_ok(cat, "llama-tiny-bf16");
    sample_path(f16, sizeof f16, "llama-tiny-f16");
    snprintf(b, sizeof b, "%s/dense-pair/base.safetensors", g_samples);
    snprintf(t, sizeof t, "%s/dense-pair/tuned.safetensors", g_samples);
    char *before = cli_names_hashes(cat);
    char long_name[202];
    memset(long_name, 'x', 201);
    long_name[201] = '\0';
    const char *bad[] = {"*", "ckpt-?", "x[1]", "a]b", "{}", "p{}q", "a,b", "-x", "", "tab\there", "del\x7f",
                         "c1\xc2\x85", "\xff\xfe", "bad\xc3\x28", "\xed\xa0\x80sur", "\xc0\xafover", long_name};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *x = bad[i];
        const char *cmds[][12] = {
            {"import", f16, "--name", x, NULL},
            {"prune", "llama-tiny-f32", "--rank", "2", "--as", x, NULL},
            {"merge", "llama-tiny-f32", "llama-tiny-bf16", "--method", "cat", "--as", x, NULL},
            {"rename", "--", "llama-tiny-f32", x, NULL},
            {"group", "--", x, "llama-tiny-f32", "llama-tiny-bf16", NULL},
            {"drop", "llama-tiny-f32", "--layers", "q_proj", "--as", x, NULL},
            {"retrain", "llama-tiny-f32", "--target", "llama-tiny-bf16", "--steps", "1", "--as", x, NULL},
            {"retrain", "--base", b, "--tuned", t, "--steps", "1", "--", x, NULL},
        };
        for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
            const char *const *a = cmds[k];
            cli_result r = cli_run(cat, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], NULL);
            ck_assert_msg(r.code == 1 && strstr(r.err, "invalid adapter name"), "%s with name #%zu: exit %d: %s", a[0],
                          i, r.code, r.err);
            ck_assert_int_eq(cli_lines(r.err), 1);
            cli_result_free(&r);
        }
    }
    /* a name import would take from the path: refused, saying to give one with --name */
    snprintf(odd, sizeof odd, "%s/odd[1]", g_tmp);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", f16, odd);
    ck_assert_int_eq(system(cmd), 0);
    cli_result r = cli_run(cat, "import", odd, NULL);
    ck_assert_msg(r.code == 1 && strstr(r.err, "--name"), "%s", r.err);
    cli_result_free(&r);
    char *after = cli_names_hashes(cat);
    ck_assert_str_eq(before, after);
    free(after);
    /* with --name it goes in */
    r = cli_run(cat, "import", odd, "--name", "odd-1", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    free(before);
}
END_TEST

static void sql(const char *cat, const char *q)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(cat, &db), SQLITE_OK);
    char *msg = NULL;
    ck_assert_msg(sqlite3_exec(db, q, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", q, msg ? msg : "");
    sqlite3_close(db);
}

/* Names made before the alphabet ('*', '{}') stay usable, and log --script quotes them so that a replay
 * touches only them: 'rm *' replayed removed every adapter, a '{}' replayed as an empty name. */
START_TEST(test_old_names_still_work)
{
    char cat[4300], copy[4400], script[4400];
    fresh_catalog(cat, sizeof cat, "oldnames");
    import_ok(cat, "llama-tiny-f32");
    import_ok(cat, "llama-tiny-bf16");
    import_ok(cat, "llama-tiny-f16");
    /* as an older lorascope let them be made (the history as typed then) */
    sql(cat, "UPDATE adapters SET name = '*' WHERE name = 'llama-tiny-f32';"
             "UPDATE adapters SET name = '{}' WHERE name = 'llama-tiny-bf16';"
             "UPDATE history SET args_json = replace(args_json, 'llama-tiny-f32\"]', 'llama-tiny-f32\",\"--name\",\"*\"]');"
             "UPDATE history SET args_json = replace(args_json, 'llama-tiny-bf16\"]', 'llama-tiny-bf16\",\"--name\",\"{}\"]');");
    snprintf(copy, sizeof copy, "%s/oldnames-copy.db", g_tmp);
    ck_assert_int_eq(cli_copy(cat, copy), 0);
    json_t *log = run_json(cat, "log", NULL, NULL);
    long long last = (long long)json_integer_value(json_object_get(json_array_get(log, 0), "id"));
    json_decref(log);
    /* usable: shown, pruned from, removed, by their exact names */
    cli_result r = cli_run(cat, "show", "*", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "prune", "{}", "--rank", "2", "--as", "from-braces", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "rm", "*", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    char *want = cli_names_hashes(cat);
    ck_assert_ptr_null(strstr(want, "* "));
    ck_assert_ptr_nonnull(strstr(want, "llama-tiny-f16 "));
    /* the lines since then, replayed on the catalog as it was, do exactly the same */
    char since[32];
    snprintf(since, sizeof since, "%lld", last);
    r = cli_run(cat, "log", "--script", "--since", since, NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_msg(strstr(r.out, "rm '[*]'"), "%s", r.out);
    snprintf(script, sizeof script, "%s/oldnames.lsc", g_tmp);
    ck_assert_int_eq(cli_write(script, r.out, strlen(r.out)), 0);
    cli_result_free(&r);
    r = cli_run(copy, "run", script, NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    char *got = cli_names_hashes(copy);
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
    /* a whole replay cannot make such names any more: it says so and changes nothing */
    char fresh[4400];
    snprintf(fresh, sizeof fresh, "%s/oldnames-fresh.db", g_tmp);
    remove(fresh);
    r = cli_run(cat, "log", "--script", NULL);
    ck_assert_int_eq(cli_write(script, r.out, strlen(r.out)), 0);
    cli_result_free(&r);
    r = cli_run(fresh, "run", script, NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "invalid adapter name '*'"), "%s", r.err);
    cli_result_free(&r);
}
END_TEST

/* An entry whose arguments could not be recorded (a path that is not UTF-8) becomes a comment in
 * log --script saying so, with a warning, never a blank line that replays as nothing. */
START_TEST(test_log_script_unrecorded_args)
{
    char cat[4300], src[4400], odd[4500], cmd[9200];
    fresh_catalog(cat, sizeof cat, "unrecorded");
    sample_path(src, sizeof src, "llama-tiny-f16");
    snprintf(odd, sizeof odd, "%s/dir\xff", g_tmp);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", src, odd);
    ck_assert_int_eq(system(cmd), 0);
    cli_result r = cli_run(cat, "import", odd, "--name", "okname", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "log", "--script", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_msg(strstr(r.out, "# #1 import: its arguments were not recorded") && !strstr(r.out, "\n\n") &&
                      strstr(r.err, "warning"), "%s", r.out);
    cli_result_free(&r);
}
END_TEST

/* Issue #13.9: one strict parser for whole numbers and one for reals, used by every command: each bad
 * value exits 2 with one line naming the option and its range; a good one gets past parsing (here to
 * "no adapter", exit 1). */
static void refused(const char *cat, const char *const *argv, const char *opt, const char *range)
{
    cli_result r = cli_run(cat, argv[0], argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], NULL);
    ck_assert_msg(r.code == 2, "%s %s %s: exit %d (%s)", argv[0], opt, argv[7] ? argv[7] : argv[6], r.code, r.err);
    ck_assert_int_eq(cli_lines(r.err), 1);
    ck_assert_msg(strstr(r.err, opt) && strstr(r.err, range), "%s: '%s' lacks '%s' or '%s'", argv[0], r.err, opt, range);
    ck_assert_ptr_null(strstr(r.err, "-9223372036854775808"));
    cli_result_free(&r);
}

START_TEST(test_strict_numbers)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "numbers");
    const char *ranks[] = {"1e99", "99999999999999999999", "0x10", "2.5", "-3", "+4", " 5", NULL};
    for (int i = 0; ranks[i]; i++) {
        const char *prune[] = {"prune", "x", "--rank", ranks[i], NULL, NULL, NULL, NULL};
        refused(cat, prune, "--rank", "whole number from 1 to 2147483647");
        const char *merge[] = {"merge", "a", "b", "--method", "svd", "--rank", ranks[i], NULL};
        refused(cat, merge, "--rank", "whole number from 1 to 2147483647");
        const char *share[] = {"share", "x", "--rank", ranks[i], NULL, NULL, NULL, NULL};
        refused(cat, share, "--rank", "whole number from 1 to 2147483647");
        const char *retrain[] = {"retrain", "x", "--steps", ranks[i], NULL, NULL, NULL, NULL};
        refused(cat, retrain, "--steps", "whole number from 1 to 2147483647");
        const char *rebudget[] = {"rebudget", "x", ranks[i], NULL, NULL, NULL, NULL, NULL};
        refused(cat, rebudget, "N takes", "whole number >= 1");
    }
    const char *budget[] = {"prune", "x", "--budget", "1e20", NULL, NULL, NULL, NULL};
    refused(cat, budget, "--budget", "whole number >= 1");
    const char *seeds[] = {"-1", "18446744073709551616", "1e3", NULL};
    for (int i = 0; seeds[i]; i++) {
        const char *merge[] = {"merge", "a", "b", "--method", "ties", "--rank", "2", "--seed", seeds[i], NULL};
        cli_result r = cli_run(cat, merge[0], merge[1], merge[2], merge[3], merge[4], merge[5], merge[6], merge[7],
                               merge[8], NULL);
        ck_assert_msg(r.code == 2 && strstr(r.err, "--seed") && strstr(r.err, "18446744073709551615"), "--seed %s: %s",
                      seeds[i], r.err);
        cli_result_free(&r);
        const char *retrain[] = {"retrain", "x", "--seed", seeds[i], NULL, NULL, NULL, NULL};
        refused(cat, retrain, "--seed", "from 0 to 18446744073709551615");
    }
    /* reals: finite and in range */
    const char *gates[] = {"gates", "x", "--threshold", "inf", NULL, NULL, NULL, NULL};
    refused(cat, gates, "--threshold", "number >= 0");
    const char *lr[] = {"retrain", "x", "--lr", "nan", NULL, NULL, NULL, NULL};
    refused(cat, lr, "--lr", "number > 0");
    const char *dens[] = {"sparsify", "x", "--density", "1e400", NULL, NULL, NULL, NULL};
    refused(cat, dens, "--density", "fraction in (0, 1]");
    /* the largest values are accepted: parsing passes and the command fails on the missing adapter */
    cli_result r = cli_run(cat, "merge", "a", "b", "--method", "svd", "--rank", "2147483647", "--seed",
                           "18446744073709551615", NULL);
    ck_assert_msg(r.code == 1, "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "prune", "x", "--budget", "9223372036854775807", NULL);
    ck_assert_msg(r.code == 1, "%s", r.err);
    cli_result_free(&r);
}
END_TEST

/* lora_alpha at the ends of the double range: an adapter diffed with itself has cosine 1 and no
 * difference, its norm is finite and equals alpha/r times the dense ||B A||_F formed here; a scale that
 * makes the delta overflow is refused at import with one line naming the layer and the scale. */
START_TEST(test_extreme_alpha)
{
    char cat[4300], dir[4400], cfg[256];
    fresh_catalog(cat, sizeof cat, "alpha");
    float data[14];
    for (int i = 0; i < 14; i++)
        data[i] = (float)(i + 1) * 0.01f;
    /* A [2, 3] = data[0..5], B [4, 2] = data[6..13]: dense ||B A||_F here */
    double ba2 = 0.0;
    for (int p = 0; p < 4; p++)
        for (int q = 0; q < 3; q++) {
            double v = 0.0;
            for (int k = 0; k < 2; k++)
                v += (double)data[6 + p * 2 + k] * (double)data[k * 3 + q];
            ba2 += v * v;
        }
    const char *good = "{" KA ":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}," KB
                       ":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[24,56]}}";
    const double alphas[2] = {1e308, 1e-308};
    for (int i = 0; i < 2; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "alpha%d", i);
        snprintf(cfg, sizeof cfg, "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": %.17g, \"target_modules\": [\"q\"]}",
                 alphas[i]);
        bad_peft(dir, sizeof dir, tag, good, data, 56, cfg);
        cli_result r = cli_run(cat, "import", dir, "--name", tag, NULL);
        ck_assert_msg(r.code == 0, "alpha %g: %s", alphas[i], r.err);
        cli_result_free(&r);
        json_t *d = run_json(cat, "diff", tag, tag);
        json_t *l = json_array_get(json_object_get(d, "layers"), 0), *sum = json_object_get(d, "summary");
        ck_assert_ptr_nonnull(l);
        double cosv = json_number_value(json_object_get(l, "cosine")), rel = json_number_value(json_object_get(l, "rel_diff"));
        double norm = json_number_value(json_object_get(l, "norm_a")), want = alphas[i] / 2 * sqrt(ba2);
        ck_assert_msg(fabs(cosv - 1.0) < 1e-12 && rel < 1e-12, "alpha %g: cosine %g, rel diff %g", alphas[i], cosv, rel);
        ck_assert_msg(fabs(norm - want) <= 1e-6 * want, "alpha %g: norm %.17g, dense %.17g", alphas[i], norm, want);
        ck_assert(fabs(json_number_value(json_object_get(sum, "cosine")) - 1.0) < 1e-12);
        ck_assert(json_number_value(json_object_get(sum, "rel_diff")) < 1e-12);
        json_decref(d);
        r = cli_run(cat, "diff", tag, tag, NULL);
        ck_assert_int_eq(r.code, 0);
        ck_assert_msg(!strstr(r.out, "inf") && !strstr(r.out, "nan"), "%s", r.out);
        cli_result_free(&r);
        /* the spectrum's cumulative energy ends at 1, whatever the scale */
        json_t *sp = run_json(cat, "spectrum", tag, NULL);
        json_t *en = json_object_get(json_array_get(sp, 0), "energy");
        ck_assert_uint_gt(json_array_size(en), 0);
        double last = json_number_value(json_array_get(en, json_array_size(en) - 1));
        ck_assert_msg(fabs(last - 1.0) < 1e-12, "alpha %g: energy ends at %g", alphas[i], last);
        json_decref(sp);
        /* a script's energy expectation: the rank-1 truncation keeps sigma_1^2 / (sigma_1^2 + sigma_2^2) of it */
        char sc[4600], text[256];
        snprintf(sc, sizeof sc, "%s/energy%d.lsc", g_tmp, i);
        snprintf(text, sizeof text, "prune %s --rank 1 --as %s-r1\nexpect energy %s-r1 >= 0.99\nexpect energy %s-r1 < 1\n",
                 tag, tag, tag, tag);
        ck_assert_int_eq(cli_write(sc, text, strlen(text)), 0);
        r = cli_run(cat, "run", sc, NULL);
        ck_assert_msg(r.code == 0, "alpha %g: %s", alphas[i], r.err);
        cli_result_free(&r);
    }
    /* a layer-wise adapter of two layers at alpha 1e308: the energy shares per layer are finite, sum to 1 */
    {
        char lw[4400], path[4600];
        snprintf(lw, sizeof lw, "%s/alpha-lw", g_tmp);
        mkdir(lw, 0755);
        const char *h2 = "{\"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                         "\"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[24,56]},"
                         "\"base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[56,80]},"
                         "\"base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[80,112]}}";
        float d2[28];
        for (int i = 0; i < 28; i++)
            d2[i] = (float)(i + 1) * 0.01f;
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", lw);
        ck_assert_int_eq(cli_write_st(path, h2, d2, 112), 0);
        snprintf(path, sizeof path, "%s/adapter_config.json", lw);
        snprintf(cfg, sizeof cfg, "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 1e308, \"target_modules\": [\"q_proj\"]}");
        ck_assert_int_eq(cli_write(path, cfg, strlen(cfg)), 0);
        cli_result r = cli_run(cat, "import", lw, "--kind", "layer-wise", NULL);
        ck_assert_msg(r.code == 0, "%s", r.err);
        cli_result_free(&r);
        json_t *sh = run_json(cat, "show", "alpha-lw", NULL);
        json_t *grid = json_object_get(json_object_get(sh, "kind_figures"), "energy_share_grid");
        ck_assert_uint_eq(json_array_size(grid), 2);
        double sum = 0;
        for (size_t L = 0; L < 2; L++) {
            json_t *v = json_array_get(json_array_get(grid, L), 0);
            ck_assert_msg(json_is_number(v), "layer %zu: share is not a number", L);
            sum += json_number_value(v);
        }
        ck_assert_msg(fabs(sum - 1.0) < 1e-12, "shares sum to %g", sum);
        json_decref(sh);
    }
    /* entries 1000 times larger: 5e307 x ||B|| x ||A|| is past the largest double */
    float big[14];
    for (int i = 0; i < 14; i++)
        big[i] = data[i] * 1000.0f;
    snprintf(cfg, sizeof cfg, "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 1e308, \"target_modules\": [\"q\"]}");
    bad_peft(dir, sizeof dir, "alphabig", good, big, 56, cfg);
    expect_rejected(cat, dir, "l.0.q");
    cli_result r = cli_run(cat, "import", dir, NULL);
    ck_assert_msg(strstr(r.err, "scale 5e+307"), "%s", r.err);
    cli_result_free(&r);
}
END_TEST

/* 1 if s holds something a terminal acts on: a C0 control other than newline and tab, DEL, or a C1
 * control (U+0080..U+009F, UTF-8 C2 80..C2 9F). */
static int has_terminal_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f || (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F))
            return 1;
    return 0;
}

/* Run a command; its stdout and stderr must hold no terminal control whatever it printed. */
static int run_clean(const char *cat, const char *what, const char *a1, const char *a2, const char *a3, const char *a4)
{
    cli_result r = cli_run(cat, a1, a2, a3, a4, NULL);
    ck_assert_msg(r.code >= 0, "%s did not exit", what);
    ck_assert_msg(!has_terminal_control(r.out), "%s: a control reached stdout: %s", what, r.out);
    ck_assert_msg(!has_terminal_control(r.err), "%s: a control reached stderr: %s", what, r.err);
    int code = r.code;
    cli_result_free(&r);
    return code;
}

#define EVIL "\x1b[31m\x1b]0;owned\x07\xc2\x9b" "2J\xc2\x85"
#define EVIL_JSON "\\u001b[31m\\u001b]0;owned\\u0007\\u009b2J\\u0085"

/* Names, config values, metadata, paths and adapter names holding ESC, CSI, OSC, BEL and C1 controls:
 * no command's text output (tables, summaries, warnings, errors) lets one through; --json stays valid
 * JSON and gives the names back unchanged. */
START_TEST(test_no_terminal_escapes)
{
    char cat[4300], dir[2][4400], p[9000];
    fresh_catalog(cat, sizeof cat, "escapes");
    float data[32];
    for (int i = 0; i < 32; i++)
        data[i] = (float)(i + 1) * 0.01f;
    /* new adapter names refuse every control character, C1 included (the name alphabet): the controls come
     * in through tensor names, config values, metadata and paths */
    const char *a_name = "evA", *b_name = "evB";
    /* A: one layer; B: that layer (other values) and a second, so diff has a layer only in B. r = 3 in the
     * config against rank 2 in the tensors makes import warn, naming the layer. */
    const char *hdr[2] = {
        "{\"__metadata__\":{\"format\":\"pt" EVIL_JSON "\"},"
        "\"base_model.model.l" EVIL_JSON ".0.q.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"base_model.model.l" EVIL_JSON ".0.q.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[24,56]}}",
        "{\"base_model.model.l" EVIL_JSON ".0.q.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[56,80]},"
        "\"base_model.model.l" EVIL_JSON ".0.q.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[80,112]},"
        "\"base_model.model.m" EVIL_JSON ".1.q.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"base_model.model.m" EVIL_JSON ".1.q.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[24,56]}}"};
    const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 4, \"base_model_name_or_path\": \"base" EVIL_JSON
                      "\", \"target_modules\": [\"q" EVIL_JSON "\"]}";
    for (int i = 0; i < 2; i++) {
        snprintf(dir[i], sizeof dir[i], "%s/dir" EVIL "%d", g_tmp, i);
        mkdir(dir[i], 0755);
        snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir[i]);
        ck_assert_int_eq(cli_write_st(p, hdr[i], i ? (const void *)(data + 2) : (const void *)data, i ? 112 : 56), 0);
        snprintf(p, sizeof p, "%s/adapter_config.json", dir[i]);
        ck_assert_int_eq(cli_write(p, cfg, strlen(cfg)), 0);
    }
    ck_assert_int_eq(run_clean(cat, "import A", "import", dir[0], "--name", a_name), 0);
    ck_assert_int_eq(run_clean(cat, "import B", "import", dir[1], "--name", b_name), 0);
    /* the import warning was printed (escaped), not dropped */
    cli_result r = cli_run(cat, "import", dir[0], "--name", "again", NULL);
    cli_result_free(&r);
    snprintf(p, sizeof p, "%s/exported" EVIL, g_tmp);
    struct {
        const char *what, *a1, *a2, *a3, *a4;
        int code;
    } runs[] = {
        {"ls", "ls", NULL, NULL, NULL, 0},
        {"show", "show", a_name, NULL, NULL, 0},
        {"show B", "show", b_name, NULL, NULL, 0},
        {"show --layers", "show", a_name, "--layers", "*" EVIL "*", 0},
        {"spectrum", "spectrum", a_name, NULL, NULL, 0},
        {"diff", "diff", a_name, b_name, NULL, 0},
        {"diff B A", "diff", b_name, a_name, NULL, 0},
        {"log", "log", NULL, NULL, NULL, 0},
        {"log NAME", "log", a_name, NULL, NULL, 0},
        {"export", "export", b_name, p, NULL, 0},
        {"show missing", "show", "no" EVIL "such", NULL, NULL, 1},
        {"spectrum missing layer", "spectrum", a_name, "layer" EVIL, NULL, 1},
        {"import missing", "import", "/nonexistent/" EVIL, NULL, NULL, 1},
        {"import bad name", "import", dir[0], "--name", "x\x1b[2J", 1},
        {"run missing", "run", "/nonexistent/" EVIL ".lsc", NULL, NULL, 1},
        {"rename", "rename", a_name, b_name, NULL, 1},
        {"unknown command", "frob" EVIL, NULL, NULL, NULL, 2},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        int code = run_clean(cat, runs[i].what, runs[i].a1, runs[i].a2, runs[i].a3, runs[i].a4);
        ck_assert_msg(code == runs[i].code, "%s: exit %d, expected %d", runs[i].what, code, runs[i].code);
    }
    /* JSON escapes by itself and stays valid; the names come back as they were */
    json_t *v = run_json(cat, "show", a_name, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(v, "name")), a_name);
    ck_assert_str_eq(json_string_value(json_object_get(v, "base_model")), "base" EVIL);
    json_decref(v);
    v = run_json(cat, "ls", NULL, NULL);
    ck_assert_uint_ge(json_array_size(v), 2);
    json_decref(v);
}
END_TEST

/* Run argv in this process with the cancel flag already raised; returns the exit code, err filled. */
static int dispatch_cancelled(const char *cat, char **argv, lsc_error *err)
{
    char *copy[16];
    int argc = 0;
    for (; argv[argc] && argc < 15; argc++)
        copy[argc] = argv[argc];
    copy[argc] = NULL;
    lsc_sink o, d;
    lsc_sink_init_mem(&o);
    lsc_sink_init_mem(&d);
    lsc_cmd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    volatile int cancel = 1;
    ctx.catalog_path = cat;
    ctx.out = &o;
    ctx.diag = &d;
    ctx.cancel = &cancel;
    int rc = lsc_dispatch(&ctx, argc, copy);
    *err = ctx.err;
    lsc_sink_release(&o);
    lsc_sink_release(&d);
    return rc;
}

/* Commands that loop over layers or lines stop at the first turn once Ctrl-C / SIGTERM raised the flag:
 * exit 1, a "cancelled" error, the catalog unchanged. */
START_TEST(test_long_loops_watch_cancel)
{
    char cat[4300], copy[4400], script[4400], path[4400];
    fresh_catalog(cat, sizeof cat, "cancel");
    import_ok(cat, "llama-tiny-f32");
    import_ok(cat, "llama-tiny-bf16");
    snprintf(copy, sizeof copy, "%s.before", cat);
    ck_assert_int_eq(cli_copy(cat, copy), 0);
    snprintf(script, sizeof script, "%s/cancel.lsc", g_tmp);
    const char *text = "show llama-tiny-f32\nprune llama-tiny-f32 --rank 2 --as c2\n";
    ck_assert_int_eq(cli_write(script, text, strlen(text)), 0);
    sample_path(path, sizeof path, "llama-tiny-f16");
    char outdir[4400], outfile[4400];
    snprintf(outdir, sizeof outdir, "%s/cancel-out", g_tmp);
    snprintf(outfile, sizeof outfile, "%s/cancel-out.safetensors", g_tmp);
    char *cmds[][8] = {{"show", "llama-tiny-f32", NULL},
                       {"spectrum", "llama-tiny-f32", NULL},
                       {"diff", "llama-tiny-f32", "llama-tiny-bf16", NULL},
                       {"run", script, NULL},
                       {"import", path, NULL},
                       {"export", "llama-tiny-f32", outdir, NULL},
                       {"export", "llama-tiny-f32", outfile, "--format", "kohya"},
                       {"export", "llama-tiny-f32", outfile, "--format", "gguf", "--no-permute", NULL},
                       {"prune", "llama-tiny-f32", "--rank", "2", NULL},
                       {"merge", "llama-tiny-f32", "llama-tiny-bf16", "--method", "linear", "--as", "m", NULL},
                       {"sparsify", "llama-tiny-f32", "--density", "0.5", NULL},
                       {"drop", "llama-tiny-f32", "--layers", "*.0.*", NULL},
                       {"audit", NULL}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        lsc_error err;
        int rc = dispatch_cancelled(cat, cmds[i], &err);
        ck_assert_msg(rc == 1 && err.code == LSC_ERR_CANCELLED && strstr(err.msg, "cancelled"), "%s: exit %d, '%s'",
                      cmds[i][0], rc, err.msg);
        ck_assert_msg(cli_same_file(cat, copy), "%s: the catalog changed", cmds[i][0]);
        /* an export stops before its first tensor: no file under the name, no temporary left beside it */
        struct stat sb;
        ck_assert_msg(stat(outdir, &sb) != 0 && stat(outfile, &sb) != 0, "%s: wrote an output", cmds[i][0]);
        DIR *d = opendir(g_tmp);
        ck_assert_ptr_nonnull(d);
        for (struct dirent *e; (e = readdir(d));)
            ck_assert_msg(!strstr(e->d_name, "cancel-out"), "%s left '%s'", cmds[i][0], e->d_name);
        closedir(d);
    }
}
END_TEST

/* Table layout (worked by hand): widths in code points, 'r' columns padded on the left, the others on the
 * right but for the last, two spaces between columns; each row assembled once, the bytes unchanged. */
START_TEST(test_table_layout)
{
    const char *hdr[] = {"NAME", "N", "NOTE"};
    lsc_table *t = lsc_table_new(3, hdr, "lrl");
    ck_assert_ptr_nonnull(t);
    const char *r1[] = {"caf\xc3\xa9", "7", "x"}, *r2[] = {"b", "1234", "\xc3\xa9 long"};
    ck_assert_int_eq(lsc_table_add(t, r1), 0);
    ck_assert_int_eq(lsc_table_add(t, r2), 0);
    lsc_sink o;
    lsc_sink_init_mem(&o);
    lsc_table_print(t, &o);
    ck_assert_str_eq(o.buf, "NAME     N  NOTE\n"
                            "caf\xc3\xa9     7  x\n"
                            "b     1234  \xc3\xa9 long\n");
    lsc_sink_release(&o);
    lsc_table_free(t);
}
END_TEST

int main(void)
{
    if (setup_samples() != 0)
        return 1;
    const TTest *const tests[] = {test_usage_and_help,
                                          test_import_samples,
                                          test_show_matches_dense,
                                          test_export_byte_identical,
                                          test_malformed_inputs,
                                          test_rm_rename_log,
                                          test_diff_and_spectrum,
                                          test_sample_catalog_rebuilds,
                                          test_import_name_of_stored_content,
                                          test_suggest_names,
                                          test_nothing_to_compare,
                                          test_name_alphabet,
                                          test_old_names_still_work,
                                          test_log_script_unrecorded_args,
                                          test_strict_numbers,
                                          test_extreme_alpha,
                                          test_no_terminal_escapes,
                                          test_long_loops_watch_cancel,
                                          test_table_layout, NULL};
    return cli_run_suite("cli", tests, 0, g_tmp);
}
