/* cmd_group.c: `lorascope group NEW NAME... [--tasks t1,t2,...]`: assemble a multi-task adapter from
 * adapters in the catalog (the same base model); task names default to the adapters' names. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "derive.h"
#include "handlers.h"
#include "hash.h"
#include "tasks.h"

typedef struct group_args {
    lsc_args base;
    const char *name, *tasks_arg;
    char **names;
} group_args;

static const lsc_opt group_opts[] = {
    {.metavar = "NEW", .type = LSC_OPT_NEW, .flags = LSC_OPT_POSITIONAL, .at = offsetof(group_args, name)},
    {.metavar = "NAME", .type = LSC_OPT_ADAPTER, .flags = LSC_OPT_POSITIONAL | LSC_OPT_MANY, .min_n = 2, .max_n = 64,
     .at = offsetof(group_args, names)},
    {.name = "tasks", .type = LSC_OPT_STRING, .metavar = "T1,T2,...", .at = offsetof(group_args, tasks_arg),
     .help = "task names, one per adapter (default: the adapters' names)"},
    {0}};

/* One task name per adapter (as the run step splits --tasks: empty names between commas do not count). */
static int group_validate(lsc_cmd_ctx *ctx, void *args)
{
    const group_args *av = args;
    if (!av->tasks_arg)
        return LSC_EXIT_OK;
    int nt = 0, n = av->base.npos - 1;
    for (const char *p = av->tasks_arg; *p; p += strcspn(p, ","), p += *p == ',')
        nt += p[0] != ',';
    if (nt != n)
        return lsc_usage_error(ctx, "group", "%d task names for %d adapters", nt, n);
    return LSC_EXIT_OK;
}

static int group_run(lsc_cmd_ctx *ctx, void *args)
{
    const group_args *av = args;
    const char *tasks_arg = av->tasks_arg;
    int n = av->base.npos - 1;
    const char *name = av->name;
    char *tnames[64] = {0}, *copy = tasks_arg ? strdup(tasks_arg) : NULL, *save = NULL;
    int nt = 0;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && nt < 64; t = strtok_r(NULL, ",", &save))
        tnames[nt++] = t;
    int rc = LSC_EXIT_OK;
    if (copy && nt != n)
        rc = lsc_usage_error(ctx, "group", "%d task names for %d adapters", nt, n);
    if (!rc)
        rc = lsc_derive_check_name(ctx, name);
    for (int i = 0; i < nt && copy && !rc; i++) /* task names become parts of adapter names (share, retrain) */
        if (lsc_name_check(tnames[i], &ctx->err)) {
            lsc_error_prefix(&ctx->err, "--tasks");
            rc = LSC_EXIT_ERROR;
        } else {
            for (int k = 0; k < i && !rc; k++)
                if (strcmp(tnames[k], tnames[i]) == 0)
                    rc = lsc_usage_error(ctx, "group", "task '%s' is named twice in --tasks", tnames[i]);
        }
    int64_t ids[64];
    lsc_adapter *g0 = lsc_adapter_new();
    json_t *meta = json_object(), *jt = json_array();
    for (int i = 0; i < n && !rc; i++) {
        lsc_adapter *m = NULL;
        if (lsc_cmd_load(ctx, av->names[i], &m, &ids[i])) {
            rc = LSC_EXIT_ERROR;
            break;
        }
        for (int k = 0; k < i && !rc; k++)
            if (ids[k] == ids[i]) {
                lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' is given twice (each task is a different adapter)",
                              m->name);
                rc = LSC_EXIT_ERROR;
            }
        if (i == 0) {
            g0->base_model = strdup(m->base_model ? m->base_model : "");
            g0->format = strdup(m->format ? m->format : "peft");
        } else if (m->base_model && *m->base_model && *g0->base_model && strcmp(m->base_model, g0->base_model) != 0) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' adapts '%s', not '%s' like the others", m->name, m->base_model,
                          g0->base_model);
            rc = LSC_EXIT_ERROR;
        }
        if (lsc_is_group(m->kind)) {
            lsc_error_set(&ctx->err, LSC_ERR_INVALID, "'%s' is a multi-task adapter already", m->name);
            rc = LSC_EXIT_ERROR;
        }
        char h[LSC_HASH_HEX];
        lsc_hash_adapter(m, h);
        if (!copy)
            tnames[i] = av->names[i];
        json_array_append_new(jt, json_pack("{s:s, s:s}", "task", tnames[i], "content", h));
        lsc_adapter_free(m);
    }
    json_object_set_new(meta, "tasks", jt);
    int64_t id = 0;
    if (!rc) {
        g0->name = strdup(name);
        lsc_adapter_set_kind(g0, LSC_KIND_MULTITASK, NULL);
        g0->metadata_json = json_dumps(meta, JSON_COMPACT);
        if (lsc_catalog_put_adapter(ctx->cat, g0, ids, (size_t)n, &id, &ctx->err) ||
            lsc_catalog_set_tasks(ctx->cat, id, (const char *const *)tnames, ids, (size_t)n, &ctx->err))
            rc = LSC_EXIT_ERROR;
        else {
            lsc_cmd_wrote(ctx, id);
            lsc_out(ctx->out, "%s: multi-task, %d tasks\n", name, n);
        }
    }
    json_decref(meta);
    lsc_adapter_free(g0);
    free(copy);
    return rc;
}

const lsc_cmd_spec lsc_spec_group = {group_opts, sizeof(group_args), group_validate, group_run, ""};
