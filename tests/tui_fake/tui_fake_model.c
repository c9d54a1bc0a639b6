/* tui_fake_model.c: a deterministic in-memory TUI model for tests and benchmarks.
 *
 * Three adapters shaped like Llama-2-7B LoRAs, with singular values drawn from a fixed-seed PRNG and
 * every statistic derived from those values exactly as the engine defines them (Frobenius norm, sigma_1,
 * effective and stable rank, energy ranks), so a test may recompute a figure from layer_sv() and compare.
 * Same seed, same data, same times: golden screens stay byte-identical.
 * Edits (prune, merge, undo, redo) act on the in-memory adapters: a derived adapter stores the singular
 * values it keeps, so its statistics follow from them as well. Prune previews use engine/prune.h's rank
 * rules (pure functions over the values); merge previews treat the inputs' singular directions as
 * orthogonal. Never depends on curses, SQLite or the engine's BLAS kernels.
 */
#include "tui_fake_model.h"

#include <fnmatch.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command.h"
#include "prune.h"

#define FAKE_BLOCKS 32
#define FAKE_EPOCH 1704067200 /* 2024-01-01 00:00:00 UTC */

typedef struct fake_adapter {
    lsc_tui_adapter info;
    lsc_tui_layer *layers;
    size_t n_layers;
    double **sv;     /* [n_layers] singular values (layers[i].rank of them; NULL for a non-finite layer) */
    int *n_sv;       /* [n_layers] */
    int bytes_per;   /* bytes per stored parameter */
    int hidden;      /* removed by undo (or brought back by redo) */
} fake_adapter;

typedef struct fake_model {
    uint64_t seed;
    fake_adapter *ad;
    size_t n_ad;
    lsc_tui_history *hist; /* oldest first */
    long *hist_created;    /* [n_hist] adapter index an entry created, -1 none */
    size_t n_hist;
    atomic_int hold;       /* -1: none; N >= 0: element-wise merges wait before layer N + 1 */
    atomic_int show_base_runs; /* `show --base` commands run (the TUI's figures job, on a reader thread) */
    atomic_int show_norms_runs; /* those of them with --norms (base_norm and rel_norm only) */
    atomic_int readers;        /* readers (model.h) open now */
    atomic_int show_base_active; /* `show --base` commands running now */
    atomic_int show_base_layer;  /* base layers the latest of them has done */
    int readers_opened;        /* readers opened in all */
    atomic_int base_reads_ui;     /* base reads through this model itself (`show --base` run here) */
    atomic_int base_reads_reader; /* base reads through one of its readers (`show --base` run there) */
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
    fa->bytes_per = bytes_per;
    fa->sv = calloc(n, sizeof *fa->sv);
    fa->n_sv = calloc(n, sizeof *fa->n_sv);
    if (!fa->sv || !fa->n_sv)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    lsc_tui_adapter *in = &fa->info;
    in->id = gen + 1;
    lsc_tui_copy(in->name, sizeof in->name, name);
    lsc_tui_copy(in->kind, sizeof in->kind, kind);
    lsc_tui_copy(in->format, sizeof in->format, only_qv ? "peft" : "peft");
    lsc_tui_copy(in->dtype, sizeof in->dtype, only_qv ? "F32" : "BF16");
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
                fa->sv[li] = malloc((size_t)L->rank * sizeof **fa->sv);
                if (!fa->sv[li])
                    return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                memcpy(fa->sv[li], sv, (size_t)L->rank * sizeof *sv);
                fa->n_sv[li] = L->rank;
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
        if (!fm->ad[i].hidden && strcmp(fm->ad[i].info.name, name) == 0)
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
    lsc_tui_adapter *a = malloc((fm->n_ad + 1) * sizeof *a);
    if (!a)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < fm->n_ad; i++)
        if (!fm->ad[i].hidden)
            a[k++] = fm->ad[i].info;
    qsort(a, k, sizeof *a, cmp_adapter);
    *out = a;
    *n = k;
    return LSC_OK;
}

/* Every adapter but the AdaLoRA one has the base "/models/llama-2-7b" recorded. */
static lsc_status fake_base_path(void *ctx, const char *adapter, char *path, size_t cap, lsc_error *err)
{
    fake_model *fm = ctx;
    if (!find_adapter(fm, adapter))
        return lsc_error_set(err, LSC_ERR_NOTFOUND, "no adapter '%s' in the catalog", adapter);
    lsc_tui_copy(path, cap, strcmp(adapter, "llama2-7b-qv-ada") == 0 ? "" : "/models/llama-2-7b");
    return LSC_OK;
}

static int cancelled(const lsc_tui_progress *prog);
static void sleep_ms(long ms);

/* `show NAME --base --json`: the fake base's figures, made up from each layer's norm and rank (|W| = 40
 * for every layer, so |dW|/|W| = fro / 40; amplification, similarity and intruders from the layer index),
 * the AdaLoRA adapter ("llama2-7b-qv-ada") has no base recorded (the refusal path), and the
 * code adapter ("llama2-7b-code") fails as a base changed on disk since `base` would. One layer at a time:
 * a progress report each, the hold hook (lsc_tui_model_fake_hold) and cancel between layers. */
static int run_show_base(fake_model *fm, int argc, char **argv, const lsc_tui_progress *prog, char *buf, size_t cap,
                         char *msg, size_t mcap)
{
    fake_adapter *fa = argc >= 2 ? find_adapter(fm, argv[1]) : NULL;
    if (!fa) {
        snprintf(msg, mcap, "no adapter '%s' in the catalog", argc >= 2 ? argv[1] : "");
        return 1;
    }
    if (strcmp(argv[1], "llama2-7b-qv-ada") == 0) {
        snprintf(msg, mcap, "no base recorded for '%s' (run: lorascope base NAME PATH)", argv[1]);
        return 1;
    }
    if (strcmp(argv[1], "llama2-7b-code") == 0) {
        snprintf(msg, mcap, "/models/llama-2-7b/model-00001-of-00002.safetensors: tensor "
                 "'model.layers.0.self_attn.q_proj.weight': the base changed since it was recorded");
        return 1;
    }
    int norms = 0; /* --norms: base_norm and rel_norm alone, as the command gives them */
    for (int a = 3; a < argc; a++)
        norms |= strcmp(argv[a], "--norms") == 0;
    size_t len = (size_t)snprintf(buf, cap, "{\"name\": \"%s\", \"layers\": [", fa->info.name);
    for (size_t i = 0; i < fa->n_layers && len < cap - 400; i++) {
        const lsc_tui_layer *l = &fa->layers[i];
        /* one base tensor at a time, like the command: progress, the test hook's hold, cancel */
        atomic_store(&fm->show_base_layer, (int)i);
        while (atomic_load(&fm->hold) >= 0 && (long)i >= atomic_load(&fm->hold) && !cancelled(prog))
            sleep_ms(1);
        if (cancelled(prog)) {
            snprintf(msg, mcap, "show cancelled at layer %zu/%zu", i, fa->n_layers);
            return 1;
        }
        if (prog && prog->report) {
            char what[96];
            snprintf(what, sizeof what, "show --base: layer %zu/%zu", i + 1, fa->n_layers);
            prog->report(prog->ctx, what, (long)i + 1, (long)fa->n_layers);
        }
        if (norms) {
            len += (size_t)snprintf(buf + len, cap - len, "%s{\"key\": \"%s\", \"base_norm\": 40, \"rel_norm\": %.17g}",
                                    i ? ", " : "", l->name, l->fro / 40.0);
            continue;
        }
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s{\"key\": \"%s\", \"base_norm\": 40, \"rel_norm\": %.17g, \"amplification\": %.17g, "
                                "\"subspace_sim\": %.17g, \"subspace_sim_k\": %.17g, \"k\": %d, \"k_ref\": %d, \"intruders\": %d}",
                                i ? ", " : "", l->name, l->fro / 40.0, 1.0 + 0.25 * (double)(i % 7),
                                0.1 + 0.05 * (double)(i % 5), 0.2 + 0.05 * (double)(i % 5), 2 * l->rank, 4 * l->rank,
                                (int)(i % 3));
    }
    len += (size_t)snprintf(buf + len, cap - len, "]}\n");
    return 0;
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
    if (!fa->sv[li] || fa->n_sv[li] == 0)
        return LSC_OK;
    double *v = malloc((size_t)fa->n_sv[li] * sizeof *v);
    if (!v)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    memcpy(v, fa->sv[li], (size_t)fa->n_sv[li] * sizeof *v);
    *sv = v;
    *n = (size_t)fa->n_sv[li];
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
        uint64_t s = fm->seed ^ ((uint64_t)((fa->info.id - 1) * 7 + fb->info.id) << 40) ^ (uint64_t)i * 0x2545F4914F6CDD1Dull;
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

static int audit_cmp(const void *x, const void *y)
{
    const lsc_tui_audit_row *a = x, *b = y;
    if (a->saves != b->saves)
        return a->saves > b->saves ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* The audit of the fake catalog, as app/cmd/audit.h defines it over the fake layers' figures: k99 from
 * the layer table (saves (r - k99) ranks of rows + cols parameters), NaN/Inf where a layer has no
 * spectrum, dead where every singular value is 0; notes name the parents. */
static lsc_status fake_audit(void *ctx, lsc_tui_audit_row **out, size_t *n, lsc_error *err)
{
    fake_model *fm = ctx;
    *out = calloc(fm->n_ad + 1, sizeof **out);
    *n = 0;
    if (!*out)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < fm->n_ad; i++) {
        const fake_adapter *fa = &fm->ad[i];
        if (fa->hidden || fa->n_layers == 0)
            continue;
        lsc_tui_audit_row *r = &(*out)[(*n)++];
        lsc_tui_copy(r->name, sizeof r->name, fa->info.name);
        r->layers = (int64_t)fa->n_layers;
        r->bytes = fa->info.bytes;
        for (size_t l = 0; l < fa->n_layers; l++) {
            const lsc_tui_layer *ly = &fa->layers[l];
            int zero = 1;
            for (int k = 0; fa->sv[l] && k < fa->n_sv[l]; k++)
                zero = zero && fa->sv[l][k] == 0;
            if (!fa->sv[l]) {
                r->nonfinite++;
                continue;
            }
            r->dead += zero;
            int k = ly->k99 < 1 ? 1 : ly->k99;
            if (k < ly->rank) {
                r->waste++;
                r->saves += (int64_t)(ly->rank - k) * (ly->rows + ly->cols) * fa->bytes_per;
            }
        }
        if (fa->info.parents[0])
            snprintf(r->notes, sizeof r->notes, "from %.240s", fa->info.parents);
    }
    qsort(*out, *n, sizeof **out, audit_cmp);
    return LSC_OK;
}

/* The words of a typed argument line as a JSON array of strings, as the real catalog records them (the
 * fake's words hold no quotes, backslashes or controls). */
static void json_of_words(const char *typed, char *out, size_t cap)
{
    size_t len = (size_t)snprintf(out, cap, "[");
    char buf[LSC_TUI_TEXT_MAX];
    lsc_tui_copy(buf, sizeof buf, typed);
    int first = 1;
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w && len < cap; w = strtok_r(NULL, " ", &save), first = 0)
        len += (size_t)snprintf(out + len, cap - len, "%s\"%s\"", first ? "" : ",", w);
    if (len < cap)
        snprintf(out + len, cap - len, "]");
}

/* Back from json_of_words: the words joined by spaces. */
static void words_of_json(const char *json, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = json; *p && n + 1 < cap; p++)
        if (*p == ',')
            out[n++] = ' ';
        else if (*p != '[' && *p != ']' && *p != '"')
            out[n++] = *p;
    out[n] = '\0';
}

static int add_history(fake_model *fm, const char *cmd, const char *args, const char *in, const char *outn, int undone)
{
    lsc_tui_history *h = realloc(fm->hist, (fm->n_hist + 1) * sizeof *h);
    if (!h)
        return -1;
    fm->hist = h;
    long *c = realloc(fm->hist_created, (fm->n_hist + 1) * sizeof *c);
    if (!c)
        return -1;
    fm->hist_created = c;
    c[fm->n_hist] = -1;
    lsc_tui_history *e = &h[fm->n_hist];
    memset(e, 0, sizeof *e);
    e->id = (int64_t)fm->n_hist + 1;
    e->time = FAKE_EPOCH + 3600 * (int64_t)(fm->n_hist + 1) * 5;
    lsc_tui_copy(e->command, sizeof e->command, cmd);
    json_of_words(args, e->args, sizeof e->args);
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

/* ---- edits: prune, merge, undo, redo, log ----------------------------------------------------------- */

static int glob_match(const char *g, const char *name)
{
    if (!g || !*g)
        return 1;
    if (strpbrk(g, "*?["))
        return fnmatch(g, name, 0) == 0;
    return strstr(name, g) != NULL;
}

static const lsc_rank_rule k_engine_rule[LSC_TUI_PRUNE_BUDGET] = {LSC_RANK_FIXED, LSC_RANK_ENERGY, LSC_RANK_FRO,
                                                                  LSC_RANK_CUMULATIVE, LSC_RANK_RATIO};

/* The plan of `prune`: rows [fa->n_layers] filled, totals computed (the engine's rules). */
static lsc_status prune_plan(const fake_adapter *fa, lsc_tui_prune_rule rule, double value, const char *glob,
                             lsc_tui_prune_row *rows, lsc_tui_prune_totals *tot, lsc_error *err)
{
    memset(tot, 0, sizeof *tot);
    lsc_status st = lsc_tui_prune_check(rule, value, err);
    if (st)
        return st;
    size_t matched = 0;
    for (size_t i = 0; i < fa->n_layers; i++) {
        const lsc_tui_layer *L = &fa->layers[i];
        lsc_tui_prune_row *r = &rows[i];
        memset(r, 0, sizeof *r);
        lsc_tui_copy(r->name, sizeof r->name, L->name);
        r->rank_before = r->rank_after = L->rank;
        r->kept_energy = 1;
        r->n_sv = fa->n_sv[i];
        if (!glob_match(glob, L->name))
            continue;
        matched++;
        if (L->nonfinite) {
            r->nonfinite = 1;
            tot->n_nonfinite++;
            continue;
        }
        r->chosen = 1;
        tot->n_chosen++;
        tot->total_sv += r->n_sv;
        if (L->rank > tot->max_rank)
            tot->max_rank = L->rank;
    }
    if (!matched)
        return lsc_error_set(err, LSC_ERR_NOTFOUND, "no layer of '%s' matches '%s'", fa->info.name, glob ? glob : "");
    if (rule == LSC_TUI_PRUNE_BUDGET) {
        const double **svs = malloc((fa->n_layers + 1) * sizeof *svs);
        int *ns = malloc((fa->n_layers + 1) * sizeof *ns), *ks = malloc((fa->n_layers + 1) * sizeof *ks), m = 0;
        if (!svs || !ns || !ks)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !st && i < fa->n_layers; i++)
            if (rows[i].chosen) {
                svs[m] = fa->sv[i];
                ns[m++] = fa->n_sv[i];
            }
        if (!st)
            st = lsc_prune_budget(svs, ns, m, (int64_t)value, ks, err);
        for (size_t i = 0, j = 0; !st && i < fa->n_layers; i++)
            if (rows[i].chosen)
                rows[i].rank_after = ks[j++];
        free(svs);
        free(ns);
        free(ks);
        if (st)
            return st;
    }
    tot->params_before = tot->params_after = fa->info.params;
    for (size_t i = 0; i < fa->n_layers; i++) {
        lsc_tui_prune_row *r = &rows[i];
        const lsc_tui_layer *L = &fa->layers[i];
        if (!r->chosen)
            continue;
        int k = r->rank_after;
        if (rule != LSC_TUI_PRUNE_BUDGET &&
            (st = lsc_prune_select(fa->sv[i], fa->n_sv[i], k_engine_rule[rule], value, &k, err)) != LSC_OK) {
            lsc_error_prefix(err, "layer '%s'", L->name);
            return st;
        }
        lsc_prune_figures(fa->sv[i], fa->n_sv[i], k, &r->kept_energy, &r->rel_error);
        r->rank_after = k >= 1 && k < L->rank ? k : L->rank;
        if (r->rank_after < L->rank) {
            tot->n_cut++;
            tot->params_after -= (int64_t)(L->rank - r->rank_after) * (L->rows + L->cols);
        }
        if (r->rel_error > tot->max_rel_error)
            tot->max_rel_error = r->rel_error;
    }
    tot->bytes_before = tot->params_before * fa->bytes_per;
    tot->bytes_after = tot->params_after * fa->bytes_per;
    return LSC_OK;
}

static lsc_status fake_prune_preview(void *ctx, const char *adapter, lsc_tui_prune_rule rule, double value,
                                     const char *glob, lsc_tui_prune_row **rows, size_t *n, lsc_tui_prune_totals *tot,
                                     lsc_error *err)
{
    fake_model *fm = ctx;
    *rows = NULL;
    *n = 0;
    memset(tot, 0, sizeof *tot);
    fake_adapter *fa = find_adapter(fm, adapter);
    if (!fa)
        return not_found(err, adapter);
    lsc_tui_prune_row *r = malloc((fa->n_layers + 1) * sizeof *r);
    if (!r)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    lsc_status st = prune_plan(fa, rule, value, glob, r, tot, err);
    if (st) {
        free(r);
        memset(tot, 0, sizeof *tot);
        return st;
    }
    *rows = r;
    *n = fa->n_layers;
    return LSC_OK;
}

static int cmp_desc(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? 1 : a > b ? -1 : 0;
}

/* The plan of `merge`: the union of the inputs' layers; per layer the models, the rank, the merged
 * spectrum (weighted values of every input, sorted: the directions taken as orthogonal) and the error of
 * keeping the rank. sv_out (may be NULL) receives per row the kept values, n_out their count. */
static lsc_status merge_plan(fake_model *fm, const char *const *names, int n, const lsc_tui_merge_opts *o,
                             lsc_tui_merge_row **rows_out, size_t *n_rows, lsc_tui_merge_totals *tot,
                             double ***sv_out, int **n_out, fake_adapter **first_of, size_t *layer_of, lsc_error *err)
{
    fake_adapter *in[LSC_TUI_MERGE_MAX];
    *rows_out = NULL;
    *n_rows = 0;
    memset(tot, 0, sizeof *tot);
    lsc_status st = lsc_tui_merge_check(o, n, err);
    if (st)
        return st;
    size_t cap = 0;
    for (int i = 0; i < n; i++) {
        if (!(in[i] = find_adapter(fm, names[i])))
            return not_found(err, names[i]);
        cap += in[i]->n_layers;
        for (size_t li = 0; li < in[i]->n_layers; li++)
            if (in[i]->layers[li].flags & LSC_LAYER_DORA)
                return lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                                     "layer '%s' of '%s' is DoRA: its magnitude vector needs the base weights, so merge refuses it",
                                     in[i]->layers[li].name, in[i]->info.name);
    }
    lsc_tui_merge_row *rows = calloc(cap + 1, sizeof *rows);
    double *all = NULL;
    size_t n_all_cap = 0;
    if (!rows)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    size_t nr = 0;
    for (int i = 0; i < n && !st; i++)
        for (size_t li = 0; li < in[i]->n_layers && !st; li++) {
            const lsc_tui_layer *L = &in[i]->layers[li];
            int seen = 0;
            for (int j = 0; j < i && !seen; j++)
                seen = find_layer(in[j], L->name) >= 0;
            if (seen)
                continue;
            lsc_tui_merge_row *r = &rows[nr];
            lsc_tui_copy(r->name, sizeof r->name, L->name);
            size_t cnt = 0;
            int sum_r = 0;
            for (int j = i; j < n; j++) {
                long lj = find_layer(in[j], L->name);
                if (lj < 0)
                    continue;
                if (in[j]->layers[lj].nonfinite) {
                    st = lsc_error_set(err, LSC_ERR_NUMERIC, "layer '%s': non-finite factors in '%s'", L->name,
                                       in[j]->info.name);
                    break;
                }
                r->models++;
                sum_r += in[j]->layers[lj].rank;
                if (cnt + (size_t)in[j]->n_sv[lj] > n_all_cap) {
                    size_t nc = (cnt + (size_t)in[j]->n_sv[lj]) * 2;
                    double *g = realloc(all, nc * sizeof *g);
                    if (!g) {
                        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                        break;
                    }
                    all = g;
                    n_all_cap = nc;
                }
                for (int k = 0; k < in[j]->n_sv[lj]; k++)
                    all[cnt++] = fabs(o->weights[j]) * in[j]->sv[lj][k];
            }
            if (st)
                break;
            qsort(all, cnt, sizeof *all, cmp_desc);
            int64_t mn = L->rows < L->cols ? L->rows : L->cols;
            int R;
            if (o->method == LSC_TUI_MERGE_CAT || (o->method == LSC_TUI_MERGE_LINEAR && o->rank == 0))
                R = sum_r;
            else if (!lsc_tui_merge_is_elementwise(o->method))
                R = (int)(o->rank < sum_r ? (o->rank < mn ? o->rank : mn) : (sum_r < mn ? sum_r : mn));
            else
                R = (int)(o->rank < mn ? o->rank : mn);
            if (R < 1)
                R = 1;
            r->rank = R;
            double total = 0, tail = 0;
            for (size_t k = 0; k < cnt; k++) {
                total += all[k] * all[k];
                if (k >= (size_t)R)
                    tail += all[k] * all[k];
            }
            double e = total > 0 ? sqrt(tail / total) : 0;
            r->rel_error = lsc_tui_merge_is_elementwise(o->method) ? NAN : e;
            tot->params += (int64_t)R * (L->rows + L->cols);
            if (!lsc_tui_merge_is_elementwise(o->method) && e > tot->max_rel_error)
                tot->max_rel_error = e;
            if (sv_out) {
                size_t keep = cnt < (size_t)R ? cnt : (size_t)R;
                (*sv_out)[nr] = malloc((keep + 1) * sizeof(double));
                if (!(*sv_out)[nr]) {
                    st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                    break;
                }
                memcpy((*sv_out)[nr], all, keep * sizeof(double));
                (*n_out)[nr] = (int)keep;
                first_of[nr] = in[i];
                layer_of[nr] = li;
            }
            nr++;
        }
    free(all);
    if (st) {
        free(rows);
        memset(tot, 0, sizeof *tot);
        return st;
    }
    if (lsc_tui_merge_is_elementwise(o->method))
        tot->max_rel_error = NAN;
    *rows_out = rows;
    *n_rows = nr;
    return LSC_OK;
}

static lsc_status fake_merge_preview(void *ctx, const char *const *adapters, int n, const lsc_tui_merge_opts *o,
                                     lsc_tui_merge_row **rows, size_t *n_rows, lsc_tui_merge_totals *tot, lsc_error *err)
{
    return merge_plan(ctx, adapters, n, o, rows, n_rows, tot, NULL, NULL, NULL, NULL, err);
}


/* A new adapter at the end of fm->ad (zeroed, n_layers rows allocated); NULL on out of memory. */
static fake_adapter *new_adapter(fake_model *fm, const char *name, size_t n_layers, int bytes_per)
{
    fake_adapter *g = realloc(fm->ad, (fm->n_ad + 1) * sizeof *g);
    if (!g)
        return NULL;
    fm->ad = g;
    fake_adapter *fa = &g[fm->n_ad];
    memset(fa, 0, sizeof *fa);
    fa->layers = calloc(n_layers + 1, sizeof *fa->layers);
    fa->sv = calloc(n_layers + 1, sizeof *fa->sv);
    fa->n_sv = calloc(n_layers + 1, sizeof *fa->n_sv);
    if (!fa->layers || !fa->sv || !fa->n_sv) {
        free(fa->layers);
        free(fa->sv);
        free(fa->n_sv);
        return NULL;
    }
    fm->n_ad++;
    fa->n_layers = n_layers;
    fa->bytes_per = bytes_per;
    fa->info.id = (int64_t)fm->n_ad;
    lsc_tui_copy(fa->info.name, sizeof fa->info.name, name);
    fa->info.n_layers = (int64_t)n_layers;
    fa->info.created = FAKE_EPOCH + 86400 * 20 + 60 * (int64_t)fm->n_hist;
    return fa;
}

static void finish_adapter(fake_adapter *fa)
{
    int64_t p = 0, r0 = -1;
    int same = 1;
    for (size_t i = 0; i < fa->n_layers; i++) {
        lsc_tui_layer *L = &fa->layers[i];
        p += (int64_t)L->rank * (L->rows + L->cols);
        if (r0 >= 0 && r0 != L->rank)
            same = 0;
        r0 = L->rank;
        if (!L->nonfinite)
            stats_from_sv(L, fa->sv[i], fa->n_sv[i]);
    }
    fa->info.params = p;
    fa->info.bytes = p * fa->bytes_per;
    lsc_tui_copy(fa->info.kind, sizeof fa->info.kind, same ? "static" : "layer-wise");
}

/* Options of a command line: positional words and --name value pairs. Whether an option takes a value
 * comes from the command's option table (command.h), as the real dispatcher's parsing does. */
typedef struct opts {
    const char *pos[LSC_TUI_MERGE_MAX + 2];
    int n_pos;
    const char *name[16], *val[16];
    char names[16][64]; /* the names of --name=value options */
    int n;
} opts;

/* Split argv into o; with check, first parse and validate it as the command would (lsc_command_parse):
 * a refusal returns 2 with the command's own message in msg. */
static int parse_opts(int argc, char **argv, int check, opts *o, char *msg, size_t cap)
{
    memset(o, 0, sizeof *o);
    const lsc_command *c = lsc_command_find(argv[0]);
    if (!c) {
        snprintf(msg, cap, "unknown command '%s'", argv[0]);
        return 2;
    }
    if (check) {
        lsc_cmd_ctx ctx = {0};
        void *args = NULL;
        int rc = lsc_command_parse(&ctx, c, argc, argv, &args);
        lsc_command_args_free(args);
        if (rc != LSC_EXIT_OK) {
            snprintf(msg, cap, "%s", ctx.err.msg);
            return 2;
        }
    }
    int ended = 0;
    for (int i = 1; i < argc; i++) {
        if (ended || strncmp(argv[i], "--", 2) != 0 || !argv[i][2]) {
            if (!ended && strcmp(argv[i], "--") == 0) {
                ended = 1;
                continue;
            }
            if (o->n_pos == (int)(sizeof o->pos / sizeof o->pos[0])) {
                snprintf(msg, cap, "too many arguments");
                return 2;
            }
            o->pos[o->n_pos++] = argv[i];
            continue;
        }
        if (o->n == 16) {
            snprintf(msg, cap, "too many options");
            return 2;
        }
        const char *eq = strchr(argv[i], '=');
        int takes = lsc_command_option_takes_value(c, argv[i]);
        if (takes && !eq && i + 1 >= argc) {
            snprintf(msg, cap, "%s: option '%s' needs a value", argv[0], argv[i]);
            return 2;
        }
        if (eq) {
            snprintf(o->names[o->n], sizeof o->names[o->n], "%.*s", (int)(eq - argv[i] - 2), argv[i] + 2);
            o->name[o->n] = o->names[o->n];
            o->val[o->n++] = eq + 1;
        } else {
            o->name[o->n] = argv[i] + 2;
            o->val[o->n++] = takes ? argv[++i] : "";
        }
    }
    return 0;
}

static const char *opt(const opts *o, const char *name)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->name[i], name) == 0)
            return o->val[i];
    return NULL;
}

static void args_text(int argc, char **argv, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 1; i < argc && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i > 1 ? " " : "", argv[i]);
}

static int run_prune(fake_model *fm, int argc, char **argv, char *out, size_t cap, char *msg, size_t mcap)
{
    opts o;
    if (parse_opts(argc, argv, 1, &o, msg, mcap)) /* prune's table and rules: one NAME, exactly one rule */
        return 2;
    lsc_tui_prune_rule rule = LSC_TUI_PRUNE_RANK;
    const char *vs = NULL;
    for (int r = 0; r < LSC_TUI_PRUNE_RULE_COUNT; r++)
        if (opt(&o, lsc_tui_prune_rule_name((lsc_tui_prune_rule)r))) {
            rule = (lsc_tui_prune_rule)r;
            vs = opt(&o, lsc_tui_prune_rule_name(rule));
        }
    double value = strtod(vs, NULL); /* prune took it: a number in the rule's range */
    fake_adapter *fa = find_adapter(fm, o.pos[0]);
    if (!fa) {
        snprintf(msg, mcap, "no adapter '%s' in the catalog", o.pos[0]);
        return 1;
    }
    char newname[LSC_TUI_NAME_MAX];
    if (opt(&o, "as"))
        lsc_tui_copy(newname, sizeof newname, opt(&o, "as"));
    else
        snprintf(newname, sizeof newname, "%s-%s%s", o.pos[0], lsc_tui_prune_rule_name(rule), vs);
    if (find_adapter(fm, newname)) {
        snprintf(msg, mcap, "an adapter named '%s' already exists (choose another with --as)", newname);
        return 1;
    }
    lsc_tui_prune_row *rows = malloc((fa->n_layers + 1) * sizeof *rows);
    lsc_tui_prune_totals tot;
    lsc_error err = {0};
    if (!rows) {
        snprintf(msg, mcap, "out of memory");
        return 1;
    }
    if (prune_plan(fa, rule, value, opt(&o, "layers"), rows, &tot, &err)) {
        snprintf(msg, mcap, "%s", err.msg);
        free(rows);
        return 1;
    }
    if (tot.n_nonfinite && !opt(&o, "allow-nonfinite")) {
        for (size_t i = 0; i < fa->n_layers; i++)
            if (rows[i].nonfinite) {
                snprintf(msg, mcap, "layer '%s' holds NaN or Inf: prune refuses it (--allow-nonfinite leaves such layers unchanged)",
                         rows[i].name);
                break;
            }
        free(rows);
        return 1;
    }
    size_t src = (size_t)(fa - fm->ad);
    fake_adapter *na = new_adapter(fm, newname, fa->n_layers, fa->bytes_per);
    fa = &fm->ad[src]; /* new_adapter may have moved the array */
    int rc = 0;
    if (!na) {
        snprintf(msg, mcap, "out of memory");
        free(rows);
        return 1;
    }
    na->info = fa->info;
    na->info.id = (int64_t)fm->n_ad;
    lsc_tui_copy(na->info.name, sizeof na->info.name, newname);
    lsc_tui_copy(na->info.parents, sizeof na->info.parents, fa->info.name);
    na->info.created = FAKE_EPOCH + 86400 * 20 + 60 * (int64_t)fm->n_hist;
    for (size_t i = 0; i < fa->n_layers && !rc; i++) {
        na->layers[i] = fa->layers[i];
        int k = rows[i].chosen ? rows[i].rank_after : fa->n_sv[i];
        if (k > fa->n_sv[i])
            k = fa->n_sv[i];
        if (rows[i].chosen && rows[i].rank_after < fa->layers[i].rank) {
            na->layers[i].rank = rows[i].rank_after;
            if (!(na->layers[i].flags & LSC_LAYER_ADALORA))
                na->layers[i].scale = na->layers[i].alpha / rows[i].rank_after;
        }
        if (fa->sv[i]) {
            na->sv[i] = malloc(((size_t)k + 1) * sizeof(double));
            if (!na->sv[i]) {
                rc = 1;
                break;
            }
            memcpy(na->sv[i], fa->sv[i], (size_t)k * sizeof(double));
            na->n_sv[i] = k;
        }
    }
    finish_adapter(na);
    if (!rc) {
        char args[LSC_TUI_TEXT_MAX];
        args_text(argc, argv, args, sizeof args);
        if (add_history(fm, "prune", args, fa->info.name, newname, 0) != 0)
            rc = 1;
        else
            fm->hist_created[fm->n_hist - 1] = (long)(fm->n_ad - 1);
    }
    if (rc) {
        snprintf(msg, mcap, "out of memory");
        na->hidden = 1;
    } else {
        snprintf(out, cap, "%s: %zu of %zu layer(s) cut; params %lld -> %lld, largest error %.3g\n", newname, tot.n_cut,
                 tot.n_chosen + tot.n_nonfinite, (long long)tot.params_before, (long long)tot.params_after,
                 tot.max_rel_error);
    }
    free(rows);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int cancelled(const lsc_tui_progress *prog) { return prog && prog->cancel && *prog->cancel; }

static int run_merge(fake_model *fm, int argc, char **argv, const lsc_tui_progress *prog, char *out, size_t cap,
                     char *msg, size_t mcap)
{
    opts o;
    if (parse_opts(argc, argv, 1, &o, msg, mcap)) /* merge's table and rules: method, weights, rank, density */
        return 2;
    int n = o.n_pos;
    if (n > LSC_TUI_MERGE_MAX) { /* the fake's own limit, below merge's */
        snprintf(msg, mcap, "merge: the fake model merges at most %d adapters", LSC_TUI_MERGE_MAX);
        return 2;
    }
    lsc_tui_merge_opts mo = {.density = 1};
    const char *m = opt(&o, "method");
    int mi = lsc_tui_option_choice("merge", "method", m, &(lsc_error){0});
    int nm = 0;
    const char *const *choices = lsc_tui_option_choices("merge", "method", &nm);
    mo.method = lsc_tui_merge_method_of(mi >= 0 && mi < nm ? choices[mi] : NULL);
    m = lsc_tui_merge_method_name(mo.method); /* as the table spells it (dare-ties: dare_ties) */
    for (int i = 0; i < n; i++)
        mo.weights[i] = 1;
    const char *w = opt(&o, "weights");
    for (int k = 0; w && *w && k < n; k++) { /* merge took them: n numbers separated by commas */
        char *end;
        mo.weights[k] = strtod(w, &end);
        w = end + (*end == ',');
    }
    if (opt(&o, "rank"))
        mo.rank = atoi(opt(&o, "rank"));
    if (opt(&o, "density"))
        mo.density = strtod(opt(&o, "density"), NULL);
    if (opt(&o, "seed"))
        mo.seed = strtoull(opt(&o, "seed"), NULL, 10);
    char newname[LSC_TUI_NAME_MAX];
    if (opt(&o, "as"))
        lsc_tui_copy(newname, sizeof newname, opt(&o, "as"));
    else
        snprintf(newname, sizeof newname, "%s-%s-%s", o.pos[0], o.pos[1], m);
    if (find_adapter(fm, newname)) {
        snprintf(msg, mcap, "an adapter named '%s' already exists (choose another with --as)", newname);
        return 1;
    }
    lsc_tui_merge_row *rows = NULL;
    size_t nr = 0;
    lsc_tui_merge_totals tot;
    lsc_error err = {0};
    size_t cap_rows = 0;
    for (int i = 0; i < n; i++) {
        fake_adapter *fa = find_adapter(fm, o.pos[i]);
        cap_rows += fa ? fa->n_layers : 0;
    }
    double **svs = calloc(cap_rows + 1, sizeof *svs);
    int *nsv = calloc(cap_rows + 1, sizeof *nsv);
    fake_adapter **first = calloc(cap_rows + 1, sizeof *first);
    size_t *lof = calloc(cap_rows + 1, sizeof *lof);
    int rc = 0;
    if (!svs || !nsv || !first || !lof) {
        snprintf(msg, mcap, "out of memory");
        rc = 1;
    } else if (merge_plan(fm, o.pos, n, &mo, &rows, &nr, &tot, &svs, &nsv, first, lof, &err)) {
        snprintf(msg, mcap, "%s", err.msg);
        rc = 1;
    }
    /* element-wise methods: one layer at a time, like the engine, cancellable between layers */
    double worst = 0;
    for (size_t i = 0; !rc && i < nr; i++) {
        if (lsc_tui_merge_is_elementwise(mo.method)) {
            while (atomic_load(&fm->hold) >= 0 && (long)i >= atomic_load(&fm->hold) && !cancelled(prog))
                sleep_ms(1);
            if (cancelled(prog)) {
                snprintf(msg, mcap, "merge cancelled: nothing written");
                rc = 1;
                break;
            }
            if (prog && prog->report) { /* layer i is merged */
                char what[128];
                snprintf(what, sizeof what, "merge %s: layer %zu/%zu", m, i + 1, nr);
                prog->report(prog->ctx, what, (long)i + 1, (long)nr);
            }
        }
        /* an element-wise error is known once the layer is merged: a fixed pattern here */
        if (isnan(rows[i].rel_error))
            rows[i].rel_error = 0.01 * (double)(i % 7);
        if (rows[i].rel_error > worst)
            worst = rows[i].rel_error;
    }
    if (!rc) {
        fake_adapter *na = new_adapter(fm, newname, nr, first[0]->bytes_per);
        if (!na) {
            snprintf(msg, mcap, "out of memory");
            rc = 1;
        } else {
            lsc_tui_copy(na->info.base_model, sizeof na->info.base_model, "meta-llama/Llama-2-7b-hf");
            lsc_tui_copy(na->info.format, sizeof na->info.format, "peft");
            lsc_tui_copy(na->info.dtype, sizeof na->info.dtype, "F32");
            size_t len = 0;
            for (int i = 0; i < n && len < sizeof na->info.parents; i++)
                len += (size_t)snprintf(na->info.parents + len, sizeof na->info.parents - len, "%s%s", i ? "," : "",
                                        o.pos[i]);
            for (size_t i = 0; i < nr; i++) {
                /* first[] points into the old array when new_adapter moved it: find the layer by name */
                na->layers[i] = (lsc_tui_layer){0};
                lsc_tui_copy(na->layers[i].name, sizeof na->layers[i].name, rows[i].name);
                for (int k = 0; k < n; k++) {
                    fake_adapter *src = find_adapter(fm, o.pos[k]);
                    long li = src ? find_layer(src, rows[i].name) : -1;
                    if (li >= 0) {
                        na->layers[i] = src->layers[li];
                        break;
                    }
                }
                na->layers[i].rank = rows[i].rank;
                na->layers[i].scale = na->layers[i].alpha / rows[i].rank;
                na->layers[i].flags &= ~(unsigned)LSC_LAYER_ADALORA;
                na->sv[i] = svs[i];
                na->n_sv[i] = nsv[i];
                svs[i] = NULL;
            }
            finish_adapter(na);
            char args[LSC_TUI_TEXT_MAX];
            args_text(argc, argv, args, sizeof args);
            if (add_history(fm, "merge", args, na->info.parents, newname, 0) != 0) {
                snprintf(msg, mcap, "out of memory");
                na->hidden = 1;
                rc = 1;
            } else {
                fm->hist_created[fm->n_hist - 1] = (long)(fm->n_ad - 1);
                snprintf(out, cap, "%s: %s merge of %d adapters, %zu layers, largest relative error %.3g\n", newname, m,
                         n, nr, worst);
            }
        }
    }
    for (size_t i = 0; svs && i < cap_rows; i++)
        free(svs[i]);
    free(svs);
    free(nsv);
    free(first);
    free(lof);
    free(rows);
    return rc;
}

static int undoable(const char *cmd)
{
    return strcmp(cmd, "import") == 0 || strcmp(cmd, "prune") == 0 || strcmp(cmd, "merge") == 0 ||
           strcmp(cmd, "retrain") == 0;
}

static int run_undo(fake_model *fm, int redo, char *out, size_t cap, char *msg, size_t mcap)
{
    long target = -1;
    for (long i = (long)fm->n_hist - 1; i >= 0; i--) { /* newest first */
        if (!fm->hist[i].undone) {
            if (!redo)
                target = i;
            break;
        }
        if (redo)
            target = i;
    }
    if (target < 0) {
        snprintf(msg, mcap, redo ? "nothing to redo" : "nothing to undo");
        return 1;
    }
    lsc_tui_history *h = &fm->hist[target];
    if (!undoable(h->command)) {
        snprintf(msg, mcap, "cannot %s '%s' (#%lld)", redo ? "redo" : "undo", h->command, (long long)h->id);
        return 1;
    }
    long a = fm->hist_created[target];
    if (a >= 0)
        fm->ad[a].hidden = !redo;
    h->undone = !redo;
    snprintf(out, cap, "%s #%lld %s %s\n", redo ? "redid" : "undid", (long long)h->id, h->command, h->outputs);
    return 0;
}

static int run_log(fake_model *fm, int argc, char **argv, char *out, size_t cap, char *msg, size_t mcap)
{
    opts o;
    if (parse_opts(argc, argv, 1, &o, msg, mcap))
        return 2;
    long long since = opt(&o, "since") ? atoll(opt(&o, "since")) : 0;
    size_t len = 0;
    char words[LSC_TUI_TEXT_MAX];
    if (!opt(&o, "script")) {
        for (size_t i = fm->n_hist; i-- > 0 && len < cap;) {
            words_of_json(fm->hist[i].args, words, sizeof words);
            len += (size_t)snprintf(out + len, cap - len, "#%lld %s %s%s\n", (long long)fm->hist[i].id,
                                    fm->hist[i].command, words, fm->hist[i].undone ? " (undone)" : "");
        }
        return 0;
    }
    len += (size_t)snprintf(out + len, cap - len, "# lorascope script: replay with 'lorascope run FILE'\n");
    for (size_t i = 0; i < fm->n_hist && len < cap; i++)
        if (fm->hist[i].id > since && !fm->hist[i].undone) {
            words_of_json(fm->hist[i].args, words, sizeof words);
            len += (size_t)snprintf(out + len, cap - len, "%s %s\n", fm->hist[i].command, words);
        }
    return 0;
}

/* retrain: a loss decaying from the target's energy towards a made-up optimum, one report per step. */
static int run_retrain(fake_model *fm, int argc, char **argv, const lsc_tui_progress *prog, char *out, size_t cap,
                       char *msg, size_t mcap)
{
    opts o;
    if (parse_opts(argc, argv, 1, &o, msg, mcap)) /* retrain's table and rules */
        return 2;
    if (!opt(&o, "target")) {
        snprintf(msg, mcap, "retrain: the fake model retrains towards --target REF only");
        return 2;
    }
    fake_adapter *src = find_adapter(fm, o.pos[0]), *tgt = find_adapter(fm, opt(&o, "target"));
    if (!src || !tgt) {
        snprintf(msg, mcap, "no adapter '%s' in the catalog", src ? opt(&o, "target") : o.pos[0]);
        return 1;
    }
    char newname[LSC_TUI_NAME_MAX];
    if (opt(&o, "as"))
        lsc_tui_copy(newname, sizeof newname, opt(&o, "as"));
    else
        snprintf(newname, sizeof newname, "%s-retrained", o.pos[0]);
    if (find_adapter(fm, newname)) {
        snprintf(msg, mcap, "an adapter named '%s' already exists", newname);
        return 1;
    }
    /* retrain took them: whole numbers >= 1, a learning rate > 0 (its table's defaults when absent) */
    const lsc_opt *steps_o = lsc_tui_option("retrain", "steps"), *lr_o = lsc_tui_option("retrain", "lr");
    long steps = atol(opt(&o, "steps") ? opt(&o, "steps") : steps_o && steps_o->def ? steps_o->def : "200");
    long rank = opt(&o, "rank") ? atol(opt(&o, "rank")) : 0;
    double lr = atof(opt(&o, "lr") ? opt(&o, "lr") : lr_o && lr_o->def ? lr_o->def : "1e-2");
    double e = 0;
    for (size_t i = 0; i < tgt->n_layers; i++)
        e += tgt->layers[i].nonfinite ? 0 : tgt->layers[i].fro * tgt->layers[i].fro;
    double optimum = e * (rank ? 0.4 / (double)rank : 0.03), loss = e, best = INFINITY;
    long t, best_step = 0;
    int interrupted = 0;
    for (t = 1; t <= steps; t++) {
        while (atomic_load(&fm->hold) >= 0 && t > atomic_load(&fm->hold) && !cancelled(prog))
            sleep_ms(1);
        while (prog && prog->pause && *prog->pause && !cancelled(prog))
            sleep_ms(1);
        if (cancelled(prog)) {
            interrupted = 1;
            break;
        }
        double rate = lr * (t <= steps / 20 ? (double)t / (double)(steps / 20 > 0 ? steps / 20 : 1)
                                           : 0.5 * (1 + cos(M_PI * (double)t / (double)steps)));
        loss = optimum + (e - optimum) * exp(-5.0 * (double)t / (double)steps);
        if (loss < best) {
            best = loss;
            best_step = t;
        }
        lsc_tui_train_point p = {t, steps, loss, optimum, rate, 0.05 * (double)(steps - t)};
        if (prog && prog->train)
            prog->train(prog->ctx, &p);
        if (prog && prog->report) {
            char what[160];
            snprintf(what, sizeof what, "step %ld/%ld  loss %.6g  (optimum %.6g, x%.4f)", t, steps, loss, optimum,
                     loss / optimum);
            prog->report(prog->ctx, what, t, steps);
        }
    }
    fake_adapter *na = new_adapter(fm, newname, 0, 2);
    if (!na) {
        snprintf(msg, mcap, "out of memory");
        return 1;
    }
    src = find_adapter(fm, o.pos[0]); /* new_adapter may have moved the array */
    free(na->layers);
    free(na->sv);
    free(na->n_sv);
    na->n_layers = src->n_layers;
    na->info.n_layers = (int64_t)src->n_layers;
    na->layers = malloc((src->n_layers + 1) * sizeof *na->layers);
    na->sv = calloc(src->n_layers + 1, sizeof *na->sv);
    na->n_sv = calloc(src->n_layers + 1, sizeof *na->n_sv);
    if (!na->layers || !na->sv || !na->n_sv) {
        na->n_layers = 0;
        na->hidden = 1;
        snprintf(msg, mcap, "out of memory");
        return 1;
    }
    memcpy(na->layers, src->layers, src->n_layers * sizeof *na->layers);
    na->bytes_per = src->bytes_per;
    for (size_t i = 0; i < src->n_layers; i++) {
        int r = rank ? (int)rank : src->layers[i].rank, n = src->n_sv[i] < r ? src->n_sv[i] : r;
        na->layers[i].rank = r;
        na->layers[i].scale = na->layers[i].alpha / r;
        if (n > 0 && (na->sv[i] = malloc((size_t)n * sizeof **na->sv)) != NULL) {
            memcpy(na->sv[i], src->sv[i], (size_t)n * sizeof **na->sv);
            na->n_sv[i] = n;
        }
    }
    finish_adapter(na);
    lsc_tui_copy(na->info.kind, sizeof na->info.kind, opt(&o, "kind") ? opt(&o, "kind") : src->info.kind);
    lsc_tui_copy(na->info.base_model, sizeof na->info.base_model, src->info.base_model);
    lsc_tui_copy(na->info.format, sizeof na->info.format, "peft");
    lsc_tui_copy(na->info.dtype, sizeof na->info.dtype, src->info.dtype);
    snprintf(na->info.parents, sizeof na->info.parents, "%s,%s", o.pos[0], opt(&o, "target"));
    char args[LSC_TUI_TEXT_MAX];
    args_text(argc, argv, args, sizeof args);
    if (add_history(fm, "retrain", args, na->info.parents, newname, 0) != 0) {
        snprintf(msg, mcap, "out of memory");
        na->hidden = 1;
        return 1;
    }
    fm->hist_created[fm->n_hist - 1] = (long)(fm->n_ad - 1);
    snprintf(out, cap, "%s: %zu layer(s), %ld step(s), loss %.6g (best at step %ld), optimum %.6g (x%.4f)\n", newname,
             na->n_layers, t - 1, best, best_step, optimum, best / optimum);
    if (interrupted) {
        snprintf(msg, mcap, "interrupted at step %ld: the best state (step %ld) is kept as '%s'", t - 1, best_step, newname);
        return 1;
    }
    return 0;
}

/* run() of the model (on_reader = 0) or of one of its readers (1: only the base reads are told apart). */
static int fake_run_on(fake_model *fm, int on_reader, int argc, char **argv, unsigned flags,
                       const lsc_tui_progress *prog, char **output, char **errmsg)
{
    char buf[8192], msg[LSC_ERROR_MSG_MAX + 64], *big = NULL;
    size_t len = 0, big_cap = 0;
    int rc = 0;
    buf[0] = '\0';
    msg[0] = '\0';
    *errmsg = NULL;
    int mutating = argc >= 1 && (strcmp(argv[0], "rename") == 0 || strcmp(argv[0], "prune") == 0 ||
                                 strcmp(argv[0], "merge") == 0 || strcmp(argv[0], "undo") == 0 ||
                                 strcmp(argv[0], "retrain") == 0 ||
                                 strcmp(argv[0], "redo") == 0);
    if (argc < 1) {
        rc = 2;
        snprintf(msg, sizeof msg, "no command given");
    } else if (mutating && (flags & LSC_TUI_RUN_READONLY)) {
        rc = 1;
        snprintf(msg, sizeof msg, "the catalog is open read-only: '%s' would change it", argv[0]);
    } else if (strcmp(argv[0], "ls") == 0) {
        for (size_t i = 0; i < fm->n_ad && len < sizeof buf - 200; i++)
            if (!fm->ad[i].hidden)
                len += (size_t)snprintf(buf + len, sizeof buf - len, "%-24s %-10s %4lld layers\n", fm->ad[i].info.name,
                                        fm->ad[i].info.kind, (long long)fm->ad[i].info.n_layers);
    } else if (strcmp(argv[0], "echo") == 0) {
        for (int i = 1; i < argc && len < sizeof buf - 2; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", argv[i], i + 1 < argc ? " " : "\n");
    } else if (strcmp(argv[0], "rename") == 0) {
        fake_adapter *fa = argc == 3 ? find_adapter(fm, argv[1]) : NULL;
        if (argc != 3) {
            rc = 2;
            snprintf(msg, sizeof msg, "usage: rename OLD NEW");
        } else if (!fa) {
            rc = 1;
            snprintf(msg, sizeof msg, "no adapter '%s' in the catalog", argv[1]);
        } else if (find_adapter(fm, argv[2])) {
            rc = 1;
            snprintf(msg, sizeof msg, "an adapter named '%s' already exists", argv[2]);
        } else {
            lsc_tui_copy(fa->info.name, sizeof fa->info.name, argv[2]);
            snprintf(buf, sizeof buf, "renamed '%s' to '%s'\n", argv[1], argv[2]);
            if (add_history(fm, "rename", buf, argv[1], argv[2], 0) != 0)
                rc = 1;
        }
    } else if (strcmp(argv[0], "prune") == 0) {
        rc = run_prune(fm, argc, argv, buf, sizeof buf, msg, sizeof msg);
    } else if (strcmp(argv[0], "merge") == 0) {
        rc = run_merge(fm, argc, argv, prog, buf, sizeof buf, msg, sizeof msg);
    } else if (strcmp(argv[0], "retrain") == 0) {
        rc = run_retrain(fm, argc, argv, prog, buf, sizeof buf, msg, sizeof msg);
    } else if (strcmp(argv[0], "undo") == 0 || strcmp(argv[0], "redo") == 0) {
        rc = run_undo(fm, argv[0][0] == 'r', buf, sizeof buf, msg, sizeof msg);
    } else if (strcmp(argv[0], "show") == 0 && argc >= 3 && strcmp(argv[2], "--base") == 0) {
        fake_adapter *fa = argc >= 2 ? find_adapter(fm, argv[1]) : NULL;
        big_cap = (fa ? fa->n_layers : 0) * 512 + 256;
        big = calloc(big_cap, 1);
        atomic_fetch_add(&fm->show_base_runs, 1);
        for (int a = 3; a < argc; a++)
            if (strcmp(argv[a], "--norms") == 0)
                atomic_fetch_add(&fm->show_norms_runs, 1);
        atomic_fetch_add(on_reader ? &fm->base_reads_reader : &fm->base_reads_ui, 1);
        atomic_store(&fm->show_base_layer, 0);
        atomic_fetch_add(&fm->show_base_active, 1);
        rc = run_show_base(fm, argc, argv, prog, big ? big : buf, big ? big_cap : sizeof buf, msg, sizeof msg);
        atomic_fetch_sub(&fm->show_base_active, 1);
    } else if (strcmp(argv[0], "log") == 0) {
        rc = run_log(fm, argc, argv, buf, sizeof buf, msg, sizeof msg);
    } else {
        rc = 2;
        snprintf(msg, sizeof msg, "unknown command '%s'", argv[0]);
    }
    if (rc != 0)
        *errmsg = dupstr(msg[0] ? msg : "failed");
    if (big && rc == 0) {
        *output = big;
        return rc;
    }
    free(big);
    *output = dupstr(buf);
    return rc;
}

static int fake_run(void *ctx, int argc, char **argv, unsigned flags, const lsc_tui_progress *prog, char **output,
                    char **errmsg)
{
    return fake_run_on(ctx, 0, argc, argv, flags, prog, output, errmsg);
}

/* ---- the reader (model.h): fake_run on the same adapters, read-only ----------------------------------- */

typedef struct fake_reader {
    fake_model *fm;
} fake_reader;

static int reader_run(void *ctx, int argc, char **argv, unsigned flags, const lsc_tui_progress *prog, char **output,
                      char **errmsg)
{
    return fake_run_on(((fake_reader *)ctx)->fm, 1, argc, argv, flags | LSC_TUI_RUN_READONLY, prog, output, errmsg);
}

static void reader_destroy(void *ctx)
{
    fake_reader *r = ctx;
    if (!r)
        return;
    atomic_fetch_sub(&r->fm->readers, 1);
    free(r);
}

static lsc_status fake_reader_open(void *ctx, lsc_tui_model *out, lsc_error *err)
{
    fake_model *fm = ctx;
    memset(out, 0, sizeof *out);
    fake_reader *r = calloc(1, sizeof *r);
    if (!r)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    r->fm = fm;
    atomic_fetch_add(&fm->readers, 1);
    fm->readers_opened++;
    out->ctx = r;
    out->run = reader_run;
    out->destroy = reader_destroy;
    return LSC_OK;
}

/* ---- kind figures (made up from the spectra, deterministic) ------------------------------------------- */

static uint64_t mix3(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t s = seed ^ (a + 1) * 0xD6E8FEB86659FD93ull ^ (b + 1) * 0x9E3779B97F4A7C15ull;
    splitmix(&s);
    return s;
}

static lsc_status kind_nomem(lsc_tui_kind_figures *out, lsc_error *err)
{
    lsc_tui_kind_release(out);
    return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
}

static lsc_status fake_kind_dynamic(fake_model *fm, const fake_adapter *fa, lsc_tui_kind_figures *out, lsc_error *err)
{
    size_t total = 0;
    int maxr = 0;
    for (size_t i = 0; i < fa->n_layers; i++) {
        total += (size_t)fa->n_sv[i];
        maxr = fa->n_sv[i] > maxr ? fa->n_sv[i] : maxr;
    }
    out->layers = calloc(fa->n_layers + 1, sizeof *out->layers);
    out->prefix_err = calloc(total + 1, sizeof *out->prefix_err);
    out->best_err = calloc(total + 1, sizeof *out->best_err);
    out->mean_prefix_err = calloc((size_t)maxr + 1, sizeof *out->mean_prefix_err);
    out->mean_best_err = calloc((size_t)maxr + 1, sizeof *out->mean_best_err);
    int *cnt = calloc((size_t)maxr + 1, sizeof *cnt);
    if (!out->layers || !out->prefix_err || !out->best_err || !out->mean_prefix_err || !out->mean_best_err || !cnt) {
        free(cnt);
        return kind_nomem(out, err);
    }
    out->n_layers = fa->n_layers;
    out->n_b = maxr;
    size_t off = 0;
    for (size_t i = 0; i < fa->n_layers; i++) {
        lsc_tui_kind_layer *L = &out->layers[i];
        int r = fa->n_sv[i];
        lsc_tui_copy(L->name, sizeof L->name, fa->layers[i].name);
        L->rank = r;
        L->off = off;
        double e = 0;
        for (int k = 0; k < r; k++)
            e += fa->sv[i][k] * fa->sv[i][k];
        uint64_t s = mix3(fm->seed, i, 77);
        for (int k = 0; k < r; k++) { /* b = k + 1: the best truncation keeps the first b values */
            double tail = 0;
            for (int j = k + 1; j < r; j++)
                tail += fa->sv[i][j] * fa->sv[i][j];
            double best = e > 0 && tail > 0 ? sqrt(tail / e) : 0;
            double loss = k + 1 < r ? 0.6 * unif(&s) * (double)(r - k - 1) / (double)r : 0;
            double pre = best + (1 - best) * loss;
            out->best_err[off + (size_t)k] = best;
            out->prefix_err[off + (size_t)k] = pre;
            out->mean_best_err[k] += best;
            out->mean_prefix_err[k] += pre;
            cnt[k]++;
        }
        off += (size_t)r;
    }
    for (int k = 0; k < maxr; k++) {
        out->mean_best_err[k] = cnt[k] ? out->mean_best_err[k] / cnt[k] : 0;
        out->mean_prefix_err[k] = cnt[k] ? out->mean_prefix_err[k] / cnt[k] : 0;
    }
    free(cnt);
    return LSC_OK;
}

static lsc_status fake_kind_layers(const fake_adapter *fa, lsc_tui_kind_figures *out, lsc_error *err)
{
    out->layers = calloc(fa->n_layers + 1, sizeof *out->layers);
    if (!out->layers)
        return kind_nomem(out, err);
    out->n_layers = fa->n_layers;
    for (size_t i = 0; i < fa->n_layers; i++) {
        lsc_tui_copy(out->layers[i].name, sizeof out->layers[i].name, fa->layers[i].name);
        out->layers[i].rank = fa->layers[i].rank;
    }
    return LSC_OK;
}

static lsc_status fake_kind_adaptive(const fake_adapter *fa, lsc_tui_kind_figures *out, lsc_error *err)
{
    if (fake_kind_layers(fa, out, err) != LSC_OK)
        return LSC_ERR_NOMEM;
    out->init_r = 12;
    out->target_r = 8;
    for (size_t i = 0; i < fa->n_layers; i++) {
        lsc_tui_kind_layer *L = &out->layers[i];
        int n = fa->n_sv[i];
        L->kept = fa->layers[i].rank;
        L->lambda_max = n ? fa->sv[i][0] : NAN;
        L->lambda_min = n ? fa->sv[i][n - 1] : NAN;
        L->orth_p = 1e-8 * (double)(i % 5);
        L->orth_q = 0.01 * (double)(i % 7);
        out->budget += L->kept;
    }
    out->target_budget = (int64_t)out->target_r * (int64_t)fa->n_layers;
    return LSC_OK;
}

static lsc_status fake_kind_sparse(const fake_adapter *fa, lsc_tui_kind_figures *out, lsc_error *err)
{
    if (fake_kind_layers(fa, out, err) != LSC_OK)
        return LSC_ERR_NOMEM;
    out->n_hist = 12;
    out->hist_lo_exp = -9;
    out->hist = calloc(out->n_hist, sizeof *out->hist);
    if (!out->hist)
        return kind_nomem(out, err);
    for (size_t i = 0; i < fa->n_layers; i++) {
        lsc_tui_kind_layer *L = &out->layers[i];
        int n = fa->n_sv[i];
        L->kept = 0;
        for (int k = 0; k < n; k++) {
            double v = fa->sv[i][k];
            L->kept += v >= 0.25 * fa->sv[i][0];
            int bin = v > 0 ? (int)floor(log10(v)) - out->hist_lo_exp + 1 : 0;
            bin = bin < 0 ? 0 : bin >= (int)out->n_hist ? (int)out->n_hist - 1 : bin;
            out->hist[bin]++;
        }
        L->zeros_a = fa->layers[i].zeros_a;
        L->zeros_b = fa->layers[i].zeros_b;
        out->live_gates += L->kept;
        out->rank_total += L->rank;
    }
    return LSC_OK;
}

static lsc_status fake_kind_layerwise(const fake_adapter *fa, lsc_tui_kind_figures *out, lsc_error *err)
{
    out->modules = calloc(32, sizeof *out->modules);
    if (!out->modules)
        return kind_nomem(out, err);
    int maxl = -1;
    double total = 0;
    for (size_t i = 0; i < fa->n_layers; i++) {
        const lsc_tui_layer *l = &fa->layers[i];
        maxl = l->layer_index > maxl ? l->layer_index : maxl;
        int k = 0;
        while (k < out->n_modules && strcmp(out->modules[k], l->module_type) != 0)
            k++;
        if (k == out->n_modules && k < 32)
            lsc_tui_copy(out->modules[out->n_modules++], LSC_TUI_WORD_MAX, l->module_type);
        if (!l->nonfinite)
            total += l->fro * l->fro;
    }
    out->n_blocks = maxl + 1;
    size_t cells = (size_t)out->n_blocks * (size_t)out->n_modules;
    out->rank_grid = calloc(cells + 1, sizeof *out->rank_grid);
    out->share_grid = calloc(cells + 1, sizeof *out->share_grid);
    if (!out->rank_grid || !out->share_grid)
        return kind_nomem(out, err);
    for (size_t i = 0; i < fa->n_layers; i++) {
        const lsc_tui_layer *l = &fa->layers[i];
        int k = 0;
        while (k < out->n_modules && strcmp(out->modules[k], l->module_type) != 0)
            k++;
        if (l->layer_index < 0 || k == out->n_modules)
            continue;
        size_t c = (size_t)l->layer_index * (size_t)out->n_modules + (size_t)k;
        out->rank_grid[c] = l->rank;
        out->share_grid[c] = total > 0 && !l->nonfinite ? l->fro * l->fro / total : 0;
    }
    return LSC_OK;
}

static lsc_status fake_kind_multitask(fake_model *fm, const fake_adapter *fa, lsc_tui_kind_figures *out, lsc_error *err)
{
    const fake_adapter *task[LSC_TUI_TASKS_MAX];
    int nt = 0;
    for (size_t i = 0; i < fm->n_ad && nt < LSC_TUI_TASKS_MAX; i++)
        if (&fm->ad[i] != fa && !fm->ad[i].hidden && strcmp(fm->ad[i].info.kind, "multi-task") != 0)
            task[nt++] = &fm->ad[i];
    /* the layers every task has, in the first task's order */
    out->layers = calloc((nt ? task[0]->n_layers : 0) + 1, sizeof *out->layers);
    out->tasks = calloc((size_t)nt + 1, sizeof *out->tasks);
    out->task_norms = calloc((size_t)nt + 1, sizeof *out->task_norms);
    out->task_cosine = calloc((size_t)(nt * nt) + 1, sizeof *out->task_cosine);
    if (!out->layers || !out->tasks || !out->task_norms || !out->task_cosine)
        return kind_nomem(out, err);
    out->n_tasks = nt;
    for (int t = 0; t < nt; t++) {
        const char *nm = task[t]->info.name, *dash = strrchr(nm, '-');
        lsc_tui_copy(out->tasks[t].task, sizeof out->tasks[t].task, dash ? dash + 1 : nm);
        lsc_tui_copy(out->tasks[t].adapter, sizeof out->tasks[t].adapter, nm);
        out->tasks[t].layers = (int64_t)task[t]->n_layers;
        out->tasks[t].params = task[t]->info.params;
        double e = 0;
        for (size_t i = 0; i < task[t]->n_layers; i++)
            e += task[t]->layers[i].nonfinite ? 0 : task[t]->layers[i].fro * task[t]->layers[i].fro;
        out->task_norms[t] = sqrt(e);
    }
    for (size_t i = 0; nt && i < task[0]->n_layers; i++) {
        int all = 1;
        for (int t = 1; t < nt && all; t++)
            all = find_layer(task[t], task[0]->layers[i].name) >= 0;
        if (all)
            lsc_tui_copy(out->layers[out->n_layers++].name, LSC_TUI_NAME_MAX, task[0]->layers[i].name);
    }
    size_t nn = (size_t)nt * (size_t)nt;
    out->cosine = calloc(out->n_layers * nn + 1, sizeof *out->cosine);
    if (!out->cosine)
        return kind_nomem(out, err);
    out->shared_dim_min = -1;
    for (size_t i = 0; i < out->n_layers; i++) {
        lsc_tui_kind_layer *L = &out->layers[i];
        long li = find_layer(task[0], L->name);
        L->rank = task[0]->layers[li].rank;
        L->shared_a = task[0]->layers[li].layer_index % 8 == 0;
        L->shared_dim = L->shared_a ? L->rank : 2;
        out->shared_a_layers += L->shared_a;
        if (out->shared_dim_min < 0 || L->shared_dim < out->shared_dim_min)
            out->shared_dim_min = L->shared_dim;
        L->off = i * nn;
        for (int a = 0; a < nt; a++)
            for (int b = 0; b <= a; b++) {
                uint64_t s = mix3(fm->seed, i, (uint64_t)(a * LSC_TUI_TASKS_MAX + b));
                double c = a == b ? 1 : (L->shared_a ? 0.6 : 0) + 0.3 * (unif(&s) - 0.5);
                out->cosine[L->off + (size_t)(a * nt + b)] = out->cosine[L->off + (size_t)(b * nt + a)] = c;
            }
    }
    for (size_t k = 0; k < nn; k++) { /* overall: the mean of the layers' cosines */
        double sum = 0;
        for (size_t i = 0; i < out->n_layers; i++)
            sum += out->cosine[i * nn + k];
        out->task_cosine[k] = out->n_layers ? sum / (double)out->n_layers : 0;
    }
    if (out->shared_dim_min < 0)
        out->shared_dim_min = 0;
    return LSC_OK;
}

/* LoHa / LoKr: the product spectrum is the layer's own; the parts are made up (geometric, seeded): LoHa
 * r 4 + 4, LoKr W1 [8, 8] full and W2 [rows/8, cols/8] of rank 4. */
static lsc_status fake_kind_lycoris(fake_model *fm, const fake_adapter *fa, int lokr, lsc_tui_kind_figures *out,
                                    lsc_error *err)
{
    if (fake_kind_layers(fa, out, err) != LSC_OK)
        return LSC_ERR_NOMEM;
    size_t total = 0;
    for (size_t i = 0; i < fa->n_layers; i++)
        total += 8 + 4 + (size_t)fa->n_sv[i];
    out->part_sv = calloc(total + 1, sizeof *out->part_sv);
    if (!out->part_sv)
        return kind_nomem(out, err);
    size_t at = 0;
    for (size_t i = 0; i < fa->n_layers; i++) {
        lsc_tui_kind_layer *L = &out->layers[i];
        lsc_tui_copy(L->part, sizeof L->part, lokr ? "lokr" : "loha");
        L->r1 = lokr ? 0 : 4;
        L->r2 = 4;
        if (lokr) {
            L->w1_rows = L->w1_cols = 8;
            L->w2_rows = fa->layers[i].rows / 8;
            L->w2_cols = fa->layers[i].cols / 8;
        }
        L->n_sv1 = lokr ? 8 : 4;
        L->n_sv2 = 4;
        L->n_svp = fa->n_sv[i];
        uint64_t h = mix3(fm->seed, i, 77);
        double q1 = 0.55 + 0.3 * (double)(h % 1000) / 1000.0, q2 = 0.45 + 0.4 * (double)((h >> 20) % 1000) / 1000.0;
        L->off1 = at;
        for (int k = 0; k < L->n_sv1; k++)
            out->part_sv[at++] = 2.0 * pow(q1, k);
        L->off2 = at;
        for (int k = 0; k < L->n_sv2; k++)
            out->part_sv[at++] = 0.5 * pow(q2, k);
        L->offp = at;
        for (int k = 0; k < L->n_svp; k++)
            out->part_sv[at++] = fa->sv[i] ? fa->sv[i][k] : 0.0;
        L->rank = L->n_svp;
    }
    out->n_part_sv = at;
    return LSC_OK;
}

static lsc_status fake_kind_figures(void *ctx, const char *adapter, lsc_tui_kind_figures *out, lsc_error *err)
{
    fake_model *fm = ctx;
    memset(out, 0, sizeof *out);
    fake_adapter *fa = find_adapter(fm, adapter);
    if (!fa)
        return not_found(err, adapter);
    const char *k = fa->info.kind;
    lsc_tui_copy(out->kind, sizeof out->kind, k);
    if (strcmp(k, "dynamic") == 0)
        return fake_kind_dynamic(fm, fa, out, err);
    if (strcmp(k, "adaptive") == 0)
        return fake_kind_adaptive(fa, out, err);
    if (strcmp(k, "sparse") == 0)
        return fake_kind_sparse(fa, out, err);
    if (strcmp(k, "layer-wise") == 0)
        return fake_kind_layerwise(fa, out, err);
    if (strcmp(k, "multi-task") == 0)
        return fake_kind_multitask(fm, fa, out, err);
    if (strcmp(k, "loha") == 0 || strcmp(k, "lokr") == 0)
        return fake_kind_lycoris(fm, fa, strcmp(k, "lokr") == 0, out, err);
    return LSC_OK;
}

/* A series made up from an adapter given the kind "series": five checkpoints (steps 200 .. 800 and the
 * final save at 1000, named NAME@STEP / NAME@final) whose figures grow towards the adapter's own layer
 * figures, with a fixed-seed wobble; the similarity to the final checkpoint rises to 1, to the previous
 * one stays high. */
#define FAKE_SERIES_STEPS 5
static lsc_status fake_series(void *ctx, const char *adapter, lsc_tui_series *out, lsc_error *err)
{
    fake_model *fm = ctx;
    memset(out, 0, sizeof *out);
    fake_adapter *fa = find_adapter(fm, adapter);
    if (!fa)
        return not_found(err, adapter);
    if (strcmp(fa->info.kind, "series") != 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "'%s' is not a series (import a training run's folder to get one)", adapter);
    size_t S = FAKE_SERIES_STEPS, n = fa->n_layers;
    lsc_status st = lsc_tui_series_alloc(out, S, n, err);
    if (st)
        return st;
    for (size_t j = 0; j < S; j++) {
        out->steps[j].step = (int64_t)(j + 1) * 200;
        if (j + 1 == S)
            snprintf(out->steps[j].label, sizeof out->steps[j].label, "final");
        else
            snprintf(out->steps[j].label, sizeof out->steps[j].label, "%lld", (long long)out->steps[j].step);
        char nm[LSC_TUI_NAME_MAX + 64];
        snprintf(nm, sizeof nm, "%s@%s", adapter, out->steps[j].label);
        lsc_tui_copy(out->steps[j].adapter, sizeof out->steps[j].adapter, nm);
    }
    for (size_t i = 0; i < n; i++) {
        const lsc_tui_layer *L = &fa->layers[i];
        lsc_tui_copy(out->layers[i].name, sizeof out->layers[i].name, L->name);
        for (size_t j = 0; j < S; j++) {
            uint64_t r = mix3(fm->seed, i, j);
            double t = (double)(j + 1) / (double)S, wob = 0.9 + 0.2 * unif(&r), at = i * S + j;
            size_t k = (size_t)at;
            out->fig[LSC_TUI_SERIES_NORM][k] = L->nonfinite ? NAN : L->fro * t * (j + 1 == S ? 1.0 : wob);
            out->fig[LSC_TUI_SERIES_SIGMA1][k] = L->nonfinite ? NAN : L->sigma1 * t * (j + 1 == S ? 1.0 : wob);
            out->fig[LSC_TUI_SERIES_ERANK][k] = L->effective_rank * (0.5 + 0.5 * t);
            out->fig[LSC_TUI_SERIES_K90][k] = L->k90 > 1 ? (double)(int)(L->k90 * (0.5 + 0.5 * t) + 0.5) : L->k90;
            out->fig[LSC_TUI_SERIES_SIM_PREV][k] = j == 0 || L->nonfinite ? NAN : 0.80 + 0.15 * t + 0.04 * unif(&r);
            out->fig[LSC_TUI_SERIES_SIM_FINAL][k] = L->nonfinite ? NAN : j + 1 == S ? 1.0 : 0.35 + 0.55 * t * t + 0.05 * unif(&r);
        }
    }
    return LSC_OK;
}

lsc_status lsc_tui_model_fake_set_kind(lsc_tui_model *m, const char *name, const char *kind, lsc_error *err)
{
    fake_model *fm = m->ctx;
    fake_adapter *fa = find_adapter(fm, name);
    if (!fa)
        return not_found(err, name);
    lsc_tui_copy(fa->info.kind, sizeof fa->info.kind, kind);
    return LSC_OK;
}

static void fake_destroy(void *ctx)
{
    fake_model *fm = ctx;
    if (!fm)
        return;
    for (size_t i = 0; i < fm->n_ad; i++) {
        for (size_t k = 0; fm->ad[i].sv && k < fm->ad[i].n_layers; k++)
            free(fm->ad[i].sv[k]);
        free(fm->ad[i].sv);
        free(fm->ad[i].n_sv);
        free(fm->ad[i].layers);
    }
    free(fm->ad);
    free(fm->hist);
    free(fm->hist_created);
    free(fm);
}

void lsc_tui_model_fake_hold(lsc_tui_model *m, int layers)
{
    fake_model *fm = m->ctx;
    atomic_store(&fm->hold, layers);
}

lsc_status lsc_tui_model_fake_init(lsc_tui_model *m, uint64_t seed, lsc_error *err)
{
    memset(m, 0, sizeof *m);
    fake_model *fm = calloc(1, sizeof *fm);
    if (!fm)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    fm->seed = seed;
    atomic_init(&fm->hold, -1);
    atomic_init(&fm->show_base_runs, 0);
    atomic_init(&fm->show_norms_runs, 0);
    atomic_init(&fm->readers, 0);
    atomic_init(&fm->show_base_active, 0);
    atomic_init(&fm->show_base_layer, 0);
    atomic_init(&fm->base_reads_ui, 0);
    atomic_init(&fm->base_reads_reader, 0);
    fm->ad = calloc(3, sizeof *fm->ad);
    if (!fm->ad) {
        free(fm);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    lsc_status st = make_adapter(fm, &fm->ad[0], 0, "llama2-7b-chat", "static", "", 0, FAKE_EPOCH, 2, err);
    fm->n_ad = 1;
    if (st == LSC_OK)
        fm->n_ad = 2, st = make_adapter(fm, &fm->ad[1], 1, "llama2-7b-code", "static", "llama2-7b-chat", 0,
                                        FAKE_EPOCH + 86400 * 3 + 3600 * 9, 2, err);
    if (st == LSC_OK)
        fm->n_ad = 3, st = make_adapter(fm, &fm->ad[2], 2, "llama2-7b-qv-ada", "adaptive", "", 1,
                                        FAKE_EPOCH + 86400 * 12 + 60 * 47, 4, err);
    if (st == LSC_OK) {
        if (add_history(fm, "import", "peft/chat --name llama2-7b-chat", "", "llama2-7b-chat", 0) ||
            add_history(fm, "import", "peft/code --name llama2-7b-code", "", "llama2-7b-code", 0) ||
            add_history(fm, "import", "peft/qv --name llama2-7b-qv-ada", "", "llama2-7b-qv-ada", 0) ||
            add_history(fm, "prune", "llama2-7b-code --energy 0.9 --name code-e90", "llama2-7b-code", "code-e90", 1) ||
            add_history(fm, "diff", "llama2-7b-chat llama2-7b-code", "llama2-7b-chat,llama2-7b-code", "", 0))
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        else
            for (long i = 0; i < 3; i++)
                fm->hist_created[i] = i;
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
    m->audit = fake_audit;
    m->run = fake_run;
    m->prune_preview = fake_prune_preview;
    m->merge_preview = fake_merge_preview;
    m->kind_figures = fake_kind_figures;
    m->series = fake_series;
    m->base_path = fake_base_path;
    m->reader = fake_reader_open;
    m->destroy = fake_destroy;
    return LSC_OK;
}

int lsc_tui_model_fake_show_base_runs(const lsc_tui_model *m)
{
    return atomic_load(&((fake_model *)m->ctx)->show_base_runs);
}

int lsc_tui_model_fake_show_norms_runs(const lsc_tui_model *m)
{
    return atomic_load(&((fake_model *)m->ctx)->show_norms_runs);
}

void lsc_tui_model_fake_readers(const lsc_tui_model *m, int *open_now, int *opened)
{
    fake_model *fm = m->ctx;
    *open_now = atomic_load(&fm->readers);
    *opened = fm->readers_opened;
}

void lsc_tui_model_fake_no_reader(lsc_tui_model *m) { m->reader = NULL; }

int lsc_tui_model_fake_show_base_active(const lsc_tui_model *m, int *layer)
{
    fake_model *fm = m->ctx;
    *layer = atomic_load(&fm->show_base_layer);
    return atomic_load(&fm->show_base_active);
}

void lsc_tui_model_fake_base_reads(const lsc_tui_model *m, int *on_model, int *on_readers)
{
    fake_model *fm = m->ctx;
    *on_model = atomic_load(&fm->base_reads_ui);
    *on_readers = atomic_load(&fm->base_reads_reader);
}

