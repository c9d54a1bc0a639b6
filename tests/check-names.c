/* check-names.c: how layers are named and ordered to people (issue #15, items 2, 3 and 6), through the
 * real binary and the workbench's naming and filter functions:
 *   - one display name per layer (PEFT's base_model.model. wrapper left out) in show, spectrum, diff,
 *     their --json ("name", with the stored "key" beside it) and the workbench's layer table;
 *   - a glob built from the displayed name matches in show --layers, spectrum and the workbench filter;
 *   - layers (and adapters in ls) are listed in natural order: layers.2 before layers.10;
 *   - a GGUF or kohya export of a PEFT sample, imported again, diffs against the original with every
 *     layer matched across formats and cosine 1. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "layername.h"
#include "modkey.h"
#include "state.h"
#include "view.h"

static char *g_tmp;
static char g_samples[4200];

static void fresh_catalog(char *buf, size_t cap, const char *tag)
{
    ck_assert_ptr_nonnull(g_tmp);
    snprintf(buf, cap, "%s/%s.db", g_tmp, tag);
    remove(buf);
}

static void run_ok(const char *cat, cli_result r, const char *what)
{
    (void)cat;
    ck_assert_msg(r.code == 0, "%s failed: %s", what, r.err);
}

static void import_sample(const char *cat, const char *sample, const char *as)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", g_samples, sample);
    cli_result r = as ? cli_run(cat, "import", p, "--name", as, NULL) : cli_run(cat, "import", p, NULL);
    run_ok(cat, r, "import");
    cli_result_free(&r);
}

static json_t *json_of(cli_result r)
{
    ck_assert_msg(r.code == 0, "command failed: %s", r.err);
    json_error_t je;
    json_t *v = json_loads(r.out, 0, &je);
    ck_assert_msg(v != NULL, "bad JSON: %s", je.text);
    cli_result_free(&r);
    return v;
}

/* The layer names of a JSON array of layer objects, field `f`, as one '\n'-joined string. */
static char *names_of(json_t *arr, const char *f)
{
    size_t cap = 1, i;
    json_t *l;
    json_array_foreach(arr, i, l) cap += strlen(json_string_value(json_object_get(l, f))) + 1;
    char *s = calloc(cap, 1);
    json_array_foreach(arr, i, l) {
        strcat(s, json_string_value(json_object_get(l, f)));
        strcat(s, "\n");
    }
    return s;
}

/* The first column of each table row of `show` text output after the LAYER header, '\n'-joined. */
static char *show_column(const char *out)
{
    const char *p = strstr(out, "\nLAYER ");
    ck_assert_ptr_nonnull(p);
    p = strchr(p + 1, '\n') + 1;
    char *s = calloc(strlen(out) + 1, 1);
    while (*p && *p != '\n' && *p != '(') {
        size_t n = strcspn(p, " \n");
        strncat(s, p, n);
        strcat(s, "\n");
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
        if (!strchr(p, '\n') || strncmp(p, "  ", 2) == 0)
            break;
    }
    return s;
}

/* Item 2: show, spectrum, diff, their JSON and the workbench's layer table all print one name. */
START_TEST(test_one_display_name)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "display");
    import_sample(cat, "llama-tiny-f32", NULL);
    const char *key = "base_model.model.model.layers.0.self_attn.q_proj";
    const char *want = "model.layers.0.self_attn.q_proj"; /* the stored key without PEFT's wrapper, by hand */

    cli_result r = cli_run(cat, "show", "llama-tiny-f32", NULL);
    run_ok(cat, r, "show");
    ck_assert_msg(strstr(r.out, "\nmodel.layers.0.self_attn.q_proj "), "show text: %s", r.out);
    ck_assert_ptr_null(strstr(r.out, "base_model.model."));
    cli_result_free(&r);

    r = cli_run(cat, "spectrum", "llama-tiny-f32", NULL);
    run_ok(cat, r, "spectrum");
    ck_assert_msg(strncmp(r.out, "model.layers.0.mlp.down_proj  (", 31) == 0, "spectrum text: %.80s", r.out);
    ck_assert_msg(strstr(r.out, "\nmodel.layers.0.self_attn.q_proj  ("), "spectrum text: %s", r.out);
    ck_assert_ptr_null(strstr(r.out, "base_model.model."));
    cli_result_free(&r);

    r = cli_run(cat, "diff", "llama-tiny-f32", "llama-tiny-f32", NULL);
    run_ok(cat, r, "diff");
    ck_assert_msg(strstr(r.out, "\nmodel.layers.0.self_attn.q_proj "), "diff text: %s", r.out);
    ck_assert_ptr_null(strstr(r.out, "base_model.model."));
    cli_result_free(&r);

    json_t *show = json_of(cli_run(cat, "show", "llama-tiny-f32", "--json", NULL));
    json_t *spec = json_of(cli_run(cat, "spectrum", "llama-tiny-f32", "--json", NULL));
    json_t *diff = json_of(cli_run(cat, "diff", "llama-tiny-f32", "llama-tiny-f32", "--json", NULL));
    json_t *arrs[3] = {json_object_get(show, "layers"), spec, json_object_get(diff, "layers")};
    for (int k = 0; k < 3; k++) {
        ck_assert_uint_eq(json_array_size(arrs[k]), 28);
        size_t i;
        json_t *l;
        int seen = 0;
        json_array_foreach(arrs[k], i, l) {
            const char *n = json_string_value(json_object_get(l, "name"));
            const char *kk = json_string_value(json_object_get(l, "key"));
            if (strcmp(kk, key) == 0) {
                ck_assert_str_eq(n, want);
                seen++;
            }
            /* every layer: key = "base_model.model." + name; the workbench shows the same name */
            ck_assert_msg(strncmp(kk, "base_model.model.", 17) == 0 && strcmp(kk + 17, n) == 0, "%s vs %s", n, kk);
            ck_assert_str_eq(lsc_tui_short_name(NULL, kk), n);
        }
        ck_assert_int_eq(seen, 1);
    }
    json_decref(show);
    json_decref(spec);
    json_decref(diff);
}
END_TEST

/* The layers of a workbench state holding `n` stored keys (just what the filter reads). */
static lsc_tui_state *layers_state(const char *const *keys, size_t n)
{
    lsc_tui_state *st = calloc(1, sizeof *st);
    st->layers.rows = calloc(n, sizeof *st->layers.rows);
    st->layers.n = n;
    for (size_t i = 0; i < n; i++)
        snprintf(st->layers.rows[i].name, sizeof st->layers.rows[i].name, "%s", keys[i]);
    return st;
}

/* Item 2: a glob typed from what is displayed matches everywhere (it matched nothing before). */
START_TEST(test_glob_from_display)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "glob");
    import_sample(cat, "llama-tiny-f32", NULL);
    const char *glob = "model.layers.0.*"; /* the displayed "model.layers.0.self_attn.q_proj", cut after the block */
    json_t *show = json_of(cli_run(cat, "show", "llama-tiny-f32", "--layers", glob, "--json", NULL));
    ck_assert_uint_eq(json_array_size(json_object_get(show, "layers")), 7); /* q k v o gate up down */
    json_decref(show);
    json_t *spec = json_of(cli_run(cat, "spectrum", "llama-tiny-f32", glob, "--json", NULL));
    ck_assert_uint_eq(json_array_size(spec), 7);
    json_decref(spec);
    json_t *diff = json_of(cli_run(cat, "diff", "llama-tiny-f32", "llama-tiny-f32", "--layers", "*.self_attn.q_proj",
                                   "--json", NULL));
    ck_assert_uint_eq(json_array_size(json_object_get(diff, "layers")), 4);
    json_decref(diff);
    /* the stored key still matches */
    spec = json_of(cli_run(cat, "spectrum", "llama-tiny-f32", "base_model.model.model.layers.0.*", "--json", NULL));
    ck_assert_uint_eq(json_array_size(spec), 7);
    json_decref(spec);
    /* the workbench filter (f / "/"): the same glob on the layer table */
    const char *keys[] = {"base_model.model.model.layers.0.self_attn.q_proj", "base_model.model.model.layers.1.mlp.up_proj",
                          "base_model.model.model.layers.0.mlp.down_proj"};
    lsc_tui_state *st = layers_state(keys, 3);
    ck_assert(lsc_tui_row_match(st, LSC_VIEW_LAYERS, 0, glob));
    ck_assert(!lsc_tui_row_match(st, LSC_VIEW_LAYERS, 1, glob));
    ck_assert(lsc_tui_row_match(st, LSC_VIEW_LAYERS, 2, glob));
    ck_assert(lsc_tui_row_match(st, LSC_VIEW_LAYERS, 0, lsc_tui_short_name(st, keys[0]))); /* the whole shown name */
    free(st->layers.rows);
    free(st);
}
END_TEST

/* Item 3: every list of layers is in natural order 0, 1, 2, ..., 10, 11 (it was 0, 1, 10, 11, 2, ...). */
START_TEST(test_natural_order)
{
    char cat[4300], dir[4300], want[2048] = "";
    fresh_catalog(cat, sizeof cat, "natural");
    snprintf(dir, sizeof dir, "%s/twelve", g_tmp);
    ck_assert_int_eq(cli_write_peft_blocks(dir, 12), 0);
    cli_result r = cli_run(cat, "import", dir, "--name", "twelve", NULL);
    run_ok(cat, r, "import");
    cli_result_free(&r);
    for (int b = 0; b < 12; b++) {
        char line[128];
        snprintf(line, sizeof line, "model.layers.%d.self_attn.q_proj\n", b);
        strcat(want, line);
    }
    json_t *show = json_of(cli_run(cat, "show", "twelve", "--json", NULL));
    json_t *show_n = json_of(cli_run(cat, "show", "twelve", "--sort", "name", "--json", NULL));
    json_t *spec = json_of(cli_run(cat, "spectrum", "twelve", "--json", NULL));
    json_t *diff = json_of(cli_run(cat, "diff", "twelve", "twelve", "--json", NULL));
    json_t *arrs[4] = {json_object_get(show, "layers"), json_object_get(show_n, "layers"), spec,
                       json_object_get(diff, "layers")};
    for (int k = 0; k < 4; k++) {
        char *got = names_of(arrs[k], "name");
        ck_assert_msg(strcmp(got, want) == 0, "list %d in order:\n%s", k, got);
        free(got);
    }
    json_decref(show);
    json_decref(show_n);
    json_decref(spec);
    json_decref(diff);
    r = cli_run(cat, "show", "twelve", NULL);
    run_ok(cat, r, "show");
    char *col = show_column(r.out);
    ck_assert_msg(strcmp(col, want) == 0, "show text in order:\n%s", col);
    free(col);
    cli_result_free(&r);
    /* ls: adapter names too */
    const char *names[] = {"n10", "n2", "n1"}, *from[] = {"llama-tiny-f16", "llama-tiny-bf16", "llama-tiny-rslora"};
    for (int i = 0; i < 3; i++)
        import_sample(cat, from[i], names[i]);
    json_t *ls = json_of(cli_run(cat, "ls", "--json", NULL));
    char *got = names_of(ls, "name");
    ck_assert_str_eq(got, "n1\nn2\nn10\ntwelve\n");
    free(got);
    json_decref(ls);
    /* the comparator the workbench sorts its name column with, on hand-ordered cases */
    const char *ordered[] = {"a", "a0", "a00", "a1", "a01", "a2", "a9.x", "a10", "a10.b", "a11", "b", "l.2.q", "l.10.k"};
    size_t no = sizeof ordered / sizeof ordered[0];
    for (size_t i = 0; i < no; i++)
        for (size_t j = 0; j < no; j++) {
            int c = lsc_layername_cmp(ordered[i], ordered[j]);
            ck_assert_msg((i < j && c < 0) || (i == j && c == 0) || (i > j && c > 0), "%s vs %s: %d", ordered[i],
                          ordered[j], c);
        }
}
END_TEST

/* Item 6: a GGUF (and a kohya) export of a PEFT sample, imported again, diffs against the original
 * with every layer matched across formats and cosine 1. */
static void check_roundtrip(const char *cat, const char *b, int n_layers)
{
    json_t *d = json_of(cli_run(cat, "diff", "llama-tiny-f32", b, "--json", NULL));
    json_t *sum = json_object_get(d, "summary");
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "compared")), n_layers);
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "matched_across_formats")), n_layers);
    ck_assert_uint_eq(json_array_size(json_object_get(d, "only_in_a")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(d, "only_in_b")), 0);
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(d, "layers"), i, l) {
        ck_assert_msg(fabs(json_number_value(json_object_get(l, "cosine")) - 1.0) < 1e-9, "%s: cosine %g",
                      json_string_value(json_object_get(l, "name")), json_number_value(json_object_get(l, "cosine")));
        ck_assert_ptr_nonnull(json_string_value(json_object_get(l, "key_b")));
    }
    ck_assert(fabs(json_number_value(json_object_get(sum, "cosine")) - 1.0) < 1e-9);
    json_decref(d);
    cli_result r = cli_run(cat, "diff", "llama-tiny-f32", b, NULL);
    run_ok(cat, r, "diff");
    ck_assert_msg(strstr(r.out, "matched across formats"), "diff text: %s", r.out);
    ck_assert_ptr_null(strstr(r.out, "only in"));
    cli_result_free(&r);
}

START_TEST(test_diff_across_formats)
{
    char cat[4300], g[4400], k[4400];
    fresh_catalog(cat, sizeof cat, "formats");
    import_sample(cat, "llama-tiny-f32", NULL);
    snprintf(g, sizeof g, "%s/rt.gguf", g_tmp);
    snprintf(k, sizeof k, "%s/rt-kohya.safetensors", g_tmp);
    remove(g);
    remove(k);
    cli_result r = cli_run(cat, "export", "llama-tiny-f32", g, "--format", "gguf", "--no-permute", NULL);
    run_ok(cat, r, "export gguf");
    cli_result_free(&r);
    r = cli_run(cat, "export", "llama-tiny-f32", k, "--format", "kohya", NULL);
    run_ok(cat, r, "export kohya");
    cli_result_free(&r);
    r = cli_run(cat, "import", g, "--name", "rt-gguf", NULL);
    run_ok(cat, r, "import gguf");
    cli_result_free(&r);
    r = cli_run(cat, "import", k, "--name", "rt-kohya", NULL);
    run_ok(cat, r, "import kohya");
    cli_result_free(&r);
    check_roundtrip(cat, "rt-gguf", 28);
    check_roundtrip(cat, "rt-kohya", 28);
    /* the three spellings of one module have one identity (worked by hand) */
    char c1[LSC_MODKEY_MAX], c2[LSC_MODKEY_MAX], c3[LSC_MODKEY_MAX];
    ck_assert_int_eq(lsc_modkey_canonical("base_model.model.model.layers.3.self_attn.q_proj", c1, sizeof c1), 0);
    ck_assert_int_eq(lsc_modkey_canonical("blk.3.attn_q.weight", c2, sizeof c2), 0);
    ck_assert_int_eq(lsc_modkey_canonical("lora_te_model_layers_3_self_attn_q_proj", c3, sizeof c3), 0);
    ck_assert_str_eq(c1, "lora_te_model_layers_3_self_attn_q_proj");
    ck_assert_str_eq(c2, c1);
    ck_assert_str_eq(c3, c1);
    ck_assert_int_eq(lsc_modkey_canonical("lora_te1_text_model_encoder_layers_0_mlp_fc1", c1, sizeof c1), 0);
    ck_assert_int_eq(lsc_modkey_canonical("base_model.model.text_encoder.text_model.encoder.layers.0.mlp.fc1", c2,
                                          sizeof c2), 0);
    ck_assert_str_eq(c1, c2);
    ck_assert_int_eq(lsc_modkey_canonical("blk.3.attn_k.weight", c3, sizeof c3), 0);
    ck_assert_str_ne(c3, c1);
}
END_TEST

int main(void)
{
    if (cli_setup_samples(&g_tmp, g_samples, sizeof g_samples) != 0)
        return 1;
    const TTest *const tests[] = {test_one_display_name, test_glob_from_display, test_natural_order,
                                  test_diff_across_formats, NULL};
    return cli_run_suite("names", tests, 0, g_tmp);
}
