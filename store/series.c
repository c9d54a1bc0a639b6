/* store/series.c: recognising a training run on disk (see series.h). Reads folder listings and
 * trainer_state.json only; the checkpoints themselves are read by the format readers afterwards. */
#include "series.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"

#define MODEL_FILE "adapter_model.safetensors"
#define STATE_FILE "trainer_state.json"
#define KOHYA_EXT ".safetensors"


/* The digits s[0..n) as a step; -1 if empty, not all digits or too large. */
static int64_t parse_digits(const char *s, size_t n)
{
    if (n == 0 || n > 15)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

void lsc_series_plan_free(lsc_series_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i].path);
        free(p->items[i].label);
    }
    free(p->items);
    free(p);
}

static lsc_status add_item(lsc_series_plan *p, size_t *cap, const char *dir, const char *entry, const char *label,
                           int64_t step, int final, lsc_error *err)
{
    if (p->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        lsc_series_item *q = realloc(p->items, nc * sizeof *q);
        if (!q)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        p->items = q;
        *cap = nc;
    }
    lsc_series_item *it = &p->items[p->n];
    size_t len = strlen(dir) + strlen(entry) + 2;
    it->path = malloc(len);
    it->label = strdup(label);
    if (!it->path || !it->label) {
        free(it->path);
        free(it->label);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    snprintf(it->path, len, "%s%s%s", dir, *entry ? "/" : "", entry);
    it->step = step;
    it->final = final;
    p->n++;
    return LSC_OK;
}

/* Step order; the final save (at most one) last. Equal steps are refused by check_steps. */
static int cmp_item(const void *x, const void *y)
{
    const lsc_series_item *a = x, *b = y;
    if (a->final != b->final)
        return a->final - b->final;
    return a->step < b->step ? -1 : a->step > b->step;
}

static lsc_status check_steps(const char *dir, const lsc_series_plan *p, lsc_error *err)
{
    for (size_t i = 1; i < p->n; i++)
        if (!p->items[i].final && p->items[i].step == p->items[i - 1].step)
            return lsc_error_set(err, LSC_ERR_INVALID, "'%s': '%s' and '%s' are both step %lld", dir,
                                 p->items[i - 1].path, p->items[i].path, (long long)p->items[i].step);
    return LSC_OK;
}

/* global_step of DIR/trainer_state.json into *step; *step untouched when the file is absent. */
static lsc_status trainer_step(const char *dir, int64_t *step, lsc_error *err)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, STATE_FILE);
    if (!lsc_is_file(p))
        return LSC_OK;
    json_error_t je;
    json_t *o = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return lsc_error_set(err, LSC_ERR_INVALID, "'%s': not JSON (line %d: %s)", p, je.line, je.text);
    json_t *g = json_object_get(o, "global_step");
    lsc_status st = LSC_OK;
    if (g && (!json_is_integer(g) || json_integer_value(g) < 0))
        st = lsc_error_set(err, LSC_ERR_INVALID, "'%s': global_step is not a non-negative integer", p);
    else if (g)
        *step = (int64_t)json_integer_value(g);
    json_decref(o);
    return st;
}

/* The HF Trainer layout: checkpoint-N sub-folders holding PEFT adapters. */
static lsc_status scan_trainer(const char *path, DIR *d, lsc_series_plan *p, lsc_error *err)
{
    size_t cap = 0;
    const char *other = NULL;
    char other_name[256] = "";
    struct dirent *e;
    lsc_status st = LSC_OK;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4096], model[4200];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        snprintf(model, sizeof model, "%s/%s", sub, MODEL_FILE);
        if (!lsc_is_dir(sub) || !lsc_is_file(model))
            continue;
        int64_t n = strncmp(e->d_name, "checkpoint-", 11) == 0 ? parse_digits(e->d_name + 11, strlen(e->d_name + 11)) : -1;
        if (n < 0) {
            snprintf(other_name, sizeof other_name, "%s", e->d_name);
            other = other_name;
            continue;
        }
        if (!(st = trainer_step(sub, &n, err))) {
            char label[32];
            snprintf(label, sizeof label, "%lld", (long long)n);
            st = add_item(p, &cap, path, e->d_name, label, n, 0, err);
        }
    }
    if (st || p->n == 0)
        return st;
    if (other)
        return lsc_error_set(err, LSC_ERR_INVALID,
                             "'%s': training checkpoints (checkpoint-N) and another adapter folder ('%s') side by side: "
                             "import them separately", path, other);
    qsort(p->items, p->n, sizeof *p->items, cmp_item);
    if ((st = check_steps(path, p, err)))
        return st;
    char model[4096];
    snprintf(model, sizeof model, "%s/%s", path, MODEL_FILE);
    if (lsc_is_file(model)) { /* the final save, in the run folder itself */
        int64_t step = p->items[p->n - 1].step;
        if (!(st = trainer_step(path, &step, err)))
            st = add_item(p, &cap, path, "", "final", step, 1, err);
    }
    return st;
}

/* The kohya layout: STEM-<digits>.safetensors per epoch, STEM.safetensors final. */
static lsc_status scan_kohya(const char *path, DIR *d, lsc_series_plan *p, lsc_error *err)
{
    size_t cap = 0, el = strlen(KOHYA_EXT);
    char stem[256] = "";
    struct dirent *e;
    lsc_status st = LSC_OK;
    while (!st && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= el || strcmp(e->d_name + len - el, KOHYA_EXT) != 0)
            continue;
        const char *dash = NULL;
        for (const char *c = e->d_name; c < e->d_name + len - el; c++)
            if (*c == '-')
                dash = c;
        int64_t ep = dash && dash > e->d_name ? parse_digits(dash + 1, (size_t)(e->d_name + len - el - dash - 1)) : -1;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (ep < 0 || !lsc_is_file(sub))
            continue;
        size_t sl = (size_t)(dash - e->d_name);
        if (sl >= sizeof stem)
            continue;
        if (!stem[0])
            memcpy(stem, e->d_name, sl), stem[sl] = '\0';
        else if (strlen(stem) != sl || strncmp(stem, e->d_name, sl) != 0)
            return lsc_error_set(err, LSC_ERR_INVALID, "'%s': per-epoch files of two runs ('%s' and '%.*s'): import one run per folder",
                                 path, stem, (int)sl, e->d_name);
        char label[32];
        snprintf(label, sizeof label, "%lld", (long long)ep);
        st = add_item(p, &cap, path, e->d_name, label, ep, 0, err);
    }
    if (st || p->n == 0)
        return st;
    qsort(p->items, p->n, sizeof *p->items, cmp_item);
    if ((st = check_steps(path, p, err)))
        return st;
    char fin[4096], entry[300];
    snprintf(entry, sizeof entry, "%s%s", stem, KOHYA_EXT);
    snprintf(fin, sizeof fin, "%s/%s", path, entry);
    if (lsc_is_file(fin))
        st = add_item(p, &cap, path, entry, "final", p->items[p->n - 1].step + 1, 1, err);
    /* one file alone is not a run ("lora-2024.safetensors" may just be a name): it imports as itself */
    if (!st && p->n < 2) {
        free(p->items[0].path);
        free(p->items[0].label);
        p->n = 0;
    }
    return st;
}

lsc_status lsc_series_scan(const char *path, lsc_series_plan **out, lsc_error *err)
{
    *out = NULL;
    if (!lsc_is_dir(path))
        return LSC_OK;
    lsc_series_plan *p = calloc(1, sizeof *p);
    if (!p)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    lsc_status st = LSC_OK;
    char model[4096];
    snprintf(model, sizeof model, "%s/%s", path, MODEL_FILE);
    int passes = lsc_is_file(model) ? 1 : 2; /* a PEFT folder is never a kohya run */
    for (int pass = 0; pass < passes && !st && p->n == 0; pass++) {
        DIR *d = opendir(path);
        if (!d) {
            st = lsc_error_set(err, LSC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
            break;
        }
        p->layout = pass == 0 ? "trainer" : "kohya";
        st = pass == 0 ? scan_trainer(path, d, p, err) : scan_kohya(path, d, p, err);
        closedir(d);
    }
    if (st || p->n == 0) {
        lsc_series_plan_free(p);
        return st;
    }
    *out = p;
    return LSC_OK;
}
