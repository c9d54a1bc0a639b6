/* app/cmd/cmd_spectrum.c: placeholder until its owner lands it. */
typedef int lsc_placeholder_cmd_spectrum;
