/* basemap.h: which base tensor a LoRA layer modifies, for `base`, `show --base` and `bake`. The mapping
 * is the module identity export uses (store/modkey.h, lsc_modkey_base_tensor_in); this name stays for its
 * callers. Lives in store/: names only, no I/O. */
#ifndef LSC_BASEMAP_H
#define LSC_BASEMAP_H

#include <stddef.h>

#include "base.h"

/* The name of the base tensor layer `layer_name` modifies, in out (cap bytes): lsc_modkey_base_tensor_in
 * (its contract has the rules). Returns 0 and fills out when the base has the tensor, -1 otherwise. */
int lsc_base_tensor_name(const lsc_base *b, const char *layer_name, char *out, size_t cap);

#endif
