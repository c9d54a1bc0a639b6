/* store/pack.c: file I/O of the append-only pack beside a catalog (see pack.h for the protocol, which
 * catalog.c runs). No SQLite here, never curses, never prints. */
#include "pack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct lsc_pack {
    char *path;  /* CATALOG-pack */
    char *qpath; /* the catalog as shown in messages */
    int fd;      /* the writer's descriptor, -1 until its first write (readers open one per read) */
    int dirty; /* written since the last sync */
};

lsc_pack *lsc_pack_new(const char *catalog_path, const char *qpath)
{
    lsc_pack *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->fd = -1;
    p->path = malloc(strlen(catalog_path) + 6);
    p->qpath = strdup(qpath ? qpath : catalog_path);
    if (!p->path || !p->qpath) {
        lsc_pack_free(p);
        return NULL;
    }
    sprintf(p->path, "%s-pack", catalog_path);
    return p;
}

void lsc_pack_free(lsc_pack *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    free(p->path);
    free(p->qpath);
    free(p);
}

const char *lsc_pack_path(const lsc_pack *p)
{
    return p->path;
}

int lsc_pack_dirty(const lsc_pack *p)
{
    return p && p->dirty;
}

/* fsync the folder holding `path`, so a file just created there keeps its name after a power loss. */
static int sync_parent(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return ENOMEM;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    int e = 0, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        e = errno;
    if (fd >= 0)
        close(fd);
    free(dir);
    return e;
}

/* Open the pack for writing (creating it) once. */
static lsc_status open_for_write(lsc_pack *p, lsc_error *err)
{
    if (p->fd >= 0)
        return LSC_OK;
    struct stat sb;
    int existed = stat(p->path, &sb) == 0;
    int fd = open(p->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return lsc_error_set(err, LSC_ERR_IO, "catalog '%s': cannot open its pack '%s': %s", p->qpath, p->path,
                             strerror(errno));
    int e = existed ? 0 : sync_parent(p->path);
    if (e) {
        close(fd);
        return lsc_error_set(err, LSC_ERR_IO, "catalog '%s': cannot sync the folder of its pack: %s", p->qpath,
                             strerror(e));
    }
    p->fd = fd;
    return LSC_OK;
}

lsc_status lsc_pack_write(lsc_pack *p, int64_t off, const void *data, size_t n, lsc_error *err)
{
    lsc_status st = open_for_write(p, err);
    if (st)
        return st;
    p->dirty = 1; /* even a partial write leaves bytes to sync (or to be overwritten) */
    const int64_t start = off;
    const size_t total = n;
    const unsigned char *b = data;
    while (n > 0) {
        ssize_t w = pwrite(p->fd, b, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return lsc_error_set(err, LSC_ERR_IO, "catalog '%s': cannot write its pack '%s': %s", p->qpath, p->path,
                                 w < 0 ? strerror(errno) : "no space written");
        b += w;
        n -= (size_t)w;
        off += w;
    }
#ifdef SYNC_FILE_RANGE_WRITE
    /* start the writeback now, so the disk works while the next tensors are read and their statistics
     * computed; only a hint: the commit's fdatasync (lsc_pack_sync) is what makes the bytes durable, and
     * it reports any error this one would have */
    (void)sync_file_range(p->fd, (off_t)start, (off_t)total, SYNC_FILE_RANGE_WRITE);
#else
    (void)start;
    (void)total;
#endif
    return LSC_OK;
}

lsc_status lsc_pack_sync(lsc_pack *p, lsc_error *err)
{
    if (!p || !p->dirty)
        return LSC_OK;
    if (fdatasync(p->fd) != 0)
        return lsc_error_set(err, LSC_ERR_IO, "catalog '%s': cannot sync its pack '%s': %s", p->qpath, p->path,
                             strerror(errno));
    p->dirty = 0;
    return LSC_OK;
}

lsc_status lsc_pack_read(lsc_pack *p, int64_t off, void *buf, size_t n, const char *what, lsc_error *err)
{
    /* a reading handle opens the file for each read and closes it again: a process may hold thousands
     * of adapters from the catalog, each with a handle, and must not hold a descriptor for each */
    int fd = p->fd >= 0 ? p->fd : open(p->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lsc_error_set(err, errno == ENOENT ? LSC_ERR_FORMAT : LSC_ERR_IO,
                             "catalog '%s': cannot read the bytes of tensor '%s' from its pack '%s': %s", p->qpath,
                             what, p->path, strerror(errno));
    lsc_status st = LSC_OK;
    unsigned char *b = buf;
    while (n > 0 && !st) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            st = lsc_error_set(err, LSC_ERR_IO, "catalog '%s': cannot read the bytes of tensor '%s' from its pack: %s",
                               p->qpath, what, strerror(errno));
        else if (r == 0)
            st = lsc_error_set(err, LSC_ERR_FORMAT,
                               "catalog '%s': the bytes of tensor '%s' are missing from its pack (truncated)",
                               p->qpath, what);
        else {
            b += r;
            n -= (size_t)r;
            off += r;
        }
    }
    if (fd != p->fd)
        close(fd);
    return st;
}
