/* fuzz-export.c: import, then an unedited export, through the command layer; the export must give the
 * input back byte for byte.
 *
 * Input layout: byte 0 picks the input (low two bits): 0 the rest is a GGUF file; 1 the rest is a single
 * .safetensors file (kohya or PEFT, as detection decides); 2 the rest is a PEFT folder laid out as for
 * fuzz-import (u16 L, L bytes of adapter_config.json or none when L = 0xffff, then
 * adapter_model.safetensors); 3 the rest drives a GGUF builder (below) that lays out a valid LoRA file
 * with a chosen alignment (1 to 65536 or the default), version 2 or 3, tensor sizes that are rarely
 * multiples of it, F32/F16/BF16 (and now and then Q8_0) factors, odd key-values, and a last padding that
 * is whole, absent or cut short; a few inputs break one layout rule (a trailing byte, non-zero padding).
 * Byte 1 picks the export path under the scratch folder: plain, with spaces, quotes, UTF-8, a newline, '%'
 * or a leading '-', any extension (the format never comes from it), in a folder that does not exist, or a
 * name longer than NAME_MAX.
 *
 * Each input gets a fresh catalog and runs `import IN --name f` and `export f OUT` through lsc_dispatch
 * as the CLI does. Oracles: a refused import has a message; an accepted one exports, in its own format
 * and dtypes, to a file (for PEFT: adapter_model.safetensors in the folder) byte-identical to the input,
 * and a PEFT config comes back verbatim unless the import warned about it. The only difference allowed
 * is one the import announced: Q8_0 GGUF tensors are written as F32. Paths that cannot be created
 * (missing folder, overlong name) may fail, with a message and no file left behind.
 * Depends on the command layer (app/cmd), store/ and engine/. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "command.h"
#include "fuzz_util.h"
#include "sink.h"

static char g_root[600];

/* ---- input bytes -------------------------------------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p;
    size_t n, at;
} cursor;

static unsigned take(cursor *c)
{
    return c->at < c->n ? c->p[c->at++] : 0;
}

/* ---- a growable byte buffer ---------------------------------------------------------------------------- */

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q)
            abort();
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void put_le(buf *b, uint64_t v, int n)
{
    unsigned char t[8];
    for (int i = 0; i < n; i++)
        t[i] = (unsigned char)(v >> (8 * i));
    put(b, t, (size_t)n);
}

static void put_str(buf *b, const char *s)
{
    put_le(b, strlen(s), 8);
    put(b, s, strlen(s));
}

static void put_zeros(buf *b, size_t n)
{
    static const unsigned char z[256];
    while (n > 0) {
        size_t k = n < sizeof z ? n : sizeof z;
        put(b, z, k);
        n -= k;
    }
}

static size_t pad_len(size_t x, size_t align)
{
    return (align - x % align) % align;
}

/* ---- the GGUF builder (mode 3), written from the format's description ----------------------------------- */

typedef struct gtensor {
    char name[64];
    uint64_t ne0, ne1;
    unsigned type; /* ggml: 0 F32, 1 F16, 8 Q8_0, 30 BF16 */
    size_t nbytes;
} gtensor;

static size_t type_bytes(unsigned type, uint64_t n)
{
    return type == 0 ? 4 * n : type == 8 ? n / 32 * 34 : 2 * n;
}

static void kv_head(buf *b, const char *key, unsigned type)
{
    put_str(b, key);
    put_le(b, type, 4);
}

/* The optional key-values selected by the bits of `which`. */
static void odd_kvs(buf *b, unsigned which, cursor *c, uint64_t *count)
{
    if (which & 1) { /* a u64 above 2^63 */
        kv_head(b, "lorascope.fuzz.big", 10);
        put_le(b, 0xfedcba9876543210ull ^ take(c), 8);
        ++*count;
    }
    if (which & 2) { /* an array of u32 */
        kv_head(b, "lorascope.fuzz.list", 9);
        put_le(b, 4, 4);
        unsigned n = take(c) % 4;
        put_le(b, n, 8);
        for (unsigned i = 0; i < n; i++)
            put_le(b, take(c), 4);
        ++*count;
    }
    if (which & 4) { /* a NaN f64 with a payload, and a negative i8 */
        kv_head(b, "lorascope.fuzz.nan", 12);
        put_le(b, 0x7ff8000000000000ull | take(c), 8);
        kv_head(b, "lorascope.fuzz.neg", 1);
        put_le(b, 0x80u | take(c), 1);
        *count += 2;
    }
    if (which & 8) { /* a string with UTF-8, quotes and a NUL byte, and a bool */
        kv_head(b, "general.name", 8);
        put_le(b, 8, 8);
        put(b, "f\xc3\xbc\0 \"q\"", 8);
        kv_head(b, "lorascope.fuzz.flag", 7);
        put_le(b, take(c) & 1, 1);
        *count += 2;
    }
}

static void build_gguf(cursor *c, buf *out)
{
    static const uint32_t aligns[] = {0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 65536};
    static const char *const mods[] = {"attn_q", "attn_k", "attn_v", "ffn_up"};
    static const unsigned types[] = {0, 1, 30};
    uint32_t align_kv = aligns[take(c) % (sizeof aligns / sizeof aligns[0])];
    size_t align = align_kv ? align_kv : 32;
    unsigned version = 2 + (take(c) & 1), alpha_mode = take(c) % 3, odd = take(c);
    unsigned n_layers = 1 + take(c) % 3, extra = take(c) & 1;
    gtensor t[8];
    size_t nt = 0;
    for (unsigned l = 0; l < n_layers; l++) {
        uint64_t r = 1 + take(c) % 4, in = 1 + take(c) % 9, out = 1 + take(c) % 9;
        unsigned ta = types[take(c) % 3], tb = types[take(c) % 3];
        if (take(c) % 16 == 0) { /* Q8_0 A: rows of 32 */
            ta = 8;
            in = 32;
        }
        const char *m = mods[take(c) % 4];
        snprintf(t[nt].name, sizeof t[nt].name, "blk.%u.%s.weight.lora_a", l, m);
        t[nt].ne0 = in, t[nt].ne1 = r, t[nt].type = ta;
        nt++;
        snprintf(t[nt].name, sizeof t[nt].name, "blk.%u.%s.weight.lora_b", l, m);
        t[nt].ne0 = r, t[nt].ne1 = out, t[nt].type = tb;
        nt++;
    }
    if (extra) {
        snprintf(t[nt].name, sizeof t[nt].name, "blk.0.attn_norm.weight");
        t[nt].ne0 = 1 + take(c) % 7, t[nt].ne1 = 1, t[nt].type = 0;
        nt++;
    }
    for (size_t i = 0; i < nt; i++)
        t[i].nbytes = type_bytes(t[i].type, t[i].ne0 * t[i].ne1);

    buf kv = {0};
    uint64_t nkv = 3;
    kv_head(&kv, "general.architecture", 8);
    put_str(&kv, "llama");
    kv_head(&kv, "general.type", 8);
    put_str(&kv, "adapter");
    kv_head(&kv, "adapter.type", 8);
    put_str(&kv, "lora");
    if (alpha_mode) {
        kv_head(&kv, "adapter.lora.alpha", 6);
        uint32_t bits = alpha_mode == 1 ? 0x41000000u /* 8.0 */ : (uint32_t)take(c) << 16 | 0x3f00u;
        put_le(&kv, bits, 4);
        nkv++;
    }
    if (align_kv) {
        kv_head(&kv, "general.alignment", 4);
        put_le(&kv, align_kv, 4);
        nkv++;
    }
    odd_kvs(&kv, odd, c, &nkv);

    put(out, "GGUF", 4);
    put_le(out, version, 4);
    put_le(out, nt, 8);
    put_le(out, nkv, 8);
    put(out, kv.p, kv.len);
    free(kv.p);
    uint64_t off = 0;
    for (size_t i = 0; i < nt; i++) {
        put_str(out, t[i].name);
        put_le(out, t[i].ne1 > 1 || i < 2 * n_layers ? 2 : 1, 4);
        put_le(out, t[i].ne0, 8);
        if (t[i].ne1 > 1 || i < 2 * n_layers)
            put_le(out, t[i].ne1, 8);
        put_le(out, t[i].type, 4);
        put_le(out, off, 8);
        off += t[i].nbytes + pad_len(t[i].nbytes, align);
    }
    unsigned flaw = take(c) % 32;
    put_zeros(out, pad_len(out->len, align));
    if (flaw == 1 && out->len % align) /* non-zero padding before the data */
        out->p[out->len - 1] = 0x5a;
    for (size_t i = 0; i < nt; i++) {
        for (size_t k = 0; k < t[i].nbytes; k++) {
            unsigned char v = (unsigned char)(take(c) * 37u + k);
            if (t[i].type == 8 && k % 34 == 1)
                v &= 0x3f; /* a finite f16 block scale */
            put(out, &v, 1);
        }
        size_t pad = pad_len(t[i].nbytes, align);
        if (i + 1 == nt) {
            unsigned how = take(c) % 3; /* whole, absent or cut short */
            pad = how == 0 ? pad : how == 1 ? 0 : pad / 2;
        }
        put_zeros(out, pad);
        if (flaw == 2 && pad) /* non-zero padding after a tensor */
            out->p[out->len - 1] = 1;
    }
    if (flaw == 3)
        put(out, "x", 1); /* a trailing byte */
}

/* ---- running commands ------------------------------------------------------------------------------- */

/* Run one command; returns its exit code; its error message goes to msg, its diagnostics (warnings) to
 * diag (both may be NULL). */
static int run(const char *cat, const char *a0, const char *a1, const char *a2, const char *a3, char *msg,
               size_t cap, char *diag, size_t dcap)
{
    char *argv[] = {(char *)a0, (char *)a1, (char *)a2, (char *)a3, NULL};
    int argc = 0;
    while (argv[argc])
        argc++;
    lsc_sink o, d;
    lsc_sink_init_mem(&o);
    lsc_sink_init_mem(&d);
    lsc_cmd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.catalog_path = cat;
    ctx.out = &o;
    ctx.diag = &d;
    int rc = lsc_dispatch(&ctx, argc, argv);
    if (rc != LSC_EXIT_OK && !ctx.err.msg[0])
        fuzz_fail("'%s' failed without a message", a0);
    if (msg)
        snprintf(msg, cap, "%s", ctx.err.msg);
    if (diag)
        snprintf(diag, dcap, "%s", d.buf ? d.buf : "");
    lsc_sink_release(&o);
    lsc_sink_release(&d);
    return rc;
}

/* The export path for choice k (in g_root); *may_fail says whether the path may legitimately be refused. */
static void out_path(unsigned k, char *out, size_t cap, int *may_fail)
{
    static const char *const ext[] = {".gguf", ".safetensors", "", ".json"};
    static const char *const names[] = {"out",      "with space 'q' \"dq\"", "f\xc3\xbcr-\xe2\x9c\x93",
                                        "-dash",    "pct%s%n%%",             "new\nline",
                                        "no/such/dir/out", NULL};
    const char *e = ext[(k >> 3) & 3];
    const char *n = names[k & 7];
    *may_fail = 0;
    if (!n) { /* longer than NAME_MAX */
        char longname[300];
        memset(longname, 'n', sizeof longname - 1);
        longname[sizeof longname - 1] = '\0';
        snprintf(out, cap, "%s/%s%s", g_root, longname, e);
        *may_fail = 1;
        return;
    }
    *may_fail = strchr(n, '/') != NULL;
    snprintf(out, cap, "%s/%s%s", g_root, n, e);
}

static int same_bytes(const char *path, const void *want, size_t n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    unsigned char *got = malloc(n + 1);
    size_t k = got ? fread(got, 1, n + 1, fp) : 0;
    fclose(fp);
    int same = got && k == n && memcmp(got, want, n) == 0;
    free(got);
    return same;
}

/* ---- the target ------------------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    char in[700], out[1100], cat[700], p[1200], msg[LSC_ERROR_MSG_MAX], diag[8192];
    if (!g_root[0])
        snprintf(g_root, sizeof g_root, "%s/x", fuzz_dir());
    fuzz_rmtree(g_root);
    if (mkdir(g_root, 0755) != 0)
        fuzz_fail("cannot make %s: %s", g_root, strerror(errno));
    snprintf(cat, sizeof cat, "%s/cat.db", g_root);
    unsigned mode = data[0] & 3;
    int may_fail;
    out_path(data[1], out, sizeof out, &may_fail);

    /* the input file (st_* point into its bytes: what the export must give back) */
    buf gen = {0};
    const unsigned char *file = data + 2, *cfg = NULL;
    size_t file_n = size - 2, cfg_n = 0;
    if (mode == 3) {
        cursor c = {data + 2, size - 2, 0};
        build_gguf(&c, &gen);
        file = gen.p;
        file_n = gen.len;
    }
    if (mode == 2) {
        snprintf(in, sizeof in, "%s/in", g_root);
        mkdir(in, 0755);
        if (size < 4) {
            free(gen.p);
            return 0;
        }
        size_t L = (size_t)data[2] | (size_t)data[3] << 8, rest = size - 4;
        file = data + 4;
        file_n = rest;
        if (L != 0xffff) {
            if (L > rest)
                L = rest;
            cfg = data + 4;
            cfg_n = L;
            file = data + 4 + L;
            file_n = rest - L;
            snprintf(p, sizeof p, "%s/adapter_config.json", in);
            fuzz_write(p, cfg, cfg_n);
        }
        snprintf(p, sizeof p, "%s/adapter_model.safetensors", in);
        fuzz_write(p, file, file_n);
    } else {
        snprintf(in, sizeof in, "%s/in.%s", g_root, mode == 1 ? "safetensors" : "gguf");
        fuzz_write(in, file, file_n);
    }

    int rc = run(cat, "import", in, "--name", "f", msg, sizeof msg, diag, sizeof diag);
    if (getenv("LSC_FUZZ_VERBOSE"))
        fprintf(stderr, "import: %s%s\n", rc == LSC_EXIT_OK ? "ok " : msg, rc == LSC_EXIT_OK ? diag : "");
    if (rc != LSC_EXIT_OK) {
        free(gen.p);
        return 0;
    }
    int q8 = strstr(diag, "Q8_0") != NULL, warned = strstr(diag, "warning") != NULL;
    rc = run(cat, "export", "f", out, NULL, msg, sizeof msg, NULL, 0);
    struct stat sb;
    if (rc != LSC_EXIT_OK) {
        if (!may_fail)
            fuzz_fail("an imported adapter cannot be exported to '%s': %s", out, msg);
        if (stat(out, &sb) == 0 && !S_ISDIR(sb.st_mode))
            fuzz_fail("a failed export (%s) left a file behind", msg);
        free(gen.p);
        return 0;
    }
    if (stat(out, &sb) != 0)
        fuzz_fail("export succeeded but wrote nothing at '%s'", out);
    if (S_ISDIR(sb.st_mode)) {
        snprintf(p, sizeof p, "%s/adapter_model.safetensors", out);
        if (!same_bytes(p, file, file_n))
            fuzz_fail("the unedited PEFT export differs from the input safetensors file");
        snprintf(p, sizeof p, "%s/adapter_config.json", out);
        if (cfg && !warned && !same_bytes(p, cfg, cfg_n))
            fuzz_fail("the unedited PEFT export rewrote adapter_config.json though the import said nothing");
    } else if (!q8 && !same_bytes(out, file, file_n)) {
        fuzz_fail("the unedited export differs from the input file (%zu bytes)", file_n);
    }
    free(gen.p);
    return 0;
}
