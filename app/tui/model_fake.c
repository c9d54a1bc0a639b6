/* model_fake.c: a deterministic in-memory TUI model for tests and benchmarks.
 *
 * Three adapters shaped like Llama-2-7B LoRAs, with singular values drawn from a fixed-seed PRNG and
 * every statistic derived from those values exactly as the engine defines them (Frobenius norm, sigma_1,
 * effective and stable rank, energy ranks), so a test may recompute a figure from layer_sv() and compare.
 * Same seed, same data, same times: golden screens stay byte-identical.
 * Never depends on curses, SQLite or the engine's kernels.
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_BLOCKS 32
#define FAKE_EPOCH 1704067200 /* 2024-01-01 00:00:00 UTC */

typedef struct fake_adapter {
    lsc_tui_adapter info;
    lsc_tui_layer *layers;
    size_t n_layers;
    int gen;   /* generator identity: spectra depend on (seed, gen, layer) only */
} fake_adapter;

typedef struct fake_model {
    uint64_t seed;
    fake_adapter ad[3];
    size_t n_ad;
    lsc_tui_history *hist;
    size_t n_hist;
} fake_model;

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unif(uint64_t *s) { return (double)(splitmix(s) >> 11) * (1.0 / 9007199254740992.0); }

static const char *const k_modules[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

static void module_shape(int m, int64_t *rows, int64_t *cols)
{
    if (m < 4) {
        *rows = 4096;
        *cols = 4096;
    } else if (m < 6) {
        *rows = 11008;
        *cols = 4096;
    } else {
        *rows = 4096;
        *cols = 11008;
    }
}

/* Singular values of layer `li` of generator `gen`: a decaying spectrum with noise, sorted descending. */
static void gen_sv(uint64_t seed, int gen, size_t li, int rank, double scale, double *sv)
{
    uint64_t s = seed ^ ((uint64_t)(gen + 1) * 0xA24BAED4963EE407ull) ^ ((uint64_t)(li + 1) * 0x9FB21C651E98DF25ull);
    double base = scale * (0.05 + 0.4 * unif(&s)) * (1.0 + (double)(li % FAKE_BLOCKS) / 16.0);
    double decay = 0.15 + 0.6 * unif(&s);
    for (int i = 0; i < rank; i++)
        sv[i] = base * exp(-decay * i) * (0.8 + 0.4 * unif(&s));
    for (int i = 1; i < rank; i++) { /* insertion sort, descending */
        double v = sv[i];
        int j = i - 1;
        while (j >= 0 && sv[j] < v) {
            sv[j + 1] = sv[j];
            j--;
        }
        sv[j + 1] = v;
    }
}

/* The engine's definitions (stats.h) applied to sv. */
static void stats_from_sv(lsc_tui_layer *L, const double *sv, int n)
{
    double e = 0;
    for (int i = 0; i < n; i++)
        e += sv[i] * sv[i];
    L->fro = sqrt(e);
    L->sigma1 = n ? sv[0] : 0;
    L->stable_rank = (n && sv[0] > 0) ? e / (sv[0] * sv[0]) : 0;
    double h = 0;
    for (int i = 0; i < n && e > 0; i++) {
        double p = sv[i] * sv[i] / e;
        if (p > 0)
            h -= p * log(p);
    }
    L->effective_rank = e > 0 ? exp(h) : 0;
    double c = 0;
    L->k90 = L->k99 = 0;
    for (int i = 0; i < n && e > 0; i++) {
        c += sv[i] * sv[i];
        if (!L->k90 && c >= 0.90 * e)
            L->k90 = i + 1;
        if (!L->k99 && c >= 0.99 * e)
            L->k99 = i + 1;
    }
}

static lsc_status make_adapter(fake_model *fm, fake_adapter *fa, int gen, const char *name, const char *kind,
                               const char *parents, int only_qv, int64_t created, int bytes_per, lsc_error *err)
{
    size_t n = only_qv ? FAKE_BLOCKS * 2 : FAKE_BLOCKS * 7;
    fa->layers = calloc(n, sizeof *fa->layers);
    if (!fa->layers)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    fa->n_layers = n;
    fa->gen = gen;
    lsc_tui_adapter *in = &fa->info;
    in->id = gen + 1;
    lsc_tui_copy(in->name, sizeof in->name, name);
    lsc_tui_copy(in->kind, sizeof in->kind, kind);
    lsc_tui_copy(in->format, sizeof in->format, only_qv ? "peft" : "peft");
    lsc_tui_copy(in->base_model, sizeof in->base_model, "meta-llama/Llama-2-7b-hf");
    lsc_tui_copy(in->parents, sizeof in->parents, parents);
    in->created = created;
    in->n_layers = (int64_t)n;
    uint64_t rs = fm->seed ^ 0x5151u ^ (uint64_t)gen;
    double sv[64];
    size_t li = 0;
    for (int b = 0; b < FAKE_BLOCKS; b++) {
        for (int m = 0; m < 7; m++) {
            if (only_qv && m != 0 && m != 2)
                continue;
            lsc_tui_layer *L = &fa->layers[li];
            snprintf(L->name, sizeof L->name, "base_model.model.model.layers.%d.%s.%s", b, m < 4 ? "self_attn" : "mlp",
                     k_modules[m]);
            lsc_tui_copy(L->module_type, sizeof L->module_type, k_modules[m]);
            L->layer_index = b;
            module_shape(m, &L->rows, &L->cols);
            if (only_qv) {
                static const int ranks[4] = {4, 6, 8, 12};
                L->rank = ranks[splitmix(&rs) % 4];
                L->alpha = 16;
                L->scale = L->alpha / 12.0; /* AdaLoRA: alpha / init_r */
                L->zeros_a = 0.02 * (double)(splitmix(&rs) % 5);
                L->zeros_b = 0.01 * (double)(splitmix(&rs) % 3);
            } else {
                L->rank = 16;
                L->alpha = gen == 0 ? 32 : 16;
                L->scale = L->alpha / L->rank;
            }
            in->params += (int64_t)L->rank * (L->rows + L->cols);
            if (only_qv && b == 5 && m == 0)
                L->flags |= LSC_LAYER_DORA | LSC_LAYER_ADALORA;
            else if (only_qv)
                L->flags |= LSC_LAYER_ADALORA;
            if (only_qv && b == 17 && m == 2) {
                L->nonfinite = 1; /* NaN in A: spectral figures are 0 */
            } else {
                gen_sv(fm->seed, gen, li, L->rank, L->scale, sv);
                stats_from_sv(L, sv, L->rank);
            }
            li++;
        }
    }
    in->bytes = in->params * bytes_per;
    return LSC_OK;
}

static fake_adapter *find_adapter(fake_model *fm, const char *name)
{
    for (size_t i = 0; i < fm->n_ad; i++)
        if (strcmp(fm->ad[i].info.name, name) == 0)
            return &fm->ad[i];
    return NULL;
}

static lsc_status not_found(lsc_error *err, const char *name)
{
    char esc[LSC_TUI_NAME_MAX * 4];
    return lsc_error_set(err, LSC_ERR_NOTFOUND, "no adapter '%s' in the catalog", lsc_escape_name(esc, sizeof esc, name));
}

static int cmp_adapter(const void *x, const void *y)
{
    return strcmp(((const lsc_tui_adapter *)x)->name, ((const lsc_tui_adapter *)y)->name);
}

static lsc_status fake_list(void *ctx, lsc_tui_adapter **out, size_t *n, lsc_error *err)
{
    fake_model *fm = ctx;
    *out = NULL;
    *n = 0;
    lsc_tui_adapter *a = malloc(fm->n_ad * sizeof *a);
    if (!a)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < fm->n_ad; i++)
        a[i] = fm->ad[i].info;
    qsort(a, fm->n_ad, sizeof *a, cmp_adapter);
    *out = a;
    *n = fm->n_ad;
    return LSC_OK;
}

static lsc_status fake_layers(void *ctx, const char *adapter, lsc_tui_layer **out, size_t *n, lsc_error *err)
{
    fake_model *fm = ctx;
    *out = NULL;
    *n = 0;
    fake_adapter *fa = find_adapter(fm, adapter);
    if (!fa)
        return not_found(err, adapter);
    lsc_tui_layer *l = malloc(fa->n_layers * sizeof *l);
    if (!l)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    memcpy(l, fa->layers, fa->n_layers * sizeof *l);
    *out = l;
    *n = fa->n_layers;
    return LSC_OK;
}

static long find_layer(const fake_adapter *fa, const char *layer)
{
    for (size_t i = 0; i < fa->n_layers; i++)
        if (strcmp(fa->layers[i].name, layer) == 0)
            return (long)i;
    return -1;
}

static lsc_status fake_sv(void *ctx, const char *adapter, const char *layer, double **sv, size_t *n, lsc_error *err)
{
    fake_model *fm = ctx;
    *sv = NULL;
    *n = 0;
    fake_adapter *fa = find_adapter(fm, adapter);
    if (!fa)
        return not_found(err, adapter);
    long li = find_layer(fa, layer);
    if (li < 0) {
        char esc[LSC_TUI_NAME_MAX * 4];
        return lsc_error_set(err, LSC_ERR_NOTFOUND, "no layer '%s' in '%s'", lsc_escape_name(esc, sizeof esc, layer),
                             fa->info.name);
    }
    const lsc_tui_layer *L = &fa->layers[li];
    if (L->nonfinite)
        return LSC_OK;
    double *v = malloc((size_t)L->rank * sizeof *v);
    if (!v)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    gen_sv(fm->seed, fa->gen, (size_t)li, L->rank, L->scale, v);
    *sv = v;
    *n = (size_t)L->rank;
    return LSC_OK;
}

static lsc_status fake_diff(void *ctx, const char *a, const char *b, lsc_tui_diff *out, lsc_error *err)
{
    fake_model *fm = ctx;
    memset(out, 0, sizeof *out);
    fake_adapter *fa = find_adapter(fm, a), *fb = find_adapter(fm, b);
    if (!fa)
        return not_found(err, a);
    if (!fb)
        return not_found(err, b);
    out->rows = malloc((fa->n_layers + 1) * sizeof *out->rows);
    out->only_a = malloc((fa->n_layers + 1) * sizeof *out->only_a);
    out->only_b = malloc((fb->n_layers + 1) * sizeof *out->only_b);
    if (!out->rows || !out->only_a || !out->only_b) {
        lsc_tui_diff_release(out);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    int related = strstr(fb->info.parents, fa->info.name) || strstr(fa->info.parents, fb->info.name);
    for (size_t i = 0; i < fa->n_layers; i++) {
        const lsc_tui_layer *La = &fa->layers[i];
        long j = find_layer(fb, La->name);
        if (j < 0) {
            lsc_tui_copy(out->only_a[out->n_only_a++].name, LSC_TUI_NAME_MAX, La->name);
            continue;
        }
        const lsc_tui_layer *Lb = &fb->layers[j];
        uint64_t s = fm->seed ^ ((uint64_t)(fa->gen * 7 + fb->gen + 1) << 40) ^ (uint64_t)i * 0x2545F4914F6CDD1Dull;
        lsc_tui_diff_row *r = &out->rows[out->n_rows++];
        lsc_tui_copy(r->name, sizeof r->name, La->name);
        lsc_tui_copy(r->module_type, sizeof r->module_type, La->module_type);
        r->layer_index = La->layer_index;
        r->fro_a = La->fro;
        r->fro_b = Lb->fro;
        if (La->nonfinite || Lb->nonfinite) {
            r->cosine = r->rel_diff = r->subspace_in = r->subspace_out = NAN;
            continue;
        }
        double c = related ? 0.55 + 0.44 * unif(&s) : 0.3 * unif(&s) - 0.05;
        r->cosine = c;
        double d2 = r->fro_a * r->fro_a + r->fro_b * r->fro_b - 2 * c * r->fro_a * r->fro_b;
        r->rel_diff = r->fro_a > 0 ? sqrt(d2 > 0 ? d2 : 0) / r->fro_a : 0;
        r->subspace_in = fmin(1, fmax(0, c + 0.1 * unif(&s)));
        r->subspace_out = fmin(1, fmax(0, c - 0.1 * unif(&s)));
    }
    for (size_t j = 0; j < fb->n_layers; j++)
        if (find_layer(fa, fb->layers[j].name) < 0)
            lsc_tui_copy(out->only_b[out->n_only_b++].name, LSC_TUI_NAME_MAX, fb->layers[j].name);
    return LSC_OK;
}

static lsc_status fake_history(void *ctx, lsc_tui_history **out, size_t *n, lsc_error *err)
{
    fake_model *fm = ctx;
    *out = malloc((fm->n_hist + 1) * sizeof **out);
    *n = 0;
    if (!*out)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < fm->n_hist; i++) /* stored oldest first, returned newest first */
        (*out)[i] = fm->hist[fm->n_hist - 1 - i];
    *n = fm->n_hist;
    return LSC_OK;
}

static int add_history(fake_model *fm, const char *cmd, const char *args, const char *in, const char *outn, int undone)
{
    lsc_tui_history *h = realloc(fm->hist, (fm->n_hist + 1) * sizeof *h);
    if (!h)
        return -1;
    fm->hist = h;
    lsc_tui_history *e = &h[fm->n_hist];
    memset(e, 0, sizeof *e);
    e->id = (int64_t)fm->n_hist + 1;
    e->time = FAKE_EPOCH + 3600 * (int64_t)(fm->n_hist + 1) * 5;
    lsc_tui_copy(e->command, sizeof e->command, cmd);
    lsc_tui_copy(e->args, sizeof e->args, args);
    lsc_tui_copy(e->inputs, sizeof e->inputs, in);
    lsc_tui_copy(e->outputs, sizeof e->outputs, outn);
    e->undone = undone;
    fm->n_hist++;
    return 0;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int fake_run(void *ctx, int argc, char **argv, unsigned flags, char **output, char **errmsg)
{
    fake_model *fm = ctx;
    char buf[4096];
    size_t len = 0;
    int rc = 0;
    buf[0] = '\0';
    *errmsg = NULL;
    if (argc < 1) {
        rc = 2;
        *errmsg = dupstr("no command given");
    } else if (strcmp(argv[0], "ls") == 0) {
        for (size_t i = 0; i < fm->n_ad && len < sizeof buf - 200; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%-24s %-10s %4lld layers\n", fm->ad[i].info.name,
                                    fm->ad[i].info.kind, (long long)fm->ad[i].info.n_layers);
    } else if (strcmp(argv[0], "echo") == 0) {
        for (int i = 1; i < argc && len < sizeof buf - 2; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", argv[i], i + 1 < argc ? " " : "\n");
    } else if (strcmp(argv[0], "rename") == 0) {
        fake_adapter *fa = argc == 3 ? find_adapter(fm, argv[1]) : NULL;
        if (argc != 3) {
            rc = 2;
            *errmsg = dupstr("usage: rename OLD NEW");
        } else if (flags & LSC_TUI_RUN_READONLY) {
            rc = 1;
            *errmsg = dupstr("the catalog is open read-only: 'rename' would change it");
        } else if (!fa) {
            rc = 1;
            snprintf(buf, sizeof buf, "no adapter '%s' in the catalog", argv[1]);
            *errmsg = dupstr(buf);
            buf[0] = '\0';
        } else if (find_adapter(fm, argv[2])) {
            rc = 1;
            snprintf(buf, sizeof buf, "an adapter named '%s' already exists", argv[2]);
            *errmsg = dupstr(buf);
            buf[0] = '\0';
        } else {
            lsc_tui_copy(fa->info.name, sizeof fa->info.name, argv[2]);
            snprintf(buf, sizeof buf, "renamed '%s' to '%s'\n", argv[1], argv[2]);
            if (add_history(fm, "rename", buf, argv[1], argv[2], 0) != 0)
                rc = 1;
        }
    } else {
        rc = 2;
        snprintf(buf, sizeof buf, "unknown command '%s'", argv[0]);
        *errmsg = dupstr(buf);
        buf[0] = '\0';
    }
    *output = dupstr(buf);
    return rc;
}

static void fake_destroy(void *ctx)
{
    fake_model *fm = ctx;
    if (!fm)
        return;
    for (size_t i = 0; i < fm->n_ad; i++)
        free(fm->ad[i].layers);
    free(fm->hist);
    free(fm);
}

lsc_status lsc_tui_model_fake_init(lsc_tui_model *m, uint64_t seed, lsc_error *err)
{
    memset(m, 0, sizeof *m);
    fake_model *fm = calloc(1, sizeof *fm);
    if (!fm)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    fm->seed = seed;
    lsc_status st = make_adapter(fm, &fm->ad[0], 0, "llama2-7b-chat", "static", "", 0, FAKE_EPOCH, 2, err);
    if (st == LSC_OK)
        fm->n_ad = 1, st = make_adapter(fm, &fm->ad[1], 1, "llama2-7b-code", "static", "llama2-7b-chat", 0,
                                        FAKE_EPOCH + 86400 * 3 + 3600 * 9, 2, err);
    if (st == LSC_OK)
        fm->n_ad = 2, st = make_adapter(fm, &fm->ad[2], 2, "llama2-7b-qv-ada", "adaptive", "", 1,
                                        FAKE_EPOCH + 86400 * 12 + 60 * 47, 4, err);
    if (st == LSC_OK) {
        fm->n_ad = 3;
        if (add_history(fm, "import", "peft/chat --name llama2-7b-chat", "", "llama2-7b-chat", 0) ||
            add_history(fm, "import", "peft/code --name llama2-7b-code", "", "llama2-7b-code", 0) ||
            add_history(fm, "import", "peft/qv --name llama2-7b-qv-ada", "", "llama2-7b-qv-ada", 0) ||
            add_history(fm, "prune", "llama2-7b-code --energy 0.9 --name code-e90", "llama2-7b-code", "code-e90", 1) ||
            add_history(fm, "diff", "llama2-7b-chat llama2-7b-code", "llama2-7b-chat,llama2-7b-code", "", 0))
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    if (st != LSC_OK) {
        fake_destroy(fm);
        return st;
    }
    m->ctx = fm;
    m->list_adapters = fake_list;
    m->layers = fake_layers;
    m->layer_sv = fake_sv;
    m->diff = fake_diff;
    m->history = fake_history;
    m->run = fake_run;
    m->destroy = fake_destroy;
    return LSC_OK;
}
