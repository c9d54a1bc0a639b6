/* basenames.c: base-model module names, the built-in tables and kohya -> module path resolution (see
 * basenames.h). Reads files (safetensors headers, index JSON, text lists); never SQLite or curses. */
#include "basenames.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "format_util.h"
#include "namemap.h"
#include "safetensors.h"

const char *const lsc_basenames_archs[] = {"sd15", "sd2", "sdxl", "llama", NULL};

/* The pipeline components a name may start with (diffusers' sub-model folders). */
static const char *const components[] = {"unet", "text_encoder", "text_encoder_2", "text_encoder_3", "transformer"};
#define N_COMPONENTS (sizeof components / sizeof components[0])

typedef struct entry {
    char *comp; /* "" or one of components */
    char *path; /* dotted path inside the component */
} entry;

struct lsc_basenames {
    entry *e;
    size_t n, cap;
    int64_t *next;     /* another entry with the same flat key, -1 at the end (first added, then newest) */
    lsc_namemap exact; /* "comp\npath" -> index */
    lsc_namemap flat;  /* "comp\nflat path" -> first index */
};

lsc_basenames *lsc_basenames_new(void)
{
    lsc_basenames *bn = calloc(1, sizeof *bn);
    if (bn) {
        lsc_namemap_init(&bn->exact);
        lsc_namemap_init(&bn->flat);
    }
    return bn;
}

void lsc_basenames_free(lsc_basenames *bn)
{
    if (!bn)
        return;
    for (size_t i = 0; i < bn->n; i++) {
        free(bn->e[i].comp);
        free(bn->e[i].path);
    }
    free(bn->e);
    free(bn->next);
    lsc_namemap_free(&bn->exact);
    lsc_namemap_free(&bn->flat);
    free(bn);
}

size_t lsc_basenames_count(const lsc_basenames *bn)
{
    return bn ? bn->n : 0;
}

int lsc_basenames_name(const lsc_basenames *bn, size_t i, char *out, size_t cap)
{
    if (!bn || i >= bn->n || cap == 0)
        return -1;
    const entry *e = &bn->e[i];
    int n = e->comp[0] ? snprintf(out, cap, "%s.%s", e->comp, e->path) : snprintf(out, cap, "%s", e->path);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

/* "comp\n" + s, with '.' written '_' when flatten is set (malloc'ed). */
static char *map_key(const char *comp, const char *s, int flatten)
{
    size_t cl = strlen(comp), sl = strlen(s);
    char *k = malloc(cl + sl + 2);
    if (!k)
        return NULL;
    memcpy(k, comp, cl);
    k[cl] = '\n';
    for (size_t i = 0; i <= sl; i++)
        k[cl + 1 + i] = flatten && s[i] == '.' ? '_' : s[i];
    return k;
}

/* Length of the component a dotted name starts with ("unet." -> 4), 0 for none. The longest match wins
 * ("text_encoder_2." is not "text_encoder."). */
static size_t component_len(const char *name)
{
    size_t best = 0;
    for (size_t i = 0; i < N_COMPONENTS; i++) {
        size_t k = strlen(components[i]);
        if (strncmp(name, components[i], k) == 0 && name[k] == '.' && k > best)
            best = k;
    }
    return best;
}

/* Insert (comp, path) unless present; chain it behind earlier entries of the same flat key. */
static lsc_status add_entry(lsc_basenames *bn, const char *comp, size_t clen, const char *path, size_t plen,
                            lsc_error *err)
{
    char *c = strndup(comp, clen), *p = strndup(path, plen), *ek = NULL, *fk = NULL;
    lsc_status st = LSC_OK;
    if (!c || !p || !(ek = map_key(c, p, 0)) || !(fk = map_key(c, p, 1))) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (lsc_namemap_has(&bn->exact, ek))
        goto done;
    if (bn->n == bn->cap) {
        size_t nc = bn->cap ? 2 * bn->cap : 256;
        entry *ne = realloc(bn->e, nc * sizeof *ne);
        if (ne)
            bn->e = ne;
        int64_t *nx = ne ? realloc(bn->next, nc * sizeof *nx) : NULL;
        if (!nx) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto done;
        }
        bn->next = nx;
        bn->cap = nc;
    }
    size_t i = bn->n;
    if (lsc_namemap_put(&bn->exact, ek, (int64_t)i) != 0) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t first = -1;
    bn->next[i] = -1;
    if (lsc_namemap_get(&bn->flat, fk, &first)) {
        bn->next[i] = bn->next[first]; /* second in the chain: O(1) however many names share the flat form */
        bn->next[first] = (int64_t)i;
    } else if (lsc_namemap_put(&bn->flat, fk, (int64_t)i) != 0) {
        lsc_namemap_del(&bn->exact, ek);
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    bn->e[i].comp = c;
    bn->e[i].path = p;
    bn->n++;
    c = p = NULL;
done:
    free(c);
    free(p);
    free(ek);
    free(fk);
    return st;
}

lsc_status lsc_basenames_add(lsc_basenames *bn, const char *name, lsc_error *err)
{
    size_t n = strlen(name);
    if (lsc_format_ends_with(name, ".weight"))
        n -= 7;
    else if (lsc_format_ends_with(name, ".bias"))
        n -= 5;
    size_t cl = component_len(name);
    if (cl && cl + 1 < n)
        return add_entry(bn, name, cl, name + cl + 1, n - cl - 1, err);
    return add_entry(bn, "", 0, name, n, err);
}

/* ---- built-in tables ------------------------------------------------------------------------------- */

/* Adds printf-formatted names; the first error is kept in *st and later calls do nothing. */
typedef struct gen {
    lsc_basenames *bn;
    lsc_status st;
    lsc_error *err;
} gen;

__attribute__((format(printf, 2, 3))) static void put(gen *g, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    if (g->st)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g->st = lsc_basenames_add(g->bn, buf, g->err);
}

/* Attention (diffusers' Attention module) under `at`: to_q, to_k, to_v, to_out.0. */
static void put_attention(gen *g, const char *at)
{
    static const char *const parts[] = {"to_q", "to_k", "to_v", "to_out.0"};
    for (size_t i = 0; i < 4; i++)
        put(g, "%s.%s", at, parts[i]);
}

/* A Transformer2DModel of `depth` BasicTransformerBlocks under `at`. */
static void put_transformer(gen *g, const char *at, int depth)
{
    char sub[200];
    put(g, "%s.norm", at);
    put(g, "%s.proj_in", at);
    put(g, "%s.proj_out", at);
    for (int k = 0; k < depth; k++) {
        for (int n = 1; n <= 3; n++)
            put(g, "%s.transformer_blocks.%d.norm%d", at, k, n);
        snprintf(sub, sizeof sub, "%s.transformer_blocks.%d.attn1", at, k);
        put_attention(g, sub);
        snprintf(sub, sizeof sub, "%s.transformer_blocks.%d.attn2", at, k);
        put_attention(g, sub);
        put(g, "%s.transformer_blocks.%d.ff.net.0.proj", at, k);
        put(g, "%s.transformer_blocks.%d.ff.net.2", at, k);
    }
}

/* A ResnetBlock2D under `at`; conv_shortcut exists when the channel count changes. */
static void put_resnet(gen *g, const char *at, int in_ch, int out_ch)
{
    static const char *const parts[] = {"norm1", "conv1", "time_emb_proj", "norm2", "conv2"};
    for (size_t i = 0; i < 5; i++)
        put(g, "%s.%s", at, parts[i]);
    if (in_ch != out_ch)
        put(g, "%s.conv_shortcut", at);
}

/* The shape of a UNet2DConditionModel as its config gives it: channels and transformer depth per down
 * block (0 = a block without attention), the mid block's depth, layers_per_block 2 (3 resnets per up
 * block), and SDXL's add_embedding. Up blocks mirror the down blocks. */
typedef struct unet_shape {
    int n;
    const int *ch, *depth;
    int mid_depth, add_embedding;
} unet_shape;

static void put_unet(gen *g, const unet_shape *u)
{
    char at[160];
    put(g, "unet.conv_in");
    put(g, "unet.time_embedding.linear_1");
    put(g, "unet.time_embedding.linear_2");
    if (u->add_embedding) {
        put(g, "unet.add_embedding.linear_1");
        put(g, "unet.add_embedding.linear_2");
    }
    int prev = u->ch[0];
    for (int i = 0; i < u->n; i++) {
        for (int j = 0; j < 2; j++) {
            snprintf(at, sizeof at, "unet.down_blocks.%d.resnets.%d", i, j);
            put_resnet(g, at, j == 0 ? prev : u->ch[i], u->ch[i]);
            if (u->depth[i]) {
                snprintf(at, sizeof at, "unet.down_blocks.%d.attentions.%d", i, j);
                put_transformer(g, at, u->depth[i]);
            }
        }
        if (i < u->n - 1)
            put(g, "unet.down_blocks.%d.downsamplers.0.conv", i);
        prev = u->ch[i];
    }
    int top = u->ch[u->n - 1];
    put_resnet(g, "unet.mid_block.resnets.0", top, top);
    put_resnet(g, "unet.mid_block.resnets.1", top, top);
    put_transformer(g, "unet.mid_block.attentions.0", u->mid_depth);
    prev = top;
    for (int i = 0; i < u->n; i++) {
        int d = u->n - 1 - i, out = u->ch[d], skip_in = u->ch[d > 0 ? d - 1 : 0];
        for (int j = 0; j < 3; j++) {
            int skip = j == 2 ? skip_in : out;
            snprintf(at, sizeof at, "unet.up_blocks.%d.resnets.%d", i, j);
            put_resnet(g, at, (j == 0 ? prev : out) + skip, out);
            if (u->depth[d]) {
                snprintf(at, sizeof at, "unet.up_blocks.%d.attentions.%d", i, j);
                put_transformer(g, at, u->depth[d]);
            }
        }
        if (i < u->n - 1)
            put(g, "unet.up_blocks.%d.upsamplers.0.conv", i);
        prev = out;
    }
    put(g, "unet.conv_norm_out");
    put(g, "unet.conv_out");
}

/* transformers' CLIPTextModel (or ...WithProjection) of `layers` encoder layers under component `comp`. */
static void put_clip(gen *g, const char *comp, int layers, int projection)
{
    static const char *const parts[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                        "self_attn.out_proj", "layer_norm1", "mlp.fc1", "mlp.fc2", "layer_norm2"};
    put(g, "%s.text_model.embeddings.token_embedding", comp);
    put(g, "%s.text_model.embeddings.position_embedding", comp);
    for (int i = 0; i < layers; i++)
        for (size_t k = 0; k < 8; k++)
            put(g, "%s.text_model.encoder.layers.%d.%s", comp, i, parts[k]);
    put(g, "%s.text_model.final_layer_norm", comp);
    if (projection)
        put(g, "%s.text_projection", comp);
}

/* transformers' LlamaForCausalLM with blocks 0..127 (the largest llama-family models have 126). */
static void put_llama(gen *g)
{
    static const char *const parts[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                        "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
                                        "input_layernorm", "post_attention_layernorm"};
    put(g, "model.embed_tokens");
    for (int i = 0; i < 128; i++)
        for (size_t k = 0; k < 9; k++)
            put(g, "model.layers.%d.%s", i, parts[k]);
    put(g, "model.norm");
    put(g, "lm_head");
}

lsc_status lsc_basenames_builtin(const char *arch, lsc_basenames **out, lsc_error *err)
{
    /* SD 1.x/2.x: 4 blocks 320/640/1280/1280, attention in the first three; SDXL: 3 blocks 320/640/1280,
     * transformer depths 0/2/10 and 10 in the mid block. SD 2's OpenCLIP-H text encoder as diffusers
     * ships it keeps 23 of its 24 layers; SDXL's are CLIP-L (12) and OpenCLIP-bigG (32, with projection). */
    static const int sd_ch[] = {320, 640, 1280, 1280}, sd_depth[] = {1, 1, 1, 0};
    static const int xl_ch[] = {320, 640, 1280}, xl_depth[] = {0, 2, 10};
    static const unet_shape sd = {4, sd_ch, sd_depth, 1, 0}, xl = {3, xl_ch, xl_depth, 10, 1};
    gen g = {lsc_basenames_new(), LSC_OK, err};
    if (!g.bn)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (strcmp(arch, "sd15") == 0) {
        put_unet(&g, &sd);
        put_clip(&g, "text_encoder", 12, 0);
    } else if (strcmp(arch, "sd2") == 0) {
        put_unet(&g, &sd);
        put_clip(&g, "text_encoder", 23, 0);
    } else if (strcmp(arch, "sdxl") == 0) {
        put_unet(&g, &xl);
        put_clip(&g, "text_encoder", 12, 0);
        put_clip(&g, "text_encoder_2", 32, 1);
    } else if (strcmp(arch, "llama") == 0) {
        put_llama(&g);
    } else {
        lsc_basenames_free(g.bn);
        char shown[128];
        return lsc_error_set(err, LSC_ERR_INVALID, "unknown architecture '%s' (sd15, sd2, sdxl or llama)",
                             lsc_escape_name(shown, sizeof shown, arch));
    }
    if (g.st) {
        lsc_basenames_free(g.bn);
        return g.st;
    }
    *out = g.bn;
    return LSC_OK;
}

/* ---- loading from files ---------------------------------------------------------------------------- */

/* A tensor name's module: the name without its last dotted part (a name without a dot is kept). */
static lsc_status add_tensor_name(lsc_basenames *bn, const char *tensor, lsc_error *err)
{
    const char *dot = strrchr(tensor, '.');
    if (!dot)
        return lsc_basenames_add(bn, tensor, err);
    char *m = strndup(tensor, (size_t)(dot - tensor));
    if (!m)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    lsc_status st = lsc_basenames_add(bn, m, err);
    free(m);
    return st;
}

static lsc_status load_safetensors(const char *path, lsc_basenames *bn, lsc_error *err)
{
    lsc_st_file *f = NULL;
    lsc_status st = lsc_st_open(path, &f, err);
    for (size_t i = 0; !st && i < f->n_tensors; i++)
        st = add_tensor_name(bn, f->tensors[i].name, err);
    lsc_st_close(f);
    return st;
}

static lsc_status load_index(const char *path, const char *shown, lsc_basenames *bn, lsc_error *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': line %d: invalid JSON: %s", shown, je.line, je.text);
    json_t *map = json_object_get(root, "weight_map");
    lsc_status st = LSC_OK;
    if (!json_is_object(map))
        st = lsc_error_set(err, LSC_ERR_FORMAT, "'%s': no \"weight_map\" object (not a model.safetensors.index.json)",
                           shown);
    const char *k;
    json_t *v;
    json_object_foreach(map, k, v) {
        if (st)
            break;
        st = add_tensor_name(bn, k, err);
    }
    json_decref(root);
    return st;
}

/* Characters a module name may hold (Python identifiers, digits, dots, and '-' seen in some hubs). */
static int name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

static lsc_status load_list(const char *text, size_t len, const char *shown, lsc_basenames *bn, lsc_error *err)
{
    size_t line = 0;
    for (size_t p = 0; p < len;) {
        size_t e = p;
        while (e < len && text[e] != '\n')
            e++;
        line++;
        size_t a = p, b = e;
        while (a < b && (text[a] == ' ' || text[a] == '\t'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
            b--;
        p = e + 1;
        if (a == b || text[a] == '#')
            continue;
        for (size_t i = a; i < b; i++)
            if (!name_char((unsigned char)text[i]))
                return lsc_error_set(err, LSC_ERR_FORMAT,
                                     "'%s': line %zu: character 0x%02x is not part of a module name", shown, line,
                                     (unsigned char)text[i]);
        char *name = strndup(text + a, b - a);
        if (!name)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        lsc_status st = lsc_basenames_add(bn, name, err);
        free(name);
        if (st)
            return st;
    }
    return LSC_OK;
}

/* The whole file (malloc'ed, NUL-terminated), at most 1 GiB: for text lists only. */
static lsc_status slurp(const char *path, const char *shown, char **text, size_t *len, lsc_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return lsc_format_io_fail(err, "open", shown, errno);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    lsc_status st = LSC_OK;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (n < cap)
            break;
        if (cap >= ((size_t)1 << 30)) {
            st = lsc_error_set(err, LSC_ERR_FORMAT, "'%s': over 1 GiB: not a list of module names", shown);
            break;
        }
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!st && buf && ferror(fp))
        st = lsc_format_io_fail(err, "read", shown, errno ? errno : EIO);
    fclose(fp);
    if (!buf)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (st) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return LSC_OK;
}

/* Which kind of file `path` is, from its first bytes and its size, never reading more (a base model's
 * .safetensors is gigabytes): 1 safetensors (a u64 header length that fits the file, then '{'), 2 JSON
 * (first non-blank byte '{'), 0 anything else (a text list). */
static lsc_status sniff(const char *path, const char *shown, int *kind, lsc_error *err)
{
    unsigned char head[4096];
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return lsc_format_io_fail(err, "open", shown, errno);
    size_t len = fread(head, 1, sizeof head, fp);
    int failed = ferror(fp), e = errno;
    struct stat sb;
    int have_size = fstat(fileno(fp), &sb) == 0;
    fclose(fp);
    if (failed || !have_size)
        return lsc_format_io_fail(err, "read", shown, e ? e : EIO);
    *kind = 0;
    if (len >= 9) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = (n << 8) | head[i];
        if (n >= 2 && n <= (uint64_t)sb.st_size - 8 && head[8] == '{') {
            *kind = 1;
            return LSC_OK;
        }
    }
    size_t i = 0;
    while (i < len && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n'))
        i++;
    if (i < len && head[i] == '{')
        *kind = 2;
    return LSC_OK;
}

static lsc_status load_text(const char *path, const char *shown, lsc_basenames *bn, lsc_error *err)
{
    char *text = NULL;
    size_t len = 0;
    lsc_status st = slurp(path, shown, &text, &len, err);
    if (st)
        return st;
    if (memchr(text, '\0', len))
        st = lsc_error_set(err, LSC_ERR_FORMAT,
                           "'%s': binary data: not a .safetensors, an index .json or a list of module names", shown);
    else
        st = load_list(text, len, shown, bn, err);
    free(text);
    return st;
}

lsc_status lsc_basenames_load(const char *path, lsc_basenames **out, lsc_error *err)
{
    char shown[1024];
    lsc_escape_name(shown, sizeof shown, path);
    int kind = 0;
    lsc_status st = sniff(path, shown, &kind, err);
    if (st)
        return st;
    lsc_basenames *bn = lsc_basenames_new();
    if (!bn)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (kind == 1)
        st = load_safetensors(path, bn, err);
    else if (kind == 2)
        st = load_index(path, shown, bn, err);
    else
        st = load_text(path, shown, bn, err);
    if (!st && bn->n == 0)
        st = lsc_error_set(err, LSC_ERR_FORMAT, "'%s': no module names in it", shown);
    if (st) {
        lsc_basenames_free(bn);
        return st;
    }
    *out = bn;
    return LSC_OK;
}

/* ---- resolving ------------------------------------------------------------------------------------- */

/* kohya's prefixes and the component each names. */
static const struct {
    const char *prefix, *comp;
} kohya_prefixes[] = {
    {"lora_unet_", "unet"},           {"lora_te1_", "text_encoder"},   {"lora_te2_", "text_encoder_2"},
    {"lora_te3_", "text_encoder_3"}, {"lora_te_", "text_encoder"},
};

/* Look the flat name up under comp: 0 none, 1 found (*idx), -1 two modules (*idx, *idx2). */
static int lookup(const lsc_basenames *bn, const char *comp, const char *flat, int64_t *idx, int64_t *idx2)
{
    char *k = map_key(comp, flat, 0);
    int64_t i;
    int found = k && lsc_namemap_get(&bn->flat, k, &i);
    free(k);
    if (!found)
        return 0;
    *idx = i;
    if (bn->next[i] >= 0) {
        *idx2 = bn->next[i];
        return -1;
    }
    return 1;
}

lsc_status lsc_basenames_resolve(const lsc_basenames *bn, const char *kohya, char *out, size_t cap, lsc_error *err)
{
    char shown[512], a[512], b[512];
    lsc_escape_name(shown, sizeof shown, kohya);
    size_t pi = 0, np = sizeof kohya_prefixes / sizeof kohya_prefixes[0];
    while (pi < np && strncmp(kohya, kohya_prefixes[pi].prefix, strlen(kohya_prefixes[pi].prefix)) != 0)
        pi++;
    if (pi == np)
        return lsc_error_set(err, LSC_ERR_INVALID, "layer '%s' is not a kohya module name (lora_unet_, lora_te_ ...)",
                             shown);
    const char *comp = kohya_prefixes[pi].comp, *flat = kohya + strlen(kohya_prefixes[pi].prefix);
    int64_t i = -1, j = -1;
    int r = lookup(bn, comp, flat, &i, &j);
    if (r == 0)
        r = lookup(bn, "", flat, &i, &j);
    if (r == 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "layer '%s': no module of the base model flattens to '%s'", shown,
                             lsc_escape_name(a, sizeof a, flat));
    if (r < 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "layer '%s' fits two modules of the base model: '%s' and '%s'",
                             shown, lsc_escape_name(a, sizeof a, bn->e[i].path),
                             lsc_escape_name(b, sizeof b, bn->e[j].path));
    const entry *e = &bn->e[i];
    int bare = e->comp[0] == '\0' && strcmp(kohya_prefixes[pi].prefix, "lora_te_") == 0 &&
               strncmp(e->path, "text_model.", 11) != 0;
    int n = bare ? snprintf(out, cap, "%s", e->path) : snprintf(out, cap, "%s.%s", comp, e->path);
    if (n < 0 || (size_t)n >= cap)
        return lsc_error_set(err, LSC_ERR_INVALID, "layer '%s': module path too long", shown);
    return LSC_OK;
}

/* How many layers of ad bn cannot resolve; the error of the first in err. */
static size_t unresolved(const lsc_adapter *ad, const lsc_basenames *bn, lsc_error *err)
{
    char buf[1024];
    size_t bad = 0;
    lsc_error e;
    for (size_t li = 0; li < ad->n_layers; li++)
        if (lsc_basenames_resolve(bn, ad->layers[li].name, buf, sizeof buf, bad ? &e : err) != LSC_OK)
            bad++;
    return bad;
}

/* The table kohya's metadata names (ss_base_model_version "sd_v1...", "sd_v2...", "sdxl..."), as an index
 * into lsc_basenames_archs; 0 (sd15) when it names none. The names of an SDXL UNet that also exist in
 * SD 1.5 resolve to the same paths in both, but the table reported should be the file's own. */
static size_t metadata_arch(const lsc_adapter *ad)
{
    json_t *m = ad->metadata_json ? json_loads(ad->metadata_json, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(m, "ss_base_model_version"));
    size_t k = 0;
    if (v && strncmp(v, "sdxl", 4) == 0)
        k = 2;
    else if (v && strncmp(v, "sd_v2", 5) == 0)
        k = 1;
    json_decref(m);
    return k;
}

lsc_status lsc_basenames_pick(const lsc_adapter *ad, const char *arch, const char *path, lsc_basenames **out,
                              const char **chosen, lsc_error *err)
{
    if (path || arch) {
        lsc_status st = path ? lsc_basenames_load(path, out, err) : lsc_basenames_builtin(arch, out, err);
        if (!st && chosen)
            *chosen = path ? path : arch;
        return st;
    }
    /* none fits: report the table that comes closest (fewest names left), the first failing name in it */
    lsc_error best, cur;
    size_t best_bad = SIZE_MAX, first = metadata_arch(ad);
    memset(&best, 0, sizeof best);
    for (size_t n = 0; lsc_basenames_archs[n]; n++) {
        size_t k = n == 0 ? first : n <= first ? n - 1 : n; /* the file's own base first, then in order */
        lsc_basenames *bn = NULL;
        lsc_status st = lsc_basenames_builtin(lsc_basenames_archs[k], &bn, err);
        if (st)
            return st;
        size_t bad = unresolved(ad, bn, &cur);
        if (bad > 0 && bad < best_bad) {
            best_bad = bad;
            best = cur;
        }
        if (bad == 0) {
            *out = bn;
            if (chosen)
                *chosen = lsc_basenames_archs[k];
            return LSC_OK;
        }
        lsc_basenames_free(bn);
    }
    return lsc_error_set(err, LSC_ERR_INVALID, "no built-in name table (sd15, sd2, sdxl, llama) fits: %s; give "
                         "--base-names PATH or --arch", best.msg);
}

/* ---- kohya -> PEFT --------------------------------------------------------------------------------- */

/* The PEFT copy's loader: tensor i is tensor `src` of the kohya adapter (load_ctx), copied. */
static lsc_status copy_loader(lsc_adapter *ad, size_t i, lsc_error *err)
{
    lsc_adapter *from = ad->load_ctx;
    size_t s = (size_t)ad->tensors[i].src;
    int was = from->tensors[s].data != NULL;
    lsc_status st = lsc_adapter_load_tensor(from, s, err);
    if (st)
        return st;
    uint8_t *p = malloc(from->tensors[s].nbytes + 1);
    if (!p)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    memcpy(p, from->tensors[s].data, from->tensors[s].nbytes);
    if (!was)
        lsc_adapter_unload_tensor(from, s);
    ad->tensors[i].data = p;
    return LSC_OK;
}

/* Add a copy of tensor ti of `from` under `key` to `to`, streamed by copy_loader. */
static lsc_status copy_tensor(lsc_adapter *to, const lsc_adapter *from, int ti, const char *key, int layer,
                              int *index, lsc_error *err)
{
    const lsc_tensor *t = &from->tensors[ti];
    size_t idx;
    lsc_status st = lsc_adapter_add_tensor(to, key, t->role, layer, t->dtype, t->ndim, t->shape, NULL, &idx, err);
    if (!st) {
        to->tensors[idx].src = ti;
        if (index)
            *index = (int)idx;
    }
    return st;
}

/* Layer li of `from`, renamed to `name` (module_type: the path without its component), into `to`. */
static lsc_status copy_layer(lsc_adapter *to, const lsc_adapter *from, size_t li, const char *name, lsc_error *err)
{
    const lsc_layer *l = &from->layers[li];
    size_t ni;
    char key[1200];
    lsc_status st = lsc_adapter_add_layer(to, name, &ni, err);
    if (st)
        return st;
    lsc_layer *nl = &to->layers[ni];
    const char *bare = strncmp(name, "base_model.model.", 17) == 0 ? name + 17 : name;
    size_t cl = component_len(bare);
    free(nl->module_type);
    nl->module_type = strdup(cl ? bare + cl + 1 : bare);
    if (!nl->module_type)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    nl->layer_index = l->layer_index;
    nl->rows = l->rows;
    nl->cols = l->cols;
    nl->rank = l->rank;
    nl->alpha = l->alpha;
    nl->rule = l->rule;
    nl->scale = l->scale;
    nl->flags = l->flags;
    int ta = -1, tb = -1;
    snprintf(key, sizeof key, "%s.lora_A.weight", name);
    if ((st = copy_tensor(to, from, l->ta, key, (int)ni, &ta, err)))
        return st;
    snprintf(key, sizeof key, "%s.lora_B.weight", name);
    if ((st = copy_tensor(to, from, l->tb, key, (int)ni, &tb, err)))
        return st;
    to->layers[ni].ta = ta;
    to->layers[ni].tb = tb;
    return LSC_OK;
}

lsc_status lsc_basenames_kohya_to_peft(lsc_adapter *ad, const lsc_basenames *bn, lsc_adapter **out, lsc_error *err)
{
    char path[1024], name[1100];
    int diffusion = 0;
    for (size_t li = 0; li < ad->n_layers; li++) {
        lsc_status st = lsc_basenames_resolve(bn, ad->layers[li].name, path, sizeof path, err);
        if (st)
            return st;
        diffusion |= component_len(path) > 0;
    }
    lsc_adapter *p = lsc_adapter_new();
    if (!p)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    lsc_status st = LSC_OK;
    p->format = strdup("peft");
    p->name = ad->name ? strdup(ad->name) : NULL;
    p->kind = ad->kind ? strdup(ad->kind) : NULL;
    p->base_model = strdup(ad->base_model ? ad->base_model : "");
    if (!p->format || !p->base_model || (ad->name && !p->name) || (ad->kind && !p->kind))
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t li = 0; !st && li < ad->n_layers; li++) {
        lsc_basenames_resolve(bn, ad->layers[li].name, path, sizeof path, err); /* succeeded above */
        if (ad->layers[li].ta < 0 || ad->layers[li].tb < 0 || ad->layers[li].te >= 0 || ad->layers[li].tm >= 0) {
            st = lsc_error_set(err, LSC_ERR_UNSUPPORTED, "layer '%s' is not a plain lora_down/lora_up pair",
                               ad->layers[li].name);
            break;
        }
        snprintf(name, sizeof name, "%s%s", diffusion ? "" : "base_model.model.", path);
        st = copy_layer(p, ad, li, name, err);
    }
    for (size_t i = 0; !st && i < ad->n_tensors; i++)
        if (ad->tensors[i].role == LSC_ROLE_EXTRA)
            st = copy_tensor(p, ad, (int)i, ad->tensors[i].key, -1, NULL, err);
    if (st) {
        lsc_adapter_free(p);
        return st;
    }
    p->load = copy_loader;
    p->load_ctx = ad;
    *out = p;
    return LSC_OK;
}
