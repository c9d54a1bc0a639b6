/* commands.c: the command table, built from commands.def (see command.h). */
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "handlers.h"

const lsc_command lsc_commands[] = {
#define LSC_CMD(name, fn, flags, summary, usage, help) {name, NULL, flags, summary, fn, usage, help},
#define LSC_SPEC(name, spec, flags, summary) {name, &spec, flags, summary, NULL, NULL, NULL},
#include "commands.def"
#undef LSC_CMD
#undef LSC_SPEC
};
const size_t lsc_n_commands = sizeof lsc_commands / sizeof lsc_commands[0];

const lsc_command *lsc_command_find(const char *name)
{
    for (size_t i = 0; i < lsc_n_commands; i++)
        if (strcmp(lsc_commands[i].name, name) == 0)
            return &lsc_commands[i];
    return NULL;
}

static int takes_value_in(const char *text, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = text ? strstr(text, opt) : NULL; p; p = strstr(p + 1, opt)) {
        const char *after = p + n;
        if (p > text && p[-1] != ' ' && p[-1] != '[' && p[-1] != '(')
            continue; /* inside a longer option name */
        if (*after == ' ' && after[1] >= 'A' && after[1] <= 'Z')
            return 1;
        if (*after == '=' && after[1] >= 'A' && after[1] <= 'Z')
            return 1;
    }
    return 0;
}

int lsc_command_option_takes_value(const lsc_command *c, const char *opt)
{
    if (!c->spec) /* the usage line, then the help text ("--energy T (...)") */
        return takes_value_in(c->usage, opt) || takes_value_in(c->help, opt);
    const lsc_opt *o = lsc_opts_find(c->spec->opts, opt);
    return o && o->type != LSC_OPT_FLAG;
}

static int old_positional_is_adapter(const lsc_command *c, int index)
{
    /* walk the usage words after the command name, skipping [bracketed] options */
    const char *p = c->usage + strlen(c->name);
    int pos = 0, depth = 0;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        size_t len = (size_t)(p - w);
        int opens = 0, closes = 0;
        for (size_t i = 0; i < len; i++) {
            opens += w[i] == '[';
            closes += w[i] == ']';
        }
        int skip = depth > 0 || w[0] == '[' || w[0] == '-' || w[0] == '(' || w[0] == '|';
        depth += opens - closes;
        if (skip)
            continue;
        int variadic = len > 3 && strncmp(w + len - 3, "...", 3) == 0;
        size_t base = variadic ? len - 3 : len;
        int is_adapter = (base == 4 && strncmp(w, "NAME", 4) == 0) || (base == 1 && (w[0] == 'A' || w[0] == 'B')) ||
                         (base == 3 && strncmp(w, "OLD", 3) == 0);
        if (pos == index || (variadic && index >= pos))
            return is_adapter;
        pos++;
    }
    return 0;
}

int lsc_command_positional_is_adapter(const lsc_command *c, int index)
{
    if (!c->spec)
        return old_positional_is_adapter(c, index);
    const lsc_opt *o = lsc_opts_positional(c->spec->opts, index);
    return o && o->type == LSC_OPT_ADAPTER;
}

int lsc_command_takes_many_adapters(const lsc_command *c)
{
    if (!c->spec)
        return strstr(c->usage, "NAME...") != NULL;
    for (const lsc_opt *o = c->spec->opts; o->type != LSC_OPT_END; o++)
        if ((o->flags & LSC_OPT_MANY) && o->type == LSC_OPT_ADAPTER)
            return 1;
    return 0;
}

int lsc_command_parse(lsc_cmd_ctx *ctx, const lsc_command *c, int argc, char **argv, void **args)
{
    *args = NULL;
    lsc_args *a = calloc(1, c->spec->args_size);
    if (!a) {
        lsc_error_set(&ctx->err, LSC_ERR_NOMEM, "out of memory");
        return LSC_EXIT_ERROR;
    }
    int rc = lsc_opts_parse(ctx, c->name, c->spec->opts, argc, argv, a);
    if (!rc && c->spec->validate)
        rc = c->spec->validate(ctx, a);
    if (rc) {
        lsc_command_args_free(a);
        return rc;
    }
    *args = a;
    return LSC_EXIT_OK;
}

void lsc_command_args_free(void *args)
{
    if (!args)
        return;
    free(((lsc_args *)args)->pos);
    free(args);
}

void lsc_command_print_help(lsc_sink *out, const lsc_command *c)
{
    if (!c->spec) {
        lsc_out(out, "usage: lorascope %s\n\n%s\n", c->usage, c->summary);
        if (c->help && *c->help)
            lsc_out(out, "\n%s", c->help);
        return;
    }
    lsc_opts_usage(out, c->name, c->spec->opts);
    lsc_out(out, "\n%s\n", c->summary);
    int any = 0;
    for (const lsc_opt *o = c->spec->opts; o->type != LSC_OPT_END; o++)
        any |= o->help != NULL;
    if (any || (c->spec->notes && *c->spec->notes))
        lsc_out(out, "\n");
    lsc_opts_help(out, c->spec->opts);
    if (c->spec->notes)
        lsc_out_str(out, c->spec->notes);
}
