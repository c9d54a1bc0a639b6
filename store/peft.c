/* store/peft.c: HuggingFace PEFT adapters in and out (see peft.h).
 *
 * A PEFT adapter is a folder: adapter_model.safetensors (the factors, keyed by module path) and
 * adapter_config.json (r, lora_alpha, rank_pattern ...). Reading classifies every tensor (A, B, E,
 * magnitude or extra), resolves per-layer rank/alpha exactly as PEFT does and keeps the config text and
 * the safetensors header verbatim so an unedited export is byte-identical. Writing keeps every config
 * key and adds rank_pattern / alpha_pattern entries when the layers' ranks or alphas need them.
 * Depends on store/safetensors, engine/ (types, dtypes) and jansson; never on SQLite or curses.
 */
#include "peft.h"
#include "fileio.h"
#include "format_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtype.h"
#include "safetensors.h"

#define MODEL_FILE "adapter_model.safetensors"
#define CONFIG_FILE "adapter_config.json"
#define MODULE_PREFIX "base_model.model."
#define CONFIG_MAX_BYTES (64u << 20)
#define MAX_RANK_WARNINGS 5

/* PEFT's LoraConfig defaults, used when a key is absent. */
#define PEFT_DEFAULT_R 8
#define PEFT_DEFAULT_ALPHA 8.0
#define PEFT_DEFAULT_INIT_R 12

/* ---- small string helpers ------------------------------------------------------------------------- */

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}


const char *lsc_peft_module_name(const char *layer_name)
{
    size_t n = strlen(MODULE_PREFIX);
    return strncmp(layer_name, MODULE_PREFIX, n) == 0 ? layer_name + n : layer_name;
}

/* ---- pattern keys: Python regex -> POSIX ERE -------------------------------------------------------- */

/* Translate a Python regex into ERE, wrapped as ^(.*\.)?(key)$. Returns 0, or -1 for a construct with no
 * faithful translation (backreferences, lookarounds, \b ...). */
/* Limits that keep glibc's regcomp small: it expands a bounded repetition into copies of its operand, so
 * "q_proj{1,32767}" (which Python accepts) costs gigabytes, and stacked quantifiers grow it further.
 * Real pattern keys ("layers\\.\\d{1,2}\\.q_proj") are far inside these. */
#define PATTERN_MAX_LEN 256
#define PATTERN_MAX_QUANT 12 /* quantifiers in a key: 16 nested "(...)+" already cost regcomp 57 MB */
#define PATTERN_MAX_BOUND 32 /* the largest n or m in {n} / {n,m}, and at most one bounded repetition */

static int py_to_ere(const char *k, lsc_strbuf *out)
{
    if (strlen(k) > PATTERN_MAX_LEN)
        return -1;
    lsc_strbuf_puts(out, "^(.*\\.)?(");
    int in_bracket = 0, prev_quant = 0, n_quant = 0, n_bound = 0;
    for (const char *p = k; *p; p++) {
        char c = *p;
        if (in_bracket) {
            if (c == '\\') {
                char e = *++p;
                if (e == 'd')
                    lsc_strbuf_puts(out, "0-9");
                else if (e == 'w')
                    lsc_strbuf_puts(out, "A-Za-z0-9_");
                else if (e == 's')
                    lsc_strbuf_puts(out, "[:space:]");
                else if (e && strchr(".*+?()|{}$^/_", e))
                    lsc_strbuf_putn(out, &e, 1);
                else
                    return -1;
                continue;
            }
            if (c == ']')
                in_bracket = 0;
            lsc_strbuf_putn(out, &c, 1);
            continue;
        }
        if (c == '?' && prev_quant) { /* lazy quantifier: same set of full matches */
            prev_quant = 0;
            continue;
        }
        int after_quant = prev_quant;
        prev_quant = 0;
        if (c == '\\') {
            char e = *++p;
            switch (e) {
            case 'd':
                lsc_strbuf_puts(out, "[0-9]");
                break;
            case 'D':
                lsc_strbuf_puts(out, "[^0-9]");
                break;
            case 'w':
                lsc_strbuf_puts(out, "[A-Za-z0-9_]");
                break;
            case 'W':
                lsc_strbuf_puts(out, "[^A-Za-z0-9_]");
                break;
            case 's':
                lsc_strbuf_puts(out, "[[:space:]]");
                break;
            case 'S':
                lsc_strbuf_puts(out, "[^[:space:]]");
                break;
            default:
                if (e == '\0' || (e >= '0' && e <= '9') || (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z'))
                    return -1;
                lsc_strbuf_putn(out, "\\", 1);
                lsc_strbuf_putn(out, &e, 1);
            }
            continue;
        }
        if (c == '(' && p[1] == '?') {
            if (p[2] != ':')
                return -1;
            lsc_strbuf_putn(out, "(", 1);
            p += 2;
            continue;
        }
        if (c == '[') {
            in_bracket = 1;
            lsc_strbuf_putn(out, "[", 1);
            if (p[1] == '^')
                lsc_strbuf_putn(out, ++p, 1);
            if (p[1] == ']') /* a leading ] is literal in both dialects */
                lsc_strbuf_putn(out, ++p, 1);
            continue;
        }
        if (c == '{') {
            /* a bound {n}, {n,}, {n,m} is a quantifier; any other '{' is a literal, as in Python */
            const char *q = p + 1;
            long lo = -1, hi = -1;
            char *end;
            if (*q >= '0' && *q <= '9') {
                lo = strtol(q, &end, 10);
                hi = lo;
                if (*end == ',') {
                    hi = end[1] >= '0' && end[1] <= '9' ? strtol(end + 1, &end, 10) : PATTERN_MAX_BOUND + 1;
                    if (*end != '}' && end[-1] == ',')
                        hi = -1;
                }
                if (*end != '}')
                    lo = -1;
            }
            if (lo < 0) {
                lsc_strbuf_puts(out, "\\{");
                continue;
            }
            if (after_quant || ++n_bound > 1 || lo > PATTERN_MAX_BOUND || hi > PATTERN_MAX_BOUND || hi < lo ||
                ++n_quant > PATTERN_MAX_QUANT)
                return -1;
            lsc_strbuf_putn(out, p, (size_t)(end - p + 1));
            p = end;
            prev_quant = 1;
            continue;
        }
        if (c == '*' || c == '+' || c == '?') {
            if (after_quant || ++n_quant > PATTERN_MAX_QUANT)
                return -1; /* stacked (Python's possessive a++) or too many quantifiers */
            prev_quant = 1;
        }
        lsc_strbuf_putn(out, &c, 1);
    }
    if (in_bracket)
        return -1;
    lsc_strbuf_puts(out, ")$");
    return out->oom ? -1 : 0;
}

static int compile_key(const char *key, regex_t *re)
{
    lsc_strbuf b = {0};
    int rc = py_to_ere(key, &b);
    if (rc == 0 && regcomp(re, b.s, REG_EXTENDED | REG_NOSUB) != 0)
        rc = -1;
    free(b.s);
    return rc;
}

int lsc_peft_pattern_match(const char *key, const char *module, lsc_error *err)
{
    regex_t re;
    if (compile_key(key, &re)) {
        char ek[256];
        lsc_error_set(err, LSC_ERR_UNSUPPORTED, "pattern key '%s' is not a supported regular expression",
                      lsc_escape_name(ek, sizeof ek, key));
        return -1;
    }
    int m = regexec(&re, module, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

/* The keys of a rank_pattern / alpha_pattern object, compiled once, in JSON order. */
typedef struct pattern_set {
    size_t n;
    const char **keys; /* borrowed from the JSON object */
    json_t **vals;     /* borrowed */
    regex_t *re;
} pattern_set;

static void pattern_set_release(pattern_set *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        regfree(&ps->re[i]);
    free(ps->keys);
    free(ps->vals);
    free(ps->re);
    memset(ps, 0, sizeof *ps);
}

/* Compile every key of `obj` (an object or NULL). On failure names the config key. */
static lsc_status pattern_set_init(pattern_set *ps, json_t *obj, const char *what, const char *cfgname,
                                   lsc_error *err)
{
    memset(ps, 0, sizeof *ps);
    size_t n = json_is_object(obj) ? json_object_size(obj) : 0;
    if (n == 0)
        return LSC_OK;
    ps->keys = calloc(n, sizeof *ps->keys);
    ps->vals = calloc(n, sizeof *ps->vals);
    ps->re = calloc(n, sizeof *ps->re);
    if (!ps->keys || !ps->vals || !ps->re) {
        pattern_set_release(ps);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory compiling %s", what);
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (compile_key(k, &ps->re[ps->n])) {
            char ek[256];
            pattern_set_release(ps);
            return lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                                 "'%s': key '%s.%s': not a supported regular expression", cfgname, what,
                                 lsc_escape_name(ek, sizeof ek, k));
        }
        ps->keys[ps->n] = k;
        ps->vals[ps->n] = v;
        ps->n++;
    }
    return LSC_OK;
}

/* First key (in JSON order) selecting `module`; -1 if none. */
static long pattern_lookup(const pattern_set *ps, const char *module)
{
    for (size_t i = 0; i < ps->n; i++)
        if (regexec(&ps->re[i], module, 0, NULL, 0) == 0)
            return (long)i;
    return -1;
}

/* ---- config ------------------------------------------------------------------------------------------ */

typedef struct peft_config {
    json_t *root;          /* NULL when there is no config */
    int present;
    int adalora;
    int r;                 /* config r (PEFT default 8) */
    double alpha;          /* lora_alpha (PEFT default 8) */
    int init_r;            /* AdaLoRA */
    int rslora, fifo, dora;
    int layers_to_transform;
    json_t *rank_pattern;  /* object or NULL (borrowed from root) */
    json_t *alpha_pattern;
    pattern_set rp, ap;
} peft_config;

static void config_release(peft_config *c)
{
    pattern_set_release(&c->rp);
    pattern_set_release(&c->ap);
    json_decref(c->root);
    memset(c, 0, sizeof *c);
}

static int get_bool(json_t *root, const char *key, int *out)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return -1;
    *out = json_is_true(v);
    return 0;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* Parse and validate a config (text already loaded). `cfgname` names the file in messages. */
static lsc_status config_parse(const char *text, size_t len, const char *cfgname, peft_config *c, lsc_error *err)
{
    memset(c, 0, sizeof *c);
    c->r = PEFT_DEFAULT_R;
    c->alpha = PEFT_DEFAULT_ALPHA;
    c->init_r = PEFT_DEFAULT_INIT_R;
    json_error_t je;
    if (memchr(text, '\0', len)) /* jansson skips it, but the verbatim copy is a C string and would be cut */
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': invalid JSON: a NUL byte in the text", cfgname);
    /* jansson rejects NaN / Infinity literals and overflowing numbers: they are not JSON */
    c->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!c->root)
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': invalid JSON at line %d column %d: %s", cfgname, je.line,
                             je.column, je.text);
    c->present = 1;
    json_t *root = c->root, *v;
    if (!json_is_object(root))
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': the config must be a JSON object", cfgname);

    v = json_object_get(root, "peft_type");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': key 'peft_type': must be a string, found %s", cfgname,
                                 json_type_name(v));
        const char *t = json_string_value(v);
        if (strcmp(t, "ADALORA") == 0)
            c->adalora = 1;
        else if (strcmp(t, "LORA") != 0) {
            char et[128];
            return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "'%s': key 'peft_type': '%s' is not a LoRA adapter",
                                 cfgname, lsc_escape_name(et, sizeof et, t));
        }
    }
    v = json_object_get(root, "r");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > 1000000)
            return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': key 'r': must be a positive integer", cfgname);
        c->r = (int)json_integer_value(v);
    }
    v = json_object_get(root, "lora_alpha");
    if (v && !json_is_null(v)) {
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': key 'lora_alpha': must be a finite number, found %s",
                                 cfgname, json_type_name(v));
        c->alpha = json_number_value(v);
    }
    if (c->adalora) {
        v = json_object_get(root, "init_r");
        if (v && !json_is_null(v)) {
            if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > 1000000)
                return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': key 'init_r': must be a positive integer", cfgname);
            c->init_r = (int)json_integer_value(v);
        }
    }
    static const char *const bools[] = {"use_rslora", "fan_in_fan_out", "use_dora"};
    int *bdst[] = {&c->rslora, &c->fifo, &c->dora};
    for (int i = 0; i < 3; i++)
        if (get_bool(root, bools[i], bdst[i]))
            return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': key '%s': must be true or false", cfgname, bools[i]);
    if (c->adalora) /* AdaLoRA layers take neither rsLoRA nor DoRA */
        c->rslora = c->dora = 0;

    v = json_object_get(root, "layers_to_transform");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) && !json_is_array(v))
            return lsc_error_set(err, LSC_ERR_FORMAT,
                                 "'%s': key 'layers_to_transform': must be an integer or a list, found %s", cfgname,
                                 json_type_name(v));
        c->layers_to_transform = 1;
    }
    v = json_object_get(root, "base_model_name_or_path");
    if (v && !json_is_null(v) && !json_is_string(v))
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': key 'base_model_name_or_path': must be a string, found %s",
                             cfgname, json_type_name(v));

    /* rank_pattern: LoRA {module regex: positive int}; AdaLoRA {"<module>.lora_E": [bool, ...]} */
    v = json_object_get(root, "rank_pattern");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v))
            return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': key 'rank_pattern': must be an object, found %s",
                                 cfgname, json_type_name(v));
        const char *k;
        json_t *pv;
        json_object_foreach(v, k, pv) {
            char ek[256];
            int ok;
            if (c->adalora) {
                ok = json_is_array(pv) || json_is_null(pv);
                for (size_t i = 0; ok && json_is_array(pv) && i < json_array_size(pv); i++)
                    ok = json_is_boolean(json_array_get(pv, i));
            } else {
                ok = json_is_integer(pv) && json_integer_value(pv) > 0 && json_integer_value(pv) <= 1000000;
            }
            if (!ok)
                return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': key 'rank_pattern.%s': must be %s", cfgname,
                                     lsc_escape_name(ek, sizeof ek, k),
                                     c->adalora ? "a list of booleans" : "a positive integer");
        }
        c->rank_pattern = v;
    }
    v = json_object_get(root, "alpha_pattern");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v))
            return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': key 'alpha_pattern': must be an object, found %s",
                                 cfgname, json_type_name(v));
        const char *k;
        json_t *pv;
        json_object_foreach(v, k, pv) {
            if (!json_is_number(pv) || !isfinite(json_number_value(pv))) {
                char ek[256];
                return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': key 'alpha_pattern.%s': must be a finite number",
                                     cfgname, lsc_escape_name(ek, sizeof ek, k));
            }
        }
        c->alpha_pattern = v;
    }
    lsc_status st;
    if (!c->adalora) { /* AdaLoRA sizes layers with init_r and lora_alpha only; its masks are not regexes */
        if ((st = pattern_set_init(&c->rp, c->rank_pattern, "rank_pattern", cfgname, err)) ||
            (st = pattern_set_init(&c->ap, c->alpha_pattern, "alpha_pattern", cfgname, err)))
            return st;
    }
    return LSC_OK;
}

/* r and alpha PEFT gives the module, with the pattern key that decided each (NULL: the global value). */
static void config_resolve(const peft_config *c, const char *module, int *r, double *alpha, const char **rkey)
{
    *r = c->r;
    *alpha = c->alpha;
    if (rkey)
        *rkey = NULL;
    long i = pattern_lookup(&c->rp, module);
    if (i >= 0) {
        *r = (int)json_integer_value(c->rp.vals[i]);
        if (rkey)
            *rkey = c->rp.keys[i];
    }
    i = pattern_lookup(&c->ap, module);
    if (i >= 0)
        *alpha = json_number_value(c->ap.vals[i]);
}

static lsc_status read_text_file(const char *path, char **text, size_t *len, lsc_error *err)
{
    lsc_status st = LSC_OK;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return lsc_error_set(err, LSC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        st = lsc_error_set(err, LSC_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        goto done;
    }
    long sz = ftell(f);
    if (sz < 0 || (unsigned long)sz > CONFIG_MAX_BYTES) {
        st = lsc_error_set(err, LSC_ERR_FORMAT, "'%s': config larger than %u bytes", path, CONFIG_MAX_BYTES);
        goto done;
    }
    rewind(f);
    buf = malloc((size_t)sz + 1);
    if (!buf) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory reading '%s'", path);
        goto done;
    }
    if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        st = lsc_error_set(err, LSC_ERR_IO, "cannot read '%s': short read", path);
        goto done;
    }
    buf[sz] = '\0';
    *text = buf;
    *len = (size_t)sz;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return st;
}

/* ---- tensor keys ------------------------------------------------------------------------------------- */

/* lora_gate: a SoRA gate [1, r] (the SoRA reference keeps `gate` beside lora_A/lora_B; we read and write
 * it under PEFT's naming as lora_gate). */
typedef enum { F_NONE = -1, F_A, F_B, F_E, F_EMB_A, F_EMB_B, F_MAG, F_GATE } factor_name;

static const char *const factor_names[] = {"lora_A", "lora_B", "lora_E", "lora_embedding_A", "lora_embedding_B",
                                           "lora_magnitude_vector", "lora_gate"};

static factor_name factor_of(const char *comp, size_t n)
{
    for (int i = 0; i < 7; i++)
        if (strlen(factor_names[i]) == n && memcmp(factor_names[i], comp, n) == 0)
            return (factor_name)i;
    return F_NONE;
}

/* Split `key` as <prefix>.<factor>[.<adapter>][.weight]. Returns the factor and the prefix length, or
 * F_NONE for any other tensor (biases such as lora_B.bias included). */
static factor_name parse_key(const char *key, size_t *prefix_len)
{
    const char *c[3] = {NULL, NULL, NULL}; /* starts of the last three components */
    size_t l[3] = {0, 0, 0};
    size_t n = strlen(key);
    const char *end = key + n;
    int found = 0;
    for (const char *p = end; found < 3;) {
        const char *s = p;
        while (s > key && s[-1] != '.')
            s--;
        c[found] = s;
        l[found] = (size_t)(p - s);
        found++;
        if (s == key)
            break;
        p = s - 1;
    }
    /* c[0] last component, c[1] the one before, c[2] the one before that */
    factor_name f;
    if (found >= 2 && (f = factor_of(c[0], l[0])) != F_NONE) {
        *prefix_len = (size_t)(c[0] - key) - 1;
        return f;
    }
    if (found >= 3 && (f = factor_of(c[1], l[1])) != F_NONE) {
        int is_bias = l[0] == 4 && memcmp(c[0], "bias", 4) == 0;
        if (!is_bias) {
            *prefix_len = (size_t)(c[1] - key) - 1;
            return f;
        }
        return F_NONE;
    }
    if (found >= 3 && l[0] == 6 && memcmp(c[0], "weight", 6) == 0 && c[2] > key &&
        (f = factor_of(c[2], l[2])) != F_NONE) {
        *prefix_len = (size_t)(c[2] - key) - 1;
        return f;
    }
    return F_NONE;
}

/* The block number in a module path: the integer component after layers/h/layer/blocks/block, else the
 * first integer component, else -1. */
static int layer_index_of(const char *name)
{
    static const char *const containers[] = {"layers", "h", "layer", "blocks", "block"};
    int first_int = -1, after = -1, prev_container = 0;
    const char *p = name;
    while (*p) {
        const char *e = strchr(p, '.');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        int all_digits = n > 0 && n < 9;
        for (size_t i = 0; all_digits && i < n; i++)
            all_digits = p[i] >= '0' && p[i] <= '9';
        if (all_digits) {
            int v = atoi(p);
            if (first_int < 0)
                first_int = v;
            if (prev_container && after < 0)
                after = v;
        }
        prev_container = 0;
        for (int i = 0; i < 5; i++)
            if (strlen(containers[i]) == n && memcmp(containers[i], p, n) == 0)
                prev_container = 1;
        if (!e)
            break;
        p = e + 1;
    }
    return after >= 0 ? after : first_int;
}

/* A copy of `key` with its factor component replaced (the name of the tensor we expected to find). */
static void counterpart_name(const char *key, size_t prefix_len, factor_name from, factor_name to, char *dst,
                             size_t cap)
{
    size_t fl = strlen(factor_names[from]);
    snprintf(dst, cap, "%.*s.%s%s", (int)prefix_len, key, factor_names[to], key + prefix_len + 1 + fl);
}

/* ---- reading ----------------------------------------------------------------------------------------- */

/* Per-layer bookkeeping while classifying. */
typedef struct layer_work {
    int emb_a, emb_b;        /* factor spelled lora_embedding_* */
    size_t prefix_len;
} layer_work;

static lsc_status set_factor(lsc_adapter *ad, lsc_layer *l, int *slot, size_t ti, const char *file,
                             lsc_error *err)
{
    if (*slot >= 0) {
        char e1[256], e2[256];
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': tensors '%s' and '%s' are the same factor of layer '%s'",
                             file, lsc_escape_name(e1, sizeof e1, ad->tensors[*slot].key),
                             lsc_escape_name(e2, sizeof e2, ad->tensors[ti].key), l->name);
    }
    *slot = (int)ti;
    return LSC_OK;
}

static int64_t numel(const lsc_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

static void shape_text(const lsc_tensor *t, char *dst, size_t cap)
{
    size_t k = 0;
    k += (size_t)snprintf(dst + k, cap - k, "[");
    for (int d = 0; d < t->ndim && k < cap; d++)
        k += (size_t)snprintf(dst + k, cap - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (k < cap)
        snprintf(dst + k, cap - k, "]");
}

/* Check the tensors of one layer and fill rows, cols, rank and flags. */
static lsc_status check_layer(lsc_adapter *ad, size_t li, const layer_work *w, const char *file, lsc_error *err)
{
    lsc_layer *l = &ad->layers[li];
    char e1[256], e2[256], sh[128];
    if (l->ta < 0 || l->tb < 0) {
        int have = l->ta >= 0 ? l->ta : l->tb >= 0 ? l->tb : l->te >= 0 ? l->te : l->tm;
        if (have < 0) /* a layer made by a gate alone (its lora_gate has no factors beside it) */
            have = lsc_adapter_layer_tensor(ad, li, LSC_ROLE_GATE);
        if (have < 0)
            return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': layer '%s' has no factors", file,
                                 lsc_escape_name(e1, sizeof e1, l->name));
        const lsc_tensor *t = &ad->tensors[have];
        size_t pl = w->prefix_len;
        factor_name from = parse_key(t->key, &pl);
        factor_name to = l->ta < 0 ? (w->emb_b ? F_EMB_A : F_A) : (w->emb_a ? F_EMB_B : F_B);
        char want[512];
        counterpart_name(t->key, pl, from, to, want, sizeof want);
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': missing tensor '%s' (the pair of '%s')", file,
                             lsc_escape_name(e1, sizeof e1, want), lsc_escape_name(e2, sizeof e2, t->key));
    }
    if (w->emb_a != w->emb_b)
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': tensors '%s' and '%s' mix embedding and linear factors",
                             file, lsc_escape_name(e1, sizeof e1, ad->tensors[l->ta].key),
                             lsc_escape_name(e2, sizeof e2, ad->tensors[l->tb].key));
    int idx[4] = {l->ta, l->tb, l->te, l->tm};
    for (int i = 0; i < 4; i++) {
        if (idx[i] < 0)
            continue;
        lsc_tensor *t = &ad->tensors[idx[i]];
        if (!lsc_dtype_is_float(t->dtype))
            return lsc_error_set(err, LSC_ERR_UNSUPPORTED, "'%s': unsupported dtype %s in tensor '%s'", file,
                                 lsc_dtype_name(t->dtype), lsc_escape_name(e1, sizeof e1, t->key));
    }
    lsc_tensor *ta = &ad->tensors[l->ta], *tb = &ad->tensors[l->tb];
    int emb = w->emb_a;
    if (ta->ndim < 2 || (emb && ta->ndim != 2)) {
        shape_text(ta, sh, sizeof sh);
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': tensor '%s': A must be [r, in]%s, found %s", file,
                             lsc_escape_name(e1, sizeof e1, ta->key), emb ? "" : " or [r, in, kh, kw]", sh);
    }
    int bad_b = tb->ndim < 2 || (emb && tb->ndim != 2);
    for (int d = 2; !bad_b && d < tb->ndim; d++)
        bad_b = tb->shape[d] != 1;
    if (bad_b) {
        shape_text(tb, sh, sizeof sh);
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': tensor '%s': B must be [out, r] or [out, r, 1, 1], found %s",
                             file, lsc_escape_name(e1, sizeof e1, tb->key), sh);
    }
    if (numel(ta) == 0 || numel(tb) == 0) {
        lsc_tensor *t = numel(ta) == 0 ? ta : tb;
        shape_text(t, sh, sizeof sh);
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': tensor '%s': empty factor %s", file,
                             lsc_escape_name(e1, sizeof e1, t->key), sh);
    }
    if (ta->shape[0] != tb->shape[1])
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': rank mismatch: '%s' has rank %lld but '%s' has rank %lld",
                             file, lsc_escape_name(e1, sizeof e1, ta->key), (long long)ta->shape[0],
                             lsc_escape_name(e2, sizeof e2, tb->key), (long long)tb->shape[1]);
    if (ta->shape[0] > 1000000)
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': tensor '%s': rank %lld is not plausible", file,
                             lsc_escape_name(e1, sizeof e1, ta->key), (long long)ta->shape[0]);
    l->rank = (int)ta->shape[0];
    int64_t cols = 1;
    for (int d = 1; d < ta->ndim; d++)
        cols *= ta->shape[d];
    if (emb) {
        /* lora_embedding_A [r, vocab], _B [dim, r]: the applied delta (B A)^T is [vocab, dim] */
        l->rows = ta->shape[1];
        l->cols = tb->shape[0];
        l->flags |= LSC_LAYER_EMBEDDING;
    } else {
        l->rows = tb->shape[0];
        l->cols = cols;
        if (ta->ndim > 2)
            l->flags |= LSC_LAYER_CONV;
    }
    if (l->te >= 0) {
        lsc_tensor *te = &ad->tensors[l->te];
        int ok = numel(te) == l->rank && (te->ndim == 1 || (te->ndim == 2 && te->shape[1] == 1));
        if (!ok) {
            shape_text(te, sh, sizeof sh);
            return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': tensor '%s': E must be [%d, 1], found %s", file,
                                 lsc_escape_name(e1, sizeof e1, te->key), l->rank, sh);
        }
        l->flags |= LSC_LAYER_ADALORA;
    }
    if (l->tm >= 0) {
        lsc_tensor *tm = &ad->tensors[l->tm];
        l->flags |= LSC_LAYER_DORA;
        int64_t want = emb ? l->cols : l->rows;
        if (numel(tm) != want)
            lsc_adapter_warn(ad, "tensor '%s': %lld magnitudes for %lld output features",
                             lsc_escape_name(e1, sizeof e1, tm->key), (long long)numel(tm), (long long)want);
    }
    return LSC_OK;
}

/* Resolve the paths: a folder, or a .safetensors file with an optional config beside it. */
static lsc_status resolve_paths(const char *path, char **st_path, char **cfg_path, lsc_error *err)
{
    *st_path = *cfg_path = NULL;
    char *dir = NULL;
    if (lsc_is_dir(path)) {
        *st_path = path_join(path, MODEL_FILE);
        dir = strdup(path);
    } else {
        *st_path = strdup(path);
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path + 1)) : strdup(".");
    }
    if (!*st_path || !dir) {
        free(dir);
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    if (!lsc_is_file(*st_path)) {
        lsc_status st = lsc_error_set(err, LSC_ERR_NOTFOUND, "cannot open '%s': %s", *st_path,
                                      lsc_is_dir(*st_path) ? "is a folder" : "no such file");
        free(dir);
        return st;
    }
    char *cfg = path_join(dir, CONFIG_FILE);
    free(dir);
    if (!cfg)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    struct stat sb;
    if (stat(cfg, &sb) == 0 && !S_ISREG(sb.st_mode)) { /* not "missing": say what it is */
        lsc_status st = lsc_error_set(err, LSC_ERR_FORMAT, S_ISDIR(sb.st_mode) ? "'%s' is a folder, not a file"
                                                                                : "'%s' is not a regular file",
                                      cfg);
        free(cfg);
        return st;
    }
    if (lsc_is_file(cfg))
        *cfg_path = cfg;
    else
        free(cfg);
    return LSC_OK;
}

lsc_status lsc_peft_read(const char *path, lsc_adapter **out, lsc_error *err)
{
    return lsc_peft_read_cancel(path, out, NULL, err);
}

/* Non-zero when the caller asked to stop (checked every 256 tensors or layers, so a header of a million
 * tensors still stops at once). */
static int cancelled(volatile int *cancel, size_t i)
{
    return cancel && (i & 255u) == 0 && *cancel;
}

/* Format, source, header, base model, metadata and config text of the adapter (cfg_text taken over when
 * there is one; without one a warning says what is assumed). */
static lsc_status describe_adapter(lsc_adapter *ad, const lsc_st_file *f, const char *path, const char *st_path,
                                   const peft_config *cfg, char **cfg_text, lsc_error *err)
{
    ad->format = strdup("peft");
    ad->source = strdup(path);
    ad->header_json = strdup(f->header);
    const char *bm = cfg->present ? json_string_value(json_object_get(cfg->root, "base_model_name_or_path")) : NULL;
    ad->base_model = strdup(bm ? bm : "");
    if (!ad->format || !ad->source || !ad->header_json || !ad->base_model)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (f->n_meta && !(ad->metadata_json = lsc_st_metadata_json(f)))
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (*cfg_text) {
        ad->config_json = *cfg_text;
        *cfg_text = NULL;
    } else {
        lsc_adapter_warn(ad,
                         "no %s beside '%s': assuming lora_alpha = r (scale 1) for every layer, "
                         "no rsLoRA, no fan_in_fan_out",
                         CONFIG_FILE, st_path);
    }
    return LSC_OK;
}

/* The per-layer notes of a read, grown with the layers. */
typedef struct layer_works {
    layer_work *v;
    size_t cap;
} layer_works;

/* The layer whose factors are named prefix[0..plen): found, or created (with its module type, block
 * number and a cleared note in works). Its index in *li. */
static lsc_status layer_for(lsc_adapter *ad, const char *name, size_t plen, layer_works *works, int *li, lsc_error *err)
{
    char *prefix = strndup(name, plen);
    if (!prefix)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    /* a layer's factors are usually neighbours: try the last layer before searching them all */
    *li = ad->n_layers && strcmp(ad->layers[ad->n_layers - 1].name, prefix) == 0 ? (int)ad->n_layers - 1
                                                                                 : lsc_adapter_find_layer(ad, prefix);
    if (*li >= 0) {
        free(prefix);
        return LSC_OK;
    }
    size_t nl;
    lsc_status st = lsc_adapter_add_layer(ad, prefix, &nl, err);
    if (!st && nl >= works->cap) {
        size_t nc = works->cap ? works->cap * 2 : 64;
        layer_work *p = realloc(works->v, nc * sizeof *works->v);
        if (!p)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        else {
            works->v = p;
            works->cap = nc;
        }
    }
    if (!st) {
        *li = (int)nl;
        memset(&works->v[nl], 0, sizeof works->v[nl]);
        works->v[nl].prefix_len = plen;
        lsc_layer *l = &ad->layers[nl];
        const char *dot = strrchr(prefix, '.');
        free(l->module_type);
        l->module_type = strdup(dot ? dot + 1 : prefix);
        l->layer_index = layer_index_of(prefix);
        if (!l->module_type)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    free(prefix);
    return st;
}

/* Tensor i of f into ad: an extra, or a factor, magnitude or gate of its layer (set in the layer's slot;
 * a slot filled twice is an error). *n_gates counts the gates. */
static lsc_status add_file_tensor(lsc_adapter *ad, const lsc_st_file *f, size_t i, const char *st_path,
                                  layer_works *works, size_t *n_gates, lsc_error *err)
{
    static const lsc_role roles[] = {LSC_ROLE_A, LSC_ROLE_B, LSC_ROLE_E, LSC_ROLE_A, LSC_ROLE_B, LSC_ROLE_MAGNITUDE,
                                     LSC_ROLE_GATE};
    const lsc_st_tensor *s = &f->tensors[i];
    size_t plen = 0, ti;
    lsc_status st;
    factor_name fn = parse_key(s->name, &plen);
    if (fn == F_NONE) {
        if ((st = lsc_adapter_add_tensor(ad, s->name, LSC_ROLE_EXTRA, -1, s->dtype, s->ndim, s->shape, NULL, &ti, err)))
            return st;
        ad->tensors[ti].src = (int64_t)i;
        return LSC_OK;
    }
    int li = -1;
    if ((st = layer_for(ad, s->name, plen, works, &li, err)))
        return st;
    if (fn == F_GATE && lsc_adapter_layer_tensor(ad, li, LSC_ROLE_GATE) >= 0)
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': tensor '%s': a second gate for the same layer", st_path,
                             s->name);
    if ((st = lsc_adapter_add_tensor(ad, s->name, roles[fn], li, s->dtype, s->ndim, s->shape, NULL, &ti, err)))
        return st;
    ad->tensors[ti].src = (int64_t)i;
    if (fn == F_GATE) {
        (*n_gates)++;
        return LSC_OK; /* found by role: no slot on the layer */
    }
    lsc_layer *l = &ad->layers[li];
    int *slot = fn == F_A || fn == F_EMB_A ? &l->ta : fn == F_B || fn == F_EMB_B ? &l->tb : fn == F_E ? &l->te : &l->tm;
    if (fn == F_EMB_A)
        works->v[li].emb_a = 1;
    if (fn == F_EMB_B)
        works->v[li].emb_b = 1;
    return set_factor(ad, l, slot, ti, st_path, err);
}

/* Layer li's alpha, rule and (AdaLoRA) init_r from the config, with warnings where the config and the
 * tensors disagree; *rank_warnings counts the rank disagreements (named up to MAX_RANK_WARNINGS). */
static void config_layer(lsc_adapter *ad, size_t li, const peft_config *cfg, int *rank_warnings)
{
    lsc_layer *l = &ad->layers[li];
    const char *module = lsc_peft_module_name(l->name);
    if (!cfg->present) {
        l->alpha = l->rank;
        l->rule = LSC_SCALE_ALPHA_R;
    } else if (cfg->adalora) {
        l->alpha = cfg->alpha;
        l->init_r = cfg->init_r;
        l->rule = LSC_SCALE_ADALORA;
        /* the mask PEFT saved for this layer must keep as many triplets as the tensors hold */
        char mkey[1024];
        snprintf(mkey, sizeof mkey, "%s.lora_E", module);
        json_t *mask = cfg->rank_pattern ? json_object_get(cfg->rank_pattern, mkey) : NULL;
        if (json_is_array(mask)) {
            int kept = 0;
            for (size_t i = 0; i < json_array_size(mask); i++)
                kept += json_is_true(json_array_get(mask, i));
            if (kept != l->rank)
                lsc_adapter_warn(ad, "layer '%s': rank_pattern keeps %d of %zu triplets but the tensors hold %d",
                                 l->name, kept, json_array_size(mask), l->rank);
        }
    } else {
        int r_cfg;
        const char *rkey;
        config_resolve(cfg, module, &r_cfg, &l->alpha, &rkey);
        l->rule = cfg->rslora ? LSC_SCALE_RSLORA : LSC_SCALE_ALPHA_R;
        if (r_cfg != l->rank) {
            if (*rank_warnings < MAX_RANK_WARNINGS) {
                char ek[256];
                lsc_adapter_warn(ad, "layer '%s': config r %d%s%s%s disagrees with the tensor rank %d; using %d",
                                 l->name, r_cfg, rkey ? " (rank_pattern key '" : "",
                                 rkey ? lsc_escape_name(ek, sizeof ek, rkey) : "", rkey ? "')" : "", l->rank, l->rank);
            }
            (*rank_warnings)++;
        }
        if (cfg->dora && l->tm < 0)
            lsc_adapter_warn(ad, "layer '%s': use_dora is set but there is no lora_magnitude_vector", l->name);
    }
}

/* Check every layer's factors and set its shape, alpha, rule and scale; *varies is 1 when layers differ in
 * rank or alpha. An adapter without layers is refused. */
static lsc_status shape_layers(lsc_adapter *ad, const layer_works *works, const peft_config *cfg, volatile int *cancel,
                               const char *st_path, int *varies, lsc_error *err)
{
    int rank_warnings = 0, first_rank = -1;
    double first_alpha = 0;
    *varies = 0;
    for (size_t li = 0; li < ad->n_layers; li++) {
        lsc_layer *l = &ad->layers[li];
        if (cancelled(cancel, li))
            return lsc_error_set(err, LSC_ERR_CANCELLED, "reading '%s' cancelled", st_path);
        lsc_status st = check_layer(ad, li, &works->v[li], st_path, err);
        if (st)
            return st;
        if (cfg->fifo && !(l->flags & (LSC_LAYER_EMBEDDING | LSC_LAYER_CONV))) /* PEFT ignores it there */
            l->flags |= LSC_LAYER_FAN_IN_FAN_OUT;
        config_layer(ad, li, cfg, &rank_warnings);
        l->scale = lsc_scale_compute(l->rule, l->alpha, l->rank, l->init_r, 0.0);
        if (li == 0) {
            first_rank = l->rank;
            first_alpha = l->alpha;
        } else if (l->rank != first_rank || l->alpha != first_alpha) {
            *varies = 1;
        }
    }
    if (rank_warnings > MAX_RANK_WARNINGS)
        lsc_adapter_warn(ad, "... and %d more layers whose config r disagrees with the tensor rank",
                         rank_warnings - MAX_RANK_WARNINGS);
    if (ad->n_layers == 0) {
        /* an adapter with nothing to adapt is refused, like a folder without an adapter file */
        char pe[512];
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                             "no LoRA layers in '%s' (no lora_A/lora_B pair; %zu other tensor%s)",
                             lsc_escape_name(pe, sizeof pe, st_path), ad->n_tensors, ad->n_tensors == 1 ? "" : "s");
    }
    return LSC_OK;
}

lsc_status lsc_peft_read_cancel(const char *path, lsc_adapter **out, volatile int *cancel, lsc_error *err)
{
    lsc_status st = LSC_OK;
    char *st_path = NULL, *cfg_path = NULL, *cfg_text = NULL;
    size_t cfg_len = 0;
    peft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    lsc_st_file *f = NULL;
    lsc_adapter *ad = NULL;
    layer_works works = {NULL, 0};
    *out = NULL;

    if ((st = resolve_paths(path, &st_path, &cfg_path, err)))
        goto done;
    if (cfg_path) {
        if ((st = read_text_file(cfg_path, &cfg_text, &cfg_len, err)) ||
            (st = config_parse(cfg_text, cfg_len, cfg_path, &cfg, err)))
            goto done;
    }
    if ((st = lsc_st_open(st_path, &f, err)))
        goto done;

    ad = lsc_adapter_new();
    if (!ad) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = describe_adapter(ad, f, path, st_path, &cfg, &cfg_text, err)))
        goto done;
    /* classify every tensor in data order */
    size_t n_gates = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        if (cancelled(cancel, i)) {
            st = lsc_error_set(err, LSC_ERR_CANCELLED, "reading '%s' cancelled", st_path);
            goto done;
        }
        if ((st = add_file_tensor(ad, f, i, st_path, &works, &n_gates, err)))
            goto done;
    }
    int varies;
    if ((st = shape_layers(ad, &works, &cfg, cancel, st_path, &varies, err)))
        goto done;

    lsc_kind kind = LSC_KIND_STATIC;
    if (cfg.adalora)
        kind = LSC_KIND_ADAPTIVE;
    else if (n_gates > 0)
        kind = LSC_KIND_SPARSE;
    else if (varies || cfg.layers_to_transform || json_object_size(cfg.rank_pattern) > 0 ||
             json_object_size(cfg.alpha_pattern) > 0)
        kind = LSC_KIND_LAYERWISE;
    if ((st = lsc_adapter_set_kind(ad, kind, err)))
        goto done;
    ad->load = lsc_st_tensor_loader;
    ad->load_ctx = f;
    ad->load_ctx_free = lsc_st_loader_free;
    f = NULL;
    *out = ad;
    ad = NULL;
done:
    lsc_adapter_free(ad);
    lsc_st_close(f);
    config_release(&cfg);
    free(works.v);
    free(cfg_text);
    free(st_path);
    free(cfg_path);
    return st;
}

/* ---- listing ----------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

lsc_status lsc_peft_list(const char *dir, char ***names, size_t *n, lsc_error *err)
{
    lsc_status st = LSC_OK;
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    DIR *d = NULL;
    *names = NULL;
    *n = 0;
    char *p = path_join(dir, MODEL_FILE);
    if (!p)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    int has_default = lsc_is_file(p);
    free(p);
    d = opendir(dir);
    if (!d) {
        st = lsc_error_set(err, errno == ENOENT ? LSC_ERR_NOTFOUND : LSC_ERR_IO, "cannot open '%s': %s", dir,
                           strerror(errno));
        goto done;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *sub = path_join(dir, e->d_name);
        char *model = sub ? path_join(sub, MODEL_FILE) : NULL;
        int ok = model && lsc_is_dir(sub) && lsc_is_file(model);
        free(model);
        free(sub);
        if (!ok)
            continue;
        if (cnt + 1 >= cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **q = realloc(v, nc * sizeof *v);
            if (!q) {
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                goto done;
            }
            v = q;
            cap = nc;
        }
        if (!(v[cnt] = strdup(e->d_name))) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto done;
        }
        cnt++;
    }
    if (cnt) /* qsort(NULL, 0, ...) is undefined behaviour (UBSan: nonnull argument) */
        qsort(v, cnt, sizeof *v, cmp_str);
    if (has_default) {
        char *def = strdup("default");
        char **q = def ? realloc(v, (cnt + 1) * sizeof *v) : NULL;
        if (!q) {
            free(def);
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto done;
        }
        v = q;
        memmove(v + 1, v, cnt * sizeof *v);
        v[0] = def;
        cnt++;
    }
    if (cnt == 0) {
        st = lsc_error_set(err, LSC_ERR_NOTFOUND, "no PEFT adapter in '%s'", dir);
        goto done;
    }
    *names = v;
    *n = cnt;
    v = NULL;
    cnt = 0;
done:
    for (size_t i = 0; i < cnt; i++)
        free(v[i]);
    free(v);
    if (d)
        closedir(d);
    return st;
}

/* ---- writing: JSON text the way PEFT (Python json.dumps, indent=2) writes it ------------------------- */

static void dump_string(lsc_strbuf *b, const char *s)
{
    json_t *j = json_string(s);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
    if (t)
        lsc_strbuf_puts(b, t);
    else
        b->oom = 1;
    free(t);
    json_decref(j);
}

/* Shortest text that reads back to the same double, with a ".0" for integral values (Python's repr). */
static void dump_real(lsc_strbuf *b, double v)
{
    char t[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, v);
        if (strtod(t, NULL) == v)
            break;
    }
    if (!strpbrk(t, ".eEni"))
        strcat(t, ".0");
    lsc_strbuf_puts(b, t);
}

static void dump_py(lsc_strbuf *b, json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (json_object_size(v) == 0) {
            lsc_strbuf_puts(b, "{}");
            break;
        }
        lsc_strbuf_puts(b, "{");
        const char *k;
        json_t *x;
        int first = 1;
        json_object_foreach(v, k, x) {
            lsc_strbuf_printf(b, "%s\n%*s", first ? "" : ",", 2 * (depth + 1), "");
            dump_string(b, k);
            lsc_strbuf_puts(b, ": ");
            dump_py(b, x, depth + 1);
            first = 0;
        }
        lsc_strbuf_printf(b, "\n%*s}", 2 * depth, "");
        break;
    }
    case JSON_ARRAY: {
        if (json_array_size(v) == 0) {
            lsc_strbuf_puts(b, "[]");
            break;
        }
        lsc_strbuf_puts(b, "[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            lsc_strbuf_printf(b, "%s\n%*s", i ? "," : "", 2 * (depth + 1), "");
            dump_py(b, json_array_get(v, i), depth + 1);
        }
        lsc_strbuf_printf(b, "\n%*s]", 2 * depth, "");
        break;
    }
    case JSON_STRING:
        dump_string(b, json_string_value(v));
        break;
    case JSON_INTEGER:
        lsc_strbuf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        dump_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        lsc_strbuf_puts(b, "true");
        break;
    case JSON_FALSE:
        lsc_strbuf_puts(b, "false");
        break;
    default:
        lsc_strbuf_puts(b, "null");
        break;
    }
}

/* ---- writing: files ---------------------------------------------------------------------------------- */

/* Write `text` to `path` atomically (lsc_atomic_*: a temporary file beside it, fsync, rename). */
static lsc_status write_text(const char *path, const char *text, size_t len, lsc_error *err)
{
    lsc_atomic_file f;
    lsc_status st = lsc_atomic_begin(&f, path, err);
    if (st)
        return st;
    if (lsc_write_full(f.fd, text, len) != 0) {
        st = lsc_error_set(err, LSC_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        lsc_atomic_abort(&f);
        return st;
    }
    return lsc_atomic_commit(&f, err);
}

/* Metadata for a canonical file: the adapter's (string values only) or PEFT's {"format": "pt"}. */
static lsc_status metadata_arrays(const lsc_adapter *ad, json_t **holder, const char ***keys, const char ***vals,
                                  size_t *n, lsc_error *err)
{
    *holder = NULL;
    *keys = *vals = NULL;
    *n = 0;
    json_t *o;
    if (ad->metadata_json) {
        json_error_t je;
        o = json_loads(ad->metadata_json, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(o)) {
            json_decref(o);
            return lsc_error_set(err, LSC_ERR_INVALID, "adapter metadata is not a JSON object");
        }
    } else {
        o = json_pack("{s:s}", "format", "pt");
        if (!o)
            return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    }
    /* another format's typed metadata (GGUF key-values) has no place in safetensors: left out */
    int foreign = ad->format && strcmp(ad->format, "peft") != 0;
    lsc_status st = lsc_st_meta_arrays(o, foreign, keys, vals, n, err);
    if (st) {
        json_decref(o);
        return st;
    }
    *holder = o;
    return LSC_OK;
}

static lsc_status write_tensors(lsc_adapter *ad, const char *path, lsc_dtype dtype, lsc_error *err)
{
    lsc_status st = LSC_OK;
    lsc_st_writer *w = NULL;
    lsc_st_out *outs = NULL;
    json_t *meta = NULL;
    const char **mk = NULL, **mv = NULL;
    size_t nm = 0;
    double *dbl = NULL;
    uint8_t *conv = NULL;
    size_t dbl_cap = 0, conv_cap = 0;
    int lossy = 0; /* tensors that lost values to the narrower dtype (warned on ad) */

    int convert = 0;
    if (dtype != LSC_DT_INVALID) {
        if (!lsc_dtype_is_float(dtype))
            return lsc_error_set(err, LSC_ERR_INVALID, "cannot write factors as %s: not a float dtype",
                                 lsc_dtype_name(dtype));
        for (size_t i = 0; i < ad->n_tensors; i++)
            if (lsc_dtype_is_float(ad->tensors[i].dtype) && ad->tensors[i].dtype != dtype)
                convert = 1;
    }
    if (!convert && lsc_st_header_reusable(ad)) {
        st = lsc_st_writer_begin_verbatim(path, ad->header_json, strlen(ad->header_json), &w, err);
    } else {
        outs = calloc(ad->n_tensors ? ad->n_tensors : 1, sizeof *outs);
        if (!outs) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < ad->n_tensors; i++) {
            lsc_tensor *t = &ad->tensors[i];
            outs[i].name = t->key;
            outs[i].dtype = convert && lsc_dtype_is_float(t->dtype) ? dtype : t->dtype;
            outs[i].ndim = t->ndim;
            outs[i].shape = t->shape;
        }
        if ((st = metadata_arrays(ad, &meta, &mk, &mv, &nm, err)))
            goto done;
        st = lsc_st_writer_begin(path, outs, ad->n_tensors, mk, mv, nm, &w, err);
    }
    if (st)
        goto done;
    for (size_t i = 0; i < ad->n_tensors; i++) {
        lsc_tensor *t = &ad->tensors[i];
        int was_loaded = t->data != NULL;
        if ((st = lsc_adapter_load_tensor(ad, i, err)))
            goto done;
        lsc_dtype to = convert && lsc_dtype_is_float(t->dtype) ? dtype : t->dtype;
        if (to == t->dtype) {
            st = lsc_st_writer_put(w, t->data, t->nbytes, err);
        } else {
            size_t n = (size_t)numel(t), nb = n * lsc_dtype_size(to);
            lsc_narrowing loss;
            if (n > dbl_cap) {
                double *p = realloc(dbl, n * sizeof *dbl);
                if (!p) {
                    st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory converting tensor '%s'", t->key);
                    goto done;
                }
                dbl = p;
                dbl_cap = n;
            }
            if (nb > conv_cap) {
                uint8_t *p = realloc(conv, nb);
                if (!p) {
                    st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory converting tensor '%s'", t->key);
                    goto done;
                }
                conv = p;
                conv_cap = nb;
            }
            if ((st = lsc_dtype_to_double(t->dtype, t->data, n, dbl)) ||
                (st = lsc_dtype_from_double_loss(to, dbl, n, conv, &loss))) {
                st = lsc_error_set(err, st, "cannot convert tensor '%s' from %s to %s", t->key,
                                   lsc_dtype_name(t->dtype), lsc_dtype_name(to));
                goto done;
            }
            if (loss.overflows) {
                double big = 0;
                for (size_t k = 0; k < n; k++)
                    if (isfinite(dbl[k]) && fabs(dbl[k]) > big)
                        big = fabs(dbl[k]);
                st = lsc_error_set(err, LSC_ERR_NUMERIC,
                                   "tensor '%s': %zu values overflow %s (largest magnitude %g); nothing written",
                                   t->key, loss.overflows, lsc_dtype_name(to), big);
                goto done;
            }
            lsc_format_warn_loss(ad, &lossy, t->key, &loss, n, to);
            st = lsc_st_writer_put(w, conv, nb, err);
        }
        if (!was_loaded)
            lsc_adapter_unload_tensor(ad, i);
        if (st)
            goto done;
    }
    lsc_format_warn_loss_total(ad, lossy);
    st = lsc_st_writer_finish(w, err);
    w = NULL;
done:
    lsc_st_writer_abort(w);
    free(outs);
    free(mk);
    free(mv);
    json_decref(meta);
    free(dbl);
    free(conv);
    return st;
}

/* ---- writing: the config ----------------------------------------------------------------------------- */

static int alpha_equal(double a, double b)
{
    return a == b || fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

/* The alpha a layer needs under the config's rule so PEFT reproduces its scale. */
static double wanted_alpha(const lsc_layer *l, int rslora)
{
    lsc_scale_rule want = rslora ? LSC_SCALE_RSLORA : LSC_SCALE_ALPHA_R;
    if (l->rule == want)
        return l->alpha;
    return rslora ? l->scale * sqrt((double)l->rank) : l->scale * l->rank;
}

static json_t *json_num(double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        return json_integer((json_int_t)v);
    return json_real(v);
}

/* A module name as a pattern key: regex metacharacters escaped (dots stay: they match themselves). */
static char *literal_key(const char *module)
{
    return lsc_format_backslash(module, "\\^$*+?()[]{}|");
}

typedef struct key_order {
    const char *name;
    size_t idx;
} key_order;

static int cmp_key_order(const void *a, const void *b)
{
    const key_order *x = a, *y = b;
    size_t lx = strlen(x->name), ly = strlen(y->name);
    if (lx != ly)
        return lx > ly ? -1 : 1; /* longer names first: a longer literal key can never select a shorter name */
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Rebuild `*pattern` (rank or alpha) so that every layer resolves to its wanted value: literal keys for the
 * layers that need them (longest first), then the existing entries. Iterates until every layer resolves
 * correctly (each pass only adds layers, so it ends). `is_rank` picks the value type. */
static lsc_status fix_pattern(json_t *root, const char *field, const lsc_adapter *ad, const int *want_r,
                              const double *want_a, int is_rank, json_int_t global_r, double global_a,
                              lsc_error *err)
{
    lsc_status st = LSC_OK;
    size_t nl = ad->n_layers;
    char *need = calloc(nl ? nl : 1, 1);
    key_order *order = calloc(nl ? nl : 1, sizeof *order);
    json_t *old = json_object_get(root, field), *fresh = NULL;
    pattern_set ps;
    memset(&ps, 0, sizeof ps);
    if (!need || !order) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!json_is_object(old))
        old = NULL;
    for (int pass = 0; pass <= (int)nl + 1; pass++) {
        json_decref(fresh);
        fresh = json_object();
        if (!fresh) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto done;
        }
        size_t cnt = 0;
        for (size_t i = 0; i < nl; i++)
            if (need[i]) {
                order[cnt].name = lsc_peft_module_name(ad->layers[i].name);
                order[cnt].idx = i;
                cnt++;
            }
        qsort(order, cnt, sizeof *order, cmp_key_order);
        for (size_t j = 0; j < cnt; j++) {
            char *k = literal_key(order[j].name);
            size_t i = order[j].idx;
            if (!k || json_object_set_new(fresh, k, is_rank ? json_integer(want_r[i]) : json_num(want_a[i]))) {
                free(k);
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                goto done;
            }
            free(k);
        }
        if (old) {
            const char *k;
            json_t *v;
            json_object_foreach(old, k, v) {
                if (!json_object_get(fresh, k))
                    json_object_set(fresh, k, v);
            }
        }
        pattern_set_release(&ps);
        if ((st = pattern_set_init(&ps, fresh, field, "config", err)))
            goto done;
        int changed = 0;
        for (size_t i = 0; i < nl; i++) {
            long pi = pattern_lookup(&ps, lsc_peft_module_name(ad->layers[i].name));
            int ok;
            if (is_rank)
                ok = (pi >= 0 ? json_integer_value(ps.vals[pi]) : global_r) == want_r[i];
            else
                ok = alpha_equal(pi >= 0 ? json_number_value(ps.vals[pi]) : global_a, want_a[i]);
            if (!ok && !need[i]) {
                need[i] = 1;
                changed = 1;
            }
        }
        if (!changed)
            break;
    }
    if (json_object_set_new(root, field, fresh)) {
        fresh = NULL;
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    fresh = NULL;
done:
    pattern_set_release(&ps);
    json_decref(fresh);
    free(need);
    free(order);
    return st;
}

/* The most frequent value (ties: the smallest). */
static int mode_int(const int *v, size_t n)
{
    int best = n ? v[0] : PEFT_DEFAULT_R;
    size_t best_c = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = 0;
        for (size_t j = 0; j < n; j++)
            c += v[j] == v[i];
        if (c > best_c || (c == best_c && v[i] < best)) {
            best = v[i];
            best_c = c;
        }
    }
    return best;
}

static double mode_double(const double *v, size_t n)
{
    double best = n ? v[0] : PEFT_DEFAULT_ALPHA;
    size_t best_c = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = 0;
        for (size_t j = 0; j < n; j++)
            c += alpha_equal(v[j], v[i]);
        if (c > best_c || (c == best_c && v[i] < best)) {
            best = v[i];
            best_c = c;
        }
    }
    return best;
}

/* A minimal PEFT LoraConfig for an adapter without a source config (keys sorted, as PEFT writes them). */
static json_t *minimal_config(const lsc_adapter *ad, int rslora)
{
    json_t *root = json_object(), *targets = json_array(), *mts = json_array();
    if (!root || !targets || !mts)
        goto fail;
    int fifo = 0, dora = 0;
    for (size_t i = 0; i < ad->n_layers; i++) {
        const lsc_layer *l = &ad->layers[i];
        fifo |= (l->flags & LSC_LAYER_FAN_IN_FAN_OUT) != 0;
        dora |= (l->flags & LSC_LAYER_DORA) != 0;
        int seen = 0;
        for (size_t j = 0; j < json_array_size(targets); j++)
            seen |= strcmp(json_string_value(json_array_get(targets, j)), l->module_type) == 0;
        if (!seen && l->module_type[0])
            json_array_append_new(targets, json_string(l->module_type));
    }
    /* modules_to_save: the modules of extra tensors (`<...>.<module>.weight` / `.bias`) */
    for (size_t i = 0; i < ad->n_tensors; i++) {
        const lsc_tensor *t = &ad->tensors[i];
        if (t->role != LSC_ROLE_EXTRA)
            continue;
        const char *last = strrchr(t->key, '.');
        if (!last || (strcmp(last, ".weight") != 0 && strcmp(last, ".bias") != 0))
            continue;
        const char *s = last;
        while (s > t->key && s[-1] != '.')
            s--;
        char *mod = strndup(s, (size_t)(last - s));
        if (!mod)
            goto fail;
        int seen = 0;
        for (size_t j = 0; j < json_array_size(mts); j++)
            seen |= strcmp(json_string_value(json_array_get(mts, j)), mod) == 0;
        if (!seen && mod[0])
            json_array_append_new(mts, json_string(mod));
        free(mod);
    }
    /* sort target_modules for a stable text */
    size_t nt = json_array_size(targets);
    for (size_t a = 1; a < nt; a++)
        for (size_t b = a; b > 0; b--) {
            json_t *x = json_array_get(targets, b - 1), *y = json_array_get(targets, b);
            if (strcmp(json_string_value(x), json_string_value(y)) <= 0)
                break;
            json_incref(x);
            json_array_set(targets, b - 1, y);
            json_array_set_new(targets, b, x);
        }
    json_object_set_new(root, "alpha_pattern", json_object());
    json_object_set_new(root, "base_model_name_or_path",
                        ad->base_model && ad->base_model[0] ? json_string(ad->base_model) : json_null());
    json_object_set_new(root, "bias", json_string("none"));
    json_object_set_new(root, "fan_in_fan_out", json_boolean(fifo));
    json_object_set_new(root, "inference_mode", json_true());
    json_object_set_new(root, "init_lora_weights", json_true());
    json_object_set_new(root, "layers_pattern", json_null());
    json_object_set_new(root, "layers_to_transform", json_null());
    json_object_set_new(root, "lora_alpha", json_integer(PEFT_DEFAULT_R));
    json_object_set_new(root, "lora_dropout", json_real(0.0));
    json_object_set_new(root, "modules_to_save", json_array_size(mts) ? mts : json_null());
    if (!json_array_size(mts))
        json_decref(mts);
    mts = NULL;
    json_object_set_new(root, "peft_type", json_string("LORA"));
    json_object_set_new(root, "r", json_integer(PEFT_DEFAULT_R));
    json_object_set_new(root, "rank_pattern", json_object());
    json_object_set_new(root, "revision", json_null());
    json_object_set_new(root, "target_modules", targets);
    targets = NULL;
    json_object_set_new(root, "task_type", json_null());
    json_object_set_new(root, "use_dora", json_boolean(dora));
    json_object_set_new(root, "use_rslora", json_boolean(rslora));
    return root;
fail:
    json_decref(root);
    json_decref(targets);
    json_decref(mts);
    return NULL;
}

/* Produce the config text to write: the source text itself when it still describes the layers, else the
 * source config (every key, in order) with r / lora_alpha / rank_pattern / alpha_pattern updated, or a
 * minimal config when there is no source. */
static lsc_status config_text(const lsc_adapter *ad, char **text, size_t *len, int *verbatim, lsc_error *err)
{
    lsc_status st = LSC_OK;
    peft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int *want_r = NULL;
    double *want_a = NULL;
    json_t *root = NULL;
    lsc_strbuf b = {0};
    *text = NULL;
    *len = 0;
    *verbatim = 0;
    size_t nl = ad->n_layers;

    if (ad->config_json) {
        if ((st = config_parse(ad->config_json, strlen(ad->config_json), "adapter config", &cfg, err)))
            goto done;
        if (cfg.adalora) { /* AdaLoRA: the masks and init_r describe the training run; keep them as they are */
            *verbatim = 1;
            goto done;
        }
    }
    int rslora = 0;
    if (cfg.present) {
        rslora = cfg.rslora;
    } else {
        size_t n_rs = 0;
        for (size_t i = 0; i < nl; i++)
            n_rs += ad->layers[i].rule == LSC_SCALE_RSLORA;
        rslora = nl > 0 && n_rs == nl;
    }
    want_r = calloc(nl ? nl : 1, sizeof *want_r);
    want_a = calloc(nl ? nl : 1, sizeof *want_a);
    if (!want_r || !want_a) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nl; i++) {
        want_r[i] = ad->layers[i].rank;
        want_a[i] = wanted_alpha(&ad->layers[i], rslora);
    }
    if (cfg.present) {
        int all_ok = 1;
        for (size_t i = 0; all_ok && i < nl; i++) {
            int r;
            double a;
            config_resolve(&cfg, lsc_peft_module_name(ad->layers[i].name), &r, &a, NULL);
            all_ok = r == want_r[i] && alpha_equal(a, want_a[i]);
        }
        if (all_ok) {
            *verbatim = 1;
            goto done;
        }
        root = json_incref(cfg.root);
    } else {
        root = minimal_config(ad, rslora);
        if (!root) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    /* Uniform values without patterns go into r / lora_alpha; everything else into the patterns. */
    json_int_t g_r = cfg.present ? cfg.r : mode_int(want_r, nl);
    double g_a = cfg.present ? cfg.alpha : mode_double(want_a, nl);
    int uniform_r = nl > 0, uniform_a = nl > 0;
    for (size_t i = 1; i < nl; i++) {
        uniform_r &= want_r[i] == want_r[0];
        uniform_a &= alpha_equal(want_a[i], want_a[0]);
    }
    if (uniform_r && (!cfg.present || cfg.rp.n == 0))
        g_r = want_r[0];
    if (uniform_a && (!cfg.present || cfg.ap.n == 0))
        g_a = want_a[0];
    if (!cfg.present || g_r != cfg.r)
        json_object_set_new(root, "r", json_integer(g_r));
    if (!cfg.present || !alpha_equal(g_a, cfg.alpha))
        json_object_set_new(root, "lora_alpha", json_num(g_a));
    if ((st = fix_pattern(root, "rank_pattern", ad, want_r, want_a, 1, g_r, g_a, err)) ||
        (st = fix_pattern(root, "alpha_pattern", ad, want_r, want_a, 0, g_r, g_a, err)))
        goto done;
    dump_py(&b, root, 0);
    if (b.oom) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    *text = b.s;
    *len = b.len;
    b.s = NULL;
done:
    free(b.s);
    json_decref(root);
    config_release(&cfg);
    free(want_r);
    free(want_a);
    return st;
}

lsc_status lsc_peft_write_into(lsc_adapter *ad, const char *dir, lsc_dtype dtype, lsc_error *err)
{
    lsc_status st;
    char *st_path = NULL, *cfg_path = NULL, *text = NULL;
    size_t len = 0;
    int verbatim = 0;
    if (dtype != LSC_DT_INVALID && !lsc_dtype_is_float(dtype))
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot write factors as %s: not a float dtype",
                             lsc_dtype_name(dtype));
    for (size_t li = 0; li < ad->n_layers; li++) /* LyCORIS factors are no lora_A/lora_B: never misnamed as such */
        if (ad->layers[li].flags & (LSC_LAYER_LOHA | LSC_LAYER_LOKR | LSC_LAYER_TUCKER))
            return lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                                 "layer '%.200s' is a LyCORIS %s layer: a PEFT LoRA holds plain pairs (convert --to static "
                                 "first)",
                                 ad->layers[li].name,
                                 ad->layers[li].flags & LSC_LAYER_LOHA   ? "LoHa"
                                 : ad->layers[li].flags & LSC_LAYER_LOKR ? "LoKr"
                                                                         : "LoCon-Tucker");
    if ((st = config_text(ad, &text, &len, &verbatim, err)))
        goto done;
    st_path = path_join(dir, MODEL_FILE);
    cfg_path = path_join(dir, CONFIG_FILE);
    if (!st_path || !cfg_path) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = write_tensors(ad, st_path, dtype, err)))
        goto done;
    if (verbatim)
        st = write_text(cfg_path, ad->config_json, strlen(ad->config_json), err);
    else
        st = write_text(cfg_path, text, len, err);
done:
    free(text);
    free(st_path);
    free(cfg_path);
    return st;
}

lsc_status lsc_peft_write(lsc_adapter *ad, const char *dir, lsc_dtype dtype, lsc_error *err)
{
    if (dtype != LSC_DT_INVALID && !lsc_dtype_is_float(dtype))
        return lsc_error_set(err, LSC_ERR_INVALID, "cannot write factors as %s: not a float dtype",
                             lsc_dtype_name(dtype));
    /* the pair goes into a fresh sibling folder swapped in whole: a reader sees the old pair or the new */
    lsc_atomic_folder tx;
    lsc_status st = lsc_atomic_folder_begin(&tx, dir, err);
    if (st)
        return st;
    if ((st = lsc_peft_write_into(ad, tx.tmp, dtype, err))) {
        lsc_atomic_folder_abort(&tx);
        return st;
    }
    return lsc_atomic_folder_commit(&tx, err);
}
