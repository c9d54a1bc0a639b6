/* store/detect.c: adapter format detection from content (see detect.h).
 * Reads at most the 4-byte magic and, for safetensors, the header (through the strict reader).
 * Depends on store/safetensors and engine/status; never on SQLite or curses.
 */
#include "detect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

#define ESC_CAP 320

static lsc_status put(char *out, size_t cap, const char *fmt, lsc_error *err)
{
    if (cap < strlen(fmt) + 1)
        return lsc_error_set(err, LSC_ERR_INVALID, "format name buffer of %zu bytes is too small", cap);
    strcpy(out, fmt);
    return LSC_OK;
}

lsc_status lsc_detect_format(const char *path, char *fmt_out, size_t cap, lsc_error *err)
{
    char pe[ESC_CAP], te[ESC_CAP];
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
    unsigned char magic[4];
    ssize_t n = pread(fd, magic, 4, 0);
    close(fd);
    if (n == 4 && memcmp(magic, "GGUF", 4) == 0)
        return put(fmt_out, cap, "gguf", err);

    lsc_st_file *f = NULL;
    lsc_status st = lsc_st_open(path, &f, err);
    if (st)
        return st;
    int kohya = 0, peft = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const char *k = f->tensors[i].name;
        if (strstr(k, ".hada_") || strstr(k, ".lokr_") || strstr(k, ".dora_scale") || strstr(k, ".oft_") ||
            strstr(k, ".lora_mid.")) {
            st = lsc_error_set(err, LSC_ERR_UNSUPPORTED, "'%s': LoHa/LoKr adapter (LyCORIS): not a LoRA pair (tensor '%s')",
                               pe, lsc_escape_name(te, sizeof te, k));
            lsc_st_close(f);
            return st;
        }
        kohya |= strstr(k, ".lora_down.") != NULL || strstr(k, ".lora_up.") != NULL;
        peft |= strstr(k, ".lora_A") != NULL || strstr(k, ".lora_B") != NULL || strstr(k, "lora_embedding_A") != NULL ||
                strstr(k, "lora_embedding_B") != NULL;
    }
    size_t n_other = f->n_tensors;
    lsc_st_close(f);
    if (kohya)
        return put(fmt_out, cap, "kohya", err);
    if (peft)
        return put(fmt_out, cap, "peft", err);
    return lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                         "no LoRA layers in '%s' (no lora_A/lora_B or lora_down/lora_up pair; %zu other tensor%s)", pe,
                         n_other, n_other == 1 ? "" : "s");
}
