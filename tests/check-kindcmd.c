/* check-kindcmd.c: the six kinds end to end with the real binary: detection at import, the kind figures
 * of `show --json`, and the kind edits (rebudget, convert, gates, share, drop, group, prune --prefix),
 * each checked against values computed here from the source files (dense products, importances). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cli_util.h"
#include "peft.h"

static char *g_tmp;
static char g_samples[4200], g_cat[4400];

static int setup(void)
{
    if (cli_setup_samples(&g_tmp, g_samples, sizeof g_samples) != 0)
        return -1;
    snprintf(g_cat, sizeof g_cat, "%s/kinds.db", g_tmp);
    const char *s[] = {"llama-tiny-f32", "sd-tiny-dylora.safetensors", "llama-tiny-patterns", "llama-tiny-adalora",
                       "llama-tiny-sora", "tasks"};
    for (int i = 0; i < 6; i++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", g_samples, s[i]);
        cli_result r = cli_run(g_cat, "import", p, NULL);
        int ok = r.code == 0;
        cli_result_free(&r);
        if (!ok)
            return -1;
    }
    return 0;
}

static json_t *jrun(const char *a0, const char *a1, const char *a2)
{
    cli_result r = a2 ? cli_run(g_cat, a0, a1, a2, "--json", NULL) : a1 ? cli_run(g_cat, a0, a1, "--json", NULL)
                                                                         : cli_run(g_cat, a0, "--json", NULL);
    ck_assert_msg(r.code == 0, "%s %s: %s", a0, a1 ? a1 : "", r.err);
    json_t *v = json_loads(r.out, 0, NULL);
    ck_assert_ptr_nonnull(v);
    cli_result_free(&r);
    return v;
}

static void run_ok(const char *a0, const char *a1, const char *a2, const char *a3, const char *a4, const char *a5)
{
    cli_result r = cli_run(g_cat, a0, a1, a2, a3, a4, a5, NULL);
    ck_assert_msg(r.code == 0, "%s %s: %s", a0, a1, r.err);
    cli_result_free(&r);
}

START_TEST(test_six_kinds_detected)
{
    json_t *ls = jrun("ls", NULL, NULL);
    const char *want[][2] = {{"llama-tiny-f32", "static"},      {"sd-tiny-dylora", "dynamic"},
                             {"llama-tiny-patterns", "layer-wise"}, {"llama-tiny-adalora", "adaptive"},
                             {"llama-tiny-sora", "sparse"},     {"tasks", "multi-task"}};
    for (int k = 0; k < 6; k++) {
        int found = 0;
        size_t i;
        json_t *a;
        json_array_foreach(ls, i, a) if (strcmp(json_string_value(json_object_get(a, "name")), want[k][0]) == 0) {
            ck_assert_str_eq(json_string_value(json_object_get(a, "kind")), want[k][1]);
            found = 1;
            if (k == 5)
                ck_assert_uint_eq(json_array_size(json_object_get(a, "tasks")), 2);
        }
        ck_assert_msg(found, "%s not listed", want[k][0]);
    }
    json_decref(ls);
}
END_TEST

/* Dense delta of layer li of a PEFT folder, rows x cols. */
static double *dense_of(lsc_adapter *ad, size_t li, int64_t *rows, int64_t *cols)
{
    double *B = NULL, *A = NULL;
    size_t bc = 0, ac = 0;
    lsc_lowrank lr;
    lsc_error e;
    ck_assert_int_eq(lsc_adapter_factors(ad, li, &B, &bc, &A, &ac, &lr, &e), LSC_OK);
    double *d = calloc((size_t)(lr.rows * lr.cols), sizeof *d);
    for (int64_t p = 0; p < lr.rows; p++)
        for (int k = 0; k < lr.r; k++)
            for (int64_t q = 0; q < lr.cols; q++)
                d[p * lr.cols + q] += lr.scale * B[p * lr.r + k] * A[k * lr.cols + q];
    *rows = lr.rows;
    *cols = lr.cols;
    free(B);
    free(A);
    return d;
}

START_TEST(test_multitask_figures_match_dense)
{
    json_t *v = jrun("show", "tasks", NULL);
    json_t *C = json_object_get(v, "task_cosine");
    char a[4400], b[4400];
    snprintf(a, sizeof a, "%s/tasks/summarize", g_samples);
    snprintf(b, sizeof b, "%s/tasks/translate", g_samples);
    lsc_adapter *x = NULL, *y = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_peft_read(a, &x, &e), LSC_OK);
    ck_assert_int_eq(lsc_peft_read(b, &y, &e), LSC_OK);
    double xy = 0, xx = 0, yy = 0;
    for (size_t li = 0; li < x->n_layers; li++) {
        int64_t r, c;
        double *dx = dense_of(x, li, &r, &c), *dy = dense_of(y, (size_t)lsc_adapter_find_layer(y, x->layers[li].name), &r, &c);
        double lxy = 0, lxx = 0, lyy = 0;
        for (int64_t i = 0; i < r * c; i++) {
            lxy += dx[i] * dy[i];
            lxx += dx[i] * dx[i];
            lyy += dy[i] * dy[i];
        }
        xy += lxy;
        xx += lxx;
        yy += lyy;
        json_t *jl = json_array_get(json_object_get(v, "layers"), li);
        double got = json_number_value(json_array_get(json_array_get(json_object_get(jl, "cosine"), 0), 1));
        ck_assert_msg(fabs(got - lxy / sqrt(lxx * lyy)) < 1e-9, "layer %zu cosine %.12g vs dense %.12g", li, got,
                      lxy / sqrt(lxx * lyy));
        ck_assert_int_eq(json_integer_value(json_object_get(jl, "shared_dim")), 2); /* planted by the generator */
        free(dx);
        free(dy);
    }
    double got = json_number_value(json_array_get(json_array_get(C, 0), 1));
    ck_assert_msg(fabs(got - xy / sqrt(xx * yy)) < 1e-9, "overall cosine %.12g vs dense %.12g", got, xy / sqrt(xx * yy));
    json_decref(v);
    lsc_adapter_free(x);
    lsc_adapter_free(y);
}
END_TEST

START_TEST(test_rebudget_keeps_most_important)
{
    /* importance of every triplet computed here from the file: |s E_i| ||P[:, i]|| ||Q[i, :]|| */
    char a[4400];
    snprintf(a, sizeof a, "%s/llama-tiny-adalora", g_samples);
    lsc_adapter *ad = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_peft_read(a, &ad, &e), LSC_OK);
    double imp[1024];
    int layer_of[1024], n = 0;
    for (size_t li = 0; li < ad->n_layers; li++) {
        lsc_layer *l = &ad->layers[li];
        double *P = NULL, *E = NULL, *Q = NULL;
        size_t c1 = 0, c2 = 0, c3 = 0, n1, n2, n3;
        ck_assert_int_eq(lsc_adapter_tensor_doubles(ad, (size_t)l->tb, &P, &c1, &n1, &e), LSC_OK);
        ck_assert_int_eq(lsc_adapter_tensor_doubles(ad, (size_t)l->te, &E, &c2, &n2, &e), LSC_OK);
        ck_assert_int_eq(lsc_adapter_tensor_doubles(ad, (size_t)l->ta, &Q, &c3, &n3, &e), LSC_OK);
        for (int i = 0; i < l->rank; i++) {
            double np = 0, nq = 0;
            for (int64_t r = 0; r < l->rows; r++)
                np += P[r * l->rank + i] * P[r * l->rank + i];
            for (int64_t c = 0; c < l->cols; c++)
                nq += Q[i * l->cols + c] * Q[i * l->cols + c];
            imp[n] = fabs(l->scale * E[i]) * sqrt(np) * sqrt(nq);
            layer_of[n++] = (int)li;
        }
        free(P);
        free(E);
        free(Q);
    }
    const int N = 50;
    int want[64] = {0};
    for (int i = 0; i < n; i++) { /* rank of triplet i among all: kept if fewer than N are larger */
        int larger = 0;
        for (int j = 0; j < n; j++)
            larger += imp[j] > imp[i] || (imp[j] == imp[i] && j < i);
        if (larger < N)
            want[layer_of[i]]++;
    }
    run_ok("rebudget", "llama-tiny-adalora", "50", "--as", "ada50", NULL);
    json_t *v = jrun("show", "ada50", NULL);
    json_t *layers = json_object_get(v, "layers");
    int total = 0;
    for (size_t li = 0; li < ad->n_layers; li++) {
        json_t *jl = json_array_get(layers, li);
        int got = (int)json_integer_value(json_object_get(jl, "rank"));
        int w = want[li] > 0 ? want[li] : 1; /* an emptied layer keeps one masked triplet */
        ck_assert_msg(got == w, "layer %s keeps %d, importance says %d", ad->layers[li].name, got, w);
        total += want[li];
    }
    ck_assert_int_eq(total, N);
    json_decref(v);
    /* the exported config's masks keep exactly N slots */
    char dir[4500];
    snprintf(dir, sizeof dir, "%s/ada50", g_tmp);
    run_ok("export", "ada50", dir, NULL, NULL, NULL);
    char cfgp[4600];
    snprintf(cfgp, sizeof cfgp, "%s/adapter_config.json", dir);
    json_t *cfg = json_load_file(cfgp, 0, NULL);
    const char *k;
    json_t *m;
    int kept = 0;
    json_object_foreach(json_object_get(cfg, "rank_pattern"), k, m) {
        size_t i;
        json_t *b;
        json_array_foreach(m, i, b) kept += json_is_true(b);
    }
    ck_assert_int_eq(kept, N);
    json_decref(cfg);
    lsc_adapter_free(ad);
}
END_TEST

static json_t *layer_diff(const char *a, const char *b)
{
    json_t *d = jrun("diff", a, b);
    return d;
}

START_TEST(test_convert_keeps_the_delta)
{
    run_ok("convert", "llama-tiny-adalora", "--to", "static", "--as", "ada-static");
    json_t *d = layer_diff("llama-tiny-adalora", "ada-static");
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(d, "layers"), i, l)
        ck_assert(json_number_value(json_object_get(l, "rel_diff")) < 1e-6); /* F32 storage */
    json_decref(d);
    run_ok("convert", "llama-tiny-sora", "--to", "static", "--as", "sora-static");
    d = layer_diff("llama-tiny-sora", "sora-static");
    json_array_foreach(json_object_get(d, "layers"), i, l)
        ck_assert(json_number_value(json_object_get(l, "rel_diff")) < 2e-3); /* gates folded, F16 storage */
    json_decref(d);
    /* closed gates drop their ranks: each layer keeps its live gates (from show's SoRA figures) */
    json_t *s = jrun("show", "llama-tiny-sora", NULL), *t = jrun("show", "sora-static", NULL);
    json_t *gl = json_object_get(json_object_get(s, "kind_figures"), "layers");
    json_array_foreach(gl, i, l)
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(t, "layers"), i), "rank")),
                         json_integer_value(json_object_get(l, "live_gates")));
    /* a plain LoRA; its ranks now differ per layer, which makes it layer-wise by definition */
    ck_assert_str_eq(json_string_value(json_object_get(t, "kind")), "layer-wise");
    json_decref(s);
    json_decref(t);
    cli_result r = cli_run(g_cat, "convert", "llama-tiny-f32", "--to", "static", NULL);
    ck_assert_int_eq(r.code, 1);
    cli_result_free(&r);
}
END_TEST

START_TEST(test_gates_threshold)
{
    run_ok("gates", "llama-tiny-sora", "--threshold", "0.8", "--as", "sora08");
    json_t *v = jrun("show", "sora08", NULL), *o = jrun("show", "llama-tiny-sora", NULL);
    long live = json_integer_value(json_object_get(json_object_get(v, "kind_figures"), "live_gates"));
    long before = json_integer_value(json_object_get(json_object_get(o, "kind_figures"), "live_gates"));
    /* the sample's live gates are drawn in [0.6, 1.0): a step of 0.8 closes some, never opens any */
    ck_assert(live < before && live > 0);
    json_decref(v);
    json_decref(o);
}
END_TEST

/* The statistics cached for a gates output are its own: the cache key covers every tensor the layer's
 * factors read (the gate scales A's rows), so an edit that changes only the gate cannot reuse its source's
 * figures (it did: the key named A, B and E only). Compared with the figures computed with the cache gone. */
START_TEST(test_gates_fresh_stats)
{
    run_ok("gates", "llama-tiny-sora", "--threshold", "0.3", "--as", "sora03");
    cli_result a = cli_run(g_cat, "--json", "show", "sora03", NULL);
    ck_assert_msg(a.code == 0, "%s", a.err);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(g_cat, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "DELETE FROM layer_stats", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    cli_result b = cli_run(g_cat, "--json", "show", "sora03", NULL);
    ck_assert_msg(b.code == 0, "%s", b.err);
    ck_assert_msg(strcmp(a.out, b.out) == 0, "cached statistics of a gates output are its source's");
    cli_result_free(&a);
    cli_result_free(&b);
}
END_TEST

START_TEST(test_share_and_group)
{
    run_ok("share", "tasks", "--rank", "16", "--as", "hydra");
    json_t *v = jrun("show", "hydra", NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "shared_a_layers")), 8);
    json_decref(v);
    json_t *d = layer_diff("tasks-summarize", "hydra-summarize");
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(d, "layers"), i, l)
        ck_assert(json_number_value(json_object_get(l, "rel_diff")) < 2e-3); /* exact at full rank, F16 storage */
    json_decref(d);
    /* the multi-adapter folder exports, and imports back as one multi-task adapter storing A once */
    char dir[4500];
    snprintf(dir, sizeof dir, "%s/hydra-out", g_tmp);
    run_ok("export", "hydra", dir, NULL, NULL, NULL);
    run_ok("rm", "hydra", "--force", NULL, NULL, NULL);
    cli_result r = cli_run(g_cat, "import", dir, "--name", "hydra2", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    v = jrun("show", "hydra2", NULL);
    ck_assert_str_eq(json_string_value(json_object_get(v, "kind")), "multi-task");
    ck_assert_int_eq(json_integer_value(json_object_get(v, "shared_a_layers")), 8);
    json_decref(v);
    run_ok("group", "pair", "llama-tiny-f32", "llama-tiny-patterns", "--tasks", "a,b");
    v = jrun("show", "pair", NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(v, "tasks")), 2);
    json_decref(v);
}
END_TEST

START_TEST(test_drop_and_prefix)
{
    run_ok("drop", "llama-tiny-patterns", "--layers", "k_proj", "--as", "nok");
    json_t *v = jrun("show", "nok", NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "n_layers")), 24);
    json_decref(v);
    char dir[4500], cfgp[4600];
    snprintf(dir, sizeof dir, "%s/nok", g_tmp);
    run_ok("export", "nok", dir, NULL, NULL, NULL);
    snprintf(cfgp, sizeof cfgp, "%s/adapter_config.json", dir);
    json_t *cfg = json_load_file(cfgp, 0, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(cfg, "exclude_modules")), 4);
    json_decref(cfg);
    cli_result pr = cli_run(g_cat, "prune", "sd-tiny-dylora", "--rank", "4", "--prefix", "--as", "dy4", NULL);
    ck_assert_msg(pr.code == 0, "%s", pr.err);
    cli_result_free(&pr);
    v = jrun("show", "dy4", NULL);
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(v, "layers"), i, l)
        ck_assert_int_eq(json_integer_value(json_object_get(l, "rank")), 4);
    json_decref(v);
    /* the kind figures: DyLoRA's full-rank prefix error is exactly 0 */
    v = jrun("show", "sd-tiny-dylora", NULL);
    json_t *mp = json_object_get(json_object_get(v, "kind_figures"), "mean_prefix_err");
    ck_assert_uint_eq(json_array_size(mp), 8);
    ck_assert(json_number_value(json_array_get(mp, 7)) == 0.0);
    json_decref(v);
}
END_TEST

/* group refuses an adapter given twice; rm refuses to remove a task of a group without --force, for a
 * group made by `group` and for one imported from a multi-adapter folder (issue #13, item 14). */
START_TEST(test_group_members)
{
    char *before = cli_names_hashes(g_cat);
    cli_result r = cli_run(g_cat, "group", "twice", "llama-tiny-f32", "llama-tiny-f32", NULL);
    ck_assert_msg(r.code == 1 && strstr(r.err, "'llama-tiny-f32' is given twice"), "%s", r.err);
    cli_result_free(&r);
    r = cli_run(g_cat, "group", "twice", "llama-tiny-f32", "llama-tiny-patterns", "--tasks", "t,t", NULL);
    ck_assert_msg(r.code == 2 && strstr(r.err, "named twice"), "%s", r.err);
    cli_result_free(&r);
    const char *members[][2] = {{"llama-tiny-f32", "pair"}, {"hydra2-summarize", "hydra2"}};
    for (int k = 0; k < 2; k++) {
        r = cli_run(g_cat, "rm", members[k][0], NULL);
        ck_assert_msg(r.code == 1 && strstr(r.err, members[k][1]) && strstr(r.err, "--force"), "rm %s: %s",
                      members[k][0], r.err);
        cli_result_free(&r);
    }
    cli_assert_unchanged(g_cat, before);
}
END_TEST

/* log --script of the catalog all the tests above edited rebuilds it (issue #13, item 6). */
START_TEST(test_log_script_rebuilds)
{
    assert_log_script_rebuilds(g_cat);
}
END_TEST

int main(void)
{
    if (setup() != 0) {
        fprintf(stderr, "cannot build the sample catalog\n");
        return 1;
    }
    /* the tests share one catalog and run in order */
    const TTest *const tests[] = {test_six_kinds_detected, test_multitask_figures_match_dense,
                                          test_rebudget_keeps_most_important, test_convert_keeps_the_delta,
                                          test_gates_threshold, test_gates_fresh_stats, test_share_and_group, test_drop_and_prefix,
                                          test_group_members, test_log_script_rebuilds, NULL};
    return cli_run_suite("kindcmd", tests, 1, g_tmp);
}
