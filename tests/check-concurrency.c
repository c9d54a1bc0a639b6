/* check-concurrency.c: two writers and a reader on one catalog at once, all the real binary (LSC_BIN).
 *
 * Writer A imports EDITS distinct small adapters (w-0, w-1 ...); writer B renames its own adapter
 * EDITS times along a chain (b-0 -> b-1 -> ...); a reader runs `ls --json` and `show NAME --json` on a
 * few of the listed adapters in a loop until both writers are done. Every command must exit 0 (the
 * reader's `show` of a b-* name may lose the race with a rename and say "no adapter", nothing else) and
 * no output may mention "locked" or "busy". The reader must always see whole adapters: every adapter
 * `ls` lists has its full layer count in `ls` and in `show`. At the end every edit has landed: all w-*
 * names, b-EDITS, 1 + 2 x EDITS history entries, and the invariants of robust_util.c hold.
 * Depends on the binary, SQLite (via robust_util) and libc. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include "cli_util.h"
#include "robust_util.h"

#define LAYERS 3

static char *g_tmp;
static char g_cat[4300], g_stop[4300];
static int g_edits;

static int mentions_lock(const cli_result *r)
{
    return strstr(r->out, "locked") || strstr(r->err, "locked") || strstr(r->out, "busy") || strstr(r->err, "busy");
}

/* A child that runs `count` commands; exits 0 if all succeeded. */
static void writer(int importer)
{
    for (int i = 0; i < g_edits; i++) {
        char a[4400], b[64];
        cli_result r;
        if (importer) {
            snprintf(a, sizeof a, "%s/w%d", g_tmp, i);
            snprintf(b, sizeof b, "w-%d", i);
            r = cli_run(g_cat, "import", a, "--name", b, NULL);
        } else {
            snprintf(a, sizeof a, "b-%d", i);
            snprintf(b, sizeof b, "b-%d", i + 1);
            r = cli_run(g_cat, "rename", a, b, NULL);
        }
        if (r.code != 0 || mentions_lock(&r)) {
            fprintf(stderr, "writer %s, edit %d: exit %d: %s%s\n", importer ? "import" : "rename", i, r.code, r.out, r.err);
            _exit(1);
        }
        cli_result_free(&r);
    }
    _exit(0);
}

/* The reader: loops until the stop file appears; exits 0, or 1 with the first problem on stderr. */
static void reader(void)
{
    long rounds = 0, shows = 0, raced = 0;
    unsigned seed = 7;
    for (;;) {
        int last = access(g_stop, F_OK) == 0; /* one more round after the writers are done */
        cli_result r = cli_run(g_cat, "ls", "--json", NULL);
        if (r.code != 0 || mentions_lock(&r)) {
            fprintf(stderr, "reader: ls: exit %d: %s\n", r.code, r.err);
            _exit(1);
        }
        json_error_t je;
        json_t *ls = json_loads(r.out, 0, &je);
        cli_result_free(&r);
        if (!json_is_array(ls)) {
            fprintf(stderr, "reader: ls printed no JSON array: %s\n", je.text);
            _exit(1);
        }
        size_t n = json_array_size(ls);
        for (size_t i = 0; i < n; i++)
            if (json_integer_value(json_object_get(json_array_get(ls, i), "layers")) != LAYERS) {
                fprintf(stderr, "reader: ls shows '%s' with %lld layers\n",
                        json_string_value(json_object_get(json_array_get(ls, i), "name")),
                        (long long)json_integer_value(json_object_get(json_array_get(ls, i), "layers")));
                _exit(1);
            }
        for (int k = 0; k < 3 && n > 0; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pick = k == 0 ? n - 1 : (seed >> 8) % n; /* the newest import sorts last among w-* often */
            const char *name = json_string_value(json_object_get(json_array_get(ls, pick), "name"));
            cli_result s = cli_run(g_cat, "show", name, "--json", NULL);
            shows++;
            if (s.code != 0 && strncmp(name, "b-", 2) == 0 && strstr(s.err, "no adapter")) {
                raced++; /* renamed between our ls and our show */
                cli_result_free(&s);
                continue;
            }
            json_t *v = s.code == 0 ? json_loads(s.out, 0, &je) : NULL;
            if (s.code != 0 || mentions_lock(&s) || !v ||
                json_array_size(json_object_get(v, "layers")) != LAYERS) {
                fprintf(stderr, "reader: show %s: exit %d, %zu layers: %s\n", name, s.code,
                        v ? json_array_size(json_object_get(v, "layers")) : 0, s.err);
                _exit(1);
            }
            json_decref(v);
            cli_result_free(&s);
        }
        json_decref(ls);
        rounds++;
        if (last)
            break;
    }
    fprintf(stderr, "reader: %ld rounds of ls, %ld shows (%ld lost a race with a rename, as allowed)\n", rounds,
            shows, raced);
    _exit(0);
}

START_TEST(test_two_writers_one_reader)
{
    char dir[4400], why[512];
    for (int i = 0; i < g_edits; i++) {
        snprintf(dir, sizeof dir, "%s/w%d", g_tmp, i);
        ck_assert_int_eq(ru_write_adapter(dir, (uint32_t)i + 500, LAYERS, 2, 16), 0);
    }
    snprintf(dir, sizeof dir, "%s/b", g_tmp);
    ck_assert_int_eq(ru_write_adapter(dir, 1, LAYERS, 2, 16), 0);
    cli_result r = cli_run(g_cat, "import", dir, "--name", "b-0", NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);

    pid_t pa = fork();
    if (pa == 0)
        writer(1);
    pid_t pb = fork();
    if (pb == 0)
        writer(0);
    pid_t pr = fork();
    if (pr == 0)
        reader();
    int sa = 0, sb = 0, sr = 0;
    waitpid(pa, &sa, 0);
    waitpid(pb, &sb, 0);
    ck_assert_int_eq(cli_write(g_stop, "", 0), 0);
    waitpid(pr, &sr, 0);
    ck_assert_msg(WIFEXITED(sa) && WEXITSTATUS(sa) == 0, "the importing writer failed");
    ck_assert_msg(WIFEXITED(sb) && WEXITSTATUS(sb) == 0, "the renaming writer failed");
    ck_assert_msg(WIFEXITED(sr) && WEXITSTATUS(sr) == 0, "the reader failed");

    ck_assert_msg(ru_check_catalog(g_cat, LAYERS, why, sizeof why) == 0, "%s", why);
    ck_assert_int_eq(ru_history_count(g_cat), 1 + 2 * g_edits);
    char *names = ru_visible_names(g_cat);
    ck_assert_ptr_nonnull(names);
    int lines = cli_lines(names);
    ck_assert_int_eq(lines, g_edits + 1);
    char want[64];
    snprintf(want, sizeof want, "b-%d\n", g_edits);
    ck_assert_msg(strncmp(names, want, strlen(want)) == 0, "b-%d missing: %s", g_edits, names);
    for (int i = 0; i < g_edits; i++) {
        snprintf(want, sizeof want, "\nw-%d\n", i);
        ck_assert_msg(strstr(names, want) != NULL, "w-%d missing", i);
    }
    free(names);
    printf("concurrency: %d imports and %d renames from two processes with a reader: all landed, none locked\n",
           g_edits, g_edits);
}
END_TEST

int main(void)
{
    g_tmp = cli_tmpdir();
    if (!g_tmp || !getenv("LSC_BIN"))
        return 77;
    g_edits = RUNNING_ON_VALGRIND ? 20 : 100;
    snprintf(g_cat, sizeof g_cat, "%s/catalog.db", g_tmp);
    snprintf(g_stop, sizeof g_stop, "%s/stop", g_tmp);
    Suite *s = suite_create("concurrency");
    TCase *tc = tcase_create("writers");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_two_writers_one_reader);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cli_rmtree(g_tmp);
    free(g_tmp);
    return failed != 0;
}
