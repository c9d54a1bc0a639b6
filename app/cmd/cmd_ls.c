/* app/cmd/cmd_ls.c: placeholder until its owner lands it. */
typedef int lsc_placeholder_cmd_ls;
