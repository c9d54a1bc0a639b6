/* fileio.h: the few low-level file helpers the format readers and writers share: whole reads and writes
 * that survive short transfers and EINTR. POSIX only; no SQLite, no curses. */
#ifndef LSC_FILEIO_H
#define LSC_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Read exactly n bytes at offset off. 0 on success, -1 with errno set, 1 at a premature end of file. */
int lsc_pread_full(int fd, void *buf, size_t n, uint64_t off);

/* Write all n bytes at the current offset. 0 on success, -1 with errno set. */
int lsc_write_full(int fd, const void *buf, size_t n);

#endif
