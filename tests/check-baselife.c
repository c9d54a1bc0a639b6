/* check-baselife.c: the life of a recorded base (issue #19) through the real binary: undo and redo of
 * `base` (alone and inside a script run), derived adapters inheriting their parents' base (prune, merge;
 * none for a merge of adapters with different bases), and the module identity that maps layers to base
 * tensors (store/modkey.c) for kohya names against a safetensors base, whose figures must equal those of
 * the PEFT-named twin.
 *
 * The base is a small generated safetensors file holding an LLM v_proj, a UNet proj_in and a CLIP text
 * encoder q_proj (each [ROWS, COLS]); the adapters have one layer on each, r = R, scale 1.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "dtype.h"
#include "test_rng.h"

enum { ROWS = 24, COLS = 32, R = 3, NL = 3 };

/* The modules: the base tensor, the PEFT module path, the kohya name. */
static const char *const k_tensor[NL] = {"model.layers.0.self_attn.v_proj.weight",
                                         "down_blocks.0.attentions.0.proj_in.weight",
                                         "text_model.encoder.layers.0.self_attn.q_proj.weight"};
static const char *const k_peft[NL] = {"base_model.model.model.layers.0.self_attn.v_proj",
                                       "base_model.model.down_blocks.0.attentions.0.proj_in",
                                       "base_model.model.text_model.encoder.layers.0.self_attn.q_proj"};
static const char *const k_kohya[NL] = {"lora_te_model_layers_0_self_attn_v_proj",
                                        "lora_unet_down_blocks_0_attentions_0_proj_in",
                                        "lora_te_text_model_encoder_layers_0_self_attn_q_proj"};

static float g_w[NL][ROWS * COLS], g_a[NL][R * COLS], g_b[NL][ROWS * R];
static char *g_dir;

static char *path_of(const char *name)
{
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* A safetensors file of n tensors (names[i], shape [rows[i], cols[i]], dtype dt, data[i] as floats). */
static void write_st(const char *path, int n, const char *const *names, const int *rows, const int *cols,
                     const float *const *data, lsc_dtype dt)
{
    char hdr[8192];
    size_t o = (size_t)snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"format\":\"pt\"}"), off = 0, total = 0;
    size_t es = lsc_dtype_size(dt);
    for (int i = 0; i < n; i++)
        total += (size_t)rows[i] * (size_t)cols[i] * es;
    unsigned char *bytes = malloc(total);
    for (int i = 0; i < n; i++) {
        size_t cnt = (size_t)rows[i] * (size_t)cols[i], nb = cnt * es;
        double *d = malloc(cnt * sizeof *d);
        for (size_t j = 0; j < cnt; j++)
            d[j] = data[i][j];
        ck_assert_int_eq(lsc_dtype_from_double(dt, d, cnt, bytes + off, NULL), LSC_OK);
        free(d);
        o += (size_t)snprintf(hdr + o, sizeof hdr - o, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}",
                              names[i], lsc_dtype_name(dt), rows[i], cols[i], off, off + nb);
        off += nb;
    }
    snprintf(hdr + o, sizeof hdr - o, "}");
    ck_assert_int_eq(cli_write_st(path, hdr, bytes, total), 0);
    free(bytes);
}

static void make_model(void)
{
    rng_state = 4321;
    for (int l = 0; l < NL; l++) {
        for (int i = 0; i < ROWS * COLS; i++)
            g_w[l][i] = (float)gauss();
        for (int i = 0; i < R * COLS; i++)
            g_a[l][i] = (float)(0.3 * gauss());
        for (int i = 0; i < ROWS * R; i++)
            g_b[l][i] = (float)(0.3 * gauss());
    }
}

static void write_base(const char *path, lsc_dtype dt)
{
    int rows[NL] = {ROWS, ROWS, ROWS}, cols[NL] = {COLS, COLS, COLS};
    const float *d[NL] = {g_w[0], g_w[1], g_w[2]};
    write_st(path, NL, k_tensor, rows, cols, d, dt);
}

/* The PEFT adapter folder (lora_alpha = r: scale 1). */
static void write_peft(const char *dir)
{
    char names[2 * NL][256];
    const char *np[2 * NL];
    int rows[2 * NL], cols[2 * NL];
    const float *d[2 * NL];
    for (int l = 0; l < NL; l++) {
        snprintf(names[2 * l], 256, "%s.lora_A.weight", k_peft[l]);
        snprintf(names[2 * l + 1], 256, "%s.lora_B.weight", k_peft[l]);
        rows[2 * l] = R, cols[2 * l] = COLS, d[2 * l] = g_a[l];
        rows[2 * l + 1] = ROWS, cols[2 * l + 1] = R, d[2 * l + 1] = g_b[l];
    }
    for (int i = 0; i < 2 * NL; i++)
        np[i] = names[i];
    mkdir(dir, 0755);
    char p[4200];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    write_st(p, 2 * NL, np, rows, cols, d, LSC_DT_F32);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 3, \"target_modules\": [\"v_proj\", \"proj_in\", "
                      "\"q_proj\"]}";
    ck_assert_int_eq(cli_write(p, cfg, strlen(cfg)), 0);
}

/* The kohya twin: one .safetensors, lora_down [r, in] / lora_up [out, r], no alpha (scale 1). */
static void write_kohya(const char *path)
{
    char names[2 * NL][256];
    const char *np[2 * NL];
    int rows[2 * NL], cols[2 * NL];
    const float *d[2 * NL];
    for (int l = 0; l < NL; l++) {
        snprintf(names[2 * l], 256, "%s.lora_down.weight", k_kohya[l]);
        snprintf(names[2 * l + 1], 256, "%s.lora_up.weight", k_kohya[l]);
        rows[2 * l] = R, cols[2 * l] = COLS, d[2 * l] = g_a[l];
        rows[2 * l + 1] = ROWS, cols[2 * l + 1] = R, d[2 * l + 1] = g_b[l];
    }
    for (int i = 0; i < 2 * NL; i++)
        np[i] = names[i];
    write_st(path, 2 * NL, np, rows, cols, d, LSC_DT_F32);
}

/* A fresh folder with the base (F32 base.safetensors, F16 base16.safetensors) and a catalog holding the
 * PEFT adapter as A. */
static char *setup(void)
{
    g_dir = cli_tmpdir();
    make_model();
    write_base(path_of("base.safetensors"), LSC_DT_F32);
    write_base(path_of("base16.safetensors"), LSC_DT_F16);
    write_peft(path_of("peft"));
    char *cat = strdup(path_of("catalog.db"));
    cli_ok(cat, "import", path_of("peft"), "--name", "A", NULL);
    return cat;
}

static void teardown(char *cat)
{
    cli_rmtree(g_dir);
    free(g_dir);
    free(cat);
}

/* What the catalog records as the base of `name`: "path|layer:tensor:dtype:shape:hash;..." (rows ordered
 * by layer), "none" when nothing is recorded. Read with SQLite directly: the test's own view. */
static char *base_state(const char *cat, const char *name)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(cat, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    const char *sql = "SELECT b.path, t.layer || ':' || t.tensor || ':' || t.dtype || ':' || t.shape || ':' || t.hash "
                      "FROM adapters a JOIN adapter_base b ON b.adapter_id = a.id LEFT JOIN base_tensors t ON "
                      "t.adapter_id = a.id WHERE a.name = ?1 AND a.hidden = 0 ORDER BY t.layer";
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(cap, 1);
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (!len)
            len += (size_t)snprintf(out, cap, "%s|", (const char *)sqlite3_column_text(s, 0));
        const unsigned char *row = sqlite3_column_text(s, 1);
        len += (size_t)snprintf(out + len, cap - len, "%s;", row ? (const char *)row : "");
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    if (!len)
        snprintf(out, cap, "none");
    return out;
}

static void assert_state(const char *cat, const char *name, const char *want)
{
    char *got = base_state(cat, name);
    ck_assert_msg(strcmp(got, want) == 0, "base of %s:\n got  %s\n want %s", name, got, want);
    free(got);
}

/* ---- undo / redo ------------------------------------------------------------------------------------- */

START_TEST(undo_redo_base)
{
    char *cat = setup();
    char *s0 = base_state(cat, "A");
    ck_assert_str_eq(s0, "none");
    cli_ok(cat, "base", "A", path_of("base.safetensors"), NULL);
    char *s1 = base_state(cat, "A");
    cli_ok(cat, "base", "A", path_of("base16.safetensors"), NULL);
    char *s2 = base_state(cat, "A");
    ck_assert_msg(strcmp(s1, s2) != 0 && strstr(s2, "F16") && strstr(s1, "F32"), "%s / %s", s1, s2);
    cli_ok(cat, "base", "A", "--clear", NULL);
    assert_state(cat, "A", "none");
    /* back through every state, then forward again */
    cli_ok(cat, "undo", NULL);
    assert_state(cat, "A", s2);
    cli_ok(cat, "undo", NULL);
    assert_state(cat, "A", s1);
    cli_ok(cat, "undo", NULL);
    assert_state(cat, "A", s0);
    cli_ok(cat, "redo", NULL);
    assert_state(cat, "A", s1);
    cli_ok(cat, "redo", NULL);
    assert_state(cat, "A", s2);
    cli_ok(cat, "redo", NULL);
    assert_state(cat, "A", "none");
    /* the other order: undo a clear first, then a new change drops the redo stack */
    cli_ok(cat, "undo", NULL);
    assert_state(cat, "A", s2);
    cli_ok(cat, "base", "A", path_of("base.safetensors"), NULL);
    assert_state(cat, "A", s1);
    cli_result r = cli_run(cat, "redo", NULL);
    ck_assert_int_eq(r.code, 1);
    cli_result_free(&r);
    cli_ok(cat, "undo", NULL);
    assert_state(cat, "A", s2);
    /* the figures work after an undo put the base back */
    cli_ok(cat, "show", "A", "--base", NULL);
    free(s0), free(s1), free(s2);
    teardown(cat);
}
END_TEST

/* A script run is one change: undo takes back its base line with the others, redo re-applies them. */
START_TEST(undo_redo_base_in_run)
{
    char *cat = setup();
    cli_ok(cat, "base", "A", path_of("base16.safetensors"), NULL);
    char *before = base_state(cat, "A");
    char script[8192];
    snprintf(script, sizeof script, "prune A --rank 2 --as P\nbase A %s\nrename P Q\n", path_of("base.safetensors"));
    ck_assert_int_eq(cli_write(path_of("s.lsc"), script, strlen(script)), 0);
    cli_ok(cat, "run", path_of("s.lsc"), NULL);
    char *after = base_state(cat, "A");
    ck_assert_msg(strcmp(before, after) != 0 && strstr(after, "F32"), "%s", after);
    cli_ok(cat, "undo", NULL);
    assert_state(cat, "A", before);
    cli_result r = cli_run(cat, "show", "Q", NULL);
    ck_assert_int_eq(r.code, 1); /* the whole run went back */
    cli_result_free(&r);
    cli_ok(cat, "redo", NULL);
    assert_state(cat, "A", after);
    cli_ok(cat, "show", "Q", NULL);
    free(before), free(after);
    teardown(cat);
}
END_TEST

/* A `base` recorded by a lorascope before schema 7 kept nothing to restore: undo refuses it in one line,
 * the catalog (upgraded on open) unchanged. */
START_TEST(undo_base_from_older_catalog)
{
    char *cat = setup();
    cli_ok(cat, "base", "A", path_of("base.safetensors"), NULL);
    char *before = base_state(cat, "A");
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(cat, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "DROP TABLE base_change; DROP TABLE base_change_tensors; PRAGMA user_version = 6",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    cli_result r = cli_run(cat, "undo", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "cannot undo 'base'") && strstr(r.err, "older lorascope") && cli_lines(r.err) == 1,
                  "%s", r.err);
    cli_result_free(&r);
    assert_state(cat, "A", before);
    free(before);
    teardown(cat);
}
END_TEST

/* ---- inheritance ------------------------------------------------------------------------------------- */

/* `show NAME --base --json`'s figures per layer name (a JSON object name -> [5 numbers]). */
static json_t *figures(const char *cat, const char *name)
{
    cli_result r = cli_run(cat, "show", name, "--base", "--json", NULL);
    ck_assert_msg(r.code == 0, "show %s --base: %s", name, r.err);
    json_t *root = json_loads(r.out, 0, NULL), *out = json_object();
    ck_assert_ptr_nonnull(root);
    json_t *layers = json_object_get(root, "layers");
    static const char *const keys[] = {"base_norm", "rel_norm", "amplification", "subspace_sim", "intruders"};
    for (size_t i = 0; i < json_array_size(layers); i++) {
        json_t *l = json_array_get(layers, i), *v = json_array();
        for (int k = 0; k < 5; k++) {
            json_t *x = json_object_get(l, keys[k]);
            ck_assert_msg(json_is_number(x), "%s: no %s", name, keys[k]);
            json_array_append_new(v, json_real(json_number_value(x)));
        }
        json_object_set_new(out, json_string_value(json_object_get(l, "key")), v);
    }
    json_decref(root);
    cli_result_free(&r);
    return out;
}

static void assert_same_figures(json_t *a, json_t *b, const char *const *map_a, const char *const *map_b, int n)
{
    ck_assert_int_eq((int)json_object_size(a), n);
    ck_assert_int_eq((int)json_object_size(b), n);
    for (int l = 0; l < n; l++) {
        json_t *x = json_object_get(a, map_a[l]), *y = json_object_get(b, map_b[l]);
        ck_assert_msg(x && y, "layer %s / %s missing", map_a[l], map_b[l]);
        for (size_t k = 0; k < 5; k++) {
            double u = json_number_value(json_array_get(x, k)), v = json_number_value(json_array_get(y, k));
            ck_assert_msg(fabs(u - v) <= 1e-12 * fabs(u), "%s figure %zu: %.17g vs %.17g", map_a[l], k, u, v);
        }
    }
}

START_TEST(prune_inherits_base)
{
    char *cat = setup();
    cli_ok(cat, "base", "A", path_of("base.safetensors"), NULL);
    cli_ok(cat, "prune", "A", "--rank", "2", "--as", "P", NULL);
    char *inherited = base_state(cat, "P");
    ck_assert_msg(strstr(inherited, "base.safetensors|"), "%s", inherited);
    json_t *fi = figures(cat, "P"); /* works without running base on P */
    cli_ok(cat, "base", "P", path_of("base.safetensors"), NULL);
    assert_state(cat, "P", inherited); /* the same rows `base` records */
    json_t *fe = figures(cat, "P");
    assert_same_figures(fi, fe, k_peft, k_peft, NL);
    /* and a prune of the prune; drop keeps the rows of the layers left */
    cli_ok(cat, "prune", "P", "--rank", "1", "--as", "P1", NULL);
    json_decref(figures(cat, "P1"));
    cli_ok(cat, "drop", "A", "--layers", "proj_in", "--as", "D", NULL);
    char *sd = base_state(cat, "D");
    ck_assert_msg(strstr(sd, "v_proj") && strstr(sd, "q_proj") && !strstr(sd, "proj_in"), "%s", sd);
    json_t *fd = figures(cat, "D"), *fa = figures(cat, "A");
    const char *kept[2] = {k_peft[0], k_peft[2]};
    json_object_del(fa, k_peft[1]);
    assert_same_figures(fd, fa, kept, kept, 2);
    json_decref(fd);
    json_decref(fa);
    free(sd);
    json_decref(fi);
    json_decref(fe);
    free(inherited);
    teardown(cat);
}
END_TEST

START_TEST(merge_inherits_shared_base_only)
{
    char *cat = setup();
    cli_ok(cat, "import", path_of("peft"), "--name", "B", NULL);
    cli_ok(cat, "import", path_of("peft"), "--name", "C", NULL);
    cli_ok(cat, "base", "A", path_of("base.safetensors"), NULL);
    cli_ok(cat, "base", "B", path_of("base.safetensors"), NULL);
    cli_ok(cat, "base", "C", path_of("base16.safetensors"), NULL);
    cli_ok(cat, "merge", "A", "B", "--method", "linear", "--as", "AB", NULL);
    char *ab = base_state(cat, "AB");
    ck_assert_msg(strstr(ab, "base.safetensors|"), "%s", ab);
    json_decref(figures(cat, "AB"));
    cli_result r = cli_run(cat, "merge", "A", "C", "--method", "linear", "--as", "AC", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    ck_assert_msg(strstr(r.err, "records no base") && strstr(r.err, "different bases"), "%s", r.err);
    cli_result_free(&r);
    assert_state(cat, "AC", "none");
    r = cli_run(cat, "show", "AC", "--base", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.err, "no base recorded"), "%s", r.err);
    cli_result_free(&r);
    free(ab);
    teardown(cat);
}
END_TEST

/* ---- name mapping ------------------------------------------------------------------------------------ */

/* kohya names (a UNet module, a CLIP text-encoder module, an LLM module) against a safetensors base map
 * to the same tensors as the PEFT twin's, with the same figures. */
START_TEST(kohya_twin_same_figures)
{
    char *cat = setup();
    write_kohya(path_of("kohya.safetensors"));
    cli_ok(cat, "import", path_of("kohya.safetensors"), "--name", "K", NULL);
    cli_ok(cat, "base", "A", path_of("base.safetensors"), NULL);
    cli_ok(cat, "base", "K", path_of("base.safetensors"), NULL);
    char *sk = base_state(cat, "K");
    for (int l = 0; l < NL; l++) {
        char want[512];
        snprintf(want, sizeof want, "%s:%s:", k_kohya[l], k_tensor[l]);
        ck_assert_msg(strstr(sk, want), "%s not in %s", want, sk);
    }
    json_t *fa = figures(cat, "A"), *fk = figures(cat, "K");
    assert_same_figures(fa, fk, k_peft, k_kohya, NL);
    json_decref(fa);
    json_decref(fk);
    free(sk);
    teardown(cat);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("baselife");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, undo_redo_base);
    tcase_add_test(tc, undo_redo_base_in_run);
    tcase_add_test(tc, undo_base_from_older_catalog);
    tcase_add_test(tc, prune_inherits_base);
    tcase_add_test(tc, merge_inherits_shared_base_only);
    tcase_add_test(tc, kohya_twin_same_figures);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
