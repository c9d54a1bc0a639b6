/* bench-tui-render.c: time to draw one frame of the layer table (224 layers, Llama-2-7B shape) headless.
 *
 * A frame is what a key press costs: one request to the state (cursor down) and a full redraw through
 * curses onto /dev/null. Baseline, in the same process: the same request followed by a frame that only
 * erases the screen and refreshes (the too-small message), i.e. curses' own floor. Printed as a ratio;
 * nothing is asserted. Target: under 2 ms per frame, up to 200x60 (the size of a workbench people keep
 * open on a large monitor).
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tui_fake_model.h"
#include "render.h"
#include "state.h"
#include "bench/bench_util.h"

/* Median per-frame seconds over `batches` batches of `n` frames. */
static double run(lsc_tui_render *r, lsc_tui_state *st, int small, int batches, int n)
{
    double best[16];
    for (int b = 0; b < batches; b++) {
        double t0 = bench_now();
        for (int i = 0; i < n; i++) {
            if (lsc_tui_state_request(st, LSC_REQ_DOWN) == 0)
                lsc_tui_state_request(st, LSC_REQ_TOP);
            if (small)
                st->lay.too_small = 1;
            lsc_tui_render_draw(r, st);
            if (small)
                st->lay.too_small = 0;
        }
        best[b] = (bench_now() - t0) / n;
    }
    for (int i = 1; i < batches; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && best[j] < best[j - 1]; j--) {
            double t = best[j];
            best[j] = best[j - 1];
            best[j - 1] = t;
        }
    return best[batches / 2];
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    setenv("TZ", "UTC", 1);
    static const int sizes[3][2] = {{24, 80}, {43, 132}, {60, 200}};
    for (int k = 0; k < 3; k++) {
        lsc_tui_model m;
        lsc_error err = {0};
        if (lsc_tui_model_fake_init(&m, 20240101u, &err) != LSC_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
        lsc_tui_render_opts ro = {.headless = 1, .no_mouse = 1, .lines = sizes[k][0], .cols = sizes[k][1]};
        char why[256];
        lsc_tui_render *r = lsc_tui_render_begin(&ro, out, in, why, sizeof why);
        lsc_tui_state *st = NULL;
        if (!r || lsc_tui_state_new(&m, NULL, sizes[k][0], sizes[k][1], &st, &err) != LSC_OK) {
            fprintf(stderr, "bench-tui-render: %s\n", r ? err.msg : why);
            return 1;
        }
        lsc_tui_state_request(st, LSC_REQ_ENTER); /* llama2-7b-chat: 224 layers */
        run(r, st, 0, 3, 200);                    /* warm up */
        double base = run(r, st, 1, 9, 1000);
        double frame = run(r, st, 0, 9, 1000);
        printf("tui-render %dx%d: layer table frame %.1f us, erase+refresh baseline %.1f us, ratio %.2f "
               "(target < 2000 us)\n",
               sizes[k][1], sizes[k][0], frame * 1e6, base * 1e6, frame / base);
        lsc_tui_render_end(r);
        lsc_tui_state_free(st);
        lsc_tui_model_release(&m);
        fclose(out);
        fclose(in);
    }
    return 0;
}
