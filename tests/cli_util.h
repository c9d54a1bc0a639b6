/* cli_util.h: helpers for the end-to-end CLI suites: run the real lorascope binary with a catalog in a
 * temporary folder, capture its output, write small safetensors/PEFT files by hand, compare files. */
#ifndef LSC_CLI_UTIL_H
#define LSC_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_result {
    int code;    /* exit status, or -1 if it did not exit normally */
    char *out;   /* stdout (malloc'ed, NUL-terminated) */
    char *err;   /* stderr */
} cli_result;

/* A fresh temporary folder (malloc'ed path); removed with cli_rmtree. */
char *cli_tmpdir(void);
void cli_rmtree(const char *path);

/* Run `$LSC_BIN --catalog CATALOG ARGS...` (args NULL-terminated). */
cli_result cli_run(const char *catalog, ...) __attribute__((sentinel));
void cli_result_free(cli_result *r);

/* Run like cli_run and require exit 0: otherwise the running Check test fails with the command word, the
 * exit status and stderr. The result is freed; use cli_run when the output matters. */
void cli_ok(const char *catalog, ...) __attribute__((sentinel));

/* Read a whole file (malloc'ed; *n its size); NULL if unreadable. */
unsigned char *cli_slurp(const char *path, size_t *n);

/* 1 if the two files have identical bytes (both missing also counts as identical). */
int cli_same_file(const char *a, const char *b);

/* cli_same_file of DIR_A/NAME and DIR_B/NAME: 1 if identical. */
int cli_same_file_in(const char *dir_a, const char *dir_b, const char *name);

/* Copy a file. */
int cli_copy(const char *from, const char *to);

/* Write a file from bytes; 0 on success. */
int cli_write(const char *path, const void *data, size_t n);

/* Write a safetensors file with the given header JSON text (padded) and data bytes. */
int cli_write_st(const char *path, const char *header, const void *data, size_t n);

/* Write a PEFT adapter folder `dir` (created) with one q_proj layer, r = 1, in each of `n` blocks
 * (n <= 64), tensors in the file's string order as safetensors writers sort them (layers.10 before
 * layers.2). 0 on success. */
int cli_write_peft_blocks(const char *dir, int n);

/* A fresh temporary folder (*tmp, malloc'ed) holding the generated sample adapters in <tmp>/samples
 * (the path written into samples, cap bytes), made with $LSC_BUILD/samples/gen-samples. 0 on success;
 * on failure a message is printed and -1 returned. */
int cli_setup_samples(char **tmp, char *samples, size_t cap);

/* Run a suite of one test case (240 s timeout) over the NULL-terminated `tests`, forking each test unless
 * no_fork, then remove tmp (from cli_setup_samples) and free it. Returns the process exit code. */
struct TTest;
int cli_run_suite(const char *name, const struct TTest *const *tests, int no_fork, char *tmp);

/* The visible adapters of a catalog as "name content_hash" lines (from `ls --json`), malloc'ed. */
char *cli_names_hashes(const char *catalog);

/* Fail the running test unless cli_names_hashes(catalog) equals `before` (an earlier cli_names_hashes of
 * it: the catalog's visible names and contents are unchanged). Frees before. */
void cli_assert_unchanged(const char *catalog, char *before);

/* Check that `log --script` of the catalog, replayed with `run` into a fresh catalog (CATALOG-replay.db),
 * rebuilds it: the same visible names with the same content hashes. Fails the running test otherwise.
 * Import paths in the script are as they were typed, so call it while those paths still exist. */
void assert_log_script_rebuilds(const char *catalog);

/* Count of lines in s. */
int cli_lines(const char *s);

#endif
