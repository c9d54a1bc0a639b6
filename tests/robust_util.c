/* robust_util.c: see robust_util.h. Test support only. */
#include "rng.h"
#include "robust_util.h"

#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "hash.h"

int ru_write_adapter(const char *dir, uint32_t seed, int layers, int rank, int dim)
{
    char path[4300];
    mkdir(dir, 0755);
    size_t per = (size_t)rank * (size_t)dim, total = 2 * per * (size_t)layers;
    float *v = malloc(total * sizeof *v);
    size_t hcap = 256 + (size_t)layers * 400;
    char *h = malloc(hcap);
    if (!v || !h) {
        free(v);
        free(h);
        return -1;
    }
    lsc_rng g = {seed};
    for (size_t i = 0; i < total; i++)
        v[i] = (float)(lsc_rng_uniform(&g) - 0.5);
    size_t o = (size_t)snprintf(h, hcap, "{\"__metadata__\":{\"format\":\"pt\",\"seed\":\"%u\"}", seed);
    size_t off = 0, nb = per * sizeof(float);
    for (int l = 0; l < layers; l++) {
        o += (size_t)snprintf(h + o, hcap - o,
                              ",\"base_model.model.model.layers.%d.self_attn.q_proj.lora_A.weight\":{\"dtype\":\"F32\","
                              "\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}",
                              l, rank, dim, off, off + nb);
        off += nb;
        o += (size_t)snprintf(h + o, hcap - o,
                              ",\"base_model.model.model.layers.%d.self_attn.q_proj.lora_B.weight\":{\"dtype\":\"F32\","
                              "\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}",
                              l, dim, rank, off, off + nb);
        off += nb;
    }
    snprintf(h + o, hcap - o, "}");
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    int rc = cli_write_st(path, h, v, total * sizeof *v);
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             "{\"peft_type\":\"LORA\",\"r\":%d,\"lora_alpha\":%d,\"target_modules\":[\"q_proj\"],"
             "\"base_model_name_or_path\":\"robust/test\"}",
             rank, 2 * rank);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    if (!rc)
        rc = cli_write(path, cfg, strlen(cfg));
    free(v);
    free(h);
    return rc;
}

/* n bytes at `off` of the catalog's pack (DB-pack, store/pack.h), read straight from the file: malloc'ed,
 * NULL when the file is missing or shorter. */
static unsigned char *pack_bytes(const char *db_path, int64_t off, int64_t n)
{
    char p[4400];
    snprintf(p, sizeof p, "%s-pack", db_path);
    FILE *f = fopen(p, "rb");
    unsigned char *b = f && off >= 0 && n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && (fseeko(f, (off_t)off, SEEK_SET) != 0 || fread(b, 1, (size_t)n, f) != (size_t)n)) {
        free(b);
        b = NULL;
    }
    if (f)
        fclose(f);
    return b;
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, "unix") != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    return db;
}

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

static void strv_push(strv *s, char *x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = x;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append printf text to a growing string. */
static void cat_out(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void cat_out(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *piece = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    size_t n = strlen(piece);
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap)
            *cap = *cap ? 2 * *cap : 4096;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, piece, n + 1);
    *len += n;
    sqlite3_free(piece);
}

char *ru_dump(const char *db_path, char *why, size_t cap)
{
    sqlite3 *db = open_db(db_path);
    if (!db) {
        snprintf(why, cap, "cannot open '%s'", db_path);
        return NULL;
    }
    char *out = NULL;
    size_t len = 0, ocap = 0;
    sqlite3_stmt *s = NULL;
    static const char *const pragmas[] = {"PRAGMA application_id", "PRAGMA user_version"};
    for (int i = 0; i < 2; i++) {
        if (sqlite3_prepare_v2(db, pragmas[i], -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            cat_out(&out, &len, &ocap, "%s = %lld\n", pragmas[i], sqlite3_column_int64(s, 0));
        sqlite3_finalize(s);
    }
    strv tables = {0};
    if (sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master ORDER BY type, name", -1, &s, NULL) != SQLITE_OK) {
        snprintf(why, cap, "'%s': %s", db_path, sqlite3_errmsg(db));
        sqlite3_close(db);
        free(out);
        return NULL;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0), *sql = (const char *)sqlite3_column_text(s, 1);
        cat_out(&out, &len, &ocap, "schema %s: %s\n", name, sql ? sql : "");
        if (sql && strncmp(sql, "CREATE TABLE", 12) == 0)
            strv_push(&tables, strdup(name));
    }
    sqlite3_finalize(s);
    for (size_t t = 0; t < tables.n; t++) {
        char *q = sqlite3_mprintf("SELECT * FROM \"%w\"", tables.v[t]);
        strv rows = {0};
        if (sqlite3_prepare_v2(db, q, -1, &s, NULL) == SQLITE_OK) {
            while (sqlite3_step(s) == SQLITE_ROW) {
                char *r = NULL;
                size_t rl = 0, rc = 0;
                for (int c = 0; c < sqlite3_column_count(s); c++) {
                    int ty = sqlite3_column_type(s, c);
                    const char *col = sqlite3_column_name(s, c);
                    if (strcmp(col, "time") == 0 || strcmp(col, "created") == 0) {
                        cat_out(&r, &rl, &rc, "|T"); /* clocks differ between two runs of one edit */
                    } else if (strcmp(col, "pack_off") == 0 && ty != SQLITE_NULL) {
                        /* a packed blob: its bytes as they are in the pack, not where */
                        int64_t n = sqlite3_column_int64(s, 1);
                        unsigned char *b = pack_bytes(db_path, sqlite3_column_int64(s, c), n);
                        char hx[LSC_HASH_HEX] = "missing";
                        if (b)
                            lsc_hash_bytes(b, (size_t)n, hx);
                        free(b);
                        cat_out(&r, &rl, &rc, "|packed:%lld:%s", (long long)n, hx);
                    } else if (ty == SQLITE_BLOB) {
                        char hx[LSC_HASH_HEX];
                        int n = sqlite3_column_bytes(s, c);
                        lsc_hash_bytes(sqlite3_column_blob(s, c), (size_t)n, hx);
                        cat_out(&r, &rl, &rc, "|blob:%d:%s", n, hx);
                    } else if (ty == SQLITE_NULL) {
                        cat_out(&r, &rl, &rc, "|NULL");
                    } else {
                        cat_out(&r, &rl, &rc, "|%s", (const char *)sqlite3_column_text(s, c));
                    }
                }
                strv_push(&rows, r ? r : strdup("|"));
            }
        }
        sqlite3_finalize(s);
        sqlite3_free(q);
        if (rows.n)
            qsort(rows.v, rows.n, sizeof *rows.v, cmp_str);
        cat_out(&out, &len, &ocap, "table %s: %lld rows\n", tables.v[t], (long long)rows.n); /* sqlite printf: no %zu */
        for (size_t i = 0; i < rows.n; i++) {
            cat_out(&out, &len, &ocap, "%s\n", rows.v[i]);
            free(rows.v[i]);
        }
        free(rows.v);
        free(tables.v[t]);
    }
    free(tables.v);
    sqlite3_close(db);
    return out ? out : strdup("");
}

/* The first row's first column of `sql` as text into buf; 1 if there was a row. */
static int one_text(sqlite3 *db, const char *sql, char *buf, size_t cap)
{
    sqlite3_stmt *s = NULL;
    int got = 0;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        snprintf(buf, cap, "%s", t ? t : "NULL");
        got = 1;
    }
    sqlite3_finalize(s);
    return got;
}

/* Packed blobs (schema 6): inside the committed end, not overlapping, an empty inline `data`. 0 if so. */
static int check_pack_ranges(sqlite3 *db, char *why, size_t cap)
{
    char buf[512];
    if (!one_text(db, "SELECT name FROM sqlite_master WHERE name = 'pack'", buf, sizeof buf))
        return 0;
    static const struct {
        const char *sql, *what;
    } rules[] = {
        {"SELECT hash FROM blobs WHERE pack_off IS NOT NULL AND (pack_off < 0 OR length(data) <> 0 OR "
         "pack_off + size > (SELECT end_off FROM pack WHERE id = 1))",
         "packed blob outside the committed end of the pack"},
        {"SELECT hash FROM (SELECT hash, pack_off, max(pack_off + size) OVER (ORDER BY pack_off, hash "
         "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end "
         "FROM blobs WHERE pack_off IS NOT NULL) WHERE pack_off < prev_end",
         "packed blobs overlapping in the pack"},
        {"SELECT 'rows: ' || count(*) FROM pack HAVING count(*) <> 1", "pack table without exactly one row"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (one_text(db, rules[i].sql, buf, sizeof buf)) {
            snprintf(why, cap, "%s: %s", rules[i].what, buf);
            return 1;
        }
    return 0;
}

/* Every blob's bytes (inline, or read from the pack file) hash to its key and have its size. 0 if so. */
static int check_blobs(sqlite3 *db, const char *db_path, char *why, size_t cap)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT hash, size, data, pack_off FROM blobs", -1, &s, NULL) != SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT hash, size, data, NULL FROM blobs", -1, &s, NULL) != SQLITE_OK) {
        snprintf(why, cap, "cannot read blobs: %s", sqlite3_errmsg(db));
        return 1;
    }
    int bad = 0;
    while (!bad && sqlite3_step(s) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(s, 0);
        char key_copy[LSC_HASH_HEX + 8];
        snprintf(key_copy, sizeof key_copy, "%s", key ? key : "");
        int packed = sqlite3_column_type(s, 3) != SQLITE_NULL;
        int64_t size = sqlite3_column_int64(s, 1);
        unsigned char *from_pack = packed ? pack_bytes(db_path, sqlite3_column_int64(s, 3), size) : NULL;
        const void *data = packed ? from_pack : sqlite3_column_blob(s, 2);
        int64_t n = packed ? (from_pack ? size : -1) : sqlite3_column_bytes(s, 2);
        char hx[LSC_HASH_HEX] = "(missing from the pack)";
        if (n >= 0)
            lsc_hash_bytes(data, (size_t)n, hx);
        if (strcmp(hx, key_copy) != 0 || size != n) {
            snprintf(why, cap, "%sblob %s: %lld bytes hash to %s (size column %lld)", packed ? "packed " : "",
                     key_copy, (long long)n, hx, (long long)size);
            bad = 1;
        }
        free(from_pack);
    }
    sqlite3_finalize(s);
    return bad || check_pack_ranges(db, why, cap);
}

int ru_check_catalog(const char *db_path, int layers_each, char *why, size_t cap)
{
    sqlite3 *db = open_db(db_path);
    if (!db) {
        snprintf(why, cap, "cannot open '%s'", db_path);
        return 1;
    }
    char buf[512];
    int bad = 1;
    if (!one_text(db, "PRAGMA integrity_check", buf, sizeof buf) || strcmp(buf, "ok") != 0) {
        snprintf(why, cap, "integrity_check: %s", buf);
        goto out;
    }
    if (one_text(db, "PRAGMA foreign_key_check", buf, sizeof buf)) {
        snprintf(why, cap, "foreign key violation in table %s", buf);
        goto out;
    }
    if (!one_text(db, "SELECT name FROM sqlite_master WHERE name = 'blobs'", buf, sizeof buf)) {
        bad = 0; /* a blank file (a new catalog whose creation did not commit): nothing more to hold */
        goto out;
    }
    if (check_blobs(db, db_path, why, cap))
        goto out;
    static const struct {
        const char *sql, *what;
    } rules[] = {
        {"SELECT name FROM adapters a WHERE NOT EXISTS (SELECT 1 FROM layers l WHERE l.adapter_id = a.id)",
         "adapter without layers"},
        {"SELECT l.name FROM layers l WHERE l.t_a IS NULL OR l.t_b IS NULL OR NOT EXISTS (SELECT 1 FROM tensors t "
         "WHERE t.adapter_id = l.adapter_id AND t.ord = l.t_a) OR NOT EXISTS (SELECT 1 FROM tensors t WHERE "
         "t.adapter_id = l.adapter_id AND t.ord = l.t_b)",
         "layer without its A or B tensor"},
        {"SELECT t.key FROM tensors t WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = t.hash)",
         "tensor without its blob"},
        {"SELECT h.command || ' #' || h.id FROM history h JOIN history_io io ON io.history_id = h.id WHERE "
         "h.undone = 0 AND io.direction = 'out' AND NOT EXISTS (SELECT 1 FROM adapters a WHERE a.id = io.adapter_id)",
         "history entry whose output adapter is missing"},
        {"SELECT a.name FROM adapters a WHERE a.hidden = 0 AND NOT EXISTS (SELECT 1 FROM history_io io JOIN history "
         "h ON h.id = io.history_id WHERE io.adapter_id = a.id AND io.direction = 'out' AND h.undone = 0)",
         "visible adapter with no history entry"},
        {"SELECT h.command || ' #' || h.id FROM history h WHERE NOT EXISTS (SELECT 1 FROM history_io io WHERE "
         "io.history_id = h.id AND io.direction = 'out')",
         "history entry that wrote nothing"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (one_text(db, rules[i].sql, buf, sizeof buf)) {
            snprintf(why, cap, "%s: %s", rules[i].what, buf);
            goto out;
        }
    if (layers_each > 0) {
        char q[256];
        snprintf(q, sizeof q,
                 "SELECT a.name || ': ' || (SELECT count(*) FROM layers l WHERE l.adapter_id = a.id) FROM adapters a "
                 "WHERE (SELECT count(*) FROM layers l WHERE l.adapter_id = a.id) <> %d",
                 layers_each);
        if (one_text(db, q, buf, sizeof buf)) {
            snprintf(why, cap, "adapter with a wrong number of layers (expected %d): %s", layers_each, buf);
            goto out;
        }
        snprintf(q, sizeof q,
                 "SELECT a.name FROM adapters a WHERE (SELECT count(*) FROM tensors t WHERE t.adapter_id = a.id) <> %d",
                 2 * layers_each);
        if (one_text(db, q, buf, sizeof buf)) {
            snprintf(why, cap, "adapter with a wrong number of tensors: %s", buf);
            goto out;
        }
    }
    bad = 0;
out:
    sqlite3_close(db);
    return bad;
}

char *ru_visible_names(const char *db_path)
{
    sqlite3 *db = open_db(db_path);
    if (!db)
        return NULL;
    sqlite3_stmt *s = NULL;
    char *out = NULL;
    size_t len = 0, cap = 0;
    if (sqlite3_prepare_v2(db, "SELECT name FROM adapters WHERE hidden = 0 ORDER BY name", -1, &s, NULL) == SQLITE_OK) {
        while (sqlite3_step(s) == SQLITE_ROW)
            cat_out(&out, &len, &cap, "%s\n", (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out ? out : strdup("");
}

long ru_history_count(const char *db_path)
{
    sqlite3 *db = open_db(db_path);
    if (!db)
        return -1;
    char buf[64];
    long n = one_text(db, "SELECT count(*) FROM history", buf, sizeof buf) ? atol(buf) : -1;
    sqlite3_close(db);
    return n;
}
