/* bake.h: write a base model again with some tensors recomputed (an adapter merged in), in the base's
 * own layout: a .safetensors file with the same header (names, order, metadata; only the dtypes and
 * offsets of recomputed tensors change, and only with a new dtype); a sharded folder with the same shards,
 * the same index (its metadata.total_size updated when sizes change) and every other file of the folder
 * copied; a GGUF file with the same header byte for byte (recomputed tensors keep their GGML type).
 * Tensors not recomputed are copied byte for byte (copy_file_range where the kernel offers it). Everything
 * is written to a temporary name and renamed into place at the end (store/fileio.h): an interrupted bake
 * leaves no part under the final name. Lives in store/: files only, no SQLite or curses.
 */
#ifndef LSC_BAKE_H
#define LSC_BAKE_H

#include <stdint.h>

#include "base.h"

/* Where a recomputed tensor's bytes go: file descriptor, the tensor's offset in it, the path for errors. */
typedef struct lsc_bake_out {
    int fd;
    uint64_t at;
    const char *path;
} lsc_bake_out;

/* Write n bytes at p to offset out->at + off (pwrite: safe from several threads on disjoint ranges).
 * `out` is an lsc_bake_out (void * so it can be an emit context). LSC_ERR_IO naming the path. */
lsc_status lsc_bake_out_write(void *out, uint64_t off, const void *p, size_t n, lsc_error *err);

typedef struct lsc_bake_ops {
    /* LSC_DT_INVALID: copy tensor ti byte for byte; otherwise it is recomputed, written in this dtype */
    lsc_dtype (*plan)(void *ctx, size_t ti);
    /* Recompute tensor ti (unless compute_at is given): raw holds its bytes as stored (nbytes); write its values in the planned dtype
     * into out (numel * dtype size bytes). */
    lsc_status (*compute)(void *ctx, size_t ti, const void *raw, void *out, lsc_error *err);
    /* Optional, used instead of compute when set: recompute tensor ti and write its bytes (numel * dtype
     * size) with lsc_bake_out_write(out, offset within the tensor, ...), from any thread, in any order,
     * each byte once. */
    lsc_status (*compute_at)(void *ctx, size_t ti, const void *raw, struct lsc_bake_out *out, lsc_error *err);
    /* Optional: bytes written so far of the total. */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *ctx;
    /* Optional: a check of tensor ti's bytes as read (e.g. its content hash), before compute or
     * compute_at sees them; its error stops the bake. May run on a reader thread while the previous
     * tensor is being recomputed (the next one is read ahead), so it must only read shared state. */
    lsc_status (*check)(void *ctx, size_t ti, const void *raw, lsc_error *err);
} lsc_bake_ops;

/* Bake base b into target (a file for single-file and GGUF bases, a folder for sharded ones; the caller
 * has checked it with lsc_target_check). A GGUF tensor must keep its type (LSC_ERR_UNSUPPORTED naming
 * it otherwise). Errors name the file and tensor; nothing is left under `target` on failure. */
lsc_status lsc_base_bake(lsc_base *b, const char *target, const lsc_bake_ops *ops, lsc_error *err);

#endif
