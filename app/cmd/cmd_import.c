/* cmd_import.c: `lorascope import PATH [--name NAME]`: take an adapter into the catalog exactly.
 *
 * Streams one layer at a time: load its tensors, hash them, store the blobs, compute and cache the
 * layer's statistics, drop the bytes; so peak memory stays near one layer, whatever the adapter's size.
 * Identical content already in the catalog is reported instead of stored twice. Runs inside the
 * dispatcher's transaction: any error leaves the catalog as it was. */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog.h"
#include "common.h"
#include "handlers.h"
#include "hash.h"
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

static int valid_name(const char *name)
{
    if (!*name || strlen(name) > 200)
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* Hash and store every tensor of `ad`, computing each layer's statistics on the way. */
static lsc_status store_tensors(lsc_cmd_ctx *ctx, lsc_adapter *ad, int *nonfinite_layers)
{
    lsc_stats_runner sr;
    lsc_status st = lsc_stats_runner_init(&sr, &ctx->err);
    if (st)
        return st;
    for (size_t li = 0; li < ad->n_layers && !st; li++) {
        lsc_layer *l = &ad->layers[li];
        int ts[4] = {l->ta, l->tb, l->te, l->tm};
        for (int k = 0; k < 4 && !st; k++) {
            if (ts[k] < 0)
                continue;
            lsc_tensor *t = &ad->tensors[ts[k]];
            st = lsc_adapter_load_tensor(ad, (size_t)ts[k], &ctx->err);
            if (!st) {
                lsc_hash_tensor(t);
                st = lsc_catalog_put_blob(ctx->cat, t->hash, t->data, t->nbytes, &ctx->err);
            }
        }
        if (st)
            break;
        lsc_layer_stats ls;
        memset(&ls, 0, sizeof ls);
        st = lsc_layer_stats_get(&sr, ctx->cat, ad, li, 1, &ls, &ctx->err);
        if (!st && (ls.flags & LSC_STATS_NONFINITE))
            (*nonfinite_layers)++;
        lsc_stats_release(&ls);
        if (ctx->cancel && *ctx->cancel)
            st = lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "import cancelled");
    }
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
    lsc_stats_runner_release(&sr);
    return st;
}

/* Import one adapter already read into `ad` under `name`. */
static int import_one(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *name, json_t *report)
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
    if (ad->warnings && *ad->warnings) {
        char *w = strdup(ad->warnings), *save = NULL;
        for (char *line = strtok_r(w, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            lsc_out(ctx->diag, "lorascope: warning: %s: %s\n", lsc_escape_name(shown, sizeof shown, name), line);
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

static int read_and_import(lsc_cmd_ctx *ctx, const char *path, const char *name, json_t *report, int *imported)
{
    lsc_adapter *ad = NULL;
    if (lsc_peft_read(path, &ad, &ctx->err))
        return LSC_EXIT_ERROR;
    if (!ad->source)
        ad->source = strdup(path);
    int rc = import_one(ctx, ad, name, report);
    lsc_adapter_free(ad);
    if (rc == LSC_EXIT_OK)
        (*imported)++;
    return rc < 0 ? LSC_EXIT_OK : rc;
}

int lsc_cmd_import(lsc_cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'}, {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    lsc_getopt g = {0};
    const char *name = NULL;
    int json = ctx->json, c;
    while ((c = lsc_getopt_next(ctx, &g, argc, argv, opts)) != -1) {
        switch (c) {
        case 'n':
            name = g.arg;
            break;
        case 'j':
            json = 1;
            break;
        default:
            return LSC_EXIT_USAGE;
        }
    }
    if (argc - g.ind != 1)
        return lsc_usage_error(ctx, "import", "expected one PATH, got %d", argc - g.ind);
    if (ctx->check_only)
        return LSC_EXIT_OK;
    const char *path = argv[g.ind];
    char *dname = name ? strdup(name) : lsc_import_default_name(path);
    if (!dname) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        return LSC_EXIT_ERROR;
    }
    if (!valid_name(dname)) {
        char shown[512];
        lsc_error_set(&ctx->err, LSC_ERR_INVALID, "invalid adapter name '%s' (1 to 200 printable characters)",
                      lsc_escape_name(shown, sizeof shown, dname));
        free(dname);
        return LSC_EXIT_ERROR;
    }
    json_t *report = json ? json_array() : NULL;
    int rc = LSC_EXIT_OK, imported = 0;
    char **names = NULL;
    size_t n = 0;
    if (lsc_import_tasks(path, &names, &n, &ctx->err)) {
        rc = LSC_EXIT_ERROR;
    } else if (names) {
        /* a multi-adapter folder: each task sub-folder is an adapter */
        if (n == 0) {
            lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "'%s': no adapter_model.safetensors in this folder or its sub-folders",
                          path);
            rc = LSC_EXIT_ERROR;
        }
        for (size_t i = 0; i < n && rc == LSC_EXIT_OK; i++) {
            char tpath[4096], tname[512];
            snprintf(tpath, sizeof tpath, "%s/%s", path, names[i]);
            snprintf(tname, sizeof tname, "%s-%s", dname, names[i]);
            rc = read_and_import(ctx, tpath, tname, report, &imported);
        }
    } else {
        rc = read_and_import(ctx, path, dname, report, &imported);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc == LSC_EXIT_OK && imported == 0)
        ctx->no_change = 1;
    if (rc == LSC_EXIT_OK && report)
        lsc_json_print(ctx->out, report);
    json_decref(report);
    free(dname);
    return rc;
}
