/* fuzz-safetensors.c: the safetensors reader on arbitrary bytes.
 *
 * Each input is a whole file. It is validated from memory (lsc_st_parse) and, through a memfd, opened
 * like a file on disk (lsc_st_open) with every tensor read and, for float dtypes, converted to doubles.
 * Oracles beyond "no crash, no leak, no undefined behaviour": both paths agree on accepting the file;
 * an accepted file keeps every promise of safetensors.h (contiguous offsets from 0, byte counts equal
 * to shape x dtype size, no trailing bytes, name lookup consistent); a rejection carries a message.
 * Depends on store/safetensors and engine/dtype only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dtype.h"
#include "fuzz_util.h"
#include "safetensors.h"

static void check_promises(const lsc_st_file *f, size_t size)
{
    if (f->header_len + 8 > size || f->file_size != size)
        fuzz_fail("header length %llu outside a %zu-byte file", (unsigned long long)f->header_len, size);
    if (!f->header || strlen(f->header) > f->header_len)
        fuzz_fail("header text is not the N header bytes");
    uint64_t at = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const lsc_st_tensor *t = &f->tensors[i];
        if (t->begin != at || t->end < t->begin)
            fuzz_fail("tensor %zu: offsets [%llu, %llu) not contiguous at %llu", i, (unsigned long long)t->begin,
                      (unsigned long long)t->end, (unsigned long long)at);
        if (t->ndim < 0 || t->ndim > LSC_MAX_NDIM)
            fuzz_fail("tensor %zu: ndim %d", i, t->ndim);
        size_t es = lsc_dtype_size(t->dtype);
        unsigned long long numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0)
                fuzz_fail("tensor %zu: negative dimension", i);
            numel *= (unsigned long long)t->shape[d];
        }
        if (es && numel * es != t->end - t->begin)
            fuzz_fail("tensor %zu: %llu bytes for %llu elements of %zu bytes", i,
                      (unsigned long long)(t->end - t->begin), numel, es);
        if (lsc_st_find(f, t->name) != (long)i)
            fuzz_fail("lsc_st_find('%s') is not %zu", t->name, i);
        at = t->end;
    }
    if (8 + f->header_len + at != size)
        fuzz_fail("data ends at %llu, file has %zu bytes", (unsigned long long)(8 + f->header_len + at), size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsc_st_file *f = NULL;
    lsc_error err;
    lsc_error_clear(&err);
    lsc_status parsed = lsc_st_parse("fuzz.safetensors", data, size, size, &f, &err);
    if (parsed == LSC_OK) {
        check_promises(f, size);
        lsc_st_close(f);
    } else if (!err.msg[0]) {
        fuzz_fail("rejected with status %d but no message", (int)parsed);
    }

    int fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    f = NULL;
    lsc_error_clear(&err);
    lsc_status opened = lsc_st_open(path, &f, &err);
    if ((opened == LSC_OK) != (parsed == LSC_OK))
        fuzz_fail("lsc_st_parse says %d, lsc_st_open says %d (%s)", (int)parsed, (int)opened, err.msg);
    if (opened == LSC_OK) {
        for (size_t i = 0; i < f->n_tensors; i++) {
            const lsc_st_tensor *t = &f->tensors[i];
            size_t nb = (size_t)(t->end - t->begin);
            unsigned char *buf = malloc(nb ? nb : 1);
            if (!buf)
                abort();
            if (lsc_st_read(f, i, buf, &err) != LSC_OK)
                fuzz_fail("tensor %zu of an accepted file cannot be read: %s", i, err.msg);
            size_t es = lsc_dtype_size(t->dtype);
            if (lsc_dtype_is_float(t->dtype) && es) {
                double *d = malloc((nb / es + 1) * sizeof *d);
                if (!d)
                    abort();
                lsc_dtype_to_double(t->dtype, buf, nb / es, d);
                free(d);
            }
            free(buf);
        }
        lsc_st_close(f);
    }
    close(fd);
    return 0;
}
