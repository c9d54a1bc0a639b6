/* adapter.h: the in-memory model of an adapter, shared by every layer of the program.
 *
 * An adapter is a list of tensors exactly as stored (raw little-endian bytes in their file dtype, with
 * their original key spelling) and a list of LoRA layers that point into it. Tensor data may be absent
 * (data == NULL) until lsc_adapter_load_tensor() asks the adapter's loader for it, so that readers
 * (a safetensors file, the catalog) can stream one layer at a time. Tensors that are not part of a LoRA
 * pair (modules_to_save, heads, unknown names) are kept with role LSC_ROLE_EXTRA and never dropped.
 *
 * This module is pure data plus the factor view (lsc_adapter_factors): no file, database or terminal.
 */
#ifndef LSC_ADAPTER_H
#define LSC_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "lowrank.h"
#include "namemap.h"
#include "status.h"

#define LSC_MAX_NDIM 8
#define LSC_HASH_HEX 33 /* 32 hex digits of an xxh3-128 + NUL */

#define LSC_ROLE_LIST(X)          \
    X(LSC_ROLE_A, "A")            \
    X(LSC_ROLE_B, "B")            \
    X(LSC_ROLE_E, "E")            \
    X(LSC_ROLE_MAGNITUDE, "magnitude") \
    X(LSC_ROLE_ALPHA, "alpha")    \
    X(LSC_ROLE_EXTRA, "extra")    \
    X(LSC_ROLE_GATE, "gate")      \
    X(LSC_ROLE_FACTOR, "factor")

typedef enum {
#define LSC_X_ROLE(code, name) code,
    LSC_ROLE_LIST(LSC_X_ROLE)
#undef LSC_X_ROLE
    LSC_ROLE_COUNT
} lsc_role;

const char *lsc_role_name(lsc_role r);
int lsc_role_parse(const char *name); /* -1 if unknown */

typedef struct lsc_tensor {
    char *key;                    /* key as in the source file, e.g. "...q_proj.lora_A.weight" */
    lsc_role role;
    int layer;                    /* index into lsc_adapter.layers, -1 for extras */
    lsc_dtype dtype;
    int ndim;                     /* 0 for a scalar */
    int64_t shape[LSC_MAX_NDIM];
    size_t nbytes;                /* product(shape) * dtype size */
    uint8_t *data;                /* NULL until loaded; owned by the adapter */
    char hash[LSC_HASH_HEX];      /* content hash of the bytes, "" until computed by store/ */
    int64_t src;                  /* loader's own handle (index in a file, row id in the catalog) */
} lsc_tensor;

/* How the scale applied to B*A is derived from alpha and rank. */
#define LSC_SCALE_RULE_LIST(X)               \
    X(LSC_SCALE_ALPHA_R, "alpha/r")          \
    X(LSC_SCALE_RSLORA, "alpha/sqrt(r)")     \
    X(LSC_SCALE_ADALORA, "alpha/init_r")     \
    X(LSC_SCALE_FIXED, "fixed")

typedef enum {
#define LSC_X_RULE(code, name) code,
    LSC_SCALE_RULE_LIST(LSC_X_RULE)
#undef LSC_X_RULE
    LSC_SCALE_RULE_COUNT
} lsc_scale_rule;

const char *lsc_scale_rule_name(lsc_scale_rule r);
int lsc_scale_rule_parse(const char *name); /* -1 if unknown */

/* Compute the scale from a rule: alpha/r, alpha/sqrt(r), alpha/(init_r + 1e-5) as PEFT's AdaLoRA does,
 * or `fixed` (returned unchanged). r <= 0 gives 0. */
double lsc_scale_compute(lsc_scale_rule rule, double alpha, int r, int init_r, double fixed);

/* The kinds of adapter: what its training rule made of it. The catalog and the adapter keep the name (no
 * schema change); code compares the enum. "layer-wise" is a static adapter whose layers differ in rank or
 * alpha; "multi-task" is a group whose tasks are other adapters; "series" is a training run whose members are
 * its checkpoints (other adapters) in step order. */
#define LSC_KIND_LIST(X)                \
    X(LSC_KIND_STATIC, "static")        \
    X(LSC_KIND_DYNAMIC, "dynamic")      \
    X(LSC_KIND_LAYERWISE, "layer-wise") \
    X(LSC_KIND_ADAPTIVE, "adaptive")    \
    X(LSC_KIND_SPARSE, "sparse")        \
    X(LSC_KIND_MULTITASK, "multi-task") \
    X(LSC_KIND_SERIES, "series")        \
    X(LSC_KIND_LOHA, "loha")            \
    X(LSC_KIND_LOKR, "lokr")

typedef enum {
    LSC_KIND_UNKNOWN = -1, /* a name not in the list (a catalog written by a newer lorascope) */
#define LSC_X_KIND(code, name) code,
    LSC_KIND_LIST(LSC_X_KIND)
#undef LSC_X_KIND
    LSC_KIND_COUNT
} lsc_kind;

/* Name of a kind ("layer-wise"); "unknown" out of range. */
const char *lsc_kind_name(lsc_kind k);

/* The kind called name; NULL or "" is LSC_KIND_STATIC (adapters that never set a kind), a name not in
 * the list LSC_KIND_UNKNOWN. */
lsc_kind lsc_kind_parse(const char *name);

/* Layer flags */
#define LSC_LAYER_FAN_IN_FAN_OUT 0x01u /* base weight stored [in, out] (GPT-2 Conv1D): applied delta is the transpose */
#define LSC_LAYER_CONV 0x02u           /* A [r, in, kh, kw], B [out, r, 1, 1]; A flattened for spectra */
#define LSC_LAYER_EMBEDDING 0x04u      /* lora_embedding_A [r, vocab], _B [dim, r]; delta = (B A)^T */
#define LSC_LAYER_DORA 0x08u           /* has a magnitude vector (needs the base weight to apply) */
#define LSC_LAYER_ADALORA 0x10u        /* has lora_E [r, 1]: delta = B (A * E) scale */
/* LyCORIS layers (engine/lycoris_layer.h): ta = tb = -1, the stored factors have role LSC_ROLE_FACTOR */
#define LSC_LAYER_LOHA 0x20u           /* hada_w1_a/b, hada_w2_a/b (+ hada_t1/t2): dW = s (B1 A1) o (B2 A2) */
#define LSC_LAYER_LOKR 0x40u           /* lokr_w1(_a/_b), lokr_w2(_a/_b) (+ lokr_t2): dW = s W1 (x) W2 */
#define LSC_LAYER_TUCKER 0x80u         /* LoCon lora_down, lora_mid (Tucker core), lora_up */

typedef struct lsc_layer {
    char *name;           /* key prefix before ".lora_A" (PEFT) or the module name (kohya) */
    char *module_type;    /* last path component, e.g. "q_proj"; "" if none */
    int layer_index;      /* the block number found in the name, -1 if none */
    int64_t rows, cols;   /* out, in of B*A (cols = in*kh*kw for conv) */
    int rank;             /* from the tensors' shapes */
    int init_r;           /* AdaLoRA init_r (scale divisor); 0 otherwise */
    double alpha;
    lsc_scale_rule rule;
    double scale;         /* the factor applied to B*A */
    unsigned flags;       /* LSC_LAYER_* */
    int ta, tb, te, tm;   /* tensor indices of A, B, E, magnitude; -1 if absent */
} lsc_layer;

typedef struct lsc_adapter lsc_adapter;

/* Loader: fill ad->tensors[i].data (allocated with malloc, nbytes long). */
typedef lsc_status (*lsc_tensor_loader)(lsc_adapter *ad, size_t i, lsc_error *err);

struct lsc_adapter {
    char *name;           /* catalog name (unique) */
    char *format;         /* "peft", "kohya", "gguf" */
    char *kind;           /* "static", "dynamic", "layer-wise", "adaptive", "sparse", "multi-task", "loha", "lokr" */
    char *base_model;     /* may be "" */
    char *config_json;    /* source config text kept verbatim (PEFT adapter_config.json), may be NULL */
    char *header_json;    /* source safetensors header kept verbatim (for byte-identical export), may be NULL */
    char *metadata_json;  /* safetensors __metadata__ as a JSON object text, may be NULL */
    char *source;         /* where it was imported from, may be NULL */
    char *warnings;       /* newline-separated import warnings (config r disagreeing with shapes ...), may be NULL */
    lsc_tensor *tensors;
    size_t n_tensors;
    lsc_layer *layers;
    size_t n_layers;
    lsc_tensor_loader load; /* may be NULL when every tensor has data */
    void *load_ctx;
    /* When set and raised (Ctrl-C, SIGTERM, the workbench's cancel), lsc_adapter_load_tensor refuses to
     * load with LSC_ERR_CANCELLED: a writer or reader that streams tensors stops at its next tensor and
     * takes its error path (an atomic file is then removed). NULL: never cancelled. */
    volatile int *cancel;
    void (*load_ctx_free)(void *ctx);
    /* Kept by lsc_adapter_add_layer / remove_layer / add_tensor / remove_tensor (the only ways layers and
     * tensors come and go): layer name -> index, and how many tensors have the gate role. */
    lsc_namemap layer_index;
    size_t n_gate_tensors;
    /* Built on first use by an edit (lsc_adapter_set_factors) and dropped whenever a tensor comes or goes:
     * for each layer the index of its alpha tensor or -1 (an edit of L layers would otherwise scan every
     * tensor per layer, O(L^2)). Private. */
    int *alpha_of_layer;
};

/* Allocate an empty adapter (all strings NULL, no tensors). NULL on out of memory. */
lsc_adapter *lsc_adapter_new(void);

/* Release everything the adapter owns, including load_ctx via load_ctx_free. NULL is allowed. */
void lsc_adapter_free(lsc_adapter *ad);

/* lsc_kind_parse(ad->kind): the adapter's kind, static when it has none. */
lsc_kind lsc_adapter_kind(const lsc_adapter *ad);

/* Set ad->kind to the name of k (0 <= k < LSC_KIND_COUNT). LSC_ERR_NOMEM leaves the old kind. */
lsc_status lsc_adapter_set_kind(lsc_adapter *ad, lsc_kind k, lsc_error *err);

/* Append one line (a format string and its arguments, at most LSC_ERROR_MSG_MAX - 1 bytes) to ad->warnings, newline-separated.
 * Out of memory loses the line quietly: a lost warning is not worth failing an import or an export. */
void lsc_adapter_warn(lsc_adapter *ad, const char *fmt, ...) __attribute__((format(__printf__, 2, 3)));

/* Append a tensor (copying key; shape of ndim entries; data taken over if non-NULL, else left unloaded).
 * nbytes is computed from shape and dtype. Returns the new index in *index. */
lsc_status lsc_adapter_add_tensor(lsc_adapter *ad, const char *key, lsc_role role, int layer, lsc_dtype dt,
                                  int ndim, const int64_t *shape, void *data, size_t *index, lsc_error *err);

/* Append a layer with the given name (copied); all tensor indices -1. Returns its index in *index. */
lsc_status lsc_adapter_add_layer(lsc_adapter *ad, const char *name, size_t *index, lsc_error *err);

/* Make sure tensors[i].data is present (calls the loader). */
lsc_status lsc_adapter_load_tensor(lsc_adapter *ad, size_t i, lsc_error *err);

/* Drop tensors[i].data if the adapter has a loader to get it back (memory control while streaming). */
void lsc_adapter_unload_tensor(lsc_adapter *ad, size_t i);

/* Total parameters of LoRA factor tensors (A, B, E, magnitude) and of all tensors' bytes. */
int64_t lsc_adapter_params(const lsc_adapter *ad);
int64_t lsc_adapter_bytes(const lsc_adapter *ad);

/* Layer index by name, -1 if absent. O(1) expected through ad->layer_index (a linear scan only if the
 * index was bypassed). */
int lsc_adapter_find_layer(const lsc_adapter *ad, const char *name);

/* Tensor i as doubles into *buf (grown as needed, caller-owned; *n receives the element count). Loads the
 * tensor if needed. LSC_ERR_UNSUPPORTED for a non-float dtype. */
lsc_status lsc_adapter_tensor_doubles(lsc_adapter *ad, size_t i, double **buf, size_t *cap, size_t *n, lsc_error *err);

/* Every tensor layer li's factor view (lsc_adapter_factors) reads, so that a caller can load them all
 * before handing the layer to a worker thread (loaders serve one thread at a time): A, B, E, the
 * magnitude, a gate and, for a LyCORIS layer, each stored factor. Fills ts[0..LSC_LAYER_INPUTS_MAX) with
 * tensor indices, -1 for unused slots. */
#define LSC_LAYER_INPUTS_MAX 16
void lsc_adapter_layer_inputs(const lsc_adapter *ad, size_t li, int ts[LSC_LAYER_INPUTS_MAX]);

/* Index of the tensor of layer li with role `role` found by scanning (gates, kohya alphas), -1 if none.
 * A gate of an adapter that has no gate tensors answers -1 at once (factor views of large adapters). */
int lsc_adapter_layer_tensor(const lsc_adapter *ad, size_t li, lsc_role role);

/* The factor view of layer `li`: loads its tensors, converts to double, folds AdaLoRA's E and a SoRA gate into A,
 * flattens conv A, transposes embeddings, and fills `out` (rows, cols, r, scale, B, A).
 * *bbuf and *abuf are (re)allocated as needed ([rows*r] and [r*cols] doubles) and stay owned by the
 * caller, so a loop over layers reuses them; pass pointers to NULL to start. Fails with
 * LSC_ERR_FORMAT naming the tensor when shapes disagree. */
lsc_status lsc_adapter_factors(lsc_adapter *ad, size_t li, double **bbuf, size_t *bcap, double **abuf,
                               size_t *acap, lsc_lowrank *out, lsc_error *err);

/* The inverse of the factor view: replace layer li's factors by new ones given in view orientation,
 * B [rows, k] and A [k, cols] (row-major doubles, applied as `scale` * B * A), converting them to the
 * layer's stored dtypes and orientation (conv A keeps its [k, in, kh, kw] trailing dims, embeddings are
 * transposed back, an AdaLoRA E becomes ones [k, 1]). The layer's rank, scale and alpha are updated
 * (alpha from the layer's rule so that the rule reproduces `scale`; rule FIXED keeps `scale` itself).
 * Replaced tensors get new data and an empty hash; the old bytes are released. Conversions that overflow
 * the stored dtype fail with LSC_ERR_NUMERIC naming the tensor (nothing is changed then). */
lsc_status lsc_adapter_set_factors(lsc_adapter *ad, size_t li, const double *B, const double *A, int k, double scale,
                                   lsc_error *err);

/* Replace tensor i's values by n doubles converted to its dtype, with a new shape (ndim dims). The hash
 * is cleared. LSC_ERR_NUMERIC (naming the tensor) if a value overflows the dtype; nothing changes then. */
lsc_status lsc_adapter_set_tensor(lsc_adapter *ad, size_t i, const double *v, int ndim, const int64_t *shape,
                                  lsc_error *err);

/* n doubles converted to dtype dt (a float dtype) in a fresh malloc'ed buffer *out (caller frees; n * size
 * + 1 bytes, so n = 0 still allocates). LSC_ERR_NUMERIC "tensor '<key>': N value(s) overflow <dtype>" when a
 * finite value does not fit; LSC_ERR_NOMEM; nothing is left in *out on failure. */
lsc_status lsc_adapter_encode(lsc_dtype dt, const double *v, size_t n, const char *key, uint8_t **out,
                              lsc_error *err);

/* Remove tensor i; layer slots and tensor indices after it are renumbered. */
void lsc_adapter_remove_tensor(lsc_adapter *ad, size_t i);

/* Remove layer li and every tensor that belongs to it. */
void lsc_adapter_remove_layer(lsc_adapter *ad, size_t li);

/* A deep copy of ad's description: every string, layer and tensor (key, role, dtype, shape, hash), with no
 * tensor data and no loader; header_json is dropped (a derived adapter is no longer its source file).
 * Used to derive a new adapter whose unchanged tensors are shared by hash. NULL on out of memory. */
lsc_adapter *lsc_adapter_clone_meta(const lsc_adapter *ad);

#endif
