/* handlers.h: the command handlers named in commands.def, one per app/cmd/cmd_<name>.c.
 * Internal to the command layer: front ends go through lsc_dispatch(). */
#ifndef LSC_HANDLERS_H
#define LSC_HANDLERS_H

#include "command.h"

#define LSC_CMD(name, fn, flags, summary, usage, help) int fn(lsc_cmd_ctx *ctx, int argc, char **argv);
#define LSC_SPEC(name, spec, flags, summary) extern const lsc_cmd_spec spec;
#include "commands.def"
#undef LSC_CMD
#undef LSC_SPEC

#endif
