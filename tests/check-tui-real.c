/* check-tui-real.c: the TUI's real model (app/workbench.c) against the real CLI, on a catalog built from
 * the generated samples.
 *
 * The workbench's previews must say what the commands then do: prune_preview gives, layer by layer, the
 * rank, kept energy and relative error that `prune --json` reports, and its parameter and byte totals;
 * merge_preview gives the ranks (and, for cat, linear and svd, the relative errors) of `merge --json`.
 * Refusals carry the command's words. Commands run through the model's run() honour the cancel flag
 * (rolled back: nothing written) and report element-wise merge progress layer by layer.
 * Depends on $LSC_BIN (the lorascope binary) and $LSC_BUILD/samples/gen-samples.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "model.h"
#include "workbench.h"

static char *g_dir, g_cat[1024];
static lsc_tui_model g_m;
static int g_seq;

static void setup(void)
{
    g_dir = cli_tmpdir();
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/samples/gen-samples' '%s/s' >/dev/null", getenv("LSC_BUILD"), g_dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(g_cat, sizeof g_cat, "%s/c.db", g_dir);
    static const char *const samples[] = {"llama-tiny-f32", "llama-tiny-bf16", "llama-tiny-adalora", "llama-tiny-rslora",
                                          "gpt2-tiny-conv1d", "llama-tiny-dora", "tasks"};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/s/%s", g_dir, samples[i]);
        cli_result r = cli_run(g_cat, "import", p, NULL);
        ck_assert_msg(r.code == 0, "import %s: %s", samples[i], r.err);
        cli_result_free(&r);
    }
    lsc_error err = {0};
    ck_assert_int_eq(lsc_workbench_model_init(&g_m, g_cat, 0, &err), LSC_OK);
}

static void teardown(void)
{
    lsc_tui_model_release(&g_m);
    cli_rmtree(g_dir);
    free(g_dir);
}

static json_t *cli_json(cli_result *r)
{
    ck_assert_msg(r->code == 0, "exit %d: %s", r->code, r->err);
    json_error_t je;
    json_t *j = json_loads(r->out, 0, &je);
    ck_assert_msg(j != NULL, "not JSON: %s", r->out);
    return j;
}

static void close_to(double a, double b, const char *what, const char *layer)
{
    ck_assert_msg(fabs(a - b) <= 1e-12 * fmax(1, fabs(b)), "%s of '%s': preview %.17g, command %.17g", what, layer, a, b);
}

/* Preview, then the command, and compare every figure. */
static void check_prune(const char *adapter, lsc_tui_prune_rule rule, const char *value, const char *glob)
{
    lsc_tui_prune_row *rows = NULL;
    size_t n = 0;
    lsc_tui_prune_totals tot;
    lsc_error err = {0};
    lsc_status s = g_m.prune_preview(g_m.ctx, adapter, rule, strtod(value, NULL), glob, &rows, &n, &tot, &err);
    ck_assert_msg(s == LSC_OK, "preview %s --%s %s: %s", adapter, lsc_tui_prune_rule_name(rule), value, err.msg);
    char opt[32], as[32];
    snprintf(opt, sizeof opt, "--%s", lsc_tui_prune_rule_name(rule));
    snprintf(as, sizeof as, "p%d", ++g_seq);
    cli_result r = glob ? cli_run(g_cat, "prune", adapter, opt, value, "--layers", glob, "--as", as, "--json", NULL)
                        : cli_run(g_cat, "prune", adapter, opt, value, "--as", as, "--json", NULL);
    json_t *j = cli_json(&r);
    ck_assert_int_eq(tot.params_before, json_integer_value(json_object_get(j, "params_before")));
    ck_assert_int_eq(tot.params_after, json_integer_value(json_object_get(j, "params_after")));
    ck_assert_int_eq(tot.bytes_before, json_integer_value(json_object_get(j, "bytes_before")));
    ck_assert_int_eq(tot.bytes_after, json_integer_value(json_object_get(j, "bytes_after")));
    json_t *layers = json_object_get(j, "layers");
    ck_assert_uint_eq(json_array_size(layers), tot.n_chosen + tot.n_nonfinite);
    size_t k = 0, cut = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].chosen && !rows[i].nonfinite)
            continue;
        json_t *l = json_array_get(layers, k++);
        ck_assert_str_eq(rows[i].name, json_string_value(json_object_get(l, "name")));
        ck_assert_int_eq(rows[i].rank_before, json_integer_value(json_object_get(l, "rank_before")));
        ck_assert_int_eq(rows[i].rank_after, json_integer_value(json_object_get(l, "rank_after")));
        close_to(rows[i].kept_energy, json_number_value(json_object_get(l, "kept_energy")), "kept energy", rows[i].name);
        close_to(rows[i].rel_error, json_number_value(json_object_get(l, "rel_error")), "relative error", rows[i].name);
        cut += rows[i].rank_after < rows[i].rank_before;
    }
    ck_assert_uint_eq(cut, tot.n_cut);
    json_decref(j);
    cli_result_free(&r);
    free(rows);
}

START_TEST(test_prune_preview_matches_cli)
{
    static const struct {
        const char *adapter;
        lsc_tui_prune_rule rule;
        const char *value, *glob;
    } cases[] = {
        {"llama-tiny-f32", LSC_TUI_PRUNE_ENERGY, "0.9", NULL},
        {"llama-tiny-f32", LSC_TUI_PRUNE_RANK, "3", NULL},
        {"llama-tiny-f32", LSC_TUI_PRUNE_FRO, "0.95", "q_proj"},
        {"llama-tiny-bf16", LSC_TUI_PRUNE_CUMULATIVE, "0.8", NULL},
        {"llama-tiny-bf16", LSC_TUI_PRUNE_RATIO, "4", NULL},
        {"llama-tiny-rslora", LSC_TUI_PRUNE_BUDGET, "40", NULL},
        {"llama-tiny-adalora", LSC_TUI_PRUNE_ENERGY, "0.8", NULL},
        {"llama-tiny-adalora", LSC_TUI_PRUNE_BUDGET, "17", "*layers.[01].*"},
        {"gpt2-tiny-conv1d", LSC_TUI_PRUNE_ENERGY, "0.75", NULL},
        {"llama-tiny-dora", LSC_TUI_PRUNE_RANK, "2", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_prune(cases[i].adapter, cases[i].rule, cases[i].value, cases[i].glob);
}
END_TEST

START_TEST(test_prune_preview_refusals)
{
    lsc_tui_prune_row *rows = NULL;
    size_t n = 0;
    lsc_tui_prune_totals tot;
    lsc_error err = {0};
    /* the same words as the command */
    ck_assert_int_eq(g_m.prune_preview(g_m.ctx, "llama-tiny-f32", LSC_TUI_PRUNE_ENERGY, 0.9, "nothing-like-this", &rows,
                                       &n, &tot, &err),
                     LSC_ERR_NOTFOUND);
    ck_assert_ptr_null(rows);
    cli_result r = cli_run(g_cat, "prune", "llama-tiny-f32", "--energy", "0.9", "--layers", "nothing-like-this", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, err.msg) != NULL, "'%s' not in '%s'", err.msg, r.err);
    cli_result_free(&r);
    ck_assert_int_eq(g_m.prune_preview(g_m.ctx, "llama-tiny-f32", LSC_TUI_PRUNE_ENERGY, 1.5, NULL, &rows, &n, &tot, &err),
                     LSC_ERR_INVALID);
    r = cli_run(g_cat, "prune", "llama-tiny-f32", "--energy", "1.5", NULL);
    ck_assert_int_eq(r.code, 2);
    ck_assert_msg(strstr(r.err, err.msg) != NULL, "'%s' not in '%s'", err.msg, r.err);
    cli_result_free(&r);
    ck_assert_int_eq(g_m.prune_preview(g_m.ctx, "llama-tiny-f32", LSC_TUI_PRUNE_RANK, 2.5, NULL, &rows, &n, &tot, &err),
                     LSC_ERR_INVALID);
    ck_assert_int_eq(g_m.prune_preview(g_m.ctx, "ghost", LSC_TUI_PRUNE_RANK, 2, NULL, &rows, &n, &tot, &err),
                     LSC_ERR_NOTFOUND);
    /* a preview writes nothing: the catalog is as it was */
    lsc_tui_adapter *a = NULL;
    size_t na = 0;
    ck_assert_int_eq(g_m.list_adapters(g_m.ctx, &a, &na, &err), LSC_OK);
    ck_assert_uint_eq(na, 9); /* 7 samples, the two tasks and their multi-task group */
    free(a);
}
END_TEST

static void check_merge(lsc_tui_merge_method method, const char *weights, int rank, double density, int n, ...)
{
    lsc_tui_merge_opts o = {.method = method, .rank = rank, .density = density};
    const char *names[4];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        names[i] = va_arg(ap, const char *);
    va_end(ap);
    const char *p = weights;
    for (int i = 0; i < n; i++) {
        char *end;
        o.weights[i] = strtod(p, &end);
        p = *end ? end + 1 : end;
    }
    lsc_tui_merge_row *rows = NULL;
    size_t nr = 0;
    lsc_tui_merge_totals tot;
    lsc_error err = {0};
    ck_assert_msg(g_m.merge_preview(g_m.ctx, names, n, &o, &rows, &nr, &tot, &err) == LSC_OK, "%s", err.msg);
    char as[32], rk[16], dn[32];
    snprintf(as, sizeof as, "m%d", ++g_seq);
    snprintf(rk, sizeof rk, "%d", rank);
    snprintf(dn, sizeof dn, "%g", density);
    const char *mn = lsc_tui_merge_method_name(method);
    cli_result r = rank > 0 ? cli_run(g_cat, "merge", names[0], names[1], "--method", mn, "--weights", weights, "--rank",
                                      rk, "--density", dn, "--as", as, "--json", NULL)
                            : cli_run(g_cat, "merge", names[0], names[1], "--method", mn, "--weights", weights,
                                      "--as", as, "--json", NULL);
    json_t *j = cli_json(&r);
    ck_assert_int_eq(tot.params, json_integer_value(json_object_get(j, "params")));
    json_t *layers = json_object_get(j, "layers");
    ck_assert_uint_eq(json_array_size(layers), nr);
    for (size_t i = 0; i < nr; i++) {
        json_t *l = json_array_get(layers, i);
        ck_assert_str_eq(rows[i].name, json_string_value(json_object_get(l, "name")));
        ck_assert_int_eq(rows[i].models, json_integer_value(json_object_get(l, "models")));
        ck_assert_int_eq(rows[i].rank, json_integer_value(json_object_get(l, "rank")));
        if (lsc_tui_merge_is_elementwise(method))
            ck_assert(isnan(rows[i].rel_error)); /* known only when run */
        else
            close_to(rows[i].rel_error, json_number_value(json_object_get(l, "rel_error")), "merge error", rows[i].name);
    }
    if (!lsc_tui_merge_is_elementwise(method))
        close_to(tot.max_rel_error, json_number_value(json_object_get(j, "max_rel_error")), "largest error", "all");
    json_decref(j);
    cli_result_free(&r);
    free(rows);
}

START_TEST(test_merge_preview_matches_cli)
{
    check_merge(LSC_TUI_MERGE_CAT, "1,1", 0, 1, 2, "tasks-summarize", "tasks-translate");
    check_merge(LSC_TUI_MERGE_LINEAR, "0.5,1.5", 0, 1, 2, "tasks-summarize", "tasks-translate");
    check_merge(LSC_TUI_MERGE_LINEAR, "0.5,1.5", 5, 1, 2, "tasks-summarize", "tasks-translate");
    check_merge(LSC_TUI_MERGE_SVD, "0.7,1.3", 4, 1, 2, "tasks-summarize", "tasks-translate");
    check_merge(LSC_TUI_MERGE_SVD, "0.7,1.3", 2, 1, 2, "tasks-summarize", "tasks-translate"); /* kept spectra */
    check_merge(LSC_TUI_MERGE_LINEAR, "0.7,1.3", 7, 1, 2, "tasks-summarize", "tasks-translate");
    check_merge(LSC_TUI_MERGE_SVD, "1,-1", 6, 1, 2, "llama-tiny-f32", "llama-tiny-bf16");
    /* different layer sets: the union, a missing layer counts as zero */
    check_merge(LSC_TUI_MERGE_SVD, "1,1", 3, 1, 2, "llama-tiny-f32", "tasks-summarize");
    check_merge(LSC_TUI_MERGE_TIES, "1,1", 4, 0.5, 2, "tasks-summarize", "tasks-translate");
    check_merge(LSC_TUI_MERGE_DARE_LINEAR, "1,2", 3, 0.7, 2, "tasks-summarize", "tasks-translate");
}
END_TEST

START_TEST(test_merge_preview_refusals)
{
    lsc_tui_merge_opts o = {.method = LSC_TUI_MERGE_SVD, .rank = 4, .density = 1, .weights = {1, 1}};
    const char *names[2] = {"llama-tiny-f32", "llama-tiny-dora"};
    lsc_tui_merge_row *rows = NULL;
    size_t nr = 0;
    lsc_tui_merge_totals tot;
    lsc_error err = {0};
    ck_assert_int_eq(g_m.merge_preview(g_m.ctx, names, 2, &o, &rows, &nr, &tot, &err), LSC_ERR_UNSUPPORTED);
    cli_result r = cli_run(g_cat, "merge", names[0], names[1], "--method", "svd", "--rank", "4", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, err.msg) != NULL, "'%s' not in '%s'", err.msg, r.err);
    cli_result_free(&r);
    names[1] = "gpt2-tiny-conv1d"; /* another base model */
    ck_assert_int_eq(g_m.merge_preview(g_m.ctx, names, 2, &o, &rows, &nr, &tot, &err), LSC_ERR_INVALID);
    r = cli_run(g_cat, "merge", names[0], names[1], "--method", "svd", "--rank", "4", NULL);
    ck_assert_msg(strstr(r.err, err.msg) != NULL, "'%s' not in '%s'", err.msg, r.err);
    cli_result_free(&r);
    names[1] = "llama-tiny-bf16";
    o.rank = 0;
    ck_assert_int_eq(g_m.merge_preview(g_m.ctx, names, 2, &o, &rows, &nr, &tot, &err), LSC_ERR_INVALID);
    r = cli_run(g_cat, "merge", names[0], names[1], "--method", "svd", NULL);
    ck_assert_msg(strstr(r.err, err.msg) != NULL, "'%s' not in '%s'", err.msg, r.err);
    cli_result_free(&r);
    ck_assert_ptr_null(rows);
}
END_TEST

typedef struct reports {
    int n;
    long last_done, last_total;
    char last[256];
} reports;

static void on_report(void *ctx, const char *what, long done, long total)
{
    reports *r = ctx;
    r->n++;
    r->last_done = done;
    r->last_total = total;
    snprintf(r->last, sizeof r->last, "%s", what);
}

START_TEST(test_run_progress_and_cancel)
{
    volatile int cancel = 1;
    reports rep = {0};
    lsc_tui_progress prog = {.cancel = &cancel, .report = on_report, .ctx = &rep};
    char *out = NULL, *msg = NULL;
    /* cancelled before it starts: stops after the first layer, rolled back */
    char *a1[] = {"merge", "tasks-summarize", "tasks-translate", "--method", "ties", "--rank", "4", "--as", "gone", NULL};
    ck_assert_int_eq(g_m.run(g_m.ctx, 9, a1, 0, &prog, &out, &msg), 1);
    ck_assert_ptr_nonnull(msg);
    ck_assert_str_eq(msg, "merge cancelled: nothing written");
    free(out);
    free(msg);
    char *a2[] = {"prune", "llama-tiny-f32", "--rank", "2", "--as", "gone", NULL};
    ck_assert_int_eq(g_m.run(g_m.ctx, 6, a2, 0, &prog, &out, &msg), 1);
    ck_assert_str_eq(msg, "prune cancelled: nothing written");
    free(out);
    free(msg);
    lsc_tui_adapter *a = NULL;
    size_t na = 0;
    lsc_error err = {0};
    ck_assert_int_eq(g_m.list_adapters(g_m.ctx, &a, &na, &err), LSC_OK);
    ck_assert_uint_eq(na, 9); /* 7 samples, the two tasks and their multi-task group */
    for (size_t i = 0; i < na; i++)
        ck_assert_str_ne(a[i].name, "gone");
    free(a);
    lsc_tui_history *h = NULL;
    size_t nh = 0;
    ck_assert_int_eq(g_m.history(g_m.ctx, &h, &nh, &err), LSC_OK);
    ck_assert_uint_eq(nh, 7); /* the imports only */
    free(h);
    /* not cancelled: element-wise progress arrives layer by layer, the output has no escape codes */
    cancel = 0;
    char *a5[] = {"merge", "tasks-summarize", "tasks-translate", "--method", "ties", "--rank", "4", "--as", "gone", NULL};
    ck_assert_int_eq(g_m.run(g_m.ctx, 9, a5, 0, &prog, &out, &msg), 0); /* (getopt permuted a1 in place) */
    ck_assert_ptr_null(msg);
    ck_assert_int_ge(rep.n, 8);
    ck_assert_int_eq(rep.last_total, 8);
    ck_assert_int_eq(rep.last_done, 8);
    ck_assert_str_eq(rep.last, "merge ties: layer 8/8");
    ck_assert_ptr_null(strchr(out, '\033'));
    ck_assert_ptr_null(strchr(out, '\r'));
    ck_assert_ptr_nonnull(strstr(out, "gone: ties merge of 2 adapters"));
    free(out);
    /* undo through the model */
    char *a3[] = {"undo", NULL};
    ck_assert_int_eq(g_m.run(g_m.ctx, 1, a3, 0, NULL, &out, &msg), 0);
    ck_assert_ptr_nonnull(strstr(out, "undid #8 merge gone"));
    free(out);
    /* the session script after the imports */
    char *a4[] = {"log", "--script", "--since", "7", NULL};
    ck_assert_int_eq(g_m.run(g_m.ctx, 4, a4, 0, NULL, &out, &msg), 0);
    ck_assert_ptr_null(strstr(out, "merge")); /* undone */
    free(out);
    ck_assert_int_eq(g_m.run(g_m.ctx, 1, (char *[]){"redo", NULL}, 0, NULL, &out, &msg), 0);
    free(out);
    ck_assert_int_eq(g_m.run(g_m.ctx, 4, a4, 0, NULL, &out, &msg), 0);
    ck_assert_msg(strstr(out, "\nmerge tasks-summarize tasks-translate --method ties --rank 4 --as gone\n") != NULL, "%s", out);
    free(out);
    /* read-only refuses before doing anything */
    ck_assert_int_eq(g_m.run(g_m.ctx, 6, a2, LSC_TUI_RUN_READONLY, NULL, &out, &msg), 1);
    ck_assert_ptr_nonnull(strstr(msg, "read-only"));
    free(out);
    free(msg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tui-real");
    TCase *tc = tcase_create("workbench");
    tcase_set_timeout(tc, 240);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_prune_preview_matches_cli);
    tcase_add_test(tc, test_prune_preview_refusals);
    tcase_add_test(tc, test_merge_preview_matches_cli);
    tcase_add_test(tc, test_merge_preview_refusals);
    tcase_add_test(tc, test_run_progress_and_cancel);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!getenv("LSC_BIN") || !getenv("LSC_BUILD")) {
        fprintf(stderr, "LSC_BIN and LSC_BUILD must be set (meson test sets them)\n");
        return 77;
    }
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
