/* bench_util.h: what the benchmarks share: Llama-shaped PEFT adapters written to disk, the clock, and a
 * child process run with its wall time, CPU time and peak memory. */
#ifndef LSC_BENCH_UTIL_H
#define LSC_BENCH_UTIL_H

/* Write a PEFT folder `dir` (created): 32 blocks x 7 modules (q, k, v, o 4096x4096; gate, up 11008x4096;
 * down 4096x11008) at r = 16 in BF16, ~80 MB, streamed one tensor at a time, with a LoRA config
 * (lora_alpha 32). Values come from one xorshift stream that continues across calls, so a second adapter
 * differs from the first. 0 on success; on failure a message on stderr and 1. */
int bench_write_llama7b_adapter(const char *dir);

/* The same for Llama-3-70B shapes: `blocks` blocks (80 in the model) x 7 modules (q, o 8192x8192; k, v
 * 1024x8192; gate, up 28672x8192; down 8192x28672) at r = 64 in BF16 (lora_alpha 128), ~20.7 MB a block,
 * 1.66 GB for 80. Same stream and failure contract as above. */
int bench_write_llama70b_adapter(const char *dir, int blocks);

/* A new empty adapter (lsc_adapter_free it) named `name`, format "peft", kind "static", for `base_model`;
 * NULL when out of memory. */
struct lsc_adapter;
struct lsc_adapter *bench_peft_adapter_new(const char *name, const char *base_model);

/* Seconds on the monotonic clock (only differences mean anything). */
double bench_now(void);

/* What bench_run_child measured of one child. */
typedef struct bench_child {
    double wall;     /* seconds from fork to its exit */
    double cpu;      /* its user + system CPU seconds */
    long maxrss_kib; /* its own peak RSS */
    int code;        /* its exit status, -1 if it did not exit normally */
} bench_child;

/* Run argv (argv[0] a path, NULL-terminated) in a child with stdout to `out` (created or truncated; NULL:
 * /dev/null) and, when threads > 0, LSC_THREADS=threads; wait for it. Never fails itself: a child that
 * cannot start exits 127. */
bench_child bench_run_child(char *const argv[], int threads, const char *out);

#endif
