/* state.h: everything the workbench remembers between two frames, and the requests that change it.
 *
 * The state holds the view stack (catalog → layers → spectrum, grid, diff, history, command output, the
 * panels), the per-view lists (cursor, scroll, sort column and direction, filter, tags), the search string,
 * the help overlay and the text input line (`:` prompt, `/` search, `f` filter). It takes a named request
 * (lsc_tui_req) and returns what changed (LSC_TUI_CH_*), like htop's actions; it never draws.
 * state.c dispatches each request to the module of the view on top (view_<name>.c, protocol in view.h);
 * each view keeps its own state in its own member (st->grid, st->diff, st->prune ...), written by that
 * view's module only, and clears its transient part when it closes. It also owns the layout (which screen rows a list occupies, which columns fit) so that
 * paging, mouse hits and drawing agree by construction. render.c and render_<view>.c read this struct and draw; nothing
 * here includes curses.
 */
#ifndef LSC_TUI_STATE_H
#define LSC_TUI_STATE_H

#include <stddef.h>

#include "model.h"

/* Requests: name for the key-script parser and tests. */
#define LSC_REQ_LIST(X)                  \
    X(LSC_REQ_NONE, "none")              \
    X(LSC_REQ_DOWN, "down")              \
    X(LSC_REQ_UP, "up")                  \
    X(LSC_REQ_LEFT, "left")              \
    X(LSC_REQ_RIGHT, "right")            \
    X(LSC_REQ_PAGE_DOWN, "page-down")    \
    X(LSC_REQ_PAGE_UP, "page-up")        \
    X(LSC_REQ_TOP, "top")                \
    X(LSC_REQ_BOTTOM, "bottom")          \
    X(LSC_REQ_ENTER, "enter")            \
    X(LSC_REQ_BACK, "back")              \
    X(LSC_REQ_QUIT, "quit")              \
    X(LSC_REQ_SORT_NEXT, "sort-next")    \
    X(LSC_REQ_SORT_PREV, "sort-prev")    \
    X(LSC_REQ_SORT_REVERSE, "sort-reverse") \
    X(LSC_REQ_SEARCH, "search")          \
    X(LSC_REQ_SEARCH_NEXT, "search-next") \
    X(LSC_REQ_SEARCH_PREV, "search-prev") \
    X(LSC_REQ_FILTER, "filter")          \
    X(LSC_REQ_TAG, "tag")                \
    X(LSC_REQ_TAG_CLEAR, "clear-tags")   \
    X(LSC_REQ_DIFF, "diff")              \
    X(LSC_REQ_HELP, "help")              \
    X(LSC_REQ_PROMPT, "prompt")          \
    X(LSC_REQ_TAB, "tab")                \
    X(LSC_REQ_GRID, "grid")              \
    X(LSC_REQ_METRIC, "metric")          \
    X(LSC_REQ_GROUP, "group")            \
    X(LSC_REQ_HISTORY, "history")        \
    X(LSC_REQ_REFRESH, "refresh")        \
    X(LSC_REQ_RESIZE, "resize")          \
    X(LSC_REQ_PRUNE, "prune")            \
    X(LSC_REQ_MERGE, "merge")            \
    X(LSC_REQ_UNDO, "undo")              \
    X(LSC_REQ_REDO, "redo")              \
    X(LSC_REQ_SAVE, "save-session")      \
    X(LSC_REQ_NEXT_RULE, "next-rule")    \
    X(LSC_REQ_DEC, "decrease")           \
    X(LSC_REQ_INC, "increase")           \
    X(LSC_REQ_DEC_BIG, "decrease-more")  \
    X(LSC_REQ_INC_BIG, "increase-more")  \
    X(LSC_REQ_EDIT, "edit-value")        \
    X(LSC_REQ_LAYER_GLOB, "layer-glob")  \
    X(LSC_REQ_APPLY, "apply")            \
    X(LSC_REQ_KIND, "kind-panel")        \
    X(LSC_REQ_TOGGLE, "toggle")          \
    X(LSC_REQ_RETRAIN, "retrain")        \
    X(LSC_REQ_PAUSE, "pause")            \
    X(LSC_REQ_AUDIT, "audit")            \
    X(LSC_REQ_VSBASE, "vs-base")

typedef enum {
#define LSC_X_REQ(code, name) code,
    LSC_REQ_LIST(LSC_X_REQ)
#undef LSC_X_REQ
    LSC_REQ_COUNT
} lsc_tui_req;

const char *lsc_tui_req_name(lsc_tui_req r);
int lsc_tui_req_parse(const char *name); /* -1 if unknown */

/* Change flags returned by every state call. */
#define LSC_TUI_CH_REDRAW 0x1u /* something visible changed */
#define LSC_TUI_CH_RELOAD 0x2u /* data was (re)loaded from the model */
#define LSC_TUI_CH_QUIT 0x4u   /* leave the main loop */
#define LSC_TUI_CH_RESIZE 0x8u /* the layout changed size: clear and redraw everything */

#define LSC_VIEW_LIST(X)                 \
    X(LSC_VIEW_CATALOG, "catalog")       \
    X(LSC_VIEW_LAYERS, "layers")         \
    X(LSC_VIEW_GRID, "grid")             \
    X(LSC_VIEW_SPECTRUM, "spectrum")     \
    X(LSC_VIEW_DIFF, "diff")             \
    X(LSC_VIEW_HISTORY, "history")       \
    X(LSC_VIEW_OUTPUT, "output")         \
    X(LSC_VIEW_PRUNE, "prune")           \
    X(LSC_VIEW_MERGE, "merge")           \
    X(LSC_VIEW_TASKS, "tasks")           \
    X(LSC_VIEW_KIND, "kind")             \
    X(LSC_VIEW_RETRAIN, "retrain")       \
    X(LSC_VIEW_SERIES, "series")         \
    X(LSC_VIEW_AUDIT, "audit")

typedef enum {
#define LSC_X_VIEW(code, name) code,
    LSC_VIEW_LIST(LSC_X_VIEW)
#undef LSC_X_VIEW
    LSC_VIEW_COUNT
} lsc_tui_view;

const char *lsc_tui_view_name(lsc_tui_view v);

typedef enum {
    LSC_INPUT_NONE,
    LSC_INPUT_PROMPT,  /* `:` command line */
    LSC_INPUT_SEARCH,  /* `/` */
    LSC_INPUT_FILTER,  /* `f` */
    LSC_INPUT_NAME,    /* the name of the adapter a panel creates */
    LSC_INPUT_VALUE,   /* a panel's value typed in (threshold, merge field) */
    LSC_INPUT_GLOB,    /* the prune panel's --layers glob */
    LSC_INPUT_FILE,    /* the file the session script is saved to */
} lsc_tui_input;
typedef enum { LSC_MSG_INFO, LSC_MSG_WARN, LSC_MSG_ERROR } lsc_tui_msg_level;
typedef enum { LSC_METRIC_NORM, LSC_METRIC_RANK, LSC_METRIC_REL } lsc_tui_metric; /* REL: |dW|/|W| vs the base */

/* Columns of the table views. Each view has its own list of columns (lsc_tui_view_columns). */
#define LSC_COL_LIST(X)                                              \
    /*  code             title     width align(1=right) priority */  \
    X(LSC_COL_NAME,      "name",     0, 0, 0)                        \
    X(LSC_COL_KIND,      "kind",    10, 0, 3)                        \
    X(LSC_COL_FORMAT,    "format",   6, 0, 6)                        \
    X(LSC_COL_DTYPE,     "dtype",    8, 0, 6)                        \
    X(LSC_COL_BASE,      "base model", 24, 0, 6)                     \
    X(LSC_COL_LAYERS,    "layers",   7, 1, 1)                        \
    X(LSC_COL_PARAMS,    "params",   7, 1, 2)                        \
    X(LSC_COL_BYTES,     "size",    10, 1, 4)                        \
    X(LSC_COL_CREATED,   "created", 16, 0, 5)                        \
    X(LSC_COL_PARENTS,   "parents", 16, 0, 7)                        \
    X(LSC_COL_INDEX,     "#",        3, 1, 11)                       \
    X(LSC_COL_MODULE,    "module",   9, 0, 9)                        \
    X(LSC_COL_SHAPE,     "shape",   11, 1, 7)                        \
    X(LSC_COL_RANK,      "r",        3, 1, 1)                        \
    X(LSC_COL_ALPHA,     "alpha",    6, 1, 9)                        \
    X(LSC_COL_SCALE,     "scale",    6, 1, 10)                       \
    X(LSC_COL_FRO,       "fro",      8, 1, 2)                        \
    X(LSC_COL_SIGMA1,    "sigma1",   8, 1, 3)                        \
    X(LSC_COL_EFF,       "eff.r",    6, 1, 4)                        \
    X(LSC_COL_STABLE,    "st.r",     5, 1, 8)                        \
    X(LSC_COL_K90,       "k90",      4, 1, 5)                        \
    X(LSC_COL_K99,       "k99",      4, 1, 7)                        \
    X(LSC_COL_ZEROS_A,   "0s A",     5, 1, 12)                       \
    X(LSC_COL_ZEROS_B,   "0s B",     5, 1, 12)                       \
    X(LSC_COL_FLAGS,     "flags",    6, 0, 6)                        \
    X(LSC_COL_COSINE,    "cosine",   7, 1, 1)                        \
    X(LSC_COL_RELDIFF,   "rel.diff", 9, 1, 2)                        \
    X(LSC_COL_SUB_IN,    "sub.in",   7, 1, 3)                        \
    X(LSC_COL_SUB_OUT,   "sub.out",  8, 1, 3)                        \
    X(LSC_COL_FRO_A,     "fro a",    8, 1, 4)                        \
    X(LSC_COL_FRO_B,     "fro b",    8, 1, 4)                        \
    X(LSC_COL_TIME,      "time",    16, 0, 1)                        \
    X(LSC_COL_COMMAND,   "command",  8, 0, 0)                        \
    X(LSC_COL_ARGS,      "arguments", 0, 0, 0)                       \
    X(LSC_COL_STATE,     "state",    6, 0, 2)                        \
    X(LSC_COL_TEXT,      "output",   0, 0, 0)                        \
    X(LSC_COL_NEW_RANK,  "new r",    5, 1, 0)                        \
    X(LSC_COL_KEPT,      "kept",     7, 1, 1)                        \
    X(LSC_COL_RELERR,    "rel.err",  8, 1, 0)                        \
    X(LSC_COL_MODELS,    "models",   6, 1, 2)                        \
    X(LSC_COL_TASK,      "task",    16, 0, 0)                        \
    X(LSC_COL_ADAPTER,   "adapter",  0, 0, 0)                        \
    X(LSC_COL_SIM_PREV,  "sim.prev", 8, 1, 1)                        \
    X(LSC_COL_SIM_FINAL, "sim.final", 9, 1, 1)                       \
    X(LSC_COL_WASTE,     "waste",    5, 1, 2)                        \
    X(LSC_COL_SAVES,     "saves",   10, 1, 0)                        \
    X(LSC_COL_NAN,       "nan",      4, 1, 3)                        \
    X(LSC_COL_DEAD,      "dead",     4, 1, 3)                        \
    X(LSC_COL_NOTES,     "notes",    0, 0, 0)                        \
    X(LSC_COL_BASE_NORM, "|W|",      8, 1, 11)                       \
    X(LSC_COL_REL_NORM,  "|dW|/|W|", 9, 1, 2)                        \
    X(LSC_COL_AMP,       "amp",      7, 1, 4)                        \
    X(LSC_COL_SUBSIM,    "sub.sim",  7, 1, 8)                        \
    X(LSC_COL_INTRUDERS, "intr",     4, 1, 5)

typedef enum {
#define LSC_X_COL(code, title, width, right, prio) code,
    LSC_COL_LIST(LSC_X_COL)
#undef LSC_X_COL
    LSC_COL_COUNT
} lsc_tui_col;

typedef struct lsc_tui_colinfo {
    const char *title;
    int width;    /* 0: flexible (takes the rest) */
    int right;    /* right-aligned numbers */
    int priority; /* lower shows first when space is short; 0 = always */
} lsc_tui_colinfo;

const lsc_tui_colinfo *lsc_tui_col_info(lsc_tui_col c);

/* A column placed on screen. */
typedef struct lsc_tui_colpos {
    lsc_tui_col col;
    int x, width;
} lsc_tui_colpos;

#define LSC_TUI_MAX_COLS 24

/* A list of rows in one view: order[] maps visible rows to data indices after filter and sort. */
typedef struct lsc_tui_list {
    size_t *order;
    size_t n;          /* visible rows */
    size_t n_data;     /* data rows before the filter */
    size_t cursor;     /* visible row under the cursor */
    size_t top;        /* first visible row on screen */
    int sort;          /* index into the view's column list, -1: data order */
    int desc;          /* sort descending */
    unsigned char *tagged; /* [n_data] */
    size_t n_tagged;
    char filter[128];  /* glob on names, "" = none */
} lsc_tui_list;

/* Screen layout, recomputed on resize and on view changes. Rows are screen lines. */
typedef struct lsc_tui_layout {
    int lines, cols;
    int too_small;        /* below LSC_TUI_MIN_COLS x LSC_TUI_MIN_LINES: only a message is drawn */
    int header_y;         /* list column header line */
    int body_y, body_h;   /* list rows */
    int pane_y, pane_x, pane_h, pane_w; /* the secondary pane (diff chart, only-in lists), pane_h 0 if none */
    int status_y, keys_y;
    int table_w;          /* width of the view's table (its columns are placed in it) */
    lsc_tui_colpos colpos[LSC_TUI_MAX_COLS];
    int n_colpos;
} lsc_tui_layout;

#define LSC_TUI_MIN_COLS 60
#define LSC_TUI_MIN_LINES 15

typedef struct lsc_tui_state_opts {
    int readonly;          /* pass LSC_TUI_RUN_READONLY to model->run */
    const char *adapter;   /* open this adapter's layer table first, NULL: the catalog */
    const char *history_file; /* the `:` lines kept across runs (read at start, rewritten on each line);
                               * NULL: kept for this run only */
} lsc_tui_state_opts;

typedef void (*lsc_tui_busy_fn)(void *ctx, const char *what);

/* What a finished job is followed by. */
typedef enum { LSC_JOB_PROMPT, LSC_JOB_PRUNE, LSC_JOB_MERGE, LSC_JOB_UNDO, LSC_JOB_REDO, LSC_JOB_SAVE,
               LSC_JOB_RETRAIN, LSC_JOB_BASEFIG } lsc_tui_job_kind; /* BASEFIG: `show --base --json`, no edit */

#define LSC_TUI_ARGS_MAX 40

/* A command line kept for later (the action of a confirmation). */
typedef struct lsc_tui_argv {
    lsc_tui_job_kind kind;
    int argc;
    char argv[LSC_TUI_ARGS_MAX][LSC_TUI_TEXT_MAX];
} lsc_tui_argv;

/* The prune panel: rule and threshold of one adapter, and the live preview. */
typedef struct lsc_tui_prune_panel {
    char adapter[LSC_TUI_NAME_MAX];
    lsc_tui_prune_rule rule;
    double value[LSC_TUI_PRUNE_RULE_COUNT]; /* each rule keeps its own threshold */
    char glob[128];                         /* --layers, "" = all */
    int chart;                              /* opened on a spectrum: show the chart pane at any width */
    struct lsc_tui_prune_transient {        /* dropped when the panel closes (view_prune.c) */
        lsc_tui_prune_row *rows;            /* preview, stored layer order */
        size_t n_rows;
        lsc_tui_prune_totals tot;
        int ok;                             /* the preview is current; else error says why */
        char error[LSC_ERROR_MSG_MAX];
        double *sv;                         /* spectrum of the row under the cursor */
        size_t n_sv;
        long sv_row;                        /* row whose spectrum is loaded, -1 none */
    } transient;
    unsigned n_previews;                    /* previews computed (tests count recomputations) */
} lsc_tui_prune_panel;

/* The merge panel over the tagged adapters. Fields: method, weights, rank, density, seed. */
enum { LSC_MERGE_FIELD_METHOD, LSC_MERGE_FIELD_WEIGHTS, LSC_MERGE_FIELD_RANK, LSC_MERGE_FIELD_DENSITY,
       LSC_MERGE_FIELD_SEED, LSC_MERGE_FIELD_COUNT };

typedef struct lsc_tui_merge_panel {
    char names[LSC_TUI_MERGE_MAX][LSC_TUI_NAME_MAX];
    int n;
    lsc_tui_merge_opts opts;
    char weights[128];                      /* as typed, "1,1" */
    int field;                              /* LSC_MERGE_FIELD_* under the cursor */
    int base_rank;                          /* the largest input rank (default rank for svd etc.) */
    struct lsc_tui_merge_transient {        /* the preview, dropped when the panel closes (view_merge.c) */
        lsc_tui_merge_row *rows;
        size_t n_rows;
        lsc_tui_merge_totals tot;
        int ok;
        char error[LSC_ERROR_MSG_MAX];
    } transient;
    unsigned n_previews;
} lsc_tui_merge_panel;

/* The kind panel (K): what is particular to the adapter's kind; all of it is transient (view_kind.c resets
 * the whole member when the panel closes and before it loads). Its rows (cursor, top) are the layers of
 * the figures, after an "all layers" row for dynamic and multi-task adapters (their overall curve or
 * matrix); the blocks of a layer-wise grid; none for a static adapter. */
typedef struct lsc_tui_kind_panel {
    char adapter[LSC_TUI_NAME_MAX];
    lsc_tui_kind_figures kf;
    int ok;                          /* figures loaded; else error says why */
    char error[LSC_ERROR_MSG_MAX];
    size_t cursor, top;              /* row under the cursor, first row shown */
    int alt;                         /* the toggle (m): dynamic log -> linear y; layer-wise rank -> energy share */
    size_t widest_layer;             /* dynamic: where the prefix loses most against the best truncation */
    int widest_b;
    double widest_gap;
    int n_ranks;                     /* static: the rank histogram (distinct ranks ascending, layers of each) */
    int ranks[64], rank_count[64];
    double load_seconds;             /* how long the model took for the figures */
} lsc_tui_kind_panel;

/* The retrain panel (t). Fields in order: */
enum { LSC_RT_TARGET, LSC_RT_KIND, LSC_RT_RANK, LSC_RT_STEPS, LSC_RT_LR, LSC_RT_INIT, LSC_RT_SEED, LSC_RT_FINAL_RANK,
       LSC_RT_LAMBDA, LSC_RT_FIELD_COUNT };
#define LSC_TUI_RT_KINDS 4 /* static, dynamic, adaptive, sparse */
#define LSC_TUI_RT_INITS 3 /* self, svd, random */

typedef struct lsc_tui_retrain_panel {
    char adapter[LSC_TUI_NAME_MAX];  /* NAME: the adapter retrained */
    char target[LSC_TUI_NAME_MAX];   /* --target, "" until chosen */
    int kind;                        /* index into lsc_tui_retrain_kind_name() */
    int rank;                        /* --rank, 0: each layer's own (not passed) */
    int min_rank, max_rank;          /* of the adapter's layers */
    long steps;                      /* --steps */
    double lr;                       /* --lr */
    int init;                        /* index into lsc_tui_retrain_init_name() */
    unsigned long long seed;         /* --seed (0: not passed, the command's default) */
    int final_rank;                  /* --final-rank (adaptive only), 0: the rule's default (not passed) */
    double lambda;                   /* --lambda (sparse only) */
    int field;                       /* LSC_RT_* under the cursor */
    char new_name[LSC_TUI_NAME_MAX]; /* --as of the last run */
    lsc_tui_train_point pts[LSC_TUI_TRAIN_POINTS]; /* the last run's reports (live while it runs) */
    size_t n_pts;
    int paused;                      /* the running retrain is paused */
    int ran;                         /* a run started from this panel (its curve is shown) */
} lsc_tui_retrain_panel;

/* ---- each view's own state: a member of lsc_tui_state named after the view, written by its view_<name>.c
 * only (the shared data, catalog rows and the layer table, is read by the others). What a view shows only
 * while it is open sits in its `transient` sub-struct, which its leave op frees and resets in one
 * assignment when the view closes, so nothing it showed can survive into the next view by construction. */

/* The catalog (view_catalog.c): the adapters, shared with every view that names one. */
typedef struct lsc_tui_catalog_view {
    lsc_tui_adapter *rows;
    size_t n;
} lsc_tui_catalog_view;

/* The layer table of one adapter (view_layers.c), shared with the grid, spectrum and panels. */
typedef struct lsc_tui_layers_view {
    char adapter[LSC_TUI_NAME_MAX]; /* adapter of the layer table, "" if none */
    lsc_tui_layer *rows;
    size_t n;
    int group;                      /* grouped by module type */
} lsc_tui_layers_view;

/* One layer's figures against the recorded base (`show NAME --base --json`), by layer key. */
typedef struct lsc_tui_basefig_row {
    char key[LSC_TUI_NAME_MAX];
    double base_norm, rel_norm, amplification, subspace_sim, subspace_sim_k;
    int k, k_ref, intruders; /* k_ref: how many of W's top vectors an intruder is compared with */
} lsc_tui_basefig_row;

/* The figures of one adapter against its base, computed once per session (until an edit). */
typedef struct lsc_tui_basefig_set {
    char adapter[LSC_TUI_NAME_MAX];
    lsc_tui_basefig_row *rows;
    size_t n;
    int norms;  /* base_norm and rel_norm only (`show --base --norms`: the grid's heat); the rest unknown */
} lsc_tui_basefig_set;

#define LSC_TUI_BASEFIG_CACHE 8
#define LSC_TUI_VSBASE_EPS "0.5" /* the intruder threshold the workbench asks for (show --eps) */

/* "vs base" (view_vsbase.c): the layer table's columns against the recorded base and the panel of the
 * selected layer's figures. The figures come from a job (`show --base --json`: it reads the base), run on
 * a reader of the model (model.h) while the workbench keeps browsing: the fields under "the figures job". */
typedef struct lsc_tui_vsbase {
    char adapter[LSC_TUI_NAME_MAX];  /* the adapter `path` was asked for */
    char path[LSC_TUI_TEXT_MAX];     /* its recorded base, "" when none */
    lsc_tui_basefig_set cache[LSC_TUI_BASEFIG_CACHE];
    int n_cache, next;               /* filled entries; the one replaced next when full */
    int cur;                         /* the entry of the layer table's adapter, -1 while unknown */
    long *fig_of;                    /* [layers.n]: row of cache[cur] for each layer data row, -1 none */
    size_t n_fig_of;
    int panel;                       /* the panel is open */
    char why[512];                   /* why there are no figures (the last job's error, with the fix) */
    unsigned gen;                    /* bumped by every forget (an edit): older results are stale */
    /* the figures job: NULL when none runs; it runs on `reader`, released when the job is collected */
    struct lsc_tui_job *job;
    lsc_tui_model reader;
    char target[LSC_TUI_NAME_MAX];   /* the adapter the running job computes the figures of */
    int job_norms;                   /* it computes |W| and |dW|/|W| only (the grid's b: show --base --norms) */
    unsigned job_gen;                /* gen when it started */
    char what[256];                  /* its latest progress text */
    long done, total;
    double elapsed;
    int cancelling;
} lsc_tui_vsbase;

/* The layers x modules grid (view_grid.c). */
typedef struct lsc_tui_grid_view {
    int rows[256];                  /* layer_index per grid row */
    int n_rows;
    char mods[16][LSC_TUI_WORD_MAX];
    int n_mods;
    long *cell;                     /* [n_rows * n_mods] layer data index or -1 */
    int r, c, top;                  /* cell under the cursor, first row shown */
    lsc_tui_metric metric;
    double max;                     /* max metric over the grid, for heat levels */
} lsc_tui_grid_view;

/* The spectrum of one layer of the layer table (view_spectrum.c). */
typedef struct lsc_tui_spectrum_view {
    size_t layer;                   /* layer data index the spectrum is of */
    struct lsc_tui_spectrum_transient {
        double *sv;                 /* its singular values (the chart) */
        size_t n_sv;
    } transient;
} lsc_tui_spectrum_view;

/* The diff of two adapters (view_diff.c). */
typedef struct lsc_tui_diff_view {
    lsc_tui_diff cmp;
    char a[LSC_TUI_NAME_MAX], b[LSC_TUI_NAME_MAX];
    struct lsc_tui_diff_transient {
        int pane;                   /* 0: overlay chart, 1: only-in lists (Tab) */
        int focus;                  /* 0 table, 1 pane */
        double *sv_a, *sv_b;        /* the spectra of the row under the cursor in a and b */
        size_t n_sv_a, n_sv_b;
        long row;                   /* diff row whose spectra are loaded, -1 none */
    } transient;
} lsc_tui_diff_view;

/* The history (view_history.c). */
typedef struct lsc_tui_history_view {
    lsc_tui_history *rows;
    size_t n;
} lsc_tui_history_view;

/* The catalog audit, sorted by savings ('a' in the catalog, `:audit`; view_audit.c). */
typedef struct lsc_tui_audit_view {
    lsc_tui_audit_row *rows;
    size_t n;
} lsc_tui_audit_view;

/* The output of the last command (view_history.c). */
typedef struct lsc_tui_output_view {
    char **lines;                   /* one line each */
    size_t n;
    char title[128];
} lsc_tui_output_view;

/* The task table of a multi-task adapter (Enter on it in the catalog; view_tasks.c). */
typedef struct lsc_tui_tasks_view {
    char group[LSC_TUI_NAME_MAX];
    lsc_tui_task *rows;
    size_t n;
} lsc_tui_tasks_view;

/* A series (Enter on it in the catalog; view_series.c): a chart of one figure against the step, for the
 * layer under the cursor or the mean over the listed layers (the filter is the glob), over the table of
 * the layers at the selected step. The figures are transient: dropped when the view closes. */
typedef struct lsc_tui_series_view {
    char adapter[LSC_TUI_NAME_MAX];
    int fig;                        /* lsc_tui_series_fig charted */
    size_t step;                    /* index of the selected step (the table's figures) */
    int mean;                       /* chart the mean over the listed layers, not the layer under the cursor */
    struct lsc_tui_series_transient {
        lsc_tui_series data;
    } transient;
} lsc_tui_series_view;

/* The help overlay (view_help.c). */
typedef struct lsc_tui_help_view {
    int open;
    size_t top;                     /* first line shown */
} lsc_tui_help_view;

#define LSC_TUI_PROMPT_HIST 100 /* `:` lines kept (and kept across runs) */

/* The input line (view_prompt.c): the `:` prompt, `/` search, `f` filter and the panels' questions. */
typedef struct lsc_tui_prompt_view {
    lsc_tui_input mode;             /* LSC_INPUT_NONE: closed */
    char buf[256];
    size_t len;
    char label[64];                 /* lead text of the panel input modes */
    char search[128];               /* the last search, for n and N (list.c) */
    /* the `:` lines typed, oldest first (Up/Down recall them); hist_at == n_hist: the line being typed,
     * kept in draft while Up walks back */
    char hist[LSC_TUI_PROMPT_HIST][256];
    size_t n_hist, hist_at;
    char draft[256];
    char hist_file[512];            /* "" : not kept across runs */
    /* While `/` or `f` is typed the list follows each key (list.c); Esc puts back what was there. */
    size_t inc_cursor, inc_top;     /* the cursor (a data row: the filter reorders) and scroll then */
    char inc_filter[128];           /* the filter then */
    int said;                       /* Tab put candidates in the message: shown on the bar line until the next key */
} lsc_tui_prompt_view;

/* A yes/no question over the screen; the safe answer (No) is the default: Enter and Esc say no. */
typedef struct lsc_tui_confirm {
    int open;
    char question[512];
    char detail[512];
    lsc_tui_argv action;                    /* run on yes (kind LSC_JOB_SAVE: write the session file) */
    char title[LSC_TUI_NAME_MAX + 16];      /* what the job is called while it runs */
} lsc_tui_confirm;

typedef struct lsc_tui_state {
    lsc_tui_model *model;
    int readonly;

    lsc_tui_view stack[8]; /* view stack, stack[depth-1] is shown */
    int depth;
    lsc_tui_list lists[LSC_VIEW_COUNT];

    /* each view's own state (above), written by its module only */
    lsc_tui_catalog_view catalog;
    lsc_tui_layers_view layers;
    lsc_tui_vsbase vsbase;
    lsc_tui_grid_view grid;
    lsc_tui_spectrum_view spectrum;
    lsc_tui_diff_view diff;
    lsc_tui_history_view history;
    lsc_tui_audit_view audit;
    lsc_tui_output_view output;
    lsc_tui_tasks_view tasks;
    lsc_tui_series_view series;
    lsc_tui_prune_panel prune;
    lsc_tui_merge_panel merge;
    lsc_tui_kind_panel kind;
    lsc_tui_retrain_panel retrain;
    lsc_tui_help_view help;
    lsc_tui_prompt_view prompt;

    lsc_tui_confirm confirm;        /* the yes/no question (state_job.c) */
    int quit_armed;                 /* the last key was a Ctrl-C at rest: another one quits */
    char msg[512];                  /* the status line: cleared on every change of the view on top */
    lsc_tui_msg_level msg_level;

    char session_file[256];         /* where W saves the session */
    int64_t session_since;          /* newest history id when the workbench started */

    /* the running command (job.h, state_job.c); NULL when idle */
    struct lsc_tui_job *job;
    lsc_tui_job_kind job_kind;
    char job_title[256];
    char job_target[LSC_TUI_NAME_MAX];  /* the adapter a prune or merge creates */
    char job_what[256];             /* latest progress text */
    long job_done, job_total;
    double job_elapsed;             /* seconds */
    int job_cancelling;
    int async;                      /* run commands on a worker thread (the main loop sets it) */

    lsc_tui_layout lay;
    lsc_tui_busy_fn busy;
    void *busy_ctx;
} lsc_tui_state;

/* Names as retrain spells them; "?" out of range. */
const char *lsc_tui_retrain_kind_name(int k);
const char *lsc_tui_retrain_init_name(int i);

/* The command line the retrain panel runs for `new_name` into a (kind LSC_JOB_RETRAIN). */
void lsc_tui_retrain_argv(const lsc_tui_state *st, const char *new_name, lsc_tui_argv *a);

/* A field's value as the panel shows it ("own (8)", "1e-2", "self" ...). */
void lsc_tui_retrain_field_text(const lsc_tui_state *st, int field, char *buf, size_t cap);

/* The charted figure of a series at every step: of layer data row `layer`, or (layer = (size_t)-1) the mean
 * over the rows the series list shows (its filter), NaN where no layer has the figure. out [n_steps]. */
void lsc_tui_series_curve(const lsc_tui_state *st, size_t layer, double *out);

/* Number of rows of the kind panel's list and whether row 0 is the "all layers" row. */
size_t lsc_tui_kind_rows(const lsc_tui_state *st, int *overall);

/* Allocate a state over `model` (borrowed; must outlive the state), load the catalog (and the adapter of
 * opts->adapter, if any) and lay out a lines x cols screen. On failure *out is NULL and err says why
 * (an unknown opts->adapter is not a failure: the catalog opens with an error message in the status). */
lsc_status lsc_tui_state_new(lsc_tui_model *model, const lsc_tui_state_opts *opts, int lines, int cols,
                             lsc_tui_state **out, lsc_error *err);
void lsc_tui_state_free(lsc_tui_state *st);

/* The view on top of the stack. */
lsc_tui_view lsc_tui_state_view(const lsc_tui_state *st);

/* Apply one request; returns LSC_TUI_CH_* flags. */
unsigned lsc_tui_state_request(lsc_tui_state *st, lsc_tui_req req);

/* Feed one key (a Unicode code point or an LSC_KEY_* code from keys.h): edits the input line when one is
 * open, otherwise looks the key up in the binding table for the current view. Ctrl-C (the main loop turns
 * SIGINT into it) cancels the open prompt, question or help overlay; at rest the first press says how to
 * quit and a second one in a row returns LSC_TUI_CH_QUIT. */
unsigned lsc_tui_state_key(lsc_tui_state *st, int key);

/* The terminal is now lines x cols. */
unsigned lsc_tui_state_resize(lsc_tui_state *st, int lines, int cols);

/* A mouse event at screen (y, x): button 1 click selects a row or sorts by a header, 4/5 wheel up/down. */
unsigned lsc_tui_state_click(lsc_tui_state *st, int y, int x, int button);

/* Text of the cell (visible row `row`, column c) of the current table view into buf; also used by tests.
 * Never fails; unknown cells give "". */
void lsc_tui_cell_text(const lsc_tui_state *st, lsc_tui_view v, size_t row, lsc_tui_col c, char *buf, size_t cap);
/* The same for data row i (before filter and sort; a grouped module column names its module on every
 * row): what the column must hold whatever the filter shows. */
void lsc_tui_cell_text_data(const lsc_tui_state *st, lsc_tui_view v, size_t i, lsc_tui_col c, char *buf, size_t cap);

/* Columns a view offers, in display order; returns the count. */
int lsc_tui_view_columns(const lsc_tui_state *st, lsc_tui_view v, lsc_tui_col *out, int cap);

/* The list of a view (NULL for views without a list: grid, spectrum). */
lsc_tui_list *lsc_tui_state_list(lsc_tui_state *st, lsc_tui_view v);

/* Breadcrumb of the current view ("catalog > llama2-7b-chat > layers.0.q_proj") with sep between parts. */
void lsc_tui_breadcrumb(const lsc_tui_state *st, const char *sep, char *buf, size_t cap);

/* Display form of a layer name: from its "layers." component on, or without PEFT's "base_model.model.". */
const char *lsc_tui_short_name(const lsc_tui_state *st, const char *name);

/* Formatting helpers shared by render and tests: 1.2M / 4.5 MiB / 2024-01-01 12:00 (local time). */
void lsc_tui_fmt_count(int64_t v, char *buf, size_t cap);
void lsc_tui_fmt_bytes(int64_t v, char *buf, size_t cap);
void lsc_tui_fmt_time(int64_t t, char *buf, size_t cap);
void lsc_tui_fmt_num(double v, char *buf, size_t cap); /* 4 significant digits, "nan" / "-" for missing */

/* Glob match used by the filter: a pattern without * ? [ matches as a substring. Case-insensitive. */
int lsc_tui_match(const char *pattern, const char *name);
/* A history entry's arguments as a command line: a JSON array of strings (as the catalog records them)
 * becomes its words joined by spaces, a word with a space, a quote or nothing in it single-quoted; any
 * other text is copied. Always terminated, truncated to cap. */
void lsc_tui_args_text(const char *args, char *buf, size_t cap);
/* The summary over the layer table: how many layers, the rank histogram ("r8:12 r16:212", in rank
 * order, the first 8 ranks and "+N more"), the strongest finite layer by Frobenius norm, and how many
 * hold NaN/Inf. */
void lsc_tui_layers_summary(const lsc_tui_state *st, char *buf, size_t cap);
/* The whole-adapter figures of a diff, as `lorascope diff` sums them up: the cosine and the relative
 * difference of the two adapters taken as one vector each (the compared layers' deltas side by side),
 * from each row's cosine, relative difference and norms. */
void lsc_tui_diff_totals(const lsc_tui_diff *d, double *cosine, double *rel_diff);

/* Width of one grid cell (the grid starts after an 8-column label). */
int lsc_tui_grid_cell_width(const lsc_tui_state *st);

/* A job runs (a command, or the figures job on the model's reader): collect it when done, refresh its
 * progress otherwise. Returns LSC_TUI_CH_* flags (REDRAW when the progress changed, RELOAD when a command
 * finished). No-op when idle. */
unsigned lsc_tui_state_poll(lsc_tui_state *st);

/* Non-zero while a command runs (keys other than Esc / Ctrl-C / q are refused meanwhile). */
int lsc_tui_state_busy(const lsc_tui_state *st);

/* Non-zero while a command or the figures job (view_vsbase.c: it runs on the model's reader, every key
 * still works) runs: the main loop then polls often. */
int lsc_tui_state_working(const lsc_tui_state *st);

/* Ask the running command to stop (Esc, Ctrl-C); it rolls back. Returns LSC_TUI_CH_REDRAW or 0 if idle. */
unsigned lsc_tui_state_cancel(lsc_tui_state *st);

/* Block until the running command is done and collect it (a command run without the worker thread, and
 * tests; the UI polls instead). */
unsigned lsc_tui_state_wait(lsc_tui_state *st);

/* Preview helpers shared by render and tests: the threshold of the prune panel as the command line
 * spells it ("0.9", "8"), and the default name of the adapter it would create (NAME-RULEVALUE, as the
 * CLI names it). */
void lsc_tui_prune_value_text(const lsc_tui_state *st, char *buf, size_t cap);
void lsc_tui_prune_default_name(const lsc_tui_state *st, char *buf, size_t cap);

/* Set a status message (printf-style). */
void lsc_tui_state_msg(lsc_tui_state *st, lsc_tui_msg_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
