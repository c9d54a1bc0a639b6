/* fuzz_util.h: support shared by the fuzz targets (tests/fuzz/fuzz-*.c): a per-process scratch folder,
 * whole-file writes, and a loud failure for oracle violations.
 * Test support only: depends on libc, never on the catalog or the command layer. */
#ifndef LSC_FUZZ_UTIL_H
#define LSC_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry point every target defines; replay.c calls it too. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A scratch folder for this process, made on first call (under /dev/shm when writable, so fsyncs cost
 * nothing, else $TMPDIR or /tmp) and removed at exit. Never NULL: aborts if no folder can be made. */
const char *fuzz_dir(void);

/* Write n bytes to path (created or truncated); aborts on failure (the harness, not the target, broke). */
void fuzz_write(const char *path, const void *data, size_t n);

/* Remove path and everything below it; a missing path is fine. */
void fuzz_rmtree(const char *path);


/* Report an oracle violation (the input made the program break a promise) and abort, so libFuzzer and
 * the replay driver both record a crash. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
