/* app/cmd/cmd_import.c: placeholder until its owner lands it. */
typedef int lsc_placeholder_cmd_import;
