/* cmd_audit.c: `lorascope audit [GLOB] [--json]`: what every adapter of the catalog wastes or gets wrong
 * (audit.h): rank a prune at 99% energy would save, NaN/Inf, dead layers, duplicates, gone parents, sorted
 * by savings. Reads the statistics cache, so a catalog of ten thousand adapters audits in seconds. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "common.h"
#include "handlers.h"
#include "layername.h"
#include "table.h"

typedef struct audit_args {
    lsc_args base;
    const char *glob;
    int json, all;
} audit_args;

static const lsc_opt audit_opts[] = {
    {.metavar = "GLOB", .type = LSC_OPT_STRING, .flags = LSC_OPT_POSITIONAL | LSC_OPT_OPTIONAL,
     .at = offsetof(audit_args, glob), .help = "only adapters whose name matches (default: all)"},
    {.name = "all", .type = LSC_OPT_FLAG, .at = offsetof(audit_args, all),
     .help = "list adapters without findings too"},
    {.name = "json", .type = LSC_OPT_FLAG, .at = offsetof(audit_args, json),
     .help = "an array of {name, layers, bytes, saves, waste, nonfinite, dead, duplicates[], same_layers[],\n"
             "gone_parents[], findings[{layer, rank, k99, saves, waste, nonfinite, dead}]}, sorted by saves"},
    {0}};

/* A comma list as a JSON array of strings. */
static json_t *csv_json(const char *csv)
{
    json_t *a = json_array();
    const char *p = csv;
    while (p && *p) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        json_array_append_new(a, json_stringn_nocheck(p, len));
        p = c ? c + 1 : NULL;
    }
    return a;
}

static json_t *entry_json(const lsc_audit_entry *e)
{
    json_t *f = json_array();
    for (size_t k = 0; k < e->n_flagged; k++) {
        const lsc_audit_layer *l = &e->layers[k];
        json_array_append_new(f, lsc_json_layer_name(json_pack("{s:s, s:i, s:i, s:I, s:b, s:b, s:b}", "name", l->name,
                                                               "rank", l->rank, "k99", l->k99, "saves", (json_int_t)l->saves,
                                                               "waste", (l->what & LSC_AUDIT_WASTE) != 0,
                                                               "nonfinite", (l->what & LSC_AUDIT_NONFINITE) != 0,
                                                               "dead", (l->what & LSC_AUDIT_DEAD) != 0),
                                                     l->name));
    }
    return json_pack("{s:s, s:I, s:I, s:I, s:i, s:i, s:i, s:o, s:o, s:o, s:o}", "name", e->name, "layers",
                     (json_int_t)e->n_layers, "bytes", (json_int_t)e->bytes, "saves", (json_int_t)e->saves, "waste",
                     e->waste, "nonfinite", e->nonfinite, "dead", e->dead, "duplicates", csv_json(e->duplicates),
                     "same_layers", csv_json(e->same_layers), "gone_parents", csv_json(e->gone_parents), "findings", f);
}

/* The notes column: duplicates, same layers, gone parents, escaped for the terminal. */
static void print_notes(lsc_cmd_ctx *ctx, const lsc_audit_entry *e)
{
    const char *label[3] = {"same content as ", "same layers as ", "parent gone: "};
    const char *csv[3] = {e->duplicates, e->same_layers, e->gone_parents};
    int first = 1;
    char nm[1024];
    for (int k = 0; k < 3; k++) {
        if (!csv[k] || !*csv[k])
            continue;
        lsc_out(ctx->out, "%s%s%s", first ? "  " : "; ", label[k], lsc_escape_name(nm, sizeof nm, csv[k]));
        first = 0;
    }
}

static void print_text(lsc_cmd_ctx *ctx, const lsc_audit_entry *e, size_t n, int all)
{
    char nm[512], b1[64], b2[64];
    int64_t total = 0;
    size_t with = 0;
    lsc_out(ctx->out, "%-32s %6s %7s %10s %10s %4s %4s  %s\n", "ADAPTER", "LAYERS", "WASTE", "SAVES", "BYTES", "NAN",
            "DEAD", "NOTES");
    for (size_t i = 0; i < n; i++) {
        int has = lsc_audit_has_findings(&e[i]);
        total += e[i].saves;
        with += has != 0;
        if (!has && !all)
            continue;
        lsc_out(ctx->out, "%-32s %6lld %3d/%-3lld %10s %10s %4d %4d", lsc_escape_name(nm, sizeof nm, e[i].name),
                (long long)e[i].n_layers, e[i].waste, (long long)e[i].n_layers,
                lsc_human_bytes(b1, sizeof b1, (double)e[i].saves), lsc_human_bytes(b2, sizeof b2, (double)e[i].bytes),
                e[i].nonfinite, e[i].dead);
        print_notes(ctx, &e[i]);
        lsc_out(ctx->out, "\n");
    }
    lsc_out(ctx->out, "%zu adapter(s) audited, %zu with findings; prune --energy 0.99 would save %s\n", n, with,
            lsc_human_bytes(b1, sizeof b1, (double)total));
}

static int audit_run(lsc_cmd_ctx *ctx, void *args)
{
    const audit_args *av = args;
    lsc_audit_entry *e = NULL;
    size_t n = 0;
    if (lsc_audit_collect(ctx->cat, av->glob, ctx->cancel, NULL, NULL, &e, &n, &ctx->err))
        return LSC_EXIT_ERROR;
    if (n == 0 && av->glob && *av->glob) {
        char nm[512];
        lsc_error_set(&ctx->err, LSC_ERR_NOTFOUND, "audit: no adapter matches '%s'",
                      lsc_escape_name(nm, sizeof nm, av->glob));
        lsc_audit_free(e, n);
        return LSC_EXIT_ERROR;
    }
    if (ctx->json || av->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, entry_json(&e[i]));
        lsc_json_print(ctx->out, arr);
        json_decref(arr);
    } else {
        print_text(ctx, e, n, av->all);
    }
    lsc_audit_free(e, n);
    return LSC_EXIT_OK;
}

const lsc_cmd_spec lsc_spec_audit = {audit_opts, sizeof(audit_args), NULL, audit_run,
                                     "  WASTE: layers where prune --energy 0.99 keeps fewer ranks than r (of all layers);\n"
                                     "  SAVES: the bytes that prune would save; DEAD: layers with ||dW|| ~ 0;\n"
                                     "  NOTES: adapters with the same content or the same layer tensors, removed parents\n"};
