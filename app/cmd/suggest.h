/* suggest.h: "did you mean" for mistyped words (commands, options, choices, adapter names).
 *
 * One rule for every front end (the CLI here; the TUI `:` prompt may call the same functions): the
 * distance is Damerau-Levenshtein in its optimal-string-alignment form (insert, delete, substitute,
 * swap two neighbours: one edit each), over bytes, ASCII letters compared without case. A candidate is
 * offered when it is within the cut-off for the typed word's length (1 edit up to 4 bytes, 2 up to 8,
 * 3 beyond; never as many edits as the word has bytes, so "x" suggests nothing), or when the typed word
 * (3 bytes or more) is a prefix of it. The best distance wins; ties are all offered, up to
 * LSC_SUGGEST_MAX, in the order they were added. Pure: no I/O, no catalog, no allocation. */
#ifndef LSC_CMD_SUGGEST_H
#define LSC_CMD_SUGGEST_H

#include <stddef.h>

#define LSC_SUGGEST_MAX 3

typedef struct lsc_suggest {
    const char *word;                    /* what was typed (not owned) */
    size_t best;                         /* distance of the hits so far; (size_t)-1: none */
    const char *hits[LSC_SUGGEST_MAX];   /* candidates at distance `best` (not owned: must outlive the use) */
    int n;
    const char *prefix;                  /* written before each hit ("--" for options); "" after init */
} lsc_suggest;

/* The optimal-string-alignment distance between a and b (see the head of the file); strings longer than
 * 255 bytes are compared on their first 255. */
size_t lsc_edit_distance(const char *a, const char *b);

/* Start collecting suggestions for `word` (which must outlive s). */
void lsc_suggest_init(lsc_suggest *s, const char *word);

/* Offer one candidate; kept if within the cut-off and at least as near as the best so far. An exact
 * match of the word is ignored (nothing to correct). `candidate` must outlive the use of s. */
void lsc_suggest_add(lsc_suggest *s, const char *candidate);

/* "; did you mean 'a'?" or "; did you mean 'a' or 'b'?" (names escaped), or "" when nothing is near,
 * written into buf (cap bytes, truncated to fit); returns buf. */
const char *lsc_suggest_text(const lsc_suggest *s, char *buf, size_t cap);

#endif
