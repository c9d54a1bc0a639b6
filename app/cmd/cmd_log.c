/* app/cmd/cmd_log.c: placeholder until its owner lands it. */
typedef int lsc_placeholder_cmd_log;
