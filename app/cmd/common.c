/* common.c: helpers shared by the command handlers (see common.h). */
#include "common.h"

#include <fnmatch.h>
#include <pthread.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "pool.h"
#include "suggest.h"
#include "layername.h"
#include "lycoris_layer.h"

int lsc_usage_error(lsc_cmd_ctx *ctx, const char *cmd, const char *fmt, ...)
{
    char msg[LSC_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lsc_error_set(&ctx->err, LSC_ERR_USAGE, "%s: %s (see 'lorascope %s --help')", cmd, msg, cmd);
    return LSC_EXIT_USAGE;
}

int lsc_fail(lsc_cmd_ctx *ctx, const lsc_error *err)
{
    if (err != &ctx->err)
        ctx->err = *err;
    if (ctx->err.code == LSC_OK)
        ctx->err.code = LSC_ERR_INVALID;
    return ctx->err.code == LSC_ERR_USAGE ? LSC_EXIT_USAGE : LSC_EXIT_ERROR;
}

/* Length of the valid UTF-8 sequence at p (1 to 4), 0 if it is not one (overlong forms and surrogates
 * are invalid). */
static size_t utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
    if (n == 0 || (n == 3 && p[0] > 0xef))
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) || (n == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
        (n == 4 && p[0] == 0xf0 && p[1] < 0x90) || (n == 4 && p[0] == 0xf4 && p[1] >= 0x90))
        return 0;
    return n;
}

lsc_status lsc_name_check(const char *name, lsc_error *err)
{
    char shown[512];
    const char *why = NULL;
    size_t len = strlen(name);
    if (len == 0 || len > LSC_NAME_MAX)
        why = "1 to 200 bytes";
    else if (name[0] == '-')
        why = "it may not start with '-'";
    else if (strstr(name, "{}"))
        why = "'{}' stands for the matched adapter in scripts";
    for (const unsigned char *p = (const unsigned char *)name; !why && *p;) {
        size_t n = utf8_len(p);
        if (n == 0)
            why = "not valid UTF-8";
        else if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] < 0xa0))
            why = "control characters are not allowed";
        else if (strchr("*?[],", *p))
            why = "the characters * ? [ ] and , are not allowed (globs and lists in scripts)";
        p += n ? n : 1;
    }
    if (!why)
        return LSC_OK;
    return lsc_error_set(err, LSC_ERR_INVALID, "invalid adapter name '%s': %s", lsc_escape_name(shown, sizeof shown, name),
                         why);
}

int lsc_name_matches(const char *pattern, const char *name)
{
    if (!pattern || !*pattern)
        return 1;
    /* the display name is a suffix of the stored key: a substring of it is one of the key too */
    if (strpbrk(pattern, "*?["))
        return fnmatch(pattern, name, 0) == 0 || fnmatch(pattern, lsc_layername_display(name), 0) == 0;
    return strstr(name, pattern) != NULL;
}

lsc_status lsc_stats_runner_init(lsc_stats_runner *sr, lsc_error *err)
{
    memset(sr, 0, sizeof *sr);
    sr->ws = lsc_workspace_new();
    if (!sr->ws)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    return LSC_OK;
}

void lsc_stats_runner_release(lsc_stats_runner *sr)
{
    lsc_workspace_free(sr->ws);
    free(sr->b);
    free(sr->a);
    memset(sr, 0, sizeof *sr);
}

static void unload_layer(lsc_adapter *ad, const lsc_layer *l)
{
    int ts[4] = {l->ta, l->tb, l->te, l->tm};
    for (int i = 0; i < 4; i++)
        if (ts[i] >= 0)
            lsc_adapter_unload_tensor(ad, (size_t)ts[i]);
}

lsc_status lsc_layer_stats_now(lsc_adapter *ad, size_t li, lsc_stats_runner *sr, lsc_lowrank *lr,
                               lsc_layer_stats *out, lsc_error *err)
{
    lsc_lowrank view;
    lsc_lowrank *v = lr ? lr : &view;
    memset(v, 0, sizeof *v);
    if (ad->layers[li].flags & LSC_LAYER_LYCORIS)
        return lsc_lycoris_layer_stats(ad, li, sr->ws, out, err);
    lsc_status st = lsc_adapter_factors(ad, li, &sr->b, &sr->bcap, &sr->a, &sr->acap, v, err);
    return st ? st : lsc_stats_compute(v, sr->ws, out, err);
}

lsc_status lsc_layer_stats_get(lsc_stats_runner *sr, lsc_catalog *cat, lsc_adapter *ad, size_t li, int store,
                               lsc_layer_stats *out, lsc_error *err)
{
    char key[LSC_HASH_HEX] = "";
    lsc_status st;
    int have_hashes = 1;
    const lsc_layer *l = &ad->layers[li];
    int ts[3] = {l->ta, l->tb, l->te};
    for (int i = 0; i < 3; i++)
        if (ts[i] >= 0 && !ad->tensors[ts[i]].hash[0])
            have_hashes = 0;
    for (size_t i = 0; (l->flags & LSC_LAYER_LYCORIS) && i < ad->n_tensors; i++)
        if (ad->tensors[i].layer == (int)li && !ad->tensors[i].hash[0])
            have_hashes = 0;
    if (cat && have_hashes) {
        int found = 0;
        lsc_catalog_stats_key(ad, li, key);
        if ((st = lsc_catalog_get_stats(cat, key, out, &found, err)))
            return st;
        if (found)
            return LSC_OK;
    }
    st = lsc_layer_stats_now(ad, li, sr, NULL, out, err);
    unload_layer(ad, l);
    if (st) {
        lsc_error_prefix(err, "layer '%s'", l->name);
        return st;
    }
    if (cat && have_hashes && store && lsc_catalog_in_transaction(cat))
        st = lsc_catalog_put_stats(cat, key, out, err);
    return st;
}

/* ---- whole-adapter statistics over the pool ----
 * Cache lookups and stores stay on the calling thread (SQLite); the layers missing from the cache are
 * computed by lsc_pool_for, each layer by one worker into its own out slot with the same kernel, so the
 * figures are the same bytes whatever the thread count. Tensor loading goes through the adapter's loader
 * (a catalog statement, or a file) and is serialised by a mutex; the arithmetic runs unlocked. */
typedef struct stats_all_job {
    lsc_adapter *ad;
    const size_t *todo;
    lsc_layer_stats *out;
    lsc_stats_runner *runners; /* [threads], initialised on first use */
    pthread_mutex_t mu;
    volatile int *cancel;
} stats_all_job;

/* Every tensor lsc_adapter_factors reads for layer li: A, B, E, the magnitude and a SoRA gate. */
#define LAYER_TENSORS LSC_LAYER_INPUTS_MAX
static void layer_tensors(const lsc_adapter *ad, size_t li, int ts[LAYER_TENSORS])
{
    lsc_adapter_layer_inputs(ad, li, ts); /* LyCORIS factors too: a worker must never call the loader */
}

static lsc_status stats_all_item(void *vctx, size_t k, int worker, lsc_error *err)
{
    stats_all_job *job = vctx;
    size_t li = job->todo[k];
    lsc_adapter *ad = job->ad;
    lsc_stats_runner *sr = &job->runners[worker];
    int ts[LAYER_TENSORS];
    layer_tensors(ad, li, ts);
    if (job->cancel && *job->cancel)
        return lsc_error_set(err, LSC_ERR_CANCELLED, "statistics cancelled");
    if (!sr->ws && lsc_stats_runner_init(sr, err))
        return LSC_ERR_NOMEM;
    lsc_status st = LSC_OK;
    pthread_mutex_lock(&job->mu); /* the loader (a catalog statement, a file) serves one thread at a time */
    for (int i = 0; i < LAYER_TENSORS && !st; i++)
        if (ts[i] >= 0)
            st = lsc_adapter_load_tensor(ad, (size_t)ts[i], err);
    pthread_mutex_unlock(&job->mu);
    if (!st)
        st = lsc_layer_stats_now(ad, li, sr, NULL, &job->out[li], err);
    pthread_mutex_lock(&job->mu);
    for (int i = 0; i < LAYER_TENSORS; i++)
        if (ts[i] >= 0)
            lsc_adapter_unload_tensor(ad, (size_t)ts[i]);
    pthread_mutex_unlock(&job->mu);
    if (st)
        lsc_error_prefix(err, "layer '%s'", ad->layers[li].name);
    return st;
}

/* 1 if no two of the listed layers name the same tensor (then a worker's unload cannot pull bytes from
 * under another worker). */
static int layers_disjoint(const lsc_adapter *ad, const size_t *todo, size_t n)
{
    unsigned char *seen = calloc(ad->n_tensors + 1, 1);
    int ok = seen != NULL;
    for (size_t k = 0; k < n && ok; k++) {
        int ts[LAYER_TENSORS];
        layer_tensors(ad, todo[k], ts);
        for (int i = 0; i < LAYER_TENSORS && ok; i++)
            if (ts[i] >= 0 && (size_t)ts[i] < ad->n_tensors)
                ok = !seen[ts[i]]++;
    }
    free(seen);
    return ok;
}

static int layer_hashed(const lsc_adapter *ad, size_t li)
{
    int ts[LAYER_TENSORS];
    layer_tensors(ad, li, ts);
    for (int i = 0; i < 3; i++)
        if (ts[i] >= 0 && !ad->tensors[ts[i]].hash[0])
            return 0;
    return 1;
}

lsc_status lsc_layer_stats_all(lsc_catalog *cat, lsc_adapter *ad, const unsigned char *want, int store, int threads,
                               volatile int *cancel, lsc_layer_stats *out, lsc_error *err)
{
    size_t *todo = malloc((ad->n_layers + 1) * sizeof *todo), n = 0;
    if (!todo)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    lsc_status st = LSC_OK;
    for (size_t li = 0; li < ad->n_layers && !st; li++) {
        if (want && !want[li])
            continue;
        if (cancel && *cancel) {
            st = lsc_error_set(err, LSC_ERR_CANCELLED, "statistics cancelled");
            break;
        }
        int found = 0;
        if (cat && layer_hashed(ad, li)) {
            char key[LSC_HASH_HEX];
            lsc_catalog_stats_key(ad, li, key);
            st = lsc_catalog_get_stats(cat, key, &out[li], &found, err);
        }
        if (!st && !found)
            todo[n++] = li;
    }
    if (threads < 1)
        threads = 1;
    if (threads > 1 && !layers_disjoint(ad, todo, n))
        threads = 1;
    stats_all_job job = {.ad = ad, .todo = todo, .out = out, .cancel = cancel};
    job.runners = st ? NULL : calloc((size_t)threads, sizeof *job.runners);
    if (!st && !job.runners)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&job.mu, NULL);
    if (!st)
        st = lsc_pool_for(n, threads, stats_all_item, &job, err);
    pthread_mutex_destroy(&job.mu);
    for (int t = 0; job.runners && t < threads; t++)
        lsc_stats_runner_release(&job.runners[t]);
    free(job.runners);
    for (size_t k = 0; k < n && !st && store && cat && lsc_catalog_in_transaction(cat); k++) {
        if (!layer_hashed(ad, todo[k]))
            continue;
        char key[LSC_HASH_HEX];
        lsc_catalog_stats_key(ad, todo[k], key);
        st = lsc_catalog_put_stats(cat, key, &out[todo[k]], err);
    }
    free(todo);
    return st;
}

void lsc_cmd_suggest_adapter(lsc_cmd_ctx *ctx, const char *name)
{
    lsc_adapter_info *list = NULL;
    size_t n = 0;
    lsc_error e;
    if (ctx->err.code != LSC_ERR_NOTFOUND || !ctx->cat || lsc_catalog_list(ctx->cat, &list, &n, &e) != LSC_OK)
        return;
    lsc_suggest sg;
    lsc_suggest_init(&sg, name);
    for (size_t i = 0; i < n; i++)
        lsc_suggest_add(&sg, list[i].name);
    char hint[512];
    lsc_suggest_text(&sg, hint, sizeof hint);
    size_t len = strlen(ctx->err.msg);
    if (*hint && len + strlen(hint) < sizeof ctx->err.msg)
        memcpy(ctx->err.msg + len, hint, strlen(hint) + 1);
    lsc_adapter_info_free_array(list, n);
}

lsc_status lsc_cmd_load_any(lsc_cmd_ctx *ctx, const char *name, lsc_adapter **ad, int64_t *id)
{
    int64_t aid = 0;
    lsc_status st = lsc_catalog_find(ctx->cat, name, &aid, &ctx->err);
    if (st == LSC_ERR_NOTFOUND)
        lsc_cmd_suggest_adapter(ctx, name);
    if (!st)
        st = lsc_catalog_get_adapter(ctx->cat, name, ad, &ctx->err);
    if (st)
        return st;
    lsc_cmd_read(ctx, aid);
    if (id)
        *id = aid;
    return LSC_OK;
}

lsc_status lsc_cmd_load(lsc_cmd_ctx *ctx, const char *name, lsc_adapter **ad, int64_t *id)
{
    lsc_status st = lsc_cmd_load_any(ctx, name, ad, id);
    if (st || lsc_kind_parse((*ad)->kind) != LSC_KIND_SERIES)
        return st;
    /* a series has no layers of its own: an edit or a comparison of it would be of an empty adapter */
    lsc_adapter_free(*ad);
    *ad = NULL;
    char nm[512];
    lsc_escape_name(nm, sizeof nm, name);
    return lsc_error_set(&ctx->err, LSC_ERR_INVALID,
                         "'%s' is a series of checkpoints, not an adapter with layers: use one of them ('%s@STEP'; "
                         "'lorascope series %s' shows them)", nm, nm, nm);
}

json_t *lsc_json_layer_name(json_t *o, const char *key)
{
    if (o && key) {
        json_object_set_new(o, "name", json_string(lsc_layername_display(key)));
        json_object_set_new(o, "key", json_string(key));
    }
    return o;
}

json_t *lsc_json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static int json_sink_cb(const char *buffer, size_t size, void *data)
{
    lsc_sink *out = data;
    out->write(out, buffer, size);
    return 0;
}

void lsc_json_print(lsc_sink *out, json_t *v)
{
    json_dump_callback(v, json_sink_cb, out, JSON_INDENT(2) | JSON_REAL_PRECISION(17) | JSON_ENSURE_ASCII);
    lsc_out_str(out, "\n");
}

const char *lsc_layer_dtype(const lsc_adapter *ad, const lsc_layer *l)
{
    if (l->ta >= 0)
        return lsc_dtype_name(ad->tensors[l->ta].dtype);
    int li = (int)(l - ad->layers); /* a LyCORIS layer: its first stored factor */
    for (size_t i = 0; (l->flags & LSC_LAYER_LYCORIS) && i < ad->n_tensors; i++)
        if (ad->tensors[i].layer == li && ad->tensors[i].role == LSC_ROLE_FACTOR)
            return lsc_dtype_name(ad->tensors[i].dtype);
    return "?";
}

int lsc_cmd_cancelled(lsc_cmd_ctx *ctx, const char *what)
{
    if (!ctx->cancel || !*ctx->cancel)
        return 0;
    lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "%s cancelled", what);
    return 1;
}

lsc_status lsc_grow_doubles(double **buf, size_t *cap, size_t n, lsc_error *err)
{
    if (n <= *cap)
        return LSC_OK;
    double *nb = realloc(*buf, n * sizeof **buf);
    if (!nb)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    *buf = nb;
    *cap = n;
    return LSC_OK;
}
