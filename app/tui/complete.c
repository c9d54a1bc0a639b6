/* complete.c: completion and "did you mean" for the `:` command line (complete.h). Reads the command
 * table and the names it is given; never includes curses, never touches the state or the catalog.
 * The word before the cursor decides the source: the first word (or the word after `help`) completes a
 * command; "--..." an option of that command's table; the word after a valued option that option's values
 * (choices, adapters, layers); any other word the positional it fills, adapters when the table says it
 * names one. Adapter and layer names are scanned once per Tab (no sort, no index to keep in step with
 * the catalog): linear in the names, a few microseconds per thousand.
 */
#include "complete.h"

#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "suggest.h"

/* The workbench's own words beside the command table (view_prompt.c runs them). */
static const char *const k_own[] = {"help", "w"};

static void add(lsc_completion *out, const char *name)
{
    if (out->n < LSC_COMPLETE_SHOW)
        out->cands[out->n] = name;
    if (out->n == 0) {
        size_t len = strlen(name);
        if (len >= sizeof out->common)
            len = sizeof out->common - 1;
        memcpy(out->common, name, len);
        out->common[len] = '\0';
    } else {
        size_t i = 0;
        while (out->common[i] && out->common[i] == name[i])
            i++;
        out->common[i] = '\0';
    }
    out->n++;
}

static int has_prefix(const char *s, const char *p, size_t plen) { return strncmp(s, p, plen) == 0; }

/* The names starting with word, in any order: one pass that counts them, narrows the common prefix and
 * keeps the LSC_COMPLETE_SHOW smallest (by strcmp) for the list, so a catalog of any size costs one scan
 * and no sort. Called on an empty out (one source per completion). */
static void add_names(lsc_completion *out, const char *const *names, size_t n, const char *word)
{
    size_t plen = strlen(word), kept = 0;
    for (size_t i = 0; i < n; i++) {
        const char *nm = names[i];
        if (!has_prefix(nm, word, plen))
            continue;
        add(out, nm); /* counts and narrows the prefix (and stores nm at cands[kept] while there is room) */
        size_t at = kept;
        while (at > 0 && strcmp(out->cands[at - 1], nm) > 0)
            at--;
        if (at == LSC_COMPLETE_SHOW)
            continue;
        size_t end = kept < LSC_COMPLETE_SHOW ? kept : LSC_COMPLETE_SHOW - 1; /* the largest kept drops out */
        memmove(&out->cands[at + 1], &out->cands[at], (end - at) * sizeof out->cands[0]);
        out->cands[at] = nm;
        if (kept < LSC_COMPLETE_SHOW)
            kept++;
    }
}

static void add_commands(lsc_completion *out, const char *word)
{
    size_t plen = strlen(word);
    for (size_t i = 0; i < lsc_n_commands; i++)
        if (has_prefix(lsc_commands[i].name, word, plen))
            add(out, lsc_commands[i].name);
    for (size_t i = 0; i < sizeof k_own / sizeof k_own[0]; i++)
        if (has_prefix(k_own[i], word, plen))
            add(out, k_own[i]);
}

/* "--name" of every option of the command starting with word (which starts with '-'). */
static void add_options(lsc_completion *out, const lsc_opt *opts, const char *word)
{
    static char names[128][LSC_COMPLETE_WORD]; /* "--name" spelled out; the table holds names without dashes */
    size_t k = 0, plen = strlen(word);
    for (const lsc_opt *o = opts; o && o->type != LSC_OPT_END && k < 128; o++) {
        if (!o->name || !o->help)
            continue;
        size_t len = strlen(o->name);
        if (len + 3 > LSC_COMPLETE_WORD)
            continue;
        memcpy(names[k], "--", 2);
        memcpy(names[k] + 2, o->name, len + 1);
        if (has_prefix(names[k], word, plen))
            add(out, names[k++]);
    }
}

static void add_values(lsc_completion *out, const lsc_opt *o, const lsc_complete_src *src, const char *word)
{
    if (!o)
        return;
    if (o->type == LSC_OPT_CHOICE && o->choices) {
        size_t plen = strlen(word);
        for (const char *const *c = o->choices; *c; c++)
            if (has_prefix(*c, word, plen))
                add(out, *c);
    } else if (o->type == LSC_OPT_ADAPTER) {
        add_names(out, src->adapters, src->n_adapters, word);
    } else if (o->type == LSC_OPT_GLOB) {
        add_names(out, src->layers, src->n_layers, word);
    }
}

#define MAX_WORDS 64

size_t lsc_complete(const char *line, const lsc_complete_src *src, lsc_completion *out)
{
    static const lsc_complete_src none = {0};
    if (!src)
        src = &none;
    memset(out, 0, sizeof *out);
    /* the complete words before the one being typed */
    char words[MAX_WORDS][LSC_COMPLETE_WORD];
    int k = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        if (!*e) /* the last word (maybe empty) is the one being completed */
            break;
        if (k < MAX_WORDS) {
            size_t len = (size_t)(e - p) < LSC_COMPLETE_WORD - 1 ? (size_t)(e - p) : LSC_COMPLETE_WORD - 1;
            memcpy(words[k], p, len);
            words[k++][len] = '\0';
        }
        p = e;
    }
    out->start = (size_t)(p - line);
    const char *word = p;
    if (k == 0 || (k == 1 && strcmp(words[0], "help") == 0)) {
        add_commands(out, word);
        return out->n;
    }
    const lsc_command *c = lsc_command_find(words[0]);
    if (!c || !c->spec)
        return 0;
    const lsc_opt *opts = c->spec->opts;
    int options_end = 0;
    for (int i = 1; i < k; i++)
        options_end |= strcmp(words[i], "--") == 0;
    if (!options_end && word[0] == '-') {
        const char *eq = strchr(word, '=');
        if (!eq) {
            add_options(out, opts, word);
            return out->n;
        }
        char name[LSC_COMPLETE_WORD];
        size_t len = (size_t)(eq - word) < sizeof name - 1 ? (size_t)(eq - word) : sizeof name - 1;
        memcpy(name, word, len);
        name[len] = '\0';
        out->start += (size_t)(eq + 1 - word);
        add_values(out, lsc_opts_find(opts, name), src, eq + 1);
        return out->n;
    }
    const char *prev = words[k - 1];
    if (k >= 2 && !options_end && prev[0] == '-' && prev[1] == '-' && !strchr(prev, '=') &&
        lsc_command_option_takes_value(c, prev)) {
        add_values(out, lsc_opts_find(opts, prev), src, word);
        return out->n;
    }
    /* a positional: count the positionals before it (skipping options and their values) */
    int idx = 0, after_dashes = 0;
    for (int i = 1; i < k; i++) {
        if (!after_dashes && strcmp(words[i], "--") == 0) {
            after_dashes = 1;
        } else if (!after_dashes && words[i][0] == '-' && words[i][1]) {
            if (words[i][1] == '-' && !strchr(words[i], '=') && lsc_command_option_takes_value(c, words[i]))
                i++;
        } else {
            idx++;
        }
    }
    if (lsc_command_positional_is_adapter(c, idx))
        add_names(out, src->adapters, src->n_adapters, word);
    return out->n;
}

int lsc_tui_suggest(const char *word, const char *const *cands, size_t n)
{
    /* the CLI's rule (app/cmd/suggest.h), so the prompt and the shell suggest the same words */
    lsc_suggest sg;
    lsc_suggest_init(&sg, word);
    for (size_t i = 0; i < n; i++)
        lsc_suggest_add(&sg, cands[i]);
    for (size_t i = 0; sg.n > 0 && i < n; i++)
        if (cands[i] == sg.hits[0])
            return (int)i;
    return -1;
}
