/* tests/check-gguf.c: the GGUF LoRA reader and writer of store/gguf.c.
 *
 * GGUF files are written byte by byte here from the format's description (magic, version, counts,
 * typed key-values, tensor infos with reversed ne, padded data), independently of the writer under
 * test. Checked: names, ranks, scales, module types and block numbers of a hand-built adapter; F32,
 * F16, BF16 and Q8_0 data; every malformed-input rule failing fast with its own message (counts of
 * 2^62 also under a 256 MB address-space limit in a child); byte-identical rewrites; and PEFT-shaped
 * adapters exported to GGUF and read back with the same delta per layer (dense check on small shapes),
 * including llama.cpp's q/k row permutation and the fold of per-layer scales into B.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapter.h"
#include "dtype.h"
#include "gguf.h"
#include "test_tmp.h"

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(p, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return p;
}

/* ---- a GGUF byte builder written from the spec ---------------------------------------------------- */

typedef struct gb {
    unsigned char *p;
    size_t len, cap;
} gb;

static void gb_raw(gb *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
static void gb_u8(gb *b, unsigned v) { unsigned char c = (unsigned char)v; gb_raw(b, &c, 1); }
static void gb_u32(gb *b, uint32_t v) { for (int i = 0; i < 4; i++) gb_u8(b, (v >> (8 * i)) & 0xff); }
static void gb_u64(gb *b, uint64_t v) { for (int i = 0; i < 8; i++) gb_u8(b, (unsigned)(v >> (8 * i)) & 0xff); }
static void gb_str(gb *b, const char *s) { gb_u64(b, strlen(s)); gb_raw(b, s, strlen(s)); }
static void gb_f32(gb *b, float f) { uint32_t u; memcpy(&u, &f, 4); gb_u32(b, u); }
static void kv_str(gb *b, const char *k, const char *v) { gb_str(b, k); gb_u32(b, 8); gb_str(b, v); }
static void kv_f32(gb *b, const char *k, float v) { gb_str(b, k); gb_u32(b, 6); gb_f32(b, v); }
static void kv_u32(gb *b, const char *k, uint32_t v) { gb_str(b, k); gb_u32(b, 4); gb_u32(b, v); }
static void gb_pad(gb *b, size_t align) { while (b->len % align) gb_u8(b, 0); }

static void gb_head(gb *b, uint32_t version, uint64_t nt, uint64_t nkv)
{
    gb_raw(b, "GGUF", 4);
    gb_u32(b, version);
    gb_u64(b, nt);
    gb_u64(b, nkv);
}

/* tensor info with numpy shape (rows, cols): ne = [cols, rows] */
static void tinfo(gb *b, const char *name, int64_t rows, int64_t cols, uint32_t type, uint64_t off)
{
    gb_str(b, name);
    gb_u32(b, 2);
    gb_u64(b, (uint64_t)cols);
    gb_u64(b, (uint64_t)rows);
    gb_u32(b, type);
    gb_u64(b, off);
}

static void adapter_kvs(gb *b, float alpha)
{
    kv_str(b, "general.architecture", "llama");
    kv_str(b, "general.type", "adapter");
    kv_str(b, "adapter.type", "lora");
    kv_f32(b, "adapter.lora.alpha", alpha);
}

static void gb_save(gb *b, const char *name)
{
    FILE *fp = fopen(tpath(name), "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(b->p, 1, b->len, fp), b->len);
    ck_assert_int_eq(fclose(fp), 0);
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static float val(int seed, int i)
{
    return (float)((seed * 37 + i * 11) % 23 - 11) / 8.0f;
}

static void f32_data(gb *b, int seed, size_t n)
{
    for (size_t i = 0; i < n; i++)
        gb_f32(b, val(seed, (int)i));
}

static void f16_data(gb *b, int seed, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t h = lsc_f32_to_f16(val(seed, (int)i));
        gb_u8(b, h & 0xff);
        gb_u8(b, h >> 8);
    }
}

static void bf16_data(gb *b, int seed, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t h = lsc_f32_to_bf16(val(seed, (int)i));
        gb_u8(b, h & 0xff);
        gb_u8(b, h >> 8);
    }
}

/* Q8_0 blocks: scale d = 0.25 (f16 0x3400), q = (i % 11) - 5 */
static void q8_data(gb *b, size_t n)
{
    for (size_t blk = 0; blk < n / 32; blk++) {
        gb_u8(b, 0x00);
        gb_u8(b, 0x34);
        for (int j = 0; j < 32; j++)
            gb_u8(b, (unsigned)(int8_t)((int)((blk * 32 + (size_t)j) % 11) - 5) & 0xff);
    }
}

/* The reference adapter: blk.0.attn_q (A F32 [2,4], B F16 [6,2]), an F32 norm extra,
 * blk.1.ffn_down (A Q8_0 [3,32], B BF16 [5,3]). */
static void build_mixed(const char *name, float alpha)
{
    gb b = {0};
    gb_head(&b, 3, 5, 4);
    adapter_kvs(&b, alpha);
    uint64_t off = 0;
    tinfo(&b, "blk.0.attn_q.weight.lora_a", 2, 4, 0, off); off += 32;      /* 32 bytes */
    tinfo(&b, "blk.0.attn_q.weight.lora_b", 6, 2, 1, off); off += 32;      /* 24 -> 32 */
    gb_str(&b, "blk.0.attn_norm.weight"); gb_u32(&b, 1); gb_u64(&b, 4); gb_u32(&b, 0); gb_u64(&b, off); off += 32;
    tinfo(&b, "blk.1.ffn_down.weight.lora_a", 3, 32, 8, off); off += 128;  /* 3 blocks of 34 = 102 -> 128 */
    tinfo(&b, "blk.1.ffn_down.weight.lora_b", 5, 3, 30, off);              /* 30 bytes */
    gb_pad(&b, 32);
    f32_data(&b, 1, 8); gb_pad(&b, 32);
    f16_data(&b, 2, 12); gb_pad(&b, 32);
    f32_data(&b, 3, 4); gb_pad(&b, 32);
    q8_data(&b, 96); gb_pad(&b, 32);
    bf16_data(&b, 4, 15); gb_pad(&b, 32);
    gb_save(&b, name);
}

/* A canonical F32/F16/BF16 file as llama.cpp's Python writer lays it out (zero padding after the
 * header and after every tensor, alignment 32). */
static void build_canonical(const char *name)
{
    gb b = {0};
    gb_head(&b, 3, 4, 5);
    adapter_kvs(&b, 8.0f);
    gb_str(&b, "some.tokens"); gb_u32(&b, 9); gb_u32(&b, 4); gb_u64(&b, 3);
    gb_u32(&b, 7); gb_u32(&b, 11); gb_u32(&b, 13);
    uint64_t off = 0;
    tinfo(&b, "blk.0.attn_v.weight.lora_a", 4, 8, 0, off); off += 128;
    tinfo(&b, "blk.0.attn_v.weight.lora_b", 8, 4, 1, off); off += 64;
    tinfo(&b, "blk.2.ffn_up.weight.lora_a", 2, 8, 30, off); off += 32;
    tinfo(&b, "blk.2.ffn_up.weight.lora_b", 12, 2, 0, off);
    gb_pad(&b, 32);
    f32_data(&b, 5, 32); gb_pad(&b, 32);
    f16_data(&b, 6, 32); gb_pad(&b, 32);
    bf16_data(&b, 7, 16); gb_pad(&b, 32);
    f32_data(&b, 8, 24); gb_pad(&b, 32);
    gb_save(&b, name);
}

static double tensor_value(lsc_adapter *ad, int ti, size_t i)
{
    lsc_error e;
    ck_assert_int_eq(lsc_adapter_load_tensor(ad, (size_t)ti, &e), LSC_OK);
    double d;
    lsc_tensor *t = &ad->tensors[ti];
    ck_assert_int_eq(lsc_dtype_to_double(t->dtype, t->data + i * lsc_dtype_size(t->dtype), 1, &d), LSC_OK);
    return d;
}

START_TEST(test_read_mixed)
{
    build_mixed("m.gguf", 16.0f);
    lsc_adapter *ad = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_gguf_read(tpath("m.gguf"), &ad, &e), LSC_OK);
    ck_assert_str_eq(ad->format, "gguf");
    ck_assert_str_eq(ad->base_model, "llama");
    ck_assert_str_eq(ad->kind, "layer-wise");
    ck_assert_uint_eq(ad->n_layers, 2);
    ck_assert_uint_eq(ad->n_tensors, 5);
    lsc_layer *l0 = &ad->layers[0], *l1 = &ad->layers[1];
    ck_assert_str_eq(l0->name, "blk.0.attn_q.weight");
    ck_assert_str_eq(l0->module_type, "attn_q");
    ck_assert_int_eq(l0->layer_index, 0);
    ck_assert_int_eq(l0->rank, 2);
    ck_assert_int_eq(l0->rows, 6);
    ck_assert_int_eq(l0->cols, 4);
    ck_assert_double_eq(l0->scale, 8.0);
    ck_assert_str_eq(l1->name, "blk.1.ffn_down.weight");
    ck_assert_str_eq(l1->module_type, "ffn_down");
    ck_assert_int_eq(l1->layer_index, 1);
    ck_assert_int_eq(l1->rank, 3);
    ck_assert_int_eq(l1->cols, 32);
    ck_assert_double_eq_tol(l1->scale, 16.0 / 3.0, 1e-15);
    ck_assert_int_eq(ad->tensors[2].role, LSC_ROLE_EXTRA);
    ck_assert_str_eq(ad->tensors[2].key, "blk.0.attn_norm.weight");
    ck_assert_int_eq(ad->tensors[l0->ta].dtype, LSC_DT_F32);
    ck_assert_int_eq(ad->tensors[l0->tb].dtype, LSC_DT_F16);
    ck_assert_int_eq(ad->tensors[l1->ta].dtype, LSC_DT_F32); /* Q8_0 presented as F32 */
    ck_assert_int_eq(ad->tensors[l1->tb].dtype, LSC_DT_BF16);
    ck_assert_int_eq(ad->tensors[l1->ta].shape[0], 3);
    ck_assert_int_eq(ad->tensors[l1->ta].shape[1], 32);
    for (int i = 0; i < 8; i++)
        ck_assert_double_eq(tensor_value(ad, l0->ta, (size_t)i), val(1, i));
    for (int i = 0; i < 12; i++)
        ck_assert_double_eq(tensor_value(ad, l0->tb, (size_t)i), val(2, i)); /* values are f16-exact */
    for (int i = 0; i < 96; i++)
        ck_assert_double_eq(tensor_value(ad, l1->ta, (size_t)i), 0.25 * ((i % 11) - 5));
    for (int i = 0; i < 15; i++)
        ck_assert_double_eq(tensor_value(ad, l1->tb, (size_t)i), val(4, i));
    ck_assert_ptr_nonnull(ad->warnings); /* Q8_0 is noted */
    ck_assert_ptr_nonnull(strstr(ad->warnings, "Q8_0"));
    ck_assert_ptr_nonnull(strstr(ad->metadata_json, "\"adapter.lora.alpha\":{\"type\":\"f32\",\"value\":16.0}"));
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_alpha_absent)
{
    gb b = {0};
    gb_head(&b, 3, 2, 3);
    kv_str(&b, "general.architecture", "llama");
    kv_str(&b, "general.type", "adapter");
    kv_str(&b, "adapter.type", "lora");
    tinfo(&b, "blk.3.attn_k.weight.lora_a", 4, 2, 0, 0);
    tinfo(&b, "blk.3.attn_k.weight.lora_b", 2, 4, 0, 32);
    gb_pad(&b, 32);
    f32_data(&b, 1, 8); gb_pad(&b, 32);
    f32_data(&b, 2, 8); gb_pad(&b, 32);
    gb_save(&b, "na.gguf");
    lsc_adapter *ad = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_gguf_read(tpath("na.gguf"), &ad, &e), LSC_OK);
    ck_assert_double_eq(ad->layers[0].scale, 1.0);
    ck_assert_int_eq(ad->layers[0].layer_index, 3);
    ck_assert_ptr_nonnull(ad->warnings);
    ck_assert_ptr_nonnull(strstr(ad->warnings, "scale 1"));
    ck_assert_str_eq(ad->kind, "static");
    /* unedited rewrite keeps the alpha absent and the bytes */
    ck_assert_int_eq(lsc_gguf_write(ad, tpath("na2.gguf"), LSC_DT_INVALID, &e), LSC_OK);
    size_t n1, n2;
    unsigned char *a = read_all(tpath("na.gguf"), &n1), *c = read_all(tpath("na2.gguf"), &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_int_eq(memcmp(a, c, n1), 0);
    free(a);
    free(c);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_roundtrip_identical)
{
    build_canonical("c.gguf");
    lsc_adapter *ad = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_gguf_read(tpath("c.gguf"), &ad, &e), LSC_OK);
    ck_assert_uint_eq(ad->n_layers, 2);
    ck_assert_double_eq(ad->layers[0].scale, 2.0);
    ck_assert_double_eq(ad->layers[1].scale, 4.0);
    ck_assert_ptr_nonnull(strstr(ad->metadata_json, "\"some.tokens\":{\"type\":\"array\",\"elem\":\"u32\",\"value\":[7,11,13]}"));
    ck_assert_int_eq(lsc_gguf_write(ad, tpath("c2.gguf"), LSC_DT_INVALID, &e), LSC_OK);
    size_t n1, n2;
    unsigned char *a = read_all(tpath("c.gguf"), &n1), *c = read_all(tpath("c2.gguf"), &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_int_eq(memcmp(a, c, n1), 0);
    free(c);
    lsc_adapter_free(ad);

    /* a file we wrote reads back and rewrites to the same bytes too */
    ck_assert_int_eq(lsc_gguf_read(tpath("c2.gguf"), &ad, &e), LSC_OK);
    ck_assert_int_eq(lsc_gguf_write(ad, tpath("c3.gguf"), LSC_DT_INVALID, &e), LSC_OK);
    c = read_all(tpath("c3.gguf"), &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_int_eq(memcmp(a, c, n1), 0);
    free(a);
    free(c);
    lsc_adapter_free(ad);
}
END_TEST

static void expect_fail(const char *name, lsc_status code, const char *needle);

/* A two-layer file laid out as llama.cpp's writers do, with general.alignment `align` (0: no key, 32)
 * and tensor sizes that are not multiples of it (60, 84, 28 and 6 bytes), so every padding is
 * non-empty. `version` 2 or 3; `tail`: bytes after the last tensor's data (-1: its full zero padding);
 * `trail`: extra bytes appended after that. */
static void build_aligned(const char *name, uint32_t align, uint32_t version, long tail, const char *trail)
{
    size_t a = align ? align : 32;
    gb b = {0};
    gb_head(&b, version, 4, align ? 5 : 4);
    adapter_kvs(&b, 6.0f);
    if (align)
        kv_u32(&b, "general.alignment", align);
    uint64_t off = 0;
    size_t nb[4] = {60, 84, 28, 6};
    tinfo(&b, "blk.0.attn_v.weight.lora_a", 3, 5, 0, off); off += (nb[0] + a - 1) / a * a;
    tinfo(&b, "blk.0.attn_v.weight.lora_b", 7, 3, 0, off); off += (nb[1] + a - 1) / a * a;
    tinfo(&b, "blk.1.ffn_up.weight.lora_a", 1, 7, 0, off); off += (nb[2] + a - 1) / a * a;
    tinfo(&b, "blk.1.ffn_up.weight.lora_b", 3, 1, 1, off);
    gb_pad(&b, a);
    f32_data(&b, 1, 15); gb_pad(&b, a);
    f32_data(&b, 2, 21); gb_pad(&b, a);
    f32_data(&b, 3, 7); gb_pad(&b, a);
    f16_data(&b, 4, 3);
    if (tail < 0)
        gb_pad(&b, a);
    for (long i = 0; i < tail; i++)
        gb_u8(&b, 0);
    if (trail)
        gb_raw(&b, trail, strlen(trail));
    gb_save(&b, name);
}

/* Read `name` (n_layers layers), write it back unedited, and compare the two files byte for byte. */
static void expect_identical_rewrite_n(const char *name, size_t n_layers)
{
    lsc_adapter *ad = NULL;
    lsc_error e;
    if (lsc_gguf_read(tpath(name), &ad, &e) != LSC_OK)
        ck_abort_msg("%s: %s", name, e.msg);
    ck_assert_uint_eq(ad->n_layers, n_layers);
    char out[64];
    snprintf(out, sizeof out, "re-%s", name);
    if (lsc_gguf_write(ad, tpath(out), LSC_DT_INVALID, &e) != LSC_OK)
        ck_abort_msg("%s: write: %s", name, e.msg);
    lsc_adapter_free(ad);
    size_t n1, n2;
    unsigned char *x = read_all(tpath(name), &n1), *y = read_all(tpath(out), &n2);
    if (n1 != n2 || memcmp(x, y, n1) != 0) {
        size_t at = 0;
        while (at < n1 && at < n2 && x[at] == y[at])
            at++;
        ck_abort_msg("%s: rewrite differs (%zu vs %zu bytes, first difference at byte %zu)", name, n1, n2, at);
    }
    free(x);
    free(y);
    unlink(tpath(out));
}

static void expect_identical_rewrite(const char *name)
{
    expect_identical_rewrite_n(name, 2);
}

/* Issue #13.2: padding after a tensor came from a 64-byte static array, so alignments >= 128 wrote
 * program memory into the file (and 2^24 failed with EFAULT). Every u32 power of two must give zero
 * padding and the same file back. */
START_TEST(test_alignment_padding)
{
    static const uint32_t aligns[] = {0, 1, 8, 32, 64, 128, 256, 4096, 65536, 1u << 24};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "al%u.gguf", aligns[i]);
        build_aligned(name, aligns[i], 3, -1, NULL);
        expect_identical_rewrite(name);
        unlink(tpath(name));
    }
    /* what GGUF forbids is refused, naming the value */
    gb b = {0};
    gb_head(&b, 3, 0, 5);
    adapter_kvs(&b, 8);
    kv_u32(&b, "general.alignment", 0);
    gb_save(&b, "al0.gguf");
    expect_fail("al0.gguf", LSC_ERR_FORMAT, "general.alignment 0 is not a power of two");
    gb_head(&b, 3, 0, 5);
    adapter_kvs(&b, 8);
    kv_u32(&b, "general.alignment", 3u << 30);
    gb_save(&b, "alh.gguf");
    expect_fail("alh.gguf", LSC_ERR_FORMAT, "general.alignment 3221225472 is not a power of two");
    gb_head(&b, 3, 0, 5);
    adapter_kvs(&b, 8);
    gb_str(&b, "general.alignment"); gb_u32(&b, 10); gb_u64(&b, 64);
    gb_save(&b, "al64.gguf");
    expect_fail("al64.gguf", LSC_ERR_FORMAT, "must be a u32");
    /* the largest power of two in a u32 is legal: this file is refused only because its padding is not
     * there (the data section would start at 2 GiB) */
    gb_head(&b, 3, 1, 5);
    adapter_kvs(&b, 8);
    kv_u32(&b, "general.alignment", 1u << 31);
    tinfo(&b, "a.weight.lora_a", 1, 1, 0, 0);
    gb_f32(&b, 1);
    gb_save(&b, "al31.gguf");
    expect_fail("al31.gguf", LSC_ERR_FORMAT, "truncated data");
}
END_TEST

/* Issue #13.11: bytes after the last tensor were dropped silently and v2 files came back as v3. Now a
 * v2 file and a file that ends without (or inside) the last padding are reproduced byte for byte, and
 * trailing bytes or non-zero padding are refused like safetensors' trailing bytes. */
START_TEST(test_version_tail_trailing)
{
    build_aligned("v2.gguf", 0, 2, -1, NULL);
    expect_identical_rewrite("v2.gguf");
    build_aligned("v2a.gguf", 128, 2, -1, NULL);
    expect_identical_rewrite("v2a.gguf");
    build_aligned("nopad.gguf", 0, 3, 0, NULL);
    expect_identical_rewrite("nopad.gguf");
    build_aligned("part.gguf", 64, 2, 5, NULL);
    expect_identical_rewrite("part.gguf");

    build_aligned("trail.gguf", 0, 3, -1, "x");
    expect_fail("trail.gguf", LSC_ERR_FORMAT, "1 trailing bytes after the data");
    /* 5 bytes inside the 26 of padding are a tail when zero, refused when not */
    build_aligned("trail3.gguf", 0, 3, 3, "ab");
    expect_fail("trail3.gguf", LSC_ERR_FORMAT, "not zero padding");
    build_aligned("trail4.gguf", 4096, 3, -1, "GGUF");
    expect_fail("trail4.gguf", LSC_ERR_FORMAT, "4 trailing bytes");

    /* non-zero padding between tensors and before the data */
    size_t n;
    build_aligned("pz.gguf", 0, 3, -1, NULL);
    unsigned char *p = read_all(tpath("pz.gguf"), &n);
    lsc_adapter *ad = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_gguf_read(tpath("pz.gguf"), &ad, &e), LSC_OK);
    lsc_adapter_free(ad);
    /* data starts at n - 4*32 - ... : find it from the end: the last tensor is 6 bytes padded to 32 */
    size_t last = n - 32, third_pad = last - 4; /* third tensor: 28 bytes + 4 of padding */
    p[third_pad] = 7;
    FILE *fp = fopen(tpath("pz2.gguf"), "wb");
    ck_assert_uint_eq(fwrite(p, 1, n, fp), n);
    fclose(fp);
    expect_fail("pz2.gguf", LSC_ERR_FORMAT, "padding after a tensor");
    p[third_pad] = 0;
    size_t data = last - 32 - 96 - 64; /* 28->32, 84->96, 60->64 */
    p[data - 1] = 1;
    fp = fopen(tpath("pz3.gguf"), "wb");
    ck_assert_uint_eq(fwrite(p, 1, n, fp), n);
    fclose(fp);
    expect_fail("pz3.gguf", LSC_ERR_FORMAT, "padding before the data");
    free(p);

    /* an edited adapter (the layout record is not carried by edits) is written as canonical v3 */
    ck_assert_int_eq(lsc_gguf_read(tpath("v2.gguf"), &ad, &e), LSC_OK);
    ck_assert_ptr_nonnull(ad->header_json);
    free(ad->header_json);
    ad->header_json = NULL;
    ck_assert_int_eq(lsc_gguf_write(ad, tpath("v3.gguf"), LSC_DT_INVALID, &e), LSC_OK);
    lsc_adapter_free(ad);
    build_aligned("v3ref.gguf", 0, 3, -1, NULL);
    size_t n1, n2;
    unsigned char *x = read_all(tpath("v3.gguf"), &n1), *y = read_all(tpath("v3ref.gguf"), &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_int_eq(memcmp(x, y, n1), 0);
    free(x);
    free(y);
}
END_TEST

/* Found by fuzz-export: a string value holding a NUL byte was accepted on import, but the writer could not
 * parse the kept metadata back ("not a JSON object"), so the unedited export failed. */
START_TEST(test_nul_in_string_kv)
{
    gb b = {0};
    gb_head(&b, 3, 2, 6);
    adapter_kvs(&b, 8.0f);
    gb_str(&b, "general.name"); gb_u32(&b, 8); gb_u64(&b, 3); gb_raw(&b, "a\0b", 3);
    gb_str(&b, "some.strings"); gb_u32(&b, 9); gb_u32(&b, 8); gb_u64(&b, 2);
    gb_u64(&b, 1); gb_raw(&b, "\0", 1); gb_str(&b, "x");
    tinfo(&b, "blk.0.attn_v.weight.lora_a", 2, 4, 0, 0);
    tinfo(&b, "blk.0.attn_v.weight.lora_b", 4, 2, 0, 32);
    gb_pad(&b, 32);
    f32_data(&b, 1, 8); gb_pad(&b, 32);
    f32_data(&b, 2, 8); gb_pad(&b, 32);
    gb_save(&b, "nul.gguf");
    expect_identical_rewrite_n("nul.gguf", 1);
}
END_TEST

/* Issue #13.17: exporting to F16 flushed subnormal values to zero without a word. The writer now puts a
 * warning naming the tensor and the counts on the adapter (the export command shows it). */
START_TEST(test_f16_flush_warned)
{
    gb b = {0};
    gb_head(&b, 3, 2, 4);
    adapter_kvs(&b, 8.0f);
    tinfo(&b, "blk.0.attn_v.weight.lora_a", 2, 4, 0, 0);
    tinfo(&b, "blk.0.attn_v.weight.lora_b", 4, 2, 0, 32);
    gb_pad(&b, 32);
    for (int i = 0; i < 8; i++)
        gb_f32(&b, 1e-40f); /* f32 subnormals: all flush in f16 */
    static const float bv[8] = {1.0f, 3e-5f, 0x1p-20f, 1e-9f, 0.5f, 0.25f, 2.0f, 0.0f};
    for (int i = 0; i < 8; i++)
        gb_f32(&b, bv[i]);
    gb_save(&b, "sub.gguf");
    lsc_adapter *ad = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_gguf_read(tpath("sub.gguf"), &ad, &e), LSC_OK);
    ck_assert_ptr_null(ad->warnings);
    ck_assert_msg(lsc_gguf_write(ad, tpath("sub16.gguf"), LSC_DT_F16, &e) == LSC_OK, "%s", e.msg);
    ck_assert_ptr_nonnull(ad->warnings);
    ck_assert_str_eq(ad->warnings,
                     "tensor 'blk.0.attn_v.weight.lora_a': 8 of 8 values flushed to zero in F16\n"
                     "tensor 'blk.0.attn_v.weight.lora_b': 1 of 8 values flushed to zero and 1 rounded to subnormals "
                     "(precision lost) in F16");
    /* F32 keeps them all: no warning */
    free(ad->warnings);
    ad->warnings = NULL;
    ck_assert_int_eq(lsc_gguf_write(ad, tpath("sub32.gguf"), LSC_DT_F32, &e), LSC_OK);
    ck_assert_ptr_null(ad->warnings);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_requantised_and_dtype)
{
    /* Q8_0 source rewrites as F32; an F16 export reads back equal to f16 precision */
    build_mixed("m.gguf", 16.0f);
    lsc_adapter *ad = NULL, *bd = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_gguf_read(tpath("m.gguf"), &ad, &e), LSC_OK);
    ck_assert_int_eq(lsc_gguf_write(ad, tpath("m2.gguf"), LSC_DT_INVALID, &e), LSC_OK);
    ck_assert_int_eq(lsc_gguf_read(tpath("m2.gguf"), &bd, &e), LSC_OK);
    ck_assert_ptr_null(strstr(bd->warnings ? bd->warnings : "", "Q8_0"));
    ck_assert_int_eq(bd->tensors[bd->layers[1].ta].dtype, LSC_DT_F32);
    for (size_t li = 0; li < 2; li++) {
        int64_t r1, c1, r2, c2;
        double *d1 = tmp_dense_delta(ad, li, &r1, &c1), *d2 = tmp_dense_delta(bd, li, &r2, &c2);
        ck_assert_int_eq(r1, r2);
        ck_assert_int_eq(c1, c2);
        for (int64_t i = 0; i < r1 * c1; i++)
            ck_assert_double_eq(d1[i], d2[i]);
        free(d1);
        free(d2);
    }
    lsc_adapter_free(bd);
    ck_assert_int_eq(lsc_gguf_write(ad, tpath("m3.gguf"), LSC_DT_F16, &e), LSC_OK);
    ck_assert_int_eq(lsc_gguf_read(tpath("m3.gguf"), &bd, &e), LSC_OK);
    for (size_t i = 0; i < bd->n_tensors; i++)
        ck_assert_int_eq(bd->tensors[i].dtype, LSC_DT_F16);
    for (size_t li = 0; li < 2; li++) {
        int64_t r1, c1, r2, c2;
        double *d1 = tmp_dense_delta(ad, li, &r1, &c1), *d2 = tmp_dense_delta(bd, li, &r2, &c2);
        double nrm = 0, diff = 0;
        for (int64_t i = 0; i < r1 * c1; i++) {
            nrm += d1[i] * d1[i];
            diff += (d1[i] - d2[i]) * (d1[i] - d2[i]);
        }
        ck_assert(sqrt(diff) <= 2e-3 * sqrt(nrm));
        free(d1);
        free(d2);
    }
    lsc_adapter_free(bd);
    /* BF16 too; and an integer dtype is refused */
    ck_assert_int_eq(lsc_gguf_write(ad, tpath("m4.gguf"), LSC_DT_BF16, &e), LSC_OK);
    ck_assert_int_eq(lsc_gguf_write(ad, tpath("m5.gguf"), LSC_DT_I32, &e), LSC_ERR_INVALID);
    lsc_adapter_free(ad);
}
END_TEST

/* ---- malformed files ----------------------------------------------------------------------------- */

static void expect_fail(const char *name, lsc_status code, const char *needle)
{
    lsc_adapter *ad = (lsc_adapter *)0x1;
    lsc_error e;
    lsc_status st = lsc_gguf_read(tpath(name), &ad, &e);
    if (st != code || !strstr(e.msg, needle))
        ck_abort_msg("%s: got %d '%s', expected %d with '%s'", name, st, e.msg, code, needle);
    ck_assert_ptr_null(ad);
    ck_assert_ptr_nonnull(strstr(e.msg, name)); /* the file is named */
}

/* Run the reader in a child under a 256 MB address-space limit: a reader that allocated from the
 * count would die or return out-of-memory instead of the format error. */
static void expect_fail_small_memory(const char *name, const char *needle)
{
    const char *ckf = getenv("CK_FORK");
    if (ckf && strcmp(ckf, "no") == 0) { /* valgrind run: no rlimit games, the in-process check stands */
        expect_fail(name, LSC_ERR_FORMAT, needle);
        return;
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit rl = {256u << 20, 256u << 20};
        setrlimit(RLIMIT_AS, &rl);
        lsc_adapter *ad = NULL;
        lsc_error e;
        lsc_status st = lsc_gguf_read(tpath(name), &ad, &e);
        _exit(st == LSC_ERR_FORMAT && strstr(e.msg, needle) ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    expect_fail(name, LSC_ERR_FORMAT, needle);
}

START_TEST(test_bad_magic_version)
{
    gb b = {0};
    gb_raw(&b, "GGUG", 4);
    gb_u32(&b, 3);
    gb_u64(&b, 0);
    gb_u64(&b, 0);
    gb_save(&b, "magic.gguf");
    expect_fail("magic.gguf", LSC_ERR_FORMAT, "bad magic");
    gb_raw(&b, "GG", 2);
    gb_save(&b, "short.gguf");
    expect_fail("short.gguf", LSC_ERR_FORMAT, "bad magic");
    gb_head(&b, 1, 0, 0);
    gb_save(&b, "v1.gguf");
    expect_fail("v1.gguf", LSC_ERR_UNSUPPORTED, "version 1");
    gb_head(&b, 4, 0, 0);
    gb_save(&b, "v4.gguf");
    expect_fail("v4.gguf", LSC_ERR_UNSUPPORTED, "version 4");
}
END_TEST

START_TEST(test_huge_counts)
{
    gb b = {0};
    gb_head(&b, 3, (uint64_t)1 << 62, 4);
    adapter_kvs(&b, 8);
    gb_save(&b, "tc.gguf");
    expect_fail_small_memory("tc.gguf", "tensor count 4611686018427387904");
    gb_head(&b, 3, 0, (uint64_t)1 << 62);
    adapter_kvs(&b, 8);
    gb_save(&b, "kc.gguf");
    expect_fail_small_memory("kc.gguf", "key-value count 4611686018427387904");
    /* a string length past the end */
    gb_head(&b, 3, 0, 1);
    gb_u64(&b, (uint64_t)1 << 62);
    gb_raw(&b, "general.type", 12);
    gb_save(&b, "str.gguf");
    expect_fail_small_memory("str.gguf", "runs past the end");
    /* an array count past the end */
    gb_head(&b, 3, 0, 1);
    gb_str(&b, "x");
    gb_u32(&b, 9);
    gb_u32(&b, 10);
    gb_u64(&b, (uint64_t)1 << 60);
    gb_u64(&b, 1);
    gb_save(&b, "arr.gguf");
    expect_fail_small_memory("arr.gguf", "array of 1152921504606846976 u64 elements");
    /* a tensor dimension that makes the data larger than the file */
    gb_head(&b, 3, 1, 0);
    gb_str(&b, "t.lora_a");
    gb_u32(&b, 2);
    gb_u64(&b, (uint64_t)1 << 40);
    gb_u64(&b, (uint64_t)1 << 20);
    gb_u32(&b, 0);
    gb_u64(&b, 0);
    gb_save(&b, "big.gguf");
    expect_fail_small_memory("big.gguf", "run past the end");
    gb_head(&b, 3, 1, 0);
    gb_str(&b, "t.lora_a");
    gb_u32(&b, 3);
    gb_u64(&b, (uint64_t)1 << 40);
    gb_u64(&b, (uint64_t)1 << 40);
    gb_u64(&b, (uint64_t)1 << 40);
    gb_u32(&b, 0);
    gb_u64(&b, 0);
    gb_save(&b, "ovf.gguf");
    expect_fail_small_memory("ovf.gguf", "overflows");
}
END_TEST

START_TEST(test_bad_tensor_infos)
{
    gb b = {0};
    /* n_dims 5 */
    gb_head(&b, 3, 1, 4);
    adapter_kvs(&b, 8);
    gb_str(&b, "t.lora_a");
    gb_u32(&b, 5);
    for (int i = 0; i < 5; i++)
        gb_u64(&b, 1);
    gb_u32(&b, 0);
    gb_u64(&b, 0);
    gb_pad(&b, 32);
    gb_f32(&b, 1);
    gb_save(&b, "nd.gguf");
    expect_fail("nd.gguf", LSC_ERR_FORMAT, "5 dimensions");
    /* second offset not the padded running sum (16 instead of 32) */
    gb_head(&b, 3, 2, 4);
    adapter_kvs(&b, 8);
    tinfo(&b, "a.lora_a", 2, 2, 0, 0);
    tinfo(&b, "a.lora_b", 2, 2, 0, 16);
    gb_pad(&b, 32);
    f32_data(&b, 1, 4); gb_pad(&b, 32);
    f32_data(&b, 1, 4); gb_pad(&b, 32);
    gb_save(&b, "off.gguf");
    expect_fail("off.gguf", LSC_ERR_FORMAT, "padded running sum");
    /* first offset not 0 */
    gb_head(&b, 3, 1, 4);
    adapter_kvs(&b, 8);
    tinfo(&b, "a.lora_a", 2, 2, 0, 32);
    gb_pad(&b, 32);
    f32_data(&b, 1, 16);
    gb_save(&b, "off0.gguf");
    expect_fail("off0.gguf", LSC_ERR_FORMAT, "padded running sum");
    /* truncated data */
    gb_head(&b, 3, 2, 4);
    adapter_kvs(&b, 8);
    tinfo(&b, "a.lora_a", 2, 2, 0, 0);
    tinfo(&b, "a.lora_b", 2, 2, 0, 32);
    gb_pad(&b, 32);
    f32_data(&b, 1, 4); gb_pad(&b, 32);
    f32_data(&b, 1, 3);
    gb_save(&b, "trunc.gguf");
    expect_fail("trunc.gguf", LSC_ERR_FORMAT, "truncated data");
    /* duplicate names */
    gb_head(&b, 3, 2, 4);
    adapter_kvs(&b, 8);
    tinfo(&b, "a.lora_a", 2, 2, 0, 0);
    tinfo(&b, "a.lora_a", 2, 2, 0, 32);
    gb_pad(&b, 32);
    f32_data(&b, 1, 4); gb_pad(&b, 32);
    f32_data(&b, 1, 4); gb_pad(&b, 32);
    gb_save(&b, "dup.gguf");
    expect_fail("dup.gguf", LSC_ERR_FORMAT, "appears twice");
    /* a 64-byte name */
    gb_head(&b, 3, 1, 4);
    adapter_kvs(&b, 8);
    tinfo(&b, "blk.0.attn_q.weight.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.lora_a", 2, 2, 0, 0);
    gb_pad(&b, 32);
    f32_data(&b, 1, 4);
    gb_save(&b, "long.gguf");
    expect_fail("long.gguf", LSC_ERR_FORMAT, "at most 63");
    /* unknown tensor type */
    gb_head(&b, 3, 1, 4);
    adapter_kvs(&b, 8);
    tinfo(&b, "a.lora_a", 2, 2, 2, 0);
    gb_pad(&b, 32);
    f32_data(&b, 1, 4);
    gb_save(&b, "q4.gguf");
    expect_fail("q4.gguf", LSC_ERR_UNSUPPORTED, "ggml type 2");
    /* Q8_0 row not a multiple of 32 */
    gb_head(&b, 3, 1, 4);
    adapter_kvs(&b, 8);
    tinfo(&b, "a.lora_a", 2, 16, 8, 0);
    gb_pad(&b, 32);
    f32_data(&b, 1, 32);
    gb_save(&b, "q8.gguf");
    expect_fail("q8.gguf", LSC_ERR_FORMAT, "multiple of 32");
}
END_TEST

START_TEST(test_bad_keys_and_pairs)
{
    gb b = {0};
    /* duplicate key */
    gb_head(&b, 3, 0, 5);
    adapter_kvs(&b, 8);
    kv_str(&b, "general.type", "adapter");
    gb_save(&b, "dk.gguf");
    expect_fail("dk.gguf", LSC_ERR_FORMAT, "duplicate key 'general.type'");
    /* unknown value type */
    gb_head(&b, 3, 0, 1);
    gb_str(&b, "k");
    gb_u32(&b, 13);
    gb_u32(&b, 0);
    gb_save(&b, "vt.gguf");
    expect_fail("vt.gguf", LSC_ERR_FORMAT, "unknown value type 13");
    /* alignment not a power of two */
    gb_head(&b, 3, 0, 5);
    adapter_kvs(&b, 8);
    kv_u32(&b, "general.alignment", 24);
    gb_save(&b, "al.gguf");
    expect_fail("al.gguf", LSC_ERR_FORMAT, "power of two");
    /* alpha of the wrong type */
    gb_head(&b, 3, 0, 4);
    kv_str(&b, "general.architecture", "llama");
    kv_str(&b, "general.type", "adapter");
    kv_str(&b, "adapter.type", "lora");
    kv_u32(&b, "adapter.lora.alpha", 8);
    gb_save(&b, "at.gguf");
    expect_fail("at.gguf", LSC_ERR_FORMAT, "adapter.lora.alpha");
    /* a model, not an adapter */
    gb_head(&b, 3, 0, 2);
    kv_str(&b, "general.architecture", "llama");
    kv_str(&b, "general.type", "model");
    gb_save(&b, "model.gguf");
    expect_fail("model.gguf", LSC_ERR_UNSUPPORTED, "general.type is 'model'");
    /* no pairs */
    gb_head(&b, 3, 0, 4);
    adapter_kvs(&b, 8);
    gb_save(&b, "empty.gguf");
    expect_fail("empty.gguf", LSC_ERR_UNSUPPORTED, "no LoRA layers in '");
    expect_fail("empty.gguf", LSC_ERR_UNSUPPORTED, "empty.gguf' (no lora_a/lora_b pair; 0 other tensors)");
    /* only an extra tensor */
    gb_head(&b, 3, 1, 4);
    adapter_kvs(&b, 8);
    gb_str(&b, "blk.0.attn_norm.weight"); gb_u32(&b, 1); gb_u64(&b, 4); gb_u32(&b, 0); gb_u64(&b, 0);
    gb_pad(&b, 32);
    f32_data(&b, 1, 4); gb_pad(&b, 32);
    gb_save(&b, "norm.gguf");
    expect_fail("norm.gguf", LSC_ERR_UNSUPPORTED, "norm.gguf' (no lora_a/lora_b pair; 1 other tensor)");
    /* missing partner */
    gb_head(&b, 3, 1, 4);
    adapter_kvs(&b, 8);
    tinfo(&b, "a.weight.lora_a", 2, 2, 0, 0);
    gb_pad(&b, 32);
    f32_data(&b, 1, 4); gb_pad(&b, 32);
    gb_save(&b, "lone.gguf");
    expect_fail("lone.gguf", LSC_ERR_FORMAT, "no matching 'a.weight.lora_b'");
    /* rank mismatch */
    gb_head(&b, 3, 2, 4);
    adapter_kvs(&b, 8);
    tinfo(&b, "a.weight.lora_a", 2, 4, 0, 0);
    tinfo(&b, "a.weight.lora_b", 4, 3, 0, 32);
    gb_pad(&b, 32);
    f32_data(&b, 1, 8); gb_pad(&b, 32);
    f32_data(&b, 1, 12); gb_pad(&b, 32);
    gb_save(&b, "rank.gguf");
    expect_fail("rank.gguf", LSC_ERR_FORMAT, "rank mismatch");
    /* a rank-0 pair (found by fuzz-export: its alpha was rewritten on export) and an empty input side */
    gb_head(&b, 3, 2, 4);
    adapter_kvs(&b, 8);
    tinfo(&b, "a.weight.lora_a", 0, 4, 0, 0);
    tinfo(&b, "a.weight.lora_b", 4, 0, 0, 0);
    gb_pad(&b, 32);
    gb_save(&b, "r0.gguf");
    expect_fail("r0.gguf", LSC_ERR_FORMAT, "tensor 'a.weight.lora_a': empty factor [0, 4]");
    gb_head(&b, 3, 2, 4);
    adapter_kvs(&b, 8);
    tinfo(&b, "a.weight.lora_a", 2, 0, 0, 0);
    tinfo(&b, "a.weight.lora_b", 4, 2, 0, 0);
    gb_pad(&b, 32);
    f32_data(&b, 1, 8); gb_pad(&b, 32);
    gb_save(&b, "c0.gguf");
    expect_fail("c0.gguf", LSC_ERR_FORMAT, "empty factor [2, 0]");
    /* a 3-D (per-expert) factor */
    gb_head(&b, 3, 2, 4);
    adapter_kvs(&b, 8);
    gb_str(&b, "e.weight.lora_a"); gb_u32(&b, 3); gb_u64(&b, 2); gb_u64(&b, 1); gb_u64(&b, 2); gb_u32(&b, 0); gb_u64(&b, 0);
    tinfo(&b, "e.weight.lora_b", 2, 1, 0, 32);
    gb_pad(&b, 32);
    f32_data(&b, 1, 4); gb_pad(&b, 32);
    f32_data(&b, 1, 2); gb_pad(&b, 32);
    gb_save(&b, "moe.gguf");
    expect_fail("moe.gguf", LSC_ERR_UNSUPPORTED, "per-expert");
    /* missing file */
    lsc_adapter *ad = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_gguf_read(tpath("nope.gguf"), &ad, &e), LSC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, "no such file"));
}
END_TEST

/* ---- exporting other formats ---------------------------------------------------------------------- */

static void add_factor(lsc_adapter *ad, const char *key, lsc_role role, int layer, int64_t r0, int64_t r1, int seed,
                       int *slot)
{
    size_t n = (size_t)(r0 * r1), ti;
    float *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = (float)(sin(seed * 1.7 + (double)i * 0.91) * 0.5);
    int64_t shape[2] = {r0, r1};
    lsc_error e;
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, key, role, layer, LSC_DT_F32, 2, shape, d, &ti, &e), LSC_OK);
    *slot = (int)ti;
}

static void add_peft_layer(lsc_adapter *ad, const char *module, int64_t out, int64_t in, int r, double alpha,
                           lsc_scale_rule rule, int seed)
{
    char name[256], key[300];
    snprintf(name, sizeof name, "base_model.model.model.%s", module);
    size_t li;
    lsc_error e;
    ck_assert_int_eq(lsc_adapter_add_layer(ad, name, &li, &e), LSC_OK);
    lsc_layer *l = &ad->layers[li];
    l->rows = out;
    l->cols = in;
    l->rank = r;
    l->alpha = alpha;
    l->rule = rule;
    l->scale = lsc_scale_compute(rule, alpha, r, 0, 0);
    snprintf(key, sizeof key, "%s.lora_A.weight", name);
    int ta, tb;
    add_factor(ad, key, LSC_ROLE_A, (int)li, r, in, seed, &ta);
    snprintf(key, sizeof key, "%s.lora_B.weight", name);
    add_factor(ad, key, LSC_ROLE_B, (int)li, out, r, seed + 100, &tb);
    ad->layers[li].ta = ta;
    ad->layers[li].tb = tb;
}

static lsc_adapter *peft_llama(void)
{
    lsc_adapter *ad = lsc_adapter_new();
    ad->format = strdup("peft");
    ad->kind = strdup("layer-wise");
    ad->base_model = strdup("tiny-llama");
    add_peft_layer(ad, "layers.0.self_attn.q_proj", 12, 6, 2, 4.0, LSC_SCALE_ALPHA_R, 1);
    add_peft_layer(ad, "layers.0.self_attn.k_proj", 8, 6, 3, 4.0, LSC_SCALE_RSLORA, 2);
    add_peft_layer(ad, "layers.0.self_attn.v_proj", 4, 6, 2, 4.0, LSC_SCALE_ALPHA_R, 3);
    add_peft_layer(ad, "layers.1.mlp.down_proj", 6, 10, 2, 16.0, LSC_SCALE_ALPHA_R, 4);
    return ad;
}

/* numpy's reshape(g, 2, d/2, r).swapaxes(1, 2).reshape(out, r), written out */
static void ref_permute(const double *in, double *out, int64_t rows, int64_t cols, int groups)
{
    int64_t d = rows / groups;
    for (int64_t h = 0; h < groups; h++)
        for (int64_t a = 0; a < 2; a++)
            for (int64_t c = 0; c < d / 2; c++) {
                /* source index [h][a][c] lands at [h][c][a] */
                int64_t from = h * d + a * (d / 2) + c, to = h * d + c * 2 + a;
                memcpy(out + to * cols, in + from * cols, (size_t)cols * sizeof *in);
            }
}

static void compare_layers(lsc_adapter *src, lsc_adapter *got, const char *gname, size_t sli, int groups,
                           double rtol)
{
    int gl = lsc_adapter_find_layer(got, gname);
    ck_assert_msg(gl >= 0, "layer %s missing", gname);
    int64_t r1, c1, r2, c2;
    double *d1 = tmp_dense_delta(src, sli, &r1, &c1), *d2 = tmp_dense_delta(got, (size_t)gl, &r2, &c2);
    ck_assert_int_eq(r1, r2);
    ck_assert_int_eq(c1, c2);
    if (groups > 0) {
        double *p = malloc((size_t)(r1 * c1) * sizeof *p);
        ref_permute(d1, p, r1, c1, groups);
        free(d1);
        d1 = p;
    }
    double mx = 0;
    for (int64_t i = 0; i < r1 * c1; i++)
        mx = fmax(mx, fabs(d1[i]));
    ck_assert(mx > 0);
    for (int64_t i = 0; i < r1 * c1; i++)
        ck_assert_msg(fabs(d1[i] - d2[i]) <= rtol * mx, "%s[%ld]: %.17g vs %.17g", gname, (long)i, d1[i], d2[i]);
    ck_assert_int_eq(got->layers[gl].rank, src->layers[sli].rank);
    free(d1);
    free(d2);
}

START_TEST(test_peft_to_gguf)
{
    lsc_adapter *ad = peft_llama(), *got = NULL;
    lsc_error e;
    /* llama without head counts: refused */
    ck_assert_int_eq(lsc_gguf_write(ad, tpath("p.gguf"), LSC_DT_INVALID, &e), LSC_ERR_USAGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "n_head"));
    ck_assert_int_eq(access(tpath("p.gguf"), F_OK), -1);

    /* permuted like llama.cpp: 2 query heads, 1 kv head */
    lsc_gguf_write_opts o = {.n_head = 2, .n_head_kv = 1};
    ck_assert_int_eq(lsc_gguf_write_ex(ad, tpath("p.gguf"), LSC_DT_INVALID, &o, &e), LSC_OK);
    ck_assert_int_eq(lsc_gguf_read(tpath("p.gguf"), &got, &e), LSC_OK);
    ck_assert_uint_eq(got->n_layers, 4);
    ck_assert_ptr_nonnull(strstr(got->metadata_json, "\"lorascope.qk_permuted\":{\"type\":\"bool\",\"value\":true}"));
    ck_assert_ptr_nonnull(strstr(got->metadata_json, "\"general.architecture\":{\"type\":\"str\",\"value\":\"llama\"}"));
    compare_layers(ad, got, "blk.0.attn_q.weight", 0, 2, 1e-6);
    compare_layers(ad, got, "blk.0.attn_k.weight", 1, 1, 1e-6);
    compare_layers(ad, got, "blk.0.attn_v.weight", 2, 0, 1e-6);
    compare_layers(ad, got, "blk.1.ffn_down.weight", 3, 0, 1e-6);
    ck_assert_str_eq(got->layers[lsc_adapter_find_layer(got, "blk.1.ffn_down.weight")].module_type, "ffn_down");
    lsc_adapter_free(got);

    /* unpermuted on request: deltas equal as they are */
    lsc_gguf_write_opts u = {.allow_unpermuted = 1};
    ck_assert_int_eq(lsc_gguf_write_ex(ad, tpath("u.gguf"), LSC_DT_INVALID, &u, &e), LSC_OK);
    ck_assert_int_eq(lsc_gguf_read(tpath("u.gguf"), &got, &e), LSC_OK);
    ck_assert_ptr_nonnull(strstr(got->metadata_json, "\"lorascope.qk_permuted\":{\"type\":\"bool\",\"value\":false}"));
    compare_layers(ad, got, "blk.0.attn_q.weight", 0, 0, 1e-6);
    compare_layers(ad, got, "blk.0.attn_k.weight", 1, 0, 1e-6);
    lsc_adapter_free(got);

    /* another architecture needs no permutation; F16 output within bf16 precision */
    lsc_gguf_write_opts q = {.architecture = "qwen2"};
    ck_assert_int_eq(lsc_gguf_write_ex(ad, tpath("q.gguf"), LSC_DT_F16, &q, &e), LSC_OK);
    ck_assert_int_eq(lsc_gguf_read(tpath("q.gguf"), &got, &e), LSC_OK);
    ck_assert_str_eq(got->base_model, ad->base_model); /* written as general.base_model.0.name */
    compare_layers(ad, got, "blk.0.attn_k.weight", 1, 0, 3e-3);
    lsc_adapter_free(got);

    /* heads that do not divide the rows */
    lsc_gguf_write_opts bad = {.n_head = 5, .n_head_kv = 1};
    ck_assert_int_eq(lsc_gguf_write_ex(ad, tpath("b.gguf"), LSC_DT_INVALID, &bad, &e), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "q_proj"));
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_peft_unmappable)
{
    lsc_adapter *ad = peft_llama();
    lsc_error e;
    add_peft_layer(ad, "embed_proj", 4, 4, 2, 2.0, LSC_SCALE_ALPHA_R, 9);
    lsc_gguf_write_opts u = {.allow_unpermuted = 1};
    ck_assert_int_eq(lsc_gguf_write_ex(ad, tpath("x.gguf"), LSC_DT_INVALID, &u, &e), LSC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(e.msg, "'base_model.model.model.embed_proj'"));
    lsc_adapter_free(ad);

    ad = peft_llama();
    size_t ti;
    int64_t shape[1] = {4};
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "base_model.model.score.weight", LSC_ROLE_EXTRA, -1, LSC_DT_F32, 1,
                                            shape, calloc(4, 4), &ti, &e), LSC_OK);
    ck_assert_int_eq(lsc_gguf_write_ex(ad, tpath("x.gguf"), LSC_DT_INVALID, &u, &e), LSC_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(e.msg, "score.weight"));
    ck_assert_int_eq(access(tpath("x.gguf"), F_OK), -1);
    lsc_adapter_free(ad);
}
END_TEST

START_TEST(test_map_name)
{
    char out[64];
    ck_assert_int_eq(lsc_gguf_map_name("base_model.model.model.layers.31.self_attn.o_proj", out, sizeof out), 0);
    ck_assert_str_eq(out, "blk.31.attn_output.weight");
    ck_assert_int_eq(lsc_gguf_map_name("lora_te_model_layers_2_mlp_gate_proj", out, sizeof out), 0);
    ck_assert_str_eq(out, "blk.2.ffn_gate.weight");
    ck_assert_int_eq(lsc_gguf_map_name("base_model.model.model.layers.1.mlp.up_proj", out, sizeof out), 0);
    ck_assert_str_eq(out, "blk.1.ffn_up.weight");
    ck_assert_int_eq(lsc_gguf_map_name("base_model.model.lm_head", out, sizeof out), -1);
    ck_assert_int_eq(lsc_gguf_map_name("base_model.model.model.layers.1.self_attn.qq_proj", out, sizeof out), -1);
    ck_assert_int_eq(lsc_gguf_map_name("model.layers.x.self_attn.q_proj", out, sizeof out), -1);
}
END_TEST

START_TEST(test_fold_into_b)
{
    /* a GGUF adapter whose layers were rescaled: the writer picks one alpha and folds the rest into B */
    build_canonical("c.gguf");
    lsc_adapter *ad = NULL, *got = NULL;
    lsc_error e;
    ck_assert_int_eq(lsc_gguf_read(tpath("c.gguf"), &ad, &e), LSC_OK);
    ad->layers[1].scale = 0.3; /* edited */
    ck_assert_int_eq(lsc_gguf_write(ad, tpath("f.gguf"), LSC_DT_INVALID, &e), LSC_OK);
    ck_assert_int_eq(lsc_gguf_read(tpath("f.gguf"), &got, &e), LSC_OK);
    ck_assert_double_eq(got->layers[0].scale, 2.0);
    compare_layers(ad, got, "blk.0.attn_v.weight", 0, 0, 1e-3); /* B is F16 in the file */
    compare_layers(ad, got, "blk.2.ffn_up.weight", 1, 0, 1e-6);
    /* the key order is kept: the array key still follows alpha */
    const char *m = got->metadata_json;
    ck_assert_ptr_nonnull(strstr(m, "adapter.lora.alpha"));
    ck_assert(strstr(m, "adapter.lora.alpha") < strstr(m, "some.tokens"));
    lsc_adapter_free(got);
    lsc_adapter_free(ad);
}
END_TEST

static Suite *gguf_suite(void)
{
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_read_mixed);
    tcase_add_test(tc, test_alpha_absent);
    tcase_add_test(tc, test_roundtrip_identical);
    tcase_add_test(tc, test_alignment_padding);
    tcase_add_test(tc, test_version_tail_trailing);
    tcase_add_test(tc, test_f16_flush_warned);
    tcase_add_test(tc, test_nul_in_string_kv);
    tcase_add_test(tc, test_requantised_and_dtype);
    tcase_add_test(tc, test_bad_magic_version);
    tcase_add_test(tc, test_huge_counts);
    tcase_add_test(tc, test_bad_tensor_infos);
    tcase_add_test(tc, test_bad_keys_and_pairs);
    tcase_add_test(tc, test_peft_to_gguf);
    tcase_add_test(tc, test_peft_unmappable);
    tcase_add_test(tc, test_map_name);
    tcase_add_test(tc, test_fold_into_b);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gguf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
