/* fuzz-import.c: a whole `import` through the command layer, then `show`, `spectrum` and `export`.
 *
 * Input layout: a little-endian u16 L, then L bytes of adapter_config.json, then the bytes of
 * adapter_model.safetensors (L = 0xffff: no config file, the rest is the safetensors file). Each input
 * goes into a fresh folder and a fresh catalog file in the per-process scratch folder, and runs through
 * lsc_dispatch exactly as the CLI does. Oracles: a failed import has a message and leaves no adapter and
 * no history behind (one transaction); an accepted adapter can be listed, shown, its spectrum printed,
 * exported, and the export imported again with the same layers and parameters.
 * Depends on the command layer (app/cmd), store/ and engine/. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "command.h"
#include "fuzz_util.h"
#include "sink.h"

static char g_in[600], g_out[600], g_cat[600];

static void reset_files(void)
{
    char p[700];
    fuzz_rmtree(g_in);
    fuzz_rmtree(g_out);
    fuzz_rmtree(g_cat);
    snprintf(p, sizeof p, "%s-wal", g_cat);
    fuzz_rmtree(p);
    snprintf(p, sizeof p, "%s-shm", g_cat);
    fuzz_rmtree(p);
}

/* Run one command; returns its exit code, *out (if non-NULL) gets its parsed JSON output. */
static int run(const char *a0, const char *a1, const char *a2, const char *a3, const char *a4, json_t **out,
               char *msg, size_t cap)
{
    char *argv[] = {(char *)a0, (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
    int argc = 0;
    while (argv[argc])
        argc++;
    lsc_sink o, d;
    lsc_sink_init_mem(&o);
    lsc_sink_init_mem(&d);
    lsc_cmd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.catalog_path = g_cat;
    ctx.out = &o;
    ctx.diag = &d;
    int rc = lsc_dispatch(&ctx, argc, argv);
    if (rc != LSC_EXIT_OK && !ctx.err.msg[0])
        fuzz_fail("'%s' failed without a message", a0);
    if (msg)
        snprintf(msg, cap, "%s", ctx.err.msg);
    if (out) {
        json_error_t je;
        *out = rc == LSC_EXIT_OK ? json_loads(o.buf ? o.buf : "", 0, &je) : NULL;
        if (rc == LSC_EXIT_OK && !*out)
            fuzz_fail("'%s' printed invalid JSON: %s", a0, je.text);
    }
    lsc_sink_release(&o);
    lsc_sink_release(&d);
    return rc;
}

static json_int_t field(json_t *arr, size_t i, const char *key)
{
    return json_integer_value(json_object_get(json_array_get(arr, i), key));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if (!g_in[0]) {
        snprintf(g_in, sizeof g_in, "%s/in", fuzz_dir());
        snprintf(g_out, sizeof g_out, "%s/out", fuzz_dir());
        snprintf(g_cat, sizeof g_cat, "%s/cat.db", fuzz_dir());
    }
    reset_files();
    mkdir(g_in, 0755);
    size_t L = (size_t)data[0] | (size_t)data[1] << 8, rest = size - 2;
    char p[700];
    if (L != 0xffff) {
        if (L > rest)
            L = rest;
        snprintf(p, sizeof p, "%s/adapter_config.json", g_in);
        fuzz_write(p, data + 2, L);
    } else {
        L = 0;
    }
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", g_in);
    fuzz_write(p, data + 2 + L, rest - L);

    char msg[LSC_ERROR_MSG_MAX];
    json_t *ls = NULL, *v = NULL;
    int rc = run("import", g_in, "--name", "f", NULL, NULL, msg, sizeof msg);
    if (getenv("LSC_FUZZ_VERBOSE"))
        fprintf(stderr, "import: %s\n", rc == LSC_EXIT_OK ? "ok" : msg);
    if (rc != LSC_EXIT_OK) {
        /* all or nothing: the failed import left no adapter (the catalog may not even exist) */
        struct stat sb;
        if (stat(g_cat, &sb) == 0 && sb.st_size > 0) {
            if (run("ls", "--json", NULL, NULL, NULL, &ls, NULL, 0) != LSC_EXIT_OK || json_array_size(ls) != 0)
                fuzz_fail("failed import (%s) left adapters behind", msg);
            json_decref(ls);
            if (run("log", "--json", NULL, NULL, NULL, &ls, NULL, 0) != LSC_EXIT_OK || json_array_size(ls) != 0)
                fuzz_fail("failed import (%s) left history behind", msg);
            json_decref(ls);
        }
        return 0;
    }
    if (run("ls", "--json", NULL, NULL, NULL, &ls, msg, sizeof msg) != LSC_EXIT_OK || json_array_size(ls) != 1)
        fuzz_fail("imported adapter not listed: %s", msg);
    if (run("show", "f", "--json", NULL, NULL, &v, msg, sizeof msg) != LSC_EXIT_OK)
        fuzz_fail("imported adapter cannot be shown: %s", msg);
    if ((json_int_t)json_array_size(json_object_get(v, "layers")) != field(ls, 0, "layers"))
        fuzz_fail("show lists %zu layers, ls says %lld", json_array_size(json_object_get(v, "layers")),
                  (long long)field(ls, 0, "layers"));
    json_decref(v);
    if (run("spectrum", "f", "--json", NULL, NULL, &v, msg, sizeof msg) != LSC_EXIT_OK)
        fuzz_fail("spectrum of an imported adapter failed: %s", msg);
    json_decref(v);
    if (run("export", "f", g_out, NULL, NULL, NULL, msg, sizeof msg) != LSC_EXIT_OK)
        fuzz_fail("imported adapter cannot be exported: %s", msg);
    if (run("import", g_out, "--name", "g", NULL, NULL, msg, sizeof msg) != LSC_EXIT_OK)
        fuzz_fail("exported adapter cannot be imported again: %s", msg);
    json_t *ls2 = NULL;
    if (run("ls", "--json", NULL, NULL, NULL, &ls2, msg, sizeof msg) != LSC_EXIT_OK)
        fuzz_fail("ls after re-import failed: %s", msg);
    size_t last = json_array_size(ls2) - 1; /* "g" sorts after "f"; an identical re-import is not added */
    if (field(ls2, last, "layers") != field(ls, 0, "layers") || field(ls2, last, "params") != field(ls, 0, "params"))
        fuzz_fail("export + import changed the adapter: %lld/%lld layers, %lld/%lld params",
                  (long long)field(ls, 0, "layers"), (long long)field(ls2, last, "layers"),
                  (long long)field(ls, 0, "params"), (long long)field(ls2, last, "params"));
    json_decref(ls2);
    json_decref(ls);
    return 0;
}
