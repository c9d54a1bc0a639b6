/* fuzz-script.c: the script parser (app/script) on arbitrary text.
 *
 * Each input is a script (bytes up to the first NUL). It is parsed with one locked outside variable
 * (as --var gives them). Oracles: a rejection carries a "FILE:LINE: message"; every parsed word quoted
 * with lsc_script_quote and parsed again is the same word (the promise script.h makes, which `run`
 * relies on when it writes a match into a command line); line numbers never go backwards.
 * Depends on app/script only: no catalog. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "script.h"

static void check_quote_round_trip(const char *word)
{
    char *q = lsc_script_quote(word);
    if (!q)
        abort();
    size_t n = strlen(q);
    char *line = malloc(n + 8);
    if (!line)
        abort();
    memcpy(line, "w ", 2);
    memcpy(line + 2, q, n);
    memcpy(line + 2 + n, "\n", 2);
    lsc_script_vars v = {0};
    lsc_script *s = NULL;
    lsc_error err;
    if (lsc_script_parse("quote", line, &v, &s, &err) != LSC_OK)
        fuzz_fail("quoted word [%s] does not parse: %s", q, err.msg);
    if (s->n != 1 || s->cmds[0].argc != 2 || strcmp(s->cmds[0].argv[1], word) != 0)
        fuzz_fail("word [%s] quoted as [%s] reads back differently", word, q);
    lsc_script_free(s);
    lsc_script_vars_release(&v);
    free(line);
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    lsc_script_vars vars = {0};
    if (lsc_script_var_set(&vars, "LOCKED", "outside value", 1))
        abort();
    lsc_script *s = NULL;
    lsc_error err;
    lsc_error_clear(&err);
    if (lsc_script_parse("fuzz.lsc", text, &vars, &s, &err) == LSC_OK) {
        int last = 0;
        for (size_t i = 0; i < s->n; i++) {
            const lsc_script_cmd *c = &s->cmds[i];
            if (c->line < last || c->line < 1 || c->argc < 1 || c->argv[c->argc] != NULL)
                fuzz_fail("command %zu: line %d after %d, argc %d", i, c->line, last, c->argc);
            last = c->line;
            for (int k = 0; k < c->argc; k++)
                check_quote_round_trip(c->argv[k]);
        }
        const char *locked = lsc_script_var_get(&vars, "LOCKED");
        if (!locked || strcmp(locked, "outside value") != 0)
            fuzz_fail("a script's set overrode a locked variable");
        lsc_script_free(s);
    } else if (strncmp(err.msg, "fuzz.lsc:", 9) != 0) {
        fuzz_fail("rejection without FILE:LINE: [%s]", err.msg);
    }
    lsc_script_vars_release(&vars);
    free(text);
    return 0;
}
