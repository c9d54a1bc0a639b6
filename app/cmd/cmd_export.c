/* app/cmd/cmd_export.c: placeholder until its owner lands it. */
typedef int lsc_placeholder_cmd_export;
