/* audit.c: the catalog-wide audit (see audit.h). Steps: list and match the adapters; per adapter, its
 * layers' statistics from the cache and the findings they give (audit_adapter); then the catalog-wide
 * findings: content-hash duplicates, same-layer duplicates, gone parents; then the sort by savings. */
#include "audit.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "hash.h"
#include "prune.h"
#include "tasks.h"

#define DEAD_REL 1e-6 /* a layer is dead when ||dW||_F <= DEAD_REL * the adapter's largest layer norm */

/* Append ",x" (or "x" to an empty list) to a malloc'ed comma list; -1 when out of memory. */
static int csv_add(char **csv, const char *x)
{
    size_t a = *csv ? strlen(*csv) : 0, b = strlen(x);
    char *p = realloc(*csv, a + b + 2);
    if (!p)
        return -1;
    if (a)
        p[a++] = ',';
    memcpy(p + a, x, b + 1);
    *csv = p;
    return 0;
}

/* Bytes one rank of layer l costs: the rank's row of A, column of B and entry of E as stored. */
static int64_t bytes_per_rank(const lsc_adapter *ad, const lsc_layer *l)
{
    int64_t b = 0;
    int ts[3] = {l->ta, l->tb, l->te};
    for (int i = 0; i < 3; i++)
        if (ts[i] >= 0 && l->rank > 0)
            b += (int64_t)ad->tensors[ts[i]].nbytes / l->rank;
    return b;
}

static lsc_status flag_layer(lsc_audit_entry *e, const lsc_layer *l, int k99, int64_t saves, unsigned what,
                             lsc_error *err)
{
    lsc_audit_layer *p = realloc(e->layers, (e->n_flagged + 1) * sizeof *p);
    if (!p)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    e->layers = p;
    p = &e->layers[e->n_flagged];
    if (!(p->name = strdup(l->name)))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    p->rank = l->rank;
    p->k99 = k99;
    p->saves = saves;
    p->what = what;
    e->n_flagged++;
    e->waste += (what & LSC_AUDIT_WASTE) != 0;
    e->nonfinite += (what & LSC_AUDIT_NONFINITE) != 0;
    e->dead += (what & LSC_AUDIT_DEAD) != 0;
    e->saves += saves;
    return LSC_OK;
}

/* One adapter's layer findings; digest receives a hash over its layers' statistics keys in order. */
static lsc_status audit_adapter(lsc_catalog *cat, lsc_stats_runner *sr, const char *name, lsc_audit_entry *e,
                                char digest[LSC_HASH_HEX], lsc_error *err)
{
    lsc_adapter *ad = NULL;
    lsc_status st = lsc_catalog_get_adapter(cat, name, &ad, err);
    if (st)
        return st;
    lsc_layer_stats *s = calloc(ad->n_layers ? ad->n_layers : 1, sizeof *s);
    char *keys = calloc(ad->n_layers ? ad->n_layers : 1, LSC_HASH_HEX);
    double top = 0;
    if (!s || !keys)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t li = 0; !st && li < ad->n_layers; li++) {
        lsc_catalog_stats_key(ad, li, keys + li * LSC_HASH_HEX);
        if (!(st = lsc_layer_stats_get(sr, cat, ad, li, 0, &s[li], err)) && !(s[li].flags & LSC_STATS_NONFINITE) &&
            s[li].fro > top)
            top = s[li].fro;
    }
    for (size_t li = 0; !st && li < ad->n_layers; li++) {
        const lsc_layer *l = &ad->layers[li];
        unsigned what = 0;
        int k = l->rank;
        int64_t saves = 0;
        if (s[li].flags & LSC_STATS_NONFINITE) {
            what |= LSC_AUDIT_NONFINITE;
        } else {
            if (s[li].n_sv > 0 && lsc_prune_select(s[li].sv, s[li].n_sv, LSC_RANK_ENERGY, 0.99, &k, err) != LSC_OK)
                st = LSC_ERR_NUMERIC;
            if (!st && k < l->rank) {
                what |= LSC_AUDIT_WASTE;
                saves = (int64_t)(l->rank - k) * bytes_per_rank(ad, l);
            }
            if ((s[li].flags & LSC_STATS_ZERO) || s[li].fro <= DEAD_REL * top)
                what |= LSC_AUDIT_DEAD;
        }
        if (!st && what)
            st = flag_layer(e, l, k, saves, what, err);
    }
    if (!st)
        lsc_hash_bytes(keys, ad->n_layers * LSC_HASH_HEX, digest);
    if (st)
        lsc_error_prefix(err, "audit '%s'", name);
    for (size_t li = 0; s && li < ad->n_layers; li++)
        lsc_stats_release(&s[li]);
    free(s);
    free(keys);
    lsc_adapter_free(ad);
    return st;
}

/* ---- duplicates over a sorted index ------------------------------------------------------------------- */

typedef struct keyed {
    const char *key; /* a hash */
    size_t i;        /* index into the entries (or the listing) */
    int mine;        /* 1: an audited entry */
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* For each run of equal keys, add every other member's name to the csv field of each audited member.
 * names[k.i] is a member's name, field(k.i) the list to extend (NULL: not audited). skip(a, b): 1 when
 * b must not count as a duplicate of a. */
static lsc_status mark_runs(keyed *k, size_t n, const char *const *names, char **(*field)(void *, size_t),
                            int (*skip)(void *, size_t, size_t), void *ctx, lsc_error *err)
{
    qsort(k, n, sizeof *k, keyed_cmp);
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && strcmp(k[b].key, k[a].key) == 0)
            b++;
        for (size_t x = a; b - a > 1 && x < b; x++) {
            char **f = k[x].mine ? field(ctx, k[x].i) : NULL;
            for (size_t y = a; f && y < b; y++)
                if (y != x && !(skip && skip(ctx, k[x].i, k[y].i)) && csv_add(f, names[k[y].i]))
                    return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        }
        a = b;
    }
    return LSC_OK;
}

typedef struct dup_ctx {
    lsc_audit_entry *e;
    size_t *entry_of; /* listing index -> entry index, or (size_t)-1 */
    char (*digest)[LSC_HASH_HEX];
} dup_ctx;

static char **dup_field(void *c, size_t i)
{
    dup_ctx *d = c;
    return d->entry_of[i] == (size_t)-1 ? NULL : &d->e[d->entry_of[i]].duplicates;
}

static char **same_field(void *c, size_t i)
{
    return &((dup_ctx *)c)->e[i].same_layers;
}

static int same_skip(void *c, size_t a, size_t b) /* same content: already a duplicate */
{
    dup_ctx *d = c;
    return strcmp(d->e[a].content_hash, d->e[b].content_hash) == 0;
}

static lsc_status find_duplicates(lsc_audit_entry *e, size_t n, const lsc_adapter_info *infos, size_t ni,
                                  size_t *entry_of, char (*digest)[LSC_HASH_HEX], lsc_error *err)
{
    dup_ctx d = {e, entry_of, digest};
    keyed *k = malloc((ni > n ? ni : n) * sizeof *k + 1);
    const char **names = malloc((ni > n ? ni : n) * sizeof *names + 1);
    lsc_status st = (!k || !names) ? lsc_error_set(err, LSC_ERR_NOMEM, "out of memory") : LSC_OK;
    size_t m = 0;
    for (size_t i = 0; !st && i < ni; i++) /* content hashes over every visible adapter */
        if (!lsc_is_group(infos[i].kind)) {
            k[m++] = (keyed){infos[i].content_hash, i, entry_of[i] != (size_t)-1};
            names[i] = infos[i].name;
        }
    if (!st)
        st = mark_runs(k, m, names, dup_field, NULL, &d, err);
    m = 0;
    for (size_t i = 0; !st && i < n; i++) { /* layer digests over the audited ones that have layers */
        names[i] = e[i].name;
        if (e[i].n_layers > 0)
            k[m++] = (keyed){digest[i], i, 1};
    }
    if (!st)
        st = mark_runs(k, m, names, same_field, same_skip, &d, err);
    free(k);
    free(names);
    return st;
}

/* ---- collect ------------------------------------------------------------------------------------------ */

static int entry_cmp(const void *a, const void *b)
{
    const lsc_audit_entry *x = a, *y = b;
    if (x->saves != y->saves)
        return x->saves > y->saves ? -1 : 1;
    return strcmp(x->name, y->name);
}

static lsc_status add_gone_parents(lsc_catalog *cat, lsc_audit_entry *e, size_t n, lsc_error *err)
{
    lsc_gone_parent *g = NULL;
    size_t ng = 0;
    lsc_status st = lsc_catalog_gone_parents(cat, &g, &ng, err);
    /* both lists are in name order (the listing's ORDER BY name): one merge pass */
    for (size_t i = 0, j = 0; !st && i < n && j < ng;) {
        int c = strcmp(e[i].name, g[j].child);
        if (c < 0)
            i++;
        else if (c > 0)
            j++;
        else if (csv_add(&e[i].gone_parents, g[j++].parent))
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    lsc_gone_parents_free(g, ng);
    return st;
}

/* Empty lists as "" rather than NULL, for the callers. */
static lsc_status fill_empty(lsc_audit_entry *e, size_t n, lsc_error *err)
{
    for (size_t i = 0; i < n; i++) {
        char **f[3] = {&e[i].duplicates, &e[i].same_layers, &e[i].gone_parents};
        for (int k = 0; k < 3; k++)
            if (!*f[k] && !(*f[k] = strdup("")))
                return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    return LSC_OK;
}

lsc_status lsc_audit_collect(lsc_catalog *cat, const char *glob, volatile int *cancel, lsc_audit_progress progress,
                             void *progress_ctx, lsc_audit_entry **out, size_t *n, lsc_error *err)
{
    lsc_adapter_info *infos = NULL;
    size_t ni = 0, ne = 0;
    *out = NULL;
    *n = 0;
    lsc_status st = lsc_catalog_list(cat, &infos, &ni, err);
    if (st)
        return st;
    lsc_audit_entry *e = calloc(ni ? ni : 1, sizeof *e);
    size_t *entry_of = malloc((ni ? ni : 1) * sizeof *entry_of);
    char(*digest)[LSC_HASH_HEX] = calloc(ni ? ni : 1, LSC_HASH_HEX);
    lsc_stats_runner sr;
    int have_sr = 0;
    if (!e || !entry_of || !digest)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    else if (!(st = lsc_stats_runner_init(&sr, err)))
        have_sr = 1;
    for (size_t i = 0; !st && i < ni; i++) {
        entry_of[i] = (size_t)-1;
        if (lsc_is_group(infos[i].kind) || (glob && *glob && fnmatch(glob, infos[i].name, 0) != 0))
            continue;
        if (cancel && *cancel) {
            st = lsc_error_set(err, LSC_ERR_CANCELLED, "audit cancelled");
            break;
        }
        lsc_audit_entry *x = &e[ne];
        if (!(x->name = strdup(infos[i].name))) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(x->content_hash, infos[i].content_hash, LSC_HASH_HEX);
        x->n_layers = infos[i].n_layers;
        x->bytes = infos[i].bytes;
        entry_of[i] = ne++;
        st = audit_adapter(cat, &sr, infos[i].name, x, digest[ne - 1], err);
        if (progress)
            progress(progress_ctx, i + 1, ni);
    }
    if (!st)
        st = find_duplicates(e, ne, infos, ni, entry_of, digest, err);
    if (!st)
        st = add_gone_parents(cat, e, ne, err);
    if (!st)
        st = fill_empty(e, ne, err);
    if (have_sr)
        lsc_stats_runner_release(&sr);
    free(entry_of);
    free(digest);
    lsc_adapter_info_free_array(infos, ni);
    if (st) {
        lsc_audit_free(e, ne);
        return st;
    }
    qsort(e, ne, sizeof *e, entry_cmp);
    *out = e;
    *n = ne;
    return LSC_OK;
}

void lsc_audit_free(lsc_audit_entry *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        for (size_t k = 0; k < a[i].n_flagged; k++)
            free(a[i].layers[k].name);
        free(a[i].layers);
        free(a[i].name);
        free(a[i].duplicates);
        free(a[i].same_layers);
        free(a[i].gone_parents);
    }
    free(a);
}

int lsc_audit_has_findings(const lsc_audit_entry *e)
{
    return e->saves > 0 || e->waste || e->nonfinite || e->dead || (e->duplicates && *e->duplicates) ||
           (e->same_layers && *e->same_layers) || (e->gone_parents && *e->gone_parents);
}
