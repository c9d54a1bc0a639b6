/* app/cmd/cmd_rename.c: placeholder until its owner lands it. */
typedef int lsc_placeholder_cmd_rename;
