/* test_tmp.h: a per-test temporary folder for the store suites (a Check fixture), and the dense delta of
 * an adapter layer those suites compare across formats. Test support only. */
#ifndef LSC_TEST_TMP_H
#define LSC_TEST_TMP_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"

extern char tmpdir[256]; /* the current test's folder */

void tmp_setup(void);                 /* mkdtemp under $TMPDIR (or /tmp) */
void tmp_teardown(void);              /* remove the folder and everything in it */
const char *tpath(const char *name);  /* "<tmpdir>/<name>"; the last four results stay valid */

/* Dense s*B*A of layer li of ad through lsc_adapter_factors, [*rows, *cols] row-major (malloc'ed, the
 * caller frees). Fails the running Check test if the factors cannot be read. */
double *tmp_dense_delta(lsc_adapter *ad, size_t li, int64_t *rows, int64_t *cols);

#endif
