/* check-series.c: training runs imported as series (issue 16), end to end through the real binary.
 *
 * Generates the runs here: an HF Trainer output folder (checkpoint-N sub-folders, each a PEFT adapter
 * with trainer_state.json), kohya per-epoch files, and PEFT's own multi-adapter folder, which must stay a
 * multi-task group. Checks that `series` gives exactly the figures `show` gives each checkpoint, that its
 * subspace similarities equal a dense float64 computation (SVD of the dense delta, made here from the
 * same float32 values the files hold), that malformed runs are refused with one line and leave the
 * catalog unchanged, that undo removes a whole series import, and that a catalog of the previous schema
 * opens (and is migrated). */
#include <check.h>
#include <jansson.h>
#include <lapacke.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog.h"
#include "cli_util.h"
#include "test_rng.h"

static char *g_tmp;

#define ROWS 12
#define COLS 10
#define RANK 3
#define ALPHA 6.0
#define NMOD 2
static const char *const g_mods[NMOD] = {"q_proj", "v_proj"};

/* The float32 factors of one checkpoint: B [ROWS, RANK] and A [RANK, COLS] per module; a checkpoint
 * drifts from the previous one by a small random step, as training does. */
typedef struct ckpt {
    float b[NMOD][ROWS * RANK], a[NMOD][RANK * COLS];
} ckpt;

static void make_run(ckpt *c, int n, uint64_t seed)
{
    rng_state = seed;
    for (int k = 0; k < n; k++)
        for (int m = 0; m < NMOD; m++) {
            for (int i = 0; i < ROWS * RANK; i++)
                c[k].b[m][i] = (float)(k ? c[k - 1].b[m][i] + 0.3 * gauss() : gauss());
            for (int i = 0; i < RANK * COLS; i++)
                c[k].a[m][i] = (float)(k ? c[k - 1].a[m][i] + 0.3 * gauss() : gauss());
        }
}

/* A PEFT folder holding c (rows/cols of module 1 widened by `wide` to make a shape mismatch; `drop` leaves
 * module 1 out), with trainer_state.json {"global_step": step} unless step < 0. */
static void write_peft(const char *dir, const ckpt *c, int step, int wide, int drop)
{
    mkdir(dir, 0755);
    char header[4096];
    static float data[NMOD * (ROWS + 1) * (RANK + COLS + 1) * 2];
    size_t len = 1, off = 0, nf = 0;
    strcpy(header, "{");
    for (int m = 0; m < NMOD - drop; m++) {
        int rows = ROWS + (m == 1 ? wide : 0);
        /* A before B: the file's key order */
        len += (size_t)snprintf(header + len, sizeof header - len,
                                "%s\"base_model.model.model.layers.0.self_attn.%s.lora_A.weight\": {\"dtype\": \"F32\", "
                                "\"shape\": [%d, %d], \"data_offsets\": [%zu, %zu]}",
                                m ? ", " : "", g_mods[m], RANK, COLS, off, off + 4u * RANK * COLS);
        memcpy(data + nf, c->a[m], sizeof c->a[m]);
        nf += RANK * COLS;
        off += 4u * RANK * COLS;
        len += (size_t)snprintf(header + len, sizeof header - len,
                                ", \"base_model.model.model.layers.0.self_attn.%s.lora_B.weight\": {\"dtype\": \"F32\", "
                                "\"shape\": [%d, %d], \"data_offsets\": [%zu, %zu]}",
                                g_mods[m], rows, RANK, off, off + 4u * (size_t)rows * RANK);
        for (int i = 0; i < rows * RANK; i++)
            data[nf + (size_t)i] = i < ROWS * RANK ? c->b[m][i] : 0.25f;
        nf += (size_t)rows * RANK;
        off += 4u * (size_t)rows * RANK;
    }
    strcat(header, "}");
    char p[4600];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    ck_assert_int_eq(cli_write_st(p, header, data, nf * sizeof *data), 0);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"peft_type\": \"LORA\", \"r\": %d, \"lora_alpha\": %g, \"base_model_name_or_path\": \"tiny\","
             " \"target_modules\": [\"q_proj\", \"v_proj\"]}", RANK, ALPHA);
    ck_assert_int_eq(cli_write(p, cfg, strlen(cfg)), 0);
    if (step >= 0) {
        snprintf(p, sizeof p, "%s/trainer_state.json", dir);
        snprintf(cfg, sizeof cfg, "{\"global_step\": %d, \"epoch\": 1.0, \"log_history\": []}", step);
        ck_assert_int_eq(cli_write(p, cfg, strlen(cfg)), 0);
    }
}

/* A kohya .safetensors of c (the ss_epoch metadata when epoch > 0). */
static void write_kohya(const char *path, const ckpt *c, int epoch)
{
    char header[4096];
    static float data[NMOD * (2 * RANK * (ROWS + COLS)) + 8];
    size_t len = 1, off = 0, nf = 0;
    strcpy(header, "{");
    if (epoch > 0)
        len += (size_t)snprintf(header + len, sizeof header - len, "\"__metadata__\": {\"ss_epoch\": \"%d\"}, ", epoch);
    for (int m = 0; m < NMOD; m++) {
        char mod[64];
        snprintf(mod, sizeof mod, "lora_te_text_model_encoder_layers_0_self_attn_%s", g_mods[m]);
        len += (size_t)snprintf(header + len, sizeof header - len,
                                "%s\"%s.alpha\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [%zu, %zu]}, "
                                "\"%s.lora_down.weight\": {\"dtype\": \"F32\", \"shape\": [%d, %d], \"data_offsets\": [%zu, %zu]}, "
                                "\"%s.lora_up.weight\": {\"dtype\": \"F32\", \"shape\": [%d, %d], \"data_offsets\": [%zu, %zu]}",
                                m ? ", " : "", mod, off, off + 4, mod, RANK, COLS, off + 4, off + 4 + 4u * RANK * COLS, mod,
                                ROWS, RANK, off + 4 + 4u * RANK * COLS, off + 4 + 4u * RANK * COLS + 4u * ROWS * RANK);
        data[nf++] = (float)ALPHA;
        memcpy(data + nf, c->a[m], sizeof c->a[m]);
        nf += RANK * COLS;
        memcpy(data + nf, c->b[m], sizeof c->b[m]);
        nf += ROWS * RANK;
        off += 4 + 4u * RANK * COLS + 4u * ROWS * RANK;
    }
    strcat(header, "}");
    ck_assert_int_eq(cli_write_st(path, header, data, nf * sizeof *data), 0);
}

static json_t *run_json(const char *cat, const char *a1, const char *a2)
{
    cli_result r = a2 ? cli_run(cat, a1, a2, "--json", NULL) : cli_run(cat, a1, "--json", NULL);
    ck_assert_msg(r.code == 0, "%s %s failed: %s", a1, a2, r.err);
    json_t *v = json_loads(r.out, 0, NULL);
    ck_assert_msg(v != NULL, "bad JSON from %s %s: %s", a1, a2, r.out);
    cli_result_free(&r);
    return v;
}

static void fresh(char *cat, size_t cap, char *dir, size_t dcap, const char *tag)
{
    snprintf(cat, cap, "%s/%s.db", g_tmp, tag);
    snprintf(dir, dcap, "%s/%s", g_tmp, tag);
    remove(cat);
    mkdir(dir, 0755);
}

/* Write checkpoint c as a PEFT folder DIR/NAME (step as for write_peft, no wide or dropped tensors); its
 * path goes into sub[cap]. */
static void write_peft_at(char *sub, size_t cap, const char *dir, const char *name, const ckpt *c, int step)
{
    snprintf(sub, cap, "%s/%s", dir, name);
    write_peft(sub, c, step, 0, 0);
}

/* `import PATH [--name NAME]` must exit 0; with `want`, its output must be exactly `want`. */
static void import_ok(const char *cat, const char *path, const char *name, const char *want)
{
    cli_result r = name ? cli_run(cat, "import", path, "--name", name, NULL) : cli_run(cat, "import", path, NULL);
    ck_assert_msg(r.code == 0, "import %s: exit %d: %s", path, r.code, r.err);
    if (want)
        ck_assert_str_eq(r.out, want);
    cli_result_free(&r);
}

/* The HF Trainer folder of the main test: 5 checkpoints, steps 50 100 150 200 1000 (1000 sorts before 150
 * as a string), the step of checkpoint-150 from its folder name only (no trainer_state.json). */
static const int g_steps[5] = {50, 100, 150, 200, 1000};

static void write_trainer_run(const char *dir, const ckpt *c)
{
    for (int k = 4; k >= 0; k--) {
        char sub[4300];
        snprintf(sub, sizeof sub, "%s/checkpoint-%d", dir, g_steps[k]);
        write_peft(sub, &c[k], g_steps[k] == 150 ? -1 : g_steps[k], 0, 0);
    }
}

/* Dense float64 delta s B A of module m of checkpoint c [ROWS * COLS]. */
static void dense_delta(const ckpt *c, int m, double *d)
{
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < COLS; j++) {
            double s = 0;
            for (int k = 0; k < RANK; k++)
                s += (double)c->b[m][i * RANK + k] * (double)c->a[m][k * COLS + j];
            d[i * COLS + j] = s * ALPHA / RANK;
        }
}

/* The input-side singular vectors carrying the delta (sigma > 1e-10 sigma_1): VT rows [k, COLS]. */
static int right_vectors(const double *d, double *vt)
{
    double copy[ROWS * COLS], s[COLS], u[ROWS * COLS], full[COLS * COLS];
    memcpy(copy, d, sizeof copy);
    ck_assert_int_eq(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', ROWS, COLS, copy, COLS, s, u, COLS, full, COLS), 0);
    int k = 0;
    while (k < COLS && s[k] > 1e-10 * s[0])
        k++;
    memcpy(vt, full, sizeof(double) * (size_t)k * COLS);
    return k;
}

/* phi = ||V1^T V2||_F^2 / min(k1, k2) of two dense deltas. */
static double dense_phi(const double *d1, const double *d2)
{
    double v1[COLS * COLS], v2[COLS * COLS];
    int k1 = right_vectors(d1, v1), k2 = right_vectors(d2, v2);
    double f = 0;
    for (int i = 0; i < k1; i++)
        for (int j = 0; j < k2; j++) {
            double dot = 0;
            for (int t = 0; t < COLS; t++)
                dot += v1[i * COLS + t] * v2[j * COLS + t];
            f += dot * dot;
        }
    return f / (k1 < k2 ? k1 : k2);
}

static void assert_close(double got, double want, double tol, const char *what)
{
    ck_assert_msg(fabs(got - want) <= tol * fmax(1.0, fabs(want)), "%s: got %.17g, want %.17g", what, got, want);
}

/* The layer object of `series --json` whose key ends in `.MOD.lora_A.weight`'s module. */
static json_t *series_layer(json_t *s, const char *mod)
{
    json_t *layers = json_object_get(s, "layers");
    for (size_t i = 0; i < json_array_size(layers); i++) {
        json_t *l = json_array_get(layers, i);
        const char *key = json_string_value(json_object_get(l, "key"));
        if (!key)
            key = json_string_value(json_object_get(l, "name"));
        if (key && strstr(key, mod))
            return l;
    }
    ck_abort_msg("no layer %s in series output", mod);
    return NULL;
}

START_TEST(test_trainer_run_is_one_series)
{
    char cat[4200], dir[4200];
    fresh(cat, sizeof cat, dir, sizeof dir, "trainer");
    ckpt c[5];
    make_run(c, 5, 0x5e51e5);
    write_trainer_run(dir, c);
    import_ok(cat, dir, "run", "run@50\nrun@100\nrun@150\nrun@200\nrun@1000\nrun\n");

    /* ls: one series over five ordinary adapters (no multi-task group) */
    json_t *ls = run_json(cat, "ls", NULL);
    ck_assert_int_eq(json_array_size(ls), 6);
    int series = 0;
    for (size_t i = 0; i < json_array_size(ls); i++) {
        json_t *a = json_array_get(ls, i);
        const char *kind = json_string_value(json_object_get(a, "kind"));
        ck_assert_str_ne(kind, "multi-task");
        if (strcmp(kind, "series") == 0) {
            series++;
            ck_assert_str_eq(json_string_value(json_object_get(a, "name")), "run");
            ck_assert_int_eq(json_array_size(json_object_get(a, "checkpoints")), 5);
        }
    }
    ck_assert_int_eq(series, 1);
    json_decref(ls);

    json_t *s = run_json(cat, "series", "run");
    json_t *steps = json_object_get(s, "steps");
    ck_assert_int_eq(json_array_size(steps), 5);
    for (int k = 0; k < 5; k++)
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(steps, (size_t)k), "step")), g_steps[k]);
    ck_assert_str_eq(json_string_value(json_object_get(s, "layout")), "trainer");

    for (int m = 0; m < NMOD; m++) {
        json_t *l = series_layer(s, g_mods[m]);
        double dprev[ROWS * COLS], dcur[ROWS * COLS], dfin[ROWS * COLS];
        dense_delta(&c[4], m, dfin);
        for (int k = 0; k < 5; k++) {
            /* the figures `show` gives this checkpoint */
            char member[64];
            snprintf(member, sizeof member, "run@%d", g_steps[k]);
            json_t *sh = run_json(cat, "show", member);
            json_t *sl = NULL, *sls = json_object_get(sh, "layers");
            for (size_t i = 0; i < json_array_size(sls); i++)
                if (strstr(json_string_value(json_object_get(json_array_get(sls, i), "name")), g_mods[m]))
                    sl = json_array_get(sls, i);
            ck_assert_ptr_nonnull(sl);
            ck_assert(json_real_value(json_array_get(json_object_get(l, "norm"), (size_t)k)) ==
                      json_number_value(json_object_get(sl, "norm")));
            ck_assert(json_number_value(json_array_get(json_object_get(l, "sigma1"), (size_t)k)) ==
                      json_number_value(json_object_get(sl, "spectral_norm")));
            ck_assert(json_number_value(json_array_get(json_object_get(l, "effective_rank"), (size_t)k)) ==
                      json_number_value(json_object_get(sl, "effective_rank")));
            ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(l, "k90"), (size_t)k)),
                             json_integer_value(json_object_get(sl, "energy_rank_90")));
            json_decref(sh);
            /* subspace similarity against dense float64 */
            dense_delta(&c[k], m, dcur);
            json_t *sp = json_array_get(json_object_get(l, "sim_prev"), (size_t)k);
            if (k == 0)
                ck_assert(json_is_null(sp));
            else
                assert_close(json_number_value(sp), dense_phi(dcur, dprev), 1e-9, "sim_prev");
            assert_close(json_number_value(json_array_get(json_object_get(l, "sim_final"), (size_t)k)),
                         dense_phi(dcur, dfin), 1e-9, "sim_final");
            memcpy(dprev, dcur, sizeof dcur);
        }
        /* the similarity is a real signal here: checkpoints drift, the final is 1 with itself */
        assert_close(json_number_value(json_array_get(json_object_get(l, "sim_final"), 4)), 1.0, 1e-12, "final");
        ck_assert(json_number_value(json_array_get(json_object_get(l, "sim_final"), 0)) < 0.999);
    }
    json_decref(s);

    /* the same bytes whatever the number of threads comparing the checkpoints */
    setenv("LSC_THREADS", "1", 1);
    cli_result one = cli_run(cat, "series", "run", "--json", NULL);
    setenv("LSC_THREADS", "3", 1);
    cli_result three = cli_run(cat, "series", "run", "--json", NULL);
    unsetenv("LSC_THREADS");
    ck_assert_int_eq(one.code, 0);
    ck_assert_str_eq(one.out, three.out);
    cli_result_free(&one);
    cli_result_free(&three);

    /* the text form names every step and both figures */
    cli_result r = cli_run(cat, "series", "run", "--layers", "*v_proj*", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "run@1000"));
    ck_assert_ptr_nonnull(strstr(r.out, "SIM-FINAL"));
    ck_assert_ptr_null(strstr(r.out, "q_proj"));
    cli_result_free(&r);
    /* `series` of an adapter that is not a series, and a glob matching nothing */
    r = cli_run(cat, "series", "run@50", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "not a series"));
    cli_result_free(&r);
    r = cli_run(cat, "series", "run", "--layers", "*nothing*", NULL);
    ck_assert_int_eq(r.code, 1);
    cli_result_free(&r);
    /* the history replays: `log --script` run on a fresh catalog makes the same series and checkpoints */
    assert_log_script_rebuilds(cat);
    /* importing the same run again adds nothing */
    char *before = cli_names_hashes(cat);
    import_ok(cat, dir, "run", NULL);
    cli_assert_unchanged(cat, before);
}
END_TEST

/* A final save in the run folder itself comes last, labelled final, with the root trainer_state's step. */
START_TEST(test_trainer_final_save_last)
{
    char cat[4200], dir[4200];
    fresh(cat, sizeof cat, dir, sizeof dir, "final");
    ckpt c[3];
    make_run(c, 3, 77);
    char sub[4300];
    write_peft_at(sub, sizeof sub, dir, "checkpoint-10", &c[0], 10);
    write_peft_at(sub, sizeof sub, dir, "checkpoint-20", &c[1], 20);
    write_peft(dir, &c[2], 25, 0, 0);
    import_ok(cat, dir, NULL, "final@10\nfinal@20\nfinal@final\nfinal\n");
    json_t *s = run_json(cat, "series", "final");
    json_t *steps = json_object_get(s, "steps");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(steps, 2), "step")), 25);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 2), "label")), "final");
    json_decref(s);
}
END_TEST

/* PEFT's own save_pretrained of several adapters (named sub-folders, no checkpoint-N, no trainer state)
 * stays a multi-task group. */
START_TEST(test_multi_adapter_folder_stays_group)
{
    char cat[4200], dir[4200], sub[4300];
    fresh(cat, sizeof cat, dir, sizeof dir, "tasks");
    ckpt c[2];
    make_run(c, 2, 9);
    write_peft_at(sub, sizeof sub, dir, "summarize", &c[0], -1);
    write_peft_at(sub, sizeof sub, dir, "translate", &c[1], -1);
    import_ok(cat, dir, "mt", "mt-summarize\nmt-translate\nmt\n");
    json_t *ls = run_json(cat, "ls", NULL);
    for (size_t i = 0; i < json_array_size(ls); i++) {
        json_t *a = json_array_get(ls, i);
        if (strcmp(json_string_value(json_object_get(a, "name")), "mt") == 0)
            ck_assert_str_eq(json_string_value(json_object_get(a, "kind")), "multi-task");
        else
            ck_assert_str_ne(json_string_value(json_object_get(a, "kind")), "series");
    }
    json_decref(ls);
}
END_TEST

/* import --recursive takes a folder of kohya per-epoch files in as the series a single import of the
 * folder makes (it took each epoch file as an unrelated adapter), below the root and at the root. */
START_TEST(test_recursive_kohya_run)
{
    char cat[4200], dir[4200], p[4700], run[4400];
    fresh(cat, sizeof cat, dir, sizeof dir, "rec-kohya");
    ckpt c[3];
    make_run(c, 3, 4321);
    snprintf(run, sizeof run, "%s/runs", dir);
    mkdir(run, 0755);
    snprintf(run, sizeof run, "%s/runs/style", dir);
    mkdir(run, 0755);
    for (int e = 1; e <= 2; e++) {
        snprintf(p, sizeof p, "%s/mystyle-%06d.safetensors", run, e);
        write_kohya(p, &c[e - 1], e);
    }
    snprintf(p, sizeof p, "%s/mystyle.safetensors", run);
    write_kohya(p, &c[2], 3);
    cli_result r = cli_run(cat, "import", "--recursive", dir, NULL);
    ck_assert_msg(r.code == 0, "import --recursive: %s", r.err);
    ck_assert_str_eq(r.out, "runs/style@1\nruns/style@2\nruns/style@final\nruns/style\n");
    cli_result_free(&r);
    json_t *s = run_json(cat, "series", "runs/style");
    ck_assert_str_eq(json_string_value(json_object_get(s, "layout")), "kohya");
    ck_assert_uint_eq(json_array_size(json_object_get(s, "steps")), 3);
    json_decref(s);
    /* the run folder itself as the root: the series a single import names */
    char cat2[4300];
    snprintf(cat2, sizeof cat2, "%s/rec-kohya-root.db", g_tmp);
    remove(cat2);
    r = cli_run(cat2, "import", "--recursive", run, NULL);
    ck_assert_msg(r.code == 0, "import --recursive: %s", r.err);
    ck_assert_str_eq(r.out, "style@1\nstyle@2\nstyle@final\nstyle\n");
    cli_result_free(&r);
}
END_TEST

START_TEST(test_kohya_epochs_are_series)
{
    char cat[4200], dir[4200], p[4400];
    fresh(cat, sizeof cat, dir, sizeof dir, "kohya");
    ckpt c[4];
    make_run(c, 4, 1234);
    for (int e = 1; e <= 3; e++) {
        snprintf(p, sizeof p, "%s/mystyle-%06d.safetensors", dir, e);
        write_kohya(p, &c[e - 1], e);
    }
    snprintf(p, sizeof p, "%s/mystyle.safetensors", dir);
    write_kohya(p, &c[3], 5); /* saved every 2 epochs... the final says its own epoch */
    import_ok(cat, dir, "style", "style@1\nstyle@2\nstyle@3\nstyle@final\nstyle\n");
    json_t *s = run_json(cat, "series", "style");
    ck_assert_str_eq(json_string_value(json_object_get(s, "layout")), "kohya");
    json_t *steps = json_object_get(s, "steps");
    int want[4] = {1, 2, 3, 5};
    for (int k = 0; k < 4; k++)
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(steps, (size_t)k), "step")), want[k]);
    /* the figures of the kohya files against dense float64 too */
    json_t *l = series_layer(s, "q_proj");
    double d2[ROWS * COLS], d3[ROWS * COLS], dfin[ROWS * COLS];
    dense_delta(&c[1], 0, d2);
    dense_delta(&c[2], 0, d3);
    dense_delta(&c[3], 0, dfin);
    assert_close(json_number_value(json_array_get(json_object_get(l, "sim_prev"), 2)), dense_phi(d3, d2), 1e-9, "kohya prev");
    assert_close(json_number_value(json_array_get(json_object_get(l, "sim_final"), 1)), dense_phi(d2, dfin), 1e-9, "kohya fin");
    double fro = 0;
    for (int i = 0; i < ROWS * COLS; i++)
        fro += d3[i] * d3[i];
    assert_close(json_number_value(json_array_get(json_object_get(l, "norm"), 2)), sqrt(fro), 1e-9, "kohya norm");
    json_decref(s);
    assert_log_script_rebuilds(cat);
}
END_TEST

/* Malformed runs: exit 1, one line naming what is wrong, catalog unchanged. */
static void expect_refused(const char *cat, const char *dir, const char *needle)
{
    char *before = cli_names_hashes(cat);
    cli_result r = cli_run(cat, "import", dir, "--name", "bad", NULL);
    ck_assert_msg(r.code == 1, "import of %s: exit %d (%s)", dir, r.code, r.out);
    ck_assert_msg(strstr(r.err, needle) != NULL, "error '%s' lacks '%s'", r.err, needle);
    ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "not one line: %s", r.err);
    cli_result_free(&r);
    cli_assert_unchanged(cat, before);
}

START_TEST(test_malformed_runs_refused)
{
    char cat[4200], dir[4200], sub[4400];
    fresh(cat, sizeof cat, dir, sizeof dir, "bad");
    ckpt c[3];
    make_run(c, 3, 55);
    /* something already in the catalog, which must stay as it is */
    ckpt other[1];
    make_run(other, 1, 56);
    write_peft_at(sub, sizeof sub, g_tmp, "keep", &other[0], -1);
    import_ok(cat, sub, NULL, NULL);

    const char *cases[] = {"shape", "missing", "extra", "mixed", "dup", "state"};
    for (int t = 0; t < 6; t++) {
        char run[4300];
        snprintf(run, sizeof run, "%s/%s", dir, cases[t]);
        mkdir(run, 0755);
        write_peft_at(sub, sizeof sub, run, "checkpoint-1", &c[0], t == 4 ? 7 : 1);
        snprintf(sub, sizeof sub, "%s/checkpoint-2", run);
        write_peft(sub, &c[1], t == 4 ? 7 : 2, t == 0 ? 2 : 0, t == 1);
        snprintf(sub, sizeof sub, "%s/checkpoint-3", run);
        write_peft(sub, &c[2], 3, 0, t == 2 ? 1 : 0);
        if (t == 2) { /* the first checkpoint lacks a layer the later ones have */
            snprintf(sub, sizeof sub, "%s/checkpoint-1", run);
            write_peft(sub, &c[0], 1, 0, 1);
        }
        if (t == 3) {
            write_peft_at(sub, sizeof sub, run, "other", &c[0], -1);
        }
        if (t == 5) {
            snprintf(sub, sizeof sub, "%s/checkpoint-2/trainer_state.json", run);
            ck_assert_int_eq(cli_write(sub, "{\"global_step\": 2.5}", 20), 0);
        }
    }
    char run[4300];
    snprintf(run, sizeof run, "%s/shape", dir);
    expect_refused(cat, run, "layers.0.self_attn.v_proj");
    snprintf(run, sizeof run, "%s/missing", dir);
    expect_refused(cat, run, "is missing");
    snprintf(run, sizeof run, "%s/extra", dir);
    expect_refused(cat, run, "is not in");
    snprintf(run, sizeof run, "%s/mixed", dir);
    expect_refused(cat, run, "'other'");
    snprintf(run, sizeof run, "%s/dup", dir);
    expect_refused(cat, run, "both step 7");
    snprintf(run, sizeof run, "%s/state", dir);
    expect_refused(cat, run, "global_step");
    /* kohya per-epoch files of two runs in one folder */
    snprintf(run, sizeof run, "%s/two", dir);
    mkdir(run, 0755);
    snprintf(sub, sizeof sub, "%s/a-000001.safetensors", run);
    write_kohya(sub, &c[0], 0);
    snprintf(sub, sizeof sub, "%s/b-000001.safetensors", run);
    write_kohya(sub, &c[1], 0);
    expect_refused(cat, run, "two runs");
    /* one dated file alone is not a run: the folder is refused as before (no adapter in it) */
    snprintf(run, sizeof run, "%s/one", dir);
    mkdir(run, 0755);
    snprintf(sub, sizeof sub, "%s/lora-2024.safetensors", run);
    write_kohya(sub, &c[0], 0);
    expect_refused(cat, run, "no PEFT adapter in");
}
END_TEST

START_TEST(test_undo_removes_series)
{
    char cat[4200], dir[4200];
    fresh(cat, sizeof cat, dir, sizeof dir, "undo");
    ckpt c[5];
    make_run(c, 5, 31);
    write_trainer_run(dir, c);
    ckpt other[1];
    make_run(other, 1, 32);
    char sub[4400];
    write_peft_at(sub, sizeof sub, g_tmp, "before", &other[0], -1);
    import_ok(cat, sub, NULL, NULL);
    char *empty = cli_names_hashes(cat);
    import_ok(cat, dir, "run", NULL);
    char *full = cli_names_hashes(cat);
    cli_ok(cat, "undo", NULL);
    char *now = cli_names_hashes(cat);
    ck_assert_str_eq(now, empty);
    free(now);
    cli_ok(cat, "redo", NULL);
    now = cli_names_hashes(cat);
    ck_assert_str_eq(now, full);
    free(now);
    /* a member cannot silently leave its series: rm names the series that uses it */
    cli_result r = cli_run(cat, "rm", "run@100", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "(first: 'run')") != NULL, "%s", r.err);
    cli_result_free(&r);
    /* show of a series is its figures by step; export refuses it, naming what to export instead */
    cli_result a = cli_run(cat, "show", "run", "--json", NULL), b = cli_run(cat, "series", "run", "--json", NULL);
    ck_assert_int_eq(a.code, 0);
    ck_assert_str_eq(a.out, b.out);
    cli_result_free(&a);
    cli_result_free(&b);
    char out[4400];
    snprintf(out, sizeof out, "%s/undo-export", g_tmp);
    r = cli_run(cat, "export", "run", out, NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "'run@STEP'") != NULL, "%s", r.err);
    cli_result_free(&r);
    struct stat sb;
    ck_assert_int_ne(stat(out, &sb), 0);
    free(empty);
    free(full);
}
END_TEST

/* A catalog of schema 2 (before series) opens: it is migrated and keeps its adapters. */
START_TEST(test_old_catalog_opens)
{
    char cat[4200], dir[4200], sub[4400];
    fresh(cat, sizeof cat, dir, sizeof dir, "old");
    ckpt c[1];
    make_run(c, 1, 3);
    write_peft_at(sub, sizeof sub, dir, "one", &c[0], -1);
    import_ok(cat, sub, NULL, NULL);
    char *before = cli_names_hashes(cat);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(cat, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "DROP TABLE adapter_series; ALTER TABLE history DROP COLUMN run; DROP TABLE adapter_base; DROP TABLE base_tensors; ALTER TABLE blobs DROP COLUMN pack_off; DROP TABLE pack; DROP TABLE base_change; DROP TABLE base_change_tensors; PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char *after = cli_names_hashes(cat);
    ck_assert_str_eq(before, after);
    ck_assert_int_eq(sqlite3_open(cat, &db), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(s, 0), LSC_CATALOG_VERSION);
    sqlite3_finalize(s);
    sqlite3_close(db);
    free(before);
    free(after);
    /* and takes a series after the upgrade */
    snprintf(sub, sizeof sub, "%s/run", dir);
    mkdir(sub, 0755);
    ckpt c5[5];
    make_run(c5, 5, 4);
    write_trainer_run(sub, c5);
    import_ok(cat, sub, NULL, NULL);
}
END_TEST

/* The class of bug behind a series with no layers of its own: every command that reads layers refuses it
 * with one line naming how its checkpoints are called (convert made an empty adapter of it, merge merged
 * it as an empty adapter, group took it as a task), the catalog unchanged; the commands that take a
 * checkpoint work on it; a script's expect over a glob checks the checkpoints, not the series. */
START_TEST(test_layer_commands_refuse_series)
{
    char cat[4200], dir[4200];
    fresh(cat, sizeof cat, dir, sizeof dir, "refuse");
    ckpt c[5];
    make_run(c, 5, 808);
    write_trainer_run(dir, c);
    import_ok(cat, dir, "run", NULL);
    char *before = cli_names_hashes(cat);
    const char *const cmds[][8] = {
        {"spectrum", "run", NULL},
        {"diff", "run", "run@50", NULL},
        {"diff", "run@50", "run", NULL},
        {"prune", "run", "--rank", "1", NULL},
        {"merge", "run", "run@50", "--method", "cat", NULL},
        {"convert", "run", "--to", "static", NULL},
        {"drop", "run", "--layers", "*q_proj*", NULL},
        {"sparsify", "run", "--density", "0.5", NULL},
        {"group", "g", "run", "run@50", NULL},
        {"retrain", "run@50", "--target", "run", "--steps", "1", "--as", "x"},
        {"export", "run", "/nonexistent-dir-for-lsc/x", NULL},
    };
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
        const char *const *a = cmds[k];
        cli_result r = cli_run(cat, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL);
        ck_assert_msg(r.code == 1, "%s: exit %d (%s)", a[0], r.code, r.out);
        ck_assert_msg(strstr(r.err, "'run' is a series") && strstr(r.err, "'run@STEP'"), "%s: %s", a[0], r.err);
        ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "%s: not one line: %s", a[0], r.err);
        cli_result_free(&r);
        char *after = cli_names_hashes(cat);
        ck_assert_str_eq(before, after);
        free(after);
    }
    /* a checkpoint is an ordinary adapter */
    cli_ok(cat, "prune", "run@1000", "--rank", "1", "--as", "small", NULL);
    /* expect over a glob: the checkpoints have 2 layers, the series none of its own */
    char script[4400];
    snprintf(script, sizeof script, "%s/refuse.lsc", g_tmp);
    const char *text = "expect layers 'run*' == 2\nexpect exists 'run'\n";
    ck_assert_int_eq(cli_write(script, text, strlen(text)), 0);
    cli_ok(cat, "run", script, NULL);
    free(before);
}
END_TEST

int main(void)
{
    g_tmp = cli_tmpdir();
    if (!g_tmp)
        return 1;
    const TTest *const tests[] = {test_trainer_run_is_one_series,
                                  test_trainer_final_save_last,
                                  test_multi_adapter_folder_stays_group,
                                  test_kohya_epochs_are_series, test_recursive_kohya_run,
                                  test_malformed_runs_refused,
                                  test_undo_removes_series,
                                  test_old_catalog_opens,
                                  test_layer_commands_refuse_series,
                                  NULL};
    return cli_run_suite("series", tests, 0, g_tmp);
}
