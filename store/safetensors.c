/* store/safetensors.c: the strict safetensors reader and the atomic streaming writer (safetensors.h).
 *
 * Reading never trusts a number from the file before checking it against the file's real size: the
 * header length is bounded first, only then is the header read (pread, never a whole-file mmap), and
 * every shape and offset is checked (overflow-safe) before any caller allocates tensor buffers from it.
 * Tensor data is read one tensor at a time with pread. Writing goes to a temporary file in the
 * destination folder, which is fsync'ed and renamed into place, so a crash leaves the old file or the
 * new one, never half of one. Messages quote file and tensor names through lsc_escape_name, so bytes
 * from a hostile file never reach a terminal raw.
 * Depends on libc, POSIX file calls, jansson and engine/ types; never on curses or SQLite.
 */
#include "safetensors.h"
#include "fileio.h"
#include "format_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ESC_CAP 320 /* room for one escaped name inside a message */

/* ---- messages ---------------------------------------------------------------------------------- */

static void format_shape(char *buf, size_t cap, const int64_t *shape, int ndim)
{
    size_t o = 0;
    o += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
}

/* ---- low-level I/O ----------------------------------------------------------------------------- */

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- header validation ------------------------------------------------------------------------- */

static lsc_status check_header_len(const char *name, uint64_t n, uint64_t file_size, lsc_error *err)
{
    if (n > LSC_ST_MAX_HEADER)
        return lsc_format_fail(err, LSC_ERR_FORMAT, name, NULL,
                               "header length %" PRIu64 " exceeds the limit of %llu bytes", n, LSC_ST_MAX_HEADER);
    if (n > file_size - 8)
        return lsc_format_fail(err, LSC_ERR_FORMAT, name, NULL,
                               "header length %" PRIu64 " runs past the end of the file (%" PRIu64 " bytes)", n,
                               file_size);
    return LSC_OK;
}

static int is_count(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* Fill t (whose name is set) from its header entry; checks everything that concerns the entry alone. */
static lsc_status parse_entry(const char *file, lsc_st_tensor *t, json_t *val, lsc_error *err)
{
    const char *tn = t->name;
    if (!json_is_object(val))
        return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn, "header entry is not an object");

    json_t *dt = json_object_get(val, "dtype");
    if (!dt)
        return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn, "missing dtype");
    if (!json_is_string(dt))
        return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn, "dtype is not a string");
    t->dtype = lsc_dtype_parse(json_string_value(dt));
    if (t->dtype == LSC_DT_INVALID) {
        char de[64];
        return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn, "unknown dtype '%s'",
                               lsc_escape_name(de, sizeof de, json_string_value(dt)));
    }

    json_t *shape = json_object_get(val, "shape");
    if (!shape)
        return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn, "missing shape");
    if (!json_is_array(shape))
        return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn, "shape is not an array");
    size_t nd = json_array_size(shape);
    if (nd > LSC_MAX_NDIM)
        return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, file, tn, "shape has %zu dimensions, at most %d are supported",
                               nd, LSC_MAX_NDIM);
    t->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        if (!is_count(d))
            return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn, "shape is not a list of non-negative integers");
        t->shape[i] = (int64_t)json_integer_value(d);
    }
    /* element and byte counts, each multiply checked (as the reference implementation does, a zero
     * dimension does not excuse an overflow earlier in the product) */
    char sh[256];
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t d = (uint64_t)t->shape[i];
        if (d != 0 && numel > UINT64_MAX / d) {
            format_shape(sh, sizeof sh, t->shape, t->ndim);
            return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn, "shape %s overflows the element count", sh);
        }
        numel *= d;
    }
    uint64_t esize = lsc_dtype_size(t->dtype);
    if (numel > UINT64_MAX / esize) {
        format_shape(sh, sizeof sh, t->shape, t->ndim);
        return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn, "shape %s overflows the byte count", sh);
    }
    uint64_t bytes = numel * esize;

    json_t *off = json_object_get(val, "data_offsets");
    if (!off)
        return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn, "missing data_offsets");
    if (!json_is_array(off) || json_array_size(off) != 2 || !is_count(json_array_get(off, 0)) ||
        !is_count(json_array_get(off, 1)))
        return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn,
                               "data_offsets is not [begin, end] of non-negative integers");
    t->begin = (uint64_t)json_integer_value(json_array_get(off, 0));
    t->end = (uint64_t)json_integer_value(json_array_get(off, 1));
    if (t->end < t->begin)
        return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn,
                               "data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", t->begin, t->end);
    if (t->end - t->begin != bytes) {
        format_shape(sh, sizeof sh, t->shape, t->ndim);
        return lsc_format_fail(err, LSC_ERR_FORMAT, file, tn,
                               "shape %s needs %" PRIu64 " bytes but data_offsets span %" PRIu64, sh, bytes,
                               t->end - t->begin);
    }
    return LSC_OK;
}

typedef struct {
    uint64_t begin, end;
    size_t idx; /* header order: ties (zero-size tensors at one offset) keep it */
} span_key;

static int cmp_span(const void *a, const void *b)
{
    const span_key *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

typedef struct {
    const char *name;
    size_t idx;
} name_key;

static int cmp_name(const void *a, const void *b)
{
    const name_key *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Put f->tensors in data order and check the spans tile [0, last end) exactly. */
static lsc_status order_and_check_spans(lsc_st_file *f, lsc_error *err)
{
    lsc_status st = LSC_OK;
    size_t n = f->n_tensors;
    span_key *keys = malloc((n ? n : 1) * sizeof *keys);
    lsc_st_tensor *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!keys || !sorted) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        keys[i] = (span_key){f->tensors[i].begin, f->tensors[i].end, i};
    qsort(keys, n, sizeof *keys, cmp_span);
    for (size_t i = 0; i < n; i++)
        sorted[i] = f->tensors[keys[i].idx];
    free(f->tensors);
    f->tensors = sorted;
    sorted = NULL;

    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const lsc_st_tensor *t = &f->tensors[i];
        if (t->begin == pos) {
            pos = t->end;
            continue;
        }
        if (i == 0)
            st = lsc_format_fail(err, LSC_ERR_FORMAT, f->path, t->name,
                                 "data_offsets begin at %" PRIu64 ": the first tensor must begin at 0", t->begin);
        else if (t->begin > pos)
            st = lsc_format_fail(err, LSC_ERR_FORMAT, f->path, t->name,
                                 "data_offsets [%" PRIu64 ", %" PRIu64 "] leave a gap of %" PRIu64
                                 " bytes after the previous tensor",
                                 t->begin, t->end, t->begin - pos);
        else {
            char pe[ESC_CAP];
            st = lsc_format_fail(err, LSC_ERR_FORMAT, f->path, t->name,
                                 "data_offsets [%" PRIu64 ", %" PRIu64 "] overlap tensor '%s' [%" PRIu64
                                 ", %" PRIu64 "]",
                                 t->begin, t->end, lsc_escape_name(pe, sizeof pe, f->tensors[i - 1].name),
                                 f->tensors[i - 1].begin, f->tensors[i - 1].end);
        }
        goto done;
    }
done:
    free(keys);
    free(sorted);
    return st;
}

static lsc_status build_name_index(lsc_st_file *f, lsc_error *err)
{
    size_t n = f->n_tensors;
    name_key *keys = malloc((n ? n : 1) * sizeof *keys);
    f->by_name = malloc((n ? n : 1) * sizeof *f->by_name);
    if (!keys || !f->by_name) {
        free(keys);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        keys[i] = (name_key){f->tensors[i].name, i};
    qsort(keys, n, sizeof *keys, cmp_name);
    lsc_status st = LSC_OK;
    for (size_t i = 0; i < n; i++) {
        f->by_name[i] = keys[i].idx;
        if (i > 0 && strcmp(keys[i - 1].name, keys[i].name) == 0 && st == LSC_OK) /* jansson rejects these */
            st = lsc_format_fail(err, LSC_ERR_FORMAT, f->path, keys[i].name, "duplicate tensor name");
    }
    free(keys);
    return st;
}

/* Validate `header` (n bytes, NUL-terminated; owned by this call from here on) of a file called name.
 * With check_size, the data must end exactly at file_size. */
static lsc_status parse_core(const char *name, char *header, uint64_t n, uint64_t file_size, int check_size,
                             lsc_st_file **out, lsc_error *err)
{
    lsc_status st = LSC_OK;
    json_t *root = NULL;
    *out = NULL;
    lsc_st_file *f = calloc(1, sizeof *f);
    if (!f) {
        free(header);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    f->fd = -1;
    f->header = header;
    f->header_len = n;
    f->file_size = file_size;
    f->path = strdup(name);
    if (!f->path) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* the format says the header starts with '{'; anything else is not ours to guess at */
    if (n == 0 || header[0] != '{') {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, name, NULL, "header is not a JSON object");
        goto fail;
    }
    json_error_t je;
    root = json_loadb(header, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        char te[ESC_CAP];
        const char *dup = "duplicate object key ";
        if (strncmp(je.text, dup, strlen(dup)) == 0)
            st = lsc_format_fail(err, LSC_ERR_FORMAT, name, NULL, "duplicate name in header %s",
                                 lsc_escape_name(te, sizeof te, je.text + strlen(dup)));
        else
            st = lsc_format_fail(err, LSC_ERR_FORMAT, name, NULL, "header is not valid JSON: %s (at byte %d)",
                                 lsc_escape_name(te, sizeof te, je.text), je.position);
        goto fail;
    }
    if (!json_is_object(root)) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, name, NULL, "header is not a JSON object");
        goto fail;
    }

    size_t count = json_object_size(root);
    json_t *meta = json_object_get(root, "__metadata__");
    if (meta) {
        count--;
        if (!json_is_object(meta)) {
            st = lsc_format_fail(err, LSC_ERR_FORMAT, name, NULL, "__metadata__ is not an object");
            goto fail;
        }
        size_t nm = json_object_size(meta);
        f->meta_keys = calloc(nm ? nm : 1, sizeof *f->meta_keys);
        f->meta_values = calloc(nm ? nm : 1, sizeof *f->meta_values);
        if (!f->meta_keys || !f->meta_values) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        const char *k;
        json_t *v;
        json_object_foreach(meta, k, v) { /* insertion order = header order */
            if (!json_is_string(v)) {
                char ke[ESC_CAP];
                st = lsc_format_fail(err, LSC_ERR_FORMAT, name, NULL, "__metadata__ value of '%s' is not a string",
                                     lsc_escape_name(ke, sizeof ke, k));
                goto fail;
            }
            f->meta_keys[f->n_meta] = strdup(k);
            f->meta_values[f->n_meta] = strdup(json_string_value(v));
            f->n_meta++;
            if (!f->meta_keys[f->n_meta - 1] || !f->meta_values[f->n_meta - 1]) {
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                goto fail;
            }
        }
    }

    f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
    if (!f->tensors) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        lsc_st_tensor *t = &f->tensors[f->n_tensors];
        t->name = strdup(key);
        if (!t->name) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        f->n_tensors++;
        if ((st = parse_entry(name, t, val, err)) != LSC_OK)
            goto fail;
    }
    json_decref(root);
    root = NULL;

    if ((st = order_and_check_spans(f, err)) != LSC_OK)
        goto fail;
    uint64_t data_len = f->n_tensors ? f->tensors[f->n_tensors - 1].end : 0;
    uint64_t want = 8 + n + data_len; /* n <= 1e8 and data_len < 2^63: no overflow */
    if (check_size && want < file_size) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, name, NULL,
                             "%" PRIu64 " trailing bytes after the data (header and data end at byte %" PRIu64 ")",
                             file_size - want, want);
        goto fail;
    }
    if (check_size && want > file_size) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, name, NULL,
                             "file is truncated: the data ends at byte %" PRIu64 " but the file has %" PRIu64 " bytes",
                             want, file_size);
        goto fail;
    }
    if (!check_size)
        f->file_size = want;
    if ((st = build_name_index(f, err)) != LSC_OK)
        goto fail;
    *out = f;
    return LSC_OK;
fail:
    json_decref(root);
    lsc_st_close(f);
    return st;
}

lsc_status lsc_st_parse(const char *name, const void *buf, size_t len, uint64_t file_size, lsc_st_file **out,
                        lsc_error *err)
{
    *out = NULL;
    if (len > file_size)
        return lsc_format_fail(err, LSC_ERR_INVALID, name, NULL, "%zu bytes given for a file of %" PRIu64, len,
                               file_size);
    if (file_size < 8)
        return lsc_format_fail(err, LSC_ERR_FORMAT, name, NULL,
                               "file is too short (%" PRIu64 " bytes) to hold the 8-byte header length", file_size);
    if (len < 8)
        return lsc_format_fail(err, LSC_ERR_INVALID, name, NULL, "the first 8 bytes are needed, %zu given", len);
    uint64_t n = le64(buf);
    lsc_status st = check_header_len(name, n, file_size, err);
    if (st != LSC_OK)
        return st;
    if (n > len - 8)
        return lsc_format_fail(err, LSC_ERR_INVALID, name, NULL, "only %zu of the %" PRIu64 " header bytes given",
                               len - 8, n);
    char *header = malloc((size_t)n + 1);
    if (!header)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    memcpy(header, (const unsigned char *)buf + 8, (size_t)n);
    header[n] = '\0';
    return parse_core(name, header, n, file_size, 1, out, err);
}

lsc_status lsc_st_open(const char *path, lsc_st_file **out, lsc_error *err)
{
    lsc_status st = LSC_OK;
    char *header = NULL;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lsc_format_io_fail(err, "open", path, errno);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = lsc_format_io_fail(err, "stat", path, errno);
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = lsc_format_fail(err, LSC_ERR_IO, path, NULL, "not a regular file");
        goto fail;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        st = lsc_format_fail(err, LSC_ERR_FORMAT, path, NULL,
                             "file is too short (%" PRIu64 " bytes) to hold the 8-byte header length", size);
        goto fail;
    }
    unsigned char lenbuf[8];
    int r = lsc_pread_full(fd, lenbuf, 8, 0);
    if (r != 0) {
        st = r < 0 ? lsc_format_io_fail(err, "read", path, errno)
                   : lsc_format_fail(err, LSC_ERR_IO, path, NULL, "file shrank while being read");
        goto fail;
    }
    uint64_t n = le64(lenbuf);
    if ((st = check_header_len(path, n, size, err)) != LSC_OK)
        goto fail;
    header = malloc((size_t)n + 1);
    if (!header) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    r = lsc_pread_full(fd, header, (size_t)n, 8);
    if (r != 0) {
        st = r < 0 ? lsc_format_io_fail(err, "read", path, errno)
                   : lsc_format_fail(err, LSC_ERR_IO, path, NULL, "file shrank while being read");
        goto fail;
    }
    header[n] = '\0';
    lsc_st_file *f;
    st = parse_core(path, header, n, size, 1, &f, err);
    header = NULL; /* parse_core owns it now */
    if (st != LSC_OK)
        goto fail;
    f->fd = fd;
    *out = f;
    return LSC_OK;
fail:
    free(header);
    close(fd);
    return st;
}

long lsc_st_find(const lsc_st_file *f, const char *name)
{
    if (!f || !name)
        return -1;
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->tensors[f->by_name[mid]].name);
        if (c == 0)
            return (long)f->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

lsc_status lsc_st_read(lsc_st_file *f, size_t i, void *dst, lsc_error *err)
{
    if (i >= f->n_tensors)
        return lsc_format_fail(err, LSC_ERR_INVALID, f->path, NULL, "no tensor number %zu (the file has %zu)", i,
                               f->n_tensors);
    const lsc_st_tensor *t = &f->tensors[i];
    if (f->fd < 0)
        return lsc_format_fail(err, LSC_ERR_INVALID, f->path, t->name, "parsed from memory: no data to read");
    uint64_t nbytes = t->end - t->begin;
    if (nbytes > SIZE_MAX)
        return lsc_format_fail(err, LSC_ERR_NOMEM, f->path, t->name, "%" PRIu64 " bytes do not fit in memory", nbytes);
    int r = lsc_pread_full(f->fd, dst, (size_t)nbytes, 8 + f->header_len + t->begin);
    if (r < 0)
        return lsc_format_io_fail(err, "read", f->path, errno);
    if (r > 0)
        return lsc_format_fail(err, LSC_ERR_IO, f->path, t->name,
                               "unexpected end of file (was it truncated after opening?)");
    return LSC_OK;
}

void lsc_st_close(lsc_st_file *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->tensors);
    free(f->by_name);
    free(f->header);
    free(f->path);
    free(f);
}

/* ---- writing ----------------------------------------------------------------------------------- */

struct lsc_st_writer {
    char *path;
    lsc_atomic_file af;  /* the temporary file renamed over path by finish */
    lsc_st_file *layout; /* the validated header: sizes and data order of what must be put */
    size_t next;         /* index in layout->tensors of the next tensor to put */
    int failed;          /* a write failed: only abort or finish (which fails) remain */
};

/* A JSON string as serde_json (the Rust safetensors library) writes it: `"` and `\` escaped, the short
 * escapes \b \f \n \r \t, other control bytes as \u00xx, everything else (UTF-8 included) raw. */
static void sb_json_string(lsc_strbuf *b, const char *s)
{
    lsc_strbuf_putn(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"':
            lsc_strbuf_putn(b, "\\\"", 2);
            break;
        case '\\':
            lsc_strbuf_putn(b, "\\\\", 2);
            break;
        case '\b':
            lsc_strbuf_putn(b, "\\b", 2);
            break;
        case '\f':
            lsc_strbuf_putn(b, "\\f", 2);
            break;
        case '\n':
            lsc_strbuf_putn(b, "\\n", 2);
            break;
        case '\r':
            lsc_strbuf_putn(b, "\\r", 2);
            break;
        case '\t':
            lsc_strbuf_putn(b, "\\t", 2);
            break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                lsc_strbuf_putn(b, esc, 6);
            } else {
                lsc_strbuf_putn(b, (const char *)p, 1);
            }
        }
    }
    lsc_strbuf_putn(b, "\"", 1);
}

/* Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF), as JSON readers demand. */
static int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int len;
        unsigned cp, min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += len;
    }
    return 1;
}

/* Create the temporary file next to `path` (lsc_atomic_begin: symbolic links followed, only a regular
 * file replaced) and write the 8-byte length and the header. On success w->af is open. */
static lsc_status writer_open_tmp(lsc_st_writer *w, lsc_error *err)
{
    const char *slash = strrchr(w->path, '/');
    if (*(slash ? slash + 1 : w->path) == '\0')
        return lsc_format_fail(err, LSC_ERR_INVALID, w->path, NULL, "not a file name");
    lsc_status st = lsc_atomic_begin(&w->af, w->path, err);
    if (st)
        return st;

    unsigned char len8[8];
    uint64_t n = w->layout->header_len;
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(n >> (8 * i));
    if (lsc_write_full(w->af.fd, len8, 8) != 0 || lsc_write_full(w->af.fd, w->layout->header, (size_t)n) != 0)
        return lsc_format_io_fail(err, "write", w->path, errno);
    return LSC_OK;
}

/* Validate header (owned from here on), make the writer and its temporary file. A header built from the
 * caller's tensor list (built = 1) that fails validation is the caller's mistake: LSC_ERR_INVALID. */
static lsc_status writer_start(const char *path, char *header, size_t header_len, int built, lsc_st_writer **out,
                               lsc_error *err)
{
    lsc_status st;
    lsc_st_writer *w = calloc(1, sizeof *w);
    if (!w) {
        free(header);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    w->af.fd = -1;
    w->path = strdup(path);
    if (!w->path) {
        free(header);
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = parse_core(path, header, header_len, 0, 0, &w->layout, err)) != LSC_OK) {
        if (built && st == LSC_ERR_FORMAT) {
            st = LSC_ERR_INVALID;
            if (err)
                err->code = st;
        }
        goto fail;
    }
    if ((st = writer_open_tmp(w, err)) != LSC_OK)
        goto fail;
    *out = w;
    return LSC_OK;
fail:
    lsc_st_writer_abort(w);
    return st;
}

lsc_status lsc_st_writer_begin(const char *path, const lsc_st_out *tensors, size_t n, const char *const *meta_keys,
                               const char *const *meta_values, size_t n_meta, lsc_st_writer **out, lsc_error *err)
{
    lsc_status st = LSC_OK;
    lsc_strbuf b = {0};
    char num[64], sh[256];
    *out = NULL;

    lsc_strbuf_puts(&b, "{");
    if (n_meta > 0 && (!meta_keys || !meta_values)) {
        st = lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "%zu metadata entries announced, none given", n_meta);
        goto fail;
    }
    if (n > 0 && !tensors) {
        st = lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "%zu tensors announced, none given", n);
        goto fail;
    }
    if (n_meta > 0) {
        lsc_strbuf_puts(&b, "\"__metadata__\":{");
        for (size_t i = 0; i < n_meta; i++) {
            if (!meta_keys[i] || !meta_values[i] || !utf8_valid(meta_keys[i]) || !utf8_valid(meta_values[i])) {
                st = lsc_format_fail(err, LSC_ERR_INVALID, path, NULL,
                                     "metadata entry %zu is missing or not valid UTF-8", i);
                goto fail;
            }
            if (i)
                lsc_strbuf_puts(&b, ",");
            sb_json_string(&b, meta_keys[i]);
            lsc_strbuf_puts(&b, ":");
            sb_json_string(&b, meta_values[i]);
        }
        lsc_strbuf_puts(&b, "}");
    }
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const lsc_st_out *t = &tensors[i];
        if (!t->name || !utf8_valid(t->name)) {
            st = lsc_format_fail(err, LSC_ERR_INVALID, path, NULL,
                                 "tensor %zu has no name or one that is not valid UTF-8", i);
            goto fail;
        }
        if (strcmp(t->name, "__metadata__") == 0) {
            st = lsc_format_fail(err, LSC_ERR_INVALID, path, t->name, "reserved name");
            goto fail;
        }
        if ((unsigned)t->dtype >= LSC_DT_COUNT) {
            st = lsc_format_fail(err, LSC_ERR_INVALID, path, t->name, "invalid dtype");
            goto fail;
        }
        if (t->ndim < 0 || t->ndim > LSC_MAX_NDIM || (t->ndim > 0 && !t->shape)) {
            st = lsc_format_fail(err, LSC_ERR_INVALID, path, t->name, "%d dimensions (0 to %d allowed)", t->ndim,
                                 LSC_MAX_NDIM);
            goto fail;
        }
        uint64_t bytes = lsc_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) {
            uint64_t dim = (uint64_t)t->shape[d];
            if (t->shape[d] < 0 || (dim != 0 && bytes > (uint64_t)INT64_MAX / dim)) {
                format_shape(sh, sizeof sh, t->shape, t->ndim);
                st = lsc_format_fail(err, LSC_ERR_INVALID, path, t->name, "shape %s is negative or too large", sh);
                goto fail;
            }
            bytes *= dim;
        }
        if (bytes > (uint64_t)INT64_MAX - pos) {
            st = lsc_format_fail(err, LSC_ERR_INVALID, path, t->name, "data would pass 2^63 bytes");
            goto fail;
        }
        if (i || n_meta)
            lsc_strbuf_puts(&b, ",");
        sb_json_string(&b, t->name);
        lsc_strbuf_puts(&b, ":{\"dtype\":\"");
        lsc_strbuf_puts(&b, lsc_dtype_name(t->dtype));
        lsc_strbuf_puts(&b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t->shape[d]);
            lsc_strbuf_puts(&b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", pos, pos + bytes);
        lsc_strbuf_puts(&b, num);
        pos += bytes;
    }
    lsc_strbuf_puts(&b, "}");
    while (!b.oom && b.len % 8 != 0)
        lsc_strbuf_puts(&b, " ");
    if (b.oom) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (b.len > LSC_ST_MAX_HEADER) {
        st = lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "header of %zu bytes exceeds the limit of %llu", b.len,
                             LSC_ST_MAX_HEADER);
        goto fail;
    }
    /* the reader checks what is left (duplicate names) and gives the data order, here the order given */
    return writer_start(path, b.s, b.len, 1, out, err);
fail:
    free(b.s);
    return st;
}

lsc_status lsc_st_writer_begin_verbatim(const char *path, const char *header, size_t header_len,
                                        lsc_st_writer **out, lsc_error *err)
{
    *out = NULL;
    if (header_len > LSC_ST_MAX_HEADER)
        return lsc_format_fail(err, LSC_ERR_INVALID, path, NULL, "header of %zu bytes exceeds the limit of %llu",
                               header_len, LSC_ST_MAX_HEADER);
    char *copy = malloc(header_len + 1);
    if (!copy)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    memcpy(copy, header, header_len);
    copy[header_len] = '\0';
    return writer_start(path, copy, header_len, 0, out, err);
}

lsc_status lsc_st_writer_put(lsc_st_writer *w, const void *data, size_t nbytes, lsc_error *err)
{
    if (w->failed)
        return lsc_format_fail(err, LSC_ERR_IO, w->path, NULL, "an earlier write failed");
    if (w->next >= w->layout->n_tensors)
        return lsc_format_fail(err, LSC_ERR_INVALID, w->path, NULL, "all %zu tensors are already written",
                               w->layout->n_tensors);
    const lsc_st_tensor *t = &w->layout->tensors[w->next];
    uint64_t want = t->end - t->begin;
    if (nbytes != want)
        return lsc_format_fail(err, LSC_ERR_INVALID, w->path, t->name, "%zu bytes given, %" PRIu64 " declared", nbytes,
                               want);
    if (nbytes > 0 && lsc_write_full(w->af.fd, data, nbytes) != 0) {
        w->failed = 1;
        return lsc_format_io_fail(err, "write", w->path, errno);
    }
    w->next++;
    return LSC_OK;
}

lsc_status lsc_st_writer_finish(lsc_st_writer *w, lsc_error *err)
{
    lsc_status st = LSC_OK;
    if (w->failed)
        st = lsc_format_fail(err, LSC_ERR_IO, w->path, NULL, "an earlier write failed");
    else if (w->next < w->layout->n_tensors)
        st = lsc_format_fail(err, LSC_ERR_INVALID, w->path, w->layout->tensors[w->next].name,
                             "not written (only %zu of %zu tensors were put)", w->next, w->layout->n_tensors);
    else
        st = lsc_atomic_commit(&w->af, err); /* fsync, rename into place, fsync the folder */
    lsc_st_writer_abort(w);
    return st;
}

void lsc_st_writer_abort(lsc_st_writer *w)
{
    if (!w)
        return;
    lsc_atomic_abort(&w->af);
    free(w->path);
    lsc_st_close(w->layout);
    free(w);
}

/* ---- adapters read from a safetensors file ----------------------------------------------------------- */

lsc_status lsc_st_tensor_loader(lsc_adapter *ad, size_t i, lsc_error *err)
{
    lsc_st_file *f = ad->load_ctx;
    lsc_tensor *t = &ad->tensors[i];
    char q[256];
    if (!f || t->src < 0 || (size_t)t->src >= f->n_tensors)
        return lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s' has no source", lsc_escape_name(q, sizeof q, t->key));
    uint8_t *buf = malloc(t->nbytes ? t->nbytes : 1);
    if (!buf)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory loading tensor '%s' (%zu bytes)",
                             lsc_escape_name(q, sizeof q, t->key), t->nbytes);
    lsc_status st = lsc_st_read(f, (size_t)t->src, buf, err);
    if (st) {
        free(buf);
        return st;
    }
    t->data = buf;
    return LSC_OK;
}

void lsc_st_loader_free(void *ctx)
{
    lsc_st_close(ctx);
}

lsc_status lsc_st_adapter_new(lsc_st_file *f, lsc_adapter **out, lsc_error *err)
{
    lsc_adapter *ad = *out = lsc_adapter_new();
    if (!ad) {
        lsc_st_close(f);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    ad->load = lsc_st_tensor_loader;
    ad->load_ctx = f;
    ad->load_ctx_free = lsc_st_loader_free;
    return LSC_OK;
}

lsc_status lsc_st_adapter_describe(lsc_adapter *ad, const lsc_st_file *f, const char *format, const char *path,
                                   const char *base_model, lsc_error *err)
{
    ad->format = strdup(format);
    ad->source = strdup(path);
    ad->header_json = strdup(f->header);
    ad->base_model = strdup(base_model);
    if (!ad->format || !ad->source || !ad->header_json || !ad->base_model ||
        (f->n_meta && !(ad->metadata_json = lsc_st_metadata_json(f))))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    return LSC_OK;
}

lsc_status lsc_st_meta_arrays(const struct json_t *object, int skip_other, const char ***keys, const char ***vals,
                              size_t *n, lsc_error *err)
{
    json_t *o = (json_t *)object; /* jansson's iteration takes a non-const object; nothing is changed */
    size_t cnt = json_object_size(o);
    *n = 0;
    *keys = calloc(cnt ? cnt : 1, sizeof **keys);
    *vals = calloc(cnt ? cnt : 1, sizeof **vals);
    if (!*keys || !*vals) {
        free(*keys);
        free(*vals);
        *keys = *vals = NULL;
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!json_is_string(v)) {
            if (skip_other)
                continue;
            char ke[ESC_CAP];
            free(*keys);
            free(*vals);
            *keys = *vals = NULL;
            *n = 0;
            return lsc_error_set(err, LSC_ERR_INVALID, "adapter metadata '%s' is not a string",
                                 lsc_escape_name(ke, sizeof ke, k));
        }
        (*keys)[*n] = k;
        (*vals)[*n] = json_string_value(v);
        (*n)++;
    }
    return LSC_OK;
}

char *lsc_st_metadata_json(const lsc_st_file *f)
{
    if (f->n_meta == 0)
        return NULL;
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (size_t i = 0; i < f->n_meta; i++)
        json_object_set_new(o, f->meta_keys[i], json_string(f->meta_values[i]));
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    return s;
}

int lsc_st_header_reusable(const lsc_adapter *ad)
{
    if (!ad->header_json)
        return 0;
    size_t hlen = strlen(ad->header_json);
    uint64_t data = 0;
    for (size_t i = 0; i < ad->n_tensors; i++)
        data += ad->tensors[i].nbytes;
    uint8_t *buf = malloc(8 + hlen);
    if (!buf)
        return 0;
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, ad->header_json, hlen);
    lsc_st_file *f = NULL;
    lsc_error e;
    int ok = lsc_st_parse("header", buf, 8 + hlen, 8 + hlen + data, &f, &e) == LSC_OK;
    free(buf);
    if (ok)
        ok = f->n_tensors == ad->n_tensors;
    for (size_t i = 0; ok && i < ad->n_tensors; i++) {
        const lsc_tensor *t = &ad->tensors[i];
        const lsc_st_tensor *s = &f->tensors[i];
        ok = strcmp(t->key, s->name) == 0 && t->dtype == s->dtype && t->ndim == s->ndim;
        for (int d = 0; ok && d < t->ndim; d++)
            ok = t->shape[d] == s->shape[d];
    }
    if (ok) {
        char *meta = lsc_st_metadata_json(f);
        ok = (meta == NULL && ad->metadata_json == NULL) ||
             (meta && ad->metadata_json && strcmp(meta, ad->metadata_json) == 0);
        free(meta);
    }
    lsc_st_close(f);
    return ok;
}
