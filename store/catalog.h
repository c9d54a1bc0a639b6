/* catalog.h: the lorascope catalog, one SQLite file and the pack beside it (PATH-pack, store/pack.h)
 * holding the bytes of tensor blobs of LSC_PACK_MIN bytes and more.
 *
 * Marked by PRAGMA application_id = LSC_CATALOG_APP_ID and user_version = schema version; a file that is
 * not a lorascope catalog, or is newer than this program, is refused without a single write. WAL,
 * foreign keys on, a busy timeout (writers take BEGIN IMMEDIATE so readers and a second writer wait
 * instead of failing). Holds adapters, their layers, tensors (content-addressed blobs shared between
 * adapters), cached per-layer statistics keyed by content, and the history of every change.
 * Removing an adapter hides it (reversible for undo); hidden adapters keep their blobs.
 * This module owns every SQLite call of the program; it never includes curses.
 */
#ifndef LSC_CATALOG_H
#define LSC_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "stats.h"
#include "status.h"

#define LSC_CATALOG_APP_ID 0x4c53434fu /* "LSCO" */
#define LSC_CATALOG_VERSION 8

typedef struct lsc_catalog lsc_catalog;

#define LSC_CATALOG_READONLY 0x1u /* open read-only; a missing file is an error */
#define LSC_CATALOG_CREATE 0x2u   /* create the file (and its folder) if missing; ignored with READONLY */
/* open read-only, as with READONLY, when this process cannot write the existing catalog (a read-only
 * filesystem, no write permission on the file or on its folder); without it such a catalog is refused
 * with "catalog 'PATH' is read-only: WHY". For sessions that may only read (the read commands). */
#define LSC_CATALOG_FALLBACK_RO 0x4u

/* The default path: $LORASCOPE_CATALOG, else $XDG_DATA_HOME/lorascope/catalog.db, else
 * $HOME/.local/share/lorascope/catalog.db. Writes into buf (cap bytes); returns buf, or NULL if no
 * path can be formed. */
char *lsc_catalog_default_path(char *buf, size_t cap);

/* Open (and, with LSC_CATALOG_CREATE, create and migrate) a catalog. Refuses without writing: a file
 * that is not SQLite, a SQLite file with another application_id, a catalog with a newer user_version.
 * A read-only open never creates '-wal'/'-shm' files another user would own (see catalog.c); when the
 * busy timeout runs out, errors say "catalog 'PATH' is busy" and name the process holding the write lock
 * when it can be known. */
lsc_status lsc_catalog_open(const char *path, unsigned flags, lsc_catalog **out, lsc_error *err);

/* 1 if the catalog was opened read-only (LSC_CATALOG_READONLY, or LSC_CATALOG_FALLBACK_RO applied). */
int lsc_catalog_is_readonly(const lsc_catalog *cat);

/* Close; NULL is allowed. Rolls back an open transaction. */
void lsc_catalog_close(lsc_catalog *cat);

/* Transactions. begin takes the write lock at once (BEGIN IMMEDIATE, waiting on a busy catalog);
 * nesting is not supported (LSC_ERR_INVALID). rollback with no transaction does nothing. */
lsc_status lsc_catalog_begin(lsc_catalog *cat, lsc_error *err);
lsc_status lsc_catalog_commit(lsc_catalog *cat, lsc_error *err);
void lsc_catalog_rollback(lsc_catalog *cat);
int lsc_catalog_in_transaction(const lsc_catalog *cat);

/* A savepoint inside the open transaction (LSC_ERR_INVALID without one), so one unit of a batch (an
 * adapter of `import --recursive`) can be undone alone: savepoint_end with keep=1 keeps its changes in
 * the transaction, keep=0 rolls them back and leaves the rest of the transaction as it was. Not nested. */
lsc_status lsc_catalog_savepoint(lsc_catalog *cat, lsc_error *err);
lsc_status lsc_catalog_savepoint_end(lsc_catalog *cat, int keep, lsc_error *err);

/* ---- adapters ----------------------------------------------------------------------------------- */

typedef struct lsc_adapter_info {
    int64_t id;
    char *name, *format, *kind, *base_model, *source;
    char content_hash[LSC_HASH_HEX];
    int64_t created;      /* unix seconds */
    int64_t n_layers;
    int64_t params;       /* LoRA factor parameters */
    int64_t bytes;        /* bytes of all tensors as stored */
    char *parents;        /* comma-separated parent names, "" if none */
    char *dtypes;         /* the LoRA factors' dtypes, comma-separated in name order ("BF16", "F16,F32") */
} lsc_adapter_info;

/* Visible adapters ordered by name; *out is an array freed with lsc_adapter_info_free_array. */
lsc_status lsc_catalog_list(lsc_catalog *cat, lsc_adapter_info **out, size_t *n, lsc_error *err);
void lsc_adapter_info_free_array(lsc_adapter_info *a, size_t n);

/* Id of the visible adapter `name`; LSC_ERR_NOTFOUND ("no adapter 'x' in the catalog") if none. */
lsc_status lsc_catalog_find(lsc_catalog *cat, const char *name, int64_t *id, lsc_error *err);

/* Name of a visible adapter with this content hash (malloc'ed) in *name, or NULL if none. */
lsc_status lsc_catalog_find_content(lsc_catalog *cat, const char *content_hash, char **name, lsc_error *err);

/* Store a blob (bytes by their hash; no-op if present). LSC_ERR_INVALID if the bytes do not hash to `hash`.
 * Inside a transaction, blobs of LSC_PACK_MIN bytes and more are appended to the pack (synced before the
 * commit; LSC_ERR_IO naming the pack when it cannot be written), others stay in SQLite. */
lsc_status lsc_catalog_put_blob(lsc_catalog *cat, const char hash[LSC_HASH_HEX], const void *data, size_t n,
                                lsc_error *err);

/* Store an adapter's rows (adapter, layers, tensors, parents). Every tensor must have its hash set and
 * its blob stored already (or data loaded, in which case the blob is stored here). ad->name must be
 * free among visible adapters (LSC_ERR_EXISTS otherwise). Must run inside a transaction. */
lsc_status lsc_catalog_put_adapter(lsc_catalog *cat, lsc_adapter *ad, const int64_t *parents, size_t n_parents,
                                   int64_t *id, lsc_error *err);

/* Stream one output layer of an edit: store now, inside the open transaction, the bytes of every loaded
 * tensor of layer `li` of ad (hashing them), then free those bytes; each tensor keeps its hash, so a later
 * lsc_catalog_put_adapter of ad finds its blob stored. Edits call it as each new layer is computed, so
 * that memory holds one layer, not the whole output; the command's commit or rollback still keeps or
 * drops everything together. LSC_ERR_INVALID outside a transaction or for li out of range. */
lsc_status lsc_catalog_put_layer_data(lsc_catalog *cat, lsc_adapter *ad, size_t li, lsc_error *err);

/* lsc_catalog_put_layer_data for the tensors ix[0..n) of ad (those with bytes loaded): what an edit over
 * many layers uses with the layer's tensor list found once, since a scan of every tensor per layer makes
 * an edit of L layers take O(L^2). */
lsc_status lsc_catalog_put_tensors(lsc_catalog *cat, lsc_adapter *ad, const size_t *ix, size_t n, lsc_error *err);

/* Load a visible adapter by name: every field, layers and tensors with hashes; tensor data is loaded
 * lazily from the catalog by the adapter's loader. The adapter keeps no reference to an open
 * transaction but must not outlive `cat`. */
lsc_status lsc_catalog_get_adapter(lsc_catalog *cat, const char *name, lsc_adapter **out, lsc_error *err);

/* Load any adapter by id, hidden or not (undo, history views); otherwise as lsc_catalog_get_adapter.
 * LSC_ERR_NOTFOUND if no row has this id. */
lsc_status lsc_catalog_get_adapter_by_id(lsc_catalog *cat, int64_t id, lsc_adapter **out, lsc_error *err);

/* Hide (remove) or unhide an adapter by id. Unhiding fails with LSC_ERR_EXISTS if a visible adapter took
 * the name meanwhile. */
lsc_status lsc_catalog_set_hidden(lsc_catalog *cat, int64_t id, int hidden, lsc_error *err);

/* Names of visible adapters that list `id` as a parent, as a task of their group or as a member of their
 * series (malloc'ed array of malloc'ed strings). */
lsc_status lsc_catalog_children(lsc_catalog *cat, int64_t id, char ***names, size_t *n, lsc_error *err);

/* Rename a visible adapter; LSC_ERR_EXISTS if `new_name` is taken, LSC_ERR_NOTFOUND if `old` is absent. */
lsc_status lsc_catalog_rename(lsc_catalog *cat, const char *old_name, const char *new_name, lsc_error *err);

/* ---- statistics cache ---------------------------------------------------------------------------- */

/* Key of a layer's statistics: hash over the hashes of A, B, E and the scale's bits and shape, so an
 * unchanged layer of a derived adapter finds its figures. */
void lsc_catalog_stats_key(const lsc_adapter *ad, size_t layer, char out[LSC_HASH_HEX]);

/* Look up cached statistics; *found is 0 when absent (out untouched). out->sv is malloc'ed. */
lsc_status lsc_catalog_get_stats(lsc_catalog *cat, const char key[LSC_HASH_HEX], lsc_layer_stats *out, int *found,
                                 lsc_error *err);
lsc_status lsc_catalog_put_stats(lsc_catalog *cat, const char key[LSC_HASH_HEX], const lsc_layer_stats *st,
                                 lsc_error *err);

/* ---- base sketch cache (schema 8) ---------------------------------------------------------------- */

/* The W-only part of a layer's figures against its base (engine/basefig.h lsc_basefig_sketch), stored
 * under key (a text the caller derives from everything the sketch depends on). get: *found 1 with ||W||_F
 * in *norm and malloc'ed Q [rows, l] and WtQ [cols, l] (the caller frees) when a row with this key and
 * these sizes exists; 0 otherwise (a row of other sizes is a miss). put: insert or replace, and drop the
 * rows of the same base_hash, rows, cols and l under another key (a sketch of the same tensor and width
 * made by other code or settings — an older key version, another orientation — so the table keeps one
 * sketch per tensor and width and never accumulates dead versions); refused on a read-only catalog. Both may fail (a catalog without the table, a busy or full disk): callers treat the
 * table as a cache and go on without it. */
lsc_status lsc_catalog_get_sketch(lsc_catalog *cat, const char *key, int64_t rows, int64_t cols, int l, double *norm,
                                  double **Q, double **WtQ, int *found, lsc_error *err);
lsc_status lsc_catalog_put_sketch(lsc_catalog *cat, const char *key, int64_t rows, int64_t cols, int l, double norm,
                                  const double *Q, const double *WtQ, const char *base_hash, lsc_error *err);

/* Drop the sketches of base tensors no adapter's recorded base names any more (base_hash: the content
 * hash put_sketch was given), so that re-recording or clearing bases does not leave the cache growing.
 * A no-op on a read-only catalog; callers may ignore a failure (it is a cache). */
lsc_status lsc_catalog_prune_sketches(lsc_catalog *cat, lsc_error *err);

/* ---- history ------------------------------------------------------------------------------------- */

typedef struct lsc_history_entry {
    int64_t id;
    int64_t time;         /* unix seconds */
    char *command;        /* command name, e.g. "import" */
    char *args_json;      /* JSON array of the arguments as given */
    char *inputs;         /* comma-separated adapter names read */
    char *outputs;        /* comma-separated adapter names written */
    int undone;           /* 1 if undone */
    int64_t run;          /* the script run it belongs to (the id of the run's first entry), 0 if none */
    int64_t *input_ids;   /* the same adapters by id, in logged order (malloc'ed; NULL when none) */
    int64_t *output_ids;
    size_t n_inputs, n_outputs;
} lsc_history_entry;

/* Record a change; adapters by id (inputs read, outputs written). Must run inside the change's
 * transaction, so the change and its record land together. *id may be NULL.
 * The linear undo model of every editor: recording a change first discards every undone entry (the redo
 * stack) for good, so a later redo can never bring back a branch the user abandoned. */
lsc_status lsc_catalog_log(lsc_catalog *cat, const char *command, const char *args_json, const int64_t *inputs,
                           size_t n_in, const int64_t *outputs, size_t n_out, int64_t *id, lsc_error *err);

/* Script runs: between run_begin and run_end every entry lsc_catalog_log records belongs to one run: they
 * share `run` = the id of the run's first entry (if a rollback takes that entry away, the next entry
 * recorded is the first). undo and redo treat the entries of one run as one change. run_end(NULL) does
 * nothing. */
void lsc_catalog_run_begin(lsc_catalog *cat);
void lsc_catalog_run_end(lsc_catalog *cat);
/* 1 between run_begin and run_end. */
int lsc_catalog_run_active(const lsc_catalog *cat);

/* History newest first; with `name`, only entries that read or wrote that adapter (visible or not). */
lsc_status lsc_catalog_history(lsc_catalog *cat, const char *name, lsc_history_entry **out, size_t *n,
                               lsc_error *err);
void lsc_history_free_array(lsc_history_entry *h, size_t n);

/* Mark a history entry undone / redone. */
lsc_status lsc_catalog_set_undone(lsc_catalog *cat, int64_t history_id, int undone, lsc_error *err);

/* Delete a history entry (inside a transaction): for a command that records intermediate states (retrain's
 * checkpoints) and replaces them by one entry, so one user action stays one undoable unit. An id that
 * is not there (already discarded) is not an error. */
lsc_status lsc_catalog_history_drop(lsc_catalog *cat, int64_t history_id, lsc_error *err);

/* ---- multi-task groups ---------------------------------------------------------------------------- */

/* A multi-task adapter is an adapter row (kind "multi-task", no layers) whose tasks are other adapters. */
typedef struct lsc_task_entry {
    char *task;        /* task name ("summarize") */
    int64_t member_id; /* the task's adapter */
    char *member;      /* its current name */
} lsc_task_entry;

/* Record the tasks of group_id in order (inside a transaction). */
lsc_status lsc_catalog_set_tasks(lsc_catalog *cat, int64_t group_id, const char *const *tasks, const int64_t *members,
                                 size_t n, lsc_error *err);

/* The tasks of group_id in order (empty for an adapter that is not a group); free with
 * lsc_task_entries_free. */
lsc_status lsc_catalog_get_tasks(lsc_catalog *cat, int64_t group_id, lsc_task_entry **out, size_t *n, lsc_error *err);
void lsc_task_entries_free(lsc_task_entry *t, size_t n);

/* ---- series (training runs) ------------------------------------------------------------------------ */

/* A series is an adapter row (kind "series", no layers) whose members are the checkpoints of one training
 * run, ordinary adapters, in step order (schema 3). */
typedef struct lsc_series_entry {
    int64_t step;      /* the training step (HF Trainer global_step) or epoch (kohya) of the checkpoint */
    char *label;       /* how the member is named after the series: "500", "final" */
    int64_t member_id; /* the checkpoint's adapter */
    char *member;      /* its current name (filled by get; ignored by set) */
} lsc_series_entry;

/* Record the members of series_id in the given (step) order, inside a transaction. */
lsc_status lsc_catalog_set_series(lsc_catalog *cat, int64_t series_id, const lsc_series_entry *members, size_t n,
                                  lsc_error *err);

/* The members of series_id in step order (empty for an adapter that is not a series); free with
 * lsc_series_entries_free. */
lsc_status lsc_catalog_get_series(lsc_catalog *cat, int64_t series_id, lsc_series_entry **out, size_t *n,
                                  lsc_error *err);
void lsc_series_entries_free(lsc_series_entry *t, size_t n);

/* ---- lineage checks -------------------------------------------------------------------------------- */

/* A visible adapter derived from an adapter that was removed since (hidden): what `audit` calls an orphan. */
typedef struct lsc_gone_parent {
    char *child, *parent; /* names (malloc'ed) */
} lsc_gone_parent;

/* Every (visible child, removed parent) pair, ordered by child name then parent order; free with
 * lsc_gone_parents_free (NULL allowed). */
lsc_status lsc_catalog_gone_parents(lsc_catalog *cat, lsc_gone_parent **out, size_t *n, lsc_error *err);
void lsc_gone_parents_free(lsc_gone_parent *g, size_t n);

/* The raw sqlite3 handle, for the few callers (tests, the fault-injection harness) that need it. */
struct sqlite3 *lsc_catalog_db(lsc_catalog *cat);

/* The absolute path of the open catalog's file (owned by the catalog), NULL for an in-memory one: what
 * writers of user-named paths must never replace. */
const char *lsc_catalog_file(lsc_catalog *cat);

/* ---- base weights (issue #19) ------------------------------------------------------------------- */

/* One layer's base tensor as recorded by `base NAME PATH`: the tensor's name in the base, its dtype
 * name ("BF16", "Q8_0"), shape ("4096,4096", numpy order) and content hash. */
typedef struct lsc_base_rec {
    char *layer, *tensor, *dtype, *shape, *hash;
} lsc_base_rec;

void lsc_base_rec_free_array(lsc_base_rec *r, size_t n);

/* Replace the base recorded for adapter_id by `path` and its n records (path NULL: forget the base).
 * Must run inside a transaction. */
lsc_status lsc_catalog_set_base(lsc_catalog *cat, int64_t adapter_id, const char *path, const lsc_base_rec *recs,
                                size_t n, lsc_error *err);

/* The base recorded for adapter_id: *path (malloc'ed, NULL when none is recorded) and the records
 * (free with lsc_base_rec_free_array), in no particular order. */
lsc_status lsc_catalog_get_base(lsc_catalog *cat, int64_t adapter_id, char **path, lsc_base_rec **recs, size_t *n,
                                lsc_error *err);

/* Undo of `base` (schema 7): keep adapter_id's recorded base as it is now (path and tensor rows; none is
 * kept as none) as side 0 (before the change) or 1 (after it) of the change being made. The next
 * lsc_catalog_log in the transaction attaches what was noted to its entry. Inside a transaction. */
lsc_status lsc_catalog_base_note(lsc_catalog *cat, int64_t adapter_id, int side, lsc_error *err);

/* Put back, for adapter_id, the base history entry history_id noted as `side` (0: as it was before the
 * change, for undo; 1: as the change left it, for redo), replacing what is recorded now. LSC_ERR_NOTFOUND
 * when the entry noted nothing (an entry recorded before schema 7). Inside a transaction. */
lsc_status lsc_catalog_base_restore(lsc_catalog *cat, int64_t history_id, int64_t adapter_id, int side,
                                    lsc_error *err);

#endif
