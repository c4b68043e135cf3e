/* Softmax over experts and mixing of expert outputs (see mix.h). */
#include <math.h>

#include "internal.h"
#include "mix.h"
#include "reduce.h"

void mmoe__softmax_rows(size_t rows, size_t n, float *P, size_t ld)
{
    for (size_t r = 0; r < rows; r++) {
        float *p = P + r * ld;
        float mx = p[0];
        for (size_t e = 1; e < n; e++)
            mx = p[e] > mx ? p[e] : mx;
        float s = 0.0f;
        for (size_t e = 0; e < n; e++) {
            p[e] = expf(p[e] - mx);
            s += p[e];
        }
        float inv = 1.0f / s;
        for (size_t e = 0; e < n; e++)
            p[e] *= inv;
    }
}

void mmoe__softmax_backward_rows(size_t rows, size_t n, const float *P, size_t ldp, float *D,
                                 size_t ldd)
{
    for (size_t r = 0; r < rows; r++) {
        const float *p = P + r * ldp;
        float *d = D + r * ldd, s = 0.0f;
        for (size_t e = 0; e < n; e++)
            s += p[e] * d[e];
        for (size_t e = 0; e < n; e++)
            d[e] = p[e] * (d[e] - s);
    }
}

/* f never overlaps p or H: the restrict lets the compiler keep f in vector registers. */
MMOE__VECTORIZED static void mix_forward_impl(size_t n, size_t h, const float *restrict p,
                                              const float *restrict H, float *restrict f)
{
    for (size_t e = 0; e < n; e++) {
        const float pe = p[e], *he = H + e * h;
        for (size_t j = 0; j < h; j++)
            f[j] += pe * he[j];
    }
}

void mmoe__mix_forward(size_t n, size_t h, const float *p, const float *H, float *f)
{
    mix_forward_impl(n, h, p, H, f);
}

void mmoe__mix_backward(size_t n, size_t h, const float *p, const float *H, const float *df,
                        float *dH, float *dp)
{
    for (size_t e = 0; e < n; e++) {
        const float *he = H + e * h;
        float *dhe = dH + e * h, pe = p[e];
        for (size_t j = 0; j < h; j++)
            dhe[j] += pe * df[j];
        dp[e] += mmoe__dotf(df, he, h); /* a vectorised reduction (reduce.c) */
    }
}
