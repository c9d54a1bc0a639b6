/* check-catalog.c: the catalog (store/catalog.c) and content hashes (store/hash.c).
 *
 * Every test works in its own mkdtemp() folder. Refusals are checked by comparing the file's bytes before
 * and after and by looking for -wal/-shm/-journal files; round trips compare every field of adapters
 * built here from seeded pseudo-random bytes; hashes are checked against hand-made framing and xxhash's
 * own digest. Depends on the store and engine libraries, Check, SQLite (for setting up foreign files)
 * and pthreads (the second writer).
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "catalog.h"
#include "hash.h"

/* ---- helpers ---------------------------------------------------------------------------------------- */

typedef struct {
    char dir[256];
    char path[300];
} tmp_cat;

static void tmp_init(tmp_cat *t)
{
    snprintf(t->dir, sizeof t->dir, "%s/lsc-cat-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/catalog.db", t->dir);
}

static void rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static int side_file(const char *path, const char *suffix)
{
    char p[400];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    return file_exists(p);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spit(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s", msg ? msg : "?");
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

static int64_t count_rows(lsc_catalog *cat, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(lsc_catalog_db(cat), sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

static int64_t pragma_int(lsc_catalog *cat, const char *pragma)
{
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA %s", pragma);
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(lsc_catalog_db(cat), sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* Open that must fail without touching the file: same bytes, no side files. */
static void assert_refused(const char *path, unsigned flags, lsc_status want, const char *msg_part)
{
    size_t n0, n1;
    unsigned char *before = slurp(path, &n0);
    lsc_catalog *cat = (lsc_catalog *)1;
    lsc_error err = {0};
    lsc_status st = lsc_catalog_open(path, flags, &cat, &err);
    ck_assert_int_eq(st, want);
    ck_assert_ptr_null(cat);
    ck_assert_msg(strstr(err.msg, msg_part) != NULL, "message '%s' lacks '%s'", err.msg, msg_part);
    unsigned char *after = slurp(path, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert_int_eq(memcmp(before, after, n0), 0);
    ck_assert(!side_file(path, "-wal"));
    ck_assert(!side_file(path, "-shm"));
    ck_assert(!side_file(path, "-journal"));
    free(before);
    free(after);
}

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void *random_bytes(size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rng() >> 24);
    return p;
}

static size_t add_tensor(lsc_adapter *ad, const char *key, lsc_role role, int layer, lsc_dtype dt, int ndim,
                         const int64_t *shape)
{
    size_t n = lsc_dtype_size(dt), idx = 0;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    lsc_error err = {0};
    ck_assert_int_eq(lsc_adapter_add_tensor(ad, key, role, layer, dt, ndim, shape, random_bytes(n), &idx, &err),
                     LSC_OK);
    return idx;
}

/* An adapter exercising every field: a plain LoRA layer, an AdaLoRA+DoRA conv layer with E and a
 * magnitude vector, a kohya-style alpha scalar, a zero-size tensor and an extra (modules_to_save). */
static lsc_adapter *make_adapter(const char *name, uint64_t seed)
{
    lsc_error err = {0};
    rng_state = seed * 2654435761u + 1;
    lsc_adapter *ad = lsc_adapter_new();
    ck_assert_ptr_nonnull(ad);
    ad->name = strdup(name);
    ad->format = strdup("peft");
    ad->kind = strdup("adaptive");
    ad->base_model = strdup("meta-llama/Llama-2-7b-hf");
    ad->config_json = strdup("{\"r\": 4, \"lora_alpha\": 8,\n \"x\": \"\\u00e9\"}");
    ad->header_json = NULL;
    ad->metadata_json = strdup("{\"format\":\"pt\"}");
    ad->source = strdup("/data/adapters/x y");
    ad->warnings = strdup("config r 8 disagrees with tensors (4)\nsecond warning");

    size_t l0, l1;
    ck_assert_int_eq(lsc_adapter_add_layer(ad, "base_model.model.layers.3.self_attn.q_proj", &l0, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_add_layer(ad, "base_model.model.conv_in", &l1, &err), LSC_OK);
    const int64_t a0[2] = {4, 6}, b0[2] = {8, 4};
    size_t ta0 = add_tensor(ad, "base_model.model.layers.3.self_attn.q_proj.lora_A.weight", LSC_ROLE_A, 0, LSC_DT_F32,
                            2, a0);
    size_t tb0 = add_tensor(ad, "base_model.model.layers.3.self_attn.q_proj.lora_B.weight", LSC_ROLE_B, 0,
                            LSC_DT_BF16, 2, b0);
    const int64_t a1[4] = {3, 2, 3, 3}, b1[4] = {5, 3, 1, 1}, e1[2] = {3, 1}, m1[1] = {5}, none[1] = {0};
    size_t tb1 = add_tensor(ad, "conv_in.lora_B", LSC_ROLE_B, 1, LSC_DT_F16, 4, b1);
    size_t ta1 = add_tensor(ad, "conv_in.lora_A", LSC_ROLE_A, 1, LSC_DT_F64, 4, a1);
    size_t te1 = add_tensor(ad, "conv_in.lora_E", LSC_ROLE_E, 1, LSC_DT_F32, 2, e1);
    size_t tm1 = add_tensor(ad, "conv_in.lora_magnitude_vector", LSC_ROLE_MAGNITUDE, 1, LSC_DT_F32, 1, m1);
    add_tensor(ad, "conv_in.alpha", LSC_ROLE_ALPHA, 1, LSC_DT_I64, 0, NULL);
    add_tensor(ad, "empty.extra", LSC_ROLE_EXTRA, -1, LSC_DT_F32, 1, none);
    const int64_t h[2] = {2, 6};
    add_tensor(ad, "score.weight", LSC_ROLE_EXTRA, -1, LSC_DT_F32, 2, h);

    lsc_layer *l = &ad->layers[l0];
    free(l->module_type);
    l->module_type = strdup("q_proj");
    l->layer_index = 3;
    l->rows = 8;
    l->cols = 6;
    l->rank = 4;
    l->init_r = 0;
    l->alpha = 8.25;
    l->rule = LSC_SCALE_RSLORA;
    l->scale = lsc_scale_compute(l->rule, l->alpha, 4, 0, 0);
    l->flags = LSC_LAYER_FAN_IN_FAN_OUT;
    l->ta = (int)ta0;
    l->tb = (int)tb0;
    l = &ad->layers[l1];
    free(l->module_type);
    l->module_type = strdup("conv_in");
    l->rows = 5;
    l->cols = 18;
    l->rank = 3;
    l->init_r = 12;
    l->alpha = 1.0 / 3.0;
    l->rule = LSC_SCALE_ADALORA;
    l->scale = lsc_scale_compute(l->rule, l->alpha, 3, 12, 0);
    l->flags = LSC_LAYER_CONV | LSC_LAYER_DORA | LSC_LAYER_ADALORA;
    l->ta = (int)ta1;
    l->tb = (int)tb1;
    l->te = (int)te1;
    l->tm = (int)tm1;
    return ad;
}

static void put(lsc_catalog *cat, lsc_adapter *ad, const int64_t *parents, size_t n_parents, int64_t *id)
{
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    lsc_status st = lsc_catalog_put_adapter(cat, ad, parents, n_parents, id, &err);
    ck_assert_msg(st == LSC_OK, "put: %s", err.msg);
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);
}

static void assert_str_eq_null(const char *a, const char *b)
{
    if (!a || !b)
        ck_assert_ptr_eq(a, b);
    else
        ck_assert_str_eq(a, b);
}

static int bits_eq(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Every field of `got` (from the catalog, data loaded on demand) equals `want` (built in memory). */
static void assert_same_adapter(lsc_adapter *got, const lsc_adapter *want)
{
    lsc_error err = {0};
    assert_str_eq_null(got->name, want->name);
    assert_str_eq_null(got->format, want->format);
    assert_str_eq_null(got->kind, want->kind);
    assert_str_eq_null(got->base_model, want->base_model);
    assert_str_eq_null(got->config_json, want->config_json);
    assert_str_eq_null(got->header_json, want->header_json);
    assert_str_eq_null(got->metadata_json, want->metadata_json);
    assert_str_eq_null(got->source, want->source);
    assert_str_eq_null(got->warnings, want->warnings);
    ck_assert_uint_eq(got->n_layers, want->n_layers);
    for (size_t i = 0; i < want->n_layers; i++) {
        const lsc_layer *g = &got->layers[i], *w = &want->layers[i];
        ck_assert_str_eq(g->name, w->name);
        ck_assert_str_eq(g->module_type, w->module_type);
        ck_assert_int_eq(g->layer_index, w->layer_index);
        ck_assert_int_eq(g->rows, w->rows);
        ck_assert_int_eq(g->cols, w->cols);
        ck_assert_int_eq(g->rank, w->rank);
        ck_assert_int_eq(g->init_r, w->init_r);
        ck_assert(bits_eq(g->alpha, w->alpha));
        ck_assert_int_eq(g->rule, w->rule);
        ck_assert(bits_eq(g->scale, w->scale));
        ck_assert_uint_eq(g->flags, w->flags);
        ck_assert_int_eq(g->ta, w->ta);
        ck_assert_int_eq(g->tb, w->tb);
        ck_assert_int_eq(g->te, w->te);
        ck_assert_int_eq(g->tm, w->tm);
    }
    ck_assert_uint_eq(got->n_tensors, want->n_tensors);
    for (size_t i = 0; i < want->n_tensors; i++) {
        lsc_tensor *g = &got->tensors[i];
        const lsc_tensor *w = &want->tensors[i];
        ck_assert_str_eq(g->key, w->key);
        ck_assert_int_eq(g->role, w->role);
        ck_assert_int_eq(g->layer, w->layer);
        ck_assert_int_eq(g->dtype, w->dtype);
        ck_assert_int_eq(g->ndim, w->ndim);
        for (int d = 0; d < w->ndim; d++)
            ck_assert_int_eq(g->shape[d], w->shape[d]);
        ck_assert_uint_eq(g->nbytes, w->nbytes);
        ck_assert_str_eq(g->hash, w->hash);
        ck_assert_ptr_null(g->data); /* lazily loaded */
        lsc_status st = lsc_adapter_load_tensor(got, i, &err);
        ck_assert_msg(st == LSC_OK, "load: %s", err.msg);
        if (w->nbytes)
            ck_assert_int_eq(memcmp(g->data, w->data, w->nbytes), 0);
        lsc_adapter_unload_tensor(got, i);
        ck_assert_ptr_null(g->data);
    }
}

/* ---- hashes ----------------------------------------------------------------------------------------- */

START_TEST(test_hash_bytes)
{
    char h[LSC_HASH_HEX], want[LSC_HASH_HEX];
    const char *msg = "lorascope";
    XXH128_hash_t x = XXH3_128bits(msg, strlen(msg));
    snprintf(want, sizeof want, "%016llx%016llx", (unsigned long long)x.high64, (unsigned long long)x.low64);
    lsc_hash_bytes(msg, strlen(msg), h);
    ck_assert_str_eq(h, want);
    ck_assert_uint_eq(strlen(h), 32);
    /* the empty input: xxh3-128 of nothing is a fixed value */
    x = XXH3_128bits("", 0);
    snprintf(want, sizeof want, "%016llx%016llx", (unsigned long long)x.high64, (unsigned long long)x.low64);
    lsc_hash_bytes(NULL, 0, h);
    ck_assert_str_eq(h, want);
}
END_TEST

/* The streaming hash equals lsc_hash_bytes of the concatenation for every length 0..700 (xxh3 changes
 * method at 16, 128 and 240 bytes and buffers 256 in its stream) and a few long inputs, however the bytes
 * are cut (whole, random pieces, empty pieces, one byte at a time); a digest taken midway changes
 * nothing; reset starts again. */
START_TEST(test_hash_stream)
{
    static const size_t longer[] = {1023, 1024, 4097, 100001};
    unsigned char *data = malloc(100001);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < 100001; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        data[i] = (unsigned char)x;
    }
    lsc_hash_stream *h = lsc_hash_stream_new();
    ck_assert_ptr_nonnull(h);
    char want[LSC_HASH_HEX], got[LSC_HASH_HEX], mid[LSC_HASH_HEX];
    for (size_t c = 0; c < 701 + 4; c++) {
        size_t n = c <= 700 ? c : longer[c - 701];
        lsc_hash_bytes(data, n, want);
        for (int way = 0; way < 3; way++) {
            lsc_hash_stream_reset(h);
            lsc_hash_stream_update(h, data, 0);
            for (size_t i = 0; i < n;) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                size_t m = way == 0 ? n : way == 1 ? 1 : (size_t)(x % 300);
                if (m > n - i)
                    m = n - i;
                lsc_hash_stream_update(h, data + i, m);
                i += m;
                if (way == 2 && (x >> 40) % 7 == 0)
                    lsc_hash_stream_digest(h, mid);
            }
            lsc_hash_stream_digest(h, got);
            ck_assert_msg(strcmp(got, want) == 0, "n %zu way %d: %s vs %s", n, way, got, want);
        }
    }
    lsc_hash_stream_reset(h);
    lsc_hash_stream_digest(h, got);
    lsc_hash_bytes(NULL, 0, want);
    ck_assert_str_eq(got, want);
    lsc_hash_stream_free(h);
    lsc_hash_stream_free(NULL);
    free(data);
}
END_TEST

START_TEST(test_hash_adapter)
{
    lsc_adapter *a = make_adapter("a", 1), *b = make_adapter("b", 1);
    char ha[LSC_HASH_HEX], hb[LSC_HASH_HEX];
    for (size_t i = 0; i < a->n_tensors; i++) {
        lsc_hash_tensor(&a->tensors[i]);
        lsc_hash_tensor(&b->tensors[i]);
    }
    free(b->source);
    b->source = strdup("elsewhere"); /* name and source are not content */
    lsc_hash_adapter(a, ha);
    lsc_hash_adapter(b, hb);
    ck_assert_str_eq(ha, hb);
    /* each kind of change is seen */
    b->layers[0].scale *= 2;
    lsc_hash_adapter(b, hb);
    ck_assert_str_ne(ha, hb);
    b->layers[0].scale = a->layers[0].scale;
    b->tensors[1].dtype = LSC_DT_F16; /* same bytes read as another type */
    lsc_hash_adapter(b, hb);
    ck_assert_str_ne(ha, hb);
    b->tensors[1].dtype = a->tensors[1].dtype;
    b->tensors[0].shape[0] = 6;
    b->tensors[0].shape[1] = 4;
    lsc_hash_adapter(b, hb);
    ck_assert_str_ne(ha, hb);
    b->tensors[0].shape[0] = 4;
    b->tensors[0].shape[1] = 6;
    b->tensors[2].data[0] ^= 1;
    lsc_hash_tensor(&b->tensors[2]);
    lsc_hash_adapter(b, hb);
    ck_assert_str_ne(ha, hb);
    /* config NULL and config "" differ (framing) */
    lsc_hash_tensor(&a->tensors[2]);
    free(a->config_json);
    a->config_json = NULL;
    lsc_hash_adapter(a, ha);
    a->config_json = strdup("");
    lsc_hash_adapter(a, hb);
    ck_assert_str_ne(ha, hb);
    lsc_adapter_free(a);
    lsc_adapter_free(b);
}
END_TEST

/* ---- opening ---------------------------------------------------------------------------------------- */

START_TEST(test_create_reopen)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    char nested[400];
    snprintf(nested, sizeof nested, "%s/a/b/catalog.db", t.dir);

    /* missing file: error without CREATE, nothing created */
    ck_assert_int_eq(lsc_catalog_open(nested, 0, &cat, &err), LSC_ERR_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "no such file"));
    ck_assert_int_eq(lsc_catalog_open(nested, LSC_CATALOG_READONLY | LSC_CATALOG_CREATE, &cat, &err),
                     LSC_ERR_NOTFOUND);
    ck_assert(!file_exists(nested));

    ck_assert_int_eq(lsc_catalog_open(nested, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    ck_assert(file_exists(nested));
    ck_assert_int_eq(pragma_int(cat, "application_id"), (int64_t)LSC_CATALOG_APP_ID);
    ck_assert_int_eq(pragma_int(cat, "user_version"), LSC_CATALOG_VERSION);
    ck_assert_int_eq(pragma_int(cat, "foreign_keys"), 1);
    ck_assert_int_eq(pragma_int(cat, "synchronous"), 2); /* FULL */
    ck_assert_int_eq(pragma_int(cat, "busy_timeout"), 10000);
    ck_assert_int_eq(pragma_int(cat, "page_size"), 32768);
    sqlite3_stmt *jm = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(lsc_catalog_db(cat), "PRAGMA journal_mode", -1, &jm, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(jm), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(jm, 0), "wal");
    sqlite3_finalize(jm);
    ck_assert_int_eq(count_rows(cat, "adapters"), 0);
    ck_assert(!lsc_catalog_in_transaction(cat));
    lsc_catalog_close(cat);

    /* reopen read-write and read-only; the read-only connection refuses transactions */
    ck_assert_int_eq(lsc_catalog_open(nested, 0, &cat, &err), LSC_OK);
    ck_assert_int_eq(count_rows(cat, "history"), 0);
    lsc_catalog_close(cat);
    ck_assert_int_eq(lsc_catalog_open(nested, LSC_CATALOG_READONLY, &cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_ERR_INVALID);
    size_t n = 1;
    lsc_adapter_info *list = NULL;
    ck_assert_int_eq(lsc_catalog_list(cat, &list, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 0);
    lsc_adapter_info_free_array(list, n);
    lsc_catalog_close(cat);

    /* an empty file: refused without CREATE (untouched), initialised with it */
    spit(t.path, "", 0);
    assert_refused(t.path, 0, LSC_ERR_FORMAT, "not a lorascope catalog (empty file)");
    assert_refused(t.path, LSC_CATALOG_READONLY, LSC_ERR_FORMAT, "not a lorascope catalog (empty file)");
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    ck_assert_int_eq(pragma_int(cat, "user_version"), LSC_CATALOG_VERSION);
    lsc_catalog_close(cat);

    /* a folder */
    ck_assert_int_eq(lsc_catalog_open(t.dir, LSC_CATALOG_CREATE, &cat, &err), LSC_ERR_INVALID);
    rm_rf(t.dir);
}
END_TEST

START_TEST(test_default_path)
{
    char buf[512];
    char *saved[3];
    const char *vars[3] = {"LORASCOPE_CATALOG", "XDG_DATA_HOME", "HOME"};
    for (int i = 0; i < 3; i++)
        saved[i] = getenv(vars[i]) ? strdup(getenv(vars[i])) : NULL;

    setenv("LORASCOPE_CATALOG", "/x/my.db", 1);
    setenv("XDG_DATA_HOME", "/xdg", 1);
    setenv("HOME", "/home/u", 1);
    ck_assert_str_eq(lsc_catalog_default_path(buf, sizeof buf), "/x/my.db");
    setenv("LORASCOPE_CATALOG", "", 1);
    ck_assert_str_eq(lsc_catalog_default_path(buf, sizeof buf), "/xdg/lorascope/catalog.db");
    unsetenv("LORASCOPE_CATALOG");
    ck_assert_str_eq(lsc_catalog_default_path(buf, sizeof buf), "/xdg/lorascope/catalog.db");
    setenv("XDG_DATA_HOME", "relative/dir", 1); /* not absolute: ignored as the XDG spec says */
    ck_assert_str_eq(lsc_catalog_default_path(buf, sizeof buf), "/home/u/.local/share/lorascope/catalog.db");
    unsetenv("XDG_DATA_HOME");
    ck_assert_str_eq(lsc_catalog_default_path(buf, sizeof buf), "/home/u/.local/share/lorascope/catalog.db");
    ck_assert_ptr_null(lsc_catalog_default_path(buf, 10)); /* does not fit */
    unsetenv("HOME");
    ck_assert_ptr_null(lsc_catalog_default_path(buf, sizeof buf));

    /* CREATE makes the folder of the default path */
    tmp_cat t;
    tmp_init(&t);
    setenv("XDG_DATA_HOME", t.dir, 1);
    ck_assert_ptr_nonnull(lsc_catalog_default_path(buf, sizeof buf));
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(buf, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_catalog_close(cat);
    char want[400];
    snprintf(want, sizeof want, "%s/lorascope/catalog.db", t.dir);
    ck_assert_str_eq(buf, want);
    ck_assert(file_exists(want));
    rm_rf(t.dir);

    for (int i = 0; i < 3; i++) {
        if (saved[i])
            setenv(vars[i], saved[i], 1);
        else
            unsetenv(vars[i]);
        free(saved[i]);
    }
}
END_TEST

START_TEST(test_refuse_text)
{
    tmp_cat t;
    tmp_init(&t);
    const char text[] = "name,rank\nq_proj,16\n";
    spit(t.path, text, strlen(text));
    assert_refused(t.path, 0, LSC_ERR_FORMAT, "not a lorascope catalog (not an SQLite database)");
    assert_refused(t.path, LSC_CATALOG_CREATE, LSC_ERR_FORMAT, "not a lorascope catalog (not an SQLite database)");
    assert_refused(t.path, LSC_CATALOG_READONLY, LSC_ERR_FORMAT, "not a lorascope catalog (not an SQLite database)");
    /* 200 bytes starting like SQLite but too short a header for the magic: still text */
    char big[200];
    memset(big, 'x', sizeof big);
    memcpy(big, "SQLite format 2", 15);
    spit(t.path, big, sizeof big);
    assert_refused(t.path, LSC_CATALOG_CREATE, LSC_ERR_FORMAT, "(not an SQLite database)");
    rm_rf(t.dir);
}
END_TEST

START_TEST(test_refuse_foreign)
{
    tmp_cat t;
    tmp_init(&t);
    /* another program's application_id */
    raw_exec(t.path, "PRAGMA application_id = 305419896; CREATE TABLE notes(x);");
    assert_refused(t.path, LSC_CATALOG_CREATE, LSC_ERR_FORMAT, "not a lorascope catalog");
    assert_refused(t.path, 0, LSC_ERR_FORMAT, "application_id 0x12345678");
    assert_refused(t.path, LSC_CATALOG_READONLY, LSC_ERR_FORMAT, "not a lorascope catalog");
    unlink(t.path);
    /* no application_id but tables: someone else's database (rollback journal) */
    raw_exec(t.path, "CREATE TABLE notes(x); INSERT INTO notes VALUES (1);");
    assert_refused(t.path, LSC_CATALOG_CREATE, LSC_ERR_FORMAT, "an SQLite database of another program");
    assert_refused(t.path, LSC_CATALOG_READONLY, LSC_ERR_FORMAT, "an SQLite database of another program");
    unlink(t.path);
    /* the same in WAL mode: probing must not create -shm/-wal */
    raw_exec(t.path, "PRAGMA journal_mode = WAL; CREATE TABLE notes(x); INSERT INTO notes VALUES (1);");
    ck_assert(!side_file(t.path, "-wal"));
    assert_refused(t.path, LSC_CATALOG_CREATE, LSC_ERR_FORMAT, "an SQLite database of another program");
    assert_refused(t.path, 0, LSC_ERR_FORMAT, "an SQLite database of another program");
    /* an SQLite database with neither id nor tables is blank: refused without CREATE, taken with it */
    unlink(t.path);
    raw_exec(t.path, "PRAGMA user_version = 0; CREATE TABLE t(x); DROP TABLE t;");
    assert_refused(t.path, 0, LSC_ERR_FORMAT, "not a lorascope catalog (empty database)");
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    ck_assert_int_eq(pragma_int(cat, "application_id"), (int64_t)LSC_CATALOG_APP_ID);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

START_TEST(test_refuse_newer)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_catalog_close(cat);
    ck_assert(!side_file(t.path, "-wal"));
    char sql[64], want[160];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", LSC_CATALOG_VERSION + 1);
    raw_exec(t.path, sql);
    snprintf(want, sizeof want, "was written by a newer lorascope (schema %d, this program knows %d)",
             LSC_CATALOG_VERSION + 1, LSC_CATALOG_VERSION);
    assert_refused(t.path, 0, LSC_ERR_UNSUPPORTED, want);
    assert_refused(t.path, LSC_CATALOG_CREATE, LSC_ERR_UNSUPPORTED, want);
    assert_refused(t.path, LSC_CATALOG_READONLY, LSC_ERR_UNSUPPORTED, want);
    rm_rf(t.dir);
}
END_TEST

START_TEST(test_upgrade_steps)
{
    /* our id at schema 0: an older catalog, upgraded step by step on a read-write open only */
    tmp_cat t;
    tmp_init(&t);
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = 0", (int)LSC_CATALOG_APP_ID);
    raw_exec(t.path, sql);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    assert_refused(t.path, LSC_CATALOG_READONLY, LSC_ERR_UNSUPPORTED, "needs an upgrade to schema");
    ck_assert_int_eq(lsc_catalog_open(t.path, 0, &cat, &err), LSC_OK);
    ck_assert_int_eq(pragma_int(cat, "user_version"), LSC_CATALOG_VERSION);
    ck_assert_int_eq(count_rows(cat, "adapters"), 0);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

START_TEST(test_corrupt_rows)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_adapter *a = make_adapter("a", 21), *got = NULL;
    put(cat, a, NULL, 0, NULL);
    sqlite3 *db = lsc_catalog_db(cat);
    /* stored bytes changed behind the catalog's back: the loader notices */
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE blobs SET data = randomblob(size) WHERE hash = '%s'", a->tensors[0].hash);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(lsc_catalog_get_adapter(cat, "a", &got, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_load_tensor(got, 0, &err), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "do not match their hash"));
    ck_assert_ptr_null(got->tensors[0].data);
    lsc_adapter_free(got);
    snprintf(sql, sizeof sql, "UPDATE blobs SET data = x'00', size = 1 WHERE hash = '%s'", a->tensors[1].hash);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(lsc_catalog_get_adapter(cat, "a", &got, &err), LSC_OK);
    ck_assert_int_eq(lsc_adapter_load_tensor(got, 1, &err), LSC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "stored bytes, expected"));
    lsc_adapter_free(got);
    /* a malformed shape and an unknown dtype are reported, not guessed */
    ck_assert_int_eq(sqlite3_exec(db, "UPDATE tensors SET shape = '[4,' WHERE ord = 0", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(lsc_catalog_get_adapter(cat, "a", &got, &err), LSC_ERR_FORMAT);
    ck_assert_ptr_null(got);
    ck_assert_ptr_nonnull(strstr(err.msg, "corrupt adapter rows"));
    ck_assert_int_eq(sqlite3_exec(db, "UPDATE tensors SET shape = '[4, 6]', dtype = 'F12' WHERE ord = 0", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    ck_assert_int_eq(lsc_catalog_get_adapter(cat, "a", &got, &err), LSC_ERR_FORMAT);
    ck_assert_int_eq(sqlite3_exec(db, "UPDATE tensors SET dtype = 'F32' WHERE ord = 0", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(lsc_catalog_get_adapter(cat, "a", &got, &err), LSC_OK); /* repaired: readable again */
    lsc_adapter_free(got);
    ck_assert_int_eq(sqlite3_exec(db, "UPDATE layers SET rule = 'alpha*r' WHERE ord = 1", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(lsc_catalog_get_adapter(cat, "a", &got, &err), LSC_ERR_FORMAT);
    lsc_adapter_free(a);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

/* ---- adapters --------------------------------------------------------------------------------------- */

START_TEST(test_roundtrip)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_adapter *ad = make_adapter("round", 7);
    int64_t id = 0;

    /* outside a transaction */
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, ad, NULL, 0, &id, &err), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "inside a transaction"));

    int64_t t0 = (int64_t)time(NULL);
    put(cat, ad, NULL, 0, &id);
    int64_t t1 = (int64_t)time(NULL);
    ck_assert_int_gt(id, 0);
    /* hashes were filled in on the caller's adapter, each the hash of its bytes */
    for (size_t i = 0; i < ad->n_tensors; i++) {
        char h[LSC_HASH_HEX];
        lsc_hash_bytes(ad->tensors[i].data, ad->tensors[i].nbytes, h);
        ck_assert_str_eq(ad->tensors[i].hash, h);
    }
    lsc_catalog_close(cat); /* and through a fresh connection */
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_READONLY, &cat, &err), LSC_OK);

    lsc_adapter *got = NULL;
    ck_assert_int_eq(lsc_catalog_get_adapter(cat, "round", &got, &err), LSC_OK);
    assert_same_adapter(got, ad);
    lsc_adapter_free(got);
    ck_assert_int_eq(lsc_catalog_get_adapter_by_id(cat, id, &got, &err), LSC_OK);
    ck_assert_str_eq(got->name, "round");
    lsc_adapter_free(got);
    ck_assert_int_eq(lsc_catalog_get_adapter(cat, "nope", &got, &err), LSC_ERR_NOTFOUND);
    ck_assert_str_eq(err.msg, "no adapter 'nope' in the catalog");
    ck_assert_int_eq(lsc_catalog_get_adapter_by_id(cat, id + 100, &got, &err), LSC_ERR_NOTFOUND);

    /* list figures against the in-memory adapter */
    lsc_adapter_info *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(lsc_catalog_list(cat, &list, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(list[0].id, id);
    ck_assert_str_eq(list[0].name, "round");
    ck_assert_str_eq(list[0].format, "peft");
    ck_assert_str_eq(list[0].kind, "adaptive");
    ck_assert_str_eq(list[0].base_model, "meta-llama/Llama-2-7b-hf");
    ck_assert_str_eq(list[0].source, "/data/adapters/x y");
    ck_assert_int_eq(list[0].n_layers, 2);
    /* A 4*6 + B 8*4 + B 5*3 + A 3*2*3*3 + E 3 + magnitude 5 = 24+32+15+54+3+5 */
    ck_assert_int_eq(list[0].params, 133);
    ck_assert_int_eq(list[0].params, lsc_adapter_params(ad));
    ck_assert_int_eq(list[0].bytes, lsc_adapter_bytes(ad));
    ck_assert_str_eq(list[0].parents, "");
    ck_assert_int_ge(list[0].created, t0);
    ck_assert_int_le(list[0].created, t1);
    char content[LSC_HASH_HEX];
    lsc_hash_adapter(ad, content);
    ck_assert_str_eq(list[0].content_hash, content);
    lsc_adapter_info_free_array(list, n);

    char *name = NULL;
    ck_assert_int_eq(lsc_catalog_find_content(cat, content, &name, &err), LSC_OK);
    ck_assert_str_eq(name, "round");
    free(name);
    ck_assert_int_eq(lsc_catalog_find_content(cat, "00000000000000000000000000000000", &name, &err), LSC_OK);
    ck_assert_ptr_null(name);
    int64_t fid = 0;
    ck_assert_int_eq(lsc_catalog_find(cat, "round", &fid, &err), LSC_OK);
    ck_assert_int_eq(fid, id);

    /* an adapter that outlives its catalog's close may still be freed */
    ck_assert_int_eq(lsc_catalog_get_adapter(cat, "round", &got, &err), LSC_OK);
    lsc_catalog_close(cat);
    lsc_adapter_free(got);
    lsc_adapter_free(ad);
    rm_rf(t.dir);
}
END_TEST

START_TEST(test_put_rejections)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_adapter *a = make_adapter("a", 3);
    put(cat, a, NULL, 0, NULL);

    /* a derived adapter naming stored bytes by hash only: accepted */
    lsc_adapter *d = make_adapter("derived", 3);
    for (size_t i = 0; i < d->n_tensors; i++) {
        memcpy(d->tensors[i].hash, a->tensors[i].hash, LSC_HASH_HEX);
        free(d->tensors[i].data);
        d->tensors[i].data = NULL;
    }
    int64_t did = 0;
    put(cat, d, NULL, 0, &did);
    int64_t blobs = count_rows(cat, "blobs");

    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    int64_t adapters = count_rows(cat, "adapters");
    /* no data and no blob: the error names the tensor, and nothing of it stays */
    lsc_adapter *b = make_adapter("b", 4);
    free(b->tensors[3].data);
    b->tensors[3].data = NULL;
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, b, NULL, 0, NULL, &err), LSC_ERR_INVALID);
    ck_assert_str_eq(err.msg, "tensor 'conv_in.lora_A': no data and no stored bytes in the catalog");
    ck_assert_int_eq(count_rows(cat, "adapters"), adapters);
    ck_assert_int_eq(count_rows(cat, "blobs"), blobs); /* the three blobs stored before were undone */
    lsc_adapter_free(b);
    /* data that does not match the hash it claims */
    b = make_adapter("b", 4);
    memcpy(b->tensors[1].hash, a->tensors[1].hash, LSC_HASH_HEX);
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, b, NULL, 0, NULL, &err), LSC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "does not match its hash"));
    lsc_adapter_free(b);
    /* an unknown parent */
    b = make_adapter("b", 4);
    int64_t bad = did + 1000;
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, b, &bad, 1, NULL, &err), LSC_ERR_NOTFOUND);
    /* a tensor index out of range, an empty name */
    b->layers[1].te = 99;
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, b, NULL, 0, NULL, &err), LSC_ERR_INVALID);
    b->layers[1].te = -1;
    free(b->name);
    b->name = strdup("");
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, b, NULL, 0, NULL, &err), LSC_ERR_INVALID);
    /* the name clash */
    free(b->name);
    b->name = strdup("a");
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, b, NULL, 0, NULL, &err), LSC_ERR_EXISTS);
    ck_assert_str_eq(err.msg, "adapter 'a' already exists");
    /* the transaction is still usable after the failures */
    free(b->name);
    b->name = strdup("b");
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, b, NULL, 0, NULL, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);
    ck_assert_int_eq(count_rows(cat, "adapters"), adapters + 1);
    lsc_adapter_free(b);
    lsc_adapter_free(d);
    lsc_adapter_free(a);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

START_TEST(test_blob_dedup)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_adapter *a = make_adapter("a", 11), *b = make_adapter("b", 12);
    /* b shares a's first A tensor bytes and its score head */
    memcpy(b->tensors[0].data, a->tensors[0].data, a->tensors[0].nbytes);
    memcpy(b->tensors[8].data, a->tensors[8].data, a->tensors[8].nbytes);
    put(cat, a, NULL, 0, NULL);
    put(cat, b, NULL, 0, NULL);
    /* distinct byte strings, counted independently */
    size_t distinct = 0;
    for (size_t k = 0; k < a->n_tensors + b->n_tensors; k++) {
        const lsc_tensor *x = k < a->n_tensors ? &a->tensors[k] : &b->tensors[k - a->n_tensors];
        int seen = 0;
        for (size_t j = 0; j < k && !seen; j++) {
            const lsc_tensor *y = j < a->n_tensors ? &a->tensors[j] : &b->tensors[j - a->n_tensors];
            seen = x->nbytes == y->nbytes && (x->nbytes == 0 || memcmp(x->data, y->data, x->nbytes) == 0);
        }
        distinct += !seen;
    }
    ck_assert_uint_eq(distinct, 2 * a->n_tensors - 3); /* A, the head and the empty tensor */
    ck_assert_int_eq(count_rows(cat, "blobs"), (int64_t)distinct);
    ck_assert_int_eq(count_rows(cat, "tensors"), (int64_t)(2 * a->n_tensors));
    /* the same content under a third name: no new blob, find_content names the first */
    lsc_adapter *c = make_adapter("c", 11);
    put(cat, c, NULL, 0, NULL);
    ck_assert_int_eq(count_rows(cat, "blobs"), (int64_t)distinct);
    char content[LSC_HASH_HEX], *name = NULL;
    lsc_hash_adapter(c, content);
    ck_assert_int_eq(lsc_catalog_find_content(cat, content, &name, &err), LSC_OK);
    ck_assert_str_eq(name, "a");
    free(name);
    /* put_blob checks the hash */
    char h[LSC_HASH_HEX];
    lsc_hash_bytes("xyz", 3, h);
    ck_assert_int_eq(lsc_catalog_put_blob(cat, h, "xyw", 3, &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_catalog_put_blob(cat, h, "xyz", 3, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_put_blob(cat, h, "xyz", 3, &err), LSC_OK);
    ck_assert_int_eq(count_rows(cat, "blobs"), (int64_t)distinct + 1);
    lsc_adapter_free(a);
    lsc_adapter_free(b);
    lsc_adapter_free(c);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

START_TEST(test_transactions)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_ERR_INVALID);
    lsc_catalog_rollback(cat); /* nothing to roll back: no effect */
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    ck_assert(lsc_catalog_in_transaction(cat));
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_ERR_INVALID);
    lsc_adapter *a = make_adapter("a", 5);
    int64_t id = 0;
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, a, NULL, 0, &id, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_log(cat, "import", "[\"a\"]", NULL, 0, &id, 1, NULL, &err), LSC_OK);
    ck_assert_int_eq(count_rows(cat, "adapters"), 1);
    lsc_catalog_rollback(cat);
    ck_assert(!lsc_catalog_in_transaction(cat));
    const char *tables[] = {"adapters", "blobs", "layers", "tensors", "adapter_parents", "history", "history_io"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        ck_assert_int_eq(count_rows(cat, tables[i]), 0);
    /* close with an open transaction rolls it back */
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, a, NULL, 0, &id, &err), LSC_OK);
    lsc_catalog_close(cat);
    ck_assert_int_eq(lsc_catalog_open(t.path, 0, &cat, &err), LSC_OK);
    ck_assert_int_eq(count_rows(cat, "adapters"), 0);
    lsc_catalog_close(cat);
    lsc_adapter_free(a);
    rm_rf(t.dir);
}
END_TEST

/* An edit streams its output: each layer's tensors go into the open transaction as soon as computed
 * and leave memory; the adapter's rows come last. Rolled back, nothing stays; committed, the adapter
 * reads back byte for byte. Outside a transaction, or for a layer out of range, nothing happens. */
START_TEST(test_put_layer_data)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_adapter *want = make_adapter("s", 31);
    for (size_t i = 0; i < want->n_tensors; i++)
        lsc_hash_tensor(&want->tensors[i]);
    for (int keep = 0; keep < 2; keep++) {
        lsc_adapter *a = make_adapter("s", 31);
        ck_assert_int_eq(lsc_catalog_put_layer_data(cat, a, 0, &err), LSC_ERR_INVALID);
        ck_assert_ptr_nonnull(a->tensors[a->layers[0].ta].data);
        ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
        ck_assert_int_eq(lsc_catalog_put_layer_data(cat, a, a->n_layers, &err), LSC_ERR_INVALID);
        for (size_t li = 0; li < a->n_layers; li++) {
            int64_t before = count_rows(cat, "blobs");
            ck_assert_int_eq(lsc_catalog_put_layer_data(cat, a, li, &err), LSC_OK);
            ck_assert_int_gt(count_rows(cat, "blobs"), before);
            for (size_t i = 0; i < a->n_tensors; i++)
                if (a->tensors[i].layer == (int)li) {
                    ck_assert_ptr_null(a->tensors[i].data);
                    ck_assert_str_eq(a->tensors[i].hash, want->tensors[i].hash);
                } else if (a->tensors[i].layer > (int)li) {
                    ck_assert_ptr_nonnull(a->tensors[i].data); /* later layers untouched */
                }
        }
        if (!keep) {
            lsc_catalog_rollback(cat);
            ck_assert_int_eq(count_rows(cat, "blobs"), 0);
            lsc_adapter_free(a);
            continue;
        }
        ck_assert_int_eq(lsc_catalog_put_adapter(cat, a, NULL, 0, NULL, &err), LSC_OK);
        ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);
        lsc_adapter *got = NULL;
        ck_assert_int_eq(lsc_catalog_get_adapter(cat, "s", &got, &err), LSC_OK);
        assert_same_adapter(got, want);
        lsc_adapter_free(got);
        lsc_adapter_free(a);
    }
    lsc_adapter_free(want);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

START_TEST(test_hide_rename)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_adapter *a1 = make_adapter("a", 1), *a2 = make_adapter("a", 2);
    int64_t id1 = 0, id2 = 0, fid = 0;
    put(cat, a1, NULL, 0, &id1);
    ck_assert_int_eq(lsc_catalog_set_hidden(cat, id1, 1, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_find(cat, "a", &fid, &err), LSC_ERR_NOTFOUND);
    lsc_adapter_info *list = NULL;
    size_t n = 9;
    ck_assert_int_eq(lsc_catalog_list(cat, &list, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 0);
    lsc_adapter_info_free_array(list, n);
    /* the hidden one keeps its rows and blobs */
    lsc_adapter *got = NULL;
    ck_assert_int_eq(lsc_catalog_get_adapter_by_id(cat, id1, &got, &err), LSC_OK);
    assert_same_adapter(got, a1);
    lsc_adapter_free(got);
    /* its name is free again */
    put(cat, a2, NULL, 0, &id2);
    ck_assert_int_eq(lsc_catalog_set_hidden(cat, id1, 0, &err), LSC_ERR_EXISTS);
    ck_assert_str_eq(err.msg, "adapter 'a' already exists");
    ck_assert_int_eq(lsc_catalog_rename(cat, "a", "b", &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_find(cat, "b", &fid, &err), LSC_OK);
    ck_assert_int_eq(fid, id2);
    ck_assert_int_eq(lsc_catalog_set_hidden(cat, id1, 0, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_find(cat, "a", &fid, &err), LSC_OK);
    ck_assert_int_eq(fid, id1);
    /* rename rejections */
    ck_assert_int_eq(lsc_catalog_rename(cat, "a", "b", &err), LSC_ERR_EXISTS);
    ck_assert_str_eq(err.msg, "adapter 'b' already exists");
    ck_assert_int_eq(lsc_catalog_rename(cat, "zz", "c", &err), LSC_ERR_NOTFOUND);
    ck_assert_int_eq(lsc_catalog_rename(cat, "a", "", &err), LSC_ERR_INVALID);
    ck_assert_int_eq(lsc_catalog_rename(cat, "a", "a", &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_set_hidden(cat, id2 + 50, 1, &err), LSC_ERR_NOTFOUND);
    ck_assert_int_eq(lsc_catalog_list(cat, &list, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[0].name, "a");
    ck_assert_str_eq(list[1].name, "b");
    lsc_adapter_info_free_array(list, n);
    lsc_adapter_free(a1);
    lsc_adapter_free(a2);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

/* One figure of adapter `id` by the per-adapter SQL the listing used before it scanned the tables once
 * (the independent reference); text in buf ("" for NULL). */
static const char *ref_figure(lsc_catalog *cat, const char *sql, int64_t id, char *buf, size_t cap)
{
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(lsc_catalog_db(cat), sql, -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_int64(s, 1, id);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(s, 0);
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
    sqlite3_finalize(s);
    return buf;
}

/* lsc_catalog_list's layer counts, params, bytes, dtypes and parents, gathered in one pass over the
 * tables, agree with per-adapter queries for every visible adapter; hidden adapters' rows (between
 * visible ones by id) are left out; the dtypes of make_adapter's factors are worked by hand. */
START_TEST(test_list_figures)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_adapter *ads[4] = {make_adapter("c", 1), make_adapter("h", 2), make_adapter("d", 3), make_adapter("a", 4)};
    int64_t ids[4] = {0};
    put(cat, ads[0], NULL, 0, &ids[0]);
    put(cat, ads[1], NULL, 0, &ids[1]);
    put(cat, ads[2], ids, 1, &ids[2]);
    /* "a": its A and B factors relabelled F16 (the first bytes of each kept), so its dtypes differ */
    lsc_adapter *a = ads[3];
    for (size_t i = 0; i < a->n_tensors; i++)
        if (a->tensors[i].role == LSC_ROLE_A || a->tensors[i].role == LSC_ROLE_B) {
            a->tensors[i].nbytes = a->tensors[i].nbytes / lsc_dtype_size(a->tensors[i].dtype) * 2;
            a->tensors[i].dtype = LSC_DT_F16;
        }
    const int64_t p2[2] = {ids[2], ids[0]};
    put(cat, a, p2, 2, &ids[3]);
    ck_assert_int_eq(lsc_catalog_set_hidden(cat, ids[1], 1, &err), LSC_OK);
    lsc_adapter_info *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(lsc_catalog_list(cat, &list, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(list[0].name, "a");
    ck_assert_str_eq(list[1].name, "c");
    ck_assert_str_eq(list[2].name, "d");
    /* c: A F32, B BF16, B F16, A F64, E F32, magnitude F32 (alpha I64 and the extras are not factors) */
    ck_assert_str_eq(list[1].dtypes, "BF16,F16,F32,F64");
    ck_assert_str_eq(list[0].parents, "d,c");
    ck_assert_str_eq(list[0].dtypes, "F16,F32"); /* E and magnitude stay F32 */
    static const char *const q[5] = {
        "SELECT count(*) FROM layers l WHERE l.adapter_id = ?1",
        "SELECT coalesce(sum(t.numel), 0) FROM tensors t WHERE t.adapter_id = ?1 "
        "AND t.role IN ('A', 'B', 'E', 'magnitude', 'factor')",
        "SELECT coalesce(sum(t.nbytes), 0) FROM tensors t WHERE t.adapter_id = ?1",
        "SELECT group_concat(p.name, ',') FROM (SELECT pa.name AS name FROM adapter_parents ap "
        "JOIN adapters pa ON pa.id = ap.parent_id WHERE ap.child_id = ?1 ORDER BY ap.ord) p",
        "SELECT group_concat(d.dtype, ',') FROM (SELECT DISTINCT t.dtype AS dtype FROM tensors t "
        "WHERE t.adapter_id = ?1 AND t.role IN ('A', 'B', 'E', 'magnitude', 'factor') ORDER BY t.dtype) d"};
    for (size_t i = 0; i < n; i++) {
        char buf[256], mine[64];
        const lsc_adapter_info *in = &list[i];
        snprintf(mine, sizeof mine, "%lld", (long long)in->n_layers);
        ck_assert_str_eq(mine, ref_figure(cat, q[0], in->id, buf, sizeof buf));
        snprintf(mine, sizeof mine, "%lld", (long long)in->params);
        ck_assert_str_eq(mine, ref_figure(cat, q[1], in->id, buf, sizeof buf));
        snprintf(mine, sizeof mine, "%lld", (long long)in->bytes);
        ck_assert_str_eq(mine, ref_figure(cat, q[2], in->id, buf, sizeof buf));
        ck_assert_str_eq(in->parents, ref_figure(cat, q[3], in->id, buf, sizeof buf));
        ck_assert_str_eq(in->dtypes, ref_figure(cat, q[4], in->id, buf, sizeof buf));
    }
    lsc_adapter_info_free_array(list, n);
    for (int i = 0; i < 4; i++)
        lsc_adapter_free(ads[i]);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

START_TEST(test_children)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_adapter *p1 = make_adapter("p1", 1), *p2 = make_adapter("p2", 2), *m = make_adapter("merged", 3),
                *r = make_adapter("resized", 4);
    int64_t id1, id2, idm, idr;
    put(cat, p1, NULL, 0, &id1);
    put(cat, p2, NULL, 0, &id2);
    int64_t parents[2];
    parents[0] = id2;
    parents[1] = id1;
    put(cat, m, parents, 2, &idm);
    put(cat, r, &id1, 1, &idr);
    char **names = NULL;
    size_t n = 0;
    ck_assert_int_eq(lsc_catalog_children(cat, id1, &names, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(names[0], "merged");
    ck_assert_str_eq(names[1], "resized");
    free_names(names, n);
    ck_assert_int_eq(lsc_catalog_children(cat, idm, &names, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 0);
    free_names(names, n);
    /* parents listed in the order given */
    lsc_adapter_info *list = NULL;
    ck_assert_int_eq(lsc_catalog_list(cat, &list, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(list[0].name, "merged");
    ck_assert_str_eq(list[0].parents, "p2,p1");
    ck_assert_str_eq(list[3].name, "resized");
    ck_assert_str_eq(list[3].parents, "p1");
    lsc_adapter_info_free_array(list, n);
    /* hidden children are not listed */
    ck_assert_int_eq(lsc_catalog_set_hidden(cat, idr, 1, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_children(cat, id1, &names, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(names[0], "merged");
    free_names(names, n);
    lsc_adapter_free(p1);
    lsc_adapter_free(p2);
    lsc_adapter_free(m);
    lsc_adapter_free(r);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

/* Series (schema 3): members recorded in the order given with their steps and labels, read back with
 * their current names; set_series needs a transaction; a visible series is a child of its members (rm
 * names it); an adapter that is not a series has no members. */
START_TEST(test_series)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_adapter *c1 = make_adapter("run@10", 11), *c2 = make_adapter("run@20", 12), *sr = lsc_adapter_new();
    sr->name = strdup("run");
    lsc_adapter_set_kind(sr, LSC_KIND_SERIES, NULL);
    int64_t id1, id2, ids;
    put(cat, c1, NULL, 0, &id1);
    put(cat, c2, NULL, 0, &id2);
    put(cat, sr, NULL, 0, &ids);
    lsc_series_entry e[2] = {{10, "10", id1, NULL}, {25, "final", id2, NULL}};
    ck_assert_int_eq(lsc_catalog_set_series(cat, ids, e, 2, &err), LSC_ERR_INVALID); /* no transaction */
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_set_series(cat, ids, e, 2, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_rename(cat, "run@20", "run@last", &err), LSC_OK);
    lsc_series_entry *got = NULL;
    size_t n = 0;
    ck_assert_int_eq(lsc_catalog_get_series(cat, ids, &got, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(got[0].step, 10);
    ck_assert_str_eq(got[0].label, "10");
    ck_assert_str_eq(got[0].member, "run@10");
    ck_assert_int_eq(got[1].step, 25);
    ck_assert_str_eq(got[1].label, "final");
    ck_assert_int_eq(got[1].member_id, id2);
    ck_assert_str_eq(got[1].member, "run@last");
    lsc_series_entries_free(got, n);
    ck_assert_int_eq(lsc_catalog_get_series(cat, id1, &got, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 0);
    lsc_series_entries_free(got, n);
    char **names = NULL;
    ck_assert_int_eq(lsc_catalog_children(cat, id2, &names, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(names[0], "run");
    free_names(names, n);
    ck_assert_int_eq(lsc_catalog_set_hidden(cat, ids, 1, &err), LSC_OK); /* a hidden series holds nothing */
    ck_assert_int_eq(lsc_catalog_children(cat, id2, &names, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 0);
    free_names(names, n);
    lsc_adapter_free(c1);
    lsc_adapter_free(c2);
    lsc_adapter_free(sr);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

/* ---- statistics cache ------------------------------------------------------------------------------- */

START_TEST(test_stats)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    lsc_adapter *a = make_adapter("a", 9);
    put(cat, a, NULL, 0, NULL);

    /* keys: stable through the catalog, different per layer, sensitive to scale and dtype */
    char k0[LSC_HASH_HEX], k1[LSC_HASH_HEX], kx[LSC_HASH_HEX];
    lsc_catalog_stats_key(a, 0, k0);
    lsc_catalog_stats_key(a, 1, k1);
    ck_assert_str_ne(k0, k1);
    lsc_adapter *got = NULL;
    ck_assert_int_eq(lsc_catalog_get_adapter(cat, "a", &got, &err), LSC_OK);
    lsc_catalog_stats_key(got, 0, kx);
    ck_assert_str_eq(k0, kx);
    got->layers[0].scale = nextafter(got->layers[0].scale, 1e9);
    lsc_catalog_stats_key(got, 0, kx);
    ck_assert_str_ne(k0, kx);
    got->layers[0].scale = a->layers[0].scale;
    got->tensors[got->layers[0].ta].dtype = LSC_DT_I32;
    lsc_catalog_stats_key(got, 0, kx);
    ck_assert_str_ne(k0, kx);
    lsc_adapter_free(got);

    double sv[4] = {3.5, 1.0 / 3.0, 4.9e-324, -0.0};
    lsc_layer_stats s = {0};
    s.n_sv = 4;
    s.sv = sv;
    s.fro = sqrt(2.0);
    s.spectral = 3.5;
    s.nuclear = NAN;
    s.stable_rank = INFINITY;
    s.effective_rank = -0.0;
    s.energy_rank_90 = 2;
    s.energy_rank_99 = 3;
    s.numerical_rank = 4;
    s.norm_a = 0.1;
    s.norm_b = -INFINITY;
    s.balance = 1e300;
    s.zeros_a = 0.25;
    s.zeros_b = 2.2250738585072014e-308;
    s.near_zeros_a = 0.5;
    s.near_zeros_b = 0.75;
    s.nonfinite_a = 7;
    s.nonfinite_b = (int64_t)1 << 40;
    s.flags = LSC_STATS_NONFINITE | LSC_STATS_ZERO;

    lsc_layer_stats out;
    memset(&out, 0xab, sizeof out);
    unsigned char untouched[sizeof out];
    memcpy(untouched, &out, sizeof out);
    int found = 1;
    ck_assert_int_eq(lsc_catalog_get_stats(cat, k0, &out, &found, &err), LSC_OK);
    ck_assert_int_eq(found, 0);
    ck_assert_int_eq(memcmp(&out, untouched, sizeof out), 0);

    ck_assert_int_eq(lsc_catalog_put_stats(cat, k0, &s, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_put_stats(cat, k0, &s, &err), LSC_OK); /* replacing is fine */
    ck_assert_int_eq(lsc_catalog_get_stats(cat, k0, &out, &found, &err), LSC_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(out.n_sv, 4);
    ck_assert_int_eq(memcmp(out.sv, sv, sizeof sv), 0);
    /* every field bit-exact: compare the structs with the pointer made equal */
    free(out.sv);
    out.sv = sv;
    lsc_layer_stats want = s;
    ck_assert(bits_eq(out.nuclear, want.nuclear) && bits_eq(out.effective_rank, want.effective_rank));
    ck_assert(bits_eq(out.fro, want.fro) && bits_eq(out.spectral, want.spectral));
    ck_assert(bits_eq(out.stable_rank, want.stable_rank) && bits_eq(out.norm_a, want.norm_a));
    ck_assert(bits_eq(out.norm_b, want.norm_b) && bits_eq(out.balance, want.balance));
    ck_assert(bits_eq(out.zeros_a, want.zeros_a) && bits_eq(out.zeros_b, want.zeros_b));
    ck_assert(bits_eq(out.near_zeros_a, want.near_zeros_a) && bits_eq(out.near_zeros_b, want.near_zeros_b));
    ck_assert_int_eq(out.energy_rank_90, 2);
    ck_assert_int_eq(out.energy_rank_99, 3);
    ck_assert_int_eq(out.numerical_rank, 4);
    ck_assert_int_eq(out.nonfinite_a, 7);
    ck_assert_int_eq(out.nonfinite_b, (int64_t)1 << 40);
    ck_assert_uint_eq(out.flags, LSC_STATS_NONFINITE | LSC_STATS_ZERO);

    /* a zero layer with no singular values */
    lsc_layer_stats z = {0};
    ck_assert_int_eq(lsc_catalog_put_stats(cat, k1, &z, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_get_stats(cat, k1, &out, &found, &err), LSC_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(out.n_sv, 0);
    ck_assert_ptr_null(out.sv);
    z.n_sv = 3; /* sv missing */
    ck_assert_int_eq(lsc_catalog_put_stats(cat, k1, &z, &err), LSC_ERR_INVALID);
    lsc_adapter_free(a);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

/* ---- history ---------------------------------------------------------------------------------------- */

START_TEST(test_history)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_log(cat, "import", "[]", NULL, 0, NULL, 0, NULL, &err), LSC_ERR_INVALID);
    lsc_adapter *a = make_adapter("a", 1), *b = make_adapter("b", 2), *m = make_adapter("m", 3);
    int64_t ia, ib, im, h1, h2, h3, h4;
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, a, NULL, 0, &ia, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_log(cat, "import", "[\"a.safetensors\"]", NULL, 0, &ia, 1, &h1, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, b, NULL, 0, &ib, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_log(cat, "import", NULL, NULL, 0, &ib, 1, &h2, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);
    int64_t ins[2];
    ins[0] = ib;
    ins[1] = ia;
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_put_adapter(cat, m, ins, 2, &im, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_log(cat, "merge", "[\"b\",\"a\",\"-o\",\"m\"]", ins, 2, &im, 1, &h3, &err),
                     LSC_OK);
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_set_hidden(cat, ia, 1, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_log(cat, "rm", "[\"a\"]", &ia, 1, NULL, 0, &h4, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);

    lsc_history_entry *h = NULL;
    size_t n = 0;
    ck_assert_int_eq(lsc_catalog_history(cat, NULL, &h, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(h[0].id, h4); /* newest first */
    ck_assert_int_eq(h[3].id, h1);
    ck_assert_str_eq(h[1].command, "merge");
    ck_assert_str_eq(h[1].args_json, "[\"b\",\"a\",\"-o\",\"m\"]");
    ck_assert_str_eq(h[1].inputs, "b,a");
    ck_assert_str_eq(h[1].outputs, "m");
    ck_assert_uint_eq(h[1].n_inputs, 2);
    ck_assert_int_eq(h[1].input_ids[0], ib);
    ck_assert_int_eq(h[1].input_ids[1], ia);
    ck_assert_uint_eq(h[1].n_outputs, 1);
    ck_assert_int_eq(h[1].output_ids[0], im);
    ck_assert_str_eq(h[2].args_json, "[]");
    ck_assert_str_eq(h[2].inputs, "");
    ck_assert_str_eq(h[0].outputs, "");
    ck_assert_int_eq(h[0].undone, 0);
    ck_assert_int_le(h[0].time, (int64_t)time(NULL));
    ck_assert_int_gt(h[0].time, 1600000000);
    lsc_history_free_array(h, n);

    /* by name: "a" is hidden now and still found; "b" was written once and read once */
    ck_assert_int_eq(lsc_catalog_history(cat, "a", &h, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(h[0].id, h4);
    ck_assert_int_eq(h[1].id, h3);
    ck_assert_int_eq(h[2].id, h1);
    lsc_history_free_array(h, n);
    ck_assert_int_eq(lsc_catalog_history(cat, "b", &h, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(h[0].id, h3);
    ck_assert_int_eq(h[1].id, h2);
    lsc_history_free_array(h, n);
    ck_assert_int_eq(lsc_catalog_history(cat, "nobody", &h, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 0);
    lsc_history_free_array(h, n);

    ck_assert_int_eq(lsc_catalog_set_undone(cat, h4, 1, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_set_undone(cat, h4 + 10, 1, &err), LSC_ERR_NOTFOUND);
    ck_assert_int_eq(lsc_catalog_history(cat, "m", &h, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(h[0].undone, 0);
    lsc_history_free_array(h, n);
    ck_assert_int_eq(lsc_catalog_history(cat, NULL, &h, &n, &err), LSC_OK);
    ck_assert_int_eq(h[0].undone, 1);
    lsc_history_free_array(h, n);
    ck_assert_int_eq(lsc_catalog_set_undone(cat, h4, 0, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_history(cat, NULL, &h, &n, &err), LSC_OK);
    ck_assert_int_eq(h[0].undone, 0);
    lsc_history_free_array(h, n);
    lsc_adapter_free(a);
    lsc_adapter_free(b);
    lsc_adapter_free(m);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

/* ---- two connections -------------------------------------------------------------------------------- */

typedef struct {
    const char *path;
    atomic_int started;
    lsc_status begin_status;
    size_t seen;
    char msg[LSC_ERROR_MSG_MAX];
} second_writer;

/* Rows all prepared statements of the connection stepped through in full table scans so far. */
static int64_t fullscan_steps(lsc_catalog *cat)
{
    int64_t sum = 0;
    for (sqlite3_stmt *s = sqlite3_next_stmt(lsc_catalog_db(cat), NULL); s; s = sqlite3_next_stmt(lsc_catalog_db(cat), s))
        sum += sqlite3_stmt_status(s, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
    return sum;
}

static int64_t log_one(lsc_catalog *cat, const char *what)
{
    lsc_error err = {0};
    int64_t hid = 0;
    ck_assert_int_eq(lsc_catalog_log(cat, what, "[]", NULL, 0, NULL, 0, &hid, &err), LSC_OK);
    return hid;
}

/* Whether the history still holds an entry of command `what` (ids are reused once the newest entry is
 * discarded, commands here are unique), and its undone flag in *undone. */
static int history_has(lsc_catalog *cat, const char *what, int *undone)
{
    lsc_history_entry *h = NULL;
    size_t n = 0;
    lsc_error err = {0};
    int found = 0;
    ck_assert_int_eq(lsc_catalog_history(cat, NULL, &h, &n, &err), LSC_OK);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(h[i].command, what)) {
            found = 1;
            *undone = h[i].undone;
        }
    lsc_history_free_array(h, n);
    return found;
}

/* Many entries in one transaction (a script run) scan the history for the redo stack once, not once per
 * entry (that made a run of N edits read N^2/2 history rows); and the redo stack is still discarded
 * whenever an entry may have become undone again: set undone in the same transaction, or brought back by
 * a savepoint rolled back. */
START_TEST(test_history_scan_once)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    int undone = 0;
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &cat, &err), LSC_OK);
    enum { M = 30, K = 60 };
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    for (int i = 0; i < M; i++)
        log_one(cat, "import");
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    int64_t before = fullscan_steps(cat);
    for (int i = 0; i < K; i++)
        log_one(cat, "prune");
    int64_t steps = fullscan_steps(cat) - before;
    /* one scan over the M entries there before; per entry it was K * M + K * K / 2 = 3,600 rows */
    ck_assert_msg(steps <= M + 1, "%lld history rows scanned for %d entries", (long long)steps, K);
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);

    /* undone in the same transaction: the next entry discards it */
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    int64_t e1 = log_one(cat, "a");
    ck_assert_int_eq(lsc_catalog_set_undone(cat, e1, 1, &err), LSC_OK);
    ck_assert(history_has(cat, "a", &undone) && undone == 1);
    log_one(cat, "b");
    ck_assert(!history_has(cat, "a", &undone));
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);

    /* a savepoint rolled back brings a discarded undone entry back: the next entry discards it again */
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    int64_t e2 = log_one(cat, "c");
    ck_assert_int_eq(lsc_catalog_set_undone(cat, e2, 1, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_savepoint(cat, &err), LSC_OK);
    log_one(cat, "d");
    ck_assert(!history_has(cat, "c", &undone));
    ck_assert_int_eq(lsc_catalog_savepoint_end(cat, 0, &err), LSC_OK);
    ck_assert(history_has(cat, "c", &undone) && undone == 1);
    log_one(cat, "e");
    ck_assert(!history_has(cat, "c", &undone));
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);

    /* undone by an earlier transaction: the next transaction's first entry discards it */
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    int64_t e3 = log_one(cat, "f");
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_set_undone(cat, e3, 1, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_begin(cat, &err), LSC_OK);
    log_one(cat, "g");
    ck_assert(!history_has(cat, "f", &undone));
    ck_assert_int_eq(lsc_catalog_commit(cat, &err), LSC_OK);
    lsc_catalog_close(cat);
    rm_rf(t.dir);
}
END_TEST

static void *second_writer_run(void *p)
{
    second_writer *w = p;
    lsc_catalog *cat = NULL;
    lsc_error err = {0};
    w->begin_status = lsc_catalog_open(w->path, 0, &cat, &err);
    if (w->begin_status == LSC_OK) {
        atomic_store(&w->started, 1);
        w->begin_status = lsc_catalog_begin(cat, &err); /* waits for the first writer */
        if (w->begin_status == LSC_OK) {
            lsc_adapter_info *list = NULL;
            if (lsc_catalog_list(cat, &list, &w->seen, &err) == LSC_OK)
                lsc_adapter_info_free_array(list, w->seen);
            lsc_catalog_rollback(cat);
        }
    }
    atomic_store(&w->started, 1);
    snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    lsc_catalog_close(cat);
    return NULL;
}

START_TEST(test_two_connections)
{
    tmp_cat t;
    tmp_init(&t);
    lsc_catalog *c1 = NULL, *c2 = NULL;
    lsc_error err = {0};
    ck_assert_int_eq(lsc_catalog_open(t.path, LSC_CATALOG_CREATE, &c1, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_open(t.path, 0, &c2, &err), LSC_OK);
    lsc_adapter *a = make_adapter("a", 1), *b = make_adapter("b", 2);
    put(c1, a, NULL, 0, NULL);

    ck_assert_int_eq(lsc_catalog_begin(c1, &err), LSC_OK);
    ck_assert_int_eq(lsc_catalog_put_adapter(c1, b, NULL, 0, NULL, &err), LSC_OK);
    /* the reader sees the committed state only, and can load tensor bytes meanwhile */
    lsc_adapter_info *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(lsc_catalog_list(c2, &list, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].name, "a");
    lsc_adapter_info_free_array(list, n);
    int64_t id;
    ck_assert_int_eq(lsc_catalog_find(c2, "b", &id, &err), LSC_ERR_NOTFOUND);
    lsc_adapter *got = NULL;
    ck_assert_int_eq(lsc_catalog_get_adapter(c2, "a", &got, &err), LSC_OK);
    assert_same_adapter(got, a);
    lsc_adapter_free(got);

    /* a second writer waits for the first instead of failing */
    second_writer w = {.path = t.path, .started = 0, .begin_status = LSC_ERR_INVALID, .seen = 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, second_writer_run, &w), 0);
    while (!atomic_load(&w.started)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    struct timespec hold = {0, 300000000}; /* let it reach the lock and wait on it */
    nanosleep(&hold, NULL);
    ck_assert_int_eq(lsc_catalog_commit(c1, &err), LSC_OK);
    pthread_join(th, NULL);
    ck_assert_msg(w.begin_status == LSC_OK, "second writer: %s", w.msg);
    ck_assert_uint_eq(w.seen, 2); /* it ran after the commit */

    ck_assert_int_eq(lsc_catalog_list(c2, &list, &n, &err), LSC_OK);
    ck_assert_uint_eq(n, 2);
    lsc_adapter_info_free_array(list, n);
    lsc_adapter_free(a);
    lsc_adapter_free(b);
    lsc_catalog_close(c2);
    lsc_catalog_close(c1);
    rm_rf(t.dir);
}
END_TEST

static Suite *catalog_suite(void)
{
    Suite *s = suite_create("catalog");
    TCase *tc = tcase_create("hash");
    tcase_add_test(tc, test_hash_bytes);
    tcase_add_test(tc, test_hash_stream);
    tcase_add_test(tc, test_hash_adapter);
    suite_add_tcase(s, tc);
    tc = tcase_create("open");
    tcase_add_test(tc, test_create_reopen);
    tcase_add_test(tc, test_default_path);
    tcase_add_test(tc, test_refuse_text);
    tcase_add_test(tc, test_refuse_foreign);
    tcase_add_test(tc, test_refuse_newer);
    tcase_add_test(tc, test_upgrade_steps);
    suite_add_tcase(s, tc);
    tc = tcase_create("adapters");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_put_rejections);
    tcase_add_test(tc, test_corrupt_rows);
    tcase_add_test(tc, test_blob_dedup);
    tcase_add_test(tc, test_transactions);
    tcase_add_test(tc, test_put_layer_data);
    tcase_add_test(tc, test_hide_rename);
    tcase_add_test(tc, test_list_figures);
    tcase_add_test(tc, test_children);
    tcase_add_test(tc, test_series);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_history);
    tcase_add_test(tc, test_history_scan_once);
    tcase_add_test(tc, test_two_connections);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(catalog_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
