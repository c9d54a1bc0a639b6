/* docs.h: the manual pages, generated from the command table (commands.def) and each command's option
 * table, so the pages can never drift from what the code parses.
 *
 * lorascope(1): overview, global options, commands, environment, files, exit status, examples.
 * lorascope-CMD(1): one page per command (git's layout): synopsis from the usage generator, every
 * positional and option with what it takes (range, choices, default) and its help, the command's notes.
 * lorascope-script(5): the script language.
 * The pages are man(7) roff. The same text without roff is what `lorascope help CMD` prints when `man`
 * is not installed (lsc_command_print_help plus the page's extra sections).
 */
#ifndef LSC_CMD_DOCS_H
#define LSC_CMD_DOCS_H

#include "command.h"
#include "sink.h"

/* A global option of the lorascope binary (before the command word). */
typedef struct lsc_global_opt {
    const char *name;    /* long name without "--" */
    const char *metavar; /* NULL: a flag */
    const char *help;    /* one line; "\n" continues */
} lsc_global_opt;

/* The global options, ended by {0}; main.c parses them and prints them in --help from this table. */
extern const lsc_global_opt lsc_global_opts[];

/* Print the global options as `--help` shows them ("  --catalog PATH   the catalog ..."). */
void lsc_global_opts_help(lsc_sink *out);

/* Write the roff source of lorascope(1) to out. */
void lsc_man_main(lsc_sink *out);

/* Write the roff source of lorascope-NAME(1) for command c to out. */
void lsc_man_command(lsc_sink *out, const lsc_command *c);

/* Write the roff source of lorascope-script(5) to out. */
void lsc_man_script(lsc_sink *out);

/* Write the page named `page` ("lorascope", "lorascope-prune", "lorascope-script") to out. Returns 0, or
 * -1 if there is no such page. */
int lsc_man_page(lsc_sink *out, const char *page);

/* Write a page generated above as plain text (headings, indented entries, escapes decoded): what
 * `lorascope help` prints where `man` is not installed or the output is not a terminal. */
void lsc_man_to_text(lsc_sink *out, const char *roff);

#endif
