/* layername.c: display names and natural order of layers (see layername.h). No I/O. */
#include "layername.h"

#include <stdlib.h>
#include <string.h>

/* Wrapper prefixes that PEFT adds in front of the base model's module path (PeftModel.base_model is the
 * LoraModel, whose .model is the wrapped transformers model). Longest first. */
static const char *const wrappers[] = {"base_model.model."};

const char *lsc_layername_display(const char *key)
{
    if (!key)
        return NULL;
    for (size_t i = 0; i < sizeof wrappers / sizeof wrappers[0]; i++) {
        size_t n = strlen(wrappers[i]);
        if (strncmp(key, wrappers[i], n) == 0 && key[n] != '\0')
            return key + n;
    }
    return key;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int lsc_layername_cmp(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    const char *a0 = a, *b0 = b;
    int zeros = 0; /* first difference in leading zeros, decides when all else is equal */
    while (*a && *b) {
        if (is_digit(*a) && is_digit(*b)) {
            const char *za = a, *zb = b;
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            if (!zeros && (a - za) != (b - zb))
                zeros = (a - za) < (b - zb) ? -1 : 1;
            const char *sa = a, *sb = b;
            while (is_digit(*a))
                a++;
            while (is_digit(*b))
                b++;
            size_t la = (size_t)(a - sa), lb = (size_t)(b - sb);
            if (la != lb)
                return la < lb ? -1 : 1; /* more significant digits: the larger number */
            int c = memcmp(sa, sb, la);
            if (c)
                return c < 0 ? -1 : 1;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    if (*a || *b)
        return *a ? 1 : -1;
    if (zeros)
        return zeros;
    int c = strcmp(a0, b0);
    return c < 0 ? -1 : c > 0;
}

static int cmp_order(const void *x, const void *y, void *arg)
{
    const lsc_adapter *ad = arg;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    const char *ki = ad->layers[i].name, *kj = ad->layers[j].name;
    int c = lsc_layername_cmp(lsc_layername_display(ki), lsc_layername_display(kj));
    if (!c)
        c = lsc_layername_cmp(ki, kj);
    return c ? c : (i > j) - (i < j);
}

size_t *lsc_layername_order(const lsc_adapter *ad)
{
    size_t n = ad->n_layers;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order)
        return NULL;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    if (n > 1)
        qsort_r(order, n, sizeof *order, cmp_order, (void *)ad);
    return order;
}
