/* check-tui-prompt.c: the workbench's `:` command line without curses (issue #15).
 *
 * complete.c on hand-worked cases: command names, "--met" to "--method" from merge's option table, the
 * choices after "--method", adapter names for a positional that names an adapter and after an adapter
 * option, layer names after "--layers", the common prefix and the candidate list (the smallest names of
 * many, given in catalog order); then the class: every option of every command completes from its own prefix, and
 * every choice of every choice option from its. lsc_suggest on typos and on words too far to be one.
 * Through the state (fake model): Tab, Up/Down over a history kept in a file across two states, `:help`
 * and `:help CMD` in the output pane, "did you mean" for a command and an option, `:rm` asking first, and
 * Ctrl-C cancelling the prompt and a question and quitting only on a second press at rest. The key map:
 * no key with two meanings within a view's reach, the letters m t R o K one meaning everywhere, and a
 * key that does nothing saying so.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "complete.h"
#include "keys.h"
#include "state.h"
#include "test_tmp.h"
#include "tui_fake_model.h"

#define SEED 20240101u

static const char *const k_adapters[] = {"llama2-7b-code", "chat-b", "code", "llama2-7b-chat", "chat-a"};
static const char *const k_layers[] = {"model.layers.0.mlp.down_proj", "model.layers.0.self_attn.q_proj",
                                       "model.layers.1.self_attn.q_proj"};
static const lsc_complete_src k_src = {k_adapters, 5, k_layers, 3};

static int has_cand(const lsc_completion *c, const char *name)
{
    for (size_t i = 0; i < c->n && i < LSC_COMPLETE_SHOW; i++)
        if (strcmp(c->cands[i], name) == 0)
            return 1;
    return 0;
}

START_TEST(test_complete_commands_options_choices)
{
    lsc_completion c;
    ck_assert_uint_eq(lsc_complete("mer", &k_src, &c), 1);
    ck_assert_str_eq(c.common, "merge");
    ck_assert_uint_eq(c.start, 0);
    /* "re" starts rebudget, redo, rename, retrain: listed, completed to their common prefix */
    ck_assert_uint_ge(lsc_complete("re", &k_src, &c), 4);
    ck_assert_str_eq(c.common, "re");
    ck_assert(has_cand(&c, "rename") && has_cand(&c, "retrain") && has_cand(&c, "redo"));
    ck_assert_uint_eq(lsc_complete("he", &k_src, &c), 1); /* the workbench's own word */
    ck_assert_str_eq(c.common, "help");
    ck_assert_uint_eq(lsc_complete("help pru", &k_src, &c), 1);
    ck_assert_str_eq(c.common, "prune");
    ck_assert_uint_eq(c.start, 5);
    ck_assert_uint_eq(lsc_complete("merge a b --met", &k_src, &c), 1);
    ck_assert_str_eq(c.common, "--method");
    ck_assert_uint_eq(c.start, 10);
    /* the choices of --method, all of them for an empty word */
    ck_assert_uint_eq(lsc_complete("merge a b --method ", &k_src, &c), 7);
    ck_assert(has_cand(&c, "ties") && has_cand(&c, "svd") && has_cand(&c, "dare_linear"));
    ck_assert_uint_eq(lsc_complete("merge a b --method da", &k_src, &c), 2);
    ck_assert_str_eq(c.common, "dare_");
    ck_assert_uint_eq(lsc_complete("merge a b --method=t", &k_src, &c), 1);
    ck_assert_str_eq(c.common, "ties");
    ck_assert_uint_eq(c.start, strlen("merge a b --method="));
    ck_assert_uint_eq(lsc_complete("nosuch --x", &k_src, &c), 0);
}
END_TEST

START_TEST(test_complete_names)
{
    lsc_completion c;
    /* show's positional names an adapter */
    ck_assert_uint_eq(lsc_complete("show ch", &k_src, &c), 2);
    ck_assert_str_eq(c.common, "chat-");
    ck_assert(has_cand(&c, "chat-a") && has_cand(&c, "chat-b"));
    ck_assert_uint_eq(lsc_complete("show llama2-7b-co", &k_src, &c), 1);
    ck_assert_str_eq(c.common, "llama2-7b-code");
    /* every merge positional is one (NAME...), also after an option and its value */
    ck_assert_uint_eq(lsc_complete("merge code --method ties lla", &k_src, &c), 2);
    ck_assert_str_eq(c.common, "llama2-7b-c");
    /* rename's second positional is the new name: nothing to complete */
    ck_assert_uint_eq(lsc_complete("rename code ch", &k_src, &c), 0);
    /* layer names after --layers */
    ck_assert_uint_eq(lsc_complete("prune code --layers model.layers.0", &k_src, &c), 2);
    ck_assert_str_eq(c.common, "model.layers.0.");
    ck_assert_uint_eq(lsc_complete("show code --layers model.layers.1", &k_src, &c), 1);
    ck_assert_str_eq(c.common, "model.layers.1.self_attn.q_proj");
}
END_TEST

/* Many names in catalog order (not sorted): n counts every match, the list shows the smallest ones. */
START_TEST(test_complete_many_sorted)
{
    enum { N = 3000 };
    static char buf[N][16];
    static const char *names[N];
    for (int i = 0; i < N; i++) {
        int j = (i * 7919) % N; /* a permutation of 0..N-1 (7919 is prime, N is not a multiple of it) */
        snprintf(buf[i], sizeof buf[i], "%c-%04d", j % 3 == 0 ? 'a' : 'b', j);
        names[i] = buf[i];
    }
    lsc_complete_src src = {names, N, NULL, 0};
    lsc_completion c;
    ck_assert_uint_eq(lsc_complete("show a-", &src, &c), 1000); /* i % 3 == 0: 1000 of them */
    ck_assert_str_eq(c.common, "a-");
    for (int i = 0; i < LSC_COMPLETE_SHOW; i++) { /* the smallest eight, in order */
        char want[16];
        snprintf(want, sizeof want, "a-%04d", 3 * i);
        ck_assert_str_eq(c.cands[i], want);
    }
    ck_assert_uint_eq(lsc_complete("show b-29", &src, &c), 67); /* 2900..2999 not divisible by 3 */
    ck_assert_str_eq(c.common, "b-29");
    ck_assert_str_eq(c.cands[0], "b-2900");
    ck_assert_str_eq(c.cands[1], "b-2902"); /* 2901 = 3 * 967 */
    ck_assert_str_eq(c.cands[7], "b-2911"); /* 2900 02 03 05 06 08 09 11 */
    ck_assert_uint_eq(lsc_complete("show b-0001", &src, &c), 1);
    ck_assert_uint_eq(lsc_complete("show c", &src, &c), 0);
}
END_TEST

/* The class: every listed option of every command, and every choice, completes from a prefix of itself. */
START_TEST(test_complete_every_option_and_choice)
{
    lsc_completion c;
    char line[512];
    for (size_t i = 0; i < lsc_n_commands; i++) {
        const lsc_command *cmd = &lsc_commands[i];
        ck_assert_uint_ge(lsc_complete(cmd->name, &k_src, &c), 1);
        ck_assert(has_cand(&c, cmd->name) || c.n > LSC_COMPLETE_SHOW);
        for (const lsc_opt *o = cmd->spec->opts; o->type != LSC_OPT_END; o++) {
            if (!o->name || !o->help)
                continue;
            snprintf(line, sizeof line, "%s --%.*s", cmd->name, (int)(strlen(o->name) + 1) / 2, o->name);
            ck_assert_msg(lsc_complete(line, &k_src, &c) >= 1, "%s", line);
            char want[128];
            snprintf(want, sizeof want, "--%s", o->name);
            ck_assert_msg(has_cand(&c, want), "%s: no %s", line, want);
            ck_assert_msg(strncmp(want, c.common, strlen(c.common)) == 0, "%s: common '%s'", line, c.common);
            if (o->type != LSC_OPT_CHOICE)
                continue;
            for (const char *const *ch = o->choices; *ch; ch++) {
                snprintf(line, sizeof line, "%s --%s %s", cmd->name, o->name, *ch);
                ck_assert_msg(lsc_complete(line, &k_src, &c) >= 1, "%s", line);
                ck_assert_msg(has_cand(&c, *ch), "%s", line);
            }
        }
    }
}
END_TEST

START_TEST(test_suggest)
{
    const char *const cmds[] = {"merge", "prune", "rename", "rm", "show"};
    ck_assert_int_eq(lsc_tui_suggest("mrege", cmds, 5), 0); /* two neighbours swapped */
    ck_assert_int_eq(lsc_tui_suggest("prun", cmds, 5), 1);  /* one deleted */
    ck_assert_int_eq(lsc_tui_suggest("renam", cmds, 5), 2);
    ck_assert_int_eq(lsc_tui_suggest("rn", cmds, 5), 3);
    ck_assert_int_eq(lsc_tui_suggest("shwo", cmds, 5), 4);
    ck_assert_int_eq(lsc_tui_suggest("export", cmds, 5), -1); /* nothing close */
    ck_assert_int_eq(lsc_tui_suggest("", cmds, 5), -1);
    ck_assert_int_eq(lsc_tui_suggest("xyz", cmds, 0), -1);
    const char *const opts[] = {"method", "weights", "rank", "density"};
    ck_assert_int_eq(lsc_tui_suggest("metod", opts, 4), 0);
    ck_assert_int_eq(lsc_tui_suggest("wieghts", opts, 4), 1);
    ck_assert_int_eq(lsc_tui_suggest("nope", opts, 4), -1);
}
END_TEST

/* ---- through the state -------------------------------------------------------------------------------- */

static lsc_tui_model g_model;
static lsc_tui_state *g_st;

static void state_open(const char *history)
{
    lsc_error err = {0};
    lsc_tui_state_opts o = {.history_file = history};
    ck_assert_int_eq(lsc_tui_state_new(&g_model, &o, 24, 80, &g_st, &err), LSC_OK);
}

static void setup(void)
{
    lsc_error err = {0};
    tmp_setup();
    ck_assert_int_eq(lsc_tui_model_fake_init(&g_model, SEED, &err), LSC_OK);
    state_open(NULL);
}

static void teardown(void)
{
    lsc_tui_state_free(g_st);
    lsc_tui_model_release(&g_model);
    tmp_teardown();
}

static unsigned keys(const char *s)
{
    unsigned ch = 0;
    for (const char *p = s; *p; p++)
        ch |= lsc_tui_state_key(g_st, (unsigned char)*p);
    return ch;
}
static unsigned key(int k) { return lsc_tui_state_key(g_st, k); }

START_TEST(test_prompt_tab)
{
    keys(":sh");
    key(LSC_KEY_TAB); /* share and show */
    ck_assert_str_eq(g_st->prompt.buf, "sh");
    ck_assert_ptr_nonnull(strstr(g_st->msg, "share"));
    keys("o");
    key(LSC_KEY_TAB);
    ck_assert_str_eq(g_st->prompt.buf, "show ");
    keys("llama2-7b-c");
    key(LSC_KEY_TAB); /* -chat and -code */
    ck_assert_str_eq(g_st->prompt.buf, "show llama2-7b-c");
    ck_assert_ptr_nonnull(strstr(g_st->msg, "llama2-7b-chat"));
    ck_assert_ptr_nonnull(strstr(g_st->msg, "llama2-7b-code"));
    keys("o");
    key(LSC_KEY_TAB);
    ck_assert_str_eq(g_st->prompt.buf, "show llama2-7b-code ");
    ck_assert_uint_eq(g_st->prompt.len, strlen("show llama2-7b-code "));
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_PROMPT); /* Tab never runs the line */
}
END_TEST

START_TEST(test_prompt_history_across_runs)
{
    const char *file = tpath("state/lorascope/history"); /* its folders do not exist yet */
    lsc_tui_state_free(g_st);
    state_open(file);
    keys(":echo one\n");
    key(LSC_KEY_ESC);
    keys(":echo two\n");
    key(LSC_KEY_ESC);
    keys(":echo two\n"); /* the same line twice in a row is kept once */
    key(LSC_KEY_ESC);
    lsc_tui_state_free(g_st);
    state_open(file); /* a new run reads them back */
    ck_assert_uint_eq(g_st->prompt.n_hist, 2);
    keys(":draft");
    key(LSC_KEY_UP);
    ck_assert_str_eq(g_st->prompt.buf, "echo two");
    key(LSC_KEY_UP);
    ck_assert_str_eq(g_st->prompt.buf, "echo one");
    ck_assert_uint_eq(key(LSC_KEY_UP), 0); /* nothing older */
    ck_assert_str_eq(g_st->prompt.buf, "echo one");
    key(LSC_KEY_DOWN);
    key(LSC_KEY_DOWN);
    ck_assert_str_eq(g_st->prompt.buf, "draft"); /* back to the line being typed */
    key(LSC_KEY_ESC);
    /* bounded: the oldest lines go */
    for (int i = 0; i < LSC_TUI_PROMPT_HIST + 5; i++) {
        char line[32];
        snprintf(line, sizeof line, ":echo %d\n", i);
        keys(line);
        key(LSC_KEY_ESC);
    }
    lsc_tui_state_free(g_st);
    state_open(file);
    ck_assert_uint_eq(g_st->prompt.n_hist, LSC_TUI_PROMPT_HIST);
    ck_assert_str_eq(g_st->prompt.hist[0], "echo 5");
    FILE *fp = fopen(file, "r");
    ck_assert_ptr_nonnull(fp);
    int lines = 0, c;
    while ((c = fgetc(fp)) != EOF)
        lines += c == '\n';
    fclose(fp);
    ck_assert_int_eq(lines, LSC_TUI_PROMPT_HIST);
}
END_TEST

START_TEST(test_prompt_help_and_typos)
{
    keys(":help\n");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_OUTPUT);
    int merge = 0, w = 0;
    for (size_t i = 0; i < g_st->output.n; i++) {
        merge |= strstr(g_st->output.lines[i], "merge") != NULL;
        w |= strstr(g_st->output.lines[i], "w [FILE]") != NULL;
    }
    ck_assert(merge && w);
    key(LSC_KEY_ESC);
    keys(":help merge\n");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_OUTPUT);
    ck_assert_ptr_nonnull(strstr(g_st->output.lines[0], "usage: lorascope merge"));
    int method = 0;
    for (size_t i = 0; i < g_st->output.n; i++)
        method |= strstr(g_st->output.lines[i], "--method") != NULL;
    ck_assert(method);
    key(LSC_KEY_ESC);
    keys(":mrege a b\n");
    ck_assert_int_eq(g_st->msg_level, LSC_MSG_ERROR);
    ck_assert_str_eq(g_st->msg, "unknown command 'mrege'; did you mean 'merge'?");
    keys(":help mrege\n");
    ck_assert_str_eq(g_st->msg, "unknown command 'mrege'; did you mean 'merge'?");
    keys(":merge llama2-7b-chat llama2-7b-code --metod ties\n");
    ck_assert_str_eq(g_st->msg, "merge: unknown option '--metod'; did you mean '--method'?");
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG); /* nothing ran */
    keys(":nope\n"); /* no close name: the command's own error */
    ck_assert_str_eq(g_st->msg, "unknown command 'nope' (exit 2)");
}
END_TEST

START_TEST(test_prompt_destructive_asks)
{
    size_t n = g_st->catalog.n;
    keys(":rm llama2-7b-code\n");
    ck_assert_int_eq(g_st->confirm.open, 1);
    ck_assert_ptr_nonnull(strstr(g_st->confirm.question, "rm llama2-7b-code"));
    key(LSC_KEY_ENTER); /* the default is No */
    ck_assert_int_eq(g_st->confirm.open, 0);
    ck_assert_uint_eq(g_st->catalog.n, n);
    keys(":undo\n");
    ck_assert_int_eq(g_st->confirm.open, 1);
    key(LSC_KEY_CTRL('c'));
    ck_assert_int_eq(g_st->confirm.open, 0);
    keys(":rename llama2-7b-code c2\n"); /* not destructive: runs at once */
    ck_assert_int_eq(g_st->confirm.open, 0);
}
END_TEST

START_TEST(test_ctrl_c)
{
    keys(":echo x");
    ck_assert_uint_eq(key(LSC_KEY_CTRL('c')) & LSC_TUI_CH_QUIT, 0);
    ck_assert_int_eq(g_st->prompt.mode, LSC_INPUT_NONE);
    keys("u"); /* undo asks */
    ck_assert_int_eq(g_st->confirm.open, 1);
    ck_assert_uint_eq(key(LSC_KEY_CTRL('c')) & LSC_TUI_CH_QUIT, 0);
    ck_assert_int_eq(g_st->confirm.open, 0);
    keys("?");
    ck_assert_int_eq(g_st->help.open, 1);
    ck_assert_uint_eq(key(LSC_KEY_CTRL('c')) & LSC_TUI_CH_QUIT, 0);
    ck_assert_int_eq(g_st->help.open, 0);
    /* at rest: the first press says how to quit, a second one in a row quits */
    ck_assert_uint_eq(key(LSC_KEY_CTRL('c')) & LSC_TUI_CH_QUIT, 0);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "Ctrl-C again"));
    ck_assert(key(LSC_KEY_CTRL('c')) & LSC_TUI_CH_QUIT);
    key('j'); /* any other key in between disarms it */
    ck_assert_uint_eq(key(LSC_KEY_CTRL('c')) & LSC_TUI_CH_QUIT, 0);
    key('j');
    ck_assert_uint_eq(key(LSC_KEY_CTRL('c')) & LSC_TUI_CH_QUIT, 0);
}
END_TEST

/* ---- the key map (finding 10) -------------------------------------------------------------------------- */

/* Within one view's reach (its table and the global one) no key has two bindings: the second would be
 * dead, and its help line a lie. */
START_TEST(test_keys_one_meaning_per_view)
{
    for (int v = 0; v < LSC_VIEW_COUNT; v++) {
        size_t n;
        const lsc_tui_binding *own = lsc_tui_view_keys((lsc_tui_view)v, &n);
        const lsc_tui_binding *all[128];
        size_t na = 0;
        for (size_t i = 0; i < n && na < 128; i++)
            all[na++] = &own[i];
        for (size_t i = 0; i < lsc_tui_n_global_keys && na < 128; i++)
            all[na++] = &lsc_tui_global_keys[i];
        for (size_t i = 0; i < na; i++)
            for (int a = 0; a < LSC_TUI_BIND_KEYS && all[i]->keys[a]; a++)
                for (size_t j = i; j < na; j++)
                    for (int b = (j == i ? a + 1 : 0); b < LSC_TUI_BIND_KEYS && all[j]->keys[b]; b++) {
                        char kb[16];
                        ck_assert_msg(all[i]->keys[a] != all[j]->keys[b], "%s: '%s' means '%s' and '%s'",
                                      lsc_tui_view_name((lsc_tui_view)v),
                                      lsc_tui_key_name(all[i]->keys[a], kb, sizeof kb), all[i]->help, all[j]->help);
                    }
    }
}
END_TEST

/* The letters the issue found overloaded mean one thing wherever they are bound: m merges, t tags, R opens
 * the retrain panel, o toggles the view's display; and no two of them share a request. */
START_TEST(test_keys_one_meaning_everywhere)
{
    static const struct {
        int key;
        lsc_tui_req req[3];
    } k_map[] = {
        {'m', {LSC_REQ_MERGE}},
        {'t', {LSC_REQ_TAG}},
        {'R', {LSC_REQ_RETRAIN}},
        {'o', {LSC_REQ_GROUP, LSC_REQ_METRIC, LSC_REQ_TOGGLE}},
        {'K', {LSC_REQ_KIND}},
    };
    for (size_t i = 0; i < sizeof k_map / sizeof k_map[0]; i++)
        for (int v = 0; v < LSC_VIEW_COUNT; v++) {
            lsc_tui_req r = lsc_tui_key_lookup((lsc_tui_view)v, k_map[i].key);
            if (r == LSC_REQ_NONE)
                continue;
            int ok = 0;
            for (int j = 0; j < 3; j++)
                ok |= k_map[i].req[j] == r && (j == 0 || r != LSC_REQ_NONE);
            ck_assert_msg(ok, "'%c' in %s means %s", k_map[i].key, lsc_tui_view_name((lsc_tui_view)v),
                          lsc_tui_req_name(r));
        }
    /* every view where tagging exists tags with t too */
    for (int v = 0; v < LSC_VIEW_COUNT; v++) {
        size_t n;
        const lsc_tui_binding *own = lsc_tui_view_keys((lsc_tui_view)v, &n);
        for (size_t i = 0; i < n; i++)
            if (own[i].req == LSC_REQ_TAG)
                ck_assert_int_eq(lsc_tui_key_lookup((lsc_tui_view)v, 't'), LSC_REQ_TAG);
    }
}
END_TEST

/* A key that does nothing in a view says so, and where it does something. */
START_TEST(test_unbound_key_says_why)
{
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    ck_assert(key('K') & LSC_TUI_CH_REDRAW);
    ck_assert_ptr_nonnull(strstr(g_st->msg, "'K' does nothing here"));
    ck_assert_ptr_nonnull(strstr(g_st->msg, "layers"));
    ck_assert_ptr_nonnull(strstr(g_st->msg, "kind panel"));
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_CATALOG);
    key('Z'); /* bound nowhere */
    ck_assert_str_eq(g_st->msg, "'Z' does nothing here; ? lists this view's keys");
    /* R opens retrain from the layers, and no longer reloads */
    key(LSC_KEY_ENTER);
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_LAYERS);
    key('R');
    ck_assert_int_eq(lsc_tui_state_view(g_st), LSC_VIEW_RETRAIN);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tui-prompt");
    TCase *tc = tcase_create("complete");
    tcase_add_test(tc, test_complete_commands_options_choices);
    tcase_add_test(tc, test_complete_names);
    tcase_add_test(tc, test_complete_many_sorted);
    tcase_add_test(tc, test_complete_every_option_and_choice);
    tcase_add_test(tc, test_suggest);
    suite_add_tcase(s, tc);
    tc = tcase_create("state");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_prompt_tab);
    tcase_add_test(tc, test_prompt_history_across_runs);
    tcase_add_test(tc, test_prompt_help_and_typos);
    tcase_add_test(tc, test_prompt_destructive_asks);
    tcase_add_test(tc, test_ctrl_c);
    tcase_add_test(tc, test_keys_one_meaning_per_view);
    tcase_add_test(tc, test_keys_one_meaning_everywhere);
    tcase_add_test(tc, test_unbound_key_says_why);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
