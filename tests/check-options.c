/* check-options.c: every command's option table (app/cmd/options.h), walked without a catalog.
 *
 * For each command: every option parses its default; a value just outside its bounds (or not among its
 * choices) is refused with exit 2 and a message naming the option and the bound or every choice; a
 * minimal line built from the table parses; --help lists every documented option and the usage line
 * every option it should; whether an option takes a value comes from the table. Then the strict number
 * parsers against hand-picked strings, and the dispatcher never runs a command whose line does not
 * validate (no catalog is created). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "options.h"
#include "numfmt.h"
#include "suggest.h"

static lsc_sink g_null;

static void ctx_init(lsc_cmd_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    lsc_sink_init_null(&g_null);
    ctx->out = ctx->diag = &g_null;
}

/* A value inside the entry's bounds, as text. */
static const char *good_value(const lsc_opt *o, char *buf, size_t cap)
{
    switch (o->type) {
    case LSC_OPT_INT: snprintf(buf, cap, "%lld", o->ilo); break;
    case LSC_OPT_U64: snprintf(buf, cap, "7"); break;
    case LSC_OPT_REAL:
        if (isinf(o->lo))
            snprintf(buf, cap, "%.17g", isinf(o->hi) ? 0.0 : o->hi);
        else if (isinf(o->hi))
            snprintf(buf, cap, "%.17g", o->lo + 1);
        else
            snprintf(buf, cap, "%.17g", (o->lo + o->hi) / 2);
        break;
    case LSC_OPT_CHOICE: snprintf(buf, cap, "%s", o->choices[0]); break;
    default: snprintf(buf, cap, "x"); break;
    }
    return buf;
}

/* argv: the command, its required positionals and required options with good values, then extra. */
static int minimal_line(const lsc_command *c, char **argv, char store[][64], const char *const *extra)
{
    int argc = 0, k = 0;
    argv[argc++] = (char *)c->name;
    for (const lsc_opt *o = c->spec->opts; o->type != LSC_OPT_END; o++) {
        int times = (o->flags & LSC_OPT_MANY) ? o->min_n : (o->flags & LSC_OPT_OPTIONAL) ? 0 : 1;
        if (o->flags & LSC_OPT_POSITIONAL)
            for (int t = 0; t < times; t++)
                argv[argc++] = (char *)good_value(o, store[k++], 64);
        else if (o->flags & LSC_OPT_REQUIRED) {
            snprintf(store[k], 64, "--%s", o->name);
            argv[argc++] = store[k++];
            if (o->type != LSC_OPT_FLAG)
                argv[argc++] = (char *)good_value(o, store[k++], 64);
        }
    }
    for (; extra && *extra; extra++)
        argv[argc++] = (char *)*extra;
    argv[argc] = NULL;
    return argc;
}

/* Parse the minimal line plus "--name value"; returns the exit code, message in msg. */
static int parse_with(const lsc_command *c, const lsc_opt *o, const char *value, char *msg, size_t cap)
{
    char *argv[64], store[32][64], opt[64];
    snprintf(opt, sizeof opt, "--%s", o->name);
    const char *extra[] = {opt, value, NULL};
    int argc = minimal_line(c, argv, store, extra);
    lsc_cmd_ctx ctx;
    ctx_init(&ctx);
    lsc_args *a = calloc(1, c->spec->args_size);
    int rc = lsc_opts_parse(&ctx, c->name, c->spec->opts, argc, argv, a);
    snprintf(msg, cap, "%s", ctx.err.msg);
    free(a->pos);
    free(a);
    return rc;
}

static void assert_refused(const lsc_command *c, const lsc_opt *o, const char *value, const char *bound)
{
    char msg[LSC_ERROR_MSG_MAX], opt[64];
    int rc = parse_with(c, o, value, msg, sizeof msg);
    snprintf(opt, sizeof opt, "--%s", o->name);
    ck_assert_msg(rc == LSC_EXIT_USAGE, "%s %s %s: accepted", c->name, opt, value);
    ck_assert_msg(strstr(msg, opt) != NULL, "%s %s %s: '%s' does not name the option", c->name, opt, value, msg);
    ck_assert_msg(strstr(msg, bound) != NULL, "%s %s %s: '%s' does not name '%s'", c->name, opt, value, msg, bound);
}

START_TEST(test_every_table)
{
    ck_assert_int_gt((int)lsc_n_commands, 20);
    for (size_t ci = 0; ci < lsc_n_commands; ci++) {
        const lsc_command *c = &lsc_commands[ci];
        ck_assert_msg(c->spec && c->spec->opts && c->spec->run, "%s has no table", c->name);
        int n = 0, after_optional = 0;
        for (const lsc_opt *o = c->spec->opts; o->type != LSC_OPT_END; o++, n++) {
            if (o->flags & LSC_OPT_POSITIONAL) {
                /* optional and repeatable positionals only at the end */
                ck_assert_msg(!after_optional, "%s: a positional after an optional one", c->name);
                after_optional = (o->flags & (LSC_OPT_OPTIONAL | LSC_OPT_MANY)) != 0;
                ck_assert_ptr_nonnull(o->metavar);
                continue;
            }
            char buf[64], msg[LSC_ERROR_MSG_MAX];
            ck_assert_msg(o->help != NULL, "%s --%s has no help line", c->name, o->name);
            ck_assert_msg(o->type == LSC_OPT_FLAG || o->metavar, "%s --%s has no metavar", c->name, o->name);
            ck_assert_int_eq(lsc_command_option_takes_value(c, (snprintf(buf, sizeof buf, "--%s", o->name), buf)),
                             o->type != LSC_OPT_FLAG);
            if (o->type == LSC_OPT_FLAG || o->type == LSC_OPT_LIST)
                continue;
            /* the default parses, and so does a value inside the bounds */
            if (o->def)
                ck_assert_msg(parse_with(c, o, o->def, msg, sizeof msg) == LSC_EXIT_OK, "%s --%s default '%s': %s",
                              c->name, o->name, o->def, msg);
            ck_assert_msg(parse_with(c, o, good_value(o, buf, sizeof buf), msg, sizeof msg) == LSC_EXIT_OK,
                          "%s --%s %s: %s", c->name, o->name, buf, msg);
            char v[64], b[64];
            switch (o->type) {
            case LSC_OPT_INT:
                snprintf(v, sizeof v, "%lld", o->ilo - 1);
                snprintf(b, sizeof b, "%lld", o->ilo);
                assert_refused(c, o, v, b);
                if (o->ihi < LLONG_MAX) {
                    snprintf(v, sizeof v, "%lld", o->ihi + 1);
                    snprintf(b, sizeof b, "%lld", o->ihi);
                } else {
                    snprintf(v, sizeof v, "9223372036854775808");
                }
                assert_refused(c, o, v, b);
                assert_refused(c, o, "2.5", b);
                break;
            case LSC_OPT_U64:
                assert_refused(c, o, "-1", "18446744073709551615");
                assert_refused(c, o, "18446744073709551616", "18446744073709551615");
                break;
            case LSC_OPT_REAL:
                snprintf(b, sizeof b, "%g", o->lo);
                snprintf(v, sizeof v, "%.17g", (o->flags & LSC_OPT_LO_OPEN) ? o->lo : o->lo - 1);
                if (!isinf(o->lo))
                    assert_refused(c, o, v, b);
                snprintf(b, sizeof b, "%g", o->hi);
                snprintf(v, sizeof v, "%.17g", (o->flags & LSC_OPT_HI_OPEN) ? o->hi : o->hi + 1);
                if (!isinf(o->hi))
                    assert_refused(c, o, v, b);
                assert_refused(c, o, "nan", "--");
                assert_refused(c, o, "inf", "--");
                break;
            case LSC_OPT_CHOICE:
                for (int k = 0; o->choices[k]; k++)
                    assert_refused(c, o, "no-such-choice", o->choices[k]);
                break;
            default: break;
            }
        }
        ck_assert_int_le(n, 64); /* lsc_args.seen has 64 bits */
    }
}
END_TEST

START_TEST(test_help_from_table)
{
    for (size_t ci = 0; ci < lsc_n_commands; ci++) {
        const lsc_command *c = &lsc_commands[ci];
        lsc_sink out;
        lsc_sink_init_mem(&out);
        lsc_command_print_help(&out, c);
        char want[128];
        snprintf(want, sizeof want, "usage: lorascope %s", c->name);
        ck_assert_msg(strncmp(out.buf, want, strlen(want)) == 0, "%s: '%s'", c->name, out.buf);
        const char *usage_end = strchr(out.buf, '\n');
        for (const lsc_opt *o = c->spec->opts; o->type != LSC_OPT_END; o++) {
            if (o->help) { /* the first help line, as written in the table */
                char first[256];
                snprintf(first, sizeof first, "%.*s", (int)strcspn(o->help, "\n"), o->help);
                ck_assert_msg(strstr(usage_end, first) != NULL, "%s: help lacks '%s'", c->name, first);
            }
            if (o->name && !(o->flags & LSC_OPT_NOUSAGE)) {
                snprintf(want, sizeof want, "%s%s", o->usage ? "" : "--", o->usage ? o->usage : o->name);
                char *hit = strstr(out.buf, want);
                ck_assert_msg(hit && hit < usage_end, "%s: usage lacks %s", c->name, want);
            }
        }
        lsc_sink_release(&out);
    }
}
END_TEST

START_TEST(test_strict_integers)
{
    long long v = 42;
    ck_assert_int_eq(lsc_parse_int("12", 1, 100, &v), 0);
    ck_assert_int_eq(v, 12);
    ck_assert_int_eq(lsc_parse_int("-3", -5, 5, &v), 0);
    ck_assert_int_eq(v, -3);
    ck_assert_int_eq(lsc_parse_int("9223372036854775807", 0, LLONG_MAX, &v), 0);
    ck_assert(v == LLONG_MAX);
    ck_assert_int_eq(lsc_parse_int("-9223372036854775808", LLONG_MIN, 0, &v), 0);
    ck_assert(v == LLONG_MIN);
    const char *bad[] = {"", "-", "+1", " 1", "1 ", "0x10", "1e3", "2.5", "1e99", "99999999999999999999",
                         "9223372036854775808", "-9223372036854775809", "１", "12a", NULL};
    for (int i = 0; bad[i]; i++) {
        v = 42;
        ck_assert_msg(lsc_parse_int(bad[i], LLONG_MIN, LLONG_MAX, &v) != 0, "'%s' accepted", bad[i]);
        ck_assert_int_eq(v, 42);
    }
    ck_assert_int_ne(lsc_parse_int("0", 1, 10, &v), 0);
    ck_assert_int_ne(lsc_parse_int("11", 1, 10, &v), 0);
    uint64_t u = 0;
    ck_assert_int_eq(lsc_parse_u64("18446744073709551615", &u), 0);
    ck_assert(u == UINT64_MAX);
    ck_assert_int_ne(lsc_parse_u64("18446744073709551616", &u), 0);
    ck_assert_int_ne(lsc_parse_u64("-1", &u), 0);
    ck_assert_int_ne(lsc_parse_u64("", &u), 0);
}
END_TEST

START_TEST(test_strict_reals)
{
    double v = 0;
    ck_assert_int_eq(lsc_parse_real("0.25", 0, 1, LSC_OPT_LO_OPEN, &v), 0);
    ck_assert(v == 0.25);
    ck_assert_int_eq(lsc_parse_real("1", 0, 1, LSC_OPT_LO_OPEN, &v), 0);
    ck_assert_int_ne(lsc_parse_real("0", 0, 1, LSC_OPT_LO_OPEN, &v), 0);
    ck_assert_int_eq(lsc_parse_real("0", 0, 1, 0, &v), 0);
    ck_assert_int_ne(lsc_parse_real("1", 0, 1, LSC_OPT_HI_OPEN, &v), 0);
    ck_assert_int_eq(lsc_parse_real("1e-3", 0, HUGE_VAL, 0, &v), 0);
    ck_assert(v == 1e-3);
    const char *bad[] = {"", " 1", "1 ", "nan", "inf", "-inf", "1e400", "0x10", "1,5", "abc", NULL};
    for (int i = 0; bad[i]; i++) {
        v = 7;
        ck_assert_msg(lsc_parse_real(bad[i], -HUGE_VAL, HUGE_VAL, 0, &v) != 0, "'%s' accepted", bad[i]);
        ck_assert(v == 7);
    }
}
END_TEST

/* A line that does not validate never reaches the catalog: none is created. */
START_TEST(test_usage_before_catalog)
{
    char dir[] = "/tmp/lsc-options-XXXXXX", cat[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cat, sizeof cat, "%s/c.db", dir);
    char *lines[][8] = {{"prune", "x", "--rank", "2", "--energy", "0.5", NULL},
                        {"merge", "a", "b", "--method", "svd", NULL},
                        {"merge", "a", "b", "--method", "linear", "--density", "0.5", NULL},
                        {"merge", "a", "b", "--method", "cat", "--weights", "1,2,3", NULL},
                        {"export", "a", "p", "--n-head-kv", "4", NULL},
                        {"retrain", "a", "--target", "b", "--base", "c", NULL},
                        {"drop", "a", "--layers", "", NULL},
                        {"group", "g", "a", "b", "--tasks", "t1,,", NULL}};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        int argc = 0;
        while (lines[i][argc])
            argc++;
        lsc_cmd_ctx ctx;
        ctx_init(&ctx);
        ctx.catalog_path = cat;
        ck_assert_msg(lsc_dispatch(&ctx, argc, lines[i]) == LSC_EXIT_USAGE, "%s: %s", lines[i][0], ctx.err.msg);
        struct stat sb;
        ck_assert_int_ne(stat(cat, &sb), 0);
    }
    /* a script check parses only: a valid line is not run either */
    lsc_cmd_ctx ctx;
    ctx_init(&ctx);
    ctx.catalog_path = cat;
    ctx.check_only = 1;
    char *ok[] = {"merge", "a", "b", "--method", "dare-ties", "--rank", "4", "--density", "0.5", NULL};
    ck_assert_int_eq(lsc_dispatch(&ctx, 9, ok), LSC_EXIT_OK);
    struct stat sb;
    ck_assert_int_ne(stat(cat, &sb), 0);
    rmdir(dir);
}
END_TEST

/* What the TUI prompt and the script runner ask the table. */
START_TEST(test_table_queries)
{
    const lsc_command *merge = lsc_command_find("merge"), *group = lsc_command_find("group"),
                      *prune = lsc_command_find("prune"), *log = lsc_command_find("log");
    ck_assert(lsc_command_positional_is_adapter(merge, 0) && lsc_command_positional_is_adapter(merge, 5));
    ck_assert(lsc_command_takes_many_adapters(merge) && !lsc_command_takes_many_adapters(prune));
    ck_assert(!lsc_command_positional_is_adapter(group, 0) && lsc_command_positional_is_adapter(group, 1));
    ck_assert(!lsc_command_positional_is_adapter(log, 0));
    ck_assert(lsc_command_option_takes_value(prune, "--energy") && lsc_command_option_takes_value(prune, "--as=x"));
    ck_assert(!lsc_command_option_takes_value(prune, "--prefix") && !lsc_command_option_takes_value(prune, "--nope"));
    void *args = NULL;
    lsc_cmd_ctx ctx;
    ctx_init(&ctx);
    char *line[] = {"merge", "a", "--as=m", "b", "--method=dare-linear", "--rank", "3", "--weights", "0.5,-2", NULL};
    ck_assert_int_eq(lsc_command_parse(&ctx, merge, 9, line, &args), LSC_EXIT_OK);
    const lsc_args *a = args;
    ck_assert_int_eq(a->npos, 2);
    ck_assert_str_eq(a->pos[0], "a");
    ck_assert_str_eq(a->pos[1], "b");
    ck_assert(lsc_opts_given(merge->spec->opts, args, "as") && !lsc_opts_given(merge->spec->opts, args, "seed"));
    lsc_command_args_free(args);
    /* argv is not permuted */
    ck_assert_str_eq(line[2], "--as=m");
    char *amb[] = {"prune", "a", "--r", "3", NULL}; /* --rank or --ratio */
    ck_assert_int_eq(lsc_command_parse(&ctx, prune, 4, amb, &args), LSC_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(ctx.err.msg, "ambiguous option '--r'"));
    ck_assert_ptr_null(args);
}
END_TEST

/* The edit distance on hand-worked pairs, and the cut-off (issue #15, item 11). */
START_TEST(test_edit_distance)
{
    struct { const char *a, *b; size_t d; } cases[] = {
        {"", "", 0}, {"", "abc", 3}, {"show", "show", 0}, {"shwo", "show", 1}, {"SVD", "svd", 0},
        {"kitten", "sitting", 3}, {"ca", "abc", 3} /* optimal string alignment: no edit of a swapped pair */,
        {"abcdef", "badcfe", 3}, {"llama-tiny-f3", "llama-tiny-f32", 1}, {"flaw", "lawn", 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_msg(lsc_edit_distance(cases[i].a, cases[i].b) == cases[i].d, "%s/%s", cases[i].a, cases[i].b);
        ck_assert_msg(lsc_edit_distance(cases[i].b, cases[i].a) == cases[i].d, "%s/%s", cases[i].b, cases[i].a);
    }
    lsc_suggest sg;
    char buf[256];
    lsc_suggest_init(&sg, "x"); /* one byte is never "near" */
    lsc_suggest_add(&sg, "y");
    lsc_suggest_add(&sg, "ls");
    ck_assert_str_eq(lsc_suggest_text(&sg, buf, sizeof buf), "");
    lsc_suggest_init(&sg, "rnak");
    lsc_suggest_add(&sg, "rank");
    lsc_suggest_add(&sg, "norm");
    ck_assert_str_eq(lsc_suggest_text(&sg, buf, sizeof buf), "; did you mean 'rank'?");
    lsc_suggest_init(&sg, "ls2");
    lsc_suggest_add(&sg, "ls"); lsc_suggest_add(&sg, "ls3"); lsc_suggest_add(&sg, "log");
    ck_assert_str_eq(lsc_suggest_text(&sg, buf, sizeof buf), "; did you mean 'ls' or 'ls3'?");
    lsc_suggest_init(&sg, "spec"); /* a prefix */
    lsc_suggest_add(&sg, "spectrum");
    ck_assert_str_eq(lsc_suggest_text(&sg, buf, sizeof buf), "; did you mean 'spectrum'?");
}
END_TEST

/* Every command, option and choice of every table is suggested for a one-edit typo of itself: the
 * dispatcher for commands, the option parser for options and choices. */
START_TEST(test_did_you_mean_everywhere)
{
    char want[256];
    for (size_t c = 0; c < lsc_n_commands; c++) {
        const lsc_command *cmd = &lsc_commands[c];
        char typo[64];
        snprintf(typo, sizeof typo, "%sq", cmd->name); /* one letter too many */
        lsc_cmd_ctx ctx;
        ctx_init(&ctx);
        char *argv[] = {typo, NULL};
        ck_assert_int_eq(lsc_dispatch(&ctx, 1, argv), LSC_EXIT_USAGE);
        snprintf(want, sizeof want, "'%s'", cmd->name);
        ck_assert_msg(strstr(ctx.err.msg, "did you mean") && strstr(ctx.err.msg, want), "%s: %s", typo, ctx.err.msg);
        for (const lsc_opt *o = cmd->spec->opts; o->type != LSC_OPT_END; o++) {
            if (!o->name || strlen(o->name) < 3)
                continue;
            char opt[80];
            snprintf(opt, sizeof opt, "--%sq", o->name);
            char *line[] = {(char *)cmd->name, opt, NULL};
            void *args = NULL;
            ck_assert_int_eq(lsc_command_parse(&ctx, cmd, 2, line, &args), LSC_EXIT_USAGE);
            snprintf(want, sizeof want, "'--%s'", o->name);
            ck_assert_msg(strstr(ctx.err.msg, "did you mean") && strstr(ctx.err.msg, want), "%s %s: %s", cmd->name, opt,
                          ctx.err.msg);
            if (o->type != LSC_OPT_CHOICE)
                continue;
            for (int k = 0; o->choices[k]; k++) {
                char val[80], eq[160];
                snprintf(val, sizeof val, "%.*s", (int)strlen(o->choices[k]) - 1, o->choices[k]); /* last letter lost */
                if (strlen(val) < 2)
                    continue;
                snprintf(eq, sizeof eq, "--%s=%sz", o->name, val);
                char *l2[] = {(char *)cmd->name, eq, NULL};
                int rc = lsc_command_parse(&ctx, cmd, 2, l2, &args);
                lsc_command_args_free(args);
                ck_assert_int_eq(rc, LSC_EXIT_USAGE);
                snprintf(want, sizeof want, "'%s'", o->choices[k]);
                ck_assert_msg(strstr(ctx.err.msg, "did you mean") && strstr(ctx.err.msg, want), "%s %s: %s", cmd->name,
                              eq, ctx.err.msg);
            }
        }
    }
}
END_TEST

/* One percentage rule and one "nothing to compare" text (issue #15, item 5), on hand-worked values:
 * halves round away from zero at every decimal count (12.5% at 0 decimals is 13%, 37.5% is 38%,
 * 6.25% at 1 is 6.3%), and no NaN, "-0" or x0 ratio is ever written. */
START_TEST(test_numfmt)
{
    struct { double f; int d; const char *want; } cases[] = {
        {0.125, 0, "13%"}, {0.375, 0, "38%"}, {0.625, 0, "63%"}, {0.125, 1, "12.5%"}, {0.0625, 1, "6.3%"},
        {0.145, 0, "15%"}, {0.00005, 2, "0.01%"}, {1.0, 1, "100.0%"}, {0.0, 1, "0.0%"}, {-0.0001, 1, "0.0%"},
        {0.99996, 4, "99.9960%"}, {NAN, 1, LSC_NA}, {INFINITY, 0, LSC_NA}};
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_str_eq(lsc_fmt_pct(buf, sizeof buf, cases[i].f, cases[i].d), cases[i].want);
    ck_assert(isnan(lsc_ratio(1, 0)) && isnan(lsc_ratio(0, 0)) && isnan(lsc_ratio(NAN, 1)) && isnan(lsc_ratio(1, -2)));
    ck_assert(lsc_ratio(3, 4) == 0.75);
    ck_assert_str_eq(lsc_fmt_num(buf, sizeof buf, "x%.4f", lsc_ratio(0, 0)), "n/a");
    ck_assert_str_eq(lsc_fmt_num(buf, sizeof buf, "x%.4f", lsc_ratio(1, 8)), "x0.1250");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("options");
    tcase_add_test(tc, test_every_table);
    tcase_add_test(tc, test_help_from_table);
    tcase_add_test(tc, test_strict_integers);
    tcase_add_test(tc, test_strict_reals);
    tcase_add_test(tc, test_usage_before_catalog);
    tcase_add_test(tc, test_table_queries);
    tcase_add_test(tc, test_edit_distance);
    tcase_add_test(tc, test_did_you_mean_everywhere);
    tcase_add_test(tc, test_numfmt);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
