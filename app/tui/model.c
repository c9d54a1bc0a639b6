/* model.c: the small helpers every TUI model shares (release of returned memory, name copying).
 * Depends on libc and model.h only; never on curses, the catalog or the engine's kernels.
 */
#include "model.h"

#include <stdlib.h>
#include <string.h>

void lsc_tui_diff_release(lsc_tui_diff *d)
{
    if (!d)
        return;
    free(d->rows);
    free(d->only_a);
    free(d->only_b);
    memset(d, 0, sizeof *d);
}

void lsc_tui_model_release(lsc_tui_model *m)
{
    if (!m)
        return;
    if (m->destroy)
        m->destroy(m->ctx);
    memset(m, 0, sizeof *m);
}

char *lsc_tui_copy(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return dst;
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
    return dst;
}
