/* app/out/sink.c: placeholder until its owner lands it. */
typedef int lsc_placeholder_sink;
