/* faultvfs.h: an SQLite VFS shim for fault injection in tests.
 *
 * Registered as "faultvfs" and made the default, so every connection opened with a NULL VFS name (the
 * catalog's) goes through it. It forwards everything to the VFS that was the default before, and counts
 * the calls of the armed kinds (xWrite, xSync, xTruncate on any file: database, WAL, journal). When
 * armed with N, the Nth counted call fails with the given SQLite code instead of reaching the disk
 * (and, if sticky, every later one too: a disk that stays full). Not thread-safe: one test thread.
 * Depends on SQLite only. */
#ifndef LSC_FAULTVFS_H
#define LSC_FAULTVFS_H

#define FAULTVFS_WRITE 0x1u
#define FAULTVFS_SYNC 0x2u
#define FAULTVFS_TRUNCATE 0x4u
#define FAULTVFS_ALL 0x7u

/* Register (once) and make it the default VFS. Returns an SQLite result code. */
int faultvfs_register(void);

/* Start counting calls of the kinds in `ops` from zero; fail the nth (1-based; 0 = never) with `code`
 * (SQLITE_FULL, or SQLITE_IOERR which becomes SQLITE_IOERR_WRITE/_FSYNC/_TRUNCATE by call), and every
 * later one when `sticky`. */
void faultvfs_arm(unsigned ops, long nth, int code, int sticky);

/* Stop failing (counting goes on). */
void faultvfs_disarm(void);

/* Calls counted since the last arm, and how many of them were failed. */
long faultvfs_count(void);
long faultvfs_failed(void);

/* The first failed call since the last arm: "write wal", "sync wal", "sync db", "truncate db" ...; ""
 * if none failed. */
const char *faultvfs_first_failed(void);

#endif
