/* script.h: lorascope scripts — command lines without the word `lorascope`, in a file.
 *
 * Syntax: one command per line; `#` starts a comment (at the start of a word); a backslash before the
 * newline continues the line; quoting as in a POSIX shell ('single' is literal, "double" allows \" \\ \$
 * and ${NAME}, a backslash outside quotes escapes the next character); `set NAME VALUE` assigns a
 * variable, `${NAME}` (or $NAME) expands it at parse time, in order. Variables given from outside (the
 * --var option) are locked: `set` does not override them, so a script's `set` lines are its defaults.
 * `expect ...` lines are kept as commands for the runner to evaluate. Pure text processing: no catalog.
 *
 * Limits, so that a few lines cannot ask for gigabytes: a command's words (after expanding variables and
 * joining `\` continuations) hold at most LSC_SCRIPT_MAX_LINE bytes, and all the words of a script
 * (`set` lines included) at most LSC_SCRIPT_MAX_TOTAL bytes; past either the parse fails with FILE:LINE.
 */
#ifndef LSC_SCRIPT_H
#define LSC_SCRIPT_H

#include <stddef.h>

#include "status.h"

#define LSC_SCRIPT_MAX_LINE (1 << 20)   /* 1 MiB per command, after expansion */
#define LSC_SCRIPT_MAX_TOTAL (64 << 20) /* 64 MiB per script, after expansion */

typedef struct lsc_script_cmd {
    int line;    /* 1-based line where the command starts */
    int argc;
    char **argv; /* argv[0] is the command name; NULL-terminated */
} lsc_script_cmd;

typedef struct lsc_script {
    char *file;  /* the name used in messages ("-" reads as "<stdin>") */
    lsc_script_cmd *cmds;
    size_t n;
} lsc_script;

typedef struct lsc_script_vars {
    char **names, **values;
    int *locked;
    size_t n;
} lsc_script_vars;

/* Set a variable (copying both strings); a locked variable keeps its value unless `lock` is set
 * (which is how --var values are given). Returns LSC_ERR_NOMEM on failure. */
lsc_status lsc_script_var_set(lsc_script_vars *v, const char *name, const char *value, int lock);

/* Value of a variable, NULL if unset. */
const char *lsc_script_var_get(const lsc_script_vars *v, const char *name);

void lsc_script_vars_release(lsc_script_vars *v);

/* Parse `text` (the contents of `file`). `set` lines update vars and are not returned as commands.
 * Errors: LSC_ERR_FORMAT with "FILE:LINE: message" (unterminated quote, undefined variable, bad set line,
 * bad variable name, a command or the script over its size limit). *out is freed with lsc_script_free. */
lsc_status lsc_script_parse(const char *file, const char *text, lsc_script_vars *vars, lsc_script **out,
                            lsc_error *err);

/* lsc_script_parse that stops with LSC_ERR_CANCELLED ("FILE:LINE: cancelled ...") soon after *cancel
 * becomes non-zero (cancel may be NULL): a script of 64 MiB takes a second or two to read. */
lsc_status lsc_script_parse_cancel(const char *file, const char *text, lsc_script_vars *vars, volatile int *cancel,
                                   lsc_script **out, lsc_error *err);

void lsc_script_free(lsc_script *s);

/* Quote one word for a script line so that lsc_script_parse reads it back unchanged (single quotes when
 * needed). Returns a malloc'ed string. */
char *lsc_script_quote(const char *word);

#endif
