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

/* The same hash fed in pieces: after any sequence of updates whose bytes concatenate to D, the digest is
 * lsc_hash_bytes(D) (xxh3's streaming form; so a tensor can be hashed while it is read a chunk at a time).
 * _new returns an empty stream (NULL when out of memory); _reset empties it; _digest may be taken at any
 * point and leaves the stream as it was; _free(NULL) does nothing. */
typedef struct lsc_hash_stream lsc_hash_stream;
lsc_hash_stream *lsc_hash_stream_new(void);
void lsc_hash_stream_reset(lsc_hash_stream *h);
void lsc_hash_stream_update(lsc_hash_stream *h, const void *data, size_t n);
void lsc_hash_stream_digest(const lsc_hash_stream *h, char out[LSC_HASH_HEX]);
void lsc_hash_stream_free(lsc_hash_stream *h);

/* Fill t->hash from t->data (which must be loaded). */
void lsc_hash_tensor(lsc_tensor *t);

/* Adapter content hash; every tensor must already have its hash. */
void lsc_hash_adapter(const lsc_adapter *ad, char out[LSC_HASH_HEX]);

#endif
