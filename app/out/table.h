/* table.h: aligned text tables for the CLI (a header row, then rows of cells).
 *
 * Cells are copied; numbers are right-aligned, text left-aligned, by column. Names are escaped by the
 * caller (lsc_escape_name) before they reach a cell. Depends on sink.h only.
 */
#ifndef LSC_TABLE_H
#define LSC_TABLE_H

#include "sink.h"

typedef struct lsc_table lsc_table;

/* A table with `ncols` columns named by `headers`; `right` is a string of 'l'/'r' per column
 * (alignment), e.g. "lrrr". NULL on out of memory. */
lsc_table *lsc_table_new(int ncols, const char *const *headers, const char *align);

/* Append a row of ncols cells (each copied; NULL prints as ""). Returns 0, or -1 on out of memory. */
int lsc_table_add(lsc_table *t, const char *const *cells);

/* Append a row from printf-style cells: one format per column is awkward in C, so callers format each
 * cell into a buffer first; this helper formats one cell into a small static-size buffer. */
const char *lsc_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Print with two spaces between columns. */
void lsc_table_print(const lsc_table *t, lsc_sink *out);

/* Number of rows added. */
int lsc_table_rows(const lsc_table *t);

void lsc_table_free(lsc_table *t);

/* Human figures: 1234567 -> "1.23M"; bytes -> "4.5 MiB". Return buf. */
const char *lsc_human_count(char *buf, size_t cap, double v);
const char *lsc_human_bytes(char *buf, size_t cap, double v);

#endif
