/* workspace.c: the reusable scratch arena of the numerical kernels (see workspace.h).
 *
 * Each slot is one buffer that only grows; a request that fits reuses the pages already touched, which
 * is the whole point (fresh pages cost far more than the arithmetic of a small-rank layer). Growing frees
 * the old buffer first instead of realloc'ing, since contents are not preserved anyway.
 * Depends on libc only; never prints.
 */
#include "workspace.h"

#include <stdint.h>
#include <stdlib.h>

/* 64-byte alignment keeps BLAS kernels on their aligned paths and avoids split cache lines. */
#define WS_ALIGN 64

struct lsc_workspace {
    double *buf[LSC_WS_SLOTS];
    size_t cap[LSC_WS_SLOTS]; /* in doubles */
};

lsc_workspace *lsc_workspace_new(void)
{
    return calloc(1, sizeof(lsc_workspace));
}

void lsc_workspace_free(lsc_workspace *ws)
{
    if (!ws)
        return;
    for (int i = 0; i < LSC_WS_SLOTS; i++)
        free(ws->buf[i]);
    free(ws);
}

double *lsc_workspace_get(lsc_workspace *ws, int slot, size_t n)
{
    if (!ws || slot < 0 || slot >= LSC_WS_SLOTS)
        return NULL;
    if (n == 0)
        n = 1; /* always hand out a real buffer: NULL means out of memory */
    if (n <= ws->cap[slot])
        return ws->buf[slot];
    /* grow by at least half again, so a slowly increasing sequence of requests settles quickly */
    size_t want = n;
    if (ws->cap[slot] <= SIZE_MAX / 3 && want < ws->cap[slot] + ws->cap[slot] / 2)
        want = ws->cap[slot] + ws->cap[slot] / 2;
    if (want > (SIZE_MAX - WS_ALIGN) / sizeof(double))
        return NULL;
    size_t bytes = (want * sizeof(double) + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
    free(ws->buf[slot]);
    ws->buf[slot] = aligned_alloc(WS_ALIGN, bytes);
    ws->cap[slot] = ws->buf[slot] ? bytes / sizeof(double) : 0;
    return ws->buf[slot];
}
