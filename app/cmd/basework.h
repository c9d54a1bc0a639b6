/* basework.h: an adapter together with the base weights recorded for it (issue #19), shared by `base`,
 * `show --base`, `bake` and `expect relnorm/intruders`: which base tensor each layer modifies, its
 * weight read one layer at a time as doubles in the layer's orientation [rows, cols], the recorded content
 * hash checked on every read (a base changed on disk is an error naming file and tensor, never used).
 * The W-only part of the figures (engine/basefig.h lsc_basefig_sketch) is cached in the catalog opened
 * with lsc_basework_open, keyed by the recorded content hash of the base tensor, its dtype and
 * orientation, and the range finder's settings; it is used only after the tensor read from disk matched
 * that hash, and a missing, unreadable or unwritable cache only costs the passes it would have saved.
 * Internal to the command layer. */
#ifndef LSC_BASEWORK_H
#define LSC_BASEWORK_H

#include <pthread.h>

#include "base.h"
#include "basefig.h"
#include "catalog.h"
#include "common.h"

typedef struct lsc_basework {
    lsc_base *b;
    char *path;        /* the base's path as recorded */
    long *tensor_of;   /* per adapter layer: base tensor index, -1 when none (only for layers not resolved) */
    int *transposed;   /* per layer: the base stores the weight [in, out] (fan_in_fan_out) */
    char **hash_of;    /* per layer: the recorded hash (NULL while attaching), owned */
    size_t n_layers;
    unsigned char *raw;
    size_t raw_cap;
    double *W, *T;     /* the current layer's weight (and a transpose buffer) */
    size_t w_cap;
    struct lsc_basework_scratch *fs; /* lsc_basework_figures' reusable buffers (NULL until first used) */
    lsc_catalog *cat;  /* the sketch cache (lsc_basework_open's catalog; NULL: none) */
    int cache_mu_ok;   /* cache_mu initialised */
    pthread_mutex_t cache_mu; /* the workers' cache look-ups, one at a time on the catalog's connection */
} lsc_basework;

/* Open the base at `path` and resolve every layer of ad to its base tensor (basemap.h), checking the
 * shape. Errors: a layer without a base tensor, a shape that differs (both naming file, tensor and layer),
 * what lsc_base_open reports. bw is released by lsc_basework_release in every case. */
lsc_status lsc_basework_resolve(lsc_basework *bw, lsc_adapter *ad, const char *path, lsc_error *err);

/* Open the base recorded in the catalog for adapter `id` (resolve + the recorded names, dtypes, shapes
 * and hashes must still match). LSC_ERR_NOTFOUND "no base recorded for 'NAME' (run: lorascope base NAME
 * PATH)" when there is none. */
lsc_status lsc_basework_open(lsc_basework *bw, lsc_catalog *cat, lsc_adapter *ad, int64_t id, lsc_error *err);

/* The records `base` stores: per layer, the base tensor's name, dtype, shape and content hash (reads every
 * used tensor once). *recs freed with lsc_base_rec_free_array. */
lsc_status lsc_basework_records(lsc_basework *bw, lsc_adapter *ad, lsc_base_rec **recs, size_t *n, lsc_error *err);

/* Layer li's base weight as doubles [rows, cols] row-major in *W (owned by bw, valid until the next call).
 * The raw bytes are hashed and compared with the recorded hash when there is one. */
lsc_status lsc_basework_weight(lsc_basework *bw, lsc_adapter *ad, size_t li, const double **W, lsc_error *err);

/* The same from raw bytes already read (bake): hash check, conversion, orientation. *W is bw's buffer and
 * may be modified by the caller (it is rewritten on the next call). */
lsc_status lsc_basework_from_raw(lsc_basework *bw, lsc_adapter *ad, size_t li, const void *raw, double **W,
                                 lsc_error *err);

/* Only the hash check of lsc_basework_from_raw: raw (the base tensor of layer li as stored) must have
 * the recorded content hash, when one is recorded; else an error naming file and tensor. */
lsc_status lsc_basework_verify_raw(lsc_basework *bw, size_t li, const void *raw, lsc_error *err);

/* Every figure of layer li against its base weight (basefig.h); bbuf/abuf as lsc_adapter_factors. */
lsc_status lsc_basework_figures(lsc_basework *bw, lsc_adapter *ad, size_t li, const lsc_basefig_opts *o,
                                lsc_workspace *ws, double **bbuf, size_t *bcap, double **abuf, size_t *acap,
                                lsc_basefig *out, lsc_error *err);

/* The figures of layers[0 .. n) (adapter layer indices) into out[0 .. n), on `threads` workers over the
 * pool (out[i] belongs to item i, so the results do not depend on the count), each worker holding one
 * base tensor at a time: read, hash-checked, decoded to floats when the base stores F32/F16/BF16 (exact;
 * lsc_basefig_compute_f32), to doubles otherwise. The adapter's tensors are loaded in the calling thread
 * first. cancel (may be NULL) is asked in the calling thread between groups of layers, with the number of
 * layers done so far and n (a progress report); non-zero stops the call with LSC_ERR_CANCELLED. Errors name the layer (and the file and tensor when the base is at fault);
 * the lowest failing layer's error is reported. Same figures as lsc_basework_figures layer by layer. */
lsc_status lsc_basework_figures_all(lsc_basework *bw, lsc_adapter *ad, const size_t *layers, size_t n,
                                    const lsc_basefig_opts *o, int threads, int (*cancel)(void *, size_t, size_t), void *cancel_ctx,
                                    lsc_basefig *out, lsc_error *err);

void lsc_basework_release(lsc_basework *bw);

#endif
