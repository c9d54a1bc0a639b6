/* store/pack.h: the append-only pack file beside a catalog (CATALOG-pack) that holds the bytes of large
 * tensor blobs, so that they are written once (SQLite writes a blob twice: to the WAL, then again at the
 * checkpoint).
 *
 * This module only does the file I/O; the protocol lives in catalog.c, which owns the pack's index (the
 * `blobs` rows with a `pack_off`) and its committed end (the `pack` table), both inside SQLite:
 *  - bytes are appended only inside a write transaction (the SQLite write lock held: one writer), at the
 *    committed end recorded in the database, never at the file's size: what a crashed or rolled-back
 *    writer left past that end is garbage nothing refers to, and the next append overwrites it;
 *  - the pack is fdatasync'ed before the COMMIT that makes its new rows visible (catalog.c's commit hook);
 *  - readers (other processes too, on older WAL snapshots) pread committed ranges only, which no writer
 *    touches again, and check the bytes against the content hash.
 * Never includes curses, never prints. */
#ifndef LSC_PACK_H
#define LSC_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"

/* Blobs of this many bytes and more go to the pack; smaller ones stay inline in SQLite. */
#define LSC_PACK_MIN ((size_t)65536)

typedef struct lsc_pack lsc_pack;

/* A handle on PATH-pack for the catalog file `catalog_path` (opened and created by the first write and
 * kept open for the next; a handle that only reads opens the file for each read); `qpath` is the
 * catalog path as shown in messages. NULL when out of memory. Free with
 * lsc_pack_free (NULL: nothing). */
lsc_pack *lsc_pack_new(const char *catalog_path, const char *qpath);
void lsc_pack_free(lsc_pack *p);

/* The pack's file name (PATH-pack), owned by the handle. */
const char *lsc_pack_path(const lsc_pack *p);

/* Write n bytes at `off` (creating the file, and syncing its folder so the new name survives a power
 * loss). The caller holds the catalog's write lock and passes the committed end (or past it). Fails with
 * LSC_ERR_IO naming the pack. Marks the handle dirty until lsc_pack_sync. */
lsc_status lsc_pack_write(lsc_pack *p, int64_t off, const void *data, size_t n, lsc_error *err);

/* fdatasync the pack if anything was written since the last sync; LSC_ERR_IO on failure. */
lsc_status lsc_pack_sync(lsc_pack *p, lsc_error *err);

/* 1 when something was written and not yet synced. */
int lsc_pack_dirty(const lsc_pack *p);

/* Read n bytes at `off` into buf (the caller's, n bytes). A missing pack or a range past its end (a pack
 * lost or truncated behind the catalog's back) fails with LSC_ERR_FORMAT naming `what` (the tensor). */
lsc_status lsc_pack_read(lsc_pack *p, int64_t off, void *buf, size_t n, const char *what, lsc_error *err);

#endif
