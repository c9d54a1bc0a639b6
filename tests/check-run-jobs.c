/* check-run-jobs.c: `run --jobs 2` against `run --jobs 1` for every command split for it (prune, merge in
 * its factored and element-wise methods, convert, sparsify, gates, rebudget, share), with the real binary: the
 * same adapters with the same content hashes, the same output and errors, the same history, the same
 * cached statistics (audit), and one undo taking the whole run back (redo re-applying it). Lines that feed later lines (a glob matching what an
 * earlier line makes, an argument naming it) must see the catalog as they would without --jobs: the
 * scripts are built so that they would not if the runner expanded them early. LSC_THREADS=2 and
 * --jobs 2 make two workers run whatever the machine. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "command.h"
#include "pool.h"

static char *g_tmp;
static char g_samples[4200], g_cat[4400];

static int setup(void)
{
    if (cli_setup_samples(&g_tmp, g_samples, sizeof g_samples) != 0)
        return -1;
    snprintf(g_cat, sizeof g_cat, "%s/jobs.db", g_tmp);
    const char *s[] = {"llama-tiny-f32", "llama-tiny-bf16", "llama-tiny-f16", "llama-tiny-adalora", "llama-tiny-sora",
                       "llama-tiny-dora", "sd-tiny-loha.safetensors", "sd-tiny-lokr.safetensors", "tasks"};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", g_samples, s[i]);
        cli_result r = cli_run(g_cat, "import", p, NULL);
        int ok = r.code == 0;
        if (!ok)
            fprintf(stderr, "import %s: %s\n", p, r.err);
        cli_result_free(&r);
        if (!ok)
            return -1;
    }
    return 0;
}

/* The outcome of one run of a script on a fresh copy of the sample catalog. */
typedef struct outcome {
    char cat[4600];
    cli_result r;
    char *listing, *log, *audit;
} outcome;

static void run_copy(outcome *o, const char *tag, int jobs, const char *script, const char *extra)
{
    char sc[4600];
    snprintf(o->cat, sizeof o->cat, "%s/%s-j%d.db", g_tmp, tag, jobs);
    remove(o->cat);
    ck_assert_int_eq(cli_copy(g_cat, o->cat), 0);
    snprintf(sc, sizeof sc, "%s/%s.lsc", g_tmp, tag); /* one path: messages name it */
    ck_assert_int_eq(cli_write(sc, script, strlen(script)), 0);
    const char *j = jobs == 1 ? "1" : "2";
    o->r = extra ? cli_run(o->cat, "run", sc, "--jobs", j, extra, NULL) : cli_run(o->cat, "run", sc, "--jobs", j, NULL);
    o->listing = cli_names_hashes(o->cat);
    cli_result lg = cli_run(o->cat, "log", "--script", NULL);
    ck_assert_int_eq(lg.code, 0);
    o->log = strdup(lg.out);
    cli_result_free(&lg);
    /* every adapter's cached statistics (wasted rank, energies): computed on the workers with --jobs 2 */
    lg = cli_run(o->cat, "audit", "--json", NULL);
    ck_assert_msg(lg.code == 0, "audit: %s", lg.err);
    o->audit = strdup(lg.out);
    cli_result_free(&lg);
}

static void outcome_free(outcome *o)
{
    cli_result_free(&o->r);
    free(o->listing);
    free(o->log);
    free(o->audit);
}

/* Fail with a short message (Check's own is bounded) when two texts differ, both printed to stderr. */
static void same_text(const char *tag, const char *what, const char *a, const char *b)
{
    if (strcmp(a, b) != 0)
        fprintf(stderr, "%s: %s with --jobs 1:\n%s\n%s with --jobs 2:\n%s\n", tag, what, a, what, b);
    ck_assert_msg(strcmp(a, b) == 0, "%s: %s differ between --jobs 1 and 2 (both on stderr)", tag, what);
}

/* Run the script with --jobs 1 and --jobs 2 and require the same exit code, output, errors, adapters and
 * history; with want_ok, also undo (the catalog as before) and redo (as after) on the --jobs 2 copy. */
static void same_both(const char *tag, const char *script, const char *extra, int want_code)
{
    outcome a, b;
    char *before = cli_names_hashes(g_cat);
    run_copy(&a, tag, 1, script, extra);
    run_copy(&b, tag, 2, script, extra);
    ck_assert_msg(a.r.code == want_code, "%s --jobs 1: exit %d: %s", tag, a.r.code, a.r.err);
    ck_assert_msg(b.r.code == want_code, "%s --jobs 2: exit %d: %s", tag, b.r.code, b.r.err);
    same_text(tag, "errors", a.r.err, b.r.err);
    same_text(tag, "outputs", a.r.out, b.r.out);
    same_text(tag, "adapters", a.listing, b.listing);
    same_text(tag, "histories", a.log, b.log);
    same_text(tag, "audits", a.audit, b.audit);
    if (want_code != 0 && !extra) /* one transaction: a failed run leaves nothing */
        same_text(tag, "the catalog before and after the failed run", before, b.listing);
    if (want_code == 0) {
        ck_assert_msg(strcmp(before, b.listing) != 0, "%s: the run changed nothing", tag);
        cli_result u = cli_run(b.cat, "undo", NULL);
        ck_assert_msg(u.code == 0, "undo: %s", u.err);
        cli_result_free(&u);
        char *undone = cli_names_hashes(b.cat);
        same_text(tag, "the catalog before the run and after its undo", before, undone);
        u = cli_run(b.cat, "redo", NULL);
        ck_assert_msg(u.code == 0, "redo: %s", u.err);
        cli_result_free(&u);
        char *redone = cli_names_hashes(b.cat);
        same_text(tag, "the catalog after the run and after redo", b.listing, redone);
        free(undone);
        free(redone);
    }
    free(before);
    outcome_free(&a);
    outcome_free(&b);
}

static const char *const g_every =
    "convert 'llama-tiny-[as]*ora' --to static --as '{}-st'\n"
    "convert 'sd-tiny-lo*' --to static --as '{}-st'\n"
    "gates llama-tiny-sora --threshold 0.8 --as g08\n"
    "gates llama-tiny-sora --threshold 0.5 --as g05\n"
    "rebudget llama-tiny-adalora 8 --as rb8\n"
    "sparsify 'llama-tiny-f*' --density 0.5 --as '{}-sp'\n"
    "merge llama-tiny-f32 llama-tiny-bf16 --method svd --rank 4 --as msvd\n"
    "merge llama-tiny-f32 llama-tiny-f16 --method ties --rank 4 --density 0.5 --as mties\n"
    "merge llama-tiny-f32 llama-tiny-f16 --method cat --as mcat\n"
    /* the -sp adapters of line 6 match this glob: it must wait for them */
    "merge 'llama-tiny-f*' llama-tiny-bf16 --method linear --as mlin\n"
    "prune 'llama-tiny-f*-sp' --rank 2 --as '{}-r2'\n"
    /* names outputs of lines 7 and 8, still pending when it is prepared */
    "merge msvd mties --method linear --as dep\n"
    "sparsify 'sd-tiny-lo*-st' --density 0.5 --as '{}-sp'\n"
    "prune 'sd-tiny-lo[hk][ar]' --rank 2 --as '{}-r2'\n"
    "gates g08 --threshold 0.1 --as g08b\n"
    "share tasks --rank 4 --as hyd\n"
    "share tasks --rank 2\n"
    "prune llama-tiny-bf16 --energy 0.9 --as after-share\n";

/* Every split command, on globs and on independent lines, LyCORIS inputs among them; later lines read
 * earlier lines' outputs by name and by glob (the runner must store the pending ones first). */
START_TEST(test_jobs_every_split)
{
    same_both("every", g_every, NULL, 0);
}
END_TEST

/* Adapters too big to hold (LSC_HOLD_BYTES: 300,000 holds the small kinds and LyCORIS samples, not the
 * 600 KB llama-tiny ones nor their merges; 1 holds none) run in turn, streamed, between the held ones:
 * the same result again. */
START_TEST(test_jobs_too_big_in_turn)
{
    setenv("LSC_HOLD_BYTES", "300000", 1);
    same_both("mixed", g_every, NULL, 0);
    setenv("LSC_HOLD_BYTES", "1", 1);
    same_both("none", g_every, NULL, 0);
    unsetenv("LSC_HOLD_BYTES");
}
END_TEST

/* The first failure in order wins with the same message, and nothing is committed: a compute failure in
 * the middle of a glob (a plain LoRA has nothing to convert), a name a pending line makes, a refusal in
 * prepare after other lines are pending (DoRA), a rebudget that cannot grow, gates on a plain LoRA. */
START_TEST(test_jobs_same_errors)
{
    same_both("err-convert", "sparsify llama-tiny-f32 --density 0.5 --as s1\n"
                             "convert 'llama-tiny-*' --to static --as '{}-c'\n", NULL, 1);
    same_both("err-name", "sparsify llama-tiny-f32 --density 0.5 --as x\n"
                          "gates llama-tiny-sora --threshold 0.5 --as x\n", NULL, 1);
    same_both("err-dora", "sparsify llama-tiny-f32 --density 0.5 --as s1\n"
                          "merge llama-tiny-dora llama-tiny-f32 --method cat --as m\n", NULL, 1);
    same_both("err-budget", "gates llama-tiny-sora --threshold 0.5 --as g\n"
                            "rebudget llama-tiny-adalora 100000 --as rb\n", NULL, 1);
    same_both("err-gates", "gates 'llama-tiny-*' --threshold 0.5 --as '{}-g'\n", NULL, 1);
    /* --continue: each line on its own; the failing ones listed, the others applied, in both */
    same_both("err-cont", "sparsify llama-tiny-f32 --density 0.5 --as x\n"
                          "gates llama-tiny-sora --threshold 0.5 --as x\n"
                          "convert 'llama-tiny-*' --to static --as '{}-c'\n"
                          "merge llama-tiny-f32 llama-tiny-f16 --method svd --rank 2 --as y\n", "--continue", 1);
}
END_TEST

/* A diagnostics sink that sets the cancel flag at the first progress line it sees (line 1 done). */
static volatile int g_cancel;
static void cancel_write(lsc_sink *s, const char *data, size_t n)
{
    (void)s;
    if (memmem(data, n, "[1/", 3))
        g_cancel = 1;
}

/* Ctrl-C after line 1, in the process: the next line stops the run with the same message and nothing is
 * committed, whether line 1 was computed on the pool or not. */
START_TEST(test_jobs_cancel)
{
    const char *script = "sparsify 'llama-tiny-f*' --density 0.5 --as '{}-c'\n"
                         "expect exists llama-tiny-f32-c\n"
                         "prune llama-tiny-bf16 --rank 2 --as p\n";
    char sc[4600], cat[4600], msg[2][LSC_ERROR_MSG_MAX];
    snprintf(sc, sizeof sc, "%s/cancel.lsc", g_tmp);
    ck_assert_int_eq(cli_write(sc, script, strlen(script)), 0);
    char *before = cli_names_hashes(g_cat);
    lsc_pool_set_default(2);
    for (int jobs = 1; jobs <= 2; jobs++) {
        snprintf(cat, sizeof cat, "%s/cancel-j%d.db", g_tmp, jobs);
        remove(cat);
        ck_assert_int_eq(cli_copy(g_cat, cat), 0);
        lsc_sink out, diag;
        lsc_sink_init_mem(&out);
        lsc_sink_init_null(&diag);
        diag.write = cancel_write;
        lsc_cmd_ctx ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.catalog_path = cat;
        ctx.out = &out;
        ctx.diag = &diag;
        g_cancel = 0;
        ctx.cancel = &g_cancel;
        char *argv[] = {"run", sc, "--jobs", jobs == 1 ? "1" : "2", NULL};
        ck_assert_int_eq(lsc_dispatch(&ctx, 4, argv), LSC_EXIT_ERROR);
        snprintf(msg[jobs - 1], sizeof msg[0], "%s", ctx.err.msg);
        lsc_sink_release(&out);
        char *after = cli_names_hashes(cat);
        same_text("cancel", "the catalog before and after the cancelled run", before, after);
        free(after);
    }
    ck_assert_msg(strstr(msg[0], "cancel.lsc:2: cancelled"), "%s", msg[0]);
    ck_assert_str_eq(msg[0], msg[1]);
    free(before);
}
END_TEST

int main(void)
{
    setenv("LSC_THREADS", "2", 1); /* the binary's own pool too: two workers on any machine */
    if (setup() != 0) {
        fprintf(stderr, "cannot build the sample catalog\n");
        return 1;
    }
    const TTest *const tests[] = {test_jobs_every_split, test_jobs_too_big_in_turn, test_jobs_same_errors, test_jobs_cancel,
                                  NULL};
    return cli_run_suite("run-jobs", tests, 0, g_tmp);
}
