/* Softmax over experts and mixing of expert outputs (see mix.h). */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "mix.h"
#include "reduce.h"

/* The row's largest value (the softmax's stabiliser; NaN ignored unless first). */
static inline float row_max(const float *p, size_t n)
{
    float mx = p[0];
    for (size_t e = 1; e < n; e++)
        mx = p[e] > mx ? p[e] : mx;
    return mx;
}

#if defined(__GNUC__)
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

/*
 * e^x on eight lanes, for the softmax's x <= 0 (any x works): x = n ln2 + r
 * with |r| <= ln2/2 (ln2 in two parts), e^r by the degree-7 polynomial of
 * Cephes' expf (within 1 ulp of the float result on [-87.3, 88.7]), times
 * 2^n through the exponent bits. Results below FLT_MIN (x < -87.33) are 0,
 * where expf gives a subnormal or 0; NaN stays NaN.
 */
static inline __attribute__((always_inline)) void exp8(float *v, float mx)
{
    const v8f vm = {mx, mx, mx, mx, mx, mx, mx, mx};
    v8f x;
    memcpy(&x, v, sizeof x);
    x -= vm;
    const v8f lo = {-87.33654f, -87.33654f, -87.33654f, -87.33654f,
                    -87.33654f, -87.33654f, -87.33654f, -87.33654f};
    const v8f hi = {88.37626f, 88.37626f, 88.37626f, 88.37626f,
                    88.37626f, 88.37626f, 88.37626f, 88.37626f};
    v8i under = x < lo, nan = x != x;
    v8i gh = x > hi;
    x = (v8f)(((v8i)hi & gh) | ((v8i)x & ~gh));
    v8i gl = x < lo;
    x = (v8f)(((v8i)lo & gl) | ((v8i)x & ~gl));
    v8f fx = x * 1.44269504088896341f + 0.5f;
    v8i n = __builtin_convertvector(fx, v8i);
    v8f fn = __builtin_convertvector(n, v8f);
    n += fn > fx; /* floor: the mask is -1 where truncation rounded up */
    fn = __builtin_convertvector(n, v8f);
    v8f r = x - fn * 0.693359375f - fn * -2.12194440e-4f;
    v8f y = 1.9875691500e-4f * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * (r * r) + r + 1.0f;
    v8f scale = (v8f)((n + 127) << 23);
    y *= scale;
    y = (v8f)((v8i)y & ~under);
    y = (v8f)(((v8i)x & nan) | ((v8i)y & ~nan));
    memcpy(v, &y, sizeof y);
}

MMOE__VECTORIZED static void softmax_rows_impl(size_t rows, size_t n, float *P, size_t ld)
{
    for (size_t r = 0; r < rows; r++) {
        float *p = P + r * ld;
        float mx = row_max(p, n);
        size_t e = 0;
        for (; e + 8 <= n; e += 8)
            exp8(p + e, mx);
        if (e < n) {
            float t[8] = {mx, mx, mx, mx, mx, mx, mx, mx};
            memcpy(t, p + e, (n - e) * sizeof *p);
            exp8(t, mx);
            memcpy(p + e, t, (n - e) * sizeof *p);
        }
        float s = 0.0f;
        for (e = 0; e < n; e++)
            s += p[e];
        float inv = 1.0f / s;
        for (e = 0; e < n; e++)
            p[e] *= inv;
    }
}

void mmoe__softmax_rows(size_t rows, size_t n, float *P, size_t ld)
{
    softmax_rows_impl(rows, n, P, ld);
}
#else
void mmoe__softmax_rows(size_t rows, size_t n, float *P, size_t ld)
{
    mmoe__softmax_rows_ref(rows, n, P, ld);
}
#endif

/* The reference: expf from the C library. */
void mmoe__softmax_rows_ref(size_t rows, size_t n, float *P, size_t ld)
{
    for (size_t r = 0; r < rows; r++) {
        float *p = P + r * ld;
        float mx = row_max(p, n);
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

MMOE__VECTORIZED static void mix_rows_impl(size_t rows, size_t T, size_t n, size_t h,
                                           const float *restrict P, size_t ldp, size_t pk,
                                           const float *restrict H, size_t ldh, float *restrict F,
                                           size_t ldf)
{
    /* Sixteen outputs at a time stay in a register across the experts. */
    typedef float v16f __attribute__((vector_size(64)));
    for (size_t r = 0; r < rows; r++)
        for (size_t k = 0; k < T; k++) {
            const float *p = P + r * ldp + k * pk, *Hr = H + r * ldh;
            float *f = F + r * ldf + k * h;
            size_t j = 0;
            for (; j + 16 <= h; j += 16) {
                v16f acc = {0};
                for (size_t e = 0; e < n; e++) {
                    v16f he;
                    memcpy(&he, Hr + e * h + j, sizeof he);
                    acc += p[e] * he;
                }
                memcpy(f + j, &acc, sizeof acc);
            }
            for (; j < h; j++) {
                float acc = 0.0f;
                for (size_t e = 0; e < n; e++)
                    acc += p[e] * Hr[e * h + j];
                f[j] = acc;
            }
        }
}

void mmoe__mix_forward_rows(size_t rows, size_t T, size_t n, size_t h, const float *P, size_t ldp,
                            size_t pk, const float *H, size_t ldh, float *F, size_t ldf)
{
    mix_rows_impl(rows, T, n, h, P, ldp, pk, H, ldh, F, ldf);
}

MMOE__VECTORIZED static void mix_back_rows_impl(size_t rows, size_t T, size_t n, size_t h,
                                                const float *restrict P, size_t ldp, size_t pk,
                                                const float *restrict H, size_t ldh,
                                                const float *restrict dF, size_t lddf,
                                                float *restrict dH, float *restrict dP)
{
    typedef float v16f __attribute__((vector_size(64)));
    for (size_t r = 0; r < rows; r++) {
        const float *p = P + r * ldp, *Hr = H + r * ldh, *df = dF + r * lddf;
        float *dh = dH + r * ldh, *dp = dP + r * ldp;
        /* dP[k, e] = sum over the tasks sharing gate row k of <dF_k, H_e> (tasks in order) */
        for (size_t i = 0; i < (pk ? T * n : n); i++)
            dp[i] = 0.0f;
        for (size_t k = 0; k < T; k++)
            for (size_t e = 0; e < n; e++)
                dp[k * pk + e] += mmoe__dotf(df + k * h, Hr + e * h, h);
        /* dH_e = sum_k P[k, e] dF_k, sixteen outputs at a time in a register */
        for (size_t e = 0; e < n; e++) {
            size_t j = 0;
            for (; j + 16 <= h; j += 16) {
                v16f acc = {0};
                for (size_t k = 0; k < T; k++) {
                    v16f d;
                    memcpy(&d, df + k * h + j, sizeof d);
                    acc += p[k * pk + e] * d;
                }
                memcpy(dh + e * h + j, &acc, sizeof acc);
            }
            for (; j < h; j++) {
                float acc = 0.0f;
                for (size_t k = 0; k < T; k++)
                    acc += p[k * pk + e] * df[k * h + j];
                dh[e * h + j] = acc;
            }
        }
    }
}

void mmoe__mix_backward_rows(size_t rows, size_t T, size_t n, size_t h, const float *P, size_t ldp,
                             size_t pk, const float *H, size_t ldh, const float *dF, size_t lddf,
                             float *dH, float *dP)
{
    mix_back_rows_impl(rows, T, n, h, P, ldp, pk, H, ldh, dF, lddf, dH, dP);
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
