/* check-export.c: every path lorascope writes that a user named, end to end through the real binary.
 *
 * Issue #13 items 1, 3 and 17: `export` must never replace the catalog (or its -wal/-shm/-journal), a
 * device, a FIFO or a symbolic link itself; must not overwrite an existing PATH without --force; must
 * replace a PEFT folder (and a multi-task folder) so that a reader sees the old pair or the new, never a
 * mix; must leave nothing behind when it fails; and must treat a missing parent folder the same in every
 * format. Import names a folder called adapter_config.json for what it is; a catalog path that is a FIFO
 * or device is refused before SQLite opens it. Every check compares file bytes or folder listings taken
 * here, before and after. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_util.h"

static char *g_tmp;
static char g_samples[4200];

/* A fresh folder under the suite's temporary folder, and a catalog in it with the samples imported
 * (llama-tiny-f32: peft, sd-tiny-dylora: kohya, llama-tiny-attn: gguf, tasks: multi-task). */
static void fresh(char *dir, size_t cap, char *cat, size_t ccap, const char *tag)
{
    ck_assert_ptr_nonnull(g_tmp);
    snprintf(dir, cap, "%s/%s", g_tmp, tag);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(cat, ccap, "%s/catalog.db", dir);
    static const char *const samples[] = {"llama-tiny-f32", "sd-tiny-dylora.safetensors", "llama-tiny-attn.gguf",
                                          "tasks"};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", g_samples, samples[i]);
        cli_result r = cli_run(cat, "import", p, NULL);
        ck_assert_msg(r.code == 0, "import %s: %s", samples[i], r.err);
        cli_result_free(&r);
    }
}

static int run_code(const char *cat, const char *a, const char *b, const char *c, const char *d, const char *e,
                    const char *want_err)
{
    cli_result r = cli_run(cat, a, b, c, d, e, NULL);
    if (want_err)
        ck_assert_msg(strstr(r.err, want_err), "%s %s %s %s: expected '%s' in: %s", a, b, c, d ? d : "", want_err,
                      r.err);
    int code = r.code;
    cli_result_free(&r);
    return code;
}

/* The sorted entry names of a folder, joined by '\n' (hidden ones included), into buf. */
static void listing(const char *dir, char *buf, size_t cap)
{
    char *names[256];
    int n = 0;
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) && n < 256)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            names[n++] = strdup(de->d_name);
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        strncat(buf, names[i], cap - strlen(buf) - 2);
        strcat(buf, "\n");
        free(names[i]);
    }
}

static void path2(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

static int is_kind(const char *p, mode_t kind)
{
    struct stat sb;
    return lstat(p, &sb) == 0 && (sb.st_mode & S_IFMT) == kind;
}

static void write_text(const char *p, const char *s)
{
    ck_assert_int_eq(cli_write(p, s, strlen(s)), 0);
}

/* Item 1: the catalog, its -wal/-shm/-journal/-pack, a hard link and a symbolic link to it, and a folder holding
 * it are refused in every format, with and without --force; the catalog keeps working and keeps its
 * adapters. */
START_TEST(test_export_refuses_catalog)
{
    char dir[4300], cat[4400], p[4500];
    fresh(dir, sizeof dir, cat, sizeof cat, "catalog");
    path2(p, sizeof p, dir, "hard.db");
    ck_assert_int_eq(link(cat, p), 0);
    path2(p, sizeof p, dir, "soft.db");
    ck_assert_int_eq(symlink("catalog.db", p), 0);
    static const char *const targets[] = {"catalog.db", "catalog.db-wal", "catalog.db-shm", "catalog.db-journal",
                                          "catalog.db-pack", "hard.db", "soft.db"};
    static const char *const fmts[][2] = {{"llama-tiny-f32", "gguf"}, {"sd-tiny-dylora", "kohya"},
                                          {"llama-tiny-attn", "gguf"}};
    for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
        path2(p, sizeof p, dir, targets[t]);
        for (size_t f = 0; f < 3; f++) {
            ck_assert_int_eq(run_code(cat, "export", fmts[f][0], p, "--format", fmts[f][1], "that is the catalog"), 1);
            ck_assert_int_eq(run_code(cat, "export", fmts[f][0], p, "--force", "--no-permute", "that is the catalog"),
                             1);
        }
        ck_assert_int_eq(run_code(cat, "export", "llama-tiny-f32", p, "--force", NULL, "that is the catalog"), 1);
    }
    /* a PEFT folder export over the folder that holds the catalog, and the multi-task export too */
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-f32", dir, "--force", NULL, "holds the catalog"), 1);
    ck_assert_int_eq(run_code(cat, "export", "tasks", dir, "--force", NULL, "holds the catalog"), 1);
    ck_assert(is_kind(cat, S_IFREG));
    ck_assert(is_kind(p, S_IFLNK));
    cli_result r = cli_run(cat, "ls", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "llama-tiny-f32"));
    ck_assert_ptr_nonnull(strstr(r.out, "sd-tiny-dylora"));
    cli_result_free(&r);
    r = cli_run(cat, "log", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "import"));
    cli_result_free(&r);
}
END_TEST

/* Item 1: a FIFO and a character device are refused (and stay what they were) in every format, with
 * --force; so is a regular file where a PEFT folder would go. */
START_TEST(test_export_refuses_special_files)
{
    char dir[4300], cat[4400], fifo[4500], dev[4500], file[4500];
    fresh(dir, sizeof dir, cat, sizeof cat, "special");
    path2(fifo, sizeof fifo, dir, "fifo");
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
    path2(dev, sizeof dev, dir, "null");
    int have_dev = mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0; /* root only: a /dev/null twin */
    path2(file, sizeof file, dir, "plain");
    write_text(file, "keep me\n");
    static const char *const fmts[][2] = {{"llama-tiny-f32", "peft"}, {"llama-tiny-f32", "gguf"},
                                          {"sd-tiny-dylora", "kohya"}, {"llama-tiny-attn", "gguf"}};
    for (size_t f = 0; f < 4; f++) {
        for (int k = 0; k < 1 + have_dev; k++) {
            const char *t = k ? dev : fifo;
            cli_result r =
                cli_run(cat, "export", fmts[f][0], t, "--format", fmts[f][1], "--force", "--no-permute", NULL);
            ck_assert_msg(r.code == 1 && strstr(r.err, "not a "), "%s: %s", fmts[f][1], r.err);
            cli_result_free(&r);
        }
        ck_assert(is_kind(fifo, S_IFIFO));
        ck_assert(!have_dev || is_kind(dev, S_IFCHR));
    }
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-f32", file, "--force", NULL, "not a folder"), 1);
    ck_assert_int_eq(run_code(cat, "export", "tasks", file, "--force", NULL, "not a folder"), 1);
    ck_assert(is_kind(file, S_IFREG));
    size_t n;
    unsigned char *b = cli_slurp(file, &n);
    ck_assert(b && n == 8 && memcmp(b, "keep me\n", 8) == 0);
    free(b);
}
END_TEST

/* Item 1: an existing PATH is refused without --force (unchanged) and replaced with it, in every format;
 * the bytes written with --force equal a fresh export's. */
START_TEST(test_export_no_clobber_without_force)
{
    char dir[4300], cat[4400], p[4500], fresh_p[4500], a[4600];
    fresh(dir, sizeof dir, cat, sizeof cat, "clobber");
    static const char *const cases[][3] = {{"llama-tiny-f32", "x.gguf", "gguf"},
                                           {"sd-tiny-dylora", "x.safetensors", "kohya"},
                                           {"llama-tiny-attn", "y.gguf", "gguf"}};
    for (size_t i = 0; i < 3; i++) {
        path2(p, sizeof p, dir, cases[i][1]);
        write_text(p, "precious\n");
        cli_result r = cli_run(cat, "export", cases[i][0], p, "--format", cases[i][2], "--no-permute", NULL);
        ck_assert_int_eq(r.code, 1);
        ck_assert_msg(strstr(r.err, "exists (--force replaces it)"), "%s", r.err);
        cli_result_free(&r);
        size_t n;
        unsigned char *got = cli_slurp(p, &n);
        ck_assert(got && n == 9 && memcmp(got, "precious\n", 9) == 0);
        free(got);
        snprintf(fresh_p, sizeof fresh_p, "%s/fresh-%s", dir, cases[i][1]);
        r = cli_run(cat, "export", cases[i][0], fresh_p, "--format", cases[i][2], "--no-permute", NULL);
        ck_assert_msg(r.code == 0, "%s", r.err);
        cli_result_free(&r);
        r = cli_run(cat, "export", cases[i][0], p, "--format", cases[i][2], "--no-permute", "--force", NULL);
        ck_assert_msg(r.code == 0, "%s", r.err);
        cli_result_free(&r);
        ck_assert(cli_same_file(p, fresh_p));
    }
    /* a PEFT folder and a multi-task folder */
    path2(p, sizeof p, dir, "peft");
    ck_assert_int_eq(mkdir(p, 0755), 0);
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-f32", p, NULL, NULL, "exists (--force"), 1);
    ck_assert_int_eq(run_code(cat, "export", "tasks", p, NULL, NULL, "exists (--force"), 1);
    listing(p, a, sizeof a);
    ck_assert_str_eq(a, "");
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-f32", p, "--force", NULL, NULL), 0);
    path2(fresh_p, sizeof fresh_p, dir, "peft-fresh");
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-f32", fresh_p, NULL, NULL, NULL), 0);
    ck_assert(cli_same_file_in(p, fresh_p, "adapter_model.safetensors"));
    ck_assert(cli_same_file_in(p, fresh_p, "adapter_config.json"));
}
END_TEST

/* Item 1: a symbolic link target is written through (the link stays a link, the file or folder it points
 * to gets the export), for a file format and for a PEFT folder. */
START_TEST(test_export_writes_through_symlinks)
{
    char dir[4300], cat[4400], real[4500], link_p[4500], ref[4500], a[4600], b[4600];
    fresh(dir, sizeof dir, cat, sizeof cat, "symlink");
    path2(real, sizeof real, dir, "real.gguf");
    write_text(real, "old\n");
    path2(link_p, sizeof link_p, dir, "link.gguf");
    ck_assert_int_eq(symlink("real.gguf", link_p), 0);
    path2(ref, sizeof ref, dir, "ref.gguf");
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-attn", ref, NULL, NULL, NULL), 0);
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-attn", link_p, NULL, NULL, "exists"), 1);
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-attn", link_p, "--force", NULL, NULL), 0);
    ck_assert(is_kind(link_p, S_IFLNK));
    ck_assert(is_kind(real, S_IFREG));
    ck_assert(cli_same_file(real, ref));
    /* a PEFT folder behind a link: the link stays, the folder holds the new pair */
    path2(real, sizeof real, dir, "real-peft");
    ck_assert_int_eq(mkdir(real, 0755), 0);
    path2(link_p, sizeof link_p, dir, "link-peft");
    ck_assert_int_eq(symlink("real-peft", link_p), 0);
    path2(ref, sizeof ref, dir, "ref-peft");
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-f32", ref, NULL, NULL, NULL), 0);
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-f32", link_p, "--force", NULL, NULL), 0);
    ck_assert(is_kind(link_p, S_IFLNK));
    ck_assert(is_kind(real, S_IFDIR));
    snprintf(a, sizeof a, "%s/adapter_model.safetensors", real);
    snprintf(b, sizeof b, "%s/adapter_model.safetensors", ref);
    ck_assert(is_kind(a, S_IFREG));
    ck_assert(cli_same_file(a, b));
}
END_TEST

/* Item 17: one rule for every format: the parent folder must exist; the message names it; nothing is
 * created. */
START_TEST(test_export_missing_parent)
{
    char dir[4300], cat[4400], p[4500], want[9000], before[4096], after[4096];
    fresh(dir, sizeof dir, cat, sizeof cat, "parent");
    listing(dir, before, sizeof before);
    static const char *const cases[][2] = {{"llama-tiny-f32", "peft"}, {"llama-tiny-f32", "gguf"},
                                           {"sd-tiny-dylora", "kohya"}, {"tasks", "peft"}};
    snprintf(p, sizeof p, "%s/missing/out", dir);
    snprintf(want, sizeof want, "cannot export to '%s': folder '%s/missing' does not exist", p, dir);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(run_code(cat, "export", cases[i][0], p, "--format", cases[i][1], want), 1);
    listing(dir, after, sizeof after);
    ck_assert_str_eq(before, after);
}
END_TEST

/* A PEFT folder of one layer whose factors overflow f16 (so `export --dtype f16` fails mid-write). */
static void make_huge_peft(const char *dir, float mul)
{
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    char p[4600];
    float v[16];
    for (int i = 0; i < 16; i++)
        v[i] = mul * 1e6f * (float)(i + 1);
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    const char *hdr = "{\"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\":"
                      "{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,32]},"
                      "\"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight\":"
                      "{\"dtype\":\"F32\",\"shape\":[4,2],\"data_offsets\":[32,64]}}";
    ck_assert_int_eq(cli_write_st(p, hdr, v, sizeof v), 0);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    write_text(p, "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\"]}\n");
}

/* Item 3: a failed export leaves nothing behind (no hidden temporaries, no new folder) and an existing
 * target untouched, in every format and for a multi-task folder. */
START_TEST(test_failed_export_leaves_nothing)
{
    char dir[4300], cat[4400], p[4500], before[4096], after[4096], inner[4096];
    fresh(dir, sizeof dir, cat, sizeof cat, "failed");
    path2(p, sizeof p, dir, "huge-src");
    make_huge_peft(p, 1.0f);
    ck_assert_int_eq(run_code(cat, "import", p, "--name", "huge", NULL, NULL), 0);
    path2(p, sizeof p, dir, "huge2-src");
    make_huge_peft(p, 2.0f);
    ck_assert_int_eq(run_code(cat, "import", p, "--name", "huge2", NULL, NULL), 0);
    ck_assert_int_eq(run_code(cat, "group", "both", "huge", "huge2", NULL, NULL), 0);
    listing(dir, before, sizeof before);
    static const char *const fmts[] = {"peft", "gguf", "kohya"};
    for (size_t f = 0; f < 3; f++) {
        path2(p, sizeof p, dir, "out");
        cli_result r = cli_run(cat, "export", "huge", p, "--format", fmts[f], "--dtype", "f16", "--no-permute", NULL);
        ck_assert_msg(r.code == 1, "%s: %s", fmts[f], r.err);
        cli_result_free(&r);
        listing(dir, after, sizeof after);
        ck_assert_str_eq(before, after);
    }
    cli_result r = cli_run(cat, "export", "both", p, "--dtype", "f16", NULL);
    ck_assert_msg(r.code == 1, "%s", r.err);
    cli_result_free(&r);
    listing(dir, after, sizeof after);
    ck_assert_str_eq(before, after);
    /* over an existing PEFT folder: the old pair stays, nothing is added */
    path2(p, sizeof p, dir, "huge-src");
    listing(p, inner, sizeof inner);
    r = cli_run(cat, "export", "huge", p, "--force", "--dtype", "f16", NULL);
    ck_assert_int_eq(r.code, 1);
    cli_result_free(&r);
    listing(p, after, sizeof after);
    ck_assert_str_eq(inner, after);
    listing(dir, after, sizeof after);
    ck_assert_str_eq(before, after);
}
END_TEST

/* Item 3: replacing a PEFT folder: a reader sees the old pair or the new pair, never a mix. The old
 * folder holds a folder named adapter_config.json, so writing the config in place fails after the
 * weights were replaced (the bug); whatever happens, the result must be the old pair or the new one. The
 * folder's other files (a README, a sub-folder) are kept. */
START_TEST(test_peft_folder_replaced_whole)
{
    char dir[4300], cat[4400], out[4500], ref[4500], a[4600], b[4600], old_w[4600];
    fresh(dir, sizeof dir, cat, sizeof cat, "whole");
    path2(out, sizeof out, dir, "out");
    ck_assert_int_eq(run_code(cat, "export", "tasks-summarize", out, NULL, NULL, NULL), 0);
    snprintf(a, sizeof a, "%s/adapter_config.json", out);
    ck_assert_int_eq(unlink(a), 0);
    ck_assert_int_eq(mkdir(a, 0755), 0);
    snprintf(a, sizeof a, "%s/README.md", out);
    write_text(a, "# my notes\n");
    snprintf(a, sizeof a, "%s/checkpoint-1", out);
    ck_assert_int_eq(mkdir(a, 0755), 0);
    snprintf(a, sizeof a, "%s/checkpoint-1/state.txt", out);
    write_text(a, "step 1\n");
    path2(old_w, sizeof old_w, dir, "old-weights");
    snprintf(a, sizeof a, "%s/adapter_model.safetensors", out);
    ck_assert_int_eq(cli_copy(a, old_w), 0);
    path2(ref, sizeof ref, dir, "ref");
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-f32", ref, NULL, NULL, NULL), 0);

    cli_result r = cli_run(cat, "export", "llama-tiny-f32", out, "--force", NULL);
    int code = r.code;
    ck_assert_msg(code == 0 || code == 1, "%s", r.err); /* ran (not a usage error) */
    cli_result_free(&r);
    snprintf(a, sizeof a, "%s/adapter_model.safetensors", out);
    if (code != 0) {
        ck_assert_msg(cli_same_file(a, old_w), "a failed export replaced the weights but not the config");
    } else {
        snprintf(b, sizeof b, "%s/adapter_model.safetensors", ref);
        ck_assert(cli_same_file(a, b));
        snprintf(a, sizeof a, "%s/adapter_config.json", out);
        snprintf(b, sizeof b, "%s/adapter_config.json", ref);
        ck_assert(is_kind(a, S_IFREG));
        ck_assert(cli_same_file(a, b));
        snprintf(a, sizeof a, "%s/README.md", out);
        size_t n;
        unsigned char *t = cli_slurp(a, &n);
        ck_assert(t && n == 11 && memcmp(t, "# my notes\n", 11) == 0);
        free(t);
        snprintf(a, sizeof a, "%s/checkpoint-1/state.txt", out);
        ck_assert(is_kind(a, S_IFREG));
    }
    /* nothing hidden left next to it */
    char after[4096];
    listing(dir, after, sizeof after);
    ck_assert_msg(!strstr(after, "\n.") && after[0] != '.', "left behind: %s", after);
}
END_TEST

/* Item 3: a multi-task folder is replaced whole too: the new tasks, the user's other files kept. */
START_TEST(test_multitask_folder_replaced_whole)
{
    char dir[4300], cat[4400], out[4500], a[4600], b[4600], after[4096];
    fresh(dir, sizeof dir, cat, sizeof cat, "multi");
    path2(out, sizeof out, dir, "out");
    ck_assert_int_eq(run_code(cat, "export", "tasks", out, NULL, NULL, NULL), 0);
    snprintf(a, sizeof a, "%s/summarize/adapter_model.safetensors", out);
    snprintf(b, sizeof b, "%s/translate/adapter_model.safetensors", out);
    ck_assert(is_kind(a, S_IFREG) && is_kind(b, S_IFREG));
    snprintf(a, sizeof a, "%s/NOTES", out);
    write_text(a, "mine\n");
    snprintf(a, sizeof a, "%s/summarize/adapter_model.safetensors", out);
    write_text(a, "stale\n");
    ck_assert_int_eq(run_code(cat, "export", "tasks", out, "--force", NULL, NULL), 0);
    snprintf(a, sizeof a, "%s/summarize/adapter_model.safetensors", out);
    size_t n;
    unsigned char *t = cli_slurp(a, &n);
    ck_assert(t && n > 1000);
    free(t);
    snprintf(a, sizeof a, "%s/NOTES", out);
    ck_assert(is_kind(a, S_IFREG));
    listing(dir, after, sizeof after);
    ck_assert_msg(!strstr(after, "\n.") && after[0] != '.', "left behind: %s", after);
}
END_TEST

/* Item 17: a folder named adapter_config.json is reported as what it is, not as a missing config. */
START_TEST(test_import_config_folder)
{
    char dir[4300], cat[4400], src[4500], a[4600], want[4700];
    fresh(dir, sizeof dir, cat, sizeof cat, "cfgdir");
    path2(src, sizeof src, dir, "src");
    make_huge_peft(src, 1.0f);
    snprintf(a, sizeof a, "%s/adapter_config.json", src);
    ck_assert_int_eq(unlink(a), 0);
    ck_assert_int_eq(mkdir(a, 0755), 0);
    snprintf(want, sizeof want, "'%s' is a folder, not a file", a);
    ck_assert_int_eq(run_code(cat, "import", src, "--name", "cfgdir", NULL, want), 1);
    cli_result r = cli_run(cat, "ls", NULL);
    ck_assert_ptr_null(strstr(r.out, "cfgdir"));
    cli_result_free(&r);
}
END_TEST

/* Item 17: a catalog path that is a FIFO or a device is refused before SQLite opens it: no -journal,
 * -wal or -shm appears beside it. */
START_TEST(test_catalog_not_regular_file)
{
    char dir[4300], p[4500], want[4600], before[4096], after[4096];
    snprintf(dir, sizeof dir, "%s/catfifo", g_tmp);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    path2(p, sizeof p, dir, "fifo.db");
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    char dev[4500];
    path2(dev, sizeof dev, dir, "null.db");
    int have_dev = mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0;
    listing(dir, before, sizeof before);
    static const char *const cmds[] = {"ls", "import"};
    for (int k = 0; k < 2; k++) {
        const char *target = k ? dev : p;
        if (k && !have_dev)
            break;
        snprintf(want, sizeof want, "catalog '%s' is not a regular file", target);
        for (int c = 0; c < 2; c++) {
            char src[4400];
            snprintf(src, sizeof src, "%s/llama-tiny-f32", g_samples);
            ck_assert_int_eq(run_code(target, cmds[c], c ? src : NULL, NULL, NULL, NULL, want), 1);
        }
    }
    listing(dir, after, sizeof after);
    ck_assert_str_eq(before, after);
    ck_assert(is_kind(p, S_IFIFO));
}
END_TEST

/* ---- strays of killed writes (store/fileio.c) ------------------------------------------------------- */

/* The PID of a process that has just exited and been reaped (checked gone: kill gives ESRCH). */
static long dead_pid(void)
{
    for (int tries = 0; tries < 100; tries++) {
        pid_t c = fork();
        ck_assert_int_ge(c, 0);
        if (c == 0)
            _exit(0);
        ck_assert_int_eq(waitpid(c, NULL, 0), c);
        if (kill(c, 0) != 0 && errno == ESRCH)
            return (long)c;
    }
    ck_abort_msg("no dead PID found");
    return -1;
}

static void plant_file(const char *dir, const char *name)
{
    char p[5400];
    path2(p, sizeof p, dir, name);
    write_text(p, "left by a killed writer\n");
}

/* A writer killed with SIGKILL leaves ".BASE.tmp-PID-XXXXXX" beside its target; the next export to the
 * same target removes exactly those whose writer is gone: the PID names no process and the writer's lock
 * is free. Kept: a live PID's (the test's own: a concurrent writer), one whose lock is held (a writer this
 * PID check cannot see, in another PID namespace), another target's, old-style names without a PID,
 * near-misses of the pattern, a symbolic link (and what it points to), and for a folder target a file of
 * the pattern; a stray folder goes with everything in it, without following a link out of it; a folder
 * moved aside (".old-") is never touched. */
START_TEST(test_export_sweeps_dead_strays)
{
    char dir[4300], cat[4400], p[4600], q[4700], before[4096], after[4096];
    fresh(dir, sizeof dir, cat, sizeof cat, "strays");
    long dead = dead_pid(), me = (long)getpid();
    char n_dead[256], n_live[256], n_locked[256], n_other[256], n_link[256];
    snprintf(n_dead, sizeof n_dead, ".out.safetensors.tmp-%ld-Ab1Cd2", dead);
    snprintf(n_live, sizeof n_live, ".out.safetensors.tmp-%ld-Ab1Cd3", me);
    snprintf(n_locked, sizeof n_locked, ".out.safetensors.tmp-%ld-Zz9Yy8", dead);
    snprintf(n_other, sizeof n_other, ".other.safetensors.tmp-%ld-Ab1Cd4", dead);
    snprintf(n_link, sizeof n_link, ".out.safetensors.tmp-%ld-Qq1Ww2", dead);
    plant_file(dir, n_dead);
    plant_file(dir, n_live);
    plant_file(dir, n_locked);
    plant_file(dir, n_other);
    plant_file(dir, ".out.safetensors.tmp-Ab1Cd5"); /* old style: an older binary may be writing it */
    char miss[4][256];
    snprintf(miss[0], 256, ".out.safetensors.tmp-%ld-Ab1Cd", dead);    /* five letters */
    snprintf(miss[1], 256, ".out.safetensors.tmp-%ld-Ab1Cd2x", dead);  /* seven */
    snprintf(miss[2], 256, ".out.safetensors.tmp-0%ld-Ab1Cd2", dead);  /* a leading zero */
    snprintf(miss[3], 256, "out.safetensors.tmp-%ld-Ab1Cd2", dead);    /* not hidden */
    for (int i = 0; i < 4; i++)
        plant_file(dir, miss[i]);
    plant_file(dir, "precious.txt");
    path2(p, sizeof p, dir, n_link);
    ck_assert_int_eq(symlink("precious.txt", p), 0);
    path2(p, sizeof p, dir, n_locked);
    int lfd = open(p, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(flock(lfd, LOCK_EX), 0);
    /* the expected listing: everything but the dead stray, plus the export itself */
    listing(dir, before, sizeof before);
    path2(p, sizeof p, dir, "out.safetensors");
    ck_assert_int_eq(run_code(cat, "export", "sd-tiny-dylora", p, "--format", "kohya", NULL), 0);
    path2(q, sizeof q, dir, n_dead);
    ck_assert_msg(!is_kind(q, S_IFREG), "the dead writer's stray is still there");
    unlink(p);
    plant_file(dir, n_dead);
    listing(dir, after, sizeof after);
    ck_assert_str_eq(before, after); /* nothing else went (the dead one planted back to compare) */
    unlink(q);
    close(lfd);
    path2(p, sizeof p, dir, "precious.txt");
    size_t n;
    char *text = (char *)cli_slurp(p, &n);
    ck_assert(text && n == 24 && memcmp(text, "left by a killed writer\n", 24) == 0);
    free(text);

    /* a folder target (PEFT) */
    char d_dead[256], d_live[256], d_aside[256], f_dead[256];
    snprintf(d_dead, sizeof d_dead, ".peft.tmp-%ld-Ab1Cd2", dead);
    snprintf(d_live, sizeof d_live, ".peft.tmp-%ld-Ab1Cd3", me);
    snprintf(d_aside, sizeof d_aside, ".peft.old-%ld-Ab1Cd4", dead);
    snprintf(f_dead, sizeof f_dead, ".peft.tmp-%ld-Ab1Cd5", dead);
    const char *dirs[] = {d_dead, d_live, d_aside};
    for (int i = 0; i < 3; i++) {
        path2(p, sizeof p, dir, dirs[i]);
        ck_assert_int_eq(mkdir(p, 0755), 0);
        snprintf(q, sizeof q, "%s/adapter_config.json", p);
        write_text(q, "{}\n");
        snprintf(q, sizeof q, "%s/sub", p);
        ck_assert_int_eq(mkdir(q, 0755), 0);
        snprintf(q, sizeof q, "%s/sub/link", p);
        ck_assert_int_eq(symlink("../../precious.txt", q), 0);
    }
    plant_file(dir, f_dead);
    path2(p, sizeof p, dir, d_dead);
    listing(dir, before, sizeof before);
    path2(q, sizeof q, dir, "peft");
    ck_assert_int_eq(run_code(cat, "export", "llama-tiny-f32", q, NULL, NULL, NULL), 0);
    ck_assert_msg(!is_kind(p, S_IFDIR), "the dead writer's folder is still there");
    ck_assert(is_kind(q, S_IFDIR));
    cli_rmtree(q);
    ck_assert_int_eq(mkdir(p, 0755), 0); /* planted back to compare */
    listing(dir, after, sizeof after);
    ck_assert_str_eq(before, after);
    path2(p, sizeof p, dir, "precious.txt");
    text = (char *)cli_slurp(p, &n);
    ck_assert(text && n == 24);
    free(text);
}
END_TEST

int main(void)
{
    if (cli_setup_samples(&g_tmp, g_samples, sizeof g_samples) != 0)
        return 1;
    const TTest *const tests[] = {test_export_refuses_catalog,
                                  test_export_refuses_special_files,
                                  test_export_no_clobber_without_force,
                                  test_export_writes_through_symlinks,
                                  test_export_missing_parent,
                                  test_failed_export_leaves_nothing,
                                  test_peft_folder_replaced_whole,
                                  test_multitask_folder_replaced_whole,
                                  test_import_config_folder,
                                  test_catalog_not_regular_file,
                                  test_export_sweeps_dead_strays,
                                  NULL};
    return cli_run_suite("export", tests, 0, g_tmp);
}
