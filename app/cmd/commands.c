/* commands.c: the command table, built from commands.def (see command.h). */
#include <string.h>

#include "command.h"
#include "handlers.h"

const lsc_command lsc_commands[] = {
#define LSC_CMD(name, fn, flags, summary, usage, help) {name, fn, flags, summary, usage, help},
#include "commands.def"
#undef LSC_CMD
};
const size_t lsc_n_commands = sizeof lsc_commands / sizeof lsc_commands[0];

const lsc_command *lsc_command_find(const char *name)
{
    for (size_t i = 0; i < lsc_n_commands; i++)
        if (strcmp(lsc_commands[i].name, name) == 0)
            return &lsc_commands[i];
    return NULL;
}

void lsc_command_print_help(lsc_sink *out, const lsc_command *c)
{
    lsc_out(out, "usage: lorascope %s\n\n%s\n", c->usage, c->summary);
    if (c->help && *c->help)
        lsc_out(out, "\n%s", c->help);
}
