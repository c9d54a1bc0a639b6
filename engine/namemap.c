/* namemap.c: open-addressing hash map from names to integers (see namemap.h). */
#include "namemap.h"

#include <stdlib.h>
#include <string.h>

static char tomb_mark;
#define TOMB (&tomb_mark)

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29); /* fold high bits into the low ones the mask keeps */
}

void lsc_namemap_init(lsc_namemap *m)
{
    memset(m, 0, sizeof *m);
}

void lsc_namemap_free(lsc_namemap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] && m->keys[i] != TOMB)
            free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    lsc_namemap_init(m);
}

/* The slot holding key, or (key absent) -1 with *ins the first empty or deleted slot on its probe path. */
static long find_slot(const lsc_namemap *m, const char *key, size_t *ins)
{
    size_t mask = m->cap - 1, i = (size_t)hash_name(key) & mask, first = (size_t)-1;
    for (size_t step = 0; step < m->cap; step++, i = (i + 1) & mask) {
        const char *k = m->keys[i];
        if (!k) {
            if (ins)
                *ins = first != (size_t)-1 ? first : i;
            return -1;
        }
        if (k == TOMB) {
            if (first == (size_t)-1)
                first = i;
        } else if (strcmp(k, key) == 0) {
            return (long)i;
        }
    }
    if (ins)
        *ins = first;
    return -1;
}

/* Rehash every live key into new slots of capacity cap (drops tombstones). */
static int rehash(lsc_namemap *m, size_t cap)
{
    char **keys = calloc(cap, sizeof *keys);
    int64_t *vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        char *k = m->keys[i];
        if (!k || k == TOMB)
            continue;
        size_t j = (size_t)hash_name(k) & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = k;
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->used = m->n;
    return 0;
}

int lsc_namemap_put(lsc_namemap *m, const char *key, int64_t v)
{
    size_t ins = 0;
    long at = m->cap ? find_slot(m, key, &ins) : -1;
    if (at >= 0) {
        m->vals[at] = v;
        return 0;
    }
    if ((m->used + 1) * 2 > m->cap) { /* keep the load (tombstones included) at most 1/2 */
        size_t cap = 16;
        while ((m->n + 1) * 4 > cap) /* a quarter full after the rehash: room before the next one */
            cap *= 2;
        if (rehash(m, cap))
            return -1;
        find_slot(m, key, &ins);
    }
    char *k = strdup(key);
    if (!k)
        return -1;
    if (m->keys[ins] != TOMB)
        m->used++;
    m->keys[ins] = k;
    m->vals[ins] = v;
    m->n++;
    return 0;
}

int lsc_namemap_get(const lsc_namemap *m, const char *key, int64_t *v)
{
    long at = m->cap ? find_slot(m, key, NULL) : -1;
    if (at < 0)
        return 0;
    if (v)
        *v = m->vals[at];
    return 1;
}

int lsc_namemap_has(const lsc_namemap *m, const char *key)
{
    return lsc_namemap_get(m, key, NULL);
}

int lsc_namemap_del(lsc_namemap *m, const char *key)
{
    long at = m->cap ? find_slot(m, key, NULL) : -1;
    if (at < 0)
        return 0;
    free(m->keys[at]);
    m->keys[at] = TOMB;
    m->n--;
    return 1;
}

const char *lsc_namemap_key_at(const lsc_namemap *m, size_t i)
{
    return i < m->cap && m->keys[i] && m->keys[i] != TOMB ? m->keys[i] : NULL;
}
