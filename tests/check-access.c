/* check-access.c: catalogs this process may read but not write, and catalogs another process is writing.
 *
 * Read-only catalogs, through the real binary (LSC_BIN): every read command (ls, show, spectrum, diff, log,
 * export, and `--readonly ls`) must work and print exactly what it prints on a writable copy of the same
 * catalog, writers must be refused with "catalog 'PATH' is read-only: WHY" and leave the file unchanged,
 * and no reader may leave '-wal'/'-shm' files of its own beside a catalog it may not write (they would
 * block the owner's next write). Three ways a catalog is read-only:
 *  - another user's file: the test runs as root (as CI does), where permission bits stop nothing, so the
 *    binary runs as `nobody` (setgroups/setgid/setuid in the child before exec); not as root, the test's
 *    own user meets a 0444 file in a 0555 folder;
 *  - the same in a folder everyone may write (the reader could create '-wal'/'-shm', and must not);
 *  - a read-only mount (tmpfs remounted ro; skipped with a message where mount(2) is not permitted),
 *    including one whose '-wal' holds committed changes but has no '-shm': refused with what to do.
 * Busy catalogs, in process: a child process holds the write lock (raw SQLite, BEGIN IMMEDIATE); a writer
 * whose (shortened) busy timeout runs out must say "catalog 'PATH' is busy" and name the child's pid and
 * command, never SQLite's bare "database is locked", both from the catalog API and through lsc_dispatch;
 * a holder whose program is called lorascope (this test run again under that name) is "another lorascope"
 * with its exact command line.
 * Results are shown once committed: a script rolled back prints none; `run --continue`, whose lines commit
 * one by one, shows each line's results and its summary although the run fails.
 * Depends on the binary, the command layer, SQLite (to hold the lock) and libc. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog.h"
#include "cli_util.h"
#include "command.h"
#include "robust_util.h"
#include "sink.h"

static char *g_tmp;
static char g_src[4300]; /* a writable catalog with adapters a and b, checkpointed (no -wal) */

/* The read commands and what they print on the writable catalog. export's output names its target, so
 * it is compared by the file it writes instead. */
#define N_READS 6
static const char *const g_reads[N_READS][4] = {
    {"ls", NULL}, {"show", "a", NULL}, {"spectrum", "a", NULL}, {"diff", "a", "b", NULL}, {"log", NULL},
    {"--readonly", "ls", NULL},
};
static char *g_ref[N_READS];

/* Run `$LSC_BIN --catalog CAT ARGS...` as uid/gid (uid (uid_t)-1: as ourselves), like cli_run. */
static cli_result run_as(uid_t uid, gid_t gid, const char *cat, const char *const *args)
{
    cli_result r = {-1, NULL, NULL};
    const char *argv[32];
    int argc = 0;
    argv[argc++] = getenv("LSC_BIN");
    argv[argc++] = "--catalog";
    argv[argc++] = cat;
    for (int i = 0; args[i] && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    char o[] = "/tmp/lsc-out-XXXXXX", e[] = "/tmp/lsc-err-XXXXXX";
    int fo = mkstemp(o), fe = mkstemp(e);
    unlink(o);
    unlink(e);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fo, 1);
        dup2(fe, 2);
        if (uid != (uid_t)-1 && (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0))
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    size_t n = 0;
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fo);
    r.out = (char *)cli_slurp(p, &n);
    snprintf(p, sizeof p, "/proc/self/fd/%d", fe);
    r.err = (char *)cli_slurp(p, &n);
    close(fo);
    close(fe);
    if (!r.out)
        r.out = strdup("");
    if (!r.err)
        r.err = strdup("");
    return r;
}

static int exists(const char *dir, const char *name)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* Every read command on `cat` as uid/gid prints what it prints on the writable catalog; export writes the
 * same tensor file; a writer is refused as read-only with `why` in its message and changes nothing;
 * no '-wal'/'-shm' is left in `dir` when `no_side_files`. */
static void check_read_only(const char *label, const char *dir, uid_t uid, gid_t gid, const char *why,
                            int no_side_files)
{
    char cat[4400], out[4400], ref_out[4400];
    snprintf(cat, sizeof cat, "%s/c.db", dir);
    size_t n0 = 0, n1 = 0;
    unsigned char *before = cli_slurp(cat, &n0);
    ck_assert_ptr_nonnull(before);
    for (int i = 0; i < N_READS; i++) {
        cli_result r = run_as(uid, gid, cat, g_reads[i]);
        ck_assert_msg(r.code == 0, "%s: %s %s: exit %d: %s", label, g_reads[i][0], g_reads[i][1] ? g_reads[i][1] : "",
                      r.code, r.err);
        ck_assert_msg(strcmp(r.out, g_ref[i]) == 0, "%s: %s prints\n%s\ninstead of\n%s", label, g_reads[i][0], r.out,
                      g_ref[i]);
        ck_assert_msg(r.err[0] == '\0', "%s: %s: %s", label, g_reads[i][0], r.err);
        cli_result_free(&r);
    }
    /* export: into a folder the reader may write; the tensors equal an export from the writable catalog */
    snprintf(out, sizeof out, "%s/export-%s", g_tmp, label);
    mkdir(out, 0777);
    chmod(out, 0777);
    snprintf(out + strlen(out), sizeof out - strlen(out), "/a");
    const char *exp[] = {"export", "a", out, NULL};
    cli_result r = run_as(uid, gid, cat, exp);
    ck_assert_msg(r.code == 0 && strstr(r.out, "wrote "), "%s: export: exit %d: %s", label, r.code, r.err);
    cli_result_free(&r);
    snprintf(ref_out, sizeof ref_out, "%s/export-ref/a/adapter_model.safetensors", g_tmp);
    snprintf(out + strlen(out), sizeof out - strlen(out), "/adapter_model.safetensors");
    ck_assert_msg(cli_same_file(out, ref_out) && access(out, F_OK) == 0, "%s: export wrote other bytes", label);

    if (no_side_files)
        ck_assert_msg(!exists(dir, "c.db-wal") && !exists(dir, "c.db-shm"),
                      "%s: a reader left -wal/-shm files beside a catalog it may not write", label);

    const char *ren[] = {"rename", "a", "z", NULL};
    r = run_as(uid, gid, cat, ren);
    ck_assert_msg(r.code == 1, "%s: rename on a read-only catalog: exit %d", label, r.code);
    char want[4600];
    snprintf(want, sizeof want, "catalog '%s' is read-only: %s", cat, why);
    ck_assert_msg(strstr(r.err, want) && !strstr(r.err, "attempt to write") && !strstr(r.err, "WAL"),
                  "%s: rename says [%s], wanted [%s]", label, r.err, want);
    cli_result_free(&r);
    unsigned char *after = cli_slurp(cat, &n1);
    ck_assert_msg(after && n0 == n1 && memcmp(before, after, n0) == 0, "%s: the refused rename changed the file", label);
    free(before);
    free(after);
    printf("access: %s: %d read commands and export work, rename refused (\"%s\"), no -wal/-shm left\n", label,
           N_READS, why);
}

static void make_dir_with_catalog(const char *dir, mode_t dir_mode, mode_t file_mode)
{
    char cat[4400];
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(cat, sizeof cat, "%s/c.db", dir);
    ck_assert_int_eq(cli_copy(g_src, cat), 0);
    ck_assert_int_eq(chmod(cat, file_mode), 0);
    ck_assert_int_eq(chmod(dir, dir_mode), 0);
}

START_TEST(test_other_users_catalog)
{
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/locked", g_tmp);
    if (geteuid() != 0) { /* our own file, made read-only */
        make_dir_with_catalog(dir, 0555, 0444);
        check_read_only("a 0444 catalog in a 0555 folder", dir, (uid_t)-1, (gid_t)-1, "you have no write permission on it", 1);
        chmod(dir, 0755);
        return;
    }
    struct passwd *pw = getpwnam("nobody");
    if (!pw) {
        printf("access: SKIPPED the other-user cases: no user 'nobody' to run as\n");
        return;
    }
    make_dir_with_catalog(dir, 0755, 0644);
    check_read_only("root's catalog read by nobody", dir, pw->pw_uid, pw->pw_gid, "you have no write permission on it", 1);
    /* a folder everyone may write: a reader could create -wal/-shm there, owned by itself */
    snprintf(dir, sizeof dir, "%s/shared", g_tmp);
    make_dir_with_catalog(dir, 0777, 0644);
    check_read_only("root's catalog in a 0777 folder read by nobody", dir, pw->pw_uid, pw->pw_gid,
                    "you have no write permission on it", 1);
    /* root reading that catalog (with --readonly) may create them: SQLite hands them to the file's owner */
}
END_TEST

/* Commit a rename with the WAL left un-checkpointed, and copy the file and its -wal (not -shm) into dir
 * as c2.db: a catalog whose last change is only in its -wal, as after an owner's crash. */
static void catalog_with_wal_only(const char *dir)
{
    char cat[4300], p[4500], q[4500];
    snprintf(cat, sizeof cat, "%s/walsrc.db", g_tmp);
    ck_assert_int_eq(cli_copy(g_src, cat), 0);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(cat, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA wal_autocheckpoint = 0; UPDATE adapters SET name = 'w' WHERE name = 'b'",
                                  NULL, NULL, NULL), SQLITE_OK);
    snprintf(p, sizeof p, "%s/c2.db", dir);
    ck_assert_int_eq(cli_copy(cat, p), 0);
    snprintf(p, sizeof p, "%s/c2.db-wal", dir);
    snprintf(q, sizeof q, "%s-wal", cat);
    ck_assert_int_eq(cli_copy(q, p), 0);
    struct stat sb;
    ck_assert_msg(stat(p, &sb) == 0 && sb.st_size > 0, "the -wal copy is empty");
    sqlite3_close(db);
}

/* Mounts made from here on live in a private mount namespace: they vanish with the process, even when a
 * failed assertion ends it before its umount. 0 on success. */
static int private_mounts(void)
{
    return unshare(CLONE_NEWNS) == 0 && mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 ? 0 : -1;
}

START_TEST(test_read_only_mount)
{
    char dir[4200], cat[4400];
    snprintf(dir, sizeof dir, "%s/mnt", g_tmp);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    if (private_mounts() != 0 || mount("lsc-test", dir, "tmpfs", 0, "size=16m") != 0) {
        printf("access: SKIPPED the read-only mount case: cannot mount a tmpfs here (%s)\n", strerror(errno));
        return;
    }
    snprintf(cat, sizeof cat, "%s/c.db", dir);
    ck_assert_int_eq(cli_copy(g_src, cat), 0);
    catalog_with_wal_only(dir);
    if (mount("lsc-test", dir, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL) != 0) {
        printf("access: SKIPPED the read-only mount case: cannot remount read-only (%s)\n", strerror(errno));
        umount2(dir, MNT_DETACH);
        return;
    }
    check_read_only("a read-only mount", dir, (uid_t)-1, (gid_t)-1, "it is on a read-only filesystem", 1);
    /* committed changes only in the -wal and no -shm to read them with: refused, saying what to do */
    snprintf(cat, sizeof cat, "%s/c2.db", dir);
    const char *ls[] = {"ls", NULL};
    cli_result r = run_as((uid_t)-1, (gid_t)-1, cat, ls);
    ck_assert_msg(r.code == 1 && strstr(r.err, "is on a read-only filesystem") && strstr(r.err, "-wal") &&
                  strstr(r.err, "cannot be read"), "ls of a read-only catalog with changes in its -wal: exit %d: %s",
                  r.code, r.err);
    cli_result_free(&r);
    ck_assert_int_eq(umount2(dir, MNT_DETACH), 0);
}
END_TEST

/* ---- busy --------------------------------------------------------------------------------------------- */

/* The holder's side: take the write lock of `cat`, say so on `ready`, wait for a byte on `go`. */
static int hold(const char *cat, int ready, int go)
{
    sqlite3 *db = NULL;
    char c = 'x';
    if (sqlite3_open(cat, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE adapters SET name = name", NULL, NULL, NULL) != SQLITE_OK)
        c = 'e';
    if (write(ready, &c, 1) != 1 || read(go, &c, 1) < 0)
        return 1;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return 0;
}

/* A child holding the write lock of `cat` until told to stop (a byte on *stop); returns its pid once the
 * lock is held. With `as_lorascope` the child is this program run again under the name lorascope, with
 * the arguments of a lorascope edit (LSC_ACCESS_HOLD tells main to hold the lock). */
static pid_t hold_write_lock(const char *cat, int as_lorascope, int *stop)
{
    int ready[2], go[2];
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1); /* our program (valgrind answers for it) */
    ck_assert_int_gt(n, 0);
    self[n] = '\0';
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]); /* the parent gone, reading `go` gives end-of-file: no orphan waits forever */
        close(go[1]);
        if (as_lorascope) {
            char fds[32];
            snprintf(fds, sizeof fds, "%d %d", ready[1], go[0]);
            setenv("LSC_ACCESS_HOLD", fds, 1);
            execl(self, "lorascope", "--catalog", cat, "rename", "a", "z", (char *)NULL);
            _exit(127);
        }
        _exit(hold(cat, ready[1], go[0]));
    }
    close(ready[1]); /* a child that dies early gives end-of-file, not a hang */
    close(go[0]);
    char c = 0;
    ck_assert_msg(read(ready[0], &c, 1) == 1 && c == 'x', "the child could not take the write lock");
    close(ready[0]);
    *stop = go[1];
    return pid;
}

START_TEST(test_busy_names_the_writer)
{
    char cat[4400], want[9400], self[4400];
    snprintf(cat, sizeof cat, "%s/busy.db", g_tmp);
    ck_assert_int_eq(cli_copy(g_src, cat), 0);
    lsc_catalog *c = NULL;
    lsc_error err;
    lsc_error_clear(&err);
    ck_assert_int_eq(lsc_catalog_open(cat, 0, &c, &err), LSC_OK);
    sqlite3_busy_timeout(lsc_catalog_db(c), 50); /* the real timeout is seconds; the message is the point */
    int stop = -1;
    pid_t holder = hold_write_lock(cat, 0, &stop);
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    const char *base = strrchr(self, '/');

    ck_assert_int_ne(lsc_catalog_begin(c, &err), LSC_OK);
    snprintf(want, sizeof want, "catalog '%s' is busy: another program (pid %d, `", cat, (int)holder);
    /* its command line is this test's (under valgrind, valgrind's) */
    ck_assert_msg(strstr(err.msg, want) && (strstr(err.msg, base ? base + 1 : self) || strstr(err.msg, "valgrind")) &&
                  strstr(err.msg, "try again when it finishes") && !strstr(err.msg, "locked"),
                  "begin on a busy catalog says [%s]", err.msg);
    ck_assert_int_eq(write(stop, "g", 1), 1);
    close(stop);
    waitpid(holder, NULL, 0);

    /* held by another lorascope: named as such, with its command line */
    holder = hold_write_lock(cat, 1, &stop);
    ck_assert_int_ne(lsc_catalog_begin(c, &err), LSC_OK);
    snprintf(want, sizeof want, "catalog '%s' is busy: another lorascope (pid %d, `lorascope --catalog %s rename a z`) "
             "is writing to it; try again when it finishes", cat, (int)holder, cat);
    ck_assert_msg(strcmp(err.msg, want) == 0, "begin on a catalog another lorascope writes says [%s]", err.msg);

    /* the same through the dispatcher, as a CLI edit meets it; nothing printed, nothing changed */
    lsc_sink o, d;
    lsc_sink_init_mem(&o);
    lsc_sink_init_mem(&d);
    lsc_cmd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.cat = c;
    ctx.out = &o;
    ctx.diag = &d;
    char *argv[] = {"rename", "a", "z", NULL};
    ck_assert_int_eq(lsc_dispatch(&ctx, 3, argv), LSC_EXIT_ERROR);
    ck_assert_msg(strstr(ctx.err.msg, want) && !strstr(ctx.err.msg, "locked"), "rename on a busy catalog says [%s]",
                  ctx.err.msg);
    ck_assert_uint_eq(o.len, 0);
    lsc_sink_release(&o);
    lsc_sink_release(&d);

    /* the writer done, the same edit goes through */
    ck_assert_int_eq(write(stop, "g", 1), 1);
    close(stop);
    int status = 0;
    waitpid(holder, &status, 0);
    ck_assert_int_eq(lsc_catalog_begin(c, &err), LSC_OK);
    lsc_catalog_rollback(c);
    lsc_catalog_close(c);
    printf("access: a writer blocked by pid %d is told: %s\n", (int)holder, err.msg);
}
END_TEST

/* ---- results shown once committed ----------------------------------------------------------------------- */

START_TEST(test_results_follow_commits)
{
    char cat[4400], script[4400];
    snprintf(cat, sizeof cat, "%s/held.db", g_tmp);
    snprintf(script, sizeof script, "%s/held.lsc", g_tmp);
    ck_assert_int_eq(cli_copy(g_src, cat), 0);
    const char *text = "rename a q\nexpect layers q < 1\nrename q r\n";
    ck_assert_int_eq(cli_write(script, text, strlen(text)), 0);
    /* one transaction: the failing expect rolls the whole script back, so nothing it did is reported */
    cli_result r = cli_run(cat, "run", script, NULL);
    ck_assert_msg(r.code == 1 && strstr(r.err, "expectation failed"), "exit %d: %s", r.code, r.err);
    ck_assert_msg(r.out[0] == '\0', "a rolled-back script printed [%s]", r.out);
    cli_result_free(&r);
    char *names = ru_visible_names(cat);
    ck_assert_str_eq(names, "a\nb\n");
    free(names);
    /* --continue: each line commits on its own, so what they did is shown, and the summary, though the
     * run fails */
    r = cli_run(cat, "run", script, "--continue", NULL);
    ck_assert_int_eq(r.code, 1);
    ck_assert_msg(strstr(r.out, "renamed 'a' to 'q'") && strstr(r.out, "renamed 'q' to 'r'") &&
                  strstr(r.out, "2 line(s) applied, 1 failed"), "run --continue printed [%s]", r.out);
    cli_result_free(&r);
    names = ru_visible_names(cat);
    ck_assert_str_eq(names, "b\nr\n");
    free(names);
}
END_TEST

int main(int argc, char **argv)
{
    const char *holding = getenv("LSC_ACCESS_HOLD"); /* run again as a lock holder: see hold_write_lock */
    int ready, go;
    if (holding && argc > 2 && sscanf(holding, "%d %d", &ready, &go) == 2)
        return hold(argv[2], ready, go); /* lorascope --catalog CAT ... */
    g_tmp = cli_tmpdir();
    if (!g_tmp || !getenv("LSC_BIN"))
        return 77;
    chmod(g_tmp, 0755); /* the other user must reach the folders below */
    char dir[4400];
    snprintf(g_src, sizeof g_src, "%s/src.db", g_tmp);
    for (int i = 0; i < 2; i++) {
        snprintf(dir, sizeof dir, "%s/ad%d", g_tmp, i);
        if (ru_write_adapter(dir, (uint32_t)i + 11, 3, 2, 16) != 0)
            return 1;
        cli_result r = cli_run(g_src, "import", dir, "--name", i ? "b" : "a", NULL);
        if (r.code != 0) {
            fprintf(stderr, "import: %s\n", r.err);
            return 1;
        }
        cli_result_free(&r);
    }
    char why[256];
    free(ru_dump(g_src, why, sizeof why)); /* the last connection closes: checkpointed, no -wal */
    for (int i = 0; i < N_READS; i++) {
        cli_result r = run_as((uid_t)-1, (gid_t)-1, g_src, g_reads[i]);
        if (r.code != 0) {
            fprintf(stderr, "%s on the writable catalog: %s\n", g_reads[i][0], r.err);
            return 1;
        }
        g_ref[i] = r.out;
        free(r.err);
    }
    snprintf(dir, sizeof dir, "%s/export-ref", g_tmp);
    mkdir(dir, 0755);
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/a");
    cli_result r = cli_run(g_src, "export", "a", dir, NULL);
    if (r.code != 0)
        return 1;
    cli_result_free(&r);

    Suite *s = suite_create("access");
    TCase *tc = tcase_create("access");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_other_users_catalog);
    tcase_add_test(tc, test_read_only_mount);
    tcase_add_test(tc, test_busy_names_the_writer);
    tcase_add_test(tc, test_results_follow_commits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (int i = 0; i < N_READS; i++)
        free(g_ref[i]);
    cli_rmtree(g_tmp);
    free(g_tmp);
    return failed != 0;
}
