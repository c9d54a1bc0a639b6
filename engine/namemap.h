/* namemap.h: a hash map from names (NUL-terminated strings, copied) to integers, with O(1) expected put,
 * get and delete: open addressing with linear probing and tombstones, FNV-1a hashes, grown at 1/2 load.
 * Used as the layer-name index of an adapter and as the set of adapter names a script checker knows.
 * Pure data: no I/O.
 */
#ifndef LSC_NAMEMAP_H
#define LSC_NAMEMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct lsc_namemap {
    char **keys;    /* cap slots: NULL empty, lsc_namemap_tomb() deleted, else an owned copy */
    int64_t *vals;
    size_t cap;     /* 0 or a power of two */
    size_t n;       /* live keys */
    size_t used;    /* live keys + tombstones */
} lsc_namemap;

/* An empty map (no allocation until the first put). */
void lsc_namemap_init(lsc_namemap *m);

/* Release every key and the slots; the map is empty again and may be reused. */
void lsc_namemap_free(lsc_namemap *m);

/* Insert key (copied) with value v, or set the value of an existing key. 0 on success, -1 on out of
 * memory (the map is unchanged then). */
int lsc_namemap_put(lsc_namemap *m, const char *key, int64_t v);

/* 1 and *v (when v is not NULL) set if key is present, 0 otherwise. */
int lsc_namemap_get(const lsc_namemap *m, const char *key, int64_t *v);

/* 1 if key is present. */
int lsc_namemap_has(const lsc_namemap *m, const char *key);

/* Remove key; 1 if it was present, 0 otherwise. */
int lsc_namemap_del(lsc_namemap *m, const char *key);

/* The key in slot i (0 <= i < m->cap), NULL for an empty or deleted slot: iterate all slots to visit every
 * key once (in no particular order). */
const char *lsc_namemap_key_at(const lsc_namemap *m, size_t i);

#endif
