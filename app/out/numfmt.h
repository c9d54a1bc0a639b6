/* numfmt.h: how every front end writes a percentage and a figure that has nothing to compare against.
 *
 * One rule for the CLI tables, the CLI summaries and the TUI cells, so the same fraction reads the same
 * everywhere: a percentage is the fraction times 100 rounded half away from zero to a fixed number of
 * decimals (12.5% at 0 decimals is "13%", never "12%" in one place and "12.5%" in another); a figure
 * that does not exist (a ratio over zero, a cosine over no layers, NaN) is written "n/a", never "nan",
 * "x0.0000" or a made-up perfect score. JSON writes null for these (lsc_json_num). Depends on libc only. */
#ifndef LSC_NUMFMT_H
#define LSC_NUMFMT_H

#include <stddef.h>

/* The text for a figure that does not exist. */
#define LSC_NA "n/a"

/* `fraction` (0.125) as a percentage with `decimals` decimals ("12.5%", or "13%" at 0), rounded half
 * away from zero; LSC_NA when fraction is not finite. Writes into buf (cap bytes); returns buf. */
const char *lsc_fmt_pct(char *buf, size_t cap, double fraction, int decimals);

/* v with printf format `fmt` (one double conversion, e.g. "%.4f", "x%.3f"), or LSC_NA when v is not
 * finite. Returns buf. */
const char *lsc_fmt_num(char *buf, size_t cap, const char *fmt, double v);

/* num / den, or NaN when there is nothing to compare against (den not > 0, or either not finite): feed
 * it to lsc_fmt_num (text) or lsc_json_num (null). */
double lsc_ratio(double num, double den);

#endif
