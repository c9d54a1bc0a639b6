/* tests/check-docs.c: the generated manual pages and the --svg figures (issue #20).
 *  - every page renders with groff (man macros) without a warning, and every command's page names every
 *    option and positional of its table; lorascope(1) names every command and global option;
 *  - `lorascope help CMD` (not a terminal) prints the page as text;
 *  - spectrum/diff/show --svg: the file parses as XML (xmllint, when installed) and the plotted points,
 *    mapped back through the axis the figure records, equal the command's --json figures.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_util.h"
#include "command.h"
#include "docs.h"
#include "options.h"
#include "sink.h"

static char *g_tmp;
static char g_samples[4096];

/* Render roff with groff; *warnings gets stderr. Returns the text (malloc'ed), NULL if groff is missing. */
static char *render(const char *roff, char **warnings)
{
    char in[4096], outp[4096], errp[4096], cmd[16384];
    snprintf(in, sizeof in, "%s/page.roff", g_tmp);
    snprintf(outp, sizeof outp, "%s/page.txt", g_tmp);
    snprintf(errp, sizeof errp, "%s/page.err", g_tmp);
    ck_assert_int_eq(cli_write(in, roff, strlen(roff)), 0);
    snprintf(cmd, sizeof cmd, "groff -man -Tutf8 -ww -rLL=400n -P-cbou '%s' >'%s' 2>'%s'", in, outp, errp);
    int rc = system(cmd);
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) == 127)
        return NULL;
    size_t n;
    *warnings = (char *)cli_slurp(errp, &n);
    return (char *)cli_slurp(outp, &n);
}

static int have_tool(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

START_TEST(test_command_pages_complete)
{
    ck_assert_msg(have_tool("groff"), "groff is needed to check the manual pages (apt-get install groff-base)");
    for (size_t i = 0; i < lsc_n_commands; i++) {
        const lsc_command *c = &lsc_commands[i];
        lsc_sink m;
        lsc_sink_init_mem(&m);
        lsc_man_command(&m, c);
        char *warn = NULL, *text = render(m.buf, &warn);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(warn && warn[0] == '\0', "groff warns on lorascope-%s(1): %s", c->name, warn ? warn : "?");
        char want[256];
        snprintf(want, sizeof want, "lorascope-%s", c->name);
        ck_assert_msg(strstr(text, want), "page of %s lacks its name", c->name);
        for (const lsc_opt *o = c->spec->opts; o->type != LSC_OPT_END; o++) {
            if (o->name)
                snprintf(want, sizeof want, "--%s", o->name);
            else
                snprintf(want, sizeof want, "%s", o->metavar);
            ck_assert_msg(strstr(text, want), "lorascope-%s(1) does not show '%s'", c->name, want);
            for (int k = 0; o->type == LSC_OPT_CHOICE && o->choices[k]; k++)
                ck_assert_msg(strstr(text, o->choices[k]), "lorascope-%s(1) lacks choice '%s' of --%s", c->name,
                              o->choices[k], o->name);
        }
        free(text);
        free(warn);
        lsc_sink_release(&m);
    }
}
END_TEST

START_TEST(test_main_and_script_pages)
{
    ck_assert(have_tool("groff"));
    const char *pages[] = {"lorascope", "lorascope-script"};
    for (int p = 0; p < 2; p++) {
        lsc_sink m;
        lsc_sink_init_mem(&m);
        ck_assert_int_eq(lsc_man_page(&m, pages[p]), 0);
        char *warn = NULL, *text = render(m.buf, &warn);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(warn && warn[0] == '\0', "groff warns on %s: %s", pages[p], warn ? warn : "?");
        for (size_t i = 0; i < lsc_n_commands; i++)
            ck_assert_msg(strstr(text, lsc_commands[i].name), "%s lacks command %s", pages[p], lsc_commands[i].name);
        if (p == 0) {
            for (const lsc_global_opt *g = lsc_global_opts; g->name; g++) {
                char want[64];
                snprintf(want, sizeof want, "--%s", g->name);
                ck_assert_msg(strstr(text, want), "lorascope(1) lacks %s", want);
            }
            ck_assert(strstr(text, "LORASCOPE_CATALOG") && strstr(text, "EXIT STATUS") && strstr(text, "EXAMPLES"));
        }
        free(text);
        free(warn);
        lsc_sink_release(&m);
    }
    lsc_sink m;
    lsc_sink_init_mem(&m);
    ck_assert_int_eq(lsc_man_page(&m, "lorascope-nosuch"), -1);
    ck_assert_int_eq(lsc_man_page(&m, "prune"), -1);
    lsc_sink_release(&m);
}
END_TEST

/* help without a terminal: the page as text, escapes decoded; unknown topics are usage errors */
START_TEST(test_help_prints_text)
{
    char cat[4096];
    snprintf(cat, sizeof cat, "%s/help.db", g_tmp);
    cli_result r = cli_run(cat, "help", "merge", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "lorascope-merge - "));
    ck_assert_ptr_nonnull(strstr(r.out, "--method M\n")); /* an option with its value, hyphens decoded */
    ck_assert_ptr_nonnull(strstr(r.out, "Takes one of cat, linear, svd, magnitude, dare_linear, ties, dare_ties."));
    ck_assert_ptr_nonnull(strstr(r.out, "Merge adapters layer by layer")); /* the description starts a sentence */
    ck_assert_ptr_null(strstr(r.out, "\\-"));
    ck_assert_ptr_null(strstr(r.out, "\\f"));
    cli_result_free(&r);
    r = cli_run(cat, "help", "script", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "lorascope-script - "));
    cli_result_free(&r);
    r = cli_run(cat, "help", "prnue", NULL);
    ck_assert_int_eq(r.code, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "no page for 'prnue'"));
    cli_result_free(&r);
}
END_TEST

/* ---- SVG figures -------------------------------------------------------------------------------------- */

static double attr(const char *s, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(s, key);
    ck_assert_msg(p, "no attribute %s", name);
    return strtod(p + strlen(key), NULL);
}

typedef struct plot_axis {
    double px0, px1, py0, py1, x0, x1, y0, y1;
    int log_y;
} plot_axis;

static plot_axis read_axis(const char *svg)
{
    const char *g = strstr(svg, "<g class=\"plot\"");
    ck_assert_ptr_nonnull(g);
    plot_axis a = {attr(g, "data-px0"), attr(g, "data-px1"), attr(g, "data-py0"), attr(g, "data-py1"),
                   attr(g, "data-x0"),  attr(g, "data-x1"),  attr(g, "data-y0"),  attr(g, "data-y1"),
                   (int)attr(g, "data-log-y")};
    return a;
}

/* The k-th polyline's points mapped back to data (x, y); returns the count. */
static size_t read_series(const char *svg, const plot_axis *a, int k, double *xs, double *ys, size_t cap)
{
    const char *p = svg;
    for (int i = 0; i <= k; i++) {
        p = strstr(p, "<polyline class=\"series\"");
        ck_assert_msg(p, "no series %d", k);
        if (i < k)
            p++;
    }
    p = strstr(p, " points=\"") + 9;
    size_t n = 0;
    while (*p && *p != '"' && n < cap) {
        char *end;
        double px = strtod(p, &end);
        ck_assert(*end == ',');
        double py = strtod(end + 1, &end);
        p = end;
        while (*p == ' ')
            p++;
        xs[n] = a->x0 + (px - a->px0) / (a->px1 - a->px0) * (a->x1 - a->x0);
        double t = a->y0 + (py - a->py0) / (a->py1 - a->py0) * (a->y1 - a->y0);
        ys[n++] = a->log_y ? pow(10, t) : t;
    }
    return n;
}

/* Run a command that writes the figure `file` (arguments a.. e, NULL-terminated early), check it is XML and
 * an SVG document; returns its text. */
static char *run_svg(const char *cat, const char *file, const char *a, const char *b, const char *c, const char *d,
                     const char *e)
{
    cli_result r = cli_run(cat, a, b, c, d, e, NULL);
    ck_assert_msg(r.code == 0, "%s failed: %s", a, r.err);
    cli_result_free(&r);
    if (have_tool("xmllint")) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", file);
        ck_assert_msg(system(cmd) == 0, "%s is not well-formed XML", file);
    }
    size_t n;
    char *svg = (char *)cli_slurp(file, &n);
    ck_assert_ptr_nonnull(svg);
    ck_assert(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"") && strstr(svg, "</svg>"));
    return svg;
}

static json_t *run_json(const char *cat, const char *a, const char *b, const char *c)
{
    cli_result r = cli_run(cat, "--json", a, b, c, NULL); /* the global --json; c may be NULL */
    ck_assert_msg(r.code == 0, "%s --json failed: %s", a, r.err);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    ck_assert_ptr_nonnull(j);
    cli_result_free(&r);
    return j;
}

/* relative agreement of a value read back from pixel coordinates printed to 1e-4 px */
static void near(double got, double want, double span)
{
    ck_assert_msg(fabs(got - want) <= 1e-5 * span + 1e-12 * fabs(want), "plotted %.9g, reported %.9g", got, want);
}

START_TEST(test_svg_points_equal_json)
{
    char cat[4096], path[8192], file[8192];
    snprintf(cat, sizeof cat, "%s/svg.db", g_tmp);
    snprintf(path, sizeof path, "%s/llama-tiny-f32", g_samples);
    cli_result r = cli_run(cat, "import", path, "--name", "a", NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    snprintf(path, sizeof path, "%s/llama-tiny-bf16", g_samples);
    r = cli_run(cat, "import", path, "--name", "b", NULL);
    ck_assert_int_eq(r.code, 0);
    cli_result_free(&r);
    double xs[4096], ys[4096];

    /* spectrum: one polyline per layer, point i = (i, sigma_i) on a log axis */
    snprintf(file, sizeof file, "%s/s.svg", g_tmp);
    char *svg = run_svg(cat, file, "spectrum", "a", "--svg", file, NULL);
    json_t *j = run_json(cat, "spectrum", "a", NULL);
    plot_axis ax = read_axis(svg);
    ck_assert_int_eq(ax.log_y, 1);
    for (size_t l = 0; l < json_array_size(j); l++) {
        json_t *sv = json_object_get(json_array_get(j, l), "sv");
        size_t n = read_series(svg, &ax, (int)l, xs, ys, 4096);
        ck_assert_uint_eq(n, json_array_size(sv));
        for (size_t i = 0; i < n; i++) {
            near(xs[i], (double)(i + 1), ax.x1 - ax.x0);
            double want = json_number_value(json_array_get(sv, i));
            ck_assert_msg(fabs(log10(ys[i]) - log10(want)) <= 1e-5 * (ax.y1 - ax.y0), "sigma %.9g plotted as %.9g",
                          want, ys[i]);
        }
    }
    json_decref(j);
    free(svg);

    /* diff: three series over the named layers */
    snprintf(file, sizeof file, "%s/d.svg", g_tmp);
    svg = run_svg(cat, file, "diff", "a", "b", "--svg", file);
    j = run_json(cat, "diff", "a", "b");
    ax = read_axis(svg);
    json_t *layers = json_object_get(j, "layers");
    const char *fields[] = {"cosine", "subspace_in", "subspace_out"};
    for (int f = 0; f < 3; f++) {
        size_t n = read_series(svg, &ax, f, xs, ys, 4096);
        ck_assert_uint_eq(n, json_array_size(layers));
        for (size_t i = 0; i < n; i++) {
            near(xs[i], (double)(i + 1), ax.x1 - ax.x0);
            near(ys[i], json_number_value(json_object_get(json_array_get(layers, i), fields[f])), ax.y1 - ax.y0);
        }
    }
    json_decref(j);
    free(svg);

    /* series: one polyline per layer over the checkpoint steps (x the step, y the figure; null: no point) */
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/run' && cp -r '%s/llama-tiny-f32' '%s/run/checkpoint-100' && "
             "cp -r '%s/llama-tiny-bf16' '%s/run/checkpoint-250' && cp -r '%s/llama-tiny-f16' '%s/run/checkpoint-400'",
             g_tmp, g_samples, g_tmp, g_samples, g_tmp, g_samples, g_tmp);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/run", g_tmp);
    r = cli_run(cat, "import", path, NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    const char *figs[] = {"norm", "sim-prev"}, *keys[] = {"norm", "sim_prev"};
    for (int f = 0; f < 2; f++) {
        snprintf(file, sizeof file, "%s/series-%d.svg", g_tmp, f);
        svg = run_svg(cat, file, "series", "run", "--svg", file, NULL);
        free(svg);
        r = cli_run(cat, "series", "run", "--figure", figs[f], "--svg", file, NULL);
        ck_assert_int_eq(r.code, 0);
        cli_result_free(&r);
        svg = (char *)cli_slurp(file, &(size_t){0});
        j = run_json(cat, "series", "run", NULL);
        ax = read_axis(svg);
        json_t *steps = json_object_get(j, "steps");
        layers = json_object_get(j, "layers");
        ck_assert_uint_eq(json_array_size(steps), 3);
        for (size_t l = 0; l < json_array_size(layers); l++) {
            json_t *v = json_object_get(json_array_get(layers, l), keys[f]);
            size_t n = read_series(svg, &ax, (int)l, xs, ys, 4096), k = 0;
            for (size_t s = 0; s < json_array_size(steps); s++) {
                if (json_is_null(json_array_get(v, s)))
                    continue; /* sim_prev of the first step */
                ck_assert_uint_lt(k, n);
                near(xs[k], json_number_value(json_object_get(json_array_get(steps, s), "step")), ax.x1 - ax.x0);
                near(ys[k], json_number_value(json_array_get(v, s)), ax.y1 - ax.y0);
                k++;
            }
            ck_assert_uint_eq(k, n);
        }
        json_decref(j);
        free(svg);
    }

    /* show heat map: each cell carries its value; every layer's norm is one cell */
    snprintf(file, sizeof file, "%s/h.svg", g_tmp);
    svg = run_svg(cat, file, "show", "a", "--svg", file, NULL);
    j = run_json(cat, "show", "a", NULL);
    layers = json_object_get(j, "layers");
    const char *mods[64];
    long long blocks[256];
    size_t nm = 0, nb = 0;
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const json_t *l = json_array_get(layers, i);
        const char *m = json_string_value(json_object_get(l, "module_type"));
        long long b = json_integer_value(json_object_get(l, "layer_index"));
        size_t k = 0;
        while (k < nm && strcmp(mods[k], m))
            k++;
        if (k == nm)
            mods[nm++] = m;
        for (k = 0; k < nb && blocks[k] != b; k++)
            ;
        if (k == nb)
            blocks[nb++] = b;
    }
    ck_assert_uint_eq((size_t)attr(svg, "data-rows"), nm);
    ck_assert_uint_eq((size_t)attr(svg, "data-cols"), nb);
    /* the map's rows are the modules sorted by name, its columns the blocks ascending */
    for (size_t a = 0; a < nm; a++)
        for (size_t c = a + 1; c < nm; c++)
            if (strcmp(mods[a], mods[c]) > 0) {
                const char *t = mods[a];
                mods[a] = mods[c], mods[c] = t;
            }
    for (size_t a = 0; a < nb; a++)
        for (size_t c = a + 1; c < nb; c++)
            if (blocks[a] > blocks[c]) {
                long long t = blocks[a];
                blocks[a] = blocks[c], blocks[c] = t;
            }
    size_t cells = 0;
    for (const char *p = strstr(svg, "<rect class=\"cell\""); p; p = strstr(p + 1, "<rect class=\"cell\"")) {
        size_t row = (size_t)attr(p, "data-row"), col = (size_t)attr(p, "data-col");
        double want = 0;
        for (size_t i = 0; i < json_array_size(layers); i++) {
            const json_t *l = json_array_get(layers, i);
            if (strcmp(json_string_value(json_object_get(l, "module_type")), mods[row]) == 0 &&
                json_integer_value(json_object_get(l, "layer_index")) == blocks[col])
                want += json_number_value(json_object_get(l, "norm"));
        }
        ck_assert_double_eq_tol(attr(p, "data-value"), want, 1e-15 * want);
        cells++;
    }
    ck_assert_uint_eq(cells, json_array_size(layers)); /* one layer per module and block in this adapter */
    free(svg);
    json_decref(j);
}
END_TEST

/* Every example in lorascope(1) and lorascope-script(5) is a command line the tables accept (an example
 * once used an option import does not have). */
START_TEST(test_examples_parse)
{
    const char *pages[] = {"lorascope", "lorascope-script"};
    int checked = 0;
    char var_name[32] = "", var_value[64] = "";
    for (int p = 0; p < 2; p++) {
        lsc_sink m, t;
        lsc_sink_init_mem(&m);
        lsc_sink_init_mem(&t);
        ck_assert_int_eq(lsc_man_page(&m, pages[p]), 0);
        lsc_man_to_text(&t, m.buf);
        const char *ex = strstr(t.buf, p == 0 ? "\nEXAMPLES\n" : "\nEXAMPLE\n");
        ck_assert_ptr_nonnull(ex);
        const char *end = strstr(ex + 2, "\nSEE ALSO");
        for (const char *l = strchr(ex + 1, '\n') + 1; l && l < end; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            while (*l == ' ')
                l++;
            if (*l == '#' || *l == '\n')
                continue;
            if (strncmp(l, "set ", 4) == 0) { /* a script's variable: substituted below, as the parser does */
                ck_assert_int_eq(sscanf(l, "set %31s %63s", var_name, var_value), 2);
                continue;
            }
            char line[512], *argv[32];
            size_t n = strcspn(l, "\n");
            snprintf(line, sizeof line, "%.*s", (int)n, l);
            int argc = 0;
            for (char *w = strtok(line, " "); w && argc < 31; w = strtok(NULL, " ")) {
                size_t wl = strlen(w);
                if (wl >= 2 && w[0] == '"' && w[wl - 1] == '"')
                    w[wl - 1] = '\0', w++;
                char ref[40];
                snprintf(ref, sizeof ref, "${%s}", var_name);
                argv[argc++] = var_name[0] && strcmp(w, ref) == 0 ? var_value : w;
            }
            argv[argc] = NULL;
            int first = p == 0 ? 1 : 0; /* lorascope(1) lines start with the word lorascope */
            ck_assert_int_gt(argc, first);
            const lsc_command *c = lsc_command_find(argv[first]);
            if (!c && strcmp(argv[first], "expect") == 0)
                continue; /* expectations are checked by run */
            ck_assert_msg(c != NULL, "%s: example '%s' names no command", pages[p], l);
            lsc_sink null;
            lsc_sink_init_null(&null);
            lsc_cmd_ctx ctx;
            memset(&ctx, 0, sizeof ctx);
            ctx.out = ctx.diag = &null;
            void *args = NULL;
            ck_assert_msg(lsc_command_parse(&ctx, c, argc - first, argv + first, &args) == LSC_EXIT_OK,
                          "%s: example '%.*s': %s", pages[p], (int)n, l, ctx.err.msg);
            lsc_command_args_free(args);
            checked++;
        }
        lsc_sink_release(&m);
        lsc_sink_release(&t);
    }
    ck_assert_int_ge(checked, 8);
}
END_TEST

int main(void)
{
    if (cli_setup_samples(&g_tmp, g_samples, sizeof g_samples) != 0)
        return 1;
    const TTest *const tests[] = {test_command_pages_complete, test_main_and_script_pages, test_help_prints_text,
                                  test_svg_points_equal_json, test_examples_parse, NULL};
    return cli_run_suite("docs", tests, 0, g_tmp);
}
