/* check-crash.c: crash safety. The real binary (LSC_BIN) runs edits on a catalog and is killed with
 * SIGKILL at seeded random moments; after every kill the catalog must be whole.
 *
 * Edits: import (of a fresh seeded adapter, so every import writes new blobs), rename, rm, and `run` of a
 * two-line script (import + rename, one transaction). Each edit is first timed once unkilled; then, for
 * each of KILLS rounds, a random edit starts and SIGKILL follows after a random delay uniform over
 * 1.25x that edit's clean duration (some edits finish first; that is part of the sample).
 * After each round, read with SQLite directly (robust_util.c): integrity_check ok, no foreign-key
 * violation, every blob hashes to its key, history and adapters agree, every adapter has all its layers
 * and tensors; and the whole edit is there or none of it: the visible names and the history count equal
 * either the state before the edit or the state after it, nothing in between. Every 10 rounds, and at
 * the end, an unkilled import must succeed (the catalog stays usable).
 * Depends on the binary, SQLite (via robust_util) and libc; never on the command layer's internals. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include "cli_util.h"
#include "robust_util.h"

#define LAYERS 12
#define MAXN 512

typedef struct state {
    char *names[MAXN]; /* visible names, kept sorted */
    int n;
    long hist;
} state;

static char *g_tmp;
static char g_cat[4300];
static uint64_t g_rng = 0x5eed1234abcdull;

static uint32_t rnd(void)
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g_rng >> 33);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void st_add(state *s, const char *name)
{
    ck_assert_int_lt(s->n, MAXN);
    s->names[s->n++] = strdup(name);
    qsort(s->names, (size_t)s->n, sizeof *s->names, cmp_name);
}

static void st_del(state *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) {
            free(s->names[i]);
            memmove(s->names + i, s->names + i + 1, (size_t)(s->n - i - 1) * sizeof *s->names);
            s->n--;
            return;
        }
}

static void st_copy(state *to, const state *from)
{
    for (int i = 0; i < to->n; i++)
        free(to->names[i]);
    to->n = 0;
    for (int i = 0; i < from->n; i++)
        to->names[to->n++] = strdup(from->names[i]);
    to->hist = from->hist;
}

static void st_release(state *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->names[i]);
    s->n = 0;
}

static char *st_text(const state *s)
{
    size_t len = 1;
    for (int i = 0; i < s->n; i++)
        len += strlen(s->names[i]) + 1;
    char *t = malloc(len), *p = t;
    for (int i = 0; i < s->n; i++)
        p += sprintf(p, "%s\n", s->names[i]);
    *p = '\0';
    return t;
}

/* Start the binary on the catalog with argv (NULL-terminated); output goes to /dev/null. */
static pid_t start(char *const *args)
{
    const char *bin = getenv("LSC_BIN");
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)bin;
    argv[n++] = "--catalog";
    argv[n++] = g_cat;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

/* Run to completion; returns the exit code. */
static int run_clean(char *const *args, double *us)
{
    double t0 = now_us();
    int status = 0;
    waitpid(start(args), &status, 0);
    if (us)
        *us = now_us() - t0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

enum { E_IMPORT, E_RENAME, E_RM, E_RUN, E_PRUNE, E_MERGE, E_COUNT };
static const char *const e_names[E_COUNT] = {"import", "rename", "rm", "run", "prune", "merge"};

/* Prepare edit `kind` number i against state `cur`: fills args (strings in bufs) and the state after. */
static void prepare(int kind, int i, const state *cur, char bufs[4][4400], char **args, state *after)
{
    st_copy(after, cur);
    if ((kind == E_RENAME || kind == E_RM || kind == E_PRUNE) && cur->n == 0)
        kind = E_IMPORT;
    if (kind == E_MERGE && cur->n < 2)
        kind = E_IMPORT;
    switch (kind) {
    case E_IMPORT:
    case E_RUN: {
        snprintf(bufs[0], sizeof bufs[0], "%s/ad%d", g_tmp, i);
        ck_assert_int_eq(ru_write_adapter(bufs[0], (uint32_t)i + 1000, LAYERS, 8, 256), 0);
        if (kind == E_IMPORT) {
            snprintf(bufs[1], sizeof bufs[1], "a%d", i);
            args[0] = "import", args[1] = bufs[0], args[2] = "--name", args[3] = bufs[1], args[4] = NULL;
            st_add(after, bufs[1]);
            after->hist += 1;
        } else {
            char script[9000];
            snprintf(bufs[2], sizeof bufs[2], "%s/script%d.lsc", g_tmp, i);
            snprintf(script, sizeof script, "import '%s' --name s%d\nrename s%d t%d\n", bufs[0], i, i, i);
            ck_assert_int_eq(cli_write(bufs[2], script, strlen(script)), 0);
            snprintf(bufs[1], sizeof bufs[1], "t%d", i);
            args[0] = "run", args[1] = bufs[2], args[2] = NULL;
            st_add(after, bufs[1]);
            after->hist += 2;
        }
        break;
    }
    case E_RENAME:
        snprintf(bufs[0], sizeof bufs[0], "%s", cur->names[rnd() % (uint32_t)cur->n]);
        snprintf(bufs[1], sizeof bufs[1], "r%d", i);
        args[0] = "rename", args[1] = bufs[0], args[2] = bufs[1], args[3] = NULL;
        st_del(after, bufs[0]);
        st_add(after, bufs[1]);
        after->hist += 1;
        break;
    case E_PRUNE: /* a derived adapter: new tensors for its cut layers */
        snprintf(bufs[0], sizeof bufs[0], "%s", cur->names[rnd() % (uint32_t)cur->n]);
        snprintf(bufs[1], sizeof bufs[1], "p%d", i);
        args[0] = "prune", args[1] = bufs[0], args[2] = "--rank", args[3] = "3", args[4] = "--as", args[5] = bufs[1];
        args[6] = NULL;
        st_add(after, bufs[1]);
        after->hist += 1;
        break;
    case E_MERGE: { /* two adapters into one, best rank 4 of their sum */
        uint32_t x = rnd() % (uint32_t)cur->n, y = (x + 1 + rnd() % (uint32_t)(cur->n - 1)) % (uint32_t)cur->n;
        snprintf(bufs[0], sizeof bufs[0], "%s", cur->names[x]);
        snprintf(bufs[1], sizeof bufs[1], "%s", cur->names[y]);
        snprintf(bufs[2], sizeof bufs[2], "m%d", i);
        args[0] = "merge", args[1] = bufs[0], args[2] = bufs[1], args[3] = "--method", args[4] = "svd";
        args[5] = "--rank", args[6] = "4", args[7] = "--as";
        args[8] = bufs[2], args[9] = NULL;
        st_add(after, bufs[2]);
        after->hist += 1;
        break;
    }
    default:
        snprintf(bufs[0], sizeof bufs[0], "%s", cur->names[rnd() % (uint32_t)cur->n]);
        args[0] = "rm", args[1] = bufs[0], args[2] = "--force", args[3] = NULL; /* it may have derived adapters */
        st_del(after, bufs[0]);
        after->hist += 1;
        break;
    }
}

/* Check the catalog against `before` and `after`; returns 0 if it matches before, 1 if after. */
static int verify(const state *before, const state *after, const char *what)
{
    char why[1024];
    ck_assert_msg(ru_check_catalog(g_cat, LAYERS, why, sizeof why) == 0, "after %s: %s", what, why);
    char *names = ru_visible_names(g_cat), *b = st_text(before), *a = st_text(after);
    long h = ru_history_count(g_cat);
    ck_assert_ptr_nonnull(names);
    int is_before = strcmp(names, b) == 0 && h == before->hist;
    int is_after = strcmp(names, a) == 0 && h == after->hist;
    ck_assert_msg(is_before || is_after, "after %s: half an edit: names [%s] history %ld; before [%s] %ld, after [%s] %ld",
                  what, names, h, b, before->hist, a, after->hist);
    free(names);
    free(b);
    free(a);
    return is_after;
}

START_TEST(test_sigkill_during_edits)
{
    int kills = RUNNING_ON_VALGRIND ? 15 : 300;
    state cur = {{0}, 0, 0}, after = {{0}, 0, 0};
    char bufs[4][4400];
    char *args[12];
    double dur[E_COUNT] = {0};
    int landed[E_COUNT] = {0}, rolled_back = 0, committed = 0, finished = 0, n = 0;

    /* one clean run of each kind: the catalog exists and each kind's duration is known */
    for (int k = 0; k < E_COUNT; k++, n++) {
        prepare(k, n, &cur, bufs, args, &after);
        ck_assert_int_eq(run_clean(args, &dur[k]), 0);
        ck_assert_int_eq(verify(&cur, &after, e_names[k]), 1);
        st_copy(&cur, &after);
    }
    for (int round = 0; round < kills; round++, n++) {
        int kind = (int)(rnd() % 12);
        kind = kind < 5 ? E_IMPORT : kind < 7 ? E_RENAME : kind < 8 ? E_RM : kind < 9 ? E_RUN : kind < 11 ? E_PRUNE : E_MERGE;
        prepare(kind, n, &cur, bufs, args, &after);
        useconds_t delay = (useconds_t)((double)(rnd() % 10000) / 10000.0 * 1.25 * dur[kind]);
        pid_t pid = start(args);
        usleep(delay);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        char what[128];
        snprintf(what, sizeof what, "round %d (%s killed after %u us)", round, e_names[kind], (unsigned)delay);
        int done = verify(&cur, &after, what);
        if (WIFSIGNALED(status)) {
            landed[kind]++;
            if (done)
                committed++;
            else
                rolled_back++;
        } else {
            ck_assert_msg(WEXITSTATUS(status) == 0, "%s exited %d", what, WEXITSTATUS(status));
            ck_assert_int_eq(done, 1);
            finished++;
        }
        if (done)
            st_copy(&cur, &after);
        if (round % 10 == 9 || round == kills - 1) { /* still usable: a clean import lands */
            n++;
            prepare(E_IMPORT, n, &cur, bufs, args, &after);
            ck_assert_msg(run_clean(args, NULL) == 0, "import after %s failed", what);
            ck_assert_int_eq(verify(&cur, &after, "a clean import"), 1);
            st_copy(&cur, &after);
        }
    }
    printf("crash: %d SIGKILLs: %d mid-edit (import %d, rename %d, rm %d, run %d, prune %d, merge %d: %d rolled "
           "back, %d committed just before the kill), %d edits finished first; %d adapters, %ld history entries, all "
           "checks passed\n",
           kills, kills - finished, landed[E_IMPORT], landed[E_RENAME], landed[E_RM], landed[E_RUN], landed[E_PRUNE],
           landed[E_MERGE], rolled_back, committed, finished, cur.n, cur.hist);
    ck_assert_int_gt(kills - finished, kills / 3); /* most kills must land inside an edit */
    st_release(&cur);
    st_release(&after);
}
END_TEST

/* One SIGTERM during a long pre-check: the binary stops within a generous bound (a bound on
 * responsiveness, 2 s against the ~10 s the checks take here, not a benchmark), exits 1 (cancelled) or
 * dies of the signal, and the catalog file is byte-identical. Before each command could watch the cancel
 * flag, a script being checked or an import header being classified ignored the first SIGTERM. */
#ifdef __SANITIZE_ADDRESS__
enum { SIGTERM_BOUND_MS = 10000 }; /* ASan makes every step 3-5x slower (the uninterrupted checks ~40 s) */
#else
enum { SIGTERM_BOUND_MS = 2000 };
#endif

static void sigterm_promptly(char *const *args, const char *what)
{
    char copy[4400];
    snprintf(copy, sizeof copy, "%s.before", g_cat);
    ck_assert_int_eq(cli_copy(g_cat, copy), 0);
    pid_t pid = start(args);
    usleep(300000); /* past exec and the catalog opening: inside the checks */
    kill(pid, SIGTERM);
    int status = 0, waited_ms = 0;
    pid_t got = 0;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && waited_ms < SIGTERM_BOUND_MS) {
        usleep(10000);
        waited_ms += 10;
    }
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("%s: still running %d ms after SIGTERM", what, SIGTERM_BOUND_MS);
    }
    ck_assert_msg((WIFEXITED(status) && WEXITSTATUS(status) == 1) || (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM),
                  "%s: status %d", what, status);
    ck_assert_msg(cli_same_file(g_cat, copy), "%s: the catalog changed", what);
}

START_TEST(test_sigterm_during_checks)
{
    if (RUNNING_ON_VALGRIND)
        return; /* the bound is for a native run */
    char small[4400], big[4400], script[4400];
    snprintf(small, sizeof small, "%s/term-small", g_tmp);
    snprintf(big, sizeof big, "%s/term-big", g_tmp);
    snprintf(script, sizeof script, "%s/term.lsc", g_tmp);
    remove(g_cat);
    ck_assert_int_eq(ru_write_adapter(small, 7, 1, 1, 4), 0);
    ck_assert_int_eq(ru_write_adapter(big, 8, 30000, 1, 4), 0);
    char *imp[] = {"import", small, "--name", "small", NULL};
    ck_assert_int_eq(run_clean(imp, NULL), 0);
    /* a script of 40000 lines, every one checked before any runs */
    FILE *f = fopen(script, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 40000; i++)
        fprintf(f, "prune small --rank 1 --as n%d\n", i);
    fclose(f);
    char *run[] = {"run", script, NULL};
    sigterm_promptly(run, "run of a 40000-line script");
    /* an adapter of 30000 layers: its header is classified before any layer is stored */
    char *big_imp[] = {"import", big, NULL};
    sigterm_promptly(big_imp, "import of 30000 layers");
}
END_TEST

int main(void)
{
    g_tmp = cli_tmpdir();
    if (!g_tmp || !getenv("LSC_BIN"))
        return 77;
    snprintf(g_cat, sizeof g_cat, "%s/catalog.db", g_tmp);
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("sigkill");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_sigkill_during_edits);
    tcase_add_test(tc, test_sigterm_during_checks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cli_rmtree(g_tmp);
    free(g_tmp);
    return failed != 0;
}
