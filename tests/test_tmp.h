/* test_tmp.h: a per-test temporary folder for the store suites (a Check fixture). Test support only. */
#ifndef LSC_TEST_TMP_H
#define LSC_TEST_TMP_H

extern char tmpdir[256]; /* the current test's folder */

void tmp_setup(void);                 /* mkdtemp under $TMPDIR (or /tmp) */
void tmp_teardown(void);              /* remove the folder and everything in it */
const char *tpath(const char *name);  /* "<tmpdir>/<name>"; the last four results stay valid */

#endif
