/* check-packsync.c: the pack's bytes reach the disk before the commit that refers to them. This test
 * program defines fsync and fdatasync itself (passing them on to the kernel), so every sync the store
 * library and SQLite make goes through it and is logged by the kind of file it syncs (the catalog's
 * -pack, its -wal, the database). An import through the command layer, in this process, must sync the
 * pack exactly once, right before the WAL sync of its COMMIT (synchronous=FULL), the first WAL sync of
 * the import (what follows is the checkpoint). A pack synced after the commit, or not at all, could lose
 * committed bytes on power loss while their rows survive. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli_util.h"
#include "command.h"
#include "robust_util.h"
#include "sink.h"

static char *g_tmp;
static char g_log[256]; /* one letter per sync: p(ack), w(al), d(atabase), o(ther) */
static size_t g_n;

static void note(int fd)
{
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = '\0';
    size_t len = strlen(path);
    char kind = len > 5 && strcmp(path + len - 5, "-pack") == 0  ? 'p'
                : len > 4 && strcmp(path + len - 4, "-wal") == 0 ? 'w'
                : len > 3 && strcmp(path + len - 3, ".db") == 0  ? 'd'
                                                                 : 'o';
    if (g_n + 1 < sizeof g_log) {
        g_log[g_n++] = kind;
        g_log[g_n] = '\0';
    }
}

int fsync(int fd)
{
    note(fd);
    return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
    note(fd);
    return (int)syscall(SYS_fdatasync, fd);
}

static int dispatch(const char *cat, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    lsc_sink o, d;
    lsc_sink_init_mem(&o);
    lsc_sink_init_mem(&d);
    lsc_cmd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.catalog_path = cat;
    ctx.out = &o;
    ctx.diag = &d;
    int rc = lsc_dispatch(&ctx, argc, argv);
    if (rc)
        fprintf(stderr, "%s\n", ctx.err.msg);
    lsc_sink_release(&o);
    lsc_sink_release(&d);
    return rc;
}

START_TEST(test_pack_synced_before_commit)
{
    char cat[4300], small[4400], big[4400];
    snprintf(cat, sizeof cat, "%s/sync.db", g_tmp);
    snprintf(small, sizeof small, "%s/small", g_tmp);
    snprintf(big, sizeof big, "%s/big", g_tmp);
    ck_assert_int_eq(ru_write_adapter(small, 1, 2, 8, 256), 0); /* 8 KiB tensors: inline */
    ck_assert_int_eq(ru_write_adapter(big, 2, 4, 16, 1040), 0);  /* 65 KiB tensors: packed */
    char *a1[] = {"import", small, "--name", "small", NULL};
    ck_assert_int_eq(dispatch(cat, a1), 0);
    ck_assert_msg(strchr(g_log, 'p') == NULL, "a pack synced for inline blobs: %s", g_log);
    g_n = 0;
    g_log[0] = '\0';
    char *a2[] = {"import", big, "--name", "big", NULL};
    ck_assert_int_eq(dispatch(cat, a2), 0);
    /* the pack once (a new pack is created with its folder synced: 'o'), then the commit's WAL sync, the
     * import's first: no WAL or database sync before the pack's */
    const char *p = strchr(g_log, 'p'), *w = strchr(g_log, 'w'), *d = strchr(g_log, 'd');
    ck_assert_msg(p && !strchr(p + 1, 'p') && p[1] == 'w' && w == p + 1 && (!d || d > p),
                  "syncs during the import (p pack, w wal, d database, o other): %s", g_log);
    printf("packsync: syncs of a large import: %s\n", g_log);
}
END_TEST

int main(void)
{
    g_tmp = cli_tmpdir();
    if (!g_tmp)
        return 1;
    Suite *s = suite_create("packsync");
    TCase *tc = tcase_create("sync");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pack_synced_before_commit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* the log lives in this process */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cli_rmtree(g_tmp);
    free(g_tmp);
    return failed != 0;
}
