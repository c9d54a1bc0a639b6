/* commands.c: the command table, built from commands.def (see command.h). */
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "handlers.h"

const lsc_command lsc_commands[] = {
#define LSC_SPEC(name, spec, flags, summary) {name, &spec, flags, summary},
#include "commands.def"
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

int lsc_command_option_takes_value(const lsc_command *c, const char *opt)
{
    const lsc_opt *o = lsc_opts_find(c->spec->opts, opt);
    return o && o->type != LSC_OPT_FLAG;
}

int lsc_command_positional_is_adapter(const lsc_command *c, int index)
{
    const lsc_opt *o = lsc_opts_positional(c->spec->opts, index);
    return o && o->type == LSC_OPT_ADAPTER;
}

int lsc_command_takes_many_adapters(const lsc_command *c)
{
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
