/* cmd_import.c: `lorascope import PATH [--name NAME]`: take an adapter into the catalog exactly. The
 * format (PEFT folder or file, kohya .safetensors, GGUF) is detected from the content, not the name.
 *
 * Streams one layer at a time: load its tensors, hash them, store the blobs, compute and cache the
 * layer's statistics, drop the bytes; so peak memory stays near one layer, whatever the adapter's size.
 * Identical content already in the catalog is reported instead of stored twice (with --name a new name
 * is made over the stored tensors). Runs inside the
 * dispatcher's transaction: any error leaves the catalog as it was. */
#include <float.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog.h"
#include "common.h"
#include "handlers.h"
#include "hash.h"
#include "detect.h"
#include "gguf.h"
#include "kohya.h"
#include "lycoris_layer.h"
#include "peft.h"

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

/* Statistics are computed on a second thread while the main thread reads, hashes and stores the next
 * layers (SQLite stays on the main thread). The main thread hands over a layer whose tensors are loaded
 * and hashed and never touches them again; the worker computes, then frees their bytes. At most
 * LSC_IMPORT_QUEUE layers are in flight, which bounds memory. */
#define LSC_IMPORT_QUEUE 8

typedef struct stats_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lsc_adapter *ad;
    size_t queue[LSC_IMPORT_QUEUE];
    size_t head, count;         /* ring buffer of layer indices */
    int busy, closing;
    lsc_layer_stats *results;   /* [n_layers] */
    unsigned char *computed;    /* [n_layers] */
    lsc_status status;          /* first failure */
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

static void *stats_thread(void *arg)
{
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
        w->busy = 1;
        int failed = w->status != LSC_OK;
        pthread_mutex_unlock(&w->mu);

        lsc_status st = LSC_OK;
        lsc_error err;
        lsc_error_clear(&err);
        if (!failed) {
            lsc_lowrank lr;
            if (!ws)
                st = lsc_error_set(&err, LSC_ERR_NOMEM, "out of memory");
            if (!st && (w->ad->layers[li].flags & LSC_LAYER_LYCORIS)) {
                st = lsc_lycoris_layer_stats(w->ad, li, ws, &w->results[li], &err);
            } else {
                if (!st)
                    st = lsc_adapter_factors(w->ad, li, &b, &bc, &a, &ac, &lr, &err);
                if (!st)
                    st = lsc_stats_compute(&lr, ws, &w->results[li], &err);
                if (!st)
                    st = check_scale(&lr, &w->results[li], &err);
            }
            if (st) {
                char shown[512];
                lsc_error_prefix(&err, "layer '%s'", lsc_escape_name(shown, sizeof shown, w->ad->layers[li].name));
            }
        }
        unload_layer_tensors(w->ad, &w->ad->layers[li]);

        pthread_mutex_lock(&w->mu);
        if (st && w->status == LSC_OK) {
            w->status = st;
            w->err = err;
        }
        if (!st && !failed)
            w->computed[li] = 1;
        w->busy = 0;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    free(b);
    free(a);
    lsc_workspace_free(ws);
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
 * reused), and store the new statistics in the catalog's cache. */
static lsc_status store_tensors(lsc_cmd_ctx *ctx, lsc_adapter *ad, int *nonfinite_layers)
{
    stats_worker w;
    memset(&w, 0, sizeof w);
    w.ad = ad;
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
static int import_one(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *name, int named, json_t *report, int64_t *out_id)
{
    char shown[512];
    int nonfinite = 0;
    free(ad->name);
    ad->name = strdup(name);
    if (!ad->name) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        return LSC_EXIT_ERROR;
    }
    if (store_tensors(ctx, ad, &nonfinite))
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

static int read_and_import(lsc_cmd_ctx *ctx, const char *path, const char *name, int named, json_t *report,
                           int *imported, int64_t *out_id)
{
    lsc_adapter *ad = NULL;
    char fmt[16];
    if (lsc_detect_format(path, fmt, sizeof fmt, &ctx->err))
        return LSC_EXIT_ERROR;
    lsc_status st = strcmp(fmt, "kohya") == 0  ? lsc_kohya_read(path, &ad, &ctx->err)
                    : strcmp(fmt, "gguf") == 0 ? lsc_gguf_read(path, &ad, &ctx->err)
                                               : lsc_peft_read_cancel(path, &ad, ctx->cancel, &ctx->err);
    if (st)
        return LSC_EXIT_ERROR;
    if (!ad->source)
        ad->source = strdup(path);
    if (g_kind_override && lsc_adapter_set_kind(ad, lsc_kind_parse(g_kind_override), &ctx->err)) {
        lsc_adapter_free(ad);
        return LSC_EXIT_ERROR;
    }
    int rc = import_one(ctx, ad, name, named, report, out_id);
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

typedef struct import_args {
    lsc_args base;
    const char *path, *name, *kind;
    int json;
} import_args;

static const char *const import_kinds[] = {"static", "dynamic", "layer-wise", "adaptive", "sparse", NULL};

static const lsc_opt import_opts[] = {
    {.metavar = "PATH", .type = LSC_OPT_PATH, .flags = LSC_OPT_POSITIONAL, .at = offsetof(import_args, path),
     .help = "a PEFT folder (adapter_model.safetensors + adapter_config.json) or its .safetensors,\n"
             "a kohya/sd-scripts .safetensors, or a llama.cpp GGUF LoRA (detected from the content);\n"
             "a folder of task sub-folders imports each task as NAME-TASK"},
    {.name = "name", .type = LSC_OPT_NEW, .metavar = "NAME", .at = offsetof(import_args, name),
     .help = "catalog name (default: the folder's name)"},
    {.name = "kind", .type = LSC_OPT_CHOICE, .metavar = "KIND", .choices = import_kinds, .text_at = offsetof(import_args, kind),
     .help = "record this kind instead of the detected one (e.g. dynamic for a DyLoRA checkpoint\n"
             "saved as plain PEFT): static, dynamic, layer-wise, adaptive, sparse"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(import_args, json),
     .help = "print {\"name\", \"layers\", \"params\"} of each imported adapter"},
    {0}};

static int import_run(lsc_cmd_ctx *ctx, void *args)
{
    const import_args *av = args;
    const char *name = av->name, *kind = av->kind;
    int json = ctx->json || av->json;
    const char *path = av->path;
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
    int rc = LSC_EXIT_OK, imported = 0;
    g_kind_override = kind;
    char **names = NULL;
    size_t n = 0;
    if (lsc_import_tasks(path, &names, &n, &ctx->err)) {
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
                rc = read_and_import(ctx, tpath, tname, name != NULL, report, &imported, &member_ids[i]);
        }
        if (rc == LSC_EXIT_OK && n > 0)
            rc = make_group(ctx, dname, name != NULL, (const char *const *)names, member_ids, n, report, &imported);
        free(member_ids);
    } else {
        rc = read_and_import(ctx, path, dname, name != NULL, report, &imported, NULL);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    g_kind_override = NULL;
    if (rc == LSC_EXIT_OK && imported == 0)
        ctx->no_change = 1;
    if (rc == LSC_EXIT_OK && report)
        lsc_json_print(ctx->out, report);
    json_decref(report);
    free(dname);
    return rc;
}

const lsc_cmd_spec lsc_spec_import = {import_opts, sizeof(import_args), NULL, import_run, ""};
