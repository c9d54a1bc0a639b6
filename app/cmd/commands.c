/* app/cmd/commands.c: placeholder until its owner lands it. */
typedef int lsc_placeholder_commands;
