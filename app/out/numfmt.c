/* numfmt.c: percentages and "nothing to compare" (see numfmt.h). */
#include "numfmt.h"

#include <math.h>
#include <stdio.h>

const char *lsc_fmt_pct(char *buf, size_t cap, double fraction, int decimals)
{
    if (!isfinite(fraction)) {
        snprintf(buf, cap, "%s", LSC_NA);
        return buf;
    }
    if (decimals < 0)
        decimals = 0;
    if (decimals > 6)
        decimals = 6;
    double scale = pow(10.0, decimals);
    /* 0.125 * 100 is 12.5 exactly; a product a hair below a half (0.145 * 100 = 14.499999...) is taken
     * at 12 significant digits first, so the decimal the user would write is what gets rounded */
    double p = fraction * 100.0 * scale;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.12g", p);
    sscanf(tmp, "%lf", &p);
    double r = round(p) / scale;
    if (r == 0)
        r = 0; /* no "-0%" */
    snprintf(buf, cap, "%.*f%%", decimals, r);
    return buf;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
const char *lsc_fmt_num(char *buf, size_t cap, const char *fmt, double v)
{
    if (!isfinite(v))
        snprintf(buf, cap, "%s", LSC_NA);
    else
        snprintf(buf, cap, fmt, v);
    return buf;
}
#pragma GCC diagnostic pop

double lsc_ratio(double num, double den)
{
    if (!(den > 0) || !isfinite(den) || !isfinite(num))
        return NAN;
    return num / den;
}
