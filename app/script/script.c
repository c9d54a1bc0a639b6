/* script.c: the script reader (see script.h): a small POSIX-shell-like tokenizer with variables. */
#include "script.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

lsc_status lsc_script_var_set(lsc_script_vars *v, const char *name, const char *value, int lock)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->names[i], name) == 0) {
            if (v->locked[i] && !lock)
                return LSC_OK;
            char *nv = strdup(value);
            if (!nv)
                return LSC_ERR_NOMEM;
            free(v->values[i]);
            v->values[i] = nv;
            v->locked[i] |= lock;
            return LSC_OK;
        }
    char **nn = realloc(v->names, (v->n + 1) * sizeof(char *));
    if (nn)
        v->names = nn;
    char **vv = realloc(v->values, (v->n + 1) * sizeof(char *));
    if (vv)
        v->values = vv;
    int *ll = realloc(v->locked, (v->n + 1) * sizeof(int));
    if (ll)
        v->locked = ll;
    if (!nn || !vv || !ll)
        return LSC_ERR_NOMEM;
    v->names[v->n] = strdup(name);
    v->values[v->n] = strdup(value);
    v->locked[v->n] = lock;
    if (!v->names[v->n] || !v->values[v->n])
        return LSC_ERR_NOMEM;
    v->n++;
    return LSC_OK;
}

const char *lsc_script_var_get(const lsc_script_vars *v, const char *name)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->names[i], name) == 0)
            return v->values[i];
    return NULL;
}

void lsc_script_vars_release(lsc_script_vars *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->names[i]);
        free(v->values[i]);
    }
    free(v->names);
    free(v->values);
    free(v->locked);
    memset(v, 0, sizeof *v);
}

/* A growable string. */
typedef struct buf {
    char *s;
    size_t len, cap;
} buf;

static int put(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *p = realloc(b->s, nc);
        if (!p)
            return -1;
        b->s = p;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

typedef struct parser {
    const char *file;
    const char *p;
    int line;
    lsc_script_vars *vars;
    lsc_error *err;
    size_t cmd_bytes;   /* bytes of the current command's words so far (after expansion) */
    size_t total_bytes; /* bytes of every word of the script so far, `set` lines included */
    int too_long;       /* the current command went over LSC_SCRIPT_MAX_LINE */
    int nomem;          /* a word could not grow */
} parser;

/* Append to the current word, counting against the line limit: `set A ${A}${A}` thirty times would
 * otherwise need 2^30 times the first value. Past the limit nothing more is appended and too_long is
 * set; read_command turns that into an error at the next character. */
static void emit(parser *p, buf *w, const char *s, size_t n)
{
    if (p->too_long || n > LSC_SCRIPT_MAX_LINE - p->cmd_bytes) {
        p->too_long = 1;
        return;
    }
    p->cmd_bytes += n;
    if (put(w, s, n))
        p->nomem = 1;
}

/* The error for a command that went over a limit (or out of memory), naming FILE:LINE. */
static lsc_status limit_error(parser *p, int line)
{
    if (p->nomem)
        return lsc_error_set(p->err, LSC_ERR_NOMEM, "%s:%d: out of memory", p->file, line);
    if (p->too_long)
        return lsc_error_set(p->err, LSC_ERR_FORMAT, "%s:%d: line longer than %d MiB after expanding variables",
                             p->file, line, LSC_SCRIPT_MAX_LINE >> 20);
    return lsc_error_set(p->err, LSC_ERR_FORMAT, "%s:%d: script longer than %d MiB after expanding variables",
                         p->file, line, LSC_SCRIPT_MAX_TOTAL >> 20);
}

static int is_name_char(char c, int first)
{
    return c == '_' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

/* Expand $NAME or ${NAME} at p->p (which points at '$'); appends the value to w. */
static lsc_status expand(parser *p, buf *w)
{
    const char *s = p->p + 1;
    char name[128];
    size_t n = 0;
    if (*s == '{') {
        s++;
        while (*s && *s != '}' && n + 1 < sizeof name)
            name[n++] = *s++;
        if (*s != '}')
            return lsc_error_set(p->err, LSC_ERR_FORMAT, "%s:%d: unterminated ${...}", p->file, p->line);
        s++;
    } else {
        while (is_name_char(*s, n == 0) && n + 1 < sizeof name)
            name[n++] = *s++;
        if (n == 0) { /* a lone '$' is literal */
            emit(p, w, "$", 1);
            p->p++;
            return LSC_OK;
        }
    }
    name[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!is_name_char(name[i], i == 0))
            return lsc_error_set(p->err, LSC_ERR_FORMAT, "%s:%d: bad variable name '%s'", p->file, p->line, name);
    const char *v = lsc_script_var_get(p->vars, name);
    if (!v)
        return lsc_error_set(p->err, LSC_ERR_FORMAT, "%s:%d: undefined variable '%s' (set it with 'set %s VALUE' or --var %s=VALUE)",
                             p->file, p->line, name, name, name);
    emit(p, w, v, strlen(v));
    p->p = s;
    return LSC_OK;
}

/* Read one command's words; returns LSC_OK with *argc 0 at a blank line; *eof at the end of text. */
static lsc_status read_command(parser *p, char ***argv_out, int *argc_out, int *start_line, int *eof)
{
    char **argv = NULL;
    int argc = 0;
    buf w = {0};
    int in_word = 0;
    lsc_status st = LSC_OK;
    *start_line = p->line;
    *eof = 0;
    p->cmd_bytes = 0;
    for (;;) {
        if (p->too_long || p->nomem) {
            st = limit_error(p, p->line);
            break;
        }
        char c = *p->p;
        if (c == '\0' || c == '\n' || ((c == ' ' || c == '\t' || c == '\r') && 1)) {
            if (in_word) {
                char **na = realloc(argv, (size_t)(argc + 2) * sizeof(char *));
                if (!na) {
                    st = lsc_error_set(p->err, LSC_ERR_NOMEM, "out of memory");
                    break;
                }
                argv = na;
                argv[argc++] = w.s ? w.s : strdup("");
                argv[argc] = NULL;
                w = (buf){0};
                in_word = 0;
            }
            if (c == '\0') {
                *eof = 1;
                break;
            }
            p->p++;
            if (c == '\n') {
                p->line++;
                break;
            }
            continue;
        }
        if (c == '#' && !in_word) { /* comment to the end of the line */
            while (*p->p && *p->p != '\n')
                p->p++;
            continue;
        }
        if (c == '\\') {
            if (p->p[1] == '\n') { /* continuation */
                p->p += 2;
                p->line++;
                continue;
            }
            if (p->p[1] == '\0') {
                p->p++;
                continue;
            }
            emit(p, &w, p->p + 1, 1);
            p->p += 2;
            in_word = 1;
            continue;
        }
        if (c == '\'') {
            const char *q = strchr(p->p + 1, '\'');
            if (!q) {
                st = lsc_error_set(p->err, LSC_ERR_FORMAT, "%s:%d: unterminated single quote", p->file, p->line);
                break;
            }
            emit(p, &w, p->p + 1, (size_t)(q - p->p - 1));
            for (const char *s = p->p; s < q; s++)
                p->line += *s == '\n';
            p->p = q + 1;
            in_word = 1;
            continue;
        }
        if (c == '"') {
            int qline = p->line;
            p->p++;
            in_word = 1;
            emit(p, &w, "", 0);
            while (*p->p && *p->p != '"' && !st) {
                if (*p->p == '\\' && p->p[1] && strchr("\"\\$`\n", p->p[1])) {
                    if (p->p[1] != '\n')
                        emit(p, &w, p->p + 1, 1);
                    else
                        p->line++;
                    p->p += 2;
                } else if (*p->p == '$') {
                    st = expand(p, &w);
                } else {
                    if (*p->p == '\n')
                        p->line++;
                    emit(p, &w, p->p, 1);
                    p->p++;
                }
            }
            if (st)
                break;
            if (*p->p != '"') {
                st = lsc_error_set(p->err, LSC_ERR_FORMAT, "%s:%d: unterminated double quote", p->file, qline);
                break;
            }
            p->p++;
            continue;
        }
        if (c == '$') {
            in_word = 1;
            emit(p, &w, "", 0);
            if ((st = expand(p, &w)))
                break;
            continue;
        }
        emit(p, &w, p->p, 1);
        p->p++;
        in_word = 1;
    }
    free(w.s);
    if (!st && (p->too_long || p->nomem))
        st = limit_error(p, *start_line);
    if (!st && (p->total_bytes += p->cmd_bytes) > LSC_SCRIPT_MAX_TOTAL)
        st = limit_error(p, *start_line);
    if (st) {
        for (int i = 0; i < argc; i++)
            free(argv[i]);
        free(argv);
        return st;
    }
    *argv_out = argv;
    *argc_out = argc;
    return LSC_OK;
}

static void free_argv(char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
}

lsc_status lsc_script_parse(const char *file, const char *text, lsc_script_vars *vars, lsc_script **out,
                            lsc_error *err)
{
    return lsc_script_parse_cancel(file, text, vars, NULL, out, err);
}

lsc_status lsc_script_parse_cancel(const char *file, const char *text, lsc_script_vars *vars, volatile int *cancel,
                                   lsc_script **out, lsc_error *err)
{
    lsc_script *s = calloc(1, sizeof *s);
    if (!s)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    s->file = strdup(strcmp(file, "-") == 0 ? "<stdin>" : file);
    parser p = {s->file, text, 1, vars, err, 0, 0, 0, 0};
    lsc_status st = LSC_OK;
    size_t cap = 0, turns = 0;
    for (;;) {
        char **argv = NULL;
        int argc = 0, line, eof;
        if (cancel && (++turns & 4095u) == 0 && *cancel) {
            st = lsc_error_set(err, LSC_ERR_CANCELLED, "%s:%d: cancelled while reading the script", s->file, p.line);
            break;
        }
        if ((st = read_command(&p, &argv, &argc, &line, &eof)))
            break;
        if (argc > 0 && strcmp(argv[0], "set") == 0) {
            if (argc != 3) {
                st = lsc_error_set(err, LSC_ERR_FORMAT, "%s:%d: 'set' takes NAME VALUE", s->file, line);
            } else {
                for (const char *c = argv[1]; *c && !st; c++)
                    if (!is_name_char(*c, c == argv[1]))
                        st = lsc_error_set(err, LSC_ERR_FORMAT, "%s:%d: bad variable name '%s'", s->file, line, argv[1]);
                if (!st && lsc_script_var_set(vars, argv[1], argv[2], 0))
                    st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            }
            free_argv(argv, argc);
        } else if (argc > 0) {
            if (s->n == cap) {
                cap = cap ? cap * 2 : 16;
                lsc_script_cmd *nc = realloc(s->cmds, cap * sizeof *nc);
                if (!nc) {
                    free_argv(argv, argc);
                    st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                    break;
                }
                s->cmds = nc;
            }
            s->cmds[s->n++] = (lsc_script_cmd){line, argc, argv};
        } else {
            free(argv);
        }
        if (st || eof)
            break;
    }
    if (st) {
        lsc_script_free(s);
        return st;
    }
    *out = s;
    return LSC_OK;
}

void lsc_script_free(lsc_script *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free_argv(s->cmds[i].argv, s->cmds[i].argc);
    free(s->cmds);
    free(s->file);
    free(s);
}

char *lsc_script_quote(const char *word)
{
    int plain = *word != '\0';
    for (const char *c = word; *c; c++)
        if (!(isalnum((unsigned char)*c) || strchr("-_./=,:+@%^", *c)))
            plain = 0;
    if (plain)
        return strdup(word);
    /* single quotes; an embedded ' becomes '\'' */
    size_t n = 3;
    for (const char *c = word; *c; c++)
        n += *c == '\'' ? 4 : 1;
    char *q = malloc(n), *o = q;
    if (!q)
        return NULL;
    *o++ = '\'';
    for (const char *c = word; *c; c++) {
        if (*c == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *c;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return q;
}
