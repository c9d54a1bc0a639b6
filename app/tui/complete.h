/* complete.h: completion and "did you mean" for the workbench's `:` command line. No curses, no state:
 * it reads the command table (command.h: names, option tables, choices, which positionals are adapters)
 * and the adapter and layer names the caller passes, so the prompt, the tests and the benchmark call the
 * same function.
 */
#ifndef LSC_TUI_COMPLETE_H
#define LSC_TUI_COMPLETE_H

#include <stddef.h>

#define LSC_COMPLETE_SHOW 8   /* candidates kept for the list under the line */
#define LSC_COMPLETE_WORD 256 /* longest completed word */

/* Names the line may refer to, in any order; may be empty. */
typedef struct lsc_complete_src {
    const char *const *adapters;
    size_t n_adapters;
    const char *const *layers; /* the layers of the adapter on screen */
    size_t n_layers;
} lsc_complete_src;

typedef struct lsc_completion {
    size_t start;                    /* byte offset in the line where the word being completed starts */
    char common[LSC_COMPLETE_WORD];  /* the longest common prefix of the candidates (replaces the word) */
    size_t n;                        /* how many candidates match (0: none) */
    const char *cands[LSC_COMPLETE_SHOW]; /* min(n, LSC_COMPLETE_SHOW) of them: commands, options and
                                      * choices in table order, names the smallest by strcmp in that order;
                                      * they point into the command table, src or (options) a buffer of
                                      * complete.c valid until the next call */
} lsc_completion;

/* Complete the last word of `line` (the cursor is at its end): the command name for the first word (and
 * after `help`), "--option" from the command's option table for a word starting with "--", the choices of a
 * choice option, adapter names after an adapter option or for a positional that names an adapter, layer
 * names after a layer-glob option (--layers). One pass over each source (no sort), so a 10,000-adapter
 * catalog answers well within a frame. Returns out->n. */
size_t lsc_complete(const char *line, const lsc_complete_src *src, lsc_completion *out);

/* "Did you mean": the index of the candidate closest to `word` under the CLI's rule (app/cmd/suggest.h:
 * optimal-string-alignment distance within a cut-off for the word's length, or the word a prefix of 3+
 * bytes); ties go to the earlier candidate; -1 when none is close (or the word is a candidate). */
int lsc_tui_suggest(const char *word, const char *const *cands, size_t n);

#endif
