/* safetensors.h: strict reader and streaming writer of the safetensors format.
 *
 * Layout: u64 little-endian N, N bytes of UTF-8 JSON header (may be right-padded with spaces), data.
 * The reader validates every rule of FORMATS.md before allocating anything sized by the file: header
 * length bound (<= 100,000,000 and inside the file), JSON object, unique names, known dtypes, shapes
 * whose element and byte counts do not overflow, offsets contiguous from 0 with no gap or overlap,
 * byte counts equal to product(shape) * dtype size, no trailing bytes, metadata values strings.
 * Unknown-but-valid dtypes (F8_*, I8, BOOL, C64 ...) load as tensors; callers reject them for factors
 * with "unsupported dtype". Tensor data is read one tensor at a time (streaming).
 * Lives in store/: it does file I/O, never curses.
 */
#ifndef LSC_SAFETENSORS_H
#define LSC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "dtype.h"
#include "status.h"

#define LSC_ST_MAX_HEADER 100000000ull

typedef struct lsc_st_tensor {
    char *name;
    lsc_dtype dtype;
    int ndim;
    int64_t shape[LSC_MAX_NDIM];
    uint64_t begin, end;          /* offsets relative to the data buffer */
} lsc_st_tensor;

typedef struct lsc_st_file {
    char *path;                   /* as given, for messages */
    int fd;                       /* -1 for a file parsed from memory */
    uint64_t file_size;
    uint64_t header_len;          /* N */
    char *header;                 /* the N header bytes verbatim, NUL-terminated */
    size_t n_tensors;
    lsc_st_tensor *tensors;       /* in data order (ascending begin) */
    size_t n_meta;
    char **meta_keys, **meta_values; /* __metadata__ entries in header order */
    size_t *by_name;              /* tensor indices sorted by name (strcmp), for lsc_st_find */
} lsc_st_file;

/* Open and validate `path`. On failure returns LSC_ERR_IO/FORMAT/UNSUPPORTED with a message that names
 * the file and, where there is one, the tensor ("'x.safetensors': tensor 'a.lora_A.weight': ..."). */
lsc_status lsc_st_open(const char *path, lsc_st_file **out, lsc_error *err);

/* Validate a header given in memory: `buf` holds the first `len` bytes of a file of `file_size` bytes
 * (at least 8 + N of them). Used by lsc_st_open and by the fuzzers; out->fd is -1. `name` is used in
 * messages. */
lsc_status lsc_st_parse(const char *name, const void *buf, size_t len, uint64_t file_size, lsc_st_file **out,
                        lsc_error *err);

/* Index of the tensor called `name`, -1 if absent. O(log n). */
long lsc_st_find(const lsc_st_file *f, const char *name);

/* Read tensor i's bytes (end - begin of them) into dst. */
lsc_status lsc_st_read(lsc_st_file *f, size_t i, void *dst, lsc_error *err);

/* Close and free; NULL is allowed. */
void lsc_st_close(lsc_st_file *f);

/* ---- adapters read from a safetensors file -------------------------------------------------------- */

/* An lsc_tensor_loader for adapters whose load_ctx is an open lsc_st_file and whose tensors' `src` is
 * their index in it: reads one tensor's bytes on demand (streaming). Pair with lsc_st_loader_free. */
lsc_status lsc_st_tensor_loader(lsc_adapter *ad, size_t i, lsc_error *err);

/* load_ctx_free for such adapters: closes the file. */
void lsc_st_loader_free(void *ctx);

/* A new empty adapter in *out that owns f and loads its tensors from it (lsc_st_tensor_loader; the file
 * is closed with the adapter). On out of memory f is closed, *out is NULL and LSC_ERR_NOMEM returned. */
lsc_status lsc_st_adapter_new(lsc_st_file *f, lsc_adapter **out, lsc_error *err);

/* Fill ad's format, source (path), header_json (f's header), base_model and metadata_json (f's metadata,
 * left NULL when f has none) with copies. LSC_ERR_NOMEM when a copy fails (what was copied stays on ad). */
lsc_status lsc_st_adapter_describe(lsc_adapter *ad, const lsc_st_file *f, const char *format, const char *path,
                                   const char *base_model, lsc_error *err);

/* __metadata__ as compact JSON text in header order (malloc'ed), NULL when there is none or on out of
 * memory. */
char *lsc_st_metadata_json(const lsc_st_file *f);

struct json_t;

/* The entries of a JSON object (jansson's json_t, borrowed: the strings point into it, so it must outlive
 * them) as the parallel key and value arrays lsc_st_writer_begin takes, in the object's order: *keys and
 * *vals malloc'ed (the caller frees them; both NULL after a failure), *n entries. A value that is not a
 * string is left out when skip_other, else LSC_ERR_INVALID "adapter metadata '<key>' is not a string". */
lsc_status lsc_st_meta_arrays(const struct json_t *object, int skip_other, const char ***keys, const char ***vals,
                              size_t *n, lsc_error *err);

/* Can ad->header_json (a source file's header kept at import) be written again verbatim for ad? Non-zero
 * when it parses and lists exactly ad's tensors (names, dtypes, shapes, in order) and ad's metadata
 * (ad->metadata_json, compared as compact JSON text). 0 without a header or on out of memory. */
int lsc_st_header_reusable(const lsc_adapter *ad);

/* ---- writing ------------------------------------------------------------------------------------ */

typedef struct lsc_st_writer lsc_st_writer;

typedef struct lsc_st_out {
    const char *name;
    lsc_dtype dtype;
    int ndim;
    const int64_t *shape;
} lsc_st_out;

/* Start writing `path` atomically (a temporary file in the same folder, renamed by _finish). Writes the
 * header: "__metadata__" first (if n_meta > 0), then the tensors in the order given, compact JSON padded
 * with spaces to a multiple of 8, data offsets laid out in that order (the Rust safetensors library's style:
 * {"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}). Names and metadata
 * must be valid UTF-8 and names unique, else LSC_ERR_INVALID; LSC_ERR_IO if the temporary file cannot be
 * made. A replaced file keeps its permission bits, a new one gets 0644. On success *out must be finished
 * or aborted. */
lsc_status lsc_st_writer_begin(const char *path, const lsc_st_out *tensors, size_t n, const char *const *meta_keys,
                               const char *const *meta_values, size_t n_meta, lsc_st_writer **out, lsc_error *err);

/* Start writing with a header given verbatim (header_len bytes, e.g. lsc_st_file.header of a source file);
 * the header is validated like a read one, and the tensors must then be put in its data order. */
lsc_status lsc_st_writer_begin_verbatim(const char *path, const char *header, size_t header_len,
                                        lsc_st_writer **out, lsc_error *err);

/* Write the next tensor's bytes; nbytes must equal the declared size. Tensors are put in order. */
lsc_status lsc_st_writer_put(lsc_st_writer *w, const void *data, size_t nbytes, lsc_error *err);

/* Check every tensor was put, fsync, rename into place, fsync the folder. Frees w in all cases; on any
 * failure before the rename the temporary file is removed and the destination is untouched. */
lsc_status lsc_st_writer_finish(lsc_st_writer *w, lsc_error *err);

/* Abandon: remove the temporary file and free w; NULL is allowed. */
void lsc_st_writer_abort(lsc_st_writer *w);

#endif
