/* app/cmd/cmd_rm.c: placeholder until its owner lands it. */
typedef int lsc_placeholder_cmd_rm;
