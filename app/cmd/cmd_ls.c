/* cmd_ls.c: `lorascope ls [--json]`: the adapters in the catalog. */
#include <stdlib.h>
#include <time.h>

#include "common.h"
#include "handlers.h"
#include "layername.h"
#include "table.h"
#include "series_figs.h"
#include "tasks.h"

static const char *fmt_time(char *buf, size_t cap, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

typedef struct ls_args {
    lsc_args base;
    int json;
} ls_args;

static const lsc_opt ls_opts[] = {
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(ls_args, json),
     .help = "print an array of {name, format, kind, base_model, layers, params, bytes, created, parents}\n"
             "(a multi-task adapter adds tasks[], a series checkpoints[{step, label, adapter}])"},
    {0}};

/* Adapters by name in natural order (llama-2 before llama-10), as every list of names. */
static int cmp_info(const void *x, const void *y)
{
    return lsc_layername_cmp(((const lsc_adapter_info *)x)->name, ((const lsc_adapter_info *)y)->name);
}

static int ls_run(lsc_cmd_ctx *ctx, void *args)
{
    const ls_args *av = args;
    int json = ctx->json || av->json;
    lsc_adapter_info *infos = NULL;
    size_t n = 0;
    if (lsc_catalog_list(ctx->cat, &infos, &n, &ctx->err))
        return LSC_EXIT_ERROR;
    if (n > 1)
        qsort(infos, n, sizeof *infos, cmp_info);
    char b1[64], b2[64], b3[64], b4[64], name[512], base[512];
    /* a multi-task adapter shows the totals of its tasks */
    json_t **tasks = calloc(n + 1, sizeof *tasks);
    for (size_t i = 0; tasks && i < n; i++)
        if (lsc_is_group(infos[i].kind) && lsc_tasks_totals(ctx, infos[i].id, &infos[i].n_layers, &infos[i].params,
                                                            &infos[i].bytes, &tasks[i]) != LSC_EXIT_OK) {
            for (size_t k = 0; k <= i; k++)
                json_decref(tasks[k]);
            free(tasks);
            lsc_adapter_info_free_array(infos, n);
            return LSC_EXIT_ERROR;
        }
    for (size_t i = 0; tasks && i < n; i++)
        if (lsc_is_series(infos[i].kind) &&
            lsc_series_totals(ctx, infos[i].id, &infos[i].n_layers, &infos[i].params, &infos[i].bytes, &tasks[i])) {
            for (size_t k = 0; k < n; k++)
                json_decref(tasks[k]);
            free(tasks);
            lsc_adapter_info_free_array(infos, n);
            return LSC_EXIT_ERROR;
        }
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            lsc_adapter_info *a = &infos[i];
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s}", "name", a->name, "format",
                               a->format ? a->format : "", "kind", a->kind ? a->kind : "", "base_model",
                               a->base_model ? a->base_model : "", "layers", (json_int_t)a->n_layers, "params",
                               (json_int_t)a->params, "bytes", (json_int_t)a->bytes, "created",
                               fmt_time(b1, sizeof b1, a->created), "parents", a->parents ? a->parents : "",
                               "content_hash", a->content_hash));
            if (tasks && tasks[i])
                json_object_set(json_array_get(arr, json_array_size(arr) - 1),
                                lsc_is_series(a->kind) ? "checkpoints" : "tasks", tasks[i]);
        }
        lsc_json_print(ctx->out, arr);
        json_decref(arr);
    } else if (n == 0) {
        lsc_out(ctx->out, "no adapters yet: lorascope import PATH\n");
    } else {
        const char *hdr[] = {"NAME", "KIND", "FORMAT", "BASE MODEL", "LAYERS", "PARAMS", "SIZE", "CREATED", "PARENTS"};
        lsc_table *t = lsc_table_new(9, hdr, "llllrrrll");
        for (size_t i = 0; t && i < n; i++) {
            lsc_adapter_info *a = &infos[i];
            const char *row[9] = {lsc_escape_name(name, sizeof name, a->name), a->kind, a->format,
                                  lsc_escape_name(base, sizeof base, a->base_model ? a->base_model : ""),
                                  lsc_fmt(b1, sizeof b1, "%lld", (long long)a->n_layers),
                                  lsc_human_count(b2, sizeof b2, (double)a->params),
                                  lsc_human_bytes(b3, sizeof b3, (double)a->bytes),
                                  fmt_time(b4, sizeof b4, a->created), a->parents};
            lsc_table_add(t, row);
        }
        if (t)
            lsc_table_print(t, ctx->out);
        lsc_table_free(t);
    }
    for (size_t i = 0; tasks && i < n; i++)
        json_decref(tasks[i]);
    free(tasks);
    lsc_adapter_info_free_array(infos, n);
    return LSC_EXIT_OK;
}

const lsc_cmd_spec lsc_spec_ls = {ls_opts, sizeof(ls_args), NULL, ls_run, ""};
