/* check-faults.c: I/O faults under the catalog. An SQLite VFS shim (faultvfs.c), registered as the
 * default before any catalog opens, fails the Nth xWrite/xSync/xTruncate of an in-process command run
 * through lsc_dispatch, exactly as the CLI runs it.
 *
 * For each edit (import into an existing catalog, rename, rm, a two-line `run` script, import into a new
 * catalog): a clean run counts the calls; then for EVERY N from 1 to that count (a stride of 5 under
 * valgrind) the edit runs three times from the same starting catalog: the Nth call fails once with
 * SQLITE_FULL, once with SQLITE_IOERR_*, and with SQLITE_FULL from the Nth call on (a disk that stays
 * full). After each: the command either failed with a one-line message about the catalog (never
 * "locked"/"busy") and the catalog, reopened through the real VFS, has exactly its content from before
 * (a dump of every table), or it succeeded (the fault hit a write the commit did not need, such as a
 * checkpoint) and the content is exactly that of the clean run. One exception is counted, not failed:
 * a failed fsync of the WAL at COMMIT, after which SQLite may recover the whole transaction on the next
 * open (see the FINDING comment below); the content must then be exactly the clean result. The
 * invariants of robust_util.c hold, a failed command printed no results (they are held until the
 * COMMIT succeeds; failed COMMITs are counted and must occur),
 * and with the faults off the same command then succeeds (the program stays usable).
 * Depends on the command layer (lsc_dispatch), SQLite (the shim) and robust_util. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include "cli_util.h"
#include "command.h"
#include "faultvfs.h"
#include "robust_util.h"
#include "sink.h"

#define LAYERS 4

static char *g_tmp;
static char g_base[4300], g_work[4300];
static long g_injected, g_failed_clean, g_absorbed, g_ambiguous, g_commit_failed;
static char g_out[4096]; /* what the last dispatch printed to its results sink (cut at the size) */

static int dispatch(const char *cat, char **argv, char *msg, size_t cap)
{
    /* a fresh copy each time: getopt permutes the array lsc_dispatch is given (options first), and the
     * history records the order as given, so a re-dispatched array would record another order */
    char *copy[16];
    int argc = 0;
    while (argv[argc] && argc < 15) {
        copy[argc] = argv[argc];
        argc++;
    }
    copy[argc] = NULL;
    argv = copy;
    lsc_sink o, d;
    lsc_sink_init_mem(&o);
    lsc_sink_init_mem(&d);
    lsc_cmd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.catalog_path = cat;
    ctx.out = &o;
    ctx.diag = &d;
    int rc = lsc_dispatch(&ctx, argc, argv);
    snprintf(msg, cap, "%s", ctx.err.msg);
    snprintf(g_out, sizeof g_out, "%s", o.buf ? o.buf : "");
    lsc_sink_release(&o);
    lsc_sink_release(&d);
    return rc;
}

static void remove_catalog(const char *path)
{
    char p[4400];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

/* The work catalog from the base (which is kept checkpointed: no -wal); fresh = no catalog at all. */
static void restore(int fresh)
{
    remove_catalog(g_work);
    if (!fresh)
        ck_assert_int_eq(cli_copy(g_base, g_work), 0);
}

static char *dump_or_none(int fresh)
{
    char why[512];
    if (access(g_work, F_OK) != 0)
        return strdup("(no catalog)");
    char *d = ru_dump(g_work, why, sizeof why);
    ck_assert_msg(d != NULL, "%s", why);
    /* a new catalog whose creation failed may be left empty or schema-less: that is "no catalog" too */
    if (fresh && !strstr(d, "table adapters: 1 rows")) {
        free(d);
        return strdup("(no catalog)");
    }
    return d;
}

static void faults_over(const char *label, char **argv, int fresh)
{
    char msg[LSC_ERROR_MSG_MAX], why[512];
    restore(fresh);
    char *before = dump_or_none(fresh);
    faultvfs_arm(FAULTVFS_ALL, 0, 0, 0);
    ck_assert_msg(dispatch(g_work, argv, msg, sizeof msg) == 0, "%s: clean run failed: %s", label, msg);
    long total = faultvfs_count();
    char *after = dump_or_none(fresh);
    ck_assert_str_ne(before, after);
    long stride = RUNNING_ON_VALGRIND ? 5 : 1;
    if (getenv("FAULTVFS_TRACE")) /* with the shim's trace: where each edit's calls start */
        fprintf(stderr, "%s: %ld calls in the clean run\n", label, total);
    static const struct {
        int code, sticky;
    } variants[] = {{SQLITE_FULL, 0}, {SQLITE_IOERR, 0}, {SQLITE_FULL, 1}};
    for (long n = 1; n <= total; n += stride) {
        for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
            restore(fresh);
            faultvfs_arm(FAULTVFS_ALL, n, variants[v].code, variants[v].sticky);
            int rc = dispatch(g_work, argv, msg, sizeof msg);
            faultvfs_disarm();
            long fired = faultvfs_failed();
            g_injected += fired > 0;
            char *now = dump_or_none(fresh);
            if (rc == 0) {
                ck_assert_msg(strcmp(now, after) == 0, "%s: fault at call %ld (code %d%s) reported success but the "
                              "catalog is not the clean result", label, n, variants[v].code,
                              variants[v].sticky ? ", sticky" : "");
                g_absorbed += fired > 0;
            } else {
                ck_assert_msg(fired > 0, "%s: failed without a fault: %s", label, msg);
                /* results are shown only once committed: a failed command, the COMMIT's write or fsync
                 * included (a full disk), prints no "imported"/"renamed"/"applied" line */
                ck_assert_msg(g_out[0] == '\0', "%s: fault at call %ld (first failed: %s) failed [%s] but printed "
                              "results: [%s]", label, n, faultvfs_first_failed(), msg, g_out);
                g_commit_failed += strstr(msg, "may or may not have been saved") != NULL;
                ck_assert_msg(msg[0] && strchr(msg, '\n') == NULL, "%s: unclear message [%s]", label, msg);
                ck_assert_msg(!strstr(msg, "locked") && !strstr(msg, "busy"), "%s: [%s]", label, msg);
                ck_assert_msg(strstr(msg, "full") || strstr(msg, "I/O") || strstr(msg, "i/o"),
                              "%s: fault at call %ld: the message does not say what happened: [%s]", label, n, msg);
                /* FINDING (reported, not a failure here): when the fsync of the WAL at COMMIT fails, the
                 * transaction's frames, commit frame included, are already in the -wal file. SQLite reports
                 * the error, but if the WAL survives the connection (its close-time checkpoint fails too,
                 * as on a disk that stays full, with older frames to copy), the next open recovers the
                 * transaction: "failed" yet applied, whole. All or nothing still holds; the message does not
                 * say "may have been saved". Any other fault must leave the content exactly as before. */
                if (strcmp(now, after) == 0 && strcmp(faultvfs_first_failed(), "sync wal") == 0) {
                    g_ambiguous++;
                    ck_assert_msg(ru_check_catalog(g_work, LAYERS, why, sizeof why) == 0, "%s: %s", label, why);
                    free(now);
                    char *ls[] = {"ls", NULL};
                    ck_assert_msg(dispatch(g_work, ls, msg, sizeof msg) == 0, "%s: ls after recovery: %s", label, msg);
                    continue;
                }
                ck_assert_msg(strcmp(now, before) == 0, "%s: fault at call %ld (first failed: %s, code %d%s, "
                              "message [%s]) left the catalog changed", label, n, faultvfs_first_failed(),
                              variants[v].code, variants[v].sticky ? ", sticky" : "", msg);
                g_failed_clean++;
            }
            if (access(g_work, F_OK) == 0)
                ck_assert_msg(ru_check_catalog(g_work, LAYERS, why, sizeof why) == 0, "%s: fault at call %ld: %s",
                              label, n, why);
            free(now);
            if (rc != 0) { /* usable again once the disk is back */
                ck_assert_msg(dispatch(g_work, argv, msg, sizeof msg) == 0, "%s: after a fault at call %ld the "
                              "command still fails: %s", label, n, msg);
                now = dump_or_none(fresh);
                if (strcmp(now, after) != 0 && getenv("FAULT_DEBUG")) {
                    cli_write("/tmp/faults-now.txt", now, strlen(now));
                    cli_write("/tmp/faults-after.txt", after, strlen(after));
                }
                ck_assert_msg(strcmp(now, after) == 0, "%s: retry after a fault at call %ld differs (FAULT_DEBUG=1 "
                              "writes both dumps to /tmp/faults-{now,after}.txt)", label, n);
                free(now);
            }
        }
    }
    printf("faults: %s: %ld write/sync/truncate calls, each failed 3 ways\n", label, total);
    free(before);
    free(after);
}

START_TEST(test_faults)
{
    char dir[4400], script[4400], text[9000], msg[LSC_ERROR_MSG_MAX];
    /* the base catalog: three adapters, checkpointed (ru_dump closes the last connection) */
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(dir, sizeof dir, "%s/base%d", g_tmp, i);
        snprintf(name, sizeof name, "a%d", i);
        ck_assert_int_eq(ru_write_adapter(dir, (uint32_t)i + 1, LAYERS, 4, 64), 0);
        char *argv[] = {"import", dir, "--name", name, NULL};
        ck_assert_msg(dispatch(g_base, argv, msg, sizeof msg) == 0, "%s", msg);
    }
    char why[512];
    free(ru_dump(g_base, why, sizeof why));
    snprintf(dir, sizeof dir, "%s/new", g_tmp);
    ck_assert_int_eq(ru_write_adapter(dir, 99, LAYERS, 8, 128), 0);
    snprintf(script, sizeof script, "%s/edit.lsc", g_tmp);
    snprintf(text, sizeof text, "import '%s' --name s\nrename s t\nrm a0\n", dir);
    ck_assert_int_eq(cli_write(script, text, strlen(text)), 0);

    char *imp[] = {"import", dir, "--name", "n", NULL};
    char *ren[] = {"rename", "a1", "z", NULL};
    char *rm[] = {"rm", "a2", NULL};
    char *run[] = {"run", script, NULL};
    faults_over("import", imp, 0);
    faults_over("rename", ren, 0);
    faults_over("rm", rm, 0);
    faults_over("run (import, rename, rm)", run, 0);
    faults_over("import into a new catalog", imp, 1);
    printf("faults: %ld faults injected: %ld commands failed cleanly (catalog unchanged), %ld absorbed by "
           "SQLite after the commit (catalog = clean result), %ld failed WAL fsyncs at COMMIT reported as errors "
           "but recovered as committed on the next open; every command then succeeded\n",
           g_injected, g_failed_clean, g_absorbed, g_ambiguous);
    printf("faults: %ld of them failed the COMMIT itself; no failed command printed results\n", g_commit_failed);
    ck_assert_int_gt(g_commit_failed, 0);
    ck_assert_int_gt(g_failed_clean, 0);
}
END_TEST

int main(void)
{
    g_tmp = cli_tmpdir();
    if (!g_tmp)
        return 77;
    if (faultvfs_register() != SQLITE_OK)
        return 1;
    snprintf(g_base, sizeof g_base, "%s/base.db", g_tmp);
    snprintf(g_work, sizeof g_work, "%s/work.db", g_tmp);
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("vfs");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_faults);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cli_rmtree(g_tmp);
    free(g_tmp);
    return failed != 0;
}
