/* cmd_import.c: `lorascope import PATH [--name NAME]`: take an adapter into the catalog exactly. The
 * format (PEFT folder or file, kohya .safetensors, GGUF) is detected from the content, not the name.
 *
 * Streams one layer at a time: load its tensors, hash them, store the blobs, compute and cache the
 * layer's statistics, drop the bytes; so peak memory stays near one layer, whatever the adapter's size.
 * Identical content already in the catalog is reported instead of stored twice (with --name a new name
 * is made over the stored tensors). Runs inside the
 * dispatcher's transaction: any error leaves the catalog as it was. */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog.h"
#include "cloneofsimo.h"
#include "common.h"
#include "handlers.h"
#include "hash.h"
#include "detect.h"
#include "diffusers.h"
#include "gguf.h"
#include "kohya.h"
#include "lycoris_layer.h"
#include "peft.h"
#include "pool.h"
#include "series.h"

char *lsc_import_default_name(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    struct stat sb;
    char *result;
    if (stat(copy, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        result = strdup(basename(copy));
    } else {
        char *c2 = strdup(copy);
        char *base = basename(c2);
        if (strcmp(base, "adapter_model.safetensors") == 0) {
            char *c3 = strdup(copy);
            result = strdup(basename(dirname(c3)));
            free(c3);
        } else {
            char *dot = strrchr(base, '.');
            if (dot && dot != base)
                *dot = '\0';
            result = strdup(base);
        }
        free(c2);
    }
    free(copy);
    return result;
}

lsc_status lsc_import_tasks(const char *path, char ***tasks, size_t *n, lsc_error *err)
{
    struct stat sb;
    char sub[4096];
    *tasks = NULL;
    *n = 0;
    snprintf(sub, sizeof sub, "%s/adapter_model.safetensors", path);
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode) || stat(sub, &sb) == 0)
        return LSC_OK;
    lsc_status st = lsc_peft_list(path, tasks, n, err);
    if (!st && !*tasks)
        *tasks = calloc(1, sizeof(char *)); /* a folder with no adapter at all: non-NULL, empty */
    return st;
}

/* The name alphabet (lsc_name_check); a name import made from a path says so and how to give another. */
static int check_name(lsc_cmd_ctx *ctx, const char *name, const char *derived_from, const char *hint)
{
    if (!lsc_name_check(name, &ctx->err))
        return LSC_EXIT_OK;
    if (derived_from) {
        char shown[512];
        lsc_error_prefix(&ctx->err, "'%s'", lsc_escape_name(shown, sizeof shown, derived_from));
        snprintf(ctx->err.msg + strlen(ctx->err.msg), sizeof ctx->err.msg - strlen(ctx->err.msg),
                 " (%s)", hint);
    }
    return LSC_EXIT_ERROR;
}

/* Statistics are computed on other threads while the main thread reads, hashes and stores the next
 * layers (SQLite stays on the main thread). The main thread hands over a layer whose tensors are loaded
 * and hashed and never touches them again; a worker computes, then frees their bytes. The workers are
 * lsc_pool_default_threads() loops run by lsc_pool_for on one helper thread (the pool holds OpenBLAS to
 * one thread while several run): with the catalog's bytes written once (the pack) the statistics are
 * most of an import's CPU, so one adapter's layers are spread over every core. Each layer's figures go
 * to its own slot, computed by one thread with the same kernel whatever the count: the same bits with 1
 * or N workers; a failure is reported for the lowest failing layer. At most LSC_IMPORT_QUEUE layers wait
 * in the queue (plus one per worker being computed), which bounds memory. */
#define LSC_IMPORT_QUEUE 8

typedef struct stats_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lsc_adapter *ad;
    size_t queue[LSC_IMPORT_QUEUE];
    size_t head, count;         /* ring buffer of layer indices */
    int closing, threads;
    lsc_layer_stats *results;   /* [n_layers] */
    unsigned char *computed;    /* [n_layers] */
    lsc_status status;          /* the failure of the lowest failing layer, fail_li */
    size_t fail_li;
    lsc_error err;
} stats_worker;

static void unload_layer_tensors(lsc_adapter *ad, const lsc_layer *l)
{
    int ts[4] = {l->ta, l->tb, l->te, l->tm};
    for (int k = 0; k < 4; k++)
        if (ts[k] >= 0)
            lsc_adapter_unload_tensor(ad, (size_t)ts[k]);
    if (l->flags & LSC_LAYER_LYCORIS) {
        int li = (int)(l - ad->layers);
        for (size_t i = 0; i < ad->n_tensors; i++)
            if (ad->tensors[i].layer == li && ad->tensors[i].role == LSC_ROLE_FACTOR)
                lsc_adapter_unload_tensor(ad, i);
    }
}

/* Hash and store tensor i (loaded for it, left loaded for the statistics). */
static lsc_status put_tensor(lsc_cmd_ctx *ctx, lsc_adapter *ad, size_t i)
{
    lsc_tensor *t = &ad->tensors[i];
    lsc_status st = lsc_adapter_load_tensor(ad, i, &ctx->err);
    if (!st) {
        lsc_hash_tensor(t);
        st = lsc_catalog_put_blob(ctx->cat, t->hash, t->data, t->nbytes, &ctx->err);
    }
    return st;
}

/* A scale that makes the delta s*B*A overflow (|s| ||B|| ||A|| past the largest double, in logarithms so
 * the bound itself cannot overflow) is refused: every figure of the layer would be Inf or NaN. */
static lsc_status check_scale(const lsc_lowrank *lr, const lsc_layer_stats *st, lsc_error *err)
{
    if ((st->flags & LSC_STATS_NONFINITE) || lr->scale == 0.0 || !(st->norm_a > 0.0) || !(st->norm_b > 0.0))
        return LSC_OK;
    if (log(fabs(lr->scale)) + log(st->norm_b) + log(st->norm_a) < log(DBL_MAX))
        return LSC_OK;
    return lsc_error_set(err, LSC_ERR_NUMERIC,
                         "scale %g (alpha/r) times ||B|| %g times ||A|| %g overflows a double: the delta would not be finite",
                         lr->scale, st->norm_b, st->norm_a);
}

/* One worker: compute the layers it takes from the queue until the queue is closed and empty. */
static lsc_status stats_loop(void *arg, size_t index, int worker, lsc_error *unused)
{
    (void)index, (void)worker, (void)unused;
    stats_worker *w = arg;
    lsc_workspace *ws = lsc_workspace_new();
    double *b = NULL, *a = NULL;
    size_t bc = 0, ac = 0;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->count == 0 && !w->closing)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->count == 0) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        size_t li = w->queue[w->head];
        w->head = (w->head + 1) % LSC_IMPORT_QUEUE;
        w->count--;
        int failed = w->status != LSC_OK && w->fail_li < li; /* a lower layer failed: this one is moot */
        pthread_cond_broadcast(&w->cv); /* a queue slot is free */
        pthread_mutex_unlock(&w->mu);

        lsc_status st = LSC_OK;
        lsc_error err;
        lsc_error_clear(&err);
        if (!failed) {
            lsc_lowrank lr;
            if (!ws)
                st = lsc_error_set(&err, LSC_ERR_NOMEM, "out of memory");
            lsc_stats_runner sr = {ws, b, a, bc, ac};
            if (!st)
                st = lsc_layer_stats_now(w->ad, li, &sr, &lr, &w->results[li], &err);
            b = sr.b, a = sr.a, bc = sr.bcap, ac = sr.acap;
            if (!st && lr.B) /* a LyCORIS layer's scale is checked by its own reader */
                st = check_scale(&lr, &w->results[li], &err);
            if (st) {
                char shown[512];
                lsc_error_prefix(&err, "layer '%s'", lsc_escape_name(shown, sizeof shown, w->ad->layers[li].name));
            }
        }
        unload_layer_tensors(w->ad, &w->ad->layers[li]);

        pthread_mutex_lock(&w->mu);
        if (st && (w->status == LSC_OK || li < w->fail_li)) {
            w->status = st;
            w->fail_li = li;
            w->err = err;
        }
        if (!st && !failed)
            w->computed[li] = 1;
        pthread_mutex_unlock(&w->mu);
    }
    free(b);
    free(a);
    lsc_workspace_free(ws);
    return LSC_OK;
}

/* The helper thread: the workers as a parallel-for over w->threads loops. */
static void *stats_thread(void *arg)
{
    stats_worker *w = arg;
    lsc_error unused;
    lsc_error_clear(&unused);
    lsc_pool_for((size_t)w->threads, w->threads, stats_loop, w, &unused);
    return NULL;
}

/* Hand layer li over to the worker, waiting while the queue is full. */
static void stats_submit(stats_worker *w, size_t li)
{
    pthread_mutex_lock(&w->mu);
    while (w->count == LSC_IMPORT_QUEUE)
        pthread_cond_wait(&w->cv, &w->mu);
    w->queue[(w->head + w->count) % LSC_IMPORT_QUEUE] = li;
    w->count++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Hash and store every tensor of `ad`, computing each layer's statistics on the way (cached ones are
 * reused), and store the new statistics in the catalog's cache. `pre` (NULL, or [n_layers] with `have`)
 * holds statistics a batch worker computed already: they are taken over (pre[li] left released). */
static lsc_status store_tensors(lsc_cmd_ctx *ctx, lsc_adapter *ad, int *nonfinite_layers, lsc_layer_stats *pre,
                                const unsigned char *have)
{
    stats_worker w;
    memset(&w, 0, sizeof w);
    w.ad = ad;
    w.threads = lsc_pool_default_threads();
    w.results = calloc(ad->n_layers + 1, sizeof *w.results);
    w.computed = calloc(ad->n_layers + 1, 1);
    lsc_status st = LSC_OK;
    if (!w.results || !w.computed) {
        free(w.results);
        free(w.computed);
        return lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int started = pthread_create(&w.thread, NULL, stats_thread, &w) == 0;
    if (!started)
        st = lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "cannot start a thread");
    for (size_t li = 0; li < ad->n_layers && !st; li++) {
        lsc_layer *l = &ad->layers[li];
        int ts[4] = {l->ta, l->tb, l->te, l->tm};
        for (int k = 0; k < 4 && !st; k++)
            if (ts[k] >= 0)
                st = put_tensor(ctx, ad, (size_t)ts[k]);
        for (size_t i = 0; !st && (l->flags & LSC_LAYER_LYCORIS) && i < ad->n_tensors; i++)
            if (ad->tensors[i].layer == (int)li && ad->tensors[i].role == LSC_ROLE_FACTOR)
                st = put_tensor(ctx, ad, i); /* the statistics key names the factors by their hashes */
        if (st) {
            unload_layer_tensors(ad, l);
            break;
        }
        /* figures already in the cache (an unchanged layer seen before) need no work */
        char key[LSC_HASH_HEX];
        int found = 0;
        lsc_layer_stats cached;
        memset(&cached, 0, sizeof cached);
        lsc_catalog_stats_key(ad, li, key);
        st = lsc_catalog_get_stats(ctx->cat, key, &cached, &found, &ctx->err);
        if (!st && found) {
            if (cached.flags & LSC_STATS_NONFINITE)
                (*nonfinite_layers)++;
            lsc_stats_release(&cached);
            unload_layer_tensors(ad, l);
        } else if (!st && pre && have[li]) {
            w.results[li] = pre[li];
            memset(&pre[li], 0, sizeof pre[li]);
            w.computed[li] = 1;
            unload_layer_tensors(ad, l);
        } else if (!st) {
            stats_submit(&w, li);
        }
        if (!st && ctx->cancel && *ctx->cancel)
            st = lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "import cancelled");
    }
    if (started) {
        pthread_mutex_lock(&w.mu);
        w.closing = 1;
        pthread_cond_broadcast(&w.cv);
        pthread_mutex_unlock(&w.mu);
        pthread_join(w.thread, NULL);
    }
    if (!st && w.status) {
        st = w.status;
        ctx->err = w.err;
    }
    for (size_t li = 0; li < ad->n_layers; li++) {
        if (!st && w.computed[li]) {
            char key[LSC_HASH_HEX];
            lsc_catalog_stats_key(ad, li, key);
            st = lsc_catalog_put_stats(ctx->cat, key, &w.results[li], &ctx->err);
            if (w.results[li].flags & LSC_STATS_NONFINITE)
                (*nonfinite_layers)++;
        }
        lsc_stats_release(&w.results[li]);
    }
    free(w.results);
    free(w.computed);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    /* tensors outside LoRA layers (extras, alpha scalars) */
    for (size_t i = 0; i < ad->n_tensors && !st; i++) {
        lsc_tensor *t = &ad->tensors[i];
        if (t->hash[0])
            continue;
        st = lsc_adapter_load_tensor(ad, i, &ctx->err);
        if (!st) {
            lsc_hash_tensor(t);
            st = lsc_catalog_put_blob(ctx->cat, t->hash, t->data, t->nbytes, &ctx->err);
            lsc_adapter_unload_tensor(ad, i);
        }
    }
    return st;
}

/* 1 if the visible adapter `name` holds exactly this content. */
static int named_same(lsc_cmd_ctx *ctx, const char *name, const char content[LSC_HASH_HEX])
{
    lsc_adapter_info *list = NULL;
    size_t n = 0;
    lsc_error e;
    int same = 0;
    if (lsc_catalog_list(ctx->cat, &list, &n, &e) != LSC_OK)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            same = strcmp(list[i].content_hash, content) == 0;
    lsc_adapter_info_free_array(list, n);
    return same;
}

/* Import one adapter already read into `ad` under `name`. Content already stored under another name is
 * reported and not stored again, unless the name was asked for (`named`, from --name): then the new name
 * is made over the stored tensors (like a git tag on an existing commit), so a script's next line finds it. */
static int import_one(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *name, int named, json_t *report, int64_t *out_id,
                      lsc_layer_stats *pre, const unsigned char *have)
{
    char shown[512];
    int nonfinite = 0;
    free(ad->name);
    ad->name = strdup(name);
    if (!ad->name) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        return LSC_EXIT_ERROR;
    }
    if (store_tensors(ctx, ad, &nonfinite, pre, have))
        return LSC_EXIT_ERROR;
    char content[LSC_HASH_HEX];
    lsc_hash_adapter(ad, content);
    char *existing = NULL;
    if (lsc_catalog_find_content(ctx->cat, content, &existing, &ctx->err))
        return LSC_EXIT_ERROR;
    if (existing && named && strcmp(existing, name) != 0 && named_same(ctx, name, content)) {
        free(existing); /* NEW already names this content (a second `import --name NEW`): nothing new */
        existing = strdup(name);
        if (!existing) {
            lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
            return LSC_EXIT_ERROR;
        }
    } else if (existing && named && strcmp(existing, name) != 0) {
        char shown_old[512];
        lsc_out(ctx->diag, "lorascope: '%s' shares its content with '%s' (the tensors are stored once)\n",
                lsc_escape_name(shown, sizeof shown, name), lsc_escape_name(shown_old, sizeof shown_old, existing));
        free(existing);
        existing = NULL;
    }
    if (existing) {
        lsc_out(ctx->diag, "lorascope: '%s' is already in the catalog as '%s' (nothing imported)\n",
                lsc_escape_name(shown, sizeof shown, ad->source ? ad->source : name), existing);
        if (report) {
            json_t *o = json_pack("{s:s, s:s, s:b}", "name", existing, "source", ad->source ? ad->source : "",
                                  "already_present", 1);
            json_array_append_new(report, o);
        } else {
            lsc_out(ctx->out, "%s\n", existing);
        }
        lsc_error e2;
        if (out_id && lsc_catalog_find(ctx->cat, existing, out_id, &e2) != LSC_OK)
            *out_id = 0;
        free(existing);
        return -1; /* nothing new */
    }
    int64_t id = 0;
    if (lsc_catalog_put_adapter(ctx->cat, ad, NULL, 0, &id, &ctx->err)) {
        if (ctx->err.code == LSC_ERR_EXISTS)
            lsc_error_set(&ctx->err, LSC_ERR_EXISTS, "adapter '%s' already exists (choose another with --name)",
                          lsc_escape_name(shown, sizeof shown, name));
        return LSC_EXIT_ERROR;
    }
    lsc_cmd_wrote(ctx, id);
    if (out_id)
        *out_id = id;
    if (ad->warnings && *ad->warnings) {
        char *w = strdup(ad->warnings), *save = NULL;
        for (char *line = strtok_r(w, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        {
            char shown_line[LSC_ERROR_MSG_MAX];
            lsc_out(ctx->diag, "lorascope: warning: %s: %s\n", lsc_escape_name(shown, sizeof shown, name),
                    lsc_escape_name(shown_line, sizeof shown_line, line));
        }
        free(w);
    }
    if (nonfinite)
        lsc_out(ctx->diag, "lorascope: warning: %s: %d layer(s) hold NaN or Inf (flagged; edits refuse them)\n",
                lsc_escape_name(shown, sizeof shown, name), nonfinite);
    if (report)
        json_array_append_new(report, json_pack("{s:s, s:I, s:I, s:s}", "name", name, "layers", (json_int_t)ad->n_layers,
                                                "params", (json_int_t)lsc_adapter_params(ad), "kind",
                                                ad->kind ? ad->kind : "static"));
    else
        lsc_out(ctx->out, "%s\n", lsc_escape_name(shown, sizeof shown, name));
    return LSC_EXIT_OK;
}

static const char *g_kind_override; /* import --kind: the kind to record instead of the detected one */

/* Read the adapter at `path` (format from its content) with its source and the --kind override; safe on
 * any thread (the result is owned by the caller). */
static lsc_status read_adapter(const char *path, volatile int *cancel, lsc_adapter **out, lsc_error *err)
{
    lsc_adapter *ad = NULL;
    char fmt[16];
    lsc_status st = lsc_detect_format(path, fmt, sizeof fmt, err);
    if (st)
        return st;
    st = strcmp(fmt, "kohya") == 0         ? lsc_kohya_read(path, &ad, err)
         : strcmp(fmt, "gguf") == 0        ? lsc_gguf_read(path, &ad, err)
         : strcmp(fmt, "diffusers") == 0   ? lsc_diffusers_read(path, &ad, err)
         : strcmp(fmt, "cloneofsimo") == 0 ? lsc_cloneofsimo_read(path, &ad, err)
                                           : lsc_peft_read_cancel(path, &ad, cancel, err);
    if (st)
        return st;
    if (!ad->source)
        ad->source = strdup(path);
    if (g_kind_override && (st = lsc_adapter_set_kind(ad, lsc_kind_parse(g_kind_override), err))) {
        lsc_adapter_free(ad);
        return st;
    }
    *out = ad;
    return LSC_OK;
}

static int read_and_import(lsc_cmd_ctx *ctx, const char *path, const char *name, int named, json_t *report,
                           int *imported, int64_t *out_id)
{
    lsc_adapter *ad = NULL;
    if (read_adapter(path, ctx->cancel, &ad, &ctx->err))
        return LSC_EXIT_ERROR;
    int rc = import_one(ctx, ad, name, named, report, out_id, NULL, NULL);
    lsc_adapter_free(ad);
    if (rc == LSC_EXIT_OK)
        (*imported)++;
    return rc < 0 ? LSC_EXIT_OK : rc;
}

/* The multi-task adapter `name` over already-stored task adapters. Its content is the list of tasks and
 * their content hashes, so importing the same folder twice is recognised. */
static int make_group(lsc_cmd_ctx *ctx, const char *name, int named, const char *const *tasks, const int64_t *members,
                      size_t n, json_t *report, int *imported)
{
    lsc_adapter *g = lsc_adapter_new();
    json_t *meta = json_object(), *jt = json_array();
    int rc = LSC_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        lsc_adapter *m = NULL;
        if (lsc_catalog_get_adapter_by_id(ctx->cat, members[i], &m, &ctx->err)) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        char h[LSC_HASH_HEX];
        lsc_hash_adapter(m, h);
        json_array_append_new(jt, json_pack("{s:s, s:s}", "task", tasks[i], "content", h));
        if (i == 0 && g) {
            g->base_model = strdup(m->base_model ? m->base_model : "");
            g->format = strdup(m->format ? m->format : "peft");
        }
        lsc_adapter_free(m);
    }
    json_object_set_new(meta, "tasks", jt);
    if (!rc && g) {
        g->name = strdup(name);
        lsc_adapter_set_kind(g, LSC_KIND_MULTITASK, NULL); /* out of memory: stored without a kind */
        g->metadata_json = json_dumps(meta, JSON_COMPACT);
        char content[LSC_HASH_HEX], *existing = NULL;
        lsc_hash_adapter(g, content);
        if (lsc_catalog_find_content(ctx->cat, content, &existing, &ctx->err))
            rc = LSC_EXIT_ERROR;
        else if (existing && named && strcmp(existing, name) != 0 && !named_same(ctx, name, content)) {
            lsc_out(ctx->diag, "lorascope: '%s' groups the same tasks as '%s'\n", name, existing);
            free(existing);
            existing = NULL;
        }
        if (rc == LSC_EXIT_OK && existing) {
            lsc_out(ctx->diag, "lorascope: these tasks are already in the catalog as '%s'\n", existing);
            free(existing);
        } else if (rc == LSC_EXIT_OK) {
            int64_t id;
            if (lsc_catalog_put_adapter(ctx->cat, g, NULL, 0, &id, &ctx->err) ||
                lsc_catalog_set_tasks(ctx->cat, id, tasks, members, n, &ctx->err)) {
                if (ctx->err.code == LSC_ERR_EXISTS)
                    lsc_error_set(&ctx->err, LSC_ERR_EXISTS, "adapter '%s' already exists (choose another with --name)", name);
                rc = LSC_EXIT_ERROR;
            } else {
                lsc_cmd_wrote(ctx, id);
                (*imported)++;
                if (report)
                    json_array_append_new(report, json_pack("{s:s, s:s, s:I}", "name", name, "kind", lsc_kind_name(LSC_KIND_MULTITASK), "tasks",
                                                            (json_int_t)n));
                else
                    lsc_out(ctx->out, "%s\n", name);
            }
        }
    }
    json_decref(meta);
    lsc_adapter_free(g);
    return rc;
}

/* Every member of a series must have the layers of the first, with the same shapes: a checkpoint of
 * another run (or a truncated save) mixed into the folder is refused, naming both checkpoints. */
static int check_same_layers(lsc_cmd_ctx *ctx, const lsc_adapter *first, const char *first_path, const lsc_adapter *m,
                             const char *path)
{
    char shown[512];
    for (size_t i = 0; i < first->n_layers; i++) {
        const lsc_layer *l = &first->layers[i];
        int j = lsc_adapter_find_layer(m, l->name);
        if (j < 0) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s': layer '%s' of '%s' is missing: checkpoints of one run have the same layers",
                          path, lsc_escape_name(shown, sizeof shown, l->name), first_path);
            return LSC_EXIT_ERROR;
        }
        const lsc_layer *k = &m->layers[j];
        if (k->rows != l->rows || k->cols != l->cols) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s': layer '%s' is [%lld, %lld] but [%lld, %lld] in '%s'", path,
                          lsc_escape_name(shown, sizeof shown, l->name), (long long)k->rows, (long long)k->cols,
                          (long long)l->rows, (long long)l->cols, first_path);
            return LSC_EXIT_ERROR;
        }
    }
    if (m->n_layers != first->n_layers) {
        for (size_t j = 0; j < m->n_layers; j++)
            if (lsc_adapter_find_layer(first, m->layers[j].name) < 0) {
                lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s': layer '%s' is not in '%s': checkpoints of one run have the same layers",
                              path, lsc_escape_name(shown, sizeof shown, m->layers[j].name), first_path);
                return LSC_EXIT_ERROR;
            }
    }
    return LSC_EXIT_OK;
}

/* kohya's final file says its epoch in ss_epoch; when it is past the last per-epoch file, that is its step. */
static void kohya_final_step(const lsc_adapter *m, lsc_series_entry *e, int64_t prev)
{
    json_t *o = m->metadata_json ? json_loads(m->metadata_json, 0, NULL) : NULL;
    const char *ep = json_string_value(json_object_get(o, "ss_epoch"));
    char *end = NULL;
    long long v = ep ? strtoll(ep, &end, 10) : -1;
    if (ep && end && !*end && end != ep && v > prev)
        e->step = v;
    json_decref(o);
}

/* The series adapter `name` over already-stored checkpoints. Its content is the list of steps and the
 * members' content hashes, so importing the same run twice is recognised. */
static int make_series(lsc_cmd_ctx *ctx, const char *name, int named, const char *layout, lsc_series_entry *e,
                       lsc_adapter **ads, size_t n, json_t *report, int *imported)
{
    lsc_adapter *g = lsc_adapter_new();
    json_t *meta = json_object(), *js = json_array();
    int rc = g && meta && js ? LSC_EXIT_OK : lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    for (size_t i = 0; i < n && !rc; i++) {
        char h[LSC_HASH_HEX];
        lsc_hash_adapter(ads[i], h);
        json_array_append_new(js, json_pack("{s:I, s:s, s:s}", "step", (json_int_t)e[i].step, "label", e[i].label,
                                            "content", h));
    }
    json_object_set_new(meta, "layout", json_string(layout));
    json_object_set_new(meta, "series", js);
    if (!rc) {
        g->name = strdup(name);
        g->base_model = strdup(ads[0]->base_model ? ads[0]->base_model : "");
        g->format = strdup(ads[0]->format ? ads[0]->format : "peft");
        lsc_adapter_set_kind(g, LSC_KIND_SERIES, NULL); /* out of memory: stored without a kind */
        g->metadata_json = json_dumps(meta, JSON_COMPACT);
        char content[LSC_HASH_HEX], *existing = NULL;
        lsc_hash_adapter(g, content);
        if (lsc_catalog_find_content(ctx->cat, content, &existing, &ctx->err))
            rc = LSC_EXIT_ERROR;
        else if (existing && named && strcmp(existing, name) != 0 && !named_same(ctx, name, content)) {
            free(existing);
            existing = NULL;
        }
        int64_t id;
        if (rc == LSC_EXIT_OK && existing) {
            lsc_out(ctx->diag, "lorascope: this run is already in the catalog as '%s'\n", existing);
            free(existing);
        } else if (rc == LSC_EXIT_OK && (lsc_catalog_put_adapter(ctx->cat, g, NULL, 0, &id, &ctx->err) ||
                                         lsc_catalog_set_series(ctx->cat, id, e, n, &ctx->err))) {
            if (ctx->err.code == LSC_ERR_EXISTS)
                lsc_error_set(&ctx->err, LSC_ERR_EXISTS, "adapter '%s' already exists (choose another with --name)", name);
            rc = LSC_EXIT_ERROR;
        } else if (rc == LSC_EXIT_OK) {
            lsc_cmd_wrote(ctx, id);
            (*imported)++;
            if (report)
                json_array_append_new(report, json_pack("{s:s, s:s, s:I}", "name", name, "kind", lsc_kind_name(LSC_KIND_SERIES),
                                                        "checkpoints", (json_int_t)n));
            else
                lsc_out(ctx->out, "%s\n", name);
        }
    }
    json_decref(meta);
    lsc_adapter_free(g);
    return rc;
}

/* A training run: each checkpoint imports as NAME@LABEL (LABEL its step, or "final"), then the series
 * NAME records them in step order. Checkpoints must agree on layers and shapes. */
static int import_series(lsc_cmd_ctx *ctx, const lsc_series_plan *plan, const char *dname, int named, json_t *report,
                         int *imported)
{
    size_t n = plan->n;
    lsc_series_entry *e = calloc(n + 1, sizeof *e);
    lsc_adapter **ads = calloc(n + 1, sizeof *ads);
    int rc = e && ads ? LSC_EXIT_OK : lsc_fail(ctx, &(lsc_error){LSC_ERR_NOMEM, "out of memory"});
    for (size_t i = 0; i < n && rc == LSC_EXIT_OK; i++) {
        const lsc_series_item *it = &plan->items[i];
        char mname[512];
        snprintf(mname, sizeof mname, "%s@%s", dname, it->label);
        e[i].step = it->step;
        e[i].label = it->label;
        rc = check_name(ctx, mname, it->path, "a checkpoint's name comes from the run's name: give one with --name NAME");
        if (rc == LSC_EXIT_OK)
            rc = read_and_import(ctx, it->path, mname, named, report, imported, &e[i].member_id);
        if (rc == LSC_EXIT_OK && lsc_catalog_get_adapter_by_id(ctx->cat, e[i].member_id, &ads[i], &ctx->err))
            rc = LSC_EXIT_ERROR;
        if (rc == LSC_EXIT_OK && i > 0)
            rc = check_same_layers(ctx, ads[0], plan->items[0].path, ads[i], it->path);
        if (rc == LSC_EXIT_OK && it->final && strcmp(plan->layout, "kohya") == 0 && i > 0)
            kohya_final_step(ads[i], &e[i], e[i - 1].step);
    }
    if (rc == LSC_EXIT_OK)
        rc = make_series(ctx, dname, named, plan->layout, e, ads, n, report, imported);
    for (size_t i = 0; ads && i < n; i++)
        lsc_adapter_free(ads[i]);
    free(ads);
    free(e);
    return rc;
}


/* Import one path under `dname`: a task folder (each task sub-folder as DNAME-TASK, then the multi-task
 * adapter grouping them) or one adapter. */
static int import_path(lsc_cmd_ctx *ctx, const char *path, const char *dname, int named, json_t *report, int *imported)
{
    int rc = LSC_EXIT_OK;
    char **names = NULL;
    size_t n = 0;
    lsc_series_plan *plan = NULL;
    if (lsc_series_scan(path, &plan, &ctx->err)) {
        rc = LSC_EXIT_ERROR;
    } else if (plan) {
        /* a training run: its checkpoints are a series, not tasks */
        rc = import_series(ctx, plan, dname, named, report, imported);
        lsc_series_plan_free(plan);
    } else if (lsc_import_tasks(path, &names, &n, &ctx->err)) {
        rc = LSC_EXIT_ERROR;
    } else if (names) {
        /* a multi-adapter folder: each task sub-folder is an adapter, and a multi-task adapter groups them */
        int64_t *member_ids = calloc(n + 1, sizeof *member_ids);
        if (n == 0) {
            lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "'%s': no adapter_model.safetensors in this folder or its sub-folders",
                          path);
            rc = LSC_EXIT_ERROR;
        }
        for (size_t i = 0; i < n && rc == LSC_EXIT_OK; i++) {
            char tpath[4096], tname[512];
            snprintf(tpath, sizeof tpath, "%s/%s", path, names[i]);
            snprintf(tname, sizeof tname, "%s-%s", dname, names[i]);
            rc = check_name(ctx, tname, tpath, "a task's name comes from its folder: rename the folder");
            if (rc == LSC_EXIT_OK)
                rc = read_and_import(ctx, tpath, tname, named, report, imported, &member_ids[i]);
        }
        if (rc == LSC_EXIT_OK && n > 0)
            rc = make_group(ctx, dname, named, (const char *const *)names, member_ids, n, report, imported);
        free(member_ids);
    } else {
        rc = read_and_import(ctx, path, dname, named, report, imported, NULL);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* ---- many adapters: `import PATH...`, `import --recursive DIR` --------------------------------------
 *
 * Protocol. The paths are listed first (a recursive walk in sorted order), each with the name it will
 * get. Worker threads (lsc_pool_default_threads()) then read, hash and compute the statistics of upcoming
 * adapters, at most BATCH_WINDOW ahead of the writer; the calling thread is the one writer and the only
 * one that touches SQLite: in list order it stores each adapter inside its own savepoint of the command's
 * one transaction, so an adapter that fails half-way is rolled back alone and reported in one line that
 * names it (--strict: the command fails and the dispatcher rolls the whole batch back: nothing of it is
 * imported). The batch is one transaction and one history entry: one COMMIT (one fsync) for a thousand
 * small adapters, and one `undo` takes the batch back. An adapter whose tensors pass BATCH_PREP_BYTES is
 * not loaded by a worker (the window would hold several of them): the writer streams it one layer at a
 * time as a single import does, with its statistics on a second thread. */
#define BATCH_WINDOW 8
#define BATCH_PREP_BYTES ((size_t)16 << 20)

typedef struct batch_item {
    char *path, *name;
    int folder_group;           /* a task folder: the writer imports it through import_path */
    /* filled by a worker (read only by the writer once `ready`) */
    lsc_adapter *ad;
    lsc_layer_stats *stats;     /* [n_layers] when the worker computed them */
    unsigned char *have;        /* [n_layers] */
    lsc_status st;
    lsc_error err;
    int ready;
} batch_item;

typedef struct batch {
    batch_item *items;
    size_t n, cap;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next_claim, next_write;
    int stop;
    volatile int *cancel;
} batch;

static void batch_item_release(batch_item *it)
{
    if (it->stats && it->ad)
        for (size_t li = 0; li < it->ad->n_layers; li++)
            lsc_stats_release(&it->stats[li]);
    free(it->stats);
    free(it->have);
    lsc_adapter_free(it->ad);
    free(it->path);
    free(it->name);
    memset(it, 0, sizeof *it);
}

/* A name from a relative path: bytes a name may not hold (lsc_name_check) become '_', and so does a
 * leading '-' and the '{' of "{}"; cut to LSC_NAME_MAX bytes on a character boundary. */
static char *name_from_rel(const char *rel)
{
    size_t n = strlen(rel);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)rel[i];
        out[i] = c && (c < 0x20 || c == 0x7f || strchr("*?[],", c)) ? '_' : (char)c;
    }
    for (char *p = strstr(out, "{}"); p; p = strstr(p, "{}"))
        *p = '_';
    if (out[0] == '-')
        out[0] = '_';
    if (n > LSC_NAME_MAX) {
        size_t cut = LSC_NAME_MAX;
        while (cut > 0 && ((unsigned char)out[cut] & 0xc0) == 0x80)
            cut--;
        out[cut] = '\0';
    }
    return out;
}

static lsc_status batch_add(batch *b, const char *path, char *name, int group, lsc_error *err)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        batch_item *items = realloc(b->items, cap * sizeof *items);
        if (!items) {
            free(name);
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        }
        b->items = items;
        b->cap = cap;
    }
    batch_item *it = &b->items[b->n];
    memset(it, 0, sizeof *it);
    it->path = strdup(path);
    it->name = name;
    it->folder_group = group;
    if (!it->path || !name) {
        free(it->path);
        free(name);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    b->n++;
    return LSC_OK;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n > k && strcmp(s + n - k, suf) == 0;
}

/* Non-zero when the folder is a training run (series.h: checkpoint-N sub-folders, or kohya per-epoch
 * files), which a single import takes in as one series; a folder lsc_series_scan refuses is not one. */
static int is_run_folder(const char *path)
{
    lsc_series_plan *plan = NULL;
    lsc_error e;
    int run = lsc_series_scan(path, &plan, &e) == LSC_OK && plan;
    lsc_series_plan_free(plan);
    return run;
}

/* What a folder below the walk's root is, by the detection a single import uses: 1 an adapter,
 * 2 a task folder (sub-folders holding adapters) or a training run (kohya per-epoch files too: a series,
 * as `import FOLDER` makes, not one adapter per epoch file), 0 neither (walk into it). */
static int folder_kind(const char *path)
{
    char sub[4096];
    struct stat sb;
    if (snprintf(sub, sizeof sub, "%s/adapter_model.safetensors", path) >= (int)sizeof sub)
        return 0;
    if (stat(sub, &sb) == 0)
        return 1;
    if (is_run_folder(path))
        return 2;
    char **tasks = NULL;
    size_t n = 0;
    lsc_error e;
    int kind = lsc_import_tasks(path, &tasks, &n, &e) == LSC_OK && tasks && n > 0 ? 2 : 0;
    for (size_t i = 0; i < n; i++)
        free(tasks[i]);
    free(tasks);
    return kind;
}

/* Add every adapter below root/rel (rel "" for the root itself), in sorted order. Symbolic links to
 * folders are not followed (no loops); hidden entries (".x") are skipped. */
static lsc_status walk(batch *b, const char *root, const char *rel, int depth, lsc_error *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0)
        return lsc_error_set(err, LSC_ERR_IO, "cannot read folder '%s': %s", dir, strerror(errno));
    lsc_status st = LSC_OK;
    for (int i = 0; i < n; i++) {
        const char *e = ents[i]->d_name;
        char path[4096], sub[4096];
        struct stat sb;
        if (st || e[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e) >= (int)sizeof path ||
            snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e) >= (int)sizeof sub)
            continue; /* a path past 4 KiB: the reader could not open it either */
        if (lstat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            int kind = folder_kind(path);
            if (kind)
                st = batch_add(b, path, name_from_rel(sub), kind == 2, err);
            else if (depth < 64)
                st = walk(b, root, sub, depth + 1, err);
        } else if ((S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode)) &&
                   (has_suffix(e, ".safetensors") || has_suffix(e, ".gguf"))) {
            char *name = name_from_rel(sub);
            if (name)
                *strrchr(name, '.') = '\0';
            st = batch_add(b, path, name, 0, err);
        }
    }
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return st;
}

/* A worker's part for one adapter: read it and, when small enough, load and hash its tensors and compute
 * every layer's statistics. Failures stay in the item for the writer to report. */
static void batch_prepare(batch_item *it, lsc_workspace *ws, double **bb, size_t *bc, double **ab, size_t *ac,
                          volatile int *cancel)
{
    if (it->folder_group)
        return;
    if ((it->st = read_adapter(it->path, cancel, &it->ad, &it->err)))
        return;
    lsc_adapter *ad = it->ad;
    size_t bytes = 0;
    for (size_t i = 0; i < ad->n_tensors; i++)
        bytes += ad->tensors[i].nbytes;
    if (bytes > BATCH_PREP_BYTES)
        return;
    it->stats = calloc(ad->n_layers + 1, sizeof *it->stats);
    it->have = calloc(ad->n_layers + 1, 1);
    if (!it->stats || !it->have || !ws) {
        it->st = lsc_error_set(&it->err, LSC_ERR_NOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < ad->n_tensors && !it->st; i++)
        if (!(it->st = lsc_adapter_load_tensor(ad, i, &it->err)))
            lsc_hash_tensor(&ad->tensors[i]);
    for (size_t li = 0; li < ad->n_layers && !it->st; li++) {
        lsc_lowrank lr;
        lsc_stats_runner sr = {ws, *bb, *ab, *bc, *ac};
        it->st = lsc_layer_stats_now(ad, li, &sr, &lr, &it->stats[li], &it->err); /* as a single import: LyCORIS exact */
        *bb = sr.b, *ab = sr.a, *bc = sr.bcap, *ac = sr.acap;
        if (!it->st && lr.B)
            it->st = check_scale(&lr, &it->stats[li], &it->err);
        if (it->st) {
            char shown[512];
            lsc_error_prefix(&it->err, "layer '%s'", lsc_escape_name(shown, sizeof shown, ad->layers[li].name));
        }
        it->have[li] = !it->st;
    }
}

static void *batch_worker(void *arg)
{
    batch *b = arg;
    lsc_workspace *ws = lsc_workspace_new();
    double *bb = NULL, *ab = NULL;
    size_t bc = 0, ac = 0;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        while (!b->stop && b->next_claim < b->n && b->next_claim >= b->next_write + BATCH_WINDOW)
            pthread_cond_wait(&b->cv, &b->mu);
        if (b->stop || b->next_claim >= b->n) {
            pthread_mutex_unlock(&b->mu);
            break;
        }
        batch_item *it = &b->items[b->next_claim++];
        pthread_mutex_unlock(&b->mu);
        batch_prepare(it, ws, &bb, &bc, &ab, &ac, b->cancel);
        pthread_mutex_lock(&b->mu);
        it->ready = 1;
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
    }
    free(bb);
    free(ab);
    lsc_workspace_free(ws);
    return NULL;
}

/* The progress line on a terminal (never with --json, never into a pipe). */
static void batch_progress(lsc_cmd_ctx *ctx, size_t done, size_t total, const char *name, double t0)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double el = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec - t0;
    double eta = done ? el / (double)done * (double)(total - done) : 0;
    int width = 24, fill = total ? (int)((double)width * (double)done / (double)total) : width;
    char bar[32], shown[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    lsc_out_ctl(ctx->diag, "\r[%s] %zu/%zu  %-32.32s  ETA %.0fs\033[K%s", bar, done, total,
                lsc_escape_name(shown, sizeof shown, name), eta, done == total ? "\n" : "");
}

/* One JSON line for an item of the batch: the importer's report object (if any) with path and status. */
static void batch_json_line(lsc_cmd_ctx *ctx, const batch_item *it, json_t *report, const char *status,
                            const char *error)
{
    json_t *o = report && json_array_size(report) ? json_incref(json_array_get(report, json_array_size(report) - 1))
                                                  : json_pack("{s:s}", "name", it->name);
    json_object_set_new(o, "path", json_string(it->path));
    json_object_set_new(o, "status", json_string(status));
    if (error)
        json_object_set_new(o, "error", json_string(error));
    char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    lsc_out(ctx->out, "%s\n", line ? line : "{}");
    free(line);
    json_decref(o);
}

/* The writer's part for item i, inside its savepoint: import it (prepared by a worker, or streamed here).
 * Returns LSC_EXIT_OK, -1 for content already present, LSC_EXIT_ERROR with ctx->err. */
static int batch_write_one(lsc_cmd_ctx *ctx, batch_item *it, json_t *report, int *imported)
{
    if (it->folder_group) {
        int before = *imported;
        int rc = import_path(ctx, it->path, it->name, 0, report, imported);
        return rc ? rc : *imported > before ? LSC_EXIT_OK : -1;
    }
    if (it->st) {
        ctx->err = it->err;
        return LSC_EXIT_ERROR;
    }
    if (check_name(ctx, it->name, it->path, "the name comes from the path: rename the file or folder"))
        return LSC_EXIT_ERROR;
    int rc = import_one(ctx, it->ad, it->name, 0, report, NULL, it->stats, it->have);
    if (rc == LSC_EXIT_OK)
        (*imported)++;
    return rc;
}

/* Write every item in order (see the protocol above); *failed counts the skipped ones. */
static int batch_write(lsc_cmd_ctx *ctx, batch *b, int strict, int json, int64_t **outs, size_t *n_outs,
                       int *imported, size_t *failed)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double t0 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    int progress = ctx->diag->is_tty && !json, rc = LSC_EXIT_OK;
    for (size_t i = 0; i < b->n && rc == LSC_EXIT_OK; i++) {
        batch_item *it = &b->items[i];
        pthread_mutex_lock(&b->mu);
        while (!it->ready)
            pthread_cond_wait(&b->cv, &b->mu);
        pthread_mutex_unlock(&b->mu);
        if (lsc_cmd_cancelled(ctx, "import"))
            return LSC_EXIT_ERROR;
        json_t *report = json ? json_array() : NULL;
        size_t out_before = ctx->n_outputs;
        int r = lsc_catalog_savepoint(ctx->cat, &ctx->err) ? LSC_EXIT_ERROR : batch_write_one(ctx, it, report, imported);
        lsc_error keep = ctx->err;
        if (lsc_catalog_savepoint_end(ctx->cat, r != LSC_EXIT_ERROR, &ctx->err))
            rc = LSC_EXIT_ERROR; /* the transaction itself is broken: stop */
        else
            ctx->err = keep;
        if (r == LSC_EXIT_ERROR && (strict || rc)) {
            if (!strstr(ctx->err.msg, it->path))
                lsc_error_prefix(&ctx->err, "'%s'", it->path);
            if (strict && !rc)
                snprintf(ctx->err.msg + strlen(ctx->err.msg), sizeof ctx->err.msg - strlen(ctx->err.msg),
                         " (--strict: nothing of the batch imported)");
            return LSC_EXIT_ERROR;
        }
        if (r == LSC_EXIT_ERROR) {
            (*failed)++;
            ctx->n_outputs = out_before;
            if (progress)
                lsc_out_ctl(ctx->diag, "\r\033[K");
            if (strstr(ctx->err.msg, it->path)) /* the reader's message names the file already */
                lsc_out(ctx->diag, "lorascope: skipped %s\n", ctx->err.msg);
            else
                lsc_out(ctx->diag, "lorascope: skipped '%s': %s\n", it->path, ctx->err.msg);
            if (json)
                batch_json_line(ctx, it, NULL, "skipped", ctx->err.msg);
            lsc_error_clear(&ctx->err);
        } else {
            /* every adapter the batch made, for its one history entry (past LSC_CMD_MAX_IO too) */
            for (size_t k = out_before; k < ctx->n_outputs; k++) {
                int64_t *grown = realloc(*outs, (*n_outs + 1) * sizeof **outs);
                if (!grown) {
                    lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
                    return LSC_EXIT_ERROR;
                }
                *outs = grown;
                (*outs)[(*n_outs)++] = ctx->outputs[k];
            }
            ctx->n_outputs = 0; /* kept in *outs; the fixed array stays free for the next adapter */
            if (json)
                batch_json_line(ctx, it, report, r == LSC_EXIT_OK ? "imported" : "present", NULL);
        }
        json_decref(report);
        pthread_mutex_lock(&b->mu);
        b->next_write = i + 1;
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
        if (progress)
            batch_progress(ctx, i + 1, b->n, it->name, t0);
        batch_item_release(it);
    }
    return rc;
}

/* List the batch: each PATH as given (named as a single import would name it), or with --recursive every
 * adapter below it (a PATH that is itself an adapter is taken as it is). */
static lsc_status batch_list(batch *b, const char **paths, size_t n, int recursive, lsc_error *err)
{
    lsc_status st = LSC_OK;
    for (size_t i = 0; i < n && !st; i++) {
        struct stat sb;
        int dir = stat(paths[i], &sb) == 0 && S_ISDIR(sb.st_mode);
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/adapter_model.safetensors", paths[i]);
        if (recursive && dir && stat(sub, &sb) != 0 && is_run_folder(paths[i])) {
            /* a training run at the root: one series, named as a single import names it */
            st = batch_add(b, paths[i], lsc_import_default_name(paths[i]), 1, err);
        } else if (recursive && dir && stat(sub, &sb) != 0) {
            size_t before = b->n;
            char root[4096];
            snprintf(root, sizeof root, "%s", paths[i]);
            for (size_t k = strlen(root); k > 1 && root[k - 1] == '/'; k--)
                root[k - 1] = '\0';
            st = walk(b, root, "", 0, err);
            if (!st && b->n == before)
                st = lsc_error_set(err, LSC_ERR_NOTFOUND, "'%s': no adapter below this folder", paths[i]);
        } else if (recursive && !dir) {
            st = lsc_error_set(err, LSC_ERR_INVALID, "'%s': --recursive takes folders", paths[i]);
        } else {
            char **tasks = NULL;
            size_t nt = 0;
            lsc_error e;
            int group = dir && lsc_import_tasks(paths[i], &tasks, &nt, &e) == LSC_OK && tasks && nt > 0;
            for (size_t k = 0; k < nt; k++)
                free(tasks[k]);
            free(tasks);
            st = batch_add(b, paths[i], lsc_import_default_name(paths[i]), group, err);
        }
    }
    return st;
}

static int import_batch(lsc_cmd_ctx *ctx, const char **paths, size_t n, int recursive, int strict, int json,
                        const char *kind)
{
    batch b;
    memset(&b, 0, sizeof b);
    b.cancel = ctx->cancel;
    if (batch_list(&b, paths, n, recursive, &ctx->err)) {
        for (size_t i = 0; i < b.n; i++)
            batch_item_release(&b.items[i]);
        free(b.items);
        return LSC_EXIT_ERROR;
    }
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    g_kind_override = kind;
    int nthreads = lsc_pool_default_threads();
    pthread_t th[64];
    int started = 0;
    for (int t = 0; t < nthreads && t < 64; t++)
        started += pthread_create(&th[started], NULL, batch_worker, &b) == 0;
    int64_t *outs = NULL;
    size_t n_outs = 0, failed = 0;
    int imported = 0, rc;
    if (!started) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "cannot start a thread");
        rc = LSC_EXIT_ERROR;
    } else {
        rc = batch_write(ctx, &b, strict, json, &outs, &n_outs, &imported, &failed);
    }
    pthread_mutex_lock(&b.mu);
    b.stop = 1;
    pthread_cond_broadcast(&b.cv);
    pthread_mutex_unlock(&b.mu);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    g_kind_override = NULL;
    if (rc == LSC_EXIT_OK && failed)
        lsc_out(ctx->diag, "lorascope: %zu of %zu path(s) skipped (see above; --strict makes that an error)\n", failed,
                b.n);
    if (rc == LSC_EXIT_OK && imported == 0)
        ctx->no_change = 1;
    else if (rc == LSC_EXIT_OK) {
        if (lsc_catalog_log(ctx->cat, "import", ctx->args_json ? ctx->args_json : "[\"import\"]", ctx->inputs,
                            ctx->n_inputs, outs, n_outs, NULL, &ctx->err))
            rc = LSC_EXIT_ERROR;
        ctx->logged = 1;
    }
    for (size_t i = 0; i < b.n; i++)
        batch_item_release(&b.items[i]);
    free(b.items);
    free(outs);
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cv);
    return rc;
}

typedef struct import_args {
    lsc_args base;
    const char **paths, *name, *kind;
    int json, recursive, strict;
} import_args;

static const char *const import_kinds[] = {"static", "dynamic", "layer-wise", "adaptive", "sparse", NULL};

static const lsc_opt import_opts[] = {
    {.metavar = "PATH", .type = LSC_OPT_PATH, .flags = LSC_OPT_POSITIONAL | LSC_OPT_MANY, .min_n = 1,
     .max_n = 1000000, .at = offsetof(import_args, paths),
     .help = "a PEFT folder (adapter_model.safetensors + adapter_config.json) or its .safetensors,\n"
             "a kohya/sd-scripts .safetensors, or a llama.cpp GGUF LoRA (detected from the content);\n"
             "a folder of task sub-folders imports each task as NAME-TASK;\n"
             "a training run (checkpoint-N sub-folders, or kohya NAME-000001.safetensors per-epoch\n"
             "files) imports as a series NAME of checkpoints NAME@STEP (NAME@final for the final save);\n"
             "several PATHs import each (named from its path) in one transaction, a bad one reported\n"
             "and skipped"},
    {.name = "name", .type = LSC_OPT_NEW, .metavar = "NAME", .at = offsetof(import_args, name),
     .help = "catalog name (default: the folder's name); only with one PATH"},
    {.name = "kind", .type = LSC_OPT_CHOICE, .metavar = "KIND", .choices = import_kinds, .text_at = offsetof(import_args, kind),
     .help = "record this kind instead of the detected one (e.g. dynamic for a DyLoRA checkpoint\n"
             "saved as plain PEFT): static, dynamic, layer-wise, adaptive, sparse"},
    {.name = "recursive", .type = LSC_OPT_FLAG, .at = offsetof(import_args, recursive),
     .help = "import every adapter found below each PATH (a folder), named by its path relative to\n"
             "PATH (characters a name may not hold become '_', a file loses its extension)"},
    {.name = "strict", .type = LSC_OPT_FLAG, .at = offsetof(import_args, strict),
     .help = "with several adapters: a bad one stops the batch and nothing of it is imported"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(import_args, json),
     .help = "print {\"name\", \"layers\", \"params\"} of each imported adapter (several: one JSON\n"
             "object a line, with \"path\" and \"status\": imported, present or skipped)"},
    {0}};

static int import_validate(lsc_cmd_ctx *ctx, void *args)
{
    const import_args *av = args;
    if (av->name && (av->base.npos > 1 || av->recursive))
        return lsc_usage_error(ctx, "import", "--name names one adapter: with %s each is named from its path",
                               av->recursive ? "--recursive" : "several PATHs");
    return LSC_EXIT_OK;
}

static int import_run(lsc_cmd_ctx *ctx, void *args)
{
    const import_args *av = args;
    const char *name = av->name;
    int json = ctx->json || av->json;
    if (av->base.npos > 1 || av->recursive)
        return import_batch(ctx, av->paths, (size_t)av->base.npos, av->recursive, av->strict, json, av->kind);
    const char *path = av->paths[0];
    char *dname = name ? strdup(name) : lsc_import_default_name(path);
    if (!dname) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        return LSC_EXIT_ERROR;
    }
    if (check_name(ctx, dname, name ? NULL : path, "the name comes from the path: give one with --name NAME")) {
        free(dname);
        return LSC_EXIT_ERROR;
    }
    json_t *report = json ? json_array() : NULL;
    int imported = 0;
    g_kind_override = av->kind;
    int rc = import_path(ctx, path, dname, name != NULL, report, &imported);
    g_kind_override = NULL;
    if (rc == LSC_EXIT_OK && imported == 0)
        ctx->no_change = 1;
    if (rc == LSC_EXIT_OK && report)
        lsc_json_print(ctx->out, report);
    json_decref(report);
    free(dname);
    return rc;
}

const lsc_cmd_spec lsc_spec_import = {import_opts, sizeof(import_args), import_validate, import_run, ""};
