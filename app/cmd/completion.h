/* completion.h: shell completion for bash, zsh and fish, generated from the command and option tables,
 * and the words the generated functions ask the binary for at Tab time.
 *
 * The scripts hold what the tables say (commands, each command's options, which take a value and of what
 * kind: a choice list, a layer glob, a path, an adapter; which positionals name adapters) and call
 * `lorascope [--catalog PATH] __complete adapters|layers ...` under `timeout` for names in the catalog,
 * as git's completion calls git. */
#ifndef LSC_CMD_COMPLETION_H
#define LSC_CMD_COMPLETION_H

#include "command.h"
#include "sink.h"

typedef enum lsc_shell { LSC_SHELL_BASH, LSC_SHELL_ZSH, LSC_SHELL_FISH } lsc_shell;

/* Write the completion script for `shell` to out. */
void lsc_completion_script(lsc_sink *out, lsc_shell shell);

/* The hidden `__complete` entry: argv[0] is "adapters" (optional argv[1]: a prefix) or "layers" (argv[1]:
 * an adapter name). Prints one candidate per line to ctx->out: visible adapter names, or the display names
 * of the adapter's layers. Opens ctx->catalog_path (or the default) read-only; a missing catalog or
 * adapter prints nothing. Returns an exit code; never changes anything. */
int lsc_complete_words(lsc_cmd_ctx *ctx, int argc, char **argv);

#endif
