/* check-pack.c: the pack beside a catalog (store/pack.h), where tensor blobs of 64 KiB and more are
 * written once instead of through SQLite's WAL. All through the real binary (LSC_BIN); the catalog is read
 * back with SQLite directly and the pack with plain file reads (robust_util.c), never through the code
 * under test.
 *  - placement: large tensors land in the pack, small ones stay inline; the pack's committed end is the
 *    sum of the packed sizes; the stored bytes are those of the source file (hashed here from its slices);
 *  - SIGKILL during large imports at random moments: the adapter is whole (every byte hashes right) or
 *    absent, and the space a killed writer used is reused by the next import;
 *  - rollback: an adapter failing after its bytes were appended leaves no row, and the next import writes
 *    over the garbage instead of past it;
 *  - corruption: a flipped byte or a truncated pack is reported naming the tensor;
 *  - an old catalog (schema 5, large blobs inline) upgrades, keeps its bytes, and packs new imports;
 *  - a reader exporting a packed adapter again and again while another process imports large adapters
 *    always gets the same bytes;
 *  - the import's statistics workers (LSC_THREADS) give the same catalog, bit for bit, with 1 or 2. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include "catalog.h"
#include "cli_util.h"
#include "hash.h"
#include "robust_util.h"

#define LAYERS 6
#define RANK 16
#define DIM 1040 /* 16 x 1040 F32 = 66,560 bytes a tensor: above the 64 KiB threshold */
#define TBYTES ((int64_t)RANK * DIM * 4)

static char *g_tmp;
static char g_samples[4200];

static void fresh(char *cat, size_t cap, const char *name)
{
    snprintf(cat, cap, "%s/%s.db", g_tmp, name);
}

static void big_adapter(char *dir, size_t cap, const char *name, uint32_t seed)
{
    snprintf(dir, cap, "%s/%s", g_tmp, name);
    ck_assert_int_eq(ru_write_adapter(dir, seed, LAYERS, RANK, DIM), 0);
}

/* The first column of the first row of sql on the catalog, as an integer (-1 if no row). */
static int64_t q_int(const char *cat, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(cat, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *s = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static int64_t pack_size(const char *cat)
{
    char p[4400];
    snprintf(p, sizeof p, "%s-pack", cat);
    return file_size(p);
}

static void assert_whole(const char *cat, int layers_each)
{
    char why[512];
    ck_assert_msg(ru_check_catalog(cat, layers_each, why, sizeof why) == 0, "%s", why);
}

/* The committed end equals the bytes of every packed row: only imports ran, so no dead space. */
static void assert_end_is_sum(const char *cat)
{
    int64_t end = q_int(cat, "SELECT end_off FROM pack"),
            sum = q_int(cat, "SELECT coalesce(sum(size), 0) FROM blobs WHERE pack_off IS NOT NULL");
    ck_assert_msg(end == sum, "pack end %lld, packed bytes %lld", (long long)end, (long long)sum);
}

/* Every tensor slice of the adapter file in `dir` (written by ru_write_adapter: LAYERS x (A, B) in order)
 * has a blob in the catalog with that hash, stored in the pack when `packed`. */
static void assert_source_stored(const char *cat, const char *dir, int packed)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    size_t n = 0;
    unsigned char *f = cli_slurp(p, &n);
    ck_assert_ptr_nonnull(f);
    uint64_t hlen = 0;
    memcpy(&hlen, f, 8); /* little-endian on the machines we test on */
    ck_assert_uint_eq(n, 8 + hlen + (uint64_t)(2 * LAYERS) * (uint64_t)TBYTES);
    for (int k = 0; k < 2 * LAYERS; k++) {
        char hx[LSC_HASH_HEX], sql[256];
        lsc_hash_bytes(f + 8 + hlen + (size_t)k * (size_t)TBYTES, (size_t)TBYTES, hx);
        snprintf(sql, sizeof sql, "SELECT pack_off IS NOT NULL FROM blobs WHERE hash = '%s' AND size = %lld", hx,
                 (long long)TBYTES);
        ck_assert_int_eq(q_int(cat, sql), packed);
    }
    free(f);
}

/* Placement and bytes: a large adapter's tensors are packed (the source's own bytes), a small one's are
 * inline, the catalog passes every invariant, and export gives back the source's values. */
START_TEST(test_pack_placement)
{
    char cat[4300], big[4400], small[4400], out[4400];
    fresh(cat, sizeof cat, "place");
    big_adapter(big, sizeof big, "place-big", 1);
    snprintf(small, sizeof small, "%s/place-small", g_tmp);
    ck_assert_int_eq(ru_write_adapter(small, 2, LAYERS, 8, 256), 0); /* 8 KiB tensors */
    cli_ok(cat, "import", big, "--name", "big", NULL);
    cli_ok(cat, "import", small, "--name", "small", NULL);
    assert_source_stored(cat, big, 1);
    ck_assert_int_eq(q_int(cat, "SELECT count(*) FROM blobs WHERE pack_off IS NULL AND size = 8192"), 2 * LAYERS);
    ck_assert_int_eq(q_int(cat, "SELECT count(*) FROM blobs WHERE pack_off IS NOT NULL"), 2 * LAYERS);
    ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), 2 * LAYERS * TBYTES);
    ck_assert_int_eq(pack_size(cat), 2 * LAYERS * TBYTES);
    assert_whole(cat, LAYERS);
    /* the bytes come back through the loader: a PEFT export of the same tensors in the same order */
    snprintf(out, sizeof out, "%s/place-out", g_tmp);
    cli_ok(cat, "export", "big", out, NULL);
    char a[4500], b[4500];
    snprintf(a, sizeof a, "%s/adapter_model.safetensors", big);
    snprintf(b, sizeof b, "%s/adapter_model.safetensors", out);
    size_t na = 0, nb = 0;
    unsigned char *fa = cli_slurp(a, &na), *fb = cli_slurp(b, &nb);
    ck_assert_ptr_nonnull(fa);
    ck_assert_ptr_nonnull(fb);
    size_t data = (size_t)(2 * LAYERS) * (size_t)TBYTES;
    ck_assert_uint_ge(nb, data);
    ck_assert_msg(memcmp(fa + na - data, fb + nb - data, data) == 0, "exported tensor bytes differ from the source");
    free(fa);
    free(fb);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start `lorascope --catalog cat import dir --name name` with its output to /dev/null. */
static pid_t start_import(const char *cat, const char *dir, const char *name)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execl(getenv("LSC_BIN"), getenv("LSC_BIN"), "--catalog", cat, "import", dir, "--name", name, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* SIGKILL during large imports at random moments (uniform over 1.25x a clean import's time): after each
 * kill the catalog is whole and the adapter is either there with all its bytes or not there at all;
 * the killed writer's bytes past the committed end are overwritten by the next import, never kept. */
START_TEST(test_pack_sigkill)
{
    char cat[4300], dir[4400], name[64];
    fresh(cat, sizeof cat, "kill");
    big_adapter(dir, sizeof dir, "kill-0", 100);
    double t0 = now_s();
    cli_ok(cat, "import", dir, "--name", "k0", NULL);
    double clean = now_s() - t0;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int rounds = RUNNING_ON_VALGRIND ? 4 : 24, landed = 1, killed_mid = 0;
    for (int i = 1; i <= rounds; i++) {
        big_adapter(dir, sizeof dir, "kill-i", 100 + (uint32_t)i);
        snprintf(name, sizeof name, "k%d", i);
        int64_t end_before = q_int(cat, "SELECT end_off FROM pack");
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        double delay = 1.25 * clean * (double)(rng >> 11) / 9007199254740992.0;
        pid_t pid = start_import(cat, dir, name);
        struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        assert_whole(cat, LAYERS);
        assert_end_is_sum(cat);
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM adapters WHERE name = '%s'", name);
        int64_t there = q_int(cat, sql);
        if (there) {
            landed++;
            assert_source_stored(cat, dir, 1);
            ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), end_before + 2 * LAYERS * TBYTES);
        } else {
            killed_mid++;
            ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), end_before);
            /* the next, unkilled import of the same adapter starts at the old end, over the garbage */
            cli_ok(cat, "import", dir, "--name", name, NULL);
            landed++;
            ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), end_before + 2 * LAYERS * TBYTES);
            assert_source_stored(cat, dir, 1);
            assert_whole(cat, LAYERS);
        }
    }
    ck_assert_int_eq(q_int(cat, "SELECT count(*) FROM adapters"), landed);
    ck_assert_int_eq(pack_size(cat), q_int(cat, "SELECT end_off FROM pack")); /* every byte in use */
    printf("pack: %d SIGKILLs during large imports: %d killed before their commit, all whole\n", rounds, killed_mid);
}
END_TEST

/* Rollback: a batch whose second adapter fails after its bytes were appended (its name taken, found when
 * it is stored) keeps the first and no row of the second; `--strict` rolls the whole batch back. Either
 * way the next import starts at the committed end, writing over the garbage. */
START_TEST(test_pack_rollback)
{
    char cat[4300], a[4400], twin[4400], c[4400];
    fresh(cat, sizeof cat, "rollback");
    snprintf(c, sizeof c, "%s/rb", g_tmp);
    mkdir(c, 0755);
    snprintf(c, sizeof c, "%s/rb/again", g_tmp);
    mkdir(c, 0755);
    big_adapter(a, sizeof a, "rb/good", 200);
    big_adapter(twin, sizeof twin, "rb/again/good", 201);
    /* --strict: the twin's failure takes the whole batch back */
    cli_result r = cli_run(cat, "import", "--strict", a, twin, NULL);
    ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "already exists"));
    cli_result_free(&r);
    ck_assert_int_eq(q_int(cat, "SELECT count(*) FROM blobs"), 0);
    ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), 0);
    int64_t garbage = pack_size(cat);
    ck_assert_int_eq(garbage, 4 * LAYERS * TBYTES); /* both adapters were appended, then rolled back */
    assert_whole(cat, LAYERS);
    /* without --strict: the first stays, the twin's savepoint rolls back its rows and the pack's end */
    r = cli_run(cat, "import", a, twin, NULL);
    ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
    cli_result_free(&r);
    ck_assert_int_eq(q_int(cat, "SELECT count(*) FROM adapters"), 1);
    ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), 2 * LAYERS * TBYTES);
    assert_source_stored(cat, a, 1);
    assert_end_is_sum(cat);
    assert_whole(cat, LAYERS);
    ck_assert_int_eq(pack_size(cat), garbage); /* written over the first attempt's garbage, not past it */
    /* the next import reuses the space the twin's attempt left past the end */
    big_adapter(c, sizeof c, "rb/third", 202);
    cli_ok(cat, "import", c, "--name", "third", NULL);
    ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), 4 * LAYERS * TBYTES);
    ck_assert_int_eq(pack_size(cat), garbage);
    assert_source_stored(cat, c, 1);
    assert_whole(cat, LAYERS);
}
END_TEST

/* A flipped byte in the pack: loading reports the tensor (not a wrong result), and the checker sees it;
 * a pack cut short: the tensor's bytes are reported missing. */
START_TEST(test_pack_corrupt)
{
    char cat[4300], dir[4400], out[4400], pack[4400];
    fresh(cat, sizeof cat, "corrupt");
    big_adapter(dir, sizeof dir, "corrupt-src", 300);
    cli_ok(cat, "import", dir, "--name", "c", NULL);
    /* the B tensor of layer 3 */
    char sql[512], key[200];
    snprintf(key, sizeof key, "base_model.model.model.layers.3.self_attn.q_proj.lora_B.weight");
    snprintf(sql, sizeof sql,
             "SELECT b.pack_off FROM tensors t JOIN blobs b ON b.hash = t.hash WHERE t.key = '%s'", key);
    int64_t off = q_int(cat, sql);
    ck_assert_int_ge(off, 0);
    snprintf(pack, sizeof pack, "%s-pack", cat);
    int fd = open(pack, O_RDWR);
    ck_assert_int_ge(fd, 0);
    unsigned char byte = 0;
    ck_assert_int_eq(pread(fd, &byte, 1, off + 1234), 1);
    byte ^= 0x10;
    ck_assert_int_eq(pwrite(fd, &byte, 1, off + 1234), 1);
    close(fd);
    char why[512];
    ck_assert_int_ne(ru_check_catalog(cat, LAYERS, why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "packed blob"));
    snprintf(out, sizeof out, "%s/corrupt-out", g_tmp);
    cli_result r = cli_run(cat, "export", "c", out, NULL);
    ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
    ck_assert_msg(strstr(r.err, key) && strstr(r.err, "do not match their hash"), "%s", r.err);
    ck_assert_int_eq(cli_lines(r.err), 1);
    cli_result_free(&r);
    /* cut the pack short of that tensor */
    ck_assert_int_eq(truncate(pack, off + 10), 0);
    r = cli_run(cat, "export", "c", out, NULL);
    ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
    ck_assert_msg(strstr(r.err, key) && strstr(r.err, "missing from its pack"), "%s", r.err);
    cli_result_free(&r);
}
END_TEST

/* A pack that cannot be written (a folder in its place): a large import fails with one line naming the
 * pack and leaves the catalog as it was; small tensors still import (inline); once the way is clear the
 * large import succeeds. */
START_TEST(test_pack_unwritable)
{
    char cat[4300], big[4400], small[4400], pack[4400];
    fresh(cat, sizeof cat, "blocked");
    snprintf(small, sizeof small, "%s/blocked-small", g_tmp);
    ck_assert_int_eq(ru_write_adapter(small, 700, LAYERS, 8, 256), 0);
    cli_ok(cat, "import", small, "--name", "small", NULL);
    snprintf(pack, sizeof pack, "%s-pack", cat);
    ck_assert_int_eq(mkdir(pack, 0755), 0);
    big_adapter(big, sizeof big, "blocked-big", 701);
    char *before = cli_names_hashes(cat);
    cli_result r = cli_run(cat, "import", big, "--name", "big", NULL);
    ck_assert_msg(r.code == 1 && strstr(r.err, "pack") && cli_lines(r.err) == 1, "exit %d: %s", r.code, r.err);
    cli_result_free(&r);
    cli_assert_unchanged(cat, before);
    ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), 0);
    assert_whole(cat, LAYERS);
    ck_assert_int_eq(rmdir(pack), 0);
    cli_ok(cat, "import", big, "--name", "big", NULL);
    assert_source_stored(cat, big, 1);
    assert_whole(cat, LAYERS);
}
END_TEST

/* A pack write failing half-way (the file size limit of the process, as a full disk would): the import
 * fails in one line naming the pack, the catalog is as it was (the committed end too), and the next
 * import writes over the partial bytes. */
START_TEST(test_pack_write_fails_midway)
{
    char cat[4300], a[4400], b[4400];
    fresh(cat, sizeof cat, "efbig");
    big_adapter(a, sizeof a, "efbig-a", 800);
    cli_ok(cat, "import", a, "--name", "a", NULL);
    int64_t end = q_int(cat, "SELECT end_off FROM pack");
    char *before = cli_names_hashes(cat);
    big_adapter(b, sizeof b, "efbig-b", 801);
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* room for three and a half more tensors: the fourth pwrite stops short, the fifth fails */
        struct rlimit rl = {(rlim_t)(end + 7 * TBYTES / 2), (rlim_t)(end + 7 * TBYTES / 2)};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        dup2(pipefd[1], 2);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(getenv("LSC_BIN"), getenv("LSC_BIN"), "--catalog", cat, "import", b, "--name", "b", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    char err[2048];
    ssize_t n = read(pipefd[0], err, sizeof err - 1);
    err[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, err);
    ck_assert_msg(strstr(err, "cannot write its pack") && cli_lines(err) == 1, "%s", err);
    ck_assert_int_gt(pack_size(cat), end); /* some bytes of b did land past the end */
    cli_assert_unchanged(cat, before);
    ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), end);
    assert_whole(cat, LAYERS);
    cli_ok(cat, "import", b, "--name", "b", NULL);
    ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), end + 2 * LAYERS * TBYTES);
    ck_assert_int_eq(pack_size(cat), end + 2 * LAYERS * TBYTES);
    assert_source_stored(cat, b, 1);
    assert_whole(cat, LAYERS);
}
END_TEST

/* Many adapters from one catalog held at once, each with a packed tensor loaded, need no file descriptor
 * each (with 256 descriptors allowed, 400 adapters load; a handle keeping its pack open ran out). */
START_TEST(test_pack_many_adapters_few_descriptors)
{
    char cat[4300], dir[4400];
    fresh(cat, sizeof cat, "many");
    big_adapter(dir, sizeof dir, "many-src", 900);
    cli_ok(cat, "import", dir, "--name", "m", NULL);
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    lsc_error err;
    lsc_error_clear(&err);
    lsc_catalog *c = NULL;
    ck_assert_int_eq(lsc_catalog_open(cat, LSC_CATALOG_READONLY, &c, &err), LSC_OK);
    enum { N = 400 };
    static lsc_adapter *ads[N];
    lsc_status st = LSC_OK;
    int k = 0;
    for (; k < N && !st; k++) {
        st = lsc_catalog_get_adapter(c, "m", &ads[k], &err);
        if (!st)
            st = lsc_adapter_load_tensor(ads[k], (size_t)(k % (2 * LAYERS)), &err);
    }
    for (int i = 0; i < k; i++)
        lsc_adapter_free(ads[i]);
    lsc_catalog_close(c);
    setrlimit(RLIMIT_NOFILE, &old);
    ck_assert_msg(st == LSC_OK, "adapter %d: %s", k - 1, err.msg);
}
END_TEST

/* A schema-5 catalog holding large blobs inline (made here from a schema-6 one: the pack's bytes moved
 * into the rows, the v6 column and table dropped, the pack deleted) upgrades when opened, still gives
 * its bytes, and packs the next large import. */
START_TEST(test_pack_old_catalog)
{
    char cat[4300], a[4400], b[4400], pack[4400];
    fresh(cat, sizeof cat, "old");
    big_adapter(a, sizeof a, "old-a", 400);
    cli_ok(cat, "import", a, "--name", "a", NULL);
    char *before = cli_names_hashes(cat);
    snprintf(pack, sizeof pack, "%s-pack", cat);
    size_t np = 0;
    unsigned char *pk = cli_slurp(pack, &np);
    ck_assert_ptr_nonnull(pk);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(cat, &db), SQLITE_OK);
    sqlite3_stmt *sel = NULL, *upd = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT hash, pack_off, size FROM blobs WHERE pack_off IS NOT NULL", -1,
                                        &sel, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "UPDATE blobs SET data = ?2, pack_off = NULL WHERE hash = ?1", -1, &upd,
                                        NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    int moved = 0;
    while (sqlite3_step(sel) == SQLITE_ROW) {
        int64_t off = sqlite3_column_int64(sel, 1), n = sqlite3_column_int64(sel, 2);
        ck_assert_int_le(off + n, (int64_t)np);
        sqlite3_bind_text(upd, 1, (const char *)sqlite3_column_text(sel, 0), -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob64(upd, 2, pk + off, (sqlite3_uint64)n, SQLITE_TRANSIENT);
        ck_assert_int_eq(sqlite3_step(upd), SQLITE_DONE);
        sqlite3_reset(upd);
        moved++;
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    ck_assert_int_eq(moved, 2 * LAYERS);
    ck_assert_int_eq(sqlite3_exec(db, "ALTER TABLE blobs DROP COLUMN pack_off; DROP TABLE pack; DROP TABLE base_change; "
                                      "DROP TABLE base_change_tensors; COMMIT; PRAGMA user_version = 5",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    free(pk);
    ck_assert_int_eq(unlink(pack), 0);
    ck_assert_int_eq(q_int(cat, "PRAGMA user_version"), 5);
    /* opened by lorascope: upgraded, same content, its bytes still load (an export reads every tensor) */
    cli_assert_unchanged(cat, before);
    ck_assert_int_eq(q_int(cat, "PRAGMA user_version"), LSC_CATALOG_VERSION);
    ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), 0);
    assert_source_stored(cat, a, 0);
    char out[4400];
    snprintf(out, sizeof out, "%s/old-out", g_tmp);
    cli_ok(cat, "export", "a", out, NULL);
    /* a new large import goes to the (new) pack */
    big_adapter(b, sizeof b, "old-b", 401);
    cli_ok(cat, "import", b, "--name", "b", NULL);
    assert_source_stored(cat, b, 1);
    assert_source_stored(cat, a, 0);
    ck_assert_int_eq(q_int(cat, "SELECT end_off FROM pack"), 2 * LAYERS * TBYTES);
    assert_whole(cat, LAYERS);
}
END_TEST

/* A reader process exports a packed adapter over and over while this one imports large adapters: every
 * export succeeds with the same bytes (committed ranges are never written again). */
START_TEST(test_pack_reader_during_imports)
{
    char cat[4300], a[4400], first[4400], stop[4400];
    fresh(cat, sizeof cat, "conc");
    big_adapter(a, sizeof a, "conc-a", 500);
    cli_ok(cat, "import", a, "--name", "a", NULL);
    snprintf(first, sizeof first, "%s/conc-first", g_tmp);
    cli_ok(cat, "export", "a", first, NULL);
    snprintf(stop, sizeof stop, "%s/conc-stop", g_tmp);
    int imports = RUNNING_ON_VALGRIND ? 2 : 8;
    pid_t reader = fork();
    if (reader == 0) {
        int n = 0;
        for (;;) {
            int last = access(stop, F_OK) == 0; /* one more export after the writer is done */
            char out[4400];
            snprintf(out, sizeof out, "%s/conc-r%d", g_tmp, n % 2);
            cli_result r = cli_run(cat, "export", "a", out, "--force", NULL);
            if (r.code != 0 || !cli_same_file_in(first, out, "adapter_model.safetensors")) {
                fprintf(stderr, "reader, export %d: exit %d: %s\n", n, r.code, r.err);
                _exit(1);
            }
            cli_result_free(&r);
            n++;
            if (last)
                _exit(n >= 2 ? 0 : 2);
        }
    }
    for (int i = 0; i < imports; i++) {
        char dir[4400], name[32];
        snprintf(name, sizeof name, "conc-w%d", i);
        big_adapter(dir, sizeof dir, name, 510 + (uint32_t)i);
        cli_ok(cat, "import", dir, "--name", name, NULL);
    }
    ck_assert_int_eq(cli_write(stop, "", 0), 0);
    int status = 0;
    waitpid(reader, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the reader failed (status %d)", status);
    ck_assert_int_eq(q_int(cat, "SELECT count(*) FROM adapters"), 1 + imports);
    assert_end_is_sum(cat);
    assert_whole(cat, LAYERS);
}
END_TEST

/* One adapter's statistics spread over 2 workers during its import give the same catalog, every cached
 * figure to the bit, as 1 worker: a large PEFT adapter and the LyCORIS, DoRA and half-precision samples,
 * each imported on its own (the single-import path, not the batch's). */
START_TEST(test_import_stats_threads_same_bits)
{
    char big[4400];
    big_adapter(big, sizeof big, "threads-big", 600);
    ck_assert_int_eq(ru_write_adapter(big, 600, 24, RANK, DIM), 0); /* 24 layers: both workers get some */
    static const char *const samples[] = {"llama-tiny-f32", "llama-tiny-bf16", "llama-tiny-f16", "llama-tiny-dora",
                                          "sd-tiny-loha.safetensors", "sd-tiny-lokr.safetensors",
                                          "sd-tiny-locon-tucker.safetensors", "sd-tiny-dora.safetensors"};
    char *dumps[2];
    for (int t = 0; t < 2; t++) {
        char cat[4300], why[256];
        snprintf(cat, sizeof cat, "%s/threads-%d.db", g_tmp, t + 1);
        setenv("LSC_THREADS", t ? "2" : "1", 1);
        cli_ok(cat, "import", big, "--name", "big", NULL);
        for (size_t k = 0; k < sizeof samples / sizeof samples[0]; k++) {
            char p[4400], name[16];
            snprintf(p, sizeof p, "%s/%s", g_samples, samples[k]);
            snprintf(name, sizeof name, "s%zu", k);
            cli_ok(cat, "import", p, "--name", name, NULL);
        }
        unsetenv("LSC_THREADS");
        ck_assert_int_eq(q_int(cat, "SELECT count(*) FROM layer_stats") > 24, 1);
        dumps[t] = ru_dump(cat, why, sizeof why);
        ck_assert_msg(dumps[t] != NULL, "%s", why);
    }
    ck_assert_msg(strcmp(dumps[0], dumps[1]) == 0, "the catalogs differ between 1 and 2 statistics workers");
    free(dumps[0]);
    free(dumps[1]);
}
END_TEST

int main(void)
{
    if (cli_setup_samples(&g_tmp, g_samples, sizeof g_samples) != 0)
        return 1;
    const TTest *const tests[] = {test_import_stats_threads_same_bits,
                                  test_pack_placement,
                                         test_pack_sigkill,
                                         test_pack_rollback,
                                         test_pack_corrupt,
                                  test_pack_unwritable,
                                  test_pack_write_fails_midway,
                                  test_pack_many_adapters_few_descriptors,
                                         test_pack_old_catalog,
                                         test_pack_reader_during_imports,
                                         NULL};
    return cli_run_suite("pack", tests, 0, g_tmp);
}
