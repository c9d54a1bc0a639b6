/* command.h: the one command layer behind the CLI, the TUI's `:` prompt and the script runner.
 *
 * Every user operation is a command in app/cmd/cmd_<name>.c, listed once in commands.def; each declares its
 * options once, in a table (options.h) that gives parsing, --help and the errors for bad values.
 * lsc_dispatch() finds the command, opens the catalog when the command needs it, wraps a mutating command
 * in one transaction and records it in the history, so a crash or an error never leaves half an edit.
 * A command's run step writes results to ctx->out and reports failure through ctx->err; it never prints or
 * exits.
 */
#ifndef LSC_COMMAND_H
#define LSC_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "options.h"
#include "sink.h"
#include "status.h"

/* Exit codes shared by every front end. */
enum { LSC_EXIT_OK = 0, LSC_EXIT_ERROR = 1, LSC_EXIT_USAGE = 2 };

#define LSC_CMD_CATALOG 0x1u /* needs the catalog open */
#define LSC_CMD_MUTATES 0x2u /* changes the catalog: one transaction, one history entry */
#define LSC_CMD_NOHIST 0x4u  /* mutates but records no history itself (undo/redo manage it) */
/* what undo/redo do with a history entry of this command: */
#define LSC_CMD_CREATES 0x8u  /* its outputs are new adapters: undo hides them, redo shows them again */
#define LSC_CMD_HIDES 0x10u   /* it hid its outputs (rm): undo shows them again, redo hides them */
#define LSC_CMD_RENAMES 0x20u /* it renamed its output from args[1] to args[2]: undo renames back */

#define LSC_CMD_MAX_IO 256

typedef struct lsc_cmd_ctx {
    const char *catalog_path; /* NULL: the default path */
    lsc_catalog *cat;         /* open when the command has LSC_CMD_CATALOG (owned by the caller if set on entry) */
    lsc_sink *out;            /* results */
    lsc_sink *diag;           /* warnings and progress (stderr for the CLI) */
    int json;                 /* global --json */
    int readonly;             /* refuse mutating commands */
    int dry_run;              /* run, then roll back instead of committing */
    int no_change;            /* set by a mutating handler that found nothing to change: roll back, no history */
    int logged;               /* set by a handler that wrote its own history entry in the transaction (a batch
                               * import with more outputs than LSC_CMD_MAX_IO): the dispatcher adds none */
    int check_only;           /* lsc_dispatch parses and validates the arguments only (script checking) */
    lsc_error err;            /* filled when a handler returns non-zero */
    /* adapters the command read and wrote, for the history record */
    int64_t inputs[LSC_CMD_MAX_IO];
    size_t n_inputs;
    int64_t outputs[LSC_CMD_MAX_IO];
    size_t n_outputs;
    volatile int *cancel;     /* non-NULL: long commands stop when *cancel becomes non-zero */
    const char *args_json;    /* set by the dispatcher: the arguments as typed, as a JSON array */
    volatile int *pause;      /* non-NULL: training commands wait between steps while *pause is non-zero */
    int own_txn;              /* set by the dispatcher: it opened the transaction the command runs in (0 for a
                               * line of a script, whose one transaction is the run's: keep out of it) */
    void *prepared;           /* a state from the command's prepare and compute (lsc_cmd_spec), for run */
} lsc_cmd_ctx;

/* A command's arguments, declared once (options.h): the table gives parsing, usage, help and bad-value
 * errors; `validate` holds the rules across options (exactly one prune rule, --density only with DARE or
 * TIES ...) and may fill derived fields; `run` does the work on the parsed, validated struct. Parsing and
 * validating never touch the catalog, so scripts and the TUI check a command line without running it. */
typedef struct lsc_cmd_spec {
    const lsc_opt *opts;                              /* options and positionals, ended by {0} */
    size_t args_size;                                 /* sizeof the typed args struct (starts with lsc_args) */
    int (*validate)(lsc_cmd_ctx *ctx, void *args);    /* NULL: no rule across options */
    int (*run)(lsc_cmd_ctx *ctx, void *args);
    const char *notes;                                /* help text printed after the options; "" none */
} lsc_cmd_spec;

/* Optional, for `run --jobs` (cmd_run.c): a command's run split in three. prepare does every read of the
 * catalog (in the caller's thread, after parse and validate) and returns a state; compute works on that
 * state alone (no catalog, no sinks: any thread; every tensor it reads was loaded by prepare); the
 * command's run then finds the state in ctx->prepared, takes it (setting ctx->prepared to NULL), stores
 * the result and reports as it always does. prepared_free releases a state that run never took.
 * output names the adapter the state will make (the runner keeps two pending states from making one
 * name, and a later line from reading a name not stored yet); held_bytes (may be NULL) is about the
 * memory the state holds, so the runner bounds a batch by bytes as well as by count. prepare may succeed
 * with *state NULL: the match is too big to hold (derive_job.h), and the runner runs it in turn through
 * the command's run step (streamed, its layers over the pool). */
typedef struct lsc_cmd_split {
    int (*prepare)(lsc_cmd_ctx *ctx, void *args, void **state);
    lsc_status (*compute)(void *state, lsc_error *err);
    void (*prepared_free)(void *state);
    const char *(*output)(const void *state);
    size_t (*held_bytes)(const void *state);
    /* may be NULL: a command that makes several adapters (share: NEW and NEW-<task>) names its i-th, NULL
     * past the last; the runner then checks all of them, not only `output` */
    const char *(*output_at)(const void *state, size_t i);
} lsc_cmd_split;

typedef struct lsc_command {
    const char *name;
    const lsc_cmd_spec *spec;
    unsigned flags;
    const char *summary; /* one line */
} lsc_command;

/* The table (from commands.def) and its length. */
extern const lsc_command lsc_commands[];
extern const size_t lsc_n_commands;

/* Find a command by name; NULL if unknown. */
const lsc_command *lsc_command_find(const char *name);

/* Run argv (argv[0] is the command name) with the common work done once: catalog opening, --help,
 * readonly check, one transaction around a mutating command, history record, rollback on failure.
 * Returns the exit code; on failure ctx->err holds a one-line message. */
int lsc_dispatch(lsc_cmd_ctx *ctx, int argc, char **argv);

/* Record an adapter the running command read or wrote (for the history). */
void lsc_cmd_read(lsc_cmd_ctx *ctx, int64_t id);
void lsc_cmd_wrote(lsc_cmd_ctx *ctx, int64_t id);

/* Parse and validate argv (argv[0] the command name) for command c without running it or touching the
 * catalog: *args receives the typed args struct (release with lsc_command_args_free; it points into argv).
 * Returns LSC_EXIT_OK, or LSC_EXIT_USAGE with a one-line message in ctx->err. The TUI's previews and
 * the script checker call this, so they refuse exactly what the command refuses. */
int lsc_command_parse(lsc_cmd_ctx *ctx, const lsc_command *c, int argc, char **argv, void **args);
void lsc_command_args_free(void *args);

/* From the command's table: non-zero if option `opt` ("--layers" or "--layers=x") takes a value. */
int lsc_command_option_takes_value(const lsc_command *c, const char *opt);

/* From the command's table: non-zero if the positional argument at `index` (0-based) names an adapter
 * that must exist (a repeatable NAME... makes every later positional one too). */
int lsc_command_positional_is_adapter(const lsc_command *c, int index);

/* From the command's table: non-zero if it takes a repeatable adapter positional (merge NAME...). */
int lsc_command_takes_many_adapters(const lsc_command *c);

/* Print the command's usage and help to ctx->out. */
void lsc_command_print_help(lsc_sink *out, const lsc_command *c);

#endif
