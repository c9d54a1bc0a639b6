/* cmd_export.c: `lorascope export NAME PATH [--format peft|kohya|gguf|diffusers|cloneofsimo] [--dtype T] ...`:
 * write an adapter out. Unedited, in its own format and dtypes, the output is byte-identical to what was
 * imported. A kohya adapter exports as PEFT through the base model's module names (--base-names, --arch or
 * a built-in table: store/basenames.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "basenames.h"
#include "cloneofsimo.h"
#include "common.h"
#include "diffusers.h"
#include "fileio.h"
#include "gguf.h"
#include "handlers.h"
#include "kohya.h"
#include "peft.h"
#include "tasks.h"

/* A typed GGUF key-value kept in the adapter's metadata ({"key": {"type": .., "value": ..}}). */
static json_t *gguf_kv(json_t *meta, const char *key)
{
    return json_object_get(json_object_get(meta, key), "value");
}

/* A GGUF-origin adapter in PEFT's shape: llama.cpp names mapped back to module paths, and q/k rows put
 * back in the model's order when the file says lorascope permuted them (and with how many heads), so
 * PEFT -> GGUF -> PEFT gives back the same delta. */
static lsc_status gguf_as_peft(lsc_adapter *ad, lsc_adapter **out, lsc_error *err)
{
    lsc_adapter *p = lsc_adapter_clone_meta(ad);
    if (!p)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    json_t *meta = ad->metadata_json ? json_loads(ad->metadata_json, JSON_ALLOW_NUL, NULL) : NULL;
    int permuted = json_is_true(gguf_kv(meta, "lorascope.qk_permuted"));
    int n_head = (int)json_integer_value(gguf_kv(meta, "lorascope.n_head"));
    int n_head_kv = (int)json_integer_value(gguf_kv(meta, "lorascope.n_head_kv"));
    json_decref(meta);
    free(p->format);
    p->format = strdup("peft");
    free(p->config_json);
    free(p->metadata_json);
    p->config_json = p->metadata_json = NULL;
    lsc_status st = LSC_OK;
    double *tmp = NULL, *dbl = NULL;
    for (size_t li = 0; li < p->n_layers && !st; li++) {
        lsc_layer *l = &p->layers[li];
        char name[512];
        if (lsc_gguf_unmap_name(ad->layers[li].name, name, sizeof name) != 0) {
            st = lsc_error_set(err, LSC_ERR_UNSUPPORTED, "layer '%s' has no PEFT module path (llama-family names only)",
                               lsc_escape_name(name, sizeof name, ad->layers[li].name));
            break;
        }
        free(l->name);
        l->name = strdup(name);
        const char *dot = strrchr(name, '.');
        free(l->module_type);
        l->module_type = strdup(dot + 1);
        int qk = strstr(ad->layers[li].name, ".attn_q.") || strstr(ad->layers[li].name, ".attn_k.");
        int ts[2] = {l->ta, l->tb};
        for (int k = 0; k < 2 && !st; k++) {
            lsc_tensor *t = &p->tensors[ts[k]];
            char key[600];
            snprintf(key, sizeof key, "%s.lora_%c.weight", name, k ? 'B' : 'A');
            free(t->key);
            t->key = strdup(key);
            if ((st = lsc_adapter_load_tensor(ad, (size_t)ts[k], err)))
                break;
            t->data = malloc(t->nbytes + 1);
            if (!t->data) {
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                break;
            }
            memcpy(t->data, ad->tensors[ts[k]].data, t->nbytes);
            lsc_adapter_unload_tensor(ad, (size_t)ts[k]);
            if (k == 1 && qk && permuted) {
                int groups = strstr(ad->layers[li].name, ".attn_q.") ? n_head : n_head_kv;
                int64_t rows = t->shape[0], r = t->shape[1];
                if (groups < 1 || rows % (2 * groups) != 0) {
                    st = lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                                       "layer '%s': q/k rows are permuted but the file does not say for how many heads",
                                       ad->layers[li].name);
                    break;
                }
                size_t n = (size_t)(rows * r);
                double *nt = realloc(tmp, n * sizeof *tmp), *nd = realloc(dbl, n * sizeof *dbl);
                if (nt)
                    tmp = nt;
                if (nd)
                    dbl = nd;
                if (!nt || !nd || lsc_dtype_to_double(t->dtype, t->data, n, dbl)) {
                    st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                    break;
                }
                lsc_gguf_unpermute_rows(dbl, rows, (int)r, groups, tmp);
                lsc_dtype_from_double(t->dtype, dbl, n, t->data, NULL); /* a permutation: exact */
            }
            t->hash[0] = '\0';
        }
    }
    free(tmp);
    free(dbl);
    if (st) {
        lsc_adapter_free(p);
        return st;
    }
    *out = p;
    return LSC_OK;
}

/* Show the warnings a writer appended to ad->warnings past its first `from` bytes (values a narrower
 * dtype flushed to zero or rounded to subnormals), one line each, on the diagnostics sink. */
static void show_writer_warnings(lsc_cmd_ctx *ctx, const lsc_adapter *ad, size_t from, const char *name)
{
    if (!ad->warnings || strlen(ad->warnings) <= from)
        return;
    char shown[512];
    lsc_escape_name(shown, sizeof shown, name);
    for (const char *p = ad->warnings + from; *p;) {
        while (*p == '\n')
            p++;
        size_t n = strcspn(p, "\n");
        if (n)
            lsc_out(ctx->diag, "lorascope: warning: %s: %.*s\n", shown, (int)n, p);
        p += n;
    }
}

static size_t warnings_len(const lsc_adapter *ad)
{
    return ad->warnings ? strlen(ad->warnings) : 0;
}

/* Where the module paths of a kohya adapter come from: --base-names PATH, --arch A, else the built-in
 * table that fits. */
typedef struct names_opts {
    const char *base_names, *arch;
} names_opts;

/* Write p, `ad` converted to PEFT by a converter that returned st (p may be NULL on failure), as a PEFT folder
 * at path, then show the warnings the writer added to p. Frees p; returns the first failure. */
static lsc_status write_peft_of(lsc_cmd_ctx *ctx, const lsc_adapter *ad, lsc_status st, lsc_adapter *p,
                                const char *path, lsc_dtype dt)
{
    size_t p_warned = p ? warnings_len(p) : 0;
    if (!st)
        st = lsc_peft_write(p, path, dt, &ctx->err);
    if (!st)
        show_writer_warnings(ctx, p, p_warned, ad->name);
    lsc_adapter_free(p);
    return st;
}

/* A kohya adapter as a PEFT folder: module paths recovered through the base model's names (see
 * store/basenames.h), the same factors, alpha folded into the config. */
static lsc_status kohya_as_peft(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *path, lsc_dtype dt,
                                const names_opts *names)
{
    lsc_basenames *bn = NULL;
    lsc_adapter *p = NULL;
    const char *chosen = NULL;
    char shown[4200];
    lsc_status st = lsc_basenames_pick(ad, names->arch, names->base_names, &bn, &chosen, &ctx->err);
    if (st) {
        char msg[LSC_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", ctx->err.msg);
        return lsc_error_set(&ctx->err, st, "'%s' is a kohya adapter: %s", lsc_escape_name(shown, sizeof shown, ad->name),
                             msg);
    }
    st = lsc_basenames_kohya_to_peft(ad, bn, &p, &ctx->err);
    st = write_peft_of(ctx, ad, st, p, path, dt);
    if (!st && !names->base_names && !names->arch)
        lsc_out(ctx->diag, "lorascope: module paths from the built-in %s name table\n", chosen);
    lsc_basenames_free(bn);
    return st;
}

/* Write `ad` to the checked, resolved `path` in `format`. */
static lsc_status write_format(lsc_cmd_ctx *ctx, lsc_adapter *ad, const char *format, const char *path, lsc_dtype dt,
                               const lsc_gguf_write_opts *gopt, const names_opts *names)
{
    lsc_status st;
    char shown[4200];
    if (strcmp(format, "kohya") == 0)
        st = lsc_kohya_write(ad, path, dt, &ctx->err);
    else if (strcmp(format, "diffusers") == 0)
        st = lsc_diffusers_write(ad, path, dt, &ctx->err);
    else if (strcmp(format, "cloneofsimo") == 0)
        st = lsc_cloneofsimo_write(ad, path, dt, &ctx->err);
    else if (strcmp(format, "gguf") == 0)
        st = lsc_gguf_write_ex(ad, path, dt, gopt, &ctx->err);
    else if (ad->format && strcmp(ad->format, "gguf") == 0) {
        lsc_adapter *p = NULL;
        st = gguf_as_peft(ad, &p, &ctx->err);
        st = write_peft_of(ctx, ad, st, p, path, dt);
    } else if (ad->format && strcmp(ad->format, "diffusers") == 0) {
        lsc_adapter *p = NULL;
        st = lsc_diffusers_as_peft(ad, &p, &ctx->err);
        st = write_peft_of(ctx, ad, st, p, path, dt);
    } else if (ad->format && strcmp(ad->format, "cloneofsimo") == 0) {
        st = lsc_error_set(&ctx->err, LSC_ERR_UNSUPPORTED,
                           "'%s' is a cloneofsimo adapter: its layers are named by position, not by module path; "
                           "export it as cloneofsimo", lsc_escape_name(shown, sizeof shown, ad->name));
    } else if (ad->format && strcmp(ad->format, "kohya") == 0) {
        st = kohya_as_peft(ctx, ad, path, dt, names);
    } else
        st = lsc_peft_write(ad, path, dt, &ctx->err);
    return st;
}

typedef struct export_args {
    lsc_args base;
    const char *name, *path, *format, *base_names, *arch;
    int dtype, no_permute, force;
    long long n_head, n_head_kv;
} export_args;

static const char *const export_formats[] = {"peft", "kohya", "gguf", "diffusers", "cloneofsimo", NULL};
static const char *const export_archs[] = {"sd15", "sd2", "sdxl", "llama", NULL};
static const char *const export_dtypes[] = {"f32", "f16", "bf16", "f64", NULL};
static const lsc_dtype export_dtype_of[] = {LSC_DT_F32, LSC_DT_F16, LSC_DT_BF16, LSC_DT_F64};

static const lsc_opt export_opts[] = {
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL, .at = offsetof(export_args, name)},
    {.metavar = "PATH", .type = LSC_OPT_PATH, .flags = LSC_OPT_POSITIONAL, .at = offsetof(export_args, path),
     .help = "peft: a folder (adapter_model.safetensors + adapter_config.json); kohya: a .safetensors\n"
             "file; gguf: a .gguf file; diffusers, cloneofsimo: a .safetensors file. Its parent folder must exist. Written atomically: a reader\n"
             "sees the old file (or PEFT pair) or the new, never a mix; a symbolic link is written\n"
             "through. Refused: the catalog and its -wal/-shm/-journal/-pack files, devices, FIFOs"},
    {.name = "force", .type = LSC_OPT_FLAG, .at = offsetof(export_args, force),
     .help = "replace an existing PATH (without it an existing PATH is refused, like cp -n); a PEFT\n"
             "folder keeps its other files"},
    {.name = "format", .type = LSC_OPT_CHOICE, .metavar = "F", .choices = export_formats,
     .text_at = offsetof(export_args, format), .help = "peft, kohya, gguf, diffusers or cloneofsimo (default: the adapter's own format;\n"
             "diffusers and cloneofsimo write only adapters imported from such files)"},
    {.name = "dtype", .type = LSC_OPT_CHOICE, .metavar = "T", .flags = LSC_OPT_ICASE, .choices = export_dtypes,
     .at = offsetof(export_args, dtype),
     .help = "convert tensors (default: each tensor's stored dtype; an unedited adapter is\n"
             "then written byte-identical to what was imported); f16 overflow is an error"},
    {.name = "n-head", .type = LSC_OPT_INT, .metavar = "N", .ilo = 1, .ihi = 65536, .at = offsetof(export_args, n_head),
     .help = "gguf of a llama-family adapter: permute the rows of q_proj/k_proj B as llama.cpp's\n"
             "converter permutes the base weights (attention heads of the base model)"},
    {.name = "n-head-kv", .type = LSC_OPT_INT, .metavar = "N", .ilo = 1, .ihi = 65536,
     .at = offsetof(export_args, n_head_kv), .help = "key/value heads for k_proj (default --n-head)"},
    {.name = "base-names", .type = LSC_OPT_PATH, .metavar = "PATH", .at = offsetof(export_args, base_names),
     .help = "kohya -> peft: the base model's module names, which turn kohya's\n"
             "flattened names back into module paths: a base .safetensors (only its header\n"
             "is read), a sharded model.safetensors.index.json, or a text list of module\n"
             "names, one a line"},
    {.name = "arch", .type = LSC_OPT_CHOICE, .metavar = "A", .choices = export_archs,
     .text_at = offsetof(export_args, arch),
     .help = "kohya -> peft: a built-in name table (sd15, sd2, sdxl, llama); default: the first that\n"
             "fits every layer"},
    {.name = "no-permute", .type = LSC_OPT_FLAG, .at = offsetof(export_args, no_permute),
     .help = "gguf: write q/k unpermuted (the file records lorascope.qk_permuted = false)\n"
             "GGUF has one global alpha: per-layer scales (rsLoRA, patterns) are folded into B"},
    {0}};

static int export_validate(lsc_cmd_ctx *ctx, void *args)
{
    const export_args *av = args;
    if (av->n_head_kv && !av->n_head)
        return lsc_usage_error(ctx, "export", "--n-head-kv needs --n-head");
    if (av->base_names && av->arch)
        return lsc_usage_error(ctx, "export", "--base-names and --arch exclude each other");
    return LSC_EXIT_OK;
}

static int export_run(lsc_cmd_ctx *ctx, void *args)
{
    const export_args *av = args;
    lsc_dtype dt = lsc_opts_given(export_opts, av, "dtype") ? export_dtype_of[av->dtype] : LSC_DT_INVALID;
    const char *format = av->format;
    lsc_gguf_write_opts gopt;
    memset(&gopt, 0, sizeof gopt);
    gopt.n_head = (int)av->n_head;
    gopt.n_head_kv = (int)av->n_head_kv;
    gopt.allow_unpermuted = av->no_permute;
    if (gopt.n_head && !gopt.n_head_kv)
        gopt.n_head_kv = gopt.n_head;
    lsc_adapter *ad = NULL;
    int64_t id = 0;
    if (lsc_cmd_load(ctx, av->name, &ad, &id))
        return LSC_EXIT_ERROR;
    ad->cancel = ctx->cancel; /* Ctrl-C stops the writer at its next tensor; its temporary file goes */
    const char *given = av->path;
    if (lsc_is_group(ad->kind) && format && strcmp(format, "peft") != 0) {
        lsc_adapter_free(ad);
        return lsc_usage_error(ctx, "export", "a multi-task adapter exports as a PEFT multi-adapter folder only");
    }
    int own = ad->format && (strcmp(ad->format, "kohya") == 0 || strcmp(ad->format, "gguf") == 0 ||
                             strcmp(ad->format, "diffusers") == 0 || strcmp(ad->format, "cloneofsimo") == 0);
    if (!format)
        format = own && !lsc_is_group(ad->kind) ? ad->format : "peft"; /* a multi-task adapter: a folder */
    /* every format's target passes the one check: parent exists, no device/FIFO, no catalog, --force */
    char *path = NULL;
    lsc_status st = lsc_target_check(given, strcmp(format, "peft") == 0 ? LSC_TARGET_FOLDER : LSC_TARGET_FILE, av->force,
                                     lsc_catalog_file(ctx->cat), &path, &ctx->err);
    if (st) {
        lsc_adapter_free(ad);
        return lsc_fail(ctx, &ctx->err);
    }
    if (lsc_is_group(ad->kind)) {
        lsc_adapter_free(ad);
        int rc = lsc_tasks_export(ctx, id, path, dt);
        free(path);
        return rc;
    }
    if ((av->base_names || av->arch) && !(strcmp(format, "peft") == 0 && ad->format && strcmp(ad->format, "kohya") == 0)) {
        free(path);
        lsc_adapter_free(ad);
        return lsc_usage_error(ctx, "export", "--base-names and --arch apply to a kohya adapter exported as peft");
    }
    names_opts names = {av->base_names, av->arch};
    size_t warned = warnings_len(ad);
    st = write_format(ctx, ad, format, path, dt, &gopt, &names);
    if (st == LSC_ERR_CANCELLED) { /* the writer removed its temporary file on the way out */
        char shown[4200];
        lsc_error_set(&ctx->err, LSC_ERR_CANCELLED, "export cancelled: nothing written to %s",
                      lsc_escape_name(shown, sizeof shown, given));
    }
    if (st == LSC_OK) {
        show_writer_warnings(ctx, ad, warned, ad->name);
        char shown[4200];
        if (strcmp(format, "peft") == 0)
            lsc_out(ctx->out, "wrote %s/adapter_model.safetensors and adapter_config.json\n",
                    lsc_escape_name(shown, sizeof shown, given));
        else
            lsc_out(ctx->out, "wrote %s (%s)\n", lsc_escape_name(shown, sizeof shown, given), format);
    }
    free(path);
    lsc_adapter_free(ad);
    return st ? lsc_fail(ctx, &ctx->err) : LSC_EXIT_OK;
}

const lsc_cmd_spec lsc_spec_export = {export_opts, sizeof(export_args), export_validate, export_run, ""};
