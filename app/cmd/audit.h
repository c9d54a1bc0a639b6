/* audit.h: the catalog-wide audit behind `lorascope audit` and the workbench's audit view.
 *
 * For every visible adapter whose name matches a glob (multi-task groups have no layers of their own and
 * are skipped), from the catalog's statistics cache (computed for a layer it does not hold yet):
 *  - rank it wastes: layers where `prune --energy 0.99` would keep k < r (k as lsc_prune_select picks
 *    it from the layer's singular values), and the bytes that prune would save: (r - k) times the bytes
 *    one rank costs in A, B and E (their stored dtypes);
 *  - layers with NaN/Inf (LSC_STATS_NONFINITE; no savings counted for them);
 *  - dead layers: delta exactly zero (LSC_STATS_ZERO) or ||dW||_F <= 1e-6 of the adapter's largest layer;
 *  - duplicated content: other visible adapters with the same content hash, and matched adapters with
 *    exactly the same layer tensors (same lsc_catalog_stats_key per layer, in order) but another hash;
 *  - derived adapters whose parents are gone (removed since: lsc_catalog_gone_parents).
 * Entries come sorted by savings, largest first, then by name. Depends on the catalog and the engine's
 * statistics; never prints. */
#ifndef LSC_AUDIT_H
#define LSC_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

#define LSC_AUDIT_WASTE 0x1u     /* k99 < r */
#define LSC_AUDIT_NONFINITE 0x2u /* NaN/Inf in A, B or the scale */
#define LSC_AUDIT_DEAD 0x4u      /* norm ~0 */

/* One layer with a finding. */
typedef struct lsc_audit_layer {
    char *name;     /* stored layer name (malloc'ed) */
    int rank, k99;  /* k99: the rank prune --energy 0.99 keeps */
    int64_t saves;  /* bytes that prune saves on this layer */
    unsigned what;  /* LSC_AUDIT_* */
} lsc_audit_layer;

typedef struct lsc_audit_entry {
    char *name;
    char content_hash[LSC_HASH_HEX];
    int64_t n_layers, bytes;    /* layers, bytes of all tensors */
    int waste, nonfinite, dead; /* counts of layers with each finding */
    int64_t saves;              /* bytes prune --energy 0.99 saves over the adapter */
    lsc_audit_layer *layers;    /* the layers with a finding, in the adapter's order */
    size_t n_flagged;
    char *duplicates;           /* comma-separated: other adapters with the same content hash ("" if none) */
    char *same_layers;          /* comma-separated: matched adapters with the same layer tensors, other hash */
    char *gone_parents;         /* comma-separated: its parents that were removed */
} lsc_audit_entry;

/* Progress: called after each adapter with (done, total); may be NULL. */
typedef void (*lsc_audit_progress)(void *ctx, size_t done, size_t total);

/* Audit the visible adapters matching glob (NULL or "" = all) into *out (n entries, sorted as above; free
 * with lsc_audit_free). Statistics missing from the cache are computed, not stored. cancel (may be NULL)
 * stops between adapters with LSC_ERR_CANCELLED. Fails on catalog errors (message names the adapter) and
 * LSC_ERR_NOMEM. */
lsc_status lsc_audit_collect(lsc_catalog *cat, const char *glob, volatile int *cancel,
                             lsc_audit_progress progress, void *progress_ctx, lsc_audit_entry **out, size_t *n,
                             lsc_error *err);
void lsc_audit_free(lsc_audit_entry *a, size_t n);

/* 1 when an entry has any finding (savings, NaN/Inf, dead layers, duplicates, gone parents). */
int lsc_audit_has_findings(const lsc_audit_entry *e);

#endif
