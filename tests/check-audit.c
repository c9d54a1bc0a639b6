/* check-audit.c: `lorascope audit` against hand-built catalogs (issue #17).
 *
 * Every adapter has two layers 4x4 at r = 4, A = I, lora_alpha 4 (scale 1), so B*A = B and the singular
 * values are those of B, chosen by hand:
 *   waste    layer 0: B = diag(10, 2, 0.1, 0.01): energies 100, 4, 0.01, 0.0001 of 104.0101; the first
 *            value holds 0.9614 < 0.99, two hold 0.99990, so prune --energy 0.99 keeps k = 2 of 4 and
 *            saves 2 ranks x (a row of A, 16 bytes + a column of B, 16 bytes) = 64 bytes;
 *            layer 1: B = I (four equal values: k = 4, nothing saved)
 *   nan      layer 0: A[0][0] = NaN (no savings counted); layer 1: B = I
 *   dead     layer 0: B = 0 (a zero delta: dead; prune keeps rank 1 of it, saving 3 x 32 = 96 bytes); layer 1 I
 *   dupA, dupB   the same folder (B = 2I) under two names: the same content hash
 *   samel1, samel2  B = 3I in both, configs differing in base_model: another content hash, same layers
 *   child    prune --rank 2 of 'parent' (B = diag(5, 4, 3, 2)), then parent removed: a gone parent
 * Sorted by savings: dead (96), waste (64), then the rest by name. Depends on the CLI only. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"

static char *g_tmp;

/* A PEFT folder of two q_proj layers 4x4 r=4, A = I except a0_00 in layer 0's A[0][0]; B0 and B1 the
 * diagonals of each layer's B (NULL b0: all zero). */
static void write_adapter(const char *dir, const float *b0, const float *b1, float a0_00, const char *base)
{
    float data[4][16];
    memset(data, 0, sizeof data);
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 4; i++) {
            data[2 * l][i * 4 + i] = 1.0f; /* A */
            const float *b = l ? b1 : b0;
            data[2 * l + 1][i * 4 + i] = b ? b[i] : 0.0f;
        }
    data[0][0] = a0_00;
    char p[4500];
    mkdir(dir, 0755);
    const char *header =
        "{\"base_model.model.layers.0.q_proj.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[4,4],\"data_offsets\":[0,64]},"
        "\"base_model.model.layers.0.q_proj.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[4,4],\"data_offsets\":[64,128]},"
        "\"base_model.model.layers.1.q_proj.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[4,4],\"data_offsets\":[128,192]},"
        "\"base_model.model.layers.1.q_proj.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[4,4],\"data_offsets\":[192,256]}}";
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    ck_assert_int_eq(cli_write_st(p, header, data, sizeof data), 0);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 4, \"base_model_name_or_path\": \"%s\"}",
             base);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    ck_assert_int_eq(cli_write(p, cfg, strlen(cfg)), 0);
}

#define OK(...)                                                                                              \
    do {                                                                                                     \
        cli_result r_ = cli_run(__VA_ARGS__, NULL);                                                          \
        ck_assert_msg(r_.code == 0, "%s", r_.err);                                                           \
        cli_result_free(&r_);                                                                                \
    } while (0)

static void build(char *cat, size_t cap)
{
    static const float big[4] = {10, 2, 0.1f, 0.01f}, id[4] = {1, 1, 1, 1}, two[4] = {2, 2, 2, 2},
                       three[4] = {3, 3, 3, 3}, par[4] = {5, 4, 3, 2};
    char d[4400];
    snprintf(cat, cap, "%s/audit.db", g_tmp);
    struct {
        const char *name;
        const float *b0, *b1;
        float a00;
        const char *base;
    } ad[] = {{"waste", big, id, 1, "m"},       {"nan", id, id, NAN, "m"},          {"dead", NULL, id, 1, "m"},
              {"dupA", two, two, 1, "m"},       {"samel1", three, three, 1, "m"}, {"samel2", three, three, 1, "other"},
              {"parent", par, par, 1, "m"}};
    for (size_t i = 0; i < sizeof ad / sizeof ad[0]; i++) {
        snprintf(d, sizeof d, "%s/%s", g_tmp, ad[i].name);
        write_adapter(d, ad[i].b0, ad[i].b1, ad[i].a00, ad[i].base);
        OK(cat, "import", d, "--name", ad[i].name);
    }
    snprintf(d, sizeof d, "%s/dupA", g_tmp);
    OK(cat, "import", d, "--name", "dupB");
    OK(cat, "prune", "parent", "--rank", "2", "--as", "child");
    OK(cat, "rm", "parent", "--force");
}

/* The entry of `name` in the audit's JSON array, and its position in *at. */
static json_t *entry(json_t *arr, const char *name, size_t *at)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
    {
        *at = i;
        return e;
    }
    ck_abort_msg("no audit entry for '%s'", name);
    return NULL;
}

static json_int_t num(json_t *e, const char *k)
{
    return json_integer_value(json_object_get(e, k));
}

static const char *first(json_t *e, const char *k)
{
    json_t *a = json_object_get(e, k);
    ck_assert_msg(json_array_size(a) == 1, "%s: %zu names", k, json_array_size(a));
    return json_string_value(json_array_get(a, 0));
}

START_TEST(test_audit_hand_built)
{
    char cat[4400];
    build(cat, sizeof cat);
    cli_result r = cli_run(cat, "audit", "--json", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    json_t *arr = json_loads(r.out, 0, NULL);
    ck_assert_ptr_nonnull(arr);
    cli_result_free(&r);
    ck_assert_uint_eq(json_array_size(arr), 8); /* parent is gone */
    size_t at;
    /* the wasted rank, by hand: k99 = 2 of 4, 64 bytes */
    json_t *e = entry(arr, "waste", &at);
    ck_assert_uint_eq(at, 1);
    ck_assert_int_eq(num(e, "saves"), 64);
    ck_assert_int_eq(num(e, "waste"), 1);
    json_t *f = json_object_get(e, "findings");
    ck_assert_uint_eq(json_array_size(f), 1);
    json_t *l = json_array_get(f, 0);
    ck_assert_str_eq(json_string_value(json_object_get(l, "key")), "base_model.model.layers.0.q_proj");
    ck_assert_int_eq(num(l, "rank"), 4);
    ck_assert_int_eq(num(l, "k99"), 2);
    ck_assert_int_eq(num(l, "saves"), 64);
    /* the dead layer: first by savings (rank 1 of a zero layer kept: 3 x 32 bytes) */
    e = entry(arr, "dead", &at);
    ck_assert_uint_eq(at, 0);
    ck_assert_int_eq(num(e, "dead"), 1);
    ck_assert_int_eq(num(e, "saves"), 96);
    ck_assert_int_eq(num(e, "nonfinite"), 0);
    /* NaN: flagged, nothing saved, nothing dead */
    e = entry(arr, "nan", &at);
    ck_assert_int_eq(num(e, "nonfinite"), 1);
    ck_assert_int_eq(num(e, "saves"), 0);
    ck_assert_int_eq(num(e, "dead"), 0);
    /* duplicates both ways, and nothing else has any */
    ck_assert_str_eq(first(entry(arr, "dupA", &at), "duplicates"), "dupB");
    ck_assert_str_eq(first(entry(arr, "dupB", &at), "duplicates"), "dupA");
    ck_assert_str_eq(first(entry(arr, "samel1", &at), "same_layers"), "samel2");
    ck_assert_str_eq(first(entry(arr, "samel2", &at), "same_layers"), "samel1");
    ck_assert_uint_eq(json_array_size(json_object_get(entry(arr, "samel1", &at), "duplicates")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(entry(arr, "dupA", &at), "same_layers")), 0);
    /* the orphan */
    ck_assert_str_eq(first(entry(arr, "child", &at), "gone_parents"), "parent");
    ck_assert_uint_eq(json_array_size(json_object_get(entry(arr, "waste", &at), "gone_parents")), 0);
    /* the zero-savings rest by name after the two that save */
    const char *order[] = {"dead", "waste", "child", "dupA", "dupB", "nan", "samel1", "samel2"};
    for (size_t i = 0; i < 8; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, i), "name")), order[i]);
    json_decref(arr);
    /* the text: a line per adapter with findings, the total */
    r = cli_run(cat, "audit", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_msg(strstr(r.out, "8 adapter(s) audited, 8 with findings") && strstr(r.out, "would save 160 B") &&
                      strstr(r.out, "parent gone: parent") && strstr(r.out, "same content as dupB") &&
                      strstr(r.out, "same layers as samel1"),
                  "%s", r.out);
    cli_result_free(&r);
    /* a glob: only those adapters; their duplicates still found among every adapter */
    r = cli_run(cat, "audit", "dupA", "--json", NULL);
    ck_assert_int_eq(r.code, 0);
    arr = json_loads(r.out, 0, NULL);
    ck_assert_uint_eq(json_array_size(arr), 1);
    ck_assert_str_eq(first(json_array_get(arr, 0), "duplicates"), "dupB");
    json_decref(arr);
    cli_result_free(&r);
    /* a glob matching nothing is an error naming it */
    r = cli_run(cat, "audit", "zz*", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "no adapter matches 'zz*'"), "%s", r.err);
    cli_result_free(&r);
}
END_TEST

int main(void)
{
    g_tmp = cli_tmpdir();
    if (!g_tmp)
        return 1;
    const TTest *const tests[] = {test_audit_hand_built, NULL};
    return cli_run_suite("audit", tests, 0, g_tmp);
}
