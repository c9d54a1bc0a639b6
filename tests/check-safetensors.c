/* tests/check-safetensors.c: the strict reader and the atomic writer of store/safetensors.c.
 *
 * Every rule of FORMATS.md's safetensors section gets a file generated here that breaks it, checked for
 * the status and for a message naming the file (and the tensor where there is one); valid oddities
 * (scalars, zero-size tensors, padded headers, unaligned data, every float dtype, header order unlike
 * data order) must load; the writer must produce the Rust library's compact header byte for byte,
 * rewrite a file verbatim byte-identically, and leave nothing behind when aborted or failing.
 * Files live in a mkdtemp() folder removed after each test.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_util.h"
#include "format_util.h"
#include "safetensors.h"
#include "samekeys.h"
#include "test_tmp.h"

static int dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void write_bytes(const char *name, const void *p, size_t n)
{
    FILE *fp = fopen(tpath(name), "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(p, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)sz + 1);
    ck_assert_uint_eq(fread(p, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    *n = (size_t)sz;
    return p;
}

/* Build a file image: the 8-byte length n_len (the header's length unless forced), the header, then
 * data_len bytes of data (byte i = i * 7 + 1). Caller frees. */
static unsigned char *image(const char *header, uint64_t n_len, size_t data_len, size_t *total)
{
    size_t hl = strlen(header);
    *total = 8 + hl + data_len;
    unsigned char *p = malloc(*total ? *total : 1);
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(n_len >> (8 * i));
    memcpy(p + 8, header, hl);
    for (size_t i = 0; i < data_len; i++)
        p[8 + hl + i] = (unsigned char)(i * 7 + 1);
    return p;
}

static void make_file(const char *name, const char *header, size_t data_len)
{
    size_t n;
    unsigned char *p = image(header, strlen(header), data_len, &n);
    write_bytes(name, p, n);
    free(p);
}

/* The file must be rejected with `code`, by lsc_st_open and by lsc_st_parse of the same bytes, with a
 * message that names the file and contains `want` (and "tensor '<tensor>'" when tensor is given). */
static void expect_reject_bytes(const char *name, const unsigned char *p, size_t n, lsc_status code,
                                const char *tensor, const char *want)
{
    write_bytes(name, p, n);
    lsc_error err = {0};
    lsc_st_file *f = (lsc_st_file *)1;
    lsc_status st = lsc_st_open(tpath(name), &f, &err);
    ck_assert_msg(st == code, "%s: status %d (%s), want %d", name, st, err.msg, code);
    ck_assert_ptr_null(f);
    char quoted[300];
    snprintf(quoted, sizeof quoted, "%s'", name);
    ck_assert_msg(strstr(err.msg, quoted), "%s: message does not name the file: %s", name, err.msg);
    if (tensor) {
        char tq[300];
        snprintf(tq, sizeof tq, "tensor '%s'", tensor);
        ck_assert_msg(strstr(err.msg, tq), "%s: message does not name %s: %s", name, tq, err.msg);
    }
    ck_assert_msg(strstr(err.msg, want), "%s: message lacks '%s': %s", name, want, err.msg);
    for (const char *c = err.msg; *c; c++)
        ck_assert_msg((unsigned char)*c >= 0x20, "%s: raw control byte in message", name);

    lsc_error e2 = {0};
    f = (lsc_st_file *)1;
    ck_assert_int_eq(lsc_st_parse(name, p, n, n, &f, &e2), code);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(e2.msg, want) && strstr(e2.msg, quoted), "%s: parse message: %s", name, e2.msg);
}

static void expect_reject(const char *name, const char *header, size_t data_len, lsc_status code,
                          const char *tensor, const char *want)
{
    size_t n;
    unsigned char *p = image(header, strlen(header), data_len, &n);
    expect_reject_bytes(name, p, n, code, tensor, want);
    free(p);
}

static lsc_st_file *open_ok(const char *name)
{
    lsc_error err = {0};
    lsc_st_file *f = NULL;
    lsc_status st = lsc_st_open(tpath(name), &f, &err);
    ck_assert_msg(st == LSC_OK, "%s: %s", name, err.msg);
    ck_assert_ptr_nonnull(f);
    return f;
}

/* ---- rejections -------------------------------------------------------------------------------- */

START_TEST(test_reject_lengths)
{
    const unsigned char five[5] = {1, 0, 0, 0, 0};
    expect_reject_bytes("short.safetensors", five, sizeof five, LSC_ERR_FORMAT, NULL, "too short");
    size_t n;
    unsigned char *p = image("{}", 1000, 0, &n);
    expect_reject_bytes("past.safetensors", p, n, LSC_ERR_FORMAT, NULL, "runs past the end");
    free(p);
    p = image("{}", LSC_ST_MAX_HEADER + 1, 0, &n);
    expect_reject_bytes("huge.safetensors", p, n, LSC_ERR_FORMAT, NULL, "exceeds the limit");
    free(p);
    p = image("{}", UINT64_MAX, 0, &n);
    expect_reject_bytes("max.safetensors", p, n, LSC_ERR_FORMAT, NULL, "exceeds the limit");
    free(p);
    /* header intact, data cut short */
    expect_reject("trunc.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 10,
                  LSC_ERR_FORMAT, NULL, "truncated");
    expect_reject("trail.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 17,
                  LSC_ERR_FORMAT, NULL, "1 trailing bytes");
    expect_reject("trail0.safetensors", "{}", 3, LSC_ERR_FORMAT, NULL, "3 trailing bytes");
    expect_reject("empty.safetensors", "", 0, LSC_ERR_FORMAT, NULL, "not a JSON object");
}
END_TEST

START_TEST(test_reject_json)
{
    expect_reject("notjson.safetensors", "{abc", 0, LSC_ERR_FORMAT, NULL, "not valid JSON");
    expect_reject("array.safetensors", "[1,2]", 0, LSC_ERR_FORMAT, NULL, "not a JSON object");
    expect_reject("lead.safetensors", " {}", 0, LSC_ERR_FORMAT, NULL, "not a JSON object");
    expect_reject("string.safetensors", "\"{}\"", 0, LSC_ERR_FORMAT, NULL, "not a JSON object");
    expect_reject("garbage.safetensors", "{} x", 0, LSC_ERR_FORMAT, NULL, "not valid JSON");
    expect_reject("nan.safetensors", "{\"__metadata__\":{\"a\":NaN}}", 0, LSC_ERR_FORMAT, NULL, "not valid JSON");
    expect_reject("inf.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[Infinity],\"data_offsets\":[0,0]}}", 0,
                  LSC_ERR_FORMAT, NULL, "not valid JSON");
    expect_reject("utf8.safetensors", "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                  LSC_ERR_FORMAT, NULL, "not valid JSON");
    expect_reject("nul.safetensors", "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                  LSC_ERR_FORMAT, NULL, "not valid JSON");
    expect_reject("dup.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  8, LSC_ERR_FORMAT, NULL, "duplicate name");
    /* a NUL byte inside the header bytes */
    size_t n;
    unsigned char *p = image("{\"a\":1}  ", 9, 0, &n);
    p[8 + 7] = '\0';
    expect_reject_bytes("nulbyte.safetensors", p, n, LSC_ERR_FORMAT, NULL, "not valid JSON");
    free(p);
}
END_TEST

START_TEST(test_reject_entries)
{
    expect_reject("notobj.safetensors", "{\"a\":[1]}", 0, LSC_ERR_FORMAT, "a", "not an object");
    expect_reject("nodtype.safetensors", "{\"a\":{\"shape\":[],\"data_offsets\":[0,4]}}", 4, LSC_ERR_FORMAT, "a",
                  "missing dtype");
    expect_reject("dtnum.safetensors", "{\"a\":{\"dtype\":3,\"shape\":[],\"data_offsets\":[0,4]}}", 4, LSC_ERR_FORMAT,
                  "a", "dtype is not a string");
    expect_reject("dtype.safetensors", "{\"w.lora_A\":{\"dtype\":\"F4\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                  LSC_ERR_FORMAT, "w.lora_A", "unknown dtype 'F4'");
    expect_reject("dtlow.safetensors", "{\"a\":{\"dtype\":\"f32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                  LSC_ERR_FORMAT, "a", "unknown dtype");
    expect_reject("noshape.safetensors", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, LSC_ERR_FORMAT, "a",
                  "missing shape");
    expect_reject("shapeobj.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}", 4,
                  LSC_ERR_FORMAT, "a", "shape is not an array");
    expect_reject("neg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                  LSC_ERR_FORMAT, "a", "non-negative integers");
    expect_reject("real.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4,
                  LSC_ERR_FORMAT, "a", "non-negative integers");
    expect_reject("ndim.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                  LSC_ERR_UNSUPPORTED, "a", "at most 8");
    expect_reject("ovf.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]}}", 4,
                  LSC_ERR_FORMAT, "a", "overflows the element count");
    expect_reject("ovf0.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":[0,0]}}", 0,
                  LSC_ERR_FORMAT, "a", "overflows the element count");
    expect_reject("ovfb.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4,
                  LSC_ERR_FORMAT, "a", "overflows the byte count");
    expect_reject("nooff.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[]}}", 0, LSC_ERR_FORMAT, "a",
                  "missing data_offsets");
    expect_reject("offstr.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":\"0,4\"}}", 4,
                  LSC_ERR_FORMAT, "a", "data_offsets is not [begin, end]");
    expect_reject("off1.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4]}}", 4,
                  LSC_ERR_FORMAT, "a", "data_offsets is not [begin, end]");
    expect_reject("off3.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4,8]}}", 4,
                  LSC_ERR_FORMAT, "a", "data_offsets is not [begin, end]");
    expect_reject("offneg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[-4,0]}}", 4,
                  LSC_ERR_FORMAT, "a", "data_offsets is not [begin, end]");
    expect_reject("offreal.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4.0]}}", 4,
                  LSC_ERR_FORMAT, "a", "data_offsets is not [begin, end]");
    expect_reject("rev.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,0]}}", 4,
                  LSC_ERR_FORMAT, "a", "end before they begin");
    expect_reject("bytes.safetensors",
                  "{\"a.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[4,8],\"data_offsets\":[0,120]}}", 120,
                  LSC_ERR_FORMAT, "a.lora_A.weight", "shape [4, 8] needs 128 bytes but data_offsets span 120");
    expect_reject("meta.safetensors", "{\"__metadata__\":{\"format\":\"pt\",\"n\":1}}", 0, LSC_ERR_FORMAT, NULL,
                  "__metadata__ value of 'n' is not a string");
    expect_reject("metaarr.safetensors", "{\"__metadata__\":[]}", 0, LSC_ERR_FORMAT, NULL,
                  "__metadata__ is not an object");
    expect_reject("metanull.safetensors", "{\"__metadata__\":null}", 0, LSC_ERR_FORMAT, NULL,
                  "__metadata__ is not an object");
}
END_TEST

START_TEST(test_reject_layout)
{
    expect_reject("overlap.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                  12, LSC_ERR_FORMAT, "b", "overlap tensor 'a' [0, 8]");
    expect_reject("same.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                  8, LSC_ERR_FORMAT, "b", "overlap");
    expect_reject("gap.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
                  20, LSC_ERR_FORMAT, "b", "gap of 4 bytes");
    expect_reject("first.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                  LSC_ERR_FORMAT, "a", "must begin at 0");
    /* a zero-size tensor inside another's span */
    expect_reject("inside.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                  8, LSC_ERR_FORMAT, "z", "overlap");
    /* names from the file are escaped in messages */
    expect_reject("esc.safetensors", "{\"x\\u001b[31m\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",
                  4, LSC_ERR_FORMAT, "x\\x1b[31m", "needs 8 bytes");
}
END_TEST

START_TEST(test_reject_io)
{
    lsc_error err = {0};
    lsc_st_file *f = (lsc_st_file *)1;
    ck_assert_int_eq(lsc_st_open(tpath("missing.safetensors"), &f, &err), LSC_ERR_IO);
    ck_assert_ptr_null(f);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot open '"));
    ck_assert_ptr_nonnull(strstr(err.msg, "missing.safetensors': no such file"));
    f = (lsc_st_file *)1;
    ck_assert_int_eq(lsc_st_open(tmpdir, &f, &err), LSC_ERR_IO);
    ck_assert_ptr_null(f);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));
    /* parse: fewer bytes given than the header needs is the caller's mistake */
    size_t n;
    unsigned char *p = image("{}      ", 8, 0, &n);
    ck_assert_int_eq(lsc_st_parse("m", p, 12, 16, &f, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_st_parse("m", p, 4, 16, &f, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_st_parse("m", p, 16, 12, &f, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_st_parse("m", p, 16, 16, &f, &err), LSC_OK);
    ck_assert_int_eq(f->fd, -1);
    ck_assert_int_eq(lsc_st_read(f, 0, NULL, &err), LSC_ERR_INVALID);
    lsc_st_close(f);
    lsc_st_close(NULL);
    free(p);
}
END_TEST

/* ---- valid files ------------------------------------------------------------------------------- */

START_TEST(test_valid_oddities)
{
    /* header order b, z, s, a; data order s, z(0-size at 4), a, b; padded with 14 spaces, odd length */
    const char *hdr = "{\"b\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[12,20]},"
                      "\"z\":{\"dtype\":\"F16\",\"shape\":[0,4],\"data_offsets\":[4,4]},"
                      "\"__metadata__\":{\"format\":\"pt\",\"ss_network_dim\":\"16\",\"a\":\"\"},"
                      "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                      "\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[4,12]},"
                      "\"e\":{\"dtype\":\"F64\",\"shape\":[3,0],\"data_offsets\":[20,20]}}              ";
    make_file("odd.safetensors", hdr, 20);
    lsc_st_file *f = open_ok("odd.safetensors");
    ck_assert_uint_eq(f->n_tensors, 5);
    ck_assert_uint_eq(f->header_len, strlen(hdr));
    ck_assert_str_eq(f->header, hdr);
    ck_assert_uint_eq(f->file_size, 8 + strlen(hdr) + 20);
    const char *order[] = {"s", "z", "a", "b", "e"};
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(f->tensors[i].name, order[i]);
        ck_assert_int_eq(lsc_st_find(f, order[i]), (long)i);
    }
    ck_assert_int_eq(lsc_st_find(f, "__metadata__"), -1);
    ck_assert_int_eq(lsc_st_find(f, "c"), -1);
    ck_assert_int_eq(lsc_st_find(f, ""), -1);
    ck_assert_int_eq(f->tensors[0].ndim, 0);
    ck_assert_int_eq(f->tensors[1].ndim, 2);
    ck_assert_int_eq(f->tensors[1].shape[0], 0);
    ck_assert_int_eq(f->tensors[1].dtype, LSC_DT_F16);
    ck_assert_int_eq(f->tensors[3].shape[0], 2);
    ck_assert_int_eq(f->tensors[3].shape[1], 1);
    ck_assert_uint_eq(f->tensors[3].begin, 12);
    ck_assert_uint_eq(f->tensors[3].end, 20);
    ck_assert_uint_eq(f->n_meta, 3);
    ck_assert_str_eq(f->meta_keys[0], "format");
    ck_assert_str_eq(f->meta_values[0], "pt");
    ck_assert_str_eq(f->meta_keys[1], "ss_network_dim");
    ck_assert_str_eq(f->meta_values[2], "");

    /* data bytes follow image(): byte i of the data = i * 7 + 1; the header length is odd (unaligned) */
    ck_assert_uint_eq(f->header_len % 2, 1);
    lsc_error err = {0};
    unsigned char buf[8];
    ck_assert_int_eq(lsc_st_read(f, 3, buf, &err), LSC_OK);
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(buf[i], (unsigned char)((12 + i) * 7 + 1));
    ck_assert_int_eq(lsc_st_read(f, 0, buf, &err), LSC_OK);
    ck_assert_uint_eq(buf[0], 1);
    ck_assert_uint_eq(buf[3], 22);
    ck_assert_int_eq(lsc_st_read(f, 1, NULL, &err), LSC_OK); /* zero bytes */
    ck_assert_int_eq(lsc_st_read(f, 5, buf, &err), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "odd.safetensors'"));
    lsc_st_close(f);

    make_file("empty.safetensors", "{}", 0);
    f = open_ok("empty.safetensors");
    ck_assert_uint_eq(f->n_tensors, 0);
    ck_assert_uint_eq(f->n_meta, 0);
    ck_assert_int_eq(lsc_st_find(f, "a"), -1);
    lsc_st_close(f);

    /* whitespace inside and after the JSON, extra keys in an entry are ignored like the reference does */
    make_file("ws.safetensors",
              "{ \"a\" : { \"shape\" : [ 1 ] , \"dtype\" : \"I64\", \"data_offsets\" : [ 0 , 8 ], \"x\": 1 } }\n\t ",
              8);
    f = open_ok("ws.safetensors");
    ck_assert_int_eq(f->tensors[0].dtype, LSC_DT_I64);
    lsc_st_close(f);

    /* known dtypes that are not floats still load as tensors */
    make_file("ints.safetensors",
              "{\"b\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]},"
              "\"c\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[3,11]},"
              "\"e\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[11,13]},"
              "\"u\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[13,15]}}",
              15);
    f = open_ok("ints.safetensors");
    ck_assert_int_eq(f->tensors[lsc_st_find(f, "c")].dtype, LSC_DT_C64);
    ck_assert_int_eq(f->tensors[lsc_st_find(f, "e")].dtype, LSC_DT_F8_E4M3);
    lsc_st_close(f);
}
END_TEST

/* The four float dtypes with hand-encoded values, read back through lsc_dtype_to_double. */
START_TEST(test_valid_float_dtypes)
{
    const char *hdr = "{\"f64\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                      "\"f32\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
                      "\"f16\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[24,28]},"
                      "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[2,1],\"data_offsets\":[28,32]}}";
    const unsigned char data[32] = {0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0x04, 0xc0, /* 1, -2.5 */
                                    0, 0, 0x40, 0x40, 0, 0, 0x80, 0xbe,                         /* 3, -0.25 */
                                    0x00, 0x7c, 0x01, 0x00,                                     /* Inf, 2^-24 */
                                    0x49, 0x40, 0xc0, 0xff};                                    /* 3.140625, NaN */
    size_t n;
    unsigned char *p = image(hdr, strlen(hdr), 0, &n);
    unsigned char *full = malloc(n + sizeof data);
    memcpy(full, p, n);
    memcpy(full + n, data, sizeof data);
    write_bytes("floats.safetensors", full, n + sizeof data);
    free(p);
    free(full);

    lsc_st_file *f = open_ok("floats.safetensors");
    const double want[4][2] = {{1, -2.5}, {3, -0.25}, {INFINITY, 0x1p-24}, {3.140625, NAN}};
    const char *names[4] = {"f64", "f32", "f16", "bf16"};
    for (int k = 0; k < 4; k++) {
        long i = lsc_st_find(f, names[k]);
        ck_assert_int_eq(i, k);
        unsigned char raw[17];
        double v[2];
        lsc_error err = {0};
        ck_assert_int_eq(lsc_st_read(f, (size_t)i, raw + 1, &err), LSC_OK); /* odd destination */
        ck_assert_int_eq(lsc_dtype_to_double(f->tensors[i].dtype, raw + 1, 2, v), LSC_OK);
        ck_assert(v[0] == want[k][0]);
        if (isnan(want[k][1]))
            ck_assert(isnan(v[1]));
        else
            ck_assert(v[1] == want[k][1]);
    }
    lsc_st_close(f);
}
END_TEST

/* Thousands of tensors, header order unlike data order: every name found at its data index. */
START_TEST(test_many_tensors)
{
    enum { N = 3000 };
    size_t cap = N * 96 + 16, len;
    /* tensor i has i % 3 F16 elements; offsets are prefix sums; the header lists them permuted */
    long *off = malloc((N + 1) * sizeof *off);
    off[0] = 0;
    for (int i = 0; i < N; i++)
        off[i + 1] = off[i] + 2 * (i % 3);
    char *hdr = malloc(cap);
    len = (size_t)snprintf(hdr, cap, "{");
    for (int k = 0; k < N; k++) {
        int i = (k * 1237) % N;
        len += (size_t)snprintf(hdr + len, cap - len,
                                "%s\"layer.%d.lora_A\":{\"dtype\":\"F16\",\"shape\":[%d],\"data_offsets\":[%ld,%ld]}",
                                k ? "," : "", i, i % 3, off[i], off[i + 1]);
    }
    snprintf(hdr + len, cap - len, "}");
    make_file("many.safetensors", hdr, (size_t)off[N]);
    lsc_st_file *f = open_ok("many.safetensors");
    ck_assert_uint_eq(f->n_tensors, N);
    char name[64];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "layer.%d.lora_A", i);
        long j = lsc_st_find(f, name);
        ck_assert_int_ge(j, 0);
        ck_assert_str_eq(f->tensors[j].name, name);
        ck_assert_uint_eq(f->tensors[j].begin, (uint64_t)off[i]);
    }
    /* data order: zero-size tensors share an offset with the next one and keep header order among ties */
    for (size_t i = 1; i < f->n_tensors; i++)
        ck_assert_uint_eq(f->tensors[i].begin, f->tensors[i - 1].end);
    ck_assert_int_eq(lsc_st_find(f, "layer.3000.lora_A"), -1);
    ck_assert_int_eq(lsc_st_find(f, "layer.1"), -1);
    lsc_st_close(f);
    free(hdr);
    free(off);
}
END_TEST

/* ---- writer ------------------------------------------------------------------------------------ */

START_TEST(test_writer_round_trip)
{
    const int64_t sa[2] = {2, 3}, sz[2] = {0, 5};
    const lsc_st_out outs[3] = {
        {"b.lora_B.weight", LSC_DT_F32, 2, sa},
        {"s", LSC_DT_BF16, 0, NULL},
        {"zero", LSC_DT_F16, 2, sz},
    };
    const char *mk[2] = {"format", "ss_network_args"}, *mv[2] = {"pt", "{\"conv_dim\": 4}"};
    lsc_st_writer *w = NULL;
    lsc_error err = {0};
    const char *dst = tpath("out.safetensors");
    ck_assert_int_eq(lsc_st_writer_begin(dst, outs, 3, mk, mv, 2, &w, &err), LSC_OK);
    ck_assert_int_eq(dir_entries(), 1); /* only the temporary so far */
    ck_assert_int_eq(access(dst, F_OK), -1);

    unsigned char a[24], s[2] = {0x80, 0x3f};
    for (int i = 0; i < 24; i++)
        a[i] = (unsigned char)(200 - i);
    ck_assert_int_eq(lsc_st_writer_put(w, a, 20, &err), LSC_ERR_INVALID); /* wrong size: refused, no harm */
    ck_assert_ptr_nonnull(strstr(err.msg, "tensor 'b.lora_B.weight'"));
    ck_assert_int_eq(lsc_st_writer_put(w, a, 24, &err), LSC_OK);
    ck_assert_int_eq(lsc_st_writer_put(w, s, 2, &err), LSC_OK);
    ck_assert_int_eq(lsc_st_writer_put(w, NULL, 0, &err), LSC_OK);
    ck_assert_int_eq(lsc_st_writer_put(w, s, 2, &err), LSC_ERR_INVALID); /* one too many */
    ck_assert_int_eq(lsc_st_writer_finish(w, &err), LSC_OK);
    ck_assert_int_eq(dir_entries(), 1);

    const char *want = "{\"__metadata__\":{\"format\":\"pt\",\"ss_network_args\":\"{\\\"conv_dim\\\": 4}\"},"
                       "\"b.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                       "\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[24,26]},"
                       "\"zero\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[26,26]}}";
    size_t n;
    unsigned char *bytes = read_all(dst, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | bytes[i];
    size_t wl = strlen(want), padded = (wl + 7) / 8 * 8;
    ck_assert_uint_eq(hl, padded);
    ck_assert_uint_eq(n, 8 + padded + 26);
    ck_assert_mem_eq(bytes + 8, want, wl);
    for (size_t i = wl; i < padded; i++)
        ck_assert_int_eq(bytes[8 + i], ' ');
    ck_assert_mem_eq(bytes + 8 + padded, a, 24);
    ck_assert_mem_eq(bytes + 8 + padded + 24, s, 2);
    free(bytes);

    struct stat sb;
    ck_assert_int_eq(stat(dst, &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0644);

    lsc_st_file *f = open_ok("out.safetensors");
    ck_assert_uint_eq(f->n_tensors, 3);
    ck_assert_str_eq(f->meta_values[1], "{\"conv_dim\": 4}");
    unsigned char back[24];
    ck_assert_int_eq(lsc_st_read(f, 0, back, &err), LSC_OK);
    ck_assert_mem_eq(back, a, 24);
    lsc_st_close(f);
}
END_TEST

/* Names with every character JSON must escape come back unchanged; the escapes are serde_json's. */
START_TEST(test_writer_escapes)
{
    const char *name = "q\"\\\n\t\b\f\r\x01\x1f/\x7f caf\xc3\xa9";
    const int64_t one = 1;
    const lsc_st_out o = {name, LSC_DT_F32, 1, &one};
    lsc_st_writer *w = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_st_writer_begin(tpath("esc.safetensors"), &o, 1, NULL, NULL, 0, &w, &err), LSC_OK);
    const float v = 1.5f;
    ck_assert_int_eq(lsc_st_writer_put(w, &v, 4, &err), LSC_OK);
    ck_assert_int_eq(lsc_st_writer_finish(w, &err), LSC_OK);
    lsc_st_file *f = open_ok("esc.safetensors");
    ck_assert_str_eq(f->tensors[0].name, name);
    ck_assert_ptr_nonnull(strstr(f->header, "{\"q\\\"\\\\\\n\\t\\b\\f\\r\\u0001\\u001f/\x7f caf\xc3\xa9\":"));
    ck_assert_uint_eq(f->header_len % 8, 0);
    lsc_st_close(f);
}
END_TEST

START_TEST(test_writer_rejects)
{
    const int64_t sh[2] = {2, 2}, neg[1] = {-1}, big[2] = {INT64_MAX, 2};
    lsc_st_writer *w = (lsc_st_writer *)1;
    lsc_error err = {0};
    const lsc_st_out dup[2] = {{"a", LSC_DT_F32, 2, sh}, {"a", LSC_DT_F32, 2, sh}};
    ck_assert_int_eq(lsc_st_writer_begin(tpath("dup.safetensors"), dup, 2, NULL, NULL, 0, &w, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(err.code, LSC_ERR_INVALID);
    ck_assert_ptr_null(w);
    ck_assert_ptr_nonnull(strstr(err.msg, "duplicate name"));
    const lsc_st_out bad[] = {
        {"x\xff", LSC_DT_F32, 2, sh}, {"__metadata__", LSC_DT_F32, 2, sh}, {"n", LSC_DT_F32, 1, neg},
        {"b", LSC_DT_F32, 2, big},    {"d", LSC_DT_INVALID, 2, sh},        {"m", LSC_DT_F32, 9, sh},
        {NULL, LSC_DT_F32, 2, sh},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        w = (lsc_st_writer *)1;
        ck_assert_int_eq(lsc_st_writer_begin(tpath("bad.safetensors"), &bad[i], 1, NULL, NULL, 0, &w, &err),
                         LSC_ERR_INVALID);
        ck_assert_ptr_null(w);
        ck_assert_ptr_nonnull(strstr(err.msg, "bad.safetensors'"));
    }
    const char *mk[1] = {"k"}, *mv[1] = {"\xc0\x80"}; /* overlong NUL */
    ck_assert_int_eq(lsc_st_writer_begin(tpath("m.safetensors"), NULL, 0, mk, mv, 1, &w, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_st_writer_begin(tpath("m.safetensors"), NULL, 0, NULL, NULL, 1, &w, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_st_writer_begin(tpath("m.safetensors"), NULL, 1, NULL, NULL, 0, &w, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(dir_entries(), 0);

    /* a folder that does not exist */
    const lsc_st_out ok = {"a", LSC_DT_F32, 2, sh};
    ck_assert_int_eq(lsc_st_writer_begin(tpath("nodir/x.safetensors"), &ok, 1, NULL, NULL, 0, &w, &err), LSC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "x.safetensors'"));
    ck_assert_int_eq(lsc_st_writer_begin(tpath(""), &ok, 1, NULL, NULL, 0, &w, &err), LSC_ERR_INVALID);

    /* finishing early fails and leaves nothing; abort leaves nothing */
    ck_assert_int_eq(lsc_st_writer_begin(tpath("early.safetensors"), &ok, 1, NULL, NULL, 0, &w, &err), LSC_OK);
    ck_assert_int_eq(dir_entries(), 1);
    ck_assert_int_eq(lsc_st_writer_finish(w, &err), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "only 0 of 1"));
    ck_assert_int_eq(dir_entries(), 0);
    ck_assert_int_eq(lsc_st_writer_begin(tpath("ab.safetensors"), &ok, 1, NULL, NULL, 0, &w, &err), LSC_OK);
    float v[4] = {1, 2, 3, 4};
    ck_assert_int_eq(lsc_st_writer_put(w, v, 16, &err), LSC_OK);
    lsc_st_writer_abort(w);
    lsc_st_writer_abort(NULL);
    ck_assert_int_eq(dir_entries(), 0);

    /* an existing file is replaced atomically, keeping its mode; an aborted rewrite leaves it intact */
    make_file("keep.safetensors", "{}", 0);
    ck_assert_int_eq(chmod(tpath("keep.safetensors"), 0600), 0);
    ck_assert_int_eq(lsc_st_writer_begin(tpath("keep.safetensors"), &ok, 1, NULL, NULL, 0, &w, &err), LSC_OK);
    lsc_st_writer_abort(w);
    lsc_st_file *f = open_ok("keep.safetensors");
    ck_assert_uint_eq(f->n_tensors, 0);
    lsc_st_close(f);
    ck_assert_int_eq(lsc_st_writer_begin(tpath("keep.safetensors"), &ok, 1, NULL, NULL, 0, &w, &err), LSC_OK);
    ck_assert_int_eq(lsc_st_writer_put(w, v, 16, &err), LSC_OK);
    ck_assert_int_eq(lsc_st_writer_finish(w, &err), LSC_OK);
    f = open_ok("keep.safetensors");
    ck_assert_uint_eq(f->n_tensors, 1);
    lsc_st_close(f);
    struct stat sb;
    ck_assert_int_eq(stat(tpath("keep.safetensors"), &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(dir_entries(), 1);
}
END_TEST

/* An unedited file rewritten through begin_verbatim is byte-identical to its source, however odd its
 * header (spacing, key order, data order unlike header order, padding that is not a multiple of 8). */
START_TEST(test_writer_verbatim)
{
    const char *hdr = "{ \"b\": {\"data_offsets\": [6, 14], \"dtype\": \"F32\", \"shape\": [2]},\n"
                      "  \"__metadata__\": {\"format\": \"pt\"},\n"
                      "  \"z\": {\"dtype\": \"I64\", \"shape\": [0], \"data_offsets\": [6, 6]},\n"
                      "  \"a\": {\"dtype\": \"BF16\", \"shape\": [3], \"data_offsets\": [0, 6]} }   ";
    make_file("src.safetensors", hdr, 14);
    lsc_st_file *src = open_ok("src.safetensors");
    lsc_st_writer *w = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_st_writer_begin_verbatim(tpath("copy.safetensors"), src->header, src->header_len, &w, &err),
                     LSC_OK);
    unsigned char buf[16];
    for (size_t i = 0; i < src->n_tensors; i++) {
        ck_assert_int_eq(lsc_st_read(src, i, buf, &err), LSC_OK);
        ck_assert_int_eq(lsc_st_writer_put(w, buf, src->tensors[i].end - src->tensors[i].begin, &err), LSC_OK);
    }
    ck_assert_int_eq(lsc_st_writer_finish(w, &err), LSC_OK);
    lsc_st_close(src);
    size_t n1, n2;
    unsigned char *b1 = read_all(tpath("src.safetensors"), &n1), *b2 = read_all(tpath("copy.safetensors"), &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_mem_eq(b1, b2, n1);
    free(b1);
    free(b2);

    /* a writer-made file round-trips through verbatim too */
    const int64_t sh[1] = {3};
    const lsc_st_out o[2] = {{"x", LSC_DT_F16, 1, sh}, {"y", LSC_DT_F64, 1, sh}};
    ck_assert_int_eq(lsc_st_writer_begin(tpath("w1.safetensors"), o, 2, NULL, NULL, 0, &w, &err), LSC_OK);
    unsigned char d[24];
    for (int i = 0; i < 24; i++)
        d[i] = (unsigned char)i;
    ck_assert_int_eq(lsc_st_writer_put(w, d, 6, &err), LSC_OK);
    ck_assert_int_eq(lsc_st_writer_put(w, d, 24, &err), LSC_OK);
    ck_assert_int_eq(lsc_st_writer_finish(w, &err), LSC_OK);
    src = open_ok("w1.safetensors");
    ck_assert_int_eq(lsc_st_writer_begin_verbatim(tpath("w2.safetensors"), src->header, src->header_len, &w, &err),
                     LSC_OK);
    ck_assert_int_eq(lsc_st_writer_put(w, d, 6, &err), LSC_OK);
    ck_assert_int_eq(lsc_st_writer_put(w, d, 24, &err), LSC_OK);
    ck_assert_int_eq(lsc_st_writer_finish(w, &err), LSC_OK);
    lsc_st_close(src);
    b1 = read_all(tpath("w1.safetensors"), &n1);
    b2 = read_all(tpath("w2.safetensors"), &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_mem_eq(b1, b2, n1);
    free(b1);
    free(b2);

    /* an invalid verbatim header is refused and leaves nothing */
    int before = dir_entries();
    const char *badh = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}";
    w = (lsc_st_writer *)1;
    ck_assert_int_eq(lsc_st_writer_begin_verbatim(tpath("v.safetensors"), badh, strlen(badh), &w, &err),
                     LSC_ERR_FORMAT);
    ck_assert_ptr_null(w);
    ck_assert_ptr_nonnull(strstr(err.msg, "v.safetensors': tensor 'a': shape [2] needs 8 bytes"));
    ck_assert_int_eq(dir_entries(), before);
}
END_TEST

/* Issue #13.17, through the command line: `export --dtype f16` of a PEFT adapter whose factors hold
 * subnormal or tiny values warns, naming each tensor and what it lost; the file is still written. */
START_TEST(test_export_f16_flush_warned)
{
    static const char *hdr = "{\"base_model.model.layers.0.q_proj.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[2,4],"
                             "\"data_offsets\":[0,32]},\"base_model.model.layers.0.q_proj.lora_B.weight\":{\"dtype\":"
                             "\"F32\",\"shape\":[4,2],\"data_offsets\":[32,64]}}";
    float data[16];
    static const float bv[8] = {1.0f, 3e-5f, 0x1p-20f, 1e-9f, 0.5f, 0.25f, 2.0f, 0.0f};
    for (int i = 0; i < 8; i++) {
        data[i] = 1e-40f * (float)(i + 1);
        data[8 + i] = bv[i];
    }
    ck_assert_int_eq(mkdir(tpath("tiny"), 0755), 0);
    ck_assert_int_eq(cli_write_st(tpath("tiny/adapter_model.safetensors"), hdr, data, sizeof data), 0);
    char cat[300], out[300];
    snprintf(cat, sizeof cat, "%s", tpath("cat.db"));
    snprintf(out, sizeof out, "%s", tpath("out16"));
    cli_result r = cli_run(cat, "import", tpath("tiny"), NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "export", "tiny", tpath("out32"), NULL); /* its own dtypes: nothing lost, nothing said */
    ck_assert_msg(r.code == 0 && !strstr(r.err, "flushed"), "%s", r.err);
    cli_result_free(&r);
    r = cli_run(cat, "export", "--dtype", "f16", "tiny", out, NULL);
    ck_assert_msg(r.code == 0, "%s", r.err);
    ck_assert_msg(strstr(r.err, "lorascope: warning: tiny: tensor 'base_model.model.layers.0.q_proj.lora_A.weight': "
                                "8 of 8 values flushed to zero in F16\n") &&
                      strstr(r.err, "lorascope: warning: tiny: tensor 'base_model.model.layers.0.q_proj.lora_B.weight': "
                                    "1 of 8 values flushed to zero and 1 rounded to subnormals (precision lost) in F16\n"),
                  "%s", r.err);
    cli_result_free(&r);
}
END_TEST

/* The shared message helpers of store/format_util.c: one style for every format, names escaped. */
START_TEST(test_format_helpers)
{
    lsc_error err = {0};
    ck_assert_int_eq(lsc_format_fail(&err, LSC_ERR_FORMAT, "a.gguf", "t\x1b[2J", "bad %s %d", "shape", 3),
                     LSC_ERR_FORMAT);
    ck_assert_int_eq(err.code, LSC_ERR_FORMAT);
    ck_assert_str_eq(err.msg, "'a.gguf': tensor 't\\x1b[2J': bad shape 3");
    ck_assert_int_eq(lsc_format_fail(&err, LSC_ERR_INVALID, "dir/x\ny", NULL, "no tensor %zu", (size_t)7),
                     LSC_ERR_INVALID);
    ck_assert_str_eq(err.msg, "'dir/x\\ny': no tensor 7");
    ck_assert_int_eq(lsc_format_fail(NULL, LSC_ERR_IO, "f", NULL, "x"), LSC_ERR_IO);
    ck_assert_int_eq(lsc_format_io_fail(&err, "open", "m.safetensors", ENOENT), LSC_ERR_IO);
    ck_assert_str_eq(err.msg, "cannot open 'm.safetensors': no such file or directory");
    ck_assert(lsc_format_ends_with("a.lora_down.weight", ".weight"));
    ck_assert(lsc_format_ends_with("x", ""));
    ck_assert(!lsc_format_ends_with("weight", ".weight"));
    ck_assert(!lsc_format_ends_with("a.Weight", ".weight"));

    lsc_strbuf b = {0};
    lsc_strbuf_puts(&b, "ab");
    lsc_strbuf_putn(&b, "cdef", 2);
    lsc_strbuf_printf(&b, "-%d-", 42);
    ck_assert_str_eq(b.s, "abcd-42-");
    char big[2000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lsc_strbuf_printf(&b, "%s!", big); /* longer than the formatter's stack buffer */
    ck_assert_uint_eq(b.len, 8 + sizeof big);
    ck_assert_uint_eq(strlen(b.s), b.len);
    ck_assert_int_eq(b.s[b.len - 1], '!');
    ck_assert_int_eq(b.oom, 0);
    free(b.s);

    /* precision-loss warnings: the first LSC_FORMAT_MAX_LOSS_WARNINGS tensors by name, then one count */
    lsc_adapter *ad = lsc_adapter_new();
    int count = 0;
    const lsc_narrowing none = {0, 0, 0}, some = {0, 2, 1};
    lsc_format_warn_loss(ad, &count, "quiet", &none, 4, LSC_DT_F16);
    ck_assert_int_eq(count, 0);
    ck_assert_ptr_null(ad->warnings);
    char name[16];
    for (int i = 0; i < LSC_FORMAT_MAX_LOSS_WARNINGS + 2; i++) {
        snprintf(name, sizeof name, "t%d", i);
        lsc_format_warn_loss(ad, &count, name, &some, 4, LSC_DT_F16);
    }
    lsc_format_warn_loss_total(ad, count);
    ck_assert_int_eq(count, LSC_FORMAT_MAX_LOSS_WARNINGS + 2);
    int lines = 1;
    for (const char *p = ad->warnings; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, LSC_FORMAT_MAX_LOSS_WARNINGS + 1);
    ck_assert_ptr_nonnull(strstr(ad->warnings, "tensor 't0': 2 of 4 values flushed to zero"));
    ck_assert_ptr_nonnull(strstr(ad->warnings, "tensor 't4': "));
    ck_assert_ptr_null(strstr(ad->warnings, "tensor 't5'"));
    ck_assert_ptr_nonnull(strstr(ad->warnings, "\n... and 2 more tensors flushed values to zero"));
    lsc_adapter_free(ad);
}
END_TEST

/* lsc_st_header_reusable: a kept header is reused only for exactly the tensors and metadata it lists. */
START_TEST(test_header_reusable)
{
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"a\":{\"dtype\":\"F16\",\"shape\":[1,3],\"data_offsets\":[8,14]}}";
    lsc_adapter *ad = lsc_adapter_new();
    lsc_error err = {0};
    const int64_t sb[1] = {2}, sa[2] = {1, 3};
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "b", LSC_ROLE_EXTRA, -1, LSC_DT_F32, 1, sb, NULL, NULL, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, "a", LSC_ROLE_EXTRA, -1, LSC_DT_F16, 2, sa, NULL, NULL, &err), LSC_OK);
    ck_assert(!lsc_st_header_reusable(ad)); /* no header kept */
    ad->header_json = strdup(hdr);
    ad->metadata_json = strdup("{\"format\":\"pt\"}");
    ck_assert(lsc_st_header_reusable(ad));
    free(ad->metadata_json);
    ad->metadata_json = strdup("{\"format\":\"np\"}"); /* metadata changed */
    ck_assert(!lsc_st_header_reusable(ad));
    free(ad->metadata_json);
    ad->metadata_json = NULL; /* metadata dropped */
    ck_assert(!lsc_st_header_reusable(ad));
    ad->metadata_json = strdup("{\"format\":\"pt\"}");
    ad->tensors[1].dtype = LSC_DT_BF16; /* same size, other dtype */
    ck_assert(!lsc_st_header_reusable(ad));
    ad->tensors[1].dtype = LSC_DT_F16;
    ad->tensors[1].shape[0] = 3;
    ad->tensors[1].shape[1] = 1; /* same count, other shape */
    ck_assert(!lsc_st_header_reusable(ad));
    ad->tensors[1].shape[0] = 1;
    ad->tensors[1].shape[1] = 3;
    ad->tensors[0].key[0] = 'c'; /* renamed */
    ck_assert(!lsc_st_header_reusable(ad));
    ad->tensors[0].key[0] = 'b';
    ck_assert(lsc_st_header_reusable(ad));
    ad->n_tensors = 1; /* a tensor dropped */
    ck_assert(!lsc_st_header_reusable(ad));
    ad->n_tensors = 2;
    free(ad->header_json);
    ad->header_json = strdup("{\"b\":"); /* not a header */
    ck_assert(!lsc_st_header_reusable(ad));
    lsc_adapter_free(ad);
}
END_TEST

/* lsc_st_meta_arrays: the string entries in order, others left out or refused by name; nothing is left
 * for the caller to free after a refusal. */
START_TEST(test_meta_arrays)
{
    json_t *o = json_loads("{\"a\":\"x\",\"b\":2,\"c\":\"y\"}", JSON_PRESERVE_ORDER, NULL);
    ck_assert_ptr_nonnull(o);
    const char **k = NULL, **v = NULL;
    size_t n = 99;
    lsc_error e = {0};
    ck_assert_int_eq(lsc_st_meta_arrays(o, 1, &k, &v, &n, &e), LSC_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(k[0], "a");
    ck_assert_str_eq(v[0], "x");
    ck_assert_str_eq(k[1], "c");
    ck_assert_str_eq(v[1], "y");
    free(k);
    free(v);
    ck_assert_int_eq(lsc_st_meta_arrays(o, 0, &k, &v, &n, &e), LSC_ERR_INVALID);
    ck_assert_str_eq(e.msg, "adapter metadata 'b' is not a string");
    ck_assert_ptr_null(k);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(n, 0);
    json_decref(o);
}
END_TEST

/* lsc_samekeys_metadata refusing a non-string value leaves no arrays behind: its callers free what they
 * are given, and freed arrays left in *keys and *vals were freed twice. */
START_TEST(test_samekeys_metadata_refusal)
{
    void *holder = NULL;
    const char **k = NULL, **v = NULL;
    size_t n = 0;
    lsc_error e = {0};
    ck_assert_int_eq(lsc_samekeys_metadata("{\"a\":\"x\",\"b\":[1]}", &holder, &k, &v, &n, &e), LSC_ERR_INVALID);
    ck_assert_ptr_null(holder);
    ck_assert_ptr_null(k);
    ck_assert_ptr_null(v);
    ck_assert_str_eq(e.msg, "adapter metadata 'b' is not a string");
    ck_assert_int_eq(lsc_samekeys_metadata(NULL, &holder, &k, &v, &n, &e), LSC_OK);
    ck_assert_uint_eq(n, 0);
    json_decref((json_t *)holder);
    free(k);
    free(v);
}
END_TEST

static Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_reject_lengths);
    tcase_add_test(tc, test_reject_json);
    tcase_add_test(tc, test_reject_entries);
    tcase_add_test(tc, test_reject_layout);
    tcase_add_test(tc, test_reject_io);
    tcase_add_test(tc, test_valid_oddities);
    tcase_add_test(tc, test_valid_float_dtypes);
    tcase_add_test(tc, test_many_tensors);
    tcase_add_test(tc, test_export_f16_flush_warned);
    tcase_add_test(tc, test_writer_round_trip);
    tcase_add_test(tc, test_writer_escapes);
    tcase_add_test(tc, test_writer_rejects);
    tcase_add_test(tc, test_writer_verbatim);
    tcase_add_test(tc, test_format_helpers);
    tcase_add_test(tc, test_header_reusable);
    tcase_add_test(tc, test_meta_arrays);
    tcase_add_test(tc, test_samekeys_metadata_refusal);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(safetensors_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
