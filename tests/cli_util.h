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

/* Read a whole file (malloc'ed; *n its size); NULL if unreadable. */
unsigned char *cli_slurp(const char *path, size_t *n);

/* 1 if the two files have identical bytes (both missing also counts as identical). */
int cli_same_file(const char *a, const char *b);

/* Copy a file. */
int cli_copy(const char *from, const char *to);

/* Write a file from bytes; 0 on success. */
int cli_write(const char *path, const void *data, size_t n);

/* Write a safetensors file with the given header JSON text (padded) and data bytes. */
int cli_write_st(const char *path, const char *header, const void *data, size_t n);

/* Count of lines in s. */
int cli_lines(const char *s);

#endif
