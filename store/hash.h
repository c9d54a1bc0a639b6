/* hash.h: content hashes (xxh3-128, hex) for tensors and adapters.
 *
 * A tensor's hash covers its bytes only (dtype and shape live on the tensor row), so identical bytes
 * are stored once in the catalog. An adapter's content hash covers its config and every tensor's key,
 * role, dtype, shape and byte hash, so importing identical content twice is recognised.
 */
#ifndef LSC_HASH_H
#define LSC_HASH_H

#include <stddef.h>

#include "adapter.h"

/* Hex hash of n bytes into out (LSC_HASH_HEX chars incl. NUL). */
void lsc_hash_bytes(const void *data, size_t n, char out[LSC_HASH_HEX]);

/* Fill t->hash from t->data (which must be loaded). */
void lsc_hash_tensor(lsc_tensor *t);

/* Adapter content hash; every tensor must already have its hash. */
void lsc_hash_adapter(const lsc_adapter *ad, char out[LSC_HASH_HEX]);

#endif
