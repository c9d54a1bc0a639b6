/* app/cmd/cmd_show.c: placeholder until its owner lands it. */
typedef int lsc_placeholder_cmd_show;
