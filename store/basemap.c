/* basemap.c: layer name -> base tensor name (see basemap.h): the module identity of store/modkey.c. */
#include "basemap.h"

#include "modkey.h"

int lsc_base_tensor_name(const lsc_base *b, const char *layer_name, char *out, size_t cap)
{
    return lsc_modkey_base_tensor_in(b, layer_name, out, cap);
}
