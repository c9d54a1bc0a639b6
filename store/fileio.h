/* fileio.h: the low-level file helpers the format readers and writers share: whole reads and writes that
 * survive short transfers and EINTR, and the one checked, atomic way to write a path a user named
 * (a file, or a folder of files). POSIX (Linux renameat2 where available); no SQLite, no curses. */
#ifndef LSC_FILEIO_H
#define LSC_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* "<dir>/<name>" in a new string (caller frees; NULL on out of memory). The slash is always put in, even
 * when dir ends with one: a path built so is the one the caller's messages and records show. */
char *lsc_path_join(const char *dir, const char *name);

/* Non-zero when p names a folder (lsc_is_dir) or a regular file (lsc_is_file), links followed; 0 when it
 * is something else or cannot be stat'ed. */
int lsc_is_dir(const char *p);
int lsc_is_file(const char *p);

/* Read exactly n bytes at offset off. 0 on success, -1 with errno set, 1 at a premature end of file. */
int lsc_pread_full(int fd, void *buf, size_t n, uint64_t off);

/* Write all n bytes at the current offset. 0 on success, -1 with errno set. */
int lsc_write_full(int fd, const void *buf, size_t n);

/* ---- writing a path a user named ------------------------------------------------------------------- */

typedef enum { LSC_TARGET_FILE, LSC_TARGET_FOLDER } lsc_target_kind;

/* The one policy check of an export target, for every format. `path` is what the user typed; symbolic
 * links of its last part are followed (an export writes through a link, it never replaces the link).
 * Refused, with a one-line message naming `path`: a parent folder that does not exist or is not a
 * folder; an existing target that is not a regular file (kind FILE) or not a folder (kind FOLDER), such
 * as a device, a FIFO or a socket; an existing target when `force` is 0; and, when `protect` is set (the
 * open catalog's path), the catalog itself or its -wal, -shm or -journal file (by name and by device and
 * inode), or for a folder one that holds the catalog. On success *resolved (caller frees) is the
 * canonical path to write: realpath of the parent folder plus the final name. */
lsc_status lsc_target_check(const char *path, lsc_target_kind kind, int force, const char *protect, char **resolved,
                            lsc_error *err);

/* One file written atomically: a temporary file next to the target, fsync'ed and renamed over it, so a
 * reader (or a crash) sees the old file or the new one, never a part. Fields are private. */
typedef struct lsc_atomic_file {
    int fd;     /* write the contents here */
    char *path; /* the file that will be replaced (symbolic links followed) */
    char *tmp;  /* the temporary file, NULL once renamed into place */
} lsc_atomic_file;

/* Start writing `path`: follows symbolic links of its last part, refuses (LSC_ERR_INVALID) a target that
 * exists and is not a regular file, and creates the temporary file (mode: the replaced file's, else 0644)
 * "DIR/.BASE.tmp-PID-XXXXXX", locked (flock) while this write lasts. First it removes the temporaries an
 * earlier write to the same target left when it was killed (same name pattern, regular files, the PID
 * gone and the lock free: fileio.c says why each); best effort, never an error. On failure nothing is
 * left behind and f needs no abort. */
lsc_status lsc_atomic_begin(lsc_atomic_file *f, const char *path, lsc_error *err);

/* fsync, close and rename into place, then fsync the folder. Refuses a target that became something other
 * than a regular file meanwhile. Always releases f (no abort needed afterwards), removing the temporary
 * file on failure. */
lsc_status lsc_atomic_commit(lsc_atomic_file *f, lsc_error *err);

/* Give up: close and remove the temporary file, release f. Safe on a zeroed or released f. */
void lsc_atomic_abort(lsc_atomic_file *f);

/* A folder written atomically: the caller fills a fresh hidden sibling folder (`tmp`), and commit swaps it
 * with the target in one rename (renameat2 RENAME_EXCHANGE; where the file system lacks it, the old folder
 * is renamed aside first, so for that instant there is no folder at all, never a mix). Entries of the old
 * folder the new one does not have (a README, other subfolders) are kept, as hard links, so nothing of the
 * user's is lost. Fields are private. */
typedef struct lsc_atomic_folder {
    char *path; /* the folder that will be replaced (symbolic links followed) */
    char *tmp;  /* the fresh folder to fill; NULL once swapped in */
    int lock;   /* an open descriptor of tmp holding its flock (-1: none) */
} lsc_atomic_folder;

/* Start writing folder `path`: follows symbolic links of its last part, refuses (LSC_ERR_INVALID) a
 * target that exists and is not a folder, and creates the fresh sibling folder tx->tmp, named and locked
 * as lsc_atomic_begin's temporary file (after removing the stray folders of killed writes to the same
 * target the same way). On failure nothing is left behind. */
lsc_status lsc_atomic_folder_begin(lsc_atomic_folder *tx, const char *path, lsc_error *err);

/* Keep the old folder's other entries, fsync, swap into place, remove the old folder. Always releases tx,
 * removing everything it created on failure (the old folder is then untouched). */
lsc_status lsc_atomic_folder_commit(lsc_atomic_folder *tx, lsc_error *err);

/* Give up: remove the fresh folder and all in it, release tx. Safe on a zeroed or released tx. */
void lsc_atomic_folder_abort(lsc_atomic_folder *tx);

/* Tests only (no CLI option sets it): non-zero makes lsc_atomic_folder_commit take the path used where
 * the file system lacks RENAME_EXCHANGE, so the suite covers it on any machine. */
extern int lsc_fileio_test_no_exchange;

#endif
