/* workspace.h: one reusable scratch arena for the numerical kernels.
 *
 * Touching fresh pages is expensive (a fresh 4 KiB page costs ~11 us on these machines), so kernels take
 * their scratch memory from a workspace that grows and is reused across layers. A workspace is not
 * thread-safe: use one per thread.
 *
 * Slot ownership, so that kernels that call each other do not clobber live buffers: lsc_spectrum uses
 * slots 0-7 (LSC_WS_SPECTRUM_FIRST..); kernels built on top of it (stats, compare) keep what must survive
 * a call to lsc_spectrum in slots 8-15 (LSC_WS_CALLER_FIRST..). A caller outside engine/ that lends its
 * workspace to a kernel must not expect any slot to keep its contents across that call.
 */
#ifndef LSC_WORKSPACE_H
#define LSC_WORKSPACE_H

#include <stddef.h>

typedef struct lsc_workspace lsc_workspace;

/* New empty workspace, NULL on out of memory. */
lsc_workspace *lsc_workspace_new(void);

/* Release it; NULL is allowed. */
void lsc_workspace_free(lsc_workspace *ws);

/* Return a buffer of at least n doubles from slot `slot` (0..LSC_WS_SLOTS-1). The buffer stays valid
 * until the same slot is asked for again or the workspace is freed; contents are not preserved when it
 * grows. NULL on out of memory. */
#define LSC_WS_SLOTS 16
#define LSC_WS_SPECTRUM_FIRST 0
#define LSC_WS_CALLER_FIRST 8
double *lsc_workspace_get(lsc_workspace *ws, int slot, size_t n);

#endif
