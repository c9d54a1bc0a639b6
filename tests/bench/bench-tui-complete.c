/* bench-tui-complete.c: Tab on the `:` line against a 10,000-adapter catalog (issue #15: "completion
 * answers within one frame").
 *
 * What a Tab costs in the workbench: complete an adapter word over the names in catalog order (one scan
 * in complete.c, no sort), for a word with a few matches and for an empty word (all 10,000 match). Baseline, in the same process: an empty frame (erase and refresh, curses' own floor, as in
 * bench-tui-render). Printed as ratios; nothing is asserted. Target: the whole Tab under one frame at
 * 60 Hz (16.7 ms), i.e. a small multiple of the empty frame.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "complete.h"
#include "render.h"
#include "state.h"
#include "tui_fake_model.h"
#include "bench/bench_util.h"

#define N_NAMES 10000

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds per call of fn over 9 batches of n calls. */
static double median(double (*fn)(void *), void *ctx, int n)
{
    double t[9];
    for (int b = 0; b < 9; b++) {
        double t0 = bench_now(), sink = 0;
        for (int i = 0; i < n; i++)
            sink += fn(ctx);
        t[b] = (bench_now() - t0) / n;
        if (sink < 0)
            printf("%g\n", sink);
    }
    qsort(t, 9, sizeof t[0], cmp_d);
    return t[4];
}

typedef struct bench {
    char (*names)[40];
    const char **shuffled; /* catalog order */
    lsc_tui_render *r;
    lsc_tui_state *st;
} bench;

static double tab_full(void *p) /* what complete_tab does: the names in catalog order, completed */
{
    bench *b = p;
    lsc_complete_src src = {b->shuffled, N_NAMES, NULL, 0};
    lsc_completion c;
    return (double)lsc_complete("merge adapter-04217 --method ties adapter-071", &src, &c);
}

static double tab_all(void *p) /* the worst case: an empty word, every name a candidate */
{
    bench *b = p;
    lsc_complete_src src = {b->shuffled, N_NAMES, NULL, 0};
    lsc_completion c;
    return (double)lsc_complete("show ", &src, &c);
}

static double empty_frame(void *p)
{
    bench *b = p;
    b->st->lay.too_small = 1;
    lsc_tui_render_draw(b->r, b->st);
    b->st->lay.too_small = 0;
    return 0;
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    bench b = {0};
    b.names = malloc(N_NAMES * sizeof *b.names);
    b.shuffled = malloc(N_NAMES * sizeof *b.shuffled);
    if (!b.names || !b.shuffled)
        return 1;
    unsigned long long x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < N_NAMES; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(b.names[i], sizeof b.names[i], "adapter-%05d-%s-r%llu", i, (x & 1) ? "chat" : "code", x % 64);
        b.shuffled[i] = b.names[i];
    }
    for (int i = N_NAMES - 1; i > 0; i--) { /* catalog order is not name order */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int j = (int)(x % (unsigned long long)(i + 1));
        const char *t = b.shuffled[i];
        b.shuffled[i] = b.shuffled[j];
        b.shuffled[j] = t;
    }
    lsc_tui_model m;
    lsc_error err = {0};
    if (lsc_tui_model_fake_init(&m, 20240101u, &err) != LSC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
    lsc_tui_render_opts ro = {.headless = 1, .no_mouse = 1, .lines = 24, .cols = 80};
    char why[256];
    b.r = lsc_tui_render_begin(&ro, out, in, why, sizeof why);
    if (!b.r || lsc_tui_state_new(&m, NULL, 24, 80, &b.st, &err) != LSC_OK) {
        fprintf(stderr, "bench-tui-complete: %s\n", b.r ? err.msg : why);
        return 1;
    }
    tab_full(&b); /* warm up */
    double frame = median(empty_frame, &b, 1000);
    double few = median(tab_full, &b, 200);
    double all = median(tab_all, &b, 200);
    printf("tui-complete %d adapters: Tab on 'adapter-071' %.1f us = %.2f empty frames; Tab on an empty word "
           "(all match) %.1f us = %.2f empty frames; empty frame %.1f us (target: Tab < 16700 us)\n",
           N_NAMES, few * 1e6, few / frame, all * 1e6, all / frame, frame * 1e6);
    lsc_tui_render_end(b.r);
    lsc_tui_state_free(b.st);
    lsc_tui_model_release(&m);
    fclose(out);
    fclose(in);
    free(b.names);
    free(b.shuffled);
    return 0;
}
