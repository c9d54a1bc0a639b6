/* common.h: helpers shared by the command handlers: usage errors, globs, statistics through the
 * catalog's cache, JSON output. Internal to the command layer. */
#ifndef LSC_CMD_COMMON_H
#define LSC_CMD_COMMON_H

#include <jansson.h>

#include "adapter.h"
#include "command.h"
#include "stats.h"
#include "workspace.h"

/* Set a usage error for the running command and return LSC_EXIT_USAGE. */
int lsc_usage_error(lsc_cmd_ctx *ctx, const char *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Set ctx->err from a status-carrying error and return LSC_EXIT_ERROR. */
int lsc_fail(lsc_cmd_ctx *ctx, const lsc_error *err);

/* The adapter name alphabet, one rule for every command that names a new adapter (import --name and the
 * names import derives from paths, --as, rename, group, retrain's outputs): 1 to LSC_NAME_MAX bytes of
 * valid UTF-8; no control characters; none of the script runner's glob and list characters * ? [ ] ,
 * nor the placeholder {}; not starting with '-'. These are what a script line or `log --script` could
 * not carry back unchanged. Names already in a catalog are never checked again (old catalogs keep
 * working). Returns LSC_OK, or LSC_ERR_INVALID with err = "invalid adapter name 'x': why". */
#define LSC_NAME_MAX 200
lsc_status lsc_name_check(const char *name, lsc_error *err);

/* Layer name filter: a pattern with glob characters (* ? [) matches the whole stored key or the whole
 * display name (lsc_layername_display: what show, spectrum, diff and the workbench print); a plain word
 * matches as a substring of the key. NULL or "" matches everything. */
int lsc_name_matches(const char *pattern, const char *name);

/* Statistics of one layer: from the catalog's cache when cat is non-NULL and holds them, else computed
 * from the factors (and stored in the cache when `store` is set and a transaction is open).
 * The layer's tensors are unloaded afterwards when the adapter can reload them. out must be zeroed;
 * release it with lsc_stats_release. */
typedef struct lsc_stats_runner {
    lsc_workspace *ws;
    double *b, *a;
    size_t bcap, acap;
} lsc_stats_runner;

/* The statistics of layer li computed now (its tensors already loaded), the one kernel every path uses
 * (show, import, edits, the pool): a LyCORIS layer exactly from its stored factors (LoKr: never the
 * Kronecker product), any other from its factor view; *lr (may be NULL) receives that view, with lr->B
 * NULL for a LyCORIS layer. */
lsc_status lsc_layer_stats_now(lsc_adapter *ad, size_t li, lsc_stats_runner *sr, lsc_lowrank *lr,
                               lsc_layer_stats *out, lsc_error *err);

lsc_status lsc_stats_runner_init(lsc_stats_runner *sr, lsc_error *err);
void lsc_stats_runner_release(lsc_stats_runner *sr);
lsc_status lsc_layer_stats_get(lsc_stats_runner *sr, lsc_catalog *cat, lsc_adapter *ad, size_t li, int store,
                               lsc_layer_stats *out, lsc_error *err);

/* Statistics of every layer of `ad` with want[li] set (want NULL: all) into out[li] (out [n_layers], zeroed;
 * release each with lsc_stats_release, also after a failure): cached figures from `cat` (may be NULL), the
 * rest computed on `threads` workers (lsc_pool_for: the same bytes for any count) and, when `store` is set
 * and a transaction is open, stored in the cache. Fails with the lowest failing layer's error (its name
 * in front), LSC_ERR_CANCELLED once *cancel is set (cancel may be NULL), or LSC_ERR_NOMEM. */
lsc_status lsc_layer_stats_all(lsc_catalog *cat, lsc_adapter *ad, const unsigned char *want, int store, int threads,
                               volatile int *cancel, lsc_layer_stats *out, lsc_error *err);

/* After a failed lookup of adapter `name` (ctx->err holds LSC_ERR_NOTFOUND), append "; did you mean 'x'?"
 * naming the nearest visible adapters (suggest.h); leaves ctx->err alone for any other error. */
void lsc_cmd_suggest_adapter(lsc_cmd_ctx *ctx, const char *name);

/* Load the visible adapter `name` from ctx->cat and record it as read; a name not there gets the
 * nearest names suggested. A series (a training run's checkpoints, no layers of its own) is refused
 * (LSC_ERR_INVALID, naming how its checkpoints are called): every command that reads layers loads this way. */
lsc_status lsc_cmd_load(lsc_cmd_ctx *ctx, const char *name, lsc_adapter **ad, int64_t *id);

/* lsc_cmd_load, a series accepted too (show, series). */
lsc_status lsc_cmd_load_any(lsc_cmd_ctx *ctx, const char *name, lsc_adapter **ad, int64_t *id);

/* The name `import` gives PATH by default: the folder's name, or the file's stem unless it is the generic
 * adapter_model.safetensors (then its folder's name). malloc'ed; NULL on out of memory. */
char *lsc_import_default_name(const char *path);

/* If PATH is a folder of task sub-folders (no adapter_model.safetensors of its own), *tasks lists them
 * (malloc'ed array of malloc'ed names, possibly empty but non-NULL); otherwise *tasks is NULL. */
lsc_status lsc_import_tasks(const char *path, char ***tasks, size_t *n, lsc_error *err);

/* A layer's JSON object `o` named for people: "name" set to the display name of the stored key (what
 * every text output shows, lsc_layername_display) and "key" to the stored key itself. Returns o (NULL
 * stays NULL, so it wraps json_pack directly). */
json_t *lsc_json_layer_name(json_t *o, const char *key);

/* A JSON number, or null for NaN/Inf (JSON has no non-finite numbers). */
json_t *lsc_json_num(double v);

/* Print a JSON value followed by a newline to the sink (2-space indent, 17 significant digits). */
void lsc_json_print(lsc_sink *out, json_t *v);

/* The dtype shown for a layer: its A tensor's dtype name ("F32"), "?" if none. */
const char *lsc_layer_dtype(const lsc_adapter *ad, const lsc_layer *l);

/* Non-zero when the user asked the command to stop (ctx->cancel set by Ctrl-C / SIGTERM), with ctx->err
 * set to "WHAT cancelled" (LSC_ERR_CANCELLED). Every loop over layers or adapters asks it once a turn. */
int lsc_cmd_cancelled(lsc_cmd_ctx *ctx, const char *what);

/* Grow the malloc'ed *buf (capacity *cap doubles) to hold at least n doubles; contents kept, *buf and *cap
 * unchanged when n <= *cap. On failure *buf stays valid and LSC_ERR_NOMEM is returned with err set. */
lsc_status lsc_grow_doubles(double **buf, size_t *cap, size_t n, lsc_error *err);

#endif
