/* handlers.h: the command specs named in commands.def (option table, validate, run), one per
 * app/cmd/cmd_<name>.c.
 * Internal to the command layer: front ends go through lsc_dispatch(). */
#ifndef LSC_HANDLERS_H
#define LSC_HANDLERS_H

#include "command.h"

#define LSC_SPEC(name, spec, flags, summary) extern const lsc_cmd_spec spec;
#include "commands.def"
#undef LSC_SPEC

/* Commands whose run is split for `run --jobs` (command.h lsc_cmd_split); cmd_run.c lists them. */
extern const lsc_cmd_split lsc_split_prune, lsc_split_merge, lsc_split_convert, lsc_split_sparsify,
    lsc_split_gates, lsc_split_rebudget, lsc_split_share;

#endif
