/* Reductions over float arrays (see reduce.h). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "internal.h"
#include "reduce.h"
#include "pool.h"

#if defined(__GNUC__)
/*
 * GNU vector extensions: eight float lanes widened to eight double lanes,
 * compiled for each vector width the library is built for (MMOE__VECTORIZED).
 * The compiler does not vectorise an in-order double reduction by itself.
 */
typedef float v8f __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));
typedef int v8i __attribute__((vector_size(32)));

MMOE__VECTORIZED static void sumsq_absmax_impl(const float *x, size_t n, double *sumsq,
                                               float *absmax)
{
    const v8i sign = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff,
                      0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    v8d s0 = {0}, s1 = {0};
    v8f m = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f a, b;
        memcpy(&a, x + i, sizeof a);
        memcpy(&b, x + i + 8, sizeof b);
        v8d da = __builtin_convertvector(a, v8d), db = __builtin_convertvector(b, v8d);
        s0 += da * da;
        s1 += db * db;
        v8f aa = (v8f)((v8i)a & sign), ab = (v8f)((v8i)b & sign);
        v8i ga = aa > m; /* NaN compares false: ignored, as documented */
        m = (v8f)(((v8i)aa & ga) | ((v8i)m & ~ga));
        v8i gb = ab > m;
        m = (v8f)(((v8i)ab & gb) | ((v8i)m & ~gb));
    }
    double total = 0.0;
    float mx = 0.0f;
    for (int j = 0; j < 8; j++) {
        total += s0[j] + s1[j];
        mx = m[j] > mx ? m[j] : mx;
    }
    for (; i < n; i++) {
        total += (double)x[i] * (double)x[i];
        mx = fabsf(x[i]) > mx ? fabsf(x[i]) : mx;
    }
    *sumsq = total;
    *absmax = mx;
}

/*
 * Entry points: a target_clones function with external linkage is exported
 * through its ifunc symbol whatever its visibility, so the clones are static
 * and these plain (hidden) functions call them.
 */
void mmoe__sumsq_absmax(const float *x, size_t n, double *sumsq, float *absmax)
{
    sumsq_absmax_impl(x, n, sumsq, absmax);
}

MMOE__VECTORIZED static int absmax_finite_impl(const float *x, size_t n, float *absmax)
{
    const v8i sign = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff,
                      0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    v8f m = {0};
    v8i nan = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f a;
        memcpy(&a, x + i, sizeof a);
        v8f aa = (v8f)((v8i)a & sign);
        nan |= a != a;
        v8i g = aa > m;
        m = (v8f)(((v8i)aa & g) | ((v8i)m & ~g));
    }
    float mx = 0.0f;
    int bad = 0;
    for (int j = 0; j < 8; j++) {
        mx = m[j] > mx ? m[j] : mx;
        bad |= nan[j];
    }
    for (; i < n; i++) {
        bad |= x[i] != x[i];
        mx = fabsf(x[i]) > mx ? fabsf(x[i]) : mx;
    }
    *absmax = mx;
    return !bad && mx <= FLT_MAX;
}

/*
 * The largest magnitude's bit pattern: for floats with the sign cleared,
 * integer order is numeric order, and infinities and NaNs lie above
 * FLT_MAX's pattern, so one integer maximum (four independent chains)
 * answers both questions for the common all-finite case.
 */
MMOE__VECTORIZED static unsigned absmax_bits_impl(const float *x, size_t n)
{
    const v8i sign = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff,
                      0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    v8i m0 = {0}, m1 = {0}, m2 = {0}, m3 = {0};
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        v8i a0, a1, a2, a3;
        memcpy(&a0, x + i, sizeof a0);
        memcpy(&a1, x + i + 8, sizeof a1);
        memcpy(&a2, x + i + 16, sizeof a2);
        memcpy(&a3, x + i + 24, sizeof a3);
        a0 &= sign;
        a1 &= sign;
        a2 &= sign;
        a3 &= sign;
        v8i g0 = a0 > m0, g1 = a1 > m1, g2 = a2 > m2, g3 = a3 > m3;
        m0 = (a0 & g0) | (m0 & ~g0);
        m1 = (a1 & g1) | (m1 & ~g1);
        m2 = (a2 & g2) | (m2 & ~g2);
        m3 = (a3 & g3) | (m3 & ~g3);
    }
    unsigned mx = 0;
    for (int j = 0; j < 8; j++) {
        unsigned v[4] = {(unsigned)m0[j], (unsigned)m1[j], (unsigned)m2[j], (unsigned)m3[j]};
        for (int k = 0; k < 4; k++)
            mx = v[k] > mx ? v[k] : mx;
    }
    for (; i < n; i++) {
        unsigned b;
        memcpy(&b, x + i, sizeof b);
        b &= 0x7fffffffu;
        mx = b > mx ? b : mx;
    }
    return mx;
}

static int absmax_finite_serial(const float *x, size_t n, float *absmax)
{
    unsigned bits = absmax_bits_impl(x, n);
    if (bits <= 0x7f7fffffu) { /* all finite: the maximum is exact */
        memcpy(absmax, &bits, sizeof *absmax);
        return 1;
    }
    return absmax_finite_impl(x, n, absmax); /* NaN or infinity: the documented maximum */
}

MMOE__VECTORIZED static float dotf_impl(const float *a, const float *b, size_t n)
{
    v8f s0 = {0}, s1 = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f a0, a1, b0, b1;
        memcpy(&a0, a + i, sizeof a0);
        memcpy(&a1, a + i + 8, sizeof a1);
        memcpy(&b0, b + i, sizeof b0);
        memcpy(&b1, b + i + 8, sizeof b1);
        s0 += a0 * b0;
        s1 += a1 * b1;
    }
    s0 += s1;
    float s = ((s0[0] + s0[4]) + (s0[1] + s0[5])) + ((s0[2] + s0[6]) + (s0[3] + s0[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

float mmoe__dotf(const float *a, const float *b, size_t n)
{
    return dotf_impl(a, b, n);
}
#else
float mmoe__dotf(const float *a, const float *b, size_t n)
{
    return mmoe__dotf_ref(a, b, n);
}

void mmoe__sumsq_absmax(const float *x, size_t n, double *sumsq, float *absmax)
{
    mmoe__sumsq_absmax_ref(x, n, sumsq, absmax);
}

static int absmax_finite_serial(const float *x, size_t n, float *absmax)
{
    return mmoe__absmax_finite_ref(x, n, absmax);
}
#endif

/* Large arrays: chunks across the library's pool; the maximum of the chunks' maxima is exact. */
typedef struct absmax_job {
    const float *x;
    float mx[MMOE__MAX_CHUNKS];
    int ok[MMOE__MAX_CHUNKS];
} absmax_job;

static void absmax_chunk(void *ctx, size_t chunk, size_t b, size_t e)
{
    absmax_job *j = ctx;
    j->ok[chunk] = absmax_finite_serial(j->x + b, e - b, &j->mx[chunk]);
}

int mmoe__absmax_finite(const float *x, size_t n, float *absmax)
{
    if (n < MMOE__PAR_ELEMS || mmoe__pool_width() < 2)
        return absmax_finite_serial(x, n, absmax);
    absmax_job j;
    j.x = x;
    size_t chunks = mmoe__parallel_for(n, MMOE__PAR_ELEMS / 2, 16, absmax_chunk, &j);
    float mx = 0.0f;
    int ok = 1;
    for (size_t c = 0; c < chunks; c++) {
        mx = j.mx[c] > mx ? j.mx[c] : mx;
        ok &= j.ok[c];
    }
    *absmax = mx;
    return ok;
}

int mmoe__absmax_finite_ref(const float *x, size_t n, float *absmax)
{
    float mx = 0.0f;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            ok = 0;
        else if (fabsf(x[i]) > mx)
            mx = fabsf(x[i]);
    }
    *absmax = mx;
    return ok;
}

void mmoe__sumsq_absmax_ref(const float *x, size_t n, double *sumsq, float *absmax)
{
    double s = 0.0;
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++) {
        s += (double)x[i] * (double)x[i];
        if (fabsf(x[i]) > mx)
            mx = fabsf(x[i]);
    }
    *sumsq = s;
    *absmax = mx;
}

float mmoe__dotf_ref(const float *a, const float *b, size_t n)
{
    float s = 0.0f;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}
