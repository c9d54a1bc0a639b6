/* base.c: base models read one tensor at a time (see base.h).
 *
 * safetensors files are opened with lsc_st_open (which validates the whole header) and kept open;
 * a sharded model's index is read with jansson; a GGUF file's header is parsed from a read-only
 * mapping with every count and length checked against the bytes left before anything is allocated
 * (the rules of store/gguf.c, for a model instead of an adapter), and unmapped once parsed.
 * Lives in store/: files only, never SQLite or curses.
 */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "format_util.h"
#include "hash.h"

#define INDEX_NAME "model.safetensors.index.json"

int64_t lsc_base_numel(const lsc_base_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

long lsc_base_find(const lsc_base *b, const char *name)
{
    int64_t v;
    return b && lsc_namemap_get(&b->by_name, name, &v) ? (long)v : -1;
}

void lsc_base_close(lsc_base *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_files; i++) {
        lsc_base_file *f = &b->files[i];
        if (f->st)
            lsc_st_close(f->st);
        else if (f->fd >= 0)
            close(f->fd);
        free(f->path);
        free(f->rel);
    }
    for (size_t i = 0; i < b->n_tensors; i++)
        free(b->tensors[i].name);
    free(b->files);
    free(b->tensors);
    free(b->path);
    free(b->index_path);
    lsc_namemap_free(&b->by_name);
    free(b);
}

static lsc_status add_file(lsc_base *b, const char *path, const char *rel, size_t *idx, lsc_error *err)
{
    lsc_base_file *nf = realloc(b->files, sizeof *nf * (b->n_files + 1));
    if (!nf)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    b->files = nf;
    lsc_base_file *f = &nf[b->n_files];
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->path = strdup(path);
    f->rel = strdup(rel);
    *idx = b->n_files++;
    return f->path && f->rel ? LSC_OK : lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
}

static lsc_status add_tensor(lsc_base *b, const lsc_base_tensor *t, lsc_error *err)
{
    if (lsc_base_find(b, t->name) >= 0)
        return lsc_format_fail(err, LSC_ERR_FORMAT, b->files[t->file].path, t->name,
                               "the name is also in another file of the base");
    if (b->n_tensors % 256 == 0) {
        lsc_base_tensor *nt = realloc(b->tensors, sizeof *nt * (b->n_tensors + 256));
        if (!nt)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        b->tensors = nt;
    }
    lsc_base_tensor *d = &b->tensors[b->n_tensors];
    *d = *t;
    if (!(d->name = strdup(t->name)) || lsc_namemap_put(&b->by_name, d->name, (int64_t)b->n_tensors)) {
        free(d->name);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    b->n_tensors++;
    return LSC_OK;
}

/* A safetensors file shorter than its header says: the first tensor (by data order) that does not fit,
 * so the message can name it; NULL when the header cannot say (malloc'ed). */
static char *cut_tensor(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    unsigned char n8[8];
    char *hdr = NULL, *found = NULL;
    uint64_t n = 0;
    if (fd < 0 || fstat(fd, &sb) != 0 || lsc_pread_full(fd, n8, 8, 0) != 0)
        goto done;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | n8[i];
    if (n > LSC_ST_MAX_HEADER || 8 + n > (uint64_t)sb.st_size || !(hdr = malloc((size_t)n + 1)) ||
        lsc_pread_full(fd, hdr, (size_t)n, 8) != 0)
        goto done;
    json_t *root = json_loadb(hdr, (size_t)n, 0, NULL), *v;
    const char *name;
    uint64_t best = UINT64_MAX, avail = (uint64_t)sb.st_size - 8 - n;
    json_object_foreach(root, name, v) {
        json_t *off = json_object_get(v, "data_offsets");
        uint64_t b0 = (uint64_t)json_integer_value(json_array_get(off, 0));
        uint64_t e0 = (uint64_t)json_integer_value(json_array_get(off, 1));
        if (json_is_array(off) && e0 > avail && b0 < best) {
            best = b0;
            free(found);
            found = strdup(name);
        }
    }
    json_decref(root);
done:
    free(hdr);
    if (fd >= 0)
        close(fd);
    return found;
}

/* One safetensors file (a single-file base or a shard): open, validate, list its tensors. */
static lsc_status open_st(lsc_base *b, const char *path, const char *rel, lsc_error *err)
{
    size_t fi;
    lsc_status st = add_file(b, path, rel, &fi, err);
    if (st)
        return st;
    if ((st = lsc_st_open(path, &b->files[fi].st, err))) {
        char *cut = strstr(err->msg, "truncated") ? cut_tensor(path) : NULL;
        if (cut) {
            char esc[LSC_FORMAT_ESC_CAP];
            lsc_error_prefix(err, "tensor '%s'", lsc_escape_name(esc, sizeof esc, cut));
        }
        free(cut);
        return st;
    }
    lsc_st_file *sf = b->files[fi].st;
    b->files[fi].fd = sf->fd;
    b->files[fi].size = sf->file_size;
    for (size_t i = 0; i < sf->n_tensors && !st; i++) {
        const lsc_st_tensor *t = &sf->tensors[i];
        lsc_base_tensor bt = {.name = t->name, .file = fi, .dtype = t->dtype, .ndim = t->ndim,
                              .offset = 8 + sf->header_len + t->begin, .nbytes = t->end - t->begin};
        memcpy(bt.shape, t->shape, sizeof bt.shape);
        st = add_tensor(b, &bt, err);
    }
    return st;
}

/* ---- sharded -------------------------------------------------------------------------------------- */

/* Check that every tensor the index names is in the shard it names. */
static lsc_status check_weight_map(lsc_base *b, json_t *map, lsc_error *err)
{
    const char *name;
    json_t *v;
    json_object_foreach(map, name, v) {
        long i = lsc_base_find(b, name);
        if (i < 0 || strcmp(b->files[b->tensors[i].file].rel, json_string_value(v)) != 0)
            return lsc_format_fail(err, LSC_ERR_FORMAT, b->index_path, name, "not in shard '%s'", json_string_value(v));
    }
    return LSC_OK;
}

static lsc_status open_sharded(lsc_base *b, const char *index, lsc_error *err)
{
    json_error_t je;
    json_t *root = json_load_file(index, JSON_REJECT_DUPLICATES, &je);
    lsc_status st = LSC_OK;
    if (!root)
        return lsc_format_fail(err, LSC_ERR_FORMAT, index, NULL, "invalid JSON: %s (line %d)", je.text, je.line);
    json_t *map = json_object_get(root, "weight_map");
    char *dir = strdup(index), *slash = dir ? strrchr(dir, '/') : NULL;
    if (!dir) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    if (!json_is_object(map)) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, index, NULL, "no \"weight_map\" object");
        goto done;
    }
    const char *name;
    json_t *v;
    json_object_foreach(map, name, v) {
        const char *shard = json_string_value(v);
        if (!shard || !*shard || strchr(shard, '/') || strcmp(shard, "..") == 0) {
            st = lsc_format_fail(err, LSC_ERR_FORMAT, index, name, "the shard must be a file name in the folder");
            goto done;
        }
        int seen = 0;
        for (size_t f = 0; f < b->n_files && !seen; f++)
            seen = strcmp(b->files[f].rel, shard) == 0;
        if (seen)
            continue;
        char *p = lsc_path_join(dir, shard);
        if (!p) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto done;
        }
        st = open_st(b, p, shard, err);
        free(p);
        if (st) {
            char esc[LSC_FORMAT_ESC_CAP];
            lsc_error_prefix(err, "tensor '%s'", lsc_escape_name(esc, sizeof esc, name));
            goto done;
        }
    }
    st = check_weight_map(b, map, err);
done:
    free(dir);
    json_decref(root);
    return st;
}

/* ---- GGUF ------------------------------------------------------------------------------------------ */

typedef struct gp {
    const unsigned char *p;
    uint64_t size, pos;
    const char *path;
} gp;

static int gp_need(gp *g, uint64_t n)
{
    return n <= g->size - g->pos;
}

static uint64_t gp_le(gp *g, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | g->p[g->pos + (uint64_t)i];
    g->pos += (uint64_t)n;
    return v;
}

static const unsigned gv_size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* Skip one value of type t (arrays of arrays included), reading general.alignment when asked. */
static int gp_skip_value(gp *g, uint32_t t, int depth)
{
    if (t > 12 || depth > 2)
        return -1;
    if (t == 8) {
        if (!gp_need(g, 8))
            return -1;
        uint64_t n = gp_le(g, 8);
        if (!gp_need(g, n))
            return -1;
        g->pos += n;
        return 0;
    }
    if (t == 9) {
        if (!gp_need(g, 12))
            return -1;
        uint32_t et = (uint32_t)gp_le(g, 4);
        uint64_t n = gp_le(g, 8);
        if (et <= 12 && et != 8 && et != 9) {
            if (n > (g->size - g->pos) / gv_size[et])
                return -1;
            g->pos += n * gv_size[et];
            return 0;
        }
        for (uint64_t i = 0; i < n; i++)
            if (gp_skip_value(g, et, depth + 1))
                return -1;
        return 0;
    }
    if (!gp_need(g, gv_size[t]))
        return -1;
    g->pos += gv_size[t];
    return 0;
}

/* Bytes of ne elements of GGML type t, 0 when the type's size is unknown or ne[0] is not whole blocks. */
static uint64_t ggml_bytes(uint32_t t, const uint64_t *ne, int nd)
{
    static const struct { uint32_t t, block, bytes; } sz[] = {
        {0, 1, 4}, {1, 1, 2}, {2, 32, 18}, {3, 32, 20}, {6, 32, 22}, {7, 32, 24}, {8, 32, 34}, {9, 32, 36},
        {10, 256, 84}, {11, 256, 110}, {12, 256, 144}, {13, 256, 176}, {14, 256, 210}, {15, 256, 292},
        {24, 1, 1}, {25, 1, 2}, {26, 1, 4}, {27, 1, 8}, {28, 1, 8}, {30, 1, 2}};
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
        if (sz[i].t != t)
            continue;
        if (nd < 1 || ne[0] % sz[i].block)
            return 0;
        uint64_t n = ne[0] / sz[i].block * sz[i].bytes;
        for (int d = 1; d < nd; d++) {
            if (ne[d] && n > UINT64_MAX / ne[d])
                return 0;
            n *= ne[d];
        }
        return n;
    }
    return 0;
}

static lsc_dtype ggml_dtype(uint32_t t)
{
    return t == LSC_GGML_F32 ? LSC_DT_F32 : t == LSC_GGML_F16 ? LSC_DT_F16 : t == LSC_GGML_BF16 ? LSC_DT_BF16
                                                                                              : LSC_DT_INVALID;
}

/* The key-value section: skipped, except general.alignment. */
static lsc_status gguf_kvs(gp *g, uint64_t n_kv, uint64_t *align, lsc_error *err)
{
    for (uint64_t i = 0; i < n_kv; i++) {
        if (!gp_need(g, 8))
            return lsc_format_fail(err, LSC_ERR_FORMAT, g->path, NULL, "truncated in key %llu", (unsigned long long)i);
        uint64_t kl = gp_le(g, 8);
        if (!gp_need(g, kl) || !gp_need(g, kl + 4))
            return lsc_format_fail(err, LSC_ERR_FORMAT, g->path, NULL, "truncated in key %llu", (unsigned long long)i);
        int is_align = kl == 17 && memcmp(g->p + g->pos, "general.alignment", 17) == 0;
        g->pos += kl;
        uint32_t t = (uint32_t)gp_le(g, 4);
        if (is_align && t == 4 && gp_need(g, 4)) {
            uint64_t a = gp_le(g, 4);
            if (a == 0 || (a & (a - 1)))
                return lsc_format_fail(err, LSC_ERR_FORMAT, g->path, NULL, "general.alignment %llu is not a power of two",
                                       (unsigned long long)a);
            *align = a;
        } else if (gp_skip_value(g, t, 0))
            return lsc_format_fail(err, LSC_ERR_FORMAT, g->path, NULL, "truncated or bad value of key %llu",
                                   (unsigned long long)i);
    }
    return LSC_OK;
}

static lsc_status gguf_tensor(gp *g, lsc_base *b, size_t fi, lsc_base_tensor *t, uint64_t *rel_off, lsc_error *err)
{
    char name[256];
    if (!gp_need(g, 8))
        return lsc_format_fail(err, LSC_ERR_FORMAT, g->path, NULL, "truncated tensor info");
    uint64_t nl = gp_le(g, 8);
    if (nl >= sizeof name || !gp_need(g, nl + 4))
        return lsc_format_fail(err, LSC_ERR_FORMAT, g->path, NULL, "bad or truncated tensor name");
    memcpy(name, g->p + g->pos, nl);
    name[nl] = '\0';
    g->pos += nl;
    uint32_t nd = (uint32_t)gp_le(g, 4);
    if (nd < 1 || nd > 4 || !gp_need(g, 8ull * nd + 12))
        return lsc_format_fail(err, LSC_ERR_FORMAT, g->path, name, "bad dimension count %u or truncated info", nd);
    uint64_t ne[4];
    for (uint32_t d = 0; d < nd; d++)
        ne[d] = gp_le(g, 8);
    memset(t, 0, sizeof *t);
    t->ggml_type = (uint32_t)gp_le(g, 4);
    *rel_off = gp_le(g, 8);
    t->file = fi;
    t->ndim = (int)nd;
    for (uint32_t d = 0; d < nd; d++) {
        if (ne[d] > INT64_MAX)
            return lsc_format_fail(err, LSC_ERR_FORMAT, g->path, name, "dimension too large");
        t->shape[nd - 1 - d] = (int64_t)ne[d];
    }
    t->dtype = ggml_dtype(t->ggml_type);
    if (!(t->nbytes = ggml_bytes(t->ggml_type, ne, (int)nd)) && ne[0] && (nd < 2 || ne[1]))
        return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, g->path, name, "GGML type %u of unknown size", t->ggml_type);
    t->name = strdup(name);
    (void)b;
    return t->name ? LSC_OK : lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
}

static lsc_status gguf_parse(gp *g, lsc_base *b, size_t fi, lsc_error *err)
{
    if (!gp_need(g, 24) || memcmp(g->p, "GGUF", 4) != 0)
        return lsc_format_fail(err, LSC_ERR_FORMAT, g->path, NULL, "not a GGUF file");
    g->pos = 4;
    uint32_t ver = (uint32_t)gp_le(g, 4);
    uint64_t n_t = gp_le(g, 8), n_kv = gp_le(g, 8), align = 32;
    if (ver < 2 || ver > 3)
        return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, g->path, NULL, "GGUF version %u", ver);
    if (n_t > g->size / 24 || n_kv > g->size / 12)
        return lsc_format_fail(err, LSC_ERR_FORMAT, g->path, NULL, "counts beyond the file size");
    lsc_status st = gguf_kvs(g, n_kv, &align, err);
    uint64_t *rel = st ? NULL : calloc(n_t ? n_t : 1, sizeof *rel);
    if (!st && !rel)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    size_t first = b->n_tensors;
    for (uint64_t i = 0; i < n_t && !st; i++) {
        lsc_base_tensor t;
        if (!(st = gguf_tensor(g, b, fi, &t, &rel[i], err))) {
            st = add_tensor(b, &t, err);
            free(t.name);
        }
    }
    uint64_t data = (g->pos + align - 1) / align * align;
    for (uint64_t i = 0; i < n_t && !st; i++) {
        lsc_base_tensor *t = &b->tensors[first + i];
        t->offset = data + rel[i];
        if (rel[i] % align || t->offset < data || t->nbytes > g->size || t->offset > g->size - t->nbytes)
            st = lsc_format_fail(err, LSC_ERR_FORMAT, g->path, t->name,
                                 "data at offset %llu (%llu bytes) is outside the file (%llu bytes): truncated?",
                                 (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                                 (unsigned long long)g->size);
    }
    b->files[fi].data_start = data;
    free(rel);
    return st;
}

static lsc_status open_gguf(lsc_base *b, const char *path, lsc_error *err)
{
    size_t fi;
    const char *base = strrchr(path, '/');
    lsc_status st = add_file(b, path, base ? base + 1 : path, &fi, err);
    if (st)
        return st;
    lsc_base_file *f = &b->files[fi];
    struct stat sb;
    if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(f->fd, &sb) != 0)
        return lsc_format_io_fail(err, "open", path, errno);
    f->size = (uint64_t)sb.st_size;
    void *m = f->size ? mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, f->fd, 0) : MAP_FAILED;
    if (m == MAP_FAILED)
        return f->size ? lsc_format_io_fail(err, "map", path, errno)
                       : lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL, "empty file");
    gp g = {m, f->size, 0, path};
    st = gguf_parse(&g, b, fi, err);
    munmap(m, (size_t)f->size);
    return st;
}

/* ---- open ------------------------------------------------------------------------------------------- */

static int is_gguf(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char m[4] = {0};
    int ok = fd >= 0 && lsc_pread_full(fd, m, 4, 0) == 0 && memcmp(m, "GGUF", 4) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

lsc_status lsc_base_open(const char *path, lsc_base **out, lsc_error *err)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return lsc_format_io_fail(err, "open", path, errno);
    lsc_base *b = calloc(1, sizeof *b);
    if (!b || !(b->path = strdup(path))) {
        free(b);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    lsc_namemap_init(&b->by_name);
    lsc_status st;
    if (S_ISDIR(sb.st_mode) || lsc_format_ends_with(path, ".index.json")) {
        b->kind = LSC_BASE_SHARDED;
        b->index_path = S_ISDIR(sb.st_mode) ? lsc_path_join(path, INDEX_NAME) : strdup(path);
        st = b->index_path ? open_sharded(b, b->index_path, err) : lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    } else if (is_gguf(path)) {
        b->kind = LSC_BASE_GGUF;
        st = open_gguf(b, path, err);
    } else {
        b->kind = LSC_BASE_SAFETENSORS;
        const char *s = strrchr(path, '/');
        st = open_st(b, path, s ? s + 1 : path, err);
    }
    if (st) {
        lsc_base_close(b);
        return st;
    }
    *out = b;
    return LSC_OK;
}

/* ---- reading ------------------------------------------------------------------------------------------ */

const char *lsc_base_dtype_name(const lsc_base_tensor *t, char *buf, size_t cap)
{
    if (t->dtype != LSC_DT_INVALID)
        return lsc_dtype_name(t->dtype);
    if (t->ggml_type == LSC_GGML_Q8_0)
        return "Q8_0";
    snprintf(buf, cap, "GGML_%u", t->ggml_type);
    return buf;
}

int lsc_base_readable(const lsc_base *b, size_t i)
{
    const lsc_base_tensor *t = &b->tensors[i];
    return lsc_dtype_is_float(t->dtype) || (t->dtype == LSC_DT_INVALID && t->ggml_type == LSC_GGML_Q8_0);
}

lsc_status lsc_base_read_raw(lsc_base *b, size_t i, void *dst, lsc_error *err)
{
    const lsc_base_tensor *t = &b->tensors[i];
    const lsc_base_file *f = &b->files[t->file];
    int rc = t->nbytes ? lsc_pread_full(f->fd, dst, (size_t)t->nbytes, t->offset) : 0;
    if (rc < 0)
        return lsc_format_io_fail(err, "read", f->path, errno);
    if (rc > 0)
        return lsc_format_fail(err, LSC_ERR_IO, f->path, t->name, "truncated: the file ends inside the tensor");
    return LSC_OK;
}

lsc_status lsc_base_read_part(lsc_base *b, size_t i, uint64_t off, size_t n, void *dst, lsc_error *err)
{
    const lsc_base_tensor *t = &b->tensors[i];
    const lsc_base_file *f = &b->files[t->file];
    if (off > t->nbytes || n > t->nbytes - off)
        return lsc_format_fail(err, LSC_ERR_INVALID, f->path, t->name, "read past the tensor's end");
    int rc = n ? lsc_pread_full(f->fd, dst, n, t->offset + off) : 0;
    if (rc < 0)
        return lsc_format_io_fail(err, "read", f->path, errno);
    if (rc > 0)
        return lsc_format_fail(err, LSC_ERR_IO, f->path, t->name, "truncated: the file ends inside the tensor");
    return LSC_OK;
}

/* Q8_0: blocks of 32 values, each an f16 scale then 32 signed bytes. */
static void dequant_q8_0(const unsigned char *src, int64_t n, double *dst)
{
    for (int64_t b = 0; b < n / 32; b++) {
        const unsigned char *blk = src + b * 34;
        double d = lsc_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8));
        for (int j = 0; j < 32; j++)
            dst[b * 32 + j] = d * (double)(int8_t)blk[2 + j];
    }
}

lsc_status lsc_base_read_doubles(lsc_base *b, size_t i, void *raw, double *dst, lsc_error *err)
{
    const lsc_base_tensor *t = &b->tensors[i];
    if (!lsc_base_readable(b, i)) {
        char buf[32];
        return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, b->files[t->file].path, t->name, "unsupported dtype %s",
                               lsc_base_dtype_name(t, buf, sizeof buf));
    }
    lsc_status st = lsc_base_read_raw(b, i, raw, err);
    if (st)
        return st;
    if (t->dtype == LSC_DT_INVALID)
        dequant_q8_0(raw, lsc_base_numel(t), dst);
    else
        st = lsc_dtype_to_double(t->dtype, raw, (size_t)lsc_base_numel(t), dst);
    return st ? lsc_format_fail(err, st, b->files[t->file].path, t->name, "cannot convert") : LSC_OK;
}

lsc_status lsc_base_hash(lsc_base *b, size_t i, void *raw, char out[LSC_HASH_HEX], lsc_error *err)
{
    lsc_status st = lsc_base_read_raw(b, i, raw, err);
    if (!st)
        lsc_hash_bytes(raw, (size_t)b->tensors[i].nbytes, out);
    return st;
}
