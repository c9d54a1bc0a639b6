/* base.h: the base model an adapter modifies, read one tensor at a time.
 *
 * Three layouts: one .safetensors file; a folder (or its model.safetensors.index.json) whose index's
 * "weight_map" names the shard of every tensor; a GGUF model file (v2/v3). Opening validates everything
 * that can be checked without reading tensor data: every shard opens and validates (store/safetensors.c),
 * every tensor the index names is in its shard, every shard holds only tensors the index gives it (so no
 * name is ambiguous), GGUF counts, lengths, offsets and tensor sizes against the file size. Errors are one
 * line naming the file and, where there is one, the tensor. Tensor data of F64/F32/F16/BF16 (and GGUF
 * Q8_0, dequantised) reads as doubles; every tensor reads as raw bytes (bake copies those).
 * Lives in store/: files, never SQLite or curses.
 */
#ifndef LSC_BASE_H
#define LSC_BASE_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "dtype.h"
#include "namemap.h"
#include "safetensors.h"
#include "status.h"

typedef enum { LSC_BASE_SAFETENSORS, LSC_BASE_SHARDED, LSC_BASE_GGUF } lsc_base_kind;

#define LSC_GGML_F32 0u
#define LSC_GGML_F16 1u
#define LSC_GGML_Q8_0 8u
#define LSC_GGML_BF16 30u

typedef struct lsc_base_tensor {
    char *name;
    size_t file;            /* index into lsc_base.files */
    lsc_dtype dtype;        /* LSC_DT_INVALID for GGUF quantised types */
    uint32_t ggml_type;     /* GGUF only */
    int ndim;
    int64_t shape[LSC_MAX_NDIM]; /* numpy order (GGUF's ne reversed) */
    uint64_t offset;        /* absolute byte offset in its file */
    uint64_t nbytes;
} lsc_base_tensor;

typedef struct lsc_base_file {
    char *path;             /* as opened (folder + shard name for shards) */
    char *rel;              /* shard name as the index writes it; the file name otherwise */
    int fd;
    uint64_t size;
    lsc_st_file *st;        /* safetensors files; NULL for GGUF */
    uint64_t data_start;    /* GGUF: first byte of the data section */
} lsc_base_file;

typedef struct lsc_base {
    lsc_base_kind kind;
    char *path;             /* as given */
    char *index_path;       /* sharded: the index file, else NULL */
    lsc_base_file *files;
    size_t n_files;
    lsc_base_tensor *tensors; /* safetensors: per file in data order; GGUF: in header order */
    size_t n_tensors;
    lsc_namemap by_name;    /* tensor name -> index */
} lsc_base;

/* Open and validate a base (see the head comment). *out is freed with lsc_base_close. LSC_ERR_IO,
 * LSC_ERR_FORMAT (naming file and tensor) or LSC_ERR_UNSUPPORTED (GGUF type without a known size). */
lsc_status lsc_base_open(const char *path, lsc_base **out, lsc_error *err);

/* Close; NULL allowed. */
void lsc_base_close(lsc_base *b);

/* Index of tensor `name`, -1 if absent. */
long lsc_base_find(const lsc_base *b, const char *name);

/* The dtype name the catalog records: a safetensors dtype ("BF16") or a GGUF type ("Q8_0", "GGML_12"). */
const char *lsc_base_dtype_name(const lsc_base_tensor *t, char *buf, size_t cap);

/* Non-zero when tensor i can be read as numbers (F64/F32/F16/BF16, GGUF Q8_0). */
int lsc_base_readable(const lsc_base *b, size_t i);

/* Read tensor i's raw bytes (nbytes) into dst. LSC_ERR_IO naming file and tensor on a short file. */
lsc_status lsc_base_read_raw(lsc_base *b, size_t i, void *dst, lsc_error *err);

/* Bytes [off, off + n) of tensor i's raw bytes into dst (off + n <= nbytes; a tensor read piece by piece,
 * so its bytes can be hashed and used while they are in cache). Errors as lsc_base_read_raw. */
lsc_status lsc_base_read_part(lsc_base *b, size_t i, uint64_t off, size_t n, void *dst, lsc_error *err);

/* Tensor i as doubles into dst (numel values, row-major numpy order); raw [nbytes] is scratch the caller
 * provides. LSC_ERR_UNSUPPORTED (naming file and tensor) for other types. */
lsc_status lsc_base_read_doubles(lsc_base *b, size_t i, void *raw, double *dst, lsc_error *err);

/* Content hash of tensor i's bytes (xxh3-128 hex, as tensor hashes elsewhere); raw is [nbytes] scratch. */
lsc_status lsc_base_hash(lsc_base *b, size_t i, void *raw, char out[LSC_HASH_HEX], lsc_error *err);

/* Number of elements of tensor i. */
int64_t lsc_base_numel(const lsc_base_tensor *t);

#endif
