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

/* KNOWN BUG (store/peft.c, py_to_ere + compile_key): rank_pattern / alpha_pattern keys go to glibc's
 * regcomp unbounded, and regcomp's memory grows exponentially with stacked or nested quantifiers and
 * linearly-but-hugely with repetition bounds ("q_proj{1,32767}": 8 GB, 21 s; "q_p" + 20 '+': 700 MB;
 * 20 nested "(...)+": 1.5 GB). Non-zero when the config text (JSON) has a pattern key with a '{' or
 * more than 3 quantifier characters, so the fuzzers skip those inputs instead of reporting the same
 * out-of-memory forever; tests/fuzz/known-bugs.c keeps the bug visible until it is fixed. */
int fuzz_known_regex_bomb(const void *config_json, size_t n);

/* Report an oracle violation (the input made the program break a promise) and abort, so libFuzzer and
 * the replay driver both record a crash. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
