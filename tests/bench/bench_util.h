/* bench_util.h: what the benchmarks share: a Llama-2-7B-shaped PEFT adapter written to disk. */
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

#endif
