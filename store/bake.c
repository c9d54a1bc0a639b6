/* bake.c: see bake.h. */
#include "bake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "format_util.h"

/* The next recomputed tensor read (and checked) on a thread of its own while the current one is being
 * recomputed, into the spare buffer: the reads and the hash checks were serial steps between tensors
 * with every worker idle. */
typedef struct reader {
    struct bk *k;
    size_t ti;
    unsigned char *buf;
    int wb_fd; /* output whose writeback the reader starts first (off the main thread), -1 none */
    int running;
    pthread_t th;
    lsc_status st;
    lsc_error err;
} reader;

typedef struct bk {
    lsc_base *b;
    const lsc_bake_ops *ops;
    unsigned char *raw, *out, *spare;
    size_t raw_cap, out_cap, spare_cap;
    uint64_t done, total;
    reader rd;
} bk;

/* Copy len bytes at offset off of fd `in` to `out`: at its offset `at`, or at its current offset when at
 * is -1. Safe from several threads (no shared buffer; with at >= 0 the fd's offset is not used). */
static lsc_status copy_range_at(int in, uint64_t off, int out, int64_t at, uint64_t len, const char *inpath,
                                const char *outpath, lsc_error *err)
{
    loff_t o = (loff_t)off, oo = (loff_t)at;
    unsigned char *buf = NULL;
    lsc_status st = LSC_OK;
    while (len > 0 && !st) {
        ssize_t n = buf ? -1 : copy_file_range(in, &o, out, at >= 0 ? &oo : NULL, len > (1u << 30) ? (1u << 30) : (size_t)len, 0);
        if (n > 0) {
            len -= (uint64_t)n;
            continue;
        }
        if (n == 0) {
            st = lsc_format_fail(err, LSC_ERR_IO, inpath, NULL, "truncated: the file ended while copying");
            break;
        }
        if (!buf && errno == EINTR)
            continue;
        if (!buf && errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) {
            st = lsc_format_io_fail(err, "write", outpath, errno);
            break;
        }
        /* no kernel copy between these files: read and write */
        enum { CHUNK = 1 << 20 };
        if (!buf && !(buf = malloc(CHUNK))) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            break;
        }
        size_t k = len > CHUNK ? CHUNK : (size_t)len;
        int rc = lsc_pread_full(in, buf, k, (uint64_t)o);
        if (rc)
            st = rc < 0 ? lsc_format_io_fail(err, "read", inpath, errno)
                        : lsc_format_fail(err, LSC_ERR_IO, inpath, NULL, "truncated: the file ended while copying");
        else if (at >= 0) {
            lsc_bake_out bo = {out, 0, outpath};
            st = lsc_bake_out_write(&bo, (uint64_t)oo, buf, k, err);
        } else if (lsc_write_full(out, buf, k))
            st = lsc_format_io_fail(err, "write", outpath, errno);
        o += (loff_t)k, oo += (loff_t)k;
        len -= k;
    }
    free(buf);
    return st;
}

static lsc_status copy_range(int in, uint64_t off, int out, uint64_t len, const char *inpath, const char *outpath,
                             lsc_error *err)
{
    return copy_range_at(in, off, out, -1, len, inpath, outpath, err);
}

lsc_status lsc_bake_out_write(void *out, uint64_t off, const void *p, size_t n, lsc_error *err)
{
    const lsc_bake_out *o = out;
    const unsigned char *b = p;
    off += o->at;
    while (n > 0) {
        ssize_t w = pwrite(o->fd, b, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return lsc_format_io_fail(err, "write", o->path, w < 0 ? errno : EIO);
        b += w, off += (uint64_t)w, n -= (size_t)w;
    }
    return LSC_OK;
}

/* Ask the kernel to start writing out fd's dirty pages now, without waiting for them: the bake produces
 * data faster than the disk takes it, and leaving it all dirty until the commit's fsync made each shard
 * end with a wait of its whole size (0.2-0.4 s per ~600 MB shard) while every core sat idle. Started
 * early, the writeback overlaps the merging and the fsync only waits for the tail. Advisory: an error
 * here is not one (the fsync at commit reports any real one). */
static void start_writeback(int fd)
{
#ifdef SYNC_FILE_RANGE_WRITE
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
#endif
}

static int grow(unsigned char **p, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    free(*p);
    *cap = 0;
    if (!(*p = malloc(n ? n : 1)))
        return -1;
    *cap = n;
    return 0;
}

static uint64_t out_bytes(const lsc_base_tensor *t, lsc_dtype dt)
{
    return dt == LSC_DT_INVALID ? t->nbytes : (uint64_t)lsc_base_numel(t) * lsc_dtype_size(dt);
}

/* Tensor ti's bytes into buf, then the caller's check of them. */
static lsc_status read_checked(bk *k, size_t ti, unsigned char *buf, lsc_error *err)
{
    lsc_status st = lsc_base_read_raw(k->b, ti, buf, err);
    if (!st && k->ops->check)
        st = k->ops->check(k->ops->ctx, ti, buf, err);
    return st;
}

static void *reader_main(void *p)
{
    reader *r = p;
    if (r->wb_fd >= 0)
        start_writeback(r->wb_fd);
    r->st = read_checked(r->k, r->ti, r->buf, &r->err);
    return NULL;
}

/* Wait for the read-ahead, if any; its result is dropped (an error or the end of the bake). */
static void reader_join(bk *k)
{
    if (k->rd.running)
        pthread_join(k->rd.th, NULL);
    k->rd.running = 0;
}

/* k->raw := the bytes of tensor ti, checked: taken from the read-ahead when it was for ti. */
static lsc_status take_raw(bk *k, size_t ti, lsc_error *err)
{
    const lsc_base_tensor *t = &k->b->tensors[ti];
    if (k->rd.running && k->rd.ti == ti) {
        reader_join(k);
        unsigned char *x = k->raw;
        size_t c = k->raw_cap;
        k->raw = k->spare, k->raw_cap = k->spare_cap;
        k->spare = x, k->spare_cap = c;
        if (k->rd.st)
            *err = k->rd.err;
        return k->rd.st;
    }
    reader_join(k);
    if (grow(&k->raw, &k->raw_cap, (size_t)t->nbytes))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (tensor '%s')", t->name);
    return read_checked(k, ti, k->raw, err);
}

/* Start reading tensor `next` (if it is recomputed) into the spare buffer, after starting the writeback
 * of what fd `out` holds so far (its bytes are written by then: one tensor late, off the main thread,
 * whose sync_file_range calls were 5% of the bake's CPU with the workers waiting). Best effort: without
 * memory or a thread, take_raw reads it when its turn comes. 1 when the reader runs. */
static int read_ahead(bk *k, size_t next, int out)
{
    if (next >= k->b->n_tensors || k->ops->plan(k->ops->ctx, next) == LSC_DT_INVALID)
        return 0;
    if (grow(&k->spare, &k->spare_cap, (size_t)k->b->tensors[next].nbytes))
        return 0;
    k->rd = (reader){.k = k, .ti = next, .buf = k->spare, .wb_fd = out};
    k->rd.running = pthread_create(&k->rd.th, NULL, reader_main, &k->rd) == 0;
    return k->rd.running;
}

/* The first tensor of file fi after ti that is recomputed, SIZE_MAX if none. */
static size_t next_recomputed(const bk *k, size_t fi, size_t ti)
{
    for (size_t i = ti + 1; i < k->b->n_tensors; i++)
        if (k->b->tensors[i].file == fi && k->ops->plan(k->ops->ctx, i) != LSC_DT_INVALID)
            return i;
    return SIZE_MAX;
}

/* Write tensor ti (copied, or recomputed by the caller) at out's current offset; `next` is the tensor
 * that will be written after it (SIZE_MAX: none), read ahead while ti is recomputed. */
static lsc_status put_tensor(bk *k, size_t ti, size_t next, int out, const char *outpath, lsc_error *err)
{
    const lsc_base_tensor *t = &k->b->tensors[ti];
    const lsc_base_file *f = &k->b->files[t->file];
    lsc_dtype dt = k->ops->plan(k->ops->ctx, ti);
    lsc_status st;
    int deferred = 0; /* the read-ahead starts this tensor's writeback */
    if (dt == LSC_DT_INVALID) {
        st = copy_range(f->fd, t->offset, out, t->nbytes, f->path, outpath, err);
    } else if (k->ops->compute_at) { /* the caller writes the bytes in place (pwrite), then we move past */
        uint64_t nb = out_bytes(t, dt);
        off_t pos = lseek(out, 0, SEEK_CUR);
        if (pos < 0)
            return lsc_format_io_fail(err, "write", outpath, errno);
        lsc_bake_out o = {out, (uint64_t)pos, outpath};
        if ((st = take_raw(k, ti, err)))
            return st;
        deferred = read_ahead(k, next, out);
        if ((st = k->ops->compute_at(k->ops->ctx, ti, k->raw, &o, err)))
            return st;
        if (lseek(out, pos + (off_t)nb, SEEK_SET) < 0)
            return lsc_format_io_fail(err, "write", outpath, errno);
    } else {
        uint64_t nb = out_bytes(t, dt);
        if (grow(&k->raw, &k->raw_cap, (size_t)t->nbytes) || grow(&k->out, &k->out_cap, (size_t)nb))
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory (tensor '%s')", t->name);
        if ((st = read_checked(k, ti, k->raw, err)) || (st = k->ops->compute(k->ops->ctx, ti, k->raw, k->out, err)))
            return st;
        if (lsc_write_full(out, k->out, (size_t)nb))
            return lsc_format_io_fail(err, "write", outpath, errno);
    }
    if (!st && !deferred)
        start_writeback(out);
    if (!st && k->ops->progress) {
        k->done += t->nbytes;
        k->ops->progress(k->ops->ctx, k->done, k->total);
    }
    return st;
}

/* ---- safetensors ---------------------------------------------------------------------------------- */

/* The header of file fi with the planned dtypes: verbatim when nothing changes size, else the same JSON
 * (order and metadata kept) with new dtypes and offsets, padded with spaces to a multiple of 8. */
static lsc_status st_header(bk *k, size_t fi, char **hdr, uint64_t *len, uint64_t *data_bytes, lsc_error *err)
{
    const lsc_base_file *f = &k->b->files[fi];
    int changed = 0;
    *data_bytes = 0;
    for (size_t i = 0; i < k->b->n_tensors; i++) {
        const lsc_base_tensor *t = &k->b->tensors[i];
        if (t->file != fi)
            continue;
        lsc_dtype dt = k->ops->plan(k->ops->ctx, i);
        changed |= dt != LSC_DT_INVALID && dt != t->dtype;
        *data_bytes += out_bytes(t, dt);
    }
    if (!changed) {
        *hdr = f->st->header;
        *len = f->st->header_len;
        return LSC_OK;
    }
    json_t *root = json_loadb(f->st->header, (size_t)f->st->header_len, 0, NULL);
    if (!root)
        return lsc_format_fail(err, LSC_ERR_FORMAT, f->path, NULL, "header cannot be re-read");
    uint64_t off = 0;
    for (size_t i = 0; i < k->b->n_tensors; i++) { /* data order: tensors of a file were listed in it */
        const lsc_base_tensor *t = &k->b->tensors[i];
        if (t->file != fi)
            continue;
        lsc_dtype dt = k->ops->plan(k->ops->ctx, i);
        json_t *e = json_object_get(root, t->name);
        uint64_t nb = out_bytes(t, dt);
        if (dt != LSC_DT_INVALID)
            json_object_set_new(e, "dtype", json_string(lsc_dtype_name(dt)));
        json_object_set_new(e, "data_offsets", json_pack("[I, I]", (json_int_t)off, (json_int_t)(off + nb)));
        off += nb;
    }
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    size_t n = strlen(s), padded = (n + 7) / 8 * 8;
    char *p = realloc(s, padded + 1);
    if (!p) {
        free(s);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    memset(p + n, ' ', padded - n);
    p[padded] = '\0';
    *hdr = p;
    *len = padded;
    return LSC_OK;
}

/* The tensors of file fi copied as they are, by a thread of their own while the caller's workers
 * recompute the others: every output offset is known from the header, so the copies (kernel work:
 * copy_file_range) and the merged tensors' writes go to disjoint ranges and need no ordering. */
typedef struct copier {
    bk *k;
    size_t fi;
    int out;
    uint64_t pos; /* the first tensor's offset in the output */
    const char *outpath;
    lsc_status st;
    lsc_error err;
} copier;

static void *copier_main(void *p)
{
    copier *c = p;
    const lsc_base *b = c->k->b;
    uint64_t pos = c->pos;
    for (size_t i = 0; i < b->n_tensors && !c->st; i++) {
        const lsc_base_tensor *t = &b->tensors[i];
        if (t->file != c->fi)
            continue;
        lsc_dtype dt = c->k->ops->plan(c->k->ops->ctx, i);
        if (dt == LSC_DT_INVALID && !(c->st = copy_range_at(b->files[t->file].fd, t->offset, c->out, (int64_t)pos,
                                                             t->nbytes, b->files[t->file].path, c->outpath, &c->err)))
            start_writeback(c->out);
        pos += out_bytes(t, dt);
    }
    return NULL;
}

/* Every tensor of file fi at its place after the header (which ends at pos): sequentially, or, when the
 * caller writes recomputed tensors in place (compute_at) and the file has both kinds, the copies on a
 * copier thread beside the recomputation. */
static lsc_status put_tensors(bk *k, size_t fi, int out, uint64_t pos, const char *outpath, lsc_error *err)
{
    int copies = 0, merged = 0;
    for (size_t i = 0; i < k->b->n_tensors; i++)
        if (k->b->tensors[i].file == fi) {
            int c = k->ops->plan(k->ops->ctx, i) == LSC_DT_INVALID;
            copies |= c, merged |= !c;
        }
    copier c = {k, fi, out, pos, outpath, LSC_OK, {0}};
    pthread_t th;
    if (!k->ops->compute_at || !copies || !merged || pthread_create(&th, NULL, copier_main, &c) != 0) {
        lsc_status st = LSC_OK;
        for (size_t i = 0; i < k->b->n_tensors && !st; i++)
            if (k->b->tensors[i].file == fi)
                st = put_tensor(k, i, next_recomputed(k, fi, i), out, outpath, err);
        return st;
    }
    lsc_status st = LSC_OK;
    uint64_t copied = 0;
    for (size_t i = 0; i < k->b->n_tensors && !st; i++) {
        const lsc_base_tensor *t = &k->b->tensors[i];
        if (t->file != fi)
            continue;
        lsc_dtype dt = k->ops->plan(k->ops->ctx, i);
        if (dt == LSC_DT_INVALID)
            copied += t->nbytes;
        else if (lseek(out, (off_t)pos, SEEK_SET) < 0)
            st = lsc_format_io_fail(err, "write", outpath, errno);
        else
            st = put_tensor(k, i, next_recomputed(k, fi, i), out, outpath, err);
        pos += out_bytes(t, dt);
    }
    pthread_join(th, NULL);
    if (!st && c.st) {
        *err = c.err;
        st = c.st;
    }
    if (!st && k->ops->progress) {
        k->done += copied;
        k->ops->progress(k->ops->ctx, k->done, k->total);
    }
    return st;
}

static lsc_status bake_st_file(bk *k, size_t fi, const char *outpath, uint64_t *written, lsc_error *err)
{
    char *hdr = NULL;
    uint64_t hlen = 0, data = 0;
    lsc_status st = st_header(k, fi, &hdr, &hlen, &data, err);
    if (st)
        return st;
    lsc_atomic_file af;
    if ((st = lsc_atomic_begin(&af, outpath, err))) {
        if (hdr != k->b->files[fi].st->header)
            free(hdr);
        return st;
    }
    unsigned char n8[8];
    for (int i = 0; i < 8; i++)
        n8[i] = (unsigned char)(hlen >> (8 * i));
    if (lsc_write_full(af.fd, n8, 8) || lsc_write_full(af.fd, hdr, (size_t)hlen))
        st = lsc_format_io_fail(err, "write", outpath, errno);
    if (hdr != k->b->files[fi].st->header)
        free(hdr);
    if (!st)
        st = put_tensors(k, fi, af.fd, 8 + hlen, outpath, err);
    reader_join(k); /* a read-ahead may hold af.fd (writeback) */
    if (st) {
        lsc_atomic_abort(&af);
        return st;
    }
    *written = data;
    return lsc_atomic_commit(&af, err);
}

/* ---- sharded ---------------------------------------------------------------------------------------- */

static lsc_status copy_file(const char *from, const char *to, lsc_error *err)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (in < 0 || fstat(in, &sb) != 0) {
        if (in >= 0)
            close(in);
        return lsc_format_io_fail(err, "open", from, errno);
    }
    lsc_atomic_file af;
    lsc_status st = lsc_atomic_begin(&af, to, err);
    if (!st && (st = copy_range(in, 0, af.fd, (uint64_t)sb.st_size, from, to, err)))
        lsc_atomic_abort(&af);
    else if (!st)
        st = lsc_atomic_commit(&af, err);
    close(in);
    return st;
}

/* The index: copied byte for byte, or with metadata.total_size set to the new total when sizes changed. */
static lsc_status write_index(bk *k, const char *to, uint64_t total, int changed, lsc_error *err)
{
    if (!changed)
        return copy_file(k->b->index_path, to, err);
    json_t *root = json_load_file(k->b->index_path, 0, NULL);
    json_t *meta = root ? json_object_get(root, "metadata") : NULL;
    if (json_is_object(meta) && json_object_get(meta, "total_size"))
        json_object_set_new(meta, "total_size", json_integer((json_int_t)total));
    char *s = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (!s)
        return lsc_format_fail(err, LSC_ERR_FORMAT, k->b->index_path, NULL, "cannot be re-read");
    lsc_atomic_file af;
    lsc_status st = lsc_atomic_begin(&af, to, err);
    if (!st && (lsc_write_full(af.fd, s, strlen(s)) || lsc_write_full(af.fd, "\n", 1))) {
        st = lsc_format_io_fail(err, "write", to, errno);
        lsc_atomic_abort(&af);
    } else if (!st)
        st = lsc_atomic_commit(&af, err);
    free(s);
    return st;
}

/* Every other regular file of the base folder (config.json, tokenizer ...), byte for byte. */
static lsc_status copy_others(bk *k, const char *dir, const char *tmp, const char *index_name, lsc_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return lsc_format_io_fail(err, "open", dir, errno);
    lsc_status st = LSC_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, index_name) == 0)
            continue;
        int shard = 0;
        for (size_t i = 0; i < k->b->n_files && !shard; i++)
            shard = strcmp(k->b->files[i].rel, e->d_name) == 0;
        char *from = lsc_path_join(dir, e->d_name), *to = lsc_path_join(tmp, e->d_name);
        struct stat sb;
        if (!from || !to)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        else if (!shard && stat(from, &sb) == 0 && S_ISREG(sb.st_mode))
            st = copy_file(from, to, err);
        free(from);
        free(to);
    }
    closedir(d);
    return st;
}

static lsc_status bake_sharded(bk *k, const char *target, lsc_error *err)
{
    lsc_atomic_folder tx;
    lsc_status st = lsc_atomic_folder_begin(&tx, target, err);
    if (st)
        return st;
    uint64_t total = 0;
    int changed = 0;
    for (size_t i = 0; i < k->b->n_tensors; i++) {
        lsc_dtype dt = k->ops->plan(k->ops->ctx, i);
        changed |= dt != LSC_DT_INVALID && dt != k->b->tensors[i].dtype;
    }
    for (size_t fi = 0; fi < k->b->n_files && !st; fi++) {
        char *p = lsc_path_join(tx.tmp, k->b->files[fi].rel);
        uint64_t w = 0;
        st = p ? bake_st_file(k, fi, p, &w, err) : lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        total += w;
        free(p);
    }
    char *dir = strdup(k->b->index_path), *slash = dir ? strrchr(dir, '/') : NULL;
    const char *iname = slash ? slash + 1 : k->b->index_path;
    if (!st && !dir)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    char *ip = !st ? lsc_path_join(tx.tmp, iname) : NULL;
    if (!st)
        st = ip ? write_index(k, ip, total, changed, err) : lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (!st) {
        if (slash)
            *slash = '\0';
        st = copy_others(k, slash ? dir : ".", tx.tmp, iname, err);
    }
    free(ip);
    free(dir);
    if (st) {
        lsc_atomic_folder_abort(&tx);
        return st;
    }
    return lsc_atomic_folder_commit(&tx, err);
}

/* ---- GGUF ------------------------------------------------------------------------------------------- */

static int cmp_off(const void *x, const void *y, void *ctx)
{
    const lsc_base *b = ctx;
    uint64_t a = b->tensors[*(const size_t *)x].offset, c = b->tensors[*(const size_t *)y].offset;
    return (a > c) - (a < c);
}

static lsc_status bake_gguf(bk *k, const char *target, lsc_error *err)
{
    const lsc_base_file *f = &k->b->files[0];
    for (size_t i = 0; i < k->b->n_tensors; i++) {
        const lsc_base_tensor *t = &k->b->tensors[i];
        lsc_dtype dt = k->ops->plan(k->ops->ctx, i);
        if (dt != LSC_DT_INVALID && dt != t->dtype)
            return lsc_format_fail(err, LSC_ERR_UNSUPPORTED, f->path, t->name,
                                   "a GGUF bake keeps each tensor's type (%s)", t->dtype == LSC_DT_INVALID
                                                                                     ? "quantised: not recomputed"
                                                                                     : lsc_dtype_name(t->dtype));
    }
    size_t *order = malloc((k->b->n_tensors + 1) * sizeof *order);
    if (!order)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < k->b->n_tensors; i++)
        order[i] = i;
    qsort_r(order, k->b->n_tensors, sizeof *order, cmp_off, k->b);
    lsc_atomic_file af;
    lsc_status st = lsc_atomic_begin(&af, target, err);
    uint64_t pos = 0;
    for (size_t j = 0; j < k->b->n_tensors && !st; j++) {
        const lsc_base_tensor *t = &k->b->tensors[order[j]];
        if (t->offset > pos)
            st = copy_range(f->fd, pos, af.fd, t->offset - pos, f->path, target, err); /* header, padding */
        size_t next = SIZE_MAX; /* the next recomputed tensor in file order, read ahead */
        for (size_t q = j + 1; q < k->b->n_tensors && next == SIZE_MAX; q++)
            if (k->ops->plan(k->ops->ctx, order[q]) != LSC_DT_INVALID)
                next = order[q];
        if (!st)
            st = put_tensor(k, order[j], next, af.fd, target, err);
        pos = t->offset + t->nbytes;
    }
    if (!st && f->size > pos)
        st = copy_range(f->fd, pos, af.fd, f->size - pos, f->path, target, err);
    free(order);
    reader_join(k); /* a read-ahead may hold af.fd (writeback) */
    if (st) {
        lsc_atomic_abort(&af);
        return st;
    }
    return lsc_atomic_commit(&af, err);
}

lsc_status lsc_base_bake(lsc_base *b, const char *target, const lsc_bake_ops *ops, lsc_error *err)
{
    bk k = {.b = b, .ops = ops};
    for (size_t i = 0; i < b->n_tensors; i++)
        k.total += b->tensors[i].nbytes;
    lsc_status st;
    uint64_t w;
    if (b->kind == LSC_BASE_SHARDED)
        st = bake_sharded(&k, target, err);
    else if (b->kind == LSC_BASE_GGUF)
        st = bake_gguf(&k, target, err);
    else
        st = bake_st_file(&k, 0, target, &w, err);
    reader_join(&k);
    free(k.raw);
    free(k.out);
    free(k.spare);
    return st;
}
