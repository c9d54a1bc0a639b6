/* options.h: each command's options and positional arguments, declared once in one table.
 *
 * A command file declares `static const lsc_opt opts[]` (options and positionals, ended by {0}) and a
 * typed arguments struct whose first member is an lsc_args; lsc_opts_parse() fills that struct from argv
 * (each entry writes its field at `at`, an offsetof), so parsing, the `--help` text (lsc_opts_help), the
 * error for a bad value (naming the option and its range or its choices), whether an option takes a value
 * and which positionals name adapters all come from the same table. Numbers are parsed strictly: a whole
 * number is decimal digits only (an optional '-'), range-checked without overflow; a real is finite and
 * range-checked. Nothing here touches the catalog: parsing is all the script checker needs.
 * To add an option: one entry in the command's table, one field in its args struct (README "Add an option").
 * Internal to the command layer (the TUI reaches it through command.h). */
#ifndef LSC_CMD_OPTIONS_H
#define LSC_CMD_OPTIONS_H

#include <limits.h> /* the bounds tables use: INT_MAX, LLONG_MAX */
#include <math.h>   /* HUGE_VAL */
#include <stddef.h> /* offsetof */
#include <stdint.h>

#include "sink.h"

struct lsc_cmd_ctx;

typedef enum lsc_opt_type {
    LSC_OPT_END = 0, /* ends a table */
    LSC_OPT_FLAG,    /* no value: int field set to 1 */
    LSC_OPT_INT,     /* long long field, ilo..ihi */
    LSC_OPT_U64,     /* uint64_t field, 0..2^64-1 (seeds) */
    LSC_OPT_REAL,    /* double field, finite, lo..hi (LSC_OPT_LO_OPEN / HI_OPEN make an end open) */
    LSC_OPT_CHOICE,  /* int field: the index in choices[] */
    LSC_OPT_STRING,  /* const char * field (pointer into argv) */
    LSC_OPT_GLOB,    /* const char *: a layer-name glob */
    LSC_OPT_PATH,    /* const char *: a file or folder */
    LSC_OPT_ADAPTER, /* const char *: an adapter that must exist */
    LSC_OPT_NEW,     /* const char *: the name of an adapter the command makes */
    LSC_OPT_LIST     /* lsc_optlist field: a repeatable string option */
} lsc_opt_type;

/* entry flags */
#define LSC_OPT_POSITIONAL 0x01u /* a positional argument (name NULL), filled in table order */
#define LSC_OPT_OPTIONAL 0x02u   /* positional: may be absent */
#define LSC_OPT_MANY 0x04u       /* positional: this and every later one (at least min_n, at most max_n) */
#define LSC_OPT_REQUIRED 0x08u   /* option: must be given */
#define LSC_OPT_LO_OPEN 0x10u    /* REAL: the lower bound is excluded */
#define LSC_OPT_HI_OPEN 0x20u    /* REAL: the upper bound is excluded */
#define LSC_OPT_ICASE 0x40u      /* CHOICE: match ignoring case */
#define LSC_OPT_NOUSAGE 0x80u    /* not shown in the usage line (another entry's usage text covers it) */
#define LSC_OPT_DASHES 0x100u    /* CHOICE: '-' in the value matches '_' in a choice (dare-linear) */

#define LSC_OPTLIST_MAX 64
typedef struct lsc_optlist {
    const char *v[LSC_OPTLIST_MAX];
    int n;
} lsc_optlist;

typedef struct lsc_opt {
    const char *name;           /* long name without "--"; NULL for a positional */
    lsc_opt_type type;
    const char *metavar;        /* "K", "GLOB", "NAME"; for a positional its usage word */
    size_t at;                  /* offsetof the field in the typed args struct (its C type per lsc_opt_type;
                                 * a MANY positional: char **, the first of them); 0: not stored */
    size_t text_at;             /* non-zero: also store the value as typed (const char *) here */
    unsigned flags;             /* LSC_OPT_* above */
    long long ilo, ihi;         /* INT bounds (inclusive) */
    double lo, hi;              /* REAL bounds */
    const char *const *choices; /* CHOICE: NULL-terminated */
    const char *def;            /* the default, as text parsed like a given value; NULL: zero */
    const char *help;           /* help text; "\n" starts a continuation line; NULL: not listed */
    const char *usage;          /* usage-line text replacing "[--name META]" (e.g. "RULE"); NULL: generated */
    int min_n, max_n;           /* MANY positional: count bounds (max_n 0: up to LSC_OPTLIST_MAX) */
    const char *new_with;       /* ADAPTER positional: may name a new adapter when this option is given */
} lsc_opt;

/* The head of every typed args struct. */
typedef struct lsc_args {
    char **pos;    /* the positionals in order (pointers into argv) */
    int npos;
    uint64_t seen; /* bit i: table entry i was given on the command line */
} lsc_args;

/* Fill args (a typed struct starting with lsc_args, zeroed by the caller) from argv (argv[0] the command
 * name): every entry's default first, then the options and positionals given (`--name VALUE`,
 * `--name=VALUE`, `--` ends the options, options may follow positionals). Checks each value's type and
 * range and the number of positionals. Returns LSC_EXIT_OK or LSC_EXIT_USAGE with a one-line message in
 * ctx->err naming the option and what it takes. args->pos points into argv, which must outlive args. */
int lsc_opts_parse(struct lsc_cmd_ctx *ctx, const char *cmd, const lsc_opt *opts, int argc, char **argv, void *args);

/* Non-zero if the option named `name` (without "--") was given. */
int lsc_opts_given(const lsc_opt *opts, const void *args, const char *name);

/* The table entry of option `opt` ("--layers", "--layers=x" or "layers"); NULL if none. */
const lsc_opt *lsc_opts_find(const lsc_opt *opts, const char *opt);

/* The positional entry describing positional number `index` (0-based, MANY repeats); NULL if none. */
const lsc_opt *lsc_opts_positional(const lsc_opt *opts, int index);

/* Print "usage: lorascope CMD ..." (generated from the table) to out. */
void lsc_opts_usage(lsc_sink *out, const char *cmd, const lsc_opt *opts);

/* Print the table's help lines (positionals, then options, as "  --name META   help") to out. */
void lsc_opts_help(lsc_sink *out, const lsc_opt *opts);

/* What a valued entry takes, in words ("a whole number >= 1", "a number in (0, 1]", "one of a, b"). */
const char *lsc_opts_takes(const lsc_opt *o, char *buf, size_t cap);

/* The strict number parsers every command uses. A whole number is an optional '-' then decimal digits
 * only (no spaces, '+', hex, exponents or fractions), within [lo, hi]; a real is decimal (digits, sign,
 * point, exponent: no spaces, hex, nan or inf), read in full by strtod, finite, within the bounds. Return 0 on success, -1 if s is not such a number or out
 * of range (*v untouched). */
int lsc_parse_int(const char *s, long long lo, long long hi, long long *v);
int lsc_parse_u64(const char *s, uint64_t *v);
int lsc_parse_real(const char *s, double lo, double hi, unsigned flags, double *v);

/* Parse one value for entry o into its field of args; on failure fill ctx->err ("CMD: --rank takes a whole
 * number from 1 to 2147483647, not '2.5'"; "CMD: --method: 'foo' is not one of cat, linear, ...") and return
 * LSC_EXIT_USAGE. Used by lsc_opts_parse and for defaults. */
int lsc_opts_set(struct lsc_cmd_ctx *ctx, const char *cmd, const lsc_opt *o, const char *value, void *args);

#endif
