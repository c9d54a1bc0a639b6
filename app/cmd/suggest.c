/* suggest.c: edit distance and "did you mean" (see suggest.h). */
#include "suggest.h"

#include <stdio.h>
#include <string.h>

#include "status.h"

#define SUGGEST_LEN 255

static int fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

size_t lsc_edit_distance(const char *a, const char *b)
{
    size_t n = strnlen(a, SUGGEST_LEN), m = strnlen(b, SUGGEST_LEN);
    /* three rows of the dynamic programme: two back (for a swap), one back, this one */
    size_t rows[3][SUGGEST_LEN + 1];
    size_t *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++)
        prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            int ca = fold((unsigned char)a[i - 1]), cb = fold((unsigned char)b[j - 1]);
            size_t best = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == fold((unsigned char)b[j - 2]) && fold((unsigned char)a[i - 2]) == cb &&
                pp[j - 2] + 1 < best)
                best = pp[j - 2] + 1;
            cur[j] = best;
        }
        size_t *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

void lsc_suggest_init(lsc_suggest *s, const char *word)
{
    memset(s, 0, sizeof *s);
    s->word = word;
    s->best = (size_t)-1;
    s->prefix = "";
}

void lsc_suggest_add(lsc_suggest *s, const char *candidate)
{
    if (!s->word || !candidate || strcmp(s->word, candidate) == 0)
        return;
    size_t len = strlen(s->word);
    size_t cut = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    size_t d = lsc_edit_distance(s->word, candidate);
    if (d > cut || d >= len) {
        /* a prefix of the candidate (3 bytes or more) counts as one edit away */
        if (len < 3 || strncmp(candidate, s->word, len) != 0)
            return;
        d = 1;
    }
    if (d < s->best) {
        s->best = d;
        s->n = 0;
    }
    if (d == s->best && s->n < LSC_SUGGEST_MAX)
        s->hits[s->n++] = candidate;
}

const char *lsc_suggest_text(const lsc_suggest *s, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    for (int i = 0; i < s->n && len < cap; i++) {
        char shown[256];
        const char *sep = i == 0 ? "; did you mean " : i == s->n - 1 ? " or " : ", ";
        len += (size_t)snprintf(buf + len, cap - len, "%s'%s%s'", sep, s->prefix, lsc_escape_name(shown, sizeof shown, s->hits[i]));
    }
    if (s->n && len < cap)
        snprintf(buf + len, cap - len, "?");
    return buf;
}
