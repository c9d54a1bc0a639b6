/* app/cmd/cmd_diff.c: placeholder until its owner lands it. */
typedef int lsc_placeholder_cmd_diff;
