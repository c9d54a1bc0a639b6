/* check-import.c: `import PATH...` and `import --recursive DIR` end to end, and whole-adapter statistics
 * over the thread pool.
 *
 * Runs the real binary (LSC_BIN) on adapters written here (a one-layer PEFT folder per seed, so every
 * one has its own content) and on the generated samples. Checks the names a walk gives, that a bad file
 * in the middle is reported in one line and skipped (and with --strict fails with the catalog file
 * byte-identical), JSON lines, the progress line only on a terminal, one history entry that `undo` takes
 * back whole (past the 256 outputs a command records by itself), and that statistics computed with 1 and
 * 2 threads are the same bytes. */
#include <check.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_util.h"
#include "catalog.h"
#include "command.h"
#include "sink.h"

static char *g_tmp;
static char g_samples[4200];

static void fresh_catalog(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "%s/%s.db", g_tmp, tag);
    remove(buf);
}

/* A PEFT folder `dir` (created) with one q_proj layer, r = 1: A [1, 2] = data[0..1], B [2, 1] = data[2..3],
 * lora_alpha given as JSON number text. */
static void write_q_proj(const char *dir, const float data[4], const char *alpha)
{
    ck_assert_int_eq(mkdir(dir, 0755) == 0 || access(dir, F_OK) == 0, 1);
    const char *header = "{\"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\": "
                         "{\"dtype\": \"F32\", \"shape\": [1, 2], \"data_offsets\": [0, 8]}, "
                         "\"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight\": "
                         "{\"dtype\": \"F32\", \"shape\": [2, 1], \"data_offsets\": [8, 16]}}";
    char p[4600], cfg[256];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    ck_assert_int_eq(cli_write_st(p, header, data, 4 * sizeof *data), 0);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    snprintf(cfg, sizeof cfg,
             "{\"peft_type\": \"LORA\", \"r\": 1, \"lora_alpha\": %s, \"base_model_name_or_path\": \"x\","
             " \"target_modules\": [\"q_proj\"]}",
             alpha);
    ck_assert_int_eq(cli_write(p, cfg, strlen(cfg)), 0);
}

/* A PEFT folder `dir` with one q_proj layer, r = 1, whose values depend on `seed` (distinct content). */
static void write_small(const char *dir, int seed)
{
    float data[4] = {1.0f + (float)seed, 0.5f, 0.25f, -2.0f - (float)seed};
    write_q_proj(dir, data, "1");
}

static void mkdirs(const char *path)
{
    char buf[4600];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

/* Path g_tmp/REL into p[cap], its folders made, holding write_small(p, seed). */
static void small_at(char *p, size_t cap, const char *rel, int seed)
{
    snprintf(p, cap, "%s/%s", g_tmp, rel);
    mkdirs(p);
    write_small(p, seed);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The visible names, sorted, one a line (from `ls --json`). */
static char *names_of(const char *cat)
{
    cli_result r = cli_run(cat, "ls", "--json", NULL);
    ck_assert_msg(r.code == 0, "ls: %s", r.err);
    json_error_t je;
    json_t *v = json_loads(r.out, 0, &je);
    ck_assert_ptr_nonnull(v);
    size_t n = json_array_size(v), len = 1;
    char **names = calloc(n + 1, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        names[i] = strdup(json_string_value(json_object_get(json_array_get(v, i), "name")));
        len += strlen(names[i]) + 1;
    }
    qsort(names, n, sizeof *names, cmp_str);
    char *out = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        strcat(out, names[i]);
        strcat(out, "\n");
        free(names[i]);
    }
    free(names);
    json_decref(v);
    cli_result_free(&r);
    return out;
}

/* Several paths: each imported under its default name, in the order given; one history entry; one undo
 * takes all of them back. */
START_TEST(test_import_several_paths)
{
    char cat[4300], a[4400], b[4400], c[4400];
    fresh_catalog(cat, sizeof cat, "several");
    small_at(a, sizeof a, "several/alpha", 1);
    small_at(b, sizeof b, "several/beta", 2);
    small_at(c, sizeof c, "several/gamma", 3);
    cli_result r = cli_run(cat, "import", c, a, b, NULL);
    ck_assert_msg(r.code == 0, "import: %s", r.err);
    ck_assert_str_eq(r.out, "gamma\nalpha\nbeta\n");
    ck_assert_str_eq(r.err, "");
    cli_result_free(&r);
    char *names = names_of(cat);
    ck_assert_str_eq(names, "alpha\nbeta\ngamma\n");
    free(names);
    r = cli_run(cat, "log", "--json", NULL);
    json_t *log = json_loads(r.out, 0, NULL);
    ck_assert_uint_eq(json_array_size(log), 1);
    json_decref(log);
    cli_result_free(&r);
    cli_ok(cat, "undo", NULL);
    names = names_of(cat);
    ck_assert_str_eq(names, "");
    free(names);
    /* --name names one adapter: refused with several */
    r = cli_run(cat, "import", a, b, "--name", "x", NULL);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--name"));
    cli_result_free(&r);
}
END_TEST

/* --recursive: every adapter below DIR named by its relative path; characters a name may not hold become
 * '_', a file loses its extension, hidden folders are skipped, a folder of task sub-folders is a
 * multi-task adapter (the detection a single import uses), other folders are walked into, and files
 * that are neither .safetensors nor .gguf are not looked at. */
START_TEST(test_recursive_naming)
{
    char cat[4300], root[4400], p[4600], src[4600];
    fresh_catalog(cat, sizeof cat, "recursive");
    snprintf(root, sizeof root, "%s/tree", g_tmp);
    snprintf(p, sizeof p, "%s/-lead", root);
    mkdirs(p);
    write_small(p, 12);
    snprintf(p, sizeof p, "%s/.cache/hidden", root);
    mkdirs(p);
    write_small(p, 13);
    snprintf(p, sizeof p, "%s/org/files", root);
    mkdirs(p);
    snprintf(src, sizeof src, "%s/llama-tiny-attn.gguf", g_samples);
    snprintf(p, sizeof p, "%s/org/files/attn.gguf", root);
    ck_assert_int_eq(cli_copy(src, p), 0);
    snprintf(src, sizeof src, "%s/sd-tiny-dylora.safetensors", g_samples);
    snprintf(p, sizeof p, "%s/org/files/dy*lo,ra.safetensors", root);
    ck_assert_int_eq(cli_copy(src, p), 0);
    snprintf(p, sizeof p, "%s/org/files/notes.txt", root);
    ck_assert_int_eq(cli_write(p, "x", 1), 0);
    snprintf(p, sizeof p, "%s/tasks/t1", root);
    mkdirs(p);
    write_small(p, 14);
    snprintf(p, sizeof p, "%s/tasks/t2", root);
    mkdirs(p);
    write_small(p, 15);
    cli_result r = cli_run(cat, "import", "--recursive", root, NULL);
    ck_assert_msg(r.code == 0, "import --recursive: %s", r.err);
    /* the walk is in sorted order: "-lead" < "org" < "tasks", "attn.gguf" < "dy*lo,ra.safetensors" */
    ck_assert_str_eq(r.out, "_lead\norg/files/attn\norg/files/dy_lo_ra\ntasks-t1\ntasks-t2\ntasks\n");
    ck_assert_str_eq(r.err, "");
    cli_result_free(&r);
    char *names = names_of(cat);
    ck_assert_str_eq(names, "_lead\norg/files/attn\norg/files/dy_lo_ra\ntasks\ntasks-t1\ntasks-t2\n");
    free(names);
    /* the same tree again: every adapter is there already, nothing changes, nothing is recorded */
    r = cli_run(cat, "import", "--recursive", root, NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.err, "already in the catalog"));
    cli_result_free(&r);
    r = cli_run(cat, "log", "--json", NULL);
    json_t *log = json_loads(r.out, 0, NULL);
    ck_assert_uint_eq(json_array_size(log), 1);
    json_decref(log);
    cli_result_free(&r);
    /* --recursive takes folders */
    r = cli_run(cat, "import", "--recursive", src, NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "takes folders"));
    cli_result_free(&r);
}
END_TEST

/* A bad file in the middle: one line naming it, the others imported; with --strict exit 1 and the catalog
 * file byte-identical (nothing of the batch imported, even the good adapter before the bad one). */
START_TEST(test_bad_file_skipped_or_strict)
{
    char cat[4300], copy[4400], a[4400], bad[4400], c[4400];
    fresh_catalog(cat, sizeof cat, "bad");
    small_at(a, sizeof a, "bad/one", 20);
    small_at(c, sizeof c, "bad/three", 21);
    snprintf(bad, sizeof bad, "%s/bad/two.safetensors", g_tmp);
    ck_assert_int_eq(cli_write(bad, "not an adapter at all", 21), 0);
    /* a catalog with something in it, so "unchanged" is a real file */
    char d[4400];
    small_at(d, sizeof d, "bad/zero", 22);
    cli_ok(cat, "import", d, NULL);
    snprintf(copy, sizeof copy, "%s.copy", cat);
    ck_assert_int_eq(cli_copy(cat, copy), 0);

    cli_result r = cli_run(cat, "import", a, bad, c, "--strict", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_int_eq(cli_lines(r.err), 1);
    ck_assert_ptr_nonnull(strstr(r.err, bad));
    ck_assert_ptr_nonnull(strstr(r.err, "--strict"));
    ck_assert_str_eq(r.out, "");
    cli_result_free(&r);
    ck_assert_msg(cli_same_file(cat, copy), "--strict: the catalog changed");

    r = cli_run(cat, "import", a, bad, c, NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    ck_assert_str_eq(r.out, "one\nthree\n");
    ck_assert_int_eq(cli_lines(r.err), 2); /* the skipped file, and the summary */
    const char *nl = strchr(r.err, '\n');
    ck_assert_ptr_nonnull(strstr(r.err, bad));
    ck_assert_msg(strstr(r.err, bad) < nl, "the first line names the bad file: %s", r.err);
    ck_assert_ptr_nonnull(strstr(nl, "1 of 3"));
    cli_result_free(&r);
    char *names = names_of(cat);
    ck_assert_str_eq(names, "one\nthree\nzero\n");
    free(names);
}
END_TEST

/* An adapter that fails half-way (its name taken once its tensors were stored) leaves nothing behind: its
 * blobs are rolled back with it; one refused before anything was stored (a scale that overflows) too. */
START_TEST(test_bad_adapter_leaves_no_blobs)
{
    char cat[4300], a[4400], bad[4400];
    fresh_catalog(cat, sizeof cat, "halfway");
    small_at(a, sizeof a, "halfway/good", 30);
    snprintf(bad, sizeof bad, "%s/halfway/overflow", g_tmp);
    /* finite factors whose scale overflows the delta: refused by the statistics, after the bytes were read */
    const float huge[4] = {3e38f, 3e38f, 3e38f, 3e38f};
    write_q_proj(bad, huge, "1e300");
    /* a second adapter named "good" (another folder, other content) fails at the very end, when its
     * name is taken, after its tensors were stored */
    char twin[4400];
    small_at(twin, sizeof twin, "halfway/again/good", 31);
    cli_result r = cli_run(cat, "import", bad, a, twin, NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    ck_assert_str_eq(r.out, "good\n");
    ck_assert_ptr_nonnull(strstr(r.err, "overflow"));
    ck_assert_ptr_nonnull(strstr(r.err, "already exists"));
    cli_result_free(&r);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(cat, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM blobs", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(s, 0), 2); /* the good adapter's A and B only, not its twin's */
    sqlite3_finalize(s);
    sqlite3_close(db);
}
END_TEST

/* --json: one JSON object a line, with path and status (imported, present, skipped). */
START_TEST(test_json_lines)
{
    char cat[4300], a[4400], bad[4400];
    fresh_catalog(cat, sizeof cat, "jsonl");
    small_at(a, sizeof a, "jsonl/first", 40);
    snprintf(bad, sizeof bad, "%s/jsonl/broken.gguf", g_tmp);
    ck_assert_int_eq(cli_write(bad, "GGUFxx", 6), 0);
    cli_result r = cli_run(cat, "import", a, bad, a, "--json", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    ck_assert_int_eq(cli_lines(r.out), 3);
    const char *want[3][3] = {{"first", "imported", NULL}, {"broken", "skipped", "x"}, {"first", "present", NULL}};
    char *save = NULL, *text = strdup(r.out);
    int i = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        ck_assert_msg(o && json_is_object(o), "line %d is not a JSON object: %s", i, line);
        ck_assert_str_eq(json_string_value(json_object_get(o, "name")), want[i][0]);
        ck_assert_str_eq(json_string_value(json_object_get(o, "status")), want[i][1]);
        ck_assert_str_eq(json_string_value(json_object_get(o, "path")), i == 1 ? bad : a);
        ck_assert_int_eq(json_object_get(o, "error") != NULL, want[i][2] != NULL);
        if (i == 0)
            ck_assert_int_eq(json_integer_value(json_object_get(o, "layers")), 1);
        json_decref(o);
    }
    free(text);
    cli_result_free(&r);
}
END_TEST

static int dispatch_mem(const char *cat, char **argv, int tty, char **diag_text)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    lsc_sink o, d;
    lsc_sink_init_mem(&o);
    lsc_sink_init_mem(&d);
    d.is_tty = tty;
    lsc_cmd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.catalog_path = cat;
    ctx.out = &o;
    ctx.diag = &d;
    int rc = lsc_dispatch(&ctx, argc, argv);
    *diag_text = strdup(d.buf ? d.buf : "");
    lsc_sink_release(&o);
    lsc_sink_release(&d);
    return rc;
}

/* The progress line is drawn on a terminal only, never into a pipe or with --json. */
START_TEST(test_progress_only_on_terminal)
{
    char cat[4300], root[4400], p[4600];
    fresh_catalog(cat, sizeof cat, "progress");
    snprintf(root, sizeof root, "%s/progress", g_tmp);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/p%d", root, i);
        mkdirs(p);
        write_small(p, 50 + i);
    }
    char *diag = NULL;
    char *argv_tty[] = {"import", "--recursive", root, NULL};
    ck_assert_int_eq(dispatch_mem(cat, argv_tty, 1, &diag), 0);
    ck_assert_msg(strstr(diag, "\r[") && strstr(diag, "3/3"), "no progress line on a terminal: '%s'", diag);
    free(diag);
    fresh_catalog(cat, sizeof cat, "progress");
    ck_assert_int_eq(dispatch_mem(cat, argv_tty, 0, &diag), 0);
    ck_assert_str_eq(diag, "");
    free(diag);
    fresh_catalog(cat, sizeof cat, "progress");
    char *argv_json[] = {"import", "--recursive", root, "--json", NULL};
    ck_assert_int_eq(dispatch_mem(cat, argv_json, 1, &diag), 0);
    ck_assert_str_eq(diag, "");
    free(diag);
    /* the real binary with stderr captured (a pipe): no control characters at all */
    fresh_catalog(cat, sizeof cat, "progress");
    cli_result r = cli_run(cat, "import", "--recursive", root, NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_str_eq(r.err, "");
    cli_result_free(&r);
}
END_TEST

/* More adapters than a command records by itself (LSC_CMD_MAX_IO): still one history entry naming all of
 * them, and one undo hides every one; redo shows them again. */
START_TEST(test_batch_undo_past_io_limit)
{
    char cat[4300], root[4400], p[4600];
    fresh_catalog(cat, sizeof cat, "many");
    snprintf(root, sizeof root, "%s/many", g_tmp);
    const int n = LSC_CMD_MAX_IO + 44;
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/a%03d", root, i);
        mkdirs(p);
        write_small(p, 100 + i);
    }
    cli_result r = cli_run(cat, "import", "--recursive", root, NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    ck_assert_int_eq(cli_lines(r.out), n);
    cli_result_free(&r);
    char *names = names_of(cat);
    ck_assert_int_eq(cli_lines(names), n);
    free(names);
    cli_ok(cat, "undo", NULL);
    names = names_of(cat);
    ck_assert_str_eq(names, "");
    free(names);
    cli_ok(cat, "redo", NULL);
    names = names_of(cat);
    ck_assert_int_eq(cli_lines(names), n);
    free(names);
}
END_TEST

static char *show_json(const char *cat, const char *name, const char *threads)
{
    setenv("LSC_THREADS", threads, 1);
    cli_result r = cli_run(cat, "show", name, "--json", NULL);
    unsetenv("LSC_THREADS");
    ck_assert_msg(r.code == 0, "show: %s", r.err);
    char *out = strdup(r.out);
    cli_result_free(&r);
    return out;
}

static void drop_stats_cache(const char *cat)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(cat, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "DELETE FROM layer_stats", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Whole-adapter statistics computed over the pool are the same bytes with 1 and 2 threads, and the same
 * as those the import computed; an edit's statistics too (prune stores them over the pool). */
START_TEST(test_stats_same_bytes_any_threads)
{
    char cat[4300], dir[4400], path[4600];
    fresh_catalog(cat, sizeof cat, "threads");
    snprintf(dir, sizeof dir, "%s/threads/blocks40", g_tmp);
    mkdirs(dir);
    ck_assert_int_eq(cli_write_peft_blocks(dir, 40), 0);
    snprintf(path, sizeof path, "%s/llama-tiny-f32", g_samples);
    /* SoRA: the factor view reads a gate tensor besides A and B (loaded under the pool's loader lock) */
    char sora[4600];
    snprintf(sora, sizeof sora, "%s/llama-tiny-sora", g_samples);
    cli_result r = cli_run(cat, "import", dir, path, sora, NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    ck_assert_msg(strcmp(r.out, "blocks40\nllama-tiny-f32\nllama-tiny-sora\n") == 0, "out '%s' err '%s'", r.out, r.err);
    cli_result_free(&r);
    const char *names[] = {"blocks40", "llama-tiny-f32", "llama-tiny-sora"};
    for (int k = 0; k < 3; k++) {
        char *cached = show_json(cat, names[k], "1");
        drop_stats_cache(cat);
        char *one = show_json(cat, names[k], "1"), *two = show_json(cat, names[k], "2");
        ck_assert_msg(strcmp(one, two) == 0, "%s: 1 and 2 threads differ", names[k]);
        ck_assert_msg(strcmp(one, cached) == 0, "%s: the pool's figures differ from the import's", names[k]);
        free(cached);
        free(one);
        free(two);
    }
    /* an edit's statistics, stored over the pool with 2 threads, against 1 thread in another catalog */
    char cat2[4300];
    fresh_catalog(cat2, sizeof cat2, "threads2");
    r = cli_run(cat2, "import", path, NULL);
    cli_result_free(&r);
    const char *cats[] = {cat, cat2}, *threads[] = {"2", "1"};
    char *shown[2];
    for (int c = 0; c < 2; c++) {
        setenv("LSC_THREADS", threads[c], 1);
        r = cli_run(cats[c], "prune", "llama-tiny-f32", "--energy", "0.9", "--as", "e90", NULL);
        unsetenv("LSC_THREADS");
        ck_assert_msg(r.code == 0, "prune: %s", r.err);
        cli_result_free(&r);
        shown[c] = show_json(cats[c], "e90", "1");
    }
    ck_assert_str_eq(shown[0], shown[1]);
    free(shown[0]);
    free(shown[1]);
}
END_TEST

static int64_t pragma(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The catalog's page cache is 64 MiB at the file's page size, counted in pages: given in KiB before the
 * page size was known, SQLite held several times more in one big transaction (a batch import's memory
 * grew with the bytes imported: 286 MB RSS for 290 MB). New (32 KiB pages) and old (4 KiB) catalogs. */
START_TEST(test_page_cache_in_pages)
{
    char cat[4300];
    fresh_catalog(cat, sizeof cat, "cache");
    for (int old = 0; old < 2; old++) {
        remove(cat);
        if (old) { /* a catalog made with 4 KiB pages */
            sqlite3 *db = NULL;
            ck_assert_int_eq(sqlite3_open(cat, &db), SQLITE_OK);
            ck_assert_int_eq(sqlite3_exec(db, "PRAGMA page_size = 4096; CREATE TABLE t(x); DROP TABLE t;", NULL, NULL,
                                          NULL), SQLITE_OK);
            sqlite3_close(db);
        }
        for (int reopen = 0; reopen < 2; reopen++) {
            lsc_catalog *c = NULL;
            lsc_error err = {0};
            ck_assert_msg(lsc_catalog_open(cat, LSC_CATALOG_CREATE, &c, &err) == LSC_OK, "%s", err.msg);
            sqlite3 *db = lsc_catalog_db(c);
            int64_t page = pragma(db, "PRAGMA page_size"), pages = pragma(db, "PRAGMA cache_size");
            ck_assert_int_eq(page, old ? 4096 : 32768);
            ck_assert_int_eq(pages, ((int64_t)64 << 20) / page);
            lsc_catalog_close(c);
        }
    }
}
END_TEST

int main(void)
{
    if (cli_setup_samples(&g_tmp, g_samples, sizeof g_samples) != 0)
        return 1;
    const TTest *const tests[] = {test_import_several_paths,
                                  test_recursive_naming,
                                  test_bad_file_skipped_or_strict,
                                  test_bad_adapter_leaves_no_blobs,
                                  test_json_lines,
                                  test_progress_only_on_terminal,
                                  test_batch_undo_past_io_limit,
                                  test_stats_same_bytes_any_threads,
                                  test_page_cache_in_pages,
                                  NULL};
    return cli_run_suite("import", tests, 0, g_tmp);
}
