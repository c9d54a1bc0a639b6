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
    /* the usage line, then the help text ("--energy T (...)") */
    return takes_value_in(c->usage, opt) || takes_value_in(c->help, opt);
}

int lsc_command_positional_is_adapter(const lsc_command *c, int index)
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
        int was_depth = depth;
        depth += opens - closes;
        if (was_depth > 0 || opens > 0 || w[0] == '-')
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

void lsc_command_print_help(lsc_sink *out, const lsc_command *c)
{
    lsc_out(out, "usage: lorascope %s\n\n%s\n", c->usage, c->summary);
    if (c->help && *c->help)
        lsc_out(out, "\n%s", c->help);
}
