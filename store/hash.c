/* store/hash.c: content hashes (xxh3-128, 32 lowercase hex digits) for tensor bytes and whole adapters.
 *
 * A tensor hash is the plain XXH3-128 of its bytes, printed in xxhash's canonical (big-endian) order, so
 * `xxhsum -H2` on a file of those bytes prints the same digits. The adapter hash feeds a framed record of
 * everything that defines the adapter's content into one streaming XXH3-128: each string is preceded by its
 * length (NULL has its own marker), each number is written as 8 little-endian bytes, so no two different
 * adapters can produce the same byte stream by shifting text between fields.
 * Depends on xxhash and the adapter model only: no SQLite, no files, no terminal.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack: hashing an adapter cannot fail */
#include "hash.h"

#include <stdint.h>
#include <string.h>
#include <xxhash.h>

static void hex128(XXH128_hash_t h, char out[LSC_HASH_HEX])
{
    static const char digits[] = "0123456789abcdef";
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    for (size_t i = 0; i < sizeof c.digest; i++) {
        out[2 * i] = digits[c.digest[i] >> 4];
        out[2 * i + 1] = digits[c.digest[i] & 15];
    }
    out[2 * sizeof c.digest] = '\0';
}

void lsc_hash_bytes(const void *data, size_t n, char out[LSC_HASH_HEX])
{
    static const unsigned char empty[1] = {0};
    hex128(XXH3_128bits(n ? data : empty, n), out);
}

/* The stream is an XXH3_state_t (allocated 64-byte aligned by xxhash) behind an opaque name. */
lsc_hash_stream *lsc_hash_stream_new(void)
{
    XXH3_state_t *s = XXH3_createState();
    if (s)
        XXH3_128bits_reset(s);
    return (lsc_hash_stream *)s;
}

void lsc_hash_stream_reset(lsc_hash_stream *h)
{
    XXH3_128bits_reset((XXH3_state_t *)h);
}

void lsc_hash_stream_update(lsc_hash_stream *h, const void *data, size_t n)
{
    if (n)
        XXH3_128bits_update((XXH3_state_t *)h, data, n);
}

void lsc_hash_stream_digest(const lsc_hash_stream *h, char out[LSC_HASH_HEX])
{
    hex128(XXH3_128bits_digest((const XXH3_state_t *)h), out);
}

void lsc_hash_stream_free(lsc_hash_stream *h)
{
    XXH3_freeState((XXH3_state_t *)h);
}

void lsc_hash_tensor(lsc_tensor *t)
{
    lsc_hash_bytes(t->data, t->data ? t->nbytes : 0, t->hash);
}

/* ---- framing of the adapter record ---- */

/* Enumerations enter the record by name, so reordering an enum never changes stored hashes. (The table is
 * built here from the X-macro list rather than calling dtype.c: hashing needs nothing but the names.) */
static const char *dtype_name(lsc_dtype dt)
{
    static const char *const names[] = {
#define LSC_X_DT(code, name, size) name,
        LSC_DTYPE_LIST(LSC_X_DT)
#undef LSC_X_DT
    };
    return (unsigned)dt < LSC_DT_COUNT ? names[dt] : "?";
}

static void feed_u64(XXH3_state_t *s, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    XXH3_128bits_update(s, b, sizeof b);
}

static void feed_i64(XXH3_state_t *s, int64_t v)
{
    feed_u64(s, (uint64_t)v);
}

static void feed_double(XXH3_state_t *s, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    feed_u64(s, bits);
}

/* Length-prefixed string; NULL is UINT64_MAX with no bytes, distinct from "". */
static void feed_str(XXH3_state_t *s, const char *str)
{
    if (!str) {
        feed_u64(s, UINT64_MAX);
        return;
    }
    size_t n = strlen(str);
    feed_u64(s, n);
    XXH3_128bits_update(s, str, n);
}

/* The record (version tag first, so a future change of the record cannot collide with this one):
 * format, config, metadata; per layer its name and every number that changes the delta it applies
 * (rank, init_r, alpha, rule, scale, flags, tensor indices); per tensor key, role, layer, dtype, shape and
 * byte hash. Names, sources, import times, warnings and the verbatim file header are not content. */
void lsc_hash_adapter(const lsc_adapter *ad, char out[LSC_HASH_HEX])
{
    XXH3_state_t s;
    XXH3_INITSTATE(&s);
    XXH3_128bits_reset(&s);
    feed_str(&s, "lorascope adapter content v1");
    feed_str(&s, ad->format);
    feed_str(&s, ad->config_json);
    feed_str(&s, ad->metadata_json);
    feed_u64(&s, ad->n_layers);
    for (size_t i = 0; i < ad->n_layers; i++) {
        const lsc_layer *l = &ad->layers[i];
        feed_str(&s, l->name);
        feed_i64(&s, l->rows);
        feed_i64(&s, l->cols);
        feed_i64(&s, l->rank);
        feed_i64(&s, l->init_r);
        feed_double(&s, l->alpha);
        feed_str(&s, lsc_scale_rule_name(l->rule));
        feed_double(&s, l->scale);
        feed_u64(&s, l->flags);
        feed_i64(&s, l->ta);
        feed_i64(&s, l->tb);
        feed_i64(&s, l->te);
        feed_i64(&s, l->tm);
    }
    feed_u64(&s, ad->n_tensors);
    for (size_t i = 0; i < ad->n_tensors; i++) {
        const lsc_tensor *t = &ad->tensors[i];
        feed_str(&s, t->key);
        feed_str(&s, lsc_role_name(t->role));
        feed_i64(&s, t->layer);
        feed_str(&s, dtype_name(t->dtype));
        feed_i64(&s, t->ndim);
        for (int d = 0; d < t->ndim; d++)
            feed_i64(&s, t->shape[d]);
        feed_str(&s, t->hash);
    }
    hex128(XXH3_128bits_digest(&s), out);
}
