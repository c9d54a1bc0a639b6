/* model.h: the TUI's one window onto data — a table of function pointers plus a context.
 *
 * The workbench never calls the catalog, the engine or the dispatcher directly: it asks a model. Two
 * models exist: app/workbench.c (the real catalog + engine + command dispatch) and the fake model of
 * tests/tui_fake/ (generated, deterministic; test code, linked only into the tests, the benchmarks and
 * lsc-tui-demo). Keeping this seam narrow lets the
 * state, chart and render modules be tested without a database and without a terminal.
 *
 * Protocol: every call may be slow (the TUI shows a status line before it) and may fail; failures return
 * a status other than LSC_OK and fill `err` with a one-line git-style message, and leave the outputs NULL/0.
 * Memory: arrays returned through out-parameters are allocated by the model with malloc() and OWNED BY THE
 * CALLER, who releases them with free() (flat arrays: the structs hold fixed-size strings, no inner
 * pointers) or, for lsc_tui_diff, with lsc_tui_diff_release(). Strings passed in are only borrowed for the
 * duration of the call. Names in the returned structs are NUL-terminated and truncated to fit; the TUI
 * escapes control bytes before drawing, so a model may pass names from files through unchanged.
 *
 * This header depends on engine/status.h (errors) and engine/adapter.h (layer flags) only; no curses,
 * no SQLite.
 */
#ifndef LSC_TUI_MODEL_H
#define LSC_TUI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "status.h"

#define LSC_TUI_NAME_MAX 160 /* adapter and layer names (bytes, including the NUL) */
#define LSC_TUI_WORD_MAX 48  /* kind, format, module type, command name */
#define LSC_TUI_TEXT_MAX 256 /* parents, args, inputs, outputs */

/* One adapter of the catalog. */
typedef struct lsc_tui_adapter {
    int64_t id;
    char name[LSC_TUI_NAME_MAX];
    char kind[LSC_TUI_WORD_MAX];       /* "static", "dynamic", "layer-wise", "adaptive", "sparse", "multi-task",
                                        * "series" */
    char format[LSC_TUI_WORD_MAX];     /* "peft", "kohya", "gguf" ... */
    char dtype[LSC_TUI_WORD_MAX];      /* the factors' dtypes: "F32", "BF16,F32" ... ("" unknown) */
    char base_model[LSC_TUI_NAME_MAX]; /* "" if unknown */
    int64_t n_layers;
    int64_t params;                    /* LoRA factor parameters */
    int64_t bytes;                     /* bytes of all tensors as stored */
    int64_t created;                   /* unix seconds */
    char parents[LSC_TUI_TEXT_MAX];    /* comma-separated parent names, "" if none */
} lsc_tui_adapter;

/* One LoRA layer of an adapter with its statistics (engine/stats.h figures). */
typedef struct lsc_tui_layer {
    char name[LSC_TUI_NAME_MAX];          /* full layer name as stored */
    char module_type[LSC_TUI_WORD_MAX];   /* last name component: "q_proj", "down_proj", "conv1" ... */
    int layer_index;                      /* block number in the name, -1 if none */
    int64_t rows, cols;                   /* shape of the delta [out, in] */
    int rank;
    double alpha, scale;
    double fro;                           /* ||s B A||_F */
    double sigma1;                        /* largest singular value */
    double effective_rank, stable_rank;
    int k90, k99;                         /* energy ranks */
    double zeros_a, zeros_b;              /* fraction of exact zeros in A, B */
    int nonfinite;                        /* 1 when A or B holds NaN/Inf (spectral figures are 0) */
    unsigned flags;                       /* LSC_LAYER_* from adapter.h (DORA, CONV, EMBEDDING ...) */
} lsc_tui_layer;

/* One layer present in both adapters of a diff. */
typedef struct lsc_tui_diff_row {
    char name[LSC_TUI_NAME_MAX];
    char module_type[LSC_TUI_WORD_MAX];
    int layer_index;
    double cosine;       /* <d1, d2> / (|d1| |d2|) */
    double rel_diff;     /* |d1 - d2| / |d1| */
    double subspace_in;  /* phi on the input side, [0, 1] */
    double subspace_out; /* phi on the output side, [0, 1] */
    double fro_a, fro_b; /* the two norms */
} lsc_tui_diff_row;

typedef struct lsc_tui_layer_name {
    char name[LSC_TUI_NAME_MAX];
} lsc_tui_layer_name;

/* A diff of adapter a against adapter b. All three arrays are malloc'ed by the model and released
 * together with lsc_tui_diff_release(). The spectra of a row are fetched with layer_sv() on each side. */
typedef struct lsc_tui_diff {
    lsc_tui_diff_row *rows;
    size_t n_rows;
    lsc_tui_layer_name *only_a; /* layers only in a */
    size_t n_only_a;
    lsc_tui_layer_name *only_b; /* layers only in b */
    size_t n_only_b;
} lsc_tui_diff;

/* One adapter of the catalog audit (app/cmd/audit.h), sorted by the bytes a prune at 99% energy saves. */
typedef struct lsc_tui_audit_row {
    char name[LSC_TUI_NAME_MAX];
    int64_t layers, bytes, saves;       /* saves: bytes prune --energy 0.99 would save */
    int waste, nonfinite, dead;         /* layers wasting rank, with NaN/Inf, dead */
    char notes[LSC_TUI_TEXT_MAX];       /* same content / same layers / parents gone, as a line */
} lsc_tui_audit_row;

/* One history record, newest first. */
typedef struct lsc_tui_history {
    int64_t id;
    int64_t time;                       /* unix seconds */
    char command[LSC_TUI_WORD_MAX];
    char args[LSC_TUI_TEXT_MAX];        /* the arguments as typed (or as a JSON array) */
    char inputs[LSC_TUI_TEXT_MAX];      /* comma-separated adapter names read */
    char outputs[LSC_TUI_TEXT_MAX];     /* comma-separated adapter names written */
    int undone;
} lsc_tui_history;

#define LSC_TUI_RUN_READONLY 0x1u /* refuse commands that would change the catalog */

/* How a long command reports back while it runs (model.run may be called on a worker thread).
 * cancel: when non-NULL, the command stops between layers once *cancel becomes non-zero and the
 * dispatcher rolls it back (nothing written; exit 1 with "... cancelled ..."). report: when non-NULL,
 * called from the running thread with a short text ("merge ties: layer 12/224") and the layers done and
 * in all (total 0 when unknown); it must be quick and must not call the model. */
typedef struct lsc_tui_train_point lsc_tui_train_point;

typedef struct lsc_tui_progress {
    volatile int *cancel;
    void (*report)(void *ctx, const char *what, long done, long total);
    void *ctx;
    /* pause: when non-NULL, a training command (retrain) waits between steps while *pause is non-zero
     * (cancel still works). train: when non-NULL, called from the running thread with each training report
     * (step, loss, optimum, lr, ETA) as well as report(); quick, no model calls. */
    volatile int *pause;
    void (*train)(void *ctx, const lsc_tui_train_point *p);
} lsc_tui_progress;

#define LSC_TUI_TRAIN_POINTS 512 /* training reports a job keeps (job.h) */

/* One report of a training command (retrain's progress line "step 40/200  loss ... ETA 3s"). */
struct lsc_tui_train_point {
    long step, steps;
    double loss;    /* the summed loss of every layer at this step */
    double optimum; /* the best loss the rank allows (the loss of the truncated SVD); NaN when unknown */
    double lr;      /* the learning rate of this step; NaN when unknown */
    double eta;     /* seconds left as the command estimates them; NaN when unknown */
};

/* ---- kind figures (show --json's "kind_figures"; a multi-task adapter's task figures) ---------------- */

#define LSC_TUI_TASKS_MAX 32

/* One layer in the kind figures. Only the fields of the adapter's kind are set, the others are 0. */
typedef struct lsc_tui_kind_layer {
    char name[LSC_TUI_NAME_MAX];
    int rank;                      /* the layer's rank (dynamic: values in its curves; sparse: its gates) */
    int kept;                      /* adaptive: triplets kept; sparse: live gates */
    double lambda_min, lambda_max; /* adaptive: |Lambda| over the kept triplets */
    double orth_p, orth_q;         /* adaptive: ||P P^T - I||, ||Q^T Q - I|| as show reports them */
    double zeros_a, zeros_b;       /* sparse: fraction of exact zeros in A, B */
    int shared_a;                  /* multi-task: A stored once for every task */
    int shared_dim;                /* multi-task: input directions the tasks share */
    size_t off;                    /* dynamic: index of its curve in prefix_err/best_err (rank values);
                                    * multi-task: index of its n_tasks x n_tasks matrix in cosine */
    /* loha / lokr: the layer's LyCORIS form ("loha", "lokr", "tucker"), the parts' ranks (LoKr: 0 for a
     * full factor) and shapes (LoKr W1 [w1_rows, w1_cols], W2 [w2_rows, w2_cols]), and its three spectra in
     * part_sv: part 1 (LoHa B1 A1 / LoKr W1) at off1, part 2 at off2, the product dW at offp */
    char part[8];
    int r1, r2;
    int64_t w1_rows, w1_cols, w2_rows, w2_cols;
    int n_sv1, n_sv2, n_svp;
    size_t off1, off2, offp;
} lsc_tui_kind_layer;

/* One task of a multi-task adapter. */
typedef struct lsc_tui_task {
    char task[LSC_TUI_WORD_MAX];
    char adapter[LSC_TUI_NAME_MAX]; /* the catalog adapter that holds the task's factors */
    int64_t layers, params;
} lsc_tui_task;

/* What is particular to an adapter's kind. All arrays are malloc'ed by the model and released together
 * with lsc_tui_kind_release(); NULL / 0 when the kind has none. Matrices are row major. */
typedef struct lsc_tui_kind_figures {
    char kind[LSC_TUI_WORD_MAX];   /* the adapter's kind, as in lsc_tui_adapter */
    lsc_tui_kind_layer *layers;    /* dynamic, adaptive, sparse, multi-task: stored order */
    size_t n_layers;
    /* dynamic (DyLoRA): relative error of the prefix rank b (scale alpha/b) and of the best rank-b
     * truncation, b = 1..n_b, mean over layers; per layer at layers[i].off */
    int n_b;
    double *mean_prefix_err, *mean_best_err; /* [n_b] */
    double *prefix_err, *best_err;           /* [sum of layers[i].rank] */
    /* adaptive (AdaLoRA) */
    int init_r, target_r;
    int64_t budget, target_budget;
    /* sparse (SoRA) */
    int64_t live_gates, rank_total;
    int hist_lo_exp;               /* hist[0]: 0 or below 1e(lo); hist[k], 1 <= k <= n_hist-2: [1e(lo+k-1),
                                    * 1e(lo+k)); hist[n_hist-1]: at least 1e(lo+n_hist-2) */
    int64_t *hist;
    size_t n_hist;
    /* layer-wise: rows are block numbers 0..n_blocks-1, columns the modules; rank 0: not adapted */
    int n_blocks, n_modules;
    char (*modules)[LSC_TUI_WORD_MAX];       /* [n_modules] */
    int *rank_grid;                          /* [n_blocks * n_modules] */
    double *share_grid;                      /* [n_blocks * n_modules] share of the adapter's energy */
    /* multi-task */
    int n_tasks;
    lsc_tui_task *tasks;                     /* [n_tasks] */
    double *task_cosine;                     /* [n_tasks * n_tasks] over every shared layer */
    double *task_norms;                      /* [n_tasks] */
    double *cosine;                          /* [n_layers * n_tasks * n_tasks] per layer */
    int shared_a_layers, shared_dim_min;
    /* loha / lokr (LyCORIS): every layer's spectra, see lsc_tui_kind_layer */
    double *part_sv;
    size_t n_part_sv;
} lsc_tui_kind_figures;

/* Prune rules as the CLI spells them (prune --rank K, --energy T, ... --budget N); engine/prune.h has
 * the exact definitions. */
#define LSC_TUI_PRUNE_RULE_LIST(X)               \
    X(LSC_TUI_PRUNE_RANK, "rank")                \
    X(LSC_TUI_PRUNE_ENERGY, "energy")            \
    X(LSC_TUI_PRUNE_FRO, "fro")                  \
    X(LSC_TUI_PRUNE_CUMULATIVE, "cumulative")    \
    X(LSC_TUI_PRUNE_RATIO, "ratio")              \
    X(LSC_TUI_PRUNE_BUDGET, "budget")

typedef enum {
#define LSC_X_RULE(code, name) code,
    LSC_TUI_PRUNE_RULE_LIST(LSC_X_RULE)
#undef LSC_X_RULE
    LSC_TUI_PRUNE_RULE_COUNT
} lsc_tui_prune_rule;

/* One layer of a prune preview, in the adapter's stored layer order. */
typedef struct lsc_tui_prune_row {
    char name[LSC_TUI_NAME_MAX];
    int chosen;          /* matches the layer glob and is finite: the rule applies */
    int nonfinite;       /* holds NaN/Inf: left unchanged (the TUI passes --allow-nonfinite) */
    int rank_before, rank_after;
    int n_sv;            /* singular values the rule chose from */
    double kept_energy;  /* of the kept singular values (1 when unchanged) */
    double rel_error;    /* ||dW - dW_k||_F / ||dW||_F (0 when unchanged) */
} lsc_tui_prune_row;

typedef struct lsc_tui_prune_totals {
    size_t n_chosen, n_cut, n_nonfinite;
    int64_t params_before, params_after; /* as `prune --json` reports them */
    int64_t bytes_before, bytes_after;
    double max_rel_error;
    int max_rank;        /* largest rank among the chosen layers (bound for --rank) */
    int64_t total_sv;    /* singular values of the chosen layers (bound for --budget) */
} lsc_tui_prune_totals;

/* Merge methods as the CLI spells them (merge --method M); engine/merge.h has the formulas. */
#define LSC_TUI_MERGE_METHOD_LIST(X)              \
    X(LSC_TUI_MERGE_CAT, "cat")                   \
    X(LSC_TUI_MERGE_LINEAR, "linear")             \
    X(LSC_TUI_MERGE_SVD, "svd")                   \
    X(LSC_TUI_MERGE_TIES, "ties")                 \
    X(LSC_TUI_MERGE_DARE_TIES, "dare_ties")       \
    X(LSC_TUI_MERGE_DARE_LINEAR, "dare_linear")   \
    X(LSC_TUI_MERGE_MAGNITUDE, "magnitude")

typedef enum {
#define LSC_X_METHOD(code, name) code,
    LSC_TUI_MERGE_METHOD_LIST(LSC_X_METHOD)
#undef LSC_X_METHOD
    LSC_TUI_MERGE_METHOD_COUNT
} lsc_tui_merge_method;

#define LSC_TUI_MERGE_MAX 16 /* adapters in one merge from the TUI */

typedef struct lsc_tui_merge_opts {
    lsc_tui_merge_method method;
    double weights[LSC_TUI_MERGE_MAX]; /* one per adapter */
    int rank;                          /* 0: none given (cat, exact linear) */
    double density;                    /* (0, 1] */
    uint64_t seed;
} lsc_tui_merge_opts;

/* One layer of a merge preview, over the union of the inputs' layers (first input's order, then the
 * layers only later inputs have). */
typedef struct lsc_tui_merge_row {
    char name[LSC_TUI_NAME_MAX];
    int models;        /* inputs that have the layer */
    int rank;          /* rank of the merged factors */
    double rel_error;  /* exact relative error against the method's result; NaN: known only when run
                        * (element-wise methods) */
} lsc_tui_merge_row;

typedef struct lsc_tui_merge_totals {
    int64_t params;       /* LoRA factor parameters of the result */
    double max_rel_error; /* NaN when any row's error is unknown */
} lsc_tui_merge_totals;

/* ---- series (a training run's checkpoints by step; `series NAME --json`) ------------------------------ */

/* The figures of a series, per layer and step, in the order of `lorascope series`. */
#define LSC_TUI_SERIES_FIG_LIST(X)                    \
    X(LSC_TUI_SERIES_NORM, "norm")                    \
    X(LSC_TUI_SERIES_SIGMA1, "sigma1")                \
    X(LSC_TUI_SERIES_ERANK, "effective rank")         \
    X(LSC_TUI_SERIES_K90, "k90")                      \
    X(LSC_TUI_SERIES_SIM_PREV, "similarity to previous") \
    X(LSC_TUI_SERIES_SIM_FINAL, "similarity to final")

typedef enum {
#define LSC_X_FIG(code, name) code,
    LSC_TUI_SERIES_FIG_LIST(LSC_X_FIG)
#undef LSC_X_FIG
    LSC_TUI_SERIES_FIG_COUNT
} lsc_tui_series_fig;

/* Name of a figure ("sigma1"); "?" out of range. */
const char *lsc_tui_series_fig_name(lsc_tui_series_fig f);

typedef struct lsc_tui_series_step {
    int64_t step;                   /* training step (or kohya epoch) */
    char label[LSC_TUI_WORD_MAX];   /* "500", "final" */
    char adapter[LSC_TUI_NAME_MAX]; /* the checkpoint's adapter */
} lsc_tui_series_step;

/* All arrays malloc'ed by the model, released together with lsc_tui_series_release(). fig[f] is
 * [n_layers * n_steps], layer-major (layer i at step j: i * n_steps + j); NaN where a figure does not
 * exist (the similarity to the previous checkpoint at the first step, a layer holding NaN/Inf). */
typedef struct lsc_tui_series {
    lsc_tui_series_step *steps;
    size_t n_steps;
    lsc_tui_layer_name *layers;     /* stored keys, natural order */
    size_t n_layers;
    double *fig[LSC_TUI_SERIES_FIG_COUNT];
} lsc_tui_series;

/* Free the arrays of a series and zero it; NULL-safe. */
void lsc_tui_series_release(lsc_tui_series *s);

/* Allocate out's arrays for n_steps steps and n_layers layers, all zeroed (each with one spare element, so
 * a series of none still gets arrays), and set its counts; the model fills them in. out's pointers must be
 * NULL (a zeroed struct). On failure out is released and LSC_ERR_NOMEM returned with err set. */
lsc_status lsc_tui_series_alloc(lsc_tui_series *out, size_t n_steps, size_t n_layers, lsc_error *err);

typedef struct lsc_tui_model {
    void *ctx;

    /* All visible adapters, ordered by name. *out: n entries, caller frees with free(). */
    lsc_status (*list_adapters)(void *ctx, lsc_tui_adapter **out, size_t *n, lsc_error *err);

    /* The layer table of adapter `name` in natural order of the names (engine/layername.h: layers.2 before
     * layers.10). *out: n entries, caller frees with free().
     * LSC_ERR_NOTFOUND ("no adapter 'x' in the catalog") if absent. */
    lsc_status (*layers)(void *ctx, const char *adapter, lsc_tui_layer **out, size_t *n, lsc_error *err);

    /* Singular values of one layer (of s B A), descending. *sv: n doubles, caller frees with free();
     * n may be 0 for a non-finite or zero layer. LSC_ERR_NOTFOUND if the adapter or the layer is absent. */
    lsc_status (*layer_sv)(void *ctx, const char *adapter, const char *layer, double **sv, size_t *n,
                           lsc_error *err);

    /* Compare adapter a with b layer by layer (matched by stored key, else by the same module in another
     * format, as the diff command matches them). out is filled (release with
     * lsc_tui_diff_release); rows follow a's layer order. */
    lsc_status (*diff)(void *ctx, const char *a, const char *b, lsc_tui_diff *out, lsc_error *err);

    /* History records, newest first. *out: n entries, caller frees with free(). */
    lsc_status (*history)(void *ctx, lsc_tui_history **out, size_t *n, lsc_error *err);

    /* The catalog audit (`lorascope audit`): every adapter, sorted by savings, largest first. *out: n
     * entries, caller frees with free(). NULL when the model has no audit. */
    lsc_status (*audit)(void *ctx, lsc_tui_audit_row **out, size_t *n, lsc_error *err);

    /* Run one command line (the `:` prompt, and the edits of the prune and merge panels, undo, redo);
     * argv[0] is the command name, argv is borrowed. flags: LSC_TUI_RUN_*. prog may be NULL (see
     * lsc_tui_progress): the TUI calls run on a worker thread and makes no other model call until it
     * returns. Returns the command's exit code (0 ok, 1 error, 2 usage). *output receives the captured
     * output text and *errmsg the one-line error message (or NULL when the command succeeded); both are
     * malloc'ed NUL-terminated strings owned by the caller (free()), *output never NULL. */
    int (*run)(void *ctx, int argc, char **argv, unsigned flags, const lsc_tui_progress *prog, char **output,
               char **errmsg);

    /* What `prune ADAPTER --RULE VALUE [--layers GLOB]` would do, without doing it: per layer the new
     * rank, kept energy and relative error, and the totals, computed from the cached singular values only
     * (no factor is read, nothing is written), fast enough for every keypress. layer_glob NULL or "": all
     * layers (CLI semantics: a glob with * ? [ matches the whole name, otherwise a substring).
     * *rows: n entries (every layer of the adapter, stored order), caller frees with free(); *tot filled.
     * Errors: LSC_ERR_NOTFOUND for an unknown adapter or a glob that matches no layer ("no layer of 'x'
     * matches 'g'"); LSC_ERR_INVALID for a value the rule refuses (as the CLI words it); LSC_ERR_NOMEM. */
    lsc_status (*prune_preview)(void *ctx, const char *adapter, lsc_tui_prune_rule rule, double value,
                                const char *layer_glob, lsc_tui_prune_row **rows, size_t *n,
                                lsc_tui_prune_totals *tot, lsc_error *err);

    /* What `merge A B ... --method M --weights ... [--rank K] --density D --seed S` would produce: per
     * layer the models merged, the output rank and, for cat, linear and svd, the exact relative error
     * (the same computation the command does on the factors; element-wise methods give NaN: their error
     * is computed when run). adapters [n] borrowed, 2 <= n <= LSC_TUI_MERGE_MAX. *rows: n_rows entries,
     * caller frees with free(). Errors as the command words them (unknown adapter, different base
     * models, DoRA layers, layers of different shapes, a missing --rank, a bad density or weight). */
    lsc_status (*merge_preview)(void *ctx, const char *const *adapters, int n, const lsc_tui_merge_opts *opts,
                                lsc_tui_merge_row **rows, size_t *n_rows, lsc_tui_merge_totals *tot,
                                lsc_error *err);

    /* The figures particular to the kind of adapter `name` (what `show NAME --json` gives as "kind_figures",
     * or for a multi-task adapter its tasks, norms and cosines). *out is filled (release with
     * lsc_tui_kind_release); a static adapter gives its kind and nothing else. May read every factor of
     * the adapter (dynamic and sparse figures do). LSC_ERR_NOTFOUND for an unknown adapter. */
    lsc_status (*kind_figures)(void *ctx, const char *adapter, lsc_tui_kind_figures *out, lsc_error *err);

    /* The figures of the series `name` (what `series NAME --json` gives). *out is filled (release with
     * lsc_tui_series_release). Reads every checkpoint's factors. Errors: LSC_ERR_NOTFOUND for an unknown
     * adapter, LSC_ERR_INVALID for one that is not a series (as the command words it). NULL: the model
     * has no series. */
    lsc_status (*series)(void *ctx, const char *adapter, lsc_tui_series *out, lsc_error *err);
    /* The base recorded for `adapter` by `base` (issue #19): its path into path (cap bytes), "" when none is
     * recorded. Reads the catalog only (no base file). NULL when the model has no bases (the workbench then
     * offers no figures against a base; they come from `show NAME --base --json` run on the reader). LSC_ERR_NOTFOUND
     * for an unknown adapter. */
    lsc_status (*base_path)(void *ctx, const char *adapter, char *path, size_t cap, lsc_error *err);

    /* A second, independent model over the same data for a read-only command on another thread (the "vs
     * base" figures job, view_vsbase.c): its own catalog connection and caches, so that this model keeps
     * answering the UI thread while the reader's run() works. *out is filled (release it with
     * lsc_tui_model_release, from the thread that uses it last); only its run() is called, always with
     * LSC_TUI_RUN_READONLY, and it refuses any command that would change the catalog. What it reads is the
     * catalog as committed when each of its calls starts. NULL: the model has none (the figures job then
     * holds this model exclusively, as an edit does). */
    lsc_status (*reader)(void *ctx, struct lsc_tui_model *out, lsc_error *err);

    /* Release ctx; may be NULL. Called by lsc_tui_model_release(). */
    void (*destroy)(void *ctx);
} lsc_tui_model;

/* Names of rules and methods as the CLI spells them; "?" when out of range. */
const char *lsc_tui_prune_rule_name(lsc_tui_prune_rule r);
const char *lsc_tui_merge_method_name(lsc_tui_merge_method m);

/* The method a name from merge's --method choices stands for; LSC_TUI_MERGE_METHOD_COUNT if none. The
 * panel lists the choices in the table's order and maps them here (the enum's order is the TUI's own). */
lsc_tui_merge_method lsc_tui_merge_method_of(const char *name);

/* Element-wise methods (ties, dare_ties, dare_linear, magnitude): a dense layer each, slow, cancellable. */
int lsc_tui_merge_is_elementwise(lsc_tui_merge_method m);

/* Whether the method needs opts->rank >= 1 (svd and the element-wise methods). */
int lsc_tui_merge_needs_rank(lsc_tui_merge_method m);

/* The CLI's checks of a prune rule's value and of merge options: each builds the command line the
 * panel would run and hands it to the command's own parser and validator (lsc_command_parse), so the
 * message is the command's ("prune: --energy takes a number in (0, 1], not '2'"), without the trailing
 * " (see 'lorascope X --help')". LSC_OK or LSC_ERR_INVALID. Shared by the models and the
 * panels so that a preview refuses exactly what the command would. */
lsc_status lsc_tui_prune_check(lsc_tui_prune_rule rule, double value, lsc_error *err);
lsc_status lsc_tui_merge_check(const lsc_tui_merge_opts *o, int n, lsc_error *err);

/* A prune rule's value as the panel passes it (whole numbers for --rank and --budget). */
void lsc_tui_prune_value_format(lsc_tui_prune_rule rule, double v, char *buf, size_t cap);

/* The words of `merge NAME... --method M --weights W [--rank K] [--density D] [--seed S] [--as AS]` for
 * these options, each handed to add(ctx, word): --rank only for a method other than cat when > 0,
 * --density only when not 1 and the method takes it (lsc_tui_merge_takes_density), --seed when not 0,
 * --as when as is non-NULL. weights_text: the --weights value as typed (NULL: from o->weights). */
void lsc_tui_merge_words(const char *const *names, int n, const lsc_tui_merge_opts *o, const char *weights_text,
                         const char *as, void (*add)(void *ctx, const char *word), void *ctx);

/* Whether merge's validation accepts --density with this method (asked of the command, not a copy). */
int lsc_tui_merge_takes_density(lsc_tui_merge_method m);

/* Parse and validate argv as `lorascope argv[0] ...` would, without running it: LSC_OK, or the command's
 * one-line message in err (its " (see 'lorascope X --help')" cut). */
lsc_status lsc_tui_command_check(int argc, const char *const *argv, lsc_error *err);

/* Check `text` as the value of option `opt` (no "--") of command `cmd` with the table's own rules: LSC_OK,
 * or the command's message in err ("merge: --density takes a number in (0, 1], not '2'"). */
lsc_status lsc_tui_option_check(const char *cmd, const char *opt, const char *text, lsc_error *err);

struct lsc_opt;

/* The table entry of option `opt` of command `cmd` (bounds, choices, default, help); NULL if none. */
const struct lsc_opt *lsc_tui_option(const char *cmd, const char *opt);

/* The choices of a CHOICE option from the command's table (NULL-terminated) and their count in *n. */
const char *const *lsc_tui_option_choices(const char *cmd, const char *opt, int *n);

/* The index of `text` among the choices of option `opt` (matched as the command matches it: dashes,
 * case), or -1 with the command's message in err. */
int lsc_tui_option_choice(const char *cmd, const char *opt, const char *text, lsc_error *err);

/* Free the arrays of kind figures and zero them; NULL-safe. */
void lsc_tui_kind_release(lsc_tui_kind_figures *k);

/* DyLoRA's widest gap as `show` names it: the layer and prefix rank b (1-based) where prefix_err - best_err
 * is largest (the first such, over layers in order); *layer = (size_t)-1 and *gap = 0 when no gap is
 * positive. */
void lsc_tui_kind_widest_gap(const lsc_tui_kind_figures *k, size_t *layer, int *b, double *gap);

/* Free the arrays of a diff and zero it; NULL-safe. */
void lsc_tui_diff_release(lsc_tui_diff *d);

/* Destroy the model's context (through m->destroy) and zero the table; NULL-safe. */
void lsc_tui_model_release(lsc_tui_model *m);

/* Copy src into a fixed-size name field (NUL-terminated, truncated to cap). Returns dst. */
char *lsc_tui_copy(char *dst, size_t cap, const char *src);

#endif
