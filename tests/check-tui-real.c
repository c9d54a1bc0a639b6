/* check-tui-real.c: the TUI's real model (app/workbench.c) against the real CLI, on a catalog built from
 * the generated samples.
 *
 * The workbench's previews must say what the commands then do: prune_preview gives, layer by layer, the
 * rank, kept energy and relative error that `prune --json` reports, and its parameter and byte totals;
 * merge_preview gives the ranks (and, for cat, linear and svd, the relative errors) of `merge --json`.
 * Refusals carry the command's words. Commands run through the model's run() honour the cancel flag
 * (rolled back: nothing written) and report element-wise merge progress layer by layer. On a catalog it
 * may not write (a read-only tmpfs mount; skipped with a message where mount(2) is not permitted) the
 * workbench opens read-only instead of failing: it lists, `ls` through run() prints, an edit is refused.
 * Depends on $LSC_BIN (the lorascope binary) and $LSC_BUILD/samples/gen-samples.
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_util.h"
#include "keys.h"
#include "model.h"
#include "state.h"
#include "view.h"
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
        ck_assert_str_eq(rows[i].name, json_string_value(json_object_get(l, "key")));
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

/* The layer table's row named key; st->layers.n when none is. */
static size_t layer_row(const lsc_tui_state *st, const char *key)
{
    size_t i = 0;
    while (i < st->layers.n && strcmp(st->layers.rows[i].name, key) != 0)
        i++;
    return i;
}

/* Every layer of the JSON `show --base --json` gave (ls) has the same figures in the layer table of st. */
static void check_vsbase_figures(const lsc_tui_state *st, json_t *ls)
{
    for (size_t k = 0; k < json_array_size(ls); k++) {
        json_t *l = json_array_get(ls, k);
        const char *key = json_string_value(json_object_get(l, "key"));
        size_t i = layer_row(st, key);
        const lsc_tui_basefig_row *f = i < st->layers.n ? lsc_tui_vsbase_fig(st, i) : NULL;
        ck_assert_msg(f != NULL, "no vs base figures for '%s' (%s)", key, st->msg);
        close_to(f->base_norm, json_real_value(json_object_get(l, "base_norm")), "base_norm", key);
        close_to(f->rel_norm, json_real_value(json_object_get(l, "rel_norm")), "rel_norm", key);
        close_to(f->amplification, json_real_value(json_object_get(l, "amplification")), "amplification", key);
        /* randomized subspaces: to 1e-6, as the issue asks of them (two runs need not agree to the last bit) */
        ck_assert_msg(fabs(f->subspace_sim - json_real_value(json_object_get(l, "subspace_sim"))) < 1e-6, "%s %.12g %.12g", key, f->subspace_sim, json_real_value(json_object_get(l, "subspace_sim")));
        ck_assert_msg(fabs(f->subspace_sim_k - json_real_value(json_object_get(l, "subspace_sim_k"))) < 1e-6, "%s %.12g %.12g", key, f->subspace_sim_k, json_real_value(json_object_get(l, "subspace_sim_k")));
        ck_assert_int_eq(f->intruders, (int)json_integer_value(json_object_get(l, "intruders")));
        ck_assert_int_eq(f->k_ref, (int)json_integer_value(json_object_get(l, "k_ref")));
        ck_assert_int_gt(f->k_ref, f->k); /* the panel names k_ref, not k: W's top 2k by default */
    }
}

/* Poll st until its jobs (the figures job on the reader) are over. */
static void wait_jobs(lsc_tui_state *st)
{
    for (int i = 0; i < 60000 && lsc_tui_state_working(st); i++) {
        usleep(1000);
        lsc_tui_state_poll(st);
    }
    ck_assert_msg(!lsc_tui_state_working(st), "the figures job did not end");
}

/* The grid of ad with the heat by |dW|/|W| (v, o, o). */
static lsc_tui_state *grid_rel(const char *ad, int async)
{
    lsc_tui_state *st = NULL;
    lsc_tui_state_opts so = {.adapter = ad};
    lsc_error err = {0};
    ck_assert_int_eq(lsc_tui_state_new(&g_m, &so, 24, 100, &st, &err), LSC_OK);
    st->async = async;
    lsc_tui_state_key(st, 'v');
    ck_assert_int_eq(lsc_tui_state_view(st), LSC_VIEW_GRID);
    lsc_tui_state_key(st, 'o');
    lsc_tui_state_key(st, 'o');
    return st;
}

/* The grid's |dW|/|W| heat map (issue #19): refused without a recorded base; with one, nothing is read
 * until b computes the vs base figures on the model's reader (a worker thread), and the heat is then what
 * `show --base --json` reports as rel_norm. The base is generated here from the adapter's own layer shapes. */
START_TEST(test_base_rel_matches_cli)
{
    const char *ad = "llama-tiny-f32";
    lsc_tui_layer *rows = NULL;
    size_t n = 0;
    lsc_error err = {0};
    ck_assert_int_eq(g_m.layers(g_m.ctx, ad, &rows, &n, &err), LSC_OK);
    lsc_tui_state *st = grid_rel(ad, 0);
    ck_assert_int_eq(st->grid.metric, LSC_METRIC_NORM);
    ck_assert_msg(strstr(st->msg, "no base recorded for 'llama-tiny-f32'"), "%s", st->msg);
    lsc_tui_state_free(st);
    /* a base: "<module path>.weight" F32 [rows, cols] per layer, deterministic values */
    size_t hcap = 1 << 16, total = 0, ho = 0;
    char *hdr = malloc(hcap);
    ho += (size_t)snprintf(hdr, hcap, "{");
    for (size_t i = 0; i < n; i++) {
        size_t nb = (size_t)(rows[i].rows * rows[i].cols) * 4;
        ho += (size_t)snprintf(hdr + ho, hcap - ho, "%s\"%s.weight\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],"
                               "\"data_offsets\":[%zu,%zu]}", i ? "," : "", rows[i].name + strlen("base_model.model."),
                               (long long)rows[i].rows, (long long)rows[i].cols, total, total + nb);
        total += nb;
    }
    snprintf(hdr + ho, hcap - ho, "}");
    float *data = malloc(total);
    for (size_t k = 0; k < total / 4; k++)
        data[k] = (float)(0.02 * sin(0.37 * (double)k) + 0.001 * (double)(k % 7));
    char base[1200];
    snprintf(base, sizeof base, "%s/base.safetensors", g_dir);
    ck_assert_int_eq(cli_write_st(base, hdr, data, total), 0);
    free(hdr);
    free(data);
    cli_result r = cli_run(g_cat, "base", ad, base, NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    r = cli_run(g_cat, "show", ad, "--base", "--json", NULL);
    json_t *j = cli_json(&r), *ls = json_object_get(j, "layers");
    ck_assert_int_eq((int)json_array_size(ls), (int)n);
    st = grid_rel(ad, 1);
    ck_assert_int_eq(st->grid.metric, LSC_METRIC_REL);
    ck_assert_msg(!lsc_tui_state_working(st) && st->vsbase.cur < 0, "the heat computed something by itself");
    for (size_t i = 0; i < st->layers.n; i++)
        ck_assert_msg(isnan(lsc_tui_grid_value(st, i)), "row %zu: %g before the figures", i, lsc_tui_grid_value(st, i));
    ck_assert_msg(strstr(st->msg, "not computed yet"), "%s", st->msg);
    lsc_tui_state_key(st, 'b');
    ck_assert(!lsc_tui_state_busy(st));
    lsc_tui_state_key(st, 'j'); /* the grid moves meanwhile */
    wait_jobs(st);
    ck_assert_int_eq(lsc_tui_state_view(st), LSC_VIEW_GRID);
    ck_assert_int_eq(st->grid.metric, LSC_METRIC_REL);
    for (size_t k = 0; k < json_array_size(ls); k++) {
        json_t *l = json_array_get(ls, k);
        const char *key = json_string_value(json_object_get(l, "key"));
        size_t i = layer_row(st, key);
        ck_assert_msg(i < st->layers.n, "layer '%s' not in the grid's rows", key);
        close_to(lsc_tui_grid_value(st, i), json_real_value(json_object_get(l, "rel_norm")), "rel_norm", key);
        /* the grid's b ran show --base --norms: the full run's rel_norm to the last bit */
        ck_assert_double_eq(lsc_tui_grid_value(st, i), json_real_value(json_object_get(l, "rel_norm")));
    }
    char cell[64]; /* and only the norms: the layer table's other figures are still unknown */
    lsc_tui_cell_text_data(st, LSC_VIEW_LAYERS, 0, LSC_COL_REL_NORM, cell, sizeof cell);
    ck_assert_str_ne(cell, "-");
    lsc_tui_cell_text_data(st, LSC_VIEW_LAYERS, 0, LSC_COL_AMP, cell, sizeof cell);
    ck_assert_str_eq(cell, "-");
    lsc_tui_state_free(st);
    /* the workbench's "vs base": the model names the recorded base, and b in the layer table (the command
     * run as a job) gives the command's figures, layer by layer */
    char path[1200];
    ck_assert_int_eq(g_m.base_path(g_m.ctx, ad, path, sizeof path, &err), LSC_OK);
    ck_assert_msg(strstr(path, "/base.safetensors") && path[0] == '/', "%s", path);
    ck_assert_int_eq(g_m.base_path(g_m.ctx, "llama-tiny-bf16", path, sizeof path, &err), LSC_OK);
    ck_assert_str_eq(path, "");
    lsc_tui_state_opts so = {.adapter = ad};
    ck_assert_int_eq(lsc_tui_state_new(&g_m, &so, 24, 100, &st, &err), LSC_OK);
    ck_assert_int_eq(lsc_tui_state_view(st), LSC_VIEW_LAYERS);
    lsc_tui_state_key(st, 'b');
    check_vsbase_figures(st, ls);
    lsc_tui_state_free(st);
    /* on the worker thread, as the workbench runs it: the job reads through its own connection while the
     * UI's model keeps answering (another adapter's layers, the history); the figures land on `ad` */
    ck_assert_int_eq(lsc_tui_state_new(&g_m, &so, 24, 100, &st, &err), LSC_OK);
    st->async = 1;
    lsc_tui_state_key(st, 'b');
    ck_assert(!lsc_tui_state_busy(st));
    lsc_tui_state_key(st, 'j');
    lsc_tui_state_request(st, LSC_REQ_BACK);
    lsc_tui_select_adapter(st, "llama-tiny-bf16");
    lsc_tui_state_request(st, LSC_REQ_ENTER);
    ck_assert_str_eq(st->layers.adapter, "llama-tiny-bf16");
    lsc_tui_state_request(st, LSC_REQ_HISTORY);
    ck_assert_int_eq(lsc_tui_state_view(st), LSC_VIEW_HISTORY);
    for (int i = 0; i < 60000 && lsc_tui_state_working(st); i++) {
        usleep(1000);
        lsc_tui_state_poll(st);
    }
    ck_assert_msg(!lsc_tui_state_working(st), "the figures job did not end");
    ck_assert_msg(st->msg_level == LSC_MSG_INFO && strstr(st->msg, ad), "%s", st->msg);
    lsc_tui_state_request(st, LSC_REQ_BACK);
    lsc_tui_state_request(st, LSC_REQ_BACK);
    lsc_tui_select_adapter(st, ad);
    lsc_tui_state_request(st, LSC_REQ_ENTER);
    check_vsbase_figures(st, ls);
    lsc_tui_state_free(st);
    json_decref(j);
    cli_result_free(&r);
    free(rows);
}
END_TEST

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

/* Issue #15 finding 12: the diff view's whole-adapter figures (from the rows the model gives the TUI)
 * are the summary `diff --json` reports. */
START_TEST(test_diff_summary_matches_cli)
{
    static const char *const pairs[][2] = {{"llama-tiny-f32", "llama-tiny-bf16"},
                                           {"llama-tiny-f32", "llama-tiny-rslora"},
                                           {"llama-tiny-f32", "llama-tiny-adalora"}};
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        lsc_tui_diff d = {0};
        lsc_error err = {0};
        ck_assert_msg(g_m.diff(g_m.ctx, pairs[i][0], pairs[i][1], &d, &err) == LSC_OK, "%s", err.msg);
        double cosine, rel;
        lsc_tui_diff_totals(&d, &cosine, &rel);
        cli_result r = cli_run(g_cat, "diff", pairs[i][0], pairs[i][1], "--json", NULL);
        json_t *j = cli_json(&r);
        json_t *sum = json_object_get(j, "summary");
        ck_assert_ptr_nonnull(sum);
        ck_assert_int_eq((int)json_integer_value(json_object_get(sum, "compared")), (int)d.n_rows);
        /* summed from the per-layer figures, not from the deltas: agreement to rounding */
        double wc = json_number_value(json_object_get(sum, "cosine")), wr = json_number_value(json_object_get(sum, "rel_diff"));
        ck_assert_msg(fabs(cosine - wc) <= 1e-9 * fmax(1, fabs(wc)), "%s: cosine %.17g, command %.17g", pairs[i][1], cosine, wc);
        ck_assert_msg(fabs(rel - wr) <= 1e-9 * fmax(1, fabs(wr)), "%s: rel_diff %.17g, command %.17g", pairs[i][1], rel, wr);
        json_decref(j);
        cli_result_free(&r);
        lsc_tui_diff_release(&d);
    }
}
END_TEST

/* Issue #15 finding 12: the catalog rows carry the factors' dtypes (the catalog's tensors table), shown in
 * the catalog's dtype column: the f32 sample stores F32, the bf16 one BF16. */
START_TEST(test_catalog_dtypes)
{
    lsc_tui_adapter *a = NULL;
    size_t n = 0;
    lsc_error err = {0};
    ck_assert_int_eq(g_m.list_adapters(g_m.ctx, &a, &n, &err), LSC_OK);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(a[i].name, "llama-tiny-f32") == 0) {
            ck_assert_str_eq(a[i].dtype, "F32");
            seen++;
        } else if (strcmp(a[i].name, "llama-tiny-bf16") == 0) {
            ck_assert_str_eq(a[i].dtype, "BF16");
            seen++;
        }
        ck_assert_msg(a[i].dtype[0] != '\0' || strcmp(a[i].kind, "multi-task") == 0, "'%s' has no dtype",
                      a[i].name); /* a multi-task group holds no tensors itself */
    }
    ck_assert_int_eq(seen, 2);
    free(a);
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
        ck_assert_str_eq(rows[i].name, json_string_value(json_object_get(l, "key")));
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

/* ---- the kind panel's figures and the retrain panel against the CLI ---------------------------------- */

static void import_sample(const char *name)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/s/%s", g_dir, name);
    cli_result r = cli_run(g_cat, "import", p, NULL);
    ck_assert_msg(r.code == 0, "import %s: %s", name, r.err);
    cli_result_free(&r);
}

static double jd(json_t *j) { return json_is_number(j) ? json_number_value(j) : NAN; }

/* The same computation in this process and in the CLI's: equal up to the last bits (OpenBLAS may pick other
 * kernels in another process, e.g. under valgrind). */
static void same(double a, double b, const char *what, const char *adapter)
{
    ck_assert_msg((isnan(a) && isnan(b)) || fabs(a - b) <= 1e-12 * fmax(1, fabs(b)),
                  "%s of '%s': panel %.17g, show --json %.17g", what, adapter, a, b);
}

static void check_kind_figures(const char *adapter)
{
    lsc_tui_kind_figures k;
    lsc_error err = {0};
    ck_assert_msg(g_m.kind_figures(g_m.ctx, adapter, &k, &err) == LSC_OK, "%s: %s", adapter, err.msg);
    cli_result r = cli_run(g_cat, "show", adapter, "--json", NULL);
    json_t *all = cli_json(&r);
    int group = strcmp(k.kind, "multi-task") == 0;
    json_t *o = group ? all : json_object_get(all, "kind_figures");
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(k.kind, json_string_value(json_object_get(all, "kind")));
    json_t *layers = json_object_get(o, "layers");
    ck_assert_uint_eq(k.n_layers, json_array_size(layers));
    for (size_t i = 0; i < k.n_layers; i++) {
        json_t *l = json_array_get(layers, i);
        const lsc_tui_kind_layer *L = &k.layers[i];
        ck_assert_str_eq(L->name, json_string_value(json_object_get(l, "name")));
        if (strcmp(k.kind, "dynamic") == 0) {
            json_t *pe = json_object_get(l, "prefix_err"), *be = json_object_get(l, "best_err");
            ck_assert_int_eq(L->rank, (int)json_array_size(pe));
            for (int b = 0; b < L->rank; b++) {
                same(k.prefix_err[L->off + (size_t)b], jd(json_array_get(pe, (size_t)b)), "prefix error", adapter);
                same(k.best_err[L->off + (size_t)b], jd(json_array_get(be, (size_t)b)), "best error", adapter);
            }
        } else if (strcmp(k.kind, "adaptive") == 0) {
            ck_assert_int_eq(L->kept, json_integer_value(json_object_get(l, "kept")));
            same(L->lambda_min, jd(json_object_get(l, "lambda_min")), "lambda_min", adapter);
            same(L->lambda_max, jd(json_object_get(l, "lambda_max")), "lambda_max", adapter);
        } else if (strcmp(k.kind, "sparse") == 0) {
            ck_assert_int_eq(L->rank, json_integer_value(json_object_get(l, "rank")));
            ck_assert_int_eq(L->kept, json_integer_value(json_object_get(l, "live_gates")));
            same(L->zeros_a, jd(json_object_get(l, "zeros_a")), "zeros_a", adapter);
            same(L->zeros_b, jd(json_object_get(l, "zeros_b")), "zeros_b", adapter);
        } else if (group) {
            ck_assert_int_eq(L->shared_a, json_is_true(json_object_get(l, "shared_a")));
            ck_assert_int_eq(L->shared_dim, json_integer_value(json_object_get(l, "shared_dim")));
            for (int a = 0; a < k.n_tasks; a++)
                for (int b = 0; b < k.n_tasks; b++)
                    same(k.cosine[L->off + (size_t)(a * k.n_tasks + b)],
                         jd(json_array_get(json_array_get(json_object_get(l, "cosine"), (size_t)a), (size_t)b)), "cosine", adapter);
        }
    }
    if (strcmp(k.kind, "dynamic") == 0) {
        ck_assert_int_eq(k.n_b, (int)json_array_size(json_object_get(o, "mean_prefix_err")));
        for (int b = 0; b < k.n_b; b++) {
            same(k.mean_prefix_err[b], jd(json_array_get(json_object_get(o, "mean_prefix_err"), (size_t)b)), "mean prefix", adapter);
            same(k.mean_best_err[b], jd(json_array_get(json_object_get(o, "mean_best_err"), (size_t)b)), "mean best", adapter);
        }
        /* the widest gap the panel names is the one `show` prints */
        size_t wl;
        int wb;
        double gap;
        lsc_tui_kind_widest_gap(&k, &wl, &wb, &gap);
        ck_assert_uint_lt(wl, k.n_layers);
        cli_result t = cli_run(g_cat, "show", adapter, NULL);
        ck_assert_int_eq(t.code, 0);
        char want[600];
        const char *nm = k.layers[wl].name;
        snprintf(want, sizeof want, "widest gap: %s (%.3g)", strncmp(nm, "base_model.model.", 17) == 0 ? nm + 17 : nm, gap);
        ck_assert_msg(strstr(t.out, want) != NULL, "'%s' not in:\n%s", want, t.out);
        cli_result_free(&t);
    } else if (strcmp(k.kind, "adaptive") == 0) {
        ck_assert_int_eq(k.init_r, json_integer_value(json_object_get(o, "init_r")));
        ck_assert_int_eq(k.target_r, json_integer_value(json_object_get(o, "target_r")));
        ck_assert_int_eq(k.budget, json_integer_value(json_object_get(o, "budget")));
        ck_assert_int_eq(k.target_budget, json_integer_value(json_object_get(o, "target_budget")));
    } else if (strcmp(k.kind, "sparse") == 0) {
        ck_assert_int_eq(k.live_gates, json_integer_value(json_object_get(o, "live_gates")));
        ck_assert_int_eq(k.rank_total, json_integer_value(json_object_get(o, "rank_total")));
        json_t *h = json_object_get(o, "magnitude_histogram"), *c = json_object_get(h, "counts");
        ck_assert_int_eq(k.hist_lo_exp, json_integer_value(json_object_get(h, "lo_exp")));
        ck_assert_uint_eq(k.n_hist, json_array_size(c));
        for (size_t i = 0; i < k.n_hist; i++)
            ck_assert_int_eq(k.hist[i], json_integer_value(json_array_get(c, i)));
    } else if (strcmp(k.kind, "layer-wise") == 0) {
        json_t *m = json_object_get(o, "modules"), *rg = json_object_get(o, "rank_grid"), *eg = json_object_get(o, "energy_share_grid");
        ck_assert_int_eq(k.n_modules, (int)json_array_size(m));
        ck_assert_int_eq(k.n_blocks, (int)json_array_size(rg));
        for (int c = 0; c < k.n_modules; c++)
            ck_assert_str_eq(k.modules[c], json_string_value(json_array_get(m, (size_t)c)));
        for (int b = 0; b < k.n_blocks; b++)
            for (int c = 0; c < k.n_modules; c++) {
                ck_assert_int_eq(k.rank_grid[b * k.n_modules + c], json_integer_value(json_array_get(json_array_get(rg, (size_t)b), (size_t)c)));
                same(k.share_grid[b * k.n_modules + c], jd(json_array_get(json_array_get(eg, (size_t)b), (size_t)c)), "share", adapter);
            }
    } else if (group) {
        json_t *tasks = json_object_get(o, "tasks");
        ck_assert_int_eq(k.n_tasks, (int)json_array_size(tasks));
        for (int a = 0; a < k.n_tasks; a++) {
            json_t *t = json_array_get(tasks, (size_t)a);
            ck_assert_str_eq(k.tasks[a].task, json_string_value(json_object_get(t, "task")));
            ck_assert_str_eq(k.tasks[a].adapter, json_string_value(json_object_get(t, "adapter")));
            ck_assert_int_eq(k.tasks[a].params, json_integer_value(json_object_get(t, "params")));
            same(k.task_norms[a], jd(json_array_get(json_object_get(o, "task_norms"), (size_t)a)), "norm", adapter);
            for (int b = 0; b < k.n_tasks; b++)
                same(k.task_cosine[a * k.n_tasks + b],
                     jd(json_array_get(json_array_get(json_object_get(o, "task_cosine"), (size_t)a), (size_t)b)), "task cosine", adapter);
        }
        ck_assert_int_eq(k.shared_a_layers, json_integer_value(json_object_get(o, "shared_a_layers")));
        ck_assert_int_eq(k.shared_dim_min, json_integer_value(json_object_get(o, "shared_dim_min")));
    } else {
        ck_assert_uint_eq(json_object_size(o), 0); /* static: nothing particular */
    }
    json_decref(all);
    cli_result_free(&r);
    lsc_tui_kind_release(&k);
}

START_TEST(test_kind_figures_match_cli)
{
    import_sample("sd-tiny-dylora.safetensors");
    import_sample("llama-tiny-patterns");
    import_sample("llama-tiny-sora");
    static const char *const names[] = {"sd-tiny-dylora", "llama-tiny-adalora", "llama-tiny-sora", "llama-tiny-patterns",
                                        "llama-tiny-f32", "tasks"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        check_kind_figures(names[i]);
    lsc_tui_kind_figures k;
    lsc_error err = {0};
    ck_assert_int_eq(g_m.kind_figures(g_m.ctx, "nope", &k, &err), LSC_ERR_NOTFOUND);
    /* through the state: Enter on the multi-task adapter opens its task table, K its figures */
    lsc_tui_state *st = NULL;
    ck_assert_int_eq(lsc_tui_state_new(&g_m, NULL, 24, 80, &st, &err), LSC_OK);
    lsc_tui_list *cl = &st->lists[LSC_VIEW_CATALOG];
    for (size_t i = 0; i < cl->n; i++)
        if (strcmp(st->catalog.rows[cl->order[i]].name, "tasks") == 0)
            cl->cursor = i;
    lsc_tui_state_request(st, LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(st), LSC_VIEW_TASKS);
    ck_assert_uint_eq(st->tasks.n, 2);
    ck_assert_str_eq(st->tasks.rows[0].adapter, "tasks-summarize");
    lsc_tui_state_request(st, LSC_REQ_KIND);
    ck_assert_int_eq(lsc_tui_state_view(st), LSC_VIEW_KIND);
    ck_assert(st->kind.ok);
    ck_assert_int_eq(st->kind.kf.n_tasks, 2);
    lsc_tui_state_free(st);
}
END_TEST

static void content_hash(const char *name, char *buf, size_t cap)
{
    cli_result r = cli_run(g_cat, "ls", "--json", NULL);
    json_t *j = cli_json(&r);
    buf[0] = '\0';
    json_t *arr = json_is_array(j) ? j : json_object_get(j, "adapters");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *a = json_array_get(arr, i);
        if (strcmp(json_string_value(json_object_get(a, "name")), name) == 0)
            snprintf(buf, cap, "%s", json_string_value(json_object_get(a, "content_hash")));
    }
    json_decref(j);
    cli_result_free(&r);
    ck_assert_msg(buf[0], "no content hash for '%s'", name);
}

static unsigned skeys(lsc_tui_state *st, const char *s)
{
    unsigned ch = 0;
    for (const char *p = s; *p; p++)
        ch |= lsc_tui_state_key(st, *p == '\n' ? LSC_KEY_ENTER : (unsigned char)*p);
    return ch;
}

START_TEST(test_retrain_panel_matches_cli)
{
    lsc_error err = {0};
    lsc_tui_state *st = NULL;
    lsc_tui_state_opts so = {.adapter = "llama-tiny-f32"};
    ck_assert_int_eq(lsc_tui_state_new(&g_m, &so, 24, 80, &st, &err), LSC_OK);
    ck_assert_int_eq(lsc_tui_state_view(st), LSC_VIEW_LAYERS);
    skeys(st, "R");
    ck_assert_int_eq(lsc_tui_state_view(st), LSC_VIEW_RETRAIN);
    ck_assert_int_eq(st->retrain.field, LSC_RT_TARGET); /* nothing tagged */
    skeys(st, "e");
    lsc_tui_state_key(st, LSC_KEY_CTRL('u'));
    skeys(st, "llama-tiny-rslora\n");
    ck_assert_str_eq(st->retrain.target, "llama-tiny-rslora");
    st->retrain.field = LSC_RT_STEPS;
    skeys(st, "e");
    lsc_tui_state_key(st, LSC_KEY_CTRL('u'));
    skeys(st, "30\n");
    st->retrain.field = LSC_RT_SEED;
    skeys(st, "e");
    lsc_tui_state_key(st, LSC_KEY_CTRL('u'));
    skeys(st, "3\n");
    skeys(st, "\n");
    lsc_tui_state_key(st, LSC_KEY_CTRL('u'));
    skeys(st, "rt-panel\ny"); /* runs in this thread (no async) */
    ck_assert_msg(st->msg_level == LSC_MSG_INFO, "%s", st->msg);
    ck_assert_ptr_nonnull(strstr(st->msg, "created rt-panel: 28 layer(s), 30 step(s)"));
    /* the workbench read retrain's progress lines: a report per step here, with the optimum */
    ck_assert_uint_eq(st->retrain.n_pts, 30);
    for (size_t i = 0; i < st->retrain.n_pts; i++) {
        ck_assert_int_eq(st->retrain.pts[i].step, (long)i + 1);
        ck_assert_int_eq(st->retrain.pts[i].steps, 30);
        ck_assert(isfinite(st->retrain.pts[i].loss) && isfinite(st->retrain.pts[i].optimum));
        ck_assert(st->retrain.pts[i].loss >= st->retrain.pts[i].optimum * (1 - 1e-6));
    }
    lsc_tui_state_free(st);
    cli_result r = cli_run(g_cat, "retrain", "llama-tiny-f32", "--target", "llama-tiny-rslora", "--kind", "static",
                           "--steps", "30", "--lr", "0.01", "--init", "self", "--seed", "3", "--as", "rt-cli", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    char h1[128], h2[128];
    content_hash("rt-panel", h1, sizeof h1);
    content_hash("rt-cli", h2, sizeof h2);
    ck_assert_str_eq(h1, h2);
    /* paused and cancelled before the first step: it stops at once (never hangs) and keeps NEW */
    volatile int cancel = 1, pause = 1;
    lsc_tui_progress prog = {.cancel = &cancel, .pause = &pause};
    char *out = NULL, *msg = NULL;
    char *a[] = {"retrain", "llama-tiny-f32", "--target", "llama-tiny-rslora", "--steps", "50", "--as", "rt-stop", NULL};
    ck_assert_int_eq(g_m.run(g_m.ctx, 8, a, 0, &prog, &out, &msg), 1);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, "interrupted at step 1: the best state") != NULL, "%s", msg);
    ck_assert_ptr_nonnull(strstr(msg, "is kept as 'rt-stop'"));
    /* the summary of what it committed is shown although the command reports the interruption */
    ck_assert_msg(out && strstr(out, "rt-stop: ") && strstr(out, " step(s), loss "), "%s", out ? out : "(null)");
    free(out);
    free(msg);
    content_hash("rt-stop", h1, sizeof h1);
}
END_TEST

/* Mounts made from here on live in a private mount namespace: they vanish with the process, even when a
 * failed assertion ends it before its umount. 0 on success. */
static int private_mounts(void)
{
    return unshare(CLONE_NEWNS) == 0 && mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 ? 0 : -1;
}

START_TEST(test_read_only_catalog)
{
    char mnt[1100], cat[1200];
    snprintf(mnt, sizeof mnt, "%s/mnt", g_dir);
    ck_assert_int_eq(mkdir(mnt, 0755), 0);
    if (private_mounts() != 0 || mount("lsc-test", mnt, "tmpfs", 0, "size=32m") != 0) {
        printf("tui-real: SKIPPED the read-only catalog case: cannot mount a tmpfs here (%s)\n", strerror(errno));
        return;
    }
    snprintf(cat, sizeof cat, "%s/c.db", mnt);
    ck_assert_int_eq(cli_copy(g_cat, cat), 0);
    if (mount("lsc-test", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL) != 0) {
        printf("tui-real: SKIPPED the read-only catalog case: cannot remount read-only (%s)\n", strerror(errno));
        umount2(mnt, MNT_DETACH);
        return;
    }
    lsc_tui_model m;
    lsc_error err = {0};
    ck_assert_msg(lsc_workbench_model_init(&m, cat, 0, &err) == LSC_OK, "%s", err.msg);
    ck_assert(lsc_workbench_is_readonly(&m));
    lsc_tui_adapter *a = NULL;
    size_t na = 0;
    ck_assert_int_eq(m.list_adapters(m.ctx, &a, &na, &err), LSC_OK);
    ck_assert_uint_eq(na, 9);
    free(a);
    char *out = NULL, *msg = NULL;
    char *ls[] = {"ls", NULL};
    ck_assert_int_eq(m.run(m.ctx, 1, ls, 0, NULL, &out, &msg), 0);
    ck_assert_msg(strstr(out, "llama-tiny-f32") != NULL, "%s", out);
    free(out);
    free(msg);
    char *ren[] = {"rename", "llama-tiny-f32", "x", NULL};
    ck_assert_int_eq(m.run(m.ctx, 3, ren, 0, NULL, &out, &msg), 1);
    ck_assert_msg(msg && strstr(msg, "read-only"), "%s", msg ? msg : "(null)");
    free(out);
    free(msg);
    lsc_tui_model_release(&m);
    ck_assert_int_eq(umount2(mnt, MNT_DETACH), 0);
}
END_TEST

/* The workbench's diff pairs layers as the diff command does: a GGUF export of a PEFT adapter, imported
 * again, matches every layer of the original with cosine 1 (issue #15, item 6: two "only in" lists). */
START_TEST(test_diff_across_formats)
{
    char g[1200];
    snprintf(g, sizeof g, "%s/rt.gguf", g_dir);
    cli_result r = cli_run(g_cat, "export", "llama-tiny-f32", g, "--format", "gguf", "--no-permute", NULL);
    ck_assert_msg(r.code == 0, "export: %s", r.err);
    cli_result_free(&r);
    r = cli_run(g_cat, "import", g, "--name", "rt-gguf", NULL);
    ck_assert_msg(r.code == 0, "import: %s", r.err);
    cli_result_free(&r);
    lsc_tui_diff d;
    lsc_error err = {0};
    ck_assert_int_eq(g_m.diff(g_m.ctx, "llama-tiny-f32", "rt-gguf", &d, &err), LSC_OK);
    ck_assert_uint_eq(d.n_rows, 28);
    ck_assert_uint_eq(d.n_only_a, 0);
    ck_assert_uint_eq(d.n_only_b, 0);
    for (size_t i = 0; i < d.n_rows; i++)
        ck_assert_msg(fabs(d.rows[i].cosine - 1.0) < 1e-9, "%s: cosine %g", d.rows[i].name, d.rows[i].cosine);
    lsc_tui_diff_release(&d);
}
END_TEST

/* The workbench's layer table lists layers in natural order: layers.0, 1, 2, ..., 10, 11 (issue #15,
 * item 3: it listed them as stored, layers.1, layers.10, layers.11, layers.2 ...). */
START_TEST(test_layers_natural_order)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/twelve", g_dir);
    ck_assert_int_eq(cli_write_peft_blocks(dir, 12), 0);
    cli_result r = cli_run(g_cat, "import", dir, "--name", "twelve", NULL);
    ck_assert_msg(r.code == 0, "import: %s", r.err);
    cli_result_free(&r);
    lsc_tui_layer *ls = NULL;
    size_t n = 0;
    lsc_error err = {0};
    ck_assert_int_eq(g_m.layers(g_m.ctx, "twelve", &ls, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 12);
    for (size_t i = 0; i < n; i++) {
        char want[128];
        snprintf(want, sizeof want, "base_model.model.model.layers.%zu.self_attn.q_proj", i);
        ck_assert_str_eq(ls[i].name, want);
        ck_assert_int_eq(ls[i].layer_index, (int)i);
    }
    free(ls);
}
END_TEST

/* A series (issue 16): the model's figures are `series --json`'s, and the catalog lists the series with its
 * final checkpoint's layers. The run folder's checkpoints are copies of two samples already imported, so
 * the series points at those adapters (content stored once). */
START_TEST(test_series_matches_cli)
{
    char run[1200], cmd[4000];
    snprintf(run, sizeof run, "%s/run", g_dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp -r '%s/s/llama-tiny-f32' '%s/checkpoint-10' && "
             "cp -r '%s/s/llama-tiny-bf16' '%s/checkpoint-20'", run, g_dir, run, g_dir, run);
    ck_assert_int_eq(system(cmd), 0);
    cli_result r = cli_run(g_cat, "import", run, NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    r = cli_run(g_cat, "series", "run", "--json", NULL);
    json_t *j = cli_json(&r);
    cli_result_free(&r);
    lsc_tui_series s;
    lsc_error err = {0};
    ck_assert_int_eq(g_m.series(g_m.ctx, "run", &s, &err), LSC_OK);
    json_t *layers = json_object_get(j, "layers");
    ck_assert_uint_eq(s.n_steps, 2);
    ck_assert_int_eq(s.steps[1].step, 20);
    ck_assert_str_eq(s.steps[0].adapter, "llama-tiny-f32");
    ck_assert_uint_eq(s.n_layers, json_array_size(layers));
    static const char *const keys[LSC_TUI_SERIES_FIG_COUNT] = {"norm", "sigma1", "effective_rank", "k90", "sim_prev",
                                                               "sim_final"};
    for (size_t i = 0; i < s.n_layers; i++) {
        json_t *l = json_array_get(layers, i);
        ck_assert_str_eq(s.layers[i].name, json_string_value(json_object_get(l, "key")));
        for (int f = 0; f < LSC_TUI_SERIES_FIG_COUNT; f++)
            for (size_t k = 0; k < 2; k++) {
                json_t *v = json_array_get(json_object_get(l, keys[f]), k);
                double got = s.fig[f][i * 2 + k];
                if (json_is_null(v))
                    ck_assert(isnan(got));
                else
                    close_to(got, json_number_value(v), keys[f], s.layers[i].name);
            }
    }
    lsc_tui_series_release(&s);
    json_decref(j);
    /* listed with the final checkpoint's layers; a plain adapter is not a series */
    lsc_tui_adapter *a = NULL;
    size_t n = 0;
    ck_assert_int_eq(g_m.list_adapters(g_m.ctx, &a, &n, &err), LSC_OK);
    int seen = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i].name, "run") == 0) {
            seen = 1;
            ck_assert_str_eq(a[i].kind, "series");
            ck_assert_int_gt(a[i].n_layers, 0);
        }
    ck_assert(seen);
    free(a);
    ck_assert_int_eq(g_m.series(g_m.ctx, "llama-tiny-f32", &s, &err), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a series"));
    /* through the state: Enter on the series opens its chart at the final checkpoint; h steps back;
     * Enter there opens that checkpoint's own layer table */
    lsc_tui_state *st = NULL;
    ck_assert_int_eq(lsc_tui_state_new(&g_m, NULL, 24, 80, &st, &err), LSC_OK);
    lsc_tui_list *cl = &st->lists[LSC_VIEW_CATALOG];
    for (size_t i = 0; i < cl->n; i++)
        if (strcmp(st->catalog.rows[cl->order[i]].name, "run") == 0)
            cl->cursor = i;
    lsc_tui_state_request(st, LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(st), LSC_VIEW_SERIES);
    ck_assert_uint_eq(st->series.step, 1);
    lsc_tui_state_request(st, LSC_REQ_LEFT);
    lsc_tui_state_request(st, LSC_REQ_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(st), LSC_VIEW_LAYERS);
    ck_assert_str_eq(st->layers.adapter, "llama-tiny-f32");
    lsc_tui_state_free(st);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tui-real");
    TCase *tc = tcase_create("workbench");
    tcase_set_timeout(tc, 240);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_prune_preview_matches_cli);
    tcase_add_test(tc, test_base_rel_matches_cli);
    tcase_add_test(tc, test_prune_preview_refusals);
    tcase_add_test(tc, test_diff_summary_matches_cli);
    tcase_add_test(tc, test_catalog_dtypes);
    tcase_add_test(tc, test_merge_preview_matches_cli);
    tcase_add_test(tc, test_merge_preview_refusals);
    tcase_add_test(tc, test_run_progress_and_cancel);
    tcase_add_test(tc, test_kind_figures_match_cli);
    tcase_add_test(tc, test_retrain_panel_matches_cli);
    tcase_add_test(tc, test_read_only_catalog);
    tcase_add_test(tc, test_diff_across_formats);
    tcase_add_test(tc, test_layers_natural_order);
    tcase_add_test(tc, test_series_matches_cli);
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
