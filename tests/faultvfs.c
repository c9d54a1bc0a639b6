/* faultvfs.c: see faultvfs.h. Test support only.
 * A file opened through the shim is our struct followed by the real VFS's file object; every method
 * forwards to the real one, the three armed kinds after a check. */
#include "faultvfs.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fv_file {
    sqlite3_file base;  /* our methods */
    sqlite3_file *real; /* points just past this struct */
    const char *name;   /* for FAULTVFS_TRACE */
} fv_file;

static sqlite3_vfs g_vfs, *g_real;
static sqlite3_io_methods g_methods;
static unsigned g_ops;
static long g_nth, g_count, g_failed;
static int g_code, g_sticky, g_armed;
static char g_first[64]; /* "sync wal" ...: the first failed call */

void faultvfs_arm(unsigned ops, long nth, int code, int sticky)
{
    g_ops = ops;
    g_nth = nth;
    g_code = code;
    g_sticky = sticky;
    g_count = g_failed = 0;
    g_armed = nth > 0;
    g_first[0] = '\0';
}

void faultvfs_disarm(void)
{
    g_armed = 0;
}

long faultvfs_count(void)
{
    return g_count;
}

long faultvfs_failed(void)
{
    return g_failed;
}

const char *faultvfs_first_failed(void)
{
    return g_first;
}

/* Count a call of kind `op` on file f; non-zero when it must fail. FAULTVFS_TRACE=1 in the environment
 * prints each counted call (to find which one a failing N is). */
static int fault(sqlite3_file *f, unsigned op, sqlite3_int64 off, int n)
{
    if (!(g_ops & op))
        return 0;
    g_count++;
    if (getenv("FAULTVFS_TRACE"))
        fprintf(stderr, "faultvfs: call %ld: %s %s at %lld (%d bytes)%s\n", g_count,
                op == FAULTVFS_WRITE ? "write" : op == FAULTVFS_SYNC ? "sync" : "truncate",
                ((fv_file *)f)->name ? ((fv_file *)f)->name : "?", (long long)off, n,
                g_armed && (g_count == g_nth || (g_sticky && g_count > g_nth)) ? " FAILED" : "");
    if (g_armed && (g_count == g_nth || (g_sticky && g_count > g_nth))) {
        if (!g_failed++) {
            const char *name = ((fv_file *)f)->name;
            size_t n = name ? strlen(name) : 0;
            snprintf(g_first, sizeof g_first, "%s %s",
                     op == FAULTVFS_WRITE ? "write" : op == FAULTVFS_SYNC ? "sync" : "truncate",
                     n > 4 && strcmp(name + n - 4, "-wal") == 0 ? "wal" : n > 8 && strcmp(name + n - 8, "-journal") == 0 ? "journal" : "db");
        }
        return 1;
    }
    return 0;
}

#define REAL(f) (((fv_file *)(f))->real)

static int fv_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int fv_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
/* SQLITE_IOERR becomes the extended code a real failure of that call would give. */
static int code_for(unsigned op)
{
    if (g_code != SQLITE_IOERR)
        return g_code;
    return op == FAULTVFS_WRITE ? SQLITE_IOERR_WRITE : op == FAULTVFS_SYNC ? SQLITE_IOERR_FSYNC : SQLITE_IOERR_TRUNCATE;
}
static int fv_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    return fault(f, FAULTVFS_WRITE, o, n) ? code_for(FAULTVFS_WRITE) : REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int fv_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return fault(f, FAULTVFS_TRUNCATE, size, 0) ? code_for(FAULTVFS_TRUNCATE) : REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int fv_sync(sqlite3_file *f, int flags)
{
    return fault(f, FAULTVFS_SYNC, 0, flags) ? code_for(FAULTVFS_SYNC) : REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int fv_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int fv_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int fv_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int fv_check_lock(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int fv_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int fv_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int fv_devchar(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int fv_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}
static int fv_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void fv_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int fv_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int fv_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp);
}
static int fv_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static int fv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    (void)vfs;
    fv_file *f = (fv_file *)file;
    f->real = (sqlite3_file *)(f + 1);
    f->name = name;
    int rc = g_real->xOpen(g_real, name, f->real, flags, out_flags);
    /* SQLite calls xClose only when pMethods is set; leave it NULL if the real open failed */
    f->base.pMethods = rc == SQLITE_OK && f->real->pMethods ? &g_methods : NULL;
    if (rc == SQLITE_OK && f->real->pMethods)
        g_methods.iVersion = f->real->pMethods->iVersion < 3 ? f->real->pMethods->iVersion : 3;
    return rc;
}

static int fv_delete(sqlite3_vfs *v, const char *n, int sync)
{
    (void)v;
    return g_real->xDelete(g_real, n, sync);
}
static int fv_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    (void)v;
    return g_real->xAccess(g_real, n, flags, out);
}
static int fv_fullpath(sqlite3_vfs *v, const char *n, int cap, char *out)
{
    (void)v;
    return g_real->xFullPathname(g_real, n, cap, out);
}
static void *fv_dlopen(sqlite3_vfs *v, const char *n)
{
    (void)v;
    return g_real->xDlOpen(g_real, n);
}
static void fv_dlerror(sqlite3_vfs *v, int n, char *msg)
{
    (void)v;
    g_real->xDlError(g_real, n, msg);
}
static void (*fv_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return g_real->xDlSym(g_real, h, sym);
}
static void fv_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    g_real->xDlClose(g_real, h);
}
static int fv_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return g_real->xRandomness(g_real, n, out);
}
static int fv_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return g_real->xSleep(g_real, us);
}
static int fv_time(sqlite3_vfs *v, double *t)
{
    (void)v;
    return g_real->xCurrentTime(g_real, t);
}
static int fv_lasterr(sqlite3_vfs *v, int n, char *msg)
{
    (void)v;
    return g_real->xGetLastError ? g_real->xGetLastError(g_real, n, msg) : 0;
}
static int fv_time64(sqlite3_vfs *v, sqlite3_int64 *t)
{
    (void)v;
    return g_real->xCurrentTimeInt64(g_real, t);
}

int faultvfs_register(void)
{
    if (g_real)
        return SQLITE_OK;
    sqlite3_initialize();
    g_real = sqlite3_vfs_find(NULL);
    if (!g_real)
        return SQLITE_ERROR;
    g_methods = (sqlite3_io_methods){3,          fv_close,      fv_read,     fv_write,     fv_truncate,
                                     fv_sync,    fv_size,       fv_lock,     fv_unlock,    fv_check_lock,
                                     fv_control, fv_sector,     fv_devchar,  fv_shm_map,   fv_shm_lock,
                                     fv_shm_barrier, fv_shm_unmap, fv_fetch, fv_unfetch};
    memset(&g_vfs, 0, sizeof g_vfs);
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = (int)sizeof(fv_file) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = "faultvfs";
    g_vfs.xOpen = fv_open;
    g_vfs.xDelete = fv_delete;
    g_vfs.xAccess = fv_access;
    g_vfs.xFullPathname = fv_fullpath;
    g_vfs.xDlOpen = fv_dlopen;
    g_vfs.xDlError = fv_dlerror;
    g_vfs.xDlSym = fv_dlsym;
    g_vfs.xDlClose = fv_dlclose;
    g_vfs.xRandomness = fv_random;
    g_vfs.xSleep = fv_sleep;
    g_vfs.xCurrentTime = fv_time;
    g_vfs.xGetLastError = fv_lasterr;
    g_vfs.xCurrentTimeInt64 = fv_time64;
    return sqlite3_vfs_register(&g_vfs, 1);
}
