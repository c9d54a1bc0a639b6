/* model.h: the TUI's one window onto data — a table of function pointers plus a context.
 *
 * The workbench never calls the catalog, the engine or the dispatcher directly: it asks a model. Two
 * models exist: model_fake.c (generated, deterministic, for tests and benchmarks) and the lead's
 * model_catalog.c (the real catalog + engine + command dispatch). Keeping this seam narrow lets the
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
    char kind[LSC_TUI_WORD_MAX];       /* "static", "dynamic", "layer-wise", "adaptive", "sparse", "multi-task" */
    char format[LSC_TUI_WORD_MAX];     /* "peft", "kohya", "gguf" ... */
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

typedef struct lsc_tui_model {
    void *ctx;

    /* All visible adapters, ordered by name. *out: n entries, caller frees with free(). */
    lsc_status (*list_adapters)(void *ctx, lsc_tui_adapter **out, size_t *n, lsc_error *err);

    /* The layer table of adapter `name` in stored order. *out: n entries, caller frees with free().
     * LSC_ERR_NOTFOUND ("no adapter 'x' in the catalog") if absent. */
    lsc_status (*layers)(void *ctx, const char *adapter, lsc_tui_layer **out, size_t *n, lsc_error *err);

    /* Singular values of one layer (of s B A), descending. *sv: n doubles, caller frees with free();
     * n may be 0 for a non-finite or zero layer. LSC_ERR_NOTFOUND if the adapter or the layer is absent. */
    lsc_status (*layer_sv)(void *ctx, const char *adapter, const char *layer, double **sv, size_t *n,
                           lsc_error *err);

    /* Compare adapter a with b layer by layer (matched by name). out is filled (release with
     * lsc_tui_diff_release); rows follow a's layer order. */
    lsc_status (*diff)(void *ctx, const char *a, const char *b, lsc_tui_diff *out, lsc_error *err);

    /* History records, newest first. *out: n entries, caller frees with free(). */
    lsc_status (*history)(void *ctx, lsc_tui_history **out, size_t *n, lsc_error *err);

    /* Run one command line for the `:` prompt; argv[0] is the command name, argv is borrowed.
     * flags: LSC_TUI_RUN_*. Returns the command's exit code (0 ok, 1 error, 2 usage). *output receives the
     * captured output text and *errmsg the one-line error message (or NULL when the command succeeded);
     * both are malloc'ed NUL-terminated strings owned by the caller (free()), *output never NULL. */
    int (*run)(void *ctx, int argc, char **argv, unsigned flags, char **output, char **errmsg);

    /* Release ctx; may be NULL. Called by lsc_tui_model_release(). */
    void (*destroy)(void *ctx);
} lsc_tui_model;

/* Free the arrays of a diff and zero it; NULL-safe. */
void lsc_tui_diff_release(lsc_tui_diff *d);

/* Destroy the model's context (through m->destroy) and zero the table; NULL-safe. */
void lsc_tui_model_release(lsc_tui_model *m);

/* The fake in-memory model used by tests and benchmarks: three adapters over a Llama-2-7B shape
 * ("llama2-7b-chat" 224 layers r16, "llama2-7b-code" 224 layers derived from chat, "llama2-7b-qv-ada"
 * 64 q/v layers with varying ranks, one DoRA and one non-finite layer), spectra and statistics from a
 * fixed-seed PRNG, creation times from a fixed epoch, five history records. Commands for run():
 * "ls", "echo ARGS...", "rename OLD NEW" (mutates; refused with LSC_TUI_RUN_READONLY); anything else
 * exits 2 with "unknown command 'x'". Fails only on out of memory. Release with lsc_tui_model_release(). */
lsc_status lsc_tui_model_fake_init(lsc_tui_model *m, uint64_t seed, lsc_error *err);

/* Copy src into a fixed-size name field (NUL-terminated, truncated to cap). Returns dst. */
char *lsc_tui_copy(char *dst, size_t cap, const char *src);

#endif
