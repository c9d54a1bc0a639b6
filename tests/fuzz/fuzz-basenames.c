/* fuzz-basenames.c: the base-model name loader (lsc_basenames_load) on arbitrary file bytes: a
 * .safetensors header, a model.safetensors.index.json or a text list, told apart by the content.
 *
 * Oracles: a rejection has a message of one line; in an accepted set, every module name, written the way
 * kohya writes it (its component's prefix, '.' as '_'), resolves to a module whose flat form is that
 * name, or is refused as fitting two modules, naming the kohya name; never "no module flattens to it",
 * since the name itself is in the set. Depends on store/ (basenames) only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basenames.h"
#include "fuzz_util.h"

/* The kohya prefix for a qualified name and the path after its component; NULL for a component kohya
 * has no prefix for (transformer). */
static const char *kohya_prefix(const char *name, const char **path)
{
    static const struct {
        const char *comp, *prefix;
    } map[] = {{"unet.", "lora_unet_"},
               {"text_encoder_2.", "lora_te2_"},
               {"text_encoder_3.", "lora_te3_"},
               {"text_encoder.", "lora_te_"},
               {"transformer.", NULL}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncmp(name, map[i].comp, strlen(map[i].comp)) == 0 && name[strlen(map[i].comp)] != '\0') {
            *path = name + strlen(map[i].comp);
            return map[i].prefix;
        }
    *path = name;
    return "lora_unet_";
}

static void check_names(const lsc_basenames *bn)
{
    static char name[70000], kohya[70100], out[70100];
    for (size_t i = 0; i < lsc_basenames_count(bn); i++) {
        if (lsc_basenames_name(bn, i, name, sizeof name) != 0)
            continue; /* longer than the buffer */
        const char *path;
        const char *prefix = kohya_prefix(name, &path);
        if (!prefix)
            continue;
        size_t pl = strlen(prefix), n = strlen(path);
        memcpy(kohya, prefix, pl);
        for (size_t k = 0; k <= n; k++)
            kohya[pl + k] = path[k] == '.' ? '_' : path[k];
        lsc_error err;
        memset(&err, 0, sizeof err);
        if (lsc_basenames_resolve(bn, kohya, out, sizeof out, &err) != LSC_OK) {
            if (!strstr(err.msg, "fits two modules"))
                fuzz_fail("module '%s' (kohya '%s') is in the set but does not resolve: %s", name, kohya, err.msg);
            continue;
        }
        const char *dot = strchr(out, '.'), *got = out;
        if (dot && strncmp(out, "unet.", 5) == 0)
            got = out + 5;
        else if (dot && strncmp(out, "text_encoder_2.", 15) == 0)
            got = out + 15;
        else if (dot && strncmp(out, "text_encoder_3.", 15) == 0)
            got = out + 15;
        else if (dot && strncmp(out, "text_encoder.", 13) == 0)
            got = out + 13;
        if (strlen(got) != n)
            fuzz_fail("kohya '%s' resolved to '%s', which does not flatten to it", kohya, out);
        for (size_t k = 0; k < n; k++)
            if ((got[k] == '.' ? '_' : got[k]) != kohya[pl + k])
                fuzz_fail("kohya '%s' resolved to '%s', which does not flatten to it", kohya, out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[700];
    if (!path[0])
        snprintf(path, sizeof path, "%s/names", fuzz_dir());
    fuzz_write(path, data, size);
    lsc_basenames *bn = NULL;
    lsc_error err;
    memset(&err, 0, sizeof err);
    lsc_status st = lsc_basenames_load(path, &bn, &err);
    if (getenv("LSC_FUZZ_VERBOSE"))
        fprintf(stderr, "basenames: %s\n", st == LSC_OK ? "ok" : err.msg);
    if (st != LSC_OK) {
        if (!err.msg[0] || strchr(err.msg, '\n'))
            fuzz_fail("names rejected without a one-line message: '%s'", err.msg);
        return 0;
    }
    check_names(bn);
    lsc_basenames_free(bn);
    return 0;
}
