/* gen-samples.c: writes the bundled sample PEFT adapters into OUTDIR (usage: gen-samples OUTDIR).
 *
 * Every sample is a real PEFT folder (adapter_model.safetensors + adapter_config.json) over a tiny
 * llama-like or GPT-2-like base, so the whole workbench can be tried without downloading anything.
 * The factors are not noise: each layer plants a geometrically decaying spectrum (B = U sqrt(S) / c,
 * A = c sqrt(S) V^T with orthonormal U, V, plus a faint training-noise tail), so spectra, energy ranks and
 * similarities look like those of trained adapters. Output is deterministic byte for byte: a fixed-seed
 * splitmix64 generator, Gaussians from sums of uniforms (no libm transcendental functions, whose last
 * bits may differ between C libraries), tensors sorted by name as the safetensors library does.
 * Total size about 3.5 MB. See SAMPLES.md. Depends on store/safetensors, engine/dtype and jansson.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cblas.h>

#include "dtype.h"
#include "gguf.h"
#include "rng.h"
#include "safetensors.h"
#include "train.h"
#include "workspace.h"
#include "status.h"

/* ---- deterministic random numbers ------------------------------------------------------------------ */



static double gauss(lsc_rng *g) /* Irwin-Hall(12) - 6: mean 0, variance 1, arithmetic only */
{
    double s = 0;
    for (int i = 0; i < 12; i++)
        s += lsc_rng_uniform(g);
    return s - 6.0;
}

static uint64_t seed_of(const char *name)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "gen-samples: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        die("out of memory%s%s", "", "");
    return p;
}

/* ---- factors with a planted spectrum ----------------------------------------------------------------- */

/* Make column j of M [n, k] (row-major) orthonormal to columns 0..j-1: `passes` rounds of modified
 * Gram-Schmidt, then unit length. */
static void orthonormalise_column(double *M, int64_t n, int k, int j, int passes)
{
    for (int pass = 0; pass < passes; pass++)
        for (int p = 0; p < j; p++) {
            double d = 0;
            for (int64_t i = 0; i < n; i++)
                d += M[i * k + p] * M[i * k + j];
            for (int64_t i = 0; i < n; i++)
                M[i * k + j] -= d * M[i * k + p];
        }
    double nn = 0;
    for (int64_t i = 0; i < n; i++)
        nn += M[i * k + j] * M[i * k + j];
    nn = sqrt(nn);
    for (int64_t i = 0; i < n; i++)
        M[i * k + j] /= nn;
}

/* Fill M [n, k] (row-major) with orthonormal columns: Gaussian columns, modified Gram-Schmidt twice. */
static void orthonormal(lsc_rng *g, int64_t n, int k, double *M)
{
    for (int64_t i = 0; i < n * k; i++)
        M[i] = gauss(g);
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < k; j++)
            orthonormalise_column(M, n, k, j, 1);
}

/* B [rows, r] and A [r, cols] with singular values sigma[i] = s0 * q^i of B*A (up to the noise tail).
 * A is scaled up and B down by c, as trained LoRA factors are (A starts at Kaiming scale, B at zero).
 * `shared_v` (may be NULL) gives the first `n_shared` input directions, to make tasks overlap. */
static void lora_pair(lsc_rng *g, int64_t rows, int64_t cols, int r, double s0, double q, double *B, double *A,
                      const double *shared_v, int n_shared)
{
    double *U = xcalloc((size_t)(rows * r), sizeof *U), *V = xcalloc((size_t)(cols * r), sizeof *V);
    orthonormal(g, rows, r, U);
    orthonormal(g, cols, r, V);
    if (shared_v && n_shared > 0) { /* replace the leading directions, then re-orthonormalise the rest */
        for (int64_t i = 0; i < cols; i++)
            for (int j = 0; j < n_shared && j < r; j++)
                V[i * r + j] = shared_v[i * r + j];
        for (int j = n_shared; j < r; j++)
            orthonormalise_column(V, cols, r, j, 2);
    }
    const double c = 4.0;
    double sig = s0;
    for (int j = 0; j < r; j++) {
        double h = sqrt(sig);
        for (int64_t i = 0; i < rows; i++)
            B[i * r + j] = U[i * r + j] * h / c;
        for (int64_t i = 0; i < cols; i++)
            A[j * cols + i] = V[i * r + j] * h * c;
        sig *= q;
    }
    double tail = 0.02 * sqrt(sig) * c / sqrt((double)cols); /* faint noise, below the smallest direction */
    for (int64_t i = 0; i < r * cols; i++)
        A[i] += tail * gauss(g);
    free(U);
    free(V);
}

/* ---- an adapter file being assembled ----------------------------------------------------------------- */

typedef struct gen_tensor {
    char *name;
    lsc_dtype dt;
    int ndim;
    int64_t shape[4];
    uint8_t *data;
    size_t nbytes;
} gen_tensor;

typedef struct gen_file {
    gen_tensor *t;
    size_t n, cap;
} gen_file;

static void add_tensor(gen_file *f, const char *name, lsc_dtype dt, int ndim, const int64_t *shape, const double *v)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->t = realloc(f->t, f->cap * sizeof *f->t);
        if (!f->t)
            die("out of memory%s%s", "", "");
    }
    gen_tensor *t = &f->t[f->n++];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->dt = dt;
    t->ndim = ndim;
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        n *= (size_t)shape[d];
    }
    t->nbytes = n * lsc_dtype_size(dt);
    t->data = xcalloc(t->nbytes, 1);
    size_t overflows = 0;
    if (lsc_dtype_from_double(dt, v, n, t->data, &overflows) != LSC_OK || overflows)
        die("cannot convert tensor '%s'%s", name, "");
}

static int cmp_tensor(const void *a, const void *b)
{
    return strcmp(((const gen_tensor *)a)->name, ((const gen_tensor *)b)->name);
}

static void make_dir(const char *p)
{
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        die("cannot create '%s': %s", p, strerror(errno));
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = xcalloc(n, 1);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Write the folder: tensors sorted by name, {"format": "pt"} metadata, config as PEFT dumps it. */
static void write_adapter(const char *dir, gen_file *f, json_t *config)
{
    make_dir(dir);
    qsort(f->t, f->n, sizeof *f->t, cmp_tensor);
    lsc_st_out *outs = xcalloc(f->n, sizeof *outs);
    for (size_t i = 0; i < f->n; i++) {
        outs[i].name = f->t[i].name;
        outs[i].dtype = f->t[i].dt;
        outs[i].ndim = f->t[i].ndim;
        outs[i].shape = f->t[i].shape;
    }
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    char *path = join(dir, "adapter_model.safetensors");
    lsc_st_writer *w = NULL;
    lsc_error err;
    if (lsc_st_writer_begin(path, outs, f->n, mk, mv, 1, &w, &err) != LSC_OK)
        die("%s%s", err.msg, "");
    for (size_t i = 0; i < f->n; i++)
        if (lsc_st_writer_put(w, f->t[i].data, f->t[i].nbytes, &err) != LSC_OK) {
            lsc_st_writer_abort(w);
            die("%s%s", err.msg, "");
        }
    if (lsc_st_writer_finish(w, &err) != LSC_OK)
        die("%s%s", err.msg, "");
    free(path);
    free(outs);

    /* PEFT writes json.dumps(config, indent=2, sort_keys=True): same layout, short reals */
    char *text = json_dumps(config, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    if (!text)
        die("cannot encode the config of '%s'%s", dir, "");
    path = join(dir, "adapter_config.json");
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(text, 1, strlen(text), fp) != strlen(text) || fclose(fp) != 0)
        die("cannot write '%s': %s", path, strerror(errno));
    free(path);
    free(text);
    json_decref(config);
    for (size_t i = 0; i < f->n; i++) {
        free(f->t[i].name);
        free(f->t[i].data);
    }
    free(f->t);
    memset(f, 0, sizeof *f);
}

/* ---- the bases ----------------------------------------------------------------------------------------- */

#define HIDDEN 256
#define INTER 688
#define N_LAYERS 4

typedef struct module_def {
    const char *path; /* under model.layers.N. */
    const char *type;
    int64_t out, in;
    double strength;  /* relative size of the update */
    double decay;     /* ratio between consecutive singular values */
} module_def;

static const module_def llama_modules[] = {
    {"self_attn.q_proj", "q_proj", HIDDEN, HIDDEN, 1.0, 0.72},
    {"self_attn.k_proj", "k_proj", HIDDEN, HIDDEN, 0.7, 0.65},
    {"self_attn.v_proj", "v_proj", HIDDEN, HIDDEN, 1.6, 0.80},
    {"self_attn.o_proj", "o_proj", HIDDEN, HIDDEN, 1.2, 0.78},
    {"mlp.gate_proj", "gate_proj", INTER, HIDDEN, 0.9, 0.70},
    {"mlp.up_proj", "up_proj", INTER, HIDDEN, 0.9, 0.74},
    {"mlp.down_proj", "down_proj", HIDDEN, INTER, 1.1, 0.76},
};
#define N_LLAMA (sizeof llama_modules / sizeof llama_modules[0])

static json_t *string_list(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* A LoraConfig as PEFT 0.13 saves it. */
static json_t *lora_config(const char *base, int r, double alpha, json_t *targets, const char *task)
{
    json_t *c = json_object();
    json_object_set_new(c, "alpha_pattern", json_object());
    json_object_set_new(c, "auto_mapping", json_null());
    json_object_set_new(c, "base_model_name_or_path", json_string(base));
    json_object_set_new(c, "bias", json_string("none"));
    json_object_set_new(c, "fan_in_fan_out", json_false());
    json_object_set_new(c, "inference_mode", json_true());
    json_object_set_new(c, "init_lora_weights", json_true());
    json_object_set_new(c, "layer_replication", json_null());
    json_object_set_new(c, "layers_pattern", json_null());
    json_object_set_new(c, "layers_to_transform", json_null());
    json_object_set_new(c, "loftq_config", json_object());
    json_object_set_new(c, "lora_alpha", alpha == floor(alpha) ? json_integer((json_int_t)alpha) : json_real(alpha));
    json_object_set_new(c, "lora_dropout", json_real(0.05));
    json_object_set_new(c, "megatron_config", json_null());
    json_object_set_new(c, "megatron_core", json_string("megatron.core"));
    json_object_set_new(c, "modules_to_save", json_null());
    json_object_set_new(c, "peft_type", json_string("LORA"));
    json_object_set_new(c, "r", json_integer(r));
    json_object_set_new(c, "rank_pattern", json_object());
    json_object_set_new(c, "revision", json_null());
    json_object_set_new(c, "target_modules", targets);
    json_object_set_new(c, "task_type", task ? json_string(task) : json_null());
    json_object_set_new(c, "use_dora", json_false());
    json_object_set_new(c, "use_rslora", json_false());
    return c;
}

static json_t *llama_targets(void)
{
    static const char *const t[] = {"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"};
    return string_list(t, 7);
}

/* One LoRA pair per module and layer; rank_of(layer, module) gives per-layer ranks (NULL: r). */
typedef int (*rank_fn)(int layer, const module_def *m, int r);

static void llama_lora(gen_file *f, lsc_rng *g, int r, rank_fn rank_of, lsc_dtype dt, const char *adapter_seg,
                       int with_dora, unsigned module_mask)
{
    char name[256];
    for (int L = 0; L < N_LAYERS; L++)
        for (size_t m = 0; m < N_LLAMA; m++) {
            if (!(module_mask & (1u << m)))
                continue;
            const module_def *md = &llama_modules[m];
            int rr = rank_of ? rank_of(L, md, r) : r;
            double *B = xcalloc((size_t)(md->out * rr), sizeof *B), *A = xcalloc((size_t)(rr * md->in), sizeof *A);
            double s0 = 0.08 * md->strength * (1.0 + 0.35 * L);
            lora_pair(g, md->out, md->in, rr, s0, md->decay, B, A, NULL, 0);
            int64_t as[] = {rr, md->in}, bs[] = {md->out, rr};
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.lora_A%s.weight", L, md->path, adapter_seg);
            add_tensor(f, name, dt, 2, as, A);
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.lora_B%s.weight", L, md->path, adapter_seg);
            add_tensor(f, name, dt, 2, bs, B);
            if (with_dora) { /* magnitudes: row norms of W + sBA for a base whose rows have norm ~1 */
                double *mag = xcalloc((size_t)md->out, sizeof *mag);
                for (int64_t i = 0; i < md->out; i++)
                    mag[i] = 1.0 + 0.05 * gauss(g);
                int64_t ms[] = {md->out};
                snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.lora_magnitude_vector", L, md->path);
                add_tensor(f, name, dt, 1, ms, mag);
                free(mag);
            }
            free(A);
            free(B);
        }
}

static int pattern_rank(int layer, const module_def *m, int r)
{
    if (strcmp(m->type, "v_proj") == 0)
        return 12;
    if (strcmp(m->type, "gate_proj") == 0 && layer <= 1)
        return 4;
    return r;
}

/* ---- the samples ----------------------------------------------------------------------------------------- */

static void sample_llama(const char *out, const char *name, int r, double alpha, lsc_dtype dt, int rslora)
{
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    llama_lora(&f, &g, r, NULL, dt, "", 0, 0x7f);
    json_t *c = lora_config("lorascope/llama-tiny", r, alpha, llama_targets(), "CAUSAL_LM");
    if (rslora)
        json_object_set_new(c, "use_rslora", json_true());
    char *dir = join(out, name);
    write_adapter(dir, &f, c);
    free(dir);
}

static void sample_patterns(const char *out)
{
    const char *name = "llama-tiny-patterns";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    llama_lora(&f, &g, 8, pattern_rank, LSC_DT_F32, "", 0, 0x7f);
    json_t *c = lora_config("lorascope/llama-tiny", 8, 16, llama_targets(), "CAUSAL_LM");
    /* PEFT keys: a plain module type, and a regular expression for the first two gate projections */
    json_t *rp = json_object(), *ap = json_object();
    json_object_set_new(rp, "v_proj", json_integer(12));
    json_object_set_new(rp, "layers\\.[01]\\.mlp\\.gate_proj", json_integer(4));
    json_object_set_new(ap, "v_proj", json_integer(24));
    json_object_set_new(ap, "down_proj", json_integer(8));
    json_object_set_new(c, "rank_pattern", rp);
    json_object_set_new(c, "alpha_pattern", ap);
    char *dir = join(out, name);
    write_adapter(dir, &f, c);
    free(dir);
}

static void sample_gpt2(const char *out)
{
    const char *name = "gpt2-tiny-conv1d";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    /* GPT-2 Conv1D stores W as [in, out]; PEFT's A [r, in] and B [out, r] are as usual, fan_in_fan_out
     * tells the base layer to transpose the delta */
    static const struct {
        const char *path;
        int64_t out, in;
        double strength, decay;
    } mods[] = {{"attn.c_attn", 3 * HIDDEN, HIDDEN, 1.2, 0.75},
                {"attn.c_proj", HIDDEN, HIDDEN, 0.8, 0.70},
                {"mlp.c_fc", 4 * HIDDEN, HIDDEN, 1.0, 0.72},
                {"mlp.c_proj", HIDDEN, 4 * HIDDEN, 1.0, 0.77}};
    const int r = 8;
    char key[256];
    for (int L = 0; L < N_LAYERS; L++)
        for (int m = 0; m < 4; m++) {
            double *B = xcalloc((size_t)(mods[m].out * r), sizeof *B), *A = xcalloc((size_t)(r * mods[m].in), sizeof *A);
            lora_pair(&g, mods[m].out, mods[m].in, r, 0.1 * mods[m].strength * (1 + 0.2 * L), mods[m].decay, B, A, NULL,
                      0);
            int64_t as[] = {r, mods[m].in}, bs[] = {mods[m].out, r};
            snprintf(key, sizeof key, "base_model.model.transformer.h.%d.%s.lora_A.weight", L, mods[m].path);
            add_tensor(&f, key, LSC_DT_F32, 2, as, A);
            snprintf(key, sizeof key, "base_model.model.transformer.h.%d.%s.lora_B.weight", L, mods[m].path);
            add_tensor(&f, key, LSC_DT_F32, 2, bs, B);
            free(A);
            free(B);
        }
    /* modules_to_save: the sequence-classification head, trained in full ([num_labels, n_embd]) */
    double head[2 * HIDDEN];
    for (int i = 0; i < 2 * HIDDEN; i++)
        head[i] = 0.02 * gauss(&g);
    int64_t hs[] = {2, HIDDEN};
    add_tensor(&f, "base_model.model.score.weight", LSC_DT_F32, 2, hs, head);
    static const char *const t[] = {"c_attn", "c_fc", "c_proj"};
    json_t *c = lora_config("lorascope/gpt2-tiny", r, 32, string_list(t, 3), "SEQ_CLS");
    json_object_set_new(c, "fan_in_fan_out", json_true());
    static const char *const mts[] = {"score"};
    json_object_set_new(c, "modules_to_save", string_list(mts, 1));
    char *dir = join(out, name);
    write_adapter(dir, &f, c);
    free(dir);
}

/* Two task adapters over one base, saved the way PEFT saves named adapters: tasks/<name>/. They share
 * their two leading input directions per layer, so the task similarity view has something to find. */
static void sample_tasks(const char *out)
{
    char *root = join(out, "tasks");
    make_dir(root);
    const char *tasks[] = {"summarize", "translate"};
    const int r = 8;
    lsc_rng shared_g = {seed_of("tasks/shared")};
    double *shared[N_LAYERS][2];
    for (int L = 0; L < N_LAYERS; L++)
        for (int m = 0; m < 2; m++) {
            shared[L][m] = xcalloc((size_t)HIDDEN * r, sizeof(double));
            orthonormal(&shared_g, HIDDEN, r, shared[L][m]);
        }
    for (int t = 0; t < 2; t++) {
        lsc_rng g = {seed_of(tasks[t])};
        gen_file f = {0};
        char key[256];
        for (int L = 0; L < N_LAYERS; L++)
            for (int m = 0; m < 2; m++) {
                const module_def *md = &llama_modules[m == 0 ? 0 : 2]; /* q_proj, v_proj */
                double *B = xcalloc((size_t)(md->out * r), sizeof *B), *A = xcalloc((size_t)(r * md->in), sizeof *A);
                lora_pair(&g, md->out, md->in, r, 0.1 * md->strength * (1 + 0.3 * L) * (t ? 0.8 : 1.0), md->decay, B, A,
                          shared[L][m], 2);
                int64_t as[] = {r, md->in}, bs[] = {md->out, r};
                snprintf(key, sizeof key, "base_model.model.model.layers.%d.%s.lora_A.weight", L, md->path);
                add_tensor(&f, key, LSC_DT_F16, 2, as, A);
                snprintf(key, sizeof key, "base_model.model.model.layers.%d.%s.lora_B.weight", L, md->path);
                add_tensor(&f, key, LSC_DT_F16, 2, bs, B);
                free(A);
                free(B);
            }
        static const char *const tm[] = {"q_proj", "v_proj"};
        json_t *c = lora_config("lorascope/llama-tiny", r, 16, string_list(tm, 2), "CAUSAL_LM");
        char *dir = join(root, tasks[t]);
        write_adapter(dir, &f, c);
        free(dir);
    }
    for (int L = 0; L < N_LAYERS; L++)
        for (int m = 0; m < 2; m++)
            free(shared[L][m]);
    free(root);
}

/* AdaLoRA after training: P (lora_B), Λ (lora_E), Q (lora_A) cut to the triplets the budget kept, and
 * rank_pattern holding the mask of kept triplets per lora_E (init_r entries each). */
static void sample_adalora(const char *out)
{
    const char *name = "llama-tiny-adalora";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    const int init_r = 12;
    json_t *rp = json_object();
    char key[256];
    for (int L = 0; L < N_LAYERS; L++)
        for (size_t m = 0; m < 4; m++) { /* attention projections */
            const module_def *md = &llama_modules[m];
            int keep[12], kept = 0;
            for (int i = 0; i < init_r; i++) { /* keep ~2/3 of the triplets, deeper layers and v more */
                double p = 0.45 + 0.08 * L + (m == 2 ? 0.2 : 0.0);
                keep[i] = i == 0 || lsc_rng_uniform(&g) < p;
                kept += keep[i];
            }
            double *P = xcalloc((size_t)(md->out * kept), sizeof *P), *Q = xcalloc((size_t)(kept * md->in), sizeof *Q);
            double *U = xcalloc((size_t)(md->out * kept), sizeof *U), *V = xcalloc((size_t)(md->in * kept), sizeof *V);
            double *E = xcalloc((size_t)kept, sizeof *E);
            orthonormal(&g, md->out, kept, U);
            orthonormal(&g, md->in, kept, V);
            double lam = 0.6 * md->strength * (1 + 0.3 * L);
            int k = 0;
            for (int i = 0; i < init_r; i++, lam *= 0.8) {
                if (!keep[i])
                    continue;
                E[k] = (lsc_rng_next(&g) & 1 ? 1 : -1) * lam; /* Λ is trained freely: signs vary */
                k++;
            }
            for (int64_t i = 0; i < md->out * kept; i++)
                P[i] = U[i];
            for (int j = 0; j < kept; j++)
                for (int64_t i = 0; i < md->in; i++)
                    Q[j * md->in + i] = V[i * kept + j] + 0.01 * gauss(&g);
            int64_t as[] = {kept, md->in}, bs[] = {md->out, kept}, es[] = {kept, 1};
            snprintf(key, sizeof key, "base_model.model.model.layers.%d.%s.lora_A", L, md->path);
            add_tensor(&f, key, LSC_DT_F32, 2, as, Q);
            snprintf(key, sizeof key, "base_model.model.model.layers.%d.%s.lora_B", L, md->path);
            add_tensor(&f, key, LSC_DT_F32, 2, bs, P);
            snprintf(key, sizeof key, "base_model.model.model.layers.%d.%s.lora_E", L, md->path);
            add_tensor(&f, key, LSC_DT_F32, 2, es, E);
            json_t *mask = json_array();
            for (int i = 0; i < init_r; i++)
                json_array_append_new(mask, json_boolean(keep[i]));
            snprintf(key, sizeof key, "model.layers.%d.%s.lora_E", L, md->path);
            json_object_set_new(rp, key, mask);
            free(P);
            free(Q);
            free(U);
            free(V);
            free(E);
        }
    static const char *const t[] = {"k_proj", "o_proj", "q_proj", "v_proj"};
    json_t *c = lora_config("lorascope/llama-tiny", 8, 32, string_list(t, 4), "CAUSAL_LM");
    json_object_set_new(c, "peft_type", json_string("ADALORA"));
    json_object_set_new(c, "init_r", json_integer(init_r));
    json_object_set_new(c, "target_r", json_integer(8));
    json_object_set_new(c, "tinit", json_integer(200));
    json_object_set_new(c, "tfinal", json_integer(500));
    json_object_set_new(c, "deltaT", json_integer(10));
    json_object_set_new(c, "beta1", json_real(0.85));
    json_object_set_new(c, "beta2", json_real(0.85));
    json_object_set_new(c, "orth_reg_weight", json_real(0.5));
    json_object_set_new(c, "total_step", json_integer(3000));
    json_object_set_new(c, "lora_dropout", json_real(0.1));
    json_object_set_new(c, "rank_pattern", rp);
    char *dir = join(out, name);
    write_adapter(dir, &f, c);
    free(dir);
}

static void sample_dora(const char *out)
{
    const char *name = "llama-tiny-dora";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    llama_lora(&f, &g, 8, NULL, LSC_DT_F32, "", 1, (1u << 0) | (1u << 2)); /* q_proj, v_proj */
    static const char *const t[] = {"q_proj", "v_proj"};
    json_t *c = lora_config("lorascope/llama-tiny", 8, 16, string_list(t, 2), "CAUSAL_LM");
    json_object_set_new(c, "use_dora", json_true());
    char *dir = join(out, name);
    write_adapter(dir, &f, c);
    free(dir);
}


/* ---- one sample of each remaining kind, and the formats beside PEFT -------------------------------------- */

/* SoRA-style sparse adapter: q_proj and v_proj with a gate [1, r] per layer (lora_gate), some gates closed
 * to exactly 0 as the L1 proximal step leaves them, so the live rank is below r. */
static void sample_sora(const char *out)
{
    const char *name = "llama-tiny-sora";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    llama_lora(&f, &g, 8, NULL, LSC_DT_F16, "", 0, (1u << 0) | (1u << 2));
    char key[256];
    for (int L = 0; L < N_LAYERS; L++)
        for (int m = 0; m < 2; m++) {
            double gate[8];
            int live = 8 - (L + m + 1); /* 7 down to 3 live gates */
            for (int i = 0; i < 8; i++)
                gate[i] = i < live ? 0.6 + 0.4 * lsc_rng_uniform(&g) : 0.0;
            int64_t gs[] = {1, 8};
            snprintf(key, sizeof key, "base_model.model.model.layers.%d.%s.lora_gate", L, m ? "self_attn.v_proj" : "self_attn.q_proj");
            add_tensor(&f, key, LSC_DT_F16, 2, gs, gate);
        }
    static const char *const t[] = {"q_proj", "v_proj"};
    json_t *c = lora_config("lorascope/llama-tiny", 8, 16, string_list(t, 2), "CAUSAL_LM");
    char *dir = join(out, name);
    write_adapter(dir, &f, c);
    free(dir);
}

/* Write one safetensors file from a gen_file (tensors sorted by name) with the given metadata. */
static void write_st(const char *path, gen_file *f, const char *const *mk, const char *const *mv, size_t nm)
{
    qsort(f->t, f->n, sizeof *f->t, cmp_tensor);
    lsc_st_out *outs = xcalloc(f->n, sizeof *outs);
    for (size_t i = 0; i < f->n; i++)
        outs[i] = (lsc_st_out){f->t[i].name, f->t[i].dt, f->t[i].ndim, f->t[i].shape};
    lsc_st_writer *w = NULL;
    lsc_error err;
    if (lsc_st_writer_begin(path, outs, f->n, mk, mv, nm, &w, &err) != LSC_OK)
        die("%s%s", err.msg, "");
    for (size_t i = 0; i < f->n; i++)
        if (lsc_st_writer_put(w, f->t[i].data, f->t[i].nbytes, &err) != LSC_OK)
            die("%s%s", err.msg, "");
    if (lsc_st_writer_finish(w, &err) != LSC_OK)
        die("%s%s", err.msg, "");
    free(outs);
    for (size_t i = 0; i < f->n; i++) {
        free(f->t[i].name);
        free(f->t[i].data);
    }
    free(f->t);
    memset(f, 0, sizeof *f);
}

/* write_st to the file `name` in the folder out. */
static void write_named(const char *out, const char *name, gen_file *f, const char *const *mk,
                        const char *const *mv, size_t nm)
{
    char *path = join(out, name);
    write_st(path, f, mk, mv, nm);
    free(path);
}

/* Train one DyLoRA layer with lorascope's own engine (engine/train.h, the DyLoRA rule: each step a random
 * prefix rank b is trained at scale alpha/b) towards a planted rank-r target; B [rows, r], A [r, cols]. */
static void dylora_layer(lsc_rng *g, int64_t rows, int64_t cols, int r, double alpha, double s0, double *B, double *A)
{
    double *tb = xcalloc((size_t)(rows * r), sizeof *tb), *ta = xcalloc((size_t)(r * cols), sizeof *ta);
    lora_pair(g, rows, cols, r, s0, 0.7, tb, ta, NULL, 0);
    lsc_train_target tgt;
    memset(&tgt, 0, sizeof tgt);
    tgt.lr = (lsc_lowrank){rows, cols, r, tb, ta, 1.0};
    lsc_train_problem p;
    memset(&p, 0, sizeof p);
    p.rows = rows;
    p.cols = cols;
    p.k = r;
    p.scale = alpha / r;
    p.n_tasks = 1;
    p.targets = &tgt;
    const int steps = 600;
    lsc_train_rule rule = lsc_train_rule_default(LSC_TRAIN_DYNAMIC, r, steps);
    lsc_train_schedule sched = {0.02, 0.0002, 30, steps};
    lsc_error err;
    lsc_workspace *ws = lsc_workspace_new();
    lsc_train_state *st = lsc_train_state_new(&p, &rule, &err);
    if (!st || !ws || lsc_train_init(st, &p, LSC_TRAIN_INIT_RANDOM, lsc_rng_next(g), NULL, ws, &err))
        die("DyLoRA sample: %s%s", err.msg, "");
    for (int t = 1; t <= steps; t++) {
        lsc_train_report rep;
        if (lsc_train_step(st, &p, lsc_train_lr(&sched, t), &rep, ws, &err))
            die("DyLoRA sample: %s%s", err.msg, "");
    }
    double s = 0;
    if (lsc_train_export(st, 0, B, A, &s, &err))
        die("DyLoRA sample: %s%s", err.msg, "");
    for (int64_t i = 0; i < rows * r; i++) /* export's scale is alpha / r already */
        B[i] *= s / (alpha / r);
    lsc_train_state_free(st);
    lsc_workspace_free(ws);
    free(tb);
    free(ta);
}

/* kohya DyLoRA for a tiny diffusion UNet: lora_unet_* linear layers (to_q, to_k, to_v, to_out_0 of two
 * attention blocks, 128 wide) and one 3x3 conv, rank 8 in units of 2, alpha 4, trained by lorascope's
 * DyLoRA rule so that every prefix rank works on its own (see dylora_layer). */
static void sample_kohya_dylora(const char *out)
{
    const char *name = "sd-tiny-dylora.safetensors";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    static const char *const mods[] = {"to_q", "to_k", "to_v", "to_out_0"};
    char key[256];
    const int r = 8;
    const double alpha = 4.0;
    for (int blk = 0; blk < 2; blk++)
        for (int m = 0; m < 4; m++) {
            int64_t dim = 128;
            double *B = xcalloc((size_t)(dim * r), sizeof *B), *A = xcalloc((size_t)(r * dim), sizeof *A);
            dylora_layer(&g, dim, dim, r, alpha, 0.05 * (1 + m), B, A);
            int64_t ds[] = {r, dim}, us[] = {dim, r}, sc[1] = {0};
            char base[160];
            snprintf(base, sizeof base, "lora_unet_down_blocks_%d_attentions_0_transformer_blocks_0_attn1_%s", blk, mods[m]);
            snprintf(key, sizeof key, "%s.lora_down.weight", base);
            add_tensor(&f, key, LSC_DT_F16, 2, ds, A);
            snprintf(key, sizeof key, "%s.lora_up.weight", base);
            add_tensor(&f, key, LSC_DT_F16, 2, us, B);
            snprintf(key, sizeof key, "%s.alpha", base);
            add_tensor(&f, key, LSC_DT_F16, 0, sc, &alpha);
            free(A);
            free(B);
        }
    /* a conv layer: down [r, in, 3, 3], up [out, r, 1, 1] */
    {
        int64_t in = 32, o = 32;
        double *B = xcalloc((size_t)(o * r), sizeof *B), *A = xcalloc((size_t)(r * in * 9), sizeof *A);
        dylora_layer(&g, o, in * 9, r, alpha, 0.04, B, A);
        int64_t ds[] = {r, in, 3, 3}, us[] = {o, r, 1, 1}, sc[1] = {0};
        const char *base = "lora_unet_down_blocks_0_resnets_0_conv1";
        snprintf(key, sizeof key, "%s.lora_down.weight", base);
        add_tensor(&f, key, LSC_DT_F16, 4, ds, A);
        snprintf(key, sizeof key, "%s.lora_up.weight", base);
        add_tensor(&f, key, LSC_DT_F16, 4, us, B);
        snprintf(key, sizeof key, "%s.alpha", base);
        add_tensor(&f, key, LSC_DT_F16, 0, sc, &alpha);
        free(A);
        free(B);
    }
    const char *mk[] = {"ss_base_model_version", "ss_network_alpha", "ss_network_args", "ss_network_dim",
                        "ss_network_module", "ss_sd_model_name"};
    const char *mv[] = {"sd_v1", "4", "{\"unit\": \"2\"}", "8", "networks.dylora", "lorascope/sd-tiny"};
    char *path = join(out, name);
    write_st(path, &f, mk, mv, 6);
    free(path);
}

/* ---- LyCORIS (LoHa, LoKr, LoCon with a Tucker core, DoRA) -------------------------------------------- */

/* One tensor base + suffix of the given shape with Gaussian entries of standard deviation sd. */
static void lyc_put(gen_file *f, lsc_rng *g, const char *base, const char *suffix, int ndim, const int64_t *shape,
                    double sd)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    double *v = xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = sd * gauss(g);
    char key[256];
    snprintf(key, sizeof key, "%s%s", base, suffix);
    add_tensor(f, key, LSC_DT_F16, ndim, shape, v);
    free(v);
}

static void lyc_alpha(gen_file *f, const char *base, double alpha)
{
    char key[256];
    int64_t sc[1] = {0};
    snprintf(key, sizeof key, "%s.alpha", base);
    add_tensor(f, key, LSC_DT_F16, 0, sc, &alpha);
}

static void lyc_write(const char *out, const char *name, gen_file *f, const char *algo_args, const char *dim,
                      const char *alpha)
{
    const char *mk[] = {"ss_base_model_version", "ss_network_alpha", "ss_network_args", "ss_network_dim",
                        "ss_network_module", "ss_sd_model_name"};
    const char *mv[] = {"sd_v1", alpha, algo_args, dim, "lycoris.kohya", "lorascope/sd-tiny"};
    write_named(out, name, f, mk, mv, 6);
}

/* LoHa's four factors of base in the order LyCORIS names them: hada_w1_a, hada_w1_b, hada_w2_a, hada_w2_b
 * (shapes wa, wb; standard deviations sd[0..3]). */
static void lyc_hada(gen_file *f, lsc_rng *g, const char *base, const int64_t *wa, const int64_t *wb,
                     const double sd[4])
{
    lyc_put(f, g, base, ".hada_w1_a", 2, wa, sd[0]);
    lyc_put(f, g, base, ".hada_w1_b", 2, wb, sd[1]);
    lyc_put(f, g, base, ".hada_w2_a", 2, wa, sd[2]);
    lyc_put(f, g, base, ".hada_w2_b", 2, wb, sd[3]);
}

#define LYC_ATTN "lora_unet_down_blocks_%d_attentions_0_transformer_blocks_0_attn1_%s"

/* LoHa as LyCORIS writes it: four 128-wide attention projections per block (r 4 + 4, alpha 2), a 3x3 conv
 * with Tucker cores (hada_t1/t2, use_tucker) and a 3x3 conv without (hada_w*_b flattened to [r, in*9]). */
static void sample_loha(const char *out)
{
    const char *name = "sd-tiny-loha.safetensors";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    static const char *const mods[] = {"to_q", "to_k", "to_v", "to_out_0"};
    const int r = 4;
    char base[200];
    for (int blk = 0; blk < 2; blk++)
        for (int m = 0; m < 4; m++) {
            snprintf(base, sizeof base, LYC_ATTN, blk, mods[m]);
            int64_t wa[] = {128, r}, wb[] = {r, 128};
            lyc_hada(&f, &g, base, wa, wb, (const double[4]){0.1 * (1 + m), 0.1, 0.1, 0.1 * (1 + blk)});
            lyc_alpha(&f, base, 2.0);
        }
    {
        const char *b = "lora_unet_down_blocks_0_resnets_0_conv1";
        int64_t t[] = {r, r, 3, 3}, wa[] = {r, 32}, wb[] = {r, 32};
        lyc_put(&f, &g, b, ".hada_t1", 4, t, 0.2);
        lyc_put(&f, &g, b, ".hada_w1_a", 2, wa, 0.2);
        lyc_put(&f, &g, b, ".hada_w1_b", 2, wb, 0.2);
        lyc_put(&f, &g, b, ".hada_t2", 4, t, 0.2);
        lyc_put(&f, &g, b, ".hada_w2_a", 2, wa, 0.2);
        lyc_put(&f, &g, b, ".hada_w2_b", 2, wb, 0.2);
        lyc_alpha(&f, b, 2.0);
    }
    {
        const char *b = "lora_unet_down_blocks_0_resnets_0_conv2";
        int64_t wa[] = {32, r}, wb[] = {r, 32 * 9};
        lyc_hada(&f, &g, b, wa, wb, (const double[4]){0.2, 0.1, 0.2, 0.1});
        lyc_alpha(&f, b, 2.0);
    }
    lyc_write(out, name, &f, "{\"algo\": \"loha\", \"conv_dim\": \"4\", \"conv_alpha\": \"2\"}", "4", "2");
}

/* LoKr as LyCORIS writes it with factor 8 (lora_dim 4, alpha 1): 128x128 projections as W1 [8, 8] full and
 * W2 [16, 16] of rank 4 (lokr_w2_a/_b); one with W2 full (scale 1 whatever alpha says); one with W1
 * decomposed too (decompose_both); a 128 -> 512 projection (W2 [16, 64]); a 3x3 conv with a Tucker W2
 * (lokr_t2 [4, 4, 3, 3], lokr_w2_a [4, 8], lokr_w2_b [4, 8]) beside W1 [4, 4]. */
static void sample_lokr(const char *out)
{
    const char *name = "sd-tiny-lokr.safetensors";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    static const char *const mods[] = {"to_q", "to_k", "to_v"};
    const int r = 4;
    char base[200];
    for (int m = 0; m < 3; m++) {
        snprintf(base, sizeof base, LYC_ATTN, 0, mods[m]);
        int64_t w1[] = {8, 8}, wa[] = {16, r}, wb[] = {r, 16};
        lyc_put(&f, &g, base, ".lokr_w1", 2, w1, 0.5);
        lyc_put(&f, &g, base, ".lokr_w2_a", 2, wa, 0.1 * (1 + m));
        lyc_put(&f, &g, base, ".lokr_w2_b", 2, wb, 0.1);
        lyc_alpha(&f, base, 1.0);
    }
    snprintf(base, sizeof base, LYC_ATTN, 0, "to_out_0");
    {
        int64_t w1[] = {8, 8}, w2[] = {16, 16};
        lyc_put(&f, &g, base, ".lokr_w1", 2, w1, 0.5);
        lyc_put(&f, &g, base, ".lokr_w2", 2, w2, 0.02);
        lyc_alpha(&f, base, 1.0);
    }
    snprintf(base, sizeof base, LYC_ATTN, 1, "to_q");
    {
        int64_t w1a[] = {16, r}, w1b[] = {r, 16}, w2[] = {8, 8};
        lyc_put(&f, &g, base, ".lokr_w1_a", 2, w1a, 0.3);
        lyc_put(&f, &g, base, ".lokr_w1_b", 2, w1b, 0.3);
        lyc_put(&f, &g, base, ".lokr_w2", 2, w2, 0.1);
        lyc_alpha(&f, base, 1.0);
    }
    {
        const char *b = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_ff_net_0_proj";
        int64_t w1[] = {8, 8}, wa[] = {16, r}, wb[] = {r, 64};
        lyc_put(&f, &g, b, ".lokr_w1", 2, w1, 0.5);
        lyc_put(&f, &g, b, ".lokr_w2_a", 2, wa, 0.1);
        lyc_put(&f, &g, b, ".lokr_w2_b", 2, wb, 0.1);
        lyc_alpha(&f, b, 1.0);
    }
    {
        const char *b = "lora_unet_down_blocks_0_resnets_0_conv1";
        int64_t w1[] = {4, 4}, t[] = {r, r, 3, 3}, wa[] = {r, 8}, wb[] = {r, 8};
        lyc_put(&f, &g, b, ".lokr_w1", 2, w1, 0.5);
        lyc_put(&f, &g, b, ".lokr_t2", 4, t, 0.2);
        lyc_put(&f, &g, b, ".lokr_w2_a", 2, wa, 0.2);
        lyc_put(&f, &g, b, ".lokr_w2_b", 2, wb, 0.2);
        lyc_alpha(&f, b, 1.0);
    }
    lyc_write(out, name, &f, "{\"algo\": \"lokr\", \"factor\": \"8\", \"conv_dim\": \"4\", \"conv_alpha\": \"1\"}", "4",
              "1");
}

/* LoCon with Tucker cores (use_tucker): the attention projections as plain lora_down/lora_up pairs (r 4,
 * alpha 2), the 3x3 convs as lora_down [4, in, 1, 1], lora_mid [4, 4, 3, 3], lora_up [out, 4, 1, 1]. */
static void sample_locon_tucker(const char *out)
{
    const char *name = "sd-tiny-locon-tucker.safetensors";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    static const char *const mods[] = {"to_q", "to_v"};
    const int r = 4;
    char base[200];
    for (int m = 0; m < 2; m++) {
        snprintf(base, sizeof base, LYC_ATTN, 0, mods[m]);
        int64_t ds[] = {r, 128}, us[] = {128, r};
        lyc_put(&f, &g, base, ".lora_down.weight", 2, ds, 0.1);
        lyc_put(&f, &g, base, ".lora_up.weight", 2, us, 0.05);
        lyc_alpha(&f, base, 2.0);
    }
    for (int c = 1; c <= 2; c++) {
        snprintf(base, sizeof base, "lora_unet_down_blocks_0_resnets_0_conv%d", c);
        int64_t ds[] = {r, 32, 1, 1}, ms[] = {r, r, 3, 3}, us[] = {32, r, 1, 1};
        lyc_put(&f, &g, base, ".lora_down.weight", 4, ds, 0.2);
        lyc_put(&f, &g, base, ".lora_mid.weight", 4, ms, 0.2);
        lyc_put(&f, &g, base, ".lora_up.weight", 4, us, 0.1);
        lyc_alpha(&f, base, 2.0);
    }
    lyc_write(out, name, &f, "{\"algo\": \"locon\", \"use_tucker\": \"True\", \"conv_dim\": \"4\"}", "4", "2");
}

/* DoRA as LyCORIS writes it (dora_wd): LoRA / LoCon pairs (r 4, alpha 4) with dora_scale [1, in] per input
 * channel ([1, in, 1, 1] for the conv), and one LoHa layer with a dora_scale too. */
static void sample_lyc_dora(const char *out)
{
    const char *name = "sd-tiny-dora.safetensors";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    static const char *const mods[] = {"to_q", "to_k", "to_v"};
    const int r = 4;
    char base[200];
    for (int m = 0; m < 3; m++) {
        snprintf(base, sizeof base, LYC_ATTN, 0, mods[m]);
        int64_t ds[] = {r, 128}, us[] = {128, r}, dm[] = {1, 128};
        lyc_put(&f, &g, base, ".lora_down.weight", 2, ds, 0.1);
        lyc_put(&f, &g, base, ".lora_up.weight", 2, us, 0.05);
        lyc_put(&f, &g, base, ".dora_scale", 2, dm, 0.05);
        lyc_alpha(&f, base, 4.0);
    }
    {
        const char *b = "lora_unet_down_blocks_0_resnets_0_conv1";
        int64_t ds[] = {r, 32, 3, 3}, us[] = {32, r, 1, 1}, dm[] = {1, 32, 1, 1};
        lyc_put(&f, &g, b, ".lora_down.weight", 4, ds, 0.1);
        lyc_put(&f, &g, b, ".lora_up.weight", 4, us, 0.05);
        lyc_put(&f, &g, b, ".dora_scale", 4, dm, 0.05);
        lyc_alpha(&f, b, 4.0);
    }
    snprintf(base, sizeof base, LYC_ATTN, 1, "to_q");
    {
        int64_t wa[] = {128, r}, wb[] = {r, 128}, dm[] = {1, 128};
        lyc_hada(&f, &g, base, wa, wb, (const double[4]){0.1, 0.1, 0.1, 0.1});
        lyc_put(&f, &g, base, ".dora_scale", 2, dm, 0.05);
        lyc_alpha(&f, base, 4.0);
    }
    lyc_write(out, name, &f, "{\"algo\": \"locon\", \"dora_wd\": \"True\", \"conv_dim\": \"4\"}", "4", "4");
}

/* A llama.cpp GGUF LoRA of the tiny llama (attention projections, r = 4, F16), written by lorascope's own
 * GGUF writer with llama.cpp's q/k row permutation for 4 heads. */
static void sample_gguf(const char *out)
{
    const char *name = "llama-tiny-attn.gguf";
    lsc_rng g = {seed_of(name)};
    lsc_adapter *ad = lsc_adapter_new();
    lsc_error err;
    ad->name = strdup("llama-tiny-attn");
    ad->format = strdup("peft");
    ad->kind = strdup("static");
    ad->base_model = strdup("lorascope/llama-tiny");
    const int r = 4;
    char key[256];
    for (int L = 0; L < N_LAYERS; L++)
        for (size_t m = 0; m < 4; m++) { /* q, k, v, o */
            const module_def *md = &llama_modules[m];
            double *B = xcalloc((size_t)(md->out * r), sizeof *B), *A = xcalloc((size_t)(r * md->in), sizeof *A);
            lora_pair(&g, md->out, md->in, r, 0.08 * md->strength * (1.0 + 0.35 * L), md->decay, B, A, NULL, 0);
            size_t li, ta, tb;
            snprintf(key, sizeof key, "base_model.model.model.layers.%d.%s", L, md->path);
            if (lsc_adapter_add_layer(ad, key, &li, &err))
                die("%s%s", err.msg, "");
            int64_t as[] = {r, md->in}, bs[] = {md->out, r};
            uint16_t *da = xcalloc((size_t)(r * md->in), 2), *db = xcalloc((size_t)(md->out * r), 2);
            lsc_dtype_from_double(LSC_DT_F16, A, (size_t)(r * md->in), da, NULL);
            lsc_dtype_from_double(LSC_DT_F16, B, (size_t)(md->out * r), db, NULL);
            char ka[300], kb[300];
            snprintf(ka, sizeof ka, "%s.lora_A.weight", key);
            snprintf(kb, sizeof kb, "%s.lora_B.weight", key);
            if (lsc_adapter_add_tensor(ad, ka, LSC_ROLE_A, (int)li, LSC_DT_F16, 2, as, da, &ta, &err) ||
                lsc_adapter_add_tensor(ad, kb, LSC_ROLE_B, (int)li, LSC_DT_F16, 2, bs, db, &tb, &err))
                die("%s%s", err.msg, "");
            lsc_layer *l = &ad->layers[li];
            free(l->module_type);
            l->module_type = strdup(md->type);
            l->layer_index = L;
            l->rows = md->out;
            l->cols = md->in;
            l->rank = r;
            l->alpha = 8;
            l->rule = LSC_SCALE_ALPHA_R;
            l->scale = 2;
            l->ta = (int)ta;
            l->tb = (int)tb;
            free(A);
            free(B);
        }
    lsc_gguf_write_opts o;
    memset(&o, 0, sizeof o);
    o.architecture = "llama";
    o.n_head = 4;
    o.n_head_kv = 4;
    char *path = join(out, name);
    if (lsc_gguf_write_ex(ad, path, LSC_DT_INVALID, &o, &err) != LSC_OK)
        die("%s%s", err.msg, "");
    free(path);
    lsc_adapter_free(ad);
}

/* A dense base/tuned pair to extract a LoRA from: two q_proj weights of the tiny llama (F16) and a norm
 * vector; the fine-tune moved each q_proj by a planted rank-6 update plus a faint full-rank drift, and left
 * the norm unchanged. */
static void sample_dense_pair(const char *out)
{
    const char *name = "dense-pair";
    lsc_rng g = {seed_of(name)};
    gen_file fb = {0}, ft = {0};
    char key[256];
    for (int L = 0; L < 2; L++) {
        int64_t n = HIDDEN;
        double *W = xcalloc((size_t)(n * n), sizeof *W), *T = xcalloc((size_t)(n * n), sizeof *T);
        for (int64_t i = 0; i < n * n; i++)
            W[i] = gauss(&g) / sqrt((double)n);
        double *B = xcalloc((size_t)(n * 6), sizeof *B), *A = xcalloc((size_t)(6 * n), sizeof *A);
        lora_pair(&g, n, n, 6, 0.6, 0.6, B, A, NULL, 0);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double d = 0;
                for (int k = 0; k < 6; k++)
                    d += B[i * 6 + k] * A[k * n + j];
                T[i * n + j] = W[i * n + j] + d + 2e-4 * gauss(&g);
            }
        int64_t sh[] = {n, n};
        snprintf(key, sizeof key, "model.layers.%d.self_attn.q_proj.weight", L);
        add_tensor(&fb, key, LSC_DT_F16, 2, sh, W);
        add_tensor(&ft, key, LSC_DT_F16, 2, sh, T);
        free(W);
        free(T);
        free(A);
        free(B);
    }
    double norm[HIDDEN];
    for (int i = 0; i < HIDDEN; i++)
        norm[i] = 1.0;
    int64_t ns[] = {HIDDEN};
    add_tensor(&fb, "model.norm.weight", LSC_DT_F16, 1, ns, norm);
    add_tensor(&ft, "model.norm.weight", LSC_DT_F16, 1, ns, norm);
    char *dir = join(out, name);
    make_dir(dir);
    char *pb = join(dir, "base.safetensors"), *pt = join(dir, "tuned.safetensors");
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    write_st(pb, &fb, mk, mv, 1);
    write_st(pt, &ft, mk, mv, 1);
    free(pb);
    free(pt);
    free(dir);
}

/* ---- image-model LoRA files of diffusers and cloneofsimo/lora (issue #16) ------------------------------ */

/* One planted pair B [rows, r], A [r, cols] (cols = in * kh * kw) of the module m under the keys m + down /
 * m + up, with an optional scalar alpha under m + alpha (alpha NULL: none). */
static void planted_pair(gen_file *f, lsc_rng *g, const char *m, const char *down, const char *up, const char *alpha,
                         int64_t rows, int64_t in, int k, int r, double s0, lsc_dtype dt, double alpha_v)
{
    char dk[256], uk[256], ak[256];
    snprintf(dk, sizeof dk, "%s%s", m, down);
    snprintf(uk, sizeof uk, "%s%s", m, up);
    snprintf(ak, sizeof ak, "%s%s", m, alpha ? alpha : "");
    int64_t cols = in * k * k;
    double *B = xcalloc((size_t)(rows * r), sizeof *B), *A = xcalloc((size_t)(r * cols), sizeof *A);
    lora_pair(g, rows, cols, r, s0, 0.7, B, A, NULL, 0);
    int64_t ds[4] = {r, in, k, k}, us[4] = {rows, r, 1, 1}, sc[1] = {0};
    add_tensor(f, dk, dt, k > 1 ? 4 : 2, ds, A);
    add_tensor(f, uk, dt, k > 1 ? 4 : 2, us, B);
    if (alpha)
        add_tensor(f, ak, dt, 0, sc, &alpha_v);
    free(A);
    free(B);
}

/* diffusers <= 0.20 save_attn_procs: the UNet's LoRA attention processors, keys
 * `<block>.processor.to_{q,k,v,out}_lora.{down,up}.weight` (no component prefix, no alpha: scale 1). */
static void sample_diffusers_attnprocs(const char *out)
{
    const char *name = "sd-tiny-attnprocs.safetensors";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    static const char *const projs[] = {"to_q", "to_k", "to_v", "to_out"};
    for (int blk = 0; blk < 2; blk++)
        for (int attn = 1; attn <= 2; attn++)
            for (int m = 0; m < 4; m++) {
                const char *base = "down_blocks.%d.attentions.0.transformer_blocks.0.attn%d.processor.%s_lora";
                char b[160];
                snprintf(b, sizeof b, base, blk, attn, projs[m]);
                int64_t in = attn == 2 && (m == 1 || m == 2) ? 96 : 64; /* cross-attention k/v read the text */
                planted_pair(&f, &g, b, ".down.weight", ".up.weight", NULL, 64, in, 1, 4, 0.04 * (1 + m), LSC_DT_F32, 0);
            }
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    write_named(out, name, &f, mk, mv, 1);
}

/* diffusers 0.21-0.24 (LoRACompatibleLinear / LoRACompatibleConv, patched text encoder): keys
 * `unet.<module>.lora.{down,up}.weight`, `text_encoder.<module>.lora_linear_layer.{down,up}.weight` and a
 * network alpha `<module>.alpha` per module (alpha 4 at rank 8: scale 0.5), one 3x3 conv. */
static void sample_diffusers_loracompat(const char *out)
{
    const char *name = "sd-tiny-loracompat.safetensors";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    char m[160];
    static const char *const uproj[] = {"to_q", "to_k", "to_v", "to_out.0", "proj_in"};
    for (int i = 0; i < 5; i++) {
        snprintf(m, sizeof m, "unet.mid_block.attentions.0.%s%s", i < 4 ? "transformer_blocks.0.attn1." : "", uproj[i]);
        planted_pair(&f, &g, m, ".lora.down.weight", ".lora.up.weight", ".alpha", 64, 64, 1, 8, 0.05 * (1 + i),
                     LSC_DT_F16, 4.0);
    }
    snprintf(m, sizeof m, "unet.mid_block.resnets.0.conv1");
    planted_pair(&f, &g, m, ".lora.down.weight", ".lora.up.weight", ".alpha", 32, 32, 3, 8, 0.04, LSC_DT_F16, 4.0);
    static const char *const tproj[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (int i = 0; i < 4; i++) {
        snprintf(m, sizeof m, "text_encoder.text_model.encoder.layers.0.self_attn.%s", tproj[i]);
        planted_pair(&f, &g, m, ".lora_linear_layer.down.weight", ".lora_linear_layer.up.weight", ".alpha", 96, 96, 1,
                     8, 0.03 * (1 + i), LSC_DT_F16, 4.0);
    }
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    write_named(out, name, &f, mk, mv, 1);
}

/* Current diffusers save_lora_weights (`pytorch_lora_weights.safetensors`): PEFT's lora_A/lora_B under
 * the `unet.` and `text_encoder.` components, no adapter_config.json, and `lora_adapter_metadata` holding
 * each component's LoraConfig (json.dumps(indent=2, sort_keys=True), keys prefixed by the component):
 * unet r 4, lora_alpha 8 (scale 2) with rank_pattern {"to_out.0": 8} and alpha_pattern {"to_out.0": 4}
 * (scale 0.5); text_encoder r 4, lora_alpha 4 (scale 1). */
static void sample_diffusers_peft(const char *out)
{
    const char *name = "sd-tiny-diffusers.safetensors";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    char m[160];
    static const char *const uproj[] = {"to_q", "to_k", "to_v", "to_out.0"};
    for (int blk = 0; blk < 2; blk++)
        for (int i = 0; i < 4; i++) {
            snprintf(m, sizeof m, "unet.up_blocks.%d.attentions.0.transformer_blocks.0.attn1.%s", blk + 1, uproj[i]);
            planted_pair(&f, &g, m, ".lora_A.weight", ".lora_B.weight", NULL, 64, 64, 1, i == 3 ? 8 : 4, 0.04 * (1 + i),
                         LSC_DT_F16, 0);
        }
    static const char *const tproj[] = {"q_proj", "v_proj"};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 2; i++) {
            snprintf(m, sizeof m, "text_encoder.text_model.encoder.layers.%d.self_attn.%s", l, tproj[i]);
            planted_pair(&f, &g, m, ".lora_A.weight", ".lora_B.weight", NULL, 96, 96, 1, 4, 0.03 * (1 + i), LSC_DT_F16, 0);
        }
    const char *meta = "{\n"
                       "  \"text_encoder.alpha_pattern\": {},\n"
                       "  \"text_encoder.lora_alpha\": 4,\n"
                       "  \"text_encoder.peft_type\": \"LORA\",\n"
                       "  \"text_encoder.r\": 4,\n"
                       "  \"text_encoder.rank_pattern\": {},\n"
                       "  \"text_encoder.target_modules\": [\n    \"q_proj\",\n    \"v_proj\"\n  ],\n"
                       "  \"text_encoder.use_rslora\": false,\n"
                       "  \"unet.alpha_pattern\": {\n    \"to_out.0\": 4\n  },\n"
                       "  \"unet.lora_alpha\": 8,\n"
                       "  \"unet.peft_type\": \"LORA\",\n"
                       "  \"unet.r\": 4,\n"
                       "  \"unet.rank_pattern\": {\n    \"to_out.0\": 8\n  },\n"
                       "  \"unet.target_modules\": [\n    \"to_k\",\n    \"to_out.0\",\n    \"to_q\",\n    \"to_v\"\n  ],\n"
                       "  \"unet.use_rslora\": false\n"
                       "}";
    const char *mk[] = {"format", "lora_adapter_metadata"}, *mv[] = {"pt", meta};
    write_named(out, name, &f, mk, mv, 2);
}

/* cloneofsimo/lora save_safeloras_with_embeds: `unet:<i>:up|down` and `text_encoder:<i>:up|down` with
 * `<part>:<i>:rank` metadata, each part's target classes as a JSON list, and one learned token `<s1>`
 * (a [96] embedding, metadata "<embed>"). Ranks 4 in the UNet, 2 in the text encoder; scale 1. */
static void sample_cloneofsimo(const char *out)
{
    const char *name = "sd-tiny-cloneofsimo.safetensors";
    lsc_rng g = {seed_of(name)};
    gen_file f = {0};
    const char *mk[32], *mv[32];
    static char keys[32][40], vals[32][8];
    size_t nm = 0;
    for (int part = 0; part < 2; part++) {
        const char *pn = part ? "text_encoder" : "unet";
        int n = part ? 4 : 12, r = part ? 2 : 4;
        for (int i = 0; i < n; i++) {
            char m[64];
            snprintf(m, sizeof m, "%s:%d", pn, i);
            planted_pair(&f, &g, m, ":down", ":up", NULL, part ? 96 : 64, part ? 96 : 64, 1, r, 0.03 * (1 + i % 4),
                         LSC_DT_F32, 0);
            snprintf(keys[nm], sizeof keys[nm], "%s:%d:rank", pn, i);
            snprintf(vals[nm], sizeof vals[nm], "%d", r);
            mk[nm] = keys[nm];
            mv[nm] = vals[nm];
            nm++;
        }
    }
    double emb[96];
    for (int i = 0; i < 96; i++)
        emb[i] = 0.1 * gauss(&g);
    int64_t es[1] = {96};
    add_tensor(&f, "<s1>", LSC_DT_F32, 1, es, emb);
    mk[nm] = "<s1>";
    mv[nm++] = "<embed>";
    mk[nm] = "text_encoder";
    mv[nm++] = "[\"CLIPAttention\"]";
    mk[nm] = "unet";
    mv[nm++] = "[\"CrossAttention\", \"Attention\", \"GEGLU\"]";
    write_named(out, name, &f, mk, mv, nm);
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: gen-samples OUTDIR\n"
                        "writes the sample PEFT adapters (about 3.5 MB) into OUTDIR; see samples/SAMPLES.md\n");
        return 2;
    }
    const char *out = argv[1];
    openblas_set_num_threads(1); /* the DyLoRA sample is trained: one thread, so the same bytes everywhere */
    make_dir(out);
    sample_llama(out, "llama-tiny-f32", 8, 16, LSC_DT_F32, 0);
    sample_llama(out, "llama-tiny-f16", 8, 16, LSC_DT_F16, 0);
    sample_llama(out, "llama-tiny-bf16", 16, 32, LSC_DT_BF16, 0);
    sample_llama(out, "llama-tiny-rslora", 16, 16, LSC_DT_F16, 1);
    sample_patterns(out);
    sample_gpt2(out);
    sample_tasks(out);
    sample_adalora(out);
    sample_dora(out);
    sample_sora(out);
    sample_kohya_dylora(out);
    sample_loha(out);
    sample_lokr(out);
    sample_locon_tucker(out);
    sample_lyc_dora(out);
    sample_gguf(out);
    sample_dense_pair(out);
    sample_diffusers_attnprocs(out);
    sample_diffusers_loracompat(out);
    sample_diffusers_peft(out);
    sample_cloneofsimo(out);
    return 0;
}
