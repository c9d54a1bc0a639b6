/* store/detect.c: adapter format detection from content (see detect.h).
 * Reads the first 64 bytes and, for safetensors, the header (through the strict reader).
 * Depends on store/safetensors and engine/status; never on SQLite or curses.
 */
#include "detect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloneofsimo.h"
#include "diffusers.h"
#include "format_util.h"
#include "safetensors.h"

#define ESC_CAP 320

static lsc_status put(char *out, size_t cap, const char *fmt, lsc_error *err)
{
    if (cap < strlen(fmt) + 1)
        return lsc_error_set(err, LSC_ERR_INVALID, "format name buffer of %zu bytes is too small", cap);
    strcpy(out, fmt);
    return LSC_OK;
}

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* Could these first bytes start a safetensors file of `size` bytes? u64 header length N in range and
 * inside the file, and the header's first byte '{'. */
static int safetensors_head(const unsigned char *h, size_t got, uint64_t size)
{
    if (got < 9)
        return 0;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | h[i];
    return n >= 2 && n <= LSC_ST_MAX_HEADER && n <= size - 8 && h[8] == '{';
}

/* Do these first bytes start a JSON text (after an optional UTF-8 BOM and white space)? */
static int json_head(const unsigned char *h, size_t got)
{
    size_t i = got >= 3 && h[0] == 0xef && h[1] == 0xbb && h[2] == 0xbf ? 3 : 0;
    while (i < got && (h[i] == ' ' || h[i] == '\t' || h[i] == '\n' || h[i] == '\r'))
        i++;
    return i < got && (h[i] == '{' || h[i] == '[');
}

/* A file that is neither GGUF nor plausibly safetensors: say what it is, by content first, then by the
 * name it was given (only for the message: a ".safetensors" file gets the strict reader's reason). */
static lsc_status not_an_adapter(const char *path, const char *pe, const unsigned char *h, size_t got,
                                 uint64_t size, lsc_error *err)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (size == 0)
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': empty file, not an adapter", pe);
    if (json_head(h, got))
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s' is a JSON file, not an adapter%s", pe,
                             strcmp(base, "adapter_config.json") == 0 ? " (give the folder that holds it)" : "");
    if (ends_with_ci(path, ".gguf"))
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': not a GGUF file (bad magic)", pe);
    /* torch.save writes a zip archive (PyTorch >= 1.6) or a bare pickle (protocol 2+ starts with 0x80) */
    if ((got >= 4 && memcmp(h, "PK\003\004", 4) == 0) || (got >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5))
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                             "'%s': a PyTorch pickle (torch.save), not supported: lorascope never unpickles; "
                             "save it as .safetensors", pe);
    if (ends_with_ci(path, ".safetensors")) {
        lsc_st_file *f = NULL;
        lsc_status st = lsc_st_open(path, &f, err);
        lsc_st_close(f);
        if (st)
            return st;
    }
    return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': not a safetensors, GGUF or PEFT adapter", pe);
}

/* Is there an adapter_config.json in the folder of file `path` (then a lora_A/lora_B file is PEFT's)? */
static int config_beside(const char *path)
{
    const char *slash = strrchr(path, '/');
    char cfg[4200];
    int n = slash ? snprintf(cfg, sizeof cfg, "%.*s/adapter_config.json", (int)(slash - path), path)
                  : snprintf(cfg, sizeof cfg, "adapter_config.json");
    struct stat sb;
    return n > 0 && (size_t)n < sizeof cfg && stat(cfg, &sb) == 0;
}

lsc_status lsc_detect_format(const char *path, char *fmt_out, size_t cap, lsc_error *err)
{
    char pe[ESC_CAP];
    lsc_escape_name(pe, sizeof pe, path);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return lsc_error_set(err, LSC_ERR_IO, "cannot open '%s': %s", pe,
                             errno == ENOENT ? "no such file or directory" : strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return put(fmt_out, cap, "peft", err);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lsc_error_set(err, LSC_ERR_IO, "cannot open '%s': %s", pe, strerror(errno));
    unsigned char head[64];
    ssize_t n = pread(fd, head, sizeof head, 0);
    close(fd);
    size_t got = n > 0 ? (size_t)n : 0;
    if (got >= 4 && memcmp(head, "GGUF", 4) == 0)
        return put(fmt_out, cap, "gguf", err);
    if (!safetensors_head(head, got, (uint64_t)sb.st_size))
        return not_an_adapter(path, pe, head, got, (uint64_t)sb.st_size, err);

    lsc_st_file *f = NULL;
    lsc_status st = lsc_st_open(path, &f, err);
    if (st)
        return st;
    int kohya = 0, peft = 0, old_diffusers = 0, clone = 0, peft_other = 0;
    size_t component = 0, n_plain = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const char *k = f->tensors[i].name;
        /* LyCORIS files are kohya-style: the kohya reader reads LoHa/LoKr/Tucker/DoRA and names what it
         * refuses ((IA)3, GLoRA, OFT ...) */
        kohya |= strstr(k, ".hada_") || strstr(k, ".lokr_") || strstr(k, ".dora_scale") || strstr(k, ".oft_") ||
                 strstr(k, ".lora_mid.") || strstr(k, ".on_input") ||
                 ((strncmp(k, "lora_unet_", 10) == 0 || strncmp(k, "lora_te", 7) == 0) &&
                  (strstr(k, ".diff") || strstr(k, ".a1.weight") || strstr(k, ".w_norm")));
        kohya |= strstr(k, ".lora_down.") != NULL || strstr(k, ".lora_up.") != NULL;
        int pk = strstr(k, ".lora_A") != NULL || strstr(k, ".lora_B") != NULL;
        peft |= pk || strstr(k, "lora_embedding_A") != NULL || strstr(k, "lora_embedding_B") != NULL;
        /* diffusers' own lora_A/lora_B keys: `<component>.<path>.lora_A.weight`, nothing else of PEFT's */
        int plain = lsc_format_ends_with(k, ".lora_A.weight") || lsc_format_ends_with(k, ".lora_B.weight");
        component += plain && lsc_diffusers_component_key(k);
        peft_other |= (pk && !plain) || strstr(k, "lora_embedding_") || strstr(k, ".lora_E") || strstr(k, ".lora_gate") ||
                      strstr(k, "lora_magnitude_vector");
        n_plain += plain;
        old_diffusers |= lsc_diffusers_is_old_key(k);
        clone |= lsc_cloneofsimo_is_key(k);
    }
    size_t n_other = f->n_tensors;
    int diffusers_meta = 0;
    for (size_t i = 0; i < f->n_meta; i++)
        diffusers_meta |= strcmp(f->meta_keys[i], "lora_adapter_metadata") == 0;
    lsc_st_close(f);
    if (kohya)
        return put(fmt_out, cap, "kohya", err);
    if (old_diffusers)
        return put(fmt_out, cap, "diffusers", err);
    if (clone)
        return put(fmt_out, cap, "cloneofsimo", err);
    if (peft && !peft_other && n_plain > 0 && (component == n_plain || diffusers_meta) && !config_beside(path))
        return put(fmt_out, cap, "diffusers", err);
    if (peft)
        return put(fmt_out, cap, "peft", err);
    return lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                         "no LoRA layers in '%s' (no lora_A/lora_B or lora_down/lora_up pair; %zu other tensor%s)", pe,
                         n_other, n_other == 1 ? "" : "s");
}
