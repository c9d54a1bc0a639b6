/* options.c: parsing, usage and help from each command's option table (see options.h). */
#include "options.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "suggest.h"

int lsc_parse_int(const char *s, long long lo, long long hi, long long *v)
{
    const char *p = s;
    int neg = *p == '-';
    if (neg)
        p++;
    if (!*p)
        return -1;
    /* accumulate as a negative number so LLONG_MIN fits; stop at the first overflow */
    long long acc = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        int d = *p - '0';
        if (acc < (LLONG_MIN + d) / 10)
            return -1;
        acc = acc * 10 - d;
    }
    if (!neg && acc == LLONG_MIN)
        return -1;
    long long x = neg ? acc : -acc;
    if (x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

int lsc_parse_u64(const char *s, uint64_t *v)
{
    if (!*s)
        return -1;
    uint64_t acc = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return -1;
        acc = acc * 10 + d;
    }
    *v = acc;
    return 0;
}

int lsc_parse_real(const char *s, double lo, double hi, unsigned flags, double *v)
{
    char *end;
    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s)) /* decimal only: no spaces, hex, nan or inf */
        return -1;
    double x = strtod(s, &end);
    if (*end || end == s || !isfinite(x))
        return -1;
    if ((flags & LSC_OPT_LO_OPEN) ? !(x > lo) : !(x >= lo))
        return -1;
    if ((flags & LSC_OPT_HI_OPEN) ? !(x < hi) : !(x <= hi))
        return -1;
    *v = x;
    return 0;
}

const char *lsc_opts_takes(const lsc_opt *o, char *buf, size_t cap)
{
    switch (o->type) {
    case LSC_OPT_INT:
        if (o->ihi == LLONG_MAX)
            snprintf(buf, cap, "a whole number >= %lld", o->ilo);
        else
            snprintf(buf, cap, "a whole number from %lld to %lld", o->ilo, o->ihi);
        break;
    case LSC_OPT_U64: snprintf(buf, cap, "a whole number from 0 to %llu", (unsigned long long)UINT64_MAX); break;
    case LSC_OPT_REAL: {
        const char *lo = (o->flags & LSC_OPT_LO_OPEN) ? ">" : ">=", *hi = (o->flags & LSC_OPT_HI_OPEN) ? "<" : "<=";
        if (isinf(o->hi) && isinf(o->lo))
            snprintf(buf, cap, "a finite number");
        else if (isinf(o->hi))
            snprintf(buf, cap, "a number %s %g", lo, o->lo);
        else if (isinf(o->lo))
            snprintf(buf, cap, "a number %s %g", hi, o->hi);
        else
            snprintf(buf, cap, "a %s in %c%g, %g%c", o->lo == 0 && o->hi == 1 ? "fraction" : "number", (o->flags & LSC_OPT_LO_OPEN) ? '(' : '[', o->lo, o->hi,
                     (o->flags & LSC_OPT_HI_OPEN) ? ')' : ']');
        break;
    }
    case LSC_OPT_CHOICE: {
        size_t len = (size_t)snprintf(buf, cap, "one of ");
        for (int i = 0; o->choices[i] && len < cap; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", o->choices[i]);
        break;
    }
    case LSC_OPT_LIST:
    case LSC_OPT_STRING:
    case LSC_OPT_GLOB:
    case LSC_OPT_PATH:
    case LSC_OPT_ADAPTER:
    case LSC_OPT_NEW: snprintf(buf, cap, "%s", o->metavar ? o->metavar : "a value"); break;
    default: snprintf(buf, cap, "no value"); break;
    }
    return buf;
}

static void entry_label(const lsc_opt *o, char *buf, size_t cap)
{
    if (o->name)
        snprintf(buf, cap, "--%s", o->name);
    else
        snprintf(buf, cap, "%s", o->metavar ? o->metavar : "argument");
}

static int choice_matches(const lsc_opt *o, const char *value, const char *choice)
{
    for (; *value && *choice; value++, choice++) {
        int a = (unsigned char)*value, b = (unsigned char)*choice;
        if ((o->flags & LSC_OPT_DASHES) && a == '-')
            a = '_';
        if ((o->flags & LSC_OPT_ICASE) && a >= 'A' && a <= 'Z')
            a += 'a' - 'A';
        if (a != b)
            return 0;
    }
    return *value == *choice;
}

int lsc_opts_set(struct lsc_cmd_ctx *ctx, const char *cmd, const lsc_opt *o, const char *value, void *args)
{
    char *field = (char *)args + o->at;
    char takes[512], label[128];
    int bad = 0;
    switch (o->type) {
    case LSC_OPT_FLAG:
        if (o->at)
            *(int *)field = 1;
        return LSC_EXIT_OK;
    case LSC_OPT_INT: {
        long long v;
        if (!(bad = lsc_parse_int(value, o->ilo, o->ihi, &v) != 0) && o->at)
            *(long long *)field = v;
        break;
    }
    case LSC_OPT_U64: {
        uint64_t v;
        if (!(bad = lsc_parse_u64(value, &v) != 0) && o->at)
            *(uint64_t *)field = v;
        break;
    }
    case LSC_OPT_REAL: {
        double v;
        if (!(bad = lsc_parse_real(value, o->lo, o->hi, o->flags, &v) != 0) && o->at)
            *(double *)field = v;
        break;
    }
    case LSC_OPT_CHOICE: {
        bad = 1;
        for (int i = 0; o->choices[i] && bad; i++)
            if (choice_matches(o, value, o->choices[i])) {
                bad = 0;
                if (o->at)
                    *(int *)field = i;
            }
        break;
    }
    case LSC_OPT_LIST: {
        lsc_optlist *l = (lsc_optlist *)field;
        entry_label(o, label, sizeof label);
        if (l->n >= LSC_OPTLIST_MAX)
            return lsc_usage_error(ctx, cmd, "%s: at most %d times", label, LSC_OPTLIST_MAX);
        l->v[l->n++] = value;
        return LSC_EXIT_OK;
    }
    default:
        if (o->at)
            *(const char **)field = value;
        return LSC_EXIT_OK;
    }
    if (!bad) {
        if (o->text_at)
            *(const char **)((char *)args + o->text_at) = value;
        return LSC_EXIT_OK;
    }
    char shown[96];
    lsc_escape_name(shown, sizeof shown, value);
    entry_label(o, label, sizeof label);
    if (o->type == LSC_OPT_CHOICE) {
        char hint[512];
        lsc_suggest sg;
        lsc_suggest_init(&sg, value);
        for (int i = 0; o->choices[i]; i++)
            lsc_suggest_add(&sg, o->choices[i]);
        return lsc_usage_error(ctx, cmd, "%s: '%s' is not %s%s", label, shown, lsc_opts_takes(o, takes, sizeof takes),
                               lsc_suggest_text(&sg, hint, sizeof hint));
    }
    return lsc_usage_error(ctx, cmd, "%s takes %s, not '%s'", label, lsc_opts_takes(o, takes, sizeof takes), shown);
}

const lsc_opt *lsc_opts_find(const lsc_opt *opts, const char *opt)
{
    const char *name = strncmp(opt, "--", 2) == 0 ? opt + 2 : opt;
    size_t len = strcspn(name, "=");
    for (int i = 0; opts[i].type != LSC_OPT_END; i++)
        if (opts[i].name && strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

/* The entry for "--name[=v]": exact, else a unique prefix (as getopt_long allowed); NULL and *ambiguous. */
static const lsc_opt *find_option(const lsc_opt *opts, const char *name, size_t len, int *ambiguous)
{
    const lsc_opt *hit = NULL;
    int hits = 0;
    *ambiguous = 0;
    for (int i = 0; opts[i].type != LSC_OPT_END; i++) {
        if (!opts[i].name || strncmp(opts[i].name, name, len) != 0)
            continue;
        if (strlen(opts[i].name) == len)
            return &opts[i];
        hit = &opts[i];
        hits++;
    }
    if (hits > 1) {
        *ambiguous = 1;
        return NULL;
    }
    return hit;
}

const lsc_opt *lsc_opts_positional(const lsc_opt *opts, int index)
{
    int k = 0;
    for (int i = 0; opts[i].type != LSC_OPT_END; i++) {
        if (!(opts[i].flags & LSC_OPT_POSITIONAL))
            continue;
        if (k == index || (opts[i].flags & LSC_OPT_MANY))
            return &opts[i];
        k++;
    }
    return NULL;
}

int lsc_opts_given(const lsc_opt *opts, const void *args, const char *name)
{
    const lsc_opt *o = lsc_opts_find(opts, name);
    return o && (((const lsc_args *)args)->seen >> (o - opts) & 1u);
}

/* "NAME [LAYER-GLOB]": the positionals as the usage line shows them. */
static size_t positional_words(const lsc_opt *opts, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; opts[i].type != LSC_OPT_END && len < cap; i++) {
        const lsc_opt *o = &opts[i];
        if (!(o->flags & LSC_OPT_POSITIONAL))
            continue;
        const char *fmt = (o->flags & LSC_OPT_MANY) ? "%s%s..." : (o->flags & LSC_OPT_OPTIONAL) ? "%s[%s]" : "%s%s";
        len += (size_t)snprintf(buf + len, cap - len, fmt, len ? " " : "", o->metavar);
    }
    return len;
}

static int assign_positionals(struct lsc_cmd_ctx *ctx, const char *cmd, const lsc_opt *opts, lsc_args *a)
{
    int need = 0, max = 0, many = 0;
    const lsc_opt *many_o = NULL;
    for (int i = 0; opts[i].type != LSC_OPT_END; i++) {
        const lsc_opt *o = &opts[i];
        if (!(o->flags & LSC_OPT_POSITIONAL))
            continue;
        if (o->flags & LSC_OPT_MANY) {
            many = 1;
            many_o = o;
            need += o->min_n;
            max += o->max_n ? o->max_n : LSC_OPTLIST_MAX;
        } else {
            need += !(o->flags & LSC_OPT_OPTIONAL);
            max++;
        }
    }
    if (a->npos < need || a->npos > max) {
        char words[256];
        positional_words(opts, words, sizeof words);
        if (!*words)
            return lsc_usage_error(ctx, cmd, "takes no arguments, not '%s'", a->pos[0]);
        if (many)
            return lsc_usage_error(ctx, cmd, "expected %s (%d to %d %s), got %d argument(s)", words, many_o->min_n,
                                   many_o->max_n ? many_o->max_n : LSC_OPTLIST_MAX, many_o->metavar, a->npos);
        return lsc_usage_error(ctx, cmd, "expected %s, got %d argument(s)", words, a->npos);
    }
    for (int k = 0; k < a->npos; k++) {
        const lsc_opt *o = lsc_opts_positional(opts, k);
        if (o->flags & LSC_OPT_MANY) { /* the field points at the first of them */
            if (o->at && (k == 0 || lsc_opts_positional(opts, k - 1) != o))
                *(char ***)((char *)a + o->at) = &a->pos[k];
            continue;
        }
        int rc = lsc_opts_set(ctx, cmd, o, a->pos[k], a);
        if (rc)
            return rc;
        a->seen |= (uint64_t)1 << (o - opts);
    }
    return LSC_EXIT_OK;
}

int lsc_opts_parse(struct lsc_cmd_ctx *ctx, const char *cmd, const lsc_opt *opts, int argc, char **argv, void *args)
{
    lsc_args *a = args;
    int rc;
    for (int i = 0; opts[i].type != LSC_OPT_END; i++)
        if (opts[i].def && (rc = lsc_opts_set(ctx, cmd, &opts[i], opts[i].def, args)))
            return rc;
    a->pos = calloc((size_t)argc + 1, sizeof(char *));
    a->npos = 0;
    a->seen = 0;
    if (!a->pos) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        return LSC_EXIT_ERROR;
    }
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        /* "-" (standard input) and "-3" (a number, to be refused by its range) are positionals */
        if (only_pos || s[0] != '-' || s[1] == '\0' || (s[1] >= '0' && s[1] <= '9')) {
            a->pos[a->npos++] = argv[i];
            continue;
        }
        if (strcmp(s, "--") == 0) {
            only_pos = 1;
            continue;
        }
        char shown[96];
        if (s[1] != '-')
            return lsc_usage_error(ctx, cmd, "unknown option '%s'", lsc_escape_name(shown, sizeof shown, s));
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int ambiguous;
        const lsc_opt *o = find_option(opts, name, len, &ambiguous);
        if (!o) {
            char word[128], hint[512];
            snprintf(word, sizeof word, "%.*s", (int)(len < 127 ? len : 127), name);
            lsc_suggest sg;
            lsc_suggest_init(&sg, word);
            sg.prefix = "--";
            for (int k = 0; !ambiguous && opts[k].type != LSC_OPT_END; k++)
                lsc_suggest_add(&sg, opts[k].name);
            lsc_suggest_text(&sg, hint, sizeof hint);
            return lsc_usage_error(ctx, cmd, "%s option '%s'%s", ambiguous ? "ambiguous" : "unknown",
                                   lsc_escape_name(shown, sizeof shown, s), hint);
        }
        const char *value = NULL;
        if (o->type == LSC_OPT_FLAG) {
            if (eq)
                return lsc_usage_error(ctx, cmd, "--%s takes no value", o->name);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            char takes[512];
            return lsc_usage_error(ctx, cmd, "option '--%s' needs a value (%s)", o->name,
                                   lsc_opts_takes(o, takes, sizeof takes));
        }
        if ((rc = lsc_opts_set(ctx, cmd, o, value, args)))
            return rc;
        a->seen |= (uint64_t)1 << (o - opts);
    }
    if ((rc = assign_positionals(ctx, cmd, opts, a)))
        return rc;
    for (int i = 0; opts[i].type != LSC_OPT_END; i++)
        if ((opts[i].flags & LSC_OPT_REQUIRED) && !(a->seen >> i & 1u)) {
            char takes[512];
            return lsc_usage_error(ctx, cmd, "give --%s %s (%s)", opts[i].name, opts[i].metavar ? opts[i].metavar : "",
                                   lsc_opts_takes(&opts[i], takes, sizeof takes));
        }
    return LSC_EXIT_OK;
}

void lsc_opts_usage(lsc_sink *out, const char *cmd, const lsc_opt *opts)
{
    char words[256];
    lsc_out(out, "usage: lorascope %s", cmd);
    if (positional_words(opts, words, sizeof words))
        lsc_out(out, " %s", words);
    for (int i = 0; opts[i].type != LSC_OPT_END; i++) {
        const lsc_opt *o = &opts[i];
        if ((o->flags & (LSC_OPT_POSITIONAL | LSC_OPT_NOUSAGE)))
            continue;
        if (o->usage)
            lsc_out(out, " %s", o->usage);
        else if (o->type == LSC_OPT_FLAG)
            lsc_out(out, (o->flags & LSC_OPT_REQUIRED) ? " --%s" : " [--%s]", o->name);
        else
            lsc_out(out, (o->flags & LSC_OPT_REQUIRED) ? " --%s %s" : " [--%s %s]", o->name, o->metavar);
    }
    lsc_out(out, "\n");
}

static void help_entry(lsc_sink *out, const lsc_opt *o)
{
    char left[128];
    if (!o->name)
        snprintf(left, sizeof left, "%s", o->metavar);
    else if (o->type == LSC_OPT_FLAG)
        snprintf(left, sizeof left, "--%s", o->name);
    else
        snprintf(left, sizeof left, "--%s %s", o->name, o->metavar);
    const char *p = o->help;
    size_t len = strcspn(p, "\n");
    if (strlen(left) <= 14)
        lsc_out(out, "  %-14s %.*s\n", left, (int)len, p);
    else
        lsc_out(out, "  %s  %.*s\n", left, (int)len, p);
    for (p += len; *p == '\n'; p += len) {
        p++;
        len = strcspn(p, "\n");
        lsc_out(out, "%17s%.*s\n", "", (int)len, p);
    }
}

void lsc_opts_help(lsc_sink *out, const lsc_opt *opts)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; opts[i].type != LSC_OPT_END; i++)
            if (opts[i].help && ((opts[i].flags & LSC_OPT_POSITIONAL) != 0) == (pass == 0))
                help_entry(out, &opts[i]);
}
