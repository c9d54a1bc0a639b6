/* store/gguf.c: llama.cpp GGUF LoRA adapters in and out (see gguf.h for the mapping and the rules).
 *
 * The reader walks the file front to back through a small buffered pread reader; every count and length
 * read from the file is compared with the bytes left before anything is allocated or looped over, and
 * tensor offsets must be the padded running sum, so hostile counts (2^62 tensors, a string longer than
 * the file) fail at once with a message naming the field. Tensor data stays in the file until the
 * adapter's loader asks for it. The writer builds the whole header in memory, then streams tensors one
 * at a time into a temporary file that is fsync'ed and renamed into place.
 * Depends on libc, POSIX file calls, jansson and engine/ (types, dtypes, the factor view); never on
 * curses or SQLite.
 */
#include "gguf.h"
#include "fileio.h"
#include "format_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ESC_CAP 320
#define RD_BUF 65536

/* GGUF key-value types, in file code order. */
#define GT_LIST(X)                     \
    X(GT_U8, "u8", 1)                  \
    X(GT_I8, "i8", 1)                  \
    X(GT_U16, "u16", 2)                \
    X(GT_I16, "i16", 2)                \
    X(GT_U32, "u32", 4)                \
    X(GT_I32, "i32", 4)                \
    X(GT_F32, "f32", 4)                \
    X(GT_BOOL, "bool", 1)              \
    X(GT_STR, "str", 0)                \
    X(GT_ARR, "array", 0)              \
    X(GT_U64, "u64", 8)                \
    X(GT_I64, "i64", 8)                \
    X(GT_F64, "f64", 8)

enum {
#define X_ENUM(c, n, s) c,
    GT_LIST(X_ENUM)
#undef X_ENUM
    GT_COUNT
};
static const char *const gt_names[] = {
#define X_NAME(c, n, s) n,
    GT_LIST(X_NAME)
#undef X_NAME
};
static const unsigned gt_sizes[] = {
#define X_SIZE(c, n, s) s,
    GT_LIST(X_SIZE)
#undef X_SIZE
};
_Static_assert(sizeof gt_names / sizeof gt_names[0] == GT_COUNT, "gguf type names out of sync");
_Static_assert(sizeof gt_sizes / sizeof gt_sizes[0] == GT_COUNT, "gguf type sizes out of sync");

/* ggml tensor types we know */
#define GG_F32 0u
#define GG_F16 1u
#define GG_Q8_0 8u
#define GG_BF16 30u
#define Q8_BLOCK 32
#define Q8_BYTES 34 /* f16 scale + 32 int8 */

/* The smallest possible encodings, used to bound counts by the bytes left. */
#define MIN_KV_BYTES 13     /* key length u64 + empty key + type u32 + 1-byte value */
#define MIN_TINFO_BYTES 24  /* name length u64 + u32 n_dims + u32 type + u64 offset */

static const char *const kv_alpha = "adapter.lora.alpha";

/* ---- small helpers ---------------------------------------------------------------------------------- */

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t pad_to(uint64_t x, uint64_t align)
{
    return (x + align - 1) / align * align;
}

/* ---- the bounded reader ---------------------------------------------------------------------------- */

typedef struct rd {
    int fd;
    const char *path;
    uint64_t size, pos;
    uint64_t boff;
    size_t blen;
    unsigned char buf[RD_BUF];
} rd;

static uint64_t rd_left(const rd *r)
{
    return r->size - r->pos;
}

/* Copy n bytes at the current position into dst (dst may be NULL to skip); `what` names the field. */
static lsc_status rd_get(rd *r, void *dst, uint64_t n, const char *what, lsc_error *err)
{
    if (n > rd_left(r))
        return lsc_format_fail(err, LSC_ERR_FORMAT, r->path, NULL,
                               "truncated: %s needs %" PRIu64 " bytes at offset %" PRIu64 ", only %" PRIu64 " left",
                               what, n, r->pos, rd_left(r));
    unsigned char *d = dst;
    while (n > 0) {
        if (r->pos < r->boff || r->pos >= r->boff + r->blen) {
            uint64_t want = rd_left(r) < RD_BUF ? rd_left(r) : RD_BUF;
            int rc = lsc_pread_full(r->fd, r->buf, (size_t)want, r->pos);
            if (rc < 0)
                return lsc_format_io_fail(err, "read", r->path, errno);
            if (rc > 0)
                return lsc_format_fail(err, LSC_ERR_IO, r->path, NULL, "file shrank while reading");
            r->boff = r->pos;
            r->blen = (size_t)want;
        }
        size_t in = (size_t)(r->boff + r->blen - r->pos);
        size_t k = n < in ? (size_t)n : in;
        if (d) {
            memcpy(d, r->buf + (r->pos - r->boff), k);
            d += k;
        }
        r->pos += k;
        n -= k;
    }
    return LSC_OK;
}

static lsc_status rd_u32(rd *r, uint32_t *v, const char *what, lsc_error *err)
{
    unsigned char b[4];
    lsc_status st = rd_get(r, b, 4, what, err);
    if (!st)
        *v = (uint32_t)get_le(b, 4);
    return st;
}

static lsc_status rd_u64(rd *r, uint64_t *v, const char *what, lsc_error *err)
{
    unsigned char b[8];
    lsc_status st = rd_get(r, b, 8, what, err);
    if (!st)
        *v = get_le(b, 8);
    return st;
}

/* A GGUF string: u64 length, bytes. The length is checked against the bytes left (and `max` if
 * non-zero) before allocating. *out is NUL-terminated, *len its length. */
static lsc_status rd_str(rd *r, char **out, uint64_t *len, uint64_t max, const char *what, lsc_error *err)
{
    uint64_t n;
    lsc_status st = rd_u64(r, &n, what, err);
    if (st)
        return st;
    if (n > rd_left(r))
        return lsc_format_fail(err, LSC_ERR_FORMAT, r->path, NULL,
                               "%s: string length %" PRIu64 " at offset %" PRIu64
                               " runs past the end of the file (%" PRIu64 " bytes left)",
                               what, n, r->pos - 8, rd_left(r));
    if (max && n > max)
        return lsc_format_fail(err, LSC_ERR_FORMAT, r->path, NULL, "%s: %" PRIu64 " bytes long (at most %" PRIu64 ")",
                               what, n, max);
    char *s = malloc((size_t)n + 1);
    if (!s)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if ((st = rd_get(r, s, n, what, err))) {
        free(s);
        return st;
    }
    s[n] = '\0';
    *out = s;
    *len = n;
    return LSC_OK;
}

/* ---- key-value pairs as typed JSON --------------------------------------------------------------- */

static json_t *float_json(double v, uint64_t bits, int f32)
{
    if (isfinite(v))
        return json_real(v);
    char hex[24];
    snprintf(hex, sizeof hex, f32 ? "0x%08" PRIx64 : "0x%016" PRIx64, bits);
    return json_string(hex);
}

/* Read one value of scalar type t (not ARR) as JSON. */
static lsc_status rd_value(rd *r, unsigned t, const char *key, json_t **out, lsc_error *err)
{
    unsigned char b[8];
    lsc_status st;
    char what[96];
    snprintf(what, sizeof what, "value of key '%.60s'", key);
    *out = NULL;
    if (t == GT_STR) {
        char *s;
        uint64_t n;
        if ((st = rd_str(r, &s, &n, 0, what, err)))
            return st;
        *out = json_stringn(s, (size_t)n);
        free(s);
        if (!*out)
            return lsc_format_fail(err, LSC_ERR_FORMAT, r->path, NULL, "key '%.60s': string is not valid UTF-8", key);
        return LSC_OK;
    }
    if ((st = rd_get(r, b, gt_sizes[t], what, err)))
        return st;
    uint64_t u = get_le(b, (int)gt_sizes[t]);
    switch (t) {
    case GT_U8: case GT_U16: case GT_U32:
        *out = json_integer((json_int_t)u);
        break;
    case GT_I8: *out = json_integer((int8_t)u); break;
    case GT_I16: *out = json_integer((int16_t)u); break;
    case GT_I32: *out = json_integer((int32_t)u); break;
    case GT_I64: *out = json_integer((json_int_t)(int64_t)u); break;
    case GT_U64:
        if (u > (uint64_t)INT64_MAX) {
            char dec[32];
            snprintf(dec, sizeof dec, "%" PRIu64, u);
            *out = json_string(dec);
        } else {
            *out = json_integer((json_int_t)u);
        }
        break;
    case GT_BOOL:
        if (u > 1)
            return lsc_format_fail(err, LSC_ERR_FORMAT, r->path, NULL, "key '%.60s': bool value %u is neither 0 nor 1",
                                   key, (unsigned)u);
        *out = json_boolean(u);
        break;
    case GT_F32: {
        float f;
        uint32_t u32 = (uint32_t)u;
        memcpy(&f, &u32, 4);
        *out = float_json(f, u, 1);
        break;
    }
    case GT_F64: {
        double d;
        memcpy(&d, &u, 8);
        *out = float_json(d, u, 0);
        break;
    }
    default:
        break;
    }
    if (!*out)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    return LSC_OK;
}

static lsc_status rd_kv(rd *r, json_t *kvs, lsc_error *err)
{
    char *key = NULL;
    uint64_t klen;
    uint32_t type;
    json_t *val = NULL, *ent = NULL;
    lsc_status st;
    if ((st = rd_str(r, &key, &klen, 0, "key", err)))
        return st;
    json_t *probe = strlen(key) == klen ? json_string(key) : NULL; /* json_string validates UTF-8 */
    if (!probe) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, r->path, NULL, "key at offset %" PRIu64 " is not a valid UTF-8 name",
                             r->pos - klen);
        goto done;
    }
    json_decref(probe);
    if (json_object_get(kvs, key)) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, r->path, NULL, "duplicate key '%.200s'", key);
        goto done;
    }
    if ((st = rd_u32(r, &type, "key type", err)))
        goto done;
    if (type >= GT_COUNT) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, r->path, NULL, "key '%.200s': unknown value type %u", key, type);
        goto done;
    }
    ent = json_object();
    if (!ent) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    json_object_set_new(ent, "type", json_string(gt_names[type]));
    if (type == GT_ARR) {
        uint32_t et;
        uint64_t n;
        if ((st = rd_u32(r, &et, "array element type", err)) || (st = rd_u64(r, &n, "array length", err)))
            goto done;
        if (et >= GT_COUNT) {
            st = lsc_format_fail(err, LSC_ERR_FORMAT, r->path, NULL, "key '%.200s': unknown array element type %u", key,
                                 et);
            goto done;
        }
        if (et == GT_ARR) {
            st = lsc_format_fail(err, LSC_ERR_UNSUPPORTED, r->path, NULL,
                                 "key '%.200s': nested arrays are not supported", key);
            goto done;
        }
        uint64_t min = et == GT_STR ? 8 : gt_sizes[et];
        if (n > rd_left(r) / min) {
            st = lsc_format_fail(err, LSC_ERR_FORMAT, r->path, NULL,
                                 "key '%.200s': array of %" PRIu64
                                 " %s elements runs past the end of the file (%" PRIu64 " bytes left)",
                                 key, n, gt_names[et], rd_left(r));
            goto done;
        }
        json_object_set_new(ent, "elem", json_string(gt_names[et]));
        json_t *arr = json_array();
        if (!arr) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto done;
        }
        json_object_set_new(ent, "value", arr);
        for (uint64_t i = 0; i < n; i++) {
            json_t *v;
            if ((st = rd_value(r, et, key, &v, err)))
                goto done;
            if (json_array_append_new(arr, v)) {
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                goto done;
            }
        }
    } else {
        if ((st = rd_value(r, type, key, &val, err)))
            goto done;
        json_object_set_new(ent, "value", val);
        val = NULL;
    }
    if (json_object_set_new(kvs, key, ent)) {
        ent = NULL;
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    ent = NULL;
done:
    json_decref(ent);
    json_decref(val);
    free(key);
    return st;
}

/* Typed accessors on the KV object. */
static const char *kv_type(json_t *kvs, const char *key)
{
    return json_string_value(json_object_get(json_object_get(kvs, key), "type"));
}

static json_t *kv_value(json_t *kvs, const char *key)
{
    return json_object_get(json_object_get(kvs, key), "value");
}

/* ---- tensor infos ------------------------------------------------------------------------------------ */

typedef struct gg_tensor {
    char *name;
    uint32_t n_dims;
    int64_t ne[LSC_GGUF_MAX_DIMS];
    uint32_t type;
    uint64_t offset, nbytes;
} gg_tensor;

typedef struct gg_ctx {
    int fd;
    char *path;
    uint64_t data_start;
    size_t n;
    gg_tensor *t;
    uint32_t version;     /* 2 or 3 */
    uint64_t tail;        /* zero bytes after the last tensor's data */
    uint64_t tail_full;   /* what canonical padding would put there */
} gg_ctx;

static void ctx_free(void *p)
{
    gg_ctx *c = p;
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    for (size_t i = 0; i < c->n; i++)
        free(c->t[i].name);
    free(c->t);
    free(c->path);
    free(c);
}

/* Bytes of a tensor of type t with `numel` elements and first dimension ne0; 0 with *bad set when the
 * type is unknown or the shape does not fit it. */
static lsc_status tensor_bytes(const char *path, const gg_tensor *t, uint64_t numel, uint64_t *nb, lsc_error *err)
{
    if (numel > UINT64_MAX / 4)
        return lsc_format_fail(err, LSC_ERR_FORMAT, path, t->name, "byte count overflows");
    switch (t->type) {
    case GG_F32:
        *nb = numel * 4;
        return LSC_OK;
    case GG_F16:
    case GG_BF16:
        *nb = numel * 2;
        return LSC_OK;
    case GG_Q8_0:
        if (t->ne[0] % Q8_BLOCK != 0)
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, t->name,
                                   "Q8_0 row of %" PRId64 " elements is not a multiple of 32", t->ne[0]);
        *nb = numel / Q8_BLOCK * Q8_BYTES;
        return LSC_OK;
    default:
        return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, t->name,
                               "ggml type %u not supported (F32, F16, BF16 and Q8_0 are)", t->type);
    }
}

static lsc_status rd_tinfo(rd *r, gg_tensor *t, uint64_t expect_offset, uint64_t align, uint64_t *next,
                           lsc_error *err)
{
    uint64_t len;
    lsc_status st;
    if ((st = rd_str(r, &t->name, &len, LSC_GGUF_MAX_NAME - 1, "tensor name", err)))
        return st;
    if (strlen(t->name) != len)
        return lsc_format_fail(err, LSC_ERR_FORMAT, r->path, NULL,
                               "tensor name at offset %" PRIu64 " contains a NUL byte", r->pos - len);
    if ((st = rd_u32(r, &t->n_dims, "tensor dimension count", err)))
        return st;
    if (t->n_dims < 1 || t->n_dims > LSC_GGUF_MAX_DIMS)
        return lsc_format_fail(err, LSC_ERR_FORMAT, r->path, t->name, "%u dimensions (1 to %d allowed)", t->n_dims,
                               LSC_GGUF_MAX_DIMS);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t v;
        if ((st = rd_u64(r, &v, "tensor dimension", err)))
            return st;
        if (v > (uint64_t)INT64_MAX)
            return lsc_format_fail(err, LSC_ERR_FORMAT, r->path, t->name, "negative dimension ne[%u]", d);
        t->ne[d] = (int64_t)v;
        if (v != 0 && numel > (uint64_t)INT64_MAX / v)
            return lsc_format_fail(err, LSC_ERR_FORMAT, r->path, t->name, "element count overflows");
        numel *= v;
    }
    if ((st = rd_u32(r, &t->type, "tensor type", err)) || (st = rd_u64(r, &t->offset, "tensor offset", err)))
        return st;
    if ((st = tensor_bytes(r->path, t, numel, &t->nbytes, err)))
        return st;
    if (t->offset != expect_offset)
        return lsc_format_fail(err, LSC_ERR_FORMAT, r->path, t->name,
                               "offset %" PRIu64 " is not the padded running sum %" PRIu64 " of the tensors before it",
                               t->offset, expect_offset);
    /* the data must fit in what is left of the file; this bounds the running sum too */
    if (t->nbytes > rd_left(r) || expect_offset > rd_left(r) - t->nbytes)
        return lsc_format_fail(err, LSC_ERR_FORMAT, r->path, t->name,
                               "%" PRIu64 " bytes of data at offset %" PRIu64 " run past the end of the file",
                               t->nbytes, t->offset);
    *next = expect_offset + pad_to(t->nbytes, align);
    return LSC_OK;
}

/* general.alignment, or the default 32. GGUF (and ggml's reader) require a u32 that is a power of two;
 * nothing else bounds it, and a file whose padding does not fit in it is refused as truncated later, so
 * any u32 power of two (1 to 2^31) is accepted. `code` is the status for a bad value. */
static lsc_status alignment_of(json_t *kvs, const char *path, lsc_status code, uint64_t *align, lsc_error *err)
{
    *align = LSC_GGUF_DEFAULT_ALIGNMENT;
    if (!json_object_get(kvs, "general.alignment"))
        return LSC_OK;
    const char *t = kv_type(kvs, "general.alignment");
    if (!t || strcmp(t, "u32") != 0)
        return lsc_format_fail(err, code, path, NULL, "general.alignment must be a u32 power of two (found a %s)",
                               t ? t : "?");
    json_int_t a = json_integer_value(kv_value(kvs, "general.alignment"));
    if (a <= 0 || a > (json_int_t)UINT32_MAX || (a & (a - 1)) != 0)
        return lsc_format_fail(err, code, path, NULL, "general.alignment %lld is not a power of two", (long long)a);
    *align = (uint64_t)a;
    return LSC_OK;
}

/* Every byte of [off, off + len) of the file is zero; otherwise a format error naming the first
 * non-zero byte and `what`. */
static lsc_status zero_span(const gg_ctx *c, uint64_t off, uint64_t len, const char *what, lsc_error *err)
{
    unsigned char buf[4096];
    while (len > 0) {
        size_t k = len < sizeof buf ? (size_t)len : sizeof buf;
        int rc = lsc_pread_full(c->fd, buf, k, off);
        if (rc != 0)
            return rc < 0 ? lsc_format_io_fail(err, "read", c->path, errno)
                          : lsc_format_fail(err, LSC_ERR_IO, c->path, NULL, "file shrank while reading");
        for (size_t i = 0; i < k; i++)
            if (buf[i])
                return lsc_format_fail(err, LSC_ERR_FORMAT, c->path, NULL,
                                       "%s: byte %" PRIu64 " is 0x%02x, not zero padding", what, off + i, buf[i]);
        off += k;
        len -= k;
    }
    return LSC_OK;
}

/* The bytes around the data are zero padding and nothing else: after the tensor infos up to the data
 * section, after each tensor up to the next, and after the last tensor either nothing or zeros up to
 * at most its padded size (kept in c->tail, so an export reproduces the file). Anything past that is
 * refused as trailing bytes, like safetensors' rule, rather than silently dropped. */
static lsc_status check_layout(gg_ctx *c, uint64_t infos_end, uint64_t size, uint64_t align, lsc_error *err)
{
    lsc_status st;
    if (c->n == 0)
        return LSC_OK; /* no data section: refused later as "no LoRA layers" */
    if ((st = zero_span(c, infos_end, c->data_start - infos_end, "padding before the data", err)))
        return st;
    for (size_t i = 0; i + 1 < c->n; i++) {
        const gg_tensor *g = &c->t[i];
        uint64_t end = c->data_start + g->offset + g->nbytes;
        if ((st = zero_span(c, end, c->data_start + c->t[i + 1].offset - end, "padding after a tensor", err)))
            return st;
    }
    const gg_tensor *last = &c->t[c->n - 1];
    uint64_t end = c->data_start + last->offset + last->nbytes, left = size - end;
    c->tail_full = pad_to(last->nbytes, align) - last->nbytes;
    if (left > c->tail_full)
        return lsc_format_fail(
            err, LSC_ERR_FORMAT, c->path, NULL,
            "%" PRIu64 " trailing bytes after the data (the last tensor and its padding end at byte %" PRIu64 ")",
            left - c->tail_full, end + c->tail_full);
    c->tail = left;
    return zero_span(c, end, left, "padding after the last tensor", err);
}

/* ---- reading the adapter ---------------------------------------------------------------------------- */

typedef struct name_ref {
    const char *name;
    size_t idx;
} name_ref;

static int cmp_ref(const void *a, const void *b)
{
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

static long find_ref(const name_ref *refs, size_t n, const char *name)
{
    name_ref key = {name, 0};
    const name_ref *p = bsearch(&key, refs, n, sizeof *refs, cmp_ref);
    return p ? (long)p->idx : -1;
}

/* "blk.12.attn_q.weight" -> 12; -1 if the name has no blk.N. part. */
static int block_index(const char *name)
{
    const char *p = strstr(name, "blk.");
    if (!p || (p != name && p[-1] != '.'))
        return -1;
    p += 4;
    long v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && v < 1000000000L) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    return digits && *p == '.' ? (int)v : -1;
}

/* Last name part before ".weight"/".bias": "blk.0.attn_q.weight" -> "attn_q". */
static char *gguf_module_type(const char *name)
{
    size_t n = strlen(name);
    if (lsc_format_ends_with(name, ".weight"))
        n -= 7;
    else if (lsc_format_ends_with(name, ".bias"))
        n -= 5;
    size_t b = n;
    while (b > 0 && name[b - 1] != '.')
        b--;
    return strndup(name + b, n - b);
}

static lsc_status gguf_loader(lsc_adapter *ad, size_t i, lsc_error *err)
{
    gg_ctx *c = ad->load_ctx;
    lsc_tensor *t = &ad->tensors[i];
    if (t->src < 0 || (size_t)t->src >= c->n)
        return lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s' has no source in '%s'", t->key, c->path);
    const gg_tensor *g = &c->t[t->src];
    unsigned char *data = malloc(t->nbytes ? t->nbytes : 1), *raw = NULL;
    if (!data)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory loading tensor '%s'", t->key);
    unsigned char *dst = data;
    if (g->type == GG_Q8_0) {
        raw = malloc(g->nbytes ? g->nbytes : 1);
        if (!raw) {
            free(data);
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory loading tensor '%s'", t->key);
        }
        dst = raw;
    }
    int rc = lsc_pread_full(c->fd, dst, (size_t)g->nbytes, c->data_start + g->offset);
    if (rc != 0) {
        lsc_status st = rc < 0 ? lsc_format_io_fail(err, "read", c->path, errno)
                               : lsc_format_fail(err, LSC_ERR_IO, c->path, g->name, "file shrank since it was opened");
        free(data);
        free(raw);
        return st;
    }
    if (raw) {
        /* llama.cpp's dequantize_row_q8_0: y = f32(d) * q, in float */
        size_t blocks = (size_t)(g->nbytes / Q8_BYTES);
        for (size_t b = 0; b < blocks; b++) {
            const unsigned char *blk = raw + b * Q8_BYTES;
            float d = lsc_f16_to_f32((uint16_t)get_le(blk, 2));
            for (int j = 0; j < Q8_BLOCK; j++) {
                float y = d * (float)(int8_t)blk[2 + j];
                uint32_t u;
                memcpy(&u, &y, 4);
                put_le(data + (b * Q8_BLOCK + (size_t)j) * 4, u, 4);
            }
        }
        free(raw);
    }
    t->data = data;
    return LSC_OK;
}

static lsc_dtype dtype_of(uint32_t type)
{
    switch (type) {
    case GG_F16: return LSC_DT_F16;
    case GG_BF16: return LSC_DT_BF16;
    default: return LSC_DT_F32; /* F32, and Q8_0 dequantised to F32 */
    }
}

/* The adapter-wide part of build_adapter: the key-values say it is a LoRA adapter, give its alpha (*alpha,
 * 0 when absent), base model and metadata; the layout record (version, tail) and the warnings. */
static lsc_status adapter_header(const gg_ctx *c, json_t *kvs, lsc_adapter *ad, double *alpha_out, lsc_error *err)
{
    const char *path = c->path;
    const char *gtype = json_string_value(kv_value(kvs, "general.type"));
    const char *atype = json_string_value(kv_value(kvs, "adapter.type"));
    if (!gtype || strcmp(gtype, "adapter") != 0)
        return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, NULL, "not a LoRA adapter: general.type is %s%s%s",
                               gtype ? "'" : "", gtype ? gtype : "missing", gtype ? "'" : "");
    if (!atype || strcmp(atype, "lora") != 0)
        return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, NULL, "not a LoRA adapter: adapter.type is %s%s%s",
                               atype ? "'" : "", atype ? atype : "missing", atype ? "'" : "");
    double alpha = 0;
    int have_alpha = 0;
    if (json_object_get(kvs, kv_alpha)) {
        const char *t = kv_type(kvs, kv_alpha);
        if (!t || strcmp(t, "f32") != 0 || !json_is_number(kv_value(kvs, kv_alpha)))
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL,
                                   "adapter.lora.alpha must be a finite f32 (found %s)", t ? t : "?");
        alpha = json_number_value(kv_value(kvs, kv_alpha));
        have_alpha = 1;
    }
    const char *arch = json_string_value(kv_value(kvs, "general.architecture"));
    const char *bm = json_string_value(kv_value(kvs, "general.base_model.0.name"));
    ad->format = strdup("gguf");
    ad->base_model = strdup(bm ? bm : arch ? arch : "");
    ad->source = strdup(path);
    ad->metadata_json = json_dumps(kvs, JSON_COMPACT);
    if (!ad->format || !ad->base_model || !ad->source || !ad->metadata_json)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (c->version != 3 || c->tail != c->tail_full) {
        /* what the key-values and tensors do not say: kept so that an unedited export is the same file */
        char layout[96];
        snprintf(layout, sizeof layout, "{\"gguf_version\":%u,\"tail\":%" PRIu64 "}", c->version, c->tail);
        if (!(ad->header_json = strdup(layout)))
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    if (!arch)
        lsc_adapter_warn(ad, "'%s': no general.architecture: llama.cpp will refuse to apply it", path);
    if (!have_alpha || alpha == 0)
        lsc_adapter_warn(ad, "'%s': adapter.lora.alpha is %s: llama.cpp then applies every layer with scale 1", path,
                         have_alpha ? "0" : "absent");
    *alpha_out = alpha;
    return LSC_OK;
}

/* Check each layer's pair of 2-D factors and set its rank, size, alpha and scale (llama.cpp: alpha 0
 * means scale 1); *varied is 1 when the layers differ in rank. */
static lsc_status shape_layers(lsc_adapter *ad, const char *path, double alpha, int *varied, lsc_error *err)
{
    int first_rank = -1;
    *varied = 0;
    for (size_t li = 0; li < ad->n_layers; li++) {
        lsc_layer *l = &ad->layers[li];
        const lsc_tensor *a = &ad->tensors[l->ta], *b = &ad->tensors[l->tb];
        const lsc_tensor *bad = a->ndim != 2 ? a : b->ndim != 2 ? b : NULL;
        if (bad && bad->ndim == 3)
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, bad->key,
                                   "3-dimensional (per-expert) LoRA factors are not supported");
        if (bad)
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, bad->key, "LoRA factor with %d dimensions (2 expected)",
                                   bad->ndim);
        if (a->shape[0] != b->shape[1])
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL,
                                   "rank mismatch: '%s' has rank %" PRId64 " (ne[1]) but '%s' has rank %" PRId64
                                   " (ne[0])",
                                   a->key, a->shape[0], b->key, b->shape[1]);
        bad = a->shape[0] * a->shape[1] == 0 ? a : b->shape[0] * b->shape[1] == 0 ? b : NULL;
        if (bad) /* as PEFT refuses them: a rank-0 layer has no scale alpha / r to write back */
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, bad->key, "empty factor [%" PRId64 ", %" PRId64 "]",
                                   bad->shape[0], bad->shape[1]);
        if (a->shape[0] > INT32_MAX)
            return lsc_format_fail(err, LSC_ERR_FORMAT, path, a->key, "rank %" PRId64 " too large", a->shape[0]);
        l->rank = (int)a->shape[0];
        l->rows = b->shape[0];
        l->cols = a->shape[1];
        l->rule = LSC_SCALE_ALPHA_R;
        if (alpha != 0) {
            l->alpha = alpha;
            l->scale = l->rank > 0 ? alpha / l->rank : 0.0;
        } else {
            l->alpha = l->rank; /* llama.cpp: alpha 0 means scale 1 */
            l->scale = 1.0;
        }
        if (first_rank < 0)
            first_rank = l->rank;
        else if (l->rank != first_rank)
            *varied = 1;
    }
    return LSC_OK;
}

static lsc_status build_adapter(gg_ctx *c, json_t *kvs, lsc_adapter *ad, lsc_error *err)
{
    lsc_status st;
    const char *path = c->path;
    name_ref *refs = NULL;
    int *layer_of = NULL;
    double alpha = 0;
    if ((st = adapter_header(c, kvs, ad, &alpha, err)))
        return st;

    refs = malloc((c->n ? c->n : 1) * sizeof *refs);
    layer_of = malloc((c->n ? c->n : 1) * sizeof *layer_of);
    if (!refs || !layer_of) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < c->n; i++) {
        refs[i].name = c->t[i].name;
        refs[i].idx = i;
        layer_of[i] = -1;
    }
    qsort(refs, c->n, sizeof *refs, cmp_ref);
    for (size_t i = 1; i < c->n; i++)
        if (strcmp(refs[i - 1].name, refs[i].name) == 0) {
            st = lsc_format_fail(err, LSC_ERR_FORMAT, path, refs[i].name, "name appears twice");
            goto done;
        }

    int q8_warned = 0;
    for (size_t i = 0; i < c->n; i++) {
        const gg_tensor *g = &c->t[i];
        int64_t shape[LSC_GGUF_MAX_DIMS];
        for (uint32_t d = 0; d < g->n_dims; d++)
            shape[d] = g->ne[g->n_dims - 1 - d];
        int is_a = lsc_format_ends_with(g->name, ".lora_a"), is_b = lsc_format_ends_with(g->name, ".lora_b");
        lsc_role role = is_a ? LSC_ROLE_A : is_b ? LSC_ROLE_B : LSC_ROLE_EXTRA;
        int li = -1;
        if (is_a || is_b) {
            size_t blen = strlen(g->name) - 7;
            char partner[LSC_GGUF_MAX_NAME + 8];
            memcpy(partner, g->name, blen);
            strcpy(partner + blen, is_a ? ".lora_b" : ".lora_a");
            long pi = find_ref(refs, c->n, partner);
            if (pi < 0) {
                st = lsc_format_fail(err, LSC_ERR_FORMAT, path, g->name, "no matching '%s'", partner);
                goto done;
            }
            if (layer_of[pi] >= 0) {
                li = layer_of[pi];
            } else {
                char base[LSC_GGUF_MAX_NAME];
                memcpy(base, g->name, blen);
                base[blen] = '\0';
                if (lsc_format_ends_with(base, "token_embd.weight")) {
                    st = lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, g->name,
                                         "token embedding adapters (A stored transposed) are not supported");
                    goto done;
                }
                size_t idx;
                if ((st = lsc_adapter_add_layer(ad, base, &idx, err)))
                    goto done;
                li = (int)idx;
                lsc_layer *l = &ad->layers[li];
                free(l->module_type);
                l->module_type = gguf_module_type(base);
                if (!l->module_type) {
                    st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                    goto done;
                }
                l->layer_index = block_index(base);
            }
            layer_of[i] = li;
        }
        size_t ti;
        if ((st = lsc_adapter_add_tensor(ad, g->name, role, li, dtype_of(g->type), (int)g->n_dims, shape, NULL, &ti,
                                         err)))
            goto done;
        ad->tensors[ti].src = (int64_t)i;
        if (g->type == GG_Q8_0 && !q8_warned) {
            lsc_adapter_warn(ad, "'%s': Q8_0 tensors (first '%s') are dequantised to F32; an export writes them as F32",
                             path, g->name);
            q8_warned = 1;
        }
        if (li >= 0) {
            if (is_a)
                ad->layers[li].ta = (int)ti;
            else
                ad->layers[li].tb = (int)ti;
        }
    }
    if (ad->n_layers == 0) {
        char pe[ESC_CAP];
        st = lsc_error_set(err, LSC_ERR_UNSUPPORTED, "no LoRA layers in '%s' (no lora_a/lora_b pair; %zu other tensor%s)",
                           lsc_escape_name(pe, sizeof pe, path), c->n, c->n == 1 ? "" : "s");
        goto done;
    }
    int varied;
    if ((st = shape_layers(ad, path, alpha, &varied, err)))
        goto done;
    st = lsc_adapter_set_kind(ad, varied ? LSC_KIND_LAYERWISE : LSC_KIND_STATIC, err);
done:
    free(refs);
    free(layer_of);
    return st;
}

lsc_status lsc_gguf_read(const char *path, lsc_adapter **out, lsc_error *err)
{
    lsc_status st = LSC_OK;
    rd *r = NULL;
    gg_ctx *c = NULL;
    json_t *kvs = NULL;
    lsc_adapter *ad = NULL;
    *out = NULL;

    c = calloc(1, sizeof *c);
    r = malloc(sizeof *r);
    if (!c || !r || !(c->path = strdup(path))) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    c->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0) {
        st = lsc_format_io_fail(err, "open", path, errno);
        goto done;
    }
    struct stat sb;
    if (fstat(c->fd, &sb) != 0) {
        st = lsc_format_io_fail(err, "stat", path, errno);
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = lsc_format_fail(err, LSC_ERR_IO, path, NULL, "not a regular file");
        goto done;
    }
    r->fd = c->fd;
    r->path = c->path;
    r->size = (uint64_t)sb.st_size;
    r->pos = r->boff = 0;
    r->blen = 0;

    unsigned char magic[4];
    uint32_t version;
    uint64_t n_tensors, n_kv;
    if (r->size < 4 || (st = rd_get(r, magic, 4, "magic", err)) || memcmp(magic, "GGUF", 4) != 0) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "not a GGUF file (bad magic)");
        goto done;
    }
    if ((st = rd_u32(r, &version, "version", err)))
        goto done;
    if (version == 1 || version > 3) {
        st = lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, NULL, "GGUF version %u not supported (2 and 3 are)",
                             version);
        goto done;
    }
    if (version == 0) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "GGUF version 0");
        goto done;
    }
    if ((st = rd_u64(r, &n_tensors, "tensor count", err)) || (st = rd_u64(r, &n_kv, "key-value count", err)))
        goto done;
    if (n_tensors > rd_left(r) / MIN_TINFO_BYTES) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL,
                             "tensor count %" PRIu64 " cannot fit in the %" PRIu64 " bytes left in the file", n_tensors,
                             rd_left(r));
        goto done;
    }
    if (n_kv > rd_left(r) / MIN_KV_BYTES) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL,
                             "key-value count %" PRIu64 " cannot fit in the %" PRIu64 " bytes left in the file", n_kv,
                             rd_left(r));
        goto done;
    }
    kvs = json_object();
    if (!kvs) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (uint64_t i = 0; i < n_kv; i++)
        if ((st = rd_kv(r, kvs, err)))
            goto done;
    uint64_t align;
    if ((st = alignment_of(kvs, path, LSC_ERR_FORMAT, &align, err)))
        goto done;
    /* n_tensors is bounded by the file size above, so this allocation is proportional to the file */
    c->t = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *c->t);
    if (!c->t) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    uint64_t run = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        c->n = (size_t)i + 1;
        if ((st = rd_tinfo(r, &c->t[i], run, align, &run, err)))
            goto done;
    }
    c->data_start = pad_to(r->pos, align);
    for (size_t i = 0; i < c->n; i++) {
        const gg_tensor *g = &c->t[i];
        if (c->data_start > r->size || g->offset + g->nbytes > r->size - c->data_start) {
            st = lsc_format_fail(err, LSC_ERR_FORMAT, path, g->name,
                                 "truncated data: the tensor ends at byte %" PRIu64 " but the file has %" PRIu64,
                                 c->data_start + g->offset + g->nbytes, r->size);
            goto done;
        }
    }
    c->version = version;
    if ((st = check_layout(c, r->pos, r->size, align, err)))
        goto done;
    ad = lsc_adapter_new();
    if (!ad) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = build_adapter(c, kvs, ad, err)))
        goto done;
    ad->load = gguf_loader;
    ad->load_ctx = c;
    ad->load_ctx_free = ctx_free;
    c = NULL;
    *out = ad;
    ad = NULL;
done:
    lsc_adapter_free(ad);
    ctx_free(c);
    json_decref(kvs);
    free(r);
    return st;
}

/* ---- writing ------------------------------------------------------------------------------------------ */

typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
    int oom;
} bytes;

static void b_add(bytes *b, const void *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void b_uint(bytes *b, uint64_t v, int n)
{
    unsigned char t[8];
    put_le(t, v, n);
    b_add(b, t, (size_t)n);
}

static void b_str(bytes *b, const char *s, size_t n)
{
    b_uint(b, n, 8);
    b_add(b, s, n);
}

static int type_code(const char *name)
{
    return lsc_name_index(gt_names, GT_COUNT, name);
}

/* Serialise one scalar JSON value of GGUF type t; -1 if it does not fit the type. */
static int put_value(bytes *b, int t, json_t *v)
{
    if (t == GT_STR) {
        if (!json_is_string(v))
            return -1;
        b_str(b, json_string_value(v), json_string_length(v));
        return 0;
    }
    if (t == GT_BOOL) {
        if (!json_is_boolean(v))
            return -1;
        b_uint(b, json_is_true(v) ? 1 : 0, 1);
        return 0;
    }
    if (t == GT_F32 || t == GT_F64) {
        uint64_t bits;
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            char *end;
            if (strncmp(s, "0x", 2) != 0)
                return -1;
            errno = 0;
            bits = strtoull(s + 2, &end, 16);
            if (*end || errno)
                return -1;
        } else if (json_is_number(v)) {
            double d = json_number_value(v);
            if (t == GT_F32) {
                float f = (float)d;
                uint32_t u;
                memcpy(&u, &f, 4);
                bits = u;
            } else {
                memcpy(&bits, &d, 8);
            }
        } else {
            return -1;
        }
        b_uint(b, bits, t == GT_F32 ? 4 : 8);
        return 0;
    }
    uint64_t u;
    if (t == GT_U64 && json_is_string(v)) {
        char *end;
        errno = 0;
        u = strtoull(json_string_value(v), &end, 10);
        if (*end || errno)
            return -1;
        b_uint(b, u, 8);
        return 0;
    }
    if (!json_is_integer(v))
        return -1;
    json_int_t x = json_integer_value(v);
    switch (t) {
    case GT_U8: if (x < 0 || x > UINT8_MAX) return -1; break;
    case GT_I8: if (x < INT8_MIN || x > INT8_MAX) return -1; break;
    case GT_U16: if (x < 0 || x > UINT16_MAX) return -1; break;
    case GT_I16: if (x < INT16_MIN || x > INT16_MAX) return -1; break;
    case GT_U32: if (x < 0 || x > UINT32_MAX) return -1; break;
    case GT_I32: if (x < INT32_MIN || x > INT32_MAX) return -1; break;
    case GT_U64: if (x < 0) return -1; break;
    case GT_I64: break;
    default: return -1;
    }
    b_uint(b, (uint64_t)x, (int)gt_sizes[t]);
    return 0;
}

static lsc_status put_kv(bytes *b, const char *key, json_t *ent, const char *path, lsc_error *err)
{
    int t = type_code(json_string_value(json_object_get(ent, "type")));
    json_t *v = json_object_get(ent, "value");
    if (t < 0 || !v)
        return lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "metadata key '%.200s' has no valid type and value",
                               key);
    b_str(b, key, strlen(key));
    b_uint(b, (uint64_t)t, 4);
    if (t == GT_ARR) {
        int et = type_code(json_string_value(json_object_get(ent, "elem")));
        if (et < 0 || et == GT_ARR || !json_is_array(v))
            return lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "metadata key '%.200s': bad array", key);
        b_uint(b, (uint64_t)et, 4);
        b_uint(b, json_array_size(v), 8);
        for (size_t i = 0; i < json_array_size(v); i++)
            if (put_value(b, et, json_array_get(v, i)))
                return lsc_format_fail(err, LSC_ERR_INVALID, path, NULL,
                                       "metadata key '%.200s': element %zu is not a %s", key, i, gt_names[et]);
        return LSC_OK;
    }
    if (put_value(b, t, v))
        return lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "metadata key '%.200s': value is not a %s", key,
                               gt_names[t]);
    return LSC_OK;
}

static json_t *typed(const char *type, json_t *value)
{
    json_t *o = json_object();
    if (!o || !value) {
        json_decref(o);
        json_decref(value);
        return NULL;
    }
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "value", value);
    return o;
}

/* HF / kohya module names of the llama family -> GGUF. */
static const char *const name_map[][2] = {
    {"q_proj", "attn_q"},      {"k_proj", "attn_k"},   {"v_proj", "attn_v"},    {"o_proj", "attn_output"},
    {"gate_proj", "ffn_gate"}, {"up_proj", "ffn_up"}, {"down_proj", "ffn_down"},
};

int lsc_gguf_unmap_name(const char *gguf_name, char *out, size_t cap)
{
    long blk;
    char mod[64];
    int used = 0;
    if (sscanf(gguf_name, "blk.%ld.%63[a-z_].weight%n", &blk, mod, &used) != 2 || gguf_name[used] != '\0' || blk < 0)
        return -1;
    for (size_t i = 0; i < sizeof name_map / sizeof name_map[0]; i++)
        if (strcmp(mod, name_map[i][1]) == 0) {
            const char *group = i < 4 ? "self_attn" : "mlp";
            int n = snprintf(out, cap, "base_model.model.model.layers.%ld.%s.%s", blk, group, name_map[i][0]);
            return n > 0 && (size_t)n < cap ? 0 : -1;
        }
    return -1;
}

void lsc_gguf_unpermute_rows(double *B, int64_t rows, int r, int groups, double *tmp)
{
    /* the inverse of permute_rows: row h*d + 2i + j goes back to h*d + j*half + i */
    int64_t d = rows / groups, half = d / 2;
    for (int64_t h = 0; h < groups; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(tmp + (h * d + j * half + i) * r, B + (h * d + i * 2 + j) * r, (size_t)r * sizeof *B);
    memcpy(B, tmp, (size_t)(rows * r) * sizeof *B);
}

int lsc_gguf_map_name(const char *layer_name, char *out, size_t cap)
{
    /* block number: "layers.N." (PEFT) or "layers_N_" (kohya) */
    const char *p = layer_name;
    long blk = -1;
    const char *after = NULL;
    while ((p = strstr(p, "layers")) != NULL) {
        if (p != layer_name && p[-1] != '.' && p[-1] != '_') {
            p++;
            continue;
        }
        const char *q = p + 6;
        char sep = *q;
        if (sep == '.' || sep == '_') {
            q++;
            long v = 0;
            int digits = 0;
            while (*q >= '0' && *q <= '9' && v < 100000000L) {
                v = v * 10 + (*q++ - '0');
                digits++;
            }
            if (digits && *q == sep) {
                blk = v;
                after = q + 1;
                break;
            }
        }
        p++;
    }
    if (blk < 0)
        return -1;
    for (size_t i = 0; i < sizeof name_map / sizeof name_map[0]; i++) {
        const char *m = name_map[i][0];
        size_t ml = strlen(m), nl = strlen(after);
        if (nl >= ml && strcmp(after + nl - ml, m) == 0 &&
            (nl == ml || after[nl - ml - 1] == '.' || after[nl - ml - 1] == '_')) {
            int n = snprintf(out, cap, "blk.%ld.%s.weight", blk, name_map[i][1]);
            return n > 0 && (size_t)n < cap ? 0 : -1;
        }
    }
    return -1;
}

typedef struct wt {
    char name[LSC_GGUF_MAX_NAME + 8];
    int tensor;          /* source tensor index, -1 for factors of a converted layer */
    int layer;           /* layer index for factors, -1 for extras */
    int is_b;
    lsc_dtype out;       /* F32, F16 or BF16 */
    int n_dims;
    int64_t shape[LSC_GGUF_MAX_DIMS]; /* numpy order */
    uint64_t nbytes, offset;
} wt;

typedef struct layer_plan {
    double fold;          /* multiply B by this */
    int permute_groups;   /* > 0: permute the rows of B in this many groups */
} layer_plan;

static uint32_t ggml_code(lsc_dtype dt)
{
    return dt == LSC_DT_F16 ? GG_F16 : dt == LSC_DT_BF16 ? GG_BF16 : GG_F32;
}

static lsc_dtype out_dtype(lsc_dtype want, lsc_dtype stored)
{
    if (want != LSC_DT_INVALID)
        return want;
    return stored == LSC_DT_F16 || stored == LSC_DT_BF16 ? stored : LSC_DT_F32;
}

/* Choose the global alpha. Returns 1 and leaves kvs alone when the adapter's own alpha (or its
 * absence) already gives every layer its scale; otherwise sets *alpha. */
static int keep_alpha(const lsc_adapter *ad, json_t *kvs, float *alpha)
{
    json_t *v = kvs ? kv_value(kvs, kv_alpha) : NULL;
    double a = v ? json_number_value(v) : 0.0;
    int ok = 1;
    for (size_t i = 0; ok && i < ad->n_layers; i++) {
        const lsc_layer *l = &ad->layers[i];
        ok = a != 0 ? l->scale == a / l->rank : l->scale == 1.0;
    }
    *alpha = (float)a;
    return ok;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* How many of the n sorted values equal c (binary search for the first, then the run). */
static size_t count_equal(const double *v, size_t n, double c)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t k = 0;
    while (lo + k < n && v[lo + k] == c)
        k++;
    return k;
}

/* The most common scale * rank over the layers (the first in layer order among equals), 1 when none is
 * usable. Counted over a sorted copy: counting by pairs of layers was quadratic in the layers. */
static float choose_alpha(const lsc_adapter *ad)
{
    double best = 0;
    size_t best_n = 0, n = 0;
    double *v = malloc((ad->n_layers ? ad->n_layers : 1) * sizeof *v);
    if (!v)
        return 1.0f;
    for (size_t i = 0; i < ad->n_layers; i++) {
        double c = ad->layers[i].scale * ad->layers[i].rank;
        if (!isnan(c)) /* NaN equals nothing: it never counts, and would break the sort */
            v[n++] = c;
    }
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = 0; i < ad->n_layers; i++) {
        double c = ad->layers[i].scale * ad->layers[i].rank;
        size_t k = isnan(c) ? 0 : count_equal(v, n, c);
        if (k > best_n) {
            best_n = k;
            best = c;
        }
        if (best_n * 2 > ad->n_layers)
            break;
    }
    free(v);
    float a = (float)best;
    return (a == 0 || !isfinite(a)) ? 1.0f : a;
}

static void permute_rows(double *B, int64_t rows, int r, int groups, double *tmp)
{
    int64_t d = rows / groups, half = d / 2;
    for (int64_t h = 0; h < groups; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(tmp + (h * d + i * 2 + j) * r, B + (h * d + j * half + i) * r, (size_t)r * sizeof *B);
    memcpy(B, tmp, (size_t)(rows * r) * sizeof *B);
}

/* Bring a loaded tensor to the entry's dtype in *conv (no-op when the dtypes agree); *loss says what the
 * conversion lost. */
static lsc_status convert_tensor(const lsc_tensor *src, const wt *e, double **dbl, size_t *dcap, unsigned char **conv,
                                 lsc_narrowing *loss, const char *path, lsc_error *err)
{
    memset(loss, 0, sizeof *loss);
    if (src->dtype == e->out)
        return LSC_OK;
    if (!lsc_dtype_is_float(src->dtype))
        return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, path, src->key, "dtype %s cannot be written to GGUF",
                               lsc_dtype_name(src->dtype));
    size_t n = src->nbytes / lsc_dtype_size(src->dtype);
    if (n > *dcap || !*dbl) {
        double *d = realloc(*dbl, (n ? n : 1) * sizeof *d);
        if (!d)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory converting tensor '%s'", src->key);
        *dbl = d;
        *dcap = n;
    }
    unsigned char *c = realloc(*conv, e->nbytes ? (size_t)e->nbytes : 1);
    if (!c)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory converting tensor '%s'", src->key);
    *conv = c;
    if (lsc_dtype_to_double(src->dtype, src->data, n, *dbl) != LSC_OK ||
        lsc_dtype_from_double_loss(e->out, *dbl, n, c, loss) != LSC_OK)
        return lsc_format_fail(err, LSC_ERR_INVALID, path, src->key, "cannot convert %s to %s",
                               lsc_dtype_name(src->dtype), lsc_dtype_name(e->out));
    if (loss->overflows)
        return lsc_format_fail(err, LSC_ERR_NUMERIC, path, src->key, "%zu values overflow %s", loss->overflows,
                               lsc_dtype_name(e->out));
    return LSC_OK;
}

/* Zero bytes for padding: alignments go up to 2^31, so padding is written in chunks of this page. */
static const unsigned char zero_page[4096];

static int write_zeros(int fd, uint64_t n)
{
    while (n > 0) {
        size_t k = n < sizeof zero_page ? (size_t)n : sizeof zero_page;
        if (lsc_write_full(fd, zero_page, k) != 0)
            return -1;
        n -= k;
    }
    return 0;
}

/* The source file's version and end (the reader's header_json for GGUF: {"gguf_version": 2, "tail": N}). */
static lsc_status source_layout(const char *text, const char *path, uint32_t *version, int64_t *tail, lsc_error *err)
{
    json_t *o = json_loads(text, 0, NULL);
    json_t *v = json_object_get(o, "gguf_version"), *t = json_object_get(o, "tail");
    int ok = json_is_integer(v) && (json_integer_value(v) == 2 || json_integer_value(v) == 3) && json_is_integer(t) &&
             json_integer_value(t) >= 0;
    if (ok) {
        *version = (uint32_t)json_integer_value(v);
        *tail = json_integer_value(t);
    }
    json_decref(o);
    return ok ? LSC_OK
              : lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "the adapter's GGUF layout record is not valid");
}

lsc_status lsc_gguf_write(lsc_adapter *ad, const char *path, lsc_dtype dtype, lsc_error *err)
{
    return lsc_gguf_write_ex(ad, path, dtype, NULL, err);
}

/* Everything one GGUF export holds while it runs: the options, the key-values and tensor plan, the
 * header being built, the conversion buffers and the temporary file. gw_release frees it all. */
typedef struct gguf_writer {
    lsc_adapter *ad;
    const char *path;
    lsc_dtype dtype;
    const lsc_gguf_write_opts *opts;
    int from_gguf; /* the adapter came from a GGUF file: its own key-values and tensor names */
    json_t *kvs;
    float alpha;
    uint64_t align;
    uint32_t version;
    int64_t tail; /* -1: the last tensor padded like the others */
    wt *w;        /* the tensors to write, in file order */
    size_t nw;
    layer_plan *plan; /* [n_layers] */
    bytes hdr;
    double *bb, *ab, *tmp;
    size_t bcap, acap;
    unsigned char *conv;
    int cached; /* layer whose factor view is in bb/ab */
    int lossy;  /* tensors that lost values to a narrower dtype */
    lsc_atomic_file af;
} gguf_writer;

static void gw_release(gguf_writer *g)
{
    lsc_atomic_abort(&g->af);
    json_decref(g->kvs);
    free(g->w);
    free(g->plan);
    free(g->hdr.p);
    free(g->bb);
    free(g->ab);
    free(g->tmp);
    free(g->conv);
}

/* The key-values to write (the source file's, or a fresh set naming the architecture and base model),
 * the global alpha, the alignment and, for a GGUF source, its version and end. */
static lsc_status gw_key_values(gguf_writer *g, lsc_error *err)
{
    lsc_adapter *ad = g->ad;
    if (g->from_gguf && ad->metadata_json) {
        json_error_t je;
        g->kvs = json_loads(ad->metadata_json, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
        if (!json_is_object(g->kvs))
            return lsc_format_fail(err, LSC_ERR_INVALID, g->path, NULL,
                                   "the adapter's GGUF metadata is not a JSON object");
    } else {
        json_t *kvs = g->kvs = json_object();
        const char *arch = g->opts->architecture ? g->opts->architecture : "llama";
        if (!kvs || json_object_set_new(kvs, "general.architecture", typed("str", json_string(arch))) ||
            json_object_set_new(kvs, "general.type", typed("str", json_string("adapter"))) ||
            json_object_set_new(kvs, "adapter.type", typed("str", json_string("lora"))))
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        /* the base model by name (GGUF's general.base_model.N.* keys), so the adapter keeps it on return */
        if (ad->base_model && *ad->base_model &&
            (json_object_set_new(kvs, "general.base_model.count", typed("u32", json_integer(1))) ||
             json_object_set_new(kvs, "general.base_model.0.name", typed("str", json_string(ad->base_model)))))
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    int keep = g->from_gguf && keep_alpha(ad, g->kvs, &g->alpha);
    if (!keep) {
        g->alpha = choose_alpha(ad);
        if (json_object_set_new(g->kvs, kv_alpha, typed("f32", json_real(g->alpha))))
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    lsc_status st = alignment_of(g->kvs, g->path, LSC_ERR_INVALID, &g->align, err);
    if (st)
        return st;
    if (g->from_gguf && ad->header_json)
        return source_layout(ad->header_json, g->path, &g->version, &g->tail, err);
    return LSC_OK;
}

/* A GGUF source: its own tensors (factors and extras) under their own names, in their own order. */
static lsc_status gw_plan_stored(gguf_writer *g, lsc_error *err)
{
    const lsc_adapter *ad = g->ad;
    for (size_t i = 0; i < ad->n_tensors; i++) {
        const lsc_tensor *t = &ad->tensors[i];
        if (t->role != LSC_ROLE_A && t->role != LSC_ROLE_B && t->role != LSC_ROLE_EXTRA)
            continue;
        if ((t->role == LSC_ROLE_EXTRA || t->layer < 0) && !lsc_dtype_is_float(t->dtype))
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, g->path, t->key, "dtype %s cannot be written to GGUF",
                                   lsc_dtype_name(t->dtype));
        wt *e = &g->w[g->nw++];
        if (strlen(t->key) >= LSC_GGUF_MAX_NAME)
            return lsc_format_fail(err, LSC_ERR_INVALID, g->path, t->key, "name longer than %d bytes",
                                   LSC_GGUF_MAX_NAME - 1);
        strcpy(e->name, t->key);
        e->tensor = (int)i;
        e->layer = t->role == LSC_ROLE_EXTRA ? -1 : t->layer;
        e->is_b = t->role == LSC_ROLE_B;
        if (t->ndim < 1 || t->ndim > LSC_GGUF_MAX_DIMS)
            return lsc_format_fail(err, LSC_ERR_INVALID, g->path, t->key, "%d dimensions (1 to 4 allowed)", t->ndim);
        e->n_dims = t->ndim;
        memcpy(e->shape, t->shape, (size_t)t->ndim * sizeof *t->shape);
        e->out = out_dtype(g->dtype, t->dtype);
    }
    return LSC_OK;
}

/* Record where a converted adapter came from and, when q/k rows were permuted, the head counts, so that
 * lorascope can undo the permutation when the file comes back. */
static lsc_status gw_note_conversion(gguf_writer *g, int permuted, lsc_error *err)
{
    const lsc_adapter *ad = g->ad;
    json_t *kvs = g->kvs;
    if (json_object_set_new(kvs, "lorascope.source_format", typed("str", json_string(ad->format ? ad->format : ""))) ||
        json_object_set_new(kvs, "lorascope.qk_permuted", typed("bool", json_boolean(permuted))))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (permuted && (json_object_set_new(kvs, "lorascope.n_head", typed("u32", json_integer(g->opts->n_head))) ||
                     json_object_set_new(kvs, "lorascope.n_head_kv", typed("u32", json_integer(g->opts->n_head_kv)))))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    return LSC_OK;
}

/* Another format: every layer becomes blk.N.<module>.lora_a/lora_b under llama.cpp's names, computed from
 * the factor view; extras, DoRA, conv, embedding and fan_in_fan_out layers and unmapped names refused. */
static lsc_status gw_plan_mapped(gguf_writer *g, lsc_error *err)
{
    const lsc_adapter *ad = g->ad;
    const lsc_gguf_write_opts *opts = g->opts;
    char bad[600] = "";
    size_t nbad = 0, blen = 0;
    int qk_layers = 0;
    for (size_t i = 0; i < ad->n_tensors; i++)
        if (ad->tensors[i].role == LSC_ROLE_EXTRA)
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, g->path, ad->tensors[i].key,
                                   "not a LoRA factor: a GGUF adapter holds only lora_a/lora_b pairs");
    for (size_t li = 0; li < ad->n_layers; li++) {
        const lsc_layer *l = &ad->layers[li];
        char gname[LSC_GGUF_MAX_NAME];
        const char *why = NULL;
        if (l->flags & LSC_LAYER_DORA)
            why = "DoRA magnitude vectors have no GGUF form";
        else if (l->flags & (LSC_LAYER_CONV | LSC_LAYER_EMBEDDING | LSC_LAYER_FAN_IN_FAN_OUT))
            why = "conv, embedding and fan_in_fan_out layers have no GGUF mapping";
        if (why)
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, g->path, NULL, "layer '%.200s': %s", l->name, why);
        if (lsc_gguf_map_name(l->name, gname, sizeof gname) != 0) {
            if (nbad < 3)
                blen += (size_t)snprintf(bad + blen, sizeof bad - blen, "%s'%.150s'", nbad ? ", " : "", l->name);
            nbad++;
            continue;
        }
        for (int k = 0; k < 2; k++) {
            wt *e = &g->w[g->nw++];
            snprintf(e->name, sizeof e->name, "%s.%s", gname, k ? "lora_b" : "lora_a");
            e->tensor = -1;
            e->layer = (int)li;
            e->is_b = k;
            e->n_dims = 2;
            e->shape[0] = k ? l->rows : l->rank;
            e->shape[1] = k ? l->rank : l->cols;
            int src = k ? l->tb : l->ta;
            e->out = out_dtype(g->dtype, src >= 0 ? ad->tensors[src].dtype : LSC_DT_F32);
        }
        if (strstr(gname, ".attn_q.") || strstr(gname, ".attn_k.")) {
            qk_layers++;
            int groups = strstr(gname, ".attn_q.") ? opts->n_head : opts->n_head_kv;
            if (opts->n_head > 0 && opts->n_head_kv > 0) {
                if (l->rows % (2 * groups) != 0)
                    return lsc_format_fail(err, LSC_ERR_INVALID, g->path, NULL,
                                           "layer '%.200s': %" PRId64 " rows do not split into %d heads of even size",
                                           l->name, l->rows, groups);
                g->plan[li].permute_groups = groups;
            }
        }
    }
    if (nbad)
        return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, g->path, NULL,
                               "%zu layer%s do not map to llama.cpp tensor names (only q/k/v/o_proj and "
                               "gate/up/down_proj under layers.N): %s%s",
                               nbad, nbad == 1 ? "" : "s", bad, nbad > 3 ? ", ..." : "");
    const char *arch = json_string_value(kv_value(g->kvs, "general.architecture"));
    int permuted = opts->n_head > 0 && opts->n_head_kv > 0;
    if (qk_layers && !permuted && arch && strcmp(arch, "llama") == 0 && !opts->allow_unpermuted)
        return lsc_format_fail(err, LSC_ERR_USAGE, g->path, NULL,
                               "q_proj/k_proj rows must be permuted for llama.cpp's llama architecture: give the base "
                               "model's head counts (n_head, n_head_kv) or ask for unpermuted rows");
    return gw_note_conversion(g, permuted && qk_layers, err);
}

/* Each layer's fold (its scale over the one the global alpha gives) and each tensor's size and offset. */
static void gw_layout(gguf_writer *g)
{
    const lsc_adapter *ad = g->ad;
    for (size_t li = 0; li < ad->n_layers; li++) {
        const lsc_layer *l = &ad->layers[li];
        g->plan[li].fold = l->rank > 0 ? l->scale / ((double)g->alpha / l->rank) : 1.0;
        if (g->alpha == 0 && g->from_gguf)
            g->plan[li].fold = l->scale; /* alpha 0: llama.cpp applies scale 1 */
    }
    uint64_t off = 0;
    for (size_t i = 0; i < g->nw; i++) {
        wt *e = &g->w[i];
        uint64_t n = 1;
        for (int d = 0; d < e->n_dims; d++)
            n *= (uint64_t)e->shape[d];
        e->nbytes = n * lsc_dtype_size(e->out);
        e->offset = off;
        off += pad_to(e->nbytes, g->align);
    }
}

/* The whole header in memory: magic, version, counts, key-values, tensor infos, padding. */
static lsc_status gw_header(gguf_writer *g, lsc_error *err)
{
    bytes *hdr = &g->hdr;
    b_add(hdr, "GGUF", 4);
    b_uint(hdr, g->version, 4);
    b_uint(hdr, g->nw, 8);
    b_uint(hdr, json_object_size(g->kvs), 8);
    const char *key;
    json_t *ent;
    json_object_foreach(g->kvs, key, ent) {
        lsc_status st = put_kv(hdr, key, ent, g->path, err);
        if (st)
            return st;
    }
    for (size_t i = 0; i < g->nw; i++) {
        const wt *e = &g->w[i];
        b_str(hdr, e->name, strlen(e->name));
        b_uint(hdr, (uint64_t)e->n_dims, 4);
        for (int d = e->n_dims - 1; d >= 0; d--)
            b_uint(hdr, (uint64_t)e->shape[d], 8);
        b_uint(hdr, ggml_code(e->out), 4);
        b_uint(hdr, e->offset, 8);
    }
    for (uint64_t pad = pad_to(hdr->len, g->align) - hdr->len; pad > 0;) {
        size_t k = pad < sizeof zero_page ? (size_t)pad : sizeof zero_page;
        b_add(hdr, zero_page, k);
        pad -= k;
    }
    return hdr->oom ? lsc_error_set(err, LSC_ERR_NOMEM, "out of memory") : LSC_OK;
}

/* Open the temporary file beside path and write the header into it. */
static lsc_status gw_begin_file(gguf_writer *g, lsc_error *err)
{
    const char *slash = strrchr(g->path, '/');
    if (!*(slash ? slash + 1 : g->path))
        return lsc_format_fail(err, LSC_ERR_INVALID, g->path, NULL, "not a file name");
    lsc_status st = lsc_atomic_begin(&g->af, g->path, err);
    if (st)
        return st;
    if (lsc_write_full(g->af.fd, g->hdr.p, g->hdr.len) != 0)
        return lsc_format_io_fail(err, "write", g->path, errno);
    return LSC_OK;
}

/* A tensor written as stored (converted to the entry's dtype if needed); loaded for the write only. */
static lsc_status gw_put_stored(gguf_writer *g, const wt *e, const lsc_tensor *src, lsc_error *err)
{
    lsc_adapter *ad = g->ad;
    size_t si = (size_t)(src - ad->tensors);
    int was = src->data != NULL;
    lsc_narrowing loss;
    lsc_status st;
    if ((st = lsc_adapter_load_tensor(ad, si, err)) ||
        (st = convert_tensor(src, e, &g->ab, &g->acap, &g->conv, &loss, g->path, err)))
        return st;
    lsc_format_warn_loss(ad, &g->lossy, e->name, &loss, (size_t)(e->nbytes / lsc_dtype_size(e->out)), e->out);
    const unsigned char *data = src->dtype == e->out ? src->data : g->conv;
    if (lsc_write_full(g->af.fd, data, (size_t)e->nbytes) != 0)
        return lsc_format_io_fail(err, "write", g->path, errno);
    if (!was)
        lsc_adapter_unload_tensor(ad, si);
    return LSC_OK;
}

/* Layer li's factor view into bb/ab, with B's scale ratio folded in and then llama.cpp's rotary row order. */
static lsc_status gw_factor_view(gguf_writer *g, int li, lsc_error *err)
{
    lsc_lowrank lr;
    lsc_status st = lsc_adapter_factors(g->ad, (size_t)li, &g->bb, &g->bcap, &g->ab, &g->acap, &lr, err);
    if (st)
        return st;
    g->cached = li;
    size_t nb = (size_t)(lr.rows * lr.r);
    for (size_t k = 0; k < nb; k++)
        g->bb[k] *= g->plan[li].fold;
    if (g->plan[li].permute_groups > 0) {
        double *t2 = realloc(g->tmp, (nb ? nb : 1) * sizeof *t2);
        if (!t2)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        g->tmp = t2;
        permute_rows(g->bb, lr.rows, lr.r, g->plan[li].permute_groups, g->tmp);
    }
    return LSC_OK;
}

/* A factor computed from its layer's factor view (E folded in, conv flattened, scale folded, rows
 * permuted), narrowed to the entry's dtype. */
static lsc_status gw_put_computed(gguf_writer *g, const wt *e, lsc_error *err)
{
    lsc_status st;
    if (g->cached != e->layer && (st = gw_factor_view(g, e->layer, err)))
        return st;
    size_t n = (size_t)(e->nbytes / lsc_dtype_size(e->out));
    lsc_narrowing loss;
    unsigned char *c = realloc(g->conv, e->nbytes ? (size_t)e->nbytes : 1);
    if (!c)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    g->conv = c;
    if (lsc_dtype_from_double_loss(e->out, e->is_b ? g->bb : g->ab, n, g->conv, &loss) != LSC_OK)
        return lsc_format_fail(err, LSC_ERR_INVALID, g->path, e->name, "cannot convert to %s", lsc_dtype_name(e->out));
    if (loss.overflows)
        return lsc_format_fail(err, LSC_ERR_NUMERIC, g->path, e->name, "%zu values overflow %s", loss.overflows,
                               lsc_dtype_name(e->out));
    lsc_format_warn_loss(g->ad, &g->lossy, e->name, &loss, n, e->out);
    if (lsc_write_full(g->af.fd, g->conv, (size_t)e->nbytes) != 0)
        return lsc_format_io_fail(err, "write", g->path, errno);
    return LSC_OK;
}

/* Tensor i's data and its padding (the last tensor's as the source file ended, when it is known). */
static lsc_status gw_put_tensor(gguf_writer *g, size_t i, lsc_error *err)
{
    const wt *e = &g->w[i];
    const lsc_adapter *ad = g->ad;
    const lsc_tensor *src = e->tensor >= 0 ? &ad->tensors[e->tensor] : NULL;
    int math = 0;
    if (e->layer >= 0) {
        const lsc_layer *l = &ad->layers[e->layer];
        const layer_plan *p = &g->plan[e->layer];
        src = &ad->tensors[e->is_b ? l->tb : l->ta];
        math = l->te >= 0 || src->ndim != 2 || (e->is_b && (p->fold != 1.0 || p->permute_groups > 0));
    }
    lsc_status st = math ? gw_put_computed(g, e, err) : gw_put_stored(g, e, src, err);
    if (st)
        return st;
    uint64_t pad = pad_to(e->nbytes, g->align) - e->nbytes;
    if (i + 1 == g->nw && g->tail >= 0 && (uint64_t)g->tail <= pad)
        pad = (uint64_t)g->tail; /* the source file's own end */
    if (write_zeros(g->af.fd, pad) != 0)
        return lsc_format_io_fail(err, "write", g->path, errno);
    return LSC_OK;
}

lsc_status lsc_gguf_write_ex(lsc_adapter *ad, const char *path, lsc_dtype dtype, const lsc_gguf_write_opts *opts,
                             lsc_error *err)
{
    static const lsc_gguf_write_opts no_opts = {0};
    if (dtype != LSC_DT_INVALID && dtype != LSC_DT_F32 && dtype != LSC_DT_F16 && dtype != LSC_DT_BF16)
        return lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "GGUF adapters hold F32, F16 or BF16 tensors, not %s",
                               lsc_dtype_name(dtype));
    gguf_writer g = {.ad = ad,
                     .path = path,
                     .dtype = dtype,
                     .opts = opts ? opts : &no_opts,
                     .from_gguf = ad->format && strcmp(ad->format, "gguf") == 0,
                     .version = 3,
                     .tail = -1,
                     .cached = -1,
                     .af = {-1, NULL, NULL}};
    lsc_status st = gw_key_values(&g, err);
    if (st)
        goto done;
    g.plan = calloc(ad->n_layers ? ad->n_layers : 1, sizeof *g.plan);
    g.w = calloc(ad->n_tensors + 2 * ad->n_layers + 1, sizeof *g.w);
    if (!g.plan || !g.w) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = g.from_gguf ? gw_plan_stored(&g, err) : gw_plan_mapped(&g, err)))
        goto done;
    gw_layout(&g);
    if ((st = gw_header(&g, err)) || (st = gw_begin_file(&g, err)))
        goto done;
    for (size_t i = 0; i < g.nw; i++)
        if ((st = gw_put_tensor(&g, i, err)))
            goto done;
    lsc_format_warn_loss_total(ad, g.lossy);
    st = lsc_atomic_commit(&g.af, err); /* fsync, rename into place, fsync the folder */
done:
    gw_release(&g);
    return st;
}
