/* check-history-model.c: the catalog's history against a model of it, under random command sequences.
 *
 * A property test: random sequences of import / prune / merge / rename / rm / undo / redo / run of a
 * script of several of them, which is one change for undo and redo (hundreds of
 * steps per seed, fixed seeds, tiny generated PEFT adapters) run in-process through lsc_dispatch, exactly
 * as the CLI runs them. Beside the catalog runs a model that knows nothing of SQLite: the visible
 * adapters as name -> content hash, and its own linear undo stack (every editor's model: a new change
 * discards what was undone; undo walks back, redo forward). The model predicts which commands fail
 * (a name taken, an adapter missing, nothing to undo or redo) and which change nothing (content already
 * present). After EVERY step the catalog's visible names and content hashes must equal the model's.
 *
 * Content hashes of results are learnt the first time a result is seen (import of file i, prune of hash
 * h, merge of hashes h1, h2) and must be the same every later time: the model checks that edits are
 * deterministic, and undo/redo must give back exactly the states it remembers. At the end, `log --script`
 * of the catalog replayed into a fresh catalog must rebuild it (same names, same content hashes).
 * Depends on the command layer (lsc_dispatch) and the catalog. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "cli_util.h"
#include "command.h"
#include "sink.h"
#include "test_rng.h"

#define POOL 6      /* generated adapter files */
#define NAMES 5     /* the names the random commands use: few, so that they collide */
#define MAXA 32     /* adapters visible at once (the model's bound) */
#define MAXSTACK 1024
#define MAXLEARN 512

static char *g_tmp;

/* ---- the model ------------------------------------------------------------------------------------- */

typedef struct state {
    int n;
    char name[MAXA][16];
    char hash[MAXA][LSC_HASH_HEX];
} state;

typedef struct model {
    state stack[MAXSTACK]; /* stack[0..top]: states after each change; stack[pos] is the current one */
    int pos, top;
    /* results learnt on first sight: key -> content hash */
    char key[MAXLEARN][96];
    char val[MAXLEARN][LSC_HASH_HEX];
    int n_learnt;
} model;

static const char *const g_names[NAMES] = {"a", "b", "c", "d", "e"};

static int st_find(const state *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0)
            return i;
    return -1;
}

static void st_del(state *s, int i)
{
    s->n--;
    if (i != s->n) {
        memcpy(s->name[i], s->name[s->n], sizeof s->name[i]);
        memcpy(s->hash[i], s->hash[s->n], sizeof s->hash[i]);
    }
}

static void st_add(state *s, const char *name, const char *hash)
{
    ck_assert_int_lt(s->n, MAXA);
    snprintf(s->name[s->n], sizeof s->name[0], "%s", name);
    memcpy(s->hash[s->n], hash, LSC_HASH_HEX);
    s->n++;
}

/* A new change: the redo part of the stack is dropped, the new state pushed. */
static void model_push(model *m, const state *next)
{
    ck_assert_int_lt(m->pos + 1, MAXSTACK);
    m->pos++;
    m->top = m->pos;
    m->stack[m->pos] = *next;
}

static const char *learnt(const model *m, const char *key)
{
    for (int i = 0; i < m->n_learnt; i++)
        if (strcmp(m->key[i], key) == 0)
            return m->val[i];
    return NULL;
}

static void learn(model *m, const char *key, const char *hash)
{
    const char *known = learnt(m, key);
    if (known) {
        ck_assert_msg(strcmp(known, hash) == 0, "%s gave %s, earlier %s: not deterministic", key, hash, known);
        return;
    }
    ck_assert_int_lt(m->n_learnt, MAXLEARN);
    snprintf(m->key[m->n_learnt], sizeof m->key[0], "%s", key);
    memcpy(m->val[m->n_learnt], hash, LSC_HASH_HEX);
    m->n_learnt++;
}

/* ---- the catalog ----------------------------------------------------------------------------------- */

static int dispatch(const char *cat, int argc, const char **argv, char *out, size_t cap)
{
    char *copy[16];
    for (int i = 0; i < argc && i < 15; i++)
        copy[i] = (char *)argv[i];
    copy[argc] = NULL;
    lsc_sink o, d;
    lsc_sink_init_mem(&o);
    lsc_sink_init_mem(&d);
    lsc_cmd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.catalog_path = cat;
    ctx.out = &o;
    ctx.diag = &d;
    int rc = lsc_dispatch(&ctx, argc, copy);
    if (out)
        snprintf(out, cap, "%s", rc ? ctx.err.msg : (o.buf ? o.buf : ""));
    lsc_sink_release(&o);
    lsc_sink_release(&d);
    return rc;
}

/* The visible adapters of the catalog, as a state. */
static void catalog_state(const char *cat, state *s)
{
    lsc_catalog *c = NULL;
    lsc_error err;
    memset(s, 0, sizeof *s);
    if (access(cat, F_OK) != 0)
        return; /* no catalog yet: nothing visible */
    ck_assert_msg(lsc_catalog_open(cat, LSC_CATALOG_READONLY, &c, &err) == LSC_OK, "%s", err.msg);
    lsc_adapter_info *a = NULL;
    size_t n = 0;
    ck_assert_int_eq(lsc_catalog_list(c, &a, &n, &err), LSC_OK);
    for (size_t i = 0; i < n; i++)
        st_add(s, a[i].name, a[i].content_hash);
    lsc_adapter_info_free_array(a, n);
    lsc_catalog_close(c);
}

/* Same names with the same hashes, in any order; else a message in why. */
static int same_state(const state *x, const state *y, char *why, size_t cap)
{
    if (x->n != y->n) {
        snprintf(why, cap, "%d adapters, the model has %d", x->n, y->n);
        return 0;
    }
    for (int i = 0; i < x->n; i++) {
        int j = st_find(y, x->name[i]);
        if (j < 0) {
            snprintf(why, cap, "'%s' is visible, the model does not have it", x->name[i]);
            return 0;
        }
        if (strcmp(x->hash[i], y->hash[j]) != 0) {
            snprintf(why, cap, "'%s' has content %.12s, the model %.12s", x->name[i], x->hash[i], y->hash[j]);
            return 0;
        }
    }
    return 1;
}

/* A tiny PEFT folder: two layers 8x8 of rank 2, F32, from the seeded generator. */
static void write_adapter(const char *dir, uint64_t seed)
{
    mkdir(dir, 0755);
    char p[4400];
    float data[2 * 2 * 16];
    rng_state = seed;
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++)
        data[i] = (float)gauss();
    const char *header =
        "{\"base_model.model.layers.0.q_proj.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[2,8],\"data_offsets\":[0,64]},"
        "\"base_model.model.layers.0.q_proj.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[8,2],\"data_offsets\":[64,128]},"
        "\"base_model.model.layers.1.q_proj.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[2,8],\"data_offsets\":[128,192]},"
        "\"base_model.model.layers.1.q_proj.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[8,2],\"data_offsets\":[192,256]}}";
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    ck_assert_int_eq(cli_write_st(p, header, data, sizeof data), 0);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"base_model_name_or_path\": \"tiny\"}";
    ck_assert_int_eq(cli_write(p, cfg, strlen(cfg)), 0);
}

/* ---- one random step --------------------------------------------------------------------------------- */

enum { OP_IMPORT, OP_PRUNE, OP_MERGE, OP_RENAME, OP_RM, OP_UNDO, OP_REDO, OP_RUN, OP_COUNT };

static const char *pick_name(void)
{
    return g_names[splitmix64() % NAMES];
}

/* An existing adapter's name most of the time, else any name. */
static const char *pick_source(const state *s)
{
    if (s->n > 0 && splitmix64() % 8 != 0)
        return s->name[splitmix64() % (uint64_t)s->n];
    return pick_name();
}

/* A script of two or three random prune / rename / rm lines, run as one change: the model applies the
 * lines in turn to a copy of the state; a line it predicts to fail (an adapter missing, a name taken)
 * fails the whole run, which leaves the catalog as it was. Prune results are learnt as in step(). */
static void step_run(model *m, const char *cat, const char *dir, char *what, size_t cap)
/* dir: at most 4300 bytes (run_seed's) */
{
    const state *cur = &m->stack[m->pos];
    state next = *cur;
    char text[1024] = "", script[4500], out[1024];
    const char *made[3] = {NULL, NULL, NULL};
    int lines = 2 + (int)(splitmix64() % 2), ok = 1;
    size_t len = 0;
    for (int l = 0; l < lines; l++) {
        int kind = (int)(splitmix64() % 3);
        char x[16]; /* a copy: st_del moves names within the state */
        snprintf(x, sizeof x, "%s", pick_source(&next));
        const char *y = pick_name();
        int ix = st_find(&next, x), iy = st_find(&next, y);
        if (kind == 0) {
            len += (size_t)snprintf(text + len, sizeof text - len, "prune %s --rank 1 --as %s\n", x, y);
            if (ix < 0 || iy >= 0)
                ok = 0;
            else {
                made[l] = y;
                st_add(&next, y, next.hash[ix]); /* the hash is a placeholder until the run is read back */
            }
        } else if (kind == 1) {
            len += (size_t)snprintf(text + len, sizeof text - len, "rename %s %s\n", x, y);
            if (ix < 0 || (iy >= 0 && strcmp(x, y) != 0))
                ok = 0;
            else {
                char h[LSC_HASH_HEX];
                memcpy(h, next.hash[ix], LSC_HASH_HEX);
                st_del(&next, ix);
                st_add(&next, y, h);
                for (int k = 0; k < l; k++) /* an output renamed on: learn it under its last name */
                    if (made[k] && strcmp(made[k], x) == 0)
                        made[k] = y;
            }
        } else {
            len += (size_t)snprintf(text + len, sizeof text - len, "rm %s --force\n", x);
            if (ix < 0)
                ok = 0;
            else {
                st_del(&next, ix);
                for (int k = 0; k < l; k++)
                    if (made[k] && strcmp(made[k], x) == 0)
                        made[k] = NULL;
            }
        }
    }
    snprintf(script, sizeof script, "%.4300s/step.lsc", dir);
    ck_assert_int_eq(cli_write(script, text, strlen(text)), 0);
    snprintf(what, cap, "run [%.*s]", (int)strcspn(text, "\0"), text);
    const char *argv[] = {"run", script};
    int rc = dispatch(cat, 2, argv, out, sizeof out);
    ck_assert_msg((rc == 0) == ok, "'%s': exit %d, the model expected %s: %s", what, rc, ok ? "success" : "a failure",
                  out);
    if (!ok)
        return;
    state now;
    catalog_state(cat, &now);
    for (int l = 0; l < lines; l++) { /* the outputs still visible: their content from the catalog */
        if (!made[l])
            continue;
        int i = st_find(&now, made[l]), j = st_find(&next, made[l]);
        ck_assert_msg(i >= 0 && j >= 0, "'%s': '%s' is not visible", what, made[l]);
        memcpy(next.hash[j], now.hash[i], LSC_HASH_HEX);
    }
    model_push(m, &next);
}

/* Run one random command, predict its outcome with the model and update the model. Returns the
 * command as text (for messages). */
static void step(model *m, const char *cat, char pool[POOL][4300], char *what, size_t cap)
{
    const state *cur = &m->stack[m->pos];
    state next = *cur;
    char out[1024], key[96];
    const char *argv[12];
    int argc = 0, op = (int)(splitmix64() % OP_COUNT), expect_ok = 1, changes = 1;
    const char *made = NULL, *learn_key = NULL;
    if (op == OP_RUN) {
        char dir[4300];
        snprintf(dir, sizeof dir, "%.4280s", cat);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        step_run(m, cat, dir, what, cap);
        return;
    }
    switch (op) {
    case OP_IMPORT: {
        int f = (int)(splitmix64() % POOL);
        made = pick_name();
        argv[argc++] = "import", argv[argc++] = pool[f], argv[argc++] = "--name", argv[argc++] = made;
        snprintf(key, sizeof key, "import %d", f);
        learn_key = key;
        const char *h = learnt(m, key);
        int at = st_find(cur, made);
        /* --name NEW makes NEW even over content stored under another name (issue #15, item 4); the
         * same content under the same name changes nothing; a name taken by other content is an error */
        if (at >= 0 && h && strcmp(cur->hash[at], h) == 0)
            changes = 0, made = NULL;
        else if (at >= 0)
            expect_ok = 0;
        break;
    }
    case OP_PRUNE:
    case OP_MERGE: {
        const char *x = pick_source(cur), *y = pick_source(cur);
        made = pick_name();
        int ix = st_find(cur, x), iy = st_find(cur, y);
        argv[argc++] = op == OP_PRUNE ? "prune" : "merge";
        argv[argc++] = x;
        if (op == OP_MERGE) {
            if (strcmp(x, y) == 0) /* two different adapters */
                y = strcmp(x, "a") == 0 ? "b" : "a", iy = st_find(cur, y);
            argv[argc++] = y, argv[argc++] = "--method", argv[argc++] = "linear";
        } else {
            argv[argc++] = "--rank", argv[argc++] = "1";
        }
        argv[argc++] = "--as", argv[argc++] = made;
        if (ix < 0 || (op == OP_MERGE && iy < 0) || st_find(cur, made) >= 0)
            expect_ok = 0;
        else {
            snprintf(key, sizeof key, "%s %.32s %.32s", argv[0], cur->hash[ix], op == OP_MERGE ? cur->hash[iy] : "");
            learn_key = key;
        }
        break;
    }
    case OP_RENAME: {
        const char *x = pick_source(cur);
        made = pick_name();
        argv[argc++] = "rename", argv[argc++] = x, argv[argc++] = made;
        int ix = st_find(cur, x);
        if (ix < 0 || (st_find(cur, made) >= 0 && strcmp(x, made) != 0))
            expect_ok = 0;
        else { /* a rename to its own name is a change that changes nothing, recorded all the same */
            st_add(&next, made, cur->hash[ix]);
            st_del(&next, ix);
            made = NULL;
        }
        break;
    }
    case OP_RM: {
        const char *x = pick_source(cur);
        argv[argc++] = "rm", argv[argc++] = x, argv[argc++] = "--force";
        int ix = st_find(cur, x);
        if (ix < 0)
            expect_ok = 0;
        else
            st_del(&next, ix);
        break;
    }
    default:
        argv[argc++] = op == OP_UNDO ? "undo" : "redo";
        expect_ok = op == OP_UNDO ? m->pos > 0 : m->pos < m->top;
        break;
    }
    size_t w = 0;
    for (int i = 0; i < argc; i++)
        w += (size_t)snprintf(what + w, w < cap ? cap - w : 0, "%s%s", i ? " " : "", argv[i]);
    int rc = dispatch(cat, argc, argv, out, sizeof out);
    ck_assert_msg((rc == 0) == expect_ok, "'%s': exit %d, the model expected %s: %s", what, rc,
                  expect_ok ? "success" : "a failure", out);
    if (!expect_ok || !changes)
        return;
    if (op == OP_UNDO) {
        m->pos--;
        return;
    }
    if (op == OP_REDO) {
        m->pos++;
        return;
    }
    if (made) {
        /* the new adapter's content: from the catalog, checked against what the same edit gave before */
        state now;
        catalog_state(cat, &now);
        int i = st_find(&now, made);
        ck_assert_msg(i >= 0, "'%s' succeeded but '%s' is not visible", what, made);
        if (learn_key)
            learn(m, learn_key, now.hash[i]);
        st_add(&next, made, now.hash[i]);
    }
    model_push(m, &next);
}

/* ---- the property ------------------------------------------------------------------------------------ */

static void replay_log_script(const char *cat, const char *dir)
{
    char script[4400], fresh[4400], out[1 << 16];
    const char *log[] = {"log", "--script"};
    lsc_sink o;
    lsc_sink_init_mem(&o);
    lsc_cmd_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    lsc_sink d;
    lsc_sink_init_null(&d);
    ctx.catalog_path = cat;
    ctx.out = &o;
    ctx.diag = &d;
    char *argv[] = {(char *)log[0], (char *)log[1], NULL};
    ck_assert_msg(lsc_dispatch(&ctx, 2, argv) == 0, "log --script: %s", ctx.err.msg);
    snprintf(script, sizeof script, "%s/replay.lsc", dir);
    ck_assert_int_eq(cli_write(script, o.buf ? o.buf : "", o.len), 0);
    lsc_sink_release(&o);
    snprintf(fresh, sizeof fresh, "%s/fresh.db", dir);
    const char *run[] = {"run", script};
    int rc = dispatch(fresh, 2, run, out, sizeof out);
    ck_assert_msg(rc == 0, "replaying log --script: %s", out);
    state a, b;
    char why[256];
    catalog_state(cat, &a);
    catalog_state(fresh, &b);
    ck_assert_msg(same_state(&b, &a, why, sizeof why), "the replayed catalog differs: %s", why);
}

static void run_seed(uint64_t seed, int steps)
{
    char dir[4200], cat[4400], pool[POOL][4300], what[512];
    snprintf(dir, sizeof dir, "%s/seed%llu", g_tmp, (unsigned long long)seed);
    mkdir(dir, 0755);
    for (int i = 0; i < POOL; i++) {
        snprintf(pool[i], sizeof pool[i], "%s/pool%d", dir, i);
        write_adapter(pool[i], 1000 + (uint64_t)i);
    }
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    model *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    uint64_t stream = seed;
    for (int t = 0; t < steps; t++) {
        rng_state = stream; /* write_adapter reseeds the generator: keep the command stream apart */
        step(m, cat, pool, what, sizeof what);
        stream = rng_state;
        state now;
        char why[256];
        catalog_state(cat, &now);
        ck_assert_msg(same_state(&now, &m->stack[m->pos], why, sizeof why), "seed %llu step %d '%s': %s",
                      (unsigned long long)seed, t, what, why);
    }
    replay_log_script(cat, dir);
    free(m);
}

START_TEST(test_random_histories)
{
    const uint64_t seeds[] = {1, 2, 3, 4};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        run_seed(seeds[i], 250);
}
END_TEST

/* The smallest sequence that revived an abandoned branch (issue #13, item 4), kept as a fixed case. */
START_TEST(test_abandoned_branch_stays_dead)
{
    char dir[4300], cat[4400], pa[4400], pc[4400], out[1024];
    snprintf(dir, sizeof dir, "%s/branch", g_tmp);
    mkdir(dir, 0755);
    snprintf(pa, sizeof pa, "%s/A", dir);
    snprintf(pc, sizeof pc, "%s/C", dir);
    write_adapter(pa, 7);
    write_adapter(pc, 8);
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    const char *ia[] = {"import", pa, "--name", "X"}, *ic[] = {"import", pc, "--name", "X"};
    const char *undo[] = {"undo"}, *redo[] = {"redo"};
    ck_assert_int_eq(dispatch(cat, 4, ia, out, sizeof out), 0);
    ck_assert_int_eq(dispatch(cat, 1, undo, out, sizeof out), 0);
    ck_assert_int_eq(dispatch(cat, 4, ic, out, sizeof out), 0);
    state with_c;
    catalog_state(cat, &with_c);
    ck_assert_int_eq(dispatch(cat, 1, undo, out, sizeof out), 0);
    /* redo brings back C (the latest change undone), not A */
    ck_assert_msg(dispatch(cat, 1, redo, out, sizeof out) == 0, "redo: %s", out);
    state now;
    char why[256];
    catalog_state(cat, &now);
    ck_assert_msg(same_state(&now, &with_c, why, sizeof why), "after redo: %s", why);
    /* and nothing is left to redo */
    ck_assert_int_eq(dispatch(cat, 1, redo, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "nothing to redo"), "%s", out);
    /* renames likewise: rename X Y; undo; rename X Z; undo; redo gives Z, then nothing to redo */
    const char *ry[] = {"rename", "X", "Y"}, *rz[] = {"rename", "X", "Z"};
    ck_assert_int_eq(dispatch(cat, 3, ry, out, sizeof out), 0);
    ck_assert_int_eq(dispatch(cat, 1, undo, out, sizeof out), 0);
    ck_assert_int_eq(dispatch(cat, 3, rz, out, sizeof out), 0);
    ck_assert_int_eq(dispatch(cat, 1, undo, out, sizeof out), 0);
    ck_assert_msg(dispatch(cat, 1, redo, out, sizeof out) == 0, "redo: %s", out);
    catalog_state(cat, &now);
    ck_assert_int_eq(now.n, 1);
    ck_assert_str_eq(now.name[0], "Z");
    ck_assert_int_eq(dispatch(cat, 1, redo, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "nothing to redo"), "%s", out);
}
END_TEST

int main(void)
{
    g_tmp = cli_tmpdir();
    if (!g_tmp)
        return 1;
    const TTest *const tests[] = {test_abandoned_branch_stays_dead, test_random_histories, NULL};
    return cli_run_suite("history-model", tests, 0, g_tmp);
}
